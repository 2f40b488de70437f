//! `sidekey serve`: the daemon that owns the vault, so the agent's container holds no vault, no
//! vault key and no refresh token — and reaches sidekey through a narrow API instead of the
//! Docker socket (which would give it root on the host).
//!
//! * Listens on a unix socket (default `$SIDEKEY_HOME/sidekey.sock`, mode 0660) and, when asked,
//!   on TCP. Every request but `/healthz` carries `Authorization: Bearer <API key>`: the unnamed
//!   key from a file (`SIDEKEY_API_KEY_FILE` or `[server] api_key_file`, e.g. a Docker secret),
//!   or a named agent's, known by its SHA-256 in `[agents.NAME]`; the request is then that
//!   agent's, with its rights.
//! * The handlers (`routes.rs`) are thin: the API key (a layer), the body read, then the same
//!   guard the CLI and the MCP server use ([`crate::backend::guard`]), which validates the
//!   call, checks the account's policy, runs it on [`Local`] and writes its audit entry. What
//!   no call reached (a refused key, an unreadable body) is audited by one layer. Listening,
//!   connection slots and signals are in `listen.rs`.
//! * Bounded bodies: every authenticated body is read whole, within 30 s (else 408), before
//!   its handler runs; `/v1/op` bodies over 64 KiB share a byte budget (503 `busy` when there
//!   is no room within 2 s), held until their call ends even if the client hangs up, so small
//!   requests never wait behind large ones ([`Limits`]).
//! * Never starved or flooded: request headers must arrive within 10 s, each listener serves a
//!   bounded number of connections (kept well below the open-file limit, whose soft value is
//!   raised to the hard one at start), refusals before the API key are aggregated in the audit
//!   log after a small burst, and `--socket` only ever replaces a stale socket.
//! * Refreshes access tokens ahead of expiry in the background, runs sign-ins started through
//!   the API (and resumes ones interrupted by a restart), and sends their notifications.
//! * On SIGTERM/SIGINT it stops accepting requests and waits for work that may rotate a refresh
//!   token (refreshes, sign-ins storing tokens), so a rotated refresh token is never lost.
//! * Refreshed tokens the vault refuses to store (a full disk, a folder it cannot write) are held
//!   in memory with the account's lock, served from there, and stored by a retry with backoff
//!   (said in its log, the audit log and `status`); at shutdown what is still unstored goes to
//!   the vault's rescue folder ([`account::Unsaved`]).
//!
//! The routes and bodies are in [`crate::api`]. Errors are `{"error": Failure}` with an HTTP
//! status derived from the exit code (2→400, 3→409, 4→410, 5→502, 6→403, 1→500; a bad API key
//! is 401, a body that did not arrive in time 408, no room for a large body 503).

use crate::account::{self, Record, State, now_unix};
use crate::audit;
use crate::backend::Local;
use crate::context::{Context, api_key_path, read_api_key};
use crate::env;
use crate::error::Failure;
use crate::signin::Stop;
use serde_json::json;
use sidekey_flow::Secret;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod listen;
mod mcp_http;
mod routes;

use listen::{bind_unix, connection_slots, open_file_limit, serve_listener, wait_for_signal};

#[doc(hidden)]
pub use listen::serve_connection;
pub use mcp_http::Origins;
pub use routes::{OP_BODY_LIMIT, router};

pub struct Daemon {
    /// Shared with the MCP endpoint's backends (`mcp_http.rs`), one per request's caller.
    local: Arc<Local>,
    /// The unnamed key (`[server] api_key_file`), if any; named agents' keys are known by
    /// their hashes in the config (`[agents.NAME] key_sha256`).
    api_key: Option<Secret>,
    /// Work that may rotate a refresh token, running detached; shutdown waits for it.
    inflight: AtomicUsize,
    /// Refusals before the API key: a burst written, the rest counted (see [`audit::Refusals`]).
    refusals: audit::Refusals,
    limits: Limits,
    /// Room for large bodies being read and run, in KiB (see [`Limits::budget`]).
    body_budget: Arc<tokio::sync::Semaphore>,
}

