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

/// Issue 18 review, item 2: a GitHub App (refresh tokens, client secret) signed in by the
/// person. `(idp, env)`.
fn github_app_signed_in() -> (FakeIdp, Env) {
    let mut o = Options::new(Dialect::GitHubApp);
    o.client_secret = Some("gh-app-secret-1".into());
    let idp = FakeIdp::start(o);
    let env = Env::new(&format!(
        "{}\nclient_secret = \"gh-app-secret-1\"\n",
        account_toml("gh", Dialect::GitHubApp, &idp).trim_end()
    ));
    let (status, ev) = login_as(&env, &idp, "gh", &[], None);
    assert_eq!(status, 0, "{ev}");
    (idp, env)
}

/// GitHub's `/user` answering 503 once (a gateway hiccup) right after the person approved: the
/// call is tried again and the person's sign-in is accepted, not taken for someone else's.
#[test]
fn a_userinfo_hiccup_is_retried_and_the_same_person_is_accepted() {
    let (idp, env) = github_app_signed_in();
    let before = idp.counters().userinfo_requests;
    idp.inject_userinfo([sidekey_testkit::Fault::Status(503)]);
    let (status, ev) = login_as(&env, &idp, "gh", &[], None);
    assert_eq!(status, 0, "{ev}");
    assert_eq!(ev["event"], "signed_in", "{ev}");
    assert!(idp.counters().userinfo_requests >= before + 2);
    assert_eq!(status_user(&env, "gh")["name"], "Ada Lovelace");
}

