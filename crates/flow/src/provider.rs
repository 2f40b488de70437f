//! Where each provider's endpoints live and which of its quirks apply.
//!
//! A [`Provider`] is everything the flow needs to talk to one app registration: the endpoints, the
//! client credentials, the scopes and any extra device-request parameters (Auth0's `audience`).
//! The constructors here encode the providers' documented URL layouts (docs/providers.md, one
//! section per provider), so a config file only has to name a tenant, an issuer or a domain.

use crate::secret::Secret;
use url::Url;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    Microsoft,
    Google,
    GitHub,
    Okta,
    Auth0,
    Oidc,
    Generic,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 7] = [
        ProviderKind::Microsoft,
        ProviderKind::Google,
        ProviderKind::GitHub,
        ProviderKind::Okta,
        ProviderKind::Auth0,
        ProviderKind::Oidc,
        ProviderKind::Generic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Microsoft => "microsoft",
            ProviderKind::Google => "google",
            ProviderKind::GitHub => "github",
            ProviderKind::Okta => "okta",
            ProviderKind::Auth0 => "auth0",
            ProviderKind::Oidc => "oidc",
            ProviderKind::Generic => "generic",
        }
    }

    pub fn parse(s: &str) -> Option<ProviderKind> {
        ProviderKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Google wants only `client_id` and `scope` at its device endpoint; the secret goes on polls.
    pub fn secret_at_device_endpoint(self) -> bool {
        self != ProviderKind::Google
    }

    /// Microsoft's v2.0 refresh grant takes the scope list again.
    pub fn refresh_sends_scope(self) -> bool {
        self == ProviderKind::Microsoft
    }

    /// The "who signed in" URL for an `api_base`: Graph `/me`, GitHub `/user`, and for OIDC-style
    /// providers the userinfo endpoint itself.
    pub fn userinfo_url(self, api_base: &str) -> Result<Url, String> {
        let base = api_base.trim_end_matches('/');
        let full = match self {
            ProviderKind::Microsoft => format!("{base}/me"),
            ProviderKind::GitHub => format!("{base}/user"),
            _ => base.to_string(),
        };
        endpoint_url(&full)
    }
}

/// The URLs the flow talks to. Only the first two are required by RFC 8628.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub device_authorization: Url,
    pub token: Url,
    /// RFC 7009 revocation (Google's `/revoke` speaks the same form).
    pub revocation: Option<Url>,
    /// Where to learn who signed in (Graph `/me`, GitHub `/user`, OIDC userinfo).
    pub userinfo: Option<Url>,
}

impl Endpoints {
    /// `authority` is `https://login.microsoftonline.com/{tenant}` (or a sovereign-cloud host).
    pub fn microsoft(authority: &str, graph_base: &str) -> Result<Endpoints, String> {
        let a = authority.trim_end_matches('/');
        Ok(Endpoints {
            device_authorization: endpoint_url(&format!("{a}/oauth2/v2.0/devicecode"))?,
            token: endpoint_url(&format!("{a}/oauth2/v2.0/token"))?,
            revocation: None,
            userinfo: Some(ProviderKind::Microsoft.userinfo_url(graph_base)?),
        })
    }

    pub fn google() -> Endpoints {
        Endpoints {
            device_authorization: fixed("https://oauth2.googleapis.com/device/code"),
            token: fixed("https://oauth2.googleapis.com/token"),
            revocation: Some(fixed("https://oauth2.googleapis.com/revoke")),
            userinfo: Some(fixed("https://openidconnect.googleapis.com/v1/userinfo")),
        }
    }

    /// `web_base` is `https://github.com` (or a GitHub Enterprise Server host).
    pub fn github(web_base: &str, api_base: &str) -> Result<Endpoints, String> {
        let w = web_base.trim_end_matches('/');
        Ok(Endpoints {
            device_authorization: endpoint_url(&format!("{w}/login/device/code"))?,
            token: endpoint_url(&format!("{w}/login/oauth/access_token"))?,
            revocation: None,
            userinfo: Some(ProviderKind::GitHub.userinfo_url(api_base)?),
        })
    }

