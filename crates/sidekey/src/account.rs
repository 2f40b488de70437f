//! What the vault holds for an account, and how a fresh access token is obtained from it.
//!
//! [`fresh_token`] is the hot path of `sidekey token`: a lock-free read of the sealed record and,
//! when the token is still good beyond the refresh margin, nothing else — no runtime, no HTTP
//! client. Only when a refresh is due does it take the account lock, re-read (another process may
//! have refreshed meanwhile), refresh, and store the new tokens — a rotated refresh token is
//! durably written before the new access token is handed to anyone.

use crate::config::Account;
use crate::context::Context;
use crate::failure::Failure;
use serde::{Deserialize, Serialize};
use sidekey_flow::{DeviceFlow, Http, HttpOptions, Secret, SystemClock, TokenResponse, UserInfo};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum State {
    SignedIn,
    ReauthRequired,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Record {
    pub provider: String,
    pub client_id: String,
    pub state: State,
    pub access_token: Secret,
    pub token_type: String,
    /// Unix seconds; `None` for tokens that do not expire (GitHub OAuth apps).
    pub expires_at: Option<i64>,
    pub refresh_token: Option<Secret>,
    pub refresh_token_expires_at: Option<i64>,
    pub id_token: Option<Secret>,
    pub scopes: Vec<String>,
    pub user: UserInfo,
    pub token_endpoint: String,
    pub revocation_endpoint: Option<String>,
    pub signed_in_at: i64,
    pub refreshed_at: Option<i64>,
    pub reauth_reason: Option<String>,
}

pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn rfc3339(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| unix.to_string())
}

impl Record {
    pub fn from_tokens(
        account: &Account,
        provider: &sidekey_flow::Provider,
        t: TokenResponse,
        user: UserInfo,
    ) -> Record {
        let now = now_unix();
        Record {
            provider: account.kind.name().into(),
            client_id: account.client_id.clone(),
            state: State::SignedIn,
            expires_at: t.expires_in.map(|e| now + e as i64),
            refresh_token_expires_at: t.refresh_token_expires_in.map(|e| now + e as i64),
            scopes: t.scope.unwrap_or_else(|| account.scopes.clone()),
            access_token: t.access_token,
            token_type: t.token_type,
            refresh_token: t.refresh_token,
            id_token: t.id_token,
            user,
            token_endpoint: provider.endpoints.token.to_string(),
            revocation_endpoint: provider
                .endpoints
                .revocation
                .as_ref()
                .map(|u| u.to_string()),
            signed_in_at: now,
            refreshed_at: None,
            reauth_reason: None,
        }
    }

    /// Merge a refresh response: keep the old refresh token when none came back (Google, Okta
    /// without rotation), keep the old scopes when the response omits them.
    pub fn apply_refresh(&mut self, t: TokenResponse) {
        let now = now_unix();
        self.access_token = t.access_token;
        self.token_type = t.token_type;
        self.expires_at = t.expires_in.map(|e| now + e as i64);
        if let Some(rt) = t.refresh_token {
            self.refresh_token = Some(rt);
            if let Some(e) = t.refresh_token_expires_in {
                self.refresh_token_expires_at = Some(now + e as i64);
            }
        }
        if let Some(s) = t.scope
            && !s.is_empty()
        {
            self.scopes = s;
        }
        if t.id_token.is_some() {
            self.id_token = t.id_token;
        }
        self.refreshed_at = Some(now);
        self.state = State::SignedIn;
        self.reauth_reason = None;
    }

    fn good_for(&self, margin: Duration) -> bool {
        match self.expires_at {
            None => true,
            Some(exp) => exp - now_unix() > margin.as_secs() as i64,
        }
    }

    fn expired(&self) -> bool {
        self.expires_at.is_some_and(|e| e <= now_unix())
    }

    pub fn display_user(&self) -> String {
        match (&self.user.name, &self.user.email) {
            (Some(n), Some(e)) => format!("{n} <{e}>"),
            (Some(n), None) => n.clone(),
            (None, Some(e)) => e.clone(),
            (None, None) => "unknown user".into(),
        }
    }
}

