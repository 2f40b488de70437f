//! A fake Google Drive v3 + Docs v1 ([`FakeGoogle`]) that behaves like Google under the
//! `drive.file` and `drive.appdata` scopes (docs/google-drive.md: "What `drive.file` shows",
//! "Calls sidekey makes", "Docs API").
//!
//! What it enforces, because a lenient mock would let the client get it wrong:
//! * **per-app visibility**: each access token belongs to an "app" (an OAuth client, e.g. the
//!   TV client `tv` or the Desktop client `desktop`); a file is visible to an app only if that
//!   app created it or was granted it ([`FakeGoogle::grant`], what a Picker selection does).
//!   Files the person adds in the Drive UI ([`FakeGoogle::person_adds_file`]) are visible to
//!   nobody, even inside an app-created folder. With [`GoogleOptions::per_project_grants`] a
//!   grant to one app is visible to every app (the "combined authorization" reading of
//!   docs/google-drive.md, "Whose grant is it", an open question); without it, grants are per client.
//!   Anything invisible answers **404 `notFound` "File not found: ID."** (Docs: "Requested
//!   entity was not found.", in Docs' google.rpc shape without `errors`).
//! * `files.list` evaluates its `q` with a real parser (string literals with `\'` and `\\`
//!   escapes, `and`/`or`/`not`, parentheses, `in parents`, `contains`, `=`, `!=`): a query
//!   string literal escaped wrongly either fails with 400 `invalid` or matches what it says —
//!   so tests can prove a quote in a search cannot widen it. Trashed files are listed unless
//!   `trashed = false` is asked.
//! * Partial responses: every answer carries only what `fields` selects (`nextPageToken`,
//!   `files(id,name)`, `a/b`, `*`). Without `fields`, `files.list` sends the list's `kind`,
//!   `nextPageToken` and `incompleteSearch` and per file only `kind`, `id`, `name`, `mimeType`;
//!   `files.get`, `files.create` and uploads send those four. A listing whose `fields` omits
//!   `nextPageToken` gets none. A selection that does not parse is 400 `invalidParameter`.
//! * `files.list` refuses a `pageSize` outside 1..=1000 (400 `invalidParameter`) and a
//!   `pageToken` it did not issue (400 `invalid` "Invalid Value", `location: pageToken`);
//!   `files.create` refuses metadata that is not a JSON object (400 `parseError`) or whose
//!   `name`/`mimeType`/`parents` have the wrong type (400 `invalid`).
//! * `files.get` serves a trashed file by its id, as Drive does: a client that does not ask
//!   for `trashed` cannot tell. `alt=media`, `export` and the Docs API serve trashed files too.
//! * `alt=media` on a Google Doc → 403 `fileNotDownloadable`; `export` of a non-Doc → 403
//!   `fileNotExportable`; export over the limit (10 MB, configurable) → 403
//!   `exportSizeLimitExceeded`; only `text/plain` and `text/markdown` exports here.
//! * `spaces=appDataFolder` or `parents:["appDataFolder"]` without `drive.appdata` → 403
//!   `insufficientScopes` ("The granted scopes do not give access to all of the requested
//!   spaces."); appData files never appear in `spaces=drive` and belong to their app only.
//!   A token with neither Drive scope → 403 `insufficientPermissions`.
//! * uploads: `multipart/related` only (metadata part first), ≤ 5 MB; a Google-Doc target
//!   `mimeType` with `text/markdown` or `text/plain` media imports a Doc.
//! * Docs `batchUpdate` is validated completely before anything is applied (one bad request:
//!   400 `INVALID_ARGUMENT`, nothing changed); indexes are UTF-16 units; the final newline of
//!   the body cannot be deleted; `insertText` must land inside the body.
//! * Docs revisions (docs/google-drive.md, "Writes and the person's edits"): `documents.get`
//!   answers an opaque `revisionId` that changes with every write (a batch, a Drive media update,
//!   the person's own edit: [`FakeGoogle::person_edits`],
//!   [`FakeGoogle::person_edits_after_next_read`]). A batch whose
//!   `writeControl.requiredRevisionId` is not the latest revision is refused before any request
//!   is looked at: 400 `FAILED_PRECONDITION` "The required revision ID '…' does not match the
//!   latest revision.", nothing changed; a successful batch answers the new revision in
//!   `writeControl.requiredRevisionId`. Both `requiredRevisionId` and `targetRevisionId` (a
//!   oneof) → 400 `INVALID_ARGUMENT`. Simplification: the fake merges nothing, so a
//!   `targetRevisionId` other than the latest is refused as Docs refuses one "too far behind"
//!   (400 `FAILED_PRECONDITION`, wording ours). Every batch body is kept
//!   ([`FakeGoogle::batch_updates`]).
//! * A token refused between two requests of one operation:
//!   [`FakeGoogle::revoke_token_after_next_write`] revokes the token of the next successful
//!   write once it is answered (401 `authError` from then on).
//!
//! Simplifications (said so here): the Markdown import keeps the text and drops the markup
//! (`# `, `**`, `*`, `` ` ``); a Doc exports the same text as `text/plain` and
//! `text/markdown`; `fullText contains` is a case-insensitive substring of name + content.
//! Same design as [`crate::FakeIdp`]: its own thread and runtime, a mutex never held across an
//! `.await`, no input can make it panic.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::running::{Bound, Running};
use crate::trust::{Admitted, Gate, Refused};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

pub const DOC_MIME: &str = "application/vnd.google-apps.document";
pub const FOLDER_MIME: &str = "application/vnd.google-apps.folder";
const DRIVE_FILE: &str = "https://www.googleapis.com/auth/drive.file";
const DRIVE_APPDATA: &str = "https://www.googleapis.com/auth/drive.appdata";
const MAX_UPLOAD: usize = 5 * 1024 * 1024;

/// Behaviour knobs.
#[derive(Clone, Debug)]
pub struct GoogleOptions {
    /// A grant to one app is visible to all apps of the project. Default false (per client).
    pub per_project_grants: bool,
    /// The export cap (Google: 10 MB).
    pub export_limit: usize,
    /// Largest `files.list` page served.
    pub page_size: usize,
    /// The app of tokens not bound with [`FakeGoogle::bind_tokens`].
    pub default_app: String,
    /// Scopes of each app (full URLs). Default: `tv` and `desktop` with `drive.file`.
    pub app_scopes: HashMap<String, Vec<String>>,
}

impl Default for GoogleOptions {
    fn default() -> Self {
        let mut app_scopes = HashMap::new();
        app_scopes.insert("tv".to_string(), vec![DRIVE_FILE.to_string()]);
        app_scopes.insert("desktop".to_string(), vec![DRIVE_FILE.to_string()]);
        GoogleOptions {
            per_project_grants: false,
            export_limit: 10 * 1024 * 1024,
            page_size: 100,
            default_app: "tv".to_string(),
            app_scopes,
        }
    }
}

#[derive(Clone, Debug)]
struct GFile {
    id: String,
    name: String,
    mime: String,
    parents: Vec<String>,
    content: Vec<u8>,
    appdata: bool,
    trashed: bool,
    /// Apps that created or were granted it.
    granted: HashSet<String>,
    modified: String,
}

