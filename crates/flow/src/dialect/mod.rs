//! One place per provider: everything sidekey knows about an identity provider lives in one file.
//!
//! Providers differ in small ways that matter: Google wants its client secret on polls but not at
//! the device endpoint and allows only a handful of scopes; Microsoft issues no refresh token
//! without `offline_access` and wants the scope again on refresh; GitHub has no RFC 7009
//! endpoint and revokes through its REST API. These quirks used to be spread over eight files in
//! three crates, so adding a provider meant finding all of them, and a rule such as Microsoft's
//! `offline_access` was written twice.
//!
//! Now each provider is a unit struct implementing [`Dialect`] in its own file (`microsoft.rs`,
//! `google.rs`, …) with its tests beside it, and [`ALL`] lists them. The flow client, the config
//! validation, sign-in, refresh and logout ask the dialect instead of matching on
//! [`ProviderKind`]: how the client is had ([`ClientIdentity`]), which flows, device parameters
//! and service settings apply, who signed in when the provider does not say, what a logout does
//! ([`Logout`]), git's defaults. A method with a
//! default is the standard (RFC) behaviour; a dialect overrides only where its provider deviates,
//! so each file reads as the list of that provider's quirks.
//!
//! Adding a provider = one `ProviderKind` variant, one file here with its tests, one row in
//! [`ALL`] (the tests below check that the table and the enum agree).

use crate::provider::{Endpoints, ProviderKind, endpoint_url};
use crate::user::UserInfo;
use serde_json::{Map, Value};
use url::Url;

pub mod auth0;
pub mod aws;
pub mod generic;
pub mod github;
pub mod google;
pub mod microsoft;
pub mod oidc;
pub mod okta;
pub mod wire;

pub use wire::Wire;

/// Every dialect, in the order of [`ProviderKind::ALL`].
pub static ALL: &[&dyn Dialect] = &[
    &microsoft::Microsoft,
    &google::Google,
    &github::GitHub,
    &okta::Okta,
    &auth0::Auth0,
    &oidc::Oidc,
    &generic::Generic,
    &aws::Aws,
];

/// The dialect of a provider kind.
pub fn of(kind: ProviderKind) -> &'static dyn Dialect {
    ALL.iter()
        .copied()
        .find(|d| d.kind() == kind)
        .expect("every ProviderKind has a row in dialect::ALL")
}

impl ProviderKind {
    /// What sidekey knows about this provider.
    pub fn dialect(self) -> &'static dyn Dialect {
        of(self)
    }
}

/// The dialect of a provider's config name (`"google"`), as stored records name it.
pub fn named(name: &str) -> Option<&'static dyn Dialect> {
    ALL.iter().copied().find(|d| d.name() == name)
}

/// The provider names for people choosing one: "microsoft, google, … or generic".
pub fn names_list() -> String {
    let names: Vec<&str> = ALL.iter().map(|d| d.name()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.to_string(),
        None => String::new(),
    }
}

/// The optional per-provider keys of an account in the config file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigKey {
    Tenant,
    Authority,
    Issuer,
    Domain,
    Audience,
    StartUrl,
    Region,
    OidcEndpoint,
}

impl ConfigKey {
    /// In the order the config checks them.
    pub const ALL: [ConfigKey; 8] = [
        ConfigKey::Tenant,
        ConfigKey::Authority,
        ConfigKey::Issuer,
        ConfigKey::Domain,
        ConfigKey::Audience,
        ConfigKey::StartUrl,
        ConfigKey::Region,
        ConfigKey::OidcEndpoint,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ConfigKey::Tenant => "tenant",
            ConfigKey::Authority => "authority",
            ConfigKey::Issuer => "issuer",
            ConfigKey::Domain => "domain",
            ConfigKey::Audience => "audience",
            ConfigKey::StartUrl => "start_url",
            ConfigKey::Region => "region",
            ConfigKey::OidcEndpoint => "oidc_endpoint",
        }
    }
}

