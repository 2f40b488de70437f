//! The AWS access portal API (`portal.sso.{region}.amazonaws.com`, service model
//! `botocore/data/sso/2019-06-10/service-2.json`; docs/aws.md): the accounts and roles an IAM
//! Identity Center user may use, and short-lived role credentials.
//!
//! Every call carries the Identity Center access token in the `x-amz-sso_bearer_token` header
//! (no SigV4). Answers are camelCase JSON; errors are `{"message": …}` with HTTP 400
//! (InvalidRequestException), 401 (UnauthorizedException: the token is invalid or expired),
//! 404 (ResourceNotFoundException) or 429 (TooManyRequestsException). A 429 is retried a few
//! times (honouring `Retry-After` within a bound); a 401 is returned as
//! [`PortalError::Unauthorized`] for the caller to refresh once and retry (the contract of the
//! Graph calls). No error ever holds the access token or a credential: the token lives only in
//! the request header, and the portal's `message` is cut to one line.

use serde::{Deserialize, Serialize};
use sidekey_net::{Secret, one_line};
use std::fmt;
use std::time::Duration;
use url::Url;

/// `x-amz-sso_bearer_token`: where the portal wants the access token.
pub const BEARER_HEADER: &str = "x-amz-sso_bearer_token";
/// Pages of `ListAccounts`/`ListAccountRoles` followed at most (100 entries each).
pub const MAX_PAGES: usize = 50;
const MAX_BODY: usize = 1024 * 1024;
const RETRIES_429: u32 = 3;
const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub enum PortalError {
    /// HTTP 401: refresh the token once and retry; a second 401 means "sign in again".
    Unauthorized,
    /// Still HTTP 429 after the retries.
    Throttled,
    /// HTTP 404: no such account or role for this user (or no access to it).
    NotFound(String),
    /// HTTP 400 or another status.
    Request {
        status: u16,
        message: String,
    },
    Network(String),
    Malformed(String),
}

impl PortalError {
    pub fn kind(&self) -> &'static str {
        match self {
            PortalError::Unauthorized => "unauthorized",
            PortalError::Throttled => "throttled",
            PortalError::NotFound(_) => "not_found",
            PortalError::Request { .. } => "portal_error",
            PortalError::Network(_) => "network",
            PortalError::Malformed(_) => "malformed",
        }
    }
}

impl fmt::Display for PortalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortalError::Unauthorized => write!(
                f,
                "the AWS access portal rejected the access token (HTTP 401 UnauthorizedException)"
            ),
            PortalError::Throttled => write!(
                f,
                "the AWS access portal kept answering HTTP 429 TooManyRequestsException; try again shortly"
            ),
            PortalError::NotFound(m) => write!(
                f,
                "the AWS access portal has no such account or role for this user (HTTP 404{m})"
            ),
            PortalError::Request { status, message } => {
                write!(f, "the AWS access portal answered HTTP {status}{message}")
            }
            PortalError::Network(m) => write!(f, "cannot reach the AWS access portal: {m}"),
            PortalError::Malformed(m) => {
                write!(f, "unexpected answer from the AWS access portal: {m}")
            }
        }
    }
}

impl std::error::Error for PortalError {}

/// `123456789012/ReadOnly`: a 12-digit AWS account id, a slash, an IAM role name (1–64 of
/// letters, digits and `+=,.@_-`), as the portal's `GetRoleCredentials` takes them.
pub fn valid_role(pair: &str) -> bool {
    let Some((account, role)) = pair.split_once('/') else {
        return false;
    };
    valid_account_id(account) && valid_role_name(role)
}

/// A 12-digit AWS account id.
pub fn valid_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// An IAM role name: 1–64 of letters, digits and `+=,.@_-`.
pub fn valid_role_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// One entry of `ListAccounts`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AwsAccount {
    pub account_id: String,
    pub account_name: Option<String>,
    pub email_address: Option<String>,
}

/// One entry of `ListAccountRoles`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AwsRole {
    pub account_id: String,
    pub role_name: String,
}

/// `GetRoleCredentials`' `roleCredentials`. `expiration` is epoch **milliseconds** on the wire.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct RoleCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    /// Epoch milliseconds.
    pub expiration_ms: i64,
}

/// A portal client for one region (or a test's fake).
#[derive(Clone)]
pub struct Portal {
    client: reqwest::Client,
    base: Url,
}

impl Portal {
    pub fn new(client: reqwest::Client, base: &str) -> Result<Portal, PortalError> {
        let base = Url::parse(base.trim_end_matches('/'))
            .map_err(|e| PortalError::Malformed(format!("portal base URL: {e}")))?;
        Ok(Portal { client, base })
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let mut u = self.base.clone();
        u.set_path(&format!("{}{path}", self.base.path().trim_end_matches('/')));
        if !query.is_empty() {
            u.query_pairs_mut().extend_pairs(query);
        }
        u
    }

