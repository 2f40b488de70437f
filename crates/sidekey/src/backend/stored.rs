//! What `status` reads from the vault, read once and kept while the vault is unchanged.
//!
//! One listing says which records exist, so only those are opened: a configured account that
//! never signed in costs nothing (no probe of a file that is not there). The daemon keeps the
//! result and reads it again only when the vault changed — another process's sign-in or
//! logout included — which one `stat` of the records folder tells ([`sidekey_vault::Stamp`]),
//! and at least once a second, for a file a person copied over another by hand (a change that
//! leaves the folder as it was). What is kept is what `status` shows, never a token. A sign-in
//! in progress is looked at on every call (whether its poller still runs is a lock, not a file).
//! The database store has no such stamp: it is listed and read on every call, with one query
//! for the listing.

use crate::account::Record;
use crate::api::{AccountState, AccountStatus};
use crate::config::Config;
use crate::error::{Exit, Failure};
use crate::signin::pending::{PendingStore, SLOT as PENDING_SLOT};
use sidekey_vault::{Stamp, Vault};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How much older than the read the folder's last change must be for the read to be kept: more
/// than the coarsest file system clock in use (ext4 and tmpfs tick in milliseconds, some
/// older ones in seconds), so a change after the read always shows as a new stamp.
const SETTLED: Duration = Duration::from_secs(2);

/// A kept read is read again after this long whatever the stamp says.
const MAX_AGE: Duration = Duration::from_secs(1);

/// The vault as `status` shows it.
pub struct Stored {
    /// Every record's name (`NAME`, `NAME.SLOT`).
    names: HashSet<String>,
    /// Each account with a record: what its row shows, or why the record does not open.
    records: HashMap<String, Result<Row, String>>,
    /// The accounts whose sign-in slot holds a sign-in that finished well: `status` shows
    /// nothing of it, so it is not read again while the vault is unchanged.
    settled: HashSet<String>,
}

/// One record as a status row shows it (no token).
#[derive(Clone)]
pub struct Row {
    pub provider: String,
    pub state: AccountState,
    pub note: Option<String>,
    pub user: Option<sidekey_notify::User>,
    pub scopes: Vec<String>,
    pub expires_at: Option<i64>,
}

impl Row {
    /// `name`'s record as its row shows it (also one the daemon holds unstored).
    pub fn of(name: &str, r: &Record, config: &Config) -> Row {
        let configured = config.accounts.get(name);
        Row {
            provider: r.provider.clone(),
            note: if configured.is_none() {
                Some("not in the config any more".into())
            } else {
                r.reauth_reason
                    .clone()
                    .or_else(|| r.warning(name, configured))
            },
            state: match r.state {
                crate::account::State::SignedIn => AccountState::SignedIn,
                crate::account::State::ReauthRequired => AccountState::ReauthRequired,
            },
            // Unknown (nobody named by the provider): null, as the README documents.
            user: (r.user.name.is_some() || r.user.email.is_some()).then(|| sidekey_notify::User {
                name: r.user.name.clone(),
                email: r.user.email.clone(),
            }),
            scopes: r.scopes.clone(),
            expires_at: r.expires_at,
        }
    }

    /// This row as `name`'s status (its setup added by the caller).
    pub fn status(&self, name: &str) -> AccountStatus {
        AccountStatus {
            name: name.to_string(),
            provider: self.provider.clone(),
            state: self.state,
            user: self.user.clone(),
            scopes: self.scopes.clone(),
            expires_at: self.expires_at,
            note: self.note.clone(),
            setup: None,
        }
    }
}

impl Stored {
    /// List the vault and open every account record in it.
    fn read(vault: &Vault, config: &Config) -> Result<Stored, Failure> {
        let names = vault.stored()?;
        let mut records = HashMap::new();
        for name in names
            .iter()
            .filter(|n| sidekey_vault::check_name(n).is_ok())
        {
            let row = match vault.load::<Record>(name) {
                Ok(Some(r)) => Ok(Row::of(name, &r, config)),
                // Removed since the listing: as if never there.
                Ok(None) => continue,
                Err(e) => Err(Failure::from(e).message),
            };
            records.insert(name.clone(), row);
        }
        let mut settled = HashSet::new();
        let slots = names
            .iter()
            .filter_map(|n| n.strip_suffix(PENDING_SLOT)?.strip_suffix('.'));
        for account in slots.filter(|a| sidekey_vault::check_name(a).is_ok()) {
            // One that does not open is read (and its failure shown) by `status` as before.
            if let Ok(Some(p)) = PendingStore::new(vault.clone(), account).load()
                && p.outcome.is_some_and(|o| o.exit_code == Exit::Ok)
            {
                settled.insert(account.to_string());
            }
        }
        Ok(Stored {
            names,
            records,
            settled,
        })
    }

    /// The accounts with a record, sorted.
    pub fn accounts(&self) -> Vec<String> {
        let mut a: Vec<String> = self.records.keys().cloned().collect();
        a.sort();
        a
    }

    /// `name`'s record as its row shows it (`Err`: why it does not open), if it has one.
    pub fn record(&self, name: &str) -> Option<&Result<Row, String>> {
        self.records.get(name)
    }

