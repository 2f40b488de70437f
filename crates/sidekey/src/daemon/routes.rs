//! The daemon's API: the routes, the API-key layer, the audit layer for what no call reached,
//! and thin handlers that read the body and hand the call to the guard
//! ([`crate::backend::guard`]), which validates, checks the policy, runs and audits it.

use super::mcp_http::{self, Origins};
use super::{Daemon, Shared};
use crate::api::{
    AccountRequest, ApiError, Health, LoginProgress, LoginRequest, LoginStarted, LogoutReply,
    OpReply, OpRequest, OpsReply, RefusalReport, StatusReply, TokenReply,
};
use crate::audit;
use crate::backend::guard::{self, Call, Caller, Done};
use crate::error::{Exit, Failure, Reason};
use crate::signin::Mode;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path as UrlPath, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The largest `/v1/op` body: a 5 MB upload in base64 (6.7 MB) and its JSON around it.
pub const OP_BODY_LIMIT: usize = 8 * 1024 * 1024;
/// The largest body of every other route; larger `/v1/op` bodies need room in the daemon's
/// budget ([`super::Limits::budget`]).
pub const SMALL_BODY_LIMIT: usize = 64 * 1024;

/// The API for one listener (`caller`: `api:unix`, `api:tcp`), with MCP at `/mcp` for the
/// `Origin`s that are its own address. Tested with `oneshot`, no socket needed.
pub fn router(d: Shared, caller: &'static str, origins: Origins) -> Router {
    // MCP over Streamable HTTP: the same key, body bounds and audit as `/v1`, its caller named
    // `mcp:*`, and web pages refused by their `Origin` before anything else.
    let via = mcp_http::mcp_via(caller);
    let mcp = Router::new()
        .route(mcp_http::PATH, mcp_http::route(d.clone()))
        .route_layer(axum::middleware::from_fn_with_state(d.clone(), read_body))
        .route_layer(axum::middleware::from_fn_with_state(d.clone(), require_key))
        .route_layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let origins = origins.clone();
                async move {
                    match mcp_http::refuse_origin(&origins, via, req.headers()) {
                        None => next.run(req).await,
                        Some(refused) => refused,
                    }
                }
            },
        ))
        .layer(axum::Extension(Caller::api(via)));
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
        .route("/v1/refused", post(refused))
        // Every /v1 request is authenticated (the outer layer) before its body is read, whole,
        // under a limit and a deadline, before its handler runs.
        .route_layer(axum::middleware::from_fn_with_state(d.clone(), read_body))
        .route_layer(axum::middleware::from_fn_with_state(d.clone(), require_key))
        .merge(mcp)
        .route("/healthz", get(healthz))
        .layer(axum::middleware::from_fn_with_state(d.clone(), audit_layer))
        .layer(axum::extract::DefaultBodyLimit::max(SMALL_BODY_LIMIT))
        .layer(axum::Extension(Caller::api(caller)))
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
                Exit::Policy | Exit::Denied => StatusCode::FORBIDDEN,
                // Nothing ran: the answer names the approval to wait on again.
                Exit::Pending => StatusCode::CONFLICT,
                Exit::ApprovalExpired => StatusCode::GONE,
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

/// Left on a response whose call went through the guard, which wrote its audit entry.
#[derive(Clone, Copy)]
struct Audited;

/// A handler's answer: what the guard answered, or a refusal made before it (a body that does
/// not read), which [`audit_layer`] writes down.
struct Answer<T>(Result<T, Failure>, bool);

impl<T: serde::Serialize> IntoResponse for Answer<T> {
    fn into_response(self) -> Response {
        let mut resp = match self.0 {
            Ok(v) => Json(v).into_response(),
            Err(f) => f.into_response(),
        };
        if self.1 {
            resp.extensions_mut().insert(Audited);
        }
        resp
    }
}

