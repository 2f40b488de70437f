//! Delivers device-flow sign-in events to a person: Telegram (with a QR code), a webhook, ntfy,
//! or the terminal of the command that runs the sign-in — each a [`Channel`].
//!
//! # Why this crate exists
//!
//! The device authorization grant (RFC 8628) only works if the short user code reaches the
//! human who will type it in, on a device they trust. An agent's sidecar usually runs
//! headless (a container, a server), so "print it to the terminal" is not enough: the code
//! has to be *pushed* to where the person already is. This crate turns the three login
//! events ([`Event`]: a code to enter, signed in, failed) into messages for each configured
//! channel and sends them, concurrently and independently.
//!
//! # Design decisions
//!
//! * **Plain reqwest, no bot framework.** Telegram's Bot API is a handful of calls here
//!   (`sendMessage`, `sendPhoto`; the set-up's and the approvals' few more); teloxide/frankenstein would add a second reqwest, aws-lc or
//!   OpenSSL (see docs/dependencies.md, "Telegram: no bot framework"). The caller passes in its
//!   [`reqwest::Client`] (rustls with the ring provider and compiled-in roots), so this crate
//!   never builds TLS itself.
//! * **Events only send, never `getUpdates`.** One poller per bot: OpenClaw long-polls its bot,
//!   and a second poller makes both sides fail with HTTP 409. The chat id is configured — found
//!   once by `sidekey telegram setup` through [`bot`], on a bot of sidekey's own
//!   (docs/telegram.md, "One poller per bot"). Approvals ([`approval`]) do poll that bot, for
//!   button presses (docs/telegram.md, "Approvals: buttons and one poller").
//! * **Secrets never leave in text.** The bot token sits in the Bot API's URL path, so every
//!   transport error names only `scheme://host[:port]` ([`sidekey_net::describe_reqwest`]) and every
//!   error string is additionally scrubbed of each configured secret. `Debug` of the configs
//!   redacts them. The events themselves carry no token (only the short user code, which is
//!   the whole point of the message).
//! * **HTML, escaped everywhere.** Telegram's HTML parse mode is the only one with a small,
//!   well-defined escaping rule (`&`, `<`, `>`); Markdown's rules differ between versions and
//!   break on `_`/`*` in account names and scopes. Every dynamic piece goes through
//!   [`html::escape`] and is cut to a length that keeps the message under Telegram's limits.
//!   URLs are shown as text (Telegram links them itself): an `<a href>` or a URL button with a
//!   `127.0.0.1` URL (the demo) is refused by Telegram, plain text is not.
//! * **Bounded retries.** Telegram answers `429` with `parameters.retry_after`; it is honoured
//!   (each wait capped). 5xx and connection errors are retried with exponential backoff;
//!   4xx are not (they will not get better). Every channel has a total deadline, so a dead
//!   endpoint cannot hold up the login: see [`RetryPolicy`].
//! * **One channel never blocks another.** [`Channels::send`] runs all channels at once and
//!   reports one [`Delivery`] per channel.

use std::fmt;
use std::time::Duration;

pub mod approval;
pub mod bot;
mod http;
mod ntfy;
mod telegram;
mod terminal;
mod text;
mod webhook;

pub use terminal::Terminal;

pub mod html;
pub mod qr;

/// Telegram's public Bot API server.
pub const DEFAULT_TELEGRAM_API: &str = "https://api.telegram.org";
/// The public ntfy server.
pub const DEFAULT_NTFY_SERVER: &str = "https://ntfy.sh";

/// The login events. Serialises to exactly the JSON lines `sidekey login --json` prints and
/// webhooks receive (`{"event":"code",…}`, `{"event":"signed_in",…}`, `{"event":"failed",…}`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A user code is waiting to be entered.
    Code {
        account: String,
        provider: String,
        scopes: Vec<String>,
        user_code: String,
        verification_uri: String,
        verification_uri_complete: Option<String>,
        /// RFC 3339, UTC.
        expires_at: String,
        /// Polling interval in seconds.
        interval: u64,
    },
    SignedIn {
        account: String,
        provider: String,
        user: User,
        scopes: Vec<String>,
        expires_at: Option<String>,
        /// Something the person must know about this sign-in (the provider granted more than
        /// the account's ceiling), one line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        warning: Option<String>,
    },
    Failed {
        account: String,
        provider: String,
        /// Machine-readable: e.g. `access_denied`, `expired_token`, a provider error code.
        reason: String,
        /// Human-readable, one line.
        message: String,
    },
}

