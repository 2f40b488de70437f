//! Readable text for each operation's result (the CLI's default output; `--json` prints the
//! serde form instead). Times are shown in the zone passed in; every string that came from
//! Graph goes through the control-character filter of each item's `human`.

use jiff::tz::TimeZone;

use crate::microsoft::dashboard::{Dashboard, Section};
use crate::microsoft::graph::tz_name;
use crate::microsoft::model::{
    Birthday, CalendarEvent, DriveItem, MailMessage, Me, RecentFiles, RecentSource, clean,
};
use crate::microsoft::window::Window;
use crate::microsoft::write::{CreatedEvent, MailDraft, OnenotePage, Uploaded, some_of};

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

/// `ms calendar create`: the event as `ms calendar` shows it, who was invited, its link.
pub fn created_event(c: &CreatedEvent, tz: &TimeZone) -> String {
    let mut out = format!("Created: {}", c.event.human(tz));
    if !c.attendees.is_empty() {
        out.push_str(&format!(
            "\nInvitations sent to {}",
            some_of(&c.attendees, 10)
        ));
    }
    if let Some(link) = &c.event.web_link {
        out.push_str(&format!("\n{}", clean(link)));
    }
    out
}

/// `ms mail send`: what Graph accepted (202: accepted for delivery, a copy in Sent Items).
pub fn mail_sent(m: &MailDraft) -> String {
    let mut to = some_of(&m.to, 10);
    if !m.cc.is_empty() {
        to.push_str(&format!(" (cc {})", some_of(&m.cc, 10)));
    }
    format!(
        "Sent \"{}\" to {to}; Microsoft accepted it for delivery and keeps a copy in Sent Items.",
        clean(&m.subject)
    )
}

/// `ms files upload`: where the file is now, and whether a file was replaced or the name
/// changed.
pub fn uploaded(u: &Uploaded, tz: &TimeZone) -> String {
    let at = if u.folder.is_empty() {
        clean(&u.item.name)
    } else {
        format!("{}/{}", clean(&u.folder), clean(&u.item.name))
    };
    let what = if u.replaced {
        "Replaced the content of"
    } else {
        "Uploaded"
    };
    format!("{what} {at}\n{}", u.item.human(tz))
}

/// `ms onenote create`: the page's title, section and link.
pub fn page_created(p: &OnenotePage) -> String {
    let mut out = format!(
        "Created the page \"{}\" in the section \"{}\"",
        clean(&p.title),
        clean(&p.section)
    );
    if let Some(u) = &p.web_url {
        out.push_str(&format!("\n{}", clean(u)));
    }
    out
}