impl GFile {
    fn json(&self) -> Value {
        let mut v = json!({
            "kind": "drive#file",
            "id": self.id,
            "name": self.name,
            "mimeType": self.mime,
            "parents": self.parents,
            "modifiedTime": self.modified,
            "trashed": self.trashed,
            "webViewLink": format!("https://drive.google.com/file/d/{}/view?usp=drivesdk", self.id),
        });
        if self.mime != DOC_MIME && self.mime != FOLDER_MIME {
            // int64 as a JSON string, as Drive sends it.
            v["size"] = json!(self.content.len().to_string());
        }
        v
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.content).into_owned()
    }
}

#[derive(Default)]
struct GState {
    files: Vec<GFile>,
    tokens: HashMap<String, String>,
    revoked: HashSet<String>,
    requests: Vec<String>,
    /// When each request of `requests` arrived (before its body was read).
    arrivals: Vec<Instant>,
    /// The bearer token of each request, in order (`""` when it had none).
    bearers: Vec<String>,
    latency: Duration,
    next_id: u64,
    clock: u64,
    /// Every `documents.batchUpdate` body received (parsed), with its document id, in order.
    batches: Vec<(String, Value)>,
    /// Edits the person makes right after sidekey's next `documents.get` of a document.
    edits_after_read: HashMap<String, String>,
    /// The token of the next successful write is revoked once it is answered.
    revoke_after_write: bool,
}

impl GState {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("1Fk{:06}x{}", self.next_id, "AbCdEfGh")
    }

    fn stamp(&mut self) -> String {
        self.clock += 1;
        format!(
            "2026-11-28T10:{:02}:{:02}.000Z",
            (self.clock / 60) % 60,
            self.clock % 60
        )
    }
}

type TokenSource = Box<dyn Fn() -> Vec<String> + Send + Sync>;

struct GShared {
    base: String,
    opts: GoogleOptions,
    state: Mutex<GState>,
    /// Apps whose tokens an authorization server issues (checked for unbound tokens).
    sources: Mutex<Vec<(String, TokenSource)>>,
    /// Authorization servers trusted as apps ([`FakeGoogle::trust`]).
    gate: Mutex<Gate>,
}

impl GShared {
    fn lock(&self) -> MutexGuard<'_, GState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn visible(&self, f: &GFile, app: &str) -> bool {
        if f.appdata {
            return f.granted.contains(app);
        }
        f.granted.contains(app) || (self.opts.per_project_grants && !f.granted.is_empty())
    }
}

/// A running fake Google (Drive + Docs). Dropping it shuts it down.
pub struct FakeGoogle {
    shared: Arc<GShared>,
    _server: Running,
}

impl FakeGoogle {
    pub fn start(opts: GoogleOptions) -> FakeGoogle {
        let bound = Bound::loopback();
        let shared = Arc::new(GShared {
            base: bound.base.clone(),
            opts,
            state: Mutex::new(GState::default()),
            sources: Mutex::new(Vec::new()),
            gate: Mutex::new(Gate::default()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = bound.serve("fake-google", app);
        FakeGoogle {
            shared,
            _server: server,
        }
    }

    /// `http://127.0.0.1:PORT`: Drive at `/drive/v3`, uploads at `/upload/drive/v3`, Docs at
    /// `/v1/documents`.
    pub fn base_url(&self) -> String {
        self.shared.base.clone()
    }

    /// These access tokens belong to `app` (an OAuth client of the project).
    pub fn bind_tokens(&self, app: &str, tokens: &[String]) {
        let mut st = self.shared.lock();
        for t in tokens {
            st.tokens.insert(t.clone(), app.to_string());
        }
    }

    /// Every token `source` lists (e.g. [`crate::FakeIdp::access_token_source`] of the Desktop
    /// client's server) belongs to `app`.
    pub fn bind_token_source(
        &self,
        app: &str,
        source: impl Fn() -> Vec<String> + Send + Sync + 'static,
    ) {
        self.shared
            .sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((app.to_string(), Box::new(source)));
    }

    /// `idp` is the authorization server of `app` (an OAuth client of the project): its live
    /// access tokens for its configured user belong to `app` and carry the scopes of their
    /// grant (`drive.file`, `drive.appdata`, … as the person granted them), as Google checks a
    /// token against what its authorization server issued. From then on a token no trusted
    /// server vouches for and not bound with [`FakeGoogle::bind_tokens`] /
    /// [`FakeGoogle::bind_token_source`] — expired, revoked, another client's, another
    /// person's — gets 401 `authError`; a missing scope 403 `insufficientPermissions`.
    pub fn trust(&self, idp: &crate::FakeIdp, app: &str) {
        self.shared
            .gate
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .trusted
            .push((idp.verifier(), app.to_string()));
    }

    /// These tokens answer 401 from now on.
    pub fn revoke_tokens(&self, tokens: &[String]) {
        self.shared.lock().revoked.extend(tokens.iter().cloned());
    }

    /// The access token of the next successful write (an upload, a Docs batch, any request but
    /// a GET answered 2xx) is revoked right after its answer — the token expiring or the
    /// person removing the app's access between two requests of one operation: from then on
    /// it gets Google's 401 `authError`, as [`FakeGoogle::revoke_tokens`].
    pub fn revoke_token_after_next_write(&self) {
        self.shared.lock().revoke_after_write = true;
    }

    /// The person adds a file in the Drive UI (into `parent`, maybe an app-created folder):
    /// no app can see it. Returns its id.
    pub fn person_adds_file(
        &self,
        parent: Option<&str>,
        name: &str,
        mime: &str,
        content: &[u8],
    ) -> String {
        self.add(None, parent, name, mime, content)
    }

    /// `app` creates a file (as sidekey's own upload would). Returns its id.
    pub fn app_creates_file(
        &self,
        app: &str,
        parent: Option<&str>,
        name: &str,
        mime: &str,
        content: &[u8],
    ) -> String {
        self.add(Some(app), parent, name, mime, content)
    }

    fn add(
        &self,
        app: Option<&str>,
        parent: Option<&str>,
        name: &str,
        mime: &str,
        content: &[u8],
    ) -> String {
        let mut st = self.shared.lock();
        let id = st.new_id();
        let modified = st.stamp();
        let content = if mime == DOC_MIME {
            ensure_newline(&String::from_utf8_lossy(content)).into_bytes()
        } else {
            content.to_vec()
        };
        st.files.push(GFile {
            id: id.clone(),
            name: name.to_string(),
            mime: mime.to_string(),
            parents: vec![parent.unwrap_or("0AMyDriveRoot").to_string()],
            content,
            appdata: false,
            trashed: false,
            granted: app.map(|a| a.to_string()).into_iter().collect(),
            modified,
        });
        id
    }

    /// What a Picker selection through `app`'s client does: grants these files to `app`.
    pub fn grant(&self, app: &str, ids: &[String]) {
        let mut st = self.shared.lock();
        for f in st.files.iter_mut().filter(|f| ids.contains(&f.id)) {
            f.granted.insert(app.to_string());
        }
    }

    /// The person moves a file to the trash.
    pub fn trash(&self, id: &str) {
        self.set_trashed(id, true);
    }

    /// The person restores a file from the trash.
    pub fn restore(&self, id: &str) {
        self.set_trashed(id, false);
    }

    fn set_trashed(&self, id: &str, trashed: bool) {
        let mut st = self.shared.lock();
        if let Some(f) = st.files.iter_mut().find(|f| f.id == id) {
            f.trashed = trashed;
        }
    }

    /// A file's current content (a Doc's text with its final newline), whoever may see it.
    pub fn content(&self, id: &str) -> Option<String> {
        self.shared
            .lock()
            .files
            .iter()
            .find(|f| f.id == id)
            .map(GFile::text)
    }

    /// (id, name, mime, parents, appdata) of every file, for assertions.
    pub fn files(&self) -> Vec<(String, String, String, Vec<String>, bool)> {
        self.shared
            .lock()
            .files
            .iter()
            .map(|f| {
                (
                    f.id.clone(),
                    f.name.clone(),
                    f.mime.clone(),
                    f.parents.clone(),
                    f.appdata,
                )
            })
            .collect()
    }

    /// The person edits a Google Doc in the Docs editor: it now reads `text` (with its final
    /// newline), and its revision changes.
    pub fn person_edits(&self, id: &str, text: &str) {
        let mut st = self.shared.lock();
        person_edit(&mut st, id, text);
    }

    /// The person edits the Doc (as [`FakeGoogle::person_edits`]) right after the next
    /// `documents.get` of it is answered: between an app's read and its write.
    pub fn person_edits_after_next_read(&self, id: &str, text: &str) {
        self.shared
            .lock()
            .edits_after_read
            .insert(id.to_string(), text.to_string());
    }

    /// The document's current `revisionId` (what `documents.get` answers), whoever may see it.
    pub fn revision(&self, id: &str) -> Option<String> {
        self.shared
            .lock()
            .files
            .iter()
            .find(|f| f.id == id && f.mime == DOC_MIME)
            .map(revision_id)
    }

    /// (document id, body) of every `documents.batchUpdate` received, refused ones included.
    pub fn batch_updates(&self) -> Vec<(String, Value)> {
        self.shared.lock().batches.clone()
    }

    /// The bearer token each request carried, in order (`""`: none), for tests that check
    /// which token a client sent (after a refresh: the new one only).
    pub fn bearer_tokens(&self) -> Vec<String> {
        self.shared.lock().bearers.clone()
    }

    /// `METHOD path?query` of every request, in order.
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().requests.clone()
    }

    /// [`FakeGoogle::requests`] with the moment each arrived, before its body was read (a
    /// benchmark times when an action reaches Google).
    pub fn requests_at(&self) -> Vec<(Instant, String)> {
        let st = self.shared.lock();
        st.arrivals
            .iter()
            .copied()
            .zip(st.requests.iter().cloned())
            .collect()
    }

    pub fn clear_requests(&self) {
        let mut st = self.shared.lock();
        st.requests.clear();
        st.arrivals.clear();
        st.bearers.clear();
    }

    /// Delay before answering each request.
    pub fn set_latency(&self, d: Duration) {
        self.shared.lock().latency = d;
    }
}

fn ensure_newline(s: &str) -> String {
    if s.ends_with('\n') {
        s.to_string()
    } else {
        format!("{s}\n")
    }
}

// ---------------------------------------------------------------------------------------
// errors in Google's shapes

struct Reply {
    status: u16,
    ctype: &'static str,
    body: Vec<u8>,
}

fn ok(v: Value) -> Reply {
    Reply {
        status: 200,
        ctype: "application/json; charset=UTF-8",
        body: v.to_string().into_bytes(),
    }
}

/// Drive's error: `{"error":{"code","message","errors":[{"message","domain","reason"}],"status"}}`.
fn derr(status: u16, reason: &str, message: &str) -> Reply {
    let s = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        413 => "FAILED_PRECONDITION",
        _ => "UNKNOWN",
    };
    let mut e = json!({"error": {
        "code": status,
        "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason}],
        "status": s,
    }});
    if status == 404 {
        e["error"]["errors"][0]["location"] = json!("fileId");
        e["error"]["errors"][0]["locationType"] = json!("parameter");
    }
    Reply {
        status,
        ctype: "application/json; charset=UTF-8",
        body: e.to_string().into_bytes(),
    }
}

/// A refused query parameter, in Drive's classic shape: the `errors[]` entry names it
/// (`location`, `locationType: parameter`), as for an unreadable `pageToken`
/// (docs/google-drive.md, "Wire conventions").
fn param_err(reason: &str, message: &str, location: &str) -> Reply {
    let e = json!({"error": {
        "code": 400,
        "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason,
                    "location": location, "locationType": "parameter"}],
    }});
    ok_status(400, e)
}

