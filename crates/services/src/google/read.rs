//! Reading Drive files for a person or an agent: Google Docs exported as Markdown, text and
//! PDF downloaded under a cap, anything else as metadata; several at once, a few at a time.

use super::GoogleError;
use super::drive::{Drive, DriveFile};
use base64::Engine;
use serde::Serialize;

/// Text and PDF downloads: at most this many bytes.
pub const READ_CAP: usize = 2 * 1024 * 1024;
/// Google's export limit is 10 MB (files.export reference).
const EXPORT_CAP: usize = 10 * 1024 * 1024;
/// Inbox reads of several files run this many at a time.
pub const READ_CONCURRENCY: usize = 6;
/// The file content one read returns at most, all files together (a PDF's base64 is 4/3 of
/// it): as much as one Google Doc export. Files that no longer fit come back as metadata with
/// [`SPENT`] as their note; in a read of several files each file takes at most [`READ_CAP`],
/// Google Docs too.
pub const READ_BUDGET: usize = EXPORT_CAP;
/// The note of a file not read because the read's budget was spent on the others.
pub const SPENT: &str =
    "not read: this read already returns its 10 MB of content; read this file on its own";

/// What is left of one read's [`READ_BUDGET`], shared by the files read concurrently. Each
/// file takes what it may download before it downloads, and gives back what it did not use.
#[derive(Debug)]
pub struct ReadBudget(std::sync::Mutex<usize>);

impl ReadBudget {
    pub fn new(bytes: usize) -> ReadBudget {
        ReadBudget(std::sync::Mutex::new(bytes))
    }
    fn take(&self, want: usize) -> usize {
        let mut left = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = want.min(*left);
        *left -= n;
        n
    }
    fn give_back(&self, n: usize) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += n;
    }
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
    read_within(
        drive,
        token,
        id,
        inbox,
        &ReadBudget::new(READ_BUDGET),
        EXPORT_CAP,
    )
    .await
}

/// [`read_one`] within what is left of `budget`; a Google Doc's export takes at most `doc_cap`.
async fn read_within(
    drive: &Drive,
    token: &str,
    id: &str,
    inbox: Option<&str>,
    budget: &ReadBudget,
    doc_cap: usize,
) -> Result<ReadFile, GoogleError> {
    let file = drive.get(token, id).await?;
    // Drive serves a trashed file by its id (and the Docs API reads a trashed document): the
    // person removed it, so it is not read.
    if file.trashed {
        return Err(GoogleError::Trashed { id: file.id });
    }
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
        let cap = budget.take(doc_cap);
        if cap == 0 {
            return Ok(metadata_only(file, SPENT));
        }
        let exported = match drive.export(token, id, "text/markdown", cap).await {
            Ok(b) => Ok((b, "markdown")),
            Err(e) if e.status() == Some(400) => drive
                .export(token, id, "text/plain", cap)
                .await
                .map(|b| (b, "text")),
            Err(e) => Err(e),
        };
        let (bytes, format) = match exported {
            Ok(x) => x,
            Err(e) => {
                budget.give_back(cap);
                return match e {
                    GoogleError::TooLarge { .. } if cap < doc_cap => Ok(metadata_only(file, SPENT)),
                    GoogleError::TooLarge { .. } if doc_cap < EXPORT_CAP => Ok(metadata_only(
                        file,
                        "larger than the 2 MB each file may take in a read of several; read it on its own",
                    )),
                    e => Err(e),
                };
            }
        };
        budget.give_back(cap - bytes.len().min(cap));
        return Ok(ReadFile {
            file,
            format,
            content: Some(String::from_utf8_lossy(&bytes).into_owned()),
            note: None,
        });
    }
    let too_big = file.size.is_some_and(|n| n > READ_CAP as u64);
    if (textual || file.mime_type == "application/pdf") && !too_big {
        // Drive reports the size of files it stores: take exactly that, else the cap.
        let want = file.size.map_or(READ_CAP, |n| n as usize);
        let cap = budget.take(want);
        if (cap < want && file.size.is_some()) || (cap == 0 && want > 0) {
            budget.give_back(cap);
            return Ok(metadata_only(file, SPENT));
        }
        let bytes = match drive.download(token, id, cap).await {
            Ok(b) => b,
            Err(GoogleError::TooLarge { .. }) => {
                budget.give_back(cap);
                let why = if cap < READ_CAP {
                    SPENT
                } else {
                    "larger than the 2 MB read limit"
                };
                return Ok(metadata_only(file, why));
            }
            Err(e) => {
                budget.give_back(cap);
                return Err(e);
            }
        };
        budget.give_back(cap - bytes.len().min(cap));
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

/// Read several files concurrently, at most [`READ_CONCURRENCY`] at a time, in the given order,
/// within one [`READ_BUDGET`] (each file at most [`READ_CAP`] when there are several).
pub async fn read_many(
    drive: &Drive,
    token: &str,
    ids: &[String],
    inbox: Option<&str>,
) -> Vec<(String, Result<ReadFile, GoogleError>)> {
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(READ_CONCURRENCY));
    let budget = std::sync::Arc::new(ReadBudget::new(READ_BUDGET));
    let doc_cap = if ids.len() == 1 { EXPORT_CAP } else { READ_CAP };
    let mut set = tokio::task::JoinSet::new();
    for (i, id) in ids.iter().enumerate() {
        let (drive, token, id, inbox, sem, budget) = (
            drive.clone(),
            token.to_string(),
            id.clone(),
            inbox.map(str::to_string),
            sem.clone(),
            budget.clone(),
        );
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let r = read_within(&drive, &token, &id, inbox.as_deref(), &budget, doc_cap).await;
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
