//! Small text helpers shared by the channels: cuts, secret scrubbing, expiry wording.

/// One printable line of at most `max` chars (shared with the other crates).
pub(crate) use sidekey_net::one_line;

/// At most `max` chars; a cut string ends in `…` (counted in `max`).
pub(crate) fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Every secret replaced with `[redacted]`, as sent and percent-encoded: the one scrub all crates
/// share. A second line of defence: error strings are built without URLs or bodies in the
/// first place.
pub(crate) use sidekey_net::scrub;

/// `scheme://host[:port]` of a URL, for Debug output (paths and queries may hold secrets).
pub(crate) fn origin(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => sidekey_net::origin(&u),
        Err(_) => "(invalid URL)".to_string(),
    }
}

/// "14:05 UTC (in 15 min)" for an RFC 3339 `expires_at`, relative to `now`. An unparsable
/// value is shown as given (cut to one short line).
pub(crate) fn expiry(expires_at: &str, now: jiff::Timestamp) -> String {
    let Ok(ts) = expires_at.trim().parse::<jiff::Timestamp>() else {
        return one_line(expires_at, 40);
    };
    let secs = ts.as_second() - now.as_second();
    let when = ts.strftime("%H:%M UTC");
    if secs <= 0 {
        format!("{when} (already expired)")
    } else if secs < 60 {
        format!("{when} (in less than a minute)")
    } else {
        // Rounded down: the person never counts on time that is not there.
        let mins = secs / 60;
        if mins < 120 {
            format!("{when} (in {mins} min)")
        } else {
            let date = ts.strftime("%Y-%m-%d %H:%M UTC");
            format!("{date} (in {} h)", mins / 60)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_secrets() {
        assert_eq!(scrub("x 123:abc y", &["123:abc"]), "x [redacted] y");
    }

    #[test]
    fn expiry_wording() {
        let now: jiff::Timestamp = "2026-01-01T12:00:00Z".parse().unwrap();
        assert_eq!(expiry("2026-01-01T12:15:00Z", now), "12:15 UTC (in 15 min)");
        assert_eq!(
            expiry("2026-01-01T12:00:30Z", now),
            "12:00 UTC (in less than a minute)"
        );
        assert_eq!(
            expiry("2026-01-01T11:00:00Z", now),
            "11:00 UTC (already expired)"
        );
        assert_eq!(
            expiry("2026-01-01T14:15:00+02:00", now),
            "12:15 UTC (in 15 min)"
        );
        assert_eq!(expiry("soon", now), "soon");
    }

    #[test]
    fn origin_hides_path() {
        assert_eq!(
            origin("https://hooks.example/secret/path?x=1"),
            "https://hooks.example"
        );
        assert_eq!(
            origin("http://127.0.0.1:8080/bot123:abc"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(origin("nope"), "(invalid URL)");
    }
}
