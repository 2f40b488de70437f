//! [`Graph`]: the bounded HTTP client and the operations.
//!
//! # Transport rules (docs/graph.md)
//!
//! * Every request — first pages, `@odata.nextLink` pages and `$batch` sub-requests — carries
//!   `Prefer: outlook.timezone="UTC"`: headers are not part of a nextLink, and asking for UTC
//!   means we never have to map Windows zone names; conversion to the person's zone happens
//!   here, with the tz database compiled in.
//! * nextLinks are fetched exactly as given (never parsed or edited: the `$skip` inside counts
//!   mailbox items), up to a page cap, and only if they point to the same origin as the base
//!   URL — the bearer token is never sent anywhere else.
//! * 429 and 503 are retried after `Retry-After` (seconds, fractional allowed, or an HTTP date;
//!   exponential back-off from 0.5 s when absent), within a maximum number of attempts and a
//!   bound on the *total* time spent waiting. A wait longer than what is left of that bound is
//!   not shortened (an early retry counts against the limits): the call fails with
//!   [`GraphError::Throttled`] carrying the wait Graph asked for.
//! * Bodies over the size limit (4 MiB by default) are refused; each request has a timeout.
//! * 401 is returned as [`GraphError::Unauthorized`] without retrying: only the caller can
//!   refresh the token (see the crate docs for the refresh-once-and-retry pattern).

use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::Value;
use sidekey_net::{Reply as Raw, SendError, send_capped};

use crate::microsoft::error::{GraphError, classify};
use crate::microsoft::model::{
    Birthday, BirthdayFilter, CalendarEvent, DriveItem, MailMessage, Me, RecentFiles, RecentSource,
    plus_days, sort_by_modified,
};
use crate::microsoft::odata::{self, rel, search_segment, string_literal};
use crate::microsoft::scopes::hint_for_path;
use crate::microsoft::window::{Window, day_start};

/// The header sent on every request.
pub const PREFER_UTC: &str = "outlook.timezone=\"UTC\"";

pub(super) const DRIVE_SELECT: &str =
    "id,name,size,webUrl,lastModifiedDateTime,file,folder,package,parentReference,remoteItem";
pub(super) const EVENT_SELECT: &str = "id,subject,start,end,isAllDay,isCancelled,location,organizer,isOnlineMeeting,onlineMeeting,showAs,webLink";
/// Fields `Mail.ReadBasic` allows (no body, bodyPreview, uniqueBody, attachments).
pub(super) const MAIL_SELECT: &str = "id,subject,from,sender,receivedDateTime,isRead,hasAttachments,importance,flag,inferenceClassification,webLink";
pub(super) const CONTACT_SELECT: &str = "id,displayName,givenName,surname,birthday";
/// The always-true first clause that lets `$orderby=receivedDateTime desc` go with any
/// filter without `InefficientFilter` (docs/graph.md, "Messages": ordered properties first in
/// `$filter`).
pub(super) const MAIL_FILTER_HEAD: &str = "receivedDateTime ge 1900-01-01T00:00:00Z";
pub(super) const MAX_BATCH: usize = 20;
/// At most this many contact folders are read (besides the default one).
pub(super) const MAX_CONTACT_FOLDERS: usize = 50;
/// Exchange runs at most 4 concurrent requests per app and mailbox (throttling-limits), so
/// folder reads go in `$batch`es of this many.
pub(super) const EXCHANGE_BATCH: usize = 4;

/// How many items each dashboard section shows.
pub const DASHBOARD_EVENTS: usize = 10;
pub const DASHBOARD_FILES: usize = 10;
pub const DASHBOARD_MAIL: usize = 10;
/// The dashboard's appointment window: from now, this many days.
pub const DASHBOARD_EVENT_DAYS: i64 = 7;
/// The dashboard's birthday window: today and the next this many days.
pub const DASHBOARD_BIRTHDAY_DAYS: u16 = 14;

/// A Microsoft Graph client for the read-only operations. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Graph {
    pub(super) client: reqwest::Client,
    pub(super) base: String,
    pub(super) origin: Option<String>,
    pub(super) max_attempts: u32,
    pub(super) max_wait: Duration,
    pub(super) page_cap: usize,
    pub(super) max_body: usize,
    pub(super) timeout: Duration,
}

