//! The daemon's API on the wire: one Rust type per request and reply body, used by both ends
//! (the daemon's handlers in [`crate::daemon`] and the client in [`crate::backend::remote`]), so
//! the two cannot drift apart and nothing indexes JSON by hand.
//!
//! | route                          | request          | reply             |
//! |--------------------------------|------------------|-------------------|
//! | `GET /healthz`                 |                  | [`Health`]        |
//! | `GET /v1/status[?account=]`    |                  | [`StatusReply`]   |
//! | `POST /v1/login`               | [`LoginRequest`] | [`LoginStarted`]  |
//! | `GET /v1/login/{name}?wait=S`  |                  | [`LoginProgress`] |
//! | `POST /v1/login/{name}/redirect` | [`RedirectRequest`] | [`LoginStarted`] |
//! | `POST /v1/token`               | [`AccountRequest`] | [`TokenReply`]  |
//! | `POST /v1/logout`              | [`AccountRequest`] | [`LogoutReply`] |
//! | `POST /v1/op`                  | [`OpRequest`]    | [`OpReply`]       |
//! | `GET /v1/ops`                  |                  | [`OpsReply`]      |
//! | `POST /v1/refused`             | [`RefusalReport`] | `{}`             |
//!
//! Every failure is `{"error": {"exit_code", "reason", "message"}}` ([`ApiError`]) with an HTTP
//! status derived from the exit code; the client turns it back into the same
//! [`Failure`](crate::error::Failure), reason and exit code included.

use crate::catalog::{Access, Operation};
use crate::error::{Exit, Failure, Reason};
use serde::{Deserialize, Serialize};
use sidekey_flow::Secret;
use sidekey_notify::Event;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub ok: bool,
    pub version: String,
}

/// `sidekey status --json`, locally and through the daemon.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct StatusReply {
    pub accounts: Vec<AccountStatus>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    SignedOut,
    SignedIn,
    ReauthRequired,
    /// A code is out and a poller is waiting for the person.
    Pending,
    /// Its sealed file cannot be read (it fails to decrypt or to parse); the note says which
    /// file. The other accounts are unaffected.
    Damaged,
}

impl AccountState {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::SignedOut => "signed_out",
            AccountState::SignedIn => "signed_in",
            AccountState::ReauthRequired => "reauth_required",
            AccountState::Pending => "pending",
            AccountState::Damaged => "damaged",
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct AccountStatus {
    pub name: String,
    pub provider: String,
    pub state: AccountState,
    pub user: Option<sidekey_notify::User>,
    pub scopes: Vec<String>,
    /// Unix seconds: when the access token expires (or, while pending, the code).
    #[serde(with = "rfc3339_opt")]
    pub expires_at: Option<i64>,
    pub note: Option<String>,
    /// What the config says of the account (absent for one no longer configured), so a client
    /// without the config can write skills and pick the account for a git host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<AccountSetup>,
}

/// An account's configuration as a client may see it: nothing secret (no client secret, no
/// endpoints, no policy).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountSetup {
    /// The configured scopes (what a sign-in requests), not the granted ones.
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// The variables `exec` sets besides `SIDEKEY_ACCESS_TOKEN`.
    #[serde(default)]
    pub token_env: Vec<String>,
    /// The git hosts `sidekey git-credential` answers for with this account.
    #[serde(default)]
    pub git_hosts: Vec<String>,
    #[serde(default)]
    pub git_username: String,
}

impl AccountSetup {
    pub fn of(a: &crate::config::Account) -> AccountSetup {
        AccountSetup {
            scopes: a.scopes.clone(),
            audience: a
                .device_params
                .iter()
                .find(|(k, _)| k == "audience")
                .map(|(_, v)| v.clone()),
            token_env: a.token_env.clone(),
            git_hosts: a.git_hosts.clone(),
            git_username: a.git_username.clone(),
        }
    }
}

/// A request naming one account.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountRequest {
    pub account: String,
    /// `POST /v1/token` only: what the token is for, written to the audit log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<TokenPurpose>,
}

