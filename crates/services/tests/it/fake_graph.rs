//! FakeGraph behaves like Graph where the client can get it wrong — checked with hand-made
//! requests, so the client tests above mean something.

use crate::common;

use common::*;
use serde_json::{Value, json};
use sidekey_testkit::{FakeGraph, GraphOptions};

async fn get(fake: &FakeGraph, path_and_query: &str) -> (u16, Value) {
    let r = client()
        .get(format!("{}{path_and_query}", fake.base_url()))
        .bearer_auth("tok")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post_batch(fake: &FakeGraph, body: Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}/$batch", fake.base_url()))
        .bearer_auth("tok")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

const INBOX: &str = "/me/mailFolders/inbox/messages?$select=id,subject,from&$top=50";

#[tokio::test]
async fn unescaped_quotes_are_syntax_errors() {
    let fake = FakeGraph::start(GraphOptions::default());
    // Only this token is good; any other gets the service's 401.
    fake.set_valid_tokens(Some(vec!["tok".into()]));
    let (s, v) = get(
        &fake,
        &format!("{INBOX}&$filter=from/emailAddress/address eq 'o'brien@x.test'"),
    )
    .await;
    assert_eq!((s, code(&v)), (400, "BadRequest"));
    let (s, v) = get(&fake, &format!("{INBOX}&$filter=subject eq 'it's'")).await;
    assert_eq!((s, code(&v)), (400, "BadRequest"));
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unterminated string literal")
    );
    let (s, v) = get(&fake, "/me/drive/root/search(q='it's')").await;
    assert_eq!((s, code(&v)), (400, "BadRequest"));
    let (s, v) = get(&fake, "/me/drive/root/search(q='it''s)").await;
    assert_eq!(s, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unterminated literal")
    );
}

