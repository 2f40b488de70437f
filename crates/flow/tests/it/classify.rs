//! Table-driven tests of the pure half: every provider's documented answer, copied from
//! docs/providers.md, must mean what the provider meant — whatever HTTP status it came with.

use sidekey_flow::FlowError;
use sidekey_flow::poll::{Poller, Step};
use sidekey_flow::response::{
    DeviceReplyError, OAuthError, TokenReply, classify_token_reply, parse_device_authorization,
};
use std::time::{Duration, Instant};

const JSON: Option<&str> = Some("application/json; charset=utf-8");
const FORM: Option<&str> = Some("application/x-www-form-urlencoded; charset=utf-8");
const HTML: Option<&str> = Some("text/html");

#[derive(Debug, PartialEq)]
enum Meaning {
    Tokens,
    Pending,
    SlowDown(Option<u64>),
    Terminal(&'static str),
    Transient,
}

fn meaning(status: u16, ct: Option<&str>, body: &str) -> Meaning {
    match classify_token_reply(status, ct, None, body.as_bytes()) {
        TokenReply::Tokens(_) => Meaning::Tokens,
        TokenReply::Transient { .. } => Meaning::Transient,
        TokenReply::Error(e) => match e.code.as_str() {
            "authorization_pending" => Meaning::Pending,
            "slow_down" => Meaning::SlowDown(e.interval),
            _ => Meaning::Terminal(FlowError::from_oauth(&e, false).reason()),
        },
    }
}

#[test]
fn every_dialects_poll_answers() {
    use Meaning::*;
    let ms_pending = r#"{"error":"authorization_pending","error_description":"AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue polling.\r\nTrace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2026-11-25 12:00:00Z","error_codes":[70016],"timestamp":"2026-11-25 12:00:00Z","trace_id":"1","correlation_id":"2","error_uri":"https://login.microsoftonline.com/error?code=70016"}"#;
    let table: &[(&str, u16, Option<&str>, &str, Meaning)] = &[
        // Microsoft: 400 for everything, its own denial code.
        ("ms pending", 400, JSON, ms_pending, Pending),
        (
            "ms declined",
            400,
            JSON,
            r#"{"error":"authorization_declined","error_description":"AADSTS70000: declined"}"#,
            Terminal("declined"),
        ),
        (
            "ms expired",
            400,
            JSON,
            r#"{"error":"expired_token","error_codes":[70019]}"#,
            Terminal("expired"),
        ),
        (
            "ms bad code",
            400,
            JSON,
            r#"{"error":"bad_verification_code"}"#,
            Terminal("bad_code"),
        ),
        (
            "ms public client off",
            401,
            JSON,
            r#"{"error":"invalid_client","error_description":"AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'."}"#,
            Terminal("invalid_client"),
        ),
        (
            "ms tokens",
            200,
            JSON,
            r#"{"token_type":"Bearer","scope":"User.Read","expires_in":4523,"ext_expires_in":4523,"access_token":"eyJ0","refresh_token":"M.R3"}"#,
            Tokens,
        ),
        // Google: 428 pending, 403 slow_down and denial.
        (
            "google pending",
            428,
            JSON,
            r#"{"error":"authorization_pending","error_description":"Precondition Required"}"#,
            Pending,
        ),
        (
            "google slow",
            403,
            JSON,
            r#"{"error":"slow_down","error_description":"Forbidden"}"#,
            SlowDown(None),
        ),
        (
            "google denied",
            403,
            JSON,
            r#"{"error":"access_denied","error_description":"Forbidden"}"#,
            Terminal("declined"),
        ),
        (
            "google expired",
            400,
            JSON,
            r#"{"error":"expired_token","error_description":"Bad Request"}"#,
            Terminal("expired"),
        ),
        (
            "google quota",
            403,
            JSON,
            r#"{"error_code":"rate_limit_exceeded"}"#,
            Transient,
        ),
        (
            "google admin",
            400,
            JSON,
            r#"{"error":"admin_policy_enforced"}"#,
            Terminal("provider_error"),
        ),
        (
            "google wrong client type",
            401,
            JSON,
            r#"{"error":"invalid_client","error_description":"The OAuth client type is incorrect"}"#,
            Terminal("invalid_client"),
        ),
        // GitHub: HTTP 200 for errors; form bodies unless Accept: application/json.
        (
            "github pending json",
            200,
            JSON,
            r#"{"error":"authorization_pending","error_description":"The authorization request is still pending.","error_uri":"https://docs.github.com"}"#,
            Pending,
        ),
        (
            "github pending form",
            200,
            FORM,
            "error=authorization_pending&error_description=The+authorization+request+is+still+pending.",
            Pending,
        ),
        (
            "github slow form",
            200,
            FORM,
            "error=slow_down&error_description=Too+many+requests&error_uri=x&interval=22",
            SlowDown(Some(22)),
        ),
        (
            "github slow json",
            200,
            JSON,
            r#"{"error":"slow_down","interval":10}"#,
            SlowDown(Some(10)),
        ),
        (
            "github expired",
            200,
            JSON,
            r#"{"error":"expired_token"}"#,
            Terminal("expired"),
        ),
        (
            "github expired prose",
            200,
            JSON,
            r#"{"error":"token_expired"}"#,
            Terminal("expired"),
        ),
        (
            "github denied",
            200,
            FORM,
            "error=access_denied",
            Terminal("declined"),
        ),
        (
            "github bad code",
            200,
            JSON,
            r#"{"error":"incorrect_device_code"}"#,
            Terminal("bad_code"),
        ),
        (
            "github bad client",
            200,
            JSON,
            r#"{"error":"incorrect_client_credentials"}"#,
            Terminal("invalid_client"),
        ),
        (
            "github disabled",
            200,
            JSON,
            r#"{"error":"device_flow_disabled"}"#,
            Terminal("device_flow_disabled"),
        ),
        (
            "github grant type",
            200,
            JSON,
            r#"{"error":"unsupported_grant_type"}"#,
            Terminal("provider_error"),
        ),
        (
            "github tokens form",
            200,
            FORM,
            "access_token=gho_16C7e42F292c6912E7710c838347Ae178B4a&scope=repo%2Cgist&token_type=bearer",
            Tokens,
        ),
        // Auth0: 403 pending, 429 slow_down.
        (
            "auth0 pending",
            403,
            JSON,
            r#"{"error":"authorization_pending","error_description":"User has yet to authorize device code."}"#,
            Pending,
        ),
        (
            "auth0 slow",
            429,
            JSON,
            r#"{"error":"slow_down","error_description":"You are polling faster than the specified interval of 5 seconds."}"#,
            SlowDown(None),
        ),
        (
            "auth0 expired",
            403,
            JSON,
            r#"{"error":"expired_token"}"#,
            Terminal("expired"),
        ),
        (
            "auth0 then",
            403,
            JSON,
            r#"{"error":"invalid_grant"}"#,
            Terminal("bad_code"),
        ),
        // Okta / generic RFC.
        (
            "okta pending",
            400,
            JSON,
            r#"{"error":"authorization_pending","error_description":"The device authorization is pending. Please try again later."}"#,
            Pending,
        ),
        (
            "rfc invalid_scope",
            400,
            JSON,
            r#"{"error":"invalid_scope"}"#,
            Terminal("invalid_scope"),
        ),
        (
            "ghes unauthorized",
            400,
            JSON,
            r#"{"error":"unauthorized_client"}"#,
            Terminal("device_flow_disabled"),
        ),
        // Faults: never terminal.
        (
            "500 html",
            500,
            HTML,
            "<html><body>Internal Server Error</body></html>",
            Transient,
        ),
        ("502 empty", 502, None, "", Transient),
        ("503 json no error", 503, JSON, "{}", Transient),
        (
            "200 html portal",
            200,
            HTML,
            "<html>Sign in to the hotel wifi</html>",
            Transient,
        ),
        (
            "200 truncated",
            200,
            JSON,
            r#"{"access_token":"abc","tok"#,
            Transient,
        ),
        (
            "200 no token",
            200,
            JSON,
            r#"{"token_type":"Bearer"}"#,
            Transient,
        ),
        ("429 no body", 429, None, "", Transient),
        ("200 json array", 200, JSON, "[1,2]", Transient),
        ("200 garbage bytes", 200, None, "\u{0}\u{1}\u{2}", Transient),
    ];
    for (name, status, ct, body, want) in table {
        assert_eq!(&meaning(*status, *ct, body), want, "{name}");
    }
}

#[test]
fn github_scopes_split_on_commas() {
    let TokenReply::Tokens(t) = classify_token_reply(
        200,
        FORM,
        None,
        b"access_token=gho_x&scope=repo%2Cgist&token_type=bearer",
    ) else {
        panic!("tokens expected")
    };
    assert_eq!(t.scope.unwrap(), vec!["repo", "gist"]);
    assert_eq!(t.token_type, "bearer");
    assert_eq!(t.expires_in, None);
}

#[test]
fn device_responses_of_every_dialect() {
    // (name, content type, body, verification URI, interval, has a complete URI)
    type Case<'a> = (&'a str, Option<&'a str>, &'a str, &'a str, u64, bool);
    let cases: &[Case] = &[
        (
            "microsoft",
            JSON,
            r#"{"user_code":"FRWQDE7YL","device_code":"DAQAB","verification_uri":"https://microsoft.com/devicelogin","expires_in":900,"interval":5,"message":"To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code FRWQDE7YL to authenticate."}"#,
            "https://microsoft.com/devicelogin",
            5,
            false,
        ),
        (
            "google",
            JSON,
            r#"{"device_code":"4/4-GMMhmHCXhWEzkobqIHGG_EnNYYsAkukHspeYUk9E8","user_code":"GQVQ-JKEC","verification_url":"https://www.google.com/device","expires_in":1800,"interval":5}"#,
            "https://www.google.com/device",
            5,
            false,
        ),
        (
            "github form",
            FORM,
            "device_code=3584d83530557fdd1f46af8289938c8ef79f9dc5&expires_in=900&interval=5&user_code=WDJB-MJHT&verification_uri=https%3A%2F%2Fgithub.com%2Flogin%2Fdevice",
            "https://github.com/login/device",
            5,
            false,
        ),
        (
            "aws",
            JSON,
            r#"{"deviceCode":"d","userCode":"LDHD-CKXW","verificationUri":"https://device.sso.eu-west-1.amazonaws.com/","verificationUriComplete":"https://device.sso.eu-west-1.amazonaws.com/?user_code=LDHD-CKXW","expiresIn":600,"interval":1}"#,
            "https://device.sso.eu-west-1.amazonaws.com/",
            1,
            true,
        ),
        (
            "no interval",
            JSON,
            r#"{"device_code":"d","user_code":"u","verification_uri":"https://x/","expires_in":600}"#,
            "https://x/",
            5,
            false,
        ),
        (
            "zero interval",
            JSON,
            r#"{"device_code":"d","user_code":"u","verification_uri":"https://x/","expires_in":600,"interval":0}"#,
            "https://x/",
            5,
            false,
        ),
        (
            "string numbers",
            JSON,
            r#"{"device_code":"d","user_code":"u","verification_url":"https://x/","expires_in":"900","interval":"7"}"#,
            "https://x/",
            7,
            false,
        ),
        (
            "okta",
            JSON,
            r#"{"device_code":"d","user_code":"MHXTFRPK","verification_uri":"https://x.okta.com/activate","verification_uri_complete":"https://x.okta.com/activate?user_code=MHXTFRPK","expires_in":600,"interval":5}"#,
            "https://x.okta.com/activate",
            5,
            true,
        ),
    ];
    for (name, ct, body, uri, interval, complete) in cases {
        let a = parse_device_authorization(200, *ct, body.as_bytes())
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(a.verification_uri, *uri, "{name}");
        assert_eq!(a.interval, *interval, "{name}");
        assert_eq!(a.verification_uri_complete.is_some(), *complete, "{name}");
        assert!(
            !format!("{a:?}").contains("4/4-GMMh"),
            "device_code must be redacted in Debug"
        );
    }
    let ms = parse_device_authorization(200, JSON, cases[0].2.as_bytes()).unwrap();
    assert!(ms.message.unwrap().contains("FRWQDE7YL"));
}

#[test]
fn device_endpoint_failures() {
    let e = |status, ct, body: &str| {
        parse_device_authorization(status, ct, body.as_bytes()).unwrap_err()
    };
    assert!(
        matches!(e(400, JSON, r#"{"error":"invalid_scope","error_description":"Invalid device flow scope: https://www.googleapis.com/auth/drive"}"#), DeviceReplyError::OAuth(o) if o.code == "invalid_scope")
    );
    assert!(matches!(
        e(400, JSON, r#"{"error":"device_flow_disabled"}"#),
        DeviceReplyError::OAuth(_)
    ));
    assert!(matches!(
        e(200, FORM, "error=device_flow_disabled&error_description=x"),
        DeviceReplyError::OAuth(_)
    ));
    assert!(matches!(
        e(403, JSON, r#"{"error_code":"rate_limit_exceeded"}"#),
        DeviceReplyError::Transient(_)
    ));
    assert!(matches!(
        e(503, HTML, "<html>down</html>"),
        DeviceReplyError::Transient(_)
    ));
    // GitHub with device flow off on an old server: 200 without a verification URI.
    match e(200, JSON, r#"{"device_code":"d","user_code":"u"}"#) {
        DeviceReplyError::Malformed(m) => assert!(m.contains("verification_uri"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        e(404, HTML, "<html>not found</html>"),
        DeviceReplyError::Malformed(_)
    ));
    // A captive portal's page or a cut-off body with a success status is a fault on the way
    // (retried), as at the token endpoint.
    match e(200, HTML, "<html>Guest Wi-Fi</html>") {
        DeviceReplyError::Transient(m) => assert!(m.contains("text/html"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        e(200, JSON, r#"{"device_code":"d","us"#),
        DeviceReplyError::Transient(_)
    ));
}

/// Found by `fuzz/` (target device_response): a hostile `error_code` reached the error text raw,
/// control characters and all, at any length (the token endpoint's path already cut it).
#[test]
fn device_error_code_is_one_short_line() {
    let long = "x".repeat(10_000);
    for code in ["\u{0}", "a\nFAKE LINE\u{1b}[31m", long.as_str()] {
        let body = serde_json::json!({ "error_code": code }).to_string();
        match parse_device_authorization(403, JSON, body.as_bytes()).unwrap_err() {
            DeviceReplyError::Transient(m) | DeviceReplyError::Malformed(m) => {
                assert!(!m.chars().any(char::is_control), "{m:?}");
                assert!(m.chars().count() <= 100, "{} chars", m.chars().count());
            }
            other => panic!("{other:?}"),
        }
    }
}

/// Found by `fuzz/` (target device_response): a complete body was accepted as a code with any
/// status below 300, 1xx (101 Switching Protocols reaches the client as a final answer) included.
/// RFC 8628 §3.2: the code comes with a success status.
#[test]
fn device_code_only_from_a_success_status() {
    let body = r#"{"device_code":"d","user_code":"U","verification_uri":"https://x.test/device"}"#;
    assert!(parse_device_authorization(200, JSON, body.as_bytes()).is_ok());
    for status in [0, 1, 100, 101, 199, 300, 302] {
        assert!(
            matches!(
                parse_device_authorization(status, JSON, body.as_bytes()),
                Err(DeviceReplyError::Malformed(_))
            ),
            "HTTP {status}"
        );
    }
}

#[test]
fn microsoft_descriptions_are_cut_to_one_line() {
    let e = OAuthError {
        code: "authorization_declined".into(),
        description: Some(
            "AADSTS70000: The user declined.\r\nTrace ID: abc\r\nCorrelation ID: def".into(),
        ),
        interval: None,
    };
    assert_eq!(
        e.short_description().unwrap(),
        "AADSTS70000: The user declined."
    );
    let msg = FlowError::from_oauth(&e, false).to_string();
    assert!(!msg.contains('\n') && !msg.contains("Trace"), "{msg}");
}

// ---- the state machine, with hand-made answers and no clock at all ----

fn auth(interval: u64, expires_in: u64) -> sidekey_flow::DeviceAuthorization {
    parse_device_authorization(
        200,
        JSON,
        format!(r#"{{"device_code":"d","user_code":"u","verification_uri":"https://x/","expires_in":{expires_in},"interval":{interval}}}"#).as_bytes(),
    )
    .unwrap()
}

fn err(code: &str, interval: Option<u64>) -> TokenReply {
    TokenReply::Error(OAuthError {
        code: code.into(),
        description: None,
        interval,
    })
}

fn wait(s: Step) -> Duration {
    match s {
        Step::Wait(d) => d,
        Step::Done(r) => panic!("expected a wait, got {r:?}"),
    }
}

#[test]
fn slow_down_adds_five_seconds_cumulatively_or_takes_the_servers_interval() {
    let t0 = Instant::now();
    let mut p = Poller::new(&auth(5, 900), t0);
    assert_eq!(wait(p.first_wait(t0)), Duration::from_secs(5));
    assert_eq!(
        wait(p.on_reply(err("authorization_pending", None), t0)),
        Duration::from_secs(5)
    );
    assert_eq!(
        wait(p.on_reply(err("slow_down", None), t0)),
        Duration::from_secs(10)
    );
    assert_eq!(
        wait(p.on_reply(err("slow_down", None), t0)),
        Duration::from_secs(15)
    );
    assert_eq!(
        wait(p.on_reply(err("authorization_pending", None), t0)),
        Duration::from_secs(15)
    );
    // GitHub: the body carries the new interval.
    assert_eq!(
        wait(p.on_reply(err("slow_down", Some(22)), t0)),
        Duration::from_secs(22)
    );
    // 429 without an OAuth body also slows down.
    let d = wait(p.on_reply(
        TokenReply::Transient {
            what: "HTTP 429".into(),
            retry_after: None,
            rate_limited: true,
        },
        t0,
    ));
    assert!(d >= Duration::from_secs(27), "{d:?}");
    assert_eq!(p.interval(), Duration::from_secs(27));
}

#[test]
fn faults_back_off_exponentially_honour_retry_after_and_reset() {
    let t0 = Instant::now();
    let mut p = Poller::new(&auth(2, 3600), t0);
    p.first_wait(t0);
    let waits: Vec<u64> = (0..7)
        .map(|_| wait(p.on_transport_error("timed out".into(), t0)).as_secs())
        .collect();
    assert_eq!(waits, vec![4, 8, 16, 32, 60, 60, 60]);
    let ra = TokenReply::Transient {
        what: "HTTP 503".into(),
        retry_after: Some(Duration::from_secs(120)),
        rate_limited: false,
    };
    assert_eq!(wait(p.on_reply(ra, t0)), Duration::from_secs(120));
    assert_eq!(
        wait(p.on_reply(err("authorization_pending", None), t0)),
        Duration::from_secs(2)
    );
    assert_eq!(
        wait(p.on_transport_error("reset".into(), t0)),
        Duration::from_secs(4)
    );
}

#[test]
fn local_deadline_ends_the_flow_distinctly() {
    let t0 = Instant::now();
    let mut p = Poller::new(&auth(5, 12), t0);
    p.first_wait(t0);
    let later = t0 + Duration::from_secs(10);
    // The last wait is cut short so the final poll lands on the deadline...
    assert_eq!(
        wait(p.on_reply(err("authorization_pending", None), later)),
        Duration::from_secs(2)
    );
    // ...and a server that still says "pending" then gets no further poll.
    match p.on_reply(
        err("authorization_pending", None),
        t0 + Duration::from_secs(12),
    ) {
        Step::Done(Err(FlowError::Expired)) => {}
        other => panic!("{other:?}"),
    }
    // Faults up to the deadline: a network failure, not an expiry.
    let mut p = Poller::new(&auth(5, 30), t0);
    p.first_wait(t0);
    assert_eq!(
        wait(p.on_transport_error("could not connect".into(), t0 + Duration::from_secs(5))),
        Duration::from_secs(10)
    );
    assert_eq!(
        wait(p.on_transport_error("could not connect".into(), t0 + Duration::from_secs(15))),
        Duration::from_secs(15)
    );
    match p.on_transport_error("could not connect".into(), t0 + Duration::from_secs(30)) {
        Step::Done(Err(FlowError::Unreachable(m))) => {
            assert!(m.contains("could not connect"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    // invalid_grant after the deadline is Auth0's second expiry answer.
    let mut p = Poller::new(&auth(5, 10), t0);
    match p.on_reply(err("invalid_grant", None), t0 + Duration::from_secs(11)) {
        Step::Done(Err(FlowError::Expired)) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn nothing_is_scheduled_after_the_end() {
    let t0 = Instant::now();
    let mut p = Poller::new(&auth(5, 900), t0);
    let tokens = classify_token_reply(
        200,
        JSON,
        None,
        br#"{"access_token":"a","token_type":"Bearer"}"#,
    );
    assert!(matches!(p.on_reply(tokens, t0), Step::Done(Ok(_))));
    assert!(p.is_finished());
    assert!(matches!(
        p.on_reply(err("authorization_pending", None), t0),
        Step::Done(Err(_))
    ));
    assert!(matches!(
        p.on_transport_error("x".into(), t0),
        Step::Done(Err(_))
    ));
}

#[test]
fn hostile_numbers_are_clamped_not_overflowed() {
    let huge = u64::MAX;
    let a = parse_device_authorization(
        200,
        JSON,
        format!(r#"{{"device_code":"d","user_code":"u","verification_uri":"https://x/","expires_in":{huge},"interval":{huge}}}"#).as_bytes(),
    )
    .unwrap();
    assert_eq!(a.interval, 300);
    assert_eq!(a.expires_in, 24 * 3600);
    let t0 = Instant::now();
    let mut p = Poller::new(&a, t0);
    p.first_wait(t0);
    for _ in 0..3 {
        p.on_reply(err("slow_down", Some(huge)), t0);
        p.on_reply(err("slow_down", None), t0);
        p.on_reply(
            TokenReply::Transient {
                what: "429".into(),
                retry_after: None,
                rate_limited: true,
            },
            t0,
        );
    }
    assert_eq!(p.interval(), Duration::from_secs(300));
    let TokenReply::Tokens(t) = classify_token_reply(
        200,
        JSON,
        None,
        format!(r#"{{"access_token":"a","expires_in":{huge}}}"#).as_bytes(),
    ) else {
        panic!()
    };
    assert_eq!(t.expires_in, Some(10 * 365 * 24 * 3600));
}

// ---- Entra: busy and server errors are faults, not answers (issue 9; docs/providers.md, "Microsoft") ----

/// Entra documents `temporarily_unavailable` ("retry the request after a small delay") and
/// `server_error` at its token endpoint (entra-docs v2-oauth2-auth-code-flow.md, "Error codes for
/// token endpoint errors"); RFC 6749 §4.1.2.1 names both as the server's trouble. They and any
/// 5xx with an OAuth body are transient, whatever their status.
#[test]
fn busy_and_server_errors_are_transient_whatever_the_status() {
    use Meaning::*;
    let busy = r#"{"error":"temporarily_unavailable","error_description":"The server is temporarily too busy to handle the request. Retry the request after a small delay.\r\nTrace ID: 1","error_codes":[]}"#;
    let table: &[(&str, u16, Option<&str>, &str, Meaning)] = &[
        ("ms busy 503", 503, JSON, busy, Transient),
        ("ms busy 400", 400, JSON, busy, Transient),
        (
            "server_error 500",
            500,
            JSON,
            r#"{"error":"server_error","error_description":"The server encountered an unexpected error."}"#,
            Transient,
        ),
        (
            "server_error 400",
            400,
            JSON,
            r#"{"error":"server_error"}"#,
            Transient,
        ),
        (
            "5xx with another OAuth error",
            502,
            JSON,
            r#"{"error":"invalid_request"}"#,
            Transient,
        ),
        // A 4xx with a real answer stays an answer.
        (
            "ms declined",
            400,
            JSON,
            r#"{"error":"authorization_declined"}"#,
            Terminal("declined"),
        ),
    ];
    for (name, status, ct, body, want) in table {
        assert_eq!(&meaning(*status, *ct, body), want, "{name}");
    }
    // The same at the device authorization endpoint.
    for (status, body) in [
        (503, r#"{"error":"temporarily_unavailable"}"#),
        (500, r#"{"error":"invalid_request"}"#),
    ] {
        assert!(matches!(
            parse_device_authorization(status, JSON, body.as_bytes()),
            Err(DeviceReplyError::Transient(_))
        ));
    }
    // The poller backs off from them even when handed as an OAuth error.
    let t0 = Instant::now();
    let mut p = Poller::new(&auth(5, 900), t0);
    p.first_wait(t0);
    assert_eq!(
        wait(p.on_reply(err("temporarily_unavailable", None), t0)),
        Duration::from_secs(10)
    );
    assert_eq!(
        wait(p.on_reply(err("server_error", None), t0)),
        Duration::from_secs(20)
    );
    assert!(!p.is_finished());
}

/// `unauthorized_client` is worded by the provider's dialect (docs/providers.md, "Microsoft"): at Entra it is
/// the app registration's tenant or account type, elsewhere the device-flow switch; the reason
/// word (and so the exit code) stays the same.
#[test]
fn unauthorized_client_is_worded_per_provider() {
    use sidekey_flow::ProviderKind;
    let e = OAuthError {
        code: "unauthorized_client".into(),
        description: Some("AADSTS700016: x\r\nTrace ID: 1".into()),
        interval: None,
    };
    let ms = FlowError::from_oauth(&e, false).for_provider(ProviderKind::Microsoft);
    assert_eq!(ms.reason(), "device_flow_disabled");
    let text = ms.to_string();
    assert!(
        text.starts_with("the app is not registered for this tenant or account type (unauthorized_client): AADSTS700016: x: check"),
        "{text}"
    );
    assert!(!text.contains("enable it"), "{text}");
    for kind in [ProviderKind::GitHub, ProviderKind::Oidc] {
        let text = FlowError::from_oauth(&e, false)
            .for_provider(kind)
            .to_string();
        assert!(text.contains("device flow is not enabled"), "{text}");
    }
    // GitHub's own device_flow_disabled keeps its wording even for Microsoft's dialect.
    let gh = OAuthError {
        code: "device_flow_disabled".into(),
        description: None,
        interval: None,
    };
    let text = FlowError::from_oauth(&gh, false)
        .for_provider(ProviderKind::Microsoft)
        .to_string();
    assert!(text.contains("enable it in the app's settings"), "{text}");
}

/// Issue 10 item 7: what is shown is exactly one absolute URL and a short printable code.
#[test]
fn device_authorization_shows_one_url_and_a_printable_code() {
    let body = |uri: &str, code: &str, complete: Option<&str>| {
        let mut v = serde_json::json!({
            "device_code": "dc-0123456789",
            "user_code": code,
            "verification_uri": uri,
            "expires_in": 900,
            "interval": 5,
        });
        if let Some(c) = complete {
            v["verification_uri_complete"] = c.into();
        }
        v.to_string()
    };
    let parse = |b: String| parse_device_authorization(200, JSON, b.as_bytes());
    let malformed = |b: String| matches!(parse(b), Err(DeviceReplyError::Malformed(_)));
    // A second URL after a newline (or any whitespace), control characters, no URL at all.
    for uri in [
        "https://microsoft.com/devicelogin\nhttps://evil.example/",
        "https://microsoft.com/devicelogin https://evil.example/",
        "https://microsoft.com/devicelogin\r",
        "https://microsoft.com/\u{1b}[2Kdevicelogin",
        "https://microsoft.com/devicelogin\u{85}x",
        "microsoft.com/devicelogin",
        "/devicelogin",
        "",
    ] {
        assert!(malformed(body(uri, "FRWQDE7YL", None)), "{uri:?}");
        if uri.is_empty() {
            continue; // an empty verification_uri_complete counts as absent
        }
        assert!(
            malformed(body(
                "https://microsoft.com/devicelogin",
                "FRWQDE7YL",
                Some(uri)
            )),
            "complete {uri:?}"
        );
    }
    // ANSI escapes, other controls, a huge code, an empty one.
    let huge = "A".repeat(200 * 1024);
    for code in [
        "\u{1b}[31mFRWQ\u{1b}[0m",
        "FRWQ\nDE7YL",
        "FRWQ\u{7f}",
        "",
        "   ",
        &huge,
    ] {
        assert!(
            malformed(body("https://microsoft.com/devicelogin", code, None)),
            "{:?}",
            &code[..code.len().min(20)]
        );
    }
    // What is kept is the normalised URL; ordinary codes pass unchanged.
    let a = parse(body(
        "  https://MICROSOFT.com/devicelogin ",
        "WDJB-MJHT",
        None,
    ))
    .unwrap();
    assert_eq!(a.verification_uri, "https://microsoft.com/devicelogin");
    assert_eq!(a.user_code, "WDJB-MJHT");
    let a = parse(body(
        "https://example.com",
        "ab12 cd34",
        Some("https://example.com/?c=1"),
    ))
    .unwrap();
    assert_eq!(a.verification_uri, "https://example.com/");
    assert_eq!(a.user_code, "ab12 cd34");
    assert_eq!(
        a.verification_uri_complete.as_deref(),
        Some("https://example.com/?c=1")
    );
}
