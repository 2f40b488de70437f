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

/// The member names the service reply models read (Microsoft Graph, Google Drive and Docs,
/// YouTube), and their error bodies.
pub const SERVICE_KEYS: &[&str] = &[
    "id",
    "name",
    "displayName",
    "mail",
    "userPrincipalName",
    "remoteItem",
    "folder",
    "childCount",
    "parentReference",
    "path",
    "size",
    "lastModifiedDateTime",
    "fileSystemInfo",
    "webUrl",
    "file",
    "mimeType",
    "start",
    "end",
    "dateTime",
    "timeZone",
    "isAllDay",
    "subject",
    "location",
    "organizer",
    "emailAddress",
    "address",
    "onlineMeeting",
    "joinUrl",
    "onlineMeetingUrl",
    "showAs",
    "isCancelled",
    "webLink",
    "from",
    "sender",
    "receivedDateTime",
    "isRead",
    "hasAttachments",
    "importance",
    "flag",
    "flagStatus",
    "inferenceClassification",
    "birthday",
    "givenName",
    "surname",
    "error",
    "code",
    "message",
    "innerError",
    "innererror",
    "errors",
    "reason",
    "details",
    "status",
    "snippet",
    "title",
    "description",
    "privacyStatus",
    "contentDetails",
    "itemCount",
    "publishedAt",
    "resourceId",
    "videoId",
    "playlistId",
    "channelId",
    "position",
    "videoOwnerChannelTitle",
    "kind",
    "channelTitle",
    "modifiedTime",
    "parents",
    "webViewLink",
    "trashed",
    "content",
    "paragraph",
    "elements",
    "textRun",
    "table",
    "tableRows",
    "tableCells",
    "endIndex",
    "replies",
    "replaceAllText",
    "occurrencesChanged",
];

/// Strings the models give a meaning to: kinds, zones, flags, dates.
pub const SERVICE_WORDS: &[&str] = &[
    "youtube#video",
    "youtube#channel",
    "youtube#playlist",
    "UTC",
    "Europe/Berlin",
    "Pacific/Kiritimati",
    "tzone://Microsoft/Utc",
    "high",
    "flagged",
    "focused",
    "quotaExceeded",
    "youtubeSignupRequired",
    "InvalidAuthenticationToken",
    "MailboxNotEnabledForRESTAPI",
    "rateLimitExceeded",
    "insufficientPermissions",
    "application/vnd.google-apps.document",
    "application/vnd.google-apps.folder",
    "&#39;",
    "&amp;",
    "&lt;b&gt;",
    "/drive/root:",
    "%E2%80%AE",
    "\u{202e}",
    "\u{2028}",
    "\u{1b}[2J",
    "\r\n",
];

/// A JSON value built from the services' vocabulary (and anything else).
#[derive(Arbitrary, Debug, Clone)]
pub enum Json {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(String),
    Word(u8),
    /// A civil date-time this many seconds after 1970 (`2026-03-29T01:30:00`), with or
    /// without a `Z` or fractional seconds.
    DateTime(i32, u8),
    Array(Vec<Json>),
    Object(Vec<(JsonKey, Json)>),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum JsonKey {
    Known(u8),
    Other(String),
}

impl Json {
    pub fn value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::U64(n) => Value::from(*n),
            Json::I64(n) => Value::from(*n),
            Json::F64(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Json::Str(s) => Value::String(s.clone()),
            Json::Word(i) => Value::String(SERVICE_WORDS[*i as usize % SERVICE_WORDS.len()].into()),
            Json::DateTime(secs, style) => {
                let t = jiff::Timestamp::from_second((*secs).into()).unwrap_or_default();
                let civil = t.to_zoned_datetime(jiff::tz::TimeZone::UTC).datetime();
                Value::String(match style % 4 {
                    0 => civil.to_string(),
                    1 => format!("{t}"),
                    2 => format!("{}.0000000", civil.strftime("%Y-%m-%dT%H:%M:%S")),
                    _ => civil.date().to_string(),
                })
            }
            Json::Array(a) => Value::Array(a.iter().map(Json::value).collect()),
            Json::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| {
                        let k = match k {
                            JsonKey::Known(i) => {
                                SERVICE_KEYS[*i as usize % SERVICE_KEYS.len()].to_string()
                            }
                            JsonKey::Other(s) => s.clone(),
                        };
                        (k, v.value())
                    })
                    .collect(),
            ),
        }
    }
}

/// Text a person reads (a terminal, a chat app): nothing in it acts on the screen or hides
/// itself — no control character but `\n` between lines, no bidi or zero-width character, no
/// line or paragraph separator ([`sidekey_net::hidden`]).
pub fn assert_printable(what: &str, s: &str) {
    if let Some(c) = s.chars().find(|c| *c != '\n' && sidekey_net::hidden(*c)) {
        panic!("{what} shows {c:?}: {s:?}");
    }
}
