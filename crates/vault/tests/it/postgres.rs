//! The PostgreSQL store against a real PostgreSQL (`SIDEKEY_TEST_PG`, default the local server's
//! `test` database; each test makes a database of its own and drops it). Without a server the
//! tests are skipped with a SKIPPED line, and fail under CI (`CI` set).

use serde::{Deserialize, Serialize};
use sidekey_vault::pg::scratch::{self, Database};
use sidekey_vault::{Key, Vault, VaultError};
use std::time::{Duration, Instant};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Rec {
    refresh: String,
    n: u32,
}

/// A database of the test's own, or `None` after a SKIPPED line (a failure under CI).
pub(crate) fn database(tag: &str) -> Option<Database> {
    match Database::new(tag) {
        Ok(db) => Some(db),
        Err(e) if std::env::var_os("CI").is_none() => {
            use std::io::Write;
            let test = std::thread::current()
                .name()
                .unwrap_or("a test")
                .to_string();
            let _ = writeln!(
                std::io::stderr().lock(),
                "SKIPPED {test}: PostgreSQL is not running at {} ({e}) (run: {})",
                scratch::server_url(),
                scratch::HOW
            );
            None
        }
        Err(e) => panic!(
            "PostgreSQL is not running ({e}); .ci/run starts it (or run: {})",
            scratch::HOW
        ),
    }
}

fn open(db: &Database, key: &Key) -> Result<Vault, VaultError> {
    Vault::open_postgres(&db.url, "postgres test", key)
}

fn sql(db: &Database, q: &str) -> Vec<Option<String>> {
    scratch::query(&db.url, q).unwrap()
}

#[test]
fn records_slots_and_rescues_roundtrip_sealed() {
    let Some(db) = database("roundtrip") else {
        return;
    };
    let v = open(&db, &Key::generate().unwrap()).unwrap();
    let r = Rec {
        refresh: "rt_secret_value".into(),
        n: 7,
    };
    let l = v.lock("work").unwrap();
    l.store(&r).unwrap();
    l.store_slot("pending", &5u32).unwrap();
    l.store_rescue(&9u32).unwrap();
    assert_eq!(v.load::<Rec>("work").unwrap(), Some(r));
    assert_eq!(v.load_slot::<u32>("work", "pending").unwrap(), Some(5));
    assert_eq!(l.load_rescue::<u32>().unwrap(), Some(9));
    assert_eq!(
        v.accounts().unwrap(),
        vec!["work".to_string()],
        "slots, rescues and the key check are not accounts"
    );
    // The database never sees the token: every row is sealed.
    let dump = sql(&db, "SELECT encode(sealed, 'escape') FROM sidekey_records");
    assert!(
        dump.iter()
            .flatten()
            .all(|row| !row.contains("rt_secret_value"))
    );
    // Each write is a new version.
    l.store(&Rec {
        refresh: "x".into(),
        n: 8,
    })
    .unwrap();
    assert_eq!(
        sql(
            &db,
            "SELECT version::text FROM sidekey_records WHERE name = 'work'"
        ),
        vec![Some("2".into())]
    );
    l.remove_rescue().unwrap();
    l.remove_slot("pending").unwrap();
    l.remove().unwrap();
    assert_eq!(v.load::<Rec>("work").unwrap(), None);
    assert_eq!(l.load_rescue::<u32>().unwrap(), None);
}

/// A row opens only as itself at its version: another account's row copied over it, or its own
/// older ciphertext put back (a rollback to a refresh token the provider has replaced), is
/// refused and left alone.
#[test]
fn rows_are_bound_to_their_account_and_version() {
    let Some(db) = database("binding") else {
        return;
    };
    let v = open(&db, &Key::generate().unwrap()).unwrap();
    v.lock("a").unwrap().store(&1u32).unwrap();
    v.lock("b").unwrap().store(&2u32).unwrap();
    sql(
        &db,
        "UPDATE sidekey_records SET sealed = (SELECT sealed FROM sidekey_records WHERE name = 'a') WHERE name = 'b'",
    );
    assert!(matches!(v.load::<u32>("b"), Err(VaultError::CorruptRow(n)) if n == "b"));
    let old = sql(
        &db,
        "SELECT encode(sealed, 'hex') FROM sidekey_records WHERE name = 'a'",
    )[0]
    .clone()
    .unwrap();
    v.lock("a").unwrap().store(&3u32).unwrap();
    sql(
        &db,
        &format!("UPDATE sidekey_records SET sealed = decode('{old}', 'hex') WHERE name = 'a'"),
    );
    assert!(matches!(v.load::<u32>("a"), Err(VaultError::CorruptRow(_))));
    sql(
        &db,
        &format!(
            "UPDATE sidekey_records SET sealed = decode('{old}', 'hex'), version = 1 WHERE name = 'a'"
        ),
    );
    assert_eq!(
        v.load::<u32>("a").unwrap(),
        Some(1),
        "the old row at its own version opens"
    );
}

