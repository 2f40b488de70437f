//! A fleet's daemons and its PostgreSQL failing under load (docs/fleet.md, "Tests"): daemons
//! killed with `kill -9` at random points during refreshes, over 100 rounds; PostgreSQL itself
//! stopped and started again. The first runs on the test server as `fleet.rs`; the second on a
//! private server of its own (`initdb` and `pg_ctl` from Debian's packages, on a free port in a
//! temporary folder), so the machine's shared server is never restarted.

use crate::common;
use crate::fleet::{
    Member, config_with, database, member, sign_in_all, spawn_member, token, wait_for,
};

use common::*;
use sidekey_testkit::{Dialect, FakeIdp, Options};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A small xorshift generator: the kill points differ each run, and the seed is printed.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        eprintln!("kill points seeded with {seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The idp of these tests: every token asked for is refreshed (its life is inside the 5 min
/// refresh margin), a refresh takes `delay` at the provider, and the refresh token is echoed
/// back (Okta's way), so the accounts' copies share it and a refresh cut short loses nothing
/// at the provider.
fn busy_idp(delay: Duration) -> FakeIdp {
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    o.access_token_ttl = 30;
    o.first_access_token_ttl = Some(30);
    o.rotate_refresh_tokens = false;
    o.refresh_delay = delay;
    FakeIdp::start(o)
}

/// Every account has its record, signed in: nothing was lost.
fn all_signed_in(url: &str, names: &[&str]) {
    let key = sidekey_vault::Key::parse(VAULT_KEY).unwrap();
    let v = sidekey_vault::Vault::open_postgres(url, "fleet test", &key).unwrap();
    for n in names {
        let rec: serde_json::Value = v
            .load(n)
            .unwrap()
            .unwrap_or_else(|| panic!("{n} lost its record"));
        assert_eq!(rec["state"], "signed_in", "{n}: {}", rec["reauth_reason"]);
    }
}

/// Clients asking `sockets` for the accounts' tokens in a loop until `stop`: each answer with
/// when it was asked for.
type Answers = Vec<(Instant, u16, String)>;

fn client(sockets: Vec<PathBuf>, names: &'static [&'static str], stop: Arc<AtomicBool>) -> Answers {
    let mut got = vec![];
    let mut k = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let at = Instant::now();
        let (status, body) = token(&sockets[k % sockets.len()], names[k % names.len()]);
        if status != 200 {
            std::thread::sleep(Duration::from_millis(5));
        }
        got.push((at, status, body));
        k += 1;
    }
    got
}

const NAMES: &[&str] = &["a0", "a1", "a2", "a3"];

/// Three daemons, four accounts, clients on all three; daemons 0 and 1 killed with `kill -9`
/// at a random moment (every answer is a refresh of 30 ms at the provider, so most kills land
/// in one, its lock held) and started again, 100 times. Daemon 2 is never killed: every one
/// of its answers is a token. Afterwards no account is lost, and every daemon serves them all.
#[test]
fn kill_9_during_refreshes_for_100_rounds() {
    let Some(db) = database("kill9") else { return };
    let idp = busy_idp(Duration::from_millis(30));
    let env = Env::new(&config_with(&db.url, &idp, NAMES));
    sign_in_all(&env, &db.url, NAMES);
    let survivor = member(&env, 2);
    let mut victims: Vec<Member> = (0..2).map(|n| member(&env, n)).collect();
    let before = idp.counters().refresh_requests;
    let mut rng = Rng::new();

    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let (steady, shaken) = std::thread::scope(|s| {
        let steady: Vec<_> = (0..2)
            .map(|_| {
                let (sockets, stop) = (vec![survivor.socket.clone()], stop.clone());
                s.spawn(move || client(sockets, NAMES, stop))
            })
            .collect();
        let shaken: Vec<_> = (0..2)
            .map(|_| {
                let sockets = victims.iter().map(|m| m.socket.clone()).collect();
                let stop = stop.clone();
                s.spawn(move || client(sockets, NAMES, stop))
            })
            .collect();
        for round in 0..100 {
            let n = rng.below(2) as usize;
            std::thread::sleep(Duration::from_millis(rng.below(120)));
            let m = &mut victims[n];
            m.child.kill().unwrap(); // SIGKILL
            m.child.wait().unwrap();
            *m = spawn_member(&env, n);
            wait_for(m, n);
            assert!(
                t0.elapsed() < Duration::from_secs(90),
                "round {round}: too slow"
            );
        }
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::SeqCst);
        let join = |v: Vec<std::thread::ScopedJoinHandle<'_, Answers>>| -> Answers {
            v.into_iter().flat_map(|h| h.join().unwrap()).collect()
        };
        (join(steady), join(shaken))
    });
    eprintln!(
        "100 rounds in {:?}: {} answers of the survivor, {} of the killed daemons ({} tokens), {} refreshes",
        t0.elapsed(),
        steady.len(),
        shaken.len(),
        shaken.iter().filter(|a| a.1 == 200).count(),
        idp.counters().refresh_requests - before
    );
    assert!(
        steady.len() > 50,
        "the survivor answered {} times",
        steady.len()
    );
    for (_, status, body) in &steady {
        assert_eq!(*status, 200, "the survivor failed a request: {body}");
    }
    assert!(shaken.iter().any(|a| a.1 == 200));
    all_signed_in(&db.url, NAMES);
    for m in victims.iter().chain([&survivor]) {
        for n in NAMES {
            assert_eq!(token(&m.socket, n).0, 200, "{n}");
        }
    }
    assert_eq!(idp.counters().refresh_replays, 0);
}

/// A PostgreSQL server of the test's own, in a temporary folder, on a free port; stopped (at
/// once) on drop.
struct PrivatePg {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
}

