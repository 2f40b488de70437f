//! Approvals: the person's yes for one exact action (`[accounts.NAME.policy] ask`).
//!
//! When the policy answers [`crate::policy::Grant::Ask`], the guard (`crate::backend::guard`,
//! between its policy step and its run step) calls [`obtain`]: it finds or files a
//! [`Request`] bound to the account, the operation, the hash of its canonical validated
//! arguments ([`binding`]) and the agent that asked; sends it to the person (Telegram with
//! Approve / Deny buttons, `telegram.rs`); and waits a bounded time for the decision. Only an
//! approved, unexpired, unused request lets the call run, and it is used up by that run.
//!
//! # The store
//! One folder, `$SIDEKEY_HOME/approvals/`, shared by every process of this home (the daemon,
//! `sidekey mcp`, `sidekey approve` at the terminal), so a decision made in one is seen by all
//! and survives a restart. Per request `ID`:
//! * `ID.json` — the request, written once;
//! * `ID.decision` — the first decision, published with a hard link (fails if it exists), so a
//!   replayed button press or a second `sidekey deny` changes nothing;
//! * `ID.used` — created exclusively by the one run the approval allows (single use);
//! * `ID.closed` — created exclusively by whoever first notices the expiry (audited once).
//!
//! Every file is 0600 in a 0700 folder. The request keeps the message the person read (it is
//! edited to show the outcome), never a token; the audit log keeps the hash, never the text.

pub mod ask;
pub mod message;
pub mod outcome;
pub mod telegram;

use crate::catalog::Operation;
use crate::error::{Exit, Failure, Reason};
use crate::time::now_unix;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a request stays open unless the config says otherwise (Auth0's CIBA default).
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(5 * 60);
/// The longest expiry the config may set.
pub const MAX_EXPIRY: Duration = Duration::from_secs(30 * 60);
/// How long a call waits for the decision unless it says otherwise.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);
/// The longest a call may wait before it answers "pending".
pub const MAX_WAIT: Duration = Duration::from_secs(90);
/// The most requests one account may have open at once: an agent cannot flood the person.
pub const MAX_OPEN_PER_ACCOUNT: usize = 5;
/// How long a 409 the poller heard still counts (it polls again every 5 s while refused).
const CONFLICT_HOLDS: Duration = Duration::from_secs(30);
/// How often a waiting call looks at the store.
const LOOK_EVERY: Duration = Duration::from_millis(25);

/// One request for the person's approval.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// What the agent and the terminal name it by (`sidekey approve ID`).
    pub id: String,
    /// What the Telegram buttons carry instead of the id (the agent never sees it).
    pub nonce: String,
    pub account: String,
    /// The operation's policy name (`ms.mail.send`).
    pub op: String,
    /// [`binding`] of the account, the operation and its arguments.
    pub hash: String,
    /// The caller that asked, as the audit log names it (`api:unix`, `mcp uid=1000`).
    pub agent: String,
    /// Unix seconds.
    pub created: i64,
    pub expires: i64,
    /// The message the person reads, as plain text (the terminal) and as Telegram HTML.
    pub text: String,
    pub html: String,
    /// Where the Telegram message went, once it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posted: Option<Posted>,
}

/// A Telegram message that carries a request's buttons.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Posted {
    pub chat_id: i64,
    pub message_id: i64,
}

/// The person's decision.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub approved: bool,
    /// Who decided, in words (`telegram user 42 (@alice)`, `terminal uid=1000`).
    pub by: String,
    /// Unix seconds.
    pub at: i64,
}

/// Where a request stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Pending,
    Approved(Decision),
    Denied(Decision),
    /// Approved and run: spent.
    Used(Decision),
    /// Nobody decided before it expired.
    Expired,
}

impl State {
    pub fn word(&self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved(_) => "approved",
            State::Denied(_) => "denied",
            State::Used(_) => "used",
            State::Expired => "expired",
        }
    }
}

/// The hash an approval is bound to: SHA-256 over the account, the operation's name and its
/// arguments as canonical JSON (the typed, validated operation serialised with its keys
/// sorted, so `"7"` and `7` or a reordered object cannot differ from what was shown). Any
/// changed argument is another hash, and needs another approval.
pub fn binding(account: &str, op: &Operation) -> String {
    let args = serde_json::to_value(op)
        .map(|v| canonical(&v))
        .unwrap_or_default();
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in ["sidekey approval v1", account, op.info().name, &args] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part.as_bytes());
    }
    hex(ctx.finish().as_ref())
}

