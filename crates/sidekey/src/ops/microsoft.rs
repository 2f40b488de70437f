//! Microsoft 365 through Microsoft Graph, read-only: the `ms.*` operations. The Graph calls and
//! their rendering live in `sidekey-services`; this module holds the operations' arguments, their
//! checks, and the run arm of each.
//!
//! Before calling Graph the account's granted scopes are checked and a missing one is named; a
//! 401 triggers one refresh (single-flight, like `token`) and one retry, then "sign in again".

use super::call::{ServiceError, with_token, within_ceiling};
use super::{Access, OpInfo, parse_timezone, timezone};
use crate::account::Record;
use crate::context::Context;
use crate::error::{Exit, Failure, Reason};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sidekey_flow::{ProviderKind, Secret};
use sidekey_services::{BirthdayFilter, Graph, GraphError, Window, render};

pub const PROVIDER: ProviderKind = ProviderKind::Microsoft;

/// A named calendar window, in the person's time zone.
#[derive(
    Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum When {
    Today,
    Tomorrow,
    TomorrowAfternoon,
    ThisWeek,
    #[value(name = "next-7-days")]
    #[serde(rename = "next-7-days")]
    Next7Days,
}

impl Default for Span {
    fn default() -> Span {
        Span::Named(When::Today)
    }
}

impl When {
    fn name(self) -> &'static str {
        match self {
            When::Today => "today",
            When::Tomorrow => "tomorrow",
            When::TomorrowAfternoon => "tomorrow-afternoon",
            When::ThisWeek => "this-week",
            When::Next7Days => "next-7-days",
        }
    }
}

/// Which calendar window: a named one, or explicit bounds (RFC 3339, or a date/time in the zone).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Span {
    /// A named window: today, tomorrow, tomorrow-afternoon, this-week or next-7-days.
    Named(When),
    /// Explicit bounds: RFC 3339 (`2026-12-01T09:00:00Z`), or a date or date-time in the time zone.
    Between { from: String, to: String },
}

