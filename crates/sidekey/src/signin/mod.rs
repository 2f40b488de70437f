//! The sign-in owner: every device-flow sign-in, in the CLI and in the daemon, goes through
//! [`SignIns`].
//!
//! The order matters: the config and the vault key are checked *before* a code is requested, so
//! the person is never sent to sign in for an account whose tokens could not be stored, and the
//! verification page is checked against the provider's hosts before the code is shown anywhere.
//!
//! **One sign-in per account**, across processes ([`pending`]): the poller holds the account's
//! login lock and keeps the code and, at the end, the outcome in the encrypted pending slot. A
//! second sign-in that finds the lock held *joins* (shows the same code, waits for the outcome);
//! one that finds the lock free but a live code *resumes* polling it. Within one process (the
//! daemon answering two requests at once) the registry here makes them share one task, which
//! reports the code through a watch channel as soon as it has one.
//!
//! [`Mode::Handover`] is `login --no-wait`: it gets the code, marks the slot as being handed
//! over, starts `sidekey login NAME --background` and lets go. The stop signal (daemon shutdown)
//! is passed in: a poll stops at its next wait and its code stays resumable.
//!
//! This file is the registry and its waiting; one sign-in's steps are in [`job`], the code
//! flow's redirect in [`code_flow`], the slot and lock in [`pending`].

mod code_flow;
pub(crate) use code_flow::pasted_outcome;
pub mod identity;
mod job;
pub mod pending;

use crate::account::{Record, now_unix};
use crate::api::{LoginProgress, LoginStarted};
use crate::config::Account;
use crate::context::Context;
use crate::error::{Exit, Failure, Reason};
use crate::policy::Who;
use job::Job;
use pending::{Outcome, Pending, PendingStore, Seen, Starter, signed_in_event};
use sidekey_flow::pkce;
use sidekey_notify::Event;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How a sign-in is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Resume a pending code for the same scopes, else ask for a new one; poll here.
    Fresh,
    /// Only take over (or join) a sign-in that is already pending; never ask for a code.
    Resume,
    /// [`Mode::Fresh`], then hand the polling to a background process (`login --no-wait`).
    Handover,
    /// The background process of a handover: wait briefly for the lock, resume, poll quietly.
    Background,
}

/// Who starts a sign-in, besides its [`Mode`].
#[derive(Clone, Debug, Default)]
pub struct Begin {
    /// The person's `login --replace-identity` (the guard lets no one else ask): the sign-in
    /// may replace the account's remembered identity ([`identity`]).
    pub replace_identity: bool,
    /// The audit log's name of the caller, for the entry of a sign-in refused at its end.
    pub caller: String,
    /// A pasted redirect resumes the sign-in it belongs to, whoever started it (its state
    /// proves the paster saw that sign-in's link).
    pub pasted: bool,
    /// Who asks: a new sign-in remembers it, so an agent's error paste cancels only the
    /// sign-ins the agent started (see [`SignIns::paste`]).
    pub by: Starter,
}

