//! `sidekey serve`: the daemon that owns the vault, so the agent's container holds no vault, no
//! vault key and no refresh token — and reaches sidekey through a narrow API instead of the
//! Docker socket (which would give it root on the host).
//!
//! * Listens on a unix socket (default `$SIDEKEY_HOME/sidekey.sock`, mode 0660) and, when asked,
//!   on TCP. Every request but `/healthz` carries `Authorization: Bearer <API key>`; the key comes
//!   from a file (`SIDEKEY_API_KEY_FILE` or `[server] api_key_file`, e.g. a Docker secret).
//! * Enforces each account's policy ([`crate::policy`]) and writes every call, allowed or not,
//!   to the audit log.
//! * Refreshes access tokens ahead of expiry in the background, runs sign-ins started through
//!   the API (and resumes ones interrupted by a restart), and sends their notifications.
//! * On SIGTERM/SIGINT it stops accepting requests and waits for refreshes in flight, so a
//!   rotated refresh token is never lost to a shutdown.
//!
//! API (JSON): `GET /healthz`, `GET /v1/status[?account=]`, `POST /v1/login {account, scopes?}`,
//! `GET /v1/login/{account}?wait=SECONDS`, `POST /v1/token {account}`, `POST /v1/logout {account}`.
//! Errors: `{"error":{"exit_code","reason","message"}}` with an HTTP status derived from the
//! exit code (2→400, 3→409, 4→410, 5→502, 6→403, 1→500; a bad API key is 401).

