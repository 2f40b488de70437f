//! The first hour (issue 20, items 3, 4 and 6): every error a newcomer met says what to do, with
//! a stable exit code; `doctor` and `status` create nothing; Telegram in two commands
//! (`sidekey telegram setup`, `sidekey notify test`) against the fake Bot API; the audit log
//! never writes a refusal or a failure as `allow`.

use crate::common::*;
use sidekey_testkit::{Dialect, FakeIdp, FakeTelegram, Options};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

const EXAMPLE: &str = include_str!("../../../../deploy/config.example.toml");
const BOT_TOKEN: &str = "7212345678:AAH-sidekeyTestBotToken_0123456789xyz";

fn one_line(err: &str) {
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
}

/// The example config, copied as-is: every command stops at its Telegram token file and says
/// what to do (exit 2, one line); `doctor` reports that and the placeholder client ids together.
#[test]
fn the_example_config_copied_as_is_says_what_to_do() {
    let env = Env::new(EXAMPLE);
    for args in [&["status"][..], &["token", "gh"], &["login", "work"]] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        one_line(&err);
        assert!(err.contains("bot_token_file"), "{err}");
        assert!(err.contains("sidekey telegram setup"), "{err}");
        assert!(
            err.contains("remove the [notify.telegram] section"),
            "{err}"
        );
    }
    let doc = env.run(&["doctor"]);
    assert_eq!(doc.status.code(), Some(2), "{}", stdout(&doc));
    let text = stdout(&doc);
    let fails: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        fails.iter().any(|l| l.contains("sidekey telegram setup")),
        "{text}"
    );
    for placeholder in [
        "00000000-0000-0000-0000-000000000000",
        "Ov23li0000000000000",
    ] {
        assert!(
            fails
                .iter()
                .any(|l| l.contains(placeholder) && l.contains("placeholder")),
            "{placeholder} not flagged: {text}"
        );
    }
    // The rest is still checked.
    assert!(text.contains("vault key"), "{text}");
}

/// With the token file in place, the example's chat id is flagged as a placeholder too.
#[test]
fn doctor_flags_the_examples_chat_id() {
    let tg = FakeTelegram::start(BOT_TOKEN);
    let env = Env::new("");
    let token = env.dir.path().join("bot-token");
    std::fs::write(&token, BOT_TOKEN).unwrap();
    env.write_config(&format!(
        "[notify.telegram]\nbot_token_file = \"{}\"\nchat_id = 123456789\napi_base = \"{}\"\n",
        token.display(),
        tg.api_base()
    ));
    let doc = env.run(&["doctor"]);
    assert_eq!(doc.status.code(), Some(2), "{}", stdout(&doc));
    let text = stdout(&doc);
    assert!(
        text.lines().any(|l| l.starts_with("FAIL")
            && l.contains("123456789")
            && l.contains("placeholder")
            && l.contains("sidekey telegram setup")),
        "{text}"
    );
}

/// A config file that is not there: exit 2 for every command that needs it, saying so — a
/// mistyped `SIDEKEY_CONFIG` is named as such (it used to read as "No accounts", exit 0), the
/// default place says how to make one. Nothing is created.
#[test]
fn a_missing_config_file_is_exit_2_for_every_command() {
    let env = Env::new("");
    let typo = env.dir.path().join("confg.toml");
    let skills = env.dir.path().join("skills");
    let skills = skills.to_str().unwrap();
    let commands: [&[&str]; 10] = [
        &["status"],
        &["token", "gh"],
        &["login", "gh"],
        &["logout", "gh"],
        &["exec", "gh", "--", "true"],
        &["serve"],
        &["mcp"],
        &["skills", "write", skills],
        &["notify", "test"],
        &["ms", "me"],
    ];
    for args in commands {
        let out = env.cmd(args).env("SIDEKEY_CONFIG", &typo).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        one_line(&err);
        assert!(
            err.contains(&format!("SIDEKEY_CONFIG names {}", typo.display()))
                && err.contains("fix the path"),
            "{args:?}: {err}"
        );
        // The default place, unset: how to make one.
        let out = env.cmd(args).env_remove("SIDEKEY_CONFIG").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("no config file at") && err.contains("config.example.toml"),
            "{args:?}: {err}"
        );
    }
    let doc = env
        .cmd(&["doctor"])
        .env("SIDEKEY_CONFIG", &typo)
        .output()
        .unwrap();
    assert_eq!(doc.status.code(), Some(2));
    assert!(
        stdout(&doc).contains("FAIL  SIDEKEY_CONFIG names"),
        "{}",
        stdout(&doc)
    );
    assert!(
        !env.home.exists(),
        "a command without a config created the home"
    );
    assert!(!typo.exists());
}

