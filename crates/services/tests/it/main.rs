//! sidekey-services' integration tests, as one test binary (one module per subject, `common` the
//! helpers they share), so the crate and the test kit are linked once.

mod common;

mod calendar;
mod fake_graph;
mod google_docs;
mod ops;
mod resilience;
mod writes;
mod youtube;
