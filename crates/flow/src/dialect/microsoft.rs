//! Microsoft identity platform (v2.0 endpoints) with Microsoft Graph as the API (docs/providers.md, "Microsoft").
//!
//! Quirks: no refresh token without `offline_access` (so it is always added); the refresh grant
//! takes the scope list again; no RFC 7009 endpoint, so a logout can only point the person at
//! their account page; "who signed in" is Graph `/me`, whose personal accounts have `mail: null`.

use super::{ConfigKey, Dialect, DialectSettings, SettingError};
use crate::client::UserInfo;
use crate::provider::{Endpoints, ProviderKind, endpoint_url};
use crate::response::one_line;
use serde_json::{Map, Value};
use url::Url;

pub const GRAPH: &str = "https://graph.microsoft.com/v1.0";
const LOGIN: &str = "https://login.microsoftonline.com";

pub struct Microsoft;

/// Endpoints under an authority: `https://login.microsoftonline.com/{tenant}` (or a
/// sovereign-cloud host). "Who signed in" is Graph `/me`.
pub fn endpoints(authority: &str) -> Result<Endpoints, String> {
    let a = authority.trim_end_matches('/');
    Ok(Endpoints {
        device_authorization: endpoint_url(&format!("{a}/oauth2/v2.0/devicecode"))?,
        token: endpoint_url(&format!("{a}/oauth2/v2.0/token"))?,
        revocation: None,
        userinfo: Some(Microsoft.userinfo_url(GRAPH)?),
    })
}