#[tokio::test]
async fn the_filter_is_really_evaluated_so_injection_would_widen() {
    let fake = FakeGraph::start(GraphOptions::default());
    // Only this token is good; any other gets the service's 401.
    fake.set_valid_tokens(Some(vec!["tok".into()]));
    let ids = |v: &Value| v["value"].as_array().map_or(0, Vec::len);
    let (s, v) = get(
        &fake,
        &format!("{INBOX}&$filter=from/emailAddress/address eq 'o''brien@x.test'"),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(ids(&v), 1);
    // What an undoubled, balanced injection does: many more messages.
    let (s, v) = get(
        &fake,
        &format!(
            "{INBOX}&$filter=from/emailAddress/address eq 'x' or isRead eq false or subject eq 'y'"
        ),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(ids(&v), 7);
    let (_, v) = get(
        &fake,
        &format!("{INBOX}&$filter=not (isRead eq false) and (importance eq 'high' or 1 eq 1)"),
    )
    .await;
    assert_eq!(ids(&v), 1);
    let (_, v) = get(
        &fake,
        &format!("{INBOX}&$filter=receivedDateTime ge 2026-10-23T00:00:00Z"),
    )
    .await;
    assert_eq!(ids(&v), 3);
    let (s, v) = get(
        &fake,
        &format!("{INBOX}&$filter=endswith(from/emailAddress/address,'@x.test')"),
    )
    .await;
    assert_eq!((s, code(&v)), (400, "ErrorInvalidUrlQueryFilter"));
    let (s, v) = get(&fake, &format!("{INBOX}&$filter=nosuch eq 1")).await;
    assert_eq!((s, code(&v)), (400, "BadRequest"));
}

#[tokio::test]
async fn inefficient_filter_like_exchange() {
    let fake = FakeGraph::start(GraphOptions::default());
    // Only this token is good; any other gets the service's 401.
    fake.set_valid_tokens(Some(vec!["tok".into()]));
    let (s, v) = get(
        &fake,
        &format!("{INBOX}&$filter=isRead eq false&$orderby=receivedDateTime desc"),
    )
    .await;
    assert_eq!((s, code(&v)), (400, "InefficientFilter"));
    let (s, v) = get(
        &fake,
        &format!("{INBOX}&$filter=isRead eq false and receivedDateTime ge 1900-01-01T00:00:00Z&$orderby=receivedDateTime desc"),
    )
    .await;
    assert_eq!((s, code(&v)), (400, "InefficientFilter"));
    let (s, _) = get(
        &fake,
        &format!("{INBOX}&$filter=receivedDateTime ge 1900-01-01T00:00:00Z and isRead eq false&$orderby=receivedDateTime desc"),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = get(&fake, &format!("{INBOX}&$orderby=receivedDateTime desc")).await;
    assert_eq!(s, 200, "orderby alone is fine");
}

#[tokio::test]
async fn calendar_view_needs_both_bounds_and_a_real_offset() {
    let fake = FakeGraph::start(GraphOptions::default());
    // Only this token is good; any other gets the service's 401.
    fake.set_valid_tokens(Some(vec!["tok".into()]));
    let (s, v) = get(&fake, "/me/calendarView?startDateTime=2026-10-25T00:00:00Z").await;
    assert_eq!((s, code(&v)), (400, "ErrorInvalidParameter"));
    let (s, _) = get(&fake, "/me/calendarView?endDateTime=2026-10-25T00:00:00Z").await;
    assert_eq!(s, 400);
    // A raw '+' is a space to Graph's query decoder.
    let (s, _) = get(
        &fake,
        "/me/calendarView?startDateTime=2026-10-25T00:00:00+02:00&endDateTime=2026-10-26T00:00:00Z",
    )
    .await;
    assert_eq!(s, 400);
    let (s, v) = get(
        &fake,
        "/me/calendarView?startDateTime=2026-10-25T00:00:00%2B02:00&endDateTime=2026-10-26T00:00:00Z&$top=1",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["value"][0]["start"]["timeZone"], json!("UTC"));
    assert!(
        v["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("$skiptoken=1")
    );
    let (s, _) = get(&fake, "/me/calendarView?startDateTime=2026-10-25T00:00:00Z&endDateTime=2026-10-26T00:00:00Z&$top=0").await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn readbasic_withholds_bodies_and_scopes_are_enforced() {
    let fake = FakeGraph::start(GraphOptions {
        granted_scopes: Some(vec![
            "mail.readbasic".into(),
            "https://graph.microsoft.com/Calendars.ReadBasic".into(),
        ]),
        ..GraphOptions::default()
    });
    // Only this token is good; any other gets the service's 401.
    fake.set_valid_tokens(Some(vec!["tok".into()]));
    let (s, v) = get(&fake, "/me/mailFolders/inbox/messages").await;
    assert_eq!(
        (s, code(&v)),
        (403, "ErrorAccessDenied"),
        "default fields include the body"
    );
    let (s, _) = get(
        &fake,
        "/me/mailFolders/inbox/messages?$select=id,bodyPreview",
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = get(&fake, "/me/mailFolders/inbox/messages?$select=id,subject").await;
    assert_eq!(s, 200);
    let (s, v) = get(&fake, "/me/drive/recent").await;
    assert_eq!((s, code(&v)), (403, "accessDenied"));
    let (s, v) = get(&fake, "/me/contacts").await;
    assert_eq!((s, code(&v)), (403, "ErrorAccessDenied"));
    let (s, v) = get(&fake, "/me/nonsense").await;
    assert_eq!((s, code(&v)), (400, "BadRequest"));

    let r = client()
        .get(format!("{}/me", fake.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(code(&v), "InvalidAuthenticationToken");
}

#[tokio::test]
async fn batch_rules() {
    let fake = FakeGraph::start(GraphOptions::default());
    // Only this token is good; any other gets the service's 401.
    fake.set_valid_tokens(Some(vec!["tok".into()]));
    let req = |id: &str, url: &str| json!({"id": id, "method": "GET", "url": url});
    let many: Vec<Value> = (0..21).map(|i| req(&i.to_string(), "/me")).collect();
    let (s, v) = post_batch(&fake, json!({"requests": many})).await;
    assert_eq!((s, code(&v)), (400, "BadRequest"));
    let (s, _) = post_batch(
        &fake,
        json!({"requests": [req("a", "/me"), req("A", "/me")]}),
    )
    .await;
    assert_eq!(s, 400, "ids are unique case-insensitively");
    let (s, _) = post_batch(&fake, json!({"nope": []})).await;
    assert_eq!(s, 400);

    let reqs: Vec<Value> = (1..=6)
        .map(|i| {
            req(
                &i.to_string(),
                if i == 6 {
                    "https://graph.microsoft.com/v1.0/me"
                } else {
                    "/me?$select=id"
                },
            )
        })
        .collect();
    fake.inject_429("/me?$select=id", 1, "2.128");
    let (s, v) = post_batch(&fake, json!({"requests": reqs})).await;
    assert_eq!(s, 200);
    let resp = v["responses"].as_array().unwrap();
    let order: Vec<&str> = resp.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_ne!(
        order,
        ["1", "2", "3", "4", "5", "6"],
        "answers come back in another order"
    );
    let by_id = |id: &str| resp.iter().find(|r| r["id"] == json!(id)).unwrap();
    assert_eq!(by_id("1")["status"], json!(429));
    assert_eq!(by_id("1")["headers"]["Retry-After"], json!("2.128"));
    assert_eq!(by_id("2")["status"], json!(200));
    assert_eq!(by_id("6")["status"], json!(400), "urls are relative");
}

#[tokio::test]
async fn exchange_less_tenants_answer_401_with_their_own_code_also_in_batch() {
    // Real Graph: 401 OrganizationFromTenantGuidNotFound on mail/calendar for users without
    // Exchange Online, while the token works elsewhere (docs/graph.md, "Messages").
    let fake = FakeGraph::start(GraphOptions {
        tenant_without_exchange: true,
        ..GraphOptions::default()
    });
    // Only this token is good; any other gets the service's 401.
    fake.set_valid_tokens(Some(vec!["tok".into()]));
    for path in [
        INBOX,
        "/me/calendarView?startDateTime=2026-10-23T00:00:00Z&endDateTime=2026-10-24T00:00:00Z",
        "/me/contacts",
        "/me/contactFolders",
    ] {
        let (s, v) = get(&fake, path).await;
        assert_eq!(
            (s, code(&v)),
            (401, "OrganizationFromTenantGuidNotFound"),
            "{path}"
        );
    }
    let (s, _) = get(&fake, "/me/drive/recent").await;
    assert_eq!(s, 200, "the token is fine");
    let req = |id: &str, url: &str| json!({"id": id, "method": "GET", "url": url});
    let (s, v) = post_batch(
        &fake,
        json!({"requests": [req("m", INBOX), req("f", "/me/drive/recent")]}),
    )
    .await;
    assert_eq!(s, 200);
    let resp = v["responses"].as_array().unwrap();
    let by_id = |id: &str| resp.iter().find(|r| r["id"] == json!(id)).unwrap();
    assert_eq!(by_id("m")["status"], json!(401));
    assert_eq!(
        code(&by_id("m")["body"]),
        "OrganizationFromTenantGuidNotFound"
    );
    assert_eq!(by_id("f")["status"], json!(200));
}

#[tokio::test]
async fn recent_is_in_used_order_and_contact_folders_are_separate() {
    let mut data = sidekey_testkit::GraphData::sample();
    data.contact_folders = vec![sidekey_testkit::FakeContactFolder {
        id: "CF-FAMILY".into(),
        display_name: "Family".into(),
        parent: None,
        contacts: vec![sidekey_testkit::FakeContact::new(
            "C-AUNT",
            "Aunt Agatha",
            Some("1950-10-25T00:00:00Z"),
        )],
    }];
    let fake = FakeGraph::start(GraphOptions {
        data,
        ..GraphOptions::default()
    });
    // Only this token is good; any other gets the service's 401.
    fake.set_valid_tokens(Some(vec!["tok".into()]));
    let (s, v) = get(&fake, "/me/drive/recent").await;
    assert_eq!(s, 200);
    let ids: Vec<&str> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["F-VACATION", "F-QA", "F-REMOTE", "F-OBRIEN"]);
    let remote = &v["value"][2];
    assert!(remote.get("lastModifiedDateTime").is_none());
    assert!(remote["remoteItem"].get("lastModifiedDateTime").is_none());
    assert!(remote["fileSystemInfo"]["lastAccessedDateTime"].is_string());

    let (_, v) = get(&fake, "/me/contacts?$top=500").await;
    assert!(!v.to_string().contains("Agatha"), "default folder only");
    let (s, v) = get(&fake, "/me/contactFolders?$select=id,displayName").await;
    assert_eq!(s, 200);
    assert_eq!(v["value"][0]["id"], json!("CF-FAMILY"));
    let (s, v) = get(&fake, "/me/contactFolders/CF-FAMILY/contacts").await;
    assert_eq!(s, 200);
    assert_eq!(v["value"][0]["displayName"], json!("Aunt Agatha"));
    let (s, v) = get(&fake, "/me/contactFolders/CF-FAMILY/childFolders").await;
    assert_eq!((s, v["value"].as_array().map(Vec::len)), (200, Some(0)));
    let (s, v) = get(&fake, "/me/contactFolders/NOPE/contacts").await;
    assert_eq!((s, code(&v)), (404, "ErrorItemNotFound"));
}
