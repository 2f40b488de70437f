//! `sidekey vault rotate-key` on a fleet's PostgreSQL vault while its daemons serve tokens
//! under load (docs/fleet.md, "Rotating the key"). The real PostgreSQL, as `fleet.rs`.

use crate::common;
use crate::fleet::{config_with, database, member, sign_in_all, token};

use common::*;
use sidekey_testkit::{Dialect, FakeIdp, Options};
use sidekey_vault::pg::scratch;
use sidekey_vault::{Key, Vault, VaultError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Two daemons serve four accounts to four clients without a pause — every answer a refresh
/// (the token's life is inside the refresh margin), so rows are written all along — while
/// `sidekey vault rotate-key` writes a new key into the key file and re-seals every row. No
/// request fails; afterwards every row names the new key, the old key alone opens nothing,
/// the daemons go on serving, and the table holds no token.
#[test]
fn rotate_key_while_daemons_serve() {
    let Some(db) = database("rotate") else { return };
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    o.access_token_ttl = 30; // inside the 5 min margin: every token asked for is refreshed
    o.first_access_token_ttl = Some(30);
    o.rotate_refresh_tokens = false; // the copies share one refresh token
    let idp = FakeIdp::start(o);
    let names = ["a0", "a1", "a2", "a3"];
    let env = Env::new(&config_with(&db.url, &idp, &names));
    sign_in_all(&env, &db.url, &names);
    let members = [member(&env, 0), member(&env, 1)];
    let old = Key::parse(VAULT_KEY).unwrap();
    let old_id = old.id();

    let stop = Arc::new(AtomicBool::new(false));
    let answers = std::thread::scope(|s| {
        let clients: Vec<_> = (0..4)
            .map(|i| {
                let socket = members[i % 2].socket.clone();
                let stop = stop.clone();
                s.spawn(move || {
                    let mut got = vec![];
                    let mut k = i;
                    while !stop.load(Ordering::SeqCst) {
                        got.push(token(&socket, names[k % 4]));
                        k += 1;
                    }
                    got
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        let out = env.run(&["vault", "rotate-key"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            stdout(&out).contains("is sealed with key"),
            "{}",
            stdout(&out)
        );
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::SeqCst);
        clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert!(
        answers.len() > 20,
        "the load was too light: {}",
        answers.len()
    );
    for (status, body) in &answers {
        assert_eq!(*status, 200, "a request failed during the rotation: {body}");
    }

    // The key file: the new key first, the old one after it.
    let text = std::fs::read_to_string(&env.key_file).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), 2, "{} lines", lines.len());
    env.secret(lines[0]);
    assert_eq!(lines[1], VAULT_KEY);
    let new = Key::parse(lines[0]).unwrap();
    assert_ne!(new.id(), old_id);
    let ids = scratch::query(&db.url, "SELECT DISTINCT key_id FROM sidekey_records").unwrap();
    assert_eq!(
        ids,
        vec![Some(new.id())],
        "a row is still under the old key"
    );
    assert!(matches!(
        Vault::open_postgres(&db.url, "fleet", &old),
        Err(VaultError::WrongKey(_))
    ));
    let fresh = Vault::open_postgres(&db.url, "fleet", &new).unwrap();
    for n in names {
        assert!(fresh.load::<serde_json::Value>(n).unwrap().is_some(), "{n}");
    }
    // The daemons still serve, with the new key.
    for (i, n) in names.iter().enumerate() {
        assert_eq!(token(&members[i % 2].socket, n).0, 200);
    }
    // The table as a dump shows it holds no token.
    let dump: String = scratch::query(
        &db.url,
        "SELECT name || ' ' || key_id || ' ' || encode(sealed, 'escape') FROM sidekey_records",
    )
    .unwrap()
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("\n");
    assert!(dump.contains("a3 "), "{dump:.200}");
    for t in idp
        .issued_access_tokens()
        .iter()
        .chain(idp.issued_refresh_tokens().iter())
    {
        assert!(!dump.contains(t.as_str()), "a token in the table");
    }
    // Again with --finish: nothing left to re-seal.
    let out = env.run(&["vault", "rotate-key", "--finish"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("(0 re-sealed, 1 pass)"),
        "{}",
        stdout(&out)
    );
}

/// A key that does not come from a file cannot be rotated in place: one line, exit 2,
/// nothing changed.
#[test]
fn a_key_from_the_environment_is_not_rotated() {
    let env = Env::new("");
    let out = env
        .cmd(&["vault", "rotate-key"])
        .env_remove("SIDEKEY_VAULT_KEY_FILE")
        .env("SIDEKEY_VAULT_KEY", VAULT_KEY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("SIDEKEY_VAULT_KEY"), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(!e.contains(VAULT_KEY));
}

/// The file vault rotates too: every sealed file re-sealed with the new key, the token still
/// served (here by the command line, reading the rewritten key file), the old key refused.
#[test]
fn rotate_key_of_the_file_vault() {
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let env = Env::new(&format!(
        "{}[accounts.o.policy]\nallow_token_export = true\n",
        account_toml("o", Dialect::Oidc, &idp)
    ));
    let login = env.run(&["login", "o"]);
    assert_eq!(login.status.code(), Some(0), "{}", stderr(&login));
    let before = env.run(&["token", "o"]);
    assert_eq!(before.status.code(), Some(0), "{}", stderr(&before));

    let out = env.run(&["vault", "rotate-key"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The record, its side records and the key check; a second pass finds nothing left.
    assert!(
        stdout(&out).contains(" re-sealed, 2 passes)"),
        "{}",
        stdout(&out)
    );
    let text = std::fs::read_to_string(&env.key_file).unwrap();
    let new = text
        .lines()
        .find(|l| !l.starts_with('#'))
        .unwrap()
        .to_string();
    env.secret(&new);
    let after = env.run(&["token", "o"]);
    assert_eq!(after.status.code(), Some(0), "{}", stderr(&after));
    assert_eq!(
        stdout(&after),
        stdout(&before),
        "the same token, from the re-sealed file"
    );
    let old = Key::parse(VAULT_KEY).unwrap();
    assert!(matches!(
        Vault::open(&env.home.join("vault"), &old),
        Err(VaultError::WrongKey(_))
    ));
    let v = Vault::open(&env.home.join("vault"), &Key::parse(&new).unwrap()).unwrap();
    assert!(v.load::<serde_json::Value>("o").unwrap().is_some());
}
