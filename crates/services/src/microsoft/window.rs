//! [`Window`]: the time range a calendar question is about, as two instants.
//!
//! # Why instants, computed in the person's zone
//!
//! "Today" in Pacific/Kiritimati (UTC+14) starts at 10:00 UTC the *previous* UTC day; in
//! Pacific/Pago_Pago (UTC−11) it ends at 11:00 UTC the *next* one. A day that contains a DST
//! change is 23 or 25 hours long. So every named window is worked out on the civil calendar
//! of the person's zone (jiff, with the tz database compiled in) and only then turned into
//! UTC instants, which go to Graph as `…Z` (an offset `+14:00` would need `%2B` and is easy to
//! get wrong; `Z` is unambiguous). Midnight that does not exist (a DST gap at 00:00) is handled
//! by taking the first instant of the day.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// A half-open time range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// A named calendar window, in the person's time zone ([`Window::of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Named {
    Today,
    Tomorrow,
    TomorrowAfternoon,
    ThisWeek,
    Next7Days,
}

/// The names [`Window::named`] accepts.
pub const WINDOW_NAMES: &[&str] = &[
    "today",
    "tomorrow",
    "tomorrow-afternoon",
    "this-week",
    "next-7-days",
];

/// The first instant of `date` in `tz`.
pub(crate) fn day_start(date: Date, tz: &TimeZone) -> Result<Timestamp, String> {
    date.to_zoned_datetime(tz.clone())
        .and_then(|z| z.start_of_day())
        .map(|z| z.timestamp())
        .map_err(|e| format!("date {date} is out of range: {e}"))
}

fn add_days(date: Date, days: i64) -> Result<Date, String> {
    date.checked_add(days.days())
        .map_err(|e| format!("date out of range: {e}"))
}

fn at(date: Date, hour: i8, tz: &TimeZone) -> Result<Timestamp, String> {
    let dt = date.to_datetime(Time::new(hour, 0, 0, 0).map_err(|e| e.to_string())?);
    dt.to_zoned_datetime(tz.clone())
        .map(|z| z.timestamp())
        .map_err(|e| format!("{dt} cannot be placed in the time zone: {e}"))
}

fn short(s: &str) -> String {
    crate::microsoft::error::one_line(s, 40)
}

impl Window {
    /// The window named `name` ([`WINDOW_NAMES`]), as [`Window::of`] computes it.
    pub fn named(name: &str, now: Timestamp, tz: &TimeZone) -> Result<Window, String> {
        let named = match name {
            "today" => Named::Today,
            "tomorrow" => Named::Tomorrow,
            "tomorrow-afternoon" => Named::TomorrowAfternoon,
            "this-week" => Named::ThisWeek,
            "next-7-days" => Named::Next7Days,
            other => {
                return Err(format!(
                    "unknown time window {:?}; use one of {}",
                    short(other),
                    WINDOW_NAMES.join(", ")
                ));
            }
        };
        Window::of(named, now, tz)
    }

    /// `today`, `tomorrow`, `tomorrow-afternoon` (12:00–18:00), `this-week` (from the start of
    /// today to the end of Sunday) or `next-7-days` (from now to the same wall-clock time seven
    /// days later), on the civil calendar of `tz`, DST-correct.
    pub fn of(named: Named, now: Timestamp, tz: &TimeZone) -> Result<Window, String> {
        let today = now.to_zoned_datetime(tz.clone()).date();
        let w = match named {
            Named::Today => Window {
                start: day_start(today, tz)?,
                end: day_start(add_days(today, 1)?, tz)?,
            },
            Named::Tomorrow => Window {
                start: day_start(add_days(today, 1)?, tz)?,
                end: day_start(add_days(today, 2)?, tz)?,
            },
            Named::TomorrowAfternoon => {
                let d = add_days(today, 1)?;
                Window {
                    start: at(d, 12, tz)?,
                    end: at(d, 18, tz)?,
                }
            }
            Named::ThisWeek => {
                // Monday = 1 … Sunday = 7: the end is the start of the Monday after.
                let to_monday = 8 - i64::from(today.weekday().to_monday_one_offset());
                Window {
                    start: day_start(today, tz)?,
                    end: day_start(add_days(today, to_monday)?, tz)?,
                }
            }
            Named::Next7Days => {
                let z = now.to_zoned_datetime(tz.clone());
                let end = z
                    .checked_add(7.days())
                    .map_err(|e| format!("date out of range: {e}"))?;
                Window {
                    start: now,
                    end: end.timestamp(),
                }
            }
        };
        Ok(w)
    }

