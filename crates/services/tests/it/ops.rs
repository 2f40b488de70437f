//! Each operation against FakeGraph: results, JSON shape, text, and hostile strings that must
//! stay text (quotes, `&`, `#`, `%`, `/`, non-ASCII) and never widen a query.

use crate::common;

use common::*;
use serde_json::json;
use sidekey_services::{BirthdayFilter, GraphError, RecentSource, render};
use sidekey_testkit::GraphOptions;

#[tokio::test]
async fn me_work_and_personal_accounts() {
    let (fake, g) = default();
    let me = g.me("tok").await.unwrap();
    assert_eq!(me.email.as_deref(), Some("ada@contoso.test"));
    assert_eq!(
        me.user_principal_name.as_deref(),
        Some("ada.lovelace@contoso.onmicrosoft.test")
    );
    assert_eq!(render::me(&me), "Ada Lovelace <ada@contoso.test>");
    let v = serde_json::to_value(&me).unwrap();
    assert_eq!(
        keys(&v),
        sorted(&["id", "display_name", "email", "mail", "user_principal_name"])
    );
    let r = &fake.requests()[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.header("authorization"), Some("Bearer tok"));
    assert_eq!(r.header("prefer"), Some(PREFER));

    let mut data = sidekey_testkit::GraphData::sample();
    data.user_name = "Julie Example".into();
    data.user_email = "julie@outlook.test".into();
    let (_fake, g) = start(GraphOptions {
        personal: true,
        data,
        ..GraphOptions::default()
    });
    let me = g.me("tok").await.unwrap();
    assert_eq!(me.mail, None, "personal accounts have mail: null");
    assert_eq!(me.email.as_deref(), Some("julie@outlook.test"));
    let v = serde_json::to_value(&me).unwrap();
    assert_eq!(v["mail"], json!(null));
    assert_eq!(v["email"], json!("julie@outlook.test"));
}

#[tokio::test]
async fn files_search_finds_names_with_quotes_and_symbols() {
    let (fake, g) = start(GraphOptions {
        personal: true,
        ..GraphOptions::default()
    });
    let hits = g.files_search("tok", "o'brien", 10).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].name, "O'Brien budget 2024.xlsx");
    assert_eq!(hits[0].parent_path.as_deref(), Some("/Documents/Finance"));
    assert_eq!(hits[0].size, Some(18_342));
    let raw = &fake.requests()[0].path_and_query;
    assert!(
        raw.starts_with("/v1.0/me/drive/root/search(q='o''brien')?"),
        "{raw}"
    );

    let hits = g
        .files_search("tok", "Q&A #1 — 100% done (Zoë's", 10)
        .await
        .unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].id, "F-QA");
    assert_eq!(hits[0].parent_path.as_deref(), Some("/Documents/Q&A #1"));
    let raw = &fake.requests()[1].path_and_query;
    for enc in ["%26", "%23", "%25", "%C3%AB", "''s"] {
        assert!(raw.contains(enc), "{enc} missing in {raw}");
    }

    assert_eq!(
        g.files_search("tok", "résumé", 10).await.unwrap()[0].id,
        "F-RESUME"
    );
    // Query syntax inside the term is text.
    for q in ["' or 1 eq 1", "')", "x'/..", "Documents/Q&A", "%27", "#2"] {
        let r = g.files_search("tok", q, 10).await;
        assert!(matches!(&r, Ok(v) if v.is_empty()), "{q}: {r:?}");
    }
    assert!(matches!(
        g.files_search("tok", "  ", 10).await,
        Err(GraphError::Invalid(_))
    ));
}

#[tokio::test]
async fn files_text_and_json_shape() {
    let (_fake, g) = start(GraphOptions {
        personal: true,
        ..GraphOptions::default()
    });
    let berlin = tz("Europe/Berlin");
    let hits = g.files_search("tok", "budget", 10).await.unwrap();
    assert_eq!(hits.len(), 2);
    let text = render::files(&hits, &berlin);
    assert!(
        text.contains("Budget/ (folder, 4 items)  in /Documents"),
        "{text}"
    );
    assert!(
        text.contains("O'Brien budget 2024.xlsx (17.9 KiB)  in /Documents/Finance  modified Thu 2026-10-22 12:15 CEST"),
        "{text}"
    );
    assert!(text.contains("\n    https://"), "{text}");
    let v = serde_json::to_value(&hits[0]).unwrap();
    assert_eq!(
        keys(&v),
        sorted(&[
            "id",
            "name",
            "folder",
            "child_count",
            "parent_path",
            "size",
            "modified",
            "web_url",
            "mime_type",
            "remote"
        ])
    );
    assert_eq!(v["modified"], json!("2026-10-22T10:15:00Z"));
    assert_eq!(render::files(&[], &berlin), "No files found.");

    // Business search results often lack parentReference.path: then it is null.
    let (_fake, g) = default();
    let hits = g.files_search("tok", "o'brien", 10).await.unwrap();
    assert_eq!(hits[0].parent_path, None);
    assert!(!render::files(&hits, &berlin).contains(" in "));
}

