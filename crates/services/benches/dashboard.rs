//! `cargo bench -p sidekey-services --bench dashboard`: the dashboard's one `$batch` request
//! against the same sub-requests sent as individual HTTP requests, with a fixed latency per
//! HTTP request injected into FakeGraph (default 100 ms, roughly a round trip to Graph from far
//! away). Three ways to get the same answers:
//!
//! * `$batch`: what `sidekey ms dashboard` does (`Graph::dashboard`);
//! * sequential: each sub-request of that `$batch` body (its `url` and `headers`, read back
//!   from what the fake received) as an individual GET, one after another;
//! * concurrent: the same individual GETs all at once, as the best a client could do without
//!   `$batch`, bounded the way Graph allows: at most 4 requests to the Outlook service (mail,
//!   calendar, contacts) in flight at a time ("Outlook can execute up to 4 concurrent
//!   requests", docs/graph.md, "Throttling"); the OneDrive ones are not bounded.
//!
//! The connection pool is warmed with as many connections as the concurrent run opens, so no
//! side pays a connect. Every figure printed is counted or timed here: HTTP requests as the fake
//! received them, the most requests this client had in flight (all and Outlook only), medians
//! and minimums of the wall times over the runs.
//!
//! `DASHBOARD_LATENCY_MS` (default 100) and `DASHBOARD_RUNS` (default 7) change the latency and
//! the number of runs. Target: the dashboard makes 1 HTTP request and takes less than 1.3 × the
//! latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use sidekey_services::Graph;
use sidekey_testkit::{FakeGraph, GraphOptions};

/// Outlook's documented limit: concurrent requests per app (docs/graph.md, "Throttling").
const OUTLOOK_CONCURRENCY: usize = 4;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    (v[v.len() / 2].as_secs_f64() * 1e3, v[0].as_secs_f64() * 1e3)
}

/// One sub-request of the dashboard's `$batch`, as an individual request.
#[derive(Clone, Debug)]
struct Sub {
    url: String,
    headers: Vec<(String, String)>,
    outlook: bool,
}

/// The sub-requests of the `$batch` body the fake received.
fn subs_of(body: &str, base: &str) -> Vec<Sub> {
    let v: Value = serde_json::from_str(body).expect("the $batch body is JSON");
    v["requests"]
        .as_array()
        .expect("a requests array")
        .iter()
        .map(|r| {
            assert_eq!(r["method"], "GET", "the dashboard only reads");
            let rel = r["url"].as_str().expect("a url").to_string();
            let path = rel.split('?').next().unwrap_or("").to_ascii_lowercase();
            // The Outlook service's resources (docs/graph.md, "Throttling"): mail, calendar,
            // contacts. Files are OneDrive's.
            let outlook = [
                "/me/mailfolders",
                "/me/messages",
                "/me/calendar",
                "/me/contact",
            ]
            .iter()
            .any(|p| path.starts_with(p));
            let headers = r["headers"]
                .as_object()
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                        .collect()
                })
                .unwrap_or_default();
            Sub {
                url: format!("{base}{rel}"),
                headers,
                outlook,
            }
        })
        .collect()
}

/// Counts requests in flight and remembers the most seen at once.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl InFlight {
    fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct Counters {
    all: InFlight,
    outlook: InFlight,
}

async fn get(client: &reqwest::Client, sub: &Sub, counters: &Counters) -> u16 {
    counters.all.enter();
    if sub.outlook {
        counters.outlook.enter();
    }
    let mut req = client.get(&sub.url).bearer_auth("tok");
    for (k, v) in &sub.headers {
        req = req.header(k, v);
    }
    let status = match req.send().await {
        Ok(r) => {
            let s = r.status().as_u16();
            let _ = r.bytes().await;
            s
        }
        Err(_) => 0,
    };
    if sub.outlook {
        counters.outlook.leave();
    }
    counters.all.leave();
    status
}

async fn sequential(client: &reqwest::Client, subs: &[Sub], counters: &Counters) -> Vec<u16> {
    let mut out = Vec::new();
    for s in subs {
        out.push(get(client, s, counters).await);
    }
    out
}

