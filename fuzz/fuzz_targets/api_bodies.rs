//! The daemon's request bodies: any bytes as `LoginRequest`, `AccountRequest`, `OpRequest` and
//! `RefusalReport` (what `POST /v1/login`, `/v1/token`, `/v1/op`, `/v1/refused`… read), then
//! the operation's checks as the daemon runs them, then the call itself through the guard as
//! the agent makes it (`sidekey::fuzzing::Sandbox`: one GitHub account, nothing reaches the
//! network), and the audit entry it writes.
//!
//! Checks: never panics; every accepted body survives the client's round trip (serialise, parse
//! again: equal), since the CLI in client mode sends exactly that; a valid operation is in the
//! catalog under its own name; a validation error is one line. The audit provenance of what
//! the agent typed: each call writes exactly one entry, one JSON line, attributed to the agent
//! (`api:tcp`, `mcp uid=N`: the caller as the guard knows it, whatever the body says); its
//! text view (`sidekey audit`) is one line starting with the time and that caller, with nothing
//! in it that a terminal acts on or hides (no control, bidi, zero-width or line-separator
//! character: an account or operation name cannot forge a second entry or reorder the line);
//! its arguments hold only flags, counts and fixed names, except the values an export is
//! reviewed by (`account_id`, `role_name`, `host`, `refused_host`, `program`), which are
//! exactly what the agent sent, only after they passed validation, and clean.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sidekey::api::{AccountRequest, LoginRequest, OpRequest, RefusalReport};
use sidekey::audit::{Entry, render};
use sidekey::backend::{Call, Caller};
use sidekey::catalog::Operation;
use sidekey::fuzzing::Sandbox;
use std::sync::OnceLock;

fn sandbox() -> &'static Sandbox {
    static S: OnceLock<Sandbox> = OnceLock::new();
    S.get_or_init(Sandbox::new)
}

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

/// The argument names under which the audit keeps a value the agent typed.
const TYPED: &[&str] = &["account_id", "role_name", "host", "refused_host", "program"];

/// A fixed name or flag word sidekey writes itself.
fn fixed(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Every string in the audit arguments, with the name it is under.
fn strings<'a>(v: &'a Value, key: &'a str, out: &mut Vec<(&'a str, &'a str)>) {
    match v {
        Value::String(s) => out.push((key, s)),
        Value::Array(a) => a.iter().for_each(|x| strings(x, key, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| strings(x, k, out)),
        _ => {}
    }
}

/// Every string the agent sent.
fn sent(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| sent(x, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push(k.clone());
            sent(x, out)
        }),
        _ => {}
    }
}

/// Make `call` as `caller` and check the one entry it writes.
fn audited(caller: &Caller, call: Call, valid: bool, data: &[u8]) {
    let (_, lines) = sandbox().guard(caller, call);
    let body = String::from_utf8_lossy(data);
    assert_eq!(
        lines.len(),
        1,
        "one call, one entry: {lines:?} for {body:?}"
    );
    let line = &lines[0];
    assert!(
        line.ends_with('\n') && !line[..line.len() - 1].contains(['\n', '\r']),
        "not one line: {line:?}"
    );
    let e: Entry = serde_json::from_str(line).expect("an entry");

    // Attributed to the agent, as the guard knows it.
    let who = caller.audit_name();
    assert!(who.starts_with("api:") || who.starts_with("mcp"), "{who}");
    assert_eq!(e.caller, who, "the entry's caller for {body:?}");

    // The text view: one line, the time and the caller first, nothing hidden or acting.
    let text = render(&e);
    sidekey_fuzz::assert_printable("audit line", &text);
    assert!(!text.contains('\n'), "{text:?}");
    assert!(
        text.starts_with(&format!("{}  {}", e.time, who)),
        "the line does not start with its time and caller: {text:?}"
    );

    // The arguments: fixed words, or the values an export is reviewed by.
    let mut typed = Vec::new();
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        sent(&v, &mut typed);
    }
    let mut found = Vec::new();
    strings(&e.args, "", &mut found);
    for (key, s) in found {
        if TYPED.contains(&key) {
            assert!(
                valid,
                "{key}={s:?} recorded from a call that failed validation: {body:?}"
            );
            assert!(
                typed.iter().any(|t| t == s),
                "{key}={s:?} is not what the agent sent"
            );
            sidekey_fuzz::assert_printable("a typed audit value", s);
            assert!(s.chars().count() <= 260, "{key}: {s:?}");
        } else {
            assert!(
                fixed(s),
                "free text {key}={s:?} in the audit args of {body:?}"
            );
        }
    }
}

fn caller(data: &[u8]) -> Caller {
    if data.len().is_multiple_of(2) {
        Caller::api("api:tcp")
    } else {
        Caller::Mcp
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = serde_json::from_slice::<LoginRequest>(data) {
        round_trip(&r);
    }
    if let Ok(r) = serde_json::from_slice::<AccountRequest>(data) {
        round_trip(&r);
        let valid = r.purpose.as_ref().is_none_or(|p| p.validate().is_ok());
        if let Some(p) = &r.purpose
            && let Err(e) = p.validate()
        {
            sidekey_fuzz::assert_one_line("purpose error", &e.message, 600);
        }
        let call = Call::Token {
            account: r.account.clone(),
            purpose: r.purpose.clone(),
        };
        audited(&caller(data), call, valid, data);
    }
    if let Ok(r) = serde_json::from_slice::<RefusalReport>(data) {
        round_trip(&r);
        // As `POST /v1/refused` does: only a report that passes its check reaches the guard.
        if r.validate().is_ok() {
            let call = Call::Refused {
                op: r.op.clone(),
                account: None,
                failure: r.error.clone(),
            };
            audited(&caller(data), call, false, data);
        }
    }
    if let Ok(r) = OpRequest::from_json(data) {
        let op = &r.op;
        let info = op.info();
        let _ = op.provider();
        let valid = op.validate();
        match &valid {
            Ok(()) => assert!(
                Operation::named(info.name).is_some_and(|i| std::ptr::eq(i, info) || i == info),
                "{} not in the catalog",
                info.name
            ),
            Err(e) => sidekey_fuzz::assert_one_line("validation error", &e.message, 600),
        }
        // The client's round trip: what the CLI in client mode sends reads back the same.
        let bytes = serde_json::to_vec(&r).expect("serialises");
        let again = OpRequest::from_json(&bytes).expect("the client's body reads back");
        assert_eq!(
            again,
            r,
            "round trip through {:?}",
            String::from_utf8_lossy(&bytes)
        );
        audited(&caller(data), Call::Op(r), valid.is_ok(), data);
    }
});
