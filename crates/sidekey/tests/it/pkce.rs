//! `flow = "code"`: authorization code + PKCE with the loopback redirect and with paste-back,
//! against the fake's `/authorize` and its `authorization_code` grant (S256 checked,
//! single-use codes). The test plays the browser.

use crate::common;

use common::browser::{approve, get};
use common::*;
use serde_json::Value;
use sidekey_testkit::{Dialect, FakeIdp, Options};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn code_toml(name: &str, idp: &FakeIdp) -> String {
    format!(
        "[accounts.{name}]\nprovider = \"oidc\"\nclient_id = \"test-client\"\nissuer = \"{}\"\nflow = \"code\"\n",
        idp.issuer()
    )
}

fn code_event(out: &std::process::Output) -> Value {
    let line = stdout(out).lines().next().unwrap_or("").to_string();
    serde_json::from_str(&line).unwrap_or_else(|_| panic!("{}", stderr(out)))
}

#[test]
fn loopback_redirect_signs_in() {
    let idp = FakeIdp::start(Options::new(Dialect::Oidc));
    let env = Env::new(&code_toml("c", &idp));
    let mut run = env.login_json("c");
    let ev = run.next_event(T);
    assert_eq!(ev["event"], "code", "{ev}");
    let link = ev["verification_uri"].as_str().unwrap().to_string();
    assert!(link.contains("code_challenge_method=S256"), "{link}");
    assert!(!link.contains("code_verifier"), "{link}");
    let redirect = approve(&link);
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
    let (status, _) = get(&redirect);
    assert_eq!(status, 200, "the loopback page");
    let done = run.next_event(T);
    assert_eq!(done["event"], "signed_in", "{done}");
    assert_eq!(run.finish(&env).0, 0);
    let tokens = idp.issued_access_tokens();
    assert_eq!(tokens.len(), 1);
    assert_eq!(stdout(&env.run(&["token", "c"])).trim(), tokens[0]);
    env.assert_no_secrets(&tokens);
}

#[test]
fn paste_back_wrong_state_reuse_and_denial() {
    let idp = FakeIdp::start(Options::new(Dialect::Oidc));
    let env = Env::new(&code_toml("c", &idp));
    let out = env.run(&["login", "c", "--no-wait", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let link = code_event(&out)["verification_uri"]
        .as_str()
        .unwrap()
        .to_string();
    // The phone's browser ends on a 127.0.0.1 page that does not load; the person copies it.
    let redirect = approve(&link);
    let code = url::Url::parse(&redirect)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();

    // A wrong state is refused (exit 6) and the sign-in keeps waiting.
    let forged = redirect.replace("state=", "state=x");
    let bad = env.run(&["login", "c", "--paste-url", &forged]);
    assert_eq!(bad.status.code(), Some(6), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("state"), "{}", stderr(&bad));
    assert!(idp.issued_access_tokens().is_empty());

    // Pasted with the padding a chat app adds.
    let padded = format!("  {redirect}\n ");
    let ok = env.run(&["login", "c", "--paste-url", &padded]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert_eq!(idp.issued_access_tokens().len(), 1);

    // The same URL again: nothing waits for it any more, the code is not sent twice.
    let again = env.run(&["login", "c", "--paste-url", &redirect]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert_eq!(idp.issued_access_tokens().len(), 1);

    // The person refuses: error=access_denied ends the sign-in as declined (exit 4).
    idp.deny_authorizations(true);
    let out = env.run(&["login", "c", "--no-wait", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let link = code_event(&out)["verification_uri"]
        .as_str()
        .unwrap()
        .to_string();
    let denied = approve(&link);
    assert!(denied.contains("error=access_denied"), "{denied}");
    let no = env.run(&["login", "c", "--paste-url", &denied]);
    assert_eq!(no.status.code(), Some(4), "{}", stderr(&no));

    env.record(&stdout(&ok));
    env.record(&stderr(&ok));
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    secrets.push(code);
    env.assert_no_secrets(&secrets);
}