/// How the daemon bounds what authenticated requests make it hold (`routes::read_body`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The whole body must arrive within this, or the request is cut with 408.
    pub body_deadline: Duration,
    /// The bytes of large bodies (above 64 KiB, `/v1/op` only) read or run at once; a body
    /// without a length counts as the largest allowed.
    pub budget: usize,
    /// How long a large body waits for room in the budget before it is refused with 503.
    pub busy_wait: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            body_deadline: Duration::from_secs(30),
            budget: 32 * 1024 * 1024,
            busy_wait: Duration::from_secs(2),
        }
    }
}

type Shared = Arc<Daemon>;

impl Daemon {
    /// A daemon for `ctx`, taking `api_key` (the unnamed agent's, when there is one) and the
    /// keys of the config's `[agents.*]`.
    pub fn new(ctx: Context, api_key: Option<Secret>, stop: Stop) -> Shared {
        Daemon::with_limits(ctx, api_key, stop, Limits::default())
    }

    pub fn with_limits(
        ctx: Context,
        api_key: Option<Secret>,
        stop: Stop,
        limits: Limits,
    ) -> Shared {
        Arc::new(Daemon {
            local: Arc::new(Local::new(ctx, stop)),
            api_key,
            inflight: AtomicUsize::new(0),
            refusals: audit::Refusals::default(),
            limits,
            body_budget: Arc::new(tokio::sync::Semaphore::new(limits.budget.div_ceil(1024))),
        })
    }

    fn ctx(&self) -> &Context {
        &self.local.ctx
    }

    /// Run `work` in its own task: if the request that started it goes away (a client hanging
    /// up, shutdown), the work still finishes and stores what it got.
    async fn detached<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl Future<Output = Result<T, Failure>> + Send + 'static,
    ) -> Result<T, Failure> {
        struct InFlight(Shared);
        impl Drop for InFlight {
            fn drop(&mut self) {
                self.0.inflight.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.inflight.fetch_add(1, Ordering::SeqCst);
        let guard = InFlight(self.clone());
        tokio::spawn(async move {
            let _g = guard;
            work.await
        })
        .await
        .map_err(|_| Failure::internal("a daemon task failed"))?
    }
}

/// `SIDEKEY_SOCKET`, else `[server] socket`, else `$SIDEKEY_HOME/sidekey.sock`.
pub fn default_socket(ctx: &Context) -> PathBuf {
    env::path(env::SIDEKEY_SOCKET)
        .or_else(|| ctx.config.server.socket.clone())
        .unwrap_or_else(|| ctx.home.join("sidekey.sock"))
}

pub async fn serve(
    ctx: Context,
    socket: Option<PathBuf>,
    listen: Option<String>,
) -> Result<(), Failure> {
    let api_key = match api_key_path(&ctx) {
        Some(path) => Some(read_api_key(&path)?),
        None if ctx.config.agents.is_empty() => {
            return Err(Failure::config(
                "the daemon needs an API key: set SIDEKEY_API_KEY_FILE or [server] api_key_file, or add an agent with `sidekey agents add NAME`",
            ));
        }
        None => None,
    };
    if let Some(key) = &api_key {
        let hash = crate::config::key_hash(key.expose());
        if let Some(a) = ctx.config.agents.values().find(|a| a.key_sha256 == hash) {
            return Err(Failure::config(format!(
                "the daemon's API key file holds agent '{}''s key: the unnamed key and every agent's must differ",
                a.name
            )));
        }
    }
    for w in crate::doctor::loose_permissions(&ctx) {
        eprintln!("sidekey: warning: {w}");
    }
    ctx.vault()?; // a wrong or missing key fails now, not at the first request
    ctx.http()?;
    let socket = socket.unwrap_or_else(|| default_socket(&ctx));
    let listen = listen.or_else(|| ctx.config.server.listen.clone());
    let (stop_tx, stop) = Stop::new();
    // Refreshed tokens the vault refuses are held in memory and retried, never dropped.
    let mut ctx = ctx;
    ctx.unsaved = Some(account::Unsaved::default());
    let d = Daemon::new(ctx, api_key, stop);

    let unix = bind_unix(&socket)?;
    let tcp = match &listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| Failure::config(format!("cannot listen on {addr}: {e}")))?,
        ),
        None => None,
    };
    let (down_tx, down_rx) = tokio::sync::watch::channel(false);
    let slots = connection_slots(open_file_limit());
    let unix_task = tokio::spawn(serve_listener(
        unix,
        router(d.clone(), "api:unix", Origins::none()),
        slots,
        down_rx.clone(),
    ));
    let tcp_task = tcp.map(|l| {
        let origins = l.local_addr().map(Origins::of).unwrap_or_default();
        tokio::spawn(serve_listener(
            l,
            router(d.clone(), "api:tcp", origins),
            slots,
            down_rx.clone(),
        ))
    });
    eprintln!(
        "sidekey: serving on {}{}",
        socket.display(),
        listen.map(|l| format!(" and {l}")).unwrap_or_default()
    );
    d.local.signins.resume_all();
    crate::approvals::ask::resume(&d.local.ctx).await;
    let refresher = tokio::spawn(refresh_loop(d.clone()));
    let saver = {
        let d = d.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if let Some(mem) = &d.ctx().unsaved {
                    mem.retry(d.ctx(), false).await;
                }
            }
        })
    };
    let summaries = {
        let d = d.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                d.refusals.flush(&d.ctx().home, false);
            }
        })
    };

    wait_for_signal().await;
    eprintln!("sidekey: shutting down");
    let _ = down_tx.send(true);
    refresher.abort(); // a refresh it started runs detached and is waited for below
    summaries.abort();
    let _ = unix_task.await;
    if let Some(t) = tcp_task {
        let _ = t.await;
    }
    // Sign-ins stop at their next wait (their codes stay pending and resume after a restart);
    // one mid-exchange finishes it and stores what it got.
    let _ = stop_tx.send(true);
    d.local.signins.drain(Duration::from_secs(40)).await;
    // A refresh in flight may have rotated the refresh token at the provider: let it store it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while d.inflight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Tokens the vault still refuses: one last try, else the rescue folder (said in the log).
    saver.abort();
    if let Some(mem) = &d.ctx().unsaved {
        mem.retry(d.ctx(), true).await;
    }
    d.refusals.flush(&d.ctx().home, true);
    let _ = std::fs::remove_file(&socket);
    Ok(())
}

