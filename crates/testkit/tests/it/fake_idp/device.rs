//! Device authorization responses and polling states per dialect.

use std::time::Duration;

use sidekey_testkit::{Dialect, FakeIdp, Options};

use super::{ALL, DEVICE_GRANT, back_to_back, poll, s, start, start_device};
use crate::http::{get, post_form, post_form_h, request};

fn is_code(code: &str, groups: &[usize], charset: &str) -> bool {
    let parts: Vec<&str> = code.split('-').collect();
    parts.len() == groups.len()
        && parts
            .iter()
            .zip(groups)
            .all(|(p, n)| p.len() == *n && p.chars().all(|c| charset.contains(c)))
}

const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const BASE20: &str = "BCDFGHJKLMNPQRSTVWXZ";

#[test]
fn device_response_shapes() {
    for d in ALL {
        let idp = start(d);
        let r = post_form(
            &idp.device_authorization_endpoint(),
            &[
                ("client_id", "test-client"),
                ("scope", super::default_scope(d)),
            ],
        );
        assert_eq!(r.status, 200, "{d:?}: {}", r.text());
        assert!(r.content_type().starts_with("application/json"), "{d:?}");
        let v = r.json();
        let uc = s(&v, "user_code");
        assert!(
            s(&v, "device_code").len() >= 32,
            "{d:?} device_code too short"
        );
        assert_eq!(v["interval"], 1, "{d:?}");
        assert_eq!(Some(uc.clone()), idp.last_user_code());
        let base = idp.base_url();
        match d {
            Dialect::Microsoft => {
                assert!(is_code(&uc, &[9], ALNUM), "{uc}");
                assert_eq!(s(&v, "verification_uri"), format!("{base}/devicelogin"));
                assert_eq!(v["expires_in"], 900);
                let msg = s(&v, "message");
                assert!(msg.contains(&uc) && msg.contains("/devicelogin"), "{msg}");
                assert!(v.get("verification_uri_complete").is_none());
            }
            Dialect::Google => {
                assert!(is_code(&uc, &[4, 4], UPPER), "{uc}");
                assert_eq!(s(&v, "verification_url"), format!("{base}/device"));
                assert!(v.get("verification_uri").is_none());
                assert!(v.get("verification_uri_complete").is_none());
                assert_eq!(v["expires_in"], 1800);
            }
            Dialect::GitHub | Dialect::GitHubApp => {
                assert!(is_code(&uc, &[4, 4], ALNUM), "{uc}");
                assert_eq!(s(&v, "verification_uri"), format!("{base}/login/device"));
                assert_eq!(s(&v, "device_code").len(), 40);
                assert!(v.get("verification_uri_complete").is_none());
                assert_eq!(v["expires_in"], 900);
            }
            Dialect::Okta => {
                assert!(is_code(&uc, &[8], UPPER), "{uc}");
                assert_eq!(s(&v, "verification_uri"), format!("{base}/activate"));
                assert_eq!(
                    s(&v, "verification_uri_complete"),
                    format!("{base}/activate?user_code={uc}")
                );
                assert_eq!(v["expires_in"], 600);
            }
            Dialect::Auth0 | Dialect::Oidc => {
                assert!(is_code(&uc, &[4, 4], BASE20), "{uc}");
                let page = if d == Dialect::Auth0 {
                    "activate"
                } else {
                    "device"
                };
                assert_eq!(s(&v, "verification_uri"), format!("{base}/{page}"));
                assert!(s(&v, "verification_uri_complete").ends_with(&format!("?user_code={uc}")));
                assert_eq!(v["expires_in"], if d == Dialect::Auth0 { 900 } else { 600 });
            }
        }
        assert_eq!(idp.counters().device_requests, 1);
        assert_eq!(idp.verification_uri(), {
            let k = if d == Dialect::Google {
                "verification_url"
            } else {
                "verification_uri"
            };
            s(&v, k)
        });
    }
}

#[test]
fn interval_omitted_and_verification_host() {
    let mut o = back_to_back(Dialect::Okta);
    o.interval = None;
    o.verification_host = Some("okta.evil.test".into());
    let idp = FakeIdp::start(o);
    let v = post_form(
        &idp.device_authorization_endpoint(),
        &[("client_id", "test-client"), ("scope", "openid")],
    )
    .json();
    assert!(v.get("interval").is_none(), "{v}");
    assert_eq!(s(&v, "verification_uri"), "http://okta.evil.test/activate");
    assert!(s(&v, "verification_uri_complete").starts_with("http://okta.evil.test/activate?"));
}

