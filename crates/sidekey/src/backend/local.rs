//! The local backend: this process owns the vault. Every command's real work is written here
//! once, and reached only through the guard ([`super::guard`]), which validates, resolves the
//! account, checks the policy and audits: from the CLI, the daemon and the MCP server alike.

use super::stored::{self, Kept};
use crate::account::{self, Record, now_unix};
use crate::api::{
    AccountState, AccountStatus, LoginProgress, LoginStarted, LogoutReply, StatusReply, TokenReply,
};
use crate::context::Context;
use crate::error::{Exit, Failure, Reason};
use crate::signin::pending::PendingStore;
use crate::signin::{SignIns, Stop};
use sidekey_flow::{DeviceFlow, RevokeOutcome};
use std::sync::Arc;
use std::time::Duration;

pub struct Local {
    pub ctx: Arc<Context>,
    pub signins: SignIns,
    /// The vault as `status` last read it, kept while the vault is unchanged ([`stored`]).
    stored: Kept,
}

impl Local {
    pub fn new(ctx: Context, stop: Stop) -> Local {
        let ctx = Arc::new(ctx);
        Local {
            signins: SignIns::new(ctx.clone(), stop),
            ctx,
            stored: Kept::default(),
        }
    }

    /// Every configured account (and any stored one no longer configured), or just `only`.
    /// The accounts with a sign-in's slot in the vault that did not finish well (none without a
    /// vault), from the read
    /// `status` keeps while the vault is unchanged ([`Kept`]).
    pub fn pending_slots(&self) -> Result<std::collections::HashSet<String>, Failure> {
        let Some(vault) = self.ctx.existing_vault()? else {
            return Ok(Default::default());
        };
        let stored = self.stored.get(&vault, &self.ctx.config)?;
        Ok(self
            .ctx
            .config
            .accounts
            .keys()
            .filter(|n| stored.sign_in_to_show(n))
            .cloned()
            .collect())
    }

    /// `withheld`: the accounts whose sign-in code and link the caller must not see (the guard
    /// decides), with the channels they went to; no note names them. A pending sign-in of an
    /// account no longer configured never shows its code either (nothing can resume it).
    /// `who` asks: only the person's notes name the server's paths.
    pub async fn status(
        &self,
        only: Option<&str>,
        withheld: &std::collections::BTreeMap<String, Vec<String>>,
        who: crate::policy::Who,
    ) -> Result<StatusReply, Failure> {
        let config = &self.ctx.config;
        if let Some(n) = only {
            config.account(n)?;
        }
        // A machine that never signed in has no vault: every account is signed out, and
        // `status` creates nothing (no home, no key file).
        let vault = self.ctx.existing_vault()?;
        let stored = match &vault {
            Some(v) => Some(self.stored.get(v, config)?),
            None => None,
        };
        let mut names: Vec<String> = config.accounts.keys().cloned().collect();
        for s in stored.iter().flat_map(|s| s.accounts()) {
            if !config.accounts.contains_key(&s) {
                names.push(s);
            }
        }
        names.sort();
        names.retain(|n| only.is_none_or(|o| o == n));
        let now = now_unix();
        let mut accounts = Vec::new();
        for name in names {
            let configured = config.accounts.get(&name);
            // Tokens the daemon holds because the vault refused them are newer than the file.
            let held = match &self.ctx.unsaved {
                Some(mem) => mem.peek(&self.ctx, &name, who),
                None => None,
            };
            // A file that does not open marks its account damaged; it never hides the others.
            let (rec, damage) = match (&held, stored.as_ref().and_then(|s| s.record(&name))) {
                (Some((r, _)), _) => (Some(stored::Row::of(&name, r, config)), None),
                (None, None) => (None, None),
                (None, Some(Ok(r))) => (Some(r.clone()), None),
                (None, Some(Err(e))) => (None, Some(e.clone())),
            };
            let provider = configured
                .map(|a| a.kind.name().to_string())
                .or_else(|| rec.as_ref().map(|r| r.provider.clone()))
                .unwrap_or_default();
            if let Some(why) = damage {
                accounts.push(AccountStatus {
                    name: name.clone(),
                    provider,
                    state: AccountState::Damaged,
                    user: None,
                    scopes: vec![],
                    expires_at: None,
                    note: Some(format!(
                        "{why}: restore it from a backup, or remove that file and sign in again"
                    )),
                    setup: configured.map(crate::api::AccountSetup::of),
                });
                continue;
            }
            let mut row = match rec {
                None => AccountStatus {
                    name: name.clone(),
                    provider,
                    state: AccountState::SignedOut,
                    user: None,
                    scopes: vec![],
                    expires_at: None,
                    note: None,
                    setup: None,
                },
                Some(r) => AccountStatus {
                    provider,
                    ..r.status(&name)
                },
            };
            if let Some((_, note)) = held {
                row.note = Some(note);
            }
            row.setup = configured.map(crate::api::AccountSetup::of);
            let hidden = match configured {
                Some(_) => withheld.get(&name).map(Vec::as_slice),
                None => Some(&[][..]),
            };
            // Only a sign-in that left its slot is looked at (the listing says which did), and
            // not one the kept read saw finish well (nothing to show).
            let pending = match vault
                .as_ref()
                .filter(|_| stored.as_ref().is_some_and(|s| s.sign_in_to_show(&name)))
                .map(|v| PendingStore::new(v.clone(), &name).status_note(now, hidden))
            {
                None => None,
                Some(Ok(p)) => p,
                Some(Err(f)) => {
                    row.note = Some(format!("its pending sign-in cannot be read: {}", f.message));
                    None
                }
            };
            match pending {
                Some((true, expires_at, note)) => {
                    row.state = AccountState::Pending;
                    row.expires_at = Some(expires_at);
                    row.note = Some(note);
                }
                Some((false, _, note)) if row.state != AccountState::SignedIn => {
                    row.note = Some(note)
                }
                _ => {}
            }
            accounts.push(row);
        }
        Ok(StatusReply { accounts })
    }

