//! The HTTP side: a connection wrapper that can abort sockets (for [`Fault::Reset`]), manual
//! per-dialect routing, request parsing and the endpoint handlers.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::state::{DEVICE_GRANT, GitHubDelete, PollInput, RevokeOutcome, Shared};
use crate::wire::{self, Endpoint, Fail};
use crate::{Dialect, Fault, page};

/// Request bodies larger than this are refused with 413 (the fake never needs more).
const MAX_BODY: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------------
// Listener whose connections can be aborted from a handler

/// Accepted connection. Once its kill flag is set, every I/O call fails and the socket is
/// closed with `SO_LINGER=0`, i.e. the peer sees a reset and no HTTP response at all.
pub(crate) struct Conn {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
    lingered: bool,
}

impl Conn {
    fn killed(&mut self) -> bool {
        if !self.kill.load(Ordering::Relaxed) {
            return false;
        }
        if !self.lingered {
            self.lingered = true;
            // Zero linger: close() sends RST and does not block.
            #[allow(deprecated)]
            let _ = self.inner.set_linger(Some(Duration::ZERO));
        }
        true
    }
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "fault injection: reset")
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

pub(crate) struct KillListener(TcpListener);

impl Listener for KillListener {
    type Io = Conn;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Conn, std::net::SocketAddr) {
        loop {
            match self.0.accept().await {
                Ok((s, addr)) => {
                    let _ = s.set_nodelay(true);
                    let conn = Conn {
                        inner: s,
                        kill: Arc::new(AtomicBool::new(false)),
                        lingered: false,
                    };
                    return (conn, addr);
                }
                // e.g. EMFILE: back off briefly instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.0.local_addr()
    }
}

/// Per-connection handle given to handlers through `ConnectInfo`.
#[derive(Clone)]
pub(crate) struct ConnHandle(Arc<AtomicBool>);

impl ConnHandle {
    fn kill(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Connected<IncomingStream<'_, KillListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, KillListener>) -> Self {
        ConnHandle(stream.io().kill.clone())
    }
}

pub(crate) async fn run(
    std_listener: std::net::TcpListener,
    shared: Arc<Shared>,
    shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = TcpListener::from_std(std_listener) else {
        return;
    };
    let app = Router::new().fallback(handle).with_state(shared);
    let server = axum::serve(
        KillListener(listener),
        app.into_make_service_with_connect_info::<ConnHandle>(),
    );
    tokio::select! {
        _ = server.into_future() => {}
        _ = shutdown => {}
    }
}

// ---------------------------------------------------------------------------------------
// Requests

pub(crate) struct Req {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub(crate) type Params = HashMap<String, String>;

/// Parses `application/x-www-form-urlencoded` (first occurrence of a name wins).
pub(crate) fn parse_form(bytes: &[u8]) -> Result<Params, ()> {
    std::str::from_utf8(bytes).map_err(|_| ())?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes).map_err(|_| ())?;
    let mut m = Params::new();
    for (k, v) in pairs {
        m.entry(k).or_insert(v);
    }
    Ok(m)
}

fn parse_json_object(bytes: &[u8]) -> Result<Params, ()> {
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(bytes) else {
        return Err(());
    };
    let mut m = Params::new();
    for (k, v) in obj {
        match v {
            Value::String(s) => {
                m.insert(k, s);
            }
            Value::Number(n) => {
                m.insert(k, n.to_string());
            }
            Value::Bool(b) => {
                m.insert(k, b.to_string());
            }
            Value::Null => {}
            Value::Array(_) | Value::Object(_) => return Err(()),
        }
    }
    Ok(m)
}

impl Req {
    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// GitHub switches to JSON when the request says `Accept: application/json`.
    pub fn accept_json(&self) -> bool {
        self.header(header::ACCEPT)
            .is_some_and(|a| a.to_ascii_lowercase().contains("application/json"))
    }

    fn is_json_body(&self) -> bool {
        self.header(header::CONTENT_TYPE).is_some_and(|c| {
            let c = c.to_ascii_lowercase();
            c.starts_with("application/json") || c.contains("+json")
        })
    }

    /// Body parameters (form, or JSON where the provider accepts it), optionally topped up
    /// from the query string.
    pub fn params(&self, dialect: Dialect, merge_query: bool) -> Result<Params, ()> {
        let json_ok = matches!(
            dialect,
            Dialect::Auth0 | Dialect::GitHub | Dialect::GitHubApp | Dialect::Google
        );
        let mut p = if self.is_json_body() {
            if !json_ok {
                return Err(());
            }
            parse_json_object(&self.body)?
        } else {
            parse_form(&self.body)?
        };
        if merge_query {
            for (k, v) in parse_form(self.query.as_bytes()).unwrap_or_default() {
                p.entry(k).or_insert(v);
            }
        }
        Ok(p)
    }

    /// `Authorization: Basic` credentials (RFC 6749 §2.3.1: each part form-urlencoded).
    fn basic_auth(&self) -> Option<(String, String)> {
        let h = self.header(header::AUTHORIZATION)?;
        let (scheme, rest) = h.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let raw = STANDARD.decode(rest.trim()).ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (id, secret) = raw.split_once(':')?;
        let dec = |s: &str| {
            let v: Vec<(String, String)> =
                serde_urlencoded::from_str(&format!("x={s}")).unwrap_or_default();
            v.into_iter()
                .next()
                .map(|(_, v)| v)
                .unwrap_or_else(|| s.to_string())
        };
        Some((dec(id), dec(secret)))
    }

    /// Bearer token (GitHub also accepts the legacy `token` scheme).
    fn bearer(&self, allow_token_scheme: bool) -> Option<String> {
        let h = self.header(header::AUTHORIZATION)?;
        let (scheme, rest) = h.trim().split_once(' ')?;
        let ok = scheme.eq_ignore_ascii_case("bearer")
            || (allow_token_scheme && scheme.eq_ignore_ascii_case("token"));
        let t = rest.trim();
        (ok && !t.is_empty()).then(|| t.to_string())
    }
}

struct ClientAuth {
    id: Option<String>,
    secret: Option<String>,
}

fn client_auth(req: &Req, params: &Params) -> ClientAuth {
    if let Some((id, secret)) = req.basic_auth() {
        return ClientAuth {
            id: Some(id),
            secret: Some(secret),
        };
    }
    ClientAuth {
        id: params.get("client_id").cloned(),
        secret: params.get("client_secret").cloned(),
    }
}

/// Client authentication. `secret_required`: whether a configured secret must be presented
/// on this request (a presented secret is always checked).
fn check_client(sh: &Shared, auth: &ClientAuth, secret_required: bool) -> Result<(), Fail> {
    let dialect = sh.dialect();
    let Some(id) = auth.id.as_deref().filter(|s| !s.is_empty()) else {
        return Err(match dialect {
            Dialect::Microsoft | Dialect::GitHub | Dialect::GitHubApp => {
                Fail::MissingParam("client_id")
            }
            _ => Fail::InvalidClient,
        });
    };
    if id != sh.opts.client_id {
        return Err(Fail::InvalidClient);
    }
    match (&sh.opts.client_secret, &auth.secret) {
        // Microsoft: a public client must not present a secret (AADSTS700025).
        (None, Some(_)) if dialect == Dialect::Microsoft => Err(Fail::PublicClientSecret),
        (None, _) => Ok(()),
        (Some(expected), Some(got)) if got == expected => Ok(()),
        (Some(_), Some(_)) => Err(Fail::InvalidClient),
        (Some(_), None) if secret_required => Err(Fail::InvalidClient),
        (Some(_), None) => Ok(()),
    }
}

/// Google: the request names the configured client, which has a secret, but carries none.
fn google_secret_missing(sh: &Shared, auth: &ClientAuth) -> bool {
    sh.dialect() == Dialect::Google
        && sh.opts.client_secret.is_some()
        && auth.id.as_deref() == Some(sh.opts.client_id.as_str())
        && auth.secret.as_deref().is_none_or(str::is_empty)
}

fn scopes_of(dialect: Dialect, raw: Option<&String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let Some(raw) = raw else { return out };
    // GitHub tolerates commas as separators too.
    let seps: &[char] = if matches!(dialect, Dialect::GitHub | Dialect::GitHubApp) {
        &[' ', ',', '\t', '\n', '\r']
    } else {
        &[' ', '\t', '\n', '\r']
    };
    for s in raw.split(seps).filter(|s| !s.is_empty()) {
        if !out.iter().any(|x| x == s) {
            out.push(s.to_string());
        }
    }
    out
}

/// Google's device-flow scope allow-list.
const GOOGLE_DEVICE_SCOPES: &[&str] = &[
    "email",
    "openid",
    "profile",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
    // `drive.appdata` is on Google's documented list but the live endpoint refuses it with
    // `invalid_scope` (docs/providers.md, "Google scopes", several independent reports): so does the fake.
    "https://www.googleapis.com/auth/drive.file",
    "https://www.googleapis.com/auth/youtube",
    "https://www.googleapis.com/auth/youtube.readonly",
];

// ---------------------------------------------------------------------------------------
// Routing

enum Route {
    Device {
        tenant: Option<String>,
    },
    Token {
        tenant: Option<String>,
    },
    Revoke,
    UserInfo,
    Page,
    Authorize,
    Discovery {
        tenant: Option<String>,
    },
    Jwks,
    GitHubDelete {
        client_id: String,
        which: GitHubDelete,
    },
    NotFound,
}

fn route(dialect: Dialect, path: &str) -> Route {
    let trimmed = path.trim_start_matches('/');
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let seg: Vec<&str> = trimmed.split('/').collect();
    // (Not Okta's device endpoint `/v1/device/authorize`.)
    if matches!(seg.as_slice(), [.., prev, "auth" | "authorize"] if *prev != "device")
        || seg == ["authorize"]
        || seg == ["auth"]
    {
        // Every dialect's authorization endpoint (`/o/oauth2/v2/auth`, `/authorize`, `/auth`, …).
        return Route::Authorize;
    }
    if seg == ["device"] {
        // Every dialect serves the verification page at /device as well.
        return Route::Page;
    }
    let t = |s: &str| Some(s.to_string());
    match dialect {
        Dialect::Microsoft => match seg.as_slice() {
            [ten, "oauth2", "v2.0", "devicecode"] if !ten.is_empty() => {
                Route::Device { tenant: t(ten) }
            }
            [ten, "oauth2", "v2.0", "token"] if !ten.is_empty() => Route::Token { tenant: t(ten) },
            [ten, "v2.0", ".well-known", "openid-configuration"] => {
                Route::Discovery { tenant: t(ten) }
            }
            [_, "discovery", "v2.0", "keys"] => Route::Jwks,
            ["v1.0", "me"] => Route::UserInfo,
            ["devicelogin"] => Route::Page,
            _ => Route::NotFound,
        },
        Dialect::Google => match seg.as_slice() {
            ["device", "code"] => Route::Device { tenant: None },
            ["token"] => Route::Token { tenant: None },
            ["revoke"] => Route::Revoke,
            ["v1", "userinfo"] => Route::UserInfo,
            [".well-known", "openid-configuration"] => Route::Discovery { tenant: None },
            ["oauth2", "v3", "certs"] => Route::Jwks,
            _ => Route::NotFound,
        },
        Dialect::GitHub | Dialect::GitHubApp => match seg.as_slice() {
            ["login", "device", "code"] => Route::Device { tenant: None },
            ["login", "oauth", "access_token"] => Route::Token { tenant: None },
            ["login", "device"] => Route::Page,
            ["api", "user"] => Route::UserInfo,
            ["api", "applications", cid, "token"] => Route::GitHubDelete {
                client_id: cid.to_string(),
                which: GitHubDelete::Token,
            },
            ["api", "applications", cid, "grant"] => Route::GitHubDelete {
                client_id: cid.to_string(),
                which: GitHubDelete::Grant,
            },
            _ => Route::NotFound,
        },
        Dialect::Okta => match seg.as_slice() {
            ["oauth2", "default", "v1", "device", "authorize"] => Route::Device { tenant: None },
            ["oauth2", "default", "v1", "token"] => Route::Token { tenant: None },
            ["oauth2", "default", "v1", "revoke"] => Route::Revoke,
            ["oauth2", "default", "v1", "userinfo"] => Route::UserInfo,
            ["oauth2", "default", "v1", "keys"] => Route::Jwks,
            [
                "oauth2",
                "default",
                ".well-known",
                "openid-configuration" | "oauth-authorization-server",
            ] => Route::Discovery { tenant: None },
            ["activate"] => Route::Page,
            _ => Route::NotFound,
        },
        Dialect::Auth0 => match seg.as_slice() {
            ["oauth", "device", "code"] => Route::Device { tenant: None },
            ["oauth", "token"] => Route::Token { tenant: None },
            ["oauth", "revoke"] => Route::Revoke,
            ["userinfo"] => Route::UserInfo,
            [".well-known", "openid-configuration"] => Route::Discovery { tenant: None },
            [".well-known", "jwks.json"] => Route::Jwks,
            ["activate"] => Route::Page,
            _ => Route::NotFound,
        },
        Dialect::Oidc => match seg.as_slice() {
            ["device", "auth"] => Route::Device { tenant: None },
            ["token"] => Route::Token { tenant: None },
            ["token", "revocation"] => Route::Revoke,
            ["me"] => Route::UserInfo,
            [
                ".well-known",
                "openid-configuration" | "oauth-authorization-server",
            ] => Route::Discovery { tenant: None },
            ["jwks"] => Route::Jwks,
            _ => Route::NotFound,
        },
    }
}

async fn handle(
    State(sh): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return wire::respond(413, "text/plain; charset=utf-8", "Payload Too Large"),
    };
    let req = Req {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts.headers,
        body,
    };
    let m = &req.method;
    let route = route(sh.dialect(), &req.path);
    // Directory-style userinfo: only `/me/` answers; `/me` redirects there (a client that does
    // not follow redirects, rightly, learns nothing).
    if sh.opts.userinfo_trailing_slash
        && matches!(route, Route::UserInfo)
        && !req.path.ends_with('/')
    {
        let mut r = wire::respond(301, "text/html; charset=utf-8", "Moved Permanently");
        if let Ok(v) = axum::http::HeaderValue::from_str(&format!("{}/", req.path)) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return r;
    }
    match route {
        Route::Device { tenant } if m == Method::POST => {
            device_faulted(&sh, &conn, &req, tenant).await
        }
        Route::Token { tenant } if m == Method::POST => token(&sh, &conn, &req, tenant).await,
        Route::Revoke if m == Method::POST => revoke(&sh, &req),
        Route::UserInfo if m == Method::GET || m == Method::POST => userinfo(&sh, &req),
        Route::Page if m == Method::GET || m == Method::POST => page::handle(&sh, &req),
        Route::Authorize if m == Method::GET => authorize(&sh, &req),
        Route::Discovery { tenant } if m == Method::GET => wire::discovery(&sh, tenant.as_deref()),
        Route::Jwks if m == Method::GET => wire::jwks(),
        Route::GitHubDelete { client_id, which } if m == Method::DELETE => {
            github_delete(&sh, &req, &client_id, which)
        }
        Route::NotFound => wire::not_found(&sh),
        _ => wire::method_not_allowed(),
    }
}