#[test]
fn pending_status_and_body_per_dialect() {
    for d in ALL {
        let idp = start(d);
        let (dc, _) = start_device(&idp);
        let r = poll(&idp, &dc);
        let v = r.json();
        assert_eq!(v["error"], "authorization_pending", "{d:?}: {v}");
        let desc = s(&v, "error_description");
        match d {
            Dialect::Microsoft => {
                assert_eq!(r.status, 400);
                assert!(desc.starts_with("AADSTS70016: "), "{desc}");
                assert!(desc.contains("\r\nTrace ID: ") && desc.contains("Correlation ID: "));
                assert!(desc.contains("Timestamp: "));
                assert_eq!(v["error_codes"], serde_json::json!([70016]));
                for k in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
                    assert!(v.get(k).is_some(), "{k}");
                }
            }
            Dialect::Google => {
                assert_eq!(r.status, 428);
                assert_eq!(desc, "Precondition Required");
            }
            Dialect::GitHub | Dialect::GitHubApp => {
                assert_eq!(r.status, 200);
                assert_eq!(desc, "The authorization request is still pending.");
                assert!(v.get("error_uri").is_some());
            }
            Dialect::Okta => {
                assert_eq!(r.status, 400);
                assert_eq!(
                    desc,
                    "The device authorization is pending. Please try again later."
                );
            }
            Dialect::Auth0 => {
                assert_eq!(r.status, 403);
                assert_eq!(desc, "User has yet to authorize device code.");
            }
            Dialect::Oidc => assert_eq!(r.status, 400),
        }
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(idp.counters().polls, 1);
    }
}

#[test]
fn github_form_unless_accept_json() {
    let idp = start(Dialect::GitHub);
    // Device endpoint without Accept: form-encoded, numbers as strings.
    let r = post_form_h(
        &idp.device_authorization_endpoint(),
        &[("client_id", "test-client"), ("scope", "repo")],
        &[],
    );
    assert_eq!(r.status, 200);
    assert!(
        r.content_type()
            .starts_with("application/x-www-form-urlencoded")
    );
    let f = r.form();
    assert_eq!(f["expires_in"], "900");
    assert_eq!(f["interval"], "1");
    let dc = f["device_code"].clone();
    let uc = f["user_code"].clone();
    // Pending, form-encoded, HTTP 200.
    let p = [
        ("grant_type", DEVICE_GRANT),
        ("client_id", "test-client"),
        ("device_code", dc.as_str()),
    ];
    let r = post_form_h(&idp.token_endpoint(), &p, &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.form()["error"], "authorization_pending");
    // Same poll with Accept: application/json → JSON.
    let r = post_form(&idp.token_endpoint(), &p);
    assert_eq!(r.json()["error"], "authorization_pending");
    // Success, form-encoded.
    assert!(idp.approve(&uc));
    let r = post_form_h(&idp.token_endpoint(), &p, &[]);
    let f = r.form();
    assert!(f["access_token"].starts_with("gho_"));
    assert_eq!(f["token_type"], "bearer");
    assert_eq!(f["scope"], "repo");
}

#[test]
fn github_errors_are_http_200() {
    let idp = start(Dialect::GitHub);
    let url = idp.token_endpoint();
    let r = post_form(
        &url,
        &[
            ("grant_type", DEVICE_GRANT),
            ("client_id", "test-client"),
            ("device_code", "nope"),
        ],
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (200, "incorrect_device_code".into())
    );
    let r = post_form(
        &url,
        &[
            ("grant_type", DEVICE_GRANT),
            ("client_id", "wrong"),
            ("device_code", "nope"),
        ],
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (200, "incorrect_client_credentials".into())
    );
    let r = post_form(
        &url,
        &[("grant_type", "password"), ("client_id", "test-client")],
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (200, "unsupported_grant_type".into())
    );
    // Unknown client at the device endpoint: a bare 404.
    let r = post_form(
        &idp.device_authorization_endpoint(),
        &[("client_id", "wrong")],
    );
    assert_eq!(r.status, 404);
}

#[test]
fn github_device_flow_disabled() {
    let mut o = back_to_back(Dialect::GitHub);
    o.device_flow_disabled = true;
    let idp = FakeIdp::start(o);
    let r = post_form(
        &idp.device_authorization_endpoint(),
        &[("client_id", "test-client")],
    );
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["error"], "device_flow_disabled");
    assert!(v.get("verification_uri").is_none());
    let r = post_form_h(
        &idp.device_authorization_endpoint(),
        &[("client_id", "test-client")],
        &[],
    );
    assert_eq!(r.form()["error"], "device_flow_disabled");
}