    /// `--from` / `--to`: each an RFC 3339 instant (`2026-11-26T14:00:00Z`,
    /// `2026-11-26T14:00:00+01:00`), a civil date-time (`2026-11-26T14:00`, seconds optional)
    /// or a civil date (`2026-11-26`) in `tz`. A date as `to` means the *end* of that day, so
    /// `--from 2026-11-26 --to 2026-11-26` is that whole day.
    pub fn between(from: &str, to: &str, tz: &TimeZone) -> Result<Window, String> {
        let start = parse_point(from, tz, false).map_err(|e| format!("--from: {e}"))?;
        let end = parse_point(to, tz, true).map_err(|e| format!("--to: {e}"))?;
        if end <= start {
            return Err(format!("--to ({end}) must be after --from ({start})"));
        }
        Ok(Window { start, end })
    }

    /// Whether `[start, end)` overlaps this window.
    pub fn overlaps(&self, start: Timestamp, end: Timestamp) -> bool {
        start < self.end && end > self.start
    }
}

/// One point in time for an event: an RFC 3339 instant (`2026-12-08T10:00:00+01:00`) or a civil
/// date-time in `tz` (`2026-12-08T10:00`, `2026-12-08 10:00`, seconds optional). A bare date is
/// refused: an event needs a time. A civil time that falls in a DST gap moves forward by the
/// gap (jiff's "compatible" rule, as calendars do).
pub fn instant(s: &str, tz: &TimeZone) -> Result<Timestamp, String> {
    let t = s.trim();
    if t.len() == 10 && t.parse::<Date>().is_ok() {
        return Err(format!(
            "{:?} is a date without a time: give a time too (YYYY-MM-DDTHH:MM)",
            short(t)
        ));
    }
    parse_point(t, tz, false)
}

fn parse_point(s: &str, tz: &TimeZone, is_end: bool) -> Result<Timestamp, String> {
    let s = s.trim();
    if s.is_empty() || s.len() > 64 {
        return Err(format!("{:?} is not a date or time", short(s)));
    }
    let has_offset = {
        // An offset or `Z` after the time part: RFC 3339. (A civil date-time has none; the
        // date's own `-` separators come before the `T`.)
        let time_part = s.find(['T', 't', ' ']).map(|i| &s[i..]).unwrap_or("");
        time_part.contains(['Z', 'z', '+', '-'])
    };
    if has_offset {
        return s
            .parse::<Timestamp>()
            .map_err(|_| format!("{:?} is not an RFC 3339 time", short(s)));
    }
    if s.len() == 10 {
        let d: Date = s
            .parse()
            .map_err(|_| format!("{:?} is not a date (YYYY-MM-DD)", short(s)))?;
        let d = if is_end { add_days(d, 1)? } else { d };
        return day_start(d, tz);
    }
    let dt: DateTime = s.parse().map_err(|_| {
        format!(
            "{:?} is not a date (YYYY-MM-DD), a local time (YYYY-MM-DDTHH:MM) or an RFC 3339 time",
            short(s)
        )
    })?;
    dt.to_zoned_datetime(tz.clone())
        .map(|z| z.timestamp())
        .map_err(|e| format!("{dt} cannot be placed in the time zone: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }
    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn today_across_berlin_dst_end_is_25_hours() {
        // 2026-10-25 is the last Sunday of October: CEST → CET at 03:00 local.
        let w = Window::named("today", ts("2026-10-25T10:00:00Z"), &tz("Europe/Berlin")).unwrap();
        assert_eq!(w.start, ts("2026-10-24T22:00:00Z"));
        assert_eq!(w.end, ts("2026-10-25T23:00:00Z"));
    }

    #[test]
    fn unknown_names_and_bad_input_are_errors_not_panics() {
        let t = tz("UTC");
        assert!(Window::named("yesterday", Timestamp::UNIX_EPOCH, &t).is_err());
        for bad in [
            "",
            "x",
            "2026-13-01",
            "2026-11-26T25:00",
            "9999999999999",
            "2026-11-26T14:00+99:00",
            "ééééééééééééééééééééééééééééééééééééééééééééééééééééééééé",
        ] {
            assert!(Window::between(bad, "2026-11-27", &t).is_err(), "{bad}");
        }
        assert!(Window::between("2026-11-27", "2026-11-26", &t).is_err());
    }
}
