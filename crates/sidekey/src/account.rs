//! What the vault holds for an account, and how a fresh access token is obtained from it.
//!
//! [`fresh_token`] is the hot path of `sidekey token`: a lock-free read of the sealed record and,
//! when the token is still good beyond the refresh margin ([`decide`]), nothing else — no lock,
//! no HTTP client. Only when a refresh is due does it take the account lock, re-read (another process may
//! have refreshed meanwhile), refresh, and store the new tokens — a rotated refresh token is
//! durably written before the new access token is handed to anyone. The record is written once
//! before the refresh too (a vault that refuses writes stops it before the provider), and rotated
//! tokens the vault refuses afterwards are never dropped: the daemon holds them in memory
//! ([`Unsaved`]), a command keeps them in the vault's rescue folder (docs/security.md, "Refresh
//! tokens that must not be lost").

use crate::audit;
use crate::config::Account;
use crate::context::Context;
use crate::error::{Exit, Failure, Reason};
use serde::{Deserialize, Serialize};
use sidekey_flow::{DeviceFlow, Secret, SystemClock, TokenResponse, UserInfo};
use sidekey_vault::{AccountLock, Vault, VaultError};
use std::collections::HashMap;
use std::time::{Duration, Instant};

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
    // The daemon may hold newer tokens than the vault's (refreshed, not yet stored): they win.
    // Only this account's slot is held meanwhile (a refresh included): calls for other
    // accounts, `status` and the saver never wait for it.
    if let Some(mem) = &ctx.unsaved
        && let Some(slot) = mem.slot(name)
    {
        let mut slot = slot.lock().await;
        if let Some(h) = slot.take() {
            return from_memory(ctx, name, account, h, &mut slot, rejected).await;
        }
    }
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

    let lock = lock_account(ctx, &vault, name).await?;
    refresh_under(ctx, name, account, lock, rejected).await
}

/// The background refresher's refresh of `name`, whose lock it already claimed (taken without
/// waiting, so daemons sharing a database never queue behind each other's refreshes): the
/// record is re-read under it and refreshed only if still due.
pub async fn refresh_claimed(
    ctx: &Context,
    name: &str,
    lock: AccountLock,
) -> Result<Record, Failure> {
    let account = ctx.config.account(name)?;
    refresh_under(ctx, name, account, lock, None).await
}

/// Under the account's lock: re-read the record (and a rescued one), then refresh if due.
async fn refresh_under(
    ctx: &Context,
    name: &str,
    account: &Account,
    lock: AccountLock,
    rejected: Option<&str>,
) -> Result<Record, Failure> {
    let current: Option<Record> = lock.load()?;
    // A rescued record of the same sign-in is newer than the account's file: the tokens of a
    // refresh whose store failed. It goes back into the vault before anything else happens.
    // One of an earlier sign-in (signed out or in again since) is stale: it goes.
    let rescued = lock.load_rescue::<Record>()?;
    let rec = match (rescued, current) {
        (Some(r), Some(c)) if r.signed_in_at == c.signed_in_at && r.user == c.user => {
            match lock.store(&r) {
                Ok(()) => {
                    drop_rescue(&lock);
                    r
                }
                Err(e) => return keep_unsaved(ctx, name, lock, r, e, None).await,
            }
        }
        (rescued, current) => {
            if rescued.is_some() {
                drop_rescue(&lock);
            }
            current.ok_or_else(|| Failure::not_signed_in(name))?
        }
    };
    refresh_and_store(ctx, name, account, lock, rec, rejected, None).await
}

/// How long anything waits for an account's lock before it gives up with `busy` (exit 5): at
/// least a minute, and twice the HTTP timeout (a refresh holds it for up to one request).
pub fn lock_wait(ctx: &Context) -> Duration {
    (ctx.config.http_timeout * 2).max(LOCK_WAIT)
}

/// The shortest [`lock_wait`], for callers without the config at hand.
pub const LOCK_WAIT: Duration = Duration::from_secs(60);

