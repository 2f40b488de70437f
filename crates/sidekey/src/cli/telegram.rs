//! `sidekey telegram setup` and `sidekey notify test`: Telegram in two commands.
//!
//! The set-up takes the bot token (a file, `TELEGRAM_BOT_TOKEN`, a prompt without echo, or
//! standard input — never an argument, which would land in the shell's history), asks the Bot
//! API who the bot is (`getMe`), waits for the person to send `/start` to it (`getUpdates`, long
//! polling, bounded, Ctrl-C clean), writes the token to a file of its own (0600) in sidekey's home
//! (where the vault lives, not next to the config, whose folder is often a dotfiles repository)
//! and records that file and the chat id in the config, keeping every other line of it, then
//! sends a test message.
//!
//! Whoever sends `/start` to the bot becomes the chat that receives sign-in codes, so the set-up
//! keeps listening for [`SETTLE`] after the first one: when more than one chat sent it, nothing
//! is recorded and the chats are listed, to run again with `--chat-id` (which takes only that
//! chat's `/start`). The chat recorded is said on stderr ("codes will go to: …").
//!
//! It polls, so the bot must be sidekey's own: `getUpdates` allows one poller per bot, and
//! OpenClaw's Telegram channel polls its bot (docs/telegram.md, "One poller per bot").

use crate::config::{Config, parse_duration};
use crate::context::{Context, default_config_path, default_home};
use crate::error::{Exit, Failure, Reason};
use sidekey_flow::Secret;
use sidekey_notify::bot::{Bot, Chat};
use sidekey_notify::{DEFAULT_TELEGRAM_API, TelegramConfig};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The token file the set-up writes, in sidekey's home.
const TOKEN_FILE: &str = "telegram-bot-token";

/// How long the set-up keeps listening after the first `/start`, for another chat's.
const SETTLE: Duration = Duration::from_secs(5);

fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// The bot token: `--token-file`, `TELEGRAM_BOT_TOKEN`, a prompt without echo on a terminal, or
/// the first line of standard input.
fn read_token(file: Option<&Path>) -> Result<Secret, Failure> {
    let text = if let Some(p) = file {
        std::fs::read_to_string(p).map_err(|e| {
            Failure::usage(format!(
                "cannot read the bot token file {}: {e}",
                p.display()
            ))
        })?
    } else if let Some(t) = crate::env::text(crate::env::TELEGRAM_BOT_TOKEN) {
        t
    } else if std::io::stdin().is_terminal() {
        prompt_hidden(
            "Bot token (from @BotFather; a bot of sidekey's own, not OpenClaw's; not shown): ",
        )?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| Failure::usage(format!("cannot read the bot token from stdin: {e}")))?;
        line
    };
    let t = text.trim();
    if t.is_empty() {
        return Err(Failure::usage(
            "no bot token: pass --token-file FILE, set TELEGRAM_BOT_TOKEN, or type it when asked (@BotFather → /newbot gives one)",
        ));
    }
    Ok(Secret::new(t))
}

/// Ask on stderr and read a line from the terminal with echo off (restored afterwards, also
/// when the read fails).
fn prompt_hidden(question: &str) -> Result<String, Failure> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let before =
        tcgetattr(&stdin).map_err(|e| Failure::usage(format!("cannot read the terminal: {e}")))?;
    let mut quiet = before.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    tcsetattr(&stdin, OptionalActions::Now, &quiet)
        .map_err(|e| Failure::usage(format!("cannot turn off the terminal's echo: {e}")))?;
    let mut line = String::new();
    let read = stdin.read_line(&mut line);
    let _ = tcsetattr(&stdin, OptionalActions::Now, &before);
    read.map_err(|e| Failure::usage(format!("cannot read the bot token: {e}")))?;
    Ok(line)
}

