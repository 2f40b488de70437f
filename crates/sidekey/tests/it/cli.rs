//! The CLI contract, end to end: the real `sidekey` binary against the test kit's fake providers.

use crate::common;

use common::*;
use serde_json::Value;
use sidekey_testkit::{Dialect, FakeIdp, Fault, Options};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn fake(dialect: Dialect, auto_after: u32) -> FakeIdp {
    let mut o = Options::new(dialect);
    o.auto_approve_after_polls = Some(auto_after);
    FakeIdp::start(o)
}

/// Sign in, status, token, exec, logout — for every dialect.
fn full_cycle(dialect: Dialect, generic: bool) {
    let idp = fake(dialect, 2);
    let cfg = if generic {
        generic_toml("acct", &idp)
    } else {
        account_toml("acct", dialect, &idp)
    };
    let env = Env::new(&cfg);

    let mut run = env.login_json("acct");
    let code = run.next_event(T);
    assert_eq!(code["event"], "code", "{code}");
    assert_eq!(code["account"], "acct");
    assert!(code["user_code"].as_str().unwrap().len() >= 8, "{code}");
    assert!(
        code["verification_uri"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1"),
        "{code}"
    );
    assert!(
        code["expires_at"].as_str().unwrap().ends_with('Z'),
        "{code}"
    );
    assert!(code["interval"].as_u64().is_some(), "{code}");
    assert!(code.get("verification_uri_complete").is_some(), "{code}");
    let signed = run.next_event(T);
    let (status, rest, err) = run.finish(&env);
    assert_eq!(status, 0, "{err}");
    assert!(rest.is_empty(), "{rest:?}");
    assert_eq!(signed["event"], "signed_in", "{signed}");
    assert_eq!(signed["user"]["name"], "Ada Lovelace", "{signed}");
    if dialect != Dialect::GitHubApp {
        assert_eq!(signed["user"]["email"], "ada@example.test", "{signed}");
    }
    assert!(signed["scopes"].is_array());
    // Never polled again after success.
    assert_eq!(idp.counters().polls_after_success, 0);
    assert_eq!(idp.counters().polls, 2);

    let st = env.run(&["status", "--json"]);
    assert_eq!(st.status.code(), Some(0), "{}", stderr_of(&st));
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    let a = &v["accounts"][0];
    assert_eq!(a["name"], "acct");
    assert_eq!(a["state"], "signed_in");
    assert_eq!(
        a["provider"],
        if generic {
            "generic"
        } else {
            provider_name(dialect)
        }
    );
    assert_eq!(a["user"]["name"], "Ada Lovelace");

    let tok = env.run(&["token", "acct"]);
    assert_eq!(tok.status.code(), Some(0), "{}", stderr_of(&tok));
    let token = stdout(&tok).trim().to_string();
    assert_eq!(Some(&token), idp.issued_access_tokens().last());
    assert!(idp.access_token_valid(&token));
    assert_eq!(
        idp.counters().refresh_requests,
        0,
        "a valid token needs no refresh"
    );

    let tj = env.run(&["token", "acct", "--json"]);
    let tv: Value = serde_json::from_slice(&tj.stdout).unwrap();
    assert_eq!(tv["access_token"], token.as_str());

    let ex = env.run(&[
        "exec",
        "acct",
        "--",
        "sh",
        "-c",
        "printf '%s|%s' \"$SIDEKEY_ACCESS_TOKEN\" \"${GH_TOKEN:-none}\"",
    ]);
    assert_eq!(ex.status.code(), Some(0), "{}", stderr_of(&ex));
    let gh = if matches!(dialect, Dialect::GitHub | Dialect::GitHubApp) {
        token.clone()
    } else {
        "none".into()
    };
    assert_eq!(stdout(&ex), format!("{token}|{gh}"));

    let lo = env.run(&["logout", "acct"]);
    assert_eq!(lo.status.code(), Some(0), "{}", stderr_of(&lo));
    let revocable = matches!(
        dialect,
        Dialect::Google | Dialect::Okta | Dialect::Auth0 | Dialect::Oidc
    );
    if revocable {
        assert!(idp.counters().revocations >= 1);
        assert!(stdout(&lo).contains("Revoked"), "{}", stdout(&lo));
        if dialect != Dialect::Auth0 {
            assert!(
                !idp.access_token_valid(&token),
                "token still valid after logout"
            );
        } else {
            assert!(idp.valid_refresh_tokens().is_empty());
        }
    } else {
        assert!(
            stdout(&lo).contains("Not revoked at the provider"),
            "{}",
            stdout(&lo)
        );
    }
    let st = env.run(&["status", "acct", "--json"]);
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["accounts"][0]["state"], "signed_out");
    let tok = env.run(&["token", "acct"]);
    assert_eq!(tok.status.code(), Some(3));
    assert!(
        stderr(&tok).contains("sidekey login acct"),
        "{}",
        stderr(&tok)
    );

    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    secrets.push(VAULT_KEY.to_string());
    env.assert_no_secrets(&secrets);
    if dialect == Dialect::Google {
        env.assert_no_secrets(&["test-secret".to_string()]);
    }
    if dialect == Dialect::Auth0 {
        assert_eq!(
            idp.last_audience().as_deref(),
            Some("https://api.example.test")
        );
    }
}

fn stderr_of(o: &std::process::Output) -> String {
    stderr(o)
}

