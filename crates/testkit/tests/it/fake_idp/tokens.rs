//! Token responses, refresh rotation, revocation, userinfo and discovery.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sidekey_testkit::{Dialect, FakeIdp};

use super::{ALL, back_to_back, login, poll, refresh, s, start, start_device};
use crate::http::{get, post_form, request};

fn jwt_payload(t: &str) -> Value {
    let parts: Vec<&str> = t.split('.').collect();
    assert_eq!(parts.len(), 3, "JWT-shaped: {t}");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
}

#[test]
fn success_shapes_per_dialect() {
    for d in ALL {
        let idp = start(d);
        let v = login(&idp);
        let at = s(&v, "access_token");
        assert!(at.len() >= 32, "{d:?}");
        assert_eq!(idp.issued_access_tokens(), vec![at.clone()]);
        assert!(idp.access_token_valid(&at));
        assert!(!idp.access_token_valid("at_bogus"));
        match d {
            Dialect::Microsoft => {
                assert!(at.starts_with("at_msft_"));
                assert_eq!(v["token_type"], "Bearer");
                assert_eq!(v["scope"], "openid profile User.Read");
                assert_eq!(v["expires_in"], 3600);
                assert_eq!(v["ext_expires_in"], 3600);
                assert!(v.get("refresh_token").is_some() && v.get("id_token").is_some());
            }
            Dialect::Google => {
                assert!(s(&v, "refresh_token").starts_with("rt_goog_1//"));
                assert_eq!(v["token_type"], "Bearer");
                assert!(s(&v, "scope").contains("https://www.googleapis.com/auth/userinfo.email"));
                assert!(v.get("id_token").is_some());
            }
            Dialect::GitHub => {
                assert!(at.starts_with("gho_"));
                assert_eq!(v["token_type"], "bearer");
                assert_eq!(v["scope"], "repo,gist");
                for k in ["expires_in", "refresh_token", "id_token"] {
                    assert!(v.get(k).is_none(), "{k}");
                }
            }
            Dialect::GitHubApp => {
                assert!(at.starts_with("ghu_"));
                assert!(s(&v, "refresh_token").starts_with("ghr_"));
                assert_eq!(v["expires_in"], 28800);
                assert_eq!(v["refresh_token_expires_in"], 15_811_200);
                assert_eq!(v["scope"], "");
                assert_eq!(v["token_type"], "bearer");
            }
            Dialect::Okta | Dialect::Auth0 | Dialect::Oidc => {
                assert_eq!(v["token_type"], "Bearer");
                assert_eq!(v["scope"], "openid profile email offline_access");
                assert!(v.get("refresh_token").is_some());
                let claims = jwt_payload(&s(&v, "id_token"));
                assert_eq!(claims["aud"], "test-client");
                assert_eq!(claims["name"], "Ada Lovelace");
                assert_eq!(claims["email"], "ada@example.test");
                let iss = match d {
                    Dialect::Okta => idp.issuer(),
                    Dialect::Auth0 => format!("{}/", idp.base_url()),
                    _ => idp.base_url(),
                };
                assert_eq!(claims["iss"], iss.as_str());
            }
        }
        if let Some(rt) = v.get("refresh_token").and_then(Value::as_str) {
            assert!(rt.len() >= 32);
            assert_eq!(idp.issued_refresh_tokens(), vec![rt.to_string()]);
            assert_eq!(idp.valid_refresh_tokens(), vec![rt.to_string()]);
        }
    }
}

#[test]
fn no_refresh_token_without_offline_access() {
    for d in [Dialect::Okta, Dialect::Auth0, Dialect::Oidc] {
        let idp = start(d);
        let (dc, uc) = super::start_device_scoped(&idp, "openid profile");
        idp.approve(&uc);
        let v = poll(&idp, &dc).json();
        assert!(v.get("refresh_token").is_none(), "{d:?}: {v}");
        assert!(v.get("id_token").is_some());
    }
}