/// The account's lock, waited for at most `wait`. It is a blocking OS file lock (`flock`,
/// which also blocks other holders in the same process): call this off the async threads
/// ([`lock_account`] does). Never waits forever — a daemon holding tokens the vault refused
/// keeps the lock until it can store them.
pub fn lock_blocking(vault: &Vault, name: &str, wait: Duration) -> Result<AccountLock, Failure> {
    vault
        .lock_within(name, wait)?
        .ok_or_else(|| busy(name, wait))
}

/// [`lock_blocking`] on a blocking thread, waiting at most [`lock_wait`].
pub async fn lock_account(
    ctx: &Context,
    vault: &Vault,
    name: &str,
) -> Result<AccountLock, Failure> {
    let (vault, n, wait) = (vault.clone(), name.to_string(), lock_wait(ctx));
    tokio::task::spawn_blocking(move || lock_blocking(&vault, &n, wait))
        .await
        .map_err(|_| Failure::internal("a worker thread failed"))?
}

/// The lock of `name` stayed taken for `wait`.
fn busy(name: &str, wait: Duration) -> Failure {
    Failure::new(
        Exit::Provider,
        Reason::Busy,
        format!(
            "another sidekey process has held the lock of '{name}' for {} s (a slow refresh, or a daemon keeping tokens the vault refused: see `sidekey status` and its log); try again later",
            wait.as_secs()
        ),
    )
}

fn drop_rescue(lock: &AccountLock) {
    if let Err(e) = lock.remove_rescue() {
        eprintln!("sidekey: warning: {e}: remove that file by hand (its tokens are not needed)");
    }
}

/// Under the account's lock, with `rec` the newest record: refresh it if due, and store it.
async fn refresh_and_store(
    ctx: &Context,
    name: &str,
    account: &Account,
    lock: AccountLock,
    mut rec: Record,
    rejected: Option<&str>,
    held: Option<&mut Option<Held>>,
) -> Result<Record, Failure> {
    match refresh_locked(ctx, name, account, &lock, &mut rec, rejected).await? {
        None => Ok(rec),
        Some(e) => keep_unsaved(ctx, name, lock, rec, e, held).await,
    }
}

/// The refresh itself, under the lock. `Ok(Some(e))`: refreshed, but the vault refused the new
/// record (`rec` holds it: it must not be dropped).
async fn refresh_locked(
    ctx: &Context,
    name: &str,
    account: &Account,
    lock: &AccountLock,
    rec: &mut Record,
    rejected: Option<&str>,
) -> Result<Option<VaultError>, Failure> {
    check_usable(name, account, rec)?;
    match decide(rec, now_unix(), ctx.config.refresh_margin, rejected) {
        Decision::Use => return Ok(None), // another process refreshed while we waited
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
            lock.store(rec)?;
            return Err(f);
        }
    };
    // Never rotate what cannot be stored: the record is written once before the provider is
    // asked, so a vault that refuses writes (a full disk, a read-only or foreign-owned folder)
    // fails here, with the refresh token unused and still valid at the provider.
    if let Err(e) = lock.store(rec) {
        return usable_anyway(name, rec, rejected, unwritable(ctx, name, &e));
    }
    // Ask for what this sign-in was granted, not for today's configured list.
    provider.scopes = rec.requested_scopes.clone();
    let result = DeviceFlow::new(ctx.http()?, &provider)
        .refresh(&refresh_token, &SystemClock)
        .await;
    match result {
        Ok(t) => {
            rec.apply_refresh(t);
            Ok(lock.store(rec).err())
        }
        Err(e @ sidekey_flow::RefreshError::ReauthRequired { .. }) => {
            rec.state = State::ReauthRequired;
            rec.reauth_reason = Some(e.to_string());
            lock.store(rec)?;
            Err(Failure::from_refresh(name, e))
        }
        Err(e) => usable_anyway(name, rec, rejected, Failure::from_refresh(name, e)),
    }
}

