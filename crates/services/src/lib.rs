//! The third-party services sidekey calls for an agent, one module per provider: the HTTP
//! clients, their typed results and errors, and the text a person reads for them.
//!
//! * [`microsoft`]: Microsoft 365 through Microsoft Graph (me, files, calendar, unread mail,
//!   birthdays, a one-request dashboard; and four writes: an event, a mail, a small OneDrive
//!   file, a OneNote page, each sent once unless a repeat is known to change nothing).
//! * [`google`]: Google Drive and Docs (the agent's inbox, approved documents, drafting,
//!   memory) and YouTube (playlists, search, the quota each request costs).
//! * [`aws`]: the AWS IAM Identity Center access portal (accounts, roles, role credentials).
//!
//! Every client sends through `sidekey-net`'s one bounded sender (a timeout, a capped body,
//! `Retry-After`), never puts a token in an error, and returns the 401 that calls for a refresh
//! to its caller, which refreshes once and calls again.
//!
//! # Why this crate exists
//!
//! sidekey's point is that the agent never holds a token. Handing it "a Graph token" would
//! give it everything the token allows; instead the agent asks sidekey for a few *operations*
//! — who am I, search my files, what is on my calendar, unread mail, birthdays, a dashboard —
//! and sidekey makes the calls with the token it keeps. The Microsoft part is a thin, bounded
//! Graph client ([`Graph`]) that gets the details right that a hand-rolled `curl` gets wrong
//! (see `docs/graph.md`), and plain result types with a documented JSON shape and a readable
//! text form ([`render`]).
//!
//! # Microsoft Graph
//!
//! What it gets right, and where:
//!
//! * user text in OData (a search term, a sender with a `'`) is a literal with quotes doubled,
//!   then percent-encoded; URLs are only built by [`odata`] — so `' or 1 eq 1` is just text;
//! * `$filter` + `$orderby` on messages without `InefficientFilter` (the ordered property
//!   comes first in the filter, as an always-true clause); domain filters are applied here
//!   because Graph refuses `endswith` on messages;
//! * `calendarView` always with both bounds, as UTC instants computed on the person's civil
//!   calendar ([`Window`]); `Prefer: outlook.timezone="UTC"` on every request and page;
//!   all-day events kept as dates;
//! * paging through `@odata.nextLink` exactly as given, same origin only, with a page cap;
//! * 429/503 with `Retry-After` (fractional or a date) honoured within a bound; 401
//!   `InvalidAuthenticationToken`, 403, `MailboxNotEnabledForRESTAPI` and Exchange's 401
//!   `OrganizationFromTenantGuidNotFound` (no mailbox, not a bad token) mapped to errors that
//!   say what to do ([`GraphError`]);
//! * `mail: null` on personal accounts → `userPrincipalName`;
//! * the deprecated `/me/drive/recent` in its own (recently used) order, with a fallback that
//!   reads the whole drive listing up to the page cap and says it is approximate;
//! * contacts from every contact folder, not only the default one; birthdays rounded to the
//!   nearest date (`…T22:00:00Z` the day before is the next day);
//! * the dashboard in **one** JSON `$batch` request (≤ 20 sub-requests, answers matched by id
//!   in any order, a throttled sub-request retried on its own);
//! * response size limit (4 MiB) and per-request timeout; never a token in an error.
//!
//! # The 401 contract (the caller's half)
//!
//! Only the caller can refresh a token, so the operations never retry a 401; they return
//! [`GraphError::Unauthorized`] — for `InvalidAuthenticationToken` or a 401 without a Graph
//! error code only (Exchange's 401 for users without a mailbox is
//! [`GraphError::MailboxNotEnabled`]). The caller then refreshes **once** (forcing a refresh even if
//! the cached token looks valid) and calls the operation again; if that also returns
//! `Unauthorized`, the account needs to sign in again:
//!
//! ```ignore
//! let r = match op(&graph, &token).await {
//!     Err(e) if e.is_unauthorized() => op(&graph, &force_refresh(account)?).await,
//!     r => r,
//! };
//! // still Err(Unauthorized) → "re-authentication needed: sidekey login NAME" (exit 3)
//! ```
//!
//! Before calling, check the token's granted scopes with [`missing_scope`]: it names the
//! scope(s) to add, which a 403 never does. For the dashboard a missing scope only empties
//! one section (with its error), so a caller may choose to warn instead of refusing.
//!
//! # JSON shapes (what `--json` prints: `serde_json::to_string(&result)`)
//!
//! Times: instants are RFC 3339 UTC (`"2026-11-25T08:12:33Z"`) except calendar `start`/`end`,
//! which carry the person's offset (`"2026-10-25T09:00:00+01:00"`); dates are `"YYYY-MM-DD"`.
//! Absent values are `null`.
//!
//! * `me` → [`Me`]:
//!   `{"id","display_name","email","mail","user_principal_name"}` — `email` is `mail` or,
//!   when that is null (personal accounts), `user_principal_name`.
//! * `files search` / `files recent` → array of [`DriveItem`]:
//!   `{"id","name","folder":bool,"child_count","parent_path","size","modified","web_url","mime_type","remote":bool}`
//!   (`parent_path` is the containing folder, e.g. `"/Documents"`, often null in search
//!   results). [`Graph::files_recent_detailed`] →
//!   `{"items":[…],"source":"recent"|"search","approximate":bool}` (`recent`: recently used, in
//!   Graph's order; `search`: recently modified, approximate).
//! * `calendar` → array of [`CalendarEvent`]:
//!   `{"id","subject","all_day":bool,"start","end","start_date","last_date","location","organizer":{"name","address"},"online_meeting_url","show_as","is_cancelled":bool,"web_link"}`
//!   (`last_date` inclusive; for all-day events `start`/`end` are local midnights).
//! * `mail unread` → array of [`MailMessage`]:
//!   `{"id","subject","from":{"name","address"},"received","is_read","has_attachments","importance","flagged","inference","web_link"}`.
//! * `contacts birthdays` → array of [`Birthday`], sorted by `next`:
//!   `{"contact_id","name","month","day","year","next","days_until","turns"}`.
//! * `dashboard` → [`Dashboard`]:
//!   `{"generated_at","time_zone","appointments_until","birthdays_until","appointments":S,"files":S,"files_source":"recent"|"search","mail":S,"birthdays":S}`
//!   where each `S` is `{"items":[…],"more":bool,"error":null|"one line","error_kind":null|"forbidden"|…}`.
//! * the writes ([`microsoft::write`]): `calendar create` → [`CreatedEvent`]: the `calendar`
//!   fields plus `"attendees":[address…]`; `files upload` → [`Uploaded`]:
//!   `{"item":DriveItem,"replaced":bool,"folder"}`; `onenote create` → [`OnenotePage`]:
//!   `{"id","title","section","created","web_url"}`; `mail send` has no result (Graph's 202 has
//!   no body).
//!
//! Errors are [`GraphError`]; its `Display` is one line and `kind()` a stable name.
//!
//! # YouTube
//!
//! [`youtube`] holds the YouTube Data API v3 calls for playlists and search ([`YouTube`]), with
//! the same transport rules; errors are [`YouTubeError`], decided by Google's `errors[].reason`
//! (a 401 `youtubeSignupRequired` is not a bad token, a 403 `quotaExceeded` is not a missing
//! permission), and the client counts the quota its requests spent (docs/youtube.md).

