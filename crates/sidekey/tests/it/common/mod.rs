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

/// A test's world. When it is dropped at the end of a test that has not failed otherwise, it
/// scans everything the test produced for every secret it knows, and fails the test on a find
/// (see [`Env::leaks`]): no test can forget to check.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub config: PathBuf,
    pub key_file: PathBuf,
    /// Every byte any command printed, except what commands asking for a token print on stdout.
    pub transcript: std::sync::Mutex<String>,
    /// What commands that asked for a token printed on stdout: an access token may be there,
    /// nothing else secret.
    asked: std::sync::Mutex<String>,
    /// Secrets this test knows besides the fakes' (see [`Env::secret`]).
    secrets: std::sync::Mutex<Vec<String>>,
    /// Tokens this test knows besides the fakes' (a real provider's, see
    /// [`Env::assert_no_secrets`]): they may appear where a token was asked for.
    tokens: std::sync::Mutex<Vec<String>>,
    /// Runs started, to name their output files.
    runs: std::sync::atomic::AtomicUsize,
    /// Files under the home that hold a secret on purpose (see [`Env::secret_file`]).
    secret_files: std::sync::Mutex<Vec<PathBuf>>,
}

/// Where [`Env::recorded`] keeps what each process printed (outside the home).
const LOGS: &str = "output";

/// Whether a command asks sidekey for a token on stdout (`token`, `exec`, git's credential
/// helper, AWS's `credential_process`, OpenClaw's exec secret provider): its stdout may hold an
/// access token, nothing else secret.
pub fn asks_for_token(args: &[&str]) -> bool {
    matches!(
        args.first(),
        Some(&"token") | Some(&"exec") | Some(&"secret-provider")
    ) || args.starts_with(&["git-credential"])
        || args.starts_with(&["aws", "credential-process"])
        || args.starts_with(&["aws", "credentials"])
}

/// Every secret a test knows, at the end of it: the fakes' (access and refresh tokens, client
/// secrets, PKCE verifiers, bot tokens, AWS keys), the vault key, the daemon's API key and what
/// the test registered. Exportable ones may appear where a token was asked for.
fn known_secrets(extra: &[String], tokens: &[String]) -> Vec<sidekey_testkit::secrets::Secret> {
    use sidekey_testkit::secrets::Secret;
    let mut all = sidekey_testkit::secrets::known_on_this_thread();
    all.push(Secret::Never(VAULT_KEY.to_string()));
    all.push(Secret::Never(daemon_helpers::API_KEY.to_string()));
    all.extend(extra.iter().cloned().map(Secret::Never));
    // A fake knows what its secrets are; one it does not know is a real provider's token.
    for t in tokens {
        if !all.iter().any(|s| s.value() == t) {
            all.push(Secret::Exportable(t.clone()));
        }
    }
    // A short one would match by chance (and no fake issues one).
    all.retain(|s| s.value().len() >= 8);
    // One entry per value; a value a fake calls exportable stays exportable.
    all.sort_by(|a, b| {
        (a.value(), matches!(a, Secret::Never(_))).cmp(&(b.value(), matches!(b, Secret::Never(_))))
    });
    all.dedup_by(|a, b| a.value() == b.value());
    all
}