/// A finished `$batch` sub-request.
#[derive(Debug)]
pub(super) struct SubAnswer {
    pub(super) status: u16,
    pub(super) retry_after: Option<Duration>,
    pub(super) body: Value,
}

/// `scheme://host[:port]` of a URL, lower-cased.
pub(super) fn origin_of(u: &str) -> Option<String> {
    let u = url::Url::parse(u).ok()?;
    let host = u.host_str()?;
    Some(format!(
        "{}://{}:{}",
        u.scheme(),
        host.to_ascii_lowercase(),
        u.port_or_known_default()?
    ))
}

/// `Retry-After`: delta-seconds (fractional accepted, e.g. `2.128`) or an HTTP date, at most a
/// day. Shared with the other crates through `sidekey-net`.
pub use sidekey_net::parse_retry_after;

pub(super) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(10)))
}

pub(super) fn clamp_top(top: usize) -> usize {
    top.clamp(1, 1000)
}

pub(super) fn values(v: &Value) -> Result<&Vec<Value>, GraphError> {
    v.get("value")
        .and_then(Value::as_array)
        .ok_or_else(|| GraphError::Malformed("a collection without a \"value\" array".into()))
}

pub(super) fn next_link(v: &Value) -> Option<&str> {
    v.get("@odata.nextLink").and_then(Value::as_str)
}

impl Graph {
    /// `base` is the API root including the version, e.g. `https://graph.microsoft.com/v1.0`
    /// (a trailing slash is removed). Defaults: 4 attempts, 10 s total wait for throttling,
    /// 10 pages, 4 MiB per response, 30 s per request.
    pub fn new(client: reqwest::Client, base: &str) -> Graph {
        let base = base.trim().trim_end_matches('/').to_string();
        Graph {
            client,
            origin: origin_of(&base),
            base,
            max_attempts: 4,
            max_wait: Duration::from_secs(10),
            page_cap: 10,
            max_body: 4 * 1024 * 1024,
            timeout: Duration::from_secs(30),
        }
    }

    /// Throttling: at most `max_attempts` tries per request (≥ 1) and at most `max_wait`
    /// spent waiting in total.
    pub fn with_retry(mut self, max_attempts: u32, max_wait: Duration) -> Graph {
        self.max_attempts = max_attempts.max(1);
        self.max_wait = max_wait;
        self
    }

    /// At most this many pages per operation (≥ 1).
    pub fn with_page_cap(mut self, pages: usize) -> Graph {
        self.page_cap = pages.max(1);
        self
    }

    /// Response bodies larger than this are refused (default 4 MiB).
    pub fn with_max_body(mut self, bytes: usize) -> Graph {
        self.max_body = bytes;
        self
    }

