//! # sidekey-vault: the encrypted token store
//!
//! One sealed file per account under `DIR/accounts/`, each encrypted with XChaCha20-Poly1305
//! (a random 24-byte nonce per write, so rewriting a file thousands of times never reuses one) and
//! bound to its account name through the AEAD's associated data, so files cannot be swapped.
//!
//! Why it is safe to use from many processes at once:
//! * **Writes are atomic**: a temp file in the same folder, fsync, rename over the old file, fsync
//!   of the folder (`atomic-write-file`). A reader or a crash sees the old file or the new one,
//!   never half of either. So plain reads need no lock.
//! * **Read-modify-write happens under an exclusive lock** on a separate, never-replaced lock file
//!   per account (std `File::lock`, i.e. `flock`). A lock on the data file itself would be lost at
//!   the first rename. [`Vault::lock`] re-reads after acquiring, which is what makes refresh
//!   single-flight: sixteen processes that all see an expired token queue on the lock, the first
//!   refreshes, the other fifteen re-read and find the new token.
//!
//! A `keycheck` file sealed with the vault key tells "wrong key" apart from "damaged file": a wrong
//! key is reported as such and never leads to a silent reset. If the check is gone while sealed
//! files exist, a key is only adopted (and the check written again) when it opens one of them.

use base64::Engine;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Serialize, de::DeserializeOwned};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use thiserror::Error;

pub mod keys;
pub mod pg;
mod rotate;

pub use keys::KeyRing;
pub use rotate::Resealed;

const MAGIC: &[u8; 4] = b"SKV1";
const NONCE_LEN: usize = 24;
const KEYCHECK_PLAINTEXT: &[u8] = b"sidekey vault key check v1";
/// Sealed files larger than this are refused rather than read into memory.
const MAX_FILE: u64 = 4 * 1024 * 1024;

#[derive(Debug, Error)]
pub enum VaultError {
    #[error(
        "the vault key does not open this vault ({0}): use the key it was created with (key_file, SIDEKEY_VAULT_KEY_FILE or SIDEKEY_VAULT_KEY)"
    )]
    WrongKey(PathBuf),
    #[error("vault file {0} is damaged or was altered; it was left untouched")]
    Corrupt(PathBuf),
    #[error("invalid vault key: {0}")]
    BadKey(String),
    #[error(
        "invalid account name '{0}': use 1-64 of a-z, 0-9, '-' and '_', starting with a letter or digit"
    )]
    BadName(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("vault record for '{account}' could not be encoded or decoded: {msg}")]
    Format { account: String, msg: String },
    #[error(
        "the vault's record '{0}' in the database is damaged or was altered; it was left untouched"
    )]
    CorruptRow(String),
    #[error(
        "the vault's record '{0}' in the database was sealed with another key (key id {1}): use the key it was sealed with"
    )]
    OtherKey(String, String),
    #[error("the vault's database: {0}")]
    Store(String),
}

impl From<pg::PgError> for VaultError {
    fn from(e: pg::PgError) -> VaultError {
        VaultError::Store(e.0)
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> VaultError + '_ {
    move |source| VaultError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A 256-bit vault key. Wiped from memory when dropped.
pub struct Key([u8; 32]);

impl Key {
    /// Parse a key as written in a key file or `SIDEKEY_VAULT_KEY`: base64 (standard or URL-safe)
    /// or hex of exactly 32 bytes, surrounding whitespace ignored.
    pub fn parse(text: &str) -> Result<Key, VaultError> {
        let t = text.trim();
        let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).unwrap_or(0))
                .collect::<Vec<u8>>()
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(t)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(t))
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t))
                .map_err(|_| {
                    VaultError::BadKey(
                        "expected 32 bytes as base64 or 64 hex characters (generate one with `openssl rand -base64 32`)".into(),
                    )
                })?
        };
        let arr: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            VaultError::BadKey(format!("the key is {} bytes long; it must be 32", b.len()))
        })?;
        Ok(Key(arr))
    }

    pub fn generate() -> Result<Key, VaultError> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k)
            .map_err(|e| VaultError::BadKey(format!("no randomness available: {e}")))?;
        Ok(Key(k))
    }

    /// A name for this key that does not reveal it: the first 8 bytes of SHA-256 over a label
    /// and the key, in hex. Stored with each database row, so a row sealed with another key
    /// is reported as such.
    pub fn id(&self) -> String {
        let mut input = b"sidekey-key-id-v1:".to_vec();
        input.extend_from_slice(&self.0);
        let d = ring::digest::digest(&ring::digest::SHA256, &input);
        zeroize::Zeroize::zeroize(&mut input);
        d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The key as base64, for writing a new key file.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key([redacted])")
    }
}

/// Load a key file, or create one (0600, in a 0700 folder) if it does not exist yet.
/// Returns the key and whether it was just created.
pub fn load_or_create_key_file(path: &Path) -> Result<(Key, bool), VaultError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok((Key::parse(&text)?, false)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                create_private_dir(parent)?;
            }
            let key = Key::generate()?;
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path);
            if let Err(e) = &f
                && e.kind() == io::ErrorKind::AlreadyExists
            {
                // Another process created it first: use theirs.
                let text = fs::read_to_string(path).map_err(io_err(path))?;
                return Ok((Key::parse(&text)?, false));
            }
            let file = f.as_mut().map_err(|e| VaultError::Io {
                path: path.to_path_buf(),
                source: io::Error::new(e.kind(), e.to_string()),
            })?;
            file.write_all(format!("{}\n", key.to_base64()).as_bytes())
                .and_then(|_| file.sync_all())
                .map_err(io_err(path))?;
            Ok((key, true))
        }
        Err(e) => Err(VaultError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

pub fn create_private_dir(path: &Path) -> Result<(), VaultError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(io_err(path))
}

