//! The daemon's request framing: bytes on one HTTP/1 connection of `sidekey serve` (its
//! hyper server, API key check, body limits and routes, via `sidekey::fuzzing::Sandbox`), the
//! `/v1/op` body reader (`OpRequest::from_json`) and the value counter
//! (`api::more_values_than`).
//!
//! Checks: never panics, never hangs (every connection is closed within 10 s; a well-formed
//! request with `connection: close` is answered first); every answer is HTTP/1.1 with a status, and every error body is
//! `{"error": {exit_code, reason, message}}` whose message is one clean line of at most 600
//! characters that never contains the API key sent (right or wrong); a known route without the
//! right key is 401 whatever the body; with the key, a body over the route's limit (64 KiB
//! outside `/v1/op`) is refused as too large, unread by any handler (no guard entry in the
//! audit log); `from_json` refuses more than `MAX_OP_VALUES` values and says so; and
//! `more_values_than(json, n)` is exactly "holds more than n values".
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sidekey::api::{MAX_OP_VALUES, OpRequest, more_values_than};
use sidekey::fuzzing::{API_KEY, Sandbox};
use std::sync::OnceLock;
use std::time::Duration;

const SMALL_LIMIT: usize = 64 * 1024;

const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/status"),
    ("POST", "/v1/login"),
    ("GET", "/v1/login/gh"),
    ("POST", "/v1/login/gh/redirect"),
    ("POST", "/v1/token"),
    ("POST", "/v1/logout"),
    ("POST", "/v1/op"),
    ("GET", "/v1/ops"),
    ("POST", "/v1/refused"),
    ("GET", "/healthz"),
];

const BODIES: &[&str] = &[
    r#"{"account":"gh"}"#,
    r#"{"account":"gh","purpose":{"via":"git_credential","host":"github.com"}}"#,
    r#"{"op":"ms.me","account":"gh"}"#,
    r#"{"op":"aws.credentials","account_id":"123456789012","role_name":"ReadOnly"}"#,
    r#"{"op":"google.docs.search","query":"x"}"#,
    r#"{"op":"ms.me","error":{"exit_code":2,"reason":"usage","message":"m"}}"#,
    r#"{"url":"http://127.0.0.1/cb?code=c&state=s"}"#,
    r#"{"account":"gh","scopes":["repo"]}"#,
];

#[derive(Arbitrary, Debug)]
enum Auth {
    Right,
    Missing,
    Wrong(String),
    /// The right key with another scheme or case.
    Mangled(u8),
}

#[derive(Arbitrary, Debug)]
enum Framing {
    Length,
    /// A Content-Length that is not the body's.
    Lying(u32),
    Chunked(Vec<u16>),
    Bare,
}

#[derive(Arbitrary, Debug)]
enum Body {
    Empty,
    Known(u8),
    Bytes(Vec<u8>),
    /// A body of this many bytes (up to 200 KB), a JSON string of one repeated byte.
    Big(u32, u8),
}

#[derive(Arbitrary, Debug)]
struct Request {
    route: u8,
    method: Option<String>,
    path: Option<String>,
    query: Option<String>,
    auth: Auth,
    framing: Framing,
    body: Body,
    headers: Vec<(String, String)>,
    /// Bytes after the request (a second, pipelined request or junk).
    trailing: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
enum Input {
    Request(Request),
    Raw(Vec<u8>),
    /// A `/v1/op` body, read directly, and a limit for the counter.
    OpBody(Vec<u8>, u16),
}

fn sandbox() -> &'static Sandbox {
    static S: OnceLock<Sandbox> = OnceLock::new();
    S.get_or_init(Sandbox::new)
}

/// Every JSON value the counter counts: each scalar, array and object, and each key.
fn count(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count).sum(),
        Value::Object(o) => o.values().map(|x| 1 + count(x)).sum(),
        _ => 0,
    }
}

/// The answers in `bytes`: (status, body) each.
fn responses(mut bytes: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| {
                panic!(
                    "an answer without the end of its head: {:?}",
                    String::from_utf8_lossy(bytes)
                )
            });
        let head = std::str::from_utf8(&bytes[..end]).expect("an ASCII head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line:?}");
        let status: u16 = status_line[9..12].parse().expect("a status");
        let mut len = 0usize;
        for l in lines {
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap();
            }
        }
        let body_start = end + 4;
        let body_end = (body_start + len).min(bytes.len());
        out.push((status, bytes[body_start..body_end].to_vec()));
        bytes = &bytes[body_end..];
    }
    out
}

