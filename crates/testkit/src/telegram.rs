//! A fake Telegram Bot API ([`FakeTelegram`]) and a generic HTTP recorder ([`FakeHook`]) for
//! webhook and ntfy tests.
//!
//! # Why
//!
//! The code message is the one part of a device-flow login a person actually reads, and the
//! Bot API refuses a message outright when its HTML is off by one character (an account
//! called `R&D`, a scope with `<`). Tests therefore need a server that is at least as strict
//! as Telegram: [`FakeTelegram`] checks the token, the chat id, the length limits and — with
//! `parse_mode=HTML` — the markup itself, and answers with Telegram's envelope and its
//! descriptions (`Unauthorized`, `Bad Request: chat not found`, `Bad Request: can't parse
//! entities: …`, `Too Many Requests: retry after N`). It records every method called, so tests
//! can prove that the sign-in messages never touch `getUpdates` (exclusive per token: one
//! poller at a time). `sidekey telegram setup` does poll, on a bot of sidekey's own: for it the
//! fake queues what a person sends ([`FakeTelegram::user_sends`]), honours `offset` and
//! `timeout` like the Bot API, knows the chats that talked to it (`getChat`), and answers 409
//! when another poller holds the bot ([`FakeTelegram::polled_by_another`]).
//!
//! Approvals add inline keyboards: `sendMessage` and `editMessageText` validate `reply_markup`
//! as Telegram does, a person presses a button ([`FakeTelegram::press`]) and the bot receives a
//! `callback_query` update, answers it (`answerCallbackQuery`, once, within a short window) and
//! edits the message. The rules are in the [`buttons`] module and docs/telegram.md, "Approvals:
//! buttons and one poller".
//!
//! A chat app that uses a bot (OpenClaw's Telegram channel) also sets the bot's command menu and
//! clears its webhook when it starts, and finds commands by their `bot_command` entity: the
//! [`commands`] module (docs/telegram.md, "Command menus").
//!
//! # Strictness
//!
//! The HTML check follows Telegram's *documented* rules: only the supported tags, properly
//! nested; every `<`, `>` and `&` that is not markup written as an entity; only `&lt;`,
//! `&gt;`, `&amp;`, `&quot;` and numeric entities. The real parser is a little more forgiving
//! (it keeps an unknown `&name;` or a stray `>` as text); being stricter here means a message
//! this fake accepts is accepted by Telegram too.
//!
//! Request bodies may be JSON, form-urlencoded or `multipart/form-data`, plus query-string
//! parameters, like the real API. Multipart is parsed by hand (no extra dependency), which
//! also checks the client's encoding independently of the library that produced it.
//!
//! Same design as [`crate::FakeIdp`]: each server owns a thread with a current-thread tokio
//! runtime; state sits behind a `std::sync::Mutex` never held across an `.await`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::running::{Bound, Running};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

pub mod buttons;
pub mod commands;
pub use buttons::{CallbackAnswer, EditedMessage};
pub use commands::BotCommand;

/// Telegram accepts uploads up to 10 MB for photos (50 MB for other files).
const MAX_BODY: usize = 20 * 1024 * 1024;
const MAX_TEXT: usize = 4096;
const MAX_CAPTION: usize = 1024;

// ---------------------------------------------------------------------------------------
// A tiny server runner shared by both fakes

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn respond(status: u16, content_type: &str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

// ---------------------------------------------------------------------------------------
// FakeTelegram

/// A fault answered instead of the next request (FIFO, one per request, any method).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TgFault {
    /// 429 `Too Many Requests: retry after N` with `parameters.retry_after` and `Retry-After`.
    TooManyRequests { retry_after: u64 },
    /// That status: 502/503/504 as an nginx HTML page (what a gateway really sends), others
    /// as the Bot API's JSON envelope.
    Status(u16),
}

/// An accepted `sendMessage`.
#[derive(Clone, Debug)]
pub struct SentMessage {
    /// Telegram's `message_id` in the answer (one counter for messages and photos, so it gives
    /// the order the chat shows them in).
    pub message_id: i64,
    pub chat_id: String,
    /// As sent (with markup), not the parsed text.
    pub text: String,
    pub parse_mode: Option<String>,
    /// The inline keyboard sent with it (`{"inline_keyboard": [[{"text", "callback_data"}…]…]}`,
    /// validated as Telegram does), `None` without one. Edits may change or remove it later:
    /// [`FakeTelegram::buttons`] says what the message shows now.
    pub reply_markup: Option<Value>,
    /// All parameters as a JSON object (strings as sent; JSON bodies as they were).
    pub raw: Value,
}

/// An accepted `sendPhoto`.
#[derive(Clone, Debug)]
pub struct SentPhoto {
    /// Telegram's `message_id` in the answer (see [`SentMessage::message_id`]).
    pub message_id: i64,
    pub chat_id: String,
    pub caption: Option<String>,
    pub parse_mode: Option<String>,
    /// The uploaded file (empty when `photo` was a URL or file id).
    pub bytes: Vec<u8>,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    /// `photo` given as a URL or file id instead of an upload.
    pub photo_ref: Option<String>,
    /// All non-file parameters as a JSON object.
    pub raw: Value,
}

