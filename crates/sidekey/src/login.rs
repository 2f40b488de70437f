//! `sidekey login NAME [--json]`: run the device flow and store the tokens.
//!
//! The order matters: the config and the vault key are checked *before* a code is requested, so
//! the person is never sent to sign in for an account whose tokens could not be stored.

use crate::account::{self, Record, now_unix, rfc3339};
use crate::config::Account;
use crate::context::Context;
use crate::failure::Failure;
use serde_json::json;
use sidekey_flow::{DeviceAuthorization, DeviceFlow, PollEvent, SystemClock};
use std::io::Write;
use std::time::Instant;

/// Where login events go: JSON lines on stdout, or sentences for a person.
pub struct Reporter {
    pub json: bool,
    pub account: String,
    pub provider: &'static str,
}

impl Reporter {
    fn emit(&self, v: serde_json::Value) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{v}");
        let _ = out.flush();
    }

    pub fn code(&self, auth: &DeviceAuthorization, expires_at: i64) {
        if self.json {
            self.emit(json!({
                "event": "code",
                "account": self.account,
                "provider": self.provider,
                "user_code": auth.user_code,
                "verification_uri": auth.verification_uri,
                "verification_uri_complete": auth.verification_uri_complete,
                "expires_at": rfc3339(expires_at),
                "interval": auth.interval,
            }));
        } else {
            let mins = (expires_at - now_unix()).max(0) / 60;
            println!(
                "To sign in to '{}' ({}), open {}\nand enter the code: {}\nThe code expires at {} (in {} min). Waiting for sign-in...",
                self.account,
                self.provider,
                auth.verification_uri,
                auth.user_code,
                rfc3339(expires_at),
                mins
            );
            if let Some(c) = &auth.verification_uri_complete {
                println!("Or open this link, which carries the code: {c}");
            }
        }
    }

    pub fn progress(&self, ev: &PollEvent) {
        if self.json {
            return;
        }
        if let PollEvent::Fault { what, retry_in } = ev {
            eprintln!(
                "sidekey: provider hiccup ({what}); retrying in {}s",
                retry_in.as_secs()
            );
        }
    }

    pub fn signed_in(&self, rec: &Record) {
        if self.json {
            self.emit(json!({
                "event": "signed_in",
                "account": self.account,
                "user": { "name": rec.user.name, "email": rec.user.email },
                "scopes": rec.scopes,
                "expires_at": rec.expires_at.map(rfc3339),
            }));
        } else {
            println!("Signed in to '{}' as {}.", self.account, rec.display_user());
        }
    }

    pub fn failed(&self, f: &Failure) {
        if self.json {
            self.emit(json!({
                "event": "failed",
                "account": self.account,
                "reason": f.reason,
                "message": f.message,
            }));
        }
    }
}

pub fn login(ctx: &Context, name: &str, json: bool) -> Result<(), Failure> {
    let account = ctx.config.account(name)?;
    let reporter = Reporter {
        json,
        account: name.to_string(),
        provider: account.kind.name(),
    };
    let result = account::runtime()?.block_on(login_async(ctx, account, &reporter, |_| {}));
    if let Err(f) = &result {
        reporter.failed(f);
    }
    result.map(|_| ())
}

/// The whole sign-in. `on_code` sees the code once it is shown (the demo uses it to approve).
pub async fn login_async(
    ctx: &Context,
    account: &Account,
    reporter: &Reporter,
    on_code: impl FnOnce(&DeviceAuthorization),
) -> Result<Record, Failure> {
    // Fail on a wrong or missing key now, not after the person has signed in.
    let vault = ctx.vault()?;
    let http = account::http(ctx)?;
    let provider = account.resolve(&http).await?;
    let flow = DeviceFlow::new(&http, &provider);
    let auth = flow.start(&SystemClock).await.map_err(Failure::from_flow)?;
    let received = Instant::now();
    let expires_at = now_unix() + auth.expires_in as i64;
    reporter.code(&auth, expires_at);
    on_code(&auth);
    let tokens = flow
        .poll(&auth, received, &SystemClock, |ev| reporter.progress(ev))
        .await
        .map_err(Failure::from_flow)?;
    let user = flow.user_info(&tokens).await.unwrap_or_default();
    let rec = Record::from_tokens(account, &provider, tokens, user);
    let lock = vault.lock(&account.name)?;
    lock.store(&rec)?;
    drop(lock);
    reporter.signed_in(&rec);
    Ok(rec)
}
