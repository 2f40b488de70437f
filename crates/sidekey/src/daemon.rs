//! `sidekey serve`: the daemon that owns the vault, so the agent's container holds no vault, no
//! vault key and no refresh token — and reaches sidekey through a narrow API instead of the
//! Docker socket (which would give it root on the host).
//!
//! * Listens on a unix socket (default `$SIDEKEY_HOME/sidekey.sock`, mode 0660) and, when asked,
//!   on TCP. Every request but `/healthz` carries `Authorization: Bearer <API key>`; the key comes
//!   from a file (`SIDEKEY_API_KEY_FILE` or `[server] api_key_file`, e.g. a Docker secret).
//! * The handlers are thin: the API key (a layer), the account's policy, then the same
//!   [`Local`] backend the CLI uses. Every call, allowed or not, is written to the audit log by
//!   one layer ([`audit_layer`]) from the note each handler leaves on its response.
//! * Never starved or flooded: request headers must arrive within 10 s, each listener serves a
//!   bounded number of connections (kept well below the open-file limit, whose soft value is
//!   raised to the hard one at start), refusals before the API key are aggregated in the audit
//!   log after a small burst, and `--socket` only ever replaces a stale socket.
//! * Refreshes access tokens ahead of expiry in the background, runs sign-ins started through
//!   the API (and resumes ones interrupted by a restart), and sends their notifications.
//! * On SIGTERM/SIGINT it stops accepting requests and waits for work that may rotate a refresh
//!   token (refreshes, sign-ins storing tokens), so a rotated refresh token is never lost.
//!
//! The routes and bodies are in [`crate::api`]. Errors are `{"error": Failure}` with an HTTP
//! status derived from the exit code (2→400, 3→409, 4→410, 5→502, 6→403, 1→500; a bad API key
//! is 401).

use crate::account::{self, Record, State, now_unix};
use crate::api::{
    AccountRequest, ApiError, Health, LoginProgress, LoginRequest, LoginStarted, LogoutReply,
    OpReply, OpRequest, OpsReply, StatusReply, TokenReply,
};
use crate::audit;
use crate::backend::Local;
use crate::context::Context;
use crate::env;
use crate::error::{Exit, Failure, Reason};
use crate::signin::{Mode, Stop};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path as UrlPath, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, IntoResponseParts, Response, ResponseParts};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sidekey_flow::Secret;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub struct Daemon {
    local: Local,
    api_key: Secret,
    /// Work that may rotate a refresh token, running detached; shutdown waits for it.
    inflight: AtomicUsize,
    /// Refusals before the API key: a burst written, the rest counted (see [`audit::Refusals`]).
    refusals: audit::Refusals,
}

type Shared = Arc<Daemon>;