/// Ask a yes/no question on the terminal (default yes).
fn confirm(question: &str) -> bool {
    eprint!("{question} [Y/n] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return false;
    }
    !matches!(line.trim().to_ascii_lowercase().as_str(), "n" | "no")
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

/// A chat as the person would recognise it, with its id: "Ada (@ada, id 4242)".
fn who(chat: &Chat) -> String {
    let one_line = sidekey_flow::response::one_line;
    let name = chat
        .first_name
        .as_deref()
        .or(chat.title.as_deref())
        .map(|n| one_line(n, 60));
    let mut tags = vec![];
    if let Some(u) = chat.username.as_deref() {
        tags.push(format!("@{}", one_line(u, 40)));
    }
    tags.push(format!("id {}", chat.id));
    match name {
        Some(n) => format!("{n} ({})", tags.join(", ")),
        None => tags.join(", "),
    }
}

/// `sidekey telegram setup [--token-file FILE] [--wait 5m] [--chat-id ID]`.
pub async fn setup(
    token_file: Option<&Path>,
    wait: &str,
    only: Option<i64>,
) -> Result<(), Failure> {
    let wait = parse_duration(&toml::Value::String(wait.to_string()))
        .filter(|d| !d.is_zero())
        .ok_or_else(|| Failure::usage(format!("--wait '{wait}': use a duration like 5m or 300")))?;
    if let Some(id) = only
        && id <= 0
    {
        return Err(Failure::usage(format!(
            "--chat-id {id}: codes go to a person, whose chat id is their user id, a positive number (a group's is negative); a refused set-up lists the chats that sent /start with their ids"
        )));
    }
    let path = default_config_path()?;
    let home = default_home()?;
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(Failure::config(format!(
                "cannot read config {}: {e}",
                path.display()
            )));
        }
    };
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        Failure::config(format!(
            "{} is not valid TOML ({}): fix it first, then run `sidekey telegram setup` again",
            path.display(),
            sidekey_flow::response::one_line(e.message(), 200)
        ))
    })?;
    // The API the config already names (a Bot API server of one's own, or a test's fake).
    let api_base = match doc
        .get("notify")
        .and_then(|n| n.get("telegram"))
        .and_then(|t| t.get("api_base"))
        .and_then(|a| a.as_str())
    {
        Some(a) => sidekey_flow::provider::endpoint_url(a)
            .map_err(|e| Failure::config(format!("[notify.telegram] api_base: {e}")))?
            .to_string()
            .trim_end_matches('/')
            .to_string(),
        None => DEFAULT_TELEGRAM_API.to_string(),
    };

    say(
        "Telegram set-up. Use a bot of sidekey's own (@BotFather → /newbot), never the one OpenClaw uses: this set-up reads the bot's messages, and a bot has only one reader.",
    );
    let token = read_token(token_file)?;
    let http = sidekey_flow::Http::new(sidekey_flow::HttpOptions::default())
        .map_err(Failure::from_flow)?;
    let mut tg = TelegramConfig {
        bot_token: token.expose().to_string(),
        chat_id: String::new(),
        api_base,
    };
    let me = Bot::new(http.client(), &tg)
        .get_me()
        .await
        .map_err(|e| crate::error::telegram_failure(e, None))?;
    let username = me.username.clone().unwrap_or_default();
    let bot = Bot::new(http.client(), &tg);
    // Only a /start sent from now on counts: what the bot received before is confirmed away.
    let mut offset = match bot.get_updates(-1, Duration::ZERO).await {
        Ok(u) => u.last().map(|u| u.update_id + 1).unwrap_or(0),
        Err(e) => return Err(crate::error::telegram_failure(e, Some(&username))),
    };
    let from = only
        .map(|id| format!(" from chat {id}"))
        .unwrap_or_default();
    say(&format!(
        "Bot: @{username}. Open https://t.me/{username} on your phone and send /start{from} (waiting up to {}; Ctrl-C stops, nothing is written).",
        human(wait)
    ));
    let chat = wait_for_start(&bot, &mut offset, wait, &username, only).await?;
    // Confirm the /start, so it is not handed out again (best effort).
    let _ = bot.get_updates(offset, Duration::ZERO).await;
    if std::io::stdin().is_terminal()
        && !confirm(&format!(
            "/start came from {} (chat {}). Send sign-in codes there?",
            chat.describe(),
            chat.id
        ))
    {
        return Err(Failure::new(
            Exit::Declined,
            Reason::Declined,
            "not recorded: run `sidekey telegram setup` again and send /start from your own account",
        ));
    }
    say(&format!(
        "/start from {} (chat {}).",
        chat.describe(),
        chat.id
    ));

    let (written, old) = record(&path, &home, &mut doc, &token, chat.id)?;
    say(&format!(
        "Recorded in {}: chat_id = {}, bot_token_file = \"{}\" (mode 0600).",
        path.display(),
        chat.id,
        written.display()
    ));
    eprintln!("codes will go to: {}", who(&chat));
    if let Some(old) = old {
        eprintln!(
            "note: {} (the bot token, where an earlier set-up wrote it, next to the config) is no longer used: delete it, and if that folder is a git repository (dotfiles), check it was never committed",
            old.display()
        );
    }
    tg.chat_id = chat.id.to_string();
    let channels = sidekey_notify::Channels::new(http.client().clone(), Some(tg), None, None);
    let delivered = channels
        .send_test(&format!(
            "✅ sidekey will send sign-in codes for this machine here (set up by `sidekey telegram setup` for @{username})."
        ))
        .await;
    for d in delivered {
        if let Err(e) = d.result {
            return Err(Failure::new(
                Exit::Provider,
                Reason::ProviderError,
                format!("recorded, but the test message failed: {e}; try `sidekey notify test`"),
            ));
        }
    }
    say(
        "Test message sent: check Telegram. `sidekey notify test` sends another; `sidekey doctor` checks the bot and the chat.",
    );
    Ok(())
}

