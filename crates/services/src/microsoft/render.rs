//! Readable text for each operation's result (the CLI's default output; `--json` prints the
//! serde form instead). Times are shown in the zone passed in; every string that came from
//! Graph goes through the control-character filter of each item's `human`.

use jiff::tz::TimeZone;

use crate::microsoft::dashboard::{Dashboard, Section};
use crate::microsoft::graph::tz_name;
use crate::microsoft::model::{
    Birthday, CalendarEvent, DriveItem, MailMessage, Me, RecentFiles, RecentSource,
};
use crate::microsoft::window::Window;

fn list<T>(items: &[T], empty: &str, one: impl Fn(&T) -> String) -> String {
    if items.is_empty() {
        return empty.to_string();
    }
    items.iter().map(one).collect::<Vec<_>>().join("\n")
}

/// `ms me`.
pub fn me(me: &Me) -> String {
    me.human()
}

/// `ms files search` / `ms files recent`.
pub fn files(items: &[DriveItem], tz: &TimeZone) -> String {
    list(items, "No files found.", |f| f.human(tz))
}

/// `ms files recent`: `/me/drive/recent`'s list as it is (recently used first); the fallback
/// says what it is instead.
pub fn recent_files(r: &RecentFiles, tz: &TimeZone) -> String {
    let list = files(&r.items, tz);
    match r.source {
        RecentSource::Recent => list,
        RecentSource::Search => format!(
            "Recently modified files (approximate: /me/drive/recent gave nothing, so this is a drive search sorted by modification time)\n{list}"
        ),
    }
}

/// `ms calendar`: a header with the window, then one line per event.
pub fn calendar(events: &[CalendarEvent], window: &Window, tz: &TimeZone) -> String {
    let s = window.start.to_zoned_datetime(tz.clone());
    let e = window.end.to_zoned_datetime(tz.clone());
    let header = format!(
        "{} – {} ({})",
        s.strftime("%a %Y-%m-%d %H:%M"),
        e.strftime("%a %Y-%m-%d %H:%M %Z"),
        tz_name(tz)
    );
    format!(
        "{header}\n{}",
        list(events, "No events.", |ev| ev.human(tz))
    )
}

/// `ms mail unread`.
pub fn mail(messages: &[MailMessage], tz: &TimeZone) -> String {
    list(messages, "No unread mail.", |m| m.human(tz))
}

/// `ms contacts birthdays`.
pub fn birthdays(items: &[Birthday]) -> String {
    list(items, "No birthdays.", Birthday::human)
}

fn section<T>(
    out: &mut String,
    title: &str,
    s: &Section<T>,
    empty: &str,
    one: impl Fn(&T) -> String,
) {
    out.push_str(title);
    out.push('\n');
    if let Some(e) = &s.error {
        out.push_str(&format!("  unavailable: {e}\n"));
    } else if s.items.is_empty() {
        out.push_str(&format!("  {empty}\n"));
    } else {
        for item in &s.items {
            for line in one(item).lines() {
                out.push_str("  ");
                out.push_str(line);
                out.push('\n');
            }
        }
        if s.more {
            out.push_str("  …and more\n");
        }
    }
}

/// `ms dashboard`: four titled sections.
pub fn dashboard(d: &Dashboard, tz: &TimeZone) -> String {
    let mut out = String::new();
    let until = d
        .appointments_until
        .to_zoned_datetime(tz.clone())
        .strftime("%a %Y-%m-%d")
        .to_string();
    section(
        &mut out,
        &format!("Next appointments (until {until})"),
        &d.appointments,
        "None.",
        |e| e.human(tz),
    );
    out.push('\n');
    let files_title = match d.files_source {
        RecentSource::Recent => "Recently used files",
        RecentSource::Search => "Recently modified files (approximate, from a drive search)",
    };
    section(&mut out, files_title, &d.files, "None.", |f| f.human(tz));
    out.push('\n');
    section(&mut out, "Important unread mail", &d.mail, "None.", |m| {
        m.human(tz)
    });
    out.push('\n');
    section(
        &mut out,
        &format!(
            "Upcoming birthdays (until {})",
            d.birthdays_until.strftime("%a %Y-%m-%d")
        ),
        &d.birthdays,
        "None.",
        Birthday::human,
    );
    out.truncate(out.trim_end().len());
    out
}
