//! The engine against the test kit's fake providers, over real HTTP, with a virtual clock: every
//! wait is recorded instead of slept, so expiry and back-off are checked exactly and instantly.

use sidekey_flow::clock::ManualClock;
use sidekey_flow::provider::{Endpoints, ProviderKind, endpoint_url};
use sidekey_flow::{
    DeviceFlow, FlowError, Http, HttpOptions, Provider, RefreshError, RevokeOutcome, Secret,
};
use sidekey_testkit::{Dialect, FakeIdp, Fault, Options};
use std::time::{Duration, Instant};

fn provider_for(idp: &FakeIdp, dialect: Dialect, scopes: &[&str]) -> Provider {
    let kind = match dialect {
        Dialect::Microsoft => ProviderKind::Microsoft,
        Dialect::Google => ProviderKind::Google,
        Dialect::GitHub | Dialect::GitHubApp => ProviderKind::GitHub,
        Dialect::Okta => ProviderKind::Okta,
        Dialect::Auth0 => ProviderKind::Auth0,
        Dialect::Oidc => ProviderKind::Oidc,
    };
    Provider {
        kind,
        endpoints: Endpoints {
            device_authorization: endpoint_url(&idp.device_authorization_endpoint()).unwrap(),
            token: endpoint_url(&idp.token_endpoint()).unwrap(),
            revocation: idp.revocation_endpoint().map(|r| endpoint_url(&r).unwrap()),
            userinfo: Some(kind.dialect().userinfo_url(&idp.api_base()).unwrap()),
            authorization: None,
        },
        client_id: "test-client".into(),
        client_secret: (dialect == Dialect::Google).then(|| Secret::new("test-secret")),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        device_params: vec![],
        api_base: None,
    }
}

/// The dialect's options for a test on the virtual clock: its sleeps take no real time, so the
/// fake's real-time interval check (on by default: a poll sooner than the interval gets
/// `slow_down`) would see every poll as too fast.
fn virtual_time(d: Dialect) -> Options {
    let mut o = Options::new(d);
    o.enforce_interval = false;
    o
}

fn http(timeout_ms: u64) -> Http {
    Http::new(HttpOptions {
        timeout: Duration::from_millis(timeout_ms),
        ..HttpOptions::default()
    })
    .unwrap()
}

const ALL: [Dialect; 7] = [
    Dialect::Microsoft,
    Dialect::Google,
    Dialect::GitHub,
    Dialect::GitHubApp,
    Dialect::Okta,
    Dialect::Auth0,
    Dialect::Oidc,
];

fn scopes(d: Dialect) -> &'static [&'static str] {
    match d {
        Dialect::Google => &["openid", "email", "profile"],
        Dialect::Microsoft => &["User.Read", "offline_access"],
        Dialect::GitHub | Dialect::GitHubApp => &["repo"],
        _ => &["openid", "profile", "email", "offline_access"],
    }
}

async fn sign_in(
    idp: &FakeIdp,
    dialect: Dialect,
    clock: &ManualClock,
    http: &Http,
) -> Result<sidekey_flow::TokenResponse, FlowError> {
    let p = provider_for(idp, dialect, scopes(dialect));
    let flow = DeviceFlow::new(http, &p);
    let auth = flow.start(clock).await?;
    flow.poll(&auth, clock.now_instant(), clock, |_| {}).await
}

trait Now {
    fn now_instant(&self) -> Instant;
}
impl Now for ManualClock {
    fn now_instant(&self) -> Instant {
        sidekey_flow::Clock::now(self)
    }
}

