//! A fake Microsoft Graph v1.0 ([`FakeGraph`]) for the operations of `sidekey-services`:
//! `/me`, OneDrive search and recent files, `calendarView`, inbox messages, contacts and
//! contact folders, and JSON `$batch`; and the writes (an event, a mail, a small upload, a
//! OneNote page: `writes`, which records what they made).
//!
//! # Why
//!
//! The Graph client's correctness is mostly about details a lenient mock would let through
//! (docs/graph.md): an undoubled `'` in `$filter` or `search(q='…')` (Graph: 400
//! "unterminated literal"), a raw `+` in an offset (decoded as a space), `calendarView`
//! without both bounds (400), `$filter` + `$orderby` in an order Exchange rejects
//! (`InefficientFilter`), `endswith` on messages (`ErrorInvalidUrlQueryFilter`), nextLinks
//! that must be followed verbatim, `Prefer` headers that are not part of a nextLink, a body
//! field requested under `Mail.ReadBasic`, `$batch` answers in another order and per-request
//! 429s, personal accounts with `mail: null` and no mailbox (404 `MailboxNotEnabledForRESTAPI`, or
//! a 401 `OrganizationFromTenantGuidNotFound` with a valid token), `/me/drive/recent` in
//! recently-used order (not by modification time), `/me/contacts` holding only the default
//! folder (`/me/contactFolders` for the others). This fake enforces each of them,
//! and it really *evaluates* the `$filter` expressions it accepts (a small OData parser:
//! `and`/`or`/`not`, parentheses, `eq ne gt ge lt le`, `startswith`/`endswith`/`contains`,
//! strings, booleans, numbers, `null` and DateTimeOffset literals) — so a test can prove that a
//! quote in a sender cannot widen a query: unescaped, `x' or isRead eq false or subject eq 'y`
//! would match *more*.
//!
//! # Deliberate simplifications
//!
//! * Times are answered in UTC whatever `Prefer: outlook.timezone` asks for (the `timeZone`
//!   field says so, as Graph's does); the header is recorded, so tests can check it was sent.
//!   All-day events are floating dates, answered as UTC midnights, and included when their
//!   UTC-midnight span overlaps the window (a superset of any zone's view; clients filter).
//! * Search matches a case-insensitive substring of the name (real search is word/prefix
//!   based over several fields); `q=''` matches everything.
//! * Search results carry `parentReference.path` only for personal accounts (business search
//!   results often omit it, docs/graph.md, "Drive items").
//!
//! Same design as [`crate::FakeIdp`]: one thread with a current-thread tokio runtime; state
//! behind a `std::sync::Mutex` never held across an `.await`; no input can make it panic.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::running::{Bound, Running};
use crate::trust::{Admitted, Gate, Refused, narrowed};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

mod writes;
pub use writes::{FakeCreatedEvent, FakePage, FakeSentMail, FakeUpload, WriteFault};

/// Larger than any body sidekey sends (a simple upload is at most 4 MB); a larger one is
/// answered 413.
const MAX_BODY: usize = 8 * 1024 * 1024;
const MAX_BATCH: usize = 20;
/// Exchange serves at most this many concurrent requests per app and mailbox; Graph dispatches
/// up to this many sub-requests of a `$batch` at once (docs/graph.md, "Throttling").
const MAILBOX_CONCURRENCY: usize = 4;

// ---------------------------------------------------------------------------------------
// public data model

/// A OneDrive item.
#[derive(Clone, Debug)]
pub struct FakeFile {
    pub id: String,
    pub name: String,
    pub folder: bool,
    /// Folders only.
    pub child_count: u64,
    /// Readable folder containing it (`/Documents/Finance`; `/` for the root).
    pub parent_path: String,
    pub size: u64,
    /// RFC 3339.
    pub modified: String,
    pub mime_type: String,
    /// Listed by `/me/drive/recent`.
    pub recent: bool,
    /// RFC 3339: when the person last used (opened) it. `/me/drive/recent` lists items in
    /// this order, most recently *used* first (`None`: `modified` stands in).
    pub accessed: Option<String>,
    /// Lives in another drive: `/recent` shows it as a `remoteItem` without top-level
    /// `name`/`size` (docs/graph.md, "Drive items").
    pub remote: bool,
}

/// A calendar event.
#[derive(Clone, Debug)]
pub struct FakeEvent {
    pub id: String,
    pub subject: String,
    /// RFC 3339 instant; for all-day events a date `YYYY-MM-DD`.
    pub start: String,
    /// Exclusive; RFC 3339, or for all-day events the date after the last day.
    pub end: String,
    pub all_day: bool,
    pub location: String,
    pub organizer_name: String,
    pub organizer_address: String,
    pub online_join_url: Option<String>,
    pub show_as: String,
    pub cancelled: bool,
}

/// A message.
#[derive(Clone, Debug)]
pub struct FakeMessage {
    pub id: String,
    /// `inbox`, `archive`, …
    pub folder: String,
    pub subject: String,
    pub from_name: String,
    pub from_address: String,
    /// RFC 3339.
    pub received: String,
    pub is_read: bool,
    pub has_attachments: bool,
    /// `low`, `normal`, `high`.
    pub importance: String,
    pub flagged: bool,
    /// Focused Inbox: `true` → `focused`, `false` → `other`.
    pub focused: bool,
    /// Only readable with `Mail.Read`.
    pub body: String,
}

/// A contact.
#[derive(Clone, Debug)]
pub struct FakeContact {
    pub id: String,
    pub display_name: String,
    pub given_name: String,
    pub surname: String,
    /// Exactly as Graph would send it (`"1985-07-22T00:00:00Z"`), or `None` → `null`.
    pub birthday: Option<String>,
    pub email: String,
}

/// A contact folder below the default Contacts folder (`/me/contactFolders`, and
/// `/me/contactFolders/{id}/childFolders` for folders with a `parent`). Its contacts are *not*
/// returned by `/me/contacts`, which reads only the default folder (microsoft-graph-docs-contrib
/// `api-reference/v1.0/api/user-list-contacts.md`: "Get a contact collection from the default
/// contacts folder of the signed-in user"; `user-list-contactfolders.md`: "Get the contact
/// folder collection in the default Contacts folder").
#[derive(Clone, Debug)]
pub struct FakeContactFolder {
    pub id: String,
    pub display_name: String,
    /// `None`: a direct subfolder of the default Contacts folder; `Some(id)`: a child folder of
    /// that folder.
    pub parent: Option<String>,
    pub contacts: Vec<FakeContact>,
}

impl FakeContact {
    /// A contact named `name` ("Given Surname") with `birthday` exactly as Graph would send it.
    pub fn new(id: &str, name: &str, birthday: Option<&str>) -> FakeContact {
        contact(id, name, birthday)
    }
}

/// Everything the fake serves.
#[derive(Clone, Debug, Default)]
pub struct GraphData {
    pub user_name: String,
    /// `mail` for work accounts; the UPN (sign-in address) for personal ones.
    pub user_email: String,
    /// Work accounts' UPN (differs from `mail`).
    pub user_principal_name: String,
    pub files: Vec<FakeFile>,
    pub events: Vec<FakeEvent>,
    pub messages: Vec<FakeMessage>,
    /// The default Contacts folder (`/me/contacts`).
    pub contacts: Vec<FakeContact>,
    /// Other contact folders (empty in [`GraphData::sample`]).
    pub contact_folders: Vec<FakeContactFolder>,
}

/// Behaviour knobs. [`GraphOptions::default`]: work account with a mailbox, page size 50,
/// [`GraphData::sample`], every scope granted.
#[derive(Clone, Debug)]
pub struct GraphOptions {
    /// Personal (MSA) account: `/me` has `mail: null`, a short hex id, and search results
    /// carry `parentReference.path`.
    pub personal: bool,
    /// `false`: mail, calendar and contacts answer 404 `MailboxNotEnabledForRESTAPI`.
    pub mailbox: bool,
    /// A user or tenant without Exchange Online (no licence, some dev tenants, GCC): mail,
    /// calendar and contacts — also inside `$batch` — answer **401**
    /// `OrganizationFromTenantGuidNotFound` ("The tenant for tenant guid '…' does not exist"),
    /// although the token is fine (other endpoints accept it). Takes precedence over
    /// `mailbox`. Real Graph does this: O365/python-o365#757 (401 on
    /// `mailFolders/Inbox/messages`), microsoftgraph/msgraph-sdk-dotnet#1920,
    /// microsoftgraph/microsoft-graph-toolkit#1467, MicrosoftDocs/azure-docs#32957 (the body);
    /// see docs/graph.md, "Messages".
    pub tenant_without_exchange: bool,
    /// Largest page served, whatever `$top` asks (0: no limit beyond `$top`).
    pub page_size: usize,
    pub data: GraphData,
    /// `Some`: only these scopes are granted (short or full-URL form, any case); calls
    /// needing others get 403 with Graph's error shape, and body fields under
    /// `Mail.ReadBasic`/`Calendars.ReadBasic` get 403 too. `None`: everything is allowed.
    pub granted_scopes: Option<Vec<String>>,
    /// Every request is answered 400 `BadRequest` whose message echoes the request's
    /// `Authorization` header, as a misbehaving proxy might. Default false.
    pub echo_authorization: bool,
}

impl Default for GraphOptions {
    fn default() -> Self {
        GraphOptions {
            personal: false,
            mailbox: true,
            tenant_without_exchange: false,
            page_size: 50,
            data: GraphData::sample(),
            granted_scopes: None,
            echo_authorization: false,
        }
    }
}

/// One HTTP request as received.
#[derive(Clone, Debug)]
pub struct GraphRequest {
    pub method: String,
    /// Raw (still percent-encoded) path and query, e.g. `/v1.0/me/messages?%24top=5`.
    pub path_and_query: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy UTF-8); empty for GETs.
    pub body: String,
}

