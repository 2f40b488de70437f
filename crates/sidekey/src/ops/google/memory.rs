//! The agent's memory in Drive: small text values by key, in the hidden appDataFolder or, when
//! the account says so, in a visible folder.

use super::{Session, ensure_folder};
use crate::catalog::google::{GoogleOp, MEMORY_CAP};
use serde_json::{Value, json};
use sidekey_services::google::GoogleError;
use sidekey_services::google_drive::{Space, quote};

pub(super) async fn memory(
    s: &mut Session<'_>,
    op: &GoogleOp,
) -> Result<(Value, String), GoogleError> {
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
            s.wrote(format!(
                "stored memory key '{key}' (see `sidekey google memory get {key}`)"
            ));
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
                s.wrote(format!("deleted a file of memory key '{key}' ({})", f.id));
            }
            Ok((
                json!({"key": key, "deleted": true}),
                format!("Forgot '{key}'."),
            ))
        }
        _ => Err(GoogleError::Invalid("not a memory operation".into())),
    }
}