#[test]
fn deny_per_dialect() {
    for d in ALL {
        let idp = start(d);
        let (dc, uc) = start_device(&idp);
        assert!(
            idp.deny(&uc.to_lowercase()),
            "{d:?}: case-insensitive lookup"
        );
        assert!(!idp.approve(&uc), "{d:?}: a denied code cannot be approved");
        let r = poll(&idp, &dc);
        let v = r.json();
        let (status, err) = match d {
            Dialect::Microsoft => (400, "authorization_declined"),
            Dialect::Google => (403, "access_denied"),
            Dialect::GitHub | Dialect::GitHubApp => (200, "access_denied"),
            Dialect::Auth0 => (403, "access_denied"),
            Dialect::Okta | Dialect::Oidc => (400, "access_denied"),
        };
        assert_eq!(
            (r.status, v["error"].as_str().unwrap()),
            (status, err),
            "{d:?}"
        );
        assert!(idp.issued_access_tokens().is_empty());
    }
}

#[test]
fn expire_per_dialect() {
    for d in ALL {
        let idp = start(d);
        let (dc, uc) = start_device(&idp);
        assert!(idp.expire(&uc));
        assert!(!idp.approve(&uc), "{d:?}: expired codes cannot be approved");
        let r = poll(&idp, &dc);
        let status = match d {
            Dialect::GitHub | Dialect::GitHubApp => 200,
            Dialect::Auth0 => 403,
            _ => 400,
        };
        assert_eq!(r.status, status, "{d:?}");
        assert_eq!(r.json()["error"], "expired_token", "{d:?}");
        if d == Dialect::Microsoft {
            assert_eq!(r.json()["error_codes"], serde_json::json!([70019]));
        }
        // Second poll: Auth0 switches to invalid_grant, everyone else repeats expired_token.
        let r = poll(&idp, &dc);
        let expect = if d == Dialect::Auth0 {
            "invalid_grant"
        } else {
            "expired_token"
        };
        assert_eq!(r.json()["error"], expect, "{d:?}");
        if d == Dialect::Auth0 {
            assert_eq!(r.status, 403);
        }
    }
    let idp = start(Dialect::Okta);
    assert!(!idp.expire("NOPE-NOPE"));
    assert!(!idp.approve("NOPE-NOPE"));
}

#[test]
fn natural_expiry() {
    let mut o = back_to_back(Dialect::Oidc);
    o.expires_in = 0;
    let idp = FakeIdp::start(o);
    let (dc, uc) = start_device(&idp);
    assert!(!idp.approve(&uc));
    assert_eq!(poll(&idp, &dc).json()["error"], "expired_token");
}

#[test]
fn unknown_device_code_per_dialect() {
    for d in ALL {
        let idp = start(d);
        let r = poll(&idp, "not-a-real-code");
        let v = r.json();
        let (status, err) = match d {
            Dialect::Microsoft => (400, "bad_verification_code"),
            Dialect::GitHub | Dialect::GitHubApp => (200, "incorrect_device_code"),
            Dialect::Auth0 => (403, "invalid_grant"),
            _ => (400, "invalid_grant"),
        };
        assert_eq!(
            (r.status, v["error"].as_str().unwrap()),
            (status, err),
            "{d:?}"
        );
    }
}

#[test]
fn google_scope_allow_list_and_secret() {
    let idp = start(Dialect::Google);
    let r = post_form(
        &idp.device_authorization_endpoint(),
        &[
            ("client_id", "test-client"),
            (
                "scope",
                "email https://www.googleapis.com/auth/drive https://mail.google.com/",
            ),
        ],
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        serde_json::json!({
            "error": "invalid_scope",
            "error_description": "Invalid device flow scope: https://www.googleapis.com/auth/drive"
        })
    );
    let r = post_form(
        &idp.device_authorization_endpoint(),
        &[("client_id", "other"), ("scope", "email")],
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (401, "invalid_client".into())
    );
    // The secret is required when polling.
    let (dc, _) = start_device(&idp);
    for secret in [None, Some("wrong")] {
        let mut p = vec![
            ("grant_type", DEVICE_GRANT),
            ("client_id", "test-client"),
            ("device_code", dc.as_str()),
        ];
        if let Some(sec) = secret {
            p.push(("client_secret", sec));
        }
        let r = post_form(&idp.token_endpoint(), &p);
        assert_eq!(
            (r.status, r.json()["error"].clone()),
            (401, "invalid_client".into())
        );
    }
    // HTTP Basic works too.
    let r = post_form_h(
        &idp.token_endpoint(),
        &[("grant_type", DEVICE_GRANT), ("device_code", dc.as_str())],
        &[("Authorization", "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ=")],
    );
    assert_eq!(r.status, 428, "{}", r.text());
}

