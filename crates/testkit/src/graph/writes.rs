//! The fake Graph's writes, as Graph documents them (docs/graph.md, "Writes"):
//!
//! * `POST /me/events` (and `/me/calendar/events`): 201 Created with the full event. A
//!   `transactionId` seen before creates nothing and answers the first event again (Graph
//!   documents the property as the way "to avoid redundant POST operations in case of client
//!   retries to create the same event"; it documents no status or window for the repeat, so the
//!   fake answers 201 with the first event, for as long as it runs). `start`/`end` take `UTC`
//!   or one of the IANA names Graph lists for `dateTimeTimeZone`; another name is 400
//!   `TimeZoneNotSupportedException`. Created events show up in `calendarView`.
//! * `POST /me/sendMail`: 202 Accepted with no body. No recipient at all, or one that is not
//!   an address, is 400 `ErrorInvalidRecipients`; `saveToSentItems` (bool, or the doc
//!   example's string) defaults to true.
//! * `PUT /me/drive/root:/{path}:/content?@microsoft.graph.conflictBehavior=fail|rename|replace`:
//!   201 for a new file, 200 when `replace` replaced one, 409 `nameAlreadyExists` when the
//!   name is taken and the behaviour is `fail`; `rename` takes the first free `name N.ext`.
//!   Without the parameter the behaviour is `replace`, Graph's default for PUT. Names compare
//!   case-insensitively, with the sample's files and earlier uploads. `GET
//!   /me/drive/items/{id}` serves uploads too.
//! * `POST /me/onenote/pages?sectionName=…` with `text/html` (or `application/xhtml+xml`): 201
//!   Created with the page and its `Location`. The section is matched case-insensitively and
//!   created when missing, as OneNote does; a section name OneNote refuses is 400 with
//!   OneNote's numeric code (20152–20155). The fake reads the page as OneNote shows it: the
//!   `<title>` and each `<p>` as text (`<br/>` a line break, other tags dropped, entities
//!   decoded), so markup that was not escaped is lost, as it would be.
//!
//! Each checks its scope first (403 `ErrorAccessDenied` for mail and events, `accessDenied`
//! for files, OneNote's `40004` for pages), mail and events also the mailbox.
//! [`FakeGraph::fail_after_write`](super::FakeGraph::fail_after_write) makes a write happen
//! and then answers a 5xx, or never answers ([`WriteFault`]).
//!
//! # Deliberate simplifications
//!
//! * A malformed event body is 400 `ErrorInvalidParameter` whatever was wrong (Graph's code
//!   depends on the case and is not documented for each). Events are kept in UTC; Windows
//!   zone names other than `UTC` are refused here (Graph takes them).
//! * Uploads do not check that folders exist or what names hold (sidekey checks names
//!   before sending); they are stored in memory whole.

use super::*;

/// What happens to a write after it was carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteFault {
    /// Answer this status with Graph's error body (500 `generalException`, 503
    /// `serviceNotAvailable`, …).
    Status(u16),
    /// Never answer: the client times out or gives up.
    Hang,
}

/// An event created through `POST /me/events`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeCreatedEvent {
    pub id: String,
    pub subject: String,
    /// RFC 3339 UTC.
    pub start: String,
    /// RFC 3339 UTC.
    pub end: String,
    /// `start.timeZone` as sent.
    pub time_zone: String,
    pub location: String,
    pub attendees: Vec<String>,
    /// The body's content, as sent.
    pub body: Option<String>,
    pub transaction_id: Option<String>,
}

/// A mail `POST /me/sendMail` accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeSentMail {
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub subject: String,
    /// `Text` or `HTML`, as sent.
    pub content_type: String,
    pub body: String,
    pub save_to_sent_items: bool,
}