/// The metadata of `files.create` (a JSON body, or an upload's first part): a JSON object
/// whose `name` and `mimeType` are strings and whose `parents` is a list of strings. Drive
/// answers anything else with 400 (`parseError` "Parse Error" for what is not JSON at all).
fn metadata(body: &[u8]) -> Result<Value, Reply> {
    let v = match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => v,
        // An empty body is no metadata (Drive then names the file "Untitled").
        Err(_) if body.iter().all(u8::is_ascii_whitespace) => json!({}),
        _ => return Err(derr_plain(400, "parseError", "Parse Error")),
    };
    let bad = |field: &str| {
        Err(derr_plain(
            400,
            "invalid",
            &format!(
                "Invalid value for {field}: the metadata must give it as {}",
                match field {
                    "parents" => "a list of strings",
                    _ => "a string",
                }
            ),
        ))
    };
    for k in ["name", "mimeType"] {
        if v.get(k).is_some_and(|x| !x.is_string()) {
            return bad(k);
        }
    }
    if let Some(p) = v.get("parents")
        && !p.as_array().is_some_and(|a| a.iter().all(Value::is_string))
    {
        return bad("parents");
    }
    Ok(v)
}

/// Drive's classic error without the AIP-193 `status` (as for parse errors).
fn derr_plain(status: u16, reason: &str, message: &str) -> Reply {
    ok_status(
        status,
        json!({"error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
        }}),
    )
}

fn not_found(id: &str) -> Reply {
    derr(404, "notFound", &format!("File not found: {id}."))
}

/// Docs API errors are google.rpc style: no `errors` array.
fn docs_err(status: u16, message: &str) -> Reply {
    let s = match status {
        400 => "INVALID_ARGUMENT",
        403 => "PERMISSION_DENIED",
        _ => "NOT_FOUND",
    };
    docs_err_as(status, s, message)
}

/// A Docs API error with its google.rpc status word named (`FAILED_PRECONDITION` is HTTP 400).
fn docs_err_as(status: u16, word: &str, message: &str) -> Reply {
    ok_status(
        status,
        json!({"error": {"code": status, "message": message, "status": word}}),
    )
}

fn ok_status(status: u16, v: Value) -> Reply {
    Reply { status, ..ok(v) }
}

// ---------------------------------------------------------------------------------------
// routing

async fn handle(State(sh): State<Arc<GShared>>, request: Request) -> Response {
    let arrived = Instant::now();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_UPLOAD * 2)
        .await
        .map(|b| b.to_vec());
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let method = parts.method.as_str().to_string();
    let (latency, bearer) = {
        let mut st = sh.lock();
        st.arrivals.push(arrived);
        st.requests.push(if query.is_empty() {
            format!("{method} {path}")
        } else {
            format!("{method} {path}?{query}")
        });
        let bearer = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|a| a.strip_prefix("Bearer "))
            .unwrap_or("")
            .trim()
            .to_string();
        st.bearers.push(bearer.clone());
        (st.latency, bearer)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let hdr = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let reply = match body {
        Err(_) => derr(413, "uploadTooLarge", "The request is too large."),
        Ok(body) => {
            let token = hdr("authorization")
                .and_then(|a| a.strip_prefix("Bearer ").map(|t| t.trim().to_string()))
                .filter(|t| !t.is_empty());
            match token {
                None => derr(
                    401,
                    "required",
                    "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
                ),
                Some(t) if sh.lock().revoked.contains(&t) => invalid_credentials(),
                Some(t) => match caller(&sh, &t) {
                    Err(_) => invalid_credentials(),
                    Ok((app, scopes)) => {
                        let q: HashMap<String, String> =
                            serde_urlencoded::from_str(&query).unwrap_or_default();
                        route(
                            &sh,
                            &app,
                            &scopes,
                            &method,
                            &path,
                            &q,
                            hdr("content-type").as_deref(),
                            &body,
                        )
                    }
                },
            }
        }
    };
    if method != "GET" && (200..300).contains(&reply.status) {
        let mut st = sh.lock();
        if std::mem::take(&mut st.revoke_after_write) {
            st.revoked.insert(bearer);
        }
    }
    let mut resp = Response::new(Body::from(reply.body));
    *resp.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(reply.ctype),
    );
    resp
}

