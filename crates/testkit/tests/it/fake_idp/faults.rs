//! Injected faults on the token endpoint.

use std::time::{Duration, Instant};

use sidekey_testkit::{Dialect, Fault};

use super::{DEVICE_GRANT, login, poll, refresh, s, start, start_device};
use crate::http::{post_form, try_request};

#[test]
fn faults_apply_in_order_then_normal_handling_resumes() {
    let idp = start(Dialect::Google);
    let (dc, uc) = start_device(&idp);
    idp.inject([
        Fault::Status(502),
        Fault::Html,
        Fault::Truncated,
        Fault::RateLimited {
            retry_after: Some(7),
        },
        Fault::RateLimited { retry_after: None },
        Fault::Oversized,
        Fault::Status(503),
    ]);

    let r = poll(&idp, &dc);
    assert_eq!(r.status, 502);
    assert!(r.content_type().starts_with("text/html"));
    assert!(
        r.text().contains("<h1>502 Bad Gateway</h1>"),
        "{}",
        r.text()
    );

    let r = poll(&idp, &dc);
    assert_eq!(r.status, 200);
    assert!(r.content_type().starts_with("text/html"));

    let r = poll(&idp, &dc);
    assert_eq!(r.status, 200);
    assert!(r.content_type().starts_with("application/json"));
    assert_eq!(r.body, br#"{"access_token":"abc","tok"#);

    let r = poll(&idp, &dc);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert!(r.body.is_empty());

    let r = poll(&idp, &dc);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), None);

    let r = poll(&idp, &dc);
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 4 * 1024 * 1024);
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_ok());

    assert_eq!(poll(&idp, &dc).status, 503);

    // Queue drained: back to the dialect's normal answer.
    assert_eq!(poll(&idp, &dc).status, 428);
    let c = idp.counters();
    assert_eq!((c.polls, c.faults_applied), (8, 7));

    // Faults did not consume the approval.
    idp.approve(&uc);
    assert_eq!(poll(&idp, &dc).status, 200);
    assert!(idp.issued_access_tokens().len() == 1);
}

#[test]
fn reset_closes_without_a_response() {
    let idp = start(Dialect::Oidc);
    let (dc, _) = start_device(&idp);
    idp.inject([Fault::Reset]);
    let p = crate::http::encode(&[
        ("grant_type", DEVICE_GRANT),
        ("client_id", "test-client"),
        ("device_code", &dc),
    ]);
    let res = try_request(
        "POST",
        &idp.token_endpoint(),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        p.as_bytes(),
    );
    assert!(res.is_err(), "expected no HTTP response, got {res:?}");
    // The server keeps serving.
    assert_eq!(poll(&idp, &dc).json()["error"], "authorization_pending");
}

#[test]
fn delay_then_normal_answer() {
    let idp = start(Dialect::Auth0);
    let (dc, _) = start_device(&idp);
    idp.inject([Fault::Delay(Duration::from_millis(300))]);
    let t = Instant::now();
    let r = poll(&idp, &dc);
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (403, "authorization_pending".into())
    );
}

#[test]
fn faults_hit_refresh_grants_too() {
    let idp = start(Dialect::Microsoft);
    let rt = s(&login(&idp), "refresh_token");
    idp.inject([Fault::Status(500)]);
    let r = refresh(&idp, &rt);
    assert_eq!(r.status, 500);
    assert!(r.text().contains("500 Internal Server Error"));
    assert_eq!(refresh(&idp, &rt).status, 200);
    let c = idp.counters();
    assert_eq!((c.refresh_requests, c.refresh_successes), (2, 1));
}

#[test]
fn faults_do_not_touch_the_device_endpoint() {
    let idp = start(Dialect::Okta);
    idp.inject([Fault::Status(502)]);
    let r = post_form(
        &idp.device_authorization_endpoint(),
        &[("client_id", "test-client"), ("scope", "openid")],
    );
    assert_eq!(r.status, 200);
    let dc = s(&r.json(), "device_code");
    assert_eq!(poll(&idp, &dc).status, 502);
}

/// `Fault::OAuth` answers with an OAuth error body; Microsoft's carries the AADSTS code and
/// suberror Entra documents.
#[test]
fn oauth_error_faults_in_the_dialects_shape() {
    let idp = start(Dialect::Microsoft);
    let (dc, _uc) = start_device(&idp);
    idp.inject([
        Fault::OAuth {
            status: 503,
            error: "temporarily_unavailable",
        },
        Fault::OAuth {
            status: 400,
            error: "interaction_required",
        },
    ]);
    let r = poll(&idp, &dc);
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"], "temporarily_unavailable");
    let r = poll(&idp, &dc);
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["error"], "interaction_required");
    assert_eq!(v["error_codes"], serde_json::json!([50076]));
    assert_eq!(v["suberror"], "basic_action");
    assert!(s(&v, "error_description").starts_with("AADSTS50076:"));
    assert_eq!(poll(&idp, &dc).json()["error"], "authorization_pending");

    let idp = start(Dialect::Okta);
    let (dc, _uc) = start_device(&idp);
    idp.inject([Fault::OAuth {
        status: 500,
        error: "server_error",
    }]);
    let r = poll(&idp, &dc);
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (500, "server_error".into())
    );
}

#[test]
fn the_device_endpoint_fails_like_the_token_endpoint() {
    let idp = start(Dialect::Google);
    let device = |idp: &sidekey_testkit::FakeIdp| {
        post_form(
            &idp.device_authorization_endpoint(),
            &[("client_id", "test-client"), ("scope", "openid email")],
        )
    };
    idp.inject_device([
        Fault::Status(503),
        Fault::Html,
        Fault::RateLimited {
            retry_after: Some(3),
        },
        Fault::OAuth {
            status: 500,
            error: "server_error",
        },
        Fault::Truncated,
        Fault::Delay(Duration::from_millis(300)),
    ]);
    let r = device(&idp);
    assert_eq!(r.status, 503);
    assert!(
        r.text().contains("<h1>503 Service Unavailable</h1>"),
        "{}",
        r.text()
    );
    let r = device(&idp);
    assert_eq!(r.status, 200);
    assert!(
        r.content_type().starts_with("text/html"),
        "{}",
        r.content_type()
    );
    let r = device(&idp);
    assert_eq!((r.status, r.header("retry-after")), (429, Some("3")));
    let r = device(&idp);
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["error"], "server_error");
    let r = device(&idp);
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    // A delay answers normally, late.
    let t = Instant::now();
    let r = device(&idp);
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["device_code"].is_string());
    // No user code was issued by a faulted request; the token endpoint's queue is separate.
    assert_eq!(idp.counters().faults_applied, 6);
    assert_eq!(idp.counters().device_requests, 6);
    assert_eq!(poll(&idp, &s(&r.json(), "device_code")).status, 428);

    // A reset closes the connection without an answer.
    idp.inject_device([Fault::Reset]);
    let body = crate::http::encode(&[("client_id", "test-client"), ("scope", "openid")]);
    let r = try_request(
        "POST",
        &idp.device_authorization_endpoint(),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    assert!(r.is_err(), "{r:?}");
    assert_eq!(device(&idp).status, 200);
}
