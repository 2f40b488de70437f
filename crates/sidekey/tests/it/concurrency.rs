//! Sixteen `sidekey token` processes race on an expired access token: the account lock makes
//! the refresh single-flight, so exactly one refresh request reaches the provider and every
//! process prints the same new token. The test holds the account's lock until all sixteen wait
//! on it (seen in `/proc/locks`), so they did race, however loaded the machine is.

use crate::common;

use common::*;
use sidekey_testkit::{Dialect, FakeIdp, Options};
use std::time::Duration;

#[test]
fn sixteen_processes_one_refresh() {
    let mut o = Options::new(Dialect::Oidc);
    o.auto_approve_after_polls = Some(1);
    o.first_access_token_ttl = Some(30); // inside the refresh margin from the start
    o.refresh_delay = Duration::from_millis(400); // keep the others waiting on the lock
    let idp = FakeIdp::start(o);
    let env = Env::new(&account_toml("o", Dialect::Oidc, &idp));
    let login = env.run(&["login", "o"]);
    assert_eq!(login.status.code(), Some(0), "{}", stderr(&login));

    let lock = env.home.join("vault/locks/o.lock");
    assert!(
        lock.exists(),
        "the sign-in took no account lock at {}",
        lock.display()
    );
    let mut children = vec![];
    hold_flock_until(
        &lock,
        Duration::from_secs(60),
        |waiting| {
            if children.is_empty() {
                children = (0..16)
                    .map(|_| {
                        env.cmd(&["token", "o"])
                            .stdout(std::process::Stdio::piped())
                            .stderr(std::process::Stdio::piped())
                            .spawn()
                            .unwrap()
                    })
                    .collect();
            }
            waiting == 16
        },
        "sixteen `sidekey token` on an expired token",
    );
    assert_eq!(
        idp.counters().refresh_requests,
        0,
        "a refresh went around the lock"
    );
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for o in &outputs {
        assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
    }
    let tokens: Vec<String> = outputs
        .iter()
        .map(|o| stdout(o).trim().to_string())
        .collect();
    let c = idp.counters();
    assert_eq!(
        c.refresh_requests, 1,
        "exactly one refresh reached the server"
    );
    let new = idp.issued_access_tokens().last().cloned().unwrap();
    assert_ne!(new, idp.issued_access_tokens()[0]);
    assert!(
        tokens.iter().all(|t| *t == new),
        "all 16 print the new token"
    );
    assert!(idp.access_token_valid(&new));
}
