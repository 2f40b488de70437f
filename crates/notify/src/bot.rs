//! The Bot API calls of `sidekey telegram setup` and `sidekey doctor`: who the bot is (`getMe`),
//! what people sent it (`getUpdates`, long polling), whether a chat is known to it (`getChat`).
//!
//! `getUpdates` is exclusive per bot token: while another process long-polls the bot (OpenClaw's
//! Telegram channel does, by default) Telegram answers 409 `Conflict: terminated by other
//! getUpdates request`, and each poll takes the other's updates away. So only the set-up polls,
//! only for a few minutes, and only on a bot of sidekey's own; the sign-in messages never poll
//! (docs/telegram.md, "One poller per bot").
//!
//! Replies use Telegram's envelope `{ok, result, description, error_code}`. These calls are not
//! retried: the person is at the terminal and sees the answer. (The approval calls in
//! [`crate::approval`] that change the chat are, like the sign-in messages.) The token sits in
//! the URL path, so an error names at most the API's origin, and every message is scrubbed of
//! the token besides.

use crate::http::{self, Reply, Verdict};
use crate::text::{one_line, scrub};
use crate::{RetryPolicy, TelegramConfig, telegram};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::fmt;
use std::time::Duration;

/// Who the bot is (`getMe`'s `User`).
#[derive(Debug, Clone, Deserialize)]
pub struct BotUser {
    pub id: i64,
    #[serde(default)]
    pub first_name: String,
    /// Every bot has one: `t.me/<username>` opens a chat with it.
    #[serde(default)]
    pub username: Option<String>,
}

/// One incoming update; only messages matter here.
#[derive(Debug, Clone, Deserialize)]
pub struct Update {
    pub update_id: i64,
    #[serde(default)]
    pub message: Option<Message>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub chat: Chat,
    #[serde(default)]
    pub text: Option<String>,
}

/// A chat: for a person writing to the bot, `type` is `private` and `id` is their user id.
#[derive(Debug, Clone, Deserialize)]
pub struct Chat {
    pub id: i64,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
}

impl Chat {
    /// How the person would recognise the chat: "Ada (@ada)", a group's title, or its id.
    pub fn describe(&self) -> String {
        let name = self
            .first_name
            .as_deref()
            .or(self.title.as_deref())
            .map(|n| one_line(n, 60));
        match (name, self.username.as_deref().map(|u| one_line(u, 40))) {
            (Some(n), Some(u)) => format!("{n} (@{u})"),
            (Some(n), None) => n,
            (None, Some(u)) => format!("@{u}"),
            (None, None) => format!("chat {}", self.id),
        }
    }
}

/// How a Bot API call failed. Never holds the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BotError {
    /// 401: no bot has this token (mistyped, or revoked in @BotFather).
    Unauthorized,
    /// 409: another process polls this bot, or a webhook is set on it.
    Conflict(String),
    /// Any other refusal (400 `chat not found`, 403 `bot was blocked by the user`, …), in
    /// Telegram's words.
    Refused { status: u16, description: String },
    /// The API could not be reached, or did not answer as the Bot API does.
    Unreachable(String),
}

impl fmt::Display for BotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BotError::Unauthorized => f.write_str("Telegram: Unauthorized (no bot has this token)"),
            BotError::Conflict(d) | BotError::Refused { description: d, .. } => {
                write!(f, "Telegram: {d}")
            }
            BotError::Unreachable(d) => write!(f, "Telegram: {d}"),
        }
    }
}

/// One bot, reached at `api_base` (default `https://api.telegram.org`).
pub struct Bot<'a> {
    client: &'a reqwest::Client,
    pub(crate) cfg: &'a TelegramConfig,
    /// For the calls that are retried ([`Bot::with_retry_policy`]).
    policy: RetryPolicy,
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    description: Option<String>,
}