/// `name`'s lock if nobody holds it (taken without waiting); `None` if another daemon does, or
/// the database did not answer (the next round tries again).
async fn claim(v: &sidekey_vault::Vault, name: &str) -> Option<sidekey_vault::AccountLock> {
    let (v, n) = (v.clone(), name.to_string());
    tokio::task::spawn_blocking(move || v.lock_within(&n, Duration::ZERO))
        .await
        .ok()?
        .ok()?
}

async fn refresh_loop(d: Shared) {
    loop {
        let margin = d.ctx().config.refresh_margin.as_secs() as i64;
        let due: Vec<String> = match d.ctx().vault() {
            Ok(v) => d
                .ctx()
                .config
                .accounts
                .keys()
                .filter(|name| {
                    matches!(v.load::<Record>(name), Ok(Some(r)) if r.state == State::SignedIn
                        && r.refresh_token.is_some()
                        && r.expires_at.is_some_and(|e| e - now_unix() <= margin + 60))
                })
                .cloned()
                .collect(),
            Err(_) => vec![],
        };
        for name in due {
            // Daemons sharing a database claim a due account by taking its lock without
            // waiting (the advisory-lock form of `SKIP LOCKED`): one another daemon holds is
            // being refreshed there, and is skipped here (docs/fleet.md, "One refresh per
            // expiry"). The file vault keeps its way: one daemon per vault.
            let claimed = match d.ctx().vault() {
                Ok(v) if v.is_database() => match claim(&v, &name).await {
                    Some(lock) => Some(lock),
                    None => continue,
                },
                _ => None,
            };
            let start = Instant::now();
            let d2 = d.clone();
            let n = name.clone();
            let r = d
                .detached(async move {
                    match claimed {
                        Some(lock) => account::refresh_claimed(d2.ctx(), &n, lock).await,
                        None => account::fresh_token(d2.ctx(), &n).await,
                    }
                    .map(|_| ())
                })
                .await;
            audit::record(
                &d.ctx().home,
                "daemon",
                Some(&name),
                "refresh",
                json!({}),
                start,
                audit::Reached::Run,
                &r,
            );
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
}
