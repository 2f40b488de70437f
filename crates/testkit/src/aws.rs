//! A fake AWS IAM Identity Center ([`FakeAws`]): the SSO OIDC service (`RegisterClient`,
//! `StartDeviceAuthorization`, `CreateToken`) under `/oidc` and the access portal
//! (`ListAccounts`, `ListAccountRoles`, `GetRoleCredentials`, `Logout`) under `/portal`, on one
//! loopback port.
//!
//! It answers the way the service models say AWS does (`botocore/data/sso-oidc/2019-06-10` and
//! `botocore/data/sso/2019-06-10/service-2.json`; docs/aws.md):
//! * `rest-json`: requests must be JSON objects with camelCase members (a form body or a
//!   snake_case member is a 400 `InvalidRequestException`); answers are camelCase.
//! * OIDC errors: `{"error": "authorization_pending", "error_description": …}` with the
//!   modelled status (400; `invalid_client` 401; `server_error` 500) and the shape's name in
//!   `x-amzn-ErrorType` (`AuthorizationPendingException:http://internal.amazon.com/coral/…`,
//!   the form the AWS CLI's debug logs show).
//! * `slow_down` when polled faster than the interval; `expired_token` after `expiresIn`;
//!   `access_denied` after a denial; `invalid_grant` for a spent or unknown device code or
//!   refresh token; a registration past its `clientSecretExpiresAt` is `invalid_client` (401),
//!   so a client must register again.
//! * A registration without scopes gets no refresh token (the refresh grant is then
//!   `invalid_grant`); refresh rotates the refresh token (the old one is dead).
//! * Portal: the access token in `x-amz-sso_bearer_token`; a missing, unknown or expired one is
//!   401 `UnauthorizedException`; errors are `{"message": …}`; 429 `TooManyRequestsException`
//!   when throttled ([`FakeAws::throttle_portal`]); `expiration` in epoch **milliseconds**;
//!   paging with `max_result` (1–100) and `next_token`.
//!
//! Deliberate simplifications: one start URL; a denied or approved user code is decided by the
//! test ([`FakeAws::approve_all`], [`AwsOptions::auto_approve_after_polls`]), no web page.

// A handler's early answer is an axum `Response` (128 bytes) in an `Err`: a test fake, where
// returning the response directly reads better than boxing it.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::running::{Bound, Running};
use crate::util::{random_string, unix_now};
use crate::wire::respond;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method};
use axum::response::Response;
use serde_json::{Map, Value, json};

