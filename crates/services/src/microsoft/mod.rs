//! Microsoft 365 through Microsoft Graph: the bounded client ([`Graph`]), its `$batch`
//! dashboard, the result types ([`model`]), the errors ([`GraphError`]), the scopes each
//! operation needs ([`scopes`]), the calendar windows ([`Window`]), OData literals ([`odata`]),
//! the four writes with their drafts and checks ([`write`](mod@write): an event, a mail, a small file, a
//! OneNote page) and the text a person reads ([`render`]).

mod dashboard;
pub(crate) mod error;
mod graph;
pub mod model;
pub mod odata;
pub mod render;
pub mod scopes;
mod window;
pub mod write;

pub use dashboard::{Dashboard, Section};
pub use error::GraphError;
pub use graph::{
    DASHBOARD_BIRTHDAY_DAYS, DASHBOARD_EVENT_DAYS, DASHBOARD_EVENTS, DASHBOARD_FILES,
    DASHBOARD_MAIL, Graph, PREFER_UTC,
};
pub use model::{
    Birthday, BirthdayFilter, CalendarEvent, DriveItem, MailMessage, Me, Person, RecentFiles,
    RecentSource,
};
pub use scopes::{GraphOp, missing_scope, required_scopes, scope_needs};
pub use window::{Named, WINDOW_NAMES, Window, instant};
pub use write::{Conflict, CreatedEvent, EventDraft, MailDraft, OnenotePage, PageDraft, Uploaded};
