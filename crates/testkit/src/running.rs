//! One way to run a fake server: bound to 127.0.0.1:0, on its own thread with its own
//! current-thread tokio runtime, so it works from plain `#[test]`s that block on
//! `std::process::Command`, from async tests, and inside the sidekey binary (the demo).
//! Dropping the handle stops the server and joins its thread.

use std::future::Future;
use std::thread::JoinHandle;

/// A loopback listener, bound but not yet served: its address is known before the server's
/// state (which often needs it) is built.
pub(crate) struct Bound {
    listener: std::net::TcpListener,
    pub(crate) base: String,
    port: u16,
}

impl Bound {
    /// Panics only if loopback cannot be bound at all (a broken test machine, not bad input).
    pub(crate) fn loopback() -> Bound {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("sidekey-testkit: cannot bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("sidekey-testkit: cannot make listener non-blocking");
        let addr = listener
            .local_addr()
            .expect("sidekey-testkit: listener has no local address");
        Bound {
            listener,
            base: format!("http://{addr}"),
            port: addr.port(),
        }
    }

    /// Run `serve(listener, shutdown)` on a new thread until the handle is dropped.
    pub(crate) fn run<F, Fut>(self, name: &str, serve: F) -> Running
    where
        F: FnOnce(std::net::TcpListener, tokio::sync::oneshot::Receiver<()>) -> Fut
            + Send
            + 'static,
        Fut: Future<Output = ()>,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("sidekey-testkit: cannot build tokio runtime");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let listener = self.listener;
        let thread = std::thread::Builder::new()
            .name(format!("{name}-{}", self.port))
            .spawn(move || {
                runtime.block_on(serve(listener, rx));
                // Dropping the runtime cancels connection tasks still running (e.g. delays).
                drop(runtime);
            })
            .expect("sidekey-testkit: cannot spawn server thread");
        Running {
            base: self.base,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// Serve an axum router.
    pub(crate) fn serve(self, name: &str, app: axum::Router) -> Running {
        self.run(name, |std_listener, rx| async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
                return;
            };
            tokio::select! {
                _ = axum::serve(listener, app).into_future() => {}
                _ = rx => {}
            }
        })
    }
}

/// A running fake server.
pub(crate) struct Running {
    pub(crate) base: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
