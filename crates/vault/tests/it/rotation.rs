//! Rotating the vault key (`Vault::reseal_all`, src/rotate.rs) while another vault handle — a
//! daemon — keeps reading and writing: in PostgreSQL (the real server, as `postgres.rs`) and in
//! the file store.

use crate::postgres::database;
use serde::{Deserialize, Serialize};
use sidekey_vault::pg::scratch;
use sidekey_vault::{Key, KeyRing, Vault, VaultError};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Rec {
    refresh: String,
    n: u32,
}

fn copy(k: &Key) -> Key {
    Key::parse(&k.to_base64()).unwrap()
}

/// Write `ring` as a key file.
fn write_ring(path: &Path, ring: &KeyRing) {
    std::fs::write(path, ring.to_file_text()).unwrap();
}

/// A "daemon": reads and rewrites every record in a loop until told to stop; every failure
/// is counted. Returns (stop flag, failures, rounds, the thread).
fn writer(
    v: Vault,
    names: Vec<String>,
) -> (
    Arc<AtomicBool>,
    Arc<AtomicUsize>,
    Arc<AtomicUsize>,
    std::thread::JoinHandle<()>,
) {
    let (stop, failed, rounds) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let (s, f, r) = (stop.clone(), failed.clone(), rounds.clone());
    let t = std::thread::spawn(move || {
        while !s.load(Ordering::SeqCst) {
            for name in &names {
                let ok = (|| -> Result<(), VaultError> {
                    let l = v.lock(name)?;
                    let mut rec: Rec = l.load()?.expect("a record vanished");
                    rec.n += 1;
                    l.store(&rec)
                })();
                if let Err(e) = ok {
                    eprintln!("writer: {name}: {e}");
                    f.fetch_add(1, Ordering::SeqCst);
                }
            }
            r.fetch_add(1, Ordering::SeqCst);
        }
    });
    (stop, failed, rounds, t)
}

fn records(n: usize) -> Vec<(String, Rec)> {
    (0..n)
        .map(|i| {
            (
                format!("acct{i}"),
                Rec {
                    refresh: format!("rt_secret_{i:04}_value"),
                    n: 0,
                },
            )
        })
        .collect()
}

