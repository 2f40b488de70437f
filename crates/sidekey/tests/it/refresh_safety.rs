//! The refresh paths that can lose a grant (issue 19, item 3), against the fake OIDC issuer,
//! which rotates refresh tokens and refuses a replayed one as oidc-provider does (it revokes
//! the whole grant then; `refresh_replays` counts them):
//!
//! * the daemon's background refresh racing local `sidekey token` processes and calls through
//!   the daemon's API on the same account: one refresh at the provider, everybody gets its token;
//! * a vault that refuses the write: found before the refresh (nothing rotated), or refusing the
//!   rotated tokens after it — the CLI keeps them in the rescue folder and fails loudly, the
//!   daemon holds them in memory and retries; the old refresh token is never sent again;
//! * a daemon killed with SIGKILL while the provider has rotated the refresh token: the next
//!   start ends in a clean `reauth_required` after one refused attempt, never a retry loop;
//! * what the review of that work found (issue 19, item 3): `logout` revokes rescued tokens; a
//!   refresh from the daemon's memory holds up no other account; nothing waits forever for an
//!   account's lock; an agent's `status` names no path of the server's.
//!
//! Every process a test here starts runs through the harness's recording ([`Env::recorded`]),
//! so the secret scan at the end reads all it printed.
//!
//! How the vault is made to refuse writes, as root too (where permissions stop nothing): the
//! account's sealed file is swapped for an empty folder (`rename` over a folder fails with
//! EISDIR), or the process runs under `ulimit -f 0` (writes fail with EFBIG; `trap '' XFSZ` so
//! the limit is an error, not a signal). Both are real refusals by the OS, no test hook.

use crate::common;
use crate::common::daemon_helpers::{API_KEY, Daemon, raw, start_daemon_logged, unique};

use common::*;
use serde_json::Value;
use sidekey_testkit::{Dialect, FakeIdp, Options};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// An Oidc account whose first access token is already inside the refresh margin, signed in.
fn signed_in(o: Options, policy: &str) -> (FakeIdp, Env) {
    let idp = FakeIdp::start(o);
    let env = Env::new(&format!(
        "{}{policy}",
        account_toml("o", Dialect::Oidc, &idp)
    ));
    let login = env.run(&["login", "o"]);
    assert_eq!(login.status.code(), Some(0), "{}", stderr(&login));
    (idp, env)
}

fn rotating(first_ttl: u64) -> Options {
    let mut o = Options::new(Dialect::Oidc);
    assert!(o.rotate_refresh_tokens);
    o.auto_approve_after_polls = Some(1);
    o.first_access_token_ttl = Some(first_ttl);
    o
}

const EXPORT: &str = "[accounts.o.policy]\nallow_token_export = true\n";

