//! The bounded HTTP transport every flow request goes through: a size-limited body read and a
//! whole-request timeout, so a hostile or broken server can make sidekey wait (until the code's
//! deadline) but never hang or balloon.
//!
//! It sits below both the flow client ([`crate::client`]) and the dialects (AWS registers its
//! client through it), so neither imports the other for it.

use crate::error::FlowError;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Whole-request timeout (connect, send, receive).
    pub timeout: Duration,
    /// Bodies larger than this are refused (token responses are a few KiB).
    pub max_body: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(30),
            max_body: 256 * 1024,
        }
    }
}

/// A failed exchange: what went wrong, and whether the server may have received the request.
#[derive(Debug, Clone)]
pub struct SendFailure {
    pub message: String,
    pub maybe_sent: bool,
}

/// A raw HTTP answer, read in full (up to the cap).
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub content_type: Option<String>,
    pub retry_after: Option<Duration>,
    pub date: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct Http {
    pub(crate) client: reqwest::Client,
    max_body: usize,
}

impl Http {
    /// A client with rustls (ring) and Mozilla's roots compiled in, so it works in a `scratch`
    /// image with no CA files. Proxies from `HTTPS_PROXY`/`NO_PROXY` are honoured.
    pub fn new(opts: HttpOptions) -> Result<Http, FlowError> {
        let client = client_builder(&opts)?
            .build()
            .map_err(|e| FlowError::Config(format!("HTTP client setup failed: {e}")))?;
        Ok(Http {
            client,
            max_body: opts.max_body,
        })
    }

    /// Wrap a client built elsewhere (e.g. one bound to a unix socket).
    pub fn with_client(client: reqwest::Client, max_body: usize) -> Http {
        Http { client, max_body }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

/// A reqwest builder with sidekey's TLS (rustls/ring, embedded roots), timeouts, no redirects:
/// [`sidekey_net::client_builder`] with `opts.timeout`.
pub fn client_builder(opts: &HttpOptions) -> Result<reqwest::ClientBuilder, FlowError> {
    Ok(sidekey_net::client_builder(opts.timeout))
}

impl Http {
    /// Send and read the whole body, refusing bodies over the cap. Errors are one line and
    /// carry the host, never a body or a query string.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<Raw, String> {
        self.send_tracked(req).await.map_err(|f| f.message)
    }

    /// Like [`Http::send`], but says whether the request may have reached the server — which
    /// matters for requests that must not be repeated (a refresh that rotates its token).
    pub async fn send_tracked(&self, req: reqwest::RequestBuilder) -> Result<Raw, SendFailure> {
        // The client carries the timeout; the body is capped for every status.
        let reply = sidekey_net::send(req, sidekey_net::Bounds::new(self.max_body))
            .await
            .map_err(|e| SendFailure {
                maybe_sent: e.maybe_sent(),
                message: e.to_string(),
            })?;
        Ok(Raw {
            status: reply.status,
            content_type: reply.content_type,
            retry_after: reply.retry_after,
            date: reply.date,
            body: reply.body,
        })
    }

    pub(crate) fn form(&self, url: &url::Url, params: &[(&str, &str)]) -> reqwest::RequestBuilder {
        self.client
            .post(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .form(params)
    }
}

/// One line about a transport failure, naming `scheme://host[:port]` only:
/// [`sidekey_net::describe_reqwest`], taking the error by value as callers always did.
pub fn describe_reqwest(e: reqwest::Error) -> String {
    sidekey_net::describe_reqwest(&e)
}

/// `host[:port]` of a URL, for one-line errors that never show a path or query.
pub fn host_of(url: &url::Url) -> String {
    match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or("?")),
        None => url.host_str().unwrap_or("?").to_string(),
    }
}