/// Google's 401 for a token it does not accept (docs/youtube.md, "Errors"; the body
/// Google's API clients parse: docs/providers.md, "Service tokens").
fn invalid_credentials() -> Reply {
    let mut r = derr(
        401,
        "authError",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
    );
    if let Ok(mut e) = serde_json::from_slice::<Value>(&r.body) {
        e["error"]["errors"][0] = json!({
            "message": "Invalid Credentials",
            "domain": "global",
            "reason": "authError",
            "location": "Authorization",
            "locationType": "header",
        });
        r.body = e.to_string().into_bytes();
    }
    r
}

/// The app a token belongs to and the scopes it carries: a trusted server's grant, else a
/// bound token's app (or the default app) with that app's configured scopes.
fn caller(sh: &GShared, t: &str) -> Result<(String, Vec<String>), Refused> {
    let admitted = sh
        .gate
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .admit(Some(t));
    let strict = match admitted {
        Ok(Admitted::Grant { tag, grant }) => {
            let scopes = grant.scopes.iter().map(|s| long_scope(s)).collect();
            return Ok((tag, scopes));
        }
        Ok(_) => false,
        Err(Refused::Invalid) => true,
        Err(e) => return Err(e),
    };
    let bound = sh.lock().tokens.get(t).cloned();
    let app = match bound.or_else(|| {
        let sources = sh.sources.lock().unwrap_or_else(|p| p.into_inner());
        sources
            .iter()
            .find(|(_, f)| f().iter().any(|x| x == t))
            .map(|(a, _)| a.clone())
    }) {
        Some(app) => app,
        None if strict => return Err(Refused::Invalid),
        None => sh.opts.default_app.clone(),
    };
    let scopes = sh.opts.app_scopes.get(&app).cloned().unwrap_or_default();
    Ok((app, scopes))
}

/// A scope as Google grants it: short names under `https://www.googleapis.com/auth/`.
fn long_scope(s: &str) -> String {
    match s {
        "openid" | "email" | "profile" => s.to_string(),
        _ if s.contains("://") => s.to_string(),
        _ => format!("https://www.googleapis.com/auth/{s}"),
    }
}

/// Which scopes each endpoint accepts, from the "Authorization scopes" of each method's
/// reference page (developers.google.com/workspace/drive/api/reference/rest/v3/files/…,
/// …/docs/api/reference/rest/v1/documents/…; docs/google-drive.md, "Scopes and sign-in" and
/// "Docs API"): Drive reads take `drive`, `drive.file`, `drive.readonly`, `drive.appdata`
/// (and the metadata scopes, not modelled); Drive writes `drive`, `drive.file`,
/// `drive.appdata`; Docs `documents.get` takes `documents`, `documents.readonly`, `drive`,
/// `drive.file`, `drive.readonly`, and `batchUpdate` `documents`, `drive`, `drive.file`.
/// A token with none of them gets 403 `insufficientPermissions` "Request had insufficient
/// authentication scopes." (status `PERMISSION_DENIED`). What a file listing shows is modelled
/// for `drive.file` only: broader scopes pass this check and see what `drive.file` would.
fn accepted_scopes(method: &str, docs: bool) -> &'static [&'static str] {
    match (docs, method) {
        (false, "GET") => &[
            "https://www.googleapis.com/auth/drive",
            DRIVE_FILE,
            "https://www.googleapis.com/auth/drive.readonly",
            DRIVE_APPDATA,
        ],
        (false, _) => &[
            "https://www.googleapis.com/auth/drive",
            DRIVE_FILE,
            DRIVE_APPDATA,
        ],
        (true, "GET") => &[
            "https://www.googleapis.com/auth/documents",
            "https://www.googleapis.com/auth/documents.readonly",
            "https://www.googleapis.com/auth/drive",
            DRIVE_FILE,
            "https://www.googleapis.com/auth/drive.readonly",
        ],
        (true, _) => &[
            "https://www.googleapis.com/auth/documents",
            "https://www.googleapis.com/auth/drive",
            DRIVE_FILE,
        ],
    }
}

#[allow(clippy::too_many_arguments)]
fn route(
    sh: &GShared,
    app: &str,
    scopes: &[String],
    method: &str,
    path: &str,
    q: &HashMap<String, String>,
    ctype: Option<&str>,
    body: &[u8],
) -> Reply {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let docs = path.starts_with("/v1/documents");
    if !accepted_scopes(method, docs).iter().any(|s| has(s)) {
        let mut r = derr(
            403,
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
        );
        // docs/providers.md, "Service tokens": `details[].reason` names it as well.
        if let Ok(mut e) = serde_json::from_slice::<Value>(&r.body) {
            e["error"]["details"] = json!([{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                "domain": "googleapis.com",
            }]);
            r.body = e.to_string().into_bytes();
        }
        return r;
    }
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, seg.as_slice()) {
        ("GET", ["drive", "v3", "files"]) => list(sh, app, &has, q),
        ("POST", ["drive", "v3", "files"]) => match (metadata(body), file_mask(q)) {
            (Ok(meta), Ok(mask)) => create(sh, app, &has, &meta, None, None, &mask),
            (Err(r), _) | (_, Err(r)) => r,
        },
        ("GET", ["drive", "v3", "files", id]) => get(sh, app, id, q),
        ("DELETE", ["drive", "v3", "files", id]) => delete(sh, app, id),
        ("GET", ["drive", "v3", "files", id, "export"]) => export(sh, app, id, q),
        ("POST", ["upload", "drive", "v3", "files"]) => upload(sh, app, &has, q, ctype, body),
        ("PATCH", ["upload", "drive", "v3", "files", id]) => update_media(sh, app, id, q, body),
        ("GET", ["v1", "documents", id]) => doc_get(sh, app, id),
        ("POST", ["v1", "documents", rest]) if rest.ends_with(":batchUpdate") => {
            let id = rest.trim_end_matches(":batchUpdate");
            batch_update(sh, app, id, body)
        }
        _ => derr(404, "notFound", "Not Found"),
    }
}

fn appdata_refused() -> Reply {
    derr(
        403,
        "insufficientScopes",
        "The granted scopes do not give access to all of the requested spaces.",
    )
}