/// A refresh that did not happen: the stored token is handed out while it is still valid (with
/// a warning on stderr), else the failure.
fn usable_anyway(
    name: &str,
    rec: &Record,
    rejected: Option<&str>,
    f: Failure,
) -> Result<Option<VaultError>, Failure> {
    if rejected.is_none() && !rec.expired() {
        eprintln!(
            "sidekey: warning: could not refresh '{name}' ahead of expiry: {}",
            f.message
        );
        return Ok(None);
    }
    Err(f)
}

/// The vault refused a write before a refresh: nothing was sent, nothing is lost.
fn unwritable(ctx: &Context, name: &str, e: &VaultError) -> Failure {
    Failure::new(
        Exit::Internal,
        Reason::Vault,
        format!(
            "cannot refresh '{name}': the vault cannot be written ({e}); nothing was sent to the provider and the refresh token is unchanged: free space or fix the permissions of {}, then try again",
            ctx.vault_dir().display()
        ),
    )
}

/// Refreshed tokens the daemon could not store yet, by account: held in memory together with
/// the account's lock — so no other process refreshes with the refresh token the provider has
/// just replaced — and stored by [`Unsaved::retry`] (with backoff) as soon as the vault takes
/// them. Outside the daemon such a record goes to the vault's rescue folder instead.
///
/// Each account has a slot of its own: the map's lock is only held to find a slot (never across
/// an `.await`), and a slot's lock only by what works on that account — a token call refreshing
/// from the held record, the saver's write, a logout. Calls for other accounts and the saver's
/// turn at them never wait for it; `status` never waits at all (it reads `shown`, kept in step
/// with the slots). Slots are never removed, so what is put into one is never put into a slot
/// nobody can find any more.
#[derive(Default)]
pub struct Unsaved {
    slots: std::sync::Mutex<HashMap<String, Slot>>,
    /// What each slot holds, for `status`: a copy, updated whenever a slot's content changes.
    shown: std::sync::Mutex<HashMap<String, About>>,
}

type Slot = std::sync::Arc<tokio::sync::Mutex<Option<Held>>>;

pub struct Held {
    lock: AccountLock,
    about: About,
    attempts: u32,
    next_try: Instant,
}

/// A held record and why it is held.
#[derive(Clone)]
struct About {
    rec: Record,
    since: i64,
    /// Why the vault refused them, as said in the daemon's log (paths included).
    error: String,
    /// The same without the server's paths, for agents (see [`held_note`]).
    cause: String,
}

impl About {
    fn refused(&mut self, e: &VaultError) {
        self.error = e.to_string();
        self.cause = without_paths(e);
    }
}

/// Say in `status` what `name`'s slot holds now (`None`: nothing).
fn show(ctx: &Context, name: &str, about: Option<&About>) {
    let Some(mem) = &ctx.unsaved else { return };
    let mut shown = mem.shown.lock().unwrap_or_else(|p| p.into_inner());
    match about {
        Some(a) => shown.insert(name.to_string(), a.clone()),
        None => shown.remove(name),
    };
}

/// How long the daemon waits before its `attempts`-th retry of a save: 1 s, doubling, at most a
/// minute.
fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(6)).min(Duration::from_secs(60))
}

/// Store `h`'s record on a blocking thread (a vault write is blocking file I/O, with fsyncs);
/// `h` comes back either way.
async fn store_held(h: Held) -> Result<(Held, Result<(), VaultError>), Failure> {
    tokio::task::spawn_blocking(move || {
        let r = h.lock.store(&h.about.rec);
        (h, r)
    })
    .await
    .map_err(|_| Failure::internal("a worker thread failed"))
}

impl Unsaved {
    /// The slot of `name`, if anything was ever held for it.
    fn slot(&self, name: &str) -> Option<Slot> {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.get(name).cloned()
    }

    /// The slot of `name`, made if need be.
    fn slot_or_new(&self, name: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(name.to_string()).or_default().clone()
    }

    /// The record held for `name`, and the note `status` shows for it to `who` (only the
    /// person reads the vault's path). Waits for nothing.
    pub fn peek(
        &self,
        ctx: &Context,
        name: &str,
        who: crate::policy::Who,
    ) -> Option<(Record, String)> {
        let shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        let a = shown.get(name)?;
        Some((a.rec.clone(), held_note(ctx, name, a, who)))
    }

