//! Shared input shapes and checks for the fuzz targets (see `README.md`).
//!
//! Provider replies are fuzzed two ways at once: as raw bytes (anything a hostile server or a
//! broken proxy can send) and as a structured object whose keys are mostly the ones the parsers
//! look for, so the fuzzer reaches the success paths quickly and the target can compare the
//! parser's answer with a simple model of what it must be.

use arbitrary::Arbitrary;
use serde_json::{Map, Value};

/// The field names the device and token parsers read (and a few near misses).
pub const KEYS: &[&str] = &[
    "device_code",
    "deviceCode",
    "user_code",
    "userCode",
    "verification_uri",
    "verification_url",
    "verificationUri",
    "verification_uri_complete",
    "verificationUriComplete",
    "message",
    "expires_in",
    "expiresIn",
    "interval",
    "error",
    "error_description",
    "errorDescription",
    "error_code",
    "access_token",
    "accessToken",
    "token_type",
    "tokenType",
    "refresh_token",
    "refreshToken",
    "refresh_token_expires_in",
    "scope",
    "id_token",
    "idToken",
];

#[derive(Arbitrary, Debug, Clone)]
pub enum Key {
    Known(u8),
    Other(String),
}

impl Key {
    pub fn name(&self) -> String {
        match self {
            Key::Known(i) => KEYS[*i as usize % KEYS.len()].to_string(),
            Key::Other(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Val {
    Str(String),
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Null,
    Strs(Vec<String>),
    Nested(Vec<(String, String)>),
}

impl Val {
    pub fn json(&self) -> Value {
        match self {
            Val::Str(s) => Value::String(s.clone()),
            Val::U64(n) => Value::from(*n),
            Val::I64(n) => Value::from(*n),
            // NaN and infinities are not JSON: serde_json turns them into null.
            Val::F64(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Val::Bool(b) => Value::Bool(*b),
            Val::Null => Value::Null,
            Val::Strs(v) => Value::Array(v.iter().cloned().map(Value::String).collect()),
            Val::Nested(v) => Value::Object(
                v.iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            ),
        }
    }

    /// The value as a form field (only strings and numbers have one).
    pub fn form(&self) -> Option<String> {
        match self {
            Val::Str(s) => Some(s.clone()),
            Val::U64(n) => Some(n.to_string()),
            Val::I64(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// A reply body: raw bytes, or an object sent as JSON or as a form.
#[derive(Arbitrary, Debug, Clone)]
pub enum Body {
    Raw(Vec<u8>),
    Json(Vec<(Key, Val)>),
    Form(Vec<(Key, Val)>),
}

/// The body's bytes and, for the structured kinds, the object the parser must see.
pub fn render_body(body: &Body) -> (Vec<u8>, Option<Map<String, Value>>) {
    match body {
        Body::Raw(b) => (b.clone(), None),
        Body::Json(fields) => {
            let m: Map<String, Value> = fields.iter().map(|(k, v)| (k.name(), v.json())).collect();
            (
                serde_json::to_vec(&Value::Object(m.clone())).unwrap(),
                Some(m),
            )
        }
        Body::Form(fields) => {
            // Later duplicates win in the model, as they do in the parser's map.
            let mut m = Map::new();
            let mut pairs = Vec::new();
            for (k, v) in fields {
                if let Some(s) = v.form() {
                    m.insert(k.name(), Value::String(s.clone()));
                    pairs.push((k.name(), s));
                }
            }
            let text = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
                .collect::<Vec<_>>()
                .join("&");
            (text.into_bytes(), if m.is_empty() { None } else { Some(m) })
        }
    }
}

fn form_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Content types worth trying, plus anything at all.
#[derive(Arbitrary, Debug, Clone)]
pub enum ContentType {
    None,
    Json,
    Form,
    Html,
    Other(String),
}

impl ContentType {
    pub fn get(&self) -> Option<String> {
        match self {
            ContentType::None => None,
            ContentType::Json => Some("application/json; charset=utf-8".into()),
            ContentType::Form => Some("application/x-www-form-urlencoded".into()),
            ContentType::Html => Some("text/html".into()),
            ContentType::Other(s) => Some(s.clone()),
        }
    }
}

/// The content type that makes the parser read `body` the way it was built.
pub fn content_type_for(body: &Body, ct: &ContentType) -> Option<String> {
    match body {
        Body::Json(_) => Some("application/json".into()),
        Body::Form(_) => Some("application/x-www-form-urlencoded".into()),
        Body::Raw(_) => ct.get(),
    }
}

/// The first non-empty string among `keys` (how the parsers read aliases).
pub fn model_str(m: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match m.get(*k) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    })
}

/// Text that may reach a terminal, a log line or an agent: one line, no control characters,
/// at most `max` characters.
pub fn assert_one_line(what: &str, s: &str, max: usize) {
    assert!(
        !s.chars().any(char::is_control),
        "{what} has a control character: {s:?}"
    );
    let n = s.chars().count();
    assert!(n <= max, "{what} is {n} chars (max {max}): {s:?}");
}
