//! The I/O half: the requests of the device flow, refresh, revocation, discovery and "who signed
//! in", sent through the bounded transport of [`crate::http`] in the provider's wire
//! ([`crate::dialect::Wire`]).

use crate::clock::Clock;
use crate::dialect::{Revocation, SecretUse};
use crate::error::{FlowError, RefreshError};
use crate::poll::{PollEvent, Poller, Step};
use crate::provider::{Endpoints, Provider, endpoint_url};
use crate::response::{
    self, DeviceAuthorization, DeviceReplyError, TokenReply, TokenResponse, describe_body, one_line,
};
use crate::secret::Secret;
use crate::user::UserInfo;
use base64::Engine;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The longest `Retry-After` the device authorization request waits for before giving up.
const START_MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The transport, here for the callers that always named it `client::…`.
pub use crate::http::{
    Http, HttpOptions, Raw, SendFailure, client_builder, describe_reqwest, host_of,
};

pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

#[derive(Debug, PartialEq, Eq)]
pub enum RevokeOutcome {
    Revoked,
    /// The provider offers no revocation this client can call (Microsoft; GitHub without a secret).
    NotSupported(&'static str),
    Failed(String),
}

/// The device flow for one provider.
pub struct DeviceFlow<'a> {
    pub http: &'a Http,
    pub provider: &'a Provider,
}

impl<'a> DeviceFlow<'a> {
    pub fn new(http: &'a Http, provider: &'a Provider) -> Self {
        DeviceFlow { http, provider }
    }

