//! Fake OAuth 2.0 authorization servers that speak each provider's *device-flow dialect*.
//!
//! # Why this crate exists
//!
//! RFC 8628 is short, but every real provider bends it differently (see
//! `docs/providers.md`): Google says `verification_url` and answers "pending" with HTTP 428,
//! GitHub answers *every* polling error with HTTP 200 and speaks form-urlencoded unless asked
//! for JSON, Auth0 uses 403/429 and reports `expired_token` exactly once, Microsoft wraps its
//! errors in AADSTS text and never sends `verification_uri_complete`, and so on. A client that
//! is only ever tested against a textbook server breaks on the first real one. [`FakeIdp`]
//! reproduces those quirks byte-for-byte where the reference documents them (status codes,
//! field names, error bodies, encodings, refresh-token rotation rules), so the client's tests
//! exercise the same shapes it will meet in production — without network access or accounts.
//!
//! It also lets tests do what real providers cannot: approve/deny/expire a code from code
//! ([`FakeIdp::approve`]), inject transport faults into the token and device authorization
//! endpoints ([`Fault`]: 5xx HTML, captive portals, oversized or truncated bodies, delays,
//! connection resets, 429s),
//! and inspect every token ever issued ([`FakeIdp::issued_access_tokens`]) so tests can grep
//! logs and outputs for leaks.
//!
//! # Design
//!
//! * Each [`FakeIdp`] owns a thread with its own current-thread tokio runtime, so it works
//!   from plain `#[test]`s that block (e.g. on `std::process::Command`), from
//!   `#[tokio::test]`s, and inside the `sidekey demo` binary, without sharing a runtime.
//! * State lives behind a `std::sync::Mutex` that is never held across an `.await`; the
//!   control methods on [`FakeIdp`] are therefore plain blocking calls.
//! * Requests are routed by hand (not with axum's router) because the dialects disagree about
//!   paths (Microsoft's `{tenant}` segment, Okta's `/oauth2/default` prefix) and about what a
//!   404/405 looks like. Every input is parsed defensively: malformed bodies yield the
//!   dialect's OAuth error JSON, never a panic.
//! * [`Fault::Reset`] needs to kill a connection without writing a response, which axum cannot
//!   express; the server therefore accepts connections through a small listener wrapper whose
//!   sockets can be told (per connection) to fail all further I/O with a zero-linger close.
//! * All values shown to a browser on the verification page are HTML-escaped.
//!
//! # The fake services
//!
//! Besides the authorization servers, the services sidekey calls with the tokens: Microsoft
//! Graph ([`graph`], `FakeGraph`), Google Drive and Docs ([`FakeGoogle`]), YouTube
//! ([`FakeYouTube`], with its quota), the AWS SSO OIDC service and access portal ([`aws`]), and
//! Telegram and webhook receivers ([`FakeTelegram`], [`FakeHook`]). Each enforces what the real
//! service does where a lenient mock would let the client get it wrong (see the module headers
//! and docs/graph.md, docs/google-drive.md, docs/youtube.md, docs/aws.md). Graph, Drive/Docs and
//! YouTube check each bearer token against the [`FakeIdp`]s they `trust` ([`TokenVerifier`]):
//! expired, revoked, unknown and other people's tokens get the service's 401, a scope the grant
//! lacks its 403 (docs/providers.md, "Service tokens").
//!
//! Where `docs/providers.md` ("Unconfirmed behaviours") marks a behaviour as unconfirmed, the
//! fake picks the most plausible shape and says so in a comment next to the code.

pub mod aws;
pub mod google;
pub mod graph;
mod page;
pub mod phone;
mod running;
pub mod secrets;
mod server;
mod state;
pub mod telegram;
mod trust;
mod util;
mod wire;
pub mod youtube;

