//! ntfy: `POST {server}/{topic}` with the message as a plain-text body and the metadata in
//! headers (`Title`, `Click`, `Tags`, `Priority`, optional `Authorization: Bearer`), as
//! documented at <https://docs.ntfy.sh/publish/>. Code events get priority `high` and a
//! `Click` link to the verification page, so tapping the notification opens it.
//!
//! HTTP header values are ASCII; a non-ASCII title (an account named "Müller") is sent as an
//! RFC 2047 encoded word, which ntfy decodes (since v2.4.0).

use crate::http;
use crate::text::{cut, expiry, one_line};
use crate::{Event, NtfyConfig, RetryPolicy};
use base64::Engine as _;
use reqwest::header::HeaderValue;

pub(crate) const NAME: &str = "ntfy";
const LABEL: &str = "ntfy";

struct Note {
    title: String,
    body: String,
    click: Option<String>,
    tags: &'static str,
    priority: &'static str,
}

pub(crate) async fn send(
    client: &reqwest::Client,
    cfg: &NtfyConfig,
    policy: &RetryPolicy,
    event: &Event,
) -> Result<(), String> {
    post(client, cfg, policy, note(event, jiff::Timestamp::now())).await
}

/// `sidekey notify test`'s message, as a plain note.
pub(crate) async fn send_test(
    client: &reqwest::Client,
    cfg: &NtfyConfig,
    policy: &RetryPolicy,
    text: &str,
) -> Result<(), String> {
    let note = Note {
        title: "sidekey test".to_string(),
        body: one_line(text, 1000),
        click: None,
        tags: "bell",
        priority: "default",
    };
    post(client, cfg, policy, note).await
}

async fn post(
    client: &reqwest::Client,
    cfg: &NtfyConfig,
    policy: &RetryPolicy,
    note: Note,
) -> Result<(), String> {
    let topic = cfg.topic.trim();
    // ntfy's own rule for topic names; anything else would change the URL's meaning.
    if topic.is_empty()
        || topic.len() > 64
        || !topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "{LABEL}: invalid topic name (letters, digits, _ and -, at most 64)"
        ));
    }
    let server = cfg.server.trim().trim_end_matches('/');
    match reqwest::Url::parse(server) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
        _ => return Err(format!("{LABEL}: the server is not an http(s) URL")),
    }
    let url = format!("{server}/{topic}");
    let token = cfg
        .token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if token.is_some_and(|t| HeaderValue::from_str(t).is_err()) {
        return Err(format!(
            "{LABEL}: the access token contains characters not allowed in a header"
        ));
    }
    let title = header_text(&note.title);
    let click = note
        .click
        .as_deref()
        .filter(|c| c.starts_with("https://") || c.starts_with("http://"))
        .and_then(|c| HeaderValue::from_str(c).ok());
    let deadline = http::deadline(policy);
    http::with_retries(
        LABEL,
        policy,
        policy.attempts.min(3),
        deadline,
        || {
            let mut req = client
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .header("Title", title.clone())
                .header("Tags", note.tags)
                .header("Priority", note.priority)
                .body(note.body.clone());
            if let Some(c) = &click {
                req = req.header("Click", c.clone());
            }
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            http::attempt(req, policy, deadline)
        },
        http::judge_plain,
    )
    .await
    .map(|_| ())
}

/// A header value for free text: ASCII as is, anything else as an RFC 2047 encoded word.
fn header_text(s: &str) -> HeaderValue {
    let s = one_line(s, 120);
    if s.is_ascii()
        && let Ok(v) = HeaderValue::from_str(&s)
    {
        return v;
    }
    let word = format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
    );
    HeaderValue::from_str(&word).unwrap_or_else(|_| HeaderValue::from_static("sidekey"))
}

fn note(event: &Event, now: jiff::Timestamp) -> Note {
    let who = |account: &str, provider: &str| {
        format!("{} ({})", one_line(account, 100), one_line(provider, 60))
    };
    match event {
        Event::Code {
            account,
            provider,
            scopes,
            user_code,
            verification_uri,
            verification_uri_complete,
            expires_at,
            ..
        } => {
            let scopes = if scopes.is_empty() {
                "the provider's defaults".to_string()
            } else {
                cut(&one_line(&scopes.join(", "), 1200), 1200)
            };
            Note {
                title: format!("Sign-in code for {}", who(account, provider)),
                body: format!(
                    "Code: {}\nOpen: {}\nAccess requested: {scopes}\nExpires: {}\n\n\
                     Only enter this code if you asked the agent to sign in.",
                    one_line(user_code, 64),
                    one_line(verification_uri, 500),
                    expiry(expires_at, now),
                ),
                click: Some(
                    verification_uri_complete
                        .as_deref()
                        .filter(|c| !c.trim().is_empty())
                        .unwrap_or(verification_uri)
                        .trim()
                        .to_string(),
                ),
                tags: "key",
                priority: "high",
            }
        }
        Event::SignedIn {
            account,
            provider,
            user,
            warning,
            ..
        } => {
            let name = user.name.as_deref().map(|n| one_line(n, 100));
            let email = user.email.as_deref().map(|m| one_line(m, 100));
            let as_whom = match (
                name.filter(|n| !n.is_empty()),
                email.filter(|m| !m.is_empty()),
            ) {
                (Some(n), Some(m)) => format!(" as {n} ({m})"),
                (Some(x), None) | (None, Some(x)) => format!(" as {x}"),
                (None, None) => String::new(),
            };
            Note {
                title: format!("Signed in: {}", who(account, provider)),
                body: format!(
                    "{} signed in{as_whom}.{}",
                    who(account, provider),
                    warning
                        .as_deref()
                        .map(|w| format!("\nWarning: {}", one_line(w, 1000)))
                        .unwrap_or_default()
                ),
                click: None,
                tags: "white_check_mark",
                priority: "default",
            }
        }
        Event::Failed {
            account,
            provider,
            reason,
            message,
        } => Note {
            title: format!("Sign-in failed: {}", who(account, provider)),
            body: format!("{} ({})", one_line(message, 300), one_line(reason, 60)),
            click: None,
            tags: "x",
            priority: "default",
        },
    }
}
