//! The cache of registered clients, for providers that register their own client at sign-in
//! instead of naming one in the config ([`ClientIdentity::Registered`]: AWS IAM Identity
//! Center's `RegisterClient`).
//!
//! The registration (client id and secret) lives in the vault slot [`REGISTRATION_SLOT`]. A
//! sign-in registers again when it is missing, belongs to another endpoint or scope list, or
//! expires within [`REGISTRATION_RENEW`]. Polling and refresh need the registration the device
//! code or the refresh token was issued to: once that expired the person signs in again. The
//! sign-in ([`crate::signin`]) and the refresh ([`crate::account`]) both come here, so neither
//! knows which providers register.

use crate::config::Account;
use crate::context::Context;
use crate::error::Failure;
use sidekey_flow::Provider;
use sidekey_flow::dialect::ClientIdentity;
use sidekey_flow::dialect::aws::{Registration, register_client};

/// The vault slot of an account's registration (named when only AWS registered; kept so
/// existing vaults stay readable).
pub const REGISTRATION_SLOT: &str = "aws-registration";
/// A registration is renewed at sign-in when it has less than this left (its refresh tokens
/// die with it).
pub const REGISTRATION_RENEW: i64 = 7 * 24 * 3600;

/// Whether the account's provider registers its client at sign-in.
pub fn registers(account: &Account) -> bool {
    matches!(
        account.kind.dialect().client(),
        ClientIdentity::Registered { .. }
    )
}

/// The OIDC base a registration belongs to: the token endpoint is `{oidc base}/token`.
fn oidc_base(account: &Account) -> Result<url::Url, Failure> {
    let e = account
        .endpoints
        .as_ref()
        .ok_or_else(|| Failure::internal("registering account without endpoints"))?;
    let mut base = e.token.clone();
    let path = base.path().trim_end_matches("/token").to_string();
    base.set_path(&path);
    Ok(base)
}

fn usable(r: &Registration, account: &Account, base: &url::Url, margin: i64) -> bool {
    r.oidc_base == base.as_str()
        && r.scopes == account.scopes
        && r.client_secret_expires_at - jiff::Timestamp::now().as_second() > margin
}

fn load(ctx: &Context, name: &str) -> Result<Option<Registration>, Failure> {
    Ok(ctx.vault()?.load_slot(name, REGISTRATION_SLOT)?)
}

async fn store(ctx: &Context, name: &str, value: Registration) -> Result<(), Failure> {
    let (vault, n, wait) = (
        ctx.vault()?,
        name.to_string(),
        crate::account::lock_wait(ctx),
    );
    tokio::task::spawn_blocking(move || -> Result<(), Failure> {
        let lock = crate::account::lock_blocking(&vault, &n, wait)?;
        lock.store_slot(REGISTRATION_SLOT, &value)?;
        Ok(())
    })
    .await
    .map_err(|_| Failure::internal("a worker thread failed"))?
}

/// For a sign-in: the provider with a usable registration's client id and secret, registering
/// (and storing) a new one when needed or when `renew` says the old one was refused. Accounts
/// with a configured client come back unchanged.
pub async fn ensure(
    ctx: &Context,
    account: &Account,
    mut provider: Provider,
    renew: bool,
) -> Result<Provider, Failure> {
    if !registers(account) {
        return Ok(provider);
    }
    let base = oidc_base(account)?;
    let cached = load(ctx, &account.name)?
        .filter(|r| !renew && usable(r, account, &base, REGISTRATION_RENEW));
    let reg = match cached {
        Some(r) => r,
        None => {
            let client_name = format!("sidekey-{}", account.name);
            let r = register_client(ctx.http()?, &base, &client_name, &account.scopes)
                .await
                .map_err(|e| Failure::from_flow(e.for_provider(account.kind)))?;
            store(ctx, &account.name, r.clone()).await?;
            r
        }
    };
    provider.client_id = reg.client_id;
    provider.client_secret = Some(reg.client_secret);
    Ok(provider)
}

/// For polling and refresh: the provider with the stored registration (never a new one: the
/// device code and the refresh token belong to the client that asked for them). Accounts with
/// a configured client come back unchanged.
pub fn attach(
    ctx: &Context,
    account: &Account,
    mut provider: Provider,
) -> Result<Provider, Failure> {
    if !registers(account) {
        return Ok(provider);
    }
    let base = oidc_base(account)?;
    let reg = load(ctx, &account.name)?
        .filter(|r| usable(r, account, &base, 0))
        .ok_or_else(|| {
            Failure::reauth(
                &account.name,
                &format!(
                    "the {} client registration this sign-in used has expired or changed",
                    account.kind.dialect().display_name()
                ),
            )
        })?;
    provider.client_id = reg.client_id;
    provider.client_secret = Some(reg.client_secret);
    Ok(provider)
}
