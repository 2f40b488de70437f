//! The ways a sign-in or a refresh can end badly, each distinct so that callers (and exit codes)
//! can tell "the person said no" from "the app registration is wrong" from "the network is down".

use crate::response::OAuthError;
use thiserror::Error;

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum FlowError {
    #[error("sign-in was declined{}", suffix(.description))]
    Declined { description: Option<String> },
    #[error("the code expired before sign-in was finished")]
    Expired,
    #[error("the provider no longer accepts this device code ({code}){}", suffix(.description))]
    BadCode {
        code: String,
        description: Option<String>,
    },
    /// GitHub's `device_flow_disabled`, or `unauthorized_client`: the app may not use this
    /// grant. `hint` is the provider's own wording of why (its dialect's
    /// [`crate::Dialect::unauthorized_client_hint`], set by [`FlowError::for_provider`]).
    #[error("{}", unauthorized(.code, .description, .hint))]
    DeviceFlowDisabled {
        code: String,
        description: Option<String>,
        hint: Option<UnauthorizedHint>,
    },
    #[error("the provider rejected the client ({code}){}: check client_id, client_secret and the app registration", suffix(.description))]
    InvalidClient {
        code: String,
        description: Option<String>,
    },
    /// `refused`: the requested scopes the provider's answer names (as people write them),
    /// empty when it does not say which; then `requested` lists what was asked for, so the
    /// person knows what to look at.
    #[error("{}", invalid_scope(.refused, .requested, .description))]
    InvalidScope {
        description: Option<String>,
        refused: Vec<String>,
        requested: Vec<String>,
    },
    #[error("the provider answered {code}{}", suffix(.description))]
    Provider {
        code: String,
        description: Option<String>,
    },
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    Config(String),
    /// The caller asked the poll to stop (e.g. a daemon shutting down). The device code is
    /// untouched and can be polled again later.
    #[error("the sign-in was interrupted before it finished; it can be resumed with the same code")]
    Interrupted,
}

/// How a provider explains `unauthorized_client`: what is wrong, and what to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnauthorizedHint {
    /// "the app is not registered for this tenant or account type"
    pub what: &'static str,
    /// "check …"
    pub action: &'static str,
}

fn unauthorized(code: &str, d: &Option<String>, hint: &Option<UnauthorizedHint>) -> String {
    let (what, action) = match hint {
        Some(h) => (h.what, h.action),
        None => (
            "device flow is not enabled for this app",
            "enable it in the app's settings",
        ),
    };
    format!("{what} ({code}){}: {action}", suffix(d))
}

/// "the provider refused the scope X: remove it …", or the general sentence when the provider
/// did not say which.
fn invalid_scope(refused: &[String], requested: &[String], d: &Option<String>) -> String {
    match refused {
        [] if !requested.is_empty() => format!(
            "the provider refused the requested scopes ({}) without saying which{}: drop the ones this app may not ask for from the account's `scopes` (or --scope) and sign in again",
            requested.join(" "),
            suffix(d)
        ),
        [] => format!("the provider refused the requested scopes{}", suffix(d)),
        [one] => format!(
            "the provider refused the scope {one}: remove it from the account's `scopes` (or leave it out of --scope) and sign in again{}",
            suffix(d)
        ),
        many => format!(
            "the provider refused the scopes {}: remove them from the account's `scopes` (or leave them out of --scope) and sign in again{}",
            many.join(", "),
            suffix(d)
        ),
    }
}

/// The requested scopes that an `invalid_scope` description names, in request order. Provider
/// texts quote them in different ways ("The scope X is not valid.", "…resource: 'X'.",
/// "Invalid scope: X"), so the description is split into words and each word is compared,
/// stripped of quotes and punctuation, with the requested scopes.
pub fn scopes_named_in(description: &str, requested: &[String]) -> Vec<String> {
    let words: Vec<&str> = description
        .split(|c: char| c.is_whitespace() || c == ',')
        .map(|w| {
            w.trim_matches(|c: char| "'\"`()[]{}<>;:".contains(c))
                .trim_end_matches('.')
                .trim_matches(|c: char| "'\"`".contains(c))
        })
        .filter(|w| !w.is_empty())
        .collect();
    requested
        .iter()
        .filter(|s| words.iter().any(|w| w.eq_ignore_ascii_case(s)))
        .cloned()
        .collect()
}

fn suffix(d: &Option<String>) -> String {
    match d {
        Some(d) if !d.is_empty() => format!(": {d}"),
        _ => String::new(),
    }
}

