//! Telegram delivery against the fake Bot API: message contents, escaping, QR photo, retries,
//! bounded give-up, wrong token, and that `getUpdates` is never called.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use sidekey_notify::{Channels, Delivery, Event, RetryPolicy, TelegramConfig, User, html, qr};
use sidekey_testkit::{FakeTelegram, TgFault};

fn tg_config(fake: &FakeTelegram, token: &str) -> TelegramConfig {
    TelegramConfig {
        bot_token: token.to_string(),
        chat_id: CHAT.to_string(),
        api_base: fake.api_base(),
    }
}

fn channels(fake: &FakeTelegram, token: &str, policy: RetryPolicy) -> Channels {
    Channels::new(client(), Some(tg_config(fake, token)), None, None).with_retry_policy(policy)
}

fn only(deliveries: Vec<Delivery>) -> Result<(), String> {
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].channel, "telegram");
    deliveries
        .into_iter()
        .next()
        .map(|d| d.result)
        .unwrap_or(Ok(()))
}

fn assert_no_get_updates(fake: &FakeTelegram) {
    assert!(
        !fake
            .requests()
            .iter()
            .any(|m| m.eq_ignore_ascii_case("getUpdates")),
        "getUpdates was called: {:?}",
        fake.requests()
    );
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    let h = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
    (w, h)
}

#[tokio::test]
async fn code_event_sends_message_then_qr_photo() {
    let fake = FakeTelegram::start(TOKEN);
    let complete = "https://microsoft.com/devicelogin?otc=ABCD-EFGH";
    let ch = channels(&fake, TOKEN, fast());
    assert_eq!(ch.names(), ["telegram"]);
    assert!(!ch.is_empty());
    only(ch.send(&code_event(Some(complete))).await).expect("delivered");

    assert_eq!(fake.requests(), ["sendMessage", "sendPhoto"]);
    assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
    let msgs = fake.messages();
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m.chat_id, CHAT);
    assert_eq!(m.parse_mode.as_deref(), Some("HTML"));
    for needle in [
        "<b>work</b>",
        "microsoft",
        "<code>ABCD-EFGH</code>",
        "https://microsoft.com/devicelogin",
        complete,
        "User.Read, Files.Read",
        " UTC (in 15 min)",
        "Only enter this code if you asked the agent to sign in.",
    ] {
        assert!(m.text.contains(needle), "{needle:?} missing in {}", m.text);
    }
    assert_eq!(m.raw["protect_content"], true);
    assert_eq!(m.raw["link_preview_options"]["is_disabled"], true);

    let photos = fake.photos();
    assert_eq!(photos.len(), 1);
    let p = &photos[0];
    assert_eq!(p.chat_id, CHAT);
    assert_eq!(p.content_type.as_deref(), Some("image/png"));
    assert!(p.file_name.as_deref().is_some_and(|n| n.ends_with(".png")));
    let (w, h) = png_size(&p.bytes);
    assert_eq!(w, h);
    assert!((200..=2000).contains(&w), "odd QR size {w}");
    // The QR code is of the complete URL (the code filled in), not of the bare one.
    assert_eq!(p.bytes, qr::png(complete).unwrap());
    assert_ne!(
        p.bytes,
        qr::png("https://microsoft.com/devicelogin").unwrap()
    );
    let caption = p.caption.as_deref().unwrap_or("");
    assert!(caption.contains("<code>ABCD-EFGH</code>"), "{caption}");
    assert_eq!(p.parse_mode.as_deref(), Some("HTML"));
    assert_eq!(p.raw["protect_content"], true);
    assert_no_get_updates(&fake);
}

#[tokio::test]
async fn photo_falls_back_to_verification_uri() {
    let fake = FakeTelegram::start(TOKEN);
    only(channels(&fake, TOKEN, fast()).send(&code_event(None)).await).expect("delivered");
    let photos = fake.photos();
    assert_eq!(photos.len(), 1);
    assert_eq!(
        photos[0].bytes,
        qr::png("https://microsoft.com/devicelogin").unwrap()
    );
    // Without a complete URI the message shows no "filled in" line.
    assert!(!fake.messages()[0].text.contains("filled in"));
    assert_no_get_updates(&fake);
}

const HOSTILE: &str = "<script>&_*\"'";