    /// The secrets among a request's parameters: scrubbed from whatever the answer says.
    fn sent_secrets<'p>(params: &[(&str, &'p str)]) -> Vec<&'p str> {
        params
            .iter()
            .filter(|(k, _)| {
                matches!(
                    *k,
                    "client_secret" | "refresh_token" | "device_code" | "client_assertion"
                )
            })
            .map(|(_, v)| *v)
            .collect()
    }

    fn client_params(&self, with_secret: bool) -> Vec<(&'a str, &'a str)> {
        let mut p = vec![("client_id", self.provider.client_id.as_str())];
        if with_secret && let Some(s) = &self.provider.client_secret {
            p.push(("client_secret", s.expose()));
        }
        p
    }

    /// A request to the device or token endpoint in the provider's wire ([`dialect::Wire`]): a
    /// form, or AWS's camelCase JSON.
    fn request(&self, url: &url::Url, params: &[(&str, &str)]) -> reqwest::RequestBuilder {
        self.provider
            .kind
            .dialect()
            .wire()
            .request(self.http, url, params)
    }

    /// An answer as the standard parsers read it (AWS's camelCase members in snake_case).
    fn decode(&self, raw: Raw) -> Raw {
        self.provider.kind.dialect().wire().decode(raw)
    }

    /// RFC 8628 §3.1. Transient faults (5xx, 429 with its `Retry-After`, connection errors, a
    /// cut-off or unreadable 2xx body such as a captive portal's page, Google's quota) are
    /// retried a few times with back-off, as at the token endpoint; configuration errors come
    /// back at once.
    pub async fn start<C: Clock>(&self, clock: &C) -> Result<DeviceAuthorization, FlowError> {
        let scope = self.provider.scope_string();
        let mut params =
            self.client_params(self.provider.kind.dialect().sends_secret(SecretUse::Device));
        if !scope.is_empty() {
            params.push(("scope", scope.as_str()));
        }
        for (k, v) in &self.provider.device_params {
            params.push((k.as_str(), v.as_str()));
        }
        let url = &self.provider.endpoints.device_authorization;
        let mut last = String::new();
        // A busy server's `Retry-After` (429, 503) is honoured like at the token endpoint, up
        // to START_MAX_RETRY_AFTER: someone is waiting for a code.
        let mut retry_after: Option<Duration> = None;
        for attempt in 0..4u32 {
            if attempt > 0 {
                let backoff = Duration::from_secs(1 << (attempt - 1));
                clock
                    .sleep(retry_after.take().map_or(backoff, |ra| ra.max(backoff)))
                    .await;
            }
            let raw = match self.http.send(self.request(url, &params)).await {
                Ok(raw) => self.decode(raw),
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            if let Some(ra) = raw.retry_after.filter(|_| matches!(raw.status, 429 | 503)) {
                if ra > START_MAX_RETRY_AFTER {
                    return Err(FlowError::Unreachable(format!(
                        "device authorization at {} is rate-limited (HTTP {}): the provider asks to wait {} s; try again later",
                        host_of(url),
                        raw.status,
                        ra.as_secs()
                    )));
                }
                retry_after = Some(ra);
            }
            match response::parse_device_authorization(
                raw.status,
                raw.content_type.as_deref(),
                &raw.body,
            ) {
                Ok(auth) => {
                    endpoint_url(&auth.verification_uri).map_err(|e| {
                        FlowError::Malformed(format!(
                            "the provider sent an unusable verification URI: {e}"
                        ))
                    })?;
                    return Ok(auth);
                }
                Err(DeviceReplyError::OAuth(e)) => {
                    let e = e.scrubbed(&Self::sent_secrets(&params));
                    if e.code == "slow_down" {
                        last = "slow_down".into();
                        continue;
                    }
                    let err = self.name_refused_scopes(FlowError::from_oauth(&e, false));
                    // GitHub answers an unknown client_id with 404 {"error":"Not Found"}; any
                    // unrecognised error with 401/403/404 here means the app or URL is wrong.
                    if matches!(err, FlowError::Provider { .. })
                        && matches!(raw.status, 401 | 403 | 404)
                    {
                        return Err(FlowError::InvalidClient {
                            code: format!("HTTP {}", raw.status),
                            description: e.short_description().or(Some(e.code.clone())),
                        });
                    }
                    return Err(err);
                }
                Err(DeviceReplyError::Transient(t)) => last = t,
                Err(DeviceReplyError::Malformed(m)) => {
                    return Err(FlowError::Malformed(format!(
                        "unexpected answer from the device authorization endpoint {}: {m}",
                        host_of(url)
                    )));
                }
            }
        }
        Err(FlowError::Unreachable(format!(
            "device authorization at {} failed after 4 attempts: {last}",
            host_of(url)
        )))
    }

    /// An `invalid_scope` names the requested scopes the provider's text names (shown as
    /// people write them), so the message can say which to drop. Other errors pass through.
    fn name_refused_scopes(&self, err: FlowError) -> FlowError {
        match err {
            FlowError::InvalidScope {
                description,
                refused,
                ..
            } if refused.is_empty() => {
                let dialect = self.provider.kind.dialect();
                let short = |s: &String| dialect.short_scope(s).to_string();
                let refused = description
                    .as_deref()
                    .map(|d| crate::error::scopes_named_in(d, &self.provider.scopes))
                    .unwrap_or_default()
                    .iter()
                    .map(short)
                    .collect();
                FlowError::InvalidScope {
                    description,
                    refused,
                    requested: self.provider.scopes.iter().map(short).collect(),
                }
            }
            other => other,
        }
    }

    /// One poll of the token endpoint (RFC 8628 §3.4).
    pub async fn poll_once(&self, auth: &DeviceAuthorization) -> Result<TokenReply, String> {
        let mut params =
            self.client_params(self.provider.kind.dialect().sends_secret(SecretUse::Poll));
        params.push(("grant_type", DEVICE_CODE_GRANT));
        params.push(("device_code", auth.device_code.expose()));
        let raw = self
            .http
            .send(self.request(&self.provider.endpoints.token, &params))
            .await
            .map(|r| self.decode(r))?;
        Ok(response::classify_token_reply(
            raw.status,
            raw.content_type.as_deref(),
            raw.retry_after,
            &raw.body,
        )
        .scrubbed(&Self::sent_secrets(&params)))
    }

    /// Poll until tokens, a terminal error or the deadline. `on_event` sees every intermediate
    /// answer (for progress output). Returns as soon as tokens arrive: never polls again.
    pub async fn poll<C: Clock>(
        &self,
        auth: &DeviceAuthorization,
        received_at: Instant,
        clock: &C,
        on_event: impl FnMut(&PollEvent),
    ) -> Result<TokenResponse, FlowError> {
        self.poll_until(auth, received_at, clock, on_event, &|| false)
            .await
    }

    /// [`DeviceFlow::poll`] that also ends with [`FlowError::Interrupted`] when `stop()` says so
    /// after a wait — never in the middle of an exchange, so tokens that were issued are never
    /// dropped on the floor.
    pub async fn poll_until<C: Clock>(
        &self,
        auth: &DeviceAuthorization,
        received_at: Instant,
        clock: &C,
        mut on_event: impl FnMut(&PollEvent),
        stop: &(dyn Fn() -> bool + Sync),
    ) -> Result<TokenResponse, FlowError> {
        let mut poller = Poller::new(auth, received_at);
        let mut step = poller.first_wait(clock.now());
        loop {
            match step {
                // Some providers refuse a scope only once it was approved.
                Step::Done(r) => return r.map_err(|e| self.name_refused_scopes(e)),
                Step::Wait(d) => clock.sleep(d).await,
            }
            if stop() {
                return Err(FlowError::Interrupted);
            }
            step = match self.poll_once(auth).await {
                Ok(reply) => poller.on_reply(reply, clock.now()),
                Err(e) => poller.on_transport_error(e, clock.now()),
            };
            if let (Step::Wait(_), Some(ev)) = (&step, poller.last_event()) {
                on_event(ev);
            }
        }
    }

    /// RFC 6749 §6 refresh. Transient faults (including `temporarily_unavailable`,
    /// `server_error` and 5xx OAuth bodies) are retried up to three times; `invalid_grant`,
    /// GitHub's `bad_refresh_token` and Entra's interaction-required answers mean the person must
    /// sign in again ([`crate::error::REFRESH_REAUTH_CODES`]).
    pub async fn refresh<C: Clock>(
        &self,
        refresh_token: &Secret,
        clock: &C,
    ) -> Result<TokenResponse, RefreshError> {
        let scope = self.provider.scope_string();
        let mut params = self.client_params(true);
        params.push(("grant_type", "refresh_token"));
        params.push(("refresh_token", refresh_token.expose()));
        if self.provider.kind.dialect().refresh_sends_scope() && !scope.is_empty() {
            params.push(("scope", scope.as_str()));
        }
        let url = &self.provider.endpoints.token;
        let mut last = String::new();
        for attempt in 0..3u32 {
            if attempt > 0 {
                clock.sleep(Duration::from_millis(500 << attempt)).await;
            }
            let raw = match self.http.send_tracked(self.request(url, &params)).await {
                Ok(r) => self.decode(r),
                // A refresh that may have reached the server is not sent again: if the server
                // rotated the token, replaying the old one would trip reuse detection (Okta,
                // Auth0 and oidc-provider then revoke the whole grant).
                Err(f) if f.maybe_sent => {
                    return Err(RefreshError::Unreachable(format!(
                        "refresh at {} got no complete answer ({}); not retried, so a rotated refresh token is not replayed",
                        host_of(url),
                        f.message
                    )));
                }
                Err(f) => {
                    last = f.message;
                    continue;
                }
            };
            match response::classify_token_reply(
                raw.status,
                raw.content_type.as_deref(),
                raw.retry_after,
                &raw.body,
            )
            .scrubbed(&Self::sent_secrets(&params))
            {
                TokenReply::Tokens(t) => return Ok(t),
                TokenReply::Error(e) if e.is_transient() => last = e.code,
                TokenReply::Error(e)
                    if self
                        .provider
                        .kind
                        .dialect()
                        .refresh_reauth_codes()
                        .contains(&e.code.as_str()) =>
                {
                    return Err(RefreshError::ReauthRequired {
                        description: e.short_description(),
                        code: e.code,
                    });
                }
                TokenReply::Error(e) => return Err(RefreshError::from_oauth(&e)),
                TokenReply::Transient {
                    what, retry_after, ..
                } => {
                    last = what;
                    if let Some(ra) = retry_after {
                        clock.sleep(ra.min(Duration::from_secs(10))).await;
                    }
                }
            }
        }
        Err(RefreshError::Unreachable(format!(
            "refresh at {} failed after 3 attempts: {last}",
            host_of(url)
        )))
    }

    /// Revoke what a logout leaves behind, the way the provider's dialect says
    /// ([`Revocation`]): RFC 7009 where the provider has an endpoint (Google's `/revoke` speaks
    /// the same form), the refresh token first, then the access token; Auth0 the refresh token
    /// only; GitHub's API with the client secret, at the provider's `api_base` (else the
    /// dialect's default), never with the refresh token. A failure is reported as one.
    pub async fn revoke(
        &self,
        access_token: &Secret,
        refresh_token: Option<&Secret>,
    ) -> RevokeOutcome {
        let dialect = self.provider.kind.dialect();
        match dialect.revocation() {
            Revocation::Rfc7009 => {
                // The refresh token first: revoking it usually ends the whole grant.
                let mut outcome = RevokeOutcome::NotSupported("nothing to revoke");
                if let Some(rt) = refresh_token {
                    outcome = self.revoke_rfc7009(rt, "refresh_token").await;
                }
                if !matches!(outcome, RevokeOutcome::Failed(_)) {
                    let at = self.revoke_rfc7009(access_token, "access_token").await;
                    if refresh_token.is_none() || matches!(at, RevokeOutcome::Failed(_)) {
                        outcome = at;
                    }
                }
                outcome
            }
            Revocation::RefreshTokenOnly => match refresh_token {
                Some(rt) => self.revoke_rfc7009(rt, "refresh_token").await,
                None => RevokeOutcome::NotSupported(
                    "the provider revokes refresh tokens only, and there is none; the access token expires on its own",
                ),
            },
            Revocation::GitHubApi => {
                let api = self
                    .provider
                    .api_base
                    .as_deref()
                    .or(dialect.default_api_base());
                self.revoke_github(access_token, refresh_token.is_some(), api)
                    .await
            }
            Revocation::Unsupported(why) => RevokeOutcome::NotSupported(why),
        }
    }

    /// Revoke the tokens of a sign-in that was refused (someone else, or nobody sidekey could
    /// tell): those tokens only, never a revocation that would also end other tokens of the app
    /// for that user — who may be the person, whose stored tokens stay. RFC 7009 revokes the
    /// tokens handed in (and at most their own grant); GitHub's `DELETE …/token`, never
    /// `…/grant` (which ends every token of the app for the user); Auth0's `/oauth/revoke`
    /// ends the refresh token's whole grant (user, app, audience), so nothing is revoked there.
    pub async fn revoke_refused(
        &self,
        access_token: &Secret,
        refresh_token: Option<&Secret>,
    ) -> RevokeOutcome {
        let dialect = self.provider.kind.dialect();
        match dialect.revocation() {
            Revocation::GitHubApi => {
                let api = self
                    .provider
                    .api_base
                    .as_deref()
                    .or(dialect.default_api_base());
                self.revoke_github(access_token, false, api).await
            }
            Revocation::RefreshTokenOnly => RevokeOutcome::NotSupported(
                "the provider revokes a refresh token with its whole grant; the refused tokens are dropped, not revoked",
            ),
            _ => self.revoke(access_token, refresh_token).await,
        }
    }

    async fn revoke_rfc7009(&self, token: &Secret, hint: &str) -> RevokeOutcome {
        let Some(url) = &self.provider.endpoints.revocation else {
            return RevokeOutcome::NotSupported("the provider has no revocation endpoint");
        };
        let mut params =
            self.client_params(self.provider.kind.dialect().sends_secret(SecretUse::Revoke));
        params.push(("token", token.expose()));
        params.push(("token_type_hint", hint));
        for attempt in 0..3u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
            }
            match self.http.send(self.http.form(url, &params)).await {
                Ok(r) if (200..300).contains(&r.status) => return RevokeOutcome::Revoked,
                Ok(r) if r.status >= 500 || r.status == 429 => continue,
                Ok(r) => {
                    let m = response::parse_object(r.content_type.as_deref(), &r.body);
                    let e = m.as_ref().and_then(response::oauth_error);
                    // Google answers 400 invalid_token for a token that is already dead: the goal
                    // (the token no longer works) is reached.
                    if matches!(e.as_ref().map(|e| e.code.as_str()), Some("invalid_token")) {
                        return RevokeOutcome::Revoked;
                    }
                    return RevokeOutcome::Failed(match e {
                        Some(e) => format!(
                            "{} answered {}{}",
                            host_of(url),
                            e.code,
                            e.short_description()
                                .map(|d| format!(": {d}"))
                                .unwrap_or_default()
                        ),
                        None => format!(
                            "{} answered HTTP {} ({})",
                            host_of(url),
                            r.status,
                            describe_body(r.content_type.as_deref(), &r.body)
                        ),
                    });
                }
                Err(e) => {
                    if attempt == 2 {
                        return RevokeOutcome::Failed(e);
                    }
                }
            }
        }
        RevokeOutcome::Failed(format!("{} kept failing", host_of(url)))
    }

    /// GitHub: `DELETE /applications/{client_id}/grant` (with a refresh token: it ends every
    /// token of the app for the user, the `ghr_` one included) or `…/token`, both with the
    /// access token in the body and the client secret in HTTP basic auth. The documented
    /// answers are 204 and 422; GitHub also answers 404 for a token it did not issue to this app
    /// or for wrong app credentials. Only 204 is a revocation (docs.github.com/rest/apps/
    /// oauth-applications; docs/providers.md, "GitHub").
    async fn revoke_github(
        &self,
        access_token: &Secret,
        has_refresh_token: bool,
        api_base: Option<&str>,
    ) -> RevokeOutcome {
        let (Some(secret), Some(api)) = (&self.provider.client_secret, api_base) else {
            return RevokeOutcome::NotSupported(
                "GitHub revokes tokens only with the app's client secret; revoke it in GitHub settings > Applications",
            );
        };
        let what = if has_refresh_token { "grant" } else { "token" };
        let url = format!(
            "{}/applications/{}/{what}",
            api.trim_end_matches('/'),
            self.provider.client_id
        );
        let req = self
            .http
            .client
            .delete(&url)
            .basic_auth(&self.provider.client_id, Some(secret.expose()))
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .json(&serde_json::json!({ "access_token": access_token.expose() }));
        match self.http.send(req).await {
            Ok(r) if r.status == 204 => RevokeOutcome::Revoked,
            Ok(r) => {
                let said = response::parse_object(r.content_type.as_deref(), &r.body)
                    .and_then(|m| m.get("message").and_then(Value::as_str).map(str::to_owned))
                    .map(|m| format!(" ({})", one_line(&m, 120)))
                    .unwrap_or_default();
                let why = match r.status {
                    404 => {
                        ": the token is unknown to this app (already revoked or expired), or the client secret is wrong"
                    }
                    422 => ": GitHub refused the request",
                    _ => "",
                };
                RevokeOutcome::Failed(format!(
                    "GitHub answered HTTP {}{said} to DELETE /applications/{{client_id}}/{what}{why}",
                    r.status
                ))
            }
            Err(e) => RevokeOutcome::Failed(e),
        }
    }

    /// Who signed in: the userinfo-style endpoint, else the ID token's claims (read without
    /// verifying its signature: it came straight from the token endpoint over TLS).
    pub async fn user_info(&self, tokens: &TokenResponse) -> Option<UserInfo> {
        if let Some(url) = &self.provider.endpoints.userinfo {
            let scheme = "Bearer";
            let req = self
                .http
                .client
                .get(url.clone())
                .header(reqwest::header::ACCEPT, "application/json")
                .header(
                    reqwest::header::AUTHORIZATION,
                    format!("{scheme} {}", tokens.access_token.expose()),
                );
            // A transient failure (the network, 5xx, 429) is tried again, three attempts within
            // about 1.5 s: a sign-in whose user cannot be told apart is refused.
            for attempt in 0..3u32 {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
                }
                let Some(req) = req.try_clone() else { break };
                match self.http.send(req).await {
                    Ok(raw) if (200..300).contains(&raw.status) => {
                        if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&raw.body)
                            && let Some(u) = self.provider.kind.dialect().user_from_claims(&m)
                        {
                            return Some(u);
                        }
                        break;
                    }
                    Ok(raw) if raw.status >= 500 || raw.status == 429 => continue,
                    Ok(_) => break,
                    Err(_) => continue,
                }
            }
        }
        tokens
            .id_token
            .as_ref()
            .and_then(|t| id_token_claims(t.expose()))
            .and_then(|m| self.provider.kind.dialect().user_from_id_token(&m))
    }
}

