//! Shared test harness: an isolated home, config and vault key per test, and helpers to run the
//! real `sidekey` binary against the test kit's fake providers.

#![allow(dead_code)]

use sidekey_testkit::{Dialect, FakeIdp};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub mod browser;
pub mod daemon_helpers;

pub const BIN: &str = env!("CARGO_BIN_EXE_sidekey");
pub const VAULT_KEY: &str = "q2pU7m5m0q3GmE6o1yYvX8cN4rT9bK2wZ5hJ7dF3sA0=";

pub struct Env {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub config: PathBuf,
    pub key_file: PathBuf,
    /// Every byte any command printed, except what `token` and `exec` print on stdout.
    pub transcript: std::sync::Mutex<String>,
}

impl Env {
    pub fn new(config: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let cfg = dir.path().join("config.toml");
        let key_file = dir.path().join("secrets/vault.key");
        std::fs::create_dir_all(key_file.parent().unwrap()).unwrap();
        std::fs::write(&key_file, format!("{VAULT_KEY}\n")).unwrap();
        std::fs::write(&cfg, config).unwrap();
        Env {
            dir,
            home,
            config: cfg,
            key_file,
            transcript: Default::default(),
        }
    }

    pub fn write_config(&self, config: &str) {
        std::fs::write(&self.config, config).unwrap();
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args);
        self.configure(&mut c);
        c
    }

    /// The environment of [`Env::cmd`], for a command that is not the binary itself (e.g. a
    /// shell that lowers a limit and then `exec`s it): an environment of its own, so nothing of
    /// the developer's reaches it — a `SIDEKEY_URL` would send the local tests to a live daemon,
    /// a vault key or proxy setting would change what they test. Only `PATH` (and `TMPDIR`) are
    /// passed on.
    pub fn configure(&self, c: &mut Command) {
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        if let Some(tmp) = std::env::var_os("TMPDIR") {
            c.env("TMPDIR", tmp);
        }
        c.env("SIDEKEY_HOME", &self.home)
            .env("SIDEKEY_CONFIG", &self.config)
            .env("SIDEKEY_VAULT_KEY_FILE", &self.key_file)
            .env("HOME", self.dir.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
    }

    /// Run to completion; record stdout (unless it may hold a token) and stderr.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().unwrap();
        let mut t = self.transcript.lock().unwrap();
        let secret_out = matches!(args.first(), Some(&"token") | Some(&"exec"));
        if !secret_out {
            t.push_str(&String::from_utf8_lossy(&out.stdout));
        }
        t.push_str(&String::from_utf8_lossy(&out.stderr));
        out
    }

    /// Start `sidekey login NAME --json` and return the child plus its stdout events.
    pub fn login_json(&self, name: &str) -> LoginRun {
        let mut child = self
            .cmd(&["login", name, "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        LoginRun {
            child,
            rx,
            lines: vec![],
        }
    }

    pub fn record(&self, text: &str) {
        self.transcript.lock().unwrap().push_str(text);
    }

    /// Fail if any of `secrets` appears in anything printed so far.
    pub fn assert_no_secrets(&self, secrets: &[String]) {
        let t = self.transcript.lock().unwrap();
        for s in secrets {
            assert!(s.len() >= 8, "secret too short to check: {s}");
            assert!(
                !t.contains(s.as_str()),
                "secret leaked into output: {}…",
                &s[..6]
            );
        }
    }
}

pub struct LoginRun {
    pub child: Child,
    pub rx: mpsc::Receiver<String>,
    pub lines: Vec<String>,
}

impl LoginRun {
    pub fn next_event(&mut self, timeout: Duration) -> serde_json::Value {
        let line = self
            .rx
            .recv_timeout(timeout)
            .expect("login printed no further event in time");
        self.lines.push(line.clone());
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"))
    }

    /// Wait for exit; returns (exit code, remaining stdout lines, stderr).
    pub fn finish(mut self, env: &Env) -> (i32, Vec<serde_json::Value>, String) {
        let status = wait_timeout(&mut self.child, Duration::from_secs(60));
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut stderr);
        }
        let mut events = vec![];
        while let Ok(line) = self.rx.recv_timeout(Duration::from_millis(200)) {
            self.lines.push(line.clone());
            events.push(serde_json::from_str(&line).unwrap());
        }
        env.record(&self.lines.join("\n"));
        env.record(&stderr);
        (status, events, stderr)
    }
}

