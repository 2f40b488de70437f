//! How a service fake (Graph, Drive/Docs, YouTube) checks a bearer token against the fake
//! authorization server(s) it trusts, as the real service checks a token against the identity
//! platform that issued it.
//!
//! # Why
//!
//! A service fake that accepts any non-empty bearer token cannot catch a client that sends the
//! token from before a refresh, an expired one, another account's or another client's, and a
//! fake that takes its scopes from its own options cannot catch a client that calls without
//! the scope the person actually granted. [`TokenVerifier`] (from [`crate::FakeIdp::verifier`])
//! answers, for one token, what the issuing server knows ([`TokenStatus`]); [`Gate`] turns the
//! answers of the trusted servers into the service's decision, and each fake renders that in
//! the service's own 401/403 shape (docs/graph.md, "Errors"; docs/google-drive.md and
//! docs/youtube.md, "Errors"; docs/providers.md, "Service tokens").
//!
//! # Deliberate simplifications
//!
//! * A fake holds the data of one person: the trusting server's configured user. A valid token
//!   of anyone else is refused with the 401 of an unknown token. The real service would answer
//!   with *that* person's data; refusing it makes a client that mixes up accounts fail loudly.
//! * A token another server issued (another client, another provider) is unknown here: 401.
//! * An access token that a refresh has superseded stays valid until it expires, as access
//!   tokens at Google and Entra do (neither revokes them on refresh); [`TokenGrant::superseded`]
//!   lets a test see it. The GitHub App dialect kills them on refresh, which shows as `Revoked`.

use std::sync::Arc;
use std::time::Instant;

use crate::state::{AccessInfo, Shared};

/// What an authorization server knows about a bearer token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenStatus {
    /// It did not issue it.
    Unknown,
    /// It issued it and its lifetime is over.
    Expired,
    /// Revoked, invalidated ([`crate::FakeIdp::invalidate_access_tokens`]), or killed by
    /// refresh-token rotation (GitHub App).
    Revoked,
    /// Live.
    Valid(TokenGrant),
}

/// The grant behind a live access token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenGrant {
    /// The client it was issued to.
    pub client_id: String,
    /// The `login` of the person it is for.
    pub user: String,
    /// What the person granted, as the scopes were requested (consent-page unticks left out,
    /// the server's [`crate::Options::granted_extra_scopes`] added).
    pub scopes: Vec<String>,
    /// A refresh has since issued a newer access token of the same grant.
    pub superseded: bool,
}

/// A live view of one [`crate::FakeIdp`]'s access tokens, for the service fakes.
#[derive(Clone)]
pub struct TokenVerifier {
    shared: Arc<Shared>,
}

impl TokenVerifier {
    pub(crate) fn new(shared: Arc<Shared>) -> TokenVerifier {
        TokenVerifier { shared }
    }

    /// What the server knows about `token` right now.
    pub fn check(&self, token: &str) -> TokenStatus {
        let info = self
            .shared
            .lock()
            .inspect_access(&self.shared, token, Instant::now());
        match info {
            AccessInfo::Unknown => TokenStatus::Unknown,
            AccessInfo::Expired => TokenStatus::Expired,
            AccessInfo::Revoked => TokenStatus::Revoked,
            AccessInfo::Valid {
                scopes,
                user,
                superseded,
            } => TokenStatus::Valid(TokenGrant {
                client_id: self.shared.opts.client_id.clone(),
                user: user.unwrap_or_else(|| self.shared.opts.user.clone()).login,
                scopes,
                superseded,
            }),
        }
    }

    /// The client the server issues tokens to.
    pub fn client_id(&self) -> &str {
        &self.shared.opts.client_id
    }

    /// The `login` of the server's configured user: whose data a trusting service fake holds.
    pub fn owner(&self) -> &str {
        &self.shared.opts.user.login
    }
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("base", &self.shared.base)
            .field("client_id", &self.shared.opts.client_id)
            .finish()
    }
}

/// Why a service refuses a request's token (each fake renders it in its service's words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// No bearer token at all.
    Missing,
    /// A trusted server issued it; it has expired.
    Expired,
    /// Unknown to every trusted server and not on the fixed list, revoked, or another
    /// person's.
    Invalid,
}

/// A token the service accepts.
#[derive(Clone, Debug)]
pub(crate) enum Admitted {
    /// A trusted server vouches for it: the grant's scopes decide, and `tag` (the app or
    /// project the fake was told the server is) says whose it is.
    Grant { tag: String, grant: TokenGrant },
    /// On the fixed list ([`Gate::fixed`]): the fake's options decide the scopes.
    Listed,
    /// Nothing trusted and no list: any non-empty token (benches and ad-hoc use only).
    Anyone,
}

/// The token check of one service fake: the servers it trusts, and a fixed list of tokens for
/// tests that use the fake without a server.
#[derive(Default)]
pub(crate) struct Gate {
    pub trusted: Vec<(TokenVerifier, String)>,
    /// `Some(list)`: these tokens are accepted as well, with the options' scopes.
    pub fixed: Option<Vec<String>>,
    /// Every token is refused as invalid, however good (see `refuse_all_tokens` of the fakes).
    pub refuse_all: bool,
}

impl Gate {
    /// Whether the fake checks tokens at all (a trusted server or a fixed list).
    pub fn strict(&self) -> bool {
        !self.trusted.is_empty() || self.fixed.is_some()
    }

    pub fn admit(&self, token: Option<&str>) -> Result<Admitted, Refused> {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Err(Refused::Missing);
        };
        if self.refuse_all {
            return Err(Refused::Invalid);
        }
        for (v, tag) in &self.trusted {
            match v.check(token) {
                TokenStatus::Unknown => continue,
                TokenStatus::Expired => return Err(Refused::Expired),
                TokenStatus::Revoked => return Err(Refused::Invalid),
                TokenStatus::Valid(grant) if grant.user == v.owner() => {
                    return Ok(Admitted::Grant {
                        tag: tag.clone(),
                        grant,
                    });
                }
                TokenStatus::Valid(_) => return Err(Refused::Invalid),
            }
        }
        match &self.fixed {
            Some(list) if list.iter().any(|t| t == token) => Ok(Admitted::Listed),
            _ if self.strict() => Err(Refused::Invalid),
            _ => Ok(Admitted::Anyone),
        }
    }
}

/// `granted` narrowed to `only` (a fake's `granted_scopes` option, compared with `norm`), when
/// given: what a trusted grant leaves to a test that makes the service disagree with it.
pub(crate) fn narrowed(
    granted: Vec<String>,
    only: Option<&Vec<String>>,
    norm: impl Fn(&str) -> String,
) -> Vec<String> {
    match only {
        None => granted,
        Some(only) => {
            let only: Vec<String> = only
                .iter()
                .flat_map(|s| s.split_whitespace())
                .map(&norm)
                .collect();
            granted
                .into_iter()
                .filter(|g| only.contains(&norm(g)))
                .collect()
        }
    }
}
