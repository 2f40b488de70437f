//! The settings of the providers' services that an account may carry besides its sign-in
//! settings, each validated here by its service: Google Drive (`[accounts.NAME.drive]`), the
//! YouTube Data API (`youtube_api_base`) and the AWS access portal's role credentials
//! (`[accounts.NAME.policy] aws_roles`). Which providers offer which service is the dialect's
//! word ([`Dialect::service_keys`]), so nothing here names a provider.

use super::input::{Located, inline_or_file};
use serde::Deserialize;
use sidekey_flow::Secret;
use sidekey_flow::dialect::{Dialect, ServiceKey};
use sidekey_flow::provider::endpoint_url;
use std::path::Path;
use toml::Spanned;

/// A service setting on an account whose provider does not offer that service:
/// "`drive` applies to Google accounts only".
pub(super) fn service_key_applies(
    d: &dyn Dialect,
    key: ServiceKey,
    span: std::ops::Range<usize>,
) -> Result<(), Located> {
    if d.service_keys().contains(&key) {
        return Ok(());
    }
    Err((
        Some(span),
        format!("`{}` applies to {} accounts only", key.name(), key.owners()),
    ))
}

/// `[accounts.NAME.drive]` (Google accounts): see [`DriveSettings`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDrive {
    inbox_folder: Option<String>,
    memory: Option<String>,
    memory_folder: Option<String>,
    api_root: Option<String>,
    docs_root: Option<String>,
    picker_client_id: Option<String>,
    picker_client_secret: Option<String>,
    picker_client_secret_file: Option<String>,
    picker_authorization_endpoint: Option<String>,
    picker_token_endpoint: Option<String>,
}

/// `[accounts.NAME.drive]`: where the agent's Google inbox and memory live, and the Desktop
/// client that opens Google's Picker (docs/google-drive.md, "The code flow and the Picker client").
#[derive(Clone, Debug)]
pub struct DriveSettings {
    /// The inbox folder's name (default "OpenClaw Inbox").
    pub inbox_folder: String,
    /// Memory in the hidden appDataFolder (needs `drive.appdata`, a code-flow sign-in), or
    /// in a visible app-created folder (`memory = "folder"`, works with `drive.file` only).
    pub memory_in_folder: bool,
    /// The visible memory folder's name (default "OpenClaw Memory").
    pub memory_folder: String,
    /// `https://www.googleapis.com` (Drive and uploads).
    pub api_root: String,
    /// `https://docs.googleapis.com`.
    pub docs_root: String,
    /// The Desktop client for the Picker (default: the account's own client when it signs in
    /// with `flow = "code"`).
    pub picker_client_id: Option<String>,
    pub picker_client_secret: Option<Secret>,
    pub picker_authorization_endpoint: Option<url::Url>,
    pub picker_token_endpoint: Option<url::Url>,
}

impl Default for DriveSettings {
    fn default() -> Self {
        DriveSettings {
            inbox_folder: "OpenClaw Inbox".into(),
            memory_in_folder: false,
            memory_folder: "OpenClaw Memory".into(),
            api_root: "https://www.googleapis.com".into(),
            docs_root: "https://docs.googleapis.com".into(),
            picker_client_id: None,
            picker_client_secret: None,
            picker_authorization_endpoint: None,
            picker_token_endpoint: None,
        }
    }
}

impl DriveSettings {
    /// `[accounts.NAME.drive]`, on an account whose provider offers Drive.
    pub(super) fn validate(
        dialect: &dyn Dialect,
        d: Spanned<RawDrive>,
        base: &Path,
    ) -> Result<DriveSettings, Located> {
        service_key_applies(dialect, ServiceKey::Drive, d.span())?;
        drive_settings(d, base)
    }
}

