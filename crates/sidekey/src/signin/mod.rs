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

pub mod pending;

use crate::account::{Record, now_unix};
use crate::api::{LoginProgress, LoginStarted};
use crate::config::Account;
use crate::context::Context;
use crate::error::{Exit, Failure, Reason};
use pending::{CodeGrant, Outcome, Pending, PendingStore, Seen, failed_event, signed_in_event};
use sidekey_flow::pkce;
use sidekey_flow::provider::check_verification_uri;
use sidekey_flow::{DeviceFlow, PollEvent, Provider, SystemClock, TokenResponse};
use sidekey_notify::Event;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long a code-flow sign-in waits for its redirect.
const CODE_FLOW_WAIT_SECS: u64 = 600;

/// One request on the loopback listener: `Some(answer)` for a redirect carrying this
/// sign-in's state (a code or a refusal), `None` for anything else (a favicon, a stray or
/// forged request), which gets a 400 and is otherwise ignored.
async fn loopback_answer(
    mut sock: tokio::net::TcpStream,
    redirect_uri: &str,
    state: &str,
) -> Option<Result<sidekey_flow::Secret, pkce::RedirectError>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 8192];
    let mut n = 0;
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        while n < buf.len() {
            let k = sock.read(&mut buf[n..]).await.ok()?;
            if k == 0 {
                break;
            }
            n += k;
            if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        Some(())
    })
    .await;
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    let target = read
        .ok()
        .flatten()
        .and_then(|_| head.lines().next().map(str::to_string))
        .and_then(|l| {
            l.strip_prefix("GET ")
                .map(|r| r.split(' ').next().unwrap_or("").to_string())
        });
    let answer = target.and_then(|t| {
        let base = url::Url::parse(redirect_uri).ok()?;
        let full = base.join(&t).ok()?;
        match pkce::parse_redirect(full.as_str(), state) {
            Err(pkce::RedirectError::StateMismatch) | Err(pkce::RedirectError::NotAUrl) => None,
            other => Some(other),
        }
    });
    let (status, text) = match &answer {
        Some(Ok(_)) => (
            "200 OK",
            "sidekey received the sign-in. You can close this tab.",
        ),
        Some(Err(_)) => (
            "200 OK",
            "sidekey received the answer: the sign-in was not approved. You can close this tab.",
        ),
        None => (
            "400 Bad Request",
            "This is not a redirect sidekey is waiting for.",
        ),
    };
    let body = format!("<!doctype html><meta charset=utf-8><title>sidekey</title><p>{text}</p>");
    let _ = sock
        .write_all(
            format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await;
    let _ = sock.shutdown().await;
    answer
}

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

/// The system clock, whose waits end early once the stop signal is raised.
struct StoppableClock<'a>(&'a Stop);

impl sidekey_flow::Clock for StoppableClock<'_> {
    fn now(&self) -> Instant {
        Instant::now()
    }
    async fn sleep(&self, d: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.0.raised() => {}
        }
    }
}

/// What a sign-in task has to say so far.
#[derive(Clone, Debug)]
enum Shown {
    Starting,
    Code(LoginStarted),
    Failed(Failure),
    /// The outcome is stored; what is left is notifying. Nobody joins it any more.
    Done,
}

struct Task {
    shown: watch::Receiver<Shown>,
    handle: tokio::task::JoinHandle<Result<(), Failure>>,
}