#[test]
fn microsoft_tenants_and_client_rules() {
    let idp = start(Dialect::Microsoft);
    let base = idp.base_url();
    let dev = format!("{base}/organizations/oauth2/v2.0/devicecode");
    let r = post_form(
        &dev,
        &[("client_id", "test-client"), ("scope", "User.Read")],
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    let dc = s(&v, "device_code");
    let uc = s(&v, "user_code");
    let tok = format!("{base}/organizations/oauth2/v2.0/token");
    let p = [
        ("grant_type", DEVICE_GRANT),
        ("client_id", "test-client"),
        ("device_code", dc.as_str()),
    ];
    assert_eq!(post_form(&tok, &p).json()["error"], "authorization_pending");
    // The tenant must match the device request.
    assert_eq!(
        post_form(&idp.token_endpoint(), &p).json()["error"],
        "bad_verification_code"
    );
    // A public client must not send a secret.
    let mut with_secret = p.to_vec();
    with_secret.push(("client_secret", "x"));
    let r = post_form(&tok, &with_secret);
    assert_eq!(r.status, 401);
    assert!(s(&r.json(), "error_description").starts_with("AADSTS700025:"));
    // Unknown client.
    let r = post_form(&dev, &[("client_id", "nope"), ("scope", "User.Read")]);
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (401, "invalid_client".into())
    );
    // Missing scope.
    let r = post_form(&dev, &[("client_id", "test-client")]);
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, "invalid_request".into())
    );
    // Without offline_access there is no refresh token; without openid no id_token.
    assert!(idp.approve(&uc));
    let v = post_form(&tok, &p).json();
    assert!(
        v.get("refresh_token").is_none() && v.get("id_token").is_none(),
        "{v}"
    );
    assert_eq!(v["scope"], "User.Read");
    assert_eq!(v["ext_expires_in"], 3600);
}

#[test]
fn slow_down_when_interval_enforced() {
    for d in [
        Dialect::GitHub,
        Dialect::Auth0,
        Dialect::Google,
        Dialect::Oidc,
    ] {
        let mut o = back_to_back(d);
        o.enforce_interval = true;
        o.interval = Some(1);
        let idp = FakeIdp::start(o);
        let (dc, _) = start_device(&idp);
        assert_eq!(poll(&idp, &dc).json()["error"], "authorization_pending");
        let r = poll(&idp, &dc);
        let v = r.json();
        assert_eq!(v["error"], "slow_down", "{d:?}");
        match d {
            Dialect::GitHub => {
                assert_eq!(r.status, 200);
                assert_eq!(v["interval"], 6);
            }
            Dialect::Auth0 => {
                assert_eq!(r.status, 429);
                assert!(s(&v, "error_description").contains("interval of 6 seconds"));
            }
            Dialect::Google => assert_eq!(r.status, 403),
            _ => assert_eq!(r.status, 400),
        }
    }
    // Waiting for the interval avoids slow_down.
    let mut o = back_to_back(Dialect::GitHub);
    o.enforce_interval = true;
    o.interval = Some(1);
    let idp = FakeIdp::start(o);
    let (dc, _) = start_device(&idp);
    poll(&idp, &dc);
    std::thread::sleep(Duration::from_millis(1050));
    assert_eq!(poll(&idp, &dc).json()["error"], "authorization_pending");
}

#[test]
fn auto_approve_after_polls() {
    let mut o = back_to_back(Dialect::Okta);
    o.auto_approve_after_polls = Some(3);
    let idp = FakeIdp::start(o);
    let (dc, _) = start_device(&idp);
    assert_eq!(poll(&idp, &dc).json()["error"], "authorization_pending");
    assert_eq!(poll(&idp, &dc).json()["error"], "authorization_pending");
    let v = poll(&idp, &dc).json();
    assert!(s(&v, "access_token").starts_with("at_okta_"), "{v}");
    assert_eq!(idp.counters().polls, 3);
}