#[test]
fn used_device_code_is_rejected_and_counted() {
    for d in ALL {
        let idp = start(d);
        let (dc, uc) = start_device(&idp);
        idp.approve(&uc);
        let v = poll(&idp, &dc).json();
        let at = s(&v, "access_token");
        let r = poll(&idp, &dc);
        assert!(r.json().get("access_token").is_none(), "{d:?}");
        assert_eq!(idp.counters().polls_after_success, 1, "{d:?}");
        if d == Dialect::Oidc {
            // oidc-provider: replaying a consumed code revokes what it issued.
            assert_eq!(
                (r.status, r.json()["error"].clone()),
                (400, "invalid_grant".into())
            );
            assert!(!idp.access_token_valid(&at));
            assert!(idp.revoked_tokens().contains(&at));
            assert!(idp.valid_refresh_tokens().is_empty());
        } else {
            assert!(idp.access_token_valid(&at), "{d:?}");
        }
    }
}

#[test]
fn rotation_semantics() {
    // Microsoft: new refresh token each time, old one keeps working.
    let idp = start(Dialect::Microsoft);
    let rt1 = s(&login(&idp), "refresh_token");
    let v = refresh(&idp, &rt1).json();
    let rt2 = s(&v, "refresh_token");
    assert_ne!(rt1, rt2);
    assert!(v.get("id_token").is_some());
    assert_eq!(refresh(&idp, &rt1).status, 200, "old MS token stays valid");
    assert_eq!(idp.valid_refresh_tokens().len(), 3);

    // Google: no refresh_token in the refresh response; the original keeps working.
    let idp = start(Dialect::Google);
    let rt = s(&login(&idp), "refresh_token");
    for _ in 0..2 {
        let v = refresh(&idp, &rt).json();
        assert!(v.get("refresh_token").is_none(), "{v}");
        assert!(v.get("access_token").is_some());
    }
    assert_eq!(idp.counters().refresh_successes, 2);

    // GitHub App: rotation; the used refresh token and the old access token die.
    let idp = start(Dialect::GitHubApp);
    let v = login(&idp);
    let (at1, rt1) = (s(&v, "access_token"), s(&v, "refresh_token"));
    let v = refresh(&idp, &rt1).json();
    let (at2, rt2) = (s(&v, "access_token"), s(&v, "refresh_token"));
    assert!(rt2.starts_with("ghr_") && at2.starts_with("ghu_"));
    assert!(!idp.access_token_valid(&at1) && idp.access_token_valid(&at2));
    let r = refresh(&idp, &rt1);
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (200, "bad_refresh_token".into())
    );
    assert!(
        idp.access_token_valid(&at2),
        "no family revocation on GitHub"
    );
    assert_eq!(idp.valid_refresh_tokens(), vec![rt2]);

    // Okta (persistent): the same refresh token comes back.
    let idp = start(Dialect::Okta);
    let rt = s(&login(&idp), "refresh_token");
    assert_eq!(s(&refresh(&idp, &rt).json(), "refresh_token"), rt);

    // Auth0 (non-rotating): no refresh_token in the refresh response.
    let idp = start(Dialect::Auth0);
    let rt = s(&login(&idp), "refresh_token");
    assert!(refresh(&idp, &rt).json().get("refresh_token").is_none());
    assert_eq!(refresh(&idp, &rt).status, 200);

    // Oidc: rotation with reuse detection revoking the whole family.
    let idp = start(Dialect::Oidc);
    let v = login(&idp);
    let rt1 = s(&v, "refresh_token");
    let v = refresh(&idp, &rt1).json();
    let (at2, rt2) = (s(&v, "access_token"), s(&v, "refresh_token"));
    let r = refresh(&idp, &rt1);
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, "invalid_grant".into())
    );
    assert!(!idp.access_token_valid(&at2));
    assert_eq!(refresh(&idp, &rt2).json()["error"], "invalid_grant");
    assert!(idp.valid_refresh_tokens().is_empty());
    assert!(idp.revoked_tokens().contains(&rt2));
}

