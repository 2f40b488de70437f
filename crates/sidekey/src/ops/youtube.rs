//! YouTube playlists and search through the YouTube Data API v3: the `google.youtube.*`
//! operations (docs/youtube.md). The HTTP calls are `sidekey_services::youtube`; this module holds
//! the operations' arguments, the parsing of what a person pastes (video links in every form
//! YouTube hands out, playlist links or titles), the scope check, the quota ledger, and the run
//! arm of each.
//!
//! Quota (docs/youtube.md, "Quota"): a Cloud project gets 10,000 units a day for everything but
//! search (a list page costs 1, an insert or delete 50, failed requests included) and, since the
//! 2026 model, 100 `search.list` calls a day in a bucket of their own. The day ends at midnight
//! Pacific time. sidekey keeps a ledger per project (`$SIDEKEY_HOME/youtube-quota.json`) of what
//! *its* calls spent and whether Google already answered `quotaExceeded` today; once it has, calls
//! drawing on that bucket are refused locally until the reset, with the reset time, instead of
//! spending a request to hear it again.

use super::call::{ServiceError, attempt, within_ceiling};
use super::{Access, OpInfo};
use crate::account::Record;
use crate::context::Context;
use crate::error::{Exit, Failure, Reason};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sidekey_flow::{ProviderKind, Secret};
use sidekey_services::youtube::{self, Bucket, Listing, YOUTUBE_BASE};
use sidekey_services::{YouTube, YouTubeError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const PROVIDER: ProviderKind = ProviderKind::Google;

/// The scope that allows writes (and reads); the device flow grants it (docs/google.md A.5).
pub const SCOPE_YOUTUBE: &str = "https://www.googleapis.com/auth/youtube";
/// Enough for the read operations.
pub const SCOPE_YOUTUBE_READONLY: &str = "https://www.googleapis.com/auth/youtube.readonly";
/// YouTube's default daily allowances (determine_quota_cost).
pub const UNITS_PER_DAY: u32 = 10_000;
pub const SEARCHES_PER_DAY: u32 = 100;

/// Who may see a new playlist.
#[derive(
    Serialize,
    Deserialize,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Privacy {
    #[default]
    Private,
    Unlisted,
    Public,
}

impl Privacy {
    pub fn name(self) -> &'static str {
        match self {
            Privacy::Private => "private",
            Privacy::Unlisted => "unlisted",
            Privacy::Public => "public",
        }
    }
}

/// What a search looks for.
#[derive(
    Serialize,
    Deserialize,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SearchKind {
    #[default]
    Video,
    Channel,
    Playlist,
}

impl SearchKind {
    fn name(self) -> &'static str {
        match self {
            SearchKind::Video => "video",
            SearchKind::Channel => "channel",
            SearchKind::Playlist => "playlist",
        }
    }
}

/// What `playlist remove` removes.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RemoveTarget {
    /// One playlist entry by its item id (as `playlist items` shows it).
    Item {
        /// The playlist item id.
        id: String,
    },
    /// Every entry of a video in a playlist.
    Video {
        /// Playlist id, link with list=, or exact title.
        playlist: String,
        /// Video id or any YouTube link.
        video: String,
    },
}

impl Default for RemoveTarget {
    fn default() -> RemoveTarget {
        RemoveTarget::Item { id: String::new() }
    }
}

/// The YouTube operations. The tag is the audit and policy name; `YouTubeOp::iter()` yields each
/// variant once (placeholder arguments) for the catalog.
#[derive(
    Serialize, Deserialize, Debug, Clone, PartialEq, strum::EnumIter, schemars::JsonSchema,
)]
#[serde(tag = "op")]
pub enum YouTubeOp {
    #[serde(rename = "google.youtube.playlists")]
    Playlists {
        /// How many playlists at most.
        #[serde(default = "fifty")]
        #[schemars(range(min = 1, max = 500))]
        max: usize,
    },
    #[serde(rename = "google.youtube.playlist.create")]
    PlaylistCreate {
        /// The new playlist's title.
        title: String,
        /// Its description.
        #[serde(default)]
        description: Option<String>,
        /// Who may see it (default private).
        #[serde(default)]
        privacy: Privacy,
    },
    #[serde(rename = "google.youtube.playlist.items")]
    PlaylistItems {
        /// Playlist id (PL…), link with list=, or exact title.
        playlist: String,
        /// How many entries at most.
        #[serde(default = "fifty")]
        #[schemars(range(min = 1, max = 500))]
        max: usize,
    },
    #[serde(rename = "google.youtube.playlist.add")]
    PlaylistAdd {
        /// Playlist id (PL…), link with list=, or exact title.
        playlist: String,
        /// Video id or any YouTube link.
        video: String,
    },
    #[serde(rename = "google.youtube.playlist.remove")]
    PlaylistRemove {
        /// One entry by its item id, or every entry of a video in a playlist.
        target: RemoveTarget,
    },
    #[serde(rename = "google.youtube.search")]
    Search {
        /// What to search for.
        query: String,
        /// How many results at most.
        #[serde(default = "ten")]
        #[schemars(range(min = 1, max = 50))]
        max: usize,
        /// Videos, channels or playlists (default videos).
        #[serde(default)]
        kind: SearchKind,
    },
    #[serde(rename = "google.youtube.quota")]
    Quota,
}