pub fn wait_timeout(child: &mut Child, limit: Duration) -> i32 {
    let start = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code().unwrap_or(-1);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("process did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A config section that points an account of `provider` at the fake.
pub fn account_toml(name: &str, dialect: Dialect, idp: &FakeIdp) -> String {
    let head = format!("[accounts.{name}]\nclient_id = \"test-client\"\n");
    let body = match dialect {
        Dialect::Microsoft => format!(
            "provider = \"microsoft\"\nauthority = \"{}/common\"\napi_base = \"{}\"\nscopes = [\"User.Read\", \"Files.Read\"]\n",
            idp.base_url(),
            idp.api_base()
        ),
        Dialect::Google => format!(
            "provider = \"google\"\nclient_secret = \"test-secret\"\ndevice_authorization_endpoint = \"{}\"\ntoken_endpoint = \"{}\"\nrevocation_endpoint = \"{}\"\napi_base = \"{}\"\nscopes = [\"openid\", \"email\", \"profile\", \"drive.file\"]\n",
            idp.device_authorization_endpoint(),
            idp.token_endpoint(),
            idp.revocation_endpoint().unwrap(),
            idp.api_base()
        ),
        Dialect::GitHub | Dialect::GitHubApp => format!(
            "provider = \"github\"\ndevice_authorization_endpoint = \"{}\"\ntoken_endpoint = \"{}\"\napi_base = \"{}\"\nscopes = [\"repo\", \"gist\"]\n",
            idp.device_authorization_endpoint(),
            idp.token_endpoint(),
            idp.api_base()
        ),
        Dialect::Okta => format!("provider = \"okta\"\nissuer = \"{}\"\n", idp.issuer()),
        Dialect::Auth0 => format!(
            "provider = \"auth0\"\ndomain = \"{}\"\naudience = \"https://api.example.test\"\n",
            idp.base_url()
        ),
        Dialect::Oidc => format!("provider = \"oidc\"\nissuer = \"{}\"\n", idp.issuer()),
    };
    format!("{head}{body}\n")
}

/// A `generic` account: explicit endpoints, no discovery.
pub fn generic_toml(name: &str, idp: &FakeIdp) -> String {
    format!(
        "[accounts.{name}]\nprovider = \"generic\"\nclient_id = \"test-client\"\ndevice_authorization_endpoint = \"{}\"\ntoken_endpoint = \"{}\"\nrevocation_endpoint = \"{}\"\napi_base = \"{}\"\nscopes = [\"openid\", \"offline_access\", \"profile\", \"email\"]\n\n",
        idp.device_authorization_endpoint(),
        idp.token_endpoint(),
        idp.revocation_endpoint().unwrap(),
        idp.api_base()
    )
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A real counterpart a test runs against (a venv, the npm packages, Compose v2) that is not
/// installed: what it is, and the command that installs just it.
#[derive(Clone, Debug)]
pub struct Missing {
    pub what: String,
    pub how: String,
}

/// The tests of this binary that were skipped, each as "test: what (run: how)".
static SKIPPED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

unsafe extern "C" {
    /// The C library's `atexit`: the one hook that runs after libtest has printed its summary.
    fn atexit(f: extern "C" fn()) -> std::ffi::c_int;
}

/// Printed as the test binary exits, after libtest's "test result: ok. N passed": the count and
/// the list of the tests that passed without checking anything.
extern "C" fn report_skipped() {
    use std::io::Write;
    let list = SKIPPED.lock().unwrap_or_else(|e| e.into_inner());
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "\n{} SKIPPED: counted as passed above, these tests checked nothing because a counterpart is not installed:",
        plural(list.len(), "test")
    );
    for line in list.iter() {
        let _ = writeln!(err, "  {line}");
    }
    let _ = writeln!(
        err,
        "./scripts/test installs every counterpart (pinned) and runs the suite with none skipped.\n"
    );
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The calling test cannot run: `missing` is not installed. Under CI (`CI` set, as
/// `scripts/test` and `.ci/run` set it) that fails the test. Otherwise the test is skipped where
/// a person sees it: libtest keeps what a passing test prints with `eprintln!` to itself, so the
/// notice is written to the process's stderr directly, and the binary's last lines count the
/// skipped tests ([`report_skipped`]).
pub fn skip(missing: &Missing) {
    use std::io::Write;
    if std::env::var_os("CI").is_some() {
        panic!(
            "{} is not installed; scripts/test installs it (or run: {})",
            missing.what, missing.how
        );
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let line = format!(
        "{test}: {} is not installed (run: {})",
        missing.what, missing.how
    );
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {line}");
    let mut list = SKIPPED.lock().unwrap_or_else(|e| e.into_inner());
    if list.is_empty() {
        // SAFETY: `atexit` takes any `extern "C" fn()`; `report_skipped` only locks a static
        // and writes to stderr.
        unsafe { atexit(report_skipped) };
    }
    list.push(line);
}

/// What `found` holds, or `None` after [`skip`] when the counterpart is missing: for a lookup
/// done once per binary and used by several tests, each of which is then counted.
pub fn counterpart<T: Clone>(found: &Result<T, Missing>) -> Option<T> {
    match found {
        Ok(t) => Some(t.clone()),
        Err(missing) => {
            skip(missing);
            None
        }
    }
}

/// The Python of a pinned test venv: `tests/NAME/.venv` (which `scripts/test` makes), or the
/// interpreter named by `env_var`, checked by importing `imports`; else what is missing.
pub fn find_test_python(
    name: &str,
    env_var: &str,
    imports: &str,
    what: &str,
) -> Result<PathBuf, Missing> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests")
        .join(name);
    let py = std::env::var_os(env_var)
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join(".venv/bin/python"));
    let ok = Command::new(&py)
        .args(["-c", &format!("import {imports}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Ok(py);
    }
    Err(Missing {
        what: format!("{what} (at {})", py.display()),
        how: format!(
            "python3 -m venv tests/{name}/.venv && tests/{name}/.venv/bin/pip install -r tests/{name}/requirements.txt"
        ),
    })
}

/// [`find_test_python`] for one test: `None` — the test is skipped, and says so ([`skip`]) —
/// only outside CI; under CI a missing venv fails the test.
pub fn test_python(name: &str, env_var: &str, imports: &str, what: &str) -> Option<PathBuf> {
    counterpart(&find_test_python(name, env_var, imports, what))
}
