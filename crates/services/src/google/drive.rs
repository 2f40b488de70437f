//! Google Drive v3 under `drive.file` / `drive.appdata`: the calls sidekey's inbox, approved
//! documents and memory make (docs/google-drive.md, "Calls sidekey makes" and "What `drive.file`
//! shows").
//!
//! What it gets right:
//! * search text is a Drive query string literal: `\` becomes `\\`, then `'` becomes `\'`
//!   ([`quote`]; ref-search-terms), then the whole `q` is percent-encoded by reqwest;
//! * every listing says `trashed = false` (Drive lists trashed files by default) and asks
//!   `fields` including `nextPageToken` (else paging silently stops), with a page cap;
//! * `size` is an int64 sent as a JSON string; Google Docs and folders have none;
//! * Google Docs are exported (`alt=media` answers 403 `fileNotDownloadable`), with the
//!   10 MB export limit reported as `exportSizeLimitExceeded`; downloads are capped;
//! * uploads are `multipart/related` (metadata part first), at most 5 MB (the simple and
//!   multipart limit; resumable uploads are not implemented).

use crate::google::{GoogleError, GoogleHttp};
use serde::Serialize;
use serde_json::{Value, json};

pub const FOLDER_MIME: &str = "application/vnd.google-apps.folder";
pub const DOC_MIME: &str = "application/vnd.google-apps.document";
/// Simple and multipart uploads carry at most 5 MB (manage-uploads guide).
pub const MAX_UPLOAD: usize = 5 * 1024 * 1024;
/// The `fields` of every file sidekey asks Drive for. Drive answers only the fields asked for
/// (`files.get` without `fields`: `kind`, `id`, `name`, `mimeType`), so `trashed` must be here.
pub const FILE_FIELDS: &str = "id,name,mimeType,size,modifiedTime,parents,webViewLink,trashed";
const PAGE_CAP: usize = 20;

/// One Drive file, as sidekey shows it.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct DriveFile {
    pub id: String,
    pub name: String,
    pub mime_type: String,
    /// Bytes; `None` for Google Docs and folders.
    pub size: Option<u64>,
    pub modified: Option<String>,
    pub parents: Vec<String>,
    pub web_view_link: Option<String>,
    /// In the Drive trash (docs/google-drive.md, "Trashed files"): `files.get` still serves a
    /// trashed file by its id, and only says so when `fields` asks for `trashed`
    /// ([`FILE_FIELDS`] does); a read refuses it ([`crate::google::read`]).
    #[serde(skip)]
    pub trashed: bool,
}

impl DriveFile {
    pub fn from_json(v: &Value) -> Result<DriveFile, GoogleError> {
        let id = v["id"]
            .as_str()
            .ok_or_else(|| GoogleError::Malformed("a file without an id".into()))?;
        let s = |k: &str| v[k].as_str().map(str::to_string);
        Ok(DriveFile {
            id: id.to_string(),
            name: s("name").unwrap_or_default(),
            mime_type: s("mimeType").unwrap_or_default(),
            // int64 → JSON string (docs/google-drive.md, "Wire conventions"); a number is tolerated.
            size: v["size"]
                .as_str()
                .and_then(|x| x.parse().ok())
                .or_else(|| v["size"].as_u64()),
            modified: s("modifiedTime"),
            parents: v["parents"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            web_view_link: s("webViewLink"),
            trashed: v["trashed"].as_bool().unwrap_or(false),
        })
    }

    pub fn is_google_doc(&self) -> bool {
        self.mime_type == DOC_MIME
    }

    pub fn is_folder(&self) -> bool {
        self.mime_type == FOLDER_MIME
    }
}

/// A Drive query string literal: `'…'` with `\` → `\\` first, then `'` → `\'`
/// (ref-search-terms: "name contains 'quinn\'s paper\\essay'").
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Which Drive space a listing reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    Drive,
    AppData,
}

/// The Drive v3 client. `root` is `https://www.googleapis.com` (or a fake's base): the API
/// lives at `{root}/drive/v3`, uploads at `{root}/upload/drive/v3`.
#[derive(Clone)]
pub struct Drive {
    http: GoogleHttp,
    root: String,
}