/// The raw endpoint-related settings of an account, as written in the config file. Endpoint
/// overrides arrive already parsed (and checked for https) by the config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DialectSettings {
    pub tenant: Option<String>,
    pub authority: Option<String>,
    pub issuer: Option<String>,
    pub domain: Option<String>,
    /// AWS IAM Identity Center: the AWS access portal URL, the Identity Center region, and an
    /// override of `https://oidc.{region}.amazonaws.com` (tests, private endpoints).
    pub start_url: Option<String>,
    pub region: Option<String>,
    pub oidc_endpoint: Option<String>,
    pub device_authorization_endpoint: Option<Url>,
    pub token_endpoint: Option<Url>,
    pub authorization_endpoint: Option<Url>,
}

/// A setting that cannot be turned into endpoints; `key` names the config key to point at
/// (`None`: the account as a whole).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingError {
    pub key: Option<ConfigKey>,
    pub message: String,
}

impl SettingError {
    pub fn at(key: ConfigKey, message: impl Into<String>) -> SettingError {
        SettingError {
            key: Some(key),
            message: message.into(),
        }
    }

    pub fn account(message: impl Into<String>) -> SettingError {
        SettingError {
            key: None,
            message: message.into(),
        }
    }
}

/// A required, non-empty setting (trimmed), or "provider X needs `key`".
pub(crate) fn required(
    value: &Option<String>,
    provider: &str,
    key: ConfigKey,
) -> Result<String, SettingError> {
    value
        .as_ref()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| SettingError::account(format!("provider {provider} needs `{}`", key.name())))
}

/// How a provider revokes tokens at logout ([`crate::DeviceFlow::revoke`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// RFC 7009: a form POST to `endpoints.revocation`, the refresh token first (it usually
    /// ends the grant), then the access token; without an endpoint, not supported.
    Rfc7009,
    /// RFC 7009 for refresh tokens only (Auth0's `/oauth/revoke`: "Use this endpoint to
    /// invalidate a Refresh Token"): the access token is never sent; with no refresh token
    /// there is nothing this client can revoke.
    RefreshTokenOnly,
    /// GitHub's REST API with HTTP basic auth (client id and secret), body
    /// `{"access_token": …}`: `DELETE {api_base}/applications/{client_id}/grant` when there is a
    /// refresh token (it ends every token of the app for the user, the `ghr_` one included),
    /// else `…/token`. A refresh token is never sent; only 204 counts; without a secret, not
    /// supported.
    GitHubApi,
    /// No revocation this client can call; the text says what to do instead.
    Unsupported(&'static str),
}

/// Where an account's OAuth client comes from ([`Dialect::client`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientIdentity {
    /// The config names it: `client_id`, and a secret where the provider needs one.
    Configured,
    /// The provider registers a public client at sign-in (AWS `RegisterClient`,
    /// [`aws::register_client`]), which the caller caches and renews; the config names none,
    /// takes the registration's scopes as `registration_scopes`, and the value of `identity`
    /// identifies the account's tokens where a client id would.
    Registered { identity: ConfigKey },
}

/// What a logout does at the provider ([`Dialect::logout`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logout {
    /// Revoke the tokens the way [`Dialect::revocation`] says.
    Revoke,
    /// Nothing to revoke: end the session at the provider's portal instead (AWS access portal
    /// `Logout`), and forget what the session handed out.
    EndSession,
}

/// The settings of a provider's services an account may carry besides its sign-in settings,
/// each validated by its service ([`Dialect::service_keys`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServiceKey {
    /// `[accounts.NAME.drive]`: Google Drive.
    Drive,
    /// `youtube_api_base`: the YouTube Data API.
    YouTube,
    /// `[accounts.NAME.policy] aws_roles`: the AWS access portal's role credentials.
    AwsRoles,
}