/// A file uploaded with the simple upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeUpload {
    pub id: String,
    /// The folder, readable, from the root: `/Notes/2026`, `/` for the root.
    pub folder: String,
    pub name: String,
    pub content: Vec<u8>,
    /// How many times its content was written (1, then 2 after a replace, …).
    pub versions: u32,
    /// RFC 3339 UTC.
    pub modified: String,
}

/// A OneNote page created through `POST /me/onenote/pages`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakePage {
    pub id: String,
    /// The section's name as first created (a later name that differs in case is the same
    /// section).
    pub section: String,
    /// The `<title>`, as text.
    pub title: String,
    /// The paragraphs as text, separated by a blank line.
    pub text: String,
    /// The HTML as sent.
    pub html: String,
    pub content_type: String,
}

/// What the writes made, and the faults waiting for them.
#[derive(Default)]
pub(super) struct Writes {
    pub(super) events: Vec<FakeCreatedEvent>,
    pub(super) mails: Vec<FakeSentMail>,
    pub(super) uploads: Vec<FakeUpload>,
    pub(super) pages: Vec<FakePage>,
    /// OneNote sections of the default notebook, by name.
    sections: Vec<String>,
    /// `(path contains, times left, fault)`.
    pub(super) faults: Vec<(String, usize, WriteFault)>,
    next: u64,
}

impl Writes {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}-{:04}", self.next)
    }

    /// The created events as `calendarView` serves them.
    pub(super) fn calendar_events(&self) -> Vec<FakeEvent> {
        self.events.iter().map(calendar_event).collect()
    }

    /// The uploaded file with this id, as a drive item.
    pub(super) fn drive_file(&self, id: &str) -> Option<FakeFile> {
        self.uploads.iter().find(|u| u.id == id).map(upload_file)
    }

    fn take_fault(&mut self, target: &str) -> Option<WriteFault> {
        let f = self
            .faults
            .iter_mut()
            .find(|(p, left, _)| *left > 0 && target.contains(p.as_str()))?;
        f.1 -= 1;
        Some(f.2)
    }
}

fn calendar_event(e: &FakeCreatedEvent) -> FakeEvent {
    FakeEvent {
        id: e.id.clone(),
        subject: e.subject.clone(),
        start: e.start.clone(),
        end: e.end.clone(),
        all_day: false,
        location: e.location.clone(),
        organizer_name: String::new(),
        organizer_address: String::new(),
        online_join_url: None,
        show_as: "busy".into(),
        cancelled: false,
    }
}

fn upload_file(u: &FakeUpload) -> FakeFile {
    FakeFile {
        id: u.id.clone(),
        name: u.name.clone(),
        folder: false,
        child_count: 0,
        parent_path: u.folder.clone(),
        size: u.content.len() as u64,
        modified: u.modified.clone(),
        mime_type: "application/octet-stream".into(),
        recent: false,
        accessed: None,
        remote: false,
    }
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A write (`method` not GET) to `rest` (the path after `/v1.0`).
pub(super) fn route(sh: &Req<'_>, req: &Incoming<'_>, rest: &str) -> Reply {
    let decoded = pct_decode(rest, false);
    let lower = decoded.to_ascii_lowercase();
    let q = match Query::parse(req.raw_query.unwrap_or("")) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let reply = match (req.method, lower.as_str()) {
        ("POST", "/me/events" | "/me/calendar/events") => {
            if !sh.allowed(Need::CalendarWrite) {
                return denied(Need::CalendarWrite);
            }
            if let Some(r) = no_mailbox(sh) {
                return r;
            }
            create_event(sh, req.body)
        }
        ("POST", "/me/sendmail") => {
            if !sh.allowed(Need::MailSend) {
                return denied(Need::MailSend);
            }
            if let Some(r) = no_mailbox(sh) {
                return r;
            }
            send_mail(sh, req.body)
        }
        ("POST", "/me/onenote/pages") => {
            if !sh.allowed(Need::NotesCreate) {
                return denied(Need::NotesCreate);
            }
            create_page(sh, req, &q)
        }
        ("PUT", p) if p.starts_with("/me/drive/root:/") && p.ends_with(":/content") => {
            if !sh.allowed(Need::FilesWrite) {
                return denied(Need::FilesWrite);
            }
            upload(sh, rest, &q, req.bytes)
        }
        _ => {
            return gerr(
                405,
                "BadRequest",
                &format!(
                    "The fake Graph does not serve {} {}.",
                    req.method,
                    one_line(&decoded)
                ),
            );
        }
    };
    // A fault applies to a write that was carried out.
    if !(200..300).contains(&reply.status) {
        return reply;
    }
    let target = match req.raw_query {
        Some(q) => format!("{}?{q}", req.raw_path),
        None => req.raw_path.to_string(),
    };
    let fault = sh.lock().writes.take_fault(&target);
    match fault {
        None => reply,
        Some(WriteFault::Hang) => Reply {
            hang: true,
            ..reply
        },
        Some(WriteFault::Status(503)) => {
            let mut r = gerr(
                503,
                "serviceNotAvailable",
                "The service is temporarily unavailable. Please try again later.",
            );
            r.headers.push(("Retry-After".into(), "1".into()));
            r
        }
        Some(WriteFault::Status(s)) => {
            gerr(s, "generalException", "An unspecified error has occurred.")
        }
    }
}

fn one_line(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(120).collect()
}

fn json_body(body: &str) -> Result<Map<String, Value>, Reply> {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(bad(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )),
    }
}

