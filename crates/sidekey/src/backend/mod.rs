//! Where a command's work happens, chosen once per process: [`Backend::Local`] (this process
//! owns the vault) or [`Backend::Remote`] (client mode: `SIDEKEY_URL` names a daemon). Every
//! command in [`crate::cli`] is written once against this enum.
//!
//! Every local call passes through the guard ([`guard::operate`]) with this process's
//! [`Caller`] (the person at the terminal, or an MCP client); remote ones pass through the
//! daemon's guard.

pub mod guard;
pub mod local;
pub mod remote;
pub mod stored;

pub use guard::{Call, Caller, Done};
pub use local::Local;
pub use remote::Remote;

use crate::api::{
    Health, LoginProgress, LoginRequest, LoginStarted, LogoutReply, OpReply, OpRequest, OpsReply,
    StatusReply, TokenReply,
};
use crate::context::Context;
use crate::env;
use crate::error::Failure;
use crate::signin::{Mode, Stop};
use std::sync::Arc;
use std::time::Duration;

pub enum Backend {
    /// This process owns the vault; its calls are the caller's. Shared: the daemon's MCP
    /// endpoint serves each request with the daemon's own `Local` and that request's caller.
    Local(Arc<Local>, Caller),
    Remote(Remote),
}

impl Backend {
    /// `SIDEKEY_URL` set: the daemon it names (with the key from `SIDEKEY_API_KEY_FILE`);
    /// otherwise this process, with the config and vault of this machine.
    pub fn from_env() -> Result<Backend, Failure> {
        Backend::from_env_for(None)
    }

    /// As [`Backend::from_env`]; `only`: the command is about this one account, so locally only
    /// its part of the config is read in full ([`Context::from_env_for`]).
    pub fn from_env_for(only: Option<&str>) -> Result<Backend, Failure> {
        match env::text(env::SIDEKEY_URL) {
            Some(url) => {
                let key_file = env::path(env::SIDEKEY_API_KEY_FILE).ok_or_else(|| {
                    Failure::config("SIDEKEY_URL is set but SIDEKEY_API_KEY_FILE is not")
                })?;
                let key = crate::context::read_api_key(&key_file)?;
                Ok(Backend::Remote(Remote::new(url.trim(), key)?))
            }
            None => Ok(Backend::Local(
                Arc::new(Local::new(
                    match only {
                        Some(name) => Context::from_env_for(name)?,
                        None => Context::from_env()?,
                    },
                    Stop::never(),
                )),
                Caller::Person,
            )),
        }
    }

    /// The same backend with calls made by `caller` (`sidekey mcp`: the agent, not the person).
    pub fn called_by(self, caller: Caller) -> Backend {
        match self {
            Backend::Local(l, _) => Backend::Local(l, caller),
            remote => remote,
        }
    }

    /// The local context, when there is one (commands that need the config itself).
    pub fn local(&self) -> Option<&Local> {
        match self {
            Backend::Local(l, _) => Some(l.as_ref()),
            Backend::Remote(_) => None,
        }
    }

    /// Run `call` through the guard (locally; the daemon runs its own for remote calls).
    async fn guarded<T>(
        l: &Local,
        caller: &Caller,
        call: Call,
        pick: impl FnOnce(Done) -> Option<T>,
    ) -> Result<T, Failure> {
        guard::expect(guard::operate(l, caller, call).await?, pick)
    }

    /// Record a refusal made before a call could be made (an MCP tool's arguments), in this
    /// process's audit log or, in client mode, the daemon's.
    pub async fn refused(&self, op: &str, failure: &Failure) {
        let call = Call::Refused {
            op: op.to_string(),
            account: None,
            failure: failure.clone(),
        };
        match self {
            Backend::Local(l, caller) => {
                let _ = guard::operate(l, caller, call).await;
            }
            Backend::Remote(r) => r.refused(op, failure).await,
        }
    }

    pub async fn status(&self, only: Option<&str>) -> Result<StatusReply, Failure> {
        match self {
            Backend::Local(l, c) => {
                let call = Call::Status {
                    account: only.map(str::to_owned),
                };
                Self::guarded(l, c, call, |d| match d {
                    Done::Status(r) => Some(r),
                    _ => None,
                })
                .await
            }
            Backend::Remote(r) => r.status(only).await,
        }
    }