/// `v` as JSON with every object's keys in sorted order and no spaces.
fn canonical(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `n` random bytes as lowercase base32 (letters and digits 2–7): ids and nonces.
fn random_word(n: usize) -> Result<String, Failure> {
    use ring::rand::SecureRandom;
    let mut bytes = vec![0u8; n];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Failure::internal("the system's random source failed"))?;
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[(*b & 31) as usize] as char)
        .collect())
}

/// Whether `id` could be an approval id (as [`Store::file`] makes them): checked before it
/// names a file.
pub fn check_id(id: &str) -> Result<(), Failure> {
    let ok = (8..=40).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Failure::usage(format!(
            "'{}' is not an approval id (`sidekey approvals` lists them)",
            sidekey_flow::response::one_line(id, 40)
        )))
    }
}

/// The approvals folder of a home.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(home: &Path) -> Store {
        Store {
            dir: home.join("approvals"),
        }
    }

    fn path(&self, id: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{id}.{ext}"))
    }

    /// The folder itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The poller's next `getUpdates` offset (0 before the first).
    pub fn offset(&self) -> i64 {
        std::fs::read_to_string(self.dir.join("offset"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Keep the next offset (best effort: a lost one means a press is seen again, and a second
    /// decision changes nothing).
    pub fn set_offset(&self, offset: i64) {
        let _ = self.publish_replace("offset", offset.to_string().as_bytes());
    }

    /// What the poller last heard from Telegram about another poller of the bot (409), if it
    /// still holds: the poller writes it again at every refused poll and removes it at the first
    /// accepted one, so one older than [`CONFLICT_HOLDS`] is from a poller that stopped.
    pub fn conflict(&self) -> Option<String> {
        let path = self.dir.join("conflict");
        let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
        let age = modified.elapsed().unwrap_or(Duration::ZERO);
        if age > CONFLICT_HOLDS {
            return None;
        }
        std::fs::read_to_string(path).ok()
    }

    pub fn set_conflict(&self, why: &str) {
        let _ = self.publish_replace("conflict", why.as_bytes());
    }

    pub fn clear_conflict(&self) {
        let _ = std::fs::remove_file(self.dir.join("conflict"));
    }

    /// Write `name` whole, replacing it (a temporary file renamed over it).
    fn publish_replace(&self, name: &str, bytes: &[u8]) -> Result<(), Failure> {
        self.ensure_dir()?;
        let tmp = self.dir.join(format!(".{name}.{}.tmp", random_word(8)?));
        let done = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, self.dir.join(name))
        })();
        if let Err(e) = done {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_failure(&tmp, e));
        }
        Ok(())
    }

    pub(crate) fn ensure_dir(&self) -> Result<(), Failure> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| io_failure(&self.dir, e))
    }

    /// Write `bytes` to `ID.ext` only if it does not exist yet: `Ok(false)` when it did. The
    /// content is complete before the name appears (a temporary file, then a hard link).
    fn publish(&self, id: &str, ext: &str, bytes: &[u8]) -> Result<bool, Failure> {
        self.ensure_dir()?;
        let tmp = self
            .dir
            .join(format!(".{id}.{ext}.{}.tmp", random_word(8)?));
        let written = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_failure(&tmp, e));
        }
        let linked = std::fs::hard_link(&tmp, self.path(id, ext));
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(io_failure(&self.path(id, ext), e)),
        }
    }

    fn read<T: serde::de::DeserializeOwned>(&self, id: &str, ext: &str) -> Option<T> {
        let bytes = std::fs::read(self.path(id, ext)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// File a new request (its id and nonce are made here).
    pub fn file(&self, mut req: Request) -> Result<Request, Failure> {
        req.id = random_word(12)?;
        req.nonce = random_word(20)?;
        let bytes = serde_json::to_vec(&req).map_err(|e| Failure::internal(e.to_string()))?;
        if !self.publish(&req.id, "json", &bytes)? {
            return Err(Failure::internal("an approval id was drawn twice"));
        }
        Ok(req)
    }

    /// Rewrite `ID.json` in place, atomically (its message once rendered, where the Telegram
    /// message went). The id, nonce, binding and expiry never change once filed.
    pub fn rewrite(&self, req: &Request) -> Result<Request, Failure> {
        let bytes = serde_json::to_vec(req).map_err(|e| Failure::internal(e.to_string()))?;
        self.publish_replace(&format!("{}.json", req.id), &bytes)?;
        Ok(req.clone())
    }

    pub fn load(&self, id: &str) -> Result<Option<Request>, Failure> {
        check_id(id)?;
        Ok(self.read(id, "json"))
    }

    /// Where `req` stands at `now`.
    pub fn state(&self, req: &Request, now: i64) -> State {
        match self.read::<Decision>(&req.id, "decision") {
            // A decision counts only if it was made before the request expired.
            Some(d) if d.at <= req.expires => {
                if !d.approved {
                    State::Denied(d)
                } else if self.path(&req.id, "used").exists() {
                    State::Used(d)
                } else if now >= req.expires {
                    // Approved, and not used before the request expired: it lapses too.
                    State::Expired
                } else {
                    State::Approved(d)
                }
            }
            _ if now >= req.expires => State::Expired,
            _ => State::Pending,
        }
    }

    /// Record the person's decision on `req`: `Ok(None)` if it was taken; otherwise the state
    /// that stands (an earlier decision, or the expiry), and nothing changed.
    pub fn decide(&self, req: &Request, decision: Decision) -> Result<Option<State>, Failure> {
        let now = decision.at;
        match self.state(req, now) {
            State::Pending => {}
            other => return Ok(Some(other)),
        }
        let bytes = serde_json::to_vec(&decision).map_err(|e| Failure::internal(e.to_string()))?;
        if self.publish(&req.id, "decision", &bytes)? {
            Ok(None)
        } else {
            Ok(Some(self.state(req, now)))
        }
    }

    /// Spend an approved request: `true` for the one caller that does.
    pub fn consume(&self, req: &Request) -> Result<bool, Failure> {
        self.publish(&req.id, "used", b"{}")
    }

    /// Mark an expired request as dealt with: `true` for the one caller that does (it audits
    /// the expiry and edits the message).
    pub fn close(&self, req: &Request) -> Result<bool, Failure> {
        self.publish(&req.id, "closed", b"{}")
    }

    /// The decision recorded on `req`, whatever its state now.
    pub fn decision(&self, req: &Request) -> Option<Decision> {
        self.read(&req.id, "decision")
    }

    /// Every request in the store, oldest first.
    pub fn all(&self) -> Vec<Request> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return vec![];
        };
        let mut out: Vec<Request> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let id = name.strip_suffix(".json")?;
                check_id(id).ok()?;
                self.read(id, "json")
            })
            .collect();
        out.sort_by_key(|r| (r.created, r.id.clone()));
        out
    }

    /// The requests nobody has decided yet and that have not expired at `now`.
    pub fn open(&self, now: i64) -> Vec<Request> {
        self.all()
            .into_iter()
            .filter(|r| self.state(r, now) == State::Pending)
            .collect()
    }

    /// The requests that expired undecided and that nobody has closed yet.
    pub fn unclosed_expired(&self, now: i64) -> Vec<Request> {
        self.all()
            .into_iter()
            .filter(|r| {
                self.state(r, now) == State::Expired && !self.path(&r.id, "closed").exists()
            })
            .collect()
    }

    /// The request whose buttons carry `nonce`.
    pub fn by_nonce(&self, nonce: &str) -> Option<Request> {
        self.all().into_iter().find(|r| r.nonce == nonce)
    }

    /// An open or approved-but-unused request for exactly this action by this agent: asking
    /// again for the same thing waits on it instead of sending the person a second message.
    pub fn reusable(
        &self,
        account: &str,
        op: &str,
        hash: &str,
        agent: &str,
        now: i64,
    ) -> Option<Request> {
        self.all().into_iter().rev().find(|r| {
            r.account == account
                && r.op == op
                && r.hash == hash
                && r.agent == agent
                && matches!(self.state(r, now), State::Pending | State::Approved(_))
        })
    }

    /// Remove requests settled more than a day ago (kept that long for `sidekey approvals`).
    pub fn prune(&self, now: i64) {
        for r in self.all() {
            if r.expires + 24 * 3600 < now {
                for ext in ["decision", "used", "closed", "json"] {
                    let _ = std::fs::remove_file(self.path(&r.id, ext));
                }
            }
        }
    }
}

