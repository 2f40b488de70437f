//! Time windows and calendar events: DST changes, zones far from UTC, all-day events, paging.

use crate::common;

use common::*;
use serde_json::json;
use sidekey_services::{GraphError, Window, render};
use sidekey_testkit::GraphOptions;

fn w(name: &str, now: &str, zone: &str) -> (String, String) {
    let w = Window::named(name, ts(now), &tz(zone)).unwrap();
    (w.start.to_string(), w.end.to_string())
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

#[test]
fn named_windows_are_dst_correct() {
    // Europe/Berlin leaves DST on Sunday 2026-10-25 (25-hour day).
    let now = "2026-10-25T10:00:00Z";
    assert_eq!(
        w("today", now, "Europe/Berlin"),
        pair("2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z")
    );
    assert_eq!(
        w("today", "2026-10-24T12:00:00Z", "Europe/Berlin"),
        pair("2026-10-23T22:00:00Z", "2026-10-24T22:00:00Z")
    );
    assert_eq!(
        w("tomorrow", "2026-10-24T12:00:00Z", "Europe/Berlin"),
        pair("2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z")
    );
    assert_eq!(
        w(
            "tomorrow-afternoon",
            "2026-10-24T12:00:00Z",
            "Europe/Berlin"
        ),
        pair("2026-10-25T11:00:00Z", "2026-10-25T17:00:00Z"),
        "12:00–18:00 CET on the day after the change"
    );
    // Friday 2026-10-23 → to the end of Sunday, across the change.
    assert_eq!(
        w("this-week", "2026-10-23T09:00:00Z", "Europe/Berlin"),
        pair("2026-10-22T22:00:00Z", "2026-10-25T23:00:00Z")
    );
    // On a Sunday, this week ends tonight.
    assert_eq!(
        w("this-week", now, "Europe/Berlin"),
        pair("2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z")
    );
    // Same wall-clock time a week later: 7 days + 1 hour of real time across the change.
    assert_eq!(
        w("next-7-days", "2026-10-23T08:00:00Z", "Europe/Berlin"),
        pair("2026-10-23T08:00:00Z", "2026-10-30T09:00:00Z")
    );
    // America/New_York enters DST on Sunday 2026-03-08 (23-hour day).
    assert_eq!(
        w("today", "2026-03-08T12:00:00Z", "America/New_York"),
        pair("2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z")
    );
    assert_eq!(
        w("tomorrow", "2026-03-07T12:00:00Z", "America/New_York"),
        pair("2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z")
    );
    // Far from UTC: the same instant is a different day.
    let instant = "2026-11-25T12:00:00Z";
    assert_eq!(
        w("today", instant, "Pacific/Kiritimati"),
        pair("2026-11-25T10:00:00Z", "2026-11-26T10:00:00Z")
    );
    assert_eq!(
        w("today", instant, "Pacific/Pago_Pago"),
        pair("2026-11-25T11:00:00Z", "2026-11-26T11:00:00Z")
    );
    assert_eq!(
        w("today", "2026-11-25T09:59:59Z", "Pacific/Kiritimati"),
        pair("2026-11-24T10:00:00Z", "2026-11-25T10:00:00Z"),
        "one second before local midnight"
    );
    assert!(
        Window::named("someday", ts(now), &tz("UTC"))
            .unwrap_err()
            .contains("today")
    );
}

#[test]
fn between_accepts_rfc3339_and_civil_times() {
    let berlin = tz("Europe/Berlin");
    let x = Window::between("2026-11-26", "2026-11-26", &berlin).unwrap();
    assert_eq!(
        (x.start, x.end),
        (ts("2026-11-25T23:00:00Z"), ts("2026-11-26T23:00:00Z"))
    );
    let x = Window::between("2026-11-26T14:00", "2026-11-26T15:30:00", &berlin).unwrap();
    assert_eq!(
        (x.start, x.end),
        (ts("2026-11-26T13:00:00Z"), ts("2026-11-26T14:30:00Z"))
    );
    let x = Window::between("2026-11-26T14:00:00+14:00", "2026-11-26T14:00:00Z", &berlin).unwrap();
    assert_eq!(
        (x.start, x.end),
        (ts("2026-11-26T00:00:00Z"), ts("2026-11-26T14:00:00Z"))
    );
    // Across Berlin's change: a civil date-time in the repeated hour takes the earlier one.
    let x = Window::between("2026-10-25T02:30", "2026-10-25T04:00", &berlin).unwrap();
    assert_eq!(x.start, ts("2026-10-25T00:30:00Z"));
    assert!(Window::between("2026-11-27", "2026-11-26", &berlin).is_err());
    assert!(
        Window::between("tomorrow", "2026-11-26", &berlin)
            .unwrap_err()
            .starts_with("--from")
    );
}

#[tokio::test]
async fn calendar_view_with_both_bounds_across_berlin_dst_change() {
    let (fake, g) = default();
    let berlin = tz("Europe/Berlin");
    let window = Window::named("today", ts("2026-10-25T10:00:00Z"), &berlin).unwrap();
    let events = g.calendar("tok", &window, &berlin).await.unwrap();
    let r = &fake.requests()[0];
    assert!(r.path_and_query.starts_with("/v1.0/me/calendarView?"));
    assert_eq!(
        param(r, "startDateTime").as_deref(),
        Some("2026-10-24T22:00:00Z")
    );
    assert_eq!(
        param(r, "endDateTime").as_deref(),
        Some("2026-10-25T23:00:00Z")
    );
    assert_eq!(r.header("prefer"), Some(PREFER));

    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["E-DST", "E-BRUNCH"]);
    let dst = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(dst["start"], json!("2026-10-25T01:30:00+02:00"));
    assert_eq!(dst["end"], json!("2026-10-25T03:30:00+01:00"));
    assert_eq!(dst["all_day"], json!(false));
    assert_eq!(
        keys(&dst),
        sorted(&[
            "id",
            "subject",
            "all_day",
            "start",
            "end",
            "start_date",
            "last_date",
            "location",
            "organizer",
            "online_meeting_url",
            "show_as",
            "is_cancelled",
            "web_link"
        ])
    );
    let text = render::calendar(&events, &window, &berlin);
    assert_eq!(
        text,
        "Sun 2026-10-25 00:00 – Mon 2026-10-26 00:00 CET (Europe/Berlin)\n\
         Sun 2026-10-25 01:30–03:30 CEST  Night shift across the clock change\n\
         Sun 2026-10-25 11:00–13:00 CET  Sunday brunch  @ Café Müller"
    );
}

