//! Result types, their parsing from Graph's JSON, and their one-item text form.
//!
//! Parsing is deliberately lenient and never panics: Graph omits fields (a search result
//! without `parentReference.path`, a recent item whose name and size live in `remoteItem`,
//! `mail: null` on personal accounts, `birthday: null`), adds `@odata.*` keys, and a hostile or
//! broken proxy may send anything. An item without an `id` is skipped; everything else that is
//! missing becomes `None`. Strings shown as text have control characters replaced, so a file
//! name cannot smuggle terminal escape sequences onto the person's screen.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, ZonedDateTime};
use serde::Serialize;
use serde_json::Value;

// ---------------------------------------------------------------------------------------
// helpers

fn s(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn nonempty(o: Option<String>) -> Option<String> {
    o.filter(|x| !x.trim().is_empty())
}

fn ts(v: &Value, key: &str) -> Option<Timestamp> {
    v.get(key)
        .and_then(Value::as_str)
        .and_then(|x| x.parse::<Timestamp>().ok())
}

/// A name, subject or address as one printable line for terminal display: escape sequences,
/// control characters, bidi overrides and zero-width characters removed
/// ([`sidekey_net::one_line`], the one sanitiser every crate shares).
pub(crate) fn clean(s: &str) -> String {
    sidekey_net::one_line(s, usize::MAX)
}

fn fmt_time(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned_datetime(tz.clone())
        .strftime("%a %Y-%m-%d %H:%M %Z")
        .to_string()
}

fn fmt_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", UNITS[i])
}

fn ser_zoned<S: serde::Serializer>(z: &ZonedDateTime, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(&z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
}

/// A person as Graph writes them (`emailAddress`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Person {
    pub name: String,
    pub address: String,
}

impl Person {
    fn from_graph(v: Option<&Value>) -> Option<Person> {
        let e = v?.get("emailAddress")?;
        let name = s(e, "name").unwrap_or_default();
        let address = s(e, "address").unwrap_or_default();
        if name.is_empty() && address.is_empty() {
            None
        } else {
            Some(Person { name, address })
        }
    }

    fn human(&self) -> String {
        match (self.name.is_empty(), self.address.is_empty()) {
            (false, false) if self.name != self.address => {
                format!("{} <{}>", clean(&self.name), clean(&self.address))
            }
            (true, false) | (false, false) => clean(&self.address),
            _ => clean(&self.name),
        }
    }
}

// ---------------------------------------------------------------------------------------
// me

/// The signed-in user (`GET /me`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Me {
    pub id: String,
    pub display_name: Option<String>,
    /// `mail`, or `userPrincipalName` when `mail` is null (personal accounts: the UPN is the
    /// sign-in address).
    pub email: Option<String>,
    /// As Graph sent it (null for personal accounts).
    pub mail: Option<String>,
    pub user_principal_name: Option<String>,
}

impl Me {
    pub(crate) fn from_graph(v: &Value) -> Option<Me> {
        let id = s(v, "id")?;
        let mail = nonempty(s(v, "mail"));
        let upn = nonempty(s(v, "userPrincipalName"));
        Some(Me {
            id,
            display_name: nonempty(s(v, "displayName")),
            email: mail.clone().or_else(|| upn.clone()),
            mail,
            user_principal_name: upn,
        })
    }

    pub fn human(&self) -> String {
        let name = self.display_name.as_deref().unwrap_or("(no name)");
        match &self.email {
            Some(e) => format!("{} <{}>", clean(name), clean(e)),
            None => clean(name),
        }
    }
}

// ---------------------------------------------------------------------------------------
// files

/// A OneDrive item (file, folder or package such as a OneNote notebook).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DriveItem {
    pub id: String,
    pub name: String,
    /// True for folders (`folder` facet).
    pub folder: bool,
    /// Folders: number of children, when Graph says.
    pub child_count: Option<u64>,
    /// The folder containing the item, readable (`/Documents/Taxes`), when Graph sends
    /// `parentReference.path` (search results often omit it).
    pub parent_path: Option<String>,
    pub size: Option<u64>,
    pub modified: Option<Timestamp>,
    pub web_url: Option<String>,
    pub mime_type: Option<String>,
    /// The item lives in another drive (shared with the person; `remoteItem`).
    pub remote: bool,
}

