//! Auth0, docs/providers.md, "Auth0".
//!
//! Quirks: configured by tenant domain (https implied); an API's `audience` travels as an extra
//! device-request parameter (the config turns the `audience` key into it); `/oauth/revoke` takes
//! refresh tokens only (Auth0 Authentication API, "Revoke refresh token"; its access tokens are
//! self-contained JWTs that cannot be revoked), so logout never sends the access token there.

use super::{ConfigKey, Dialect, DialectSettings, Revocation, SettingError, required};
use crate::provider::{Endpoints, ProviderKind, endpoint_url};

pub struct Auth0;

/// `domain` is `tenant.eu.auth0.com` (https implied) or a full base URL.
pub fn endpoints(domain: &str) -> Result<Endpoints, String> {
    let d = domain.trim_end_matches('/');
    let base = if d.contains("://") {
        d.to_string()
    } else {
        format!("https://{d}")
    };
    Ok(Endpoints {
        device_authorization: endpoint_url(&format!("{base}/oauth/device/code"))?,
        token: endpoint_url(&format!("{base}/oauth/token"))?,
        revocation: Some(endpoint_url(&format!("{base}/oauth/revoke"))?),
        userinfo: Some(endpoint_url(&format!("{base}/userinfo"))?),
        authorization: Some(endpoint_url(&format!("{base}/authorize"))?),
    })
}

impl Dialect for Auth0 {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Auth0
    }

    fn name(&self) -> &'static str {
        "auth0"
    }

    fn display_name(&self) -> &'static str {
        "Auth0"
    }

    fn default_scopes(&self) -> &'static [&'static str] {
        &["openid", "profile", "email", "offline_access"]
    }

    fn revocation(&self) -> Revocation {
        Revocation::RefreshTokenOnly
    }

    fn config_keys(&self) -> &'static [ConfigKey] {
        &[ConfigKey::Domain, ConfigKey::Audience]
    }

    fn endpoints(&self, s: &DialectSettings) -> Result<Option<Endpoints>, SettingError> {
        let domain = required(&s.domain, self.name(), ConfigKey::Domain)?;
        endpoints(&domain)
            .map(Some)
            .map_err(|e| SettingError::at(ConfigKey::Domain, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Auth0's `/userinfo` names the user by `sub` (`auth0|…`, `google-oauth2|…`).
    #[test]
    fn subject_is_sub() {
        let m: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"sub":"auth0|64ada1ace0","nickname":"ada"}"#).unwrap();
        let u = Auth0.user_from_claims(&m).unwrap();
        assert_eq!(u.subject.as_deref(), Some("auth0|64ada1ace0"));
    }

    #[test]
    fn auth0_domain_or_url() {
        let e = endpoints("acme.eu.auth0.com").unwrap();
        assert_eq!(
            e.device_authorization.as_str(),
            "https://acme.eu.auth0.com/oauth/device/code"
        );
        assert!(endpoints("http://evil.example").is_err());
    }

    #[test]
    fn revokes_refresh_tokens_only() {
        assert_eq!(Auth0.revocation(), Revocation::RefreshTokenOnly);
    }

    #[test]
    fn domain_is_required() {
        let err = Auth0
            .endpoints(&DialectSettings {
                domain: Some("  ".into()),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(err, SettingError::account("provider auth0 needs `domain`"));
    }
}
