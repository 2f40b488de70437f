//! The Microsoft writes' checks, audit form and words for the person: `ms.calendar.create`,
//! `ms.mail.send`, `ms.files.upload`, `ms.onenote.create` (their variants are in [`MsOp`]).
//! The checks are the Graph client's own ([`sidekey_services::microsoft::write`]), run here
//! before any token is fetched (exit 2).

use super::MsOp;
use crate::catalog::{Description, first_lines, human_size, parse_timezone};
use crate::error::Failure;
use base64::Engine;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sidekey_services::microsoft::write::{
    self, EventDraft, MAX_RECIPIENTS, MAX_SIMPLE_UPLOAD, MailDraft, PageDraft, check_address,
};
use sidekey_services::microsoft::{instant, write::drive_path};

/// What an upload does when the name is taken.
#[derive(
    Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Conflict {
    /// Refuse: the existing file stays as it is.
    #[default]
    Fail,
    /// Keep both: the new file gets a free name (`plan 1.txt`).
    Rename,
    /// Replace the existing file's content.
    Replace,
}

impl Conflict {
    /// The same value as the Graph client takes it.
    pub fn graph(self) -> write::Conflict {
        match self {
            Conflict::Fail => write::Conflict::Fail,
            Conflict::Rename => write::Conflict::Rename,
            Conflict::Replace => write::Conflict::Replace,
        }
    }

    /// What happens to a file of the same name, for the person.
    fn words(self) -> &'static str {
        match self {
            Conflict::Fail => "fails if it exists (nothing is overwritten)",
            Conflict::Rename => "if it exists, keeps both: the new file gets another name",
            Conflict::Replace => "replaces an existing file",
        }
    }
}

/// The longest event `--duration` takes, in minutes (a day).
pub const MAX_DURATION_MINUTES: u32 = 1440;

/// An event's start and end as instants: `start` and `end` read in `tz`, or `start` plus
/// `duration_minutes`. Exactly one of `end` and `duration_minutes`.
pub fn event_times(
    start: &str,
    end: Option<&str>,
    duration_minutes: Option<u32>,
    tz: &TimeZone,
) -> Result<(Timestamp, Timestamp), Failure> {
    let s = instant(start, tz).map_err(|e| Failure::usage(format!("--start: {e}")))?;
    let e = match (end, duration_minutes) {
        (Some(_), Some(_)) => {
            return Err(Failure::usage("give --end or --duration, not both"));
        }
        (None, None) => {
            return Err(Failure::usage(
                "give --end (a time) or --duration (minutes, 1 to 1440)",
            ));
        }
        (None, Some(m)) if !(1..=MAX_DURATION_MINUTES).contains(&m) => {
            return Err(Failure::usage(format!(
                "--duration {m}: use 1 to {MAX_DURATION_MINUTES} minutes (at most a day; use --end for longer)"
            )));
        }
        (None, Some(m)) => s
            .checked_add(jiff::SignedDuration::from_mins(i64::from(m)))
            .map_err(|e| Failure::usage(format!("--duration: {e}")))?,
        (Some(e), None) => instant(e, tz).map_err(|e| Failure::usage(format!("--end: {e}")))?,
    };
    if e <= s {
        return Err(Failure::usage("--end must be after --start"));
    }
    Ok((s, e))
}

/// The checks of a write (exit 2); reads pass.
pub fn validate(op: &MsOp) -> Result<(), Failure> {
    let usage = |e: String| Failure::usage(e);
    match op {
        MsOp::CalendarCreate {
            subject,
            start,
            end,
            duration_minutes,
            tz,
            location,
            attendees,
            body,
        } => {
            // The zone is the config's when none is given, known only when it runs: a time
            // that reads in UTC reads in every zone (the run checks again in the right one).
            let zone = match tz {
                Some(t) => parse_timezone(t)?,
                None => TimeZone::UTC,
            };
            let (start, end) = event_times(start, end.as_deref(), *duration_minutes, &zone)?;
            event_draft(subject, start, end, location, attendees, body)?;
        }
        MsOp::MailSend {
            to,
            cc,
            subject,
            body,
        } => {
            mail_draft(to, cc, subject, body)?;
        }
        MsOp::FilesUpload {
            path,
            content_base64,
            ..
        } => {
            drive_path(path).map_err(usage)?;
            upload_bytes(content_base64)?;
        }
        MsOp::OnenoteCreate {
            section,
            title,
            text,
        } => {
            page_draft(section, title, text)?;
        }
        _ => {}
    }
    Ok(())
}

