//! The authorization-code sign-in (`flow = "code"`): a PKCE request with a loopback redirect,
//! and the wait for that redirect, on the listener or pasted back into the pending slot.

use super::job::Job;
use super::pending::{CodeGrant, Pending, PendingStore, Starter};
use crate::account::now_unix;
use crate::error::{Exit, Failure, Reason};
use sidekey_flow::{DeviceFlow, Provider, TokenResponse, pkce};
use std::time::Duration;

/// How long a code-flow sign-in waits for its redirect.
const CODE_FLOW_WAIT_SECS: u64 = 600;

/// Where a redirect came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    /// The loopback listener: the provider's redirect in the person's browser — or anyone on
    /// this machine who knows the link (the agent can read it).
    Loopback,
    /// Pasted into the slot (`login --paste-url`, `POST /v1/login/NAME/redirect`) by them.
    Pasted(Starter),
}

/// The error codes a redirect may carry that OAuth defines (RFC 6749 §4.1.2.1, OpenID Connect
/// Core §3.1.2.6): shown by name. Anything else is somebody's own word, not shown.
const REDIRECT_ERRORS: &[&str] = &[
    "invalid_request",
    "unauthorized_client",
    "access_denied",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
    "invalid_request_uri",
    "invalid_request_object",
    "request_not_supported",
    "request_uri_not_supported",
    "registration_not_supported",
];

/// The outcome of a redirect that carried `error=`, in sidekey's words. The redirect's
/// `error_description` is never shown: whoever sent the redirect chose it, and the outcome
/// reaches the person's channels. A paste is named after who pasted it; a refusal on the
/// loopback listener shows its error code when OAuth defines it.
fn refusal(code: &str, via: Via) -> Failure {
    let known = REDIRECT_ERRORS.iter().find(|k| **k == code).copied();
    let said = known.unwrap_or("an error code OAuth does not define");
    // The exit code and reason of what the code means (an unknown one: a refusal).
    let meant = Failure::from_flow(sidekey_flow::FlowError::from_oauth(
        &sidekey_flow::OAuthError {
            code: known.unwrap_or("access_denied").to_string(),
            description: None,
            interval: None,
        },
        false,
    ));
    match via {
        Via::Pasted(Starter::Agent) => Failure::new(
            Exit::Declined,
            Reason::Declined,
            "the sign-in was cancelled from the agent's side",
        ),
        Via::Pasted(Starter::Person) => Failure::new(
            meant.exit,
            meant.reason,
            format!("the sign-in was cancelled by the person (the pasted redirect said {said})"),
        ),
        Via::Loopback => Failure::new(
            meant.exit,
            meant.reason,
            format!("the sign-in was not approved: the redirect said {said}"),
        ),
    }
}

/// A failure of a code-flow sign-in worded for it: the link expired, or the provider no
/// longer takes the link's authorization code. It is never called a device code.
fn link_failure(e: sidekey_flow::FlowError, account: &str) -> Failure {
    let again = format!("run `sidekey login {account}` for a new link");
    match e {
        sidekey_flow::FlowError::Expired => Failure::new(
            Exit::Declined,
            Reason::Expired,
            format!("the sign-in link expired before the sign-in was finished; {again}"),
        ),
        sidekey_flow::FlowError::BadCode { code, description } => Failure::new(
            Exit::Declined,
            Reason::BadCode,
            format!(
                "the provider no longer accepts the code from the sign-in link ({code}){}; {again}",
                description.map(|d| format!(": {d}")).unwrap_or_default()
            ),
        ),
        other => Failure::from_flow(other),
    }
}

type Answer = Result<sidekey_flow::Secret, pkce::RedirectError>;

/// What a redirect's answer means for the sign-in: the code to exchange, or the failure.
fn outcome(answer: Answer, via: Via) -> Result<sidekey_flow::Secret, Failure> {
    match answer {
        Ok(code) => Ok(code),
        Err(pkce::RedirectError::Refused { code, .. }) => Err(refusal(&code, via)),
        Err(e) => Err(Failure::new(Exit::Policy, Reason::Policy, e.to_string())),
    }
}

/// What a sign-in waiting with `state` makes of `url` pasted by the person or the agent (the
/// fuzz target of the pasted redirect).
pub(crate) fn pasted_outcome(
    url: &str,
    state: &str,
    by_person: bool,
) -> Result<sidekey_flow::Secret, Failure> {
    let by = if by_person {
        Starter::Person
    } else {
        Starter::Agent
    };
    outcome(pkce::parse_redirect(url, state), Via::Pasted(by))
}

