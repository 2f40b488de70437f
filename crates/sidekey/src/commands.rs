//! `status`, `token`, `exec` and `logout`.

use crate::account::{self, Record, State, fresh_token, now_unix, rfc3339};
use crate::context::Context;
use crate::failure::Failure;
use serde_json::json;
use sidekey_flow::{DeviceFlow, RevokeOutcome};
use std::ffi::OsString;
use std::io::Write;

struct Row {
    name: String,
    provider: String,
    state: &'static str,
    user: Option<(Option<String>, Option<String>)>,
    scopes: Vec<String>,
    expires_at: Option<i64>,
    note: Option<String>,
}

pub fn status(ctx: &Context, only: Option<&str>, json: bool) -> Result<(), Failure> {
    let v = status_value(ctx, only)?;
    print_status(&v, json, &ctx.config.path.display().to_string());
    Ok(())
}

/// `{"accounts":[{name, provider, state, user, scopes, expires_at, note}]}` — the `status --json`
/// document, also served by the daemon.
pub fn status_value(ctx: &Context, only: Option<&str>) -> Result<serde_json::Value, Failure> {
    if let Some(n) = only {
        sidekey_vault::check_name(n).map_err(|e| Failure::usage(e.to_string()))?;
        if !ctx.config.accounts.contains_key(n) {
            ctx.config.account(n)?;
        }
    }
    let vault = ctx.vault()?;
    let mut names: Vec<String> = ctx.config.accounts.keys().cloned().collect();
    for stored in vault.accounts()? {
        if !names.contains(&stored) {
            names.push(stored);
        }
    }
    names.sort();
    let mut rows = Vec::new();
    for name in names {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let configured = ctx.config.accounts.get(&name);
        let rec: Option<Record> = vault.load(&name)?;
        let pending = crate::login::pending_state(&vault, &name)?;
        let provider = configured
            .map(|a| a.kind.name().to_string())
            .or_else(|| rec.as_ref().map(|r| r.provider.clone()))
            .unwrap_or_default();
        let row = match rec {
            None => Row {
                name,
                provider,
                state: "signed_out",
                user: None,
                scopes: vec![],
                expires_at: None,
                note: None,
            },
            Some(r) => Row {
                note: if configured.is_none() {
                    Some("not in the config any more".into())
                } else {
                    r.reauth_reason.clone()
                },
                name,
                provider,
                state: match r.state {
                    State::SignedIn => "signed_in",
                    State::ReauthRequired => "reauth_required",
                },
                user: Some((r.user.name.clone(), r.user.email.clone())),
                scopes: r.scopes.clone(),
                expires_at: r.expires_at,
            },
        };
        let mut row = row;
        match pending {
            Some(("pending", expires_at, note)) => {
                row.state = "pending";
                row.expires_at = Some(expires_at);
                row.note = Some(note);
            }
            Some((_, _, note)) if row.state != "signed_in" => row.note = Some(note),
            _ => {}
        }
        rows.push(row);
    }
    let accounts: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "provider": r.provider,
                "state": r.state,
                "user": r.user.as_ref().map(|(n, e)| json!({"name": n, "email": e})),
                "scopes": r.scopes,
                "expires_at": r.expires_at.map(rfc3339),
                "note": r.note,
            })
        })
        .collect();
    Ok(json!({ "accounts": accounts }))
}

/// Print a status document for a person (or as one JSON line).
pub fn print_status(v: &serde_json::Value, json: bool, config_path: &str) {
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(out, "{v}");
        return;
    }
    let rows = v["accounts"].as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        let _ = writeln!(
            out,
            "No accounts. Add one to {config_path} (see README), then run `sidekey login NAME`."
        );
        return;
    }
    let s = |x: &serde_json::Value| x.as_str().map(str::to_owned);
    for r in rows {
        let state = s(&r["state"]).unwrap_or_default();
        let who = match (s(&r["user"]["name"]), s(&r["user"]["email"])) {
            (Some(n), Some(e)) => format!("{n} <{e}>"),
            (Some(n), None) => n,
            (None, Some(e)) => e,
            _ => "-".into(),
        };
        let exp = s(&r["expires_at"]);
        let exp_unix = exp
            .as_deref()
            .and_then(|e| e.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_second());
        let expiry = match (exp, exp_unix) {
            (Some(e), _) if state == "pending" => format!("code expires {e}"),
            (Some(e), Some(u)) if state == "signed_in" => {
                let left = u - now_unix();
                if left > 0 {
                    format!("expires {e} (in {} min)", left / 60)
                } else {
                    format!("access token expired {e} (refreshed on next use)")
                }
            }
            (None, _) if state == "signed_in" => "no expiry".into(),
            _ => String::new(),
        };
        let scopes: Vec<String> = r["scopes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<16} {:<10} {:<16} {}{}{}",
            s(&r["name"]).unwrap_or_default(),
            s(&r["provider"]).unwrap_or_default(),
            state,
            who,
            if expiry.is_empty() {
                String::new()
            } else {
                format!("  {expiry}")
            },
            s(&r["note"])
                .map(|n| format!("  ({n})"))
                .unwrap_or_default()
        );
        if !scopes.is_empty() {
            let _ = writeln!(out, "{:<16} scopes: {}", "", scopes.join(" "));
        }
    }
}

