//! `classify_token_reply`: any (status, content type, Retry-After, body) a token endpoint sends.
//!
//! Checks: never panics; tokens only from a 2xx reply, with a non-empty access token, bounded
//! lifetimes and clean scope names; a transient fault keeps the given Retry-After, is
//! rate-limited on 429, and its text is one bounded line that never contains the body (only
//! its size); for structured bodies, the answer matches a model of the classification rule.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sidekey_flow::TokenReply;
use sidekey_flow::response::{
    MAX_INTERVAL, MAX_TOKEN_LIFETIME, classify_token_reply, describe_body, one_line,
};
use sidekey_fuzz::{Body, ContentType, assert_one_line, content_type_for, model_str, render_body};
use std::time::Duration;

#[derive(Arbitrary, Debug)]
struct Input {
    status: u16,
    content_type: ContentType,
    retry_after: Option<u32>,
    body: Body,
}

fuzz_target!(|input: Input| {
    let (bytes, model) = render_body(&input.body);
    let ct = content_type_for(&input.body, &input.content_type);
    let status = input.status;
    let retry_after = input.retry_after.map(|s| Duration::from_secs(s.into()));
    let got = classify_token_reply(status, ct.as_deref(), retry_after, &bytes);
    match &got {
        TokenReply::Tokens(t) => {
            assert!(
                (200..300).contains(&status),
                "tokens accepted from HTTP {status}"
            );
            assert!(!t.access_token.expose().is_empty());
            assert!(!t.token_type.is_empty());
            assert!(t.expires_in.is_none_or(|e| e <= MAX_TOKEN_LIFETIME));
            assert!(
                t.refresh_token_expires_in
                    .is_none_or(|e| e <= MAX_TOKEN_LIFETIME)
            );
            assert!(
                t.refresh_token
                    .as_ref()
                    .is_none_or(|r| !r.expose().is_empty())
            );
        }
        TokenReply::Error(e) => {
            assert!(!e.code.is_empty());
            assert!(e.interval.is_none_or(|i| i <= MAX_INTERVAL));
            if let Some(d) = e.short_description() {
                assert_one_line("error description", &d, 300);
            }
        }
        TokenReply::Transient {
            what,
            retry_after: ra,
            rate_limited,
        } => {
            assert_eq!(*ra, retry_after, "Retry-After passed through");
            if status == 429 {
                assert!(*rate_limited, "429 is rate limiting");
            }
            assert_one_line("transient fault", what, 200);
        }
    }

    let Some(m) = model else { return };
    // A transient fault's text never carries anything from the body (a server could echo a
    // token back): without an `error_code` (which is shown, cleaned, by design) it is exactly
    // one of the fixed forms, where the body appears only as its size.
    if let TokenReply::Transient { what, .. } = &got
        && model_str(&m, &["error_code"]).is_none()
        && model_str(&m, &["error"]).is_none()
    {
        let described = describe_body(ct.as_deref(), &bytes);
        let allowed = [
            format!("HTTP {status} without an access_token"),
            format!("HTTP {status} with an unreadable body ({described})"),
            format!("HTTP {status} ({described})"),
        ];
        assert!(allowed.contains(what), "unexpected fault text {what:?}");
        assert!(described.ends_with(&format!(", {} bytes", bytes.len())));
    }
    if let Some(code) = model_str(&m, &["error"]) {
        // A busy or failing server (a transient code, or any OAuth body with a 5xx) is a fault
        // to back off from, shown as the status and the code, cleaned.
        if matches!(code.as_str(), "temporarily_unavailable" | "server_error") || status >= 500 {
            match &got {
                TokenReply::Transient { what, .. } => {
                    assert_eq!(what, &format!("HTTP {status} {}", one_line(&code, 80)))
                }
                other => panic!("transient error body {m:?} gave {other:?}"),
            }
            return;
        }
        match &got {
            TokenReply::Error(e) => assert_eq!(e.code, code),
            other => panic!("error body {m:?} gave {other:?}"),
        }
        return;
    }
    if model_str(&m, &["error_code"]).is_some() {
        assert!(
            matches!(
                got,
                TokenReply::Transient {
                    rate_limited: true,
                    ..
                }
            ),
            "{got:?}"
        );
        return;
    }
    let access = model_str(&m, &["access_token", "accessToken"]);
    match (&got, access) {
        (TokenReply::Tokens(t), Some(a)) => {
            assert_eq!(t.access_token.expose(), a);
            if let Some(serde_json::Value::String(s)) = m.get("scope") {
                let scopes = t.scope.as_ref().expect("scope string kept");
                for x in scopes {
                    assert!(!x.is_empty() && !x.contains([' ', ',']), "scope {x:?}");
                }
                let joined: String = s.chars().filter(|c| *c != ' ' && *c != ',').collect();
                assert_eq!(scopes.concat(), joined, "no scope text lost");
            }
        }
        (TokenReply::Transient { .. }, a) => {
            assert!(
                a.is_none() || !(200..300).contains(&status),
                "2xx with an access token is not transient"
            );
        }
        (other, a) => panic!("status {status}, access token {a:?}: {other:?}"),
    }
});
