//! Against a second real authorization server nobody on this project wrote, and one that differs
//! from panva's `oidc-provider` (tests/idp, real_idp.rs): django-oauth-toolkit 3.x on
//! oauthlib 3.3 (PyPI, pinned in tests/dot-idp/requirements.txt), run on loopback by
//! tests/dot-idp/server.py. The person's part — logging in, typing the code, pressing Accept or
//! Deny — is done over plain HTTP by tests/dot-idp/approve.py.
//!
//! How it differs from oidc-provider, and what these tests therefore cover: no discovery of the
//! device endpoint (so `provider = "generic"` with every endpoint named), URLs with trailing
//! slashes, 8-character user codes without a dash, bare error bodies without
//! `error_description` (`{"error": "access_denied"}`), no ID token from the device grant,
//! refresh tokens without `offline_access`, rotation with reuse protection (reusing a rotated-out
//! refresh token revokes the family), revocation at `/o/revoke_token/`, and an unknown scope
//! accepted at the device endpoint but refused (`invalid_scope`) only after the person approved.
//!
//! Needs the Python packages in tests/dot-idp/.venv (`scripts/test` installs them). Locally, without
//! them, each test says so and passes; under CI (`CI` set) a missing install is a failure.

use crate::common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn idp_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/dot-idp"))
}

/// The Python that has the pinned packages: the venv `scripts/test` makes, else
/// `DOT_IDP_PYTHON`. `None` (test skipped, said so and counted) only outside CI. Looked up once
/// per test binary.
fn python() -> Option<PathBuf> {
    static PY: std::sync::OnceLock<Result<PathBuf, Missing>> = std::sync::OnceLock::new();
    counterpart(PY.get_or_init(|| {
        find_test_python(
            "dot-idp",
            "DOT_IDP_PYTHON",
            "django, oauth2_provider, oauthlib",
            "django-oauth-toolkit",
        )
    }))
}

struct Idp {
    child: Child,
    python: PathBuf,
    ready: Value,
}

