//! Where things live, resolved once per command: the config file, `$SIDEKEY_HOME`, the vault key.
//!
//! * Home: `$SIDEKEY_HOME`, else `$XDG_DATA_HOME/sidekey`, else `~/.local/share/sidekey`.
//! * Config: `$SIDEKEY_CONFIG`, else `$XDG_CONFIG_HOME/sidekey/config.toml`, else
//!   `~/.config/sidekey/config.toml`.
//! * Vault key: `[vault] key_file`, else `$SIDEKEY_VAULT_KEY_FILE`, else `$SIDEKEY_VAULT_KEY`,
//!   else a key file generated at `$SIDEKEY_HOME/vault.key` (0600) — which `sidekey doctor`
//!   points out, because a key next to the data protects only against leaking the data alone.

use crate::config::Config;
use crate::failure::Failure;
use sidekey_vault::{Key, Vault};
use std::path::{Path, PathBuf};

pub struct Context {
    pub home: PathBuf,
    pub config: Config,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    ConfigFile(PathBuf),
    EnvFile(PathBuf),
    Env,
    Generated(PathBuf),
}

impl KeySource {
    pub fn describe(&self) -> String {
        match self {
            KeySource::ConfigFile(p) => format!("key_file {} (from the config)", p.display()),
            KeySource::EnvFile(p) => format!("SIDEKEY_VAULT_KEY_FILE {}", p.display()),
            KeySource::Env => "SIDEKEY_VAULT_KEY".into(),
            KeySource::Generated(p) => format!("generated key file {}", p.display()),
        }
    }
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn home_dir() -> Option<PathBuf> {
    env_path("HOME")
}

pub fn default_home() -> Result<PathBuf, Failure> {
    env_path("SIDEKEY_HOME")
        .or_else(|| env_path("XDG_DATA_HOME").map(|p| p.join("sidekey")))
        .or_else(|| home_dir().map(|h| h.join(".local/share/sidekey")))
        .ok_or_else(|| Failure::config("cannot locate a home for sidekey: set SIDEKEY_HOME"))
}

pub fn default_config_path() -> Result<PathBuf, Failure> {
    env_path("SIDEKEY_CONFIG")
        .or_else(|| env_path("XDG_CONFIG_HOME").map(|p| p.join("sidekey/config.toml")))
        .or_else(|| home_dir().map(|h| h.join(".config/sidekey/config.toml")))
        .ok_or_else(|| Failure::config("cannot locate the config: set SIDEKEY_CONFIG"))
}

impl Context {
    pub fn from_env() -> Result<Context, Failure> {
        let config = Config::load(&default_config_path()?)?;
        Ok(Context {
            home: default_home()?,
            config,
        })
    }

    pub fn vault_dir(&self) -> PathBuf {
        self.home.join("vault")
    }

    /// Which key source applies, without reading it.
    pub fn key_source(&self) -> KeySource {
        if let Some(p) = &self.config.key_file {
            KeySource::ConfigFile(p.clone())
        } else if let Some(p) = env_path("SIDEKEY_VAULT_KEY_FILE") {
            KeySource::EnvFile(p)
        } else if std::env::var_os("SIDEKEY_VAULT_KEY").is_some_and(|v| !v.is_empty()) {
            KeySource::Env
        } else {
            KeySource::Generated(self.home.join("vault.key"))
        }
    }

    pub fn key(&self) -> Result<(Key, KeySource), Failure> {
        let source = self.key_source();
        let read = |p: &Path, what: &str| -> Result<Key, Failure> {
            let text = std::fs::read_to_string(p).map_err(|e| {
                Failure::config(format!(
                    "cannot read the vault key ({what} {}): {e}",
                    p.display()
                ))
            })?;
            Key::parse(&text).map_err(|e| Failure::config(format!("{what} {}: {e}", p.display())))
        };
        let key = match &source {
            KeySource::ConfigFile(p) => read(p, "key_file")?,
            KeySource::EnvFile(p) => read(p, "SIDEKEY_VAULT_KEY_FILE")?,
            KeySource::Env => {
                let v = std::env::var("SIDEKEY_VAULT_KEY")
                    .map_err(|_| Failure::config("SIDEKEY_VAULT_KEY is not valid UTF-8"))?;
                Key::parse(&v).map_err(|e| Failure::config(format!("SIDEKEY_VAULT_KEY: {e}")))?
            }
            KeySource::Generated(p) => {
                if !self.vault_dir().join("keycheck").exists() || p.exists() {
                    sidekey_vault::create_private_dir(&self.home)?;
                    sidekey_vault::load_or_create_key_file(p)?.0
                } else {
                    return Err(Failure::config(format!(
                        "the vault in {} exists but its key file {} is gone and no other key is configured (key_file, SIDEKEY_VAULT_KEY_FILE or SIDEKEY_VAULT_KEY); refusing to create a new key",
                        self.vault_dir().display(),
                        p.display()
                    )));
                }
            }
        };
        Ok((key, source))
    }

    pub fn vault(&self) -> Result<Vault, Failure> {
        sidekey_vault::create_private_dir(&self.home)?;
        let (key, _) = self.key()?;
        Ok(Vault::open(&self.vault_dir(), &key)?)
    }
}