fn files_under(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => files_under(&p, out),
            Ok(t) if t.is_file() => out.push(p),
            _ => {}
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let leaks = self.leaks();
        assert!(leaks.is_empty(), "secrets leaked: {}", leaks.join("; "));
    }
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
            asked: Default::default(),
            secrets: Default::default(),
            tokens: Default::default(),
            runs: Default::default(),
            secret_files: Default::default(),
        }
    }

    /// A file under the home where sidekey keeps a secret on purpose (the bot token file that
    /// `telegram setup` writes, mode 0600): the scan at the end skips it. The test checks it.
    pub fn secret_file(&self, path: &std::path::Path) {
        self.secret_files.lock().unwrap().push(path.to_path_buf());
    }

    /// A secret of this test's own (a password in a URL, a token it made up), for the scan at
    /// the end. The fakes' secrets, the vault key and the API key are known without this.
    pub fn secret(&self, s: &str) {
        self.secrets.lock().unwrap().push(s.to_string());
    }

    /// `program args…`, with what it prints on stdout and stderr also written to a file of its
    /// own under the test's dir (through `tee`), which the scan at the end of the test reads: a
    /// test that pipes, ignores or never reads a process's output still has it scanned. The
    /// process is `program` itself (`exec`), so its pid, exit code and signals are its own.
    /// `asks` marks a run whose stdout may hold the token it asked for.
    pub fn recorded(
        &self,
        program: impl AsRef<std::ffi::OsStr>,
        args: &[&str],
        asks: bool,
    ) -> Command {
        let n = self.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let logs = self.dir.path().join(LOGS);
        std::fs::create_dir_all(&logs).unwrap();
        let kind = if asks { "asked" } else { "out" };
        // The `tee`s' pipes are also open in bash as other descriptors than 1 and 2; they are
        // closed before the `exec`, or a process sidekey leaves running (`login --no-wait`'s)
        // would hold them open and the test would wait for it.
        let mut c = Command::new("bash");
        c.arg("-c")
            .arg(concat!(
                r#"o=$1 e=$2; shift 2; exec > >(exec tee -a -- "$o") 2> >(exec tee -a -- "$e" >&2); "#,
                r#"for f in /proc/$$/fd/*; do n=${f##*/}; "#,
                r#"if [ "$n" -gt 2 ] && [ -e "$f" ]; then eval "exec $n>&-"; fi; done; exec "$@""#
            ))
            .arg("sidekey-test-run")
            .arg(logs.join(format!("{n}.{kind}")))
            .arg(logs.join(format!("{n}.err")))
            .arg(program)
            .args(args);
        c
    }

    /// A file under the test's dir whose contents the scan reads at the end, for the output of
    /// a process that is not started through [`Env::recorded`].
    pub fn sink(&self, name: &str) -> Stdio {
        let logs = self.dir.path().join(LOGS);
        std::fs::create_dir_all(&logs).unwrap();
        let n = self.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Stdio::from(std::fs::File::create(logs.join(format!("{n}.{name}.err"))).unwrap())
    }

    /// Record what a command that asked for a token printed on stdout (see [`asks_for_token`]).
    pub fn record_asked(&self, text: &str) {
        self.asked.lock().unwrap().push_str(text);
    }

    /// Wait (at most 2 s) for the `tee`s of [`Env::recorded`] to finish writing: a test may
    /// have read a process's output before its `tee` wrote it to the file.
    fn settle(&self) {
        let logs = self.dir.path().join(LOGS);
        let needle = logs.to_string_lossy().into_owned();
        let t0 = std::time::Instant::now();
        while t0.elapsed() < Duration::from_secs(2) {
            let busy = std::fs::read_dir("/proc")
                .into_iter()
                .flatten()
                .flatten()
                .any(|p| {
                    // The `tee`s, and the process substitutions' subshells before they `exec`
                    // into `tee` (still `bash`, with the wrapper's arguments): a run's output
                    // can wait in their pipe after the run has exited, unread until then.
                    std::fs::read(p.path().join("cmdline")).is_ok_and(|c| {
                        (c.starts_with(b"tee\0") || c.starts_with(b"bash\0"))
                            && String::from_utf8_lossy(&c).contains(&needle)
                    })
                });
            if !busy {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every place a secret this test knows appears where it must not: anything printed by a
    /// process started through [`Env::cmd`] / [`Env::recorded`] (the daemons, `sidekey mcp`,
    /// every run), anything [`Env::record`]ed, the audit log and its rotated files, and every
    /// file under the home (the sealed vault files must not hold a secret in plaintext either)
    /// and the agent's home. What a run that asked for a token printed on stdout may hold an
    /// access token (or AWS role keys), nothing else. Empty when nothing leaked.
    pub fn leaks(&self) -> Vec<String> {
        use sidekey_testkit::secrets::Secret;
        self.settle();
        let secrets = known_secrets(&self.secrets.lock().unwrap(), &self.tokens.lock().unwrap());
        let mut places: Vec<(String, String, bool)> = vec![
            (
                "the transcript".into(),
                self.transcript.lock().unwrap().clone(),
                false,
            ),
            (
                "stdout of a run that asked for a token".into(),
                self.asked.lock().unwrap().clone(),
                true,
            ),
        ];
        let mut files = vec![];
        files_under(&self.dir.path().join(LOGS), &mut files);
        files_under(&self.home, &mut files);
        files_under(&self.dir.path().join("agent-home"), &mut files);
        let kept = self.secret_files.lock().unwrap().clone();
        files.retain(|f| !kept.contains(f));
        for f in files {
            let asked = f.parent() == Some(&self.dir.path().join(LOGS))
                && f.extension().is_some_and(|e| e == "asked");
            if let Ok(bytes) = std::fs::read(&f) {
                let name = f
                    .strip_prefix(self.dir.path())
                    .unwrap_or(&f)
                    .display()
                    .to_string();
                places.push((name, String::from_utf8_lossy(&bytes).into_owned(), asked));
            }
        }
        let mut found = vec![];
        for (place, bytes, asked) in &places {
            for s in &secrets {
                if *asked && matches!(s, Secret::Exportable(_)) {
                    continue;
                }
                if bytes.contains(s.value()) {
                    found.push(format!("{}… in {place}", &s.value()[..6]));
                }
            }
        }
        found
    }

    pub fn write_config(&self, config: &str) {
        std::fs::write(&self.config, config).unwrap();
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.recorded(BIN, args, asks_for_token(args));
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
        if asks_for_token(args) {
            self.record_asked(&String::from_utf8_lossy(&out.stdout));
        } else {
            self.record(&String::from_utf8_lossy(&out.stdout));
        }
        self.record(&String::from_utf8_lossy(&out.stderr));
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

    /// Fail if any of `secrets` appears in anything printed so far (they are scanned for again,
    /// everywhere, at the end of the test, except in what a command that asked for a token
    /// printed on stdout: they may be a real provider's access tokens).
    pub fn assert_no_secrets(&self, secrets: &[String]) {
        self.tokens.lock().unwrap().extend(secrets.iter().cloned());
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

/// How many processes wait for the `flock` on `path` right now, from `/proc/locks` (a waiter is
/// listed there as `N: -> FLOCK …` against the file's inode): how a timing-dependent test shows
/// that the contention it claims did happen.
pub fn flock_waiters(path: &std::path::Path) -> usize {
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(path).unwrap().ino();
    let locks = std::fs::read_to_string("/proc/locks").expect("/proc/locks is readable");
    locks
        .lines()
        .filter(|l| l.contains("->") && l.contains(" FLOCK "))
        .filter(|l| {
            l.split_whitespace()
                .any(|f| f.rsplit(':').next() == Some(&ino.to_string()) && f.contains(':'))
        })
        .count()
}

/// Hold the `flock` on `path` (created if missing) until `until` says so, polling `until` with
/// the current number of waiters: the test starts its contenders meanwhile, and releases them
/// once they all wait. Fails when `until` is not satisfied within `limit`.
pub fn hold_flock_until(
    path: &std::path::Path,
    limit: Duration,
    mut until: impl FnMut(usize) -> bool,
    what: &str,
) {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.lock().unwrap();
    let t0 = std::time::Instant::now();
    loop {
        let n = flock_waiters(path);
        if until(n) {
            break;
        }
        assert!(
            t0.elapsed() < limit,
            "{what}: only {n} waited on {} within {limit:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(f);
}
