//! Wire shapes: how each dialect encodes device responses, token responses, errors,
//! userinfo and discovery documents.
//!
//! Everything a client can observe — status codes, field names, `error_description` texts,
//! content types, number encodings — is decided here, one `match` per dialect, with the
//! source of each quirk noted. Texts marked "(guess)" are not documented anywhere we could
//! check; they follow the provider's style but clients must not depend on them.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::state::{DEVICE_GRANT, Issued, Shared};
use crate::util::{b64url, html_escape, ms_timestamp, random_b64url, unix_now, uuid_v4};
use crate::{Dialect, FakeUser, Fault};

/// Protocol-level failures, rendered per dialect by [`error`].
#[derive(Clone, Debug)]
pub(crate) enum Fail {
    Pending,
    SlowDown {
        interval: u64,
    },
    Denied,
    Expired,
    /// Unknown device code (and Auth0's answer after its one `expired_token`).
    BadDeviceCode,
    /// Device code already exchanged for tokens.
    AlreadyUsed,
    /// Unknown client id or wrong/missing client secret.
    InvalidClient,
    /// Microsoft: a public client presented a client secret (AADSTS700025).
    PublicClientSecret,
    MissingParam(&'static str),
    UnsupportedGrantType(String),
    /// Refresh token unknown, rotated, revoked or invalidated.
    BadRefresh,
    InvalidScope(String),
    /// Microsoft: a refresh asked for scopes the user never consented to (AADSTS65001).
    NotConsented(String),
    DeviceFlowDisabled,
    /// Body could not be parsed at all.
    Malformed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Device,
    Token,
    Revoke,
}

const JSON_CT: &str = "application/json; charset=utf-8";
const FORM_CT: &str = "application/x-www-form-urlencoded; charset=utf-8";
const GH_DEVICE_ERR_URI: &str = "https://docs.github.com/developers/apps/authorizing-oauth-apps#error-codes-for-the-device-flow";
const GH_REFRESH_ERR_URI: &str = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-refresh-token";

// ---------------------------------------------------------------------------------------
// Response helpers

pub(crate) fn respond(status: u16, content_type: &str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

pub(crate) fn json(status: u16, v: &Value) -> Response {
    respond(status, JSON_CT, v.to_string())
}

fn with_header(mut r: Response, name: &'static str, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
    r
}

/// RFC 6749 §5.1: token responses carry `Cache-Control: no-store` and `Pragma: no-cache`.
fn no_store(r: Response) -> Response {
    with_header(
        with_header(r, "cache-control", "no-store"),
        "pragma",
        "no-cache",
    )
}

/// [`Fault::EchoRequest`]: an OAuth error whose description is the request itself.
pub(crate) fn echo_error(status: u16, error: &str, echoed: &str) -> Response {
    oauth_error(
        status,
        error,
        &format!("Bad request. The request was: {echoed}"),
    )
}

/// Google's token endpoint when a code exchange or refresh for a client that has a secret
/// (Desktop, Web, TV) comes without it: 400 `invalid_request` "client_secret is missing."
/// (docs/providers.md, "Google").
pub(crate) fn google_secret_missing() -> Response {
    oauth_error(400, "invalid_request", "client_secret is missing.")
}

fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    json(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}

/// A GitHub field value: GitHub's form encoding turns numbers into strings.
enum Gv {
    S(String),
    N(u64),
}

/// GitHub answers `application/x-www-form-urlencoded` unless the request had
/// `Accept: application/json`.
fn github_fields(status: u16, fields: Vec<(&'static str, Gv)>, as_json: bool) -> Response {
    if as_json {
        let mut m = Map::new();
        for (k, v) in fields {
            m.insert(
                k.to_string(),
                match v {
                    Gv::S(s) => Value::String(s),
                    Gv::N(n) => Value::from(n),
                },
            );
        }
        json(status, &Value::Object(m))
    } else {
        let pairs: Vec<(&str, String)> = fields
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    match v {
                        Gv::S(s) => s,
                        Gv::N(n) => n.to_string(),
                    },
                )
            })
            .collect();
        let body = serde_urlencoded::to_string(pairs).unwrap_or_default();
        respond(status, FORM_CT, body)
    }
}

// ---------------------------------------------------------------------------------------
// Errors

/// Microsoft's AADSTS error body: description with trace text, `error_codes`, ids, timestamp.
fn ms_error(sh: &Shared, status: u16, error: &str, code: Option<u32>, text: &str) -> Response {
    ms_error_with(sh, status, error, code, text, None)
}

/// [`ms_error`] with Entra's `suberror` member (`consent_required`, `basic_action`, …).
fn ms_error_with(
    sh: &Shared,
    status: u16,
    error: &str,
    code: Option<u32>,
    text: &str,
    suberror: Option<&str>,
) -> Response {
    let trace_id = uuid_v4();
    let correlation_id = uuid_v4();
    let ts = ms_timestamp(unix_now());
    let prefix = code.map(|c| format!("AADSTS{c}: ")).unwrap_or_default();
    let description = format!(
        "{prefix}{text}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {ts}"
    );
    let codes: Vec<u32> = code.into_iter().collect();
    let mut v = json!({
        "error": error,
        "error_description": description,
        "error_codes": codes,
        "timestamp": ts,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
    });
    if let Some(c) = code {
        v["error_uri"] = Value::String(format!("{}/error?code={c}", sh.base));
    }
    if let Some(s) = suberror {
        v["suberror"] = Value::String(s.into());
    }
    no_store(json(status, &v))
}