impl GraphRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The decoded query parameters (`+` read as a space, as Graph does).
    pub fn query(&self) -> Vec<(String, String)> {
        self.path_and_query
            .split_once('?')
            .map(|(_, q)| parse_query(q))
            .unwrap_or_default()
    }

    /// For a `$batch`: the `(id, url)` of each sub-request in the body.
    pub fn batch_requests(&self) -> Vec<(String, String)> {
        serde_json::from_str::<Value>(&self.body)
            .ok()
            .and_then(|v| v.get("requests").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .iter()
            .map(|r| {
                (
                    r.get("id")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    r.get("url")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                )
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// sample data

fn file(
    id: &str,
    name: &str,
    parent: &str,
    size: u64,
    modified: &str,
    mime: &str,
    recent: bool,
) -> FakeFile {
    FakeFile {
        id: id.into(),
        name: name.into(),
        folder: false,
        child_count: 0,
        parent_path: parent.into(),
        size,
        modified: modified.into(),
        mime_type: mime.into(),
        recent,
        accessed: None,
        remote: false,
    }
}

#[allow(clippy::too_many_arguments)]
fn event(
    id: &str,
    subject: &str,
    start: &str,
    end: &str,
    all_day: bool,
    location: &str,
    organizer: (&str, &str),
    online: bool,
) -> FakeEvent {
    FakeEvent {
        id: id.into(),
        subject: subject.into(),
        start: start.into(),
        end: end.into(),
        all_day,
        location: location.into(),
        organizer_name: organizer.0.into(),
        organizer_address: organizer.1.into(),
        online_join_url: online.then(|| format!("https://teams.example.test/l/meetup-join/{id}")),
        show_as: if all_day { "free" } else { "busy" }.into(),
        cancelled: false,
    }
}

#[allow(clippy::too_many_arguments)]
fn message(
    id: &str,
    from: (&str, &str),
    subject: &str,
    received: &str,
    is_read: bool,
    importance: &str,
    flagged: bool,
    focused: bool,
) -> FakeMessage {
    FakeMessage {
        id: id.into(),
        folder: "inbox".into(),
        subject: subject.into(),
        from_name: from.0.into(),
        from_address: from.1.into(),
        received: received.into(),
        is_read,
        has_attachments: false,
        importance: importance.into(),
        flagged,
        focused,
        body: format!("Body of {id} (only with Mail.Read)"),
    }
}

fn contact(id: &str, name: &str, birthday: Option<&str>) -> FakeContact {
    let (given, surname) = name.split_once(' ').unwrap_or((name, ""));
    FakeContact {
        id: id.into(),
        display_name: name.into(),
        given_name: given.into(),
        surname: surname.into(),
        birthday: birthday.map(str::to_owned),
        email: format!("{}@contacts.example.test", id.to_lowercase()),
    }
}

impl GraphData {
    /// A realistic set around late October 2026 (Europe/Berlin leaves DST on Sunday
    /// 2026-10-25) plus a few dates for other zones (America/New_York enters DST on
    /// 2026-03-08; Pacific/Kiritimati +14 and Pacific/Pago_Pago −11 around 2026-11-25), with
    /// hostile strings: `'`, `"`, `&`, `#`, `%`, `/`, non-ASCII, a `' or 1 eq 1` subject.
    pub fn sample() -> GraphData {
        let alex = ("Alex Wilber", "alex@contoso.test");
        let mut shared = file(
            "F-REMOTE",
            "March Proposal.docx",
            "/Shared/Proposals",
            19_121,
            "2026-10-21T16:43:21Z",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            true,
        );
        shared.remote = true;
        shared.accessed = Some("2026-10-22T18:05:00Z".into());
        let mut budget = file(
            "F-BUDGET-DIR",
            "Budget",
            "/Documents",
            52_011,
            "2026-10-20T08:00:00Z",
            "",
            false,
        );
        budget.folder = true;
        budget.child_count = 4;
        let mut notebook = file(
            "F-NOTEBOOK",
            "Notebook \"Ideas\"",
            "/",
            0,
            "2026-09-01T09:00:00Z",
            "",
            false,
        );
        notebook.mime_type = String::new();
        let files = vec![
            file(
                "F-OBRIEN",
                "O'Brien budget 2024.xlsx",
                "/Documents/Finance",
                18_342,
                "2026-10-22T10:15:00Z",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                true,
            ),
            budget,
            file(
                "F-QA",
                "Q&A #1 — 100% done (Zoë's notes).docx",
                "/Documents/Q&A #1",
                7_340_032,
                "2026-10-23T06:30:00Z",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                true,
            ),
            file(
                "F-RESUME",
                "Résumé Müller.pdf",
                "/Documents",
                240_000,
                "2026-10-19T12:00:00Z",
                "application/pdf",
                false,
            ),
            file(
                "F-VACATION",
                "Vacation.jpg",
                "/Pictures",
                37_810,
                "2026-10-18T16:43:21Z",
                "image/jpeg",
                true,
            ),
            shared,
            notebook,
            file(
                "F-OLD",
                "report 2019.txt",
                "/Archive/2019",
                812,
                "2019-01-02T03:04:05Z",
                "text/plain",
                false,
            ),
        ];

        // `/me/drive/recent` lists recently *used* items (drive-recent.md: "List a set of items
        // recently used by the signed-in user"), which is not the order of modification:
        // Vacation.jpg (changed a week ago) was opened this morning.
        let mut files = files;
        for f in &mut files {
            f.accessed = match f.id.as_str() {
                "F-VACATION" => Some("2026-10-23T07:45:00Z".into()),
                "F-QA" => Some("2026-10-23T06:30:00Z".into()),
                "F-OBRIEN" => Some("2026-10-22T10:15:00Z".into()),
                _ => f.accessed.take(),
            };
        }

        let mut cancelled = event(
            "E-CANCELLED",
            "Cancelled 1:1",
            "2026-10-23T13:00:00Z",
            "2026-10-23T13:30:00Z",
            false,
            "",
            alex,
            false,
        );
        cancelled.cancelled = true;
        let events = vec![
            event(
                "E-SYNC",
                "Team sync",
                "2026-10-23T07:00:00Z",
                "2026-10-23T07:30:00Z",
                false,
                "Room 1",
                alex,
                true,
            ),
            event(
                "E-HOSTILE",
                "Q&A: \"Budget\" #3 / 50% — Café 'Zürich' ✓",
                "2026-10-23T12:00:00Z",
                "2026-10-23T13:00:00Z",
                false,
                "O'Brien's office",
                ("Siobhán O'Brien", "o'brien@x.test"),
                false,
            ),
            cancelled,
            // 01:30 CEST → 03:30 CET across Berlin's fall-back: three real hours.
            event(
                "E-DST",
                "Night shift across the clock change",
                "2026-10-25T01:30:00+02:00",
                "2026-10-25T03:30:00+01:00",
                false,
                "",
                alex,
                false,
            ),
            event(
                "E-BRUNCH",
                "Sunday brunch",
                "2026-10-25T10:00:00Z",
                "2026-10-25T12:00:00Z",
                false,
                "Café Müller",
                alex,
                false,
            ),
            event(
                "E-HOLIDAY",
                "Holiday",
                "2026-10-26",
                "2026-10-27",
                true,
                "",
                alex,
                false,
            ),
            event(
                "E-CONF",
                "Conference",
                "2026-10-28",
                "2026-10-31",
                true,
                "Berlin",
                alex,
                false,
            ),
            event(
                "E-NY-EST",
                "Standup NY (EST)",
                "2026-03-07T15:00:00Z",
                "2026-03-07T15:15:00Z",
                false,
                "",
                alex,
                true,
            ),
            event(
                "E-NY-EDT",
                "Standup NY (EDT)",
                "2026-03-08T14:00:00Z",
                "2026-03-08T14:15:00Z",
                false,
                "",
                alex,
                true,
            ),
            event(
                "E-KIRITIMATI",
                "Kiritimati breakfast",
                "2026-11-25T18:00:00Z",
                "2026-11-25T19:00:00Z",
                false,
                "Beach",
                alex,
                false,
            ),
            event(
                "E-PAGO",
                "Pago Pago dinner",
                "2026-11-26T06:00:00Z",
                "2026-11-26T07:30:00Z",
                false,
                "Harbour",
                alex,
                false,
            ),
            event(
                "E-THANKS",
                "Thanksgiving",
                "2026-11-26",
                "2026-11-27",
                true,
                "",
                alex,
                false,
            ),
        ];

        let obrien = ("Siobhán O'Brien", "o'brien@x.test");
        let mut archived = message(
            "M-ARCHIVED",
            obrien,
            "Archived, unread",
            "2026-10-22T09:00:00Z",
            false,
            "normal",
            false,
            true,
        );
        archived.folder = "archive".into();
        let mut invoice = message(
            "M-OBRIEN",
            obrien,
            "Invoice #42 & \"urgent\" 100%/week",
            "2026-10-23T08:12:33Z",
            false,
            "high",
            false,
            true,
        );
        invoice.has_attachments = true;
        let messages = vec![
            invoice,
            message(
                "M-OBRIEN2",
                ("Sean OBrien", "obrien@x.test"),
                "Not the O'Brien you want",
                "2026-10-23T07:00:00Z",
                false,
                "normal",
                false,
                false,
            ),
            message(
                "M-BILLING",
                ("Billing", "billing@x.test"),
                "Your statement",
                "2026-10-22T18:00:00Z",
                false,
                "normal",
                true,
                false,
            ),
            message(
                "M-NEWS",
                ("X News", "news@mail.x.test"),
                "Weekly digest",
                "2026-10-22T06:00:00Z",
                false,
                "low",
                false,
                false,
            ),
            message(
                "M-READ",
                ("CEO", "ceo@contoso.test"),
                "Already read",
                "2026-10-23T09:00:00Z",
                true,
                "high",
                false,
                true,
            ),
            message(
                "M-CEO",
                ("CEO", "ceo@contoso.test"),
                "Quarterly numbers",
                "2026-10-21T10:00:00Z",
                false,
                "normal",
                false,
                true,
            ),
            message(
                "M-INJECT",
                ("Mallory", "attacker@evil.test"),
                "' or 1 eq 1",
                "2026-10-20T10:00:00Z",
                false,
                "normal",
                false,
                false,
            ),
            message(
                "M-UMLAUT",
                ("Jürgen Müller", "müller@example.test"),
                "Grüße aus München",
                "2026-10-19T10:00:00Z",
                false,
                "normal",
                false,
                true,
            ),
            archived,
        ];

        let contacts = vec![
            contact("C-GARTH", "Garth Fort", Some("1985-07-22T00:00:00Z")),
            contact("C-LEAP", "Leap Day", Some("2000-02-29T00:00:00Z")),
            contact("C-NOON", "Noon Birthday", Some("1990-10-26T11:59:00Z")),
            contact("C-LATE", "Late Evening", Some("1991-10-27T23:00:00Z")),
            // Exchange/ActiveSync clients in UTC+ zones store the local midnight: born on the
            // 18th, stored as the 17th 22:00Z (krtek/Birthday-widget#37; MS-ASCNTC 2.2.2.6 says
            // the time "SHOULD be ignored"; docs/graph.md, "Contacts and birthdays").
            contact("C-UTCPLUS", "Ulla Plus", Some("1988-11-17T22:00:00Z")),
            contact("C-NOYEAR", "Zoë D'Arcy", Some("1604-11-01T00:00:00Z")),
            contact("C-NONE", "No Birthday", None),
            contact("C-BJORN", "Björn Ångström", Some("1970-12-24T00:00:00Z")),
            contact(
                "C-TODAY",
                "O'Neil \"Birthday\" & Co",
                Some("1980-10-23T00:00:00Z"),
            ),
        ];

        GraphData {
            user_name: "Ada Lovelace".into(),
            user_email: "ada@contoso.test".into(),
            user_principal_name: "ada.lovelace@contoso.onmicrosoft.test".into(),
            files,
            events,
            messages,
            contacts,
            contact_folders: Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// server plumbing

struct Throttle {
    path_contains: String,
    remaining: usize,
    retry_after: String,
}

struct GState {
    requests: Vec<GraphRequest>,
    throttles: Vec<Throttle>,
    gate: Gate,
    latency: Duration,
    /// Requests to the mailbox (mail, calendar, contacts) being served right now.
    mailbox_in_flight: usize,
    /// How many were refused for the mailbox concurrency limit.
    mailbox_throttled: usize,
    /// What the writes made, and the faults waiting for them.
    writes: writes::Writes,
    /// The contact folders as changed since the start ([`FakeGraph::set_contact_folders`]).
    contact_folders: Option<Vec<FakeContactFolder>>,
}

struct GShared {
    base: String,
    opts: GraphOptions,
    state: Mutex<GState>,
}

impl GShared {
    fn lock(&self) -> MutexGuard<'_, GState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The person's contact folders now (the data's, unless a test changed them).
    fn contact_folders(&self) -> Vec<FakeContactFolder> {
        self.lock()
            .contact_folders
            .clone()
            .unwrap_or_else(|| self.opts.data.contact_folders.clone())
    }

    /// A slot of the mailbox's concurrency limit for a request to `path` (relative to the
    /// version): `Ok(None)` for a request that is not to the mailbox, `Err` for the 429 Exchange
    /// answers when [`MAILBOX_CONCURRENCY`] requests are already being served.
    fn mailbox_slot(&self, path: &str) -> Result<Option<MailboxSlot<'_>>, Reply> {
        if !is_mailbox(path) {
            return Ok(None);
        }
        let mut st = self.lock();
        if st.mailbox_in_flight >= MAILBOX_CONCURRENCY {
            st.mailbox_throttled += 1;
            // The code and text Exchange sends (docs/graph.md, "Throttling"); the Retry-After
            // value is not documented for this limit (a short one: a slot frees quickly).
            let mut r = gerr(
                429,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
            );
            r.headers.push(("Retry-After".into(), "1".into()));
            return Err(r);
        }
        st.mailbox_in_flight += 1;
        Ok(Some(MailboxSlot(self)))
    }
}

/// Held while a mailbox request is served (also when its client goes away mid-way).
struct MailboxSlot<'a>(&'a GShared);

impl Drop for MailboxSlot<'_> {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.mailbox_in_flight = st.mailbox_in_flight.saturating_sub(1);
    }
}

/// Whether a path (relative to the version, e.g. `/me/mailFolders/inbox/messages`) is served
/// by Exchange: mail, calendars and contacts of a user.
fn is_mailbox(path: &str) -> bool {
    let path = path.split('?').next().unwrap_or("").to_ascii_lowercase();
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let resource = match seg.as_slice() {
        ["me", r, ..] => *r,
        ["users", _, r, ..] => *r,
        _ => return false,
    };
    matches!(
        resource,
        "messages"
            | "mailfolders"
            | "calendar"
            | "calendars"
            | "calendarview"
            | "events"
            | "contacts"
            | "contactfolders"
            | "sendmail"
    )
}

/// A running fake Graph. Dropping it shuts it down.
pub struct FakeGraph {
    shared: Arc<GShared>,
    _server: Running,
}

impl FakeGraph {
    /// Starts on 127.0.0.1:0 on its own thread. Panics only if loopback or a runtime cannot
    /// be set up at all (a broken test machine).
    pub fn start(opts: GraphOptions) -> FakeGraph {
        let bound = Bound::loopback();
        let shared = Arc::new(GShared {
            base: bound.base.clone(),
            opts,
            state: Mutex::new(GState {
                requests: Vec::new(),
                throttles: Vec::new(),
                gate: Gate::default(),
                latency: Duration::ZERO,
                mailbox_in_flight: 0,
                mailbox_throttled: 0,
                writes: writes::Writes::default(),
                contact_folders: None,
            }),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = bound.serve("fake-graph", app);
        FakeGraph {
            shared,
            _server: server,
        }
    }

    /// `http://127.0.0.1:PORT/v1.0`
    pub fn base_url(&self) -> String {
        format!("{}/v1.0", self.shared.base)
    }

    /// Every HTTP request received, in order (`$batch` sub-requests are in its body).
    pub fn requests(&self) -> Vec<GraphRequest> {
        self.shared.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// The next `times` requests whose path+query (raw, as sent; for `$batch` sub-requests
    /// their relative `url`) contains `path_contains` get 429 with `Retry-After:
    /// retry_after` (an empty string: no header) — a 429 sub-response inside a `$batch`.
    pub fn inject_429(&self, path_contains: &str, times: usize, retry_after: &str) {
        self.shared.lock().throttles.push(Throttle {
            path_contains: path_contains.to_string(),
            remaining: times,
            retry_after: retry_after.to_string(),
        });
    }

    /// A fixed list of accepted tokens (with [`GraphOptions::granted_scopes`]' scopes), for
    /// tests without an authorization server; every other token gets 401
    /// `InvalidAuthenticationToken` (tokens of a [`FakeGraph::trust`]ed server still count).
    /// `None` and nothing trusted: any non-empty bearer token is accepted (benches only).
    pub fn set_valid_tokens(&self, tokens: Option<Vec<String>>) {
        self.shared.lock().gate.fixed = tokens;
    }

    /// `true`: every token gets the 401, trusted or listed — a service that stopped accepting
    /// this sign-in's tokens while the authorization server still refreshes them (the account
    /// was disabled at the service), for tests of "refresh once, then sign in again".
    pub fn refuse_all_tokens(&self, refuse: bool) {
        self.shared.lock().gate.refuse_all = refuse;
    }

    /// Accept the access tokens `idp` issues, as Graph accepts the identity platform's: a live
    /// token of `idp`'s configured user, with the scopes of its grant (narrowed by
    /// [`GraphOptions::granted_scopes`] when set). An expired one gets 401
    /// `InvalidAuthenticationToken` "Access token has expired or is not yet valid.", one `idp`
    /// never issued (another client's, another provider's), a revoked one or another person's
    /// "Access token validation failure."; a missing scope 403 (see `Need`). From now on only
    /// trusted servers' tokens and the fixed list ([`FakeGraph::set_valid_tokens`]) are accepted.
    pub fn trust(&self, idp: &crate::FakeIdp) {
        self.shared
            .lock()
            .gate
            .trusted
            .push((idp.verifier(), String::new()));
    }

    /// Delay before answering each HTTP request, and each wave of `$batch` sub-requests: Graph
    /// runs a batch's Outlook sub-requests up to 4 at a time and the others with the first wave,
    /// so a batch with n Outlook sub-requests costs `1 + max(1, ceil(n / 4))` times this. Mail, calendar and contacts requests (direct or in a batch) hold one of the
    /// mailbox's 4 concurrent slots while they are served; one more gets 429
    /// `ApplicationThrottled` ([`FakeGraph::mailbox_throttled`]).
    pub fn set_latency(&self, d: Duration) {
        self.shared.lock().latency = d;
    }

    /// Replace the person's contact folders (one added or deleted in Outlook meanwhile): a
    /// deleted folder's id is then unknown, 404 `ErrorItemNotFound` as Graph answers.
    pub fn set_contact_folders(&self, folders: Vec<FakeContactFolder>) {
        self.shared.lock().contact_folders = Some(folders);
    }

    /// How many requests (direct or `$batch` sub-requests) got 429 `ApplicationThrottled` for
    /// the mailbox's limit of 4 concurrent requests.
    pub fn mailbox_throttled(&self) -> usize {
        self.shared.lock().mailbox_throttled
    }

    /// The events created through `POST /me/events`, in order (a repeated `transactionId`
    /// creates none).
    pub fn created_events(&self) -> Vec<FakeCreatedEvent> {
        self.shared.lock().writes.events.clone()
    }

    /// The mails `POST /me/sendMail` accepted, in order.
    pub fn sent_mails(&self) -> Vec<FakeSentMail> {
        self.shared.lock().writes.mails.clone()
    }

    /// The files uploaded, as they are now (a replaced one holds its new content).
    pub fn uploads(&self) -> Vec<FakeUpload> {
        self.shared.lock().writes.uploads.clone()
    }

    /// The OneNote pages created, in order.
    pub fn pages(&self) -> Vec<FakePage> {
        self.shared.lock().writes.pages.clone()
    }

    /// The next `times` writes (POST, PUT) whose path+query contains `path_contains` are
    /// carried out, and then answered with `fault` instead of their answer: the request
    /// reached Graph and the change was made, but the client does not learn it.
    pub fn fail_after_write(&self, path_contains: &str, times: usize, fault: WriteFault) {
        self.shared
            .lock()
            .writes
            .faults
            .push((path_contains.to_string(), times, fault));
    }
}

impl std::fmt::Debug for FakeGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGraph")
            .field("base", &self.shared.base)
            .finish()
    }
}

/// An answer: status, extra headers, JSON body (`null` on a 202 or 204: none).
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
    /// Never send it: the connection stays open without an answer ([`WriteFault::Hang`]).
    hang: bool,
}

fn ok(body: Value) -> Reply {
    Reply {
        status: 200,
        headers: Vec::new(),
        body,
        hang: false,
    }
}

fn gerr(status: u16, code: &str, message: &str) -> Reply {
    Reply {
        status,
        hang: false,
        headers: Vec::new(),
        body: json!({"error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": "2026-11-25T12:00:00",
                "request-id": "00000000-0000-4000-8000-000000000000",
                "client-request-id": "00000000-0000-4000-8000-000000000000",
            }
        }}),
    }
}

fn bad(message: &str) -> Reply {
    gerr(400, "BadRequest", message)
}

async fn handle(State(sh): State<Arc<GShared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY).await;
    let body = bytes
        .as_ref()
        .map(|b| String::from_utf8_lossy(b).into_owned());
    let raw_path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().map(str::to_owned);
    let path_and_query = match &raw_query {
        Some(q) => format!("{raw_path}?{q}"),
        None => raw_path.clone(),
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let latency = {
        let mut st = sh.lock();
        st.requests.push(GraphRequest {
            method: parts.method.as_str().to_string(),
            path_and_query: path_and_query.clone(),
            headers: headers.clone(),
            body: body.as_ref().cloned().unwrap_or_default(),
        });
        st.latency
    };
    // A mailbox request holds its slot while it is served (its latency included).
    let slot = sh.mailbox_slot(raw_path.strip_prefix("/v1.0").unwrap_or(""));
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let slot = match slot {
        Ok(s) => s,
        Err(r) => return to_response(r),
    };
    let echo = headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.clone())
        .filter(|_| sh.opts.echo_authorization);
    let reply = match body {
        _ if echo.is_some() => gerr(
            400,
            "BadRequest",
            &format!(
                "Unexpected request. Headers: Authorization: {}",
                echo.unwrap_or_default()
            ),
        ),
        Err(_) => gerr(
            413,
            "RequestEntityTooLarge",
            "The request body is too large.",
        ),
        Ok(body) => {
            let bytes = bytes.map(|b| b.to_vec()).unwrap_or_default();
            let req = Incoming {
                method: parts.method.as_str(),
                raw_path: &raw_path,
                raw_query: raw_query.as_deref(),
                headers: &headers,
                body: &body,
                bytes: &bytes,
            };
            outer(&sh, &req).await
        }
    };
    drop(slot);
    if reply.hang {
        // The change was made; the answer never comes (until the fake stops).
        std::future::pending::<()>().await;
    }
    to_response(reply)
}

/// One HTTP request as `outer` reads it.
pub(crate) struct Incoming<'a> {
    method: &'a str,
    raw_path: &'a str,
    raw_query: Option<&'a str>,
    headers: &'a [(String, String)],
    /// The body as text (lossy UTF-8).
    body: &'a str,
    /// The body as sent (an upload's content).
    bytes: &'a [u8],
}

