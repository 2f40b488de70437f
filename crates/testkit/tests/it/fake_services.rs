//! The service fakes (Graph, Drive/Docs, YouTube) check a bearer token against the fake
//! authorization server they trust, and answer what the real service answers: 401
//! `InvalidAuthenticationToken` / `authError` for an expired, superseded-and-expired, unknown
//! (another client's) or another person's token, 403 `ErrorAccessDenied` /
//! `insufficientPermissions` for a scope the grant lacks — also when the person unticked it on
//! the consent page (docs/providers.md, "Service tokens", "Partial grants").

use serde_json::Value;
use sidekey_testkit::{
    Dialect, FakeGoogle, FakeGraph, FakeIdp, FakeUser, FakeYouTube, GoogleOptions, GraphOptions,
    Options, TokenStatus, YouTubeOptions,
};

use crate::fake_idp::{DEVICE_GRANT, s};
use crate::http::{Resp, post_form, request};

const GRAPH_SCOPES: &str = "openid offline_access User.Read Mail.ReadBasic";
const DRIVE_FILE: &str = "https://www.googleapis.com/auth/drive.file";
const YOUTUBE: &str = "https://www.googleapis.com/auth/youtube";

/// A device sign-in with `scope`, approved by `who` (`None`: the server's configured user).
fn sign_in(idp: &FakeIdp, scope: &str, who: Option<FakeUser>) -> Value {
    let client = idp.verifier().client_id().to_string();
    let r = post_form(
        &idp.device_authorization_endpoint(),
        &[("client_id", &client), ("scope", scope)],
    );
    assert_eq!(r.status, 200, "device request: {}", r.text());
    let (dc, uc) = (s(&r.json(), "device_code"), s(&r.json(), "user_code"));
    assert!(match who {
        Some(u) => idp.approve_as(&uc, u),
        None => idp.approve(&uc),
    });
    let r = token(idp, &[("grant_type", DEVICE_GRANT), ("device_code", &dc)]);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// A token-endpoint request as the server's client (Google's with its secret).
fn token(idp: &FakeIdp, params: &[(&str, &str)]) -> Resp {
    let client = idp.verifier().client_id().to_string();
    let mut p = params.to_vec();
    p.push(("client_id", &client));
    if idp.dialect() == Dialect::Google {
        p.push(("client_secret", "test-secret"));
    }
    post_form(&idp.token_endpoint(), &p)
}

fn refresh(idp: &FakeIdp, rt: &str) -> Resp {
    token(
        idp,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
}

fn get(url: &str, token: Option<&str>) -> Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    request("GET", url, &headers, b"")
}

fn mallory() -> FakeUser {
    FakeUser {
        name: "Mallory".into(),
        email: Some("mallory@example.test".into()),
        login: "mallory".into(),
        subject: Some("mallory-sub".into()),
    }
}

fn google_idp(client: &str) -> FakeIdp {
    let mut o = Options::new(Dialect::Google);
    o.client_id = client.into();
    FakeIdp::start(o)
}

/// Graph's 401: `InvalidAuthenticationToken`, the message, and `WWW-Authenticate`.
fn assert_graph_401(r: &Resp, message: &str) {
    assert_eq!(r.status, 401, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"]["code"], "InvalidAuthenticationToken", "{v}");
    assert_eq!(v["error"]["message"], message, "{v}");
    assert!(
        r.header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer ") && h.contains("invalid_token")),
        "{:?}",
        r.headers
    );
}

/// Google's 401 (Drive and YouTube): `authError` "Invalid Credentials", `UNAUTHENTICATED`.
fn assert_google_401(r: &Resp) {
    assert_eq!(r.status, 401, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"]["code"], 401, "{v}");
    assert_eq!(v["error"]["status"], "UNAUTHENTICATED", "{v}");
    assert_eq!(v["error"]["errors"][0]["reason"], "authError", "{v}");
    assert_eq!(
        v["error"]["errors"][0]["message"], "Invalid Credentials",
        "{v}"
    );
    assert_eq!(v["error"]["errors"][0]["location"], "Authorization", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Request had invalid authentication credentials."),
        "{v}"
    );
}

/// Google's 403 for a scope the token lacks.
fn assert_google_403(r: &Resp) {
    assert_eq!(r.status, 403, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"]["status"], "PERMISSION_DENIED", "{v}");
    assert_eq!(
        v["error"]["errors"][0]["reason"], "insufficientPermissions",
        "{v}"
    );
    assert_eq!(
        v["error"]["message"], "Request had insufficient authentication scopes.",
        "{v}"
    );
}

#[test]
fn graph_accepts_the_trusted_grant_and_refuses_every_other_token_as_graph_does() {
    let idp = FakeIdp::start(Options::new(Dialect::Microsoft));
    let graph = FakeGraph::start(GraphOptions::default());
    graph.trust(&idp);
    let me = format!("{}/me", graph.base_url());
    let mail = format!("{}/me/messages?$select=subject", graph.base_url());

    let t = sign_in(&idp, GRAPH_SCOPES, None);
    let old = s(&t, "access_token");
    assert_eq!(get(&me, Some(&old)).status, 200);
    assert_eq!(get(&mail, Some(&old)).status, 200);

    // No token, and a token nobody issued.
    assert_graph_401(&get(&me, None), "Access token is empty.");
    assert_graph_401(
        &get(&me, Some("at_msft_made_up")),
        "Access token validation failure.",
    );

    // Another client's token: issued by a server Graph was not told to trust.
    let mut o = Options::new(Dialect::Microsoft);
    o.client_id = "other-client".into();
    let other_client = FakeIdp::start(o);
    let theirs = s(&sign_in(&other_client, GRAPH_SCOPES, None), "access_token");
    assert!(other_client.access_token_valid(&theirs));
    assert_graph_401(&get(&me, Some(&theirs)), "Access token validation failure.");

    // Another person's token from the same server: this Graph holds Ada's data only.
    let mallorys = s(
        &sign_in(&idp, GRAPH_SCOPES, Some(mallory())),
        "access_token",
    );
    assert_graph_401(
        &get(&mail, Some(&mallorys)),
        "Access token validation failure.",
    );

    // The token expires; the refreshed one works, the one from before the refresh does not.
    idp.expire_access_tokens();
    assert_eq!(idp.verifier().check(&old), TokenStatus::Expired);
    assert_graph_401(
        &get(&me, Some(&old)),
        "Access token has expired or is not yet valid.",
    );
    let r = refresh(&idp, &s(&t, "refresh_token"));
    assert_eq!(r.status, 200, "{}", r.text());
    let new = s(&r.json(), "access_token");
    assert_ne!(new, old);
    assert_eq!(get(&mail, Some(&new)).status, 200);
    assert_graph_401(
        &get(&mail, Some(&old)),
        "Access token has expired or is not yet valid.",
    );
    match idp.verifier().check(&new) {
        TokenStatus::Valid(g) => {
            assert_eq!(g.client_id, "test-client");
            assert_eq!(g.user, "ada");
            assert!(!g.superseded);
        }
        other => panic!("{other:?}"),
    }
    // A revoked (invalidated) token: 401 as well.
    idp.invalidate_access_tokens();
    assert_graph_401(&get(&me, Some(&new)), "Access token validation failure.");
}

#[test]
fn graph_takes_the_scopes_from_the_grant() {
    let idp = FakeIdp::start(Options::new(Dialect::Microsoft));
    let graph = FakeGraph::start(GraphOptions::default());
    graph.trust(&idp);
    // Signed in without Mail.ReadBasic, Files.Read or Calendars.*.
    let t = s(
        &sign_in(&idp, "openid offline_access User.Read", None),
        "access_token",
    );
    assert_eq!(
        get(&format!("{}/me", graph.base_url()), Some(&t)).status,
        200
    );
    for path in [
        "/me/messages?$select=subject",
        "/me/calendarView?startDateTime=2026-01-01T00:00:00Z&endDateTime=2026-01-02T00:00:00Z",
    ] {
        let r = get(&format!("{}{path}", graph.base_url()), Some(&t));
        assert_eq!(r.status, 403, "{path}: {}", r.text());
        let v = r.json();
        assert_eq!(v["error"]["code"], "ErrorAccessDenied", "{v}");
        assert_eq!(
            v["error"]["message"], "Access is denied. Check credentials and try again.",
            "{v}"
        );
    }
    let r = get(&format!("{}/me/drive/recent", graph.base_url()), Some(&t));
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "accessDenied");

    // The options' scopes do not widen a grant.
    let wide = FakeGraph::start(GraphOptions {
        granted_scopes: Some(vec!["User.Read Mail.Read Files.Read".into()]),
        ..GraphOptions::default()
    });
    wide.trust(&idp);
    let r = get(
        &format!("{}/me/messages?$select=subject", wide.base_url()),
        Some(&t),
    );
    assert_eq!(r.status, 403, "{}", r.text());
}

#[test]
fn a_partial_grant_leaves_the_unticked_scope_out_of_the_token_and_the_service() {
    let mut o = Options::new(Dialect::Google);
    o.withheld_scopes = vec![YOUTUBE.into()];
    let idp = FakeIdp::start(o);
    let yt = FakeYouTube::start(YouTubeOptions::default());
    yt.trust(&idp);
    let google = FakeGoogle::start(GoogleOptions::default());
    google.trust(&idp, "tv");
    let t = sign_in(&idp, &format!("openid {DRIVE_FILE} {YOUTUBE}"), None);
    // The token response's `scope` names only what was granted.
    let scope = s(&t, "scope");
    assert!(scope.contains(DRIVE_FILE), "{scope}");
    assert!(!scope.contains(YOUTUBE), "{scope}");
    let at = s(&t, "access_token");
    assert_google_403(&get(
        &format!("{}/playlists?part=snippet&mine=true", yt.base_url()),
        Some(&at),
    ));
    // What was granted works.
    let r = get(
        &format!("{}/drive/v3/files?q=trashed%3Dfalse", google.base_url()),
        Some(&at),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn drive_and_docs_check_the_token_and_the_grant() {
    let tv = google_idp("tv-client");
    let desktop = google_idp("desktop-client");
    let stranger = google_idp("someone-elses-client");
    let google = FakeGoogle::start(GoogleOptions::default());
    google.trust(&tv, "tv");
    google.trust(&desktop, "desktop");
    let list = format!("{}/drive/v3/files", google.base_url());

    let t = sign_in(&tv, &format!("openid {DRIVE_FILE}"), None);
    let old = s(&t, "access_token");
    let id = google.app_creates_file("tv", None, "Plan", "text/plain", b"ship it");
    let file = format!("{}/drive/v3/files/{id}", google.base_url());
    assert_eq!(get(&file, Some(&old)).status, 200);
    // The Desktop client's token is the Desktop app's: the tv app's file is not its (404).
    let d = s(
        &sign_in(&desktop, &format!("openid {DRIVE_FILE}"), None),
        "access_token",
    );
    assert_eq!(get(&file, Some(&d)).status, 404);

    // Another client's (untrusted), another person's, a made-up token: 401.
    let theirs = s(
        &sign_in(&stranger, &format!("openid {DRIVE_FILE}"), None),
        "access_token",
    );
    assert_google_401(&get(&file, Some(&theirs)));
    let mallorys = s(
        &sign_in(&tv, &format!("openid {DRIVE_FILE}"), Some(mallory())),
        "access_token",
    );
    assert_google_401(&get(&list, Some(&mallorys)));
    assert_google_401(&get(&list, Some("ya29.made-up")));

    // Expired, refreshed: the new token works, the pre-refresh one is 401.
    tv.expire_access_tokens();
    assert_google_401(&get(&file, Some(&old)));
    let r = refresh(&tv, &s(&t, "refresh_token"));
    assert_eq!(r.status, 200, "{}", r.text());
    let new = s(&r.json(), "access_token");
    assert_eq!(get(&file, Some(&new)).status, 200);
    assert_google_401(&get(&file, Some(&old)));
    assert_eq!(
        google.bearer_tokens().last().map(String::as_str),
        Some(old.as_str()),
        "the fake records which token each request carried"
    );

    // A grant without a Drive scope: 403 at Drive and at Docs.
    let no_drive = s(&sign_in(&tv, "openid email", None), "access_token");
    assert_google_403(&get(&list, Some(&no_drive)));
    assert_google_403(&get(
        &format!("{}/v1/documents/{id}", google.base_url()),
        Some(&no_drive),
    ));
}

#[test]
fn youtube_checks_the_token_and_the_grant() {
    let idp = google_idp("yt-client");
    let stranger = google_idp("someone-elses-client");
    let yt = FakeYouTube::start(YouTubeOptions::default());
    yt.trust(&idp);
    let url = format!("{}/playlists?part=snippet&mine=true", yt.base_url());
    let t = sign_in(&idp, &format!("openid {YOUTUBE}"), None);
    let old = s(&t, "access_token");
    assert_eq!(get(&url, Some(&old)).status, 200);
    let theirs = s(
        &sign_in(&stranger, &format!("openid {YOUTUBE}"), None),
        "access_token",
    );
    assert_google_401(&get(&url, Some(&theirs)));
    assert_google_401(&get(
        &url,
        Some(&s(
            &sign_in(&idp, &format!("openid {YOUTUBE}"), Some(mallory())),
            "access_token",
        )),
    ));
    idp.expire_access_tokens();
    assert_google_401(&get(&url, Some(&old)));

    // youtube.readonly: reads yes, writes 403.
    let ro = s(
        &sign_in(
            &idp,
            "openid https://www.googleapis.com/auth/youtube.readonly",
            None,
        ),
        "access_token",
    );
    assert_eq!(get(&url, Some(&ro)).status, 200);
    let auth = format!("Bearer {ro}");
    let r = request(
        "POST",
        &format!("{}/playlists?part=snippet", yt.base_url()),
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ],
        br#"{"snippet":{"title":"x"}}"#,
    );
    assert_google_403(&r);
}

#[test]
fn a_superseded_token_is_reported_as_such() {
    let idp = FakeIdp::start(Options::new(Dialect::Microsoft));
    let t = sign_in(&idp, GRAPH_SCOPES, None);
    let old = s(&t, "access_token");
    let r = refresh(&idp, &s(&t, "refresh_token"));
    assert_eq!(r.status, 200, "{}", r.text());
    // Entra leaves an access token valid until it expires, refreshed or not.
    match idp.verifier().check(&old) {
        TokenStatus::Valid(g) => assert!(g.superseded),
        other => panic!("{other:?}"),
    }
    assert_eq!(idp.verifier().check("nope"), TokenStatus::Unknown);
}
