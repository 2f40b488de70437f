//! A validated account and how it becomes a [`Provider`]: its endpoints (discovered at sign-in
//! for `oidc`, else known from the config), its client and its scopes.

use super::services::DriveSettings;
use crate::error::Failure;
use sidekey_flow::provider::{Endpoints, ProviderKind, endpoint_url};
use sidekey_flow::{Http, Provider, Secret};
use std::sync::Arc;

/// A validated account.
#[derive(Clone, Debug)]
pub struct Account {
    pub name: String,
    pub kind: ProviderKind,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub scopes: Vec<String>,
    pub device_params: Vec<(String, String)>,
    /// Endpoints known without the network (everything but `oidc` discovery). Shared by the
    /// accounts of a file whose settings make the same ones (a file of thousands of accounts
    /// holds each set once).
    pub endpoints: Option<Arc<Endpoints>>,
    /// For `oidc`: the issuer to discover, plus any explicit overrides.
    pub issuer: Option<String>,
    /// Shared, as `endpoints`, by the accounts of a file that override none.
    pub overrides: Arc<Overrides>,
    pub api_base: Option<String>,
    /// Google: the YouTube Data API root, when not the default (tests, proxies).
    pub youtube_api_base: Option<String>,
    pub token_env: Vec<String>,
    /// Extra hosts allowed to serve the verification page.
    pub verification_hosts: Vec<String>,
    /// The git hosts (`host` or `host:port`, lowercase) whose HTTPS credentials
    /// `sidekey git-credential` answers with this account's token (GitHub: `github.com`).
    pub git_hosts: Vec<String>,
    /// The user name git sends with the token (GitHub: `x-access-token`).
    pub git_username: String,
    pub policy: crate::policy::Policy,
    /// How this account signs in (`flow = "device" | "code"`).
    pub flow: SignInFlow,
    /// Google Drive settings (`[accounts.NAME.drive]`; defaults when absent, shared by the
    /// accounts of a file that have none).
    pub drive: Arc<DriveSettings>,
}

/// The sign-in method of an account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SignInFlow {
    /// RFC 8628 device authorization grant (the default).
    #[default]
    Device,
    /// Authorization code + PKCE with a loopback redirect or a pasted-back URL.
    Code,
}

impl Account {
    /// The scopes as this account's sign-in method requests them.
    pub fn normalize_scopes(&self, scopes: Vec<String>) -> Result<Vec<String>, String> {
        normalize_for(self.kind, self.flow, scopes)
    }
}

pub(super) fn normalize_for(
    kind: ProviderKind,
    flow: SignInFlow,
    scopes: Vec<String>,
) -> Result<Vec<String>, String> {
    match flow {
        SignInFlow::Device => kind.dialect().normalize_scopes(scopes),
        SignInFlow::Code => kind.dialect().normalize_code_scopes(scopes),
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    pub device_authorization: Option<url::Url>,
    pub token: Option<url::Url>,
    pub revocation: Option<url::Url>,
    pub userinfo: Option<url::Url>,
    pub authorization: Option<url::Url>,
}

pub(super) fn apply(mut e: Endpoints, o: &Overrides) -> Endpoints {
    if let Some(u) = &o.device_authorization {
        e.device_authorization = u.clone();
    }
    if let Some(u) = &o.token {
        e.token = u.clone();
    }
    if let Some(u) = &o.revocation {
        e.revocation = Some(u.clone());
    }
    if let Some(u) = &o.userinfo {
        e.userinfo = Some(u.clone());
    }
    if let Some(u) = &o.authorization {
        e.authorization = Some(u.clone());
    }
    e
}

impl Account {
    /// The full provider description; `oidc` accounts run discovery here (network).
    pub async fn resolve(&self, http: &Http) -> Result<Provider, Failure> {
        let endpoints = match (&self.endpoints, &self.issuer) {
            (Some(e), _) => Endpoints::clone(e),
            (None, Some(issuer)) => {
                match (&self.overrides.device_authorization, &self.overrides.token) {
                    (Some(d), Some(t)) => apply(
                        Endpoints {
                            device_authorization: d.clone(),
                            token: t.clone(),
                            revocation: None,
                            userinfo: None,
                            authorization: None,
                        },
                        &self.overrides,
                    ),
                    // Each configured endpoint overrides its discovered one; discovery fills
                    // in only the rest (a configured one may be missing from the document).
                    (device, token) => apply(
                        sidekey_flow::client::discover_with(
                            http,
                            issuer,
                            device.as_ref(),
                            token.as_ref(),
                        )
                        .await
                        .map_err(Failure::from_flow)?,
                        &self.overrides,
                    ),
                }
            }
            (None, None) => return Err(Failure::internal("account without endpoints")),
        };
        Ok(Provider {
            kind: self.kind,
            endpoints,
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            scopes: self.scopes.clone(),
            device_params: self.device_params.clone(),
            api_base: self.api_base.clone(),
        })
    }

    /// The provider for refresh and revocation, using the endpoints stored at sign-in when the
    /// config cannot name them without discovery.
    pub fn provider_with(
        &self,
        token: &str,
        revocation: Option<&str>,
    ) -> Result<Provider, Failure> {
        let endpoints = match &self.endpoints {
            Some(e) => Endpoints::clone(e),
            None => {
                let t = endpoint_url(token).map_err(Failure::config)?;
                apply(
                    Endpoints {
                        device_authorization: t.clone(),
                        token: t,
                        revocation: revocation.and_then(|r| endpoint_url(r).ok()),
                        userinfo: None,
                        authorization: None,
                    },
                    &Overrides {
                        device_authorization: None,
                        ..Overrides::clone(&self.overrides)
                    },
                )
            }
        };
        Ok(Provider {
            kind: self.kind,
            endpoints,
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            scopes: self.scopes.clone(),
            device_params: self.device_params.clone(),
            api_base: self.api_base.clone(),
        })
    }
}
