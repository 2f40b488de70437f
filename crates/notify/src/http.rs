//! The HTTP plumbing every channel shares: one attempt (with timeout and a body cap) and the
//! bounded retry loop. Body cap, `Retry-After` and error descriptions (`scheme://host[:port]`,
//! never the path that holds Telegram's bot token) come from `sidekey-net`.

use std::time::Duration;

use tokio::time::Instant;

use crate::RetryPolicy;

/// No channel needs more of a reply than this (Telegram echoes the message: a few KB).
const MAX_REPLY: usize = 256 * 1024;

/// A response, read completely (up to [`MAX_REPLY`]).
pub(crate) struct Reply {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// What a channel makes of a [`Reply`].
pub(crate) enum Verdict {
    Done,
    /// Worth trying again, after `after` if the server said so, else after the backoff.
    Retry {
        after: Option<Duration>,
        why: String,
    },
    Fail(String),
}

/// `now + total`, saturating at a day (a policy with an absurd `total` must not panic).
pub(crate) fn deadline(policy: &RetryPolicy) -> Instant {
    let now = Instant::now();
    now.checked_add(policy.total)
        .unwrap_or(now + Duration::from_secs(86_400))
}

/// Sends once: per-request timeout (never past `deadline`), reply read up to the cap.
pub(crate) async fn attempt(
    req: reqwest::RequestBuilder,
    policy: &RetryPolicy,
    deadline: Instant,
) -> Result<Reply, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    let timeout = policy
        .request_timeout
        .min(left)
        .max(Duration::from_millis(1));
    let bounds = sidekey_net::Bounds::new(MAX_REPLY).timeout(timeout);
    match sidekey_net::send(req, bounds).await {
        Ok(r) => Ok(Reply {
            status: r.status,
            retry_after: r.retry_after,
            body: r.body,
        }),
        // No channel reads more than the status of an oversized reply (Telegram's envelope is
        // small): it is judged without a body rather than sent again.
        Err(sidekey_net::SendError::TooLarge {
            status,
            retry_after,
            ..
        }) => Ok(Reply {
            status,
            retry_after,
            body: Vec::new(),
        }),
        Err(e) => Err(e.to_string()),
    }
}

/// Calls `send` until `judge` says done or fail, at most `attempts` times and never past
/// `deadline`. Transport errors count as retryable. Errors come back as one line, prefixed
/// with `label` ("Telegram: …"), saying how often it was tried.
pub(crate) async fn with_retries<F, Fut>(
    label: &str,
    policy: &RetryPolicy,
    attempts: u32,
    deadline: Instant,
    mut send: F,
    judge: impl Fn(&Reply) -> Verdict,
) -> Result<Reply, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Reply, String>>,
{
    let attempts = attempts.max(1);
    let mut backoff = policy.backoff;
    let mut n = 0;
    loop {
        n += 1;
        let (after, why) = match send().await {
            Ok(reply) => match judge(&reply) {
                Verdict::Done => return Ok(reply),
                Verdict::Fail(e) => return Err(format!("{label}: {e}")),
                Verdict::Retry { after, why } => (after, why),
            },
            Err(e) => (None, e),
        };
        let tries = if n == 1 {
            "1 attempt".to_string()
        } else {
            format!("{n} attempts")
        };
        if n >= attempts {
            return Err(format!("{label}: {why} (gave up after {tries})"));
        }
        let wait = after.unwrap_or(backoff).min(policy.max_wait);
        if Instant::now()
            .checked_add(wait)
            .is_none_or(|t| t >= deadline)
        {
            return Err(format!(
                "{label}: {why} (gave up after {tries}: no time left to wait {} s)",
                wait.as_secs_f64().ceil()
            ));
        }
        tokio::time::sleep(wait).await;
        backoff = backoff.saturating_mul(2);
    }
}

/// Generic judgement for plain HTTP endpoints (webhook, ntfy): 2xx done; 429, 408 and 5xx
/// retried (honouring `Retry-After`); anything else fails.
pub(crate) fn judge_plain(reply: &Reply) -> Verdict {
    match reply.status {
        200..=299 => Verdict::Done,
        408 | 429 | 500..=599 => Verdict::Retry {
            after: reply.retry_after,
            why: status_line(reply.status),
        },
        s => Verdict::Fail(status_line(s)),
    }
}

/// "HTTP 502 Bad Gateway".
pub(crate) fn status_line(status: u16) -> String {
    match reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("HTTP {status} {reason}"),
        None => format!("HTTP {status}"),
    }
}
