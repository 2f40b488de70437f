//! Bounded HTTP: the TLS client setup, the one bounded sender ([`send`]), a size-capped body
//! reader, and transport errors as one line that never carries a path or query (Telegram puts
//! the bot token in the path).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::text::one_line;

/// A reqwest builder with sidekey's TLS (rustls with the ring provider, Mozilla's roots compiled
/// in, so it works in a `scratch` image with no CA files), a whole-request `timeout`, a connect
/// timeout of at most 10 s, no redirects and a `sidekey/<version>` user agent. Proxies from
/// `HTTPS_PROXY`/`NO_PROXY` are honoured (reqwest's default).
pub fn client_builder(timeout: Duration) -> reqwest::ClientBuilder {
    let mut roots = rustls::RootCertStore::empty();
    for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        // A root that fails to parse is skipped; the others still work.
        let _ = roots.add(der.clone());
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    // Only fails for a provider without TLS 1.2/1.3 cipher suites; ring has both.
    .expect("the ring provider supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("sidekey/", env!("CARGO_PKG_VERSION")))
}

/// Why [`read_capped`] gave no body.
#[derive(Debug)]
pub enum BodyError {
    /// The body is larger than `limit` bytes: `declared` is the Content-Length when the server
    /// sent one, `None` when the cap was hit while reading.
    TooLarge { limit: usize, declared: Option<u64> },
    /// The connection failed while the body was being read.
    Transport(reqwest::Error),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::TooLarge {
                limit,
                declared: Some(len),
            } => write!(f, "body of {len} bytes is over the {limit} byte limit"),
            BodyError::TooLarge {
                limit,
                declared: None,
            } => write!(f, "body is over the {limit} byte limit"),
            BodyError::Transport(e) => write!(f, "body cut off: {}", describe_reqwest(e)),
        }
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BodyError::Transport(e) => Some(e),
            BodyError::TooLarge { .. } => None,
        }
    }
}

/// An answer read whole: its status, its `Retry-After` (seconds or an HTTP date), the headers a
/// caller may judge it by, and its body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub content_type: Option<String>,
    pub date: Option<String>,
    pub body: Vec<u8>,
}

/// How far one request may go: its timeout and the bodies it may read.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// The request's own timeout; `None` leaves the client's (every client has one).
    pub timeout: Option<Duration>,
    /// A success's (2xx) body is refused over this many bytes.
    pub max: usize,
    /// Any other answer's body is refused over this many bytes (`None`: `max`).
    pub error_max: Option<usize>,
}

impl Bounds {
    /// Bodies up to `max` bytes, the client's timeout.
    pub fn new(max: usize) -> Bounds {
        Bounds {
            timeout: None,
            max,
            error_max: None,
        }
    }

    /// The request times out after `timeout`.
    pub fn timeout(self, timeout: Duration) -> Bounds {
        Bounds {
            timeout: Some(timeout),
            ..self
        }
    }

    /// An error answer's body (not 2xx) is refused over `max` bytes.
    pub fn error_max(self, max: usize) -> Bounds {
        Bounds {
            error_max: Some(max),
            ..self
        }
    }
}

/// Why [`send`] has no [`Reply`].
#[derive(Debug)]
pub enum SendError {
    /// No connection to the server: the request was not sent (one line, from
    /// [`describe_reqwest`]).
    Connect(String),
    /// The request or the body's transfer failed after it may have reached the server
    /// (`HTTP 200 body cut off: …` once the answer had begun).
    Network(String),
    /// The body was over its cap (`HTTP 200 body of … bytes is over the … byte limit`); the
    /// status and `Retry-After` were read, for a caller that judges the answer without a body.
    TooLarge {
        status: u16,
        retry_after: Option<Duration>,
        message: String,
    },
}

