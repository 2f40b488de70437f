//! The Bot API calls of an approval: a message with buttons (`sendMessage` with an inline
//! keyboard), the presses read by long polling (`getUpdates`), the answer each press needs
//! (`answerCallbackQuery`) and the message edited to show the outcome (`editMessageText`).
//!
//! Only the transport is here; which request a press decides, who may decide it and who polls
//! when belong to the caller. Telegram's rules it follows (docs/telegram.md, "Approvals: buttons
//! and one poller"):
//!
//! * `callback_data` is 1–64 bytes and a button needs a label: both are refused here, before
//!   any request, rather than by Telegram's `BUTTON_DATA_INVALID`. The data is all a press
//!   carries back, so it should be a short random reference, never the request itself.
//! * `getUpdates` is exclusive per bot token: only sidekey's own bot is polled, one poller at a
//!   time; a second one, or a webhook on the bot, is [`BotError::Conflict`] (409). Presses come
//!   only if `allowed_updates` lists `callback_query` *before* they happen: Telegram drops the
//!   update kinds a bot did not ask for, so poll once before sending the message.
//! * Every press is answered ([`Bot::answer_press`]), or the person's app shows a spinner;
//!   the answer is accepted only within seconds of the press, once.
//! * [`Bot::edit_text`] replaces the message and removes its buttons, so no one can press them
//!   again; an edit that changes nothing is not an error.
//!
//! Sending and editing are retried as the sign-in messages are ([`Bot::with_retry_policy`]);
//! polling and answering are not (a poll is repeated by its caller anyway, and an answer is
//! useless once the query has expired). No error holds the bot token.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::bot::{Bot, BotError};
use crate::text::one_line;

/// Telegram's limit on a button's `callback_data`, in bytes.
pub const MAX_CALLBACK_DATA: usize = 64;
/// Telegram's limit on the text of a press's answer, in characters.
pub const MAX_ANSWER_TEXT: usize = 200;
/// The longest long poll asked for, in seconds.
const MAX_WAIT_SECS: u64 = 50;

/// One callback button: what it says, and what a press on it sends back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Button {
    /// The label shown on the button (plain text, not HTML).
    pub label: String,
    /// The `callback_data` a press returns: 1–64 bytes.
    pub data: String,
}

impl Button {
    pub fn new(label: impl Into<String>, data: impl Into<String>) -> Button {
        Button {
            label: label.into(),
            data: data.into(),
        }
    }
}

/// Where a message with buttons landed: what [`Bot::edit_text`] needs, and what a press on it
/// names ([`Press::chat_id`], [`Press::message_id`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Posted {
    pub chat_id: i64,
    pub message_id: i64,
}

/// The Telegram user who pressed a button. The names are the person's own choice: cleaned to
/// one printable line here, still to be escaped wherever they are shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presser {
    /// The user id: the identity to check against the people allowed to decide.
    pub id: i64,
    /// `@username`, without the `@`, when the person has one.
    pub username: Option<String>,
    pub first_name: String,
}

/// A button press (a `callback_query` update).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Press {
    pub update_id: i64,
    /// For [`Bot::answer_press`].
    pub callback_query_id: String,
    pub from: Presser,
    /// The chat and message of the button; absent when Telegram no longer has the message.
    pub chat_id: Option<i64>,
    pub message_id: Option<i64>,
    /// The button's `callback_data`, as received. Telegram warns that a client can send any
    /// data here: look it up, never trust it.
    pub data: String,
}

/// One update from [`Bot::poll_presses`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    Press(Press),
    /// Anything else (a message, a callback without data): only its id, so the next poll's
    /// offset moves past it.
    Other {
        update_id: i64,
    },
}

impl Incoming {
    pub fn update_id(&self) -> i64 {
        match self {
            Incoming::Press(p) => p.update_id,
            Incoming::Other { update_id } => *update_id,
        }
    }
}

#[derive(Deserialize)]
struct SentReply {
    message_id: i64,
    chat: SentChat,
}

#[derive(Deserialize)]
struct SentChat {
    id: i64,
}

