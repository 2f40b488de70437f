//! `sidekey agents add NAME` and `sidekey agents list`: the daemon's named agents, each with a
//! key of its own and its own rights (`[agents.NAME]`, docs/sidecar.md "Many agents").
//!
//! `add` makes a random key, prints it once on stdout (for the agent's `SIDEKEY_API_KEY_FILE`)
//! and records only its SHA-256 in the config, keeping every other line of it; the new config
//! is checked as every command will read it before it replaces the old one. `list` shows the
//! agents and their rights, never a key or a hash.

use crate::config::{Config, check_agent_name, hex, key_hash};
use crate::context::{api_key_path, default_config_path};
use crate::error::Failure;
use crate::policy::Agent;
use serde_json::json;
use std::io::Write;

/// What `sidekey agents add` records.
pub struct NewAgent<'a> {
    pub name: &'a str,
    pub accounts: &'a [String],
    pub allow: &'a [String],
    pub ask: &'a [String],
    /// Give an existing agent a new key, its rights kept (its old key stops working once the
    /// daemon is restarted).
    pub replace_key: bool,
}

/// `sidekey agents add NAME`: see the module's header.
pub fn add(new: NewAgent) -> Result<(), Failure> {
    check_agent_name(new.name).map_err(Failure::usage)?;
    let path = default_config_path()?;
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(Failure::config(format!(
                "cannot read config {}: {e}",
                path.display()
            )));
        }
    };
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        Failure::config(format!(
            "{} is not valid TOML ({}): fix it first, then run `sidekey agents add` again",
            path.display(),
            sidekey_flow::response::one_line(e.message(), 200)
        ))
    })?;
    let key = new_key()?;
    let hash = hex(&key_hash(&key));
    record(&mut doc, &new, &hash)?;
    let updated = doc.to_string();
    Config::parse(&path, &updated).map_err(|f| {
        Failure::config(format!(
            "nothing was recorded: the config with agent '{}' does not load: {}",
            new.name, f.message
        ))
    })?;
    super::config_file::replace(&path, &updated)?;
    // The key on stdout, alone (`sidekey agents add openclaw > openclaw.key`); the rest on stderr.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{key}");
    let _ = out.flush();
    eprintln!(
        "sidekey: agent '{}' {} in {}: its API key is above, shown this once (only its SHA-256 is kept). Put it in the agent's SIDEKEY_API_KEY_FILE, then restart the daemon (`sidekey serve`) for it to take the key.",
        new.name,
        if new.replace_key {
            "has a new key"
        } else {
            "recorded"
        },
        path.display()
    );
    Ok(())
}

/// `[agents.NAME]` in `doc`: a new section with `key_sha256` and the rights given, or (with
/// `replace_key`) the existing one with a new `key_sha256` and nothing else changed.
fn record(doc: &mut toml_edit::DocumentMut, new: &NewAgent, hash: &str) -> Result<(), Failure> {
    let agents = doc
        .entry("agents")
        .or_insert_with(|| {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            toml_edit::Item::Table(t)
        })
        .as_table_like_mut()
        .ok_or_else(|| Failure::config("`agents` in the config is not a table: fix it first"))?;
    let exists = agents.contains_key(new.name);
    match (exists, new.replace_key) {
        (true, false) => {
            return Err(Failure::usage(format!(
                "agent '{}' exists: `sidekey agents add {} --replace-key` gives it a new key (its rights kept), or edit [agents.{}] in the config",
                new.name, new.name, new.name
            )));
        }
        (false, true) => {
            return Err(Failure::usage(format!(
                "no agent '{}' to give a new key: `sidekey agents add {}` adds it",
                new.name, new.name
            )));
        }
        (true, true) => {
            if !(new.accounts.is_empty() && new.allow.is_empty() && new.ask.is_empty()) {
                return Err(Failure::usage(
                    "--replace-key keeps the agent's rights: change them in the config, not with --account, --allow or --ask",
                ));
            }
            let section = agents
                .get_mut(new.name)
                .and_then(|s| s.as_table_like_mut())
                .ok_or_else(|| {
                    Failure::config(format!(
                        "`agents.{}` in the config is not a table: fix it first",
                        new.name
                    ))
                })?;
            section.insert("key_sha256", toml_edit::value(hash));
        }
        (false, false) => {
            let list = |items: &[String]| {
                toml_edit::value(
                    items
                        .iter()
                        .map(String::as_str)
                        .collect::<toml_edit::Array>(),
                )
            };
            let mut t = toml_edit::Table::new();
            t.insert("key_sha256", toml_edit::value(hash));
            t.insert("accounts", list(new.accounts));
            if !new.allow.is_empty() {
                t.insert("allow", list(new.allow));
            }
            if !new.ask.is_empty() {
                t.insert("ask", list(new.ask));
            }
            agents.insert(new.name, toml_edit::Item::Table(t));
        }
    }
    Ok(())
}

/// 32 bytes from the system's random numbers, in URL-safe base64 (43 characters).
fn new_key() -> Result<String, Failure> {
    use base64::Engine;
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Failure::internal("the system's random numbers are not available"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// `sidekey agents list`: every named agent with its rights, and the unnamed key when one is
/// configured. Never a key, nor its hash.
pub fn list(json: bool) -> Result<(), Failure> {
    let ctx = crate::context::Context::from_env()?;
    let unnamed = api_key_path(&ctx);
    let agents: Vec<&Agent> = ctx.config.agents.values().collect();
    if json {
        let v = json!({
            "agents": agents.iter().map(|a| json!({
                "name": a.name,
                "accounts": a.accounts.clone().unwrap_or_else(|| vec!["*".into()]),
                "allow": a.allow,
                "ask": a.ask,
                "allow_token_export": a.allow_token_export,
                "aws_roles": a.aws_roles,
            })).collect::<Vec<_>>(),
            "unnamed_key": unnamed.is_some(),
        });
        super::output::line(&super::output::json_text(&v)?)?;
        return Ok(());
    }
    let mut out = String::new();
    if agents.is_empty() {
        out.push_str("No named agents (`sidekey agents add NAME` adds one).\n");
    }
    for a in &agents {
        out.push_str(&describe(a));
    }
    if let Some(p) = unnamed {
        out.push_str(&format!(
            "(unnamed) the key in {}: every account, within each account's policy\n",
            p.display()
        ));
    }
    super::output::line(out.trim_end())
}

/// One agent and its rights, for the person.
fn describe(a: &Agent) -> String {
    let or_none = |l: &[String]| {
        if l.is_empty() {
            "none".to_string()
        } else {
            l.join(", ")
        }
    };
    let accounts = match &a.accounts {
        None => "every account".to_string(),
        Some(l) => or_none(l),
    };
    format!(
        "{}\n  accounts: {accounts}\n  allow: {}\n  ask: {}\n  token export: {}\n  aws_roles: {}\n",
        a.name,
        or_none(&a.allow),
        or_none(&a.ask),
        if a.allow_token_export {
            "where the account allows it"
        } else {
            "no"
        },
        or_none(&a.aws_roles),
    )
}
