//! The config file: one TOML document naming the accounts and how to reach each provider.
//!
//! Mistakes are reported as `PATH line N: what is wrong` (exit 2): an unknown key, an unknown
//! provider, a missing `client_id`, a key that belongs to another provider, a scope Google refuses.
//! Parsing checks everything that can be checked without the network, so `sidekey login` fails
//! before the person is sent a code they cannot use.

use crate::error::Failure;
use serde::Deserialize;
use sidekey_flow::dialect::{
    self, ClientIdentity, ConfigKey, Dialect, DialectSettings, ServiceKey,
};
use sidekey_flow::provider::{Endpoints, ProviderKind, endpoint_url};
use sidekey_flow::{Http, Provider, Secret};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    refresh_margin: Option<Spanned<toml::Value>>,
    http_timeout: Option<Spanned<toml::Value>>,
    timezone: Option<Spanned<String>>,
    #[serde(default)]
    vault: RawVault,
    #[serde(default)]
    notify: RawNotify,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    accounts: BTreeMap<String, Spanned<RawAccount>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawVault {
    key_file: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    telegram: Option<RawTelegram>,
    webhook: Option<RawWebhook>,
    ntfy: Option<RawNtfy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTelegram {
    enabled: Option<bool>,
    bot_token: Option<String>,
    bot_token_file: Option<String>,
    chat_id: Option<toml::Value>,
    api_base: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    url: Spanned<String>,
    bearer_token_file: Option<String>,
    bearer_token_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNtfy {
    server: Option<Spanned<String>>,
    topic: Spanned<String>,
    token_file: Option<String>,
}

/// Where login codes and outcomes are sent besides stdout. Secrets are read at load time.
#[derive(Debug, Default)]
pub struct Notify {
    pub telegram: Option<Telegram>,
    pub webhook: Option<Webhook>,
    pub ntfy: Option<Ntfy>,
}

#[derive(Debug)]
pub struct Telegram {
    pub bot_token: Secret,
    pub chat_id: String,
    pub api_base: String,
}

#[derive(Debug)]
pub struct Webhook {
    pub url: String,
    pub bearer: Option<Secret>,
}

#[derive(Debug)]
pub struct Ntfy {
    pub server: String,
    pub topic: String,
    pub token: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
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
    policy: Option<Spanned<RawPolicy>>,
    /// `[accounts.NAME.drive]`: Google Drive settings (inbox, memory, Picker client).
    drive: Option<Spanned<RawDrive>>,
}

/// `[accounts.NAME.drive]` (Google accounts): see [`DriveSettings`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDrive {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    allow_token_export: Option<bool>,
    allowed_scopes: Option<Vec<String>>,
    allow: Option<Vec<Spanned<String>>>,
    aws_roles: Option<Vec<Spanned<String>>>,
}

/// `[server]`: the daemon.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    api_key_file: Option<String>,
    socket: Option<String>,
    listen: Option<String>,
}

#[derive(Debug, Default, Clone)]
pub struct Server {
    pub api_key_file: Option<PathBuf>,
    pub socket: Option<PathBuf>,
    pub listen: Option<String>,
}

/// A validated account.
#[derive(Clone, Debug)]
pub struct Account {
    pub name: String,
    pub kind: ProviderKind,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub scopes: Vec<String>,
    pub device_params: Vec<(String, String)>,
    /// Endpoints known without the network (everything but `oidc` discovery).
    pub endpoints: Option<Endpoints>,
    /// For `oidc`: the issuer to discover, plus any explicit overrides.
    pub issuer: Option<String>,
    pub overrides: Overrides,
    pub api_base: Option<String>,
    /// Google: the YouTube Data API root, when not the default (tests, proxies).
    pub youtube_api_base: Option<String>,
    pub token_env: Vec<String>,
    /// Extra hosts allowed to serve the verification page.
    pub verification_hosts: Vec<String>,
    /// The git hosts (`host` or `host:port`, lowercase) whose HTTPS credentials
    /// `sidekey git-credential` answers with this account's token (GitHub: `github.com`).
    pub git_hosts: Vec<String>,
    /// The user name git sends with the token (GitHub: `x-access-token`).
    pub git_username: String,
    pub policy: crate::policy::Policy,
    /// How this account signs in (`flow = "device" | "code"`).
    pub flow: SignInFlow,
    /// Google Drive settings (`[accounts.NAME.drive]`; defaults when absent).
    pub drive: DriveSettings,
}

