//! Where each provider's endpoints live, and the provider an account talks to.
//!
//! A [`Provider`] is everything the flow needs to talk to one app registration: the endpoints, the
//! client credentials, the scopes and any extra device-request parameters (Auth0's `audience`).
//! What differs between providers (URL layouts, quirks, defaults) lives in [`crate::dialect`],
//! one file per provider; [`ProviderKind`] is the plain name of one of them.

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
    Aws,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 8] = [
        ProviderKind::Microsoft,
        ProviderKind::Google,
        ProviderKind::GitHub,
        ProviderKind::Okta,
        ProviderKind::Auth0,
        ProviderKind::Oidc,
        ProviderKind::Generic,
        ProviderKind::Aws,
    ];

    /// The config name (`provider = "microsoft"`), from the kind's [`crate::dialect::Dialect`].
    pub fn name(self) -> &'static str {
        self.dialect().name()
    }

    pub fn parse(s: &str) -> Option<ProviderKind> {
        ProviderKind::ALL.into_iter().find(|k| k.name() == s)
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
    /// Where the person approves an authorization-code + PKCE sign-in (`flow = "code"`):
    /// the dialect's known URL, discovery's `authorization_endpoint`, or the config's.
    pub authorization: Option<Url>,
}

/// Parse an endpoint URL and insist on https, except for loopback hosts (tests, the demo, a
/// sidecar talking to a local IdP). A token sent over plain http to a remote host is a leak.
///
/// Error messages name the URL by [`shown_url`] only: a config's webhook URL or issuer may carry
/// credentials (`https://user:password@host`, a token in the path or query).
pub fn endpoint_url(s: &str) -> Result<Url, String> {
    let url =
        Url::parse(s.trim()).map_err(|e| format!("'{}' is not a valid URL ({e})", shown_url(s)))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(format!(
            "'{}' uses plain http; only https is allowed (http only for 127.0.0.1, ::1 or localhost)",
            shown_url(s)
        )),
        other => Err(format!(
            "'{}' has unsupported scheme '{}'",
            shown_url(s),
            crate::response::one_line(other, 20)
        )),
    }
}

/// A URL as it may be shown in a message: its origin (`scheme://host:port`), with `/…` when it
/// had a path, query or fragment, never its userinfo, path or query (where webhook tokens and
/// passwords live). Text that does not parse as a URL shows as its scheme and `…` at most.
pub fn shown_url(s: &str) -> String {
    let s = s.trim();
    let Ok(url) = Url::parse(s) else {
        return match s.split_once("://") {
            Some((scheme, _))
                if !scheme.is_empty()
                    && scheme.len() <= 20
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
            {
                format!("{scheme}://…")
            }
            _ => "…".to_string(),
        };
    };
    let scheme = url.scheme();
    let mut out = match url.host_str() {
        Some(h) => match url.port() {
            Some(p) => format!("{scheme}://{h}:{p}"),
            None => format!("{scheme}://{h}"),
        },
        None => format!("{scheme}:"),
    };
    let more = (url.path() != "/" && !url.path().is_empty())
        || url.query().is_some()
        || url.fragment().is_some();
    if more {
        out.push_str("/…");
    }
    out
}

pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
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
    // The URL parser drops tabs and line breaks inside a URL: what is checked must be exactly
    // what is shown, one URL and nothing else.
    let uri = crate::response::shown_uri(uri, "verification URI")?;
    let url = endpoint_url(&uri)?;
    let host = url
        .host_str()
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        .ok_or_else(|| format!("'{}' has no host", shown_url(&uri)))?;
    let mut allowed: Vec<String> = kind
        .dialect()
        .verification_domains()
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
    /// The provider's API (GitHub's REST API, Microsoft Graph); `None`: the dialect's default.
    pub api_base: Option<String>,
}

impl Provider {
    pub fn scope_string(&self) -> String {
        self.scopes.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn shown_urls_carry_no_credentials() {
        assert_eq!(
            shown_url("https://u:pw@hooks.example:8443/services/T0/B0/XXXX?k=v#f"),
            "https://hooks.example:8443/…"
        );
        assert_eq!(
            shown_url("https://idp.example.com"),
            "https://idp.example.com"
        );
        assert_eq!(shown_url("https://u:p w@[bad/x"), "https://…");
        assert_eq!(shown_url("no url at all: secret"), "…");
        let e = endpoint_url("http://u:pw@idp.example.com/secret").unwrap_err();
        assert!(!e.contains("pw") && !e.contains("secret"), "{e}");
    }
}
