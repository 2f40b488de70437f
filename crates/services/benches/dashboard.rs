//! `cargo bench -p sidekey-services --bench dashboard`: the dashboard's one `$batch` request
//! against the same four calls one by one, with 100 ms of latency per HTTP request injected
//! into FakeGraph (roughly a round trip to Graph from far away).
//!
//! Target: the dashboard makes 1 HTTP request and takes less than 1.3 × 100 ms. Prints the
//! number of requests and the median / min wall time of each over several runs.

use std::time::{Duration, Instant};

use sidekey_services::{BirthdayFilter, Graph, Window};
use sidekey_testkit::{FakeGraph, GraphOptions};

const LATENCY: Duration = Duration::from_millis(100);
const RUNS: usize = 7;

fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    (v[v.len() / 2].as_secs_f64() * 1e3, v[0].as_secs_f64() * 1e3)
}

fn main() {
    let fake = FakeGraph::start(GraphOptions::default());
    fake.set_latency(LATENCY);
    let client = sidekey_flow::client::client_builder(&sidekey_flow::HttpOptions::default())
        .expect("client builder")
        .build()
        .expect("client");
    let g = Graph::new(client, &fake.base_url());
    let tz = jiff::tz::TimeZone::get("Europe/Berlin").expect("zone");
    let now: jiff::Timestamp = "2026-10-23T06:00:00Z".parse().expect("time");
    let today = now.to_zoned_datetime(tz.clone()).date();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    // Warm up the connection pool so both sides pay the same (no) connect cost.
    rt.block_on(g.me("tok")).expect("me");

    let mut batch_times = Vec::new();
    let mut batch_requests = 0;
    let mut one_by_one_times = Vec::new();
    let mut one_by_one_requests = 0;
    for _ in 0..RUNS {
        fake.clear_requests();
        let t = Instant::now();
        let d = rt
            .block_on(g.dashboard("tok", now, &tz))
            .expect("dashboard");
        batch_times.push(t.elapsed());
        batch_requests = fake.requests().len();
        assert!(d.appointments.error.is_none() && !d.mail.items.is_empty());

        fake.clear_requests();
        let t = Instant::now();
        rt.block_on(async {
            let window = Window::named("next-7-days", now, &tz).expect("window");
            g.calendar("tok", &window, &tz).await.expect("calendar");
            g.files_recent("tok", 10).await.expect("files");
            g.unread_mail("tok", None, 50).await.expect("mail");
            g.birthdays("tok", BirthdayFilter::NextDays(14), today)
                .await
                .expect("birthdays");
        });
        one_by_one_times.push(t.elapsed());
        one_by_one_requests = fake.requests().len();
    }

    let (bm, bmin) = stats(batch_times);
    let (om, omin) = stats(one_by_one_times);
    println!(
        "FakeGraph latency: {} ms per HTTP request, {RUNS} runs each",
        LATENCY.as_millis()
    );
    println!(
        "dashboard ($batch)      {batch_requests} HTTP request(s)   median {bm:7.1} ms   min {bmin:7.1} ms"
    );
    println!(
        "four calls one by one   {one_by_one_requests} HTTP request(s)   median {om:7.1} ms   min {omin:7.1} ms"
    );
    let limit = LATENCY.as_secs_f64() * 1e3 * 1.3;
    let ok = batch_requests == 1 && bm < limit;
    println!(
        "target: 1 request and < {limit:.0} ms → {}  ({:.1}× faster than one by one)",
        if ok { "met" } else { "MISSED" },
        om / bm
    );
    assert_eq!(batch_requests, 1, "the dashboard must be one HTTP request");
}
