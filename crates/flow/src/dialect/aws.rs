//! AWS IAM Identity Center (SSO OIDC): its own dialect of the device flow.
//!
//! Quirks (docs/aws.md, the service model
//! `botocore/data/sso-oidc/2019-06-10/service-2.json`):
//! * There is no configured client: a public client is registered with `RegisterClient`
//!   (`POST /client/register`, `clientType = "public"`), which answers `clientId`,
//!   `clientSecret` and `clientSecretExpiresAt` (epoch seconds). The caller caches it (the vault)
//!   and registers again before it expires; the secret is a secret even though AWS calls the
//!   client public.
//! * The wire is `rest-json`: JSON bodies with camelCase members (`clientId`, `clientSecret`,
//!   `grantType`, `deviceCode`, `refreshToken`, `startUrl`) and camelCase answers
//!   (`deviceCode`, `verificationUriComplete`, `accessToken`, `expiresIn`, …) — [`Wire::AwsJson`].
//! * Errors are still OAuth-shaped, snake_case: `{"error":"authorization_pending",
//!   "error_description":…}` with HTTP 400 (`invalid_client` 401, `server_error` 500) and the
//!   shape's name in `x-amzn-ErrorType`; the classification by `error` works unchanged.
//! * Refresh tokens come only for registrations with scopes (`sso:account:access`).
//! * No discovery, no revocation endpoint, no userinfo.

use super::{
    ClientIdentity, ConfigKey, Dialect, DialectSettings, Logout, Revocation, ServiceKey,
    SettingError, Wire, required,
};
use crate::error::FlowError;
use crate::http::{Http, host_of};
use crate::provider::{Endpoints, ProviderKind, endpoint_url};
use crate::response::{describe_body, one_line, parse_object};
use crate::secret::Secret;
use crate::user::UserInfo;
use serde_json::{Map, Value, json};
use url::Url;

pub struct Aws;

/// The scope a registration asks for unless the config names others: access to the accounts
/// and roles of the portal, and what makes CreateToken return a refresh token.
pub const DEFAULT_REGISTRATION_SCOPES: &[&str] = &["sso:account:access"];