impl<'a> Bot<'a> {
    /// `cfg.chat_id` may be empty (the set-up does not know it yet).
    pub fn new(client: &'a reqwest::Client, cfg: &'a TelegramConfig) -> Bot<'a> {
        Bot {
            client,
            cfg,
            policy: RetryPolicy::default(),
        }
    }

    /// Replaces the default [`RetryPolicy`] of the calls that are retried (sending and editing
    /// an approval message, [`crate::approval`]): 429 waits `retry_after`, 5xx and transport
    /// errors back off, exactly as the sign-in messages do.
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Bot<'a> {
        self.policy = policy;
        self
    }

    /// `getMe`: whether the token is a bot's, and which.
    pub async fn get_me(&self) -> Result<BotUser, BotError> {
        self.call("getMe", json!({}), Duration::from_secs(15)).await
    }

    /// `getChat`: whether the bot knows `chat_id` (a person must have sent it a message first;
    /// before that Telegram answers `Bad Request: chat not found`). Sends nothing to the chat.
    pub async fn get_chat(&self, chat_id: &str) -> Result<Chat, BotError> {
        self.call(
            "getChat",
            json!({ "chat_id": chat_id.trim() }),
            Duration::from_secs(15),
        )
        .await
    }

    /// `getUpdates` from `offset` (confirming every update below it), waiting up to `wait`
    /// (whole seconds, long polling) for a message.
    pub async fn get_updates(&self, offset: i64, wait: Duration) -> Result<Vec<Update>, BotError> {
        let secs = wait.as_secs().min(50);
        self.call(
            "getUpdates",
            // Both kinds, always: Telegram keeps this setting for the bot, and a poll asking
            // for messages only would make it drop approval presses until the next poll that
            // asks for them (docs/telegram.md, "Approvals: buttons and one poller").
            json!({ "offset": offset, "timeout": secs, "allowed_updates": ["message", "callback_query"] }),
            Duration::from_secs(secs + 15),
        )
        .await
    }

    /// One attempt at `method`, given `timeout` in all (a long poll's wait included).
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        body: Value,
        timeout: Duration,
    ) -> Result<T, BotError> {
        let base = check(self.cfg)?;
        let url = format!("{base}/bot{}/{method}", self.cfg.bot_token.trim());
        let policy = RetryPolicy {
            request_timeout: timeout,
            total: timeout,
            ..RetryPolicy::default()
        };
        let deadline = http::deadline(&policy);
        let reply = http::attempt(self.client.post(&url).json(&body), &policy, deadline)
            .await
            .map_err(|e| self.scrubbed(BotError::Unreachable(one_line(&e, 300))))?;
        judge(&reply).map_err(|e| self.scrubbed(e))
    }

    /// `method` under the bot's [`RetryPolicy`]: retried when the sign-in messages would be
    /// (429 after `retry_after`, 5xx and transport errors with backoff), then judged as any
    /// Bot API answer. Giving up is [`BotError::Unreachable`], saying how often it was tried.
    pub(crate) async fn call_retrying<T: DeserializeOwned>(
        &self,
        method: &str,
        body: Value,
    ) -> Result<T, BotError> {
        let base = check(self.cfg)?;
        let url = format!("{base}/bot{}/{method}", self.cfg.bot_token.trim());
        let policy = &self.policy;
        let deadline = http::deadline(policy);
        let reply = http::with_retries(
            "Telegram",
            policy,
            policy.attempts,
            deadline,
            || http::attempt(self.client.post(&url).json(&body), policy, deadline),
            // Only whether to try again comes from the sign-in messages' judgement; what a final
            // answer means (401, 409, a refusal) is this module's.
            |reply| match telegram::judge(reply) {
                retry @ Verdict::Retry { .. } => retry,
                _ => Verdict::Done,
            },
        )
        .await
        .map_err(|e| {
            let e = e.strip_prefix("Telegram: ").unwrap_or(&e);
            self.scrubbed(BotError::Unreachable(one_line(e, 300)))
        })?;
        judge(&reply).map_err(|e| self.scrubbed(e))
    }

    /// `e` with the bot token removed from its text (a second line of defence: no error is
    /// built from the URL in the first place).
    fn scrubbed(&self, e: BotError) -> BotError {
        let secret = [self.cfg.bot_token.as_str()];
        match e {
            BotError::Unreachable(d) => BotError::Unreachable(scrub(&d, &secret)),
            BotError::Refused {
                status,
                description,
            } => BotError::Refused {
                status,
                description: scrub(&description, &secret),
            },
            BotError::Conflict(d) => BotError::Conflict(scrub(&d, &secret)),
            BotError::Unauthorized => BotError::Unauthorized,
        }
    }
}

fn judge<T: DeserializeOwned>(reply: &Reply) -> Result<T, BotError> {
    let env = serde_json::from_slice::<Envelope>(&reply.body).ok();
    let description = env
        .as_ref()
        .and_then(|e| e.description.as_deref())
        .map(|d| one_line(d, 200))
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| http::status_line(reply.status));
    match (reply.status, env) {
        (
            200..=299,
            Some(Envelope {
                ok: true, result, ..
            }),
        ) => serde_json::from_value(result.unwrap_or(Value::Null)).map_err(|_| {
            BotError::Unreachable("the Bot API answered in an unexpected form".into())
        }),
        (401, _) => Err(BotError::Unauthorized),
        (409, _) => Err(BotError::Conflict(description)),
        (s @ 400..=499, Some(_)) => Err(BotError::Refused {
            status: s,
            description,
        }),
        (s, _) => Err(BotError::Unreachable(format!(
            "{description} ({}, not a Bot API answer)",
            http::status_line(s)
        ))),
    }
}

/// The same checks as the sender's: a token of the Bot API's alphabet, an http(s) base.
fn check(cfg: &TelegramConfig) -> Result<String, BotError> {
    let token = cfg.bot_token.trim();
    let shape = token.split_once(':').is_some_and(|(id, rest)| {
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !rest.is_empty()
    });
    if !shape
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b':' || b == b'_' || b == b'-')
    {
        return Err(BotError::Refused {
            status: 0,
            description: "the bot token is malformed (@BotFather's tokens look like 123456789:AA…)"
                .into(),
        });
    }
    let base = cfg.api_base.trim().trim_end_matches('/');
    match reqwest::Url::parse(base) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok(base.to_string())
        }
        _ => Err(BotError::Refused {
            status: 0,
            description: "api_base is not an http(s) URL".into(),
        }),
    }
}
