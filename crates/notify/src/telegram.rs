//! Telegram Bot API: `sendMessage` with the code (HTML), then `sendPhoto` with its QR code.
//!
//! Only those two methods are called to deliver: `getUpdates` is exclusive per bot token (one
//! poller at a time), so a sign-in never polls. The chat id is configured — recorded once by
//! `sidekey telegram setup` (the [`crate::bot`] calls), on a bot of sidekey's own.
//!
//! Replies use Telegram's envelope `{ok, result, description, error_code, parameters}`:
//! 429 waits `parameters.retry_after` (capped by [`RetryPolicy::max_wait`]), 5xx and transport
//! errors back off exponentially, everything else (400 bad chat or bad HTML, 401 bad token,
//! 403 bot blocked, 404) fails at once with Telegram's own `description`.

use crate::html::escape;
use crate::http::{self, Reply, Verdict};
use crate::text::{cut, expiry, one_line};
use crate::{Event, RetryPolicy, TelegramConfig, User, qr};
use serde::Deserialize;
use serde_json::json;

pub(crate) const NAME: &str = "telegram";
const LABEL: &str = "Telegram";

// Cuts (in chars, before escaping) that keep a message under Telegram's 4096-char text
// and 1024-char caption limits whatever the inputs are.
const MAX_NAME: usize = 100;
const MAX_PROVIDER: usize = 60;
const MAX_CODE: usize = 64;
const MAX_URL: usize = 500;
const MAX_SCOPE: usize = 150;
const MAX_SCOPES: usize = 1200;
const MAX_MESSAGE: usize = 300;

pub(crate) async fn send(
    client: &reqwest::Client,
    cfg: &TelegramConfig,
    policy: &RetryPolicy,
    event: &Event,
) -> Result<(), String> {
    let base = check_config(cfg)?;
    let deadline = http::deadline(policy);
    let text = message(event, jiff::Timestamp::now());
    let body = json!({
        "chat_id": cfg.chat_id.trim(),
        "text": text,
        "parse_mode": "HTML",
        "link_preview_options": { "is_disabled": true },
        "protect_content": true,
    });
    let url = method_url(&base, &cfg.bot_token, "sendMessage");
    http::with_retries(
        LABEL,
        policy,
        policy.attempts,
        deadline,
        || http::attempt(client.post(&url).json(&body), policy, deadline),
        judge,
    )
    .await?;

    let Event::Code {
        verification_uri,
        verification_uri_complete,
        ..
    } = event
    else {
        return Ok(());
    };
    let target = verification_uri_complete
        .as_deref()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or(verification_uri);
    let png =
        qr::png(target.trim()).map_err(|e| format!("{LABEL}: code sent, but no QR code: {e}"))?;
    let caption = caption(event);
    let chat_id = cfg.chat_id.trim().to_string();
    let url = method_url(&base, &cfg.bot_token, "sendPhoto");
    let url = &url;
    http::with_retries(
        LABEL,
        policy,
        policy.attempts,
        deadline,
        || {
            let form = photo_form(&chat_id, &caption, &png);
            async move {
                let form = form?;
                http::attempt(client.post(url).multipart(form), policy, deadline).await
            }
        },
        judge,
    )
    .await
    .map(|_| ())
    .map_err(|e| format!("{e} (the code message was sent; only the QR photo failed)"))
}

/// `sidekey notify test`'s message: one plain `sendMessage` (no parse mode, no photo).
pub(crate) async fn send_text(
    client: &reqwest::Client,
    cfg: &TelegramConfig,
    policy: &RetryPolicy,
    text: &str,
) -> Result<(), String> {
    let base = check_config(cfg)?;
    let deadline = http::deadline(policy);
    let body = json!({
        "chat_id": cfg.chat_id.trim(),
        "text": cut(text, 4000),
        "link_preview_options": { "is_disabled": true },
    });
    let url = method_url(&base, &cfg.bot_token, "sendMessage");
    http::with_retries(
        LABEL,
        policy,
        policy.attempts,
        deadline,
        || http::attempt(client.post(&url).json(&body), policy, deadline),
        judge,
    )
    .await
    .map(|_| ())
}

