//! sidekey-notify's integration tests, as one test binary (one module per subject, `common` the
//! helpers they share), so the crate and the test kit are linked once.

mod common;

mod approval;
mod qr;
mod telegram;
mod webhook_ntfy;
