//! Webhook and ntfy delivery against a recording server, the event JSON, and channel
//! independence (a dead Telegram does not stop the others).

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use sidekey_notify::{Channels, Event, NtfyConfig, TelegramConfig, WebhookConfig};
use sidekey_testkit::FakeHook;

const BEARER: &str = "hook-bearer-SECRET-value-0123";
const NTFY_TOKEN: &str = "tk_ntfySECRETaccessToken0123456";

fn webhook(hook: &FakeHook) -> WebhookConfig {
    WebhookConfig {
        url: format!("{}/sidekey/events?src=test", hook.url()),
        bearer: Some(BEARER.to_string()),
    }
}

fn ntfy(hook: &FakeHook) -> NtfyConfig {
    NtfyConfig {
        server: format!("{}/", hook.url()),
        topic: "sidekey-codes_1".to_string(),
        token: Some(NTFY_TOKEN.to_string()),
    }
}

#[test]
fn event_json_lines() {
    let line = serde_json::to_string(&code_event(Some("https://x/?c=1"))).unwrap();
    assert!(
        line.starts_with(r#"{"event":"code","account":"work","provider":"microsoft","#),
        "{line}"
    );
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["interval"], 5);
    assert_eq!(v["verification_uri_complete"], "https://x/?c=1");
    let v = serde_json::to_value(signed_in_event()).unwrap();
    assert_eq!(v["event"], "signed_in");
    assert_eq!(v["user"]["email"], "ada@example.test");
    let v = serde_json::to_value(failed_event()).unwrap();
    assert_eq!(v["event"], "failed");
    assert_eq!(v["reason"], "access_denied");
    let parsed: Event = serde_json::from_str(
        r#"{"event":"failed","account":"a","provider":"p","reason":"expired_token","message":"m"}"#,
    )
    .unwrap();
    assert_eq!(parsed.account(), "a");
    assert_eq!(parsed.provider(), "p");
}

#[tokio::test]
async fn webhook_receives_the_exact_event_json() {
    let hook = FakeHook::start();
    let ch = Channels::new(client(), None, Some(webhook(&hook)), None).with_retry_policy(fast());
    assert_eq!(ch.names(), ["webhook"]);
    let events = [
        code_event(Some("https://x/?c=1")),
        signed_in_event(),
        failed_event(),
    ];
    for ev in &events {
        let d = ch.send(ev).await;
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].channel, "webhook");
        d[0].result.as_ref().expect("delivered");
    }
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 3);
    for (req, ev) in reqs.iter().zip(&events) {
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/sidekey/events");
        assert_eq!(req.query.as_deref(), Some("src=test"));
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert_eq!(
            req.header("authorization"),
            Some(&*format!("Bearer {BEARER}"))
        );
        let back: Event = serde_json::from_slice(&req.body).expect("event JSON");
        assert_eq!(&back, ev);
    }
}

#[tokio::test]
async fn webhook_retries_5xx_but_not_4xx() {
    let hook = FakeHook::start();
    let ch = Channels::new(client(), None, Some(webhook(&hook)), None).with_retry_policy(fast());
    hook.fail_next(2, 503);
    ch.send(&failed_event()).await[0]
        .result
        .as_ref()
        .expect("third attempt works");
    assert_eq!(hook.requests().len(), 3);

    hook.fail_next(3, 500);
    let d = ch.send(&failed_event()).await;
    let err = d[0].result.as_ref().unwrap_err();
    assert_eq!(
        err,
        "webhook: HTTP 500 Internal Server Error (gave up after 3 attempts)"
    );
    assert_eq!(hook.requests().len(), 6);

    hook.fail_next(1, 404);
    let d = ch.send(&failed_event()).await;
    assert_eq!(
        d[0].result.as_ref().unwrap_err(),
        "webhook: HTTP 404 Not Found"
    );
    assert_eq!(hook.requests().len(), 7);
    let dbg = format!("{d:?} {ch:?}");
    assert!(!dbg.contains(BEARER), "{dbg}");
    assert!(
        !dbg.contains("/sidekey/events"),
        "webhook path shown: {dbg}"
    );
}

