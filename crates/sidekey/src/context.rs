//! Where things live, resolved once per process: the config file, `$SIDEKEY_HOME`, the vault key
//! — and the two things every command shares once made: the open vault and the one HTTP client
//! (made on first use, so `sidekey token` with a cached token never builds TLS).
//!
//! * Home: `$SIDEKEY_HOME`, else `$XDG_DATA_HOME/sidekey`, else `~/.local/share/sidekey`.
//! * Config: `$SIDEKEY_CONFIG`, else `$XDG_CONFIG_HOME/sidekey/config.toml`, else
//!   `~/.config/sidekey/config.toml`.
//! * Vault key: `[vault] key_file`, else `$SIDEKEY_VAULT_KEY_FILE`, else `$SIDEKEY_VAULT_KEY`,
//!   else a key file generated at `$SIDEKEY_HOME/vault.key` (0600) — which `sidekey doctor`
//!   points out, because a key next to the data protects only against leaking the data alone.

use crate::config::Config;
use crate::env;
use crate::error::Failure;
use sidekey_flow::{Http, HttpOptions, Secret};
use sidekey_vault::{Key, KeyRing, Vault};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub struct Context {
    pub home: PathBuf,
    pub config: Config,
    vault: OnceLock<Vault>,
    http: OnceLock<Http>,
    /// The daemon's refreshed records the vault refused to store, held in memory (with their
    /// account's lock) until a retry stores them; `None` outside the daemon, where such a
    /// record goes to the vault's rescue folder instead ([`crate::account::Unsaved`]).
    pub unsaved: Option<crate::account::Unsaved>,
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

    /// The key file, if the key comes from one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            KeySource::ConfigFile(p) | KeySource::EnvFile(p) | KeySource::Generated(p) => Some(p),
            KeySource::Env => None,
        }
    }
}

fn home_dir() -> Option<PathBuf> {
    env::path(env::HOME)
}

pub fn default_home() -> Result<PathBuf, Failure> {
    env::path(env::SIDEKEY_HOME)
        .or_else(|| env::path(env::XDG_DATA_HOME).map(|p| p.join("sidekey")))
        .or_else(|| home_dir().map(|h| h.join(".local/share/sidekey")))
        .ok_or_else(|| Failure::config("cannot locate a home for sidekey: set SIDEKEY_HOME"))
}

pub fn default_config_path() -> Result<PathBuf, Failure> {
    env::path(env::SIDEKEY_CONFIG)
        .or_else(|| env::path(env::XDG_CONFIG_HOME).map(|p| p.join("sidekey/config.toml")))
        .or_else(|| home_dir().map(|h| h.join(".config/sidekey/config.toml")))
        .ok_or_else(|| Failure::config("cannot locate the config: set SIDEKEY_CONFIG"))
}

/// What to do when the config file is missing: the path was given (`SIDEKEY_CONFIG`), so it is
/// probably mistyped; or it is the default place, and there is no config yet.
pub fn missing_config(path: &Path) -> Failure {
    if env::is_set(env::SIDEKEY_CONFIG) {
        Failure::config(format!(
            "SIDEKEY_CONFIG names {}, which does not exist: fix the path, or unset SIDEKEY_CONFIG to use the default place",
            path.display()
        ))
    } else {
        Failure::config(format!(
            "no config file at {}: create it with your accounts (deploy/config.example.toml is a start; every key is in docs/config.md), or point SIDEKEY_CONFIG at yours; `sidekey demo` tries sidekey without one",
            path.display()
        ))
    }
}

impl Context {
    /// The config (which must exist: a missing one is [`missing_config`], exit 2) and the home.
    pub fn from_env() -> Result<Context, Failure> {
        let ctx = Context::from_env_allow_missing()?;
        if !ctx.config.exists {
            return Err(missing_config(&ctx.config.path));
        }
        Ok(ctx)
    }

