//! sidekey's integration tests, as one test binary: each module is one subject (the CLI, the
//! daemon, one provider or counterpart), and `common` is the harness they share. One binary links
//! the crate and the test kit once instead of once per file; `cargo test -p sidekey --test it cli::`
//! runs one subject.

mod common;

mod agent_voice;
mod agents;
mod approvals;
mod audit_log;
mod aws;
mod channels;
mod cli;
mod concurrency;
mod counterparts;
mod daemon;
mod demo;
mod fleet;
mod fleet_faults;
mod fleet_keys;
mod git_credential;
mod google;
mod hardening;
mod hardening_agent;
mod identity;
mod limits;
mod mcp;
mod mcp_http;
mod ms;
mod newcomer;
mod openclaw;
mod openclaw_compose;
mod openclaw_plugin;
mod pending;
mod pkce;
mod real_idp;
mod real_idp_dot;
mod refresh_safety;
mod skills;
mod youtube;
