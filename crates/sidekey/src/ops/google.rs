//! Google for the agent: the `google.*` operations (inbox, approved documents, drafting, memory,
//! the Picker). The Drive and Docs calls live in `sidekey-services` (`google_drive`,
//! `google_docs`); this module holds the operations' arguments and checks, which token serves
//! which file, the small state sidekey keeps in the vault (slot `gdrive`: the inbox and memory
//! folder ids, the picked files, the Picker client's tokens), and the run arm of each.
//!
//! Under `drive.file` (docs/google.md C) sidekey sees only the files it created and the ones the
//! person picked in Google's Picker: files dropped into the inbox folder in the Drive UI stay
//! invisible, and every text here says so. A 401 triggers one refresh and one retry.

use super::call::{ServiceError, attempt, within_ceiling};
use super::{Access, OpInfo};
use crate::account::{Record, now_unix};
use crate::context::Context;
use crate::error::{Exit, Failure, Reason};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sidekey_flow::{ProviderKind, Secret};
use sidekey_services::google::{GoogleError, GoogleHttp};
use sidekey_services::google_docs::{self, Docs, Revision};
use sidekey_services::google_drive::{self, Drive, DriveFile, Space, quote};

pub const PROVIDER: ProviderKind = ProviderKind::Google;
const DRIVE_FILE: &str = "https://www.googleapis.com/auth/drive.file";
const DRIVE_APPDATA: &str = "https://www.googleapis.com/auth/drive.appdata";
/// Text and PDF downloads: at most this many bytes.
pub const READ_CAP: usize = 2 * 1024 * 1024;
/// Google's export limit is 10 MB (files.export reference).
const EXPORT_CAP: usize = 10 * 1024 * 1024;
/// Memory values: small files.
const MEMORY_CAP: usize = 256 * 1024;
/// Inbox reads of several files run this many at a time.
pub const READ_CONCURRENCY: usize = 6;
const NOT_VISIBLE: &str = "files added to the folder in the Drive website or app are not visible to sidekey (Google's drive.file scope): add them with `sidekey google inbox add FILE`, or grant existing files with `sidekey google pick`";

/// How to revise a document.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Edit {
    /// Replace every occurrence (case-sensitive).
    ReplaceAll {
        /// The text to find.
        find: String,
        /// What replaces it.
        replace: String,
    },
    /// Add paragraphs at the end.
    Append {
        /// The text to add.
        text: String,
    },
    /// Replace the whole body.
    ReplaceBody {
        /// The new body.
        text: String,
    },
}

impl Default for Edit {
    fn default() -> Edit {
        Edit::Append {
            text: String::new(),
        }
    }
}

/// The Google operations. The tag is the audit and policy name.
#[derive(
    Serialize, Deserialize, Debug, Clone, PartialEq, strum::EnumIter, schemars::JsonSchema,
)]
#[serde(tag = "op")]
pub enum GoogleOp {
    #[serde(rename = "google.inbox.list")]
    InboxList,
    #[serde(rename = "google.inbox.read")]
    InboxRead {
        /// Drive file ids, as `google.inbox.list` or `google.docs.search` return them (read
        /// several at once).
        ids: Vec<String>,
    },
    #[serde(rename = "google.inbox.add")]
    InboxAdd {
        /// The file's name in Drive.
        name: String,
        /// Its MIME type, e.g. text/plain or application/pdf.
        mime_type: String,
        /// The file's bytes, base64 (at most 5 MB once decoded).
        content_base64: String,
    },
    #[serde(rename = "google.docs.search")]
    DocsSearch {
        /// Text to find in the names of the granted documents.
        query: String,
        /// Search their text as well as their names.
        #[serde(default)]
        content: bool,
    },
    #[serde(rename = "google.docs.read")]
    DocsRead {
        /// A Drive file id.
        id: String,
    },
    #[serde(rename = "google.docs.create")]
    DocsCreate {
        /// The new document's title.
        title: String,
        /// Its content, in Markdown.
        markdown: String,
    },
    #[serde(rename = "google.docs.revise")]
    DocsRevise {
        /// The Google Doc's file id.
        id: String,
        /// The change: replace_all, append or replace_body.
        edit: Edit,
    },
    #[serde(rename = "google.memory.list")]
    MemoryList,
    #[serde(rename = "google.memory.get")]
    MemoryGet {
        /// The memory key.
        key: String,
    },
    #[serde(rename = "google.memory.set")]
    MemorySet {
        /// The memory key.
        key: String,
        /// The value to keep (at most 256 KB).
        value: String,
    },
    #[serde(rename = "google.memory.delete")]
    MemoryDelete {
        /// The memory key.
        key: String,
    },
    #[serde(rename = "google.pick")]
    Pick {
        /// The address the person's browser ended on after picking (finishes a pick).
        #[serde(default)]
        paste_url: Option<String>,
        /// How long to wait for the redirect on 127.0.0.1 (0: return the link at once).
        #[serde(default)]
        wait_secs: u64,
    },
}