fn fifty() -> usize {
    50
}

fn ten() -> usize {
    10
}

impl YouTubeOp {
    pub fn info(&self) -> &'static OpInfo {
        use Access::{Read, Write};
        match self {
            YouTubeOp::Playlists { .. } => &OpInfo {
                name: "google.youtube.playlists",
                access: Read,
                summary: "the YouTube playlists of the signed-in channel (id, title, privacy, count)",
                usage: "sidekey google youtube playlists [--max N]",
            },
            YouTubeOp::PlaylistCreate { .. } => &OpInfo {
                name: "google.youtube.playlist.create",
                access: Write,
                summary: "create a YouTube playlist (private unless --privacy unlisted|public); 50 quota units",
                usage: "sidekey google youtube playlist create \"Watch This Week\" [--privacy private]",
            },
            YouTubeOp::PlaylistItems { .. } => &OpInfo {
                name: "google.youtube.playlist.items",
                access: Read,
                summary: "the videos in a playlist (by id, link or exact title), with their item ids",
                usage: "sidekey google youtube playlist items \"Learn Later\" [--max N]",
            },
            YouTubeOp::PlaylistAdd { .. } => &OpInfo {
                name: "google.youtube.playlist.add",
                access: Write,
                summary: "add a video (id or any YouTube link) to a playlist (id, link or exact title); 50 quota units",
                usage: "sidekey google youtube playlist add \"Learn Later\" https://youtu.be/VIDEO_ID",
            },
            YouTubeOp::PlaylistRemove { .. } => &OpInfo {
                name: "google.youtube.playlist.remove",
                access: Write,
                summary: "remove a video from a playlist (every entry of it), or one entry by --item ID; 50 quota units per entry",
                usage: "sidekey google youtube playlist remove \"Learn Later\" VIDEO  |  … playlist remove --item ITEM_ID",
            },
            YouTubeOp::Search { .. } => &OpInfo {
                name: "google.youtube.search",
                access: Read,
                summary: "search YouTube (videos by default); one of the project's 100 searches a day",
                usage: "sidekey google youtube search \"rust async\" [--max N] [--type video|channel|playlist]",
            },
            YouTubeOp::Quota => &OpInfo {
                name: "google.youtube.quota",
                access: Read,
                summary: "the YouTube quota sidekey counted today for the account's Cloud project, and when it resets",
                usage: "sidekey google youtube quota",
            },
        }
    }

    /// The words after `sidekey google youtube`, for messages.
    fn command(&self) -> String {
        let n = self.info().name;
        n.strip_prefix("google.youtube.")
            .unwrap_or(n)
            .replace('.', " ")
    }

    fn bucket(&self) -> Option<Bucket> {
        match self {
            YouTubeOp::Quota => None,
            YouTubeOp::Search { .. } => Some(Bucket::Search),
            _ => Some(Bucket::Units),
        }
    }

    pub fn validate(&self) -> Result<(), Failure> {
        let max = |m: usize, hi: usize| {
            if (1..=hi).contains(&m) {
                Ok(())
            } else {
                Err(Failure::usage(format!("--max {m}: use 1 to {hi}")))
            }
        };
        match self {
            YouTubeOp::Playlists { max: m } | YouTubeOp::PlaylistItems { max: m, .. } => {
                max(*m, 500)?
            }
            YouTubeOp::Search { max: m, query, .. } => {
                max(*m, youtube::YOUTUBE_MAX_PAGE)?;
                if query.trim().is_empty() || query.chars().count() > 500 {
                    return Err(Failure::usage("give a search text of 1 to 500 characters"));
                }
            }
            YouTubeOp::PlaylistCreate {
                title, description, ..
            } => {
                // YouTube's limits: title up to 150 characters, description up to 5,000 bytes.
                if title.trim().is_empty() || title.chars().count() > 150 {
                    return Err(Failure::usage(
                        "a playlist title must have 1 to 150 characters",
                    ));
                }
                if description.as_ref().is_some_and(|d| d.len() > 5000) {
                    return Err(Failure::usage(
                        "a playlist description may have at most 5000 bytes",
                    ));
                }
            }
            YouTubeOp::PlaylistAdd { playlist, video } => {
                parse_playlist(playlist).map_err(Failure::usage)?;
                parse_video(video).map_err(Failure::usage)?;
            }
            YouTubeOp::PlaylistRemove {
                target: RemoveTarget::Video { playlist, video },
            } => {
                parse_playlist(playlist).map_err(Failure::usage)?;
                parse_video(video).map_err(Failure::usage)?;
            }
            YouTubeOp::PlaylistRemove {
                target: RemoveTarget::Item { id },
            } => {
                if id.is_empty()
                    || id.len() > 200
                    || !id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_=.".contains(c))
                {
                    return Err(Failure::usage(format!(
                        "'{}' is not a playlist item id (use an id from `sidekey google youtube playlist items`)",
                        sidekey_flow::response::one_line(id, 60)
                    )));
                }
            }
            YouTubeOp::Quota => {}
        }
        if let YouTubeOp::PlaylistItems { playlist, .. } = self {
            parse_playlist(playlist).map_err(Failure::usage)?;
        }
        Ok(())
    }

    /// What the audit keeps: which arguments were given, not titles, queries or ids.
    pub fn audit_args(&self) -> Value {
        match self {
            YouTubeOp::Playlists { max } => json!({"max": max}),
            YouTubeOp::PlaylistCreate {
                description,
                privacy,
                ..
            } => json!({"title": true, "description": description.is_some(), "privacy": privacy}),
            YouTubeOp::PlaylistItems { max, .. } => json!({"playlist": true, "max": max}),
            YouTubeOp::PlaylistAdd { .. } => json!({"playlist": true, "video": true}),
            YouTubeOp::PlaylistRemove { target } => match target {
                RemoveTarget::Item { .. } => json!({"item": true}),
                RemoveTarget::Video { .. } => json!({"playlist": true, "video": true}),
            },
            YouTubeOp::Search { max, kind, .. } => {
                json!({"query": true, "max": max, "type": kind.name()})
            }
            YouTubeOp::Quota => json!({}),
        }
    }
}