#[tokio::test]
async fn ntfy_gets_body_and_headers() {
    let hook = FakeHook::start();
    let ch = Channels::new(client(), None, None, Some(ntfy(&hook))).with_retry_policy(fast());
    assert_eq!(ch.names(), ["ntfy"]);
    let complete = "https://microsoft.com/devicelogin?otc=ABCD-EFGH";
    ch.send(&code_event(Some(complete))).await[0]
        .result
        .as_ref()
        .expect("delivered");
    ch.send(&signed_in_event()).await[0]
        .result
        .as_ref()
        .expect("delivered");
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 2);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/sidekey-codes_1");
    let body = r.text();
    for needle in [
        "ABCD-EFGH",
        "https://microsoft.com/devicelogin",
        "User.Read",
        "Only enter this code if you asked the agent to sign in.",
        "UTC (in 15 min)",
    ] {
        assert!(body.contains(needle), "{needle:?} missing in {body}");
    }
    assert_eq!(r.header("title"), Some("Sign-in code for work (microsoft)"));
    assert_eq!(r.header("click"), Some(complete));
    assert_eq!(r.header("priority"), Some("high"));
    assert_eq!(r.header("tags"), Some("key"));
    assert_eq!(
        r.header("authorization"),
        Some(&*format!("Bearer {NTFY_TOKEN}"))
    );
    let r = &reqs[1];
    assert!(
        r.text()
            .contains("signed in as Ada Lovelace (ada@example.test)")
    );
    assert_eq!(r.header("click"), None);
    assert_eq!(r.header("priority"), Some("default"));
}

#[tokio::test]
async fn ntfy_click_falls_back_and_non_ascii_title_is_encoded() {
    let hook = FakeHook::start();
    let cfg = NtfyConfig {
        token: None,
        ..ntfy(&hook)
    };
    let ch = Channels::new(client(), None, None, Some(cfg)).with_retry_policy(fast());
    let mut ev = code_event(None);
    if let Event::Code { account, .. } = &mut ev {
        *account = "Müller\r\nX-Evil: 1".to_string();
    }
    ch.send(&ev).await[0].result.as_ref().expect("delivered");
    let r = &hook.requests()[0];
    assert_eq!(r.header("click"), Some("https://microsoft.com/devicelogin"));
    assert_eq!(r.header("authorization"), None);
    assert_eq!(r.header("x-evil"), None);
    let title = r.header("title").unwrap_or("");
    assert!(
        title.starts_with("=?UTF-8?B?") && title.ends_with("?="),
        "{title}"
    );
}

#[tokio::test]
async fn ntfy_refuses_bad_topic_without_a_request() {
    let hook = FakeHook::start();
    let cfg = NtfyConfig {
        topic: "../admin?x=1".to_string(),
        ..ntfy(&hook)
    };
    let ch = Channels::new(client(), None, None, Some(cfg));
    let d = ch.send(&failed_event()).await;
    assert!(
        d[0].result
            .as_ref()
            .unwrap_err()
            .starts_with("ntfy: invalid topic")
    );
    assert!(hook.requests().is_empty());
}

#[tokio::test]
async fn dead_telegram_does_not_stop_webhook_or_ntfy() {
    let hook = FakeHook::start();
    let tg = TelegramConfig {
        bot_token: TOKEN.to_string(),
        chat_id: CHAT.to_string(),
        api_base: format!("http://127.0.0.1:{}", closed_port()),
    };
    let ch = Channels::new(client(), Some(tg), Some(webhook(&hook)), Some(ntfy(&hook)))
        .with_retry_policy(fast());
    assert_eq!(ch.names(), ["telegram", "webhook", "ntfy"]);
    let t = Instant::now();
    let d = ch.send(&code_event(None)).await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let names: Vec<_> = d.iter().map(|d| d.channel).collect();
    assert_eq!(names, ["telegram", "webhook", "ntfy"]);
    let err = d[0].result.as_ref().unwrap_err();
    assert!(err.starts_with("Telegram: cannot connect"), "{err}");
    d[1].result.as_ref().expect("webhook delivered");
    d[2].result.as_ref().expect("ntfy delivered");
    assert_eq!(hook.requests().len(), 2);
    let dbg = format!("{d:?} {ch:?}");
    for secret in [TOKEN, BEARER, NTFY_TOKEN] {
        assert!(!dbg.contains(secret), "{secret} leaked: {dbg}");
    }
}

#[tokio::test]
async fn no_channels() {
    let ch = Channels::new(client(), None, None, None);
    assert!(ch.is_empty());
    assert!(ch.names().is_empty());
    assert!(ch.send(&failed_event()).await.is_empty());
}