impl Drive {
    pub fn new(http: GoogleHttp, root: &str) -> Drive {
        Drive {
            http,
            root: root.trim_end_matches('/').to_string(),
        }
    }

    fn files_url(&self) -> String {
        format!("{}/drive/v3/files", self.root)
    }

    fn file_url(&self, id: &str) -> Result<String, GoogleError> {
        check_id(id)?;
        Ok(format!("{}/drive/v3/files/{id}", self.root))
    }

    /// `files.list` with `q` (already built from [`quote`]d literals), all pages up to the cap.
    pub async fn list(
        &self,
        token: &str,
        q: &str,
        space: Space,
        max: usize,
    ) -> Result<Vec<DriveFile>, GoogleError> {
        let url = self.files_url();
        let fields = format!("nextPageToken,files({FILE_FIELDS})");
        let spaces = match space {
            Space::Drive => "drive",
            Space::AppData => "appDataFolder",
        };
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        for _ in 0..PAGE_CAP {
            let v = self
                .http
                .json(token, || {
                    let mut query: Vec<(&str, &str)> = vec![
                        ("q", q),
                        ("spaces", spaces),
                        ("fields", &fields),
                        ("pageSize", "100"),
                    ];
                    if let Some(p) = &page {
                        query.push(("pageToken", p));
                    }
                    self.http.client.get(&url).query(&query)
                })
                .await?;
            for f in v["files"].as_array().into_iter().flatten() {
                out.push(DriveFile::from_json(f)?);
            }
            match v["nextPageToken"].as_str() {
                Some(t) if out.len() < max => page = Some(t.to_string()),
                _ => break,
            }
        }
        out.truncate(max);
        Ok(out)
    }

    /// `files.get` metadata.
    pub async fn get(&self, token: &str, id: &str) -> Result<DriveFile, GoogleError> {
        let url = self.file_url(id)?;
        let v = self
            .http
            .json(token, || {
                self.http.client.get(&url).query(&[("fields", FILE_FIELDS)])
            })
            .await?;
        DriveFile::from_json(&v)
    }

    /// `files.get?alt=media`: the bytes of a stored (not Google-native) file, at most `cap`.
    pub async fn download(
        &self,
        token: &str,
        id: &str,
        cap: usize,
    ) -> Result<Vec<u8>, GoogleError> {
        let url = self.file_url(id)?;
        let raw = self
            .http
            .send(
                token,
                || self.http.client.get(&url).query(&[("alt", "media")]),
                cap,
            )
            .await?;
        Ok(raw.body)
    }

    /// `files.export` of a Google Doc as `mime` (`text/markdown`, `text/plain`), at most `cap`.
    pub async fn export(
        &self,
        token: &str,
        id: &str,
        mime: &str,
        cap: usize,
    ) -> Result<Vec<u8>, GoogleError> {
        let url = format!("{}/export", self.file_url(id)?);
        let raw = self
            .http
            .send(
                token,
                || self.http.client.get(&url).query(&[("mimeType", mime)]),
                cap,
            )
            .await?;
        Ok(raw.body)
    }

    /// `files.create` of a folder (metadata only).
    pub async fn create_folder(
        &self,
        token: &str,
        name: &str,
        parent: Option<&str>,
    ) -> Result<DriveFile, GoogleError> {
        let url = self.files_url();
        let mut meta = json!({"name": name, "mimeType": FOLDER_MIME});
        if let Some(p) = parent {
            meta["parents"] = json!([p]);
        }
        let v = self
            .http
            .json(token, || {
                self.http
                    .client
                    .post(&url)
                    .query(&[("fields", FILE_FIELDS)])
                    .json(&meta)
            })
            .await?;
        DriveFile::from_json(&v)
    }

    /// Multipart upload (`uploadType=multipart`): `metadata` (name, parents, a target
    /// `mimeType` for conversion), then the content with `media_mime`.
    pub async fn upload(
        &self,
        token: &str,
        metadata: &Value,
        media_mime: &str,
        content: &[u8],
    ) -> Result<DriveFile, GoogleError> {
        if content.len() > MAX_UPLOAD {
            return Err(GoogleError::Invalid(format!(
                "{} bytes is over the 5 MB limit of a multipart upload",
                content.len()
            )));
        }
        let url = format!("{}/upload/drive/v3/files", self.root);
        let (ctype, body) = multipart_related(metadata, media_mime, content)?;
        let v = self
            .http
            .json(token, || {
                self.http
                    .client
                    .post(&url)
                    .query(&[("uploadType", "multipart"), ("fields", FILE_FIELDS)])
                    .header(reqwest::header::CONTENT_TYPE, &ctype)
                    .body(body.clone())
            })
            .await?;
        DriveFile::from_json(&v)
    }

