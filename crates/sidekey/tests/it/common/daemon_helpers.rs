//! A daemon for a test and plain HTTP/1.1 over its socket (as in tests/it/daemon.rs).

#![allow(dead_code)]

use super::Env;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

pub const API_KEY: &str = "k3y-for-the-agent-0123456789abcdef";

pub struct Daemon {
    pub child: Child,
    pub socket: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_daemon(env: &Env) -> Daemon {
    spawn_daemon(env, Stdio::null(), &[])
}

/// [`start_daemon`], listening on TCP too (a free loopback port, returned), its stderr logged as
/// [`start_daemon_logged`]'s.
pub fn start_daemon_tcp(env: &Env) -> (Daemon, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = unique(env.dir.path().join("daemon"));
    let stderr = std::fs::File::create(&log).unwrap();
    let addr = format!("127.0.0.1:{port}");
    let d = spawn_daemon(env, stderr.into(), &["--listen", &addr]);
    (d, port)
}

/// [`start_daemon`], its stderr kept in a file of its own under the test's folder (the log a
/// test reads); a daemon started again in the same test gets the next file.
pub fn start_daemon_logged(env: &Env) -> (Daemon, PathBuf) {
    let log = unique(env.dir.path().join("daemon"));
    let stderr = std::fs::File::create(&log).unwrap();
    (spawn_daemon(env, stderr.into(), &[]), log)
}

/// `p` with the first extension `N.log` that names no file yet.
pub fn unique(p: PathBuf) -> PathBuf {
    (0..)
        .map(|n| p.with_extension(format!("{n}.log")))
        .find(|c| !c.exists())
        .unwrap()
}

fn spawn_daemon(env: &Env, stderr: Stdio, extra: &[&str]) -> Daemon {
    let key = env.dir.path().join("secrets/api_key");
    std::fs::write(&key, format!("{API_KEY}\n")).unwrap();
    let socket = env.dir.path().join("run/sidekey.sock");
    let mut args = vec!["serve", "--socket", socket.to_str().unwrap()];
    args.extend_from_slice(extra);
    let child = env
        .cmd(&args)
        .env("SIDEKEY_API_KEY_FILE", &key)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while try_raw(&socket, "GET", "/healthz", None, None).map(|r| r.0) != Some(200) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Daemon { child, socket }
}

/// A plain HTTP/1.1 request over the unix socket: (status, body). No answer (the daemon is not
/// there, or said nothing readable) fails the test: a status read as 0 would pass every
/// "was refused" assertion without the daemon having refused anything.
pub fn raw(
    socket: &Path,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    try_raw(socket, method, path, key, body).unwrap_or_else(|| {
        panic!(
            "no HTTP answer from the daemon at {} to {method} {path}",
            socket.display()
        )
    })
}

/// [`raw`], or `None` when nothing answered (a daemon that is still starting).
pub fn try_raw(
    socket: &Path,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> Option<(u16, String)> {
    let mut s = std::os::unix::net::UnixStream::connect(socket).ok()?;
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    let body = body.unwrap_or("");
    let _ = write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: sidekey\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|c| c.parse().ok())?;
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// The agent's side in client mode: no `SIDEKEY_HOME`, no config, no vault key — only the
/// daemon's URL and the API key. What it prints is scanned for secrets at the end of the test;
/// what a command asking for a token prints on stdout may hold an access token, nothing else.
pub fn agent(env: &Env, d: &Daemon, args: &[&str]) -> std::process::Output {
    let home = env.dir.path().join("agent-home");
    std::fs::create_dir_all(&home).unwrap();
    let out = env
        .recorded(super::BIN, args, super::asks_for_token(args))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("SIDEKEY_URL", format!("unix://{}", d.socket.display()))
        .env(
            "SIDEKEY_API_KEY_FILE",
            env.dir.path().join("secrets/api_key"),
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    if super::asks_for_token(args) {
        env.record_asked(&String::from_utf8_lossy(&out.stdout));
    } else {
        env.record(&String::from_utf8_lossy(&out.stdout));
    }
    env.record(&String::from_utf8_lossy(&out.stderr));
    out
}
