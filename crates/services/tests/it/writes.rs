//! The writes against the fake Graph: what is sent again and what never is (docs/graph.md,
//! "Writes"). An event survives a lost answer because its `transactionId` makes the retry
//! harmless; a mail, an upload and a page are never sent a second time once their request went
//! out, only after Graph refused them (429).

use crate::common;

use std::time::Duration;

use common::*;
use sidekey_services::GraphError;
use sidekey_services::microsoft::write::{Conflict, EventDraft, MailDraft, PageDraft};
use sidekey_testkit::{FakeGraph, WriteFault};

fn dentist() -> EventDraft {
    EventDraft {
        subject: "Dentist".into(),
        start: ts("2026-12-08T09:00:00Z"),
        end: ts("2026-12-08T09:30:00Z"),
        location: Some("Main St 1".into()),
        attendees: vec!["bob@example.test".into()],
        body: Some("Bring the card".into()),
    }
}

fn lunch() -> MailDraft {
    MailDraft {
        to: vec!["bob@example.test".into()],
        cc: vec![],
        subject: "Lunch?".into(),
        body: "At noon".into(),
    }
}

/// The `transactionId` of each `POST /me/events` the fake received.
fn transaction_ids(fake: &FakeGraph) -> Vec<String> {
    fake.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path_and_query.ends_with("/me/events"))
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["transactionId"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn an_event_is_sent_again_after_a_lost_answer_and_made_once() {
    let berlin = tz("Europe/Berlin");
    for fault in [
        WriteFault::Status(500),
        WriteFault::Status(503),
        WriteFault::Hang,
    ] {
        let (fake, g) = default();
        let g = g.with_timeout(Duration::from_millis(600));
        fake.fail_after_write("/me/events", 1, fault);
        let created = g
            .create_event("tok", &dentist(), "tx-42", &berlin)
            .await
            .unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        assert_eq!(created.event.subject, "Dentist");
        assert_eq!(
            created.event.start.to_string(),
            "2026-12-08T10:00:00+01:00[Europe/Berlin]"
        );
        assert_eq!(created.attendees, ["bob@example.test"]);
        assert_eq!(transaction_ids(&fake), ["tx-42", "tx-42"], "{fault:?}");
        assert_eq!(fake.created_events().len(), 1, "{fault:?}");
        let e = &fake.created_events()[0];
        assert_eq!(
            (e.start.as_str(), e.time_zone.as_str()),
            ("2026-12-08T09:00:00Z", "UTC")
        );
        assert_eq!(e.body.as_deref(), Some("Bring the card"));
    }
    // Every answer lost: it may exist, and no more than the attempts went out.
    let (fake, g) = default();
    let g = g.with_retry(3, Duration::from_secs(5));
    fake.fail_after_write("/me/events", 10, WriteFault::Status(502));
    let e = g
        .create_event("tok", &dentist(), "tx-43", &berlin)
        .await
        .unwrap_err();
    assert!(matches!(e, GraphError::Unconfirmed(_)), "{e:?}");
    assert_eq!(transaction_ids(&fake).len(), 3);
    assert_eq!(fake.created_events().len(), 1);
}

#[tokio::test]
async fn a_mail_whose_request_went_out_is_never_sent_again() {
    for fault in [
        WriteFault::Status(500),
        WriteFault::Status(503),
        WriteFault::Hang,
    ] {
        let (fake, g) = default();
        let g = g.with_timeout(Duration::from_millis(600));
        fake.fail_after_write("/me/sendMail", 1, fault);
        let e = g.send_mail("tok", &lunch()).await.unwrap_err();
        assert!(matches!(e, GraphError::Unconfirmed(_)), "{fault:?}: {e:?}");
        assert_eq!(e.kind(), "unconfirmed");
        assert_eq!(fake.requests().len(), 1, "{fault:?}: sent once");
        assert_eq!(fake.sent_mails().len(), 1);
    }
    // Throttled: Graph did nothing, so it is sent again after Retry-After.
    let (fake, g) = default();
    fake.inject_429("/me/sendMail", 1, "0.05");
    g.send_mail("tok", &lunch()).await.unwrap();
    assert_eq!(fake.requests().len(), 2);
    assert_eq!(fake.sent_mails().len(), 1);
    let m = &fake.sent_mails()[0];
    assert_eq!(
        (
            m.to.clone(),
            m.subject.as_str(),
            m.body.as_str(),
            m.content_type.as_str()
        ),
        (
            vec!["bob@example.test".to_string()],
            "Lunch?",
            "At noon",
            "Text"
        )
    );
    assert!(m.save_to_sent_items);
    // A refused token: nothing sent, the caller may refresh and call again.
    let (fake, g) = default();
    let e = g.send_mail("not-the-token", &lunch()).await.unwrap_err();
    assert!(e.is_unauthorized(), "{e:?}");
    assert!(fake.sent_mails().is_empty());
}

#[tokio::test]
async fn uploads_never_overwrite_unless_asked() {
    let (fake, g) = default();
    let tz = tz("UTC");
    let first = g
        .upload_small("tok", "/Notes/plan #1.txt", b"first", Conflict::Fail)
        .await
        .unwrap();
    assert!(!first.replaced);
    assert_eq!(first.folder, "Notes");
    assert_eq!(first.item.name, "plan #1.txt");
    let e = g
        .upload_small("tok", "Notes/plan #1.txt", b"second", Conflict::Fail)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, GraphError::Request { status: 409, code, .. } if code == "nameAlreadyExists"),
        "{e:?}"
    );
    assert_eq!(fake.uploads()[0].content, b"first");
    let renamed = g
        .upload_small("tok", "Notes/plan #1.txt", b"third", Conflict::Rename)
        .await
        .unwrap();
    assert_eq!(renamed.item.name, "plan #1 1.txt");
    let replaced = g
        .upload_small("tok", "Notes/plan #1.txt", b"fourth", Conflict::Replace)
        .await
        .unwrap();
    assert!(replaced.replaced);
    assert_eq!(replaced.item.id, first.item.id);
    assert_eq!(fake.uploads()[0].content, b"fourth");
    assert!(
        sidekey_services::render::uploaded(&replaced, &tz)
            .starts_with("Replaced the content of Notes/plan #1.txt")
    );

    // Sent once even when the answer is lost; checked before anything is sent.
    fake.clear_requests();
    fake.fail_after_write(":/content", 1, WriteFault::Status(504));
    let e = g
        .upload_small("tok", "Notes/new.txt", b"x", Conflict::Fail)
        .await
        .unwrap_err();
    assert!(matches!(e, GraphError::Unconfirmed(_)), "{e:?}");
    assert_eq!(fake.requests().len(), 1);
    for bad in ["../x.txt", "Notes/a:b.txt", ""] {
        let e = g
            .upload_small("tok", bad, b"x", Conflict::Fail)
            .await
            .unwrap_err();
        assert!(matches!(e, GraphError::Invalid(_)), "{bad}: {e:?}");
    }
    let big = vec![0u8; sidekey_services::microsoft::write::MAX_SIMPLE_UPLOAD + 1];
    assert!(matches!(
        g.upload_small("tok", "big.bin", &big, Conflict::Fail).await,
        Err(GraphError::Invalid(_))
    ));
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_page_is_escaped_html_in_the_named_section() {
    let (fake, g) = default();
    let draft = PageDraft {
        section: "Agent notes".into(),
        title: "Plan <b>not bold</b> & co".into(),
        text: "1 < 2 & \"quoted\"\nsecond line\n\nnext paragraph".into(),
    };
    let page = g.create_page("tok", &draft).await.unwrap();
    assert_eq!(page.section, "Agent notes");
    assert!(page.web_url.is_some());
    let pages = fake.pages();
    assert_eq!(pages.len(), 1);
    // OneNote reads back exactly the text: nothing was taken as markup.
    assert_eq!(pages[0].title, draft.title);
    assert_eq!(pages[0].text, draft.text);
    assert!(pages[0].content_type.starts_with("text/html"));
    let r = fake.requests();
    assert_eq!(
        param(&r[0], "sectionName").as_deref(),
        Some("Agent notes"),
        "{}",
        r[0].path_and_query
    );
}
