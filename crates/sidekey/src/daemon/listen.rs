//! The daemon's listeners: the unix socket (never replacing a live one or anything that is not a
//! socket), the open-file limit and the connection slots it allows, the accept loop with its
//! header timeout, and the signals that stop it.

use crate::error::Failure;
use axum::Router;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long a client may take to send a request's headers; a slower one is disconnected.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Open files kept free, whatever the load, for the vault, the audit log and outgoing HTTPS.
const FD_HEADROOM: u64 = 128;

/// Raise the soft open-file limit to the hard one (the default soft limit is often 1024), and
/// return the limit now in force.
pub(super) fn open_file_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let l = getrlimit(Resource::Nofile);
    if let (Some(cur), Some(max)) = (l.current, l.maximum)
        && cur < max
    {
        let _ = setrlimit(
            Resource::Nofile,
            rustix::process::Rlimit {
                current: Some(max),
                maximum: Some(max),
            },
        );
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// Connections served at once per listener: both listeners together stay [`FD_HEADROOM`] below
/// the open-file limit, so a flood on one (say TCP) never takes the files the other, the vault
/// and the audit log need. Further clients wait in the kernel's backlog.
pub(super) fn connection_slots(limit: u64) -> usize {
    (limit.saturating_sub(FD_HEADROOM) / 2).clamp(8, 512) as usize
}

/// Serve `app` on `listener`: at most `slots` connections at once, headers within
/// [`HEADER_TIMEOUT`]. When `down` turns true it stops accepting, lets each connection finish
/// its request, and waits (bounded) for them.
pub(super) async fn serve_listener<L: axum::serve::Listener>(
    mut listener: L,
    app: Router,
    slots: usize,
    down: tokio::sync::watch::Receiver<bool>,
) {
    use hyper_util::rt::TokioIo;
    let free = Arc::new(tokio::sync::Semaphore::new(slots));
    let mut stop = down.clone();
    loop {
        let slot = tokio::select! {
            s = free.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            _ = stopped(&mut stop) => break,
        };
        let io = tokio::select! {
            (io, _) = listener.accept() => io,
            _ = stopped(&mut stop) => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let mut down = down.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let conn = http1().serve_connection(TokioIo::new(io), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stopped(&mut down) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    // Requests in flight finish (a `login --wait` long-poll lasts at most 60 s).
    let _ = tokio::time::timeout(Duration::from_secs(70), free.acquire_many(slots as u32)).await;
}

/// The HTTP/1 server of every connection: headers within [`HEADER_TIMEOUT`].
fn http1() -> hyper::server::conn::http1::Builder {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    http
}

/// Serve `app` on one connection until the client is done, as a listener does (for the fuzz
/// target of the request framing, which has no socket).
pub async fn serve_connection<IO>(io: IO, app: Router)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(app);
    let _ = http1()
        .serve_connection(hyper_util::rt::TokioIo::new(io), service)
        .await;
}

/// Until `down` turns true (or its sender is gone).
async fn stopped(down: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = down.wait_for(|s| *s).await;
}

/// Until SIGTERM or SIGINT; caught from the call on (the daemon calls it once it serves).
pub(super) async fn wait_for_signal() {
    use crate::signals::{SIGINT, SIGTERM, Signal};
    let mut term = Signal::catch(SIGTERM).ok();
    let mut int = Signal::catch(SIGINT).ok();
    tokio::select! {
        _ = recv(term.as_mut()) => {}
        _ = recv(int.as_mut()) => {}
    }
}

async fn recv(s: Option<&mut crate::signals::Signal>) {
    match s {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

pub(super) fn bind_unix(path: &Path) -> Result<tokio::net::UnixListener, Failure> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Failure::config(format!("cannot create {}: {e}", parent.display())))?;
    }
    // Whatever is at the path is looked at, not followed: only a socket is ever replaced, so a
    // mistyped `--socket` (the vault key, a symlink to it, a folder) destroys nothing.
    match std::fs::symlink_metadata(path) {
        Ok(meta) => {
            use std::os::unix::fs::FileTypeExt;
            if !meta.file_type().is_socket() {
                return Err(Failure::config(format!(
                    "{} exists and is not a socket ({}); refusing to replace it: choose another --socket path",
                    path.display(),
                    describe_file_type(&meta.file_type())
                )));
            }
            // A live daemon answers; a stale socket from a crash does not and is replaced.
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(Failure::config(format!(
                    "another sidekey daemon is already serving on {}",
                    path.display()
                )));
            }
            let _ = std::fs::remove_file(path);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Failure::config(format!(
                "cannot inspect {}: {e}",
                path.display()
            )));
        }
    }
    let l = tokio::net::UnixListener::bind(path)
        .map_err(|e| Failure::config(format!("cannot listen on {}: {e}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| Failure::internal(format!("cannot set the socket's mode: {e}")))?;
    Ok(l)
}

fn describe_file_type(t: &std::fs::FileType) -> &'static str {
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a folder"
    } else if t.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}