/// Why a token leaves sidekey, besides `sidekey token` itself. Every one is a token export: the
/// policy is `token`'s (`allow_token_export`); the audit entry names the purpose.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum TokenPurpose {
    /// `sidekey git-credential get` answering git for `host`.
    GitCredential { host: String },
    /// `sidekey secret-provider` answering an OpenClaw exec SecretRef.
    SecretProvider,
    /// `sidekey exec NAME -- PROGRAM`: the token goes into `program`'s environment.
    Exec { program: String },
}

impl TokenPurpose {
    /// The audit entry's arguments.
    pub fn audit_args(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Checks what a client sent (the host ends up in the audit log).
    pub fn validate(&self) -> Result<(), Failure> {
        match self {
            TokenPurpose::GitCredential { host } if !crate::config::valid_git_host(host) => Err(
                Failure::usage("purpose: the git host must be host or host:port"),
            ),
            TokenPurpose::Exec { program }
                if program.is_empty()
                    || program.chars().count() > MAX_PROGRAM
                    || program.chars().any(sidekey_net::hidden) =>
            {
                Err(Failure::usage(format!(
                    "purpose: the program must be one line of at most {MAX_PROGRAM} printable characters"
                )))
            }
            _ => Ok(()),
        }
    }
}

/// The longest program name an `exec` purpose carries to the audit log.
pub const MAX_PROGRAM: usize = 200;

/// `POST /v1/refused`: a refusal a client made before it could call the daemon (an MCP tool's
/// arguments refused on the agent's side), so the daemon's audit log has it too. Only usage
/// and policy refusals are taken; nothing is run.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RefusalReport {
    /// The operation (or `mcp.unknown`), at most [`MAX_REFUSED_OP`] characters of one line.
    pub op: String,
    pub error: Failure,
}

pub const MAX_REFUSED_OP: usize = 64;

impl RefusalReport {
    pub fn validate(&self) -> Result<(), Failure> {
        if self.op.is_empty()
            || self.op.chars().count() > MAX_REFUSED_OP
            || self.op.chars().any(sidekey_net::hidden)
        {
            return Err(Failure::usage(format!(
                "refused: op must be one line of 1 to {MAX_REFUSED_OP} printable characters"
            )));
        }
        // What a client refuses by itself: arguments it could not read (usage) and tools the
        // policy does not offer (policy). Nothing the daemon alone decides (a sign-in as
        // someone else, an expired grant) can be reported into its log.
        if !matches!(
            (self.error.exit, self.error.reason),
            (Exit::Usage, Reason::Usage) | (Exit::Policy, Reason::Policy)
        ) {
            return Err(Failure::usage(
                "refused: only usage (exit 2, reason usage) and policy (exit 6, reason policy) refusals are reported",
            ));
        }
        Ok(())
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct LoginRequest {
    pub account: String,
    /// Scopes instead of the configured ones (within the policy's ceiling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Only take over a sign-in that is already pending (`login --wait`); never request a code.
    #[serde(default)]
    pub resume_only: bool,
}

/// `POST /v1/login/{name}/redirect`: the address a code-flow sign-in's browser ended on,
/// pasted back (it carries the authorization code and the state).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct RedirectRequest {
    pub url: String,
}

/// The answer to a started (or joined) sign-in: the code event to show.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct LoginStarted {
    #[serde(flatten)]
    pub event: Event,
    /// Another sign-in for the account was already running and this one joined it.
    #[serde(default)]
    pub joined: bool,
    /// Not empty: the code and its link went to the person's channels (these, by name) and
    /// are withheld from this caller — the event's `user_code` and `verification_uri` are
    /// empty. Absent for the person at the terminal, and when no channel is configured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sent_to: Vec<String>,
}

/// What a caller from whom the code is withheld is told instead of it.
pub fn code_sent_note(account: &str, sent_to: &[String]) -> String {
    let to = if sent_to.is_empty() {
        "the person at the machine".to_string()
    } else {
        format!("the person ({})", sent_to.join(", "))
    };
    format!(
        "The sign-in code for '{account}' was sent to {to}; it is not shown here. The sign-in completes when they enter it."
    )
}

