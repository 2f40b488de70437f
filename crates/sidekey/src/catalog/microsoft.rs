//! The Microsoft 365 operations (`ms.*`, through Microsoft Graph: reads, and four writes the
//! policy must allow): their typed arguments, what each is ([`OpInfo`]), the argument checks
//! that run before any token is fetched, what the audit keeps and what the person reads before
//! approving one. The writes' checks and words are in [`writes`]. Running them is
//! `crate::ops::microsoft`.

pub mod writes;

pub use writes::Conflict;

use super::{Access, OpInfo, parse_timezone};
use crate::error::Failure;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sidekey_flow::ProviderKind;
use sidekey_services::microsoft::{GraphOp, Named, Window};

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
    /// The window it names, as `sidekey-services` computes it.
    pub fn window(self) -> Named {
        match self {
            When::Today => Named::Today,
            When::Tomorrow => Named::Tomorrow,
            When::TomorrowAfternoon => Named::TomorrowAfternoon,
            When::ThisWeek => Named::ThisWeek,
            When::Next7Days => Named::Next7Days,
        }
    }

    pub fn name(self) -> &'static str {
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
    #[serde(rename = "ms.calendar.create")]
    CalendarCreate {
        /// The event's title (at most 255 characters).
        subject: String,
        /// When it starts: a date and time in the time zone (2026-12-08T10:00), or RFC 3339
        /// with an offset.
        start: String,
        /// When it ends, in the same forms; give this or duration_minutes.
        #[serde(default)]
        end: Option<String>,
        /// How long it lasts, in minutes (1 to 1440); give this or end.
        #[serde(default)]
        #[schemars(range(min = 1, max = 1440))]
        duration_minutes: Option<u32>,
        /// IANA time zone of start and end, e.g. Europe/Berlin (default: the config's, else
        /// the machine's).
        #[serde(default)]
        tz: Option<String>,
        /// Where it takes place.
        #[serde(default)]
        location: Option<String>,
        /// Mail addresses to invite (at most 100): Outlook sends each an invitation.
        #[serde(default)]
        attendees: Vec<String>,
        /// Plain text for the event's description (at most 1 MB).
        #[serde(default)]
        body: Option<String>,
    },
    #[serde(rename = "ms.mail.send")]
    MailSend {
        /// Recipients' mail addresses (at least one).
        to: Vec<String>,
        /// Copy recipients' mail addresses (to and cc: at most 100 in all).
        #[serde(default)]
        cc: Vec<String>,
        /// The subject (at most 255 characters).
        subject: String,
        /// The mail's plain text (at most 1 MB).
        body: String,
    },
    #[serde(rename = "ms.files.upload")]
    FilesUpload {
        /// Where in OneDrive, from the drive's root: folder/name.ext.
        path: String,
        /// The file's bytes, base64 (at most 4 MB once decoded).
        content_base64: String,
        /// If a file of that name exists: fail (the default), rename (keep both) or replace.
        #[serde(default)]
        conflict: Conflict,
    },
    #[serde(rename = "ms.onenote.create")]
    OnenoteCreate {
        /// A section of the default notebook, by name (created when there is none): at most
        /// 50 characters, none of ? * \ / : < > | & # " % ~.
        section: String,
        /// The page's title (at most 255 characters).
        title: String,
        /// The page's plain text; blank lines separate paragraphs (at most 1 MB).
        text: String,
    },
}

impl MsOp {
    /// What the person reads before approving it (times in `zone`): see
    /// [`super::Description`]. Reads are never asked about; they say only what they are.
    pub fn describe(&self, zone: &jiff::tz::TimeZone) -> super::Description {
        writes::describe(self, zone).unwrap_or_else(|| super::Description::new(self.info().summary))
    }