#[tokio::test]
async fn files_recent_reads_remote_items_and_falls_back_when_empty() {
    let (fake, g) = default();
    let r = g.files_recent_detailed("tok", 10).await.unwrap();
    assert_eq!(r.source, RecentSource::Recent);
    assert!(!r.approximate);
    // /recent's own order (most recently *used* first), not re-sorted by modification time:
    // Vacation.jpg was changed last week but opened this morning, and the shared item has no
    // lastModifiedDateTime at all (drive-recent.md's example).
    let names: Vec<&str> = r.items.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Vacation.jpg",
            "Q&A #1 — 100% done (Zoë's notes).docx",
            "March Proposal.docx",
            "O'Brien budget 2024.xlsx",
        ]
    );
    let shared = &r.items[2];
    assert!(shared.remote);
    assert_eq!(shared.size, Some(19_121), "size from remoteItem");
    assert_eq!(shared.modified, None);
    assert!(
        !render::recent_files(&r, &tz("UTC")).contains("approximate"),
        "{}",
        render::recent_files(&r, &tz("UTC"))
    );
    assert_eq!(fake.requests().len(), 1);

    // /recent answering nothing (deprecated): fall back to a drive search, newest first.
    let mut data = sidekey_testkit::GraphData::sample();
    for f in &mut data.files {
        f.recent = false;
    }
    let (fake, g) = start(GraphOptions {
        data,
        ..GraphOptions::default()
    });
    let r = g.files_recent_detailed("tok", 3).await.unwrap();
    assert_eq!(r.source, RecentSource::Search);
    assert!(r.approximate);
    let text = render::recent_files(&r, &tz("UTC"));
    assert!(
        text.starts_with("Recently modified files (approximate: "),
        "{text}"
    );
    let ids: Vec<&str> = r.items.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["F-QA", "F-OBRIEN", "F-BUDGET-DIR"]);
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[0].path_and_query.starts_with("/v1.0/me/drive/recent"));
    assert!(
        reqs[1]
            .path_and_query
            .starts_with("/v1.0/me/drive/root/search(q='')")
    );
    assert_eq!(g.files_recent("tok", 1).await.unwrap().len(), 1);
}

#[tokio::test]
async fn unread_mail_newest_first_with_filter_and_orderby_accepted() {
    let (fake, g) = default();
    let msgs = g.unread_mail("tok", None, 25).await.unwrap();
    let ids: Vec<&str> = msgs.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "M-OBRIEN",
            "M-OBRIEN2",
            "M-BILLING",
            "M-NEWS",
            "M-CEO",
            "M-INJECT",
            "M-UMLAUT"
        ],
        "unread, inbox only, newest first"
    );
    let r = &fake.requests()[0];
    assert!(
        r.path_and_query
            .starts_with("/v1.0/me/mailFolders/inbox/messages?")
    );
    assert_eq!(
        param(r, "$filter").as_deref(),
        Some("receivedDateTime ge 1900-01-01T00:00:00Z and isRead eq false")
    );
    assert_eq!(
        param(r, "$orderby").as_deref(),
        Some("receivedDateTime desc")
    );
    let select = param(r, "$select").unwrap();
    for body_field in ["body", "bodyPreview", "uniqueBody"] {
        assert!(!select.split(',').any(|f| f == body_field));
    }

    let berlin = tz("Europe/Berlin");
    let text = render::mail(&msgs[..1], &berlin);
    assert_eq!(
        text,
        "Fri 2026-10-23 10:12 CEST  Siobhán O'Brien <o'brien@x.test>  Invoice #42 & \"urgent\" 100%/week  [!]  [attachment]"
    );
    let v = serde_json::to_value(&msgs[0]).unwrap();
    assert_eq!(
        keys(&v),
        sorted(&[
            "id",
            "subject",
            "from",
            "received",
            "is_read",
            "has_attachments",
            "importance",
            "flagged",
            "inference",
            "web_link"
        ])
    );
    assert_eq!(
        v["from"],
        json!({"name": "Siobhán O'Brien", "address": "o'brien@x.test"})
    );
    assert_eq!(v["received"], json!("2026-10-23T08:12:33Z"));
    assert_eq!(render::mail(&[], &berlin), "No unread mail.");
}

