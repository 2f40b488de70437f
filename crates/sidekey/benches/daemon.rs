//! `cargo bench -p sidekey --bench daemon`: the daemon's idle memory and the throughput and
//! latency of `GET /v1/status` over the unix socket with many concurrent clients.
//!
//! Prints the accounts configured, the daemon's resident memory idle and after the load, the
//! throughput and latency percentiles, and the audit entries the load added (counted in the
//! audit log). `DAEMON_BENCH_CLIENTS` (default 32) and `DAEMON_BENCH_REQUESTS` (per client,
//! default 200) change the load. `DAEMON_BENCH_BINS` (`PATH:PATH…`) measures other builds of
//! `sidekey` instead of this one (e.g. main's and a branch's), `DAEMON_BENCH_ROUNDS` times
//! each (default 1), taking turns, so a machine's changing load falls on each alike.

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
    let env_num = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n: &usize| n > 0)
            .unwrap_or(default)
    };
    let clients = env_num("DAEMON_BENCH_CLIENTS", 32);
    let per_client = env_num("DAEMON_BENCH_REQUESTS", 200);
    let rounds = env_num("DAEMON_BENCH_ROUNDS", 1);
    let bins: Vec<String> = match std::env::var("DAEMON_BENCH_BINS") {
        Ok(v) if !v.is_empty() => v.split(':').map(str::to_string).collect(),
        _ => vec![env!("CARGO_BIN_EXE_sidekey").to_string()],
    };
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let accounts = ["a", "b", "c"];
    println!(
        "sidekey serve, {} accounts configured (1 signed in), GET /v1/status over the unix socket, a new connection per request, {clients} clients x {per_client}:",
        accounts.len()
    );
    for round in 1..=rounds {
        for bin in &bins {
            let r = run(bin, &idp, &accounts, clients, per_client);
            println!("  round {round}, {bin}:\n{r}");
        }
    }
}

/// One daemon of `bin` under the load; the lines to print.
fn run(bin: &str, idp: &FakeIdp, accounts: &[&str], clients: usize, per_client: usize) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sidekey-dbench-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.toml");
    let mut text = String::new();
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
    let out = format!(
        "    idle RSS            {:>8.1} MB\n    RSS after the load  {:>8.1} MB\n    {n} requests in {:.2} s = {:.0} req/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n    audit entries added by the load: {audited} (for {n} requests)",
        idle as f64 / 1024.0,
        loaded as f64 / 1024.0,
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        l[n - 1].as_secs_f64() * 1e3
    );
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let _ = daemon.wait();
    let _ = std::fs::remove_dir_all(&dir);
    out
}