/// The private chat an update's `/start` came from (a group's, a channel's or any other text
/// is not one).
fn start_from(u: sidekey_notify::bot::Update) -> Option<Chat> {
    let m = u.message?;
    let text = m.text.as_deref()?.trim();
    let start = text == "/start" || text.starts_with("/start ") || text.starts_with("/start@");
    (m.chat.kind == "private" && start).then_some(m.chat)
}

/// Long-poll until a private chat sends `/start`, `wait` at most, then [`SETTLE`] longer for
/// another chat's: one chat is the answer, several are refused (listed, to pick one with
/// `--chat-id`). With `only`, the first `/start` of that chat is the answer and other chats'
/// are ignored (and said so). The same chat twice is one chat. Ctrl-C stops.
async fn wait_for_start(
    bot: &Bot<'_>,
    offset: &mut i64,
    wait: Duration,
    username: &str,
    only: Option<i64>,
) -> Result<Chat, Failure> {
    let mut interrupt = crate::signals::Signal::catch(crate::signals::SIGINT)
        .map_err(|e| Failure::internal(format!("cannot watch for Ctrl-C: {e}")))?;
    let deadline = Instant::now() + wait;
    let mut starters: Vec<Chat> = vec![];
    let mut ignored: Vec<i64> = vec![];
    let mut settle_until: Option<Instant> = None;
    loop {
        let left = settle_until
            .unwrap_or(deadline)
            .saturating_duration_since(Instant::now());
        if left.is_zero() && starters.len() == 1 {
            return Ok(starters.remove(0));
        }
        if left.is_zero() && starters.len() > 1 {
            let list: Vec<String> = starters.iter().map(who).collect();
            return Err(Failure::new(
                Exit::Declined,
                Reason::Declined,
                format!(
                    "{} chats sent /start to @{username}, so nothing was written (sign-in codes go to one person): run `sidekey telegram setup --chat-id ID` with your own chat's id and send /start again, any other chat's /start is then ignored. The chats: {}",
                    starters.len(),
                    list.join(", ")
                ),
            ));
        }
        if left.is_zero() {
            return Err(Failure::new(
                Exit::Declined,
                Reason::Expired,
                format!(
                    "no /start reached @{username} within {}: nothing was written; run `sidekey telegram setup` again and send /start to the bot",
                    human(wait)
                ),
            ));
        }
        let poll = left.min(Duration::from_secs(25));
        let updates = tokio::select! {
            r = bot.get_updates(*offset, poll) => r.map_err(|e| crate::error::telegram_failure(e, Some(username)))?,
            _ = interrupt.recv() => {
                return Err(Failure::new(
                    Exit::Declined,
                    Reason::Interrupted,
                    "stopped: nothing was written",
                ));
            }
        };
        if updates.is_empty() && poll < Duration::from_secs(1) {
            tokio::time::sleep(poll).await;
        }
        for u in updates {
            *offset = (*offset).max(u.update_id + 1);
            let Some(chat) = start_from(u) else { continue };
            if let Some(id) = only
                && chat.id != id
            {
                if !ignored.contains(&chat.id) {
                    ignored.push(chat.id);
                    eprintln!(
                        "ignored: /start from {}, not chat {id} (--chat-id)",
                        who(&chat)
                    );
                }
                continue;
            }
            if !starters.iter().any(|c| c.id == chat.id) {
                starters.push(chat);
            }
        }
        if only.is_some() && !starters.is_empty() {
            return Ok(starters.remove(0));
        }
        if settle_until.is_none() && !starters.is_empty() {
            settle_until = Some(Instant::now() + SETTLE);
            say(&format!(
                "/start from {}; listening {} more for a /start from another chat.",
                who(&starters[0]),
                human(SETTLE)
            ));
        }
    }
}

