//! The contact folders `ms dashboard` found last time, remembered per account so their contacts
//! join its one `$batch` ([`sidekey_services::Graph::dashboard_with`]): without them the
//! folders' ids are only known after a first request, and the dashboard costs two.
//!
//! Kept in the vault beside the account's tokens (slot `NAME.msfolders`: it survives a restart,
//! goes with a logout, and lives in the database for a shared vault), written only when Graph
//! lists other folders than remembered. Trusted for a day; after that the dashboard reads the
//! folders as if nothing were known (two requests once a day). Small: at most
//! [`MAX_FOLDERS`] ids of at most [`MAX_ID`] bytes each — a longer list or id is not
//! remembered, only read as always.

use crate::context::Context;
use crate::error::Failure;
use serde::{Deserialize, Serialize};

/// The vault slot (`NAME.msfolders`).
pub const SLOT: &str = "msfolders";
/// How long remembered folders are trusted.
pub const TRUSTED_FOR: i64 = 24 * 3600;
const MAX_FOLDERS: usize = 50;
const MAX_ID: usize = 512;

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Remembered {
    /// When Graph listed these folders (Unix seconds).
    listed_at: i64,
    ids: Vec<String>,
}

/// The folders remembered for `name` and still trusted at `now`; `None` when there are none
/// (or their record does not open: it is only a shortcut, so the dashboard reads them afresh).
pub fn known(ctx: &Context, name: &str, now: i64) -> Option<Vec<String>> {
    let r: Remembered = ctx.vault().ok()?.load_slot(name, SLOT).ok()??;
    (now.saturating_sub(r.listed_at) < TRUSTED_FOR && r.listed_at <= now).then_some(r.ids)
}

/// After a dashboard: remember the folders Graph `listed`, when they differ from `known` (or
/// `known` was not trusted any more). A failure to write costs only the next dashboard's
/// second request, so it is a warning.
pub async fn remember(
    ctx: &Context,
    name: &str,
    known: Option<&[String]>,
    listed: Vec<String>,
    now: i64,
) {
    if known == Some(listed.as_slice()) {
        return;
    }
    if listed.len() > MAX_FOLDERS || listed.iter().any(|id| id.len() > MAX_ID) {
        return;
    }
    let r = Remembered {
        listed_at: now,
        ids: listed,
    };
    if let Err(f) = store(ctx, name, r).await {
        eprintln!(
            "sidekey: warning: the contact folders of '{name}' could not be remembered ({}); the next dashboard reads them again",
            f.message
        );
    }
}

async fn store(ctx: &Context, name: &str, r: Remembered) -> Result<(), Failure> {
    let vault = ctx.vault()?;
    let (n, wait) = (name.to_string(), crate::account::lock_wait(ctx));
    tokio::task::spawn_blocking(move || -> Result<(), Failure> {
        let lock = crate::account::lock_blocking(&vault, &n, wait)?;
        Ok(lock.store_slot(SLOT, &r)?)
    })
    .await
    .map_err(|_| Failure::internal("a worker thread failed"))?
}
