//! The YouTube operations (`google.youtube.*`: playlists and search through the YouTube Data
//! API v3, docs/youtube.md): their typed arguments, what each is ([`OpInfo`]) and which quota
//! bucket it draws on, the scopes it can run with, the argument checks that run before any
//! token is fetched, what the audit keeps, and the parsing of what a person pastes (video links
//! in every form YouTube hands out, playlist links or titles). Running them is
//! `crate::ops::youtube`.

use super::{Access, OpInfo};
use crate::error::Failure;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sidekey_flow::ProviderKind;
use sidekey_services::youtube::{self, Bucket};

pub const PROVIDER: ProviderKind = ProviderKind::Google;

/// The scope that allows writes (and reads); the device flow grants it (docs/providers.md, "Google scopes").
pub const SCOPE_YOUTUBE: &str = "https://www.googleapis.com/auth/youtube";
/// Enough for the read operations.
pub const SCOPE_YOUTUBE_READONLY: &str = "https://www.googleapis.com/auth/youtube.readonly";

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
    /// The same value as the YouTube client takes it.
    pub fn wire(self) -> sidekey_services::youtube::Privacy {
        use sidekey_services::youtube::Privacy as P;
        match self {
            Privacy::Private => P::Private,
            Privacy::Unlisted => P::Unlisted,
            Privacy::Public => P::Public,
        }
    }

    pub fn name(self) -> &'static str {
        self.wire().as_str()
    }

    /// Who may see it, in the person's words.
    pub fn describe(self) -> &'static str {
        match self {
            Privacy::Private => "only you (private)",
            Privacy::Unlisted => "anyone with the link (unlisted)",
            Privacy::Public => "everyone (public)",
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
    /// The same value as the YouTube client takes it.
    pub fn wire(self) -> sidekey_services::youtube::SearchType {
        use sidekey_services::youtube::SearchType as T;
        match self {
            SearchKind::Video => T::Video,
            SearchKind::Channel => T::Channel,
            SearchKind::Playlist => T::Playlist,
        }
    }

    pub fn name(self) -> &'static str {
        self.wire().as_str()
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
    /// What the person reads before approving it (times in `zone`): see
    /// [`super::Description`]. Reads are never asked about; they say only what they are.
    pub fn describe(&self, _zone: &jiff::tz::TimeZone) -> super::Description {
        use super::{Description, first_lines};
        match self {
            YouTubeOp::PlaylistCreate {
                title,
                description,
                privacy,
            } => {
                let d = Description::new("Create a YouTube playlist")
                    .with("Title", title.as_str())
                    .with("Visible to", privacy.describe());
                match description {
                    Some(text) => d.with("Description", first_lines(text, 3, 300)),
                    None => d,
                }
            }
            YouTubeOp::PlaylistAdd { playlist, video } => {
                Description::new("Add a video to a YouTube playlist")
                    .with("Playlist", playlist.as_str())
                    .with("Video", video.as_str())
            }
            YouTubeOp::PlaylistRemove { target } => match target {
                RemoveTarget::Item { id } => {
                    Description::new("Remove an entry from a YouTube playlist")
                        .with("Entry", id.as_str())
                }
                RemoveTarget::Video { playlist, video } => {
                    Description::new("Remove every entry of a video from a YouTube playlist")
                        .with("Playlist", playlist.as_str())
                        .with("Video", video.as_str())
                }
            },
            _ => Description::new(self.info().summary),
        }
    }

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
    pub fn command(&self) -> String {
        let n = self.info().name;
        n.strip_prefix("google.youtube.")
            .unwrap_or(n)
            .replace('.', " ")
    }

    /// The quota bucket the operation draws on (`None`: it makes no request).
    pub fn bucket(&self) -> Option<Bucket> {
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

/// Whether any of `granted` (short or full names) is one of `wanted`.
pub fn has_any(granted: &[String], wanted: &[&str]) -> bool {
    granted.iter().any(|g| {
        let full = sidekey_flow::dialect::google::expand(g);
        wanted.contains(&full.as_str())
    })
}

/// The scopes an operation can run with (any one).
pub fn scope_options(op: &YouTubeOp) -> &'static [&'static str] {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Exit;
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
