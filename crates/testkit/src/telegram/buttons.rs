//! Approval buttons on the fake Bot API: inline keyboards on messages, a person pressing one,
//! the `callback_query` update the bot receives, `answerCallbackQuery` and `editMessageText`.
//!
//! What Telegram requires, and so what this fake refuses (docs/telegram.md, "Approvals: buttons
//! and one poller"):
//!
//! * `reply_markup` is a JSON object; an inline keyboard is `{"inline_keyboard": [[button, …],
//!   …]}`, an array of rows of buttons. Each button has a non-empty `text` and here exactly one
//!   action, `callback_data` of 1–64 bytes: longer is `400 Bad Request: BUTTON_DATA_INVALID`, none
//!   (or an empty one) is `can't parse inline keyboard button: Text buttons are unallowed in the
//!   inline keyboard`. Other kinds of button and reply keyboards exist in Telegram but are
//!   refused here: sidekey sends only callback buttons, so a fake that accepts less is safe.
//! * A person can press only a button the message shows now, and only in a chat they are in
//!   ([`FakeTelegram::press`] refuses anything else: a real phone cannot do it). The press
//!   becomes a `callback_query` update, delivered by `getUpdates` when `allowed_updates` lets
//!   it through.
//! * Each callback query is answered once, within a short window (15 s here): afterwards, or a
//!   second time, `400 Bad Request: query is too old and response timeout expired or query ID
//!   is invalid`. The answer's `text` is 0–200 characters.
//! * `editMessageText` edits a text message of that chat (`message to edit not found`
//!   otherwise); the keyboard is replaced by the one given, or removed when none is given; an
//!   edit that changes neither text nor keyboard is `400 Bad Request: message is not modified:
//!   …`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::{
    FakeTelegram, MAX_TEXT, Params, TgShared, TgState, bot_user, chat_json, chat_ok,
    check_entities, lock, ok_result, parse_html, raw_json, respond, text_param, unix_now,
};

/// Telegram's limit on a button's `callback_data`, in bytes.
const MAX_CALLBACK_DATA: usize = 64;
/// Telegram's limit on `answerCallbackQuery`'s `text`, in characters.
const MAX_ANSWER_TEXT: usize = 200;
/// How long a callback query can be answered. Telegram does not document it; bots report
/// "query is too old" after some seconds. 15 s keeps the fake at least as strict as a slow day.
const ANSWER_WINDOW: Duration = Duration::from_secs(15);

const TOO_OLD: &str =
    "Bad Request: query is too old and response timeout expired or query ID is invalid";
const NOT_MODIFIED: &str = "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message";

/// An accepted `editMessageText`.
#[derive(Clone, Debug)]
pub struct EditedMessage {
    pub message_id: i64,
    pub chat_id: String,
    /// As sent (with markup).
    pub text: String,
    pub parse_mode: Option<String>,
    /// The keyboard the message shows after the edit; `None`: it has none any more.
    pub reply_markup: Option<Value>,
    /// All parameters as a JSON object.
    pub raw: Value,
}

/// An accepted `answerCallbackQuery`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackAnswer {
    pub callback_query_id: String,
    /// The notification shown to the person; `None` when no text was given.
    pub text: Option<String>,
    /// An alert the person has to dismiss, instead of a notification at the top.
    pub show_alert: bool,
}

struct Query {
    issued: Instant,
    answered: bool,
}

/// The part of the fake's state that belongs to buttons.
#[derive(Default)]
pub(super) struct ButtonState {
    /// The `date` of each text message the bot sent (a callback query's message carries it).
    dates: HashMap<i64, i64>,
    queries: HashMap<String, Query>,
    next_query: u64,
    pub(super) answers: Vec<CallbackAnswer>,
    pub(super) edits: Vec<EditedMessage>,
    /// [`ANSWER_WINDOW`] unless a test shortened it.
    window: Option<Duration>,
}

impl ButtonState {
    /// A text message was sent at `date`.
    pub(super) fn sent(&mut self, message_id: i64, date: i64) {
        self.dates.insert(message_id, date);
    }
}