fn refused(description: impl Into<String>) -> BotError {
    BotError::Refused {
        status: 0,
        description: description.into(),
    }
}

/// The keyboard as Telegram's `InlineKeyboardMarkup`, or why Telegram would refuse it.
fn keyboard(rows: &[Vec<Button>]) -> Result<Value, BotError> {
    if rows.is_empty() || rows.iter().any(Vec::is_empty) {
        return Err(refused(
            "an approval message needs buttons, in rows of at least one",
        ));
    }
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut buttons = Vec::with_capacity(row.len());
        for b in row {
            if b.label.trim().is_empty() {
                return Err(refused("a button needs a label"));
            }
            if b.data.is_empty() || b.data.len() > MAX_CALLBACK_DATA {
                return Err(refused(format!(
                    "a button's callback data must be 1 to {MAX_CALLBACK_DATA} bytes, not {}",
                    b.data.len()
                )));
            }
            buttons.push(json!({ "text": b.label, "callback_data": b.data }));
        }
        out.push(Value::Array(buttons));
    }
    Ok(json!({ "inline_keyboard": out }))
}

/// A `callback_query` update with data as a [`Press`], anything else as [`Incoming::Other`];
/// `None` for an update without an id (not a Bot API answer).
fn incoming(update: &Value) -> Option<Incoming> {
    let update_id = update["update_id"].as_i64()?;
    let q = &update["callback_query"];
    let press = || -> Option<Press> {
        let from = &q["from"];
        Some(Press {
            update_id,
            callback_query_id: q["id"].as_str()?.to_string(),
            from: Presser {
                id: from["id"].as_i64()?,
                username: from["username"].as_str().map(|u| one_line(u, 64)),
                first_name: one_line(from["first_name"].as_str().unwrap_or(""), 64),
            },
            chat_id: q["message"]["chat"]["id"].as_i64(),
            message_id: q["message"]["message_id"].as_i64(),
            data: q["data"].as_str()?.to_string(),
        })
    };
    Some(match press() {
        Some(p) => Incoming::Press(p),
        None => Incoming::Other { update_id },
    })
}