pub use google::{FakeGoogle, GoogleOptions};
pub use graph::{
    FakeContact, FakeContactFolder, FakeCreatedEvent, FakeEvent, FakeFile, FakeGraph, FakeMessage,
    FakePage, FakeSentMail, FakeUpload, GraphData, GraphOptions, GraphRequest, WriteFault,
};
pub use telegram::{
    BotCommand, CallbackAnswer, EditedMessage, FakeHook, FakeTelegram, HookRequest, SentMessage,
    SentPhoto, TgFault,
};
pub use trust::{TokenGrant, TokenStatus, TokenVerifier};
pub use youtube::{FakePlaylist, FakeVideo, FakeYouTube, YouTubeOptions, YouTubeRequest};

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use state::{DevStatus, Shared, State};

/// Which provider's dialect a [`FakeIdp`] speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Microsoft identity platform v2.0 (`/{tenant}/oauth2/v2.0/devicecode`).
    Microsoft,
    /// Google (`/device/code`, `verification_url`, HTTP 428 while pending).
    Google,
    /// GitHub OAuth app (HTTP 200 errors, form-urlencoded by default, no refresh tokens).
    GitHub,
    /// GitHub App with expiring user tokens (`ghu_`/`ghr_`, rotating refresh tokens).
    GitHubApp,
    /// Okta custom authorization server `default`.
    Okta,
    /// Auth0 tenant (HTTP 403/429 polling errors, `expired_token` once).
    Auth0,
    /// Generic RFC 8628 + OIDC discovery server, modelled on node-oidc-provider.
    Oidc,
}

/// The signed-in identity the fake reports from its userinfo/"me" endpoints and id_tokens.
#[derive(Clone, Debug)]
pub struct FakeUser {
    pub name: String,
    pub email: Option<String>,
    pub login: String,
    /// The provider's stable id of the user (OIDC `sub`, Graph `/me` `id` = the ID token's
    /// `oid`, GitHub's numeric `/user` `id`); `None`: the dialect's fixed id for Ada.
    pub subject: Option<String>,
}

impl Default for FakeUser {
    fn default() -> Self {
        FakeUser {
            name: "Ada Lovelace".to_string(),
            email: Some("ada@example.test".to_string()),
            login: "ada".to_string(),
            subject: None,
        }
    }
}