fn list(sh: &GShared, app: &str, has: &dyn Fn(&str) -> bool, q: &HashMap<String, String>) -> Reply {
    let spaces = q.get("spaces").map(String::as_str).unwrap_or("drive");
    let appdata = match spaces {
        "drive" => false,
        "appDataFolder" => true,
        _ => return derr(400, "invalid", "Invalid Value"),
    };
    if appdata && !has(DRIVE_APPDATA) {
        return appdata_refused();
    }
    let expr = match q.get("q").map(|s| parse_query(s)) {
        None => None,
        Some(Ok(e)) => Some(e),
        Some(Err(m)) => return derr(400, "invalid", &format!("Invalid Value: {m}")),
    };
    let size = match q.get("pageSize").map(String::as_str) {
        None => 100,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            // Drive's answer for a `pageSize` outside 1..=1000 (docs/google-drive.md, "Wire conventions").
            _ => {
                return param_err(
                    "invalidParameter",
                    &format!("Invalid value '{raw}'. Values must be within the range: [1, 1000]"),
                    "pageSize",
                );
            }
        },
    }
    .min(sh.opts.page_size);
    // A token this fake did not issue is refused as Drive refuses one it cannot read; an empty
    // one is no token (the first page).
    let start = match q.get("pageToken").map(String::as_str) {
        None | Some("") => 0,
        Some(t) => match t.strip_prefix("pt").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => return param_err("invalid", "Invalid Value", "pageToken"),
        },
    };
    let mask = match q.get("fields").map(|f| FieldMask::parse(f)) {
        None => FieldMask::list_default(),
        Some(Some(m)) => m,
        Some(None) => return bad_fields(q.get("fields").map(String::as_str).unwrap_or("")),
    };
    let st = sh.lock();
    let matching: Vec<&GFile> = st
        .files
        .iter()
        .filter(|f| f.appdata == appdata && sh.visible(f, app))
        .filter(|f| expr.as_ref().is_none_or(|e| eval(e, f)))
        .collect();
    if start > matching.len() {
        return param_err("invalid", "Invalid Value", "pageToken");
    }
    let page: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(size)
        .map(|f| f.json())
        .collect();
    let mut v = json!({"kind": "drive#fileList", "incompleteSearch": false, "files": page});
    if start + size < matching.len() {
        v["nextPageToken"] = json!(format!("pt{}", start + size));
    }
    // Only what `fields` names comes back: without `nextPageToken` in it, paging stops.
    ok(mask.apply(v))
}

/// A `fields` partial-response selection (Drive's "fields parameter" guide): comma-separated
/// names, `a/b` paths and `a(b,c)` sub-selections; `*` selects everything at its level.
#[derive(Clone, Debug, Default)]
struct FieldMask {
    /// `None`: everything (`*`, or a name without a sub-selection).
    names: Option<Vec<(String, FieldMask)>>,
}

impl FieldMask {
    fn all() -> FieldMask {
        FieldMask { names: None }
    }

    /// `files.list` without `fields`: the list's own members and, per file, `kind`, `id`,
    /// `name`, `mimeType` only (docs/google-drive.md, "Wire conventions").
    fn list_default() -> FieldMask {
        FieldMask::parse("kind,nextPageToken,incompleteSearch,files(kind,id,name,mimeType)")
            .unwrap_or_default()
    }

    /// `files.get`/`create`/`update` without `fields`.
    fn file_default() -> FieldMask {
        FieldMask::parse("kind,id,name,mimeType").unwrap_or_default()
    }

    /// `None` for a selection that does not parse (unbalanced parentheses, empty names).
    fn parse(s: &str) -> Option<FieldMask> {
        let s = s.trim();
        if s == "*" {
            return Some(FieldMask::all());
        }
        let mut names: Vec<(String, FieldMask)> = Vec::new();
        for item in split_top(s)? {
            let item = item.trim();
            let (path, sub) = match item.find('(') {
                Some(i) if item.ends_with(')') => (
                    &item[..i],
                    Some(FieldMask::parse(&item[i + 1..item.len() - 1])?),
                ),
                Some(_) => return None,
                None if item.contains(')') => return None,
                None => (item, None),
            };
            let mut segs = path.split('/').map(str::trim).rev();
            let last = segs.next().filter(|x| !x.is_empty())?;
            let mut node = (last.to_string(), sub.unwrap_or_default());
            for seg in segs {
                if seg.is_empty() {
                    return None;
                }
                node = (
                    seg.to_string(),
                    FieldMask {
                        names: Some(vec![node]),
                    },
                );
            }
            if node.0 == "*" {
                return Some(FieldMask::all());
            }
            match names.iter_mut().find(|(n, _)| *n == node.0) {
                Some((_, m)) => m.merge(node.1),
                None => names.push(node),
            }
        }
        (!names.is_empty()).then_some(FieldMask { names: Some(names) })
    }

    fn merge(&mut self, other: FieldMask) {
        match (&mut self.names, other.names) {
            (None, _) => {}
            (_, None) => self.names = None,
            (Some(mine), Some(theirs)) => {
                for (n, m) in theirs {
                    match mine.iter_mut().find(|(x, _)| *x == n) {
                        Some((_, mm)) => mm.merge(m),
                        None => mine.push((n, m)),
                    }
                }
            }
        }
    }

