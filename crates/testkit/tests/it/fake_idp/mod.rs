//! Integration tests for the fake authorization servers, over real HTTP.

mod device;
mod faults;
mod page;
mod tokens;

use serde_json::Value;
use sidekey_testkit::{Dialect, FakeIdp, Options};

use crate::http::{Resp, post_form};

pub const ALL: [Dialect; 7] = [
    Dialect::Microsoft,
    Dialect::Google,
    Dialect::GitHub,
    Dialect::GitHubApp,
    Dialect::Okta,
    Dialect::Auth0,
    Dialect::Oidc,
];

pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

pub fn start(d: Dialect) -> FakeIdp {
    FakeIdp::start(back_to_back(d))
}

/// The dialect's options without the interval check (on by default: a poll sooner than the
/// interval gets `slow_down`): these tests of the protocol poll back to back on purpose.
/// `device::polling_faster_than_the_interval_gets_slow_down_by_default` tests the check.
pub fn back_to_back(d: Dialect) -> Options {
    let mut o = Options::new(d);
    o.enforce_interval = false;
    o
}

/// A scope each dialect accepts and that yields a refresh token where possible.
pub fn default_scope(d: Dialect) -> &'static str {
    match d {
        Dialect::Microsoft => "openid profile offline_access User.Read",
        Dialect::Google => "openid email profile",
        Dialect::GitHub => "repo gist",
        Dialect::GitHubApp => "",
        Dialect::Okta | Dialect::Auth0 | Dialect::Oidc => "openid profile email offline_access",
    }
}

pub fn start_device_scoped(idp: &FakeIdp, scope: &str) -> (String, String) {
    let r = post_form(
        &idp.device_authorization_endpoint(),
        &[("client_id", "test-client"), ("scope", scope)],
    );
    assert_eq!(r.status, 200, "device request: {}", r.text());
    let v = r.json();
    (
        v["device_code"].as_str().unwrap().to_string(),
        v["user_code"].as_str().unwrap().to_string(),
    )
}

pub fn start_device(idp: &FakeIdp) -> (String, String) {
    start_device_scoped(idp, default_scope(idp.dialect()))
}

pub fn poll(idp: &FakeIdp, device_code: &str) -> Resp {
    let mut p = vec![
        ("grant_type", DEVICE_GRANT),
        ("client_id", "test-client"),
        ("device_code", device_code),
    ];
    if idp.dialect() == Dialect::Google {
        p.push(("client_secret", "test-secret"));
    }
    post_form(&idp.token_endpoint(), &p)
}

/// A refresh grant as each provider needs it: Google's with the client secret.
pub fn refresh(idp: &FakeIdp, rt: &str) -> Resp {
    let mut p = vec![
        ("grant_type", "refresh_token"),
        ("client_id", "test-client"),
        ("refresh_token", rt),
    ];
    if idp.dialect() == Dialect::Google {
        p.push(("client_secret", "test-secret"));
    }
    post_form(&idp.token_endpoint(), &p)
}

/// Full happy path: device request, approve, poll → token JSON.
pub fn login(idp: &FakeIdp) -> Value {
    let (dc, uc) = start_device(idp);
    assert!(idp.approve(&uc));
    let r = poll(idp, &dc);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert!(v.get("access_token").is_some(), "{v}");
    v
}

pub fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
        .to_string()
}
