//! `sidekey google …` end to end: the binary signs in against the fake Google identity server
//! and works on the fake Drive and Docs, which hide what `drive.file` hides (404 `notFound`),
//! refuse what Google refuses (`fileNotDownloadable`, `exportSizeLimitExceeded`, appDataFolder
//! without `drive.appdata`, a Docs batch that deletes the final newline) and answer in Google's
//! error shape.

use crate::common;
use crate::common::daemon_helpers;

use common::browser::approve;
use common::*;
use serde_json::Value;
use sidekey_testkit::google::DOC_MIME;
use sidekey_testkit::{Dialect, FakeGoogle, FakeIdp, GoogleOptions, Options};
use std::io::{Read, Write};
use std::time::Duration;

const WRITES: &str = "[\"google.inbox.add\", \"google.docs.create\", \"google.docs.revise\", \"google.memory.set\", \"google.memory.delete\"]";

fn config(idp: &FakeIdp, google: &FakeGoogle, drive_extra: &str, allow: Option<&str>) -> String {
    let mut t = account_toml("g", Dialect::Google, idp);
    t.push_str(&format!(
        "[accounts.g.drive]\napi_root = \"{0}\"\ndocs_root = \"{0}\"\n{drive_extra}\n",
        google.base_url()
    ));
    if let Some(a) = allow {
        t.push_str(&format!("[accounts.g.policy]\nallow = {a}\n"));
    }
    t
}

fn setup(
    opts: GoogleOptions,
    drive_extra: &str,
    allow: Option<&str>,
) -> (FakeIdp, FakeGoogle, Env) {
    let mut o = Options::new(Dialect::Google);
    o.auto_approve_after_polls = Some(1);
    setup_idp(o, opts, drive_extra, allow)
}

