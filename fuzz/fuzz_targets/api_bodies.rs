//! The daemon's request bodies: any bytes as `LoginRequest`, `AccountRequest` and `OpRequest`
//! (what `POST /v1/login`, `/v1/token`, `/v1/op`… read with serde_json), then the operation's
//! checks as the daemon runs them before any token is fetched.
//!
//! Checks: never panics (parsing, `validate`, `info`, `audit_args`, `provider`); every accepted
//! body survives the client's round trip (serialise, parse again: equal), since the CLI in client
//! mode sends exactly that; an operation's audit arguments carry no free text; a valid
//! operation is in the catalog under its own name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sidekey::api::{AccountRequest, LoginRequest, OpRequest};
use sidekey::ops::Operation;

fn round_trip<T>(v: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = serde_json::to_vec(v).expect("serialises");
    let again: T = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{v:?} → {:?} does not parse back: {e}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_eq!(
        &again,
        v,
        "round trip through {:?}",
        String::from_utf8_lossy(&bytes)
    );
}

/// Audit arguments are flags, counts and fixed names: never a value the agent typed.
fn check_audit(v: &Value, body: &[u8]) {
    match v {
        Value::String(s) => assert!(
            !s.is_empty()
                && s.len() <= 32
                && s.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'-'
                    || b == b'_'),
            "free text {s:?} in audit args of {:?}",
            String::from_utf8_lossy(body)
        ),
        Value::Array(a) => a.iter().for_each(|x| check_audit(x, body)),
        Value::Object(o) => o.values().for_each(|x| check_audit(x, body)),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = serde_json::from_slice::<LoginRequest>(data) {
        round_trip(&r);
    }
    if let Ok(r) = serde_json::from_slice::<AccountRequest>(data) {
        round_trip(&r);
    }
    if let Ok(r) = serde_json::from_slice::<OpRequest>(data) {
        round_trip(&r);
        let op = &r.op;
        let info = op.info();
        let _ = op.provider();
        check_audit(&op.audit_args(), data);
        if op.validate().is_ok() {
            assert!(
                Operation::named(info.name).is_some_and(|i| std::ptr::eq(i, info) || i == info),
                "{} not in the catalog",
                info.name
            );
        } else {
            let e = op.validate().unwrap_err();
            sidekey_fuzz::assert_one_line("validation error", &e.message, 600);
        }
    }
});