/// `sidekey ARGS` in client mode through the daemon (no vault, no config), not yet run. Like
/// every process a test here starts, it runs through the harness's recording
/// ([`Env::recorded`]): what it prints is scanned for secrets at the end of the test, whether
/// or not the test reads it.
fn agent_cmd(env: &Env, d: &Daemon, args: &[&str]) -> Command {
    let home = env.dir.path().join("agent-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut c = env.recorded(BIN, args, asks_for_token(args));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("SIDEKEY_URL", format!("unix://{}", d.socket.display()))
        .env(
            "SIDEKEY_API_KEY_FILE",
            env.dir.path().join("secrets/api_key"),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn piped(mut c: Command) -> Child {
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The record the vault holds for `o`, read with the vault key as sidekey does.
fn stored(env: &Env) -> Value {
    let key = sidekey_vault::Key::parse(VAULT_KEY).unwrap();
    let v = sidekey_vault::Vault::open(&env.home.join("vault"), &key).unwrap();
    v.load::<Value>("o").unwrap().expect("no record for o")
}

fn audit(env: &Env) -> Vec<Value> {
    std::fs::read_to_string(env.home.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn sealed(env: &Env) -> PathBuf {
    env.home.join("vault/accounts/o.sealed")
}

/// Swap the account's sealed file for an empty folder: every store of it fails (EISDIR).
fn break_record(env: &Env) -> PathBuf {
    let aside = env.dir.path().join("o.sealed.aside");
    std::fs::rename(sealed(env), &aside).unwrap();
    std::fs::create_dir(sealed(env)).unwrap();
    aside
}

fn mend_record(env: &Env, aside: &Path) {
    std::fs::remove_dir(sealed(env)).unwrap();
    std::fs::rename(aside, sealed(env)).unwrap();
}

/// The error: one line, the last; before it only warnings (a full disk also refuses the
/// audit log, which says so).
fn one_line(o: &Output) -> String {
    let e = stderr(o);
    let lines: Vec<&str> = e.trim_end().lines().collect();
    let (last, before) = lines
        .split_last()
        .unwrap_or_else(|| panic!("no error printed"));
    assert!(
        before.iter().all(|l| l.starts_with("sidekey: warning: ")),
        "more than one line of error: {e}"
    );
    assert!(
        last.starts_with("sidekey: ") && !last.starts_with("sidekey: warning"),
        "{e}"
    );
    last.to_string()
}

/// The daemon's background refresh is in flight at the provider (2 s) while six local
/// `sidekey token` processes and three agents asking through the daemon's API want the same
/// account's token: every one of them started before the provider answered, and every one
/// prints the token that answer carried — so they waited for that one refresh rather than ran
/// after it. One refresh request, no replay, and the vault holds the newest refresh token.
#[test]
fn the_daemon_local_commands_and_api_calls_share_one_rotation() {
    let mut o = rotating(30);
    o.refresh_delay = Duration::from_secs(2);
    let (idp, env) = signed_in(o, EXPORT);
    let (d, _log) = start_daemon_logged(&env);
    wait_until(
        "the daemon's background refresh",
        Duration::from_secs(10),
        || idp.counters().refresh_requests == 1,
    );
    let mut started = vec![];
    let mut children = vec![];
    for i in 0..9 {
        let c = if i % 3 == 2 {
            agent_cmd(&env, &d, &["token", "o"])
        } else {
            env.cmd(&["token", "o"])
        };
        started.push(Instant::now());
        children.push(piped(c));
    }
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let answered = idp.refresh_answer_times();
    assert_eq!(answered.len(), 1, "{answered:?}");
    for s in &started {
        assert!(*s < answered[0], "a caller started after the refresh ended");
    }
    let newest = idp.issued_access_tokens().last().cloned().unwrap();
    assert_ne!(newest, idp.issued_access_tokens()[0]);
    for o in &outs {
        assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
        assert_eq!(stdout(o).trim(), newest, "every caller gets the new token");
    }
    let c = idp.counters();
    assert_eq!(
        (c.refresh_requests, c.refresh_successes, c.refresh_replays),
        (1, 1, 0)
    );
    assert!(
        idp.revoked_tokens().is_empty(),
        "a replay revoked the grant"
    );
    let rt = idp.issued_refresh_tokens().last().cloned().unwrap();
    assert_eq!(idp.valid_refresh_tokens(), vec![rt.clone()]);
    assert_eq!(stored(&env)["refresh_token"], rt.as_str());
    assert_eq!(stored(&env)["access_token"], newest.as_str());
    let refreshes: Vec<Value> = audit(&env)
        .into_iter()
        .filter(|e| e["caller"] == "daemon" && e["operation"] == "refresh")
        .collect();
    assert_eq!(refreshes.len(), 1, "{refreshes:?}");
    assert_eq!(refreshes[0]["outcome"], "ok");
    drop(d);
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}

/// A `sidekey mcp` session, driven over stdio as an MCP client does (one JSON-RPC message a
/// line): `initialize` answered and `notifications/initialized` sent before [`Mcp::start`]
/// returns. Its stderr goes to a file.
struct Mcp {
    child: Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Mcp {
    fn start(env: &Env, mut c: Command) -> Mcp {
        use std::io::BufRead;
        let err = unique(env.dir.path().join("mcp"));
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(err).unwrap())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut m = Mcp {
            child,
            stdin,
            lines,
        };
        m.send(
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "refresh-race", "version": "0"}}}),
        );
        let init = m.answer(1);
        assert_eq!(init["result"]["serverInfo"]["name"], "sidekey", "{init}");
        m.send(serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        m
    }

    fn send(&mut self, v: Value) {
        use std::io::Write;
        writeln!(self.stdin, "{v}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// `tools/call` of `tool` with `arguments` as request `id`; when it was sent.
    fn call(&mut self, id: i64, tool: &str, arguments: Value) -> Instant {
        let at = Instant::now();
        self.send(
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}}),
        );
        at
    }

    /// The answer to request `id` (other messages skipped).
    fn answer(&self, id: i64) -> Value {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no answer to MCP request {id}"));
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            if v["id"] == id {
                return v;
            }
        }
    }

    /// Close stdin (the session's end) and wait for the exit.
    fn finish(self) -> i32 {
        let Mcp {
            mut child, stdin, ..
        } = self;
        drop(stdin);
        wait_timeout(&mut child, Duration::from_secs(20))
    }
}

/// The same race with a Microsoft account — Entra rotates refresh tokens, and the fake does as
/// it — and MCP calls on it, which need the token for a Graph request: while the daemon's
/// background refresh is in flight at the provider (3 s), two `sidekey mcp` sessions call
/// `ms_me` on the account — one owning the vault as a local command does, one in client mode
/// through the daemon — besides two local `sidekey token` processes and an agent's `token`
/// through the daemon's API. Every call started before the provider answered; one refresh, no
/// replay; every caller got the token that answer carried and every Graph request carried it;
/// the vault holds the newest refresh token.
#[test]
fn mcp_calls_share_the_daemons_rotation_of_a_microsoft_account() {
    use sidekey_testkit::graph::{FakeGraph, GraphData, GraphOptions};
    let mut o = Options::new(Dialect::Microsoft);
    assert!(o.rotate_refresh_tokens);
    o.auto_approve_after_polls = Some(1);
    o.first_access_token_ttl = Some(30);
    o.refresh_delay = Duration::from_secs(3);
    let idp = FakeIdp::start(o);
    let graph = FakeGraph::start(GraphOptions {
        data: GraphData::sample(),
        ..GraphOptions::default()
    });
    // Graph accepts what the identity platform issued, while it is valid, as Graph does.
    graph.trust(&idp);
    let env = Env::new(&format!(
        "[accounts.o]\nprovider = \"microsoft\"\nclient_id = \"test-client\"\nauthority = \"{}/common\"\napi_base = \"{}\"\nscopes = [\"User.Read\", \"offline_access\"]\n{EXPORT}",
        idp.base_url(),
        graph.base_url()
    ));
    let login = env.run(&["login", "o"]);
    assert_eq!(login.status.code(), Some(0), "{}", stderr(&login));
    let first = idp.issued_access_tokens()[0].clone();
    graph.clear_requests(); // the sign-in read the profile

    let (d, _log) = start_daemon_logged(&env);
    wait_until(
        "the daemon's background refresh",
        Duration::from_secs(10),
        || idp.counters().refresh_requests == 1,
    );
    let mut local = Mcp::start(&env, env.cmd(&["mcp"]));
    let mut agent = Mcp::start(&env, agent_cmd(&env, &d, &["mcp"]));
    let mut started = vec![
        local.call(2, "ms_me", serde_json::json!({"account": "o"})),
        agent.call(2, "ms_me", serde_json::json!({"account": "o"})),
    ];
    let mut children = vec![];
    for c in [
        env.cmd(&["token", "o"]),
        env.cmd(&["token", "o"]),
        agent_cmd(&env, &d, &["token", "o"]),
    ] {
        started.push(Instant::now());
        children.push(piped(c));
    }
    let answers = [local.answer(2), agent.answer(2)];
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();

    let answered = idp.refresh_answer_times();
    assert_eq!(answered.len(), 1, "{answered:?}");
    for s in &started {
        assert!(
            *s < answered[0],
            "a caller started after the refresh ended: it did not race it"
        );
    }
    let newest = idp.issued_access_tokens().last().cloned().unwrap();
    assert_ne!(newest, first);
    for a in &answers {
        env.record(&a.to_string());
        assert!(a["error"].is_null(), "{a}");
        assert_ne!(a["result"]["isError"], true, "{a}");
        assert!(
            a["result"]["structuredContent"]["id"].is_string(),
            "no profile from Graph: {a}"
        );
    }
    for o in &outs {
        assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
        assert_eq!(stdout(o).trim(), newest, "every caller gets the new token");
    }
    // Both MCP calls reached Graph, each with the token of the one refresh.
    let requests = graph.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    for r in &requests {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {newest}").as_str()),
            "a Graph request without the refreshed token: {}",
            r.path_and_query
        );
    }
    let c = idp.counters();
    assert_eq!(
        (c.refresh_requests, c.refresh_successes, c.refresh_replays),
        (1, 1, 0)
    );
    assert!(
        idp.revoked_tokens().is_empty(),
        "a replay revoked the grant"
    );
    // Entra leaves a replaced refresh token valid (docs/providers.md, "Microsoft"; so does the
    // fake): a second refresh would not be refused, the one refresh request above shows there
    // was none.
    let issued = idp.issued_refresh_tokens();
    assert_eq!(
        issued.len(),
        2,
        "the sign-in's and the rotation's: {issued:?}"
    );
    let rt = issued[1].clone();
    assert_eq!(stored(&env)["refresh_token"], rt.as_str());
    assert_eq!(stored(&env)["access_token"], newest.as_str());
    let refreshes = audit(&env)
        .into_iter()
        .filter(|e| e["caller"] == "daemon" && e["operation"] == "refresh")
        .count();
    assert_eq!(refreshes, 1);
    assert_eq!(local.finish(), 0);
    assert_eq!(agent.finish(), 0);
    drop(d);
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}

