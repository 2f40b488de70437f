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

use std::collections::HashMap;
use std::time::Duration;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::Serialize;
use serde_json::{Value, json};
use sidekey_net::{Reply as Raw, SendError, send_capped};

use crate::error::{GraphError, classify};
use crate::model::{
    Birthday, BirthdayFilter, CalendarEvent, DriveItem, MailMessage, Me, RecentFiles, RecentSource,
    plus_days, sort_by_modified,
};
use crate::odata::{self, rel, search_segment, string_literal};
use crate::scopes::hint_for_path;
use crate::window::{Window, day_start};

/// The header sent on every request.
pub const PREFER_UTC: &str = "outlook.timezone=\"UTC\"";

const DRIVE_SELECT: &str =
    "id,name,size,webUrl,lastModifiedDateTime,file,folder,package,parentReference,remoteItem";
const EVENT_SELECT: &str = "id,subject,start,end,isAllDay,isCancelled,location,organizer,isOnlineMeeting,onlineMeeting,showAs,webLink";
/// Fields `Mail.ReadBasic` allows (no body, bodyPreview, uniqueBody, attachments).
const MAIL_SELECT: &str = "id,subject,from,sender,receivedDateTime,isRead,hasAttachments,importance,flag,inferenceClassification,webLink";
const CONTACT_SELECT: &str = "id,displayName,givenName,surname,birthday";
/// The always-true first clause that lets `$orderby=receivedDateTime desc` go with any
/// filter without `InefficientFilter` (docs/graph.md, "Messages": ordered properties first in
/// `$filter`).
const MAIL_FILTER_HEAD: &str = "receivedDateTime ge 1900-01-01T00:00:00Z";
const MAX_BATCH: usize = 20;
/// At most this many contact folders are read (besides the default one).
const MAX_CONTACT_FOLDERS: usize = 50;
/// Exchange runs at most 4 concurrent requests per app and mailbox (throttling-limits), so
/// folder reads go in `$batch`es of this many.
const EXCHANGE_BATCH: usize = 4;

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
    client: reqwest::Client,
    base: String,
    origin: Option<String>,
    max_attempts: u32,
    max_wait: Duration,
    page_cap: usize,
    max_body: usize,
    timeout: Duration,
}

/// A finished `$batch` sub-request.
#[derive(Debug)]
struct SubAnswer {
    status: u16,
    retry_after: Option<Duration>,
    body: Value,
}

/// `scheme://host[:port]` of a URL, lower-cased.
fn origin_of(u: &str) -> Option<String> {
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

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(10)))
}

fn clamp_top(top: usize) -> usize {
    top.clamp(1, 1000)
}

fn values(v: &Value) -> Result<&Vec<Value>, GraphError> {
    v.get("value")
        .and_then(Value::as_array)
        .ok_or_else(|| GraphError::Malformed("a collection without a \"value\" array".into()))
}