/// Take the code and the link out of a code event (they stay with the person).
pub fn withhold_code(event: &mut Event) {
    if let Event::Code {
        user_code,
        verification_uri,
        verification_uri_complete,
        ..
    } = event
    {
        user_code.clear();
        verification_uri.clear();
        *verification_uri_complete = None;
    }
}

/// Where a sign-in stands.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "progress", rename_all = "snake_case")]
pub enum LoginProgress {
    /// No sign-in is pending for the account.
    None,
    /// Still waiting for the person; the code event again (withheld as in
    /// [`LoginStarted::sent_to`]).
    Pending {
        #[serde(flatten)]
        event: Event,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        sent_to: Vec<String>,
    },
    /// Nobody polls it any more (its process ended); the code event, which `login --wait`
    /// resumes while it is valid.
    Interrupted {
        #[serde(flatten)]
        event: Event,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        sent_to: Vec<String>,
    },
    /// Finished: `signed_in` (exit 0) or `failed` with its exit code.
    Done {
        #[serde(flatten)]
        event: Event,
        exit_code: Exit,
    },
}

/// A fresh access token: the one reply that carries a secret, and only when policy allows.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct TokenReply {
    pub account: String,
    pub access_token: Secret,
    pub token_type: String,
    #[serde(with = "rfc3339_opt")]
    pub expires_at: Option<i64>,
    pub scopes: Vec<String>,
    /// The variables `exec` sets besides `SIDEKEY_ACCESS_TOKEN` (`GH_TOKEN`…).
    pub token_env: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct LogoutReply {
    pub account: String,
    pub message: String,
}

/// One service operation on one account (default: the only account of the operation's provider).
/// On the wire `{"op": "ms.calendar", "account": "work", …arguments}`; read with
/// [`OpRequest::from_json`].
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct OpRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// For an operation the person approves first (`[accounts.NAME.policy] ask`): the approval
    /// an earlier "pending" answer named, to wait on it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// How long to wait for the person's decision this time, in seconds (at most `[approvals]
    /// wait`, the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<u64>,
    #[serde(flatten)]
    pub op: Operation,
}

impl OpRequest {
    /// `op` on `account` (default: the only account of its provider), no approval yet.
    pub fn new(account: Option<String>, op: Operation) -> OpRequest {
        OpRequest {
            account,
            approval: None,
            wait: None,
            op,
        }
    }
}

/// The most JSON values (every string, number, array, object, key…) one `/v1/op` body may
/// hold. No operation takes more than a few hundred (50 file ids, a message's recipients); an
/// upload is one string. Counted before anything is built, so a body of millions of small
/// values is refused for the price of reading it once.
pub const MAX_OP_VALUES: usize = 10_000;

impl OpRequest {
    /// Read a `POST /v1/op` body in two passes over the bytes, neither of which copies the
    /// arguments: the first takes `op` and `account` and counts the values (refusing more than
    /// [`MAX_OP_VALUES`] at once), the second reads the arguments with the one service enum that
    /// owns `op` ([`Operation::from_json`]). An unknown `op` is refused after the first pass.
    pub fn from_json(text: &[u8]) -> Result<OpRequest, Failure> {
        let values = std::cell::Cell::new(0);
        let unknown = std::cell::Cell::new(None);
        let mut de = serde_json::Deserializer::from_slice(text);
        let head = serde::de::DeserializeSeed::deserialize(Head(&values, &unknown), &mut de)
            .and_then(|h| de.end().map(|()| h));
        let Head_ {
            op,
            account,
            approval,
            wait,
        } = match head {
            Ok(h) => h,
            Err(_) if let Some(name) = unknown.take() => {
                return Err(crate::catalog::unknown_operation(&name));
            }
            Err(_) if values.get() > MAX_OP_VALUES => {
                return Err(Failure::usage(format!(
                    "the request holds more than {MAX_OP_VALUES} JSON values; no operation takes that many"
                )));
            }
            Err(e) if e.to_string().starts_with(BAD_ACCOUNT) => {
                return Err(Failure::usage(BAD_ACCOUNT));
            }
            Err(e) if e.to_string().starts_with(BAD_APPROVAL) => {
                return Err(Failure::usage(BAD_APPROVAL));
            }
            Err(_) => return Err(Failure::usage(OP_EXPECTED)),
        };
        let Some(op) = op else {
            return Err(Failure::usage(OP_EXPECTED));
        };
        Ok(OpRequest {
            account,
            approval,
            wait,
            op: Operation::from_json(&op, text)?,
        })
    }
}