#[test]
fn refresh_errors_and_client_rules() {
    for d in ALL {
        let idp = start(d);
        let r = refresh(&idp, "rt_unknown");
        let v = r.json();
        let (status, err) = match d {
            Dialect::GitHub | Dialect::GitHubApp => (200, "bad_refresh_token"),
            Dialect::Auth0 => (403, "invalid_grant"),
            _ => (400, "invalid_grant"),
        };
        assert_eq!(
            (r.status, v["error"].as_str().unwrap()),
            (status, err),
            "{d:?}"
        );
        if d == Dialect::Microsoft {
            assert_eq!(v["error_codes"], serde_json::json!([70008]));
        }
    }
    // Microsoft: sending a client secret on refresh → AADSTS700025.
    let idp = start(Dialect::Microsoft);
    let rt = s(&login(&idp), "refresh_token");
    let r = post_form(
        &idp.token_endpoint(),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "test-client"),
            ("client_secret", "s3cret"),
            ("refresh_token", &rt),
        ],
    );
    assert_eq!(r.status, 401);
    assert!(s(&r.json(), "error_description").starts_with("AADSTS700025:"));
}

#[test]
fn invalidate_refresh_tokens() {
    let idp = start(Dialect::GitHubApp);
    let rt = s(&login(&idp), "refresh_token");
    idp.invalidate_refresh_tokens();
    assert!(idp.valid_refresh_tokens().is_empty());
    let r = refresh(&idp, &rt);
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (200, "bad_refresh_token".into())
    );
    // A new login works again.
    let rt2 = s(&login(&idp), "refresh_token");
    assert_eq!(refresh(&idp, &rt2).status, 200);
    let c = idp.counters();
    assert_eq!((c.refresh_requests, c.refresh_successes), (2, 1));
}

#[test]
fn refresh_delay_and_concurrent_rotation() {
    let mut o = back_to_back(Dialect::Oidc);
    o.refresh_delay = Duration::from_millis(300);
    let idp = FakeIdp::start(o);
    let rt = s(&login(&idp), "refresh_token");
    let url = idp.token_endpoint();
    let started = Instant::now();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (url, rt) = (url.clone(), rt.clone());
            std::thread::spawn(move || {
                post_form(
                    &url,
                    &[
                        ("grant_type", "refresh_token"),
                        ("client_id", "test-client"),
                        ("refresh_token", &rt),
                    ],
                )
                .status
            })
        })
        .collect();
    let mut statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    statuses.sort();
    let elapsed = started.elapsed();
    // Both delayed concurrently (the delay does not block the server's runtime).
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    // One wins; the loser replays a rotated token and the family is revoked.
    assert_eq!(statuses, vec![200, 400]);
    assert_eq!(idp.counters().refresh_successes, 1);
}

#[test]
fn userinfo_per_dialect() {
    for d in ALL {
        let idp = start(d);
        let at = s(&login(&idp), "access_token");
        let url = match d {
            Dialect::Microsoft => format!("{}/me", idp.api_base()),
            Dialect::GitHub | Dialect::GitHubApp => format!("{}/user", idp.api_base()),
            _ => idp.api_base(),
        };
        let auth = if d == Dialect::GitHub {
            format!("token {at}")
        } else {
            format!("Bearer {at}")
        };
        let r = get(&url, &[("Authorization", &auth)]);
        assert_eq!(r.status, 200, "{d:?}: {}", r.text());
        let v = r.json();
        match d {
            Dialect::Microsoft => {
                assert_eq!(v["displayName"], "Ada Lovelace");
                assert_eq!(v["mail"], "ada@example.test");
                assert_eq!(v["userPrincipalName"], "ada@example.test");
                assert!(v.get("id").is_some());
            }
            Dialect::GitHub | Dialect::GitHubApp => {
                assert_eq!(v["login"], "ada");
                assert_eq!(v["name"], "Ada Lovelace");
                assert!(v["id"].is_u64());
            }
            _ => {
                assert!(v.get("sub").is_some());
                assert_eq!(v["name"], "Ada Lovelace");
                assert_eq!(v["email"], "ada@example.test");
            }
        }
        let bad = get(&url, &[("Authorization", "Bearer nope")]);
        assert_eq!(bad.status, 401, "{d:?}");
        match d {
            Dialect::Microsoft => {
                assert_eq!(bad.json()["error"]["code"], "InvalidAuthenticationToken")
            }
            Dialect::GitHub | Dialect::GitHubApp => {
                assert_eq!(bad.json()["message"], "Bad credentials")
            }
            _ => {}
        }
        assert_eq!(get(&url, &[]).status, 401);
        assert_eq!(idp.counters().userinfo_requests, 3);
    }
}

