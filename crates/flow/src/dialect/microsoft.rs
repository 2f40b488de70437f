//! Microsoft identity platform (v2.0 endpoints) with Microsoft Graph as the API (docs/providers.md, "Microsoft").
//!
//! Quirks: no refresh token without `offline_access` (so it is always added); the refresh grant
//! takes the scope list again; no RFC 7009 endpoint, so a logout can only point the person at
//! their account page; "who signed in" is Graph `/me`, whose personal accounts have `mail: null`.

use super::{ConfigKey, Dialect, DialectSettings, SettingError};
use crate::provider::{Endpoints, ProviderKind, endpoint_url};
use crate::response::one_line;
use crate::user::{UserInfo, subject_of};
use serde_json::{Map, Value};
use url::Url;

pub const GRAPH: &str = "https://graph.microsoft.com/v1.0";
/// US Government L4 (GCC High). DoD (L5) signs in at the same host but has its own Graph,
/// `https://dod-graph.microsoft.us/v1.0`, so it must be configured as `api_base`.
pub const GRAPH_US_GOV: &str = "https://graph.microsoft.us/v1.0";
/// Microsoft Graph operated by 21Vianet (China).
pub const GRAPH_CHINA: &str = "https://microsoftgraph.chinacloudapi.cn/v1.0";
const LOGIN: &str = "https://login.microsoftonline.com";

/// The Microsoft Graph root of the national cloud whose sign-in host serves `authority`, or
/// `None` for a host that is no known cloud. A token is only good for its own cloud's Graph, and
/// short scopes like `User.Read` are for that Graph (learn.microsoft.com/graph/deployments;
/// microsoft-graph-docs-contrib `concepts/sdks/national-clouds.md`).
pub fn graph_base(authority: &str) -> Option<&'static str> {
    let url = Url::parse(authority.trim()).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    match host.trim_end_matches('.') {
        "login.microsoftonline.com" | "login.windows.net" => Some(GRAPH),
        "login.microsoftonline.us" => Some(GRAPH_US_GOV),
        "login.chinacloudapi.cn" | "login.partner.microsoftonline.cn" => Some(GRAPH_CHINA),
        _ => None,
    }
}

pub struct Microsoft;

/// Endpoints under an authority: `https://login.microsoftonline.com/{tenant}` (or a
/// national-cloud host). "Who signed in" is Graph `/me` of the authority's cloud (none for an
/// unknown host: the config's `api_base` names it).
pub fn endpoints(authority: &str) -> Result<Endpoints, String> {
    let a = authority.trim_end_matches('/');
    Ok(Endpoints {
        device_authorization: endpoint_url(&format!("{a}/oauth2/v2.0/devicecode"))?,
        token: endpoint_url(&format!("{a}/oauth2/v2.0/token"))?,
        revocation: None,
        userinfo: graph_base(a)
            .map(|g| Microsoft.userinfo_url(g))
            .transpose()?,
        authorization: Some(endpoint_url(&format!("{a}/oauth2/v2.0/authorize"))?),
    })
}

