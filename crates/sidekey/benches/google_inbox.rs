//! `cargo bench -p sidekey --bench google_inbox`: reading 20 inbox files from the fake Google
//! Drive, sequentially (one `read_one` after another, as a loop over `inbox read ID` would)
//! versus `read_many` (what `sidekey google inbox read ID…` does: at most
//! `READ_CONCURRENCY` reads in flight). Each read is two requests (metadata, then content).
//!
//! The fake answers after a fixed delay standing in for the network (a Drive round trip from
//! a home connection is tens of milliseconds); 0 ms measures sidekey's own overhead. Prints
//! the median and min wall time of each, per latency, the files' mean size and the requests the
//! fake received per file (counted). `READ_CONCURRENCY` is the product's limit, printed as set in
//! the code. `GOOGLE_INBOX_RUNS` (default 7) changes the number of runs.

use sidekey::ops::google::{READ_CONCURRENCY, read_many, read_one};
use sidekey_services::google::GoogleHttp;
use sidekey_services::google_drive::Drive;
use sidekey_testkit::{FakeGoogle, GoogleOptions};
use std::time::{Duration, Instant};

const FILES: usize = 20;

fn median(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[0])
}

fn main() {
    let runs = std::env::var("GOOGLE_INBOX_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(7);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let google = FakeGoogle::start(GoogleOptions::default());
    let inbox = google.app_creates_file(
        "tv",
        None,
        "OpenClaw Inbox",
        sidekey_testkit::google::FOLDER_MIME,
        b"",
    );
    let mut bytes = 0;
    let ids: Vec<String> = (0..FILES)
        .map(|i| {
            let body = format!("note {i}\n{}", "text of the note. ".repeat(200));
            bytes += body.len();
            google.app_creates_file(
                "tv",
                Some(&inbox),
                &format!("note-{i}.txt"),
                "text/plain",
                body.as_bytes(),
            )
        })
        .collect();
    // The product's client (rustls with its provider, timeouts, body caps).
    let http = sidekey_flow::Http::new(sidekey_flow::HttpOptions::default()).unwrap();
    let drive = Drive::new(GoogleHttp::new(http.client().clone()), &google.base_url());
    let token = "bench-token";
    // The requests one read of every file makes, counted at the fake.
    let before = google.requests().len();
    rt.block_on(async {
        for id in &ids {
            read_one(&drive, token, id, Some(&inbox)).await.unwrap();
        }
    });
    let per_file = (google.requests().len() - before) as f64 / FILES as f64;
    println!(
        "{FILES} inbox files (text, {:.1} KB each on average), {per_file:.1} requests per file (counted), concurrency limit {READ_CONCURRENCY} (set in the code), median of {runs} runs",
        bytes as f64 / FILES as f64 / 1000.0
    );
    for latency_ms in [0u64, 10, 30] {
        google.set_latency(Duration::from_millis(latency_ms));
        let mut seq = Vec::new();
        let mut conc = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            rt.block_on(async {
                for id in &ids {
                    read_one(&drive, token, id, Some(&inbox)).await.unwrap();
                }
            });
            seq.push(t.elapsed());
            let t = Instant::now();
            let got = rt.block_on(read_many(&drive, token, &ids, Some(&inbox)));
            conc.push(t.elapsed());
            assert!(got.iter().all(|(_, r)| r.is_ok()));
        }
        let (sm, smin) = median(seq);
        let (cm, cmin) = median(conc);
        println!(
            "latency {latency_ms:>3} ms/request   sequential median {:>8.1} ms (min {:>7.1})   concurrent median {:>7.1} ms (min {:>6.1})   speed-up {:.1}x",
            sm.as_secs_f64() * 1e3,
            smin.as_secs_f64() * 1e3,
            cm.as_secs_f64() * 1e3,
            cmin.as_secs_f64() * 1e3,
            sm.as_secs_f64() / cm.as_secs_f64()
        );
    }
}
