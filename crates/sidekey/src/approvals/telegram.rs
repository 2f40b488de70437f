//! The person's phone: approval requests go to `[notify.telegram]`'s bot — sidekey's own, set
//! up with `sidekey telegram setup` — as a message with Approve / Deny buttons, and the presses
//! come back by `getUpdates` long polling on that bot (the transport is
//! `sidekey_notify::approval`).
//!
//! One poller per bot token (Telegram answers a second one `409 Conflict`): per home, the
//! process holding `approvals/poll.lock` polls, and only while a request is open; every other
//! process of the home (the daemon, `sidekey mcp`) watches the store, where the poller writes
//! the decisions. The offset is kept in `approvals/offset`, so a restarted poller does not
//! handle a press twice (and a replayed press would change nothing anyway: the first decision
//! stands). A 409 means another program polls this bot — OpenClaw's Telegram channel, most
//! likely — and is said plainly: give approvals a bot of their own.
//!
//! A press counts only from an approver (`[approvals] telegram_approvers`, else the private
//! chat's user); anyone else's press is answered, refused and audited. Every press is answered
//! (`answerCallbackQuery`), and a decided request's message is edited to show who decided,
//! without its buttons.

use super::outcome::{config, settle_expired};
use super::{Posted, Request, State, Store};
use crate::context::Context;
use crate::error::Failure;
use crate::time::now_unix;
use sidekey_notify::TelegramConfig;
use sidekey_notify::approval::{Button, Incoming, Press};
use sidekey_notify::bot::{Bot, BotError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long one long poll waits for a press.
const LONG_POLL: Duration = Duration::from_secs(20);
/// The button data: a version tag, the request's nonce and the choice.
const DATA_PREFIX: &str = "sk1:";

/// Whether this process runs a poller task now.
static POLLING: AtomicBool = AtomicBool::new(false);
/// Whether presses are being received for this home: this process's poller has polled with
/// `callback_query` in `allowed_updates`, or another process holds the poll lock (it has).
static RECEIVING: AtomicBool = AtomicBool::new(false);

/// Send `req` to the person's Telegram chat with its buttons: the request as rewritten with
/// where it went; `None` without a Telegram channel.
pub async fn post(
    ctx: &Arc<Context>,
    store: &Store,
    req: &Request,
) -> Result<Option<Request>, Failure> {
    let Some(cfg) = config(ctx) else {
        return Ok(None);
    };
    // Telegram keeps only the update kinds the bot's last poll asked for, from that poll on
    // (docs/telegram.md, "Approvals: buttons and one poller"): a press before the first poll
    // asking for callback queries would be lost. Poll first, then send (at most 3 s).
    poll_while_open(ctx);
    let until = std::time::Instant::now() + Duration::from_secs(3);
    while !RECEIVING.load(Ordering::SeqCst) && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let http = ctx.http()?;
    let bot = Bot::new(http.client(), &cfg);
    let rows = vec![vec![
        Button::new("✅ Approve", format!("{DATA_PREFIX}{}:y", req.nonce)),
        Button::new("❌ Deny", format!("{DATA_PREFIX}{}:n", req.nonce)),
    ]];
    let posted = bot
        .send_with_buttons(&req.html, &rows)
        .await
        .map_err(|e| crate::error::telegram_failure(e, None))?;
    let req = store.rewrite(&Request {
        posted: Some(Posted {
            chat_id: posted.chat_id,
            message_id: posted.message_id,
        }),
        ..req.clone()
    })?;
    Ok(Some(req))
}

/// Make sure presses are received while requests are open: start this process's poller unless
/// it runs already (it stops by itself once nothing is open). Without a Telegram channel,
/// nothing: requests are decided at the terminal.
pub fn poll_while_open(ctx: &Arc<Context>) {
    start(ctx, false);
}

/// [`poll_while_open`], polling once even with nothing open: at a start, the presses made
/// while no process polled, on requests that expired meanwhile, are answered ("expired")
/// instead of being left to the spinner on the person's phone.
pub fn poll_once(ctx: &Arc<Context>) {
    start(ctx, true);
}

fn start(ctx: &Arc<Context>, once: bool) {
    let Some(cfg) = config(ctx) else {
        return;
    };
    if POLLING.swap(true, Ordering::SeqCst) {
        return;
    }
    let ctx = ctx.clone();
    tokio::spawn(async move {
        poller(&ctx, &cfg, once).await;
        RECEIVING.store(false, Ordering::SeqCst);
        POLLING.store(false, Ordering::SeqCst);
        // A request filed between the last look and the flag: poll for it too.
        if !Store::new(&ctx.home).open(now_unix()).is_empty() {
            poll_while_open(&ctx);
        }
    });
}

/// The poller: while requests are open (and at least once with `once`), take the home's poll
/// lock and long-poll the bot.
async fn poller(ctx: &Context, cfg: &TelegramConfig, once: bool) {
    let store = Store::new(&ctx.home);
    let Ok(http) = ctx.http() else { return };
    let bot = Bot::new(http.client(), cfg);
    let mut lock: Option<std::fs::File> = None;
    let mut said_conflict = false;
    // The first poll returns at once: it makes the bot receive presses before a message goes out.
    let mut first = true;
    loop {
        settle_expired(ctx, &store).await;
        let now = now_unix();
        let open = store.open(now);
        if open.is_empty() && !(once && first) {
            return;
        }
        if lock.is_none() {
            lock = take_lock(&store);
            if lock.is_none() {
                if open.is_empty() {
                    // The process that polls answers the presses.
                    return;
                }
                // Another process of this home polls: it writes the decisions to the store.
                RECEIVING.store(true, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        }
        let offset = store.offset();
        // A long poll ends by the next expiry, so its message says so when it happens.
        let wait = if first {
            Duration::ZERO
        } else {
            until_next_expiry(&open, now).min(LONG_POLL)
        };
        first = false;
        match bot.poll_presses(offset, wait).await {
            Ok(updates) => {
                RECEIVING.store(true, Ordering::SeqCst);
                said_conflict = false;
                store.clear_conflict();
                let mut next = offset;
                for u in &updates {
                    next = next.max(u.update_id() + 1);
                    if let Incoming::Press(p) = u {
                        handle(ctx, &store, &bot, cfg, p).await;
                    }
                }
                if next != offset {
                    store.set_offset(next);
                }
            }
            Err(BotError::Conflict(d)) => {
                let why = format!(
                    "Telegram says another program polls the approval bot ({d}): OpenClaw's Telegram channel, most likely. Use a separate bot for approvals: @BotFather → /newbot, then `sidekey telegram setup` with that bot's token. Meanwhile approve at the terminal: sidekey approvals"
                );
                if !said_conflict {
                    eprintln!("sidekey: {why}");
                    said_conflict = true;
                }
                store.set_conflict(&why);
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(e) => {
                eprintln!(
                    "sidekey: approvals: Telegram did not answer the poll ({}); trying again in 5 s",
                    crate::error::telegram_failure(e, None).message
                );
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

/// How long until the first of `open` expires (at least a second: an open request has not).
fn until_next_expiry(open: &[Request], now: i64) -> Duration {
    let secs = open.iter().map(|r| r.expires - now).min().unwrap_or(0);
    Duration::from_secs(secs.max(1) as u64)
}

/// The home's poll lock, if free (held until the poller ends).
fn take_lock(store: &Store) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    store.ensure_dir().ok()?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(store.dir().join("poll.lock"))
        .ok()?;
    file.try_lock().ok()?;
    Some(file)
}

/// `sk1:NONCE:y` → (nonce, approved).
fn parse_data(data: &str) -> Option<(&str, bool)> {
    let rest = data.strip_prefix(DATA_PREFIX)?;
    let (nonce, choice) = rest.rsplit_once(':')?;
    super::check_id(nonce).ok()?;
    match choice {
        "y" => Some((nonce, true)),
        "n" => Some((nonce, false)),
        _ => None,
    }
}

/// Who pressed, in words: `@alice (Telegram user 42)`.
fn presser(p: &Press) -> String {
    let name = match &p.from.username {
        Some(u) if !u.is_empty() => format!("@{u}"),
        _ => p.from.first_name.clone(),
    };
    format!("{name} (Telegram user {})", p.from.id)
}

/// One press: decided if it may, answered in every case.
async fn handle(ctx: &Context, store: &Store, bot: &Bot<'_>, cfg: &TelegramConfig, p: &Press) {
    let answer = |text: String, alert: bool| async move {
        if let Err(e) = bot.answer_press(&p.callback_query_id, &text, alert).await {
            eprintln!(
                "sidekey: approvals: could not answer a button press ({})",
                crate::error::telegram_failure(e, None).message
            );
        }
    };
    let Some((nonce, approved)) = parse_data(&p.data) else {
        return answer("This button is not sidekey's.".into(), false).await;
    };
    let Some(req) = store.by_nonce(nonce) else {
        return answer("This request is no longer known.".into(), false).await;
    };
    let by = presser(p);
    let approvers = ctx.config.approvals.approvers(Some(&cfg.chat_id));
    if !approvers.contains(&p.from.id) {
        super::outcome::event(ctx, &req, "refused_press", Some(&by));
        return answer(
            "Only the person sidekey asks may decide this; your press was refused and recorded."
                .into(),
            true,
        )
        .await;
    }
    let text = match super::outcome::decide(ctx, &req, approved, &by).await {
        Ok(None) if approved => "Approved: it runs once.".to_string(),
        Ok(None) => "Denied: nothing runs.".to_string(),
        Ok(Some(State::Expired)) => "This request expired: nothing runs.".to_string(),
        Ok(Some(State::Approved(d) | State::Used(d))) => {
            format!("Already approved by {}.", d.by)
        }
        Ok(Some(State::Denied(d))) => format!("Already denied by {}.", d.by),
        Ok(Some(State::Pending)) => "Not decided; try again.".to_string(),
        Err(f) => format!("sidekey could not record it: {}", f.message),
    };
    answer(text, false).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approvals::ask::{Asked, obtain};
    use crate::catalog::Operation;
    use crate::catalog::google::GoogleOp;
    use crate::config::Config;

    fn until(what: &str, mut done: impl FnMut() -> bool) {
        let end = std::time::Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(
                std::time::Instant::now() < end,
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The whole loop in one process: the request reaches the phone with its buttons, a press
    /// by someone else in the chat is refused and answered, the approver's press lets the
    /// waiting call through, and the message then says who decided, without buttons.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_press_on_the_phone_lets_the_waiting_call_run() {
        let tg = sidekey_testkit::FakeTelegram::start("123:TESTTOKEN");
        tg.user_with_username_sends(42, "Alice", "alice", "/start");
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[notify.telegram]\nbot_token = \"123:TESTTOKEN\"\nchat_id = 42\napi_base = \"{}\"\n[accounts.g]\nprovider = \"google\"\nclient_id = \"x\"\nclient_secret = \"s\"\n[accounts.g.policy]\nask = [\"google.memory.delete\"]\n",
            tg.api_base()
        );
        let path = dir.path().join("config.toml");
        std::fs::write(&path, &text).unwrap();
        let config = Config::parse(&path, &text).unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let ctx = Arc::new(Context::new(home, config));
        let op = Operation::Google(GoogleOp::MemoryDelete {
            key: "<b>k</b>".into(),
        });
        let waiting = {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let account = ctx.config.account("g").unwrap().clone();
                let asked = Asked {
                    approval: None,
                    wait: Some(Duration::from_secs(20)),
                };
                obtain(&ctx, "api:unix", &account, &op, asked).await
            })
        };
        until("the message with buttons", || {
            tg.messages()
                .iter()
                .any(|m| !tg.buttons(m.message_id).is_empty())
        });
        let msg = tg.messages().into_iter().last().unwrap();
        assert!(msg.text.contains("Forget a memory value"), "{}", msg.text);
        assert!(
            msg.text.contains("<b>Key:</b> &lt;b&gt;k&lt;/b&gt;"),
            "the key is escaped: {}",
            msg.text
        );
        // Someone else in the chat (a group member, say) cannot decide.
        let mallory = tg.press_label(msg.message_id, "✅ Approve", 99, Some("mallory"));
        if mallory.is_ok() {
            until("the refusal's answer", || {
                tg.answers()
                    .iter()
                    .any(|a| a.text.as_deref().unwrap_or("").contains("Only the person"))
            });
        }
        tg.press_label(msg.message_id, "✅ Approve", 42, Some("alice"))
            .unwrap();
        let ticket = waiting.await.unwrap().unwrap();
        assert!(
            ticket.decision.by.contains("@alice"),
            "{}",
            ticket.decision.by
        );
        until("the edit", || {
            tg.edits()
                .iter()
                .any(|e| e.text.contains("Approved by @alice"))
        });
        assert!(tg.buttons(msg.message_id).is_empty(), "the buttons stayed");
        let log = std::fs::read_to_string(ctx.home.join("audit.log")).unwrap();
        assert!(!log.contains("TESTTOKEN"), "{log}");
        assert!(log.contains("\"approved\""), "{log}");
    }

    #[test]
    fn button_data_is_ours_or_ignored() {
        assert_eq!(
            parse_data("sk1:abcdefghijklmnopqrst:y"),
            Some(("abcdefghijklmnopqrst", true))
        );
        assert_eq!(
            parse_data("sk1:abcdefghijklmnopqrst:n"),
            Some(("abcdefghijklmnopqrst", false))
        );
        for bad in [
            "sk1:abcdefghijklmnopqrst:x",
            "sk2:abcdefghijklmnopqrst:y",
            "sk1:../../x:y",
            "y",
        ] {
            assert_eq!(parse_data(bad), None, "{bad}");
        }
        // Within Telegram's 64 bytes.
        assert!(format!("{DATA_PREFIX}{}:y", "a".repeat(20)).len() <= 64);
    }
}