impl ServiceKey {
    pub fn name(self) -> &'static str {
        match self {
            ServiceKey::Drive => "drive",
            ServiceKey::YouTube => "youtube_api_base",
            ServiceKey::AwsRoles => "aws_roles",
        }
    }

    /// The providers whose accounts may carry this key, for people ("Google").
    pub fn owners(self) -> String {
        let names: Vec<&str> = ALL
            .iter()
            .filter(|d| d.service_keys().contains(&self))
            .map(|d| d.display_name())
            .collect();
        names.join(" or ")
    }
}

/// The requests that may carry the client secret, for [`Dialect::sends_secret`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretUse {
    /// The device authorization request (RFC 8628 §3.1).
    Device,
    /// The device-code polls of the token endpoint (§3.4).
    Poll,
    /// The refresh grant.
    Refresh,
    /// Revocation.
    Revoke,
}

/// Trim every scope and drop empty ones: what every dialect does before its own rules.
pub fn trim_scopes(scopes: Vec<String>) -> Vec<String> {
    scopes
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Everything sidekey knows about one identity provider. Object-safe: dialects are used as
/// `&'static dyn Dialect` from [`ALL`].
pub trait Dialect: Send + Sync {
    /// The enum value this dialect describes.
    fn kind(&self) -> ProviderKind;

    /// The config name (`provider = "microsoft"`).
    fn name(&self) -> &'static str;

    /// The name for people ("Microsoft 365").
    fn display_name(&self) -> &'static str;

    /// How requests are written and answers read. By default the RFC form wire.
    fn wire(&self) -> Wire {
        Wire::Form
    }

    /// Scopes asked for when the config names none.
    fn default_scopes(&self) -> &'static [&'static str];

    /// The scopes as they should be requested, or why the provider would refuse them. Every
    /// dialect trims and drops empty entries.
    fn normalize_scopes(&self, scopes: Vec<String>) -> Result<Vec<String>, String> {
        Ok(trim_scopes(scopes))
    }

    /// Variables `sidekey exec` sets besides `SIDEKEY_ACCESS_TOKEN`.
    fn default_token_env(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether the client secret (if one is configured) goes on this kind of request. By
    /// default on every one (a confidential client authenticates everywhere).
    fn sends_secret(&self, _request: SecretUse) -> bool {
        true
    }

    /// Extra parameters of an authorization-code request (`flow = "code"`), besides the
    /// standard ones ([`crate::pkce::authorization_url`]).
    fn authorization_params(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// The scopes as a code-flow sign-in requests them. By default the same rules as the
    /// device flow ([`Dialect::normalize_scopes`]); Google's device-flow allow-list does not
    /// apply to the code flow (that is what it is for: `drive.appdata`, …).
    fn normalize_code_scopes(&self, scopes: Vec<String>) -> Result<Vec<String>, String> {
        self.normalize_scopes(scopes)
    }

    /// Whether a refresh request repeats the scope list.
    fn refresh_sends_scope(&self) -> bool {
        false
    }

    /// Error codes that, on a refresh, mean "sign in again" at this provider besides the
    /// standard ones ([`crate::error::REFRESH_REAUTH_CODES`]).
    fn refresh_reauth_codes(&self) -> &'static [&'static str] {
        &[]
    }

    /// How tokens are revoked.
    fn revocation(&self) -> Revocation {
        Revocation::Rfc7009
    }

    /// Who signed in, from the userinfo-style endpoint's answer.
    fn user_from_claims(&self, claims: &Map<String, Value>) -> Option<UserInfo> {
        oidc::standard_user(claims)
    }

    /// Who signed in, from the ID token's claims (when there is no userinfo answer). Its
    /// subject must be the same value [`Dialect::user_from_claims`] reads.
    fn user_from_id_token(&self, claims: &Map<String, Value>) -> Option<UserInfo> {
        oidc::standard_user(claims)
    }

    /// The "who signed in" URL for an `api_base`. By default the base is the userinfo endpoint
    /// itself, used exactly as given: a trailing slash is part of the URL (a server that wants
    /// `/userinfo/` redirects `/userinfo`, and redirects are never followed).
    fn userinfo_url(&self, api_base: &str) -> Result<Url, String> {
        endpoint_url(api_base)
    }

    /// The API base used when the config sets no `api_base`.
    fn default_api_base(&self) -> Option<&'static str> {
        None
    }

    /// The API base for an account whose config sets no `api_base`, from its other settings
    /// (Microsoft: the Graph of the authority's cloud). By default [`Dialect::default_api_base`].
    /// An error when no base can be named without `api_base`.
    fn api_base_for(&self, _settings: &DialectSettings) -> Result<Option<String>, SettingError> {
        Ok(self.default_api_base().map(str::to_string))
    }

    /// Domains whose hosts may serve the verification page (besides the endpoints' hosts).
    fn verification_domains(&self) -> &'static [&'static str] {
        &[]
    }

    /// What `unauthorized_client` means at this provider, when it is not the standard "device
    /// flow is not enabled for this app" (the meaning is still a configuration error, exit 2).
    fn unauthorized_client_hint(&self) -> Option<crate::error::UnauthorizedHint> {
        None
    }

    /// A sentence for people after a logout the provider could not revoke.
    fn logout_hint(&self) -> Option<&'static str> {
        None
    }

    /// A scope as people write it (Google's `drive.file` for its full URL): for display only.
    fn short_scope<'a>(&self, scope: &'a str) -> &'a str {
        scope
    }

    /// `Some(why)` when the flow cannot work without a client secret; `why` is the config error.
    fn requires_client_secret(&self) -> Option<&'static str> {
        None
    }

    /// Which optional config keys apply to this provider.
    fn config_keys(&self) -> &'static [ConfigKey] {
        &[]
    }

    /// Where the account's client comes from. By default the config names it.
    fn client(&self) -> ClientIdentity {
        ClientIdentity::Configured
    }

    /// Whether accounts may sign in with the authorization-code flow (`flow = "code"`) besides
    /// the device flow.
    fn allows_code_flow(&self) -> bool {
        true
    }

    /// Parameters of the device authorization request besides the client and the scope, from
    /// the account's settings (AWS: `startUrl`).
    fn device_params(&self, _settings: &DialectSettings) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Hosts that may serve this account's verification page, from its settings (AWS: the one
    /// device page host of its region).
    fn verification_hosts(&self, _settings: &DialectSettings) -> Vec<String> {
        Vec::new()
    }

    /// The "who signed in" URL for a configured `api_base`, or `None` when the provider has no
    /// such endpoint (the base is then still checked like every endpoint: it gets the token).
    fn userinfo_for_api_base(&self, api_base: &str) -> Result<Option<Url>, String> {
        self.userinfo_url(api_base).map(Some)
    }

    /// Who signed in when the provider says nothing about it (`client_id` is the account's).
    fn anonymous_user(&self, _client_id: &str) -> Option<UserInfo> {
        None
    }

    /// A note for people when a sign-in's refresh token lives only `lifetime` seconds (until
    /// `until`, RFC 3339): Google's Testing-mode projects.
    fn short_refresh_note(&self, _lifetime: i64, _until: &str) -> Option<String> {
        None
    }

    /// What a logout does at the provider.
    fn logout(&self) -> Logout {
        Logout::Revoke
    }

    /// `Some(why)` when the token of an account may never leave sidekey (`allow_token_export`
    /// is refused); `why` is the config error.
    fn refuses_token_export(&self) -> Option<&'static str> {
        None
    }

    /// The git hosts whose HTTPS credentials an account answers when the config names none.
    fn default_git_hosts(&self) -> &'static [&'static str] {
        &[]
    }

    /// The user name git sends with the token when the config names none: `oauth2`, GitLab's
    /// documented name for OAuth tokens.
    fn default_git_username(&self) -> &'static str {
        "oauth2"
    }

    /// Which service settings an account of this provider may carry.
    fn service_keys(&self) -> &'static [ServiceKey] {
        &[]
    }

    /// Endpoints from the config's settings; `Ok(None)` means "discover them from the issuer".
    fn endpoints(&self, settings: &DialectSettings) -> Result<Option<Endpoints>, SettingError>;
}