async fn concurrent(client: &reqwest::Client, subs: &[Sub], counters: &Arc<Counters>) -> Vec<u16> {
    let outlook = Arc::new(tokio::sync::Semaphore::new(OUTLOOK_CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for s in subs {
        let (client, s, counters, outlook) =
            (client.clone(), s.clone(), counters.clone(), outlook.clone());
        set.spawn(async move {
            let _permit = if s.outlook {
                Some(outlook.acquire_owned().await.expect("semaphore"))
            } else {
                None
            };
            get(&client, &s, &counters).await
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.expect("task"));
    }
    out
}

fn main() {
    let latency = Duration::from_millis(env_num("DASHBOARD_LATENCY_MS", 100));
    let runs = env_num("DASHBOARD_RUNS", 7) as usize;
    let fake = FakeGraph::start(GraphOptions::default());
    let client = sidekey_flow::client::client_builder(&sidekey_flow::HttpOptions::default())
        .expect("client builder")
        .build()
        .expect("client");
    let g = Graph::new(client.clone(), &fake.base_url());
    let tz = jiff::tz::TimeZone::get("Europe/Berlin").expect("zone");
    let now: jiff::Timestamp = "2026-10-23T06:00:00Z".parse().expect("time");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    // The sub-requests, as the dashboard sends them (no latency yet).
    fake.clear_requests();
    rt.block_on(g.dashboard("tok", now, &tz))
        .expect("dashboard");
    let seen = fake.requests();
    let batch = seen
        .iter()
        .find(|r| r.path_and_query.ends_with("/$batch"))
        .expect("the dashboard sent a $batch");
    let subs = subs_of(&batch.body, &fake.base_url());
    let n_outlook = subs.iter().filter(|s| s.outlook).count();

    // Warm the pool with as many connections as the concurrent run can use, so that no side
    // pays a connect.
    let warm = Arc::new(Counters::default());
    let codes = rt.block_on(concurrent(&client, &subs, &warm));
    assert!(codes.iter().all(|&c| c == 200), "warm-up: {codes:?}");
    fake.set_latency(latency);

    let mut batch_times = Vec::new();
    let mut batch_requests = Vec::new();
    let mut seq_times = Vec::new();
    let mut seq_requests = Vec::new();
    let mut conc_times = Vec::new();
    let mut conc_requests = Vec::new();
    let seq_counters = Counters::default();
    let conc_counters = Arc::new(Counters::default());
    for _ in 0..runs {
        fake.clear_requests();
        let t = Instant::now();
        let d = rt
            .block_on(g.dashboard("tok", now, &tz))
            .expect("dashboard");
        batch_times.push(t.elapsed());
        batch_requests.push(fake.requests().len());
        assert!(d.appointments.error.is_none() && !d.mail.items.is_empty());

        fake.clear_requests();
        let t = Instant::now();
        let codes = rt.block_on(sequential(&client, &subs, &seq_counters));
        seq_times.push(t.elapsed());
        seq_requests.push(fake.requests().len());
        assert!(codes.iter().all(|&c| c == 200), "sequential: {codes:?}");

        fake.clear_requests();
        let t = Instant::now();
        let codes = rt.block_on(concurrent(&client, &subs, &conc_counters));
        conc_times.push(t.elapsed());
        conc_requests.push(fake.requests().len());
        assert!(codes.iter().all(|&c| c == 200), "concurrent: {codes:?}");
    }

    let range = |v: &[usize]| {
        let (lo, hi) = (v.iter().min().unwrap(), v.iter().max().unwrap());
        if lo == hi {
            format!("{lo}")
        } else {
            format!("{lo}-{hi}")
        }
    };
    let (bm, bmin) = stats(batch_times);
    let (sm, smin) = stats(seq_times);
    let (cm, cmin) = stats(conc_times);
    println!(
        "FakeGraph latency: {} ms per HTTP request, {runs} runs each; the $batch holds {} sub-requests ({n_outlook} to Outlook)",
        latency.as_millis(),
        subs.len()
    );
    println!(
        "dashboard ($batch)           {:>3} HTTP request(s)   median {bm:7.1} ms   min {bmin:7.1} ms",
        range(&batch_requests)
    );
    println!(
        "same sub-requests, one by one {:>2} HTTP request(s)   median {sm:7.1} ms   min {smin:7.1} ms   (at most {} in flight)",
        range(&seq_requests),
        seq_counters.all.max.load(Ordering::SeqCst)
    );
    println!(
        "same sub-requests, concurrent {:>2} HTTP request(s)   median {cm:7.1} ms   min {cmin:7.1} ms   (at most {} in flight, {} to Outlook; bound {OUTLOOK_CONCURRENCY})",
        range(&conc_requests),
        conc_counters.all.max.load(Ordering::SeqCst),
        conc_counters.outlook.max.load(Ordering::SeqCst)
    );
    let limit = latency.as_secs_f64() * 1e3 * 1.3;
    let ok = batch_requests.iter().all(|&n| n == 1) && bm < limit;
    println!(
        "target: 1 request and < {limit:.0} ms → {}; median $batch / one by one {:.2}, $batch / concurrent {:.2}",
        if ok { "met" } else { "MISSED" },
        bm / sm,
        bm / cm
    );
    assert!(
        batch_requests.iter().all(|&n| n == 1),
        "the dashboard must be one HTTP request"
    );
    folders(&rt, &client, latency, runs, now, &tz);
}

/// With two contact folders besides the default one: the dashboard not knowing them (the
/// first one, or a day after they were remembered: their ids come first, their contacts in one
/// more request) against knowing them from the last one (`Graph::dashboard_with`: their
/// contacts join the one `$batch`).
fn folders(
    rt: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    latency: Duration,
    runs: usize,
    now: jiff::Timestamp,
    tz: &jiff::tz::TimeZone,
) {
    use sidekey_testkit::{FakeContact, FakeContactFolder, GraphData};
    let mut data = GraphData::sample();
    data.contact_folders = ["CF-FAMILY", "CF-CLUB"]
        .iter()
        .map(|id| FakeContactFolder {
            id: id.to_string(),
            display_name: id.to_string(),
            parent: None,
            contacts: vec![FakeContact::new(
                &format!("C-{id}"),
                "Some One",
                Some("1970-10-25T00:00:00Z"),
            )],
        })
        .collect();
    let fake = FakeGraph::start(GraphOptions {
        data,
        ..GraphOptions::default()
    });
    let g = Graph::new(client.clone(), &fake.base_url());
    let (_, listed) = rt
        .block_on(g.dashboard_with("tok", now, tz, None))
        .expect("dashboard");
    let known = listed.expect("the folders listed");
    fake.set_latency(latency);
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    let (mut cold_n, mut warm_n) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        for (k, times, counts) in [
            (None, &mut cold, &mut cold_n),
            (Some(known.as_slice()), &mut warm, &mut warm_n),
        ] {
            fake.clear_requests();
            let t = Instant::now();
            let (d, _) = rt
                .block_on(g.dashboard_with("tok", now, tz, k))
                .expect("dashboard");
            times.push(t.elapsed());
            counts.push(fake.requests().len());
            let theirs = d.birthdays.items.iter().filter(|b| b.name == "Some One");
            assert_eq!(
                theirs.count(),
                2,
                "both folders' contacts: {:?}",
                d.birthdays
            );
        }
    }
    let (cm, cmin) = stats(cold);
    let (wm, wmin) = stats(warm);
    println!(
        "with {} contact folders besides the default one, {runs} runs each:",
        known.len()
    );
    println!(
        "dashboard, folders not known   {:>3} HTTP request(s)   median {cm:7.1} ms   min {cmin:7.1} ms",
        cold_n.iter().max().unwrap()
    );
    println!(
        "dashboard, folders remembered  {:>3} HTTP request(s)   median {wm:7.1} ms   min {wmin:7.1} ms",
        warm_n.iter().max().unwrap()
    );
    assert!(
        warm_n.iter().all(|&n| n == 1),
        "with the folders remembered the dashboard is one HTTP request"
    );
}
