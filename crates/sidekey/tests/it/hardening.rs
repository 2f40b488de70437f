//! Issue 10 (hardening), the parts seen from the command line: a clean environment for `exec`
//! children, unsafe permissions reported, and one damaged account never hiding the others.

use crate::common;

use common::*;
use serde_json::Value;
use sidekey_testkit::{Dialect, FakeIdp, Options};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn fake() -> FakeIdp {
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    FakeIdp::start(o)
}

/// A child of `exec` gets its token variables and the caller's ordinary environment, never
/// sidekey's own secrets (the vault key, the key files, the bot token, the webhook bearer).
#[test]
fn exec_children_see_none_of_sidekeys_secrets() {
    let idp = fake();
    let cfg = format!(
        "[notify.webhook]\nurl = \"{}/hook\"\nbearer_token_env = \"HOOK_BEARER\"\n\n{}[accounts.o.policy]\nallow_token_export = true\n",
        idp.base_url(),
        account_toml("o", Dialect::Oidc, &idp)
    );
    let env = Env::new(&cfg);
    let bearer = "webhook-bearer-0123456789abcdef";
    let login = env
        .cmd(&["login", "o"])
        .env("HOOK_BEARER", bearer)
        .output()
        .unwrap();
    assert_eq!(login.status.code(), Some(0), "{}", stderr(&login));
    let out = env
        .cmd(&["exec", "o", "--", "env"])
        .env("HOOK_BEARER", bearer)
        .env("SIDEKEY_API_KEY_FILE", "/run/secrets/api_key")
        .env("TELEGRAM_BOT_TOKEN", "123456:telegram-bot-token-abcdef")
        .env("ORDINARY_VARIABLE", "still-here")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = stdout(&out);
    let names: Vec<&str> = seen
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(n, _)| n)
        .collect();
    for secret in [
        "SIDEKEY_VAULT_KEY",
        "SIDEKEY_VAULT_KEY_FILE",
        "SIDEKEY_API_KEY_FILE",
        "TELEGRAM_BOT_TOKEN",
        "HOOK_BEARER",
    ] {
        assert!(!names.contains(&secret), "the child saw {secret}");
    }
    assert!(
        !seen.contains(bearer),
        "the webhook bearer reached the child"
    );
    assert!(!seen.contains(VAULT_KEY));
    let token = &idp.issued_access_tokens()[0];
    assert!(seen.contains(&format!("SIDEKEY_ACCESS_TOKEN={token}")));
    assert!(seen.contains("SIDEKEY_ACCOUNT=o"));
    assert!(seen.contains("ORDINARY_VARIABLE=still-here"));
}

fn chmod(p: &std::path::Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `doctor` and `serve` (at start, on stderr) warn about a readable vault key, audit log or API
/// key file, and a SIDEKEY_HOME others can enter.
#[test]
fn unsafe_permissions_are_reported_by_doctor_and_serve() {
    let env = Env::new("");
    let api_key = env.dir.path().join("secrets/api_key");
    std::fs::write(&api_key, "k3y-for-the-agent-0123456789abcdef\n").unwrap();
    chmod(&api_key, 0o600);
    chmod(&env.key_file, 0o600);
    // The home (`status` no longer creates one: issue 20, item 4).
    std::fs::create_dir_all(&env.home).unwrap();
    let audit = env.home.join("audit.log");
    std::fs::write(&audit, "").unwrap();
    chmod(&audit, 0o600);
    chmod(&env.home, 0o700);
    let doctor = |env: &Env| {
        let out = env
            .cmd(&["doctor"])
            .env("SIDEKEY_API_KEY_FILE", &api_key)
            .output()
            .unwrap();
        stdout(&out)
    };
    let clean = doctor(&env);
    assert!(!clean.contains("chmod"), "{clean}");

    chmod(&api_key, 0o644);
    chmod(&env.key_file, 0o640);
    chmod(&audit, 0o644);
    chmod(&env.home, 0o755);
    let out = doctor(&env);
    for p in [&api_key, &env.key_file, &audit, &env.home] {
        let line = out
            .lines()
            .find(|l| l.starts_with("warn") && l.contains(p.to_str().unwrap()))
            .unwrap_or_else(|| panic!("no warning for {}: {out}", p.display()));
        assert!(line.contains("chmod"), "{line}");
    }

    let socket = env.dir.path().join("run/sidekey.sock");
    let mut child = env
        .cmd(&["serve", "--socket", socket.to_str().unwrap()])
        .env("SIDEKEY_API_KEY_FILE", &api_key)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !socket.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    for p in [&api_key, &env.key_file, &audit, &env.home] {
        assert!(
            err.lines()
                .any(|l| l.contains("warning") && l.contains(p.to_str().unwrap())),
            "serve did not warn about {}: {err}",
            p.display()
        );
    }
}

/// A sealed file that no longer decrypts marks its account `damaged`; the others are listed as
/// they are, and `status` succeeds.
#[test]
fn one_damaged_account_never_hides_the_others() {
    let idp = fake();
    let cfg = format!(
        "{}{}",
        account_toml("a", Dialect::Oidc, &idp),
        account_toml("b", Dialect::Oidc, &idp)
    );
    let env = Env::new(&cfg);
    for n in ["a", "b"] {
        let out = env.run(&["login", n]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let sealed = env.home.join("vault/accounts/b.sealed");
    let mut bytes = std::fs::read(&sealed).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&sealed, bytes).unwrap();

    let out = env.run(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["accounts"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    assert_eq!(rows[0]["name"], "a");
    assert_eq!(rows[0]["state"], "signed_in", "{v}");
    assert_eq!(rows[1]["name"], "b");
    assert_eq!(rows[1]["state"], "damaged", "{v}");
    assert!(
        rows[1]["note"].as_str().unwrap_or("").contains("damaged"),
        "{v}"
    );
    let text = env.run(&["status"]);
    assert_eq!(text.status.code(), Some(0), "{}", stderr(&text));
    assert!(stdout(&text).contains("damaged"), "{}", stdout(&text));
    // The damaged one alone still fails clearly rather than pretending to be signed out.
    let tok = env.run(&["token", "b"]);
    assert_ne!(tok.status.code(), Some(0));
}
