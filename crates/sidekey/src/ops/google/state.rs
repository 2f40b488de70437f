//! What sidekey keeps in the vault for a Google account (slot `gdrive`): the inbox and memory
//! folder ids, the files the person picked, the Picker client's tokens and a pending pick,
//! changed only under the account lock.

use crate::context::Context;
use crate::error::Failure;
use serde::{Deserialize, Serialize};
use sidekey_flow::Secret;

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct DriveState {
    pub inbox: Option<Folder>,
    pub memory_folder: Option<Folder>,
    /// Files the person granted through the Picker.
    #[serde(default)]
    pub picked: Vec<Picked>,
    /// The Picker (Desktop) client's `drive.file` tokens, kept only when its grants are not
    /// visible to the account's own token (docs/google-drive.md, "Whose grant is it").
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
    /// Who asked for the link: the person at the terminal, or the agent (daemon API, MCP). The
    /// agent is never handed a live link the person started, nor ends it. A slot written before
    /// this was kept counts as the person's (the stricter answer).
    #[serde(default)]
    pub started_by: crate::signin::pending::Starter,
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
    let (n, wait) = (name.to_string(), crate::account::lock_wait(ctx));
    tokio::task::spawn_blocking(move || -> Result<DriveState, Failure> {
        let lock = crate::account::lock_blocking(&vault, &n, wait)?;
        let mut s: DriveState = lock.load_slot(SLOT)?.unwrap_or_default();
        f(&mut s);
        lock.store_slot(SLOT, &s)?;
        Ok(s)
    })
    .await
    .map_err(|_| Failure::internal("a worker thread failed"))?
}