#[test]
fn userinfo_claims_follow_scopes() {
    let idp = start(Dialect::Oidc);
    let (dc, uc) = super::start_device_scoped(&idp, "openid");
    idp.approve(&uc);
    let at = s(&poll(&idp, &dc).json(), "access_token");
    let v = get(
        &idp.api_base(),
        &[("Authorization", &format!("Bearer {at}"))],
    )
    .json();
    assert!(v.get("sub").is_some() && v.get("email").is_none() && v.get("name").is_none());
}

#[test]
fn expired_access_tokens() {
    let mut o = back_to_back(Dialect::Okta);
    o.access_token_ttl = 0;
    let idp = FakeIdp::start(o);
    let v = login(&idp);
    assert_eq!(v["expires_in"], 0);
    let at = s(&v, "access_token");
    assert!(!idp.access_token_valid(&at));
    let r = get(
        &idp.api_base(),
        &[("Authorization", &format!("Bearer {at}"))],
    );
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
}

#[test]
fn revocation_per_dialect() {
    assert_eq!(start(Dialect::Microsoft).revocation_endpoint(), None);
    assert_eq!(start(Dialect::GitHub).revocation_endpoint(), None);

    // Google: revoking the refresh token kills its access tokens; unknown → 400.
    let idp = start(Dialect::Google);
    let v = login(&idp);
    let (at, rt) = (s(&v, "access_token"), s(&v, "refresh_token"));
    let url = idp.revocation_endpoint().unwrap();
    let r = post_form(&url, &[("token", &rt)]);
    assert_eq!((r.status, r.json()), (200, serde_json::json!({})));
    assert!(!idp.access_token_valid(&at));
    assert!(idp.revoked_tokens().contains(&rt) && idp.revoked_tokens().contains(&at));
    let r = post_form(&url, &[("token", &rt)]);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        serde_json::json!({"error": "invalid_token", "error_description": "Token expired or revoked"})
    );
    assert_eq!(refresh(&idp, &rt).json()["error"], "invalid_grant");
    // Token in the query string works too.
    let at2 = s(&login(&idp), "access_token");
    let r = request("POST", &format!("{url}?token={at2}"), &[], b"");
    assert_eq!(r.status, 200);
    assert!(!idp.access_token_valid(&at2));
    assert_eq!(idp.counters().revocations, 3);

    // Okta / Oidc: 200 with an empty body, even for unknown tokens; client_id required.
    for d in [Dialect::Okta, Dialect::Oidc] {
        let idp = start(d);
        let v = login(&idp);
        let (at, rt) = (s(&v, "access_token"), s(&v, "refresh_token"));
        let url = idp.revocation_endpoint().unwrap();
        let r = post_form(&url, &[("token", &rt), ("client_id", "test-client")]);
        assert_eq!(r.status, 200, "{d:?}");
        assert!(r.body.is_empty());
        assert!(!idp.access_token_valid(&at), "{d:?}");
        assert_eq!(
            post_form(&url, &[("token", "junk"), ("client_id", "test-client")]).status,
            200
        );
        assert_eq!(
            post_form(&url, &[("token", "junk"), ("client_id", "x")]).status,
            401
        );
    }

    // Auth0: JSON body accepted; refresh tokens die, JWT-like access tokens live on.
    let idp = start(Dialect::Auth0);
    let v = login(&idp);
    let (at, rt) = (s(&v, "access_token"), s(&v, "refresh_token"));
    let body = serde_json::json!({"client_id": "test-client", "token": rt}).to_string();
    let r = request(
        "POST",
        &idp.revocation_endpoint().unwrap(),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert!(idp.valid_refresh_tokens().is_empty());
    assert!(idp.access_token_valid(&at));
    assert_eq!(refresh(&idp, &rt).json()["error"], "invalid_grant");
    // …and an access token is refused there (refresh tokens only).
    let r = post_form(
        &idp.revocation_endpoint().unwrap(),
        &[("token", &at), ("client_id", "test-client")],
    );
    assert_eq!(r.status, 400);
}