fn invalid(message: &str) -> Reply {
    gerr(400, "ErrorInvalidParameter", message)
}

/// The IANA names `dateTimeTimeZone.timeZone` takes besides Windows names (datetimetimezone.md).
#[rustfmt::skip]
const GRAPH_IANA_ZONES: &[&str] = &[
    "Etc/GMT+12", "Etc/GMT+11", "Pacific/Honolulu", "America/Anchorage", "America/Santa_Isabel",
    "America/Los_Angeles", "America/Phoenix", "America/Chihuahua", "America/Denver",
    "America/Guatemala", "America/Chicago", "America/Mexico_City", "America/Regina",
    "America/Bogota", "America/New_York", "America/Indiana/Indianapolis", "America/Caracas",
    "America/Asuncion", "America/Halifax", "America/Cuiaba", "America/La_Paz",
    "America/Santiago", "America/St_Johns", "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires", "America/Cayenne", "America/Godthab",
    "America/Montevideo", "America/Bahia", "Etc/GMT+2", "Atlantic/Azores", "Atlantic/Cape_Verde",
    "Africa/Casablanca", "Etc/GMT", "Europe/London", "Atlantic/Reykjavik", "Europe/Berlin",
    "Europe/Budapest", "Europe/Paris", "Europe/Warsaw", "Africa/Lagos", "Africa/Windhoek",
    "Europe/Bucharest", "Asia/Beirut", "Africa/Cairo", "Asia/Damascus", "Africa/Johannesburg",
    "Europe/Kyiv", "Europe/Istanbul", "Asia/Jerusalem", "Asia/Amman", "Asia/Baghdad",
    "Europe/Kaliningrad", "Asia/Riyadh", "Africa/Nairobi", "Asia/Tehran", "Asia/Dubai",
    "Asia/Baku", "Europe/Moscow", "Indian/Mauritius", "Asia/Tbilisi", "Asia/Yerevan",
    "Asia/Kabul", "Asia/Karachi", "Asia/Tashkent", "Asia/Kolkata", "Asia/Colombo",
    "Asia/Kathmandu", "Asia/Almaty", "Asia/Dhaka", "Asia/Yekaterinburg", "Asia/Yangon",
    "Asia/Bangkok", "Asia/Novosibirsk", "Asia/Shanghai", "Asia/Krasnoyarsk", "Asia/Singapore",
    "Australia/Perth", "Asia/Taipei", "Asia/Ulaanbaatar", "Asia/Irkutsk", "Asia/Tokyo",
    "Asia/Seoul", "Australia/Adelaide", "Australia/Darwin", "Australia/Brisbane",
    "Australia/Sydney", "Pacific/Port_Moresby", "Australia/Hobart", "Asia/Yakutsk",
    "Pacific/Guadalcanal", "Asia/Vladivostok", "Pacific/Auckland", "Etc/GMT-12", "Pacific/Fiji",
    "Asia/Magadan", "Pacific/Tongatapu", "Pacific/Apia", "Pacific/Kiritimati",
];

