//! Throttling, error mapping, the 401 contract, and the one-request dashboard.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use sidekey_services::{GraphError, RecentSource, missing_scope, render};
use sidekey_testkit::GraphOptions;

#[tokio::test]
async fn fractional_retry_after_is_honoured() {
    let (fake, g) = default();
    fake.inject_429("/v1.0/me?", 2, "0.15");
    let t = Instant::now();
    let me = g.me("tok").await.unwrap();
    let took = t.elapsed();
    assert_eq!(me.display_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(fake.requests().len(), 3);
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn throttling_is_bounded() {
    // A wait longer than the bound is not shortened: fail at once, saying how long.
    let (fake, g) = default();
    let g = g.with_retry(5, Duration::from_secs(1));
    fake.inject_429("/me", 10, "30");
    let t = Instant::now();
    let e = g.me("tok").await.unwrap_err();
    assert!(t.elapsed() < Duration::from_millis(500));
    assert!(
        matches!(e, GraphError::Throttled { retry_after: Some(d) } if d == Duration::from_secs(30)),
        "{e:?}"
    );
    assert_eq!(fake.requests().len(), 1);
    assert_eq!(
        e.to_string(),
        "Microsoft Graph is throttling requests; try again in 30.0 s"
    );

    // At most max_attempts tries.
    let (fake, g) = default();
    let g = g.with_retry(3, Duration::from_secs(5));
    fake.inject_429("/me", 10, "0.01");
    assert!(matches!(
        g.me("tok").await,
        Err(GraphError::Throttled { .. })
    ));
    assert_eq!(fake.requests().len(), 3);

    // No Retry-After: exponential back-off from 0.5 s, still within the bound.
    let (fake, g) = default();
    let g = g.with_retry(4, Duration::from_millis(700));
    fake.inject_429("/me", 10, "");
    let e = g.me("tok").await.unwrap_err();
    assert!(
        matches!(e, GraphError::Throttled { retry_after: None }),
        "{e:?}"
    );
    assert_eq!(
        fake.requests().len(),
        2,
        "0.5 s fits, the next 1 s does not"
    );
}

#[tokio::test]
async fn errors_are_mapped_and_never_carry_the_token() {
    let (fake, g) = default();
    fake.set_valid_tokens(Some(vec!["fresh-token".into()]));
    let secret = "stale-token-SECRET-123";
    let e = g.me(secret).await.unwrap_err();
    assert!(e.is_unauthorized());
    for s in [e.to_string(), format!("{e:?}"), format!("{g:?}")] {
        assert!(!s.contains(secret), "{s}");
        assert!(!s.contains('\n'));
    }

    // The 401 contract: refresh once, retry once.
    let refresh = || async { "fresh-token".to_string() };
    let r = match g.me(secret).await {
        Err(e) if e.is_unauthorized() => g.me(&refresh().await).await,
        r => r,
    };
    assert_eq!(r.unwrap().email.as_deref(), Some("ada@contoso.test"));

    let (_fake, g) = start(GraphOptions {
        granted_scopes: Some(vec!["User.Read Files.Read".into()]),
        ..GraphOptions::default()
    });
    let e = g.unread_mail("tok", None, 5).await.unwrap_err();
    assert!(matches!(&e, GraphError::Forbidden { scope_hint } if scope_hint == "Mail.ReadBasic"));
    assert_eq!(
        e.to_string(),
        "Microsoft Graph denied access (HTTP 403): add the permission Mail.ReadBasic to the account's scopes and sign in again"
    );
    let e = g
        .birthdays(
            "tok",
            sidekey_services::BirthdayFilter::NextDays(3),
            date("2026-10-23"),
        )
        .await
        .unwrap_err();
    assert!(matches!(&e, GraphError::Forbidden { scope_hint } if scope_hint == "Contacts.Read"));

    let (_fake, g) = start(GraphOptions {
        personal: true,
        mailbox: false,
        ..GraphOptions::default()
    });
    let e = g.unread_mail("tok", None, 5).await.unwrap_err();
    assert!(matches!(e, GraphError::MailboxNotEnabled), "{e:?}");
    assert!(e.to_string().contains("no Exchange Online mailbox"));
    assert!(!e.to_string().contains('\n'));
    assert!(
        g.files_search("tok", "budget", 5).await.is_ok(),
        "files still work"
    );

    // Nothing listening: a one-line network error naming the host only.
    let dead = sidekey_services::Graph::new(client(), "http://127.0.0.1:9/v1.0");
    let e = dead
        .files_search("tok", "secret search text", 5)
        .await
        .unwrap_err();
    assert!(matches!(&e, GraphError::Network(_)), "{e:?}");
    assert!(!e.to_string().contains("secret search text"), "{e}");
}

#[tokio::test]
async fn dashboard_is_one_batch_request() {
    let (fake, g) = default();
    let berlin = tz("Europe/Berlin");
    let now = ts("2026-10-23T06:00:00Z");
    let d = g.dashboard("tok", now, &berlin).await.unwrap();
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1, "exactly one HTTP request");
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path_and_query, "/v1.0/$batch");
    let body: serde_json::Value = serde_json::from_str(&reqs[0].body).unwrap();
    let subs = body["requests"].as_array().unwrap();
    assert!(subs.len() <= 20);
    for s in subs {
        assert_eq!(s["method"], json!("GET"));
        assert_eq!(s["headers"]["Prefer"], json!(PREFER));
        assert!(s["url"].as_str().unwrap().starts_with("/me"));
    }

    let ev: Vec<&str> = d.appointments.items.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ev,
        [
            "E-SYNC",
            "E-HOSTILE",
            "E-CANCELLED",
            "E-DST",
            "E-BRUNCH",
            "E-HOLIDAY",
            "E-CONF"
        ]
    );
    assert_eq!(d.files_source, RecentSource::Recent);
    assert_eq!(d.files.items.len(), 4);
    let mail: Vec<&str> = d.mail.items.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        mail,
        ["M-OBRIEN", "M-BILLING", "M-CEO", "M-UMLAUT"],
        "high, flagged or focused"
    );
    let bd: Vec<&str> = d.birthdays.items.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        bd,
        [
            "O'Neil \"Birthday\" & Co",
            "Noon Birthday",
            "Late Evening",
            "Zoë D'Arcy"
        ]
    );
    for err in [
        &d.appointments.error,
        &d.files.error,
        &d.mail.error,
        &d.birthdays.error,
    ] {
        assert_eq!(err, &None);
    }

    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(
        keys(&v),
        sorted(&[
            "generated_at",
            "time_zone",
            "appointments_until",
            "birthdays_until",
            "appointments",
            "files",
            "files_source",
            "mail",
            "birthdays"
        ])
    );
    assert_eq!(
        keys(&v["mail"]),
        sorted(&["items", "more", "error", "error_kind"])
    );
    assert_eq!(v["time_zone"], json!("Europe/Berlin"));
    assert_eq!(v["files_source"], json!("recent"));

    let text = render::dashboard(&d, &berlin);
    for needle in [
        "Next appointments (until Fri 2026-10-30)\n  Fri 2026-10-23 09:00–09:30 CEST  Team sync  @ Room 1  (online)",
        "Recently used files\n  Vacation.jpg (36.9 KiB)",
        "Important unread mail\n  Fri 2026-10-23 10:12 CEST  Siobhán O'Brien",
        "Upcoming birthdays (until Fri 2026-11-06)\n  Fri 2026-10-23  O'Neil \"Birthday\" & Co (turns 46)  today",
        "[cancelled]",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[tokio::test]
async fn a_throttled_sub_request_is_retried_alone() {
    let (fake, g) = default();
    fake.inject_429("calendarView", 1, "0.2");
    let t = Instant::now();
    let d = g
        .dashboard("tok", ts("2026-10-23T06:00:00Z"), &tz("Europe/Berlin"))
        .await
        .unwrap();
    assert!(t.elapsed() >= Duration::from_millis(200));
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].batch_requests().len(), 6);
    let second = reqs[1].batch_requests();
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0].0, "calendar");
    assert!(second[0].1.starts_with("/me/calendarView?startDateTime="));
    assert_eq!(d.appointments.items.len(), 7);
    assert!(d.appointments.error.is_none());

    // Still throttled when the policy is spent: only that section says so.
    let (fake, g) = default();
    let g = g.with_retry(2, Duration::from_secs(1));
    fake.inject_429("/me/contacts", 5, "0.05");
    let d = g
        .dashboard("tok", ts("2026-10-23T06:00:00Z"), &tz("Europe/Berlin"))
        .await
        .unwrap();
    assert_eq!(fake.requests().len(), 2);
    assert_eq!(d.birthdays.error_kind, Some("throttled"));
    assert!(!d.appointments.items.is_empty() && !d.mail.items.is_empty());
    assert!(render::dashboard(&d, &tz("UTC")).contains(
        "Upcoming birthdays (until Fri 2026-11-06)\n  unavailable: Microsoft Graph is throttling"
    ));

    // The outer $batch request itself is throttled: retried as a whole.
    let (fake, g) = default();
    fake.inject_429("$batch", 1, "0.05");
    let d = g
        .dashboard("tok", ts("2026-10-23T06:00:00Z"), &tz("UTC"))
        .await
        .unwrap();
    assert_eq!(fake.requests().len(), 2);
    assert_eq!(d.mail.items.len(), 4);
}

