//! Pure parsing of what authorization servers send back.
//!
//! Nothing here does I/O, so every provider quirk is covered by table-driven tests that feed in
//! `(status, content type, body)` triples copied from the providers' documentation.
//!
//! The central rule (docs/providers.md, "Classification rule"): a body with an OAuth `error`
//! member is an error whatever the HTTP status (GitHub uses 200, Google 428/403, Auth0 403/429,
//! Microsoft 400); only a body with an `access_token` is success; anything else — HTML, truncated
//! JSON, 5xx, 429 without a body — is a transient fault that the poller backs off from.

use crate::secret::Secret;
use serde_json::{Map, Value};
/// One line of bounded length, and `Retry-After` parsing: shared with the other crates through
/// `sidekey-net`, re-exported here where they always were.
pub use sidekey_net::{one_line, parse_retry_after, scrub};
use std::time::Duration;

/// RFC 8628 §3.2: used when the server sends no `interval` (or a useless one).
pub const DEFAULT_INTERVAL: u64 = 5;
/// Upper bounds for what a server may ask: a hostile `interval` or `expires_in` must not
/// overflow time arithmetic or park the flow for days.
pub const MAX_INTERVAL: u64 = 300;
pub const MAX_DEVICE_EXPIRES_IN: u64 = 24 * 3600;
/// Token lifetimes beyond ten years are treated as ten years.
pub const MAX_TOKEN_LIFETIME: u64 = 10 * 365 * 24 * 3600;
/// Used when a server omits the (required) `expires_in`: the most common provider default.
pub const DEFAULT_EXPIRES_IN: u64 = 900;

/// A successful device authorization response (RFC 8628 §3.2), normalised across dialects.
/// Serialisable so a pending sign-in can be kept (encrypted) exactly as it was received.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct DeviceAuthorization {
    /// The polling credential. Never shown to the person (RFC 8628 §3.3).
    pub device_code: Secret,
    /// Displayed exactly as received: Google's codes are case-sensitive.
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    /// Microsoft's ready-made sentence; informational only.
    pub message: Option<String>,
    pub expires_in: u64,
    pub interval: u64,
}

/// An RFC 6749 §5.2 error body (or a provider's variant of it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub code: String,
    pub description: Option<String>,
    /// GitHub's `slow_down` carries the new interval.
    pub interval: Option<u64>,
}

impl OAuthError {
    /// The server's own trouble rather than an answer: `temporarily_unavailable` and
    /// `server_error` (RFC 6749 §4.1.2.1; Entra documents both at its token endpoint, "retry the
    /// request after a small delay": entra-docs v2-oauth2-auth-code-flow.md). Retried with
    /// back-off, never the end of a sign-in or a refresh.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.code.as_str(),
            "temporarily_unavailable" | "server_error"
        )
    }

    /// The error with every one of `secrets` (what the request sent: refresh token, device code,
    /// client secret) scrubbed from its code and description, and both capped in length: a
    /// provider or proxy that echoes the request must not hand them on.
    pub fn scrubbed(mut self, secrets: &[&str]) -> OAuthError {
        self.code = one_line(&sidekey_net::scrub(&self.code, secrets), 120);
        self.description = self
            .description
            .map(|d| cap(&sidekey_net::scrub(&d, secrets), 2000));
        self
    }

    /// The description cut to one printable line: Microsoft appends trace IDs on further lines.
    pub fn short_description(&self) -> Option<String> {
        let d = self.description.as_deref()?;
        let line = d.lines().map(str::trim).find(|l| !l.is_empty())?;
        Some(one_line(line, 300))
    }
}

/// The token endpoint's answer (RFC 6749 §5.1), keeping only what sidekey needs.
#[derive(Clone, Debug)]
pub struct TokenResponse {
    pub access_token: Secret,
    pub token_type: String,
    pub expires_in: Option<u64>,
    pub refresh_token: Option<Secret>,
    pub refresh_token_expires_in: Option<u64>,
    /// Granted scopes. GitHub separates them with commas, everybody else with spaces.
    pub scope: Option<Vec<String>>,
    pub id_token: Option<Secret>,
}

