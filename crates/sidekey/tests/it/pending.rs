//! Sign-in that does not block, one sign-in per account, and the phishing check on the
//! verification page.

use crate::common;

use common::*;
use serde_json::Value;
use sidekey_testkit::{Dialect, FakeIdp, Options};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

fn status_of(env: &Env, name: &str) -> Value {
    let st = env.run(&["status", name, "--json"]);
    assert_eq!(st.status.code(), Some(0), "{}", stderr(&st));
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    v["accounts"][0].clone()
}

#[test]
fn no_wait_returns_at_once_and_the_background_finishes() {
    let mut o = Options::new(Dialect::Okta);
    o.auto_approve_after_polls = Some(3);
    let idp = FakeIdp::start(o);
    let env = Env::new(&account_toml("ok", Dialect::Okta, &idp));
    let t0 = Instant::now();
    let out = env.run(&["login", "ok", "--no-wait", "--json"]);
    let took = t0.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        took < Duration::from_millis(1500),
        "returned after {took:?}"
    );
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "only the code event: {lines:?}");
    assert_eq!(lines[0]["event"], "code");
    let code = lines[0]["user_code"].as_str().unwrap().to_string();

    let a = status_of(&env, "ok");
    assert_eq!(a["state"], "pending", "{a}");
    assert_eq!(a["expires_at"], lines[0]["expires_at"]);

    // `--wait` joins the background sign-in and reports its outcome.
    let w = env.run(&["login", "ok", "--wait", "--json"]);
    assert_eq!(w.status.code(), Some(0), "{}", stderr(&w));
    let evs: Vec<Value> = stdout(&w)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(evs[0]["user_code"], code.as_str(), "same code: {evs:?}");
    assert_eq!(evs.last().unwrap()["event"], "signed_in", "{evs:?}");
    assert_eq!(status_of(&env, "ok")["state"], "signed_in");
    let c = idp.counters();
    assert_eq!(c.device_requests, 1);
    assert_eq!(c.polls_after_success, 0);
    assert_eq!(
        stdout(&env.run(&["token", "ok"])).trim(),
        idp.issued_access_tokens()[0]
    );
}

#[test]
fn a_second_login_joins_the_pending_one() {
    let idp = FakeIdp::start(Options::new(Dialect::Microsoft));
    let env = Env::new(&account_toml("work", Dialect::Microsoft, &idp));
    let mut first = env.login_json("work");
    let c1 = first.next_event(T);
    let mut second = env.login_json("work");
    let c2 = second.next_event(T);
    assert_eq!(c1["user_code"], c2["user_code"]);
    assert_eq!(idp.counters().device_requests, 1, "no second flow");
    assert!(idp.approve(c1["user_code"].as_str().unwrap()));
    let s1 = first.next_event(T);
    let s2 = second.next_event(T);
    assert_eq!(s1["event"], "signed_in");
    assert_eq!(s2["event"], "signed_in");
    assert_eq!(first.finish(&env).0, 0);
    assert_eq!(second.finish(&env).0, 0);
    assert_eq!(idp.counters().polls_after_success, 0);
}

#[test]
fn a_joined_login_gets_the_failure_too() {
    let idp = FakeIdp::start(Options::new(Dialect::Google));
    let env = Env::new(&account_toml("g", Dialect::Google, &idp));
    let mut first = env.login_json("g");
    let c1 = first.next_event(T);
    let mut second = env.login_json("g");
    second.next_event(T);
    assert!(idp.deny(c1["user_code"].as_str().unwrap()));
    assert_eq!(first.next_event(T)["reason"], "declined");
    assert_eq!(second.next_event(T)["reason"], "declined");
    assert_eq!(first.finish(&env).0, 4);
    assert_eq!(second.finish(&env).0, 4);
}

#[test]
fn an_interrupted_sign_in_is_reported_and_resumed() {
    let idp = FakeIdp::start(Options::new(Dialect::Oidc));
    let env = Env::new(&account_toml("o", Dialect::Oidc, &idp));
    let mut run = env.login_json("o");
    let code = run.next_event(T);
    run.child.kill().unwrap(); // SIGKILL, as a crash or a restart would
    run.child.wait().unwrap();
    let a = status_of(&env, "o");
    assert_eq!(a["state"], "signed_out", "{a}");
    let human = stdout(&env.run(&["status", "o"]));
    assert!(human.contains("the sign-in stopped"), "{human}");

    let mut resumed = env.login_json("o");
    let again = resumed.next_event(T);
    assert_eq!(
        again["user_code"], code["user_code"],
        "the person's code still works"
    );
    assert!(idp.approve(code["user_code"].as_str().unwrap()));
    assert_eq!(resumed.next_event(T)["event"], "signed_in");
    assert_eq!(resumed.finish(&env).0, 0);
    assert_eq!(idp.counters().device_requests, 1);
}

#[test]
fn wait_without_a_pending_sign_in_says_so() {
    let idp = FakeIdp::start(Options::new(Dialect::Oidc));
    let env = Env::new(&account_toml("o", Dialect::Oidc, &idp));
    let out = env.run(&["login", "o", "--wait"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no sign-in is pending"),
        "{}",
        stderr(&out)
    );
    assert_eq!(idp.counters().device_requests, 0);
}

#[test]
fn a_tampered_verification_host_is_refused() {
    let mut o = Options::new(Dialect::Microsoft);
    o.verification_host = Some("https://microsoft-login.example.net".into());
    let idp = FakeIdp::start(o);
    let env = Env::new(&account_toml("work", Dialect::Microsoft, &idp));
    let out = env.run(&["login", "work", "--json"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "no code event: {lines:?}");
    assert_eq!(lines[0]["reason"], "untrusted_verification_uri");
    assert!(
        stderr(&out).contains("microsoft-login.example.net"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("phishing"), "{}", stderr(&out));
    // With the host allowed explicitly, the same server is accepted.
    env.write_config(&format!(
        "{}\nverification_hosts = [\"microsoft-login.example.net\"]\n",
        account_toml("work", Dialect::Microsoft, &idp).trim_end()
    ));
    let mut run = env.login_json("work");
    assert_eq!(run.next_event(T)["event"], "code");
    let _ = run.child.kill();
    let _ = run.child.wait();
}

#[test]
fn no_wait_with_requested_scopes_completes_in_the_background() {
    let mut o = Options::new(Dialect::Okta);
    o.auto_approve_after_polls = Some(2);
    let idp = FakeIdp::start(o);
    let env = Env::new(&account_toml("ok", Dialect::Okta, &idp));
    let out = env.run(&[
        "login",
        "ok",
        "--no-wait",
        "--scope",
        "openid",
        "--scope",
        "offline_access",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let w = env.run(&["login", "ok", "--wait", "--json"]);
    assert_eq!(w.status.code(), Some(0), "{}", stderr(&w));
    let last: Value = serde_json::from_str(stdout(&w).lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "signed_in", "{last}");
    assert_eq!(
        last["scopes"],
        serde_json::json!(["openid", "offline_access"])
    );
}

#[test]
fn requested_scopes_must_name_something_within_the_ceiling() {
    let idp = FakeIdp::start(Options::new(Dialect::Okta));
    let env = Env::new(&account_toml("ok", Dialect::Okta, &idp));
    let out = env.run(&["login", "ok", "--scope", " "]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = env.run(&["login", "ok", "--scope", "admin"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert_eq!(idp.counters().device_requests, 0);
}