#[tokio::test]
async fn dashboard_sections_fail_on_their_own() {
    let granted = vec![
        "User.Read".to_string(),
        "Files.Read".into(),
        "Calendars.Read".into(),
        "Mail.ReadBasic".into(),
    ];
    assert_eq!(
        missing_scope("dashboard", &granted).as_deref(),
        Some("Contacts.Read")
    );
    let (_fake, g) = start(GraphOptions {
        granted_scopes: Some(granted),
        ..GraphOptions::default()
    });
    let d = g
        .dashboard("tok", ts("2026-10-23T06:00:00Z"), &tz("UTC"))
        .await
        .unwrap();
    assert_eq!(d.birthdays.error_kind, Some("forbidden"));
    assert!(
        d.birthdays
            .error
            .as_deref()
            .unwrap()
            .contains("Contacts.Read")
    );
    assert_eq!(d.appointments.items.len(), 7);

    // Personal account without a mailbox: only files.
    let mut data = sidekey_testkit::GraphData::sample();
    for f in &mut data.files {
        f.recent = false;
    }
    let (_fake, g) = start(GraphOptions {
        personal: true,
        mailbox: false,
        data,
        ..GraphOptions::default()
    });
    let d = g
        .dashboard("tok", ts("2026-10-23T06:00:00Z"), &tz("UTC"))
        .await
        .unwrap();
    for s in [
        &d.appointments.error_kind,
        &d.mail.error_kind,
        &d.birthdays.error_kind,
    ] {
        assert_eq!(*s, Some("mailbox_not_enabled"));
    }
    assert_eq!(
        d.files_source,
        RecentSource::Search,
        "empty /recent → drive search"
    );
    assert_eq!(d.files.items[0].id, "F-QA");
    assert!(
        render::dashboard(&d, &tz("UTC"))
            .contains("Recently modified files (approximate, from a drive search)")
    );

    // A 401 fails the whole call, so the caller can refresh and retry.
    let (fake, g) = default();
    fake.set_valid_tokens(Some(vec!["other".into()]));
    assert!(
        g.dashboard("tok", ts("2026-10-23T06:00:00Z"), &tz("UTC"))
            .await
            .unwrap_err()
            .is_unauthorized()
    );
}