/// Account names become file names, so they are restricted to a safe alphabet.
pub fn check_name(name: &str) -> Result<(), VaultError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(VaultError::BadName(name.to_string()))
    }
}

#[derive(Clone)]
pub struct Vault {
    dir: PathBuf,
    /// The key ring (current key first), read again from its file when a record needs a key
    /// it does not hold (src/keys.rs).
    keys: keys::Keys,
    /// The PostgreSQL store when the vault lives in a database (`dir` then only names it).
    db: Option<Db>,
}

/// A vault in PostgreSQL: the store and the id of the key that seals its rows.
#[derive(Clone)]
struct Db {
    store: pg::Store,
}

/// The name of the key check's row (no account or slot name starts with a colon).
const KEYCHECK_ROW: &str = ":keycheck";

/// A database row's associated data: its name and version, so a row opens only as itself and
/// at the version it was written as.
fn row_aad(name: &str, version: i64) -> Vec<u8> {
    format!("sidekey-pg-v1:{name}:{version}").into_bytes()
}

impl Vault {
    /// Open (creating if needed) the vault in `dir` with `key`. Checks the key against the
    /// vault's `keycheck` file, writing one if the vault is new.
    pub fn open(dir: &Path, key: &Key) -> Result<Vault, VaultError> {
        Vault::open_ring(dir, &KeyRing::single(Key(key.0)), None)
    }

    /// [`Vault::open`] with a key ring: records sealed with any of its keys open, writes are
    /// sealed with its current key. `key_file`, if given, is read again when a record needs a
    /// key the ring does not hold (a rotation made elsewhere).
    pub fn open_ring(
        dir: &Path,
        ring: &KeyRing,
        key_file: Option<&Path>,
    ) -> Result<Vault, VaultError> {
        create_private_dir(dir)?;
        let vault = Vault {
            dir: dir.to_path_buf(),
            keys: keys::Keys::new(ring, key_file),
            db: None,
        };
        create_private_dir(&vault.accounts_dir())?;
        create_private_dir(&vault.locks_dir())?;
        create_private_dir(&vault.rescue_dir())?;
        let check = dir.join("keycheck");
        match read_limited(&check)? {
            Some(bytes) => {
                if vault.open_bytes(&bytes, "keycheck").as_deref() != Some(KEYCHECK_PLAINTEXT) {
                    return Err(VaultError::WrongKey(dir.to_path_buf()));
                }
            }
            None => {
                let _guard = vault.lock_file("keycheck")?;
                if read_limited(&check)?.is_none() {
                    // A vault that already holds sealed files keeps the key they were sealed
                    // with: the check is only written again by a key that opens one of them.
                    vault.verify_against_sealed_files()?;
                    let sealed = vault.seal_bytes(KEYCHECK_PLAINTEXT, "keycheck")?;
                    write_atomic(&check, &sealed)?;
                }
            }
        }
        Ok(vault)
    }

    /// Open the vault in the PostgreSQL database at `url` (see [`pg`]), creating or migrating
    /// its schema, and check `key` against its key check row (written if the store is new; with
    /// rows but no check, the key must open one of them, as for files). `label` names the
    /// store in messages (never the URL, which may carry a password).
    pub fn open_postgres(url: &str, label: &str, key: &Key) -> Result<Vault, VaultError> {
        Vault::open_postgres_ring(url, label, &KeyRing::single(Key(key.0)), None)
    }

    /// [`Vault::open_postgres`] with a key ring (see [`Vault::open_ring`]).
    pub fn open_postgres_ring(
        url: &str,
        label: &str,
        ring: &KeyRing,
        key_file: Option<&Path>,
    ) -> Result<Vault, VaultError> {
        let store = pg::Store::connect(url)?;
        let vault = Vault {
            dir: PathBuf::from(label),
            keys: keys::Keys::new(ring, key_file),
            db: Some(Db { store }),
        };
        let _guard = vault.db_lock(KEYCHECK_ROW, None)?;
        match vault.db_get(KEYCHECK_ROW) {
            Ok(Some(plain)) if plain == KEYCHECK_PLAINTEXT => {}
            Ok(Some(_)) | Err(VaultError::CorruptRow(_)) | Err(VaultError::OtherKey(..)) => {
                return Err(VaultError::WrongKey(vault.dir.clone()));
            }
            Err(e) => return Err(e),
            Ok(None) => {
                let names = vault.db()?.store.names()?;
                if !names.is_empty() && !names.iter().any(|n| vault.db_get(n).is_ok()) {
                    return Err(VaultError::WrongKey(vault.dir.clone()));
                }
                vault.db_put(KEYCHECK_ROW, KEYCHECK_PLAINTEXT.to_vec())?;
            }
        }
        Ok(vault)
    }

    /// Append one audit entry (its JSON) to the database's shared audit table, naming the
    /// process that wrote it (`daemon`). Only for a database vault.
    pub fn audit_append(&self, daemon: &str, entry: &str) -> Result<(), VaultError> {
        Ok(self.db()?.store.audit_append(daemon, entry)?)
    }

