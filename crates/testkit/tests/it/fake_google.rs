//! The fake Drive is as strict as Drive about what it answers and what it accepts: partial
//! responses (`fields`), `pageSize`, `pageToken` and the metadata of `files.create`
//! (docs/google-drive.md, "Wire conventions").

use serde_json::{Value, json};
use sidekey_testkit::{FakeGoogle, GoogleOptions};

use crate::http::{Resp, get, request};

const AUTH: (&str, &str) = ("Authorization", "Bearer tok-tv");

fn drive() -> FakeGoogle {
    let g = FakeGoogle::start(GoogleOptions {
        page_size: 2,
        ..GoogleOptions::default()
    });
    g.bind_tokens("tv", &["tok-tv".to_string()]);
    for n in ["a.txt", "b.txt", "c.txt"] {
        g.app_creates_file("tv", None, n, "text/plain", b"hello");
    }
    g
}

fn list(g: &FakeGoogle, query: &str) -> Resp {
    get(&format!("{}/drive/v3/files?{query}", g.base_url()), &[AUTH])
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

/// Drive's classic error for a refused parameter: reason, message and `location`.
fn refused(r: &Resp, reason: &str, message: &str, location: &str) {
    assert_eq!(r.status, 400, "{}", r.text());
    let e = &r.json()["error"];
    assert_eq!(e["code"], 400, "{e}");
    assert_eq!(e["message"], message, "{e}");
    assert_eq!(
        e["errors"][0],
        json!({"message": message, "domain": "global", "reason": reason,
               "location": location, "locationType": "parameter"}),
        "{e}"
    );
}

#[test]
fn without_fields_drive_answers_only_kind_id_name_and_mime_type() {
    let g = drive();
    let v = list(&g, "").json();
    assert_eq!(
        keys(&v),
        ["files", "incompleteSearch", "kind", "nextPageToken"],
        "{v}"
    );
    assert_eq!(v["kind"], "drive#fileList");
    for f in v["files"].as_array().unwrap() {
        assert_eq!(keys(f), ["id", "kind", "mimeType", "name"], "{f}");
    }
    let id = v["files"][0]["id"].as_str().unwrap();
    let f = get(&format!("{}/drive/v3/files/{id}", g.base_url()), &[AUTH]).json();
    assert_eq!(keys(&f), ["id", "kind", "mimeType", "name"], "{f}");
    // files.create answers the same four.
    let r = request(
        "POST",
        &format!("{}/drive/v3/files", g.base_url()),
        &[AUTH, ("Content-Type", "application/json")],
        br#"{"name": "Inbox", "mimeType": "application/vnd.google-apps.folder"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(keys(&r.json()), ["id", "kind", "mimeType", "name"]);
}

#[test]
fn fields_selects_what_comes_back_and_paging_needs_next_page_token() {
    let g = drive();
    let v = list(&g, "fields=nextPageToken,%20files(id,%20size)").json();
    assert_eq!(keys(&v), ["files", "nextPageToken"], "{v}");
    assert_eq!(keys(&v["files"][0]), ["id", "size"], "{v}");
    // Without nextPageToken in fields the token is dropped: paging silently stops.
    let v = list(&g, "fields=files(id)").json();
    assert_eq!(keys(&v), ["files"], "{v}");
    assert_eq!(v["files"].as_array().unwrap().len(), 2);
    // `files` alone and `*` select everything below them; `a/b` paths work too.
    let v = list(&g, "fields=files").json();
    assert!(v["files"][0]["modifiedTime"].is_string(), "{v}");
    let v = list(&g, "fields=files/name,kind").json();
    assert_eq!(keys(&v), ["files", "kind"], "{v}");
    assert_eq!(keys(&v["files"][0]), ["name"], "{v}");
    let v = list(&g, "fields=*").json();
    assert!(v["files"][0]["parents"].is_array(), "{v}");
    // A selection that does not parse is refused.
    let r = list(&g, "fields=files(id");
    refused(
        &r,
        "invalidParameter",
        "Invalid field selection files(id",
        "fields",
    );
}

#[test]
fn a_page_token_drive_did_not_issue_is_refused() {
    let g = drive();
    let first = list(&g, "fields=nextPageToken,files(id)").json();
    let token = first["nextPageToken"].as_str().unwrap().to_string();
    let next = list(
        &g,
        &format!("fields=nextPageToken,files(id)&pageToken={token}"),
    )
    .json();
    assert_eq!(next["files"].as_array().unwrap().len(), 1, "{next}");
    assert!(next.get("nextPageToken").is_none(), "{next}");
    for bad in ["BOGUS", "pt999", "pt-1"] {
        let r = list(&g, &format!("pageToken={bad}"));
        refused(&r, "invalid", "Invalid Value", "pageToken");
    }
    // An empty token is no token: the first page.
    assert_eq!(
        list(&g, "pageToken=&fields=files(id)").json(),
        list(&g, "fields=files(id)").json()
    );
}

#[test]
fn a_page_size_outside_1_to_1000_is_refused() {
    let g = drive();
    for bad in ["0", "1001", "-5", "ten"] {
        let r = list(&g, &format!("pageSize={bad}"));
        let message = format!("Invalid value '{bad}'. Values must be within the range: [1, 1000]");
        refused(&r, "invalidParameter", &message, "pageSize");
    }
    for ok in ["1", "1000"] {
        assert_eq!(list(&g, &format!("pageSize={ok}")).status, 200);
    }
    assert_eq!(
        list(&g, "pageSize=1").json()["files"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn metadata_that_is_not_a_json_object_of_the_right_types_is_refused() {
    let g = drive();
    let create = |body: &[u8]| {
        request(
            "POST",
            &format!("{}/drive/v3/files", g.base_url()),
            &[AUTH, ("Content-Type", "application/json")],
            body,
        )
    };
    for body in [&b"{\"name\": "[..], b"[1, 2]", b"\"Inbox\""] {
        let r = create(body);
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.json()["error"]["errors"][0]["reason"], "parseError");
    }
    for body in [
        &br#"{"name": 7}"#[..],
        br#"{"name": "x", "parents": "root"}"#,
        br#"{"name": "x", "parents": [1]}"#,
        br#"{"name": "x", "mimeType": false}"#,
    ] {
        let r = create(body);
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.json()["error"]["errors"][0]["reason"], "invalid");
    }
    // Nothing was created by the refused requests.
    let names: Vec<String> = g.files().into_iter().map(|f| f.1).collect();
    assert_eq!(names, ["a.txt", "b.txt", "c.txt"]);
    // The same checks hold for an upload's metadata part.
    let body = "--B\r\nContent-Type: application/json\r\n\r\n{\"name\": 7}\r\n--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n--B--\r\n";
    let r = request(
        "POST",
        &format!(
            "{}/upload/drive/v3/files?uploadType=multipart",
            g.base_url()
        ),
        &[AUTH, ("Content-Type", "multipart/related; boundary=B")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["errors"][0]["reason"], "invalid");
}

/// `requests_at` gives when each request arrived, not when it was answered: a benchmark times
/// an action's start by it (crates/sidekey/benches/approvals.rs).
#[test]
fn requests_are_timed_when_they_arrive() {
    let g = drive();
    let latency = std::time::Duration::from_millis(150);
    g.set_latency(latency);
    let sent = std::time::Instant::now();
    assert_eq!(list(&g, "").status, 200);
    let answered = std::time::Instant::now();
    let at = g.requests_at();
    assert_eq!(at.len(), 1, "{at:?}");
    assert!(at[0].1.starts_with("GET /drive/v3/files"), "{at:?}");
    assert!(
        at[0].0 >= sent && at[0].0 + latency <= answered,
        "arrived {:?} after sending, answered {:?} after sending",
        at[0].0 - sent,
        answered - sent
    );
}