#[tokio::test]
async fn responses_are_size_capped_and_requests_time_out() {
    let (_fake, g) = default();
    let small = g.clone().with_max_body(64);
    let e = small.me("tok").await.unwrap_err();
    assert!(
        matches!(&e, GraphError::Malformed(m) if m.contains("limit")),
        "{e:?}"
    );

    let (fake, g) = default();
    fake.set_latency(Duration::from_millis(500));
    let t = Instant::now();
    let e = g
        .with_timeout(Duration::from_millis(100))
        .me("tok")
        .await
        .unwrap_err();
    assert!(t.elapsed() < Duration::from_millis(450));
    assert!(
        matches!(&e, GraphError::Network(m) if m.contains("timed out")),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_401_from_a_tenant_without_exchange_is_no_mailbox_not_a_bad_token() {
    // Real Graph answers mail/calendar/contacts with 401 OrganizationFromTenantGuidNotFound
    // for users without Exchange Online (docs/graph.md, "Messages"): refreshing the
    // token cannot help, and it is the existing "no mailbox" case.
    let (fake, g) = start(GraphOptions {
        tenant_without_exchange: true,
        ..GraphOptions::default()
    });
    let e = g.unread_mail("tok", None, 5).await.unwrap_err();
    assert!(matches!(e, GraphError::MailboxNotEnabled), "{e:?}");
    assert!(!e.is_unauthorized());
    assert!(e.to_string().contains("no Exchange Online mailbox"), "{e}");
    let e = g
        .birthdays(
            "tok",
            sidekey_services::BirthdayFilter::NextDays(3),
            date("2026-10-23"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, GraphError::MailboxNotEnabled), "{e:?}");
    let window =
        sidekey_services::Window::named("today", ts("2026-10-23T06:00:00Z"), &tz("UTC")).unwrap();
    let e = g.calendar("tok", &window, &tz("UTC")).await.unwrap_err();
    assert!(matches!(e, GraphError::MailboxNotEnabled), "{e:?}");
    assert!(g.files_search("tok", "budget", 5).await.is_ok());

    // The dashboard: those three sections say "no mailbox", files still show, one request.
    fake.clear_requests();
    let d = g
        .dashboard("tok", ts("2026-10-23T06:00:00Z"), &tz("UTC"))
        .await
        .unwrap();
    assert_eq!(fake.requests().len(), 1);
    for s in [
        &d.appointments.error_kind,
        &d.mail.error_kind,
        &d.birthdays.error_kind,
    ] {
        assert_eq!(*s, Some("mailbox_not_enabled"));
    }
    assert_eq!(d.files.error, None);
    assert_eq!(d.files.items.len(), 4);
    let text = render::dashboard(&d, &tz("UTC"));
    assert!(
        text.contains("Recently used files\n  Vacation.jpg"),
        "{text}"
    );
    assert!(
        text.contains(
            "Important unread mail\n  unavailable: this account has no Exchange Online mailbox"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn the_dashboard_reads_other_contact_folders_and_every_fallback_page() {
    use sidekey_testkit::{FakeContact, FakeContactFolder};
    let mut data = sidekey_testkit::GraphData::sample();
    data.contact_folders = vec![FakeContactFolder {
        id: "CF-FAMILY".into(),
        display_name: "Family".into(),
        parent: None,
        contacts: vec![FakeContact::new(
            "C-AUNT",
            "Aunt Agatha",
            Some("1950-10-24T22:00:00Z"),
        )],
    }];
    // /recent has nothing and the drive listing takes pages of 3.
    for f in &mut data.files {
        f.recent = false;
    }
    let (fake, g) = start(GraphOptions {
        data,
        page_size: 3,
        ..GraphOptions::default()
    });
    let d = g
        .dashboard("tok", ts("2026-10-23T06:00:00Z"), &tz("UTC"))
        .await
        .unwrap();
    let bd: Vec<(&str, String)> = d
        .birthdays
        .items
        .iter()
        .map(|b| (b.name.as_str(), b.next.to_string()))
        .collect();
    assert!(
        bd.contains(&("Aunt Agatha", "2026-10-25".to_string())),
        "{bd:?}"
    );
    assert_eq!(d.files_source, RecentSource::Search);
    let ids: Vec<&str> = d.files.items.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "F-QA",
            "F-OBRIEN",
            "F-BUDGET-DIR",
            "F-RESUME",
            "F-VACATION",
            "F-NOTEBOOK",
            "F-OLD"
        ],
        "all three pages of the listing, newest first"
    );
    assert!(!d.files.more);
    let posts = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 2, "the batch, then one for the folder's contacts");
}

/// Exchange serves 4 concurrent requests per app and mailbox; Graph runs a batch's
/// sub-requests 4 at a time (docs/graph.md, "Throttling"). Three dashboards at once put 12
/// mailbox reads on the mailbox: the ones that find no slot are answered 429
/// `ApplicationThrottled` and retried alone after their `Retry-After`, so every dashboard is
/// complete.
#[tokio::test]
async fn concurrent_dashboards_share_the_mailbox_and_all_complete() {
    let (fake, g) = default();
    let g = g.with_retry(6, Duration::from_secs(10));
    fake.set_latency(Duration::from_millis(150));
    let now = ts("2026-10-23T06:00:00Z");
    let berlin = tz("Europe/Berlin");
    let (a, b, c) = tokio::join!(
        g.dashboard("tok", now, &berlin),
        g.dashboard("tok", now, &berlin),
        g.dashboard("tok", now, &berlin)
    );
    assert!(fake.mailbox_throttled() > 0, "the mailbox was never full");
    for d in [a.unwrap(), b.unwrap(), c.unwrap()] {
        for (name, error) in [
            ("appointments", &d.appointments.error),
            ("mail", &d.mail.error),
            ("birthdays", &d.birthdays.error),
        ] {
            assert!(error.is_none(), "{name}: {error:?}");
        }
        assert_eq!(d.appointments.items.len(), 7);
        assert!(!d.mail.items.is_empty());
    }
}

/// Issue 23, item 5: the contact folders known from the last dashboard join its one `$batch`;
/// a folder deleted since (404 inside the batch) is dropped in that same request, one added
/// since costs one more.
#[tokio::test]
async fn known_contact_folders_join_the_one_batch_and_changes_are_seen() {
    use sidekey_testkit::{FakeContact, FakeContactFolder};
    let folder = |id: &str, who: &str, born: &str| FakeContactFolder {
        id: id.into(),
        display_name: id.into(),
        parent: None,
        contacts: vec![FakeContact::new(&format!("C-{id}"), who, Some(born))],
    };
    let family = folder("CF-FAMILY", "Aunt Agatha", "1950-10-24T22:00:00Z");
    let club = folder("CF-CLUB", "Chess Carl", "1970-10-26T00:00:00Z");
    let mut data = sidekey_testkit::GraphData::sample();
    data.contact_folders = vec![family.clone(), club.clone()];
    let (fake, g) = start(GraphOptions {
        data,
        ..GraphOptions::default()
    });
    let (now, utc) = (ts("2026-10-23T06:00:00Z"), tz("UTC"));
    let names = |d: &sidekey_services::Dashboard| {
        let mut n: Vec<String> = d.birthdays.items.iter().map(|b| b.name.clone()).collect();
        n.sort();
        n
    };
    let requests = |fake: &sidekey_testkit::FakeGraph| {
        let n = fake.requests().len();
        fake.clear_requests();
        n
    };

    // Nothing known: the folders' ids come first, their contacts in a second request.
    let (d, listed) = g.dashboard_with("tok", now, &utc, None).await.unwrap();
    assert_eq!(requests(&fake), 2);
    let listed = listed.unwrap();
    assert_eq!(listed, ["CF-FAMILY", "CF-CLUB"]);
    assert!(
        names(&d).contains(&"Aunt Agatha".to_string()),
        "{:?}",
        names(&d)
    );
    assert!(names(&d).contains(&"Chess Carl".to_string()));
    assert!(!d.birthdays.more);

    // Known: one request, the same birthdays, the same folders listed.
    let (d2, again) = g
        .dashboard_with("tok", now, &utc, Some(&listed))
        .await
        .unwrap();
    assert_eq!(requests(&fake), 1);
    assert_eq!(names(&d2), names(&d));
    assert_eq!(again.as_deref(), Some(&listed[..]));
    assert!(!d2.birthdays.more);

    // The club folder deleted: Graph answers 404 for it inside the batch; still one request,
    // nothing marked missing, and the listing says which folders are left.
    fake.set_contact_folders(vec![family.clone()]);
    let (d3, left) = g
        .dashboard_with("tok", now, &utc, Some(&listed))
        .await
        .unwrap();
    assert_eq!(requests(&fake), 1);
    assert!(!names(&d3).contains(&"Chess Carl".to_string()));
    assert!(names(&d3).contains(&"Aunt Agatha".to_string()));
    assert!(!d3.birthdays.more);
    assert_eq!(left.unwrap(), ["CF-FAMILY"]);

    // A folder added: the listing names it, its contacts come in one more request.
    let work = folder("CF-WORK", "Werner Work", "1980-10-25T00:00:00Z");
    fake.set_contact_folders(vec![family.clone(), work]);
    let (d4, now_listed) = g
        .dashboard_with("tok", now, &utc, Some(&["CF-FAMILY".to_string()]))
        .await
        .unwrap();
    assert_eq!(requests(&fake), 2);
    assert!(
        names(&d4).contains(&"Werner Work".to_string()),
        "{:?}",
        names(&d4)
    );
    assert_eq!(now_listed.unwrap(), ["CF-FAMILY", "CF-WORK"]);
}