/// In PostgreSQL: 200 rows re-sealed while another handle, started with the old key only,
/// rewrites some of them all along. No write fails (it reads the key file again when it meets
/// the new key id), every row ends under the new key id, the old key alone opens nothing, and
/// the table holds no token bytes.
#[test]
fn postgres_rows_are_resealed_while_a_daemon_writes() {
    let Some(db) = database("rotate") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let key_file = tmp.path().join("vault.key");
    let old = Key::generate().unwrap();
    write_ring(&key_file, &KeyRing::single(copy(&old)));
    let daemon =
        Vault::open_postgres_ring(&db.url, "pg", &KeyRing::single(copy(&old)), Some(&key_file))
            .unwrap();
    let recs = records(200);
    daemon.import_new(&recs).unwrap();
    let busy: Vec<String> = recs.iter().take(20).map(|(n, _)| n.clone()).collect();
    let (stop, failed, rounds, t) = writer(daemon.clone(), busy.clone());

    // The rotation: the key file gets the new key first, then every row is re-sealed.
    let new = Key::generate().unwrap();
    let ring = KeyRing::single(copy(&old)).with_current(copy(&new));
    write_ring(&key_file, &ring);
    let rotator = Vault::open_postgres_ring(&db.url, "pg", &ring, Some(&key_file)).unwrap();
    let before = rounds.load(Ordering::SeqCst);
    let done = rotator.reseal_all().unwrap();
    assert_eq!(done.key_id, new.id());
    // Rows the writer rewrote after it met the new key were already under it.
    assert!(done.records >= 180, "{done:?}");
    // The writer went on meanwhile, and after.
    let t0 = std::time::Instant::now();
    while rounds.load(Ordering::SeqCst) < before + 3 {
        assert!(t0.elapsed().as_secs() < 20, "the writer stalled");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    t.join().unwrap();
    assert_eq!(failed.load(Ordering::SeqCst), 0, "a write failed");
    assert!(rounds.load(Ordering::SeqCst) > before);

    let ids = scratch::query(&db.url, "SELECT DISTINCT key_id FROM sidekey_records").unwrap();
    assert_eq!(ids, vec![Some(new.id())], "every row under the new key");
    // Every record reads with the new key alone, the busy ones with the writer's updates.
    let fresh = Vault::open_postgres(&db.url, "pg", &new).unwrap();
    for (name, rec) in &recs {
        let got: Rec = fresh.load(name).unwrap().unwrap();
        assert_eq!(got.refresh, rec.refresh);
        if busy.contains(name) {
            assert!(got.n > 0, "{name} lost its writes");
        }
    }
    // The old key alone opens nothing: the vault refuses it, and each row names the new key.
    assert!(matches!(
        Vault::open_postgres(&db.url, "pg", &old),
        Err(VaultError::WrongKey(_))
    ));
    // The table, dumped as text, holds no token.
    let dump = scratch::query(
        &db.url,
        "SELECT name || ' ' || version || ' ' || key_id || ' ' || encode(sealed, 'escape') FROM sidekey_records",
    )
    .unwrap();
    let dump: String = dump.into_iter().flatten().collect::<Vec<_>>().join("\n");
    assert!(dump.contains("acct199"));
    assert!(!dump.contains("rt_secret"), "a token in the table");
}

/// In the file store: every sealed file (records, slots, rescues, the key check) re-sealed
/// under the account's lock while a writer with the old key rewrites some of them.
#[test]
fn files_are_resealed_while_a_daemon_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vault");
    let key_file = tmp.path().join("vault.key");
    let old = Key::generate().unwrap();
    write_ring(&key_file, &KeyRing::single(copy(&old)));
    let daemon = Vault::open_ring(&dir, &KeyRing::single(copy(&old)), Some(&key_file)).unwrap();
    let recs = records(40);
    daemon.import_new(&recs).unwrap();
    let l = daemon.lock("acct0").unwrap();
    l.store_slot("pending", &recs[1].1).unwrap();
    l.store_rescue(&recs[2].1).unwrap();
    drop(l);
    let busy: Vec<String> = recs.iter().take(5).map(|(n, _)| n.clone()).collect();
    let (stop, failed, _rounds, t) = writer(daemon.clone(), busy);

    let new = Key::generate().unwrap();
    let ring = KeyRing::single(copy(&old)).with_current(copy(&new));
    write_ring(&key_file, &ring);
    let rotator = Vault::open_ring(&dir, &ring, Some(&key_file)).unwrap();
    let done = rotator.reseal_all().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    t.join().unwrap();
    assert_eq!(failed.load(Ordering::SeqCst), 0, "a write failed");
    assert!(done.records >= 38, "{done:?}");
    // The writer's last writes may have been sealed before it met the new key: a last pass.
    rotator.reseal_all().unwrap();

    let fresh = Vault::open(&dir, &new).unwrap();
    for (name, rec) in &recs {
        assert_eq!(
            fresh.load::<Rec>(name).unwrap().unwrap().refresh,
            rec.refresh
        );
    }
    let l = fresh.lock("acct0").unwrap();
    assert_eq!(l.load_slot::<Rec>("pending").unwrap().unwrap(), recs[1].1);
    assert_eq!(l.load_rescue::<Rec>().unwrap().unwrap(), recs[2].1);
    drop(l);
    assert!(matches!(
        Vault::open(&dir, &old),
        Err(VaultError::WrongKey(_))
    ));
    let old_only = Vault::open_ring(&dir, &KeyRing::single(copy(&old)), None);
    assert!(old_only.is_err(), "the old key opened the rotated vault");
}