    /// Start or join a sign-in. Through the daemon the daemon always polls, so `Handover`
    /// is the same as `Fresh` there. `replace_identity` (`login --replace-identity`) is the
    /// person's, on the machine that holds the vault: refused in client mode.
    pub async fn login(
        &self,
        req: &LoginRequest,
        mode: Mode,
        replace_identity: bool,
    ) -> Result<LoginStarted, Failure> {
        match self {
            Backend::Local(l, c) => {
                let call = Call::Login {
                    req: req.clone(),
                    mode,
                    replace_identity,
                };
                Self::guarded(l, c, call, |d| match d {
                    Done::Started(r) => Some(r),
                    _ => None,
                })
                .await
            }
            Backend::Remote(_) if replace_identity => Err(Failure::usage(format!(
                "--replace-identity is the person's act on the machine that holds the vault: run `sidekey login {} --replace-identity` there (not through the daemon, SIDEKEY_URL)",
                req.account
            ))),
            Backend::Remote(r) => r.login(req).await,
        }
    }

    /// Hand a pasted redirect URL to `name`'s waiting code-flow sign-in.
    pub async fn login_redirect(&self, name: &str, url: &str) -> Result<LoginStarted, Failure> {
        match self {
            Backend::Local(l, c) => {
                let call = Call::Redirect {
                    account: name.to_string(),
                    url: url.to_string(),
                };
                Self::guarded(l, c, call, |d| match d {
                    Done::Started(r) => Some(r),
                    _ => None,
                })
                .await
            }
            Backend::Remote(r) => r.login_redirect(name, url).await,
        }
    }

    pub async fn login_progress(
        &self,
        name: &str,
        wait: Duration,
    ) -> Result<LoginProgress, Failure> {
        match self {
            Backend::Local(l, c) => {
                let call = Call::Progress {
                    account: name.to_string(),
                    wait,
                };
                Self::guarded(l, c, call, |d| match d {
                    Done::Progress(r) => Some(r),
                    _ => None,
                })
                .await
            }
            Backend::Remote(r) => r.login_progress(name, wait).await,
        }
    }

    /// Let this process's part of a sign-in finish (notifications, handover) before exiting,
    /// and say how it ended.
    pub async fn settle(&self, name: &str) -> Result<(), Failure> {
        match self {
            Backend::Local(l, _) => l.signins.settle(name).await,
            Backend::Remote(_) => Ok(()),
        }
    }

    pub async fn token(&self, name: &str) -> Result<TokenReply, Failure> {
        self.token_for(name, None).await
    }

    /// A token for `purpose` (git, an OpenClaw secret, `exec`): the audit entry names it.
    pub async fn token_for(
        &self,
        name: &str,
        purpose: Option<&crate::api::TokenPurpose>,
    ) -> Result<TokenReply, Failure> {
        match self {
            Backend::Local(l, c) => {
                let call = Call::Token {
                    account: name.to_string(),
                    purpose: purpose.cloned(),
                };
                Self::guarded(l, c, call, |d| match d {
                    Done::Token(r) => Some(r),
                    _ => None,
                })
                .await
            }
            Backend::Remote(r) => r.token_for(name, purpose).await,
        }
    }

    pub async fn logout(&self, name: &str) -> Result<LogoutReply, Failure> {
        match self {
            Backend::Local(l, c) => {
                let call = Call::Logout {
                    account: name.to_string(),
                };
                Self::guarded(l, c, call, |d| match d {
                    Done::Logout(r) => Some(r),
                    _ => None,
                })
                .await
            }
            Backend::Remote(r) => r.logout(name).await,
        }
    }

    pub async fn operate(&self, req: &OpRequest) -> Result<OpReply, Failure> {
        match self {
            Backend::Local(l, c) => {
                Self::guarded(l, c, Call::Op(req.clone()), |d| match d {
                    Done::Op(r) => Some(r),
                    _ => None,
                })
                .await
            }
            Backend::Remote(r) => r.operate(req).await,
        }
    }

    /// Every operation with the accounts whose policy allows it.
    pub async fn allowed_ops(&self) -> Result<OpsReply, Failure> {
        match self {
            Backend::Local(l, c) => {
                Self::guarded(l, c, Call::Ops, |d| match d {
                    Done::Ops(r) => Some(r),
                    _ => None,
                })
                .await
            }
            Backend::Remote(r) => r.allowed_ops().await,
        }
    }

    pub async fn health(&self) -> Result<Health, Failure> {
        match self {
            Backend::Local(..) => Err(Failure::usage(
                "health asks a daemon: set SIDEKEY_URL or give --socket",
            )),
            Backend::Remote(r) => r.health().await,
        }
    }
}
