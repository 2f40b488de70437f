//! Any RFC 8628 server without discovery: the config names both endpoints.

use super::{ConfigKey, Dialect, DialectSettings, SettingError};
use crate::provider::{Endpoints, ProviderKind};

pub struct Generic;

impl Dialect for Generic {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Generic
    }

    fn name(&self) -> &'static str {
        "generic"
    }

    fn display_name(&self) -> &'static str {
        "OAuth"
    }

    fn default_scopes(&self) -> &'static [&'static str] {
        &["openid", "profile", "email", "offline_access"]
    }

    fn config_keys(&self) -> &'static [ConfigKey] {
        &[ConfigKey::Audience]
    }

    fn endpoints(&self, s: &DialectSettings) -> Result<Option<Endpoints>, SettingError> {
        let (Some(d), Some(t)) = (&s.device_authorization_endpoint, &s.token_endpoint) else {
            return Err(SettingError::account(
                "provider generic needs `device_authorization_endpoint` and `token_endpoint`",
            ));
        };
        Ok(Some(Endpoints {
            device_authorization: d.clone(),
            token: t.clone(),
            revocation: None,
            userinfo: None,
            authorization: s.authorization_endpoint.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::endpoint_url;

    /// A generic OIDC userinfo names the user by `sub`; without `sub` there is no subject.
    #[test]
    fn subject_is_sub() {
        let m: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"sub":"248289761001","name":"Jane"}"#).unwrap();
        assert_eq!(
            Generic.user_from_claims(&m).unwrap().subject.as_deref(),
            Some("248289761001")
        );
        let m: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"name":"Jane"}"#).unwrap();
        assert_eq!(Generic.user_from_claims(&m).unwrap().subject, None);
    }

    #[test]
    fn needs_both_endpoints() {
        let d = endpoint_url("https://idp.example.com/device").unwrap();
        let t = endpoint_url("https://idp.example.com/token").unwrap();
        let half = DialectSettings {
            device_authorization_endpoint: Some(d.clone()),
            ..Default::default()
        };
        assert!(
            Generic
                .endpoints(&half)
                .unwrap_err()
                .message
                .contains("token_endpoint")
        );
        let both = DialectSettings {
            device_authorization_endpoint: Some(d),
            token_endpoint: Some(t),
            ..Default::default()
        };
        let e = Generic.endpoints(&both).unwrap().unwrap();
        assert_eq!(e.token.as_str(), "https://idp.example.com/token");
        assert!(e.revocation.is_none() && e.userinfo.is_none());
    }
}
