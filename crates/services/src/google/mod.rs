//! Google's APIs: Drive ([`drive`], reading files: [`read`]), Docs ([`docs`]) and YouTube
//! ([`youtube`]), the text a person reads for Drive and Docs answers ([`render`]), and what
//! every Google API call shares: the error type ([`GoogleError`]) read from Google's JSON error
//! shape, and one bounded HTTP sender ([`GoogleHttp`]) that Drive and Docs use.
//!
//! Google's error body (docs/google-drive.md, "Wire conventions"; the Drive "handle errors" guide):
//! `{"error":{"code":404,"message":"File not found: X.","errors":[{"reason":"notFound","domain":"global",…}],"status":"NOT_FOUND"}}`.
//! sidekey branches on `errors[0].reason` (else `status`), never on `message`; the message is
//! kept as a one-line hint. No variant holds a token, and transport errors name the host only.

pub mod docs;
pub mod drive;
pub mod read;
pub mod render;
pub mod youtube;

use sidekey_net::{Bounds, SendError, one_line, send};
use std::fmt;
use std::time::Duration;

/// What a Google API call can fail with. `Display` is one line, safe to show and log.
#[derive(Debug, Clone)]
pub enum GoogleError {
    /// HTTP 401: refresh the token once and retry; a second 401 means sign in again.
    Unauthorized,
    /// Any other error answer: HTTP status, Google's `reason` (`notFound`,
    /// `fileNotDownloadable`, `exportSizeLimitExceeded`, `insufficientScopes`, …), message.
    Api {
        status: u16,
        reason: String,
        message: String,
    },
    /// Could not talk to Google (connect, TLS, timeout, body cut off).
    Network(String),
    /// An answer sidekey cannot use (not JSON, missing fields).
    Malformed(String),
    /// A body over sidekey's cap for this call.
    TooLarge { limit: usize },
    /// An argument that cannot work.
    Invalid(String),
    /// The file is in the person's Drive trash (Drive still serves it by id): not read.
    Trashed { id: String },
    /// The document changed since sidekey read it (the person or another app edited it): Docs
    /// refused the write pinned to the revision read, and nothing was written
    /// (docs/google-drive.md, "Writes and the person's edits").
    Changed { id: String },
}

impl GoogleError {
    /// Google's `reason` (empty for non-API errors).
    pub fn reason(&self) -> &str {
        match self {
            GoogleError::Api { reason, .. } => reason,
            _ => "",
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            GoogleError::Api { status, .. } => Some(*status),
            GoogleError::Unauthorized => Some(401),
            _ => None,
        }
    }

    /// A 404 `notFound`: under `drive.file` also what an ungranted file answers.
    pub fn is_not_found(&self) -> bool {
        matches!(self, GoogleError::Api { status: 404, .. })
    }

    /// A short stable name for JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            GoogleError::Unauthorized => "unauthorized",
            GoogleError::Api { .. } => "google_error",
            GoogleError::Network(_) => "network",
            GoogleError::Malformed(_) => "malformed",
            GoogleError::TooLarge { .. } => "too_large",
            GoogleError::Invalid(_) => "invalid_argument",
            GoogleError::Trashed { .. } => "trashed",
            GoogleError::Changed { .. } => "document_changed",
        }
    }
}

impl fmt::Display for GoogleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GoogleError::Unauthorized => write!(f, "Google rejected the access token (HTTP 401)"),
            GoogleError::Api {
                status,
                reason,
                message,
            } => write!(f, "Google answered HTTP {status} {reason}: {message}"),
            GoogleError::Network(m) => write!(f, "{m}"),
            GoogleError::Malformed(m) => write!(f, "unusable answer from Google: {m}"),
            GoogleError::TooLarge { limit } => {
                write!(
                    f,
                    "the content is larger than sidekey's limit of {limit} bytes"
                )
            }
            GoogleError::Invalid(m) => write!(f, "{m}"),
            GoogleError::Trashed { id } => write!(
                f,
                "the file {id} is in the Drive trash: the person removed it (restored in Drive, it can be read again)"
            ),
            GoogleError::Changed { id } => write!(
                f,
                "the document {id} changed since sidekey read it (someone edited it); nothing was written: read it again (`sidekey google docs read {id}`) and retry the revision"
            ),
        }
    }
}

impl std::error::Error for GoogleError {}