const MAX_BODY: usize = 256 * 1024;
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const CORAL: &str = "http://internal.amazon.com/coral/com.amazonaws.sso.oidc/";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// An AWS account assigned to the user, with the roles (permission sets) they may use.
#[derive(Clone, Debug)]
pub struct FakeAwsAccount {
    pub account_id: String,
    pub account_name: String,
    pub email_address: String,
    pub roles: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct AwsOptions {
    /// The AWS access portal URL sign-ins must name (`startUrl`).
    pub start_url: String,
    /// `interval` of StartDeviceAuthorization (seconds).
    pub interval: u64,
    /// The interval actually enforced (`slow_down` when polled faster); `None`: `interval`.
    pub enforced_interval: Option<u64>,
    /// `expiresIn` of StartDeviceAuthorization (seconds; AWS: 600).
    pub device_expires_in: u64,
    /// `expiresIn` of CreateToken (seconds).
    pub token_lifetime: u64,
    /// How long a registration's secret lives (AWS: about 90 days).
    pub registration_lifetime: u64,
    /// How long role credentials live (seconds).
    pub role_lifetime: u64,
    /// Where `verificationUri` points (`None`: the fake's own `/device/`); a test of the
    /// phishing defence sets a foreign host.
    pub verification_uri: Option<String>,
    /// Approve a device code on this poll (1 = the first).
    pub auto_approve_after_polls: Option<u32>,
    pub accounts: Vec<FakeAwsAccount>,
}

impl Default for AwsOptions {
    fn default() -> AwsOptions {
        AwsOptions {
            start_url: "https://d-9067c4a1b2.awsapps.com/start".into(),
            interval: 1,
            enforced_interval: None,
            device_expires_in: 600,
            token_lifetime: 3600,
            registration_lifetime: 90 * 24 * 3600,
            role_lifetime: 3600,
            verification_uri: None,
            auto_approve_after_polls: Some(1),
            accounts: vec![
                FakeAwsAccount {
                    account_id: "123456789012".into(),
                    account_name: "production".into(),
                    email_address: "aws-prod@example.com".into(),
                    roles: vec!["ReadOnly".into(), "AdministratorAccess".into()],
                },
                FakeAwsAccount {
                    account_id: "210987654321".into(),
                    account_name: "sandbox".into(),
                    email_address: "aws-sandbox@example.com".into(),
                    roles: vec!["Developer".into()],
                },
            ],
        }
    }
}

/// One request as received (for tests that check the wire: JSON, camelCase, the header).
#[derive(Clone, Debug)]
pub struct AwsRequest {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub content_type: Option<String>,
    pub bearer: Option<String>,
    pub body: String,
}

/// Role credentials the fake handed out (for tests to compare with what clients used).
#[derive(Clone, Debug)]
pub struct IssuedRoleCredentials {
    pub account_id: String,
    pub role_name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration_ms: u64,
}

struct Client {
    secret: String,
    expires_at: u64,
    scopes: Vec<String>,
}

#[derive(PartialEq)]
enum DevState {
    Pending,
    Approved,
    Denied,
    Spent,
}

struct Device {
    client_id: String,
    user_code: String,
    issued: Instant,
    expires_in: u64,
    interval: Duration,
    last_poll: Option<Instant>,
    polls: u32,
    state: DevState,
}

struct Issued {
    client_id: String,
    expires_at: Instant,
}

#[derive(Default)]
struct AState {
    clients: HashMap<String, Client>,
    devices: HashMap<String, Device>,
    access: HashMap<String, Issued>,
    refresh: HashMap<String, String>,
    registrations: usize,
    refreshes: usize,
    role_credential_calls: usize,
    portal_throttles: usize,
    slow_downs: usize,
    logouts: usize,
    issued_roles: Vec<IssuedRoleCredentials>,
    requests: Vec<AwsRequest>,
}

struct AShared {
    base: String,
    opts: AwsOptions,
    state: Mutex<AState>,
}

impl AShared {
    fn lock(&self) -> MutexGuard<'_, AState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The fake; dropping it stops the server.
pub struct FakeAws {
    shared: Arc<AShared>,
    _server: Running,
}

impl FakeAws {
    pub fn start(opts: AwsOptions) -> FakeAws {
        let bound = Bound::loopback();
        let shared = Arc::new(AShared {
            base: bound.base.clone(),
            opts,
            state: Mutex::new(AState::default()),
        });
        let known = shared.clone();
        crate::secrets::register(move || {
            use crate::secrets::Secret::{Exportable, Never};
            let s = known.lock();
            let mut out: Vec<_> = s
                .clients
                .values()
                .map(|c| Never(c.secret.clone()))
                .collect();
            out.extend(s.refresh.keys().cloned().map(Never));
            out.extend(s.devices.keys().cloned().map(Never));
            out.extend(s.access.keys().cloned().map(Exportable));
            for r in &s.issued_roles {
                out.push(Exportable(r.secret_access_key.clone()));
                out.push(Exportable(r.session_token.clone()));
            }
            out
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = bound.serve("fake-aws", app);
        FakeAws {
            shared,
            _server: server,
        }
    }

    /// The SSO OIDC endpoint (for `oidc_endpoint`).
    pub fn oidc_url(&self) -> String {
        format!("{}/oidc", self.shared.base)
    }

    /// The access portal (for `api_base`).
    pub fn portal_url(&self) -> String {
        format!("{}/portal", self.shared.base)
    }

    pub fn start_url(&self) -> String {
        self.shared.opts.start_url.clone()
    }

    /// Approve every pending device code.
    pub fn approve_all(&self) {
        for d in self.shared.lock().devices.values_mut() {
            if d.state == DevState::Pending {
                d.state = DevState::Approved;
            }
        }
    }

    /// Deny every pending device code (`access_denied`).
    pub fn deny_all(&self) {
        for d in self.shared.lock().devices.values_mut() {
            if d.state == DevState::Pending {
                d.state = DevState::Denied;
            }
        }
    }

    /// Every registration's secret expires now: the next request with it is `invalid_client`.
    pub fn expire_registrations(&self) {
        let now = unix_now();
        for c in self.shared.lock().clients.values_mut() {
            c.expires_at = now.saturating_sub(1);
        }
    }

    /// Every access token stops working (the portal answers 401).
    pub fn invalidate_access_tokens(&self) {
        self.shared.lock().access.clear();
    }

    /// Every refresh token stops working (the session ended at the portal or by an admin).
    pub fn invalidate_refresh_tokens(&self) {
        self.shared.lock().refresh.clear();
    }

    /// The next `n` portal requests get 429 `TooManyRequestsException`.
    pub fn throttle_portal(&self, n: usize) {
        self.shared.lock().portal_throttles = n;
    }

    /// The user codes handed out, in no particular order.
    pub fn user_codes(&self) -> Vec<String> {
        self.shared
            .lock()
            .devices
            .values()
            .map(|d| d.user_code.clone())
            .collect()
    }

    pub fn registrations(&self) -> usize {
        self.shared.lock().registrations
    }

    pub fn refreshes(&self) -> usize {
        self.shared.lock().refreshes
    }

    pub fn slow_downs(&self) -> usize {
        self.shared.lock().slow_downs
    }

    pub fn logouts(&self) -> usize {
        self.shared.lock().logouts
    }

    /// How many GetRoleCredentials calls succeeded.
    pub fn role_credential_calls(&self) -> usize {
        self.shared.lock().role_credential_calls
    }

    pub fn issued_role_credentials(&self) -> Vec<IssuedRoleCredentials> {
        self.shared.lock().issued_roles.clone()
    }

    /// Every secret the fake handed out (client secrets, tokens, device codes, role keys): for
    /// tests that check none of them is ever printed.
    pub fn secrets(&self) -> Vec<String> {
        let s = self.shared.lock();
        let mut out: Vec<String> = s.clients.values().map(|c| c.secret.clone()).collect();
        out.extend(s.access.keys().cloned());
        out.extend(s.refresh.keys().cloned());
        out.extend(s.devices.keys().cloned());
        for r in &s.issued_roles {
            out.push(r.secret_access_key.clone());
            out.push(r.session_token.clone());
        }
        out
    }

    /// An access token the portal accepts (for a bench that hands one to botocore's own SSO
    /// provider through its token cache).
    pub fn valid_access_token(&self) -> Option<String> {
        let now = Instant::now();
        self.shared
            .lock()
            .access
            .iter()
            .find(|(_, i)| i.expires_at > now)
            .map(|(t, _)| t.clone())
    }

    pub fn requests(&self) -> Vec<AwsRequest> {
        self.shared.lock().requests.clone()
    }
}

// ---------------------------------------------------------------------------------------
// Wire

fn oidc_error(status: u16, shape: &str, error: &str, description: &str) -> Response {
    let body = json!({ "error": error, "error_description": description });
    let mut r = respond(status, "application/json", body.to_string());
    if let Ok(v) = HeaderValue::from_str(&format!("{shape}:{CORAL}")) {
        r.headers_mut().insert("x-amzn-ErrorType", v);
    }
    r
}

fn portal_error(status: u16, shape: &str, message: &str) -> Response {
    let mut r = respond(
        status,
        "application/json",
        json!({ "message": message }).to_string(),
    );
    // Whether the portal sets this header is unconfirmed (docs/aws.md, "Unconfirmed"); the
    // OIDC service does, and clients must not depend on it either way.
    if let Ok(v) = HeaderValue::from_str(shape) {
        r.headers_mut().insert("x-amzn-ErrorType", v);
    }
    r
}

fn ok_json(v: Value) -> Response {
    respond(200, "application/json", v.to_string())
}

fn invalid_request(what: &str) -> Response {
    oidc_error(400, "InvalidRequestException", "invalid_request", what)
}

async fn handle(State(sh): State<Arc<AShared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return respond(413, "text/plain", "Payload Too Large");
    };
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let header = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let bearer = header("x-amz-sso_bearer_token");
    sh.lock().requests.push(AwsRequest {
        method: parts.method.to_string(),
        target: if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{query}")
        },
        content_type: header("content-type"),
        bearer: bearer.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let m = &parts.method;
    if let Some(op) = path.strip_prefix("/oidc") {
        if m != Method::POST {
            return respond(405, "text/plain", "Method Not Allowed");
        }
        // rest-json: a JSON object with string, number or list members.
        let json_ct = header("content-type").is_some_and(|c| c.starts_with("application/json"));
        let obj = match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(o)) if json_ct => o,
            _ => return invalid_request("the request body is not a JSON object"),
        };
        return match op {
            "/client/register" => register(&sh, &obj),
            "/device_authorization" => start_device(&sh, &obj),
            "/token" => create_token(&sh, &obj),
            _ => respond(404, "application/json", r#"{"message":"Not Found"}"#),
        };
    }
    if let Some(op) = path.strip_prefix("/portal") {
        return portal(&sh, m, op, &query, bearer.as_deref());
    }
    respond(404, "text/plain", "Not Found")
}

fn s<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    o.get(k).and_then(Value::as_str).filter(|v| !v.is_empty())
}

/// Members AWS does not model are refused (a snake_case `client_id` is not `clientId`).
fn unknown_member(o: &Map<String, Value>, known: &[&str]) -> Option<Response> {
    o.keys()
        .find(|k| !known.contains(&k.as_str()))
        .map(|k| invalid_request(&format!("Unknown member: {k}")))
}

fn register(sh: &AShared, o: &Map<String, Value>) -> Response {
    if let Some(r) = unknown_member(
        o,
        &[
            "clientName",
            "clientType",
            "scopes",
            "redirectUris",
            "grantTypes",
            "issuerUrl",
            "entitledApplicationArn",
        ],
    ) {
        return r;
    }
    let (Some(name), Some(kind)) = (s(o, "clientName"), s(o, "clientType")) else {
        return invalid_request("clientName and clientType are required");
    };
    if kind != "public" {
        return invalid_request("Invalid client type");
    }
    let _ = name;
    let scopes: Vec<String> = match o.get("scopes") {
        None => vec![],
        Some(Value::Array(a)) => {
            let v: Vec<String> = a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect();
            if v.len() != a.len() {
                return invalid_request("scopes must be strings");
            }
            if let Some(bad) = v
                .iter()
                .find(|s| !s.starts_with("sso:") && !s.starts_with("codewhisperer:"))
            {
                return oidc_error(
                    400,
                    "InvalidScopeException",
                    "invalid_scope",
                    &format!("Invalid scope: {bad}"),
                );
            }
            v
        }
        Some(_) => return invalid_request("scopes must be a list"),
    };
    let id = random_string(ALNUM, 22);
    let secret = format!("eyJraWQiOiJrZXktMTU2{}", random_string(ALNUM, 120));
    let now = unix_now();
    let expires_at = now + sh.opts.registration_lifetime;
    let mut st = sh.lock();
    st.registrations += 1;
    st.clients.insert(
        id.clone(),
        Client {
            secret: secret.clone(),
            expires_at,
            scopes,
        },
    );
    ok_json(json!({
        "clientId": id,
        "clientSecret": secret,
        "clientIdIssuedAt": now,
        "clientSecretExpiresAt": expires_at,
    }))
}

/// The client of a request, or the 401 AWS answers for an unknown id, a wrong secret or an
/// expired registration.
fn authenticate(st: &AState, o: &Map<String, Value>) -> Result<String, Response> {
    let (Some(id), Some(secret)) = (s(o, "clientId"), s(o, "clientSecret")) else {
        return Err(invalid_request("clientId and clientSecret are required"));
    };
    let bad = |d: &str| oidc_error(401, "InvalidClientException", "invalid_client", d);
    match st.clients.get(id) {
        None => Err(bad("Invalid client")),
        Some(c) if c.secret != secret => Err(bad("Invalid client secret")),
        Some(c) if c.expires_at <= unix_now() => Err(bad("Client secret has expired")),
        Some(_) => Ok(id.to_string()),
    }
}

fn start_device(sh: &AShared, o: &Map<String, Value>) -> Response {
    if let Some(r) = unknown_member(o, &["clientId", "clientSecret", "startUrl"]) {
        return r;
    }
    let mut st = sh.lock();
    let client = match authenticate(&st, o) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match s(o, "startUrl") {
        Some(u) if u == sh.opts.start_url => {}
        Some(_) => return invalid_request("Invalid start url"),
        None => return invalid_request("startUrl is required"),
    }
    let device_code = random_string(ALNUM, 96);
    let user_code = format!("{}-{}", random_string(UPPER, 4), random_string(UPPER, 4));
    st.devices.insert(
        device_code.clone(),
        Device {
            client_id: client,
            user_code: user_code.clone(),
            issued: Instant::now(),
            expires_in: sh.opts.device_expires_in,
            interval: Duration::from_secs(sh.opts.enforced_interval.unwrap_or(sh.opts.interval)),
            last_poll: None,
            polls: 0,
            state: DevState::Pending,
        },
    );
    // The real page lives on device.sso.{region}.amazonaws.com; the fake's own host stands in.
    let page = sh
        .opts
        .verification_uri
        .clone()
        .unwrap_or_else(|| format!("{}/device/", sh.base));
    ok_json(json!({
        "deviceCode": device_code,
        "userCode": user_code,
        "verificationUri": page,
        "verificationUriComplete": format!("{page}?user_code={user_code}"),
        "expiresIn": sh.opts.device_expires_in,
        "interval": sh.opts.interval,
    }))
}

fn issue(sh: &AShared, st: &mut AState, client: &str) -> Value {
    let at = format!("aoa{}", random_string(ALNUM, 200));
    st.access.insert(
        at.clone(),
        Issued {
            client_id: client.to_string(),
            expires_at: Instant::now() + Duration::from_secs(sh.opts.token_lifetime),
        },
    );
    let mut v = json!({
        "accessToken": at,
        "tokenType": "Bearer",
        "expiresIn": sh.opts.token_lifetime,
    });
    // Only registrations with scopes get refresh tokens.
    if st.clients.get(client).is_some_and(|c| !c.scopes.is_empty()) {
        let rt = format!("aor{}", random_string(ALNUM, 200));
        st.refresh.insert(rt.clone(), client.to_string());
        v["refreshToken"] = json!(rt);
    }
    v
}

fn create_token(sh: &AShared, o: &Map<String, Value>) -> Response {
    if let Some(r) = unknown_member(
        o,
        &[
            "clientId",
            "clientSecret",
            "grantType",
            "deviceCode",
            "code",
            "refreshToken",
            "scope",
            "redirectUri",
            "codeVerifier",
        ],
    ) {
        return r;
    }
    let mut st = sh.lock();
    let client = match authenticate(&st, o) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let grant = |d: &str| oidc_error(400, "InvalidGrantException", "invalid_grant", d);
    match s(o, "grantType") {
        Some(DEVICE_GRANT) => {
            let Some(code) = s(o, "deviceCode") else {
                return invalid_request("deviceCode is required");
            };
            let auto = sh.opts.auto_approve_after_polls;
            let Some(d) = st.devices.get_mut(code) else {
                return grant("Invalid device code provided");
            };
            if d.client_id != client {
                return grant("Invalid device code provided");
            }
            let now = Instant::now();
            if now.duration_since(d.issued) >= Duration::from_secs(d.expires_in) {
                return oidc_error(
                    400,
                    "ExpiredTokenException",
                    "expired_token",
                    "Device code has expired",
                );
            }
            // Polling faster than the interval (with a little slack for timers).
            let too_fast = d
                .last_poll
                .is_some_and(|t| now.duration_since(t) + Duration::from_millis(200) < d.interval);
            d.last_poll = Some(now);
            if too_fast && d.state == DevState::Pending {
                st.slow_downs += 1;
                return oidc_error(
                    400,
                    "SlowDownException",
                    "slow_down",
                    "Client is polling too fast",
                );
            }
            d.polls += 1;
            if d.state == DevState::Pending && auto.is_some_and(|n| d.polls >= n) {
                d.state = DevState::Approved;
            }
            match d.state {
                DevState::Pending => oidc_error(
                    400,
                    "AuthorizationPendingException",
                    "authorization_pending",
                    "Authorization is still pending",
                ),
                DevState::Denied => oidc_error(
                    400,
                    "AccessDeniedException",
                    "access_denied",
                    "Access denied",
                ),
                DevState::Spent => grant("Device code has already been used"),
                DevState::Approved => {
                    d.state = DevState::Spent;
                    ok_json(issue(sh, &mut st, &client))
                }
            }
        }
        Some("refresh_token") => {
            let Some(rt) = s(o, "refreshToken") else {
                return invalid_request("refreshToken is required");
            };
            match st.refresh.get(rt) {
                Some(c) if *c == client => {}
                _ => return grant("Invalid refresh token provided"),
            }
            st.refresh.remove(rt);
            st.refreshes += 1;
            ok_json(issue(sh, &mut st, &client))
        }
        Some(_) => oidc_error(
            400,
            "UnsupportedGrantTypeException",
            "unsupported_grant_type",
            "Unsupported grant type",
        ),
        None => invalid_request("grantType is required"),
    }
}

fn portal(sh: &AShared, m: &Method, op: &str, query: &str, bearer: Option<&str>) -> Response {
    let q: HashMap<String, String> = serde_urlencoded::from_str(query).unwrap_or_default();
    let mut st = sh.lock();
    if st.portal_throttles > 0 {
        st.portal_throttles -= 1;
        let mut r = portal_error(429, "TooManyRequestsException", "Rate exceeded");
        r.headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
        return r;
    }
    let valid = bearer
        .and_then(|t| st.access.get(t))
        .is_some_and(|i| i.expires_at > Instant::now() && st.clients.contains_key(&i.client_id));
    if !valid {
        return portal_error(
            401,
            "UnauthorizedException",
            "Session token not found or invalid",
        );
    }
    let page = |list: Vec<Value>, member: &str| -> Response {
        let max = match q.get("max_result").map(|v| v.parse::<usize>()) {
            None => 20,
            Some(Ok(n)) if (1..=100).contains(&n) => n,
            Some(_) => {
                return portal_error(400, "InvalidRequestException", "Invalid max_result");
            }
        };
        let start = match q.get("next_token").map(|v| v.parse::<usize>()) {
            None => 0,
            Some(Ok(n)) if n <= list.len() => n,
            Some(_) => return portal_error(400, "InvalidRequestException", "Invalid next_token"),
        };
        let end = (start + max).min(list.len());
        let mut v = json!({ member: list[start..end].to_vec() });
        if end < list.len() {
            v["nextToken"] = json!(end.to_string());
        }
        ok_json(v)
    };
    let account = |id: Option<&String>| -> Result<FakeAwsAccount, Response> {
        let Some(id) = id else {
            return Err(portal_error(
                400,
                "InvalidRequestException",
                "account_id is required",
            ));
        };
        sh.opts
            .accounts
            .iter()
            .find(|a| a.account_id == *id)
            .cloned()
            .ok_or_else(|| portal_error(404, "ResourceNotFoundException", "No access"))
    };
    match (m.clone(), op) {
        (Method::GET, "/assignment/accounts") => {
            let list = sh
                .opts
                .accounts
                .iter()
                .map(|a| {
                    json!({"accountId": a.account_id, "accountName": a.account_name, "emailAddress": a.email_address})
                })
                .collect();
            page(list, "accountList")
        }
        (Method::GET, "/assignment/roles") => match account(q.get("account_id")) {
            Ok(a) => page(
                a.roles
                    .iter()
                    .map(|r| json!({"roleName": r, "accountId": a.account_id}))
                    .collect(),
                "roleList",
            ),
            Err(r) => r,
        },
        (Method::GET, "/federation/credentials") => {
            let a = match account(q.get("account_id")) {
                Ok(a) => a,
                Err(r) => return r,
            };
            let Some(role) = q.get("role_name").filter(|r| a.roles.contains(r)) else {
                return portal_error(404, "ResourceNotFoundException", "No access");
            };
            let exp_ms = (unix_now() + sh.opts.role_lifetime) * 1000;
            let issued = IssuedRoleCredentials {
                account_id: a.account_id.clone(),
                role_name: role.clone(),
                access_key_id: format!(
                    "ASIA{}",
                    random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
                ),
                secret_access_key: random_string(ALNUM, 40),
                session_token: format!("IQoJb3JpZ2luX2Vj{}", random_string(ALNUM, 300)),
                expiration_ms: exp_ms,
            };
            st.role_credential_calls += 1;
            st.issued_roles.push(issued.clone());
            ok_json(json!({"roleCredentials": {
                "accessKeyId": issued.access_key_id,
                "secretAccessKey": issued.secret_access_key,
                "sessionToken": issued.session_token,
                "expiration": issued.expiration_ms,
            }}))
        }
        (Method::POST, "/logout") => {
            if let Some(t) = bearer {
                st.access.remove(t);
            }
            st.logouts += 1;
            respond(200, "application/json", "")
        }
        _ => portal_error(404, "ResourceNotFoundException", "Not Found"),
    }
}