/// What no call reached, audited here: a refused API key (a small burst per minute is
/// written, the rest counted and summarised, so keyless floods cannot fill the disk), a body
/// too large or not readable. Everything else the guard audited ([`Audited`]).
async fn audit_layer(
    AxState(d): AxState<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let started = Instant::now();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    if !(path.starts_with("/v1/") || path == mcp_http::PATH)
        || resp.extensions().get::<Audited>().is_some()
    {
        return resp;
    }
    // Past the key, the caller is the agent it named ([`require_key`]); on `/mcp`, the
    // endpoint's caller (`mcp:*`) even when the key is refused.
    let caller = resp.extensions().get::<Caller>().cloned().unwrap_or(caller);
    // No route answered (404, 405) or nothing failed: nothing happened, and nothing the
    // caller names is written down.
    let Some(failure) = resp.extensions().get::<Failure>().cloned() else {
        return resp;
    };
    let Caller::Api { via, .. } = caller else {
        return resp;
    };
    if failure.reason == Reason::Unauthorized && !d.refusals.admit(&d.ctx().home, via) {
        return resp;
    }
    let name = caller.audit_name();
    // Name the route, capped: the first segment after /v1/.
    let op: String = path
        .trim_start_matches("/v1/")
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .chars()
        .take(40)
        .collect();
    audit::record(
        &d.ctx().home,
        &name,
        None,
        &op,
        json!({}),
        started,
        audit::Reached::Checks,
        &Err(failure),
    );
    resp
}

/// The API key: the request goes on as the caller its key names (the unnamed key's, or a named
/// agent's), which the handlers and [`audit_layer`] read from the request and the response.
async fn require_key(
    AxState(d): AxState<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Caller::Api { via, .. } = caller else {
        return Failure::internal("the daemon's API without a listener").into_response();
    };
    match authorize(&d, req.headers()) {
        Ok(agent) => {
            let caller = Caller::Api { via, agent };
            req.extensions_mut().insert(caller.clone());
            let mut resp = next.run(req).await;
            resp.extensions_mut().insert(caller);
            resp
        }
        Err(f) => {
            // Refused under the listener's own name (`api:tcp`, `mcp:tcp`) for the audit layer.
            let mut resp = f.into_response();
            resp.extensions_mut().insert(Caller::api(via));
            resp
        }
    }
}