    /// `files.update` of the content only (`uploadType=media`).
    pub async fn update_content(
        &self,
        token: &str,
        id: &str,
        media_mime: &str,
        content: &[u8],
    ) -> Result<DriveFile, GoogleError> {
        check_id(id)?;
        if content.len() > MAX_UPLOAD {
            return Err(GoogleError::Invalid("over the 5 MB upload limit".into()));
        }
        let url = format!("{}/upload/drive/v3/files/{id}", self.root);
        let v = self
            .http
            .json(token, || {
                self.http
                    .client
                    .patch(&url)
                    .query(&[("uploadType", "media"), ("fields", FILE_FIELDS)])
                    .header(reqwest::header::CONTENT_TYPE, media_mime)
                    .body(content.to_vec())
            })
            .await?;
        DriveFile::from_json(&v)
    }

    /// `files.delete` (permanent; for memory entries the app owns).
    pub async fn delete(&self, token: &str, id: &str) -> Result<(), GoogleError> {
        let url = self.file_url(id)?;
        self.http
            .send(token, || self.http.client.delete(&url), 1024)
            .await?;
        Ok(())
    }
}

/// A Drive file id is letters, digits, `-` and `_` (and sidekey refuses anything else before
/// it becomes a path segment).
pub fn check_id(id: &str) -> Result<(), GoogleError> {
    let ok = !id.is_empty()
        && id.len() <= 200
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(GoogleError::Invalid(format!(
            "'{}' is not a Drive file id",
            sidekey_net::one_line(id, 60)
        )))
    }
}

/// The `multipart/related` body of a Drive upload: metadata part first (JSON), then the media
/// (multipart-upload guide). The boundary is random and checked absent from the content.
pub fn multipart_related(
    metadata: &Value,
    media_mime: &str,
    content: &[u8],
) -> Result<(String, Vec<u8>), GoogleError> {
    let mut boundary = String::new();
    for attempt in 0u32..8 {
        let candidate = format!("sidekey_{:x}_{attempt}", rand_u64());
        if !contains(content, candidate.as_bytes()) {
            boundary = candidate;
            break;
        }
    }
    if boundary.is_empty() {
        return Err(GoogleError::Invalid(
            "could not pick a multipart boundary".into(),
        ));
    }
    let mut body = Vec::with_capacity(content.len() + 512);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n--{boundary}\r\nContent-Type: {media_mime}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Ok((format!("multipart/related; boundary={boundary}"), body))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_literals_escape_backslash_then_quote() {
        assert_eq!(quote("budget"), "'budget'");
        assert_eq!(quote("O'Brien"), r"'O\'Brien'");
        assert_eq!(quote(r"quinn's paper\essay"), r"'quinn\'s paper\\essay'");
        // A trailing backslash cannot escape the closing quote.
        assert_eq!(quote(r"x\"), r"'x\\'");
        assert_eq!(
            quote(r"\' or name contains '"),
            r"'\\\' or name contains \''"
        );
    }

    #[test]
    fn ids_are_checked_before_they_become_paths() {
        assert!(check_id("1AbC-_9").is_ok());
        for bad in ["", "../x", "a/b", "a?alt=media", "a b", "é"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn multipart_has_metadata_first() {
        let (ct, body) = multipart_related(&json!({"name":"a"}), "text/plain", b"hello").unwrap();
        let b = ct.strip_prefix("multipart/related; boundary=").unwrap();
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with(&format!("--{b}\r\nContent-Type: application/json")));
        assert!(text.ends_with(&format!("hello\r\n--{b}--\r\n")));
    }

    #[test]
    fn sizes_are_strings() {
        let f =
            DriveFile::from_json(&json!({"id":"x","name":"n","mimeType":"text/plain","size":"42"}))
                .unwrap();
        assert_eq!(f.size, Some(42));
    }
}