    /// Okta: a custom authorization server issuer (`https://x.okta.com/oauth2/default`) or the org
    /// authorization server (`https://x.okta.com`), whose endpoints sit under `/oauth2/v1`.
    pub fn okta(issuer: &str) -> Result<Endpoints, String> {
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
        })
    }

    /// Auth0: `domain` is `tenant.eu.auth0.com` (https implied) or a full base URL.
    pub fn auth0(domain: &str) -> Result<Endpoints, String> {
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
        })
    }
}

fn fixed(s: &str) -> Url {
    Url::parse(s).expect("built-in endpoint URLs are valid")
}

/// Parse an endpoint URL and insist on https, except for loopback hosts (tests, the demo, a
/// sidecar talking to a local IdP). A token sent over plain http to a remote host is a leak.
pub fn endpoint_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s.trim()).map_err(|e| format!("'{s}' is not a valid URL ({e})"))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(format!(
            "'{s}' uses plain http; only https is allowed (http only for 127.0.0.1, ::1 or localhost)"
        )),
        other => Err(format!("'{s}' has unsupported scheme '{other}'")),
    }
}

pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Domains whose hosts may serve a provider's verification page.
fn builtin_verification_domains(kind: ProviderKind) -> &'static [&'static str] {
    match kind {
        ProviderKind::Microsoft => &[
            "microsoft.com",
            "microsoftonline.com",
            "live.com",
            "microsoftonline.us",
            "microsoft.us",
            "partner.microsoftonline.cn",
        ],
        ProviderKind::Google => &["google.com"],
        ProviderKind::GitHub => &["github.com"],
        _ => &[],
    }
}

/// Device-code phishing defence: the page the person is sent to must be https (http only on
/// loopback) and belong to the provider — its well-known domains, the hosts of the configured
/// endpoints (issuer, device and token endpoints), or an explicit allowlist. A device
/// authorization response pointing anywhere else is refused before any code is shown.
pub fn check_verification_uri(
    kind: ProviderKind,
    endpoints: &Endpoints,
    extra_hosts: &[String],
    uri: &str,
) -> Result<(), String> {
    let url = endpoint_url(uri)?;
    let host = url
        .host_str()
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        .ok_or_else(|| format!("'{uri}' has no host"))?;
    let mut allowed: Vec<String> = builtin_verification_domains(kind)
        .iter()
        .map(|d| d.to_string())
        .collect();
    for u in [&endpoints.device_authorization, &endpoints.token] {
        if let Some(h) = u.host_str() {
            allowed.push(h.to_ascii_lowercase());
        }
    }
    allowed.extend(extra_hosts.iter().map(|h| h.trim().to_ascii_lowercase()));
    let ok = allowed
        .iter()
        .any(|d| !d.is_empty() && (host == *d || host.ends_with(&format!(".{d}"))));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the provider sent a verification page on '{host}', which does not belong to it (allowed: {}); refusing to show the code. A tampered endpoint is how device-code phishing works; if the host is genuine, add it to verification_hosts",
            allowed.join(", ")
        ))
    }
}

/// One app registration at one provider.
#[derive(Clone, Debug)]
pub struct Provider {
    pub kind: ProviderKind,
    pub endpoints: Endpoints,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub scopes: Vec<String>,
    /// Extra device-authorization parameters, e.g. Auth0's `audience`.
    pub device_params: Vec<(String, String)>,
}

impl Provider {
    pub fn scope_string(&self) -> String {
        self.scopes.join(" ")
    }
}

/// Google's device flow accepts only a short list of scopes (docs/providers.md, "Google
/// scopes"). Anything else fails at the device endpoint with `invalid_scope`, so sidekey refuses
/// it before any request.
pub mod google {
    pub const ALLOWED_SCOPES: [&str; 7] = [
        "openid",
        "email",
        "profile",
        "https://www.googleapis.com/auth/drive.appdata",
        "https://www.googleapis.com/auth/drive.file",
        "https://www.googleapis.com/auth/youtube",
        "https://www.googleapis.com/auth/youtube.readonly",
    ];

