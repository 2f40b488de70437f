//! `[accounts.NAME]`: one account's raw settings checked and turned into an [`Account`].
//!
//! Generic over the provider: which keys apply, the client, the endpoints, the scopes and the
//! defaults come from the account's dialect ([`sidekey_flow::Dialect`]); its services' settings
//! are checked by [`super::services`], its policy by [`super::policy`].

use super::account::{Account, Overrides, SignInFlow, apply, normalize_for};
use super::input::{Located, inline_or_file};
use super::policy;
use super::services::{self, DriveSettings, RawDrive};
use serde::Deserialize;
use sidekey_flow::dialect::{self, ClientIdentity, ConfigKey, Dialect, DialectSettings};
use sidekey_flow::provider::{Endpoints, endpoint_url};
use std::path::Path;
use std::sync::Arc;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccount {
    provider: Option<Spanned<String>>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_secret_file: Option<String>,
    scopes: Option<Spanned<Vec<String>>>,
    tenant: Option<Spanned<String>>,
    authority: Option<Spanned<String>>,
    issuer: Option<Spanned<String>>,
    domain: Option<Spanned<String>>,
    audience: Option<Spanned<String>>,
    start_url: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    oidc_endpoint: Option<Spanned<String>>,
    registration_scopes: Option<Spanned<Vec<String>>>,
    device_authorization_endpoint: Option<Spanned<String>>,
    token_endpoint: Option<Spanned<String>>,
    revocation_endpoint: Option<Spanned<String>>,
    authorization_endpoint: Option<Spanned<String>>,
    flow: Option<Spanned<String>>,
    api_base: Option<Spanned<String>>,
    /// Google: the YouTube Data API root (default `https://www.googleapis.com/youtube/v3`).
    youtube_api_base: Option<Spanned<String>>,
    token_env: Option<Vec<String>>,
    verification_hosts: Option<Vec<String>>,
    git_hosts: Option<Spanned<Vec<String>>>,
    git_username: Option<Spanned<String>>,
    policy: Option<Spanned<policy::RawPolicy>>,
    /// `[accounts.NAME.drive]`: Google Drive settings (inbox, memory, Picker client).
    drive: Option<Spanned<RawDrive>>,
}

/// The raw config value of an optional per-provider key.
fn key_value(r: &RawAccount, key: ConfigKey) -> &Option<Spanned<String>> {
    match key {
        ConfigKey::Tenant => &r.tenant,
        ConfigKey::Authority => &r.authority,
        ConfigKey::Issuer => &r.issuer,
        ConfigKey::Domain => &r.domain,
        ConfigKey::Audience => &r.audience,
        ConfigKey::StartUrl => &r.start_url,
        ConfigKey::Region => &r.region,
        ConfigKey::OidcEndpoint => &r.oidc_endpoint,
    }
}

/// What the dialects made of the endpoint settings already seen in this file: accounts at the
/// same provider (and tenant, issuer…) share their endpoints, so a file of thousands of accounts
/// builds each set once instead of parsing the same URLs for every account.
/// Keyed by the provider's name and the settings themselves (hashed, not formatted). The
/// accounts share those endpoints, and the empty overrides and default Drive settings.
#[derive(Default)]
pub(super) struct Seen {
    sets: std::collections::HashMap<SeenKey, SeenSet>,
    no_overrides: Arc<Overrides>,
    default_drive: Arc<DriveSettings>,
}

