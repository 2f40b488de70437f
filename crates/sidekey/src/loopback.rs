//! The loopback listener a browser's redirect lands on (RFC 8252 §7.3): a code-flow sign-in's
//! and Google's Picker's. Anyone on the machine can connect to it (the agent too), so every
//! connection is served in a task of its own, bounded by a deadline: an idle or slow one
//! holds up nothing else. What a valid answer is, is the caller's ([`serve`]'s `judge`).

use std::time::Duration;

/// How long one connection may take, from its accept to the answer written: a browser sends
/// its request at once.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(3);

/// The largest request head read: a Picker redirect names up to 100 file ids.
const HEAD_LIMIT: usize = 16 * 1024;

/// The listener, until dropped.
pub struct Loopback(tokio::task::JoinHandle<()>);

impl Drop for Loopback {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serve `listener` until the [`Loopback`] is dropped. Each request's target, resolved
/// against `redirect_uri`, is given to `judge`: `Some((answer, page))` is a redirect the
/// caller waits for (the browser gets `page`, answer sent on `found`; the first one wins,
/// later ones still get their page); `None` (a favicon, a stray or forged request) gets a 400
/// and is otherwise ignored.
pub fn serve<T: Send + 'static>(
    listener: tokio::net::TcpListener,
    redirect_uri: String,
    judge: impl Fn(&str) -> Option<(T, &'static str)> + Send + Sync + 'static,
    found: tokio::sync::mpsc::Sender<T>,
) -> Loopback {
    let judge = std::sync::Arc::new(judge);
    Loopback(tokio::spawn(async move {
        loop {
            let sock = match listener.accept().await {
                Ok((sock, _)) => sock,
                // Out of file descriptors and the like: the connections in flight end by
                // their deadline; try again shortly.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let (uri, judge, found) = (redirect_uri.clone(), judge.clone(), found.clone());
            tokio::spawn(async move {
                let served = tokio::time::timeout(CONNECTION_DEADLINE, answer(sock, &uri, &*judge));
                if let Ok(Some(a)) = served.await {
                    let _ = found.try_send(a);
                }
            });
        }
    }))
}

/// One request: read its head, judge its target, write the page.
async fn answer<T>(
    mut sock: tokio::net::TcpStream,
    redirect_uri: &str,
    judge: &(impl Fn(&str) -> Option<(T, &'static str)> + ?Sized),
) -> Option<T> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; HEAD_LIMIT];
    let mut n = 0;
    let mut complete = false;
    while n < buf.len() {
        let Ok(k) = sock.read(&mut buf[n..]).await else {
            break;
        };
        if k == 0 {
            break;
        }
        n += k;
        if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
            complete = true;
            break;
        }
    }
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    let target = complete
        .then(|| head.lines().next().map(str::to_string))
        .flatten()
        .and_then(|l| {
            l.strip_prefix("GET ")
                .map(|r| r.split(' ').next().unwrap_or("").to_string())
        });
    let judged = target.and_then(|t| {
        let base = url::Url::parse(redirect_uri).ok()?;
        let full = base.join(&t).ok()?;
        judge(full.as_str())
    });
    let (status, text) = match &judged {
        Some((_, page)) => ("200 OK", *page),
        None => (
            "400 Bad Request",
            "This is not a redirect sidekey is waiting for.",
        ),
    };
    let body = format!("<!doctype html><meta charset=utf-8><title>sidekey</title><p>{text}</p>");
    let _ = sock
        .write_all(
            format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await;
    let _ = sock.shutdown().await;
    judged.map(|(a, _)| a)
}