    /// A page of the database's audit table: up to `limit` entries after id `after`, at or
    /// after `since` (Unix seconds), oldest first, as `(id, JSON)`. Only for a database vault.
    pub fn audit_page(
        &self,
        after: i64,
        since: Option<i64>,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, VaultError> {
        Ok(self.db()?.store.audit_page(after, since, limit)?)
    }

    /// Whether this vault lives in a database.
    pub fn is_database(&self) -> bool {
        self.db.is_some()
    }

    fn db(&self) -> Result<&Db, VaultError> {
        self.db
            .as_ref()
            .ok_or_else(|| VaultError::Store("not a database vault".into()))
    }

    /// Row `name`'s plaintext, if the row exists.
    fn db_get(&self, name: &str) -> Result<Option<Vec<u8>>, VaultError> {
        let db = self.db()?;
        let Some(row) = db.store.get(name)? else {
            return Ok(None);
        };
        self.open_row(name, &row).map(Some)
    }

    /// A row's plaintext, opened with the key its key id names (the key file read again if the
    /// ring does not hold it: a rotation made by another process).
    fn open_row(&self, name: &str, row: &pg::Row) -> Result<Vec<u8>, VaultError> {
        let mut ciphers = self.keys.get();
        if ciphers.by_id(&row.key_id).is_none()
            && let Some(newer) = self.keys.newer_than(&ciphers)
        {
            ciphers = newer;
        }
        let Some(cipher) = ciphers.by_id(&row.key_id) else {
            return Err(VaultError::OtherKey(name.into(), row.key_id.clone()));
        };
        open_sealed(cipher, &row.sealed, &row_aad(name, row.version))
            .ok_or_else(|| VaultError::CorruptRow(name.into()))
    }

    /// Seal `plain` for row `name`'s next version with the current key and commit it; `plain`
    /// is wiped. A row already sealed with a key this vault does not hold (another process
    /// rotated) makes it read its key file first, so a newer key is never overwritten by an
    /// older one.
    fn db_put(&self, name: &str, mut plain: Vec<u8>) -> Result<(), VaultError> {
        let db = self.db()?;
        let (me, n) = (self.clone(), name.to_string());
        db.store.put(name, move |version, was_key| {
            let mut ciphers = me.keys.get();
            if let Some(id) = was_key
                && ciphers.by_id(id).is_none()
                && let Some(newer) = me.keys.newer_than(&ciphers)
            {
                ciphers = newer;
            }
            let (id, cipher) = ciphers.current();
            let sealed = seal_sealed(cipher, &plain, &row_aad(&n, version), &n);
            zeroize::Zeroize::zeroize(&mut plain);
            Ok((id.to_string(), sealed?))
        })?
    }

    fn db_lock(
        &self,
        name: &str,
        wait: Option<std::time::Duration>,
    ) -> Result<Option<pg::Held>, VaultError> {
        Ok(self.db()?.store.lock(name, wait)?)
    }

    /// With no key check: if sealed files exist, this key must open at least one of them.
    /// None opening means a wrong key (or every file damaged): refused, nothing written.
    fn verify_against_sealed_files(&self) -> Result<(), VaultError> {
        let dir = self.accounts_dir();
        let mut seen = false;
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name();
            // `NAME.sealed` (aad NAME) and `NAME.SLOT.sealed` (aad NAME.SLOT).
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".sealed")) else {
                continue;
            };
            seen = true;
            if let Some(bytes) = read_limited(&entry.path())?
                && self.open_bytes(&bytes, stem).is_some()
            {
                return Ok(());
            }
        }
        if seen {
            Err(VaultError::WrongKey(self.dir.clone()))
        } else {
            Ok(())
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn accounts_dir(&self) -> PathBuf {
        self.dir.join("accounts")
    }

    fn locks_dir(&self) -> PathBuf {
        self.dir.join("locks")
    }

    fn rescue_dir(&self) -> PathBuf {
        self.dir.join("rescue")
    }

    /// Where [`AccountLock::store_rescue`] keeps a record the account's own file refused.
    pub fn rescue_path(&self, account: &str) -> PathBuf {
        self.rescue_dir().join(format!("{account}.sealed"))
    }

    pub fn account_path(&self, account: &str) -> PathBuf {
        self.accounts_dir().join(format!("{account}.sealed"))
    }

    /// Names of all accounts with a stored record.
    pub fn accounts(&self) -> Result<Vec<String>, VaultError> {
        if let Some(db) = &self.db {
            let mut names = db.store.names()?;
            names.retain(|n| check_name(n).is_ok());
            return Ok(names);
        }
        let dir = self.accounts_dir();
        let mut names = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name();
            if let Some(n) = name.to_str().and_then(|n| n.strip_suffix(".sealed"))
                && check_name(n).is_ok()
            {
                names.push(n.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Add records for accounts that have none yet, all at once: in the database in one
    /// transaction (all or, if one exists already, none), as files one atomic write each.
    /// For moving many records in (seeding a fleet's database, the scale benchmark).
    pub fn import_new<T: Serialize>(&self, records: &[(String, T)]) -> Result<(), VaultError> {
        for (name, _) in records {
            check_name(name)?;
        }
        let encode = |name: &str, r: &T| {
            serde_json::to_vec(r).map_err(|e| VaultError::Format {
                account: name.into(),
                msg: e.to_string(),
            })
        };
        let Some(db) = &self.db else {
            for (name, r) in records {
                self.lock(name)?.store(r)?;
            }
            return Ok(());
        };
        let ciphers = self.keys.get();
        let (id, cipher) = ciphers.current();
        let mut rows = Vec::with_capacity(records.len());
        for (name, r) in records {
            let mut plain = encode(name, r)?;
            let sealed = seal_sealed(cipher, &plain, &row_aad(name, 1), name);
            zeroize::Zeroize::zeroize(&mut plain);
            rows.push((name.clone(), id.to_string(), sealed?));
        }
        Ok(db.store.insert_new(rows)?)
    }

    /// Every stored record's name, accounts and their slots alike (`NAME`, `NAME.SLOT`): one
    /// folder listing (one query for the database), so a reader of many accounts opens only
    /// the records that exist instead of probing each possible one.
    pub fn stored(&self) -> Result<std::collections::HashSet<String>, VaultError> {
        if let Some(db) = &self.db {
            return Ok(db.store.names()?.into_iter().collect());
        }
        let dir = self.accounts_dir();
        let mut names = std::collections::HashSet::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            if let Some(n) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".sealed"))
            {
                names.insert(n.to_string());
            }
        }
        Ok(names)
    }

    /// What the file store's records folder looks like now, from one `stat`: every write is a
    /// rename into that folder and every removal an unlink from it, so any change another
    /// process makes changes this stamp (a file overwritten in place by hand does not: see
    /// [`Stamp`]). `None` for the database store, which has no such cheap check.
    pub fn stamp(&self) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        if self.db.is_some() {
            return None;
        }
        let m = fs::metadata(self.accounts_dir()).ok()?;
        Some(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }

    /// Read an account's record without locking. Safe because writes are atomic renames: the
    /// result is the last committed record (or none).
    pub fn load<T: DeserializeOwned>(&self, account: &str) -> Result<Option<T>, VaultError> {
        check_name(account)?;
        self.load_file(account)
    }

    /// Read one of an account's side records (e.g. a pending sign-in), lock-free like [`load`].
    ///
    /// [`load`]: Vault::load
    pub fn load_slot<T: DeserializeOwned>(
        &self,
        account: &str,
        slot: &str,
    ) -> Result<Option<T>, VaultError> {
        check_name(account)?;
        check_name(slot)?;
        self.load_file(&format!("{account}.{slot}"))
    }

    fn load_file<T: DeserializeOwned>(&self, account: &str) -> Result<Option<T>, VaultError> {
        let mut plain = if self.db.is_some() {
            let Some(plain) = self.db_get(account)? else {
                return Ok(None);
            };
            plain
        } else {
            let path = self.account_path(account);
            let Some(bytes) = read_limited(&path)? else {
                return Ok(None);
            };
            self.open_bytes(&bytes, account)
                .ok_or_else(|| VaultError::Corrupt(path.clone()))?
        };
        let record = serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|e| VaultError::Format {
                account: account.into(),
                msg: decode_error(&e),
            });
        zeroize::Zeroize::zeroize(&mut plain);
        record
    }

    /// Take the account's exclusive cross-process lock. Blocks until it is free.
    pub fn lock(&self, account: &str) -> Result<AccountLock, VaultError> {
        check_name(account)?;
        let guard = match self.db {
            Some(_) => Guard::Row(self.db_lock_waiting(account)?),
            None => Guard::File(self.lock_file(account)?),
        };
        Ok(AccountLock {
            vault: self.clone(),
            account: account.to_string(),
            _guard: guard,
        })
    }

    /// A database lock waited for as long as it takes.
    fn db_lock_waiting(&self, name: &str) -> Result<pg::Held, VaultError> {
        self.db_lock(name, None)?.ok_or_else(|| {
            VaultError::Store("an unbounded lock wait ended without the lock".into())
        })
    }

    /// [`Vault::lock`], waiting at most `limit`: `None` when another holder kept it that long
    /// (a daemon holding tokens it could not store keeps it until it can).
    pub fn lock_within(
        &self,
        account: &str,
        limit: std::time::Duration,
    ) -> Result<Option<AccountLock>, VaultError> {
        check_name(account)?;
        if self.db.is_some() {
            return Ok(self.db_lock(account, Some(limit))?.map(|held| AccountLock {
                vault: self.clone(),
                account: account.to_string(),
                _guard: Guard::Row(held),
            }));
        }
        let (file, path) = self.open_lock_file(account)?;
        let taken = |file| AccountLock {
            vault: self.clone(),
            account: account.to_string(),
            _guard: Guard::File(file),
        };
        match file.try_lock() {
            Ok(()) => return Ok(Some(taken(file))),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(&path)(e)),
        }
        // A blocking `flock` in a thread of its own, waited for at most `limit`: the waiter
        // queues in the kernel like `lock`'s (fair, and visible in /proc/locks) instead of
        // polling. Given up on, the thread still gets the lock one day and then drops it at once
        // (its send finds nobody listening).
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(format!("lock-{account}"))
            .spawn(move || {
                let got = file.lock().map(|()| file);
                let _ = tx.send(got);
            })
            .map_err(io_err(&path))?;
        match rx.recv_timeout(limit) {
            Ok(Ok(file)) => Ok(Some(taken(file))),
            Ok(Err(e)) => Err(io_err(&path)(e)),
            Err(_) => Ok(None),
        }
    }

    /// Try to take a named per-account lock without waiting (e.g. "login": held by the one
    /// process running a sign-in). `None` when another process holds it. The OS releases it
    /// when the holder exits, however it exits — so a free lock also means "nobody is working
    /// on it any more", which survives crashes and reboots.
    pub fn try_lock_named(
        &self,
        account: &str,
        name: &str,
    ) -> Result<Option<NamedLock>, VaultError> {
        check_name(account)?;
        check_name(name)?;
        if self.db.is_some() {
            let held = self.db_lock(
                &format!("{account}.{name}"),
                Some(std::time::Duration::ZERO),
            )?;
            return Ok(held.map(|h| NamedLock {
                _guard: Guard::Row(h),
            }));
        }
        let (file, path) = self.open_lock_file(&format!("{account}.{name}"))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(NamedLock {
                _guard: Guard::File(file),
            })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(io_err(&path)(e)),
        }
    }

    /// Wait for a named per-account lock.
    pub fn lock_named(&self, account: &str, name: &str) -> Result<NamedLock, VaultError> {
        check_name(account)?;
        check_name(name)?;
        let guard = match self.db {
            Some(_) => Guard::Row(self.db_lock_waiting(&format!("{account}.{name}"))?),
            None => Guard::File(self.lock_file(&format!("{account}.{name}"))?),
        };
        Ok(NamedLock { _guard: guard })
    }

    fn open_lock_file(&self, name: &str) -> Result<(File, PathBuf), VaultError> {
        let path = self.locks_dir().join(format!("{name}.lock"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io_err(&path))?;
        Ok((file, path))
    }

    fn lock_file(&self, name: &str) -> Result<File, VaultError> {
        let (file, path) = self.open_lock_file(name)?;
        file.lock().map_err(io_err(&path))?;
        Ok(file)
    }

    fn seal_bytes(&self, plain: &[u8], account: &str) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)
            .map_err(|e| VaultError::BadKey(format!("no randomness available: {e}")))?;
        self.seal_with_nonce(plain, account, &nonce)
    }

    fn seal_with_nonce(
        &self,
        plain: &[u8],
        account: &str,
        nonce: &[u8; NONCE_LEN],
    ) -> Result<Vec<u8>, VaultError> {
        self.seal_with_nonce_aad(plain, &aad(account), nonce, account)
    }

    fn seal_with_nonce_aad(
        &self,
        plain: &[u8],
        aad: &[u8],
        nonce: &[u8; NONCE_LEN],
        account: &str,
    ) -> Result<Vec<u8>, VaultError> {
        seal_with(self.keys.get().current().1, plain, aad, nonce, account)
    }

    fn open_bytes(&self, sealed: &[u8], account: &str) -> Option<Vec<u8>> {
        self.open_with_aad(sealed, &aad(account))
    }

    /// A sealed file's plaintext under any key of the ring (files carry no key id); the key
    /// file is read again once if none opens it.
    fn open_with_aad(&self, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        let try_all = |c: &keys::Ciphers| c.all().find_map(|k| open_sealed(k, sealed, aad));
        let ciphers = self.keys.get();
        try_all(&ciphers).or_else(|| try_all(&*self.keys.newer_than(&ciphers)?))
    }
}

