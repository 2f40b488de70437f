//! The daemon's `/mcp` (MCP over Streamable HTTP, issue 22, item 3), driven by the official MCP
//! Python SDK's HTTP client (`mcp.client.streamable_http`, through tests/mcp/client.py) on TCP and
//! on the unix socket, by raw HTTP for what a client library would not send (no key, a web page's
//! `Origin`, an oversized body), and by the real OpenClaw (`openclaw mcp add --url … --header`,
//! then `probe`). The same session as `sidekey mcp` over stdio (tests/it/mcp.rs's checks), the
//! caller named `mcp:tcp` / `mcp:unix` in the audit log, each agent its own tools, an `ask` write
//! pending then denied, and no token or key in any reply or log (the scan of [`Env`]'s drop).
//!
//! Needs tests/mcp/.venv and tests/openclaw/node_modules (`scripts/test` makes them); without
//! them the tests that use them are skipped and counted, under CI they fail.

use crate::common;
use crate::common::daemon_helpers::{API_KEY, start_daemon_tcp};
use crate::mcp::{
    assert_probed, audit, calls, check_session, client_of, openclaw, openclaw_tools, python, setup,
};

use common::*;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where a raw request goes: the daemon's TCP port or its socket.
enum At<'a> {
    Tcp(u16),
    Unix(&'a Path),
}