impl Idp {
    fn base(&self) -> &str {
        self.ready["base"].as_str().unwrap()
    }
    fn url(&self, key: &str) -> &str {
        self.ready[key].as_str().unwrap()
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_idp(extra: &[(&str, &str)]) -> Option<Idp> {
    let python = python()?;
    let mut cmd = Command::new(&python);
    cmd.arg("server.py")
        .current_dir(idp_dir())
        .env("PORT", "0")
        .env("POLL_INTERVAL", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start tests/dot-idp/server.py");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("server.py printed no ready line ({e}): {line:?}"));
    assert_eq!(ready["ready"], true, "{ready}");
    Some(Idp {
        child,
        python,
        ready,
    })
}

fn approve(idp: &Idp, code: &str, action: &str) -> Value {
    let out = Command::new(&idp.python)
        .args([
            "approve.py",
            "--base",
            idp.base(),
            "--user-code",
            code,
            "--action",
            action,
        ])
        .current_dir(idp_dir())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "approve.py: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// GET with a bearer token over plain HTTP/1.1 on loopback; returns the status code.
fn get_status(url: &str, bearer: &str) -> u16 {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {bearer}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// `generic`: django-oauth-toolkit's discovery documents name no device endpoint.
fn config(idp: &Idp) -> String {
    format!(
        "[accounts.dot]\nprovider = \"generic\"\nclient_id = \"{}\"\ndevice_authorization_endpoint = \"{}\"\ntoken_endpoint = \"{}\"\nrevocation_endpoint = \"{}\"\napi_base = \"{}\"\nscopes = [\"openid\", \"profile\", \"email\", \"read\"]\n",
        idp.url("client_id"),
        idp.url("device_authorization_endpoint"),
        idp.url("token_endpoint"),
        idp.url("revocation_endpoint"),
        idp.url("userinfo_endpoint"),
    )
}

#[test]
fn sign_in_refresh_and_revoke_against_django_oauth_toolkit() {
    // Access tokens live 60 s, inside the 5-minute margin: every `token` call refreshes.
    let Some(idp) = start_idp(&[("ACCESS_TOKEN_TTL", "60")]) else {
        return;
    };
    let env = Env::new(&config(&idp));
    let mut run = env.login_json("dot");
    let code = run.next_event(Duration::from_secs(20));
    assert_eq!(code["event"], "code", "{code}");
    let user_code = code["user_code"].as_str().unwrap().to_string();
    assert!(
        code["verification_uri_complete"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/o/device/?user_code={user_code}")),
        "{code}"
    );
    let a = approve(&idp, &user_code, "approve");
    assert_eq!(a["outcome"], "approved", "{a}");
    let signed = run.next_event(Duration::from_secs(30));
    let (status, _, err) = run.finish(&env);
    assert_eq!(status, 0, "{err}");
    assert_eq!(signed["event"], "signed_in", "{signed}");
    // From /o/userinfo/, slash included: /o/userinfo would be a 301 (Django's APPEND_SLASH),
    // and redirects are not followed, so `api_base` must be used exactly as configured.
    assert_eq!(signed["user"]["name"], "Alice Liddell", "{signed}");
    assert_eq!(signed["user"]["email"], "alice@example.test", "{signed}");
    assert_eq!(
        signed["scopes"],
        serde_json::json!(["openid", "profile", "email", "read"])
    );

    let me = idp.url("userinfo_endpoint").to_string();
    let t1 = stdout(&env.run(&["token", "dot"])).trim().to_string();
    assert_eq!(get_status(&me, &t1), 200);
    // A second refresh works only if the rotated refresh token was stored: with reuse
    // protection on, presenting the old one makes the server revoke the whole family.
    let t2 = stdout(&env.run(&["token", "dot"])).trim().to_string();
    assert_ne!(t1, t2);
    assert_eq!(get_status(&me, &t2), 200);
    assert_eq!(
        get_status(&me, &t1),
        401,
        "rotation revoked the old access token"
    );
    let ex = env.run(&[
        "exec",
        "dot",
        "--",
        "sh",
        "-c",
        "printf %s \"$SIDEKEY_ACCESS_TOKEN\"",
    ]);
    let t3 = stdout(&ex);
    assert_eq!(get_status(&me, &t3), 200);

    let st = env.run(&["status", "--json"]);
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["accounts"][0]["state"], "signed_in", "{v}");

    let lo = env.run(&["logout", "dot"]);
    assert_eq!(lo.status.code(), Some(0), "{}", stderr(&lo));
    assert!(stdout(&lo).contains("Revoked"), "{}", stdout(&lo));
    assert_eq!(get_status(&me, &t3), 401, "revoked at the server");
    let st = env.run(&["status", "dot", "--json"]);
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["accounts"][0]["state"], "signed_out", "{v}");
    env.assert_no_secrets(&[t1, t2, t3, VAULT_KEY.to_string()]);
}

#[test]
fn access_denied_from_django_oauth_toolkit() {
    let Some(idp) = start_idp(&[]) else {
        return;
    };
    let env = Env::new(&config(&idp));
    let mut run = env.login_json("dot");
    let code = run.next_event(Duration::from_secs(20));
    let a = approve(&idp, code["user_code"].as_str().unwrap(), "deny");
    assert_eq!(a["outcome"], "denied", "{a}");
    let failed = run.next_event(Duration::from_secs(30));
    let (status, _, err) = run.finish(&env);
    assert_eq!(status, 4, "{err}");
    assert_eq!(failed["event"], "failed", "{failed}");
    assert_eq!(failed["reason"], "declined", "{failed}");
    eprintln!("denied: {err}");
    let st: Value = serde_json::from_slice(&env.run(&["status", "dot", "--json"]).stdout).unwrap();
    assert_eq!(st["accounts"][0]["state"], "signed_out", "{st}");
}

/// With no `scopes`, a generic account asks for `openid profile email offline_access`.
/// django-oauth-toolkit does not know `offline_access` (it issues refresh tokens without it), yet
/// its device endpoint accepts the request and lets the person approve; only the token endpoint
/// then answers `400 {"error": "invalid_scope"}`, with no description. sidekey must end the
/// sign-in (no endless polling, no tokens stored) with reason `invalid_scope` and exit 2.
fn config_default_scopes(idp: &Idp) -> String {
    config(idp).replace(
        "scopes = [\"openid\", \"profile\", \"email\", \"read\"]\n",
        "",
    )
}

fn sign_in_with_default_scopes(idp: &Idp, env: &Env) -> (i32, Value, String) {
    let mut run = env.login_json("dot");
    let code = run.next_event(Duration::from_secs(20));
    assert_eq!(
        code["scopes"],
        serde_json::json!(["openid", "profile", "email", "offline_access"]),
        "{code}"
    );
    let a = approve(idp, code["user_code"].as_str().unwrap(), "approve");
    assert_eq!(a["outcome"], "approved", "{a}");
    let failed = run.next_event(Duration::from_secs(30));
    let (status, _, err) = run.finish(env);
    (status, failed, err)
}

#[test]
fn unknown_scope_refused_only_after_approval_by_django_oauth_toolkit() {
    let Some(idp) = start_idp(&[]) else {
        return;
    };
    let env = Env::new(&config_default_scopes(&idp));
    let (status, failed, err) = sign_in_with_default_scopes(&idp, &env);
    assert_eq!(status, 2, "{err}");
    assert_eq!(failed["event"], "failed", "{failed}");
    assert_eq!(failed["reason"], "invalid_scope", "{failed}");
    let st: Value = serde_json::from_slice(&env.run(&["status", "dot", "--json"]).stdout).unwrap();
    assert_eq!(st["accounts"][0]["state"], "signed_out", "{st}");
}

/// Issue 9 item 10: where the provider refuses scopes only after approval and names none (as
/// here: `{"error": "invalid_scope"}`, no description), the message says which scopes were asked
/// for, so the person can drop the unknown one.
#[test]
fn unknown_scope_message_names_the_requested_scopes() {
    let Some(idp) = start_idp(&[]) else {
        return;
    };
    let env = Env::new(&config_default_scopes(&idp));
    let (status, failed, err) = sign_in_with_default_scopes(&idp, &env);
    assert_eq!(status, 2, "{err}");
    let msg = failed["message"].as_str().unwrap_or_default();
    assert!(msg.contains("offline_access"), "{failed}");
    assert!(err.contains("offline_access"), "{err}");
}