// ---------------------------------------------------------------------------------------
// what people paste

fn is_video_id(s: &str) -> bool {
    s.len() == 11
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The hosts YouTube's own links use.
const YOUTUBE_HOSTS: &[&str] = &[
    "youtube.com",
    "www.youtube.com",
    "m.youtube.com",
    "music.youtube.com",
    "youtube-nocookie.com",
    "www.youtube-nocookie.com",
];

fn parse_url(input: &str) -> Option<url::Url> {
    let t = input.trim();
    let with_scheme = if t.contains("://") {
        t.to_string()
    } else {
        format!("https://{t}")
    };
    let u = url::Url::parse(&with_scheme).ok()?;
    matches!(u.scheme(), "https" | "http").then_some(u)
}

/// A video id from an id or a YouTube link: `watch?v=ID` (with any other parameters, in any
/// order), `youtu.be/ID`, `/shorts/ID`, `/live/ID`, `/embed/ID`, `/v/ID`, on youtube.com,
/// www./m./music.youtube.com, youtu.be and youtube-nocookie.com. Anything else is refused with a
/// sentence saying why.
pub fn parse_video(input: &str) -> Result<String, String> {
    let t = input.trim();
    if is_video_id(t) {
        return Ok(t.to_string());
    }
    let shown = sidekey_flow::response::one_line(t, 80);
    let refuse = |why: &str| Err(format!("'{shown}' {why}"));
    if t.is_empty() {
        return Err("give a video id (11 characters) or a YouTube link".into());
    }
    if !t.contains('/') && !t.contains('.') {
        return refuse("is not a YouTube video id (11 letters, digits, - or _) or a YouTube link");
    }
    let Some(u) = parse_url(t) else {
        return refuse("is not a YouTube link");
    };
    let host = u.host_str().unwrap_or("").to_ascii_lowercase();
    if !u.username().is_empty() || u.password().is_some() {
        return refuse("is not a YouTube link (it carries a user name)");
    }
    let segments: Vec<&str> = u
        .path_segments()
        .map(|s| s.filter(|x| !x.is_empty()).collect())
        .unwrap_or_default();
    let candidate = if host == "youtu.be" || host == "www.youtu.be" {
        segments.first().map(|s| s.to_string())
    } else if YOUTUBE_HOSTS.contains(&host.as_str()) {
        match segments.as_slice() {
            ["watch"] => u
                .query_pairs()
                .find(|(k, _)| k == "v")
                .map(|(_, v)| v.into_owned()),
            ["shorts" | "live" | "embed" | "v" | "e", id, ..] => Some(id.to_string()),
            ["playlist"] => {
                return refuse(
                    "is a playlist link; give a video (a watch, youtu.be or shorts link)",
                );
            }
            _ => {
                return refuse(
                    "is a YouTube link but not to a video (use a watch?v=, youtu.be/, shorts/ or live/ link)",
                );
            }
        }
    } else {
        return refuse(
            "is not a YouTube link (only youtube.com, youtu.be and youtube-nocookie.com)",
        );
    };
    match candidate {
        Some(id) if is_video_id(&id) => Ok(id),
        Some(_) => refuse("does not hold a valid video id (11 letters, digits, - or _)"),
        None => refuse("has no video id in it"),
    }
}

/// A playlist named by id, link (`…/playlist?list=ID`, or any YouTube link with `list=`) or
/// exact title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaylistRef {
    Id(String),
    Title(String),
}

