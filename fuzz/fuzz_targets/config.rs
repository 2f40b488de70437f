//! `Config::parse(path, text)`: any config file text.
//!
//! Checks: never panics; an error is one bounded line that starts with the file's path and
//! names a line that exists; an accepted config has only valid account names, a non-zero HTTP
//! timeout, files resolved beside the config, and parsing the same text again gives the same
//! accounts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sidekey::config::Config;
use std::path::Path;

const PATH: &str = "/etc/sidekey/config.toml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new(PATH);
    match Config::parse(path, text) {
        Err(f) => {
            let m = &f.message;
            assert!(m.starts_with(PATH), "error without the path: {m:?}");
            sidekey_fuzz::assert_one_line("config error", m, 600);
            if let Some(rest) = m[PATH.len()..].strip_prefix(" line ") {
                let n: usize = rest
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|d| d.parse().ok())
                    .expect("a line number");
                let lines = text.matches('\n').count() + 1;
                assert!(n >= 1 && n <= lines, "line {n} of {lines}");
            }
        }
        Ok(c) => {
            assert!(c.exists);
            assert!(!c.http_timeout.is_zero());
            for name in c.accounts.keys() {
                assert!(
                    sidekey_vault_name_ok(name),
                    "account name {name:?} accepted"
                );
            }
            if let Some(k) = &c.key_file {
                assert!(
                    k.is_absolute(),
                    "key file {k:?} not resolved beside the config"
                );
            }
            let again = Config::parse(path, text).expect("the same text parses again");
            assert_eq!(
                c.accounts.keys().collect::<Vec<_>>(),
                again.accounts.keys().collect::<Vec<_>>()
            );
        }
    }
});

/// The vault's account name rule, restated: 1–64 of `[a-z0-9_-]`, starting alphanumeric.
fn sidekey_vault_name_ok(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && n.as_bytes()[0].is_ascii_alphanumeric()
}
