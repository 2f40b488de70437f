//! What the vault holds for an account, and how a fresh access token is obtained from it.
//!
//! [`fresh_token`] is the hot path of `sidekey token`: a lock-free read of the sealed record and,
//! when the token is still good beyond the refresh margin ([`decide`]), nothing else — no lock,
//! no HTTP client. Only when a refresh is due does it take the account lock, re-read (another process may
//! have refreshed meanwhile), refresh, and store the new tokens — a rotated refresh token is
//! durably written before the new access token is handed to anyone.

use crate::config::Account;
use crate::context::Context;
use crate::error::Failure;
use serde::{Deserialize, Serialize};
use sidekey_flow::{DeviceFlow, Secret, SystemClock, TokenResponse, UserInfo};
use std::time::Duration;

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
    /// Granted scopes, as the provider reported them (else as requested).
    pub scopes: Vec<String>,
    /// The scopes the sign-in asked for (`login --scope` or the config's): what a refresh asks
    /// for again, never the configured list when that is wider — Entra refuses scopes outside
    /// the grant (AADSTS65001). Empty in records from before this field: the refresh then sends
    /// no `scope`, which Entra's v2 refresh allows.
    #[serde(default)]
    pub requested_scopes: Vec<String>,
    pub user: UserInfo,
    pub token_endpoint: String,
    pub revocation_endpoint: Option<String>,
    pub signed_in_at: i64,
    pub refreshed_at: Option<i64>,
    pub reauth_reason: Option<String>,
    /// The sign-in named nobody sidekey can hold the account to — no subject, at a provider
    /// that has one (not AWS): its scopes give no identity. Said in the sign-in's event and in
    /// `status` ([`Record::no_identity_warning`]). False in records from before this field.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_identity: bool,
}

// The time helpers' former home: they live in the leaf `crate::time` now.
pub use crate::time::{now_unix, rfc3339};

impl Record {
    /// The status note when the provider granted more than the account's ceiling.
    pub fn over_ceiling(&self, account: Option<&crate::config::Account>) -> Option<String> {
        let a = account?;
        a.policy.granted_warning(&a.name, &a.scopes, &self.scopes)
    }

    /// A sign-in whose refresh token dies soon by the provider's rule (Google's Testing-mode
    /// projects, 7 days): the dialect's note, saying when and what to do.
    pub fn testing_mode_warning(&self) -> Option<String> {
        let until = self.refresh_token_expires_at?;
        sidekey_flow::dialect::named(&self.provider)?
            .short_refresh_note(until - self.signed_in_at, &rfc3339(until))
    }

    /// An account whose sign-in named nobody (docs/identity.md, "Scopes that give no
    /// identity"): a sign-in as someone else would pass unnoticed. No scope is added for it.
    pub fn no_identity_warning(&self, name: &str) -> Option<String> {
        self.no_identity.then(|| {
            format!(
                "sidekey cannot tell who signed in to {name}: its scopes give no identity (add openid); a sign-in as someone else would not be noticed"
            )
        })
    }