fn to_response(r: Reply) -> Response {
    // A 202 or 204 without a body (sendMail's 202 Accepted) is sent without one.
    let empty = matches!(r.status, 202 | 204) && r.body.is_null();
    let mut resp = Response::new(if empty {
        Body::empty()
    } else {
        Body::from(r.body.to_string())
    });
    *resp.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if !empty {
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
    }
    for (k, v) in r.headers {
        if let (Ok(k), Ok(v)) = (
            header::HeaderName::from_bytes(k.as_bytes()),
            header::HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

fn header_of<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A throttle matching `target`, consumed. Returns the 429 reply.
fn throttled(sh: &GShared, target: &str) -> Option<Reply> {
    let mut st = sh.lock();
    let t = st
        .throttles
        .iter_mut()
        .find(|t| t.remaining > 0 && target.contains(&t.path_contains))?;
    t.remaining -= 1;
    let mut r = gerr(429, "TooManyRequests", "Please retry again later.");
    if !t.retry_after.is_empty() {
        r.headers
            .push(("Retry-After".into(), t.retry_after.clone()));
    }
    Some(r)
}

async fn outer(sh: &GShared, incoming: &Incoming<'_>) -> Reply {
    let Incoming {
        method,
        raw_path,
        raw_query,
        headers,
        body,
        ..
    } = *incoming;
    // Authentication first, as Graph does.
    let token = header_of(headers, "authorization")
        .and_then(|a| {
            let (scheme, rest) = a.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty());
    let admitted = sh.lock().gate.admit(token);
    // The scopes the request carries: a trusted grant's, else the options' (`None`: all).
    let granted = match admitted {
        Err(why) => {
            // docs/graph.md, "Errors": 401 `InvalidAuthenticationToken`, with the messages real
            // Graph sends for an empty, an expired and an unacceptable token.
            let mut r = gerr(
                401,
                "InvalidAuthenticationToken",
                match why {
                    Refused::Missing => "Access token is empty.",
                    Refused::Expired => "Access token has expired or is not yet valid.",
                    Refused::Invalid => "Access token validation failure.",
                },
            );
            r.headers.push((
                "WWW-Authenticate".into(),
                "Bearer realm=\"\", error=\"invalid_token\"".into(),
            ));
            return r;
        }
        Ok(Admitted::Grant { grant, .. }) => Some(narrowed(
            grant.scopes,
            sh.opts.granted_scopes.as_ref(),
            norm_scope,
        )),
        Ok(Admitted::Listed | Admitted::Anyone) => sh.opts.granted_scopes.clone(),
    };
    let sh = &Req { sh, granted };
    let target = match raw_query {
        Some(q) => format!("{raw_path}?{q}"),
        None => raw_path.to_string(),
    };
    if let Some(r) = throttled(sh, &target) {
        return r;
    }
    let Some(rest) = raw_path.strip_prefix("/v1.0") else {
        return gerr(404, "NotFound", "Unsupported API version; use /v1.0.");
    };
    if rest == "/$batch" || rest.eq_ignore_ascii_case("/%24batch") {
        if method != "POST" {
            return gerr(405, "BadRequest", "Only POST is supported for $batch.");
        }
        return batch(sh, body).await;
    }
    if method != "GET" {
        return writes::route(sh, incoming, rest);
    }
    route(sh, method, rest, raw_query.unwrap_or(""), headers)
}

async fn batch(sh: &Req<'_>, body: &str) -> Reply {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return bad("Invalid batch payload format.");
    };
    let Some(reqs) = v.get("requests").and_then(Value::as_array) else {
        return bad("Invalid batch payload format.");
    };
    if reqs.is_empty() {
        return bad("The batch request must contain at least one request.");
    }
    if reqs.len() > MAX_BATCH {
        return bad("The number of requests in the batch exceeds the maximum of 20.");
    }
    let mut ids = HashSet::new();
    for r in reqs {
        let Some(id) = r
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            return bad("Each batch request must have a non-empty string id.");
        };
        if !ids.insert(id.to_lowercase()) {
            return bad("Batch request ids must be unique.");
        }
    }
    // Graph runs a batch's Outlook sub-requests (mail, calendar, contacts) up to 4 at a time
    // (docs/graph.md, "Throttling"); it documents no such limit for the others, which run with
    // the first wave. Each wave costs the latency, and a mailbox sub-request holds a slot of the
    // mailbox's concurrency limit while it runs.
    let latency = sh.lock().latency;
    let url_of = |r: &Value| {
        r.get("url")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (outlook, other): (Vec<&Value>, Vec<&Value>) =
        reqs.iter().partition(|r| is_mailbox(&url_of(r)));
    let mut waves: Vec<Vec<&Value>> = outlook
        .chunks(MAILBOX_CONCURRENCY)
        .map(<[&Value]>::to_vec)
        .collect();
    if waves.is_empty() {
        waves.push(Vec::new());
    }
    waves[0].extend(other);
    let mut responses: Vec<Value> = Vec::with_capacity(reqs.len());
    for wave in waves {
        let slots: Vec<Result<Option<MailboxSlot<'_>>, Reply>> =
            wave.iter().map(|r| sh.mailbox_slot(&url_of(r))).collect();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        for (r, slot) in wave.iter().zip(slots) {
            let id = r
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let reply = match slot {
                Ok(_held) => sub_request(sh, r),
                Err(refused) => refused,
            };
            let mut headers = Map::new();
            headers.insert("Content-Type".into(), json!("application/json"));
            for (k, v) in reply.headers {
                headers.insert(k, json!(v));
            }
            responses.push(
                json!({"id": id, "status": reply.status, "headers": headers, "body": reply.body}),
            );
        }
    }
    shuffle_differently(&mut responses);
    ok(json!({ "responses": responses }))
}

/// Shuffles, and makes sure the order differs from the request order when it can.
fn shuffle_differently(v: &mut [Value]) {
    if v.len() < 2 {
        return;
    }
    let original: Vec<Value> = v.to_vec();
    let mut buf = vec![0u8; v.len() * 2];
    crate::util::fill_random(&mut buf);
    for i in (1..v.len()).rev() {
        let r = u16::from_le_bytes([buf[2 * i], buf[2 * i + 1]]) as usize % (i + 1);
        v.swap(i, r);
    }
    if v.iter().zip(original.iter()).all(|(a, b)| a == b) {
        v.rotate_left(1);
    }
}

fn sub_request(sh: &Req<'_>, r: &Value) -> Reply {
    let method = r.get("method").and_then(Value::as_str).unwrap_or("");
    let Some(url) = r.get("url").and_then(Value::as_str) else {
        return bad("Each batch request must have a url.");
    };
    if !url.starts_with('/') || url.to_ascii_lowercase().starts_with("/v1.0/") {
        return bad(
            "Invalid request URL: batch request URLs are relative to the version, e.g. /me.",
        );
    }
    if let Some(r) = throttled(sh, url) {
        return r;
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(h) = r.get("headers") {
        let Some(h) = h.as_object() else {
            return bad("Batch request headers must be an object.");
        };
        for (k, v) in h {
            let Some(v) = v.as_str() else {
                return bad("Batch request header values must be strings.");
            };
            headers.push((k.to_ascii_lowercase(), v.to_string()));
        }
    }
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    if path.eq_ignore_ascii_case("/$batch") {
        return bad("Nested batch requests are not supported.");
    }
    route(sh, &method.to_ascii_uppercase(), path, query, &headers)
}

// ---------------------------------------------------------------------------------------
// routing

/// What an endpoint needs, and (in `Req::allowed`) the delegated permissions that satisfy it,
/// least privileged first: `/me` User.Read; drive items, search and recent Files.Read;
/// `calendarView` Calendars.ReadBasic (Calendars.Read for bodies); messages Mail.ReadBasic
/// (Mail.Read for bodies and `$search`); contacts and contact folders Contacts.Read — each
/// endpoint's "Permissions" table in microsoft-graph-docs-contrib, summarised in docs/graph.md
/// (each section's "Least-privileged scope") and docs/providers.md, "Service tokens". A token
/// without one gets 403: `ErrorAccessDenied` ("Access is denied. Check credentials and try
/// again.") on Outlook resources, `accessDenied` on drive items, `Authorization_RequestDenied`
/// on the directory (docs/graph.md, "Errors").
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    User,
    Files,
    Calendar,
    Mail,
    Contacts,
    /// Creating events: Calendars.ReadWrite (user-post-events, "Permissions").
    CalendarWrite,
    /// `sendMail`: Mail.Send only (user-sendmail, "Permissions").
    MailSend,
    /// Uploads: Files.ReadWrite and wider (driveitem-put-content, "Permissions").
    FilesWrite,
    /// OneNote pages: Notes.Create and wider (onenote-post-pages, "Permissions").
    NotesCreate,
}

fn norm_scope(s: &str) -> String {
    let l = s.trim().to_ascii_lowercase();
    l.strip_prefix("https://graph.microsoft.com/")
        .map(str::to_owned)
        .unwrap_or(l)
}

/// One request as far as routing goes: the fake, and the scopes the request's token carries.
struct Req<'a> {
    sh: &'a GShared,
    /// `None`: every scope (no grant and no `granted_scopes` option).
    granted: Option<Vec<String>>,
}

impl std::ops::Deref for Req<'_> {
    type Target = GShared;
    fn deref(&self) -> &GShared {
        self.sh
    }
}

impl Req<'_> {
    fn granted(&self) -> Option<Vec<String>> {
        self.granted.as_ref().map(|g| {
            g.iter()
                .flat_map(|s| s.split_whitespace())
                .map(norm_scope)
                .collect()
        })
    }

    fn has_any(&self, scopes: &[&str]) -> bool {
        match self.granted() {
            None => true,
            Some(g) => scopes
                .iter()
                .any(|s| g.iter().any(|x| *x == s.to_ascii_lowercase())),
        }
    }

    fn allowed(&self, need: Need) -> bool {
        self.has_any(match need {
            Need::User => &[
                "User.Read",
                "User.ReadWrite",
                "User.Read.All",
                "Directory.Read.All",
            ],
            Need::Files => &[
                "Files.Read",
                "Files.ReadWrite",
                "Files.Read.All",
                "Files.ReadWrite.All",
                "Sites.Read.All",
            ],
            Need::Calendar => &[
                "Calendars.ReadBasic",
                "Calendars.Read",
                "Calendars.ReadWrite",
            ],
            Need::Mail => &["Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite"],
            Need::Contacts => &["Contacts.Read", "Contacts.ReadWrite"],
            Need::CalendarWrite => &["Calendars.ReadWrite"],
            Need::MailSend => &["Mail.Send"],
            Need::FilesWrite => &[
                "Files.ReadWrite",
                "Files.ReadWrite.All",
                "Sites.ReadWrite.All",
            ],
            Need::NotesCreate => &["Notes.Create", "Notes.ReadWrite", "Notes.ReadWrite.All"],
        })
    }
}

