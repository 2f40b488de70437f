//! The fake Bot API and the hook recorder, over real HTTP, with a raw HTTP/1.1 client.

use crate::http::{Resp, request};
use serde_json::{Value, json};
use sidekey_testkit::{FakeHook, FakeTelegram, TgFault};

const TOKEN: &str = "123456:ABC-def_ghi";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR fake";

fn call(tg: &FakeTelegram, method: &str, body: Value) -> Resp {
    request(
        "POST",
        &format!("{}/bot{TOKEN}/{method}", tg.api_base()),
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

fn description(r: &Resp) -> String {
    r.json()["description"].as_str().unwrap_or("").to_string()
}

fn multipart(fields: &[(&str, &str)], file: Option<(&str, &str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "XyZ-boundary-42";
    let mut b = Vec::new();
    for (k, v) in fields {
        b.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some((name, filename, bytes)) = file {
        b.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: image/png\r\n\r\n"
            )
            .as_bytes(),
        );
        b.extend_from_slice(bytes);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), b)
}

fn post_multipart(tg: &FakeTelegram, method: &str, ct: &str, body: &[u8]) -> Resp {
    request(
        "POST",
        &format!("{}/bot{TOKEN}/{method}", tg.api_base()),
        &[("Content-Type", ct)],
        body,
    )
}

#[test]
fn token_and_method_checks() {
    let tg = FakeTelegram::start(TOKEN);
    let r = request(
        "POST",
        &format!("{}/bot999:wrong/sendMessage", tg.api_base()),
        &[],
        b"",
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"})
    );
    let r = call(&tg, "sendSomething", json!({}));
    assert_eq!(r.status, 404);
    assert_eq!(description(&r), "Not Found");
    let r = call(&tg, "getUpdates", json!({}));
    assert_eq!(r.status, 200);
    let r = call(&tg, "getMe", json!({}));
    assert_eq!(r.json()["result"]["is_bot"], true);
    assert_eq!(
        tg.requests(),
        ["sendMessage", "sendSomething", "getUpdates", "getMe"]
    );
}

#[test]
fn send_message_validation() {
    let tg = FakeTelegram::start(TOKEN);
    let r = call(&tg, "sendMessage", json!({"text": "hi"}));
    assert_eq!(
        (r.status, description(&r)),
        (400, "Bad Request: chat not found".into())
    );
    let r = call(&tg, "sendMessage", json!({"chat_id": "", "text": "hi"}));
    assert_eq!(description(&r), "Bad Request: chat not found");
    let r = call(&tg, "sendMessage", json!({"chat_id": 42, "text": ""}));
    assert_eq!(description(&r), "Bad Request: message text is empty");

    let r = call(
        &tg,
        "sendMessage",
        json!({"chat_id": 42, "text": "<b>R&amp;D</b> &lt;x&gt; &#8212; <code>A_B*C</code>", "parse_mode": "HTML", "protect_content": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["ok"], true);
    let m = &tg.messages()[0];
    assert_eq!(m.chat_id, "42");
    assert_eq!(m.parse_mode.as_deref(), Some("HTML"));
    assert_eq!(m.raw["protect_content"], true);

    for bad in ["R&D", "<script>x</script>", "<b>open", "a > b", "<i>x</b>"] {
        let r = call(
            &tg,
            "sendMessage",
            json!({"chat_id": 42, "text": bad, "parse_mode": "HTML"}),
        );
        assert_eq!(r.status, 400, "{bad}");
        assert!(
            description(&r).starts_with("Bad Request: can't parse entities: "),
            "{bad}: {}",
            description(&r)
        );
    }
    // Without parse_mode the same text is fine.
    let r = call(
        &tg,
        "sendMessage",
        json!({"chat_id": 42, "text": "R&D <script>"}),
    );
    assert_eq!(r.status, 200);

    // The limit counts visible characters.
    let ok = "&amp;".repeat(4096);
    let r = call(
        &tg,
        "sendMessage",
        json!({"chat_id": 42, "text": ok, "parse_mode": "HTML"}),
    );
    assert_eq!(r.status, 200);
    let r = call(
        &tg,
        "sendMessage",
        json!({"chat_id": 42, "text": "x".repeat(4097)}),
    );
    assert_eq!(description(&r), "Bad Request: message is too long");

    // Form bodies and query parameters work too.
    let r = request(
        "POST",
        &format!("{}/bot{TOKEN}/sendMessage?chat_id=7", tg.api_base()),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"text=a%26b",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        tg.messages().last().map(|m| m.text.clone()),
        Some("a&b".into())
    );
    assert_eq!(tg.messages().len(), 4);
    assert_eq!(tg.rejected().len(), 9);
}

#[test]
fn send_photo_multipart() {
    let tg = FakeTelegram::start(TOKEN);
    let (ct, body) = multipart(
        &[
            ("chat_id", "42"),
            ("caption", "<b>QR</b> &amp; code"),
            ("parse_mode", "HTML"),
        ],
        Some(("photo", "qr.png", PNG)),
    );
    let r = post_multipart(&tg, "sendPhoto", &ct, &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let p = &tg.photos()[0];
    assert_eq!(p.bytes, PNG);
    assert_eq!(p.chat_id, "42");
    assert_eq!(p.file_name.as_deref(), Some("qr.png"));
    assert_eq!(p.content_type.as_deref(), Some("image/png"));
    assert_eq!(p.caption.as_deref(), Some("<b>QR</b> &amp; code"));

    let (ct, body) = multipart(&[("chat_id", "42")], None);
    let r = post_multipart(&tg, "sendPhoto", &ct, &body);
    assert_eq!(
        description(&r),
        "Bad Request: there is no photo in the request"
    );
    let (ct, body) = multipart(
        &[("chat_id", "42")],
        Some(("photo", "x.png", b"not an image")),
    );
    let r = post_multipart(&tg, "sendPhoto", &ct, &body);
    assert_eq!(description(&r), "Bad Request: IMAGE_PROCESS_FAILED");
    let (ct, body) = multipart(
        &[
            ("chat_id", "42"),
            ("caption", "a & b"),
            ("parse_mode", "HTML"),
        ],
        Some(("photo", "qr.png", PNG)),
    );
    let r = post_multipart(&tg, "sendPhoto", &ct, &body);
    assert!(description(&r).starts_with("Bad Request: can't parse entities"));
    let long = "c".repeat(1025);
    let (ct, body) = multipart(
        &[("chat_id", "42"), ("caption", &long)],
        Some(("photo", "q.png", PNG)),
    );
    let r = post_multipart(&tg, "sendPhoto", &ct, &body);
    assert_eq!(description(&r), "Bad Request: message caption is too long");
    let r = post_multipart(
        &tg,
        "sendPhoto",
        "multipart/form-data; boundary=zz",
        b"garbage",
    );
    assert_eq!(r.status, 400);

    // A URL instead of an upload.
    let r = call(
        &tg,
        "sendPhoto",
        json!({"chat_id": 42, "photo": "https://x.example/qr.png"}),
    );
    assert_eq!(r.status, 200);
    let p = &tg.photos()[1];
    assert!(p.bytes.is_empty());
    assert_eq!(p.photo_ref.as_deref(), Some("https://x.example/qr.png"));
    assert_eq!(tg.photos().len(), 2);
}

#[test]
fn injected_faults_in_order() {
    let tg = FakeTelegram::start(TOKEN);
    tg.inject([
        TgFault::TooManyRequests { retry_after: 3 },
        TgFault::Status(502),
        TgFault::Status(500),
    ]);
    let body = json!({"chat_id": 1, "text": "x"});
    let r = call(&tg, "sendMessage", body.clone());
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("3"));
    assert_eq!(
        r.json(),
        json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 3", "parameters": {"retry_after": 3}})
    );
    let r = call(&tg, "sendMessage", body.clone());
    assert_eq!(r.status, 502);
    assert!(r.text().contains("<h1>502 Bad Gateway</h1>"));
    let r = call(&tg, "sendMessage", body.clone());
    assert_eq!(
        (r.status, description(&r)),
        (500, "Internal Server Error".into())
    );
    assert_eq!(call(&tg, "sendMessage", body).status, 200);
    assert_eq!(tg.requests().len(), 4);
    assert_eq!(tg.messages().len(), 1);
}

#[test]
fn hook_records_and_fails_on_demand() {
    let hook = FakeHook::start();
    hook.fail_next(1, 503);
    let url = format!("{}/any/path?q=1", hook.url());
    let r = request(
        "PUT",
        &url,
        &[("X-Thing", "v"), ("Content-Type", "text/plain")],
        b"one",
    );
    assert_eq!(r.status, 503);
    let r = request("POST", &url, &[], b"two");
    assert_eq!(r.status, 200);
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "PUT");
    assert_eq!(reqs[0].path, "/any/path");
    assert_eq!(reqs[0].query.as_deref(), Some("q=1"));
    assert_eq!(reqs[0].header("x-thing"), Some("v"));
    assert!(reqs[0].headers.iter().any(|(k, _)| k == "x-thing"));
    assert_eq!(reqs[0].text(), "one");
    assert_eq!(reqs[1].body, b"two");
}

/// What a person's and a group's messages look like in `getUpdates`, as in the Bot API's
/// `Message` and `Chat`: a person's private chat has their user id, `first_name` and (when they
/// have one) `username`; a group's chat is `type` `group` with a negative id and a `title`, the
/// sender in `from`. `getChat` knows both afterwards.
#[test]
fn people_and_groups_write_to_the_bot() {
    let tg = FakeTelegram::start(TOKEN);
    tg.user_with_username_sends(4242, "Ada", "ada", "/start");
    tg.group_sends(-100123, "Family", 666, "Mallory", "/start@fake_bot");
    let r = call(&tg, "getUpdates", json!({"offset": 0}));
    let updates = r.json()["result"].as_array().unwrap().clone();
    assert_eq!(updates.len(), 2, "{updates:?}");
    let ada = &updates[0]["message"];
    assert_eq!(
        ada["chat"],
        json!({"id": 4242, "first_name": "Ada", "username": "ada", "type": "private"})
    );
    assert_eq!(ada["from"]["username"], "ada");
    assert_eq!(ada["text"], "/start");
    let group = &updates[1]["message"];
    assert_eq!(
        group["chat"],
        json!({"id": -100123, "title": "Family", "type": "group"})
    );
    assert_eq!(group["from"]["id"], 666);
    assert_eq!(group["from"]["first_name"], "Mallory");
    assert!(updates[1]["update_id"].as_i64() > updates[0]["update_id"].as_i64());
    for id in [4242, -100123] {
        let r = call(&tg, "getChat", json!({"chat_id": id}));
        assert_eq!(r.status, 200, "{id}: {}", description(&r));
        assert_eq!(r.json()["result"]["id"], id);
    }
    let r = call(&tg, "getChat", json!({"chat_id": 777}));
    assert_eq!(description(&r), "Bad Request: chat not found");
}

/// `requests_at` gives when each call arrived: a long poll is timed when it began waiting, not
/// when it answered (a benchmark checks by it that a press woke a poll already waiting).
#[test]
fn calls_are_timed_when_they_arrive() {
    let tg = FakeTelegram::start(TOKEN);
    let sent = std::time::Instant::now();
    let r = call(&tg, "getUpdates", json!({"timeout": 1}));
    let answered = std::time::Instant::now();
    assert_eq!(r.status, 200, "{}", r.text());
    let at = tg.requests_at();
    assert_eq!(at.len(), 1, "{at:?}");
    assert_eq!(at[0].1, "getUpdates");
    assert!(
        at[0].0 >= sent && at[0].0 + std::time::Duration::from_secs(1) <= answered,
        "arrived {:?} after sending, answered {:?} after sending",
        at[0].0 - sent,
        answered - sent
    );
}

/// A chat app's start (OpenClaw's Telegram channel): the webhook cleared, command menus per scope
/// set, read back and deleted with Telegram's rules and refusals, and a command message carrying
/// its `bot_command` entity.
#[test]
fn command_menus_and_a_chat_apps_start() {
    use sidekey_testkit::BotCommand;
    let tg = FakeTelegram::start(TOKEN);
    tg.webhook_set();
    assert_eq!(call(&tg, "getUpdates", json!({})).status, 409);
    let r = call(&tg, "deleteWebhook", json!({"drop_pending_updates": false}));
    assert_eq!(r.json(), json!({"ok": true, "result": true}));
    assert_eq!(call(&tg, "getUpdates", json!({})).status, 200);

    let groups = json!({"type": "all_group_chats"});
    let auth = json!({"command": "auth", "description": "sidekey sign-ins"});
    let help = json!({"command": "help", "description": "Show available commands."});
    let r = call(&tg, "setMyCommands", json!({"commands": [help, auth]}));
    assert_eq!(r.json(), json!({"ok": true, "result": true}));
    let r = call(
        &tg,
        "setMyCommands",
        json!({"commands": [auth], "scope": groups}),
    );
    assert_eq!(r.status, 200, "{}", description(&r));
    let entry = |c: &str, d: &str| BotCommand {
        command: c.into(),
        description: d.into(),
    };
    assert_eq!(
        tg.commands(&json!({"type": "default"}), ""),
        [
            entry("help", "Show available commands."),
            entry("auth", "sidekey sign-ins")
        ]
    );
    assert_eq!(
        tg.commands(&groups, ""),
        [entry("auth", "sidekey sign-ins")]
    );
    assert_eq!(tg.commands(&groups, "de"), []);
    let r = call(&tg, "getMyCommands", json!({"scope": groups}));
    assert_eq!(r.json()["result"], json!([auth]));

    for (commands, said) in [
        (
            json!([{"command": "Auth", "description": "x"}]),
            "Bad Request: BOT_COMMAND_INVALID",
        ),
        (
            json!([{"command": "/auth", "description": "x"}]),
            "Bad Request: BOT_COMMAND_INVALID",
        ),
        (
            json!([{"command": "auth", "description": ""}]),
            "Bad Request: BOT_COMMAND_INVALID",
        ),
        (
            json!([{"command": "auth"}]),
            "Bad Request: can't parse BotCommand: Can't find field \"description\"",
        ),
        (
            Value::Array(
                (0..101)
                    .map(|i| json!({"command": format!("c{i}"), "description": "x"}))
                    .collect(),
            ),
            "Bad Request: BOT_COMMANDS_TOO_MUCH",
        ),
    ] {
        let r = call(&tg, "setMyCommands", json!({"commands": commands}));
        assert_eq!((r.status, description(&r)), (400, said.to_string()));
    }
    let r = call(
        &tg,
        "setMyCommands",
        json!({"commands": [auth], "scope": {"type": "chat"}}),
    );
    assert_eq!(r.status, 400, "a chat scope needs its chat_id");
    // Refused calls changed nothing.
    assert_eq!(tg.commands(&groups, "").len(), 1);

    let r = call(&tg, "deleteMyCommands", json!({"scope": groups}));
    assert_eq!(r.json(), json!({"ok": true, "result": true}));
    assert_eq!(tg.commands(&groups, ""), []);
    assert_eq!(
        call(&tg, "getMyCommands", json!({"scope": groups})).json()["result"],
        json!([])
    );
    assert_eq!(tg.commands(&json!({"type": "default"}), "").len(), 2);

    tg.user_sends(4242, "Ada", "/auth work status");
    tg.user_sends(4242, "Ada", "hello /auth");
    let r = call(&tg, "getUpdates", json!({"offset": 0}));
    let updates = r.json()["result"].as_array().unwrap().clone();
    assert_eq!(
        updates[0]["message"]["entities"],
        json!([{"type": "bot_command", "offset": 0, "length": 5}])
    );
    assert!(updates[1]["message"].get("entities").is_none());
}