#[tokio::test]
async fn hostile_strings_are_escaped_and_accepted() {
    let fake = FakeTelegram::start(TOKEN);
    let ch = channels(&fake, TOKEN, fast());
    let events = [
        Event::Code {
            account: format!("acc{HOSTILE}"),
            provider: format!("prov{HOSTILE}"),
            scopes: vec![HOSTILE.to_string(), "a&b".to_string(), "</b>".to_string()],
            user_code: format!("C{HOSTILE}"),
            verification_uri: format!("https://idp.example/device?x=1&y={HOSTILE}"),
            verification_uri_complete: Some(format!("https://idp.example/d?c=<{HOSTILE}>")),
            expires_at: in_minutes(10),
            interval: 5,
        },
        Event::SignedIn {
            account: HOSTILE.to_string(),
            provider: HOSTILE.to_string(),
            user: User {
                name: Some(format!("Eve {HOSTILE}")),
                email: Some(format!("e&<v>e@example.test{HOSTILE}")),
            },
            scopes: vec![HOSTILE.to_string()],
            expires_at: None,
            warning: None,
        },
        Event::Failed {
            account: HOSTILE.to_string(),
            provider: HOSTILE.to_string(),
            reason: HOSTILE.to_string(),
            message: format!("AADSTS50000: <html>&nbsp; {HOSTILE}\nsecond line"),
        },
    ];
    for ev in &events {
        only(ch.send(ev).await).unwrap_or_else(|e| panic!("{ev:?}: {e}"));
    }
    assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
    let msgs = fake.messages();
    assert_eq!(msgs.len(), 3);
    let escaped = html::escape(HOSTILE);
    assert_eq!(escaped, "&lt;script&gt;&amp;_*&quot;'");
    for m in &msgs {
        assert!(m.text.contains(&escaped), "{}", m.text);
        assert!(!m.text.contains("<script>"), "{}", m.text);
    }
    // The provider message is one line.
    assert!(msgs[2].text.contains("&amp;nbsp; "), "{}", msgs[2].text);
    assert!(!msgs[2].text.contains('\n'), "{}", msgs[2].text);
    // A reason that is none of the known ones reads as a failure, not as a declined sign-in.
    assert!(
        msgs[2].text.contains(": sign-in failed: "),
        "{}",
        msgs[2].text
    );
    assert!(!msgs[2].text.contains("declined"), "{}", msgs[2].text);
    assert_eq!(fake.photos().len(), 1);
    assert_no_get_updates(&fake);
}

/// Proves the fake's HTML check bites: the same hostile text, unescaped, is refused.
#[tokio::test]
async fn fake_rejects_unescaped_html() {
    let fake = FakeTelegram::start(TOKEN);
    let url = format!("{}/bot{TOKEN}/sendMessage", fake.api_base());
    for text in [
        format!("Sign in <b>{HOSTILE}</b>"),
        "R&D team".to_string(),
        "<b>unclosed".to_string(),
    ] {
        let resp = client()
            .post(&url)
            .json(&serde_json::json!({"chat_id": CHAT, "text": text, "parse_mode": "HTML"}))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 400);
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(body["ok"], false);
        let d = body["description"].as_str().unwrap_or("");
        assert!(d.starts_with("Bad Request: can't parse entities: "), "{d}");
    }
    assert_eq!(fake.rejected().len(), 3);
    assert!(fake.messages().is_empty());
}

#[tokio::test]
async fn long_inputs_stay_under_telegram_limits() {
    let fake = FakeTelegram::start(TOKEN);
    let huge = "&".repeat(20_000);
    let ev = Event::Code {
        account: huge.clone(),
        provider: huge.clone(),
        scopes: (0..500).map(|i| format!("scope{i}{huge}")).collect(),
        user_code: huge.clone(),
        verification_uri: format!("https://idp.example/{huge}"),
        verification_uri_complete: Some(format!("https://idp.example/c/{}", "x".repeat(300))),
        expires_at: "not a time".to_string(),
        interval: 5,
    };
    only(channels(&fake, TOKEN, fast()).send(&ev).await).expect("delivered");
    assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
    assert_eq!(fake.messages().len(), 1);
    assert_eq!(fake.photos().len(), 1);
}

#[tokio::test]
async fn signed_in_and_failed_are_single_messages() {
    let fake = FakeTelegram::start(TOKEN);
    let ch = channels(&fake, TOKEN, fast());
    only(ch.send(&signed_in_event()).await).expect("signed in");
    only(ch.send(&failed_event()).await).expect("failed");
    assert_eq!(fake.requests(), ["sendMessage", "sendMessage"]);
    let msgs = fake.messages();
    assert!(
        msgs[0]
            .text
            .contains("signed in as Ada Lovelace (ada@example.test)")
    );
    assert!(msgs[0].text.contains("<b>work</b> (microsoft)"));
    assert!(msgs[1].text.contains("declined"), "{}", msgs[1].text);
    assert!(msgs[1].text.contains("The user declined the sign-in."));
    assert!(fake.photos().is_empty());
}