/// One HTTP/1.1 request to `/mcp` (`POST` with `body`, or `method` with none), with the key
/// (if any) as a bearer header and `extra` headers: (status, body). No answer fails the test.
fn raw(
    at: &At,
    method: &str,
    key: Option<&str>,
    extra: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    fn exchange<S: Read + Write>(mut s: S, head: String, body: &str) -> String {
        let _ = s.write_all(head.as_bytes());
        // A body the daemon refuses part-way may be cut off: the answer is read all the same.
        let _ = s.write_all(body.as_bytes());
        let mut resp = Vec::new();
        let _ = s.read_to_end(&mut resp);
        String::from_utf8_lossy(&resp).into_owned()
    }
    let host = match at {
        At::Tcp(port) => format!("127.0.0.1:{port}"),
        At::Unix(_) => "sidekey".into(),
    };
    let mut head = format!(
        "{method} /mcp HTTP/1.1\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    // What an MCP client sends, unless `extra` names the header (an empty value: not sent).
    let defaults = [
        ("Host", host.as_str()),
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", "2025-11-25"),
    ];
    for (n, v) in defaults {
        if !extra.iter().any(|(e, _)| e.eq_ignore_ascii_case(n)) {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
    }
    if let Some(k) = key {
        head.push_str(&format!("Authorization: Bearer {k}\r\n"));
    }
    for (n, v) in extra.iter().filter(|(_, v)| !v.is_empty()) {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let resp = match at {
        At::Tcp(port) => exchange(
            std::net::TcpStream::connect(("127.0.0.1", *port)).unwrap(),
            head,
            body,
        ),
        At::Unix(path) => exchange(
            std::os::unix::net::UnixStream::connect(path).unwrap(),
            head,
            body,
        ),
    };
    let status = resp
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer from /mcp: {resp:?}"));
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

const TOOLS_LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#;

/// The tool names a raw `tools/list` answered with.
fn tool_names(body: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

/// The agent's side of `/mcp`: the key file and nothing of the daemon's (no config, no vault
/// key, no home of its own).
fn agent_env(env: &Env, key_file: &Path) -> impl Fn(&mut Command) {
    let home = env.dir.path().join("agent-home");
    let key_file = key_file.to_path_buf();
    move |c: &mut Command| {
        c.env_remove("SIDEKEY_CONFIG")
            .env_remove("SIDEKEY_VAULT_KEY_FILE")
            .env("SIDEKEY_HOME", &home)
            .env("SIDEKEY_API_KEY_FILE", &key_file);
    }
}

/// The Python SDK's Streamable HTTP client, on TCP and on the socket: the tools, schemas,
/// results and refusals `sidekey mcp` gives over stdio (tests/it/mcp.rs's `check_session`),
/// every call audited by the daemon's guard under `mcp:tcp` / `mcp:unix`.
#[test]
fn the_sdk_over_http_gets_the_stdio_session_on_tcp_and_on_the_socket() {
    let Some(py) = python() else { return };
    let (idp, _graph, env) = setup();
    let (daemon, port) = start_daemon_tcp(&env);
    let key = env.dir.path().join("secrets/api_key");
    let agent = agent_env(&env, &key);
    let url = format!("http://127.0.0.1:{port}/mcp");
    check_session(&client_of(&env, &py, &url, calls(), &agent));
    let sock = format!("unix://{}", daemon.socket.display());
    check_session(&client_of(&env, &py, &sock, calls(), &agent));

    let log = audit(&env);
    for via in ["mcp:tcp", "mcp:unix"] {
        let ops: Vec<(&str, &str)> = log
            .iter()
            .filter(|e| e["caller"] == via)
            .map(|e| {
                (
                    e["operation"].as_str().unwrap(),
                    e["decision"].as_str().unwrap(),
                )
            })
            .collect();
        // The same entries as `sidekey mcp` writes locally: the tool list, each call, the
        // refusals made before a call (an unknown argument, an unknown tool).
        assert_eq!(
            ops,
            [
                ("ops", "allow"),
                ("ms.me", "allow"),
                ("ms.files.search", "allow"),
                ("ms.calendar", "allow"),
                ("ms.me", "fail"),
                ("ms.files.search", "deny"),
                ("ms.me", "deny"),
                ("mcp.unknown", "deny"),
                ("status", "allow"),
            ],
            "{via}: {log:?}"
        );
    }
    // Nothing on the agent's side: no vault, no audit log.
    assert!(!env.dir.path().join("agent-home/vault").exists());
    assert!(!env.dir.path().join("agent-home/audit.log").exists());
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    secrets.push(API_KEY.to_string());
    env.assert_no_secrets(&secrets);
    drop(daemon);
}

/// What no MCP client library sends, answered before MCP: no key or a wrong one (401), a web
/// page's `Origin` (403, with or without the key; the daemon's own address is fine), a body over
/// the limit (400), a GET (405: stateless, no event stream). The refusals are audited under the
/// endpoint's name, the key never.
#[test]
fn keys_origins_and_bodies_are_checked_before_mcp() {
    let env = Env::new("[accounts.gh]\nprovider = \"github\"\nclient_id = \"Iv1.x\"\n");
    let (daemon, port) = start_daemon_tcp(&env);
    let tcp = At::Tcp(port);
    let unix = At::Unix(&daemon.socket);

    let (s, b) = raw(&tcp, "POST", None, &[], TOOLS_LIST);
    assert_eq!(s, 401, "{b}");
    assert!(b.contains("missing API key"), "{b}");
    let (s, b) = raw(
        &tcp,
        "POST",
        Some("not-the-key-0123456789"),
        &[],
        TOOLS_LIST,
    );
    assert_eq!(s, 401, "{b}");
    assert!(b.contains("wrong API key"), "{b}");
    let evil = [("Origin", "http://attacker.example")];
    let (s, b) = raw(&tcp, "POST", Some(API_KEY), &evil, TOOLS_LIST);
    assert_eq!(s, 403, "{b}");
    assert!(b.contains("Origin"), "{b}");
    let (s, _) = raw(&tcp, "POST", None, &evil, TOOLS_LIST);
    assert_eq!(s, 403);
    // DNS rebinding: the attacker's name resolved to this address; its Host matches its Origin.
    let rebound = [
        ("Origin", "http://attacker.example:1234"),
        ("Host", "attacker.example:1234"),
    ];
    let (s, _) = raw(&tcp, "POST", Some(API_KEY), &rebound, TOOLS_LIST);
    assert_eq!(s, 403);
    // No browser page is served from a socket: no Origin is the socket's own.
    let local = format!("http://127.0.0.1:{port}");
    let (s, _) = raw(
        &unix,
        "POST",
        Some(API_KEY),
        &[("Origin", &local)],
        TOOLS_LIST,
    );
    assert_eq!(s, 403);

    // The daemon's own address is its own Origin; no Origin (a program, not a page) is fine.
    for origin in [local.clone(), format!("http://localhost:{port}")] {
        let (s, b) = raw(
            &tcp,
            "POST",
            Some(API_KEY),
            &[("Origin", &origin)],
            TOOLS_LIST,
        );
        assert_eq!(s, 200, "{origin}: {b}");
        assert_eq!(tool_names(&b), ["auth_status", "auth_login"]);
    }
    let (s, b) = raw(&unix, "POST", Some(API_KEY), &[], TOOLS_LIST);
    assert_eq!(s, 200, "{b}");
    assert_eq!(tool_names(&b), ["auth_status", "auth_login"]);

    // Bounded like `/v1/op`: 8 MiB, read before MCP sees it.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"auth_status","arguments":{{"account":"{}"}}}}}}"#,
        "a".repeat(9 * 1024 * 1024)
    );
    let (s, b) = raw(&tcp, "POST", Some(API_KEY), &[], &big);
    assert_eq!(s, 400, "{}", &b[..b.len().min(300)]);
    assert!(b.contains("larger than the daemon accepts"), "{b}");
    let (s, _) = raw(&tcp, "GET", Some(API_KEY), &[], "");
    assert_eq!(s, 405);
    drop(daemon);

    let log = audit(&env);
    let refused: Vec<(&str, &str, &str)> = log
        .iter()
        .filter(|e| e["decision"] == "deny")
        .map(|e| {
            (
                e["caller"].as_str().unwrap(),
                e["operation"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    let unauthorized = ("mcp:tcp", "mcp", "unauthorized");
    assert_eq!(
        refused,
        [
            unauthorized,
            unauthorized,
            unauthorized,
            unauthorized,
            unauthorized,
            ("mcp:unix", "mcp", "unauthorized"),
            ("mcp:tcp", "mcp", "usage"),
        ],
        "{log:?}"
    );
    let listed: Vec<&str> = log
        .iter()
        .filter(|e| e["operation"] == "ops")
        .map(|e| e["caller"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["mcp:tcp", "mcp:tcp", "mcp:unix"]);
}

/// The exchange itself, as the Streamable HTTP transport of the MCP specification has it for a
/// stateless server that answers with JSON: the handshake without a session, a notification
/// accepted with 202, what is not one JSON-RPC request refused with 400 and a JSON-RPC error,
/// the media types checked (406, 415), a revision without `initialize` told which ones this
/// server speaks (`-32022`, which makes an SDK in "auto" mode fall back to `initialize`), and a
/// method the server lacks answered `-32601`.
#[test]
fn the_exchange_follows_the_transport() {
    let env = Env::new("[accounts.gh]\nprovider = \"github\"\nclient_id = \"Iv1.x\"\n");
    let (_daemon, port) = start_daemon_tcp(&env);
    let at = At::Tcp(port);
    let post = |extra: &[(&str, &str)], body: &str| raw(&at, "POST", Some(API_KEY), extra, body);
    let json = |b: &str| serde_json::from_str::<Value>(b).unwrap_or_else(|e| panic!("{e}: {b}"));

    let init = r#"{"jsonrpc":"2.0","id":"i-1","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let (s, b) = post(&[("MCP-Protocol-Version", "")], init);
    assert_eq!(s, 200, "{b}");
    let v = json(&b);
    assert_eq!(v["id"], "i-1", "{v}");
    assert_eq!(v["result"]["protocolVersion"], "2025-06-18", "{v}");
    assert_eq!(v["result"]["serverInfo"]["name"], "sidekey", "{v}");
    assert!(v["result"]["capabilities"]["tools"].is_object(), "{v}");
    // A revision this server does not know: it answers with its newest.
    let newer = init.replace("2025-06-18", "2099-01-01");
    let (s, b) = post(&[("MCP-Protocol-Version", "")], &newer);
    assert_eq!(s, 200, "{b}");
    assert_eq!(json(&b)["result"]["protocolVersion"], "2025-11-25");

    let (s, b) = post(
        &[],
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    assert_eq!((s, b.as_str()), (202, ""));
    let (s, b) = post(&[], r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#);
    assert_eq!(s, 200, "{b}");
    assert_eq!(json(&b), json!({"jsonrpc": "2.0", "id": 7, "result": {}}));

    let (s, b) = post(&[], r#"{"jsonrpc":"2.0","id":8,"method":"resources/list"}"#);
    assert_eq!(s, 200, "{b}");
    assert_eq!(json(&b)["error"]["code"], -32601, "{b}");
    assert_eq!(json(&b)["id"], 8, "{b}");

    for (body, code) in [
        ("{\"jsonrpc\":\"2.0\",\"id\":9,", -32700),
        ("", -32700),
        ("[1]", -32600),
        ("42", -32600),
    ] {
        let (s, b) = post(&[], body);
        assert_eq!(s, 400, "{body}: {b}");
        assert_eq!(json(&b)["error"]["code"], code, "{body}: {b}");
        assert_eq!(json(&b)["id"], Value::Null, "{body}: {b}");
    }
    // Batches are not part of the transport since 2025-06-18: each request gets its error.
    let (s, b) = post(
        &[],
        &format!(
            "[{TOOLS_LIST},{}]",
            TOOLS_LIST.replace("\"id\":1", "\"id\":2")
        ),
    );
    assert_eq!(s, 400, "{b}");
    let ids: Vec<Value> = json(&b)
        .as_array()
        .unwrap_or_else(|| panic!("{b}"))
        .iter()
        .map(|e| e["id"].clone())
        .collect();
    assert_eq!(ids, [json!(1), json!(2)]);

    let (s, b) = post(&[("Accept", "text/event-stream")], TOOLS_LIST);
    assert_eq!(s, 406, "{b}");
    let (s, b) = post(&[("Accept", "")], TOOLS_LIST);
    assert_eq!(s, 200, "no Accept (a program) takes JSON: {b}");
    let (s, b) = post(&[("Content-Type", "text/plain")], TOOLS_LIST);
    assert_eq!(s, 415, "{b}");
    let (s, b) = post(
        &[("Content-Type", "application/json; charset=utf-8")],
        TOOLS_LIST,
    );
    assert_eq!(s, 200, "{b}");

    let (s, b) = post(&[("MCP-Protocol-Version", "2026-07-28")], TOOLS_LIST);
    assert_eq!(s, 400, "{b}");
    let v = json(&b);
    assert_eq!(v["error"]["code"], -32022, "{v}");
    let supported = v["error"]["data"]["supported"].as_array().unwrap();
    assert!(supported.contains(&json!("2025-11-25")), "{v}");
    assert!(!supported.contains(&json!("2026-07-28")), "{v}");
    for method in ["DELETE", "PUT"] {
        let (s, _) = raw(&at, method, Some(API_KEY), &[], "");
        assert_eq!(s, 405, "{method}");
    }
}

/// `sidekey agents add NAME ARGS…`: its key, in a key file of its own.
fn agent_key(env: &Env, name: &str, args: &[&str]) -> PathBuf {
    let mut c = Command::new(BIN);
    env.configure(&mut c);
    let out = c.args(["agents", "add", name]).args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    env.record(&stderr(&out));
    let key = stdout(&out).trim().to_string();
    env.secret(&key);
    let file = env.dir.path().join(format!("secrets/{name}.key"));
    std::fs::write(&file, format!("{key}\n")).unwrap();
    file
}

fn names(doc: &Value) -> Vec<String> {
    doc["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

/// Each agent's key brings its own tools over HTTP (the agent's rights, as `GET /v1/ops` and
/// stdio MCP give them), and a write under the agent's `ask` answers pending with an approval
/// id, then, once the person denied it at the terminal, denied: the answers of stdio MCP.
#[test]
fn each_agent_gets_its_tools_and_an_ask_waits_for_the_person() {
    let Some(py) = python() else { return };
    let env = Env::new(
        "[accounts.work]\nprovider = \"microsoft\"\nclient_id = \"x\"\n\n[accounts.g]\nprovider = \"google\"\nclient_id = \"x\"\nclient_secret = \"s\"\nflow = \"code\"\nscopes = [\"drive.appdata\"]\n\n[accounts.g.policy]\nallow = [\"google.memory.set\", \"google.memory.delete\"]\n",
    );
    let reader = agent_key(&env, "reader", &["--account", "work"]);
    let writer = agent_key(
        &env,
        "writer",
        &["--account", "g", "--allow", "google.memory.set"],
    );
    let careful = agent_key(
        &env,
        "careful",
        &["--account", "g", "--ask", "google.memory.set"],
    );
    let (daemon, port) = start_daemon_tcp(&env);
    let url = format!("http://127.0.0.1:{port}/mcp");

    let doc = client_of(&env, &py, &url, json!([]), agent_env(&env, &reader));
    let tools = names(&doc);
    assert!(tools.contains(&"ms_me".to_string()), "{tools:?}");
    assert!(!tools.iter().any(|t| t.starts_with("google_")), "{tools:?}");
    let doc = client_of(&env, &py, &url, json!([]), agent_env(&env, &writer));
    let tools = names(&doc);
    assert!(
        tools.contains(&"google_memory_set".to_string()),
        "{tools:?}"
    );
    assert!(
        !tools.contains(&"google_memory_delete".to_string()),
        "{tools:?}"
    );
    assert!(!tools.iter().any(|t| t.starts_with("ms_")), "{tools:?}");

    let set = json!({"account": "g", "key": "k", "value": "v", "wait": 0});
    let doc = client_of(
        &env,
        &py,
        &url,
        json!([{"name": "google_memory_set", "arguments": set}]),
        agent_env(&env, &careful),
    );
    let pending = &doc["calls"][0]["result"];
    assert_eq!(pending["isError"], true, "{pending}");
    let error = &pending["structuredContent"]["error"];
    assert_eq!(error["reason"], "approval_pending", "{pending}");
    assert_eq!(error["exit_code"], 7);
    let id = error["approval"].as_str().unwrap().to_string();
    let listed = stdout(&env.run(&["approvals", "--json"]));
    assert!(listed.contains("\"agent careful via mcp:tcp\""), "{listed}");
    let out = env.run(&["deny", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut again = set.clone();
    again["approval"] = json!(id);
    let doc = client_of(
        &env,
        &py,
        &url,
        json!([{"name": "google_memory_set", "arguments": again}]),
        agent_env(&env, &careful),
    );
    let denied = &doc["calls"][0]["result"];
    assert_eq!(denied["isError"], true, "{denied}");
    assert_eq!(
        denied["structuredContent"]["error"]["reason"], "approval_denied",
        "{denied}"
    );
    assert_eq!(denied["structuredContent"]["error"]["exit_code"], 8);
    drop(daemon);

    let log = audit(&env);
    let by = |caller: &str| -> Vec<&str> {
        log.iter()
            .filter(|e| e["caller"] == caller)
            .map(|e| e["operation"].as_str().unwrap())
            .collect()
    };
    assert_eq!(by("agent reader via mcp:tcp"), ["ops"]);
    assert_eq!(by("agent writer via mcp:tcp"), ["ops"]);
    let outcomes: Vec<&str> = log
        .iter()
        .filter(|e| {
            e["caller"] == "agent careful via mcp:tcp" && e["operation"] == "google.memory.set"
        })
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["requested", "approval_pending", "approval_denied"],
        "{log:?}"
    );
}

/// The real OpenClaw 2026.9.6 adds the daemon's `/mcp` by URL with the key as a header (`mcp add`
/// probes it before saving), probes it, and its own MCP runtime calls a tool over HTTP
/// (tests/mcp/openclaw_tools.mjs). The agent's side has no sidekey binary at all.
#[test]
fn the_real_openclaw_adds_probes_and_calls_sidekey_over_http() {
    let Some((node, pkg)) = openclaw() else {
        return;
    };
    let (idp, _graph, env) = setup();
    let (daemon, port) = start_daemon_tcp(&env);
    let state = env.dir.path().join("openclaw-state");
    let oc = |args: &[&str]| {
        let mut c = Command::new(&node);
        c.arg(pkg.join("openclaw.mjs")).args(args);
        env.configure(&mut c);
        c.env_remove("SIDEKEY_CONFIG")
            .env_remove("SIDEKEY_VAULT_KEY_FILE")
            .env_remove("SIDEKEY_HOME")
            .env("OPENCLAW_STATE_DIR", &state);
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
    let url = format!("http://127.0.0.1:{port}/mcp");
    // OpenClaw's form: NAME=VALUE.
    let header = format!("Authorization=Bearer {API_KEY}");
    let saved = oc(&[
        "mcp",
        "add",
        "sidekey",
        "--url",
        &url,
        "--transport",
        "streamable-http",
        "--header",
        &header,
    ]);
    assert_probed(&saved, &oc(&["mcp", "probe", "sidekey", "--json"]));

    let calls = json!([
        {"name": "sidekey__ms_me", "input": {"account": "work"}},
        {"name": "sidekey__ms_me", "input": {"account": "home"}},
    ]);
    let doc = openclaw_tools(&env, &node, &pkg, &state, &calls);
    let r: Vec<&Value> = doc["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["result"])
        .collect();
    assert!(
        r[0]["details"]["structuredContent"]
            .to_string()
            .contains('@'),
        "{}",
        r[0]
    );
    assert_eq!(r[1]["details"]["status"], "error", "{}", r[1]);
    assert_eq!(
        r[1]["details"]["structuredContent"]["error"]["exit_code"],
        3
    );
    drop(daemon);
    let log = audit(&env);
    assert!(
        log.iter().any(|e| e["caller"] == "mcp:tcp"
            && e["operation"] == "ms.me"
            && e["decision"] == "allow"),
        "{log:?}"
    );
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    secrets.push(API_KEY.to_string());
    env.assert_no_secrets(&secrets);
}
