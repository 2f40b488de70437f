//! Where a command's work happens, chosen once per process: [`Backend::Local`] (this process
//! owns the vault) or [`Backend::Remote`] (client mode: `SIDEKEY_URL` names a daemon). Every
//! command in [`crate::cli`] is written once against this enum.
//!
//! Local calls are audited here (caller `cli uid=N`); remote ones are audited by the daemon.

pub mod local;
pub mod remote;

pub use local::Local;
pub use remote::Remote;

use crate::api::{
    Health, LoginProgress, LoginRequest, LoginStarted, LogoutReply, OpReply, OpRequest, OpsReply,
    StatusReply, TokenReply,
};
use crate::audit;
use crate::context::Context;
use crate::env;
use crate::error::Failure;
use crate::signin::{Mode, Stop};
use std::time::{Duration, Instant};

pub enum Backend {
    Local(Local),
    Remote(Remote),
}

impl Backend {
    /// `SIDEKEY_URL` set: the daemon it names (with the key from `SIDEKEY_API_KEY_FILE`);
    /// otherwise this process, with the config and vault of this machine.
    pub fn from_env() -> Result<Backend, Failure> {
        match env::text(env::SIDEKEY_URL) {
            Some(url) => {
                let key_file = env::path(env::SIDEKEY_API_KEY_FILE).ok_or_else(|| {
                    Failure::config("SIDEKEY_URL is set but SIDEKEY_API_KEY_FILE is not")
                })?;
                let key = crate::daemon::read_api_key(&key_file)?;
                Ok(Backend::Remote(Remote::new(url.trim(), key)?))
            }
            None => Ok(Backend::Local(Local::new(
                Context::from_env()?,
                Stop::never(),
            ))),
        }
    }

    /// The local context, when there is one (commands that need the config itself).
    pub fn local(&self) -> Option<&Local> {
        match self {
            Backend::Local(l) => Some(l),
            Backend::Remote(_) => None,
        }
    }

    /// Record a local call in the audit log (the daemon records its own).
    pub fn audit(
        &self,
        op: &str,
        account: Option<&str>,
        args: serde_json::Value,
        started: Instant,
        result: &Result<(), Failure>,
    ) {
        if let Backend::Local(l) = self
            && l.ctx.home.exists()
        {
            audit::record(
                &l.ctx.home,
                &audit::local_caller(),
                account,
                op,
                args,
                started,
                result,
            );
        }
    }

    pub async fn status(&self, only: Option<&str>) -> Result<StatusReply, Failure> {
        match self {
            Backend::Local(l) => l.status(only).await,
            Backend::Remote(r) => r.status(only).await,
        }
    }

    /// Start or join a sign-in. Through the daemon the daemon always polls, so `Handover`
    /// is the same as `Fresh` there.
    pub async fn login(&self, req: &LoginRequest, mode: Mode) -> Result<LoginStarted, Failure> {
        match self {
            Backend::Local(l) => l.login(req, mode).await,
            Backend::Remote(r) => r.login(req).await,
        }
    }

    /// Hand a pasted redirect URL to `name`'s waiting code-flow sign-in.
    pub async fn login_redirect(&self, name: &str, url: &str) -> Result<LoginStarted, Failure> {
        match self {
            Backend::Local(l) => l.login_redirect(name, url).await,
            Backend::Remote(r) => r.login_redirect(name, url).await,
        }
    }

    pub async fn login_progress(
        &self,
        name: &str,
        wait: Duration,
    ) -> Result<LoginProgress, Failure> {
        match self {
            Backend::Local(l) => l.login_progress(name, wait).await,
            Backend::Remote(r) => r.login_progress(name, wait).await,
        }
    }

    /// Let this process's part of a sign-in finish (notifications, handover) before exiting,
    /// and say how it ended.
    pub async fn settle(&self, name: &str) -> Result<(), Failure> {
        match self {
            Backend::Local(l) => l.signins.settle(name).await,
            Backend::Remote(_) => Ok(()),
        }
    }

    pub async fn token(&self, name: &str) -> Result<TokenReply, Failure> {
        self.token_for(name, None).await
    }

    /// A token for `purpose` (git, an OpenClaw secret): the daemon audits the purpose; locally
    /// the caller does (see [`Backend::audit`]).
    pub async fn token_for(
        &self,
        name: &str,
        purpose: Option<&crate::api::TokenPurpose>,
    ) -> Result<TokenReply, Failure> {
        match self {
            Backend::Local(l) => l.token(name).await,
            Backend::Remote(r) => r.token_for(name, purpose).await,
        }
    }

    pub async fn logout(&self, name: &str) -> Result<LogoutReply, Failure> {
        match self {
            Backend::Local(l) => l.logout(name).await,
            Backend::Remote(r) => r.logout(name).await,
        }
    }

    pub async fn operate(&self, req: &OpRequest) -> Result<OpReply, Failure> {
        match self {
            Backend::Local(l) => l.operate(req).await,
            Backend::Remote(r) => r.operate(req).await,
        }
    }

    /// Every operation with the accounts whose policy allows it.
    pub async fn allowed_ops(&self) -> Result<OpsReply, Failure> {
        match self {
            Backend::Local(l) => Ok(l.allowed_ops()),
            Backend::Remote(r) => r.allowed_ops().await,
        }
    }

    pub async fn health(&self) -> Result<Health, Failure> {
        match self {
            Backend::Local(_) => Err(Failure::usage(
                "health asks a daemon: set SIDEKEY_URL or give --socket",
            )),
            Backend::Remote(r) => r.health().await,
        }
    }
}
