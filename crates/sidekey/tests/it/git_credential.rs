//! `sidekey git-credential`, with the real `git` as the client:
//!
//! * `git credential fill` gets `username=x-access-token` and the account's current token for a
//!   host in the account's `git_hosts`; for any other host sidekey prints nothing and git asks
//!   the next helper; `store` and `erase` are accepted and ignored.
//! * `git clone` from a git server on loopback that demands basic auth (a small HTTP server in
//!   this file that checks the password is a token the fake GitHub issued, then runs
//!   `git http-backend` as CGI): works with the helper, and no output shows the token.
//! * Through the daemon it is a token export: refused (exit 6, git gets nothing) unless the
//!   policy allows export, and audited as `token` via `git_credential` with the host.

use crate::common;

use common::*;
use serde_json::Value;
use sidekey_testkit::{Dialect, FakeIdp, Options};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use crate::common::daemon_helpers;
use daemon_helpers::start_daemon;

/// What the git server saw: (path, the basic-auth user and password, if any).
type Seen = Arc<Mutex<Vec<(String, Option<(String, String)>)>>>;

/// A git smart-HTTP server on 127.0.0.1 that answers 401 unless the request carries basic auth
/// with user `x-access-token` and a password `valid` accepts, then serves `root` through
/// `git http-backend` (CGI, as Apache or nginx would run it).
struct GitServer {
    port: u16,
    seen: Seen,
}

impl GitServer {
    fn start(root: PathBuf, valid: impl Fn(&str) -> bool + Send + Sync + 'static) -> GitServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Seen = Default::default();
        let (seen2, valid) = (seen.clone(), Arc::new(valid));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let (root, seen, valid) = (root.clone(), seen2.clone(), valid.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &root, &seen, &*valid);
                });
            }
        });
        GitServer { port, seen }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn serve(
    mut conn: TcpStream,
    root: &Path,
    seen: &Seen,
    valid: &dyn Fn(&str) -> bool,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end().to_string();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let len: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let creds = header("authorization")
        .and_then(|a| a.strip_prefix("Basic ").map(str::to_string))
        .and_then(|b| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(b).ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(u, p)| (u.to_string(), p.to_string()))
        });
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    seen.lock().unwrap().push((path.to_string(), creds.clone()));
    let ok = creds
        .as_ref()
        .is_some_and(|(u, p)| u == "x-access-token" && valid(p));
    if !ok {
        return conn.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    let mut cgi = Command::new("git");
    cgi.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_USER", "x-access-token")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", len.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(t) = header("content-type") {
        cgi.env("CONTENT_TYPE", t);
    }
    if let Some(e) = header("content-encoding") {
        cgi.env("HTTP_CONTENT_ENCODING", e);
    }
    if let Some(p) = header("git-protocol") {
        cgi.env("GIT_PROTOCOL", p);
    }
    let mut child = cgi.spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let out = child.wait_with_output()?;
    // CGI output: headers, a blank line, the body. `Status:` sets the HTTP status.
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| {
            out.stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, 2))
        })
        .unwrap_or((out.stdout.len(), 0));
    let head = String::from_utf8_lossy(&out.stdout[..split.0]).to_string();
    let rest = &out.stdout[split.0 + split.1..];
    let mut status = "200 OK".to_string();
    let mut resp = String::new();
    for h in head.lines() {
        match h.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
            Some(_) => resp.push_str(&format!("{}\r\n", h.trim_end())),
            None => {}
        }
    }
    conn.write_all(
        format!(
            "HTTP/1.1 {status}\r\n{resp}Content-Length: {}\r\nConnection: close\r\n\r\n",
            rest.len()
        )
        .as_bytes(),
    )?;
    conn.write_all(rest)
}

fn git(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    out
}