/// Validates what goes into the URL, so a malformed token or base can neither produce a
/// strange URL nor an error that quotes it.
fn check_config(cfg: &TelegramConfig) -> Result<String, String> {
    let token = cfg.bot_token.trim();
    if token.is_empty()
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b':' || b == b'_' || b == b'-')
    {
        return Err(format!(
            "{LABEL}: the bot token is malformed (expected the form 123456:ABC-…)"
        ));
    }
    if cfg.chat_id.trim().is_empty() {
        return Err(format!("{LABEL}: no chat id configured"));
    }
    let base = cfg.api_base.trim().trim_end_matches('/');
    match reqwest::Url::parse(base) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
        _ => return Err(format!("{LABEL}: api_base is not an http(s) URL")),
    }
    Ok(base.to_string())
}

fn method_url(base: &str, token: &str, method: &str) -> String {
    format!("{base}/bot{}/{method}", token.trim())
}

fn photo_form(
    chat_id: &str,
    caption: &str,
    png: &[u8],
) -> Result<reqwest::multipart::Form, String> {
    let part = reqwest::multipart::Part::bytes(png.to_vec())
        .file_name("sign-in-qr.png")
        .mime_str("image/png")
        .map_err(|_| "cannot build the photo upload".to_string())?;
    Ok(reqwest::multipart::Form::new()
        .text("chat_id", chat_id.to_string())
        .text("caption", caption.to_string())
        .text("parse_mode", "HTML")
        .text("protect_content", "true")
        // The code message already notified; the photo follows silently.
        .text("disable_notification", "true")
        .part("photo", part))
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    error_code: Option<i64>,
    #[serde(default)]
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    #[serde(default)]
    retry_after: Option<u64>,
}

/// A Bot API reply as the retry loop sees it: done, worth another try (429 after `retry_after`,
/// 5xx) or a failure in Telegram's words. The approval calls take only the retry decision from
/// it ([`crate::bot`]).
pub(crate) fn judge(reply: &Reply) -> Verdict {
    let env = serde_json::from_slice::<Envelope>(&reply.body).ok();
    let description = env
        .as_ref()
        .and_then(|e| e.description.as_deref())
        .map(|d| one_line(d, 200))
        .filter(|d| !d.is_empty());
    let code = env
        .as_ref()
        .and_then(|e| e.error_code)
        .and_then(|c| u16::try_from(c).ok());
    let status = reply.status;
    if (200..300).contains(&status) {
        return match env {
            Some(e) if e.ok => Verdict::Done,
            Some(_) => Verdict::Fail(
                description.unwrap_or_else(|| "the Bot API answered ok=false".to_string()),
            ),
            None => Verdict::Fail(format!(
                "unexpected reply ({}, not a Bot API response)",
                http::status_line(status)
            )),
        };
    }
    let why = description.unwrap_or_else(|| http::status_line(status));
    if status == 429 || code == Some(429) {
        let after = env
            .as_ref()
            .and_then(|e| e.parameters.as_ref())
            .and_then(|p| p.retry_after)
            .map(std::time::Duration::from_secs)
            .or(reply.retry_after);
        return Verdict::Retry { after, why };
    }
    if status >= 500 {
        // Gateways answer with HTML; say the status, and the description when there is one.
        let why = if why.starts_with("HTTP ") {
            why
        } else {
            format!("{} ({why})", http::status_line(status))
        };
        return Verdict::Retry { after: None, why };
    }
    Verdict::Fail(why)
}

// ---------------------------------------------------------------------------------------
// Message texts (Telegram HTML; every dynamic piece escaped after cutting)

fn e(s: &str, max: usize) -> String {
    escape(&one_line(s, max))
}

fn who(account: &str, provider: &str) -> String {
    format!(
        "<b>{}</b> ({})",
        e(account, MAX_NAME),
        e(provider, MAX_PROVIDER)
    )
}

