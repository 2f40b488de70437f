//! `[server]`: where the daemon listens and finds its API key.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `[server]`: the daemon.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    api_key_file: Option<String>,
    socket: Option<String>,
    listen: Option<String>,
}

#[derive(Debug, Default, Clone)]
pub struct Server {
    pub api_key_file: Option<PathBuf>,
    pub socket: Option<PathBuf>,
    pub listen: Option<String>,
}

impl Server {
    /// Files are named relative to the config's folder, `base`.
    pub(super) fn from_raw(raw: RawServer, base: &Path) -> Server {
        Server {
            api_key_file: raw.api_key_file.map(|f| base.join(f)),
            socket: raw.socket.map(PathBuf::from),
            listen: raw.listen,
        }
    }
}
