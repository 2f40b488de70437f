//! The calls sidekey makes to third-party services on an agent's behalf: read-only Microsoft 365
//! on Microsoft Graph ([`Graph`]), Google Drive and Docs ([`google_drive`], [`google_docs`], with
//! Google's shared error type and sender in [`google`]), YouTube playlists and search
//! ([`youtube`]), and the AWS IAM Identity Center access portal ([`aws`]). Each parses its
//! service's replies into plain types; the operations that use them are `sidekey::ops`.
//!
//! # Why this crate exists
//!
//! sidekey's point is that the agent never holds a token. Handing it "a Graph token" would
//! give it everything the token allows; instead the agent asks sidekey for a few *operations*
//! — who am I, search my files, what is on my calendar, unread mail, birthdays, a dashboard —
//! and sidekey makes the Graph calls with the token it keeps. This crate is those operations:
//! a thin, bounded Graph client ([`Graph`]) that gets the details right that a hand-rolled
//! `curl` gets wrong (see `docs/graph.md`), and plain result types with a documented
//! JSON shape and a readable text form ([`render`]).
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
//!
//! Errors are [`GraphError`]; its `Display` is one line and `kind()` a stable name.
//!
//! # YouTube
//!
//! [`youtube`] holds the YouTube Data API v3 calls for playlists and search ([`YouTube`]), with
//! the same transport rules; errors are [`YouTubeError`], decided by Google's `errors[].reason`
//! (a 401 `youtubeSignupRequired` is not a bad token, a 403 `quotaExceeded` is not a missing
//! permission), and the client counts the quota its requests spent (docs/youtube.md).
//!
//! # Google Drive and Docs, AWS
//!
//! [`google_drive`] and [`google_docs`] are the Drive v3 and Docs v1 calls under `drive.file`
//! and `drive.appdata` (docs/google-drive.md), with errors decided by Google's `errors[].reason`
//! ([`google::GoogleError`]). [`aws`] is the access portal's account and role lists and role
//! credentials (docs/aws.md), with the access token in `x-amz-sso_bearer_token`.

pub mod aws;
mod error;
pub mod google;
pub mod google_docs;
pub mod google_drive;
mod graph;
mod model;
pub mod odata;
pub mod render;
mod scopes;
mod window;
pub mod youtube;

pub use error::GraphError;
pub use graph::{
    DASHBOARD_BIRTHDAY_DAYS, DASHBOARD_EVENT_DAYS, DASHBOARD_EVENTS, DASHBOARD_FILES,
    DASHBOARD_MAIL, Dashboard, Graph, PREFER_UTC, Section, parse_retry_after,
};
pub use model::{
    Birthday, BirthdayFilter, CalendarEvent, DriveItem, MailMessage, Me, Person, RecentFiles,
    RecentSource,
};
pub use scopes::{missing_scope, required_scopes, scope_needs};
pub use window::{WINDOW_NAMES, Window};
pub use youtube::{YouTube, YouTubeError};