/// Who is calling, as the audit log names it (`api:unix`, `api:tcp`).
#[derive(Clone, Copy)]
struct Caller(&'static str);

impl Daemon {
    pub fn new(ctx: Context, api_key: Secret, stop: Stop) -> Shared {
        Arc::new(Daemon {
            local: Local::new(ctx, stop),
            api_key,
            inflight: AtomicUsize::new(0),
            refusals: audit::Refusals::default(),
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

    /// May the agent call `op` on `name`?
    fn allow(&self, name: &str, op: &str) -> Result<(), Failure> {
        self.ctx().config.account(name)?.policy.check(name, op)
    }
}

pub fn api_key_path(ctx: &Context) -> Option<PathBuf> {
    ctx.config
        .server
        .api_key_file
        .clone()
        .or_else(|| env::path(env::SIDEKEY_API_KEY_FILE))
}

pub fn read_api_key(path: &Path) -> Result<Secret, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::config(format!(
            "cannot read the API key file {}: {e}",
            path.display()
        ))
    })?;
    let key = text.trim();
    if key.len() < 16 {
        return Err(Failure::config(format!(
            "the API key in {} is shorter than 16 characters (make one with `openssl rand -base64 32`)",
            path.display()
        )));
    }
    Ok(Secret::new(key))
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
    let key_path = api_key_path(&ctx).ok_or_else(|| {
        Failure::config(
            "the daemon needs an API key: set SIDEKEY_API_KEY_FILE or [server] api_key_file",
        )
    })?;
    let api_key = read_api_key(&key_path)?;
    for w in crate::doctor::loose_permissions(&ctx) {
        eprintln!("sidekey: warning: {w}");
    }
    ctx.vault()?; // a wrong or missing key fails now, not at the first request
    ctx.http()?;
    let socket = socket.unwrap_or_else(|| default_socket(&ctx));
    let listen = listen.or_else(|| ctx.config.server.listen.clone());
    let (stop_tx, stop) = Stop::new();
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
        router(d.clone(), "api:unix"),
        slots,
        down_rx.clone(),
    ));
    let tcp_task = tcp.map(|l| {
        tokio::spawn(serve_listener(
            l,
            router(d.clone(), "api:tcp"),
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
    let refresher = tokio::spawn(refresh_loop(d.clone()));
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
    d.refusals.flush(&d.ctx().home, true);
    let _ = std::fs::remove_file(&socket);
    Ok(())
}

/// How long a client may take to send a request's headers; a slower one is disconnected.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Open files kept free, whatever the load, for the vault, the audit log and outgoing HTTPS.
const FD_HEADROOM: u64 = 128;

/// Raise the soft open-file limit to the hard one (the default soft limit is often 1024), and
/// return the limit now in force.
fn open_file_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let l = getrlimit(Resource::Nofile);
    if let (Some(cur), Some(max)) = (l.current, l.maximum)
        && cur < max
    {
        let _ = setrlimit(
            Resource::Nofile,
            rustix::process::Rlimit {
                current: Some(max),
                maximum: Some(max),
            },
        );
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// Connections served at once per listener: both listeners together stay [`FD_HEADROOM`] below
/// the open-file limit, so a flood on one (say TCP) never takes the files the other, the vault
/// and the audit log need. Further clients wait in the kernel's backlog.
fn connection_slots(limit: u64) -> usize {
    (limit.saturating_sub(FD_HEADROOM) / 2).clamp(8, 512) as usize
}

/// Serve `app` on `listener`: at most `slots` connections at once, headers within
/// [`HEADER_TIMEOUT`]. When `down` turns true it stops accepting, lets each connection finish
/// its request, and waits (bounded) for them.
async fn serve_listener<L: axum::serve::Listener>(
    mut listener: L,
    app: Router,
    slots: usize,
    down: tokio::sync::watch::Receiver<bool>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let free = Arc::new(tokio::sync::Semaphore::new(slots));
    let mut stop = down.clone();
    loop {
        let slot = tokio::select! {
            s = free.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            _ = stopped(&mut stop) => break,
        };
        let io = tokio::select! {
            (io, _) = listener.accept() => io,
            _ = stopped(&mut stop) => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let mut down = down.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let conn = http.serve_connection(TokioIo::new(io), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stopped(&mut down) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    // Requests in flight finish (a `login --wait` long-poll lasts at most 60 s).
    let _ = tokio::time::timeout(Duration::from_secs(70), free.acquire_many(slots as u32)).await;
}

/// Until `down` turns true (or its sender is gone).
async fn stopped(down: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = down.wait_for(|s| *s).await;
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    tokio::select! {
        _ = recv(term.as_mut()) => {}
        _ = recv(int.as_mut()) => {}
    }
}

async fn recv(s: Option<&mut tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

fn bind_unix(path: &Path) -> Result<tokio::net::UnixListener, Failure> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Failure::config(format!("cannot create {}: {e}", parent.display())))?;
    }
    // Whatever is at the path is looked at, not followed: only a socket is ever replaced, so a
    // mistyped `--socket` (the vault key, a symlink to it, a folder) destroys nothing.
    match std::fs::symlink_metadata(path) {
        Ok(meta) => {
            use std::os::unix::fs::FileTypeExt;
            if !meta.file_type().is_socket() {
                return Err(Failure::config(format!(
                    "{} exists and is not a socket ({}); refusing to replace it: choose another --socket path",
                    path.display(),
                    describe_file_type(&meta.file_type())
                )));
            }
            // A live daemon answers; a stale socket from a crash does not and is replaced.
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(Failure::config(format!(
                    "another sidekey daemon is already serving on {}",
                    path.display()
                )));
            }
            let _ = std::fs::remove_file(path);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Failure::config(format!(
                "cannot inspect {}: {e}",
                path.display()
            )));
        }
    }
    let l = tokio::net::UnixListener::bind(path)
        .map_err(|e| Failure::config(format!("cannot listen on {}: {e}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| Failure::internal(format!("cannot set the socket's mode: {e}")))?;
    Ok(l)
}

fn describe_file_type(t: &std::fs::FileType) -> &'static str {
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a folder"
    } else if t.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// The largest `/v1/op` body: a 5 MB upload in base64 (6.7 MB) and its JSON around it.
pub const OP_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// The API for one listener. Tested with `oneshot`, no socket needed.
pub fn router(d: Shared, caller: &'static str) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/login", post(login_start))
        .route("/v1/login/{account}", get(login_wait))
        .route("/v1/login/{account}/redirect", post(login_redirect))
        .route("/v1/token", post(token))
        .route("/v1/logout", post(logout))
        // Operations carry uploads (`google.inbox.add`: 5 MB, base64) and drafts: their own
        // limit; every other route keeps the small one below.
        .route(
            "/v1/op",
            post(operate).layer(axum::extract::DefaultBodyLimit::max(OP_BODY_LIMIT)),
        )
        .route("/v1/ops", get(allowed_ops))
        // Every /v1 request is authenticated before its body is read.
        .route_layer(axum::middleware::from_fn_with_state(d.clone(), require_key))
        .route("/healthz", get(healthz))
        .layer(axum::middleware::from_fn_with_state(d.clone(), audit_layer))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .layer(axum::Extension(Caller(caller)))
        .with_state(d)
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = if self.reason == Reason::Unauthorized {
            StatusCode::UNAUTHORIZED
        } else {
            match self.exit {
                Exit::Usage => StatusCode::BAD_REQUEST,
                Exit::NotSignedIn => StatusCode::CONFLICT,
                Exit::Declined => StatusCode::GONE,
                Exit::Provider => StatusCode::BAD_GATEWAY,
                Exit::Policy => StatusCode::FORBIDDEN,
                Exit::Ok | Exit::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            }
        };
        let mut resp = (
            status,
            Json(ApiError {
                error: self.clone(),
            }),
        )
            .into_response();
        resp.extensions_mut().insert(self);
        resp
    }
}

/// What the audit log records of a request, left on the response by its handler.
#[derive(Clone)]
struct Note {
    op: String,
    account: Option<String>,
    args: Value,
}

impl Note {
    fn new(op: &str, account: Option<&str>, args: Value) -> Note {
        Note {
            op: op.to_string(),
            account: account.map(str::to_owned),
            args,
        }
    }
}

impl IntoResponseParts for Note {
    type Error = std::convert::Infallible;
    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.extensions_mut().insert(self);
        Ok(res)
    }
}

type Reply<T> = (Note, Result<Json<T>, Failure>);

/// The one place API calls are audited: every `/v1` answer, allowed or refused.
async fn audit_layer(
    AxState(d): AxState<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let started = Instant::now();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    if !path.starts_with("/v1/") {
        return resp;
    }
    let failure = resp.extensions().get::<Failure>().cloned();
    let note = match (resp.extensions().get::<Note>(), &failure) {
        (Some(n), _) => n.clone(),
        // Refused before a handler ran (the API key): name the route, capped.
        (None, Some(_)) => {
            let op: String = path.trim_start_matches("/v1/").chars().take(40).collect();
            Note::new(&op, None, json!({}))
        }
        // No route answered (404, 405): nothing happened, and nothing the caller names is
        // written down.
        (None, None) => return resp,
    };
    // Refused before the API key: a small burst per minute is written, the rest is counted
    // and summarised, so keyless floods cannot fill the disk.
    if failure
        .as_ref()
        .is_some_and(|f| f.reason == Reason::Unauthorized)
        && !d.refusals.admit(&d.ctx().home, caller.0)
    {
        return resp;
    }
    let result = match failure {
        Some(f) => Err(f),
        None => Ok(()),
    };
    audit::record(
        &d.ctx().home,
        caller.0,
        note.account.as_deref(),
        &note.op,
        note.args,
        started,
        &result,
    );
    resp
}

async fn require_key(
    AxState(d): AxState<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match authorize(&d, req.headers()) {
        Ok(()) => next.run(req).await,
        Err(f) => f.into_response(),
    }
}

fn authorize(d: &Daemon, headers: &HeaderMap) -> Result<(), Failure> {
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), d.api_key.expose().as_bytes()) {
        Ok(())
    } else {
        Err(Failure::new(
            Exit::Policy,
            Reason::Unauthorized,
            if given.is_empty() {
                "missing API key"
            } else {
                "wrong API key"
            },
        ))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= (x ^ y) as usize;
    }
    diff == 0
}

/// A JSON body, or a usage failure saying what was expected.
fn body<T>(b: Result<Json<T>, JsonRejection>, expected: &str) -> Result<T, Failure> {
    b.map(|Json(v)| v).map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Failure::usage("the request body is larger than the daemon accepts (uploads: 5 MB)")
        } else {
            Failure::usage(format!("expected a JSON body {expected}"))
        }
    })
}