#[test]
fn discovery_documents() {
    let idp = start(Dialect::Okta);
    let v = get(
        &format!("{}/.well-known/openid-configuration", idp.issuer()),
        &[],
    )
    .json();
    assert_eq!(v["issuer"], idp.issuer().as_str());
    assert_eq!(
        v["device_authorization_endpoint"],
        idp.device_authorization_endpoint().as_str()
    );
    assert_eq!(v["token_endpoint"], idp.token_endpoint().as_str());
    assert_eq!(
        v["revocation_endpoint"],
        idp.revocation_endpoint().unwrap().as_str()
    );
    assert_eq!(v["userinfo_endpoint"], idp.api_base().as_str());

    let idp = start(Dialect::Auth0);
    let v = get(
        &format!("{}/.well-known/openid-configuration", idp.issuer()),
        &[],
    )
    .json();
    assert_eq!(v["issuer"], format!("{}/", idp.base_url()).as_str());
    assert_eq!(
        v["device_authorization_endpoint"],
        idp.device_authorization_endpoint().as_str()
    );

    let idp = start(Dialect::Oidc);
    for wk in ["openid-configuration", "oauth-authorization-server"] {
        let v = get(&format!("{}/.well-known/{wk}", idp.issuer()), &[]).json();
        assert_eq!(v["issuer"], idp.issuer().as_str());
        assert_eq!(
            v["device_authorization_endpoint"],
            idp.device_authorization_endpoint().as_str()
        );
        assert_eq!(v["token_endpoint"], idp.token_endpoint().as_str());
        assert_eq!(
            v["revocation_endpoint"],
            idp.revocation_endpoint().unwrap().as_str()
        );
        assert_eq!(v["userinfo_endpoint"], idp.api_base().as_str());
        assert!(
            v["grant_types_supported"]
                .as_array()
                .unwrap()
                .contains(&Value::from(super::DEVICE_GRANT))
        );
        assert!(get(v["jwks_uri"].as_str().unwrap(), &[]).json()["keys"].is_array());
    }

    let idp = start(Dialect::Microsoft);
    let v = get(
        &format!(
            "{}/common/v2.0/.well-known/openid-configuration",
            idp.issuer()
        ),
        &[],
    )
    .json();
    assert_eq!(
        v["device_authorization_endpoint"],
        idp.device_authorization_endpoint().as_str()
    );
    assert!(v.get("revocation_endpoint").is_none());
    assert!(s(&v, "issuer").contains("{tenantid}"));
}

/// GitHub's `DELETE /applications/{id}/token` takes an access token and deletes that one token
/// (the GitHub App refresh token keeps working); a refresh token there is refused with 422 and
/// revokes nothing (docs.github.com/rest/apps/oauth-applications; docs/providers.md, "GitHub").
#[test]
fn github_app_token_delete_needs_secret_and_an_access_token() {
    let mut o = back_to_back(Dialect::GitHubApp);
    o.client_secret = Some("shh".into());
    let idp = FakeIdp::start(o);
    let v = login(&idp);
    let (at, rt) = (s(&v, "access_token"), s(&v, "refresh_token"));
    let url = format!("{}/api/applications/test-client/token", idp.base_url());
    let body = |t: &str| serde_json::json!({ "access_token": t }).to_string();
    let good = ("Authorization", "Basic dGVzdC1jbGllbnQ6c2ho");
    let r = request(
        "DELETE",
        &url,
        &[("Authorization", "Basic dGVzdC1jbGllbnQ6bm8=")],
        body(&at).as_bytes(),
    );
    assert_eq!(r.status, 404);
    // A refresh token is not what this endpoint takes.
    let r = request("DELETE", &url, &[good], body(&rt).as_bytes());
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(idp.valid_refresh_tokens(), std::slice::from_ref(&rt));
    assert!(idp.access_token_valid(&at));
    let r = request("DELETE", &url, &[good], body(&at).as_bytes());
    assert_eq!(r.status, 204);
    assert!(!idp.access_token_valid(&at));
    assert_eq!(
        idp.valid_refresh_tokens(),
        [rt],
        "one token deleted, not the grant"
    );
    // Already deleted: 404.
    let r = request("DELETE", &url, &[good], body(&at).as_bytes());
    assert_eq!(r.status, 404);
}

