//! The writes: an event ([`Graph::create_event`]), a mail ([`Graph::send_mail`]), a small
//! OneDrive file ([`Graph::upload_small`]) and a OneNote page ([`Graph::create_page`]), the
//! drafts they take, the checks a draft must pass before anything is sent, and the one transport
//! rule that keeps a change from being made twice.
//!
//! # Sent once, unless Graph says nothing happened (docs/graph.md, "Writes")
//!
//! A read can be asked again; a write cannot, unless a repeat is known to change nothing. A
//! write is sent again only
//! * after a 429 (Graph refused it as throttled: nothing was carried out), after its
//!   `Retry-After`, within the client's attempt and wait bounds; and
//! * for an event (`Resend::Keyed`) also after a lost answer (a timeout or a connection lost
//!   once the request was out) or a 5xx: it carries a `transactionId`, which Graph documents as
//!   the way to keep a client's retry from creating a second event.
//!
//! Otherwise a lost answer or a 5xx is [`GraphError::Unconfirmed`]: the change may have been
//! made, and the caller says so instead of making it again. A connection never made is
//! [`GraphError::Network`] (nothing was sent). A 401 is returned as it is: Graph refused the
//! token and did nothing, so the caller may refresh it and call again.

use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;
use serde_json::{Value, json};
use sidekey_net::{Reply as Raw, SendError, send_capped};

use crate::microsoft::error::{GraphError, classify, error_parts, one_line};
use crate::microsoft::graph::{Graph, PREFER_UTC, backoff};
use crate::microsoft::model::{CalendarEvent, DriveItem, clean};
use crate::microsoft::odata::{self, path_segment};

/// The largest file [`Graph::upload_small`] sends: the simple upload's limit in OneDrive's
/// documentation (Graph's own page now allows more; sidekey keeps to the smaller figure).
pub const MAX_SIMPLE_UPLOAD: usize = 4_000_000;
/// A subject or title, in characters.
pub const MAX_SUBJECT: usize = 255;
/// A mail body, an event's text or a page's text, in bytes.
pub const MAX_TEXT: usize = 1_000_000;
/// Recipients of one mail (to and cc together), or attendees of one event.
pub const MAX_RECIPIENTS: usize = 100;
/// A OneNote section name, in characters (OneNote error 20155: "Other entity names have a
/// 50-character limit").
pub const MAX_SECTION_NAME: usize = 50;
/// A OneDrive path (folders and name, decoded), in characters.
pub const MAX_DRIVE_PATH: usize = 400;

/// Whether a write may be sent again after a lost answer or a 5xx (see the module's words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Resend {
    /// Only after Graph refused it (429).
    Refused,
    /// Also after a lost answer or a 5xx: the request carries a key Graph deduplicates on.
    Keyed,
}