/// A provider's name and an account's endpoint settings.
type SeenKey = (&'static str, DialectSettings);

/// The endpoints those settings make, and the API base derived from them once asked for.
type SeenSet = (Option<Arc<Endpoints>>, Option<Option<String>>);

/// Generic over the provider: what differs (applicable keys, endpoints, scopes, defaults) comes
/// from the account's [`sidekey_flow::Dialect`].
pub(super) fn validate(
    name: &str,
    r: RawAccount,
    base: &Path,
    seen: &mut Seen,
) -> Result<Account, Located> {
    let provider = r.provider.as_ref().ok_or_else(|| {
        (
            None,
            format!("missing `provider` ({})", dialect::names_list()),
        )
    })?;
    let d = dialect::named(provider.get_ref()).ok_or_else(|| {
        (
            Some(provider.span()),
            format!(
                "unknown provider '{}' (use {})",
                provider.get_ref(),
                dialect::names_list()
            ),
        )
    })?;
    let kind = d.kind();
    let registered = match d.client() {
        ClientIdentity::Configured => None,
        ClientIdentity::Registered { identity } => Some(identity),
    };
    let client_id = match registered {
        // The provider registers its own public client (AWS RegisterClient, cached in the
        // vault); the account's tokens belong to the `identity` setting (AWS: the start URL),
        // which stands in as the id that a sign-in is checked against.
        Some(identity) => {
            if r.client_id.is_some() || r.client_secret.is_some() || r.client_secret_file.is_some()
            {
                return Err((
                    None,
                    format!(
                        "provider {} registers its own client: remove `client_id`/`client_secret`",
                        d.name()
                    ),
                ));
            }
            key_value(&r, identity)
                .as_ref()
                .map(|s| s.get_ref().trim().to_string())
                .unwrap_or_default()
        }
        None => r
            .client_id
            .clone()
            .filter(|c| !c.trim().is_empty())
            .ok_or((None, "missing `client_id`".to_string()))?,
    };
    if let Some(s) = &r.registration_scopes
        && registered.is_none()
    {
        return Err((
            Some(s.span()),
            format!(
                "`registration_scopes` does not apply to provider {}",
                d.name()
            ),
        ));
    }
    if registered.is_some()
        && let Some(s) = &r.scopes
    {
        return Err((
            Some(s.span()),
            format!(
                "provider {} takes `registration_scopes` (the scopes of its client registration), not `scopes`",
                d.name()
            ),
        ));
    }
    for key in ConfigKey::ALL {
        if let Some(f) = key_value(&r, key)
            && !d.config_keys().contains(&key)
        {
            return Err((
                Some(f.span()),
                format!("`{}` does not apply to provider {}", key.name(), d.name()),
            ));
        }
    }

    let client_secret = inline_or_file(
        &r.client_secret,
        &r.client_secret_file,
        base,
        "`client_secret`",
        "`client_secret_file`",
    )?;
    if let Some(why) = d.requires_client_secret()
        && client_secret.is_none()
    {
        return Err((None, why.into()));
    }

    let url = |f: &Option<Spanned<String>>| -> Result<Option<url::Url>, Located> {
        f.as_ref()
            .map(|s| endpoint_url(s.get_ref()).map_err(|e| (Some(s.span()), e)))
            .transpose()
    };
    let api_base = r.api_base.as_ref().map(|s| s.get_ref().clone());
    let youtube_api_base = services::youtube_api_base(d, &r.youtube_api_base)?;
    // The "who signed in" URL, where the provider has one (not the AWS access portal, whose
    // base is still checked like every endpoint: it gets the access token).
    let userinfo = match &r.api_base {
        Some(s) => d
            .userinfo_for_api_base(s.get_ref())
            .map_err(|e| (Some(s.span()), e))?,
        None => None,
    };
    let overrides = Overrides {
        device_authorization: url(&r.device_authorization_endpoint)?,
        token: url(&r.token_endpoint)?,
        revocation: url(&r.revocation_endpoint)?,
        userinfo,
        authorization: url(&r.authorization_endpoint)?,
    };
    let flow = match r.flow.as_ref() {
        None => SignInFlow::Device,
        Some(f) => match f.get_ref().trim() {
            "device" => SignInFlow::Device,
            "code" => SignInFlow::Code,
            other => {
                return Err((
                    Some(f.span()),
                    format!("flow '{other}' is not known: use \"device\" or \"code\""),
                ));
            }
        },
    };

    let scopes: Vec<String> = match r.scopes.as_ref().or(r.registration_scopes.as_ref()) {
        Some(s) => s.get_ref().clone(),
        None => d.default_scopes().iter().map(|s| s.to_string()).collect(),
    };
    if flow == SignInFlow::Code && !d.allows_code_flow() {
        return Err((
            r.flow.as_ref().map(|f| f.span()),
            format!("provider {} signs in with the device flow only", d.name()),
        ));
    }
    let scopes =
        normalize_for(kind, flow, scopes).map_err(|e| (r.scopes.as_ref().map(|s| s.span()), e))?;

    let raw = |f: &Option<Spanned<String>>| f.as_ref().map(|s| s.get_ref().clone());
    let settings = DialectSettings {
        tenant: raw(&r.tenant),
        authority: raw(&r.authority),
        issuer: raw(&r.issuer),
        domain: raw(&r.domain),
        start_url: raw(&r.start_url),
        region: raw(&r.region),
        oidc_endpoint: raw(&r.oidc_endpoint),
        device_authorization_endpoint: overrides.device_authorization.clone(),
        token_endpoint: overrides.token.clone(),
        authorization_endpoint: overrides.authorization.clone(),
    };
    let located = |e: dialect::SettingError| {
        (
            e.key
                .and_then(|k| key_value(&r, k).as_ref().map(|s| s.span())),
            e.message,
        )
    };
    // The API base as configured, else as the dialect derives it (Microsoft: the Graph of the
    // authority's cloud; an unknown cloud needs `api_base`). Sign-in's "who signed in" and the
    // `ms` operations both use this one value.
    let key = (d.name(), settings);
    // One look-up per account (the settings' hash is most of its cost).
    let (built, derived): (Option<Arc<Endpoints>>, _) = match seen.sets.get(&key) {
        Some((e, b)) => (e.clone(), b.clone()),
        None => {
            let e = d.endpoints(&key.1).map_err(located)?.map(Arc::new);
            seen.sets.insert(key.clone(), (e.clone(), None));
            (e, None)
        }
    };
    let api_base = match api_base {
        Some(b) => Some(b),
        None => match derived {
            Some(derived) => derived,
            None => {
                let derived = d.api_base_for(&key.1).map_err(located)?;
                if let Some(entry) = seen.sets.get_mut(&key) {
                    entry.1 = Some(derived.clone());
                }
                derived
            }
        },
    };
    let settings = key.1;
    // No endpoints without the network: discovered from the issuer at sign-in.
    let issuer = match built {
        Some(_) => None,
        None => settings.issuer.as_deref().map(|i| i.trim().to_string()),
    };
    let mut device_params = Vec::new();
    if let Some(a) = &r.audience {
        device_params.push(("audience".to_string(), a.get_ref().clone()));
    }
    device_params.extend(d.device_params(&settings));
    let mut token_env = d
        .default_token_env()
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>();
    for v in r.token_env.unwrap_or_default() {
        if v.is_empty()
            || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || v.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err((
                None,
                format!("token_env '{v}' is not a valid environment variable name"),
            ));
        }
        token_env.push(v);
    }
    let (git_hosts, git_username) = git_settings(d, &r.git_hosts, &r.git_username)?;
    let mut verification_hosts = r.verification_hosts.unwrap_or_default();
    verification_hosts.extend(d.verification_hosts(&settings));
    let drive = match r.drive {
        None => seen.default_drive.clone(),
        Some(drive) => Arc::new(DriveSettings::validate(d, drive, base)?),
    };
    let policy = policy::validate(d, kind, flow, r.policy)?;
    Ok(Account {
        name: name.to_string(),
        kind,
        client_id,
        client_secret,
        scopes,
        device_params,
        endpoints: match built {
            Some(e) if overrides != Overrides::default() => {
                Some(Arc::new(apply(Endpoints::clone(&e), &overrides)))
            }
            e => e,
        },
        issuer,
        overrides: if overrides == Overrides::default() {
            seen.no_overrides.clone()
        } else {
            Arc::new(overrides)
        },
        api_base,
        youtube_api_base,
        token_env,
        verification_hosts,
        git_hosts,
        git_username,
        policy,
        flow,
        drive,
    })
}

