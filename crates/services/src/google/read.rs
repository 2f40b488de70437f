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
