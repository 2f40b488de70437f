//! Running the Google operations ([`GoogleOp`], defined in `crate::catalog::google`: inbox,
//! approved documents, drafting, memory, the Picker). The Drive and Docs calls live in
//! `sidekey-services` (`google::drive`, `google::docs`); this module decides which token serves
//! which file and holds the run arm of each; the small state sidekey keeps in the vault is
//! `state`, the agent's memory `memory`; reading files and the text shown are services'.
//!
//! Under `drive.file` (docs/google-drive.md, "What `drive.file` shows") sidekey sees only the files it created and the ones the
//! person picked in Google's Picker: files dropped into the inbox folder in the Drive UI stay
//! invisible, and every text here says so. A 401 triggers one refresh and one retry — unless the
//! operation has already made its change (an upload, a Docs batch, a memory write): the retry
//! would make it twice, so such a run records each change ([`Session::wrote`]) and a 401 after
//! one fails saying the change was made (`super::call`).

use crate::catalog::google::*;
pub use sidekey_services::google::read::{
    READ_CAP, READ_CONCURRENCY, ReadFile, read_many, read_one,
};
pub use state::{
    DriveState, Folder, PendingPick, Picked, PickerTokens, SLOT, load_state, update_state,
};

mod memory;
pub mod pick;
mod state;

use super::call::{ServiceError, Writes, attempt, not_granted_advice, within_ceiling};
use crate::account::Record;
use crate::context::Context;
use crate::error::{Exit, Failure, Reason};
use crate::time::now_unix;
use base64::Engine;
use serde::Serialize;
use serde_json::{Value, json};
use sidekey_flow::Secret;
use sidekey_services::google::render::{file_line, reads as render_reads};
use sidekey_services::google::{GoogleError, GoogleHttp};
use sidekey_services::google_docs::{self, Docs, Revision};
use sidekey_services::google_drive::{self, Drive, Space, quote};

const DRIVE_FILE: &str = "https://www.googleapis.com/auth/drive.file";
const DRIVE_APPDATA: &str = "https://www.googleapis.com/auth/drive.appdata";
const NOT_VISIBLE: &str = "files added to the folder in the Drive website or app are not visible to sidekey (Google's drive.file scope): add them with `sidekey google inbox add FILE`, or grant existing files with `sidekey google pick`";

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
    /// The changes this run made in Drive or Docs: after one, a 401 is not retried.
    pub writes: &'a Writes,
}