    /// One request with the bearer header; 429 retried; the JSON object of a 2xx answer.
    async fn call(
        &self,
        post: bool,
        url: Url,
        token: &Secret,
    ) -> Result<serde_json::Map<String, serde_json::Value>, PortalError> {
        let mut attempt = 0;
        loop {
            let req = if post {
                self.client.post(url.clone())
            } else {
                self.client.get(url.clone())
            };
            let req = req
                .header(BEARER_HEADER, token.expose())
                .header(reqwest::header::ACCEPT, "application/json");
            // The client carries the timeout.
            let reply = sidekey_net::send(req, sidekey_net::Bounds::new(MAX_BODY))
                .await
                .map_err(|e| PortalError::Network(e.to_string()))?;
            let (status, retry_after, body) = (reply.status, reply.retry_after, reply.body);
            let obj = match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(serde_json::Value::Object(m)) => Some(m),
                _ => None,
            };
            let message = obj
                .as_ref()
                .and_then(|m| m.get("message").or_else(|| m.get("Message")))
                .and_then(|v| v.as_str())
                .map(|m| {
                    format!(
                        ": {}",
                        one_line(&sidekey_net::scrub(m, &[token.expose()]), 200)
                    )
                })
                .unwrap_or_default();
            match status {
                200..=299 => {
                    // Logout answers an empty body.
                    return Ok(obj.unwrap_or_default());
                }
                401 => return Err(PortalError::Unauthorized),
                404 => return Err(PortalError::NotFound(message)),
                429 | 500..=599 if attempt < RETRIES_429 => {
                    attempt += 1;
                    let backoff = Duration::from_millis(250 << attempt);
                    let wait = retry_after.unwrap_or(backoff).min(MAX_RETRY_WAIT);
                    tokio::time::sleep(wait).await;
                }
                429 => return Err(PortalError::Throttled),
                _ => return Err(PortalError::Request { status, message }),
            }
        }
    }

    /// Every page of a portal list (`next_token`, `max_result`): the entries under `list_key`,
    /// each read by `entry`; at most [`MAX_PAGES`] pages.
    async fn every_page<T>(
        &self,
        token: &Secret,
        path: &str,
        query: &[(&str, &str)],
        list_key: &str,
        what: &str,
        entry: impl Fn(&serde_json::Value) -> Result<T, PortalError>,
    ) -> Result<Vec<T>, PortalError> {
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut q = query.to_vec();
            q.push(("max_result", "100"));
            if let Some(n) = &next {
                q.push(("next_token", n.as_str()));
            }
            let m = self.call(false, self.url(path, &q), token).await?;
            if let Some(list) = m.get(list_key).and_then(|v| v.as_array()) {
                for e in list {
                    out.push(entry(e)?);
                }
            }
            next = m
                .get("nextToken")
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            if next.is_none() {
                return Ok(out);
            }
        }
        Err(PortalError::Malformed(format!(
            "more than {MAX_PAGES} pages of {what}"
        )))
    }

    /// `GET /assignment/accounts`, every page.
    pub async fn list_accounts(&self, token: &Secret) -> Result<Vec<AwsAccount>, PortalError> {
        self.every_page(
            token,
            "/assignment/accounts",
            &[],
            "accountList",
            "accounts",
            |a| {
                let s = |k: &str| a.get(k).and_then(|v| v.as_str()).map(str::to_owned);
                let Some(id) = s("accountId") else {
                    return Err(PortalError::Malformed(
                        "an account without accountId".into(),
                    ));
                };
                Ok(AwsAccount {
                    account_id: id,
                    account_name: s("accountName"),
                    email_address: s("emailAddress"),
                })
            },
        )
        .await
    }

    /// `GET /assignment/roles?account_id=…`, every page.
    pub async fn list_roles(
        &self,
        token: &Secret,
        account_id: &str,
    ) -> Result<Vec<AwsRole>, PortalError> {
        self.every_page(
            token,
            "/assignment/roles",
            &[("account_id", account_id)],
            "roleList",
            "roles",
            |r| {
                let s = |k: &str| r.get(k).and_then(|v| v.as_str()).map(str::to_owned);
                let Some(role) = s("roleName") else {
                    return Err(PortalError::Malformed("a role without roleName".into()));
                };
                Ok(AwsRole {
                    account_id: s("accountId").unwrap_or_else(|| account_id.to_string()),
                    role_name: role,
                })
            },
        )
        .await
    }

    /// `GET /federation/credentials?role_name=…&account_id=…`.
    pub async fn role_credentials(
        &self,
        token: &Secret,
        account_id: &str,
        role_name: &str,
    ) -> Result<RoleCredentials, PortalError> {
        let url = self.url(
            "/federation/credentials",
            &[("role_name", role_name), ("account_id", account_id)],
        );
        let m = self.call(false, url, token).await?;
        let c = m
            .get("roleCredentials")
            .and_then(|v| v.as_object())
            .ok_or_else(|| PortalError::Malformed("no roleCredentials".into()))?;
        let s = |k: &str| c.get(k).and_then(|v| v.as_str()).filter(|s| !s.is_empty());
        let (Some(id), Some(secret), Some(session), Some(exp)) = (
            s("accessKeyId"),
            s("secretAccessKey"),
            s("sessionToken"),
            c.get("expiration").and_then(|v| v.as_i64()),
        ) else {
            return Err(PortalError::Malformed(
                "roleCredentials lacks accessKeyId, secretAccessKey, sessionToken or expiration"
                    .into(),
            ));
        };
        Ok(RoleCredentials {
            access_key_id: id.to_string(),
            secret_access_key: Secret::new(secret),
            session_token: Secret::new(session),
            expiration_ms: exp,
        })
    }

    /// `POST /logout`: ends the portal session (role credentials already issued keep working
    /// until they expire).
    pub async fn logout(&self, token: &Secret) -> Result<(), PortalError> {
        self.call(true, self.url("/logout", &[]), token)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_pairs_are_account_id_slash_role_name() {
        assert!(valid_role("123456789012/Read.Only-1"));
        assert!(!valid_role("123456789012"));
        assert!(!valid_role("12345678901/R"));
        assert!(!valid_role("123456789012/a/b"));
    }
}
