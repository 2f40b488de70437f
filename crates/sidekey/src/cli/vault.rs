//! `sidekey vault rotate-key`: a new vault key, and every record sealed again with it while
//! daemons keep serving (docs/fleet.md, "Rotating the key"). The person's act, on a machine
//! that holds the vault and its key file; never through the daemon's API.

use crate::cli::output;
use crate::context::Context;
use crate::error::Failure;
use sidekey_vault::{Key, KeyRing, Vault};
use std::io::Write;
use std::path::Path;

/// Rotate: write the key file with the new key first and the old ones after it (so every
/// reader opens records of both), then re-seal every record with the new key. `finish`: no
/// new key, only the re-seal (an interrupted rotation, or a key file given to every daemon
/// by hand first).
pub fn rotate_key(new_key: Option<&Path>, finish: bool) -> Result<(), Failure> {
    let ctx = Context::from_env()?;
    let source = ctx.key_source();
    let Some(file) = source.file().map(Path::to_path_buf) else {
        return Err(Failure::config(
            "the vault key comes from SIDEKEY_VAULT_KEY, which sidekey cannot rewrite: put it in a file (SIDEKEY_VAULT_KEY_FILE or [vault] key_file) and rotate then",
        ));
    };
    if !file.exists() {
        return Err(Failure::config(format!(
            "no vault key yet ({}): there is nothing to rotate",
            source.describe()
        )));
    }
    // The keys as they are must open the vault before anything is changed.
    ctx.vault()?;
    let (ring, _) = ctx.key()?;
    let ring = match (finish, new_key) {
        (true, _) => ring,
        (false, given) => {
            let new = match given {
                Some(p) => {
                    let text = std::fs::read_to_string(p).map_err(|e| {
                        Failure::config(format!("cannot read the new key {}: {e}", p.display()))
                    })?;
                    Key::parse(&text)
                        .map_err(|e| Failure::config(format!("{}: {e}", p.display())))?
                }
                None => Key::generate()?,
            };
            let ring = ring.with_current(new);
            write_key_file(&file, &ring)?;
            ring
        }
    };
    let vault = match ctx.store_url()? {
        Some(url) => {
            Vault::open_postgres_ring(url.expose(), "the PostgreSQL vault", &ring, Some(&file))?
        }
        None => Vault::open_ring(&ctx.vault_dir(), &ring, Some(&file))?,
    };
    let done = vault.reseal_all()?;
    output::line(&format!(
        "every record of {} is sealed with key {} ({} re-sealed, {} pass{})",
        vault.dir().display(),
        done.key_id,
        done.records,
        done.passes,
        if done.passes == 1 { "" } else { "es" }
    ))?;
    let old: Vec<String> = ring.ids().into_iter().skip(1).collect();
    if !old.is_empty() {
        output::line(&format!(
            "{} holds the new key first and the older ones after it ({}): give every daemon of the fleet this file; once they all have it, the older lines can go",
            file.display(),
            old.join(", ")
        ))?;
    }
    Ok(())
}

/// Replace the key file in one rename, 0600, where a symlink points. Nothing is re-sealed
/// before this succeeded, so a file that cannot be written (a read-only secret mount) changes
/// nothing.
fn write_key_file(path: &Path, ring: &KeyRing) -> Result<(), Failure> {
    use std::os::unix::fs::OpenOptionsExt;
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut opts = atomic_write_file::OpenOptions::new();
    opts.mode(0o600);
    let write = || -> std::io::Result<()> {
        let mut f = opts.open(&target)?;
        f.write_all(ring.to_file_text().as_bytes())?;
        f.commit()
    };
    write().map_err(|e| {
        Failure::config(format!(
            "cannot write the key file {} ({e}): nothing was changed; make it writable, or write the new key first and the old one after it into it yourself and run `sidekey vault rotate-key --finish`",
            path.display()
        ))
    })
}
