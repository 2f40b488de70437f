//! One service call, written once for every service: a fresh token, the operation's scope and
//! ceiling checks, the call, one refresh and one retry when the service rejects the token (HTTP
//! 401), every token sent scrubbed from what comes back, and the service's error mapped to a
//! [`Failure`] in the service's own words.
//!
//! The retry runs the whole call again, so it happens only while the call has written nothing:
//! an operation that made a change and then had its token refused (a Docs revision whose
//! verifying read got the 401, a created document whose read-back did) is never run a second
//! time — that would apply the change twice. It fails instead, saying the change was made
//! ([`Writes`], [`ServiceError::refused_after_writing`]).
//!
//! Each service's run module implements [`ServiceError`] for its client's error type and hands
//! [`with_token`] its call match; nothing else about tokens is written per service. (oauth2-rs
//! sends every grant through one request/response pair in the same way.)

use crate::account::{Record, fresh_token, replace_rejected_token};
use crate::config::Account;
use crate::context::Context;
use crate::error::{Exit, Failure, Reason};
use serde_json::Value;
use sidekey_flow::Secret;
use std::future::Future;

/// A service client's error, as the call loop needs to see it.
pub trait ServiceError: Sized {
    /// What the failure's words need besides the account name (the operation, a setting).
    type Op: ?Sized;
    /// The service rejected the token itself: worth one refresh and one retry.
    fn is_unauthorized(&self) -> bool;
    /// The refreshed token was rejected too: the person signs in again.
    fn refused_again(account: &str) -> Failure;
    /// Any other error, for `account` running `op`: the exit code and message the person sees.
    fn into_failure(self, account: &str, op: &Self::Op) -> Failure;
    /// The token was refused after the call had made the changes `done` (see [`Writes`]): they
    /// are not made again. Services whose operations write say what to check.
    fn refused_after_writing(account: &str, done: &[String]) -> Failure {
        refused_after_writing(account, "the service", done, "read it back")
    }
}

/// The changes one run of an operation made at the service, in a few words each, in order. A
/// rejected token after one of them is not answered by running the operation again (see the
/// module's words); each service's run arm records a write right after the service confirmed
/// it.
#[derive(Debug, Default)]
pub struct Writes(std::sync::Mutex<Vec<String>>);

impl Writes {
    /// The service confirmed this change.
    pub fn record(&self, what: impl Into<String>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(what.into());
    }