impl Event {
    /// The account name the event is about.
    pub fn account(&self) -> &str {
        match self {
            Event::Code { account, .. }
            | Event::SignedIn { account, .. }
            | Event::Failed { account, .. } => account,
        }
    }

    /// The event as every channel shows it: each piece of free text (names, scopes, the user a
    /// provider named, a failure's message, a warning) as one printable line
    /// ([`sidekey_net::one_line`]: no escape sequences, control characters, bidi overrides or
    /// zero-width characters). A provider, the agent or a pasted redirect may have chosen them;
    /// the webhook's JSON carries them cleaned too, as a receiver may well show them. Links and
    /// the user code are already checked where they are received.
    pub fn for_person(&self) -> Event {
        let line = |s: &String| sidekey_net::one_line(s, usize::MAX);
        let lines = |v: &Vec<String>| v.iter().map(line).collect();
        match self {
            Event::Code {
                account,
                provider,
                scopes,
                user_code,
                verification_uri,
                verification_uri_complete,
                expires_at,
                interval,
            } => Event::Code {
                account: line(account),
                provider: line(provider),
                scopes: lines(scopes),
                user_code: user_code.clone(),
                verification_uri: verification_uri.clone(),
                verification_uri_complete: verification_uri_complete.clone(),
                expires_at: line(expires_at),
                interval: *interval,
            },
            Event::SignedIn {
                account,
                provider,
                user,
                scopes,
                expires_at,
                warning,
            } => Event::SignedIn {
                account: line(account),
                provider: line(provider),
                user: User {
                    name: user.name.as_ref().map(line),
                    email: user.email.as_ref().map(line),
                },
                scopes: lines(scopes),
                expires_at: expires_at.as_ref().map(line),
                warning: warning.as_ref().map(line),
            },
            Event::Failed {
                account,
                provider,
                reason,
                message,
            } => Event::Failed {
                account: line(account),
                provider: line(provider),
                reason: line(reason),
                message: line(message),
            },
        }
    }

    /// The provider name the event is about.
    pub fn provider(&self) -> &str {
        match self {
            Event::Code { provider, .. }
            | Event::SignedIn { provider, .. }
            | Event::Failed { provider, .. } => provider,
        }
    }
}

/// The Telegram `sendMessage` text (HTML parse mode) for `event` at `now`, exactly as sent: every
/// dynamic piece is cut and escaped, and the text stays within Telegram's 4096-character limit.
/// Public for previews and the fuzz targets (`fuzz/`).
pub fn telegram_message(event: &Event, now: jiff::Timestamp) -> String {
    telegram::message(event, now)
}

/// The caption of the QR photo sent after a code message (HTML parse mode, at most 1024
/// characters); empty for events that have no QR code.
pub fn telegram_caption(event: &Event) -> String {
    telegram::caption(event)
}

/// Who signed in, as far as the provider said.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct User {
    pub name: Option<String>,
    pub email: Option<String>,
}

/// A Telegram bot that sends to one chat. Only the set-up ([`bot`]) and approvals ([`approval`])
/// read its updates, and only on a bot of sidekey's own.
#[derive(Clone)]
pub struct TelegramConfig {
    /// Secret: never printed.
    pub bot_token: String,
    /// Numeric chat/user id (e.g. `123456789`, groups `-100…`) or `@channelname`.
    pub chat_id: String,
    /// Default [`DEFAULT_TELEGRAM_API`]; tests point it at a fake.
    pub api_base: String,
}

impl TelegramConfig {
    pub fn new(bot_token: impl Into<String>, chat_id: impl Into<String>) -> TelegramConfig {
        TelegramConfig {
            bot_token: bot_token.into(),
            chat_id: chat_id.into(),
            api_base: DEFAULT_TELEGRAM_API.to_string(),
        }
    }
}

impl fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("bot_token", &"[redacted]")
            .field("chat_id", &self.chat_id)
            .field("api_base", &text::origin(&self.api_base))
            .finish()
    }
}