    /// Expand a short name (`drive.file`) to Google's full scope URL.
    pub fn expand(scope: &str) -> String {
        match scope {
            "openid" | "email" | "profile" => scope.to_string(),
            s if s.starts_with("https://") => s.to_string(),
            s => format!("https://www.googleapis.com/auth/{s}"),
        }
    }

    /// Expand every scope and refuse any that Google does not allow for this flow.
    pub fn check_scopes(scopes: &[String]) -> Result<Vec<String>, String> {
        let expanded: Vec<String> = scopes.iter().map(|s| expand(s)).collect();
        let refused: Vec<&str> = scopes
            .iter()
            .zip(&expanded)
            .filter(|(_, full)| !ALLOWED_SCOPES.contains(&full.as_str()))
            .map(|(short, _)| short.as_str())
            .collect();
        if refused.is_empty() {
            return Ok(expanded);
        }
        Err(format!(
            "Google's device flow does not allow the scope{} {}; allowed: openid, email, profile, drive.file, drive.appdata, youtube, youtube.readonly",
            if refused.len() > 1 { "s" } else { "" },
            refused.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn okta_custom_and_org_servers() {
        let c = Endpoints::okta("https://dev-1.okta.com/oauth2/default").unwrap();
        assert_eq!(
            c.device_authorization.as_str(),
            "https://dev-1.okta.com/oauth2/default/v1/device/authorize"
        );
        let o = Endpoints::okta("https://dev-1.okta.com/").unwrap();
        assert_eq!(o.token.as_str(), "https://dev-1.okta.com/oauth2/v1/token");
    }

    #[test]
    fn auth0_domain_or_url() {
        let e = Endpoints::auth0("acme.eu.auth0.com").unwrap();
        assert_eq!(
            e.device_authorization.as_str(),
            "https://acme.eu.auth0.com/oauth/device/code"
        );
        assert!(Endpoints::auth0("http://evil.example").is_err());
    }

    #[test]
    fn http_only_for_loopback() {
        assert!(endpoint_url("http://127.0.0.1:9/x").is_ok());
        assert!(endpoint_url("http://[::1]:9/x").is_ok());
        assert!(endpoint_url("http://localhost/x").is_ok());
        assert!(endpoint_url("http://login.example.com/x").is_err());
        assert!(endpoint_url("ftp://x/").is_err());
        assert!(endpoint_url("not a url").is_err());
    }

    #[test]
    fn verification_hosts() {
        let ms = Endpoints::microsoft(
            "https://login.microsoftonline.com/common",
            "https://graph.microsoft.com/v1.0",
        )
        .unwrap();
        let ok = |u: &str| check_verification_uri(ProviderKind::Microsoft, &ms, &[], u);
        assert!(ok("https://microsoft.com/devicelogin").is_ok());
        assert!(ok("https://login.microsoftonline.com/device").is_ok());
        assert!(ok("https://microsoft.com.evil.example/devicelogin").is_err());
        assert!(ok("https://evilmicrosoft.com/devicelogin").is_err());
        assert!(ok("http://microsoft.com/devicelogin").is_err());
        let g = Endpoints::google();
        assert!(
            check_verification_uri(
                ProviderKind::Google,
                &g,
                &[],
                "https://www.google.com/device"
            )
            .is_ok()
        );
        assert!(
            check_verification_uri(
                ProviderKind::Google,
                &g,
                &[],
                "https://www.g00gle.com/device"
            )
            .is_err()
        );
        let okta = Endpoints::okta("https://dev-1.okta.com/oauth2/default").unwrap();
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

    #[test]
    fn google_scopes() {
        let ok = google::check_scopes(&["openid".into(), "drive.file".into()]).unwrap();
        assert_eq!(ok[1], "https://www.googleapis.com/auth/drive.file");
        let err = google::check_scopes(&["email".into(), "drive".into(), "gmail.readonly".into()])
            .unwrap_err();
        assert!(err.contains("drive, gmail.readonly"), "{err}");
        assert!(err.contains("allowed: openid"), "{err}");
    }
}
