//! The fake Graph's `$batch` costs what Graph's does: each sub-request the per-request
//! latency, 4 at a time; and Exchange's limit of 4 concurrent requests per app and mailbox
//! applies to direct requests and sub-requests alike (docs/graph.md, "Throttling").

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sidekey_testkit::{FakeGraph, GraphOptions};

use crate::http::{Resp, get, request};

const AUTH: (&str, &str) = ("Authorization", "Bearer tok");

fn batch(g: &FakeGraph, urls: &[&str]) -> Resp {
    let reqs: Vec<Value> = urls
        .iter()
        .enumerate()
        .map(|(i, u)| json!({"id": i.to_string(), "method": "GET", "url": u}))
        .collect();
    request(
        "POST",
        &format!("{}/$batch", g.base_url()),
        &[AUTH, ("Content-Type", "application/json")],
        json!({ "requests": reqs }).to_string().as_bytes(),
    )
}

#[test]
fn batch_outlook_sub_requests_each_cost_the_latency_four_at_a_time() {
    let g = FakeGraph::start(GraphOptions::default());
    let latency = Duration::from_millis(200);
    g.set_latency(latency);
    let timed = |urls: &[&str]| {
        let t = Instant::now();
        let r = batch(&g, urls);
        let took = t.elapsed();
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        let responses = v["responses"].as_array().unwrap();
        assert_eq!(responses.len(), urls.len());
        assert!(responses.iter().all(|x| x["status"] == 200), "{v}");
        took
    };
    // 9 Outlook sub-requests: the batch itself, then 3 waves of up to 4.
    let took = timed(&["/me/messages"; 9]);
    assert!(took >= latency * 4, "{took:?}");
    assert!(
        took < latency * 6,
        "the Outlook sub-requests did not run 4 at a time: {took:?}"
    );
    // Others have no documented limit: they run with the first wave.
    let took = timed(&[
        "/me",
        "/me/drive/recent",
        "/me",
        "/me/drive/recent",
        "/me",
        "/me",
    ]);
    assert!(took >= latency * 2, "{took:?}");
    assert!(took < latency * 3, "{took:?}");
    // 5 Outlook and 2 others: two waves.
    let took = timed(&[
        "/me/messages",
        "/me/drive/recent",
        "/me/messages",
        "/me/contacts",
        "/me/contacts",
        "/me/drive/recent",
        "/me/messages",
    ]);
    assert!(took >= latency * 3, "{took:?}");
    assert!(took < latency * 4, "{took:?}");
}

#[test]
fn a_fifth_concurrent_mailbox_request_is_throttled() {
    let g = FakeGraph::start(GraphOptions::default());
    g.set_latency(Duration::from_millis(800));
    let url = format!("{}/me/contacts", g.base_url());
    // Five requests to the same mailbox at once: Exchange serves four.
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..5)
            .map(|i| {
                let url = url.clone();
                s.spawn(move || {
                    std::thread::sleep(Duration::from_millis(40 * i));
                    get(&url, &[AUTH])
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let throttled: Vec<&Resp> = answers.iter().filter(|r| r.status == 429).collect();
    assert_eq!(
        throttled.len(),
        1,
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let r = throttled[0];
    assert_eq!(r.header("retry-after"), Some("1"));
    let e = &r.json()["error"];
    assert_eq!(e["code"], "ApplicationThrottled", "{e}");
    assert_eq!(
        e["message"],
        "Application is over its MailboxConcurrency limit."
    );
    assert!(answers.iter().filter(|r| r.status == 200).count() == 4);
    assert_eq!(g.mailbox_throttled(), 1);

    // Requests that are not to the mailbox (the profile, OneDrive) do not count.
    let me = format!("{}/me", g.base_url());
    let answers: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..6)
            .map(|_| s.spawn(|| get(&me, &[AUTH]).status))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(answers.iter().all(|s| *s == 200), "{answers:?}");

    // Sub-requests hold slots too. Batch A's four mailbox reads run together (from 1 s, after
    // the batch's own latency, for 1 s): batch B's mailbox read, and a direct one, find no slot.
    g.set_latency(Duration::from_secs(1));
    let (a, b, direct) = std::thread::scope(|s| {
        let a = s.spawn(|| {
            batch(
                &g,
                &[
                    "/me/contacts",
                    "/me/contactFolders",
                    "/me/contacts",
                    "/me/contactFolders",
                ],
            )
        });
        std::thread::sleep(Duration::from_millis(100));
        let b = s.spawn(|| batch(&g, &["/me/contacts", "/me"]));
        std::thread::sleep(Duration::from_millis(1300));
        let direct = get(&url, &[AUTH]);
        (a.join().unwrap(), b.join().unwrap(), direct)
    });
    let statuses = |r: &Resp| -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = r.json()["responses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["id"].as_str().unwrap().to_string(),
                    x["status"].as_u64().unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert!(statuses(&a).iter().all(|(_, s)| *s == 200), "{}", a.text());
    assert_eq!(
        statuses(&b),
        [("0".to_string(), 429), ("1".to_string(), 200)],
        "{}",
        b.text()
    );
    let v = b.json();
    let throttled = v["responses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["status"] == 429)
        .unwrap();
    assert_eq!(throttled["body"]["error"]["code"], "ApplicationThrottled");
    assert_eq!(throttled["headers"]["Retry-After"], "1");
    assert_eq!(direct.status, 429, "{}", direct.text());
    assert_eq!(g.mailbox_throttled(), 3);
    // Once they are done, the mailbox serves again.
    assert_eq!(get(&url, &[AUTH]).status, 200);
}