#[derive(Default)]
struct TgState {
    requests: Vec<String>,
    /// When each request of `requests` arrived (before its body was read).
    arrivals: Vec<Instant>,
    messages: Vec<SentMessage>,
    photos: Vec<SentPhoto>,
    rejected: Vec<String>,
    faults: VecDeque<TgFault>,
    next_message_id: i64,
    /// Updates not yet confirmed (`getUpdates` with a higher `offset` forgets them).
    updates: Vec<Value>,
    next_update_id: i64,
    /// The chats that talked to the bot (`getChat` knows them); `None` until the first
    /// [`FakeTelegram::user_sends`], as before it every well-formed chat id is accepted.
    chats: Option<HashMap<String, Value>>,
    /// The bot's `@username` (`getMe`); `fake_bot` unless set.
    username: Option<String>,
    /// A second poller holds the bot: every `getUpdates` answers 409.
    other_poller: bool,
    /// A webhook is set on the bot: every `getUpdates` answers 409 (the webhook's words).
    webhook: bool,
    /// Counts `getUpdates` calls: a waiting call whose number is no longer the latest was
    /// terminated by a newer one (409, as Telegram answers the older of two pollers).
    poll_gen: u64,
    /// The update types the bot receives (`getUpdates`' `allowed_updates`, kept until the next
    /// call that gives it); `None`: Telegram's default.
    allowed_updates: Option<Vec<String>>,
    /// The inline keyboards, callback queries, answers and edits of the approval buttons.
    buttons: buttons::ButtonState,
    /// The command menus set with `setMyCommands`.
    menus: commands::Menus,
}

struct TgShared {
    token: String,
    /// `http://127.0.0.1:PORT`: the phone page accepts presses only from itself.
    base: String,
    state: Mutex<TgState>,
    /// Wakes a waiting `getUpdates` (a new update, a second poller, a webhook).
    wake: tokio::sync::Notify,
}

/// A fake Bot API server for one bot token. Dropping it shuts it down.
pub struct FakeTelegram {
    shared: Arc<TgShared>,
    server: Running,
}

impl FakeTelegram {
    /// Starts on 127.0.0.1:0; only `bot_token` is accepted.
    pub fn start(bot_token: &str) -> FakeTelegram {
        let bound = Bound::loopback();
        let shared = Arc::new(TgShared {
            token: bot_token.to_string(),
            base: bound.base.clone(),
            state: Mutex::new(TgState::default()),
            wake: tokio::sync::Notify::new(),
        });
        crate::secrets::register({
            let token = bot_token.to_string();
            move || vec![crate::secrets::Secret::Never(token.clone())]
        });
        let app = Router::new()
            .route("/phone", axum::routing::get(phone_page))
            .route("/phone/press", axum::routing::post(buttons::phone_press))
            .fallback(tg_handle)
            .with_state(shared.clone());
        FakeTelegram {
            shared,
            server: bound.serve("fake-telegram", app),
        }
    }

    /// `http://127.0.0.1:PORT` — what goes in place of `https://api.telegram.org`.
    pub fn api_base(&self) -> String {
        self.server.base.clone()
    }

    /// `http://127.0.0.1:PORT/phone`: the chat as the person's phone would show it, a web page
    /// of every accepted message and photo (see [`crate::phone`]). Not part of the Bot API;
    /// calls to it are not recorded in [`FakeTelegram::requests`].
    pub fn phone_url(&self) -> String {
        format!("{}/phone", self.server.base)
    }

    pub fn messages(&self) -> Vec<SentMessage> {
        lock(&self.shared.state).messages.clone()
    }

    pub fn photos(&self) -> Vec<SentPhoto> {
        lock(&self.shared.state).photos.clone()
    }

    /// Every method called, in order, as written in the URL (rejected calls included; a path
    /// that is not `/bot<token>/<method>` is recorded as the path itself).
    pub fn requests(&self) -> Vec<String> {
        lock(&self.shared.state).requests.clone()
    }

    /// [`FakeTelegram::requests`] with the moment each arrived, before its body was read (a
    /// benchmark times when a press's decision reaches the chat).
    pub fn requests_at(&self) -> Vec<(Instant, String)> {
        let st = lock(&self.shared.state);
        st.arrivals
            .iter()
            .copied()
            .zip(st.requests.iter().cloned())
            .collect()
    }

    pub fn inject(&self, faults: impl IntoIterator<Item = TgFault>) {
        lock(&self.shared.state).faults.extend(faults);
    }

    /// Descriptions of the 400 answers sent, in order.
    pub fn rejected(&self) -> Vec<String> {
        lock(&self.shared.state).rejected.clone()
    }

    /// The bot's `@username` that `getMe` answers (default `fake_bot`).
    pub fn set_username(&self, username: &str) {
        lock(&self.shared.state).username = Some(username.to_string());
    }

    /// A person (user id = private chat id, as in Telegram) sends `text` to the bot: an
    /// `Update` with a `message` waits for `getUpdates`, and from now on `getChat` knows this
    /// chat and answers `Bad Request: chat not found` for chats that never talked to the bot.
    pub fn user_sends(&self, chat_id: i64, first_name: &str, text: &str) {
        let from = json!({ "id": chat_id, "is_bot": false, "first_name": first_name });
        let chat = json!({ "id": chat_id, "first_name": first_name, "type": "private" });
        self.message(chat, from, text);
    }