impl DriveItem {
    pub(crate) fn from_graph(v: &Value) -> Option<DriveItem> {
        let id = s(v, "id")?;
        let remote = v.get("remoteItem").filter(|r| r.is_object());
        // Top-level first, then remoteItem (docs/graph.md, "Drive items": name and size may only
        // be there).
        let pick = |key: &str| -> Option<&Value> {
            v.get(key)
                .filter(|x| !x.is_null())
                .or_else(|| remote.and_then(|r| r.get(key)).filter(|x| !x.is_null()))
        };
        let folder_facet = pick("folder");
        let parent_path = pick("parentReference")
            .and_then(|p| p.get("path"))
            .and_then(Value::as_str)
            .and_then(|p| p.split_once(':').map(|(_, rest)| rest))
            .map(|rest| {
                let d = crate::microsoft::odata::percent_decode(rest);
                if d.is_empty() { "/".to_string() } else { d }
            });
        let modified = pick("lastModifiedDateTime")
            .and_then(Value::as_str)
            .and_then(|x| x.parse().ok())
            .or_else(|| pick("fileSystemInfo").and_then(|f| ts(f, "lastModifiedDateTime")));
        Some(DriveItem {
            name: pick("name")
                .and_then(Value::as_str)
                .unwrap_or("(unnamed)")
                .to_string(),
            folder: folder_facet.is_some(),
            child_count: folder_facet
                .and_then(|f| f.get("childCount"))
                .and_then(Value::as_u64),
            parent_path,
            size: pick("size").and_then(Value::as_u64),
            modified,
            web_url: pick("webUrl").and_then(Value::as_str).map(str::to_owned),
            mime_type: pick("file")
                .and_then(|f| f.get("mimeType"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            remote: remote.is_some(),
            id,
        })
    }

    /// Two lines: name (folders end in `/`), size or child count, folder path, modified
    /// time in `tz`; then the web link.
    pub fn human(&self, tz: &TimeZone) -> String {
        let mut line = clean(&self.name);
        let mut bits = Vec::new();
        if self.folder {
            line.push('/');
            match self.child_count {
                Some(n) => bits.push(format!("folder, {n} items")),
                None => bits.push("folder".to_string()),
            }
        } else if let Some(sz) = self.size {
            bits.push(fmt_size(sz));
        }
        if self.remote {
            bits.push("shared".to_string());
        }
        if !bits.is_empty() {
            line.push_str(&format!(" ({})", bits.join(", ")));
        }
        if let Some(p) = &self.parent_path {
            line.push_str(&format!("  in {}", clean(p)));
        }
        if let Some(m) = self.modified {
            line.push_str(&format!("  modified {}", fmt_time(m, tz)));
        }
        if let Some(u) = &self.web_url {
            line.push_str(&format!("\n    {}", clean(u)));
        }
        line
    }
}

/// Which endpoint [`crate::Graph::files_recent_detailed`] ended up using.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecentSource {
    /// `/me/drive/recent` (deprecated; degraded until November 2026, then empty).
    Recent,
    /// The fallback: `/me/drive/root/search(q='')` (every page up to the page cap), sorted by
    /// modification time here — recently *modified*, approximate.
    Search,
}

/// Recent files and where they came from.
#[derive(Clone, Debug, Serialize)]
pub struct RecentFiles {
    pub items: Vec<DriveItem>,
    pub source: RecentSource,
    /// True for [`RecentSource::Search`]: recently *modified* files from a search of the
    /// drive, sorted here — an approximation of "recently used".
    pub approximate: bool,
}

/// Newest modification first; items without a time last; then by name.
pub(crate) fn sort_by_modified(items: &mut [DriveItem]) {
    items.sort_by(|a, b| {
        b.modified
            .cmp(&a.modified)
            .then_with(|| a.name.cmp(&b.name))
    });
}

// ---------------------------------------------------------------------------------------
// calendar

/// A calendar event, with its times in the person's zone.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CalendarEvent {
    pub id: String,
    pub subject: String,
    /// All-day events are *dates*, not instants: `start_date`..=`last_date` in the person's
    /// calendar, whatever the zone; `start`/`end` are then local midnights.
    pub all_day: bool,
    /// RFC 3339 with the person's offset, e.g. `2026-10-25T09:00:00+01:00`.
    #[serde(serialize_with = "ser_zoned")]
    pub start: ZonedDateTime,
    /// Exclusive end, RFC 3339 with the person's offset.
    #[serde(serialize_with = "ser_zoned")]
    pub end: ZonedDateTime,
    pub start_date: Date,
    /// Last day the event touches (inclusive; an all-day event ending "next midnight" has
    /// `last_date == start_date`).
    pub last_date: Date,
    pub location: Option<String>,
    pub organizer: Option<Person>,
    pub online_meeting_url: Option<String>,
    pub show_as: Option<String>,
    pub is_cancelled: bool,
    pub web_link: Option<String>,
}