impl Graph {
    /// Send a write with the rule of [`Resend`]; a 2xx answer as it came.
    pub(super) async fn write(
        &self,
        token: &str,
        make: impl Fn() -> reqwest::RequestBuilder,
        hint: &str,
        resend: Resend,
    ) -> Result<Raw, GraphError> {
        let mut waited = Duration::ZERO;
        let mut attempt = 1;
        // What the last attempt whose outcome is unknown went through.
        let mut maybe: Option<String> = None;
        loop {
            let req = make()
                .bearer_auth(token)
                .header(reqwest::header::ACCEPT, "application/json")
                .header("Prefer", PREFER_UTC);
            let (lost, wait) = match send_capped(req, self.timeout, self.max_body).await {
                Err(SendError::Connect(m)) => {
                    return Err(match maybe {
                        Some(d) => GraphError::Unconfirmed(d),
                        None => GraphError::Network(m),
                    });
                }
                Err(e) => (e.to_string(), backoff(attempt)),
                Ok(raw) if (200..300).contains(&raw.status) => return Ok(raw),
                Ok(raw) if raw.status == 429 => {
                    let wait = raw.retry_after.unwrap_or_else(|| backoff(attempt));
                    if attempt < self.max_attempts && waited + wait <= self.max_wait {
                        tokio::time::sleep(wait).await;
                        waited += wait;
                        attempt += 1;
                        continue;
                    }
                    let body = serde_json::from_slice(&raw.body).unwrap_or(Value::Null);
                    return Err(match maybe {
                        Some(d) => GraphError::Unconfirmed(d),
                        None => classify(raw.status, &body, raw.retry_after, hint),
                    });
                }
                Ok(raw) if raw.status >= 500 => {
                    let body = serde_json::from_slice(&raw.body).unwrap_or(Value::Null);
                    let (code, _, _) = error_parts(&body);
                    let what = if code.is_empty() {
                        format!("HTTP {}", raw.status)
                    } else {
                        format!("HTTP {} {code}", raw.status)
                    };
                    (what, raw.retry_after.unwrap_or_else(|| backoff(attempt)))
                }
                Ok(raw) => {
                    let body = serde_json::from_slice(&raw.body).unwrap_or(Value::Null);
                    let e = classify(raw.status, &body, raw.retry_after, hint);
                    // A refused token did nothing; the caller refreshes and calls again, which
                    // a keyed write survives. Any other refusal after a lost answer leaves that
                    // answer's question open.
                    return Err(match maybe {
                        Some(d) if !e.is_unauthorized() => GraphError::Unconfirmed(d),
                        _ => e,
                    });
                }
            };
            maybe = Some(lost.clone());
            if resend == Resend::Keyed
                && attempt < self.max_attempts
                && waited + wait <= self.max_wait
            {
                tokio::time::sleep(wait).await;
                waited += wait;
                attempt += 1;
                continue;
            }
            return Err(GraphError::Unconfirmed(lost));
        }
    }