    /// As [`FakeTelegram::user_sends`], from a person with a `@username` (which Telegram puts
    /// in both the private chat and the sender, as `username`).
    pub fn user_with_username_sends(
        &self,
        chat_id: i64,
        first_name: &str,
        username: &str,
        text: &str,
    ) {
        let from = json!({
            "id": chat_id, "is_bot": false, "first_name": first_name, "username": username,
        });
        let chat = json!({
            "id": chat_id, "first_name": first_name, "username": username, "type": "private",
        });
        self.message(chat, from, text);
    }

    /// A person (`user_id`) writes `text` in a group the bot is in: the chat is the group's
    /// (`type` `group`, a negative `id`, a `title`), the sender is in `from`.
    pub fn group_sends(
        &self,
        group_id: i64,
        title: &str,
        user_id: i64,
        first_name: &str,
        text: &str,
    ) {
        let from = json!({ "id": user_id, "is_bot": false, "first_name": first_name });
        let chat = json!({ "id": group_id, "title": title, "type": "group" });
        self.message(chat, from, text);
    }

    /// A message in `chat` from `from`: an update for `getUpdates`, and a chat `getChat` knows.
    fn message(&self, chat: Value, from: Value, text: &str) {
        {
            let mut st = lock(&self.shared.state);
            // One counter for the chat's messages, the person's and the bot's alike.
            st.next_message_id += 1;
            let message_id = st.next_message_id;
            st.chats
                .get_or_insert_with(HashMap::new)
                .insert(chat["id"].to_string(), chat.clone());
            let mut message = json!({
                "message_id": message_id,
                "from": from,
                "chat": chat,
                "date": unix_now(),
                "text": text,
            });
            if let Some(entities) = commands::entities(text) {
                message["entities"] = entities;
            }
            st.queue_update("message", message);
        }
        self.shared.wake.notify_waiters();
    }

    /// Another process long-polls this bot (OpenClaw, say): every `getUpdates` answers Telegram's
    /// 409 `Conflict: terminated by other getUpdates request; …`, a waiting one at once.
    pub fn polled_by_another(&self) {
        lock(&self.shared.state).other_poller = true;
        self.shared.wake.notify_waiters();
    }

    /// A webhook is set on the bot: every `getUpdates` answers Telegram's 409 `Conflict: can't
    /// use getUpdates method while webhook is active; …`, a waiting one at once.
    pub fn webhook_set(&self) {
        lock(&self.shared.state).webhook = true;
        self.shared.wake.notify_waiters();
    }
}

impl TgState {
    /// Queues an update of `kind` (`message`, `callback_query`) carrying `object`, unless the
    /// bot's `allowed_updates` leaves that kind out: Telegram then never stores it (the setting
    /// applies to updates created after the call that set it). Returns whether it was queued.
    fn queue_update(&mut self, kind: &str, object: Value) -> bool {
        let allowed = match self.allowed_updates.as_deref() {
            // Telegram's default (and an empty list): every kind but chat_member,
            // message_reaction and message_reaction_count.
            None | Some([]) => !matches!(
                kind,
                "chat_member" | "message_reaction" | "message_reaction_count"
            ),
            Some(list) => list.iter().any(|k| k == kind),
        };
        if !allowed {
            return false;
        }
        self.next_update_id += 1;
        let update_id = 700_000_000 + self.next_update_id;
        let mut update = Map::new();
        update.insert("update_id".into(), json!(update_id));
        update.insert(kind.into(), object);
        self.updates.push(Value::Object(update));
        true
    }
}

/// Unix seconds now (the `date` of a message).
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl std::fmt::Debug for FakeTelegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTelegram")
            .field("api_base", &self.server.base)
            .finish_non_exhaustive()
    }
}

