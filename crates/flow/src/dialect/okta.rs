//! Okta, docs/providers.md, "Okta".
//!
//! Quirk: the issuer is either a custom authorization server (`https://x.okta.com/oauth2/default`)
//! or the org authorization server (`https://x.okta.com`), whose endpoints sit under `/oauth2/v1`.

use super::{ConfigKey, Dialect, DialectSettings, SettingError, required};
use crate::provider::{Endpoints, ProviderKind, endpoint_url};
use url::Url;

pub struct Okta;

/// Endpoints of a custom or org authorization server.
pub fn endpoints(issuer: &str) -> Result<Endpoints, String> {
    let i = issuer.trim_end_matches('/');
    let base = if Url::parse(i)
        .map(|u| u.path().contains("/oauth2/"))
        .unwrap_or(false)
    {
        i.to_string()
    } else {
        format!("{i}/oauth2")
    };
    Ok(Endpoints {
        device_authorization: endpoint_url(&format!("{base}/v1/device/authorize"))?,
        token: endpoint_url(&format!("{base}/v1/token"))?,
        revocation: Some(endpoint_url(&format!("{base}/v1/revoke"))?),
        userinfo: Some(endpoint_url(&format!("{base}/v1/userinfo"))?),
        authorization: Some(endpoint_url(&format!("{base}/v1/authorize"))?),
    })
}

impl Dialect for Okta {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Okta
    }

    fn name(&self) -> &'static str {
        "okta"
    }

    fn display_name(&self) -> &'static str {
        "Okta"
    }

    fn default_scopes(&self) -> &'static [&'static str] {
        &["openid", "profile", "email", "offline_access"]
    }

    fn config_keys(&self) -> &'static [ConfigKey] {
        &[ConfigKey::Issuer, ConfigKey::Audience]
    }

    fn endpoints(&self, s: &DialectSettings) -> Result<Option<Endpoints>, SettingError> {
        let issuer = required(&s.issuer, self.name(), ConfigKey::Issuer)?;
        endpoints(&issuer)
            .map(Some)
            .map_err(|e| SettingError::at(ConfigKey::Issuer, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::check_verification_uri;

    /// Okta's `/v1/userinfo` names the user by `sub` (the user id, `00u…`).
    #[test]
    fn subject_is_sub() {
        let m: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
            r#"{"sub":"00u1ada2lovelace3x4y5","preferred_username":"ada@example.com"}"#,
        )
        .unwrap();
        let u = Okta.user_from_claims(&m).unwrap();
        assert_eq!(u.subject.as_deref(), Some("00u1ada2lovelace3x4y5"));
    }

    #[test]
    fn okta_custom_and_org_servers() {
        let c = endpoints("https://dev-1.okta.com/oauth2/default").unwrap();
        assert_eq!(
            c.device_authorization.as_str(),
            "https://dev-1.okta.com/oauth2/default/v1/device/authorize"
        );
        let o = endpoints("https://dev-1.okta.com/").unwrap();
        assert_eq!(o.token.as_str(), "https://dev-1.okta.com/oauth2/v1/token");
    }

    #[test]
    fn issuer_is_required() {
        let err = Okta.endpoints(&DialectSettings::default()).unwrap_err();
        assert_eq!(err, SettingError::account("provider okta needs `issuer`"));
        let err = Okta
            .endpoints(&DialectSettings {
                issuer: Some("http://idp.example.com".into()),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(err.key, Some(ConfigKey::Issuer));
    }

    #[test]
    fn verification_hosts() {
        let okta = endpoints("https://dev-1.okta.com/oauth2/default").unwrap();
        assert!(
            check_verification_uri(
                ProviderKind::Okta,
                &okta,
                &[],
                "https://dev-1.okta.com/activate"
            )
            .is_ok()
        );
        assert!(
            check_verification_uri(
                ProviderKind::Okta,
                &okta,
                &[],
                "https://login.example.com/activate"
            )
            .is_err()
        );
        assert!(
            check_verification_uri(
                ProviderKind::Okta,
                &okta,
                &["login.example.com".into()],
                "https://login.example.com/activate"
            )
            .is_ok()
        );
    }
}