#[tokio::test]
async fn rate_limit_retry_after_is_honoured() {
    let fake = FakeTelegram::start(TOKEN);
    fake.inject([TgFault::TooManyRequests { retry_after: 1 }]);
    let t = Instant::now();
    only(channels(&fake, TOKEN, fast()).send(&code_event(None)).await).expect("delivered");
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(fake.requests(), ["sendMessage", "sendMessage", "sendPhoto"]);
    assert_eq!(fake.messages().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let fake = FakeTelegram::start(TOKEN);
    // 502 as nginx HTML, 500 as the JSON envelope; the photo also meets one.
    fake.inject([TgFault::Status(502), TgFault::Status(500)]);
    only(channels(&fake, TOKEN, fast()).send(&code_event(None)).await).expect("delivered");
    assert_eq!(
        fake.requests(),
        ["sendMessage", "sendMessage", "sendMessage", "sendPhoto"]
    );
    assert_eq!(fake.messages().len(), 1);
    assert_eq!(fake.photos().len(), 1);
}

#[tokio::test]
async fn gives_up_after_bounded_attempts() {
    let fake = FakeTelegram::start(TOKEN);
    fake.inject((0..10).map(|_| TgFault::Status(502)));
    let err = only(channels(&fake, TOKEN, fast()).send(&code_event(None)).await).unwrap_err();
    assert_eq!(
        err,
        "Telegram: HTTP 502 Bad Gateway (gave up after 4 attempts)"
    );
    assert_eq!(fake.requests().len(), 4);
    assert!(fake.photos().is_empty());
    assert!(!err.contains(TOKEN));
}

#[tokio::test]
async fn long_retry_after_past_the_deadline_gives_up_at_once() {
    let fake = FakeTelegram::start(TOKEN);
    fake.inject([TgFault::TooManyRequests { retry_after: 30 }]);
    let policy = RetryPolicy {
        total: Duration::from_secs(2),
        ..fast()
    };
    let t = Instant::now();
    let err = only(channels(&fake, TOKEN, policy).send(&code_event(None)).await).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(
        err.starts_with("Telegram: Too Many Requests: retry after 30 (gave up"),
        "{err}"
    );
    assert!(!err.contains('\n'));
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let fake = FakeTelegram::start(TOKEN);
    let cfg = TelegramConfig {
        chat_id: "not-a-chat".to_string(),
        ..tg_config(&fake, TOKEN)
    };
    let ch = Channels::new(client(), Some(cfg), None, None).with_retry_policy(fast());
    let err = only(ch.send(&code_event(None)).await).unwrap_err();
    assert_eq!(err, "Telegram: Bad Request: chat not found");
    assert_eq!(fake.requests(), ["sendMessage"]);

    fake.inject([TgFault::Status(403)]);
    let err = only(channels(&fake, TOKEN, fast()).send(&failed_event()).await).unwrap_err();
    assert_eq!(err, "Telegram: Forbidden: bot was blocked by the user");
}

#[tokio::test]
async fn wrong_token_is_unauthorized_and_never_shown() {
    let fake = FakeTelegram::start(TOKEN);
    let wrong = "987654321:AAWrongSecretTokenShouldNeverLeak_42";
    let ch = channels(&fake, wrong, fast());
    let deliveries = ch.send(&code_event(None)).await;
    let dbg = format!("{deliveries:?} {ch:?}");
    let err = only(deliveries).unwrap_err();
    assert_eq!(err, "Telegram: Unauthorized");
    assert_eq!(fake.requests(), ["sendMessage"]);
    for text in [&err, &dbg] {
        assert!(!text.contains(wrong), "token leaked: {text}");
        assert!(!text.contains("AAWrongSecret"), "token leaked: {text}");
    }
    assert!(dbg.contains("[redacted]"), "{dbg}");

    // A malformed token is refused before any request, without quoting it.
    let bad = "123:abc/../getUpdates?x";
    let err = only(channels(&fake, bad, fast()).send(&code_event(None)).await).unwrap_err();
    assert!(err.contains("malformed"), "{err}");
    assert!(!err.contains(bad));
    assert_eq!(fake.requests().len(), 1);
    assert_no_get_updates(&fake);
}

#[tokio::test]
async fn transport_errors_carry_no_token() {
    // Nothing listens: the reqwest error would carry the URL with the token in it.
    let cfg = TelegramConfig {
        bot_token: TOKEN.to_string(),
        chat_id: CHAT.to_string(),
        api_base: format!("http://127.0.0.1:{}", closed_port()),
    };
    let ch = Channels::new(client(), Some(cfg), None, None).with_retry_policy(fast());
    let deliveries = ch.send(&code_event(None)).await;
    let dbg = format!("{deliveries:?}");
    let err = only(deliveries).unwrap_err();
    assert!(err.starts_with("Telegram: cannot connect"), "{err}");
    assert!(err.contains("gave up after 4 attempts"), "{err}");
    assert!(!err.contains(TOKEN) && !dbg.contains(TOKEN), "{dbg}");
    assert!(!err.contains("AAHsecret"), "{err}");
    assert!(!err.contains("/bot"), "{err}");
}
