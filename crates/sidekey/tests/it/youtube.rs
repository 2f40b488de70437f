//! `sidekey google youtube …` end to end: the binary signs in against the fake Google device
//! flow and calls the fake YouTube Data API, which answers, fails and charges quota the way
//! YouTube does (crates/testkit/src/youtube.rs).

use crate::common;

use crate::common::daemon_helpers;

use common::*;
use daemon_helpers::*;
use serde_json::Value;
use sidekey_testkit::youtube::{FOREIGN_PLAYLIST, SAMPLE_PLAYLIST};
use sidekey_testkit::{Dialect, FakeIdp, FakeYouTube, Options, YouTubeOptions};
use std::process::{Command, Output, Stdio};

const DEFAULT_SCOPES: &str = "\"openid\", \"email\", \"profile\", \"youtube\"";
/// Changes need the account's policy (locally too): the tests allow them all, but the ones
/// about the policy itself.
const ALLOW_WRITES: &str = "[accounts.tube.policy]\nallow = [\"google.youtube.playlist.create\", \"google.youtube.playlist.add\", \"google.youtube.playlist.remove\"]\n";

struct Setup {
    idp: FakeIdp,
    yt: FakeYouTube,
    env: Env,
}

fn config(idp: &FakeIdp, yt: &FakeYouTube, scopes: &str, policy: &str) -> String {
    format!(
        "[accounts.tube]\nprovider = \"google\"\nclient_id = \"123456789012-abc.apps.googleusercontent.com\"\nclient_secret = \"test-secret\"\ndevice_authorization_endpoint = \"{}\"\ntoken_endpoint = \"{}\"\nrevocation_endpoint = \"{}\"\napi_base = \"{}\"\nyoutube_api_base = \"{}\"\nscopes = [{scopes}]\n{policy}",
        idp.device_authorization_endpoint(),
        idp.token_endpoint(),
        idp.revocation_endpoint().unwrap(),
        idp.api_base(),
        yt.base_url(),
    )
}

fn setup_with(scopes: &str, yt: YouTubeOptions) -> Setup {
    setup_idp(|_| {}, scopes, yt)
}

