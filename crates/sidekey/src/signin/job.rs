//! One sign-in, from the account's login lock to the stored tokens: ask for a code (or join or
//! resume one), poll, store the outcome, tell the channels. The registry in [`super`] runs one
//! [`Job`] per account; the code flow's own steps are in [`super::code_flow`].

use super::identity::{self, Decision, Remembered};
use super::pending::{Outcome, Pending, PendingStore, failed_event, signed_in_event};
use super::{Begin, Deliveries, Mode, Shown, Stop};
use crate::account::{Record, now_unix};
use crate::api::LoginStarted;
use crate::config::Account;
use crate::context::Context;
use crate::error::{Exit, Failure, Reason};
use sidekey_flow::provider::check_verification_uri;
use sidekey_flow::{DeviceFlow, PollEvent, Provider, SystemClock, TokenResponse};
use sidekey_notify::Event;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

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

/// One sign-in, from the lock to the stored tokens.
pub(super) struct Job {
    pub(super) ctx: Arc<Context>,
    pub(super) stop: Stop,
    pub(super) notes: bool,
    pub(super) account: Account,
    pub(super) mode: Mode,
    pub(super) begin: Begin,
    pub(super) tx: watch::Sender<Shown>,
    pub(super) deliveries: Deliveries,
}

impl Job {
    /// The whole sign-in; a failure before the code is shown goes to whoever waits for the
    /// code, and every failure is the task's result (see [`SignIns::settle`]).
    pub(super) async fn run(self) -> Result<(), Failure> {
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
        // A `--replace-identity` sign-in resumes only its own kind, and only the person (or
        // its own background poller, or a redirect pasted for it) resumes one.
        let inherits = self.mode == Mode::Background || self.begin.pasted;
        let resumable = store.load()?.filter(|p| {
            p.resumable(now)
                && (any_scopes || p.scopes == self.account.scopes)
                && (p.replace_identity == self.begin.replace_identity || inherits)
        });
        let http = self.ctx.http()?;
        let code_flow = self.account.flow == crate::config::SignInFlow::Code;
        let (mut pending, fresh, listener) = match resumable {
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
        // A handover leaves the code's notification to its background process, which lives on.
        let notify_code = match self.mode {
            Mode::Handover => false,
            Mode::Background => pending.notify_code,
            _ => fresh,
        };
        // Written down before anyone sees the code: whether it is the person's replacement,
        // and whether the channels have it (else a caller it is withheld from sends it).
        let has_channels = self.ctx.channels().is_ok_and(|c| !c.is_empty());
        let before = (pending.replace_identity, pending.notify_code, pending.told);
        if fresh {
            pending.replace_identity = self.begin.replace_identity;
            pending.notify_code = self.mode == Mode::Handover;
        }
        pending.told |= notify_code && has_channels;
        if before != (pending.replace_identity, pending.notify_code, pending.told) {
            store.save(&pending).await?;
        }
        self.tx.send_replace(Shown::Code(LoginStarted {
            event: pending.code_event(name),
            joined: false,
            sent_to: vec![],
        }));
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
        // From here the code is spent: nobody joins it while the outcome is stored (a joiner
        // would be handed a code whose sign-in has ended; see `SignIns::start_as`).
        if !matches!(&result, Err(f) if f.reason == Reason::Interrupted) {
            self.tx.send_if_modified(|s| match s {
                Shown::Code(started) => {
                    *s = Shown::Finishing(started.clone());
                    true
                }
                _ => false,
            });
        }
        let outcome = self.finish(store, provider, pending, result).await;
        drop(lock);
        if !matches!(&outcome, Err(f) if f.reason == Reason::Interrupted) {
            self.tx.send_modify(|s| {
                *s = Shown::Done(match s {
                    Shown::Code(started) | Shown::Finishing(started) => Some(started.clone()),
                    _ => None,
                })
            });
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
        if p.replace_identity != self.begin.replace_identity && !self.begin.pasted {
            return Err(busy_replacing(name, self.begin.replace_identity));
        }
        self.tx.send_replace(Shown::Code(LoginStarted {
            event: p.code_event(name),
            joined: true,
            sent_to: vec![],
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
            replace_identity: false,
            told: false,
            started_by: self.begin.by,
            outcome: None,
        };
        store.save(&pending).await?;
        Ok(pending)
    }
}

impl Job {
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
                let provider_name = self.account.kind.name();
                // A record from before identities were kept: whom its token belongs to.
                let probed = if pending.replace_identity {
                    None
                } else {
                    self.subject_of_record_from_before(provider).await
                };
                // Under the account lock: who the account is, and the tokens only if it is
                // still the same user (docs/identity.md, "The rule").
                let wait = crate::account::lock_wait(&self.ctx);
                let stored = tokio::task::spawn_blocking(move || -> Result<Decision, Failure> {
                    let lock = crate::account::lock_blocking(&vault, &n, wait)?;
                    let replace = p.replace_identity;
                    let mut remembered: Option<Remembered> = if replace {
                        lock.load_slot(identity::SLOT).ok().flatten()
                    } else {
                        lock.load_slot(identity::SLOT)?
                    };
                    // A record that does not open (damaged) holds nothing to compare.
                    let current: Option<Record> = lock.load().ok().flatten();
                    // The subject its token named, if the record is still the one asked about
                    // and nothing was remembered meanwhile: remembered from now on.
                    if let Some((token, subject)) = probed
                        && !replace
                        && remembered
                            .as_ref()
                            .is_none_or(|r| r.provider != provider_name)
                        && current
                            .as_ref()
                            .is_some_and(|c| c.access_token.expose() == token.expose())
                    {
                        let id = Remembered {
                            provider: provider_name.to_string(),
                            subject,
                            since: now_unix(),
                        };
                        lock.store_slot(identity::SLOT, &id)?;
                        remembered = Some(id);
                    }
                    let decision = identity::decide(
                        provider_name,
                        remembered.as_ref(),
                        current.as_ref(),
                        &r.user,
                        replace,
                    );
                    match &decision {
                        Decision::Refuse(_) | Decision::Unknown => return Ok(decision),
                        Decision::Remember(id) => lock.store_slot(identity::SLOT, id)?,
                        Decision::Keep => {}
                    }
                    lock.store(&r)?;
                    lock.store_slot("pending", &p)?;
                    Ok(decision)
                })
                .await
                .map_err(|_| Failure::internal("a worker thread failed"))
                .and_then(|r| r);
                match stored {
                    Ok(Decision::Refuse(who)) => {
                        let f = Failure::new(
                            Exit::Policy,
                            Reason::IdentityMismatch,
                            identity::refusal(name, &who),
                        );
                        self.refuse_identity(provider, &rec, f).await
                    }
                    Ok(Decision::Unknown) => {
                        let f = Failure::new(
                            Exit::Provider,
                            Reason::IdentityUnknown,
                            identity::unknown(name),
                        );
                        self.refuse_identity(provider, &rec, f).await
                    }
                    Ok(_) => return Ok(rec),
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

    /// For a record from before sidekey kept identities (no `identity` slot for this provider,
    /// no subject in the record): ask the provider whom the record's own access token belongs
    /// to (docs/identity.md, "Records from before"). `None` when there is no such record or the
    /// provider does not say (the token expired or was revoked: today's rule then applies).
    /// The token asked with is returned beside the subject, so the caller uses the answer only
    /// for the record it was about.
    async fn subject_of_record_from_before(
        &self,
        provider: &Provider,
    ) -> Option<(sidekey_flow::Secret, String)> {
        let name = self.account.name.as_str();
        let provider_name = self.account.kind.name();
        let vault = self.ctx.vault().ok()?;
        let remembered: Option<Remembered> = vault.load_slot(name, identity::SLOT).ok()?;
        if remembered.is_some_and(|r| r.provider == provider_name) {
            return None;
        }
        let old: Record = vault.load(name).ok()??;
        if old.provider != provider_name || old.user.subject.is_some() {
            return None;
        }
        if old.expires_at.is_some_and(|t| t <= now_unix()) {
            return None; // expired: the provider would only say 401
        }
        let asked = TokenResponse {
            access_token: old.access_token.clone(),
            token_type: old.token_type.clone(),
            expires_in: None,
            refresh_token: None,
            refresh_token_expires_in: None,
            scope: None,
            // Only the provider's answer about the token: the old ID token is the decision's
            // own fallback.
            id_token: None,
        };
        let user = DeviceFlow::new(self.ctx.http().ok()?, provider)
            .user_info(&asked)
            .await?;
        Some((old.access_token, user.subject?))
    }

    /// A sign-in that came back as someone else, or as nobody sidekey can tell (`failure`
    /// says which): its tokens are dropped (someone else's also revoked at the provider where
    /// the dialect can without ending others of the app, best effort:
    /// `DeviceFlow::revoke_refused`), the stored record is not touched, and the refusal gets
    /// its own audit entry (the guard's for the `login` call was written when it started). The
    /// caller stores the outcome and tells the channels.
    async fn refuse_identity(
        &self,
        provider: &Provider,
        rec: &Record,
        failure: Failure,
    ) -> Failure {
        let name = self.account.name.as_str();
        let started = Instant::now();
        // Someone else's tokens are revoked. Tokens nobody can tell may be the person's own,
        // and at some providers (Google, Auth0) revoking one ends the app's whole grant for
        // that user, the stored tokens with it: those are dropped, never revoked.
        if failure.reason == Reason::IdentityMismatch
            && let Ok(http) = self.ctx.http()
        {
            let _ = DeviceFlow::new(http, provider)
                .revoke_refused(&rec.access_token, rec.refresh_token.as_ref())
                .await;
        }
        if self.ctx.home.exists() {
            let caller = if self.begin.caller.is_empty() {
                crate::audit::local_caller()
            } else {
                self.begin.caller.clone()
            };
            crate::audit::record(
                &self.ctx.home,
                &caller,
                Some(name),
                "login",
                serde_json::json!({"step": "finish"}),
                started,
                crate::audit::Reached::Run,
                &Err(failure.clone()),
            );
        }
        failure
    }

    fn notify(&self, e: &Event) {
        notify(&self.ctx, &self.deliveries, e);
    }
}

/// Push an event to the configured channels (Telegram, webhook, ntfy) in the background; a
/// channel failure is a warning only. [`super::SignIns::settle`] waits for it (bounded).
pub(super) fn notify(ctx: &Context, deliveries: &Deliveries, e: &Event) {
    let channels = match ctx.channels() {
        Ok(c) if !c.is_empty() => c,
        Ok(_) => return,
        Err(f) => {
            eprintln!("sidekey: warning: cannot notify: {}", f.message);
            return;
        }
    };
    let e = e.clone();
    deliveries.push(tokio::spawn(async move {
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

/// A sign-in that cannot join the one under way: a `--replace-identity` one and a plain one do
/// not mix (the person's replacement is theirs alone).
pub(super) fn busy_replacing(name: &str, replacing: bool) -> Failure {
    let message = if replacing {
        format!(
            "another sign-in for '{name}' is under way; wait for it to end (`sidekey login {name} --wait`), then run `sidekey login {name} --replace-identity` again"
        )
    } else {
        format!(
            "the person is signing in to '{name}' at the machine (--replace-identity); try again when that is done"
        )
    };
    Failure::new(Exit::Provider, Reason::Busy, message)
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