#[tokio::test]
async fn every_dialect_signs_in_waiting_the_interval_and_stops_polling() {
    let http = http(5000);
    for d in ALL {
        let mut o = virtual_time(d);
        o.auto_approve_after_polls = Some(3);
        o.interval = Some(2);
        let idp = FakeIdp::start(o);
        let clock = ManualClock::default();
        let t = sign_in(&idp, d, &clock, &http)
            .await
            .unwrap_or_else(|e| panic!("{d:?}: {e}"));
        assert_eq!(
            Some(t.access_token.expose().to_string()),
            idp.issued_access_tokens().last().cloned(),
            "{d:?}"
        );
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(2); 3], "{d:?}");
        let c = idp.counters();
        assert_eq!((c.polls, c.polls_after_success), (3, 0), "{d:?}");
        match d {
            Dialect::GitHub => {
                assert!(t.refresh_token.is_none() && t.expires_in.is_none());
                assert_eq!(t.token_type.to_lowercase(), "bearer");
            }
            Dialect::GitHubApp => assert_eq!(t.expires_in, Some(28_800)),
            _ => assert!(t.refresh_token.is_some(), "{d:?}"),
        }
        let p = provider_for(&idp, d, scopes(d));
        let who = DeviceFlow::new(&http, &p).user_info(&t).await.unwrap();
        assert_eq!(who.name.as_deref(), Some("Ada Lovelace"), "{d:?}");
    }
}

#[tokio::test]
async fn a_missing_interval_means_five_seconds() {
    let http = http(5000);
    let mut o = virtual_time(Dialect::Oidc);
    o.interval = None;
    o.auto_approve_after_polls = Some(2);
    let idp = FakeIdp::start(o);
    let clock = ManualClock::default();
    sign_in(&idp, Dialect::Oidc, &clock, &http).await.unwrap();
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(5); 2]);
}

#[tokio::test]
async fn declined_and_expired_are_distinct_outcomes_in_every_dialect() {
    let http = http(5000);
    for d in ALL {
        for deny in [true, false] {
            let idp = FakeIdp::start(virtual_time(d));
            let p = provider_for(&idp, d, scopes(d));
            let flow = DeviceFlow::new(&http, &p);
            let clock = ManualClock::default();
            let auth = flow.start(&clock).await.unwrap();
            if deny {
                assert!(idp.deny(&auth.user_code));
            } else {
                assert!(idp.expire(&auth.user_code));
            }
            let r = flow.poll(&auth, clock.now_instant(), &clock, |_| {}).await;
            match (deny, r) {
                (true, Err(FlowError::Declined { .. })) | (false, Err(FlowError::Expired)) => {}
                (_, other) => panic!("{d:?} deny={deny}: {other:?}"),
            }
            assert_eq!(
                idp.counters().polls,
                1,
                "{d:?}: stops at the first terminal answer"
            );
        }
    }
}

#[tokio::test]
async fn a_fault_storm_is_survived_with_exponential_back_off() {
    let http = http(300);
    let mut o = virtual_time(Dialect::Auth0);
    o.auto_approve_after_polls = Some(2); // counts polls that get past the faults
    let idp = FakeIdp::start(o);
    idp.inject([
        Fault::Status(500),
        Fault::Status(503),
        Fault::Html,
        Fault::Oversized,
        Fault::Truncated,
        Fault::Reset,
        Fault::Delay(Duration::from_secs(2)),
        Fault::RateLimited {
            retry_after: Some(90),
        },
    ]);
    let clock = ManualClock::default();
    let mut events = vec![];
    let p = provider_for(&idp, Dialect::Auth0, scopes(Dialect::Auth0));
    let flow = DeviceFlow::new(&http, &p);
    let auth = flow.start(&clock).await.unwrap();
    let t = flow
        .poll(&auth, clock.now_instant(), &clock, |e| {
            events.push(e.clone())
        })
        .await
        .unwrap();
    assert!(!t.access_token.is_empty());
    let s: Vec<u64> = clock.sleeps().iter().map(|d| d.as_secs()).collect();
    // interval 1: 1 first, then doubling per consecutive fault (2,4,...,60 cap), Retry-After 90
    // honoured (the 429 also slowed the interval to 6), then back to the interval.
    assert_eq!(s, vec![1, 2, 4, 8, 16, 32, 60, 60, 90, 6], "{s:?}");
    assert_eq!(idp.counters().faults_applied, 8);
    assert_eq!(events.len(), 9);
}

