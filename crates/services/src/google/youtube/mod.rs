//! [`YouTube`]: the YouTube Data API v3 calls sidekey makes for playlists and search
//! (docs/youtube.md). The same transport rules as [`crate::Graph`]: bounded bodies, a timeout per
//! request, `Retry-After` (else a short back-off) on 429/503 within a bound, never a token in an
//! error, one-line messages.
//!
//! What YouTube adds (docs/youtube.md, "Errors" and "Quota"):
//!
//! * Google's error body `{"error":{"code","message","errors":[{"reason","domain","message"}]}}`;
//!   the decision is made on `errors[].reason`, never on the status alone: a 401
//!   `youtubeSignupRequired` (an account without a channel) is not a bad token and must not cause
//!   a refresh; a 403 `quotaExceeded` is not a missing permission and must not be retried.
//! * Every request costs quota, failed ones included (determine_quota_cost: "All API requests,
//!   including invalid requests, incur a quota cost of at least one point"). The client counts
//!   what it spent ([`YouTube::spent`]) so the caller can keep a ledger; a request refused for
//!   quota or for a rejected token is not counted (Google cannot charge it to anything).
//! * Titles in search results carry HTML entities (`&#39;`, `&amp;`); they are decoded here.
//! * int64 counts (`itemCount`, `totalResults`) may come as strings or numbers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use sidekey_net::{Reply as Raw, SendError, send_capped};

mod error;
pub mod render;
use error::charged;
pub use error::{YouTubeError, classify, error_parts, unescape_html};

/// Where the API lives (the docs use both `www.googleapis.com` and `youtube.googleapis.com`).
pub const YOUTUBE_BASE: &str = "https://www.googleapis.com/youtube/v3";
/// `maxResults` is 0..=50 on every list method.
pub const YOUTUBE_MAX_PAGE: usize = 50;

/// The methods sidekey calls, with their documented quota cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    PlaylistsList,
    PlaylistsInsert,
    PlaylistItemsList,
    PlaylistItemsInsert,
    PlaylistItemsDelete,
    SearchList,
}

/// Which daily allowance a method draws on. Since the 2026 quota model `search.list` has its
/// own bucket (100 calls a day, 1 per call); everything else shares 10,000 units a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Units,
    Search,
}

impl Method {
    /// (bucket, cost per request; each extra page is another request).
    pub fn cost(self) -> (Bucket, u32) {
        match self {
            Method::PlaylistsList | Method::PlaylistItemsList => (Bucket::Units, 1),
            Method::PlaylistsInsert | Method::PlaylistItemsInsert | Method::PlaylistItemsDelete => {
                (Bucket::Units, 50)
            }
            Method::SearchList => (Bucket::Search, 1),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::PlaylistsList => "playlists.list",
            Method::PlaylistsInsert => "playlists.insert",
            Method::PlaylistItemsList => "playlistItems.list",
            Method::PlaylistItemsInsert => "playlistItems.insert",
            Method::PlaylistItemsDelete => "playlistItems.delete",
            Method::SearchList => "search.list",
        }
    }
}

// ---------------------------------------------------------------------------------------
// results

/// A playlist of the signed-in channel.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Playlist {
    pub id: String,
    pub title: String,
    pub description: String,
    /// `private`, `unlisted`, `public`.
    pub privacy: Option<String>,
    pub item_count: Option<u64>,
    pub published_at: Option<String>,
    pub url: String,
}

/// One entry of a playlist. `id` is the playlist *item* id (what `remove --item` takes).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PlaylistItem {
    pub id: String,
    pub playlist_id: String,
    pub video_id: String,
    pub title: String,
    pub position: Option<u64>,
    /// The uploader (absent for deleted or private videos).
    pub channel_title: Option<String>,
    pub url: String,
}

/// A search hit: a video, a channel or a playlist.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SearchHit {
    /// `video`, `channel`, `playlist`.
    pub kind: String,
    pub id: String,
    pub title: String,
    pub channel_title: Option<String>,
    pub published_at: Option<String>,
    pub url: String,
}

/// A list and whether YouTube had more than was read.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub more: bool,
    pub total_results: Option<u64>,
}

fn s(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().map(str::to_string)
}

