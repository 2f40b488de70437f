//! `[notify.*]`: where login codes and outcomes are sent besides stdout (Telegram, a webhook,
//! ntfy), with their secrets read at load time. Telegram also switches on from the environment.

use super::input::{Located, MISSING_FILE_HINT, inline_or_file, read_secret};
use serde::Deserialize;
use sidekey_flow::Secret;
use sidekey_flow::provider::endpoint_url;
use std::path::Path;
use toml::Spanned;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    telegram: Option<RawTelegram>,
    webhook: Option<RawWebhook>,
    ntfy: Option<RawNtfy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTelegram {
    enabled: Option<bool>,
    bot_token: Option<String>,
    bot_token_file: Option<String>,
    chat_id: Option<toml::Value>,
    api_base: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    url: Spanned<String>,
    bearer_token_file: Option<String>,
    bearer_token_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNtfy {
    server: Option<Spanned<String>>,
    topic: Spanned<String>,
    token_file: Option<String>,
}

/// Where login codes and outcomes are sent besides stdout. Secrets are read at load time.
#[derive(Debug, Default)]
pub struct Notify {
    pub telegram: Option<Telegram>,
    pub webhook: Option<Webhook>,
    pub ntfy: Option<Ntfy>,
}

#[derive(Debug)]
pub struct Telegram {
    pub bot_token: Secret,
    pub chat_id: String,
    pub api_base: String,
}

#[derive(Debug)]
pub struct Webhook {
    pub url: String,
    pub bearer: Option<Secret>,
}

#[derive(Debug)]
pub struct Ntfy {
    pub server: String,
    pub topic: String,
    pub token: Option<Secret>,
}

/// `[notify.*]`. Telegram also switches on with `TELEGRAM_BOT_TOKEN` + `TELEGRAM_CHAT_ID` in the
/// environment (as in the seed), unless `[notify.telegram] enabled = false`.
pub(super) fn notify(raw: RawNotify, base: &Path) -> Result<Notify, Located> {
    let mut out = Notify::default();
    let tg_section = raw.telegram.is_some();
    let tg = raw.telegram.unwrap_or(RawTelegram {
        enabled: None,
        bot_token: None,
        bot_token_file: None,
        chat_id: None,
        api_base: None,
    });
    if tg.enabled != Some(false) {
        let token = match inline_or_file(
            &tg.bot_token,
            &tg.bot_token_file,
            base,
            "[notify.telegram] bot_token",
            "[notify.telegram] bot_token_file",
        )
        .map_err(|(span, m)| {
            if !m.starts_with("cannot read") {
                return (span, m);
            }
            (
                span,
                format!(
                    "{}: run `sidekey telegram setup` (it writes the token file and records your chat), or remove the [notify.telegram] section",
                    m.trim_end_matches(MISSING_FILE_HINT)
                ),
            )
        })? {
            Some(t) => Some(t),
            None => crate::env::text(crate::env::TELEGRAM_BOT_TOKEN).map(Secret::new),
        };
        let chat = match &tg.chat_id {
            Some(toml::Value::String(s)) => Some(s.trim().to_string()),
            Some(toml::Value::Integer(i)) => Some(i.to_string()),
            Some(_) => {
                return Err((
                    None,
                    "[notify.telegram] chat_id must be a number or a string".into(),
                ));
            }
            None => crate::env::text(crate::env::TELEGRAM_CHAT_ID),
        };
        match (token, chat) {
            (Some(bot_token), Some(chat_id)) if !chat_id.is_empty() => {
                let api_base = match &tg.api_base {
                    Some(a) => endpoint_url(a.get_ref())
                        .map_err(|e| (Some(a.span()), e))?
                        .to_string()
                        .trim_end_matches('/')
                        .to_string(),
                    None => "https://api.telegram.org".into(),
                };
                out.telegram = Some(Telegram {
                    bot_token,
                    chat_id,
                    api_base,
                });
            }
            (None, _) if tg_section => {
                return Err((None, "[notify.telegram] needs a bot token: run `sidekey telegram setup`, or set bot_token_file (or TELEGRAM_BOT_TOKEN in the environment)".into()));
            }
            (_, None) if tg_section => {
                return Err((
                    None,
                    "[notify.telegram] needs chat_id: run `sidekey telegram setup` (it records your chat), or set chat_id (or TELEGRAM_CHAT_ID in the environment)"
                        .into(),
                ));
            }
            _ => {}
        }
    }
    if let Some(w) = raw.webhook {
        let url = endpoint_url(w.url.get_ref()).map_err(|e| (Some(w.url.span()), e))?;
        let bearer = match (&w.bearer_token_file, &w.bearer_token_env) {
            (Some(_), Some(_)) => {
                return Err((
                    None,
                    "[notify.webhook]: set bearer_token_file or bearer_token_env, not both".into(),
                ));
            }
            (Some(f), None) => Some(read_secret(base, f, "[notify.webhook] bearer_token_file")?),
            (None, Some(var)) => Some(Secret::new(crate::env::text(var).ok_or_else(|| {
                (
                    None,
                    format!("[notify.webhook] bearer_token_env: {var} is not set"),
                )
            })?)),
            (None, None) => None,
        };
        out.webhook = Some(Webhook {
            url: url.to_string(),
            bearer,
        });
    }
    if let Some(n) = raw.ntfy {
        let server = match &n.server {
            Some(s) => endpoint_url(s.get_ref())
                .map_err(|e| (Some(s.span()), e))?
                .to_string(),
            None => "https://ntfy.sh".into(),
        };
        let topic = n.topic.get_ref().trim().to_string();
        if topic.is_empty()
            || !topic
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err((
                Some(n.topic.span()),
                "[notify.ntfy] topic must be letters, digits, - and _".into(),
            ));
        }
        let token = n
            .token_file
            .as_deref()
            .map(|f| read_secret(base, f, "[notify.ntfy] token_file"))
            .transpose()?;
        out.ntfy = Some(Ntfy {
            server: server.trim_end_matches('/').to_string(),
            topic,
            token,
        });
    }
    Ok(out)
}