fn denied(need: Need) -> Reply {
    match need {
        Need::Files | Need::FilesWrite => gerr(403, "accessDenied", "Access denied"),
        // OneNote's own numeric codes (concepts/onenote-error-codes.md, 40004).
        Need::NotesCreate => gerr(
            403,
            "40004",
            "The OAuth token doesn't have the required scopes to perform the requested action.",
        ),
        Need::User => gerr(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ),
        _ => gerr(
            403,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        ),
    }
}

/// Percent-decoding (lossy UTF-8); `plus_space`: `+` means a space (query strings).
fn pct_decode(s: &str, plus_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' if plus_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (pct_decode(k, true), pct_decode(v, true))
        })
        .collect()
}

struct Query {
    pairs: Vec<(String, String)>,
    raw: String,
}

impl Query {
    fn parse(raw: &str) -> Result<Query, Reply> {
        let pairs = parse_query(raw);
        let mut seen = HashSet::new();
        for (k, _) in &pairs {
            if !seen.insert(k.to_ascii_lowercase()) {
                return Err(bad(&format!(
                    "Query option '{k}' was specified more than once, but it must be specified at most once."
                )));
            }
        }
        Ok(Query {
            pairs,
            raw: raw.to_string(),
        })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The raw query without the paging parameter (for nextLinks).
    fn raw_without(&self, key: &str) -> String {
        self.raw
            .split('&')
            .filter(|p| {
                let k = p.split_once('=').map(|(k, _)| k).unwrap_or(p);
                !pct_decode(k, true).eq_ignore_ascii_case(key) && !p.is_empty()
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

fn route(
    sh: &Req<'_>,
    method: &str,
    path: &str,
    raw_query: &str,
    _headers: &[(String, String)],
) -> Reply {
    if method != "GET" {
        return gerr(405, "BadRequest", "The fake Graph only serves GET here.");
    }
    let q = match Query::parse(raw_query) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let decoded = pct_decode(path, false);
    let lower = decoded.to_ascii_lowercase();
    match lower.as_str() {
        "/me" => {
            if !sh.allowed(Need::User) {
                return denied(Need::User);
            }
            me(sh, &q)
        }
        "/me/drive/recent" => {
            if !sh.allowed(Need::Files) {
                return denied(Need::Files);
            }
            recent(sh, path, &q)
        }
        "/me/calendarview" | "/me/calendar/calendarview" => {
            if !sh.allowed(Need::Calendar) {
                return denied(Need::Calendar);
            }
            if let Some(r) = no_mailbox(sh) {
                return r;
            }
            calendar_view(sh, path, &q)
        }
        "/me/messages" | "/me/mailfolders/inbox/messages" => {
            if !sh.allowed(Need::Mail) {
                return denied(Need::Mail);
            }
            if let Some(r) = no_mailbox(sh) {
                return r;
            }
            let folder = (lower != "/me/messages").then_some("inbox");
            messages(sh, path, &q, folder)
        }
        "/me/contacts" => {
            if !sh.allowed(Need::Contacts) {
                return denied(Need::Contacts);
            }
            if let Some(r) = no_mailbox(sh) {
                return r;
            }
            contacts(sh, path, &q, &sh.opts.data.contacts)
        }
        "/me/contactfolders" => {
            if !sh.allowed(Need::Contacts) {
                return denied(Need::Contacts);
            }
            if let Some(r) = no_mailbox(sh) {
                return r;
            }
            contact_folders(sh, path, &q, None)
        }
        _ => {
            if let Some(rest) = lower.strip_prefix("/me/contactfolders/") {
                if !sh.allowed(Need::Contacts) {
                    return denied(Need::Contacts);
                }
                if let Some(r) = no_mailbox(sh) {
                    return r;
                }
                let (id_len, what) = match rest.split_once('/') {
                    Some((id, what)) => (id.len(), what),
                    None => (rest.len(), ""),
                };
                // The id as sent (case kept): ids are opaque.
                let start = "/me/contactfolders/".len();
                let id = &decoded[start..start + id_len];
                let folders = sh.contact_folders();
                let Some(folder) = folders.iter().find(|f| f.id == id) else {
                    return gerr(
                        404,
                        "ErrorItemNotFound",
                        "The specified object was not found in the store.",
                    );
                };
                return match what {
                    "contacts" => contacts(sh, path, &q, &folder.contacts),
                    "childfolders" => contact_folders(sh, path, &q, Some(&folder.id)),
                    _ => bad(&format!("Resource not found for the segment '{what}'.")),
                };
            }
            for prefix in ["/me/drive/root/search(", "/me/drive/search("] {
                if lower.starts_with(prefix) {
                    if !sh.allowed(Need::Files) {
                        return denied(Need::Files);
                    }
                    return search(sh, path, &decoded[prefix.len() - 1..], &q);
                }
            }
            if let Some(id) = path.strip_prefix("/me/drive/items/") {
                if !sh.allowed(Need::Files) {
                    return denied(Need::Files);
                }
                return item(sh, id, &q);
            }
            let seg = decoded.rsplit('/').next().unwrap_or("");
            bad(&format!("Resource not found for the segment '{seg}'."))
        }
    }
}

/// `GET /me/drive/items/{id}`: the id is one encoded path segment (a raw `/` would be another
/// path); an unknown id is Graph's 404 `itemNotFound`.
fn item(sh: &GShared, raw_id: &str, q: &Query) -> Reply {
    if raw_id.contains('/') {
        let seg = raw_id.rsplit('/').next().unwrap_or("");
        return bad(&format!("Resource not found for the segment '{seg}'."));
    }
    let id = pct_decode(raw_id, false);
    // An uploaded file (or an upload's new content of a sample file) first.
    let uploaded = sh.lock().writes.drive_file(&id);
    let Some(f) = uploaded
        .as_ref()
        .or_else(|| sh.opts.data.files.iter().find(|f| f.id == id))
    else {
        return gerr(404, "itemNotFound", "The resource could not be found.");
    };
    let v = drive_json(f, sh.opts.personal, false);
    match select(std::slice::from_ref(&v), q.get("$select"), "driveItem") {
        Ok(mut items) => ok(items.remove(0)),
        Err(r) => r,
    }
}

/// The answer of Exchange-backed endpoints (mail, calendar, contacts) for a user without a
/// usable mailbox, or `None` when there is one.
fn no_mailbox(sh: &GShared) -> Option<Reply> {
    if sh.opts.tenant_without_exchange {
        // A 401 although the token is valid: real Graph's answer for users/tenants without
        // Exchange Online (body as in MicrosoftDocs/azure-docs#32957; 401 on mail and
        // calendar in O365/python-o365#757, microsoftgraph/msgraph-sdk-dotnet#1920).
        return Some(gerr(
            401,
            "OrganizationFromTenantGuidNotFound",
            "The tenant for tenant guid '7f2c1f4e-9b1a-4c55-8d7e-0a3b5c6d7e8f' does not exist.",
        ));
    }
    (!sh.opts.mailbox).then(|| {
        gerr(
            404,
            "MailboxNotEnabledForRESTAPI",
            "REST API is not yet supported for this mailbox.",
        )
    })
}

fn me(sh: &GShared, q: &Query) -> Reply {
    let d = &sh.opts.data;
    let full = if sh.opts.personal {
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
            "id": "1d0fddbd1dab94fe",
            "displayName": d.user_name,
            "mail": null,
            "userPrincipalName": d.user_email,
            "businessPhones": [],
            "givenName": d.user_name.split(' ').next().unwrap_or(""),
            "surname": d.user_name.split(' ').nth(1).unwrap_or(""),
            "jobTitle": null, "mobilePhone": null, "officeLocation": null, "preferredLanguage": null,
        })
    } else {
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
            "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
            "displayName": d.user_name,
            "mail": d.user_email,
            "userPrincipalName": d.user_principal_name,
            "businessPhones": ["+1 425 555 0109"],
            "givenName": d.user_name.split(' ').next().unwrap_or(""),
            "surname": d.user_name.split(' ').nth(1).unwrap_or(""),
            "jobTitle": "Analyst", "mobilePhone": null, "officeLocation": "18/2111", "preferredLanguage": "en-US",
        })
    };
    match select(&[full], q.get("$select"), "user") {
        Ok(mut v) => ok(v.pop().unwrap_or(Value::Null)),
        Err(r) => r,
    }
}

// ---------------------------------------------------------------------------------------
// $select, $top, paging

#[rustfmt::skip]
const USER_FIELDS: &[&str] = &[
    "id", "displayName", "mail", "userPrincipalName", "businessPhones", "givenName", "surname",
    "jobTitle", "mobilePhone", "officeLocation", "preferredLanguage",
];
#[rustfmt::skip]
const DRIVE_FIELDS: &[&str] = &[
    "id", "name", "size", "webUrl", "lastModifiedDateTime", "createdDateTime", "file",
    "folder", "package", "parentReference", "remoteItem", "fileSystemInfo", "searchResult",
    "eTag", "cTag",
];
#[rustfmt::skip]
const EVENT_FIELDS: &[&str] = &[
    "id", "subject", "start", "end", "isAllDay", "isCancelled", "location", "locations",
    "organizer", "attendees", "isOnlineMeeting", "onlineMeeting", "onlineMeetingProvider",
    "onlineMeetingUrl", "showAs", "type", "webLink", "body", "bodyPreview", "sensitivity",
    "responseStatus", "seriesMasterId",
];
#[rustfmt::skip]
const MESSAGE_FIELDS: &[&str] = &[
    "id", "subject", "from", "sender", "toRecipients", "ccRecipients", "receivedDateTime",
    "sentDateTime", "isRead", "hasAttachments", "importance", "flag",
    "inferenceClassification", "webLink", "body", "bodyPreview", "uniqueBody",
    "conversationId", "parentFolderId", "internetMessageId", "isDraft", "categories",
];
#[rustfmt::skip]
const CONTACT_FIELDS: &[&str] = &[
    "id", "displayName", "givenName", "surname", "birthday", "emailAddresses", "mobilePhone",
    "businessPhones", "companyName", "jobTitle",
];

const CONTACT_FOLDER_FIELDS: &[&str] = &["id", "displayName", "parentFolderId"];

/// `$select` projection; an unknown property is Graph's 400.
fn select(items: &[Value], sel: Option<&str>, kind: &str) -> Result<Vec<Value>, Reply> {
    let Some(sel) = sel else {
        return Ok(items.to_vec());
    };
    let known: &[&str] = match kind {
        "user" => USER_FIELDS,
        "driveItem" => DRIVE_FIELDS,
        "event" => EVENT_FIELDS,
        "message" => MESSAGE_FIELDS,
        "contactFolder" => CONTACT_FOLDER_FIELDS,
        _ => CONTACT_FIELDS,
    };
    let mut fields: Vec<&str> = Vec::new();
    for f in sel.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(f)) else {
            return Err(bad(&format!(
                "Could not find a property named '{f}' on type 'microsoft.graph.{kind}'."
            )));
        };
        fields.push(k);
    }
    Ok(items
        .iter()
        .map(|it| {
            let mut m = Map::new();
            if let Some(o) = it.as_object() {
                for (k, v) in o {
                    if k == "id" || k.starts_with("@odata.") || fields.contains(&k.as_str()) {
                        m.insert(k.clone(), v.clone());
                    }
                }
            }
            Value::Object(m)
        })
        .collect())
}