/// A bare repository `repo.git` under a new folder, with one commit.
fn repository(base: &Path) -> PathBuf {
    let work = base.join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join("README"), "hello from the git server\n").unwrap();
    git(&work, &["add", "README"]);
    git(
        &work,
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@example.test",
            "commit",
            "-qm",
            "first",
        ],
    );
    let root = base.join("srv");
    std::fs::create_dir_all(&root).unwrap();
    git(
        base,
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            root.join("repo.git").to_str().unwrap(),
        ],
    );
    root
}

/// A GitHub account at the fake, whose git host is the test's git server, signed in.
fn signed_in(extra: &str, git_host: &str) -> (FakeIdp, Env) {
    signed_in_at(Dialect::GitHub, extra, git_host)
}

/// `GitHubApp`: a GitHub App's user tokens, which expire (8 h at GitHub) and rotate.
fn signed_in_at(dialect: Dialect, extra: &str, git_host: &str) -> (FakeIdp, Env) {
    let mut o = Options::new(dialect);
    o.auto_approve_after_polls = Some(1);
    let idp = FakeIdp::start(o);
    let cfg = format!(
        "{}\ngit_hosts = [\"github.com\", \"{git_host}\"]\n{extra}",
        account_toml("gh", dialect, &idp).trim_end()
    );
    let env = Env::new(&format!("{cfg}\n"));
    let out = env.run(&["login", "gh"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (idp, env)
}

/// A command with git's own configuration isolated in `home` (GIT_CONFIG_GLOBAL), the helper
/// set for `url`, and `prepare` choosing where sidekey's own settings come from.
fn git_client(
    home: &Path,
    helpers: &[(&str, &str)],
    args: &[&str],
    prepare: impl FnOnce(&mut Command),
) -> Command {
    let global = home.join("gitconfig");
    let mut text = String::new();
    for (url, helper) in helpers {
        if url.is_empty() {
            text.push_str(&format!("[credential]\n\thelper = {helper}\n"));
        } else {
            text.push_str(&format!("[credential \"{url}\"]\n\thelper = {helper}\n"));
        }
    }
    std::fs::write(&global, text).unwrap();
    let mut c = Command::new("git");
    c.args(args);
    prepare(&mut c);
    c.env("HOME", home)
        .env("GIT_CONFIG_GLOBAL", &global)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_ASKPASS")
        .env_remove("SSH_ASKPASS")
        .current_dir(home);
    c
}

fn helper() -> String {
    format!("!{BIN} git-credential")
}

fn fill(mut cmd: impl std::borrow::BorrowMut<Command>, input: &str) -> Output {
    let cmd = cmd.borrow_mut();
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
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn pairs(out: &Output) -> Vec<(String, String)> {
    stdout(out)
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.into(), v.into())))
        .collect()
}

fn get<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