/// A current-thread runtime: every command is one short sequence of requests.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::internal(format!("cannot start the async runtime: {e}")))
}

pub fn http(ctx: &Context) -> Result<Http, Failure> {
    Http::new(HttpOptions {
        timeout: ctx.config.http_timeout,
        ..HttpOptions::default()
    })
    .map_err(Failure::from_flow)
}

/// A fresh access token for `name`, refreshing (single-flight across processes) when it expires
/// within the margin.
pub fn fresh_token(ctx: &Context, name: &str) -> Result<Record, Failure> {
    refresh_unless_fresh(ctx, name, None)
}

/// The provider refused `rejected` (HTTP 401) although it looked valid: refresh now — unless
/// another process already replaced it, in which case its successor is returned.
pub fn replace_rejected_token(
    ctx: &Context,
    name: &str,
    rejected: &str,
) -> Result<Record, Failure> {
    refresh_unless_fresh(ctx, name, Some(rejected))
}

fn refresh_unless_fresh(
    ctx: &Context,
    name: &str,
    rejected: Option<&str>,
) -> Result<Record, Failure> {
    let account = ctx.config.account(name)?;
    let vault = ctx.vault()?;
    let margin = ctx.config.refresh_margin;
    let still_good = |r: &Record| match rejected {
        Some(bad) => r.access_token.expose() != bad,
        None => r.good_for(margin),
    };
    let rec: Record = vault
        .load(name)?
        .ok_or_else(|| Failure::not_signed_in(name))?;
    check_usable(name, account, &rec)?;
    if still_good(&rec) {
        return Ok(rec);
    }

    let lock = vault.lock(name)?;
    let mut rec: Record = lock.load()?.ok_or_else(|| Failure::not_signed_in(name))?;
    check_usable(name, account, &rec)?;
    if still_good(&rec) {
        return Ok(rec); // another process refreshed while we waited for the lock
    }
    if rejected.is_some() && rec.refresh_token.is_none() {
        return Err(Failure::reauth(
            name,
            "the provider no longer accepts the access token",
        ));
    }
    let Some(refresh_token) = rec.refresh_token.clone() else {
        if rec.expired() {
            return Err(Failure::reauth(
                name,
                "the access token expired and the provider issued no refresh token",
            ));
        }
        return Ok(rec);
    };
    let provider =
        account.provider_with(&rec.token_endpoint, rec.revocation_endpoint.as_deref())?;
    let http = http(ctx)?;
    let result = runtime()?.block_on(async {
        DeviceFlow::new(&http, &provider)
            .refresh(&refresh_token, &SystemClock)
            .await
    });
    match result {
        Ok(t) => {
            rec.apply_refresh(t);
            lock.store(&rec)?;
            Ok(rec)
        }
        Err(e @ sidekey_flow::RefreshError::ReauthRequired { .. }) => {
            rec.state = State::ReauthRequired;
            rec.reauth_reason = Some(e.to_string());
            lock.store(&rec)?;
            Err(Failure::from_refresh(name, e))
        }
        Err(e) => {
            if rejected.is_none() && !rec.expired() {
                // Still valid for a little while: hand it out, say why it was not renewed.
                eprintln!("sidekey: warning: could not refresh '{name}' ahead of expiry: {e}");
                return Ok(rec);
            }
            Err(Failure::from_refresh(name, e))
        }
    }
}

fn check_usable(name: &str, account: &Account, rec: &Record) -> Result<(), Failure> {
    if rec.state == State::ReauthRequired {
        return Err(Failure::reauth(
            name,
            rec.reauth_reason
                .as_deref()
                .unwrap_or("the refresh token was refused"),
        ));
    }
    if rec.provider != account.kind.name() || rec.client_id != account.client_id {
        return Err(Failure::reauth(
            name,
            "the account's provider or client_id changed in the config since sign-in",
        ));
    }
    Ok(())
}
