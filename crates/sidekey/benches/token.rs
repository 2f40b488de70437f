//! `cargo bench -p sidekey --bench token`: the whole `sidekey token NAME` process with a valid
//! cached token — spawn, config parse, key load, vault open and decrypt, print, exit — timed
//! over many runs. Target: median ≤ 5 ms on the 2-core CI machine.
//!
//! Prints the median, p90 and p99, next to spawning `true` (the floor any process pays), and the
//! requests the fake IdP received during the runs (none: the token comes from the vault).
//! `TOKEN_BENCH_RUNS` (default 500) changes the number of runs.

use sidekey_testkit::{Dialect, FakeIdp, Options};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn time_runs(runs: usize, mut make: impl FnMut() -> Command) -> Vec<Duration> {
    for _ in 0..20 {
        make().output().unwrap(); // warm the page cache
    }
    let mut v: Vec<Duration> = (0..runs)
        .map(|_| {
            let mut c = make();
            let t = Instant::now();
            let out = c.stdout(Stdio::piped()).output().unwrap();
            let d = t.elapsed();
            assert!(out.status.success());
            d
        })
        .collect();
    v.sort();
    v
}

fn report(name: &str, v: &[Duration]) {
    println!(
        "{name:<32} median {:>7.2} ms   p90 {:>7.2} ms   p99 {:>7.2} ms   min {:>6.2} ms   ({} runs)",
        percentile(v, 0.5).as_secs_f64() * 1e3,
        percentile(v, 0.9).as_secs_f64() * 1e3,
        percentile(v, 0.99).as_secs_f64() * 1e3,
        v[0].as_secs_f64() * 1e3,
        v.len()
    );
}

fn main() {
    let runs = std::env::var("TOKEN_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(500);
    let bin = env!("CARGO_BIN_EXE_sidekey");
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let dir = std::env::temp_dir().join(format!("sidekey-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[accounts.bench]\nprovider = \"oidc\"\nissuer = \"{}\"\nclient_id = \"test-client\"\n",
            idp.issuer()
        ),
    )
    .unwrap();
    let cmd = |args: &[&str]| {
        let mut c = Command::new(bin);
        c.args(args)
            .env("SIDEKEY_HOME", dir.join("home"))
            .env("SIDEKEY_CONFIG", &cfg)
            .env_remove("SIDEKEY_VAULT_KEY_FILE")
            .env_remove("SIDEKEY_VAULT_KEY")
            .stderr(Stdio::null());
        c
    };
    let login = cmd(&["login", "bench"]).output().unwrap();
    assert!(login.status.success(), "login failed");
    let polls_before = idp.counters();

    let token = time_runs(runs, || cmd(&["token", "bench"]));
    let floor = time_runs(runs, || Command::new("true"));
    let c = idp.counters();
    assert_eq!(
        c.refresh_requests, polls_before.refresh_requests,
        "no network on the fast path"
    );

    println!(
        "sidekey token, valid cached token, whole process (refresh requests at the IdP during the runs: {}):",
        c.refresh_requests - polls_before.refresh_requests
    );
    report("sidekey token bench", &token);
    report("true (process spawn floor)", &floor);
    let _ = std::fs::remove_dir_all(&dir);
}