    pub fn info(&self) -> &'static OpInfo {
        use Access::{Read, Write};
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
            MsOp::CalendarCreate { .. } => &OpInfo {
                name: "ms.calendar.create",
                access: Write,
                summary: "create an Outlook calendar event: subject (≤ 255 characters), start, `--end` or `--duration` (1–1440 minutes), optional place, attendees (≤ 100; each gets an invitation) and text (≤ 1 MB); sent again after a lost answer without making a second one",
                usage: "sidekey ms calendar create --subject \"Dentist\" --start 2026-12-08T10:00 --duration 30 [--location …] [--attendee a@example.com] [--body-from FILE|-]",
            },
            MsOp::MailSend { .. } => &OpInfo {
                name: "ms.mail.send",
                access: Write,
                summary: "send a text mail (to ≥ 1, cc; ≤ 100 addresses, subject ≤ 255 characters, text ≤ 1 MB), kept in Sent Items; never sent twice: a lost answer says to check Sent Items",
                usage: "sidekey ms mail send --to bob@example.com [--cc …] --subject \"Lunch?\" --body-from FILE|-",
            },
            MsOp::FilesUpload { .. } => &OpInfo {
                name: "ms.files.upload",
                access: Write,
                summary: "upload a file of at most 4 MB to a OneDrive path; an existing file is never replaced unless `--conflict replace` (or `rename` to keep both)",
                usage: "sidekey ms files upload Notes/plan.txt --from FILE|- [--conflict fail|rename|replace]",
            },
            MsOp::OnenoteCreate { .. } => &OpInfo {
                name: "ms.onenote.create",
                access: Write,
                summary: "create a OneNote page in a section of the default notebook, by name (created if missing; ≤ 50 characters), with a title (≤ 255 characters) and plain text (≤ 1 MB)",
                usage: "sidekey ms onenote create --section \"Agent notes\" --title \"Plan\" --from FILE|-",
            },
        }
    }

    /// What the operation is to Graph's scope table: an exhaustive match, so an operation
    /// cannot be added without its scopes.
    pub fn graph_op(&self) -> GraphOp {
        match self {
            MsOp::Me => GraphOp::Me,
            MsOp::FilesSearch { .. } => GraphOp::FilesSearch,
            MsOp::FilesRecent { .. } => GraphOp::FilesRecent,
            MsOp::FilesGet { .. } => GraphOp::FilesGet,
            MsOp::Calendar { .. } => GraphOp::Calendar,
            MsOp::MailUnread { .. } => GraphOp::MailUnread,
            MsOp::Birthdays { .. } => GraphOp::Birthdays,
            MsOp::Dashboard { .. } => GraphOp::Dashboard,
            MsOp::CalendarCreate { .. } => GraphOp::CalendarCreate,
            MsOp::MailSend { .. } => GraphOp::MailSend,
            MsOp::FilesUpload { .. } => GraphOp::FilesUpload,
            MsOp::OnenoteCreate { .. } => GraphOp::OnenoteCreate,
        }
    }

    /// The operation's name without the `ms.` prefix (`files.search`), for messages.
    pub fn graph_name(&self) -> &'static str {
        let n = self.info().name;
        n.strip_prefix("ms.").unwrap_or(n)
    }

    /// The time zone the operation names, if any.
    pub fn tz(&self) -> Option<&str> {
        match self {
            MsOp::Calendar { tz, .. }
            | MsOp::MailUnread { tz, .. }
            | MsOp::Dashboard { tz }
            | MsOp::CalendarCreate { tz, .. } => tz.as_deref(),
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
            _ => writes::validate(self)?,
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
            _ => writes::audit_args(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Exit;
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

    /// A Microsoft account configured without `scopes` can run every `ms` read, and no write:
    /// the default sign-in asks for nothing that changes anything.
    #[test]
    fn the_default_scopes_cover_every_read_and_no_write() {
        let defaults: Vec<String> = PROVIDER
            .dialect()
            .default_scopes()
            .iter()
            .map(|s| s.to_string())
            .collect();
        for op in MsOp::iter() {
            let missing = op.graph_op().missing(&defaults);
            match op.info().access {
                Access::Read => assert_eq!(missing, None, "{}", op.info().name),
                _ => assert!(missing.is_some(), "{}", op.info().name),
            }
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