impl SendError {
    /// Whether the server may have received the request (it matters for a request that must
    /// not be repeated, such as a refresh that rotates its token).
    pub fn maybe_sent(&self) -> bool {
        !matches!(self, SendError::Connect(_))
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Connect(m) | SendError::Network(m) => f.write_str(m),
            SendError::TooLarge { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for SendError {}

/// The one bounded sender every sidekey HTTP client uses: send `req` (with `bounds.timeout`,
/// if any), read `Retry-After`, `Content-Type` and `Date`, and read the whole body, refused over
/// its cap. Errors are one line naming the origin, never the path or query.
pub async fn send(req: reqwest::RequestBuilder, bounds: Bounds) -> Result<Reply, SendError> {
    let req = match bounds.timeout {
        Some(t) => req.timeout(t),
        None => req,
    };
    let resp = req.send().await.map_err(|e| {
        let m = describe_reqwest(&e);
        if e.is_connect() {
            SendError::Connect(m)
        } else {
            SendError::Network(m)
        }
    })?;
    let status = resp.status().as_u16();
    let header = |name: reqwest::header::HeaderName| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let retry_after = header(reqwest::header::RETRY_AFTER)
        .as_deref()
        .and_then(crate::retry_after::parse_retry_after);
    let content_type = header(reqwest::header::CONTENT_TYPE);
    let date = header(reqwest::header::DATE);
    let max = match bounds.error_max {
        Some(m) if !(200..300).contains(&status) => m,
        _ => bounds.max,
    };
    let body = read_capped(resp, max).await.map_err(|e| match e {
        BodyError::TooLarge { .. } => SendError::TooLarge {
            status,
            retry_after,
            message: format!("HTTP {status} {e}"),
        },
        BodyError::Transport(_) => SendError::Network(format!("HTTP {status} {e}")),
    })?;
    Ok(Reply {
        status,
        retry_after,
        content_type,
        date,
        body,
    })
}

/// [`send`] with a per-request `timeout` and one cap for every body: the API clients' (Graph,
/// YouTube) form.
pub async fn send_capped(
    req: reqwest::RequestBuilder,
    timeout: Duration,
    max: usize,
) -> Result<Reply, SendError> {
    send(req, Bounds::new(max).timeout(timeout)).await
}

/// The whole body of `resp`, refused once it is over `max` bytes: by its Content-Length before
/// anything is read, else as soon as the chunks received add up to more.
pub async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, BodyError> {
    let too_large = |declared| BodyError::TooLarge {
        limit: max,
        declared,
    };
    if let Some(len) = resp.content_length()
        && len > max as u64
    {
        return Err(too_large(Some(len)));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > max {
            return Err(too_large(None));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `scheme://host[:port]` of a URL, the part that is safe to show: paths and queries may hold
/// secrets. A URL without a host gives `scheme:…`.
pub fn origin(url: &reqwest::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{}://{h}:{p}", url.scheme()),
        (Some(h), None) => format!("{}://{h}", url.scheme()),
        (None, _) => format!("{}:…", url.scheme()),
    }
}

/// One line about a transport failure: what happened, to which `scheme://host[:port]`, and the
/// innermost cause ("Connection refused (os error 111)", "dns error: …"), which is the useful
/// part and carries no URL. The request's path and query are never shown.
pub fn describe_reqwest(e: &reqwest::Error) -> String {
    let to = e
        .url()
        .map(|u| format!(" {}", origin(u)))
        .unwrap_or_default();
    if e.is_timeout() {
        return format!("timed out waiting for{}", or_server(&to));
    }
    let what = if e.is_connect() {
        format!("cannot connect to{}", or_server(&to))
    } else if e.is_body() || e.is_decode() {
        format!("reading the reply from{} failed", or_server(&to))
    } else if e.is_builder() {
        format!("invalid request to{}", or_server(&to))
    } else {
        format!("request to{} failed", or_server(&to))
    };
    // reqwest's own message names the full URL; only the causes below it are shown.
    let mut root: Option<&dyn std::error::Error> = None;
    let mut next = std::error::Error::source(e);
    while let Some(s) = next {
        root = Some(s);
        next = s.source();
    }
    match root {
        Some(root) => one_line(&format!("{what}: {root}"), 200),
        None => what,
    }
}

fn or_server(to: &str) -> &str {
    if to.is_empty() { " the server" } else { to }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves `reply` (raw HTTP/1.1) once on a loopback port and returns `http://127.0.0.1:<port>`.
    async fn serve_once(reply: &'static [u8]) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let _ = sock.write_all(reply).await;
            let _ = sock.shutdown().await;
        });
        format!("http://{addr}")
    }

    /// `reply` served once and read through [`read_capped`] with a cap of `max`.
    async fn read(reply: &'static [u8], max: usize) -> Result<Vec<u8>, BodyError> {
        let url = serve_once(reply).await;
        let client = client_builder(Duration::from_secs(5)).build().unwrap();
        read_capped(client.get(url).send().await.unwrap(), max).await
    }

    /// The Content-Length a [`BodyError::TooLarge`] with a cap of 10 reports.
    fn declared_when_too_large(r: Result<Vec<u8>, BodyError>) -> Option<u64> {
        match r {
            Err(BodyError::TooLarge {
                limit: 10,
                declared,
            }) => declared,
            other => panic!("expected TooLarge with limit 10, got {other:?}"),
        }
    }

    const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
        6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n";

    #[tokio::test]
    async fn a_body_within_the_cap_is_read_whole() {
        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(read(reply, 5).await.unwrap(), b"hello");
        assert_eq!(read(CHUNKED, 12).await.unwrap(), b"abcdefghijkl");
    }

    #[tokio::test]
    async fn an_over_limit_content_length_is_refused_before_reading() {
        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789";
        let r = read(reply, 10).await;
        let msg = r.as_ref().map_err(ToString::to_string).err();
        assert_eq!(declared_when_too_large(r), Some(100));
        assert_eq!(
            msg.as_deref(),
            Some("body of 100 bytes is over the 10 byte limit")
        );
    }

    #[tokio::test]
    async fn an_over_limit_chunked_body_is_refused_while_reading() {
        let r = read(CHUNKED, 10).await;
        let msg = r.as_ref().map_err(ToString::to_string).err();
        assert_eq!(declared_when_too_large(r), None);
        assert_eq!(msg.as_deref(), Some("body is over the 10 byte limit"));
    }

    #[tokio::test]
    async fn transport_errors_name_the_origin_never_the_path_or_query() {
        // A port that was just free: nothing listens there.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client = client_builder(Duration::from_secs(5)).build().unwrap();
        let err = client
            .get(format!(
                "http://127.0.0.1:{port}/bot123:SECRET/sendMessage?token=SECRET"
            ))
            .send()
            .await
            .unwrap_err();
        let line = describe_reqwest(&err);
        assert!(
            line.starts_with(&format!("cannot connect to http://127.0.0.1:{port}")),
            "{line}"
        );
        assert!(
            !line.contains("SECRET") && !line.contains("bot123"),
            "{line}"
        );
        assert!(!line.contains('\n'), "{line}");
    }

    #[tokio::test]
    async fn timeouts_say_so() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepts and never answers.
        let _server = tokio::spawn(async move {
            let (_sock, _) = listener.accept().await.unwrap();
            std::future::pending::<()>().await;
        });
        let client = client_builder(Duration::from_millis(200)).build().unwrap();
        let err = client
            .get(format!("http://{addr}/secret/path"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            describe_reqwest(&err),
            format!("timed out waiting for http://{addr}")
        );
    }

    #[test]
    fn origin_hides_path_and_query() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        assert_eq!(
            origin(&u("https://hooks.example/secret/path?x=1")),
            "https://hooks.example"
        );
        assert_eq!(
            origin(&u("http://127.0.0.1:8080/bot123:abc")),
            "http://127.0.0.1:8080"
        );
        assert_eq!(origin(&u("https://h.example:443/x")), "https://h.example");
        assert_eq!(origin(&u("data:text/plain,secret")), "data:…");
    }
}