async fn healthz() -> Json<Health> {
    Json(Health {
        ok: true,
        version: env!("CARGO_PKG_VERSION").to_string(),
    })
}

#[derive(Deserialize)]
struct AccountQuery {
    account: Option<String>,
}

async fn status(AxState(d): AxState<Shared>, Query(q): Query<AccountQuery>) -> Reply<StatusReply> {
    let note = Note::new("status", q.account.as_deref(), json!({}));
    let r = async {
        if let Some(n) = &q.account {
            d.allow(n, "status")?;
        }
        d.local.status(q.account.as_deref()).await
    };
    (note, r.await.map(Json))
}

async fn login_start(
    AxState(d): AxState<Shared>,
    b: Result<Json<LoginRequest>, JsonRejection>,
) -> Reply<LoginStarted> {
    let req = match body(b, "{\"account\": NAME}") {
        Ok(r) => r,
        Err(f) => return (Note::new("login", None, json!({})), Err(f)),
    };
    let note = Note::new("login", Some(&req.account), json!({"scopes": req.scopes}));
    let r = async {
        d.allow(&req.account, "login")?;
        let mode = if req.resume_only {
            Mode::Resume
        } else {
            Mode::Fresh
        };
        d.local.login(&req, mode).await
    };
    (note, r.await.map(Json))
}

