//! Approvals end to end (docs/approvals.md): the agent's write under `ask` waits for the person,
//! who decides on their phone — the fake Telegram, pressing buttons in Telegram's wire format —
//! or at the terminal. Driven through the daemon's API, the agent's CLI in client mode, and the
//! official MCP Python SDK, against the fake Google identity server and the fake Drive/Docs.
//!
//! Every test checks the four places an approval shows: what Google received (the write ran
//! exactly once, or never), what the person's chat shows (the request with its buttons, then
//! the outcome without them, every press answered), what the agent was told (exit code or HTTP
//! status, `reason`, `error.approval`), and the audit log (one entry per event, with the hash
//! and never the written text). Every wait is a bounded poll.

use crate::common;
use crate::common::daemon_helpers::{self, API_KEY, Daemon};

use common::*;
use serde_json::{Value, json};
use sidekey_testkit::telegram::{FakeTelegram, SentMessage};
use sidekey_testkit::{Dialect, FakeGoogle, FakeIdp, GoogleOptions, Options};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// sidekey's own approval bot.
const BOT: &str = "987654321:AAsidekeyApprovals_secret-bot-token";
/// The person: their Telegram user id, which is also their private chat's id.
const ALICE: i64 = 4242;
/// Someone else in a group chat with the bot.
const MALLORY: i64 = 5555;
const APPROVE: &str = "✅ Approve";
const DENY: &str = "❌ Deny";
/// Long enough for a slow, shared CI machine; every wait below ends as soon as it can.
const LIMIT: Duration = Duration::from_secs(30);

/// The fakes and a home whose Google account `g` is signed in, with `google.docs.create` under
/// `ask` and the approvals sent to `chat` through [`BOT`].
struct World {
    _idp: FakeIdp,
    google: FakeGoogle,
    tg: FakeTelegram,
    env: Env,
}

/// At the end of a test that has not failed otherwise: Telegram refused nothing sidekey sent (a
/// second answer to one press, an edit that changes nothing, a press answered too late), and no
/// daemon said it could not answer a press or edit a message.
impl Drop for World {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        assert!(
            self.tg.rejected().is_empty(),
            "Telegram refused: {:?}",
            self.tg.rejected()
        );
        let mut logs = vec![];
        for e in std::fs::read_dir(self.env.dir.path()).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("daemon.") && name.ends_with(".log") {
                logs.push(std::fs::read_to_string(e.path()).unwrap());
            }
        }
        for log in logs {
            assert!(!log.contains("could not"), "{log}");
        }
    }
}