/// `[accounts.NAME.drive]`: where the agent's Google inbox and memory live, and the Desktop
/// client that opens Google's Picker (docs/google.md F).
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

/// The sign-in method of an account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SignInFlow {
    /// RFC 8628 device authorization grant (the default).
    #[default]
    Device,
    /// Authorization code + PKCE with a loopback redirect or a pasted-back URL.
    Code,
}

impl Account {
    /// The scopes as this account's sign-in method requests them.
    pub fn normalize_scopes(&self, scopes: Vec<String>) -> Result<Vec<String>, String> {
        normalize_for(self.kind, self.flow, scopes)
    }
}

fn normalize_for(
    kind: ProviderKind,
    flow: SignInFlow,
    scopes: Vec<String>,
) -> Result<Vec<String>, String> {
    match flow {
        SignInFlow::Device => kind.dialect().normalize_scopes(scopes),
        SignInFlow::Code => kind.dialect().normalize_code_scopes(scopes),
    }
}

#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub device_authorization: Option<url::Url>,
    pub token: Option<url::Url>,
    pub revocation: Option<url::Url>,
    pub userinfo: Option<url::Url>,
    pub authorization: Option<url::Url>,
}

#[derive(Debug)]
pub struct Config {
    pub path: PathBuf,
    pub exists: bool,
    pub refresh_margin: Duration,
    pub http_timeout: Duration,
    /// IANA zone for times shown to the person (default: the machine's).
    pub timezone: Option<String>,
    pub key_file: Option<PathBuf>,
    pub notify: Notify,
    pub server: Server,
    pub accounts: BTreeMap<String, Account>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, Failure> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config {
                path: path.to_path_buf(),
                exists: false,
                ..Config::parse(path, "")?
            }),
            Err(e) => Err(Failure::config(format!(
                "cannot read config {}: {e}",
                path.display()
            ))),
        }
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config, Failure> {
        let at = |span: Option<std::ops::Range<usize>>, msg: &str| {
            let line = span
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .map(|l| format!(" line {l}"))
                .unwrap_or_default();
            Failure::config(format!("{}{line}: {msg}", path.display()))
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let msg = redact_quoted(&e.message().trim().replace('\n', " "));
            at(e.span(), &msg)
        })?;
        let duration = |v: &Option<Spanned<toml::Value>>, default: u64, what: &str| {
            let Some(v) = v else {
                return Ok(Duration::from_secs(default));
            };
            parse_duration(v.get_ref()).ok_or_else(|| {
                at(
                    Some(v.span()),
                    &format!("{what} must be seconds or a duration like \"5m\""),
                )
            })
        };
        let refresh_margin = duration(&raw.refresh_margin, 300, "refresh_margin")?;
        let http_timeout = duration(&raw.http_timeout, 30, "http_timeout")?;
        if http_timeout.is_zero() {
            return Err(at(
                raw.http_timeout.map(|s| s.span()),
                "http_timeout must be above 0",
            ));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let key_file = raw.vault.key_file.map(|k| base.join(k));
        let timezone = match raw.timezone {
            Some(t) => {
                if jiff::tz::TimeZone::get(t.get_ref()).is_err() {
                    return Err(at(
                        Some(t.span()),
                        &format!(
                            "unknown time zone '{}' (use an IANA name like Europe/Berlin)",
                            t.get_ref()
                        ),
                    ));
                }
                Some(t.into_inner())
            }
            None => None,
        };
        let notify = notify(raw.notify, base).map_err(|(s, m)| at(s, &m))?;
        let server = Server {
            api_key_file: raw.server.api_key_file.map(|f| base.join(f)),
            socket: raw.server.socket.map(PathBuf::from),
            listen: raw.server.listen,
        };
        let mut accounts = BTreeMap::new();
        for (name, spanned) in raw.accounts {
            let span = spanned.span();
            if let Err(e) = sidekey_vault::check_name(&name) {
                return Err(at(Some(span), &e.to_string()));
            }
            let account = validate(&name, spanned.into_inner(), base).map_err(|(s, m)| {
                at(s.or(Some(span.clone())), &format!("account '{name}': {m}"))
            })?;
            accounts.insert(name, account);
        }
        Ok(Config {
            path: path.to_path_buf(),
            exists: true,
            refresh_margin,
            http_timeout,
            timezone,
            key_file,
            notify,
            server,
            accounts,
        })
    }

    pub fn account(&self, name: &str) -> Result<&Account, Failure> {
        sidekey_vault::check_name(name).map_err(|e| Failure::usage(e.to_string()))?;
        self.accounts.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.accounts.keys().map(String::as_str).collect();
            Failure::config(if !self.exists {
                format!(
                    "no config file at {} (set SIDEKEY_CONFIG or create it; see README)",
                    self.path.display()
                )
            } else if known.is_empty() {
                format!("{} defines no accounts", self.path.display())
            } else {
                format!(
                    "no account '{name}' in {} (known: {})",
                    self.path.display(),
                    known.join(", ")
                )
            })
        })
    }
}