    /// Hand over what is held for `name` (a logout: it revokes and removes them).
    pub async fn take(&self, ctx: &Context, name: &str) -> Option<(AccountLock, Record)> {
        let slot = self.slot(name)?;
        let h = slot.lock().await.take()?;
        show(ctx, name, None);
        Some((h.lock, h.about.rec))
    }

    /// Store the held records whose retry is due (`all`: every one, now — at shutdown, when
    /// what still fails goes to the rescue folder, so the next start takes it back). An account
    /// a token call is working on is skipped (that call tries the save itself), unless `all`.
    pub async fn retry(&self, ctx: &Context, all: bool) {
        let slots: Vec<(String, Slot)> = {
            let m = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            m.iter().map(|(n, s)| (n.clone(), s.clone())).collect()
        };
        for (name, slot) in slots {
            let mut slot = if all {
                slot.lock_owned().await
            } else {
                match slot.try_lock_owned() {
                    Ok(g) => g,
                    Err(_) => continue,
                }
            };
            let now = Instant::now();
            match slot.as_ref() {
                Some(h) if all || h.next_try <= now => {}
                _ => continue,
            }
            let Some(h) = slot.take() else { continue };
            let (mut h, stored) = match store_held(h).await {
                Ok(r) => r,
                Err(f) => {
                    // The worker thread died with the record: nothing is left to put back.
                    eprintln!("sidekey: error: {}", f.message);
                    continue;
                }
            };
            let e = match stored {
                Ok(()) => {
                    stored_at_last(ctx, &name, &h);
                    continue;
                }
                Err(e) => e,
            };
            h.attempts += 1;
            h.about.refused(&e);
            show(ctx, &name, Some(&h.about));
            let wait = backoff(h.attempts);
            h.next_try = now + wait;
            if !all {
                eprintln!(
                    "sidekey: warning: still cannot store the refreshed tokens of '{name}' ({e}); they stay in memory, next try in {} s",
                    wait.as_secs()
                );
                *slot = Some(h);
                continue;
            }
            let said = match h.lock.store_rescue(&h.about.rec) {
                Ok(p) => format!(
                    "kept them sealed in {} (the next start or `sidekey token {name}` takes them back)",
                    p.display()
                ),
                Err(e2) => format!(
                    "could not keep them in the rescue folder either ({e2}): they are lost; run `sidekey login {name}` if the provider refuses the old refresh token"
                ),
            };
            eprintln!(
                "sidekey: error: shutting down with the refreshed tokens of '{name}' unstored ({e}); {said}"
            );
            audit::event(&ctx.home, &name, "refresh.store", "vault", said);
            *slot = Some(h);
        }
    }
}

/// A vault error without the server's filesystem paths: what an agent may read of it.
fn without_paths(e: &VaultError) -> String {
    match e {
        VaultError::Io { source, .. } => source.to_string(),
        VaultError::Corrupt(_) => "a vault file is damaged".into(),
        VaultError::WrongKey(_) => "the vault key does not open the vault".into(),
        other => other.to_string(),
    }
}

/// `status`'s note for an account whose newest tokens only the daemon's memory holds. The
/// person reads where the vault is; an agent (the daemon's API, MCP) does not learn the
/// server's paths — it can only pass the news on.
fn held_note(ctx: &Context, name: &str, h: &About, who: crate::policy::Who) -> String {
    let since = rfc3339(h.since);
    match who {
        crate::policy::Who::Person => format!(
            "its refreshed tokens are only in the daemon's memory since {since}: the vault refused them ({}); retrying — free space or fix the permissions of {} (`sidekey token {name}` works meanwhile through the daemon only)",
            h.error,
            ctx.vault_dir().display()
        ),
        crate::policy::Who::Agent => format!(
            "its refreshed tokens are only in the daemon's memory since {since}: the vault refused them ({}); retrying — ask the person to free space or fix the vault's permissions (the daemon's log says where); `sidekey token {name}` works meanwhile through the daemon only",
            h.cause
        ),
    }
}

