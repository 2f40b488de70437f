//! What the agent may do through the daemon: the ceiling is enforced here, not only at the
//! provider.
//!
//! Per account (`[accounts.NAME.policy]`):
//! * `allowed_scopes` — the scopes a sign-in may ever request (default: the account's configured
//!   `scopes`). A `login` asking for more is refused.
//! * `allow` — operations that write or destroy, which are refused unless listed. Read-only
//!   operations are allowed by default.
//! * `allow_token_export` — whether raw access tokens may leave the daemon (`token`, `exec` in
//!   client mode). Default false: the agent gets operations, not tokens.
//!
//! A refusal is exit code 6 / HTTP 403 with a message naming the rule, and an audit entry.

use crate::error::Failure;
use crate::ops::{Access, Operation};

/// The calls on an account itself (the service operations come from [`Operation::catalog`]).
const ACCOUNT_CALLS: &[(&str, Kind)] = &[
    ("status", Kind::Read),
    ("login", Kind::Read),
    ("logout", Kind::Write),
    ("token", Kind::Export),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Reads, or starts a sign-in the person still has to approve.
    Read,
    /// Changes or destroys something: must be listed in `allow`.
    Write,
    /// Hands out a raw token: needs `allow_token_export`.
    Export,
}

/// Whether the daemon knows `op`, and what kind of call it is.
pub fn kind_of(op: &str) -> Option<Kind> {
    if let Some((_, k)) = ACCOUNT_CALLS.iter().find(|(n, _)| *n == op) {
        return Some(*k);
    }
    Operation::named(op).map(|info| match info.access {
        Access::Read => Kind::Read,
        Access::Write => Kind::Write,
    })
}

/// Every call name the policy knows, for error messages.
pub fn known() -> Vec<&'static str> {
    ACCOUNT_CALLS
        .iter()
        .map(|(n, _)| *n)
        .chain(Operation::catalog().map(|i| i.name))
        .collect()
}

#[derive(Clone, Debug, Default)]
pub struct Policy {
    pub allow_token_export: bool,
    pub allowed_scopes: Option<Vec<String>>,
    pub allow: Vec<String>,
}

impl Policy {
    /// May the agent call `op` on `account`?
    pub fn check(&self, account: &str, op: &str) -> Result<(), Failure> {
        match kind_of(op) {
            Some(Kind::Read) => Ok(()),
            Some(Kind::Write) if self.allow.iter().any(|a| a == op) => Ok(()),
            Some(Kind::Write) => Err(Failure::policy(format!(
                "policy: '{op}' changes the account and is not in [accounts.{account}.policy] allow"
            ))),
            Some(Kind::Export) if self.allow_token_export => Ok(()),
            Some(Kind::Export) => Err(Failure::policy(format!(
                "policy: raw tokens of '{account}' do not leave the sidekey daemon ([accounts.{account}.policy] allow_token_export = false)"
            ))),
            None => Err(Failure::policy(format!("policy: unknown operation '{op}'"))),
        }
    }

    /// A sign-in may request at most the ceiling (the policy's, else the configured scopes).
    pub fn check_scopes(
        &self,
        account: &str,
        configured: &[String],
        requested: &[String],
    ) -> Result<(), Failure> {
        let ceiling = self.allowed_scopes.as_deref().unwrap_or(configured);
        let over: Vec<&str> = requested
            .iter()
            .filter(|s| !ceiling.contains(s))
            .map(String::as_str)
            .collect();
        if over.is_empty() {
            return Ok(());
        }
        Err(Failure::policy(format!(
            "policy: '{account}' may not request {} (allowed: {}; set [accounts.{account}.policy] allowed_scopes)",
            over.join(", "),
            ceiling.join(" ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_read_only_without_token_export() {
        let p = Policy::default();
        assert!(p.check("a", "status").is_ok());
        assert!(p.check("a", "login").is_ok());
        let e = p.check("a", "logout").unwrap_err();
        assert_eq!(e.exit, crate::error::Exit::Policy);
        assert!(e.message.contains("allow"), "{}", e.message);
        assert!(
            p.check("a", "token")
                .unwrap_err()
                .message
                .contains("allow_token_export")
        );
        let open = Policy {
            allow_token_export: true,
            allow: vec!["logout".into()],
            ..Policy::default()
        };
        assert!(open.check("a", "logout").is_ok() && open.check("a", "token").is_ok());
    }

    #[test]
    fn scope_ceiling() {
        let p = Policy::default();
        let conf = vec!["User.Read".to_string(), "offline_access".to_string()];
        assert!(p.check_scopes("a", &conf, &conf).is_ok());
        let e = p
            .check_scopes("a", &conf, &["Mail.Send".to_string()])
            .unwrap_err();
        assert!(e.message.contains("Mail.Send"), "{}", e.message);
    }
}