// ---------------------------------------------------------------------------------------
// Handlers

/// The authorization endpoint of the code + PKCE flow. Fetching it is the person approving:
/// the answer redirects to the loopback `redirect_uri` with `code` and `state` (or with
/// `error=access_denied` after [`crate::FakeIdp::deny_authorizations`]). Like Google's Desktop
/// clients: any `http://127.0.0.1:<port>/…` redirect, S256 only.
fn authorize(sh: &Shared, req: &Req) -> Response {
    let q: Params = serde_urlencoded::from_str(&req.query).unwrap_or_default();
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    let bad = |m: &str| wire::respond(400, "text/plain; charset=utf-8", format!("Error 400: {m}"));
    if get("response_type") != "code" {
        return bad("unsupported_response_type");
    }
    if get("client_id") != sh.opts.client_id {
        return bad("invalid_client");
    }
    let redirect = get("redirect_uri");
    if !redirect.starts_with("http://127.0.0.1:") && !redirect.starts_with("http://[::1]:") {
        return bad("redirect_uri_mismatch");
    }
    if get("code_challenge_method") != "S256" || get("code_challenge").len() != 43 {
        return bad("invalid_request: PKCE S256 required");
    }
    let state = get("state");
    let scopes = scopes_of(sh.dialect(), q.get("scope"));
    // Google's Picker for installed apps: "Only the drive.file scope is permitted … and it
    // can't be combined with any other scope" (desktop-mobile-picker guide).
    let onepick = get("trigger_onepick") == "true";
    if onepick && scopes != ["https://www.googleapis.com/auth/drive.file"] {
        return bad("invalid_scope: only drive.file is permitted with trigger_onepick");
    }
    let mut st = sh.lock();
    let mut target = redirect.to_string();
    target.push(if target.contains('?') { '&' } else { '?' });
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if st.deny_authorizations {
        pairs.push(("error", "access_denied".to_string()));
    } else {
        let code = st.create_auth_code(
            get("client_id"),
            redirect,
            get("code_challenge"),
            scopes.clone(),
        );
        pairs.push(("code", code));
        // Google's granular consent: the redirect's `scope` lists what was granted.
        let granted: Vec<&str> = scopes
            .iter()
            .filter(|s| !sh.opts.withheld_scopes.contains(s))
            .map(String::as_str)
            .collect();
        pairs.push(("scope", granted.join(" ")));
        if onepick {
            pairs.push(("picked_file_ids", st.picked_files.join(",")));
        }
    }
    pairs.push(("state", state.to_string()));
    drop(st);
    target.push_str(&serde_urlencoded::to_string(&pairs).unwrap_or_default());
    let mut r = wire::respond(302, "text/html; charset=utf-8", "Found");
    if let Ok(v) = axum::http::HeaderValue::from_str(&target) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn device(sh: &Shared, req: &Req, tenant: Option<String>) -> Response {
    let dialect = sh.dialect();
    sh.lock().counters.device_requests += 1;
    let gh_json = req.accept_json();
    let fail = |f: Fail| wire::error(sh, Endpoint::Device, &f, gh_json);
    let merge_query = matches!(dialect, Dialect::GitHub | Dialect::GitHubApp);
    let Ok(params) = req.params(dialect, merge_query) else {
        return fail(Fail::Malformed);
    };
    let secret_required = matches!(
        dialect,
        Dialect::Microsoft | Dialect::Okta | Dialect::Auth0 | Dialect::Oidc
    );
    let auth = client_auth(req, &params);
    if auth.secret.is_some() {
        sh.lock().counters.secrets_on_device_flow += 1;
    }
    if let Err(f) = check_client(sh, &auth, secret_required) {
        return fail(f);
    }
    if matches!(dialect, Dialect::GitHub | Dialect::GitHubApp) && sh.opts.device_flow_disabled {
        return fail(Fail::DeviceFlowDisabled);
    }
    let scopes = scopes_of(dialect, params.get("scope"));
    match dialect {
        Dialect::Microsoft | Dialect::Google if scopes.is_empty() => {
            return fail(Fail::MissingParam("scope"));
        }
        Dialect::Google => {
            // Google names only the first offending scope.
            if let Some(bad) = scopes
                .iter()
                .find(|s| !GOOGLE_DEVICE_SCOPES.contains(&s.as_str()))
            {
                return fail(Fail::InvalidScope(bad.clone()));
            }
        }
        _ => {}
    }
    if let Some(bad) = scopes.iter().find(|s| sh.opts.refused_scopes.contains(s)) {
        return fail(Fail::InvalidScope(bad.clone()));
    }
    let (device_code, user_code) = {
        let mut st = sh.lock();
        if dialect == Dialect::Auth0 {
            st.last_audience = params.get("audience").cloned();
        }
        st.create_device(sh, scopes, tenant, Instant::now())
    };
    sh.issued.notify_all();
    wire::device_response(sh, &device_code, &user_code, gh_json)
}

async fn token(sh: &Shared, conn: &ConnHandle, req: &Req, tenant: Option<String>) -> Response {
    let dialect = sh.dialect();
    let gh_json = req.accept_json();
    let merge_query = matches!(dialect, Dialect::GitHub | Dialect::GitHubApp);
    let parsed = req.params(dialect, merge_query);
    let grant_type = parsed
        .as_ref()
        .ok()
        .and_then(|p| p.get("grant_type").cloned());
    let fault = {
        let mut st = sh.lock();
        match grant_type.as_deref() {
            Some(DEVICE_GRANT) => st.counters.polls += 1,
            Some("refresh_token") => st.counters.refresh_requests += 1,
            _ => {}
        }
        let f = st.faults.pop_front();
        if f.is_some() {
            st.counters.faults_applied += 1;
        }
        f
    };
    if let Some(r) = apply_fault(sh, conn, req, parsed.as_ref().ok(), fault).await {
        return r;
    }
    let fail = |f: Fail| wire::error(sh, Endpoint::Token, &f, gh_json);
    let Ok(params) = parsed else {
        return fail(Fail::Malformed);
    };
    let github = matches!(dialect, Dialect::GitHub | Dialect::GitHubApp);
    match grant_type.as_deref() {
        None | Some("") => fail(Fail::MissingParam("grant_type")),
        Some(DEVICE_GRANT) => {
            let auth = client_auth(req, &params);
            if auth.secret.is_some() {
                sh.lock().counters.secrets_on_device_flow += 1;
            }
            if let Err(f) = check_client(sh, &auth, !github) {
                return fail(f);
            }
            let Some(device_code) = params.get("device_code").filter(|s| !s.is_empty()) else {
                return fail(Fail::MissingParam("device_code"));
            };
            let result = sh.lock().poll(
                sh,
                PollInput {
                    device_code,
                    tenant: tenant.as_deref(),
                },
                Instant::now(),
            );
            match result {
                Ok(issued) => wire::token_response(sh, &issued, gh_json),
                Err(f) => fail(f),
            }
        }
        Some("authorization_code") => {
            let auth = client_auth(req, &params);
            if google_secret_missing(sh, &auth) {
                return wire::google_secret_missing();
            }
            if let Err(f) = check_client(sh, &auth, !github) {
                return fail(f);
            }
            let p = |k: &'static str| params.get(k).filter(|s| !s.is_empty()).ok_or(k);
            let (code, redirect_uri, verifier) =
                match (p("code"), p("redirect_uri"), p("code_verifier")) {
                    (Ok(c), Ok(r), Ok(v)) => (c, r, v),
                    (Err(k), _, _) | (_, Err(k), _) | (_, _, Err(k)) => {
                        return fail(Fail::MissingParam(k));
                    }
                };
            let result = sh.lock().exchange_code(
                sh,
                auth.id.as_deref().unwrap_or(""),
                code,
                redirect_uri,
                verifier,
                Instant::now(),
            );
            match result {
                Ok(issued) => wire::token_response(sh, &issued, gh_json),
                Err(f) => fail(f),
            }
        }
        Some("refresh_token") => {
            if !sh.opts.refresh_delay.is_zero() {
                tokio::time::sleep(sh.opts.refresh_delay).await;
            }
            // Google's page marks the secret optional on refresh, but its clients that have
            // one (Desktop, Web, TV) are refused without it (`google_secret_missing`); GitHub
            // needs none for tokens that came from the device flow.
            let auth = client_auth(req, &params);
            if google_secret_missing(sh, &auth) {
                return wire::google_secret_missing();
            }
            if let Err(f) = check_client(sh, &auth, !github) {
                return fail(f);
            }
            let Some(rt) = params.get("refresh_token").filter(|s| !s.is_empty()) else {
                return fail(Fail::MissingParam("refresh_token"));
            };
            // Microsoft checks the refresh's `scope` against what was consented.
            let scope = params.get("scope").map(String::as_str);
            let result = sh.lock().refresh(sh, rt, scope, Instant::now());
            match result {
                Ok(issued) => {
                    if !sh.opts.refresh_answer_delay.is_zero() {
                        tokio::time::sleep(sh.opts.refresh_answer_delay).await;
                    }
                    sh.lock().refresh_answered.push(Instant::now());
                    wire::token_response(sh, &issued, gh_json)
                }
                Err(f) => fail(f),
            }
        }
        Some(other) => fail(Fail::UnsupportedGrantType(other.to_string())),
    }
}

/// The answer an injected [`Fault`] makes instead of the endpoint's own (`None`: answer
/// normally, after a [`Fault::Delay`]'s wait). Shared by the token and device endpoints.
async fn apply_fault(
    sh: &Shared,
    conn: &ConnHandle,
    req: &Req,
    parsed: Option<&Params>,
    fault: Option<Fault>,
) -> Option<Response> {
    match fault? {
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            None
        }
        Fault::Reset => {
            conn.kill();
            // Never reaches the client: the connection fails as hyper starts writing it.
            Some(wire::respond(500, "text/plain", ""))
        }
        Fault::OAuth { status, error } => {
            Some(wire::oauth_fault(sh, status, error, req.accept_json()))
        }
        Fault::EchoRequest { status, error } => {
            let mut echoed: Vec<String> = parsed
                .map(|p| p.iter().map(|(k, v)| format!("{k}={v}")).collect())
                .unwrap_or_default();
            if let Some((id, secret)) = req.basic_auth() {
                echoed.push(format!("basic={id}:{secret}"));
            }
            Some(wire::echo_error(status, error, &echoed.join("&")))
        }
        other => wire::fault_response(&other),
    }
}