/// A vault that cannot be written is found before the refresh: nothing is sent, the refresh
/// token stays valid, the command fails in one line saying what to do (exit 1) — and works
/// once the vault can be written, with the same grant.
#[test]
fn a_vault_that_refuses_writes_stops_the_refresh_before_the_provider() {
    let (idp, env) = signed_in(rotating(0), ""); // expired: nothing to hand out meanwhile
    let mut c = env.recorded(
        "sh",
        &["-c", "trap '' XFSZ; ulimit -f 0; exec \"$0\" token o", BIN],
        true,
    );
    env.configure(&mut c);
    let out = c.output().unwrap();
    env.record(&stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let e = one_line(&out);
    assert!(
        e.contains("cannot refresh 'o': the vault cannot be written"),
        "{e}"
    );
    assert!(e.contains("nothing was sent to the provider"), "{e}");
    assert!(e.contains("free space or fix the permissions of"), "{e}");
    assert_eq!(idp.counters().refresh_requests, 0, "the refresh went out");
    let first_rt = idp.issued_refresh_tokens()[0].clone();
    assert_eq!(idp.valid_refresh_tokens(), vec![first_rt]);

    let ok = env.run(&["token", "o"]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert_eq!(
        stdout(&ok).trim(),
        idp.issued_access_tokens().last().unwrap().as_str()
    );
    let c = idp.counters();
    assert_eq!((c.refresh_successes, c.refresh_replays), (1, 0));
}

/// The vault refuses the rotated tokens after the provider issued them (the record's file
/// turns into a folder during the refresh): `sidekey token` keeps them sealed in the rescue
/// folder and fails loudly; once the vault is mended the next call takes them back — the new
/// token, no second refresh, no replay of the old refresh token.
#[test]
fn the_cli_rescues_rotated_tokens_the_vault_refuses() {
    let mut o = rotating(30);
    o.refresh_delay = Duration::from_millis(1500);
    let (idp, env) = signed_in(o, "");
    let child = piped(env.cmd(&["token", "o"]));
    wait_until("the refresh request", Duration::from_secs(10), || {
        idp.counters().refresh_requests == 1
    });
    let aside = break_record(&env);
    let out = child.wait_with_output().unwrap();
    env.record(&stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).is_empty(),
        "a token whose refresh was not stored"
    );
    let e = one_line(&out);
    assert!(
        e.contains("the vault could not store the refreshed tokens of 'o'"),
        "{e}"
    );
    assert!(e.contains("kept sealed in"), "{e}");
    assert!(e.contains("free space or fix the permissions of"), "{e}");
    let rescue = env.home.join("vault/rescue/o.sealed");
    assert!(rescue.exists(), "no rescue file");
    assert_eq!(idp.counters().refresh_successes, 1);

    // Still broken: another call fails the same loud way, and asks the provider nothing.
    let again = env.run(&["token", "o"]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    one_line(&again);
    assert_eq!(idp.counters().refresh_requests, 1);

    mend_record(&env, &aside);
    let ok = env.run(&["token", "o"]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let newest = idp.issued_access_tokens().last().cloned().unwrap();
    assert_eq!(stdout(&ok).trim(), newest);
    let c = idp.counters();
    assert_eq!(
        (c.refresh_requests, c.refresh_replays),
        (1, 0),
        "the old refresh token went out again"
    );
    let rt = idp.issued_refresh_tokens().last().cloned().unwrap();
    assert_eq!(stored(&env)["refresh_token"], rt.as_str());
    assert!(
        !rescue.exists(),
        "the rescue stayed after the vault took it back"
    );
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}

/// The daemon's background refresh gets rotated tokens the vault refuses: it keeps them in
/// memory and serves them, says so (its log, the audit log, `status`), retries with backoff,
/// and stores them once the vault takes them — no second refresh, no replay.
#[test]
fn the_daemon_holds_rotated_tokens_the_vault_refuses_until_it_can_store_them() {
    let mut o = rotating(30);
    o.refresh_delay = Duration::from_millis(1500);
    let (idp, env) = signed_in(o, EXPORT);
    let (mut d, log) = start_daemon_logged(&env);
    wait_until(
        "the daemon's background refresh",
        Duration::from_secs(10),
        || idp.counters().refresh_requests == 1,
    );
    let aside = break_record(&env);
    wait_until("the daemon saying so", Duration::from_secs(10), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("the daemon keeps them in memory and retries")
    });
    let newest = idp.issued_access_tokens().last().cloned().unwrap();

    // Served from memory.
    let t = agent_cmd(&env, &d, &["token", "o"]).output().unwrap();
    assert_eq!(t.status.code(), Some(0), "{}", stderr(&t));
    assert_eq!(stdout(&t).trim(), newest);
    let (s, body) = raw(&d.socket, "GET", "/v1/status", Some(API_KEY), None);
    assert_eq!(s, 200, "{body}");
    env.record(&body);
    let st: Value = serde_json::from_str(&body).unwrap();
    let row = &st["accounts"][0];
    assert_eq!(row["state"], "signed_in", "{body}");
    // The agent learns why (the OS's words), not where the server keeps its vault.
    assert!(
        !body.contains(env.dir.path().to_str().unwrap()),
        "a path of the server's in an agent's status: {body}"
    );
    assert!(
        row["note"]
            .as_str()
            .is_some_and(|n| n.contains("only in the daemon's memory")
                && n.contains("ask the person to free space or fix the vault's permissions")),
        "{body}"
    );
    let held = audit(&env)
        .into_iter()
        .find(|e| e["operation"] == "refresh.store")
        .expect("no audit entry for the unstored tokens");
    assert_eq!(held["outcome"], "vault", "{held}");
    assert_eq!(
        held["decision"], "fail",
        "a refused store written as allowed: {held}"
    );
    // A local command cannot read the record meanwhile: it fails, and sends nothing.
    let local = env.run(&["token", "o"]);
    assert_eq!(local.status.code(), Some(1), "{}", stderr(&local));
    one_line(&local);

    mend_record(&env, &aside);
    wait_until("the retried save", Duration::from_secs(20), || {
        audit(&env)
            .iter()
            .any(|e| e["operation"] == "refresh.store" && e["outcome"] == "ok")
    });
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("stored the refreshed tokens of 'o' in the vault"),
        "{text}"
    );
    let rt = idp.issued_refresh_tokens().last().cloned().unwrap();
    assert_eq!(stored(&env)["refresh_token"], rt.as_str());
    assert_eq!(stored(&env)["access_token"], newest.as_str());
    let local = env.run(&["token", "o"]);
    assert_eq!(local.status.code(), Some(0), "{}", stderr(&local));
    assert_eq!(stdout(&local).trim(), newest);
    let (_, body) = raw(&d.socket, "GET", "/v1/status", Some(API_KEY), None);
    assert!(!body.contains("only in the daemon's memory"), "{body}");
    let c = idp.counters();
    assert_eq!((c.refresh_requests, c.refresh_replays), (1, 0));
    let pid = d.child.id().to_string();
    env.recorded("kill", &["-TERM", &pid], false)
        .status()
        .unwrap();
    assert_eq!(wait_timeout(&mut d.child, Duration::from_secs(20)), 0);
    env.record(&std::fs::read_to_string(&log).unwrap());
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}

/// The daemon is stopped (SIGTERM) while it still holds rotated tokens the vault refuses: it
/// tries the save once more, then seals them in the vault's rescue folder, says so (its log,
/// the audit log) and exits cleanly. Once the vault is mended, a local `sidekey token` takes
/// them back: the new token, no second refresh, no replay of the old refresh token.
#[test]
fn a_daemon_stopped_with_unstored_tokens_leaves_them_in_the_rescue_folder() {
    let mut o = rotating(30);
    o.refresh_delay = Duration::from_millis(1500);
    let (idp, env) = signed_in(o, EXPORT);
    let (mut d, log) = start_daemon_logged(&env);
    wait_until(
        "the daemon's background refresh",
        Duration::from_secs(10),
        || idp.counters().refresh_requests == 1,
    );
    let aside = break_record(&env);
    wait_until("the daemon holding them", Duration::from_secs(10), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("the daemon keeps them in memory and retries")
    });
    let newest = idp.issued_access_tokens().last().cloned().unwrap();
    let rescue = env.home.join("vault/rescue/o.sealed");
    assert!(!rescue.exists(), "a rescue before the shutdown");

    let pid = d.child.id().to_string();
    env.recorded("kill", &["-TERM", &pid], false)
        .status()
        .unwrap();
    assert_eq!(wait_timeout(&mut d.child, Duration::from_secs(20)), 0);
    let text = std::fs::read_to_string(&log).unwrap();
    env.record(&text);
    assert!(
        text.contains("sidekey: error: shutting down with the refreshed tokens of 'o' unstored")
            && text.contains(&format!("kept them sealed in {}", rescue.display())),
        "{text}"
    );
    assert!(rescue.exists(), "the rotated tokens were not kept");
    let said: Vec<Value> = audit(&env)
        .into_iter()
        .filter(|e| e["operation"] == "refresh.store")
        .collect();
    assert_eq!(said.len(), 2, "{said:?}");
    assert_eq!(said[1]["outcome"], "vault", "{}", said[1]);
    assert_eq!(said[1]["decision"], "fail", "{}", said[1]);
    assert!(
        said[1]["note"]
            .as_str()
            .is_some_and(|n| n.contains("kept them sealed in")),
        "{}",
        said[1]
    );

    // Still broken: a local command fails loudly and asks the provider nothing.
    let again = env.run(&["token", "o"]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    one_line(&again);
    assert_eq!(idp.counters().refresh_requests, 1);

    mend_record(&env, &aside);
    let ok = env.run(&["token", "o"]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert_eq!(stdout(&ok).trim(), newest, "the rescued token");
    let c = idp.counters();
    assert_eq!(
        (c.refresh_requests, c.refresh_replays),
        (1, 0),
        "the old refresh token went out again"
    );
    let rt = idp.issued_refresh_tokens().last().cloned().unwrap();
    assert_eq!(idp.valid_refresh_tokens(), vec![rt.clone()]);
    assert_eq!(stored(&env)["refresh_token"], rt.as_str());
    assert!(
        !rescue.exists(),
        "the rescue stayed after the vault took it back"
    );
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}

/// SIGKILL while the provider has already rotated the refresh token and not yet answered: the
/// new tokens are gone with the process. The next start tries the stored refresh token once,
/// the provider refuses it (a replay), and the account is `reauth_required` — for the daemon,
/// a local `sidekey token` (exit 3) and `status` alike, with no further attempt.
#[test]
fn a_daemon_killed_mid_refresh_ends_in_a_clean_reauth_required() {
    let mut o = rotating(30);
    o.refresh_answer_delay = Duration::from_secs(3);
    let (idp, env) = signed_in(o, EXPORT);
    let (mut d, _) = start_daemon_logged(&env);
    wait_until("the provider rotating", Duration::from_secs(10), || {
        idp.counters().refresh_successes == 1
    });
    let pid = d.child.id().to_string();
    assert!(
        env.recorded("kill", &["-KILL", &pid], false)
            .status()
            .unwrap()
            .success()
    );
    let _ = d.child.wait();
    drop(d);
    assert!(idp.refresh_answer_times().is_empty(), "the answer was sent");

    let (d, log) = start_daemon_logged(&env);
    wait_until(
        "the restarted daemon's refresh",
        Duration::from_secs(10),
        || idp.counters().refresh_requests == 2,
    );
    wait_until("reauth_required stored", Duration::from_secs(10), || {
        stored(&env)["state"] == "reauth_required"
    });
    let local = env.run(&["token", "o"]);
    assert_eq!(local.status.code(), Some(3), "{}", stderr(&local));
    let e = one_line(&local);
    assert!(e.contains("sidekey login o"), "{e}");
    let t = agent_cmd(&env, &d, &["token", "o", "--json"])
        .output()
        .unwrap();
    assert_eq!(t.status.code(), Some(3), "{}", stderr(&t));
    let (_, body) = raw(&d.socket, "GET", "/v1/status", Some(API_KEY), None);
    assert!(body.contains("\"reauth_required\""), "{body}");
    std::thread::sleep(Duration::from_secs(2));
    let c = idp.counters();
    assert_eq!(
        (c.refresh_requests, c.refresh_replays),
        (2, 1),
        "more than one attempt after the restart"
    );
    env.record(&std::fs::read_to_string(&log).unwrap());
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}

/// A rescue belongs to the sign-in it came from: after the person signs in again, a rescue left
/// from the earlier sign-in is dropped, never put over the new tokens.
#[test]
fn a_rescue_from_an_earlier_sign_in_is_dropped() {
    let mut o = rotating(30);
    o.refresh_delay = Duration::from_millis(1500);
    let (idp, env) = signed_in(o, "");
    let child = piped(env.cmd(&["token", "o"]));
    wait_until("the refresh request", Duration::from_secs(10), || {
        idp.counters().refresh_requests == 1
    });
    let aside = break_record(&env);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rescue = env.home.join("vault/rescue/o.sealed");
    assert!(rescue.exists());
    let rescued_at = idp.issued_access_tokens().last().cloned().unwrap();
    mend_record(&env, &aside);
    std::thread::sleep(Duration::from_millis(1100)); // a sign-in in another second
    let login = env.run(&["login", "o"]);
    assert_eq!(login.status.code(), Some(0), "{}", stderr(&login));
    let ok = env.run(&["token", "o"]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let printed = stdout(&ok).trim().to_string();
    assert_ne!(
        printed, rescued_at,
        "the earlier sign-in's rescue came back"
    );
    assert_eq!(printed, *idp.issued_access_tokens().last().unwrap());
    assert!(!rescue.exists());
    assert_eq!(idp.counters().refresh_replays, 0);
}

/// A GitHub App's refresh ends the old access token ("that refresh token and the old user
/// access token will no longer work", docs/providers.md, "GitHub"), and its logout deletes the
/// grant with an access token. So after `sidekey token` kept a refresh's tokens in the rescue folder (the
/// vault refused them), `logout` must revoke with those, the newest: with the file's old token
/// GitHub answers 404 and the new refresh token stays live. The rescue goes with the logout.
#[test]
fn logout_revokes_the_rescued_tokens() {
    let mut o = Options::new(Dialect::GitHubApp);
    o.auto_approve_after_polls = Some(1);
    o.client_secret = Some("gh-app-secret-1".into());
    o.first_access_token_ttl = Some(30);
    o.refresh_delay = Duration::from_millis(1500);
    let idp = FakeIdp::start(o);
    let env = Env::new(&format!(
        "{}\nclient_secret = \"gh-app-secret-1\"\n",
        account_toml("o", Dialect::GitHubApp, &idp).trim_end()
    ));
    env.secret("gh-app-secret-1");
    let login = env.run(&["login", "o"]);
    assert_eq!(login.status.code(), Some(0), "{}", stderr(&login));
    let child = piped(env.cmd(&["token", "o"]));
    wait_until("the refresh request", Duration::from_secs(10), || {
        idp.counters().refresh_requests == 1
    });
    let aside = break_record(&env);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rescue = env.home.join("vault/rescue/o.sealed");
    assert!(rescue.exists(), "no rescue file");
    mend_record(&env, &aside);
    let (old_at, new_at) = {
        let at = idp.issued_access_tokens();
        (at[0].clone(), at[1].clone())
    };
    let new_rt = idp.issued_refresh_tokens().last().cloned().unwrap();
    assert!(
        !idp.access_token_valid(&old_at),
        "the refresh left the old token alive"
    );
    assert_eq!(idp.valid_refresh_tokens(), vec![new_rt.clone()]);

    let lo = env.run(&["logout", "o"]);
    assert_eq!(lo.status.code(), Some(0), "{}", stderr(&lo));
    assert!(stdout(&lo).contains("Revoked"), "{}", stdout(&lo));
    assert!(
        idp.valid_refresh_tokens().is_empty(),
        "the rescued refresh token is still live at the provider"
    );
    assert!(!idp.access_token_valid(&new_at));
    assert!(!rescue.exists(), "the rescue stayed after the logout");
    let st = env.run(&["status", "o", "--json"]);
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["accounts"][0]["state"], "signed_out", "{v}");
    assert_eq!(idp.counters().refresh_replays, 0);
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}

/// While the daemon refreshes one account from the tokens it held in memory (the vault had
/// refused them; now it takes them, and the held token is due), that refresh — 6 s at the
/// provider — holds up nothing of another account's: a token call and `status` through the
/// daemon's API answer while it is still in flight, within a bound well below it. The held
/// account's caller then gets the new token, and no refresh token is replayed.
#[test]
fn a_refresh_from_memory_holds_up_no_other_account() {
    let mut o = rotating(30);
    o.access_token_ttl = 30; // every token of `o` is inside the refresh margin
    o.refresh_delay = Duration::from_secs(6);
    let idp = FakeIdp::start(o);
    let mut other = Options::new(Dialect::Oidc);
    other.auto_approve_after_polls = Some(1);
    let idp_p = FakeIdp::start(other);
    let env = Env::new(&format!(
        "{}{EXPORT}{}[accounts.p.policy]\nallow_token_export = true\n",
        account_toml("o", Dialect::Oidc, &idp),
        account_toml("p", Dialect::Oidc, &idp_p)
    ));
    for name in ["o", "p"] {
        let login = env.run(&["login", name]);
        assert_eq!(login.status.code(), Some(0), "{}", stderr(&login));
    }
    let (d, log) = start_daemon_logged(&env);
    wait_until(
        "the daemon's background refresh",
        Duration::from_secs(10),
        || idp.counters().refresh_requests == 1,
    );
    let aside = break_record(&env);
    // Held in memory, and the saver's retries spaced out (1, 2, 4, then 8 s): none comes in
    // the way of the token call below, which stores the held tokens itself.
    wait_until("the saver's third retry", Duration::from_secs(30), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("next try in 8 s")
    });
    mend_record(&env, &aside);
    let held = agent_cmd(&env, &d, &["token", "o"]).spawn().unwrap();
    wait_until(
        "the refresh of the held tokens",
        Duration::from_secs(5),
        || idp.counters().refresh_requests == 2,
    );

    let t0 = Instant::now();
    let (s, body) = raw(
        &d.socket,
        "POST",
        "/v1/token",
        Some(API_KEY),
        Some(r#"{"account":"p"}"#),
    );
    let token_took = t0.elapsed();
    let t1 = Instant::now();
    let (s2, status) = raw(&d.socket, "GET", "/v1/status", Some(API_KEY), None);
    let status_took = t1.elapsed();
    let in_flight = idp.refresh_answer_times().len() == 1;
    env.record_asked(&body);
    env.record(&status);
    assert_eq!(s, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["access_token"], idp_p.issued_access_tokens()[0].as_str());
    assert_eq!(s2, 200, "{status}");
    assert!(
        in_flight,
        "the other account's calls waited for the refresh of 'o' (token {token_took:?}, status {status_took:?})"
    );
    for (what, took) in [("token", token_took), ("status", status_took)] {
        assert!(
            took < Duration::from_secs(3),
            "{what} for another account took {took:?}"
        );
    }

    let out = held.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The sign-in's token, the background refresh's (held), the held tokens' refresh.
    let issued = idp.issued_access_tokens();
    assert_eq!(stdout(&out).trim(), issued[2]);
    assert_eq!(idp.counters().refresh_replays, 0);
    assert_eq!(idp_p.counters().refresh_requests, 0);
    drop(d);
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    secrets.extend(idp_p.issued_access_tokens());
    secrets.extend(idp_p.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}

/// A local `sidekey login` of an account whose refreshed tokens the daemon holds unstored (with
/// the account's lock): the sign-in cannot record its progress, and it gives up after the lock
/// wait (60 s) with `busy` (exit 5) and one line saying why — it does not hang.
#[test]
fn a_sign_in_gives_up_busy_while_the_daemon_holds_the_account() {
    let mut o = rotating(30);
    o.refresh_delay = Duration::from_millis(1500);
    let (idp, env) = signed_in(o, EXPORT);
    let (_d, log) = start_daemon_logged(&env);
    wait_until(
        "the daemon's background refresh",
        Duration::from_secs(10),
        || idp.counters().refresh_requests == 1,
    );
    let _aside = break_record(&env);
    wait_until("the daemon holding them", Duration::from_secs(10), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("the daemon keeps them in memory and retries")
    });
    let t0 = Instant::now();
    let mut login = piped(env.cmd(&["login", "o"]));
    let limit = Duration::from_secs(100);
    while login.try_wait().unwrap().is_none() {
        if t0.elapsed() > limit {
            let _ = login.kill();
            let _ = login.wait();
            panic!("`sidekey login o` still waits for the account's lock after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = login.wait_with_output().unwrap();
    let took = t0.elapsed();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let e = stderr(&out);
    let last = e.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.contains("has held the lock of 'o' for 60 s") && last.contains("try again later"),
        "{e}"
    );
    assert!(took >= Duration::from_secs(60), "gave up early: {took:?}");
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}
