//! Issue 18: the agent cannot speak in the person's channels, the code exchange is scrubbed,
//! the loopback listener cannot be held, and client mode never prints `SIDEKEY_URL`'s password.
//! The binary runs against the fake IdP, a fake webhook and a fake Telegram; the test plays the
//! browser and the agent.

use crate::common;

use common::browser::{approve, get};
use common::daemon_helpers::{API_KEY, Daemon, agent, raw, start_daemon};
use common::*;
use serde_json::Value;
use sidekey_testkit::telegram::{FakeHook, FakeTelegram};
use sidekey_testkit::{Dialect, FakeIdp, Fault, Options};
use std::process::Stdio;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);
const BOT: &str = "123456789:AAbbCCddEEff_secret-bot-token";
/// What the agent would like the person to read, as if the provider had said it.
const FORGED: &str = "Your account is locked. Call +1-555-0100 to unlock it";

/// A code-flow account whose link the agent is shown (`show_code_to_agent`: the setups where
/// the agent relays it), so the agent holds a live sign-in's state and could forge its refusal.
/// With the default policy and a channel, the agent never sees the link at all (`identity.rs`).
fn code_account(name: &str, idp: &FakeIdp) -> String {
    format!(
        "[accounts.{name}]\nprovider = \"oidc\"\nclient_id = \"test-client\"\nissuer = \"{}\"\nflow = \"code\"\n[accounts.{name}.policy]\nshow_code_to_agent = true\n",
        idp.issuer()
    )
}

fn webhook(hook: &FakeHook) -> String {
    format!("[notify.webhook]\nurl = \"{}/sidekey\"\n\n", hook.url())
}