/// A zone name as Graph writes it in `dateTimeTimeZone.timeZone`. We always ask for UTC
/// (`Prefer: outlook.timezone="UTC"`); IANA names are also understood. Anything else (a
/// Windows zone name from a server that ignored the header) is read as UTC.
fn graph_zone(name: &str) -> TimeZone {
    let n = name.trim();
    if n.is_empty()
        || n.eq_ignore_ascii_case("UTC")
        || n.eq_ignore_ascii_case("Etc/UTC")
        || n.eq_ignore_ascii_case("tzone://Microsoft/Utc")
    {
        return TimeZone::UTC;
    }
    TimeZone::get(n).unwrap_or(TimeZone::UTC)
}

/// `{dateTime, timeZone}` → civil date-time and its zone.
fn graph_dtz(v: Option<&Value>) -> Option<(jiff::civil::DateTime, TimeZone)> {
    let v = v?;
    let dt = s(v, "dateTime")?.parse::<jiff::civil::DateTime>().ok()?;
    let zone = graph_zone(&s(v, "timeZone").unwrap_or_default());
    Some((dt, zone))
}

fn last_date_of(start: &ZonedDateTime, end: &ZonedDateTime) -> Date {
    let d = end.date();
    if end > start && end.time() == jiff::civil::Time::midnight() && d > start.date() {
        d.yesterday().unwrap_or(d)
    } else {
        d.max(start.date())
    }
}

impl CalendarEvent {
    pub(crate) fn from_graph(v: &Value, tz: &TimeZone) -> Option<CalendarEvent> {
        let id = s(v, "id")?;
        let all_day = v.get("isAllDay").and_then(Value::as_bool).unwrap_or(false);
        let (sdt, szone) = graph_dtz(v.get("start"))?;
        let (edt, ezone) = graph_dtz(v.get("end"))?;
        let (start, end, start_date, last_date) = if all_day {
            // Floating dates: take the date part as written, never convert (docs/graph.md,
            // "Calendar view").
            let sd = sdt.date();
            let ed = edt.date().max(sd);
            let start = sd.to_zoned_datetime(tz.clone()).ok()?.start_of_day().ok()?;
            let end = if ed > sd {
                ed.to_zoned_datetime(tz.clone()).ok()?.start_of_day().ok()?
            } else {
                sd.tomorrow()
                    .ok()?
                    .to_zoned_datetime(tz.clone())
                    .ok()?
                    .start_of_day()
                    .ok()?
            };
            let last = if ed > sd { ed.yesterday().ok()? } else { sd };
            (start, end, sd, last)
        } else {
            let start = sdt
                .to_zoned_datetime(szone)
                .ok()?
                .with_time_zone(tz.clone());
            let end = edt
                .to_zoned_datetime(ezone)
                .ok()?
                .with_time_zone(tz.clone());
            let end = end.max(start.clone());
            let last = last_date_of(&start, &end);
            (start.clone(), end, start.date(), last)
        };
        let location = v
            .get("location")
            .and_then(|l| s(l, "displayName"))
            .filter(|x| !x.trim().is_empty());
        let online_meeting_url = v
            .get("onlineMeeting")
            .and_then(|o| s(o, "joinUrl"))
            .or_else(|| s(v, "onlineMeetingUrl"))
            .filter(|x| !x.is_empty());
        Some(CalendarEvent {
            id,
            subject: s(v, "subject").unwrap_or_default(),
            all_day,
            start,
            end,
            start_date,
            last_date,
            location,
            organizer: Person::from_graph(v.get("organizer")),
            online_meeting_url,
            show_as: s(v, "showAs"),
            is_cancelled: v
                .get("isCancelled")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            web_link: s(v, "webLink"),
        })
    }

