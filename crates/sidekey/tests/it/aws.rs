//! AWS IAM Identity Center end to end: the binary registers a client, signs in with AWS's JSON
//! dialect of the device flow and reads the access portal — against the test kit's FakeAws,
//! which answers like the service models say AWS does — and a real AWS client (boto3/botocore,
//! PyPI) uses `sidekey aws credentials` as its `credential_process` to call STS
//! GetCallerIdentity on moto's server.

use crate::common;
use crate::common::daemon_helpers;

use common::*;
use daemon_helpers::{API_KEY, raw, start_daemon};
use serde_json::Value;
use sidekey_testkit::aws::{AwsOptions, FakeAws};
use std::path::PathBuf;
use std::process::{Command, Output};

const ACCOUNT: &str = "123456789012";

fn config(fake: &FakeAws, extra: &str) -> String {
    format!(
        "[accounts.aws]\nprovider = \"aws\"\nstart_url = \"{}\"\nregion = \"eu-west-1\"\noidc_endpoint = \"{}\"\napi_base = \"{}\"\n{extra}",
        fake.start_url(),
        fake.oidc_url(),
        fake.portal_url()
    )
}

fn setup(opts: AwsOptions, extra: &str) -> (FakeAws, Env) {
    let fake = FakeAws::start(opts);
    let env = Env::new(&config(&fake, extra));
    let out = env.run(&["login", "aws"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (fake, env)
}

fn json_of(env: &Env, args: &[&str]) -> Value {
    let out = env.run(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

/// `sidekey aws credentials …`: stdout holds keys (asked for), so only stderr is recorded.
fn credentials(env: &Env, role: &str) -> Output {
    let out = env
        .cmd(&[
            "aws",
            "credentials",
            "--account-id",
            ACCOUNT,
            "--role-name",
            role,
        ])
        .output()
        .unwrap();
    env.record(&stderr(&out));
    out
}

#[test]
fn sign_in_accounts_roles_and_cached_credentials() {
    let (fake, env) = setup(AwsOptions::default(), "");
    assert_eq!(fake.registrations(), 1);

    // The wire: JSON with camelCase members on every OIDC request, the registration public.
    let reqs = fake.requests();
    let oidc: Vec<_> = reqs
        .iter()
        .filter(|r| r.target.starts_with("/oidc"))
        .collect();
    assert!(oidc.len() >= 3, "{oidc:?}");
    for r in &oidc {
        assert_eq!(r.content_type.as_deref(), Some("application/json"), "{r:?}");
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert!(
            v.get("client_id").is_none() && v.get("scope").is_none(),
            "{r:?}"
        );
    }
    let register: Value = serde_json::from_str(&oidc[0].body).unwrap();
    assert_eq!(register["clientType"], "public");
    assert_eq!(
        register["scopes"],
        serde_json::json!(["sso:account:access"])
    );
    let start: Value = serde_json::from_str(&oidc[1].body).unwrap();
    assert_eq!(start["startUrl"], fake.start_url());

    let st = json_of(&env, &["status", "--json"]);
    assert_eq!(st["accounts"][0]["state"], "signed_in", "{st}");

    let accounts = json_of(&env, &["aws", "accounts", "--json"]);
    let ids: Vec<&str> = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [ACCOUNT, "210987654321"]);
    let text = stdout(&env.run(&["aws", "accounts"]));
    assert!(text.contains("production <aws-prod@example.com>"), "{text}");

    let roles = json_of(&env, &["aws", "roles", ACCOUNT, "--json"]);
    assert_eq!(roles["roles"][0]["role_name"], "ReadOnly", "{roles}");
    // Every portal call carried the bearer header.
    for r in fake.requests() {
        if r.target.starts_with("/portal") {
            assert!(
                r.bearer.as_deref().is_some_and(|b| b.starts_with("aoa")),
                "{} {}",
                r.method,
                r.target
            );
        }
    }

    // credential_process JSON, exactly what the portal issued, epoch ms as RFC 3339.
    let out = credentials(&env, "ReadOnly");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let issued = fake.issued_role_credentials();
    assert_eq!(issued.len(), 1);
    assert_eq!(v["Version"], 1);
    assert_eq!(v["AccessKeyId"], issued[0].access_key_id);
    assert_eq!(v["SecretAccessKey"], issued[0].secret_access_key);
    assert_eq!(v["SessionToken"], issued[0].session_token);
    let exp = v["Expiration"].as_str().unwrap();
    let ts: jiff::Timestamp = exp.parse().unwrap();
    assert_eq!(ts.as_millisecond() as u64, issued[0].expiration_ms);
    assert!(exp.ends_with('Z'), "{exp}");

    // Cached: three more runs, no further portal call, the same keys.
    for _ in 0..3 {
        let again = credentials(&env, "ReadOnly");
        assert_eq!(again.stdout, out.stdout);
    }
    assert_eq!(fake.role_credential_calls(), 1);
    // Another role is its own cache entry.
    assert_eq!(
        credentials(&env, "AdministratorAccess").status.code(),
        Some(0)
    );
    assert_eq!(fake.role_credential_calls(), 2);

    // Bad input: exit 2 before any request; a role the user lacks: the portal's 404, non-zero.
    let bad = env.run(&[
        "aws",
        "credentials",
        "--account-id",
        "12",
        "--role-name",
        "X",
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("12 digits"), "{}", stderr(&bad));
    let none = credentials(&env, "NoSuchRole");
    assert_eq!(none.status.code(), Some(6), "{}", stderr(&none));
    assert!(none.stdout.is_empty());
    assert!(stderr(&none).contains("HTTP 404"), "{}", stderr(&none));

    // The audit names account and role of every hand-out, never a key.
    let audit = std::fs::read_to_string(env.home.join("audit.log")).unwrap_or_default();
    assert!(audit.contains("aws.credentials"), "{audit}");
    assert!(audit.contains("\"role_name\":\"ReadOnly\""), "{audit}");
    for s in fake.secrets() {
        assert!(!audit.contains(&s), "a secret in the audit log");
    }

    // Logout ends the portal session and forgets the cached keys.
    let out = env.run(&["logout", "aws"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("Logout"), "{}", stdout(&out));
    assert_eq!(fake.logouts(), 1);
    let after = credentials(&env, "ReadOnly");
    assert_eq!(after.status.code(), Some(3), "{}", stderr(&after));

    env.assert_no_secrets(&fake.secrets());
}

#[test]
fn role_keys_close_to_expiry_are_not_handed_out_again() {
    // Role keys living 10 minutes are inside the 20-minute margin (botocore refreshes 15 minutes
    // before expiry): every call asks the portal, so no SDK is handed keys it would reject.
    let (fake, env) = setup(
        AwsOptions {
            role_lifetime: 600,
            ..AwsOptions::default()
        },
        "",
    );
    let a = credentials(&env, "ReadOnly");
    let b = credentials(&env, "ReadOnly");
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    assert_eq!(b.status.code(), Some(0), "{}", stderr(&b));
    assert_eq!(fake.role_credential_calls(), 2);
    assert_ne!(a.stdout, b.stdout);
    env.assert_no_secrets(&fake.secrets());
}

#[test]
fn slow_down_and_portal_throttling() {
    let (fake, env) = setup(
        AwsOptions {
            // Ask for 1 s but enforce 3 s: the second poll gets slow_down, the client adds 5 s.
            interval: 1,
            enforced_interval: Some(3),
            auto_approve_after_polls: Some(2),
            ..AwsOptions::default()
        },
        "",
    );
    assert_eq!(fake.slow_downs(), 1);

    // Two 429 TooManyRequestsException, then an answer: retried (Retry-After honoured).
    fake.throttle_portal(2);
    let v = json_of(&env, &["aws", "accounts", "--json"]);
    assert_eq!(v["accounts"].as_array().unwrap().len(), 2);
    // Throttled throughout: a network-class failure (exit 5) that says so.
    fake.throttle_portal(50);
    let out = env.run(&["aws", "roles", ACCOUNT]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("429"), "{}", stderr(&out));
    env.assert_no_secrets(&fake.secrets());
}

#[test]
fn refresh_on_expiry_and_on_a_rejected_bearer() {
    // Tokens live 60 s, less than the 300 s refresh margin: every use refreshes.
    let (fake, env) = setup(
        AwsOptions {
            token_lifetime: 60,
            ..AwsOptions::default()
        },
        "",
    );
    json_of(&env, &["aws", "accounts", "--json"]);
    assert_eq!(fake.refreshes(), 1);
    // The portal refuses the bearer (401 UnauthorizedException): one refresh, one retry.
    fake.invalidate_access_tokens();
    json_of(&env, &["aws", "roles", ACCOUNT, "--json"]);
    assert!(fake.refreshes() >= 2);
    // Nothing can renew it any more: "sign in again", exit 3.
    fake.invalidate_access_tokens();
    fake.invalidate_refresh_tokens();
    let out = env.run(&["aws", "accounts"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sidekey login aws"),
        "{}",
        stderr(&out)
    );
    env.assert_no_secrets(&fake.secrets());
}

#[test]
fn an_expired_registration_is_replaced_at_the_next_sign_in() {
    let (fake, env) = setup(AwsOptions::default(), "");
    assert_eq!(fake.registrations(), 1);
    // AWS refuses the registration (401 invalid_client) although its stored expiry is ahead:
    // the refresh token died with it, so a refresh means "sign in again" (exit 3).
    fake.expire_registrations();
    fake.invalidate_access_tokens();
    let out = env.run(&["aws", "accounts"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sidekey login aws"),
        "{}",
        stderr(&out)
    );
    // The next sign-in registers again (its StartDeviceAuthorization got invalid_client).
    let out = env.run(&["login", "aws"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(fake.registrations(), 2);
    // A second sign-in with a good registration reuses it.
    let out = env.run(&["login", "aws"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(fake.registrations(), 2);
    json_of(&env, &["aws", "accounts", "--json"]);
    env.assert_no_secrets(&fake.secrets());
}

#[test]
fn without_registration_scopes_there_is_no_refresh_and_expiry_means_sign_in_again() {
    let (fake, env) = setup(
        AwsOptions {
            token_lifetime: 1,
            ..AwsOptions::default()
        },
        "registration_scopes = []\n",
    );
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let out = env.run(&["aws", "accounts"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sign in again") && stderr(&out).contains("login aws"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fake.refreshes(), 0);
    env.assert_no_secrets(&fake.secrets());
}

#[test]
fn denied_and_expired_device_codes() {
    let fake = FakeAws::start(AwsOptions {
        auto_approve_after_polls: None,
        device_expires_in: 3,
        ..AwsOptions::default()
    });
    let env = Env::new(&config(&fake, ""));
    let out = env.run(&["login", "aws"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).to_lowercase().contains("expired"),
        "{}",
        stderr(&out)
    );

    let mut run = env.login_json("aws");
    let ev = run.next_event(std::time::Duration::from_secs(10));
    let code = ev.to_string();
    assert!(fake.user_codes().iter().any(|c| code.contains(c)), "{ev}");
    fake.deny_all();
    let (status, _, err) = run.finish(&env);
    assert_eq!(status, 4, "{err}");
    env.assert_no_secrets(&fake.secrets());
}

#[test]
fn a_verification_page_elsewhere_on_amazonaws_com_is_refused() {
    // An S3 website bucket is on amazonaws.com too: only device.sso.{region}.amazonaws.com (and
    // the configured endpoints' hosts) may serve the page.
    let fake = FakeAws::start(AwsOptions {
        verification_uri: Some("https://evil-bucket.s3-website-eu-west-1.amazonaws.com/".into()),
        ..AwsOptions::default()
    });
    let env = Env::new(&config(&fake, ""));
    let out = env.run(&["login", "aws"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("device.sso.eu-west-1.amazonaws.com"),
        "{}",
        stderr(&out)
    );
    let codes = fake.user_codes();
    assert!(!stdout(&out).contains(&codes[0]), "the code was shown");
}

#[test]
fn config_mistakes_are_named() {
    let fake = FakeAws::start(AwsOptions::default());
    for (extra, want) in [
        ("client_id = \"x\"\n", "registers its own client"),
        ("scopes = [\"sso:account:access\"]\n", "registration_scopes"),
        (
            "[accounts.aws.policy]\naws_roles = [\"1234/ReadOnly\"]\n",
            "ACCOUNT_ID/ROLE_NAME",
        ),
        // The Identity Center token reaches every role: exporting it would bypass aws_roles.
        (
            "[accounts.aws.policy]\nallow_token_export = true\n",
            "cannot be set on an aws account",
        ),
        (
            "[accounts.aws.policy]\nallow = [\"aws.credentials\"]\n",
            "governed by aws_roles",
        ),
    ] {
        let env = Env::new(&config(&fake, extra));
        let out = env.run(&["status"]);
        assert_eq!(out.status.code(), Some(2), "{extra}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{extra}: {}", stderr(&out));
    }
    let env = Env::new(&format!(
        "[accounts.aws]\nprovider = \"aws\"\nstart_url = \"{}\"\n",
        fake.start_url()
    ));
    let out = env.run(&["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("region"), "{}", stderr(&out));
    // The OIDC endpoint and the portal get secrets: plain http only on loopback.
    for key in ["oidc_endpoint", "api_base"] {
        let env = Env::new(&format!(
            "[accounts.aws]\nprovider = \"aws\"\nstart_url = \"{}\"\nregion = \"eu-west-1\"\n{key} = \"http://aws.example.com\"\n",
            fake.start_url()
        ));
        let out = env.run(&["status"]);
        assert_eq!(out.status.code(), Some(2), "{key}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("only https"),
            "{key}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn through_the_daemon_only_listed_roles_leave() {
    let (fake, env) = setup(
        AwsOptions::default(),
        &format!("[accounts.aws.policy]\naws_roles = [\"{ACCOUNT}/ReadOnly\"]\n"),
    );
    let d = start_daemon(&env);
    let op = |role: &str| {
        raw(
            &d.socket,
            "POST",
            "/v1/op",
            Some(API_KEY),
            Some(&format!(
                r#"{{"op":"aws.credentials","account_id":"{ACCOUNT}","role_name":"{role}"}}"#
            )),
        )
    };
    let (status, body) = op("AdministratorAccess");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("aws_roles"), "{body}");
    let (status, body) = op("ReadOnly");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["result"]["AccessKeyId"],
        fake.issued_role_credentials()[0].access_key_id
    );
    // Reads need no listing.
    let (status, body) = raw(
        &d.socket,
        "POST",
        "/v1/op",
        Some(API_KEY),
        Some(r#"{"op":"aws.accounts"}"#),
    );
    assert_eq!(status, 200, "{body}");

    // Client mode: the CLI asks the daemon; a refusal is exit 6 on stderr, nothing on stdout.
    let client = |role: &str| {
        env.cmd(&[
            "aws",
            "credentials",
            "--account-id",
            ACCOUNT,
            "--role-name",
            role,
        ])
        .env("SIDEKEY_URL", format!("unix://{}", d.socket.display()))
        .env(
            "SIDEKEY_API_KEY_FILE",
            env.dir.path().join("secrets/api_key"),
        )
        .output()
        .unwrap()
    };
    let refused = client("AdministratorAccess");
    env.record(&stderr(&refused));
    assert_eq!(refused.status.code(), Some(6), "{}", stderr(&refused));
    assert!(refused.stdout.is_empty());
    let ok = client("ReadOnly");
    env.record(&stderr(&ok));
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let v: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(v["Version"], 1);

    let audit = std::fs::read_to_string(env.home.join("audit.log")).unwrap_or_default();
    assert!(audit.contains("AdministratorAccess"), "{audit}");
    for s in fake.secrets() {
        assert!(!audit.contains(&s), "a secret in the audit log");
    }
    env.assert_no_secrets(&fake.secrets());
}

// ---------------------------------------------------------------------------------------------
// A real AWS client: boto3/botocore with `credential_process`, STS on moto's server.

fn venv_python() -> Option<PathBuf> {
    test_python(
        "aws",
        "AWS_TEST_PYTHON",
        "boto3, botocore, moto.server",
        "boto3/moto",
    )
}

fn caller(env: &Env, py: &PathBuf, role: &str) -> (i32, Value, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/aws/caller.py");
    let mut c = Command::new(py);
    c.args([script, BIN, ACCOUNT, role, "aws"]);
    env.configure(&mut c);
    let out = c.output().unwrap();
    let err = stderr(&out);
    env.record(&stdout(&out));
    env.record(&err);
    let v = stdout(&out)
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), v, err)
}

fn sha256(s: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn boto3_uses_sidekey_as_credential_process_against_moto_sts() {
    let Some(py) = venv_python() else { return };
    let (fake, env) = setup(AwsOptions::default(), "");

    let (code, v, err) = caller(&env, &py, "ReadOnly");
    assert_eq!(code, 0, "{v} {err}");
    // moto's STS answered for the key botocore signed with (moto's default account).
    assert_eq!(v["account"], "123456789012", "{v}");
    let issued = fake.issued_role_credentials();
    assert_eq!(issued.len(), 1);
    assert_eq!(v["access_key_id"], issued[0].access_key_id);
    assert_eq!(v["secret_sha256"], sha256(&issued[0].secret_access_key));
    assert_eq!(v["token_sha256"], sha256(&issued[0].session_token));
    // botocore parsed our Expiration (RFC 3339) into the portal's instant.
    let expiry: jiff::Timestamp = v["expiry"].as_str().unwrap().parse().unwrap();
    assert_eq!(expiry.as_second() as u64, issued[0].expiration_ms / 1000);

    // A second process: the cached keys, no portal call.
    let (code, v2, _) = caller(&env, &py, "ReadOnly");
    assert_eq!(code, 0);
    assert_eq!(v2["access_key_id"], v["access_key_id"]);
    assert_eq!(fake.role_credential_calls(), 1);

    // A role the user lacks: botocore reports sidekey's stderr, and no secret anywhere.
    let (code, v, _) = caller(&env, &py, "NoSuchRole");
    assert_eq!(code, 3, "{v}");
    let msg = v["error"].as_str().unwrap_or_default();
    assert!(msg.contains("HTTP 404"), "{msg}");
    env.assert_no_secrets(&fake.secrets());
}

#[test]
fn boto3_in_an_agent_container_gets_only_the_listed_roles_through_the_daemon() {
    let Some(py) = venv_python() else { return };
    let (fake, env) = setup(
        AwsOptions::default(),
        &format!("[accounts.aws.policy]\naws_roles = [\"{ACCOUNT}/ReadOnly\"]\n"),
    );
    let d = start_daemon(&env);
    // The agent's side: the daemon's URL and API key, no vault key, no config.
    let run = |role: &str| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/aws/caller.py");
        let mut c = Command::new(&py);
        c.args([script, BIN, ACCOUNT, role, "aws"]);
        env.configure(&mut c);
        c.env_remove("SIDEKEY_VAULT_KEY_FILE")
            .env("SIDEKEY_CONFIG", env.dir.path().join("no-config.toml"))
            .env("SIDEKEY_URL", format!("unix://{}", d.socket.display()))
            .env(
                "SIDEKEY_API_KEY_FILE",
                env.dir.path().join("secrets/api_key"),
            );
        let out = c.output().unwrap();
        env.record(&stdout(&out));
        env.record(&stderr(&out));
        let v: Value = stdout(&out)
            .lines()
            .last()
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or(Value::Null);
        (out.status.code().unwrap_or(-1), v)
    };
    let (code, v) = run("ReadOnly");
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["access_key_id"],
        fake.issued_role_credentials()[0].access_key_id
    );
    assert_eq!(v["account"], "123456789012");
    // Not listed in aws_roles: botocore fails with sidekey's refusal, and gets no keys.
    let (code, v) = run("AdministratorAccess");
    assert_eq!(code, 3, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap_or_default()
            .contains("aws_roles"),
        "{v}"
    );
    assert_eq!(fake.role_credential_calls(), 1);
    env.assert_no_secrets(&fake.secrets());
}

/// Cached role keys belong to the sign-in that fetched them: once the account needs a new
/// sign-in they are not handed out, and after signing in again they are fetched afresh.
#[test]
fn cached_role_keys_follow_the_sign_in() {
    let (fake, env) = setup(AwsOptions::default(), "");
    let out = credentials(&env, "ReadOnly");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(fake.role_credential_calls(), 1);
    // Cached: no portal call.
    let out = credentials(&env, "ReadOnly");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(fake.role_credential_calls(), 1);
    // The session dies (refresh token refused): the account needs a new sign-in.
    fake.invalidate_access_tokens();
    fake.invalidate_refresh_tokens();
    let out = env.run(&["aws", "accounts"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // The cached keys are not handed out any more.
    let out = credentials(&env, "ReadOnly");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    // A new sign-in fetches new keys (the old cache belonged to the old sign-in).
    let out = env.run(&["login", "aws"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = credentials(&env, "ReadOnly");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(fake.role_credential_calls(), 2);
    env.assert_no_secrets(&fake.secrets());
}