/// Seal with `cipher` and a random nonce.
fn seal_sealed(
    cipher: &XChaCha20Poly1305,
    plain: &[u8],
    aad: &[u8],
    name: &str,
) -> Result<Vec<u8>, VaultError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce)
        .map_err(|e| VaultError::BadKey(format!("no randomness available: {e}")))?;
    seal_with(cipher, plain, aad, &nonce, name)
}

/// The sealed format: magic, nonce, XChaCha20-Poly1305 ciphertext of `plain` with `aad`.
fn seal_with(
    cipher: &XChaCha20Poly1305,
    plain: &[u8],
    aad: &[u8],
    nonce: &[u8; NONCE_LEN],
    account: &str,
) -> Result<Vec<u8>, VaultError> {
    let ct = cipher
        .encrypt(XNonce::from_slice(nonce), Payload { msg: plain, aad })
        .map_err(|_| VaultError::Format {
            account: account.into(),
            msg: "encryption failed".into(),
        })?;
    let mut out = Vec::with_capacity(4 + NONCE_LEN + ct.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// The plaintext of a sealed file or row, if `cipher` opens it with `aad`.
fn open_sealed(cipher: &XChaCha20Poly1305, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < 4 + NONCE_LEN + 16 || &sealed[..4] != MAGIC {
        return None;
    }
    let (nonce, ct) = sealed[4..].split_at(NONCE_LEN);
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
        .ok()
}

/// Why a decrypted record does not decode, without its content: serde's own message quotes
/// the value it could not use (`invalid type: string "1//0g…", expected u32`), and a sealed
/// record is a refresh token. Its kind and position say enough to find the fault.
fn decode_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Io => "unreadable",
        Category::Syntax => "not JSON",
        Category::Eof => "cut short",
        Category::Data => "not the shape this version of sidekey stores",
    };
    format!("{what} (line {} column {})", e.line(), e.column())
}

