//! # sidekey: the auth sidecar, as a library with a thin `main.rs`
//!
//! sidekey signs in with the OAuth device flow, keeps the tokens encrypted, and gives an agent
//! narrow, audited operations instead of passwords. The protocol, the vault, the notification
//! channels and the service calls live in the leaf crates (`sidekey-flow`, `sidekey-vault`,
//! `sidekey-notify`, `sidekey-services`, plumbing in `sidekey-net`); this crate is the product
//! around them.
//!
//! ## How a command runs
//! `main.rs` parses the [`cli::Cli`], starts one tokio runtime and calls [`cli::run`]. Each
//! command is written once, against a [`backend::Backend`] chosen once: [`backend::Local`]
//! (this process owns the vault) or [`backend::Remote`] (client mode: the daemon does the work).
//! The daemon ([`daemon`]) serves the same [`backend::Local`] behind its API, whose request and
//! reply bodies are the types in [`api`], shared by both ends.
//!
//! ## The modules, and where to change things
//! | module | what it is for | change it to… |
//! |---|---|---|
//! | [`cli`] | clap definitions, dispatch, everything printed | add a command or a flag |
//! | [`backend`] | the work of each command, local and remote | change what a command does |
//! | [`daemon`] | `sidekey serve`: API key, policy, audit layer, background refresh | add a route |
//! | [`api`] | the daemon's wire types | change a request or reply |
//! | [`catalog`] | what each operation is: typed arguments, checks, audit form (imports nothing above it) | add an operation: one variant in its service file |
//! | [`ops`] | running operations: each service's run arm and the one service-call loop | add an operation's run arm |
//! | [`signin`] | the sign-in owner: pending slot, join, resume, handover, stop | change how sign-ins run |
//! | [`account`] | what the vault holds and the refresh decision | change refresh rules |
//! | [`config`] | the config file, validated with line numbers | add a setting |
//! | [`policy`], [`audit`] | what the agent may do, and the record of what it did | |
//! | [`error`] | exit codes ([`error::Exit`]) and reasons ([`error::Reason`]) | add a failure reason |
//! | [`env`] | every environment variable sidekey reads | read a new variable |
//! | [`time`] | Unix seconds now and as RFC 3339 (a leaf) | |
//! | [`skills`] | OpenClaw skills generated from the config and the operations | |
//! | [`mcp`] | `sidekey mcp`: the operations as MCP tools over stdio | |
//!
//! A provider is not changed here: everything sidekey knows about one is its dialect file in
//! `crates/flow/src/dialect/`.

pub mod account;
pub mod api;
pub mod audit;
pub mod backend;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod context;
pub mod daemon;
#[cfg(feature = "demo")]
pub mod demo;
pub mod doctor;
pub mod env;
pub mod error;
pub mod mcp;
pub mod ops;
pub mod policy;
pub mod signin;
pub mod skills;
pub mod time;