fn provider_name(d: Dialect) -> &'static str {
    match d {
        Dialect::Microsoft => "microsoft",
        Dialect::Google => "google",
        Dialect::GitHub | Dialect::GitHubApp => "github",
        Dialect::Okta => "okta",
        Dialect::Auth0 => "auth0",
        Dialect::Oidc => "oidc",
    }
}

#[test]
fn microsoft_full_cycle() {
    full_cycle(Dialect::Microsoft, false);
}
#[test]
fn google_full_cycle() {
    full_cycle(Dialect::Google, false);
}
#[test]
fn github_oauth_app_full_cycle() {
    full_cycle(Dialect::GitHub, false);
}
#[test]
fn github_app_full_cycle() {
    full_cycle(Dialect::GitHubApp, false);
}
#[test]
fn okta_full_cycle() {
    full_cycle(Dialect::Okta, false);
}
#[test]
fn auth0_full_cycle() {
    full_cycle(Dialect::Auth0, false);
}
#[test]
fn oidc_discovery_full_cycle() {
    full_cycle(Dialect::Oidc, false);
}
#[test]
fn generic_explicit_endpoints_full_cycle() {
    full_cycle(Dialect::Oidc, true);
}

/// Start a login, then let `act` do something to the fake with the user code.
fn login_then(
    dialect: Dialect,
    act: impl FnOnce(&FakeIdp, &str),
) -> (i32, Value, String, Env, FakeIdp) {
    let idp = FakeIdp::start(Options::new(dialect));
    let env = Env::new(&account_toml("acct", dialect, &idp));
    let mut run = env.login_json("acct");
    let code = run.next_event(T);
    act(&idp, code["user_code"].as_str().unwrap());
    let last = run.next_event(T);
    let (status, _, stderr) = run.finish(&env);
    (status, last, stderr, env, idp)
}