/// The event Graph is asked to create, checked.
pub fn event_draft(
    subject: &str,
    start: Timestamp,
    end: Timestamp,
    location: &Option<String>,
    attendees: &[String],
    body: &Option<String>,
) -> Result<EventDraft, Failure> {
    if attendees.len() > MAX_RECIPIENTS {
        return Err(Failure::usage(format!(
            "at most {MAX_RECIPIENTS} attendees"
        )));
    }
    for a in attendees {
        check_address(a).map_err(|e| Failure::usage(format!("--attendee: {e}")))?;
    }
    let draft = EventDraft {
        subject: subject.to_string(),
        start,
        end,
        location: location.clone().filter(|l| !l.trim().is_empty()),
        attendees: attendees.to_vec(),
        body: body.clone().filter(|b| !b.trim().is_empty()),
    };
    draft.check().map_err(Failure::usage)?;
    Ok(draft)
}

/// The mail Graph is asked to send, checked.
pub fn mail_draft(
    to: &[String],
    cc: &[String],
    subject: &str,
    body: &str,
) -> Result<MailDraft, Failure> {
    for (flag, list) in [("--to", to), ("--cc", cc)] {
        for a in list {
            check_address(a).map_err(|e| Failure::usage(format!("{flag}: {e}")))?;
        }
    }
    let draft = MailDraft {
        to: to.to_vec(),
        cc: cc.to_vec(),
        subject: subject.to_string(),
        body: body.to_string(),
    };
    draft.check().map_err(Failure::usage)?;
    Ok(draft)
}

/// The page Graph is asked to create, checked.
pub fn page_draft(section: &str, title: &str, text: &str) -> Result<PageDraft, Failure> {
    let draft = PageDraft {
        section: section.to_string(),
        title: title.to_string(),
        text: text.to_string(),
    };
    draft.check().map_err(Failure::usage)?;
    Ok(draft)
}

