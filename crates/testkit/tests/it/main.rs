//! The test kit's own integration tests, as one test binary: the fake authorization servers
//! (`fake_idp`), the fake Bot API (`fake_telegram`, its approval buttons in
//! `fake_telegram_buttons`), the fake Drive (`fake_google`), the fake
//! AWS portal (`fake_aws`) and the fake Graph (`fake_graph`), over real HTTP with the tiny
//! client in `http`, which all use.

mod http;

mod fake_aws;
mod fake_google;
mod fake_graph;
mod fake_graph_writes;
mod fake_idp;
mod fake_services;
mod fake_telegram;
mod fake_telegram_buttons;
