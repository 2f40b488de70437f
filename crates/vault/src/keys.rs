//! The key ring: the keys a vault opens records with. The first key is the current one (every
//! write is sealed with it); the others are older keys kept so records sealed before a rotation
//! still open (docs/fleet.md, "Rotating the key").
//!
//! A key file holds one key per line (base64 or hex, as [`Key::parse`] reads them), the current
//! one first; blank lines and lines starting with `#` are skipped. A file of one line — every
//! key file before rotation existed — is a ring of one key.
//!
//! A vault given the path of its key file reads it again when it meets a record it cannot open
//! with the keys it has (a row naming an unknown key id, a file no key opens): that is how a
//! running daemon learns the new key `sidekey vault rotate-key` wrote, without a restart.

use crate::{Key, VaultError};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Keys in order: the current one first.
pub struct KeyRing {
    keys: Vec<Key>,
}

impl KeyRing {
    /// A ring of one key.
    pub fn single(key: Key) -> KeyRing {
        KeyRing { keys: vec![key] }
    }

    /// Parse a key file's text: one key per line, the current one first.
    pub fn parse(text: &str) -> Result<KeyRing, VaultError> {
        let mut keys: Vec<Key> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = Key::parse(line).map_err(|e| match e {
                VaultError::BadKey(m) => VaultError::BadKey(format!("line {}: {m}", i + 1)),
                other => other,
            })?;
            if !keys.iter().any(|k| k.0 == key.0) {
                keys.push(key);
            }
        }
        if keys.is_empty() {
            return Err(VaultError::BadKey(
                "the key file holds no key (generate one with `openssl rand -base64 32`)".into(),
            ));
        }
        Ok(KeyRing { keys })
    }

    /// The key every write is sealed with.
    pub fn current(&self) -> &Key {
        &self.keys[0]
    }

    /// The ids of the keys, the current one first.
    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(Key::id).collect()
    }

    /// This ring with `new` as its current key and every key it had after it (`new` is not
    /// repeated if it was one of them).
    pub fn with_current(self, new: Key) -> KeyRing {
        let mut keys = vec![new];
        for k in self.keys {
            if k.0 != keys[0].0 {
                keys.push(k);
            }
        }
        KeyRing { keys }
    }

    /// The text of a key file holding this ring (the current key first).
    pub fn to_file_text(&self) -> String {
        let mut out = String::from(
            "# sidekey vault keys: the first seals every write, the others still open older records\n",
        );
        for k in &self.keys {
            out.push_str(&k.to_base64());
            out.push('\n');
        }
        out
    }

    pub(crate) fn ciphers(&self) -> Ciphers {
        Ciphers {
            list: self
                .keys
                .iter()
                .map(|k| (k.id(), XChaCha20Poly1305::new((&k.0).into())))
                .collect(),
        }
    }
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyRing({:?})", self.ids())
    }
}

/// The ring's ciphers, by key id (the current one first).
pub(crate) struct Ciphers {
    list: Vec<(String, XChaCha20Poly1305)>,
}

impl Ciphers {
    pub(crate) fn current(&self) -> (&str, &XChaCha20Poly1305) {
        let (id, c) = &self.list[0];
        (id, c)
    }

    pub(crate) fn by_id(&self, id: &str) -> Option<&XChaCha20Poly1305> {
        self.list.iter().find(|(i, _)| i == id).map(|(_, c)| c)
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &XChaCha20Poly1305> {
        self.list.iter().map(|(_, c)| c)
    }
}

/// A vault's keys, shared by its clones, and where to read them again.
#[derive(Clone)]
pub(crate) struct Keys {
    now: Arc<RwLock<Arc<Ciphers>>>,
    file: Option<PathBuf>,
}

impl Keys {
    pub(crate) fn new(ring: &KeyRing, file: Option<&Path>) -> Keys {
        Keys {
            now: Arc::new(RwLock::new(Arc::new(ring.ciphers()))),
            file: file.map(Path::to_path_buf),
        }
    }