/// An HTTP endpoint that receives each [`Event`] as JSON.
#[derive(Clone)]
pub struct WebhookConfig {
    pub url: String,
    /// Secret: sent as `Authorization: Bearer …`, never printed.
    pub bearer: Option<String>,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Webhook URLs often embed a secret in the path or query (Slack, Discord, …): show
        // only the origin.
        f.debug_struct("WebhookConfig")
            .field("url", &text::origin(&self.url))
            .field("bearer", &self.bearer.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// An ntfy topic (<https://docs.ntfy.sh/publish/>).
#[derive(Clone)]
pub struct NtfyConfig {
    /// Default [`DEFAULT_NTFY_SERVER`].
    pub server: String,
    /// The topic name; on a public server it acts as a password.
    pub topic: String,
    /// Secret: access token, sent as `Authorization: Bearer …`, never printed.
    pub token: Option<String>,
}

impl NtfyConfig {
    pub fn new(topic: impl Into<String>) -> NtfyConfig {
        NtfyConfig {
            server: DEFAULT_NTFY_SERVER.to_string(),
            topic: topic.into(),
            token: None,
        }
    }
}

impl fmt::Debug for NtfyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // On a public server the topic name is the only thing guarding the messages.
        f.debug_struct("NtfyConfig")
            .field("server", &text::origin(&self.server))
            .field("topic", &"[redacted]")
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Timeouts and retry bounds shared by all channels. The defaults suit real services; tests
/// shrink the backoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Timeout of each HTTP request (connect + response). Default 15 s.
    pub request_timeout: Duration,
    /// Attempts per HTTP call, the first included. Default 4 (webhook/ntfy use at most 3).
    pub attempts: u32,
    /// First backoff after a 5xx or a connection error; doubles each time. Default 1 s.
    pub backoff: Duration,
    /// Cap on any single wait, including a server's `retry_after`. Default 30 s.
    pub max_wait: Duration,
    /// Deadline for one channel's whole delivery (all calls and waits). Default 60 s.
    pub total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            request_timeout: Duration::from_secs(15),
            attempts: 4,
            backoff: Duration::from_secs(1),
            max_wait: Duration::from_secs(30),
            total: Duration::from_secs(60),
        }
    }
}

/// The outcome for one channel.
#[derive(Debug)]
pub struct Delivery {
    /// `"telegram"`, `"webhook"`, `"ntfy"` or `"terminal"`.
    pub channel: &'static str,
    /// `Err`: one line, no secrets, starting with the channel (`Telegram: Unauthorized`).
    pub result: Result<(), String>,
}

/// One place a sign-in event can go.
#[derive(Clone, Debug)]
pub enum Channel {
    Telegram(TelegramConfig),
    Webhook(WebhookConfig),
    Ntfy(NtfyConfig),
    /// The terminal of the process running the command (stdout): sentences, or JSON lines.
    Terminal(Terminal),
}

impl Channel {
    /// `"telegram"`, `"webhook"`, `"ntfy"` or `"terminal"`.
    pub fn name(&self) -> &'static str {
        match self {
            Channel::Telegram(_) => telegram::NAME,
            Channel::Webhook(_) => webhook::NAME,
            Channel::Ntfy(_) => ntfy::NAME,
            Channel::Terminal(_) => "terminal",
        }
    }
}

/// The configured channels and the HTTP client they share.
#[derive(Clone)]
pub struct Channels {
    /// `None` only for channel sets without an HTTP channel ([`Channels::terminal`]).
    client: Option<reqwest::Client>,
    list: Vec<Channel>,
    policy: RetryPolicy,
}