/// `DELETE /applications/{id}/grant` with the access token deletes every token of the app for
/// the user, the `ghr_` refresh token included.
#[test]
fn github_grant_delete_revokes_the_refresh_token_too() {
    let mut o = back_to_back(Dialect::GitHubApp);
    o.client_secret = Some("shh".into());
    let idp = FakeIdp::start(o);
    let v = login(&idp);
    let (at, rt) = (s(&v, "access_token"), s(&v, "refresh_token"));
    let url = format!("{}/api/applications/test-client/grant", idp.base_url());
    let good = ("Authorization", "Basic dGVzdC1jbGllbnQ6c2ho");
    let body = |t: &str| serde_json::json!({ "access_token": t }).to_string();
    assert_eq!(
        request("DELETE", &url, &[good], body(&rt).as_bytes()).status,
        422
    );
    assert_eq!(
        request("DELETE", &url, &[], body(&at).as_bytes()).status,
        404
    );
    assert_eq!(
        request("DELETE", &url, &[good], body(&at).as_bytes()).status,
        204
    );
    assert!(!idp.access_token_valid(&at));
    assert!(idp.valid_refresh_tokens().is_empty());
    assert!(idp.revoked_tokens().contains(&rt));
    assert_eq!(
        request("DELETE", &url, &[good], body(&at).as_bytes()).status,
        404
    );
}

/// Auth0's `/oauth/revoke` is for refresh tokens only (docs/providers.md, "Auth0").
#[test]
fn auth0_refuses_an_access_token_at_revoke() {
    let idp = start(Dialect::Auth0);
    let at = s(&login(&idp), "access_token");
    let r = post_form(
        &idp.revocation_endpoint().unwrap(),
        &[("token", &at), ("client_id", "test-client")],
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"], "invalid_request");
    assert!(idp.access_token_valid(&at));
}

#[test]
fn discovery_without_the_device_endpoint() {
    let mut o = back_to_back(Dialect::Oidc);
    o.discovery_without_device_endpoint = true;
    let idp = FakeIdp::start(o);
    let v = get(
        &format!("{}/.well-known/openid-configuration", idp.issuer()),
        &[],
    )
    .json();
    assert!(v.get("device_authorization_endpoint").is_none(), "{v}");
    assert_eq!(v["token_endpoint"], idp.token_endpoint().as_str());
    // The endpoint itself still works.
    login(&idp);
}

#[test]
fn userinfo_only_at_the_slashed_path() {
    let mut o = back_to_back(Dialect::Oidc);
    o.userinfo_trailing_slash = true;
    let idp = FakeIdp::start(o);
    assert!(idp.api_base().ends_with("/me/"));
    let at = s(&login(&idp), "access_token");
    let bearer = format!("Bearer {at}");
    let r = get(&idp.api_base(), &[("Authorization", &bearer)]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["name"], "Ada Lovelace");
    let r = get(
        idp.api_base().trim_end_matches('/'),
        &[("Authorization", &bearer)],
    );
    assert_eq!(r.status, 301);
    assert!(r.header("location").unwrap().ends_with("/me/"));
    let v = get(
        &format!("{}/.well-known/openid-configuration", idp.issuer()),
        &[],
    )
    .json();
    assert_eq!(v["userinfo_endpoint"], idp.api_base().as_str());
}

#[test]
fn refused_scopes_are_named_where_the_provider_names_them() {
    let mut o = back_to_back(Dialect::Okta);
    o.refused_scopes = vec!["admin".into()];
    let idp = FakeIdp::start(o);
    let r = post_form(
        &idp.device_authorization_endpoint(),
        &[("client_id", "test-client"), ("scope", "openid admin")],
    );
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["error"], "invalid_scope");
    assert!(
        v["error_description"].as_str().unwrap().contains("'admin'"),
        "{v}"
    );
}