impl Bot<'_> {
    /// Sends `html` (Telegram's HTML parse mode, every dynamic piece escaped by the caller) to
    /// the configured chat with `rows` of buttons under it. Refuses locally, before any request,
    /// an empty keyboard or row, a button without a label and callback data outside 1–64 bytes.
    pub async fn send_with_buttons(
        &self,
        html: &str,
        rows: &[Vec<Button>],
    ) -> Result<Posted, BotError> {
        let chat_id = self.cfg.chat_id.trim();
        if chat_id.is_empty() {
            return Err(refused("no chat id configured"));
        }
        if html.trim().is_empty() {
            return Err(refused("the approval message is empty"));
        }
        let body = json!({
            "chat_id": chat_id,
            "text": html,
            "parse_mode": "HTML",
            "link_preview_options": { "is_disabled": true },
            "protect_content": true,
            "reply_markup": keyboard(rows)?,
        });
        let sent: SentReply = self.call_retrying("sendMessage", body).await?;
        Ok(Posted {
            chat_id: sent.chat.id,
            message_id: sent.message_id,
        })
    }

    /// `getUpdates` from `offset` (confirming every update below it), waiting up to `wait`
    /// (whole seconds, at most 50) for a press; asks for presses and messages only. Returns
    /// every update, in order: the next offset is the last `update_id` + 1. 409 (another
    /// poller, or a webhook on the bot) is [`BotError::Conflict`], 401 [`BotError::Unauthorized`].
    pub async fn poll_presses(
        &self,
        offset: i64,
        wait: Duration,
    ) -> Result<Vec<Incoming>, BotError> {
        let secs = wait.as_secs().min(MAX_WAIT_SECS);
        let updates: Vec<Value> = self
            .call(
                "getUpdates",
                json!({
                    "offset": offset,
                    "timeout": secs,
                    "allowed_updates": ["callback_query", "message"],
                }),
                Duration::from_secs(secs + 15),
            )
            .await?;
        updates
            .iter()
            .map(incoming)
            .collect::<Option<_>>()
            .ok_or_else(|| {
                BotError::Unreachable("the Bot API answered with an update without an id".into())
            })
    }

    /// `answerCallbackQuery`: stops the spinner on the person's button and shows `text` (one
    /// line, cut to 200 characters; empty: nothing) as a notification, or as an alert to
    /// dismiss with `show_alert`. Answer at once: Telegram accepts one answer, within seconds
    /// (later, `Refused` with "query is too old…").
    pub async fn answer_press(
        &self,
        callback_query_id: &str,
        text: &str,
        show_alert: bool,
    ) -> Result<(), BotError> {
        let mut body = json!({
            "callback_query_id": callback_query_id,
            "show_alert": show_alert,
        });
        let text = one_line(text, MAX_ANSWER_TEXT);
        if !text.is_empty() {
            body["text"] = Value::String(text);
        }
        let _: Value = self
            .call("answerCallbackQuery", body, Duration::from_secs(10))
            .await?;
        Ok(())
    }

    /// `editMessageText`: replaces the message's text with `html` (HTML parse mode) and removes
    /// its buttons. Telegram's "message is not modified" (the same edit twice: a retry, two
    /// presses) is success.
    pub async fn edit_text(
        &self,
        chat_id: i64,
        message_id: i64,
        html: &str,
    ) -> Result<(), BotError> {
        let body = json!({
            "chat_id": chat_id,
            "message_id": message_id,
            "text": html,
            "parse_mode": "HTML",
            "link_preview_options": { "is_disabled": true },
        });
        match self.call_retrying::<Value>("editMessageText", body).await {
            Ok(_) => Ok(()),
            Err(BotError::Refused {
                status: 400,
                description,
            }) if description.starts_with("Bad Request: message is not modified") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyboards_telegram_would_refuse_are_refused_here() {
        let ok = keyboard(&[vec![Button::new("Approve", "a"), Button::new("Deny", "d")]]).unwrap();
        assert_eq!(
            ok,
            json!({"inline_keyboard": [[
                {"text": "Approve", "callback_data": "a"},
                {"text": "Deny", "callback_data": "d"},
            ]]})
        );
        // 64 bytes, not characters.
        assert!(keyboard(&[vec![Button::new("A", "é".repeat(32))]]).is_ok());
        for rows in [
            vec![],
            vec![vec![]],
            vec![vec![Button::new("A", "")]],
            vec![vec![Button::new("A", "é".repeat(33))]],
            vec![vec![Button::new(" ", "a")]],
        ] {
            assert!(
                matches!(keyboard(&rows), Err(BotError::Refused { status: 0, .. })),
                "{rows:?}"
            );
        }
    }

    #[test]
    fn updates_become_presses_or_others() {
        let press = json!({"update_id": 7, "callback_query": {
            "id": "99", "chat_instance": "-1", "data": "a:1",
            "from": {"id": 42, "is_bot": false, "first_name": "Ada\u{202e}x", "username": "ada"},
            "message": {"message_id": 5, "date": 1, "chat": {"id": 42, "type": "private"}},
        }});
        assert_eq!(
            incoming(&press),
            Some(Incoming::Press(Press {
                update_id: 7,
                callback_query_id: "99".into(),
                from: Presser {
                    id: 42,
                    username: Some("ada".into()),
                    first_name: "Adax".into(),
                },
                chat_id: Some(42),
                message_id: Some(5),
                data: "a:1".into(),
            }))
        );
        let game = json!({"update_id": 8, "callback_query": {
            "id": "1", "chat_instance": "-1", "game_short_name": "g",
            "from": {"id": 42, "is_bot": false, "first_name": "Ada"},
        }});
        assert_eq!(incoming(&game), Some(Incoming::Other { update_id: 8 }));
        let message = json!({"update_id": 9, "message": {"text": "hi"}});
        assert_eq!(incoming(&message).map(|i| i.update_id()), Some(9));
        assert_eq!(incoming(&json!({"message": {}})), None);
    }
}
