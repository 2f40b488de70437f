//! The fake Bot API's approval buttons, over real HTTP: inline keyboards validated as Telegram
//! does, presses delivered as `callback_query` updates by long polling, one poller per bot,
//! `answerCallbackQuery` once and in time, `editMessageText`, and the phone page.

use std::time::{Duration, Instant};

use crate::http::{Resp, request};
use serde_json::{Value, json};
use sidekey_testkit::{CallbackAnswer, FakeTelegram};

const TOKEN: &str = "123456:ABC-def_ghi";
const ADA: i64 = 4242;

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

fn keyboard(rows: &[&[(&str, &str)]]) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|(t, d)| json!({"text": t, "callback_data": d}))
                .collect()
        })
        .collect();
    json!({ "inline_keyboard": rows })
}

/// Ada started the bot; the bot sends her an approval request with two buttons. Returns its id.
fn approval(tg: &FakeTelegram) -> i64 {
    tg.user_with_username_sends(ADA, "Ada", "ada", "/start");
    let r = call(
        tg,
        "sendMessage",
        json!({
            "chat_id": ADA,
            "text": "Send mail to <b>bob@example.test</b>?",
            "parse_mode": "HTML",
            "reply_markup": keyboard(&[&[("Approve", "a:k1"), ("Deny", "d:k1")]]),
        }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["result"]["message_id"].as_i64().unwrap()
}

/// Every update waiting, confirmed afterwards (the next call's offset is past them).
fn drain(tg: &FakeTelegram) -> Vec<Value> {
    let r = call(tg, "getUpdates", json!({"timeout": 0}));
    let updates = r.json()["result"].as_array().cloned().unwrap_or_default();
    if let Some(last) = updates.last() {
        let next = last["update_id"].as_i64().unwrap() + 1;
        call(tg, "getUpdates", json!({"offset": next, "timeout": 0}));
    }
    updates
}

#[test]
fn send_message_validates_the_inline_keyboard_as_telegram_does() {
    let tg = FakeTelegram::start(TOKEN);
    let send = |markup: Value| {
        call(
            &tg,
            "sendMessage",
            json!({"chat_id": ADA, "text": "ok?", "reply_markup": markup}),
        )
    };
    // 64 bytes is the limit, in bytes: 32 two-byte characters fit, 33 do not.
    let r = send(keyboard(&[
        &[("Approve", &"é".repeat(32))],
        &[("Deny", &"x".repeat(64))],
    ]));
    assert_eq!(r.status, 200, "{}", r.text());
    let result = &r.json()["result"];
    assert_eq!(result["chat"]["id"], ADA, "a numeric chat id, as Telegram");
    assert_eq!(
        result["reply_markup"]["inline_keyboard"][1][0]["text"],
        "Deny"
    );
    let sent = &tg.messages()[0];
    assert_eq!(
        sent.reply_markup.as_ref().unwrap()["inline_keyboard"][0][0]["callback_data"],
        "é".repeat(32)
    );
    assert_eq!(
        tg.buttons(sent.message_id),
        [
            vec![("Approve".to_string(), "é".repeat(32))],
            vec![("Deny".to_string(), "x".repeat(64))]
        ]
    );

    let unallowed = "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard";
    let rows = "Bad Request: field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array of Arrays";
    for (markup, want) in [
        (
            keyboard(&[&[("A", &"é".repeat(33))]]),
            "Bad Request: BUTTON_DATA_INVALID",
        ),
        (
            keyboard(&[&[("A", &"x".repeat(65))]]),
            "Bad Request: BUTTON_DATA_INVALID",
        ),
        (keyboard(&[&[("A", "")]]), unallowed),
        (json!({"inline_keyboard": [[{"text": "A"}]]}), unallowed),
        (
            keyboard(&[&[("", "a")]]),
            "Bad Request: BUTTON_TEXT_INVALID",
        ),
        (
            keyboard(&[&[("  ", "a")]]),
            "Bad Request: BUTTON_TEXT_INVALID",
        ),
        (
            json!({"inline_keyboard": [[{"text": 5, "callback_data": "a"}]]}),
            "Bad Request: can't parse inline keyboard button: Field \"text\" must be of type String",
        ),
        (
            json!({"inline_keyboard": [[{"text": "A", "callback_data": 7}]]}),
            "Bad Request: can't parse inline keyboard button: Field \"callback_data\" must be of type String",
        ),
        (
            json!({"inline_keyboard": [["A"]]}),
            "Bad Request: can't parse inline keyboard button: InlineKeyboardButton must be an Object",
        ),
        (
            json!({"inline_keyboard": [{"text": "A", "callback_data": "a"}]}),
            rows,
        ),
        (json!({"inline_keyboard": "A"}), rows),
        (Value::Null, "Bad Request: object expected as reply markup"),
        (json!([1]), "Bad Request: object expected as reply markup"),
        (
            json!({"inline": []}),
            "Bad Request: can't parse reply keyboard markup JSON object",
        ),
    ] {
        let r = send(markup.clone());
        assert_eq!(
            (r.status, description(&r)),
            (400, want.to_string()),
            "{markup}"
        );
    }
    // Not JSON at all (form bodies carry the markup as a JSON string).
    let r = request(
        "POST",
        &format!("{}/bot{TOKEN}/sendMessage", tg.api_base()),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"chat_id=4242&text=x&reply_markup=%7Bnope",
    );
    assert_eq!(
        description(&r),
        "Bad Request: can't parse reply keyboard markup JSON object"
    );
    // A URL button is real Telegram, but not what sidekey sends: refused too.
    let r = send(json!({"inline_keyboard": [[{"text": "A", "url": "https://x.test"}]]}));
    assert_eq!(r.status, 400);
    assert_eq!(tg.messages().len(), 1, "refused messages are not sent");

    // As a form parameter the keyboard is a JSON string; an empty keyboard is no keyboard.
    let form = serde_urlencoded::to_string([
        ("chat_id", "4242"),
        ("text", "plain"),
        ("reply_markup", &keyboard(&[&[("Go", "g")]]).to_string()),
    ])
    .unwrap();
    let r = request(
        "POST",
        &format!("{}/bot{TOKEN}/sendMessage", tg.api_base()),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(tg.buttons(2), [vec![("Go".to_string(), "g".to_string())]]);
    let r = send(json!({"inline_keyboard": []}));
    assert_eq!(r.status, 200);
    assert!(tg.messages()[2].reply_markup.is_none());
}

#[test]
fn a_press_arrives_as_a_callback_query_in_telegrams_form() {
    let tg = FakeTelegram::start(TOKEN);
    let id = approval(&tg);
    drain(&tg);
    let query = tg.press_label(id, "Approve", ADA, Some("ada")).unwrap();
    let updates = drain(&tg);
    assert_eq!(updates.len(), 1, "{updates:?}");
    let u = &updates[0];
    assert!(u["update_id"].as_i64().is_some());
    let q = &u["callback_query"];
    assert_eq!(q["id"], query.as_str());
    assert!(q["id"].is_string(), "callback query ids are strings");
    assert_eq!(
        q["from"],
        json!({"id": ADA, "is_bot": false, "first_name": "Ada", "username": "ada"})
    );
    assert_eq!(q["data"], "a:k1");
    assert!(q["chat_instance"].as_str().is_some_and(|c| !c.is_empty()));
    let m = &q["message"];
    assert_eq!(m["message_id"], id);
    assert_eq!(m["chat"]["id"], ADA);
    assert_eq!(m["chat"]["type"], "private");
    assert_eq!(m["from"]["is_bot"], true);
    assert!(m["date"].as_i64().is_some_and(|d| d > 1_700_000_000));
    // The bot gets the text without markup, and the keyboard the person saw.
    assert_eq!(m["text"], "Send mail to bob@example.test?");
    assert_eq!(
        m["reply_markup"]["inline_keyboard"][0][1]["callback_data"],
        "d:k1"
    );

    // Without a username the field is absent, as in Telegram.
    tg.press(id, "d:k1", ADA, None).unwrap();
    let q = &drain(&tg)[0]["callback_query"];
    assert!(q["from"].get("username").is_none(), "{q}");
    assert_ne!(q["id"], query.as_str(), "each press is its own query");
}

#[test]
fn presses_a_phone_cannot_make_are_refused() {
    let tg = FakeTelegram::start(TOKEN);
    let id = approval(&tg);
    drain(&tg);
    let err = tg.press(id, "x:other", ADA, None).unwrap_err();
    assert!(err.contains("no button"), "{err}");
    let err = tg.press_label(id, "Maybe", ADA, None).unwrap_err();
    assert!(err.contains("no button labelled"), "{err}");
    let err = tg.press(id + 100, "a:k1", ADA, None).unwrap_err();
    assert!(err.contains("no text message"), "{err}");
    // Someone else cannot see Ada's private chat.
    let err = tg.press(id, "a:k1", 666, Some("mallory")).unwrap_err();
    assert!(err.contains("cannot see"), "{err}");
    // Once an edit removed the keyboard, its buttons are gone.
    let r = call(
        &tg,
        "editMessageText",
        json!({"chat_id": ADA, "message_id": id, "text": "Approved."}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(tg.buttons(id).is_empty());
    let err = tg.press(id, "a:k1", ADA, None).unwrap_err();
    assert!(err.contains("no button"), "{err}");
    assert!(drain(&tg).is_empty(), "no refused press became an update");

    // In a group, any member may press.
    tg.group_sends(-100123, "Family", 666, "Mallory", "hi");
    let r = call(
        &tg,
        "sendMessage",
        json!({"chat_id": -100123, "text": "ok?", "reply_markup": keyboard(&[&[("Yes", "y")]])}),
    );
    let group_msg = r.json()["result"]["message_id"].as_i64().unwrap();
    tg.press(group_msg, "y", 666, None).unwrap();
    let q = &drain(&tg).last().unwrap()["callback_query"].clone();
    assert_eq!(q["message"]["chat"]["id"], -100123);
    assert_eq!(q["from"]["first_name"], "User");
}

/// The property that makes press → action fast: a waiting `getUpdates` answers as soon as the
/// press arrives, not when its timeout ends.
#[test]
fn a_waiting_long_poll_answers_as_soon_as_the_button_is_pressed() {
    let tg = FakeTelegram::start(TOKEN);
    let id = approval(&tg);
    drain(&tg);
    let base = tg.api_base();
    let poller = std::thread::spawn(move || {
        let started = Instant::now();
        let r = request(
            "POST",
            &format!("{base}/bot{TOKEN}/getUpdates"),
            &[("Content-Type", "application/json")],
            json!({"timeout": 10, "allowed_updates": ["callback_query", "message"]})
                .to_string()
                .as_bytes(),
        );
        (started.elapsed(), r)
    });
    std::thread::sleep(Duration::from_millis(300));
    let pressed = Instant::now();
    tg.press(id, "a:k1", ADA, None).unwrap();
    let (waited, r) = poller.join().unwrap();
    let after_press = pressed.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["result"][0]["callback_query"]["data"], "a:k1");
    assert!(
        waited >= Duration::from_millis(250),
        "it did wait: {waited:?}"
    );
    assert!(
        after_press < Duration::from_millis(500),
        "answered {after_press:?} after the press (timeout was 10 s)"
    );
}

#[test]
fn allowed_updates_decides_which_later_updates_the_bot_receives() {
    let tg = FakeTelegram::start(TOKEN);
    let id = approval(&tg);
    drain(&tg);
    // What `sidekey telegram setup` asks for: messages only. A press now is dropped by Telegram.
    call(
        &tg,
        "getUpdates",
        json!({"timeout": 0, "allowed_updates": ["message"]}),
    );
    tg.press(id, "a:k1", ADA, None).unwrap();
    tg.user_sends(ADA, "Ada", "hello");
    let kinds: Vec<bool> = drain(&tg)
        .iter()
        .map(|u| u.get("message").is_some())
        .collect();
    assert_eq!(kinds, [true], "only the message arrived");
    // The setting lasts until a call gives another one.
    tg.press(id, "a:k1", ADA, None).unwrap();
    assert!(drain(&tg).is_empty());
    let r = call(
        &tg,
        "getUpdates",
        json!({"timeout": 0, "allowed_updates": ["callback_query", "message"]}),
    );
    assert_eq!(r.json()["result"], json!([]));
    tg.press(id, "d:k1", ADA, None).unwrap();
    let updates = drain(&tg);
    assert_eq!(updates[0]["callback_query"]["data"], "d:k1");
    let r = call(
        &tg,
        "getUpdates",
        json!({"allowed_updates": "[\"message\""}),
    );
    assert_eq!(description(&r), "Bad Request: can't parse allowed updates");
}

#[test]
fn limit_caps_the_answer() {
    let tg = FakeTelegram::start(TOKEN);
    for i in 0..3 {
        tg.user_sends(ADA, "Ada", &format!("m{i}"));
    }
    let r = call(&tg, "getUpdates", json!({"limit": 2}));
    let texts: Vec<Value> = r.json()["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["message"]["text"].clone())
        .collect();
    assert_eq!(texts, [json!("m0"), json!("m1")]);
}

fn poll_in_thread(tg: &FakeTelegram, timeout: u64) -> std::thread::JoinHandle<(Duration, Resp)> {
    let base = tg.api_base();
    std::thread::spawn(move || {
        let started = Instant::now();
        let r = request(
            "POST",
            &format!("{base}/bot{TOKEN}/getUpdates"),
            &[("Content-Type", "application/json")],
            json!({ "timeout": timeout }).to_string().as_bytes(),
        );
        (started.elapsed(), r)
    })
}

#[test]
fn one_poller_per_bot_even_while_a_long_poll_waits() {
    let conflict = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";
    // A second poller terminates the one that waits: the older request gets 409.
    let tg = FakeTelegram::start(TOKEN);
    let first = poll_in_thread(&tg, 10);
    std::thread::sleep(Duration::from_millis(300));
    let second = call(&tg, "getUpdates", json!({"timeout": 0}));
    assert_eq!(second.status, 200, "{}", second.text());
    let (waited, r) = first.join().unwrap();
    assert_eq!((r.status, description(&r)), (409, conflict.to_string()));
    assert!(waited < Duration::from_secs(2), "{waited:?}");

    // Another process takes the bot while this one waits.
    let waiting = poll_in_thread(&tg, 10);
    std::thread::sleep(Duration::from_millis(300));
    tg.polled_by_another();
    let (waited, r) = waiting.join().unwrap();
    assert_eq!((r.status, description(&r)), (409, conflict.to_string()));
    assert!(waited < Duration::from_secs(2), "{waited:?}");

    // A webhook: the other 409.
    let tg = FakeTelegram::start(TOKEN);
    let waiting = poll_in_thread(&tg, 10);
    std::thread::sleep(Duration::from_millis(300));
    tg.webhook_set();
    let (waited, r) = waiting.join().unwrap();
    assert_eq!(
        (r.status, description(&r)),
        (
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first".to_string()
        )
    );
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    assert_eq!(call(&tg, "getUpdates", json!({})).status, 409);
}

#[test]
fn a_callback_query_is_answered_once_and_in_time() {
    let too_old =
        "Bad Request: query is too old and response timeout expired or query ID is invalid";
    let tg = FakeTelegram::start(TOKEN);
    let id = approval(&tg);
    let q = tg.press(id, "a:k1", ADA, None).unwrap();
    let answer = |body: Value| call(&tg, "answerCallbackQuery", body);
    let r = answer(json!({"callback_query_id": q, "text": "x".repeat(201)}));
    assert_eq!(description(&r), "Bad Request: MESSAGE_TOO_LONG");
    let r = answer(json!({"callback_query_id": q, "text": "Approved ✓", "show_alert": true}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["result"], true);
    // Twice is too often; an id the fake never issued is invalid.
    assert_eq!(
        description(&answer(json!({"callback_query_id": q}))),
        too_old
    );
    assert_eq!(
        description(&answer(json!({"callback_query_id": "12345"}))),
        too_old
    );
    assert_eq!(
        tg.answers(),
        [CallbackAnswer {
            callback_query_id: q,
            text: Some("Approved ✓".into()),
            show_alert: true,
        }]
    );
    // 200 characters are fine, no text is fine.
    let q2 = tg.press(id, "d:k1", ADA, None).unwrap();
    let r = answer(json!({"callback_query_id": q2, "text": "é".repeat(200)}));
    assert_eq!(r.status, 200, "{}", r.text());
    let q3 = tg.press(id, "d:k1", ADA, None).unwrap();
    assert_eq!(answer(json!({"callback_query_id": q3})).status, 200);
    assert_eq!(tg.answers()[2].text, None);
    assert!(!tg.answers()[2].show_alert);
    // Too late.
    tg.set_answer_window(Duration::from_millis(100));
    let late = tg.press(id, "d:k1", ADA, None).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        description(&answer(json!({"callback_query_id": late}))),
        too_old
    );
    assert_eq!(tg.answers().len(), 3);
}

#[test]
fn edit_message_text_replaces_the_text_and_the_keyboard() {
    let tg = FakeTelegram::start(TOKEN);
    let id = approval(&tg);
    let edit = |body: Value| call(&tg, "editMessageText", body);
    let not_found = "Bad Request: message to edit not found";
    assert_eq!(
        description(&edit(
            json!({"chat_id": ADA, "message_id": id + 50, "text": "x"})
        )),
        not_found
    );
    tg.user_sends(99, "Bo", "/start");
    assert_eq!(
        description(&edit(json!({"chat_id": 99, "message_id": id, "text": "x"}))),
        not_found,
        "the message is in Ada's chat"
    );
    assert!(
        description(&edit(
            json!({"chat_id": ADA, "message_id": id, "text": "R&D", "parse_mode": "HTML"})
        ))
        .starts_with("Bad Request: can't parse entities: ")
    );
    assert_eq!(
        description(&edit(
            json!({"chat_id": ADA, "message_id": id, "text": " "})
        )),
        "Bad Request: message text is empty"
    );
    assert_eq!(
        description(&edit(json!({
            "chat_id": ADA, "message_id": id, "text": "x",
            "reply_markup": keyboard(&[&[("A", &"x".repeat(65))]]),
        }))),
        "Bad Request: BUTTON_DATA_INVALID"
    );
    // The same text and keyboard: not modified.
    let not_modified = "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message";
    let same = json!({
        "chat_id": ADA, "message_id": id, "text": "Send mail to <b>bob@example.test</b>?",
        "parse_mode": "html",
        "reply_markup": keyboard(&[&[("Approve", "a:k1"), ("Deny", "d:k1")]]),
    });
    assert_eq!(description(&edit(same)), not_modified);
    assert!(tg.edits().is_empty());

    // The outcome, without reply_markup: the keyboard goes.
    let r = edit(json!({
        "chat_id": ADA, "message_id": id, "text": "✅ <b>Approved</b> by Ada", "parse_mode": "HTML",
    }));
    assert_eq!(r.status, 200, "{}", r.text());
    let result = &r.json()["result"];
    assert_eq!(result["text"], "✅ Approved by Ada");
    assert!(result["edit_date"].as_i64().is_some());
    assert!(result.get("reply_markup").is_none());
    assert!(tg.buttons(id).is_empty());
    let edits = tg.edits();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].message_id, id);
    assert_eq!(edits[0].text, "✅ <b>Approved</b> by Ada");
    assert!(edits[0].reply_markup.is_none());
    // The message as sent is still on record.
    assert!(tg.messages()[0].reply_markup.is_some());
    // Again: not modified. With a keyboard: modified.
    let again = json!({
        "chat_id": ADA, "message_id": id, "text": "✅ <b>Approved</b> by Ada", "parse_mode": "HTML",
    });
    assert_eq!(description(&edit(again.clone())), not_modified);
    let mut with_keyboard = again;
    with_keyboard["reply_markup"] = keyboard(&[&[("Undo", "u:k1")]]);
    assert_eq!(edit(with_keyboard).status, 200);
    assert_eq!(tg.buttons(id), [vec![("Undo".into(), "u:k1".into())]]);
}

#[test]
fn a_photo_has_no_text_to_edit() {
    let tg = FakeTelegram::start(TOKEN);
    let r = call(
        &tg,
        "sendPhoto",
        json!({"chat_id": ADA, "photo": "https://x.test/p.png"}),
    );
    let id = r.json()["result"]["message_id"].as_i64().unwrap();
    let r = call(
        &tg,
        "editMessageText",
        json!({"chat_id": ADA, "message_id": id, "text": "x"}),
    );
    assert_eq!(
        description(&r),
        "Bad Request: there is no text in the message to edit"
    );
}

#[test]
fn the_phone_page_shows_buttons_and_edits_and_presses_them() {
    let tg = FakeTelegram::start(TOKEN);
    let id = approval(&tg);
    drain(&tg);
    call(
        &tg,
        "getUpdates",
        json!({"allowed_updates": ["callback_query", "message"]}),
    );
    let page = request("GET", &tg.phone_url(), &[], b"").text();
    assert!(page.contains("action=\"/phone/press\""), "{page}");
    assert!(
        page.contains("<button type=\"submit\" name=\"data\" value=\"a:k1\">Approve</button>"),
        "{page}"
    );
    assert!(page.contains(&format!("name=\"message_id\" value=\"{id}\"")));
    assert!(!page.contains("<script"));

    let press_url = format!("{}/press", tg.phone_url());
    let form = format!("message_id={id}&data=a%3Ak1");
    let form_h = ("Content-Type", "application/x-www-form-urlencoded");
    // A form on another site cannot press.
    let r = request(
        "POST",
        &press_url,
        &[form_h, ("Origin", "http://evil.test")],
        form.as_bytes(),
    );
    assert_eq!(r.status, 403);
    let r = request(
        "POST",
        &press_url,
        &[form_h, ("Sec-Fetch-Site", "cross-site")],
        form.as_bytes(),
    );
    assert_eq!(r.status, 403);
    assert!(drain(&tg).is_empty());
    // The page's own form does, as Ada.
    let origin = tg.api_base();
    let r = request(
        "POST",
        &press_url,
        &[
            form_h,
            ("Origin", &origin),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        form.as_bytes(),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), Some("/phone"));
    let q = &drain(&tg)[0]["callback_query"];
    assert_eq!(q["data"], "a:k1");
    assert_eq!(q["from"]["id"], ADA);
    assert_eq!(q["from"]["username"], "ada");
    // A button that is not there.
    let r = request(
        "POST",
        &press_url,
        &[form_h],
        format!("message_id={id}&data=zz").as_bytes(),
    );
    assert_eq!(r.status, 400);

    // After the edit: the new text, marked edited, and no buttons.
    call(
        &tg,
        "editMessageText",
        json!({"chat_id": ADA, "message_id": id, "text": "Approved &amp; sent", "parse_mode": "HTML"}),
    );
    let page = request("GET", &tg.phone_url(), &[], b"").text();
    assert!(page.contains("Approved &amp; sent"), "{page}");
    assert!(page.contains("class=\"edited\""), "{page}");
    assert!(!page.contains("Send mail to"), "{page}");
    assert!(!page.contains("action=\"/phone/press\""), "{page}");
}