    /// Whether `name` has a side record `slot` (e.g. a pending sign-in).
    pub fn has_slot(&self, name: &str, slot: &str) -> bool {
        // Asked for every account by `status`: built without `format!`'s machinery.
        let mut key = String::with_capacity(name.len() + 1 + slot.len());
        key.push_str(name);
        key.push('.');
        key.push_str(slot);
        self.names.contains(&key)
    }

    /// Whether `name` has a sign-in's slot worth reading for `status`: one that is not known to
    /// have finished well (in progress, interrupted, failed, or not readable).
    pub fn sign_in_to_show(&self, name: &str) -> bool {
        self.has_slot(name, PENDING_SLOT) && !self.settled.contains(name)
    }
}

/// The last read of the vault and the stamp it was read at.
#[derive(Default)]
pub struct Kept(Mutex<Option<(Stamp, Instant, Arc<Stored>)>>);

impl Kept {
    /// The vault as `status` shows it: the kept read while the vault is unchanged, else a new one.
    pub fn get(&self, vault: &Vault, config: &Config) -> Result<Arc<Stored>, Failure> {
        let at = SystemTime::now();
        let stamp = vault.stamp();
        if let Some(s) = stamp
            && let Some((k, when, stored)) =
                self.0.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
            && *k == s
            && when.elapsed() < MAX_AGE
        {
            return Ok(stored.clone());
        }
        let stored = Arc::new(Stored::read(vault, config)?);
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *kept = match stamp {
            Some(s) if s.settled(at, SETTLED) => Some((s, Instant::now(), stored.clone())),
            _ => None,
        };
        Ok(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    /// A new vault in a folder of its own, and an empty config.
    fn empty_vault() -> (tempfile::TempDir, Vault, Config) {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(
            &dir.path().join("vault"),
            &sidekey_vault::Key::generate().unwrap(),
        )
        .unwrap();
        let config = Config::parse(std::path::Path::new("c.toml"), "").unwrap();
        (dir, vault, config)
    }

    /// Issue 23, item 3: a read is kept while the records folder is unchanged and settled, and
    /// read again after any write, and after [`MAX_AGE`].
    #[test]
    fn a_read_is_kept_while_the_vault_is_unchanged() {
        let (dir, vault, config) = empty_vault();
        // Not a record: shown as damaged, which is as good as any row here.
        vault
            .lock("a")
            .unwrap()
            .store(&serde_json::json!({"x": 1}))
            .unwrap();
        let backdate = || {
            let past = SystemTime::now() - Duration::from_secs(10);
            std::fs::File::open(dir.path().join("vault/accounts"))
                .unwrap()
                .set_times(std::fs::FileTimes::new().set_modified(past))
                .unwrap();
        };
        backdate();
        let kept = Kept::default();
        let first = kept.get(&vault, &config).unwrap();
        assert_eq!(first.accounts(), ["a"]);
        assert!(first.record("a").unwrap().is_err());
        assert!(Arc::ptr_eq(&first, &kept.get(&vault, &config).unwrap()));

        // A write: read again, and not kept while the folder's time is this recent.
        vault
            .lock("b")
            .unwrap()
            .store(&serde_json::json!({"x": 2}))
            .unwrap();
        let second = kept.get(&vault, &config).unwrap();
        assert_eq!(second.accounts(), ["a", "b"]);
        assert!(!Arc::ptr_eq(&second, &kept.get(&vault, &config).unwrap()));

        // A removal, once settled, then a read kept only for a while.
        vault.lock("a").unwrap().remove().unwrap();
        backdate();
        let third = kept.get(&vault, &config).unwrap();
        assert_eq!(third.accounts(), ["b"]);
        assert!(Arc::ptr_eq(&third, &kept.get(&vault, &config).unwrap()));
        std::thread::sleep(MAX_AGE + Duration::from_millis(50));
        assert!(!Arc::ptr_eq(&third, &kept.get(&vault, &config).unwrap()));
        assert!(!third.has_slot("b", "pending"));
    }

    /// Issue 23, item 3: a sign-in that finished well is read once with the listing and not
    /// again on each `status` while the vault is unchanged; one in progress or failed still is.
    #[tokio::test]
    async fn a_sign_in_that_finished_well_is_not_read_again() {
        use crate::signin::pending::{Outcome, for_test};
        let (_dir, vault, config) = empty_vault();
        let now = crate::time::now_unix();
        let outcome = |exit_code| Outcome {
            at: now,
            exit_code,
            reason: None,
            message: "done".into(),
        };
        let mut well = for_test("AAAA-AAAA", now, None);
        well.outcome = Some(outcome(Exit::Ok));
        let mut failed = for_test("BBBB-BBBB", now, None);
        failed.outcome = Some(outcome(Exit::Declined));
        let waiting = for_test("CCCC-CCCC", now, None);
        for (name, p) in [("well", &well), ("failed", &failed), ("waiting", &waiting)] {
            PendingStore::new(vault.clone(), name)
                .save(p)
                .await
                .unwrap();
        }
        let stored = Stored::read(&vault, &config).unwrap();
        assert!(stored.has_slot("well", PENDING_SLOT));
        assert!(!stored.sign_in_to_show("well"));
        assert!(stored.sign_in_to_show("failed"));
        assert!(stored.sign_in_to_show("waiting"));
        assert!(!stored.sign_in_to_show("none"));
    }
}