const OP_EXPECTED: &str = "expected a JSON body {\"op\": \"ms.me\", …}";
const BAD_ACCOUNT: &str = "`account` must be an account name (a string)";
const BAD_APPROVAL: &str =
    "`approval` must be an approval id (a string) and `wait` a number of seconds";

/// What the first pass keeps of a `/v1/op` body.
#[derive(Default)]
struct Head_ {
    op: Option<String>,
    account: Option<String>,
    approval: Option<String>,
    wait: Option<u64>,
}

/// The first pass over a `/v1/op` body: its `op` and `account`, every value counted (see
/// [`Count`]); nothing else is kept. An `op` no operation has stops it there (the name is left
/// in the second cell).
struct Head<'a>(
    &'a std::cell::Cell<usize>,
    &'a std::cell::Cell<Option<String>>,
);

impl<'de> serde::de::DeserializeSeed<'de> for Head<'_> {
    type Value = Head_;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Head<'_> {
    type Value = Head_;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        use serde::de::Error;
        let (mut op, mut account) = (None, None);
        let (mut approval, mut wait) = (None, None);
        while let Some(key) = m.next_key::<std::borrow::Cow<'de, str>>()? {
            Count(self.0, MAX_OP_VALUES).tick()?;
            match key.as_ref() {
                "op" if op.is_none() => {
                    Count(self.0, MAX_OP_VALUES).tick()?;
                    let name = m.next_value::<String>()?;
                    if Operation::named(&name).is_none() {
                        self.1.set(Some(name));
                        return Err(A::Error::custom("unknown operation"));
                    }
                    op = Some(name);
                }
                "account" if account.is_none() => {
                    Count(self.0, MAX_OP_VALUES).tick()?;
                    account = Some(
                        m.next_value::<Option<String>>()
                            .map_err(|_| A::Error::custom(BAD_ACCOUNT))?,
                    );
                }
                "approval" if approval.is_none() => {
                    Count(self.0, MAX_OP_VALUES).tick()?;
                    approval = Some(
                        m.next_value::<Option<String>>()
                            .map_err(|_| A::Error::custom(BAD_APPROVAL))?,
                    );
                }
                "wait" if wait.is_none() => {
                    Count(self.0, MAX_OP_VALUES).tick()?;
                    wait = Some(
                        m.next_value::<Option<u64>>()
                            .map_err(|_| A::Error::custom(BAD_APPROVAL))?,
                    );
                }
                "op" | "account" | "approval" | "wait" => {
                    return Err(A::Error::custom("a duplicate key"));
                }
                _ => m.next_value_seed(Count(self.0, MAX_OP_VALUES))?,
            }
        }
        Ok(Head_ {
            op,
            account: account.flatten(),
            approval: approval.flatten(),
            wait: wait.flatten(),
        })
    }
}

/// Whether `text` is JSON holding more than `limit` values (counted in one pass that keeps
/// nothing, stopping at `limit + 1`): for a reader that would otherwise build the whole tree
/// first (the MCP framing). Not JSON, or JSON within the limit: `false`.
pub fn more_values_than(text: &[u8], limit: usize) -> bool {
    let values = std::cell::Cell::new(0);
    let mut de = serde_json::Deserializer::from_slice(text);
    let _ = serde::de::DeserializeSeed::deserialize(Count(&values, limit), &mut de);
    values.get() > limit
}

/// Reads any JSON value without keeping it, counting it and everything in it; an error as soon
/// as the count passes its limit ([`MAX_OP_VALUES`] for a `/v1/op` body).
#[derive(Clone, Copy)]
struct Count<'a>(&'a std::cell::Cell<usize>, usize);

