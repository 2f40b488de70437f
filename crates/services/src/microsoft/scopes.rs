//! Which delegated Graph permissions each operation needs, checked *before* calling Graph.
//!
//! # Why
//!
//! A 403 from Graph says "Access is denied" and nothing about which permission is missing;
//! the token's granted scopes (the token response's `scope`) do. Each operation has one or
//! more *needs* (the dashboard has four: calendar, files, mail, contacts); a need is met by any
//! one of several scopes (`Calendars.ReadBasic` or the broader `Calendars.Read`, …), least
//! privileged first. Scopes may be granted as full URLs (`https://graph.microsoft.com/Files.Read`)
//! and Graph treats them case-insensitively, so the comparison does too.

/// One need: the scopes that satisfy it, least privileged first.
type Need = &'static [&'static str];

const USER: Need = &[
    "User.Read",
    "User.ReadWrite",
    "User.ReadBasic.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const FILES: Need = &[
    "Files.Read",
    "Files.ReadWrite",
    "Files.Read.All",
    "Files.ReadWrite.All",
    "Sites.Read.All",
    "Sites.ReadWrite.All",
];
const CALENDAR: Need = &[
    "Calendars.ReadBasic",
    "Calendars.Read",
    "Calendars.ReadWrite",
];
const MAIL: Need = &["Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite"];
const CONTACTS: Need = &["Contacts.Read", "Contacts.ReadWrite"];
// The writes' least-privileged delegated permissions (each endpoint's "Permissions" table:
// docs/graph.md, "Writes").
const CALENDAR_WRITE: Need = &["Calendars.ReadWrite"];
const MAIL_SEND: Need = &["Mail.Send"];
const FILES_WRITE: Need = &[
    "Files.ReadWrite",
    "Files.ReadWrite.All",
    "Sites.ReadWrite.All",
];
const NOTES_CREATE: Need = &["Notes.Create", "Notes.ReadWrite", "Notes.ReadWrite.All"];

/// A Microsoft operation as far as its scopes go: what the caller's typed operation maps to
/// (an exhaustive match there), so an operation cannot run without a scope entry here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphOp {
    Me,
    FilesSearch,
    FilesRecent,
    FilesGet,
    Calendar,
    MailUnread,
    Birthdays,
    Dashboard,
    /// `POST /me/events`.
    CalendarCreate,
    /// `POST /me/sendMail`.
    MailSend,
    /// `PUT /me/drive/root:/{path}:/content`.
    FilesUpload,
    /// `POST /me/onenote/pages`.
    OnenoteCreate,
}

impl GraphOp {
    /// The needs of the operation (every need must be met; any one scope of a need suffices).
    pub fn needs(self) -> &'static [&'static [&'static str]] {
        match self {
            GraphOp::Me => &[USER],
            GraphOp::FilesSearch | GraphOp::FilesRecent | GraphOp::FilesGet => &[FILES],
            GraphOp::Calendar => &[CALENDAR],
            GraphOp::MailUnread => &[MAIL],
            GraphOp::Birthdays => &[CONTACTS],
            GraphOp::Dashboard => &[CALENDAR, FILES, MAIL, CONTACTS],
            GraphOp::CalendarCreate => &[CALENDAR_WRITE],
            GraphOp::MailSend => &[MAIL_SEND],
            GraphOp::FilesUpload => &[FILES_WRITE],
            GraphOp::OnenoteCreate => &[NOTES_CREATE],
        }
    }

    /// The least-privileged scope of each need: what to put in the account's `scopes` for it.
    pub fn required(self) -> &'static [&'static str] {
        match self {
            GraphOp::Me => &["User.Read"],
            GraphOp::FilesSearch | GraphOp::FilesRecent | GraphOp::FilesGet => &["Files.Read"],
            GraphOp::Calendar => &["Calendars.ReadBasic"],
            GraphOp::MailUnread => &["Mail.ReadBasic"],
            GraphOp::Birthdays => &["Contacts.Read"],
            GraphOp::Dashboard => &[
                "Calendars.ReadBasic",
                "Files.Read",
                "Mail.ReadBasic",
                "Contacts.Read",
            ],
            GraphOp::CalendarCreate => &["Calendars.ReadWrite"],
            GraphOp::MailSend => &["Mail.Send"],
            GraphOp::FilesUpload => &["Files.ReadWrite"],
            GraphOp::OnenoteCreate => &["Notes.Create"],
        }
    }

    /// The operation named `op` (`calendar`, `files.search`, …: the name after `ms.`).
    pub fn named(op: &str) -> Option<GraphOp> {
        Some(match op {
            "me" => GraphOp::Me,
            "files.search" => GraphOp::FilesSearch,
            "files.recent" => GraphOp::FilesRecent,
            "files.get" => GraphOp::FilesGet,
            "calendar" => GraphOp::Calendar,
            "mail.unread" => GraphOp::MailUnread,
            "contacts.birthdays" => GraphOp::Birthdays,
            "dashboard" => GraphOp::Dashboard,
            "calendar.create" => GraphOp::CalendarCreate,
            "mail.send" => GraphOp::MailSend,
            "files.upload" => GraphOp::FilesUpload,
            "onenote.create" => GraphOp::OnenoteCreate,
            _ => return None,
        })
    }

    /// The scopes the operation still needs given the granted ones, space-separated (the
    /// least-privileged scope of every unmet need, e.g. `"Mail.ReadBasic Contacts.Read"`), or
    /// `None` when every need is met. `granted` entries may themselves be space-separated lists
    /// (a token response's `scope` string) and full-URL scopes.
    pub fn missing(self, granted: &[String]) -> Option<String> {
        let granted: Vec<String> = granted
            .iter()
            .flat_map(|g| g.split_whitespace())
            .map(normalize)
            .collect();
        let missing: Vec<&str> = self
            .needs()
            .iter()
            .filter(|need| {
                !need
                    .iter()
                    .any(|s| granted.iter().any(|g| *g == s.to_ascii_lowercase()))
            })
            .map(|need| need[0])
            .collect();
        if missing.is_empty() {
            None
        } else {
            Some(missing.join(" "))
        }
    }
}