    /// `POST /me/events`: create `draft` in the default calendar, with `transaction_id` so
    /// that sending it again creates nothing more; invitations go to its attendees (Graph sends
    /// them for every event with attendees). Times in the answer are shown in `tz`.
    pub async fn create_event(
        &self,
        token: &str,
        draft: &EventDraft,
        transaction_id: &str,
        tz: &TimeZone,
    ) -> Result<CreatedEvent, GraphError> {
        draft.check().map_err(GraphError::Invalid)?;
        let url = format!("{}/me/events", self.base);
        let body = draft.to_graph(transaction_id);
        let raw = self
            .write(
                token,
                || self.client.post(&url).json(&body),
                "Calendars.ReadWrite",
                Resend::Keyed,
            )
            .await?;
        let v = answer_json(&raw)?;
        let event = CalendarEvent::from_graph(&v, tz).ok_or_else(|| {
            GraphError::Unconfirmed(format!(
                "HTTP {} without an event in the answer",
                raw.status
            ))
        })?;
        let attendees = v
            .get("attendees")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.get("emailAddress")?.get("address")?.as_str())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(CreatedEvent { event, attendees })
    }

    /// `POST /me/sendMail` (202 Accepted, no body): send `draft` as text, keeping a copy in
    /// Sent Items. Sent once: see the module's words.
    pub async fn send_mail(&self, token: &str, draft: &MailDraft) -> Result<(), GraphError> {
        draft.check().map_err(GraphError::Invalid)?;
        let url = format!("{}/me/sendMail", self.base);
        let body = draft.to_graph();
        self.write(
            token,
            || self.client.post(&url).json(&body),
            "Mail.Send",
            Resend::Refused,
        )
        .await?;
        Ok(())
    }

    /// `PUT /me/drive/root:/{path}:/content?@microsoft.graph.conflictBehavior=…`: the simple
    /// upload of at most [`MAX_SIMPLE_UPLOAD`] bytes to `path` (folders and name, from the
    /// drive's root). Graph answers 201 for a new file, 200 for one it replaced, and 409
    /// `nameAlreadyExists` when the name is taken and `conflict` is [`Conflict::Fail`].
    pub async fn upload_small(
        &self,
        token: &str,
        path: &str,
        content: &[u8],
        conflict: Conflict,
    ) -> Result<Uploaded, GraphError> {
        let segments = drive_path(path).map_err(GraphError::Invalid)?;
        if content.len() > MAX_SIMPLE_UPLOAD {
            return Err(GraphError::Invalid(format!(
                "the file is over the {MAX_SIMPLE_UPLOAD} byte limit of a simple upload"
            )));
        }
        let encoded: Vec<String> = segments.iter().map(|s| path_segment(s)).collect();
        let url = odata::url(
            &self.base,
            &format!("/me/drive/root:/{}:/content", encoded.join("/")),
            &[(
                "@microsoft.graph.conflictBehavior",
                conflict.as_str().into(),
            )],
        );
        let raw = self
            .write(
                token,
                || {
                    self.client
                        .put(&url)
                        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                        .body(content.to_vec())
                },
                "Files.ReadWrite",
                Resend::Refused,
            )
            .await?;
        let v = answer_json(&raw)?;
        let item = DriveItem::from_graph(&v).ok_or_else(|| {
            GraphError::Unconfirmed(format!(
                "HTTP {} without a drive item in the answer",
                raw.status
            ))
        })?;
        Ok(Uploaded {
            item,
            replaced: raw.status == 200,
            folder: segments[..segments.len() - 1].join("/"),
        })
    }

    /// `POST /me/onenote/pages?sectionName=…`: a page in the named top-level section of the
    /// default notebook (OneNote creates the section when there is none of that name, matching
    /// names case-insensitively), its title and text sent as escaped HTML (`text/html`).
    pub async fn create_page(
        &self,
        token: &str,
        draft: &PageDraft,
    ) -> Result<OnenotePage, GraphError> {
        draft.check().map_err(GraphError::Invalid)?;
        let url = odata::url(
            &self.base,
            "/me/onenote/pages",
            &[("sectionName", draft.section.clone())],
        );
        let html = page_html(&draft.title, &draft.text);
        let raw = self
            .write(
                token,
                || {
                    self.client
                        .post(&url)
                        .header(reqwest::header::CONTENT_TYPE, "text/html; charset=utf-8")
                        .body(html.clone())
                },
                "Notes.Create",
                Resend::Refused,
            )
            .await?;
        let v = answer_json(&raw)?;
        OnenotePage::from_graph(&v, &draft.section).ok_or_else(|| {
            GraphError::Unconfirmed(format!("HTTP {} without a page in the answer", raw.status))
        })
    }
}

/// The JSON of a write's 2xx answer: the change was made, so an answer that cannot be read is
/// [`GraphError::Unconfirmed`], not a plain error.
fn answer_json(raw: &Raw) -> Result<Value, GraphError> {
    serde_json::from_slice(&raw.body).map_err(|_| {
        GraphError::Unconfirmed(format!(
            "HTTP {} with an answer that is not JSON",
            raw.status
        ))
    })
}

// ---------------------------------------------------------------------------------------
// drafts and their checks

/// An event to create, its times already placed in the person's zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventDraft {
    pub subject: String,
    pub start: Timestamp,
    /// Exclusive, after `start`.
    pub end: Timestamp,
    pub location: Option<String>,
    /// Addresses to invite (each gets Graph's invitation).
    pub attendees: Vec<String>,
    /// Plain text for the event's body.
    pub body: Option<String>,
}

impl EventDraft {
    /// Whether Graph can take it: see [`check_subject`], [`check_address`], [`MAX_TEXT`].
    pub fn check(&self) -> Result<(), String> {
        check_subject(&self.subject, "subject")?;
        if self.end <= self.start {
            return Err("the event must end after it starts".into());
        }
        if let Some(l) = &self.location {
            check_subject(l, "location")?;
        }
        check_recipients(&self.attendees, 0, "attendee")?;
        if let Some(b) = &self.body {
            check_text(b, "event text")?;
        }
        Ok(())
    }