/// Behaviour knobs. Start from [`Options::new`], which fills in each dialect's real defaults.
#[derive(Clone, Debug)]
pub struct Options {
    pub dialect: Dialect,
    /// The only client id the server knows. Default `"test-client"`.
    pub client_id: String,
    /// Google: `Some("test-secret")` (required when polling). Others: `None` (public client).
    /// When `Some` for Microsoft/Okta/Auth0/Oidc the client is treated as confidential and must
    /// present the secret (form or HTTP Basic) at the device and token endpoints.
    pub client_secret: Option<String>,
    /// Device code lifetime in seconds (dialect default: MS 900, Google 1800, GitHub 900,
    /// Okta 600, Auth0 900, Oidc 600).
    pub expires_in: u64,
    /// `Some(n)` → `"interval": n` in the device response; `None` → field omitted (clients
    /// must then use 5 s, and `enforce_interval` enforces 5 s). Default `Some(1)`.
    pub interval: Option<u64>,
    /// When true, a poll sooner than the current interval after the previous poll of the same
    /// code gets `slow_down` (dialect-shaped) and the interval grows by 5 s for this and every
    /// later poll (RFC 8628 §3.5), as real servers do. Default **true**: every sign-in against
    /// the fake must wait the interval. Tests whose clock is virtual (the flow engine's
    /// `ManualClock`, whose sleeps take no real time) or that poll back to back on purpose
    /// turn it off.
    pub enforce_interval: bool,
    /// Access-token lifetime in seconds. Default 3600 (GitHubApp: 28800, GitHub's fixed value).
    pub access_token_ttl: u64,
    /// Lifetime of the first access token of a grant (the one the device-code grant issues),
    /// if different: lets a test sign in with an already-expiring token whose refreshed
    /// successor lives `access_token_ttl`. Default `None`.
    pub first_access_token_ttl: Option<u64>,
    /// Refresh-token rotation. Defaults: Microsoft true (old stays valid), Google false (no
    /// `refresh_token` in refresh responses), GitHubApp true (old one invalid), Okta false
    /// (same token echoed back), Auth0 false (no `refresh_token` in refresh responses),
    /// Oidc true (old one invalid; replaying it revokes the whole family).
    pub rotate_refresh_tokens: bool,
    /// `Some(n)`: the code is approved automatically when its n-th poll arrives (that poll
    /// already returns tokens). Default `None`.
    pub auto_approve_after_polls: Option<u32>,
    /// GitHub: the device-code request answers `device_flow_disabled` (HTTP 400).
    pub device_flow_disabled: bool,
    pub user: FakeUser,
    /// Delay before answering a refresh grant (for concurrency tests). Default zero.
    pub refresh_delay: Duration,
    /// Delay *after* a refresh grant was decided (a rotated refresh token is already retired
    /// at the provider) and before its answer is sent: a client killed meanwhile has lost the
    /// new tokens. Default zero.
    pub refresh_answer_delay: Duration,
    /// If `Some(h)`, verification URIs use this host (or full `scheme://host` base) instead of
    /// the server's own base URL. Default `None`.
    pub verification_host: Option<String>,
    /// Scopes the device endpoint refuses with the dialect's `invalid_scope` answer, which names
    /// the first refused scope where the provider's text does (Entra, Okta, Auth0, Google).
    /// Default empty.
    pub refused_scopes: Vec<String>,
    /// Oidc: the discovery document has no `device_authorization_endpoint` (issuers that offer
    /// the device grant but do not advertise it; the endpoint itself still works). Default false.
    pub discovery_without_device_endpoint: bool,
    /// Userinfo answers only at its path with a trailing slash (`/me/`); the path without the
    /// slash answers `301` to the slashed one, as directory-style servers do. [`FakeIdp::api_base`]
    /// then returns the slashed URL. Default false.
    pub userinfo_trailing_slash: bool,
    /// Appended to the `verification_uri` (and `verification_uri_complete`) the device endpoint
    /// sends, e.g. `"\nhttps://evil.example/"`: a hostile page hidden behind an allowed one.
    /// Default `None`.
    pub verification_uri_suffix: Option<String>,
    /// The `user_code` the device endpoint *sends* instead of the real one (ANSI escapes, a huge
    /// code); approving still uses the real one ([`FakeIdp::last_user_code`]). Default `None`.
    pub shown_user_code: Option<String>,
    /// Scopes added to every token response's `scope`, as Microsoft reports previously consented
    /// scopes of the app beyond what was asked for (e.g. `Mail.Send`). Default empty.
    pub granted_extra_scopes: Vec<String>,
    /// Google: the Cloud project is in "Testing": token responses with a refresh token carry
    /// `"refresh_token_expires_in": 604799` (7 days). Default false.
    pub google_testing_mode: bool,
    /// Requested scopes the person unticks on the consent page, as Google's granular consent
    /// lets them (docs/providers.md, "Partial grants"): the grant leaves them out, so the token
    /// response's `scope` (and the code flow's redirect `scope`) lists only what was granted,
    /// and the service fakes that trust this server refuse calls needing them. Written as
    /// requested (e.g. the full Google URL). Default empty.
    pub withheld_scopes: Vec<String>,
}

