//! One error type for the whole CLI, carrying the exit code of the documented contract:
//! 0 ok · 1 internal · 2 usage/config · 3 not signed in / re-authentication needed ·
//! 4 declined or expired · 5 provider or network failure · 6 refused by policy.
//! Messages are one line and never contain a secret.

use sidekey_flow::{FlowError, RefreshError};
use sidekey_vault::VaultError;

pub const INTERNAL: u8 = 1;
pub const CONFIG: u8 = 2;
pub const NOT_SIGNED_IN: u8 = 3;
pub const DECLINED: u8 = 4;
pub const PROVIDER: u8 = 5;
#[allow(dead_code)] // used by the daemon policy (issue 4)
pub const POLICY: u8 = 6;

#[derive(Debug, Clone)]
pub struct Failure {
    pub code: u8,
    /// Stable machine-readable reason for `--json` output.
    pub reason: &'static str,
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, reason: &'static str, message: impl Into<String>) -> Failure {
        let message = sidekey_flow::response::one_line(&message.into(), 600);
        Failure {
            code,
            reason,
            message,
        }
    }
    pub fn internal(m: impl Into<String>) -> Failure {
        Failure::new(INTERNAL, "internal", m)
    }
    pub fn config(m: impl Into<String>) -> Failure {
        Failure::new(CONFIG, "config", m)
    }
    pub fn usage(m: impl Into<String>) -> Failure {
        Failure::new(CONFIG, "usage", m)
    }
    pub fn not_signed_in(account: &str) -> Failure {
        Failure::new(
            NOT_SIGNED_IN,
            "signed_out",
            format!("'{account}' is not signed in: run `sidekey login {account}`"),
        )
    }
    pub fn reauth(account: &str, why: &str) -> Failure {
        Failure::new(
            NOT_SIGNED_IN,
            "reauth_required",
            format!("'{account}' needs to sign in again ({why}): run `sidekey login {account}`"),
        )
    }

    pub fn from_flow(e: FlowError) -> Failure {
        let code = match &e {
            FlowError::Declined { .. } | FlowError::Expired | FlowError::BadCode { .. } => DECLINED,
            FlowError::DeviceFlowDisabled { .. }
            | FlowError::InvalidClient { .. }
            | FlowError::InvalidScope { .. }
            | FlowError::Config(_) => CONFIG,
            FlowError::Provider { .. }
            | FlowError::Unreachable(_)
            | FlowError::Malformed(_)
            | FlowError::Interrupted => PROVIDER,
        };
        Failure::new(code, e.reason(), e.to_string())
    }

    pub fn from_refresh(account: &str, e: RefreshError) -> Failure {
        match e {
            RefreshError::ReauthRequired { .. } => Failure::reauth(account, &e.to_string()),
            RefreshError::Provider { .. } => {
                Failure::new(PROVIDER, "provider_error", e.to_string())
            }
            RefreshError::Unreachable(_) => Failure::new(PROVIDER, "network", e.to_string()),
        }
    }
}

impl From<VaultError> for Failure {
    fn from(e: VaultError) -> Failure {
        match e {
            VaultError::WrongKey(_) | VaultError::BadKey(_) | VaultError::BadName(_) => {
                Failure::config(e.to_string())
            }
            _ => Failure::new(INTERNAL, "vault", e.to_string()),
        }
    }
}