impl Count<'_> {
    fn tick<E: serde::de::Error>(self) -> Result<(), E> {
        let n = self.0.get() + 1;
        self.0.set(n);
        if n > self.1 {
            Err(E::custom("too many values"))
        } else {
            Ok(())
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Count<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Count<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.tick()
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.tick()
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.tick()
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.tick()
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.tick()
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.tick()
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
        self.tick()?;
        while s.next_element_seed(self)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        self.tick()?;
        while m.next_key_seed(self)?.is_some() {
            m.next_value_seed(self)?;
        }
        Ok(())
    }
}

/// An operation's result: a JSON document for programs, and the same as text for a person.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct OpReply {
    pub account: String,
    pub result: serde_json::Value,
    pub text: String,
}

/// `GET /v1/ops`: every operation the daemon knows, with the accounts on which the policy lets
/// the agent run it. `sidekey mcp` in client mode lists as tools only the operations with at
/// least one account here, so a write the policy refuses is not offered at all.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct OpsReply {
    pub ops: Vec<OpGrant>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct OpGrant {
    /// The operation's policy and audit name (`ms.calendar`).
    pub op: String,
    pub access: Access,
    /// The configured accounts of the operation's provider whose policy allows it (outright
    /// or, when also in `ask`, after the person's approval).
    pub accounts: Vec<String>,
    /// Those of `accounts` where it runs only after the person approves it (policy `ask`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ask: Vec<String>,
}

/// The body of every error answer.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub error: Failure,
}