impl Session<'_> {
    pub(super) fn token(&self) -> &str {
        &self.token
    }

    /// Google confirmed a change (`what`, with how to see it): running the operation again
    /// would make it twice.
    pub(super) fn wrote(&self, what: String) {
        self.writes.record(what);
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
        let provider = pick::picker_provider(self.ctx, self.name)?;
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

/// Run `op` for account `name`, called by `who` (a pending Picker link is theirs).
pub async fn run(
    ctx: &Context,
    name: &str,
    op: &GoogleOp,
    who: crate::policy::Who,
) -> Result<(Value, String), Failure> {
    let account = ctx.config.account(name)?;
    if let GoogleOp::Pick {
        paste_url,
        wait_secs,
    } = op
    {
        return pick::run(ctx, name, paste_url.as_deref(), *wait_secs, who.into()).await;
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
            // Asked for at sign-in and not granted (a partial grant), or never asked for.
            let asked = rec
                .requested_scopes
                .iter()
                .any(|s| sidekey_flow::dialect::google::expand(s) == needed);
            return Err(if memory_hidden {
                appdata_missing(name)
            } else {
                Failure::new(
                    Exit::NotSignedIn,
                    Reason::MissingScope,
                    format!(
                        "'{name}' was not granted drive.file, which `{}` needs: {}",
                        op.info().usage,
                        not_granted_advice(name, asked, "\"drive.file\"")
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
    let writes = Writes::default();
    let wrote = &writes;
    let mut called = attempt(ctx, name, check, wrote, |t: Secret| {
        let mut s = Session {
            ctx,
            name,
            drive: drive.clone(),
            docs: docs.clone(),
            token: t.expose().to_string(),
            sent: picker,
            writes: wrote,
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

    fn refused_after_writing(account: &str, done: &[String]) -> Failure {
        super::call::refused_after_writing(account, "Google", done, "read it back")
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
        // As a file that is not there (a 404 above): exit 5.
        GoogleError::Trashed { .. } => Failure::new(Exit::Provider, Reason::ProviderError, msg),
        // Nothing was written; reading again and retrying may work (docs/google-drive.md,
        // "Writes and the person's edits").
        GoogleError::Changed { .. } => Failure::new(Exit::Provider, Reason::DocumentChanged, msg),
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
            s.wrote(format!(
                "added \"{name}\" to \"{}\" as file {} (see `sidekey google inbox list`)",
                inbox.name, f.id
            ));
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
            s.wrote(format!(
                "created Google Doc \"{}\" {} in \"{}\" (see `sidekey google docs read {}`)",
                f.name, f.id, inbox.name, f.id
            ));
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
            // The Docs API edits a trashed document by its id: one the person put in the
            // trash is not edited (as it is not read, `services::google::read`).
            let file = s.drive.get(&token, id).await?;
            if file.trashed {
                return Err(GoogleError::Trashed { id: file.id });
            }
            revise(&s.docs, &token, id, edit, s.writes).await
        }
        GoogleOp::MemoryList
        | GoogleOp::MemoryGet { .. }
        | GoogleOp::MemorySet { .. }
        | GoogleOp::MemoryDelete { .. } => memory::memory(s, op).await,
        GoogleOp::Pick { .. } => Err(GoogleError::Invalid("pick runs on its own".into())),
    }
}

/// The inbox (or the visible memory) folder: the stored id, else an app-created folder of that
/// name found by listing (sidekey made it earlier), else a new one. Only app-created folders
/// are visible under `drive.file`, so a folder of the same name the person made is never used.
pub(super) async fn ensure_folder(
    s: &mut Session<'_>,
    memory: bool,
) -> Result<Folder, GoogleError> {
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

async fn revise(
    docs: &Docs,
    token: &str,
    id: &str,
    edit: &Edit,
    writes: &Writes,
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
        // The edit is computed from this read, so it is written to this revision only: an edit
        // the person made since is never overwritten (docs/google-drive.md, "Writes and the
        // person's edits"). Refused, sidekey does not re-apply it on its own.
        let Some(read) = before.revision_id.as_deref() else {
            return Err(GoogleError::Malformed(format!(
                "Google Docs did not say which revision of {id} it read (revising needs edit access to the document); nothing was written"
            )));
        };
        changed = docs
            .batch_update(token, id, &requests, read)
            .await?
            .occurrences_changed;
        let did = match edit {
            Edit::ReplaceAll { .. } => "replaced text in",
            Edit::Append { .. } => "appended to",
            Edit::ReplaceBody { .. } => "replaced the body of",
        };
        writes.record(format!(
            "{did} Google Doc {id} (see `sidekey google docs read {id}`)"
        ));
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

/// The name of Drive file `id` as account `name` sees it, for an approval message ("Revise a
/// Google Doc: Budget 2026"): from the picked files without a request, else one Drive
/// `files.get` with the account's token (a picked-by-Picker file is always in the state).
/// `None` on any failure: the message then shows the id alone.
pub async fn file_name(ctx: &Context, name: &str, id: &str) -> Option<String> {
    let state = load_state(ctx, name).ok()?;
    if let Some(p) = state.picked.iter().find(|p| p.id == id) {
        return Some(p.name.clone());
    }
    let account = ctx.config.account(name).ok()?;
    let drive = Drive::new(
        GoogleHttp::new(ctx.http().ok()?.client().clone()),
        &account.drive.api_root,
    );
    let target = Target {
        memory_key: false,
        memory_hidden: false,
    };
    let called = attempt(
        ctx,
        name,
        |_| Ok(()),
        &Writes::default(),
        |t: Secret| {
            let drive = drive.clone();
            async move {
                drive
                    .get(t.expose(), id)
                    .await
                    .map(|f| (json!({ "name": f.name }), String::new()))
            }
        },
    )
    .await
    .ok()?;
    let (value, _) = called.finish(name, &target).ok()?;
    value["name"].as_str().map(str::to_owned)
}