pub mod aws;
pub mod google;
pub mod microsoft;

// Former paths (before the crate was organised per provider), kept for the code that names them.
pub use google::youtube::{YouTube, YouTubeError};
pub use google::{docs as google_docs, drive as google_drive, youtube};
pub use microsoft::{
    Birthday, BirthdayFilter, CalendarEvent, DASHBOARD_BIRTHDAY_DAYS, DASHBOARD_EVENT_DAYS,
    DASHBOARD_EVENTS, DASHBOARD_FILES, DASHBOARD_MAIL, Dashboard, DriveItem, Graph, GraphError,
    MailMessage, Me, PREFER_UTC, Person, RecentFiles, RecentSource, Section, WINDOW_NAMES, Window,
    missing_scope, odata, render, required_scopes, scope_needs,
};
pub use microsoft::{CreatedEvent, OnenotePage, Uploaded};
pub use sidekey_net::parse_retry_after;

/// What the fuzz targets (fuzz/) reach of the reply models: the parsers that turn one item of a
/// provider's JSON answer into a result type, which are otherwise private to their clients.
/// Not an API.
#[doc(hidden)]
pub mod fuzzing {
    use crate::google::youtube::{self, Playlist, PlaylistItem, SearchHit, YouTubeError};
    use crate::microsoft::model::{Birthday, CalendarEvent, DriveItem, MailMessage, Me};
    use serde_json::Value;

    pub fn graph_me(v: &Value) -> Option<Me> {
        Me::from_graph(v)
    }
    pub fn graph_drive_item(v: &Value) -> Option<DriveItem> {
        DriveItem::from_graph(v)
    }
    pub fn graph_event(v: &Value, tz: &jiff::tz::TimeZone) -> Option<CalendarEvent> {
        CalendarEvent::from_graph(v, tz)
    }
    pub fn graph_mail(v: &Value) -> Option<MailMessage> {
        MailMessage::from_graph(v)
    }
    pub fn graph_birthday(v: &Value, today: jiff::civil::Date) -> Option<Birthday> {
        Birthday::from_graph(v, today)
    }
    /// The error of a non-success Graph answer.
    pub fn graph_error(
        status: u16,
        body: &Value,
        retry_after: Option<std::time::Duration>,
    ) -> crate::GraphError {
        crate::microsoft::error::classify(status, body, retry_after, "Files.Read")
    }
    pub fn youtube_playlist(v: &Value) -> Result<Playlist, YouTubeError> {
        youtube::playlist_of(v)
    }
    pub fn youtube_item(v: &Value) -> Result<PlaylistItem, YouTubeError> {
        youtube::item_of(v)
    }
    pub fn youtube_hit(v: &Value) -> Option<SearchHit> {
        youtube::hit_of(v)
    }
}