/// `git_hosts` and `git_username`, with the provider's defaults
/// ([`Dialect::default_git_hosts`], [`Dialect::default_git_username`]: GitHub's `github.com`
/// and `x-access-token`; no host and `oauth2` elsewhere).
fn git_settings(
    d: &dyn Dialect,
    git_hosts: &Option<Spanned<Vec<String>>>,
    git_username: &Option<Spanned<String>>,
) -> Result<(Vec<String>, String), Located> {
    let hosts = match git_hosts {
        None => d
            .default_git_hosts()
            .iter()
            .map(|h| h.to_string())
            .collect(),
        Some(list) => {
            let mut out = Vec::new();
            for h in list.get_ref() {
                let h = h.trim().to_ascii_lowercase();
                if !valid_git_host(&h) {
                    return Err((
                        Some(list.span()),
                        format!(
                            "git_hosts: '{h}' is not a host name or host:port (no scheme, user or path), e.g. \"github.com\" or \"git.example.com:8443\""
                        ),
                    ));
                }
                out.push(h);
            }
            out
        }
    };
    let username = match git_username {
        Some(u) => {
            let v = u.get_ref().trim();
            if v.is_empty() || v.len() > 100 || v.chars().any(|c| c.is_control() || c == '=') {
                return Err((
                    Some(u.span()),
                    "git_username must be one line of at most 100 characters, without '='".into(),
                ));
            }
            v.to_string()
        }
        None => d.default_git_username().to_string(),
    };
    Ok((hosts, username))
}

/// `host` or `host:port` as git's credential protocol names it (`host=` line).
pub fn valid_git_host(h: &str) -> bool {
    let (name, port) = match h.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (h, None),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && !name.starts_with(['.', '-']);
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok());
    name_ok && port_ok
}