#[test]
fn git_credential_fill_gets_a_fresh_token_for_the_accounts_hosts_only() {
    let (idp, env) = signed_in_at(Dialect::GitHubApp, "", "127.0.0.1:9");
    let home = env.dir.path().join("git-home");
    std::fs::create_dir_all(&home).unwrap();
    let script = home.join("next-helper");
    std::fs::write(
        &script,
        "#!/bin/sh\ntest \"$1\" = get && echo username=next-helper && echo password=from-the-next-helper\nexit 0\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let next = format!("!{}", script.display());
    let helpers = [("https://github.com", helper()), ("", next.to_string())];
    let helpers: Vec<(&str, &str)> = helpers.iter().map(|(u, h)| (*u, h.as_str())).collect();
    let local = |c: &mut Command| env.configure(c);

    let out = fill(
        git_client(&home, &helpers, &["credential", "fill"], local),
        "protocol=https\nhost=github.com\npath=owner/repo.git\n\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let p = pairs(&out);
    assert_eq!(get(&p, "username"), Some("x-access-token"));
    let token = get(&p, "password").unwrap().to_string();
    assert!(idp.access_token_valid(&token), "not a live token");
    // An expiring token carries its expiry, so no storage helper keeps it longer.
    let expiry: i64 = get(&p, "password_expiry_utc").unwrap().parse().unwrap();
    assert!(
        expiry
            > std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64
    );
    assert!(!stderr(&out).contains(&token));

    // Another host: sidekey says nothing and git asks the next helper.
    let helpers_any = [("", helper()), ("", next.to_string())];
    let helpers_any: Vec<(&str, &str)> =
        helpers_any.iter().map(|(u, h)| (*u, h.as_str())).collect();
    for input in [
        "protocol=https\nhost=gitlab.com\n\n",
        // plain http to a host that is not loopback: never a token
        "protocol=http\nhost=github.com\n\n",
    ] {
        let out = fill(
            git_client(&home, &helpers_any, &["credential", "fill"], local),
            input,
        );
        assert!(out.status.success(), "{input}: {}", stderr(&out));
        assert_eq!(
            get(&pairs(&out), "password"),
            Some("from-the-next-helper"),
            "{input}"
        );
    }

    // The helper on its own: nothing for an unknown host; store and erase accepted, ignored.
    for (action, input) in [
        ("get", "protocol=https\nhost=example.com\n\n"),
        ("get", ""),
        (
            "store",
            "protocol=https\nhost=github.com\nusername=x-access-token\npassword=whatever-git-had\n\n",
        ),
        ("erase", "protocol=https\nhost=github.com\n\n"),
        ("frobnicate", "protocol=https\nhost=github.com\n\n"),
    ] {
        let out = fill(&mut env.cmd(&["git-credential", action]), input);
        assert_eq!(out.status.code(), Some(0), "{action}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{action} printed {}", stdout(&out));
        env.record(&stderr(&out));
    }
    let bad = fill(&mut env.cmd(&["git-credential", "get"]), "no equals sign\n");
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).starts_with("sidekey: "), "{}", stderr(&bad));

    // Audited locally, with the host.
    let shown = env.run(&["audit", "--json"]);
    let entries: Vec<Value> = stdout(&shown)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        entries.iter().any(|e| e["operation"] == "token"
            && e["args"]["via"] == "git_credential"
            && e["args"]["host"] == "github.com"),
        "{entries:?}"
    );
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
}

#[test]
fn git_clone_over_http_with_basic_auth_uses_the_helper_and_shows_no_token() {
    let tmp = tempfile::tempdir().unwrap();
    let root = repository(tmp.path());
    let idp_slot: Arc<Mutex<Option<FakeIdp>>> = Default::default();
    let slot = idp_slot.clone();
    let server = GitServer::start(root, move |p| {
        slot.lock()
            .unwrap()
            .as_ref()
            .is_some_and(|idp| idp.access_token_valid(p))
    });
    let (idp, env) = signed_in("", &server.host());
    *idp_slot.lock().unwrap() = Some(idp);
    let home = env.dir.path().join("git-home");
    std::fs::create_dir_all(&home).unwrap();
    let url = format!("http://{}", server.host());
    let h = helper();

    let out = git_client(
        &home,
        &[(&url, &h)],
        &["clone", &format!("{url}/repo.git"), "cloned"],
        |c| env.configure(c),
    )
    .output()
    .unwrap();
    env.record(&stdout(&out));
    env.record(&stderr(&out));
    assert!(out.status.success(), "git clone: {}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(home.join("cloned/README")).unwrap(),
        "hello from the git server\n"
    );
    let seen = server.seen.lock().unwrap().clone();
    assert!(seen[0].1.is_none(), "git asks without credentials first");
    let authed: Vec<_> = seen.iter().filter(|(_, c)| c.is_some()).collect();
    assert!(
        authed.len() >= 2,
        "info/refs and upload-pack with credentials: {seen:?}"
    );
    // Fetch again: still works (a fresh token each time the helper is asked).
    let out = git_client(&home, &[(&url, &h)], &["fetch", "-q"], |c| env.configure(c))
        .current_dir(home.join("cloned"))
        .output()
        .unwrap();
    env.record(&stdout(&out));
    env.record(&stderr(&out));
    assert!(out.status.success(), "git fetch: {}", stderr(&out));

    let guard = idp_slot.lock().unwrap();
    let idp = guard.as_ref().unwrap();
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
    drop(guard);

    // Without the helper the server refuses: the credentials came from sidekey.
    let out = git_client(
        &home,
        &[],
        &["clone", &format!("{url}/repo.git"), "again"],
        |c| {
            env.configure(c);
        },
    )
    .output()
    .unwrap();
    // git's own fatal error: "Authentication failed".
    assert_eq!(out.status.code(), Some(128), "{}", stderr(&out));
}

