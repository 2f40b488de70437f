//! Crash safety: writer processes are killed with SIGKILL at random moments while they rewrite
//! the vault under its lock. Afterwards the vault must open and hold a record at least as new as
//! the last one any writer reported committed — never a torn, lost or rolled-back one.
//!
//! The writers are this same test binary, re-run with `SIDEKEY_CRASH_CHILD` set.

use serde::{Deserialize, Serialize};
use sidekey_vault::{Key, Vault};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

const KEY: &str = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs=";

#[derive(Serialize, Deserialize, Debug)]
struct Record {
    n: u64,
    refresh_token: String,
    padding: String,
}

#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("SIDEKEY_CRASH_CHILD") else {
        return; // only does something when re-run as a writer
    };
    let vault = Vault::open(std::path::Path::new(&dir), &Key::parse(KEY).unwrap()).unwrap();
    let mut out = std::io::stdout().lock();
    loop {
        let lock = vault.lock("acct").unwrap();
        let cur: Option<Record> = lock.load().unwrap();
        let n = cur.map(|r| r.n + 1).unwrap_or(1);
        let rec = Record {
            n,
            refresh_token: format!("rt-{n}"),
            padding: "x".repeat(8192 + (n as usize % 5000)),
        };
        lock.store(&rec).unwrap();
        drop(lock);
        writeln!(out, "{n}").unwrap();
        out.flush().unwrap();
    }
}

/// `crash_child`'s name as libtest knows it (its module path inside the test binary, e.g.
/// `crash::crash_child`), for re-running exactly that test as a writer.
fn child_test_name() -> String {
    match module_path!().split_once("::") {
        Some((_, module)) => format!("{module}::crash_child"),
        None => "crash_child".to_string(),
    }
}

fn pseudo_random(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn sigkill_while_writing_never_loses_the_last_commit() {
    if std::env::var("SIDEKEY_CRASH_CHILD").is_ok() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vault");
    let exe = std::env::current_exe().unwrap();
    let child = child_test_name();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ std::process::id() as u64;
    let mut last_committed = 0u64;
    for round in 0..25 {
        // Three writers at once: the lock must also keep them from losing each other's updates.
        let mut kids: Vec<_> = (0..3)
            .map(|_| {
                Command::new(&exe)
                    .args(["--exact", &child, "--nocapture", "--test-threads=1"])
                    .env("SIDEKEY_CRASH_CHILD", &dir)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let (committed, commits) = std::sync::mpsc::channel::<usize>();
        let readers: Vec<_> = kids
            .iter_mut()
            .enumerate()
            .map(|(i, k)| {
                let out = k.stdout.take().unwrap();
                let committed = committed.clone();
                std::thread::spawn(move || {
                    let mut max = 0u64;
                    for line in BufReader::new(out).lines() {
                        let Ok(line) = line else { break };
                        // The first number shares its line with libtest's `test crash::crash_child ... `
                        // prefix: read the last word, or that commit goes uncounted.
                        let last = line.split_whitespace().last().unwrap_or("");
                        if let Ok(n) = last.parse::<u64>() {
                            max = max.max(n);
                            let _ = committed.send(i);
                        }
                    }
                    max
                })
            })
            .collect();
        drop(committed);
        // The kill comes once all three writers have committed in this round, so they are all
        // in their write loop, contending for the lock, when it comes: on a loaded machine a
        // fixed sleep could kill writers that had not started yet, and the round test nothing.
        let t0 = std::time::Instant::now();
        let mut writing = [false; 3];
        while !writing.iter().all(|w| *w) {
            match commits.recv_timeout(Duration::from_secs(60).saturating_sub(t0.elapsed())) {
                Ok(i) => writing[i] = true,
                Err(_) => {
                    panic!("round {round}: writers {writing:?} never all committed within 60 s")
                }
            }
        }
        std::thread::sleep(Duration::from_millis(pseudo_random(&mut seed) % 120));
        for k in &mut kids {
            k.kill().unwrap(); // SIGKILL
            std::thread::sleep(Duration::from_micros(pseudo_random(&mut seed) % 3000));
        }
        for k in &mut kids {
            k.wait().unwrap();
        }
        let reported = readers
            .into_iter()
            .map(|r| r.join().unwrap())
            .max()
            .unwrap();
        last_committed = last_committed.max(reported);

        let vault = Vault::open(&dir, &Key::parse(KEY).unwrap()).unwrap();
        let rec: Record = vault
            .load("acct")
            .unwrap_or_else(|e| panic!("round {round}: vault unreadable: {e}"))
            .unwrap_or_else(|| panic!("round {round}: record lost"));
        assert!(
            rec.n >= last_committed,
            "round {round}: vault has {} but {} was committed",
            rec.n,
            last_committed
        );
        // A write can land after a writer's last report, at most one per writer.
        assert!(
            rec.n <= last_committed + 3,
            "round {round}: {} vs {}",
            rec.n,
            last_committed
        );
        assert_eq!(rec.refresh_token, format!("rt-{}", rec.n));
        last_committed = rec.n;
    }
    assert!(
        last_committed > 25,
        "writers made progress: {last_committed}"
    );
    // No temp files left behind that could be mistaken for accounts.
    let vault = Vault::open(&dir, &Key::parse(KEY).unwrap()).unwrap();
    assert_eq!(vault.accounts().unwrap(), vec!["acct".to_string()]);
}