    /// Every change recorded so far.
    pub fn made(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The failure of a call whose token `service` refused after it had made the changes `done`:
/// exit 5, reason `written_unconfirmed`, saying what was done, that it was not repeated, and
/// what to do (`check`: how to see the change).
pub fn refused_after_writing(
    account: &str,
    service: &str,
    done: &[String],
    check: &str,
) -> Failure {
    Failure::new(
        Exit::Provider,
        Reason::WrittenUnconfirmed,
        format!(
            "the change was made ({}), then {service} refused the access token of '{account}' (HTTP 401) before sidekey could finish; it was not made again: {check} before running it again, and run `sidekey login {account}` if {service} refuses the next call too",
            done.join("; ")
        ),
    )
}

/// Every token one run sent (the account's, the refreshed one, any other a service used).
#[derive(Debug, Default)]
pub struct Sent(Vec<String>);

impl Sent {
    pub fn push(&mut self, token: &str) {
        self.0.push(token.to_string());
    }

    fn secrets(&self) -> Vec<&str> {
        self.0.iter().map(String::as_str).collect()
    }

    /// `text` without any of the tokens (as sent or percent-encoded).
    pub fn scrub(&self, text: &str) -> String {
        sidekey_flow::response::scrub(text, &self.secrets())
    }

    /// `value` without any of the tokens; a value that holds one and no longer parses once
    /// scrubbed becomes `null`.
    pub fn scrub_value(&self, value: Value) -> Value {
        if self.holds(&value) {
            serde_json::from_str(&self.scrub(&value.to_string())).unwrap_or(Value::Null)
        } else {
            value
        }
    }

    /// Whether `value` holds one of the tokens as sent.
    fn holds(&self, value: &Value) -> bool {
        let raw = value.to_string();
        self.0.iter().any(|t| raw.contains(t.as_str()))
    }

    pub fn scrub_failure(&self, mut f: Failure) -> Failure {
        f.message = self.scrub(&f.message);
        f
    }
}

/// What a call returns, with the tokens sent scrubbed out of it.
pub trait Reply {
    fn scrubbed(self, sent: &Sent) -> Self;
}

/// `(JSON result, text for a person)`, what every operation returns.
impl Reply for (Value, String) {
    fn scrubbed(self, sent: &Sent) -> Self {
        let (value, text) = self;
        (sent.scrub_value(value), sent.scrub(&text))
    }
}

/// A typed listing (AWS accounts, roles): scrubbed through its JSON form, like the JSON result
/// above (a listing that no longer parses once scrubbed comes back empty).
impl<T: serde::Serialize + serde::de::DeserializeOwned> Reply for Vec<T> {
    fn scrubbed(self, sent: &Sent) -> Self {
        match serde_json::to_value(&self) {
            Ok(v) if sent.holds(&v) => {
                serde_json::from_value(sent.scrub_value(v)).unwrap_or_default()
            }
            _ => self,
        }
    }
}

/// The outcome of [`attempt`]: the service's own result, the tokens the call sent, and the
/// changes it made ([`Writes`]).
pub struct Called<T, E> {
    pub result: Result<T, E>,
    pub sent: Sent,
    pub wrote: Vec<String>,
}

impl<T: Reply, E: ServiceError> Called<T, E> {
    /// The result as the person sees it: scrubbed, the error mapped by the service.
    pub fn finish(self, account: &str, op: &E::Op) -> Result<T, Failure> {
        match self.result {
            Ok(v) => Ok(v.scrubbed(&self.sent)),
            Err(e) if e.is_unauthorized() && !self.wrote.is_empty() => Err(self
                .sent
                .scrub_failure(E::refused_after_writing(account, &self.wrote))),
            Err(e) if e.is_unauthorized() => Err(E::refused_again(account)),
            Err(e) => Err(self.sent.scrub_failure(e.into_failure(account, op))),
        }
    }
}

/// The loop itself: a fresh token for `account`, `check` on what it was granted, `call` with
/// it and, when the service rejects it before `call` recorded any change in `writes`, one
/// refresh (single-flight, like `token`) and one more `call`. After a change nothing is
/// repeated: the rejection stays the result, and [`Called::finish`] says the change was made.
/// The service's error is left as it is (a second rejection included), for a service that must
/// see it before it is mapped (YouTube's quota ledger); most callers want [`with_token`].
pub async fn attempt<T, E, F, Fut>(
    ctx: &Context,
    account: &str,
    check: impl FnOnce(&Record) -> Result<(), Failure>,
    writes: &Writes,
    mut call: F,
) -> Result<Called<T, E>, Failure>
where
    E: ServiceError,
    F: FnMut(Secret) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let rec = fresh_token(ctx, account).await?;
    check(&rec)?;
    let mut sent = Sent::default();
    sent.push(rec.access_token.expose());
    let result = match call(rec.access_token.clone()).await {
        Err(e) if e.is_unauthorized() && writes.made().is_empty() => {
            let again = replace_rejected_token(ctx, account, rec.access_token.expose()).await?;
            sent.push(again.access_token.expose());
            call(again.access_token.clone()).await
        }
        other => other,
    };
    Ok(Called {
        result,
        sent,
        wrote: writes.made(),
    })
}

/// [`attempt`], then [`Called::finish`]: the result scrubbed, or the service's failure. For
/// calls that change nothing at the service (they record no [`Writes`]).
pub async fn with_token<T, E, F, Fut>(
    ctx: &Context,
    account: &str,
    op: &E::Op,
    check: impl FnOnce(&Record) -> Result<(), Failure>,
    call: F,
) -> Result<T, Failure>
where
    T: Reply,
    E: ServiceError,
    F: FnMut(Secret) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    attempt(ctx, account, check, &Writes::default(), call)
        .await?
        .finish(account, op)
}

