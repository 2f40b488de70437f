//! Webhook: `POST` the [`Event`] as JSON (the same line `sidekey login --json` prints), with
//! an optional bearer token. Any 2xx is success; 408/429/5xx and transport errors are retried
//! (at most 3 attempts), anything else is reported. The URL is never quoted in errors: webhook
//! URLs often carry a secret of their own.

use crate::http;
use crate::{Event, RetryPolicy, WebhookConfig};

pub(crate) const NAME: &str = "webhook";
const LABEL: &str = "webhook";

pub(crate) async fn send(
    client: &reqwest::Client,
    cfg: &WebhookConfig,
    policy: &RetryPolicy,
    event: &Event,
) -> Result<(), String> {
    let url = cfg.url.trim();
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
        _ => return Err(format!("{LABEL}: the URL is not an http(s) URL")),
    }
    let body = serde_json::to_value(event).map_err(|_| format!("{LABEL}: cannot encode event"))?;
    send_json(client, cfg, policy, &body).await
}

/// POST `body` as JSON (an event, or `sidekey notify test`'s test message).
pub(crate) async fn send_json(
    client: &reqwest::Client,
    cfg: &WebhookConfig,
    policy: &RetryPolicy,
    body: &serde_json::Value,
) -> Result<(), String> {
    let url = cfg.url.trim();
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
        _ => return Err(format!("{LABEL}: the URL is not an http(s) URL")),
    }
    let body = serde_json::to_vec(body).map_err(|_| format!("{LABEL}: cannot encode event"))?;
    let bearer = cfg
        .bearer
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty());
    if bearer.is_some_and(|b| reqwest::header::HeaderValue::from_str(b).is_err()) {
        return Err(format!(
            "{LABEL}: the bearer token contains characters not allowed in a header"
        ));
    }
    let deadline = http::deadline(policy);
    http::with_retries(
        LABEL,
        policy,
        policy.attempts.min(3),
        deadline,
        || {
            let mut req = client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            if let Some(b) = bearer {
                req = req.bearer_auth(b);
            }
            http::attempt(req, policy, deadline)
        },
        http::judge_plain,
    )
    .await
    .map(|_| ())
}