/// The payload of a JWT, decoded without verification: for display only.
pub fn id_token_claims(jwt: &str) -> Option<serde_json::Map<String, Value>> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// OIDC discovery (`/.well-known/openid-configuration`, then RFC 8414's
/// `/.well-known/oauth-authorization-server`). The issuer comparison tolerates a trailing slash
/// (Auth0) and Microsoft's `{tenantid}` placeholder.
pub async fn discover(http: &Http, issuer: &str) -> Result<Endpoints, FlowError> {
    discover_with(http, issuer, None, None).await
}

/// [`discover`] for an account that configures some endpoints itself: a configured device or
/// token endpoint stands in for one the document lacks (some issuers offer the device grant
/// without advertising it), so only the endpoints nobody named must be discovered. The caller
/// still applies its overrides to the result.
pub async fn discover_with(
    http: &Http,
    issuer: &str,
    device_authorization: Option<&url::Url>,
    token_endpoint: Option<&url::Url>,
) -> Result<Endpoints, FlowError> {
    let base = issuer.trim_end_matches('/');
    endpoint_url(base).map_err(FlowError::Config)?;
    let mut last = String::new();
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let url = format!("{base}{path}");
        let raw = match http
            .send(
                http.client
                    .get(&url)
                    .header(reqwest::header::ACCEPT, "application/json"),
            )
            .await
        {
            Ok(r) => r,
            Err(e) => {
                last = e;
                continue;
            }
        };
        if raw.status != 200 {
            last = format!("{url} answered HTTP {}", raw.status);
            continue;
        }
        let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&raw.body) else {
            last = format!("{url} is not a JSON object");
            continue;
        };
        let get = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
        if let Some(iss) = get("issuer") {
            let same = iss.trim_end_matches('/') == base || iss.contains("{tenantid}");
            if !same {
                return Err(FlowError::Config(format!(
                    "discovery at {url} names issuer '{}', not '{base}'",
                    one_line(&iss, 120)
                )));
            }
        }
        let opt = |k: &str| -> Result<Option<url::Url>, FlowError> {
            get(k)
                .map(|u| endpoint_url(&u).map_err(FlowError::Config))
                .transpose()
        };
        let device = match (device_authorization, opt("device_authorization_endpoint")?) {
            (Some(configured), _) => configured.clone(),
            (None, Some(found)) => found,
            (None, None) => {
                return Err(FlowError::Config(format!(
                    "{url} has no device_authorization_endpoint: this issuer does not offer the device flow (or set device_authorization_endpoint in the config)"
                )));
            }
        };
        let token = match (token_endpoint, opt("token_endpoint")?) {
            (Some(configured), _) => configured.clone(),
            (None, Some(found)) => found,
            (None, None) => {
                return Err(FlowError::Config(format!(
                    "{url} has no token_endpoint (or set token_endpoint in the config)"
                )));
            }
        };
        return Ok(Endpoints {
            device_authorization: device,
            token,
            revocation: opt("revocation_endpoint")?,
            userinfo: opt("userinfo_endpoint")?,
            authorization: opt("authorization_endpoint")?,
        });
    }
    Err(FlowError::Unreachable(format!(
        "OIDC discovery for {base} failed: {last}"
    )))
}