/// Which birthdays.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Birthdays {
    /// This month's, in the person's time zone.
    #[default]
    ThisMonth,
    /// One month's, 1 to 12.
    Month(#[schemars(range(min = 1, max = 12))] i8),
    /// The next N days', 1 to 366.
    NextDays(#[schemars(range(min = 1, max = 366))] u16),
}

/// How many items a listing returns when the caller does not say (the CLI's `--top` default).
fn ten() -> usize {
    10
}

/// The Microsoft operations. The tag is the operation's audit and policy name. `MsOp::iter()`
/// yields each variant once (with placeholder arguments): the catalog the policy and the skills
/// read, complete by construction. The field docs and defaults below are what an MCP client
/// sees as each tool's input schema (`JsonSchema`, see [`crate::mcp`]).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, strum::EnumIter, JsonSchema)]
#[serde(tag = "op")]
pub enum MsOp {
    #[serde(rename = "ms.me")]
    Me,
    #[serde(rename = "ms.files.search")]
    FilesSearch {
        /// Text to find in file names and contents.
        query: String,
        /// How many files at most.
        #[serde(default = "ten")]
        #[schemars(range(min = 1, max = 1000))]
        top: usize,
    },
    #[serde(rename = "ms.files.recent")]
    FilesRecent {
        /// How many files at most.
        #[serde(default = "ten")]
        #[schemars(range(min = 1, max = 1000))]
        top: usize,
    },
    #[serde(rename = "ms.files.get")]
    FilesGet {
        /// A OneDrive item id, as `ms.files.search` or `ms.files.recent` return it.
        id: String,
    },
    #[serde(rename = "ms.calendar")]
    Calendar {
        /// The window (default: today).
        #[serde(default)]
        span: Span,
        /// IANA time zone, e.g. Europe/Berlin (default: the config's, else the machine's).
        #[serde(default)]
        tz: Option<String>,
    },
    #[serde(rename = "ms.mail.unread")]
    MailUnread {
        /// Only mail from this address or domain.
        #[serde(default)]
        from: Option<String>,
        /// How many messages at most.
        #[serde(default = "ten")]
        #[schemars(range(min = 1, max = 1000))]
        top: usize,
        /// IANA time zone for the times shown.
        #[serde(default)]
        tz: Option<String>,
    },
    #[serde(rename = "ms.contacts.birthdays")]
    Birthdays {
        /// Which birthdays (default: this month's).
        #[serde(default)]
        which: Birthdays,
    },
    #[serde(rename = "ms.dashboard")]
    Dashboard {
        /// IANA time zone for the times shown.
        #[serde(default)]
        tz: Option<String>,
    },
}

impl MsOp {
    pub fn info(&self) -> &'static OpInfo {
        use Access::Read;
        match self {
            MsOp::Me => &OpInfo {
                name: "ms.me",
                access: Read,
                summary: "who is signed in",
                usage: "sidekey ms me",
            },
            MsOp::FilesSearch { .. } => &OpInfo {
                name: "ms.files.search",
                access: Read,
                summary: "OneDrive files matching a text (names and content)",
                usage: "sidekey ms files search \"tax documents 2025\" [--top N]",
            },
            MsOp::FilesRecent { .. } => &OpInfo {
                name: "ms.files.recent",
                access: Read,
                summary: "recently used OneDrive files",
                usage: "sidekey ms files recent [--top N]",
            },
            MsOp::FilesGet { .. } => &OpInfo {
                name: "ms.files.get",
                access: Read,
                summary: "one OneDrive item's details by its id (from search or recent)",
                usage: "sidekey ms files get ITEM_ID",
            },
            MsOp::Calendar { .. } => &OpInfo {
                name: "ms.calendar",
                access: Read,
                summary: "events in a window: `--when` today, tomorrow, tomorrow-afternoon, this-week or next-7-days, or `--from 2026-12-01 --to 2026-12-08`; all-day events are marked",
                usage: "sidekey ms calendar --when tomorrow-afternoon",
            },
            MsOp::MailUnread { .. } => &OpInfo {
                name: "ms.mail.unread",
                access: Read,
                summary: "unread mail (sender, subject, time; no bodies), optionally from one address or domain",
                usage: "sidekey ms mail unread --from bank.example [--top N]",
            },
            MsOp::Birthdays { .. } => &OpInfo {
                name: "ms.contacts.birthdays",
                access: Read,
                summary: "contacts' birthdays: `--month 12`, or `--next-days 30`",
                usage: "sidekey ms contacts birthdays --next-days 30",
            },
            MsOp::Dashboard { .. } => &OpInfo {
                name: "ms.dashboard",
                access: Read,
                summary: "next appointments, recent files, important unread mail and upcoming birthdays in one request",
                usage: "sidekey ms dashboard",
            },
        }
    }

    /// The operation's name without the `ms.` prefix, as `sidekey-services` names its scope needs.
    fn graph_name(&self) -> &'static str {
        let n = self.info().name;
        n.strip_prefix("ms.").unwrap_or(n)
    }

    fn tz(&self) -> Option<&str> {
        match self {
            MsOp::Calendar { tz, .. } | MsOp::MailUnread { tz, .. } | MsOp::Dashboard { tz } => {
                tz.as_deref()
            }
            _ => None,
        }
    }

    pub fn validate(&self) -> Result<(), Failure> {
        if let Some(tz) = self.tz() {
            parse_timezone(tz)?;
        }
        match self {
            MsOp::Calendar {
                span: Span::Between { from, to },
                ..
            } => {
                // The bounds' zone is known only when it runs (the config's); a bound that does
                // not parse in UTC parses in no zone.
                Window::between(from, to, &jiff::tz::TimeZone::UTC).map_err(Failure::usage)?;
            }
            MsOp::Birthdays {
                which: Birthdays::Month(m),
            } if !(1..=12).contains(m) => {
                return Err(Failure::usage(format!("--month {m}: use 1 to 12")));
            }
            MsOp::Birthdays {
                which: Birthdays::NextDays(n),
            } if !(1..=366).contains(n) => {
                return Err(Failure::usage(format!("--next-days {n}: use 1 to 366")));
            }
            // `.` and `..` would be resolved as path steps, not sent as an id.
            MsOp::FilesGet { id }
                if id.trim().is_empty() || id.len() > 400 || id == "." || id == ".." =>
            {
                return Err(Failure::usage(format!(
                    "'{}' is not an item id (use an id from `ms files search` or `ms files recent`)",
                    sidekey_flow::response::one_line(id, 60)
                )));
            }
            _ => {}
        }
        Ok(())
    }

    pub fn audit_args(&self) -> Value {
        match self {
            MsOp::Me => json!({}),
            MsOp::FilesSearch { top, .. } => json!({"query": true, "top": top}),
            MsOp::FilesRecent { top } => json!({"top": top}),
            MsOp::FilesGet { .. } => json!({"id": true}),
            MsOp::Calendar { span, tz } => match span {
                Span::Named(w) => json!({"when": w.name(), "tz": tz.is_some()}),
                Span::Between { .. } => json!({"from_to": true, "tz": tz.is_some()}),
            },
            MsOp::MailUnread { from, top, tz } => {
                json!({"sender": from.is_some(), "top": top, "tz": tz.is_some()})
            }
            MsOp::Birthdays { which } => json!({"which": which}),
            MsOp::Dashboard { tz } => json!({"tz": tz.is_some()}),
        }
    }
}

