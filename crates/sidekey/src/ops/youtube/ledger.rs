//! The YouTube quota ledger (docs/youtube.md, "Quota"): a Cloud project gets 10,000 units a day
//! for everything but search (a list page costs 1, an insert or delete 50, failed requests
//! included) and, since the 2026 model, 100 `search.list` calls a day in a bucket of their own.
//! The day ends at midnight Pacific time. sidekey keeps a ledger per project
//! (`$SIDEKEY_HOME/youtube-quota.json`) of what *its* calls spent and whether Google already
//! answered `quotaExceeded` today; once it has, calls drawing on that bucket are refused locally
//! until the reset, with the reset time, instead of spending a request to hear it again.

use crate::error::{Exit, Failure, Reason};
use serde::{Deserialize, Serialize};
use sidekey_services::youtube::Bucket;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// YouTube's default daily allowances (determine_quota_cost).
pub const UNITS_PER_DAY: u32 = 10_000;
pub const SEARCHES_PER_DAY: u32 = 100;

/// One project's day, as sidekey counted it.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
struct Day {
    /// The Pacific-time date it counts (`2026-11-28`).
    day: String,
    units: u32,
    searches: u32,
    /// Google answered `quotaExceeded` for this bucket on this day.
    units_exhausted: bool,
    search_exhausted: bool,
}

/// The day, reset time and counts for a project, as shown (`--json`: `quota`).
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct QuotaView {
    pub project: String,
    /// The quota day (Pacific time).
    pub day: String,
    pub units_used: u32,
    pub units_limit: u32,
    pub searches_used: u32,
    pub searches_limit: u32,
    /// Buckets Google said were used up today (`units`, `search`).
    pub exhausted: Vec<Bucket>,
    /// The next midnight Pacific time, RFC 3339 UTC.
    pub resets_at: String,
    /// sidekey counts only its own calls: other apps of the same project spend the same quota.
    pub counted_by: &'static str,
}

/// The quota day's timezone: "Daily quotas reset at midnight Pacific Time (PT)".
fn pacific() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("America/Los_Angeles").unwrap_or(jiff::tz::TimeZone::UTC)
}

/// (Pacific date, next Pacific midnight) of `now`.
pub fn quota_day(now: jiff::Timestamp) -> (String, jiff::Timestamp) {
    let tz = pacific();
    let date = now.to_zoned_datetime(tz.clone()).date();
    let next = date
        .tomorrow()
        .ok()
        .and_then(|d| d.to_zoned_datetime(tz).ok())
        .map(|z| z.timestamp())
        .unwrap_or(now);
    (date.to_string(), next)
}

/// The Cloud project an OAuth client belongs to: Google client ids start with the project
/// number (`123456789012-abc….apps.googleusercontent.com`); quota is per project, so accounts
/// sharing a client share a ledger. Other ids are used whole (file-name-safe).
pub fn project_of(client_id: &str) -> String {
    let head = client_id.split('-').next().unwrap_or("");
    let key = if !head.is_empty() && head.chars().all(|c| c.is_ascii_digit()) {
        head.to_string()
    } else {
        client_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .take(120)
            .collect()
    };
    if key.is_empty() {
        "unknown".into()
    } else {
        key
    }
}

/// `$SIDEKEY_HOME/youtube-quota.json`, read and rewritten under an exclusive lock on a sibling
/// lock file (so concurrent operations, local or through the daemon, do not lose a charge).
pub struct Ledger {
    path: PathBuf,
    lock: PathBuf,
}

impl Ledger {
    pub fn at(home: &Path) -> Ledger {
        Ledger {
            path: home.join("youtube-quota.json"),
            lock: home.join("youtube-quota.lock"),
        }
    }

    fn update<T>(&self, f: impl FnOnce(&mut BTreeMap<String, Day>) -> T) -> Result<T, Failure> {
        use std::os::unix::fs::OpenOptionsExt;
        let io = |what: &str, p: &Path, e: std::io::Error| {
            Failure::new(
                Exit::Internal,
                Reason::Io,
                format!(
                    "cannot {what} the YouTube quota ledger {}: {e}",
                    p.display()
                ),
            )
        };
        if let Some(dir) = self.path.parent() {
            sidekey_vault::create_private_dir(dir)?;
        }
        let lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&self.lock)
            .map_err(|e| io("open", &self.lock, e))?;
        lock.lock().map_err(|e| io("lock", &self.lock, e))?;
        // A damaged ledger is started again: it is an estimate, and must never block the
        // operations it counts.
        let mut all: BTreeMap<String, Day> = match std::fs::read(&self.path) {
            Ok(b) if b.len() < 1024 * 1024 => serde_json::from_slice(&b).unwrap_or_default(),
            _ => BTreeMap::new(),
        };
        let out = f(&mut all);
        let text = serde_json::to_vec_pretty(&all).map_err(|e| Failure::internal(e.to_string()))?;
        let tmp = self.path.with_extension("json.tmp");
        {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| io("write", &tmp, e))?;
            file.write_all(&text)
                .and_then(|_| file.sync_all())
                .map_err(|e| io("write", &tmp, e))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(|e| io("write", &self.path, e))?;
        Ok(out)
    }

    fn today(all: &mut BTreeMap<String, Day>, project: &str, day: &str) -> Day {
        let entry = all.entry(project.to_string()).or_default();
        if entry.day != day {
            *entry = Day {
                day: day.to_string(),
                ..Day::default()
            };
        }
        entry.clone()
    }

    /// Today's counts for `project`.
    pub fn view(&self, project: &str, now: jiff::Timestamp) -> Result<QuotaView, Failure> {
        let (day, next) = quota_day(now);
        let d = self.update(|all| Ledger::today(all, project, &day))?;
        Ok(view_of(project, &d, next))
    }

    /// Add what a call spent; mark a bucket used up when Google said so.
    pub fn charge(
        &self,
        project: &str,
        now: jiff::Timestamp,
        units: u32,
        searches: u32,
        exhausted: Option<Bucket>,
    ) -> Result<QuotaView, Failure> {
        let (day, next) = quota_day(now);
        let d = self.update(|all| {
            Ledger::today(all, project, &day);
            let e = all.entry(project.to_string()).or_default();
            e.units = e.units.saturating_add(units);
            e.searches = e.searches.saturating_add(searches);
            match exhausted {
                Some(Bucket::Units) => e.units_exhausted = true,
                Some(Bucket::Search) => e.search_exhausted = true,
                None => {}
            }
            e.clone()
        })?;
        Ok(view_of(project, &d, next))
    }
}