#[tokio::test]
async fn a_quote_in_a_sender_matches_only_that_sender() {
    let (fake, g) = default();
    let msgs = g
        .unread_mail("tok", Some("o'brien@x.test"), 25)
        .await
        .unwrap();
    let ids: Vec<&str> = msgs.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["M-OBRIEN"], "not obrien@x.test, not the archived one");
    let f = param(&fake.requests()[0], "$filter").unwrap();
    assert!(
        f.ends_with("and from/emailAddress/address eq 'o''brien@x.test'"),
        "{f}"
    );
    assert!(
        fake.requests()[0]
            .path_and_query
            .contains("%27o%27%27brien%40x.test%27")
    );

    // Case-insensitive like Exchange; non-ASCII addresses work.
    assert_eq!(
        g.unread_mail("tok", Some("O'BRIEN@X.TEST"), 5)
            .await
            .unwrap()
            .len(),
        1
    );
    let m = g
        .unread_mail("tok", Some("müller@example.test"), 5)
        .await
        .unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].subject, "Grüße aus München");

    // Injection attempts are just addresses nobody has.
    for evil in [
        "x' or isRead eq false or subject eq 'y@x.test",
        "a@b' or 1 eq 1 or 'a' eq 'a",
        "a@b') or (isRead eq false",
        "a@b&$top=1#%2F/",
    ] {
        let r = g.unread_mail("tok", Some(evil), 25).await;
        assert!(matches!(&r, Ok(v) if v.is_empty()), "{evil}: {r:?}");
    }
}

#[tokio::test]
async fn a_domain_filter_matches_the_domain_and_its_subdomains() {
    let (fake, g) = default();
    let msgs = g.unread_mail("tok", Some("x.test"), 25).await.unwrap();
    let ids: Vec<&str> = msgs.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["M-OBRIEN", "M-OBRIEN2", "M-BILLING", "M-NEWS"]);
    let f = param(&fake.requests()[0], "$filter").unwrap();
    assert!(
        !f.contains("endswith"),
        "Graph refuses endswith on messages: {f}"
    );
    let same = g.unread_mail("tok", Some("@X.test"), 2).await.unwrap();
    assert_eq!(same.len(), 2);
    assert!(
        g.unread_mail("tok", Some("nobody.test"), 5)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        g.unread_mail("tok", Some("@"), 5).await,
        Err(GraphError::Invalid(_))
    ));
}

#[tokio::test]
async fn mail_works_with_mail_readbasic_only() {
    let (_fake, g) = start(GraphOptions {
        granted_scopes: Some(vec!["User.Read".into(), "Mail.ReadBasic".into()]),
        ..GraphOptions::default()
    });
    let msgs = g
        .unread_mail("tok", Some("o'brien@x.test"), 5)
        .await
        .unwrap();
    assert_eq!(msgs.len(), 1);
}

#[tokio::test]
async fn birthdays_sorted_by_next_date_with_explicit_feb_29() {
    let (_fake, g) = default();
    let today = date("2026-10-23");
    let next = g
        .birthdays("tok", BirthdayFilter::NextDays(14), today)
        .await
        .unwrap();
    let got: Vec<(String, String, i32)> = next
        .iter()
        .map(|b| (b.name.clone(), b.next.to_string(), b.days_until))
        .collect();
    assert_eq!(
        got,
        [
            (
                "O'Neil \"Birthday\" & Co".to_string(),
                "2026-10-23".to_string(),
                0
            ),
            // 11:59Z stays on its day; 23:00Z (a UTC+1 client's local midnight) is the next
            // day: rounded to the nearest date, never shifted by the person's zone.
            ("Noon Birthday".to_string(), "2026-10-26".to_string(), 3),
            ("Late Evening".to_string(), "2026-10-28".to_string(), 5),
            ("Zoë D'Arcy".to_string(), "2026-11-01".to_string(), 9),
        ]
    );
    assert_eq!(next[0].turns, Some(46));
    assert_eq!(next[3].year, None, "1604 is Outlook's no-year placeholder");
    let text = render::birthdays(&next);
    assert!(
        text.starts_with("Fri 2026-10-23  O'Neil \"Birthday\" & Co (turns 46)  today\n"),
        "{text}"
    );
    assert!(
        text.contains("Sun 2026-11-01  Zoë D'Arcy  in 9 days"),
        "{text}"
    );

    let feb = g
        .birthdays("tok", BirthdayFilter::Month(2), today)
        .await
        .unwrap();
    assert_eq!(feb.len(), 1);
    assert_eq!(
        feb[0].next.to_string(),
        "2027-02-28",
        "Feb 29 → Feb 28 in 2027"
    );
    assert_eq!(feb[0].turns, Some(27));
    assert!(render::birthdays(&feb).contains("(born Feb 29)"));

    let oct = g
        .birthdays("tok", BirthdayFilter::Month(10), today)
        .await
        .unwrap();
    assert_eq!(oct.len(), 3);
    let v = serde_json::to_value(&oct[0]).unwrap();
    assert_eq!(
        keys(&v),
        sorted(&[
            "contact_id",
            "name",
            "month",
            "day",
            "year",
            "next",
            "days_until",
            "turns"
        ])
    );
    assert_eq!(v["next"], json!("2026-10-23"));

    let dec = g
        .birthdays("tok", BirthdayFilter::Month(12), date("2026-12-25"))
        .await
        .unwrap();
    assert_eq!(
        dec[0].next.to_string(),
        "2027-12-24",
        "passed this year → next year"
    );

    for bad in [
        BirthdayFilter::Month(0),
        BirthdayFilter::Month(13),
        BirthdayFilter::NextDays(400),
    ] {
        assert!(matches!(
            g.birthdays("tok", bad, today).await,
            Err(GraphError::Invalid(_))
        ));
    }
    assert_eq!(render::birthdays(&[]), "No birthdays.");
}