async fn phone_page(State(sh): State<Arc<TgShared>>) -> Response {
    let (messages, edits, photos) = {
        let st = lock(&sh.state);
        (
            st.messages.clone(),
            st.buttons.edits.clone(),
            st.photos.clone(),
        )
    };
    let mut r = respond(
        200,
        "text/html; charset=utf-8",
        crate::phone::page(&messages, &edits, &photos),
    );
    let h = r.headers_mut();
    // Everything is inline: no script at all, images only as data: URLs.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

fn envelope_error(status: u16, description: &str) -> Response {
    let body = json!({ "ok": false, "error_code": status, "description": description });
    respond(status, "application/json", body.to_string())
}

fn ok_result(result: Value) -> Response {
    respond(
        200,
        "application/json",
        json!({ "ok": true, "result": result }).to_string(),
    )
}

fn fault_response(f: &TgFault) -> Response {
    match *f {
        TgFault::TooManyRequests { retry_after } => {
            let body = json!({
                "ok": false,
                "error_code": 429,
                "description": format!("Too Many Requests: retry after {retry_after}"),
                "parameters": { "retry_after": retry_after },
            });
            let mut r = respond(429, "application/json", body.to_string());
            r.headers_mut().insert(
                header::RETRY_AFTER,
                retry_after
                    .to_string()
                    .parse()
                    .unwrap_or_else(|_| header::HeaderValue::from_static("1")),
            );
            r
        }
        TgFault::Status(s @ (502..=504)) => {
            let reason = StatusCode::from_u16(s)
                .ok()
                .and_then(|c| c.canonical_reason())
                .unwrap_or("Error");
            respond(
                s,
                "text/html",
                format!(
                    "<html>\r\n<head><title>{s} {reason}</title></head>\r\n<body>\r\n\
                     <center><h1>{s} {reason}</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n\
                     </body>\r\n</html>\r\n"
                ),
            )
        }
        TgFault::Status(s) => {
            let description = match s {
                400 => "Bad Request",
                401 => "Unauthorized",
                403 => "Forbidden: bot was blocked by the user",
                404 => "Not Found",
                409 => {
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
                }
                500 => "Internal Server Error",
                _ => "Error",
            };
            envelope_error(s, description)
        }
    }
}

/// A parameter value: text, or an uploaded file.
enum Param {
    Text(String),
    File {
        name: Option<String>,
        content_type: Option<String>,
        bytes: Vec<u8>,
    },
}

type Params = HashMap<String, Param>;

impl TgShared {
    fn reject(&self, description: String) -> Response {
        lock(&self.state).rejected.push(description.clone());
        envelope_error(400, &description)
    }
}

async fn tg_handle(State(sh): State<Arc<TgShared>>, request: Request) -> Response {
    let arrived = Instant::now();
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return envelope_error(413, "Request Entity Too Large"),
    };
    let path = parts.uri.path();
    // `/bot<token>/<method>`
    let parsed = path
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(_, m)| !m.is_empty() && !m.contains('/'));
    let fault = {
        let mut st = lock(&sh.state);
        st.arrivals.push(arrived);
        st.requests.push(
            parsed
                .map(|(_, m)| m.to_string())
                .unwrap_or_else(|| path.to_string()),
        );
        st.faults.pop_front()
    };
    if let Some(f) = fault {
        return fault_response(&f);
    }
    let Some((token, method)) = parsed else {
        return envelope_error(404, "Not Found");
    };
    if token != sh.token {
        return envelope_error(401, "Unauthorized");
    }
    let params = match parse_params(parts.uri.query(), &parts.headers, &body) {
        Ok(p) => p,
        Err(e) => return sh.reject(format!("Bad Request: {e}")),
    };
    match method.to_ascii_lowercase().as_str() {
        "getme" => ok_result(bot_user(&lock(&sh.state))),
        "getupdates" => get_updates(&sh, &params).await,
        "getchat" => get_chat(&sh, &params),
        "sendmessage" => send_message(&sh, &params),
        "editmessagetext" => buttons::edit_message_text(&sh, &params),
        "answercallbackquery" => buttons::answer_callback_query(&sh, &params),
        "sendphoto" => send_photo(&sh, &params),
        "setmycommands" => commands::set_my_commands(&sh, &params),
        "deletemycommands" => commands::delete_my_commands(&sh, &params),
        "getmycommands" => commands::get_my_commands(&sh, &params),
        "deletewebhook" => commands::delete_webhook(&sh, &params),
        _ => envelope_error(404, "Not Found"),
    }
}

/// `getUpdates` as the Bot API documents it: `offset` confirms (forgets) every update below it,
/// a negative one keeps only the last `-offset`; `limit` (1–100, default 100) caps the answer;
/// `allowed_updates` (a JSON list) sets which kinds of update the bot receives from now on; with
/// `timeout` > 0 the call waits up to that many seconds for an update (long polling) and
/// answers as soon as one arrives. 409 while another poller holds the bot or a webhook is set,
/// and for a waiting call as soon as a newer `getUpdates` arrives (Telegram terminates the older
/// request).
async fn get_updates(sh: &TgShared, p: &Params) -> Response {
    let int = |name: &str| text_param(p, name).and_then(|v| v.trim().parse::<i64>().ok());
    let offset = int("offset");
    let limit = int("limit").unwrap_or(100).clamp(1, 100) as usize;
    let timeout = int("timeout").unwrap_or(0).clamp(0, 50) as u64;
    let allowed = match text_param(p, "allowed_updates").map(str::trim) {
        None | Some("") => None,
        Some(raw) => match serde_json::from_str::<Vec<String>>(raw) {
            Ok(list) => Some(list),
            Err(_) => return sh.reject("Bad Request: can't parse allowed updates".to_string()),
        },
    };
    let until = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let mine = {
        let mut st = lock(&sh.state);
        if let Some(refusal) = poll_refusal(&st) {
            return refusal;
        }
        st.poll_gen += 1;
        if allowed.is_some() {
            st.allowed_updates = allowed;
        }
        match offset {
            Some(o) if o < 0 => {
                let keep = o.unsigned_abs() as usize;
                let n = st.updates.len();
                st.updates.drain(..n.saturating_sub(keep));
            }
            Some(o) => st
                .updates
                .retain(|u| u["update_id"].as_i64().is_some_and(|id| id >= o)),
            None => {}
        }
        st.poll_gen
    };
    // An older call still waiting is terminated by this one.
    sh.wake.notify_waiters();
    loop {
        // Registered before the state is read, so a wake between the two is not lost.
        let mut woken = std::pin::pin!(sh.wake.notified());
        woken.as_mut().enable();
        {
            let st = lock(&sh.state);
            if let Some(refusal) = poll_refusal(&st) {
                return refusal;
            }
            if st.poll_gen != mine {
                return fault_response(&TgFault::Status(409));
            }
            if !st.updates.is_empty() || tokio::time::Instant::now() >= until {
                let first: Vec<Value> = st.updates.iter().take(limit).cloned().collect();
                return ok_result(Value::Array(first));
            }
        }
        let _ = tokio::time::timeout_at(until, woken).await;
    }
}

