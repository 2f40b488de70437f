//! Shared helpers: a reqwest client built the way sidekey builds it, and a `Graph` on a fake.
#![allow(dead_code)]

use std::time::Duration;

use sidekey_services::Graph;
use sidekey_testkit::{FakeGraph, GraphOptions, GraphRequest};

pub fn client() -> reqwest::Client {
    sidekey_flow::client::client_builder(&sidekey_flow::HttpOptions::default())
        .expect("client builder")
        .build()
        .expect("client")
}

pub fn graph(fake: &FakeGraph) -> Graph {
    Graph::new(client(), &fake.base_url()).with_retry(4, Duration::from_secs(3))
}

pub fn start(opts: GraphOptions) -> (FakeGraph, Graph) {
    let fake = FakeGraph::start(opts);
    // Only this token is good; any other gets the service's 401.
    fake.set_valid_tokens(Some(vec!["tok".into()]));
    let g = graph(&fake);
    (fake, g)
}

pub fn default() -> (FakeGraph, Graph) {
    start(GraphOptions::default())
}

pub fn ts(s: &str) -> jiff::Timestamp {
    s.parse().expect("timestamp")
}

pub fn tz(name: &str) -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get(name).expect("zone")
}

pub fn date(s: &str) -> jiff::civil::Date {
    s.parse().expect("date")
}

/// The decoded value of a query parameter of a recorded request.
pub fn param(r: &GraphRequest, key: &str) -> Option<String> {
    r.query()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// Keys of a JSON object, sorted.
pub fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

pub fn sorted(v: &[&str]) -> Vec<String> {
    let mut k: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    k.sort();
    k
}

pub const PREFER: &str = "outlook.timezone=\"UTC\"";
