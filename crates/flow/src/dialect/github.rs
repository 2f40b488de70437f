//! GitHub (OAuth apps and GitHub Apps), docs/providers.md, "GitHub".
//!
//! Quirks: endpoints sit on the web host (`/login/device/code`, `/login/oauth/access_token`)
//! while "who signed in" is the REST API's `/user`; there is no RFC 7009 endpoint, tokens are
//! revoked with `DELETE /applications/{client_id}/grant` (or `/token`), which take the access
//! token and need the app's client secret; the secret is not needed for the device flow and is
//! sent only on refresh and revocation.

use super::{Dialect, DialectSettings, Revocation, SecretUse, SettingError};
use crate::provider::{Endpoints, ProviderKind, endpoint_url};
use crate::response::one_line;
use crate::user::{UserInfo, subject_of};
use serde_json::{Map, Value};
use url::Url;

pub const WEB: &str = "https://github.com";
pub const API: &str = "https://api.github.com";

pub struct GitHub;

/// `web_base` is `https://github.com` (or a GitHub Enterprise Server host).
pub fn endpoints(web_base: &str, api_base: &str) -> Result<Endpoints, String> {
    let w = web_base.trim_end_matches('/');
    Ok(Endpoints {
        device_authorization: endpoint_url(&format!("{w}/login/device/code"))?,
        token: endpoint_url(&format!("{w}/login/oauth/access_token"))?,
        revocation: None,
        userinfo: Some(GitHub.userinfo_url(api_base)?),
        authorization: Some(endpoint_url(&format!("{w}/login/oauth/authorize"))?),
    })
}

impl Dialect for GitHub {
    fn kind(&self) -> ProviderKind {
        ProviderKind::GitHub
    }

    fn name(&self) -> &'static str {
        "github"
    }

    fn display_name(&self) -> &'static str {
        "GitHub"
    }

    /// GitHub serves git over HTTPS at `github.com` and takes an OAuth or GitHub App user token
    /// as the password with any user name.
    fn default_git_hosts(&self) -> &'static [&'static str] {
        &["github.com"]
    }

    /// `x-access-token` is the name GitHub documents for token authentication ("Authenticating
    /// as a GitHub App installation": `https://x-access-token:TOKEN@github.com/...`).
    fn default_git_username(&self) -> &'static str {
        "x-access-token"
    }

    fn default_scopes(&self) -> &'static [&'static str] {
        &["read:user"]
    }

    fn default_token_env(&self) -> &'static [&'static str] {
        &["GH_TOKEN", "GITHUB_TOKEN"]
    }

    fn revocation(&self) -> Revocation {
        Revocation::GitHubApi
    }

    /// "The client_secret is not needed for the device flow" (github/docs
    /// authorizing-oauth-apps.md): none on the device request or the polls, where a stale one
    /// could only turn a sign-in into `incorrect_client_credentials`. Refresh keeps it ("required
    /// unless the user access token was generated using the device flow",
    /// refreshing-user-access-tokens.md) and revocation needs it (HTTP basic auth).
    fn sends_secret(&self, request: SecretUse) -> bool {
        matches!(request, SecretUse::Refresh | SecretUse::Revoke)
    }

    fn user_from_claims(&self, m: &Map<String, Value>) -> Option<UserInfo> {
        let s = |k: &str| {
            m.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(|s| one_line(s, 200))
        };
        let u = UserInfo {
            name: s("name").or_else(|| s("login")),
            email: s("email"),
            // The numeric user id; `login` can be renamed and then taken by someone else.
            subject: subject_of(m.get("id")),
        };
        (!u.is_empty()).then_some(u)
    }

    /// The REST API's `/user`.
    fn userinfo_url(&self, api_base: &str) -> Result<Url, String> {
        endpoint_url(&format!("{}/user", api_base.trim_end_matches('/')))
    }

    fn default_api_base(&self) -> Option<&'static str> {
        Some(API)
    }

    fn verification_domains(&self) -> &'static [&'static str] {
        &["github.com"]
    }

    fn endpoints(&self, _: &DialectSettings) -> Result<Option<Endpoints>, SettingError> {
        endpoints(WEB, API).map(Some).map_err(SettingError::account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_defaults_are_github_com_and_x_access_token() {
        assert_eq!(GitHub.default_git_hosts(), ["github.com"]);
        assert_eq!(GitHub.default_git_username(), "x-access-token");
        // Elsewhere: no git host unless configured, and GitLab's name for OAuth tokens.
        let oidc = crate::ProviderKind::Oidc.dialect();
        assert!(oidc.default_git_hosts().is_empty());
        assert_eq!(oidc.default_git_username(), "oauth2");
    }

    #[test]
    fn web_and_api_hosts() {
        let e = GitHub
            .endpoints(&DialectSettings::default())
            .unwrap()
            .unwrap();
        assert_eq!(
            e.device_authorization.as_str(),
            "https://github.com/login/device/code"
        );
        assert_eq!(
            e.token.as_str(),
            "https://github.com/login/oauth/access_token"
        );
        assert_eq!(e.userinfo.unwrap().as_str(), "https://api.github.com/user");
        assert!(e.revocation.is_none());
        assert_eq!(GitHub.revocation(), Revocation::GitHubApi);
        assert!(!GitHub.sends_secret(SecretUse::Device));
        assert!(!GitHub.sends_secret(SecretUse::Poll));
        assert!(GitHub.sends_secret(SecretUse::Refresh));
        assert!(GitHub.sends_secret(SecretUse::Revoke));
        assert_eq!(GitHub.default_api_base(), Some("https://api.github.com"));
    }

    #[test]
    fn login_when_no_name() {
        let m: Map<String, Value> =
            serde_json::from_str(r#"{"login":"octocat","name":null,"email":""}"#).unwrap();
        let u = GitHub.user_from_claims(&m).unwrap();
        assert_eq!(u.name.as_deref(), Some("octocat"));
        assert_eq!(u.email, None);
    }

    /// GitHub's `/user` names the user by the numeric `id`; the `login` can be renamed (and
    /// a freed login taken by someone else).
    #[test]
    fn subject_is_the_numeric_id() {
        let m: Map<String, Value> =
            serde_json::from_str(r#"{"login":"octocat","id":583231,"node_id":"MDQ6VXNlcjU4MzIzMQ==","name":"The Octocat"}"#).unwrap();
        assert_eq!(
            GitHub.user_from_claims(&m).unwrap().subject.as_deref(),
            Some("583231")
        );
    }
}