/// What the fuzz targets (fuzz/) reach of the sealed-file format, without a vault folder:
/// sealing with a chosen nonce, and opening what a read found on disk. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    fn vault(key: &Key) -> Vault {
        Vault {
            dir: PathBuf::new(),
            keys: keys::Keys::new(&KeyRing::single(Key(key.0)), None),
            db: None,
        }
    }

    /// `plain` sealed for the record named `name` (`ACCOUNT` or `ACCOUNT.SLOT`), as a write
    /// seals it but with `nonce` instead of a random one.
    pub fn seal(key: &Key, name: &str, nonce: &[u8; NONCE_LEN], plain: &[u8]) -> Vec<u8> {
        vault(key)
            .seal_with_nonce(plain, name, nonce)
            .expect("XChaCha20-Poly1305 seals any length the vault reads")
    }

    /// The plaintext of `sealed` for the record named `name`, if the key opens it.
    pub fn open(key: &Key, name: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        vault(key).open_bytes(sealed, name)
    }

    /// Bytes before the ciphertext: magic and nonce.
    pub const HEADER: usize = MAGIC.len() + NONCE_LEN;
    /// The largest sealed file a read takes.
    pub const MAX_FILE: u64 = super::MAX_FILE;
}

fn aad(account: &str) -> Vec<u8> {
    let mut a = b"sidekey-vault-v1:".to_vec();
    a.extend_from_slice(account.as_bytes());
    a
}