/// What one token-endpoint exchange means.
#[derive(Debug)]
pub enum TokenReply {
    Tokens(TokenResponse),
    Error(OAuthError),
    /// A fault worth retrying: 5xx, 429 without an OAuth body, HTML, garbage, a quota message.
    Transient {
        what: String,
        retry_after: Option<Duration>,
        /// HTTP 429 or a quota error: the server asked us to slow down without saying `slow_down`.
        rate_limited: bool,
    },
}

/// At most `max` characters (a provider's text is shown and stored, never a megabyte of it).
fn cap(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut c: String = s.chars().take(max - 1).collect();
    c.push('…');
    c
}

impl TokenReply {
    /// [`OAuthError::scrubbed`] for an error, and the same for a transient fault's text.
    pub fn scrubbed(self, secrets: &[&str]) -> TokenReply {
        match self {
            TokenReply::Error(e) => TokenReply::Error(e.scrubbed(secrets)),
            TokenReply::Transient {
                what,
                retry_after,
                rate_limited,
            } => TokenReply::Transient {
                what: one_line(&sidekey_net::scrub(&what, secrets), 300),
                retry_after,
                rate_limited,
            },
            t => t,
        }
    }
}

/// Parse a body as a JSON object or, failing that, as `application/x-www-form-urlencoded`
/// (GitHub's default). Returns `None` for anything that is neither.
pub fn parse_object(content_type: Option<&str>, body: &[u8]) -> Option<Map<String, Value>> {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let text = std::str::from_utf8(body).ok()?.trim();
    if ct.contains("x-www-form-urlencoded") {
        return parse_form(text);
    }
    if text.starts_with('{') {
        return match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        };
    }
    // No or wrong content type: a form body still has `key=value` pairs and no markup.
    if !ct.contains("html") && text.contains('=') && !text.contains('<') && !text.contains(' ') {
        return parse_form(text);
    }
    None
}

fn parse_form(text: &str) -> Option<Map<String, Value>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(text).ok()?;
    if pairs.is_empty() {
        return None;
    }
    Some(
        pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    )
}

fn get_str(m: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match m.get(*k) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    })
}

/// Numbers arrive as JSON numbers, as strings (GitHub form bodies, legacy Azure AD), or not at all.
fn get_u64(m: &Map<String, Value>, keys: &[&str]) -> Option<u64> {
    keys.iter().find_map(|k| match m.get(*k)? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    })
}

/// The OAuth error in a body, if it has one. Google's quota error uses `error_code` instead.
pub fn oauth_error(m: &Map<String, Value>) -> Option<OAuthError> {
    let code = get_str(m, &["error"])?;
    Some(OAuthError {
        code,
        description: get_str(m, &["error_description", "errorDescription", "message"]),
        interval: get_u64(m, &["interval"]).map(|i| i.min(MAX_INTERVAL)),
    })
}