/// Write the token to its own file (0600) in sidekey's home (0700, where the vault lives) and
/// record that file, by its full path, and the chat in `[notify.telegram]`, keeping the rest of
/// the config as it was. The new config is checked as every command will read it before it
/// replaces the old one. Not next to the config: its folder is often a symlink into a dotfiles
/// repository, where a secret would be one `git add` from being published. Also returns the
/// token file the config named before, when it is another file that exists (an earlier
/// set-up's, next to the config), for the person to delete.
fn record(
    path: &Path,
    home: &Path,
    doc: &mut toml_edit::DocumentMut,
    token: &Secret,
    chat_id: i64,
) -> Result<(PathBuf, Option<PathBuf>), Failure> {
    let dir = path.parent().unwrap_or(Path::new("."));
    sidekey_vault::create_private_dir(dir)?;
    sidekey_vault::create_private_dir(home)?;
    let token_path = std::path::absolute(home.join(TOKEN_FILE)).map_err(|e| {
        Failure::config(format!(
            "cannot locate sidekey's home {}: {e}",
            home.display()
        ))
    })?;
    let token_name = token_path.to_str().ok_or_else(|| {
        Failure::config(format!(
            "sidekey's home {} is not UTF-8, so the config cannot name the token file in it: set SIDEKEY_HOME to another folder",
            token_path.display()
        ))
    })?;
    let old = doc
        .get("notify")
        .and_then(|n| n.get("telegram"))
        .and_then(|t| t.get("bot_token_file"))
        .and_then(|f| f.as_str())
        .map(|f| dir.join(f))
        .filter(|f| {
            f.is_file() && std::fs::canonicalize(f).ok() != std::fs::canonicalize(&token_path).ok()
        });
    let existed = token_path.exists();
    write_private(&token_path, format!("{}\n", token.expose()).as_bytes())?;

    let notify = doc
        .entry("notify")
        .or_insert_with(|| {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            toml_edit::Item::Table(t)
        })
        .as_table_like_mut()
        .ok_or_else(|| Failure::config("`notify` in the config is not a table: fix it first"))?;
    let tg = notify
        .entry("telegram")
        .or_insert(toml_edit::Item::Table(toml_edit::Table::new()))
        .as_table_like_mut()
        .ok_or_else(|| {
            Failure::config("`notify.telegram` in the config is not a table: fix it first")
        })?;
    // No secret stays in the config itself, and the section is on.
    tg.remove("bot_token");
    tg.remove("enabled");
    tg.insert("bot_token_file", toml_edit::value(token_name));
    tg.insert("chat_id", toml_edit::value(chat_id));
    let text = doc.to_string();
    if let Err(f) = Config::parse(path, &text) {
        if !existed {
            let _ = std::fs::remove_file(&token_path);
        }
        return Err(Failure::config(format!(
            "the config has a problem besides Telegram, so nothing was recorded: {}",
            f.message
        )));
    }
    super::config_file::replace(path, &text)?;
    Ok((token_path, old))
}

/// A file only its owner can read, replaced in one rename.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = atomic_write_file::OpenOptions::new();
    opts.mode(0o600);
    let write = || -> std::io::Result<()> {
        let mut f = opts.open(path)?;
        f.write_all(bytes)?;
        f.commit()
    };
    write().map_err(|e| Failure::config(format!("cannot write {}: {e}", path.display())))
}

/// `sidekey notify test`: a test message through every configured channel; exit 5 when one
/// of them failed, 2 when none is configured.
pub async fn notify_test() -> Result<(), Failure> {
    let ctx = Context::from_env()?;
    let channels = ctx.channels()?;
    if channels.is_empty() {
        return Err(Failure::config(format!(
            "no notification channel in {}: `sidekey telegram setup` sets up Telegram ([notify.webhook] and [notify.ntfy] are in docs/config.md)",
            ctx.config.path.display()
        )));
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| sidekey_flow::response::one_line(h.trim(), 60))
        .unwrap_or_default();
    let text = if host.is_empty() {
        "🔔 sidekey test message: sign-in codes will reach you here.".to_string()
    } else {
        format!("🔔 sidekey test message from {host}: sign-in codes will reach you here.")
    };
    let mut failed = vec![];
    for d in channels.send_test(&text).await {
        match d.result {
            Ok(()) => say(&format!("ok    {}", d.channel)),
            Err(e) => {
                say(&format!("FAIL  {e}"));
                failed.push(d.channel);
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            Exit::Provider,
            Reason::ProviderError,
            format!(
                "the test message did not reach: {} (see above; `sidekey doctor` checks the settings)",
                failed.join(", ")
            ),
        ))
    }
}