#[test]
fn config_debug_redacts_secrets() {
    let tg = TelegramConfig::new(TOKEN, CHAT);
    let hook = WebhookConfig {
        url: "https://hooks.example/services/T000/SECRETPATH?token=abc".to_string(),
        bearer: Some(BEARER.to_string()),
    };
    let nt = NtfyConfig {
        token: Some(NTFY_TOKEN.to_string()),
        ..NtfyConfig::new("my-secret-topic")
    };
    let dbg = format!("{tg:?} {hook:?} {nt:?}");
    for secret in [
        TOKEN,
        BEARER,
        NTFY_TOKEN,
        "SECRETPATH",
        "token=abc",
        "my-secret-topic",
    ] {
        assert!(!dbg.contains(secret), "{secret} in {dbg}");
    }
    assert!(dbg.contains("https://api.telegram.org"), "{dbg}");
    assert!(dbg.contains("https://hooks.example"), "{dbg}");
    assert!(dbg.contains("https://ntfy.sh"), "{dbg}");
}

#[tokio::test]
async fn absurd_policy_does_not_panic() {
    let hook = FakeHook::start();
    let policy = sidekey_notify::RetryPolicy {
        request_timeout: Duration::MAX,
        attempts: 0,
        backoff: Duration::MAX,
        max_wait: Duration::MAX,
        total: Duration::MAX,
    };
    let ch = Channels::new(client(), None, Some(webhook(&hook)), None).with_retry_policy(policy);
    hook.fail_next(1, 500);
    let d = ch.send(&failed_event()).await;
    let err = d[0].result.as_ref().unwrap_err();
    assert_eq!(
        err,
        "webhook: HTTP 500 Internal Server Error (gave up after 1 attempt)"
    );
    ch.send(&failed_event()).await[0]
        .result
        .as_ref()
        .expect("delivered");
}

/// Issue 18: names and messages chosen by a provider or the agent (a user's display name, a
/// failure's text) reach no channel with escape sequences, control characters, bidi overrides
/// or zero-width characters: not Telegram, not the webhook's JSON, not ntfy.
#[tokio::test]
async fn text_chosen_by_others_reaches_every_channel_printable() {
    const EVIL: &str = "\u{1b}]8;;http://evil.example\u{7}Ada\u{1b}]8;;\u{7}\u{1b}[2J \u{202e}gpj.exe\u{200b} \u{9b}31mLovelace\r";
    let hook = FakeHook::start();
    let ntfy_hook = FakeHook::start();
    let tg = sidekey_testkit::FakeTelegram::start("123456789:AAbbCCddEEff_secret-bot-token");
    let ch = Channels::new(
        client(),
        Some(TelegramConfig {
            api_base: tg.api_base(),
            ..TelegramConfig::new("123456789:AAbbCCddEEff_secret-bot-token", "4242")
        }),
        Some(webhook(&hook)),
        Some(ntfy(&ntfy_hook)),
    )
    .with_retry_policy(fast());
    let events = [
        Event::SignedIn {
            account: "work".into(),
            provider: "microsoft".into(),
            user: sidekey_notify::User {
                name: Some(EVIL.into()),
                email: Some(format!("ada{EVIL}@example.test")),
            },
            scopes: vec![format!("Mail.Read{EVIL}")],
            expires_at: None,
            warning: Some(EVIL.into()),
        },
        Event::Failed {
            account: "work".into(),
            provider: "microsoft".into(),
            reason: format!("declined{EVIL}"),
            message: EVIL.into(),
        },
    ];
    for ev in &events {
        for d in ch.send(ev).await {
            assert!(d.result.is_ok(), "{}: {:?}", d.channel, d.result);
        }
    }
    let mut shown: Vec<String> = tg.messages().into_iter().map(|m| m.text).collect();
    for r in hook.requests().iter().chain(ntfy_hook.requests().iter()) {
        shown.push(r.text());
        // ntfy's title travels in a header.
        shown.extend(r.header("title").map(str::to_string));
    }
    assert_eq!(shown.len(), 2 + 2 + 2 + 2, "{shown:?}");
    for text in &shown {
        // JSON would carry an escape as the six characters \u001b: check its strings.
        let decoded = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => strings(&v).join("\n"),
            Err(_) => text.clone(),
        };
        for c in decoded.chars() {
            assert!(
                c == '\n'
                    || !(c.is_control()
                        || matches!(c, '\u{200b}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')),
                "{c:?} reached a channel: {decoded:?}"
            );
        }
        assert!(!decoded.contains("evil.example"), "{decoded}");
        assert!(!decoded.contains("[2J"), "{decoded}");
    }
    assert!(shown.iter().any(|t| t.contains("Ada")), "{shown:?}");
}

/// Every string in a JSON value.
fn strings(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(a) => a.iter().flat_map(strings).collect(),
        serde_json::Value::Object(m) => m.values().flat_map(strings).collect(),
        _ => vec![],
    }
}