/// The device authorization endpoint, after the next queued [`crate::FakeIdp::inject_device`]
/// fault, if any: it can fail (5xx, 429, an HTML portal, a reset, …) like the token endpoint.
async fn device_faulted(
    sh: &Shared,
    conn: &ConnHandle,
    req: &Req,
    tenant: Option<String>,
) -> Response {
    let fault = {
        let mut st = sh.lock();
        let f = st.device_faults.pop_front();
        if f.is_some() {
            st.counters.faults_applied += 1;
        }
        f
    };
    let merge_query = matches!(sh.dialect(), Dialect::GitHub | Dialect::GitHubApp);
    let parsed = req.params(sh.dialect(), merge_query).ok();
    if let Some(r) = apply_fault(sh, conn, req, parsed.as_ref(), fault).await {
        // It did arrive (a delayed one is counted by `device`).
        sh.lock().counters.device_requests += 1;
        return r;
    }
    device(sh, req, tenant)
}

fn empty_ok() -> Response {
    Response::new(Body::empty())
}

fn revoke(sh: &Shared, req: &Req) -> Response {
    let dialect = sh.dialect();
    sh.lock().counters.revocations += 1;
    let fail = |f: Fail| wire::error(sh, Endpoint::Revoke, &f, false);
    // Google takes `token` from the form or the query string.
    let Ok(params) = req.params(dialect, dialect == Dialect::Google) else {
        return fail(Fail::Malformed);
    };
    if dialect != Dialect::Google
        && let Err(f) = check_client(sh, &client_auth(req, &params), true)
    {
        return fail(f);
    }
    let Some(token) = params.get("token").filter(|s| !s.is_empty()) else {
        return fail(Fail::MissingParam("token"));
    };
    let outcome = sh.lock().revoke(dialect, token, Instant::now());
    match (dialect, outcome) {
        (_, RevokeOutcome::WrongType) => wire::json(
            400,
            // (guess) Auth0 documents no answer for an access token at /oauth/revoke.
            &json!({"error": "invalid_request", "error_description": "Only refresh tokens can be revoked"}),
        ),
        (Dialect::Google, RevokeOutcome::Revoked) => wire::json(200, &json!({})),
        (Dialect::Google, RevokeOutcome::NotRevoked) => wire::json(
            400,
            &json!({"error": "invalid_token", "error_description": "Token expired or revoked"}),
        ),
        // RFC 7009 §2.2: 200 whether or not the token was valid.
        _ => empty_ok(),
    }
}