impl GoogleOp {
    pub fn info(&self) -> &'static OpInfo {
        use Access::{Read, Write};
        match self {
            GoogleOp::InboxList => &OpInfo {
                name: "google.inbox.list",
                access: Read,
                summary: "files in the agent's Drive inbox folder that sidekey can see (added with `inbox add` or granted with `pick`)",
                usage: "sidekey google inbox list",
            },
            GoogleOp::InboxRead { .. } => &OpInfo {
                name: "google.inbox.read",
                access: Read,
                summary: "read inbox files by id (several at once): Google Docs as Markdown, text and PDF downloaded (2 MB cap), other types as metadata",
                usage: "sidekey google inbox read FILE_ID [FILE_ID…]",
            },
            GoogleOp::InboxAdd { .. } => &OpInfo {
                name: "google.inbox.add",
                access: Write,
                summary: "upload a file (≤ 5 MB) into the inbox folder",
                usage: "sidekey google inbox add ./notes.pdf",
            },
            GoogleOp::DocsSearch { .. } => &OpInfo {
                name: "google.docs.search",
                access: Read,
                summary: "search the documents the person approved (picked) or sidekey created, by name, or with --content by name and text",
                usage: "sidekey google docs search \"budget 2026\" [--content]",
            },
            GoogleOp::DocsRead { .. } => &OpInfo {
                name: "google.docs.read",
                access: Read,
                summary: "read one approved document by id (Google Docs as Markdown)",
                usage: "sidekey google docs read FILE_ID",
            },
            GoogleOp::DocsCreate { .. } => &OpInfo {
                name: "google.docs.create",
                access: Write,
                summary: "create a Google Doc from Markdown (in the inbox folder)",
                usage: "sidekey google docs create --title \"Weekly report\" --from report.md",
            },
            GoogleOp::DocsRevise { .. } => &OpInfo {
                name: "google.docs.revise",
                access: Write,
                summary: "revise a Google Doc: --replace OLD --with NEW, --append TEXT, or --replace-body-from FILE; read back to verify",
                usage: "sidekey google docs revise FILE_ID --append \"Next steps: …\"",
            },
            GoogleOp::MemoryList => &OpInfo {
                name: "google.memory.list",
                access: Read,
                summary: "the agent's private memory keys (Drive appDataFolder)",
                usage: "sidekey google memory list",
            },
            GoogleOp::MemoryGet { .. } => &OpInfo {
                name: "google.memory.get",
                access: Read,
                summary: "one memory value",
                usage: "sidekey google memory get KEY",
            },
            GoogleOp::MemorySet { .. } => &OpInfo {
                name: "google.memory.set",
                access: Write,
                summary: "store a memory value (≤ 256 KB; `-` reads it from stdin)",
                usage: "sidekey google memory set KEY VALUE",
            },
            GoogleOp::MemoryDelete { .. } => &OpInfo {
                name: "google.memory.delete",
                access: Write,
                summary: "forget a memory value",
                usage: "sidekey google memory delete KEY",
            },
            GoogleOp::Pick { .. } => &OpInfo {
                name: "google.pick",
                access: Read,
                summary: "send the person Google's file Picker link so they can grant existing files to the agent (then they open the link; finish with --paste-url ADDRESS if the last page did not load)",
                usage: "sidekey google pick --no-wait",
            },
        }
    }

    pub fn validate(&self) -> Result<(), Failure> {
        let id_ok = |id: &str| {
            google_drive::check_id(id).map_err(|e| {
                Failure::usage(format!(
                    "{e} (use an id from `google inbox list` or `google docs search`)"
                ))
            })
        };
        match self {
            GoogleOp::InboxRead { ids } => {
                if ids.is_empty() || ids.len() > 50 {
                    return Err(Failure::usage("give 1 to 50 file ids"));
                }
                for id in ids {
                    id_ok(id)?;
                }
            }
            GoogleOp::DocsRead { id } | GoogleOp::DocsRevise { id, .. } => id_ok(id)?,
            GoogleOp::InboxAdd {
                name,
                content_base64,
                mime_type,
            } => {
                check_name(name, "file name")?;
                if mime_type.is_empty() || mime_type.len() > 200 || mime_type.contains(['\r', '\n'])
                {
                    return Err(Failure::usage("a MIME type like text/plain"));
                }
                // base64 is 4/3 of the bytes.
                if content_base64.len() > google_drive::MAX_UPLOAD / 3 * 4 + 8 {
                    return Err(Failure::usage(
                        "the file is over the 5 MB limit of a Drive multipart upload",
                    ));
                }
            }
            GoogleOp::DocsSearch { query, .. } if query.trim().is_empty() || query.len() > 500 => {
                return Err(Failure::usage("give a search text of 1 to 500 characters"));
            }
            GoogleOp::DocsCreate { title, markdown } => {
                check_name(title, "title")?;
                if markdown.len() > google_drive::MAX_UPLOAD {
                    return Err(Failure::usage("the Markdown is over 5 MB"));
                }
            }
            GoogleOp::MemoryGet { key } | GoogleOp::MemoryDelete { key } => check_key(key)?,
            GoogleOp::MemorySet { key, value } => {
                check_key(key)?;
                if value.len() > MEMORY_CAP {
                    return Err(Failure::usage("a memory value holds at most 256 KB"));
                }
            }
            GoogleOp::Pick { wait_secs, .. } if *wait_secs > 1800 => {
                return Err(Failure::usage("--wait-secs: at most 1800"));
            }
            _ => {}
        }
        if let GoogleOp::DocsRevise { edit, .. } = self {
            match edit {
                Edit::ReplaceAll { find, .. } if find.is_empty() => {
                    return Err(Failure::usage("--replace needs a non-empty text"));
                }
                Edit::Append { text } if text.trim().is_empty() => {
                    return Err(Failure::usage("--append needs a non-empty text"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub fn audit_args(&self) -> Value {
        match self {
            GoogleOp::InboxRead { ids } => json!({"ids": ids.len()}),
            GoogleOp::InboxAdd { content_base64, .. } => {
                json!({"name": true, "bytes": content_base64.len() / 4 * 3})
            }
            GoogleOp::DocsSearch { content, .. } => json!({"query": true, "content": content}),
            GoogleOp::DocsRevise { edit, .. } => json!({"id": true, "edit": match edit {
                Edit::ReplaceAll { .. } => "replace_all",
                Edit::Append { .. } => "append",
                Edit::ReplaceBody { .. } => "replace_body",
            }}),
            GoogleOp::DocsRead { .. } => json!({"id": true}),
            GoogleOp::DocsCreate { .. } => json!({"title": true}),
            GoogleOp::MemoryGet { .. }
            | GoogleOp::MemorySet { .. }
            | GoogleOp::MemoryDelete { .. } => json!({"key": true}),
            GoogleOp::Pick { paste_url, .. } => json!({"paste_url": paste_url.is_some()}),
            GoogleOp::InboxList | GoogleOp::MemoryList => json!({}),
        }
    }
}

fn check_name(s: &str, what: &str) -> Result<(), Failure> {
    if s.trim().is_empty() || s.len() > 250 || s.chars().any(char::is_control) {
        return Err(Failure::usage(format!(
            "the {what} must be 1 to 250 printable characters"
        )));
    }
    Ok(())
}

fn check_key(key: &str) -> Result<(), Failure> {
    let ok = !key.is_empty()
        && key.len() <= 100
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !key.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Failure::usage(format!(
            "memory key '{}': use 1 to 100 letters, digits, '-', '_' or '.'",
            sidekey_flow::response::one_line(key, 40)
        )))
    }
}

// ---------------------------------------------------------------------------------------
// what sidekey keeps in the vault (slot `gdrive`)

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct DriveState {
    pub inbox: Option<Folder>,
    pub memory_folder: Option<Folder>,
    /// Files the person granted through the Picker.
    #[serde(default)]
    pub picked: Vec<Picked>,
    /// The Picker (Desktop) client's `drive.file` tokens, kept only when its grants are not
    /// visible to the account's own token (docs/google.md C.3).
    pub picker: Option<PickerTokens>,
    /// A Picker request waiting for its redirect.
    pub pick: Option<PendingPick>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Folder {
    pub id: String,
    pub name: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Picked {
    pub id: String,
    pub name: String,
    pub mime_type: String,
    /// Which token sees it: "account" (the account's own) or "picker".
    pub via: String,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct PickerTokens {
    pub access_token: Secret,
    pub expires_at: Option<i64>,
    pub refresh_token: Option<Secret>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct PendingPick {
    pub request: sidekey_flow::pkce::CodeRequest,
    pub url: String,
    pub started_at: i64,
    pub pasted: Option<Secret>,
}

/// The vault slot (`NAME.gdrive`) holding [`DriveState`].
pub const SLOT: &str = "gdrive";

pub fn load_state(ctx: &Context, name: &str) -> Result<DriveState, Failure> {
    Ok(ctx.vault()?.load_slot(name, SLOT)?.unwrap_or_default())
}

/// Change the state under the account lock (re-read first: another process may have written).
pub async fn update_state(
    ctx: &Context,
    name: &str,
    f: impl FnOnce(&mut DriveState) + Send + 'static,
) -> Result<DriveState, Failure> {
    let vault = ctx.vault()?;
    let n = name.to_string();
    tokio::task::spawn_blocking(move || -> Result<DriveState, Failure> {
        let lock = vault.lock(&n)?;
        let mut s: DriveState = lock.load_slot(SLOT)?.unwrap_or_default();
        f(&mut s);
        lock.store_slot(SLOT, &s)?;
        Ok(s)
    })
    .await
    .map_err(|_| Failure::internal("a worker thread failed"))?
}

// ---------------------------------------------------------------------------------------
// running

/// Everything one run needs.
pub(crate) struct Session<'a> {
    pub ctx: &'a Context,
    pub name: &'a str,
    pub drive: Drive,
    pub docs: Docs,
    /// The account's access token this try sends.
    pub token: String,
    /// Other tokens this run sent (the Picker client's), scrubbed from whatever comes back.
    pub sent: &'a std::sync::Mutex<Vec<String>>,
}

impl Session<'_> {
    fn token(&self) -> &str {
        &self.token
    }

    fn sent(&self, token: &str) {
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(token.to_string());
        }
    }

    /// The Picker client's access token, refreshed when due.
    async fn picker_token(&mut self) -> Result<Option<String>, Failure> {
        let state = load_state(self.ctx, self.name)?;
        let Some(p) = state.picker else {
            return Ok(None);
        };
        if p.expires_at.is_none_or(|e| e - now_unix() > 120) {
            let t = p.access_token.expose().to_string();
            self.sent(&t);
            return Ok(Some(t));
        }
        let Some(rt) = p.refresh_token else {
            return Ok(None);
        };
        let provider = super::google_pick::picker_provider(self.ctx, self.name)?;
        let t = sidekey_flow::DeviceFlow::new(self.ctx.http()?, &provider)
            .refresh(&rt, &sidekey_flow::SystemClock)
            .await
            .map_err(|e| Failure::from_refresh(self.name, e))?;
        let access = t.access_token.expose().to_string();
        let fresh = PickerTokens {
            access_token: t.access_token,
            expires_at: t.expires_in.map(|e| now_unix() + e as i64),
            refresh_token: t.refresh_token.or(Some(rt)),
        };
        update_state(self.ctx, self.name, move |s| s.picker = Some(fresh)).await?;
        self.sent(&access);
        Ok(Some(access))
    }

    /// The token that sees `id`: the Picker client's for files only it was granted.
    async fn token_for(&mut self, id: &str) -> Result<String, Failure> {
        let state = load_state(self.ctx, self.name)?;
        if state.picked.iter().any(|p| p.id == id && p.via == "picker")
            && let Some(t) = self.picker_token().await?
        {
            return Ok(t);
        }
        Ok(self.token().to_string())
    }
}

/// Run `op` for account `name`.
pub async fn run(ctx: &Context, name: &str, op: &GoogleOp) -> Result<(Value, String), Failure> {
    let account = ctx.config.account(name)?;
    if op.info().access == Access::Write {
        account.policy.check(name, op.info().name)?;
    }
    if let GoogleOp::Pick {
        paste_url,
        wait_secs,
    } = op
    {
        return super::google_pick::run(ctx, name, paste_url.as_deref(), *wait_secs).await;
    }
    let http = GoogleHttp::new(ctx.http()?.client().clone());
    let drive = Drive::new(http.clone(), &account.drive.api_root);
    let docs = Docs::new(http, &account.drive.docs_root);
    let picker_sent = std::sync::Mutex::new(Vec::new());
    let memory_hidden = matches!(
        op,
        GoogleOp::MemoryList
            | GoogleOp::MemoryGet { .. }
            | GoogleOp::MemorySet { .. }
            | GoogleOp::MemoryDelete { .. }
    ) && !account.drive.memory_in_folder;
    let needed = if memory_hidden {
        DRIVE_APPDATA
    } else {
        DRIVE_FILE
    };
    let check = |rec: &Record| {
        if !rec.scopes.iter().any(|s| s == needed) {
            return Err(if memory_hidden {
                appdata_missing(name)
            } else {
                Failure::new(
                    Exit::NotSignedIn,
                    Reason::MissingScope,
                    format!(
                        "'{name}' was not granted drive.file, which `{}` needs: add \"drive.file\" to the account's scopes and run `sidekey login {name}`",
                        op.info().usage
                    ),
                )
            });
        }
        // The ceiling holds for what was granted, as for the Microsoft and YouTube operations.
        if !within_ceiling(account, &rec.scopes)
            .iter()
            .any(|g| g == needed)
        {
            return Err(Failure::policy(format!(
                "policy: `{}` needs {} which '{name}' was granted beyond its ceiling ({}); add it to [accounts.{name}.policy] allowed_scopes if that is intended",
                op.info().usage,
                needed.trim_start_matches(sidekey_flow::dialect::google::SCOPE_PREFIX),
                account.policy.ceiling(&account.scopes).join(" ")
            )));
        }
        Ok(())
    };
    let picker = &picker_sent;
    let mut called = attempt(ctx, name, check, |t: Secret| {
        let mut s = Session {
            ctx,
            name,
            drive: drive.clone(),
            docs: docs.clone(),
            token: t.expose().to_string(),
            sent: picker,
        };
        async move { call(&mut s, op).await }
    })
    .await?;
    // The Picker client's tokens this run sent are scrubbed as well.
    for t in picker_sent.into_inner().unwrap_or_default() {
        called.sent.push(&t);
    }
    let target = Target {
        memory_key: matches!(
            op,
            GoogleOp::MemoryGet { .. } | GoogleOp::MemoryDelete { .. }
        ),
        memory_hidden,
    };
    called.finish(name, &target)
}

/// What a Google failure's words depend on besides the account.
pub struct Target {
    /// The operation names a memory key (a 404 is "no such memory key").
    memory_key: bool,
    /// Memory is kept in the hidden appDataFolder (a missing scope is drive.appdata).
    memory_hidden: bool,
}

impl ServiceError for GoogleError {
    type Op = Target;

    fn is_unauthorized(&self) -> bool {
        matches!(self, GoogleError::Unauthorized)
    }

    fn refused_again(account: &str) -> Failure {
        Failure::reauth(account, "Google refused the refreshed token")
    }

    fn into_failure(self, name: &str, t: &Target) -> Failure {
        google_failure(name, t, &self)
    }
}

fn appdata_missing(name: &str) -> Failure {
    Failure::new(
        Exit::NotSignedIn,
        Reason::MissingScope,
        format!(
            "'{name}' was not granted drive.appdata, which the agent's hidden memory (Drive appDataFolder) needs; Google's device sign-in refuses that scope. Either sign in with a Desktop client (flow = \"code\", scopes including \"drive.appdata\") and run `sidekey login {name}`, or set [accounts.{name}.drive] memory = \"folder\" to keep memory in a visible \"OpenClaw Memory\" folder instead (the person can see it in Drive)"
        ),
    )
}

fn google_failure(name: &str, t: &Target, e: &GoogleError) -> Failure {
    let msg = e.to_string();
    match e {
        GoogleError::Unauthorized => Failure::reauth(name, &msg),
        GoogleError::Api {
            status: 403,
            reason,
            ..
        } if t.memory_hidden && reason == "insufficientScopes" => appdata_missing(name),
        GoogleError::Api {
            status: 403,
            reason,
            ..
        } if matches!(
            reason.as_str(),
            "insufficientPermissions" | "insufficientScopes"
        ) =>
        {
            Failure::new(
                Exit::NotSignedIn,
                Reason::MissingScope,
                format!("{msg} (add the scope and run `sidekey login {name}`)"),
            )
        }
        GoogleError::Api { status: 404, .. } => {
            let hint = if t.memory_key {
                "no such memory key".to_string()
            } else {
                format!(
                    "sidekey sees only files it created and files the person granted; {NOT_VISIBLE}"
                )
            };
            Failure::new(
                Exit::Provider,
                Reason::ProviderError,
                format!("{msg} ({hint})"),
            )
        }
        GoogleError::Network(_) => Failure::network(msg),
        GoogleError::Invalid(_) => Failure::usage(msg),
        _ => Failure::new(Exit::Provider, Reason::ProviderError, msg),
    }
}

fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

async fn call(s: &mut Session<'_>, op: &GoogleOp) -> Result<(Value, String), GoogleError> {
    match op {
        GoogleOp::InboxList => {
            let inbox = ensure_folder(s, false).await?;
            let files = s
                .drive
                .list(
                    s.token(),
                    &format!("{} in parents and trashed = false", quote(&inbox.id)),
                    Space::Drive,
                    1000,
                )
                .await?;
            let mut text = format!("Inbox \"{}\": {} file(s)\n", inbox.name, files.len());
            for f in &files {
                text.push_str(&file_line(f));
            }
            text.push_str(&format!("Note: {NOT_VISIBLE}.\n"));
            Ok((
                json!({"folder": inbox, "files": to_json(&files), "note": NOT_VISIBLE}),
                text,
            ))
        }
        GoogleOp::InboxRead { ids } => {
            let inbox = ensure_folder(s, false).await?;
            let items = read_many(&s.drive, s.token(), ids, Some(&inbox.id)).await;
            if ids.len() == 1
                && let Some(Err(e)) = items.first().map(|(_, r)| r)
            {
                return Err(e.clone());
            }
            render_reads(items)
        }
        GoogleOp::InboxAdd {
            name,
            mime_type,
            content_base64,
        } => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(content_base64)
                .map_err(|_| GoogleError::Invalid("the file content is not base64".into()))?;
            let inbox = ensure_folder(s, false).await?;
            let f = s
                .drive
                .upload(
                    s.token(),
                    &json!({"name": name, "parents": [inbox.id]}),
                    mime_type,
                    &bytes,
                )
                .await?;
            let text = format!("Added to \"{}\": {}", inbox.name, file_line(&f));
            Ok((to_json(&f), text))
        }
        GoogleOp::DocsSearch { query, content } => {
            let term = if *content { "fullText" } else { "name" };
            let q = format!(
                "{term} contains {} and trashed = false and mimeType != {}",
                quote(query),
                quote(google_drive::FOLDER_MIME)
            );
            let mut files = s.drive.list(s.token(), &q, Space::Drive, 100).await?;
            let state = load_state(s.ctx, s.name).map_err(|f| GoogleError::Invalid(f.message))?;
            if state.picked.iter().any(|p| p.via == "picker")
                && let Ok(Some(pt)) = s.picker_token().await
            {
                for f in s.drive.list(&pt, &q, Space::Drive, 100).await? {
                    if !files.iter().any(|x| x.id == f.id) {
                        files.push(f);
                    }
                }
            }
            let mut text = format!("{} document(s) for \"{query}\"\n", files.len());
            for f in &files {
                text.push_str(&file_line(f));
            }
            if files.is_empty() {
                text.push_str("Only documents sidekey created or the person picked are searched; to add one: `sidekey google pick`.\n");
            }
            Ok((
                json!({"query": query, "content": content, "files": to_json(&files)}),
                text,
            ))
        }
        GoogleOp::DocsRead { id } => {
            let token = s
                .token_for(id)
                .await
                .map_err(|f| GoogleError::Invalid(f.message))?;
            let r = read_one(&s.drive, &token, id, None).await?;
            render_reads(vec![(id.clone(), Ok(r))])
        }
        GoogleOp::DocsCreate { title, markdown } => {
            let inbox = ensure_folder(s, false).await?;
            let f = s
                .drive
                .upload(
                    s.token(),
                    &json!({"name": title, "mimeType": google_drive::DOC_MIME, "parents": [inbox.id]}),
                    "text/markdown",
                    markdown.as_bytes(),
                )
                .await?;
            // Read back: the import produced a Google Doc with text in it.
            let back = s.docs.get(s.token(), &f.id).await?;
            let verified =
                f.is_google_doc() && (markdown.trim().is_empty() || !back.text.trim().is_empty());
            if !verified {
                return Err(GoogleError::Malformed(format!(
                    "the created document {} did not read back as a Google Doc with the text",
                    f.id
                )));
            }
            let text = format!(
                "Created Google Doc \"{}\" ({}) in \"{}\"{}",
                f.name,
                f.id,
                inbox.name,
                f.web_view_link
                    .as_deref()
                    .map(|l| format!(": {l}"))
                    .unwrap_or_default()
            );
            Ok((
                json!({"file": to_json(&f), "verified": true, "characters": back.text.chars().count()}),
                text,
            ))
        }
        GoogleOp::DocsRevise { id, edit } => {
            let token = s
                .token_for(id)
                .await
                .map_err(|f| GoogleError::Invalid(f.message))?;
            revise(&s.docs, &token, id, edit).await
        }
        GoogleOp::MemoryList
        | GoogleOp::MemoryGet { .. }
        | GoogleOp::MemorySet { .. }
        | GoogleOp::MemoryDelete { .. } => memory(s, op).await,
        GoogleOp::Pick { .. } => Err(GoogleError::Invalid("pick runs on its own".into())),
    }
}

fn file_line(f: &DriveFile) -> String {
    let kind = if f.is_google_doc() {
        "Google Doc".to_string()
    } else {
        match f.size {
            Some(n) => format!("{}, {n} bytes", f.mime_type),
            None => f.mime_type.clone(),
        }
    };
    format!(
        "- {} [{}] ({kind}){}\n",
        f.name,
        f.id,
        f.modified
            .as_deref()
            .map(|m| format!(", modified {m}"))
            .unwrap_or_default()
    )
}

/// The inbox (or the visible memory) folder: the stored id, else an app-created folder of that
/// name found by listing (sidekey made it earlier), else a new one. Only app-created folders
/// are visible under `drive.file`, so a folder of the same name the person made is never used.
async fn ensure_folder(s: &mut Session<'_>, memory: bool) -> Result<Folder, GoogleError> {
    let account = s
        .ctx
        .config
        .account(s.name)
        .map_err(|f| GoogleError::Invalid(f.message))?;
    let want = if memory {
        account.drive.memory_folder.clone()
    } else {
        account.drive.inbox_folder.clone()
    };
    let state = load_state(s.ctx, s.name).map_err(|f| GoogleError::Invalid(f.message))?;
    let stored = if memory {
        state.memory_folder
    } else {
        state.inbox
    };
    if let Some(f) = stored.filter(|f| f.name == want) {
        return Ok(f);
    }
    let q = format!(
        "name = {} and mimeType = {} and trashed = false",
        quote(&want),
        quote(google_drive::FOLDER_MIME)
    );
    let found = s.drive.list(s.token(), &q, Space::Drive, 1).await?;
    let f = match found.into_iter().next() {
        Some(f) => f,
        None => s.drive.create_folder(s.token(), &want, None).await?,
    };
    let folder = Folder {
        id: f.id,
        name: f.name,
    };
    let keep = folder.clone();
    update_state(s.ctx, s.name, move |st| {
        if memory {
            st.memory_folder = Some(keep);
        } else {
            st.inbox = Some(keep);
        }
    })
    .await
    .map_err(|f| GoogleError::Invalid(f.message))?;
    Ok(folder)
}

/// What a read returns for one file.
#[derive(Serialize, Debug, Clone)]
pub struct ReadFile {
    pub file: DriveFile,
    /// `markdown`, `text`, `pdf_base64` or `metadata`.
    pub format: &'static str,
    pub content: Option<String>,
    pub note: Option<String>,
}

/// Read one file: Google Docs exported as Markdown (plain text if Markdown is refused), text
/// and PDF downloaded under [`READ_CAP`], anything else as metadata. `inbox`: the file must be
/// in that folder.
pub async fn read_one(
    drive: &Drive,
    token: &str,
    id: &str,
    inbox: Option<&str>,
) -> Result<ReadFile, GoogleError> {
    let file = drive.get(token, id).await?;
    if let Some(folder) = inbox
        && !file.parents.iter().any(|p| p == folder)
    {
        return Err(GoogleError::Invalid(format!(
            "{id} is not in the inbox folder (read approved documents with `sidekey google docs read {id}`)"
        )));
    }
    let textual = file.mime_type.starts_with("text/")
        || matches!(
            file.mime_type.as_str(),
            "application/json" | "application/xml" | "application/x-yaml"
        );
    if file.is_google_doc() {
        let (bytes, format) = match drive.export(token, id, "text/markdown", EXPORT_CAP).await {
            Ok(b) => (b, "markdown"),
            Err(e) if e.status() == Some(400) => (
                drive.export(token, id, "text/plain", EXPORT_CAP).await?,
                "text",
            ),
            Err(e) => return Err(e),
        };
        return Ok(ReadFile {
            file,
            format,
            content: Some(String::from_utf8_lossy(&bytes).into_owned()),
            note: None,
        });
    }
    let too_big = file.size.is_some_and(|n| n > READ_CAP as u64);
    if (textual || file.mime_type == "application/pdf") && !too_big {
        let bytes = match drive.download(token, id, READ_CAP).await {
            Ok(b) => b,
            Err(GoogleError::TooLarge { .. }) => {
                return Ok(metadata_only(file, "larger than the 2 MB read limit"));
            }
            Err(e) => return Err(e),
        };
        return Ok(if textual {
            ReadFile {
                file,
                format: "text",
                content: Some(String::from_utf8_lossy(&bytes).into_owned()),
                note: None,
            }
        } else {
            ReadFile {
                file,
                format: "pdf_base64",
                content: Some(base64::engine::general_purpose::STANDARD.encode(&bytes)),
                note: Some(format!("PDF, {} bytes, base64 in --json", bytes.len())),
            }
        });
    }
    if too_big {
        return Ok(metadata_only(file, "larger than the 2 MB read limit"));
    }
    let t = file.mime_type.clone();
    Ok(metadata_only(
        file,
        &format!("{t} is not read as text; metadata only"),
    ))
}

fn metadata_only(file: DriveFile, why: &str) -> ReadFile {
    ReadFile {
        file,
        format: "metadata",
        content: None,
        note: Some(why.to_string()),
    }
}

/// Read several files concurrently, at most [`READ_CONCURRENCY`] at a time, in the given order.
pub async fn read_many(
    drive: &Drive,
    token: &str,
    ids: &[String],
    inbox: Option<&str>,
) -> Vec<(String, Result<ReadFile, GoogleError>)> {
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(READ_CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for (i, id) in ids.iter().enumerate() {
        let (drive, token, id, inbox, sem) = (
            drive.clone(),
            token.to_string(),
            id.clone(),
            inbox.map(str::to_string),
            sem.clone(),
        );
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let r = read_one(&drive, &token, &id, inbox.as_deref()).await;
            (i, id, r)
        });
    }
    let mut out: Vec<(usize, String, Result<ReadFile, GoogleError>)> = Vec::new();
    while let Some(done) = set.join_next().await {
        if let Ok(x) = done {
            out.push(x);
        }
    }
    out.sort_by_key(|(i, _, _)| *i);
    out.into_iter().map(|(_, id, r)| (id, r)).collect()
}

fn render_reads(
    items: Vec<(String, Result<ReadFile, GoogleError>)>,
) -> Result<(Value, String), GoogleError> {
    let mut text = String::new();
    let mut out = Vec::new();
    let mut errors = 0;
    let total = items.len();
    let mut first_err = None;
    for (id, r) in items {
        match r {
            Ok(f) => {
                text.push_str(&format!("=== {} [{}] ({})\n", f.file.name, id, f.format));
                if let (Some(c), "markdown" | "text") = (&f.content, f.format) {
                    text.push_str(c);
                    if !c.ends_with('\n') {
                        text.push('\n');
                    }
                }
                if let Some(n) = &f.note {
                    text.push_str(&format!("({n})\n"));
                }
                out.push(to_json(&f));
            }
            Err(e) => {
                errors += 1;
                text.push_str(&format!("=== [{id}]: {e}\n"));
                out.push(json!({"id": id, "error": e.to_string(), "reason": e.reason()}));
                first_err.get_or_insert(e);
            }
        }
    }
    if errors == total
        && let Some(e) = first_err
    {
        return Err(e);
    }
    Ok((json!({"files": out}), text))
}

async fn revise(
    docs: &Docs,
    token: &str,
    id: &str,
    edit: &Edit,
) -> Result<(Value, String), GoogleError> {
    let before = docs.get(token, id).await?;
    let rev = match edit {
        Edit::ReplaceAll { find, replace } => Revision::ReplaceAll {
            find: find.clone(),
            replace: replace.clone(),
        },
        Edit::Append { text } => Revision::Append { text: text.clone() },
        Edit::ReplaceBody { text } => Revision::ReplaceBody { text: text.clone() },
    };
    let requests = google_docs::requests_for(&rev, before.end_index, &before.text);
    let mut changed = None;
    if !requests.is_empty() {
        let reply = docs.batch_update(token, id, &requests).await?;
        changed = reply["replies"][0]["replaceAllText"].as_object().map(|o| {
            o.get("occurrencesChanged")
                .and_then(Value::as_u64)
                .unwrap_or(0)
        });
    }
    // Read back and check the document says what was asked.
    let after = docs.get(token, id).await?;
    let body = after.text.trim_end_matches('\n');
    let verified = match edit {
        Edit::ReplaceAll { find, replace } => {
            replace.contains(find.as_str()) || !after.text.contains(find.as_str())
        }
        Edit::Append { text } => body.ends_with(text.trim_end_matches('\n')),
        Edit::ReplaceBody { text } => body == text.trim_end_matches('\n'),
    };
    if !verified {
        return Err(GoogleError::Malformed(format!(
            "the revision of {id} did not read back as asked"
        )));
    }
    let what = match (edit, changed) {
        (Edit::ReplaceAll { .. }, Some(n)) => format!("replaced {n} occurrence(s)"),
        (Edit::ReplaceAll { .. }, None) => "replaced 0 occurrence(s)".into(),
        (Edit::Append { .. }, _) => "appended".into(),
        (Edit::ReplaceBody { .. }, _) => "replaced the body".into(),
    };
    Ok((
        json!({"id": id, "title": after.title, "verified": true, "occurrences_changed": changed, "characters": after.text.chars().count()}),
        format!("\"{}\" ({id}): {what}; read back and verified", after.title),
    ))
}

async fn memory(s: &mut Session<'_>, op: &GoogleOp) -> Result<(Value, String), GoogleError> {
    let account = s
        .ctx
        .config
        .account(s.name)
        .map_err(|f| GoogleError::Invalid(f.message))?;
    let in_folder = account.drive.memory_in_folder;
    let (space, folder) = if in_folder {
        let f = ensure_folder(s, true).await?;
        (Space::Drive, Some(f))
    } else {
        (Space::AppData, None)
    };
    let scope = match &folder {
        Some(f) => format!(" and {} in parents", quote(&f.id)),
        None => String::new(),
    };
    let where_ = match &folder {
        Some(f) => format!("the visible Drive folder \"{}\"", f.name),
        None => "the hidden appDataFolder".to_string(),
    };
    let find = |key: &str| format!("name = {} and trashed = false{scope}", quote(key));
    match op {
        GoogleOp::MemoryList => {
            let files = s
                .drive
                .list(s.token(), &format!("trashed = false{scope}"), space, 1000)
                .await?;
            let keys: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
            let text = if keys.is_empty() {
                format!("No memory yet (in {where_}).")
            } else {
                format!("{} key(s) in {where_}:\n{}", keys.len(), keys.join("\n"))
            };
            Ok((
                json!({"keys": keys, "store": if in_folder {"folder"} else {"appdata"}}),
                text,
            ))
        }
        GoogleOp::MemoryGet { key } => {
            let f = s.drive.list(s.token(), &find(key), space, 1).await?;
            let Some(f) = f.first() else {
                return Err(GoogleError::Api {
                    status: 404,
                    reason: "notFound".into(),
                    message: format!("no memory key '{key}'"),
                });
            };
            let bytes = s.drive.download(s.token(), &f.id, MEMORY_CAP).await?;
            let value = String::from_utf8_lossy(&bytes).into_owned();
            Ok((
                json!({"key": key, "value": value, "modified": f.modified}),
                value,
            ))
        }
        GoogleOp::MemorySet { key, value } => {
            let existing = s.drive.list(s.token(), &find(key), space, 1).await?;
            let f = match existing.first() {
                Some(f) => {
                    s.drive
                        .update_content(s.token(), &f.id, "text/plain", value.as_bytes())
                        .await?
                }
                None => {
                    let parent = folder
                        .as_ref()
                        .map(|f| f.id.clone())
                        .unwrap_or_else(|| "appDataFolder".into());
                    s.drive
                        .upload(
                            s.token(),
                            &json!({"name": key, "parents": [parent], "mimeType": "text/plain"}),
                            "text/plain",
                            value.as_bytes(),
                        )
                        .await?
                }
            };
            Ok((
                json!({"key": key, "bytes": value.len(), "id": f.id}),
                format!("Stored '{key}' ({} bytes) in {where_}.", value.len()),
            ))
        }
        GoogleOp::MemoryDelete { key } => {
            let existing = s.drive.list(s.token(), &find(key), space, 10).await?;
            if existing.is_empty() {
                return Err(GoogleError::Api {
                    status: 404,
                    reason: "notFound".into(),
                    message: format!("no memory key '{key}'"),
                });
            }
            for f in &existing {
                s.drive.delete(s.token(), &f.id).await?;
            }
            Ok((
                json!({"key": key, "deleted": true}),
                format!("Forgot '{key}'."),
            ))
        }
        _ => Err(GoogleError::Invalid("not a memory operation".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn names_are_google_dot_and_writes_are_writes() {
        for op in GoogleOp::iter() {
            let i = op.info();
            assert!(i.name.starts_with("google."), "{}", i.name);
            let v = serde_json::to_value(&op).unwrap();
            assert_eq!(v["op"], i.name);
            let back: GoogleOp = serde_json::from_value(v).unwrap();
            assert_eq!(back, op);
        }
        for w in [
            "google.inbox.add",
            "google.docs.create",
            "google.docs.revise",
            "google.memory.set",
            "google.memory.delete",
        ] {
            assert_eq!(
                GoogleOp::iter()
                    .find(|o| o.info().name == w)
                    .unwrap()
                    .info()
                    .access,
                Access::Write
            );
        }
    }

    #[test]
    fn bad_arguments_fail_before_any_request() {
        let bad = [
            GoogleOp::InboxRead { ids: vec![] },
            GoogleOp::InboxRead {
                ids: vec!["../x".into()],
            },
            GoogleOp::DocsRead { id: "a?b".into() },
            GoogleOp::DocsSearch {
                query: " ".into(),
                content: false,
            },
            GoogleOp::MemoryGet { key: "../k".into() },
            GoogleOp::MemorySet {
                key: "k".into(),
                value: "x".repeat(MEMORY_CAP + 1),
            },
            GoogleOp::DocsRevise {
                id: "abc".into(),
                edit: Edit::ReplaceAll {
                    find: String::new(),
                    replace: "x".into(),
                },
            },
        ];
        for op in bad {
            assert_eq!(op.validate().unwrap_err().exit, Exit::Usage, "{op:?}");
        }
    }

    #[test]
    fn audit_args_hold_no_values() {
        let op = GoogleOp::DocsSearch {
            query: "divorce".into(),
            content: true,
        };
        assert!(!op.audit_args().to_string().contains("divorce"));
        let op = GoogleOp::MemorySet {
            key: "secret-plan".into(),
            value: "v".into(),
        };
        assert!(!op.audit_args().to_string().contains("secret"));
    }
}
