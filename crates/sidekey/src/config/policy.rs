//! `[accounts.NAME.policy]`: what an agent may do with an account beyond reading (writes,
//! token export, AWS role credentials) and the ceiling of the scopes it may hold, checked
//! against the operations sidekey knows.

use super::account::{SignInFlow, normalize_for};
use super::input::Located;
use super::services;
use serde::Deserialize;
use sidekey_flow::ProviderKind;
use sidekey_flow::dialect::Dialect;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    allow_token_export: Option<bool>,
    allowed_scopes: Option<Vec<String>>,
    allow: Option<Vec<Spanned<String>>>,
    ask: Option<Vec<Spanned<String>>>,
    aws_roles: Option<Vec<Spanned<String>>>,
    show_code_to_agent: Option<bool>,
}

/// The account's policy (the default when the section is absent). `kind` and `flow` normalise
/// the scope ceiling like the account's `scopes`.
pub(super) fn validate(
    d: &dyn Dialect,
    kind: ProviderKind,
    flow: SignInFlow,
    raw: Option<Spanned<RawPolicy>>,
) -> Result<crate::policy::Policy, Located> {
    Ok(match raw {
        None => crate::policy::Policy::default(),
        Some(p) => {
            let span = p.span();
            let p = p.into_inner();
            let allow = writes("allow", p.allow.unwrap_or_default())?;
            let ask = writes("ask", p.ask.unwrap_or_default())?;
            if let Some(both) = p_both(&allow, &ask) {
                return Err((
                    Some(span.clone()),
                    format!(
                        "policy: '{both}' is in both allow and ask: keep it in one (allow runs it, ask runs it after the person's approval)"
                    ),
                ));
            }
            // The ceiling is written like `scopes` (short Google names, Microsoft's
            // offline_access implied) and compared with them normalised the same way.
            let allowed_scopes = p
                .allowed_scopes
                .map(|list| normalize_for(kind, flow, list).map_err(|e| (Some(span.clone()), e)))
                .transpose()?;
            let aws_roles = services::aws_roles(d, p.aws_roles)?;
            if p.allow_token_export == Some(true)
                && let Some(why) = d.refuses_token_export()
            {
                return Err((Some(span.clone()), why.into()));
            }
            crate::policy::Policy {
                allow_token_export: p.allow_token_export.unwrap_or(false),
                allowed_scopes,
                allow,
                ask,
                aws_roles,
                show_code_to_agent: p.show_code_to_agent.unwrap_or(false),
            }
        }
    })
}

/// The first operation listed in both `allow` and `ask`.
pub(super) fn p_both(allow: &[String], ask: &[String]) -> Option<String> {
    allow.iter().find(|a| ask.contains(a)).cloned()
}

/// The operations of `allow` or `ask` (`key`): each must be a known write.
pub(super) fn writes(key: &str, listed: Vec<Spanned<String>>) -> Result<Vec<String>, Located> {
    let mut out = Vec::new();
    for op in listed {
        match crate::policy::kind_of(op.get_ref()) {
            Some(crate::catalog::Access::Write) => out.push(op.get_ref().clone()),
            Some(kind) => {
                let rule = match (kind, op.get_ref().as_str()) {
                    (crate::catalog::Access::Export, "aws.credentials") => {
                        "is governed by aws_roles (ACCOUNT_ID/ROLE_NAME pairs)"
                    }
                    (crate::catalog::Access::Export, _) => "is governed by allow_token_export",
                    _ => "needs no allowing (read-only)",
                };
                return Err((
                    Some(op.span()),
                    format!("policy {key}: '{}' {rule}", op.get_ref()),
                ));
            }
            None => {
                return Err((
                    Some(op.span()),
                    format!(
                        "policy {key}: unknown operation '{}' (known: {})",
                        op.get_ref(),
                        crate::policy::known().join(", ")
                    ),
                ));
            }
        }
    }
    Ok(out)
}