/// The 409 `getUpdates` gets while another process polls the bot or a webhook is set.
fn poll_refusal(st: &TgState) -> Option<Response> {
    if st.other_poller {
        return Some(fault_response(&TgFault::Status(409)));
    }
    st.webhook.then(|| {
        envelope_error(
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
        )
    })
}

/// `getChat`: the chats that talked to the bot; any other is `Bad Request: chat not found`
/// (as Telegram answers for a user who never started the bot).
fn get_chat(sh: &TgShared, p: &Params) -> Response {
    let Some(chat_id) = chat_ok(text_param(p, "chat_id")) else {
        return sh.reject("Bad Request: chat not found".to_string());
    };
    let known = lock(&sh.state)
        .chats
        .as_ref()
        .map(|c| c.get(&chat_id).cloned());
    match known {
        Some(Some(chat)) => ok_result(chat),
        Some(None) => sh.reject("Bad Request: chat not found".to_string()),
        None => ok_result(json!({ "id": chat_id, "type": "private" })),
    }
}

fn text_param<'a>(p: &'a Params, name: &str) -> Option<&'a str> {
    match p.get(name) {
        Some(Param::Text(s)) => Some(s.as_str()),
        _ => None,
    }
}

fn raw_json(p: &Params) -> Value {
    let mut m = Map::new();
    for (k, v) in p {
        match v {
            Param::Text(s) => {
                // JSON bodies keep their types where they round-trip (true, 123, objects).
                let val = serde_json::from_str::<Value>(s)
                    .ok()
                    .filter(|v| !v.is_string())
                    .unwrap_or_else(|| Value::String(s.clone()));
                m.insert(k.clone(), val);
            }
            Param::File { name, bytes, .. } => {
                m.insert(k.clone(), json!({ "file_name": name, "size": bytes.len() }));
            }
        }
    }
    Value::Object(m)
}

