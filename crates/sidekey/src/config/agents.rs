//! `[agents.NAME]`: the daemon's named agents, each with the SHA-256 of its own API key (never
//! the key) and its own rights, which only narrow the policy of the accounts it uses
//! ([`crate::policy::Agent`], [`crate::policy::Policy::permit_as`]).

use super::input::Located;
use super::policy::{p_both, writes};
use crate::policy::Agent;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// The longest agent name: `agent NAME via api:unix` stays within the audit log's caller field.
pub const MAX_AGENT_NAME: usize = 40;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAgent {
    key_sha256: Spanned<String>,
    accounts: Option<Vec<Spanned<String>>>,
    allow: Option<Vec<Spanned<String>>>,
    ask: Option<Vec<Spanned<String>>>,
    allow_token_export: Option<bool>,
    aws_roles: Option<Vec<Spanned<String>>>,
}

/// Whether `name` may name an agent: an account-style name (lowercase letters, digits, `-`,
/// `_`) of at most [`MAX_AGENT_NAME`] characters.
pub fn check_agent_name(name: &str) -> Result<(), String> {
    if name.len() <= MAX_AGENT_NAME && sidekey_vault::check_name(name).is_ok() {
        return Ok(());
    }
    Err(format!(
        "invalid agent name '{}': use lowercase letters, digits, '-' and '_', at most {MAX_AGENT_NAME} characters, starting with a letter or digit",
        sidekey_flow::response::one_line(name, 80)
    ))
}

/// The agents, checked against the configured `accounts`: a valid name, a 64-digit hex hash
/// that no other agent has, accounts that exist (or `"*"` alone), known writes in `allow` or
/// `ask` but not both, and well-formed AWS role pairs.
pub(super) fn validate(
    raw: BTreeMap<String, Spanned<RawAgent>>,
    accounts: &[&str],
) -> Result<BTreeMap<String, Agent>, Located> {
    let mut agents: BTreeMap<String, Agent> = BTreeMap::new();
    for (name, spanned) in raw {
        let span = spanned.span();
        let a = spanned.into_inner();
        let within = |m: String| format!("agent '{name}': {m}");
        check_agent_name(&name).map_err(|m| (Some(span.clone()), m))?;
        let key_sha256 = parse_hash(a.key_sha256.get_ref()).ok_or_else(|| {
            (
                Some(a.key_sha256.span()),
                within(
                    "key_sha256 must be the SHA-256 of the agent's key in hex (64 digits; `sidekey agents add NAME` makes a key and writes it), never the key itself".into(),
                ),
            )
        })?;
        if let Some(other) = agents.values().find(|o| o.key_sha256 == key_sha256) {
            return Err((
                Some(a.key_sha256.span()),
                within(format!(
                    "key_sha256 is also agent '{}''s: every agent has a key of its own",
                    other.name
                )),
            ));
        }
        let listed = a.accounts.unwrap_or_default();
        let every = listed.iter().any(|s| s.get_ref() == "*");
        if every && listed.len() > 1 {
            return Err((
                Some(span.clone()),
                within("accounts: \"*\" (every account) stands alone".into()),
            ));
        }
        for acc in &listed {
            if acc.get_ref() != "*" && !accounts.contains(&acc.get_ref().as_str()) {
                return Err((
                    Some(acc.span()),
                    within(format!(
                        "accounts: no account '{}' in this config (known: {})",
                        sidekey_flow::response::one_line(acc.get_ref(), 80),
                        if accounts.is_empty() {
                            "none".to_string()
                        } else {
                            accounts.join(", ")
                        }
                    )),
                ));
            }
        }
        let allow =
            writes("allow", a.allow.unwrap_or_default()).map_err(|(s, m)| (s, within(m)))?;
        let ask = writes("ask", a.ask.unwrap_or_default()).map_err(|(s, m)| (s, within(m)))?;
        if let Some(both) = p_both(&allow, &ask) {
            return Err((
                Some(span.clone()),
                within(format!(
                    "'{both}' is in both allow and ask: keep it in one (allow runs it, ask runs it after the person's approval)"
                )),
            ));
        }
        let mut aws_roles = Vec::new();
        for pair in a.aws_roles.unwrap_or_default() {
            let v = pair.get_ref().trim();
            if !sidekey_services::aws::valid_role(v) {
                return Err((
                    Some(pair.span()),
                    within(format!(
                        "aws_roles: '{}' is not ACCOUNT_ID/ROLE_NAME (12 digits, a slash, a role name)",
                        sidekey_flow::response::one_line(v, 80)
                    )),
                ));
            }
            aws_roles.push(v.to_string());
        }
        let accounts = (!every).then(|| listed.into_iter().map(Spanned::into_inner).collect());
        agents.insert(
            name.clone(),
            Agent {
                name,
                key_sha256,
                accounts,
                allow,
                ask,
                allow_token_export: a.allow_token_export.unwrap_or(false),
                aws_roles,
            },
        );
    }
    Ok(agents)
}

/// 64 hex digits (either case) as 32 bytes.
fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let t = text.trim().as_bytes();
    if t.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in t.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// The SHA-256 of an API key, as `[agents.NAME] key_sha256` holds it.
pub fn key_hash(key: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// `hash` in lowercase hex.
pub fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}
