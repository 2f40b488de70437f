//! `sidekey`: parse the command line, run it on one tokio runtime, turn the outcome into the
//! documented exit code. Everything else is in the library (`src/lib.rs`).
//!
//! Started like a C program (`#![no_main]`, the C `main` below), not through std's `lang_start`:
//! that skips the start-up work std does for every Rust program and sidekey does not need. On
//! glibc the biggest part is the main thread's stack guard: `pthread_getattr_np` reads and
//! `sscanf`s `/proc/self/maps`, 8.9 % of a cached `sidekey token`'s instructions before
//! (docs/benchmarks.md, "Start-up of `sidekey token`: static non-PIE, no std start-up, fat LTO");
//! on musl it is a few system calls (an alternate signal stack and the handlers that use it).
//! What of std's start-up sidekey does rely on is done here, the same way: the standard
//! descriptors opened on `/dev/null` when the caller closed them (so the vault or the audit log
//! can never become fd 1), SIGPIPE ignored (a closed pipe is an error, not a silent death), the
//! arguments taken from `argv` (musl's std only learns them in `lang_start`), and the exit
//! through `std::process::exit`, which flushes stdout as returning from Rust's `main` does. Lost:
//! std's "has overflowed its stack" message; a stack overflow still ends the process (SIGSEGV).
#![no_main]

use clap::Parser;
use sidekey::arena::{ARENA_BYTES, Arena};
use sidekey::cli::{self, Cli};
use sidekey::error::{Exit, Failure};
use std::ffi::{CStr, OsString, c_char, c_int};
use std::os::unix::ffi::OsStringExt;

/// The first allocations from a fixed arena, the rest from the system allocator (`arena.rs`).
#[global_allocator]
static ALLOC: Arena<ARENA_BYTES> = Arena::new();

/// The C entry point: libc's start-up calls it with the arguments, after its own start-up.
#[unsafe(no_mangle)]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    if standard_fds().is_err() {
        // Nothing can be printed reliably: fd 2 may be the one missing.
        std::process::exit(Exit::Internal.code().into());
    }
    // SAFETY: SIG_IGN for SIGPIPE, before any thread exists; what std's start-up does.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // SAFETY: libc passes argc strings in argv, each NUL-terminated, valid for the whole run.
    let args = unsafe { args(argc, argv) };
    let exit = run(args);
    // Flushes stdout (std's `process::exit` does what returning from a Rust `main` does).
    std::process::exit(exit.code().into())
}

/// Reopen any of fds 0, 1 and 2 that is closed on `/dev/null`, lowest first, as std's start-up
/// does: not close-on-exec, so a command `exec` runs gets it too.
fn standard_fds() -> Result<(), ()> {
    for fd in 0..=2 {
        // SAFETY: F_GETFD reads a descriptor's flags; no memory is passed.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            // SAFETY: a NUL-terminated path; the descriptor is kept open for the process's life.
            let got = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
            if got != fd {
                return Err(());
            }
        }
    }
    Ok(())
}

/// # Safety
/// `argv` holds `argc` valid NUL-terminated strings.
unsafe fn args(argc: c_int, argv: *const *const c_char) -> Vec<OsString> {
    (0..usize::try_from(argc).unwrap_or(0))
        .map(|i| {
            // SAFETY: the caller's contract, i < argc.
            let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
            OsString::from_vec(arg.to_bytes().to_vec())
        })
        .collect()
}

fn run(args: Vec<OsString>) -> Exit {
    // A panic is a bug: one line, no payload (it could hold data), exit 1.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("sidekey: internal error{at} (this is a bug; please report it)");
        std::process::exit(Exit::Internal.code().into());
    }));
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let exit = if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Ok
            };
            let _ = e.print();
            return exit;
        }
    };
    match runtime(cli.command.wants_threads()).and_then(|rt| rt.block_on(cli::run(cli))) {
        Ok(()) => Exit::Ok,
        Err(f) => {
            eprintln!("sidekey: {}", f.message);
            f.exit
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