/// Numeric ids (groups are negative) and `@channelusername` exist; anything else does not.
fn chat_ok(chat_id: Option<&str>) -> Option<String> {
    let c = chat_id?.trim();
    let digits = c.strip_prefix('-').unwrap_or(c);
    let numeric = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    let username = c
        .strip_prefix('@')
        .is_some_and(|u| u.len() >= 4 && u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    (numeric || username).then(|| c.to_string())
}

/// Checks the text against `parse_mode`; returns its visible length in characters.
fn check_entities(text: &str, parse_mode: Option<&str>) -> Result<usize, String> {
    match parse_mode.map(str::trim).filter(|m| !m.is_empty()) {
        None => Ok(text.chars().count()),
        Some(m) if m.eq_ignore_ascii_case("html") => parse_html(text)
            .map(|t| t.chars().count())
            .map_err(|e| format!("Bad Request: can't parse entities: {e}")),
        // Markdown flavours are not checked (sidekey does not use them).
        Some(m) if m.eq_ignore_ascii_case("markdown") || m.eq_ignore_ascii_case("markdownv2") => {
            Ok(text.chars().count())
        }
        Some(_) => Err("Bad Request: unsupported parse_mode".to_string()),
    }
}

fn send_message(sh: &TgShared, p: &Params) -> Response {
    let Some(chat_id) = chat_ok(text_param(p, "chat_id")) else {
        return sh.reject("Bad Request: chat not found".to_string());
    };
    let unknown = lock(&sh.state)
        .chats
        .as_ref()
        .is_some_and(|c| !c.contains_key(&chat_id));
    if unknown {
        return sh.reject("Bad Request: chat not found".to_string());
    }
    let text = text_param(p, "text").unwrap_or("");
    if text.trim().is_empty() {
        return sh.reject("Bad Request: message text is empty".to_string());
    }
    let parse_mode = text_param(p, "parse_mode").map(str::to_string);
    let visible = match check_entities(text, parse_mode.as_deref()) {
        Ok(n) => n,
        Err(e) => return sh.reject(e),
    };
    if visible > MAX_TEXT {
        return sh.reject("Bad Request: message is too long".to_string());
    }
    let reply_markup = match buttons::reply_markup(p) {
        Ok(m) => m,
        Err(e) => return sh.reject(e),
    };
    let date = unix_now();
    let shown = buttons::visible_text(text, parse_mode.as_deref());
    let mut result = {
        let mut st = lock(&sh.state);
        st.next_message_id += 1;
        let message_id = st.next_message_id;
        st.messages.push(SentMessage {
            message_id,
            chat_id: chat_id.clone(),
            text: text.to_string(),
            parse_mode,
            reply_markup: reply_markup.clone(),
            raw: raw_json(p),
        });
        st.buttons.sent(message_id, date);
        json!({
            "message_id": message_id,
            "from": bot_user(&st),
            "date": date,
            "chat": chat_json(&st, &chat_id),
            "text": shown,
        })
    };
    if let Some(m) = reply_markup {
        result["reply_markup"] = m;
    }
    ok_result(result)
}

/// The bot as `getMe` describes it (and as `from` of its own messages).
fn bot_user(st: &TgState) -> Value {
    let username = st.username.clone().unwrap_or_else(|| "fake_bot".into());
    json!({ "id": 1, "is_bot": true, "first_name": "Fake", "username": username })
}

/// The `Chat` object of `chat_id`: what the chat told the bot about itself when it wrote, else
/// its id (a number, as Telegram gives it; a `@channel` stays a string) and a type.
fn chat_json(st: &TgState, chat_id: &str) -> Value {
    if let Some(chat) = st.chats.as_ref().and_then(|c| c.get(chat_id)) {
        return chat.clone();
    }
    match chat_id.parse::<i64>() {
        Ok(n) if n < 0 => json!({ "id": n, "type": "group", "title": "Group" }),
        Ok(n) => json!({ "id": n, "type": "private" }),
        Err(_) => json!({ "id": chat_id, "type": "channel" }),
    }
}

fn send_photo(sh: &TgShared, p: &Params) -> Response {
    let Some(chat_id) = chat_ok(text_param(p, "chat_id")) else {
        return sh.reject("Bad Request: chat not found".to_string());
    };
    let caption = text_param(p, "caption").map(str::to_string);
    let parse_mode = text_param(p, "parse_mode").map(str::to_string);
    if let Some(c) = &caption {
        let visible = match check_entities(c, parse_mode.as_deref()) {
            Ok(n) => n,
            Err(e) => return sh.reject(e),
        };
        if visible > MAX_CAPTION {
            return sh.reject("Bad Request: message caption is too long".to_string());
        }
    }
    let (bytes, file_name, content_type, photo_ref) = match p.get("photo") {
        Some(Param::File {
            name,
            content_type,
            bytes,
        }) => {
            let image =
                bytes.starts_with(b"\x89PNG\r\n\x1a\n") || bytes.starts_with(b"\xFF\xD8\xFF");
            if !image {
                return sh.reject("Bad Request: IMAGE_PROCESS_FAILED".to_string());
            }
            (bytes.clone(), name.clone(), content_type.clone(), None)
        }
        Some(Param::Text(s)) if !s.trim().is_empty() => {
            (Vec::new(), None, None, Some(s.trim().to_string()))
        }
        _ => return sh.reject("Bad Request: there is no photo in the request".to_string()),
    };
    let id = {
        let mut st = lock(&sh.state);
        st.next_message_id += 1;
        let message_id = st.next_message_id;
        st.photos.push(SentPhoto {
            message_id,
            chat_id: chat_id.clone(),
            caption: caption.clone(),
            parse_mode,
            bytes,
            file_name,
            content_type,
            photo_ref,
            raw: raw_json(p),
        });
        st.next_message_id
    };
    ok_result(json!({
        "message_id": id,
        "date": 1_767_225_600,
        "chat": { "id": chat_id, "type": "private" },
        "photo": [{ "file_id": format!("fake-photo-{id}"), "width": 320, "height": 320 }],
        "caption": caption,
    }))
}

// ---------------------------------------------------------------------------------------
// Parameter parsing: query string + JSON / form / multipart body

fn parse_params(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Result<Params, String> {
    let mut p = Params::new();
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let ct_lower = ct.to_ascii_lowercase();
    if ct_lower.starts_with("application/json") {
        let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) else {
            return Err("can't parse JSON object".to_string());
        };
        for (k, v) in obj {
            let s = match v {
                Value::String(s) => s,
                // Telegram refuses a null `reply_markup` ("object expected as reply markup").
                Value::Null if k == "reply_markup" => "null".to_string(),
                Value::Null => continue,
                other => other.to_string(),
            };
            p.insert(k, Param::Text(s));
        }
    } else if ct_lower.starts_with("multipart/form-data") {
        let boundary = media_param(&ct, "boundary").ok_or("multipart without boundary")?;
        for part in parse_multipart(body, &boundary)? {
            p.entry(part.0).or_insert(part.1);
        }
    } else if !body.is_empty() {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|_| "can't parse form body".to_string())?;
        for (k, v) in pairs {
            p.entry(k).or_insert(Param::Text(v));
        }
    }
    if let Some(q) = query {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).unwrap_or_default();
        for (k, v) in pairs {
            p.entry(k).or_insert(Param::Text(v));
        }
    }
    Ok(p)
}

/// `name=value` or `name="value"` from a `;`-separated header value.
fn media_param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case(name) {
            return None;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        Some(v.to_string())
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// RFC 7578 `multipart/form-data`, strictly: CRLF line ends, a closing delimiter, a
/// `Content-Disposition: form-data; name=…` header in every part.
fn parse_multipart(body: &[u8], boundary: &str) -> Result<Vec<(String, Param)>, String> {
    let bad = |what: &str| format!("invalid multipart body: {what}");
    if boundary.is_empty() || boundary.len() > 70 {
        return Err(bad("bad boundary"));
    }
    let delim = format!("--{boundary}");
    let start = find(body, delim.as_bytes()).ok_or_else(|| bad("no boundary"))?;
    let mut rest = &body[start + delim.len()..];
    let mut out = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(out);
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or_else(|| bad("no CRLF after boundary"))?;
        let head_end = find(rest, b"\r\n\r\n").ok_or_else(|| bad("part without headers"))?;
        let head = std::str::from_utf8(&rest[..head_end]).map_err(|_| bad("headers not UTF-8"))?;
        let content = &rest[head_end + 4..];
        let next = format!("\r\n{delim}");
        let end = find(content, next.as_bytes()).ok_or_else(|| bad("no closing boundary"))?;
        let data = &content[..end];
        rest = &content[end + next.len()..];

        let mut disposition = None;
        let mut content_type = None;
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                return Err(bad("malformed part header"));
            };
            if k.trim().eq_ignore_ascii_case("content-disposition") {
                disposition = Some(v.trim().to_string());
            } else if k.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(v.trim().to_string());
            }
        }
        let disposition = disposition.ok_or_else(|| bad("part without Content-Disposition"))?;
        if !disposition.to_ascii_lowercase().starts_with("form-data") {
            return Err(bad("part is not form-data"));
        }
        let name = media_param(&disposition, "name").ok_or_else(|| bad("part without name"))?;
        let file_name = media_param(&disposition, "filename");
        let param = if file_name.is_some() {
            Param::File {
                name: file_name,
                content_type,
                bytes: data.to_vec(),
            }
        } else {
            Param::Text(String::from_utf8(data.to_vec()).map_err(|_| bad("text part not UTF-8"))?)
        };
        out.push((name, param));
    }
}