/// `{dateTime, timeZone}` → Unix seconds, and the zone as sent.
fn graph_instant(v: Option<&Value>, which: &str) -> Result<(i64, String), Reply> {
    let Some(v) = v.and_then(Value::as_object) else {
        return Err(invalid(&format!(
            "The {which} time of the event is missing."
        )));
    };
    let zone = v
        .get("timeZone")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let tz = if zone.eq_ignore_ascii_case("UTC") {
        jiff::tz::TimeZone::UTC
    } else {
        match GRAPH_IANA_ZONES
            .iter()
            .find(|z| z.eq_ignore_ascii_case(&zone))
            .and_then(|z| jiff::tz::TimeZone::get(z).ok())
        {
            Some(tz) => tz,
            None => {
                return Err(gerr(
                    400,
                    "TimeZoneNotSupportedException",
                    &format!(
                        "A valid TimeZone value must be specified. The following TimeZone value is not supported: '{}'.",
                        one_line(&zone)
                    ),
                ));
            }
        }
    };
    let dt = v
        .get("dateTime")
        .and_then(Value::as_str)
        .and_then(|d| d.parse::<jiff::civil::DateTime>().ok())
        .ok_or_else(|| invalid(&format!("The {which} dateTime of the event is not valid.")))?;
    let t = dt.to_zoned_datetime(tz).map_err(|_| {
        invalid(&format!(
            "The {which} dateTime of the event is out of range."
        ))
    })?;
    Ok((t.timestamp().as_second(), zone))
}

