//! `cargo bench -p sidekey --bench fleet_scale`: the PostgreSQL vault at scale (docs/fleet.md).
//!
//! Three daemons run side by side, one per store: PostgreSQL holding one account, PostgreSQL
//! holding 10,000 (the benchmarked account and 9,999 others, put in through the vault API in
//! one transaction), and the file vault holding one. Each serves `POST /v1/token` for the
//! benchmarked account (a token still good: no refresh, a read and decrypt of its record).
//!
//! * Latency: one client, the three stores interleaved round by round (`SCALE_BENCH_ROUNDS`
//!   rounds, default 20, of `SCALE_BENCH_REQUESTS` requests each, default 100), so the machine's
//!   other load falls on all three alike: median and p99 of each.
//! * Throughput: `SCALE_BENCH_CLIENTS` clients (default 8) asking one daemon as fast as they
//!   can for 2 s, PostgreSQL (1 account) and the file store taking turns, three turns each:
//!   requests per second of each turn.
//!
//! Needs the PostgreSQL the tests use (`SIDEKEY_TEST_PG`, default
//! `postgres://postgres@127.0.0.1:5432/test`); without one it says so and stops.

use sidekey_testkit::{Dialect, FakeIdp, Options};
use sidekey_vault::pg::scratch::{self, Database};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const API_KEY: &str = "bench-api-key-0123456789abcdef";
const ACCOUNTS: usize = 10_000;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(default)
}