/// Run `op` for account `name`: check the granted scopes, call Graph, refresh once on a 401.
pub async fn run(ctx: &Context, name: &str, op: &MsOp) -> Result<(Value, String), Failure> {
    let account = ctx.config.account(name)?;
    let tz = timezone(ctx, op.tz())?;
    // Configured, or derived from the authority's cloud by the config (never guessed here).
    let base = account
        .api_base
        .as_deref()
        .ok_or_else(|| Failure::internal("no Microsoft Graph address"))?;
    let graph = Graph::new(ctx.http()?.client().clone(), base);
    let check = |rec: &Record| {
        let covers = |granted: &[String]| {
            sidekey_services::missing_scope(op.graph_name(), granted).is_none()
        };
        // The ceiling holds for what was granted: an operation that needs a scope the provider
        // granted beyond it (consented earlier, returned again by Entra) is refused.
        if covers(&rec.scopes)
            && let Some(needed) = sidekey_services::missing_scope(
                op.graph_name(),
                &within_ceiling(account, &rec.scopes),
            )
        {
            return Err(Failure::policy(format!(
                "policy: `ms {}` needs {needed}, which '{name}' was granted beyond its ceiling ({}); add it to [accounts.{name}.policy] allowed_scopes if that is intended",
                op.graph_name().replace('.', " "),
                account.policy.ceiling(&account.scopes).join(" ")
            )));
        }
        if let Some(missing) = sidekey_services::missing_scope(op.graph_name(), &rec.scopes) {
            if matches!(op, MsOp::Dashboard { .. }) {
                // Each dashboard section fails on its own: show what can be shown.
                eprintln!(
                    "sidekey: warning: '{name}' was not granted {missing}; those dashboard sections stay empty"
                );
            } else {
                return Err(Failure::new(
                    Exit::NotSignedIn,
                    Reason::MissingScope,
                    format!(
                        "'{name}' was not granted {missing}, which `ms {}` needs: add it to the account's scopes and run `sidekey login {name}`",
                        op.graph_name().replace('.', " ")
                    ),
                ));
            }
        }
        Ok(())
    };
    // Dashboard sections carry their own error texts: the loop scrubs the whole reply.
    let (graph, tz) = (&graph, &tz);
    with_token(ctx, name, &(), check, |t: Secret| async move {
        call(graph, t.expose(), op, tz).await
    })
    .await
}

impl ServiceError for GraphError {
    type Op = ();

    fn is_unauthorized(&self) -> bool {
        GraphError::is_unauthorized(self)
    }

    fn refused_again(account: &str) -> Failure {
        Failure::reauth(account, "Microsoft Graph refused the refreshed token")
    }