impl Options {
    pub fn new(dialect: Dialect) -> Options {
        let expires_in = match dialect {
            Dialect::Microsoft => 900,
            Dialect::Google => 1800,
            Dialect::GitHub | Dialect::GitHubApp => 900,
            Dialect::Okta => 600,
            Dialect::Auth0 => 900,
            Dialect::Oidc => 600,
        };
        let rotate_refresh_tokens = matches!(
            dialect,
            Dialect::Microsoft | Dialect::GitHubApp | Dialect::Oidc
        );
        Options {
            dialect,
            client_id: "test-client".to_string(),
            client_secret: (dialect == Dialect::Google).then(|| "test-secret".to_string()),
            expires_in,
            interval: Some(1),
            enforce_interval: true,
            access_token_ttl: if dialect == Dialect::GitHubApp {
                28_800
            } else {
                3600
            },
            first_access_token_ttl: None,
            rotate_refresh_tokens,
            auto_approve_after_polls: None,
            device_flow_disabled: false,
            user: FakeUser::default(),
            refresh_delay: Duration::ZERO,
            refresh_answer_delay: Duration::ZERO,
            verification_host: None,
            refused_scopes: Vec::new(),
            discovery_without_device_endpoint: false,
            userinfo_trailing_slash: false,
            verification_uri_suffix: None,
            shown_user_code: None,
            granted_extra_scopes: Vec::new(),
            google_testing_mode: false,
            withheld_scopes: Vec::new(),
        }
    }
}