/// Page size from `$top` (1..=max, else 400) or the default, capped by `page_size`.
fn page_len(sh: &GShared, q: &Query, default: usize, max: usize) -> Result<usize, Reply> {
    let n = match q.get("$top") {
        None => default,
        Some(t) => match t.trim().parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                return Err(bad(&format!(
                    "Invalid value '{t}' for $top: it must be an integer between 1 and {max}."
                )));
            }
        },
    };
    Ok(if sh.opts.page_size > 0 {
        n.min(sh.opts.page_size)
    } else {
        n
    })
}

/// One page of `items` from the offset in `skip_key`, with an absolute nextLink that keeps
/// the original (raw) query.
fn page(
    sh: &GShared,
    raw_path: &str,
    q: &Query,
    items: Vec<Value>,
    len: usize,
    skip_key: &str,
    context: &str,
) -> Reply {
    let offset = match q.get(skip_key) {
        None => 0,
        Some(s) => match s.trim().parse::<usize>() {
            Ok(n) => n,
            Err(_) => return bad(&format!("Invalid {skip_key} value.")),
        },
    };
    let total = items.len();
    let chunk: Vec<Value> = items.into_iter().skip(offset).take(len).collect();
    let mut body = json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#{context}"),
        "value": chunk,
    });
    if offset + len < total {
        let rest = q.raw_without(skip_key);
        let sep = if rest.is_empty() { "" } else { "&" };
        body["@odata.nextLink"] = json!(format!(
            "{}/v1.0{raw_path}?{rest}{sep}{skip_key}={}",
            sh.base,
            offset + len
        ));
    }
    ok(body)
}