impl Dialect for Aws {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Aws
    }

    fn name(&self) -> &'static str {
        "aws"
    }

    fn display_name(&self) -> &'static str {
        "AWS IAM Identity Center"
    }

    fn default_scopes(&self) -> &'static [&'static str] {
        DEFAULT_REGISTRATION_SCOPES
    }

    fn wire(&self) -> Wire {
        Wire::AwsJson
    }

    /// `invalid_client` (401) on a refresh: the registration expired, and its refresh tokens with
    /// it; a new registration cannot use them.
    fn refresh_reauth_codes(&self) -> &'static [&'static str] {
        &["invalid_client"]
    }

    fn revocation(&self) -> Revocation {
        Revocation::Unsupported(
            "IAM Identity Center has no token revocation; sidekey ends the portal session with Logout instead",
        )
    }

    /// No configured client: a public one is registered at sign-in ([`register_client`]); the
    /// account's tokens belong to its start URL, which stands in for the client id a sign-in is
    /// checked against.
    fn client(&self) -> ClientIdentity {
        ClientIdentity::Registered {
            identity: ConfigKey::StartUrl,
        }
    }

    /// IAM Identity Center's public clients sign in with the device flow only.
    fn allows_code_flow(&self) -> bool {
        false
    }

    /// StartDeviceAuthorization's `startUrl` (sent as JSON with the client's id and secret).
    fn device_params(&self, s: &DialectSettings) -> Vec<(String, String)> {
        let start = s.start_url.as_deref().map(str::trim).unwrap_or_default();
        vec![("startUrl".to_string(), start.to_string())]
    }

    /// The one host AWS's verification page lives on (not all of amazonaws.com).
    fn verification_hosts(&self, s: &DialectSettings) -> Vec<String> {
        s.region.iter().map(|r| device_host(r)).collect()
    }

    /// The AWS access portal has no "who am I" (and wants its own bearer header); its URL gets
    /// the access token, so it must be https (or loopback) like every endpoint.
    fn userinfo_for_api_base(&self, api_base: &str) -> Result<Option<Url>, String> {
        endpoint_url(api_base)?;
        Ok(None)
    }

    /// IAM Identity Center says nothing about who signed in: name the portal.
    fn anonymous_user(&self, client_id: &str) -> Option<UserInfo> {
        Some(UserInfo {
            name: Some(format!("AWS access portal {client_id}")),
            email: None,
            // Nobody is named, so no user can be remembered: the identity of an AWS account
            // is its portal (start URL and region, from the config).
            subject: None,
        })
    }

    /// No revocation: sidekey ends the access portal session (`Logout`) and forgets the cached
    /// role credentials (the client registration stays for the next sign-in).
    fn logout(&self) -> Logout {
        Logout::EndSession
    }

    /// The Identity Center token fetches the keys of every role the person has, so exporting
    /// it would bypass `aws_roles`.
    fn refuses_token_export(&self) -> Option<&'static str> {
        Some(
            "policy allow_token_export cannot be set on an aws account: its token reaches every role the person has; list the roles the agent may use in aws_roles instead",
        )
    }

    fn service_keys(&self) -> &'static [ServiceKey] {
        &[ServiceKey::AwsRoles]
    }

    // No `verification_domains`: all of `amazonaws.com` would admit any S3 website bucket
    // (`bucket.s3-website-….amazonaws.com`) as the page to send a code to. The config adds the
    // one host the page lives on, [`device_host`].

    fn config_keys(&self) -> &'static [ConfigKey] {
        &[
            ConfigKey::StartUrl,
            ConfigKey::Region,
            ConfigKey::OidcEndpoint,
        ]
    }

    fn api_base_for(&self, s: &DialectSettings) -> Result<Option<String>, SettingError> {
        let region = region(s)?;
        Ok(Some(format!("https://portal.sso.{region}.amazonaws.com")))
    }

    fn endpoints(&self, s: &DialectSettings) -> Result<Option<Endpoints>, SettingError> {
        let start = required(&s.start_url, "aws", ConfigKey::StartUrl)?;
        endpoint_url(&start).map_err(|e| SettingError::at(ConfigKey::StartUrl, e))?;
        let base = oidc_base(s)?;
        let join = |path: &str| -> Url {
            let mut u = base.clone();
            u.set_path(&format!("{}{path}", base.path().trim_end_matches('/')));
            u
        };
        Ok(Some(Endpoints {
            device_authorization: join("/device_authorization"),
            token: join("/token"),
            revocation: None,
            userinfo: None,
            authorization: None,
        }))
    }
}

/// The Identity Center region: letters, digits and dashes only (it becomes a host name).
fn region(s: &DialectSettings) -> Result<String, SettingError> {
    let r = required(&s.region, "aws", ConfigKey::Region)?;
    let ok = r.len() <= 30
        && r.split('-').count() >= 3
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        return Err(SettingError::at(
            ConfigKey::Region,
            format!(
                "region '{}' is not an AWS region (like eu-west-1)",
                one_line(&r, 40)
            ),
        ));
    }
    Ok(r)
}

/// The host of AWS's verification page for an Identity Center region:
/// `device.sso.{region}.amazonaws.com` (docs/aws.md, "Hosts"; `.amazonaws.com.cn` in China).
pub fn device_host(region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("device.sso.{}.{suffix}", region.trim())
}

/// `oidc_endpoint` when set, else `https://oidc.{region}.amazonaws.com`.
pub fn oidc_base(s: &DialectSettings) -> Result<Url, SettingError> {
    let region = region(s)?;
    match s.oidc_endpoint.as_deref().map(str::trim) {
        Some(e) if !e.is_empty() => {
            endpoint_url(e).map_err(|m| SettingError::at(ConfigKey::OidcEndpoint, m))
        }
        _ => Ok(super::fixed(&format!(
            "https://oidc.{region}.amazonaws.com"
        ))),
    }
}

