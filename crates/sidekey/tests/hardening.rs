//! Issue 10 hardening, end to end: what the provider grants, what it shows, what it echoes, what
//! the config prints, channels that hang, and plain http to a remote daemon.

mod common;

use common::*;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const API_KEY: &str = "k3y-for-the-agent-0123456789abcdef";

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