fn io_failure(path: &Path, e: std::io::Error) -> Failure {
    Failure::new(
        Exit::Internal,
        Reason::Io,
        format!("approvals: {}: {e}", path.display()),
    )
}

/// The failure a call answers while its request waits: exit 7, with the id to wait on again.
pub fn pending_failure(req: &Request, note: &str) -> Failure {
    let mut f = Failure::new(
        Exit::Pending,
        Reason::ApprovalPending,
        format!(
            "{note}waiting for the person to approve '{}' on '{}' (approval {}, expires {}): call again with approval {} to wait again",
            req.op,
            req.account,
            req.id,
            crate::time::rfc3339(req.expires),
            req.id
        ),
    );
    f.approval = Some(req.id.clone());
    f
}

/// The failure for a denied request: exit 8.
pub fn denied_failure(req: &Request, d: &Decision) -> Failure {
    let mut f = Failure::new(
        Exit::Denied,
        Reason::ApprovalDenied,
        format!(
            "the person denied '{}' on '{}' (approval {}, by {}): nothing ran; do not ask again for this action",
            req.op, req.account, req.id, d.by
        ),
    );
    f.approval = Some(req.id.clone());
    f
}

/// The failure for an expired request: exit 9.
pub fn expired_failure(req: &Request) -> Failure {
    let mut f = Failure::new(
        Exit::ApprovalExpired,
        Reason::ApprovalExpired,
        format!(
            "approval {} for '{}' on '{}' expired at {} before it was decided and used: nothing ran; call again without `approval` to ask again",
            req.id,
            req.op,
            req.account,
            crate::time::rfc3339(req.expires)
        ),
    );
    f.approval = Some(req.id.clone());
    f
}