/// A rescued record's associated data: `NAME:rescue` (no account or slot name has a colon, so
/// no other sealed file opens as a rescue, and no rescue as another file).
fn rescue_aad(account: &str) -> String {
    format!("{account}:rescue")
}

fn read_limited(path: &Path) -> Result<Option<Vec<u8>>, VaultError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    // Sized by the file's length (one `statx`), so the read takes one call or two instead of
    // growing the buffer from 32 bytes a call at a time (seven calls for a 1 KB record).
    let len = file.metadata().map_or(0, |m| m.len());
    if len > MAX_FILE {
        return Err(VaultError::Corrupt(path.to_path_buf()));
    }
    let mut bytes = Vec::with_capacity(len as usize + 1);
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err(path))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(VaultError::Corrupt(path.to_path_buf()));
    }
    Ok(Some(bytes))
}

/// Temp file in the same folder, fsync, rename, fsync of the folder; mode 0600.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    let mut opts = atomic_write_file::OpenOptions::new();
    opts.mode(0o600);
    let mut file = opts.open(path).map_err(io_err(path))?;
    file.write_all(bytes).map_err(io_err(path))?;
    file.commit().map_err(io_err(path))
}

/// The file store's records folder as one `stat` saw it ([`Vault::stamp`]). Equal stamps mean
/// no record was written or removed in between, as long as the later one was taken after the
/// folder's timestamp clock moved on ([`Stamp::settled`]): two changes within one tick of the
/// file system's clock can leave the same time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// Whether a change made after `at` would surely show as a different stamp: the folder's
    /// last change is at least `margin` older than `at` (a coarse file system clock rounds a
    /// later change to a later time then, not to this one).
    pub fn settled(&self, at: std::time::SystemTime, margin: std::time::Duration) -> bool {
        // Every write and removal moves the folder's mtime (its ctime with it).
        let newest = self.mtime;
        let Ok(since) = at.duration_since(std::time::UNIX_EPOCH) else {
            return false;
        };
        let changed = std::time::Duration::new(
            newest.0.max(0) as u64,
            newest.1.clamp(0, 999_999_999) as u32,
        );
        since.checked_sub(changed).is_some_and(|d| d >= margin)
    }
}

/// A held named lock (see [`Vault::try_lock_named`]). Released on drop or process exit.
pub struct NamedLock {
    _guard: Guard,
}

/// What holds a lock: a locked file (the file store) or an advisory lock in an open
/// transaction on a connection of its own (the database store). Both end with the process.
enum Guard {
    File(#[expect(dead_code, reason = "held for its drop")] File),
    Row(#[expect(dead_code, reason = "held for its drop")] pg::Held),
}

/// Exclusive access to one account's record, across threads and processes. Released on drop.
/// It owns a handle to its vault, so it can be taken on a blocking thread and held across
/// `.await`s.
pub struct AccountLock {
    vault: Vault,
    account: String,
    _guard: Guard,
}

impl AccountLock {
    /// The record as it is now (re-read under the lock).
    pub fn load<T: DeserializeOwned>(&self) -> Result<Option<T>, VaultError> {
        self.vault.load(&self.account)
    }

    /// Replace the record. When this returns, the new record is durable.
    pub fn store<T: Serialize>(&self, record: &T) -> Result<(), VaultError> {
        self.store_file(&self.account, record)
    }

    /// Keep a record the account's file refused (a full disk, a folder that cannot be written)
    /// in the vault's `rescue/` folder, sealed and bound to the account like the record itself:
    /// a rotated refresh token is not thrown away. [`AccountLock::load_rescue`] finds it again.
    pub fn store_rescue<T: Serialize>(&self, record: &T) -> Result<PathBuf, VaultError> {
        let path = self.vault.rescue_path(&self.account);
        let mut plain = serde_json::to_vec(record).map_err(|e| VaultError::Format {
            account: self.account.clone(),
            msg: e.to_string(),
        })?;
        if self.vault.db.is_some() {
            let name = rescue_aad(&self.account);
            self.vault.db_put(&name, plain)?;
            return Ok(PathBuf::from(format!(
                "{} row '{name}'",
                self.vault.dir.display()
            )));
        }
        let sealed = self.vault.seal_bytes(&plain, &rescue_aad(&self.account));
        zeroize::Zeroize::zeroize(&mut plain);
        write_atomic(&path, &sealed?)?;
        Ok(path)
    }

    /// The record [`AccountLock::store_rescue`] kept, if any.
    pub fn load_rescue<T: DeserializeOwned>(&self) -> Result<Option<T>, VaultError> {
        let plain = if self.vault.db.is_some() {
            let Some(plain) = self.vault.db_get(&rescue_aad(&self.account))? else {
                return Ok(None);
            };
            plain
        } else {
            let path = self.vault.rescue_path(&self.account);
            let Some(bytes) = read_limited(&path)? else {
                return Ok(None);
            };
            self.vault
                .open_bytes(&bytes, &rescue_aad(&self.account))
                .ok_or_else(|| VaultError::Corrupt(path.clone()))?
        };
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|e| VaultError::Format {
                account: self.account.clone(),
                msg: e.to_string(),
            })
    }

    /// Forget the rescued record (once the account's file holds it again).
    pub fn remove_rescue(&self) -> Result<(), VaultError> {
        if let Some(db) = &self.vault.db {
            return Ok(db.store.delete(&rescue_aad(&self.account))?);
        }
        let path = self.vault.rescue_path(&self.account);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Replace one of the account's side records.
    pub fn store_slot<T: Serialize>(&self, slot: &str, record: &T) -> Result<(), VaultError> {
        check_name(slot)?;
        self.store_file(&format!("{}.{slot}", self.account), record)
    }

    pub fn load_slot<T: DeserializeOwned>(&self, slot: &str) -> Result<Option<T>, VaultError> {
        self.vault.load_slot(&self.account, slot)
    }

    pub fn remove_slot(&self, slot: &str) -> Result<(), VaultError> {
        check_name(slot)?;
        self.remove_file(&format!("{}.{slot}", self.account))
    }

    fn store_file<T: Serialize>(&self, name: &str, record: &T) -> Result<(), VaultError> {
        let mut plain = serde_json::to_vec(record).map_err(|e| VaultError::Format {
            account: self.account.clone(),
            msg: e.to_string(),
        })?;
        if self.vault.db.is_some() {
            return self.vault.db_put(name, plain);
        }
        let sealed = self.vault.seal_bytes(&plain, name);
        zeroize::Zeroize::zeroize(&mut plain);
        write_atomic(&self.vault.account_path(name), &sealed?)
    }

    /// Forget the account (durably).
    pub fn remove(&self) -> Result<(), VaultError> {
        self.remove_file(&self.account.clone())
    }

    fn remove_file(&self, name: &str) -> Result<(), VaultError> {
        if let Some(db) = &self.vault.db {
            return Ok(db.store.delete(name)?);
        }
        let path = self.vault.account_path(name);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(&path)(e)),
        }
        let dir = self.vault.accounts_dir();
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&dir))
    }
}

