//! The remote backend: client mode. The same `sidekey` binary on the agent's side talks to the
//! daemon, so this side has no vault, no vault key and no refresh token; raw access tokens reach
//! it only when the account's policy allows token export (else exit 6).
//!
//! Requests and replies are the [`crate::api`] types; a failure comes back as the daemon's
//! [`Failure`] with its exit code and reason unchanged.

use crate::api::{
    AccountRequest, ApiError, Health, LoginProgress, LoginRequest, LoginStarted, LogoutReply,
    OpReply, OpRequest, OpsReply, StatusReply, TokenReply,
};
use crate::error::{Exit, Failure, Reason};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sidekey_flow::Secret;
use std::path::Path;
use std::time::Duration;

pub struct Remote {
    http: reqwest::Client,
    base: String,
    /// The address as configured, for messages.
    shown: String,
    /// The unix socket, when the daemon is reached through one.
    socket: Option<std::path::PathBuf>,
    key: Secret,
}

/// Whether the person opted in to plain http to a remote daemon.
fn plain_http_allowed() -> bool {
    crate::env::text(crate::env::SIDEKEY_ALLOW_PLAIN_HTTP)
        .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// `http://` is fine to loopback; anywhere else it carries the API key in cleartext, which must
/// be a conscious choice. The URL is shown as its origin only (no userinfo, path or query).
pub fn check_plain_http(url: &str, allow_plain: bool) -> Result<(), Failure> {
    if !url.starts_with("http://") || allow_plain {
        return Ok(());
    }
    let parsed = url::Url::parse(url)
        .map_err(|e| Failure::config(format!("SIDEKEY_URL is not a valid URL ({e})")))?;
    if sidekey_flow::provider::is_loopback(&parsed) {
        return Ok(());
    }
    Err(Failure::config(format!(
        "SIDEKEY_URL {} is plain http to a host that is not loopback: the API key would travel in cleartext. Use the unix socket, a TLS-terminating proxy (https://), or set {}=1 if the network is private (e.g. an internal compose network)",
        parsed.origin().ascii_serialization(),
        crate::env::SIDEKEY_ALLOW_PLAIN_HTTP
    )))
}

/// `url` as a message may show it: an http(s) URL without its user and password
/// (`https://user:pw@host/` → `https://host/`), a unix socket as it is, anything else not at all.
pub fn without_credentials(url: &str) -> String {
    if url.starts_with("unix://") {
        return url.to_string();
    }
    match url::Url::parse(url) {
        Ok(mut u) if matches!(u.scheme(), "http" | "https") => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => "SIDEKEY_URL (not quoted: it may hold a password)".to_string(),
    }
}

/// The largest reply from the daemon: inbox reads carry several files (2 MB each, base64);
/// anything bigger is not our daemon.
const MAX_REPLY: usize = 32 * 1024 * 1024;

impl Remote {
    /// `url` is `unix:///path/to.sock` or `http(s)://host:port`. Plain `http://` to a host that
    /// is not loopback sends the API key in cleartext: refused unless
    /// [`crate::env::SIDEKEY_ALLOW_PLAIN_HTTP`] is `1`.
    pub fn new(url: &str, key: Secret) -> Result<Remote, Failure> {
        Remote::with_plain_http(url, key, plain_http_allowed())
    }

    /// [`Remote::new`] with the plain-http opt-in given rather than read from the environment.
    pub fn with_plain_http(url: &str, key: Secret, allow_plain: bool) -> Result<Remote, Failure> {
        check_plain_http(url, allow_plain)?;
        let opts = sidekey_flow::HttpOptions {
            timeout: Duration::from_secs(120),
            ..Default::default()
        };
        let mut builder =
            sidekey_flow::client::client_builder(&opts).map_err(Failure::from_flow)?;
        let socket = url.strip_prefix("unix://").map(std::path::PathBuf::from);
        let base = if let Some(path) = &socket {
            builder = builder.unix_socket(path.clone());
            "http://sidekey".to_string()
        } else if url.starts_with("http://") || url.starts_with("https://") {
            url.trim_end_matches('/').to_string()
        } else {
            return Err(Failure::config(
                "SIDEKEY_URL must be unix:///path/to.sock or http(s)://host:port (it is neither; it is not quoted here, as it may hold a password)",
            ));
        };
        let http = builder
            .build()
            .map_err(|e| Failure::internal(format!("HTTP client setup failed: {e}")))?;
        Ok(Remote {
            http,
            base,
            shown: without_credentials(url),
            socket,
            key,
        })
    }

    /// Why the daemon could not be reached, in the person's terms, with what to check: its
    /// socket is missing or nobody listens on it (the internal `http://sidekey` of a socket
    /// request is never named), or the TCP address does not answer.
    fn unreachable(&self, e: reqwest::Error) -> Failure {
        let why = match &self.socket {
            Some(path) => match std::fs::symlink_metadata(path) {
                Err(_) => format!("there is no socket at {}", path.display()),
                Ok(_) if e.is_timeout() => "it did not answer in time".to_string(),
                Ok(_) => format!("nothing answers on the socket {}", path.display()),
            },
            None => sidekey_flow::client::describe_reqwest(e),
        };
        Failure::network(format!(
            "cannot reach the sidekey daemon at {}: {why}. Is `sidekey serve` running (and SIDEKEY_URL its address)?",
            self.shown
        ))
    }

    /// The daemon's health, with no API key (what a container healthcheck runs).
    pub fn for_socket(path: &Path) -> Result<Remote, Failure> {
        Remote::new(
            &format!("unix://{}", path.display()),
            Secret::new("health-check-needs-no-key"),
        )
    }

    async fn call<Rep: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<Rep, Failure> {
        let resp = req
            .bearer_auth(self.key.expose())
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| {
            Failure::network(format!(
                "the sidekey daemon at {} cut its answer short: {}",
                self.shown,
                sidekey_flow::client::describe_reqwest(e)
            ))
        })?;
        let unreadable = || {
            Failure::network(format!(
                "the sidekey daemon at {} sent an unreadable answer (HTTP {status})",
                self.shown
            ))
        };
        if body.len() > MAX_REPLY {
            return Err(unreadable());
        }
        if !status.is_success() {
            return match serde_json::from_slice::<ApiError>(&body) {
                Ok(e) => Err(e.error),
                Err(_) if status == reqwest::StatusCode::UNAUTHORIZED => Err(Failure::new(
                    Exit::Policy,
                    Reason::Unauthorized,
                    "the daemon refused the API key",
                )),
                Err(_) => Err(unreadable()),
            };
        }
        serde_json::from_slice(&body).map_err(|_| unreadable())
    }

    async fn get<Rep: DeserializeOwned>(&self, path: &str) -> Result<Rep, Failure> {
        self.call(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post<Req: Serialize, Rep: DeserializeOwned>(
        &self,
        path: &str,
        body: &Req,
    ) -> Result<Rep, Failure> {
        self.call(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    pub async fn status(&self, only: Option<&str>) -> Result<StatusReply, Failure> {
        match only {
            Some(n) => {
                check_name(n)?;
                self.get(&format!("/v1/status?account={n}")).await
            }
            None => self.get("/v1/status").await,
        }
    }

    pub async fn login(&self, req: &LoginRequest) -> Result<LoginStarted, Failure> {
        check_name(&req.account)?;
        self.post("/v1/login", req).await
    }

    pub async fn login_redirect(&self, name: &str, url: &str) -> Result<LoginStarted, Failure> {
        check_name(name)?;
        self.post(
            &format!("/v1/login/{name}/redirect"),
            &crate::api::RedirectRequest {
                url: url.to_string(),
            },
        )
        .await
    }

    pub async fn login_progress(
        &self,
        name: &str,
        wait: Duration,
    ) -> Result<LoginProgress, Failure> {
        check_name(name)?;
        self.get(&format!("/v1/login/{name}?wait={}", wait.as_secs()))
            .await
    }

    pub async fn token(&self, name: &str) -> Result<TokenReply, Failure> {
        self.token_for(name, None).await
    }

    /// A token whose purpose the daemon writes to its audit log.
    pub async fn token_for(
        &self,
        name: &str,
        purpose: Option<&crate::api::TokenPurpose>,
    ) -> Result<TokenReply, Failure> {
        check_name(name)?;
        self.post(
            "/v1/token",
            &AccountRequest {
                account: name.to_string(),
                purpose: purpose.cloned(),
            },
        )
        .await
    }

    pub async fn logout(&self, name: &str) -> Result<LogoutReply, Failure> {
        check_name(name)?;
        self.post(
            "/v1/logout",
            &AccountRequest {
                account: name.to_string(),
                purpose: None,
            },
        )
        .await
    }

    pub async fn operate(&self, req: &OpRequest) -> Result<OpReply, Failure> {
        self.post("/v1/op", req).await
    }

    /// Report a refusal made on this side to the daemon's audit log (best effort: the
    /// refusal itself is already the answer).
    pub async fn refused(&self, op: &str, failure: &Failure) {
        let report = crate::api::RefusalReport {
            op: crate::audit::cap(&sidekey_flow::response::one_line(op, 60), 60),
            error: failure.clone(),
        };
        let _: Result<serde_json::Value, Failure> = self.post("/v1/refused", &report).await;
    }

    pub async fn allowed_ops(&self) -> Result<OpsReply, Failure> {
        self.get("/v1/ops").await
    }

    /// `/healthz`, answered without an API key, with a short timeout.
    pub async fn health(&self) -> Result<Health, Failure> {
        let resp = self
            .http
            .get(format!("{}/healthz", self.base))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| {
                Failure::network(format!(
                    "daemon not answering at {}: {}",
                    self.shown,
                    sidekey_flow::client::describe_reqwest(e)
                ))
            })?;
        let h: Health = resp
            .json()
            .await
            .map_err(|_| Failure::network("unreadable /healthz answer"))?;
        if h.ok {
            Ok(h)
        } else {
            Err(Failure::network("the daemon is not healthy"))
        }
    }
}

fn check_name(name: &str) -> Result<(), Failure> {
    sidekey_vault::check_name(name).map_err(|e| Failure::usage(e.to_string()))
}
