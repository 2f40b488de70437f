//! [`YouTubeError`]: what a YouTube Data API call can fail with, decided by Google's
//! `errors[].reason` (a 401 `youtubeSignupRequired` is not a bad token, a 403 `quotaExceeded`
//! is not a missing permission), and whether a failed request was charged to the quota.

use super::{Bucket, Method};
use serde_json::Value;
use sidekey_net::one_line;
use std::time::Duration;

/// What can go wrong. `Display` is one line, safe to show and log.
#[derive(Debug)]
pub enum YouTubeError {
    /// 401 with `authError` (or no reason): refresh the token once and retry.
    Unauthorized,
    /// 401 `youtubeSignupRequired`: the Google account has no YouTube channel. A new token does
    /// not help; the person has to create a channel.
    SignupRequired,
    /// 403 `quotaExceeded` / `dailyLimitExceeded`: the project's daily quota is used up.
    QuotaExceeded {
        bucket: Bucket,
        message: String,
    },
    /// 403 `insufficientPermissions`: the token lacks the `youtube` scope.
    MissingScope,
    /// 403 `accessNotConfigured` / `SERVICE_DISABLED`: the YouTube Data API is not enabled in the
    /// Cloud project the OAuth client belongs to.
    ApiDisabled {
        message: String,
    },
    /// 404 `playlistNotFound`, `videoNotFound`, `playlistItemNotFound`, …
    NotFound {
        reason: String,
        message: String,
    },
    /// Still 429/503 after the retries the policy allows.
    Throttled {
        retry_after: Option<Duration>,
    },
    /// Any other error answer.
    Request {
        status: u16,
        reason: String,
        message: String,
    },
    Network(String),
    Malformed(String),
    Invalid(String),
}

impl YouTubeError {
    pub fn kind(&self) -> &'static str {
        match self {
            YouTubeError::Unauthorized => "unauthorized",
            YouTubeError::SignupRequired => "youtube_signup_required",
            YouTubeError::QuotaExceeded { .. } => "quota_exceeded",
            YouTubeError::MissingScope => "missing_scope",
            YouTubeError::ApiDisabled { .. } => "api_disabled",
            YouTubeError::NotFound { .. } => "not_found",
            YouTubeError::Throttled { .. } => "throttled",
            YouTubeError::Request { .. } => "youtube_error",
            YouTubeError::Network(_) => "network",
            YouTubeError::Malformed(_) => "malformed",
            YouTubeError::Invalid(_) => "invalid_argument",
        }
    }
}

impl std::fmt::Display for YouTubeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            YouTubeError::Unauthorized => write!(
                f,
                "YouTube rejected the access token (HTTP 401); re-authentication needed if a refreshed token fails too"
            ),
            YouTubeError::SignupRequired => write!(
                f,
                "this Google account has no YouTube channel (youtubeSignupRequired): open https://www.youtube.com/create_channel while signed in as this account, create the channel, then try again"
            ),
            YouTubeError::QuotaExceeded { bucket, message } => {
                let which = match bucket {
                    Bucket::Units => "daily YouTube Data API quota",
                    Bucket::Search => "daily search.list allowance",
                };
                write!(f, "the Cloud project's {which} is used up (quotaExceeded)")?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            YouTubeError::MissingScope => write!(
                f,
                "YouTube denied access (insufficientPermissions): the token lacks the youtube scope"
            ),
            YouTubeError::ApiDisabled { message } => write!(
                f,
                "the YouTube Data API v3 is not enabled in the Google Cloud project of this OAuth client (accessNotConfigured): enable it in the console (APIs & Services > Library > YouTube Data API v3){}",
                if message.is_empty() {
                    String::new()
                } else {
                    format!("; Google says: {message}")
                }
            ),
            YouTubeError::NotFound { reason, message } => {
                write!(f, "YouTube: {reason} (HTTP 404)")?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            YouTubeError::Throttled { retry_after } => match retry_after {
                Some(d) => write!(
                    f,
                    "YouTube is rate-limiting requests; try again in {:.1} s",
                    d.as_secs_f64()
                ),
                None => write!(f, "YouTube is rate-limiting requests; try again later"),
            },
            YouTubeError::Request {
                status,
                reason,
                message,
            } => {
                write!(f, "YouTube error")?;
                if !reason.is_empty() {
                    write!(f, " {reason}")?;
                }
                write!(f, " (HTTP {status})")?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            YouTubeError::Network(m) => write!(f, "cannot reach YouTube: {m}"),
            YouTubeError::Malformed(m) => write!(f, "unexpected answer from YouTube: {m}"),
            YouTubeError::Invalid(m) => write!(f, "invalid request: {m}"),
        }
    }
}