fn setup_idp(
    o: Options,
    opts: GoogleOptions,
    drive_extra: &str,
    allow: Option<&str>,
) -> (FakeIdp, FakeGoogle, Env) {
    let idp = FakeIdp::start(o);
    let google = FakeGoogle::start(opts);
    // Drive accepts what Google's authorization server issued, with the grant's scopes.
    google.trust(&idp, "tv");
    let env = Env::new(&config(&idp, &google, drive_extra, allow));
    let out = env.run(&["login", "g"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (idp, google, env)
}

fn json_of(env: &Env, args: &[&str]) -> Value {
    let out = env.run(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

fn write_file(env: &Env, name: &str, content: &[u8]) -> String {
    let p = env.dir.path().join(name);
    std::fs::write(&p, content).unwrap();
    p.display().to_string()
}

#[test]
fn inbox_add_list_read_and_the_invisible_drop() {
    let (idp, google, env) = setup(GoogleOptions::default(), "", Some(WRITES));
    let notes = write_file(&env, "notes.txt", b"buy milk\ncall O'Brien\n");
    let added = json_of(&env, &["google", "inbox", "add", &notes, "--json"]);
    let notes_id = added["id"].as_str().unwrap().to_string();
    let pdf = write_file(&env, "scan.pdf", b"%PDF-1.4 fake");
    let pdf_id = json_of(&env, &["google", "inbox", "add", &pdf, "--json"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let listing = json_of(&env, &["google", "inbox", "list", "--json"]);
    let inbox = listing["folder"]["id"].as_str().unwrap().to_string();
    assert_eq!(listing["folder"]["name"], "OpenClaw Inbox");
    // Exactly one folder was created, by sidekey, and reused.
    let folders: Vec<_> = google
        .files()
        .into_iter()
        .filter(|f| f.1 == "OpenClaw Inbox")
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");

    // The person drops a file into the folder in the Drive UI: invisible under drive.file.
    let dropped = google.person_adds_file(Some(&inbox), "dropped.txt", "text/plain", b"hidden");
    // sidekey's own Google Doc, an image and a trashed file.
    let doc = google.app_creates_file("tv", Some(&inbox), "Plan", DOC_MIME, b"# Plan\nship it");
    let img = google.app_creates_file("tv", Some(&inbox), "photo.png", "image/png", b"\x89PNG");
    let gone = google.app_creates_file("tv", Some(&inbox), "old.txt", "text/plain", b"old");
    google.trash(&gone);
    let listing = json_of(&env, &["google", "inbox", "list", "--json"]);
    let mut names: Vec<&str> = listing["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["Plan", "notes.txt", "photo.png", "scan.pdf"],
        "{listing}"
    );
    assert!(listing["note"].as_str().unwrap().contains("not visible"));
    let text = stdout(&env.run(&["google", "inbox", "list"]));
    assert!(text.contains("not visible to sidekey"), "{text}");

    // Read several at once: text, a Doc as Markdown, a PDF as base64, an image as metadata.
    let read = json_of(
        &env,
        &[
            "google", "inbox", "read", &notes_id, &doc, &pdf_id, &img, "--json",
        ],
    );
    let files = read["files"].as_array().unwrap();
    assert_eq!(files[0]["content"], "buy milk\ncall O'Brien\n");
    assert_eq!(files[1]["format"], "markdown");
    assert!(files[1]["content"].as_str().unwrap().contains("ship it"));
    assert_eq!(files[2]["format"], "pdf_base64");
    assert_eq!(files[3]["format"], "metadata");
    assert!(files[3]["content"].is_null());
    // The dropped file is Google's 404 notFound, with what to do instead.
    let out = env.run(&["google", "inbox", "read", &dropped]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("notFound"), "{}", stderr(&out));
    assert!(stderr(&out).contains("google pick"), "{}", stderr(&out));
    // Not one request went out with a bad id; the audit log keeps no names or ids.
    for bad in ["../x", "a?alt=media", ""] {
        assert_eq!(
            env.run(&["google", "inbox", "read", bad]).status.code(),
            Some(2)
        );
    }
    let log = std::fs::read_to_string(env.home.join("audit.log")).unwrap();
    assert!(log.contains("\"operation\":\"google.inbox.read\""), "{log}");
    assert!(
        !log.contains(&notes_id) && !log.contains("notes.txt"),
        "{log}"
    );
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}

#[test]
fn docs_search_escapes_hostile_quotes_and_sees_only_granted_files() {
    let (_idp, google, env) = setup(GoogleOptions::default(), "", None);
    let a = google.person_adds_file(None, "O'Brien budget", DOC_MIME, b"quarterly numbers");
    let b = google.person_adds_file(None, r"Budget\2026", DOC_MIME, b"plan");
    let _secret = google.person_adds_file(None, "Budget secret", DOC_MIME, b"quarterly secret");
    // What the Picker did earlier: two files granted to this client.
    google.grant("tv", &[a.clone(), b.clone()]);
    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    let hits = json_of(&env, &["google", "docs", "search", "budget", "--json"]);
    assert_eq!(names(&hits), ["Budget\\2026", "O'Brien budget"], "{hits}");
    let hits = json_of(&env, &["google", "docs", "search", "O'Brien", "--json"]);
    assert_eq!(names(&hits), ["O'Brien budget"]);
    let hits = json_of(
        &env,
        &["google", "docs", "search", r"Budget\2026", "--json"],
    );
    assert_eq!(names(&hits), ["Budget\\2026"]);
    // Injection attempts are text: they find nothing and break nothing.
    for hostile in [
        "' or name contains '",
        r"\' or trashed = true or name contains \'",
        r"x\",
        "') or (name contains 'B",
    ] {
        let hits = json_of(&env, &["google", "docs", "search", hostile, "--json"]);
        assert!(names(&hits).is_empty(), "{hostile}: {hits}");
    }
    // Content search reaches the text, still only over granted files.
    let hits = json_of(
        &env,
        &[
            "google",
            "docs",
            "search",
            "quarterly",
            "--content",
            "--json",
        ],
    );
    assert_eq!(names(&hits), ["O'Brien budget"]);
    let read = json_of(&env, &["google", "docs", "read", &a, "--json"]);
    assert_eq!(read["files"][0]["content"], "quarterly numbers\n");
}

/// Drive's `files.get` serves a trashed file by its id (with `"trashed": true`, when `fields`
/// asks for it), and so do `alt=media`, `export` and the Docs API: sidekey asks for `trashed`
/// and refuses to read what the person removed, in the inbox and among approved documents,
/// locally and through the daemon. Restored, it reads again.
#[test]
fn a_trashed_file_is_not_read() {
    let (_idp, google, env) = setup(GoogleOptions::default(), "", Some(WRITES));
    let notes = write_file(&env, "notes.txt", b"buy milk\n");
    let notes_id = json_of(&env, &["google", "inbox", "add", &notes, "--json"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let doc = google.app_creates_file("tv", None, "Plan", DOC_MIME, b"secret plan");
    let kept = json_of(&env, &["google", "inbox", "read", &notes_id, "--json"]);
    assert_eq!(kept["files"][0]["content"], "buy milk\n");
    google.trash(&notes_id);
    google.trash(&doc);
    for args in [
        vec!["google", "inbox", "read", notes_id.as_str()],
        vec!["google", "docs", "read", doc.as_str()],
    ] {
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(5), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("in the Drive trash"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!stdout(&out).contains("buy milk") && !stdout(&out).contains("secret plan"));
    }
    // Nor revised: the Docs API edits a trashed document by its id, and an edit the person
    // cannot see (it is in their trash) is not theirs to review.
    let out = env.run(&["google", "docs", "revise", &doc, "--append", "more plans"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("in the Drive trash"),
        "{}",
        stderr(&out)
    );
    assert!(!google.content(&doc).unwrap().contains("more plans"));
    // Among several, the trashed one is reported and the rest are read.
    let other = write_file(&env, "other.txt", b"still here\n");
    let other_id = json_of(&env, &["google", "inbox", "add", &other, "--json"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = env.run(&["google", "inbox", "read", &notes_id, &other_id, "--json"]);
    let text = stdout(&out);
    assert!(text.contains("still here"), "{text}");
    assert!(!text.contains("buy milk"), "{text}");
    assert!(text.contains("in the Drive trash"), "{text}");
    // Through the daemon, as the agent asks.
    let d = daemon_helpers::start_daemon(&env);
    let (s, body) = daemon_helpers::raw(
        &d.socket,
        "POST",
        "/v1/op",
        Some(daemon_helpers::API_KEY),
        Some(&format!(r#"{{"op":"google.docs.read","id":"{doc}"}}"#)),
    );
    assert!(!(200..300).contains(&s), "{s} {body}");
    assert!(body.contains("in the Drive trash"), "{body}");
    assert!(!body.contains("secret plan"), "{body}");
    drop(d);
    // Restored from the trash: readable again.
    google.restore(&doc);
    let back = json_of(&env, &["google", "docs", "read", &doc, "--json"]);
    assert!(
        back["files"][0]["content"]
            .as_str()
            .unwrap()
            .contains("secret plan"),
        "{back}"
    );
}

#[test]
fn docs_read_refuses_ungranted_and_oversized_exports() {
    let opts = GoogleOptions {
        export_limit: 100,
        ..GoogleOptions::default()
    };
    let (_idp, google, env) = setup(opts, "", None);
    let big = google.app_creates_file("tv", None, "Big", DOC_MIME, "x".repeat(500).as_bytes());
    let out = env.run(&["google", "docs", "read", &big]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("exportSizeLimitExceeded"),
        "{}",
        stderr(&out)
    );
    let theirs = google.person_adds_file(None, "Theirs", DOC_MIME, b"private");
    let out = env.run(&["google", "docs", "read", &theirs]);
    assert_eq!(out.status.code(), Some(5));
    assert!(stderr(&out).contains("File not found"), "{}", stderr(&out));
    assert!(!stdout(&out).contains("private"));
}

#[test]
fn docs_create_and_revise_need_the_policy_and_are_verified() {
    let (_idp, google, env) = setup(GoogleOptions::default(), "", None);
    let md = write_file(
        &env,
        "r.md",
        b"# Weekly report\n\n**Done**: the {{THING}}\n",
    );
    // Writes are refused unless the policy lists them.
    let out = env.run(&[
        "google", "docs", "create", "--title", "Weekly", "--from", &md,
    ]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(google.files().is_empty(), "nothing was created");

    env.write_config(&format!(
        "{}[accounts.g.policy]\nallow = {WRITES}\n",
        std::fs::read_to_string(&env.config).unwrap()
    ));
    let created = json_of(
        &env,
        &[
            "google", "docs", "create", "--title", "Weekly", "--from", &md, "--json",
        ],
    );
    assert_eq!(created["verified"], true);
    let id = created["file"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["file"]["mime_type"], DOC_MIME);
    let text = google.content(&id).unwrap();
    assert!(
        text.contains("Weekly report") && !text.contains("**"),
        "{text}"
    );

    let r = json_of(
        &env,
        &[
            "google",
            "docs",
            "revise",
            &id,
            "--replace",
            "{{THING}}",
            "--with",
            "launch 🚀",
            "--json",
        ],
    );
    assert_eq!(r["occurrences_changed"], 1, "{r}");
    json_of(
        &env,
        &[
            "google",
            "docs",
            "revise",
            &id,
            "--append",
            "Next: review",
            "--json",
        ],
    );
    let text = google.content(&id).unwrap();
    assert!(
        text.contains("launch 🚀") && text.ends_with("Next: review\n"),
        "{text:?}"
    );
    // Replace the body: everything but the final newline is deleted (UTF-16 indexes with the
    // emoji before it), then the new text goes in.
    let body = write_file(&env, "b.txt", "Fresh start ✓\nline two\n".as_bytes());
    json_of(
        &env,
        &[
            "google",
            "docs",
            "revise",
            &id,
            "--replace-body-from",
            &body,
            "--json",
        ],
    );
    assert_eq!(google.content(&id).unwrap(), "Fresh start ✓\nline two\n");
    // A doc the person never granted: Drive's 404 (its metadata is read first, for `trashed`).
    let theirs = google.person_adds_file(None, "Theirs", DOC_MIME, b"keep");
    let out = env.run(&["google", "docs", "revise", &theirs, "--append", "x"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("File not found"), "{}", stderr(&out));
    assert_eq!(google.content(&theirs).unwrap(), "keep\n");
}

/// The Docs batch is all-or-nothing and keeps the final newline, as Google's is.
#[test]
fn the_fake_docs_batch_is_atomic() {
    let google = FakeGoogle::start(GoogleOptions::default());
    let id = google.app_creates_file("tv", None, "D", DOC_MIME, b"abc");
    let body = r#"{"requests":[{"insertText":{"location":{"index":1},"text":"X"}},{"deleteContentRange":{"range":{"startIndex":1,"endIndex":6}}}]}"#;
    let (status, reply) = http_post(
        &format!("{}/v1/documents/{id}:batchUpdate", google.base_url()),
        body,
    );
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply.contains("newline character at the end of the segment"),
        "{reply}"
    );
    assert!(reply.contains("\"INVALID_ARGUMENT\""), "{reply}");
    assert_eq!(google.content(&id).unwrap(), "abc\n", "nothing applied");
}

/// Docs refuses a batch pinned (`writeControl.requiredRevisionId`) to a revision that is no
/// longer the latest, before looking at its requests, and changes nothing; pinned to the latest it
/// applies and answers the new revision (docs/google-drive.md, "Writes and the person's edits").
#[test]
fn the_fake_docs_refuses_a_stale_required_revision() {
    let google = FakeGoogle::start(GoogleOptions::default());
    let id = google.app_creates_file("tv", None, "D", DOC_MIME, b"draft");
    let url = format!("{}/v1/documents/{id}:batchUpdate", google.base_url());
    let read = google.revision(&id).unwrap();
    google.person_edits(&id, "the person's words");
    let latest = google.revision(&id).unwrap();
    assert_ne!(read, latest, "an edit makes a new revision");
    let pinned = |control: &str| {
        format!(
            r#"{{"requests":[{{"insertText":{{"location":{{"index":1}},"text":"X"}}}}],"writeControl":{{{control}}}}}"#
        )
    };
    let (status, reply) = http_post(&url, &pinned(&format!(r#""requiredRevisionId":"{read}""#)));
    assert_eq!(status, 400, "{reply}");
    assert!(reply.contains("\"FAILED_PRECONDITION\""), "{reply}");
    assert!(
        reply.contains(&format!(
            "The required revision ID '{read}' does not match the latest revision."
        )),
        "{reply}"
    );
    assert_eq!(google.content(&id).unwrap(), "the person's words\n");
    assert_eq!(
        google.revision(&id).unwrap(),
        latest,
        "a refusal is no write"
    );
    // Both controls at once: a oneof, refused.
    let (status, reply) = http_post(
        &url,
        &pinned(&format!(
            r#""requiredRevisionId":"{latest}","targetRevisionId":"{latest}""#
        )),
    );
    assert_eq!(status, 400, "{reply}");
    assert!(reply.contains("\"INVALID_ARGUMENT\""), "{reply}");
    assert_eq!(google.content(&id).unwrap(), "the person's words\n");
    // Pinned to the latest revision: applied, and the answer names the new one.
    let (status, reply) = http_post(
        &url,
        &pinned(&format!(r#""requiredRevisionId":"{latest}""#)),
    );
    assert_eq!(status, 200, "{reply}");
    assert_eq!(google.content(&id).unwrap(), "Xthe person's words\n");
    let after = google.revision(&id).unwrap();
    assert_ne!(after, latest);
    assert!(
        reply.contains(&format!(
            r#""writeControl":{{"requiredRevisionId":"{after}"}}"#
        )),
        "{reply}"
    );
    // Every body is kept, the refused ones too.
    let kept = google.batch_updates();
    assert_eq!(kept.len(), 3);
    assert_eq!(kept[0].0, id);
    assert_eq!(
        kept[0].1["writeControl"]["requiredRevisionId"],
        read.as_str()
    );
}

/// Every revision sidekey sends is pinned to the revision it read: `documents.get`, then
/// `documents.batchUpdate` with `writeControl.requiredRevisionId` = that read's `revisionId`
/// (docs/google-drive.md, "Writes and the person's edits").
#[test]
fn a_revision_is_pinned_to_the_revision_it_read() {
    let (_idp, google, env) = setup(GoogleOptions::default(), "", Some(WRITES));
    let doc = google.app_creates_file("tv", None, "Plan", DOC_MIME, b"the {{DAY}} plan");
    let body = write_file(&env, "b.txt", b"a new plan\n");
    let edits: [&[&str]; 3] = [
        &["--replace", "{{DAY}}", "--with", "Monday"],
        &["--append", "and then lunch"],
        &["--replace-body-from", &body],
    ];
    for (i, edit) in edits.iter().enumerate() {
        let read = google.revision(&doc).unwrap();
        let mut args = vec!["google", "docs", "revise", &doc];
        args.extend_from_slice(edit);
        args.push("--json");
        let r = json_of(&env, &args);
        assert_eq!(r["verified"], true, "{r}");
        let sent = google.batch_updates();
        assert_eq!(sent.len(), i + 1, "one write per revision: {sent:?}");
        let (id, b) = &sent[i];
        assert_eq!(id, &doc);
        assert_eq!(
            b["writeControl"],
            serde_json::json!({"requiredRevisionId": read}),
            "{edit:?}: {b}"
        );
        assert_ne!(
            google.revision(&doc).unwrap(),
            read,
            "the write made a new one"
        );
    }
    assert_eq!(google.content(&doc).unwrap(), "a new plan\n");
}

/// The person edits the document between sidekey's read and its write: Docs refuses the pinned
/// write, the person's text stays as they left it, and sidekey says so in one line (exit 5,
/// reason `document_changed`: read it again and retry), in the audit log, and to the agent
/// through the daemon. It writes nothing else.
#[test]
fn a_persons_edit_between_read_and_write_is_not_overwritten() {
    let (idp, google, env) = setup(GoogleOptions::default(), "", Some(WRITES));
    let doc = google.app_creates_file("tv", None, "Plan", DOC_MIME, b"the old plan");
    let body = write_file(&env, "b.txt", b"the agent's plan\n");
    let theirs = "the person's new plan, typed just now";
    google.person_edits_after_next_read(&doc, theirs);
    let out = env.run(&[
        "google",
        "docs",
        "revise",
        &doc,
        "--replace-body-from",
        &body,
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("changed since sidekey read it") && err.contains("read it again"),
        "{err}"
    );
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert_eq!(google.content(&doc).unwrap(), format!("{theirs}\n"));
    assert_eq!(google.batch_updates().len(), 1, "no second write");

    // The agent, through the daemon: the same refusal, with its reason word.
    google.person_edits_after_next_read(&doc, "the person again");
    let d = daemon_helpers::start_daemon(&env);
    let (s, reply) = daemon_helpers::raw(
        &d.socket,
        "POST",
        "/v1/op",
        Some(daemon_helpers::API_KEY),
        Some(&format!(
            r#"{{"op":"google.docs.revise","id":"{doc}","edit":{{"kind":"append","text":"the agent's note"}}}}"#
        )),
    );
    assert_eq!(s, 502, "{reply}");
    assert!(reply.contains("document_changed"), "{reply}");
    assert!(reply.contains("changed since sidekey read it"), "{reply}");
    drop(d);
    assert_eq!(google.content(&doc).unwrap(), "the person again\n");
    assert_eq!(google.batch_updates().len(), 2);

    let log = std::fs::read_to_string(env.home.join("audit.log")).unwrap();
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"operation\":\"google.docs.revise\""))
        .collect();
    assert_eq!(refused.len(), 2, "{log}");
    for l in refused {
        assert!(l.contains("\"outcome\":\"document_changed\""), "{l}");
        assert!(!l.contains(theirs) && !l.contains("agent's"), "{l}");
    }
    // Read again and retried: it goes through, on top of the person's text.
    json_of(
        &env,
        &[
            "google", "docs", "revise", &doc, "--append", "agreed", "--json",
        ],
    );
    assert_eq!(google.content(&doc).unwrap(), "the person again\nagreed\n");
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}

/// Google refuses the token right after an operation made its change (it expired, or the
/// person removed the app's access, between the write and the operation's next request: the
/// read-back of a created Doc, the verifying read of a revision). The operation is not run
/// again after a refresh — that would create a second document, or append a second time:
/// exactly one write reaches Google, and the answer says in one line that the change was made,
/// that it was not made again, and how to see it (exit 5, reason `written_unconfirmed`, in the
/// audit log). A 401 before any change is still answered with one refresh and one retry.
#[test]
fn a_change_is_not_made_twice_when_the_token_is_refused_after_it() {
    let (idp, google, env) = setup(GoogleOptions::default(), "", Some(WRITES));
    let doc = google.app_creates_file("tv", None, "Plan", DOC_MIME, b"ship it");
    // The inbox folder exists: the next write of `docs create` is its upload.
    json_of(&env, &["google", "inbox", "list", "--json"]);

    let md = write_file(&env, "r.md", b"# Weekly\nall good\n");
    google.revoke_token_after_next_write();
    let out = env.run(&[
        "google", "docs", "create", "--title", "Weekly", "--from", &md,
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("the change was made (created Google Doc \"Weekly\"")
            && err.contains("Google refused the access token of 'g' (HTTP 401)")
            && err.contains("it was not made again: read it back before running it again")
            && err.contains("`sidekey login g`"),
        "{err}"
    );
    let weekly: Vec<_> = google
        .files()
        .into_iter()
        .filter(|f| f.1 == "Weekly")
        .collect();
    assert_eq!(weekly.len(), 1, "a second document was created: {weekly:?}");
    assert!(
        err.contains(&format!("sidekey google docs read {}", weekly[0].0)),
        "{err}"
    );
    assert_eq!(
        idp.counters().refresh_requests,
        0,
        "refreshed to run it again"
    );

    // A revision: its first request meets the refused token (one refresh, one retry: nothing
    // was written yet), then the new token is refused after the batch, at the verifying read.
    google.revoke_token_after_next_write();
    let out = env.run(&["google", "docs", "revise", &doc, "--append", "then rest"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&format!("appended to Google Doc {doc}")),
        "{err}"
    );
    assert_eq!(idp.counters().refresh_successes, 1);
    assert_eq!(
        google.batch_updates().len(),
        1,
        "the revision was sent twice"
    );
    assert_eq!(google.content(&doc).unwrap(), "ship it\nthen rest\n");

    // The next call replaces the refused token (one refresh) and reads the one change.
    let read = json_of(&env, &["google", "docs", "read", &doc, "--json"]);
    assert!(read.to_string().contains("then rest"), "{read}");
    assert_eq!(idp.counters().refresh_successes, 2);

    let log = std::fs::read_to_string(env.home.join("audit.log")).unwrap();
    let failed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"outcome\":\"written_unconfirmed\""))
        .collect();
    assert_eq!(failed.len(), 2, "{log}");
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}

fn http_post(url: &str, body: &str) -> (u16, String) {
    let u = url::Url::parse(url).unwrap();
    let mut s = std::net::TcpStream::connect((u.host_str().unwrap(), u.port().unwrap())).unwrap();
    write!(
        s,
        "POST {} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t-test-token\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        u.path(),
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, resp)
}

#[test]
fn memory_needs_appdata_or_uses_a_visible_folder() {
    let (_idp, google, env) = setup(GoogleOptions::default(), "", Some(WRITES));
    // The device sign-in cannot hold drive.appdata: said before any request.
    google.clear_requests();
    let out = env.run(&["google", "memory", "list"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("drive.appdata") && err.contains("memory = \"folder\""),
        "{err}"
    );
    assert!(google.requests().is_empty());

    // The documented alternative: a visible folder.
    let cfg = std::fs::read_to_string(&env.config).unwrap().replace(
        "[accounts.g.drive]\n",
        "[accounts.g.drive]\nmemory = \"folder\"\n",
    );
    env.write_config(&cfg);
    let out = env.run(&["google", "memory", "set", "plan", "water the plants"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("visible"), "{}", stdout(&out));
    json_of(
        &env,
        &["google", "memory", "set", "plan", "buy seeds", "--json"],
    );
    let got = json_of(&env, &["google", "memory", "get", "plan", "--json"]);
    assert_eq!(got["value"], "buy seeds");
    let keys = json_of(&env, &["google", "memory", "list", "--json"]);
    assert_eq!(keys["keys"], serde_json::json!(["plan"]));
    assert_eq!(keys["store"], "folder");
    assert!(google.files().iter().any(|f| f.1 == "OpenClaw Memory"));
    json_of(&env, &["google", "memory", "delete", "plan", "--json"]);
    let out = env.run(&["google", "memory", "get", "plan"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("no memory key"), "{}", stderr(&out));
    assert_eq!(
        env.run(&["google", "memory", "get", "../etc"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn the_device_endpoint_refuses_drive_appdata_like_google() {
    let idp = FakeIdp::start(Options::new(Dialect::Google));
    let client = std::net::TcpStream::connect(
        url::Url::parse(&idp.base_url())
            .unwrap()
            .socket_addrs(|| None)
            .unwrap()[0],
    );
    let mut s = client.unwrap();
    let body = "client_id=test-client&scope=openid%20https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fdrive.appdata";
    write!(
        s,
        "POST /device/code HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(
        resp.contains("invalid_scope") && resp.contains("drive.appdata"),
        "{resp}"
    );
}

fn pick_flow(per_project: bool) {
    let mut o = Options::new(Dialect::Google);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    // The Desktop client of the same project: its own authorization server here.
    let mut d = Options::new(Dialect::Google);
    d.client_id = "desktop-client".into();
    d.client_secret = Some("desktop-secret".into());
    let desktop = FakeIdp::start(d);
    let google = FakeGoogle::start(GoogleOptions {
        per_project_grants: per_project,
        ..GoogleOptions::default()
    });
    google.trust(&idp, "tv");
    google.trust(&desktop, "desktop");
    let extra = format!(
        "picker_client_id = \"desktop-client\"\npicker_client_secret = \"desktop-secret\"\npicker_authorization_endpoint = \"{0}/o/oauth2/v2/auth\"\npicker_token_endpoint = \"{0}/token\"\n",
        desktop.base_url()
    );
    let env = Env::new(&config(&idp, &google, &extra, None));
    assert_eq!(env.run(&["login", "g"]).status.code(), Some(0));
    let a = google.person_adds_file(None, "Tax 2025", DOC_MIME, b"refund due");
    let b = google.person_adds_file(None, "notes.txt", "text/plain", b"hello");
    let a_ref: &str = &a;
    desktop.set_picked_files(&[a_ref, &b]);

    let started = json_of(&env, &["google", "pick", "--no-wait", "--json"]);
    let link = started["url"].as_str().unwrap().to_string();
    let q: std::collections::HashMap<String, String> = url::Url::parse(&link)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["trigger_onepick"], "true");
    assert_eq!(q["scope"], "https://www.googleapis.com/auth/drive.file");
    assert_eq!(q["client_id"], "desktop-client");
    assert_eq!(q["code_challenge_method"], "S256");
    // The person picks; Google grants the files to the Desktop client and redirects.
    let redirect = approve(&link);
    assert!(redirect.contains("picked_file_ids="), "{redirect}");
    google.grant("desktop", &[a.clone(), b.clone()]);
    // A forged state is refused and spends nothing.
    let forged = redirect.replace("state=", "state=x");
    let out = env.run(&["google", "pick", "--paste-url", &forged]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let done = json_of(
        &env,
        &["google", "pick", "--paste-url", &redirect, "--json"],
    );
    let vias: Vec<&str> = done["picked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["via"].as_str().unwrap())
        .collect();
    let expected = if per_project { "account" } else { "picker" };
    assert_eq!(vias, [expected, expected], "{done}");
    assert_eq!(done["picker_token_kept"], !per_project);
    // Either way the picked files are now the agent's to search and read.
    let hits = json_of(&env, &["google", "docs", "search", "Tax", "--json"]);
    assert_eq!(hits["files"][0]["id"], a.as_str(), "{hits}");
    let read = json_of(&env, &["google", "docs", "read", &a, "--json"]);
    assert_eq!(read["files"][0]["content"], "refund due\n");
    // The code was single-use.
    let again = env.run(&["google", "pick", "--paste-url", &redirect]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("no Picker link is waiting"),
        "{}",
        stderr(&again)
    );
    // Logging out forgets the Drive state too, the Picker client's tokens included.
    let slot = |env: &Env| {
        std::fs::read_dir(env.home.join("vault/accounts"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .any(|e| e.file_name().to_string_lossy().contains("gdrive"))
            })
            .unwrap_or(false)
    };
    assert!(slot(&env), "the Drive state is in the vault");
    assert_eq!(env.run(&["logout", "g"]).status.code(), Some(0));
    assert!(!slot(&env), "logout removed the Drive state");
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(desktop.issued_access_tokens());
    secrets.extend(desktop.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}

/// A signed-in Google account `g` with a Desktop (Picker) client of its own authorization
/// server, and one file `a` the person will pick.
struct PickSetup {
    _idp: FakeIdp,
    _desktop: FakeIdp,
    google: FakeGoogle,
    env: Env,
    a: String,
}

fn pick_setup() -> PickSetup {
    let mut o = Options::new(Dialect::Google);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let mut d = Options::new(Dialect::Google);
    d.client_id = "desktop-client".into();
    d.client_secret = Some("desktop-secret".into());
    let desktop = FakeIdp::start(d);
    let google = FakeGoogle::start(GoogleOptions::default());
    google.trust(&idp, "tv");
    google.trust(&desktop, "desktop");
    let extra = format!(
        "picker_client_id = \"desktop-client\"\npicker_client_secret = \"desktop-secret\"\npicker_authorization_endpoint = \"{0}/o/oauth2/v2/auth\"\npicker_token_endpoint = \"{0}/token\"\n",
        desktop.base_url()
    );
    let env = Env::new(&config(&idp, &google, &extra, None));
    assert_eq!(env.run(&["login", "g"]).status.code(), Some(0));
    let a = google.person_adds_file(None, "Tax 2025", DOC_MIME, b"refund due");
    desktop.set_picked_files(&[&a]);
    PickSetup {
        _idp: idp,
        _desktop: desktop,
        google,
        env,
        a,
    }
}

/// `google pick` waiting at the terminal: the child, and the Picker link it printed.
fn pick_waiting(env: &Env) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = env
        .cmd(&["google", "pick", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let link = loop {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "no Picker link printed"
        );
        if line.trim_start().starts_with("http") {
            break line.trim().to_string();
        }
    };
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    (child, link)
}

/// Twenty idle connections to the Picker's loopback listener (anyone on the machine can open
/// them) do not hold up the real redirect: each connection is served on its own, with a
/// deadline, and the first redirect carrying the pick's state wins.
#[test]
fn idle_connections_do_not_hold_the_picker_listener() {
    let PickSetup {
        _idp: _i,
        _desktop: _d,
        google,
        env,
        a,
    } = pick_setup();
    let (mut child, link) = pick_waiting(&env);
    let redirect = approve(&link);
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
    google.grant("desktop", std::slice::from_ref(&a));
    let u = url::Url::parse(&redirect).unwrap();
    let idle: Vec<std::net::TcpStream> = (0..20)
        .map(|_| std::net::TcpStream::connect((u.host_str().unwrap(), u.port().unwrap())).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let t0 = std::time::Instant::now();
    let browser = std::thread::spawn(move || common::browser::get(&redirect).0);
    let code = wait_timeout(&mut child, Duration::from_secs(15));
    let took = t0.elapsed();
    assert_eq!(code, 0);
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(browser.join().unwrap(), 200);
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let done: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(done["picked"][0]["id"], a.as_str(), "{done}");
    drop(idle);
}

/// The agent asks for the Picker link through the daemon, maybe more than once (it retries, or
/// a second task wants a file). A new link would invalidate the one the person already has
/// open (its `state` and PKCE verifier are replaced), so while that link is live the same one is
/// handed out again, and not sent to the person's channels twice. Once it is spent (the pick
/// finished or was declined) the next request makes a new one.
#[test]
fn pick_through_the_daemon_reuses_the_live_link() {
    let PickSetup {
        _idp: _i,
        _desktop: _d,
        google,
        env,
        a,
    } = pick_setup();
    let d = daemon_helpers::start_daemon(&env);
    let pick = || {
        let (s, body) = daemon_helpers::raw(
            &d.socket,
            "POST",
            "/v1/op",
            Some(daemon_helpers::API_KEY),
            Some(r#"{"op":"google.pick"}"#),
        );
        assert_eq!(s, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["result"]["url"].as_str().unwrap().to_string()
    };
    let first = pick();
    let second = pick();
    assert_eq!(
        first, second,
        "a second request replaced the link the person has"
    );
    // The person opens the link they were sent first: it still works.
    let redirect = approve(&first);
    assert!(redirect.contains("picked_file_ids="), "{redirect}");
    google.grant("desktop", std::slice::from_ref(&a));
    let done = json_of(
        &env,
        &["google", "pick", "--paste-url", &redirect, "--json"],
    );
    assert_eq!(done["picked"][0]["id"], a.as_str(), "{done}");
    // Spent: the next request is a new link.
    let third = pick();
    assert_ne!(third, first);
    assert_eq!(pick(), third);
}

/// A Picker link the person started at the terminal is theirs: the agent asking through the
/// daemon is told that the person has a pick waiting (exit 6) and gets neither the link nor its
/// state; a redirect the agent pastes (an error, a made-up code), even with the right state,
/// ends nothing. The person finishes with the link they have; then the agent may start its own.
#[test]
fn the_agent_neither_gets_nor_ends_the_persons_pick() {
    let PickSetup {
        _idp: _i,
        _desktop: _d,
        google,
        env,
        a,
    } = pick_setup();
    let started = json_of(&env, &["google", "pick", "--no-wait", "--json"]);
    let link = started["url"].as_str().unwrap().to_string();
    let q: std::collections::HashMap<String, String> = url::Url::parse(&link)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let (state, back) = (q["state"].clone(), q["redirect_uri"].clone());
    let d = daemon_helpers::start_daemon(&env);
    let op = |body: &str| {
        daemon_helpers::raw(
            &d.socket,
            "POST",
            "/v1/op",
            Some(daemon_helpers::API_KEY),
            Some(body),
        )
    };
    let (s, body) = op(r#"{"op":"google.pick"}"#);
    assert_eq!(s, 403, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["exit_code"], 6, "{v}");
    assert!(body.contains("the person has a Picker link"), "{body}");
    assert!(!body.contains(&state) && !body.contains("oauth2"), "{body}");
    // Its pastes, an error and a made-up code with the state it might have learned, end nothing.
    let drive_file = "https://www.googleapis.com/auth/drive.file";
    for pasted in [
        format!("{back}?error=access_denied&state={state}"),
        format!("{back}?code=4%2Fmade-up&scope={drive_file}&state={state}&picked_file_ids={a}"),
    ] {
        let (s, body) =
            op(&serde_json::json!({"op": "google.pick", "paste_url": pasted}).to_string());
        assert_eq!(s, 403, "{pasted}: {body}");
        assert!(body.contains("started at the terminal"), "{body}");
    }
    // The person's link still works.
    let redirect = approve(&link);
    google.grant("desktop", std::slice::from_ref(&a));
    let done = json_of(
        &env,
        &["google", "pick", "--paste-url", &redirect, "--json"],
    );
    assert_eq!(done["picked"][0]["id"], a.as_str(), "{done}");
    // Spent: the agent may now start a pick of its own.
    let (s, body) = op(r#"{"op":"google.pick"}"#);
    assert_eq!(s, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_ne!(v["result"]["url"], link.as_str());
    assert_eq!(v["result"]["reused"], false);
}

#[test]
fn pick_grants_per_client_keep_the_picker_token() {
    pick_flow(false);
}

#[test]
fn pick_grants_per_project_use_the_account_token() {
    pick_flow(true);
}

#[test]
fn the_picker_refuses_any_scope_but_drive_file() {
    let desktop = FakeIdp::start(Options::new(Dialect::Google));
    let url = format!(
        "{}/o/oauth2/v2/auth?response_type=code&client_id=test-client&redirect_uri=http://127.0.0.1:9/cb&scope=openid%20https://www.googleapis.com/auth/drive.file&state=s&code_challenge={}&code_challenge_method=S256&trigger_onepick=true",
        desktop.base_url(),
        "a".repeat(43)
    );
    let u = url::Url::parse(&url).unwrap();
    let mut s = std::net::TcpStream::connect((u.host_str().unwrap(), u.port().unwrap())).unwrap();
    write!(
        s,
        "GET {}?{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        u.path(),
        u.query().unwrap()
    )
    .unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
}

#[test]
fn a_testing_mode_project_is_warned_about_at_sign_in_and_in_status() {
    let mut o = Options::new(Dialect::Google);
    o.auto_approve_after_polls = Some(1);
    o.google_testing_mode = true;
    let idp = FakeIdp::start(o);
    let google = FakeGoogle::start(GoogleOptions::default());
    let env = Env::new(&config(&idp, &google, "", None));
    let out = env.run(&["login", "g"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains("Testing") && said.contains("Publish app"),
        "{said}"
    );
    let status = json_of(&env, &["status", "g", "--json"]);
    let note = status.to_string();
    assert!(
        note.contains("7 days") && note.contains("In production"),
        "{note}"
    );
    let text = stdout(&env.run(&["status"]));
    assert!(text.contains("Publish app"), "{text}");

    // A published project: no warning.
    let mut o = Options::new(Dialect::Google);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let env = Env::new(&config(&idp, &google, "", None));
    let out = env.run(&["login", "g"]);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!said.contains("Testing"), "{said}");
    assert!(
        !json_of(&env, &["status", "g", "--json"])
            .to_string()
            .contains("Testing")
    );
}

/// With a Desktop client (`flow = "code"`) the sign-in can hold drive.appdata: memory lives in
/// the hidden appDataFolder, never in a Drive listing.
#[test]
fn memory_in_app_data_with_a_code_flow_sign_in() {
    let idp = FakeIdp::start(Options::new(Dialect::Google));
    let google = FakeGoogle::start(GoogleOptions::default());
    // The grant holds drive.appdata because the code-flow sign-in asked for it.
    google.trust(&idp, "tv");
    let cfg = config(&idp, &google, "", Some(WRITES))
        .replace(
            "scopes = [\"openid\", \"email\", \"profile\", \"drive.file\"]",
            "scopes = [\"openid\", \"email\", \"drive.file\", \"drive.appdata\"]",
        )
        .replace(
            "provider = \"google\"\n",
            &format!(
                "provider = \"google\"\nflow = \"code\"\nauthorization_endpoint = \"{}/o/oauth2/v2/auth\"\n",
                idp.base_url()
            ),
        );
    let env = Env::new(&cfg);
    let out = env.run(&["login", "g", "--no-wait", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let ev: Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    let redirect = approve(ev["verification_uri"].as_str().unwrap());
    let out = env.run(&["login", "g", "--paste-url", &redirect]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let out = env.run(&["google", "memory", "set", "likes", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out)); // stdin is empty: an empty value
    json_of(
        &env,
        &[
            "google",
            "memory",
            "set",
            "likes",
            "tea, not coffee",
            "--json",
        ],
    );
    assert_eq!(
        json_of(&env, &["google", "memory", "get", "likes", "--json"])["value"],
        "tea, not coffee"
    );
    let keys = json_of(&env, &["google", "memory", "list", "--json"]);
    assert_eq!(keys["store"], "appdata");
    assert_eq!(keys["keys"], serde_json::json!(["likes"]));
    let files = google.files();
    assert!(files.iter().all(|f| f.4), "only appData files: {files:?}");
    assert!(
        google
            .requests()
            .iter()
            .any(|r| r.contains("spaces=appDataFolder")),
        "listed in the appDataFolder space"
    );
    let inbox = json_of(&env, &["google", "inbox", "list", "--json"]);
    assert_eq!(inbox["files"].as_array().unwrap().len(), 0, "{inbox}");
}

/// Through the daemon (`POST /v1/op`), as the agent calls it: reads run, writes need the
/// policy, and a 401 from Google refreshes once and retries.
#[test]
fn the_agent_calls_google_through_the_daemon() {
    let (idp, google, env) = setup(
        GoogleOptions::default(),
        "",
        Some("[\"google.docs.create\"]"),
    );
    let d = daemon_helpers::start_daemon(&env);
    let op = |body: &str| {
        daemon_helpers::raw(
            &d.socket,
            "POST",
            "/v1/op",
            Some(daemon_helpers::API_KEY),
            Some(body),
        )
    };
    let (s, body) = op(r#"{"op":"google.inbox.list"}"#);
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("OpenClaw Inbox"), "{body}");
    let (s, body) = op(r##"{"op":"google.docs.create","title":"Draft","markdown":"# Hi\nthere"}"##);
    assert_eq!(s, 200, "{body}");
    // A long draft is a big request body: /v1/op takes it (the other routes keep 64 KiB).
    let long = "A paragraph of the weekly report.\\n".repeat(10_000);
    let (s, body) = op(&format!(
        r#"{{"op":"google.docs.create","title":"Long draft","markdown":"{long}"}}"#
    ));
    assert_eq!(s, 200, "{body}");
    // Beyond any upload: said plainly, not "expected a JSON body".
    let (s, body) = op(&format!(
        r#"{{"op":"google.docs.create","title":"Huge","markdown":"{}"}}"#,
        "x".repeat(9 * 1024 * 1024)
    ));
    assert_eq!(s, 400, "{}", &body[..body.len().min(300)]);
    assert!(body.contains("larger than the daemon accepts"), "{body}");
    // Not in the policy's allow list: refused before Google sees anything.
    google.clear_requests();
    let (s, body) = op(r#"{"op":"google.memory.set","key":"k","value":"v"}"#);
    assert_eq!(s, 403, "{body}");
    assert!(body.contains("\"policy\""), "{body}");
    let (s, body) = op(
        r#"{"op":"google.inbox.add","name":"a.txt","mime_type":"text/plain","content_base64":"aGk="}"#,
    );
    assert_eq!(s, 403, "{body}");
    assert!(google.requests().is_empty(), "{:?}", google.requests());
    // Bad arguments: 400-class, no request.
    let (s, body) = op(r#"{"op":"google.docs.read","id":"../../drive/v3/files"}"#);
    assert!((400..500).contains(&s), "{s} {body}");
    assert!(google.requests().is_empty());

    // Google stops accepting the access token: one refresh, one retry, then success.
    google.revoke_tokens(&idp.issued_access_tokens());
    let before = idp.counters().refresh_successes;
    let (s, body) = op(r#"{"op":"google.inbox.list"}"#);
    assert_eq!(s, 200, "{body}");
    assert_eq!(idp.counters().refresh_successes, before + 1);
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    for t in &secrets {
        assert!(!body.contains(t.as_str()));
    }
    let log = std::fs::read_to_string(env.home.join("audit.log")).unwrap();
    assert!(log.contains("google.memory.set"), "{log}");
}

/// The Python that has Google's own client (tests/google-client/.venv, made by `scripts/test`), else
/// `GOOGLE_CLIENT_PYTHON`. `None` (skipped, said so) only outside CI.
fn google_client_python() -> Option<std::path::PathBuf> {
    test_python(
        "google-client",
        "GOOGLE_CLIENT_PYTHON",
        "googleapiclient",
        "google-api-python-client",
    )
}

/// Google's own Python client (google-api-python-client, requests built from Google's discovery
/// documents) against the fake: multipart uploads, query escaping, alt=media, export, and the
/// error shapes its HttpError parses (reason `fileNotDownloadable`, `notFound`).
#[test]
fn googles_python_client_accepts_the_fake() {
    let Some(py) = google_client_python() else {
        return;
    };
    let google = FakeGoogle::start(GoogleOptions::default());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/google-client/check_fake.py"
    );
    let out = std::process::Command::new(py)
        .arg(script)
        .arg(google.base_url())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(said.contains("all checks passed"), "{said}");
}

/// `inbox read` with an id given twice is a usage error (exit 2) before any Drive request (one
/// id 50 times used to make 100 Drive requests and a 133 MiB reply).
#[test]
fn inbox_read_refuses_a_duplicate_id_before_any_request() {
    let (_idp, google, env) = setup(GoogleOptions::default(), "", None);
    let listing = json_of(&env, &["google", "inbox", "list", "--json"]);
    let inbox = listing["folder"]["id"].as_str().unwrap().to_string();
    let a = google.app_creates_file("tv", Some(&inbox), "a.txt", "text/plain", b"a");
    google.clear_requests();
    let out = env.run(&["google", "inbox", "read", &a, "x1", &a]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("given twice"), "{}", stderr(&out));
    assert!(google.requests().is_empty(), "{:?}", google.requests());
}

/// One read returns at most 10 MB of file content: six 1.9 MB text files are five read and
/// one listed with a note to read it on its own, whichever finishes first; the reply stays
/// bounded, and the file read alone comes back whole.
#[test]
fn inbox_read_stops_at_its_reply_budget() {
    let (_idp, google, env) = setup(GoogleOptions::default(), "", None);
    let listing = json_of(&env, &["google", "inbox", "list", "--json"]);
    let inbox = listing["folder"]["id"].as_str().unwrap().to_string();
    let big = vec![b'x'; 1_900_000];
    let ids: Vec<String> = (0..6)
        .map(|i| {
            google.app_creates_file("tv", Some(&inbox), &format!("f{i}.txt"), "text/plain", &big)
        })
        .collect();
    let mut args = vec!["google", "inbox", "read", "--json"];
    args.extend(ids.iter().map(String::as_str));
    let out = env.run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        out.stdout.len() < 12 * 1024 * 1024,
        "{} bytes",
        out.stdout.len()
    );
    let read: Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = read["files"].as_array().unwrap();
    let text: Vec<&Value> = files.iter().filter(|f| f["format"] == "text").collect();
    let skipped: Vec<&Value> = files.iter().filter(|f| f["format"] == "metadata").collect();
    assert_eq!((text.len(), skipped.len()), (5, 1), "{files:?}");
    assert!(
        skipped[0]["note"]
            .as_str()
            .unwrap()
            .contains("read this file on its own"),
        "{}",
        skipped[0]["note"]
    );
    let alone = json_of(
        &env,
        &[
            "google",
            "inbox",
            "read",
            "--json",
            skipped[0]["file"]["id"].as_str().unwrap(),
        ],
    );
    assert_eq!(
        alone["files"][0]["content"].as_str().unwrap().len(),
        1_900_000
    );
}

#[test]
fn an_expired_cached_token_is_refreshed_and_drive_and_docs_get_only_the_new_one() {
    // Every token lives 30 s: inside the refresh margin, so each run finds it due.
    let mut o = Options::new(Dialect::Google);
    o.auto_approve_after_polls = Some(1);
    o.access_token_ttl = 30;
    let (idp, google, env) = setup_idp(o, GoogleOptions::default(), "", Some(WRITES));
    let doc = google.app_creates_file("tv", None, "Plan", DOC_MIME, b"ship it");
    for args in [
        &["google", "inbox", "list"][..],
        &["google", "docs", "revise", &doc, "--append", "then rest"],
    ] {
        // The cached token has expired at Google too: Drive and Docs refuse it.
        idp.expire_access_tokens();
        let before = idp.issued_access_tokens();
        google.clear_requests();
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let issued = idp.issued_access_tokens();
        assert_eq!(issued.len(), before.len() + 1, "{args:?}: one refresh");
        let new = issued.last().unwrap();
        let sent = google.bearer_tokens();
        assert!(!sent.is_empty(), "{args:?}");
        assert!(
            sent.iter().all(|t| t == new),
            "{args:?}: Google received a token from before the refresh"
        );
    }
    assert!(
        google
            .requests()
            .iter()
            .any(|r| r.contains("/v1/documents/")),
        "the Docs API was called: {:?}",
        google.requests()
    );
    assert!(google.content(&doc).unwrap().contains("then rest"));
}

#[test]
fn drive_file_left_unticked_at_sign_in_is_named_with_what_to_do() {
    // Google's granular consent: the person unticks "See, edit, create and delete only the
    // specific Google Drive files you use with this app"; the token response's `scope` lacks it.
    let mut o = Options::new(Dialect::Google);
    o.auto_approve_after_polls = Some(1);
    o.withheld_scopes = vec!["https://www.googleapis.com/auth/drive.file".into()];
    let (_idp, google, env) = setup_idp(o, GoogleOptions::default(), "", None);
    google.clear_requests();
    let out = env.run(&["google", "inbox", "list"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("drive.file"), "{err}");
    assert!(err.contains("was asked for but not granted"), "{err}");
    assert!(err.contains("run `sidekey login g` and grant it"), "{err}");
    assert!(!err.contains("add \"drive.file\""), "{err}");
    assert!(google.requests().is_empty(), "refused before calling Drive");
}
