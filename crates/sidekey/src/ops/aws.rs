//! AWS IAM Identity Center: the `aws.*` operations and the cache of role credentials.
//!
//! * `aws.accounts`, `aws.roles` read the access portal (`ListAccounts`, `ListAccountRoles`).
//! * `aws.credentials` hands out a role's short-lived keys (`GetRoleCredentials`) in the
//!   `credential_process` shape, so every AWS SDK and CLI can use them. It is an export: through
//!   the daemon only for the `ACCOUNT_ID/ROLE_NAME` pairs in `[accounts.NAME.policy] aws_roles`.
//!   The keys are cached sealed in the vault (slot `aws-credentials`) until
//!   [`CREDENTIALS_MARGIN`] before they expire; the audit keeps the account id and role name,
//!   never a key.
//! * The client registration the sign-in uses is cached by [`crate::registration`].
//!
//! Facts and sources: docs/aws.md. The operations themselves
//! ([`AwsOp`]) are defined in `crate::catalog::aws`.

use crate::catalog::aws::*;

use super::call::{Reply, Sent, ServiceError, with_token};
use crate::account::now_unix;
use crate::config::Account;
use crate::context::Context;
use crate::error::{Exit, Failure, Reason};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sidekey_flow::Secret;
use sidekey_services::aws::{Portal, PortalError, RoleCredentials};
use std::collections::BTreeMap;

/// The vault slot of the cached role credentials.
pub const CREDENTIALS_SLOT: &str = "aws-credentials";
/// Cached role credentials are handed out until this long before they expire. botocore
/// refreshes `credential_process` credentials 15 minutes before expiry (advisory) and insists
/// at 10 (`botocore/credentials.py` `_advisory_refresh_timeout`/`_mandatory_refresh_timeout`):
/// handing out keys with less left would make every SDK call run the process again.
pub const CREDENTIALS_MARGIN: i64 = 20 * 60;

// ---------------------------------------------------------------------------------------------
// Running the operations.

/// Cached role credentials, keyed `ACCOUNT_ID/ROLE_NAME`, for one sign-in.
#[derive(Serialize, Deserialize, Default)]
struct CredentialCache {
    roles: BTreeMap<String, RoleCredentials>,
    /// The `signed_in_at` of the sign-in they were fetched with: keys of an earlier sign-in
    /// (maybe another Identity Center user) are never handed out.
    #[serde(default)]
    session: i64,
}

/// The sign-in the cache may serve: the account's record, signed in (not waiting for a new
/// sign-in). Read without the lock, like the cache itself.
fn current_session(vault: &sidekey_vault::Vault, name: &str) -> Result<Option<i64>, Failure> {
    use crate::account::{Record, State};
    Ok(vault
        .load::<Record>(name)?
        .filter(|r| r.state == State::SignedIn)
        .map(|r| r.signed_in_at))
}

/// The `credential_process` JSON (AWS CLI "Sourcing credentials with an external process").
pub fn credential_process_json(c: &RoleCredentials) -> Value {
    let exp = jiff::Timestamp::from_millisecond(c.expiration_ms)
        .map(|t| t.to_string())
        .unwrap_or_default();
    json!({
        "Version": 1,
        "AccessKeyId": c.access_key_id,
        "SecretAccessKey": c.secret_access_key.expose(),
        "SessionToken": c.session_token.expose(),
        "Expiration": exp,
    })
}

fn portal(ctx: &Context, account: &Account) -> Result<Portal, Failure> {
    let base = account
        .api_base
        .as_deref()
        .ok_or_else(|| Failure::internal("no AWS access portal address"))?;
    Portal::new(ctx.http()?.client().clone(), base).map_err(|e| Failure::config(e.to_string()))
}

impl ServiceError for PortalError {
    type Op = ();

    fn is_unauthorized(&self) -> bool {
        matches!(self, PortalError::Unauthorized)
    }

    fn refused_again(account: &str) -> Failure {
        Failure::reauth(account, "the AWS access portal refused the refreshed token")
    }

    fn into_failure(self, name: &str, _: &()) -> Failure {
        let msg = self.to_string();
        match self {
            PortalError::Unauthorized => Failure::reauth(name, &msg),
            PortalError::NotFound(_) => Failure::new(Exit::Policy, Reason::ProviderError, msg),
            PortalError::Throttled | PortalError::Network(_) => Failure::network(msg),
            _ => Failure::new(Exit::Provider, Reason::ProviderError, msg),
        }
    }
}

/// Role keys are handed out whole: they are the portal's answer, not a token sidekey sent.
impl Reply for RoleCredentials {
    fn scrubbed(self, _: &Sent) -> Self {
        self
    }
}