/// [`GraphOp::needs`] by name. Unknown operations have none.
pub fn scope_needs(op: &str) -> &'static [&'static [&'static str]] {
    GraphOp::named(op).map_or(&[], GraphOp::needs)
}

/// [`GraphOp::required`] by name: `calendar` → `["Calendars.ReadBasic"]`, `dashboard` → four
/// scopes. Unknown operations: empty.
pub fn required_scopes(op: &str) -> &'static [&'static str] {
    GraphOp::named(op).map_or(&[], GraphOp::required)
}

/// `https://graph.microsoft.com/Files.Read` → `files.read`; `Files.Read` → `files.read`.
fn normalize(scope: &str) -> String {
    let s = scope.trim();
    let lower = s.to_ascii_lowercase();
    for prefix in [
        "https://graph.microsoft.com/",
        "https://graph.microsoft.us/",
        "https://dod-graph.microsoft.us/",
        "https://graph.microsoft.de/",
        "https://microsoftgraph.chinacloudapi.cn/",
        "https://canary.graph.microsoft.com/",
    ] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    lower
}

/// [`GraphOp::missing`] by name; `None` for an unknown operation.
pub fn missing_scope(op: &str, granted: &[String]) -> Option<String> {
    GraphOp::named(op).and_then(|o| o.missing(granted))
}

/// The least-privileged scope for the need behind a Graph path (for 403 hints).
pub(crate) fn hint_for_path(path: &str) -> &'static str {
    let p = path.to_ascii_lowercase();
    if p.starts_with("/me/drive") {
        "Files.Read"
    } else if p.contains("calendar") {
        "Calendars.ReadBasic"
    } else if p.contains("messages") || p.contains("mailfolders") {
        "Mail.ReadBasic"
    } else if p.contains("contacts") {
        "Contacts.Read"
    } else {
        "User.Read"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn any_scope_of_a_need_counts_case_insensitively_and_as_url() {
        assert_eq!(missing_scope("calendar", &s(&["calendars.read"])), None);
        assert_eq!(
            missing_scope(
                "files.search",
                &s(&["https://graph.microsoft.com/Files.Read"])
            ),
            None
        );
        assert_eq!(
            missing_scope("calendar", &s(&["User.Read"])).as_deref(),
            Some("Calendars.ReadBasic")
        );
    }

    #[test]
    fn dashboard_names_every_unmet_need() {
        assert_eq!(
            missing_scope(
                "dashboard",
                &s(&["User.Read Files.Read.All Calendars.ReadBasic offline_access"])
            )
            .as_deref(),
            Some("Mail.ReadBasic Contacts.Read")
        );
        assert_eq!(
            missing_scope(
                "dashboard",
                &s(&["User.Read Files.Read Calendars.ReadBasic Mail.ReadBasic Contacts.Read"])
            ),
            None,
            "the least-privileged scope of every need covers the dashboard"
        );
    }

    #[test]
    fn required_scopes_are_the_first_of_each_need() {
        for op in [
            "me",
            "files.search",
            "files.recent",
            "calendar",
            "mail.unread",
            "contacts.birthdays",
            "dashboard",
            "calendar.create",
            "mail.send",
            "files.upload",
            "onenote.create",
        ] {
            let first: Vec<&str> = scope_needs(op).iter().map(|n| n[0]).collect();
            let mut req = required_scopes(op).to_vec();
            let mut first_sorted = first.clone();
            req.sort();
            first_sorted.sort();
            assert_eq!(req, first_sorted, "{op}");
        }
        assert!(required_scopes("nope").is_empty());
        // A read scope never covers a write.
        assert_eq!(
            missing_scope("calendar.create", &s(&["Calendars.Read"])).as_deref(),
            Some("Calendars.ReadWrite")
        );
        assert_eq!(
            missing_scope("mail.send", &s(&["Mail.ReadWrite"])).as_deref(),
            Some("Mail.Send")
        );
        assert_eq!(
            missing_scope("files.upload", &s(&["Files.Read.All"])).as_deref(),
            Some("Files.ReadWrite")
        );
        assert_eq!(
            missing_scope("onenote.create", &s(&["Notes.ReadWrite"])),
            None
        );
        assert_eq!(missing_scope("nope", &[]), None);
    }
}