// ---------------------------------------------------------------------------------------
// drive

fn encode_path(p: &str) -> String {
    let mut out = String::new();
    for b in p.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn drive_json(f: &FakeFile, with_path: bool, as_remote: bool) -> Value {
    let mut parent = json!({
        "driveId": "b6c4f1a2d3e4f5a6",
        "driveType": "business",
        "id": format!("PARENT-{}", f.parent_path.len()),
    });
    if with_path {
        let p = if f.parent_path == "/" {
            String::new()
        } else {
            f.parent_path.clone()
        };
        parent["path"] = json!(format!("/drive/root:{}", encode_path(&p)));
    }
    let mut item = json!({
        "id": f.id,
        "name": f.name,
        "webUrl": format!("https://contoso-my.sharepoint.test/personal/ada/Documents{}/{}", encode_path(&f.parent_path), encode_path(&f.name)),
        "size": f.size,
        "lastModifiedDateTime": f.modified,
        "parentReference": parent,
        "fileSystemInfo": {"lastModifiedDateTime": f.modified, "lastAccessedDateTime": f.accessed.as_deref().unwrap_or(&f.modified)},
    });
    if f.folder {
        item["folder"] = json!({"childCount": f.child_count});
    } else if f.mime_type.is_empty() {
        item["package"] = json!({"type": "oneNote"});
    } else {
        item["file"] = json!({"mimeType": f.mime_type});
    }
    if as_remote {
        // docs/graph.md, "Drive items": top-level name and size missing, read them from
        // remoteItem. As in drive-recent.md's example, no lastModifiedDateTime at all: only
        // when it was last used.
        let mut remote = item.clone();
        remote["id"] = json!(format!("REMOTE-{}", f.id));
        if let Some(o) = remote.as_object_mut() {
            o.remove("lastModifiedDateTime");
            o.remove("fileSystemInfo");
        }
        json!({
            "id": f.id,
            "remoteItem": remote,
            "fileSystemInfo": {"lastAccessedDateTime": f.accessed.as_deref().unwrap_or(&f.modified)},
        })
    } else {
        item
    }
}

/// `search(q='…')` — `segment` starts at `(`. Parses the OData literal like Graph: quotes
/// doubled inside, nothing but `)` after it.
fn search(sh: &GShared, raw_path: &str, segment: &str, q: &Query) -> Reply {
    let inner = segment.strip_prefix('(').unwrap_or(segment);
    let Some(arg) = inner
        .strip_prefix("q=")
        .or_else(|| inner.strip_prefix("Q="))
    else {
        return bad("Syntax error: the search function needs a parameter q.");
    };
    let term = match parse_literal(arg) {
        Ok((term, end)) => {
            if &arg[end..] != ")" {
                return bad(&format!(
                    "Syntax error at position {} in 'q={arg}'.",
                    end + 2
                ));
            }
            term
        }
        Err(pos) => {
            return bad(&format!(
                "There is an unterminated literal at position {} in 'q={arg}'.",
                pos + 2
            ));
        }
    };
    let needle = term.to_lowercase();
    let mut hits: Vec<&FakeFile> = sh
        .opts
        .data
        .files
        .iter()
        .filter(|f| !f.remote && f.name.to_lowercase().contains(&needle))
        .collect();
    if let Some(ob) = q.get("$orderby") {
        let (field, desc) = orderby_one(ob);
        match field.to_ascii_lowercase().as_str() {
            "name" => hits.sort_by(|a, b| a.name.cmp(&b.name)),
            "lastmodifieddatetime" if sh.opts.personal => {
                hits.sort_by_key(|f| parse_rfc3339(&f.modified))
            }
            _ => {
                return bad(&format!(
                    "The property {field} is not supported for OrderBy."
                ));
            }
        }
        if desc {
            hits.reverse();
        }
    }
    let items: Vec<Value> = hits
        .iter()
        .map(|f| {
            let mut v = drive_json(f, sh.opts.personal, false);
            v["searchResult"] = json!({"onClickTelemetryUrl": "https://telemetry.example.test/"});
            v
        })
        .collect();
    let items = match select(&items, q.get("$select"), "driveItem") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let len = match page_len(sh, q, 200, 1000) {
        Ok(n) => n,
        Err(r) => return r,
    };
    page(
        sh,
        raw_path,
        q,
        items,
        len,
        "$skiptoken",
        "Collection(driveItem)",
    )
}

/// An OData string literal at the start of `s`: `Ok((value, index after the closing quote))`
/// or `Err(position)` when it is unterminated (or does not start with a quote).
fn parse_literal(s: &str) -> Result<(String, usize), usize> {
    let mut chars = s.char_indices().peekable();
    match chars.next() {
        Some((_, '\'')) => {}
        _ => return Err(0),
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if let Some(&(_, '\'')) = chars.peek() {
                chars.next();
                out.push('\'');
            } else {
                return Ok((out, i + 1));
            }
        } else {
            out.push(c);
        }
    }
    Err(s.len())
}

fn orderby_one(ob: &str) -> (String, bool) {
    let mut words = ob.split_whitespace();
    let field = words.next().unwrap_or("").to_string();
    let desc = words.next().is_some_and(|w| w.eq_ignore_ascii_case("desc"));
    (field, desc)
}

/// `/me/drive/recent`: most recently *used* first (drive-recent.md, "List a set of items
/// recently used by the signed-in user"), not by modification time. Items from other drives
/// look like the docs' example: `remoteItem` plus `fileSystemInfo.lastAccessedDateTime`, with no
/// top-level `name`, `size` or `lastModifiedDateTime`.
fn recent(sh: &GShared, raw_path: &str, q: &Query) -> Reply {
    let mut files: Vec<&FakeFile> = sh.opts.data.files.iter().filter(|f| f.recent).collect();
    files.sort_by_key(|f| {
        std::cmp::Reverse(parse_rfc3339(f.accessed.as_deref().unwrap_or(&f.modified)))
    });
    let items: Vec<Value> = files
        .iter()
        .map(|f| drive_json(f, true, f.remote))
        .collect();
    let items = match select(&items, q.get("$select"), "driveItem") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let len = match page_len(sh, q, 200, 1000) {
        Ok(n) => n,
        Err(r) => return r,
    };
    page(
        sh,
        raw_path,
        q,
        items,
        len,
        "$skiptoken",
        "Collection(driveItem)",
    )
}

// ---------------------------------------------------------------------------------------
// calendar

/// Fields `*.ReadBasic` withholds.
fn asks_for_body(sel: Option<&str>, body_fields: &[&str]) -> bool {
    match sel {
        None => true, // the default property set includes the body
        Some(s) => s
            .split(',')
            .any(|f| body_fields.iter().any(|b| b.eq_ignore_ascii_case(f.trim()))),
    }
}

fn event_span(e: &FakeEvent) -> Option<(i64, i64)> {
    if e.all_day {
        let s = parse_date(&e.start)? * 86_400;
        let en = parse_date(&e.end)? * 86_400;
        Some((s, en.max(s + 86_400)))
    } else {
        let s = parse_rfc3339(&e.start)?;
        Some((s, parse_rfc3339(&e.end)?.max(s)))
    }
}

fn calendar_view(sh: &Req<'_>, raw_path: &str, q: &Query) -> Reply {
    let (Some(start), Some(end)) = (q.get("startDateTime"), q.get("endDateTime")) else {
        return gerr(
            400,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
        );
    };
    let Some(ws) = parse_rfc3339(start) else {
        return gerr(
            400,
            "ErrorInvalidParameter",
            &format!("The value '{start}' of parameter 'StartDateTime' is invalid."),
        );
    };
    let Some(we) = parse_rfc3339(end) else {
        return gerr(
            400,
            "ErrorInvalidParameter",
            &format!("The value '{end}' of parameter 'EndDateTime' is invalid."),
        );
    };
    if sh.has_any(&["Calendars.ReadBasic"])
        && !sh.has_any(&["Calendars.Read", "Calendars.ReadWrite"])
        && asks_for_body(q.get("$select"), &["body", "bodyPreview", "attachments"])
    {
        return denied(Need::Calendar);
    }
    if q.get("$filter").is_some() {
        return gerr(
            400,
            "ErrorInvalidUrlQueryFilter",
            "The query filter contains one or more invalid nodes.",
        );
    }
    // The sample's events and those created through `POST /me/events`.
    let created: Vec<FakeEvent> = sh.lock().writes.calendar_events();
    let mut hits: Vec<(i64, i64, &FakeEvent)> = sh
        .opts
        .data
        .events
        .iter()
        .chain(created.iter())
        .filter_map(|e| event_span(e).map(|(s, en)| (s, en, e)))
        .filter(|(s, en, _)| *s < we && *en > ws)
        .collect();
    match q.get("$orderby").map(orderby_one) {
        None => {}
        Some((f, desc)) if f.eq_ignore_ascii_case("start/dateTime") => {
            hits.sort_by_key(|(s, _, _)| *s);
            if desc {
                hits.reverse();
            }
        }
        Some((f, _)) => return bad(&format!("The property '{f}' is not supported for OrderBy.")),
    }
    let items: Vec<Value> = hits
        .iter()
        .map(|(s, en, e)| event_json(*s, *en, e))
        .collect();
    let items = match select(&items, q.get("$select"), "event") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let len = match page_len(sh, q, 10, 1000) {
        Ok(n) => n,
        Err(r) => return r,
    };
    page(
        sh,
        raw_path,
        q,
        items,
        len,
        "$skiptoken",
        "users('me')/calendarView",
    )
}