#[tokio::test]
async fn all_day_events_are_dates_not_instants() {
    let (_fake, g) = default();
    let berlin = tz("Europe/Berlin");
    // Monday 2026-10-26 → end of Sunday.
    let window = Window::named("this-week", ts("2026-10-26T07:00:00Z"), &berlin).unwrap();
    let events = g.calendar("tok", &window, &berlin).await.unwrap();
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["E-HOLIDAY", "E-CONF"]);
    let holiday = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(holiday["all_day"], json!(true));
    assert_eq!(holiday["start_date"], json!("2026-10-26"));
    assert_eq!(holiday["last_date"], json!("2026-10-26"));
    assert_eq!(holiday["start"], json!("2026-10-26T00:00:00+01:00"));
    let text = render::calendar(&events, &window, &berlin);
    assert!(
        text.contains("\nMon 2026-10-26  all day  Holiday\n"),
        "{text}"
    );
    assert!(
        text.ends_with("Wed 2026-10-28 – Fri 2026-10-30  all day  Conference  @ Berlin"),
        "{text}"
    );
    // Shown on the same dates whatever zone the reader is in.
    let la = tz("America/Los_Angeles");
    assert!(events[0].human(&la).starts_with("Mon 2026-10-26  all day"));
}

#[tokio::test]
async fn new_york_spring_forward() {
    let (_fake, g) = default();
    let ny = tz("America/New_York");
    let before = Window::named("today", ts("2026-03-07T12:00:00Z"), &ny).unwrap();
    let after = Window::named("today", ts("2026-03-08T12:00:00Z"), &ny).unwrap();
    let e1 = g.calendar("tok", &before, &ny).await.unwrap();
    let e2 = g.calendar("tok", &after, &ny).await.unwrap();
    assert_eq!(e1.len(), 1);
    assert_eq!(e2.len(), 1);
    assert_eq!(
        e1[0].human(&ny),
        "Sat 2026-03-07 10:00–10:15 EST  Standup NY (EST)  (online)"
    );
    assert_eq!(
        e2[0].human(&ny),
        "Sun 2026-03-08 10:00–10:15 EDT  Standup NY (EDT)  (online)"
    );
    assert_eq!(
        serde_json::to_value(&e2[0]).unwrap()["start"],
        json!("2026-03-08T10:00:00-04:00")
    );
}

