//! The test kit's own integration tests, as one test binary: the fake authorization servers
//! (`fake_idp`) and the fake Bot API (`fake_telegram`), over real HTTP with the tiny client in
//! `http`, which both use.

mod http;

mod fake_idp;
mod fake_services;
mod fake_telegram;