/// Classify a device authorization response. `Ok` is a usable code; `Err` tells why not.
pub fn parse_device_authorization(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<DeviceAuthorization, DeviceReplyError> {
    let Some(m) = parse_object(content_type, body) else {
        return Err(if status >= 500 || status == 429 {
            DeviceReplyError::Transient(format!("HTTP {status}"))
        } else if (200..300).contains(&status) {
            // As at the token endpoint: a success status with a body that is cut off, or a
            // captive portal's page, is a fault on the way, not the provider's answer.
            DeviceReplyError::Transient(format!(
                "HTTP {status} with an unreadable body ({}; a captive portal or proxy?)",
                describe_body(content_type, body)
            ))
        } else {
            DeviceReplyError::Malformed(format!(
                "HTTP {status} with a body that is neither JSON nor a form ({})",
                describe_body(content_type, body)
            ))
        });
    };
    if let Some(e) = oauth_error(&m) {
        // As at the token endpoint: a busy or failing server is retried, not believed.
        if e.is_transient() || status >= 500 {
            return Err(DeviceReplyError::Transient(format!(
                "HTTP {status} {}",
                one_line(&e.code, 80)
            )));
        }
        return Err(DeviceReplyError::OAuth(e));
    }
    if let Some(code) = get_str(&m, &["error_code"]) {
        // Google: 403 {"error_code": "rate_limit_exceeded"}
        return Err(DeviceReplyError::Transient(format!(
            "HTTP {status} {}",
            one_line(&code, 80)
        )));
    }
    if status >= 500 || status == 429 {
        return Err(DeviceReplyError::Transient(format!("HTTP {status}")));
    }
    let device_code = get_str(&m, &["device_code", "deviceCode"]);
    let user_code = get_str(&m, &["user_code", "userCode"]);
    let verification_uri = get_str(
        &m,
        &["verification_uri", "verification_url", "verificationUri"],
    );
    match (device_code, user_code, verification_uri) {
        (Some(device_code), Some(user_code), Some(verification_uri))
            if (200..300).contains(&status) =>
        {
            // What the person is shown: checked here, before anything is shown anywhere.
            check_user_code(&user_code).map_err(DeviceReplyError::Malformed)?;
            let verification_uri = shown_uri(&verification_uri, "verification_uri")
                .map_err(DeviceReplyError::Malformed)?;
            let verification_uri_complete = match get_str(
                &m,
                &["verification_uri_complete", "verificationUriComplete"],
            ) {
                Some(c) => Some(
                    shown_uri(&c, "verification_uri_complete")
                        .map_err(DeviceReplyError::Malformed)?,
                ),
                None => None,
            };
            let interval = get_u64(&m, &["interval"])
                .filter(|i| *i > 0)
                .unwrap_or(DEFAULT_INTERVAL)
                .min(MAX_INTERVAL);
            Ok(DeviceAuthorization {
                device_code: Secret::new(device_code),
                user_code,
                verification_uri,
                verification_uri_complete,
                message: get_str(&m, &["message"]),
                expires_in: get_u64(&m, &["expires_in", "expiresIn"])
                    .filter(|e| *e > 0)
                    .unwrap_or(DEFAULT_EXPIRES_IN)
                    .min(MAX_DEVICE_EXPIRES_IN),
                interval,
            })
        }
        (d, u, v) => {
            let missing: Vec<&str> = [
                (d.is_none(), "device_code"),
                (u.is_none(), "user_code"),
                (v.is_none(), "verification_uri"),
            ]
            .iter()
            .filter(|(m, _)| *m)
            .map(|(_, n)| *n)
            .collect();
            Err(DeviceReplyError::Malformed(if missing.is_empty() {
                format!("HTTP {status} from the device authorization endpoint")
            } else {
                format!("HTTP {status}: the response has no {}", missing.join(", "))
            }))
        }
    }
}

/// The longest user code shown: RFC 8628 §6.1 codes are 8 or so characters; Microsoft's are 9,
/// Google's 11 with a dash. Anything longer is not a code a person types.
pub const MAX_USER_CODE: usize = 64;

/// Characters that reorder or hide text (bidi controls, zero-width marks): not controls in
/// Unicode's sense, but they change what a person reads.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// A user code is a short line of printable characters (spaces inside allowed): no control
/// characters (ANSI escapes), no line breaks, no invisible marks, at most [`MAX_USER_CODE`].
pub fn check_user_code(code: &str) -> Result<(), String> {
    let n = code.chars().count();
    if code.trim().is_empty() {
        return Err("the user code is empty; refusing to show it".into());
    }
    if n > MAX_USER_CODE {
        return Err(format!(
            "the user code is {n} characters long (at most {MAX_USER_CODE}); refusing to show it"
        ));
    }
    if code
        .chars()
        .any(|c| c.is_control() || (c.is_whitespace() && c != ' ') || is_invisible(c))
    {
        return Err(
            "the user code contains control or invisible characters; refusing to show it".into(),
        );
    }
    Ok(())
}

/// A verification URI as it is shown: exactly one absolute URL with a host, with no whitespace
/// or control characters anywhere (a second URL after a line break is how a hostile page hides
/// behind an allowed one), normalised by the URL parser. Only surrounding spaces are dropped.
pub fn shown_uri(raw: &str, field: &str) -> Result<String, String> {
    let t = raw.trim_matches(' ');
    let refuse = |why: &str| {
        Err(format!(
            "the {field} is not exactly one absolute URL ({why}); refusing to show it"
        ))
    };
    if t.chars()
        .any(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
    {
        return refuse("it contains whitespace or control characters");
    }
    if t.len() > 2048 {
        return refuse("it is longer than 2048 bytes");
    }
    let Ok(url) = url::Url::parse(t) else {
        return refuse("it does not parse");
    };
    if url.cannot_be_a_base() || url.host_str().is_none_or(str::is_empty) {
        return refuse("it has no host");
    }
    Ok(url.to_string())
}

/// Why a device authorization request produced no code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceReplyError {
    OAuth(OAuthError),
    Transient(String),
    Malformed(String),
}

/// Classify a token-endpoint answer (device-code polls and refresh grants alike).
pub fn classify_token_reply(
    status: u16,
    content_type: Option<&str>,
    retry_after: Option<Duration>,
    body: &[u8],
) -> TokenReply {
    let parsed = parse_object(content_type, body);
    if let Some(m) = &parsed {
        if let Some(e) = oauth_error(m) {
            // A busy or failing server (whatever its status), or any 5xx carrying an OAuth body,
            // is a fault to back off from, not the server's answer to this request.
            if e.is_transient() || status >= 500 {
                return TokenReply::Transient {
                    what: format!("HTTP {status} {}", one_line(&e.code, 80)),
                    retry_after,
                    rate_limited: false,
                };
            }
            return TokenReply::Error(e);
        }
        if let Some(code) = get_str(m, &["error_code"]) {
            return TokenReply::Transient {
                what: format!("HTTP {status} {}", one_line(&code, 80)),
                retry_after,
                rate_limited: true,
            };
        }
        if (200..300).contains(&status)
            && let Some(t) = token_response(m)
        {
            return TokenReply::Tokens(t);
        }
    }
    let what = if (200..300).contains(&status) {
        match parsed {
            Some(_) => format!("HTTP {status} without an access_token"),
            None => format!(
                "HTTP {status} with an unreadable body ({})",
                describe_body(content_type, body)
            ),
        }
    } else {
        format!("HTTP {status} ({})", describe_body(content_type, body))
    };
    TokenReply::Transient {
        what,
        retry_after,
        rate_limited: status == 429,
    }
}

fn token_response(m: &Map<String, Value>) -> Option<TokenResponse> {
    let access_token = get_str(m, &["access_token", "accessToken"])?;
    let scope = match m.get("scope") {
        Some(Value::String(s)) => Some(
            s.split([' ', ','])
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        Some(Value::Array(a)) => Some(
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    };
    Some(TokenResponse {
        access_token: Secret::new(access_token),
        token_type: get_str(m, &["token_type", "tokenType"]).unwrap_or_else(|| "Bearer".into()),
        expires_in: get_u64(m, &["expires_in", "expiresIn"]).map(|e| e.min(MAX_TOKEN_LIFETIME)),
        refresh_token: get_str(m, &["refresh_token", "refreshToken"]).map(Secret::new),
        refresh_token_expires_in: get_u64(m, &["refresh_token_expires_in"])
            .map(|e| e.min(MAX_TOKEN_LIFETIME)),
        scope,
        id_token: get_str(m, &["id_token", "idToken"]).map(Secret::new),
    })
}

/// A short, safe description of a body for error messages: its type and size, never its content
/// (a misbehaving server could echo a token back).
pub fn describe_body(content_type: Option<&str>, body: &[u8]) -> String {
    let ct = content_type
        .and_then(|c| c.split(';').next())
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .unwrap_or("no content type");
    format!("{}, {} bytes", one_line(ct, 60), body.len())
}
