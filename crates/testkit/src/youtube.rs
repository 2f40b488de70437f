//! A fake YouTube Data API v3 ([`FakeYouTube`]) for sidekey's playlist and search operations:
//! `playlists` (list, insert), `playlistItems` (list, insert, delete) and `search`.
//!
//! # What it imitates (docs/youtube.md; sources there)
//!
//! * Google's error body `{"error":{"code","message","errors":[{"message","domain","reason",…}]}}`
//!   with the documented reasons: 401 `authError` for a bad token (with `WWW-Authenticate`);
//!   401 `youtubeSignupRequired` (domain `youtube.header`) for writes by an account without a
//!   channel; 403 `quotaExceeded` (domain `youtube.quota`, the message with Google's HTML link);
//!   403 `insufficientPermissions` without the `youtube` scope (and without `youtube.readonly`
//!   for reads); 403 `accessNotConfigured` when the API is not enabled in the project;
//!   404 `playlistNotFound`, `videoNotFound`, `playlistItemNotFound`; 403
//!   `playlistItemsNotAccessible` for someone else's playlist; 403 `watchLaterNotAccessible`
//!   for `WL`; 403 `playlistContainsMaximumNumberOfVideos`; 400 `required` without `part`,
//!   `playlistTitleRequired`, `invalidPageToken`, and an out-of-range `maxResults`.
//! * Quota per Cloud project, charged as YouTube charges it: 1 unit per list page, 50 per
//!   insert/delete, **failed requests included** (determine_quota_cost: "All API requests,
//!   including invalid requests, incur a quota cost"), and `search.list` in its own bucket
//!   (100 calls a day, 1 each). A request that would overdraw a bucket gets `quotaExceeded` and
//!   costs nothing. Tokens are mapped to projects ([`FakeYouTube::set_token_project`]).
//! * Lists: `items`, `nextPageToken`/`prevPageToken`, `pageInfo`; `maxResults` 0..=50, default 5;
//!   page tokens are opaque and checked.
//! * Search titles carry HTML entities (`&#39;`, `&amp;`, `&quot;`), as YouTube's do.
//! * int64 `itemCount`/`totalResults` are numbers here, as YouTube sends them in JSON answers.
//!
//! # Simplifications (unconfirmed behaviour marked [U] in docs/youtube.md)
//!
//! * `playlists.list?mine=true` for an account without a channel answers an empty list [U]; its
//!   writes answer `youtubeSignupRequired` (confirmed by several clients).
//! * Scope and authentication are checked before quota is charged; every other failure is
//!   charged [U for the order].
//! * Search matches a case-insensitive substring of titles; the quota day never rolls over by
//!   itself ([`FakeYouTube::reset_quota`] is "midnight Pacific time").
//!
//! Same design as [`crate::FakeGraph`]: one thread, a current-thread runtime, state behind a
//! `std::sync::Mutex` never held across an `.await`, no input that can make it panic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::running::{Bound, Running};
use crate::trust::{Admitted, Gate, narrowed};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

const MAX_BODY: usize = 256 * 1024;
const DEFAULT_PROJECT: &str = "default";
const SCOPE: &str = "https://www.googleapis.com/auth/youtube";
const SCOPE_RO: &str = "https://www.googleapis.com/auth/youtube.readonly";

/// A video anyone can find and add.
#[derive(Clone, Debug)]
pub struct FakeVideo {
    pub id: String,
    pub title: String,
    pub channel_id: String,
    pub channel_title: String,
}

/// A playlist; `items` are `(playlist item id, video id)` in position order.
#[derive(Clone, Debug)]
pub struct FakePlaylist {
    pub id: String,
    pub title: String,
    pub description: String,
    pub privacy: String,
    pub channel_id: String,
    pub channel_title: String,
    pub items: Vec<(String, String)>,
}