/// An event as Graph answers it, its times in UTC (`[s, en)`, Unix seconds).
fn event_json(s: i64, en: i64, e: &FakeEvent) -> Value {
    json!({
        "@odata.etag": format!("W/\"{}\"", e.id),
        "id": e.id,
        "subject": e.subject,
        "isAllDay": e.all_day,
        "isCancelled": e.cancelled,
        "start": {"dateTime": fmt_graph_dt(s), "timeZone": "UTC"},
        "end": {"dateTime": fmt_graph_dt(en), "timeZone": "UTC"},
        "location": {"displayName": e.location, "locationType": "default", "uniqueIdType": "unknown"},
        "organizer": {"emailAddress": {"name": e.organizer_name, "address": e.organizer_address}},
        "isOnlineMeeting": e.online_join_url.is_some(),
        "onlineMeeting": e.online_join_url.as_ref().map(|u| json!({"joinUrl": u})),
        "showAs": e.show_as,
        "type": "singleInstance",
        "webLink": format!("https://outlook.office365.test/owa/?itemid={}&exvsurl=1&path=/calendar/item", e.id),
        "body": {"contentType": "html", "content": "<p>agenda</p>"},
        "bodyPreview": "agenda",
    })
}

// ---------------------------------------------------------------------------------------
// messages

fn message_json(m: &FakeMessage) -> Value {
    json!({
        "@odata.etag": format!("W/\"{}\"", m.id),
        "id": m.id,
        "subject": m.subject,
        "from": {"emailAddress": {"name": m.from_name, "address": m.from_address}},
        "sender": {"emailAddress": {"name": m.from_name, "address": m.from_address}},
        "receivedDateTime": m.received,
        "sentDateTime": m.received,
        "isRead": m.is_read,
        "hasAttachments": m.has_attachments,
        "importance": m.importance,
        "flag": {"flagStatus": if m.flagged { "flagged" } else { "notFlagged" }},
        "inferenceClassification": if m.focused { "focused" } else { "other" },
        "parentFolderId": m.folder,
        "webLink": format!("https://outlook.office365.test/owa/?ItemID={}&exvsurl=1&viewmodel=ReadMessageItem", m.id),
        "bodyPreview": m.body,
        "body": {"contentType": "text", "content": m.body},
    })
}

fn messages(sh: &Req<'_>, raw_path: &str, q: &Query, folder: Option<&str>) -> Reply {
    if q.get("$search").is_some() && !sh.has_any(&["Mail.Read", "Mail.ReadWrite"]) {
        return denied(Need::Mail);
    }
    if sh.has_any(&["Mail.ReadBasic"])
        && !sh.has_any(&["Mail.Read", "Mail.ReadWrite"])
        && asks_for_body(q.get("$select"), &["body", "bodyPreview", "uniqueBody"])
    {
        return denied(Need::Mail);
    }
    let mut items: Vec<Value> = sh
        .opts
        .data
        .messages
        .iter()
        .filter(|m| folder.is_none_or(|f| m.folder.eq_ignore_ascii_case(f)))
        .map(message_json)
        .collect();
    let orderby: Vec<(String, bool)> = q
        .get("$orderby")
        .map(|o| o.split(',').map(orderby_one).collect())
        .unwrap_or_default();
    if let Some(f) = q.get("$filter") {
        let expr = match parse_filter(f) {
            Ok(e) => e,
            Err(r) => return r,
        };
        if expr.uses_function(&["endswith", "contains"]) {
            return gerr(
                400,
                "ErrorInvalidUrlQueryFilter",
                "The query filter contains one or more invalid nodes.",
            );
        }
        // docs/graph.md, "Messages": ordered properties must appear in $filter, first, in order.
        let props = expr.properties();
        for (i, (p, _)) in orderby.iter().enumerate() {
            if !props.get(i).is_some_and(|x| x.eq_ignore_ascii_case(p)) {
                return gerr(
                    400,
                    "InefficientFilter",
                    "The restriction or sort order is too complex for this operation.",
                );
            }
        }
        let mut kept = Vec::new();
        for it in items {
            match expr.eval(&it) {
                Ok(true) => kept.push(it),
                Ok(false) => {}
                Err(msg) => return bad(&format!("Invalid filter clause: {msg}")),
            }
        }
        items = kept;
    }
    for (field, desc) in orderby.iter().rev() {
        if !MESSAGE_FIELDS.iter().any(|k| k.eq_ignore_ascii_case(field)) {
            return bad(&format!(
                "Could not find a property named '{field}' on type 'microsoft.graph.message'."
            ));
        }
        items.sort_by(|a, b| {
            let o = cmp_values(&lookup(a, field), &lookup(b, field));
            if *desc { o.reverse() } else { o }
        });
    }
    let items = match select(&items, q.get("$select"), "message") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let len = match page_len(sh, q, 10, 1000) {
        Ok(n) => n,
        Err(r) => return r,
    };
    page(sh, raw_path, q, items, len, "$skip", "users('me')/messages")
}

// ---------------------------------------------------------------------------------------
// contacts

fn contacts(sh: &GShared, raw_path: &str, q: &Query, list: &[FakeContact]) -> Reply {
    if q.get("$filter").is_some() {
        // Only emailAddresses/any(a:a/address eq '…') is documented; not needed here.
        return gerr(
            400,
            "ErrorInvalidUrlQueryFilter",
            "The query filter contains one or more invalid nodes.",
        );
    }
    let mut items: Vec<Value> = list
        .iter()
        .map(|c| {
            json!({
                "@odata.etag": format!("W/\"{}\"", c.id),
                "id": c.id,
                "displayName": c.display_name,
                "givenName": c.given_name,
                "surname": c.surname,
                "birthday": c.birthday,
                "emailAddresses": [{"name": c.display_name, "address": c.email}],
                "mobilePhone": null,
            })
        })
        .collect();
    if let Some(ob) = q.get("$orderby") {
        let (f, desc) = orderby_one(ob);
        if !f.eq_ignore_ascii_case("displayName") {
            return bad(&format!("The property '{f}' is not supported for OrderBy."));
        }
        items.sort_by(|a, b| cmp_values(&lookup(a, "displayName"), &lookup(b, "displayName")));
        if desc {
            items.reverse();
        }
    }
    let items = match select(&items, q.get("$select"), "contact") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let len = match page_len(sh, q, 10, 1000) {
        Ok(n) => n,
        Err(r) => return r,
    };
    page(sh, raw_path, q, items, len, "$skip", "users('me')/contacts")
}

/// `/me/contactFolders` (`parent` `None`) or `/me/contactFolders/{parent}/childFolders`.
fn contact_folders(sh: &GShared, raw_path: &str, q: &Query, parent: Option<&str>) -> Reply {
    let items: Vec<Value> = sh
        .contact_folders()
        .iter()
        .filter(|f| f.parent.as_deref() == parent)
        .map(|f| {
            json!({
                "id": f.id,
                "displayName": f.display_name,
                "parentFolderId": f.parent.clone().unwrap_or_else(|| "DEFAULT-CONTACTS".into()),
            })
        })
        .collect();
    let items = match select(&items, q.get("$select"), "contactFolder") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let len = match page_len(sh, q, 10, 1000) {
        Ok(n) => n,
        Err(r) => return r,
    };
    page(
        sh,
        raw_path,
        q,
        items,
        len,
        "$skip",
        "users('me')/contactFolders",
    )
}

// ---------------------------------------------------------------------------------------
// a small OData $filter parser and evaluator

#[derive(Clone, Debug, PartialEq)]
enum Lit {
    Str(String),
    Bool(bool),
    Num(f64),
    Time(i64),
    Null,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Str(String),
    Word(String),
    Lit(Lit),
    Open,
    Close,
    Comma,
}

#[derive(Clone, Debug)]
enum Operand {
    Prop(String),
    Lit(Lit),
}

#[derive(Clone, Debug)]
enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(Operand, String, Operand),
    Func(String, Operand, Operand),
    Truthy(Operand),
}

fn filter_error(filter: &str, what: &str) -> Reply {
    bad(&format!("Invalid filter clause: {what} in '{filter}'."))
}

fn tokenize(f: &str) -> Result<Vec<Tok>, Reply> {
    let chars: Vec<(usize, char)> = f.char_indices().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                toks.push(Tok::Open);
                i += 1;
            }
            ')' => {
                toks.push(Tok::Close);
                i += 1;
            }
            ',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            '\'' => match parse_literal(&f[pos..]) {
                Ok((s, end)) => {
                    toks.push(Tok::Str(s));
                    let stop = pos + end;
                    while i < chars.len() && chars[i].0 < stop {
                        i += 1;
                    }
                }
                Err(_) => {
                    return Err(filter_error(
                        f,
                        &format!("There is an unterminated string literal at position {pos}"),
                    ));
                }
            },
            c if c.is_ascii_digit() || c == '-' => {
                let start = pos;
                let mut j = i;
                while j < chars.len()
                    && (chars[j].1.is_ascii_alphanumeric()
                        || matches!(chars[j].1, ':' | '.' | '+' | '-'))
                {
                    j += 1;
                }
                let stop = chars.get(j).map(|x| x.0).unwrap_or(f.len());
                let text = &f[start..stop];
                let lit = if let Some(t) = parse_rfc3339(text).filter(|_| text.len() > 10) {
                    Lit::Time(t)
                } else if let Ok(n) = text.parse::<f64>() {
                    Lit::Num(n)
                } else {
                    return Err(filter_error(
                        f,
                        &format!(
                            "Syntax error: '{text}' at position {start} is not a valid literal"
                        ),
                    ));
                };
                toks.push(Tok::Lit(lit));
                i = j;
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = pos;
                let mut j = i;
                while j < chars.len()
                    && (chars[j].1.is_alphanumeric() || matches!(chars[j].1, '_' | '/' | '.'))
                {
                    j += 1;
                }
                let stop = chars.get(j).map(|x| x.0).unwrap_or(f.len());
                let w = &f[start..stop];
                toks.push(match w.to_ascii_lowercase().as_str() {
                    "true" => Tok::Lit(Lit::Bool(true)),
                    "false" => Tok::Lit(Lit::Bool(false)),
                    "null" => Tok::Lit(Lit::Null),
                    _ => Tok::Word(w.to_string()),
                });
                i = j;
            }
            other => {
                return Err(filter_error(
                    f,
                    &format!("Syntax error: character '{other}' is not valid at position {pos}"),
                ));
            }
        }
    }
    Ok(toks)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    at: usize,
    src: &'a str,
}

const OPS: &[&str] = &["eq", "ne", "gt", "ge", "lt", "le"];
const FUNCS: &[&str] = &["startswith", "endswith", "contains"];

