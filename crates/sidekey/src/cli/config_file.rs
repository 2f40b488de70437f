//! Rewriting the config file for a command that edits it (`sidekey telegram setup`, `sidekey
//! agents add`): in one rename, where a symlinked config points.

use crate::error::Failure;
use std::io::Write;
use std::path::Path;

/// Replace the config at `path` with `text` in one rename (a new file is made 0600; an existing
/// one keeps its mode). A config that is a symlink (dotfiles) is rewritten where it points, the
/// link kept.
pub fn replace(path: &Path, text: &str) -> Result<(), Failure> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        sidekey_vault::create_private_dir(dir)?;
    }
    let mut opts = atomic_write_file::OpenOptions::new();
    if !path.exists() {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let write = || -> std::io::Result<()> {
        let mut f = opts.open(&target)?;
        f.write_all(text.as_bytes())?;
        f.commit()
    };
    write().map_err(|e| Failure::config(format!("cannot write {}: {e}", path.display())))
}