fn view_of(project: &str, d: &Day, next: jiff::Timestamp) -> QuotaView {
    let mut exhausted = vec![];
    if d.units_exhausted {
        exhausted.push(Bucket::Units);
    }
    if d.search_exhausted {
        exhausted.push(Bucket::Search);
    }
    QuotaView {
        project: project.to_string(),
        day: d.day.clone(),
        units_used: d.units,
        units_limit: UNITS_PER_DAY,
        searches_used: d.searches,
        searches_limit: SEARCHES_PER_DAY,
        exhausted,
        resets_at: next.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        counted_by: "sidekey (its own calls only)",
    }
}

/// " (in 3 h 12 min)" until `resets_at`, for the quota texts.
pub(super) fn until(resets_at: &str, now: jiff::Timestamp) -> String {
    let Ok(t) = resets_at.parse::<jiff::Timestamp>() else {
        return String::new();
    };
    let mins = (t.as_second() - now.as_second()).max(0) / 60;
    format!(" (in {} h {} min)", mins / 60, mins % 60)
}

pub(super) fn quota_line(q: &QuotaView, now: jiff::Timestamp) -> String {
    let used_up = match q.exhausted.as_slice() {
        [] => String::new(),
        [Bucket::Search] => " (searches used up: Google answered quotaExceeded)".into(),
        [Bucket::Units] => " (units used up: Google answered quotaExceeded)".into(),
        _ => " (units and searches used up: Google answered quotaExceeded)".into(),
    };
    format!(
        "YouTube quota today (project {}, counted by sidekey): {} of {} units, {} of {} searches{used_up}; resets at midnight Pacific time, {}{}",
        q.project,
        q.units_used,
        q.units_limit,
        q.searches_used,
        q.searches_limit,
        q.resets_at,
        until(&q.resets_at, now)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_day_ends_at_midnight_pacific() {
        // 07:59 UTC on 28 Nov is 23:59 PST on 27 Nov; a minute later a new day starts.
        let before: jiff::Timestamp = "2026-11-28T07:59:00Z".parse().unwrap();
        let after: jiff::Timestamp = "2026-11-28T08:00:00Z".parse().unwrap();
        assert_eq!(quota_day(before).0, "2026-11-27");
        assert_eq!(quota_day(before).1, after);
        assert_eq!(quota_day(after).0, "2026-11-28");
        // In summer (PDT) the day ends at 07:00 UTC.
        let july: jiff::Timestamp = "2026-07-01T12:00:00Z".parse().unwrap();
        assert_eq!(
            quota_day(july).1,
            "2026-07-02T07:00:00Z".parse::<jiff::Timestamp>().unwrap()
        );
    }

    #[test]
    fn projects_come_from_the_client_id() {
        assert_eq!(
            project_of("123456789012-abcdef.apps.googleusercontent.com"),
            "123456789012"
        );
        assert_eq!(project_of("test-client"), "test-client");
        assert_eq!(project_of("../x y"), ".._x_y");
    }

    #[test]
    fn the_ledger_counts_per_project_and_starts_again_each_day() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::at(dir.path());
        let t1: jiff::Timestamp = "2026-11-28T12:00:00Z".parse().unwrap();
        l.charge("111", t1, 50, 0, None).unwrap();
        let q = l.charge("111", t1, 1, 1, Some(Bucket::Search)).unwrap();
        assert_eq!((q.units_used, q.searches_used), (51, 1));
        assert_eq!(q.exhausted, vec![Bucket::Search]);
        assert_eq!(q.resets_at, "2026-11-29T08:00:00Z");
        assert_eq!(l.view("222", t1).unwrap().units_used, 0);
        let t2: jiff::Timestamp = "2026-11-29T08:00:01Z".parse().unwrap();
        let q = l.view("111", t2).unwrap();
        assert_eq!((q.units_used, q.searches_used), (0, 0));
        assert!(q.exhausted.is_empty());
        // A damaged ledger starts again instead of blocking.
        std::fs::write(dir.path().join("youtube-quota.json"), "{not json").unwrap();
        assert_eq!(l.view("111", t2).unwrap().units_used, 0);
    }

    /// Concurrent charges (the daemon runs operations in parallel; a CLI may run beside it) are
    /// serialised by the lock file: none is lost.
    #[test]
    fn concurrent_charges_are_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let now: jiff::Timestamp = "2026-11-28T12:00:00Z".parse().unwrap();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let l = Ledger::at(dir.path());
                    for _ in 0..25 {
                        l.charge("p", now, 1, 0, None).unwrap();
                    }
                });
            }
        });
        assert_eq!(
            Ledger::at(dir.path()).view("p", now).unwrap().units_used,
            200
        );
    }
}
