//! Waiting for a signal (Ctrl-C's SIGINT, SIGTERM) in async code, started only by the commands
//! that wait for one: `serve`, `demo` and `telegram setup`.
//!
//! Why not tokio's `signal` feature: with it, every runtime that enables I/O sets up tokio's
//! signal driver and its table of every signal, whether or not a signal is ever awaited. That
//! was 65 allocations and about a tenth of the instructions of a cached `sidekey token`, a
//! command that never waits for a signal (docs/benchmarks.md, "`sidekey token` against a process
//! spawn: the command line on demand, an arena, signals").
//!
//! How: signal-hook's handler (async-signal-safe: one `send` of one byte) writes into a socket
//! pair, one pair per signal, and [`Signal::recv`] reads the other end on the runtime. Once a
//! signal is caught it stays caught for the life of the process, as with tokio: its default
//! action (ending the process) does not come back.

use std::io;
use std::os::unix::net::UnixStream;

pub use libc::{SIGINT, SIGTERM};

/// One signal, caught from [`Signal::catch`] on.
pub struct Signal {
    rx: tokio::net::UnixStream,
}

impl Signal {
    /// Catch `signal` from now on. Needs a tokio runtime with I/O enabled.
    pub fn catch(signal: libc::c_int) -> io::Result<Signal> {
        let (rx, tx) = UnixStream::pair()?;
        rx.set_nonblocking(true)?;
        let rx = tokio::net::UnixStream::from_std(rx)?;
        // The write end belongs to the handler from here on.
        signal_hook::low_level::pipe::register(signal, tx)?;
        Ok(Signal { rx })
    }

    /// Until the signal arrives (counting from the last `recv`: deliveries in between are not
    /// lost, several may count as one).
    pub async fn recv(&mut self) {
        let mut buf = [0u8; 64];
        loop {
            if self.rx.readable().await.is_err() {
                break;
            }
            match self.rx.try_read(&mut buf) {
                Ok(n) if n > 0 => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                // Closed (the write end never is) or broken: no signal can arrive any more.
                _ => break,
            }
        }
        std::future::pending().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_signal_sent_to_the_process_is_received_and_nothing_else_is() {
        // SIGUSR2: no test runner or other test uses it.
        let mut usr2 = Signal::catch(libc::SIGUSR2).unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(100), usr2.recv()).await;
        assert!(waited.is_err(), "received a signal nobody sent");
        // SAFETY: raise sends a signal to the calling thread; its handler is installed above.
        assert_eq!(unsafe { libc::raise(libc::SIGUSR2) }, 0);
        tokio::time::timeout(Duration::from_secs(5), usr2.recv())
            .await
            .expect("the signal was not received");
        // And again: the second delivery is a second receipt.
        assert_eq!(unsafe { libc::raise(libc::SIGUSR2) }, 0);
        tokio::time::timeout(Duration::from_secs(5), usr2.recv())
            .await
            .expect("the second signal was not received");
    }
}