fn is_playlist_id(s: &str) -> bool {
    let prefixed = ["PL", "UU", "FL", "OL", "RD"]
        .iter()
        .any(|p| s.starts_with(p));
    prefixed
        && (12..=100).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub fn parse_playlist(input: &str) -> Result<PlaylistRef, String> {
    let t = input.trim();
    if t.is_empty() {
        return Err("give a playlist id, link or title".into());
    }
    let special = |id: &str| {
        matches!(id, "WL" | "LL" | "HL").then(|| {
            format!("'{id}' is YouTube's {} list, which the YouTube Data API has not let anyone read or change since 2016: use a playlist of your own (`sidekey google youtube playlist create`)", match id {
                "WL" => "Watch Later",
                "LL" => "Liked videos",
                _ => "watch history",
            })
        })
    };
    if let Some(e) = special(t) {
        return Err(e);
    }
    if is_playlist_id(t) {
        return Ok(PlaylistRef::Id(t.to_string()));
    }
    let looks_like_link = t.starts_with("http://")
        || t.starts_with("https://")
        || YOUTUBE_HOSTS
            .iter()
            .chain(&["youtu.be"])
            .any(|h| t.to_ascii_lowercase().starts_with(&format!("{h}/")));
    if looks_like_link {
        let shown = sidekey_flow::response::one_line(t, 80);
        let u = parse_url(t).ok_or_else(|| format!("'{shown}' is not a valid link"))?;
        let host = u.host_str().unwrap_or("").to_ascii_lowercase();
        if !(YOUTUBE_HOSTS.contains(&host.as_str()) || host == "youtu.be")
            || !u.username().is_empty()
        {
            return Err(format!("'{shown}' is not a YouTube link"));
        }
        let list = u
            .query_pairs()
            .find(|(k, _)| k == "list")
            .map(|(_, v)| v.into_owned());
        return match list {
            Some(id) => {
                if let Some(e) = special(&id) {
                    return Err(e);
                }
                if is_playlist_id(&id) {
                    Ok(PlaylistRef::Id(id))
                } else {
                    Err(format!("'{shown}' does not hold a valid playlist id"))
                }
            }
            None => Err(format!(
                "'{shown}' is not a playlist link (it has no list=…)"
            )),
        };
    }
    if t.chars().count() > 150 {
        return Err("a playlist title has at most 150 characters".into());
    }
    Ok(PlaylistRef::Title(t.to_string()))
}

// ---------------------------------------------------------------------------------------
// the quota ledger

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

fn until(resets_at: &str, now: jiff::Timestamp) -> String {
    let Ok(t) = resets_at.parse::<jiff::Timestamp>() else {
        return String::new();
    };
    let mins = (t.as_second() - now.as_second()).max(0) / 60;
    format!(" (in {} h {} min)", mins / 60, mins % 60)
}

fn quota_line(q: &QuotaView, now: jiff::Timestamp) -> String {
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

fn exhausted_failure(q: &QuotaView, bucket: Bucket, now: jiff::Timestamp, heard: &str) -> Failure {
    let which = match bucket {
        Bucket::Units => "daily YouTube Data API quota (10,000 units by default)",
        Bucket::Search => "daily search allowance (100 search.list calls by default)",
    };
    Failure::new(
        Exit::Provider,
        Reason::QuotaExceeded,
        format!(
            "quotaExceeded: the {which} of Google Cloud project {} is used up{heard}; it resets at midnight Pacific time, {}{}. A higher quota can be requested in the Cloud console (IAM & Admin > Quotas)",
            q.project,
            q.resets_at,
            until(&q.resets_at, now)
        ),
    )
}

// ---------------------------------------------------------------------------------------
// running

fn has_any(granted: &[String], wanted: &[&str]) -> bool {
    granted.iter().any(|g| {
        let full = sidekey_flow::dialect::google::expand(g);
        wanted.contains(&full.as_str())
    })
}

/// The scopes an operation can run with (any one).
fn scope_options(op: &YouTubeOp) -> &'static [&'static str] {
    const WRITE: &[&str] = &[
        SCOPE_YOUTUBE,
        "https://www.googleapis.com/auth/youtube.force-ssl",
        "https://www.googleapis.com/auth/youtubepartner",
    ];
    const READ: &[&str] = &[
        SCOPE_YOUTUBE,
        SCOPE_YOUTUBE_READONLY,
        "https://www.googleapis.com/auth/youtube.force-ssl",
        "https://www.googleapis.com/auth/youtubepartner",
    ];
    match op.info().access {
        Access::Write | Access::Export => WRITE,
        Access::Read => READ,
    }
}

/// Run `op` for account `name`: the ledger's verdict, the scope check, the calls (one refresh on
/// a rejected token), the charge.
pub async fn run(ctx: &Context, name: &str, op: &YouTubeOp) -> Result<(Value, String), Failure> {
    let account = ctx.config.account(name)?;
    // Changes need the account's policy wherever they run, as for the Drive operations.
    if op.info().access == Access::Write {
        account.policy.check(name, op.info().name)?;
    }
    let project = project_of(&account.client_id);
    let ledger = Ledger::at(&ctx.home);
    let now = jiff::Timestamp::now();
    let q = ledger.view(&project, now)?;
    let Some(bucket) = op.bucket() else {
        let text = quota_line(&q, now);
        return Ok((json!({"quota": q}), text));
    };
    if q.exhausted.contains(&bucket) {
        return Err(exhausted_failure(
            &q,
            bucket,
            now,
            " (Google answered quotaExceeded earlier today; sidekey does not ask again before the reset)",
        ));
    }
    let options = scope_options(op);
    let check = |rec: &Record| {
        if !has_any(&rec.scopes, options) {
            return Err(Failure::new(
                Exit::NotSignedIn,
                Reason::MissingScope,
                format!(
                    "'{name}' was not granted {}, which `google youtube {}` needs: add \"{}\" to the account's scopes and run `sidekey login {name}`",
                    if op.info().access == Access::Write {
                        SCOPE_YOUTUBE
                    } else {
                        "https://www.googleapis.com/auth/youtube (or youtube.readonly)"
                    },
                    op.command(),
                    if op.info().access == Access::Write {
                        "youtube"
                    } else {
                        "youtube or youtube.readonly"
                    },
                ),
            ));
        }
        // The ceiling holds for what was granted, as for the Microsoft operations.
        if !has_any(&within_ceiling(account, &rec.scopes), options) {
            return Err(Failure::policy(format!(
                "policy: `google youtube {}` needs a YouTube scope that '{name}' was granted beyond its ceiling ({}); add it to [accounts.{name}.policy] allowed_scopes if that is intended",
                op.command(),
                account.policy.ceiling(&account.scopes).join(" ")
            )));
        }
        Ok(())
    };
    let base = account.youtube_api_base.as_deref().unwrap_or(YOUTUBE_BASE);
    let yt = YouTube::new(ctx.http()?.client().clone(), base);
    let yt = &yt;
    let called = attempt(ctx, name, check, |t: Secret| async move {
        call(yt, t.expose(), op).await
    })
    .await?;
    // Failed requests spend quota too, a refused refreshed token's included.
    let (units, searches) = yt.spent();
    let exhausted = match &called.result {
        Err(YouTubeError::QuotaExceeded { bucket, .. }) => Some(*bucket),
        _ => None,
    };
    let q = ledger.charge(&project, now, units, searches, exhausted)?;
    if let Err(YouTubeError::QuotaExceeded { bucket, message }) = &called.result {
        let heard = if message.is_empty() {
            String::new()
        } else {
            format!(" (Google: {message})")
        };
        return Err(called
            .sent
            .scrub_failure(exhausted_failure(&q, *bucket, now, &heard)));
    }
    let (mut value, text) = called.finish(name, op)?;
    if let Value::Object(m) = &mut value {
        m.insert(
            "quota".into(),
            serde_json::to_value(&q).unwrap_or(Value::Null),
        );
    }
    let text = format!("{}\n{}", text.trim_end(), quota_line(&q, now));
    Ok((value, text))
}

impl ServiceError for YouTubeError {
    type Op = YouTubeOp;

    fn is_unauthorized(&self) -> bool {
        matches!(self, YouTubeError::Unauthorized)
    }

    fn refused_again(account: &str) -> Failure {
        let e = YouTubeError::Request {
            status: 401,
            reason: "authError".into(),
            message: "YouTube refused the refreshed token".into(),
        };
        Failure::reauth(account, &e.to_string())
    }

    fn into_failure(self, name: &str, op: &YouTubeOp) -> Failure {
        failure(name, op, self)
    }
}

fn failure(name: &str, op: &YouTubeOp, e: YouTubeError) -> Failure {
    let msg = e.to_string();
    match e {
        YouTubeError::Request { status: 401, .. } | YouTubeError::Unauthorized => {
            Failure::reauth(name, &msg)
        }
        YouTubeError::MissingScope => Failure::new(
            Exit::NotSignedIn,
            Reason::MissingScope,
            format!(
                "{msg}, which `google youtube {}` needs: add \"youtube\" to the account's scopes and run `sidekey login {name}`",
                op.command()
            ),
        ),
        YouTubeError::ApiDisabled { .. } => Failure::config(msg),
        YouTubeError::Invalid(_) => Failure::usage(msg),
        YouTubeError::Throttled { .. } | YouTubeError::Network(_) => Failure::network(msg),
        _ => Failure::new(Exit::Provider, Reason::ProviderError, msg),
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<Value, YouTubeError> {
    serde_json::to_value(v).map_err(|e| YouTubeError::Malformed(e.to_string()))
}

/// The playlist id for `input`: as given, or the one playlist of the channel with that exact
/// title (case-insensitive).
async fn resolve(
    yt: &YouTube,
    token: &str,
    input: &str,
) -> Result<(String, Option<String>), YouTubeError> {
    match parse_playlist(input).map_err(YouTubeError::Invalid)? {
        PlaylistRef::Id(id) => Ok((id, None)),
        PlaylistRef::Title(title) => {
            let all = yt.playlists(token, 500).await?;
            let hits: Vec<&youtube::Playlist> = all
                .items
                .iter()
                .filter(|p| p.title.trim().eq_ignore_ascii_case(title.trim()))
                .collect();
            match hits.as_slice() {
                [one] => Ok((one.id.clone(), Some(one.title.clone()))),
                [] => Err(YouTubeError::NotFound {
                    reason: "playlistNotFound".into(),
                    message: format!(
                        "this channel has no playlist titled '{}' (see `sidekey google youtube playlists`, or create it)",
                        sidekey_flow::response::one_line(&title, 80)
                    ),
                }),
                many => Err(YouTubeError::Invalid(format!(
                    "{} playlists are titled '{}': name one by id ({})",
                    many.len(),
                    sidekey_flow::response::one_line(&title, 80),
                    many.iter()
                        .map(|p| p.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            }
        }
    }
}

fn render_playlists(l: &Listing<youtube::Playlist>) -> String {
    if l.items.is_empty() {
        return "No playlists on this channel.".into();
    }
    let mut out = String::new();
    for p in &l.items {
        out.push_str(&format!(
            "{}  ({}{})  {}\n",
            p.title,
            p.privacy.as_deref().unwrap_or("?"),
            p.item_count
                .map(|n| format!(", {n} video{}", if n == 1 { "" } else { "s" }))
                .unwrap_or_default(),
            p.id
        ));
    }
    if l.more {
        out.push_str("… more (raise --max)\n");
    }
    out
}

fn render_items(l: &Listing<youtube::PlaylistItem>) -> String {
    if l.items.is_empty() {
        return "The playlist is empty.".into();
    }
    let mut out = String::new();
    for (i, it) in l.items.iter().enumerate() {
        out.push_str(&format!(
            "{:>3}. {}{}  {}  (item {})\n",
            it.position.map(|p| p + 1).unwrap_or(i as u64 + 1),
            it.title,
            it.channel_title
                .as_deref()
                .map(|c| format!(" — {c}"))
                .unwrap_or_default(),
            it.url,
            it.id
        ));
    }
    if l.more {
        out.push_str("… more (raise --max)\n");
    }
    out
}

async fn call(yt: &YouTube, token: &str, op: &YouTubeOp) -> Result<(Value, String), YouTubeError> {
    match op {
        YouTubeOp::Playlists { max } => {
            let l = yt.playlists(token, *max).await?;
            Ok((
                json!({"playlists": to_json(&l.items)?, "more": l.more}),
                render_playlists(&l),
            ))
        }
        YouTubeOp::PlaylistCreate {
            title,
            description,
            privacy,
        } => {
            let p = yt
                .create_playlist(
                    token,
                    title.trim(),
                    description.as_deref().unwrap_or(""),
                    privacy.name(),
                )
                .await?;
            let text = format!(
                "Created the {} playlist '{}': {}  (id {})",
                p.privacy.as_deref().unwrap_or(privacy.name()),
                p.title,
                p.url,
                p.id
            );
            Ok((json!({"playlist": to_json(&p)?}), text))
        }
        YouTubeOp::PlaylistItems { playlist, max } => {
            let (id, _) = resolve(yt, token, playlist).await?;
            let l = yt.playlist_items(token, &id, None, *max).await?;
            Ok((
                json!({"playlist_id": id, "items": to_json(&l.items)?, "more": l.more}),
                render_items(&l),
            ))
        }
        YouTubeOp::PlaylistAdd { playlist, video } => {
            let video = parse_video(video).map_err(YouTubeError::Invalid)?;
            let (id, title) = resolve(yt, token, playlist).await?;
            let item = yt.add_to_playlist(token, &id, &video).await?;
            let text = format!(
                "Added '{}' to {} at position {} (item {}).",
                item.title,
                title
                    .map(|t| format!("'{t}'"))
                    .unwrap_or_else(|| format!("playlist {id}")),
                item.position.map(|p| p + 1).unwrap_or(0),
                item.id
            );
            Ok((json!({"item": to_json(&item)?}), text))
        }
        YouTubeOp::PlaylistRemove {
            target: RemoveTarget::Item { id },
        } => {
            yt.remove_item(token, id).await?;
            Ok((
                json!({"removed": [id]}),
                format!("Removed playlist item {id}."),
            ))
        }
        YouTubeOp::PlaylistRemove {
            target: RemoveTarget::Video { playlist, video },
        } => {
            let video = parse_video(video).map_err(YouTubeError::Invalid)?;
            let (id, title) = resolve(yt, token, playlist).await?;
            let entries = yt.playlist_items(token, &id, Some(&video), 500).await?;
            let mut removed = vec![];
            for it in entries.items.iter().filter(|i| i.video_id == video) {
                yt.remove_item(token, &it.id).await?;
                removed.push(it.id.clone());
            }
            let name = title
                .map(|t| format!("'{t}'"))
                .unwrap_or_else(|| format!("playlist {id}"));
            let text = match removed.len() {
                0 => format!("Video {video} is not in {name}; nothing was removed."),
                1 => format!("Removed video {video} from {name}."),
                n => format!("Removed {n} entries of video {video} from {name}."),
            };
            Ok((
                json!({"playlist_id": id, "video_id": video, "removed": removed}),
                text,
            ))
        }
        YouTubeOp::Search { query, max, kind } => {
            let l = yt.search(token, query, kind.name(), *max).await?;
            let mut text = String::new();
            for h in &l.items {
                text.push_str(&format!(
                    "{:<8} {}{}  {}\n",
                    h.kind,
                    h.title,
                    h.channel_title
                        .as_deref()
                        .map(|c| format!(" — {c}"))
                        .unwrap_or_default(),
                    h.url
                ));
            }
            if l.items.is_empty() {
                text.push_str("Nothing found.\n");
            }
            Ok((
                json!({"query": query, "results": to_json(&l.items)?, "more": l.more}),
                text,
            ))
        }
        YouTubeOp::Quota => Ok((json!({}), String::new())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn video_ids_from_every_link_form() {
        let id = "dQw4w9WgXcQ";
        for input in [
            "dQw4w9WgXcQ",
            " dQw4w9WgXcQ ",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42s&list=PL123456789012",
            "https://www.youtube.com/watch?feature=share&v=dQw4w9WgXcQ",
            "http://youtube.com/watch?v=dQw4w9WgXcQ",
            "www.youtube.com/watch?v=dQw4w9WgXcQ",
            "youtube.com/watch?v=dQw4w9WgXcQ",
            "https://m.youtube.com/watch?v=dQw4w9WgXcQ&pp=ygU",
            "https://music.youtube.com/watch?v=dQw4w9WgXcQ&si=abc",
            "https://youtu.be/dQw4w9WgXcQ",
            "https://youtu.be/dQw4w9WgXcQ?si=Abc-123_x&t=10",
            "youtu.be/dQw4w9WgXcQ",
            "https://www.youtube.com/shorts/dQw4w9WgXcQ",
            "https://youtube.com/shorts/dQw4w9WgXcQ?feature=share",
            "https://www.youtube.com/live/dQw4w9WgXcQ?si=x",
            "https://www.youtube.com/embed/dQw4w9WgXcQ?start=3",
            "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ",
            "https://www.youtube.com/v/dQw4w9WgXcQ",
            "HTTPS://WWW.YOUTUBE.COM/watch?v=dQw4w9WgXcQ",
        ] {
            assert_eq!(parse_video(input).as_deref(), Ok(id), "{input}");
        }
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        for (input, why) in [
            ("", "give a video id"),
            ("dQw4w9WgXc", "not a YouTube video id"),
            ("dQw4w9WgXcQQ", "not a YouTube video id"),
            ("dQw4w9WgXc!", "not a YouTube video id"),
            ("https://vimeo.com/123456", "not a YouTube link"),
            (
                "https://youtube.com.evil.test/watch?v=dQw4w9WgXcQ",
                "not a YouTube link",
            ),
            (
                "https://evil.test/youtube.com/watch?v=dQw4w9WgXcQ",
                "not a YouTube link",
            ),
            (
                "https://www.youtube.com@evil.test/watch?v=dQw4w9WgXcQ",
                "not a YouTube link",
            ),
            (
                "https://user@www.youtube.com/watch?v=dQw4w9WgXcQ",
                "user name",
            ),
            (
                "https://www.youtube.com/playlist?list=PLabcdefghijkl",
                "playlist link",
            ),
            ("https://www.youtube.com/@somechannel", "not to a video"),
            ("https://www.youtube.com/watch?v=short", "valid video id"),
            (
                "https://www.youtube.com/watch?list=PLabcdefghijkl",
                "no video id",
            ),
            ("https://youtu.be/", "no video id"),
            (
                "ftp://youtube.com/watch?v=dQw4w9WgXcQ",
                "not a YouTube link",
            ),
            ("javascript:alert(1)//youtube.com", "not a YouTube link"),
        ] {
            let e = parse_video(input).unwrap_err();
            assert!(e.contains(why), "{input}: {e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn playlists_by_id_link_or_title() {
        let id = "PLlearnLater00000000000000000000000";
        assert_eq!(parse_playlist(id), Ok(PlaylistRef::Id(id.into())));
        assert_eq!(
            parse_playlist(&format!("https://www.youtube.com/playlist?list={id}")),
            Ok(PlaylistRef::Id(id.into()))
        );
        assert_eq!(
            parse_playlist(&format!(
                "https://www.youtube.com/watch?v=dQw4w9WgXcQ&list={id}"
            )),
            Ok(PlaylistRef::Id(id.into()))
        );
        assert_eq!(
            parse_playlist("Watch This Week"),
            Ok(PlaylistRef::Title("Watch This Week".into()))
        );
        for bad in ["WL", "https://www.youtube.com/playlist?list=WL", "LL"] {
            let e = parse_playlist(bad).unwrap_err();
            assert!(e.contains("since 2016"), "{e}");
        }
        assert!(parse_playlist("https://evil.test/playlist?list=PLabcdefghijkl").is_err());
        assert!(parse_playlist("https://www.youtube.com/watch?v=dQw4w9WgXcQ").is_err());
        assert!(parse_playlist(" ").is_err());
    }

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

    /// The device flow's allow-list (crates/flow/src/dialect/google.rs) grants what the
    /// operations need; `youtube.force-ssl` is not asked for, since the flow refuses it.
    #[test]
    fn the_device_flow_grants_what_the_operations_need() {
        let d = PROVIDER.dialect();
        let granted = d
            .normalize_scopes(vec!["openid".into(), "youtube".into()])
            .unwrap();
        assert!(granted.contains(&SCOPE_YOUTUBE.to_string()), "{granted:?}");
        let ro = d.normalize_scopes(vec!["youtube.readonly".into()]).unwrap();
        assert_eq!(ro, [SCOPE_YOUTUBE_READONLY]);
        assert!(
            d.normalize_scopes(vec!["youtube.force-ssl".into()])
                .is_err()
        );
        for op in YouTubeOp::iter().filter(|op| op.bucket().is_some()) {
            assert!(has_any(&granted, scope_options(&op)), "{}", op.info().name);
            let reads = op.info().access == Access::Read;
            assert_eq!(
                has_any(&ro, scope_options(&op)),
                reads,
                "{}",
                op.info().name
            );
        }
        // Short names, as a config may hold them, count too.
        assert!(has_any(
            &["youtube".to_string()],
            scope_options(&YouTubeOp::Quota)
        ));
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
    fn bad_arguments_and_audit() {
        let bad = [
            YouTubeOp::Playlists { max: 0 },
            YouTubeOp::Search {
                query: " ".into(),
                max: 5,
                kind: SearchKind::Video,
            },
            YouTubeOp::Search {
                query: "x".into(),
                max: 51,
                kind: SearchKind::Video,
            },
            YouTubeOp::PlaylistCreate {
                title: "".into(),
                description: None,
                privacy: Privacy::Private,
            },
            YouTubeOp::PlaylistAdd {
                playlist: "WL".into(),
                video: "dQw4w9WgXcQ".into(),
            },
            YouTubeOp::PlaylistAdd {
                playlist: "Mine".into(),
                video: "https://vimeo.com/1".into(),
            },
            YouTubeOp::PlaylistRemove {
                target: RemoveTarget::Item { id: "a/b".into() },
            },
        ];
        for op in bad {
            assert_eq!(op.validate().unwrap_err().exit, Exit::Usage, "{op:?}");
        }
        let op = YouTubeOp::Search {
            query: "divorce lawyer".into(),
            max: 5,
            kind: SearchKind::Video,
        };
        assert!(!op.audit_args().to_string().contains("divorce"));
        for op in YouTubeOp::iter() {
            assert!(op.info().name.starts_with("google.youtube."));
            assert!(op.info().usage.starts_with("sidekey google youtube "));
            let v = serde_json::to_value(&op).unwrap();
            assert_eq!(v["op"], op.info().name);
        }
    }
}