// ---------------------------------------------------------------------------------------
// Telegram HTML

const TAGS: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "tg-spoiler",
    "span",
    "blockquote",
    "tg-emoji",
];

/// Decodes the entity starting at `s[0] == '&'`: (char, byte length).
fn entity(s: &str) -> Option<(char, usize)> {
    let end = s.find(';')?;
    let name = &s[1..end];
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) if !hex.is_empty() && hex.len() <= 6 => {
                    u32::from_str_radix(hex, 16).ok()?
                }
                None if !num.is_empty() && num.len() <= 7 => num.parse::<u32>().ok()?,
                _ => return None,
            };
            char::from_u32(code)?
        }
    };
    Some((c, end + 1))
}

/// A tag as [`walk`] reads it: its lower-case name, whether it closes, its attributes (values
/// with entities decoded).
pub(crate) struct Tag {
    pub name: String,
    pub closing: bool,
    pub attrs: Vec<(String, String)>,
}

impl Tag {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One piece of Telegram HTML: a visible character (entities decoded) or a tag.
pub(crate) enum Piece {
    Char(char),
    Tag(Tag),
}

/// Parses Telegram HTML and returns the visible text, or an error in Telegram's words.
pub(crate) fn parse_html(s: &str) -> Result<String, String> {
    let mut out = String::new();
    walk(s, |p| {
        if let Piece::Char(c) = p {
            out.push(c);
        }
    })?;
    Ok(out)
}

/// Reads Telegram HTML piece by piece, checking it as Telegram does (see the module's
/// "Strictness"); on an error some pieces may have been handed on already.
pub(crate) fn walk(s: &str, mut on: impl FnMut(Piece)) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        let Some(c) = rest.chars().next() else { break };
        match c {
            '&' => {
                let (ch, len) = entity(rest).ok_or_else(|| {
                    format!("unsupported HTML entity or unescaped \"&\" at byte offset {i}")
                })?;
                on(Piece::Char(ch));
                i += len;
            }
            '>' => {
                return Err(format!(
                    "character \">\" must be escaped at byte offset {i}"
                ));
            }
            '<' => {
                let (len, tag) = parse_tag(s, i, &mut stack)?;
                on(Piece::Tag(tag));
                i += len;
            }
            c => {
                on(Piece::Char(c));
                i += c.len_utf8();
            }
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{open}\""
        ));
    }
    Ok(())
}