/// int64 fields: a JSON string in Google's discovery documents, a number in some answers.
fn n(v: &Value, path: &[&str]) -> Option<u64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_u64()
        .or_else(|| cur.as_str().and_then(|s| s.parse().ok()))
}

pub fn video_url(id: &str) -> String {
    format!("https://www.youtube.com/watch?v={id}")
}

pub fn playlist_url(id: &str) -> String {
    format!("https://www.youtube.com/playlist?list={id}")
}

pub(crate) fn playlist_of(v: &Value) -> Result<Playlist, YouTubeError> {
    let id =
        s(v, &["id"]).ok_or_else(|| YouTubeError::Malformed("a playlist without id".into()))?;
    Ok(Playlist {
        title: unescape_html(&s(v, &["snippet", "title"]).unwrap_or_default()),
        description: s(v, &["snippet", "description"]).unwrap_or_default(),
        privacy: s(v, &["status", "privacyStatus"]),
        item_count: n(v, &["contentDetails", "itemCount"]),
        published_at: s(v, &["snippet", "publishedAt"]),
        url: playlist_url(&id),
        id,
    })
}

pub(crate) fn item_of(v: &Value) -> Result<PlaylistItem, YouTubeError> {
    let id = s(v, &["id"])
        .ok_or_else(|| YouTubeError::Malformed("a playlist item without id".into()))?;
    let video_id = s(v, &["snippet", "resourceId", "videoId"])
        .or_else(|| s(v, &["contentDetails", "videoId"]))
        .unwrap_or_default();
    Ok(PlaylistItem {
        id,
        playlist_id: s(v, &["snippet", "playlistId"]).unwrap_or_default(),
        title: unescape_html(&s(v, &["snippet", "title"]).unwrap_or_default()),
        position: n(v, &["snippet", "position"]),
        channel_title: s(v, &["snippet", "videoOwnerChannelTitle"]).map(|t| unescape_html(&t)),
        url: video_url(&video_id),
        video_id,
    })
}

pub(crate) fn hit_of(v: &Value) -> Option<SearchHit> {
    let (kind, id) = match s(v, &["id", "kind"])?.as_str() {
        "youtube#video" => ("video", s(v, &["id", "videoId"])?),
        "youtube#channel" => ("channel", s(v, &["id", "channelId"])?),
        "youtube#playlist" => ("playlist", s(v, &["id", "playlistId"])?),
        _ => return None,
    };
    let url = match kind {
        "video" => video_url(&id),
        "channel" => format!("https://www.youtube.com/channel/{id}"),
        _ => playlist_url(&id),
    };
    Some(SearchHit {
        kind: kind.to_string(),
        id,
        title: unescape_html(&s(v, &["snippet", "title"]).unwrap_or_default()),
        channel_title: s(v, &["snippet", "channelTitle"]).map(|t| unescape_html(&t)),
        published_at: s(v, &["snippet", "publishedAt"]),
        url,
    })
}

// ---------------------------------------------------------------------------------------
// client

/// Who may see a playlist (`status.privacyStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Privacy {
    Private,
    Unlisted,
    Public,
}

impl Privacy {
    /// The API's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Privacy::Private => "private",
            Privacy::Unlisted => "unlisted",
            Privacy::Public => "public",
        }
    }
}

/// What a search looks for (`search.list`'s `type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchType {
    Video,
    Channel,
    Playlist,
}

impl SearchType {
    /// The API's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            SearchType::Video => "video",
            SearchType::Channel => "channel",
            SearchType::Playlist => "playlist",
        }
    }
}

/// A YouTube Data API v3 client. Cheap to clone; clones share the spent-quota counters.
#[derive(Clone, Debug)]
pub struct YouTube {
    client: reqwest::Client,
    base: String,
    max_attempts: u32,
    max_wait: Duration,
    page_cap: usize,
    max_body: usize,
    timeout: Duration,
    spent_units: Arc<AtomicU32>,
    spent_searches: Arc<AtomicU32>,
}