/// A held record finally stored: said in the log and the audit log.
fn stored_at_last(ctx: &Context, name: &str, h: &Held) {
    show(ctx, name, None);
    drop_rescue(&h.lock);
    let note = format!(
        "stored the refreshed tokens of '{name}' in the vault (held in memory since {})",
        rfc3339(h.about.since)
    );
    eprintln!("sidekey: {note}");
    audit::event(&ctx.home, name, "refresh.store", "ok", note);
}

/// Refreshed tokens the vault refused (`e`): never dropped. The daemon holds them in memory
/// (`held`: the account's slot, when the caller already holds it) and retries; a command keeps
/// them in the rescue folder, where the next refresh of the account takes them back, and fails.
async fn keep_unsaved(
    ctx: &Context,
    name: &str,
    lock: AccountLock,
    rec: Record,
    e: VaultError,
    held: Option<&mut Option<Held>>,
) -> Result<Record, Failure> {
    let dir = ctx.vault_dir();
    let Some(mem) = &ctx.unsaved else {
        let message = match lock.store_rescue(&rec) {
            Ok(p) => format!(
                "the vault could not store the refreshed tokens of '{name}' ({e}); they are kept sealed in {} and taken back by the next `sidekey token {name}` once the vault can be written: free space or fix the permissions of {}",
                p.display(),
                dir.display()
            ),
            Err(e2) => format!(
                "the vault could not store the refreshed tokens of '{name}' ({e}), nor keep them in its rescue folder ({e2}): they are lost; free space or fix the permissions of {}, then run `sidekey login {name}` if the provider refuses the old refresh token",
                dir.display()
            ),
        };
        return Err(Failure::new(Exit::Internal, Reason::Vault, message));
    };
    let h = Held {
        lock,
        about: About {
            rec: rec.clone(),
            since: now_unix(),
            error: e.to_string(),
            cause: without_paths(&e),
        },
        attempts: 0,
        next_try: Instant::now() + backoff(0),
    };
    show(ctx, name, Some(&h.about));
    let note = format!(
        "the vault could not store the refreshed tokens of '{name}' ({e}); the daemon keeps them in memory and retries: free space or fix the permissions of {}",
        dir.display()
    );
    eprintln!("sidekey: warning: {note}");
    audit::event(&ctx.home, name, "refresh.store", "vault", note);
    match held {
        Some(slot) => *slot = Some(h),
        // Empty: what it held would hold the account's lock, which this caller has.
        None => *mem.slot_or_new(name).lock().await = Some(h),
    }
    Ok(rec)
}

/// A token call for an account whose newest record the daemon holds unstored (`slot`: the
/// account's slot, held by the caller, emptied of `h`): try the save first; stored, it is an
/// ordinary record again. Still refused, the held record goes back and is used as long as it is
/// valid — it is not refreshed again while nothing durable could keep the result.
async fn from_memory(
    ctx: &Context,
    name: &str,
    account: &Account,
    h: Held,
    slot: &mut Option<Held>,
    rejected: Option<&str>,
) -> Result<Record, Failure> {
    let (mut h, stored) = store_held(h).await?;
    match stored {
        Ok(()) => {
            stored_at_last(ctx, name, &h);
            let Held { lock, about, .. } = h;
            refresh_and_store(ctx, name, account, lock, about.rec, rejected, Some(slot)).await
        }
        Err(e) => {
            h.about.refused(&e);
            show(ctx, name, Some(&h.about));
            let rec = h.about.rec.clone();
            *slot = Some(h);
            check_usable(name, account, &rec)?;
            match decide(&rec, now_unix(), ctx.config.refresh_margin, rejected) {
                Decision::Use => Ok(rec),
                Decision::SignInAgain(why) => Err(Failure::reauth(name, why)),
                Decision::Refresh => {
                    usable_anyway(name, &rec, rejected, unwritable(ctx, name, &e)).map(|_| rec)
                }
            }
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