fn create_event(sh: &Req<'_>, body: &str) -> Reply {
    let m = match json_body(body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let tx = m
        .get("transactionId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(tx) = &tx {
        let st = sh.lock();
        if let Some(e) = st
            .writes
            .events
            .iter()
            .find(|e| e.transaction_id.as_deref() == Some(tx))
        {
            return created_event_reply(e);
        }
    }
    let (start, zone) = match graph_instant(m.get("start"), "start") {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (end, _) = match graph_instant(m.get("end"), "end") {
        Ok(x) => x,
        Err(r) => return r,
    };
    if end < start {
        return invalid("The end of the event is before its start.");
    }
    let mut attendees = Vec::new();
    for a in m
        .get("attendees")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match a.pointer("/emailAddress/address").and_then(Value::as_str) {
            Some(addr) if plausible_address(addr) => attendees.push(addr.to_string()),
            _ => return invalid("An attendee has no valid emailAddress."),
        }
    }
    let rfc = |t: i64| {
        jiff::Timestamp::from_second(t)
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default()
    };
    let mut st = sh.lock();
    let id = st.writes.id("E-NEW");
    let e = FakeCreatedEvent {
        id,
        subject: m
            .get("subject")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        start: rfc(start),
        end: rfc(end),
        time_zone: zone,
        location: m
            .get("location")
            .and_then(|l| l.get("displayName"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        attendees,
        body: m
            .get("body")
            .and_then(|b| b.get("content"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        transaction_id: tx,
    };
    st.writes.events.push(e.clone());
    drop(st);
    created_event_reply(&e)
}

fn created_event_reply(e: &FakeCreatedEvent) -> Reply {
    let ev = calendar_event(e);
    let span = event_span(&ev).unwrap_or((0, 0));
    let mut v = event_json(span.0, span.1, &ev);
    v["attendees"] = e
        .attendees
        .iter()
        .map(|a| json!({"type": "required", "status": {"response": "none", "time": "0001-01-01T00:00:00Z"}, "emailAddress": {"name": a, "address": a}}))
        .collect();
    v["body"] = json!({"contentType": "text", "content": e.body.clone().unwrap_or_default()});
    if let Some(tx) = &e.transaction_id {
        v["transactionId"] = json!(tx);
    }
    Reply {
        status: 201,
        ..ok(v)
    }
}

/// An address as Exchange resolves one: `local@domain`, no spaces or angle brackets.
fn plausible_address(a: &str) -> bool {
    match a.split_once('@') {
        Some((l, d)) => {
            !l.is_empty()
                && d.contains('.')
                && !d.contains('@')
                && !a.chars().any(|c| c.is_whitespace() || "<>,;".contains(c))
        }
        None => false,
    }
}

fn send_mail(sh: &Req<'_>, body: &str) -> Reply {
    let m = match json_body(body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let Some(msg) = m.get("message").and_then(Value::as_object) else {
        return bad("Empty Payload. JSON content expected.");
    };
    let mut lists: [Vec<String>; 3] = Default::default();
    for (i, key) in ["toRecipients", "ccRecipients", "bccRecipients"]
        .iter()
        .enumerate()
    {
        for r in msg
            .get(*key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let addr = r
                .pointer("/emailAddress/address")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !plausible_address(addr) {
                return gerr(
                    400,
                    "ErrorInvalidRecipients",
                    &format!(
                        "At least one recipient is not valid., Recipient '{}' is not resolved. All recipients must be resolved before a message can be submitted.",
                        one_line(addr)
                    ),
                );
            }
            lists[i].push(addr.to_string());
        }
    }
    if lists.iter().all(Vec::is_empty) {
        return gerr(
            400,
            "ErrorInvalidRecipients",
            "At least one recipient is required, but none were found.",
        );
    }
    let content_type = msg
        .get("body")
        .and_then(|b| b.get("contentType"))
        .and_then(Value::as_str)
        .unwrap_or("Text")
        .to_string();
    if !["text", "html"].contains(&content_type.to_ascii_lowercase().as_str()) {
        return gerr(
            400,
            "RequestBodyRead",
            &format!(
                "Requested value '{}' was not found.",
                one_line(&content_type)
            ),
        );
    }
    let save = match m.get("saveToSentItems") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.eq_ignore_ascii_case("false"),
        Some(_) => return bad("The value of saveToSentItems is not a boolean."),
    };
    let [to, cc, bcc] = lists;
    sh.lock().writes.mails.push(FakeSentMail {
        to,
        cc,
        bcc,
        subject: msg
            .get("subject")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        content_type,
        body: msg
            .get("body")
            .and_then(|b| b.get("content"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        save_to_sent_items: save,
    });
    Reply {
        status: 202,
        ..ok(Value::Null)
    }
}

fn upload(sh: &Req<'_>, raw_rest: &str, q: &Query, content: &[u8]) -> Reply {
    // `/me/drive/root:/{segments}:/content`, each segment percent-encoded (the `:` and `/`
    // around them as they are).
    const HEAD: &str = "/me/drive/root:/";
    const TAIL: &str = ":/content";
    let lower = raw_rest.to_ascii_lowercase();
    let inner = match lower.strip_prefix(HEAD).and_then(|r| r.strip_suffix(TAIL)) {
        Some(i) if !i.is_empty() => &raw_rest[HEAD.len()..HEAD.len() + i.len()],
        _ => return gerr(400, "invalidRequest", "Invalid request"),
    };
    let segments: Vec<String> = inner.split('/').map(|s| pct_decode(s, false)).collect();
    if segments
        .iter()
        .any(|s| s.is_empty() || s.contains('/') || s == "." || s == "..")
    {
        return gerr(400, "invalidRequest", "Invalid request");
    }
    let behaviour = q
        .get("@microsoft.graph.conflictBehavior")
        .unwrap_or("replace")
        .to_ascii_lowercase();
    if !["fail", "rename", "replace"].contains(&behaviour.as_str()) {
        return gerr(
            400,
            "invalidRequest",
            "Invalid value for @microsoft.graph.conflictBehavior.",
        );
    }
    let Some((name, folders)) = segments.split_last() else {
        return gerr(400, "invalidRequest", "Invalid request");
    };
    let folder = format!("/{}", folders.join("/"));
    let folder = if folder == "/" {
        folder
    } else {
        folder.trim_end_matches('/').to_string()
    };
    let same = |f: &str, n: &str| {
        f.eq_ignore_ascii_case(&folder) && n.to_lowercase() == name.to_lowercase()
    };
    let mut st = sh.lock();
    let uploaded = st
        .writes
        .uploads
        .iter()
        .position(|u| same(&u.folder, &u.name));
    let sample = sh
        .opts
        .data
        .files
        .iter()
        .find(|f| same(&f.parent_path, &f.name));
    let taken = |st: &GState, n: &str| {
        st.writes.uploads.iter().any(|u| {
            u.folder.eq_ignore_ascii_case(&folder) && u.name.to_lowercase() == n.to_lowercase()
        }) || sh.opts.data.files.iter().any(|f| {
            f.parent_path.eq_ignore_ascii_case(&folder) && f.name.to_lowercase() == n.to_lowercase()
        })
    };
    let exists = uploaded.is_some() || sample.is_some();
    let (status, file) = match (exists, behaviour.as_str()) {
        (true, "fail") => {
            return gerr(
                409,
                "nameAlreadyExists",
                "The specified item name already exists.",
            );
        }
        (true, "replace") => {
            let modified = now();
            let i = match uploaded {
                Some(i) => i,
                None => {
                    // The sample's file gets its first uploaded content.
                    let Some(s) = sample else {
                        return gerr(
                            500,
                            "generalException",
                            "An unspecified error has occurred.",
                        );
                    };
                    st.writes.uploads.push(FakeUpload {
                        id: s.id.clone(),
                        folder: s.parent_path.clone(),
                        name: s.name.clone(),
                        content: Vec::new(),
                        versions: 1,
                        modified: s.modified.clone(),
                    });
                    st.writes.uploads.len() - 1
                }
            };
            let u = &mut st.writes.uploads[i];
            u.content = content.to_vec();
            u.versions += 1;
            u.modified = modified;
            (200, u.clone())
        }
        (true, _) => {
            let (stem, ext) = match name.rfind('.') {
                Some(i) if i > 0 => (&name[..i], &name[i..]),
                _ => (name.as_str(), ""),
            };
            // One of n + 1 candidates is free when n names are taken.
            let Some(free) = (1..=st.writes.uploads.len() + sh.opts.data.files.len() + 1)
                .map(|n| format!("{stem} {n}{ext}"))
                .find(|n| !taken(&st, n))
            else {
                return gerr(
                    500,
                    "generalException",
                    "An unspecified error has occurred.",
                );
            };
            let id = st.writes.id("F-NEW");
            let u = FakeUpload {
                id,
                folder: folder.clone(),
                name: free,
                content: content.to_vec(),
                versions: 1,
                modified: now(),
            };
            st.writes.uploads.push(u.clone());
            (201, u)
        }
        (false, _) => {
            let id = st.writes.id("F-NEW");
            let u = FakeUpload {
                id,
                folder: folder.clone(),
                name: name.clone(),
                content: content.to_vec(),
                versions: 1,
                modified: now(),
            };
            st.writes.uploads.push(u.clone());
            (201, u)
        }
    };
    drop(st);
    Reply {
        status,
        ..ok(drive_json(&upload_file(&file), true, false))
    }
}

/// OneNote's rules for a section name (onenote-error-codes.md, 20152–20155).
fn section_refused(name: &str) -> Option<Reply> {
    let (code, message) = if name.trim().is_empty() {
        ("20152", "There is no name value specified for the entity.")
    } else if name.chars().any(|c| "?*\\/:<>|&#\"%~".contains(c)) {
        (
            "20153",
            "The entity name contains invalid characters. The name cannot contain the following characters: ? * \\ / : < > | & # \" % ~",
        )
    } else if name.starts_with(' ') {
        ("20154", "The entity name cannot start with a space.")
    } else if name.chars().count() > 50 {
        ("20155", "The entity name is too long.")
    } else {
        return None;
    };
    Some(gerr(400, code, message))
}

fn create_page(sh: &Req<'_>, req: &Incoming<'_>, q: &Query) -> Reply {
    let content_type = header_of(req.headers, "content-type")
        .unwrap_or("")
        .to_string();
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media != "text/html" && media != "application/xhtml+xml" {
        return gerr(
            400,
            "20131",
            "Your request contains an invalid value for Content-Type. Use text/html or application/xhtml+xml.",
        );
    }
    if req.body.trim().is_empty() {
        return gerr(400, "20132", "Your request contains invalid content.");
    }
    let asked = q.get("sectionName").unwrap_or("Quick Notes").to_string();
    if let Some(r) = section_refused(&asked) {
        return r;
    }
    let (title, paragraphs) = read_page(req.body);
    let mut st = sh.lock();
    let section = match st
        .writes
        .sections
        .iter()
        .find(|s| s.to_lowercase() == asked.to_lowercase())
    {
        Some(s) => s.clone(),
        None => {
            st.writes.sections.push(asked.clone());
            asked
        }
    };
    st.writes.next += 1;
    let id = format!("1-{:032x}!1-0", st.writes.next);
    let page = FakePage {
        id: id.clone(),
        section,
        title: title.clone(),
        text: paragraphs.join("\n\n"),
        html: req.body.to_string(),
        content_type,
    };
    st.writes.pages.push(page);
    drop(st);
    let self_url = format!("{}/v1.0/me/onenote/pages/{id}", sh.base);
    let mut r = Reply {
        status: 201,
        ..ok(json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('me')/onenote/pages/$entity",
            "id": id,
            "self": self_url,
            "title": title,
            "createdDateTime": now(),
            "createdByAppId": "",
            "contentUrl": format!("{self_url}/content"),
            "links": {
                "oneNoteClientUrl": {"href": format!("onenote:https://onenote.example.test/pages/{id}")},
                "oneNoteWebUrl": {"href": format!("https://onenote.example.test/pages/{id}")},
            },
        }))
    };
    r.headers.push(("Location".into(), self_url));
    r
}

/// The title and paragraphs of a page's HTML as OneNote would show them.
fn read_page(html: &str) -> (String, Vec<String>) {
    let title = html
        .find("<title>")
        .and_then(|i| {
            let rest = &html[i + "<title>".len()..];
            rest.find("</title>").map(|j| &rest[..j])
        })
        .map(|t| decode_entities(&strip_tags(t)))
        .unwrap_or_default();
    let body = match html.find("<body") {
        Some(i) => &html[i..],
        None => html,
    };
    let mut paragraphs = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find("<p>") {
        let after = &rest[i + 3..];
        let Some(j) = after.find("</p>") else { break };
        let inner = after[..j]
            .replace("<br/>", "\n")
            .replace("<br />", "\n")
            .replace("<br>", "\n");
        paragraphs.push(decode_entities(&strip_tags(&inner)));
        rest = &after[j + 4..];
    }
    (title, paragraphs)
}

/// The text of `s` with its tags dropped.
fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn decode_entities(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let Some(end) = after.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &after[1..];
            continue;
        };
        let entity = &after[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