    /// The request body. Times go as UTC wall-clock times (`"timeZone": "UTC"`): Graph takes
    /// Windows zone names and one IANA name per Windows zone and refuses others with 400
    /// `TimeZoneNotSupportedException` (docs/graph.md, "Writes"); the instant is what matters.
    pub fn to_graph(&self, transaction_id: &str) -> Value {
        let at = |t: Timestamp| json!({"dateTime": t.strftime("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"});
        let mut v = json!({
            "subject": self.subject,
            "start": at(self.start),
            "end": at(self.end),
            "transactionId": transaction_id,
        });
        if let Some(l) = &self.location {
            v["location"] = json!({ "displayName": l });
        }
        if !self.attendees.is_empty() {
            v["attendees"] = self
                .attendees
                .iter()
                .map(|a| json!({"emailAddress": {"address": a}, "type": "required"}))
                .collect();
        }
        if let Some(b) = &self.body {
            v["body"] = json!({"contentType": "text", "content": b});
        }
        v
    }
}

/// A created event and who was invited.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CreatedEvent {
    #[serde(flatten)]
    pub event: CalendarEvent,
    /// The attendees' addresses, as Graph stored them.
    pub attendees: Vec<String>,
}

/// A text mail to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailDraft {
    /// At least one.
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub body: String,
}

impl MailDraft {
    /// Whether Graph can take it: at least one `to`, every address one address, at most
    /// [`MAX_RECIPIENTS`] in all, a subject and a body within their limits.
    pub fn check(&self) -> Result<(), String> {
        if self.to.is_empty() {
            return Err("a mail needs at least one recipient (to)".into());
        }
        check_recipients(&self.to, self.cc.len(), "recipient")?;
        check_recipients(&self.cc, self.to.len(), "recipient")?;
        check_subject(&self.subject, "subject")?;
        check_text(&self.body, "mail text")
    }

    /// The request body: the message as text, saved to Sent Items (the place to check when an
    /// answer was lost).
    pub fn to_graph(&self) -> Value {
        let people = |list: &[String]| -> Vec<Value> {
            list.iter()
                .map(|a| json!({"emailAddress": {"address": a}}))
                .collect()
        };
        json!({
            "message": {
                "subject": self.subject,
                "body": {"contentType": "Text", "content": self.body},
                "toRecipients": people(&self.to),
                "ccRecipients": people(&self.cc),
            },
            "saveToSentItems": true,
        })
    }
}

/// What an upload does when the name is taken (`@microsoft.graph.conflictBehavior`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conflict {
    /// Graph answers 409 `nameAlreadyExists`; nothing changes.
    Fail,
    /// The new file gets a free name (`plan 1.txt`).
    Rename,
    /// The new content replaces the file's.
    Replace,
}

impl Conflict {
    pub fn as_str(self) -> &'static str {
        match self {
            Conflict::Fail => "fail",
            Conflict::Rename => "rename",
            Conflict::Replace => "replace",
        }
    }
}

/// An uploaded file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Uploaded {
    pub item: DriveItem,
    /// Graph answered 200: an existing file's content was replaced.
    pub replaced: bool,
    /// The folder it went to, from the drive's root (`Notes/2026`; empty for the root).
    pub folder: String,
}

/// A OneNote page to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageDraft {
    /// A top-level section of the default notebook, by name.
    pub section: String,
    pub title: String,
    /// Plain text; blank lines separate paragraphs.
    pub text: String,
}

impl PageDraft {
    pub fn check(&self) -> Result<(), String> {
        check_section_name(&self.section)?;
        check_subject(&self.title, "title")?;
        check_text(&self.text, "page text")
    }
}

/// A created OneNote page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OnenotePage {
    pub id: String,
    pub title: String,
    /// The section asked for.
    pub section: String,
    pub created: Option<Timestamp>,
    /// `links.oneNoteWebUrl.href`.
    pub web_url: Option<String>,
}

