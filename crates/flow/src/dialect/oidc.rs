//! Any OpenID Connect provider with the device flow, found by discovery (docs/providers.md, "Generic OIDC and RFC 8628").
//!
//! Nothing is known without the network: the config names an issuer, and the endpoints come from
//! its `/.well-known/openid-configuration` at sign-in ([`crate::client::discover`]). The standard
//! claims mapping here is also what an ID token is read with for every provider.

use super::{ConfigKey, Dialect, DialectSettings, SettingError, required};
use crate::provider::{Endpoints, ProviderKind, endpoint_url};
use crate::response::one_line;
use crate::user::{UserInfo, subject_of};
use serde_json::{Map, Value};

pub struct Oidc;

/// Who signed in, from standard OIDC claims (userinfo or an ID token): the name and email for
/// display, `sub` as the subject ("a locally unique and never reassigned identifier within the
/// Issuer for the End-User", OIDC Core 1.0 §2).
pub fn standard_user(m: &Map<String, Value>) -> Option<UserInfo> {
    let s = |k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| one_line(s, 200))
    };
    let u = UserInfo {
        name: s("name")
            .or_else(|| s("preferred_username"))
            .or_else(|| s("sub")),
        email: s("email"),
        subject: subject_of(m.get("sub")),
    };
    (!u.is_empty()).then_some(u)
}

impl Dialect for Oidc {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Oidc
    }

    fn name(&self) -> &'static str {
        "oidc"
    }

    fn display_name(&self) -> &'static str {
        "OpenID Connect"
    }

    fn default_scopes(&self) -> &'static [&'static str] {
        &["openid", "profile", "email", "offline_access"]
    }

    fn config_keys(&self) -> &'static [ConfigKey] {
        &[ConfigKey::Issuer, ConfigKey::Audience]
    }

    /// `None`: discovered from the issuer at sign-in; here only the issuer is checked.
    fn endpoints(&self, s: &DialectSettings) -> Result<Option<Endpoints>, SettingError> {
        let issuer = required(&s.issuer, self.name(), ConfigKey::Issuer)?;
        endpoint_url(&issuer).map_err(|e| SettingError::at(ConfigKey::Issuer, e))?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_checked_endpoints_discovered() {
        let ok = Oidc.endpoints(&DialectSettings {
            issuer: Some(" https://idp.example.com ".into()),
            ..Default::default()
        });
        assert_eq!(ok, Ok(None));
        let err = Oidc
            .endpoints(&DialectSettings {
                issuer: Some("http://idp.example.com".into()),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(err.key, Some(ConfigKey::Issuer));
        assert!(err.message.contains("plain http"), "{}", err.message);
    }

    #[test]
    fn standard_claims() {
        let m: Map<String, Value> = serde_json::from_str(r#"{"sub":"123"}"#).unwrap();
        let u = standard_user(&m).unwrap();
        assert_eq!(u.subject.as_deref(), Some("123"), "a sub alone is someone");
        assert_eq!(
            Oidc.user_from_id_token(&m).unwrap().subject.as_deref(),
            Some("123")
        );
    }

    #[test]
    fn standard_claims_named() {
        let m: Map<String, Value> =
            serde_json::from_str(r#"{"sub":"123","preferred_username":"ada"}"#).unwrap();
        assert_eq!(standard_user(&m).unwrap().name.as_deref(), Some("ada"));
        assert_eq!(standard_user(&Map::new()), None);
    }
}
