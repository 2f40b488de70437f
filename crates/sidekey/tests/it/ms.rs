//! `sidekey ms …` end to end: the binary signs in against the fake Microsoft identity platform
//! and reads from the fake Graph, which rejects what real Graph rejects.

use crate::common;

use common::*;
use serde_json::Value;
use sidekey_testkit::graph::{FakeGraph, GraphData, GraphOptions, WriteFault};
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
    let scopes = scopes.unwrap_or(
        "\"User.Read\", \"Files.Read\", \"Calendars.ReadBasic\", \"Mail.ReadBasic\", \"Contacts.Read\", \"offline_access\"",
    );
    start_signed_in(o, graph, "", scopes, "")
}

/// The fakes and a config of account `work` with `scopes`, `top` before the account (e.g.
/// `http_timeout`) and `policy` as its `[accounts.work.policy]`; signed in.
fn start_signed_in(
    o: Options,
    graph: GraphOptions,
    top: &str,
    scopes: &str,
    policy: &str,
) -> (FakeIdp, FakeGraph, Env) {
    let idp = FakeIdp::start(o);
    let graph = FakeGraph::start(graph);
    // Graph accepts what the identity platform issued, with the scopes of the grant.
    graph.trust(&idp);
    let env = Env::new(&format!(
        "timezone = \"Europe/Berlin\"\n{top}\n[accounts.work]\nprovider = \"microsoft\"\nclient_id = \"test-client\"\nauthority = \"{}/common\"\napi_base = \"{}\"\nscopes = [{scopes}]\n[accounts.work.policy]\n{policy}\n",
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
    let (idp, graph, env) = setup(None);
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
    // Every event the fake holds in those months (Berlin's days; none is near the edges), one
    // line each, the cancelled one marked: not just "something printed".
    let held: Vec<_> = GraphData::sample()
        .events
        .into_iter()
        .filter(|e| ("2026-10-01".."2027-01-02").contains(&&e.start[..10]))
        .collect();
    assert_eq!(held.len(), 10, "{held:?}");
    let text = stdout(&cal);
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(lines.len(), held.len(), "{text}");
    for e in &held {
        let shown: Vec<&&str> = lines.iter().filter(|l| l.contains(&e.subject)).collect();
        assert_eq!(shown.len(), 1, "{}:\n{text}", e.subject);
        assert_eq!(
            shown[0].ends_with("[cancelled]"),
            e.cancelled,
            "{}",
            shown[0]
        );
    }
    // What Graph received: the calendar view of Berlin's 1 October to the end of 1 January,
    // with the account's current token.
    let asked = graph
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query.starts_with("/v1.0/me/calendarView?"))
        .collect::<Vec<_>>();
    assert_eq!(asked.len(), 1, "{asked:?}");
    let q = asked[0].query();
    let param = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(param("startDateTime"), Some("2026-09-30T22:00:00Z"));
    assert_eq!(param("endDateTime"), Some("2027-01-01T23:00:00Z"));
    assert_eq!(asked[0].method, "GET");
    assert_eq!(
        asked[0].header("authorization"),
        Some(format!("Bearer {}", idp.issued_access_tokens().last().unwrap()).as_str())
    );
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

// ---------------------------------------------------------------------------------------
// writes

/// Scopes that cover the reads and the four writes.
const WRITE_SCOPES: &str = "\"User.Read\", \"Files.ReadWrite\", \"Calendars.ReadWrite\", \"Mail.ReadBasic\", \"Mail.Send\", \"Contacts.Read\", \"Notes.Create\", \"offline_access\"";
const ALLOW_WRITES: &str = "allow = [\"ms.calendar.create\", \"ms.mail.send\", \"ms.files.upload\", \"ms.onenote.create\"]";

fn writer(top: &str, policy: &str) -> (FakeIdp, FakeGraph, Env) {
    let mut o = Options::new(Dialect::Microsoft);
    o.auto_approve_after_polls = Some(1);
    start_signed_in(o, GraphOptions::default(), top, WRITE_SCOPES, policy)
}

/// A file under the test's directory holding `text`.
fn file_with(env: &Env, name: &str, text: &[u8]) -> String {
    let p = env.home.parent().unwrap().join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// The `transactionId` of each `POST /me/events` Graph received.
fn event_transactions(graph: &FakeGraph) -> Vec<String> {
    graph
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path_and_query.ends_with("/me/events"))
        .map(|r| {
            serde_json::from_str::<Value>(&r.body).unwrap()["transactionId"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn sends(graph: &FakeGraph) -> usize {
    graph
        .requests()
        .iter()
        .filter(|r| r.path_and_query.ends_with("/me/sendMail"))
        .count()
}

#[test]
fn each_allowed_write_runs_once_and_the_audit_keeps_no_values() {
    let (_idp, graph, env) = writer("", ALLOW_WRITES);

    let body = file_with(&env, "event.txt", b"Bring the insurance card");
    let out = env.run(&[
        "ms",
        "calendar",
        "create",
        "--subject",
        "Dentist",
        "--start",
        "2026-12-08T10:00",
        "--duration",
        "30",
        "--location",
        "Main St 1",
        "--attendee",
        "bob@example.test",
        "--body-from",
        &body,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("10:00–10:30") && text.contains("Dentist"),
        "{text}"
    );
    assert!(
        text.contains("Invitations sent to bob@example.test"),
        "{text}"
    );
    let events = graph.created_events();
    assert_eq!(events.len(), 1);
    // Berlin's 10:00 in December is 09:00 UTC; sent as UTC wall time.
    assert_eq!(
        (events[0].start.as_str(), events[0].end.as_str()),
        ("2026-12-08T09:00:00Z", "2026-12-08T09:30:00Z")
    );
    assert_eq!(events[0].time_zone, "UTC");
    assert_eq!(events[0].attendees, ["bob@example.test"]);
    assert_eq!(events[0].body.as_deref(), Some("Bring the insurance card"));
    assert!(
        events[0]
            .transaction_id
            .as_deref()
            .is_some_and(|t| t.starts_with("sidekey-"))
    );

    // The mail's text from stdin.
    let mut child = env
        .cmd(&[
            "ms",
            "mail",
            "send",
            "--to",
            "bob@example.test,carol@example.test",
            "--cc",
            "dave@example.test",
            "--subject",
            "Lunch?",
            "--body-from",
            "-",
            "--json",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"At noon?\nCafe Mueller")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    env.record(&stdout(&out));
    env.record(&stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sent"], true, "{v}");
    let mails = graph.sent_mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["bob@example.test", "carol@example.test"]);
    assert_eq!(mails[0].cc, ["dave@example.test"]);
    assert_eq!(mails[0].body, "At noon?\nCafe Mueller");
    assert!(mails[0].save_to_sent_items);

    let local = file_with(&env, "plan.txt", b"the plan");
    let out = env.run(&["ms", "files", "upload", "Notes/plan.txt", "--from", &local]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("Uploaded Notes/plan.txt"),
        "{}",
        stdout(&out)
    );
    let ups = graph.uploads();
    assert_eq!(ups.len(), 1);
    assert_eq!(
        (ups[0].folder.as_str(), ups[0].name.as_str()),
        ("/Notes", "plan.txt")
    );
    assert_eq!(ups[0].content, b"the plan");

    let page = file_with(
        &env,
        "page.txt",
        b"Step 1 < step 2 & <b>not bold</b>\n\nDone.",
    );
    let out = env.run(&[
        "ms",
        "onenote",
        "create",
        "--section",
        "Agent notes",
        "--title",
        "Plan \"A\"",
        "--from",
        &page,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let pages = graph.pages();
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].section, "Agent notes");
    assert_eq!(pages[0].title, "Plan \"A\"");
    assert_eq!(pages[0].text, "Step 1 < step 2 & <b>not bold</b>\n\nDone.");

    let log = std::fs::read_to_string(env.home.join("audit.log")).unwrap();
    for name in [
        "ms.calendar.create",
        "ms.mail.send",
        "ms.files.upload",
        "ms.onenote.create",
    ] {
        assert!(
            log.contains(&format!("\"operation\":\"{name}\"")),
            "{name}: {log}"
        );
    }
    for private in [
        "Dentist",
        "bob@",
        "Lunch",
        "Notes/plan",
        "Agent notes",
        "insurance",
    ] {
        assert!(!log.contains(private), "{private} in the audit log: {log}");
    }
}

#[test]
fn writes_the_policy_does_not_allow_are_refused_before_graph() {
    let (_idp, graph, env) = writer("", "");
    graph.clear_requests();
    let local = file_with(&env, "plan.txt", b"x");
    for args in [
        &[
            "ms",
            "calendar",
            "create",
            "--subject",
            "S",
            "--start",
            "2026-12-08T10:00",
            "--duration",
            "30",
        ][..],
        &[
            "ms",
            "mail",
            "send",
            "--to",
            "bob@example.test",
            "--subject",
            "S",
            "--body",
            "B",
        ],
        &["ms", "files", "upload", "Notes/plan.txt", "--from", &local],
        &[
            "ms",
            "onenote",
            "create",
            "--section",
            "S",
            "--title",
            "T",
            "--text",
            "x",
        ],
    ] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(6), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("[accounts.work.policy] allow"),
            "{}",
            stderr(&out)
        );
    }
    assert!(graph.requests().is_empty(), "{:?}", graph.requests());
    assert!(graph.created_events().is_empty() && graph.sent_mails().is_empty());
    assert!(graph.uploads().is_empty() && graph.pages().is_empty());
    // Reads still run.
    let out = env.run(&["ms", "me"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// The `sidekey login …` in backquotes in `text`.
fn login_command(text: &str) -> Vec<String> {
    let start = text
        .find("`sidekey login")
        .unwrap_or_else(|| panic!("{text}"))
        + 1;
    let end = start + text[start..].find('`').unwrap();
    text[start..end]
        .split_whitespace()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_missing_write_scope_is_named_with_a_login_that_keeps_the_others() {
    let reads = "\"User.Read\", \"Files.Read\", \"Calendars.ReadBasic\", \"Mail.ReadBasic\", \"Contacts.Read\", \"offline_access\"";
    // The ceiling allows Mail.Send; the sign-in did not ask for it.
    let policy = format!("allow = [\"ms.mail.send\"]\nallowed_scopes = [{reads}, \"Mail.Send\"]");
    let mut o = Options::new(Dialect::Microsoft);
    o.auto_approve_after_polls = Some(1);
    let (_idp, graph, env) = start_signed_in(o, GraphOptions::default(), "", reads, &policy);
    graph.clear_requests();
    let send = [
        "ms",
        "mail",
        "send",
        "--to",
        "bob@example.test",
        "--subject",
        "S",
        "--body",
        "B",
    ];
    let out = env.run(&send);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("was not granted Mail.Send"), "{err}");
    assert!(graph.requests().is_empty(), "refused before calling Graph");
    let login = login_command(&err);
    assert_eq!(
        login.join(" "),
        "login work --scope User.Read --scope Files.Read --scope Calendars.ReadBasic --scope Mail.ReadBasic --scope Contacts.Read --scope offline_access --scope Mail.Send",
        "{err}"
    );
    // The advice works as written, and what was granted before stays granted.
    let args: Vec<&str> = login.iter().map(String::as_str).collect();
    let out = env.run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = env.run(&send);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(graph.sent_mails().len(), 1);
    let out = env.run(&["ms", "calendar", "--when", "today"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Beyond the ceiling the config changes first: no `--scope` the policy would refuse.
    let mut o = Options::new(Dialect::Microsoft);
    o.auto_approve_after_polls = Some(1);
    let (_idp, graph, env) = start_signed_in(
        o,
        GraphOptions::default(),
        "",
        reads,
        "allow = [\"ms.files.upload\"]",
    );
    graph.clear_requests();
    let local = file_with(&env, "x.txt", b"x");
    let out = env.run(&["ms", "files", "upload", "x.txt", "--from", &local]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(
            "add Files.ReadWrite to [accounts.work] scopes, then run `sidekey login work`"
        ),
        "{err}"
    );
    assert!(!err.contains("--scope"), "{err}");
    assert!(graph.requests().is_empty());
}

#[test]
fn an_event_whose_answer_was_lost_is_sent_again_and_made_once() {
    let (_idp, graph, env) = writer("http_timeout = \"1s\"", ALLOW_WRITES);
    let create = [
        "ms",
        "calendar",
        "create",
        "--subject",
        "Dentist",
        "--start",
        "2026-12-08T10:00",
        "--duration",
        "30",
    ];
    for fault in [WriteFault::Status(503), WriteFault::Hang] {
        graph.clear_requests();
        let before = graph.created_events().len();
        graph.fail_after_write("/me/events", 1, fault);
        let out = env.run(&create);
        assert_eq!(out.status.code(), Some(0), "{fault:?}: {}", stderr(&out));
        assert_eq!(
            graph.created_events().len(),
            before + 1,
            "{fault:?}: one event"
        );
        let tx = event_transactions(&graph);
        assert_eq!(tx.len(), 2, "{fault:?}");
        assert_eq!(tx[0], tx[1], "{fault:?}: the same transactionId");
    }
    // Each run is its own event.
    let ids: std::collections::HashSet<_> = graph
        .created_events()
        .into_iter()
        .map(|e| e.transaction_id)
        .collect();
    assert_eq!(ids.len(), 2);
    // Every answer lost: it may exist, say where to look.
    graph.fail_after_write("/me/events", 10, WriteFault::Status(500));
    let out = env.run(&create);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("the event may have been created"), "{err}");
    assert!(err.contains("check the calendar"), "{err}");
}

#[test]
fn a_mail_whose_request_went_out_is_never_sent_again() {
    let (idp, graph, env) = writer("http_timeout = \"1s\"", ALLOW_WRITES);
    let send = [
        "ms",
        "mail",
        "send",
        "--to",
        "bob@example.test",
        "--subject",
        "Invoice",
        "--body",
        "Paid.",
    ];
    for (n, fault) in [
        WriteFault::Hang,
        WriteFault::Status(503),
        WriteFault::Status(500),
    ]
    .into_iter()
    .enumerate()
    {
        graph.fail_after_write("/me/sendMail", 1, fault);
        let out = env.run(&send);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(5), "{fault:?}: {err}");
        assert!(
            err.contains("the mail \"Invoice\" may have been sent"),
            "{err}"
        );
        assert!(
            err.contains("check Sent Items before sending it again"),
            "{err}"
        );
        assert_eq!(sends(&graph), n + 1, "{fault:?}: sent once");
        assert_eq!(graph.sent_mails().len(), n + 1);
    }
    let out = env.run(&[&send[..], &["--json"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(graph.sent_mails().len(), 4);

    // A token Graph refuses did nothing: refreshed once, the mail goes once.
    idp.invalidate_access_tokens();
    graph.clear_requests();
    let out = env.run(&send);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        sends(&graph),
        2,
        "the refused try and the one after the refresh"
    );
    assert_eq!(graph.sent_mails().len(), 5);
    let log = std::fs::read_to_string(env.home.join("audit.log")).unwrap();
    assert!(log.contains("written_unconfirmed"), "{log}");
}

#[test]
fn an_upload_never_replaces_a_file_unless_asked() {
    let (_idp, graph, env) = writer("", ALLOW_WRITES);
    let first = file_with(&env, "v1.txt", b"version 1");
    let second = file_with(&env, "v2.txt", b"version 2");
    let up = |from: &str, extra: &[&str]| {
        env.run(
            &[
                &["ms", "files", "upload", "/Notes/plan.txt", "--from", from][..],
                extra,
            ]
            .concat(),
        )
    };
    let out = up(&first, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = up(&second, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains("a file named Notes/plan.txt already exists in OneDrive, so nothing was uploaded and it is unchanged"),
        "{err}"
    );
    assert!(err.contains("--conflict replace"), "{err}");
    assert_eq!(graph.uploads()[0].content, b"version 1");
    // The request said so: fail, never Graph's default for PUT (replace).
    let last = graph.requests().pop().unwrap();
    assert!(
        last.path_and_query.ends_with("conflictBehavior=fail"),
        "{}",
        last.path_and_query
    );

    let out = up(&second, &["--conflict", "rename"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("Uploaded Notes/plan 1.txt"),
        "{}",
        stdout(&out)
    );
    assert_eq!(graph.uploads()[0].content, b"version 1");

    let out = up(&second, &["--conflict", "replace"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("Replaced the content of Notes/plan.txt"),
        "{}",
        stdout(&out)
    );
    let ups = graph.uploads();
    assert_eq!(ups[0].content, b"version 2");
    assert_eq!(ups.len(), 2);

    // Too big or a bad path: refused before any request.
    graph.clear_requests();
    let big = file_with(&env, "big.bin", &vec![0u8; 4_000_001]);
    for out in [
        up(&big, &[]),
        env.run(&["ms", "files", "upload", "a:b.txt", "--from", &first]),
    ] {
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    }
    assert!(graph.requests().is_empty());
}

/// Issue 23, item 5: `ms dashboard` remembers the contact folders it found (in the vault, so
/// across processes), and the next dashboard is one Graph request again; a day later it reads
/// them afresh; a logout forgets them.
#[test]
fn the_dashboard_remembers_contact_folders_for_a_day() {
    use sidekey_testkit::{FakeContact, FakeContactFolder};
    let folder = |id: &str| FakeContactFolder {
        id: id.into(),
        display_name: id.into(),
        parent: None,
        contacts: vec![FakeContact::new(&format!("C-{id}"), "Some One", None)],
    };
    let mut data = GraphData::sample();
    data.contact_folders = vec![folder("CF-FAMILY"), folder("CF-CLUB")];
    let (_idp, graph, env) = setup_with(
        None,
        GraphOptions {
            data,
            ..GraphOptions::default()
        },
    );
    let dashboard = |graph: &FakeGraph| {
        graph.clear_requests();
        let out = env.run(&["ms", "dashboard", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let paths: Vec<String> = graph
            .requests()
            .iter()
            .map(|r| r.path_and_query.clone())
            .collect();
        (paths.len(), paths)
    };
    let (n, paths) = dashboard(&graph);
    assert_eq!(n, 2, "the first dashboard learns the folders: {paths:?}");
    let (n, paths) = dashboard(&graph);
    assert_eq!(n, 1, "{paths:?}");
    let (n, _) = dashboard(&graph);
    assert_eq!(n, 1);

    // Remembered a day ago: read afresh (two requests), then trusted again.
    let key = std::fs::read_to_string(&env.key_file).unwrap();
    let vault = sidekey_vault::Vault::open(
        &env.home.join("vault"),
        &sidekey_vault::Key::parse(&key).unwrap(),
    )
    .unwrap();
    let slot: serde_json::Value = vault.load_slot("work", "msfolders").unwrap().unwrap();
    assert_eq!(
        slot["ids"],
        serde_json::json!(["CF-FAMILY", "CF-CLUB"]),
        "{slot}"
    );
    let day_ago = slot["listed_at"].as_i64().unwrap() - 24 * 3600 - 1;
    let lock = vault.lock("work").unwrap();
    lock.store_slot(
        "msfolders",
        &serde_json::json!({"listed_at": day_ago, "ids": ["CF-FAMILY", "CF-CLUB"]}),
    )
    .unwrap();
    drop(lock);
    let (n, _) = dashboard(&graph);
    assert_eq!(n, 2, "a day old: read afresh");
    let (n, _) = dashboard(&graph);
    assert_eq!(n, 1);

    // A folder deleted in Outlook: still one request (404 for it inside the batch).
    graph.set_contact_folders(vec![folder("CF-FAMILY")]);
    let (n, _) = dashboard(&graph);
    assert_eq!(n, 1);
    let slot: serde_json::Value = vault.load_slot("work", "msfolders").unwrap().unwrap();
    assert_eq!(slot["ids"], serde_json::json!(["CF-FAMILY"]), "{slot}");

    let out = env.run(&["logout", "work"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        vault
            .load_slot::<serde_json::Value>("work", "msfolders")
            .unwrap()
            .is_none()
    );
}
