//! What the fuzz targets (fuzz/) drive whole, each through the product's own code: the guard
//! and the audit entry it writes for an agent's call, the daemon's HTTP/1 connection with its
//! API key, body limits and routes, and what a code-flow sign-in makes of a pasted redirect.
//! Everything runs on a throwaway home with one GitHub account whose default policy gives the
//! agent no token: nothing the fuzzer sends reaches the network. Not an API.

use crate::backend::Local;
use crate::backend::guard::{self, Call, Caller};
use crate::config::Config;
use crate::context::Context;
use crate::error::Failure;
use crate::signin::Stop;
use sidekey_flow::Secret;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The daemon's API key in the sandbox.
pub const API_KEY: &str = "fuzz-api-key-0123456789abcdef";
/// The one account: `[accounts.gh]`, GitHub, git host `github.com`.
pub const ACCOUNT: &str = "gh";

/// A home with a vault and one account, the guard on it, and the daemon's router.
pub struct Sandbox {
    home: PathBuf,
    local: Local,
    app: axum::Router,
    rt: tokio::runtime::Runtime,
}

impl Default for Sandbox {
    fn default() -> Sandbox {
        Sandbox::new()
    }
}

impl Sandbox {
    /// Under the temp dir, named after the process (left behind: a fuzz run ends by signal).
    pub fn new() -> Sandbox {
        let dir = std::env::temp_dir().join(format!("sidekey-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a folder in the temp dir");
        let key = sidekey_vault::Key::generate().expect("randomness");
        std::fs::write(dir.join("vault.key"), key.to_base64()).expect("the key file");
        let text = "[vault]\nkey_file = \"vault.key\"\n\n[accounts.gh]\nprovider = \"github\"\nclient_id = \"Iv1.x\"\ngit_hosts = [\"github.com\"]\n";
        let path = dir.join("config.toml");
        std::fs::write(&path, text).expect("the config");
        let config = || Config::parse(&path, text).expect("the sandbox's config");
        let home = dir.join("home");
        std::fs::create_dir_all(&home).expect("the home");
        let ctx = Context::new(home.clone(), config());
        ctx.vault().expect("the vault");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let daemon = crate::daemon::Daemon::with_limits(
            Context::new(home.clone(), config()),
            Some(Secret::new(API_KEY)),
            Stop::never(),
            crate::daemon::Limits {
                busy_wait: Duration::from_millis(50),
                ..crate::daemon::Limits::default()
            },
        );
        Sandbox {
            local: Local::new(Context::new(home.clone(), config()), Stop::never()),
            app: crate::daemon::router(daemon, "api:tcp", crate::daemon::Origins::none()),
            home,
            rt,
        }
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Empty the audit log; then what was written to it since, one entry a line.
    fn audit_lines(&self) -> Vec<String> {
        std::fs::read_to_string(crate::audit::path(&self.home))
            .unwrap_or_default()
            .split_inclusive('\n')
            .map(str::to_string)
            .collect()
    }

    fn clear_audit(&self) {
        let _ = std::fs::remove_file(crate::audit::path(&self.home));
    }

    /// `call` made by `caller` through the guard: its outcome, and the lines it added to the
    /// audit log (each with its `\n`).
    pub fn guard(&self, caller: &Caller, call: Call) -> (Result<(), Failure>, Vec<String>) {
        self.clear_audit();
        let r = self
            .rt
            .block_on(guard::operate(&self.local, caller, call))
            .map(|_| ());
        (r, self.audit_lines())
    }

    /// `request`, bytes as a client sends them, on one connection of the daemon (the HTTP/1
    /// server the daemon's listeners run), then (`shut`) the connection shut for writing, or
    /// else kept open until the daemon closes it (a request with `connection: close`; the
    /// server closes a connection at once when its client shuts while a request is running).
    /// The bytes the daemon answered until it closed, whether it closed within `limit`, and
    /// the lines written to the audit log.
    pub fn http1(
        &self,
        request: &[u8],
        shut: bool,
        limit: Duration,
    ) -> (Vec<u8>, bool, Vec<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.clear_audit();
        let app = self.app.clone();
        let request = request.to_vec();
        let (out, done) = self.rt.block_on(async move {
            let (client, server) = tokio::io::duplex(64 * 1024);
            let conn = tokio::spawn(crate::daemon::serve_connection(server, app));
            let (mut rd, mut wr) = tokio::io::split(client);
            let write = async move {
                let _ = wr.write_all(&request).await;
                if shut {
                    let _ = wr.shutdown().await;
                }
                wr
            };
            let mut out = Vec::new();
            let read = async {
                let _ = tokio::join!(write, rd.read_to_end(&mut out));
            };
            let done = tokio::time::timeout(limit, read).await.is_ok();
            conn.abort();
            (out, done)
        });
        (out, done, self.audit_lines())
    }
}

/// What a code-flow sign-in makes of `url` pasted for the sign-in whose state is `state`:
/// the code it exchanges, or the failure it reports.
pub fn pasted_redirect(url: &str, state: &str, by_person: bool) -> Result<Secret, Failure> {
    crate::signin::pasted_outcome(url, state, by_person)
}