    /// One line: day and times in `tz` (or "all day"), subject, location, online marker.
    pub fn human(&self, tz: &TimeZone) -> String {
        let when = if self.all_day {
            if self.last_date > self.start_date {
                format!(
                    "{} – {}  all day",
                    self.start_date.strftime("%a %Y-%m-%d"),
                    self.last_date.strftime("%a %Y-%m-%d")
                )
            } else {
                format!("{}  all day", self.start_date.strftime("%a %Y-%m-%d"))
            }
        } else {
            let s = self.start.with_time_zone(tz.clone());
            let e = self.end.with_time_zone(tz.clone());
            if s.date() == e.date() || last_date_of(&s, &e) == s.date() {
                format!(
                    "{} {}–{} {}",
                    s.strftime("%a %Y-%m-%d"),
                    s.strftime("%H:%M"),
                    e.strftime("%H:%M"),
                    s.strftime("%Z")
                )
            } else {
                format!(
                    "{} – {}",
                    s.strftime("%a %Y-%m-%d %H:%M"),
                    e.strftime("%a %Y-%m-%d %H:%M %Z")
                )
            }
        };
        let mut line = format!(
            "{when}  {}",
            if self.subject.is_empty() {
                "(no subject)".to_string()
            } else {
                clean(&self.subject)
            }
        );
        if let Some(l) = &self.location {
            line.push_str(&format!("  @ {}", clean(l)));
        }
        if self.online_meeting_url.is_some() {
            line.push_str("  (online)");
        }
        if self.is_cancelled {
            line.push_str("  [cancelled]");
        }
        line
    }
}

// ---------------------------------------------------------------------------------------
// mail

/// An email (fields available under `Mail.ReadBasic`: no body, no preview).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MailMessage {
    pub id: String,
    pub subject: String,
    pub from: Option<Person>,
    pub received: Option<Timestamp>,
    pub is_read: bool,
    pub has_attachments: bool,
    /// `low`, `normal` or `high`.
    pub importance: String,
    pub flagged: bool,
    /// `focused` or `other` (Outlook's Focused Inbox), when Graph says.
    pub inference: Option<String>,
    pub web_link: Option<String>,
}

impl MailMessage {
    pub(crate) fn from_graph(v: &Value) -> Option<MailMessage> {
        Some(MailMessage {
            id: s(v, "id")?,
            subject: s(v, "subject").unwrap_or_default(),
            from: Person::from_graph(v.get("from")).or_else(|| Person::from_graph(v.get("sender"))),
            received: ts(v, "receivedDateTime"),
            is_read: v.get("isRead").and_then(Value::as_bool).unwrap_or(false),
            has_attachments: v
                .get("hasAttachments")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            importance: s(v, "importance").unwrap_or_else(|| "normal".to_string()),
            flagged: v
                .get("flag")
                .and_then(|f| s(f, "flagStatus"))
                .is_some_and(|f| f.eq_ignore_ascii_case("flagged")),
            inference: s(v, "inferenceClassification"),
            web_link: s(v, "webLink"),
        })
    }

    /// High importance, flagged, or in the Focused Inbox: what the dashboard calls important.
    pub fn is_important(&self) -> bool {
        self.importance.eq_ignore_ascii_case("high")
            || self.flagged
            || self
                .inference
                .as_deref()
                .is_some_and(|i| i.eq_ignore_ascii_case("focused"))
    }