fn drive_settings(d: Spanned<RawDrive>, base: &Path) -> Result<DriveSettings, Located> {
    let span = d.span();
    let d = d.into_inner();
    let at = |m: String| (Some(span.clone()), m);
    let mut out = DriveSettings::default();
    let name = |v: Option<String>, key: &str, default: String| -> Result<String, Located> {
        match v.map(|s| s.trim().to_string()) {
            None => Ok(default),
            Some(s) if s.is_empty() || s.len() > 200 || s.chars().any(char::is_control) => Err(at(
                format!("[drive] {key}: use a folder name of 1 to 200 printable characters"),
            )),
            Some(s) => Ok(s),
        }
    };
    out.inbox_folder = name(d.inbox_folder, "inbox_folder", out.inbox_folder)?;
    out.memory_folder = name(d.memory_folder, "memory_folder", out.memory_folder)?;
    out.memory_in_folder = match d.memory.as_deref().map(str::trim) {
        None | Some("appdata") => false,
        Some("folder") => true,
        Some(o) => {
            return Err(at(format!(
                "[drive] memory '{o}': use \"appdata\" (hidden, needs drive.appdata) or \"folder\" (visible)"
            )));
        }
    };
    let root = |v: Option<String>, key: &str, default: String| -> Result<String, Located> {
        match v {
            None => Ok(default),
            Some(s) => endpoint_url(s.trim())
                .map(|u| u.as_str().trim_end_matches('/').to_string())
                .map_err(|e| at(format!("[drive] {key}: {e}"))),
        }
    };
    out.api_root = root(d.api_root, "api_root", out.api_root)?;
    out.docs_root = root(d.docs_root, "docs_root", out.docs_root)?;
    out.picker_client_id = d.picker_client_id.map(|s| s.trim().to_string());
    out.picker_client_secret = inline_or_file(
        &d.picker_client_secret,
        &d.picker_client_secret_file,
        base,
        "[drive] picker_client_secret",
        "[drive] picker_client_secret_file",
    )?;
    let url = |v: Option<String>, key: &str| -> Result<Option<url::Url>, Located> {
        v.map(|s| endpoint_url(s.trim()).map_err(|e| at(format!("[drive] {key}: {e}"))))
            .transpose()
    };
    out.picker_authorization_endpoint = url(
        d.picker_authorization_endpoint,
        "picker_authorization_endpoint",
    )?;
    out.picker_token_endpoint = url(d.picker_token_endpoint, "picker_token_endpoint")?;
    Ok(out)
}

/// `youtube_api_base`: the YouTube Data API root, on an account whose provider offers YouTube;
/// `None` for the default (`https://www.googleapis.com/youtube/v3`).
pub(super) fn youtube_api_base(
    dialect: &dyn Dialect,
    raw: &Option<Spanned<String>>,
) -> Result<Option<String>, Located> {
    let Some(s) = raw else {
        return Ok(None);
    };
    service_key_applies(dialect, ServiceKey::YouTube, s.span())?;
    Ok(Some(
        endpoint_url(s.get_ref())
            .map_err(|e| (Some(s.span()), e))?
            .to_string(),
    ))
}

/// `[accounts.NAME.policy] aws_roles`: the `ACCOUNT_ID/ROLE_NAME` pairs whose role credentials
/// may leave the daemon, on an account whose provider offers the AWS access portal.
pub(super) fn aws_roles(
    dialect: &dyn Dialect,
    raw: Option<Vec<Spanned<String>>>,
) -> Result<Vec<String>, Located> {
    let mut aws_roles = Vec::new();
    for pair in raw.unwrap_or_default() {
        if !dialect.service_keys().contains(&ServiceKey::AwsRoles) {
            return Err((
                Some(pair.span()),
                format!(
                    "policy aws_roles does not apply to provider {}",
                    dialect.name()
                ),
            ));
        }
        let v = pair.get_ref().trim();
        if !sidekey_services::aws::valid_role(v) {
            return Err((
                Some(pair.span()),
                format!(
                    "policy aws_roles: '{}' is not ACCOUNT_ID/ROLE_NAME (12 digits, a slash, a role name)",
                    sidekey_flow::response::one_line(v, 80)
                ),
            ));
        }
        aws_roles.push(v.to_string());
    }
    Ok(aws_roles)
}