/// Serde's type errors quote the offending value (`invalid type: string "..."`); that value could
/// be a secret typed into the wrong key, so quoted text is dropped from parse errors.
fn redact_quoted(msg: &str) -> String {
    // `invalid type: integer `123`, expected a string`: keep only what was expected.
    if let Some(at) = msg
        .find("invalid type")
        .or_else(|| msg.find("invalid value"))
    {
        let expected = msg[at..]
            .find(", expected ")
            .map(|e| msg[at + e + 2..].to_string())
            .unwrap_or_else(|| "a different kind of value".into());
        return format!("{}this value has the wrong type ({expected})", &msg[..at]);
    }
    let mut out = String::new();
    let mut inside = false;
    for c in msg.chars() {
        if c == '"' {
            if !inside {
                out.push_str("\"…\"");
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

pub fn parse_duration(v: &toml::Value) -> Option<Duration> {
    match v {
        toml::Value::Integer(i) if *i >= 0 => Some(Duration::from_secs(*i as u64)),
        toml::Value::String(s) => {
            let s = s.trim();
            if let Ok(n) = s.parse::<u64>() {
                return Some(Duration::from_secs(n));
            }
            let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
            let n: u64 = num.parse().ok()?;
            let mult = match unit.trim() {
                "s" | "sec" | "secs" | "seconds" => 1,
                "m" | "min" | "mins" | "minutes" => 60,
                "h" | "hour" | "hours" => 3600,
                _ => return None,
            };
            Some(Duration::from_secs(n.checked_mul(mult)?))
        }
        _ => None,
    }
}

type Located = (Option<std::ops::Range<usize>>, String);

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

/// Generic over the provider: what differs (applicable keys, endpoints, scopes, defaults) comes
/// from the account's [`sidekey_flow::Dialect`].
fn validate(name: &str, r: RawAccount, base: &Path) -> Result<Account, Located> {
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
    let youtube_api_base = match &r.youtube_api_base {
        Some(s) => {
            service_key_applies(d, ServiceKey::YouTube, s.span())?;
            Some(
                endpoint_url(s.get_ref())
                    .map_err(|e| (Some(s.span()), e))?
                    .to_string(),
            )
        }
        None => None,
    };
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
    let built: Option<Endpoints> = d.endpoints(&settings).map_err(located)?;
    // The API base as configured, else as the dialect derives it (Microsoft: the Graph of the
    // authority's cloud; an unknown cloud needs `api_base`). Sign-in's "who signed in" and the
    // `ms` operations both use this one value.
    let api_base = match api_base {
        Some(b) => Some(b),
        None => d.api_base_for(&settings).map_err(located)?,
    };
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
        None => DriveSettings::default(),
        Some(drive) => {
            service_key_applies(d, ServiceKey::Drive, drive.span())?;
            drive_settings(drive, base)?
        }
    };
    let policy = match r.policy {
        None => crate::policy::Policy::default(),
        Some(p) => {
            let span = p.span();
            let p = p.into_inner();
            let mut allow = Vec::new();
            for op in p.allow.unwrap_or_default() {
                match crate::policy::kind_of(op.get_ref()) {
                    Some(crate::policy::Kind::Write) => allow.push(op.get_ref().clone()),
                    Some(kind) => {
                        let rule = match (kind, op.get_ref().as_str()) {
                            (crate::policy::Kind::Export, "aws.credentials") => {
                                "is governed by aws_roles (ACCOUNT_ID/ROLE_NAME pairs)"
                            }
                            (crate::policy::Kind::Export, _) => "is governed by allow_token_export",
                            _ => "needs no allowing (read-only)",
                        };
                        return Err((
                            Some(op.span()),
                            format!("policy allow: '{}' {rule}", op.get_ref()),
                        ));
                    }
                    None => {
                        return Err((
                            Some(op.span()),
                            format!(
                                "policy allow: unknown operation '{}' (known: {})",
                                op.get_ref(),
                                crate::policy::known().join(", ")
                            ),
                        ));
                    }
                }
            }
            // The ceiling is written like `scopes` (short Google names, Microsoft's
            // offline_access implied) and compared with them normalised the same way.
            let allowed_scopes = p
                .allowed_scopes
                .map(|list| normalize_for(kind, flow, list).map_err(|e| (Some(span.clone()), e)))
                .transpose()?;
            let mut aws_roles = Vec::new();
            for pair in p.aws_roles.unwrap_or_default() {
                if !d.service_keys().contains(&ServiceKey::AwsRoles) {
                    return Err((
                        Some(pair.span()),
                        format!("policy aws_roles does not apply to provider {}", d.name()),
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
            if p.allow_token_export == Some(true)
                && let Some(why) = d.refuses_token_export()
            {
                return Err((Some(span.clone()), why.into()));
            }
            crate::policy::Policy {
                allow_token_export: p.allow_token_export.unwrap_or(false),
                allowed_scopes,
                allow,
                aws_roles,
            }
        }
    };
    Ok(Account {
        name: name.to_string(),
        kind,
        client_id,
        client_secret,
        scopes,
        device_params,
        endpoints: built.map(|e| apply(e, &overrides)),
        issuer,
        overrides,
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

/// A service setting on an account whose provider does not offer that service:
/// "`drive` applies to Google accounts only".
fn service_key_applies(
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

/// A secret given inline or (better) in a file named relative to the config; not both.
fn inline_or_file(
    inline: &Option<String>,
    file: &Option<String>,
    base: &Path,
    inline_key: &str,
    file_key: &str,
) -> Result<Option<Secret>, Located> {
    match (inline, file) {
        (Some(_), Some(_)) => Err((None, format!("set {inline_key} or {file_key}, not both"))),
        (Some(s), None) => Ok(Some(Secret::new(s.trim()))),
        (None, Some(f)) => read_secret(base, f, file_key).map(Some),
        (None, None) => Ok(None),
    }
}

fn read_secret(base: &Path, file: &str, what: &str) -> Result<Secret, Located> {
    let p = base.join(file);
    let text = std::fs::read_to_string(&p)
        .map_err(|e| (None, format!("cannot read {what} {}: {e}", p.display())))?;
    let t = text.trim();
    if t.is_empty() {
        return Err((None, format!("{what} {} is empty", p.display())));
    }
    Ok(Secret::new(t))
}

/// `[notify.*]`. Telegram also switches on with `TELEGRAM_BOT_TOKEN` + `TELEGRAM_CHAT_ID` in the
/// environment (as in the seed), unless `[notify.telegram] enabled = false`.
fn notify(raw: RawNotify, base: &Path) -> Result<Notify, Located> {
    let mut out = Notify::default();
    let tg_section = raw.telegram.is_some();
    let tg = raw.telegram.unwrap_or(RawTelegram {
        enabled: None,
        bot_token: None,
        bot_token_file: None,
        chat_id: None,
        api_base: None,
    });
    if tg.enabled != Some(false) {
        let token = match inline_or_file(
            &tg.bot_token,
            &tg.bot_token_file,
            base,
            "[notify.telegram] bot_token",
            "[notify.telegram] bot_token_file",
        )? {
            Some(t) => Some(t),
            None => crate::env::text(crate::env::TELEGRAM_BOT_TOKEN).map(Secret::new),
        };
        let chat = match &tg.chat_id {
            Some(toml::Value::String(s)) => Some(s.trim().to_string()),
            Some(toml::Value::Integer(i)) => Some(i.to_string()),
            Some(_) => {
                return Err((
                    None,
                    "[notify.telegram] chat_id must be a number or a string".into(),
                ));
            }
            None => crate::env::text(crate::env::TELEGRAM_CHAT_ID),
        };
        match (token, chat) {
            (Some(bot_token), Some(chat_id)) if !chat_id.is_empty() => {
                let api_base = match &tg.api_base {
                    Some(a) => endpoint_url(a.get_ref())
                        .map_err(|e| (Some(a.span()), e))?
                        .to_string()
                        .trim_end_matches('/')
                        .to_string(),
                    None => "https://api.telegram.org".into(),
                };
                out.telegram = Some(Telegram {
                    bot_token,
                    chat_id,
                    api_base,
                });
            }
            (None, _) if tg_section => {
                return Err((None, "[notify.telegram] needs a bot token: bot_token_file, or TELEGRAM_BOT_TOKEN in the environment".into()));
            }
            (_, None) if tg_section => {
                return Err((
                    None,
                    "[notify.telegram] needs chat_id, or TELEGRAM_CHAT_ID in the environment"
                        .into(),
                ));
            }
            _ => {}
        }
    }
    if let Some(w) = raw.webhook {
        let url = endpoint_url(w.url.get_ref()).map_err(|e| (Some(w.url.span()), e))?;
        let bearer = match (&w.bearer_token_file, &w.bearer_token_env) {
            (Some(_), Some(_)) => {
                return Err((
                    None,
                    "[notify.webhook]: set bearer_token_file or bearer_token_env, not both".into(),
                ));
            }
            (Some(f), None) => Some(read_secret(base, f, "[notify.webhook] bearer_token_file")?),
            (None, Some(var)) => Some(Secret::new(crate::env::text(var).ok_or_else(|| {
                (
                    None,
                    format!("[notify.webhook] bearer_token_env: {var} is not set"),
                )
            })?)),
            (None, None) => None,
        };
        out.webhook = Some(Webhook {
            url: url.to_string(),
            bearer,
        });
    }
    if let Some(n) = raw.ntfy {
        let server = match &n.server {
            Some(s) => endpoint_url(s.get_ref())
                .map_err(|e| (Some(s.span()), e))?
                .to_string(),
            None => "https://ntfy.sh".into(),
        };
        let topic = n.topic.get_ref().trim().to_string();
        if topic.is_empty()
            || !topic
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err((
                Some(n.topic.span()),
                "[notify.ntfy] topic must be letters, digits, - and _".into(),
            ));
        }
        let token = n
            .token_file
            .as_deref()
            .map(|f| read_secret(base, f, "[notify.ntfy] token_file"))
            .transpose()?;
        out.ntfy = Some(Ntfy {
            server: server.trim_end_matches('/').to_string(),
            topic,
            token,
        });
    }
    Ok(out)
}

fn apply(mut e: Endpoints, o: &Overrides) -> Endpoints {
    if let Some(u) = &o.device_authorization {
        e.device_authorization = u.clone();
    }
    if let Some(u) = &o.token {
        e.token = u.clone();
    }
    if let Some(u) = &o.revocation {
        e.revocation = Some(u.clone());
    }
    if let Some(u) = &o.userinfo {
        e.userinfo = Some(u.clone());
    }
    if let Some(u) = &o.authorization {
        e.authorization = Some(u.clone());
    }
    e
}

impl Account {
    /// The full provider description; `oidc` accounts run discovery here (network).
    pub async fn resolve(&self, http: &Http) -> Result<Provider, Failure> {
        let endpoints = match (&self.endpoints, &self.issuer) {
            (Some(e), _) => e.clone(),
            (None, Some(issuer)) => {
                match (&self.overrides.device_authorization, &self.overrides.token) {
                    (Some(d), Some(t)) => apply(
                        Endpoints {
                            device_authorization: d.clone(),
                            token: t.clone(),
                            revocation: None,
                            userinfo: None,
                            authorization: None,
                        },
                        &self.overrides,
                    ),
                    // Each configured endpoint overrides its discovered one; discovery fills
                    // in only the rest (a configured one may be missing from the document).
                    (device, token) => apply(
                        sidekey_flow::client::discover_with(
                            http,
                            issuer,
                            device.as_ref(),
                            token.as_ref(),
                        )
                        .await
                        .map_err(Failure::from_flow)?,
                        &self.overrides,
                    ),
                }
            }
            (None, None) => return Err(Failure::internal("account without endpoints")),
        };
        Ok(Provider {
            kind: self.kind,
            endpoints,
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            scopes: self.scopes.clone(),
            device_params: self.device_params.clone(),
            api_base: self.api_base.clone(),
        })
    }

    /// The provider for refresh and revocation, using the endpoints stored at sign-in when the
    /// config cannot name them without discovery.
    pub fn provider_with(
        &self,
        token: &str,
        revocation: Option<&str>,
    ) -> Result<Provider, Failure> {
        let endpoints = match &self.endpoints {
            Some(e) => e.clone(),
            None => {
                let t = endpoint_url(token).map_err(Failure::config)?;
                apply(
                    Endpoints {
                        device_authorization: t.clone(),
                        token: t,
                        revocation: revocation.and_then(|r| endpoint_url(r).ok()),
                        userinfo: None,
                        authorization: None,
                    },
                    &Overrides {
                        device_authorization: None,
                        ..self.overrides.clone()
                    },
                )
            }
        };
        Ok(Provider {
            kind: self.kind,
            endpoints,
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            scopes: self.scopes.clone(),
            device_params: self.device_params.clone(),
            api_base: self.api_base.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("c.toml"), text).map_err(|f| f.message)
    }

    #[test]
    fn minimal_accounts() {
        let c = parse(
            r#"
refresh_margin = "10m"
[accounts.work]
provider = "microsoft"
client_id = "abc"
tenant = "organizations"

[accounts.gh]
provider = "github"
client_id = "Iv1.x"

[accounts.g]
provider = "google"
client_id = "x.apps.googleusercontent.com"
client_secret = "s"
scopes = ["openid", "drive.file"]
"#,
        )
        .unwrap();
        assert_eq!(c.refresh_margin, Duration::from_secs(600));
        let w = &c.accounts["work"];
        assert_eq!(
            w.endpoints.as_ref().unwrap().device_authorization.as_str(),
            "https://login.microsoftonline.com/organizations/oauth2/v2.0/devicecode"
        );
        assert!(w.scopes.contains(&"offline_access".to_string()));
        assert_eq!(
            c.accounts["g"].scopes[1],
            "https://www.googleapis.com/auth/drive.file"
        );
        assert_eq!(c.accounts["gh"].token_env, vec!["GH_TOKEN", "GITHUB_TOKEN"]);
    }

    #[test]
    fn git_hosts_default_per_provider_and_are_checked() {
        let c = parse(
            r#"
[accounts.gh]
provider = "github"
client_id = "Iv1.x"
[accounts.ghe]
provider = "github"
client_id = "Iv1.y"
git_hosts = ["Git.Corp.Example:8443"]
git_username = "bot"
[accounts.o]
provider = "oidc"
client_id = "i"
issuer = "https://idp.example.com"
"#,
        )
        .unwrap();
        assert_eq!(c.accounts["gh"].git_hosts, ["github.com"]);
        assert_eq!(c.accounts["gh"].git_username, "x-access-token");
        assert_eq!(c.accounts["ghe"].git_hosts, ["git.corp.example:8443"]);
        assert_eq!(c.accounts["ghe"].git_username, "bot");
        assert!(c.accounts["o"].git_hosts.is_empty());
        assert_eq!(c.accounts["o"].git_username, "oauth2");
        for bad in [
            "https://github.com",
            "user@github.com",
            "github.com/org",
            "github.com:99999",
            "",
        ] {
            let e = parse(&format!(
                "[accounts.g]\nprovider = \"github\"\nclient_id = \"x\"\ngit_hosts = [\"{bad}\"]\n"
            ))
            .unwrap_err();
            assert!(
                e.contains("git_hosts") && e.contains("line 4"),
                "{bad}: {e}"
            );
        }
        let e = parse(
            "[accounts.g]\nprovider = \"github\"\nclient_id = \"x\"\ngit_username = \"a=b\"\n",
        )
        .unwrap_err();
        assert!(e.contains("git_username"), "{e}");
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (
                "[accounts.a]\nprovider = \"myspace\"\nclient_id = \"x\"\n",
                "line 2",
                "unknown provider 'myspace'",
            ),
            (
                "[accounts.a]\nprovider = \"github\"\n",
                "line 1",
                "missing `client_id`",
            ),
            (
                "[accounts.a]\nprovider = \"github\"\nclient_id = \"x\"\nclinet_secret = \"y\"\n",
                "line 4",
                "unknown field `clinet_secret`",
            ),
            (
                "[accounts.a]\nprovider = \"google\"\nclient_id = \"x\"\nclient_secret = \"s\"\nscopes = [\"drive\"]\n",
                "line 5",
                "does not allow the scope drive",
            ),
            (
                "[accounts.a]\nprovider = \"google\"\nclient_id = \"x\"\n",
                "line 1",
                "client secret",
            ),
            (
                "[accounts.a]\nprovider = \"github\"\nclient_id = \"x\"\ntenant = \"common\"\n",
                "line 4",
                "`tenant` does not apply",
            ),
            (
                "[accounts.a]\nprovider = \"okta\"\nclient_id = \"x\"\n",
                "line 1",
                "needs `issuer`",
            ),
            (
                "[accounts.a]\nprovider = \"oidc\"\nclient_id = \"x\"\nissuer = \"http://idp.example.com\"\n",
                "line 4",
                "plain http",
            ),
            (
                "[accounts.A]\nprovider = \"github\"\nclient_id = \"x\"\n",
                "line 1",
                "invalid account name",
            ),
            ("refresh_margin = \"soon\"\n", "line 1", "refresh_margin"),
            ("[accounts.a\n", "line 1", ""),
        ];
        for (text, line, msg) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.starts_with(&format!("c.toml {line}:")), "{err}");
            assert!(err.contains(msg), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    /// Issue 10 item 11: a URL that is refused is shown without its credentials (userinfo, a
    /// token in the path or query): its origin at most.
    #[test]
    fn config_errors_never_print_credentials_in_urls() {
        let cases = [
            "[notify.webhook]\nurl = \"http://hooks.example/services/T000/B000/XXXXsecretXXXX\"\n",
            "[notify.webhook]\nurl = \"ftp://hooks.example/services/T000/B000/XXXXsecretXXXX\"\n",
            "[notify.webhook]\nurl = \"http://hooks.example/hook?token=XXXXsecretXXXX\"\n",
            "[notify.ntfy]\nserver = \"http://bob:XXXXsecretXXXX@ntfy.example\"\ntopic = \"t\"\n",
            "[accounts.a]\nprovider = \"oidc\"\nclient_id = \"x\"\nissuer = \"http://bob:XXXXsecretXXXX@idp.example.com\"\n",
            "[accounts.a]\nprovider = \"generic\"\nclient_id = \"x\"\ndevice_authorization_endpoint = \"https://bob:XXXXsecretXXXX@[idp/d\"\ntoken_endpoint = \"https://idp.example.com/t\"\n",
            "[accounts.a]\nprovider = \"generic\"\nclient_id = \"x\"\ndevice_authorization_endpoint = \"https://idp.example.com/d\"\ntoken_endpoint = \"gopher://bob:XXXXsecretXXXX@idp.example.com/t\"\n",
        ];
        for text in cases {
            let err = parse(text).unwrap_err();
            assert!(!err.contains("XXXXsecretXXXX"), "{err}");
            assert!(!err.contains("bob"), "{err}");
            assert!(err.contains("c.toml line"), "{err}");
        }
        // The host is still named, so the person can find the line.
        let err = parse(cases[0]).unwrap_err();
        assert!(err.contains("http://hooks.example"), "{err}");
        assert!(err.contains("plain http"), "{err}");
    }

    #[test]
    fn dialect_settings_errors_point_at_their_key() {
        let cases = [
            (
                "[accounts.a]\nprovider = \"microsoft\"\nclient_id = \"x\"\ntenant = \"a/b\"\n",
                "line 4",
                "invalid tenant 'a/b'",
            ),
            (
                "[accounts.a]\nprovider = \"okta\"\nclient_id = \"x\"\ndomain = \"d.example\"\n",
                "line 4",
                "`domain` does not apply to provider okta",
            ),
            (
                "[accounts.a]\nprovider = \"google\"\nclient_id = \"x\"\nclient_secret = \"s\"\naudience = \"api\"\n",
                "line 5",
                "`audience` does not apply to provider google",
            ),
            (
                "[accounts.a]\nprovider = \"auth0\"\nclient_id = \"x\"\ndomain = \"http://evil.example\"\n",
                "line 4",
                "plain http",
            ),
            (
                "[accounts.a]\nprovider = \"generic\"\nclient_id = \"x\"\ntoken_endpoint = \"https://idp.example.com/t\"\n",
                "line 1",
                "provider generic needs `device_authorization_endpoint` and `token_endpoint`",
            ),
        ];
        for (text, line, msg) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.starts_with(&format!("c.toml {line}:")), "{err}");
            assert!(err.contains(msg), "{err}");
        }
    }

    #[test]
    fn oidc_discovers_and_api_base_reaches_the_provider() {
        let c = parse(
            "[accounts.o]\nprovider = \"oidc\"\nclient_id = \"x\"\nissuer = \" https://idp.example.com \"\naudience = \"api\"\n\n[accounts.gh]\nprovider = \"github\"\nclient_id = \"x\"\napi_base = \"https://ghe.example.com/api/v3\"\n",
        )
        .unwrap();
        let o = &c.accounts["o"];
        assert!(o.endpoints.is_none());
        assert_eq!(o.issuer.as_deref(), Some("https://idp.example.com"));
        assert_eq!(o.device_params, [("audience".into(), "api".into())]);
        assert_eq!(o.scopes, ["openid", "profile", "email", "offline_access"]);
        let gh = &c.accounts["gh"];
        let p = gh
            .provider_with("https://github.com/login/oauth/access_token", None)
            .unwrap();
        assert_eq!(
            p.api_base.as_deref(),
            Some("https://ghe.example.com/api/v3")
        );
        assert_eq!(
            p.endpoints.userinfo.unwrap().as_str(),
            "https://ghe.example.com/api/v3/user"
        );
        assert_eq!(gh.scopes, ["read:user"]);
    }

    /// The Microsoft Graph root follows the authority's cloud (learn.microsoft.com/graph/deployments;
    /// docs/real-services-review.md, mismatch 1): a token from a national cloud is only good for
    /// that cloud's Graph, both for `ms` calls and for "who signed in" at sign-in.
    #[test]
    fn microsoft_graph_base_follows_the_cloud() {
        let cases = [
            (
                "tenant = \"organizations\"",
                "https://graph.microsoft.com/v1.0",
            ),
            ("", "https://graph.microsoft.com/v1.0"),
            (
                "authority = \"https://login.microsoftonline.com/contoso.onmicrosoft.com\"",
                "https://graph.microsoft.com/v1.0",
            ),
            (
                "authority = \"https://login.microsoftonline.us/contoso.onmicrosoft.us\"",
                "https://graph.microsoft.us/v1.0",
            ),
            (
                "authority = \"https://login.chinacloudapi.cn/contoso.partner.onmschina.cn/\"",
                "https://microsoftgraph.chinacloudapi.cn/v1.0",
            ),
            (
                "authority = \"https://login.partner.microsoftonline.cn/common\"",
                "https://microsoftgraph.chinacloudapi.cn/v1.0",
            ),
            // DoD shares the US Gov login host: its Graph must be named explicitly.
            (
                "authority = \"https://login.microsoftonline.us/dod-tenant\"\napi_base = \"https://dod-graph.microsoft.us/v1.0\"",
                "https://dod-graph.microsoft.us/v1.0",
            ),
        ];
        for (extra, graph) in cases {
            let c = parse(&format!(
                "[accounts.w]\nprovider = \"microsoft\"\nclient_id = \"x\"\n{extra}\n"
            ))
            .unwrap_or_else(|e| panic!("{extra}: {e}"));
            let w = &c.accounts["w"];
            assert_eq!(w.api_base.as_deref(), Some(graph), "{extra}");
            assert_eq!(
                w.endpoints
                    .as_ref()
                    .unwrap()
                    .userinfo
                    .as_ref()
                    .unwrap()
                    .as_str(),
                format!("{graph}/me"),
                "{extra}"
            );
            let p = w
                .provider_with("https://login.example.invalid/token", None)
                .unwrap();
            assert_eq!(p.api_base.as_deref(), Some(graph), "{extra}");
        }
    }

    #[test]
    fn an_unknown_microsoft_cloud_needs_api_base() {
        let err = parse(
            "[accounts.w]\nprovider = \"microsoft\"\nclient_id = \"x\"\nauthority = \"https://login.example.com/t\"\n",
        )
        .unwrap_err();
        assert!(err.starts_with("c.toml line 4:"), "{err}");
        assert!(err.contains("`api_base`"), "{err}");
        assert!(err.contains("login.example.com"), "{err}");
        let c = parse(
            "[accounts.w]\nprovider = \"microsoft\"\nclient_id = \"x\"\nauthority = \"https://login.example.com/t\"\napi_base = \"https://graph.example.com/v1.0/\"\n",
        )
        .unwrap();
        assert_eq!(
            c.accounts["w"]
                .endpoints
                .as_ref()
                .unwrap()
                .userinfo
                .as_ref()
                .unwrap()
                .as_str(),
            "https://graph.example.com/v1.0/me"
        );
    }

    #[test]
    fn values_of_the_wrong_type_are_not_quoted() {
        for text in [
            "[accounts.a]\nprovider = \"github\"\nclient_id = \"x\"\nclient_secret = 987654321\n",
            "[accounts.a]\nprovider = \"github\"\nclient_id = \"x\"\nscopes = \"s3cr\\\"et-value\"\n",
        ] {
            let err = parse(text).unwrap_err();
            assert!(
                !err.contains("987654321") && !err.contains("et-value"),
                "{err}"
            );
            assert!(err.contains("line 4"), "{err}");
        }
    }

    #[test]
    fn secret_not_in_errors() {
        let err = parse("[accounts.a]\nprovider = \"github\"\nclient_id = \"x\"\nclient_secret = \"hunter2-secret\"\nnope = 1\n").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