/// `doctor` and `status` on a machine that never signed in create nothing: no home, no key
/// file, no vault (they used to generate a key, then warn about it).
#[test]
fn doctor_and_status_create_nothing() {
    let idp = FakeIdp::start(Options::new(Dialect::Oidc));
    let env = Env::new(&account_toml("o", Dialect::Oidc, &idp));
    let st = env
        .cmd(&["status", "--json"])
        .env_remove("SIDEKEY_VAULT_KEY_FILE")
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(0), "{}", stderr(&st));
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["accounts"][0]["name"], "o");
    assert_eq!(v["accounts"][0]["state"], "signed_out");
    let doc = env
        .cmd(&["doctor"])
        .env_remove("SIDEKEY_VAULT_KEY_FILE")
        .output()
        .unwrap();
    assert_eq!(doc.status.code(), Some(0), "{}", stdout(&doc));
    let text = stdout(&doc);
    assert!(text.contains("vault key: none yet"), "{text}");
    assert!(text.contains("no vault yet"), "{text}");
    assert!(
        !env.home.exists(),
        "doctor or status created {}",
        env.home.display()
    );
}

/// An unreachable daemon: its socket is named (never the internal `http://sidekey`) with the
/// question that fixes it; exit 5.
#[test]
fn an_unreachable_daemon_asks_whether_serve_runs() {
    let env = Env::new("");
    let key = env.dir.path().join("api_key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef").unwrap();
    let gone = env.dir.path().join("nope.sock");
    // A socket file nobody listens on any more.
    let stale = env.dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    for (sock, why) in [
        (&gone, "there is no socket at"),
        (&stale, "nothing answers on the socket"),
    ] {
        let out = env
            .cmd(&["status"])
            .env("SIDEKEY_URL", format!("unix://{}", sock.display()))
            .env("SIDEKEY_API_KEY_FILE", &key)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
        let err = stderr(&out);
        one_line(&err);
        assert!(err.contains(why), "{err}");
        assert!(err.contains("Is `sidekey serve` running"), "{err}");
        assert!(!err.contains("http://sidekey"), "{err}");
    }
}

