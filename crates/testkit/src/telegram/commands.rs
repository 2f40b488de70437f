//! A bot's command menu on the fake Bot API (`setMyCommands`, `deleteMyCommands`,
//! `getMyCommands`), `deleteWebhook`, and the `bot_command` entity Telegram puts on a message
//! that starts with a command: what a chat app such as OpenClaw's Telegram channel calls when it
//! starts, and what its command handlers look for in an update.
//!
//! What Telegram requires, and so what this fake refuses (docs/telegram.md, "Command menus"):
//!
//! * A `BotCommand` is `{"command", "description"}`: `command` 1–32 characters of lowercase
//!   English letters, digits and underscores, `description` 1–256 characters. Anything else is
//!   `400 Bad Request: BOT_COMMAND_INVALID`; a command without one of the fields is `Bad
//!   Request: can't parse BotCommand: …`. At most 100 commands: more is `400 Bad Request:
//!   BOT_COMMANDS_TOO_MUCH`.
//! * `scope` is a `BotCommandScope` (JSON): `default` when absent, or one of `all_private_chats`,
//!   `all_group_chats`, `all_chat_administrators`, `chat` and `chat_administrators` (with a
//!   `chat_id`), `chat_member` (with a `chat_id` and a `user_id`). `language_code` is a
//!   two-letter code or empty. Each (scope, language) keeps its own list.
//! * `deleteMyCommands` empties the list of that scope and language; `getMyCommands` answers
//!   it (an empty array when none was set). All three answer `true` / the list.
//! * `deleteWebhook` removes the webhook (`getUpdates` works again) and answers `true`.

use std::collections::HashMap;

use axum::response::Response;
use serde_json::{Value, json};

use super::{FakeTelegram, Params, TgShared, lock, ok_result, text_param};

/// Telegram's limit on the commands of one list.
const MAX_COMMANDS: usize = 100;
const MAX_COMMAND: usize = 32;
const MAX_DESCRIPTION: usize = 256;

/// One entry of a bot's command menu.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BotCommand {
    pub command: String,
    pub description: String,
}

/// The menus set on the bot: per scope (its canonical JSON) and language code (`""`: all).
#[derive(Default)]
pub(super) struct Menus {
    lists: HashMap<(String, String), Vec<BotCommand>>,
}

impl FakeTelegram {
    /// The command menu set for `scope` (`{"type": "default"}`, `{"type": "all_group_chats"}`,
    /// …) and `language_code` (`""` for every language), as a chat app shows it; empty when none
    /// was set.
    pub fn commands(&self, scope: &Value, language_code: &str) -> Vec<BotCommand> {
        let Ok(key) = scope_key(Some(&scope.to_string())) else {
            return vec![];
        };
        lock(&self.shared.state)
            .menus
            .lists
            .get(&(key, language_code.to_string()))
            .cloned()
            .unwrap_or_default()
    }
}

/// The scope as a key: its `type` and the ids that type takes, nothing else. `default` when
/// no scope is given.
fn scope_key(raw: Option<&str>) -> Result<String, String> {
    const BAD: &str = "Bad Request: can't parse BotCommandScope JSON object";
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(json!({ "type": "default" }).to_string());
    };
    let v: Value = serde_json::from_str(raw).map_err(|_| BAD.to_string())?;
    let kind = v["type"].as_str().ok_or(BAD)?;
    let id = |name: &str| -> Result<Value, String> {
        match &v[name] {
            Value::Number(n) => Ok(Value::Number(n.clone())),
            Value::String(s) if !s.is_empty() => Ok(Value::String(s.clone())),
            _ => Err(BAD.to_string()),
        }
    };
    let key = match kind {
        "default" | "all_private_chats" | "all_group_chats" | "all_chat_administrators" => {
            json!({ "type": kind })
        }
        "chat" | "chat_administrators" => json!({ "type": kind, "chat_id": id("chat_id")? }),
        "chat_member" => {
            json!({ "type": kind, "chat_id": id("chat_id")?, "user_id": id("user_id")? })
        }
        _ => return Err(BAD.to_string()),
    };
    Ok(key.to_string())
}

/// `language_code`: absent or empty (every language), else two lowercase letters.
fn language(p: &Params) -> Result<String, String> {
    let code = text_param(p, "language_code").unwrap_or("").trim();
    if code.is_empty() || (code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase())) {
        Ok(code.to_string())
    } else {
        Err("Bad Request: invalid language code specified".to_string())
    }
}

fn where_(p: &Params) -> Result<(String, String), String> {
    Ok((scope_key(text_param(p, "scope"))?, language(p)?))
}

fn command_ok(c: &Value) -> Result<BotCommand, String> {
    let (Some(command), Some(description)) = (c["command"].as_str(), c["description"].as_str())
    else {
        let missing = if c["command"].is_string() {
            "description"
        } else {
            "command"
        };
        return Err(format!(
            "Bad Request: can't parse BotCommand: Can't find field \"{missing}\""
        ));
    };
    let command_valid = (1..=MAX_COMMAND).contains(&command.chars().count())
        && command
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let description_valid = (1..=MAX_DESCRIPTION).contains(&description.trim().chars().count());
    if !command_valid || !description_valid {
        return Err("Bad Request: BOT_COMMAND_INVALID".to_string());
    }
    Ok(BotCommand {
        command: command.to_string(),
        description: description.to_string(),
    })
}