impl Dialect for Microsoft {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Microsoft
    }

    fn name(&self) -> &'static str {
        "microsoft"
    }

    fn display_name(&self) -> &'static str {
        "Microsoft 365"
    }

    /// Read-only: what `sidekey ms` needs, and nothing that writes.
    fn default_scopes(&self) -> &'static [&'static str] {
        &[
            "User.Read",
            "Files.Read",
            "Calendars.ReadBasic",
            "Mail.ReadBasic",
            "Contacts.Read",
            "offline_access",
        ]
    }

    fn normalize_scopes(&self, scopes: Vec<String>) -> Result<Vec<String>, String> {
        let mut scopes = super::trim_scopes(scopes);
        if !scopes.iter().any(|s| s == "offline_access") {
            // Without it Microsoft issues no refresh token and the account dies within the hour.
            scopes.push("offline_access".into());
        }
        Ok(scopes)
    }

    /// Microsoft's v2.0 refresh grant takes the scope list again.
    fn refresh_sends_scope(&self) -> bool {
        true
    }

    fn user_from_claims(&self, m: &Map<String, Value>) -> Option<UserInfo> {
        let s = |k: &str| {
            m.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(|s| one_line(s, 200))
        };
        let u = UserInfo {
            name: s("displayName"),
            // Personal accounts have `mail: null`.
            email: s("mail").or_else(|| s("userPrincipalName")),
        };
        (u.name.is_some() || u.email.is_some()).then_some(u)
    }

    /// Graph `/me`.
    fn userinfo_url(&self, api_base: &str) -> Result<Url, String> {
        endpoint_url(&format!("{}/me", api_base.trim_end_matches('/')))
    }

    fn default_api_base(&self) -> Option<&'static str> {
        Some(GRAPH)
    }

    fn verification_domains(&self) -> &'static [&'static str] {
        &[
            "microsoft.com",
            "microsoftonline.com",
            "live.com",
            "microsoftonline.us",
            "microsoft.us",
            "partner.microsoftonline.cn",
        ]
    }

    fn logout_hint(&self) -> Option<&'static str> {
        Some(
            "To end the session, sign out of the app at https://myaccount.microsoft.com (Apps and devices).",
        )
    }

    fn config_keys(&self) -> &'static [ConfigKey] {
        &[ConfigKey::Tenant, ConfigKey::Authority]
    }

    /// `authority` wins; else `tenant` under login.microsoftonline.com; else `common`.
    fn endpoints(&self, s: &DialectSettings) -> Result<Option<Endpoints>, SettingError> {
        let authority = match (&s.authority, &s.tenant) {
            (Some(a), _) => a.trim_end_matches('/').to_string(),
            (None, Some(t)) => {
                let t = t.trim();
                if t.is_empty()
                    || !t
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                {
                    return Err(SettingError::at(
                        ConfigKey::Tenant,
                        format!("invalid tenant '{t}'"),
                    ));
                }
                format!("{LOGIN}/{t}")
            }
            (None, None) => format!("{LOGIN}/common"),
        };
        endpoints(&authority)
            .map(Some)
            .map_err(|e| SettingError::at(ConfigKey::Authority, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::check_verification_uri;

    #[test]
    fn verification_hosts() {
        let ms = endpoints("https://login.microsoftonline.com/common").unwrap();
        let ok = |u: &str| check_verification_uri(ProviderKind::Microsoft, &ms, &[], u);
        assert!(ok("https://microsoft.com/devicelogin").is_ok());
        assert!(ok("https://login.microsoftonline.com/device").is_ok());
        assert!(ok("https://microsoft.com.evil.example/devicelogin").is_err());
        assert!(ok("https://evilmicrosoft.com/devicelogin").is_err());
        assert!(ok("http://microsoft.com/devicelogin").is_err());
    }

    #[test]
    fn tenant_authority_or_common() {
        let e = |s: DialectSettings| Microsoft.endpoints(&s);
        let t = e(DialectSettings {
            tenant: Some("organizations".into()),
            ..Default::default()
        })
        .unwrap()
        .unwrap();
        assert_eq!(
            t.device_authorization.as_str(),
            "https://login.microsoftonline.com/organizations/oauth2/v2.0/devicecode"
        );
        assert_eq!(
            t.userinfo.unwrap().as_str(),
            "https://graph.microsoft.com/v1.0/me"
        );
        let c = e(DialectSettings::default()).unwrap().unwrap();
        assert_eq!(
            c.token.as_str(),
            "https://login.microsoftonline.com/common/oauth2/v2.0/token"
        );
        let a = e(DialectSettings {
            authority: Some("https://login.microsoftonline.us/x/".into()),
            tenant: Some("ignored".into()),
            ..Default::default()
        })
        .unwrap()
        .unwrap();
        assert_eq!(
            a.token.as_str(),
            "https://login.microsoftonline.us/x/oauth2/v2.0/token"
        );
        let bad = e(DialectSettings {
            tenant: Some("a/b".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            bad,
            SettingError::at(ConfigKey::Tenant, "invalid tenant 'a/b'")
        );
        let bad = e(DialectSettings {
            authority: Some("http://login.example.com".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(bad.key, Some(ConfigKey::Authority));
    }

    #[test]
    fn offline_access_always_requested() {
        let s = Microsoft
            .normalize_scopes(vec!["User.Read".into(), " ".into()])
            .unwrap();
        assert_eq!(s, ["User.Read", "offline_access"]);
        let s = Microsoft
            .normalize_scopes(vec!["offline_access".into(), "Mail.Read".into()])
            .unwrap();
        assert_eq!(s, ["offline_access", "Mail.Read"]);
    }

    #[test]
    fn graph_me_claims() {
        let m: Map<String, Value> = serde_json::from_str(
            r#"{"displayName":"Ada","mail":null,"userPrincipalName":"ada@x.onmicrosoft.com"}"#,
        )
        .unwrap();
        let u = Microsoft.user_from_claims(&m).unwrap();
        assert_eq!(u.name.as_deref(), Some("Ada"));
        assert_eq!(u.email.as_deref(), Some("ada@x.onmicrosoft.com"));
        assert!(
            Microsoft
                .logout_hint()
                .unwrap()
                .contains("myaccount.microsoft.com")
        );
        assert_eq!(Microsoft.revocation(), super::super::Revocation::Rfc7009);
    }
}