impl std::error::Error for YouTubeError {}

/// Google's message without HTML (the quota message links its own docs with `<a href=…>`), on
/// one line.
fn clean_message(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    one_line(&unescape_html(&out), 200)
}

/// The first `errors[].reason` (or the AIP-193 `details[].reason`), and the message.
pub fn error_parts(body: &Value) -> (String, String) {
    let err = body.get("error");
    let reason = err
        .and_then(|e| e.get("errors"))
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .find_map(|x| x.get("reason").and_then(Value::as_str))
        })
        .or_else(|| {
            err.and_then(|e| e.get("details"))
                .and_then(Value::as_array)
                .and_then(|a| {
                    a.iter()
                        .find_map(|x| x.get("reason").and_then(Value::as_str))
                })
        })
        .map(|s| one_line(s, 80))
        .unwrap_or_default();
    let message = err
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(clean_message)
        .unwrap_or_default();
    (reason, message)
}

/// Maps an error answer to a [`YouTubeError`], by reason first.
pub fn classify(
    method: Method,
    status: u16,
    body: &Value,
    retry_after: Option<Duration>,
) -> YouTubeError {
    let (reason, message) = error_parts(body);
    match reason.as_str() {
        "youtubeSignupRequired" => return YouTubeError::SignupRequired,
        "quotaExceeded" | "dailyLimitExceeded" => {
            return YouTubeError::QuotaExceeded {
                bucket: method.cost().0,
                message,
            };
        }
        "insufficientPermissions" | "ACCESS_TOKEN_SCOPE_INSUFFICIENT" => {
            return YouTubeError::MissingScope;
        }
        "accessNotConfigured" | "SERVICE_DISABLED" => {
            return YouTubeError::ApiDisabled { message };
        }
        "rateLimitExceeded" | "userRateLimitExceeded" => {
            return YouTubeError::Throttled { retry_after };
        }
        _ => {}
    }
    match status {
        401 if reason.is_empty() || reason == "authError" || reason == "unauthorized" => {
            YouTubeError::Unauthorized
        }
        404 => YouTubeError::NotFound {
            reason: if reason.is_empty() {
                "notFound".into()
            } else {
                reason
            },
            message,
        },
        429 | 503 => YouTubeError::Throttled { retry_after },
        _ => YouTubeError::Request {
            status,
            reason,
            message,
        },
    }
}

/// Whether a failed request was charged to the project: everything Google could attribute and
/// did not refuse for quota.
pub(super) fn charged(status: u16, body: &Value) -> bool {
    let (reason, _) = error_parts(body);
    // Refused before any work: the quota itself, or a rate limit [U for the latter].
    if matches!(
        reason.as_str(),
        "quotaExceeded" | "dailyLimitExceeded" | "rateLimitExceeded" | "userRateLimitExceeded"
    ) {
        return false;
    }
    !(status == 401 && reason != "youtubeSignupRequired")
}

/// `&#39;`, `&quot;`, `&amp;`, `&lt;`, `&gt;`, `&#NN;` and `&#xNN;` decoded; anything else kept.
pub fn unescape_html(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        // An entity is short: look for its `;` in the first 12 bytes (by characters: a title can
        // go on with any UTF-8 after a bare `&`).
        let Some(end) = tail
            .char_indices()
            .take_while(|(i, _)| *i < 12)
            .find(|(_, c)| *c == ';')
            .map(|(i, _)| i)
        else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse::<u32>().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
