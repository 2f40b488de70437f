//! Many agents against one daemon, each with its own key and rights (issue 24, item 5;
//! docs/sidecar.md "Many agents"): keys made by `sidekey agents add` (only their hashes in the
//! config), each agent sees only its accounts in `GET /v1/ops`, `status` and MCP's tool list,
//! the stricter of the account's policy and the agent's rights decides, and the audit log names
//! the agent. Approvals naming the agent are in tests/it/approvals.rs.

use crate::common;
use crate::common::daemon_helpers::{self, API_KEY, Daemon};

use common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

const CONFIG: &str = "[accounts.gh]\nprovider = \"github\"\nclient_id = \"Iv1.x\"\n\n[accounts.work]\nprovider = \"microsoft\"\nclient_id = \"x\"\n\n[accounts.g]\nprovider = \"google\"\nclient_id = \"x\"\nclient_secret = \"s\"\nflow = \"code\"\nscopes = [\"drive.appdata\"]\n\n[accounts.g.policy]\nallow = [\"google.memory.set\", \"google.memory.delete\"]\n";

/// `sidekey agents add ARGS…`, its stdout not recorded (it is the key, which the scan at the
/// end looks for everywhere else): (the key, what it said on stderr).
fn add(env: &Env, args: &[&str]) -> (String, String) {
    let mut c = Command::new(BIN);
    env.configure(&mut c);
    let out = c.arg("agents").arg("add").args(args).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    env.record(&err);
    let key = stdout(&out).trim().to_string();
    assert_eq!(key.lines().count(), 1, "the key alone on stdout");
    env.secret(&key);
    (key, err)
}