use crate::account::{self, Record, State, now_unix};
use crate::audit;
use crate::context::Context;
use crate::failure::{self, Failure};
use crate::login::{self, Mode, PENDING, Pending, Reporter};
use axum::Router;
use axum::extract::{Path as UrlPath, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use sidekey_flow::Secret;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Daemon {
    ctx: Context,
    api_key: Secret,
    http: sidekey_flow::Http,
    /// Refreshes running on blocking threads; shutdown waits for them.
    inflight: AtomicUsize,
    /// Sign-ins this daemon is polling, by account.
    logins: Mutex<HashMap<String, LoginTask>>,
}

/// A sign-in running in the daemon.
struct LoginTask {
    handle: tokio::task::JoinHandle<()>,
    /// Becomes true once the code is shown (stored in the vault's pending slot).
    shown: tokio::sync::watch::Receiver<bool>,
    /// Why it ended, if it failed.
    error: Arc<Mutex<Option<Failure>>>,
}

/// Start a sign-in task (the caller holds the `logins` lock and records it).
fn spawn_login(d: &Shared, account: crate::config::Account, mode: Mode) -> LoginTask {
    let (tx, shown) = tokio::sync::watch::channel(false);
    let error = Arc::new(Mutex::new(None));
    let err2 = error.clone();
    let d2 = d.clone();
    let handle = tokio::spawn(async move {
        let reporter = Reporter {
            json: true,
            quiet: true,
            account: account.name.clone(),
            provider: account.kind.name(),
            channels: login::channels(&d2.ctx, &d2.http),
        };
        let r = login::run(&d2.ctx, &account, &d2.http, &reporter, mode, |_, _| {
            let _ = tx.send(true);
        })
        .await;
        if let Err(f) = r {
            *err2.lock().unwrap() = Some(f);
        }
    });
    LoginTask {
        handle,
        shown,
        error,
    }
}

type Shared = Arc<Daemon>;

#[derive(Clone, Copy)]
struct Caller(&'static str);

pub fn api_key_path(ctx: &Context) -> Option<PathBuf> {
    ctx.config.server.api_key_file.clone().or_else(|| {
        std::env::var_os("SIDEKEY_API_KEY_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
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
    std::env::var_os("SIDEKEY_SOCKET")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| ctx.config.server.socket.clone())
        .unwrap_or_else(|| ctx.home.join("sidekey.sock"))
}

pub fn serve(ctx: Context, socket: Option<PathBuf>, listen: Option<String>) -> Result<(), Failure> {
    let key_path = api_key_path(&ctx).ok_or_else(|| {
        Failure::config(
            "the daemon needs an API key: set SIDEKEY_API_KEY_FILE or [server] api_key_file",
        )
    })?;
    let api_key = read_api_key(&key_path)?;
    ctx.vault()?; // a wrong or missing key fails now, not at the first request
    let socket = socket.unwrap_or_else(|| default_socket(&ctx));
    let listen = listen.or_else(|| ctx.config.server.listen.clone());
    let http = account::http(&ctx)?;
    let daemon = Arc::new(Daemon {
        ctx,
        api_key,
        http,
        inflight: AtomicUsize::new(0),
        logins: Mutex::new(HashMap::new()),
    });
    // Two workers: a sign-in briefly waiting on an account's file lock must not stall the API.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::internal(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(run(daemon, socket, listen))
}

async fn run(d: Shared, socket: PathBuf, listen: Option<String>) -> Result<(), Failure> {
    let unix = bind_unix(&socket)?;
    let tcp = match &listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| Failure::config(format!("cannot listen on {addr}: {e}")))?,
        ),
        None => None,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let unix_srv = axum::serve(unix, router(d.clone(), Caller("api:unix")))
        .with_graceful_shutdown(stopped(stop_rx.clone()));
    let unix_task = tokio::spawn(async move { unix_srv.await });
    let tcp_task = tcp.map(|l| {
        let srv = axum::serve(l, router(d.clone(), Caller("api:tcp")))
            .with_graceful_shutdown(stopped(stop_rx.clone()));
        tokio::spawn(async move { srv.await })
    });
    eprintln!(
        "sidekey: serving on {}{}",
        socket.display(),
        listen.map(|l| format!(" and {l}")).unwrap_or_default()
    );
    resume_pending(&d);
    let refresher = tokio::spawn(refresh_loop(d.clone()));

    wait_for_signal().await;
    eprintln!("sidekey: shutting down");
    let _ = stop_tx.send(true);
    refresher.abort();
    let _ = unix_task.await;
    if let Some(t) = tcp_task {
        let _ = t.await;
    }
    // Sign-ins stop at their next wait (their codes stay pending and resume after a restart);
    // one mid-exchange finishes it and stores what it got.
    login::request_stop();
    let tasks: Vec<_> = d
        .logins
        .lock()
        .unwrap()
        .drain()
        .map(|(_, t)| t.handle)
        .collect();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(40), t).await;
    }
    // A refresh in flight may have rotated the refresh token at the provider: let it store it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while d.inflight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = std::fs::remove_file(&socket);
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    tokio::select! {
        _ = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
        _ = async { match int.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
    }
}

fn bind_unix(path: &Path) -> Result<tokio::net::UnixListener, Failure> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Failure::config(format!("cannot create {}: {e}", parent.display())))?;
    }
    if path.exists() {
        // A live daemon answers; a stale socket from a crash does not and is replaced.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(Failure::config(format!(
                "another sidekey daemon is already serving on {}",
                path.display()
            )));
        }
        let _ = std::fs::remove_file(path);
    }
    let l = tokio::net::UnixListener::bind(path)
        .map_err(|e| Failure::config(format!("cannot listen on {}: {e}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| Failure::internal(format!("cannot set the socket's mode: {e}")))?;
    Ok(l)
}

fn router(d: Shared, caller: Caller) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/login", post(login_start))
        .route("/v1/login/{account}", get(login_wait))
        .route("/v1/token", post(token))
        .route("/v1/logout", post(logout))
        .route("/v1/ms", post(ms_op))
        // Every /v1 request is authenticated (and a refusal audited) before its body is read.
        .route_layer(axum::middleware::from_fn_with_state(d.clone(), require_key))
        .route("/healthz", get(healthz))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .layer(axum::Extension(caller))
        .with_state(d)
}

async fn require_key(
    AxState(d): AxState<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let started = Instant::now();
    if let Err(f) = authorize(&d, req.headers()) {
        let op = req.uri().path().trim_start_matches("/v1/").to_string();
        audit::record(
            &d.ctx.home,
            caller.0,
            None,
            &op,
            json!({}),
            started,
            &Err(f.clone()),
        );
        return error_response(&f);
    }
    next.run(req).await
}

async fn healthz() -> Response {
    axum::Json(json!({"ok": true, "version": env!("CARGO_PKG_VERSION")})).into_response()
}

fn http_status(code: u8) -> StatusCode {
    match code {
        failure::CONFIG => StatusCode::BAD_REQUEST,
        failure::NOT_SIGNED_IN => StatusCode::CONFLICT,
        failure::DECLINED => StatusCode::GONE,
        failure::PROVIDER => StatusCode::BAD_GATEWAY,
        failure::POLICY => StatusCode::FORBIDDEN,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn error_response(f: &Failure) -> Response {
    let status = if f.reason == "unauthorized" {
        StatusCode::UNAUTHORIZED
    } else {
        http_status(f.code)
    };
    (
        status,
        axum::Json(
            json!({"error": {"exit_code": f.code, "reason": f.reason, "message": f.message}}),
        ),
    )
        .into_response()
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
            failure::POLICY,
            "unauthorized",
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

/// Authenticate, check policy, run, audit — the path every API call takes.
async fn guarded<F, Fut>(
    d: &Shared,
    headers: &HeaderMap,
    caller: Caller,
    op: &str,
    account: Option<&str>,
    args: Value,
    f: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Value, Failure>>,
{
    let started = Instant::now();
    let result = async {
        authorize(d, headers)?;
        if let Some(name) = account {
            let acct = d.ctx.config.account(name)?;
            acct.policy.check(name, op)?;
        }
        f().await
    }
    .await;
    let summary = result.as_ref().map(|_| ()).map_err(Clone::clone);
    audit::record(&d.ctx.home, caller.0, account, op, args, started, &summary);
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(f) => error_response(&f),
    }
}

/// Run blocking vault work (locks, the refresh path with its own runtime) off the reactor.
async fn blocking<T: Send + 'static>(
    d: &Shared,
    f: impl FnOnce(&Daemon) -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    struct InFlight(Shared);
    impl Drop for InFlight {
        fn drop(&mut self) {
            self.0.inflight.fetch_sub(1, Ordering::SeqCst);
        }
    }
    d.inflight.fetch_add(1, Ordering::SeqCst);
    // The guard lives on the worker thread: even if the awaiting task is cancelled (shutdown),
    // the count drops only when the work — and its vault write — is really done.
    let guard = InFlight(d.clone());
    tokio::task::spawn_blocking(move || {
        let g = guard;
        f(&g.0)
    })
    .await
    .map_err(|_| Failure::internal("a worker thread failed"))?
}

#[derive(Deserialize)]
struct AccountQuery {
    account: Option<String>,
}

async fn status(
    AxState(d): AxState<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    headers: HeaderMap,
    Query(q): Query<AccountQuery>,
) -> Response {
    let acct = q.account.clone();
    guarded(
        &d,
        &headers,
        caller,
        "status",
        q.account.as_deref(),
        json!({}),
        || {
            blocking(&d, move |d| {
                crate::commands::status_value(&d.ctx, acct.as_deref())
            })
        },
    )
    .await
}

#[derive(Deserialize)]
struct LoginBody {
    account: String,
    #[serde(default)]
    scopes: Option<Vec<String>>,
}

async fn login_start(
    AxState(d): AxState<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    headers: HeaderMap,
    body: Option<axum::Json<LoginBody>>,
) -> Response {
    let Some(axum::Json(b)) = body else {
        return error_response(&Failure::usage("expected a JSON body {\"account\": NAME}"));
    };
    let args = json!({"scopes": b.scopes});
    let name = b.account.clone();
    guarded(&d, &headers, caller, "login", Some(&name), args, || async {
        let account = d.ctx.config.account(&b.account)?;
        let account = crate::login::with_scopes(account, b.scopes.as_deref())?;
        start_login(&d, account).await
    })
    .await
}

/// Start (or join) the account's sign-in in this daemon and answer with its code event.
async fn start_login(d: &Shared, account: crate::config::Account) -> Result<Value, Failure> {
    let name = account.name.clone();
    // Check and start under one lock: two simultaneous requests share one sign-in.
    let (mut shown, error) = {
        let mut logins = d.logins.lock().unwrap();
        let running = logins.get(&name).filter(|t| !t.handle.is_finished());
        match running {
            Some(t) => (t.shown.clone(), t.error.clone()),
            None => {
                let t = spawn_login(d, account, Mode::Wait);
                let r = (t.shown.clone(), t.error.clone());
                logins.insert(name.clone(), t);
                r
            }
        }
    };
    let waited = tokio::time::timeout(Duration::from_secs(90), async {
        shown.wait_for(|s| *s).await.map(|_| ())
    })
    .await;
    match waited {
        Ok(Ok(_)) => code_event(d, &name).await,
        // The task ended before showing a code: report why.
        Ok(Err(_)) => Err(error
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| Failure::internal("the sign-in ended without a code"))),
        Err(_) => Err(Failure::new(
            failure::PROVIDER,
            "network",
            "the provider did not hand out a code in time",
        )),
    }
}

async fn code_event(d: &Shared, name: &str) -> Result<Value, Failure> {
    let n = name.to_string();
    let p: Option<Pending> =
        blocking(d, move |d| Ok(d.ctx.vault()?.load_slot(&n, PENDING)?)).await?;
    let p = p.ok_or_else(|| Failure::internal("no pending sign-in found"))?;
    let account = d.ctx.config.account(name)?;
    let reporter = Reporter {
        json: true,
        quiet: true,
        account: name.to_string(),
        provider: account.kind.name(),
        channels: sidekey_notify::Channels::new(d.http.client().clone(), None, None, None),
    };
    serde_json::to_value(reporter.code_event(&p)).map_err(|e| Failure::internal(e.to_string()))
}

#[derive(Deserialize)]
struct WaitQuery {
    wait: Option<u64>,
}

async fn login_wait(
    AxState(d): AxState<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
    Query(q): Query<WaitQuery>,
) -> Response {
    let wait = Duration::from_secs(q.wait.unwrap_or(0).min(60));
    let n = name.clone();
    guarded(
        &d,
        &headers,
        caller,
        "status",
        Some(&n),
        json!({"wait": wait.as_secs()}),
        || async {
            let account = d.ctx.config.account(&name)?;
            let deadline = Instant::now() + wait;
            loop {
                let n = name.clone();
                let (p, rec): (Option<Pending>, Option<Record>) = blocking(&d, move |d| {
                    let v = d.ctx.vault()?;
                    Ok((v.load_slot(&n, PENDING)?, v.load(&n)?))
                })
                .await?;
                let Some(p) = p else {
                    return Ok(json!({"event": "none", "account": name}));
                };
                let reporter = Reporter {
                    json: true,
                    quiet: true,
                    account: name.clone(),
                    provider: account.kind.name(),
                    channels: sidekey_notify::Channels::new(
                        d.http.client().clone(),
                        None,
                        None,
                        None,
                    ),
                };
                if let Some(o) = &p.outcome {
                    let ev = match (o.exit_code, rec) {
                        (0, Some(r)) => reporter.signed_in_event(&r),
                        _ => reporter.failed_event(&o.reason, &o.message),
                    };
                    let mut v =
                        serde_json::to_value(ev).map_err(|e| Failure::internal(e.to_string()))?;
                    v["exit_code"] = json!(o.exit_code);
                    return Ok(v);
                }
                if Instant::now() >= deadline {
                    let mut v = serde_json::to_value(reporter.code_event(&p))
                        .map_err(|e| Failure::internal(e.to_string()))?;
                    v["event"] = json!("pending");
                    return Ok(v);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        },
    )
    .await
}

#[derive(Deserialize)]
struct NameBody {
    account: String,
}

/// An operation on one account whose body is just `{"account": NAME}`, run off the reactor.
async fn account_op(
    d: Shared,
    caller: Caller,
    headers: HeaderMap,
    body: Option<axum::Json<NameBody>>,
    op: &'static str,
    f: fn(&Daemon, &str) -> Result<Value, Failure>,
) -> Response {
    let Some(axum::Json(b)) = body else {
        return error_response(&Failure::usage("expected a JSON body {\"account\": NAME}"));
    };
    let name = b.account;
    guarded(&d, &headers, caller, op, Some(&name), json!({}), || {
        let n = name.clone();
        blocking(&d, move |d| f(d, &n))
    })
    .await
}

async fn token(
    AxState(d): AxState<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    headers: HeaderMap,
    body: Option<axum::Json<NameBody>>,
) -> Response {
    account_op(d, caller, headers, body, "token", |d, n| {
        let rec = account::fresh_token(&d.ctx, n)?;
        let account = d.ctx.config.account(n)?;
        Ok(json!({
            "account": n,
            "access_token": rec.access_token.expose(),
            "token_type": rec.token_type,
            "expires_at": rec.expires_at.map(account::rfc3339),
            "scopes": rec.scopes,
            "token_env": account.token_env,
        }))
    })
    .await
}

async fn logout(
    AxState(d): AxState<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    headers: HeaderMap,
    body: Option<axum::Json<NameBody>>,
) -> Response {
    account_op(d, caller, headers, body, "logout", |d, n| {
        let message = crate::commands::logout_inner(&d.ctx, n)?;
        Ok(json!({"account": n, "message": message}))
    })
    .await
}

/// After a restart: resume sign-ins whose codes are still valid and nobody is polling.
fn resume_pending(d: &Shared) {
    let Ok(vault) = d.ctx.vault() else { return };
    for (name, account) in &d.ctx.config.accounts {
        let Ok(Some(p)) = vault.load_slot::<Pending>(name, PENDING) else {
            continue;
        };
        if p.outcome.is_some() || p.expires_at <= now_unix() + 2 {
            continue;
        }
        let mut account = account.clone();
        account.scopes = p.scopes.clone();
        let task = spawn_login(d, account, Mode::JoinOnly);
        d.logins.lock().unwrap().insert(name.clone(), task);
    }
}

/// Refresh every signed-in account shortly before its token enters the refresh margin, so
/// `token` calls never wait for the provider.
async fn refresh_loop(d: Shared) {
    loop {
        let margin = d.ctx.config.refresh_margin.as_secs() as i64;
        let due: Vec<String> = match d.ctx.vault() {
            Ok(v) => d
                .ctx
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
            let n = name.clone();
            let r = blocking(&d, move |d| account::fresh_token(&d.ctx, &n).map(|_| ())).await;
            audit::record(
                &d.ctx.home,
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

async fn ms_op(
    AxState(d): AxState<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    headers: HeaderMap,
    body: Option<axum::Json<crate::ms::MsRequest>>,
) -> Response {
    let Some(axum::Json(req)) = body else {
        return error_response(&Failure::usage("expected a JSON body {\"op\": …}"));
    };
    let account = crate::ms::pick_account(&d.ctx, req.account.as_deref()).ok();
    let op = format!("ms.{}", req.op);
    guarded(
        &d,
        &headers,
        caller,
        &op,
        account.as_deref(),
        json!({"op": req.op}),
        || {
            blocking(&d, move |d| {
                let (result, text) = crate::ms::run(&d.ctx, &req)?;
                Ok(json!({"result": result, "text": text}))
            })
        },
    )
    .await
}