impl FlowError {
    /// A stable machine-readable reason, used in `--json` events.
    pub fn reason(&self) -> &'static str {
        match self {
            FlowError::Declined { .. } => "declined",
            FlowError::Expired => "expired",
            FlowError::BadCode { .. } => "bad_code",
            FlowError::DeviceFlowDisabled { .. } => "device_flow_disabled",
            FlowError::InvalidClient { .. } => "invalid_client",
            FlowError::InvalidScope { .. } => "invalid_scope",
            FlowError::Provider { .. } => "provider_error",
            FlowError::Unreachable(_) => "network",
            FlowError::Malformed(_) => "provider_error",
            FlowError::Config(_) => "config",
            FlowError::Interrupted => "interrupted",
        }
    }

    /// The error worded for `kind`'s provider: `unauthorized_client` explained the provider's
    /// way (for Microsoft: the app registration's tenant or account type, not a device-flow
    /// switch). Everything else is returned as it is.
    pub fn for_provider(self, kind: crate::provider::ProviderKind) -> FlowError {
        match self {
            FlowError::DeviceFlowDisabled {
                code,
                description,
                hint: None,
            } if code == "unauthorized_client" => FlowError::DeviceFlowDisabled {
                hint: kind.dialect().unauthorized_client_hint(),
                code,
                description,
            },
            other => other,
        }
    }

    /// Map a terminal OAuth error from the device or token endpoint. `past_deadline` turns an
    /// `invalid_grant` into `Expired` (Auth0 says `expired_token` once, then `invalid_grant`).
    pub fn from_oauth(e: &OAuthError, past_deadline: bool) -> FlowError {
        let description = e.short_description();
        let code = e.code.clone();
        match e.code.as_str() {
            "access_denied" | "authorization_declined" => FlowError::Declined { description },
            "expired_token" | "token_expired" => FlowError::Expired,
            "invalid_grant" if past_deadline => FlowError::Expired,
            "bad_verification_code" | "incorrect_device_code" | "invalid_grant" => {
                FlowError::BadCode { code, description }
            }
            "device_flow_disabled" | "unauthorized_client" => FlowError::DeviceFlowDisabled {
                code,
                description,
                hint: None,
            },
            "invalid_client" | "incorrect_client_credentials" => {
                FlowError::InvalidClient { code, description }
            }
            "invalid_scope" => FlowError::InvalidScope {
                description,
                refused: Vec::new(),
                requested: Vec::new(),
            },
            _ => FlowError::Provider { code, description },
        }
    }
}

/// Refresh answers after which only a new sign-in helps: the refresh token is dead
/// (`invalid_grant`, GitHub's `bad_refresh_token`, `expired_token`), the client may no longer use
/// it (`unauthorized_client`), or the provider wants the person back — MSAL's interaction-required
/// set (msal-common `InteractionRequiredAuthError.ts`: `interaction_required`, `consent_required`,
/// `login_required`, `bad_token`), which Entra sends on refresh for MFA, sign-in frequency or
/// missing consent (docs/providers.md, "Microsoft").
pub const REFRESH_REAUTH_CODES: &[&str] = &[
    "invalid_grant",
    "bad_refresh_token",
    "expired_token",
    "unauthorized_client",
    "interaction_required",
    "consent_required",
    "login_required",
    "bad_token",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_scopes_are_found_in_provider_texts() {
        let req: Vec<String> = ["openid", "User.Read", "admin.all", "email"]
            .map(String::from)
            .to_vec();
        for (text, want) in [
            (
                "One or more scopes are not configured for the authorization server resource: 'admin.all'.",
                vec!["admin.all"],
            ),
            (
                "The provided value for the input parameter 'scope' is not valid. The scope user.read admin.all is not valid.",
                vec!["User.Read", "admin.all"],
            ),
            ("Invalid scope: admin.all", vec!["admin.all"]),
            ("requested scope is not allowed", vec![]),
        ] {
            assert_eq!(scopes_named_in(text, &req), want, "{text}");
        }
        let e = FlowError::InvalidScope {
            description: None,
            refused: vec!["admin.all".into()],
            requested: vec!["openid".into(), "admin.all".into()],
        };
        assert!(
            e.to_string()
                .contains("refused the scope admin.all: remove it"),
            "{e}"
        );
        let e = FlowError::InvalidScope {
            description: Some("no".into()),
            refused: vec![],
            requested: vec![],
        };
        assert_eq!(
            e.to_string(),
            "the provider refused the requested scopes: no"
        );
        // Nothing named: the message lists what was asked for.
        let e = FlowError::InvalidScope {
            description: None,
            refused: vec![],
            requested: vec!["openid".into(), "offline_access".into()],
        };
        assert!(
            e.to_string()
                .contains("(openid offline_access) without saying which"),
            "{e}"
        );
    }
}

/// Why a refresh failed.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum RefreshError {
    /// The refresh token is dead (`invalid_grant`, GitHub's `bad_refresh_token`): sign in again.
    #[error("the provider no longer accepts the refresh token ({code}){}", suffix(.description))]
    ReauthRequired {
        code: String,
        description: Option<String>,
    },
    #[error("the provider refused the refresh ({code}){}", suffix(.description))]
    Provider {
        code: String,
        description: Option<String>,
    },
    #[error("{0}")]
    Unreachable(String),
}

impl RefreshError {
    /// A terminal OAuth error on refresh: sign in again ([`REFRESH_REAUTH_CODES`]) or a
    /// provider error. (Transient codes never get here: see [`OAuthError::is_transient`].)
    pub fn from_oauth(e: &OAuthError) -> RefreshError {
        let code = e.code.clone();
        let description = e.short_description();
        if REFRESH_REAUTH_CODES.contains(&e.code.as_str()) {
            RefreshError::ReauthRequired { code, description }
        } else {
            RefreshError::Provider { code, description }
        }
    }
}