impl OnenotePage {
    fn from_graph(v: &Value, section: &str) -> Option<OnenotePage> {
        let id = v.get("id")?.as_str()?.to_string();
        Some(OnenotePage {
            id,
            title: v
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            section: section.to_string(),
            created: v
                .get("createdDateTime")
                .and_then(Value::as_str)
                .and_then(|t| t.parse().ok()),
            web_url: v
                .pointer("/links/oneNoteWebUrl/href")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

/// A subject, title or location: not blank, at most [`MAX_SUBJECT`] characters, one line.
pub fn check_subject(s: &str, what: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if s.chars().count() > MAX_SUBJECT {
        return Err(format!("the {what} is over {MAX_SUBJECT} characters"));
    }
    if s.chars().any(char::is_control) {
        return Err(format!(
            "the {what} must be one line without control characters"
        ));
    }
    Ok(())
}

/// A body text: at most [`MAX_TEXT`] bytes, no control characters but line breaks and tabs.
pub fn check_text(s: &str, what: &str) -> Result<(), String> {
    if s.len() > MAX_TEXT {
        return Err(format!("the {what} is over {MAX_TEXT} bytes"));
    }
    if s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(format!(
            "the {what} holds control characters (only line breaks and tabs are kept)"
        ));
    }
    Ok(())
}

/// `list` are addresses, and with `others` more at most [`MAX_RECIPIENTS`].
fn check_recipients(list: &[String], others: usize, what: &str) -> Result<(), String> {
    if list.len() + others > MAX_RECIPIENTS {
        return Err(format!("at most {MAX_RECIPIENTS} {what}s"));
    }
    for a in list {
        check_address(a)?;
    }
    Ok(())
}

/// One mail address as a mail system takes it: `local@domain.tld`, without spaces, angle
/// brackets or a display name, at most 254 characters (RFC 5321's path limit).
pub fn check_address(a: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "'{}' is not a mail address (write it as name@example.com)",
            one_line(a, 80)
        ))
    };
    let Some((local, domain)) = a.split_once('@') else {
        return bad();
    };
    let forbidden = |c: char| c.is_whitespace() || c.is_control() || "<>()[]\\,;:\"@".contains(c);
    if a.len() > 254
        || local.is_empty()
        || local.len() > 64
        || domain.len() < 3
        || local.chars().any(forbidden)
        || domain.chars().any(forbidden)
        || !domain.contains('.')
        || domain.starts_with(['.', '-'])
        || domain.ends_with(['.', '-'])
        || domain.contains("..")
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
    {
        return bad();
    }
    Ok(())
}

/// A OneNote section name as the page's `sectionName` (OneNote errors 20152–20155): not blank,
/// not starting with a space, at most [`MAX_SECTION_NAME`] characters, none of
/// `? * \ / : < > | & # " % ~`.
pub fn check_section_name(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("the section name is empty".into());
    }
    if s.starts_with(' ') || s.ends_with(' ') {
        return Err("the section name must not start or end with a space".into());
    }
    if s.chars().count() > MAX_SECTION_NAME {
        return Err(format!(
            "the section name is over {MAX_SECTION_NAME} characters"
        ));
    }
    if s.chars()
        .any(|c| c.is_control() || "?*\\/:<>|&#\"%~".contains(c))
    {
        return Err("a section name cannot hold any of ? * \\ / : < > | & # \" % ~".into());
    }
    Ok(())
}

/// Names OneDrive refuses for a file or folder, whatever the case ("Restrictions and
/// limitations in OneDrive and SharePoint": docs/graph.md, "Writes").
const RESERVED: &[&str] = &[
    ".lock",
    "con",
    "prn",
    "aux",
    "nul",
    "com0",
    "com1",
    "com2",
    "com3",
    "com4",
    "com5",
    "com6",
    "com7",
    "com8",
    "com9",
    "lpt0",
    "lpt1",
    "lpt2",
    "lpt3",
    "lpt4",
    "lpt5",
    "lpt6",
    "lpt7",
    "lpt8",
    "lpt9",
    "desktop.ini",
];