pub(crate) fn error(sh: &Shared, ep: Endpoint, fail: &Fail, github_json: bool) -> Response {
    let r = match sh.dialect() {
        Dialect::Microsoft => ms_fail(sh, fail),
        Dialect::Google => google_fail(ep, fail),
        Dialect::GitHub | Dialect::GitHubApp => github_fail(ep, fail, github_json),
        Dialect::Okta => okta_fail(fail),
        Dialect::Auth0 => auth0_fail(fail),
        Dialect::Oidc => oidc_fail(fail),
    };
    no_store(r)
}

fn ms_fail(sh: &Shared, fail: &Fail) -> Response {
    // Codes from the Entra error reference; statuses 400 except invalid_client (401).
    let (status, err, code, text): (u16, &str, Option<u32>, String) = match fail {
        Fail::Pending => (
            400,
            "authorization_pending",
            Some(70016),
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.".into(),
        ),
        // Microsoft does not document slow_down; MSAL still handles it. (guess)
        Fail::SlowDown { .. } => (
            400,
            "slow_down",
            None,
            "Polling too frequently. Wait longer between requests.".into(),
        ),
        Fail::Denied => (
            400,
            "authorization_declined",
            Some(65004),
            "User declined to consent to access the app.".into(),
        ),
        Fail::Expired => (
            400,
            "expired_token",
            Some(70019),
            "Verification code expired.".into(),
        ),
        Fail::BadDeviceCode => (
            400,
            "bad_verification_code",
            Some(70018),
            "Invalid verification code.".into(),
        ),
        Fail::AlreadyUsed => (
            400,
            "invalid_grant",
            Some(54005),
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.".into(),
        ),
        Fail::InvalidClient => (
            401,
            "invalid_client",
            Some(700016),
            format!(
                "Application was not found in the directory '{MS_TENANT_ID}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        ),
        Fail::PublicClientSecret => (
            401,
            "invalid_client",
            Some(700025),
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.".into(),
        ),
        Fail::MissingParam(p) => (
            400,
            "invalid_request",
            Some(900144),
            format!("The request body must contain the following parameter: '{p}'."),
        ),
        Fail::UnsupportedGrantType(g) => (
            400,
            "unsupported_grant_type",
            Some(70003),
            format!("The app requested an unsupported grant type '{g}'."),
        ),
        Fail::BadRefresh => (
            400,
            "invalid_grant",
            Some(70008),
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.".into(),
        ),
        Fail::InvalidScope(s) => (
            400,
            "invalid_scope",
            Some(70011),
            format!("The provided value for the input parameter 'scope' is not valid. The scope {s} is not valid."),
        ),
        // Entra v2 refresh: "the scopes requested in this leg must be equivalent to or a subset
        // of the scopes requested in the original ... request"; unconsented ones fail with
        // AADSTS65001, error invalid_grant, suberror consent_required (entra-docs
        // v2-oauth2-auth-code-flow.md, "Refresh the access token"; docs/providers.md, "Microsoft").
        Fail::NotConsented(s) => {
            let text = format!(
                "The user or administrator has not consented to use the application with ID 'test-client' named 'sidekey test'. Send an interactive authorization request for this user and resource. (scope {s})"
            );
            return ms_error_with(
                sh,
                400,
                "invalid_grant",
                Some(65001),
                &text,
                Some("consent_required"),
            );
        }
        Fail::DeviceFlowDisabled | Fail::Malformed => (
            400,
            "invalid_request",
            Some(90014),
            "The request body could not be parsed.".into(),
        ),
    };
    ms_error(sh, status, err, code, &text)
}

/// An injected OAuth error ([`Fault::OAuth`]) in the dialect's shape.
pub(crate) fn oauth_fault(sh: &Shared, status: u16, error: &str, github_json: bool) -> Response {
    let r = match sh.dialect() {
        Dialect::Microsoft => ms_oauth_fault(sh, status, error),
        Dialect::GitHub | Dialect::GitHubApp => github_fields(
            status,
            vec![
                ("error", Gv::S(error.into())),
                ("error_description", Gv::S(error.into())),
            ],
            github_json,
        ),
        _ => oauth_error(status, error, error),
    };
    no_store(r)
}

/// Entra's token-endpoint errors beyond the device flow's, as the identity platform documents
/// them (learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow, "Error codes for token
/// endpoint errors"; AADSTS texts from the Entra error-code reference). MSAL treats
/// `interaction_required`, `consent_required`, `login_required` and `bad_token` as "sign in
/// again" (msal-common `InteractionRequiredAuthError.ts`); `temporarily_unavailable` means
/// "retry the request after a small delay".
fn ms_oauth_fault(sh: &Shared, status: u16, error: &str) -> Response {
    let (code, text, suberror): (Option<u32>, &str, Option<&str>) = match error {
        // MFA or sign-in frequency required by Conditional Access (observed on refresh).
        "interaction_required" => (
            Some(50076),
            "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '00000003-0000-0000-c000-000000000000'.",
            Some("basic_action"),
        ),
        "consent_required" => (
            Some(65001),
            "The user or administrator has not consented to use the application with ID 'test-client' named 'sidekey test'. Send an interactive authorization request for this user and resource.",
            Some("consent_required"),
        ),
        "login_required" => (
            Some(50058),
            "A silent sign-in request was sent but no user is signed in.",
            None,
        ),
        "temporarily_unavailable" => (
            None,
            "The server is temporarily too busy to handle the request. Retry the request after a small delay.",
            None,
        ),
        "server_error" => (None, "The server encountered an unexpected error.", None),
        // Texts of the error table; the AADSTS code Entra attaches here is not documented.
        "unauthorized_client" => (
            None,
            "The authenticated client isn't authorized to use this authorization grant type.",
            None,
        ),
        _ => (None, "(guess) An error occurred.", None),
    };
    ms_error_with(sh, status, error, code, text, suberror)
}

fn google_fail(ep: Endpoint, fail: &Fail) -> Response {
    // Google's device-flow table: 428 pending, 403 slow_down/denied, 401 invalid_client.
    match fail {
        Fail::Pending => oauth_error(428, "authorization_pending", "Precondition Required"),
        Fail::SlowDown { .. } => oauth_error(403, "slow_down", "Forbidden"),
        Fail::Denied => oauth_error(403, "access_denied", "Forbidden"),
        // Status undocumented; a third-party fixture uses 400 "Bad Request".
        Fail::Expired => oauth_error(400, "expired_token", "Bad Request"),
        Fail::BadDeviceCode | Fail::AlreadyUsed => oauth_error(400, "invalid_grant", "Bad Request"),
        Fail::InvalidClient | Fail::PublicClientSecret => {
            if ep == Endpoint::Device {
                oauth_error(401, "invalid_client", "The OAuth client was not found.")
            } else {
                oauth_error(401, "invalid_client", "Unauthorized")
            }
        }
        Fail::MissingParam(p) => oauth_error(
            400,
            "invalid_request",
            &format!("Missing required parameter: {p}"),
        ),
        Fail::UnsupportedGrantType(g) => oauth_error(
            400,
            "unsupported_grant_type",
            &format!("Invalid grant_type: {g}"),
        ),
        Fail::BadRefresh => oauth_error(400, "invalid_grant", "Token has been expired or revoked."),
        Fail::InvalidScope(s) | Fail::NotConsented(s) => oauth_error(
            400,
            "invalid_scope",
            &format!("Invalid device flow scope: {s}"),
        ),
        Fail::DeviceFlowDisabled | Fail::Malformed => {
            oauth_error(400, "invalid_request", "Bad Request")
        }
    }
}

fn github_fail(ep: Endpoint, fail: &Fail, as_json: bool) -> Response {
    let err = |status: u16, error: &str, desc: &str, uri: &str| {
        github_fields(
            status,
            vec![
                ("error", Gv::S(error.into())),
                ("error_description", Gv::S(desc.into())),
                ("error_uri", Gv::S(uri.into())),
            ],
            as_json,
        )
    };
    if ep == Endpoint::Device {
        return match fail {
            // Unknown/missing client_id at /login/device/code: GitHub answers a bare 404
            // (seen in third-party reports: `{"error":"Not Found"}`).
            Fail::InvalidClient | Fail::MissingParam("client_id") => {
                github_fields(404, vec![("error", Gv::S("Not Found".into()))], as_json)
            }
            Fail::DeviceFlowDisabled => err(
                400,
                "device_flow_disabled",
                "Device Flow must be explicitly enabled for this App",
                GH_DEVICE_ERR_URI,
            ),
            _ => err(
                400,
                "invalid_request",
                "The request could not be parsed.",
                GH_DEVICE_ERR_URI,
            ),
        };
    }
    // Token endpoint: every error is HTTP 200 (GitHub docs; oauth2-rs #218 byte dumps).
    match fail {
        Fail::Pending => err(
            200,
            "authorization_pending",
            "The authorization request is still pending.",
            GH_DEVICE_ERR_URI,
        ),
        Fail::SlowDown { interval } => github_fields(
            200,
            vec![
                ("error", Gv::S("slow_down".into())),
                (
                    "error_description",
                    Gv::S("Too many requests have been made in the same timeframe.".into()),
                ),
                ("error_uri", Gv::S(GH_DEVICE_ERR_URI.into())),
                ("interval", Gv::N(*interval)),
            ],
            as_json,
        ),
        Fail::Denied => err(
            200,
            "access_denied",
            "The authorization request was denied.",
            GH_DEVICE_ERR_URI,
        ),
        Fail::Expired => err(
            200,
            "expired_token",
            "The device_code has expired.",
            GH_DEVICE_ERR_URI,
        ),
        Fail::BadDeviceCode | Fail::AlreadyUsed | Fail::MissingParam("device_code") => err(
            200,
            "incorrect_device_code",
            "The device_code provided is not valid.",
            GH_DEVICE_ERR_URI,
        ),
        Fail::InvalidClient | Fail::PublicClientSecret | Fail::MissingParam("client_id") => err(
            200,
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
            GH_DEVICE_ERR_URI,
        ),
        Fail::UnsupportedGrantType(_) | Fail::MissingParam("grant_type") => err(
            200,
            "unsupported_grant_type",
            "The grant type is not supported.",
            GH_DEVICE_ERR_URI,
        ),
        Fail::BadRefresh | Fail::MissingParam(_) => err(
            200,
            "bad_refresh_token",
            "The refresh token passed is incorrect or expired.",
            GH_REFRESH_ERR_URI,
        ),
        Fail::DeviceFlowDisabled => err(
            200,
            "device_flow_disabled",
            "Device Flow must be explicitly enabled for this App",
            GH_DEVICE_ERR_URI,
        ),
        Fail::InvalidScope(_) | Fail::NotConsented(_) | Fail::Malformed => err(
            400,
            "invalid_request",
            "The request could not be parsed.",
            GH_DEVICE_ERR_URI,
        ),
    }
}

fn okta_fail(fail: &Fail) -> Response {
    // Only the pending body is documented; statuses follow RFC 8628 (400, invalid_client 401).
    match fail {
        Fail::Pending => oauth_error(
            400,
            "authorization_pending",
            "The device authorization is pending. Please try again later.",
        ),
        Fail::SlowDown { .. } => oauth_error(
            400,
            "slow_down",
            "The client is polling too frequently. Wait for the interval before polling again.",
        ),
        Fail::Denied => oauth_error(
            400,
            "access_denied",
            "The resource owner or authorization server denied the request.",
        ),
        Fail::Expired => oauth_error(400, "expired_token", "The device code has expired."),
        Fail::BadDeviceCode | Fail::AlreadyUsed => oauth_error(
            400,
            "invalid_grant",
            "The device code is invalid or has expired.",
        ),
        Fail::InvalidClient | Fail::PublicClientSecret => oauth_error(
            401,
            "invalid_client",
            "Invalid value for 'client_id' parameter.",
        ),
        Fail::MissingParam(p) => oauth_error(
            400,
            "invalid_request",
            &format!("The '{p}' parameter is required."),
        ),
        Fail::UnsupportedGrantType(_) => oauth_error(
            400,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
        ),
        Fail::BadRefresh => oauth_error(
            400,
            "invalid_grant",
            "The refresh token is invalid or expired.",
        ),
        Fail::InvalidScope(s) | Fail::NotConsented(s) => oauth_error(
            400,
            "invalid_scope",
            &format!(
                "One or more scopes are not configured for the authorization server resource: '{s}'."
            ),
        ),
        Fail::DeviceFlowDisabled | Fail::Malformed => oauth_error(
            400,
            "invalid_request",
            "The request body could not be parsed.",
        ),
    }
}

fn auth0_fail(fail: &Fail) -> Response {
    // Auth0 docs: pending 403, slow_down 429, denied 403, expired 403 (once) then invalid_grant.
    match fail {
        Fail::Pending => oauth_error(
            403,
            "authorization_pending",
            "User has yet to authorize device code.",
        ),
        Fail::SlowDown { interval } => oauth_error(
            429,
            "slow_down",
            &format!("You are polling faster than the specified interval of {interval} seconds."),
        ),
        Fail::Denied => oauth_error(
            403,
            "access_denied",
            "User cancelled the confirmation prompt or consent page.",
        ),
        Fail::Expired => oauth_error(403, "expired_token", "The device code has expired."),
        Fail::BadDeviceCode | Fail::AlreadyUsed => {
            oauth_error(403, "invalid_grant", "Invalid or expired device code.")
        }
        Fail::InvalidClient | Fail::PublicClientSecret => {
            oauth_error(401, "invalid_client", "Unknown client.")
        }
        Fail::MissingParam(p) => oauth_error(
            400,
            "invalid_request",
            &format!("Missing required parameter: {p}"),
        ),
        Fail::UnsupportedGrantType(g) => oauth_error(
            400,
            "unsupported_grant_type",
            &format!("Unsupported grant type: {g}"),
        ),
        Fail::BadRefresh => oauth_error(403, "invalid_grant", "Unknown or invalid refresh token."),
        Fail::InvalidScope(s) | Fail::NotConsented(s) => {
            oauth_error(400, "invalid_scope", &format!("Invalid scope: {s}"))
        }
        Fail::DeviceFlowDisabled | Fail::Malformed => oauth_error(
            400,
            "invalid_request",
            "The request body could not be parsed.",
        ),
    }
}

fn oidc_fail(fail: &Fail) -> Response {
    // node-oidc-provider texts.
    match fail {
        Fail::Pending => oauth_error(
            400,
            "authorization_pending",
            "authorization request is still pending as the end-user hasn't yet completed the user interaction steps",
        ),
        Fail::SlowDown { .. } => oauth_error(400, "slow_down", "you are polling too quickly"),
        Fail::Denied => oauth_error(400, "access_denied", "End-User aborted interaction"),
        Fail::Expired => oauth_error(400, "expired_token", "device code is expired"),
        Fail::BadDeviceCode | Fail::AlreadyUsed | Fail::BadRefresh => {
            oauth_error(400, "invalid_grant", "grant request is invalid")
        }
        Fail::InvalidClient | Fail::PublicClientSecret => {
            oauth_error(401, "invalid_client", "client authentication failed")
        }
        Fail::MissingParam(p) => oauth_error(
            400,
            "invalid_request",
            &format!("missing required parameter '{p}'"),
        ),
        Fail::UnsupportedGrantType(_) => oauth_error(
            400,
            "unsupported_grant_type",
            "unsupported grant_type requested",
        ),
        Fail::InvalidScope(_) | Fail::NotConsented(_) => {
            oauth_error(400, "invalid_scope", "requested scope is not allowed")
        }
        Fail::DeviceFlowDisabled | Fail::Malformed => oauth_error(
            400,
            "invalid_request",
            "only application/x-www-form-urlencoded content-type bodies are supported",
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Device authorization response

pub(crate) fn device_response(
    sh: &Shared,
    device_code: &str,
    user_code: &str,
    github_json: bool,
) -> Response {
    let opts = &sh.opts;
    let suffix = opts.verification_uri_suffix.as_deref().unwrap_or("");
    let uri = format!("{}{suffix}", sh.verification_uri());
    let real_code = user_code;
    let user_code = opts.shown_user_code.as_deref().unwrap_or(user_code);
    match sh.dialect() {
        Dialect::GitHub | Dialect::GitHubApp => {
            let mut f = vec![
                ("device_code", Gv::S(device_code.into())),
                ("user_code", Gv::S(user_code.into())),
                ("verification_uri", Gv::S(uri)),
                ("expires_in", Gv::N(opts.expires_in)),
            ];
            if let Some(i) = opts.interval {
                f.push(("interval", Gv::N(i)));
            }
            github_fields(200, f, github_json)
        }
        d => {
            let mut v = json!({
                "device_code": device_code,
                "user_code": user_code,
                "expires_in": opts.expires_in,
            });
            // Google says verification_url (not _uri).
            let key = if d == Dialect::Google {
                "verification_url"
            } else {
                "verification_uri"
            };
            v[key] = Value::String(uri.clone());
            if let Some(c) = sh.verification_uri_complete(real_code) {
                v["verification_uri_complete"] = Value::String(format!("{c}{suffix}"));
            }
            if let Some(i) = opts.interval {
                v["interval"] = Value::from(i);
            }
            if d == Dialect::Microsoft {
                v["message"] = Value::String(format!(
                    "To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate."
                ));
            }
            no_store(json(200, &v))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Token response

/// Google reports granted scopes in their long form.
fn google_scope(s: &str) -> &str {
    match s {
        "email" => "https://www.googleapis.com/auth/userinfo.email",
        "profile" => "https://www.googleapis.com/auth/userinfo.profile",
        other => other,
    }
}

pub(crate) fn token_response(sh: &Shared, t: &Issued, github_json: bool) -> Response {
    let dialect = sh.dialect();
    let mut t = t.clone();
    for extra in &sh.opts.granted_extra_scopes {
        if !t.scopes.contains(extra) {
            t.scopes.push(extra.clone());
        }
    }
    let t = &t;
    match dialect {
        Dialect::GitHub => github_fields(
            200,
            vec![
                ("access_token", Gv::S(t.access.clone())),
                ("token_type", Gv::S("bearer".into())),
                // GitHub reports scopes comma-separated.
                ("scope", Gv::S(t.scopes.join(","))),
            ],
            github_json,
        ),
        Dialect::GitHubApp => {
            let mut f = vec![("access_token", Gv::S(t.access.clone()))];
            if let Some(e) = t.expires_in {
                f.push(("expires_in", Gv::N(e)));
            }
            if let Some(r) = &t.refresh {
                f.push(("refresh_token", Gv::S(r.clone())));
                f.push(("refresh_token_expires_in", Gv::N(15_811_200)));
            }
            f.push(("scope", Gv::S(String::new())));
            f.push(("token_type", Gv::S("bearer".into())));
            github_fields(200, f, github_json)
        }
        _ => {
            let scope = match dialect {
                // Microsoft does not echo offline_access.
                Dialect::Microsoft => t
                    .scopes
                    .iter()
                    .filter(|s| *s != "offline_access")
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" "),
                Dialect::Google => t
                    .scopes
                    .iter()
                    .map(|s| google_scope(s))
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => t.scopes.join(" "),
            };
            let mut v = json!({
                "access_token": t.access,
                "token_type": "Bearer",
                "scope": scope,
            });
            if let Some(e) = t.expires_in {
                v["expires_in"] = Value::from(e);
                if dialect == Dialect::Microsoft {
                    v["ext_expires_in"] = Value::from(e);
                }
            }
            if let Some(r) = &t.refresh {
                v["refresh_token"] = Value::String(r.clone());
                // A Cloud project in "Testing": refresh tokens live 7 days and Google says so
                // (captured responses, docs/google-drive.md, "Refresh tokens and Testing mode").
                if dialect == Dialect::Google && sh.opts.google_testing_mode {
                    v["refresh_token_expires_in"] = Value::from(604_799u64);
                }
            }
            if let Some(i) = &t.id_token {
                v["id_token"] = Value::String(i.clone());
            }
            no_store(json(200, &v))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Identity

const MS_TENANT_ID: &str = "5eed7e57-0000-4000-8000-00000000ad0a";
const MS_USER_ID: &str = "ada1ace0-1815-4c0e-9a1e-0000000a1ace";
const GOOGLE_SUB: &str = "110248495921238986420";
const GITHUB_ID: u64 = 1815;
const OKTA_SUB: &str = "00u1ada2lovelace3x4y5";
const AUTH0_SUB: &str = "auth0|64ada1ace0ada1ace0ada1ac";

/// Concrete tenant id behind a Microsoft tenant path segment.
pub(crate) fn ms_tenant_id(segment: &str) -> String {
    match segment {
        "common" | "organizations" => MS_TENANT_ID.to_string(),
        // The real Microsoft-account tenant.
        "consumers" => "9188040d-6c67-4c5b-b112-36a304b66dad".to_string(),
        other => other.to_string(),
    }
}

fn subject(sh: &Shared, user: &FakeUser) -> String {
    if let Some(s) = &user.subject {
        return s.clone();
    }
    match sh.dialect() {
        Dialect::Microsoft => MS_USER_ID.to_string(),
        Dialect::Google => GOOGLE_SUB.to_string(),
        Dialect::GitHub | Dialect::GitHubApp => GITHUB_ID.to_string(),
        Dialect::Okta => OKTA_SUB.to_string(),
        Dialect::Auth0 => AUTH0_SUB.to_string(),
        Dialect::Oidc => user.login.clone(),
    }
}

/// A JWT-shaped id_token (`header.payload.signature`, base64url). The signature is random:
/// clients are expected to read claims from userinfo, not to trust this token.
pub(crate) fn id_token(
    sh: &Shared,
    tenant: Option<&str>,
    _scopes: &[String],
    user: &FakeUser,
) -> String {
    let now = unix_now();
    let header = json!({"alg": "RS256", "kid": "sidekey-fake", "typ": "JWT"});
    let mut payload = json!({
        "iss": sh.token_issuer(tenant),
        "sub": subject(sh, user),
        "aud": sh.opts.client_id,
        "iat": now,
        "exp": now + sh.opts.access_token_ttl,
        "name": user.name,
    });
    if let Some(e) = &user.email {
        payload["email"] = Value::String(e.clone());
    }
    if sh.dialect() == Dialect::Microsoft {
        // `sub` is pairwise (per app); `oid` is the user's object id, Graph `/me`'s `id`.
        payload["sub"] = Value::String(format!("pairwise-{}", subject(sh, user)));
        payload["oid"] = Value::String(subject(sh, user));
        payload["tid"] = Value::String(ms_tenant_id(tenant.unwrap_or("common")));
        payload["preferred_username"] = Value::String(upn(user));
    }
    format!(
        "{}.{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(payload.to_string().as_bytes()),
        random_b64url(64)
    )
}

fn upn(u: &FakeUser) -> String {
    u.email
        .clone()
        .unwrap_or_else(|| format!("{}@example.test", u.login))
}

/// "Who signed in". `scopes` is `None` when the bearer token was missing or invalid.
pub(crate) fn userinfo(
    sh: &Shared,
    scopes: Option<Vec<String>>,
    user: Option<FakeUser>,
) -> Response {
    let user = user.as_ref().unwrap_or(&sh.opts.user);
    let Some(scopes) = scopes else {
        return userinfo_unauthorized(sh);
    };
    let has = |s: &str| scopes.iter().any(|x| x == s);
    // Google's userinfo answers only for a token granted `openid`, `email` or `profile`
    // (a Drive- or YouTube-only token names nobody). (guess) the answer's shape: RFC 6750
    // §3.1's `insufficient_scope`, 403.
    if sh.dialect() == Dialect::Google && !["openid", "email", "profile"].iter().any(|s| has(s)) {
        return with_header(
            oauth_error(403, "insufficient_scope", "Insufficient Permission"),
            "www-authenticate",
            "Bearer realm=\"https://accounts.google.com/\", error=\"insufficient_scope\"",
        );
    }
    match sh.dialect() {
        Dialect::Microsoft => json(
            200,
            &json!({
                "@odata.context": format!("{}/v1.0/$metadata#users/$entity", sh.base),
                "displayName": user.name,
                "mail": user.email,
                "userPrincipalName": upn(user),
                "id": subject(sh, user),
            }),
        ),
        Dialect::GitHub | Dialect::GitHubApp => json(
            200,
            &json!({
                "login": user.login,
                "id": subject(sh, user).parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::String(subject(sh, user))),
                "name": user.name,
                "email": user.email,
                "type": "User",
            }),
        ),
        // OIDC userinfo endpoints release claims by scope: `profile` → name, `email` → email.
        d => {
            let mut v = json!({ "sub": subject(sh, user) });
            if has("profile") {
                v["name"] = Value::String(user.name.clone());
                match d {
                    Dialect::Google | Dialect::Auth0 => {
                        v["picture"] = Value::String(format!("{}/avatar.png", sh.base));
                    }
                    _ => {}
                }
                match d {
                    Dialect::Okta => v["preferred_username"] = Value::String(upn(user)),
                    Dialect::Auth0 => v["nickname"] = Value::String(user.login.clone()),
                    _ => {}
                }
            }
            if has("email")
                && let Some(e) = &user.email
            {
                v["email"] = Value::String(e.clone());
                v["email_verified"] = Value::Bool(true);
            }
            json(200, &v)
        }
    }
}

fn userinfo_unauthorized(sh: &Shared) -> Response {
    match sh.dialect() {
        Dialect::Microsoft => with_header(
            json(
                401,
                &json!({"error": {
                    "code": "InvalidAuthenticationToken",
                    "message": "Access token validation failure. Invalid audience.",
                    "innerError": {
                        "date": ms_timestamp(unix_now()).replace(' ', "T"),
                        "request-id": uuid_v4(),
                        "client-request-id": uuid_v4(),
                    }
                }}),
            ),
            "www-authenticate",
            "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\"",
        ),
        Dialect::GitHub | Dialect::GitHubApp => json(
            401,
            &json!({
                "message": "Bad credentials",
                "documentation_url": "https://docs.github.com/rest",
                "status": "401",
            }),
        ),
        Dialect::Google => with_header(
            oauth_error(401, "invalid_request", "Invalid Credentials"),
            "www-authenticate",
            "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
        ),
        Dialect::Okta => {
            let iss = sh.token_issuer(None);
            with_header(
                respond(401, "text/plain", ""),
                "www-authenticate",
                &format!(
                    "Bearer authorization_uri=\"{iss}/v1/authorize\", realm=\"{iss}\", scope=\"openid\", error=\"invalid_token\", error_description=\"The access token is invalid.\", resource=\"/oauth2/default/v1/userinfo\""
                ),
            )
        }
        Dialect::Auth0 => with_header(
            respond(401, "text/plain; charset=utf-8", "Unauthorized"),
            "www-authenticate",
            "Bearer realm=\"Auth0\", error=\"invalid_token\"",
        ),
        Dialect::Oidc => with_header(
            oauth_error(401, "invalid_token", "invalid token provided"),
            "www-authenticate",
            &format!(
                "Bearer realm=\"{}\", error=\"invalid_token\", error_description=\"invalid token provided\"",
                sh.base
            ),
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Discovery

/// OIDC discovery / RFC 8414 metadata for the dialects that publish one.
pub(crate) fn discovery(sh: &Shared, tenant: Option<&str>) -> Response {
    let b = &sh.base;
    let grant_types = json!(["authorization_code", "refresh_token", DEVICE_GRANT]);
    let v = match sh.dialect() {
        Dialect::Microsoft => {
            let t = tenant.unwrap_or("common");
            // Multi-tenant segments publish a literal `{tenantid}` placeholder issuer.
            let issuer = match t {
                "common" | "organizations" => format!("{b}/{{tenantid}}/v2.0"),
                other => format!("{b}/{}/v2.0", ms_tenant_id(other)),
            };
            json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{b}/{t}/oauth2/v2.0/authorize"),
                "token_endpoint": format!("{b}/{t}/oauth2/v2.0/token"),
                "device_authorization_endpoint": format!("{b}/{t}/oauth2/v2.0/devicecode"),
                "jwks_uri": format!("{b}/{t}/discovery/v2.0/keys"),
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
            })
        }
        Dialect::Google => json!({
            "issuer": b,
            "authorization_endpoint": format!("{b}/o/oauth2/v2/auth"),
            "device_authorization_endpoint": format!("{b}/device/code"),
            "token_endpoint": format!("{b}/token"),
            "userinfo_endpoint": format!("{b}/v1/userinfo"),
            "revocation_endpoint": format!("{b}/revoke"),
            "jwks_uri": format!("{b}/oauth2/v3/certs"),
            "response_types_supported": ["code", "token", "id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "grant_types_supported": grant_types,
        }),
        Dialect::Okta => {
            let iss = format!("{b}/oauth2/default");
            json!({
                "issuer": iss,
                "authorization_endpoint": format!("{iss}/v1/authorize"),
                "token_endpoint": format!("{iss}/v1/token"),
                "userinfo_endpoint": format!("{iss}/v1/userinfo"),
                "device_authorization_endpoint": format!("{iss}/v1/device/authorize"),
                "revocation_endpoint": format!("{iss}/v1/revoke"),
                "jwks_uri": format!("{iss}/v1/keys"),
                "response_types_supported": ["code", "id_token", "code id_token"],
                "grant_types_supported": grant_types,
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "profile", "email", "address", "phone", "offline_access", "device_sso"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"],
                "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"],
            })
        }
        Dialect::Auth0 => json!({
            // Auth0's issuer has a trailing slash.
            "issuer": format!("{b}/"),
            "authorization_endpoint": format!("{b}/authorize"),
            "token_endpoint": format!("{b}/oauth/token"),
            "device_authorization_endpoint": format!("{b}/oauth/device/code"),
            "userinfo_endpoint": format!("{b}/userinfo"),
            "revocation_endpoint": format!("{b}/oauth/revoke"),
            "jwks_uri": format!("{b}/.well-known/jwks.json"),
            "response_types_supported": ["code", "token", "id_token", "code id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["HS256", "RS256", "PS256"],
            "scopes_supported": ["openid", "profile", "offline_access", "name", "given_name", "family_name", "nickname", "email", "email_verified", "picture", "created_at", "identities", "phone", "address"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        }),
        Dialect::Oidc => json!({
            "issuer": b,
            "authorization_endpoint": format!("{b}/auth"),
            "device_authorization_endpoint": format!("{b}/device/auth"),
            "token_endpoint": format!("{b}/token"),
            "revocation_endpoint": format!("{b}/token/revocation"),
            "userinfo_endpoint": format!("{b}/me"),
            "jwks_uri": format!("{b}/jwks"),
            "grant_types_supported": grant_types,
            "response_types_supported": ["code"],
            "scopes_supported": ["openid", "offline_access", "profile", "email"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
            "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        }),
        Dialect::GitHub | Dialect::GitHubApp => return not_found(sh),
    };
    let mut v = v;
    if sh.opts.discovery_without_device_endpoint
        && let Some(m) = v.as_object_mut()
    {
        m.remove("device_authorization_endpoint");
    }
    if sh.opts.userinfo_trailing_slash
        && let Some(Value::String(u)) = v.get_mut("userinfo_endpoint")
    {
        u.push('/');
    }
    json(200, &v)
}

/// Empty JWKS for the `jwks_uri` the discovery documents advertise.
pub(crate) fn jwks() -> Response {
    json(200, &json!({ "keys": [] }))
}

pub(crate) fn not_found(sh: &Shared) -> Response {
    match sh.dialect() {
        Dialect::GitHub | Dialect::GitHubApp => json(404, &json!({"error": "Not Found"})),
        _ => respond(404, "text/plain; charset=utf-8", "Not Found"),
    }
}

pub(crate) fn method_not_allowed() -> Response {
    respond(405, "text/plain; charset=utf-8", "Method Not Allowed")
}

// ---------------------------------------------------------------------------------------
// Faults

/// Response for a fault that produces one (`Delay` and `Reset` are handled by the server).
pub(crate) fn fault_response(f: &Fault) -> Option<Response> {
    match f {
        Fault::Status(code) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let title = format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("Error")
            );
            let title = html_escape(&title);
            let body = format!("<html><body><h1>{title}</h1><hr><p>nginx</p></body></html>\r\n");
            Some(respond(status.as_u16(), "text/html", body))
        }
        Fault::Html => Some(respond(
            200,
            "text/html; charset=utf-8",
            "<!DOCTYPE html><html><head><title>Guest Wi-Fi</title></head><body>\
             <h1>Welcome to Guest Wi-Fi</h1><p>Please accept the terms of use to continue.</p>\
             <form method=\"post\" action=\"/portal/accept\"><button>Accept and connect</button></form>\
             </body></html>",
        )),
        Fault::Oversized => Some(respond(200, JSON_CT, oversized_body())),
        Fault::Truncated => Some(respond(200, JSON_CT, r#"{"access_token":"abc","tok"#)),
        Fault::RateLimited { retry_after } => {
            let r = respond(429, "text/plain", "");
            Some(match retry_after {
                Some(s) => with_header(r, "retry-after", &s.to_string()),
                None => r,
            })
        }
        Fault::Delay(_) | Fault::Reset | Fault::OAuth { .. } | Fault::EchoRequest { .. } => None,
    }
}

/// Exactly 4 MiB of syntactically valid JSON that looks like a token response.
fn oversized_body() -> String {
    const SIZE: usize = 4 * 1024 * 1024;
    let head = r#"{"access_token":"oversized_not_a_real_token","token_type":"Bearer","expires_in":3600,"padding":""#;
    let tail = "\"}";
    let mut s = String::with_capacity(SIZE);
    s.push_str(head);
    s.extend(std::iter::repeat_n('A', SIZE - head.len() - tail.len()));
    s.push_str(tail);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_is_4mib_valid_json() {
        let b = oversized_body();
        assert_eq!(b.len(), 4 * 1024 * 1024);
        let v: Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["token_type"], "Bearer");
    }
}