impl Task {
    fn joinable(&self) -> bool {
        !self.handle.is_finished() && !matches!(*self.shown.borrow(), Shown::Done)
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

    fn job(&self, account: Account, mode: Mode, tx: watch::Sender<Shown>) -> Job {
        Job {
            ctx: self.ctx.clone(),
            stop: self.stop.clone(),
            notes: self.notes.load(std::sync::atomic::Ordering::Relaxed),
            account,
            mode,
            tx,
            deliveries: self.deliveries.clone(),
        }
    }

    /// Start (or join, or resume) `account`'s sign-in and return its code as soon as there is
    /// one. The polling goes on in a task of this process (or, for a handover, in a background
    /// process); [`SignIns::progress`] tells how it ends.
    pub async fn start(&self, account: Account, mode: Mode) -> Result<LoginStarted, Failure> {
        self.ctx.vault()?; // a wrong or missing key fails now, not after the person signed in
        let name = account.name.clone();
        let mut shown = {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            match running.get(&name).filter(|t| t.joinable()) {
                Some(t) => t.shown.clone(),
                None => {
                    let (tx, rx) = watch::channel(Shown::Starting);
                    let handle = tokio::spawn(self.job(account, mode, tx).run());
                    running.insert(
                        name.clone(),
                        Task {
                            shown: rx.clone(),
                            handle,
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
                Shown::Code(started) => return Ok(started),
                Shown::Failed(f) => Err(f),
                Shown::Starting | Shown::Done => {
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

    /// A redirect URL pasted back (`login --paste-url`, `POST /v1/login/NAME/redirect`): checked
    /// against the waiting code-flow sign-in's state here (a wrong one is refused, exit 6, and
    /// the sign-in keeps waiting), then handed to the sign-in's owner through the encrypted
    /// slot — this process's task, another process's, or a new one resuming it.
    pub async fn paste(&self, account: Account, url: &str) -> Result<LoginStarted, Failure> {
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
        let Some(grant) = p.code.as_mut() else {
            return Err(Failure::no_pending(&name));
        };
        match pkce::parse_redirect(url, grant.request.state.expose()) {
            Ok(_) | Err(pkce::RedirectError::Refused { .. }) => {}
            Err(e @ pkce::RedirectError::StateMismatch) => {
                return Err(Failure::new(Exit::Policy, Reason::Policy, e.to_string()));
            }
            Err(e) => return Err(Failure::usage(e.to_string())),
        }
        grant.pasted = Some(sidekey_flow::Secret::new(url.trim()));
        store.save(&p).await?;
        self.start(account, Mode::Resume).await
    }

    /// Where `name`'s sign-in stands, waiting up to `wait` for it to finish.
    pub async fn progress(&self, name: &str, wait: Duration) -> Result<LoginProgress, Failure> {
        let store = PendingStore::new(self.ctx.vault()?, name);
        let deadline = Instant::now() + wait;
        loop {
            match store.seen(now_unix())? {
                Seen::None => return Ok(LoginProgress::None),
                Seen::Finished(p, o) => return finished(&store, &p, &o, &self.ctx.config),
                Seen::Interrupted(p) => {
                    return Ok(LoginProgress::Interrupted {
                        event: p.code_event(name),
                    });
                }
                Seen::Live(p) if Instant::now() >= deadline => {
                    return Ok(LoginProgress::Pending {
                        event: p.code_event(name),
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
                let mut account = account.clone();
                account.scopes = p.scopes.clone();
                let (tx, rx) = watch::channel(Shown::Starting);
                let handle = tokio::spawn(self.job(account, Mode::Resume, tx).run());
                self.running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(name.clone(), Task { shown: rx, handle });
            }
        }
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

/// One sign-in, from the lock to the stored tokens.
struct Job {
    ctx: Arc<Context>,
    stop: Stop,
    notes: bool,
    account: Account,
    mode: Mode,
    tx: watch::Sender<Shown>,
    deliveries: Deliveries,
}

impl Job {
    /// The whole sign-in; a failure before the code is shown goes to whoever waits for the
    /// code, and every failure is the task's result (see [`SignIns::settle`]).
    async fn run(self) -> Result<(), Failure> {
        let result = self.drive().await;
        if let Err(f) = &result {
            self.tx.send_if_modified(|s| {
                let first = matches!(s, Shown::Starting);
                if first {
                    *s = Shown::Failed(f.clone());
                }
                first
            });
        }
        result
    }

    async fn drive(&self) -> Result<(), Failure> {
        let name = self.account.name.as_str();
        let store = PendingStore::new(self.ctx.vault()?, name);
        let lock = if self.mode == Mode::Background {
            // The parent hands over: wait briefly for it to let go.
            let mut got = None;
            for _ in 0..100 {
                if let Some(l) = store.claim()? {
                    got = Some(l);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            match got {
                Some(l) => l,
                None => {
                    return Err(Failure::new(
                        Exit::Provider,
                        Reason::Busy,
                        "somebody else polls this sign-in",
                    ));
                }
            }
        } else {
            match store.claim()? {
                Some(l) => l,
                None => return self.join(&store),
            }
        };

        let now = now_unix();
        let any_scopes = matches!(self.mode, Mode::Resume | Mode::Background);
        let resumable = store
            .load()?
            .filter(|p| p.resumable(now) && (any_scopes || p.scopes == self.account.scopes));
        let http = self.ctx.http()?;
        let code_flow = self.account.flow == crate::config::SignInFlow::Code;
        let (pending, fresh, listener) = match resumable {
            Some(p) => (p, false, None),
            None if any_scopes => return Err(Failure::no_pending(name)),
            None if code_flow => {
                let (p, l) = self.request_authorization(&store).await?;
                (p, true, l)
            }
            None => (self.request_code(&store).await?, true, None),
        };
        let provider = provider_for(&self.account, &pending)?;
        let provider = crate::registration::attach(&self.ctx, &self.account, provider)?;
        self.tx.send_replace(Shown::Code(LoginStarted {
            event: pending.code_event(name),
            joined: false,
        }));
        // A handover leaves the code's notification to its background process, which lives on.
        let notify_code = match self.mode {
            Mode::Handover => false,
            Mode::Background => pending.notify_code,
            _ => fresh,
        };
        if notify_code {
            self.notify(&pending.code_event(name));
        }

        if self.mode == Mode::Handover {
            let mut p = pending;
            p.handover_at = Some(now_unix());
            p.notify_code = fresh;
            store.save(&p).await?;
            drop(listener); // the background process listens on the same port
            spawn_background(name)?;
            drop(lock); // the background process takes it over
            return Ok(());
        }

        if pending.code.is_some() {
            let mut pending = pending;
            let result = self
                .await_redirect(&store, &provider, &mut pending, listener)
                .await;
            return self
                .conclude(&store, &provider, pending, result, lock)
                .await;
        }
        let result = DeviceFlow::new(http, &provider)
            .poll_until(
                &pending.remaining(now_unix()),
                Instant::now(),
                &StoppableClock(&self.stop),
                |ev| progress_note(ev, self.notes && self.mode != Mode::Background),
                &|| self.stop.is_raised(),
            )
            .await
            .map_err(|e| Failure::from_flow(e.for_provider(self.account.kind)));
        self.conclude(&store, &provider, pending, result, lock)
            .await
    }

    /// Store the outcome, let go of the lock, tell the channels.
    async fn conclude(
        &self,
        store: &PendingStore,
        provider: &Provider,
        pending: Pending,
        result: Result<TokenResponse, Failure>,
        lock: sidekey_vault::NamedLock,
    ) -> Result<(), Failure> {
        let name = self.account.name.as_str();
        let outcome = self.finish(store, provider, pending, result).await;
        drop(lock);
        if !matches!(&outcome, Err(f) if f.reason == Reason::Interrupted) {
            self.tx.send_replace(Shown::Done);
        }
        match &outcome {
            // The ceiling is the configured account's (`self.account` may carry `--scope`).
            Ok(rec) => self.notify(&signed_in_event(
                name,
                rec,
                self.ctx.config.accounts.get(name),
            )),
            Err(f) if f.reason == Reason::Interrupted => {}
            Err(f) => self.notify(&failed_event(name, self.account.kind.name(), f)),
        }
        outcome.map(|_| ())
    }

    /// Somebody else polls: show their code (the outcome is read from the slot).
    fn join(&self, store: &PendingStore) -> Result<(), Failure> {
        let name = self.account.name.as_str();
        let Some(p) = store.load()?.filter(|p| p.outcome.is_none()) else {
            return Err(if self.mode == Mode::Resume {
                Failure::no_pending(name)
            } else {
                Failure::new(
                    Exit::Provider,
                    Reason::Busy,
                    format!("another sign-in for '{name}' is starting; try again in a moment"),
                )
            });
        };
        self.tx.send_replace(Shown::Code(LoginStarted {
            event: p.code_event(name),
            joined: true,
        }));
        Ok(())
    }

    /// Ask the provider for a code, check where it sends the person, and record it as pending.
    async fn request_code(&self, store: &PendingStore) -> Result<Pending, Failure> {
        let http = self.ctx.http()?;
        let provider = self.account.resolve(http).await?;
        // A registered client (AWS): the registration first (cached in the vault), and a new
        // one if the provider no longer knows the cached one (`invalid_client`, HTTP 401).
        let mut provider =
            crate::registration::ensure(&self.ctx, &self.account, provider, false).await?;
        let mut started = DeviceFlow::new(http, &provider).start(&SystemClock).await;
        if crate::registration::registers(&self.account)
            && matches!(started, Err(sidekey_flow::FlowError::InvalidClient { .. }))
        {
            provider =
                crate::registration::ensure(&self.ctx, &self.account, provider, true).await?;
            started = DeviceFlow::new(http, &provider).start(&SystemClock).await;
        }
        let auth = started.map_err(|e| Failure::from_flow(e.for_provider(self.account.kind)))?;
        for uri in
            std::iter::once(&auth.verification_uri).chain(auth.verification_uri_complete.iter())
        {
            check_verification_uri(
                self.account.kind,
                &provider.endpoints,
                &self.account.verification_hosts,
                uri,
            )
            .map_err(|m| Failure::new(Exit::Policy, Reason::UntrustedVerificationUri, m))?;
        }
        let e = &provider.endpoints;
        let pending = Pending {
            auth,
            received_at: now_unix(),
            provider: self.account.kind.name().to_string(),
            scopes: provider.scopes.clone(),
            device_endpoint: e.device_authorization.to_string(),
            token_endpoint: e.token.to_string(),
            revocation_endpoint: e.revocation.as_ref().map(|u| u.to_string()),
            userinfo_endpoint: e.userinfo.as_ref().map(|u| u.to_string()),
            handover_at: None,
            code: None,
            notify_code: false,
            outcome: None,
        };
        store.save(&pending).await?;
        Ok(pending)
    }

    /// `flow = "code"`: a verifier and state (kept in the pending slot), a loopback listener
    /// for the redirect, and the authorization URL to send the person to.
    async fn request_authorization(
        &self,
        store: &PendingStore,
    ) -> Result<(Pending, Option<tokio::net::TcpListener>), Failure> {
        let http = self.ctx.http()?;
        let provider = self.account.resolve(http).await?;
        let Some(endpoint) = provider.endpoints.authorization.clone() else {
            return Err(Failure::config(format!(
                "account '{}' has flow = \"code\" but no authorization endpoint is known: set authorization_endpoint",
                self.account.name
            )));
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| Failure::internal(format!("cannot listen on 127.0.0.1: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| Failure::internal(format!("cannot listen on 127.0.0.1: {e}")))?
            .port();
        let request = pkce::CodeRequest::new(&pkce::loopback_redirect_uri(port))
            .map_err(Failure::from_flow)?;
        let url = pkce::authorization_url(&endpoint, &provider, &request);
        let e = &provider.endpoints;
        let pending = Pending {
            auth: sidekey_flow::DeviceAuthorization {
                device_code: sidekey_flow::Secret::new(""),
                user_code: String::new(),
                verification_uri: url.to_string(),
                verification_uri_complete: None,
                message: None,
                expires_in: CODE_FLOW_WAIT_SECS,
                interval: 1,
            },
            received_at: now_unix(),
            provider: self.account.kind.name().to_string(),
            scopes: provider.scopes.clone(),
            device_endpoint: e.device_authorization.to_string(),
            token_endpoint: e.token.to_string(),
            revocation_endpoint: e.revocation.as_ref().map(|u| u.to_string()),
            userinfo_endpoint: e.userinfo.as_ref().map(|u| u.to_string()),
            handover_at: None,
            code: Some(CodeGrant {
                request,
                pasted: None,
            }),
            notify_code: false,
            outcome: None,
        };
        store.save(&pending).await?;
        Ok((pending, Some(listener)))
    }

    /// Wait for the redirect: on the loopback listener, or pasted into the slot by
    /// `login --paste-url` / `POST /v1/login/NAME/redirect`; then exchange the code, once.
    async fn await_redirect(
        &self,
        store: &PendingStore,
        provider: &Provider,
        pending: &mut Pending,
        listener: Option<tokio::net::TcpListener>,
    ) -> Result<TokenResponse, Failure> {
        let Some(grant) = pending.code.clone() else {
            return Err(Failure::internal("not a code-flow sign-in"));
        };
        let state = grant.request.state.expose().to_string();
        // A resumed sign-in listens again on its redirect's port if it can; else paste-back only.
        let listener = match listener {
            Some(l) => Some(l),
            None => match url::Url::parse(&grant.request.redirect_uri)
                .ok()
                .and_then(|u| u.port())
            {
                Some(port) => tokio::net::TcpListener::bind(("127.0.0.1", port))
                    .await
                    .ok(),
                None => None,
            },
        };
        let answer = loop {
            if self.stop.is_raised() {
                return Err(Failure::from_flow(sidekey_flow::FlowError::Interrupted));
            }
            if now_unix() >= pending.expires_at() {
                return Err(Failure::from_flow(sidekey_flow::FlowError::Expired));
            }
            let pasted = store.load()?.and_then(|p| p.code).and_then(|c| c.pasted);
            if let Some(url) = pasted {
                break pkce::parse_redirect(url.expose(), &state);
            }
            let accepted = match &listener {
                Some(l) => tokio::time::timeout(Duration::from_millis(250), l.accept())
                    .await
                    .ok()
                    .and_then(|r| r.ok()),
                None => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    None
                }
            };
            if let Some((sock, _)) = accepted
                && let Some(r) = loopback_answer(sock, &grant.request.redirect_uri, &state).await
            {
                break r;
            }
        };
        if let Some(c) = pending.code.as_mut() {
            c.pasted = None;
        }
        let code = match answer {
            Ok(code) => code,
            Err(pkce::RedirectError::Refused { code, description }) => {
                return Err(Failure::from_flow(sidekey_flow::FlowError::from_oauth(
                    &sidekey_flow::OAuthError {
                        code,
                        description,
                        interval: None,
                    },
                    false,
                )));
            }
            Err(e) => return Err(Failure::new(Exit::Policy, Reason::Policy, e.to_string())),
        };
        DeviceFlow::new(self.ctx.http()?, provider)
            .exchange_code(&code, &grant.request)
            .await
            .map_err(|e| Failure::from_flow(e.for_provider(self.account.kind)))
    }

    /// Store the tokens (or the failure) and close the pending sign-in. The tokens are durable
    /// before anyone is told the sign-in succeeded.
    async fn finish(
        &self,
        store: &PendingStore,
        provider: &Provider,
        mut pending: Pending,
        result: Result<TokenResponse, Failure>,
    ) -> Result<Record, Failure> {
        let name = self.account.name.as_str();
        let failure = match result {
            Ok(tokens) => {
                let user = DeviceFlow::new(self.ctx.http()?, provider)
                    .user_info(&tokens)
                    .await
                    .unwrap_or_default();
                // A provider that says nothing about who signed in (IAM Identity Center): the
                // dialect names the account instead.
                let user = match self
                    .account
                    .kind
                    .dialect()
                    .anonymous_user(&self.account.client_id)
                {
                    Some(anonymous) if user == Default::default() => anonymous,
                    _ => user,
                };
                let rec = Record::from_tokens(&self.account, provider, tokens, user);
                pending.outcome = Some(Outcome {
                    at: now_unix(),
                    exit_code: Exit::Ok,
                    reason: None,
                    message: format!("Signed in as {}", rec.display_user()),
                });
                let (vault, n, r, p) = (
                    store.vault().clone(),
                    name.to_string(),
                    rec.clone(),
                    pending.clone(),
                );
                let stored = tokio::task::spawn_blocking(move || -> Result<(), Failure> {
                    let lock = vault.lock(&n)?;
                    lock.store(&r)?;
                    lock.store_slot("pending", &p)?;
                    Ok(())
                })
                .await
                .map_err(|_| Failure::internal("a worker thread failed"))
                .and_then(|r| r);
                match stored {
                    Ok(()) => return Ok(rec),
                    // The code is spent: say why the tokens were lost, never "resume it".
                    Err(f) => f,
                }
            }
            Err(f) if f.reason == Reason::Interrupted => return Err(f), // stays resumable
            Err(f) => f,
        };
        pending.outcome = Some(Outcome {
            at: now_unix(),
            exit_code: failure.exit,
            reason: Some(failure.reason),
            message: failure.message.clone(),
        });
        let _ = store.save(&pending).await;
        Err(failure)
    }

    /// Push an event to the configured channels (Telegram, webhook, ntfy) in the background; a
    /// channel failure is a warning only. [`SignIns::settle`] waits for it (bounded).
    fn notify(&self, e: &Event) {
        let channels = match self.ctx.channels() {
            Ok(c) if !c.is_empty() => c,
            Ok(_) => return,
            Err(f) => {
                eprintln!("sidekey: warning: cannot notify: {}", f.message);
                return;
            }
        };
        let e = e.clone();
        self.deliveries.push(tokio::spawn(async move {
            for d in channels.send(&e).await {
                if let Err(err) = d.result {
                    eprintln!(
                        "sidekey: warning: could not notify via {}: {err}",
                        d.channel
                    );
                }
            }
        }));
    }
}

fn progress_note(ev: &PollEvent, show: bool) {
    if !show {
        return;
    }
    if let PollEvent::Fault { what, retry_in } = ev {
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprint!("\r\x1b[K"); // the countdown's line
        }
        eprintln!(
            "sidekey: provider hiccup ({what}); retrying in {}s",
            retry_in.as_secs()
        );
    }
}

/// The provider with the endpoints the pending code was issued by (no second discovery).
fn provider_for(account: &Account, p: &Pending) -> Result<Provider, Failure> {
    let mut provider =
        account.provider_with(&p.token_endpoint, p.revocation_endpoint.as_deref())?;
    if let Ok(u) = url::Url::parse(&p.device_endpoint) {
        provider.endpoints.device_authorization = u;
    }
    if provider.endpoints.userinfo.is_none() {
        provider.endpoints.userinfo = p
            .userinfo_endpoint
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok());
    }
    provider.scopes = p.scopes.clone();
    Ok(provider)
}

/// Start `sidekey login NAME --background`, detached from this terminal and process group.
fn spawn_background(name: &str) -> Result<(), Failure> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::internal(format!("cannot find the sidekey binary: {e}")))?;
    std::process::Command::new(exe)
        .args(["login", name, "--background"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| Failure::internal(format!("cannot start the background sign-in: {e}")))?;
    Ok(())
}

/// The account as a sign-in should request it: the configured scopes, or `requested` ones
/// (normalised like the config's), within the policy's ceiling.
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
    account
        .policy
        .check_scopes(&account.name, &account.scopes, &a.scopes)?;
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
            LoginProgress::Interrupted { event } => assert_eq!(user_code(&event), code),
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
        let pending = pending_for("WDJB-MJHT", now_unix(), None);
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
            .save(&pending_for("ABCD-EFGH", now, Some(now - 2)))
            .await
            .unwrap();
        assert!(matches!(store.seen(now).unwrap(), Seen::Live(_)));
        store
            .save(&pending_for("ABCD-EFGH", now, Some(now - 30)))
            .await
            .unwrap();
        assert!(matches!(store.seen(now).unwrap(), Seen::Interrupted(_)));
        let (pending, _, note) = store.status_note(now).unwrap().unwrap();
        assert!(
            !pending && note.contains("resumes the code ABCD-EFGH"),
            "{note}"
        );
    }

    fn pending_for(code: &str, received_at: i64, handover_at: Option<i64>) -> Pending {
        Pending {
            auth: sidekey_flow::DeviceAuthorization {
                device_code: sidekey_flow::Secret::new("device-code-0123456789"),
                user_code: code.into(),
                verification_uri: "http://127.0.0.1:9/device".into(),
                verification_uri_complete: None,
                message: None,
                expires_in: 600,
                interval: 5,
            },
            received_at,
            provider: "oidc".into(),
            scopes: vec![],
            device_endpoint: "http://127.0.0.1:9/device".into(),
            token_endpoint: "http://127.0.0.1:9/token".into(),
            revocation_endpoint: None,
            userinfo_endpoint: None,
            handover_at,
            code: None,
            notify_code: false,
            outcome: None,
        }
    }
}
