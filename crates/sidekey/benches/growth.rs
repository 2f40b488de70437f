//! `cargo bench -p sidekey --bench growth`: how `sidekey token NAME` and `sidekey status` grow
//! with the accounts in the config. The config holds 1, 1,000 or 10,000 accounts (microsoft,
//! github, google and oidc in turn, as a person's file would), one of them signed in at the
//! fake IdP; `token` prints that one's cached token, `status` lists them all.
//!
//! Prints, for each build and size, the median and p90 of whole processes (spawn to exit).
//! `GROWTH_BENCH_RUNS` (default 100; `status` at 10,000 runs a fifth as often) changes the runs;
//! `GROWTH_BENCH_BINS` (`PATH:PATH…`) measures other builds of `sidekey` instead of this one
//! (e.g. main's and a branch's), taking turns run by run, so a machine's changing load falls on
//! each alike.

use sidekey_testkit::{Dialect, FakeIdp, Options};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `n` accounts; the first, `bench`, is the one signed in.
fn config(n: usize, issuer: &str) -> String {
    let mut t = String::from("refresh_margin = \"5m\"\n\n");
    for i in 0..n {
        let name = if i == 0 {
            "bench".to_string()
        } else {
            format!("acct-{i:05}")
        };
        t.push_str(&format!("[accounts.{name}]\n"));
        t.push_str(&match i % 4 {
            0 => format!("provider = \"oidc\"\nissuer = \"{issuer}\"\nclient_id = \"test-client\"\n"),
            1 => "provider = \"microsoft\"\nclient_id = \"00000000-0000-0000-0000-000000000001\"\ntenant = \"organizations\"\nscopes = [\"User.Read\", \"Calendars.ReadBasic\"]\n".into(),
            2 => "provider = \"github\"\nclient_id = \"Iv1.0123456789abcdef\"\n".into(),
            _ => "provider = \"google\"\nclient_id = \"x.apps.googleusercontent.com\"\nclient_secret = \"not-a-secret\"\nscopes = [\"openid\", \"drive.file\"]\n".into(),
        });
        t.push('\n');
    }
    t
}

fn cmd(bin: &str, home: &Path, cfg: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.args(args)
        .env("SIDEKEY_HOME", home)
        .env("SIDEKEY_CONFIG", cfg)
        .env_remove("SIDEKEY_VAULT_KEY_FILE")
        .env_remove("SIDEKEY_VAULT_KEY")
        .env_remove("SIDEKEY_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn time(mut c: Command) -> Duration {
    let t = Instant::now();
    let out = c.output().unwrap();
    let d = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d
}

fn summary(v: &mut [Duration]) -> String {
    v.sort();
    let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    format!(
        "median {:>7.2} ms   p90 {:>7.2} ms   min {:>7.2} ms   ({} runs)",
        p(0.5),
        p(0.9),
        v[0].as_secs_f64() * 1e3,
        v.len()
    )
}

fn main() {
    let runs = std::env::var("GROWTH_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(100);
    let bins: Vec<String> = match std::env::var("GROWTH_BENCH_BINS") {
        Ok(v) if !v.is_empty() => v.split(':').map(str::to_string).collect(),
        _ => vec![env!("CARGO_BIN_EXE_sidekey").to_string()],
    };
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let dir = std::env::temp_dir().join(format!("sidekey-growth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sizes = [1usize, 1_000, 10_000];
    let cfgs: Vec<PathBuf> = sizes
        .iter()
        .map(|n| {
            let p = dir.join(format!("config-{n}.toml"));
            std::fs::write(&p, config(*n, &idp.issuer())).unwrap();
            p
        })
        .collect();
    // One home per build: each signs in once (its own vault), then reads only.
    let homes: Vec<PathBuf> = (0..bins.len())
        .map(|i| {
            let home = dir.join(format!("home-{i}"));
            let out = cmd(&bins[i], &home, &cfgs[0], &["login", "bench"])
                .output()
                .unwrap();
            assert!(out.status.success(), "login failed");
            home
        })
        .collect();
    for (n, cfg) in sizes.iter().zip(&cfgs) {
        let bytes = std::fs::metadata(cfg).unwrap().len();
        println!("{n} accounts ({bytes} bytes of config):");
        let mut tokens: Vec<Vec<Duration>> = vec![Vec::new(); bins.len()];
        let mut statuses: Vec<Vec<Duration>> = vec![Vec::new(); bins.len()];
        for (b, bin) in bins.iter().enumerate() {
            for _ in 0..5 {
                time(cmd(bin, &homes[b], cfg, &["token", "bench"])); // warm the page cache
            }
        }
        for run in 0..runs {
            for (b, bin) in bins.iter().enumerate() {
                tokens[b].push(time(cmd(bin, &homes[b], cfg, &["token", "bench"])));
                if *n == 10_000 && run % 5 == 0 {
                    statuses[b].push(time(cmd(bin, &homes[b], cfg, &["status", "--json"])));
                }
            }
        }
        for (b, bin) in bins.iter().enumerate() {
            println!("  {bin}");
            println!("    token   {}", summary(&mut tokens[b]));
            if !statuses[b].is_empty() {
                println!("    status  {}", summary(&mut statuses[b]));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
