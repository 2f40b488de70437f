//! `sidekey ms …` end to end: the binary signs in against the fake Microsoft identity platform
//! and reads from the fake Graph, which rejects what real Graph rejects.

use crate::common;

use common::*;
use serde_json::Value;
use sidekey_testkit::graph::{FakeGraph, GraphData, GraphOptions};
use sidekey_testkit::{Dialect, FakeIdp, Options};

pub(crate) fn setup(scopes: Option<&str>) -> (FakeIdp, FakeGraph, Env) {
    setup_with(
        scopes,
        GraphOptions {
            data: GraphData::sample(),
            ..GraphOptions::default()
        },
    )
}

fn setup_with(scopes: Option<&str>, graph: GraphOptions) -> (FakeIdp, FakeGraph, Env) {
    let mut o = Options::new(Dialect::Microsoft);
    o.auto_approve_after_polls = Some(1);
    setup_idp(o, scopes, graph)
}

fn setup_idp(o: Options, scopes: Option<&str>, graph: GraphOptions) -> (FakeIdp, FakeGraph, Env) {
    let idp = FakeIdp::start(o);
    let graph = FakeGraph::start(graph);
    // Graph accepts what the identity platform issued, with the scopes of the grant.
    graph.trust(&idp);
    let scopes = scopes.unwrap_or(
        "\"User.Read\", \"Files.Read\", \"Calendars.ReadBasic\", \"Mail.ReadBasic\", \"Contacts.Read\", \"offline_access\"",
    );
    let env = Env::new(&format!(
        "timezone = \"Europe/Berlin\"\n[accounts.work]\nprovider = \"microsoft\"\nclient_id = \"test-client\"\nauthority = \"{}/common\"\napi_base = \"{}\"\nscopes = [{scopes}]\n",
        idp.base_url(),
        graph.base_url()
    ));
    let out = env.run(&["login", "work"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (idp, graph, env)
}

fn json_of(env: &Env, args: &[&str]) -> Value {
    let out = env.run(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

#[test]
fn read_only_operations_with_hostile_strings() {
    let (_idp, graph, env) = setup(None);
    let me = json_of(&env, &["ms", "me", "--json"]);
    assert!(me.to_string().contains('@'), "{me}");

    // A quote in the sender is a literal, not OData syntax: exactly that sender's mail.
    let mail = json_of(
        &env,
        &["ms", "mail", "unread", "--from", "o'brien@x.test", "--json"],
    );
    let subjects: Vec<&str> = mail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        vec!["Invoice #42 & \"urgent\" 100%/week"],
        "{mail}"
    );
    // An injection attempt finds nothing instead of everything.
    let hits = json_of(&env, &["ms", "files", "search", "' or 1 eq 1", "--json"]);
    assert_eq!(hits["items"].as_array().unwrap().len(), 0, "{hits}");
    // A query that looks like a flag is a query.
    let out = env.run(&["ms", "files", "search", "--top", "3", "-rf"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let cal = env.run(&[
        "ms",
        "calendar",
        "--from",
        "2026-10-01",
        "--to",
        "2027-01-01",
    ]);
    assert_eq!(cal.status.code(), Some(0), "{}", stderr(&cal));
    assert!(!stdout(&cal).is_empty());
    let bad = env.run(&["ms", "calendar", "--tz", "Mars/Olympus"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));

    // The dashboard is one HTTP request.
    graph.clear_requests();
    let dash = env.run(&["ms", "dashboard"]);
    assert_eq!(dash.status.code(), Some(0), "{}", stderr(&dash));
    assert_eq!(
        graph.requests().len(),
        1,
        "{:?}",
        graph
            .requests()
            .iter()
            .map(|r| r.path_and_query.clone())
            .collect::<Vec<_>>()
    );

    // Every call is audited without its arguments' values.
    let log = std::fs::read_to_string(env.home.join("audit.log")).unwrap();
    assert!(log.contains("\"operation\":\"ms.mail.unread\""), "{log}");
    assert!(!log.contains("o'brien"), "personal data in the audit log");
}

#[test]
fn a_missing_scope_is_named_before_calling_graph() {
    let (_idp, graph, env) = setup(Some("\"User.Read\", \"Files.Read\", \"offline_access\""));
    graph.clear_requests();
    let out = env.run(&["ms", "mail", "unread"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("Mail.ReadBasic"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sidekey login work"),
        "{}",
        stderr(&out)
    );
    assert!(graph.requests().is_empty());
}

#[test]
fn a_401_refreshes_once_then_asks_to_sign_in_again() {
    let (idp, graph, env) = setup(None);
    graph.refuse_all_tokens(true);
    let out = env.run(&["ms", "me"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sidekey login work"),
        "{}",
        stderr(&out)
    );
    assert_eq!(idp.counters().refresh_successes, 1, "exactly one refresh");
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}

#[test]
fn files_get_reads_one_item_and_an_id_cannot_reach_another_resource() {
    let (_idp, _graph, env) = setup(None);
    let recent = json_of(&env, &["ms", "files", "recent", "--json"]);
    let first = &recent["items"][0];
    let id = first["id"].as_str().expect("recent items carry their id");
    let item = json_of(&env, &["ms", "files", "get", id, "--json"]);
    assert_eq!(item["id"], first["id"], "{item}");
    assert_eq!(item["name"], first["name"], "{item}");
    let text = env.run(&["ms", "files", "get", id]);
    assert_eq!(text.status.code(), Some(0));
    assert!(stdout(&text).contains(first["name"].as_str().unwrap()));

    // Unknown ids are Graph's 404 itemNotFound; a path in the id stays one encoded segment.
    for hostile in ["no-such-item", "../../me", "x?$select=id"] {
        let out = env.run(&["ms", "files", "get", hostile]);
        assert_eq!(out.status.code(), Some(5), "{hostile}: {}", stderr(&out));
        assert!(stderr(&out).contains("itemNotFound"), "{}", stderr(&out));
    }
    let log = std::fs::read_to_string(env.home.join("audit.log")).unwrap();
    assert!(log.contains("\"operation\":\"ms.files.get\""), "{log}");
    assert!(
        !log.contains("no-such-item"),
        "the audit log keeps no ids: {log}"
    );
}

#[test]
fn bad_arguments_fail_before_any_token_is_fetched() {
    // Never signed in: a command that fetched a token first would end with exit 3.
    let env = Env::new(
        "[accounts.work]\nprovider = \"microsoft\"\nclient_id = \"test-client\"\ntenant = \"common\"\n",
    );
    for args in [
        &["ms", "calendar", "--when", "someday"][..],
        &["ms", "calendar", "--from", "someday", "--to", "later"],
        &["ms", "dashboard", "--tz", "Mars/Olympus"],
        &["ms", "contacts", "birthdays", "--month", "13"],
        &["ms", "files", "get", " "],
        &["ms", "files", "get", ".."],
    ] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(env.run(&["ms", "me"]).status.code(), Some(3));
}

#[test]
fn a_tenant_without_exchange_is_told_so_without_a_refresh() {
    // Real Graph answers 401 OrganizationFromTenantGuidNotFound on mail, calendar and contacts
    // for users without Exchange Online; the token is fine, so no refresh and no "sign in
    // again" (docs/graph.md, "Messages").
    let (idp, _graph, env) = setup_with(
        None,
        GraphOptions {
            tenant_without_exchange: true,
            ..GraphOptions::default()
        },
    );
    let before = idp.counters().refresh_requests;
    let out = env.run(&["ms", "mail", "unread"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no Exchange Online mailbox"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("sidekey login"), "{}", stderr(&out));

    // The dashboard shows the files and says why the rest is missing.
    let dash = env.run(&["ms", "dashboard"]);
    assert_eq!(dash.status.code(), Some(0), "{}", stderr(&dash));
    let text = stdout(&dash);
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
    assert_eq!(idp.counters().refresh_requests, before, "no refresh");
}

/// The bearer tokens Graph received, in order.
fn graph_tokens(graph: &FakeGraph) -> Vec<String> {
    graph
        .requests()
        .iter()
        .map(|r| {
            r.header("authorization")
                .unwrap_or("")
                .trim_start_matches("Bearer ")
                .to_string()
        })
        .collect()
}

#[test]
fn an_expired_cached_token_is_refreshed_and_graph_gets_only_the_new_one() {
    // Every token lives 30 s: inside the refresh margin, so each run finds it due.
    let mut o = Options::new(Dialect::Microsoft);
    o.auto_approve_after_polls = Some(1);
    o.access_token_ttl = 30;
    let (idp, graph, env) = setup_idp(
        o,
        None,
        GraphOptions {
            data: GraphData::sample(),
            ..GraphOptions::default()
        },
    );
    for args in [
        &["ms", "mail", "unread"][..],
        &[
            "ms",
            "calendar",
            "--from",
            "2026-10-01",
            "--to",
            "2027-01-01",
        ],
    ] {
        // The cached token has expired at the identity platform too: Graph refuses it.
        idp.expire_access_tokens();
        let before = idp.issued_access_tokens();
        graph.clear_requests();
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let issued = idp.issued_access_tokens();
        assert_eq!(issued.len(), before.len() + 1, "{args:?}: one refresh");
        let new = issued.last().unwrap();
        let sent = graph_tokens(&graph);
        assert!(!sent.is_empty(), "{args:?}");
        assert!(
            sent.iter().all(|t| t == new),
            "{args:?}: Graph received a token from before the refresh"
        );
    }
}

#[test]
fn a_scope_left_unticked_at_sign_in_is_named_with_what_to_do() {
    // The person consents to everything but Mail.ReadBasic: the token response's `scope`
    // lacks it, and Graph would refuse mail with 403 ErrorAccessDenied.
    let mut o = Options::new(Dialect::Microsoft);
    o.auto_approve_after_polls = Some(1);
    o.withheld_scopes = vec!["Mail.ReadBasic".into()];
    let (_idp, graph, env) = setup_idp(o, None, GraphOptions::default());
    graph.clear_requests();
    let out = env.run(&["ms", "mail", "unread"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("Mail.ReadBasic"), "{err}");
    assert!(err.contains("was asked for but not granted"), "{err}");
    assert!(
        err.contains("run `sidekey login work` and grant it"),
        "{err}"
    );
    assert!(!err.contains("add it to the account's scopes"), "{err}");
    assert!(graph.requests().is_empty(), "refused before calling Graph");
    // What was granted still works.
    let out = env.run(&["ms", "files", "recent"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
