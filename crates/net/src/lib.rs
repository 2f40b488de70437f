//! # sidekey-net: the plumbing every sidekey crate needs, written once
//!
//! `sidekey-flow` (the device flow), `sidekey-notify` (Telegram, webhooks, ntfy) and
//! `sidekey-services` (Microsoft Graph, Google Drive and Docs, YouTube, the AWS access portal)
//! all talk HTTP to servers they do not control, and all
//! turn what they hear into short error messages. Each used to carry its own copy of the same
//! helpers, and the copies drifted: two `Retry-After` parsers disagreed about HTTP dates, one
//! body reader cut an oversized reply where the others refused it, and one transport-error
//! description could print a URL with a bot token in its path. This crate holds the one copy:
//!
//! * [`Secret`] — a string whose `Debug`/`Display` say `[redacted]`.
//! * [`one_line`] — any text as one printable line of bounded length, for error messages.
//! * [`parse_retry_after`] — `Retry-After` as delta-seconds or an HTTP date.
//! * [`send`] — the one bounded sender every HTTP client uses: a timeout, `Retry-After` read,
//!   a capped body ([`Bounds`]), errors that say whether the request may have been sent.
//! * [`read_capped`] — a response body read with a size cap (Content-Length first, then per
//!   chunk), so a hostile server cannot make the process balloon.
//! * [`send_capped`] — one request sent with a timeout, its `Retry-After` read and its body
//!   capped: the sender the service clients share.
//! * [`scrub`] — every token a request carried, replaced by [`REDACTED`] in a text before it is
//!   shown.
//! * [`describe_reqwest`] — a transport error as one line naming `scheme://host[:port]` only,
//!   never the path or query.
//! * [`client_builder`] — reqwest with rustls (ring) and Mozilla's roots compiled in (works in a
//!   `scratch` image with no CA files), timeouts and no redirects.
//!
//! It depends on no other sidekey crate, so every crate can depend on it.

mod http;
mod retry_after;
pub mod secret;
mod text;

pub use http::{
    BodyError, Bounds, Reply, SendError, client_builder, describe_reqwest, origin, read_capped,
    send, send_capped,
};
pub use retry_after::{parse_retry_after, parse_retry_after_at};
pub use secret::Secret;
pub use text::{REDACTED, hidden, one_line, printable, scrub};
