//! The YouTube client against the fake YouTube: paging, rate limits within a bound, the quota it
//! counts, and errors decided by Google's reason.

use std::time::{Duration, Instant};

use sidekey_services::YouTube;
use sidekey_services::YouTubeError;
use sidekey_services::youtube::Bucket;
use sidekey_testkit::youtube::SAMPLE_PLAYLIST;
use sidekey_testkit::{FakeYouTube, YouTubeOptions};

fn client(fake: &FakeYouTube) -> YouTube {
    let http = sidekey_net::client_builder(Duration::from_secs(10))
        .build()
        .unwrap();
    YouTube::new(http, &fake.base_url())
}

#[tokio::test]
async fn a_rate_limit_is_retried_after_retry_after_and_not_counted() {
    let fake = FakeYouTube::start(YouTubeOptions::default());
    // Only this token is good; any other gets the service's 401.
    fake.set_valid_tokens(Some(vec!["tok".into()]));
    let yt = client(&fake);
    fake.inject_rate_limit(2, Some("0.1"));
    let t = Instant::now();
    let l = yt.playlists("tok", 10).await.unwrap();
    assert_eq!(l.items[0].title, "Learn Later");
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(fake.requests().len(), 3);
    assert_eq!(yt.spent(), (1, 0), "only the answered request costs");
    assert_eq!(fake.quota_used("default").units, 1);
}

#[tokio::test]
async fn a_long_rate_limit_is_not_waited_for() {
    let fake = FakeYouTube::start(YouTubeOptions::default());
    // Only this token is good; any other gets the service's 401.
    fake.set_valid_tokens(Some(vec!["tok".into()]));
    let yt = client(&fake).with_retry(3, Duration::from_secs(1));
    fake.inject_rate_limit(5, Some("30"));
    let t = Instant::now();
    let e = yt
        .search(
            "tok",
            "rust",
            sidekey_services::youtube::SearchType::Video,
            5,
        )
        .await
        .unwrap_err();
    assert!(t.elapsed() < Duration::from_millis(500));
    assert!(
        matches!(e, YouTubeError::Throttled { retry_after: Some(d) } if d == Duration::from_secs(30)),
        "{e:?}"
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn pages_and_the_quota_they_cost() {
    let mut o = YouTubeOptions::default();
    o.playlists[0].items = (0..120)
        .map(|i| (format!("item{i}"), format!("rustTalk{:03}", i % 60)))
        .collect();
    let fake = FakeYouTube::start(o);
    // Only this token is good; any other gets the service's 401.
    fake.set_valid_tokens(Some(vec!["tok".into()]));
    let yt = client(&fake);
    let l = yt
        .playlist_items("tok", SAMPLE_PLAYLIST, None, 120)
        .await
        .unwrap();
    assert_eq!(l.items.len(), 120);
    assert!(!l.more);
    assert_eq!(l.total_results, Some(120));
    assert_eq!(yt.spent(), (3, 0), "50 + 50 + 20");
    // Only one video's entries.
    let one = yt
        .playlist_items("tok", SAMPLE_PLAYLIST, Some("rustTalk007"), 50)
        .await
        .unwrap();
    assert_eq!(one.items.len(), 2);
    assert!(one.items.iter().all(|i| i.video_id == "rustTalk007"));
    assert_eq!(fake.quota_used("default").units, 4);
}

#[tokio::test]
async fn quota_and_channel_errors_by_reason() {
    let fake = FakeYouTube::start(YouTubeOptions {
        units_per_day: 60,
        ..YouTubeOptions::default()
    });
    // Only this token is good; any other gets the service's 401.
    fake.set_valid_tokens(Some(vec!["tok".into()]));
    let yt = client(&fake);
    yt.create_playlist("tok", "A", "", sidekey_services::youtube::Privacy::Private)
        .await
        .unwrap();
    let e = yt
        .create_playlist("tok", "B", "", sidekey_services::youtube::Privacy::Private)
        .await
        .unwrap_err();
    match &e {
        YouTubeError::QuotaExceeded { bucket, message } => {
            assert_eq!(*bucket, Bucket::Units);
            assert!(!message.contains('<'), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(yt.spent(), (50, 0), "a quota refusal costs nothing");

    fake.update(|o| o.channel = None);
    fake.reset_quota();
    let e = yt
        .add_to_playlist("tok", SAMPLE_PLAYLIST, "dQw4w9WgXcQ")
        .await
        .unwrap_err();
    assert!(matches!(e, YouTubeError::SignupRequired), "{e:?}");
    assert!(e.to_string().contains("create_channel"), "{e}");

    fake.set_valid_tokens(Some(vec!["good".into()]));
    let e = yt.playlists("bad", 5).await.unwrap_err();
    assert!(matches!(e, YouTubeError::Unauthorized), "{e:?}");
    assert!(!e.to_string().contains("bad"), "{e}");
}