/// A pasted redirect URL for a code-flow sign-in; the URL (it carries the code) is not audited.
async fn login_redirect(
    AxState(d): AxState<Shared>,
    UrlPath(name): UrlPath<String>,
    b: Result<Json<crate::api::RedirectRequest>, JsonRejection>,
) -> Reply<LoginStarted> {
    let note = Note::new("login", Some(&name), json!({"mode": "PasteUrl"}));
    let r = async {
        let req = body(b, "{\"url\": URL}")?;
        d.allow(&name, "login")?;
        d.local.login_redirect(&name, &req.url).await
    };
    (note, r.await.map(Json))
}

#[derive(Deserialize)]
struct WaitQuery {
    wait: Option<u64>,
}

async fn login_wait(
    AxState(d): AxState<Shared>,
    UrlPath(name): UrlPath<String>,
    Query(q): Query<WaitQuery>,
) -> Reply<LoginProgress> {
    let wait = Duration::from_secs(q.wait.unwrap_or(0).min(60));
    let note = Note::new("status", Some(&name), json!({"wait": wait.as_secs()}));
    let r = async {
        d.allow(&name, "status")?;
        d.local.login_progress(&name, wait).await
    };
    (note, r.await.map(Json))
}

async fn token(
    AxState(d): AxState<Shared>,
    b: Result<Json<AccountRequest>, JsonRejection>,
) -> Reply<TokenReply> {
    account_call(d, b, "token", |d, name| async move {
        d.local.token(&name).await
    })
    .await
}

