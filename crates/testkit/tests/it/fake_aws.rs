//! The fake access portal's Logout checks its token header like every portal operation:
//! `POST /logout` with `x-amz-sso_bearer_token`; a missing or unknown token is the real 401
//! `UnauthorizedException` (docs/aws.md, "The access portal").

use serde_json::{Value, json};
use sidekey_testkit::aws::{AwsOptions, FakeAws};

use crate::http::{Resp, request};

fn post_json(url: &str, body: &Value) -> Value {
    let r = request(
        "POST",
        url,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{url}: {}", r.text());
    r.json()
}

/// RegisterClient, StartDeviceAuthorization, CreateToken (approved on the first poll).
fn access_token(aws: &FakeAws) -> String {
    let oidc = aws.oidc_url();
    let reg = post_json(
        &format!("{oidc}/client/register"),
        &json!({"clientName": "test", "clientType": "public"}),
    );
    let (id, secret) = (reg["clientId"].clone(), reg["clientSecret"].clone());
    let dev = post_json(
        &format!("{oidc}/device_authorization"),
        &json!({"clientId": id, "clientSecret": secret, "startUrl": aws.start_url()}),
    );
    let tok = post_json(
        &format!("{oidc}/token"),
        &json!({"clientId": id, "clientSecret": secret,
                "grantType": "urn:ietf:params:oauth:grant-type:device_code",
                "deviceCode": dev["deviceCode"]}),
    );
    tok["accessToken"].as_str().unwrap().to_string()
}

fn logout(aws: &FakeAws, token: Option<&str>) -> Resp {
    let mut h = vec![];
    if let Some(t) = token {
        h.push(("x-amz-sso_bearer_token", t));
    }
    request("POST", &format!("{}/logout", aws.portal_url()), &h, b"")
}

fn unauthorized(r: &Resp) {
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.header("x-amzn-ErrorType"), Some("UnauthorizedException"));
    assert!(r.json()["message"].is_string(), "{}", r.text());
}

#[test]
fn logout_needs_the_sessions_token_and_ends_it() {
    let aws = FakeAws::start(AwsOptions::default());
    let token = access_token(&aws);
    // No header, an unknown token, the token in the wrong header: 401, nothing ended.
    unauthorized(&logout(&aws, None));
    unauthorized(&logout(&aws, Some("not-a-session")));
    let r = request(
        "POST",
        &format!("{}/logout", aws.portal_url()),
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    );
    unauthorized(&r);
    assert_eq!(aws.logouts(), 0);

    let accounts = |t: &str| {
        crate::http::get(
            &format!("{}/assignment/accounts", aws.portal_url()),
            &[("x-amz-sso_bearer_token", t)],
        )
    };
    assert_eq!(accounts(&token).status, 200);
    let r = logout(&aws, Some(&token));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(aws.logouts(), 1);
    // The session is over: the token opens nothing any more, not even a second Logout.
    unauthorized(&accounts(&token));
    unauthorized(&logout(&aws, Some(&token)));
    assert_eq!(aws.logouts(), 1);
}
