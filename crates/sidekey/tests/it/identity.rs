//! No identity substitution: once an account has signed in, sidekey remembers who it is (the
//! provider's stable subject) and refuses a later sign-in that comes back as someone else —
//! the stored tokens stay untouched, the person's channels say so, the audit log has it.
//! Replacing the identity is the person's act at the machine (`login --replace-identity`),
//! never the API's. And with a channel configured, the agent starting a sign-in never sees
//! the code: it goes to the person.

use crate::common;

use common::browser::approve;
use common::daemon_helpers::{API_KEY, Daemon, agent, raw, start_daemon};
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

fn record_bytes(env: &Env, name: &str) -> Vec<u8> {
    std::fs::read(env.home.join(format!("vault/accounts/{name}.sealed"))).unwrap()
}

/// `sidekey login NAME --json [extra…]` at the terminal, the code approved by `as_user` (or
/// the configured user): (exit code, the last event).
fn login_as(
    env: &Env,
    idp: &FakeIdp,
    name: &str,
    extra: &[&str],
    as_user: Option<FakeUser>,
) -> (i32, Value) {
    let mut args = vec!["login", name, "--json"];
    args.extend_from_slice(extra);
    let mut child = env
        .cmd(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = idp.wait_for_user_code(T).expect("a code");
    assert!(match as_user {
        Some(u) => idp.approve_as(&code, u),
        None => idp.approve(&code),
    });
    let status = wait_timeout(&mut child, T);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    env.record(&text);
    let last = text.lines().last().unwrap_or("{}").to_string();
    (status, serde_json::from_str(&last).unwrap())
}

fn status_user(env: &Env, name: &str) -> Value {
    let out = env.run(&["status", name, "--json"]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    v["accounts"][0]["user"].clone()
}

fn audit(env: &Env) -> Vec<Value> {
    std::fs::read_to_string(env.home.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < T, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn api(d: &Daemon, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let (status, text) = raw(&d.socket, method, path, Some(API_KEY), body);
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}")),
    )
}

/// The attack of issue 18: with the default policy and Telegram configured, the agent starts a
/// sign-in over the API and approves it as another user. It never sees the code (Telegram
/// gets it); the sign-in is refused, the person's tokens stay byte for byte, the other
/// account's tokens are revoked, Telegram says what happened and what to run, the audit log
/// has the refusal.
#[test]
fn the_agent_cannot_put_another_account_in_place_of_the_persons() {
    let idp = FakeIdp::start(Options::new(Dialect::Oidc));
    let tg = FakeTelegram::start(BOT);
    let env = Env::new("");
    env.write_config(&format!(
        "{}{}",
        telegram_toml(&env, &tg),
        account_toml("o", Dialect::Oidc, &idp)
    ));
    let (status, ev) = login_as(&env, &idp, "o", &[], None);
    assert_eq!(status, 0, "{ev}");
    let before = record_bytes(&env, "o");
    let persons_refresh = idp.issued_refresh_tokens();
    let d = start_daemon(&env);

    let (st, started) = api(&d, "POST", "/v1/login", Some(r#"{"account":"o"}"#));
    assert_eq!(st, 200, "{started}");
    let code = idp.wait_for_user_code(T).expect("a code is out");
    let text = started.to_string();
    assert!(!text.contains(&code), "the agent saw the code: {text}");
    assert!(
        !text.contains(&idp.verification_uri()),
        "the agent saw the link: {text}"
    );
    assert_eq!(
        started["sent_to"],
        serde_json::json!(["telegram"]),
        "{text}"
    );
    wait_until("the code on Telegram", || {
        tg.messages().iter().any(|m| m.text.contains(&code))
    });
    // Waiting on it tells the agent no more.
    let (_, pending) = api(&d, "GET", "/v1/login/o?wait=0", None);
    assert_eq!(pending["progress"], "pending", "{pending}");
    assert!(!pending.to_string().contains(&code), "{pending}");

    assert!(idp.approve_as(&code, mallory()));
    let (st, done) = api(&d, "GET", "/v1/login/o?wait=30", None);
    assert_eq!(st, 200, "{done}");
    assert_eq!(done["progress"], "done", "{done}");
    assert_eq!(done["event"], "failed", "{done}");
    assert_eq!(done["reason"], "identity_mismatch", "{done}");
    assert_eq!(done["exit_code"], 6, "{done}");

    assert_eq!(record_bytes(&env, "o"), before, "the stored record changed");
    assert_eq!(status_user(&env, "o")["name"], "Ada Lovelace");
    let valid = idp.valid_refresh_tokens();
    assert!(
        persons_refresh.iter().all(|t| valid.contains(t)),
        "the person's refresh token was touched"
    );
    let intruders: Vec<String> = idp
        .issued_refresh_tokens()
        .into_iter()
        .filter(|t| !persons_refresh.contains(t))
        .collect();
    assert_eq!(intruders.len(), 1);
    assert!(
        idp.revoked_tokens().contains(&intruders[0]),
        "the other account's tokens were not revoked"
    );

    wait_until("the refusal on Telegram", || {
        tg.messages()
            .iter()
            .any(|m| m.text.contains("different account") && m.text.contains("--replace-identity"))
    });
    let log = audit(&env);
    assert!(
        log.iter().any(|e| e["operation"] == "login"
            && e["account"] == "o"
            && e["decision"] == "deny"
            && e["outcome"] == "identity_mismatch"),
        "{log:?}"
    );
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}

/// The remembered identity outlives a logout; only the person at the machine replaces it, and
/// then the new one is the one held to. Microsoft: the subject is Graph `/me`'s `id`.
#[test]
fn the_identity_survives_logout_and_only_the_person_replaces_it() {
    let idp = FakeIdp::start(Options::new(Dialect::Microsoft));
    let env = Env::new("");
    env.write_config(&account_toml("m", Dialect::Microsoft, &idp));
    assert_eq!(login_as(&env, &idp, "m", &[], None).0, 0);
    let out = env.run(&["logout", "m"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let (status, ev) = login_as(&env, &idp, "m", &[], Some(mallory()));
    assert_eq!(status, 6, "{ev}");
    assert_eq!(ev["reason"], "identity_mismatch", "{ev}");
    assert!(
        ev["message"]
            .as_str()
            .unwrap()
            .contains("sidekey login m --replace-identity"),
        "{ev}"
    );
    assert_eq!(status_user(&env, "m"), Value::Null, "nothing was stored");

    let (status, ev) = login_as(&env, &idp, "m", &["--replace-identity"], Some(mallory()));
    assert_eq!(status, 0, "{ev}");
    assert_eq!(status_user(&env, "m")["name"], "Mallory");
    // Now Mallory is the one remembered: Ada is someone else.
    let (status, ev) = login_as(&env, &idp, "m", &[], None);
    assert_eq!(status, 6, "{ev}");
    assert_eq!(status_user(&env, "m")["name"], "Mallory");
}

/// `--replace-identity` is no field of the API: the daemon ignores one sent in the body, and
/// the CLI in client mode refuses the flag with what to do instead.
#[test]
fn the_api_cannot_replace_the_identity() {
    let idp = FakeIdp::start(Options::new(Dialect::Oidc));
    let env = Env::new(&account_toml("o", Dialect::Oidc, &idp));
    assert_eq!(login_as(&env, &idp, "o", &[], None).0, 0);
    let before = record_bytes(&env, "o");
    let d = start_daemon(&env);

    let out = agent(&env, &d, &["login", "o", "--replace-identity"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("on the machine"), "{}", stderr(&out));

    let (st, started) = api(
        &d,
        "POST",
        "/v1/login",
        Some(r#"{"account":"o","replace_identity":true}"#),
    );
    assert_eq!(st, 200, "{started}");
    // No channel: the agent is the one who hands the code on.
    let code = started["user_code"].as_str().unwrap().to_string();
    assert!(idp.approve_as(&code, mallory()));
    let (_, done) = api(&d, "GET", "/v1/login/o?wait=30", None);
    assert_eq!(done["reason"], "identity_mismatch", "{done}");
    assert_eq!(record_bytes(&env, "o"), before);
}

/// `show_code_to_agent = true`: for setups where the agent is the channel, it gets the code
/// even with a channel configured. The code flow's pasted redirect is held to the same
/// identity rule.
#[test]
fn a_pasted_redirect_of_someone_else_is_refused_too() {
    let idp = FakeIdp::start(Options::new(Dialect::Oidc));
    let tg = FakeTelegram::start(BOT);
    let env = Env::new("");
    let account = format!(
        "[accounts.c]\nprovider = \"oidc\"\nclient_id = \"test-client\"\nissuer = \"{}\"\nflow = \"code\"\n[accounts.c.policy]\nshow_code_to_agent = true\n",
        idp.issuer()
    );
    env.write_config(&format!("{}{account}", telegram_toml(&env, &tg)));
    let d = start_daemon(&env);
    // The person's first sign-in, through the API with the link handed to the agent.
    let sign_in = |user: Option<FakeUser>| -> Value {
        let (st, started) = api(&d, "POST", "/v1/login", Some(r#"{"account":"c"}"#));
        assert_eq!(st, 200, "{started}");
        assert!(started.get("sent_to").is_none(), "{started}");
        let link = started["verification_uri"].as_str().unwrap().to_string();
        idp.sign_in_as(user);
        let redirect = approve(&link);
        idp.sign_in_as(None);
        let body = serde_json::json!({ "url": redirect }).to_string();
        let (st, pasted) = api(&d, "POST", "/v1/login/c/redirect", Some(&body));
        assert_eq!(st, 200, "{pasted}");
        api(&d, "GET", "/v1/login/c?wait=30", None).1
    };
    let first = sign_in(None);
    assert_eq!(first["event"], "signed_in", "{first}");
    let before = record_bytes(&env, "c");
    let second = sign_in(Some(mallory()));
    assert_eq!(second["reason"], "identity_mismatch", "{second}");
    assert_eq!(record_bytes(&env, "c"), before);
}

/// The agent's CLI in client mode, `login --no-wait --json` with Telegram configured: one
/// `code_sent` line naming the channel, no code, and it returns at once (the daemon polls).
#[test]
fn the_agents_cli_says_where_the_code_went() {
    let idp = FakeIdp::start(Options::new(Dialect::Oidc));
    let tg = FakeTelegram::start(BOT);
    let env = Env::new("");
    env.write_config(&format!(
        "{}{}",
        telegram_toml(&env, &tg),
        account_toml("o", Dialect::Oidc, &idp)
    ));
    let d = start_daemon(&env);
    let out = agent(&env, &d, &["login", "o", "--no-wait", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(line["event"], "code_sent", "{line}");
    assert_eq!(line["sent_to"], serde_json::json!(["telegram"]), "{line}");
    let code = idp.wait_for_user_code(T).expect("a code is out");
    assert!(!stdout(&out).contains(&code));
    wait_until("the code on Telegram", || {
        tg.messages().iter().any(|m| m.text.contains(&code))
    });
}