/// `setMyCommands` with `commands` (a JSON array), `scope`, `language_code`.
pub(super) fn set_my_commands(sh: &TgShared, p: &Params) -> Response {
    let set = || -> Result<(), String> {
        let raw =
            text_param(p, "commands").ok_or("Bad Request: parameter \"commands\" is required")?;
        let Ok(Value::Array(list)) = serde_json::from_str::<Value>(raw) else {
            return Err("Bad Request: can't parse commands JSON object".to_string());
        };
        if list.len() > MAX_COMMANDS {
            return Err("Bad Request: BOT_COMMANDS_TOO_MUCH".to_string());
        }
        let commands = list.iter().map(command_ok).collect::<Result<Vec<_>, _>>()?;
        let at = where_(p)?;
        let mut st = lock(&sh.state);
        if commands.is_empty() {
            st.menus.lists.remove(&at);
        } else {
            st.menus.lists.insert(at, commands);
        }
        Ok(())
    };
    match set() {
        Ok(()) => ok_result(Value::Bool(true)),
        Err(e) => sh.reject(e),
    }
}

/// `deleteMyCommands` with `scope`, `language_code`.
pub(super) fn delete_my_commands(sh: &TgShared, p: &Params) -> Response {
    match where_(p) {
        Ok(at) => {
            lock(&sh.state).menus.lists.remove(&at);
            ok_result(Value::Bool(true))
        }
        Err(e) => sh.reject(e),
    }
}

/// `getMyCommands` with `scope`, `language_code`: the list, or `[]`.
pub(super) fn get_my_commands(sh: &TgShared, p: &Params) -> Response {
    match where_(p) {
        Ok(at) => {
            let list = lock(&sh.state)
                .menus
                .lists
                .get(&at)
                .cloned()
                .unwrap_or_default();
            ok_result(Value::Array(
                list.into_iter()
                    .map(|c| json!({ "command": c.command, "description": c.description }))
                    .collect(),
            ))
        }
        Err(e) => sh.reject(e),
    }
}

/// `deleteWebhook` (`drop_pending_updates` optional): no webhook any more, `true`.
pub(super) fn delete_webhook(sh: &TgShared, p: &Params) -> Response {
    let drop_pending = text_param(p, "drop_pending_updates").is_some_and(|v| v == "true");
    {
        let mut st = lock(&sh.state);
        st.webhook = false;
        if drop_pending {
            st.updates.clear();
        }
    }
    ok_result(Value::Bool(true))
}

/// The `bot_command` entity of a message that starts with `/command` (optionally
/// `/command@botname`), as Telegram adds it; offsets and lengths in UTF-16 code units.
pub(super) fn entities(text: &str) -> Option<Value> {
    let rest = text.strip_prefix('/')?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '@'))
        .unwrap_or(rest.len());
    if end == 0 {
        return None;
    }
    let length = 1 + rest[..end].encode_utf16().count();
    Some(json!([{ "type": "bot_command", "offset": 0, "length": length }]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_checked_as_telegram_does() {
        let ok = command_ok(&json!({"command": "auth", "description": "Sign in"})).unwrap();
        assert_eq!(ok.command, "auth");
        for bad in [
            json!({"command": "Auth", "description": "x"}),
            json!({"command": "/auth", "description": "x"}),
            json!({"command": "", "description": "x"}),
            json!({"command": "a".repeat(33), "description": "x"}),
            json!({"command": "auth", "description": ""}),
            json!({"command": "auth", "description": "d".repeat(257)}),
        ] {
            assert_eq!(
                command_ok(&bad).unwrap_err(),
                "Bad Request: BOT_COMMAND_INVALID",
                "{bad}"
            );
        }
        assert!(
            command_ok(&json!({"command": "auth"}))
                .unwrap_err()
                .contains("Can't find field \"description\"")
        );
    }

    #[test]
    fn scopes_key_by_type_and_ids() {
        assert_eq!(scope_key(None).unwrap(), r#"{"type":"default"}"#);
        assert_eq!(
            scope_key(Some(r#"{"type":"chat","chat_id":5,"extra":1}"#)).unwrap(),
            r#"{"chat_id":5,"type":"chat"}"#
        );
        assert!(scope_key(Some(r#"{"type":"chat"}"#)).is_err());
        assert!(scope_key(Some(r#"{"type":"everyone"}"#)).is_err());
    }

    #[test]
    fn a_command_message_carries_its_entity() {
        assert_eq!(
            entities("/auth work"),
            Some(json!([{"type": "bot_command", "offset": 0, "length": 5}]))
        );
        assert_eq!(
            entities("/start@fake_bot"),
            Some(json!([{"type": "bot_command", "offset": 0, "length": 15}]))
        );
        assert_eq!(entities("hello"), None);
        assert_eq!(entities("/ x"), None);
    }
}