/// Permission problems worth reporting (`sidekey doctor`): anything group/other can touch.
pub fn permission_problems(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |p: &Path, want: u32| {
        if let Ok(meta) = fs::metadata(p) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                out.push(format!(
                    "{} has mode {:o}; it should be {:o}",
                    p.display(),
                    mode,
                    want
                ));
            }
        }
    };
    check(dir, 0o700);
    for sub in ["accounts", "locks", "rescue"] {
        let d = dir.join(sub);
        check(&d, 0o700);
        if let Ok(rd) = fs::read_dir(&d) {
            for e in rd.flatten() {
                check(&e.path(), 0o600);
            }
        }
    }
    check(&dir.join("keycheck"), 0o600);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Rec {
        refresh: String,
        n: u32,
    }

    #[test]
    fn roundtrip_and_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let key = Key::generate().unwrap();
        let dir = tmp.path().join("v");
        let v = Vault::open(&dir, &key).unwrap();
        let r = Rec {
            refresh: "rt_secret_value".into(),
            n: 7,
        };
        v.lock("work").unwrap().store(&r).unwrap();
        assert_eq!(v.load::<Rec>("work").unwrap(), Some(r));
        let raw = fs::read(v.account_path("work")).unwrap();
        assert!(!raw.windows(15).any(|w| w == b"rt_secret_value"));
        let mode = fs::metadata(v.account_path("work"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(permission_problems(&dir), Vec::<String>::new());
        assert_eq!(v.accounts().unwrap(), vec!["work".to_string()]);
        v.lock("work").unwrap().remove().unwrap();
        assert_eq!(v.load::<Rec>("work").unwrap(), None);
    }

    /// Found by fuzz/fuzz_targets/sealed_file.rs: a record that opens but does not decode
    /// (another version's shape) was reported in serde's words, which quote the value it could
    /// not use — a refresh token, into `sidekey status` and the logs.
    #[test]
    fn a_record_that_does_not_decode_is_reported_without_its_content() {
        let tmp = tempfile::tempdir().unwrap();
        let v = Vault::open(tmp.path(), &Key::generate().unwrap()).unwrap();
        let secret = "1//0gRefreshTokenValue";
        v.lock("work")
            .unwrap()
            .store(&serde_json::json!({"refresh": 5, "n": secret}))
            .unwrap();
        v.lock("other")
            .unwrap()
            .store(&serde_json::json!({"refresh": "x", "n": 1, "extra": [secret]}))
            .unwrap();
        let err = v.load::<Rec>("work").unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, VaultError::Format { .. }), "{text}");
        assert!(!text.contains("RefreshToken"), "{text}");
        assert!(
            text.contains("not the shape") && text.contains("line 1"),
            "{text}"
        );
        // Extra fields are fine; the record still reads.
        assert_eq!(v.load::<Rec>("other").unwrap().unwrap().n, 1);
    }

    #[test]
    fn wrong_key_is_an_error_not_a_reset() {
        let tmp = tempfile::tempdir().unwrap();
        let v = Vault::open(tmp.path(), &Key::generate().unwrap()).unwrap();
        v.lock("a").unwrap().store(&1u32).unwrap();
        let err = Vault::open(tmp.path(), &Key::generate().unwrap())
            .err()
            .unwrap();
        assert!(matches!(err, VaultError::WrongKey(_)), "{err}");
        assert!(v.account_path("a").exists());
    }

    /// Without its key check, the vault still knows its key from the sealed files: a wrong key
    /// is refused and writes nothing (a new keycheck would lock the right key out for good).
    #[test]
    fn a_missing_keycheck_never_adopts_a_wrong_key() {
        let tmp = tempfile::tempdir().unwrap();
        let right = Key::generate().unwrap();
        let v = Vault::open(tmp.path(), &right).unwrap();
        v.lock("a").unwrap().store_slot("pending", &1u32).unwrap();
        v.lock("b").unwrap().store(&2u32).unwrap();
        let check = tmp.path().join("keycheck");
        fs::remove_file(&check).unwrap();
        let err = Vault::open(tmp.path(), &Key::generate().unwrap())
            .err()
            .expect("a wrong key was adopted");
        assert!(matches!(err, VaultError::WrongKey(_)), "{err}");
        assert!(!check.exists(), "a wrong key wrote a keycheck");
        // The right key still opens it, and writes the check again.
        let v = Vault::open(tmp.path(), &right).unwrap();
        assert!(check.exists());
        assert_eq!(v.load::<u32>("b").unwrap(), Some(2));
        assert!(Vault::open(tmp.path(), &Key::generate().unwrap()).is_err());
        // Only a slot left (no main record): it is checked too.
        fs::remove_file(&check).unwrap();
        fs::remove_file(v.account_path("b")).unwrap();
        assert!(Vault::open(tmp.path(), &Key::generate().unwrap()).is_err());
        assert!(!check.exists());
        // An empty vault adopts whatever key opens it first, as before.
        let empty = tmp.path().join("new");
        Vault::open(&empty, &Key::generate().unwrap()).unwrap();
        assert!(empty.join("keycheck").exists());
    }

    #[test]
    fn swapped_or_damaged_files_are_detected() {
        let tmp = tempfile::tempdir().unwrap();
        let v = Vault::open(tmp.path(), &Key::generate().unwrap()).unwrap();
        v.lock("a").unwrap().store(&1u32).unwrap();
        v.lock("b").unwrap().store(&2u32).unwrap();
        fs::copy(v.account_path("a"), v.account_path("b")).unwrap();
        assert!(matches!(v.load::<u32>("b"), Err(VaultError::Corrupt(_))));
        let mut bytes = fs::read(v.account_path("a")).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(v.account_path("a"), bytes).unwrap();
        assert!(matches!(v.load::<u32>("a"), Err(VaultError::Corrupt(_))));
    }

    #[test]
    fn slots_and_named_locks() {
        let tmp = tempfile::tempdir().unwrap();
        let v = Vault::open(&tmp.path().join("v"), &Key::generate().unwrap()).unwrap();
        let l = v.lock("work").unwrap();
        l.store_slot("pending", &5u32).unwrap();
        assert_eq!(v.load_slot::<u32>("work", "pending").unwrap(), Some(5));
        assert_eq!(v.load::<u32>("work").unwrap(), None);
        assert!(v.accounts().unwrap().is_empty(), "slots are not accounts");
        l.remove_slot("pending").unwrap();
        assert_eq!(v.load_slot::<u32>("work", "pending").unwrap(), None);
        let held = v.try_lock_named("work", "login").unwrap();
        assert!(held.is_some());
        // flock is per open file description: a second open in this process is refused too.
        assert!(v.try_lock_named("work", "login").unwrap().is_none());
        drop(held);
        assert!(v.try_lock_named("work", "login").unwrap().is_some());
    }

    /// A rescued record opens only as that account's rescue (not as its record or another
    /// account's), and a held lock is waited for only as long as asked.
    #[test]
    fn rescues_are_bound_to_their_account_and_locks_can_be_waited_for_a_while() {
        let tmp = tempfile::tempdir().unwrap();
        let v = Vault::open(&tmp.path().join("v"), &Key::generate().unwrap()).unwrap();
        let a = v.lock("a").unwrap();
        assert_eq!(a.load_rescue::<u32>().unwrap(), None);
        let p = a.store_rescue(&7u32).unwrap();
        assert_eq!(p, v.rescue_path("a"));
        assert_eq!(a.load_rescue::<u32>().unwrap(), Some(7));
        assert_eq!(
            v.load::<u32>("a").unwrap(),
            None,
            "a rescue is not the record"
        );
        fs::copy(&p, v.account_path("a")).unwrap();
        assert!(matches!(v.load::<u32>("a"), Err(VaultError::Corrupt(_))));
        fs::copy(&p, v.rescue_path("b")).unwrap();
        let b = v
            .lock_within("b", std::time::Duration::ZERO)
            .unwrap()
            .unwrap();
        assert!(matches!(
            b.load_rescue::<u32>(),
            Err(VaultError::Corrupt(_))
        ));
        let t0 = std::time::Instant::now();
        let wait = std::time::Duration::from_millis(200);
        assert!(
            v.lock_within("a", wait).unwrap().is_none(),
            "a held lock was taken"
        );
        assert!(t0.elapsed() >= wait);
        a.remove_rescue().unwrap();
        a.remove_rescue().unwrap(); // already gone: fine
        assert!(!p.exists());
        drop(a);
        assert!(v.lock_within("a", wait).unwrap().is_some());
        assert_eq!(
            permission_problems(&tmp.path().join("v")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn key_formats() {
        let k = Key::generate().unwrap();
        assert!(Key::parse(&format!("  {}\n", k.to_base64())).is_ok());
        assert!(Key::parse(&"ab".repeat(32)).is_ok());
        assert!(Key::parse("c2hvcnQ=").is_err());
        assert!(Key::parse("not base64 at all!").is_err());
        assert_eq!(format!("{k:?}"), "Key([redacted])");
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", "../x", "A", "-x", "a b", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        for good in ["work", "gh_2", "a-b"] {
            assert!(check_name(good).is_ok());
        }
    }

    #[test]
    fn generated_key_file_is_private_and_stable() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("sub/vault.key");
        let (k1, created) = load_or_create_key_file(&p).unwrap();
        assert!(created);
        let (k2, created2) = load_or_create_key_file(&p).unwrap();
        assert!(!created2);
        assert_eq!(k1.to_base64(), k2.to_base64());
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
