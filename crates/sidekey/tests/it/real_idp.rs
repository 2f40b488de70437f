//! Against a real authorization server nobody on this project wrote: panva's `oidc-provider`
//! (npm, pinned in tests/idp/package-lock.json), run on loopback. The person's part — typing the
//! code, logging in, consenting — is done over plain HTTP by tests/idp/approve.mjs.
//!
//! Needs Node.js; `npm ci --prefix tests/idp` is run here if `node_modules` is missing (CI runs
//! it up front in `scripts/test`).

use crate::common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn idp_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/idp"))
}

fn ensure_npm() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if idp_dir().join("node_modules/oidc-provider").exists() {
            return;
        }
        let st = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(idp_dir())
            .status()
            .expect("npm is needed for the real-IdP tests (Node.js 20+)");
        assert!(st.success(), "npm ci in tests/idp failed");
    });
}

struct Idp {
    child: Child,
    issuer: String,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_idp(extra: &[(&str, &str)]) -> Idp {
    ensure_npm();
    let mut cmd = Command::new("node");
    cmd.arg("server.mjs")
        .current_dir(idp_dir())
        .env("PORT", "0")
        .env("POLL_INTERVAL", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("node is needed for the real-IdP tests");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
    Idp {
        child,
        issuer: ready["issuer"].as_str().unwrap().to_string(),
    }
}

fn approve(issuer: &str, code: &str, action: &str) -> Value {
    let out = Command::new("node")
        .args([
            "approve.mjs",
            "--issuer",
            issuer,
            "--user-code",
            code,
            "--action",
            action,
        ])
        .current_dir(idp_dir())
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("approve.mjs: {e}: {}", String::from_utf8_lossy(&out.stdout)))
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

fn config(issuer: &str, client: &str) -> String {
    format!(
        "[accounts.real]\nprovider = \"oidc\"\nissuer = \"{issuer}\"\nclient_id = \"{client}\"\nscopes = [\"openid\", \"offline_access\", \"profile\", \"email\", \"api:read\"]\n"
    )
}

#[test]
fn sign_in_refresh_and_revoke_against_oidc_provider() {
    // Access tokens live 60 s, inside the 5-minute margin: every `token` call refreshes.
    let idp = start_idp(&[("ACCESS_TOKEN_TTL", "60")]);
    let env = Env::new(&config(&idp.issuer, "device-client"));
    let mut run = env.login_json("real");
    let code = run.next_event(Duration::from_secs(20));
    assert_eq!(code["event"], "code", "{code}");
    assert!(
        code["verification_uri_complete"]
            .as_str()
            .unwrap()
            .contains("user_code=")
    );
    let a = approve(&idp.issuer, code["user_code"].as_str().unwrap(), "approve");
    assert_eq!(a["outcome"], "approved", "{a}");
    let signed = run.next_event(Duration::from_secs(30));
    let (status, _, err) = run.finish(&env);
    assert_eq!(status, 0, "{err}");
    assert_eq!(signed["event"], "signed_in");
    assert_eq!(signed["user"]["name"], "Alice Liddell", "{signed}");
    assert_eq!(signed["user"]["email"], "alice@example.test", "{signed}");

    let me = format!("{}/me", idp.issuer);
    let t1 = stdout(&env.run(&["token", "real"])).trim().to_string();
    assert_eq!(get_status(&me, &t1), 200);
    // Refreshing again works only if the rotated refresh token was stored (reusing the old
    // one would make oidc-provider revoke the whole grant).
    let t2 = stdout(&env.run(&["token", "real"])).trim().to_string();
    assert_ne!(t1, t2);
    assert_eq!(get_status(&me, &t2), 200);
    let ex = env.run(&[
        "exec",
        "real",
        "--",
        "sh",
        "-c",
        "printf %s \"$SIDEKEY_ACCESS_TOKEN\"",
    ]);
    let t3 = stdout(&ex);
    assert_eq!(get_status(&me, &t3), 200);

    let st = env.run(&["status", "--json"]);
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["accounts"][0]["state"], "signed_in");

    let lo = env.run(&["logout", "real"]);
    assert_eq!(lo.status.code(), Some(0), "{}", stderr(&lo));
    assert!(stdout(&lo).contains("Revoked"), "{}", stdout(&lo));
    assert_eq!(get_status(&me, &t3), 401, "revoked at the server");
    env.assert_no_secrets(&[t1, t2, t3, VAULT_KEY.to_string()]);
}

#[test]
fn access_denied_from_oidc_provider() {
    let idp = start_idp(&[]);
    let env = Env::new(&config(&idp.issuer, "device-client"));
    let mut run = env.login_json("real");
    let code = run.next_event(Duration::from_secs(20));
    let a = approve(
        &idp.issuer,
        code["user_code"].as_str().unwrap(),
        "deny-consent",
    );
    assert_eq!(a["outcome"], "denied", "{a}");
    let failed = run.next_event(Duration::from_secs(30));
    let (status, _, err) = run.finish(&env);
    assert_eq!(status, 4, "{err}");
    assert_eq!(failed["reason"], "declined", "{failed}");
    assert!(err.contains("End-User denied"), "{err}");
}

#[test]
fn expired_token_from_oidc_provider() {
    let idp = start_idp(&[("SHORT_TTL", "3")]);
    let env = Env::new(&config(&idp.issuer, "device-client-short"));
    let out = env.run(&["login", "real", "--json"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let last: Value = serde_json::from_str(stdout(&out).lines().last().unwrap()).unwrap();
    assert_eq!(last["reason"], "expired", "{last}");
}

#[test]
fn no_wait_sign_in_completes_in_the_background_against_oidc_provider() {
    let idp = start_idp(&[]);
    let env = Env::new(&config(&idp.issuer, "device-client"));
    let t0 = std::time::Instant::now();
    let out = env.run(&["login", "real", "--no-wait", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        t0.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t0.elapsed()
    );
    let code: Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    let st: Value = serde_json::from_slice(&env.run(&["status", "real", "--json"]).stdout).unwrap();
    assert_eq!(st["accounts"][0]["state"], "pending", "{st}");
    let a = approve(&idp.issuer, code["user_code"].as_str().unwrap(), "approve");
    assert_eq!(a["outcome"], "approved", "{a}");
    let w = env.run(&["login", "real", "--wait", "--json"]);
    assert_eq!(w.status.code(), Some(0), "{}", stderr(&w));
    assert!(
        stdout(&w).contains("\"event\":\"signed_in\""),
        "{}",
        stdout(&w)
    );
    assert!(stdout(&w).contains("Alice Liddell"), "{}", stdout(&w));
    let t = stdout(&env.run(&["token", "real"])).trim().to_string();
    assert_eq!(get_status(&format!("{}/me", idp.issuer), &t), 200);
}