/// What the person does about a scope an operation needs and the grant lacks (the end of the
/// "was not granted" message). `asked`: the sign-in asked for a scope that would do, so the
/// person left it unticked on the consent page (Google's granular consent) or the provider
/// withheld it — signing in again and granting it is the fix, not the config
/// (docs/providers.md, "Partial grants"). Otherwise the account's scopes lack it: add `add`.
pub fn not_granted_advice(name: &str, asked: bool, add: &str) -> String {
    if asked {
        format!(
            "it was asked for but not granted (left unticked on the consent page): run `sidekey login {name}` and grant it"
        )
    } else {
        format!("add {add} to the account's scopes and run `sidekey login {name}`")
    }
}

/// What the person runs so that account `name` (configured as `account`, its last sign-in
/// `rec`) is granted `missing` too (scopes, space-separated) without losing what it holds. A
/// plain `sidekey login NAME` asks for the configured scopes only, and `--scope` replaces them,
/// so the advice is the `--scope` list of the scopes the last sign-in asked for plus the
/// missing ones — when the policy's ceiling allows them (`allowed_scopes`, else the configured
/// scopes; spelled as the ceiling spells them, which `login` compares). Beyond the ceiling the
/// config has to change first, and the advice says where. `asked`: the last sign-in asked for
/// them and they were not granted (unticked on the consent page): signing in again and granting
/// them is the fix.
pub fn add_scope_advice(
    name: &str,
    account: &Account,
    rec: &Record,
    missing: &str,
    asked: bool,
) -> String {
    use crate::policy::scope_key;
    let needed: Vec<&str> = missing.split_whitespace().collect();
    let spelled: Option<Vec<String>> = needed
        .iter()
        .map(|s| account.policy.in_ceiling(&account.scopes, s))
        .collect();
    let Some(spelled) = spelled else {
        let list = needed.join(" and ");
        let place = if account.policy.allowed_scopes.is_some() {
            format!(
                "[accounts.{name}] scopes and to [accounts.{name}.policy] allowed_scopes (the account's ceiling)"
            )
        } else {
            format!("[accounts.{name}] scopes")
        };
        return format!("add {list} to {place}, then run `sidekey login {name}`");
    };
    let current: &[String] = if rec.requested_scopes.is_empty() {
        &account.scopes
    } else {
        &rec.requested_scopes
    };
    let holds = |list: &[String], s: &str| list.iter().any(|x| scope_key(x) == scope_key(s));
    // A plain login asks for the configured scopes: enough when they hold everything.
    let plain = current.iter().all(|s| holds(&account.scopes, s))
        && needed.iter().all(|s| holds(&account.scopes, s));
    let command = if plain {
        format!("sidekey login {name}")
    } else {
        let mut all: Vec<String> = current.to_vec();
        for s in spelled {
            if !holds(&all, &s) {
                all.push(s);
            }
        }
        let flags: Vec<String> = all.iter().map(|s| format!("--scope {s}")).collect();
        format!("sidekey login {name} {}", flags.join(" "))
    };
    if asked {
        format!(
            "it was asked for but not granted (left unticked on the consent page): run `{command}` and grant it"
        )
    } else if plain {
        format!("run `{command}` to ask for it")
    } else {
        format!("run `{command}` to ask for it as well as the scopes '{name}' holds")
    }
}

/// The scopes of `granted` that lie within the account's ceiling. An operation these do not
/// cover, but `granted` does, could run only on a scope the provider granted beyond the ceiling
/// (consented earlier and returned again): the policy refuses it.
pub fn within_ceiling(account: &Account, granted: &[String]) -> Vec<String> {
    let over = account
        .policy
        .granted_over_ceiling(&account.scopes, granted);
    granted
        .iter()
        .filter(|s| !over.contains(s))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_token_sent_is_scrubbed_from_replies_and_failures() {
        let mut sent = Sent::default();
        sent.push("first-token-123");
        sent.push("second token/456");
        let (v, text) = (
            serde_json::json!({"echo": "Bearer first-token-123", "n": 1}),
            "got second%20token%2F456 back".to_string(),
        )
            .scrubbed(&sent);
        assert_eq!(v, serde_json::json!({"echo": "Bearer [redacted]", "n": 1}));
        assert_eq!(text, "got [redacted] back");
        let untouched = serde_json::json!({"n": 2});
        assert_eq!(sent.scrub_value(untouched.clone()), untouched);
        let f = sent.scrub_failure(Failure::internal("boom first-token-123"));
        assert_eq!(f.message, "boom [redacted]");
    }
}
