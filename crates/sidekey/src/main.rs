//! `sidekey`: parse the command line, run it on one tokio runtime, turn the outcome into the
//! documented exit code. Everything else is in the library (`src/lib.rs`).

use clap::Parser;
use sidekey::cli::{self, Cli};
use sidekey::error::{Exit, Failure};
use std::process::ExitCode;

fn main() -> ExitCode {
    // A panic is a bug: one line, no payload (it could hold data), exit 1.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("sidekey: internal error{at} (this is a bug; please report it)");
        std::process::exit(Exit::Internal.code().into());
    }));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let exit = if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Ok
            };
            let _ = e.print();
            return exit.into();
        }
    };
    match runtime(cli.command.wants_threads()).and_then(|rt| rt.block_on(cli::run(cli))) {
        Ok(()) => Exit::Ok.into(),
        Err(f) => {
            eprintln!("sidekey: {}", f.message);
            f.exit.into()
        }
    }
}

/// One current-thread runtime for a command (a short sequence of requests); two workers for the
/// daemon, so a sign-in briefly waiting on a file lock never stalls the API.
fn runtime(threads: bool) -> Result<tokio::runtime::Runtime, Failure> {
    let mut b = if threads {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    b.enable_all()
        .build()
        .map_err(|e| Failure::internal(format!("cannot start the async runtime: {e}")))
}
