//! Telegram HTML (`sidekey_notify::html::escape`, `telegram_message`, `telegram_caption`): any
//! event a provider, a config or an agent can fill in.
//!
//! Checks: `escape` leaves no `<`, `>` or `"` and every `&` starts an entity, and unescaping
//! gives the input back; a message or caption contains only the tags sidekey writes itself
//! (`<b>`, `<code>`, balanced) and only the four entities, so no input can open a tag or a link;
//! after Telegram's entity parsing the text is within 4096 characters (message) and 1024
//! (caption), and is never empty.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sidekey_notify::{Event, User, html::escape, telegram_caption, telegram_message};

#[derive(Arbitrary, Debug)]
enum Ev {
    Code {
        account: String,
        provider: String,
        scopes: Vec<String>,
        user_code: String,
        verification_uri: String,
        verification_uri_complete: Option<String>,
        expires_at: ExpiresAt,
        interval: u64,
    },
    SignedIn {
        account: String,
        provider: String,
        name: Option<String>,
        email: Option<String>,
        scopes: Vec<String>,
        warning: Option<String>,
    },
    Failed {
        account: String,
        provider: String,
        reason: String,
        message: String,
    },
}

/// Usually a real time (relative to `now`), sometimes anything.
#[derive(Arbitrary, Debug)]
enum ExpiresAt {
    In(i32),
    Text(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    event: Ev,
    /// Seconds since the epoch, kept within jiff's range.
    now: u32,
    /// Extra text for `escape` alone.
    text: String,
}

const TAGS: &[&str] = &["<b>", "</b>", "<code>", "</code>"];
const ENTITIES: &[(&str, char)] = &[
    ("&amp;", '&'),
    ("&lt;", '<'),
    ("&gt;", '>'),
    ("&quot;", '"'),
];

/// What Telegram shows for `html`: sidekey's own tags removed (checked balanced), entities
/// decoded. Panics on any other tag or entity.
fn telegram_text(html: &str) -> String {
    let mut out = String::new();
    let mut open: Vec<&str> = Vec::new();
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let tag = TAGS
                    .iter()
                    .find(|t| rest.starts_with(**t))
                    .unwrap_or_else(|| panic!("unexpected tag at {rest:?} in {html:?}"));
                if let Some(name) = tag.strip_prefix("</") {
                    assert_eq!(
                        open.pop(),
                        Some(&name[..name.len() - 1]),
                        "unbalanced: {html:?}"
                    );
                } else {
                    assert!(open.is_empty(), "nested tags: {html:?}");
                    open.push(&tag[1..tag.len() - 1]);
                }
                rest = &rest[tag.len()..];
            }
            '&' => {
                let (e, ch) = ENTITIES
                    .iter()
                    .find(|(e, _)| rest.starts_with(*e))
                    .unwrap_or_else(|| panic!("bare & at {rest:?} in {html:?}"));
                out.push(*ch);
                rest = &rest[e.len()..];
            }
            '>' | '"' => panic!("raw {c:?} in {html:?}"),
            c => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    assert!(open.is_empty(), "unclosed tag in {html:?}");
    out
}

fuzz_target!(|input: Input| {
    // The escaper on its own: no markup survives and nothing is lost.
    let esc = escape(&input.text);
    assert!(!esc.contains(['<', '>', '"']), "{esc:?}");
    let mut back = esc.clone();
    assert!(TAGS.iter().all(|t| !back.contains(t)));
    back = telegram_text(&back);
    assert_eq!(back, input.text, "escape is reversible");

    let now = jiff::Timestamp::from_second(input.now.into()).unwrap();
    let event = match input.event {
        Ev::Code {
            account,
            provider,
            scopes,
            user_code,
            verification_uri,
            verification_uri_complete,
            expires_at,
            interval,
        } => Event::Code {
            account,
            provider,
            scopes,
            user_code,
            verification_uri,
            verification_uri_complete,
            expires_at: match expires_at {
                ExpiresAt::In(s) => now
                    .checked_add(jiff::SignedDuration::from_secs(s.into()))
                    .unwrap_or(now)
                    .to_string(),
                ExpiresAt::Text(t) => t,
            },
            interval,
        },
        Ev::SignedIn {
            account,
            provider,
            name,
            email,
            scopes,
            warning,
        } => Event::SignedIn {
            account,
            provider,
            user: User { name, email },
            scopes,
            expires_at: None,
            warning,
        },
        Ev::Failed {
            account,
            provider,
            reason,
            message,
        } => Event::Failed {
            account,
            provider,
            reason,
            message,
        },
    };

    let msg = telegram_message(&event, now);
    let shown = telegram_text(&msg);
    let n = shown.chars().count();
    assert!(n > 0 && n <= 4096, "message of {n} characters");

    let cap = telegram_caption(&event);
    let shown = telegram_text(&cap);
    let n = shown.chars().count();
    match event {
        Event::Code { .. } => assert!(n > 0 && n <= 1024, "caption of {n} characters"),
        _ => assert_eq!(n, 0),
    }
});
