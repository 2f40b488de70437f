//! # sidekey: the auth sidecar, as a library with a thin `main.rs`
//!
//! sidekey signs in with the OAuth device flow (or authorization code + PKCE where a provider's
//! device flow falls short), keeps the tokens encrypted, and gives an agent narrow, audited
//! operations instead of passwords: from the command line, through a daemon (client mode), as
//! MCP tools, as git's credential helper and as an OpenClaw secret provider. The protocol, the
//! vault, the notification channels and the service calls live in the leaf crates
//! (`sidekey-flow`, `sidekey-vault`, `sidekey-notify`, `sidekey-services`, plumbing in
//! `sidekey-net`); this crate is the product around them.
//!
//! ## How a command runs
//! `main.rs` parses the [`cli::Cli`], starts one tokio runtime and calls [`cli::run`]. Each
//! command is written once, against a [`backend::Backend`] chosen once: [`backend::Local`]
//! (this process owns the vault) or [`backend::Remote`] (client mode: the daemon does the work).
//! The daemon ([`daemon`]) serves the same [`backend::Local`] behind its API, whose request and
//! reply bodies are the types in [`api`], shared by both ends.
//!
//! Every call, from the CLI, the daemon and the MCP server alike, passes through one guard
//! ([`backend::guard::operate`]): validate, resolve the account, check the policy, run, audit.
//! The layers and where a change goes: docs/architecture.md.
//!
//! ## The modules, and where to change things
//! | module | what it is for | change it to… |
//! |---|---|---|
//! | [`cli`] | clap definitions, dispatch, everything printed; per-service commands, `git-credential`, `secret-provider` | add a command or a flag |
//! | [`backend`] | the guard every call passes ([`backend::guard`]: validate, resolve the account, check the policy, run, audit), and the work of each command, local and remote | change what a command does |
//! | [`daemon`] | `sidekey serve`: listeners, API key, routes that hand calls to the guard, background refresh | add a route |
//! | [`api`] | the daemon's wire types | change a request or reply |
//! | [`catalog`] | what each operation is (`ms.*`, `google.*`, `google.youtube.*`, `aws.*`): typed arguments, checks, audit form; imports nothing above it | add an operation: one variant in its service file |
//! | [`ops`] | running operations: each service's run arm and the one service-call loop | add an operation's run arm |
//! | [`signin`] | the sign-in owner: pending slot, join, resume, handover, stop | change how sign-ins run |
//! | [`account`] | what the vault holds and the refresh decision | change refresh rules |
//! | [`registration`] | the cache of clients a provider registers at sign-in (AWS) | |
//! | [`config`] | the config file, validated with line numbers; a service's settings in `config/services.rs` | add a setting |
//! | [`policy`], [`audit`] | what the agent may do, and the record of what it did | |
//! | [`error`] | exit codes ([`error::Exit`]) and reasons ([`error::Reason`]) | add a failure reason |
//! | [`env`] | every environment variable sidekey reads | read a new variable |
//! | [`context`] | where things live (config, home, vault key), the open vault, the one HTTP client, the API key | |
//! | [`time`] | Unix seconds now and as RFC 3339 (a leaf) | |
//! | [`arena`] | the binary's global allocator: the first allocations from a fixed arena (a leaf) | |
//! | [`signals`] | waiting for SIGINT or SIGTERM, only in the commands that do (a leaf) | |
//! | [`skills`] | OpenClaw skills generated from the config and the operations | |
//! | [`mcp`] | `sidekey mcp`: the operations as MCP tools over stdio | |
//! | [`doctor`] | `sidekey doctor`: the usual problems checked and explained | add a check |
//! | `cli::demo` | `sidekey demo`: the whole story offline against the test kit's server (feature `demo`) | |
//!
//! `doc_citations` (tests only) keeps the entrances true: every `docs/…` page the repository
//! cites exists, with the cited section; `doc_benchmarks` (tests only) keeps the figures true:
//! every benchmark the docs name exists, and every figure in `docs/benchmarks.md` has its command.
//!
//! A provider is not changed here: everything sidekey knows about one is its dialect file in
//! `crates/flow/src/dialect/`.

pub mod account;
pub mod api;
pub mod approvals;
pub mod arena;
pub mod audit;
pub mod backend;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod context;
pub mod daemon;
#[cfg(test)]
mod doc_benchmarks;
#[cfg(test)]
mod doc_citations;
pub mod doctor;
pub mod env;
pub mod error;
#[cfg(test)]
mod front_page;
#[doc(hidden)]
pub mod fuzzing;
pub mod loopback;
pub mod mcp;
pub mod ops;
pub mod policy;
pub mod registration;
pub mod signals;
pub mod signin;
pub mod skills;
pub mod time;