/// A mistyped command and a mistyped config key: "did you mean", exit 2.
#[test]
fn mistyped_commands_and_keys_get_a_did_you_mean() {
    let env = Env::new("");
    let out = env.run(&["stauts"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("'status'"), "{}", stderr(&out));
    env.write_config(
        "[accounts.work]\nprovider = \"microsoft\"\nclient_id = \"x\"\ntennant = \"common\"\n",
    );
    let out = env.run(&["status"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    one_line(&err);
    assert!(err.contains("line 4"), "{err}");
    assert!(err.contains("did you mean `tenant`?"), "{err}");
    assert!(!err.contains("client_secret"), "all 27 keys again: {err}");
}

/// `sidekey login` without a name lists the accounts to choose from (exit 2).
#[test]
fn login_without_a_name_lists_the_accounts() {
    let idp = FakeIdp::start(Options::new(Dialect::Oidc));
    let env = Env::new(&format!(
        "{}{}",
        account_toml("work", Dialect::Oidc, &idp),
        account_toml("home", Dialect::Oidc, &idp)
    ));
    let out = env.run(&["login"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    one_line(&err);
    assert!(err.contains("sidekey login NAME"), "{err}");
    assert!(err.contains("home, work"), "{err}");
    assert_eq!(idp.counters().device_requests, 0);
    env.write_config("");
    let out = env.run(&["login"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("defines none yet"),
        "{}",
        stderr(&out)
    );
}

/// `sidekey mcp` whose client leaves before the handshake: exit 0, nothing on stderr (it used to
/// be exit 1, "internal error"). Typed at a terminal: one line on stderr says what it is.
#[test]
fn mcp_without_a_client() {
    let env = Env::new("");
    let out = env.run(&["mcp"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));

    let (_master, slave) = pty();
    let mut child = env
        .cmd(&["mcp"])
        .stdin(Stdio::from(slave))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(err).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(20));
    let _ = child.kill();
    let _ = child.wait();
    let line = line.expect("no hint on stderr");
    assert!(line.contains("sidekey mcp"), "{line}");
    assert!(line.contains("MCP client"), "{line}");
    assert!(line.contains("Ctrl-D"), "{line}");
}

/// A pseudo-terminal: (master, slave). The slave is what a program reads as its terminal.
fn pty() -> (std::os::fd::OwnedFd, std::fs::File) {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    (master, slave)
}

// ---- Telegram in two commands ----

/// A config with an account, comments and the fake Bot API: what the set-up must keep.
fn telegram_config(tg: &FakeTelegram) -> String {
    format!(
        "# my sidekey config\nrefresh_margin = \"5m\"   # keep\n\n[accounts.gh]\nprovider = \"github\"\nclient_id = \"Iv1.real\"   # from GitHub\n\n[notify.telegram]\napi_base = \"{}\"\n",
        tg.api_base()
    )
}

struct Setup {
    child: std::process::Child,
    out: mpsc::Receiver<String>,
}

/// Start `telegram setup` with the token on stdin (not a terminal).
fn start_setup(env: &Env, token: &str, wait: &str) -> Setup {
    start_setup_with(env, token, &["--wait", wait])
}

/// [`start_setup`] with these arguments after `telegram setup`.
fn start_setup_with(env: &Env, token: &str, args: &[&str]) -> Setup {
    let mut child = env
        .cmd(&[&["telegram", "setup"][..], args].concat())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{token}").unwrap();
    drop(stdin);
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Setup { child, out: rx }
}

impl Setup {
    /// Lines up to the one containing `what`.
    fn until(&self, what: &str) -> Vec<String> {
        let mut seen = vec![];
        loop {
            let line = self
                .out
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no line with {what:?}; saw {seen:?}"));
            let done = line.contains(what);
            seen.push(line);
            if done {
                return seen;
            }
        }
    }

    /// Exit code, the rest of stdout, stderr.
    fn finish(mut self, env: &Env) -> (i32, String, String) {
        let code = wait_timeout(&mut self.child, Duration::from_secs(60));
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let mut out = String::new();
        while let Ok(l) = self.out.recv_timeout(Duration::from_millis(300)) {
            out.push_str(&l);
            out.push('\n');
        }
        env.record(&out);
        env.record(&err);
        (code, out, err)
    }
}

/// The whole set-up: the bot is named, the person's /start is found, the token goes to a 0600
/// file in sidekey's home (not next to the config), the chat id and that file into the config
/// (the rest of it kept, comments included), stderr says where codes will go, a test message
/// arrives; then `notify test` and `doctor` use what was recorded. The token is never printed.
#[test]
fn telegram_setup_records_the_chat_and_keeps_the_config() {
    let tg = FakeTelegram::start(BOT_TOKEN);
    tg.set_username("sidekey_home_bot");
    let env = Env::new(&telegram_config(&tg));
    let setup = start_setup(&env, BOT_TOKEN, "30s");
    let before = setup.until("send /start");
    let said = before.join("\n");
    assert!(said.contains("https://t.me/sidekey_home_bot"), "{said}");
    assert!(said.contains("never the one OpenClaw uses"), "{said}");
    tg.user_sends(4242, "Ada", "/start");
    let (code, out, err) = setup.finish(&env);
    env.record(&said);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("/start from Ada (chat 4242)"), "{out}");
    assert!(
        err.lines().any(|l| l == "codes will go to: Ada (id 4242)"),
        "{err}"
    );

    let token_file = env.home.join("telegram-bot-token");
    env.secret_file(&token_file);
    assert!(!env.dir.path().join("telegram-bot-token").exists());
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap().trim(),
        BOT_TOKEN
    );
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let config = std::fs::read_to_string(&env.config).unwrap();
    for kept in [
        "# my sidekey config",
        "refresh_margin = \"5m\"   # keep",
        "client_id = \"Iv1.real\"   # from GitHub",
        &format!("api_base = \"{}\"", tg.api_base()),
    ] {
        assert!(config.contains(kept), "lost {kept:?}:\n{config}");
    }
    assert!(config.contains("chat_id = 4242"), "{config}");
    assert!(
        config.contains(&format!("bot_token_file = \"{}\"", token_file.display())),
        "{config}"
    );
    assert!(
        !config.contains(BOT_TOKEN),
        "the token went into the config"
    );

    let sent = tg.messages();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].chat_id, "4242");
    assert!(sent[0].text.contains("sidekey"), "{}", sent[0].text);

    // Every command reads it now; `notify test` sends through it; `doctor` checks it.
    assert_eq!(env.run(&["status"]).status.code(), Some(0));
    let test = env.run(&["notify", "test"]);
    assert_eq!(test.status.code(), Some(0), "{}", stderr(&test));
    assert!(
        stdout(&test).contains("ok    telegram"),
        "{}",
        stdout(&test)
    );
    assert_eq!(tg.messages().len(), 2);
    assert!(tg.messages()[1].text.contains("test message"));
    let doc = env.run(&["doctor"]);
    let text = stdout(&doc);
    assert!(
        text.contains("ok    telegram: the bot token is @sidekey_home_bot's"),
        "{text}"
    );
    assert!(text.contains("reaches chat 4242 (Ada)"), "{text}");
    env.assert_no_secrets(&[BOT_TOKEN.to_string()]);
}

/// A /start sent before the set-up began is not taken (it could be anyone's); with none after
/// it, the set-up ends at its deadline (exit 4) and writes nothing.
#[test]
fn telegram_setup_takes_no_old_start_and_gives_up_in_time() {
    let tg = FakeTelegram::start(BOT_TOKEN);
    tg.user_sends(666, "Mallory", "/start");
    let cfg = telegram_config(&tg);
    let env = Env::new(&cfg);
    let setup = start_setup(&env, BOT_TOKEN, "2s");
    let (code, out, err) = setup.finish(&env);
    assert_eq!(code, 4, "{out}\n{err}");
    one_line(&err);
    assert!(err.contains("no /start reached @fake_bot"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(std::fs::read_to_string(&env.config).unwrap(), cfg);
    assert!(!env.dir.path().join("telegram-bot-token").exists());
    assert!(tg.messages().is_empty());
}

/// The bot is polled by another program (OpenClaw's channel): Telegram's 409, and what to do —
/// a bot of sidekey's own. A token no bot has: Unauthorized, and where to copy it from. Neither
/// writes anything or prints the token.
#[test]
fn telegram_setup_explains_a_second_poller_and_a_wrong_token() {
    let tg = FakeTelegram::start(BOT_TOKEN);
    let cfg = telegram_config(&tg);
    let env = Env::new(&cfg);
    tg.polled_by_another();
    let (code, out, err) = start_setup(&env, BOT_TOKEN, "30s").finish(&env);
    assert_eq!(code, 2, "{out}\n{err}");
    one_line(&err);
    assert!(
        err.contains("Conflict: terminated by other getUpdates request"),
        "{err}"
    );
    assert!(err.contains("a bot of its own"), "{err}");
    assert!(err.contains("OpenClaw"), "{err}");

    let wrong = "7212345678:AAH-not-this-bots-token-at-all-000";
    let (code, out, err) = start_setup(&env, wrong, "30s").finish(&env);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("Unauthorized"), "{err}");
    assert!(err.contains("@BotFather"), "{err}");

    assert_eq!(std::fs::read_to_string(&env.config).unwrap(), cfg);
    assert!(!env.dir.path().join("telegram-bot-token").exists());
    env.assert_no_secrets(&[BOT_TOKEN.to_string(), wrong.to_string()]);
}

/// On a terminal the token is asked for with echo off: what is typed never shows.
#[test]
fn telegram_setup_asks_for_the_token_without_echo() {
    let tg = FakeTelegram::start(BOT_TOKEN);
    let env = Env::new(&telegram_config(&tg));
    let (master, slave) = pty();
    let mut child = env
        .cmd(&["telegram", "setup", "--wait", "30s"])
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    let mut term = std::fs::File::from(master);
    let mut reader = term.try_clone().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut seen = String::new();
    let read_until = |what: &str, seen: &mut String| {
        let until = std::time::Instant::now() + Duration::from_secs(30);
        while !seen.contains(what) {
            let left = until.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(b) => seen.push_str(&String::from_utf8_lossy(&b)),
                Err(_) => panic!("no {what:?} on the terminal: {seen}"),
            }
        }
    };
    read_until("Bot token", &mut seen);
    // Give the prompt the moment it needs to turn echo off after printing the question.
    std::thread::sleep(Duration::from_millis(500));
    term.write_all(format!("{BOT_TOKEN}\n").as_bytes()).unwrap();
    read_until("send /start", &mut seen);
    tg.user_sends(4242, "Ada", "/start");
    read_until("Send sign-in codes there?", &mut seen);
    term.write_all(b"y\n").unwrap();
    read_until("Test message sent", &mut seen);
    assert_eq!(
        wait_timeout(&mut child, Duration::from_secs(30)),
        0,
        "{seen}"
    );
    assert!(!seen.contains(BOT_TOKEN), "the token was echoed: {seen}");
    assert_eq!(tg.messages().len(), 1);
    env.secret_file(&env.home.join("telegram-bot-token"));
}

/// Without a terminal nobody confirms the chat, so whoever sends /start could become the one
/// that receives sign-in codes. When two chats do (the second a second after the first), the
/// set-up records nothing and lists both, by name, @username and id, with what to run: exit 4,
/// one line, no token file, no message sent.
#[test]
fn telegram_setup_refuses_when_two_chats_send_start() {
    let tg = FakeTelegram::start(BOT_TOKEN);
    let cfg = telegram_config(&tg);
    let env = Env::new(&cfg);
    let setup = start_setup(&env, BOT_TOKEN, "30s");
    setup.until("send /start");
    tg.user_with_username_sends(4242, "Ada", "ada", "/start");
    std::thread::sleep(Duration::from_secs(1));
    tg.user_sends(666, "Mallory", "/start");
    let (code, out, err) = setup.finish(&env);
    assert_eq!(code, 4, "{out}\n{err}");
    one_line(&err);
    for said in [
        "2 chats sent /start to @fake_bot, so nothing was written",
        "Ada (@ada, id 4242), Mallory (id 666)",
        "sidekey telegram setup --chat-id ID",
    ] {
        assert!(err.contains(said), "no {said:?}: {err}");
    }
    assert!(!err.contains("codes will go to"), "{err}");
    assert_eq!(std::fs::read_to_string(&env.config).unwrap(), cfg);
    assert!(!env.home.join("telegram-bot-token").exists());
    assert!(!env.dir.path().join("telegram-bot-token").exists());
    assert!(tg.messages().is_empty(), "{:?}", tg.messages());
    env.assert_no_secrets(&[BOT_TOKEN.to_string()]);
}

/// `--chat-id` takes only that chat's /start: another chat's, sent first, is ignored and said
/// so. The same person's /start twice is one chat, and a /start in a group (a chat sign-in codes
/// must not go to) counts for nothing. A group's id (negative) is refused as `--chat-id`.
#[test]
fn telegram_setup_takes_the_chat_id_given_one_person_once_and_no_group() {
    let tg = FakeTelegram::start(BOT_TOKEN);
    let env = Env::new(&telegram_config(&tg));
    let group = env.run(&["telegram", "setup", "--chat-id", "-100123"]);
    assert_eq!(group.status.code(), Some(2), "{}", stderr(&group));
    one_line(&stderr(&group));
    assert!(
        stderr(&group).contains("positive number"),
        "{}",
        stderr(&group)
    );

    let setup = start_setup_with(&env, BOT_TOKEN, &["--wait", "30s", "--chat-id", "4242"]);
    setup.until("send /start from chat 4242");
    tg.user_sends(666, "Mallory", "/start");
    tg.user_with_username_sends(4242, "Ada", "ada", "/start");
    let (code, out, err) = setup.finish(&env);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("ignored: /start from Mallory (id 666), not chat 4242 (--chat-id)"),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l == "codes will go to: Ada (@ada, id 4242)"),
        "{err}"
    );
    assert!(
        std::fs::read_to_string(&env.config)
            .unwrap()
            .contains("chat_id = 4242")
    );
    env.secret_file(&env.home.join("telegram-bot-token"));

    // One person twice, and a group's /start around it: Ada's chat, no refusal.
    let tg = FakeTelegram::start(BOT_TOKEN);
    let env = Env::new(&telegram_config(&tg));
    let setup = start_setup(&env, BOT_TOKEN, "30s");
    setup.until("send /start");
    tg.group_sends(-100123, "Family", 666, "Mallory", "/start");
    tg.user_sends(4242, "Ada", "/start");
    std::thread::sleep(Duration::from_secs(1));
    tg.user_sends(4242, "Ada", "/start");
    tg.group_sends(-100123, "Family", 666, "Mallory", "/start@fake_bot");
    let (code, out, err) = setup.finish(&env);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.lines().any(|l| l == "codes will go to: Ada (id 4242)"),
        "{err}"
    );
    assert!(!err.contains("Family"), "{err}");
    assert_eq!(tg.messages().len(), 1);
    assert_eq!(tg.messages()[0].chat_id, "4242");
    env.secret_file(&env.home.join("telegram-bot-token"));
}

