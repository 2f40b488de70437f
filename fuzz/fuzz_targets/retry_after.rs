//! `parse_retry_after` / `parse_retry_after_at`: any header value, at any "now".
//!
//! Checks: never panics; never more than a day; delta-seconds give exactly that wait (capped),
//! negative/NaN/infinite give none; an HTTP date gives the time until it, so the wait shrinks
//! by exactly the time that passes (until it is zero) and a date in the past is no wait;
//! surrounding whitespace does not matter; the real-clock variant agrees on delta-seconds.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sidekey_net::{parse_retry_after, parse_retry_after_at};
use std::time::{Duration, SystemTime};

const DAY: Duration = Duration::from_secs(86_400);

#[derive(Arbitrary, Debug)]
enum Value {
    Text(String),
    Seconds(f64),
    /// An IMF-fixdate this many seconds from `now`.
    Date(i32),
}

#[derive(Arbitrary, Debug)]
struct Input {
    value: Value,
    /// Seconds since the epoch.
    now: u32,
    later: u16,
    pad: u8,
}

fuzz_target!(|input: Input| {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(input.now.into());
    let value = match &input.value {
        Value::Text(s) => s.clone(),
        Value::Seconds(f) => f.to_string(),
        Value::Date(d) => {
            let t = jiff::Timestamp::from_second(i64::from(input.now) + i64::from(*d)).unwrap();
            jiff::fmt::rfc2822::DateTimePrinter::new()
                .timestamp_to_rfc9110_string(&t)
                .unwrap()
        }
    };
    let got = parse_retry_after_at(&value, now);
    if let Some(w) = got {
        assert!(w <= DAY, "{value:?} → {w:?}");
    }
    let pad = " ".repeat((input.pad % 4).into());
    assert_eq!(
        parse_retry_after_at(&format!("{pad}{value}{pad}"), now),
        got,
        "whitespace changed {value:?}"
    );

    let trimmed = value.trim();
    if let Ok(secs) = trimmed.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            let expect = Duration::from_secs_f64(secs.min(86_400.0));
            assert_eq!(got, Some(expect), "{value:?}");
        } else {
            assert_eq!(got, None, "{value:?}");
        }
        // No clock involved: the real-clock variant says the same.
        assert_eq!(parse_retry_after(&value), got);
        return;
    }

    if let Value::Date(d) = input.value {
        let expect = Duration::from_secs(u64::try_from(d).unwrap_or(0)).min(DAY);
        assert_eq!(got, Some(expect), "{value:?} at {now:?}");
    }
    if let Some(w) = got {
        // A date: the wait shrinks by exactly the time that passes, down to zero.
        let later = Duration::from_secs(input.later.into());
        let then = parse_retry_after_at(&value, now + later).expect("still a date");
        if w < DAY {
            assert_eq!(then, w.saturating_sub(later), "{value:?}");
        } else {
            assert!(then <= w);
        }
    }
});
