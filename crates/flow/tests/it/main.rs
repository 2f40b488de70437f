//! sidekey-flow's integration tests, as one test binary (one module per subject), so the crate and
//! the test kit are linked once.

mod classify;
mod engine;