/// Tells sign-ins to stop at their next wait (daemon shutdown). Codes stay resumable.
#[derive(Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// A signal and the sender that raises it.
    pub fn new() -> (watch::Sender<bool>, Stop) {
        let (tx, rx) = watch::channel(false);
        (tx, Stop(rx))
    }

    /// A signal that is never raised (a CLI process ends by itself).
    pub fn never() -> Stop {
        Stop::new().1
    }

    pub fn is_raised(&self) -> bool {
        *self.0.borrow()
    }

    async fn raised(&self) {
        let mut rx = self.0.clone();
        // A dropped sender means nobody can raise it any more: wait forever.
        if rx.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// What a sign-in task has to say so far.
#[derive(Clone, Debug)]
enum Shown {
    Starting,
    Code(LoginStarted),
    Failed(Failure),
    /// The code is spent and the outcome is being stored: nobody joins it any more, and a new
    /// sign-in waits for it to let go of the account (else it would be handed this spent code).
    /// It keeps the code it showed: a waiter that wakes only now (a watch shows the latest
    /// value) still learns the code was shown, and reads the outcome from the slot.
    Finishing(LoginStarted),
    /// The outcome is stored; what is left is notifying. Nobody joins it any more. The code it
    /// showed, as for `Finishing`.
    Done(Option<LoginStarted>),
}

struct Task {
    shown: watch::Receiver<Shown>,
    handle: tokio::task::JoinHandle<Result<(), Failure>>,
    /// Started with `--replace-identity`: joined only by the same (or a pasted redirect).
    replace_identity: bool,
}

impl Task {
    fn alive(&self) -> bool {
        !self.handle.is_finished()
    }

    fn joinable(&self) -> bool {
        !self.handle.is_finished()
            && !matches!(*self.shown.borrow(), Shown::Done(_) | Shown::Finishing(_))
    }

    /// Storing its outcome: a new sign-in of the account waits for it.
    fn finishing(&self) -> bool {
        !self.handle.is_finished() && matches!(*self.shown.borrow(), Shown::Finishing(_))
    }
}

/// The sign-ins of this process.
pub struct SignIns {
    ctx: Arc<Context>,
    stop: Stop,
    running: Mutex<HashMap<String, Task>>,
    /// Notifications on their way (each bounded by the channels' `RetryPolicy::total`): sent in
    /// the background so a slow or hanging channel never delays a poll or a handover.
    deliveries: Deliveries,
    /// Say "provider hiccup, retrying" on stderr (a person at a terminal is watching).
    notes: std::sync::atomic::AtomicBool,
}

impl SignIns {
    pub fn new(ctx: Arc<Context>, stop: Stop) -> SignIns {
        SignIns {
            ctx,
            stop,
            running: Mutex::new(HashMap::new()),
            deliveries: Deliveries::default(),
            notes: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether sign-ins of this process print provider hiccups on stderr (a CLI in text mode).
    pub fn set_progress_notes(&self, on: bool) {
        self.notes.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    fn job(&self, account: Account, mode: Mode, begin: Begin, tx: watch::Sender<Shown>) -> Job {
        Job {
            ctx: self.ctx.clone(),
            stop: self.stop.clone(),
            notes: self.notes.load(std::sync::atomic::Ordering::Relaxed),
            account,
            mode,
            begin,
            tx,
            deliveries: self.deliveries.clone(),
        }
    }

    /// [`SignIns::start_as`] by nobody in particular (tests, the person's plain `login`).
    pub async fn start(&self, account: Account, mode: Mode) -> Result<LoginStarted, Failure> {
        self.start_as(account, mode, Begin::default()).await
    }

    /// Start (or join, or resume) `account`'s sign-in and return its code as soon as there is
    /// one. The polling goes on in a task of this process (or, for a handover, in a background
    /// process); [`SignIns::progress`] tells how it ends.
    pub async fn start_as(
        &self,
        account: Account,
        mode: Mode,
        begin: Begin,
    ) -> Result<LoginStarted, Failure> {
        self.ctx.vault()?; // a wrong or missing key fails now, not after the person signed in
        let name = account.name.clone();
        // A sign-in of this process that is storing its outcome still holds the account: wait
        // (briefly) for it, so this one neither joins its spent code nor finds the lock taken.
        let finishing = {
            let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            running
                .get(&name)
                .filter(|t| t.finishing())
                .map(|t| t.shown.clone())
        };
        if let Some(mut rx) = finishing {
            let _ = tokio::time::timeout(
                Duration::from_secs(30),
                rx.wait_for(|s| !matches!(s, Shown::Finishing(_))),
            )
            .await;
        }
        let mut shown = {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            match running.get(&name).filter(|t| t.joinable()) {
                Some(t) if t.replace_identity != begin.replace_identity && !begin.pasted => {
                    return Err(job::busy_replacing(&name, begin.replace_identity));
                }
                Some(t) => t.shown.clone(),
                None => {
                    let (tx, rx) = watch::channel(Shown::Starting);
                    let replace_identity = begin.replace_identity;
                    let handle = tokio::spawn(self.job(account, mode, begin, tx).run());
                    running.insert(
                        name.clone(),
                        Task {
                            shown: rx.clone(),
                            handle,
                            replace_identity,
                        },
                    );
                    rx
                }
            }
        };
        let waited = tokio::time::timeout(
            Duration::from_secs(90),
            shown.wait_for(|s| !matches!(s, Shown::Starting)),
        )
        .await;
        let outcome = match waited {
            Ok(Ok(s)) => match s.clone() {
                // Shown, and maybe already spent while this waiter was not looking (a pasted
                // redirect is exchanged at once): the caller reads the outcome from the slot.
                Shown::Code(started) | Shown::Finishing(started) | Shown::Done(Some(started)) => {
                    return Ok(started);
                }
                Shown::Failed(f) => Err(f),
                Shown::Starting | Shown::Done(None) => {
                    Err(Failure::internal("the sign-in ended without a code"))
                }
            },
            Ok(Err(_)) => Err(Failure::internal("the sign-in ended without a code")),
            Err(_) => Err(Failure::network(
                "the provider did not hand out a code in time",
            )),
        };
        // No code was shown: whatever the task still does, nobody will see it.
        if let Some(t) = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&name)
        {
            t.handle.abort();
        }
        outcome
    }

    /// A redirect URL pasted back (`login --paste-url`, `POST /v1/login/NAME/redirect`) by
    /// `by`: checked against the waiting code-flow sign-in's state here (a wrong one is refused,
    /// exit 6, and the sign-in keeps waiting), then handed to the sign-in's owner through the
    /// encrypted slot — this process's task, another process's, or a new one resuming it.
    ///
    /// A redirect carrying `error=` cancels the sign-in. The agent pastes only into a sign-in
    /// it started: one the person started at the terminal is not the agent's to finish or end
    /// — any paste from the agent's side, with a code or an error, is refused (exit 6, the
    /// sign-in keeps waiting). The paste's `error_description` is never shown to anyone: the
    /// outcome names who cancelled (`code_flow::refusal`).
    pub async fn paste(
        &self,
        account: Account,
        url: &str,
        caller: &str,
        by: Who,
    ) -> Result<LoginStarted, Failure> {
        let name = account.name.clone();
        let store = PendingStore::new(self.ctx.vault()?, &name);
        let waiting = store
            .load()?
            .filter(|p| p.outcome.is_none() && p.expires_at() > now_unix() && p.code.is_some());
        let Some(mut p) = waiting else {
            return Err(Failure::new(
                Exit::Usage,
                Reason::NoPending,
                format!(
                    "no sign-in for '{name}' is waiting for a redirect (finished, expired, or never started); run `sidekey login {name}` for a new link"
                ),
            ));
        };
        let started_by = p.started_by;
        let Some(grant) = p.code.as_mut() else {
            return Err(Failure::no_pending(&name));
        };
        let by = Starter::from(by);
        // A code made up on the agent's side would spend the one exchange and end the
        // person's sign-in as surely as an error: the agent pastes into none of theirs.
        if by == Starter::Agent && started_by == Starter::Person {
            return Err(Failure::policy(format!(
                "policy: the sign-in of '{name}' was started at the terminal by the person; a redirect from the agent's side is not taken for it (it keeps waiting for the person's browser or `sidekey login {name} --paste-url URL` at the machine)"
            )));
        }
        match pkce::parse_redirect(url, grant.request.state.expose()) {
            Ok(_) => {}
            Err(pkce::RedirectError::Refused { .. }) => {}
            Err(e @ pkce::RedirectError::StateMismatch) => {
                return Err(Failure::new(Exit::Policy, Reason::Policy, e.to_string()));
            }
            Err(e) => return Err(Failure::usage(e.to_string())),
        }
        grant.pasted = Some(sidekey_flow::Secret::new(url.trim()));
        grant.pasted_by = Some(by);
        store.save(&p).await?;
        let begin = Begin {
            replace_identity: p.replace_identity,
            caller: caller.to_string(),
            pasted: true,
            by,
        };
        self.start_as(account, Mode::Resume, begin).await
    }

    /// The code of `name`'s pending sign-in is being withheld from the caller: make sure the
    /// person's channels have it (a resumed or joined sign-in may never have sent it).
    pub async fn tell_person(&self, name: &str) -> Result<(), Failure> {
        let store = PendingStore::new(self.ctx.vault()?, name);
        let Some(mut p) = store.load()? else {
            return Ok(());
        };
        // Told already, finished, expired, or a handover's poller is about to send it.
        if p.told || p.outcome.is_some() || p.expires_at() <= now_unix() || p.notify_code {
            return Ok(());
        }
        p.told = true;
        store.save(&p).await?;
        job::notify(&self.ctx, &self.deliveries, &p.code_event(name));
        Ok(())
    }

    /// Whether `name`'s pending sign-in is the person's `--replace-identity` one (its code is
    /// for the person only).
    pub fn replacing(&self, name: &str) -> Result<bool, Failure> {
        let store = PendingStore::new(self.ctx.vault()?, name);
        Ok(store
            .load()?
            .is_some_and(|p| p.replace_identity && p.outcome.is_none()))
    }

    /// Where `name`'s sign-in stands, waiting up to `wait` for it to finish.
    pub async fn progress(&self, name: &str, wait: Duration) -> Result<LoginProgress, Failure> {
        let store = PendingStore::new(self.ctx.vault()?, name);
        let deadline = Instant::now() + wait;
        let mut took_over = false;
        loop {
            match store.seen(now_unix())? {
                Seen::None => return Ok(LoginProgress::None),
                Seen::Finished(p, o) => return finished(&store, &p, &o, &self.ctx.config),
                // Its poller died (another daemon of a fleet sharing this vault, or a process
                // killed here) while the code is still good: a caller who waits has this process
                // take it over, as a daemon does at start-up, and keeps waiting. The login lock
                // keeps it to one poller if several take over at once.
                Seen::Interrupted(p)
                    if !wait.is_zero() && !took_over && p.resumable(now_unix() + 1) =>
                {
                    took_over = true;
                    self.resume(name, &p);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                // Taken over, but its task has not taken the login lock yet (a loaded machine,
                // a slow database): still ours, keep waiting rather than say "interrupted".
                Seen::Interrupted(_)
                    if took_over && Instant::now() < deadline && self.runs(name) =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Seen::Interrupted(p) => {
                    return Ok(LoginProgress::Interrupted {
                        event: p.code_event(name),
                        sent_to: vec![],
                    });
                }
                Seen::Live(p) if Instant::now() >= deadline => {
                    return Ok(LoginProgress::Pending {
                        event: p.code_event(name),
                        sent_to: vec![],
                    });
                }
                Seen::Live(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    /// After a restart: resume every sign-in whose code is still valid and that nobody polls.
    pub fn resume_all(&self) {
        let Ok(vault) = self.ctx.vault() else { return };
        for (name, account) in &self.ctx.config.accounts {
            let store = PendingStore::new(vault.clone(), name);
            if let Ok(Seen::Interrupted(p)) = store.seen(now_unix())
                && p.resumable(now_unix() + 1)
            {
                self.resume_with(name, account, &p);
            }
        }
    }

    /// Whether a task of this process runs `name`'s sign-in now.
    fn runs(&self, name: &str) -> bool {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.get(name).is_some_and(Task::alive)
    }

    /// Resume `name`'s interrupted sign-in `p` in this process (unless a task of this process
    /// already runs it).
    fn resume(&self, name: &str, p: &Pending) {
        if let Some(account) = self.ctx.config.accounts.get(name) {
            self.resume_with(name, account, p);
        }
    }

    fn resume_with(&self, name: &str, account: &Account, p: &Pending) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if running.get(name).is_some_and(Task::alive) {
            return;
        }
        let mut account = account.clone();
        account.scopes = p.scopes.clone();
        let (tx, rx) = watch::channel(Shown::Starting);
        // Resumed as it was started: a `--replace-identity` sign-in stays one.
        let begin = Begin {
            replace_identity: p.replace_identity,
            caller: "daemon".into(),
            pasted: false,
            by: p.started_by,
        };
        let replace_identity = begin.replace_identity;
        let handle = tokio::spawn(self.job(account, Mode::Resume, begin, tx).run());
        running.insert(
            name.to_string(),
            Task {
                shown: rx,
                handle,
                replace_identity,
            },
        );
    }

    /// Wait for `name`'s task in this process (if any) to end — its notifications sent, its
    /// handover done — and say how it ended. A CLI calls this before it exits: a failure after
    /// the code was shown (a handover that could not start its poller, tokens that could not be
    /// stored) is reported here.
    /// Its notifications (bounded) are waited for too, so a CLI never exits in the middle of one.
    pub async fn settle(&self, name: &str) -> Result<(), Failure> {
        let task = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        let result = match task {
            Some(t) => t
                .handle
                .await
                .map_err(|_| Failure::internal("the sign-in task failed"))
                .and_then(|r| r),
            None => Ok(()),
        };
        self.deliveries.wait(DELIVERY_BOUND).await;
        result
    }

    /// Wait (at most `limit`) for this process's sign-ins to stop; used at shutdown after the
    /// stop signal, so one in the middle of storing tokens finishes storing them.
    pub async fn drain(&self, limit: Duration) {
        let handles: Vec<_> = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, t)| t.handle)
            .collect();
        for h in handles {
            let _ = tokio::time::timeout(limit, h).await;
        }
        self.deliveries.wait(limit).await;
    }
}

/// The outer bound on waiting for notifications: each channel's delivery already ends within
/// its `RetryPolicy::total` (60 s by default); this only guards against a bug there.
const DELIVERY_BOUND: Duration = Duration::from_secs(75);

/// Notification tasks of this process.
#[derive(Clone, Default)]
struct Deliveries(Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>);

impl Deliveries {
    fn push(&self, h: tokio::task::JoinHandle<()>) {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        v.retain(|h| !h.is_finished()); // a daemon sends many over its life
        v.push(h);
    }

    /// Wait (at most `limit` in all) for the deliveries started so far.
    async fn wait(&self, limit: Duration) {
        let handles: Vec<_> =
            std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        let deadline = tokio::time::Instant::now() + limit;
        for h in handles {
            let _ = tokio::time::timeout_at(deadline, h).await;
        }
    }
}

/// The outcome of a finished sign-in, as an event.
fn finished(
    store: &PendingStore,
    p: &Pending,
    o: &Outcome,
    configured: &crate::config::Config,
) -> Result<LoginProgress, Failure> {
    let name = store.account();
    let failed = |reason: Reason, message: &str| Event::Failed {
        account: name.to_string(),
        provider: p.provider.clone(),
        reason: reason.as_str().into(),
        message: message.to_string(),
    };
    let (event, exit_code) = match (o.exit_code, store.vault().load::<Record>(name)?) {
        (Exit::Ok, Some(rec)) => (
            signed_in_event(name, &rec, configured.accounts.get(name)),
            Exit::Ok,
        ),
        (Exit::Ok, None) => (
            failed(
                Reason::SignedOut,
                &format!("'{name}' signed in, but its tokens are gone since (logged out?)"),
            ),
            Exit::NotSignedIn,
        ),
        (exit, _) => (
            failed(o.reason.unwrap_or(Reason::ProviderError), &o.message),
            exit,
        ),
    };
    Ok(LoginProgress::Done { event, exit_code })
}

/// The account as a sign-in should request it: the configured scopes, or `requested` ones
/// (normalised like the config's). The guard checks them against the policy's ceiling.
pub fn with_scopes(account: &Account, requested: Option<&[String]>) -> Result<Account, Failure> {
    let mut a = account.clone();
    if let Some(req) = requested.filter(|r| !r.is_empty()) {
        if req.iter().all(|s| s.trim().is_empty()) {
            return Err(Failure::usage("--scope was given but names no scope"));
        }
        a.scopes = account
            .normalize_scopes(req.to_vec())
            .map_err(Failure::usage)?;
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use sidekey_testkit::{Dialect, FakeIdp, Options};

    struct Setup {
        _dir: tempfile::TempDir,
        idp: FakeIdp,
        ctx: Arc<Context>,
    }

    fn setup() -> Setup {
        let mut o = Options::new(Dialect::Oidc);
        o.interval = Some(1);
        let idp = FakeIdp::start(o);
        let dir = tempfile::tempdir().unwrap();
        let key = sidekey_vault::Key::generate().unwrap();
        std::fs::write(dir.path().join("vault.key"), key.to_base64()).unwrap();
        let text = format!(
            "[vault]\nkey_file = \"vault.key\"\n[accounts.o]\nprovider = \"oidc\"\nclient_id = \"test-client\"\nissuer = \"{}\"\n",
            idp.issuer()
        );
        let path = dir.path().join("config.toml");
        let config = Config::parse(&path, &text).unwrap();
        let ctx = Arc::new(Context::new(dir.path().join("home"), config));
        Setup {
            _dir: dir,
            idp,
            ctx,
        }
    }

    fn account(s: &Setup) -> Account {
        s.ctx.config.account("o").unwrap().clone()
    }

    fn user_code(e: &Event) -> String {
        match e {
            Event::Code { user_code, .. } => user_code.clone(),
            other => panic!("not a code event: {other:?}"),
        }
    }

    async fn outcome(signins: &SignIns) -> (Event, Exit) {
        match signins
            .progress("o", Duration::from_secs(30))
            .await
            .unwrap()
        {
            LoginProgress::Done { event, exit_code } => (event, exit_code),
            other => panic!("not finished: {other:?}"),
        }
    }

    #[tokio::test]
    async fn two_starts_in_one_process_share_one_sign_in() {
        let s = setup();
        let signins = SignIns::new(s.ctx.clone(), Stop::never());
        let (a, b) = tokio::join!(
            signins.start(account(&s), Mode::Fresh),
            signins.start(account(&s), Mode::Fresh)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(user_code(&a.event), user_code(&b.event));
        assert_eq!(s.idp.counters().device_requests, 1);
        assert!(s.idp.approve(&user_code(&a.event)));
        let (event, exit) = outcome(&signins).await;
        assert_eq!(exit, Exit::Ok);
        assert!(matches!(event, Event::SignedIn { .. }), "{event:?}");
        signins.settle("o").await.unwrap();
    }

    #[tokio::test]
    async fn a_stopped_sign_in_is_resumed_with_the_same_code() {
        let s = setup();
        let (raise, stop) = Stop::new();
        let first = SignIns::new(s.ctx.clone(), stop);
        let code = user_code(&first.start(account(&s), Mode::Fresh).await.unwrap().event);
        raise.send(true).unwrap();
        first.drain(Duration::from_secs(10)).await;
        // Nobody polls it now and it has no outcome: interrupted, and resumable.
        match first.progress("o", Duration::ZERO).await.unwrap() {
            LoginProgress::Interrupted { event, .. } => assert_eq!(user_code(&event), code),
            other => panic!("not interrupted: {other:?}"),
        }

        let second = SignIns::new(s.ctx.clone(), Stop::never());
        let resumed = second.start(account(&s), Mode::Resume).await.unwrap();
        assert_eq!(user_code(&resumed.event), code);
        assert_eq!(
            s.idp.counters().device_requests,
            1,
            "no second code was requested"
        );
        assert!(s.idp.approve(&code));
        assert_eq!(outcome(&second).await.1, Exit::Ok);
        second.settle("o").await.unwrap();
    }

    #[tokio::test]
    async fn another_poller_is_joined_and_resume_only_never_asks_for_a_code() {
        let s = setup();
        let signins = SignIns::new(s.ctx.clone(), Stop::never());
        let f = signins.start(account(&s), Mode::Resume).await.unwrap_err();
        assert_eq!(f.reason, Reason::NoPending);
        assert_eq!(s.idp.counters().device_requests, 0);

        // Another process holds the login lock and has a code out: join it.
        let store = PendingStore::new(s.ctx.vault().unwrap(), "o");
        let pending = pending::for_test("WDJB-MJHT", now_unix(), None);
        store.save(&pending).await.unwrap();
        let held = store.claim().unwrap().expect("free");
        let other = SignIns::new(s.ctx.clone(), Stop::never());
        let joined = other.start(account(&s), Mode::Fresh).await.unwrap();
        assert!(joined.joined);
        assert_eq!(user_code(&joined.event), "WDJB-MJHT");
        assert_eq!(s.idp.counters().device_requests, 0);
        drop(held);
    }

    #[tokio::test]
    async fn a_handover_counts_as_live_for_a_few_seconds_only() {
        let s = setup();
        let store = PendingStore::new(s.ctx.vault().unwrap(), "o");
        let now = now_unix();
        store
            .save(&pending::for_test("ABCD-EFGH", now, Some(now - 2)))
            .await
            .unwrap();
        assert!(matches!(store.seen(now).unwrap(), Seen::Live(_)));
        store
            .save(&pending::for_test("ABCD-EFGH", now, Some(now - 30)))
            .await
            .unwrap();
        assert!(matches!(store.seen(now).unwrap(), Seen::Interrupted(_)));
        let (pending, _, note) = store.status_note(now, None).unwrap().unwrap();
        assert!(
            !pending && note.contains("resumes the code ABCD-EFGH"),
            "{note}"
        );
    }
}
