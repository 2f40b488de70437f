//! The vault's sealed files (`sidekey_vault`): what a read finds on disk — magic, nonce,
//! ciphertext and tag — opened, decrypted and decoded as a record.
//!
//! Checks: sealing then reading gives the record back (and exactly `HEADER + len + 16` bytes
//! starting `SKV1`); any change to a sealed file (a flipped bit, a cut, bytes added or replaced
//! anywhere, header included), a file sealed for another record name or with another key, or
//! any other bytes, is refused as damaged — never a panic, never a different record; a record
//! that opens but does not decode is a `Format` error that does not quote its content (a sealed
//! record is a refresh token); every error is one line.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};
use sidekey_vault::{Key, Vault, VaultError, fuzzing};
use std::sync::OnceLock;

const NAME: &str = "acct";
const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Rec {
    refresh: String,
    n: u32,
}

#[derive(Arbitrary, Debug)]
enum Record {
    /// A record of the shape read back.
    Good { refresh: String, n: u32 },
    /// Another version's shape, with the token where a number is expected.
    WrongShape { token: String },
    /// Any plaintext at all.
    Bytes(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Mutation {
    None,
    Flip {
        at: u32,
        mask: u8,
    },
    Truncate(u32),
    Append(Vec<u8>),
    Insert {
        at: u32,
        bytes: Vec<u8>,
    },
    Replace {
        at: u32,
        bytes: Vec<u8>,
    },
    /// Read under another record name (a file copied over another account's).
    OtherName(String),
    /// Opened with another key.
    OtherKey([u8; 32]),
    /// Anything at all on disk.
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    nonce: [u8; 24],
    record: Record,
    mutation: Mutation,
}

fn key() -> Key {
    Key::parse(KEY_HEX).unwrap()
}

fn vault() -> &'static Vault {
    static V: OnceLock<Vault> = OnceLock::new();
    V.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sidekey-fuzz-vault-{}", std::process::id()));
        Vault::open(&dir, &key()).expect("a vault in the temp dir")
    })
}

fn one_line(what: &str, e: &VaultError) -> String {
    let text = e.to_string();
    assert!(
        !text.chars().any(sidekey_net::hidden),
        "{what}: not one clean line: {text:?}"
    );
    text
}

fn at(i: u32, len: usize) -> usize {
    if len == 0 { 0 } else { i as usize % (len + 1) }
}

fuzz_target!(|input: Input| {
    let token = match &input.record {
        Record::WrongShape { token } => Some(format!("1//0g{token}")),
        _ => None,
    };
    let plain = match &input.record {
        Record::Good { refresh, n } => serde_json::to_vec(&Rec {
            refresh: refresh.clone(),
            n: *n,
        })
        .unwrap(),
        Record::WrongShape { .. } => {
            serde_json::to_vec(&serde_json::json!({"refresh": 5, "n": token})).unwrap()
        }
        Record::Bytes(b) => b.clone(),
    };
    let k = key();
    let sealed = fuzzing::seal(&k, NAME, &input.nonce, &plain);
    assert_eq!(sealed.len(), fuzzing::HEADER + plain.len() + 16);
    assert!(sealed.starts_with(b"SKV1"));
    assert_eq!(
        fuzzing::open(&k, NAME, &sealed).as_deref(),
        Some(&plain[..])
    );

    let v = vault();
    let path = v.account_path(NAME);

    // What is on disk, and under which name and key it is read.
    let (bytes, name, other_key) = match &input.mutation {
        Mutation::None => (sealed.clone(), NAME.to_string(), None),
        Mutation::Flip { at: i, mask } => {
            let mut b = sealed.clone();
            let i = *i as usize % b.len();
            b[i] ^= if *mask == 0 { 1 } else { *mask };
            (b, NAME.into(), None)
        }
        Mutation::Truncate(n) => (
            sealed[..*n as usize % sealed.len()].to_vec(),
            NAME.into(),
            None,
        ),
        Mutation::Append(x) => {
            let mut b = sealed.clone();
            b.extend_from_slice(x);
            (b, NAME.into(), None)
        }
        Mutation::Insert { at: i, bytes } => {
            let mut b = sealed.clone();
            let i = at(*i, b.len());
            b.splice(i..i, bytes.iter().copied());
            (b, NAME.into(), None)
        }
        Mutation::Replace { at: i, bytes } => {
            let mut b = sealed.clone();
            let i = at(*i, b.len());
            let end = (i + bytes.len()).min(b.len());
            b.splice(i..end, bytes.iter().copied());
            (b, NAME.into(), None)
        }
        Mutation::OtherName(n) => (sealed.clone(), n.clone(), None),
        Mutation::OtherKey(o) => (sealed.clone(), NAME.into(), Some(o)),
        Mutation::Raw(r) => (r.clone(), NAME.into(), None),
    };
    let changed = bytes != sealed || name != NAME || other_key.is_some_and(|o| hex(o) != KEY_HEX);

    if let Some(o) = other_key {
        let other = Key::parse(&hex(o)).unwrap();
        let opened = fuzzing::open(&other, NAME, &bytes);
        assert_eq!(opened.is_some(), !changed, "another key opened the file");
        return;
    }
    if name != NAME {
        assert_eq!(
            fuzzing::open(&k, &name, &bytes),
            None,
            "a file sealed for {NAME:?} opened as {name:?}"
        );
        return;
    }

    std::fs::write(&path, &bytes).unwrap();
    let got = v.load::<Rec>(NAME);
    if changed {
        assert_eq!(
            fuzzing::open(&k, NAME, &bytes),
            None,
            "an altered file opened"
        );
        match &got {
            Err(e @ VaultError::Corrupt(p)) => {
                assert_eq!(p, &path);
                one_line("damaged file", e);
            }
            other => panic!("an altered sealed file read as {other:?}"),
        }
        return;
    }
    match (&input.record, &got) {
        (Record::Good { refresh, n }, Ok(Some(r))) => {
            assert_eq!(
                r,
                &Rec {
                    refresh: refresh.clone(),
                    n: *n
                }
            );
        }
        (Record::Good { .. }, other) => panic!("a sealed record read back as {other:?}"),
        (Record::WrongShape { .. }, Err(e @ VaultError::Format { .. })) => {
            let text = one_line("undecodable record", e);
            let token = token.unwrap();
            assert!(
                !text.contains(&token),
                "the record's token in the error: {text:?}"
            );
        }
        (Record::WrongShape { .. }, other) => panic!("a record of another shape read as {other:?}"),
        (Record::Bytes(_), Ok(Some(r))) => {
            assert_eq!(serde_json::from_slice::<Rec>(&plain).ok().as_ref(), Some(r));
        }
        (Record::Bytes(_), Err(e @ VaultError::Format { .. })) => {
            one_line("undecodable record", e);
        }
        (Record::Bytes(_), other) => panic!("a sealed file read as {other:?}"),
    }
});

fn hex(k: &[u8; 32]) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}
