//! Every environment variable sidekey reads, each a named constant with what it does. Nothing else
//! in the crate spells a variable name; read them through [`path`] and [`text`], which treat an
//! empty value as unset (a compose file's `FOO=` means "not given").

use std::path::PathBuf;

/// Where sidekey keeps its vault, audit log and socket. Default `$XDG_DATA_HOME/sidekey`, else
/// `~/.local/share/sidekey`.
pub const SIDEKEY_HOME: &str = "SIDEKEY_HOME";
/// The config file. Default `$XDG_CONFIG_HOME/sidekey/config.toml`, else
/// `~/.config/sidekey/config.toml`.
pub const SIDEKEY_CONFIG: &str = "SIDEKEY_CONFIG";
/// A file holding the vault key (e.g. a Docker secret); `[vault] key_file` takes precedence.
pub const SIDEKEY_VAULT_KEY_FILE: &str = "SIDEKEY_VAULT_KEY_FILE";
/// A file holding the URL of the vault's PostgreSQL store (`postgres://…`, which may carry a
/// password), when the config names no `[vault] store`.
pub const SIDEKEY_VAULT_STORE_FILE: &str = "SIDEKEY_VAULT_STORE_FILE";
/// The vault key itself (base64 of 32 bytes), when no key file is named.
pub const SIDEKEY_VAULT_KEY: &str = "SIDEKEY_VAULT_KEY";
/// Client mode: the daemon to talk to, `unix:///run/sidekey/sidekey.sock` or `http://host:port`.
pub const SIDEKEY_URL: &str = "SIDEKEY_URL";
/// Client mode: `1` allows `SIDEKEY_URL=http://…` to a host that is not loopback. The API key
/// then travels in cleartext; without this, such a URL is refused (exit 2). Loopback
/// (`127.0.0.1`, `::1`, `localhost`) and `unix://` need nothing.
pub const SIDEKEY_ALLOW_PLAIN_HTTP: &str = "SIDEKEY_ALLOW_PLAIN_HTTP";
/// The file holding the daemon's API key: read by the daemon (unless `[server] api_key_file`)
/// and by clients in client mode.
pub const SIDEKEY_API_KEY_FILE: &str = "SIDEKEY_API_KEY_FILE";
/// The daemon's unix socket; beats `[server] socket`. Default `$SIDEKEY_HOME/sidekey.sock`.
pub const SIDEKEY_SOCKET: &str = "SIDEKEY_SOCKET";
/// Telegram bot token, when `[notify.telegram]` names none (as in the original write-up).
pub const TELEGRAM_BOT_TOKEN: &str = "TELEGRAM_BOT_TOKEN";
/// Telegram chat to send codes to, when `[notify.telegram]` names none.
pub const TELEGRAM_CHAT_ID: &str = "TELEGRAM_CHAT_ID";
/// Set (to anything but empty) to print without colours (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";
/// XDG base directories and the home directory, for the defaults above.
pub const XDG_DATA_HOME: &str = "XDG_DATA_HOME";
pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";
pub const HOME: &str = "HOME";
/// Tests only: `1` rewrites the checked-in example skills instead of comparing them.
pub const SIDEKEY_REGENERATE_SKILLS: &str = "SIDEKEY_REGENERATE_SKILLS";
/// Tests only: `1` rewrites the README's generated operations table instead of comparing it.
pub const SIDEKEY_REGENERATE_DOCS: &str = "SIDEKEY_REGENERATE_DOCS";

/// Variables that hold sidekey's own secrets or point at them: never handed to a child of
/// `sidekey exec`.
pub const SECRETS: &[&str] = &[
    SIDEKEY_VAULT_KEY,
    SIDEKEY_VAULT_KEY_FILE,
    SIDEKEY_VAULT_STORE_FILE,
    SIDEKEY_API_KEY_FILE,
    TELEGRAM_BOT_TOKEN,
];

/// A variable's value as text; empty or non-UTF-8 counts as unset.
pub fn text(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// A variable's value as a path; empty counts as unset.
pub fn path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Whether a variable is set to something.
pub fn is_set(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| !v.is_empty())
}