impl Parser<'_> {
    fn err(&self, what: &str) -> Reply {
        filter_error(self.src, what)
    }
    fn peek_word(&self, w: &str) -> bool {
        matches!(self.toks.get(self.at), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }
    fn or(&mut self) -> Result<Expr, Reply> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.at += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Expr, Reply> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.at += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<Expr, Reply> {
        if self.peek_word("not") {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }
    fn operand(&mut self) -> Result<Operand, Reply> {
        match self.toks.get(self.at).cloned() {
            Some(Tok::Str(s)) => {
                self.at += 1;
                Ok(Operand::Lit(Lit::Str(s)))
            }
            Some(Tok::Lit(l)) => {
                self.at += 1;
                Ok(Operand::Lit(l))
            }
            Some(Tok::Word(w))
                if !OPS
                    .iter()
                    .chain(["and", "or", "not"].iter())
                    .any(|k| k.eq_ignore_ascii_case(&w)) =>
            {
                self.at += 1;
                Ok(Operand::Prop(w))
            }
            _ => Err(self.err(&format!(
                "Syntax error: expected a value at token {}",
                self.at
            ))),
        }
    }
    fn primary(&mut self) -> Result<Expr, Reply> {
        if matches!(self.toks.get(self.at), Some(Tok::Open)) {
            self.at += 1;
            let e = self.or()?;
            if !matches!(self.toks.get(self.at), Some(Tok::Close)) {
                return Err(self.err("Syntax error: ')' expected"));
            }
            self.at += 1;
            return Ok(e);
        }
        if let Some(Tok::Word(w)) = self.toks.get(self.at).cloned()
            && matches!(self.toks.get(self.at + 1), Some(Tok::Open))
        {
            let name = w.to_ascii_lowercase();
            if !FUNCS.contains(&name.as_str()) {
                return Err(self.err(&format!("Unknown function '{w}'")));
            }
            self.at += 2;
            let a = self.operand()?;
            if !matches!(self.toks.get(self.at), Some(Tok::Comma)) {
                return Err(self.err("Syntax error: ',' expected"));
            }
            self.at += 1;
            let b = self.operand()?;
            if !matches!(self.toks.get(self.at), Some(Tok::Close)) {
                return Err(self.err("Syntax error: ')' expected"));
            }
            self.at += 1;
            return Ok(Expr::Func(name, a, b));
        }
        let left = self.operand()?;
        if let Some(Tok::Word(op)) = self.toks.get(self.at).cloned()
            && OPS.iter().any(|o| o.eq_ignore_ascii_case(&op))
        {
            self.at += 1;
            let right = self.operand()?;
            return Ok(Expr::Cmp(left, op.to_ascii_lowercase(), right));
        }
        Ok(Expr::Truthy(left))
    }
}

fn parse_filter(f: &str) -> Result<Expr, Reply> {
    let toks = tokenize(f)?;
    if toks.is_empty() {
        return Err(filter_error(f, "The filter is empty"));
    }
    let mut p = Parser {
        toks,
        at: 0,
        src: f,
    };
    let e = p.or()?;
    if p.at != p.toks.len() {
        return Err(p.err(&format!("Syntax error at token {}", p.at)));
    }
    Ok(e)
}

impl Expr {
    fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Or(a, b) | Expr::And(a, b) => {
                a.walk(f);
                b.walk(f);
            }
            Expr::Not(a) => a.walk(f),
            _ => {}
        }
    }

    fn uses_function(&self, names: &[&str]) -> bool {
        let mut found = false;
        self.walk(&mut |e| {
            if let Expr::Func(n, _, _) = e
                && names.contains(&n.as_str())
            {
                found = true;
            }
        });
        found
    }

    /// Property paths in order of first appearance.
    fn properties(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |o: &Operand| {
            if let Operand::Prop(p) = o
                && !out.iter().any(|x| x.eq_ignore_ascii_case(p))
            {
                out.push(p.clone());
            }
        };
        self.walk(&mut |e| match e {
            Expr::Cmp(a, _, b) | Expr::Func(_, a, b) => {
                add(a);
                add(b);
            }
            Expr::Truthy(a) => add(a),
            _ => {}
        });
        out
    }

    fn eval(&self, item: &Value) -> Result<bool, String> {
        Ok(match self {
            Expr::Or(a, b) => a.eval(item)? || b.eval(item)?,
            Expr::And(a, b) => a.eval(item)? && b.eval(item)?,
            Expr::Not(a) => !a.eval(item)?,
            Expr::Truthy(o) => matches!(resolve(item, o)?, Lit::Bool(true)),
            Expr::Func(name, a, b) => {
                let (Lit::Str(x), Lit::Str(y)) = (resolve(item, a)?, resolve(item, b)?) else {
                    return Ok(false);
                };
                let (x, y) = (x.to_lowercase(), y.to_lowercase());
                match name.as_str() {
                    "startswith" => x.starts_with(&y),
                    "endswith" => x.ends_with(&y),
                    _ => x.contains(&y),
                }
            }
            Expr::Cmp(a, op, b) => {
                let (x, y) = (resolve(item, a)?, resolve(item, b)?);
                let ord = cmp_lits(&x, &y);
                match op.as_str() {
                    "eq" => ord == Some(std::cmp::Ordering::Equal),
                    "ne" => ord != Some(std::cmp::Ordering::Equal),
                    "gt" => ord == Some(std::cmp::Ordering::Greater),
                    "ge" => matches!(
                        ord,
                        Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
                    ),
                    "lt" => ord == Some(std::cmp::Ordering::Less),
                    _ => matches!(
                        ord,
                        Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
                    ),
                }
            }
        })
    }
}

/// A property path (`from/emailAddress/address`, case-insensitive) or a literal.
fn resolve(item: &Value, o: &Operand) -> Result<Lit, String> {
    match o {
        Operand::Lit(l) => Ok(l.clone()),
        Operand::Prop(p) => {
            if !MESSAGE_FIELDS.iter().any(|f| {
                p.split('/')
                    .next()
                    .is_some_and(|h| h.eq_ignore_ascii_case(f))
            }) {
                return Err(format!(
                    "Could not find a property named '{p}' on type 'microsoft.graph.message'"
                ));
            }
            Ok(lookup(item, p))
        }
    }
}

fn lookup(item: &Value, path: &str) -> Lit {
    let mut cur = item;
    for seg in path.split('/') {
        let next = cur.as_object().and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(seg))
                .map(|(_, v)| v)
        });
        match next {
            Some(v) => cur = v,
            None => return Lit::Null,
        }
    }
    match cur {
        Value::String(s) => {
            match parse_rfc3339(s).filter(|_| s.len() > 10 && path.ends_with("DateTime")) {
                Some(t) => Lit::Time(t),
                None => Lit::Str(s.clone()),
            }
        }
        Value::Bool(b) => Lit::Bool(*b),
        Value::Number(n) => Lit::Num(n.as_f64().unwrap_or(0.0)),
        _ => Lit::Null,
    }
}

fn cmp_lits(a: &Lit, b: &Lit) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Lit::Str(x), Lit::Str(y)) => Some(x.to_lowercase().cmp(&y.to_lowercase())),
        (Lit::Bool(x), Lit::Bool(y)) => Some(x.cmp(y)),
        (Lit::Num(x), Lit::Num(y)) => x.partial_cmp(y),
        (Lit::Time(x), Lit::Time(y)) => Some(x.cmp(y)),
        (Lit::Null, Lit::Null) => Some(std::cmp::Ordering::Equal),
        _ => None,
    }
}

fn cmp_values(a: &Lit, b: &Lit) -> std::cmp::Ordering {
    cmp_lits(a, b).unwrap_or(std::cmp::Ordering::Equal)
}

// ---------------------------------------------------------------------------------------
// time, without a time library (the testkit stays light)

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn num(s: &str) -> Option<i64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// `YYYY-MM-DD` → days since 1970-01-01.
fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (num(&s[0..4])?, num(&s[5..7])?, num(&s[8..10])?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    (civil_from_days(days) == (y, m, d)).then_some(days)
}

/// `YYYY-MM-DDTHH:MM[:SS[.fff…]][Z|±HH:MM]` → Unix seconds (no offset: UTC, as Graph reads
/// calendarView bounds). Anything else, including a space where a `+` was, is `None`.
fn parse_rfc3339(s: &str) -> Option<i64> {
    if !s.is_ascii() || s.len() < 16 {
        return None;
    }
    let days = parse_date(&s[..10])?;
    if !matches!(s.as_bytes()[10], b'T' | b't') {
        return None;
    }
    let rest = &s[11..];
    let (clock, offset) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (clock, _frac) = match clock.split_once('.') {
        Some((c, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => (c, f),
        Some(_) => return None,
        None => (clock, ""),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    let (h, mi) = (num(parts[0])?, num(parts[1])?);
    let sec = parts.get(2).map_or(Some(0), |p| num(p))?;
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let off = match offset {
        "" | "Z" | "z" => 0,
        o => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let (oh, om) = o[1..].split_once(':')?;
            if oh.len() != 2 || om.len() != 2 {
                return None;
            }
            let (oh, om) = (num(oh)?, num(om)?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - off)
}

/// Unix seconds → Graph's zone-less `dateTime` (`2026-10-25T01:30:00.0000000`).
fn fmt_graph_dt(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.0000000",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_and_dates() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-10-25T01:30:00+02:00"),
            Some(1_792_884_600)
        );
        assert_eq!(
            parse_rfc3339("2026-10-24T23:30:00.0000000"),
            Some(1_792_884_600)
        );
        assert_eq!(parse_rfc3339("2026-10-25T01:30:00 02:00"), None);
        assert_eq!(parse_rfc3339("2026-02-30T00:00:00Z"), None);
        assert_eq!(fmt_graph_dt(1_792_884_600), "2026-10-24T23:30:00.0000000");
        assert_eq!(parse_date("2000-02-29"), Some(11_016));
    }

    #[test]
    fn literals_and_filters() {
        assert_eq!(parse_literal("'o''brien')"), Ok(("o'brien".into(), 10)));
        assert!(parse_literal("'unterminated''").is_err());
        let e = parse_filter("receivedDateTime ge 1900-01-01T00:00:00Z and from/emailAddress/address eq 'o''brien@x.test'").ok().unwrap();
        assert_eq!(
            e.properties(),
            vec!["receivedDateTime", "from/emailAddress/address"]
        );
        assert!(parse_filter("subject eq 'x").is_err());
        assert!(parse_filter("(isRead eq false").is_err());
        assert!(parse_filter("isRead eq false)").is_err());
        assert!(parse_filter("").is_err());
        assert!(parse_filter("é ' \u{0}").is_err());
    }

    #[test]
    fn percent_decoding_never_panics() {
        for s in ["%", "%%", "%4", "%zz", "%e9", "a+b", "%C3%A9"] {
            let _ = pct_decode(s, true);
        }
        assert_eq!(pct_decode("a+b%20c%C3%A9", true), "a b cé");
        assert_eq!(pct_decode("a+b", false), "a+b");
    }
}
