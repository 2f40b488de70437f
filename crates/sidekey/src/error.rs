//! The two vocabularies every command, the daemon and its clients share: how a command ends
//! ([`Exit`], the process exit code of the documented contract) and why it failed ([`Reason`],
//! a stable machine-readable word that crosses the daemon's API unchanged).
//!
//! A [`Failure`] carries both plus one line for a person. Messages are cut to one line and never
//! contain a secret: they are built from names, provider error codes and descriptions, never from
//! tokens or request bodies.

use serde::{Deserialize, Serialize};
use sidekey_flow::{FlowError, RefreshError};
use sidekey_vault::VaultError;

/// The exit codes of the command contract (README, "Exit codes").
/// On the wire a number; one this version does not know (from a newer daemon) reads as
/// [`Exit::Internal`] rather than making the whole answer unreadable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "u8", from = "u8")]
pub enum Exit {
    Ok = 0,
    /// A bug, or the machine refused something (a full disk, a failed thread).
    Internal = 1,
    /// Bad arguments or configuration: fix the command or the config.
    Usage = 2,
    /// Not signed in, or the provider wants the person to sign in again.
    NotSignedIn = 3,
    /// The person declined, or the code expired before they finished.
    Declined = 4,
    /// The provider or the network failed; trying later may help.
    Provider = 5,
    /// Refused by policy (or a wrong API key).
    Policy = 6,
    /// Waiting for the person's approval (`[accounts.NAME.policy] ask`): the answer carries the
    /// approval's id; call again with it to wait again. Nothing ran.
    Pending = 7,
    /// The person denied the approval: nothing ran; do not ask again for the same action.
    Denied = 8,
    /// The approval expired (or was left unanswered) before the person decided: nothing ran;
    /// asking again sends a new request.
    ApprovalExpired = 9,
}

impl Exit {
    pub const ALL: [Exit; 10] = [
        Exit::Ok,
        Exit::Internal,
        Exit::Usage,
        Exit::NotSignedIn,
        Exit::Declined,
        Exit::Provider,
        Exit::Policy,
        Exit::Pending,
        Exit::Denied,
        Exit::ApprovalExpired,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for u8 {
    fn from(e: Exit) -> u8 {
        e.code()
    }
}

impl From<u8> for Exit {
    fn from(v: u8) -> Exit {
        Exit::ALL
            .into_iter()
            .find(|e| e.code() == v)
            .unwrap_or(Exit::Internal)
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> std::process::ExitCode {
        std::process::ExitCode::from(e.code())
    }
}

/// Why something failed, in one word; `--json` output, login events, audit entries and the
/// daemon's error bodies all carry it. Serialised in snake_case (`missing_scope`). A word this
/// version does not know (from a newer daemon) reads as [`Reason::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Internal,
    Config,
    Usage,
    Vault,
    Io,
    SignedOut,
    ReauthRequired,
    MissingScope,
    NoPending,
    Busy,
    Declined,
    Expired,
    BadCode,
    DeviceFlowDisabled,
    InvalidClient,
    InvalidScope,
    ProviderError,
    Network,
    Interrupted,
    UntrustedVerificationUri,
    Policy,
    Unauthorized,
    Doctor,
    /// A provider's daily quota is used up (YouTube `quotaExceeded`): wait for its reset.
    QuotaExceeded,
    /// A sign-in came back as someone else than the account's remembered identity: refused,
    /// the stored tokens untouched (`sidekey login NAME --replace-identity` switches).
    IdentityMismatch,
    /// A sign-in whose user the provider did not say (its userinfo failed) while an identity is
    /// remembered: not stored, the stored tokens untouched; trying again may help.
    IdentityUnknown,
    /// A Google Doc changed since sidekey read it: the revision computed from that read was
    /// refused and nothing was written; read it again and retry.
    DocumentChanged,
    /// An operation made its change at the service, or may have: the service refused the token
    /// before the operation finished (its read-back, its next step), or the write's answer was
    /// lost (a timeout, a dropped connection or a 5xx after the request went out). The change
    /// was not made again; check it before running the operation again.
    WrittenUnconfirmed,
    /// The operation waits for the person's approval (exit 7): the failure names the approval.
    ApprovalPending,
    /// The person denied the approval (exit 8).
    ApprovalDenied,
    /// The approval expired before the person decided (exit 9).
    ApprovalExpired,
    #[serde(other)]
    Other,
}

impl Reason {
    pub const ALL: [Reason; 32] = [
        Reason::Internal,
        Reason::Config,
        Reason::Usage,
        Reason::Vault,
        Reason::Io,
        Reason::SignedOut,
        Reason::ReauthRequired,
        Reason::MissingScope,
        Reason::NoPending,
        Reason::Busy,
        Reason::Declined,
        Reason::Expired,
        Reason::BadCode,
        Reason::DeviceFlowDisabled,
        Reason::InvalidClient,
        Reason::InvalidScope,
        Reason::ProviderError,
        Reason::Network,
        Reason::Interrupted,
        Reason::UntrustedVerificationUri,
        Reason::Policy,
        Reason::Unauthorized,
        Reason::Doctor,
        Reason::QuotaExceeded,
        Reason::IdentityMismatch,
        Reason::IdentityUnknown,
        Reason::DocumentChanged,
        Reason::WrittenUnconfirmed,
        Reason::ApprovalPending,
        Reason::ApprovalDenied,
        Reason::ApprovalExpired,
        Reason::Other,
    ];

    /// The wire word (`"missing_scope"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Internal => "internal",
            Reason::Config => "config",
            Reason::Usage => "usage",
            Reason::Vault => "vault",
            Reason::Io => "io",
            Reason::SignedOut => "signed_out",
            Reason::ReauthRequired => "reauth_required",
            Reason::MissingScope => "missing_scope",
            Reason::NoPending => "no_pending",
            Reason::Busy => "busy",
            Reason::Declined => "declined",
            Reason::Expired => "expired",
            Reason::BadCode => "bad_code",
            Reason::DeviceFlowDisabled => "device_flow_disabled",
            Reason::InvalidClient => "invalid_client",
            Reason::InvalidScope => "invalid_scope",
            Reason::ProviderError => "provider_error",
            Reason::Network => "network",
            Reason::Interrupted => "interrupted",
            Reason::UntrustedVerificationUri => "untrusted_verification_uri",
            Reason::Policy => "policy",
            Reason::Unauthorized => "unauthorized",
            Reason::Doctor => "doctor",
            Reason::QuotaExceeded => "quota_exceeded",
            Reason::IdentityMismatch => "identity_mismatch",
            Reason::IdentityUnknown => "identity_unknown",
            Reason::DocumentChanged => "document_changed",
            Reason::WrittenUnconfirmed => "written_unconfirmed",
            Reason::ApprovalPending => "approval_pending",
            Reason::ApprovalDenied => "approval_denied",
            Reason::ApprovalExpired => "approval_expired",
            Reason::Other => "other",
        }
    }