/// `POST /v1/token` for `bench` over `socket`: the status.
fn token(socket: &Path) -> u16 {
    let body = r#"{"account": "bench"}"#;
    let mut s = std::os::unix::net::UnixStream::connect(socket).unwrap();
    write!(
        s,
        "POST /v1/token HTTP/1.1\r\nHost: sidekey\r\nAuthorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    r.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Daemon {
    name: &'static str,
    child: Child,
    socket: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() {
    let rounds = env_num("SCALE_BENCH_ROUNDS", 20);
    let per_round = env_num("SCALE_BENCH_REQUESTS", 100);
    let clients = env_num("SCALE_BENCH_CLIENTS", 8);
    let (one, many) = match (Database::new("bench1"), Database::new("bench10k")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            println!(
                "no PostgreSQL at {} ({e}): nothing measured ({})",
                scratch::server_url(),
                scratch::HOW
            );
            return;
        }
    };
    let bin = env!("CARGO_BIN_EXE_sidekey");
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let dir = std::env::temp_dir().join(format!("sidekey-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let api_key = dir.join("api_key");
    std::fs::write(&api_key, API_KEY).unwrap();
    let vault_key = dir.join("vault.key");
    let key = sidekey_vault::Key::generate().unwrap();
    std::fs::write(&vault_key, key.to_base64()).unwrap();
    let account = format!(
        "[accounts.bench]\nprovider = \"oidc\"\nissuer = \"{}\"\nclient_id = \"test-client\"\n[accounts.bench.policy]\nallow_token_export = true\n",
        idp.issuer()
    );
    let config = |name: &str, store: Option<&str>| {
        let path = dir.join(format!("{name}.toml"));
        let head = store
            .map(|u| format!("[vault]\nstore = \"{u}\"\n\n"))
            .unwrap_or_default();
        std::fs::write(&path, format!("{head}{account}")).unwrap();
        path
    };
    let cmd = |name: &str, cfg: &Path| {
        let mut c = Command::new(bin);
        c.env("SIDEKEY_HOME", dir.join(name))
            .env("SIDEKEY_CONFIG", cfg)
            .env("SIDEKEY_VAULT_KEY_FILE", &vault_key)
            .env("SIDEKEY_API_KEY_FILE", &api_key)
            .env_remove("SIDEKEY_VAULT_KEY")
            .env_remove("SIDEKEY_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };

    // One sign-in, into the file vault; its record is copied into the databases.
    let file_cfg = config("file", None);
    let login = cmd("file", &file_cfg)
        .args(["login", "bench"])
        .output()
        .unwrap();
    assert!(login.status.success(), "login failed");
    let file_vault = sidekey_vault::Vault::open(&dir.join("file/vault"), &key).unwrap();
    let rec: serde_json::Value = file_vault.load("bench").unwrap().unwrap();
    let t = Instant::now();
    let v1 = sidekey_vault::Vault::open_postgres(&one.url, "bench", &key).unwrap();
    v1.import_new(&[("bench".to_string(), rec.clone())])
        .unwrap();
    let v10k = sidekey_vault::Vault::open_postgres(&many.url, "bench", &key).unwrap();
    let mut all: Vec<(String, serde_json::Value)> = (1..ACCOUNTS)
        .map(|i| (format!("acct{i:05}"), rec.clone()))
        .collect();
    all.push(("bench".to_string(), rec.clone()));
    v10k.import_new(&all).unwrap();
    let rows = scratch::query(&many.url, "SELECT count(*)::text FROM sidekey_records").unwrap();
    println!(
        "seeded: {} rows in the 10,000-account database ({} accounts and the key check) in {:.1} s",
        rows[0].as_deref().unwrap_or("?"),
        ACCOUNTS,
        t.elapsed().as_secs_f64()
    );
    drop((v1, v10k));

    let start = |name: &'static str, cfg: &Path| {
        let socket = dir.join(format!("{name}.sock"));
        let child = cmd(name, cfg)
            .args(["serve", "--socket"])
            .arg(&socket)
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "{name} did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon {
            name,
            child,
            socket,
        }
    };
    let daemons = [
        start("pg-1", &config("pg-1", Some(&one.url))),
        start("pg-10k", &config("pg-10k", Some(&many.url))),
        start("file", &file_cfg),
    ];
    for d in &daemons {
        for _ in 0..50 {
            assert_eq!(token(&d.socket), 200, "{}", d.name); // warm up
        }
    }

    println!(
        "load: {} (loadavg), {} cores",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut times: Vec<Vec<Duration>> = vec![vec![]; daemons.len()];
    for round in 0..rounds {
        for k in 0..daemons.len() {
            let i = (k + round) % daemons.len(); // the order turns each round
            for _ in 0..per_round {
                let t = Instant::now();
                assert_eq!(token(&daemons[i].socket), 200);
                times[i].push(t.elapsed());
            }
        }
    }
    println!("latency of POST /v1/token, one client, {rounds} interleaved rounds of {per_round}:");
    let mut medians = vec![];
    for (d, v) in daemons.iter().zip(&mut times) {
        v.sort();
        let (p50, p99) = (percentile(v, 0.5), percentile(v, 0.99));
        medians.push((p50, p99));
        println!(
            "  {:<7} median {:>6.3} ms   p90 {:>6.3} ms   p99 {:>6.3} ms   ({} requests)",
            d.name,
            ms(p50),
            ms(percentile(v, 0.9)),
            ms(p99),
            v.len()
        );
    }
    println!(
        "  10,000 accounts against one: median {:.2}x, p99 {:.2}x",
        ms(medians[1].0) / ms(medians[0].0),
        ms(medians[1].1) / ms(medians[0].1)
    );

    println!("throughput of one daemon, {clients} clients, 2 s turns:");
    let mut rates: Vec<(&str, Vec<f64>)> = vec![("pg-1", vec![]), ("file", vec![])];
    for _turn in 0..3 {
        for (slot, d) in [(0, &daemons[0]), (1, &daemons[2])] {
            let stop = Instant::now() + Duration::from_secs(2);
            let t = Instant::now();
            let done: usize = std::thread::scope(|s| {
                let hs: Vec<_> = (0..clients)
                    .map(|_| {
                        s.spawn(|| {
                            let mut n = 0;
                            while Instant::now() < stop {
                                assert_eq!(token(&d.socket), 200);
                                n += 1;
                            }
                            n
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).sum()
            });
            rates[slot].1.push(done as f64 / t.elapsed().as_secs_f64());
        }
    }
    for (name, r) in &rates {
        let list: Vec<String> = r.iter().map(|x| format!("{x:.0}")).collect();
        println!("  {name:<7} {} requests/s", list.join(" / "));
    }
    println!(
        "audit entries written: {}",
        daemons
            .iter()
            .map(
                |d| std::fs::read_to_string(dir.join(d.name).join("audit.log"))
                    .unwrap_or_default()
                    .lines()
                    .count()
            )
            .sum::<usize>()
    );
    drop(daemons);
    let _ = std::fs::remove_dir_all(&dir);
}
