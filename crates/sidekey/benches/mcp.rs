//! `cargo bench -p sidekey --bench mcp`: the round trip of one MCP `tools/call` over one stdio
//! session, as a real client sees it (the official Python SDK, tests/mcp/client.py), N calls one
//! after the other: `ms_me` against the fake Graph and `auth_status` (no provider call), once
//! with `sidekey mcp` owning the vault and once in client mode through a daemon on its unix
//! socket. Prints median and p99 per case. Needs tests/mcp/.venv (`scripts/test` makes it).

use sidekey_testkit::graph::{FakeGraph, GraphData, GraphOptions};
use sidekey_testkit::{Dialect, FakeIdp, Options};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const API_KEY: &str = "bench-api-key-0123456789abcdef";
const VAULT_KEY: &str = "q2pU7m5m0q3GmE6o1yYvX8cN4rT9bK2wZ5hJ7dF3sA0=";

fn main() {
    let bin = env!("CARGO_BIN_EXE_sidekey");
    let mcp = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/mcp"));
    let py = std::env::var_os("MCP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| mcp.join(".venv/bin/python"));
    if !py.exists() {
        println!(
            "SKIPPED: no MCP Python SDK at {} (see tests/mcp/requirements.txt)",
            py.display()
        );
        return;
    }
    let n: usize = std::env::var("MCP_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);

    let mut o = Options::new(Dialect::Microsoft);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let graph = FakeGraph::start(GraphOptions {
        data: GraphData::sample(),
        ..GraphOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "timezone = \"Europe/Berlin\"\n[accounts.work]\nprovider = \"microsoft\"\nclient_id = \"test-client\"\nauthority = \"{}/common\"\napi_base = \"{}\"\nscopes = [\"User.Read\", \"offline_access\"]\n",
            idp.base_url(),
            graph.base_url()
        ),
    )
    .unwrap();
    let key = dir.path().join("vault.key");
    std::fs::write(&key, VAULT_KEY).unwrap();
    let api_key = dir.path().join("api_key");
    std::fs::write(&api_key, API_KEY).unwrap();
    let socket = dir.path().join("sidekey.sock");
    let local = |c: &mut Command| {
        c.env("SIDEKEY_HOME", dir.path().join("home"))
            .env("SIDEKEY_CONFIG", &cfg)
            .env("SIDEKEY_VAULT_KEY_FILE", &key)
            .env_remove("SIDEKEY_URL");
    };
    let agent = |c: &mut Command| {
        c.env("SIDEKEY_HOME", dir.path().join("agent-home"))
            .env("SIDEKEY_URL", format!("unix://{}", socket.display()))
            .env("SIDEKEY_API_KEY_FILE", &api_key)
            .env_remove("SIDEKEY_CONFIG")
            .env_remove("SIDEKEY_VAULT_KEY_FILE");
    };
    let mut login = Command::new(bin);
    login.args(["login", "work"]).stdout(Stdio::null());
    local(&mut login);
    assert!(login.status().unwrap().success());
    let mut serve = Command::new(bin);
    serve
        .args(["serve", "--socket", socket.to_str().unwrap()])
        .env("SIDEKEY_API_KEY_FILE", &api_key)
        .stderr(Stdio::null());
    local(&mut serve);
    let mut daemon = serve.spawn().unwrap();
    let t0 = Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    println!(
        "{n} tools/call requests over one stdio session each (Python SDK client, one at a time):"
    );
    for (mode, setup) in [
        ("local", &local as &dyn Fn(&mut Command)),
        ("daemon", &agent as &dyn Fn(&mut Command)),
    ] {
        for (tool, args) in [("ms_me", "{}"), ("auth_status", "{}")] {
            let mut c = Command::new(&py);
            c.arg(mcp.join("client.py"))
                .arg(bin)
                .args(["bench", &n.to_string(), tool, args]);
            setup(&mut c);
            let out = c.output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(r["errors"], 0, "{r}");
            println!(
                "  {mode:<6} {tool:<12} median {:>7.3} ms  p99 {:>7.3} ms  (min {:.3}, max {:.3})",
                r["median_ms"].as_f64().unwrap(),
                r["p99_ms"].as_f64().unwrap(),
                r["min_ms"].as_f64().unwrap(),
                r["max_ms"].as_f64().unwrap()
            );
        }
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
}
