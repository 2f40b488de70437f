//! `parse_device_authorization`: any (status, content type, body) a server can send.
//!
//! Checks: never panics; a code is only accepted from a 2xx reply with all three fields
//! non-empty; `interval` and `expires_in` are always within their bounds; error texts are
//! one bounded line without control characters (they reach terminals and the agent); for
//! structured bodies, the answer matches a model of the classification rule.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sidekey_flow::response::{
    DeviceReplyError, MAX_DEVICE_EXPIRES_IN, MAX_INTERVAL, one_line, parse_device_authorization,
};
use sidekey_fuzz::{Body, ContentType, assert_one_line, content_type_for, model_str, render_body};

#[derive(Arbitrary, Debug)]
struct Input {
    status: u16,
    content_type: ContentType,
    body: Body,
}

fuzz_target!(|input: Input| {
    let (bytes, model) = render_body(&input.body);
    let ct = content_type_for(&input.body, &input.content_type);
    let status = input.status;
    let got = parse_device_authorization(status, ct.as_deref(), &bytes);
    match &got {
        Ok(d) => {
            assert!(
                (200..300).contains(&status),
                "code accepted from HTTP {status}"
            );
            assert!(!d.device_code.expose().is_empty());
            assert!(!d.user_code.is_empty());
            assert!(!d.verification_uri.is_empty());
            assert!(
                (1..=MAX_INTERVAL).contains(&d.interval),
                "interval {}",
                d.interval
            );
            assert!(
                (1..=MAX_DEVICE_EXPIRES_IN).contains(&d.expires_in),
                "expires_in {}",
                d.expires_in
            );
        }
        Err(DeviceReplyError::OAuth(e)) => {
            assert!(!e.code.is_empty());
            assert!(e.interval.is_none_or(|i| i <= MAX_INTERVAL));
            if let Some(d) = e.short_description() {
                assert_one_line("error description", &d, 300);
            }
        }
        Err(DeviceReplyError::Transient(m)) | Err(DeviceReplyError::Malformed(m)) => {
            assert_one_line("device reply error", m, 200);
        }
    }

    // The model: the classification rule of docs/providers.md for a body that is an object.
    let Some(m) = model else { return };
    if let Some(code) = model_str(&m, &["error"]) {
        // A busy or failing server is retried, not believed (docs/providers.md): a transient
        // code, or any OAuth body with a 5xx.
        if matches!(code.as_str(), "temporarily_unavailable" | "server_error") || status >= 500 {
            match &got {
                Err(DeviceReplyError::Transient(t)) => {
                    assert_eq!(t, &format!("HTTP {status} {}", one_line(&code, 80)))
                }
                other => panic!("transient error body {m:?} gave {other:?}"),
            }
            return;
        }
        match &got {
            Err(DeviceReplyError::OAuth(e)) => assert_eq!(e.code, code),
            other => panic!("error body {m:?} gave {other:?}"),
        }
        return;
    }
    if model_str(&m, &["error_code"]).is_some() || status >= 500 || status == 429 {
        assert!(
            matches!(got, Err(DeviceReplyError::Transient(_))),
            "{got:?}"
        );
        return;
    }
    let user_code = model_str(&m, &["user_code", "userCode"]);
    let complete = model_str(&m, &["device_code", "deviceCode"]).is_some()
        && user_code.is_some()
        && model_str(
            &m,
            &["verification_uri", "verification_url", "verificationUri"],
        )
        .is_some();
    if complete && (200..300).contains(&status) {
        // What the person is shown is checked first (the phishing check): a user code that is
        // not short and printable, or a verification URI that is not exactly one absolute URL,
        // makes the reply malformed, saying which.
        match got {
            Ok(d) => assert_eq!(Some(d.user_code), user_code, "user code shown as received"),
            Err(DeviceReplyError::Malformed(why)) => assert!(
                why.contains("user code")
                    || why.contains("user_code")
                    || why.contains("verification_uri"),
                "a complete 2xx reply refused for {why:?}"
            ),
            other => panic!("a complete 2xx reply gave {other:?}"),
        }
    } else {
        assert!(
            matches!(got, Err(DeviceReplyError::Malformed(_))),
            "{got:?}"
        );
    }
});