#[test]
fn declined_is_exit_4_with_reason() {
    for dialect in [
        Dialect::Microsoft,
        Dialect::Google,
        Dialect::GitHub,
        Dialect::Auth0,
    ] {
        let (status, last, stderr, env, _idp) = login_then(dialect, |idp, code| {
            std::thread::sleep(Duration::from_millis(1500));
            assert!(idp.deny(code));
        });
        assert_eq!(status, 4, "{dialect:?}: {stderr}");
        assert_eq!(last["event"], "failed");
        assert_eq!(last["reason"], "declined", "{dialect:?}: {last}");
        assert!(stderr.contains("declined"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        let st = env.run(&["status", "acct", "--json"]);
        let v: Value = serde_json::from_slice(&st.stdout).unwrap();
        assert_eq!(v["accounts"][0]["state"], "signed_out");
    }
}

#[test]
fn expired_is_exit_4_with_reason() {
    for dialect in [Dialect::Okta, Dialect::Google, Dialect::GitHub] {
        let (status, last, stderr, _env, _idp) = login_then(dialect, |idp, code| {
            assert!(idp.expire(code));
        });
        assert_eq!(status, 4, "{dialect:?}: {stderr}");
        assert_eq!(last["reason"], "expired", "{dialect:?}: {last}");
    }
}

#[test]
fn the_local_deadline_ends_a_flow_the_server_never_expires() {
    let mut o = Options::new(Dialect::Oidc);
    o.expires_in = 3; // the server keeps answering "pending" for a while after this
    let idp = FakeIdp::start(o);
    let env = Env::new(&account_toml("acct", Dialect::Oidc, &idp));
    let start = std::time::Instant::now();
    let out = env.run(&["login", "acct"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("expired"), "{}", stderr(&out));
    assert!(start.elapsed() < Duration::from_secs(15));
}

#[test]
fn github_device_flow_disabled_is_a_config_error() {
    let mut o = Options::new(Dialect::GitHub);
    o.device_flow_disabled = true;
    let idp = FakeIdp::start(o);
    let env = Env::new(&account_toml("gh", Dialect::GitHub, &idp));
    let out = env.run(&["login", "gh", "--json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let v: Value = serde_json::from_str(stdout(&out).lines().last().unwrap()).unwrap();
    assert_eq!(v["reason"], "device_flow_disabled");
    assert!(
        stderr(&out).contains("enable it in the app's settings"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn wrong_client_id_is_a_config_error() {
    for dialect in [Dialect::Microsoft, Dialect::GitHub, Dialect::Oidc] {
        let idp = FakeIdp::start(Options::new(dialect));
        let cfg = account_toml("acct", dialect, &idp).replace("test-client", "someone-else");
        let env = Env::new(&cfg);
        let out = env.run(&["login", "acct", "--json"]);
        assert_eq!(out.status.code(), Some(2), "{dialect:?} {}", stderr(&out));
        assert!(
            stdout(&out).contains("\"reason\":\"invalid_client\""),
            "{dialect:?} {}",
            stdout(&out)
        );
    }
}

#[test]
fn faults_while_polling_are_survived() {
    let mut o = Options::new(Dialect::Google);
    o.auto_approve_after_polls = Some(5);
    let idp = FakeIdp::start(o);
    let env = Env::new(&format!(
        "http_timeout = 1\n{}",
        account_toml("g", Dialect::Google, &idp)
    ));
    idp.inject([Fault::Status(503), Fault::Oversized]);
    let out = env.run(&["login", "g"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Signed in to 'g' as Ada Lovelace"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("retrying"), "{}", stderr(&out));
    assert_eq!(idp.counters().faults_applied, 2);
}

#[test]
fn refresh_rotates_and_a_valid_token_is_served_from_the_vault() {
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    o.access_token_ttl = 120; // inside the default 5 min margin: the first `token` refreshes
    let idp = FakeIdp::start(o);
    let env = Env::new(&account_toml("o", Dialect::Oidc, &idp));
    assert_eq!(env.run(&["login", "o"]).status.code(), Some(0));
    let first = idp.issued_access_tokens()[0].clone();
    let t1 = stdout(&env.run(&["token", "o"])).trim().to_string();
    assert_ne!(t1, first, "should have refreshed");
    assert_eq!(idp.counters().refresh_successes, 1);
    // The rotated refresh token was stored: the next refresh works (the old one is now dead).
    let t2 = stdout(&env.run(&["token", "o"])).trim().to_string();
    assert_ne!(t2, t1);
    assert_eq!(idp.counters().refresh_successes, 2);
    assert!(idp.access_token_valid(&t2));

    // With a smaller margin the cached token is used as is.
    env.write_config(&format!(
        "refresh_margin = \"1m\"\n{}",
        account_toml("o", Dialect::Oidc, &idp)
    ));
    let t3 = stdout(&env.run(&["token", "o"])).trim().to_string();
    assert_eq!(t3, t2);
    assert_eq!(idp.counters().refresh_requests, 2);
}

#[test]
fn google_keeps_its_refresh_token_when_the_response_has_none() {
    let mut o = Options::new(Dialect::Google);
    o.auto_approve_after_polls = Some(1);
    o.access_token_ttl = 60;
    let idp = FakeIdp::start(o);
    let env = Env::new(&account_toml("g", Dialect::Google, &idp));
    assert_eq!(env.run(&["login", "g"]).status.code(), Some(0));
    for _ in 0..3 {
        let out = env.run(&["token", "g"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    assert_eq!(idp.counters().refresh_successes, 3);
    assert_eq!(idp.issued_refresh_tokens().len(), 1);
}

#[test]
fn invalid_grant_marks_the_account_for_reauthentication() {
    let mut o = Options::new(Dialect::Microsoft);
    o.auto_approve_after_polls = Some(1);
    o.access_token_ttl = 60;
    let idp = FakeIdp::start(o);
    let env = Env::new(&account_toml("work", Dialect::Microsoft, &idp));
    assert_eq!(env.run(&["login", "work"]).status.code(), Some(0));
    idp.invalidate_refresh_tokens();
    let out = env.run(&["token", "work"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sidekey login work"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
    let st = env.run(&["status", "--json"]);
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["accounts"][0]["state"], "reauth_required");
    // No second refresh attempt with a dead token.
    let again = env.run(&["token", "work"]);
    assert_eq!(again.status.code(), Some(3));
    assert_eq!(idp.counters().refresh_requests, 1);
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}

#[test]
fn refresh_failure_with_a_still_valid_token_hands_out_the_old_one() {
    let mut o = Options::new(Dialect::Okta);
    o.auto_approve_after_polls = Some(1);
    o.access_token_ttl = 200;
    let idp = FakeIdp::start(o);
    let env = Env::new(&format!(
        "http_timeout = 1\n{}",
        account_toml("ok", Dialect::Okta, &idp)
    ));
    assert_eq!(env.run(&["login", "ok"]).status.code(), Some(0));
    idp.inject([Fault::Status(502), Fault::Status(502), Fault::Status(502)]);
    let out = env.run(&["token", "ok"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), idp.issued_access_tokens()[0]);
    assert!(stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[test]
fn config_errors_exit_2_naming_the_line() {
    let cases = [
        (
            "[accounts.a]\nprovider = \"myspace\"\nclient_id = \"x\"\n",
            "line 2",
        ),
        (
            "[accounts.a]\nprovider = \"github\"\n",
            "missing `client_id`",
        ),
        (
            "[accounts.a]\nprovider = \"github\"\nclient_id = \"x\"\nscoeps = [\"repo\"]\n",
            "line 4",
        ),
        ("this is not toml", "line 1"),
    ];
    for (cfg, want) in cases {
        let env = Env::new(cfg);
        for args in [&["login", "a"][..], &["status"], &["token", "a"]] {
            let out = env.run(args);
            assert_eq!(out.status.code(), Some(2), "{cfg} {args:?}");
            let err = stderr(&out);
            assert!(err.contains(want), "{err}");
            assert!(err.contains("config.toml"), "{err}");
            assert_eq!(err.trim().lines().count(), 1, "{err}");
        }
    }
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::new("");
    assert_eq!(env.run(&["login"]).status.code(), Some(2));
    assert_eq!(env.run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(env.run(&["token", "nope"]).status.code(), Some(2));
    assert_eq!(
        env.run(&["token", "../../etc/passwd"]).status.code(),
        Some(2)
    );
    assert_eq!(env.run(&["--help"]).status.code(), Some(0));
    let ex = env.run(&["exec", "x"]);
    assert_eq!(ex.status.code(), Some(2));
}

#[test]
fn google_scopes_are_refused_before_any_request() {
    let idp = FakeIdp::start(Options::new(Dialect::Google));
    let cfg = account_toml("g", Dialect::Google, &idp)
        .replace("\"drive.file\"", "\"drive\", \"gmail.readonly\"");
    let env = Env::new(&cfg);
    let out = env.run(&["login", "g"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("drive, gmail.readonly"), "{err}");
    assert!(
        err.contains("allowed: openid, email, profile, drive.file"),
        "{err}"
    );
    assert_eq!(idp.counters().device_requests, 0);
}

#[test]
fn a_wrong_vault_key_is_an_error_and_loses_nothing() {
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let env = Env::new(&account_toml("o", Dialect::Oidc, &idp));
    assert_eq!(env.run(&["login", "o"]).status.code(), Some(0));
    let good = std::fs::read(&env.key_file).unwrap();
    std::fs::write(
        &env.key_file,
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
    )
    .unwrap();
    for args in [&["token", "o"][..], &["status"], &["login", "o"]] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("vault key does not open"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(
        idp.counters().device_requests,
        1,
        "no sign-in started with a wrong key"
    );
    std::fs::write(&env.key_file, good).unwrap();
    let out = env.run(&["token", "o"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out).trim(), idp.issued_access_tokens()[0]);
}

#[test]
fn generated_key_and_private_files() {
    use std::os::unix::fs::PermissionsExt;
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let env = Env::new(&account_toml("o", Dialect::Oidc, &idp));
    let login = env
        .cmd(&["login", "o"])
        .env_remove("SIDEKEY_VAULT_KEY_FILE")
        .output()
        .unwrap();
    assert_eq!(login.status.code(), Some(0), "{}", stderr(&login));
    let key = env.home.join("vault.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let sealed = env.home.join("vault/accounts/o.sealed");
    assert_eq!(
        std::fs::metadata(&sealed).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(env.home.join("vault"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    let raw = std::fs::read(&sealed).unwrap();
    for t in idp
        .issued_access_tokens()
        .iter()
        .chain(idp.issued_refresh_tokens().iter())
    {
        assert!(
            !raw.windows(t.len()).any(|w| w == t.as_bytes()),
            "token in clear on disk"
        );
    }
    let doc = env
        .cmd(&["doctor"])
        .env_remove("SIDEKEY_VAULT_KEY_FILE")
        .output()
        .unwrap();
    let text = stdout(&doc);
    assert!(text.contains("sits next to the data"), "{text}");
    assert!(text.contains("token endpoint"), "{text}");
    // Deleting the key file must not silently start a new vault.
    std::fs::remove_file(&key).unwrap();
    let out = env
        .cmd(&["token", "o"])
        .env_remove("SIDEKEY_VAULT_KEY_FILE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("refusing to create a new key"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn doctor_reports_unreachable_endpoints() {
    let env = Env::new(
        "http_timeout = 2\n[accounts.a]\nprovider = \"generic\"\nclient_id = \"x\"\ndevice_authorization_endpoint = \"http://127.0.0.1:9/device\"\ntoken_endpoint = \"http://127.0.0.1:9/token\"\n",
    );
    let out = env.run(&["doctor"]);
    assert_eq!(out.status.code(), Some(5), "{}", stdout(&out));
    assert!(stdout(&out).contains("FAIL"), "{}", stdout(&out));
}

#[test]
fn demo_runs_offline() {
    let env = Env::new("");
    let out = env.cmd(&["demo", "--auto-approve"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Signed in to 'demo' as Ada Lovelace"),
        "{text}"
    );
    assert!(text.contains("signed_in"), "{text}");
    assert!(
        text.contains("characters; the real command prints the whole token"),
        "{text}"
    );
    assert!(!env.home.exists(), "the demo must not touch SIDEKEY_HOME");
}

// ---- Microsoft Entra against what the real service does (issue 9) ----

/// A refresh answered `interaction_required` (Conditional Access wants MFA again, AADSTS50076)
/// means the person must sign in: exit 3, and `status` says so (docs/providers.md, "Microsoft").
#[test]
fn entra_interaction_required_on_refresh_means_sign_in_again() {
    let mut o = Options::new(Dialect::Microsoft);
    o.auto_approve_after_polls = Some(1);
    o.access_token_ttl = 60;
    let idp = FakeIdp::start(o);
    let env = Env::new(&account_toml("work", Dialect::Microsoft, &idp));
    assert_eq!(env.run(&["login", "work"]).status.code(), Some(0));
    idp.inject([Fault::OAuth {
        status: 400,
        error: "interaction_required",
    }]);
    let out = env.run(&["token", "work"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    assert!(
        stderr(&out).contains("sidekey login work") && stderr(&out).contains("AADSTS50076"),
        "{}",
        stderr(&out)
    );
    let st = env.run(&["status", "--json"]);
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["accounts"][0]["state"], "reauth_required");
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}

/// `{"error":"temporarily_unavailable"}` with 503 is Entra being busy: the sign-in in progress
/// and a refresh both wait and go on (docs/providers.md, "Microsoft").
#[test]
fn entra_temporarily_unavailable_is_retried_while_polling_and_refreshing() {
    let mut o = Options::new(Dialect::Microsoft);
    o.auto_approve_after_polls = Some(1);
    o.interval = Some(1);
    o.access_token_ttl = 60;
    let idp = FakeIdp::start(o);
    let env = Env::new(&account_toml("work", Dialect::Microsoft, &idp));
    idp.inject([Fault::OAuth {
        status: 503,
        error: "temporarily_unavailable",
    }]);
    let out = env.run(&["login", "work"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("retrying"), "{}", stderr(&out));
    idp.inject([Fault::OAuth {
        status: 503,
        error: "temporarily_unavailable",
    }]);
    let out = env.run(&["token", "work"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(idp.counters().refresh_successes, 1);
    assert_eq!(idp.counters().faults_applied, 2);
}

/// `login --scope` narrower than the config: the refresh asks for what was granted, not for the
/// configured list, which Entra refuses (AADSTS65001; docs/providers.md, "Microsoft").
#[test]
fn a_narrower_sign_in_refreshes_within_its_grant() {
    let mut o = Options::new(Dialect::Microsoft);
    o.auto_approve_after_polls = Some(1);
    o.access_token_ttl = 60;
    let idp = FakeIdp::start(o);
    // The config asks for User.Read and Files.Read.
    let env = Env::new(&account_toml("work", Dialect::Microsoft, &idp));
    let out = env.run(&["login", "work", "--scope", "User.Read"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for _ in 0..2 {
        let out = env.run(&["token", "work"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    assert_eq!(idp.counters().refresh_successes, 2);
    let st = env.run(&["status", "--json"]);
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["accounts"][0]["state"], "signed_in");
}

/// Entra's `unauthorized_client` is about the app registration (tenant or account type), not a
/// device-flow switch (docs/providers.md, "Microsoft"): exit 2, worded for Microsoft.
#[test]
fn entra_unauthorized_client_names_the_app_registration() {
    let mut o = Options::new(Dialect::Microsoft);
    o.interval = Some(1);
    let idp = FakeIdp::start(o);
    let env = Env::new(&account_toml("work", Dialect::Microsoft, &idp));
    idp.inject([Fault::OAuth {
        status: 400,
        error: "unauthorized_client",
    }]);
    let out = env.run(&["login", "work", "--json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("not registered for this tenant"), "{err}");
    assert!(!err.contains("enable it in the app's settings"), "{err}");
}

/// An authority on a host that is no known Microsoft cloud, without `api_base`: a config error
/// naming `api_base`, before any code is requested (docs/graph.md, "National clouds").
#[test]
fn an_unknown_microsoft_cloud_without_api_base_is_a_config_error() {
    let mut o = Options::new(Dialect::Microsoft);
    o.expires_in = 3; // without the check, the sign-in would wait for a person
    let idp = FakeIdp::start(o);
    let env = Env::new(&format!(
        "http_timeout = 2\n[accounts.work]\nprovider = \"microsoft\"\nclient_id = \"test-client\"\nauthority = \"{}/common\"\n",
        idp.base_url()
    ));
    let out = env.run(&["login", "work"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("`api_base`"), "{}", stderr(&out));
    assert_eq!(idp.counters().device_requests, 0);
}

// ---------------------------------------------------------------------------------------
// Issue 9: against the real services' behaviour (docs/providers.md, docs/graph.md)

fn signed_in(env: &Env, name: &str) {
    let out = env.run(&["login", name]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// GitHub (docs/providers.md, "GitHub"): a refresh token is never sent to `/applications/{id}/token`
/// (GitHub refuses it); with one, logout deletes the grant with the access token, which ends
/// the `ghr_` refresh token too. Without one (OAuth app), `/token` deletes the access token.
#[test]
fn github_logout_deletes_the_grant_and_never_sends_the_refresh_token() {
    for dialect in [Dialect::GitHubApp, Dialect::GitHub] {
        let mut o = Options::new(dialect);
        o.auto_approve_after_polls = Some(1);
        o.client_secret = Some("gh-app-secret-1".into());
        let idp = FakeIdp::start(o);
        let env = Env::new(&format!(
            "{}\nclient_secret = \"gh-app-secret-1\"\n",
            account_toml("gh", dialect, &idp).trim_end()
        ));
        signed_in(&env, "gh");
        let at = idp.issued_access_tokens()[0].clone();
        let lo = env.run(&["logout", "gh"]);
        assert_eq!(lo.status.code(), Some(0), "{dialect:?}: {}", stderr(&lo));
        assert!(stdout(&lo).contains("Revoked"), "{}", stdout(&lo));
        assert!(!idp.access_token_valid(&at));
        assert!(idp.valid_refresh_tokens().is_empty(), "{dialect:?}");
        assert_eq!(idp.counters().revocations, 1, "{dialect:?}: one DELETE");
        let mut secrets = idp.issued_access_tokens();
        secrets.extend(idp.issued_refresh_tokens());
        secrets.push("gh-app-secret-1".into());
        env.assert_no_secrets(&secrets);
    }
}

/// GitHub: only 204 is a revocation. A 404 (token unknown to the app, or a wrong client secret)
/// is reported as a failure (exit 5), and the local copy is gone all the same. The stale secret
/// does not get in the way of signing in: GitHub's device flow does not take it (item 7).
#[test]
fn github_logout_failure_is_reported_and_the_local_copy_removed() {
    let mut o = Options::new(Dialect::GitHubApp);
    o.auto_approve_after_polls = Some(1);
    o.client_secret = Some("gh-app-secret-1".into());
    let idp = FakeIdp::start(o);
    let env = Env::new(&format!(
        "{}\nclient_secret = \"stale-secret-value\"\n",
        account_toml("gh", Dialect::GitHubApp, &idp).trim_end()
    ));
    signed_in(&env, "gh");
    assert_eq!(idp.counters().secrets_on_device_flow, 0);
    let lo = env.run(&["logout", "gh"]);
    assert_eq!(lo.status.code(), Some(5), "{}", stderr(&lo));
    let err = stderr(&lo);
    assert!(
        err.contains(
            "removed the tokens of 'gh' from the vault, but revoking them at the provider failed"
        ),
        "{err}"
    );
    assert!(err.contains("404"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let st = env.run(&["status", "gh", "--json"]);
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["accounts"][0]["state"], "signed_out");
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    secrets.push("stale-secret-value".into());
    env.assert_no_secrets(&secrets);
}

/// Auth0 (docs/providers.md, "Auth0"): `/oauth/revoke` takes refresh tokens only; logout revokes the
/// refresh token and does not fail on the access token.
#[test]
fn auth0_logout_revokes_the_refresh_token_only() {
    let idp = fake(Dialect::Auth0, 1);
    let env = Env::new(&account_toml("a0", Dialect::Auth0, &idp));
    signed_in(&env, "a0");
    let lo = env.run(&["logout", "a0"]);
    assert_eq!(lo.status.code(), Some(0), "{}", stderr(&lo));
    assert!(stdout(&lo).contains("Revoked"), "{}", stdout(&lo));
    assert!(idp.valid_refresh_tokens().is_empty());
    assert_eq!(
        idp.counters().revocations,
        1,
        "the access token is not sent"
    );
}

/// Google (docs/providers.md, "Google scopes"): the long forms Google reports are aliases of `email`/`profile`.
#[test]
fn google_long_scope_forms_are_accepted() {
    let idp = fake(Dialect::Google, 1);
    let cfg = account_toml("g", Dialect::Google, &idp).replace(
        "\"email\", \"profile\"",
        "\"https://www.googleapis.com/auth/userinfo.email\", \"userinfo.profile\"",
    );
    let env = Env::new(&cfg);
    let out = env.run(&["login", "g", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let last: Value = serde_json::from_str(stdout(&out).lines().last().unwrap()).unwrap();
    assert_eq!(last["user"]["email"], "ada@example.test", "{last}");
    let out = env.run(&[
        "login",
        "g",
        "--scope",
        "openid",
        "--scope",
        "https://www.googleapis.com/auth/userinfo.profile",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Review item 8: an issuer whose discovery lacks the device endpoint, with the endpoint in the
/// config: the configured one is used and discovery fills in the rest (token, revocation).
#[test]
fn oidc_configured_device_endpoint_fills_in_for_discovery() {
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    o.discovery_without_device_endpoint = true;
    let idp = FakeIdp::start(o);
    let env = Env::new(&format!(
        "{}\ndevice_authorization_endpoint = \"{}\"\n",
        account_toml("o", Dialect::Oidc, &idp).trim_end(),
        idp.device_authorization_endpoint()
    ));
    let out = env.run(&["login", "o"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("Ada Lovelace"), "{}", stdout(&out));
    let lo = env.run(&["logout", "o"]);
    assert_eq!(lo.status.code(), Some(0), "{}", stderr(&lo));
    assert!(stdout(&lo).contains("Revoked"), "{}", stdout(&lo));
    // Without the override the message still says what to do.
    let env = Env::new(&account_toml("o", Dialect::Oidc, &idp));
    let out = env.run(&["login", "o"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("set device_authorization_endpoint"),
        "{}",
        stderr(&out)
    );
}

/// Review item 9: for OIDC-style accounts `api_base` is the userinfo URL itself, trailing slash
/// and all (redirects are never followed).
#[test]
fn api_base_is_used_exactly_as_given() {
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    o.userinfo_trailing_slash = true;
    let idp = FakeIdp::start(o);
    assert!(idp.api_base().ends_with('/'));
    // Without `openid` there is no ID token to fall back on: userinfo is the only source.
    let scopes = "scopes = [\"offline_access\", \"profile\", \"email\"]";
    for cfg in [
        generic_toml("o", &idp).replace(
            "scopes = [\"openid\", \"offline_access\", \"profile\", \"email\"]",
            scopes,
        ),
        format!(
            "{}\napi_base = \"{}\"\n{scopes}\n",
            account_toml("o", Dialect::Oidc, &idp).trim_end(),
            idp.api_base()
        ),
    ] {
        let env = Env::new(&cfg);
        let out = env.run(&["login", "o", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let last: Value = serde_json::from_str(stdout(&out).lines().last().unwrap()).unwrap();
        assert_eq!(last["user"]["name"], "Ada Lovelace", "{last}");
    }
}

/// Review item 10: `invalid_scope` names the refused scopes where the provider does, and says
/// which to drop.
#[test]
fn invalid_scope_names_the_refused_scopes() {
    let mut o = Options::new(Dialect::Okta);
    o.refused_scopes = vec!["admin.all".into()];
    let idp = FakeIdp::start(o);
    let env = Env::new(&format!(
        "{}\nscopes = [\"openid\", \"admin.all\"]\n",
        account_toml("ok", Dialect::Okta, &idp).trim_end()
    ));
    let out = env.run(&["login", "ok", "--json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let last: Value = serde_json::from_str(stdout(&out).lines().last().unwrap()).unwrap();
    assert_eq!(last["reason"], "invalid_scope", "{last}");
    let msg = last["message"].as_str().unwrap();
    assert!(msg.contains("refused the scope admin.all"), "{msg}");
    assert!(msg.contains("remove it"), "{msg}");
}

/// Review item 10: `login --json` reports a broken config file as a `failed` event too.
#[test]
fn login_json_reports_config_errors_as_an_event() {
    let env = Env::new("[accounts.a]\nprovider = \"myspace\"\nclient_id = \"x\"\n");
    let out = env.run(&["login", "a", "--json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let line = stdout(&out);
    let v: Value = serde_json::from_str(line.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("no event ({e}): {line:?}"));
    assert_eq!(v["event"], "failed", "{v}");
    assert_eq!(v["reason"], "config", "{v}");
    assert_eq!(v["account"], "a", "{v}");
    assert!(v["message"].as_str().unwrap().contains("line 2"), "{v}");
}

/// Review item 10: `status --json` shows `"user": null` when the user is unknown.
#[test]
fn status_json_user_is_null_when_unknown() {
    let idp = fake(Dialect::Oidc, 1);
    // No ID token (no `openid`) and a userinfo URL that answers 404: nobody to name.
    let cfg = generic_toml("o", &idp)
        .replace(
            "scopes = [\"openid\", \"offline_access\", \"profile\", \"email\"]",
            "scopes = [\"offline_access\"]",
        )
        .replace(&idp.api_base(), &format!("{}/nowhere", idp.base_url()));
    let env = Env::new(&cfg);
    signed_in(&env, "o");
    let st = env.run(&["status", "--json"]);
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["accounts"][0]["state"], "signed_in", "{v}");
    assert!(v["accounts"][0]["user"].is_null(), "{v}");
    let st = env.run(&["status"]);
    assert_eq!(st.status.code(), Some(0));
}

/// The harness runs the binary in an environment of its own: a developer's `SIDEKEY_URL` (which
/// would send the local tests to a live daemon), API key, vault key or proxy settings never reach
/// it. A variable set before the harness configures the command stands for one inherited from the
/// developer's shell.
#[test]
fn the_harness_passes_none_of_the_developers_variables() {
    let env = Env::new("");
    let mut c = std::process::Command::new("env");
    c.env("SIDEKEY_URL", "http://127.0.0.1:9/live-daemon")
        .env("SIDEKEY_API_KEY", "developer-key")
        .env("SIDEKEY_SOCKET", "/run/sidekey/sidekey.sock")
        .env("HTTPS_PROXY", "http://proxy.invalid:3128");
    env.configure(&mut c);
    let out = c.output().unwrap();
    let vars = String::from_utf8_lossy(&out.stdout).to_string();
    for name in [
        "SIDEKEY_URL",
        "SIDEKEY_API_KEY",
        "SIDEKEY_SOCKET",
        "HTTPS_PROXY",
    ] {
        assert!(
            !vars.lines().any(|l| l.starts_with(&format!("{name}="))),
            "{name} reached the command:\n{vars}"
        );
    }
    for name in [
        "SIDEKEY_HOME",
        "SIDEKEY_CONFIG",
        "SIDEKEY_VAULT_KEY_FILE",
        "PATH",
        "HOME",
    ] {
        assert!(
            vars.lines().any(|l| l.starts_with(&format!("{name}="))),
            "{name} is missing:\n{vars}"
        );
    }
}

/// The scan every test gets when its `Env` is dropped (issue 19, item 5): a secret planted in
/// each place it covers is found there — a process's stderr that nobody read, a file under the
/// home, a rotated audit log, a refresh token in the stdout of a run that asked for a token —
/// while an access token on the stdout of `sidekey token` is not a leak. And the drop fails
/// the test that leaked.
#[test]
fn the_secret_scan_at_the_end_of_a_test_finds_a_planted_leak() {
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let env = Env::new(&account_toml("o", Dialect::Oidc, &idp));
    let login = env.run(&["login", "o"]);
    assert_eq!(login.status.code(), Some(0), "{}", stderr(&login));
    let token = env.run(&["token", "o"]);
    assert_eq!(token.status.code(), Some(0), "{}", stderr(&token));
    let access = idp.issued_access_tokens()[0].clone();
    let refresh = idp.issued_refresh_tokens()[0].clone();
    assert_eq!(stdout(&token).trim(), access);
    // The vault holds both, sealed; the token was asked for: nothing leaked yet.
    assert_eq!(env.leaks(), Vec::<String>::new());

    // A process whose output the test never reads: its stderr.
    let out = env
        .recorded("sh", &["-c", &format!("echo {refresh} >&2")], false)
        .stderr(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    let leaks = env.leaks();
    assert_eq!(leaks.len(), 1, "{leaks:?}");
    assert!(
        leaks[0].starts_with(&refresh[..6]) && leaks[0].ends_with(".err"),
        "{leaks:?}"
    );
    // An access token on the stdout of a run that did not ask for one.
    env.recorded("sh", &["-c", &format!("echo {access}")], false)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    // A refresh token on the stdout of one that did.
    env.recorded("sh", &["-c", &format!("echo {refresh}")], true)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    // A file under the home, a rotated audit log, the agent's home.
    std::fs::write(env.home.join("notes.txt"), format!("rt={refresh}")).unwrap();
    std::fs::write(
        env.home.join("audit.log.3"),
        format!("{{\"x\":\"{VAULT_KEY}\"}}\n"),
    )
    .unwrap();
    std::fs::create_dir_all(env.dir.path().join("agent-home/.cache")).unwrap();
    std::fs::write(
        env.dir.path().join("agent-home/.cache/k"),
        daemon_helpers::API_KEY,
    )
    .unwrap();
    env.record(&format!("said {}", &access));
    let leaks = env.leaks();
    for (secret, place) in [
        (&access, ".out"),
        (&refresh, ".asked"),
        (&refresh, "home/notes.txt"),
        (&VAULT_KEY.to_string(), "home/audit.log.3"),
        (&daemon_helpers::API_KEY.to_string(), "agent-home/.cache/k"),
        (&access, "the transcript"),
    ] {
        assert!(
            leaks
                .iter()
                .any(|l| l.starts_with(&secret[..6]) && l.ends_with(place)),
            "{}… in {place} not found: {leaks:?}",
            &secret[..6]
        );
    }
    assert_eq!(leaks.len(), 7, "{leaks:?}");

    // The end of the test fails it.
    let end = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(env)));
    let said = end.expect_err("dropping an Env that leaked passed");
    let said = said.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(said.starts_with("secrets leaked: "), "{said}");
    assert!(
        !said.contains(&refresh) && !said.contains(&access),
        "the failure quotes a secret: {said}"
    );
}

/// Issue 23, item 4: `token NAME` reads only NAME's part of the config (its cost does not grow
/// with the accounts), yet a mistake in another account is still reported by `status`,
/// `doctor` and `serve`, and by `token` for that account, on the file's own line.
#[test]
fn token_reads_only_its_account_and_a_mistake_elsewhere_is_still_reported() {
    let idp = fake(Dialect::Oidc, 1);
    let good = account_toml("a", Dialect::Oidc, &idp);
    let env = Env::new(&good);
    let out = env.run(&["login", "a"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let head =
        "[agents.bot]\nkey_sha256 = \"".to_string() + &"a".repeat(64) + "\"\naccounts = [\"b\"]\n";
    let broken = format!(
        "{head}{good}[accounts.b]\nclient_id = \"x\"\nprovider = \"myspace\"\nclient_secret = \"\"\"\n[accounts.a]\n\"\"\"\n[accounts.b.policy]\nallow = []\n"
    );
    let line = broken
        .lines()
        .position(|l| l == "provider = \"myspace\"")
        .unwrap()
        + 1;
    env.write_config(&broken);

    let t = env.run(&["token", "a"]);
    assert_eq!(t.status.code(), Some(0), "{}", stderr_of(&t));
    assert_eq!(stdout(&t).trim(), idp.issued_access_tokens()[0]);

    let said = format!("line {line}: account 'b': unknown provider 'myspace'");
    for args in [&["token", "b"][..], &["status"], &["login", "b"]] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains(&said),
            "{args:?}: {}",
            stderr_of(&out)
        );
    }
    let doctor = env.run(&["doctor"]);
    assert_ne!(doctor.status.code(), Some(0));
    let all = format!("{}{}", stdout(&doctor), stderr_of(&doctor));
    assert!(all.contains("unknown provider 'myspace'"), "{all}");
    let api_key = env.dir.path().join("api_key");
    std::fs::write(&api_key, "0123456789abcdef0123456789abcdef").unwrap();
    let mut serve = env
        .cmd(&[
            "serve",
            "--socket",
            env.dir.path().join("s.sock").to_str().unwrap(),
        ])
        .env("SIDEKEY_API_KEY_FILE", &api_key)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(wait_timeout(&mut serve, Duration::from_secs(10)), 2);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut serve.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains(&said), "{err}");

    // An unknown account is named with every account the file has.
    let out = env.run(&["token", "zz"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
}

/// `main.rs` starts the process itself (`#![no_main]`, not std's start-up) and must still do
/// what std's start-up did: a standard descriptor the caller closed is reopened on `/dev/null`
/// before anything else is opened. Otherwise the first descriptor sidekey opens (the runtime's
/// epoll, the audit log, the vault) becomes fd 1, and what it prints — a token — goes there; here
/// `exec` hands its fd 1 to the command, which reports what it is.
#[test]
fn a_closed_stdout_is_reopened_on_dev_null_before_anything_is_opened() {
    let idp = fake(Dialect::Oidc, 1);
    let env = Env::new(&account_toml("o", Dialect::Oidc, &idp));
    assert_eq!(env.run(&["login", "o"]).status.code(), Some(0));
    let mut c = std::process::Command::new("sh");
    env.configure(&mut c);
    // The shell closes fd 1, then becomes sidekey; `exec` runs a shell whose exit status says
    // whether its fd 1 (sidekey's) is /dev/null (`test` is the shell's own: no redirection).
    c.args([
        "-c",
        r#"exec "$0" "$@" >&-"#,
        common::BIN,
        "exec",
        "o",
        "--",
    ])
    .args(["sh", "-c", "test /proc/self/fd/1 -ef /dev/null"]);
    let out = c.output().unwrap();
    env.record(&stderr(&out));
    assert_eq!(
        out.status.code(),
        Some(0),
        "sidekey's fd 1 was not /dev/null: {}",
        stderr(&out)
    );
    assert!(env.leaks().is_empty(), "{:?}", env.leaks());
}

/// std's start-up also ignores SIGPIPE, and `main.rs` does the same: a reader that went away
/// (`sidekey ... | head -1`) makes a write fail with an error, it does not kill sidekey with a
/// signal (exit 141 in a shell, and none of its cleanup).
#[test]
fn a_closed_pipe_on_stdout_does_not_kill_sidekey_with_sigpipe() {
    use std::os::unix::process::ExitStatusExt;
    let env = Env::new("");
    // Started with SIGPIPE at its default, as a shell starts it (this test process ignores it,
    // and a child would inherit that): GNU env's --default-signal.
    let mut c = std::process::Command::new("env");
    env.configure(&mut c);
    let mut child = c
        .args(["--default-signal=PIPE", common::BIN, "--help"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reading end is gone before sidekey writes its help.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.signal(),
        None,
        "killed by a signal: {:?}",
        out.status
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