fn query(url: &str, key: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

/// The redirect someone sends instead of the provider's: this sign-in's state, an error, and a
/// description of their choosing.
fn forged_refusal(link: &str) -> String {
    let state = query(link, "state");
    let redirect_uri = query(link, "redirect_uri");
    let mut u = url::Url::parse(&redirect_uri).unwrap();
    u.query_pairs_mut()
        .append_pair("state", &state)
        .append_pair("error", "access_denied")
        .append_pair("error_description", FORGED);
    u.to_string()
}

fn post_redirect(d: &Daemon, name: &str, url: &str) -> (u16, String) {
    let body = serde_json::json!({ "url": url }).to_string();
    raw(
        &d.socket,
        "POST",
        &format!("/v1/login/{name}/redirect"),
        Some(API_KEY),
        Some(&body),
    )
}

fn progress(d: &Daemon, name: &str, wait: u64) -> Value {
    let (s, body) = raw(
        &d.socket,
        "GET",
        &format!("/v1/login/{name}?wait={wait}"),
        Some(API_KEY),
        None,
    );
    assert_eq!(s, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn start_as_agent(d: &Daemon, name: &str) -> String {
    let (s, body) = raw(
        &d.socket,
        "POST",
        "/v1/login",
        Some(API_KEY),
        Some(&format!(r#"{{"account":"{name}"}}"#)),
    );
    assert_eq!(s, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["verification_uri"].as_str().unwrap().to_string()
}

/// Every webhook body so far, as text.
fn hook_text(hook: &FakeHook) -> String {
    hook.requests()
        .iter()
        .map(|r| r.text())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Wait until the webhook has seen a `failed` event (notifications go out in the background).
fn wait_for_failed(hook: &FakeHook) -> Value {
    let t0 = Instant::now();
    loop {
        if let Some(v) = hook
            .requests()
            .iter()
            .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .find(|v| v["event"] == "failed")
        {
            return v;
        }
        assert!(t0.elapsed() < T, "no failed event: {}", hook_text(hook));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Item 3: a sign-in the person started at the terminal is not cancelled by an error redirect
/// the agent pastes (exit 6, audited as a refusal); it keeps waiting and the person finishes it.
/// Nothing of the agent's text reaches the person's channel.
#[test]
fn an_agents_error_paste_does_not_cancel_the_persons_sign_in() {
    let idp = FakeIdp::start(Options::new(Dialect::Oidc));
    let hook = FakeHook::start();
    let env = Env::new(&format!("{}{}", webhook(&hook), code_account("c", &idp)));
    let d = start_daemon(&env);
    // The person, at the terminal of the machine with the vault.
    let out = env.run(&["login", "c", "--no-wait", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let started: Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    let link = started["verification_uri"].as_str().unwrap().to_string();

    // The agent pastes a refusal with words of its own, over the API and with the CLI.
    let (status, body) = post_redirect(&d, "c", &forged_refusal(&link));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("started at the terminal"), "{body}");
    let out = agent(
        &env,
        &d,
        &["login", "c", "--paste-url", &forged_refusal(&link)],
    );
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(!stderr(&out).contains(FORGED), "{}", stderr(&out));
    let p = progress(&d, "c", 0);
    assert_eq!(p["progress"], "pending", "the sign-in was cancelled: {p}");

    // The person's own redirect still signs in.
    let redirect = approve(&link);
    let ok = env.run(&["login", "c", "--paste-url", &redirect]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert_eq!(idp.issued_access_tokens().len(), 1);

    let log = std::fs::read_to_string(env.home.join("audit.log")).unwrap();
    let denied = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["operation"] == "login" && e["decision"] == "deny")
        .count();
    assert_eq!(denied, 2, "{log}");
    let t0 = Instant::now();
    while !hook_text(&hook).contains("signed_in") && t0.elapsed() < T {
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = hook_text(&hook);
    assert!(sent.contains("signed_in"), "{sent}");
    assert!(!sent.contains("failed"), "{sent}");
    assert!(!sent.contains("locked"), "{sent}");
    assert!(!log.contains("locked"), "{log}");
}

/// Item 3: the agent may cancel a sign-in it started itself, but the channels say so in
/// sidekey's words, never the pasted description. A refusal on the loopback listener shows the
/// provider's error code, not its description (anyone on the machine can reach the listener).
#[test]
fn the_agent_cancels_only_in_sidekeys_words() {
    let idp = FakeIdp::start(Options::new(Dialect::Oidc));
    let hook = FakeHook::start();
    let tg = FakeTelegram::start(BOT);
    let env = Env::new("");
    let token_file = env.dir.path().join("secrets/bot_token");
    std::fs::write(&token_file, format!("{BOT}\n")).unwrap();
    env.write_config(&format!(
        "[notify.telegram]\nbot_token_file = \"{}\"\nchat_id = 4242\napi_base = \"{}\"\n\n{}{}",
        token_file.display(),
        tg.api_base(),
        webhook(&hook),
        code_account("c", &idp)
    ));
    let d = start_daemon(&env);
    let link = start_as_agent(&d, "c");
    let (status, body) = post_redirect(&d, "c", &forged_refusal(&link));
    assert_eq!(status, 200, "{body}");
    let p = progress(&d, "c", 10);
    assert_eq!(p["event"], "failed", "{p}");
    let message = p["message"].as_str().unwrap();
    assert!(
        message.contains("cancelled from the agent's side"),
        "{message}"
    );
    let failed = wait_for_failed(&hook);
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("cancelled from the agent's side"),
        "{failed}"
    );
    let t0 = Instant::now();
    while tg.messages().len() < 2 && t0.elapsed() < T {
        std::thread::sleep(Duration::from_millis(50));
    }
    let tg_text: String = tg.messages().iter().map(|m| m.text.clone()).collect();
    assert!(tg_text.contains("cancelled from the agent"), "{tg_text}");

    // The same refusal sent to the loopback listener: the code is shown, the words are not.
    let hook2 = FakeHook::start();
    env.write_config(&format!("{}{}", webhook(&hook2), code_account("c", &idp)));
    drop(d);
    let d = start_daemon(&env);
    let link = start_as_agent(&d, "c");
    let (status, _) = get(&forged_refusal(&link));
    assert_eq!(status, 200);
    let p = progress(&d, "c", 10);
    assert_eq!(p["event"], "failed", "{p}");
    let failed = wait_for_failed(&hook2);
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("access_denied"),
        "{failed}"
    );

    for text in [
        hook_text(&hook),
        hook_text(&hook2),
        tg_text,
        p.to_string(),
        std::fs::read_to_string(env.home.join("audit.log")).unwrap(),
    ] {
        assert!(
            !text.contains("locked"),
            "the agent's words got through: {text}"
        );
    }
}

/// Item 4: a token endpoint that echoes the code exchange (client secret, PKCE verifier, code)
/// in its error: none of them reaches the agent (`GET /v1/login/NAME`), the CLI, the webhook,
/// Telegram or the audit log. Item 6: the failure speaks of the sign-in link, not a device code.
#[test]
fn an_echoed_code_exchange_hands_nothing_on() {
    const SECRET: &str = "client-secret-0123456789-xyz";
    let mut o = Options::new(Dialect::Oidc);
    o.client_secret = Some(SECRET.into());
    let idp = FakeIdp::start(o);
    let hook = FakeHook::start();
    let tg = FakeTelegram::start(BOT);
    let env = Env::new("");
    let token_file = env.dir.path().join("secrets/bot_token");
    std::fs::write(&token_file, format!("{BOT}\n")).unwrap();
    env.write_config(&format!(
        "[notify.telegram]\nbot_token_file = \"{}\"\nchat_id = 4242\napi_base = \"{}\"\n\n{}{}",
        token_file.display(),
        tg.api_base(),
        webhook(&hook),
        code_account("c", &idp).replace(
            "[accounts.c.policy]",
            &format!("client_secret = \"{SECRET}\"\n[accounts.c.policy]")
        )
    ));
    let d = start_daemon(&env);
    let link = start_as_agent(&d, "c");
    let redirect = approve(&link);
    let code = query(&redirect, "code");
    idp.inject([Fault::EchoRequest {
        status: 400,
        error: "invalid_grant",
    }]);
    let out = agent(&env, &d, &["login", "c", "--paste-url", &redirect]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let p = progress(&d, "c", 10);
    assert_eq!(p["event"], "failed", "{p}");
    let message = p["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("[redacted]"),
        "nothing was echoed? {message}"
    );
    assert!(message.contains("sign-in link"), "{message}");
    assert!(!message.contains("device code"), "{message}");
    let failed = wait_for_failed(&hook);
    let t0 = Instant::now();
    while tg.messages().len() < 2 && t0.elapsed() < T {
        std::thread::sleep(Duration::from_millis(50));
    }
    let tg_text: String = tg.messages().iter().map(|m| m.text.clone()).collect();
    assert!(tg_text.contains("sign-in"), "{tg_text}");
    let audit = std::fs::read_to_string(env.home.join("audit.log")).unwrap();
    let everything = [
        stdout(&out),
        stderr(&out),
        p.to_string(),
        failed.to_string(),
        hook_text(&hook),
        tg_text,
        audit,
    ]
    .join("\n");
    for (what, secret) in [("client secret", SECRET), ("code", code.as_str())] {
        assert!(
            !everything.contains(secret),
            "the {what} was handed on: {everything}"
        );
    }
    // The verifier is in the encrypted slot only; whatever follows `code_verifier=` is redacted.
    for (i, _) in everything.match_indices("code_verifier=") {
        let rest = &everything[i + "code_verifier=".len()..];
        assert!(
            rest.starts_with("[redacted]"),
            "{}",
            &rest[..rest.len().min(60)]
        );
    }
    assert!(
        everything.contains("code_verifier="),
        "the echo was cut: {message}"
    );
}

/// Item 5: twenty idle connections to the loopback listener do not hold up the real redirect.
#[test]
fn idle_connections_do_not_hold_the_loopback_listener() {
    let idp = FakeIdp::start(Options::new(Dialect::Oidc));
    let env = Env::new(&code_account("c", &idp));
    let mut run = env.login_json("c");
    let ev = run.next_event(T);
    let link = ev["verification_uri"].as_str().unwrap().to_string();
    let redirect = approve(&link);
    let u = url::Url::parse(&redirect).unwrap();
    let idle: Vec<std::net::TcpStream> = (0..20)
        .map(|_| std::net::TcpStream::connect((u.host_str().unwrap(), u.port().unwrap())).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    let browser = std::thread::spawn(move || get(&redirect).0);
    let done = run
        .rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the redirect was held up by idle connections");
    let took = t0.elapsed();
    let done: Value = serde_json::from_str(&done).unwrap();
    assert_eq!(done["event"], "signed_in", "{done}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(browser.join().unwrap(), 200);
    drop(idle);
    assert_eq!(run.finish(&env).0, 0);
}

/// Item 6: `SIDEKEY_URL`'s user and password appear in no error message.
#[test]
fn sidekey_url_credentials_never_reach_a_message() {
    let env = Env::new("");
    env.secret("hunter2-pa55word");
    let key = env.dir.path().join("secrets/api_key");
    std::fs::write(&key, format!("{API_KEY}\n")).unwrap();
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for url in [
        format!("http://agent:hunter2-pa55word@127.0.0.1:{port}"),
        format!("https://agent:hunter2-pa55word@127.0.0.1:{port}/"),
        "ftp://agent:hunter2-pa55word@daemon.internal:21".to_string(),
        "http://agent:hunter2-pa55word@daemon.internal:8080".to_string(),
        "agent:hunter2-pa55word@daemon".to_string(),
    ] {
        let out = env
            .recorded(BIN, &["status"], false)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", env.dir.path())
            .env("SIDEKEY_URL", &url)
            .env("SIDEKEY_API_KEY_FILE", &key)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        // Nobody listens on the loopback port: a network failure (5); the others are refused
        // before any connection as a usage error (2).
        let code = if url.contains("127.0.0.1") { 5 } else { 2 };
        assert_eq!(out.status.code(), Some(code), "{url}: {}", stderr(&out));
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!all.contains("hunter2"), "{url}: {all}");
        assert!(!all.contains("agent:"), "{url}: {all}");
        assert!(!all.trim().is_empty(), "{url}: no message");
    }
}
