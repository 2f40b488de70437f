//! [`GraphError`]: what can go wrong, in words a person can act on.
//!
//! Graph's error body is `{"error":{"code","message","innerError"?}}` (docs/graph.md,
//! "Errors"). We branch
//! on `code` and the inner code — never on `message` — and keep the message only as a short,
//! single-line hint. No variant ever holds a token: the token lives only in the request's
//! `Authorization` header, and transport errors are described by host, without the URL's path
//! or query (which may carry the person's search text).

use std::fmt;
use std::time::Duration;

/// Everything an operation can fail with. `Display` is one line, safe to show and log.
#[derive(Debug)]
pub enum GraphError {
    /// HTTP 401 `InvalidAuthenticationToken` (or a 401 without a Graph error code): the
    /// caller refreshes the token once and retries; a second 401 means the person must sign
    /// in again. Other 401s are not token problems (see [`GraphError::MailboxNotEnabled`]) and
    /// are [`GraphError::Request`].
    Unauthorized,
    /// HTTP 403: the token lacks a permission. `scope_hint` names the scope to add (the
    /// least-privileged one that would allow the call).
    Forbidden { scope_hint: String },
    /// `MailboxNotEnabledForRESTAPI` (usually 404), or `OrganizationFromTenantGuidNotFound`
    /// (a **401** from mail, calendar and contacts for users or tenants without Exchange Online;
    /// O365/python-o365#757, microsoftgraph/msgraph-sdk-dotnet#1920): the account has no
    /// Exchange Online mailbox Graph can use (typical for some personal accounts and for
    /// unlicensed work accounts). Refreshing the token does not help.
    MailboxNotEnabled,
    /// Still HTTP 429/503 after the retries allowed by the retry policy, or Graph asked for a
    /// wait longer than the policy allows.
    Throttled { retry_after: Option<Duration> },
    /// Any other Graph error.
    Request {
        status: u16,
        code: String,
        message: String,
    },
    /// Could not talk to Graph (connect, TLS, timeout, body cut off).
    Network(String),
    /// Graph (or something in between) answered with something we cannot use: not JSON, over
    /// the size limit, missing fields, a nextLink to another host.
    Malformed(String),
    /// The caller passed an argument that cannot work (e.g. `BirthdayFilter::Month(13)`).
    Invalid(String),
    /// A write reached Graph but its answer did not come back as one (a timeout or a lost
    /// connection after the request was sent, a 5xx, an answer over the size limit): the change
    /// may have been made. Not sent again by the client (docs/graph.md, "Writes"); the text is
    /// what happened, without a URL.
    Unconfirmed(String),
}

impl GraphError {
    /// True for [`GraphError::Unauthorized`]: refresh the token and retry once.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, GraphError::Unauthorized)
    }

    /// A short stable name for JSON output and audit entries.
    pub fn kind(&self) -> &'static str {
        match self {
            GraphError::Unauthorized => "unauthorized",
            GraphError::Forbidden { .. } => "forbidden",
            GraphError::MailboxNotEnabled => "mailbox_not_enabled",
            GraphError::Throttled { .. } => "throttled",
            GraphError::Request { .. } => "graph_error",
            GraphError::Network(_) => "network",
            GraphError::Malformed(_) => "malformed",
            GraphError::Invalid(_) => "invalid_argument",
            GraphError::Unconfirmed(_) => "unconfirmed",
        }
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::Unauthorized => write!(
                f,
                "Microsoft Graph rejected the access token (HTTP 401); re-authentication needed if a refreshed token fails too"
            ),
            GraphError::Forbidden { scope_hint } => write!(
                f,
                "Microsoft Graph denied access (HTTP 403): add the permission {scope_hint} to the account's scopes and sign in again"
            ),
            GraphError::MailboxNotEnabled => write!(
                f,
                "this account has no Exchange Online mailbox that Microsoft Graph can use (MailboxNotEnabledForRESTAPI), so mail, calendar and contacts are unavailable"
            ),
            GraphError::Throttled { retry_after } => match retry_after {
                Some(d) => write!(
                    f,
                    "Microsoft Graph is throttling requests; try again in {:.1} s",
                    d.as_secs_f64()
                ),
                None => write!(f, "Microsoft Graph is throttling requests; try again later"),
            },
            GraphError::Request {
                status,
                code,
                message,
            } => {
                if code.is_empty() {
                    write!(f, "Microsoft Graph error (HTTP {status}): {message}")
                } else if message.is_empty() {
                    write!(f, "Microsoft Graph error {code} (HTTP {status})")
                } else {
                    write!(f, "Microsoft Graph error {code} (HTTP {status}): {message}")
                }
            }
            GraphError::Network(m) => write!(f, "cannot reach Microsoft Graph: {m}"),
            GraphError::Malformed(m) => write!(f, "unexpected answer from Microsoft Graph: {m}"),
            GraphError::Invalid(m) => write!(f, "invalid request: {m}"),
            GraphError::Unconfirmed(m) => write!(
                f,
                "Microsoft Graph received the request but its answer was lost ({m}): it may have been carried out"
            ),
        }
    }
}