    pub async fn login_redirect(
        &self,
        name: &str,
        url: &str,
        caller: &str,
        by: crate::policy::Who,
    ) -> Result<LoginStarted, Failure> {
        let account = self.ctx.config.account(name)?.clone();
        self.signins.paste(account, url, caller, by).await
    }

    pub async fn login_progress(
        &self,
        name: &str,
        wait: Duration,
    ) -> Result<LoginProgress, Failure> {
        self.ctx.config.account(name)?;
        self.signins.progress(name, wait).await
    }

    /// A fresh access token (no policy here: the guard checks it, and the grant after).
    pub async fn token(&self, name: &str) -> Result<TokenReply, Failure> {
        let account = self.ctx.config.account(name)?;
        let rec = account::fresh_token(&self.ctx, name).await?;
        Ok(TokenReply {
            account: name.to_string(),
            access_token: rec.access_token,
            token_type: rec.token_type,
            expires_at: rec.expires_at,
            scopes: rec.scopes,
            token_env: account.token_env.clone(),
        })
    }

    /// Revoke at the provider where it can, then forget the tokens — the newest ones: those the
    /// daemon holds unstored, else a rescued record of the same sign-in (a refresh whose store
    /// failed: the provider may already have retired the file's tokens), else the file's.
    pub async fn logout(&self, name: &str) -> Result<LogoutReply, Failure> {
        let account = self.ctx.config.account(name)?;
        let vault = self.ctx.vault()?;
        // Tokens the daemon holds unstored are the newest, and their lock is the account's.
        let held = match &self.ctx.unsaved {
            Some(mem) => mem.take(&self.ctx, name).await,
            None => None,
        };
        let (lock, held) = match held {
            Some((lock, rec)) => (lock, Some(rec)),
            None => (account::lock_account(&self.ctx, &vault, name).await?, None),
        };
        let reply = |message: String| LogoutReply {
            account: name.to_string(),
            message,
        };
        let (rec, older) = match held {
            Some(rec) => (Some(rec), None),
            None => newest_record(name, &lock)?,
        };
        let Some(rec) = rec else {
            // What other sign-ins left (the Picker client's tokens, cached role keys) goes too.
            lock.remove_rescue()?;
            lock.remove_slot(crate::ops::google::SLOT)?;
            lock.remove_slot(crate::ops::contact_folders::SLOT)?;
            lock.remove_slot(crate::ops::aws::CREDENTIALS_SLOT)?;
            return Ok(reply(format!("'{name}' was not signed in; nothing to do.")));
        };
        let provider =
            account.provider_with(&rec.token_endpoint, rec.revocation_endpoint.as_deref())?;
        let flow = DeviceFlow::new(self.ctx.http()?, &provider);
        // How (and which tokens) is the dialect's business; the local copy goes either way.
        let outcome = flow
            .revoke(&rec.access_token, rec.refresh_token.as_ref())
            .await;
        // The file's older tokens of the same sign-in, where they differ: at a provider that
        // keeps a replaced refresh token valid they would outlive the grant's newest ones. Best
        // effort: the answer that counts is the newest tokens' (a GitHub App's refresh already
        // killed the old access token, so its revocation fails).
        if let Some(o) = older {
            let _ = flow.revoke(&o.access_token, o.refresh_token.as_ref()).await;
        }
        lock.remove()?;
        lock.remove_rescue()?;
        PendingStore::remove(&lock)?;
        // Google: the Drive state (inbox id, picks, the Picker client's tokens). Google revokes
        // per project, so the Picker client's grant went with the revocation above.
        lock.remove_slot(crate::ops::google::SLOT)?;
        lock.remove_slot(crate::ops::contact_folders::SLOT)?;
        if account.kind.dialect().logout() == sidekey_flow::dialect::Logout::EndSession {
            // No revocation (IAM Identity Center): end the portal session instead, and forget
            // the cached role credentials (the client registration stays for the next sign-in).
            lock.remove_slot(crate::ops::aws::CREDENTIALS_SLOT)?;
            let said = crate::ops::aws::logout(&self.ctx, account, &rec.access_token).await;
            return Ok(reply(format!(
                "Removed the tokens of '{name}' from the vault; {said}."
            )));
        }
        match outcome {
            RevokeOutcome::Revoked => Ok(reply(format!(
                "Revoked the tokens of '{name}' at the provider and removed them from the vault."
            ))),
            RevokeOutcome::NotSupported(why) => Ok(reply(format!(
                "Removed the tokens of '{name}' from the vault. Not revoked at the provider: {why}.{}",
                account.kind.dialect().logout_hint().unwrap_or("")
            ))),
            RevokeOutcome::Failed(why) => Err(Failure::new(
                Exit::Provider,
                Reason::Network,
                format!(
                    "removed the tokens of '{name}' from the vault, but revoking them at the provider failed: {why}"
                ),
            )),
        }
    }
}

/// Under the account's lock, for a logout: the newest record of the account's sign-in and, when
/// that is a rescued one (a refresh whose store failed), the file's own where its tokens differ.
/// A rescue of an earlier sign-in is stale (the refresh path drops it too); one that does not
/// open is said and left to the logout, which removes it.
fn newest_record(
    name: &str,
    lock: &sidekey_vault::AccountLock,
) -> Result<(Option<Record>, Option<Record>), Failure> {
    let current: Option<Record> = lock.load()?;
    let rescued = match lock.load_rescue::<Record>() {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "sidekey: warning: the rescued tokens of '{name}' cannot be read ({e}); they are removed unrevoked"
            );
            None
        }
    };
    Ok(match (rescued, current) {
        (Some(r), Some(c)) if r.signed_in_at == c.signed_in_at && r.user == c.user => {
            let differ = r.access_token.expose() != c.access_token.expose()
                || r.refresh_token.as_ref().map(|t| t.expose())
                    != c.refresh_token.as_ref().map(|t| t.expose());
            (Some(r), differ.then_some(c))
        }
        // Nothing else to go by: the rescued tokens are the ones this vault still knows.
        (Some(r), None) => (Some(r), None),
        (_, current) => (current, None),
    })
}
