//! The fake server's mutable state and the protocol logic that does not depend on wire
//! encoding: device codes, polling decisions, token families, rotation, revocation.
//!
//! Handlers lock [`Shared::state`], call one of these synchronous methods, drop the lock and
//! only then render (and possibly `.await`). Keeping the logic synchronous is what makes it
//! safe to use a `std::sync::Mutex` from async handlers.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::util::{
    BASE20, BASE62, HEX, UPPER, UPPER_ALNUM, normalize_user_code, random_b64url, random_string,
    uuid_v4,
};
use crate::wire::{self, Fail};
use crate::{Counters, Dialect, FakeUser, Fault, Options};

pub(crate) const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

pub(crate) struct Shared {
    pub base: String,
    pub opts: Options,
    pub state: Mutex<State>,
    /// Notified whenever a device code is issued (for `wait_for_user_code`).
    pub issued: Condvar,
}

impl Shared {
    /// Locks the state, recovering from poisoning (a panicking test thread must not take the
    /// fake server down with it).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn dialect(&self) -> Dialect {
        self.opts.dialect
    }

    /// Base URL used in verification URIs (`verification_host` applied).
    fn verification_base(&self) -> String {
        match &self.opts.verification_host {
            Some(h) if h.contains("://") => h.trim_end_matches('/').to_string(),
            Some(h) => format!("http://{}", h.trim_end_matches('/')),
            None => self.base.clone(),
        }
    }

    /// Path of the dialect's own verification page.
    pub fn verification_path(&self) -> &'static str {
        match self.dialect() {
            Dialect::Microsoft => "/devicelogin",
            Dialect::Google | Dialect::Oidc => "/device",
            Dialect::GitHub | Dialect::GitHubApp => "/login/device",
            Dialect::Okta | Dialect::Auth0 => "/activate",
        }
    }

    pub fn verification_uri(&self) -> String {
        format!("{}{}", self.verification_base(), self.verification_path())
    }

    /// `verification_uri_complete`, for the dialects that send one.
    pub fn verification_uri_complete(&self, user_code: &str) -> Option<String> {
        match self.dialect() {
            Dialect::Okta | Dialect::Auth0 | Dialect::Oidc => Some(format!(
                "{}?user_code={}",
                self.verification_uri(),
                user_code
            )),
            _ => None,
        }
    }

    /// The `iss` of id_tokens and of the discovery document.
    pub fn token_issuer(&self, tenant: Option<&str>) -> String {
        let b = &self.base;
        match self.dialect() {
            Dialect::Microsoft => {
                format!(
                    "{b}/{}/v2.0",
                    wire::ms_tenant_id(tenant.unwrap_or("common"))
                )
            }
            Dialect::Okta => format!("{b}/oauth2/default"),
            Dialect::Auth0 => format!("{b}/"),
            _ => b.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DevStatus {
    Pending,
    Approved,
    Denied,
    /// Exchanged for tokens.
    Consumed,
}

pub(crate) struct Device {
    pub user_code: String,
    pub scopes: Vec<String>,
    /// Microsoft: the tenant path segment used at the device endpoint.
    pub tenant: Option<String>,
    pub expires_at: Instant,
    pub force_expired: bool,
    pub status: DevStatus,
    /// Auth0 reports `expired_token` once, then `invalid_grant`.
    pub expired_reported: bool,
    pub last_poll: Option<Instant>,
    /// Current polling interval for `enforce_interval` (grows by 5 on each `slow_down`).
    pub interval: u64,
    pub polls: u32,
    pub grant: Option<u64>,
    /// Who approved it, when not the configured user ([`crate::FakeIdp::approve_as`]).
    pub approver: Option<FakeUser>,
}

impl Device {
    fn expired(&self, now: Instant) -> bool {
        self.force_expired || now >= self.expires_at
    }
}

/// A token family: everything minted from one device-code approval.
struct Grant {
    scopes: Vec<String>,
    tenant: Option<String>,
    /// Who the grant is for, when not the configured user.
    user: Option<FakeUser>,
    access: Vec<String>,
    refresh: Vec<String>,
}

struct AccessTok {
    grant: u64,
    expires_at: Option<Instant>,
    valid: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RtState {
    Active,
    /// Replaced by rotation; presenting it again is a replay.
    Rotated,
    Revoked,
    /// Killed by `FakeIdp::invalidate_refresh_tokens`.
    Invalidated,
}

struct RefreshTok {
    grant: u64,
    state: RtState,
}

/// Tokens returned by a successful grant, before dialect rendering.
#[derive(Clone)]
pub(crate) struct Issued {
    pub access: String,
    pub refresh: Option<String>,
    pub id_token: Option<String>,
    pub scopes: Vec<String>,
    pub expires_in: Option<u64>,
}

/// What a token-endpoint poll of the device_code grant asks for.
pub(crate) struct PollInput<'a> {
    pub device_code: &'a str,
    pub tenant: Option<&'a str>,
}

pub(crate) enum RevokeOutcome {
    Revoked,
    /// Unknown or already invalid.
    NotRevoked,
    /// A token of a type this endpoint does not take: a refresh token at GitHub's
    /// `/applications/{id}/token|grant` (they take an access token), an access token at
    /// Auth0's `/oauth/revoke` (refresh tokens only).
    WrongType,
}

/// What [`State::inspect_access`] finds.
pub(crate) enum AccessInfo {
    Unknown,
    Expired,
    Revoked,
    Valid {
        scopes: Vec<String>,
        user: Option<FakeUser>,
        superseded: bool,
    },
}

/// The requested scopes the grant holds: all of them, but those the person unticks on the
/// consent page ([`Options::withheld_scopes`]).
fn granted_of(sh: &Shared, requested: Vec<String>) -> Vec<String> {
    requested
        .into_iter()
        .filter(|s| !sh.opts.withheld_scopes.contains(s))
        .collect()
}

/// Which of GitHub's two `DELETE /applications/{client_id}/…` endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GitHubDelete {
    /// `/token`: "Delete an app token" — that one access token.
    Token,
    /// `/grant`: "Delete an app authorization" — every token of the app for the user,
    /// the GitHub App's `ghr_` refresh token included.
    Grant,
}

#[derive(Default)]
pub(crate) struct State {
    devices: HashMap<String, Device>,
    /// normalized user code → device code
    by_user_code: HashMap<String, String>,
    /// device codes in issue order
    device_order: Vec<String>,
    pub last_user_code: Option<String>,
    pub last_audience: Option<String>,
    pub faults: VecDeque<Fault>,
    /// Faults for the next device authorization requests.
    pub device_faults: VecDeque<Fault>,
    /// Faults for the next userinfo / Graph `/me` / GitHub `/user` requests.
    pub userinfo_faults: VecDeque<Fault>,
    pub counters: Counters,
    grants: HashMap<u64, Grant>,
    next_grant: u64,
    access: HashMap<String, AccessTok>,
    refresh: HashMap<String, RefreshTok>,
    pub issued_access: Vec<String>,
    pub issued_refresh: Vec<String>,
    /// When each successful refresh answer was sent.
    pub refresh_answered: Vec<Instant>,
    pub revoked: Vec<String>,
    /// Every PKCE `code_verifier` a code exchange carried (for the harness's leak scan).
    pub received_verifiers: Vec<String>,
    /// Authorization codes of the code + PKCE flow, by code.
    codes: HashMap<String, AuthCode>,
    /// The next authorization requests are refused (`error=access_denied`).
    pub deny_authorizations: bool,
    /// Google Picker (`trigger_onepick=true`): the ids the person picks.
    pub picked_files: Vec<String>,
    /// Who is signed in at the provider's pages, when not the configured user.
    pub signed_in: Option<FakeUser>,
}

/// One authorization code (RFC 6749 §4.1 + RFC 7636): single-use, bound to its client,
/// redirect URI and S256 challenge.
struct AuthCode {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scopes: Vec<String>,
    used: bool,
    user: Option<FakeUser>,
}

fn new_user_code(dialect: Dialect) -> String {
    match dialect {
        // e.g. FRWQDE7YL
        Dialect::Microsoft => random_string(UPPER_ALNUM, 9),
        // e.g. GQVQ-JKEC
        Dialect::Google => format!("{}-{}", random_string(UPPER, 4), random_string(UPPER, 4)),
        // e.g. WDJB-MJHT, BCE3-88D0
        Dialect::GitHub | Dialect::GitHubApp => format!(
            "{}-{}",
            random_string(UPPER_ALNUM, 4),
            random_string(UPPER_ALNUM, 4)
        ),
        // e.g. MHXTFRPK
        Dialect::Okta => random_string(UPPER, 8),
        Dialect::Auth0 | Dialect::Oidc => {
            format!("{}-{}", random_string(BASE20, 4), random_string(BASE20, 4))
        }
    }
}

fn new_device_code(dialect: Dialect) -> String {
    match dialect {
        Dialect::Microsoft => format!("DAQABIQEAAAD{}", random_b64url(96)),
        Dialect::Google => format!("AH-1Ng{}", random_b64url(48)),
        // GitHub: 40 hex characters.
        Dialect::GitHub | Dialect::GitHubApp => random_string(HEX, 40),
        // Okta: UUID-like, plus entropy so it is "long".
        Dialect::Okta => format!("{}{}", uuid_v4(), random_string(HEX, 8)),
        Dialect::Auth0 => random_b64url(24),
        Dialect::Oidc => random_b64url(32),
    }
}

fn new_access_token(dialect: Dialect) -> String {
    match dialect {
        Dialect::GitHub => format!("gho_{}", random_string(BASE62, 36)),
        Dialect::GitHubApp => format!("ghu_{}", random_string(BASE62, 36)),
        Dialect::Microsoft => format!("at_msft_{}", random_string(BASE62, 40)),
        Dialect::Google => format!("at_goog_{}", random_string(BASE62, 40)),
        Dialect::Okta => format!("at_okta_{}", random_string(BASE62, 40)),
        Dialect::Auth0 => format!("at_auth0_{}", random_string(BASE62, 40)),
        Dialect::Oidc => format!("at_oidc_{}", random_string(BASE62, 40)),
    }
}

fn new_refresh_token(dialect: Dialect) -> String {
    match dialect {
        Dialect::GitHub | Dialect::GitHubApp => format!("ghr_{}", random_string(BASE62, 76)),
        Dialect::Microsoft => format!("rt_msft_{}", random_string(BASE62, 40)),
        // Real Google refresh tokens look like `1//0g…` — the slashes catch clients that
        // forget to form-encode the refresh grant.
        Dialect::Google => format!("rt_goog_1//0{}", random_b64url(40)),
        Dialect::Okta => format!("rt_okta_{}", random_string(BASE62, 40)),
        Dialect::Auth0 => format!("rt_auth0_{}", random_string(BASE62, 40)),
        Dialect::Oidc => format!("rt_oidc_{}", random_string(BASE62, 40)),
    }
}

fn has_scope(scopes: &[String], s: &str) -> bool {
    scopes.iter().any(|x| x == s)
}

/// Whether the device-code exchange yields a refresh token.
fn issues_refresh(dialect: Dialect, scopes: &[String]) -> bool {
    match dialect {
        // "refresh tokens are always returned for devices"
        Dialect::Google | Dialect::GitHubApp => true,
        Dialect::GitHub => false,
        Dialect::Microsoft | Dialect::Okta | Dialect::Auth0 | Dialect::Oidc => {
            has_scope(scopes, "offline_access")
        }
    }
}

fn issues_id_token(dialect: Dialect, scopes: &[String]) -> bool {
    !matches!(dialect, Dialect::GitHub | Dialect::GitHubApp) && has_scope(scopes, "openid")
}

impl State {
    /// Record an approved authorization request; the code contains `/` like Google's.
    pub fn create_auth_code(
        &mut self,
        client_id: &str,
        redirect_uri: &str,
        challenge: &str,
        scopes: Vec<String>,
    ) -> String {
        let code = format!("4/{}", random_b64url(24));
        self.codes.insert(
            code.clone(),
            AuthCode {
                client_id: client_id.to_string(),
                redirect_uri: redirect_uri.to_string(),
                challenge: challenge.to_string(),
                scopes,
                used: false,
                user: self.signed_in.clone(),
            },
        );
        code
    }

    /// `grant_type=authorization_code`: the code once, with the same client and redirect URI
    /// and a verifier whose S256 is the challenge; anything else is `invalid_grant`.
    pub fn exchange_code(
        &mut self,
        sh: &Shared,
        client_id: &str,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
        now: Instant,
    ) -> Result<Issued, Fail> {
        let dialect = sh.dialect();
        self.received_verifiers.push(verifier.to_string());
        let Some(c) = self.codes.get_mut(code) else {
            return Err(Fail::BadDeviceCode);
        };
        if c.used {
            return Err(Fail::AlreadyUsed);
        }
        // A failed attempt spends the code too (RFC 6749 §4.1.2: use it once).
        c.used = true;
        let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
        let expected = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            digest.as_ref(),
        );
        if c.client_id != client_id || c.redirect_uri != redirect_uri || expected != c.challenge {
            return Err(Fail::BadDeviceCode);
        }
        let scopes = granted_of(sh, c.scopes.clone());
        let user = c.user.clone();
        let gid = self.next_grant;
        self.next_grant += 1;
        self.grants.insert(
            gid,
            Grant {
                scopes: scopes.clone(),
                tenant: None,
                user,
                access: Vec::new(),
                refresh: Vec::new(),
            },
        );
        let refresh = issues_refresh(dialect, &scopes).then(|| self.mint_refresh(sh, gid));
        Ok(self.mint_response(sh, gid, refresh, now))
    }

    /// Issues a new device code; returns `(device_code, user_code)`.
    pub fn create_device(
        &mut self,
        sh: &Shared,
        scopes: Vec<String>,
        tenant: Option<String>,
        now: Instant,
    ) -> (String, String) {
        let dialect = sh.dialect();
        let mut user_code = new_user_code(dialect);
        while self
            .by_user_code
            .contains_key(&normalize_user_code(&user_code))
        {
            user_code = new_user_code(dialect);
        }
        let device_code = new_device_code(dialect);
        let dev = Device {
            user_code: user_code.clone(),
            scopes,
            tenant,
            expires_at: now + Duration::from_secs(sh.opts.expires_in),
            force_expired: false,
            status: DevStatus::Pending,
            expired_reported: false,
            last_poll: None,
            interval: sh.opts.interval.unwrap_or(5),
            polls: 0,
            grant: None,
            approver: None,
        };
        self.by_user_code
            .insert(normalize_user_code(&user_code), device_code.clone());
        self.devices.insert(device_code.clone(), dev);
        self.device_order.push(device_code.clone());
        self.last_user_code = Some(user_code.clone());
        (device_code, user_code)
    }

    pub fn newest_pending_user_code(&self, now: Instant) -> Option<String> {
        self.device_order.iter().rev().find_map(|dc| {
            let d = self.devices.get(dc)?;
            (d.status == DevStatus::Pending && !d.expired(now)).then(|| d.user_code.clone())
        })
    }

    pub fn device_by_user_code(&self, user_code: &str) -> Option<&Device> {
        let dc = self.by_user_code.get(&normalize_user_code(user_code))?;
        self.devices.get(dc)
    }

    /// Approve/deny from the verification page or the control API.
    pub fn set_status(&mut self, user_code: &str, to: DevStatus, now: Instant) -> bool {
        let Some(dc) = self.by_user_code.get(&normalize_user_code(user_code)) else {
            return false;
        };
        let Some(dev) = self.devices.get_mut(dc) else {
            return false;
        };
        if dev.expired(now) {
            return false;
        }
        match dev.status {
            s if s == to => true,
            DevStatus::Pending => {
                dev.status = to;
                if to == DevStatus::Approved {
                    dev.approver = self.signed_in.clone();
                }
                true
            }
            _ => false,
        }
    }

    /// Record who approved a code (after [`State::set_status`] approved it).
    pub fn set_approver(&mut self, user_code: &str, user: FakeUser) {
        if let Some(dc) = self.by_user_code.get(&normalize_user_code(user_code))
            && let Some(dev) = self.devices.get_mut(dc)
        {
            dev.approver = Some(user);
        }
    }

    /// Who the grant behind a currently valid access token is for (`None`: the configured
    /// user).
    pub fn access_token_user(&self, token: &str) -> Option<FakeUser> {
        let gid = self.access.get(token)?.grant;
        self.grants.get(&gid)?.user.clone()
    }

    pub fn force_expire(&mut self, user_code: &str) -> bool {
        let Some(dc) = self.by_user_code.get(&normalize_user_code(user_code)) else {
            return false;
        };
        match self.devices.get_mut(dc) {
            Some(dev) => {
                dev.force_expired = true;
                true
            }
            None => false,
        }
    }

    /// A device_code grant poll, after client authentication succeeded.
    pub fn poll(
        &mut self,
        sh: &Shared,
        input: PollInput<'_>,
        now: Instant,
    ) -> Result<Issued, Fail> {
        let dialect = sh.dialect();
        let Some(dev) = self.devices.get_mut(input.device_code) else {
            return Err(Fail::BadDeviceCode);
        };
        // Microsoft: "the token request must use the same tenant value as the device request".
        if dialect == Dialect::Microsoft && dev.tenant.as_deref() != input.tenant {
            return Err(Fail::BadDeviceCode);
        }
        if dev.status == DevStatus::Consumed {
            self.counters.polls_after_success += 1;
            let grant = dev.grant;
            if dialect == Dialect::Oidc {
                // node-oidc-provider: replaying a consumed device code revokes what it issued.
                if let Some(g) = grant {
                    self.revoke_grant(g);
                }
            }
            return Err(Fail::AlreadyUsed);
        }
        if dev.expired(now) {
            if dialect == Dialect::Auth0 {
                if dev.expired_reported {
                    return Err(Fail::BadDeviceCode);
                }
                dev.expired_reported = true;
            }
            return Err(Fail::Expired);
        }
        if sh.opts.enforce_interval
            && let Some(last) = dev.last_poll
            && now.duration_since(last) < Duration::from_secs(dev.interval)
        {
            dev.interval += 5;
            dev.last_poll = Some(now);
            return Err(Fail::SlowDown {
                interval: dev.interval,
            });
        }
        dev.last_poll = Some(now);
        dev.polls = dev.polls.saturating_add(1);
        if let Some(n) = sh.opts.auto_approve_after_polls
            && dev.polls >= n
            && dev.status == DevStatus::Pending
        {
            dev.status = DevStatus::Approved;
        }
        match dev.status {
            DevStatus::Pending => Err(Fail::Pending),
            DevStatus::Denied => Err(Fail::Denied),
            DevStatus::Consumed => Err(Fail::AlreadyUsed),
            DevStatus::Approved => {
                dev.status = DevStatus::Consumed;
                let scopes = granted_of(sh, dev.scopes.clone());
                let tenant = dev.tenant.clone();
                let user = dev.approver.clone();
                let gid = self.next_grant;
                self.next_grant += 1;
                dev.grant = Some(gid);
                self.grants.insert(
                    gid,
                    Grant {
                        scopes: scopes.clone(),
                        tenant,
                        user,
                        access: Vec::new(),
                        refresh: Vec::new(),
                    },
                );
                let refresh = issues_refresh(dialect, &scopes).then(|| self.mint_refresh(sh, gid));
                Ok(self.mint_response(sh, gid, refresh, now))
            }
        }
    }

    /// A refresh_token grant, after client authentication succeeded. `scope` is the request's
    /// `scope` parameter, if it had one.
    pub fn refresh(
        &mut self,
        sh: &Shared,
        token: &str,
        scope: Option<&str>,
        now: Instant,
    ) -> Result<Issued, Fail> {
        let dialect = sh.dialect();
        let Some(rt) = self.refresh.get(token) else {
            return Err(Fail::BadRefresh);
        };
        let gid = rt.grant;
        match rt.state {
            RtState::Active => {}
            RtState::Rotated => {
                self.counters.refresh_replays += 1;
                // Reuse detection (oidc-provider, Okta and Auth0 with rotation): replaying a
                // rotated refresh token revokes the whole family.
                if matches!(dialect, Dialect::Oidc | Dialect::Okta | Dialect::Auth0) {
                    self.revoke_grant(gid);
                }
                return Err(Fail::BadRefresh);
            }
            RtState::Revoked | RtState::Invalidated => return Err(Fail::BadRefresh),
        }
        // Entra v2: `scope` is optional on refresh, and "the scopes requested in this leg must be
        // equivalent to or a subset of the scopes requested in the original ... request"
        // (entra-docs v2-oauth2-auth-code-flow.md, "Refresh the access token"). Scopes the user
        // never consented to fail with AADSTS65001 (docs/providers.md, "Microsoft").
        // The OIDC scopes Entra always allows are not counted.
        if dialect == Dialect::Microsoft
            && let Some(scope) = scope
        {
            let granted = self
                .grants
                .get(&gid)
                .map(|g| g.scopes.clone())
                .unwrap_or_default();
            let outside: Vec<&str> = scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .filter(|s| !matches!(*s, "openid" | "profile" | "email" | "offline_access"))
                .filter(|s| !has_scope(&granted, s))
                .collect();
            if !outside.is_empty() {
                return Err(Fail::NotConsented(outside.join(" ")));
            }
        }
        let new_refresh = if sh.opts.rotate_refresh_tokens {
            if dialect != Dialect::Microsoft {
                // Microsoft leaves the old token valid; everyone else retires it.
                if let Some(rt) = self.refresh.get_mut(token) {
                    rt.state = RtState::Rotated;
                }
            }
            if dialect == Dialect::GitHubApp {
                // GitHub: "the used refresh token and the old access token stop working".
                let olds = self
                    .grants
                    .get(&gid)
                    .map(|g| g.access.clone())
                    .unwrap_or_default();
                for at in olds {
                    if let Some(a) = self.access.get_mut(&at) {
                        a.valid = false;
                    }
                }
            }
            Some(self.mint_refresh(sh, gid))
        } else {
            match dialect {
                // Google and Auth0 (non-rotating) send no refresh_token on refresh.
                Dialect::Google | Dialect::Auth0 => None,
                // Okta "persistent" refresh tokens: the same value is echoed back.
                _ => Some(token.to_string()),
            }
        };
        self.counters.refresh_successes += 1;
        Ok(self.mint_response(sh, gid, new_refresh, now))
    }

    fn mint_refresh(&mut self, sh: &Shared, gid: u64) -> String {
        let rt = new_refresh_token(sh.dialect());
        self.refresh.insert(
            rt.clone(),
            RefreshTok {
                grant: gid,
                state: RtState::Active,
            },
        );
        self.issued_refresh.push(rt.clone());
        if let Some(g) = self.grants.get_mut(&gid) {
            g.refresh.push(rt.clone());
        }
        rt
    }

    fn mint_response(
        &mut self,
        sh: &Shared,
        gid: u64,
        refresh: Option<String>,
        now: Instant,
    ) -> Issued {
        let dialect = sh.dialect();
        let at = new_access_token(dialect);
        let first = self.grants.get(&gid).is_none_or(|g| g.access.is_empty());
        let ttl = match sh.opts.first_access_token_ttl {
            Some(t) if first => t,
            _ => sh.opts.access_token_ttl,
        };
        let expires_in = (dialect != Dialect::GitHub).then_some(ttl);
        self.access.insert(
            at.clone(),
            AccessTok {
                grant: gid,
                expires_at: expires_in.map(|s| now + Duration::from_secs(s)),
                valid: true,
            },
        );
        self.issued_access.push(at.clone());
        let (scopes, tenant, user) = match self.grants.get_mut(&gid) {
            Some(g) => {
                g.access.push(at.clone());
                (g.scopes.clone(), g.tenant.clone(), g.user.clone())
            }
            None => (Vec::new(), None, None),
        };
        let user = user.as_ref().unwrap_or(&sh.opts.user);
        let id_token = issues_id_token(dialect, &scopes)
            .then(|| wire::id_token(sh, tenant.as_deref(), &scopes, user));
        Issued {
            access: at,
            refresh,
            id_token,
            scopes,
            expires_in,
        }
    }

    /// Revokes every still-valid token of a family and records them as revoked.
    fn revoke_grant(&mut self, gid: u64) {
        let Some(g) = self.grants.get(&gid) else {
            return;
        };
        let (ats, rts) = (g.access.clone(), g.refresh.clone());
        for at in ats {
            self.revoke_access(&at);
        }
        for rt in rts {
            self.revoke_refresh(&rt);
        }
    }

    fn revoke_access(&mut self, token: &str) -> bool {
        match self.access.get_mut(token) {
            Some(a) if a.valid => {
                a.valid = false;
                self.revoked.push(token.to_string());
                true
            }
            _ => false,
        }
    }

    fn revoke_refresh(&mut self, token: &str) -> bool {
        match self.refresh.get_mut(token) {
            Some(r) if r.state != RtState::Revoked => {
                r.state = RtState::Revoked;
                self.revoked.push(token.to_string());
                true
            }
            _ => false,
        }
    }

    /// RFC 7009 (and Google/GitHub) revocation with each dialect's cascade rules.
    pub fn revoke(&mut self, dialect: Dialect, token: &str, now: Instant) -> RevokeOutcome {
        if let Some(rt) = self.refresh.get(token) {
            let gid = rt.grant;
            if rt.state == RtState::Revoked {
                return RevokeOutcome::NotRevoked;
            }
            match dialect {
                // Auth0 access tokens are self-contained JWTs: revoking the refresh token
                // (grant) kills the family's refresh tokens but access tokens live on.
                Dialect::Auth0 => {
                    let rts = self
                        .grants
                        .get(&gid)
                        .map(|g| g.refresh.clone())
                        .unwrap_or_default();
                    for rt in rts {
                        self.revoke_refresh(&rt);
                    }
                }
                // Google, Okta, oidc-provider: revoking a refresh token revokes the grant,
                // including the access tokens minted from it.
                _ => self.revoke_grant(gid),
            }
            return RevokeOutcome::Revoked;
        }
        if let Some(at) = self.access.get(token) {
            let gid = at.grant;
            if !self.access_token_valid(token, now) {
                return RevokeOutcome::NotRevoked;
            }
            match dialect {
                // Google: revoking an access token that has a refresh token revokes both.
                Dialect::Google => self.revoke_grant(gid),
                // Auth0 documents /oauth/revoke for refresh tokens only ("Use this endpoint to
                // invalidate a Refresh Token"; docs/providers.md, "Auth0"): an
                // access token there is refused (the exact answer is unconfirmed; 400 assumed).
                Dialect::Auth0 => return RevokeOutcome::WrongType,
                // GitHub has no RFC 7009 endpoint: see `github_delete`.
                Dialect::GitHub | Dialect::GitHubApp => return RevokeOutcome::NotRevoked,
                _ => {
                    self.revoke_access(token);
                }
            }
            return RevokeOutcome::Revoked;
        }
        RevokeOutcome::NotRevoked
    }

    /// GitHub's `DELETE /applications/{client_id}/token` and `/grant`, which take an access
    /// token only ("The OAuth access token used to authenticate to the GitHub API";
    /// docs.github.com/rest/apps/oauth-applications, docs/providers.md, "GitHub").
    /// A refresh token is not an access token: GitHub refuses it (422 here; whether the real
    /// answer is 404 or 422 is unconfirmed, either way nothing is revoked).
    pub fn github_delete(
        &mut self,
        which: GitHubDelete,
        token: &str,
        now: Instant,
    ) -> RevokeOutcome {
        if self.refresh.contains_key(token) {
            return RevokeOutcome::WrongType;
        }
        if !self.access_token_valid(token, now) {
            return RevokeOutcome::NotRevoked;
        }
        let Some(gid) = self.access.get(token).map(|a| a.grant) else {
            return RevokeOutcome::NotRevoked;
        };
        match which {
            // Deleting one access token leaves the GitHub App refresh token working.
            GitHubDelete::Token => {
                self.revoke_access(token);
            }
            // "Deleting an OAuth application's grant will also delete all OAuth tokens
            // associated with the application for the user": every grant of that user.
            GitHubDelete::Grant => {
                let subject = |g: &Grant| g.user.as_ref().map(|u| u.subject.clone());
                let whose = self.grants.get(&gid).map(subject);
                let all: Vec<u64> = self
                    .grants
                    .iter()
                    .filter(|(_, g)| Some(subject(g)) == whose)
                    .map(|(id, _)| *id)
                    .collect();
                for id in all {
                    self.revoke_grant(id);
                }
            }
        }
        RevokeOutcome::Revoked
    }

    pub fn access_token_valid(&self, token: &str, now: Instant) -> bool {
        match self.access.get(token) {
            Some(a) => a.valid && a.expires_at.is_none_or(|e| now < e),
            None => false,
        }
    }

    /// Everything a resource server may learn about an access token (see
    /// [`crate::TokenStatus`]): unknown, expired, revoked/invalidated, or valid with its grant's
    /// scopes (and the scopes the server reports granted beyond them), whom it is for, and
    /// whether a refresh has since issued a newer access token of the same grant.
    pub fn inspect_access(&self, sh: &Shared, token: &str, now: Instant) -> AccessInfo {
        let Some(a) = self.access.get(token) else {
            return AccessInfo::Unknown;
        };
        if !a.valid {
            return AccessInfo::Revoked;
        }
        if a.expires_at.is_some_and(|e| now >= e) {
            return AccessInfo::Expired;
        }
        let g = self.grants.get(&a.grant);
        let mut scopes = g.map(|g| g.scopes.clone()).unwrap_or_default();
        for extra in &sh.opts.granted_extra_scopes {
            if !scopes.contains(extra) {
                scopes.push(extra.clone());
            }
        }
        AccessInfo::Valid {
            scopes,
            user: g.and_then(|g| g.user.clone()),
            superseded: g.is_some_and(|g| g.access.last().is_some_and(|l| l != token)),
        }
    }

    /// Scopes of the grant behind a currently valid access token.
    pub fn access_token_scopes(&self, token: &str, now: Instant) -> Option<Vec<String>> {
        if !self.access_token_valid(token, now) {
            return None;
        }
        let gid = self.access.get(token)?.grant;
        Some(
            self.grants
                .get(&gid)
                .map(|g| g.scopes.clone())
                .unwrap_or_default(),
        )
    }

    pub fn valid_refresh_tokens(&self) -> Vec<String> {
        self.issued_refresh
            .iter()
            .filter(|t| {
                self.refresh
                    .get(t.as_str())
                    .is_some_and(|r| r.state == RtState::Active)
            })
            .cloned()
            .collect()
    }

    /// Every access token issued so far reaches the end of its lifetime now.
    pub fn expire_access_tokens(&mut self, now: Instant) {
        for a in self.access.values_mut() {
            a.expires_at = Some(a.expires_at.map_or(now, |e| e.min(now)));
        }
    }

    /// Every access token issued so far stops working (as if it had expired).
    pub fn invalidate_access_tokens(&mut self) {
        for a in self.access.values_mut() {
            a.valid = false;
        }
    }

    pub fn invalidate_refresh_tokens(&mut self) {
        for r in self.refresh.values_mut() {
            if r.state == RtState::Active {
                r.state = RtState::Invalidated;
            }
        }
    }
}
