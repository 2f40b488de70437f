//! Issue 10 hardening, end to end (the agent's side): what the provider grants, what it shows, what it echoes, what
//! the config prints, channels that hang, and plain http to a remote daemon.

use crate::common;

use common::*;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use daemon_helpers::API_KEY;

/// Run to completion, but fail (and kill it) after `limit`: a sign-in that should have been
/// refused would otherwise poll until its code expires.
fn run_for(env: &Env, args: &[&str], limit: Duration) -> Output {
    let child = env
        .cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => {
            let out = out.unwrap();
            env.record(&String::from_utf8_lossy(&out.stdout));
            env.record(&String::from_utf8_lossy(&out.stderr));
            out
        }
        Err(_) => {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("`sidekey {}` still ran after {limit:?}", args.join(" "));
        }
    }
}

/// The agent's side with `SIDEKEY_URL` = `url` (and `extra` variables).
fn client(env: &Env, url: &str, extra: &[(&str, &str)], args: &[&str]) -> Output {
    let key = env.dir.path().join("secrets/api_key");
    std::fs::write(&key, format!("{API_KEY}\n")).unwrap();
    let home = env.dir.path().join("agent-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut c = Command::new(BIN);
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("SIDEKEY_URL", url)
        .env("SIDEKEY_API_KEY_FILE", &key)
        .stdin(Stdio::null());
    for (k, v) in extra {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    env.record(&String::from_utf8_lossy(&out.stdout));
    env.record(&String::from_utf8_lossy(&out.stderr));
    out
}

// ---------------------------------------------------------------------------------------------
// Item 14: plain http to a remote daemon is a conscious choice.

#[test]
fn plain_http_to_a_remote_daemon_needs_an_opt_in() {
    let env = Env::new("");
    let t0 = Instant::now();
    // `.invalid` never resolves: without the refusal this is a network failure (exit 5).
    let out = client(
        &env,
        "http://agent:hunter2secret@sidekey.invalid:8700/x?k=v",
        &[],
        &["status"],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("SIDEKEY_ALLOW_PLAIN_HTTP"), "{err}");
    assert!(err.contains("cleartext"), "{err}");
    assert!(!err.contains("hunter2secret"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(10));

    // Opted in: the client tries (and fails to reach the host: exit 5, not 2).
    for v in ["1", "true"] {
        let out = client(
            &env,
            "http://sidekey.invalid:8700",
            &[("SIDEKEY_ALLOW_PLAIN_HTTP", v)],
            &["status"],
        );
        assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    }
    // Loopback needs no opt-in (nothing listens on port 9: a network failure, exit 5).
    for url in ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9"] {
        let out = client(&env, url, &[], &["status"]);
        assert_eq!(out.status.code(), Some(5), "{url}: {}", stderr(&out));
    }
    // https is never refused for this reason.
    let out = client(&env, "https://sidekey.invalid:8700", &[], &["status"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------------------------
// Item 7: the phishing check checks what is shown.

use sidekey_testkit::telegram::FakeHook;
use sidekey_testkit::{Dialect, FakeIdp, Options};

/// A config with a webhook, so a code that got through would be delivered somewhere.
fn with_hook(hook: &FakeHook, accounts: &str) -> String {
    format!(
        "[notify.webhook]\nurl = \"{}/sidekey\"\n\n{accounts}",
        hook.url()
    )
}

#[test]
fn a_second_url_behind_an_allowed_verification_uri_is_never_shown() {
    for dialect in [Dialect::Microsoft, Dialect::Oidc] {
        let mut o = Options::new(dialect);
        o.verification_uri_suffix = Some("\nhttps://evil.example/devicelogin".into());
        let idp = FakeIdp::start(o);
        let hook = FakeHook::start();
        let env = Env::new(&with_hook(&hook, &account_toml("a", dialect, &idp)));
        for json in [true, false] {
            let args: &[&str] = if json {
                &["login", "a", "--json"]
            } else {
                &["login", "a"]
            };
            let out = run_for(&env, args, Duration::from_secs(20));
            let all = format!("{}{}", stdout(&out), stderr(&out));
            assert_eq!(out.status.code(), Some(5), "{dialect:?}: {all}");
            assert!(!all.contains("evil.example"), "{dialect:?}: {all}");
            assert!(all.contains("verification"), "{dialect:?}: {all}");
        }
        assert!(
            hook.requests().is_empty(),
            "{dialect:?}: a code was delivered"
        );
    }
}

#[test]
fn a_user_code_with_escapes_or_of_huge_size_is_refused_before_it_is_shown() {
    for shown in [
        "\u{1b}[2K\u{1b}[1AFAKE-CODE".to_string(),
        "A".repeat(200 * 1024),
    ] {
        let mut o = Options::new(Dialect::Oidc);
        o.shown_user_code = Some(shown.clone());
        let idp = FakeIdp::start(o);
        let hook = FakeHook::start();
        let env = Env::new(&with_hook(&hook, &account_toml("a", Dialect::Oidc, &idp)));
        let out = run_for(&env, &["login", "a", "--json"], Duration::from_secs(20));
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(5), "{}", &all[..all.len().min(500)]);
        assert!(!all.contains('\u{1b}'), "an escape reached the terminal");
        assert!(all.len() < 4096, "{} bytes printed", all.len());
        assert!(all.contains("user code"), "{all}");
        assert!(hook.requests().is_empty(), "a code was delivered");
    }
}

// ---------------------------------------------------------------------------------------------
// Item 13: a hanging channel never delays the sign-in.

#[test]
fn a_hanging_webhook_delays_neither_no_wait_nor_the_first_poll() {
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let hook = FakeHook::start();
    hook.hang();
    let env = Env::new(&with_hook(&hook, &account_toml("a", Dialect::Oidc, &idp)));

    // `login --no-wait` prints the code and returns; the delivery is not its business.
    let t0 = Instant::now();
    let out = run_for(
        &env,
        &["login", "a", "--no-wait", "--json"],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "login --no-wait took {:?}",
        t0.elapsed()
    );
    // The background process polls on time (the code is approved at its first poll) and
    // delivers the code to the webhook meanwhile.
    let t1 = Instant::now();
    while idp.counters().polls == 0 {
        assert!(
            t1.elapsed() < Duration::from_secs(8),
            "no poll within 8 s of the handover"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    while !hook
        .requests()
        .iter()
        .any(|r| r.text().contains("\"code\""))
    {
        assert!(
            t1.elapsed() < Duration::from_secs(10),
            "the code was never sent"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // In the foreground: signed in within seconds, not after the webhook's retries.
    let env = Env::new(&with_hook(&hook, &account_toml("b", Dialect::Oidc, &idp)));
    let t0 = Instant::now();
    let mut run = env.login_json("b");
    let code = run.next_event(Duration::from_secs(10));
    assert_eq!(code["event"], "code", "{code}");
    let signed = run.next_event(Duration::from_secs(10));
    assert_eq!(signed["event"], "signed_in", "{signed}");
    assert!(
        t0.elapsed() < Duration::from_secs(8),
        "took {:?}",
        t0.elapsed()
    );
    // The process still waits (bounded) for its deliveries before it exits.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        run.child.try_wait().unwrap().is_none(),
        "exited without waiting for the deliveries"
    );
    let _ = run.child.kill();
    let _ = run.child.wait();
}

// ---------------------------------------------------------------------------------------------
// Item 8: provider error text never carries our secrets onward.

use sidekey_testkit::Fault;

#[test]
fn a_provider_that_echoes_the_request_never_hands_our_secrets_on() {
    const SECRET: &str = "client-secret-0123456789-xyz";
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    o.client_secret = Some(SECRET.into());
    o.first_access_token_ttl = Some(1);
    let idp = FakeIdp::start(o);
    let toml = format!(
        "{}\nclient_secret = \"{SECRET}\"\n",
        account_toml("a", Dialect::Oidc, &idp).trim_end()
    );
    let env = Env::new(&toml);
    let out = run_for(&env, &["login", "a", "--json"], Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let refresh = idp.issued_refresh_tokens();
    assert_eq!(refresh.len(), 1);

    // The refresh is answered with an error that echoes the request form.
    std::thread::sleep(Duration::from_millis(1500));
    idp.inject([Fault::EchoRequest {
        status: 400,
        error: "invalid_grant",
    }]);
    let out = env.run(&["token", "a"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("[redacted]"), "{}", stderr(&out));
    let st = env.run(&["status", "--json"]);
    assert!(stdout(&st).contains("reauth_required"), "{}", stdout(&st));

    // A device-code poll answered the same way: the failed event names no device code.
    let env2 = Env::new(&toml);
    idp.inject([Fault::EchoRequest {
        status: 400,
        error: "access_denied",
    }]);
    let out = run_for(&env2, &["login", "a", "--json"], Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(all.contains("device_code=[redacted]"), "{all}");

    let mut secrets = refresh;
    secrets.push(SECRET.to_string());
    env.assert_no_secrets(&secrets);
    env2.assert_no_secrets(&secrets);
}

// ---------------------------------------------------------------------------------------------
// Item 6: the scope ceiling holds for what the provider grants.

use crate::common::daemon_helpers;

/// A Microsoft account limited to `openid offline_access` (+ User.Read) whose app was once
/// consented to Mail.Send and Directory.ReadWrite.All: Entra returns them again.
fn over_granted() -> (FakeIdp, FakeHook, Env) {
    let mut o = Options::new(Dialect::Microsoft);
    o.auto_approve_after_polls = Some(1);
    o.granted_extra_scopes = vec![
        "https://graph.microsoft.com/Mail.Send".into(),
        "Directory.ReadWrite.All".into(),
        "Mail.Read".into(),
        "profile".into(),
        "email".into(),
    ];
    let idp = FakeIdp::start(o);
    let hook = FakeHook::start();
    let toml = format!(
        "[notify.webhook]\nurl = \"{}/sidekey\"\n\n[accounts.m]\nprovider = \"microsoft\"\nclient_id = \"test-client\"\nauthority = \"{}/common\"\napi_base = \"{}\"\nscopes = [\"openid\", \"offline_access\", \"user.read\"]\n\n[accounts.m.policy]\nallow_token_export = true\n",
        hook.url(),
        idp.base_url(),
        idp.api_base()
    );
    let env = Env::new(&toml);
    (idp, hook, env)
}

#[test]
fn granted_scopes_beyond_the_ceiling_are_refused_and_reported() {
    let (_idp, hook, env) = over_granted();
    let out = run_for(&env, &["login", "m"], Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shown = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        shown.contains("Mail.Send"),
        "no warning at sign-in: {shown}"
    );
    assert!(shown.contains("Directory.ReadWrite.All"), "{shown}");
    assert!(
        !shown.contains("profile,") && !shown.contains("email,"),
        "{shown}"
    );
    // The channels are told too.
    let t0 = Instant::now();
    while !hook
        .requests()
        .iter()
        .any(|r| r.text().contains("signed_in") && r.text().contains("Mail.Send"))
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no warning on the webhook"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Status says so.
    let st = env.run(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    let note = v["accounts"][0]["note"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(note.contains("Mail.Send"), "{v}");

    // No export, locally (see the README: the ceiling is the account's, whoever asks) …
    let out = env.run(&["token", "m"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    assert!(stderr(&out).contains("Mail.Send"), "{}", stderr(&out));
    let out = env.run(&["exec", "m", "--", "true"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));

    // … and through the daemon.
    let d = daemon_helpers::start_daemon(&env);
    let (s, body) = daemon_helpers::raw(
        &d.socket,
        "POST",
        "/v1/token",
        Some(daemon_helpers::API_KEY),
        Some(r#"{"account":"m"}"#),
    );
    assert_eq!(s, 403, "{body}");
    assert!(body.contains("\"policy\""), "{body}");
    assert!(!body.contains("access_token\""), "{body}");
    // An operation within the ceiling still runs; one beyond it does not.
    let (s, body) = daemon_helpers::raw(
        &d.socket,
        "POST",
        "/v1/op",
        Some(daemon_helpers::API_KEY),
        Some(r#"{"op":"ms.me"}"#),
    );
    assert_eq!(s, 200, "{body}");
    let (s, body) = daemon_helpers::raw(
        &d.socket,
        "POST",
        "/v1/op",
        Some(daemon_helpers::API_KEY),
        Some(r#"{"op":"ms.mail.unread","top":5}"#),
    );
    assert_eq!(s, 403, "{body}");
    assert!(
        body.contains("\"policy\"") && body.contains("Mail.Read"),
        "{body}"
    );
}

/// Graph (or a proxy in front of it) echoing the request: the access token never reaches the
/// agent, through the CLI or `POST /v1/op`.
#[test]
fn a_graph_error_that_echoes_the_token_is_scrubbed() {
    use sidekey_testkit::graph::{FakeGraph, GraphOptions};
    let mut o = Options::new(Dialect::Microsoft);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let graph = FakeGraph::start(GraphOptions {
        echo_authorization: true,
        ..GraphOptions::default()
    });
    graph.trust(&idp);
    let env = Env::new(&format!(
        "[accounts.work]\nprovider = \"microsoft\"\nclient_id = \"test-client\"\nauthority = \"{}/common\"\napi_base = \"{}\"\nscopes = [\"User.Read\", \"Calendars.ReadBasic\", \"Mail.ReadBasic\", \"Files.Read\", \"Contacts.Read\", \"offline_access\"]\n",
        idp.base_url(),
        graph.base_url()
    ));
    let out = run_for(&env, &["login", "work"], Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = env.run(&["ms", "me"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("[redacted]"), "{}", stderr(&out));
    // The dashboard's one `$batch` request is refused with the echo: exit 5, scrubbed.
    let out = env.run(&["ms", "dashboard", "--json"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("[redacted]"), "{}", stderr(&out));
    let d = daemon_helpers::start_daemon(&env);
    let (_, body) = daemon_helpers::raw(
        &d.socket,
        "POST",
        "/v1/op",
        Some(API_KEY),
        Some(r#"{"op":"ms.dashboard"}"#),
    );
    env.record(&body);
    let (_, body) = daemon_helpers::raw(
        &d.socket,
        "POST",
        "/v1/op",
        Some(API_KEY),
        Some(r#"{"op":"ms.me"}"#),
    );
    assert!(body.contains("[redacted]"), "{body}");
    env.record(&body);
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}
