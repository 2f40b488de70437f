//! Re-sealing every record under the ring's current key (`sidekey vault rotate-key`), while
//! other processes keep reading and writing the vault (docs/fleet.md, "Rotating the key").
//!
//! * **Database**: each row not sealed with the current key is read `FOR UPDATE`, opened with
//!   the key its key id names, sealed with the current key for its next version and committed:
//!   one small transaction per row, so a daemon waits at most for one row's re-seal.
//! * **Files**: each sealed file (records, slots, rescues, the key check) is opened under its
//!   account's lock, sealed with the current key and replaced in one rename, as every write.
//!
//! Passes repeat until one finds nothing left to re-seal: a process that had not read the new
//! key file yet may have written a record with the old key meanwhile. It reads the key file
//! when it meets the first record under the new key (src/keys.rs), so the passes end.

use crate::{
    KEYCHECK_PLAINTEXT, Vault, VaultError, aad, io_err, open_sealed, read_limited, rescue_aad,
    row_aad, seal_sealed, write_atomic,
};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Passes before giving up on a writer that keeps using an old key.
const MAX_PASSES: usize = 20;
/// The pause between passes, for such a writer to read its key file.
const PAUSE: Duration = Duration::from_millis(200);

/// What [`Vault::reseal_all`] did.
#[derive(Debug)]
pub struct Resealed {
    /// Records sealed again (the same record twice if a process wrote it with an old key
    /// between two passes).
    pub records: usize,
    /// Passes over the vault, the last one finding nothing left.
    pub passes: usize,
    /// The id of the key every record is now sealed with.
    pub key_id: String,
}

impl Vault {
    /// Re-seal every record that is not sealed with the ring's current key. The ring must hold
    /// the keys the records were sealed with (a record under a key it lacks stops the rotation,
    /// named, with nothing lost: what was re-sealed opens with the current key).
    pub fn reseal_all(&self) -> Result<Resealed, VaultError> {
        let key_id = self.keys.get().current().0.to_string();
        let mut records = 0;
        for pass in 1..=MAX_PASSES {
            if pass > 1 {
                std::thread::sleep(PAUSE);
            }
            let done = if self.db.is_some() {
                self.reseal_rows(&key_id)?
            } else {
                self.reseal_files()?
            };
            if done == 0 {
                return Ok(Resealed {
                    records,
                    passes: pass,
                    key_id,
                });
            }
            records += done;
        }
        Err(VaultError::Store(format!(
            "records are still written with an older key after {MAX_PASSES} passes: a process keeps an old key file (give every daemon the new one), then run `sidekey vault rotate-key --finish`"
        )))
    }

    /// One pass over the rows not under `key_id`; how many were re-sealed.
    fn reseal_rows(&self, key_id: &str) -> Result<usize, VaultError> {
        let store = &self.db()?.store;
        let done = Arc::new(AtomicUsize::new(0));
        for name in store.names_not_under(key_id)? {
            let (me, n, done2) = (self.clone(), name.clone(), done.clone());
            store.rewrite(&name, move |row| {
                let Some(row) = row else { return Ok(None) }; // deleted meanwhile
                let ciphers = me.keys.get();
                let (current, cipher) = ciphers.current();
                if row.key_id == current {
                    return Ok(None); // a writer with the new key got there first
                }
                let mut plain = me.open_row(&n, &row)?;
                let sealed = seal_sealed(cipher, &plain, &row_aad(&n, row.version + 1), &n);
                zeroize::Zeroize::zeroize(&mut plain);
                done2.fetch_add(1, Ordering::Relaxed);
                Ok(Some((current.to_string(), sealed?)))
            })??;
        }
        Ok(done.load(Ordering::Relaxed))
    }

    /// One pass over the sealed files; how many were re-sealed.
    fn reseal_files(&self) -> Result<usize, VaultError> {
        let mut done = 0;
        {
            let _lock = self.lock_file("keycheck")?;
            let check = self.dir.join("keycheck");
            done += self.reseal_file(&check, &aad("keycheck"))?;
            if read_limited(&check)?.is_none() {
                // Opened without a check: the rotated vault gets one under the new key.
                let sealed = self.seal_bytes(KEYCHECK_PLAINTEXT, "keycheck")?;
                write_atomic(&check, &sealed)?;
            }
        }
        for (dir, rescue) in [(self.accounts_dir(), false), (self.rescue_dir(), true)] {
            let mut stems: Vec<String> = Vec::new();
            for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
                let entry = entry.map_err(io_err(&dir))?;
                if let Some(stem) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".sealed"))
                {
                    stems.push(stem.to_string());
                }
            }
            stems.sort();
            for stem in stems {
                // `ACCOUNT` and `ACCOUNT.SLOT` are written under ACCOUNT's lock, as rescues.
                let account = stem.split('.').next().unwrap_or(&stem);
                if crate::check_name(account).is_err() {
                    continue; // not a file the vault wrote
                }
                let _lock = self.lock_file(account)?;
                let aad = if rescue {
                    aad(&rescue_aad(account))
                } else {
                    aad(&stem)
                };
                done += self.reseal_file(&dir.join(format!("{stem}.sealed")), &aad)?;
            }
        }
        Ok(done)
    }

    /// Re-seal one file with the current key unless it already is; 1 if it was re-sealed.
    fn reseal_file(&self, path: &Path, aad: &[u8]) -> Result<usize, VaultError> {
        let Some(bytes) = read_limited(path)? else {
            return Ok(0); // removed meanwhile
        };
        let ciphers = self.keys.get();
        if open_sealed(ciphers.current().1, &bytes, aad).is_some() {
            return Ok(0);
        }
        let mut plain = self
            .open_with_aad(&bytes, aad)
            .ok_or_else(|| VaultError::Corrupt(path.to_path_buf()))?;
        let sealed = self.seal_sealed_file(&plain, aad);
        zeroize::Zeroize::zeroize(&mut plain);
        write_atomic(path, &sealed?)?;
        Ok(1)
    }

    fn seal_sealed_file(&self, plain: &[u8], aad: &[u8]) -> Result<Vec<u8>, VaultError> {
        seal_sealed(self.keys.get().current().1, plain, aad, "a sealed file")
    }
}