/// [`setup_with`], the authorization server's options changed by `change` first.
fn setup_idp(change: impl FnOnce(&mut Options), scopes: &str, yt: YouTubeOptions) -> Setup {
    let mut o = Options::new(Dialect::Google);
    o.client_id = "123456789012-abc.apps.googleusercontent.com".into();
    o.auto_approve_after_polls = Some(1);
    change(&mut o);
    let idp = FakeIdp::start(o);
    let yt = FakeYouTube::start(yt);
    // YouTube accepts what Google's authorization server issued, with the grant's scopes.
    yt.trust(&idp);
    let env = Env::new(&config(&idp, &yt, scopes, ALLOW_WRITES));
    let out = env.run(&["login", "tube"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    Setup { idp, yt, env }
}

fn setup() -> Setup {
    setup_with(DEFAULT_SCOPES, YouTubeOptions::default())
}

fn json_of(env: &Env, args: &[&str]) -> Value {
    let out = env.run(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

fn yt<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["google", "youtube"];
    v.extend_from_slice(args);
    v
}

impl Setup {
    fn secrets(&self) -> Vec<String> {
        let mut s = self.idp.issued_access_tokens();
        s.extend(self.idp.issued_refresh_tokens());
        s.push("test-secret".into());
        s
    }

    /// What sidekey's ledger says was spent today.
    fn ledger(&self) -> (u64, u64) {
        let q = json_of(&self.env, &yt(&["quota", "--json"]));
        (
            q["quota"]["units_used"].as_u64().unwrap(),
            q["quota"]["searches_used"].as_u64().unwrap(),
        )
    }

    /// What the fake YouTube charged the project.
    fn charged(&self) -> (u64, u64) {
        let u = self.yt.quota_used("default");
        (u.units as u64, u.searches as u64)
    }
}

#[test]
fn every_operation_end_to_end_and_the_ledger_matches_what_youtube_charged() {
    let s = setup();
    let env = &s.env;

    let lists = json_of(env, &yt(&["playlists", "--json"]));
    let titles: Vec<&str> = lists["playlists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Learn Later"], "only the channel's own: {lists}");
    assert_eq!(lists["playlists"][0]["item_count"], 2);

    let made = json_of(
        env,
        &yt(&["playlist", "create", "Watch This Week", "--json"]),
    );
    assert_eq!(made["playlist"]["privacy"], "private", "{made}");
    let new_id = made["playlist"]["id"].as_str().unwrap().to_string();
    assert!(
        s.yt.my_playlists()
            .iter()
            .any(|(id, t, p)| *id == new_id && t == "Watch This Week" && p == "private")
    );

    // By title, with a youtu.be link carrying extra parameters.
    let out = env.run(&yt(&[
        "playlist",
        "add",
        "watch this week",
        "https://youtu.be/dQw4w9WgXcQ?si=Xy-12_ab&t=3",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Added 'Never Gonna Give You Up' to 'Watch This Week' at position 1"),
        "{}",
        stdout(&out)
    );
    // By id, with a shorts link.
    let added = json_of(
        env,
        &yt(&[
            "playlist",
            "add",
            &new_id,
            "https://www.youtube.com/shorts/9bZkp7q19f0?feature=share",
            "--json",
        ]),
    );
    assert_eq!(added["item"]["video_id"], "9bZkp7q19f0");
    assert_eq!(added["item"]["position"], 1);
    assert_eq!(
        s.yt.playlist_videos(&new_id).unwrap(),
        ["dQw4w9WgXcQ", "9bZkp7q19f0"]
    );

    let items = json_of(
        env,
        &yt(&["playlist", "items", "Watch This Week", "--json"]),
    );
    let entries = items["items"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{items}");
    assert_eq!(entries[0]["video_id"], "dQw4w9WgXcQ");
    let second_item = entries[1]["id"].as_str().unwrap().to_string();

    // A video in a playlist, then one entry by its item id.
    let out = env.run(&yt(&[
        "playlist",
        "remove",
        "Watch This Week",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=1s",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Removed video dQw4w9WgXcQ"),
        "{}",
        stdout(&out)
    );
    let out = env.run(&yt(&["playlist", "remove", "--item", &second_item]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(s.yt.playlist_videos(&new_id).unwrap(), Vec::<String>::new());
    // Removing what is not there removes nothing and says so.
    let out = env.run(&yt(&["playlist", "remove", &new_id, "dQw4w9WgXcQ"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("nothing was removed"),
        "{}",
        stdout(&out)
    );

    // Search: HTML entities in YouTube's titles come out as text.
    let found = json_of(env, &yt(&["search", "rust's \"async\"", "--json"]));
    assert_eq!(
        found["results"][0]["title"], "Rust's \"async\" & you",
        "{found}"
    );
    assert_eq!(found["results"][0]["kind"], "video");
    assert_eq!(
        found["results"][0]["url"],
        "https://www.youtube.com/watch?v=abcDEF_-123"
    );
    let text = env.run(&yt(&["search", "gangnam"]));
    assert!(stdout(&text).contains("Gangnam Style"), "{}", stdout(&text));
    assert!(
        stdout(&text).contains("of 100 searches"),
        "{}",
        stdout(&text)
    );

    // Every request was charged by both sides alike.
    assert_eq!(s.ledger(), s.charged());
    assert_eq!(s.charged().1, 2, "two searches");
    // playlists 1 + create 50 + (resolve 1 + insert 50) + insert 50 + (resolve 1 + list 1)
    // + (resolve 1 + list 1 + delete 50) + delete 50 + (list 1) = 257.
    assert_eq!(s.charged().0, 257);

    let log = std::fs::read_to_string(env.home.join("audit.log")).unwrap();
    for op in [
        "google.youtube.playlists",
        "google.youtube.playlist.create",
        "google.youtube.playlist.add",
        "google.youtube.playlist.items",
        "google.youtube.playlist.remove",
        "google.youtube.search",
    ] {
        assert!(
            log.contains(&format!("\"operation\":\"{op}\"")),
            "{op}: {log}"
        );
    }
    for private in ["Watch This Week", "gangnam", "dQw4w9WgXcQ"] {
        assert!(!log.contains(private), "{private} in the audit log");
    }
    env.assert_no_secrets(&s.secrets());
}

#[test]
fn youtube_errors_are_named_and_failed_writes_are_charged() {
    let s = setup();
    let env = &s.env;
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "playlist",
                "add",
                "PLdoesNotExist0000000000000000000",
                "dQw4w9WgXcQ",
            ],
            "playlistNotFound",
        ),
        (
            &["playlist", "add", SAMPLE_PLAYLIST, "zzzzzzzzzzz"],
            "videoNotFound",
        ),
        (
            &["playlist", "add", FOREIGN_PLAYLIST, "dQw4w9WgXcQ"],
            "playlistItemsNotAccessible",
        ),
        (
            &["playlist", "remove", "--item", "UExnb3N1Y2hJdGVt"],
            "playlistItemNotFound",
        ),
    ];
    for (args, reason) in cases {
        let out = env.run(&yt(args));
        assert_eq!(out.status.code(), Some(5), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(reason), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
    // A title that matches no playlist is said so (after one list call).
    let out = env.run(&yt(&["playlist", "items", "No Such List"]));
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no playlist titled 'No Such List'"),
        "{}",
        stderr(&out)
    );
    // Four failed writes at 50 each and one list, on both sides.
    assert_eq!(s.charged(), (201, 0));
    assert_eq!(s.ledger(), s.charged());

    // Refused before any request: bad links, Watch Later, bounds.
    s.yt.clear_requests();
    for (args, why) in [
        (
            &[
                "playlist",
                "add",
                SAMPLE_PLAYLIST,
                "https://vimeo.com/12345",
            ][..],
            "not a YouTube link",
        ),
        (
            &[
                "playlist",
                "add",
                SAMPLE_PLAYLIST,
                "https://www.youtube.com/watch?v=tooShort",
            ],
            "valid video id",
        ),
        (
            &[
                "playlist",
                "add",
                SAMPLE_PLAYLIST,
                "https://www.youtube.com/playlist?list=PLabcdefghijkl",
            ],
            "playlist link",
        ),
        (&["playlist", "add", "WL", "dQw4w9WgXcQ"], "since 2016"),
        (&["playlist", "items", "WL"], "Watch Later"),
        (&["search", "x", "--max", "51"], "--max 51"),
        (&["playlist", "create", " "], "title"),
        (&["playlist", "remove", SAMPLE_PLAYLIST], "PLAYLIST VIDEO"),
    ] {
        let out = env.run(&yt(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(why), "{args:?}: {}", stderr(&out));
    }
    assert!(s.yt.requests().is_empty(), "{:?}", s.yt.requests());
    env.assert_no_secrets(&s.secrets());
}

#[test]
fn pages_are_followed_up_to_max_and_each_page_is_charged() {
    let mut o = YouTubeOptions::default();
    let long: Vec<(String, String)> = (0..60)
        .map(|i| (format!("UExsb25nLj{i:03}"), format!("rustTalk{i:03}")))
        .collect();
    o.playlists[0].items = long;
    let s = setup_with(DEFAULT_SCOPES, o);
    s.yt.clear_requests();
    let items = json_of(
        &s.env,
        &yt(&[
            "playlist",
            "items",
            SAMPLE_PLAYLIST,
            "--max",
            "60",
            "--json",
        ]),
    );
    assert_eq!(items["items"].as_array().unwrap().len(), 60);
    assert_eq!(items["more"], false);
    assert_eq!(items["items"][59]["position"], 59);
    let reqs = s.yt.requests();
    assert_eq!(reqs.len(), 2, "50 + 10");
    assert!(reqs[0].path_and_query.contains("maxResults=50"));
    assert!(reqs[1].path_and_query.contains("pageToken="));
    assert!(reqs[1].path_and_query.contains("maxResults=10"));
    let few = json_of(
        &s.env,
        &yt(&["playlist", "items", SAMPLE_PLAYLIST, "--max", "3", "--json"]),
    );
    assert_eq!(few["items"].as_array().unwrap().len(), 3);
    assert_eq!(few["more"], true);
    assert_eq!(s.charged(), (3, 0));
    assert_eq!(s.ledger(), s.charged());
}

#[test]
fn quota_exceeded_names_the_reset_and_is_not_asked_again_until_then() {
    let s = setup_with(
        DEFAULT_SCOPES,
        YouTubeOptions {
            units_per_day: 120,
            searches_per_day: 2,
            ..YouTubeOptions::default()
        },
    );
    let env = &s.env;
    for title in ["One", "Two"] {
        let out = env.run(&yt(&["playlist", "create", title]));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let out = env.run(&yt(&["playlist", "create", "Three", "--json"]));
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("quotaExceeded"), "{err}");
    assert!(err.contains("123456789012"), "names the project: {err}");
    assert!(err.contains("resets at midnight Pacific time"), "{err}");
    // The next midnight in Los Angeles, in UTC: 08:00Z in winter, 07:00Z in summer.
    let la = jiff::tz::TimeZone::get("America/Los_Angeles").unwrap();
    let reset = jiff::Timestamp::now()
        .to_zoned_datetime(la.clone())
        .date()
        .tomorrow()
        .unwrap()
        .to_zoned_datetime(la)
        .unwrap()
        .timestamp();
    assert!(err.contains(&reset.to_string()), "not {reset}: {err}");
    assert!(!err.contains("<a"), "no HTML: {err}");
    assert_eq!(s.yt.my_playlists().len(), 3, "Learn Later, One, Two");

    // The ledger knows: the next call drawing on the same bucket never reaches YouTube.
    s.yt.clear_requests();
    let out = env.run(&yt(&["playlists"]));
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("earlier today"), "{}", stderr(&out));
    assert!(s.yt.requests().is_empty());
    let q = json_of(env, &yt(&["quota", "--json"]));
    assert_eq!(q["quota"]["exhausted"], serde_json::json!(["units"]), "{q}");
    assert_eq!(q["quota"]["units_used"], 100);
    assert_eq!(q["quota"]["project"], "123456789012");

    // Search has its own bucket: still open, until it too runs out.
    for _ in 0..2 {
        let out = env.run(&yt(&["search", "rust"]));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let out = env.run(&yt(&["search", "rust"]));
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("search"), "{}", stderr(&out));
    assert!(stderr(&out).contains("quotaExceeded"), "{}", stderr(&out));
    env.assert_no_secrets(&s.secrets());
}

#[test]
fn an_account_without_a_channel_is_told_what_to_do_and_not_asked_to_sign_in() {
    let s = setup_with(
        DEFAULT_SCOPES,
        YouTubeOptions {
            channel: None,
            ..YouTubeOptions::default()
        },
    );
    let before = s.idp.counters().refresh_requests;
    let out = s.env.run(&yt(&["playlist", "create", "Learn Later"]));
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("youtubeSignupRequired"), "{err}");
    assert!(err.contains("has no YouTube channel"), "{err}");
    assert!(
        err.contains("https://www.youtube.com/create_channel"),
        "{err}"
    );
    assert!(!err.contains("sidekey login"), "{err}");
    assert_eq!(s.idp.counters().refresh_requests, before, "no refresh");
    // Reads of a channel-less account: an empty list.
    let out = s.env.run(&yt(&["playlists"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("No playlists"), "{}", stdout(&out));
}

#[test]
fn a_missing_scope_is_named_before_calling_youtube() {
    let s = setup_with(
        "\"openid\", \"email\", \"profile\"",
        YouTubeOptions::default(),
    );
    let out = s.env.run(&yt(&["playlists"]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("youtube"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sidekey login tube"),
        "{}",
        stderr(&out)
    );
    assert!(s.yt.requests().is_empty());

    // youtube.readonly: reads work, writes are refused before any request.
    let s = setup_with(
        "\"openid\", \"youtube.readonly\"",
        YouTubeOptions {
            granted_scopes: Some(vec!["youtube.readonly".into()]),
            ..YouTubeOptions::default()
        },
    );
    let out = s.env.run(&yt(&["playlists"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    s.yt.clear_requests();
    let out = s.env.run(&yt(&["playlist", "create", "X"]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("https://www.googleapis.com/auth/youtube,"),
        "{}",
        stderr(&out)
    );
    assert!(s.yt.requests().is_empty());
}

#[test]
fn youtube_answers_that_need_the_person() {
    // The API not enabled in the Cloud project: a configuration error saying where to enable it.
    let s = setup_with(
        DEFAULT_SCOPES,
        YouTubeOptions {
            api_enabled: false,
            ..YouTubeOptions::default()
        },
    );
    let out = s.env.run(&yt(&["playlists"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("YouTube Data API v3"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("enable"), "{}", stderr(&out));

    // The token lacks the scope at Google although sidekey's record has it.
    s.yt.update(|o| {
        o.api_enabled = true;
        o.granted_scopes = Some(vec!["openid".into()]);
    });
    let out = s.env.run(&yt(&["playlists"]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("insufficientPermissions"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_rejected_token_is_refreshed_once_then_sign_in_is_asked_for() {
    let s = setup();
    s.yt.refuse_all_tokens(true);
    let out = s.env.run(&yt(&["playlists"]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sidekey login tube"),
        "{}",
        stderr(&out)
    );
    assert_eq!(s.idp.counters().refresh_successes, 1, "exactly one refresh");
    // Rejected tokens cost nothing at YouTube, and nothing in the ledger.
    assert_eq!(s.charged(), (0, 0));
    assert_eq!(s.ledger(), (0, 0));
    // A refreshed token that YouTube accepts: the call goes through.
    s.yt.refuse_all_tokens(false);
    let out = s.env.run(&yt(&["playlists"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    s.env.assert_no_secrets(&s.secrets());
    let log = std::fs::read_to_string(s.env.home.join("audit.log")).unwrap();
    for t in s.secrets() {
        assert!(!log.contains(&t), "token in the audit log");
    }
}

#[test]
fn through_the_daemon_writes_need_the_accounts_policy() {
    let s = setup();
    s.env
        .write_config(&config(&s.idp, &s.yt, DEFAULT_SCOPES, ""));
    // Locally too, a change outside the policy is refused before YouTube sees it.
    s.yt.clear_requests();
    let out = s.env.run(&yt(&["playlist", "create", "Mine"]));
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(s.yt.requests().is_empty(), "{:?}", s.yt.requests());
    let d = start_daemon(&s.env);
    // Reads are allowed by default.
    let out = agent(&s.env, &d, &yt(&["playlists", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["playlists"][0]["title"], "Learn Later");
    // Writes are refused (exit 6) before anything reaches YouTube.
    s.yt.clear_requests();
    for args in [
        &["playlist", "create", "Agent's list"][..],
        &["playlist", "add", SAMPLE_PLAYLIST, "9bZkp7q19f0"],
        &["playlist", "remove", "--item", "UExlYXJuTGF0ZXIuMQ"],
    ] {
        let out = agent(&s.env, &d, &yt(args));
        assert_eq!(out.status.code(), Some(6), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("policy"), "{}", stderr(&out));
        assert!(stderr(&out).contains("allow"), "{}", stderr(&out));
    }
    assert!(s.yt.requests().is_empty(), "{:?}", s.yt.requests());
    drop(d);

    // Listed in the policy: allowed; the others stay refused.
    s.env.write_config(&config(
        &s.idp,
        &s.yt,
        DEFAULT_SCOPES,
        "[accounts.tube.policy]\nallow = [\"google.youtube.playlist.add\"]\n",
    ));
    let d = start_daemon(&s.env);
    let out = agent(
        &s.env,
        &d,
        &yt(&[
            "playlist",
            "add",
            "Learn Later",
            "https://youtu.be/abcDEF_-123",
        ]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        s.yt.playlist_videos(SAMPLE_PLAYLIST)
            .unwrap()
            .last()
            .unwrap(),
        "abcDEF_-123"
    );
    let out = agent(&s.env, &d, &yt(&["playlist", "create", "Nope"]));
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));

    let log = std::fs::read_to_string(s.env.home.join("audit.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("google.youtube.playlist.create")
                && l.contains("\"decision\":\"deny\"")),
        "{log}"
    );
    let mut secrets = s.secrets();
    secrets.push(API_KEY.to_string());
    s.env.assert_no_secrets(&secrets);
}

/// The Python with Google's client (tests/google-client/requirements.txt): the venv `scripts/test`
/// makes, else `YOUTUBE_CLIENT_PYTHON`. `None` (test skipped, said so) only outside CI.
fn google_client_python() -> Option<std::path::PathBuf> {
    test_python(
        "google-client",
        "YOUTUBE_CLIENT_PYTHON",
        "googleapiclient.discovery, google.oauth2.credentials",
        "google-api-python-client",
    )
}

/// Google's own client (google-api-python-client 2.202, its shipped YouTube v3 discovery
/// document, `list_next` paging, `HttpError` parsing) against the fake: the fake is what a
/// client nobody here wrote expects.
#[test]
fn googles_python_client_agrees_with_the_fake() {
    let Some(py) = google_client_python() else {
        return;
    };
    let fake = FakeYouTube::start(YouTubeOptions::default());
    let root = fake.base_url().trim_end_matches("youtube/v3").to_string();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/google-client/youtube_client.py"
    );
    let out = Command::new(py)
        .args([script, &root, "ya29.fake-token-for-the-python-client"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let steps: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let step = |name: &str| -> &Value {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("no step {name}: {steps:?}"))
    };
    assert_eq!(
        step("playlists.list")["result"],
        serde_json::json!(["Learn Later"])
    );
    assert_eq!(step("playlists.insert")["result"]["privacy"], "private");
    assert_eq!(
        step("playlistItems.insert")["result"],
        serde_json::json!({"position": 0, "video": "dQw4w9WgXcQ"})
    );
    assert_eq!(
        step("search.list paged")["result"],
        serde_json::json!({"pages": 3, "count": 60, "distinct": 60})
    );
    assert_eq!(step("playlistItems.delete")["ok"], true, "{steps:?}");
    for (name, status, reason) in [
        ("playlistItems.insert unknown video", 404, "videoNotFound"),
        (
            "playlistItems.list unknown playlist",
            404,
            "playlistNotFound",
        ),
        ("playlistItems.list WL", 403, "watchLaterNotAccessible"),
    ] {
        let s = step(name);
        assert_eq!(s["ok"], false, "{s}");
        assert_eq!(s["status"], status, "{s}");
        assert_eq!(s["error_reasons"][0], reason, "{s}");
    }
    // The client's requests went where YouTube's go, with Google's parameter spelling.
    let reqs = fake.requests();
    assert!(
        reqs.iter().any(|r| r.method == "GET"
            && r.path_and_query.starts_with("/youtube/v3/playlists?")
            && r.path_and_query.contains("mine=true")),
        "{reqs:?}"
    );
    assert!(
        reqs.iter()
            .all(|r| r.header("authorization")
                == Some("Bearer ya29.fake-token-for-the-python-client"))
    );
    // 1 + 50 + 50 + 50 (delete) + 50 (failed insert) + 1 (failed list) + 1 (WL) units; 3 searches.
    let used = fake.quota_used("default");
    assert_eq!((used.units, used.searches), (203, 3));
}

/// Quota belongs to the Cloud project, not the account: two accounts on one OAuth client share
/// one ledger, so what one used up is refused for the other too.
#[test]
fn accounts_of_one_project_share_the_ledger() {
    let s = setup_with(
        DEFAULT_SCOPES,
        YouTubeOptions {
            units_per_day: 60,
            ..YouTubeOptions::default()
        },
    );
    let second = config(&s.idp, &s.yt, DEFAULT_SCOPES, ALLOW_WRITES)
        .replace("[accounts.tube]", "[accounts.tube2]")
        .replace("[accounts.tube.policy]", "[accounts.tube2.policy]");
    s.env.write_config(&format!(
        "{}\n{second}",
        config(&s.idp, &s.yt, DEFAULT_SCOPES, ALLOW_WRITES)
    ));
    let out = s.env.run(&["login", "tube2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = s.env.run(&[
        "google",
        "youtube",
        "playlist",
        "create",
        "A",
        "--account",
        "tube",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = s.env.run(&[
        "google",
        "youtube",
        "playlist",
        "create",
        "B",
        "--account",
        "tube2",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("quotaExceeded"), "{}", stderr(&out));
    s.yt.clear_requests();
    let out = s
        .env
        .run(&["google", "youtube", "playlists", "--account", "tube"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(s.yt.requests().is_empty(), "refused from the shared ledger");
    let q = json_of(
        &s.env,
        &["google", "youtube", "quota", "--account", "tube2", "--json"],
    );
    assert_eq!(q["quota"]["units_used"], 50);
    // Without --account, two Google accounts are ambiguous.
    let out = s.env.run(&["google", "youtube", "quota"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--account"), "{}", stderr(&out));
}

/// A server (or proxy) that echoes the request's `Authorization` header into its error: the token
/// is scrubbed from what sidekey prints.
#[test]
fn an_echoed_token_is_never_printed() {
    let s = setup_with(
        DEFAULT_SCOPES,
        YouTubeOptions {
            echo_authorization: true,
            ..YouTubeOptions::default()
        },
    );
    for args in [
        &["playlists"][..],
        &["playlists", "--json"],
        &["search", "x"],
    ] {
        let out = s.env.run(&yt(args));
        assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
        assert!(stderr(&out).contains("[redacted]"), "{}", stderr(&out));
    }
    s.env.assert_no_secrets(&s.secrets());
}

/// Issue 18: titles chosen by someone else (a playlist's, a video's, a channel's) reach the
/// terminal without escape sequences, control characters, bidi overrides or zero-width
/// characters, and a newline in one does not forge a line. `--json` keeps the data as it is,
/// with those characters written as JSON escapes (`\u202e`), never raw.
#[test]
fn titles_chosen_by_others_reach_the_terminal_printable() {
    const EVIL: &str = "\u{1b}]8;;http://evil.example\u{7}Learn\u{1b}]8;;\u{7}\u{1b}[2J \u{202e}Later\u{200b}\nFAKE LINE\r\u{9b}31m";
    let mut opts = YouTubeOptions::default();
    opts.playlists[0].title = EVIL.into();
    opts.playlists[0].channel_title = EVIL.into();
    for v in opts.videos.iter_mut() {
        v.title = format!("{EVIL} {}", v.title);
        v.channel_title = EVIL.into();
    }
    let s = setup_with(DEFAULT_SCOPES, opts);
    let printable = |what: &str, out: &Output| {
        assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(out));
        let text = stdout(out);
        for c in text.chars() {
            assert!(
                c == '\n'
                    || !(c.is_control()
                        || matches!(c, '\u{200b}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')),
                "{what}: {c:?} reached the terminal: {text:?}"
            );
        }
        assert!(!text.contains("evil.example"), "{what}: {text}");
        assert!(
            !text.lines().any(|l| l.starts_with("FAKE")),
            "{what}: {text}"
        );
        text
    };
    let lists = printable("playlists", &s.env.run(&yt(&["playlists"])));
    assert!(lists.contains("Learn"), "{lists}");
    let items = printable(
        "items",
        &s.env.run(&yt(&["playlist", "items", SAMPLE_PLAYLIST])),
    );
    assert!(items.contains("Never Gonna Give You Up"), "{items}");
    printable("search", &s.env.run(&yt(&["search", "Later"])));

    let out = s.env.run(&yt(&["playlists", "--json"]));
    let raw = stdout(&out);
    assert!(
        !raw.chars()
            .any(|c| c.is_control() && c != '\n' || matches!(c, '\u{200b}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')),
        "{raw:?}"
    );
    let v: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(v["playlists"][0]["title"], EVIL, "the data is kept");
}

#[test]
fn an_expired_cached_token_is_refreshed_and_youtube_gets_only_the_new_one() {
    // Every token lives 30 s: inside the refresh margin, so each run finds it due.
    let s = setup_idp(
        |o| o.access_token_ttl = 30,
        DEFAULT_SCOPES,
        YouTubeOptions::default(),
    );
    for args in [&["playlists"][..], &["playlist", "create", "Fresh"]] {
        // The cached token has expired at Google too: YouTube refuses it.
        s.idp.expire_access_tokens();
        let before = s.idp.issued_access_tokens();
        s.yt.clear_requests();
        let out = s.env.run(&yt(args));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let issued = s.idp.issued_access_tokens();
        assert_eq!(issued.len(), before.len() + 1, "{args:?}: one refresh");
        let new = format!("Bearer {}", issued.last().unwrap());
        let sent = s.yt.requests();
        assert!(!sent.is_empty(), "{args:?}");
        assert!(
            sent.iter()
                .all(|r| r.header("authorization") == Some(new.as_str())),
            "{args:?}: YouTube received a token from before the refresh"
        );
    }
    assert!(s.yt.my_playlists().iter().any(|p| p.1 == "Fresh"));
}

#[test]
fn youtube_left_unticked_at_sign_in_is_named_with_what_to_do() {
    // Google's granular consent: the person unticks the YouTube scope; the token response's
    // `scope` lacks it (YouTube would answer 403 insufficientPermissions).
    let s = setup_idp(
        |o| o.withheld_scopes = vec!["https://www.googleapis.com/auth/youtube".into()],
        DEFAULT_SCOPES,
        YouTubeOptions::default(),
    );
    s.yt.clear_requests();
    let out = s.env.run(&yt(&["playlists"]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("youtube"), "{err}");
    assert!(err.contains("was asked for but not granted"), "{err}");
    assert!(
        err.contains("run `sidekey login tube` and grant it"),
        "{err}"
    );
    assert!(!err.contains("to the account's scopes"), "{err}");
    assert!(s.yt.requests().is_empty(), "refused before calling YouTube");
}