/// A OneDrive path from the drive's root (`Notes/2026/plan.txt`; a leading `/` is allowed) as
/// its folders and name: each part without `" * : < > ? \ |` or control characters, not `.` or
/// `..`, without leading or trailing spaces, not a reserved name, no `_vti_`, a name not
/// starting with `~$`; at most [`MAX_DRIVE_PATH`] characters in all.
pub fn drive_path(path: &str) -> Result<Vec<String>, String> {
    let p = path.strip_prefix('/').unwrap_or(path);
    if p.is_empty() {
        return Err(
            "the path is empty: give folder/name.ext (or name.ext for the drive's root)".into(),
        );
    }
    if p.chars().count() > MAX_DRIVE_PATH {
        return Err(format!("the path is over {MAX_DRIVE_PATH} characters"));
    }
    let mut out = Vec::new();
    for seg in p.split('/') {
        let shown = one_line(seg, 60);
        if seg.is_empty() {
            return Err("the path has an empty part (//, or a / at the end)".into());
        }
        if seg == "." || seg == ".." {
            return Err(format!(
                "'{seg}' is not a folder name: give the path from the drive's root"
            ));
        }
        if seg.starts_with(' ') || seg.ends_with(' ') {
            return Err(format!(
                "'{shown}' starts or ends with a space, which OneDrive does not allow"
            ));
        }
        if seg
            .chars()
            .any(|c| c.is_control() || "\"*:<>?\\|".contains(c))
        {
            return Err(format!(
                "'{shown}' holds a character OneDrive does not allow in names (\" * : < > ? \\ |)"
            ));
        }
        let lower = seg.to_lowercase();
        if RESERVED.contains(&lower.as_str()) || lower.contains("_vti_") {
            return Err(format!("'{shown}' is a name OneDrive reserves"));
        }
        out.push(seg.to_string());
    }
    if out.last().is_some_and(|n| n.starts_with("~$")) {
        return Err("OneDrive does not allow file names starting with ~$".into());
    }
    Ok(out)
}

/// The page's HTML: the title, and each paragraph of `text` (blank lines separate them, line
/// breaks inside become `<br/>`), every character that HTML reads as markup escaped.
pub fn page_html(title: &str, text: &str) -> String {
    let mut out = String::from("<!DOCTYPE html>\n<html>\n<head>\n<title>");
    out.push_str(&escape_html(title));
    out.push_str("</title>\n</head>\n<body>\n");
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut para: Vec<&str> = Vec::new();
    let flush = |para: &mut Vec<&str>, out: &mut String| {
        if para.is_empty() {
            return;
        }
        let lines: Vec<String> = para.iter().map(|l| escape_html(l)).collect();
        out.push_str("<p>");
        out.push_str(&lines.join("<br/>"));
        out.push_str("</p>\n");
        para.clear();
    };
    for line in text.split('\n') {
        if line.trim().is_empty() {
            flush(&mut para, &mut out);
        } else {
            para.push(line);
        }
    }
    flush(&mut para, &mut out);
    out.push_str("</body>\n</html>\n");
    out
}