    /// Per-request timeout (default 30 s), on top of whatever the client has.
    pub fn with_timeout(mut self, timeout: Duration) -> Graph {
        self.timeout = timeout;
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    // -----------------------------------------------------------------------------------
    // transport

    pub(super) async fn send_once(&self, req: reqwest::RequestBuilder) -> Result<Raw, GraphError> {
        send_capped(req, self.timeout, self.max_body)
            .await
            .map_err(|e| match e {
                SendError::TooLarge { message, .. } => GraphError::Malformed(message),
                e => GraphError::Network(e.to_string()),
            })
    }

    /// Sends (rebuilding the request for each attempt) with the throttling policy; returns
    /// the JSON of a 2xx answer, or the mapped error.
    pub(super) async fn call(
        &self,
        token: &str,
        make: impl Fn() -> reqwest::RequestBuilder,
        hint: &str,
    ) -> Result<Value, GraphError> {
        let mut waited = Duration::ZERO;
        let mut attempt = 1;
        loop {
            let req = make()
                .bearer_auth(token)
                .header(reqwest::header::ACCEPT, "application/json")
                .header("Prefer", PREFER_UTC);
            let raw = self.send_once(req).await?;
            let body: Value = serde_json::from_slice(&raw.body).unwrap_or(Value::Null);
            if (200..300).contains(&raw.status) {
                if body.is_null() {
                    return Err(GraphError::Malformed(format!(
                        "HTTP {} with a body that is not JSON",
                        raw.status
                    )));
                }
                return Ok(body);
            }
            if matches!(raw.status, 429 | 503) {
                let wait = raw.retry_after.unwrap_or_else(|| backoff(attempt));
                if attempt < self.max_attempts && waited + wait <= self.max_wait {
                    tokio::time::sleep(wait).await;
                    waited += wait;
                    attempt += 1;
                    continue;
                }
            }
            return Err(classify(raw.status, &body, raw.retry_after, hint));
        }
    }

    pub(super) async fn get(
        &self,
        token: &str,
        url: &str,
        hint: &str,
    ) -> Result<Value, GraphError> {
        self.call(token, || self.client.get(url), hint).await
    }

    pub(super) fn check_origin(&self, link: &str) -> Result<(), GraphError> {
        match (&self.origin, origin_of(link)) {
            (Some(a), Some(b)) if *a == b => Ok(()),
            _ => Err(GraphError::Malformed(
                "an @odata.nextLink pointing away from the Graph base URL was refused".into(),
            )),
        }
    }

    /// Follows nextLinks from `rel_url` until `want` items passed `keep`, the pages run out
    /// or the page cap is hit. Returns the kept items and whether Graph had more.
    pub(super) async fn collect(
        &self,
        token: &str,
        rel_url: &str,
        want: usize,
        keep: impl Fn(&Value) -> bool,
    ) -> Result<(Vec<Value>, bool), GraphError> {
        let hint = hint_for_path(rel_url);
        let mut url = format!("{}{rel_url}", self.base);
        let mut out = Vec::new();
        let mut pages = 0;
        loop {
            let page = self.get(token, &url, hint).await?;
            pages += 1;
            out.extend(values(&page)?.iter().filter(|v| keep(v)).cloned());
            let Some(next) = next_link(&page) else {
                return Ok((out, false));
            };
            if out.len() >= want || pages >= self.page_cap {
                return Ok((out, true));
            }
            self.check_origin(next)?;
            url = next.to_string();
        }
    }

    // -----------------------------------------------------------------------------------
    // operations

    /// `GET /me`: who is signed in (`mail` null → `userPrincipalName`).
    pub async fn me(&self, token: &str) -> Result<Me, GraphError> {
        let url = odata::url(
            &self.base,
            "/me",
            &[("$select", "id,displayName,mail,userPrincipalName".into())],
        );
        let v = self.get(token, &url, "User.Read").await?;
        Me::from_graph(&v).ok_or_else(|| GraphError::Malformed("/me without an id".into()))
    }

    /// OneDrive search (`/me/drive/root/search(q='…')`), at most `top` items (1–1000).
    pub async fn files_search(
        &self,
        token: &str,
        query: &str,
        top: usize,
    ) -> Result<Vec<DriveItem>, GraphError> {
        if query.trim().is_empty() {
            return Err(GraphError::Invalid("the search text is empty".into()));
        }
        if query.chars().count() > 255 {
            return Err(GraphError::Invalid(
                "the search text is longer than 255 characters".into(),
            ));
        }
        let top = clamp_top(top);
        let path = format!("/me/drive/root/{}", search_segment(query));
        let url = rel(
            &path,
            &[
                ("$select", DRIVE_SELECT.into()),
                ("$top", top.min(200).to_string()),
            ],
        );
        let (vals, _) = self.collect(token, &url, top, |_| true).await?;
        let mut items: Vec<DriveItem> = vals.iter().filter_map(DriveItem::from_graph).collect();
        items.truncate(top);
        Ok(items)
    }

    /// `GET /me/drive/items/{id}`: one drive item's metadata (ids come from search or recent).
    /// An unknown or unshared id is Graph's 404 `itemNotFound`.
    pub async fn file(&self, token: &str, id: &str) -> Result<DriveItem, GraphError> {
        // `.` and `..` would be resolved as path steps by the URL parser, not sent as an id.
        if id.trim().is_empty() || id == "." || id == ".." {
            return Err(GraphError::Invalid("not an item id".into()));
        }
        let path = format!("/me/drive/items/{}", odata::path_segment(id));
        let url = odata::url(&self.base, &path, &[("$select", DRIVE_SELECT.into())]);
        let v = self.get(token, &url, "Files.Read").await?;
        DriveItem::from_graph(&v)
            .ok_or_else(|| GraphError::Malformed("a drive item without an id".into()))
    }

    /// Recently used files, in `/me/drive/recent`'s order (or, from the fallback, newest
    /// modification first). See [`Graph::files_recent_detailed`].
    pub async fn files_recent(
        &self,
        token: &str,
        top: usize,
    ) -> Result<Vec<DriveItem>, GraphError> {
        Ok(self.files_recent_detailed(token, top).await?.items)
    }

    /// `/me/drive/recent` lists items recently *used*, most recent first; its order is kept
    /// (its items may lack `lastModifiedDateTime`, so sorting by it would be wrong). It is
    /// deprecated (degraded until November 2026, then no data): when it answers with nothing,
    /// or with an error other than 401/403/throttling, this falls back to `search(q='')` over
    /// the whole drive — every page up to the page cap, since search answers in relevance
    /// order — sorted by `lastModifiedDateTime` here (OneDrive for Business cannot `$orderby`
    /// it). That is recently *modified*, and approximate on drives larger than the pages
    /// read: `source` is `Search` and `approximate` true.
    pub async fn files_recent_detailed(
        &self,
        token: &str,
        top: usize,
    ) -> Result<RecentFiles, GraphError> {
        let top = clamp_top(top);
        let url = rel("/me/drive/recent", &[]);
        match self.collect(token, &url, top, |_| true).await {
            Ok((vals, _)) => {
                let mut items: Vec<DriveItem> =
                    vals.iter().filter_map(DriveItem::from_graph).collect();
                if !items.is_empty() {
                    items.truncate(top);
                    return Ok(RecentFiles {
                        items,
                        source: RecentSource::Recent,
                        approximate: false,
                    });
                }
            }
            Err(
                e @ (GraphError::Unauthorized
                | GraphError::Forbidden { .. }
                | GraphError::Throttled { .. }
                | GraphError::Network(_)),
            ) => return Err(e),
            Err(_) => {}
        }
        let url = recent_fallback_url();
        let (vals, _) = self.collect(token, &url, usize::MAX, |_| true).await?;
        let mut items: Vec<DriveItem> = vals.iter().filter_map(DriveItem::from_graph).collect();
        sort_by_modified(&mut items);
        items.truncate(top);
        Ok(RecentFiles {
            items,
            source: RecentSource::Search,
            approximate: true,
        })
    }

    /// Events overlapping `window` (`/me/calendarView` with both bounds), times in `tz`,
    /// sorted by start. All-day events are kept only if their *dates* overlap the window in
    /// the person's calendar.
    pub async fn calendar(
        &self,
        token: &str,
        window: &Window,
        tz: &TimeZone,
    ) -> Result<Vec<CalendarEvent>, GraphError> {
        if window.end <= window.start {
            return Err(GraphError::Invalid("the time window is empty".into()));
        }
        let url = calendar_url(window, 50);
        let (vals, _) = self.collect(token, &url, usize::MAX, |_| true).await?;
        Ok(events_in(vals.iter(), window, tz))
    }

    /// Unread inbox mail, newest first, at most `top` (1–1000). `from` is an address
    /// (`o'brien@x.test`: exact, case-insensitive, filtered by Graph) or a domain (`x.test` or
    /// `@x.test`: the address's domain or a subdomain of it, filtered here because Graph
    /// refuses `endswith` on messages). Needs only `Mail.ReadBasic`.
    pub async fn unread_mail(
        &self,
        token: &str,
        from: Option<&str>,
        top: usize,
    ) -> Result<Vec<MailMessage>, GraphError> {
        let top = clamp_top(top);
        let mut filter = format!("{MAIL_FILTER_HEAD} and isRead eq false");
        let mut domain: Option<String> = None;
        let mut page = top;
        if let Some(f) = from {
            let f = f.trim();
            if f.is_empty() || f.chars().count() > 320 {
                return Err(GraphError::Invalid(
                    "--from must be an address or a domain".into(),
                ));
            }
            match f.find('@') {
                Some(i) if i > 0 => {
                    filter.push_str(" and from/emailAddress/address eq ");
                    filter.push_str(&string_literal(f));
                }
                _ => {
                    let d = f.trim_start_matches('@').to_lowercase();
                    if d.is_empty() || d.contains('@') {
                        return Err(GraphError::Invalid(
                            "--from must be an address or a domain".into(),
                        ));
                    }
                    domain = Some(d);
                    page = 100;
                }
            }
        }
        let url = rel(
            "/me/mailFolders/inbox/messages",
            &[
                ("$filter", filter),
                ("$orderby", "receivedDateTime desc".into()),
                ("$select", MAIL_SELECT.into()),
                ("$top", page.to_string()),
            ],
        );
        let keep = |v: &Value| match &domain {
            None => true,
            Some(d) => v
                .get("from")
                .and_then(|f| f.get("emailAddress"))
                .and_then(|e| e.get("address"))
                .and_then(Value::as_str)
                .is_some_and(|a| address_in_domain(a, d)),
        };
        let (vals, _) = self.collect(token, &url, top, keep).await?;
        let mut out: Vec<MailMessage> = vals.iter().filter_map(MailMessage::from_graph).collect();
        out.truncate(top);
        Ok(out)
    }

    /// Contacts' birthdays matching `filter`, sorted by next occurrence (then name).
    pub async fn birthdays(
        &self,
        token: &str,
        filter: BirthdayFilter,
        today: Date,
    ) -> Result<Vec<Birthday>, GraphError> {
        match filter {
            BirthdayFilter::Month(m) if !(1..=12).contains(&m) => {
                return Err(GraphError::Invalid("the month must be 1 to 12".into()));
            }
            BirthdayFilter::NextDays(n) if n > 366 => {
                return Err(GraphError::Invalid(
                    "the number of days must be at most 366".into(),
                ));
            }
            _ => {}
        }
        let url = contacts_url();
        let (mut vals, _) = self.collect(token, &url, usize::MAX, |_| true).await?;
        // `/me/contacts` is the default folder only (user-list-contacts.md): read the other
        // folders and their child folders too, breadth first, up to a bound.
        let mut queue: std::collections::VecDeque<String> = self
            .folder_ids(token, &contact_folders_url(None))
            .await?
            .into();
        let mut seen: std::collections::HashSet<String> = queue.iter().cloned().collect();
        let mut read = 0;
        while let Some(id) = queue.pop_front() {
            if read >= MAX_CONTACT_FOLDERS {
                break;
            }
            read += 1;
            let (more, _) = self
                .collect(token, &folder_contacts_url(&id), usize::MAX, |_| true)
                .await?;
            vals.extend(more);
            for child in self
                .folder_ids(token, &contact_folders_url(Some(&id)))
                .await?
            {
                if seen.insert(child.clone()) {
                    queue.push_back(child);
                }
            }
        }
        Ok(birthdays_in(unique_by_id(vals).iter(), filter, today))
    }

    /// The ids of the contact folders listed at `rel_url` (all pages up to the cap).
    pub(super) async fn folder_ids(
        &self,
        token: &str,
        rel_url: &str,
    ) -> Result<Vec<String>, GraphError> {
        let (vals, _) = self.collect(token, rel_url, usize::MAX, |_| true).await?;
        Ok(folder_ids_in(&vals))
    }
}

/// The IANA name of `tz`, or its current offset for zones without one.
pub(crate) fn tz_name(tz: &TimeZone) -> String {
    tz.iana_name()
        .map(str::to_owned)
        .unwrap_or_else(|| tz.to_offset(Timestamp::now()).to_string())
}

pub(super) fn address_in_domain(address: &str, domain: &str) -> bool {
    let a = address.trim().to_lowercase();
    match a.rsplit_once('@') {
        Some((_, host)) => host == domain || host.ends_with(&format!(".{domain}")),
        None => false,
    }
}

pub(super) fn graph_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(super) fn calendar_url(window: &Window, top: usize) -> String {
    // Round outward to whole seconds so the window never shrinks.
    let start = Timestamp::from_second(window.start.as_second()).unwrap_or(window.start);
    let end_s = window.end.as_second() + i64::from(window.end.subsec_nanosecond() > 0);
    let end = Timestamp::from_second(end_s).unwrap_or(window.end);
    rel(
        "/me/calendarView",
        &[
            ("startDateTime", graph_time(start)),
            ("endDateTime", graph_time(end)),
            ("$select", EVENT_SELECT.into()),
            ("$orderby", "start/dateTime".into()),
            ("$top", top.to_string()),
        ],
    )
}

pub(super) fn recent_fallback_url() -> String {
    rel(
        &format!("/me/drive/root/{}", search_segment("")),
        &[("$select", DRIVE_SELECT.into()), ("$top", "200".into())],
    )
}

pub(super) fn contacts_url() -> String {
    rel(
        "/me/contacts",
        &[("$select", CONTACT_SELECT.into()), ("$top", "500".into())],
    )
}

/// `/me/contactFolders` (the folders below the default Contacts folder) or a folder's
/// `childFolders`.
pub(super) fn contact_folders_url(parent: Option<&str>) -> String {
    let path = match parent {
        None => "/me/contactFolders".to_string(),
        Some(id) => format!(
            "/me/contactFolders/{}/childFolders",
            odata::path_segment(id)
        ),
    };
    rel(
        &path,
        &[("$select", "id,displayName".into()), ("$top", "100".into())],
    )
}

pub(super) fn folder_contacts_url(folder_id: &str) -> String {
    rel(
        &format!(
            "/me/contactFolders/{}/contacts",
            odata::path_segment(folder_id)
        ),
        &[("$select", CONTACT_SELECT.into()), ("$top", "500".into())],
    )
}

pub(super) fn folder_ids_in(vals: &[Value]) -> Vec<String> {
    vals.iter()
        .filter_map(|v| v.get("id").and_then(Value::as_str))
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The first of each `id` (a contact seen twice is listed once).
pub(super) fn unique_by_id(vals: Vec<Value>) -> Vec<Value> {
    let mut seen = std::collections::HashSet::new();
    vals.into_iter()
        .filter(|v| match v.get("id").and_then(Value::as_str) {
            Some(id) => seen.insert(id.to_owned()),
            None => true,
        })
        .collect()
}

pub(super) fn events_in<'a>(
    vals: impl Iterator<Item = &'a Value>,
    window: &Window,
    tz: &TimeZone,
) -> Vec<CalendarEvent> {
    let mut out: Vec<CalendarEvent> = vals
        .filter_map(|v| CalendarEvent::from_graph(v, tz))
        .filter(|e| {
            if e.all_day {
                // The dates in the person's calendar must overlap the window.
                let s = day_start(e.start_date, tz).ok();
                let en = plus_days(e.last_date, 1);
                let en = day_start(en, tz).ok();
                matches!((s, en), (Some(s), Some(en)) if window.overlaps(s, en))
            } else {
                true
            }
        })
        .collect();
    out.sort_by(|a, b| {
        a.start
            .timestamp()
            .cmp(&b.start.timestamp())
            .then_with(|| b.all_day.cmp(&a.all_day))
            .then_with(|| a.subject.cmp(&b.subject))
    });
    out
}

pub(super) fn birthdays_in<'a>(
    vals: impl Iterator<Item = &'a Value>,
    filter: BirthdayFilter,
    today: Date,
) -> Vec<Birthday> {
    let mut out: Vec<Birthday> = vals
        .filter_map(|v| Birthday::from_graph(v, today))
        .filter(|b| b.matches(filter))
        .collect();
    out.sort_by(|a, b| a.next.cmp(&b.next).then_with(|| a.name.cmp(&b.name)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_match_exactly_or_as_subdomain() {
        assert!(address_in_domain("A@X.test", "x.test"));
        assert!(address_in_domain("a@mail.x.test", "x.test"));
        assert!(!address_in_domain("a@evilx.test", "x.test"));
        assert!(!address_in_domain("x.test", "x.test"));
    }

    #[test]
    fn next_links_to_other_hosts_are_refused() {
        let client = sidekey_flow::client::client_builder(&Default::default())
            .and_then(|b| {
                b.build()
                    .map_err(|e| sidekey_flow::FlowError::Config(e.to_string()))
            })
            .ok()
            .unwrap();
        let g = Graph::new(client, "https://graph.microsoft.com/v1.0/");
        assert!(
            g.check_origin("https://graph.microsoft.com/v1.0/me/messages?$skip=10")
                .is_ok()
        );
        assert!(
            g.check_origin("https://GRAPH.microsoft.com:443/v1.0/x")
                .is_ok()
        );
        assert!(g.check_origin("https://evil.test/v1.0/me").is_err());
        assert!(
            g.check_origin("http://graph.microsoft.com/v1.0/me")
                .is_err()
        );
        assert!(g.check_origin("not a url").is_err());
    }
}