/// The loopback listener ([`crate::loopback`]), until dropped: a redirect carrying this
/// sign-in's state (a code or a refusal) is sent on `found`; anything else gets a 400.
fn serve_loopback(
    listener: tokio::net::TcpListener,
    redirect_uri: String,
    state: String,
    found: tokio::sync::mpsc::Sender<Answer>,
) -> crate::loopback::Loopback {
    crate::loopback::serve(
        listener,
        redirect_uri,
        move |full| match pkce::parse_redirect(full, &state) {
            Err(pkce::RedirectError::StateMismatch) | Err(pkce::RedirectError::NotAUrl) => None,
            Ok(code) => Some((
                Ok(code),
                "sidekey received the sign-in. You can close this tab.",
            )),
            Err(e) => Some((
                Err(e),
                "sidekey received the answer: the sign-in was not approved. You can close this tab.",
            )),
        },
        found,
    )
}

impl Job {
    /// `flow = "code"`: a verifier and state (kept in the pending slot), a loopback listener
    /// for the redirect, and the authorization URL to send the person to.
    pub(super) async fn request_authorization(
        &self,
        store: &PendingStore,
    ) -> Result<(Pending, Option<tokio::net::TcpListener>), Failure> {
        let http = self.ctx.http()?;
        let provider = self.account.resolve(http).await?;
        let Some(endpoint) = provider.endpoints.authorization.clone() else {
            return Err(Failure::config(format!(
                "account '{}' has flow = \"code\" but no authorization endpoint is known: set authorization_endpoint",
                self.account.name
            )));
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| Failure::internal(format!("cannot listen on 127.0.0.1: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| Failure::internal(format!("cannot listen on 127.0.0.1: {e}")))?
            .port();
        let request = pkce::CodeRequest::new(&pkce::loopback_redirect_uri(port))
            .map_err(Failure::from_flow)?;
        let url = pkce::authorization_url(&endpoint, &provider, &request);
        let e = &provider.endpoints;
        let pending = Pending {
            auth: sidekey_flow::DeviceAuthorization {
                device_code: sidekey_flow::Secret::new(""),
                user_code: String::new(),
                verification_uri: url.to_string(),
                verification_uri_complete: None,
                message: None,
                expires_in: CODE_FLOW_WAIT_SECS,
                interval: 1,
            },
            received_at: now_unix(),
            provider: self.account.kind.name().to_string(),
            scopes: provider.scopes.clone(),
            device_endpoint: e.device_authorization.to_string(),
            token_endpoint: e.token.to_string(),
            revocation_endpoint: e.revocation.as_ref().map(|u| u.to_string()),
            userinfo_endpoint: e.userinfo.as_ref().map(|u| u.to_string()),
            handover_at: None,
            code: Some(CodeGrant {
                request,
                pasted: None,
                pasted_by: None,
            }),
            notify_code: false,
            replace_identity: false,
            told: false,
            started_by: self.begin.by,
            outcome: None,
        };
        store.save(&pending).await?;
        Ok((pending, Some(listener)))
    }

    /// Wait for the redirect: on the loopback listener, or pasted into the slot by
    /// `login --paste-url` / `POST /v1/login/NAME/redirect`; then exchange the code, once.
    pub(super) async fn await_redirect(
        &self,
        store: &PendingStore,
        provider: &Provider,
        pending: &mut Pending,
        listener: Option<tokio::net::TcpListener>,
    ) -> Result<TokenResponse, Failure> {
        let Some(grant) = pending.code.clone() else {
            return Err(Failure::internal("not a code-flow sign-in"));
        };
        let state = grant.request.state.expose().to_string();
        // A resumed sign-in listens again on its redirect's port if it can; else paste-back only.
        let listener = match listener {
            Some(l) => Some(l),
            None => match url::Url::parse(&grant.request.redirect_uri)
                .ok()
                .and_then(|u| u.port())
            {
                Some(port) => tokio::net::TcpListener::bind(("127.0.0.1", port))
                    .await
                    .ok(),
                None => None,
            },
        };
        let (found, mut answers) = tokio::sync::mpsc::channel(4);
        let _listening = listener
            .map(|l| serve_loopback(l, grant.request.redirect_uri.clone(), state.clone(), found));
        let name = self.account.name.as_str();
        let (answer, via) = loop {
            if self.stop.is_raised() {
                return Err(Failure::from_flow(sidekey_flow::FlowError::Interrupted));
            }
            if now_unix() >= pending.expires_at() {
                return Err(link_failure(sidekey_flow::FlowError::Expired, name));
            }
            if let Some(c) = store.load()?.and_then(|p| p.code)
                && let Some(url) = c.pasted
            {
                // A slot from before `pasted_by` was kept: never say the person did it.
                let by = c.pasted_by.unwrap_or(Starter::Agent);
                break (pkce::parse_redirect(url.expose(), &state), Via::Pasted(by));
            }
            tokio::select! {
                Some(a) = answers.recv() => break (a, Via::Loopback),
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        };
        if let Some(c) = pending.code.as_mut() {
            c.pasted = None;
            c.pasted_by = None;
        }
        let code = outcome(answer, via)?;
        DeviceFlow::new(self.ctx.http()?, provider)
            .exchange_code(&code, &grant.request)
            .await
            .map_err(|e| link_failure(e.for_provider(self.account.kind), name))
    }
}
