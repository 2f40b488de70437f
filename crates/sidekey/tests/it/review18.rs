//! Review of issue 18 (not for main): holes found by the red-team review.

use crate::common;

use common::daemon_helpers::{API_KEY, Daemon, raw, start_daemon};
use common::*;
use serde_json::Value;
use sidekey_testkit::telegram::FakeTelegram;
use sidekey_testkit::{Dialect, FakeIdp, FakeUser, Options};
use std::process::Stdio;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);
const BOT: &str = "123456789:AAbbCCddEEff_secret-bot-token";

fn mallory() -> FakeUser {
    FakeUser {
        name: "Mallory".into(),
        email: Some("mallory@example.test".into()),
        login: "mallory".into(),
        subject: Some("a11ce000-0000-4000-8000-00000000bad0".into()),
    }
}

fn telegram_toml(env: &Env, tg: &FakeTelegram) -> String {
    let token_file = env.dir.path().join("secrets/bot_token");
    std::fs::write(&token_file, format!("{BOT}\n")).unwrap();
    format!(
        "[notify.telegram]\nbot_token_file = \"{}\"\nchat_id = 4242\napi_base = \"{}\"\n\n",
        token_file.display(),
        tg.api_base()
    )
}

fn api(d: &Daemon, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let (status, text) = raw(&d.socket, method, path, Some(API_KEY), body);
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}")),
    )
}

fn person_login(env: &Env, idp: &FakeIdp, name: &str) {
    let mut child = env
        .cmd(&["login", name, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = idp.wait_for_user_code(T).expect("a code");
    assert!(idp.approve(&code));
    assert_eq!(wait_timeout(&mut child, T), 0);
}

fn status_user(env: &Env, name: &str) -> Value {
    let out = env.run(&["status", name, "--json"]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    v["accounts"][0]["user"].clone()
}

/// Item 1: with a channel, the code is withheld from the agent in POST /v1/login and
/// GET /v1/login/NAME — but GET /v1/status hands it over in the account's note.
#[test]
fn status_does_not_hand_the_withheld_code_to_the_agent() {
    let idp = FakeIdp::start(Options::new(Dialect::Oidc));
    let tg = FakeTelegram::start(BOT);
    let env = Env::new("");
    env.write_config(&format!(
        "{}{}",
        telegram_toml(&env, &tg),
        account_toml("o", Dialect::Oidc, &idp)
    ));
    let d = start_daemon(&env);
    let (st, started) = api(&d, "POST", "/v1/login", Some(r#"{"account":"o"}"#));
    assert_eq!(st, 200, "{started}");
    let code = idp.wait_for_user_code(T).expect("a code is out");
    assert!(!started.to_string().contains(&code));
    let (_, status) = api(&d, "GET", "/v1/status", None);
    assert!(
        !status.to_string().contains(&code),
        "the agent read the withheld code from /v1/status: {status}"
    );
    // It is told where the code went instead; the person at the machine still reads it.
    let note = status["accounts"][0]["note"].as_str().unwrap_or_default();
    assert!(note.contains("telegram"), "{note}");
    assert!(stdout(&env.run(&["status", "o", "--json"])).contains(&code));
}

/// Item 1: the person's `--replace-identity` sign-in's code is "withheld from the agent whatever
/// the channels" (docs/identity.md) — but /v1/status shows it, so the agent approves it first
/// as another account and that account becomes the remembered identity.
#[test]
fn the_agent_cannot_win_the_persons_replace_identity_sign_in() {
    let idp = FakeIdp::start(Options::new(Dialect::Oidc));
    let env = Env::new("");
    env.write_config(&account_toml("o", Dialect::Oidc, &idp));
    person_login(&env, &idp, "o");
    let d = start_daemon(&env);
    // The person, at the machine, means to switch accounts (handed to a background poller).
    let out = env.run(&["login", "o", "--replace-identity", "--no-wait", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The agent is told nothing by GET /v1/login/o ...
    let (_, p) = api(&d, "GET", "/v1/login/o?wait=0", None);
    assert_eq!(p["user_code"], "", "{p}");
    // ... but reads the code from /v1/status and approves it as Mallory.
    let (_, status) = api(&d, "GET", "/v1/status", None);
    let code = idp.wait_for_user_code(T).expect("the person's code");
    assert!(!status.to_string().contains(&code), "{status}");
    let note = status["accounts"][0]["note"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let leaked = note
        .strip_prefix("waiting for the code ")
        .and_then(|r| r.split(' ').next())
        .map(str::to_owned);
    if let Some(code) = leaked {
        assert!(idp.approve_as(&code, mallory()));
        let t0 = Instant::now();
        while status_user(&env, "o")["name"] != "Mallory" && t0.elapsed() < T {
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "the agent read the replacing sign-in's code from /v1/status ({note}); stored user now: {}",
            status_user(&env, "o")
        );
    }
}

/// Item 3: "a paste with an error must not cancel a sign-in the person started locally" —
/// a paste with a made-up *code* instead of an error does: the one exchange is spent on it.
#[test]
fn an_agents_bogus_code_paste_does_not_cancel_the_persons_sign_in() {
    let idp = FakeIdp::start(Options::new(Dialect::Oidc));
    let env = Env::new(&format!(
        "[accounts.c]\nprovider = \"oidc\"\nclient_id = \"test-client\"\nissuer = \"{}\"\nflow = \"code\"\n",
        idp.issuer()
    ));
    let d = start_daemon(&env);
    let out = env.run(&["login", "c", "--no-wait", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // No channel: the agent is shown the person's link (GET /v1/login/c).
    let (_, p) = api(&d, "GET", "/v1/login/c?wait=0", None);
    let link = p["verification_uri"].as_str().unwrap().to_string();
    assert!(!link.is_empty(), "{p}");
    let q = |k: &str| {
        url::Url::parse(&link)
            .unwrap()
            .query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.to_string())
            .unwrap()
    };
    let mut forged = url::Url::parse(&q("redirect_uri")).unwrap();
    forged
        .query_pairs_mut()
        .append_pair("state", &q("state"))
        .append_pair("code", "made-up-by-the-agent");
    let body = serde_json::json!({ "url": forged.to_string() }).to_string();
    let (st, pasted) = raw(
        &d.socket,
        "POST",
        "/v1/login/c/redirect",
        Some(API_KEY),
        Some(&body),
    );
    let t0 = Instant::now();
    let mut last = Value::Null;
    while t0.elapsed() < Duration::from_secs(5) {
        last = api(&d, "GET", "/v1/login/c?wait=0", None).1;
        if last["progress"] != "pending" {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        last["progress"], "pending",
        "the agent ended the person's sign-in with a made-up code (paste: {st} {pasted}): {last}"
    );
}
