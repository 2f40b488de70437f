//! `Config::parse(path, text)`: any config file text.
//!
//! Checks: never panics; an error is one bounded line that starts with the file's path and
//! names a line that exists; an accepted config has only valid account names, a non-zero HTTP
//! timeout, files resolved beside the config. Re-parse: the same text read again gives the same
//! config (all of it, compared through `Debug`) or the same error; the TOML document written
//! out again by `toml` (another layout) gives the same config, or fails as well, with the same
//! exit code and reason.
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
            // Reading is a function of the text: the same text gives the same config, all of
            // it (accounts with their endpoints, scopes, policies; notify; server; timeouts).
            let again = Config::parse(path, text).expect("the same text parses again");
            assert_eq!(
                format!("{c:?}"),
                format!("{again:?}"),
                "a second read differs"
            );
        }
    }
    // ... and of the TOML it holds, not of how it is written: the document written out again
    // (another layout, key order, quoting, number and string forms) gives the same config, or
    // fails too, as a config error.
    let first = Config::parse(path, text);
    let Ok(doc) = text.parse::<toml::Table>() else {
        assert!(first.is_err(), "text that is not TOML accepted");
        return;
    };
    let Ok(rewritten) = toml::to_string(&doc) else {
        return;
    };
    let second = Config::parse(path, &rewritten);
    match (&first, &second) {
        (Ok(a), Ok(b)) => assert_eq!(
            format!("{a:?}"),
            format!("{b:?}"),
            "the same TOML written as {rewritten:?} reads differently"
        ),
        (Err(a), Err(b)) => {
            assert_eq!((a.exit, a.reason), (b.exit, b.reason));
            assert_eq!(
                Config::parse(path, text).unwrap_err().message,
                a.message,
                "the error is not stable"
            );
        }
        (a, b) => panic!(
            "the same TOML reads as {:?} from the text and {:?} written as {rewritten:?}",
            a.as_ref().map(|_| "a config").map_err(|e| &e.message),
            b.as_ref().map(|_| "a config").map_err(|e| &e.message),
        ),
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