fn world(approvals: &str, chat: i64) -> World {
    let mut o = Options::new(Dialect::Google);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let google = FakeGoogle::start(GoogleOptions::default());
    google.trust(&idp, "tv");
    let tg = FakeTelegram::start(BOT);
    let account = format!(
        "{}[accounts.g.drive]\napi_root = \"{1}\"\ndocs_root = \"{1}\"\n\n",
        account_toml("g", Dialect::Google, &idp),
        google.base_url()
    );
    // Signed in first, so the chat holds nothing but approvals.
    let env = Env::new(&format!("timezone = \"Europe/Berlin\"\n{account}"));
    let out = env.run(&["login", "g"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let token_file = env.dir.path().join("secrets/bot_token");
    std::fs::write(&token_file, format!("{BOT}\n")).unwrap();
    env.write_config(&format!(
        "timezone = \"Europe/Berlin\"\n\n[approvals]\n{approvals}\n\n[notify.telegram]\nbot_token_file = \"{}\"\nchat_id = {chat}\napi_base = \"{}\"\n\n{account}[accounts.g.policy]\nask = [\"google.docs.create\"]\n",
        token_file.display(),
        tg.api_base()
    ));
    World {
        _idp: idp,
        google,
        tg,
        env,
    }
}

/// `google.docs.create` of `title` as the agent sends it on the API (`extra`: `approval`, `wait`).
fn create(title: &str, extra: Value) -> Value {
    let mut body = json!({
        "op": "google.docs.create",
        "title": title,
        "markdown": markdown(title),
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    body
}

/// The document's text: its first line is what the person reads under "Text".
fn markdown(title: &str) -> String {
    format!("# {title}\nThe new place on Main Street, at noon.\n")
}

/// `POST /v1/op` with the agent's API key: (status, JSON body).
fn op(d: &Daemon, body: &Value) -> (u16, Value) {
    let (status, text) = daemon_helpers::raw(
        &d.socket,
        "POST",
        "/v1/op",
        Some(API_KEY),
        Some(&body.to_string()),
    );
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, v)
}

/// The agent's CLI in client mode, creating `title` from a Markdown file (`extra`: its
/// `--approval` flags).
fn agent_create(w: &World, d: &Daemon, title: &str, extra: &[&str]) -> std::process::Output {
    let file = w
        .env
        .dir
        .path()
        .join(format!("{}.md", title.replace(' ', "_")));
    std::fs::write(&file, markdown(title)).unwrap();
    let mut args = vec![
        "google",
        "docs",
        "create",
        "--title",
        title,
        "--from",
        file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    daemon_helpers::agent(&w.env, d, &args)
}

/// Poll `f` until it answers, at most [`LIMIT`].
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t0.elapsed() < LIMIT, "{what}: not within {LIMIT:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How many Google Docs named `title` Drive holds: the writes that happened.
fn docs_named(google: &FakeGoogle, title: &str) -> usize {
    google
        .files()
        .iter()
        .filter(|f| f.1 == title && f.2 == sidekey_testkit::google::DOC_MIME)
        .count()
}

/// The approval message for `title`, once the bot sent it.
fn message_for(tg: &FakeTelegram, title: &str) -> SentMessage {
    let needle = format!("<b>Title:</b> {title}\n");
    wait_for(&format!("the approval message for {title:?}"), || {
        tg.messages()
            .into_iter()
            .find(|m| m.reply_markup.is_some() && m.text.contains(&needle))
    })
}

/// The approval id a message names (`… · approval ID</i>`).
fn id_in(m: &SentMessage) -> String {
    let after = m
        .text
        .rsplit_once("approval ")
        .unwrap_or_else(|| panic!("no approval id in {}", m.text))
        .1;
    after
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

/// The answer Telegram got for the callback query `query`.
fn answer_to(tg: &FakeTelegram, query: &str) -> (String, bool) {
    wait_for(&format!("the answer to press {query}"), || {
        tg.answers()
            .into_iter()
            .find(|a| a.callback_query_id == query)
            .map(|a| (a.text.unwrap_or_default(), a.show_alert))
    })
}

/// The edits of message `id`, once there are `n`.
fn edits_of(tg: &FakeTelegram, id: i64, n: usize) -> Vec<String> {
    wait_for(&format!("{n} edit(s) of message {id}"), || {
        let edits: Vec<_> = tg
            .edits()
            .into_iter()
            .filter(|e| e.message_id == id)
            .collect();
        (edits.len() >= n).then(|| {
            for e in &edits {
                assert!(e.reply_markup.is_none(), "an edit kept buttons: {e:?}");
            }
            edits.into_iter().map(|e| e.text).collect()
        })
    })
}

fn audit(env: &Env) -> Vec<Value> {
    std::fs::read_to_string(env.home.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The approval events of `id` in the audit log, in order, as (event, decision, caller).
fn events(env: &Env, id: &str) -> Vec<(String, String, String)> {
    audit(env)
        .iter()
        .filter(|e| e["args"]["approval"] == id && e["args"]["event"].is_string())
        .map(|e| {
            (
                e["args"]["event"].as_str().unwrap().to_string(),
                e["decision"].as_str().unwrap().to_string(),
                e["caller"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The hash `id` was requested with (its `requested` entry).
fn requested_hash(env: &Env, id: &str) -> String {
    audit(env)
        .iter()
        .find(|e| e["args"]["approval"] == id && e["args"]["event"] == "requested")
        .and_then(|e| e["args"]["hash"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no requested entry for {id}"))
}

/// The run entries that spent `id`.
fn runs_of(env: &Env, id: &str) -> Vec<Value> {
    audit(env)
        .into_iter()
        .filter(|e| e["operation"] == "google.docs.create" && e["args"]["approval"]["id"] == id)
        .collect()
}

/// No document title or text reached the audit log.
fn assert_audit_keeps_no_text(env: &Env, titles: &[&str]) {
    let log = std::fs::read_to_string(env.home.join("audit.log")).unwrap();
    for t in titles {
        assert!(!log.contains(t), "the title {t:?} reached the audit log");
    }
    assert!(
        !log.contains("Main Street"),
        "the text reached the audit log"
    );
}

/// The agent's error body: (reason, approval id).
fn reason_and_id(body: &Value) -> (String, String) {
    (
        body["error"]["reason"].as_str().unwrap_or_default().into(),
        body["error"]["approval"]
            .as_str()
            .unwrap_or_default()
            .into(),
    )
}

/// Case 1: The agent's write waits; the person presses Approve; it runs once, the press is answered
/// and the message says who approved, without its buttons.
#[test]
fn approved_on_the_phone_the_write_runs_once() {
    let w = world("", ALICE);
    let (d, _log) = daemon_helpers::start_daemon_logged(&w.env);
    std::thread::scope(|s| {
        let call = s.spawn(|| op(&d, &create("Lunch plan", json!({}))));
        let m = message_for(&w.tg, "Lunch plan");
        let id = id_in(&m);
        assert_eq!(m.chat_id, ALICE.to_string());
        assert_eq!(m.parse_mode.as_deref(), Some("HTML"));
        for want in [
            "<b>Approve?</b> Create a Google Doc in the inbox folder\n",
            "<b>Account:</b> g (signed in as ",
            "The new place on Main Street, at noon.",
            "<b>Asked by:</b> api:unix (the agent)",
            "(Europe/Berlin)",
            &format!("<i>google.docs.create · approval {id}</i>"),
        ] {
            assert!(m.text.contains(want), "{want:?} not in {}", m.text);
        }
        let buttons = w.tg.buttons(m.message_id);
        let labels: Vec<&str> = buttons[0].iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, [APPROVE, DENY]);
        assert!(
            buttons[0].iter().all(|(_, data)| !data.contains(&id)),
            "the buttons carry the id the agent holds: {buttons:?}"
        );
        // Nothing ran while the person had not decided.
        assert_eq!(docs_named(&w.google, "Lunch plan"), 0);
        assert!(!call.is_finished(), "the call did not wait for the person");

        let q =
            w.tg.press_label(m.message_id, APPROVE, ALICE, Some("alice"))
                .unwrap();
        let (status, body) = call.join().unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(
            body["text"]
                .as_str()
                .unwrap()
                .contains("Created Google Doc \"Lunch plan\""),
            "{body}"
        );
        assert_eq!(docs_named(&w.google, "Lunch plan"), 1);
        assert_eq!(
            answer_to(&w.tg, &q),
            ("Approved: it runs once.".to_string(), false)
        );
        let edits = edits_of(&w.tg, m.message_id, 1);
        assert!(
            edits[0].starts_with(&m.text)
                && edits[0].ends_with("<b>✅ Approved by @alice (Telegram user 4242)</b>"),
            "{}",
            edits[0]
        );
        assert!(w.tg.buttons(m.message_id).is_empty());

        // Spent: the same call with the id does not run a second time.
        let (status, again) = op(&d, &create("Lunch plan", json!({"approval": id})));
        assert_eq!(status, 403, "{again}");
        assert!(
            again["error"]["message"]
                .as_str()
                .unwrap()
                .contains("already used"),
            "{again}"
        );
        assert_eq!(docs_named(&w.google, "Lunch plan"), 1);

        let ev = events(&w.env, &id);
        assert_eq!(
            ev,
            [
                ("requested".into(), "ask".into(), "api:unix".into()),
                (
                    "approved".into(),
                    "allow".into(),
                    "@alice (Telegram user 4242)".into()
                ),
            ]
        );
        let runs = runs_of(&w.env, &id);
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0]["decision"], "allow");
        assert_eq!(runs[0]["caller"], "api:unix");
        assert_eq!(
            runs[0]["args"]["approval"]["hash"],
            json!(requested_hash(&w.env, &id))
        );
        assert_eq!(requested_hash(&w.env, &id).len(), 64);
        assert_audit_keeps_no_text(&w.env, &["Lunch plan"]);
    });
}

/// Case 2: Denied on the phone: the agent's CLI exits 8, the API answers 403 `approval_denied`, and
/// nothing is written.
#[test]
fn denied_on_the_phone_nothing_is_written() {
    let w = world("", ALICE);
    let (d, _log) = daemon_helpers::start_daemon_logged(&w.env);
    std::thread::scope(|s| {
        let call = s.spawn(|| agent_create(&w, &d, "Budget cut", &[]));
        let m = message_for(&w.tg, "Budget cut");
        let id = id_in(&m);
        let q =
            w.tg.press_label(m.message_id, DENY, ALICE, Some("alice"))
                .unwrap();
        let out = call.join().unwrap();
        assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("denied") && err.contains(&id) && err.contains("nothing ran"),
            "{err}"
        );
        assert_eq!(
            answer_to(&w.tg, &q),
            ("Denied: nothing runs.".to_string(), false)
        );
        let edits = edits_of(&w.tg, m.message_id, 1);
        assert!(
            edits[0].ends_with("<b>❌ Denied by @alice (Telegram user 4242)</b>"),
            "{}",
            edits[0]
        );
        // Through the API, with the id: 403, the reason and the id.
        let (status, body) = op(&d, &create("Budget cut", json!({"approval": id})));
        assert_eq!(status, 403, "{body}");
        assert_eq!(
            reason_and_id(&body),
            ("approval_denied".to_string(), id.clone())
        );
        assert_eq!(docs_named(&w.google, "Budget cut"), 0);
        assert!(runs_of(&w.env, &id).is_empty());
        let ev = events(&w.env, &id);
        assert_eq!(
            ev,
            [
                ("requested".into(), "ask".into(), "api:unix".into()),
                (
                    "denied".into(),
                    "deny".into(),
                    "@alice (Telegram user 4242)".into()
                ),
            ]
        );
        assert_audit_keeps_no_text(&w.env, &["Budget cut"]);
    });
}

/// Unix seconds now.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// When request `id` expires (unix seconds), from its file in the store.
fn expires_of(env: &Env, id: &str) -> i64 {
    let text = std::fs::read_to_string(env.home.join(format!("approvals/{id}.json"))).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["expires"]
        .as_i64()
        .unwrap()
}

/// Case 3: Nobody decides: the waiting call answers 410 `approval_expired` (exit 9), the message
/// says it expired (promptly, even when no call waits), the expiry is audited once, nothing is
/// written; a press after the expiry is answered "expired" and changes nothing.
#[test]
fn an_undecided_request_expires_and_a_late_press_changes_nothing() {
    let w = world("expires = 2", ALICE);
    let (mut d, _log) = daemon_helpers::start_daemon_logged(&w.env);
    // The call waits (30 s by default) and hears of the expiry after 2 s.
    let t0 = Instant::now();
    let (status, body) = op(&d, &create("Old plan", json!({})));
    assert_eq!(status, 410, "{body}");
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    let m = message_for(&w.tg, "Old plan");
    let id = id_in(&m);
    assert_eq!(
        reason_and_id(&body),
        ("approval_expired".to_string(), id.clone())
    );
    let edits = edits_of(&w.tg, m.message_id, 1);
    assert!(
        edits[0].ends_with("<b>⌛ Expired: nobody decided, nothing ran</b>"),
        "{}",
        edits[0]
    );
    assert!(w.tg.buttons(m.message_id).is_empty());
    assert_eq!(docs_named(&w.google, "Old plan"), 0);

    // Nobody waits and nobody presses: the phone says it expired soon after it did, not when
    // the poller's long poll happens to end.
    let (status, body) = op(&d, &create("Unwatched", json!({"wait": 0})));
    assert_eq!(status, 409, "{body}");
    let unwatched = message_for(&w.tg, "Unwatched");
    let until = expires_of(&w.env, &id_in(&unwatched));
    wait_for("the expiry's edit", || {
        let edited =
            w.tg.edits()
                .iter()
                .any(|e| e.message_id == unwatched.message_id);
        edited.then_some(())
    });
    let late_by = now() - until;
    assert!(
        late_by <= 3,
        "the message was edited {late_by} s after the request expired"
    );

    // A request the agent stopped waiting for, pressed after it expired while the daemon was
    // down (so the phone still showed the buttons): the press waits at Telegram, and the
    // daemon started again answers it "expired" and runs nothing.
    let (status, body) = op(&d, &create("Late plan", json!({"wait": 0})));
    assert_eq!(status, 409, "{body}");
    let late = message_for(&w.tg, "Late plan");
    let late_id = id_in(&late);
    assert_eq!(body["error"]["approval"], json!(late_id));
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    let until = expires_of(&w.env, &late_id);
    wait_for("the request's expiry", || (now() > until).then_some(()));
    let q =
        w.tg.press_label(late.message_id, APPROVE, ALICE, Some("alice"))
            .unwrap();
    let (d, _log) = daemon_helpers::start_daemon_logged(&w.env);
    assert_eq!(
        answer_to(&w.tg, &q),
        ("This request expired: nothing runs.".to_string(), false)
    );
    let edits = edits_of(&w.tg, late.message_id, 1);
    assert_eq!(edits.len(), 1, "{edits:?}");
    assert!(edits[0].contains("Expired: nobody decided"), "{}", edits[0]);
    let (status, body) = op(&d, &create("Late plan", json!({"approval": late_id})));
    assert_eq!(status, 410, "{body}");
    assert_eq!(
        reason_and_id(&body),
        ("approval_expired".to_string(), late_id.clone())
    );
    for title in ["Old plan", "Unwatched", "Late plan"] {
        assert_eq!(docs_named(&w.google, title), 0, "{title}");
    }
    let unwatched_id = id_in(&unwatched);
    for i in [&id, &unwatched_id, &late_id] {
        let ev: Vec<String> = events(&w.env, i).into_iter().map(|e| e.0).collect();
        assert_eq!(ev, ["requested", "expired"], "{i}");
        assert!(runs_of(&w.env, i).is_empty());
    }
    let listed = w.env.run(&["approvals", "--all", "--json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let states: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["expired", "expired", "expired"], "{listed}");
    assert_audit_keeps_no_text(&w.env, &["Old plan", "Unwatched", "Late plan"]);
}

/// Case 4: In a group, a press by someone who is not an approver is refused, answered and audited,
/// and runs nothing; the approver's press afterwards still decides.
#[test]
fn a_press_by_someone_else_is_refused_and_the_approvers_still_counts() {
    let w = world("telegram_approvers = [4242]", -1_001_234_567_890);
    let (d, _log) = daemon_helpers::start_daemon_logged(&w.env);
    std::thread::scope(|s| {
        let call = s.spawn(|| op(&d, &create("Team offsite", json!({}))));
        let m = message_for(&w.tg, "Team offsite");
        let id = id_in(&m);
        assert_eq!(m.chat_id, "-1001234567890");
        let q =
            w.tg.press_label(m.message_id, APPROVE, MALLORY, Some("mallory"))
                .unwrap();
        let (text, alert) = answer_to(&w.tg, &q);
        assert!(alert, "a refusal is an alert the presser must dismiss");
        assert!(text.contains("refused"), "{text}");
        let refused = wait_for("the refused press in the audit log", || {
            events(&w.env, &id)
                .into_iter()
                .find(|e| e.0 == "refused_press")
        });
        assert_eq!(refused.1, "deny");
        assert_eq!(refused.2, "@mallory (Telegram user 5555)");
        // Nothing changed: no write, no edit, the buttons still there, the call still waiting.
        assert_eq!(docs_named(&w.google, "Team offsite"), 0);
        assert!(w.tg.edits().is_empty(), "{:?}", w.tg.edits());
        assert_eq!(w.tg.buttons(m.message_id)[0].len(), 2);
        assert!(!call.is_finished());

        let q =
            w.tg.press_label(m.message_id, APPROVE, ALICE, Some("alice"))
                .unwrap();
        let (status, body) = call.join().unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(docs_named(&w.google, "Team offsite"), 1);
        assert_eq!(answer_to(&w.tg, &q).0, "Approved: it runs once.");
        let edits = edits_of(&w.tg, m.message_id, 1);
        assert!(
            edits[0].ends_with("Approved by @alice (Telegram user 4242)</b>"),
            "{}",
            edits[0]
        );
        let ev: Vec<String> = events(&w.env, &id).into_iter().map(|e| e.0).collect();
        assert_eq!(ev, ["requested", "refused_press", "approved"]);
        assert_eq!(runs_of(&w.env, &id).len(), 1);
    });
}

/// Case 5: An approval is for the arguments the person saw: the agent sending other ones with the
/// approved id gets a new request and nothing runs; the approved ones with the id run.
#[test]
fn changed_arguments_after_approval_need_their_own_approval() {
    let w = world("", ALICE);
    let (d, _log) = daemon_helpers::start_daemon_logged(&w.env);
    let (status, body) = op(&d, &create("Plan A", json!({"wait": 0})));
    assert_eq!(status, 409, "{body}");
    let a = message_for(&w.tg, "Plan A");
    let id = id_in(&a);
    assert_eq!(
        reason_and_id(&body),
        ("approval_pending".into(), id.clone())
    );
    let q =
        w.tg.press_label(a.message_id, APPROVE, ALICE, Some("alice"))
            .unwrap();
    assert_eq!(answer_to(&w.tg, &q).0, "Approved: it runs once.");

    // Other arguments, the approved id: a new request, shown to the person, and nothing ran.
    let (status, body) = op(&d, &create("Plan B", json!({"approval": id, "wait": 0})));
    assert_eq!(status, 409, "{body}");
    let b = message_for(&w.tg, "Plan B");
    let other = id_in(&b);
    assert_ne!(other, id);
    assert_eq!(
        reason_and_id(&body),
        ("approval_pending".into(), other.clone())
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("was for another action"),
        "{body}"
    );
    assert_eq!(docs_named(&w.google, "Plan B"), 0);
    assert_eq!(docs_named(&w.google, "Plan A"), 0);
    assert_eq!(w.tg.buttons(b.message_id)[0].len(), 2);

    // The approved arguments with the id: they run, once.
    let (status, body) = op(&d, &create("Plan A", json!({"approval": id})));
    assert_eq!(status, 200, "{body}");
    assert_eq!(docs_named(&w.google, "Plan A"), 1);
    assert_eq!(docs_named(&w.google, "Plan B"), 0);
    let run = runs_of(&w.env, &id);
    assert_eq!(run.len(), 1);
    let hash = requested_hash(&w.env, &id);
    assert_eq!(run[0]["args"]["approval"]["hash"], json!(hash));
    assert_ne!(hash, requested_hash(&w.env, &other));
    let ev: Vec<String> = events(&w.env, &other).into_iter().map(|e| e.0).collect();
    assert_eq!(ev, ["requested"], "the other request is still open");
}

/// Case 6: Presses Telegram delivers again, or a Deny after an Approve, change nothing: the first
/// decision stands, every press is answered, and the write runs at most once. The presses are made
/// while the daemon is down, so they wait at Telegram and arrive together.
#[test]
fn a_replayed_press_changes_nothing() {
    let w = world("", ALICE);
    let (mut d, _log) = daemon_helpers::start_daemon_logged(&w.env);
    let (status, _) = op(&d, &create("Twice", json!({"wait": 0})));
    assert_eq!(status, 409);
    let (status, _) = op(&d, &create("Flip", json!({"wait": 0})));
    assert_eq!(status, 409);
    let twice = message_for(&w.tg, "Twice");
    let flip = message_for(&w.tg, "Flip");
    let (twice_id, flip_id) = (id_in(&twice), id_in(&flip));
    d.child.kill().unwrap();
    d.child.wait().unwrap();

    let press = |m: &SentMessage, label: &str| {
        w.tg.press_label(m.message_id, label, ALICE, Some("alice"))
            .unwrap()
    };
    let q1 = press(&twice, APPROVE);
    let q2 = press(&twice, APPROVE);
    let q3 = press(&flip, DENY);
    let q4 = press(&flip, APPROVE);
    let (d, _log) = daemon_helpers::start_daemon_logged(&w.env);
    assert_eq!(answer_to(&w.tg, &q1).0, "Approved: it runs once.");
    assert_eq!(
        answer_to(&w.tg, &q2).0,
        "Already approved by @alice (Telegram user 4242)."
    );
    assert_eq!(answer_to(&w.tg, &q3).0, "Denied: nothing runs.");
    assert_eq!(
        answer_to(&w.tg, &q4).0,
        "Already denied by @alice (Telegram user 4242)."
    );

    let (status, body) = op(&d, &create("Twice", json!({"approval": twice_id})));
    assert_eq!(status, 200, "{body}");
    let (status, body) = op(&d, &create("Twice", json!({"approval": twice_id})));
    assert_eq!(status, 403, "{body}");
    assert_eq!(docs_named(&w.google, "Twice"), 1);
    let (status, body) = op(&d, &create("Flip", json!({"approval": flip_id})));
    assert_eq!(status, 403, "{body}");
    assert_eq!(reason_and_id(&body).0, "approval_denied");
    assert_eq!(docs_named(&w.google, "Flip"), 0);

    // One edit each, saying the first decision.
    let edits = edits_of(&w.tg, twice.message_id, 1);
    assert_eq!(edits.len(), 1, "{edits:?}");
    assert!(edits[0].contains("Approved by @alice"), "{}", edits[0]);
    let edits = edits_of(&w.tg, flip.message_id, 1);
    assert_eq!(edits.len(), 1, "{edits:?}");
    assert!(edits[0].contains("Denied by @alice"), "{}", edits[0]);
    let ev = |id: &str| -> Vec<String> { events(&w.env, id).into_iter().map(|e| e.0).collect() };
    assert_eq!(ev(&twice_id), ["requested", "approved"]);
    assert_eq!(ev(&flip_id), ["requested", "denied"]);
    assert_eq!(runs_of(&w.env, &twice_id).len(), 1);
    assert!(runs_of(&w.env, &flip_id).is_empty());
}

/// Case 7: Another program polls the bot (Telegram answers 409): the pending answer and the
/// daemon's log say to give approvals a bot of their own, and the person approves at the terminal.
#[test]
fn a_second_poller_is_named_and_the_terminal_still_approves() {
    let w = world("", ALICE);
    w.tg.polled_by_another();
    let (d, log) = daemon_helpers::start_daemon_logged(&w.env);
    let (status, body) = op(&d, &create("Conflict", json!({"wait": 2})));
    assert_eq!(status, 409, "{body}");
    let (reason, id) = reason_and_id(&body);
    assert_eq!(reason, "approval_pending");
    let said = body["error"]["message"].as_str().unwrap();
    assert!(
        said.contains("separate bot for approvals") && said.contains("sidekey approvals"),
        "the pending answer does not say why the buttons cannot work: {said}"
    );
    let logged = wait_for("the 409 in the daemon's log", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains("Use a separate bot for approvals")
            .then_some(text)
    });
    assert!(logged.contains("another program polls"), "{logged}");
    // The message still went out (its buttons cannot be heard).
    let m = message_for(&w.tg, "Conflict");
    assert_eq!(id_in(&m), id);

    let out = w.env.run(&["approve", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("approved {id}")),
        "{}",
        stdout(&out)
    );
    let (status, body) = op(&d, &create("Conflict", json!({"approval": id})));
    assert_eq!(status, 200, "{body}");
    assert_eq!(docs_named(&w.google, "Conflict"), 1);
    let edits = edits_of(&w.tg, m.message_id, 1);
    assert!(
        edits[0].contains("Approved by the terminal (cli uid="),
        "{}",
        edits[0]
    );
    let ev = events(&w.env, &id);
    assert_eq!(ev[1].0, "approved");
    assert!(ev[1].2.starts_with("the terminal (cli uid="), "{ev:?}");
}

/// Case 8: The daemon restarts while a request is open: the new one names it in its log, the press
/// after the restart decides it, and the agent's call with the id runs it.
#[test]
fn a_request_survives_a_restart_of_the_daemon() {
    let w = world("", ALICE);
    let (mut d, _log) = daemon_helpers::start_daemon_logged(&w.env);
    let (status, body) = op(&d, &create("Restart", json!({"wait": 0})));
    assert_eq!(status, 409, "{body}");
    let m = message_for(&w.tg, "Restart");
    let id = id_in(&m);
    d.child.kill().unwrap();
    d.child.wait().unwrap();

    let (d, log) = daemon_helpers::start_daemon_logged(&w.env);
    let said = wait_for("the open request in the new daemon's log", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains("from before this start are still open")
            .then_some(text)
    });
    assert!(
        said.contains(&format!("{id} (google.docs.create on g, expires in ")),
        "{said}"
    );
    let q =
        w.tg.press_label(m.message_id, APPROVE, ALICE, Some("alice"))
            .unwrap();
    assert_eq!(answer_to(&w.tg, &q).0, "Approved: it runs once.");
    assert_eq!(docs_named(&w.google, "Restart"), 0, "approved is not run");
    let (status, body) = op(&d, &create("Restart", json!({"approval": id})));
    assert_eq!(status, 200, "{body}");
    assert_eq!(docs_named(&w.google, "Restart"), 1);
    let edits = edits_of(&w.tg, m.message_id, 1);
    assert!(edits[0].contains("Approved by @alice"), "{}", edits[0]);
    assert_eq!(runs_of(&w.env, &id).len(), 1);
}

/// Case 9: A short wait answers pending (exit 7 / HTTP 409, with the id); asking again for the same
/// action waits on the same request; calling with the id waits and runs after the press.
#[test]
fn pending_then_waiting_again_with_the_id() {
    let w = world("", ALICE);
    let (d, _log) = daemon_helpers::start_daemon_logged(&w.env);
    let out = agent_create(&w, &d, "Waiting", &["--approval-wait", "1"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let m = message_for(&w.tg, "Waiting");
    let id = id_in(&m);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("call again with approval {id}")),
        "{err}"
    );
    // The same action through the API: the same request, no second message.
    let (status, body) = op(&d, &create("Waiting", json!({"wait": 0})));
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        reason_and_id(&body),
        ("approval_pending".into(), id.clone())
    );
    let asked: Vec<_> =
        w.tg.messages()
            .into_iter()
            .filter(|m| m.text.contains("<b>Title:</b> Waiting"))
            .collect();
    assert_eq!(asked.len(), 1, "the person was asked twice");

    std::thread::scope(|s| {
        let call = s.spawn(|| agent_create(&w, &d, "Waiting", &["--approval", &id]));
        // The call is at the daemon, waiting, and nothing ran.
        wait_for("the agent's call at the daemon", || {
            (connections(&d.socket) > 0).then_some(())
        });
        assert!(!call.is_finished(), "the call with the id did not wait");
        assert_eq!(docs_named(&w.google, "Waiting"), 0);
        w.tg.press_label(m.message_id, APPROVE, ALICE, Some("alice"))
            .unwrap();
        let out = call.join().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            stdout(&out).contains("Created Google Doc"),
            "{}",
            stdout(&out)
        );
    });
    assert_eq!(docs_named(&w.google, "Waiting"), 1);
    // Two calls answered pending, each an `ask` entry; one run.
    let pending = audit(&w.env)
        .into_iter()
        .filter(|e| e["operation"] == "google.docs.create" && e["decision"] == "ask")
        .filter(|e| e["args"]["event"].is_null())
        .count();
    assert_eq!(pending, 2);
    assert_eq!(runs_of(&w.env, &id).len(), 1);
}

/// How many connections the daemon has accepted on `socket` and not closed (`/proc/net/unix`
/// lists each with the socket's path, state 03): a call under way.
fn connections(socket: &std::path::Path) -> usize {
    let path = socket.display().to_string();
    std::fs::read_to_string("/proc/net/unix")
        .expect("/proc/net/unix is readable")
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() == 8 && f[5] == "03" && f[7] == path
        })
        .count()
}

/// The Python with the pinned MCP SDK (tests/mcp/.venv, or `MCP_PYTHON`); `None` (skipped, said
/// so) only outside CI.
fn mcp_python() -> Option<PathBuf> {
    test_python("mcp", "MCP_PYTHON", "mcp, anyio", "the MCP Python SDK")
}

/// tests/mcp/client.py with `calls`, started now: the child, its stdout read at the end.
fn start_mcp(
    w: &World,
    py: &PathBuf,
    calls: Value,
    agent: impl FnOnce(&mut Command),
) -> std::process::Child {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/mcp"));
    let mut c = Command::new(py);
    c.arg(dir.join("client.py"))
        .arg(BIN)
        .arg("calls")
        .arg(calls.to_string());
    w.env.configure(&mut c);
    agent(&mut c);
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The client's JSON document, once it ended (at most [`LIMIT`]).
fn finish_mcp(w: &World, mut child: std::process::Child) -> Value {
    let code = wait_timeout(&mut child, LIMIT);
    let out = child.wait_with_output().unwrap();
    w.env.record(&String::from_utf8_lossy(&out.stdout));
    w.env.record(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(code, 0, "client.py failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

/// Case 10: Through MCP, client mode (the agent's side holds nothing but the daemon's address and
/// key): the tool says it waits for the person and takes `approval` and `wait`; a call waits, the
/// press arrives, and the result is the write's; a pending result names the id.
#[test]
fn through_mcp_a_tool_call_waits_for_the_press() {
    let Some(py) = mcp_python() else { return };
    let w = world("", ALICE);
    let (d, _log) = daemon_helpers::start_daemon_logged(&w.env);
    let key = w.env.dir.path().join("secrets/api_key");
    let child = start_mcp(
        &w,
        &py,
        json!([
            {"name": "google_docs_create", "arguments": {"title": "MCP plan", "markdown": markdown("MCP plan")}},
            {"name": "google_docs_create", "arguments": {"title": "MCP later", "markdown": markdown("MCP later"), "wait": 1}},
        ]),
        |c| {
            c.env_remove("SIDEKEY_CONFIG")
                .env_remove("SIDEKEY_VAULT_KEY_FILE")
                .env("SIDEKEY_HOME", w.env.dir.path().join("agent-home"))
                .env("SIDEKEY_URL", format!("unix://{}", d.socket.display()))
                .env("SIDEKEY_API_KEY_FILE", &key);
        },
    );
    let m = message_for(&w.tg, "MCP plan");
    let id = id_in(&m);
    assert_eq!(docs_named(&w.google, "MCP plan"), 0);
    w.tg.press_label(m.message_id, APPROVE, ALICE, Some("alice"))
        .unwrap();
    let doc = finish_mcp(&w, child);

    let tool = doc["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "google_docs_create")
        .unwrap_or_else(|| panic!("no google_docs_create tool: {}", doc["tools"]));
    let description = tool["description"].as_str().unwrap();
    assert!(
        description.contains("on g it runs only after the person approves this exact call"),
        "{description}"
    );
    let props = &tool["inputSchema"]["properties"];
    assert_eq!(props["approval"]["type"], "string", "{props}");
    assert_eq!(props["wait"]["type"], "integer", "{props}");
    assert_eq!(tool["annotations"]["readOnlyHint"], false);
    // A tool without `ask` takes neither.
    let read = doc["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "google_docs_read")
        .unwrap();
    assert!(read["inputSchema"]["properties"].get("approval").is_none());

    let ran = &doc["calls"][0]["result"];
    assert_eq!(ran["isError"], false, "{ran}");
    assert!(
        ran["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Created Google Doc \"MCP plan\""),
        "{ran}"
    );
    assert_eq!(docs_named(&w.google, "MCP plan"), 1);
    assert_eq!(runs_of(&w.env, &id).len(), 1);

    let pending = &doc["calls"][1]["result"];
    assert_eq!(pending["isError"], true, "{pending}");
    let later = message_for(&w.tg, "MCP later");
    let later_id = id_in(&later);
    let error = &pending["structuredContent"]["error"];
    assert_eq!(error["reason"], "approval_pending", "{pending}");
    assert_eq!(error["exit_code"], 7);
    assert_eq!(error["approval"], json!(later_id), "{pending}");
    let text = pending["content"][0]["text"].as_str().unwrap();
    assert!(text.contains(&later_id), "{text}");
    assert!(
        pending["structuredContent"]["exit_meaning"]
            .as_str()
            .unwrap()
            .contains("`approval` set to the id"),
        "{pending}"
    );
    assert_eq!(docs_named(&w.google, "MCP later"), 0);
}

/// Case 10b: Through MCP in local mode (`sidekey mcp` holds the vault, no daemon): the MCP server's
/// own process sends the request and hears the press.
#[test]
fn through_local_mcp_the_server_itself_hears_the_press() {
    let Some(py) = mcp_python() else { return };
    let w = world("", ALICE);
    let child = start_mcp(
        &w,
        &py,
        json!([
            {"name": "google_docs_create", "arguments": {"title": "Local plan", "markdown": markdown("Local plan")}},
        ]),
        |_| {},
    );
    let m = message_for(&w.tg, "Local plan");
    let id = id_in(&m);
    assert!(
        m.text.contains("(the agent)") && m.text.contains("mcp uid="),
        "{}",
        m.text
    );
    let q =
        w.tg.press_label(m.message_id, APPROVE, ALICE, Some("alice"))
            .unwrap();
    let doc = finish_mcp(&w, child);
    let ran = &doc["calls"][0]["result"];
    assert_eq!(ran["isError"], false, "{ran}");
    assert_eq!(docs_named(&w.google, "Local plan"), 1);
    assert_eq!(answer_to(&w.tg, &q).0, "Approved: it runs once.");
    let edits = edits_of(&w.tg, m.message_id, 1);
    assert!(edits[0].contains("Approved by @alice"), "{}", edits[0]);
    let ev: Vec<String> = events(&w.env, &id).into_iter().map(|e| e.0).collect();
    assert_eq!(ev, ["requested", "approved"]);
    let runs = runs_of(&w.env, &id);
    assert_eq!(runs.len(), 1);
    assert!(runs[0]["caller"].as_str().unwrap().starts_with("mcp uid="));
}

/// Case 11: At the terminal: `sidekey approvals` lists the open request with the message the person
/// would read; `sidekey deny ID` denies it (once), the phone's message says so.
#[test]
fn the_terminal_lists_and_denies() {
    let w = world("", ALICE);
    let (d, _log) = daemon_helpers::start_daemon_logged(&w.env);
    let (status, body) = op(&d, &create("Terminal plan", json!({"wait": 0})));
    assert_eq!(status, 409, "{body}");
    let id = reason_and_id(&body).1;
    let m = message_for(&w.tg, "Terminal plan");
    assert_eq!(id_in(&m), id);

    let out = w.env.run(&["approvals"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listed = stdout(&out);
    for want in [
        &format!("── approval {id} · pending · expires in "),
        "Approve? Create a Google Doc in the inbox folder\n",
        "Title: Terminal plan\n",
        "Asked by: api:unix (the agent)\n",
        &format!("Operation: google.docs.create · approval {id}"),
        "sidekey approve ID runs it once; sidekey deny ID refuses it",
    ] {
        assert!(listed.contains(want), "{want:?} not in:\n{listed}");
    }

    let out = w.env.run(&["deny", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("denied {id}")),
        "{}",
        stdout(&out)
    );
    let edits = edits_of(&w.tg, m.message_id, 1);
    assert!(
        edits[0].contains("❌ Denied by the terminal (cli uid="),
        "{}",
        edits[0]
    );
    assert!(w.tg.buttons(m.message_id).is_empty());
    // Decided once: approving now changes nothing.
    let out = w.env.run(&["approve", &id]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already decided (denied by the terminal"),
        "{}",
        stderr(&out)
    );

    let (status, body) = op(&d, &create("Terminal plan", json!({"approval": id})));
    assert_eq!(status, 403, "{body}");
    assert_eq!(reason_and_id(&body), ("approval_denied".into(), id.clone()));
    assert_eq!(docs_named(&w.google, "Terminal plan"), 0);
    let out = w.env.run(&["approvals"]);
    assert!(
        stdout(&out).contains("no approval requests are waiting"),
        "{}",
        stdout(&out)
    );
    let ev = events(&w.env, &id);
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!((ev[1].0.as_str(), ev[1].1.as_str()), ("denied", "deny"));
    assert!(ev[1].2.starts_with("the terminal (cli uid="), "{ev:?}");
    assert_audit_keeps_no_text(&w.env, &["Terminal plan"]);
}
