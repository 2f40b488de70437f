//! The one record of a sign-in in progress, and the lock that says someone is polling it.
//!
//! * The **pending slot** (encrypted in the vault beside the account's tokens) holds the device
//!   authorization exactly as the provider sent it, when it arrived, the endpoints it came from,
//!   and — once finished — the outcome. Any process can read it: that is how a second `login`
//!   joins, how `status` shows the code, and how the daemon answers `GET /v1/login/NAME`.
//! * The **login lock** (an OS file lock) is held by the one process polling. The OS releases it
//!   however that process ends, so a free lock with an unfinished slot means "interrupted": the
//!   next `login` resumes polling the same code.
//! * A **handover** mark covers the seconds in which `login --no-wait` has let go of the lock and
//!   its background process has not yet taken it.

use crate::account::{Record, rfc3339};
use crate::error::{Exit, Failure, Reason};
use serde::{Deserialize, Serialize};
use sidekey_flow::DeviceAuthorization;
use sidekey_notify::{Event, User};
use sidekey_vault::{NamedLock, Vault};

pub const SLOT: &str = "pending";
const LOCK: &str = "login";
/// How long a handover mark stands for a live poller.
const HANDOVER_SECS: i64 = 10;

/// A sign-in in progress (or just finished).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Pending {
    /// The device authorization as received; `expires_in` counts from `received_at`.
    pub auth: DeviceAuthorization,
    /// Unix seconds.
    pub received_at: i64,
    pub provider: String,
    pub scopes: Vec<String>,
    pub device_endpoint: String,
    pub token_endpoint: String,
    pub revocation_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub handover_at: Option<i64>,
    /// A code + PKCE sign-in (`flow = "code"`): its verifier, state and redirect, and a
    /// redirect URL pasted back and not yet exchanged. `auth` then carries the authorization
    /// URL as `verification_uri`, an empty user code and the waiting time; `device_code` is
    /// empty. The secrets never leave this (encrypted) slot.
    #[serde(default)]
    pub code: Option<CodeGrant>,
    /// A fresh code handed over by `login --no-wait`: the background process sends it to the
    /// channels, so the command returns without waiting for a slow or hanging channel.
    #[serde(default)]
    pub notify_code: bool,
    /// Started by the person with `login --replace-identity`: its end may replace the
    /// account's remembered identity, and nobody else joins or resumes it.
    #[serde(default)]
    pub replace_identity: bool,
    /// The code went to the person's channels (or is on its way there).
    #[serde(default)]
    pub told: bool,
    /// Who asked for this sign-in: the person at the terminal, or the agent (daemon API, MCP).
    /// A slot written before this was kept counts as the person's (the stricter answer: the
    /// agent cannot cancel it).
    #[serde(default)]
    pub started_by: Starter,
    pub outcome: Option<Outcome>,
}

/// Who started a sign-in, or pasted its redirect.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Starter {
    /// The person at the terminal of the machine that holds the vault (`sidekey login`).
    #[default]
    Person,
    /// The agent: the daemon's API (and the CLI in client mode), or an MCP client.
    Agent,
}