fn userinfo(sh: &Shared, req: &Req) -> Response {
    let github = matches!(sh.dialect(), Dialect::GitHub | Dialect::GitHubApp);
    let token = req.bearer(github);
    let (scopes, user) = {
        let mut st = sh.lock();
        st.counters.userinfo_requests += 1;
        if let Some(r) = st.userinfo_faults.pop_front().and_then(|f| {
            st.counters.faults_applied += 1;
            wire::fault_response(&f)
        }) {
            return r;
        }
        let scopes = token
            .as_deref()
            .and_then(|t| st.access_token_scopes(t, Instant::now()));
        let user = token.as_deref().and_then(|t| st.access_token_user(t));
        (scopes, user)
    };
    wire::userinfo(sh, scopes, user)
}

/// GitHub's `DELETE /applications/{client_id}/token` ("Delete an app token") and `/grant`
/// ("Delete an app authorization"), HTTP Basic with the client secret, body
/// `{"access_token": …}`. Documented answers: 204, and 422 "Validation failed"; GitHub answers
/// 404 for a token it did not issue to the app or for wrong app credentials (third-party
/// note on the sibling check-token endpoint). Sources: docs.github.com/rest/apps/oauth-applications,
/// docs/providers.md, "GitHub".
fn github_delete(sh: &Shared, req: &Req, client_id: &str, which: GitHubDelete) -> Response {
    sh.lock().counters.revocations += 1;
    let doc = match which {
        GitHubDelete::Token => {
            "https://docs.github.com/rest/apps/oauth-applications#delete-an-app-token"
        }
        GitHubDelete::Grant => {
            "https://docs.github.com/rest/apps/oauth-applications#delete-an-app-authorization"
        }
    };
    let not_found = || {
        wire::json(
            404,
            &json!({"message": "Not Found", "documentation_url": doc, "status": "404"}),
        )
    };
    let authorized = match (req.basic_auth(), &sh.opts.client_secret) {
        (Some((id, secret)), Some(expected)) => {
            id == sh.opts.client_id && client_id == sh.opts.client_id && &secret == expected
        }
        _ => false,
    };
    if !authorized {
        return not_found();
    }
    let token = parse_json_object(&req.body)
        .ok()
        .and_then(|p| p.get("access_token").cloned());
    let Some(token) = token else {
        return wire::json(
            422,
            &json!({"message": "Invalid request.\n\n\"access_token\" wasn't supplied.", "documentation_url": doc, "status": "422"}),
        );
    };
    match sh.lock().github_delete(which, &token, Instant::now()) {
        RevokeOutcome::Revoked => {
            let mut r = empty_ok();
            *r.status_mut() = axum::http::StatusCode::NO_CONTENT;
            r
        }
        RevokeOutcome::WrongType => wire::json(
            422,
            &json!({"message": "Validation Failed", "errors": [{"resource": "OauthAccess", "field": "access_token", "code": "invalid"}], "documentation_url": doc, "status": "422"}),
        ),
        RevokeOutcome::NotRevoked => not_found(),
    }
}