    fn apply(&self, v: Value) -> Value {
        let Some(names) = &self.names else {
            return v;
        };
        match v {
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .filter_map(|(k, val)| {
                        let (_, sub) = names.iter().find(|(n, _)| *n == k)?;
                        Some((k, sub.apply(val)))
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.into_iter().map(|x| self.apply(x)).collect()),
            other => other,
        }
    }
}

/// Splits at the commas outside parentheses; `None` when they do not balance.
fn split_top(s: &str) -> Option<Vec<&str>> {
    let (mut depth, mut from, mut out) = (0i32, 0usize, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
            }
            ',' if depth == 0 => {
                out.push(&s[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    (depth == 0).then(|| {
        out.push(&s[from..]);
        out
    })
}

fn bad_fields(f: &str) -> Reply {
    param_err(
        "invalidParameter",
        &format!("Invalid field selection {f}"),
        "fields",
    )
}

/// The mask of a request's `fields` for one file, or the 400 for a selection that does not parse.
fn file_mask(q: &HashMap<String, String>) -> Result<FieldMask, Reply> {
    match q.get("fields") {
        None => Ok(FieldMask::file_default()),
        Some(f) => FieldMask::parse(f).ok_or_else(|| bad_fields(f)),
    }
}

fn find<'a>(st: &'a mut GState, sh: &GShared, app: &str, id: &str) -> Option<&'a mut GFile> {
    st.files
        .iter_mut()
        .find(|f| f.id == id && sh.visible(f, app))
}

fn get(sh: &GShared, app: &str, id: &str, q: &HashMap<String, String>) -> Reply {
    let mut st = sh.lock();
    let Some(f) = find(&mut st, sh, app, id) else {
        return not_found(id);
    };
    if q.get("alt").map(String::as_str) == Some("media") {
        if f.mime.starts_with("application/vnd.google-apps.") {
            return derr(
                403,
                "fileNotDownloadable",
                "Only files with binary content can be downloaded. Use Export with Docs Editors files.",
            );
        }
        return Reply {
            status: 200,
            ctype: "application/octet-stream",
            body: f.content.clone(),
        };
    }
    match file_mask(q) {
        Ok(mask) => ok(mask.apply(f.json())),
        Err(r) => r,
    }
}

fn delete(sh: &GShared, app: &str, id: &str) -> Reply {
    let mut st = sh.lock();
    if find(&mut st, sh, app, id).is_none() {
        return not_found(id);
    }
    st.files.retain(|f| f.id != id);
    Reply {
        status: 204,
        ctype: "application/json; charset=UTF-8",
        body: Vec::new(),
    }
}

fn export(sh: &GShared, app: &str, id: &str, q: &HashMap<String, String>) -> Reply {
    let mut st = sh.lock();
    let Some(f) = find(&mut st, sh, app, id) else {
        return not_found(id);
    };
    if f.mime != DOC_MIME {
        return derr(
            403,
            "fileNotExportable",
            "Export only supports Docs Editors files.",
        );
    }
    let mime = q.get("mimeType").map(String::as_str).unwrap_or("");
    if mime.is_empty() {
        return derr(400, "required", "Required parameter: mimeType");
    }
    if mime != "text/plain" && mime != "text/markdown" {
        return derr(
            400,
            "badRequest",
            "The requested conversion is not supported.",
        );
    }
    if f.content.len() > sh.opts.export_limit {
        return derr(
            403,
            "exportSizeLimitExceeded",
            "This file is too large to be exported.",
        );
    }
    Reply {
        status: 200,
        ctype: if mime == "text/plain" {
            "text/plain"
        } else {
            "text/markdown"
        },
        body: f.content.clone(),
    }
}

/// `files.create` with metadata (and media for uploads).
fn create(
    sh: &GShared,
    app: &str,
    has: &dyn Fn(&str) -> bool,
    meta: &Value,
    media: Option<&[u8]>,
    media_mime: Option<&str>,
    mask: &FieldMask,
) -> Reply {
    let name = meta["name"].as_str().unwrap_or("Untitled").to_string();
    let parents: Vec<String> = meta["parents"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let appdata = parents.iter().any(|p| p == "appDataFolder");
    if appdata && !has(DRIVE_APPDATA) {
        return derr(
            403,
            "insufficientScopes",
            "The granted scopes do not allow use of the Application Data folder.",
        );
    }
    if !appdata && !has(DRIVE_FILE) {
        return derr(
            403,
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
        );
    }
    let mut st = sh.lock();
    if !appdata {
        for p in &parents {
            if find(&mut st, sh, app, p).is_none() {
                return not_found(p);
            }
        }
    }
    let target = meta["mimeType"].as_str().map(str::to_string);
    let (mime, content) = match (target.as_deref(), media, media_mime) {
        (Some(DOC_MIME), Some(bytes), Some(m))
            if m.starts_with("text/markdown") || m.starts_with("text/plain") =>
        {
            let text = String::from_utf8_lossy(bytes);
            let text = if m.starts_with("text/markdown") {
                strip_markdown(&text)
            } else {
                text.into_owned()
            };
            (DOC_MIME.to_string(), ensure_newline(&text).into_bytes())
        }
        (Some(DOC_MIME), Some(_), Some(m)) => {
            return derr(
                400,
                "badRequest",
                &format!("Conversion from {m} to a Google Doc is not supported here."),
            );
        }
        (Some(DOC_MIME), None, _) => (DOC_MIME.to_string(), b"\n".to_vec()),
        (Some(t), _, _) => (t.to_string(), media.unwrap_or_default().to_vec()),
        (None, _, m) => (
            m.unwrap_or("application/octet-stream").to_string(),
            media.unwrap_or_default().to_vec(),
        ),
    };
    let id = st.new_id();
    let modified = st.stamp();
    let f = GFile {
        id,
        name,
        mime,
        parents: if appdata {
            vec!["1AppDataRootId".to_string()]
        } else if parents.is_empty() {
            vec!["0AMyDriveRoot".to_string()]
        } else {
            parents
        },
        content,
        appdata,
        trashed: false,
        granted: [app.to_string()].into_iter().collect(),
        modified,
    };
    let v = mask.apply(f.json());
    st.files.push(f);
    ok(v)
}

fn upload(
    sh: &GShared,
    app: &str,
    has: &dyn Fn(&str) -> bool,
    q: &HashMap<String, String>,
    ctype: Option<&str>,
    body: &[u8],
) -> Reply {
    if q.get("uploadType").map(String::as_str) != Some("multipart") {
        return derr(400, "badRequest", "uploadType must be multipart here");
    }
    if body.len() > MAX_UPLOAD + 64 * 1024 {
        return derr(413, "uploadTooLarge", "The request is too large.");
    }
    let Some(boundary) = ctype
        .filter(|c| c.starts_with("multipart/related"))
        .and_then(|c| c.split("boundary=").nth(1))
        .map(|b| b.trim_matches('"').to_string())
    else {
        return derr(
            400,
            "badContent",
            "Multipart upload needs multipart/related.",
        );
    };
    let Some((meta, media_mime, media)) = split_multipart(body, &boundary) else {
        return derr(400, "badContent", "Malformed multipart body.");
    };
    match (metadata(&meta), file_mask(q)) {
        (Ok(meta), Ok(mask)) => create(sh, app, has, &meta, Some(&media), Some(&media_mime), &mask),
        (Err(r), _) | (_, Err(r)) => r,
    }
}

/// (metadata, media content type, media) of a `multipart/related` body. Line ends may be CRLF
/// (RFC 2046) or bare LF, as Python's email generator writes them (google-api-python-client).
fn split_multipart(body: &[u8], boundary: &str) -> Option<(Vec<u8>, String, Vec<u8>)> {
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let pos = |h: &[u8], n: &[u8]| h.windows(n.len()).position(|w| w == n);
    let mut rest = &body[pos(body, d)? + d.len()..];
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            break;
        }
        let next = pos(rest, d)?;
        let mut part = &rest[..next];
        part = part
            .strip_prefix(b"\r\n")
            .or_else(|| part.strip_prefix(b"\n"))
            .unwrap_or(part);
        part = part
            .strip_suffix(b"\r\n")
            .or_else(|| part.strip_suffix(b"\n"))
            .unwrap_or(part);
        parts.push(part.to_vec());
        rest = &rest[next + d.len()..];
    }
    if parts.len() != 2 {
        return None;
    }
    let split = |p: &[u8]| -> Option<(String, Vec<u8>)> {
        let (i, sep) = match (pos(p, b"\r\n\r\n"), pos(p, b"\n\n")) {
            (Some(a), Some(b)) if b < a => (b, 2),
            (Some(a), _) => (a, 4),
            (None, Some(b)) => (b, 2),
            (None, None) => return None,
        };
        let head = String::from_utf8_lossy(&p[..i]).to_ascii_lowercase();
        let ct = head
            .lines()
            .find_map(|l| {
                l.trim_end()
                    .strip_prefix("content-type:")
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_default();
        Some((ct, p[i + sep..].to_vec()))
    };
    let (mct, meta) = split(&parts[0])?;
    if !mct.starts_with("application/json") {
        return None; // the metadata part comes first
    }
    let (ct, media) = split(&parts[1])?;
    Some((meta, ct, media))
}

fn update_media(
    sh: &GShared,
    app: &str,
    id: &str,
    q: &HashMap<String, String>,
    body: &[u8],
) -> Reply {
    if q.get("uploadType").map(String::as_str) != Some("media") {
        return derr(400, "badRequest", "uploadType must be media here");
    }
    let mask = match file_mask(q) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let mut st = sh.lock();
    let stamp = st.stamp();
    let Some(f) = find(&mut st, sh, app, id) else {
        return not_found(id);
    };
    f.content = if f.mime == DOC_MIME {
        ensure_newline(&String::from_utf8_lossy(body)).into_bytes()
    } else {
        body.to_vec()
    };
    f.modified = stamp;
    ok(mask.apply(f.json()))
}

fn strip_markdown(md: &str) -> String {
    md.lines()
        .map(|l| {
            let l = l.trim_start_matches('#');
            let l = if l.len() < md.len() {
                l.trim_start()
            } else {
                l
            };
            l.replace("**", "").replace('`', "")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------
// Docs

fn u16len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Byte offset of UTF-16 index `i` (counted from the body start, index 1) in `text`.
fn byte_at(text: &str, i: usize) -> Option<usize> {
    let mut units = 1; // the body starts at index 1
    for (b, c) in text.char_indices() {
        if units == i {
            return Some(b);
        }
        if units > i {
            return None; // inside a surrogate pair
        }
        units += c.len_utf16();
    }
    (units == i).then_some(text.len())
}

fn doc_json(f: &GFile) -> Value {
    let text = f.text();
    let mut content = vec![
        json!({"endIndex": 1, "sectionBreak": {"sectionStyle": {"sectionType": "CONTINUOUS"}}}),
    ];
    let mut at = 1;
    for para in text.split_inclusive('\n') {
        let end = at + u16len(para);
        content.push(json!({"startIndex": at, "endIndex": end, "paragraph": {
            "elements": [{"startIndex": at, "endIndex": end, "textRun": {"content": para, "textStyle": {}}}],
            "paragraphStyle": {"namedStyleType": "NORMAL_TEXT"}}}));
        at = end;
    }
    json!({"documentId": f.id, "title": f.name, "body": {"content": content},
           "revisionId": revision_id(f), "suggestionsViewMode": "PREVIEW_WITHOUT_SUGGESTIONS"})
}

/// A Doc's revision: opaque, and new with every write (each write takes a new `modified` stamp).
fn revision_id(f: &GFile) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&f.id, &f.modified).hash(&mut h);
    format!("ALm37B{:016x}", h.finish())
}

/// The person's edit in the Docs editor: new text, a new revision.
fn person_edit(st: &mut GState, id: &str, text: &str) {
    let stamp = st.stamp();
    if let Some(f) = st.files.iter_mut().find(|f| f.id == id) {
        f.content = ensure_newline(text).into_bytes();
        f.modified = stamp;
    }
}

fn doc_get(sh: &GShared, app: &str, id: &str) -> Reply {
    let mut st = sh.lock();
    let reply = match find(&mut st, sh, app, id) {
        Some(f) if f.mime == DOC_MIME => ok(doc_json(f)),
        Some(_) => return docs_err(400, "This operation is not supported for this document"),
        None => return docs_err(404, "Requested entity was not found."),
    };
    if let Some(text) = st.edits_after_read.remove(id) {
        person_edit(&mut st, id, &text);
    }
    reply
}

/// `writeControl` (docs/google-drive.md, "Writes and the person's edits"): `None` when the
/// batch may go on against the latest revision `current`.
fn write_control(wc: &Value, current: &str) -> Option<Reply> {
    let shown = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    };
    match (wc.get("requiredRevisionId"), wc.get("targetRevisionId")) {
        (Some(_), Some(_)) => Some(docs_err(
            400,
            "Invalid value at 'write_control' (oneof), oneof field 'control' is already set. Cannot set 'targetRevisionId'",
        )),
        (Some(r), None) if r.as_str() != Some(current) => Some(docs_err_as(
            400,
            "FAILED_PRECONDITION",
            &format!(
                "The required revision ID '{}' does not match the latest revision.",
                shown(r)
            ),
        )),
        (None, Some(t)) if t.as_str() != Some(current) => Some(docs_err_as(
            400,
            "FAILED_PRECONDITION",
            &format!(
                "The target revision ID '{}' is too far behind the latest revision; read the document again.",
                shown(t)
            ),
        )),
        _ => None,
    }
}

fn batch_update(sh: &GShared, app: &str, id: &str, body: &[u8]) -> Reply {
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return docs_err(400, "Invalid JSON payload received.");
    };
    let mut st = sh.lock();
    st.batches.push((id.to_string(), req.clone()));
    let stamp = st.stamp();
    let Some(f) = find(&mut st, sh, app, id) else {
        return docs_err(404, "Requested entity was not found.");
    };
    if f.mime != DOC_MIME {
        return docs_err(400, "This operation is not supported for this document");
    }
    // The revision is checked first: the requests' indexes are the required revision's.
    if let Some(refused) = write_control(&req["writeControl"], &revision_id(f)) {
        return refused;
    }
    // All validated and applied on a copy; the document changes only if every one succeeds.
    let mut text = f.text();
    let mut replies = Vec::new();
    let requests = req["requests"].as_array().cloned().unwrap_or_default();
    if requests.is_empty() {
        return docs_err(400, "Must specify at least one request.");
    }
    for (i, r) in requests.iter().enumerate() {
        match apply(&mut text, r) {
            Ok(reply) => replies.push(reply),
            Err(m) => return docs_err(400, &format!("Invalid requests[{i}].{m}")),
        }
    }
    f.content = text.into_bytes();
    f.modified = stamp;
    ok(
        json!({"documentId": id, "replies": replies, "writeControl": {"requiredRevisionId": revision_id(f)}}),
    )
}

fn apply(text: &mut String, r: &Value) -> Result<Value, String> {
    let end = 1 + u16len(text); // the body's endIndex (after the final newline)
    if let Some(ins) = r.get("insertText") {
        let t = ins["text"].as_str().ok_or("insertText: text is required")?;
        let index = if ins.get("endOfSegmentLocation").is_some() {
            end - 1
        } else {
            ins["location"]["index"]
                .as_u64()
                .ok_or("insertText: location.index is required")? as usize
        };
        if index < 1 || index >= end {
            return Err(format!(
                "insertText: Index {index} must be less than the end index of the referenced segment, {end}."
            ));
        }
        let b = byte_at(text, index).ok_or("insertText: index inside a character")?;
        let clean: String = t
            .chars()
            .filter(|c| !matches!(*c as u32, 0..=8 | 0x0C..=0x1F | 0xE000..=0xF8FF))
            .collect();
        text.insert_str(b, &clean);
        return Ok(json!({}));
    }
    if let Some(d) = r.get("deleteContentRange") {
        let s = d["range"]["startIndex"].as_u64().unwrap_or(0) as usize;
        let e = d["range"]["endIndex"].as_u64().unwrap_or(0) as usize;
        if s < 1 || e <= s {
            return Err("deleteContentRange: The range should not be empty.".into());
        }
        if e >= end {
            return Err("deleteContentRange: The range cannot include the newline character at the end of the segment.".into());
        }
        let (bs, be) = (
            byte_at(text, s).ok_or("deleteContentRange: bad start")?,
            byte_at(text, e).ok_or("deleteContentRange: bad end")?,
        );
        text.replace_range(bs..be, "");
        return Ok(json!({}));
    }
    if let Some(rep) = r.get("replaceAllText") {
        let find = rep["containsText"]["text"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or("replaceAllText: containsText.text must not be empty")?;
        let with = rep["replaceText"].as_str().unwrap_or("");
        let n = text.matches(find).count();
        if n > 0 {
            // The final newline stays: the replacement applies to the text before it.
            let body = &text[..text.len() - 1];
            *text = format!("{}\n", body.replace(find, with));
        }
        return Ok(if n == 0 {
            json!({"replaceAllText": {}})
        } else {
            json!({"replaceAllText": {"occurrencesChanged": n}})
        });
    }
    Err("request: Unknown or unsupported request kind".into())
}

// ---------------------------------------------------------------------------------------
// the q language

#[derive(Debug)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    InParents(String),
    Cmp {
        field: String,
        op: String,
        value: String,
    },
}

#[derive(Debug, PartialEq)]
enum Tok {
    Lit(String),
    Word(String),
    Op(String),
    Open,
    Close,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    while let Some(&c) = it.peek() {
        match c {
            ' ' | '\t' | '\n' => {
                it.next();
            }
            '(' => {
                it.next();
                out.push(Tok::Open);
            }
            ')' => {
                it.next();
                out.push(Tok::Close);
            }
            '\'' => {
                it.next();
                let mut lit = String::new();
                loop {
                    match it.next() {
                        None => return Err("unterminated string literal".into()),
                        Some('\\') => match it.next() {
                            Some(e @ ('\\' | '\'')) => lit.push(e),
                            _ => return Err("invalid escape in a string literal".into()),
                        },
                        Some('\'') => break,
                        Some(ch) => lit.push(ch),
                    }
                }
                out.push(Tok::Lit(lit));
            }
            '=' | '!' | '<' | '>' => {
                let mut op = String::new();
                while let Some(&o) = it.peek() {
                    if matches!(o, '=' | '!' | '<' | '>') {
                        op.push(o);
                        it.next();
                    } else {
                        break;
                    }
                }
                out.push(Tok::Op(op));
            }
            _ => {
                let mut w = String::new();
                while let Some(&ch) = it.peek() {
                    if ch.is_alphanumeric() || ch == '_' || ch == '.' {
                        w.push(ch);
                        it.next();
                    } else {
                        break;
                    }
                }
                if w.is_empty() {
                    return Err(format!("unexpected character '{c}'"));
                }
                out.push(Tok::Word(w));
            }
        }
    }
    Ok(out)
}

fn parse_query(s: &str) -> Result<Expr, String> {
    let toks = lex(s)?;
    let mut p = 0;
    let e = parse_or(&toks, &mut p)?;
    if p != toks.len() {
        return Err("unexpected text after the query".into());
    }
    Ok(e)
}

fn parse_or(t: &[Tok], p: &mut usize) -> Result<Expr, String> {
    let mut left = parse_and(t, p)?;
    while matches!(t.get(*p), Some(Tok::Word(w)) if w == "or") {
        *p += 1;
        left = Expr::Or(Box::new(left), Box::new(parse_and(t, p)?));
    }
    Ok(left)
}

fn parse_and(t: &[Tok], p: &mut usize) -> Result<Expr, String> {
    let mut left = parse_unary(t, p)?;
    while matches!(t.get(*p), Some(Tok::Word(w)) if w == "and") {
        *p += 1;
        left = Expr::And(Box::new(left), Box::new(parse_unary(t, p)?));
    }
    Ok(left)
}

fn parse_unary(t: &[Tok], p: &mut usize) -> Result<Expr, String> {
    match t.get(*p) {
        Some(Tok::Word(w)) if w == "not" => {
            *p += 1;
            Ok(Expr::Not(Box::new(parse_unary(t, p)?)))
        }
        Some(Tok::Open) => {
            *p += 1;
            let e = parse_or(t, p)?;
            if t.get(*p) != Some(&Tok::Close) {
                return Err("missing ')'".into());
            }
            *p += 1;
            Ok(e)
        }
        Some(Tok::Lit(v)) => {
            *p += 1;
            match (t.get(*p), t.get(*p + 1)) {
                (Some(Tok::Word(i)), Some(Tok::Word(f))) if i == "in" && f == "parents" => {
                    *p += 2;
                    Ok(Expr::InParents(v.clone()))
                }
                _ => Err("a literal must be followed by 'in parents'".into()),
            }
        }
        Some(Tok::Word(field)) => {
            let field = field.clone();
            *p += 1;
            let op = match t.get(*p) {
                Some(Tok::Op(o)) => o.clone(),
                Some(Tok::Word(w)) if w == "contains" => w.clone(),
                _ => return Err(format!("expected an operator after '{field}'")),
            };
            *p += 1;
            let value = match t.get(*p) {
                Some(Tok::Lit(v)) => v.clone(),
                Some(Tok::Word(w)) if w == "true" || w == "false" => w.clone(),
                _ => return Err(format!("expected a value after '{field} {op}'")),
            };
            *p += 1;
            if !matches!(
                field.as_str(),
                "name" | "fullText" | "mimeType" | "trashed" | "modifiedTime"
            ) {
                return Err(format!("unknown field '{field}'"));
            }
            if op == "contains" && !matches!(field.as_str(), "name" | "fullText" | "mimeType") {
                return Err(format!("'contains' does not apply to '{field}'"));
            }
            Ok(Expr::Cmp { field, op, value })
        }
        _ => Err("expected a query term".into()),
    }
}

fn eval(e: &Expr, f: &GFile) -> bool {
    match e {
        Expr::And(a, b) => eval(a, f) && eval(b, f),
        Expr::Or(a, b) => eval(a, f) || eval(b, f),
        Expr::Not(a) => !eval(a, f),
        Expr::InParents(p) => f.parents.iter().any(|x| x == p),
        Expr::Cmp { field, op, value } => {
            let actual = match field.as_str() {
                "name" => f.name.clone(),
                "mimeType" => f.mime.clone(),
                "trashed" => f.trashed.to_string(),
                "modifiedTime" => f.modified.clone(),
                _ => format!("{}\n{}", f.name, f.text()),
            };
            match op.as_str() {
                "contains" => actual.to_lowercase().contains(&value.to_lowercase()),
                "=" => actual == *value,
                "!=" => actual != *value,
                ">" => actual.as_str() > value.as_str(),
                "<" => actual.as_str() < value.as_str(),
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> GFile {
        GFile {
            id: "x".into(),
            name: name.into(),
            mime: "text/plain".into(),
            parents: vec!["P".into()],
            content: b"hello world".to_vec(),
            appdata: false,
            trashed: false,
            granted: HashSet::new(),
            modified: "2026".into(),
        }
    }

    #[test]
    fn the_query_language_parses_escapes_and_refuses_broken_literals() {
        let e = parse_query(r"name contains 'O\'Brien' and trashed = false").unwrap();
        assert!(eval(&e, &file("O'Brien notes")));
        assert!(!eval(&e, &file("Brien")));
        assert!(parse_query("name contains 'O'Brien'").is_err());
        let e =
            parse_query(r"'P' in parents and (fullText contains 'world' or name = 'z')").unwrap();
        assert!(eval(&e, &file("a")));
        assert!(parse_query(r"name contains 'x\q'").is_err());
    }

    #[test]
    fn docs_indexes_are_utf16() {
        let mut t = "Milk 🥛\n".to_string();
        // "Milk " is 5 units: index 6 is the emoji, 8 the newline.
        apply(
            &mut t,
            &json!({"insertText": {"location": {"index": 8}, "text": "!"}}),
        )
        .unwrap();
        assert_eq!(t, "Milk 🥛!\n");
        assert!(
            apply(
                &mut t,
                &json!({"insertText": {"location": {"index": 7}, "text": "x"}})
            )
            .is_err()
        );
        let end = 1 + u16len(&t);
        assert!(
            apply(
                &mut t,
                &json!({"deleteContentRange": {"range": {"startIndex": 1, "endIndex": end}}})
            )
            .is_err()
        );
        apply(
            &mut t,
            &json!({"deleteContentRange": {"range": {"startIndex": 1, "endIndex": end - 1}}}),
        )
        .unwrap();
        assert_eq!(t, "\n");
    }
}
