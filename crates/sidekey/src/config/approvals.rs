//! `[approvals]`: how the person approves what the agent asks under a policy's `ask` — how long
//! a request stays open, how long a call waits for the decision, and whose Telegram button
//! presses count.

use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;

/// `[approvals]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApprovals {
    expires: Option<Spanned<toml::Value>>,
    wait: Option<Spanned<toml::Value>>,
    telegram_approvers: Option<Spanned<Vec<i64>>>,
}

/// `[approvals]`, checked.
#[derive(Debug, Clone)]
pub struct Approvals {
    /// How long a request stays open (default 5 minutes, at most 30).
    pub expires: Duration,
    /// How long a call waits for the decision before it answers "pending" (default 30 s, at
    /// most 90 s; a call may ask for less).
    pub wait: Duration,
    /// The Telegram user ids whose presses count. Empty: the user of the configured private chat
    /// (`[notify.telegram] chat_id`, a positive id); in a group, nobody until this is set.
    pub telegram_approvers: Vec<i64>,
}

impl Default for Approvals {
    fn default() -> Approvals {
        Approvals {
            expires: crate::approvals::DEFAULT_EXPIRY,
            wait: crate::approvals::DEFAULT_WAIT,
            telegram_approvers: vec![],
        }
    }
}

impl Approvals {
    /// Whose presses count, given the chat the bot writes to: the listed approvers, else the
    /// private chat's user (a private chat's id is its user's id; a group's is negative).
    pub fn approvers(&self, chat_id: Option<&str>) -> Vec<i64> {
        if !self.telegram_approvers.is_empty() {
            return self.telegram_approvers.clone();
        }
        chat_id
            .and_then(|c| c.trim().parse::<i64>().ok())
            .filter(|id| *id > 0)
            .into_iter()
            .collect()
    }
}

/// A bound as the person reads it: `30 minutes`, `90 seconds`.
fn in_words(d: Duration) -> String {
    let secs = d.as_secs();
    if secs.is_multiple_of(60) {
        format!("{} minutes", secs / 60)
    } else {
        format!("{secs} seconds")
    }
}

/// Check `[approvals]`; errors name the key's span.
pub(super) fn validate(
    raw: RawApprovals,
) -> Result<Approvals, (Option<std::ops::Range<usize>>, String)> {
    let mut out = Approvals::default();
    let bounded = |v: &Spanned<toml::Value>, what: &str, max: Duration| {
        let d = super::parse_duration(v.get_ref()).ok_or_else(|| {
            (
                Some(v.span()),
                format!("[approvals] {what} must be seconds or a duration like \"5m\""),
            )
        })?;
        if d.is_zero() || d > max {
            return Err((
                Some(v.span()),
                format!(
                    "[approvals] {what} must be above 0 and at most {}",
                    in_words(max)
                ),
            ));
        }
        Ok(d)
    };
    if let Some(v) = &raw.expires {
        out.expires = bounded(v, "expires", crate::approvals::MAX_EXPIRY)?;
    }
    if let Some(v) = &raw.wait {
        out.wait = bounded(v, "wait", crate::approvals::MAX_WAIT)?;
    }
    if let Some(list) = raw.telegram_approvers {
        let span = list.span();
        let ids = list.into_inner();
        if ids.iter().any(|id| *id <= 0) {
            return Err((
                Some(span),
                "[approvals] telegram_approvers are Telegram user ids (positive numbers; a group's id is not a person)".into(),
            ));
        }
        out.telegram_approvers = ids;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Approvals, String> {
        let raw: RawApprovals = toml::from_str(text).unwrap();
        validate(raw).map_err(|(_, message)| message)
    }

    /// A bound is said as it is: `wait` goes to 90 seconds, which is not "1 minutes".
    #[test]
    fn a_value_out_of_bounds_names_the_bound() {
        assert_eq!(
            check("wait = 120").unwrap_err(),
            "[approvals] wait must be above 0 and at most 90 seconds"
        );
        assert_eq!(
            check("expires = \"31m\"").unwrap_err(),
            "[approvals] expires must be above 0 and at most 30 minutes"
        );
        assert_eq!(check("wait = 90").unwrap().wait, Duration::from_secs(90));
        assert_eq!(
            check("expires = 2").unwrap().expires,
            Duration::from_secs(2)
        );
    }
}
