//! Getting the code to the person: Telegram (with a QR code), webhook and ntfy, driven by the
//! real binary against fake servers that check what the real ones check.

use crate::common;

use common::*;
use serde_json::Value;
use sidekey_testkit::telegram::{FakeHook, FakeTelegram, TgFault};
use sidekey_testkit::{Dialect, FakeIdp, Options};
use std::time::{Duration, Instant};

const BOT: &str = "123456789:AAbbCCddEEff_secret-bot-token";

fn idp() -> FakeIdp {
    let mut o = Options::new(Dialect::Microsoft);
    o.auto_approve_after_polls = Some(2);
    FakeIdp::start(o)
}

fn telegram_toml(env: &Env, api_base: &str) -> String {
    let token_file = env.dir.path().join("secrets/bot_token");
    std::fs::write(&token_file, format!("{BOT}\n")).unwrap();
    format!(
        "[notify.telegram]\nbot_token_file = \"{}\"\nchat_id = 4242\napi_base = \"{api_base}\"\n\n",
        token_file.display()
    )
}

#[test]
fn telegram_gets_the_code_a_qr_code_and_the_outcome() {
    let idp = idp();
    let tg = FakeTelegram::start(BOT);
    let env = Env::new("");
    env.write_config(&format!(
        "{}{}",
        telegram_toml(&env, &tg.api_base()),
        account_toml("work_365", Dialect::Microsoft, &idp)
    ));
    let out = env.run(&["login", "work_365"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The code is still printed locally.
    assert!(stdout(&out).contains("enter the code"), "{}", stdout(&out));

    let msgs = tg.messages();
    assert_eq!(msgs.len(), 2, "code and outcome: {msgs:?}");
    let code_msg = &msgs[0];
    assert_eq!(code_msg.chat_id, "4242");
    assert_eq!(code_msg.parse_mode.as_deref(), Some("HTML"));
    let user_code = idp.last_user_code().unwrap();
    assert!(
        code_msg.text.contains(&format!("<code>{user_code}</code>")),
        "{}",
        code_msg.text
    );
    assert!(code_msg.text.contains("work_365"), "{}", code_msg.text);
    assert!(
        code_msg.text.to_lowercase().contains("microsoft"),
        "{}",
        code_msg.text
    );
    assert!(
        code_msg.text.contains("Files.Read"),
        "scopes named: {}",
        code_msg.text
    );
    assert!(
        code_msg.text.contains(&idp.verification_uri()),
        "{}",
        code_msg.text
    );
    let photos = tg.photos();
    assert_eq!(photos.len(), 1);
    assert!(photos[0].bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(
        msgs[1]
            .text
            .to_lowercase()
            .contains("signed in as ada lovelace"),
        "{}",
        msgs[1].text
    );
    assert!(
        msgs[1].text.contains("ada@example.test"),
        "{}",
        msgs[1].text
    );
    assert!(
        !tg.requests()
            .iter()
            .any(|m| m.eq_ignore_ascii_case("getUpdates"))
    );
    assert!(tg.rejected().is_empty(), "{:?}", tg.rejected());

    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    secrets.push(BOT.to_string());
    secrets.push(VAULT_KEY.to_string());
    env.assert_no_secrets(&secrets);
    for m in &msgs {
        for s in &secrets {
            assert!(!m.text.contains(s.as_str()), "secret in a Telegram message");
        }
    }
}

#[test]
fn telegram_failures_are_reported_with_a_clear_reason() {
    let mut o = Options::new(Dialect::Google);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let tg = FakeTelegram::start(BOT);
    let env = Env::new("");
    env.write_config(&format!(
        "{}{}",
        telegram_toml(&env, &tg.api_base()),
        account_toml("g", Dialect::Google, &idp)
    ));
    let run = env.login_json("g");
    let code = {
        let mut run = run;
        let c = run.next_event(Duration::from_secs(30));
        assert!(idp.deny(c["user_code"].as_str().unwrap()));
        let (status, _, _) = run.finish(&env);
        assert_eq!(status, 4);
        c
    };
    let msgs = tg.messages();
    let last = &msgs.last().unwrap().text;
    assert!(last.contains("declined"), "{last}");
    assert!(
        !last.contains("panicked") && !last.contains("backtrace"),
        "{last}"
    );
    assert!(msgs[0].text.contains(code["user_code"].as_str().unwrap()));
}

#[test]
fn telegram_429_is_honoured_and_5xx_retried() {
    let idp = idp();
    let tg = FakeTelegram::start(BOT);
    tg.inject([
        TgFault::TooManyRequests { retry_after: 1 },
        TgFault::Status(502),
    ]);
    let env = Env::new("");
    env.write_config(&format!(
        "{}{}",
        telegram_toml(&env, &tg.api_base()),
        account_toml("w", Dialect::Microsoft, &idp)
    ));
    let t0 = Instant::now();
    let out = env.run(&["login", "w"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(t0.elapsed() >= Duration::from_secs(1));
    assert_eq!(tg.messages().len(), 2, "delivered after the retries");
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[test]
fn unreachable_or_refusing_telegram_does_not_stop_the_sign_in() {
    for base in [
        "http://127.0.0.1:9".to_string(),
        FakeTelegram::start("another:token").api_base(),
    ] {
        let idp = idp();
        let env = Env::new("");
        env.write_config(&format!(
            "{}{}",
            telegram_toml(&env, &base),
            account_toml("w", Dialect::Microsoft, &idp)
        ));
        let out = env.run(&["login", "w", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let lines: Vec<Value> = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["event"], "code");
        assert_eq!(lines.last().unwrap()["event"], "signed_in");
        let err = stderr(&out);
        assert!(err.contains("could not notify via telegram"), "{err}");
        assert!(
            !err.contains(BOT) && !err.contains("AAbbCC"),
            "bot token leaked: {err}"
        );
    }
}

#[test]
fn webhook_and_ntfy_receive_the_documented_bodies() {
    let idp = idp();
    let hook = FakeHook::start();
    let ntfy = FakeHook::start();
    let env = Env::new("");
    let bearer = env.dir.path().join("secrets/hook_token");
    std::fs::write(&bearer, "hook-bearer-secret-123\n").unwrap();
    env.write_config(&format!(
        "[notify.webhook]\nurl = \"{}/sidekey\"\nbearer_token_file = \"{}\"\n\n[notify.ntfy]\nserver = \"{}\"\ntopic = \"sidekey_codes\"\n\n{}",
        hook.url(),
        bearer.display(),
        ntfy.url(),
        account_toml("w", Dialect::Microsoft, &idp)
    ));
    let out = env.run(&["login", "w", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();

    let reqs = hook.requests();
    assert_eq!(reqs.len(), 2);
    for (r, p) in reqs.iter().zip(&printed) {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/sidekey");
        let auth = r
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.as_str());
        assert_eq!(auth, Some("Bearer hook-bearer-secret-123"));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(&body, p, "the webhook gets the same event as --json");
    }

    let n = ntfy.requests();
    assert_eq!(n.len(), 2);
    assert_eq!(n[0].path, "/sidekey_codes");
    let header = |k: &str| {
        n[0].headers
            .iter()
            .find(|(h, _)| h == k)
            .map(|(_, v)| v.clone())
    };
    assert!(header("title").is_some());
    assert_eq!(
        header("click").as_deref(),
        Some(idp.verification_uri().as_str())
    );
    let text = String::from_utf8_lossy(&n[0].body);
    assert!(text.contains(&idp.last_user_code().unwrap()), "{text}");
    env.assert_no_secrets(&["hook-bearer-secret-123".to_string()]);
}