fn call(d: &Daemon, method: &str, path: &str, key: &str, body: Option<&Value>) -> (u16, Value) {
    let body = body.map(Value::to_string);
    let (status, text) = daemon_helpers::raw(&d.socket, method, path, Some(key), body.as_deref());
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The operations `GET /v1/ops` grants this key, with their accounts.
fn grants(d: &Daemon, key: &str) -> Vec<(String, Vec<String>)> {
    let (s, v) = call(d, "GET", "/v1/ops", key, None);
    assert_eq!(s, 200, "{v}");
    v["ops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| !g["accounts"].as_array().unwrap().is_empty())
        .map(|g| {
            let accounts = g["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect();
            (g["op"].as_str().unwrap().to_string(), accounts)
        })
        .collect()
}

fn memory(op: &str, wait: bool) -> Value {
    let mut v = json!({"op": op, "account": "g", "key": "k"});
    if op == "google.memory.set" {
        v["value"] = json!("v");
    }
    if wait {
        v["wait"] = json!(0);
    }
    v
}

/// The tool names `sidekey mcp` in client mode lists with `key` in `key_file`.
fn mcp_tools(env: &Env, d: &Daemon, key_file: &std::path::Path) -> Vec<String> {
    let home = env.dir.path().join("agent-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut child = env
        .recorded(BIN, &["mcp"], false)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("SIDEKEY_URL", format!("unix://{}", d.socket.display()))
        .env("SIDEKEY_API_KEY_FILE", key_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    for line in [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
    ] {
        writeln!(stdin, "{line}").unwrap();
    }
    stdin.flush().unwrap();
    let tools = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("no answer to tools/list");
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["id"] == 2 {
            break v;
        }
    };
    drop(stdin);
    let _ = child.wait();
    tools["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{tools}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn two_agents_one_daemon_each_its_own_accounts_and_rights() {
    let env = Env::new(CONFIG);
    let (reader, said) = add(&env, &["reader", "--account", "work"]);
    assert!(said.contains("shown this once"), "{said}");
    let (writer, _) = add(
        &env,
        &["writer", "--account", "g", "--allow", "google.memory.set"],
    );
    let (careful, _) = add(
        &env,
        &["careful", "--account", "g", "--ask", "google.memory.set"],
    );
    assert_ne!(reader, writer);
    // Only the hashes are in the config.
    let config = std::fs::read_to_string(&env.config).unwrap();
    for key in [&reader, &writer, &careful] {
        assert!(!config.contains(key.as_str()), "a key in the config");
    }
    assert_eq!(config.matches("key_sha256 = \"").count(), 3, "{config}");
    // Adding one again is refused; a typo'd operation is refused with nothing recorded.
    let again = env.run(&["agents", "add", "reader"]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    let typo = env.run(&["agents", "add", "x", "--allow", "google.memory.sett"]);
    assert_eq!(typo.status.code(), Some(2), "{}", stderr(&typo));
    assert!(
        stderr(&typo).contains("unknown operation"),
        "{}",
        stderr(&typo)
    );
    assert_eq!(std::fs::read_to_string(&env.config).unwrap(), config);

    let list = env.run(&["agents", "list"]);
    assert_eq!(list.status.code(), Some(0), "{}", stderr(&list));
    let text = stdout(&list);
    assert!(text.contains("reader\n  accounts: work\n"), "{text}");
    assert!(text.contains("ask: google.memory.set"), "{text}");
    assert!(!text.contains("key_sha256"), "{text}");

    let (d, log) = daemon_helpers::start_daemon_logged(&env);

    // Each sees only its accounts.
    let r = grants(&d, &reader);
    assert!(!r.is_empty());
    assert!(r.iter().all(|(_, a)| a == &["work"]), "{r:?}");
    let w = grants(&d, &writer);
    assert!(w.iter().all(|(_, a)| a == &["g"]), "{w:?}");
    assert!(w.iter().any(|(op, _)| op == "google.memory.set"));
    assert!(
        !w.iter().any(|(op, _)| op == "google.memory.delete"),
        "{w:?}"
    );
    // The unnamed key keeps today's rights: every account, within its policy.
    let all = grants(&d, API_KEY);
    assert!(
        all.iter()
            .any(|(op, a)| op == "google.memory.delete" && a == &["g"])
    );
    assert!(all.iter().any(|(_, a)| a == &["work"]));
    let (s, st) = call(&d, "GET", "/v1/status", &reader, None);
    assert_eq!(s, 200, "{st}");
    let names: Vec<&str> = st["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["work"]);

    // MCP in client mode, with each agent's key: its tools only.
    let key_file = |name: &str, key: &str| {
        let p = env.dir.path().join(format!("secrets/{name}.key"));
        std::fs::write(&p, format!("{key}\n")).unwrap();
        p
    };
    let tools = mcp_tools(&env, &d, &key_file("reader", &reader));
    assert!(tools.contains(&"ms_me".to_string()), "{tools:?}");
    assert!(!tools.iter().any(|t| t.starts_with("google_")), "{tools:?}");
    let tools = mcp_tools(&env, &d, &key_file("writer", &writer));
    assert!(
        tools.contains(&"google_memory_set".to_string()),
        "{tools:?}"
    );
    assert!(
        !tools.contains(&"google_memory_delete".to_string()),
        "{tools:?}"
    );

    // The writer's write passes both policies (and stops at the empty vault); the reader may
    // not use the account; a write the account allows but the writer does not is refused.
    let (s, v) = call(
        &d,
        "POST",
        "/v1/op",
        &writer,
        Some(&memory("google.memory.set", false)),
    );
    assert_eq!(
        (s, &v["error"]["reason"]),
        (409, &json!("signed_out")),
        "{v}"
    );
    let (s, v) = call(
        &d,
        "POST",
        "/v1/op",
        &reader,
        Some(&memory("google.memory.set", false)),
    );
    assert_eq!(s, 403, "{v}");
    let m = v["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("agent 'reader' may not use the account 'g'") && m.contains("[agents.reader]"),
        "{m}"
    );
    let (s, v) = call(
        &d,
        "POST",
        "/v1/op",
        &writer,
        Some(&memory("google.memory.delete", false)),
    );
    assert_eq!(s, 403, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[agents.writer] allow nor ask"),
        "{v}"
    );
    // The account allows it outright; the careful agent's `ask` makes it wait for the person.
    let (s, v) = call(
        &d,
        "POST",
        "/v1/op",
        &careful,
        Some(&memory("google.memory.set", true)),
    );
    assert_eq!(
        (s, &v["error"]["reason"]),
        (409, &json!("approval_pending")),
        "{v}"
    );
    let approvals = env.run(&["approvals", "--json"]);
    let listed = stdout(&approvals);
    assert!(
        listed.contains("\"agent careful via api:unix\""),
        "{listed}"
    );

    // A key no agent has: 401, audited under the listener's name as before.
    let (s, _) = call(&d, "GET", "/v1/ops", "not-any-agents-key-0123456789", None);
    assert_eq!(s, 401);
    drop(d);

    let entries: Vec<Value> = std::fs::read_to_string(env.home.join("audit.log"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by = |caller: &str, op: &str| -> Vec<&str> {
        entries
            .iter()
            .filter(|e| e["caller"] == caller && e["operation"] == op)
            .map(|e| e["decision"].as_str().unwrap())
            .collect()
    };
    assert_eq!(
        by("agent writer via api:unix", "google.memory.set"),
        ["fail"]
    );
    assert_eq!(
        by("agent writer via api:unix", "google.memory.delete"),
        ["deny"]
    );
    assert_eq!(
        by("agent reader via api:unix", "google.memory.set"),
        ["deny"]
    );
    // The request filed and the call answered pending: both `ask`, both naming the agent.
    let asked = by("agent careful via api:unix", "google.memory.set");
    assert!(
        !asked.is_empty() && asked.iter().all(|d| *d == "ask"),
        "{asked:?}"
    );
    assert_eq!(by("agent reader via api:unix", "ops").len(), 2);
    let refused: Vec<&Value> = entries
        .iter()
        .filter(|e| e["outcome"] == "unauthorized")
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["caller"], "api:unix");
    let daemon_log = std::fs::read_to_string(log).unwrap();
    for key in [&reader, &writer, &careful] {
        assert!(!daemon_log.contains(key.as_str()));
    }
    // No key anywhere: the audit log, the daemon's log, every run's output, the home.
    env.assert_no_secrets(&[]);
}