/// The one command that prints a secret, because it was asked to.
pub fn token(ctx: &Context, name: &str, json: bool) -> Result<(), Failure> {
    let rec = fresh_token(ctx, name)?;
    let mut out = std::io::stdout().lock();
    let r = if json {
        writeln!(
            out,
            "{}",
            json!({
                "account": name,
                "access_token": rec.access_token.expose(),
                "token_type": rec.token_type,
                "expires_at": rec.expires_at.map(rfc3339),
                "scopes": rec.scopes,
            })
        )
    } else {
        writeln!(out, "{}", rec.access_token.expose())
    };
    r.and_then(|_| out.flush())
        .map_err(|e| Failure::internal(format!("cannot write to stdout: {e}")))
}

/// Run a command with the token in its environment. On Unix the command replaces sidekey
/// (`exec`), so signals and the exit status are the command's own.
pub fn exec(
    ctx: &Context,
    name: &str,
    command: &[OsString],
    audit: &dyn Fn(&Result<(), Failure>),
) -> Result<(), Failure> {
    let Some((program, args)) = command.split_first() else {
        return Err(Failure::usage(
            "missing command: sidekey exec NAME -- COMMAND [ARGS...]",
        ));
    };
    let account = ctx.config.account(name)?;
    let rec = match fresh_token(ctx, name) {
        Ok(r) => r,
        Err(f) => {
            let r = Err(f);
            audit(&r);
            return r;
        }
    };
    audit(&Ok(()));
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    cmd.env("SIDEKEY_ACCESS_TOKEN", rec.access_token.expose());
    cmd.env("SIDEKEY_ACCOUNT", name);
    for var in &account.token_env {
        cmd.env(var, rec.access_token.expose());
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = cmd.exec();
        Err(Failure::usage(format!(
            "cannot run '{}': {err}",
            program.to_string_lossy()
        )))
    }
    #[cfg(not(unix))]
    {
        let status = cmd.status().map_err(|e| {
            Failure::usage(format!("cannot run '{}': {e}", program.to_string_lossy()))
        })?;
        std::process::exit(status.code().unwrap_or(1));
    }
}

/// Revoke at the provider where it can, then forget the tokens.
pub fn logout(ctx: &Context, name: &str) -> Result<(), Failure> {
    println!("{}", logout_inner(ctx, name)?);
    Ok(())
}

/// Revoke and forget; returns the sentence to show.
pub fn logout_inner(ctx: &Context, name: &str) -> Result<String, Failure> {
    let account = ctx.config.account(name)?;
    let vault = ctx.vault()?;
    let lock = vault.lock(name)?;
    let Some(rec) = lock.load::<Record>()? else {
        return Ok(format!("'{name}' was not signed in; nothing to do."));
    };
    let provider =
        account.provider_with(&rec.token_endpoint, rec.revocation_endpoint.as_deref())?;
    let http = account::http(ctx)?;
    let outcome = account::runtime()?.block_on(async {
        let flow = DeviceFlow::new(&http, &provider);
        // The refresh token first: revoking it usually ends the whole grant.
        let mut outcome = RevokeOutcome::NotSupported("nothing to revoke");
        if let Some(rt) = &rec.refresh_token {
            outcome = flow.revoke(rt, "refresh_token").await;
        }
        if !matches!(outcome, RevokeOutcome::Failed(_)) {
            let at = flow.revoke(&rec.access_token, "access_token").await;
            if rec.refresh_token.is_none() || matches!(at, RevokeOutcome::Failed(_)) {
                outcome = at;
            }
        }
        outcome
    });
    lock.remove()?;
    lock.remove_slot("pending")?;
    match outcome {
        RevokeOutcome::Revoked => Ok(format!(
            "Revoked the tokens of '{name}' at the provider and removed them from the vault."
        )),
        RevokeOutcome::NotSupported(why) => Ok(format!(
            "Removed the tokens of '{name}' from the vault. Not revoked at the provider: {why}.{}",
            account
                .kind
                .dialect()
                .logout_hint()
                .map(|hint| format!(" {hint}"))
                .unwrap_or_default()
        )),
        RevokeOutcome::Failed(why) => Err(Failure::new(
            crate::failure::PROVIDER,
            "network",
            format!(
                "removed the tokens of '{name}' from the vault, but revoking them at the provider failed: {why}"
            ),
        )),
    }
}