fn next_link(v: &Value) -> Option<&str> {
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

    async fn send_once(&self, req: reqwest::RequestBuilder) -> Result<Raw, GraphError> {
        send_capped(req, self.timeout, self.max_body)
            .await
            .map_err(|e| match e {
                SendError::TooLarge { message, .. } => GraphError::Malformed(message),
                e => GraphError::Network(e.to_string()),
            })
    }

    /// Sends (rebuilding the request for each attempt) with the throttling policy; returns
    /// the JSON of a 2xx answer, or the mapped error.
    async fn call(
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

    async fn get(&self, token: &str, url: &str, hint: &str) -> Result<Value, GraphError> {
        self.call(token, || self.client.get(url), hint).await
    }

    fn check_origin(&self, link: &str) -> Result<(), GraphError> {
        match (&self.origin, origin_of(link)) {
            (Some(a), Some(b)) if *a == b => Ok(()),
            _ => Err(GraphError::Malformed(
                "an @odata.nextLink pointing away from the Graph base URL was refused".into(),
            )),
        }
    }

    /// Follows nextLinks from `rel_url` until `want` items passed `keep`, the pages run out
    /// or the page cap is hit. Returns the kept items and whether Graph had more.
    async fn collect(
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
    async fn folder_ids(&self, token: &str, rel_url: &str) -> Result<Vec<String>, GraphError> {
        let (vals, _) = self.collect(token, rel_url, usize::MAX, |_| true).await?;
        Ok(folder_ids_in(&vals))
    }

    // -----------------------------------------------------------------------------------
    // $batch

    /// Runs GET sub-requests `(id, relative url)` in `$batch` requests: one, plus one more
    /// per round of throttled sub-requests (only those are sent again, after the longest
    /// `Retry-After` among them, within the retry policy). Answers are matched by id
    /// (case-insensitively), whatever their order. When every sub-request is refused for its
    /// token, that is [`GraphError::Unauthorized`]; other failures (any other 401 included)
    /// stay in their sub-answer.
    async fn batch(
        &self,
        token: &str,
        requests: &[(&str, String)],
    ) -> Result<HashMap<String, SubAnswer>, GraphError> {
        if requests.len() > MAX_BATCH {
            return Err(GraphError::Invalid(format!(
                "a $batch holds at most {MAX_BATCH} requests"
            )));
        }
        let url = format!("{}/$batch", self.base);
        let mut pending: Vec<(&str, String)> = requests.to_vec();
        let mut answers: HashMap<String, SubAnswer> = HashMap::new();
        let mut waited = Duration::ZERO;
        let mut round = 1;
        while !pending.is_empty() {
            let body = json!({
                "requests": pending.iter().map(|(id, u)| json!({
                    "id": id,
                    "method": "GET",
                    "url": u,
                    "headers": {"Prefer": PREFER_UTC},
                })).collect::<Vec<_>>()
            });
            let outer = self.call_batch(token, &url, &body, &mut waited).await?;
            let mut got: HashMap<String, SubAnswer> = HashMap::new();
            for r in outer
                .get("responses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(id) = r.get("id").and_then(|i| match i {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }) else {
                    continue;
                };
                let Some((want, _)) = pending.iter().find(|(p, _)| p.eq_ignore_ascii_case(&id))
                else {
                    continue;
                };
                let status = r
                    .get("status")
                    .and_then(Value::as_u64)
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or(0);
                let retry_after = r
                    .get("headers")
                    .and_then(Value::as_object)
                    .and_then(|h| {
                        h.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
                            .map(|(_, v)| v)
                    })
                    .and_then(|v| match v {
                        Value::String(s) => parse_retry_after(s),
                        Value::Number(n) => {
                            n.as_f64().and_then(|f| parse_retry_after(&f.to_string()))
                        }
                        _ => None,
                    });
                let body = sub_body(r.get("body"));
                got.entry(want.to_string()).or_insert(SubAnswer {
                    status,
                    retry_after,
                    body,
                });
            }
            // A rejected token is rejected everywhere: only when *every* answer says so is it
            // the token (refresh and retry). Any other 401 — `OrganizationFromTenantGuidNotFound`
            // from Exchange for users without a mailbox, or one odd section — stays in its
            // section and costs no refresh.
            if !got.is_empty()
                && got.values().all(|a| {
                    a.status == 401 && classify(a.status, &a.body, None, "").is_unauthorized()
                })
            {
                return Err(GraphError::Unauthorized);
            }
            let mut throttled: Vec<(&str, String)> = Vec::new();
            let mut longest: Option<Duration> = None;
            let mut any_without_hint = false;
            for (id, u) in pending {
                match got.remove(id) {
                    Some(a) if matches!(a.status, 429 | 503) => {
                        match a.retry_after {
                            Some(d) => longest = Some(longest.map_or(d, |l| l.max(d))),
                            None => any_without_hint = true,
                        }
                        answers.insert(id.to_string(), a);
                        throttled.push((id, u));
                    }
                    Some(a) => {
                        answers.insert(id.to_string(), a);
                    }
                    None => {
                        answers.insert(
                            id.to_string(),
                            SubAnswer {
                                status: 0,
                                retry_after: None,
                                body: json!({"error":{"code":"missing","message":"no answer for this request in the $batch response"}}),
                            },
                        );
                    }
                }
            }
            if throttled.is_empty() {
                break;
            }
            let wait = match (longest, any_without_hint) {
                (Some(l), false) => l,
                (Some(l), true) => l.max(backoff(round)),
                (None, _) => backoff(round),
            };
            if round >= self.max_attempts || waited + wait > self.max_wait {
                break; // the throttled answers stay as they are
            }
            tokio::time::sleep(wait).await;
            waited += wait;
            round += 1;
            pending = throttled;
        }
        Ok(answers)
    }

    /// `page` with the items of the pages its nextLinks lead to (same origin, up to the page
    /// cap). A failing page ends the walk: what was read is kept, and the nextLink stays to
    /// say there is more.
    async fn rest_of(&self, token: &str, page: &Value, hint: &str) -> Value {
        let mut vals = values(page).cloned().unwrap_or_default();
        let mut next = next_link(page).map(str::to_owned);
        let mut pages = 1;
        while let Some(link) = next.take() {
            if pages >= self.page_cap || self.check_origin(&link).is_err() {
                next = Some(link);
                break;
            }
            match self.get(token, &link, hint).await {
                Ok(p) => {
                    vals.extend(values(&p).cloned().unwrap_or_default());
                    next = next_link(&p).map(str::to_owned);
                    pages += 1;
                }
                Err(_) => {
                    next = Some(link);
                    break;
                }
            }
        }
        let mut out = json!({ "value": vals });
        if let Some(n) = next {
            out["@odata.nextLink"] = json!(n);
        }
        out
    }

    /// The contacts of these folders (first page each), in `$batch`es of
    /// [`EXCHANGE_BATCH`]; `true` when something is missing (a failed sub-request, more pages
    /// or more folders than [`MAX_CONTACT_FOLDERS`]).
    async fn folder_contacts(&self, token: &str, folders: &[String]) -> (Vec<Value>, bool) {
        let mut out = Vec::new();
        let mut partial = folders.len() > MAX_CONTACT_FOLDERS;
        let ids: Vec<String> = (0..folders.len().min(MAX_CONTACT_FOLDERS))
            .map(|i| format!("f{i}"))
            .collect();
        let reqs: Vec<(&str, String)> = folders
            .iter()
            .zip(&ids)
            .map(|(f, id)| (id.as_str(), folder_contacts_url(f)))
            .collect();
        for chunk in reqs.chunks(EXCHANGE_BATCH) {
            match self.batch(token, chunk).await {
                Ok(answers) => {
                    for a in answers.values() {
                        match values(&a.body) {
                            Ok(v) if (200..300).contains(&a.status) => {
                                out.extend(v.iter().cloned());
                                partial |= next_link(&a.body).is_some();
                            }
                            _ => partial = true,
                        }
                    }
                }
                Err(_) => partial = true,
            }
        }
        (out, partial)
    }

    /// POSTs one `$batch`; the outer request is itself retried on 429/503 (sharing the wait
    /// budget). Both documented outer statuses for a parseable batch — 200, and 424 from the
    /// older throttling doc — are accepted when the body has `responses`.
    async fn call_batch(
        &self,
        token: &str,
        url: &str,
        body: &Value,
        waited: &mut Duration,
    ) -> Result<Value, GraphError> {
        let mut attempt = 1;
        loop {
            let req = self
                .client
                .post(url)
                .bearer_auth(token)
                .header(reqwest::header::ACCEPT, "application/json")
                .header("Prefer", PREFER_UTC)
                .json(body);
            let raw = self.send_once(req).await?;
            let v: Value = serde_json::from_slice(&raw.body).unwrap_or(Value::Null);
            if (raw.status == 200 || raw.status == 424)
                && v.get("responses").and_then(Value::as_array).is_some()
            {
                return Ok(v);
            }
            if (200..300).contains(&raw.status) {
                return Err(GraphError::Malformed(
                    "a $batch answer without a \"responses\" array".into(),
                ));
            }
            if matches!(raw.status, 429 | 503) {
                let wait = raw.retry_after.unwrap_or_else(|| backoff(attempt));
                if attempt < self.max_attempts && *waited + wait <= self.max_wait {
                    tokio::time::sleep(wait).await;
                    *waited += wait;
                    attempt += 1;
                    continue;
                }
            }
            return Err(classify(raw.status, &v, raw.retry_after, "User.Read"));
        }
    }

    /// Next appointments, recently used files, important unread mail and upcoming
    /// birthdays, fetched with **one** `$batch` request. More requests only when needed: the
    /// throttled sub-requests sent again; the further pages of the drive search when
    /// `/me/drive/recent` has nothing (recently modified files, approximate); the contacts of
    /// the folders below the default Contacts folder (one more `$batch` per
    /// [`EXCHANGE_BATCH`] folders; their child folders are not read here). Each section
    /// carries its own error (a missing scope, no mailbox — also Exchange's 401
    /// `OrganizationFromTenantGuidNotFound` —, still throttled) so the others still show;
    /// only a token refused by every sub-request fails the whole call with
    /// [`GraphError::Unauthorized`]. Sections hold one page each: `more` says Graph had more.
    pub async fn dashboard(
        &self,
        token: &str,
        now: Timestamp,
        tz: &TimeZone,
    ) -> Result<Dashboard, GraphError> {
        let window = Window {
            start: now,
            end: now
                .to_zoned_datetime(tz.clone())
                .checked_add(DASHBOARD_EVENT_DAYS.days())
                .map(|z| z.timestamp())
                .unwrap_or(now),
        };
        let today = now.to_zoned_datetime(tz.clone()).date();
        let requests: Vec<(&str, String)> = vec![
            ("calendar", calendar_url(&window, DASHBOARD_EVENTS * 3)),
            ("recent", rel("/me/drive/recent", &[])),
            ("files", recent_fallback_url()),
            (
                "mail",
                rel(
                    "/me/mailFolders/inbox/messages",
                    &[
                        ("$filter", format!("{MAIL_FILTER_HEAD} and isRead eq false")),
                        ("$orderby", "receivedDateTime desc".into()),
                        ("$select", MAIL_SELECT.into()),
                        ("$top", "50".into()),
                    ],
                ),
            ),
            ("birthdays", contacts_url()),
            ("contactFolders", contact_folders_url(None)),
        ];
        let mut answers = self.batch(token, &requests).await?;
        let mut take = |id: &str| answers.remove(id);

        let appointments = section(take("calendar"), "Calendars.ReadBasic", |v| {
            let mut items = events_in(values(v)?.iter(), &window, tz);
            items.truncate(DASHBOARD_EVENTS);
            Ok(items)
        });

        let recent = take("recent");
        let fallback = take("files");
        let recent_items = recent
            .as_ref()
            .filter(|a| (200..300).contains(&a.status))
            .and_then(|a| values(&a.body).ok())
            .map(|v| {
                v.iter()
                    .filter_map(DriveItem::from_graph)
                    .collect::<Vec<_>>()
            })
            .filter(|v| !v.is_empty());
        let (files, files_source) = match recent_items {
            // /recent's own order: most recently used first.
            Some(mut items) => {
                let more = recent
                    .as_ref()
                    .is_some_and(|a| next_link(&a.body).is_some());
                items.truncate(DASHBOARD_FILES);
                (
                    Section {
                        items,
                        more,
                        error: None,
                        error_kind: None,
                    },
                    RecentSource::Recent,
                )
            }
            None => {
                // A 403 on /recent says more than whatever the fallback says.
                let pick = match &recent {
                    Some(a) if a.status == 403 => recent,
                    // Search answers in relevance order: read every page (up to the cap)
                    // before sorting by modification time.
                    _ => match fallback {
                        Some(mut a) if (200..300).contains(&a.status) => {
                            a.body = self.rest_of(token, &a.body, "Files.Read").await;
                            Some(a)
                        }
                        other => other,
                    },
                };
                let s = section(pick, "Files.Read", |v| {
                    let mut items: Vec<DriveItem> = values(v)?
                        .iter()
                        .filter_map(DriveItem::from_graph)
                        .collect();
                    sort_by_modified(&mut items);
                    items.truncate(DASHBOARD_FILES);
                    Ok(items)
                });
                (s, RecentSource::Search)
            }
        };

        let mail = section(take("mail"), "Mail.ReadBasic", |v| {
            let mut items: Vec<MailMessage> = values(v)?
                .iter()
                .filter_map(MailMessage::from_graph)
                .filter(MailMessage::is_important)
                .collect();
            items.truncate(DASHBOARD_MAIL);
            Ok(items)
        });

        // The default folder came in the batch; other folders' contacts need their ids first.
        let mut contacts = take("birthdays");
        let mut partial = false;
        let folders = take("contactFolders")
            .filter(|a| (200..300).contains(&a.status))
            .map(|a| folder_ids_in(values(&a.body).map(Vec::as_slice).unwrap_or(&[])))
            .unwrap_or_default();
        if let Some(a) = contacts
            .as_mut()
            .filter(|a| (200..300).contains(&a.status) && !folders.is_empty())
        {
            let (more_vals, missing) = self.folder_contacts(token, &folders).await;
            if let Some(v) = a.body.get_mut("value").and_then(Value::as_array_mut) {
                v.extend(more_vals);
            }
            partial = missing;
        }
        let mut birthdays = section(contacts, "Contacts.Read", |v| {
            Ok(birthdays_in(
                unique_by_id(values(v)?.clone()).iter(),
                BirthdayFilter::NextDays(DASHBOARD_BIRTHDAY_DAYS),
                today,
            ))
        });
        if birthdays.error.is_none() {
            birthdays.more |= partial;
        }

        Ok(Dashboard {
            generated_at: now,
            time_zone: tz_name(tz),
            birthdays_until: plus_days(today, i64::from(DASHBOARD_BIRTHDAY_DAYS)),
            appointments_until: window.end,
            appointments,
            files,
            files_source,
            mail,
            birthdays,
        })
    }
}

/// The IANA name of `tz`, or its current offset for zones without one.
pub(crate) fn tz_name(tz: &TimeZone) -> String {
    tz.iana_name()
        .map(str::to_owned)
        .unwrap_or_else(|| tz.to_offset(Timestamp::now()).to_string())
}

fn address_in_domain(address: &str, domain: &str) -> bool {
    let a = address.trim().to_lowercase();
    match a.rsplit_once('@') {
        Some((_, host)) => host == domain || host.ends_with(&format!(".{domain}")),
        None => false,
    }
}

fn graph_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn calendar_url(window: &Window, top: usize) -> String {
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

fn recent_fallback_url() -> String {
    rel(
        &format!("/me/drive/root/{}", search_segment("")),
        &[("$select", DRIVE_SELECT.into()), ("$top", "200".into())],
    )
}

fn contacts_url() -> String {
    rel(
        "/me/contacts",
        &[("$select", CONTACT_SELECT.into()), ("$top", "500".into())],
    )
}

/// `/me/contactFolders` (the folders below the default Contacts folder) or a folder's
/// `childFolders`.
fn contact_folders_url(parent: Option<&str>) -> String {
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

fn folder_contacts_url(folder_id: &str) -> String {
    rel(
        &format!(
            "/me/contactFolders/{}/contacts",
            odata::path_segment(folder_id)
        ),
        &[("$select", CONTACT_SELECT.into()), ("$top", "500".into())],
    )
}

fn folder_ids_in(vals: &[Value]) -> Vec<String> {
    vals.iter()
        .filter_map(|v| v.get("id").and_then(Value::as_str))
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The first of each `id` (a contact seen twice is listed once).
fn unique_by_id(vals: Vec<Value>) -> Vec<Value> {
    let mut seen = std::collections::HashSet::new();
    vals.into_iter()
        .filter(|v| match v.get("id").and_then(Value::as_str) {
            Some(id) => seen.insert(id.to_owned()),
            None => true,
        })
        .collect()
}

fn events_in<'a>(
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

fn birthdays_in<'a>(
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

/// A sub-response body: JSON, or (for non-JSON content types) a string that may hold JSON
/// or base64-encoded JSON.
fn sub_body(v: Option<&Value>) -> Value {
    use base64::Engine;
    match v {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or_else(|_| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null)
        }),
        Some(v) => v.clone(),
        None => Value::Null,
    }
}

fn section<T>(
    answer: Option<SubAnswer>,
    hint: &str,
    parse: impl FnOnce(&Value) -> Result<Vec<T>, GraphError>,
) -> Section<T> {
    let failed = |e: GraphError| Section {
        items: Vec::new(),
        more: false,
        error_kind: Some(e.kind()),
        error: Some(e.to_string()),
    };
    let Some(a) = answer else {
        return failed(GraphError::Malformed("no answer for this section".into()));
    };
    if !(200..300).contains(&a.status) {
        return failed(classify(a.status, &a.body, a.retry_after, hint));
    }
    match parse(&a.body) {
        Ok(items) => Section {
            items,
            more: next_link(&a.body).is_some(),
            error: None,
            error_kind: None,
        },
        Err(e) => failed(e),
    }
}

/// One part of the [`Dashboard`].
#[derive(Clone, Debug, Serialize)]
pub struct Section<T> {
    pub items: Vec<T>,
    /// Graph had more than the one page the dashboard fetches.
    pub more: bool,
    /// Why this part is empty, one line ([`GraphError`]'s text), e.g. the scope to add.
    pub error: Option<String>,
    /// [`GraphError::kind`] of that error.
    pub error_kind: Option<&'static str>,
}

/// `ms dashboard`.
#[derive(Clone, Debug, Serialize)]
pub struct Dashboard {
    pub generated_at: Timestamp,
    /// The zone times are shown in (IANA name, or an offset).
    pub time_zone: String,
    /// Appointments from `generated_at` up to this instant.
    pub appointments_until: Timestamp,
    /// Birthdays from today up to and including this date.
    pub birthdays_until: Date,
    pub appointments: Section<CalendarEvent>,
    pub files: Section<DriveItem>,
    pub files_source: RecentSource,
    /// Unread inbox mail that is high-importance, flagged or in the Focused Inbox.
    pub mail: Section<MailMessage>,
    pub birthdays: Section<Birthday>,
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
