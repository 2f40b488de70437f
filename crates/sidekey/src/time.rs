//! Time as sidekey stores and shows it: Unix seconds now, and Unix seconds as RFC 3339. A leaf:
//! the vault records, the audit log, the wire types and the operations all use it, and it
//! imports nothing of sidekey.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `unix` as RFC 3339 UTC (`2026-12-07T04:52:23Z`), or the number itself if out of range.
pub fn rfc3339(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| unix.to_string())
}