/// Parses the tag at `s[start] == '<'`, updates the stack, returns its byte length and the tag.
fn parse_tag(s: &str, start: usize, stack: &mut Vec<String>) -> Result<(usize, Tag), String> {
    let b = s.as_bytes();
    let mut j = start + 1;
    let closing = b.get(j) == Some(&b'/');
    if closing {
        j += 1;
    }
    let name_start = j;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'-') {
        j += 1;
    }
    let name = s[name_start..j].to_ascii_lowercase();
    if name.is_empty() {
        return Err(format!("Unsupported start tag \"\" at byte offset {start}"));
    }
    if closing {
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if b.get(j) != Some(&b'>') {
            return Err(format!("Unclosed end tag at byte offset {start}"));
        }
        match stack.pop() {
            None => return Err(format!("Unexpected end tag at byte offset {start}")),
            Some(open) if open != name => {
                return Err(format!(
                    "Unmatched end tag at byte offset {start}, expected \"</{open}>\", found \"</{name}>\""
                ));
            }
            Some(_) => {}
        }
        let tag = Tag {
            name,
            closing: true,
            attrs: Vec::new(),
        };
        return Ok((j + 1 - start, tag));
    }
    if !TAGS.contains(&name.as_str()) {
        return Err(format!(
            "Unsupported start tag \"{name}\" at byte offset {start}"
        ));
    }
    // Attributes: name[=value], value quoted with " or ' or bare.
    let mut attrs: Vec<(String, String)> = Vec::new();
    loop {
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        match b.get(j) {
            None => return Err(format!("Unclosed start tag at byte offset {start}")),
            Some(b'>') => break,
            Some(_) => {}
        }
        let an_start = j;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'-' || b[j] == b'_') {
            j += 1;
        }
        if j == an_start {
            return Err(format!(
                "Expected equal sign in declaration of an attribute of the tag at byte offset {start}"
            ));
        }
        let an = s[an_start..j].to_ascii_lowercase();
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if b.get(j) != Some(&b'=') {
            attrs.push((an, String::new()));
            continue;
        }
        j += 1;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        let raw = match b.get(j) {
            Some(&q @ (b'"' | b'\'')) => {
                let v_start = j + 1;
                let Some(len) = s[v_start..].find(q as char) else {
                    return Err(format!("Unclosed start tag at byte offset {start}"));
                };
                j = v_start + len + 1;
                &s[v_start..v_start + len]
            }
            Some(_) => {
                let v_start = j;
                while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' {
                    j += 1;
                }
                &s[v_start..j]
            }
            None => return Err(format!("Unclosed start tag at byte offset {start}")),
        };
        // Entities inside attribute values follow the same rules.
        let mut value = String::new();
        let mut k = 0;
        while k < raw.len() {
            let r = &raw[k..];
            let Some(c) = r.chars().next() else { break };
            if c == '&' {
                let (ch, len) = entity(r).ok_or_else(|| {
                    format!(
                        "unsupported HTML entity in an attribute of the tag at byte offset {start}"
                    )
                })?;
                value.push(ch);
                k += len;
            } else if c == '<' {
                return Err(format!(
                    "character \"<\" in an attribute of the tag at byte offset {start}"
                ));
            } else {
                value.push(c);
                k += c.len_utf8();
            }
        }
        attrs.push((an, value));
    }
    let attr = |n: &str| attrs.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    match name.as_str() {
        "a" if attr("href").is_none_or(|h| h.trim().is_empty()) => {
            return Err(format!(
                "Tag \"a\" must have attribute \"href\" at byte offset {start}"
            ));
        }
        "span" if attr("class") != Some("tg-spoiler") => {
            return Err(format!(
                "Tag \"span\" must have class \"tg-spoiler\" at byte offset {start}"
            ));
        }
        "tg-emoji" if attr("emoji-id").is_none() => {
            return Err(format!(
                "Tag \"tg-emoji\" must have attribute \"emoji-id\" at byte offset {start}"
            ));
        }
        _ => {}
    }
    stack.push(name.clone());
    let tag = Tag {
        name,
        closing: false,
        attrs,
    };
    Ok((j + 1 - start, tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_accepts_valid_markup() {
        assert_eq!(
            parse_html("<b>a</b> &amp; <code>x&lt;y</code>").unwrap(),
            "a & x<y"
        );
        assert_eq!(
            parse_html("<a href=\"https://x/?a=1&amp;b=2\">l</a>").unwrap(),
            "l"
        );
        assert_eq!(parse_html("&#65;&#x42;&quot;").unwrap(), "AB\"");
        assert_eq!(
            parse_html("<span class=\"tg-spoiler\">s</span>").unwrap(),
            "s"
        );
        assert_eq!(parse_html("<B>x</B>_*'").unwrap(), "x_*'");
    }

    #[test]
    fn html_rejects_what_telegram_rejects() {
        for bad in [
            "<script>x</script>",
            "a < b",
            "a & b",
            "&nbsp;",
            "a > b",
            "<b>x",
            "x</b>",
            "<b><i>x</b></i>",
            "<a>x</a>",
            "<span>x</span>",
            "<b",
            "<b x=\"unterminated>",
            "&#xZZ;",
        ] {
            assert!(parse_html(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}

// ---------------------------------------------------------------------------------------
// FakeHook

/// One request as [`FakeHook`] saw it.
#[derive(Clone, Debug)]
pub struct HookRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HookRequest {
    /// First header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Default)]
struct HookState {
    requests: Vec<HookRequest>,
    fail: VecDeque<u16>,
    hang: bool,
}

/// Records every request to any path and answers `200 ok` (or an injected failure).
pub struct FakeHook {
    state: Arc<Mutex<HookState>>,
    server: Running,
}

impl FakeHook {
    pub fn start() -> FakeHook {
        let state = Arc::new(Mutex::new(HookState::default()));
        let app = Router::new()
            .fallback(hook_handle)
            .with_state(state.clone());
        FakeHook {
            state,
            server: Bound::loopback().serve("fake-hook", app),
        }
    }

    /// `http://127.0.0.1:PORT` (any path is accepted).
    pub fn url(&self) -> String {
        self.server.base.clone()
    }

    pub fn requests(&self) -> Vec<HookRequest> {
        lock(&self.state).requests.clone()
    }

    /// The next `n` requests are answered with `status` (and still recorded).
    pub fn fail_next(&self, n: usize, status: u16) {
        lock(&self.state)
            .fail
            .extend(std::iter::repeat_n(status, n));
    }

    /// From now on, requests are recorded and never answered (a channel that hangs: the
    /// connection stays open until the client gives up).
    pub fn hang(&self) {
        lock(&self.state).hang = true;
    }
}

impl std::fmt::Debug for FakeHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeHook")
            .field("url", &self.server.base)
            .finish_non_exhaustive()
    }
}

async fn hook_handle(State(state): State<Arc<Mutex<HookState>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return respond(413, "text/plain", "Payload Too Large"),
    };
    let req = HookRequest {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    let (fail, hang) = {
        let mut st = lock(&state);
        st.requests.push(req);
        (st.fail.pop_front(), st.hang)
    };
    if hang {
        std::future::pending::<()>().await;
    }
    match fail {
        Some(s) => respond(s, "text/plain", format!("injected failure {s}")),
        None => respond(200, "application/json", "{\"ok\":true}"),
    }
}