/// A registered public client (`RegisterClient`'s answer). The secret is needed on every
/// request and must never be shown.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Registration {
    pub client_id: String,
    pub client_secret: Secret,
    /// Epoch seconds.
    pub client_id_issued_at: Option<i64>,
    /// Epoch seconds: after this the secret is refused (`invalid_client`, HTTP 401).
    pub client_secret_expires_at: i64,
    /// The scopes it was registered with (a registration without scopes gives no refresh
    /// tokens).
    pub scopes: Vec<String>,
    /// The OIDC endpoint it belongs to.
    pub oidc_base: String,
}

/// `POST {base}/client/register` with `clientName`, `clientType = "public"` and `scopes`.
/// Retried on 5xx/429/`slow_down`/transport faults (it creates nothing the person sees).
pub async fn register_client(
    http: &Http,
    base: &Url,
    client_name: &str,
    scopes: &[String],
) -> Result<Registration, FlowError> {
    let mut url = base.clone();
    url.set_path(&format!(
        "{}/client/register",
        base.path().trim_end_matches('/')
    ));
    let mut body = json!({ "clientName": client_name, "clientType": "public" });
    if !scopes.is_empty() {
        body["scopes"] = json!(scopes);
    }
    let mut last = String::new();
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(500 << attempt)).await;
        }
        let req = http
            .client()
            .post(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .json(&body);
        let raw = match http.send(req).await {
            Ok(r) => r,
            Err(e) => {
                last = e;
                continue;
            }
        };
        let obj = parse_object(raw.content_type.as_deref(), &raw.body);
        if (200..300).contains(&raw.status) {
            let Some(m) = obj else {
                return Err(FlowError::Malformed(format!(
                    "RegisterClient at {} answered {}",
                    host_of(&url),
                    describe_body(raw.content_type.as_deref(), &raw.body)
                )));
            };
            return parse_registration(&m, scopes, base);
        }
        let err = obj.as_ref().and_then(crate::response::oauth_error);
        let transient = raw.status >= 500
            || raw.status == 429
            || err
                .as_ref()
                .is_some_and(|e| e.code == "slow_down" || e.is_transient());
        let what = match &err {
            Some(e) => format!(
                "{}{}",
                e.code,
                e.short_description()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ),
            None => format!("HTTP {}", raw.status),
        };
        if transient {
            last = what;
            continue;
        }
        return Err(match err {
            Some(e) => FlowError::from_oauth(&e, false),
            None => FlowError::Malformed(format!(
                "RegisterClient at {} answered HTTP {} ({})",
                host_of(&url),
                raw.status,
                describe_body(raw.content_type.as_deref(), &raw.body)
            )),
        });
    }
    Err(FlowError::Unreachable(format!(
        "RegisterClient at {} failed after 3 attempts: {last}",
        host_of(&url)
    )))
}