/// A fault injected into the next token-endpoint responses (device-code polls and refresh
/// grants alike; [`FakeIdp::inject`]) or device authorization responses
/// ([`FakeIdp::inject_device`]), consumed one per request in FIFO order.
#[derive(Clone, Debug)]
pub enum Fault {
    /// That status with an nginx-like HTML body (`<html><body><h1>502 Bad Gateway</h1>…`).
    Status(u16),
    /// HTTP 200 `text/html` captive-portal page.
    Html,
    /// HTTP 200 `application/json`, 4 MiB of valid JSON.
    Oversized,
    /// HTTP 200 `application/json` body `{"access_token":"abc","tok` (cut off).
    Truncated,
    /// Answer normally, after this delay.
    Delay(Duration),
    /// Close the connection (with an RST) without sending any HTTP response.
    Reset,
    /// HTTP 429 with an empty body and an optional `Retry-After` header.
    RateLimited { retry_after: Option<u64> },
    /// An OAuth error body (`{"error": …}`) with that status, in the dialect's own shape: for
    /// Microsoft an AADSTS body with the documented code and text where there is one
    /// (`interaction_required`, `consent_required`, `login_required`, `temporarily_unavailable`,
    /// `server_error`, `unauthorized_client`; see `wire::ms_oauth_fault`).
    OAuth { status: u16, error: &'static str },
    /// An OAuth error body whose `error_description` echoes the request: every form parameter
    /// (`refresh_token`, `device_code`, `client_secret`, …) and the `Authorization` header, as a
    /// misbehaving provider or proxy might.
    EchoRequest { status: u16, error: &'static str },
}

/// Request counters. Requests answered by an injected fault count in `polls` /
/// `refresh_requests` (they did arrive) and in `faults_applied`.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    /// Requests to the device authorization endpoint (including refused ones).
    pub device_requests: u64,
    /// Token-endpoint requests with the device_code grant type.
    pub polls: u64,
    /// Polls of a device code that was already exchanged for tokens.
    pub polls_after_success: u64,
    /// Token-endpoint requests with `grant_type=refresh_token`.
    pub refresh_requests: u64,
    pub refresh_successes: u64,
    /// Refresh grants that presented a refresh token already replaced by rotation (refused;
    /// Oidc, Okta and Auth0 revoke the whole grant then).
    pub refresh_replays: u64,
    /// Requests to the revocation endpoint (whatever their outcome; GitHub: both `DELETE`s).
    pub revocations: u64,
    /// Device-code requests and device-code polls that carried a `client_secret` (form or
    /// HTTP Basic). GitHub: "The client_secret is not needed for the device flow".
    pub secrets_on_device_flow: u64,
    /// Requests to userinfo / Graph `/me` / GitHub `/user`.
    pub userinfo_requests: u64,
    /// Token-endpoint and device-endpoint requests answered (or delayed) by an injected [`Fault`].
    pub faults_applied: u64,
}

/// A running fake authorization server. Dropping it shuts the server down.
pub struct FakeIdp {
    shared: Arc<Shared>,
    base: String,
    _server: running::Running,
}

impl FakeIdp {
    /// Starts on 127.0.0.1:0 on its own thread with its own current-thread tokio runtime.
    ///
    /// Panics only if the loopback socket or the runtime cannot be created at all (a broken
    /// test environment, not bad input).
    pub fn start(opts: Options) -> FakeIdp {
        let bound = running::Bound::loopback();
        let base = bound.base.clone();
        let shared = Arc::new(Shared {
            base: base.clone(),
            opts,
            state: Mutex::new(State::default()),
            issued: Condvar::new(),
        });
        let known = shared.clone();
        secrets::register(move || {
            let st = known.lock();
            let exportable = st
                .issued_access
                .iter()
                .cloned()
                .map(secrets::Secret::Exportable);
            let never = (st
                .issued_refresh
                .iter()
                .chain(&st.received_verifiers)
                .cloned())
            .chain(known.opts.client_secret.clone())
            .map(secrets::Secret::Never);
            exportable.chain(never).collect()
        });
        let server_shared = shared.clone();
        let server = bound.run("fake-idp", move |listener, rx| {
            server::run(listener, server_shared, rx)
        });
        FakeIdp {
            shared,
            base,
            _server: server,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        self.base.clone()
    }

    pub fn dialect(&self) -> Dialect {
        self.shared.opts.dialect
    }

    /// What goes in the config's `issuer` / `authority` root / `domain` for this dialect:
    /// Okta `{base}/oauth2/default`; everything else `{base}` (Microsoft: the authority root,
    /// to which the config appends a tenant such as `/common`).
    pub fn issuer(&self) -> String {
        match self.dialect() {
            Dialect::Okta => format!("{}/oauth2/default", self.base),
            _ => self.base.clone(),
        }
    }

    pub fn device_authorization_endpoint(&self) -> String {
        let b = &self.base;
        match self.dialect() {
            Dialect::Microsoft => format!("{b}/common/oauth2/v2.0/devicecode"),
            Dialect::Google => format!("{b}/device/code"),
            Dialect::GitHub | Dialect::GitHubApp => format!("{b}/login/device/code"),
            Dialect::Okta => format!("{b}/oauth2/default/v1/device/authorize"),
            Dialect::Auth0 => format!("{b}/oauth/device/code"),
            Dialect::Oidc => format!("{b}/device/auth"),
        }
    }

    pub fn token_endpoint(&self) -> String {
        let b = &self.base;
        match self.dialect() {
            Dialect::Microsoft => format!("{b}/common/oauth2/v2.0/token"),
            Dialect::Google => format!("{b}/token"),
            Dialect::GitHub | Dialect::GitHubApp => format!("{b}/login/oauth/access_token"),
            Dialect::Okta => format!("{b}/oauth2/default/v1/token"),
            Dialect::Auth0 => format!("{b}/oauth/token"),
            Dialect::Oidc => format!("{b}/token"),
        }
    }

    /// RFC 7009 endpoint; `None` for Microsoft (none exists) and GitHub (not RFC 7009).
    pub fn revocation_endpoint(&self) -> Option<String> {
        let b = &self.base;
        match self.dialect() {
            Dialect::Microsoft | Dialect::GitHub | Dialect::GitHubApp => None,
            Dialect::Google => Some(format!("{b}/revoke")),
            Dialect::Okta => Some(format!("{b}/oauth2/default/v1/revoke")),
            Dialect::Auth0 => Some(format!("{b}/oauth/revoke")),
            Dialect::Oidc => Some(format!("{b}/token/revocation")),
        }
    }

    /// Base for "who signed in": Microsoft `{base}/v1.0` (GET `/me`), GitHub `{base}/api`
    /// (GET `/user`); Google/Okta/Auth0/Oidc: the userinfo URL itself.
    pub fn api_base(&self) -> String {
        let b = &self.base;
        let base = match self.dialect() {
            Dialect::Microsoft => format!("{b}/v1.0"),
            Dialect::GitHub | Dialect::GitHubApp => format!("{b}/api"),
            Dialect::Google => format!("{b}/v1/userinfo"),
            Dialect::Okta => format!("{b}/oauth2/default/v1/userinfo"),
            Dialect::Auth0 => format!("{b}/userinfo"),
            Dialect::Oidc => format!("{b}/me"),
        };
        let slashed = self.shared.opts.userinfo_trailing_slash
            && !matches!(
                self.dialect(),
                Dialect::Microsoft | Dialect::GitHub | Dialect::GitHubApp
            );
        if slashed { format!("{base}/") } else { base }
    }

    /// The `verification_uri` (Google: `verification_url`) the device endpoint hands out.
    pub fn verification_uri(&self) -> String {
        self.shared.verification_uri()
    }

    /// The most recently issued user code, whatever its state.
    pub fn last_user_code(&self) -> Option<String> {
        self.shared.lock().last_user_code.clone()
    }

    /// Blocks until a user code is awaiting the user (the most recent code that is still
    /// pending and unexpired) and returns it; `None` on timeout. A code already approved,
    /// denied or expired does not count, so sequential logins each get their own code.
    pub fn wait_for_user_code(&self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            let now = Instant::now();
            if let Some(code) = st.newest_pending_user_code(now) {
                return Some(code);
            }
            if now >= deadline {
                return None;
            }
            // Wake up at least every 50 ms: codes can also become pending-visible without a
            // notification (never in practice, but cheap insurance against a lost wakeup).
            let wait = (deadline - now).min(Duration::from_millis(50));
            st = match self.shared.issued.wait_timeout(st, wait) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Approves a pending code (as the user would on the verification page). `false` if the
    /// code is unknown, expired, denied or already used.
    pub fn approve(&self, user_code: &str) -> bool {
        self.shared
            .lock()
            .set_status(user_code, DevStatus::Approved, Instant::now())
    }

    /// Approves a pending code signed in at the provider as `user` (someone else than the
    /// configured user): the tokens of that approval name `user` at userinfo and in the ID token.
    pub fn approve_as(&self, user_code: &str, user: FakeUser) -> bool {
        let mut st = self.shared.lock();
        let ok = st.set_status(user_code, DevStatus::Approved, Instant::now());
        if ok {
            st.set_approver(user_code, user);
        }
        ok
    }

    /// Who is signed in at the provider's pages from now on (approvals on the verification
    /// page, the authorization endpoint of the code flow); `None`: the configured user again.
    pub fn sign_in_as(&self, user: Option<FakeUser>) {
        self.shared.lock().signed_in = user;
    }

    /// Denies a pending code. `false` if unknown, expired, approved or already used.
    pub fn deny(&self, user_code: &str) -> bool {
        self.shared
            .lock()
            .set_status(user_code, DevStatus::Denied, Instant::now())
    }

    /// Refuse (or again accept) the next authorization-code requests: the authorization
    /// endpoint then redirects with `error=access_denied`.
    pub fn deny_authorizations(&self, deny: bool) {
        self.shared.lock().deny_authorizations = deny;
    }

    /// Google's Picker for installed apps: what the person picks when an authorization request
    /// carries `trigger_onepick=true` (sent back as `picked_file_ids`).
    pub fn set_picked_files(&self, ids: &[&str]) {
        self.shared.lock().picked_files = ids.iter().map(|s| s.to_string()).collect();
    }

    /// The authorization endpoint of the code + PKCE flow (every dialect serves `/authorize`).
    pub fn authorization_endpoint(&self) -> String {
        format!("{}/authorize", self.base_url())
    }

    /// Force-expires a code now. `false` if the code is unknown.
    pub fn expire(&self, user_code: &str) -> bool {
        self.shared.lock().force_expire(user_code)
    }

    /// Queues faults for the next token-endpoint requests (FIFO, one per request).
    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.lock().faults.extend(faults);
    }

    /// Queues faults for the next device authorization requests (FIFO, one per request; counted
    /// in `device_requests` and `faults_applied`): every [`Fault`] applies there as at the token
    /// endpoint.
    pub fn inject_device(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.lock().device_faults.extend(faults);
    }

    /// Queues faults for the next requests to userinfo / Graph `/me` / GitHub `/user` (FIFO,
    /// one per request; counted in `userinfo_requests` and `faults_applied`). Only faults that
    /// are a response (`Status`, `Html`, `Oversized`, `Truncated`, `RateLimited`) apply there.
    pub fn inject_userinfo(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.lock().userinfo_faults.extend(faults);
    }

    /// Drops the userinfo faults still queued.
    pub fn clear_userinfo_faults(&self) {
        self.shared.lock().userinfo_faults.clear();
    }

    pub fn counters(&self) -> Counters {
        self.shared.lock().counters.clone()
    }

    /// Every access token ever issued, in issue order.
    pub fn issued_access_tokens(&self) -> Vec<String> {
        self.shared.lock().issued_access.clone()
    }

    /// A live view of [`FakeIdp::issued_access_tokens`], for another fake that must know which
    /// client a token belongs to (the fake Google's per-app visibility).
    pub fn access_token_source(&self) -> impl Fn() -> Vec<String> + Send + Sync + 'static {
        let shared = self.shared.clone();
        move || shared.lock().issued_access.clone()
    }