/// A text message as the chat shows it now: the last edit, or as sent.
struct Shown {
    chat_id: String,
    text: String,
    parse_mode: Option<String>,
    reply_markup: Option<Value>,
    edited: bool,
}

fn shown(st: &TgState, message_id: i64) -> Option<Shown> {
    let sent = st.messages.iter().find(|m| m.message_id == message_id)?;
    Some(
        match st
            .buttons
            .edits
            .iter()
            .rev()
            .find(|e| e.message_id == message_id)
        {
            Some(e) => Shown {
                chat_id: e.chat_id.clone(),
                text: e.text.clone(),
                parse_mode: e.parse_mode.clone(),
                reply_markup: e.reply_markup.clone(),
                edited: true,
            },
            None => Shown {
                chat_id: sent.chat_id.clone(),
                text: sent.text.clone(),
                parse_mode: sent.parse_mode.clone(),
                reply_markup: sent.reply_markup.clone(),
                edited: false,
            },
        },
    )
}

/// `(label, callback_data)` rows of a validated keyboard.
pub(crate) fn rows(markup: Option<&Value>) -> Vec<Vec<(String, String)>> {
    let Some(rows) = markup.and_then(|m| m["inline_keyboard"].as_array()) else {
        return Vec::new();
    };
    rows.iter()
        .map(|row| {
            row.as_array()
                .into_iter()
                .flatten()
                .map(|b| {
                    (
                        b["text"].as_str().unwrap_or("").to_string(),
                        b["callback_data"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .collect()
}

/// The text as a person reads it (Telegram gives the bot the text without markup).
pub(super) fn visible_text(text: &str, parse_mode: Option<&str>) -> String {
    match parse_mode {
        Some(m) if m.trim().eq_ignore_ascii_case("html") => {
            parse_html(text).unwrap_or_else(|_| text.to_string())
        }
        _ => text.to_string(),
    }
}

/// The `reply_markup` parameter, checked as Telegram checks it: `Ok(None)` without one (or with
/// an empty inline keyboard, which Telegram treats as none), else the inline keyboard in a
/// normal form (`{"inline_keyboard": [[{"text", "callback_data"}…]…]}`, empty rows dropped).
pub(super) fn reply_markup(p: &Params) -> Result<Option<Value>, String> {
    let Some(raw) = p.get("reply_markup") else {
        return Ok(None);
    };
    let super::Param::Text(raw) = raw else {
        return Err("Bad Request: can't parse reply keyboard markup JSON object".into());
    };
    let markup: Value = serde_json::from_str(raw)
        .map_err(|_| "Bad Request: can't parse reply keyboard markup JSON object".to_string())?;
    let Value::Object(markup) = markup else {
        return Err("Bad Request: object expected as reply markup".into());
    };
    let Some(keyboard) = markup.get("inline_keyboard") else {
        return Err(
            if ["keyboard", "remove_keyboard", "force_reply"]
                .iter()
                .any(|k| markup.contains_key(*k))
            {
                "Bad Request: reply keyboards are not supported by the fake Bot API (sidekey sends inline keyboards only)".into()
            } else {
                "Bad Request: can't parse reply keyboard markup JSON object".into()
            },
        );
    };
    let not_rows = || {
        "Bad Request: field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array of Arrays"
            .to_string()
    };
    let mut out = Vec::new();
    for row in keyboard.as_array().ok_or_else(not_rows)? {
        let mut buttons = Vec::new();
        for button in row.as_array().ok_or_else(not_rows)? {
            buttons.push(button_ok(button)?);
        }
        if !buttons.is_empty() {
            out.push(Value::Array(buttons));
        }
    }
    if out.is_empty() {
        return Ok(None);
    }
    Ok(Some(json!({ "inline_keyboard": out })))
}

/// One `InlineKeyboardButton`: a non-empty `text` and `callback_data` of 1–64 bytes.
fn button_ok(b: &Value) -> Result<Value, String> {
    let parse = |what: &str| format!("Bad Request: can't parse inline keyboard button: {what}");
    let Value::Object(b) = b else {
        return Err(parse("InlineKeyboardButton must be an Object"));
    };
    let text = match b.get("text") {
        Some(Value::String(t)) => t,
        _ => return Err(parse("Field \"text\" must be of type String")),
    };
    if text.trim().is_empty() {
        return Err("Bad Request: BUTTON_TEXT_INVALID".into());
    }
    const OTHER_KINDS: &[&str] = &[
        "url",
        "login_url",
        "web_app",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    ];
    if let Some(kind) = OTHER_KINDS.iter().find(|k| b.contains_key(**k)) {
        return Err(format!(
            "Bad Request: {kind} buttons are not supported by the fake Bot API (sidekey sends callback buttons only)"
        ));
    }
    let data = match b.get("callback_data") {
        None => "",
        Some(Value::String(d)) => d.as_str(),
        Some(_) => return Err(parse("Field \"callback_data\" must be of type String")),
    };
    if data.is_empty() {
        return Err(parse("Text buttons are unallowed in the inline keyboard"));
    }
    if data.len() > MAX_CALLBACK_DATA {
        return Err("Bad Request: BUTTON_DATA_INVALID".into());
    }
    Ok(json!({ "text": text, "callback_data": data }))
}

fn same_mode(a: Option<&str>, b: Option<&str>) -> bool {
    let norm = |m: Option<&str>| {
        m.map(|m| m.trim().to_ascii_lowercase())
            .filter(|m| !m.is_empty())
    };
    norm(a) == norm(b)
}

/// `editMessageText` of a bot's text message in a chat (`inline_message_id` is not supported).
pub(super) fn edit_message_text(sh: &TgShared, p: &Params) -> Response {
    match edit(sh, p) {
        Ok(result) => ok_result(result),
        Err(e) => sh.reject(e),
    }
}

fn edit(sh: &TgShared, p: &Params) -> Result<Value, String> {
    if text_param(p, "inline_message_id").is_some() {
        return Err("Bad Request: the fake Bot API does not edit inline messages".into());
    }
    let chat_id =
        chat_ok(text_param(p, "chat_id")).ok_or("Bad Request: chat not found".to_string())?;
    let message_id = text_param(p, "message_id")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .ok_or("Bad Request: message identifier is not specified".to_string())?;
    let text = text_param(p, "text").unwrap_or("");
    if text.trim().is_empty() {
        return Err("Bad Request: message text is empty".into());
    }
    let parse_mode = text_param(p, "parse_mode").map(str::to_string);
    if check_entities(text, parse_mode.as_deref())? > MAX_TEXT {
        return Err("Bad Request: message is too long".into());
    }
    let reply_markup = reply_markup(p)?;
    let mut st = lock(&sh.state);
    if st
        .photos
        .iter()
        .any(|ph| ph.message_id == message_id && ph.chat_id == chat_id)
    {
        return Err("Bad Request: there is no text in the message to edit".into());
    }
    let now = shown(&st, message_id)
        .filter(|m| m.chat_id == chat_id)
        .ok_or("Bad Request: message to edit not found".to_string())?;
    if now.text == text
        && same_mode(now.parse_mode.as_deref(), parse_mode.as_deref())
        && now.reply_markup == reply_markup
    {
        return Err(NOT_MODIFIED.into());
    }
    st.buttons.edits.push(EditedMessage {
        message_id,
        chat_id: chat_id.clone(),
        text: text.to_string(),
        parse_mode: parse_mode.clone(),
        reply_markup: reply_markup.clone(),
        raw: raw_json(p),
    });
    let mut result = json!({
        "message_id": message_id,
        "from": bot_user(&st),
        "chat": chat_json(&st, &chat_id),
        "date": st.buttons.dates.get(&message_id).copied().unwrap_or(0),
        "edit_date": unix_now(),
        "text": visible_text(text, parse_mode.as_deref()),
    });
    if let Some(m) = reply_markup {
        result["reply_markup"] = m;
    }
    Ok(result)
}

/// `answerCallbackQuery`: once per query the fake issued, within the window.
pub(super) fn answer_callback_query(sh: &TgShared, p: &Params) -> Response {
    match answer(sh, p) {
        Ok(()) => ok_result(Value::Bool(true)),
        Err(e) => sh.reject(e),
    }
}

fn answer(sh: &TgShared, p: &Params) -> Result<(), String> {
    let id = text_param(p, "callback_query_id")
        .map(str::trim)
        .unwrap_or("")
        .to_string();
    let text = text_param(p, "text")
        .map(str::to_string)
        .filter(|t| !t.is_empty());
    if text
        .as_deref()
        .is_some_and(|t| t.chars().count() > MAX_ANSWER_TEXT)
    {
        return Err("Bad Request: MESSAGE_TOO_LONG".into());
    }
    let show_alert = match text_param(p, "show_alert").map(str::trim) {
        None | Some("false" | "False" | "0" | "") => false,
        Some("true" | "True" | "1") => true,
        Some(_) => return Err("Bad Request: can't parse show_alert as Boolean".into()),
    };
    let mut st = lock(&sh.state);
    let window = st.buttons.window.unwrap_or(ANSWER_WINDOW);
    match st.buttons.queries.get_mut(&id) {
        Some(q) if !q.answered && q.issued.elapsed() <= window => q.answered = true,
        _ => return Err(TOO_OLD.into()),
    }
    st.buttons.answers.push(CallbackAnswer {
        callback_query_id: id,
        text,
        show_alert,
    });
    Ok(())
}

/// A deterministic `chat_instance` for a chat (Telegram's is an opaque number per chat).
fn chat_instance(chat_id: &str) -> String {
    let h = chat_id.bytes().fold(1_469_598_103_934_665_603u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(1_099_511_628_211)
    });
    format!("-{}", h >> 1)
}

/// A person (`user_id`) presses the button with `data` on `message_id`. See
/// [`FakeTelegram::press`].
fn press(
    sh: &TgShared,
    message_id: i64,
    data: &str,
    user_id: i64,
    username: Option<&str>,
) -> Result<String, String> {
    let id = {
        let mut st = lock(&sh.state);
        let now = shown(&st, message_id)
            .ok_or_else(|| format!("the bot sent no text message {message_id}"))?;
        let on_it = rows(now.reply_markup.as_ref())
            .iter()
            .flatten()
            .any(|(_, d)| d == data);
        if !on_it {
            return Err(format!(
                "message {message_id} shows no button with that callback_data (a phone cannot press it)"
            ));
        }
        // A private chat's id is its person's user id: no one else sees its messages.
        if let Ok(chat) = now.chat_id.parse::<i64>()
            && chat > 0
            && chat != user_id
        {
            return Err(format!(
                "user {user_id} cannot see the private chat {chat} with the bot"
            ));
        }
        let first_name = st
            .chats
            .as_ref()
            .and_then(|c| c.get(&user_id.to_string()))
            .and_then(|c| c["first_name"].as_str())
            .unwrap_or("User")
            .to_string();
        let mut from = json!({ "id": user_id, "is_bot": false, "first_name": first_name });
        if let Some(u) = username {
            from["username"] = json!(u);
        }
        st.buttons.next_query += 1;
        let query_id = (4_000_000_000_000_000_000u64 + st.buttons.next_query * 7919).to_string();
        st.buttons.queries.insert(
            query_id.clone(),
            Query {
                issued: Instant::now(),
                answered: false,
            },
        );
        let mut message = json!({
            "message_id": message_id,
            "from": bot_user(&st),
            "chat": chat_json(&st, &now.chat_id),
            "date": st.buttons.dates.get(&message_id).copied().unwrap_or(0),
            "text": visible_text(&now.text, now.parse_mode.as_deref()),
        });
        if let Some(m) = &now.reply_markup {
            message["reply_markup"] = m.clone();
        }
        if now.edited {
            message["edit_date"] = json!(unix_now());
        }
        let query = json!({
            "id": query_id,
            "from": from,
            "message": message,
            "chat_instance": chat_instance(&now.chat_id),
            "data": data,
        });
        st.queue_update("callback_query", query);
        query_id
    };
    sh.wake.notify_waiters();
    Ok(id)
}

impl FakeTelegram {
    /// A person (`from_user_id`, with an optional `@username`) presses the button whose
    /// `callback_data` is `data` on the bot's message `message_id`: a `callback_query` update in
    /// Telegram's form waits for `getUpdates` (unless `allowed_updates` leaves callback queries
    /// out: then Telegram drops it, and so does the fake), and a waiting long poll answers at
    /// once. Returns the callback query's id.
    ///
    /// Refused, as a phone cannot do it: a message the bot did not send, a button the message
    /// does not show (now: an edit may have removed the keyboard), a private chat that is not
    /// the presser's.
    pub fn press(
        &self,
        message_id: i64,
        data: &str,
        from_user_id: i64,
        username: Option<&str>,
    ) -> Result<String, String> {
        press(&self.shared, message_id, data, from_user_id, username)
    }

    /// As [`FakeTelegram::press`], the button found by its label.
    pub fn press_label(
        &self,
        message_id: i64,
        label: &str,
        from_user_id: i64,
        username: Option<&str>,
    ) -> Result<String, String> {
        let data = self
            .buttons(message_id)
            .into_iter()
            .flatten()
            .find(|(l, _)| l == label)
            .map(|(_, d)| d)
            .ok_or_else(|| format!("message {message_id} shows no button labelled {label:?}"))?;
        self.press(message_id, &data, from_user_id, username)
    }

    /// The buttons message `message_id` shows now, as rows of `(label, callback_data)`; empty
    /// without a keyboard (never sent one, or an edit removed it).
    pub fn buttons(&self, message_id: i64) -> Vec<Vec<(String, String)>> {
        let st = lock(&self.shared.state);
        rows(shown(&st, message_id).and_then(|m| m.reply_markup).as_ref())
    }

    /// Every accepted `answerCallbackQuery`, in order.
    pub fn answers(&self) -> Vec<CallbackAnswer> {
        lock(&self.shared.state).buttons.answers.clone()
    }

    /// Every accepted `editMessageText`, in order.
    pub fn edits(&self) -> Vec<EditedMessage> {
        lock(&self.shared.state).buttons.edits.clone()
    }

    /// How long a callback query can be answered (default 15 s), so tests need not wait.
    pub fn set_answer_window(&self, window: Duration) {
        lock(&self.shared.state).buttons.window = Some(window);
    }
}

/// `POST /phone/press` (`message_id`, `data`): the phone page's buttons, pressed by the person
/// of the message's private chat. Accepted only from the page itself (a form on another site
/// cannot press), then back to the page.
pub(super) async fn phone_press(
    State(sh): State<Arc<TgShared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let h = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let foreign = h(header::ORIGIN).is_some_and(|o| o != sh.base)
        || headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|s| s != "same-origin");
    if foreign {
        return respond(
            403,
            "text/plain; charset=utf-8",
            "only the phone page presses",
        );
    }
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let message_id = form.get("message_id").and_then(|m| m.parse::<i64>().ok());
    let data = form.get("data").cloned().unwrap_or_default();
    let person = message_id.and_then(|id| {
        let st = lock(&sh.state);
        let chat = shown(&st, id)?
            .chat_id
            .parse::<i64>()
            .ok()
            .filter(|c| *c > 0)?;
        let username = st
            .chats
            .as_ref()
            .and_then(|c| c.get(&chat.to_string()))
            .and_then(|c| c["username"].as_str().map(str::to_string));
        Some((id, chat, username))
    });
    let Some((id, chat, username)) = person else {
        return respond(
            400,
            "text/plain; charset=utf-8",
            "no such message in a private chat",
        );
    };
    match press(&sh, id, &data, chat, username.as_deref()) {
        Ok(_) => {
            let mut r = respond(303, "text/plain; charset=utf-8", "");
            r.headers_mut()
                .insert(header::LOCATION, header::HeaderValue::from_static("/phone"));
            r
        }
        Err(e) => respond(400, "text/plain; charset=utf-8", e),
    }
}