    /// The ciphers as they are now.
    pub(crate) fn get(&self) -> Arc<Ciphers> {
        self.now.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The keys in use if they are newer than `seen` (a snapshot the caller took with
    /// [`Keys::get`] and found lacking): the key file is read again, one caller at a time, and
    /// its ring installed when it differs. A ring another caller installed since `seen` is
    /// returned without reading the file, so every caller that raced to a rotation gets the
    /// new keys, not only the one that read them. `None` when nothing newer is known (no key
    /// file, or a file that cannot be read or parsed, which leaves the keys as they were).
    pub(crate) fn newer_than(&self, seen: &Arc<Ciphers>) -> Option<Arc<Ciphers>> {
        let path = self.file.as_ref()?;
        let mut now = self.now.write().unwrap_or_else(|p| p.into_inner());
        if !Arc::ptr_eq(&now, seen) {
            return Some(now.clone());
        }
        let ring = KeyRing::parse(&std::fs::read_to_string(path).ok()?).ok()?;
        let fresh = ring.ciphers();
        let same = now.list.len() == fresh.list.len()
            && now.list.iter().zip(&fresh.list).all(|(a, b)| a.0 == b.0);
        if same {
            return None;
        }
        *now = Arc::new(fresh);
        Some(now.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_line_file_is_a_ring_of_one_and_order_is_kept() {
        let a = Key::generate().unwrap();
        let b = Key::generate().unwrap();
        let ring = KeyRing::parse(&format!("{}\n", a.to_base64())).unwrap();
        assert_eq!(ring.ids(), vec![a.id()]);
        let ring = ring.with_current(Key::parse(&b.to_base64()).unwrap());
        assert_eq!(ring.ids(), vec![b.id(), a.id()]);
        let again = KeyRing::parse(&ring.to_file_text()).unwrap();
        assert_eq!(again.ids(), ring.ids());
        // Rotating to a key already in the ring moves it first, without repeating it.
        let back = again.with_current(Key::parse(&a.to_base64()).unwrap());
        assert_eq!(back.ids(), vec![a.id(), b.id()]);
    }

    #[test]
    fn bad_lines_are_named_and_keys_never_printed() {
        let a = Key::generate().unwrap();
        let err = KeyRing::parse(&format!("# keys\n{}\nnot a key\n", a.to_base64())).unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
        assert!(KeyRing::parse("# nothing\n\n").is_err());
        let ring = KeyRing::parse(&a.to_base64()).unwrap();
        assert!(!format!("{ring:?}").contains(&a.to_base64()));
    }

    /// Two callers that met a record under a new key at once: the first reads the key file,
    /// the second, still holding the old snapshot, gets the ring the first installed (it once
    /// got `false` and gave up: a daemon answered 500 during a rotation).
    #[test]
    fn every_caller_that_raced_to_a_rotation_gets_the_new_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys");
        let (a, b) = (Key::generate().unwrap(), Key::generate().unwrap());
        let ring = KeyRing::parse(&a.to_base64()).unwrap();
        std::fs::write(&file, ring.to_file_text()).unwrap();
        let keys = Keys::new(&ring, Some(&file));
        let (first, second) = (keys.get(), keys.get());
        assert!(keys.newer_than(&first).is_none(), "the file is unchanged");

        let rotated = KeyRing::parse(&a.to_base64()).unwrap().with_current(b);
        std::fs::write(&file, rotated.to_file_text()).unwrap();
        let got = keys
            .newer_than(&first)
            .expect("the first caller reads the new ring");
        assert_eq!(got.current().0, rotated.ids()[0]);
        let got = keys
            .newer_than(&second)
            .expect("the second caller gets it too");
        assert_eq!(got.current().0, rotated.ids()[0]);
        assert!(
            keys.newer_than(&keys.get()).is_none(),
            "nothing newer than the new ring"
        );

        // A file that no longer parses leaves the keys as they were.
        std::fs::write(&file, "not a key\n").unwrap();
        assert!(keys.newer_than(&keys.get()).is_none());
        assert_eq!(keys.get().current().0, rotated.ids()[0]);
    }
}