impl fmt::Debug for Channels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channels")
            .field("list", &self.list)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Channels {
    /// `client` is the caller's (rustls with the ring provider preconfigured); every request
    /// sets its own timeout ([`RetryPolicy::request_timeout`]).
    pub fn new(
        client: reqwest::Client,
        telegram: Option<TelegramConfig>,
        webhook: Option<WebhookConfig>,
        ntfy: Option<NtfyConfig>,
    ) -> Channels {
        let list = telegram
            .map(Channel::Telegram)
            .into_iter()
            .chain(webhook.map(Channel::Webhook))
            .chain(ntfy.map(Channel::Ntfy))
            .collect();
        Channels {
            client: Some(client),
            list,
            policy: RetryPolicy::default(),
        }
    }

    /// Just the terminal: no network, no HTTP client.
    pub fn terminal(t: Terminal) -> Channels {
        Channels {
            client: None,
            list: vec![Channel::Terminal(t)],
            policy: RetryPolicy::default(),
        }
    }

    /// Replaces the default [`RetryPolicy`].
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Channels {
        self.policy = policy;
        self
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The configured channels, in delivery-report order.
    pub fn names(&self) -> Vec<&'static str> {
        self.list.iter().map(Channel::name).collect()
    }

    /// Sends `event` ([`Event::for_person`]) to every configured channel concurrently. One channel's failure never
    /// stops another; each network channel is cut off after [`RetryPolicy::total`] (plus one
    /// request timeout of slack). Returns one [`Delivery`] per channel, in [`names`] order.
    ///
    /// [`names`]: Channels::names
    pub async fn send(&self, event: &Event) -> Vec<Delivery> {
        let event = &event.for_person();
        futures_util::future::join_all(self.list.iter().map(|c| self.deliver(c, event))).await
    }

    /// Sends `text` (one line, plain) as a test message through every configured channel, the
    /// way [`Channels::send`] sends events (same retries, deadline and scrubbing): Telegram a
    /// plain `sendMessage`, the webhook `{"event":"test","message":…}`, ntfy a note titled
    /// "sidekey test". For `sidekey notify test`.
    pub async fn send_test(&self, text: &str) -> Vec<Delivery> {
        let text = &text::one_line(text, 1000);
        futures_util::future::join_all(self.list.iter().map(|c| async move {
            let name = c.name();
            match (c, &self.client) {
                (Channel::Terminal(_), _) => Delivery {
                    channel: name,
                    result: {
                        use std::io::Write;
                        writeln!(std::io::stdout().lock(), "{text}")
                            .map_err(|e| format!("terminal: {e}"))
                    },
                },
                (_, None) => Delivery {
                    channel: name,
                    result: Err(format!("{name}: no HTTP client")),
                },
                (Channel::Telegram(cfg), Some(client)) => {
                    self.bounded(
                        name,
                        "Telegram",
                        telegram::send_text(client, cfg, &self.policy, text),
                        &[&cfg.bot_token],
                    )
                    .await
                }
                (Channel::Webhook(cfg), Some(client)) => {
                    let secrets: Vec<&str> = cfg.bearer.as_deref().into_iter().collect();
                    let body = serde_json::json!({ "event": "test", "message": text });
                    self.bounded(
                        name,
                        "webhook",
                        webhook::send_json(client, cfg, &self.policy, &body),
                        &secrets,
                    )
                    .await
                }
                (Channel::Ntfy(cfg), Some(client)) => {
                    let secrets: Vec<&str> = cfg.token.as_deref().into_iter().collect();
                    self.bounded(
                        name,
                        "ntfy",
                        ntfy::send_test(client, cfg, &self.policy, text),
                        &secrets,
                    )
                    .await
                }
            }
        }))
        .await
    }

    async fn deliver(&self, channel: &Channel, event: &Event) -> Delivery {
        let name = channel.name();
        let no_client = || Delivery {
            channel: name,
            result: Err(format!("{name}: no HTTP client")),
        };
        match (channel, &self.client) {
            (Channel::Terminal(t), _) => {
                let now = jiff::Timestamp::now().as_second();
                let result = t
                    .show(event, now, &mut std::io::stdout().lock())
                    .map_err(|e| format!("terminal: {e}"));
                Delivery {
                    channel: name,
                    result,
                }
            }
            (_, None) => no_client(),
            (Channel::Telegram(cfg), Some(client)) => {
                self.bounded(
                    name,
                    "Telegram",
                    telegram::send(client, cfg, &self.policy, event),
                    &[&cfg.bot_token],
                )
                .await
            }
            (Channel::Webhook(cfg), Some(client)) => {
                let secrets: Vec<&str> = cfg.bearer.as_deref().into_iter().collect();
                self.bounded(
                    name,
                    "webhook",
                    webhook::send(client, cfg, &self.policy, event),
                    &secrets,
                )
                .await
            }
            (Channel::Ntfy(cfg), Some(client)) => {
                let secrets: Vec<&str> = cfg.token.as_deref().into_iter().collect();
                self.bounded(
                    name,
                    "ntfy",
                    ntfy::send(client, cfg, &self.policy, event),
                    &secrets,
                )
                .await
            }
        }
    }

    async fn bounded(
        &self,
        channel: &'static str,
        label: &str,
        fut: impl Future<Output = Result<(), String>>,
        secrets: &[&str],
    ) -> Delivery {
        let limit = self
            .policy
            .total
            .saturating_add(self.policy.request_timeout);
        let result = match tokio::time::timeout(limit, fut).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "{label}: gave up after {} s",
                limit.as_secs_f64().round()
            )),
        };
        Delivery {
            channel,
            result: result.map_err(|e| text::scrub(&text::one_line(&e, 400), secrets)),
        }
    }
}