impl PrivatePg {
    /// `initdb` a cluster (trust auth, user `postgres`) and start it; `Err` says what is
    /// missing.
    fn start() -> Result<PrivatePg, String> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .map_err(|e| format!("/usr/lib/postgresql: {e}"))?
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").exists())
            .max()
            .ok_or("no initdb under /usr/lib/postgresql")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let pg = PrivatePg {
            _dir: dir,
            data,
            bin,
            port,
        };
        if pg.as_root() {
            // PostgreSQL refuses to run as root: the cluster belongs to `postgres`.
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(pg._dir.path())
                .status()
                .map_err(|e| e.to_string())?
                .success();
            if !ok {
                return Err("cannot give the cluster's folder to the user postgres".into());
            }
        }
        let init = pg
            .cmd("initdb")
            .args(["-U", "postgres", "--auth=trust", "--no-sync", "-D"])
            .arg(&pg.data)
            .output()
            .map_err(|e| e.to_string())?;
        if !init.status.success() {
            return Err(format!("initdb: {}", String::from_utf8_lossy(&init.stderr)));
        }
        pg.up()?;
        Ok(pg)
    }

    fn as_root(&self) -> bool {
        std::fs::metadata("/proc/self")
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
            .unwrap_or(false)
    }

    fn cmd(&self, program: &str) -> Command {
        let mut c = if self.as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(program));
            c
        } else {
            Command::new(self.bin.join(program))
        };
        c.stdin(std::process::Stdio::null());
        c
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Start the server and wait until it accepts connections.
    fn up(&self) -> Result<(), String> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.data.display()
        );
        let out = self
            .cmd("pg_ctl")
            .args(["-w", "-t", "30", "-o", &opts, "-l"])
            .arg(self.data.join("server.log"))
            .arg("-D")
            .arg(&self.data)
            .arg("start")
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl start: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Stop the server: `fast` ends every session (their transactions rolled back, their
    /// locks freed) and shuts down cleanly.
    fn down(&self, mode: &str) {
        let _ = self
            .cmd("pg_ctl")
            .args(["-w", "-m", mode, "-D"])
            .arg(&self.data)
            .arg("stop")
            .output();
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        self.down("immediate");
    }
}

/// Two daemons serving four accounts to four clients (every answer a refresh, so rows are
/// written all along) while their PostgreSQL is stopped for a second and started again. The
/// daemons stay up, answer one clear line while it is gone, and serve every request again once
/// it is back; no account is lost and the rows go on being written.
#[test]
fn postgres_restarted_under_load() {
    let pg = match PrivatePg::start() {
        Ok(pg) => pg,
        Err(e) => {
            skip(&Missing {
                what: format!("a private PostgreSQL server ({e})"),
                how: "sudo apt-get install postgresql (initdb and pg_ctl under /usr/lib/postgresql/*/bin)".into(),
            });
            return;
        }
    };
    let url = pg.url();
    let idp = busy_idp(Duration::from_millis(20));
    let env = Env::new(&config_with(&url, &idp, NAMES));
    sign_in_all(&env, &url, NAMES);
    let mut members = [member(&env, 0), member(&env, 1)];

    let stop = Arc::new(AtomicBool::new(false));
    let (answers, down_at, up_at) = std::thread::scope(|s| {
        let clients: Vec<_> = (0..4)
            .map(|i| {
                let sockets = vec![members[i % 2].socket.clone()];
                let stop = stop.clone();
                s.spawn(move || client(sockets, NAMES, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1000));
        let down_at = Instant::now();
        pg.down("fast");
        std::thread::sleep(Duration::from_millis(1000));
        pg.up().unwrap();
        let up_at = Instant::now();
        std::thread::sleep(Duration::from_millis(3000));
        stop.store(true, Ordering::SeqCst);
        let answers: Answers = clients
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        (answers, down_at, up_at)
    });
    let served = |from: Instant, to: Instant| {
        answers
            .iter()
            .filter(|a| a.0 >= from && a.0 < to)
            .collect::<Vec<_>>()
    };
    let start = answers.iter().map(|a| a.0).min().unwrap();
    let end = Instant::now();
    let before = served(start, down_at - Duration::from_millis(50));
    let after = served(up_at + Duration::from_millis(500), end);
    let during = served(down_at, up_at);
    eprintln!(
        "{} answers before the restart, {} while it was down ({} failed), {} after",
        before.len(),
        during.len(),
        during.iter().filter(|a| a.1 != 200).count(),
        after.len()
    );
    assert!(before.len() > 10 && after.len() > 10, "too light a load");
    for (_, status, body) in before.iter().chain(&after) {
        assert_eq!(*status, 200, "{body}");
    }
    for (_, status, body) in &during {
        if *status != 200 {
            assert_eq!(body.trim_end().lines().count(), 1, "{body}");
        }
    }
    for (n, m) in members.iter_mut().enumerate() {
        assert!(m.child.try_wait().unwrap().is_none(), "daemon {n} died");
    }
    // Nothing lost, and what a daemon hands out now is what the database holds.
    std::thread::sleep(Duration::from_millis(1500)); // a store refused while down is retried
    all_signed_in(&url, NAMES);
    let key = sidekey_vault::Key::parse(VAULT_KEY).unwrap();
    let v = sidekey_vault::Vault::open_postgres(&url, "fleet test", &key).unwrap();
    for (i, n) in NAMES.iter().enumerate() {
        let (status, at) = token(&members[i % 2].socket, n);
        assert_eq!(status, 200, "{at}");
        let rec: serde_json::Value = v.load(n).unwrap().unwrap();
        assert_eq!(
            rec["access_token"],
            at.as_str(),
            "{n}: the new token was not stored"
        );
    }
}