pub async fn run(ctx: &Context, name: &str, op: &AwsOp) -> Result<(Value, String), Failure> {
    let account = ctx.config.account(name)?;
    match op {
        AwsOp::Accounts => {
            let portal = portal(ctx, account)?;
            let portal = &portal;
            let list = with_token(
                ctx,
                name,
                &(),
                |_| Ok(()),
                |t: Secret| async move { portal.list_accounts(&t).await },
            )
            .await?;
            let text = if list.is_empty() {
                "no AWS accounts are assigned to this user".to_string()
            } else {
                list.iter()
                    .map(|a| {
                        format!(
                            "{}  {}{}",
                            a.account_id,
                            a.account_name.as_deref().unwrap_or("-"),
                            a.email_address
                                .as_deref()
                                .map(|e| format!(" <{e}>"))
                                .unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Ok((json!({ "accounts": list }), text))
        }
        AwsOp::Roles { account_id } => {
            let portal = portal(ctx, account)?;
            let portal = &portal;
            let list = with_token(
                ctx,
                name,
                &(),
                |_| Ok(()),
                |t: Secret| async move { portal.list_roles(&t, account_id).await },
            )
            .await?;
            let text = if list.is_empty() {
                format!("no roles in {account_id} for this user")
            } else {
                list.iter()
                    .map(|r| r.role_name.clone())
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Ok((json!({ "account_id": account_id, "roles": list }), text))
        }
        AwsOp::Credentials {
            account_id,
            role_name,
        } => {
            let key = format!("{account_id}/{role_name}");
            let c = role_credentials(ctx, account, account_id, role_name, &key).await?;
            let exp = jiff::Timestamp::from_millisecond(c.expiration_ms)
                .map(|t| t.to_string())
                .unwrap_or_default();
            Ok((
                credential_process_json(&c),
                format!(
                    "credentials for {key} (access key {}), valid until {exp}",
                    c.access_key_id
                ),
            ))
        }
    }
}

/// Cached credentials while they have more than [`CREDENTIALS_MARGIN`] left (a lock-free read:
/// no HTTP client, no lock), else new ones from the portal, stored before they are handed out.
async fn role_credentials(
    ctx: &Context,
    account: &Account,
    account_id: &str,
    role_name: &str,
    key: &str,
) -> Result<RoleCredentials, Failure> {
    let good = |c: &RoleCredentials| c.expiration_ms / 1000 - now_unix() > CREDENTIALS_MARGIN;
    let vault = ctx.vault()?;
    let cache: Option<CredentialCache> = vault.load_slot(&account.name, CREDENTIALS_SLOT)?;
    let session = current_session(&vault, &account.name)?;
    if let Some(c) = cache
        .as_ref()
        .filter(|c| session == Some(c.session))
        .and_then(|c| c.roles.get(key))
        && good(c)
    {
        return Ok(c.clone());
    }
    let name = account.name.as_str();
    let portal = portal(ctx, account)?;
    let portal = &portal;
    let fresh = with_token(
        ctx,
        name,
        &(),
        |_| Ok(()),
        |t: Secret| async move { portal.role_credentials(&t, account_id, role_name).await },
    )
    .await?;
    // Under the account lock: re-read, drop what expired, add these.
    let (n, k, c) = (name.to_string(), key.to_string(), fresh.clone());
    let wait = crate::account::lock_wait(ctx);
    tokio::task::spawn_blocking(move || -> Result<(), Failure> {
        let lock = crate::account::lock_blocking(&vault, &n, wait)?;
        let mut cache: CredentialCache = lock.load_slot(CREDENTIALS_SLOT)?.unwrap_or_default();
        let session = lock
            .load::<crate::account::Record>()?
            .map(|r| r.signed_in_at)
            .unwrap_or_default();
        if cache.session != session {
            cache.roles.clear();
            cache.session = session;
        }
        let now_ms = now_unix() * 1000;
        cache.roles.retain(|_, c| c.expiration_ms > now_ms);
        cache.roles.insert(k, c);
        lock.store_slot(CREDENTIALS_SLOT, &cache)?;
        Ok(())
    })
    .await
    .map_err(|_| Failure::internal("a worker thread failed"))??;
    Ok(fresh)
}

/// At logout: end the portal session (`POST /logout`), best effort. The caller (holding the
/// account lock) removes the cached role credentials. Returns a sentence for the logout message.
pub async fn logout(ctx: &Context, account: &Account, token: &Secret) -> String {
    match portal(ctx, account) {
        Ok(p) => match p.logout(token).await {
            Ok(()) => "the AWS access portal session was ended (Logout); role credentials already handed out stay valid until they expire".to_string(),
            Err(e) => format!(
                "the portal Logout failed ({})",
                sidekey_flow::response::scrub(&e.to_string(), &[token.expose()])
            ),
        },
        Err(f) => f.message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_process_shape() {
        let c = RoleCredentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: Secret::new("sk"),
            session_token: Secret::new("st"),
            expiration_ms: 1_795_000_000_123,
        };
        let v = credential_process_json(&c);
        assert_eq!(v["Version"], 1);
        assert_eq!(v["AccessKeyId"], "ASIAEXAMPLE");
        assert_eq!(v["Expiration"], "2026-11-18T11:06:40.123Z");
    }
}