/// The authority the settings name: `authority`, else `tenant` under the global cloud, else
/// `common`. `tenant` is checked here.
fn authority_of(s: &DialectSettings) -> Result<String, SettingError> {
    Ok(match (&s.authority, &s.tenant) {
        (Some(a), _) => a.trim().trim_end_matches('/').to_string(),
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
            // "The unique identifier for the user" (Graph user resource): the object id.
            subject: subject_of(m.get("id")),
        };
        (!u.is_empty()).then_some(u)
    }

    /// The ID token's `sub` is pairwise (one per app and user), so the subject is `oid`, the
    /// user's object id — the same value as Graph `/me`'s `id` (docs/providers.md, "Microsoft").
    fn user_from_id_token(&self, claims: &Map<String, Value>) -> Option<UserInfo> {
        let mut u = super::oidc::standard_user(claims).unwrap_or_default();
        u.subject = subject_of(claims.get("oid"));
        (!u.is_empty()).then_some(u)
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

    /// Entra: `unauthorized_client` "usually occurs when the client application isn't registered
    /// in Microsoft Entra ID or isn't added to the user's tenant" (entra-docs
    /// v2-oauth2-auth-code-flow.md, token endpoint errors; docs/providers.md, "Microsoft").
    fn unauthorized_client_hint(&self) -> Option<crate::error::UnauthorizedHint> {
        Some(crate::error::UnauthorizedHint {
            what: "the app is not registered for this tenant or account type",
            action: "check the app registration's supported account types and the account's `tenant` or `authority` (organizations, consumers or the tenant's ID)",
        })
    }

    fn logout_hint(&self) -> Option<&'static str> {
        Some(
            "To end the session, sign out of the app at https://myaccount.microsoft.com (Apps and devices).",
        )
    }

    fn config_keys(&self) -> &'static [ConfigKey] {
        &[ConfigKey::Tenant, ConfigKey::Authority]
    }

    /// The Graph of the authority's cloud ([`graph_base`]). DoD and any other host the table
    /// does not know need `api_base`: guessing global Graph would fail every call with 401.
    fn api_base_for(&self, s: &DialectSettings) -> Result<Option<String>, SettingError> {
        let authority = authority_of(s)?;
        match graph_base(&authority) {
            Some(g) => Ok(Some(g.to_string())),
            None => {
                let host = Url::parse(&authority)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or(authority);
                Err(SettingError::at(
                    ConfigKey::Authority,
                    format!(
                        "'{host}' is not a Microsoft cloud sidekey knows: set `api_base` to its Microsoft Graph root (US Gov DoD: https://dod-graph.microsoft.us/v1.0)"
                    ),
                ))
            }
        }
    }

    /// `authority` wins; else `tenant` under login.microsoftonline.com; else `common`.
    fn endpoints(&self, s: &DialectSettings) -> Result<Option<Endpoints>, SettingError> {
        let authority = authority_of(s)?;
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
        // Issue 10 item 7: what is checked is what is shown, one URL and nothing after it (the
        // URL parser itself would drop the line break and check only the first host).
        assert!(ok("https://microsoft.com/devicelogin\nhttps://evil.example/").is_err());
        assert!(ok("https://microsoft.com/device\tlogin").is_err());
        assert!(ok("https://microsoft.com/devicelogin\r\n").is_err());
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
    fn graph_follows_the_authoritys_cloud() {
        let g = |a: &str| graph_base(a);
        assert_eq!(g("https://login.microsoftonline.com/common"), Some(GRAPH));
        assert_eq!(g("https://LOGIN.microsoftonline.us/t/"), Some(GRAPH_US_GOV));
        assert_eq!(g("https://login.chinacloudapi.cn/t"), Some(GRAPH_CHINA));
        assert_eq!(
            g("https://login.partner.microsoftonline.cn/t"),
            Some(GRAPH_CHINA)
        );
        assert_eq!(g("https://login.microsoftonline.us.evil.example/t"), None);
        assert_eq!(g("http://127.0.0.1:8080/common"), None);
        let us = endpoints("https://login.microsoftonline.us/t").unwrap();
        assert_eq!(
            us.userinfo.unwrap().as_str(),
            "https://graph.microsoft.us/v1.0/me"
        );
        assert!(
            endpoints("http://127.0.0.1:8080/common")
                .unwrap()
                .userinfo
                .is_none()
        );
        let api = |authority: &str| {
            Microsoft.api_base_for(&DialectSettings {
                authority: Some(authority.into()),
                ..Default::default()
            })
        };
        assert_eq!(
            api("https://login.chinacloudapi.cn/t").unwrap().as_deref(),
            Some(GRAPH_CHINA)
        );
        let e = api("https://login.example.com/t").unwrap_err();
        assert_eq!(e.key, Some(ConfigKey::Authority));
        assert!(e.message.contains("`api_base`"), "{}", e.message);
        assert_eq!(
            Microsoft
                .api_base_for(&DialectSettings::default())
                .unwrap()
                .as_deref(),
            Some(GRAPH)
        );
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
        assert_eq!(u.subject, None, "no id, no subject");
        assert!(
            Microsoft
                .logout_hint()
                .unwrap()
                .contains("myaccount.microsoft.com")
        );
        assert_eq!(Microsoft.revocation(), super::super::Revocation::Rfc7009);
    }

    /// Graph `/me` names the user by `id`, the user's object id; in the ID token that is `oid`,
    /// while `sub` there is pairwise (different for every app) and must not be taken.
    #[test]
    fn subject_is_the_object_id() {
        let me: Map<String, Value> = serde_json::from_str(
            r#"{"displayName":"Ada","mail":null,"userPrincipalName":"ada@x.onmicrosoft.com","id":"ada1ace0-1815-4c0e-9a1e-0000000a1ace"}"#,
        )
        .unwrap();
        let u = Microsoft.user_from_claims(&me).unwrap();
        assert_eq!(
            u.subject.as_deref(),
            Some("ada1ace0-1815-4c0e-9a1e-0000000a1ace")
        );
        let id_token: Map<String, Value> = serde_json::from_str(
            r#"{"sub":"AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ","oid":"ada1ace0-1815-4c0e-9a1e-0000000a1ace","tid":"9188040d-6c67-4c5b-b112-36a304b66dad","name":"Ada"}"#,
        )
        .unwrap();
        let u = Microsoft.user_from_id_token(&id_token).unwrap();
        assert_eq!(
            u.subject.as_deref(),
            Some("ada1ace0-1815-4c0e-9a1e-0000000a1ace")
        );
        let no_oid: Map<String, Value> = serde_json::from_str(
            r#"{"sub":"AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ","name":"Ada"}"#,
        )
        .unwrap();
        assert_eq!(Microsoft.user_from_id_token(&no_oid).unwrap().subject, None);
    }
}