impl From<crate::policy::Who> for Starter {
    fn from(w: crate::policy::Who) -> Starter {
        match w {
            crate::policy::Who::Person => Starter::Person,
            crate::policy::Who::Agent => Starter::Agent,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct CodeGrant {
    pub request: sidekey_flow::pkce::CodeRequest,
    #[serde(default)]
    pub pasted: Option<sidekey_flow::Secret>,
    /// Who pasted it (a refusal is worded after them, never in the paste's own words).
    #[serde(default)]
    pub pasted_by: Option<Starter>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Outcome {
    pub at: i64,
    pub exit_code: Exit,
    pub reason: Option<Reason>,
    pub message: String,
}

impl Pending {
    pub fn expires_at(&self) -> i64 {
        self.received_at.saturating_add(self.auth.expires_in as i64)
    }

    /// Still worth polling: not finished and the code has not expired.
    pub fn resumable(&self, now: i64) -> bool {
        self.outcome.is_none() && self.expires_at() > now + 1
    }

    /// The authorization as of `now`: what is left of its lifetime.
    pub fn remaining(&self, now: i64) -> DeviceAuthorization {
        let mut a = self.auth.clone();
        a.expires_in = (self.expires_at() - now).max(0) as u64;
        a
    }

    pub fn code_event(&self, account: &str) -> Event {
        Event::Code {
            account: account.to_string(),
            provider: self.provider.clone(),
            scopes: self.scopes.clone(),
            user_code: self.auth.user_code.clone(),
            verification_uri: self.auth.verification_uri.clone(),
            verification_uri_complete: self.auth.verification_uri_complete.clone(),
            expires_at: rfc3339(self.expires_at()),
            interval: self.auth.interval,
        }
    }
}

/// The signed-in event, with the warning when the grant exceeds `configured`'s ceiling or the
/// sign-in named nobody ([`Record::warning`]).
pub fn signed_in_event(
    account: &str,
    rec: &Record,
    configured: Option<&crate::config::Account>,
) -> Event {
    Event::SignedIn {
        warning: rec.warning(account, configured),
        account: account.to_string(),
        provider: rec.provider.clone(),
        user: User {
            name: rec.user.name.clone(),
            email: rec.user.email.clone(),
        },
        scopes: rec.scopes.clone(),
        expires_at: rec.expires_at.map(rfc3339),
    }
}

pub fn failed_event(account: &str, provider: &str, f: &Failure) -> Event {
    Event::Failed {
        account: account.to_string(),
        provider: provider.to_string(),
        reason: f.reason.as_str().into(),
        message: f.message.clone(),
    }
}

/// What a sign-in waits on, for a sentence: "the code WDJB-MJHT", or "the sign-in link".
fn what(p: &Pending) -> String {
    if p.code.is_some() {
        "the sign-in link".to_string()
    } else {
        format!("the code {}", p.auth.user_code)
    }
}

/// Where a withheld code or link went, for a sentence: "the code went to telegram", or, for
/// the person's own `--replace-identity` sign-in, that it is theirs at the machine.
fn withheld_where(p: &Pending, channels: &[String]) -> String {
    let thing = if p.code.is_some() { "link" } else { "code" };
    if channels.is_empty() {
        format!("the {thing} is the person's, at the machine")
    } else {
        format!("the {thing} went to {}", channels.join(", "))
    }
}

/// Where a sign-in stands, as seen from any process.
#[derive(Debug, Clone)]
pub enum Seen {
    None,
    /// Someone is polling (or is about to, after a handover).
    Live(Pending),
    /// Nobody polls it any more and it has no outcome (killed, restarted).
    Interrupted(Pending),
    Finished(Pending, Outcome),
}

/// One account's pending slot and login lock.
#[derive(Clone)]
pub struct PendingStore {
    vault: Vault,
    account: String,
}

impl PendingStore {
    pub fn new(vault: Vault, account: &str) -> PendingStore {
        PendingStore {
            vault,
            account: account.to_string(),
        }
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The slot; one written by an older sidekey that cannot be read counts as none.
    pub fn load(&self) -> Result<Option<Pending>, Failure> {
        match self.vault.load_slot::<Pending>(&self.account, SLOT) {
            Ok(p) => Ok(p),
            Err(sidekey_vault::VaultError::Format { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Write the slot under the account lock (taken off the async threads).
    pub async fn save(&self, p: &Pending) -> Result<(), Failure> {
        let (store, p) = (self.clone(), p.clone());
        tokio::task::spawn_blocking(move || -> Result<(), Failure> {
            crate::account::lock_blocking(&store.vault, &store.account, crate::account::LOCK_WAIT)?
                .store_slot(SLOT, &p)?;
            Ok(())
        })
        .await
        .map_err(|_| Failure::internal("a worker thread failed"))?
    }

    /// Become the account's poller, if nobody else is.
    pub fn claim(&self) -> Result<Option<NamedLock>, Failure> {
        Ok(self.vault.try_lock_named(&self.account, LOCK)?)
    }

    /// Is anybody polling `p` right now (or taking over after a handover)?
    fn live(&self, p: &Pending, now: i64) -> Result<bool, Failure> {
        if p.handover_at.is_some_and(|h| now - h <= HANDOVER_SECS) {
            return Ok(true);
        }
        Ok(self.claim()?.is_none())
    }

    pub fn seen(&self, now: i64) -> Result<Seen, Failure> {
        let Some(p) = self.load()? else {
            return Ok(Seen::None);
        };
        if let Some(o) = p.outcome.clone() {
            return Ok(Seen::Finished(p, o));
        }
        if self.live(&p, now)? {
            return Ok(Seen::Live(p));
        }
        // The poller stores its outcome, then lets go of the lock: it may have done both
        // between the load above and the lock check. Read again before saying "interrupted".
        Ok(match self.load()? {
            Some(q) => match q.outcome.clone() {
                Some(o) => Seen::Finished(q, o),
                None => Seen::Interrupted(p),
            },
            None => Seen::Interrupted(p),
        })
    }

    /// What `status` says about a sign-in: `(pending?, expires_at, note)`. `withheld`: the
    /// sign-in's code and link are not the reader's (`Some`, with the channels they went to,
    /// empty for the person's own `--replace-identity` sign-in); the note then names neither.
    pub fn status_note(
        &self,
        now: i64,
        withheld: Option<&[String]>,
    ) -> Result<Option<(bool, i64, String)>, Failure> {
        let name = &self.account;
        let what = |p: &Pending| match withheld {
            Some(_) => "it".to_string(),
            None => what(p),
        };
        Ok(match self.seen(now)? {
            Seen::None => None,
            Seen::Finished(_, o) if o.exit_code == Exit::Ok => None,
            Seen::Finished(p, o) => Some((
                false,
                p.expires_at(),
                format!("last sign-in at {}: {}", rfc3339(o.at), o.message),
            )),
            Seen::Live(p) => Some((
                true,
                p.expires_at(),
                if let Some(names) = withheld {
                    format!(
                        "waiting for the person to sign in ({}) until {}",
                        withheld_where(&p, names),
                        rfc3339(p.expires_at())
                    )
                } else if p.code.is_some() {
                    format!(
                        "waiting for the browser's redirect (or `sidekey login {name} --paste-url URL`) until {}",
                        rfc3339(p.expires_at())
                    )
                } else {
                    format!(
                        "waiting for the code {} until {}",
                        p.auth.user_code,
                        rfc3339(p.expires_at())
                    )
                },
            )),
            Seen::Interrupted(p) if p.expires_at() > now => Some((
                false,
                p.expires_at(),
                format!(
                    "the sign-in stopped (its process ended, e.g. a restart); `sidekey login {name}` resumes {} until {}",
                    what(&p),
                    rfc3339(p.expires_at())
                ),
            )),
            Seen::Interrupted(p) => Some((
                false,
                p.expires_at(),
                format!(
                    "a sign-in was interrupted (e.g. by a restart) and its {} expired at {}",
                    if p.code.is_some() { "link" } else { "code" },
                    rfc3339(p.expires_at())
                ),
            )),
        })
    }

    /// Forget the slot (logout).
    pub fn remove(lock: &sidekey_vault::AccountLock) -> Result<(), Failure> {
        Ok(lock.remove_slot(SLOT)?)
    }
}

/// A device-code sign-in for tests: `code` shown, received at `received_at`.
#[cfg(test)]
pub(crate) fn for_test(code: &str, received_at: i64, handover_at: Option<i64>) -> Pending {
    Pending {
        auth: sidekey_flow::DeviceAuthorization {
            device_code: sidekey_flow::Secret::new("device-code-0123456789"),
            user_code: code.into(),
            verification_uri: "http://127.0.0.1:9/device".into(),
            verification_uri_complete: None,
            message: None,
            expires_in: 600,
            interval: 5,
        },
        received_at,
        provider: "oidc".into(),
        scopes: vec![],
        device_endpoint: "http://127.0.0.1:9/device".into(),
        token_endpoint: "http://127.0.0.1:9/token".into(),
        revocation_endpoint: None,
        userinfo_endpoint: None,
        handover_at,
        code: None,
        notify_code: false,
        replace_identity: false,
        told: false,
        started_by: Starter::Person,
        outcome: None,
    }
}