/// An error body: the daemon's shape, one clean bounded line, no API key in it.
fn check_error(body: &[u8], secrets: &[&str]) -> Option<(String, i64)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let e = v.get("error")?;
    let message = e["message"].as_str().expect("an error with a message");
    let exit = e["exit_code"].as_i64().expect("an error with an exit code");
    assert!(e["reason"].is_string(), "an error without a reason: {v}");
    sidekey_fuzz::assert_one_line("daemon error", message, 600);
    for s in secrets.iter().filter(|s| s.len() >= 8) {
        assert!(!message.contains(s), "a key in the error: {message:?}");
    }
    Some((message.to_string(), exit))
}

fuzz_target!(|input: Input| {
    let s = sandbox();
    let (bytes, req) = match input {
        Input::OpBody(body, n) => {
            match OpRequest::from_json(&body) {
                Ok(_) => assert!(!more_values_than(&body, MAX_OP_VALUES)),
                Err(f) => sidekey_fuzz::assert_one_line("op body error", &f.message, 600),
            }
            if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                let text = serde_json::to_vec(&v).unwrap();
                let c = count(&v);
                for limit in [usize::from(n), c, c.saturating_sub(1)] {
                    assert_eq!(
                        more_values_than(&text, limit),
                        c > limit,
                        "{c} values, limit {limit}"
                    );
                }
            }
            return;
        }
        Input::Raw(b) => (b, None),
        Input::Request(r) => {
            let (method, path) = ROUTES[r.route as usize % ROUTES.len()];
            let method = r
                .method
                .clone()
                .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()))
                .unwrap_or(method.into());
            let path = r
                .path
                .clone()
                .filter(|p| p.starts_with('/') && p.bytes().all(|b| b.is_ascii_graphic()))
                .unwrap_or(path.into());
            let mut target = path.clone();
            if let Some(q) = &r.query {
                target.push('?');
                // Only what a request target may hold: the rest percent-encoded.
                const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
                    .remove(b'=')
                    .remove(b'&')
                    .remove(b'-')
                    .remove(b'_')
                    .remove(b'.');
                target.push_str(&percent_encoding::utf8_percent_encode(q, QUERY).to_string());
            }
            let body: Vec<u8> = match &r.body {
                Body::Empty => vec![],
                Body::Known(i) => BODIES[*i as usize % BODIES.len()].as_bytes().to_vec(),
                Body::Bytes(b) => b.clone(),
                Body::Big(n, c) => {
                    let n = (*n as usize % 200_000).max(2);
                    let c = if c.is_ascii_alphanumeric() { *c } else { b'a' };
                    let mut b = vec![c; n];
                    b[0] = b'"';
                    b[n - 1] = b'"';
                    b
                }
            };
            let mut head =
                format!("{method} {target} HTTP/1.1\r\nhost: sidekey\r\nconnection: close\r\n");
            let sent_key = match &r.auth {
                Auth::Right => Some(API_KEY.to_string()),
                Auth::Missing => None,
                Auth::Wrong(k) => Some(k.chars().filter(|c| !c.is_control()).collect::<String>()),
                Auth::Mangled(_) => Some(API_KEY.to_string()),
            };
            match (&r.auth, &sent_key) {
                (Auth::Mangled(i), Some(k)) => {
                    let scheme = ["bearer", "Basic", "Bearer  ", "BEARER"][*i as usize % 4];
                    head.push_str(&format!("authorization: {scheme} {k}\r\n"));
                }
                (_, Some(k)) => head.push_str(&format!("authorization: Bearer {k}\r\n")),
                _ => {}
            }
            for (k, v) in &r.headers {
                if !k.is_empty()
                    && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && ![
                        "authorization",
                        "content-length",
                        "transfer-encoding",
                        "host",
                        "expect",
                        "connection",
                        "upgrade",
                    ]
                    .contains(&k.to_ascii_lowercase().as_str())
                    && v.bytes().all(|b| (0x20..0x7f).contains(&b))
                {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
            }
            let mut bytes = Vec::new();
            let well_formed;
            match &r.framing {
                Framing::Bare if body.is_empty() => {
                    head.push_str("\r\n");
                    bytes.extend_from_slice(head.as_bytes());
                    well_formed = true;
                }
                Framing::Length | Framing::Bare => {
                    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
                    bytes.extend_from_slice(head.as_bytes());
                    bytes.extend_from_slice(&body);
                    well_formed = true;
                }
                Framing::Lying(n) => {
                    head.push_str(&format!("content-length: {n}\r\n\r\n"));
                    bytes.extend_from_slice(head.as_bytes());
                    bytes.extend_from_slice(&body);
                    well_formed = *n as usize == body.len();
                }
                Framing::Chunked(sizes) => {
                    head.push_str("transfer-encoding: chunked\r\n\r\n");
                    bytes.extend_from_slice(head.as_bytes());
                    let mut rest = &body[..];
                    let mut sizes = sizes.iter().cycle();
                    while !rest.is_empty() {
                        let n = (sizes.next().map_or(rest.len(), |n| usize::from(*n)).max(1))
                            .min(rest.len());
                        bytes.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                        bytes.extend_from_slice(&rest[..n]);
                        bytes.extend_from_slice(b"\r\n");
                        rest = &rest[n..];
                    }
                    bytes.extend_from_slice(b"0\r\n\r\n");
                    well_formed = true;
                }
            }
            let known = ROUTES.iter().any(|(m, p)| *m == method && *p == path)
                && (method == "GET" || method == "POST");
            bytes.extend_from_slice(&r.trailing);
            (
                bytes,
                Some((
                    known && well_formed && r.trailing.is_empty(),
                    path,
                    r.auth,
                    body.len(),
                    sent_key,
                )),
            )
        }
    };

    // A well-formed request is answered before the client shuts its side (the server drops
    // a connection whose client shuts while a request runs); anything else is shut at once.
    let shut = !req.as_ref().is_some_and(|r| r.0);
    let (out, done, audit) = s.http1(&bytes, shut, Duration::from_secs(10));
    assert!(
        done,
        "the connection was not answered and closed within 10 s"
    );
    let answers = responses(&out);
    let secrets = [API_KEY];
    for (_, body) in &answers {
        check_error(body, &secrets);
    }
    for line in &audit {
        assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
        serde_json::from_str::<Value>(line).expect("an audit entry is one JSON line");
    }
    let Some((exact, path, auth, body_len, sent_key)) = req else {
        return;
    };
    if let Some(k) = &sent_key {
        for (_, body) in &answers {
            check_error(body, &[k.as_str()]);
        }
    }
    if !exact || path == "/healthz" {
        return;
    }
    let (status, body) = answers.first().expect("an answer to a well-formed request");
    let v1 = path.starts_with("/v1/");
    let right = match &auth {
        Auth::Right => true,
        Auth::Wrong(_) => sent_key.as_deref() == Some(API_KEY),
        Auth::Missing | Auth::Mangled(_) => false,
    };
    match right {
        true => {
            let limit = if path == "/v1/op" {
                8 * 1024 * 1024
            } else {
                SMALL_LIMIT
            };
            if v1 && body_len > limit {
                let (message, exit) =
                    check_error(body, &[]).expect("an error for a body over the limit");
                assert!(
                    matches!(status, 400 | 413),
                    "status {status} for {body_len} bytes"
                );
                assert_eq!(exit, 2);
                assert!(
                    message.contains("larger than the daemon accepts"),
                    "{message:?}"
                );
                // No handler read it: only the daemon's layer wrote an entry, naming the route.
                for line in &audit {
                    let e: Value = serde_json::from_str(line).unwrap();
                    assert_eq!(e["args"], serde_json::json!({}), "{line}");
                }
            }
        }
        false => {
            if v1 {
                assert_eq!(*status, 401, "{:?}", String::from_utf8_lossy(body));
                // Refused before anything was read: no entry but the refusal itself.
                for line in &audit {
                    let e: Value = serde_json::from_str(line).unwrap();
                    assert_eq!(e["outcome"], "unauthorized", "{line}");
                }
            }
        }
    }
});