#[tokio::test]
async fn a_dead_server_fails_clearly_at_the_deadline() {
    let http = http(300);
    let mut o = virtual_time(Dialect::Okta);
    o.expires_in = 120;
    let idp = FakeIdp::start(o);
    idp.inject(std::iter::repeat_n(Fault::Status(502), 50));
    let clock = ManualClock::default();
    let r = sign_in(&idp, Dialect::Okta, &clock, &http).await;
    match r {
        Err(FlowError::Unreachable(m)) => assert!(m.contains("502"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(clock.elapsed() <= Duration::from_secs(120));
    assert!(
        idp.counters().polls < 10,
        "backed off: {}",
        idp.counters().polls
    );
}

#[tokio::test]
async fn a_server_that_never_expires_is_cut_off_by_the_local_deadline() {
    let http = http(5000);
    let mut o = virtual_time(Dialect::Oidc);
    o.expires_in = 600; // the server would wait 10 real minutes
    let idp = FakeIdp::start(o);
    let p = provider_for(&idp, Dialect::Oidc, scopes(Dialect::Oidc));
    let flow = DeviceFlow::new(&http, &p);
    let clock = ManualClock::default();
    let mut auth = flow.start(&clock).await.unwrap();
    auth.expires_in = 20; // as if the server had said 20 s but never enforces it
    let r = flow.poll(&auth, clock.now_instant(), &clock, |_| {}).await;
    assert!(matches!(r, Err(FlowError::Expired)), "{r:?}");
    assert_eq!(clock.elapsed(), Duration::from_secs(20));
    assert_eq!(idp.counters().polls, 20);
}

#[tokio::test]
async fn github_slow_down_uses_the_servers_interval() {
    let http = http(5000);
    let mut o = virtual_time(Dialect::GitHub);
    o.enforce_interval = true;
    o.interval = Some(5);
    let idp = FakeIdp::start(o);
    let p = provider_for(&idp, Dialect::GitHub, scopes(Dialect::GitHub));
    let flow = DeviceFlow::new(&http, &p);
    let clock = ManualClock::default();
    let auth = flow.start(&clock).await.unwrap();
    // Virtual sleeps are instant, so the fake sees every poll as too fast.
    let code = auth.user_code.clone();
    let mut seen = vec![];
    let r = flow
        .poll(&auth, clock.now_instant(), &clock, |e| {
            seen.push(e.clone());
            if seen.len() == 4 {
                idp.expire(&code);
            }
        })
        .await;
    assert!(matches!(r, Err(FlowError::Expired)), "{r:?}");
    let s: Vec<u64> = clock.sleeps().iter().map(|d| d.as_secs()).collect();
    // The first poll is never throttled; each later one gets slow_down with interval + 5.
    assert_eq!(&s[..4], &[5, 5, 10, 15], "{s:?}");
}

#[tokio::test]
async fn device_endpoint_refusals() {
    let http = http(5000);
    let clock = ManualClock::default();
    // Google's server-side scope check (sidekey's config refuses these earlier).
    let idp = FakeIdp::start(virtual_time(Dialect::Google));
    let p = provider_for(
        &idp,
        Dialect::Google,
        &["https://www.googleapis.com/auth/drive"],
    );
    let r = DeviceFlow::new(&http, &p).start(&clock).await;
    assert!(matches!(r, Err(FlowError::InvalidScope { .. })), "{r:?}");
    // GitHub with device flow switched off.
    let mut o = virtual_time(Dialect::GitHub);
    o.device_flow_disabled = true;
    let idp = FakeIdp::start(o);
    let p = provider_for(&idp, Dialect::GitHub, &["repo"]);
    let r = DeviceFlow::new(&http, &p).start(&clock).await;
    assert!(
        matches!(r, Err(FlowError::DeviceFlowDisabled { .. })),
        "{r:?}"
    );
    // Nothing listening at all: retried, then a network failure.
    let mut p = provider_for(&idp, Dialect::GitHub, &["repo"]);
    p.endpoints.device_authorization =
        endpoint_url("http://127.0.0.1:9/login/device/code").unwrap();
    let r = DeviceFlow::new(&http, &p).start(&clock).await;
    assert!(matches!(r, Err(FlowError::Unreachable(_))), "{r:?}");
}

#[tokio::test]
async fn github_app_refresh_rotates_and_the_old_token_dies() {
    let http = http(5000);
    let mut o = virtual_time(Dialect::GitHubApp);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let clock = ManualClock::default();
    let t = sign_in(&idp, Dialect::GitHubApp, &clock, &http)
        .await
        .unwrap();
    let p = provider_for(&idp, Dialect::GitHubApp, &["repo"]);
    let flow = DeviceFlow::new(&http, &p);
    let old = t.refresh_token.unwrap();
    let new = flow.refresh(&old, &clock).await.unwrap();
    let new_rt = new
        .refresh_token
        .expect("GitHub Apps rotate refresh tokens");
    assert_ne!(new_rt.expose(), old.expose());
    let again = flow.refresh(&old, &clock).await;
    assert!(
        matches!(again, Err(RefreshError::ReauthRequired { .. })),
        "{again:?}"
    );
    assert!(flow.refresh(&new_rt, &clock).await.is_ok());
}

#[tokio::test]
async fn refresh_retries_transient_faults_then_gives_up_clearly() {
    let http = http(300);
    let mut o = virtual_time(Dialect::Microsoft);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let clock = ManualClock::default();
    let t = sign_in(&idp, Dialect::Microsoft, &clock, &http)
        .await
        .unwrap();
    let p = provider_for(&idp, Dialect::Microsoft, scopes(Dialect::Microsoft));
    let flow = DeviceFlow::new(&http, &p);
    let rt = t.refresh_token.unwrap();
    idp.inject([Fault::Status(503), Fault::Html]);
    assert!(flow.refresh(&rt, &clock).await.is_ok());
    idp.inject([Fault::Status(500), Fault::Status(500), Fault::Reset]);
    let r = flow.refresh(&rt, &clock).await;
    assert!(matches!(r, Err(RefreshError::Unreachable(_))), "{r:?}");
}

/// Entra on refresh (issue 9; docs/providers.md, "Microsoft"): MSAL's "interaction required" answers mean the
/// person must sign in again; `temporarily_unavailable` and `server_error` are retried.
#[tokio::test]
async fn entra_refresh_errors_mean_sign_in_again_or_retry() {
    let http = http(5000);
    let mut o = virtual_time(Dialect::Microsoft);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let clock = ManualClock::default();
    let t = sign_in(&idp, Dialect::Microsoft, &clock, &http)
        .await
        .unwrap();
    let p = provider_for(&idp, Dialect::Microsoft, scopes(Dialect::Microsoft));
    let flow = DeviceFlow::new(&http, &p);
    let rt = t.refresh_token.unwrap();
    for code in [
        "interaction_required",
        "consent_required",
        "login_required",
        "bad_token",
    ] {
        idp.inject([Fault::OAuth {
            status: 400,
            error: code,
        }]);
        let r = flow.refresh(&rt, &clock).await;
        match r {
            Err(RefreshError::ReauthRequired { code: c, .. }) => assert_eq!(c, code),
            other => panic!("{code}: {other:?}"),
        }
    }
    idp.inject([
        Fault::OAuth {
            status: 503,
            error: "temporarily_unavailable",
        },
        Fault::OAuth {
            status: 500,
            error: "server_error",
        },
    ]);
    let r = flow.refresh(&rt, &clock).await;
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(idp.counters().refresh_successes, 1);
}

/// A single `{"error":"temporarily_unavailable"}` 503 while the person is signing in does not end
/// the sign-in: the poller backs off and goes on.
#[tokio::test]
async fn entra_busy_while_polling_backs_off_and_goes_on() {
    let http = http(5000);
    let mut o = virtual_time(Dialect::Microsoft);
    o.auto_approve_after_polls = Some(1);
    o.interval = Some(1);
    let idp = FakeIdp::start(o);
    idp.inject([
        Fault::OAuth {
            status: 503,
            error: "temporarily_unavailable",
        },
        Fault::OAuth {
            status: 500,
            error: "server_error",
        },
    ]);
    let clock = ManualClock::default();
    let p = provider_for(&idp, Dialect::Microsoft, scopes(Dialect::Microsoft));
    let flow = DeviceFlow::new(&http, &p);
    let auth = flow.start(&clock).await.unwrap();
    let mut events = vec![];
    let t = flow
        .poll(&auth, clock.now_instant(), &clock, |e| {
            events.push(e.clone())
        })
        .await;
    assert!(t.is_ok(), "{t:?}");
    let s: Vec<u64> = clock.sleeps().iter().map(|d| d.as_secs()).collect();
    assert_eq!(s, vec![1, 2, 4], "{s:?}");
    assert_eq!(idp.counters().faults_applied, 2);
    assert!(
        events
            .iter()
            .all(|e| matches!(e, sidekey_flow::poll::PollEvent::Fault { .. })),
        "{events:?}"
    );
}

/// GitHub: "The client_secret is not needed for the device flow" (github/docs
/// authorizing-oauth-apps.md; docs/providers.md, "GitHub"): none on the device request or the polls, so a
/// stale secret cannot spoil a sign-in; refresh still sends it (needed for non-device tokens).
#[tokio::test]
async fn github_sends_its_client_secret_only_where_github_needs_it() {
    let http = http(5000);
    let mut o = virtual_time(Dialect::GitHubApp);
    o.auto_approve_after_polls = Some(2);
    o.client_secret = Some("gh-app-secret-1".into());
    let idp = FakeIdp::start(o);
    let clock = ManualClock::default();
    for secret in ["stale-secret", "gh-app-secret-1"] {
        let mut p = provider_for(&idp, Dialect::GitHubApp, &["repo"]);
        p.client_secret = Some(Secret::new(secret));
        let flow = DeviceFlow::new(&http, &p);
        let auth = flow.start(&clock).await.unwrap();
        let t = flow.poll(&auth, clock.now_instant(), &clock, |_| {}).await;
        let t = t.unwrap_or_else(|e| panic!("{secret}: {e}"));
        assert_eq!(idp.counters().secrets_on_device_flow, 0, "{secret}");
        if secret == "gh-app-secret-1" {
            flow.refresh(&t.refresh_token.unwrap(), &clock)
                .await
                .unwrap();
        }
    }
    // Google still gets its secret on polls, not at the device endpoint.
    let mut o = virtual_time(Dialect::Google);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    sign_in(&idp, Dialect::Google, &clock, &http).await.unwrap();
    assert_eq!(idp.counters().secrets_on_device_flow, 1, "the one poll");
}

/// Logout's revocation per dialect: GitHub deletes the grant with the access token when there
/// is a refresh token (never sending the refresh token), else the token; only 204 counts.
/// Auth0 gets the refresh token only.
#[tokio::test]
async fn revocation_follows_the_dialect() {
    let http = http(5000);
    let clock = ManualClock::default();
    let mut o = virtual_time(Dialect::GitHubApp);
    o.auto_approve_after_polls = Some(1);
    o.client_secret = Some("gh-app-secret-1".into());
    let idp = FakeIdp::start(o);
    let mut p = provider_for(&idp, Dialect::GitHubApp, &["repo"]);
    p.client_secret = Some(Secret::new("gh-app-secret-1"));
    p.api_base = Some(idp.api_base());
    let flow = DeviceFlow::new(&http, &p);
    let t = sign_in(&idp, Dialect::GitHubApp, &clock, &http)
        .await
        .unwrap();
    let rt = t.refresh_token.clone().unwrap();
    assert_eq!(
        flow.revoke(&t.access_token, Some(&rt)).await,
        RevokeOutcome::Revoked
    );
    assert!(idp.valid_refresh_tokens().is_empty());
    assert!(!idp.access_token_valid(t.access_token.expose()));
    // Again: GitHub no longer knows the token, and says so with 404: not a revocation.
    match flow.revoke(&t.access_token, Some(&rt)).await {
        RevokeOutcome::Failed(m) => {
            assert!(m.contains("HTTP 404") && m.contains("/grant"), "{m}");
            assert!(!m.contains(t.access_token.expose()) && !m.contains("gh-app-secret-1"));
        }
        other => panic!("{other:?}"),
    }
    // No refresh token: `/token`.
    let t = sign_in(&idp, Dialect::GitHubApp, &clock, &http)
        .await
        .unwrap();
    assert_eq!(
        flow.revoke(&t.access_token, None).await,
        RevokeOutcome::Revoked
    );
    assert!(!idp.access_token_valid(t.access_token.expose()));
    // Without a secret: not supported, nothing sent.
    let before = idp.counters().revocations;
    p.client_secret = None;
    let flow = DeviceFlow::new(&http, &p);
    assert!(matches!(
        flow.revoke(&t.access_token, None).await,
        RevokeOutcome::NotSupported(_)
    ));
    assert_eq!(idp.counters().revocations, before);

    let mut o = virtual_time(Dialect::Auth0);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let p = provider_for(&idp, Dialect::Auth0, scopes(Dialect::Auth0));
    let flow = DeviceFlow::new(&http, &p);
    let t = sign_in(&idp, Dialect::Auth0, &clock, &http).await.unwrap();
    let rt = t.refresh_token.clone().unwrap();
    assert_eq!(
        flow.revoke(&t.access_token, Some(&rt)).await,
        RevokeOutcome::Revoked
    );
    assert_eq!(idp.counters().revocations, 1);
    assert!(idp.valid_refresh_tokens().is_empty());
    assert!(matches!(
        flow.revoke(&t.access_token, None).await,
        RevokeOutcome::NotSupported(_)
    ));
}

#[tokio::test]
async fn device_endpoint_faults_are_retried_like_the_token_endpoints() {
    let http = http(300);
    let idp = FakeIdp::start(virtual_time(Dialect::Google));
    let p = provider_for(&idp, Dialect::Google, scopes(Dialect::Google));
    let flow = DeviceFlow::new(&http, &p);
    let secs = |c: &ManualClock| -> Vec<u64> { c.sleeps().iter().map(|d| d.as_secs()).collect() };

    // A 5xx page, a captive portal's HTML with 200, a cut-off JSON body: faults on the way,
    // retried with back-off, and the code comes.
    idp.inject_device([Fault::Status(502), Fault::Html, Fault::Truncated]);
    let clock = ManualClock::default();
    let auth = flow.start(&clock).await.unwrap();
    assert!(!auth.user_code.is_empty());
    assert_eq!(secs(&clock), [1, 2, 4]);

    // A reset connection, an oversized body, a late answer (past the timeout): retried too.
    idp.inject_device([
        Fault::Reset,
        Fault::Oversized,
        Fault::Delay(Duration::from_secs(2)),
    ]);
    let clock = ManualClock::default();
    flow.start(&clock).await.unwrap();
    assert_eq!(secs(&clock), [1, 2, 4]);

    // 429 with Retry-After: the wait is the server's, not the shorter back-off.
    idp.inject_device([Fault::RateLimited {
        retry_after: Some(7),
    }]);
    let clock = ManualClock::default();
    flow.start(&clock).await.unwrap();
    assert_eq!(secs(&clock), [7]);

    // A Retry-After nobody should wait for at a sign-in: a clear error at once.
    idp.inject_device([Fault::RateLimited {
        retry_after: Some(600),
    }]);
    let clock = ManualClock::default();
    match flow.start(&clock).await {
        Err(FlowError::Unreachable(m)) => {
            assert!(m.contains("rate-limited") && m.contains("600 s"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert!(clock.sleeps().is_empty());

    // A provider that stays down: a network failure naming the last answer.
    idp.inject_device(std::iter::repeat_n(Fault::Status(503), 4));
    let clock = ManualClock::default();
    match flow.start(&clock).await {
        Err(FlowError::Unreachable(m)) => {
            assert!(
                m.contains("after 4 attempts") && m.contains("HTTP 503"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
    // A busy provider's OAuth answer is retried; a refusal is not.
    idp.inject_device([
        Fault::OAuth {
            status: 503,
            error: "temporarily_unavailable",
        },
        Fault::OAuth {
            status: 400,
            error: "invalid_client",
        },
    ]);
    let clock = ManualClock::default();
    let r = flow.start(&clock).await;
    assert!(matches!(r, Err(FlowError::InvalidClient { .. })), "{r:?}");
    assert_eq!(secs(&clock), [1]);
    assert_eq!(idp.counters().faults_applied, 14);
}