#[tokio::test]
async fn the_recent_fallback_reads_every_page_up_to_the_cap_before_sorting() {
    // search(q='') lists the drive in search (relevance) order, not by date: with 250 items in
    // pages of 50, the newest file is on the fifth page.
    let mut data = sidekey_testkit::GraphData::sample();
    for f in &mut data.files {
        f.recent = false;
    }
    let template = data.files[0].clone();
    for i in 0..250 {
        let mut f = template.clone();
        f.id = format!("F-BULK-{i}");
        f.name = format!("bulk {i}.xlsx");
        f.modified = if i == 240 {
            "2026-10-23T09:00:00Z".into()
        } else {
            format!("2025-01-01T00:{:02}:00Z", i % 60)
        };
        data.files.push(f);
    }
    let (fake, g) = start(GraphOptions {
        data,
        ..GraphOptions::default()
    });
    let r = g.files_recent_detailed("tok", 2).await.unwrap();
    assert_eq!(r.source, RecentSource::Search);
    let ids: Vec<&str> = r.items.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["F-BULK-240", "F-QA"]);
    let pages = fake
        .requests()
        .iter()
        .filter(|r| r.path_and_query.contains("search("))
        .count();
    assert_eq!(
        pages, 6,
        "every page of the drive listing (257 items, 50 a page)"
    );

    // The page cap still bounds it.
    let r = g
        .clone()
        .with_page_cap(2)
        .files_recent_detailed("tok", 2)
        .await
        .unwrap();
    assert_ne!(r.items[0].id, "F-BULK-240", "not on the first two pages");
}

#[tokio::test]
async fn birthdays_from_other_contact_folders_and_their_child_folders() {
    use sidekey_testkit::{FakeContact, FakeContactFolder};
    let mut data = sidekey_testkit::GraphData::sample();
    data.contact_folders = vec![
        FakeContactFolder {
            id: "CF-FAMILY".into(),
            display_name: "Family".into(),
            parent: None,
            contacts: vec![
                FakeContact::new("C-AUNT", "Aunt Agatha", Some("1950-10-25T00:00:00Z")),
                FakeContact::new("C-UNCLE", "Uncle Bob", Some("1952-03-01T00:00:00Z")),
                FakeContact::new("C-NIECE", "Niece Nora", Some("2010-10-30T00:00:00Z")),
            ],
        },
        FakeContactFolder {
            id: "CF-COUSINS".into(),
            display_name: "Cousins".into(),
            parent: Some("CF-FAMILY".into()),
            contacts: vec![FakeContact::new(
                "C-COUSIN",
                "Cousin Carl",
                Some("1990-10-24T00:00:00Z"),
            )],
        },
    ];
    // Pages of 2: every folder's contacts take more than one page.
    let (_fake, g) = start(GraphOptions {
        data,
        page_size: 2,
        ..GraphOptions::default()
    });
    let today = date("2026-10-23");
    let next = g
        .birthdays("tok", BirthdayFilter::NextDays(14), today)
        .await
        .unwrap();
    let names: Vec<&str> = next.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "O'Neil \"Birthday\" & Co",
            "Cousin Carl",
            "Aunt Agatha",
            "Noon Birthday",
            "Late Evening",
            "Niece Nora",
            "Zoë D'Arcy"
        ]
    );
}

#[tokio::test]
async fn birthdays_stored_as_local_midnight_the_day_before_are_on_their_day() {
    // Ulla Plus was born on 18 November; a UTC+2 client stored 1988-11-17T22:00:00Z.
    let (_fake, g) = default();
    let nov = g
        .birthdays("tok", BirthdayFilter::Month(11), date("2026-10-23"))
        .await
        .unwrap();
    let got: Vec<(&str, String, Option<i16>)> = nov
        .iter()
        .map(|b| (b.name.as_str(), b.next.to_string(), b.year))
        .collect();
    assert_eq!(
        got,
        [
            ("Zoë D'Arcy", "2026-11-01".to_string(), None),
            ("Ulla Plus", "2026-11-18".to_string(), Some(1988)),
        ]
    );
}