    /// As [`Context::from_env`] for a command about account `name` alone: only that account
    /// of the config is read in full ([`Config::load_for`]).
    pub fn from_env_for(name: &str) -> Result<Context, Failure> {
        let config = Config::load_for(&default_config_path()?, name)?;
        if !config.exists {
            return Err(missing_config(&config.path));
        }
        Ok(Context::new(default_home()?, config))
    }

    /// As [`Context::from_env`], with a missing config read as an empty one: for `doctor`
    /// (which reports it) and `health` (which needs only the socket's default place).
    pub fn from_env_allow_missing() -> Result<Context, Failure> {
        let config = Config::load(&default_config_path()?)?;
        Ok(Context::new(default_home()?, config))
    }

    pub fn new(home: PathBuf, config: Config) -> Context {
        Context {
            home,
            config,
            vault: OnceLock::new(),
            http: OnceLock::new(),
            unsaved: None,
        }
    }

    /// This context with its HTTP client given instead of made on first use (the demo's, which
    /// talks to its own loopback fakes only and so ignores proxy settings).
    pub fn with_http(self, http: Http) -> Context {
        let _ = self.http.set(http);
        self
    }

    /// The process's one HTTP client (rustls, embedded roots, the config's timeout, bounded
    /// bodies), made on first use.
    pub fn http(&self) -> Result<&Http, Failure> {
        if let Some(h) = self.http.get() {
            return Ok(h);
        }
        let made = Http::new(HttpOptions {
            timeout: self.config.http_timeout,
            ..HttpOptions::default()
        })
        .map_err(Failure::from_flow)?;
        Ok(self.http.get_or_init(|| made))
    }

    pub fn vault_dir(&self) -> PathBuf {
        self.home.join("vault")
    }

    /// Which key source applies, without reading it.
    pub fn key_source(&self) -> KeySource {
        if let Some(p) = &self.config.key_file {
            KeySource::ConfigFile(p.clone())
        } else if let Some(p) = env::path(env::SIDEKEY_VAULT_KEY_FILE) {
            KeySource::EnvFile(p)
        } else if env::is_set(env::SIDEKEY_VAULT_KEY) {
            KeySource::Env
        } else {
            KeySource::Generated(self.home.join("vault.key"))
        }
    }