/// A fixed, built-in URL.
pub(crate) fn fixed(s: &str) -> Url {
    Url::parse(s).expect("built-in endpoint URLs are valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn table_and_enum_agree() {
        assert_eq!(ALL.len(), ProviderKind::ALL.len());
        for (d, k) in ALL.iter().zip(ProviderKind::ALL) {
            assert_eq!(d.kind(), k);
            assert_eq!(of(k).name(), d.name());
            assert_eq!(k.name(), d.name());
            assert_eq!(ProviderKind::parse(d.name()), Some(k));
        }
        let names: HashSet<&str> = ALL.iter().map(|d| d.name()).collect();
        assert_eq!(names.len(), ALL.len(), "names are unique");
    }

    #[test]
    fn names_for_people() {
        assert_eq!(
            names_list(),
            "microsoft, google, github, okta, auth0, oidc, generic or aws"
        );
        let shown: Vec<&str> = ALL.iter().map(|d| d.display_name()).collect();
        assert_eq!(
            shown,
            [
                "Microsoft 365",
                "Google",
                "GitHub",
                "Okta",
                "Auth0",
                "OpenID Connect",
                "OAuth",
                "AWS IAM Identity Center"
            ]
        );
    }

    #[test]
    fn every_dialect_trims_scopes() {
        for d in ALL {
            let s = d
                .normalize_scopes(vec![" openid ".into(), "".into(), "  ".into()])
                .unwrap();
            assert_eq!(s[0], "openid", "{}", d.name());
            assert!(s.iter().all(|x| !x.trim().is_empty()), "{}", d.name());
        }
    }

    #[test]
    fn userinfo_api_base_is_used_as_given() {
        let u = oidc::Oidc
            .userinfo_url("https://id.example.com/userinfo/")
            .unwrap();
        assert_eq!(u.as_str(), "https://id.example.com/userinfo/");
        let u = generic::Generic
            .userinfo_url("https://id.example.com/me")
            .unwrap();
        assert_eq!(u.as_str(), "https://id.example.com/me");
    }

    #[test]
    fn standard_defaults_and_service_owners() {
        for k in [
            ProviderKind::Microsoft,
            ProviderKind::Okta,
            ProviderKind::Generic,
        ] {
            let d = k.dialect();
            assert_eq!(d.client(), ClientIdentity::Configured, "{}", d.name());
            assert!(d.allows_code_flow(), "{}", d.name());
            assert_eq!(d.logout(), Logout::Revoke, "{}", d.name());
            assert!(d.anonymous_user("c").is_none(), "{}", d.name());
            assert!(d.refuses_token_export().is_none(), "{}", d.name());
            assert!(d.service_keys().is_empty(), "{}", d.name());
        }
        assert_eq!(ServiceKey::Drive.owners(), "Google");
        assert_eq!(ServiceKey::YouTube.owners(), "Google");
        assert_eq!(ServiceKey::AwsRoles.owners(), "AWS IAM Identity Center");
        assert_eq!(
            named("github").map(|d| d.kind()),
            Some(ProviderKind::GitHub)
        );
        assert!(named("myspace").is_none());
    }

    #[test]
    fn config_keys_per_provider() {
        let keys = |k: ProviderKind| -> Vec<&str> {
            k.dialect().config_keys().iter().map(|c| c.name()).collect()
        };
        assert_eq!(keys(ProviderKind::Microsoft), ["tenant", "authority"]);
        assert!(keys(ProviderKind::Google).is_empty());
        assert!(keys(ProviderKind::GitHub).is_empty());
        assert_eq!(keys(ProviderKind::Okta), ["issuer", "audience"]);
        assert_eq!(keys(ProviderKind::Auth0), ["domain", "audience"]);
        assert_eq!(keys(ProviderKind::Oidc), ["issuer", "audience"]);
        assert_eq!(keys(ProviderKind::Generic), ["audience"]);
        assert_eq!(
            keys(ProviderKind::Aws),
            ["start_url", "region", "oidc_endpoint"]
        );
    }
}
