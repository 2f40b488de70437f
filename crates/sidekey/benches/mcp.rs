//! `cargo bench -p sidekey --bench mcp`: the round trip of one MCP `tools/call` as a real client
//! sees it (the official Python SDK, tests/mcp/client.py), calls one after the other over one
//! session: `ms_me` against the fake Graph and `auth_status` (no provider call), over four
//! transports: stdio with `sidekey mcp` owning the vault (local), stdio in client mode through a
//! daemon on its unix socket, and the daemon's `/mcp` over Streamable HTTP on TCP and on the
//! socket. `MCP_BENCH_ROUNDS` rounds (default 3) of `MCP_BENCH_N` calls per case (default 200),
//! the cases in a different order each round so a change in the machine's load falls on all of
//! them; median and p99 per case over every round's calls. Needs tests/mcp/.venv (`scripts/test`
//! makes it).

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
    let var = |name: &str, default: usize| -> usize {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let n = var("MCP_BENCH_N", 200);
    let rounds = var("MCP_BENCH_ROUNDS", 3).max(1);

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
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut serve = Command::new(bin);
    serve
        .args(["serve", "--socket", socket.to_str().unwrap()])
        .args(["--listen", &listen])
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

    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(10), "no TCP listener");
        std::thread::sleep(Duration::from_millis(20));
    }

    // (name, the server client.py is given, the environment of the agent's side)
    let url = format!("http://{listen}/mcp");
    let sock = format!("unix://{}", socket.display());
    type Agent<'a> = &'a dyn Fn(&mut Command);
    let transports: [(&str, &str, Agent); 4] = [
        ("stdio local", bin, &local),
        ("stdio daemon", bin, &agent),
        ("http tcp", &url, &agent),
        ("http unix", &sock, &agent),
    ];
    let mut cases = vec![];
    for tool in ["ms_me", "auth_status"] {
        for t in 0..transports.len() {
            cases.push((t, tool, Vec::<f64>::new()));
        }
    }
    for round in 0..rounds {
        // Each round starts at another case and runs them in the other direction every second
        // round: no case is always first or always after the same one.
        let k = cases.len();
        let mut order: Vec<usize> = (0..k).map(|i| (i + round * 3) % k).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let (t, tool, times) = &mut cases[i];
            let (_, server, setup) = transports[*t];
            let mut c = Command::new(&py);
            c.arg(mcp.join("client.py"))
                .arg(server)
                .args(["bench", &n.to_string(), tool, "{}"]);
            setup(&mut c);
            let out = c.output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(r["errors"], 0, "{r}");
            times.extend(
                r["times_ms"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap()),
            );
        }
    }
    println!(
        "{rounds} rounds x {n} tools/call requests per case, one session per round (Python SDK client, one call at a time):"
    );
    for (t, tool, mut times) in cases {
        times.sort_by(f64::total_cmp);
        let at =
            |q: f64| times[((q * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1];
        println!(
            "  {:<13} {tool:<12} median {:>7.3} ms  p99 {:>7.3} ms  (min {:.3}, max {:.3}, {} calls)",
            transports[t].0,
            at(0.5),
            at(0.99),
            times[0],
            times[times.len() - 1],
            times.len()
        );
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
}
