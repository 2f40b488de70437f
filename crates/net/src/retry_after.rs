//! `Retry-After` (RFC 9110 §10.2.3): delta-seconds or an HTTP date.

use std::time::{Duration, SystemTime};

/// No server gets to park a caller for more than a day; callers cap further to their own needs.
const MAX_WAIT: Duration = Duration::from_secs(86_400);

/// `Retry-After` as a wait: delta-seconds (fractional accepted, e.g. Graph's `2.128`) or an
/// HTTP date (IMF-fixdate, e.g. `Wed, 21 Oct 2015 07:28:00 GMT`: the time until then, zero if
/// it has passed). At most a day; `None` for anything else (negative, NaN, garbage).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    parse_retry_after_at(value, SystemTime::now())
}

/// [`parse_retry_after`] with an explicit "now" for HTTP dates.
pub fn parse_retry_after_at(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        if !(secs.is_finite() && secs >= 0.0) {
            return None;
        }
        return Duration::try_from_secs_f64(secs.min(MAX_WAIT.as_secs_f64())).ok();
    }
    // RFC 2822's grammar is a superset of IMF-fixdate (RFC 9110 §5.6.7).
    let when = jiff::fmt::rfc2822::parse(v).ok()?.timestamp();
    let now = jiff::Timestamp::try_from(now).ok()?;
    // Negative (a date in the past) does not convert: no wait.
    Some(
        Duration::try_from(now.duration_until(when))
            .unwrap_or(Duration::ZERO)
            .min(MAX_WAIT),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Wed, 21 Oct 2015 07:28:00 GMT` as a `SystemTime`.
    fn at(unix: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(unix)
    }
    const DATE: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
    const DATE_UNIX: u64 = 1_445_412_480;

    #[test]
    fn delta_seconds() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 5 "), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_retry_after("2.128"),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("1e300"), Some(MAX_WAIT));
    }

    #[test]
    fn date_in_the_future_is_the_wait_until_then() {
        assert_eq!(
            parse_retry_after_at(DATE, at(DATE_UNIX - 90)),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_retry_after_at(DATE, at(DATE_UNIX - 10 * 86_400)),
            Some(MAX_WAIT)
        );
        // With the real clock: a date a minute ahead is a wait of about a minute.
        let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60);
        let header = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&soon)
            .unwrap();
        let wait = parse_retry_after(&header).unwrap();
        assert!(
            wait > Duration::from_secs(55) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
    }

    #[test]
    fn date_in_the_past_is_zero() {
        assert_eq!(
            parse_retry_after_at(DATE, at(DATE_UNIX + 1)),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn garbage_is_none() {
        for v in [
            "",
            "soon",
            "-1",
            "NaN",
            "inf",
            "-inf",
            "12s",
            "Wed, 99 Oct 2015 07:28:00 GMT",
        ] {
            assert_eq!(parse_retry_after(v), None, "{v:?}");
        }
    }
}