/// Behaviour knobs; [`YouTubeOptions::default`] is a person with a channel, the sample data,
/// YouTube's default quota, every scope, the API enabled.
#[derive(Clone, Debug)]
pub struct YouTubeOptions {
    /// `Some((channel id, title))`: the signed-in person's channel; `None`: no channel.
    pub channel: Option<(String, String)>,
    pub videos: Vec<FakeVideo>,
    pub playlists: Vec<FakePlaylist>,
    /// Units a project may spend a day outside search (YouTube's default 10,000).
    pub units_per_day: u32,
    /// `search.list` calls a project may make a day (YouTube's default 100).
    pub searches_per_day: u32,
    /// `Some`: only these scopes are granted (short or URL form); `None`: all.
    pub granted_scopes: Option<Vec<String>>,
    /// `false`: every call answers 403 `accessNotConfigured`.
    pub api_enabled: bool,
    /// YouTube's cap on entries per playlist (5,000).
    pub max_items_per_playlist: usize,
    /// Every request is answered 400 `badRequest` whose message echoes the request's
    /// `Authorization` header, as a misbehaving proxy might. Default false.
    pub echo_authorization: bool,
}

pub const SAMPLE_CHANNEL: &str = "UCadaLovelace000000000000";
pub const OTHER_CHANNEL: &str = "UCsomeoneElse0000000000000";
/// A playlist of the person's, with two entries.
pub const SAMPLE_PLAYLIST: &str = "PLlearnLater00000000000000000000000";
/// Someone else's public playlist.
pub const FOREIGN_PLAYLIST: &str = "PLforeign000000000000000000000000000";

fn video(id: &str, title: &str) -> FakeVideo {
    FakeVideo {
        id: id.into(),
        title: title.into(),
        channel_id: OTHER_CHANNEL.into(),
        channel_title: "Uploader".into(),
    }
}

impl Default for YouTubeOptions {
    fn default() -> Self {
        let mut videos = vec![
            video("dQw4w9WgXcQ", "Never Gonna Give You Up"),
            video("9bZkp7q19f0", "Gangnam Style"),
            video("abcDEF_-123", "Rust's \"async\" & you"),
            video(
                "M7lc1UVf-VE",
                "YouTube Developers Live: Embedded Web Player Customization",
            ),
        ];
        for i in 0..60 {
            videos.push(video(&format!("rustTalk{i:03}"), &format!("Rust talk {i}")));
        }
        let playlists = vec![
            FakePlaylist {
                id: SAMPLE_PLAYLIST.into(),
                title: "Learn Later".into(),
                description: "".into(),
                privacy: "private".into(),
                channel_id: SAMPLE_CHANNEL.into(),
                channel_title: "Ada Lovelace".into(),
                items: vec![
                    ("UExlYXJuTGF0ZXIuMQ".into(), "dQw4w9WgXcQ".into()),
                    ("UExlYXJuTGF0ZXIuMg".into(), "9bZkp7q19f0".into()),
                ],
            },
            FakePlaylist {
                id: FOREIGN_PLAYLIST.into(),
                title: "Someone else's mix".into(),
                description: "".into(),
                privacy: "public".into(),
                channel_id: OTHER_CHANNEL.into(),
                channel_title: "Uploader".into(),
                items: vec![("UExmb3JlaWduLjE".into(), "dQw4w9WgXcQ".into())],
            },
        ];
        YouTubeOptions {
            channel: Some((SAMPLE_CHANNEL.into(), "Ada Lovelace".into())),
            videos,
            playlists,
            units_per_day: 10_000,
            searches_per_day: 100,
            granted_scopes: None,
            api_enabled: true,
            max_items_per_playlist: 5000,
            echo_authorization: false,
        }
    }
}