/// `/user` failing on every try: sidekey cannot tell who signed in. That is not "someone else":
/// reason identity_unknown, exit 5 (try again), no word of a different account or of
/// --replace-identity, the record untouched — and none of the person's stored tokens revoked
/// (GitHub's `DELETE …/grant` would end every token of the app for the user).
#[test]
fn a_sign_in_nobody_can_tell_is_refused_as_unknown_and_the_persons_tokens_live() {
    let (idp, env) = github_app_signed_in();
    let tg = FakeTelegram::start(BOT);
    env.write_config(&format!(
        "{}{}\nclient_secret = \"gh-app-secret-1\"\n",
        telegram_toml(&env, &tg),
        account_toml("gh", Dialect::GitHubApp, &idp).trim_end()
    ));
    let before = record_bytes(&env, "gh");
    let persons_access = idp.issued_access_tokens();
    let persons_refresh = idp.issued_refresh_tokens();
    idp.inject_userinfo(std::iter::repeat_n(sidekey_testkit::Fault::Status(503), 10));
    let (status, ev) = login_as(&env, &idp, "gh", &[], None);
    assert_eq!(status, 5, "{ev}");
    assert_eq!(ev["reason"], "identity_unknown", "{ev}");
    let msg = ev["message"].as_str().unwrap();
    assert!(msg.contains("could not tell who signed in"), "{msg}");
    assert!(msg.contains("sidekey login gh"), "{msg}");
    assert!(!msg.contains("--replace-identity"), "{msg}");
    assert!(!msg.contains("different account"), "{msg}");
    assert_eq!(
        record_bytes(&env, "gh"),
        before,
        "the stored record changed"
    );
    assert!(
        persons_access.iter().all(|t| idp.access_token_valid(t)),
        "the person's access token was revoked"
    );
    let valid = idp.valid_refresh_tokens();
    assert!(
        persons_refresh.iter().all(|t| valid.contains(t)),
        "the person's refresh token was revoked"
    );
    // Nobody can tell whose the new tokens are: they may be the person's own, and at some
    // providers (Google, Auth0) revoking one ends the app's whole grant for that user. They are
    // dropped, not revoked.
    let newcomer = idp
        .issued_access_tokens()
        .into_iter()
        .find(|t| !persons_access.contains(t))
        .expect("the refused sign-in's token");
    assert!(
        idp.access_token_valid(&newcomer),
        "a token that may be the person's was revoked"
    );
    wait_until("the failure on Telegram", || {
        tg.messages()
            .iter()
            .any(|m| m.text.contains("could not tell who signed in"))
    });
    assert!(
        !tg.messages()
            .iter()
            .any(|m| m.text.contains("different account") || m.text.contains("--replace-identity")),
        "{:?}",
        tg.messages()
    );
    // The person's tokens still work.
    let out = env.run(&["token", "gh"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A mismatch revokes the newcomer's access token only (`DELETE …/token`), never the grant:
/// the newcomer may be the person's other GitHub account, signed in to another account of the
/// same app, whose tokens `DELETE …/grant` would end ("all OAuth tokens associated with the
/// application for the user").
#[test]
fn a_refused_github_sign_in_revokes_its_token_not_the_grant() {
    let (idp, env) = github_app_signed_in();
    let gh = account_toml("gh", Dialect::GitHubApp, &idp);
    let other = gh.replace("[accounts.gh]", "[accounts.other]");
    env.write_config(&format!(
        "{}\nclient_secret = \"gh-app-secret-1\"\n\n{}\nclient_secret = \"gh-app-secret-1\"\n",
        gh.trim_end(),
        other.trim_end()
    ));
    let (status, ev) = login_as(&env, &idp, "other", &[], Some(mallory()));
    assert_eq!(status, 0, "{ev}");
    let kept = idp.issued_access_tokens();
    let (status, ev) = login_as(&env, &idp, "gh", &[], Some(mallory()));
    assert_eq!(status, 6, "{ev}");
    let refused: Vec<String> = idp
        .issued_access_tokens()
        .into_iter()
        .filter(|t| !kept.contains(t))
        .collect();
    assert_eq!(refused.len(), 1);
    assert!(
        !idp.access_token_valid(&refused[0]),
        "the refused token was not revoked"
    );
    assert!(
        kept.iter().all(|t| idp.access_token_valid(t)),
        "a stored token of the same app was revoked with the refused one"
    );
    let out = env.run(&["token", "other"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// `--replace-identity` whose new identity cannot be read keeps the remembered one: refused
/// as identity_unknown, and a later sign-in as someone else is still refused.
#[test]
fn a_replacement_nobody_can_tell_forgets_nothing() {
    let (idp, env) = github_app_signed_in();
    idp.inject_userinfo(std::iter::repeat_n(sidekey_testkit::Fault::Status(503), 10));
    let (status, ev) = login_as(&env, &idp, "gh", &["--replace-identity"], Some(mallory()));
    assert_eq!(status, 5, "{ev}");
    assert_eq!(ev["reason"], "identity_unknown", "{ev}");
    idp.clear_userinfo_faults();
    let (status, ev) = login_as(&env, &idp, "gh", &[], Some(mallory()));
    assert_eq!(status, 6, "{ev}");
    assert_eq!(ev["reason"], "identity_mismatch", "{ev}");
    assert_eq!(status_user(&env, "gh")["name"], "Ada Lovelace");
}

/// The vault of `env`, opened as the binary opens it.
fn vault(env: &Env) -> sidekey_vault::Vault {
    let key = sidekey_vault::Key::parse(VAULT_KEY).unwrap();
    sidekey_vault::Vault::open(&env.home.join("vault"), &key).unwrap()
}

/// Turn `name`'s record into one written before sidekey kept identities: no `identity` slot,
/// no subject in the record's user, and (as for most GitHub accounts) no email and no ID token.
fn make_from_before(env: &Env, name: &str) {
    let v = vault(env);
    let lock = v.lock(name).unwrap();
    let mut rec: Value = lock.load().unwrap().expect("a record");
    rec["user"] = serde_json::json!({"name": rec["user"]["name"], "email": null});
    rec["id_token"] = Value::Null;
    lock.store(&rec).unwrap();
    lock.remove_slot("identity").unwrap();
    assert!(lock.load_slot::<Value>("identity").unwrap().is_none());
}

fn remembered_subject(env: &Env, name: &str) -> Option<String> {
    let slot: Option<Value> = vault(env).load_slot(name, "identity").unwrap();
    slot.and_then(|s| s["subject"].as_str().map(str::to_owned))
}

/// Issue 18 item 1, records from before: a GitHub record has no ID token and usually no email,
/// so nothing in it says who it is — but its access token (GitHub OAuth tokens do not expire)
/// does. A sign-in approved as someone else is refused and the record stays as it was; the
/// person's own is accepted and their identity recorded.
#[test]
fn a_github_record_from_before_is_held_to_whom_its_token_belongs() {
    let idp = FakeIdp::start(Options::new(Dialect::GitHub));
    let env = Env::new(&account_toml("gh", Dialect::GitHub, &idp));
    let (status, ev) = login_as(&env, &idp, "gh", &[], None);
    assert_eq!(status, 0, "{ev}");
    let persons = remembered_subject(&env, "gh").expect("a subject remembered");
    make_from_before(&env, "gh");
    let before = record_bytes(&env, "gh");

    let (status, ev) = login_as(&env, &idp, "gh", &[], Some(mallory()));
    assert_eq!(status, 6, "{ev}");
    assert_eq!(ev["reason"], "identity_mismatch", "{ev}");
    assert_eq!(
        record_bytes(&env, "gh"),
        before,
        "the stored record changed"
    );
    assert_eq!(status_user(&env, "gh")["name"], "Ada Lovelace");

    let (status, ev) = login_as(&env, &idp, "gh", &[], None);
    assert_eq!(status, 0, "{ev}");
    assert_eq!(ev["event"], "signed_in", "{ev}");
    assert_eq!(remembered_subject(&env, "gh").as_deref(), Some(&*persons));
    let (status, ev) = login_as(&env, &idp, "gh", &[], Some(mallory()));
    assert_eq!(status, 6, "{ev}");
}

/// A record from before whose token no longer opens the provider's userinfo (expired, revoked):
/// today's rule — nothing to hold the sign-in to, so it is recorded.
#[test]
fn a_record_from_before_with_a_dead_token_falls_back_to_todays_rule() {
    let idp = FakeIdp::start(Options::new(Dialect::GitHub));
    let env = Env::new(&account_toml("gh", Dialect::GitHub, &idp));
    assert_eq!(login_as(&env, &idp, "gh", &[], None).0, 0);
    make_from_before(&env, "gh");
    idp.invalidate_access_tokens();
    let (status, ev) = login_as(&env, &idp, "gh", &[], Some(mallory()));
    assert_eq!(status, 0, "{ev}");
    assert_eq!(status_user(&env, "gh")["name"], "Mallory");
    assert!(remembered_subject(&env, "gh").is_some());
}

/// Issue 18 item 1, scopes that name nobody: a Google account with only `drive.file` (no
/// `openid`, `email` or `profile`) gets no ID token and Google's userinfo refuses its token, so
/// no subject is ever read and a sign-in as someone else would pass. Nothing is added to the
/// scopes; the person is told, in the sign-in's event and in `status`. With `openid`: no word.
#[test]
fn an_account_whose_scopes_name_nobody_says_so() {
    let idp = FakeIdp::start(Options::new(Dialect::Google));
    let named = account_toml("g", Dialect::Google, &idp);
    let anonymous = named.replace("[accounts.g]", "[accounts.d]").replace(
        "scopes = [\"openid\", \"email\", \"profile\", \"drive.file\"]",
        "scopes = [\"drive.file\"]",
    );
    assert!(anonymous.contains("scopes = [\"drive.file\"]"));
    let env = Env::new(&format!("{named}\n{anonymous}"));
    let warning = "sidekey cannot tell who signed in to d: its scopes give no identity (add openid); a sign-in as someone else would not be noticed";

    let (status, ev) = login_as(&env, &idp, "d", &[], None);
    assert_eq!(status, 0, "{ev}");
    assert_eq!(ev["event"], "signed_in", "{ev}");
    assert_eq!(ev["warning"], warning, "{ev}");
    let (status, ev) = login_as(&env, &idp, "g", &[], None);
    assert_eq!(status, 0, "{ev}");
    assert!(ev.get("warning").is_none(), "{ev}");

    let out = env.run(&["status", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let note = |name: &str| {
        v["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .map(|a| a["note"].clone())
            .unwrap()
    };
    assert_eq!(note("d"), warning, "{v}");
    assert_eq!(note("g"), Value::Null, "{v}");
    let out = env.run(&["status", "d"]);
    assert!(stdout(&out).contains(warning), "{}", stdout(&out));
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

/// Review of issue 18, item 1: with a channel, the code is withheld from the agent in POST /v1/login and
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
