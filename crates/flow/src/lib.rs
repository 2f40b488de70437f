//! # sidekey-flow: an RFC 8628 device-authorization client that survives real providers
//!
//! Every identity provider speaks its own dialect of the device flow: Google says `verification_url`
//! and answers "pending" with HTTP 428, GitHub reports errors with HTTP 200 in a form-encoded body,
//! Auth0 uses 403 and 429, Microsoft says `authorization_declined` instead of `access_denied`. General
//! OAuth crates trip over these (see docs/dependencies.md, "Device flow: no OAuth crate"), so this
//! crate keeps the protocol in three small, separately testable pieces:
//!
//! * [`response`] — pure functions that turn a raw HTTP answer (status, content type, body) into a
//!   typed meaning. They decide by the OAuth `error` member, never by the HTTP status alone.
//! * [`poll`] — the polling state machine. It does no I/O: it is fed one classified answer at a time
//!   and says how long to wait next or how the flow ended. Time comes from a [`Clock`] that tests
//!   replace, so slow_down, back-off and deadlines are tested without real waiting.
//! * [`client`] — the I/O: the device request, the polling driver, refresh, revocation, discovery
//!   and "who signed in", over [`http`], a size-limited, timeout-bounded HTTP transport.
//!
//! [`pkce`] is the second sign-in method, authorization code + PKCE with a loopback or
//! pasted-back redirect, for what a provider's device flow does not allow (Google's
//! `drive.appdata` and its Picker).
//!
//! [`provider`] holds the endpoints and credentials of one app registration; [`dialect`] holds
//! everything that differs between providers, one file per provider (Microsoft, Google, GitHub,
//! Okta, Auth0, generic OIDC, and AWS IAM Identity Center with its registered client and JSON
//! wire).

pub mod client;
pub mod clock;
pub mod dialect;
pub mod error;
pub mod http;
pub mod pkce;
pub mod poll;
pub mod provider;
pub mod response;
pub mod user;
/// [`Secret`] lives in `sidekey-net` (shared with the other crates); this path stays for callers.
pub use sidekey_net::secret;

pub use client::{DeviceFlow, RevokeOutcome};
pub use clock::{Clock, SystemClock};
pub use dialect::Dialect;
pub use error::{FlowError, RefreshError};
pub use http::{Http, HttpOptions};
pub use poll::{PollEvent, Poller, Step};
pub use provider::{Endpoints, Provider, ProviderKind};
pub use response::{DeviceAuthorization, OAuthError, TokenReply, TokenResponse};
pub use secret::Secret;
pub use user::UserInfo;