/// An upload's bytes: base64, at most [`MAX_SIMPLE_UPLOAD`] once decoded.
pub fn upload_bytes(content_base64: &str) -> Result<Vec<u8>, Failure> {
    let too_big = || {
        Failure::usage(format!(
            "the file is over {} ({MAX_SIMPLE_UPLOAD} bytes), the limit of OneDrive's simple upload",
            human_size(MAX_SIMPLE_UPLOAD as u64)
        ))
    };
    // base64 is 4/3 of the bytes: refuse a long text before decoding it.
    if content_base64.len() > MAX_SIMPLE_UPLOAD / 3 * 4 + 8 {
        return Err(too_big());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(content_base64.trim())
        .map_err(|_| Failure::usage("content_base64 is not base64"))?;
    if bytes.len() > MAX_SIMPLE_UPLOAD {
        return Err(too_big());
    }
    Ok(bytes)
}

/// What the audit keeps of a write: which arguments were given, counts and sizes, never an
/// address, a subject, a path or a text.
pub fn audit_args(op: &MsOp) -> Value {
    match op {
        MsOp::CalendarCreate {
            end,
            duration_minutes,
            tz,
            location,
            attendees,
            body,
            ..
        } => json!({
            "subject": true,
            "start": true,
            "end": end.is_some(),
            "duration_minutes": duration_minutes,
            "tz": tz.is_some(),
            "location": location.is_some(),
            "attendees": attendees.len(),
            "body_bytes": body.as_ref().map(String::len),
        }),
        MsOp::MailSend { to, cc, body, .. } => json!({
            "to": to.len(),
            "cc": cc.len(),
            "subject": true,
            "body_bytes": body.len(),
        }),
        MsOp::FilesUpload {
            content_base64,
            conflict,
            ..
        } => json!({
            "path": true,
            "bytes": content_base64.trim().len() / 4 * 3,
            "conflict": conflict,
        }),
        MsOp::OnenoteCreate { text, .. } => json!({
            "section": true,
            "title": true,
            "text_bytes": text.len(),
        }),
        _ => json!({}),
    }
}

/// A list of addresses on one line.
fn addresses(list: &[String]) -> String {
    list.join(", ")
}

/// `Tue 8 Dec 2026, 10:00–10:30 (Europe/Berlin)`, or both dates when it ends on another day.
pub fn when(start: Timestamp, end: Timestamp, tz: &TimeZone) -> String {
    let s = start.to_zoned_datetime(tz.clone());
    let e = end.to_zoned_datetime(tz.clone());
    let name = tz
        .iana_name()
        .map(str::to_owned)
        .unwrap_or_else(|| s.offset().to_string());
    let day = "%a %-d %b %Y";
    if s.date() == e.date() {
        format!(
            "{}, {}–{} ({name})",
            s.strftime(day),
            s.strftime("%H:%M"),
            e.strftime("%H:%M")
        )
    } else {
        format!(
            "{}, {} – {}, {} ({name})",
            s.strftime(day),
            s.strftime("%H:%M"),
            e.strftime(day),
            e.strftime("%H:%M")
        )
    }
}

/// What the person reads before approving a write (`None` for reads). Times are in the
/// event's zone: its own `tz`, else `zone` (the person's).
pub fn describe(op: &MsOp, zone: &TimeZone) -> Option<Description> {
    Some(match op {
        MsOp::CalendarCreate {
            subject,
            start,
            end,
            duration_minutes,
            tz,
            location,
            attendees,
            body,
        } => {
            let tz = tz
                .as_deref()
                .and_then(|t| TimeZone::get(t).ok())
                .unwrap_or_else(|| zone.clone());
            let when = match event_times(start, end.as_deref(), *duration_minutes, &tz) {
                Ok((s, e)) => when(s, e, &tz),
                Err(_) => format!("{start} to {}", end.as_deref().unwrap_or("?")),
            };
            let mut d = Description::new("Create a calendar event")
                .with("Subject", subject.as_str())
                .with("When", when);
            if let Some(l) = location.as_deref().filter(|l| !l.trim().is_empty()) {
                d = d.with("Location", l);
            }
            if !attendees.is_empty() {
                d = d.with(
                    "Attendees",
                    format!("{} (each gets an invitation)", addresses(attendees)),
                );
            }
            if let Some(b) = body.as_deref().filter(|b| !b.trim().is_empty()) {
                d = d.with("Text", first_lines(b, 3, 300));
            }
            d
        }
        MsOp::MailSend {
            to,
            cc,
            subject,
            body,
        } => {
            let mut d = Description::new("Send a mail").with("To", addresses(to));
            if !cc.is_empty() {
                d = d.with("Cc", addresses(cc));
            }
            d.with("Subject", subject.as_str())
                .with("Body", first_lines(body, 3, 300))
        }
        MsOp::FilesUpload {
            path,
            content_base64,
            conflict,
        } => Description::new("Upload a file to OneDrive")
            .with("Path", path.trim_start_matches('/'))
            .with(
                "Size",
                human_size((content_base64.trim().len() / 4 * 3) as u64),
            )
            .with("If the name is taken", conflict.words()),
        MsOp::OnenoteCreate {
            section,
            title,
            text,
        } => Description::new("Create a OneNote page")
            .with("Section", section.as_str())
            .with("Title", title.as_str())
            .with("Text", first_lines(text, 3, 300)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    fn event() -> MsOp {
        MsOp::CalendarCreate {
            subject: "Dentist".into(),
            start: "2026-12-08T10:00".into(),
            end: None,
            duration_minutes: Some(30),
            tz: None,
            location: Some("Main St 1".into()),
            attendees: vec!["bob@x.test".into(), "carol@y.test".into()],
            body: Some("Bring the card\nand the form\nline 3\nline 4".into()),
        }
    }

    #[test]
    fn an_event_reads_in_the_persons_words_and_zone() {
        let d = event().describe(&berlin());
        assert_eq!(d.action, "Create a calendar event");
        assert_eq!(
            d.details,
            vec![
                ("Subject", "Dentist".to_string()),
                (
                    "When",
                    "Tue 8 Dec 2026, 10:00–10:30 (Europe/Berlin)".to_string()
                ),
                ("Location", "Main St 1".to_string()),
                (
                    "Attendees",
                    "bob@x.test, carol@y.test (each gets an invitation)".to_string()
                ),
                ("Text", "Bring the card\nand the form\nline 3…".to_string()),
            ]
        );
        // Its own zone wins over the person's; a span past midnight names both days.
        let MsOp::CalendarCreate { subject, .. } = event() else {
            unreachable!()
        };
        let op = MsOp::CalendarCreate {
            subject,
            start: "2026-12-08T23:30".into(),
            end: Some("2026-12-09T00:15".into()),
            duration_minutes: None,
            tz: Some("America/New_York".into()),
            location: None,
            attendees: vec![],
            body: None,
        };
        let d = op.describe(&berlin());
        assert_eq!(
            d.details,
            vec![
                ("Subject", "Dentist".to_string()),
                (
                    "When",
                    "Tue 8 Dec 2026, 23:30 – Wed 9 Dec 2026, 00:15 (America/New_York)".to_string()
                ),
            ]
        );
    }

    #[test]
    fn a_mail_an_upload_and_a_page_read_as_what_they_do() {
        let mail = MsOp::MailSend {
            to: vec!["bob@x.test".into(), "carol@y.test".into()],
            cc: vec!["dave@z.test".into()],
            subject: "Lunch?".into(),
            body: "At noon.\n\nCafé Müller".into(),
        };
        let d = mail.describe(&berlin());
        assert_eq!(d.action, "Send a mail");
        assert_eq!(
            d.details,
            vec![
                ("To", "bob@x.test, carol@y.test".to_string()),
                ("Cc", "dave@z.test".to_string()),
                ("Subject", "Lunch?".to_string()),
                ("Body", "At noon.\n\nCafé Müller".to_string()),
            ]
        );
        let upload = |conflict| MsOp::FilesUpload {
            path: "/Notes/plan.txt".into(),
            content_base64: base64::engine::general_purpose::STANDARD.encode(vec![7u8; 3_400]),
            conflict,
        };
        let d = upload(Conflict::Fail).describe(&berlin());
        assert_eq!(d.action, "Upload a file to OneDrive");
        assert_eq!(
            d.details,
            vec![
                ("Path", "Notes/plan.txt".to_string()),
                ("Size", "3.4 KB".to_string()),
                (
                    "If the name is taken",
                    "fails if it exists (nothing is overwritten)".to_string()
                ),
            ]
        );
        let d = upload(Conflict::Replace).describe(&berlin());
        assert_eq!(d.details[2].1, "replaces an existing file");
        let page = MsOp::OnenoteCreate {
            section: "Agent notes".into(),
            title: "Plan".into(),
            text: "a".repeat(400),
        };
        let d = page.describe(&berlin());
        assert_eq!(d.action, "Create a OneNote page");
        assert_eq!(d.details[0], ("Section", "Agent notes".to_string()));
        assert_eq!(d.details[1], ("Title", "Plan".to_string()));
        assert_eq!(d.details[2].1.chars().count(), 301, "300 characters and …");
        // Reads say only what they are.
        assert_eq!(MsOp::Me.describe(&berlin()).details, vec![]);
    }

    #[test]
    fn bad_writes_are_refused_before_any_request() {
        let ok = event();
        assert!(ok.validate().is_ok(), "{:?}", ok.validate());
        let with = |f: &dyn Fn(&mut MsOp)| {
            let mut op = event();
            f(&mut op);
            op.validate().unwrap_err().message
        };
        let set = |op: &mut MsOp, end: Option<&str>, dur: Option<u32>| {
            if let MsOp::CalendarCreate {
                end: e,
                duration_minutes: d,
                ..
            } = op
            {
                *e = end.map(str::to_owned);
                *d = dur;
            }
        };
        assert!(with(&|op| set(op, None, Some(0))).contains("1 to 1440 minutes"));
        assert!(with(&|op| set(op, None, Some(1441))).contains("1 to 1440 minutes"));
        assert!(with(&|op| set(op, Some("2026-12-08T11:00"), Some(30))).contains("not both"));
        assert!(with(&|op| set(op, None, None)).contains("--duration"));
        assert!(with(&|op| set(op, Some("2026-12-08T09:00"), None)).contains("after --start"));
        assert!(with(&|op| set(op, Some("2026-12-08T10:00"), None)).contains("after --start"));
        let bad_attendee = with(&|op| {
            if let MsOp::CalendarCreate { attendees, .. } = op {
                attendees.push("Bob <bob@x.test>".into());
            }
        });
        assert!(
            bad_attendee.contains("not a mail address"),
            "{bad_attendee}"
        );
        assert!(
            with(&|op| {
                if let MsOp::CalendarCreate { start, .. } = op {
                    *start = "2026-12-08".into();
                }
            })
            .contains("without a time")
        );
        let mail = |to: Vec<&str>, subject: &str, body: String| MsOp::MailSend {
            to: to.into_iter().map(str::to_owned).collect(),
            cc: vec![],
            subject: subject.into(),
            body,
        };
        assert!(
            mail(vec!["a@x.test"], "Hi", "text".into())
                .validate()
                .is_ok()
        );
        for bad in [
            mail(vec![], "Hi", "t".into()),
            mail(vec!["a@x"], "Hi", "t".into()),
            mail(vec!["a@x.test"], " ", "t".into()),
            mail(vec!["a@x.test"], &"s".repeat(256), "t".into()),
            mail(vec!["a@x.test"], "Hi", "t".repeat(1_000_001)),
            mail(vec!["a@x.test"], "Hi\nBcc: evil@x.test", "t".into()),
        ] {
            let f = bad.validate().unwrap_err();
            assert_eq!(f.exit, crate::error::Exit::Usage, "{bad:?}");
        }
        let up = |path: &str, b64: String| MsOp::FilesUpload {
            path: path.into(),
            content_base64: b64,
            conflict: Conflict::Fail,
        };
        let small = base64::engine::general_purpose::STANDARD.encode(b"hi");
        assert!(up("Notes/a.txt", small.clone()).validate().is_ok());
        assert!(up("../a.txt", small.clone()).validate().is_err());
        assert!(up("Notes/a?.txt", small.clone()).validate().is_err());
        assert!(up("Notes/a.txt", "not base64!".into()).validate().is_err());
        let big =
            base64::engine::general_purpose::STANDARD.encode(vec![0u8; MAX_SIMPLE_UPLOAD + 1]);
        let f = up("Notes/a.txt", big).validate().unwrap_err();
        assert!(f.message.contains("4.0 MB"), "{}", f.message);
        let page = |section: &str| MsOp::OnenoteCreate {
            section: section.into(),
            title: "T".into(),
            text: "x".into(),
        };
        assert!(page("Agent notes").validate().is_ok());
        assert!(page("a/b").validate().is_err());
        assert!(page(&"s".repeat(51)).validate().is_err());
    }

    #[test]
    fn the_audit_keeps_counts_never_values() {
        let ops = [
            event(),
            MsOp::MailSend {
                to: vec!["secret-bob@x.test".into()],
                cc: vec![],
                subject: "divorce papers".into(),
                body: "private text".into(),
            },
            MsOp::FilesUpload {
                path: "Private/divorce.pdf".into(),
                content_base64: base64::engine::general_purpose::STANDARD.encode(b"private"),
                conflict: Conflict::Replace,
            },
            MsOp::OnenoteCreate {
                section: "Divorce".into(),
                title: "divorce plan".into(),
                text: "private text".into(),
            },
        ];
        for op in ops {
            let text = op.audit_args().to_string().to_lowercase();
            for word in ["bob", "dentist", "main st", "divorce", "private", "bring"] {
                assert!(!text.contains(word), "{word} in {text}");
            }
        }
        assert_eq!(
            event().audit_args(),
            json!({"subject": true, "start": true, "end": false, "duration_minutes": 30, "tz": false, "location": true, "attendees": 2, "body_bytes": 41})
        );
    }
}
