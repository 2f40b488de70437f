//! The Docs client against the fake Docs: every batch is pinned to the revision it was computed
//! from, and a refused batch is told apart by the document's revision, not by Google's words
//! (docs/google-drive.md, "Writes and the person's edits").

use std::time::Duration;

use serde_json::json;
use sidekey_services::google::{GoogleError, GoogleHttp};
use sidekey_services::google_docs::{Docs, Revision, requests_for};
use sidekey_testkit::google::DOC_MIME;
use sidekey_testkit::{FakeGoogle, GoogleOptions};

fn docs(fake: &FakeGoogle) -> Docs {
    let http = sidekey_net::client_builder(Duration::from_secs(10))
        .build()
        .unwrap();
    Docs::new(GoogleHttp::new(http), &fake.base_url())
}

#[tokio::test]
async fn a_refused_batch_is_a_change_only_when_the_revision_moved() {
    let fake = FakeGoogle::start(GoogleOptions::default());
    let id = fake.app_creates_file("tv", None, "D", DOC_MIME, b"draft");
    let d = docs(&fake);
    let read = d.get("tok", &id).await.unwrap();
    let rev = read
        .revision_id
        .clone()
        .expect("documents.get answers revisionId");

    // A batch Docs refuses for itself (it deletes the final newline), pinned to the latest
    // revision: Google's own 400 stands, it is not reported as someone's edit.
    let bad =
        [json!({"deleteContentRange": {"range": {"startIndex": 1, "endIndex": read.end_index}}})];
    let e = d.batch_update("tok", &id, &bad, &rev).await.unwrap_err();
    assert!(
        matches!(&e, GoogleError::Api { status: 400, reason, .. } if reason == "INVALID_ARGUMENT"),
        "{e:?}"
    );
    assert_eq!(fake.content(&id).unwrap(), "draft\n");

    // The person edits: a good batch pinned to the revision read before is refused as a change,
    // and nothing of it is written.
    fake.person_edits(&id, "theirs");
    let append = Revision::Append {
        text: "mine".into(),
    };
    let e = d
        .batch_update(
            "tok",
            &id,
            &requests_for(&append, read.end_index, &read.text),
            &rev,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, GoogleError::Changed { id: x } if x == &id),
        "{e:?}"
    );
    assert_eq!(e.kind(), "document_changed");
    assert!(e.to_string().contains("read it again"), "{e}");
    assert_eq!(fake.content(&id).unwrap(), "theirs\n");

    // Read again and pinned to the latest: written, and the answer names the new revision.
    let now = d.get("tok", &id).await.unwrap();
    let up = d
        .batch_update(
            "tok",
            &id,
            &requests_for(&append, now.end_index, &now.text),
            now.revision_id.as_deref().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(fake.content(&id).unwrap(), "theirs\nmine\n");
    assert_eq!(up.revision_id, fake.revision(&id));
    assert_ne!(up.revision_id, now.revision_id);
    let sent = fake.batch_updates();
    assert_eq!(sent.len(), 3);
    assert!(
        sent.iter()
            .all(|(_, b)| b["writeControl"]["requiredRevisionId"].is_string()),
        "{sent:?}"
    );
}
