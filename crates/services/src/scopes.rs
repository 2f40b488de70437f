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

/// The needs of an operation (every need must be met; any one scope of a need suffices).
/// Unknown operations have none.
pub fn scope_needs(op: &str) -> &'static [&'static [&'static str]] {
    match op {
        "me" => &[USER],
        "files.search" | "files.recent" | "files.get" => &[FILES],
        "calendar" => &[CALENDAR],
        "mail.unread" => &[MAIL],
        "contacts.birthdays" => &[CONTACTS],
        "dashboard" => &[CALENDAR, FILES, MAIL, CONTACTS],
        _ => &[],
    }
}

/// The least-privileged scope of each need of `op` — what to put in the account's `scopes`
/// for it: `calendar` → `["Calendars.ReadBasic"]`, `dashboard` → four scopes. Alternatives
/// that also satisfy a need are in [`scope_needs`]. Unknown operations: empty.
pub fn required_scopes(op: &str) -> &'static [&'static str] {
    match op {
        "me" => &["User.Read"],
        "files.search" | "files.recent" | "files.get" => &["Files.Read"],
        "calendar" => &["Calendars.ReadBasic"],
        "mail.unread" => &["Mail.ReadBasic"],
        "contacts.birthdays" => &["Contacts.Read"],
        "dashboard" => &[
            "Calendars.ReadBasic",
            "Files.Read",
            "Mail.ReadBasic",
            "Contacts.Read",
        ],
        _ => &[],
    }
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

/// The scopes `op` still needs given the granted ones, space-separated (the least-privileged
/// scope of every unmet need, e.g. `"Mail.ReadBasic Contacts.Read"`), or `None` when every
/// need is met (or `op` is unknown). `granted` entries may themselves be space-separated
/// lists (a token response's `scope` string) and full-URL scopes.
pub fn missing_scope(op: &str, granted: &[String]) -> Option<String> {
    let granted: Vec<String> = granted
        .iter()
        .flat_map(|g| g.split_whitespace())
        .map(normalize)
        .collect();
    let missing: Vec<&str> = scope_needs(op)
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
        ] {
            let first: Vec<&str> = scope_needs(op).iter().map(|n| n[0]).collect();
            let mut req = required_scopes(op).to_vec();
            let mut first_sorted = first.clone();
            req.sort();
            first_sorted.sort();
            assert_eq!(req, first_sorted, "{op}");
        }
        assert!(required_scopes("nope").is_empty());
        assert_eq!(missing_scope("nope", &[]), None);
    }
}