impl YouTube {
    /// `base` is the API root with the version, e.g. [`YOUTUBE_BASE`]. Defaults: 3 attempts,
    /// 10 s total wait for rate limits, 10 pages, 4 MiB per answer, 30 s per request.
    pub fn new(client: reqwest::Client, base: &str) -> YouTube {
        YouTube {
            client,
            base: base.trim().trim_end_matches('/').to_string(),
            max_attempts: 3,
            max_wait: Duration::from_secs(10),
            page_cap: 10,
            max_body: 4 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            spent_units: Arc::default(),
            spent_searches: Arc::default(),
        }
    }

    pub fn with_retry(mut self, max_attempts: u32, max_wait: Duration) -> YouTube {
        self.max_attempts = max_attempts.max(1);
        self.max_wait = max_wait;
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Quota this client has spent so far: (units, search calls).
    pub fn spent(&self) -> (u32, u32) {
        (
            self.spent_units.load(Ordering::SeqCst),
            self.spent_searches.load(Ordering::SeqCst),
        )
    }

    fn charge(&self, method: Method) {
        let (bucket, cost) = method.cost();
        match bucket {
            Bucket::Units => self.spent_units.fetch_add(cost, Ordering::SeqCst),
            Bucket::Search => self.spent_searches.fetch_add(cost, Ordering::SeqCst),
        };
    }

    async fn send_once(&self, req: reqwest::RequestBuilder) -> Result<Raw, YouTubeError> {
        send_capped(req, self.timeout, self.max_body)
            .await
            .map_err(|e| match e {
                SendError::TooLarge { message, .. } => YouTubeError::Malformed(message),
                e => YouTubeError::Network(e.to_string()),
            })
    }

    /// One call with the rate-limit policy; the JSON of a 2xx answer (`Null` for 204), or the
    /// mapped error. Every attempt that reached YouTube is charged as YouTube would.
    async fn call(
        &self,
        token: &str,
        method: Method,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Value, YouTubeError> {
        let mut waited = Duration::ZERO;
        let mut attempt: u32 = 1;
        loop {
            let req = make()
                .bearer_auth(token)
                .header(reqwest::header::ACCEPT, "application/json");
            let raw = self.send_once(req).await?;
            let body: Value = serde_json::from_slice(&raw.body).unwrap_or(Value::Null);
            if (200..300).contains(&raw.status) {
                self.charge(method);
                if raw.status == 204 || raw.body.iter().all(u8::is_ascii_whitespace) {
                    return Ok(Value::Null);
                }
                if body.is_null() {
                    return Err(YouTubeError::Malformed(format!(
                        "HTTP {} with a body that is not JSON",
                        raw.status
                    )));
                }
                return Ok(body);
            }
            if charged(raw.status, &body) {
                self.charge(method);
            }
            let err = classify(method, raw.status, &body, raw.retry_after);
            if let YouTubeError::Throttled { retry_after } = &err {
                let wait = retry_after.unwrap_or_else(|| {
                    Duration::from_millis(500u64 << attempt.saturating_sub(1).min(6))
                });
                if attempt < self.max_attempts && waited + wait <= self.max_wait {
                    tokio::time::sleep(wait).await;
                    waited += wait;
                    attempt += 1;
                    continue;
                }
            }
            return Err(err);
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    /// Reads pages of a list method until `want` items, the pages run out, or the page cap.
    async fn list(
        &self,
        token: &str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        want: usize,
    ) -> Result<(Vec<Value>, bool, Option<u64>), YouTubeError> {
        let want = want.max(1);
        let mut items = Vec::new();
        let mut page_token: Option<String> = None;
        let mut total = None;
        for _ in 0..self.page_cap {
            let size = (want - items.len()).min(YOUTUBE_MAX_PAGE);
            let mut q: Vec<(&str, String)> = query.to_vec();
            q.push(("maxResults", size.to_string()));
            if let Some(t) = &page_token {
                q.push(("pageToken", t.clone()));
            }
            let url = self.url(path);
            let page = self
                .call(token, method, || self.client.get(&url).query(&q))
                .await?;
            total = total.or_else(|| n(&page, &["pageInfo", "totalResults"]));
            let got = page
                .get("items")
                .and_then(Value::as_array)
                .ok_or_else(|| YouTubeError::Malformed("a list without \"items\"".into()))?;
            items.extend(got.iter().cloned());
            page_token = page
                .get("nextPageToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if items.len() >= want || page_token.is_none() || got.is_empty() {
                break;
            }
        }
        let more = page_token.is_some() || items.len() > want;
        items.truncate(want);
        Ok((items, more, total))
    }

    /// The signed-in channel's playlists (`playlists.list?mine=true`), 1 unit per page.
    pub async fn playlists(
        &self,
        token: &str,
        want: usize,
    ) -> Result<Listing<Playlist>, YouTubeError> {
        let (items, more, total) = self
            .list(
                token,
                Method::PlaylistsList,
                "playlists",
                &[
                    ("part", "snippet,contentDetails,status".into()),
                    ("mine", "true".into()),
                ],
                want,
            )
            .await?;
        Ok(Listing {
            items: items.iter().map(playlist_of).collect::<Result<_, _>>()?,
            more,
            total_results: total,
        })
    }

    /// `playlists.insert` (50 units). The privacy is always sent: the default when it is
    /// omitted is not documented.
    pub async fn create_playlist(
        &self,
        token: &str,
        title: &str,
        description: &str,
        privacy: Privacy,
    ) -> Result<Playlist, YouTubeError> {
        let body = json!({
            "snippet": {"title": title, "description": description},
            "status": {"privacyStatus": privacy.as_str()},
        });
        let url = self.url("playlists");
        let v = self
            .call(token, Method::PlaylistsInsert, || {
                self.client
                    .post(&url)
                    .query(&[("part", "snippet,status")])
                    .json(&body)
            })
            .await?;
        playlist_of(&v)
    }

    /// `playlistItems.list?playlistId=` (1 unit per page), optionally only the entries of one
    /// video.
    pub async fn playlist_items(
        &self,
        token: &str,
        playlist_id: &str,
        video_id: Option<&str>,
        want: usize,
    ) -> Result<Listing<PlaylistItem>, YouTubeError> {
        let mut q = vec![
            ("part", "snippet,contentDetails".to_string()),
            ("playlistId", playlist_id.to_string()),
        ];
        if let Some(v) = video_id {
            q.push(("videoId", v.to_string()));
        }
        let (items, more, total) = self
            .list(token, Method::PlaylistItemsList, "playlistItems", &q, want)
            .await?;
        Ok(Listing {
            items: items.iter().map(item_of).collect::<Result<_, _>>()?,
            more,
            total_results: total,
        })
    }

    /// `playlistItems.insert` (50 units): the video at the end of the playlist.
    pub async fn add_to_playlist(
        &self,
        token: &str,
        playlist_id: &str,
        video_id: &str,
    ) -> Result<PlaylistItem, YouTubeError> {
        let body = json!({"snippet": {
            "playlistId": playlist_id,
            "resourceId": {"kind": "youtube#video", "videoId": video_id},
        }});
        let url = self.url("playlistItems");
        let v = self
            .call(token, Method::PlaylistItemsInsert, || {
                self.client
                    .post(&url)
                    .query(&[("part", "snippet,contentDetails")])
                    .json(&body)
            })
            .await?;
        item_of(&v)
    }

    /// `playlistItems.delete?id=` (50 units). It takes the playlist *item* id, not a video id.
    pub async fn remove_item(&self, token: &str, item_id: &str) -> Result<(), YouTubeError> {
        let url = self.url("playlistItems");
        self.call(token, Method::PlaylistItemsDelete, || {
            self.client.delete(&url).query(&[("id", item_id)])
        })
        .await
        .map(|_| ())
    }

    /// `search.list` (its own bucket, 1 per page): videos, channels or playlists matching `q`.
    pub async fn search(
        &self,
        token: &str,
        q: &str,
        kind: SearchType,
        want: usize,
    ) -> Result<Listing<SearchHit>, YouTubeError> {
        if q.trim().is_empty() {
            return Err(YouTubeError::Invalid("an empty search".into()));
        }
        let (items, more, total) = self
            .list(
                token,
                Method::SearchList,
                "search",
                &[
                    ("part", "snippet".into()),
                    ("q", q.to_string()),
                    ("type", kind.as_str().to_string()),
                ],
                want,
            )
            .await?;
        Ok(Listing {
            items: items.iter().filter_map(hit_of).collect(),
            more,
            total_results: total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_decide_not_statuses() {
        let body = |reason: &str, domain: &str| json!({"error": {"code": 0, "message": "m", "errors": [{"reason": reason, "domain": domain, "message": "m"}]}});
        let m = Method::PlaylistsInsert;
        assert!(matches!(
            classify(
                m,
                401,
                &body("youtubeSignupRequired", "youtube.header"),
                None
            ),
            YouTubeError::SignupRequired
        ));
        assert!(matches!(
            classify(m, 401, &body("authError", "global"), None),
            YouTubeError::Unauthorized
        ));
        assert!(matches!(
            classify(m, 401, &Value::Null, None),
            YouTubeError::Unauthorized
        ));
        assert!(matches!(
            classify(
                Method::SearchList,
                403,
                &body("quotaExceeded", "youtube.quota"),
                None
            ),
            YouTubeError::QuotaExceeded {
                bucket: Bucket::Search,
                ..
            }
        ));
        assert!(matches!(
            classify(m, 403, &body("insufficientPermissions", "global"), None),
            YouTubeError::MissingScope
        ));
        assert!(matches!(
            classify(m, 403, &body("rateLimitExceeded", "usageLimits"), None),
            YouTubeError::Throttled { .. }
        ));
        assert!(matches!(
            classify(
                m,
                404,
                &body("playlistNotFound", "youtube.playlistItem"),
                None
            ),
            YouTubeError::NotFound { .. }
        ));
        // Not charged: refused for quota, or a token Google could not attribute.
        assert!(!charged(403, &body("quotaExceeded", "youtube.quota")));
        assert!(!charged(401, &body("authError", "global")));
        assert!(charged(
            401,
            &body("youtubeSignupRequired", "youtube.header")
        ));
        assert!(charged(404, &body("videoNotFound", "youtube.playlistItem")));
        assert!(!charged(429, &body("rateLimitExceeded", "usageLimits")));
    }

    #[test]
    fn html_is_taken_out_of_messages_and_titles() {
        let body = json!({"error": {"code": 403, "message": "The request cannot be completed because you have exceeded your \u{003c}a href=\"/youtube/v3/getting-started#quota\"\u{003e}quota\u{003c}/a\u{003e}.", "errors": []}});
        assert_eq!(
            error_parts(&body).1,
            "The request cannot be completed because you have exceeded your quota."
        );
        assert_eq!(
            unescape_html("Rock &amp; Roll &#39;74 &quot;live&quot; &#x263A; &bogus; & done"),
            "Rock & Roll '74 \"live\" ☺ &bogus; & done"
        );
        // Multi-byte text right after a `&` (a byte-12 cut inside a character used to panic).
        assert_eq!(unescape_html("Tom & Jerry 日本語"), "Tom & Jerry 日本語");
        assert_eq!(unescape_html("&amp;日本語テスト"), "&日本語テスト");
        assert_eq!(unescape_html("&日本語テスト;"), "&日本語テスト;");
        assert_eq!(unescape_html("&"), "&");
    }

    #[test]
    fn int64_counts_as_strings_or_numbers() {
        let v =
            json!({"id": "PL1", "snippet": {"title": "t"}, "contentDetails": {"itemCount": "12"}});
        assert_eq!(playlist_of(&v).unwrap().item_count, Some(12));
        let v = json!({"id": "PL1", "snippet": {"title": "t"}, "contentDetails": {"itemCount": 3}});
        assert_eq!(playlist_of(&v).unwrap().item_count, Some(3));
    }

    #[test]
    fn search_hits_by_kind() {
        let v = json!({"id": {"kind": "youtube#video", "videoId": "abcdefghijk"}, "snippet": {"title": "A &amp; B", "channelTitle": "C"}});
        let h = hit_of(&v).unwrap();
        assert_eq!(
            (h.kind.as_str(), h.id.as_str(), h.title.as_str()),
            ("video", "abcdefghijk", "A & B")
        );
        assert_eq!(h.url, "https://www.youtube.com/watch?v=abcdefghijk");
        assert!(hit_of(&json!({"id": {"kind": "youtube#other"}})).is_none());
    }
}