/// Every file under `dir`, links followed (a dotfiles repository's files).
fn files_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_in(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A config kept in a dotfiles repository, linked into place — the file itself a symlink, or
/// its whole folder: the set-up rewrites the config where it points and keeps the link, and the
/// bot token goes to sidekey's home (0600), never into the dotfiles folder. A token file an
/// earlier set-up left next to the config is named, to delete.
#[test]
fn telegram_setup_keeps_a_linked_config_and_the_token_out_of_dotfiles() {
    for folder_link in [false, true] {
        let tg = FakeTelegram::start(BOT_TOKEN);
        let mut env = Env::new("");
        let dotfiles = env.dir.path().join("dotfiles/sidekey");
        std::fs::create_dir_all(&dotfiles).unwrap();
        let real = dotfiles.join("config.toml");
        let old_token = dotfiles.join("telegram-bot-token");
        let cfg = if folder_link {
            // An earlier set-up wrote the token next to the config: it is named, not used.
            std::fs::write(&old_token, "1111:an-earlier-setups-token\n").unwrap();
            format!(
                "{}bot_token_file = \"telegram-bot-token\"\nchat_id = 1\n",
                telegram_config(&tg)
            )
        } else {
            telegram_config(&tg)
        };
        std::fs::write(&real, &cfg).unwrap();
        let xdg = env.dir.path().join("xdg");
        std::fs::create_dir_all(&xdg).unwrap();
        let (link, config) = if folder_link {
            let link = xdg.join("sidekey");
            std::os::unix::fs::symlink(&dotfiles, &link).unwrap();
            (link.clone(), link.join("config.toml"))
        } else {
            std::fs::create_dir_all(xdg.join("sidekey")).unwrap();
            let link = xdg.join("sidekey/config.toml");
            std::os::unix::fs::symlink(&real, &link).unwrap();
            (link.clone(), link)
        };
        env.config = config;

        let setup = start_setup(&env, BOT_TOKEN, "30s");
        setup.until("send /start");
        tg.user_sends(4242, "Ada", "/start");
        let (code, out, err) = setup.finish(&env);
        assert_eq!(code, 0, "folder link {folder_link}: {out}\n{err}");

        assert!(
            std::fs::symlink_metadata(&link).unwrap().is_symlink(),
            "the link {} was replaced",
            link.display()
        );
        let written = std::fs::read_to_string(&real).unwrap();
        assert!(written.contains("chat_id = 4242"), "{written}");
        assert!(written.starts_with("# my sidekey config\n"), "{written}");
        let token_file = env.home.join("telegram-bot-token");
        env.secret_file(&token_file);
        assert_eq!(
            std::fs::read_to_string(&token_file).unwrap().trim(),
            BOT_TOKEN
        );
        assert_eq!(
            std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(
            written.contains(&format!("bot_token_file = \"{}\"", token_file.display())),
            "{written}"
        );
        for f in files_in(&env.dir.path().join("dotfiles")) {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            assert!(
                !text.contains(BOT_TOKEN),
                "the bot token landed in the dotfiles: {}",
                f.display()
            );
        }
        if folder_link {
            let named = format!(
                "{} (the bot token",
                xdg.join("sidekey/telegram-bot-token").display()
            );
            assert!(err.contains(&named), "{err}");
            assert!(err.contains("no longer used"), "{err}");
        } else {
            assert!(!err.contains("no longer used"), "{err}");
        }
        // Every command reads the config through the link.
        let test = env.run(&["notify", "test"]);
        assert_eq!(test.status.code(), Some(0), "{}", stderr(&test));
        env.assert_no_secrets(&[BOT_TOKEN.to_string()]);
    }
}

// ---- The audit log says what happened ----

/// A mistyped account's failed login is refused, and recorded as refused (`deny`), not
/// `allow`; the text view has a header.
#[test]
fn a_mistyped_accounts_login_is_not_audited_as_allowed() {
    let idp = FakeIdp::start(Options::new(Dialect::Oidc));
    let env = Env::new(&account_toml("work", Dialect::Oidc, &idp));
    std::fs::create_dir_all(&env.home).unwrap();
    let out = env.run(&["login", "wrok"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no account 'wrok'"),
        "{}",
        stderr(&out)
    );
    let log = std::fs::read_to_string(env.home.join("audit.log")).unwrap();
    let entries: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let login: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e["operation"] == "login")
        .collect();
    assert_eq!(login.len(), 1, "{log}");
    assert_eq!(login[0]["account"], "wrok");
    assert_eq!(login[0]["decision"], "deny", "{log}");
    assert_eq!(login[0]["outcome"], "config", "{log}");
    assert!(
        entries
            .iter()
            .all(|e| e["decision"] != "allow" || e["outcome"] == "ok"),
        "a failure written as allow: {log}"
    );
    let shown = env.run(&["audit"]);
    let text = stdout(&shown);
    let first = text.lines().next().unwrap_or_default();
    for column in [
        "TIME",
        "CALLER",
        "ACCOUNT",
        "OPERATION",
        "DECISION",
        "OUTCOME",
    ] {
        assert!(first.contains(column), "no header: {text}");
    }
    assert!(text.lines().nth(1).unwrap().contains("deny"), "{text}");
}