/// One HTTP request as received.
#[derive(Clone, Debug)]
pub struct YouTubeRequest {
    pub method: String,
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl YouTubeRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaUse {
    pub units: u32,
    pub searches: u32,
}

struct YState {
    opts: YouTubeOptions,
    requests: Vec<YouTubeRequest>,
    gate: Gate,
    token_project: HashMap<String, String>,
    quota: HashMap<String, QuotaUse>,
    next_id: u64,
    /// The next n requests answer 429 `rateLimitExceeded` with this `Retry-After` (if any).
    rate_limited: (usize, Option<String>),
}

struct YShared {
    base: String,
    state: Mutex<YState>,
}

impl YShared {
    fn lock(&self) -> MutexGuard<'_, YState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake YouTube. Dropping it shuts it down.
pub struct FakeYouTube {
    shared: Arc<YShared>,
    _server: Running,
}

impl FakeYouTube {
    pub fn start(opts: YouTubeOptions) -> FakeYouTube {
        let bound = Bound::loopback();
        let shared = Arc::new(YShared {
            base: bound.base.clone(),
            state: Mutex::new(YState {
                opts,
                requests: Vec::new(),
                gate: Gate::default(),
                token_project: HashMap::new(),
                quota: HashMap::new(),
                next_id: 1,
                rate_limited: (0, None),
            }),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = bound.serve("fake-youtube", app);
        FakeYouTube {
            shared,
            _server: server,
        }
    }

    /// `http://127.0.0.1:PORT/youtube/v3`
    pub fn base_url(&self) -> String {
        format!("{}/youtube/v3", self.shared.base)
    }

    pub fn requests(&self) -> Vec<YouTubeRequest> {
        self.shared.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// A fixed list of accepted tokens (with [`YouTubeOptions::granted_scopes`]' scopes), for
    /// tests without an authorization server; every other token gets 401 `authError` (tokens of
    /// a [`FakeYouTube::trust`]ed server still count). `None` and nothing trusted: any non-empty
    /// bearer token (benches and foreign clients only).
    pub fn set_valid_tokens(&self, tokens: Option<Vec<String>>) {
        self.shared.lock().gate.fixed = tokens;
    }

    /// `true`: every token gets the 401, trusted or listed — a service that stopped accepting
    /// this sign-in's tokens while the authorization server still refreshes them (the account
    /// was disabled at the service), for tests of "refresh once, then sign in again".
    pub fn refuse_all_tokens(&self, refuse: bool) {
        self.shared.lock().gate.refuse_all = refuse;
    }

    /// Accept the access tokens `idp` issues, as YouTube accepts Google's: a live token of
    /// `idp`'s configured user, with the scopes of its grant (narrowed by
    /// [`YouTubeOptions::granted_scopes`] when set). An expired, revoked, unknown (another
    /// client's) or another person's token gets 401 `authError`; a grant without `youtube`
    /// (or, for reads, `youtube.readonly`) 403 `insufficientPermissions`. From now on only
    /// trusted servers' tokens and the fixed list ([`FakeYouTube::set_valid_tokens`]) count.
    pub fn trust(&self, idp: &crate::FakeIdp) {
        self.shared
            .lock()
            .gate
            .trusted
            .push((idp.verifier(), String::new()));
    }

    /// Charge `token`'s requests to `project` (default: one project for every token).
    pub fn set_token_project(&self, token: &str, project: &str) {
        self.shared
            .lock()
            .token_project
            .insert(token.into(), project.into());
    }

    /// What `project` spent today (`"default"` unless tokens were mapped).
    pub fn quota_used(&self, project: &str) -> QuotaUse {
        self.shared
            .lock()
            .quota
            .get(project)
            .copied()
            .unwrap_or_default()
    }

    /// The next `times` authenticated requests answer 429 `rateLimitExceeded` (domain
    /// `usageLimits`), with `Retry-After: retry_after` when given; they cost no quota [U].
    pub fn inject_rate_limit(&self, times: usize, retry_after: Option<&str>) {
        self.shared.lock().rate_limited = (times, retry_after.map(str::to_string));
    }

    /// Midnight Pacific time: every project's day starts again.
    pub fn reset_quota(&self) {
        self.shared.lock().quota.clear();
    }

    /// Change the options while running (e.g. take the channel away).
    pub fn update(&self, f: impl FnOnce(&mut YouTubeOptions)) {
        f(&mut self.shared.lock().opts);
    }

    /// The video ids of a playlist, in order (`None`: no such playlist).
    pub fn playlist_videos(&self, playlist_id: &str) -> Option<Vec<String>> {
        self.shared
            .lock()
            .opts
            .playlists
            .iter()
            .find(|p| p.id == playlist_id)
            .map(|p| p.items.iter().map(|(_, v)| v.clone()).collect())
    }

    /// `(id, title, privacy)` of the playlists of the person's channel.
    pub fn my_playlists(&self) -> Vec<(String, String, String)> {
        let st = self.shared.lock();
        let mine = st.opts.channel.as_ref().map(|c| c.0.clone());
        st.opts
            .playlists
            .iter()
            .filter(|p| Some(&p.channel_id) == mine.as_ref())
            .map(|p| (p.id.clone(), p.title.clone(), p.privacy.clone()))
            .collect()
    }
}

impl std::fmt::Debug for FakeYouTube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeYouTube")
            .field("base", &self.shared.base)
            .finish()
    }
}

// ---------------------------------------------------------------------------------------
// answers

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Option<Value>,
}

fn ok(body: Value) -> Reply {
    Reply {
        status: 200,
        headers: vec![],
        body: Some(body),
    }
}

/// Google's classic error shape.
fn gerr(status: u16, reason: &str, domain: &str, message: &str) -> Reply {
    let status_word = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        _ => "UNKNOWN",
    };
    let mut err = json!({"message": message, "domain": domain, "reason": reason});
    if reason == "youtubeSignupRequired" || reason == "authError" {
        err["locationType"] = json!("header");
        err["location"] = json!("Authorization");
    }
    let mut body = json!({"error": {"code": status, "message": message, "errors": [err]}});
    if reason != "youtubeSignupRequired" && reason != "quotaExceeded" {
        body["error"]["status"] = json!(status_word);
    }
    Reply {
        status,
        headers: vec![],
        body: Some(body),
    }
}

fn param_err(reason: &str, location: &str, message: &str) -> Reply {
    let mut r = gerr(400, reason, "global", message);
    if let Some(b) = r.body.as_mut() {
        b["error"]["errors"][0]["locationType"] = json!("parameter");
        b["error"]["errors"][0]["location"] = json!(location);
    }
    r
}

fn quota_exceeded() -> Reply {
    gerr(
        403,
        "quotaExceeded",
        "youtube.quota",
        "The request cannot be completed because you have exceeded your <a href=\"/youtube/v3/getting-started#quota\">quota</a>.",
    )
}

async fn handle(State(sh): State<Arc<YShared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let reply = {
        let mut st = sh.lock();
        st.requests.push(YouTubeRequest {
            method: parts.method.as_str().to_string(),
            path_and_query: if query.is_empty() {
                path.clone()
            } else {
                format!("{path}?{query}")
            },
            headers: headers.clone(),
            body: body.as_ref().cloned().unwrap_or_default(),
        });
        match body {
            Err(_) => gerr(413, "uploadTooLarge", "global", "Request too large."),
            Ok(body) => outer(
                &mut st,
                parts.method.as_str(),
                &path,
                &query,
                &headers,
                &body,
            ),
        }
    };
    to_response(reply)
}

fn to_response(r: Reply) -> Response {
    let mut resp = match r.body {
        Some(b) => Response::new(Body::from(b.to_string())),
        None => Response::new(Body::empty()),
    };
    *resp.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    for (k, v) in r.headers {
        if let (Ok(k), Ok(v)) = (
            header::HeaderName::from_bytes(k.as_bytes()),
            header::HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (pct_decode(k), pct_decode(v)),
            None => (pct_decode(p), String::new()),
        })
        .collect()
}

struct Q(Vec<(String, String)>);

impl Q {
    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
}

/// (bucket is search, cost) of a route.
fn cost(method: &str, resource: &str) -> Option<(bool, u32)> {
    match (method, resource) {
        ("GET", "playlists") | ("GET", "playlistItems") => Some((false, 1)),
        ("POST", "playlists") | ("POST", "playlistItems") | ("DELETE", "playlistItems") => {
            Some((false, 50))
        }
        ("GET", "search") => Some((true, 1)),
        _ => None,
    }
}

fn norm_scope(s: &str) -> String {
    let s = s.trim();
    if s.starts_with("https://") {
        s.to_string()
    } else {
        format!("https://www.googleapis.com/auth/{s}")
    }
}

fn outer(
    st: &mut YState,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    body: &str,
) -> Reply {
    let token = headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .and_then(|(_, a)| {
            let (scheme, rest) = a.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    if st.opts.echo_authorization {
        let echoed = headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        return gerr(
            400,
            "badRequest",
            "global",
            &format!("Unexpected request. Headers: Authorization: {echoed}"),
        );
    }
    let admitted = st.gate.admit(token.as_deref());
    // The scopes the request carries: a trusted grant's, else the options' (`None`: all).
    let granted = match &admitted {
        Ok(Admitted::Grant { grant, .. }) => Some(narrowed(
            grant.scopes.clone(),
            st.opts.granted_scopes.as_ref(),
            norm_scope,
        )),
        _ => st.opts.granted_scopes.clone(),
    };
    if admitted.is_err() {
        let mut r = gerr(
            401,
            "authError",
            "global",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        );
        if let Some(b) = r.body.as_mut() {
            b["error"]["errors"][0]["message"] = json!("Invalid Credentials");
        }
        r.headers.push((
            "WWW-Authenticate".into(),
            "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"".into(),
        ));
        return r;
    }
    let token = token.unwrap_or_default();
    if st.rate_limited.0 > 0 {
        st.rate_limited.0 -= 1;
        let mut r = gerr(
            429,
            "rateLimitExceeded",
            "usageLimits",
            "Rate Limit Exceeded",
        );
        if let Some(after) = &st.rate_limited.1 {
            r.headers.push(("Retry-After".into(), after.clone()));
        }
        return r;
    }
    let Some(resource) = path.strip_prefix("/youtube/v3/") else {
        return gerr(404, "notFound", "global", "Not Found");
    };
    let Some((is_search, units)) = cost(method, resource) else {
        return gerr(404, "notFound", "global", "Not Found");
    };
    let project = st
        .token_project
        .get(&token)
        .cloned()
        .unwrap_or_else(|| DEFAULT_PROJECT.into());
    if !st.opts.api_enabled {
        return gerr(
            403,
            "accessNotConfigured",
            "usageLimits",
            "YouTube Data API v3 has not been used in project 123456789012 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/youtube.googleapis.com/overview?project=123456789012 then retry.",
        );
    }
    // Scopes (docs/youtube.md, "Scope and setup"; each method's "Authorization" section at
    // developers.google.com/youtube/v3/docs): every call takes `youtube`, reads (`GET`) also
    // `youtube.readonly`; without one, 403 `insufficientPermissions`.
    if let Some(granted) = &granted {
        let granted: Vec<String> = granted.iter().map(|s| norm_scope(s)).collect();
        let ok = granted.iter().any(|g| g == SCOPE)
            || (method == "GET" && granted.iter().any(|g| g == SCOPE_RO));
        if !ok {
            return gerr(
                403,
                "insufficientPermissions",
                "global",
                "Request had insufficient authentication scopes.",
            );
        }
    }
    // Charge (or refuse for quota) before anything else can fail: invalid requests cost too.
    let (limit_units, limit_search) = (st.opts.units_per_day, st.opts.searches_per_day);
    let used = st.quota.entry(project).or_default();
    if is_search {
        if used.searches + units > limit_search {
            return quota_exceeded();
        }
        used.searches += units;
    } else {
        if used.units + units > limit_units {
            return quota_exceeded();
        }
        used.units += units;
    }
    let q = Q(parse_query(query));
    // `part` is required on every list and insert; `playlistItems.delete` takes only `id`.
    if method != "DELETE" && q.get("part").is_none_or(|p| p.trim().is_empty()) {
        return param_err("required", "part", "Required parameter: part");
    }
    match (method, resource) {
        ("GET", "playlists") => playlists_list(st, &q),
        ("POST", "playlists") => playlists_insert(st, body),
        ("GET", "playlistItems") => items_list(st, &q),
        ("POST", "playlistItems") => items_insert(st, body),
        ("DELETE", "playlistItems") => items_delete(st, &q),
        _ => search(st, &q),
    }
}

/// `maxResults` (default 5, 0..=50) and the offset of `pageToken`.
fn paging(q: &Q) -> Result<(usize, usize), Reply> {
    let max = match q.get("maxResults") {
        None => 5,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n <= 50 => n,
            _ => {
                return Err(param_err(
                    "invalidValue",
                    "maxResults",
                    &format!(
                        "Invalid value '{}'. Values must be within the range: [0, 50]",
                        v.chars().take(20).collect::<String>()
                    ),
                ));
            }
        },
    };
    let offset = match q.get("pageToken") {
        None | Some("") => 0,
        Some(t) => match t.strip_prefix("CAUQ").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => {
                return Err(param_err(
                    "invalidPageToken",
                    "pageToken",
                    "The request specifies an invalid page token.",
                ));
            }
        },
    };
    Ok((max, offset))
}

fn page(kind: &str, all: Vec<Value>, max: usize, offset: usize) -> Reply {
    let total = all.len();
    let items: Vec<Value> = all.into_iter().skip(offset).take(max).collect();
    let mut body = json!({
        "kind": kind,
        "etag": "fake-etag",
        "pageInfo": {"totalResults": total, "resultsPerPage": max},
        "items": items,
    });
    if offset + max < total && max > 0 {
        body["nextPageToken"] = json!(format!("CAUQ{}", offset + max));
    }
    if offset > 0 {
        body["prevPageToken"] = json!(format!("CAUQ{}", offset.saturating_sub(max)));
    }
    ok(body)
}

fn playlist_json(p: &FakePlaylist) -> Value {
    json!({
        "kind": "youtube#playlist",
        "etag": "fake-etag",
        "id": p.id,
        "snippet": {
            "publishedAt": "2026-01-02T03:04:05Z",
            "channelId": p.channel_id,
            "title": p.title,
            "description": p.description,
            "thumbnails": {},
            "channelTitle": p.channel_title,
            "localized": {"title": p.title, "description": p.description},
        },
        "contentDetails": {"itemCount": p.items.len()},
        "status": {"privacyStatus": p.privacy},
    })
}

fn playlists_list(st: &YState, q: &Q) -> Reply {
    let (max, offset) = match paging(q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let filters = ["mine", "channelId", "id"]
        .iter()
        .filter(|f| q.get(f).is_some())
        .count();
    if filters != 1 {
        return param_err(
            "missingRequiredParameter",
            "parameters",
            "No filter selected. Expected one of: channelId, id, mine",
        );
    }
    let mine = st.opts.channel.as_ref().map(|c| c.0.as_str());
    let list: Vec<Value> = st
        .opts
        .playlists
        .iter()
        .filter(|p| {
            if q.get("mine") == Some("true") {
                Some(p.channel_id.as_str()) == mine
            } else if let Some(c) = q.get("channelId") {
                p.channel_id == c && (p.privacy == "public" || Some(c) == mine)
            } else {
                q.get("id").unwrap_or("").split(',').any(|id| id == p.id)
            }
        })
        .map(playlist_json)
        .collect();
    page("youtube#playlistListResponse", list, max, offset)
}

fn body_json(body: &str) -> Result<Value, Reply> {
    serde_json::from_str::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| gerr(400, "parseError", "global", "Parse Error"))
}

fn playlists_insert(st: &mut YState, body: &str) -> Reply {
    let Some((channel_id, channel_title)) = st.opts.channel.clone() else {
        return gerr(
            401,
            "youtubeSignupRequired",
            "youtube.header",
            "Unauthorized",
        );
    };
    let v = match body_json(body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let title = v["snippet"]["title"].as_str().unwrap_or("").to_string();
    if title.trim().is_empty() {
        return gerr(
            400,
            "playlistTitleRequired",
            "youtube.playlist",
            "The request must specify a playlist title.",
        );
    }
    if title.chars().count() > 150 {
        return gerr(
            400,
            "invalidPlaylistSnippet",
            "youtube.playlist",
            "The request provides an invalid playlist snippet.",
        );
    }
    let privacy = v["status"]["privacyStatus"].as_str().unwrap_or("public");
    if !["private", "unlisted", "public"].contains(&privacy) {
        return gerr(
            400,
            "invalidValue",
            "youtube.playlist",
            "Invalid value for privacyStatus.",
        );
    }
    let id = format!("PLfake{:029}", st.next_id);
    st.next_id += 1;
    let p = FakePlaylist {
        id,
        title,
        description: v["snippet"]["description"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        privacy: privacy.to_string(),
        channel_id,
        channel_title,
        items: vec![],
    };
    let out = playlist_json(&p);
    st.opts.playlists.push(p);
    ok(out)
}

fn item_json(st: &YState, p: &FakePlaylist, pos: usize, item_id: &str, video_id: &str) -> Value {
    let v = st.opts.videos.iter().find(|v| v.id == video_id);
    let mut snippet = json!({
        "publishedAt": "2026-02-03T04:05:06Z",
        "channelId": p.channel_id,
        "title": v.map(|v| v.title.as_str()).unwrap_or("Deleted video"),
        "description": "",
        "thumbnails": {},
        "channelTitle": p.channel_title,
        "playlistId": p.id,
        "position": pos,
        "resourceId": {"kind": "youtube#video", "videoId": video_id},
    });
    if let Some(v) = v {
        snippet["videoOwnerChannelTitle"] = json!(v.channel_title);
        snippet["videoOwnerChannelId"] = json!(v.channel_id);
    }
    json!({
        "kind": "youtube#playlistItem",
        "etag": "fake-etag",
        "id": item_id,
        "snippet": snippet,
        "contentDetails": {"videoId": video_id, "videoPublishedAt": "2020-01-01T00:00:00Z"},
    })
}

fn not_found_playlist() -> Reply {
    gerr(
        404,
        "playlistNotFound",
        "youtube.playlistItem",
        "The playlist identified with the request's <code>playlistId</code> parameter cannot be found.",
    )
}

/// Whether the person may see `p` (their own, or not private).
fn visible(st: &YState, p: &FakePlaylist) -> bool {
    p.privacy != "private" || st.opts.channel.as_ref().map(|c| &c.0) == Some(&p.channel_id)
}

fn items_list(st: &YState, q: &Q) -> Reply {
    let (max, offset) = match paging(q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if q.get("playlistId").is_none()
        && let Some(ids) = q.get("id")
    {
        let wanted: Vec<&str> = ids.split(',').collect();
        let mut list = Vec::new();
        for p in st.opts.playlists.iter().filter(|p| visible(st, p)) {
            for (i, (id, v)) in p.items.iter().enumerate() {
                if wanted.contains(&id.as_str()) {
                    list.push(item_json(st, p, i, id, v));
                }
            }
        }
        return page("youtube#playlistItemListResponse", list, max, offset);
    }
    let Some(pid) = q.get("playlistId") else {
        return param_err(
            "missingRequiredParameter",
            "parameters",
            "No filter selected. Expected one of: playlistId, id",
        );
    };
    if pid == "WL" || pid == "HL" {
        return gerr(
            403,
            "watchLaterNotAccessible",
            "youtube.playlistItem",
            "Items in \"watch later\" playlists cannot be retrieved through the API.",
        );
    }
    let Some(p) = st
        .opts
        .playlists
        .iter()
        .find(|p| p.id == pid && visible(st, p))
    else {
        return not_found_playlist();
    };
    let video = q.get("videoId");
    let list: Vec<Value> = p
        .items
        .iter()
        .enumerate()
        .filter(|(_, (_, v))| video.is_none_or(|w| w == v))
        .map(|(i, (id, v))| item_json(st, p, i, id, v))
        .collect();
    page("youtube#playlistItemListResponse", list, max, offset)
}

fn items_insert(st: &mut YState, body: &str) -> Reply {
    let Some((channel_id, _)) = st.opts.channel.clone() else {
        return gerr(
            401,
            "youtubeSignupRequired",
            "youtube.header",
            "Unauthorized",
        );
    };
    let v = match body_json(body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(pid) = v["snippet"]["playlistId"]
        .as_str()
        .filter(|s| !s.is_empty())
    else {
        return gerr(
            400,
            "playlistIdRequired",
            "youtube.playlistItem",
            "The request must specify a playlist ID.",
        );
    };
    let Some(vid) = v["snippet"]["resourceId"]["videoId"]
        .as_str()
        .filter(|s| !s.is_empty())
    else {
        return gerr(
            400,
            "resourceIdRequired",
            "youtube.playlistItem",
            "The request must contain a resource in which you specify the item being added.",
        );
    };
    if pid == "WL" || pid == "HL" {
        return gerr(
            400,
            "playlistOperationUnsupported",
            "youtube.playlistItem",
            "The API does not support the ability to insert videos into the specified playlist.",
        );
    }
    let max_items = st.opts.max_items_per_playlist;
    let (pid, vid) = (pid.to_string(), vid.to_string());
    let Some(idx) = st
        .opts
        .playlists
        .iter()
        .position(|p| p.id == pid && visible(st, p))
    else {
        return not_found_playlist();
    };
    if st.opts.playlists[idx].channel_id != channel_id {
        return gerr(
            403,
            "playlistItemsNotAccessible",
            "youtube.playlistItem",
            "Forbidden",
        );
    }
    if !st.opts.videos.iter().any(|v| v.id == vid) {
        return gerr(
            404,
            "videoNotFound",
            "youtube.playlistItem",
            "Video not found.",
        );
    }
    if st.opts.playlists[idx].items.len() >= max_items {
        return gerr(
            403,
            "playlistContainsMaximumNumberOfVideos",
            "youtube.playlistItem",
            "The playlist already contains the maximum allowed number of items.",
        );
    }
    let item_id = format!("UEx{:020}", st.next_id);
    st.next_id += 1;
    st.opts.playlists[idx]
        .items
        .push((item_id.clone(), vid.clone()));
    let p = st.opts.playlists[idx].clone();
    ok(item_json(st, &p, p.items.len() - 1, &item_id, &vid))
}

fn items_delete(st: &mut YState, q: &Q) -> Reply {
    let Some(id) = q.get("id").filter(|s| !s.is_empty()) else {
        return param_err("required", "id", "Required parameter: id");
    };
    let mine = st.opts.channel.as_ref().map(|c| c.0.clone());
    for p in st.opts.playlists.iter_mut() {
        if let Some(i) = p.items.iter().position(|(item, _)| item == id) {
            if Some(&p.channel_id) != mine.as_ref() {
                return gerr(
                    403,
                    "playlistItemsNotAccessible",
                    "youtube.playlistItem",
                    "Forbidden",
                );
            }
            p.items.remove(i);
            return Reply {
                status: 204,
                headers: vec![],
                body: None,
            };
        }
    }
    gerr(
        404,
        "playlistItemNotFound",
        "youtube.playlistItem",
        "Playlist item not found.",
    )
}

/// YouTube's search titles are HTML-escaped.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('\'', "&#39;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn search(st: &YState, q: &Q) -> Reply {
    let (max, offset) = match paging(q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let text = q.get("q").unwrap_or("").to_lowercase();
    let types: Vec<&str> = q
        .get("type")
        .unwrap_or("video,channel,playlist")
        .split(',')
        .map(str::trim)
        .collect();
    let mut hits = Vec::new();
    if types.contains(&"video") {
        for v in &st.opts.videos {
            if v.title.to_lowercase().contains(&text) {
                hits.push(json!({
                    "kind": "youtube#searchResult",
                    "etag": "fake-etag",
                    "id": {"kind": "youtube#video", "videoId": v.id},
                    "snippet": {
                        "publishedAt": "2024-02-01T12:00:00Z",
                        "channelId": v.channel_id,
                        "title": escape(&v.title),
                        "description": "",
                        "thumbnails": {},
                        "channelTitle": escape(&v.channel_title),
                        "liveBroadcastContent": "none",
                        "publishTime": "2024-02-01T12:00:00Z",
                    }
                }));
            }
        }
    }
    if types.contains(&"playlist") {
        for p in st.opts.playlists.iter().filter(|p| p.privacy == "public") {
            if p.title.to_lowercase().contains(&text) {
                hits.push(json!({
                    "kind": "youtube#searchResult",
                    "etag": "fake-etag",
                    "id": {"kind": "youtube#playlist", "playlistId": p.id},
                    "snippet": {
                        "publishedAt": "2024-02-01T12:00:00Z",
                        "channelId": p.channel_id,
                        "title": escape(&p.title),
                        "description": "",
                        "thumbnails": {},
                        "channelTitle": escape(&p.channel_title),
                        "liveBroadcastContent": "none",
                        "publishTime": "2024-02-01T12:00:00Z",
                    }
                }));
            }
        }
    }
    let mut r = page("youtube#searchListResponse", hits, max, offset);
    if let Some(b) = r.body.as_mut() {
        b["regionCode"] = json!("DE");
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_never_panics() {
        for s in ["%", "%4", "%zz", "a%2", "%%%", "%e2%82", "+%20+"] {
            let _ = pct_decode(s);
        }
        assert_eq!(pct_decode("a%20b+c"), "a b c");
    }
}
