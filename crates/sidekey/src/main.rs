//! `sidekey`: sign in with the OAuth device flow, keep the tokens encrypted, hand out fresh
//! access tokens. See README.md for the command contract and exit codes.

mod account;
mod commands;
mod config;
mod context;
mod demo;
mod doctor;
mod failure;
mod login;

use clap::{Parser, Subcommand};
use context::Context;
use failure::Failure;
use std::ffi::OsString;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sidekey",
    version,
    about = "Auth sidecar: device-flow sign-in, an encrypted token vault, fresh tokens on demand",
    after_help = "Exit codes: 0 ok, 1 internal error, 2 usage or config error, 3 not signed in / re-authentication needed, 4 sign-in declined or code expired, 5 provider or network failure, 6 refused by policy."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sign in to an account with the device flow and wait until it is done
    Login {
        name: String,
        /// One JSON event per line on stdout
        #[arg(long)]
        json: bool,
        /// Send the code, keep polling in a background process, return at once
        #[arg(long, conflicts_with = "wait")]
        no_wait: bool,
        /// Wait for the sign-in that is already pending for this account
        #[arg(long)]
        wait: bool,
        /// (internal) the background poller started by --no-wait
        #[arg(long, hide = true, conflicts_with_all = ["wait", "no_wait"])]
        background: bool,
    },
    /// Show every account (or one): provider, state, user, scopes, expiry
    Status {
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print a fresh access token (refreshing it if needed)
    Token {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Run a command with a fresh token in SIDEKEY_ACCESS_TOKEN (and GH_TOKEN etc.)
    Exec {
        name: String,
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<OsString>,
    },
    /// Revoke the account's tokens at the provider where possible, then forget them
    Logout { name: String },
    /// Check config, vault key placement, permissions, clock and endpoints
    Doctor,
    /// Offline demo: a built-in local authorization server, a sign-in, status and a token
    Demo {
        /// Press "Approve" on the verification page automatically
        #[arg(long)]
        auto_approve: bool,
    },
}

fn main() -> ExitCode {
    // A panic is a bug: one line, no payload (it could hold data), exit 1.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("sidekey: internal error{at} (this is a bug; please report it)");
        std::process::exit(1);
    }));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("sidekey: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    if let Command::Demo { auto_approve } = cli.command {
        return demo::run(auto_approve);
    }
    let ctx = Context::from_env()?;
    match cli.command {
        Command::Login {
            name,
            json,
            no_wait,
            wait,
            background,
        } => {
            let mode = if background {
                login::Mode::Background
            } else if no_wait {
                login::Mode::NoWait
            } else if wait {
                login::Mode::JoinOnly
            } else {
                login::Mode::Wait
            };
            login::login(&ctx, &name, json, mode)
        }
        Command::Status { name, json } => commands::status(&ctx, name.as_deref(), json),
        Command::Token { name, json } => commands::token(&ctx, &name, json),
        Command::Exec { name, command } => commands::exec(&ctx, &name, &command),
        Command::Logout { name } => commands::logout(&ctx, &name),
        Command::Doctor => doctor::run(&ctx),
        Command::Demo { .. } => unreachable!(),
    }
}
