//! The authorization-code sign-in (`flow = "code"`): a PKCE request with a loopback redirect,
//! and the wait for that redirect, on the listener or pasted back into the pending slot.

use super::job::Job;
use super::pending::{CodeGrant, Pending, PendingStore};
use crate::account::now_unix;
use crate::error::{Exit, Failure, Reason};
use sidekey_flow::{DeviceFlow, Provider, TokenResponse, pkce};
use std::time::Duration;

/// How long a code-flow sign-in waits for its redirect.
const CODE_FLOW_WAIT_SECS: u64 = 600;

/// One request on the loopback listener: `Some(answer)` for a redirect carrying this
/// sign-in's state (a code or a refusal), `None` for anything else (a favicon, a stray or
/// forged request), which gets a 400 and is otherwise ignored.
async fn loopback_answer(
    mut sock: tokio::net::TcpStream,
    redirect_uri: &str,
    state: &str,
) -> Option<Result<sidekey_flow::Secret, pkce::RedirectError>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 8192];
    let mut n = 0;
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        while n < buf.len() {
            let k = sock.read(&mut buf[n..]).await.ok()?;
            if k == 0 {
                break;
            }
            n += k;
            if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        Some(())
    })
    .await;
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    let target = read
        .ok()
        .flatten()
        .and_then(|_| head.lines().next().map(str::to_string))
        .and_then(|l| {
            l.strip_prefix("GET ")
                .map(|r| r.split(' ').next().unwrap_or("").to_string())
        });
    let answer = target.and_then(|t| {
        let base = url::Url::parse(redirect_uri).ok()?;
        let full = base.join(&t).ok()?;
        match pkce::parse_redirect(full.as_str(), state) {
            Err(pkce::RedirectError::StateMismatch) | Err(pkce::RedirectError::NotAUrl) => None,
            other => Some(other),
        }
    });
    let (status, text) = match &answer {
        Some(Ok(_)) => (
            "200 OK",
            "sidekey received the sign-in. You can close this tab.",
        ),
        Some(Err(_)) => (
            "200 OK",
            "sidekey received the answer: the sign-in was not approved. You can close this tab.",
        ),
        None => (
            "400 Bad Request",
            "This is not a redirect sidekey is waiting for.",
        ),
    };
    let body = format!("<!doctype html><meta charset=utf-8><title>sidekey</title><p>{text}</p>");
    let _ = sock
        .write_all(
            format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await;
    let _ = sock.shutdown().await;
    answer
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
            }),
            notify_code: false,
            replace_identity: false,
            told: false,
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
        let answer = loop {
            if self.stop.is_raised() {
                return Err(Failure::from_flow(sidekey_flow::FlowError::Interrupted));
            }
            if now_unix() >= pending.expires_at() {
                return Err(Failure::from_flow(sidekey_flow::FlowError::Expired));
            }
            let pasted = store.load()?.and_then(|p| p.code).and_then(|c| c.pasted);
            if let Some(url) = pasted {
                break pkce::parse_redirect(url.expose(), &state);
            }
            let accepted = match &listener {
                Some(l) => tokio::time::timeout(Duration::from_millis(250), l.accept())
                    .await
                    .ok()
                    .and_then(|r| r.ok()),
                None => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    None
                }
            };
            if let Some((sock, _)) = accepted
                && let Some(r) = loopback_answer(sock, &grant.request.redirect_uri, &state).await
            {
                break r;
            }
        };
        if let Some(c) = pending.code.as_mut() {
            c.pasted = None;
        }
        let code = match answer {
            Ok(code) => code,
            Err(pkce::RedirectError::Refused { code, description }) => {
                return Err(Failure::from_flow(sidekey_flow::FlowError::from_oauth(
                    &sidekey_flow::OAuthError {
                        code,
                        description,
                        interval: None,
                    },
                    false,
                )));
            }
            Err(e) => return Err(Failure::new(Exit::Policy, Reason::Policy, e.to_string())),
        };
        DeviceFlow::new(self.ctx.http()?, provider)
            .exchange_code(&code, &grant.request)
            .await
            .map_err(|e| Failure::from_flow(e.for_provider(self.account.kind)))
    }
}