    /// Everything the person should know about `name`'s sign-in, one line (or none).
    pub fn warning(&self, name: &str, account: Option<&crate::config::Account>) -> Option<String> {
        let all: Vec<String> = [
            self.no_identity_warning(name),
            self.over_ceiling(account),
            self.testing_mode_warning(),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!all.is_empty()).then(|| all.join("; "))
    }

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
            requested_scopes: provider.scopes.clone(),
            access_token: t.access_token,
            token_type: t.token_type,
            refresh_token: t.refresh_token,
            id_token: t.id_token,
            token_endpoint: provider.endpoints.token.to_string(),
            revocation_endpoint: provider
                .endpoints
                .revocation
                .as_ref()
                .map(|u| u.to_string()),
            signed_in_at: now,
            refreshed_at: None,
            reauth_reason: None,
            // AWS names nobody by design: its identity is the portal (the dialect's anonymous
            // user stands in).
            no_identity: user.subject.is_none()
                && account
                    .kind
                    .dialect()
                    .anonymous_user(&account.client_id)
                    .is_none(),
            user,
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

/// What to do with a stored record when a token is asked for: the refresh decision, without
/// I/O, so it is tested on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Hand out the stored access token.
    Use,
    /// Refresh with the stored refresh token.
    Refresh,
    /// Nothing can renew it: the person must sign in again (why).
    SignInAgain(&'static str),
}

/// `rejected`: an access token the provider just refused (HTTP 401) although it looked valid;
/// the stored one is good only if it is a different (newer) one.
pub fn decide(rec: &Record, now: i64, margin: Duration, rejected: Option<&str>) -> Decision {
    let still_good = match rejected {
        Some(bad) => rec.access_token.expose() != bad,
        None => rec
            .expires_at
            .is_none_or(|exp| exp - now > margin.as_secs() as i64),
    };
    if still_good {
        return Decision::Use;
    }
    if rec.refresh_token.is_some() {
        return Decision::Refresh;
    }
    if rejected.is_some() {
        Decision::SignInAgain("the provider no longer accepts the access token")
    } else if rec.expires_at.is_some_and(|e| e <= now) {
        Decision::SignInAgain("the access token expired and the provider issued no refresh token")
    } else {
        Decision::Use // expiring soon, but nothing to renew it with: use it while it lasts
    }
}

/// A fresh access token for `name`, refreshing (single-flight across processes) when it expires
/// within the margin.
pub async fn fresh_token(ctx: &Context, name: &str) -> Result<Record, Failure> {
    refresh_unless_fresh(ctx, name, None).await
}

/// The provider refused `rejected` (HTTP 401) although it looked valid: refresh now — unless
/// another process already replaced it, in which case its successor is returned.
pub async fn replace_rejected_token(
    ctx: &Context,
    name: &str,
    rejected: &str,
) -> Result<Record, Failure> {
    refresh_unless_fresh(ctx, name, Some(rejected)).await
}

async fn refresh_unless_fresh(
    ctx: &Context,
    name: &str,
    rejected: Option<&str>,
) -> Result<Record, Failure> {
    let account = ctx.config.account(name)?;
    let vault = ctx.vault()?;
    let margin = ctx.config.refresh_margin;
    // Lock-free first: the common case (a token still good) takes no lock at all.
    let rec: Record = vault
        .load(name)?
        .ok_or_else(|| Failure::not_signed_in(name))?;
    check_usable(name, account, &rec)?;
    if decide(&rec, now_unix(), margin, rejected) == Decision::Use {
        return Ok(rec);
    }

    // The account lock is a blocking OS file lock: wait for it off the async threads.
    let lock = {
        let (vault, n) = (vault.clone(), name.to_string());
        tokio::task::spawn_blocking(move || vault.lock(&n))
            .await
            .map_err(|_| Failure::internal("a worker thread failed"))??
    };
    let mut rec: Record = lock.load()?.ok_or_else(|| Failure::not_signed_in(name))?;
    check_usable(name, account, &rec)?;
    match decide(&rec, now_unix(), margin, rejected) {
        Decision::Use => return Ok(rec), // another process refreshed while we waited
        Decision::SignInAgain(why) => return Err(Failure::reauth(name, why)),
        Decision::Refresh => {}
    }
    let Some(refresh_token) = rec.refresh_token.clone() else {
        return Err(Failure::internal("refresh decided without a refresh token"));
    };
    let provider =
        account.provider_with(&rec.token_endpoint, rec.revocation_endpoint.as_deref())?;
    // A registered client (AWS): the refresh token belongs to the stored registration.
    let mut provider = match crate::registration::attach(ctx, account, provider) {
        Ok(p) => p,
        Err(f) => {
            rec.state = State::ReauthRequired;
            rec.reauth_reason = Some(f.message.clone());
            lock.store(&rec)?;
            return Err(f);
        }
    };
    // Ask for what this sign-in was granted, not for today's configured list.
    provider.scopes = rec.requested_scopes.clone();
    let result = DeviceFlow::new(ctx.http()?, &provider)
        .refresh(&refresh_token, &SystemClock)
        .await;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(expires_at: Option<i64>, refresh: bool) -> Record {
        Record {
            provider: "github".into(),
            client_id: "c".into(),
            state: State::SignedIn,
            access_token: Secret::new("at-current"),
            token_type: "Bearer".into(),
            expires_at,
            refresh_token: refresh.then(|| Secret::new("rt")),
            refresh_token_expires_at: None,
            id_token: None,
            scopes: vec![],
            requested_scopes: vec![],
            user: UserInfo::default(),
            token_endpoint: "https://example.test/token".into(),
            revocation_endpoint: None,
            signed_in_at: 0,
            refreshed_at: None,
            reauth_reason: None,
            no_identity: false,
        }
    }

    /// A record written before `requested_scopes` existed still reads (the vault keeps them).
    #[test]
    fn records_from_before_requested_scopes_still_read() {
        let mut v = serde_json::to_value(record(Some(5), true)).unwrap();
        v.as_object_mut().unwrap().remove("requested_scopes");
        let r: Record = serde_json::from_value(v).unwrap();
        assert!(r.requested_scopes.is_empty());
        assert_eq!(r.refresh_token.unwrap().expose(), "rt");
    }

    const NOW: i64 = 1_000_000;
    const MARGIN: Duration = Duration::from_secs(300);

    #[test]
    fn good_tokens_are_used_as_they_are() {
        assert_eq!(
            decide(&record(Some(NOW + 301), true), NOW, MARGIN, None),
            Decision::Use
        );
        assert_eq!(
            decide(&record(None, false), NOW, MARGIN, None),
            Decision::Use
        );
    }

    #[test]
    fn tokens_inside_the_margin_are_refreshed() {
        assert_eq!(
            decide(&record(Some(NOW + 299), true), NOW, MARGIN, None),
            Decision::Refresh
        );
        assert_eq!(
            decide(&record(Some(NOW - 5), true), NOW, MARGIN, None),
            Decision::Refresh
        );
    }

    #[test]
    fn without_a_refresh_token_expiring_is_used_and_expired_is_sign_in_again() {
        assert_eq!(
            decide(&record(Some(NOW + 10), false), NOW, MARGIN, None),
            Decision::Use
        );
        assert!(matches!(
            decide(&record(Some(NOW), false), NOW, MARGIN, None),
            Decision::SignInAgain(_)
        ));
    }

    #[test]
    fn a_rejected_token_is_replaced_unless_someone_already_did() {
        let r = record(Some(NOW + 3000), true);
        assert_eq!(
            decide(&r, NOW, MARGIN, Some("at-current")),
            Decision::Refresh
        );
        assert_eq!(decide(&r, NOW, MARGIN, Some("at-older")), Decision::Use);
        assert!(matches!(
            decide(
                &record(Some(NOW + 3000), false),
                NOW,
                MARGIN,
                Some("at-current")
            ),
            Decision::SignInAgain(_)
        ));
    }
}
