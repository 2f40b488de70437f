//! The fake Graph's writes answer as Graph documents them (docs/graph.md, "Writes"): an event
//! with its `transactionId`, a mail's 202, an upload's conflict behaviours, a OneNote page in a
//! section by name; each behind its scope, and each recorded so a test can count what was made.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};
use sidekey_testkit::{FakeGraph, GraphOptions, WriteFault};

use crate::http::{Resp, get, request};

const AUTH: (&str, &str) = ("Authorization", "Bearer tok");

fn post_json(g: &FakeGraph, path: &str, body: &Value) -> Resp {
    request(
        "POST",
        &format!("{}{path}", g.base_url()),
        &[AUTH, ("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

fn put(g: &FakeGraph, path_and_query: &str, content: &[u8]) -> Resp {
    request(
        "PUT",
        &format!("{}{path_and_query}", g.base_url()),
        &[AUTH, ("Content-Type", "application/octet-stream")],
        content,
    )
}

fn code(r: &Resp) -> String {
    r.json()["error"]["code"].as_str().unwrap_or("").to_string()
}

fn with_scopes(scopes: &[&str]) -> FakeGraph {
    FakeGraph::start(GraphOptions {
        granted_scopes: Some(scopes.iter().map(|s| s.to_string()).collect()),
        ..GraphOptions::default()
    })
}

fn event(tx: &str) -> Value {
    json!({
        "subject": "Dentist",
        "start": {"dateTime": "2026-12-08T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-08T09:30:00", "timeZone": "UTC"},
        "attendees": [{"emailAddress": {"address": "bob@example.test"}, "type": "required"}],
        "transactionId": tx,
    })
}

#[test]
fn an_event_is_created_once_per_transaction_id() {
    let g = FakeGraph::start(GraphOptions::default());
    let first = post_json(&g, "/me/events", &event("tx-1"));
    assert_eq!(first.status, 201, "{}", first.text());
    let v = first.json();
    assert_eq!(v["subject"], "Dentist");
    assert_eq!(v["transactionId"], "tx-1");
    assert_eq!(
        v["attendees"][0]["emailAddress"]["address"],
        "bob@example.test"
    );
    assert_eq!(v["start"]["dateTime"], "2026-12-08T09:00:00.0000000");
    // The same transactionId again: the first event, nothing new.
    let again = post_json(&g, "/me/events", &event("tx-1"));
    assert_eq!(again.status, 201, "{}", again.text());
    assert_eq!(again.json()["id"], v["id"]);
    assert_eq!(g.created_events().len(), 1);
    // Another one is another event.
    assert_eq!(post_json(&g, "/me/events", &event("tx-2")).status, 201);
    assert_eq!(g.created_events().len(), 2);

    // A zone Graph lists for dateTimeTimeZone is read in that zone; one it does not is refused.
    let mut berlin = event("tx-3");
    berlin["start"] = json!({"dateTime": "2026-12-08T10:00:00", "timeZone": "Europe/Berlin"});
    berlin["end"] = json!({"dateTime": "2026-12-08T10:30:00", "timeZone": "Europe/Berlin"});
    let r = post_json(&g, "/me/events", &berlin);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["start"]["dateTime"], "2026-12-08T09:00:00.0000000");
    let mut vienna = event("tx-4");
    vienna["start"]["timeZone"] = json!("Europe/Vienna");
    let r = post_json(&g, "/me/events", &vienna);
    assert_eq!(r.status, 400);
    assert_eq!(code(&r), "TimeZoneNotSupportedException");
    assert_eq!(g.created_events().len(), 3);

    // Created events are in the calendar view.
    let view = get(
        &format!(
            "{}/me/calendarView?startDateTime=2026-12-08T00:00:00Z&endDateTime=2026-12-09T00:00:00Z",
            g.base_url()
        ),
        &[AUTH],
    );
    assert_eq!(view.status, 200, "{}", view.text());
    assert_eq!(view.json()["value"].as_array().unwrap().len(), 3);

    // Calendars.Read does not create.
    let g = with_scopes(&["Calendars.Read"]);
    let r = post_json(&g, "/me/events", &event("tx-1"));
    assert_eq!(r.status, 403);
    assert_eq!(code(&r), "ErrorAccessDenied");
    assert!(g.created_events().is_empty());
}

fn mail(to: &[&str]) -> Value {
    let to: Vec<Value> = to
        .iter()
        .map(|a| json!({"emailAddress": {"address": a}}))
        .collect();
    json!({
        "message": {
            "subject": "Lunch?",
            "body": {"contentType": "Text", "content": "The new cafeteria is open."},
            "toRecipients": to,
        },
        "saveToSentItems": "false",
    })
}

#[test]
fn send_mail_is_202_without_a_body_and_checks_recipients() {
    let g = FakeGraph::start(GraphOptions::default());
    let r = post_json(&g, "/me/sendMail", &mail(&["frannis@contoso.test"]));
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(r.body.is_empty(), "{}", r.text());
    let sent = g.sent_mails();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, ["frannis@contoso.test"]);
    assert_eq!(sent[0].body, "The new cafeteria is open.");
    assert!(!sent[0].save_to_sent_items, "the doc example's string form");

    let r = post_json(&g, "/me/sendMail", &mail(&[]));
    assert_eq!((r.status, code(&r)), (400, "ErrorInvalidRecipients".into()));
    let r = post_json(&g, "/me/sendMail", &mail(&["Bob <bob@x.test>"]));
    assert_eq!((r.status, code(&r)), (400, "ErrorInvalidRecipients".into()));
    assert_eq!(g.sent_mails().len(), 1);

    // Mail.ReadWrite does not send.
    let g = with_scopes(&["Mail.ReadWrite"]);
    let r = post_json(&g, "/me/sendMail", &mail(&["frannis@contoso.test"]));
    assert_eq!((r.status, code(&r)), (403, "ErrorAccessDenied".into()));
    assert!(g.sent_mails().is_empty());
}

#[test]
fn a_write_can_be_made_and_its_answer_lost() {
    let g = FakeGraph::start(GraphOptions::default());
    // A 503 after the mail was accepted.
    g.fail_after_write("/me/sendMail", 1, WriteFault::Status(503));
    let r = post_json(&g, "/me/sendMail", &mail(&["a@x.test"]));
    assert_eq!(r.status, 503);
    assert_eq!(code(&r), "serviceNotAvailable");
    assert_eq!(g.sent_mails().len(), 1, "the mail went out all the same");

    // No answer at all: the client waits in vain, and the mail went out.
    g.fail_after_write("/me/sendMail", 1, WriteFault::Hang);
    let addr = g.base_url();
    let host = addr
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_string();
    let body = mail(&["b@x.test"]).to_string();
    let mut s = TcpStream::connect(&host).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    write!(
        s,
        "POST /v1.0/me/sendMail HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer tok\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = [0u8; 64];
    let read = s.read(&mut buf);
    assert!(
        matches!(&read, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
        "{read:?}"
    );
    assert_eq!(g.sent_mails().len(), 2);
    // The fault was used up: the next one is answered.
    assert_eq!(
        post_json(&g, "/me/sendMail", &mail(&["c@x.test"])).status,
        202
    );
}

#[test]
fn uploads_fail_rename_or_replace_on_a_taken_name() {
    let g = FakeGraph::start(GraphOptions::default());
    let path = "/me/drive/root:/Notes/plan%20%231.txt:/content";
    let q = |b: &str| format!("{path}?@microsoft.graph.conflictBehavior={b}");
    let r = put(&g, &q("fail"), b"first");
    assert_eq!(r.status, 201, "{}", r.text());
    let item = r.json();
    assert_eq!(item["name"], "plan #1.txt");
    assert_eq!(item["size"], 5);
    assert_eq!(item["parentReference"]["path"], "/drive/root:/Notes");

    let r = put(&g, &q("fail"), b"second");
    assert_eq!((r.status, code(&r)), (409, "nameAlreadyExists".into()));
    assert_eq!(g.uploads()[0].content, b"first");
    // Names compare without case.
    let r = put(
        &g,
        "/me/drive/root:/notes/PLAN%20%231.TXT:/content?@microsoft.graph.conflictBehavior=fail",
        b"x",
    );
    assert_eq!(r.status, 409);

    let r = put(&g, &q("rename"), b"third");
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["name"], "plan #1 1.txt");

    let r = put(&g, &q("replace"), b"fourth");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["id"], item["id"]);
    let ups = g.uploads();
    assert_eq!(ups.len(), 2);
    assert_eq!(ups[0].content, b"fourth");
    assert_eq!(ups[0].versions, 2);
    // Without the parameter Graph replaces (its default for PUT).
    assert_eq!(put(&g, path, b"fifth").status, 200);
    assert_eq!(g.uploads()[0].content, b"fifth");

    // A file of the sample data counts as taken.
    let r = put(
        &g,
        "/me/drive/root:/Documents/R%C3%A9sum%C3%A9%20M%C3%BCller.pdf:/content?@microsoft.graph.conflictBehavior=fail",
        b"x",
    );
    assert_eq!(r.status, 409, "{}", r.text());
    // An uploaded file is an item like the others.
    let id = item["id"].as_str().unwrap();
    let r = get(&format!("{}/me/drive/items/{id}", g.base_url()), &[AUTH]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["size"], 5);

    let g = with_scopes(&["Files.Read.All"]);
    let r = put(&g, &q("fail"), b"x");
    assert_eq!((r.status, code(&r)), (403, "accessDenied".into()));
    assert!(g.uploads().is_empty());
}

#[test]
fn onenote_pages_go_to_a_section_by_name_read_as_text() {
    let g = FakeGraph::start(GraphOptions::default());
    let page = |section: &str, ct: &str, html: &str| {
        request(
            "POST",
            &format!("{}/me/onenote/pages?sectionName={section}", g.base_url()),
            &[AUTH, ("Content-Type", ct)],
            html.as_bytes(),
        )
    };
    let html = "<!DOCTYPE html>\n<html><head><title>Plan &amp; &lt;b&gt;more&lt;/b&gt;</title></head><body><p>one<br/>two &#39;x&#39;</p>\n<p>three</p></body></html>";
    let r = page("Agent%20notes", "text/html; charset=utf-8", html);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert!(
        r.header("location")
            .unwrap()
            .ends_with(&format!("/me/onenote/pages/{id}")),
        "{:?}",
        r.headers
    );
    assert!(r.json()["links"]["oneNoteWebUrl"]["href"].is_string());
    // The same section in another case; unescaped markup is markup.
    let r = page(
        "agent%20NOTES",
        "text/html",
        "<html><head><title>t</title></head><body><p>a <b>bold</b> claim</p></body></html>",
    );
    assert_eq!(r.status, 201);
    let pages = g.pages();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].title, "Plan & <b>more</b>");
    assert_eq!(pages[0].text, "one\ntwo 'x'\n\nthree");
    assert_eq!(pages[1].section, "Agent notes");
    assert_eq!(pages[1].text, "a bold claim");

    let r = page("a%23b", "text/html", html);
    assert_eq!((r.status, code(&r)), (400, "20153".into()));
    let r = page("ok", "application/json", html);
    assert_eq!((r.status, code(&r)), (400, "20131".into()));
    assert_eq!(g.pages().len(), 2);

    let g = with_scopes(&["Notes.Read"]);
    let r = request(
        "POST",
        &format!("{}/me/onenote/pages", g.base_url()),
        &[AUTH, ("Content-Type", "text/html")],
        html.as_bytes(),
    );
    assert_eq!((r.status, code(&r)), (403, "40004".into()));
}