    /// One line: received time in `tz`, sender, subject, markers.
    pub fn human(&self, tz: &TimeZone) -> String {
        let when = self
            .received
            .map(|t| fmt_time(t, tz))
            .unwrap_or_else(|| "(no date)".to_string());
        let from = self
            .from
            .as_ref()
            .map(Person::human)
            .unwrap_or_else(|| "(unknown sender)".to_string());
        let subject = if self.subject.is_empty() {
            "(no subject)".to_string()
        } else {
            clean(&self.subject)
        };
        let mut line = format!("{when}  {from}  {subject}");
        if self.importance.eq_ignore_ascii_case("high") {
            line.push_str("  [!]");
        }
        if self.flagged {
            line.push_str("  [flagged]");
        }
        if self.has_attachments {
            line.push_str("  [attachment]");
        }
        line
    }
}

// ---------------------------------------------------------------------------------------
// birthdays

/// Which birthdays to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BirthdayFilter {
    /// Birthdays in this month (1–12), each at its next occurrence.
    Month(i8),
    /// Birthdays from today up to and including today + N days.
    NextDays(u16),
}

/// A contact's birthday and its next occurrence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Birthday {
    pub contact_id: String,
    pub name: String,
    pub month: i8,
    pub day: i8,
    /// Birth year, when known (Outlook stores year-less birthdays with a placeholder year
    /// such as 1604; years before 1800 are treated as unknown).
    pub year: Option<i16>,
    /// The next occurrence on or after today. **Feb 29 policy:** in years without Feb 29 the
    /// birthday is celebrated on Feb 28 (it stays in February, so `--month 2` finds it).
    pub next: Date,
    pub days_until: i32,
    /// Age reached on `next`, when the year is known.
    pub turns: Option<i16>,
}

/// The occurrence of month/day in `year`, with Feb 29 → Feb 28 in common years.
fn occurrence(year: i16, month: i8, day: i8) -> Option<Date> {
    Date::new(year, month, day).ok().or_else(|| {
        (month == 2 && day == 29)
            .then(|| Date::new(year, 2, 28).ok())
            .flatten()
    })
}

impl Birthday {
    pub(crate) fn from_graph(v: &Value, today: Date) -> Option<Birthday> {
        let id = s(v, "id")?;
        let raw = s(v, "birthday")?;
        // A date, not an instant: never converted to the person's zone (that shifts the
        // day). Rounded to the nearest date: Graph documents UTC midnight, 11:59Z occurs, and
        // clients in UTC+ zones store their local midnight, e.g. `…-17T22:00:00Z` for the
        // 18th (krtek/Birthday-widget#37; MS-ASCNTC 2.2.2.6: the time "SHOULD be ignored").
        // So a time from 12:00Z on means the next day.
        let written: Date = raw.get(..10)?.parse().ok()?;
        let date = match raw.parse::<Timestamp>() {
            Ok(t) => {
                let dt = t.to_zoned_datetime(TimeZone::UTC).datetime();
                if dt.hour() >= 12 {
                    dt.date().tomorrow().unwrap_or(dt.date())
                } else {
                    dt.date()
                }
            }
            Err(_) => written,
        };
        let year = (date.year() >= 1800 && date <= today).then_some(date.year());
        let (m, d) = (date.month(), date.day());
        let this_year = occurrence(today.year(), m, d)?;
        let next = if this_year >= today {
            this_year
        } else {
            occurrence(today.year().checked_add(1)?, m, d)?
        };
        let days_until = today.until(next).ok()?.get_days();
        let name = nonempty(s(v, "displayName"))
            .or_else(|| {
                let g = s(v, "givenName").unwrap_or_default();
                let f = s(v, "surname").unwrap_or_default();
                nonempty(Some(format!("{g} {f}").trim().to_string()))
            })
            .unwrap_or_else(|| "(no name)".to_string());
        Some(Birthday {
            contact_id: id,
            name,
            month: m,
            day: d,
            year,
            next,
            days_until,
            turns: year.map(|y| next.year() - y),
        })
    }

    pub(crate) fn matches(&self, filter: BirthdayFilter) -> bool {
        match filter {
            BirthdayFilter::Month(m) => self.month == m,
            BirthdayFilter::NextDays(n) => self.days_until >= 0 && self.days_until <= i32::from(n),
        }
    }