#[tokio::test]
async fn far_from_utc_the_day_is_the_persons_day() {
    let (_fake, g) = default();
    let now = ts("2026-11-25T12:00:00Z");
    // Kiritimati (+14): it is already Thursday 26 November.
    let kiri = tz("Pacific/Kiritimati");
    let window = Window::named("today", now, &kiri).unwrap();
    let events = g.calendar("tok", &window, &kiri).await.unwrap();
    let lines: Vec<String> = events.iter().map(|e| e.human(&kiri)).collect();
    assert_eq!(
        lines,
        [
            "Thu 2026-11-26  all day  Thanksgiving",
            "Thu 2026-11-26 08:00–09:00 +14  Kiritimati breakfast  @ Beach",
            "Thu 2026-11-26 20:00–21:30 +14  Pago Pago dinner  @ Harbour",
        ]
    );
    // Pago Pago (−11): still Wednesday 25 November; Thanksgiving (the 26th) is not today,
    // although its UTC-midnight span overlaps the instants of the window.
    let pago = tz("Pacific/Pago_Pago");
    let window = Window::named("today", now, &pago).unwrap();
    let events = g.calendar("tok", &window, &pago).await.unwrap();
    let lines: Vec<String> = events.iter().map(|e| e.human(&pago)).collect();
    assert_eq!(
        lines,
        [
            "Wed 2026-11-25 07:00–08:00 SST  Kiritimati breakfast  @ Beach",
            "Wed 2026-11-25 19:00–20:30 SST  Pago Pago dinner  @ Harbour",
        ]
    );
}

#[tokio::test]
async fn paging_follows_next_links_with_prefer_on_every_page_and_a_cap() {
    let (fake, g) = start(GraphOptions {
        page_size: 2,
        ..GraphOptions::default()
    });
    let utc = tz("UTC");
    let window = Window::between("2026-10-01", "2026-10-31", &utc).unwrap();
    let events = g.calendar("tok", &window, &utc).await.unwrap();
    assert_eq!(events.len(), 7);
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 4, "7 events, 2 per page");
    for (i, r) in reqs.iter().enumerate() {
        assert_eq!(r.header("prefer"), Some(PREFER), "page {i}");
        assert_eq!(
            param(r, "startDateTime").as_deref(),
            Some("2026-10-01T00:00:00Z")
        );
        assert_eq!(
            param(r, "endDateTime").as_deref(),
            Some("2026-11-01T00:00:00Z")
        );
        if i > 0 {
            assert_eq!(param(r, "$skiptoken"), Some((2 * i).to_string()));
            // The nextLink is the first request's query plus the skiptoken, verbatim.
            assert!(r.path_and_query.starts_with(&reqs[0].path_and_query));
        }
    }

    fake.clear_requests();
    let capped = g.clone().with_page_cap(2);
    let events = capped.calendar("tok", &window, &utc).await.unwrap();
    assert_eq!(events.len(), 4);
    assert_eq!(fake.requests().len(), 2);

    // Messages page with $skip; top is respected across pages.
    fake.clear_requests();
    let msgs = g.unread_mail("tok", None, 5).await.unwrap();
    assert_eq!(msgs.len(), 5);
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs.iter().all(|r| r.header("prefer") == Some(PREFER)));
    assert_eq!(param(&reqs[2], "$skip").as_deref(), Some("4"));
}

#[tokio::test]
async fn calendar_errors() {
    let (_fake, g) = start(GraphOptions {
        granted_scopes: Some(vec!["https://graph.microsoft.com/User.Read".into()]),
        ..GraphOptions::default()
    });
    let utc = tz("UTC");
    let window = Window::named("today", ts("2026-10-25T10:00:00Z"), &utc).unwrap();
    let e = g.calendar("tok", &window, &utc).await.unwrap_err();
    assert!(
        matches!(&e, GraphError::Forbidden { scope_hint } if scope_hint == "Calendars.ReadBasic"),
        "{e:?}"
    );
    assert!(e.to_string().contains("Calendars.ReadBasic"));
    let empty = Window {
        start: window.start,
        end: window.start,
    };
    assert!(matches!(
        g.calendar("tok", &empty, &utc).await,
        Err(GraphError::Invalid(_))
    ));
}