async fn logout(
    AxState(d): AxState<Shared>,
    b: Result<Json<AccountRequest>, JsonRejection>,
) -> Reply<LogoutReply> {
    account_call(d, b, "logout", |d, name| async move {
        d.local.logout(&name).await
    })
    .await
}

/// A call on one account whose body is `{"account": NAME}`: the policy for `op`, then `work`,
/// detached (it may rotate a refresh token).
async fn account_call<T, Fut>(
    d: Shared,
    b: Result<Json<AccountRequest>, JsonRejection>,
    op: &'static str,
    work: impl FnOnce(Shared, String) -> Fut,
) -> Reply<T>
where
    T: Send + 'static,
    Fut: Future<Output = Result<T, Failure>> + Send + 'static,
{
    let req = match body(b, "{\"account\": NAME}") {
        Ok(r) => r,
        Err(f) => return (Note::new(op, None, json!({})), Err(f)),
    };
    // Only a token has a purpose (git, an OpenClaw secret); the host it names is checked before
    // it is written down.
    let purpose = match &req.purpose {
        None => Ok(json!({})),
        Some(_) if op != "token" => Err(Failure::usage(format!("{op} takes no purpose"))),
        Some(p) => p.validate().map(|()| p.audit_args()),
    };
    let args = purpose.as_ref().cloned().unwrap_or_else(|_| json!({}));
    let note = Note::new(op, Some(&req.account), args);
    let r = async {
        purpose?;
        d.allow(&req.account, op)?;
        d.detached(work(d.clone(), req.account.clone())).await
    };
    (note, r.await.map(Json))
}

async fn operate(
    AxState(d): AxState<Shared>,
    b: Result<Json<OpRequest>, JsonRejection>,
) -> Reply<OpReply> {
    let mut req = match body(b, "{\"op\": \"ms.me\", …}") {
        Ok(r) => r,
        Err(f) => return (Note::new("op", None, json!({})), Err(f)),
    };
    // The Picker's 127.0.0.1 redirect would reach the daemon's host, where no browser is: the
    // daemon only hands out the link (finished with `paste_url`).
    if let crate::ops::Operation::Google(crate::ops::google::GoogleOp::Pick { wait_secs, .. }) =
        &mut req.op
    {
        *wait_secs = 0;
    }
    let account = d.local.op_account(&req).ok();
    let note = Note::new(req.op.info().name, account.as_deref(), req.op.audit_args());
    let r = async {
        req.op.validate()?;
        let name = d.local.op_account(&req)?;
        d.ctx()
            .config
            .account(&name)?
            .policy
            .check_operation(&name, &req.op)?;
        let d2 = d.clone();
        d.detached(async move { d2.local.operate(&req).await })
            .await
    };
    (note, r.await.map(Json))
}

/// Which operations the policy allows on which account (`sidekey mcp`'s tool list).
async fn allowed_ops(AxState(d): AxState<Shared>) -> Reply<OpsReply> {
    (
        Note::new("ops", None, json!({})),
        Ok(Json(d.local.allowed_ops())),
    )
}

/// Refresh every signed-in account shortly before its token enters the refresh margin, so
/// `token` calls never wait for the provider.
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
            let start = Instant::now();
            let d2 = d.clone();
            let n = name.clone();
            let r = d
                .detached(async move { account::fresh_token(d2.ctx(), &n).await.map(|_| ()) })
                .await;
            audit::record(
                &d.ctx().home,
                "daemon",
                Some(&name),
                "refresh",
                json!({}),
                start,
                &r,
            );
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
}

#[cfg(test)]
mod tests {
    //! The router driven with `oneshot`: no socket, no process.

    use super::*;
    use crate::config::Config;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    const KEY: &str = "test-api-key-0123456789";

    struct Setup {
        _dir: tempfile::TempDir,
        home: PathBuf,
        app: Router,
        d: Shared,
    }