    /// One line: next date, name, age turning, "today"/"in N days".
    pub fn human(&self) -> String {
        let mut line = format!(
            "{}  {}",
            self.next.strftime("%a %Y-%m-%d"),
            clean(&self.name)
        );
        if let Some(t) = self.turns {
            line.push_str(&format!(" (turns {t})"));
        }
        if self.month == 2 && self.day == 29 && self.next.day() == 28 {
            line.push_str(" (born Feb 29)");
        }
        match self.days_until {
            0 => line.push_str("  today"),
            1 => line.push_str("  tomorrow"),
            n => line.push_str(&format!("  in {n} days")),
        }
        line
    }
}

/// Today + n days, saturating (for windows computed from a date).
pub(crate) fn plus_days(d: Date, n: i64) -> Date {
    d.checked_add(n.days()).unwrap_or(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn feb_29_is_celebrated_on_feb_28_in_common_years() {
        let today = Date::new(2026, 2, 1).unwrap();
        let b = Birthday::from_graph(
            &json!({"id":"1","displayName":"Leap","birthday":"2000-02-29T11:59:00Z"}),
            today,
        )
        .unwrap();
        assert_eq!(b.next, Date::new(2026, 2, 28).unwrap());
        assert_eq!(b.turns, Some(26));
        assert!(b.matches(BirthdayFilter::Month(2)));
        let leap = Birthday::from_graph(
            &json!({"id":"1","displayName":"Leap","birthday":"2000-02-29T00:00:00Z"}),
            Date::new(2028, 1, 1).unwrap(),
        )
        .unwrap();
        assert_eq!(leap.next, Date::new(2028, 2, 29).unwrap());
    }

    #[test]
    fn birthdays_are_rounded_to_the_nearest_date() {
        let today = Date::new(2026, 1, 1).unwrap();
        let day = |raw: &str| {
            let b = Birthday::from_graph(&json!({"id":"1","birthday":raw}), today).unwrap();
            (b.year, b.month, b.day)
        };
        assert_eq!(day("1985-07-22T00:00:00Z"), (Some(1985), 7, 22));
        assert_eq!(day("1985-07-22T11:59:00Z"), (Some(1985), 7, 22));
        assert_eq!(day("1985-07-21T12:00:00Z"), (Some(1985), 7, 22));
        assert_eq!(day("1985-07-21T22:00:00Z"), (Some(1985), 7, 22));
        assert_eq!(day("1985-07-21T22:00:00.0000000Z"), (Some(1985), 7, 22));
        assert_eq!(day("1989-12-31T23:00:00Z"), (Some(1990), 1, 1));
        assert_eq!(day("2000-02-28T22:00:00Z"), (Some(2000), 2, 29));
        assert_eq!(day("1604-10-31T22:00:00Z"), (None, 11, 1));
        // A date without a time, as some proxies send it.
        assert_eq!(day("1985-07-22"), (Some(1985), 7, 22));
    }

    #[test]
    fn hostile_shapes_do_not_panic() {
        let tz = TimeZone::UTC;
        for v in [
            json!(null),
            json!([]),
            json!({"id": 5}),
            json!({"id":"x","birthday":"é"}),
            json!({"id":"x","birthday":"ééééééééééééé"}),
            json!({"id":"x","start":{"dateTime":"nope"},"end":{}}),
            json!({"id":"x","remoteItem":"str","parentReference":{"path":"%%%:%ff%"}}),
        ] {
            let _ = Birthday::from_graph(&v, Date::new(2026, 1, 1).unwrap());
            let _ = CalendarEvent::from_graph(&v, &tz);
            let _ = DriveItem::from_graph(&v).map(|d| d.human(&tz));
            let _ = MailMessage::from_graph(&v).map(|m| m.human(&tz));
            let _ = Me::from_graph(&v);
        }
    }

    #[test]
    fn text_has_no_control_characters() {
        let d = DriveItem::from_graph(&json!({"id":"1","name":"evil\u{1b}[2Jname\r\n"})).unwrap();
        assert!(!d.human(&TimeZone::UTC).contains('\u{1b}'));
    }
}