#[test]
fn a_wrong_key_is_refused_and_writes_nothing() {
    let Some(db) = database("wrongkey") else {
        return;
    };
    let right = Key::generate().unwrap();
    let v = open(&db, &right).unwrap();
    v.lock("a").unwrap().store(&1u32).unwrap();
    let err = open(&db, &Key::generate().unwrap()).err().unwrap();
    assert!(matches!(err, VaultError::WrongKey(_)), "{err}");
    // Without the key check, the rows still tell.
    sql(&db, "DELETE FROM sidekey_records WHERE name = ':keycheck'");
    let err = open(&db, &Key::generate().unwrap()).err().unwrap();
    assert!(matches!(err, VaultError::WrongKey(_)), "{err}");
    assert_eq!(
        sql(&db, "SELECT count(*)::text FROM sidekey_records"),
        vec![Some("1".into())]
    );
    let v = open(&db, &right).unwrap();
    assert_eq!(v.load::<u32>("a").unwrap(), Some(1));
    // A row sealed with another key says so by its key id.
    sql(
        &db,
        "UPDATE sidekey_records SET key_id = '0011223344556677' WHERE name = 'a'",
    );
    let err = v.load::<u32>("a").unwrap_err();
    assert!(matches!(err, VaultError::OtherKey(..)), "{err}");
}

#[test]
fn a_schema_newer_than_this_build_is_refused() {
    let Some(db) = database("schema") else { return };
    let key = Key::generate().unwrap();
    open(&db, &key).unwrap();
    open(&db, &key).unwrap(); // migrating twice is a no-op
    assert_eq!(
        sql(&db, "SELECT max(version)::text FROM sidekey_schema"),
        vec![Some(sidekey_vault::pg::SCHEMA_VERSION.to_string())]
    );
    sql(&db, "INSERT INTO sidekey_schema (version) VALUES (99)");
    let err = open(&db, &key).err().unwrap().to_string();
    assert!(
        err.contains("version 99, newer than this sidekey knows"),
        "{err}"
    );
    assert!(!err.contains("postgres://"), "{err}");
}

/// The account lock holds across daemons (two vaults, two sets of connections), is waited for
/// only as long as asked, and goes with its connection when the holder's connection dies.
#[test]
fn locks_hold_across_vaults_and_end_with_their_connection() {
    let Some(db) = database("locks") else { return };
    let key = Key::generate().unwrap();
    let one = open(&db, &key).unwrap();
    let two = open(&db, &key).unwrap();
    let held = one.lock("work").unwrap();
    let t0 = Instant::now();
    assert!(
        two.lock_within("work", Duration::from_millis(300))
            .unwrap()
            .is_none(),
        "a held lock was taken"
    );
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert!(
        two.lock_within("other", Duration::ZERO).unwrap().is_some(),
        "other accounts are free"
    );
    assert!(
        two.try_lock_named("work", "login").unwrap().is_some(),
        "a named lock is its own"
    );
    drop(held);
    let again = two
        .lock_within("work", Duration::from_secs(5))
        .unwrap()
        .expect("a released lock stayed taken");
    // The holder's connection dies (as with a daemon killed with -9): the server ends its
    // transaction and the lock with it.
    let killed = sql(
        &db,
        "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'",
    );
    assert_eq!(killed, vec![Some("true".into())]);
    assert!(
        one.lock_within("work", Duration::from_secs(5))
            .unwrap()
            .is_some(),
        "the dead holder's lock stayed"
    );
    drop(again);
}

/// The shared audit table: entries from two vaults (two daemons) land in one table in the order
/// written, are read back page by page and from a cutoff, and no one can change or remove them
/// (the table's trigger refuses UPDATE, DELETE and TRUNCATE, even from the table's owner).
#[test]
fn the_audit_table_is_shared_and_append_only() {
    let Some(db) = database("audit") else { return };
    let key = Key::generate().unwrap();
    let one = open(&db, &key).unwrap();
    let two = open(&db, &key).unwrap();
    for i in 0..5 {
        let (v, who) = if i % 2 == 0 {
            (&one, "a:1")
        } else {
            (&two, "b:2")
        };
        v.audit_append(who, &format!(r#"{{"operation":"token","n":{i}}}"#))
            .unwrap();
    }
    let first = one.audit_page(0, None, 3).unwrap();
    assert_eq!(first.len(), 3);
    let rest = two.audit_page(first[2].0, None, 100).unwrap();
    assert_eq!(rest.len(), 2);
    let ns: Vec<i64> = first
        .iter()
        .chain(&rest)
        .map(|(_, e)| {
            serde_json::from_str::<serde_json::Value>(e).unwrap()["n"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(ns, [0, 1, 2, 3, 4]);
    assert_eq!(
        sql(
            &db,
            "SELECT string_agg(daemon, ',' ORDER BY id) FROM sidekey_audit"
        ),
        vec![Some("a:1,b:2,a:1,b:2,a:1".into())]
    );
    // A cutoff in the future leaves nothing; one in the past everything.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(one.audit_page(0, Some(now + 3600), 100).unwrap().is_empty());
    assert_eq!(one.audit_page(0, Some(now - 3600), 100).unwrap().len(), 5);
    // Not JSON: refused by the database, nothing written.
    assert!(one.audit_append("a:1", "not json").is_err());
    for change in [
        "UPDATE sidekey_audit SET daemon = 'forged'",
        "DELETE FROM sidekey_audit",
        "TRUNCATE sidekey_audit",
    ] {
        let err = scratch::query(&db.url, change).unwrap_err();
        assert!(err.contains("append-only"), "{change}: {err}");
    }
    assert_eq!(
        sql(
            &db,
            "SELECT count(*)::text FROM sidekey_audit WHERE daemon <> 'forged'"
        ),
        vec![Some("5".into())]
    );
}
