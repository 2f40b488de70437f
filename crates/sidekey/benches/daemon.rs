//! `cargo bench -p sidekey --bench daemon`: the daemon's idle memory and the throughput and
//! latency of `GET /v1/status` over the unix socket with many concurrent clients.
//!
//! Prints the accounts configured, the daemon's resident memory idle and after the load, the
//! throughput and latency percentiles, and the audit entries the load added (counted in the
//! audit log). `DAEMON_BENCH_CLIENTS` (default 32) and `DAEMON_BENCH_REQUESTS` (per client,
//! default 200) change the load.

use sidekey_testkit::{Dialect, FakeIdp, Options};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const API_KEY: &str = "bench-api-key-0123456789abcdef";

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn request(socket: &std::path::Path) -> u16 {
    let mut s = std::os::unix::net::UnixStream::connect(socket).unwrap();
    write!(
        s,
        "GET /v1/status HTTP/1.1\r\nHost: sidekey\r\nAuthorization: Bearer {API_KEY}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    r.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let bin = env!("CARGO_BIN_EXE_sidekey");
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let dir = std::env::temp_dir().join(format!("sidekey-dbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.toml");
    let mut text = String::new();
    let accounts = ["a", "b", "c"];
    for name in accounts {
        text.push_str(&format!(
            "[accounts.{name}]\nprovider = \"oidc\"\nissuer = \"{}\"\nclient_id = \"test-client\"\n\n",
            idp.issuer()
        ));
    }
    std::fs::write(&cfg, text).unwrap();
    let key = dir.join("api_key");
    std::fs::write(&key, API_KEY).unwrap();
    let socket = dir.join("sidekey.sock");
    let cmd = |args: &[&str]| {
        let mut c = Command::new(bin);
        c.args(args)
            .env("SIDEKEY_HOME", dir.join("home"))
            .env("SIDEKEY_CONFIG", &cfg)
            .env("SIDEKEY_API_KEY_FILE", &key)
            .env_remove("SIDEKEY_VAULT_KEY_FILE")
            .env_remove("SIDEKEY_VAULT_KEY")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    assert!(cmd(&["login", "a"]).status().unwrap().success());
    let mut daemon = cmd(&["serve", "--socket", socket.to_str().unwrap()])
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(2));
    let idle = rss_kib(daemon.id());

    for _ in 0..50 {
        assert_eq!(request(&socket), 200); // warm up
    }
    let env_num = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n: &usize| n > 0)
            .unwrap_or(default)
    };
    let clients = env_num("DAEMON_BENCH_CLIENTS", 32);
    let per_client = env_num("DAEMON_BENCH_REQUESTS", 200);
    let audit_lines = || {
        std::fs::read_to_string(dir.join("home/audit.log"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    let audit_before = audit_lines();
    let lat = Arc::new(Mutex::new(Vec::with_capacity(clients * per_client)));
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let lat = lat.clone();
            let socket = socket.clone();
            std::thread::spawn(move || {
                let mut mine = Vec::with_capacity(per_client);
                for _ in 0..per_client {
                    let t = Instant::now();
                    assert_eq!(request(&socket), 200);
                    mine.push(t.elapsed());
                }
                lat.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let wall = start.elapsed();
    let loaded = rss_kib(daemon.id());
    let audited = audit_lines() - audit_before;
    let mut l = lat.lock().unwrap().clone();
    l.sort();
    let pct = |p: f64| l[((l.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    let n = l.len();
    println!(
        "sidekey serve, {} accounts configured (1 signed in), GET /v1/status over the unix socket, a new connection per request:",
        accounts.len()
    );
    println!("  idle RSS            {:>8.1} MB", idle as f64 / 1024.0);
    println!("  RSS after the load  {:>8.1} MB", loaded as f64 / 1024.0);
    println!(
        "  {clients} clients x {per_client}: {n} requests in {:.2} s = {:.0} req/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        l[n - 1].as_secs_f64() * 1e3
    );
    println!("  audit entries added by the load: {audited} (for {n} requests)");
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let _ = daemon.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