impl std::error::Error for GraphError {}

/// One printable line of at most `max` characters (shared with the other crates).
pub(crate) use sidekey_net::one_line;

/// `code`, inner `code` (key matched case-insensitively: `innerError`/`innererror`) and the
/// message of a Graph error body.
pub(crate) fn error_parts(body: &serde_json::Value) -> (String, String, String) {
    let err = body.get("error");
    let s = |v: Option<&serde_json::Value>| {
        v.and_then(|v| v.as_str())
            .map(|s| one_line(s, 200))
            .unwrap_or_default()
    };
    let code = s(err.and_then(|e| e.get("code")));
    let message = s(err.and_then(|e| e.get("message")));
    let inner = err
        .and_then(|e| e.as_object())
        .and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("innererror"))
                .map(|(_, v)| v)
        })
        .and_then(|i| i.get("code"));
    (code, s(inner), message)
}

/// Maps a non-success status and its JSON body (may be `Null`) to an error. `scope_hint`
/// names the scope to suggest on 403.
pub(crate) fn classify(
    status: u16,
    body: &serde_json::Value,
    retry_after: Option<Duration>,
    scope_hint: &str,
) -> GraphError {
    let (code, inner, message) = error_parts(body);
    let mailbox = |c: &str| {
        let c = c.to_ascii_lowercase();
        c.contains("mailboxnotenabled") || c == "organizationfromtenantguidnotfound"
    };
    if mailbox(&code) || mailbox(&inner) {
        return GraphError::MailboxNotEnabled;
    }
    // Only a rejected token is worth a refresh (docs/graph.md, "Errors").
    let token = |c: &str| c.eq_ignore_ascii_case("InvalidAuthenticationToken");
    match status {
        401 if code.is_empty() || token(&code) || token(&inner) => GraphError::Unauthorized,
        403 => GraphError::Forbidden {
            scope_hint: scope_hint.to_string(),
        },
        429 | 503 => GraphError::Throttled { retry_after },
        _ => GraphError::Request {
            status,
            code,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mailbox_code_found_inside_inner_error_of_a_403() {
        let body = json!({"error":{"code":"ErrorAccessDenied","message":"x","InnerError":{"code":"MailboxNotEnabledForRESTAPI"}}});
        assert!(matches!(
            classify(403, &body, None, "Mail.ReadBasic"),
            GraphError::MailboxNotEnabled
        ));
    }

    #[test]
    fn only_a_token_rejection_is_unauthorized() {
        let body = |code: &str| json!({"error":{"code":code,"message":"m"}});
        // Token problems: refresh and retry.
        assert!(classify(401, &body("InvalidAuthenticationToken"), None, "x").is_unauthorized());
        assert!(classify(401, &serde_json::Value::Null, None, "x").is_unauthorized());
        assert!(
            classify(401, &json!({"error":{"message":"no code"}}), None, "x").is_unauthorized()
        );
        // No Exchange Online for this user/tenant, at any status: the "no mailbox" error.
        for status in [401, 403, 404] {
            assert!(matches!(
                classify(
                    status,
                    &body("OrganizationFromTenantGuidNotFound"),
                    None,
                    "x"
                ),
                GraphError::MailboxNotEnabled
            ));
        }
        // Another 401 is reported as it is, without a refresh.
        let e = classify(401, &body("SomethingElse"), None, "x");
        assert!(
            matches!(&e, GraphError::Request { status: 401, code, .. } if code == "SomethingElse"),
            "{e:?}"
        );
    }
}
