//! Several daemons sharing one PostgreSQL vault (docs/fleet.md), against the real PostgreSQL
//! (`SIDEKEY_TEST_PG`, default the local server's `test` database; each test makes a database of
//! its own and drops it). Without a server the tests are skipped with a SKIPPED line (start one:
//! `sudo pg_ctlcluster 15 main start`), and fail under CI.

use crate::common;

use common::daemon_helpers::{API_KEY, try_raw};
use common::*;
use sidekey_testkit::{Dialect, FakeIdp, Options};
use sidekey_vault::pg::scratch::{self, Database};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn database(tag: &str) -> Option<Database> {
    match Database::new(tag) {
        Ok(db) => Some(db),
        Err(e) => {
            skip(&Missing {
                what: format!("PostgreSQL at {} ({e})", scratch::server_url()),
                how: scratch::HOW.into(),
            });
            None
        }
    }
}

/// A daemon with a home of its own (another machine), sharing the config, the vault key and so
/// the database.
pub(crate) struct Member {
    pub(crate) child: Child,
    pub(crate) socket: PathBuf,
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn member(env: &Env, n: usize) -> Member {
    let m = spawn_member(env, n);
    wait_for(&m, n);
    m
}

/// Start daemon `n` (its home `member{n}/home`) without waiting for it: several can start at
/// once. A daemon started again after a kill keeps its home.
pub(crate) fn spawn_member(env: &Env, n: usize) -> Member {
    let dir = env.dir.path().join(format!("member{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("api_key");
    std::fs::write(&key, format!("{API_KEY}\n")).unwrap();
    let socket = dir.join("sidekey.sock");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("daemon.log"))
        .unwrap();
    let child = env
        .cmd(&["serve", "--socket", socket.to_str().unwrap()])
        .env("SIDEKEY_HOME", dir.join("home"))
        .env("SIDEKEY_API_KEY_FILE", &key)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Member { child, socket }
}

/// Wait until daemon `n` answers.
pub(crate) fn wait_for(m: &Member, n: usize) {
    let t0 = Instant::now();
    while try_raw(&m.socket, "GET", "/healthz", None, None).map(|r| r.0) != Some(200) {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "daemon {n} did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `POST /v1/token` for `account` on `m`: the status and the access token (or the body).
pub(crate) fn token(socket: &std::path::Path, account: &str) -> (u16, String) {
    let body = format!("{{\"account\": \"{account}\"}}");
    let (status, reply) = try_raw(socket, "POST", "/v1/token", Some(API_KEY), Some(&body))
        .unwrap_or((0, "no answer".into()));
    let at = serde_json::from_str::<serde_json::Value>(&reply)
        .ok()
        .and_then(|v| v["access_token"].as_str().map(String::from));
    (status, at.unwrap_or(reply))
}

fn fleet_config(idp: &FakeIdp, db: &Database) -> String {
    config_with(&db.url, idp, &["o"])
}

/// The config of a fleet on the database at `url`: the accounts `names`, all at `idp`, their
/// tokens exportable.
pub(crate) fn config_with(url: &str, idp: &FakeIdp, names: &[&str]) -> String {
    let mut out = format!("[vault]\nstore = \"{url}\"\n\n");
    for n in names {
        out.push_str(&account_toml(n, Dialect::Oidc, idp));
        out.push_str(&format!(
            "[accounts.{n}.policy]\nallow_token_export = true\n\n"
        ));
    }
    out
}

/// Sign in `names[0]` and give every other account of `names` a copy of its record (the same
/// refresh token: the IdP must not rotate them), written through the vault API in one
/// transaction.
pub(crate) fn sign_in_all(env: &Env, url: &str, names: &[&str]) {
    let login = env.run(&["login", names[0]]);
    assert_eq!(login.status.code(), Some(0), "{}", stderr(&login));
    let key = sidekey_vault::Key::parse(VAULT_KEY).unwrap();
    let v = sidekey_vault::Vault::open_postgres(url, "fleet test", &key).unwrap();
    let rec: serde_json::Value = v.load(names[0]).unwrap().unwrap();
    let copies: Vec<(String, serde_json::Value)> = names[1..]
        .iter()
        .map(|n| (n.to_string(), rec.clone()))
        .collect();
    v.import_new(&copies).unwrap();
}

/// Three daemons on one database, 32 clients spread over them, all asking for an expired token
/// at once: exactly one refresh reaches the provider (it rotates refresh tokens and revokes the
/// family on a replay, so a second refresh would also sign the account out), and every client
/// gets the new token.
#[test]
fn three_daemons_thirty_two_clients_one_refresh() {
    let Some(db) = database("fleet") else { return };
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    o.first_access_token_ttl = Some(30); // inside the refresh margin from the start
    o.refresh_delay = Duration::from_millis(500); // the others queue on the lock meanwhile
    let idp = FakeIdp::start(o);
    let env = Env::new(&fleet_config(&idp, &db));
    // The daemons start on an empty store, so their background refreshers find nothing due
    // (their next look is 30 s away): the clients race each other.
    let members: Vec<Member> = (0..3).map(|n| member(&env, n)).collect();
    let login = env.run(&["login", "o"]);
    assert_eq!(login.status.code(), Some(0), "{}", stderr(&login));
    assert!(
        !env.home.join("vault/accounts").exists(),
        "the sign-in wrote the file vault, not the database"
    );
    let first = idp.issued_access_tokens()[0].clone();

    let barrier = std::sync::Arc::new(std::sync::Barrier::new(32));
    let answers: Vec<(u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let socket = members[i % 3].socket.clone();
                let barrier = barrier.clone();
                s.spawn(move || {
                    barrier.wait();
                    token(&socket, "o")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let c = idp.counters();
    assert_eq!(
        c.refresh_requests, 1,
        "one refresh for the fleet: {:?}",
        answers[0]
    );
    assert_eq!(c.refresh_replays, 0);
    let new = idp.issued_access_tokens().last().cloned().unwrap();
    assert_ne!(new, first);
    for (status, at) in &answers {
        assert_eq!(*status, 200, "{at}");
        assert_eq!(*at, new, "every client gets the refreshed token");
    }
    // No daemon met `invalid_grant` (the provider revokes the grant on a replayed refresh
    // token): each re-read the record under the lock and found it refreshed. The account is
    // signed in, its record kept.
    let key = sidekey_vault::Key::parse(VAULT_KEY).unwrap();
    let v = sidekey_vault::Vault::open_postgres(&db.url, "fleet test", &key).unwrap();
    let rec: serde_json::Value = v.load("o").unwrap().expect("the record is gone");
    assert_eq!(rec["state"], "signed_in", "{}", rec["reauth_reason"]);
    // The row was written twice by the refresh (before asking, and with the new tokens).
    let v = scratch::query(
        &db.url,
        "SELECT version::text FROM sidekey_records WHERE name = 'o'",
    )
    .unwrap();
    assert!(
        v[0].as_deref().unwrap().parse::<i64>().unwrap() >= 2,
        "{v:?}"
    );
}

/// A daemon killed (`kill -9`) while it holds an account's lock in the middle of a refresh: the
/// lock goes with its connection, and a client of another daemon, already waiting on it, gets
/// a token in about one refresh's time, not after the lock wait (60 s).
#[test]
fn a_lock_holder_killed_mid_refresh_lets_another_daemon_refresh() {
    let Some(db) = database("killed") else { return };
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    o.first_access_token_ttl = Some(30);
    o.refresh_delay = Duration::from_secs(3);
    // The same refresh token echoed back (as Okta does): the killed daemon's refresh never
    // answered, and the survivor's own refresh is what shows the lock was freed.
    o.rotate_refresh_tokens = false;
    let idp = FakeIdp::start(o);
    let env = Env::new(&fleet_config(&idp, &db));
    let mut a = member(&env, 0);
    let b = member(&env, 1);
    let login = env.run(&["login", "o"]);
    assert_eq!(login.status.code(), Some(0), "{}", stderr(&login));

    let a_socket = a.socket.clone();
    let a_call = std::thread::spawn(move || token(&a_socket, "o"));
    let t0 = Instant::now();
    while idp.counters().refresh_requests < 1 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "daemon a never refreshed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // A holds the lock, its refresh in flight; B's client queues behind it.
    let b_socket = b.socket.clone();
    let b_call = std::thread::spawn(move || token(&b_socket, "o"));
    std::thread::sleep(Duration::from_millis(300));
    let waiting = scratch::query(
        &db.url,
        "SELECT count(*)::text FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .unwrap();
    assert_eq!(
        waiting,
        vec![Some("1".into())],
        "b's refresh waits on a's lock"
    );
    let killed_at = Instant::now();
    a.child.kill().unwrap(); // SIGKILL
    a.child.wait().unwrap();
    assert_ne!(a_call.join().unwrap().0, 200);
    let (status, at) = b_call.join().unwrap();
    assert_eq!(status, 200, "{at}");
    assert!(
        killed_at.elapsed() < Duration::from_secs(20),
        "b waited {:?}: the dead daemon's lock outlived it",
        killed_at.elapsed()
    );
    assert_eq!(idp.counters().refresh_requests, 2, "a's refresh, then b's");
    assert_eq!(Some(&at), idp.issued_access_tokens().last());
    // The fleet keeps serving it from the database.
    assert_eq!(token(&b.socket, "o"), (200, at));
}

/// This machine's host name, as a daemon names itself in the shared audit table (`HOST:PID`).
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

/// The fleet keeps one audit log: the daemons' entries and the commands' go to the database's
/// append-only table, each naming the process that wrote it, and `sidekey audit` on any
/// machine of the fleet reads them all. No member writes a file of its own, and no entry holds a
/// token.
#[test]
fn the_fleet_writes_one_audit_table_that_names_each_daemon() {
    let Some(db) = database("audit") else { return };
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let env = Env::new(&fleet_config(&idp, &db));
    let a = member(&env, 0);
    let b = member(&env, 1);
    let login = env.run(&["login", "o"]);
    assert_eq!(login.status.code(), Some(0), "{}", stderr(&login));
    assert_eq!(token(&a.socket, "o").0, 200);
    assert_eq!(token(&b.socket, "o").0, 200);
    let (s, _) = try_raw(&b.socket, "POST", "/v1/token", Some("wrong-key"), None).unwrap();
    assert_eq!(s, 401);

    let shown = env.run(&["audit", "--json"]);
    assert_eq!(shown.status.code(), Some(0), "{}", stderr(&shown));
    let entries: Vec<serde_json::Value> = stdout(&shown)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |m: &Member| format!("{}:{}", host(), m.child.id());
    let by = |daemon: &str, op: &str, outcome: &str| {
        entries
            .iter()
            .filter(|e| e["daemon"] == daemon && e["operation"] == op && e["outcome"] == outcome)
            .count()
    };
    assert_eq!(by(&of(&a), "token", "ok"), 1, "{entries:#?}");
    assert_eq!(by(&of(&b), "token", "ok"), 1, "{entries:#?}");
    assert_eq!(by(&of(&b), "token", "unauthorized"), 1, "{entries:#?}");
    // The sign-in at this terminal is in the same table, named by its own process.
    assert!(
        entries.iter().any(|e| e["operation"] == "login"
            && e["caller"].as_str().unwrap().starts_with("cli")
            && e["daemon"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{}:", host()))),
        "{entries:#?}"
    );
    for (i, m) in [&a, &b].into_iter().enumerate() {
        let file = env.dir.path().join(format!("member{i}/home/audit.log"));
        assert!(
            !file.exists(),
            "daemon {} wrote {}",
            m.child.id(),
            file.display()
        );
    }
    assert!(!env.home.join("audit.log").exists());
    // The text view names the daemon of each entry.
    let text = env.run(&["audit"]);
    assert!(
        stdout(&text).contains(&format!("on {}", of(&a))),
        "{}",
        stdout(&text)
    );
    assert!(
        scratch::query(&db.url, "DELETE FROM sidekey_audit")
            .unwrap_err()
            .contains("append-only")
    );
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    for s in &secrets {
        assert!(
            !stdout(&shown).contains(s.as_str()),
            "a token in the audit table"
        );
    }
}

/// `POST /v1/login` for account `o` on `socket`: the status and the body.
fn start_login(socket: &std::path::Path) -> (u16, String) {
    try_raw(
        socket,
        "POST",
        "/v1/login",
        Some(API_KEY),
        Some(r#"{"account":"o"}"#),
    )
    .unwrap()
}

/// A sign-in started through one daemon is the fleet's: another daemon shows its code while the
/// first polls (and does not poll the provider itself meanwhile), and when the first dies
/// (`kill -9`) mid-sign-in, the other resumes polling the same code and finishes it — one
/// device authorization at the provider, no poll after success.
#[test]
fn a_sign_in_started_on_one_daemon_is_seen_and_finished_on_another() {
    let Some(db) = database("signin") else { return };
    let idp = FakeIdp::start(Options::new(Dialect::Oidc));
    let env = Env::new(&fleet_config(&idp, &db));
    let mut a = member(&env, 0);
    let b = member(&env, 1);
    let (s, body) = start_login(&a.socket);
    assert_eq!(s, 200, "{body}");
    let started: serde_json::Value = serde_json::from_str(&body).unwrap();
    let code = started["user_code"].as_str().unwrap().to_string();

    // B sees it, and waits on it without polling the provider itself: one poller for the fleet.
    let polls_before = idp.counters().polls;
    let t0 = Instant::now();
    let (s, body) = try_raw(&b.socket, "GET", "/v1/login/o?wait=4", Some(API_KEY), None).unwrap();
    let waited = t0.elapsed().as_secs_f64();
    assert_eq!(s, 200, "{body}");
    assert!(body.contains(&code), "b does not show a's code: {body}");
    let polls = idp.counters().polls - polls_before;
    assert!(
        (polls as f64) <= waited + 1.0,
        "{polls} polls in {waited:.1} s at a 1 s interval: more than one daemon polls"
    );
    // A second start on B joins it: the same code, no second device authorization.
    let (s, body) = start_login(&b.socket);
    assert_eq!(s, 200, "{body}");
    assert!(body.contains(&code), "b started another sign-in: {body}");
    assert_eq!(idp.counters().device_requests, 1);

    a.child.kill().unwrap(); // SIGKILL, mid-sign-in
    a.child.wait().unwrap();
    assert!(idp.approve(&code));
    let (s, body) = try_raw(&b.socket, "GET", "/v1/login/o?wait=20", Some(API_KEY), None).unwrap();
    assert_eq!(s, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["event"], "signed_in", "{v}");
    let c = idp.counters();
    assert_eq!((c.device_requests, c.polls_after_success), (1, 0));
    assert_eq!(
        token(&b.socket, "o"),
        (200, idp.issued_access_tokens()[0].clone())
    );
}

/// Three daemons started together on nine accounts that are all due: their background
/// refreshers claim accounts without waiting (a lock another daemon holds is skipped, not
/// queued on), so each account is refreshed once and the nine refreshes spread over the three
/// (about three refreshes' time). Refreshers that queued on each other's locks would take
/// about nine, one after the other.
#[test]
fn background_refreshers_claim_due_accounts_without_queueing() {
    let Some(db) = database("claim") else { return };
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    o.first_access_token_ttl = Some(30); // due from the start
    o.rotate_refresh_tokens = false; // the copies share one refresh token
    let refresh = Duration::from_millis(1000);
    o.refresh_delay = refresh;
    let idp = FakeIdp::start(o);
    let names: Vec<String> = (0..9).map(|i| format!("a{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let env = Env::new(&config_with(&db.url, &idp, &names));
    sign_in_all(&env, &db.url, &names);
    let before = idp.counters().refresh_requests;

    let t0 = Instant::now();
    let members: Vec<Member> = (0..3).map(|n| spawn_member(&env, n)).collect();
    while idp.counters().refresh_requests < before + 9 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the refreshers did not refresh the nine accounts"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = t0.elapsed();
    std::thread::sleep(refresh * 2);
    assert_eq!(
        idp.counters().refresh_requests,
        before + 9,
        "an account was refreshed twice"
    );
    // Nine refreshes of 1 s over three daemons: about 3 s (+ the daemons' start). Queued one
    // after the other they take 9 s or more.
    assert!(
        took < refresh * 6,
        "the refreshers queued behind each other: {took:?} for nine refreshes"
    );
    for (i, n) in names.iter().enumerate() {
        let (status, _) = token(&members[i % 3].socket, n);
        assert_eq!(status, 200, "{n}");
    }
    assert_eq!(idp.counters().refresh_requests, before + 9, "all fresh now");
}