    /// When each successful refresh answer was sent (after any `refresh_answer_delay`), in order.
    pub fn refresh_answer_times(&self) -> Vec<Instant> {
        self.shared.lock().refresh_answered.clone()
    }

    /// Every refresh token ever issued, in issue order.
    pub fn issued_refresh_tokens(&self) -> Vec<String> {
        self.shared.lock().issued_refresh.clone()
    }

    /// Refresh tokens a refresh grant would currently accept, in issue order.
    pub fn valid_refresh_tokens(&self) -> Vec<String> {
        self.shared.lock().valid_refresh_tokens()
    }

    /// Tokens revoked through a revocation endpoint or by family revocation (reuse
    /// detection, replayed device codes), in revocation order.
    pub fn revoked_tokens(&self) -> Vec<String> {
        self.shared.lock().revoked.clone()
    }

    /// Makes every refresh token issued so far unusable: refresh grants get the dialect's
    /// `invalid_grant` (GitHub: `bad_refresh_token`). Tokens issued later work normally.
    pub fn invalidate_refresh_tokens(&self) {
        self.shared.lock().invalidate_refresh_tokens();
    }

    /// Makes every access token issued so far unusable (as if expired or revoked): the
    /// userinfo/API endpoints answer their 401. Tokens issued later work normally.
    pub fn invalidate_access_tokens(&self) {
        self.shared.lock().invalidate_access_tokens();
    }

    /// Every access token issued so far reaches the end of its lifetime now (what waiting out
    /// `expires_in` would do): service fakes that trust this server answer their "expired"
    /// 401 ([`TokenStatus::Expired`]). Tokens issued later live their normal lifetime.
    pub fn expire_access_tokens(&self) {
        self.shared.lock().expire_access_tokens(Instant::now());
    }

    /// Whether the API/userinfo endpoints would accept this access token right now.
    pub fn access_token_valid(&self, token: &str) -> bool {
        self.shared.lock().access_token_valid(token, Instant::now())
    }

    /// A handle that answers, for a bearer token, what this server knows of it — what a service
    /// fake that trusts this server (e.g. [`FakeGraph::trust`]) checks every request against.
    pub fn verifier(&self) -> TokenVerifier {
        TokenVerifier::new(self.shared.clone())
    }

    /// Auth0: the `audience` parameter of the most recent device authorization request.
    pub fn last_audience(&self) -> Option<String> {
        self.shared.lock().last_audience.clone()
    }
}

impl std::fmt::Debug for FakeIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeIdp")
            .field("dialect", &self.dialect())
            .field("base", &self.base)
            .finish()
    }
}