/// Read Google's error shape from an error answer.
pub fn parse_error(status: u16, body: &[u8]) -> GoogleError {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
    let e = &v["error"];
    let reason = e["errors"][0]["reason"]
        .as_str()
        .or_else(|| e["status"].as_str())
        // The OAuth-style `{"error":"invalid_token"}` some front ends send.
        .or_else(|| e.as_str())
        // Whoever answered chose it: one short printable line, as the message is.
        .map(|r| one_line(r, 80))
        .unwrap_or_default();
    let message = e["message"]
        .as_str()
        .map(|m| one_line(m, 200))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            if text.trim_start().starts_with('<') {
                "an HTML page instead of Google's JSON error".to_string()
            } else {
                one_line(&text, 120)
            }
        });
    if status == 401 {
        return GoogleError::Unauthorized;
    }
    GoogleError::Api {
        status,
        reason: if reason.is_empty() {
            format!("http{status}")
        } else {
            reason
        },
        message,
    }
}

/// A received answer.
pub struct Raw {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// The shared sender: one reqwest client, a per-request timeout, a body cap, bearer auth.
#[derive(Clone)]
pub struct GoogleHttp {
    pub client: reqwest::Client,
    pub timeout: Duration,
    /// The cap for JSON answers (content downloads pass their own).
    pub max_json: usize,
}

impl GoogleHttp {
    pub fn new(client: reqwest::Client) -> GoogleHttp {
        GoogleHttp {
            client,
            timeout: Duration::from_secs(30),
            max_json: 4 * 1024 * 1024,
        }
    }

    /// Send with the token; a 2xx answer is returned (capped at `max` bytes), anything else
    /// becomes a [`GoogleError`]. A throttling answer (429, or 403 `rateLimitExceeded`) is
    /// retried once after a short pause.
    pub async fn send(
        &self,
        token: &str,
        make: impl Fn() -> reqwest::RequestBuilder,
        max: usize,
    ) -> Result<Raw, GoogleError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let bounds = Bounds::new(max).timeout(self.timeout).error_max(64 * 1024);
            let (status, content_type, body) = match send(make().bearer_auth(token), bounds).await {
                Ok(r) => (r.status, r.content_type, r.body),
                Err(SendError::TooLarge { status, .. }) if (200..300).contains(&status) => {
                    return Err(GoogleError::TooLarge { limit: max });
                }
                // An error answer is judged by its status alone when its body is that large.
                Err(SendError::TooLarge { status, .. }) => (status, None, Vec::new()),
                Err(e) => return Err(GoogleError::Network(e.to_string())),
            };
            if (200..300).contains(&status) {
                return Ok(Raw {
                    status,
                    content_type,
                    body,
                });
            }
            let err = parse_error(status, &body);
            let throttled = status == 429
                || matches!(err.reason(), "rateLimitExceeded" | "userRateLimitExceeded");
            if throttled && attempt < 2 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            return Err(err);
        }
    }

    /// [`GoogleHttp::send`] for a JSON answer.
    pub async fn json(
        &self,
        token: &str,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<serde_json::Value, GoogleError> {
        let raw = self.send(token, make, self.max_json).await?;
        if raw.body.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&raw.body)
            .map_err(|_| GoogleError::Malformed(format!("HTTP {} not JSON", raw.status)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzz/fuzz_targets/service_replies.rs: the reason of an OAuth-style error body
    /// (`{"error": "…"}`, from a front end) went into the error's text as sent, line breaks and
    /// escape sequences included; the error is shown to the person and the agent as one line.
    #[test]
    fn an_error_reason_is_one_printable_line() {
        for body in [
            &br#"{"error":"\r\n"}"#[..],
            br#"{"error":"invalid_token\n\u001b[2J\u2028x"}"#,
            br#"{"error":{"errors":[{"reason":"a\nb"}]}}"#,
            br#"{"error":{"status":"NOT\u202eFOUND"}}"#,
        ] {
            let e = parse_error(400, body);
            let text = e.to_string();
            assert!(!text.chars().any(sidekey_net::hidden), "{text:?}");
            assert!(e.reason().chars().count() <= 80, "{:?}", e.reason());
        }
        assert_eq!(
            parse_error(400, br#"{"error":"invalid_token"}"#).reason(),
            "invalid_token"
        );
    }

    #[test]
    fn google_error_shape_is_read_by_reason() {
        let body = br#"{"error":{"code":404,"message":"File not found: abc.","errors":[{"message":"File not found: abc.","domain":"global","reason":"notFound","location":"fileId","locationType":"parameter"}],"status":"NOT_FOUND"}}"#;
        let e = parse_error(404, body);
        assert!(e.is_not_found());
        assert_eq!(e.reason(), "notFound");
        assert!(e.to_string().contains("File not found"), "{e}");
        let e = parse_error(403, b"<html>proxy</html>");
        assert_eq!(e.reason(), "http403");
        assert!(e.to_string().contains("HTML"), "{e}");
        assert!(matches!(parse_error(401, b"{}"), GoogleError::Unauthorized));
    }
}