/// Unix seconds on the wire as RFC 3339 (UTC), the way people and other programs read times.
pub mod rfc3339_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(t) => s.serialize_some(&crate::account::rfc3339(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        let v: Option<String> = Option::deserialize(d)?;
        v.map(|t| {
            t.parse::<jiff::Timestamp>()
                .map(|t| t.as_second())
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Reason;

    /// What the audit log keeps as the agent typed it (an `exec` purpose's program, a reported
    /// refusal's operation) is printable: a zero-width space, a bidi override or a line
    /// separator passed the control-character check and went into the log as sent (found by
    /// the audit-provenance check of fuzz/fuzz_targets/api_bodies.rs, on
    /// `{"account":"gh","purpose":{"via":"exec","program":"ls\u200b"}}`).
    #[test]
    fn typed_text_the_audit_keeps_is_printable() {
        for bad in [
            "ls\u{200b}",
            "ls\u{202e}",
            "ls\u{2028}x",
            "\u{feff}ls",
            "ls\n",
        ] {
            let p = TokenPurpose::Exec {
                program: bad.into(),
            };
            let e = p.validate().unwrap_err();
            assert!(e.message.contains("printable"), "{}", e.message);
            let r = RefusalReport {
                op: bad.into(),
                error: Failure::usage("m"),
            };
            assert!(r.validate().is_err(), "{bad:?}");
        }
        let ok = TokenPurpose::Exec {
            program: "gh — the GitHub CLI".into(),
        };
        assert!(ok.validate().is_ok());
    }

    /// Every reason and exit code survives the daemon's error body unchanged.
    #[test]
    fn every_failure_survives_the_wire() {
        for reason in Reason::ALL {
            for exit in Exit::ALL {
                let f = Failure::new(exit, reason, "why");
                let text = serde_json::to_string(&ApiError { error: f.clone() }).unwrap();
                let back: ApiError = serde_json::from_str(&text).unwrap();
                assert_eq!(back.error, f);
            }
        }
    }

    /// The wire form is unchanged: what the client writes, the daemon reads back, `account`
    /// included or not.
    #[test]
    fn op_requests_read_back_as_written() {
        for op in Operation::all() {
            for account in [None, Some("work".to_string())] {
                let mut req = OpRequest::new(account, op.clone());
                let text = serde_json::to_vec(&req).unwrap();
                assert_eq!(OpRequest::from_json(&text).unwrap(), req);
                req.approval = Some("abcdefghijkl".into());
                req.wait = Some(5);
                let text = serde_json::to_vec(&req).unwrap();
                assert_eq!(OpRequest::from_json(&text).unwrap(), req);
            }
        }
    }

    /// The tag is read first: an unknown operation is refused by name without the rest being
    /// read (here the rest is not even JSON), and a body of too many values is refused without
    /// anything being built, whatever it names.
    #[test]
    fn op_bodies_are_read_tag_first_and_bounded() {
        let e = OpRequest::from_json(br#"{"op":"ms.nope","x":[1,2,!!!"#).unwrap_err();
        assert!(e.message.contains("unknown operation 'ms.nope'"), "{e:?}");
        let mut many = String::from(r#"{"op":"google.inbox.read","ids":["a""#);
        many.push_str(&r#","a""#.repeat(MAX_OP_VALUES));
        many.push_str("]}");
        let e = OpRequest::from_json(many.as_bytes()).unwrap_err();
        assert!(e.message.contains("more than 10000 JSON values"), "{e:?}");
        let e = OpRequest::from_json(br#"{"op":"ms.me","account":5}"#).unwrap_err();
        assert!(e.message.contains("`account` must be"), "{e:?}");
        for bad in [
            &br#"{"op":"ms.me","op":"ms.me"}"#[..],
            b"{}",
            b"[]",
            b"{\"op\":5}",
        ] {
            let e = OpRequest::from_json(bad).unwrap_err();
            assert_eq!(e.exit, Exit::Usage);
            assert!(e.message.contains("expected a JSON body"), "{e:?}");
        }
        let e = OpRequest::from_json(br#"{"op":"google.inbox.read"}"#).unwrap_err();
        assert!(
            e.message
                .contains("google.inbox.read: bad arguments: missing field `ids`"),
            "{e:?}"
        );
        let ok = OpRequest::from_json(br#"{"account":null,"ids":["a"],"op":"google.inbox.read"}"#)
            .unwrap();
        assert_eq!(ok.op.info().name, "google.inbox.read");
        assert_eq!(ok.account, None);
    }

    #[test]
    fn login_replies_carry_the_event_flat() {
        let event = Event::Failed {
            account: "a".into(),
            provider: "github".into(),
            reason: "declined".into(),
            message: "no".into(),
        };
        let p = LoginProgress::Done {
            event,
            exit_code: Exit::Declined,
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["progress"], "done");
        assert_eq!(v["event"], "failed");
        assert_eq!(v["exit_code"], 4);
        assert_eq!(serde_json::from_value::<LoginProgress>(v).unwrap(), p);
        // A withheld code: the field, and an old client (no `sent_to`) still parses it.
        let mut event = Event::Code {
            account: "a".into(),
            provider: "oidc".into(),
            scopes: vec![],
            user_code: "WDJB-MJHT".into(),
            verification_uri: "https://idp/device".into(),
            verification_uri_complete: Some("https://idp/device?c=WDJB-MJHT".into()),
            expires_at: "2030-01-01T00:00:00Z".into(),
            interval: 5,
        };
        withhold_code(&mut event);
        let started = LoginStarted {
            event,
            joined: false,
            sent_to: vec!["telegram".into()],
        };
        let v = serde_json::to_value(&started).unwrap();
        assert!(!v.to_string().contains("WDJB"), "{v}");
        assert_eq!(v["sent_to"], serde_json::json!(["telegram"]));
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Old {
            #[serde(flatten)]
            event: Event,
            #[serde(default)]
            joined: bool,
        }
        serde_json::from_value::<Old>(v.clone()).unwrap();
        assert_eq!(serde_json::from_value::<LoginStarted>(v).unwrap(), started);
        let none = serde_json::to_value(LoginProgress::None).unwrap();
        assert_eq!(
            serde_json::from_value::<LoginProgress>(none).unwrap(),
            LoginProgress::None
        );
    }

    #[test]
    fn times_are_rfc3339() {
        let s = AccountStatus {
            name: "a".into(),
            provider: "github".into(),
            state: AccountState::SignedIn,
            user: None,
            scopes: vec![],
            expires_at: Some(1_700_000_000),
            note: None,
            setup: None,
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["expires_at"], "2023-11-14T22:13:20Z");
        assert_eq!(v["state"], "signed_in");
        let back: AccountStatus = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }
}