#[test]
fn through_the_daemon_it_is_a_token_export() {
    let tmp = tempfile::tempdir().unwrap();
    let root = repository(tmp.path());
    let idp_slot: Arc<Mutex<Option<FakeIdp>>> = Default::default();
    let slot = idp_slot.clone();
    let server = GitServer::start(root, move |p| {
        slot.lock()
            .unwrap()
            .as_ref()
            .is_some_and(|idp| idp.access_token_valid(p))
    });
    let (idp, env) = signed_in("", &server.host());
    *idp_slot.lock().unwrap() = Some(idp);
    let cfg = std::fs::read_to_string(&env.config).unwrap();
    let d = start_daemon(&env);
    let home = env.dir.path().join("agent-home");
    std::fs::create_dir_all(&home).unwrap();
    let url = format!("http://{}", server.host());
    let h = helper();
    // The agent's side: the socket and the API key, nothing else of sidekey's.
    let agent = |c: &mut Command| {
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SIDEKEY_URL", format!("unix://{}", d.socket.display()))
            .env(
                "SIDEKEY_API_KEY_FILE",
                env.dir.path().join("secrets/api_key"),
            );
    };

    // Export not allowed: git gets nothing; the helper's one line says why.
    let out = git_client(
        &home,
        &[(&url, &h)],
        &["clone", &format!("{url}/repo.git"), "refused"],
        agent,
    )
    .output()
    .unwrap();
    env.record(&stdout(&out));
    env.record(&stderr(&out));
    assert_eq!(out.status.code(), Some(128), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("allow_token_export"),
        "{}",
        stderr(&out)
    );
    let got = fill(
        git_client(&home, &[(&url, &h)], &["credential", "fill"], agent),
        &format!("protocol=http\nhost={}\n\n", server.host()),
    );
    assert_eq!(
        got.status.code(),
        Some(128),
        "no password from anyone: {}",
        stderr(&got)
    );
    assert!(!stdout(&got).contains("password="));

    // Allowed: the clone works, and the daemon's audit names the purpose and host.
    drop(d);
    env.write_config(&format!(
        "{cfg}[accounts.gh.policy]\nallow_token_export = true\n"
    ));
    let d = start_daemon(&env);
    let agent = |c: &mut Command| {
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SIDEKEY_URL", format!("unix://{}", d.socket.display()))
            .env(
                "SIDEKEY_API_KEY_FILE",
                env.dir.path().join("secrets/api_key"),
            );
    };
    let out = git_client(
        &home,
        &[(&url, &h)],
        &["clone", &format!("{url}/repo.git"), "allowed"],
        agent,
    )
    .output()
    .unwrap();
    env.record(&stdout(&out));
    env.record(&stderr(&out));
    assert!(out.status.success(), "git clone: {}", stderr(&out));
    assert!(home.join("allowed/README").exists());

    let log = std::fs::read_to_string(env.home.join("audit.log")).unwrap();
    let entries: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let git_entries: Vec<&Value> = entries
        .iter()
        .filter(|e| e["args"]["via"] == "git_credential")
        .collect();
    assert!(
        git_entries
            .iter()
            .any(|e| e["decision"] == "deny" && e["caller"] == "api:unix"),
        "{git_entries:?}"
    );
    assert!(
        git_entries.iter().any(|e| e["decision"] == "allow"
            && e["operation"] == "token"
            && e["args"]["host"] == server.host().as_str()),
        "{git_entries:?}"
    );
    let guard = idp_slot.lock().unwrap();
    let idp = guard.as_ref().unwrap();
    let mut secrets = idp.issued_access_tokens();
    secrets.extend(idp.issued_refresh_tokens());
    env.assert_no_secrets(&secrets);
    for s in &secrets {
        assert!(!log.contains(s.as_str()), "token in the audit log");
    }
    // Nothing of sidekey's on the agent's side.
    assert!(!home.join(".local/share/sidekey").exists());
}