    fn into_failure(self, name: &str, _: &()) -> Failure {
        let msg = self.to_string();
        match self {
            GraphError::Unauthorized => Failure::reauth(name, &msg),
            GraphError::Forbidden { .. } => Failure::new(
                Exit::NotSignedIn,
                Reason::MissingScope,
                format!("{msg} (then run `sidekey login {name}`)"),
            ),
            GraphError::Throttled { .. } | GraphError::Network(_) => Failure::network(msg),
            _ => Failure::new(Exit::Provider, Reason::ProviderError, msg),
        }
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<Value, GraphError> {
    serde_json::to_value(v).map_err(|e| GraphError::Malformed(e.to_string()))
}

async fn call(
    g: &Graph,
    token: &str,
    op: &MsOp,
    tz: &jiff::tz::TimeZone,
) -> Result<(Value, String), GraphError> {
    let now = jiff::Timestamp::now();
    match op {
        MsOp::Me => {
            let me = g.me(token).await?;
            Ok((to_json(&me)?, render::me(&me)))
        }
        MsOp::FilesSearch { query, top } => {
            let items = g.files_search(token, query, *top).await?;
            Ok((
                json!({"query": query, "items": to_json(&items)?}),
                render::files(&items, tz),
            ))
        }
        MsOp::FilesRecent { top } => {
            let recent = g.files_recent_detailed(token, *top).await?;
            Ok((to_json(&recent)?, render::recent_files(&recent, tz)))
        }
        MsOp::FilesGet { id } => {
            let item = g.file(token, id).await?;
            Ok((
                to_json(&item)?,
                render::files(std::slice::from_ref(&item), tz),
            ))
        }
        MsOp::Calendar { span, .. } => {
            let window = match span {
                Span::Between { from, to } => Window::between(from, to, tz),
                Span::Named(w) => Window::named(w.name(), now, tz),
            }
            .map_err(GraphError::Invalid)?;
            let events = g.calendar(token, &window, tz).await?;
            Ok((
                json!({"start": window.start.to_string(), "end": window.end.to_string(), "time_zone": tz.iana_name(), "events": to_json(&events)?}),
                render::calendar(&events, &window, tz),
            ))
        }
        MsOp::MailUnread { from, top, .. } => {
            let msgs = g.unread_mail(token, from.as_deref(), *top).await?;
            Ok((
                json!({"from": from, "messages": to_json(&msgs)?}),
                render::mail(&msgs, tz),
            ))
        }
        MsOp::Birthdays { which } => {
            let today = now.to_zoned_datetime(tz.clone()).date();
            let filter = match which {
                Birthdays::Month(m) => BirthdayFilter::Month(*m),
                Birthdays::NextDays(n) => BirthdayFilter::NextDays(*n),
                Birthdays::ThisMonth => BirthdayFilter::Month(today.month()),
            };
            let items = g.birthdays(token, filter, today).await?;
            Ok((
                json!({"birthdays": to_json(&items)?}),
                render::birthdays(&items),
            ))
        }
        MsOp::Dashboard { .. } => {
            let d = g.dashboard(token, now, tz).await?;
            Ok((to_json(&d)?, render::dashboard(&d, tz)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn bad_arguments_fail_before_any_request() {
        let bad = [
            MsOp::Calendar {
                span: Span::Between {
                    from: "someday".into(),
                    to: "later".into(),
                },
                tz: None,
            },
            MsOp::Dashboard {
                tz: Some("Mars/Olympus".into()),
            },
            MsOp::Birthdays {
                which: Birthdays::Month(13),
            },
            MsOp::FilesGet { id: " ".into() },
        ];
        for op in bad {
            let f = op.validate().unwrap_err();
            assert_eq!(f.exit, Exit::Usage, "{op:?}: {f:?}");
        }
        let ok = MsOp::Calendar {
            span: Span::Between {
                from: "2026-12-01".into(),
                to: "2026-12-08".into(),
            },
            tz: Some("Europe/Berlin".into()),
        };
        assert!(ok.validate().is_ok());
    }

    /// A Microsoft account configured without `scopes` can run every `ms` operation.
    #[test]
    fn the_default_scopes_cover_every_operation() {
        let defaults: Vec<String> = PROVIDER
            .dialect()
            .default_scopes()
            .iter()
            .map(|s| s.to_string())
            .collect();
        for op in MsOp::iter() {
            assert_eq!(
                sidekey_services::missing_scope(op.graph_name(), &defaults),
                None,
                "{}",
                op.info().name
            );
        }
    }

    #[test]
    fn the_wire_form_is_flat() {
        let op = MsOp::Calendar {
            span: Span::Named(When::TomorrowAfternoon),
            tz: None,
        };
        let v = serde_json::to_value(&op).unwrap();
        assert_eq!(
            v,
            json!({"op": "ms.calendar", "span": {"named": "tomorrow-afternoon"}, "tz": null})
        );
    }

    #[test]
    fn audit_args_hold_no_values() {
        let op = MsOp::MailUnread {
            from: Some("o'brien@bank.example".into()),
            top: 5,
            tz: None,
        };
        let text = op.audit_args().to_string();
        assert!(!text.contains("brien"), "{text}");
        let op = MsOp::FilesSearch {
            query: "divorce papers".into(),
            top: 5,
        };
        assert!(!op.audit_args().to_string().contains("divorce"));
    }
}