/// `&`, `<`, `>`, `"` and `'` as entities; tabs as spaces.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// `a, b and 3 more`: at most `n` of `list`, cleaned for display.
pub(crate) fn some_of(list: &[String], n: usize) -> String {
    let shown: Vec<String> = list.iter().take(n).map(|a| clean(a)).collect();
    match list.len().saturating_sub(n) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_one_plain_address() {
        for ok in [
            "bob@example.com",
            "o'brien@x.test",
            "a.b+tag@mail.example.co.uk",
        ] {
            assert!(check_address(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "bob",
            "bob@",
            "@example.com",
            "bob@localhost",
            "Bob <bob@example.com>",
            "bob@example.com, carol@example.com",
            "bob@@example.com",
            "bob @example.com",
            "bob@exa mple.com",
            "bob@example..com",
            "bob@.example.com",
            "bob\n@example.com",
        ] {
            assert!(check_address(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn drive_paths_keep_to_onedrive_names() {
        assert_eq!(
            drive_path("/Notes/2026/plan #1 & 100%.txt").unwrap(),
            ["Notes", "2026", "plan #1 & 100%.txt"]
        );
        assert_eq!(drive_path("plan.txt").unwrap(), ["plan.txt"]);
        for bad in [
            "",
            "/",
            "Notes//plan.txt",
            "Notes/",
            "../plan.txt",
            "Notes/./plan.txt",
            " Notes/plan.txt",
            "Notes/plan.txt ",
            "Notes/pl:an.txt",
            "Notes/pl\\an.txt",
            "Notes/what?.txt",
            "Notes/a*b",
            "Notes/\"q\"",
            "Notes/a<b>",
            "Notes/a|b",
            "Notes/CON",
            "Notes/desktop.INI",
            "_vti_bin/x",
            "Notes/~$plan.docx",
            "Notes/tab\there",
        ] {
            assert!(drive_path(bad).is_err(), "{bad:?}");
        }
        assert!(drive_path(&"a/".repeat(200)).is_err());
    }

    #[test]
    fn section_names_follow_onenote_rules() {
        assert!(check_section_name("Agent notes 2026").is_ok());
        for bad in [
            "",
            "  ",
            " lead",
            "a/b",
            "a#b",
            "50%",
            "a~b",
            "a&b",
            &"x".repeat(51),
        ] {
            assert!(check_section_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn page_html_escapes_markup_and_keeps_paragraphs() {
        let html = page_html(
            "<b>Plan</b> & \"more\"",
            "first <i>line</i>\r\nsecond & third\n\n\nnew 'para'\n",
        );
        assert!(
            html.contains("<title>&lt;b&gt;Plan&lt;/b&gt; &amp; &quot;more&quot;</title>"),
            "{html}"
        );
        assert!(
            html.contains("<p>first &lt;i&gt;line&lt;/i&gt;<br/>second &amp; third</p>\n<p>new &#39;para&#39;</p>\n</body>"),
            "{html}"
        );
    }

    #[test]
    fn event_bodies_send_utc_wall_times_and_the_transaction_id() {
        let d = EventDraft {
            subject: "Dentist".into(),
            start: "2026-12-08T09:00:00Z".parse().unwrap(),
            end: "2026-12-08T09:30:00Z".parse().unwrap(),
            location: Some("Main St 1".into()),
            attendees: vec!["a@example.com".into()],
            body: None,
        };
        assert!(d.check().is_ok());
        let v = d.to_graph("tx-1");
        assert_eq!(
            v["start"],
            json!({"dateTime": "2026-12-08T09:00:00", "timeZone": "UTC"})
        );
        assert_eq!(v["end"]["dateTime"], "2026-12-08T09:30:00");
        assert_eq!(v["transactionId"], "tx-1");
        assert_eq!(
            v["attendees"][0]["emailAddress"]["address"],
            "a@example.com"
        );
        assert!(v.get("body").is_none());
        let backwards = EventDraft {
            end: d.start,
            ..d.clone()
        };
        assert!(backwards.check().is_err());
    }

    #[test]
    fn mail_needs_a_recipient_and_saves_to_sent_items() {
        let m = MailDraft {
            to: vec![],
            cc: vec!["c@example.com".into()],
            subject: "Hi".into(),
            body: "Text".into(),
        };
        assert!(m.check().is_err());
        let m = MailDraft {
            to: vec!["b@example.com".into()],
            ..m
        };
        assert!(m.check().is_ok());
        let v = m.to_graph();
        assert_eq!(v["saveToSentItems"], true);
        assert_eq!(v["message"]["body"]["contentType"], "Text");
        assert_eq!(
            v["message"]["ccRecipients"][0]["emailAddress"]["address"],
            "c@example.com"
        );
        let too_many = MailDraft {
            to: (0..60).map(|i| format!("p{i}@example.com")).collect(),
            cc: (0..41).map(|i| format!("c{i}@example.com")).collect(),
            ..m
        };
        assert!(too_many.check().is_err());
    }
}