    /// A refusal (policy, API key) rather than an attempt that failed: the audit log's `deny`.
    pub fn is_refusal(self) -> bool {
        matches!(
            self,
            Reason::Policy | Reason::Unauthorized | Reason::IdentityMismatch
        )
    }

    /// The flow crate's reason words, mapped once.
    fn of_flow(e: &FlowError) -> Reason {
        match e {
            FlowError::Declined { .. } => Reason::Declined,
            FlowError::Expired => Reason::Expired,
            FlowError::BadCode { .. } => Reason::BadCode,
            FlowError::DeviceFlowDisabled { .. } => Reason::DeviceFlowDisabled,
            FlowError::InvalidClient { .. } => Reason::InvalidClient,
            FlowError::InvalidScope { .. } => Reason::InvalidScope,
            FlowError::Provider { .. } | FlowError::Malformed(_) => Reason::ProviderError,
            FlowError::Unreachable(_) => Reason::Network,
            FlowError::Config(_) => Reason::Config,
            FlowError::Interrupted => Reason::Interrupted,
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a command failed: exit code, reason, one line for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    #[serde(rename = "exit_code")]
    pub exit: Exit,
    pub reason: Reason,
    pub message: String,
    /// The approval this failure is about (exit 7, 8, 9): the id the agent waits on again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
}

impl Failure {
    pub fn new(exit: Exit, reason: Reason, message: impl Into<String>) -> Failure {
        let message = sidekey_flow::response::one_line(&message.into(), 600);
        Failure {
            exit,
            reason,
            message,
            approval: None,
        }
    }
    pub fn internal(m: impl Into<String>) -> Failure {
        Failure::new(Exit::Internal, Reason::Internal, m)
    }
    pub fn config(m: impl Into<String>) -> Failure {
        Failure::new(Exit::Usage, Reason::Config, m)
    }
    pub fn usage(m: impl Into<String>) -> Failure {
        Failure::new(Exit::Usage, Reason::Usage, m)
    }
    pub fn network(m: impl Into<String>) -> Failure {
        Failure::new(Exit::Provider, Reason::Network, m)
    }
    pub fn policy(m: impl Into<String>) -> Failure {
        Failure::new(Exit::Policy, Reason::Policy, m)
    }
    pub fn not_signed_in(account: &str) -> Failure {
        Failure::new(
            Exit::NotSignedIn,
            Reason::SignedOut,
            format!("'{account}' is not signed in: run `sidekey login {account}`"),
        )
    }
    pub fn reauth(account: &str, why: &str) -> Failure {
        Failure::new(
            Exit::NotSignedIn,
            Reason::ReauthRequired,
            format!("'{account}' needs to sign in again ({why}): run `sidekey login {account}`"),
        )
    }
    pub fn no_pending(account: &str) -> Failure {
        Failure::new(
            Exit::NotSignedIn,
            Reason::NoPending,
            format!(
                "no sign-in is pending for '{account}': start one with `sidekey login {account}`"
            ),
        )
    }

    pub fn from_flow(e: FlowError) -> Failure {
        let exit = match &e {
            FlowError::Declined { .. } | FlowError::Expired | FlowError::BadCode { .. } => {
                Exit::Declined
            }
            FlowError::DeviceFlowDisabled { .. }
            | FlowError::InvalidClient { .. }
            | FlowError::InvalidScope { .. }
            | FlowError::Config(_) => Exit::Usage,
            FlowError::Provider { .. }
            | FlowError::Unreachable(_)
            | FlowError::Malformed(_)
            | FlowError::Interrupted => Exit::Provider,
        };
        Failure::new(exit, Reason::of_flow(&e), e.to_string())
    }

    pub fn from_refresh(account: &str, e: RefreshError) -> Failure {
        match e {
            RefreshError::ReauthRequired { .. } => Failure::reauth(account, &e.to_string()),
            RefreshError::Provider { .. } => {
                Failure::new(Exit::Provider, Reason::ProviderError, e.to_string())
            }
            RefreshError::Unreachable(_) => Failure::network(e.to_string()),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<VaultError> for Failure {
    fn from(e: VaultError) -> Failure {
        match e {
            VaultError::WrongKey(_) | VaultError::BadKey(_) | VaultError::BadName(_) => {
                Failure::config(e.to_string())
            }
            _ => Failure::new(Exit::Internal, Reason::Vault, e.to_string()),
        }
    }
}

/// A Telegram Bot API failure as the person can act on it (`telegram setup`, `notify test`,
/// `doctor`).
pub fn telegram_failure(e: sidekey_notify::bot::BotError, bot: Option<&str>) -> Failure {
    use sidekey_notify::bot::BotError;
    match e {
        BotError::Unauthorized => Failure::config(
            "Telegram does not know this bot token (Unauthorized): copy it again from @BotFather (/mybots → your bot → API Token)",
        ),
        BotError::Conflict(d) => Failure::config(format!(
            "Telegram: {d}. Another program polls this bot — OpenClaw's Telegram channel, most likely. Give sidekey a bot of its own: @BotFather → /newbot, then run `sidekey telegram setup` with that bot's token"
        )),
        BotError::Refused {
            status: 0,
            description,
        } => Failure::config(format!("Telegram: {description}")),
        BotError::Refused {
            status: 400,
            description,
        } if description.contains("chat not found") => Failure::config(format!(
            "Telegram: {description}: the chat never wrote to {}; send /start to the bot, or run `sidekey telegram setup` to record your chat",
            bot.map(|b| format!("@{b}"))
                .unwrap_or_else(|| "the bot".into())
        )),
        BotError::Refused { description, .. } => Failure::new(
            Exit::Provider,
            Reason::ProviderError,
            format!("Telegram: {description}"),
        ),
        BotError::Unreachable(d) => Failure::network(format!("Telegram: {d}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_wire_word() {
        for r in Reason::ALL {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
            assert_eq!(serde_json::from_str::<Reason>(&json).unwrap(), r);
        }
    }

    #[test]
    fn exit_codes_are_the_contract() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(Exit::from(12), Exit::Internal);
        let newer: Failure = serde_json::from_str(
            r#"{"exit_code": 12, "reason": "aws_throttled", "message": "from a newer daemon"}"#,
        )
        .unwrap();
        assert_eq!((newer.exit, newer.reason), (Exit::Internal, Reason::Other));
        let f = Failure::new(Exit::NotSignedIn, Reason::MissingScope, "x\ny");
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["exit_code"], 3);
        assert_eq!(v["reason"], "missing_scope");
        assert_eq!(v["message"], "x y");
    }
}