fn scope_list(scopes: &[String]) -> String {
    let list: Vec<String> = scopes
        .iter()
        .map(|s| one_line(s, MAX_SCOPE))
        .filter(|s| !s.is_empty())
        .collect();
    if list.is_empty() {
        return "the provider's defaults".to_string();
    }
    escape(&cut(&list.join(", "), MAX_SCOPES))
}

/// The whole `sendMessage` text for an event, at `now`.
pub(crate) fn message(event: &Event, now: jiff::Timestamp) -> String {
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
            let mut t = format!("🔑 Sign-in request for {}\n\n", who(account, provider));
            if user_code.is_empty() {
                // `flow = "code"`: a link to approve; the final page may not load off-machine.
                t += &format!(
                    "1. Open {}\n2. Approve. If the last page (127.0.0.1) does not load, send its address back\n",
                    e(verification_uri, MAX_URL)
                );
            } else {
                t += &format!(
                    "1. Open {}\n2. Enter the code <code>{}</code>\n",
                    e(verification_uri, MAX_URL),
                    e(user_code, MAX_CODE)
                );
            }
            if let Some(c) = verification_uri_complete
                .as_deref()
                .filter(|c| !c.trim().is_empty() && c.trim() != verification_uri.trim())
            {
                t += &format!(
                    "Or open this link, the code is already filled in:\n{}\n",
                    e(c, MAX_URL)
                );
            }
            t += &format!(
                "\nAccess requested: {}\nExpires: {}\n\n",
                scope_list(scopes),
                escape(&expiry(expires_at, now))
            );
            t += "⚠️ Only enter this code if you asked the agent to sign in. \
                  Never share it with anyone.";
            t
        }
        Event::SignedIn {
            account,
            provider,
            user,
            scopes,
            warning,
            ..
        } => {
            let mut t = format!("✅ {}: signed in", who(account, provider));
            t += &signed_in_as(user);
            t += ".";
            if !scopes.is_empty() {
                t += &format!("\nAccess granted: {}", scope_list(scopes));
            }
            if let Some(w) = warning {
                t += &format!("\n⚠️ {}", escape(&one_line(w, 1000)));
            }
            t
        }
        Event::Failed {
            account,
            provider,
            reason,
            message,
        } => {
            let what = match reason.as_str() {
                "access_denied" | "denied" | "declined" => "sign-in was declined",
                // A device code or a sign-in link (`flow = "code"`): the words fit both.
                "expired_token" | "expired" => "the sign-in expired before it was finished",
                _ => "sign-in failed",
            };
            let mut t = format!("❌ {}: {what}", who(account, provider));
            let msg = one_line(message, MAX_MESSAGE);
            if !msg.is_empty() {
                t += &format!(": {}", escape(&msg));
            }
            let reason = one_line(reason, 60);
            if !reason.is_empty() {
                t += &format!(" ({})", escape(&reason));
            }
            t
        }
    }
}

fn signed_in_as(user: &User) -> String {
    let name = user.name.as_deref().map(|n| one_line(n, MAX_NAME));
    let email = user.email.as_deref().map(|m| one_line(m, MAX_NAME));
    match (
        name.filter(|n| !n.is_empty()),
        email.filter(|m| !m.is_empty()),
    ) {
        (Some(n), Some(m)) => format!(" as {} ({})", escape(&n), escape(&m)),
        (Some(n), None) => format!(" as {}", escape(&n)),
        (None, Some(m)) => format!(" as {}", escape(&m)),
        (None, None) => String::new(),
    }
}

/// Short caption of the QR photo (limit 1024 chars).
pub(crate) fn caption(event: &Event) -> String {
    match event {
        Event::Code {
            account,
            provider,
            user_code,
            ..
        } => format!(
            "Scan to open the sign-in page for {}. Code: <code>{}</code>",
            who(account, provider),
            e(user_code, MAX_CODE)
        ),
        _ => String::new(),
    }
}