/// Which key the request carries: `Ok(None)` the unnamed key, `Ok(Some(name))` agent `name`'s
/// (its SHA-256 is the agent's `key_sha256`). Every key is compared, each in constant time, so
/// the time taken says nothing about which key, or how much of one, matched.
fn authorize(d: &Daemon, headers: &HeaderMap) -> Result<Option<String>, Failure> {
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let unnamed = d
        .api_key
        .as_ref()
        .is_some_and(|k| constant_time_eq(given.as_bytes(), k.expose().as_bytes()));
    let hash = crate::config::key_hash(given);
    let mut named = None;
    for agent in d.ctx().config.agents.values() {
        if constant_time_eq(&hash, &agent.key_sha256) {
            named = Some(agent.name.clone());
        }
    }
    if !given.is_empty() && (unnamed || named.is_some()) {
        Ok(named)
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

/// Read an authenticated request's body before its handler runs, so no handler waits on a
/// client: at most the route's limit ([`OP_BODY_LIMIT`] for `/v1/op`, else
/// [`SMALL_BODY_LIMIT`]), all of it within [`super::Limits::body_deadline`] (else 408). A body
/// larger than the small limit (or of unknown length on `/v1/op`, counted as the largest) first
/// takes room in the daemon's byte budget ([`Room`]) and keeps it until its call has ended, even
/// when the client hangs up first; with no room within [`super::Limits::busy_wait`] it is
/// refused with 503 (`busy`, exit 5), unread. Small requests (`/v1/status`, sign-ins, tokens)
/// never wait for the budget.
async fn read_body(
    AxState(d): AxState<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::body::HttpBody;
    // An MCP tool call carries what `/v1/op` does (uploads, drafts).
    let limit = if req.uri().path() == "/v1/op" || req.uri().path() == mcp_http::PATH {
        OP_BODY_LIMIT
    } else {
        SMALL_BODY_LIMIT
    };
    let (parts, body) = req.into_parts();
    let hint = body.size_hint();
    let counted = hint.upper().map_or(limit, |n| n.min(limit as u64) as usize);
    let room = if counted > SMALL_BODY_LIMIT {
        let most = d.limits.budget.div_ceil(1024).max(1);
        let want = counted.div_ceil(1024).min(most) as u32;
        let room = d.body_budget.clone().acquire_many_owned(want);
        match tokio::time::timeout(d.limits.busy_wait, room).await {
            Ok(Ok(p)) => Some(Room(std::sync::Arc::new(p))),
            _ => {
                return answer_with(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Failure::new(
                        Exit::Provider,
                        Reason::Busy,
                        "the daemon is reading as many large requests as it takes at once: try again in a few seconds",
                    ),
                );
            }
        }
    } else {
        None
    };
    let known = hint.exact().map_or(0, |n| n.min(limit as u64) as usize);
    let bytes =
        match tokio::time::timeout(d.limits.body_deadline, collect(body, limit, known)).await {
            Ok(Ok(b)) => b,
            Ok(Err(f)) => return f.into_response(),
            Err(_) => {
                return answer_with(
                    StatusCode::REQUEST_TIMEOUT,
                    Failure::new(
                        Exit::Provider,
                        Reason::Network,
                        format!(
                            "the request body did not arrive within {} s",
                            d.limits.body_deadline.as_secs()
                        ),
                    ),
                );
            }
        };
    let mut req = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
    if let Some(room) = &room {
        req.extensions_mut().insert(room.clone());
    }
    next.run(req).await
}

/// A large body's room in the daemon's byte budget, held by the request and by the call it
/// became ([`detached_call`]): it is given back when the last of them ends. A client that hangs
/// up ends its request at once, while its call runs on with what the body was parsed into.
#[derive(Clone)]
struct Room(#[allow(dead_code)] std::sync::Arc<tokio::sync::OwnedSemaphorePermit>);

/// The whole body, refused once it passes `limit`; `known`: its announced length.
async fn collect(
    mut body: axum::body::Body,
    limit: usize,
    known: usize,
) -> Result<axum::body::Bytes, Failure> {
    use http_body_util::BodyExt;
    let mut buf = Vec::with_capacity(known);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Failure::usage("the request body could not be read"))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(too_large());
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.into())
}

fn too_large() -> Failure {
    Failure::usage("the request body is larger than the daemon accepts (uploads: 5 MB)")
}

/// `f` as an error answer with `status` instead of the one its exit code implies.
fn answer_with(status: StatusCode, f: Failure) -> Response {
    let mut resp = f.into_response();
    *resp.status_mut() = status;
    resp
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
            too_large()
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

/// Run `call` through the guard in its own task (if the client hangs up, the work still
/// finishes, stores what it got and is audited), and pick the reply of the kind expected.
async fn guarded<T: serde::Serialize>(
    d: Shared,
    caller: Caller,
    call: Call,
    pick: impl FnOnce(Done) -> Option<T>,
) -> Answer<T> {
    guarded_in(d, caller, call, None, pick).await
}

/// [`guarded`], the call holding `room` (its body's room in the budget) until it ends.
async fn guarded_in<T: serde::Serialize>(
    d: Shared,
    caller: Caller,
    call: Call,
    room: Option<Room>,
    pick: impl FnOnce(Done) -> Option<T>,
) -> Answer<T> {
    let done = detached_call(d, caller, call, room).await;
    Answer(done.and_then(|done| guard::expect(done, pick)), true)
}

/// Not generic, so the daemon has one detached task type for every route (a task type per reply
/// type would each bring the runtime's task machinery into the binary).
async fn detached_call(
    d: Shared,
    caller: Caller,
    call: Call,
    room: Option<Room>,
) -> Result<Done, Failure> {
    let d2 = d.clone();
    d.detached(async move {
        let _room = room;
        guard::operate(&d2.local, &caller, call).await
    })
    .await
}

/// A body that did not read: refused before any call, audited by [`audit_layer`].
fn unread<T>(f: Failure) -> Answer<T> {
    Answer(Err(f), false)
}

#[derive(Deserialize)]
struct AccountQuery {
    account: Option<String>,
}

async fn status(
    AxState(d): AxState<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    Query(q): Query<AccountQuery>,
) -> Answer<StatusReply> {
    let call = Call::Status { account: q.account };
    guarded(d, caller, call, |r| match r {
        Done::Status(s) => Some(s),
        _ => None,
    })
    .await
}

async fn login_start(
    AxState(d): AxState<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    b: Result<Json<LoginRequest>, JsonRejection>,
) -> Answer<LoginStarted> {
    let req = match body(b, "{\"account\": NAME}") {
        Ok(r) => r,
        Err(f) => return unread(f),
    };
    // Through the daemon the daemon polls: a fresh sign-in, or only a pending one.
    let mode = if req.resume_only {
        Mode::Resume
    } else {
        Mode::Fresh
    };
    // Replacing the account's identity is never the API's: no field of the request asks it.
    let call = Call::Login {
        req,
        mode,
        replace_identity: false,
    };
    guarded(d, caller, call, |r| match r {
        Done::Started(s) => Some(s),
        _ => None,
    })
    .await
}

async fn login_redirect(
    AxState(d): AxState<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    UrlPath(name): UrlPath<String>,
    b: Result<Json<crate::api::RedirectRequest>, JsonRejection>,
) -> Answer<LoginStarted> {
    let req = match body(b, "{\"url\": URL}") {
        Ok(r) => r,
        Err(f) => return unread(f),
    };
    let call = Call::Redirect {
        account: name,
        url: req.url,
    };
    guarded(d, caller, call, |r| match r {
        Done::Started(s) => Some(s),
        _ => None,
    })
    .await
}

#[derive(Deserialize)]
struct WaitQuery {
    wait: Option<u64>,
}

async fn login_wait(
    AxState(d): AxState<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    UrlPath(name): UrlPath<String>,
    Query(q): Query<WaitQuery>,
) -> Answer<LoginProgress> {
    let call = Call::Progress {
        account: name,
        wait: Duration::from_secs(q.wait.unwrap_or(0).min(60)),
    };
    guarded(d, caller, call, |r| match r {
        Done::Progress(p) => Some(p),
        _ => None,
    })
    .await
}

async fn token(
    AxState(d): AxState<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    b: Result<Json<AccountRequest>, JsonRejection>,
) -> Answer<TokenReply> {
    let req = match body(b, "{\"account\": NAME}") {
        Ok(r) => r,
        Err(f) => return unread(f),
    };
    let call = Call::Token {
        account: req.account,
        purpose: req.purpose,
    };
    guarded(d, caller, call, |r| match r {
        Done::Token(t) => Some(t),
        _ => None,
    })
    .await
}

async fn logout(
    AxState(d): AxState<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    b: Result<Json<AccountRequest>, JsonRejection>,
) -> Answer<LogoutReply> {
    let req = match body(b, "{\"account\": NAME}") {
        Ok(r) => r,
        Err(f) => return unread(f),
    };
    if req.purpose.is_some() {
        let call = Call::Refused {
            op: "logout".into(),
            account: Some(req.account),
            failure: Failure::usage("logout takes no purpose"),
        };
        return guarded(d, caller, call, |_| None::<LogoutReply>).await;
    }
    let call = Call::Logout {
        account: req.account,
    };
    guarded(d, caller, call, |r| match r {
        Done::Logout(l) => Some(l),
        _ => None,
    })
    .await
}

/// The body is read tag first, without copying its arguments ([`OpRequest::from_json`]).
async fn operate(
    AxState(d): AxState<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    room: Option<axum::Extension<Room>>,
    b: axum::body::Bytes,
) -> Answer<OpReply> {
    let req = match OpRequest::from_json(&b) {
        Ok(r) => r,
        Err(f) => return unread(f),
    };
    drop(b);
    let room = room.map(|axum::Extension(r)| r);
    guarded_in(d, caller, Call::Op(req), room, |r| match r {
        Done::Op(o) => Some(o),
        _ => None,
    })
    .await
}

async fn allowed_ops(
    AxState(d): AxState<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> Answer<OpsReply> {
    guarded(d, caller, Call::Ops, |r| match r {
        Done::Ops(o) => Some(o),
        _ => None,
    })
    .await
}

/// A refusal the client made before it could call (an MCP tool's arguments, refused on the
/// agent's side): written to the audit log through the guard, under this caller's name.
async fn refused(
    AxState(d): AxState<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    b: axum::body::Bytes,
) -> Answer<Value> {
    // Read with serde_json directly: the report is small and its error shape is the daemon's own.
    let report: RefusalReport = match serde_json::from_slice(&b) {
        Ok(r) => r,
        Err(_) => {
            return unread(Failure::usage(
                "expected a JSON body {\"op\": NAME, \"error\": {…}}",
            ));
        }
    };
    if let Err(f) = report.validate() {
        return unread(f);
    }
    let call = Call::Refused {
        op: report.op,
        account: None,
        failure: report.error,
    };
    let Answer(r, audited) = guarded(d, caller, call, |_| None::<Value>).await;
    // The report was taken: the refusal is the client's answer, not this one.
    Answer(r.or_else(|_| Ok(json!({}))), audited)
}

#[cfg(test)]
mod tests {
    //! The router driven with `oneshot`: no socket, no process.

    use super::*;
    use crate::config::Config;
    use crate::context::Context;
    use crate::signin::Stop;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use sidekey_flow::Secret;
    use std::path::{Path, PathBuf};
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
        let d = Daemon::new(ctx, Some(Secret::new(KEY)), Stop::never());
        Setup {
            _dir: dir,
            home,
            app: router(d.clone(), "api:test", Origins::none()),
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

    /// A refusal the agent's side reports is written down under the caller's name, bounded:
    /// a hostile op name (too long, a newline to fake an entry) or a non-refusal is turned away
    /// and nothing of it reaches the log.
    #[tokio::test]
    async fn reported_refusals_are_bounded_and_audited() {
        let s = setup(GITHUB);
        let ok = r#"{"op":"mcp.unknown","error":{"exit_code":6,"reason":"policy","message":"policy: unknown tool 'x'"}}"#;
        let (st, _) = call(&s.app, "POST", "/v1/refused", Some(KEY), Some(ok)).await;
        assert_eq!(st, StatusCode::OK);
        let long = format!(
            r#"{{"op":"{}","error":{{"exit_code":6,"reason":"policy","message":"m"}}}}"#,
            "x".repeat(65)
        );
        let forged = r#"{"op":"token
{"decision":"allow"}","error":{"exit_code":6,"reason":"policy","message":"m"}}"#;
        let not_a_refusal =
            r#"{"op":"evil.ok","error":{"exit_code":0,"reason":"policy","message":"m"}}"#;
        // A refusal of a kind only the daemon decides (a sign-in as someone else) is not the
        // client's to report: the log would show a refusal that never happened.
        let borrowed = r#"{"op":"evil.login","error":{"exit_code":6,"reason":"identity_mismatch","message":"m"}}"#;
        let mixed =
            r#"{"op":"evil.mixed","error":{"exit_code":2,"reason":"policy","message":"m"}}"#;
        for bad in [long.as_str(), forged, not_a_refusal, borrowed, mixed, "{"] {
            let (st, _) = call(&s.app, "POST", "/v1/refused", Some(KEY), Some(bad)).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}");
        }
        let log = audit(&s.home);
        let reported: Vec<&Value> = log
            .iter()
            .filter(|e| e["operation"] == "mcp.unknown")
            .collect();
        assert_eq!(reported.len(), 1, "{log:?}");
        assert_eq!(reported[0]["decision"], "deny");
        assert_eq!(reported[0]["caller"], "api:test");
        let text = std::fs::read_to_string(s.home.join("audit.log")).unwrap();
        assert!(
            !text.contains("xxxxxxxxxxxxxxxxxxxx") && !text.contains("evil."),
            "{text}"
        );
        assert!(!text.contains("\"decision\\\":"), "{text}");
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
        // Nothing here ran: a refusal, an unreadable body, an unknown account, an operation
        // with no account or bad arguments are all `deny`, never `allow` (issue 20, item 6).
        let decisions: Vec<(&str, &str)> = log
            .iter()
            .map(|e| {
                (
                    e["decision"].as_str().unwrap(),
                    e["outcome"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            decisions,
            [
                ("deny", "policy"),
                ("deny", "policy"),
                ("deny", "usage"),
                ("deny", "config"),
                ("deny", "config"),
                ("deny", "usage")
            ]
        );
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
        let catalog: Vec<&str> = crate::catalog::Operation::catalog()
            .map(|i| i.name)
            .collect();
        assert_eq!(names, catalog);
        for g in &reply.ops {
            // Microsoft reads on `work`; a write would need `allow`; other services' operations
            // never on a Microsoft account.
            let expected: &[&str] = match (g.op.starts_with("ms."), g.access) {
                (true, crate::catalog::Access::Read) => &["work"],
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