    /// The vault's keys (a key file may hold older keys after the current one: a rotation,
    /// docs/fleet.md) and where they came from.
    pub fn key(&self) -> Result<(KeyRing, KeySource), Failure> {
        let source = self.key_source();
        let read = |p: &Path, what: &str| -> Result<KeyRing, Failure> {
            let text = std::fs::read_to_string(p).map_err(|e| {
                Failure::config(format!(
                    "cannot read the vault key ({what} {}): {e}",
                    p.display()
                ))
            })?;
            KeyRing::parse(&text)
                .map_err(|e| Failure::config(format!("{what} {}: {e}", p.display())))
        };
        let key = match &source {
            KeySource::ConfigFile(p) => read(p, "key_file")?,
            KeySource::EnvFile(p) => read(p, "SIDEKEY_VAULT_KEY_FILE")?,
            KeySource::Env => {
                let v = std::env::var(env::SIDEKEY_VAULT_KEY)
                    .map_err(|_| Failure::config("SIDEKEY_VAULT_KEY is not valid UTF-8"))?;
                KeyRing::single(
                    Key::parse(&v)
                        .map_err(|e| Failure::config(format!("SIDEKEY_VAULT_KEY: {e}")))?,
                )
            }
            KeySource::Generated(p) => {
                if !self.vault_dir().join("keycheck").exists() || p.exists() {
                    sidekey_vault::create_private_dir(&self.home)?;
                    // A generated file made before rotation existed holds one key; one rotated
                    // since holds the ring.
                    if p.exists() {
                        read(p, "key file")?
                    } else {
                        KeyRing::single(sidekey_vault::load_or_create_key_file(p)?.0)
                    }
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

    /// The configured notification channels (Telegram, webhook, ntfy) on the shared client.
    pub fn channels(&self) -> Result<sidekey_notify::Channels, Failure> {
        let n = &self.config.notify;
        Ok(sidekey_notify::Channels::new(
            self.http()?.client().clone(),
            n.telegram.as_ref().map(|t| sidekey_notify::TelegramConfig {
                bot_token: t.bot_token.expose().to_string(),
                chat_id: t.chat_id.clone(),
                api_base: t.api_base.clone(),
            }),
            n.webhook.as_ref().map(|w| sidekey_notify::WebhookConfig {
                url: w.url.clone(),
                bearer: w.bearer.as_ref().map(|b| b.expose().to_string()),
            }),
            n.ntfy.as_ref().map(|x| sidekey_notify::NtfyConfig {
                server: x.server.clone(),
                topic: x.topic.clone(),
                token: x.token.as_ref().map(|t| t.expose().to_string()),
            }),
        ))
    }

    /// The vault if one exists, without creating anything (no home, no key file, no vault):
    /// `status` of a machine that never signed in reads it as empty.
    pub fn existing_vault(&self) -> Result<Option<Vault>, Failure> {
        if self.vault.get().is_none() && self.store_url()?.is_none() && !self.vault_dir().exists() {
            return Ok(None);
        }
        self.vault().map(Some)
    }

    /// The key if one can be read, without generating one: `None` when the key would be
    /// generated by the first sign-in (no key configured, no key file yet).
    pub fn existing_key(&self) -> Result<Option<(KeyRing, KeySource)>, Failure> {
        match self.key_source() {
            KeySource::Generated(p) if !p.exists() => Ok(None),
            _ => self.key().map(Some),
        }
    }

    /// The vault, opened (and its key checked) once per process.
    pub fn vault(&self) -> Result<Vault, Failure> {
        if let Some(v) = self.vault.get() {
            return Ok(v.clone());
        }
        sidekey_vault::create_private_dir(&self.home)?;
        let (ring, source) = self.key()?;
        // A key file is read again when a record needs a key the ring lacks: the daemon picks
        // up a rotation (`sidekey vault rotate-key`) without a restart.
        let file = source.file();
        let v = match self.store_url()? {
            Some(url) => {
                Vault::open_postgres_ring(url.expose(), "the PostgreSQL vault", &ring, file)?
            }
            None => Vault::open_ring(&self.vault_dir(), &ring, file)?,
        };
        // A fleet's entries go to its shared table from here on.
        crate::audit::to_database(&v);
        Ok(self.vault.get_or_init(|| v).clone())
    }
}

impl Context {
    /// The vault's PostgreSQL URL: `[vault] store`, else the file `SIDEKEY_VAULT_STORE_FILE`
    /// names; `None` for the file vault.
    pub fn store_url(&self) -> Result<Option<Secret>, Failure> {
        if let Some(s) = &self.config.store {
            return Ok(Some(s.clone()));
        }
        let Some(p) = env::path(env::SIDEKEY_VAULT_STORE_FILE) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(&p).map_err(|e| {
            Failure::config(format!(
                "cannot read SIDEKEY_VAULT_STORE_FILE {}: {e}",
                p.display()
            ))
        })?;
        crate::config::store_url(&text)
            .map(Some)
            .map_err(|m| Failure::config(format!("SIDEKEY_VAULT_STORE_FILE {}: {m}", p.display())))
    }
}

pub fn api_key_path(ctx: &Context) -> Option<PathBuf> {
    ctx.config
        .server
        .api_key_file
        .clone()
        .or_else(|| env::path(env::SIDEKEY_API_KEY_FILE))
}

pub fn read_api_key(path: &Path) -> Result<Secret, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::config(format!(
            "cannot read the API key file {}: {e}",
            path.display()
        ))
    })?;
    let key = text.trim();
    if key.len() < 16 {
        return Err(Failure::config(format!(
            "the API key in {} is shorter than 16 characters (make one with `openssl rand -base64 32`)",
            path.display()
        )));
    }
    Ok(Secret::new(key))
}