/// A client of the daemon can name any git host in its purpose; the audit log must not say a
/// token went to a host the account does not serve. The host is checked against the account's
/// `git_hosts` first: one it does not serve is refused (exit 6, no token), even where export is
/// allowed, and audited as a refusal naming the refused host; a malformed one is audited
/// without its value. A host it serves works as ever.
#[test]
fn the_daemon_checks_the_purpose_before_writing_it_down() {
    let (_idp, env) = signed_in(
        "[accounts.gh.policy]\nallow_token_export = true\n",
        "127.0.0.1:9",
    );
    let d = start_daemon(&env);
    let key = Some(daemon_helpers::API_KEY);
    let (s, body) = daemon_helpers::raw(
        &d.socket,
        "POST",
        "/v1/token",
        key,
        Some(r#"{"account":"gh","purpose":{"via":"git_credential","host":"evil\nhost"}}"#),
    );
    assert_eq!(s, 400, "{body}");
    let (s, body) = daemon_helpers::raw(
        &d.socket,
        "POST",
        "/v1/logout",
        key,
        Some(r#"{"account":"gh","purpose":{"via":"secret_provider"}}"#),
    );
    assert_eq!(s, 400, "{body}");
    // Well-formed, but not a host of this account: refused before any token is fetched.
    let (s, body) = daemon_helpers::raw(
        &d.socket,
        "POST",
        "/v1/token",
        key,
        Some(r#"{"account":"gh","purpose":{"via":"git_credential","host":"attacker.example"}}"#),
    );
    assert_eq!(s, 403, "{body}");
    assert!(!body.contains("access_token"), "{body}");
    assert!(body.contains("git_hosts"), "{body}");
    // A host it serves: the token, audited with the host.
    let (s, body) = daemon_helpers::raw(
        &d.socket,
        "POST",
        "/v1/token",
        key,
        Some(r#"{"account":"gh","purpose":{"via":"git_credential","host":"127.0.0.1:9"}}"#),
    );
    assert_eq!(s, 200, "{body}");
    let log = std::fs::read_to_string(env.home.join("audit.log")).unwrap();
    assert!(!log.contains("evil"), "{log}");
    let entries: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &Value| e["operation"] == "token")
        .collect();
    assert_eq!(entries.len(), 3, "{log}");
    assert_eq!(entries[0]["outcome"], "usage", "{log}");
    assert_eq!(
        entries[0]["args"],
        serde_json::json!({"via": "git_credential"})
    );
    assert_eq!(entries[1]["decision"], "deny", "{log}");
    assert_eq!(
        entries[1]["args"],
        serde_json::json!({"via": "git_credential", "refused_host": "attacker.example"}),
        "{log}"
    );
    assert!(
        !entries
            .iter()
            .any(|e| e["args"]["host"] == "attacker.example"),
        "the audit log says a token went to a host the account does not serve: {log}"
    );
    assert_eq!(entries[2]["decision"], "allow", "{log}");
    assert_eq!(entries[2]["args"]["host"], "127.0.0.1:9", "{log}");
    assert!(std::fs::read_to_string(&env.config).is_ok());
    // Still signed in: the refused logout did nothing.
    let st = env.run(&["status", "gh", "--json"]);
    assert!(stdout(&st).contains("signed_in"), "{}", stdout(&st));
}