#[test]
fn wait_for_user_code_across_threads() {
    let idp = start(Dialect::Auth0);
    assert_eq!(idp.wait_for_user_code(Duration::from_millis(50)), None);
    let ep = idp.device_authorization_endpoint();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        post_form(&ep, &[("client_id", "test-client"), ("scope", "openid")]).json()
    });
    let code = idp
        .wait_for_user_code(Duration::from_secs(5))
        .expect("code");
    let v = t.join().unwrap();
    assert_eq!(code, s(&v, "user_code"));
    assert_eq!(idp.last_audience(), None);
    // Once approved, the code no longer counts as waiting.
    assert!(idp.approve(&code));
    assert_eq!(idp.wait_for_user_code(Duration::from_millis(20)), None);
    assert_eq!(idp.last_user_code(), Some(code));
}

#[test]
fn auth0_records_audience() {
    let idp = start(Dialect::Auth0);
    let r = post_form(
        &idp.device_authorization_endpoint(),
        &[
            ("client_id", "test-client"),
            ("scope", "openid"),
            ("audience", "https://api.example.test"),
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        idp.last_audience().as_deref(),
        Some("https://api.example.test")
    );
}

#[test]
fn malformed_requests_get_oauth_errors() {
    for d in ALL {
        let idp = start(d);
        // Invalid UTF-8 form body.
        let r = request(
            "POST",
            &idp.token_endpoint(),
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Accept", "application/json"),
            ],
            b"grant_type=\xff\xfe&device_code=%",
        );
        // A body that cannot be read is 400 everywhere, GitHub's token endpoint included (its
        // OAuth errors are 200, but this is no OAuth request; the fake's wire.rs, `github_fail`).
        assert_eq!(r.status, 400, "{d:?}");
        assert!(r.json().get("error").is_some(), "{d:?}");
        // Broken JSON.
        let r = request(
            "POST",
            &idp.device_authorization_endpoint(),
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
            ],
            b"{\"client_id\":",
        );
        assert!(r.status >= 400, "{d:?}");
        assert!(r.json().get("error").is_some(), "{d:?}");
        // Empty body → missing parameters, never a crash.
        let r = request(
            "POST",
            &idp.token_endpoint(),
            &[("Accept", "application/json")],
            b"",
        );
        assert!(r.json().get("error").is_some(), "{d:?}");
        // Wrong method / unknown path.
        assert_eq!(get(&idp.token_endpoint(), &[]).status, 405);
        assert_eq!(get(&format!("{}/nope", idp.base_url()), &[]).status, 404);
    }
}

#[test]
fn auth0_accepts_json_bodies() {
    let idp = start(Dialect::Auth0);
    let r = request(
        "POST",
        &idp.device_authorization_endpoint(),
        &[("Content-Type", "application/json")],
        br#"{"client_id":"test-client","scope":"openid offline_access","audience":"api"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(idp.last_audience().as_deref(), Some("api"));
}

#[test]
fn drop_shuts_the_server_down() {
    let idp = start(Dialect::Oidc);
    let url = idp.token_endpoint();
    assert_eq!(get(&url, &[]).status, 405);
    drop(idp);
    assert!(crate::http::try_request("GET", &url, &[], b"").is_err());
}

/// Works from inside another runtime (start and drop happen on an async test's thread).
#[tokio::test]
async fn usable_from_tokio_tests() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let idp = start(Dialect::Oidc);
    let addr = idp.base_url().trim_start_matches("http://").to_string();
    let body = "client_id=test-client&scope=openid";
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let req = format!(
        "POST /device/auth HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    sock.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(idp.last_user_code().is_some());
    drop(idp);
}

#[test]
fn polling_faster_than_the_interval_gets_slow_down_by_default() {
    // The default options: a second poll right after the first is too fast (RFC 8628 §3.5),
    // in every dialect, and the interval then grows by 5 s for the later polls too.
    for d in ALL {
        let idp = FakeIdp::start(Options::new(d));
        let (dc, _) = start_device(&idp);
        let first = poll(&idp, &dc).json();
        assert_ne!(first["error"], "slow_down", "{d:?}: {first}");
        let v = poll(&idp, &dc).json();
        assert_eq!(v["error"], "slow_down", "{d:?}: {v}");
        if d == Dialect::GitHub || d == Dialect::GitHubApp {
            assert_eq!(v["interval"], 6, "{d:?}: {v}");
        }
    }
    // The grown interval (1 + 5 s) holds: a poll 1.1 s later is still too fast.
    let idp = FakeIdp::start(Options::new(Dialect::GitHub));
    let (dc, _) = start_device(&idp);
    poll(&idp, &dc);
    assert_eq!(poll(&idp, &dc).json()["interval"], 6);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(poll(&idp, &dc).json()["interval"], 11);
}