/// Entra refuses a refresh whose `scope` reaches beyond the consented grant (AADSTS65001,
/// `invalid_grant` with suberror `consent_required`); a subset, the OIDC scopes or no `scope`
/// at all are fine.
#[test]
fn microsoft_refresh_scope_must_stay_within_the_grant() {
    let idp = start(Dialect::Microsoft);
    let rt = s(&login(&idp), "refresh_token"); // granted: openid profile offline_access User.Read
    let with_scope = |scope: &str| {
        post_form(
            &idp.token_endpoint(),
            &[
                ("grant_type", "refresh_token"),
                ("client_id", "test-client"),
                ("refresh_token", &rt),
                ("scope", scope),
            ],
        )
    };
    let r = with_scope("User.Read Mail.Read offline_access");
    assert_eq!(r.status, 400, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"], "invalid_grant");
    assert_eq!(v["suberror"], "consent_required");
    assert_eq!(v["error_codes"], serde_json::json!([65001]));
    assert!(s(&v, "error_description").starts_with("AADSTS65001:"));
    assert_eq!(with_scope("User.Read offline_access").status, 200);
    assert_eq!(with_scope("openid User.Read").status, 200);
    assert_eq!(refresh(&idp, &rt).status, 200);
}

#[test]
fn google_refuses_a_refresh_or_code_exchange_without_the_client_secret() {
    // Google's token endpoint, for a client that has a secret (TV, Desktop, Web): 400
    // invalid_request "client_secret is missing." (docs/providers.md, "Google").
    let idp = start(Dialect::Google);
    let rt = s(&login(&idp), "refresh_token");
    let missing = |r: crate::http::Resp| {
        assert_eq!(r.status, 400, "{}", r.text());
        let v = r.json();
        assert_eq!(v["error"], "invalid_request", "{v}");
        assert_eq!(v["error_description"], "client_secret is missing.", "{v}");
    };
    let without = [
        ("grant_type", "refresh_token"),
        ("client_id", "test-client"),
        ("refresh_token", rt.as_str()),
    ];
    missing(post_form(&idp.token_endpoint(), &without));
    let mut empty = without.to_vec();
    empty.push(("client_secret", ""));
    missing(post_form(&idp.token_endpoint(), &empty));
    let before = idp.counters().refresh_successes;
    assert_eq!(before, 0, "a refused refresh issued tokens");
    // With it, the same refresh token works (the refusal did not spend it).
    let ok = refresh(&idp, &rt);
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(idp.counters().refresh_successes, 1);

    // The code + PKCE exchange likewise.
    let verifier = "v".repeat(50);
    let challenge = URL_SAFE_NO_PAD.encode(ring_sha256(verifier.as_bytes()));
    let redirect = "http://127.0.0.1:9/cb";
    let q = crate::http::encode(&[
        ("response_type", "code"),
        ("client_id", "test-client"),
        ("redirect_uri", redirect),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("scope", "openid email"),
        ("state", "st"),
    ]);
    let r = get(&format!("{}?{q}", idp.authorization_endpoint()), &[]);
    assert_eq!(r.status, 302, "{}", r.text());
    let location = r.header("location").unwrap().to_string();
    let query = location.split_once('?').unwrap().1;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    let code = &pairs.iter().find(|(k, _)| k == "code").unwrap().1;
    missing(post_form(
        &idp.token_endpoint(),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "test-client"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", &verifier),
        ],
    ));
}

fn ring_sha256(b: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, b)
        .as_ref()
        .to_vec()
}