    fn setup(accounts: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let key = sidekey_vault::Key::generate().unwrap();
        std::fs::write(dir.path().join("vault.key"), key.to_base64()).unwrap();
        let text = format!("[vault]\nkey_file = \"vault.key\"\n{accounts}");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, &text).unwrap();
        let config = Config::parse(&path, &text).unwrap();
        let home = dir.path().join("home");
        let ctx = Context::new(home.clone(), config);
        ctx.vault().unwrap(); // as `serve` does before it listens
        let d = Daemon::new(ctx, Secret::new(KEY), Stop::never());
        Setup {
            _dir: dir,
            home,
            app: router(d.clone(), "api:test"),
            d,
        }
    }

    const GITHUB: &str = "[accounts.gh]\nprovider = \"github\"\nclient_id = \"Iv1.x\"\n";

    async fn call(
        app: &Router,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Body::from(body.unwrap_or("").to_string()))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    fn audit(home: &Path) -> Vec<Value> {
        std::fs::read_to_string(home.join("audit.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn health_needs_no_key_and_v1_does() {
        let s = setup(GITHUB);
        let (st, v) = call(&s.app, "GET", "/healthz", None, None).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(v["ok"], true);
        let (st, v) = call(&s.app, "GET", "/v1/status", None, None).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        let e: ApiError = serde_json::from_value(v).unwrap();
        assert_eq!(
            (e.error.exit, e.error.reason),
            (Exit::Policy, Reason::Unauthorized)
        );
        let (st, v) = call(&s.app, "GET", "/v1/status", Some(KEY), None).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let reply: StatusReply = serde_json::from_value(v).unwrap();
        assert_eq!(reply.accounts.len(), 1);
        assert_eq!(reply.accounts[0].name, "gh");
        let log = audit(&s.home);
        assert_eq!(log.len(), 2, "{log:?}");
        assert_eq!(log[0]["decision"], "deny");
        assert_eq!(log[0]["outcome"], "unauthorized");
        assert_eq!(log[1]["operation"], "status");
        assert_eq!(log[1]["decision"], "allow");
        // A route that does not exist answers 404 and writes nothing the caller chose.
        let (st, _) = call(&s.app, "GET", "/v1/anything-i-like", None, None).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        assert_eq!(audit(&s.home).len(), 2);
        assert!(
            !std::fs::read_to_string(s.home.join("audit.log"))
                .unwrap()
                .contains(KEY)
        );
    }

    #[tokio::test]
    async fn policy_refusals_bad_bodies_and_unknown_accounts() {
        let s = setup(GITHUB);
        let (st, v) = call(
            &s.app,
            "POST",
            "/v1/token",
            Some(KEY),
            Some(r#"{"account":"gh"}"#),
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
        assert_eq!(v["error"]["reason"], "policy");
        assert_eq!(v["error"]["exit_code"], 6);
        let (st, v) = call(
            &s.app,
            "POST",
            "/v1/logout",
            Some(KEY),
            Some(r#"{"account":"gh"}"#),
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
        let (st, v) = call(&s.app, "POST", "/v1/token", Some(KEY), Some("{not json")).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["error"]["reason"], "usage");
        let (st, v) = call(
            &s.app,
            "POST",
            "/v1/token",
            Some(KEY),
            Some(r#"{"account":"nope"}"#),
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["error"]["reason"], "config");
        // An operation for a provider with no account, and one with bad arguments.
        let (st, v) = call(
            &s.app,
            "POST",
            "/v1/op",
            Some(KEY),
            Some(r#"{"op":"ms.me"}"#),
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        let bad =
            r#"{"op":"ms.calendar","span":{"between":{"from":"someday","to":"later"}},"tz":null}"#;
        let (st, v) = call(&s.app, "POST", "/v1/op", Some(KEY), Some(bad)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["error"]["reason"], "usage");
        let log = audit(&s.home);
        let ops: Vec<&str> = log
            .iter()
            .map(|e| e["operation"].as_str().unwrap())
            .collect();
        assert_eq!(
            ops,
            ["token", "logout", "token", "token", "ms.me", "ms.calendar"]
        );
        assert_eq!(log[0]["decision"], "deny");
        assert_eq!(log[2]["decision"], "allow");
    }

    /// `GET /v1/ops`: each operation with the accounts whose policy allows it; an account of
    /// another provider gets none. Behind the API key, and audited.
    #[tokio::test]
    async fn ops_lists_the_grants_per_account() {
        let ms = "[accounts.work]\nprovider = \"microsoft\"\nclient_id = \"x\"\n";
        let s = setup(&format!("{GITHUB}{ms}"));
        let (st, _) = call(&s.app, "GET", "/v1/ops", None, None).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        let (st, v) = call(&s.app, "GET", "/v1/ops", Some(KEY), None).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let reply: OpsReply = serde_json::from_value(v).unwrap();
        let names: Vec<&str> = reply.ops.iter().map(|g| g.op.as_str()).collect();
        let catalog: Vec<&str> = crate::ops::Operation::catalog().map(|i| i.name).collect();
        assert_eq!(names, catalog);
        for g in &reply.ops {
            // Microsoft reads on `work`; a write would need `allow`; other services' operations
            // never on a Microsoft account.
            let expected: &[&str] = match (g.op.starts_with("ms."), g.access) {
                (true, crate::ops::Access::Read) => &["work"],
                _ => &[],
            };
            assert!(
                g.accounts.iter().all(|a| a != "work") || !expected.is_empty(),
                "{g:?}"
            );
            if g.op.starts_with("ms.") {
                assert_eq!(g.accounts, expected, "{}", g.op);
            }
        }
        let log = audit(&s.home);
        assert_eq!(log.last().unwrap()["operation"], "ops");
        assert_eq!(log.last().unwrap()["decision"], "allow");
    }

    /// Keyless floods cannot grow the audit log without bound: after a small burst, refusals
    /// before the API key are counted, not written one by one; what an entry records is capped.
    #[tokio::test]
    async fn keyless_floods_add_a_bounded_amount_to_the_audit_log() {
        let s = setup(GITHUB);
        let long = "a".repeat(60 * 1024);
        for i in 0..300 {
            let path = if i % 2 == 0 {
                format!("/v1/login/{long}")
            } else {
                format!("/v1/status?account={long}")
            };
            let (st, _) = call(&s.app, "GET", &path, None, None).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED);
        }
        let text = std::fs::read_to_string(s.home.join("audit.log")).unwrap();
        assert!(text.lines().count() <= 20, "{} lines", text.lines().count());
        assert!(text.len() <= 8 * 1024, "{} bytes", text.len());
        s.d.refusals.flush(&s.home, true);
        let log = audit(&s.home);
        let summary = log.last().unwrap();
        assert_eq!(summary["args"]["count"], 300 - audit::REFUSAL_BURST as u64);
        assert_eq!(summary["decision"], "deny");
        assert!(
            summary["note"]
                .as_str()
                .unwrap()
                .contains("refused requests from api:test"),
            "{summary}"
        );
        let text = std::fs::read_to_string(s.home.join("audit.log")).unwrap();
        // With the key, what a caller names is capped too.
        let body = format!(r#"{{"account":"{long}"}}"#);
        let (st, _) = call(&s.app, "POST", "/v1/token", Some(KEY), Some(&body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        let (st, _) = call(&s.app, "GET", &format!("/v1/login/{long}"), Some(KEY), None).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        let after = std::fs::read_to_string(s.home.join("audit.log")).unwrap();
        let added = &after[text.len()..];
        assert_eq!(added.lines().count(), 2, "{added}");
        assert!(added.lines().all(|l| l.len() < 1024), "{}", added.len());
    }

    /// Every reason and exit code leaves the daemon and comes back as the same failure.
    #[tokio::test]
    async fn every_failure_survives_the_round_trip() {
        for reason in Reason::ALL {
            for exit in Exit::ALL {
                let f = Failure::new(exit, reason, "why it failed");
                let resp = f.clone().into_response();
                assert!(!resp.status().is_success());
                let bytes = resp.into_body().collect().await.unwrap().to_bytes();
                let back: ApiError = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(back.error, f);
            }
        }
    }
}