/// How often [`wait`] looks at the store (exposed for the figures in docs/benchmarks.md).
pub fn look_every() -> Duration {
    LOOK_EVERY
}

/// Wait up to `limit` for `req` to be decided; `Ok` with the decision once approved *and*
/// spent by this caller. `tick` runs between looks (the Telegram poller's turn, when this
/// process is the one that polls).
pub async fn wait(store: &Store, req: &Request, limit: Duration) -> Result<Decision, Failure> {
    let until = tokio::time::Instant::now() + limit;
    loop {
        match store.state(req, now_unix()) {
            State::Approved(d) => {
                if store.consume(req)? {
                    return Ok(d);
                }
                // Another call spent it between the look and the spend.
                return Err(used_failure(req));
            }
            State::Used(_) => return Err(used_failure(req)),
            State::Denied(d) => return Err(denied_failure(req, &d)),
            State::Expired => return Err(expired_failure(req)),
            State::Pending => {}
        }
        if tokio::time::Instant::now() >= until {
            return Err(pending_failure(req, ""));
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// The failure for an approval that was already spent: one approval, one run.
pub fn used_failure(req: &Request) -> Failure {
    let mut f = Failure::new(
        Exit::Policy,
        Reason::Policy,
        format!(
            "policy: approval {} was already used for the one run it allowed; call again without `approval` to ask the person again",
            req.id
        ),
    );
    f.approval = Some(req.id.clone());
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::google::GoogleOp;

    fn set(key: &str, value: &str) -> Operation {
        Operation::Google(GoogleOp::MemorySet {
            key: key.into(),
            value: value.into(),
        })
    }

    fn request(store: &Store, expires_in: i64) -> Request {
        let now = now_unix();
        store
            .file(Request {
                id: String::new(),
                nonce: String::new(),
                account: "g".into(),
                op: "google.memory.set".into(),
                hash: binding("g", &set("k", "v")),
                agent: "api:unix".into(),
                created: now,
                expires: now + expires_in,
                text: "t".into(),
                html: "h".into(),
                posted: None,
            })
            .unwrap()
    }

    fn by(approved: bool, who: &str) -> Decision {
        Decision {
            approved,
            by: who.into(),
            at: now_unix(),
        }
    }

    #[test]
    fn the_hash_binds_account_operation_and_every_argument() {
        let a = binding("g", &set("k", "v"));
        assert_eq!(a, binding("g", &set("k", "v")));
        assert_ne!(a, binding("g", &set("k", "v2")));
        assert_ne!(a, binding("g", &set("k2", "v")));
        assert_ne!(a, binding("h", &set("k", "v")));
        // Length-prefixed parts: moving a character from one part to the next changes it.
        assert_ne!(binding("g", &set("ab", "c")), binding("g", &set("a", "bc")));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[{"f":1,"e":2}],"c":"x"}}"#).unwrap();
        assert_eq!(
            canonical(&v),
            r#"{"a":{"c":"x","d":[{"e":2,"f":1}]},"b":1}"#
        );
    }

    #[test]
    fn the_first_decision_stands_and_an_approval_is_spent_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let req = request(&store, 300);
        assert_eq!(store.state(&req, now_unix()), State::Pending);
        assert_eq!(store.decide(&req, by(true, "alice")).unwrap(), None);
        // A replayed press, or a deny after the approve: nothing changes.
        let again = store.decide(&req, by(false, "mallory")).unwrap();
        assert!(
            matches!(again, Some(State::Approved(ref d)) if d.by == "alice"),
            "{again:?}"
        );
        assert!(store.consume(&req).unwrap());
        assert!(!store.consume(&req).unwrap(), "an approval ran twice");
        assert!(matches!(store.state(&req, now_unix()), State::Used(_)));
        assert!(
            store
                .reusable("g", &req.op, &req.hash, "api:unix", now_unix())
                .is_none()
        );
        let mode = std::fs::metadata(store.path(&req.id, "json")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn an_approval_not_used_before_the_expiry_lapses() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let req = request(&store, 60);
        assert_eq!(store.decide(&req, by(true, "alice")).unwrap(), None);
        assert!(matches!(store.state(&req, now_unix()), State::Approved(_)));
        // Later than its expiry, unused: it no longer lets anything run.
        assert_eq!(store.state(&req, req.expires), State::Expired);
        assert!(
            store
                .reusable("g", &req.op, &req.hash, "api:unix", req.expires)
                .is_none()
        );
        assert_eq!(store.unclosed_expired(req.expires).len(), 1);
    }

    #[test]
    fn an_expired_request_takes_no_decision_and_is_closed_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let req = request(&store, -1);
        assert_eq!(store.state(&req, now_unix()), State::Expired);
        assert_eq!(
            store.decide(&req, by(true, "alice")).unwrap(),
            Some(State::Expired)
        );
        assert_eq!(store.unclosed_expired(now_unix()).len(), 1);
        assert!(store.close(&req).unwrap());
        assert!(!store.close(&req).unwrap());
        assert!(store.unclosed_expired(now_unix()).is_empty());
    }

    #[test]
    fn ids_that_are_not_ours_name_no_file() {
        for bad in ["../x", "ABCDEFGHIJ", "short", "a/b/c/d/e/f", "abcdefgh\n"] {
            assert_eq!(check_id(bad).unwrap_err().exit, Exit::Usage, "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let req = request(&store, 300);
        check_id(&req.id).unwrap();
        check_id(&req.nonce).unwrap();
        assert_eq!(store.load(&req.id).unwrap().unwrap(), req);
        assert_eq!(store.by_nonce(&req.nonce).unwrap().id, req.id);
    }

    #[tokio::test]
    async fn a_waiting_call_sees_a_decision_made_by_another_process() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let req = request(&store, 300);
        let f = wait(&store, &req, Duration::from_millis(60))
            .await
            .unwrap_err();
        assert_eq!((f.exit, f.reason), (Exit::Pending, Reason::ApprovalPending));
        assert_eq!(f.approval.as_deref(), Some(req.id.as_str()));
        let (s2, r2) = (Store::new(dir.path()), req.clone());
        let decider = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            s2.decide(&r2, by(true, "terminal")).unwrap();
        });
        let d = wait(&store, &req, Duration::from_secs(5)).await.unwrap();
        assert_eq!(d.by, "terminal");
        decider.await.unwrap();
        // Spent: the next wait on it is refused.
        let f = wait(&store, &req, Duration::from_millis(10))
            .await
            .unwrap_err();
        assert_eq!(f.exit, Exit::Policy, "{}", f.message);
        let denied = request(&store, 300);
        store.decide(&denied, by(false, "bob")).unwrap();
        let f = wait(&store, &denied, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!((f.exit, f.reason), (Exit::Denied, Reason::ApprovalDenied));
        let expired = request(&store, -1);
        let f = wait(&store, &expired, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(
            (f.exit, f.reason),
            (Exit::ApprovalExpired, Reason::ApprovalExpired)
        );
    }
}