fn parse_registration(
    m: &Map<String, Value>,
    scopes: &[String],
    base: &Url,
) -> Result<Registration, FlowError> {
    let s = |k: &str| m.get(k).and_then(Value::as_str).filter(|v| !v.is_empty());
    let n = |k: &str| m.get(k).and_then(Value::as_i64);
    let (Some(id), Some(secret), Some(expires)) =
        (s("clientId"), s("clientSecret"), n("clientSecretExpiresAt"))
    else {
        return Err(FlowError::Malformed(
            "RegisterClient's answer lacks clientId, clientSecret or clientSecretExpiresAt".into(),
        ));
    };
    Ok(Registration {
        client_id: id.to_string(),
        client_secret: Secret::new(secret),
        client_id_issued_at: n("clientIdIssuedAt"),
        client_secret_expires_at: expires,
        scopes: scopes.to_vec(),
        oidc_base: base.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DialectSettings {
        DialectSettings {
            start_url: Some("https://d-1234567890.awsapps.com/start".into()),
            region: Some("eu-west-1".into()),
            ..Default::default()
        }
    }

    #[test]
    fn the_registered_client_and_what_the_sign_in_needs() {
        assert_eq!(
            Aws.client(),
            ClientIdentity::Registered {
                identity: ConfigKey::StartUrl
            }
        );
        assert!(!Aws.allows_code_flow());
        let s = DialectSettings {
            start_url: Some(" https://d-1234567890.awsapps.com/start ".into()),
            ..settings()
        };
        assert_eq!(
            Aws.device_params(&s),
            [(
                "startUrl".to_string(),
                "https://d-1234567890.awsapps.com/start".to_string()
            )]
        );
        assert_eq!(
            Aws.verification_hosts(&s),
            ["device.sso.eu-west-1.amazonaws.com"]
        );
        // The portal has no "who am I", but its base gets the token: https or loopback only.
        assert_eq!(
            Aws.userinfo_for_api_base("https://portal.sso.eu-west-1.amazonaws.com"),
            Ok(None)
        );
        assert!(Aws.userinfo_for_api_base("http://portal.example").is_err());
        let who = Aws.anonymous_user("https://d-1.awsapps.com/start").unwrap();
        assert_eq!(who.subject, None, "IAM Identity Center names nobody");
        assert_eq!(
            who.name.as_deref(),
            Some("AWS access portal https://d-1.awsapps.com/start")
        );
        assert_eq!(Aws.logout(), Logout::EndSession);
        assert!(Aws.refuses_token_export().unwrap().contains("aws_roles"));
        assert_eq!(Aws.service_keys(), [ServiceKey::AwsRoles]);
    }

    #[test]
    fn endpoints_from_the_region() {
        let e = Aws.endpoints(&settings()).unwrap().unwrap();
        assert_eq!(
            e.device_authorization.as_str(),
            "https://oidc.eu-west-1.amazonaws.com/device_authorization"
        );
        assert_eq!(
            e.token.as_str(),
            "https://oidc.eu-west-1.amazonaws.com/token"
        );
        assert_eq!(
            Aws.api_base_for(&settings()).unwrap().unwrap(),
            "https://portal.sso.eu-west-1.amazonaws.com"
        );
        let o = DialectSettings {
            oidc_endpoint: Some("http://127.0.0.1:9/aws/oidc".into()),
            ..settings()
        };
        let e = Aws.endpoints(&o).unwrap().unwrap();
        assert_eq!(e.token.as_str(), "http://127.0.0.1:9/aws/oidc/token");
    }

    #[test]
    fn start_url_and_region_are_required_and_checked() {
        let no_start = DialectSettings {
            start_url: None,
            ..settings()
        };
        assert!(
            Aws.endpoints(&no_start)
                .unwrap_err()
                .message
                .contains("start_url")
        );
        let bad = DialectSettings {
            region: Some("eu-west-1.evil.com/".into()),
            ..settings()
        };
        let e = Aws.endpoints(&bad).unwrap_err();
        assert_eq!(e.key, Some(ConfigKey::Region));
    }

    #[test]
    fn the_device_page_host() {
        assert_eq!(
            device_host("eu-west-1"),
            "device.sso.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            device_host("cn-north-1"),
            "device.sso.cn-north-1.amazonaws.com.cn"
        );
        assert!(Aws.verification_domains().is_empty());
    }

    #[test]
    fn registrations_need_their_three_members() {
        let base = super::super::fixed("https://oidc.eu-west-1.amazonaws.com");
        let m =
            json!({"clientId": "id", "clientSecret": "s", "clientSecretExpiresAt": 1_900_000_000});
        let r = parse_registration(
            m.as_object().unwrap(),
            &["sso:account:access".into()],
            &base,
        )
        .unwrap();
        assert_eq!(r.client_id, "id");
        assert_eq!(r.client_secret_expires_at, 1_900_000_000);
        let m = json!({"clientId": "id", "clientSecret": "s"});
        assert!(parse_registration(m.as_object().unwrap(), &[], &base).is_err());
    }
}
