//! sidekey-vault's integration tests, as one test binary (one module per subject), the same
//! layout as every crate of the workspace.

mod crash;
mod postgres;
mod rotation;
