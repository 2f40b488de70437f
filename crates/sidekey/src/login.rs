//! `sidekey login NAME [--json] [--no-wait | --wait]`: run the device flow and store the tokens.
//!
//! The order matters: the config and the vault key are checked *before* a code is requested, so
//! the person is never sent to sign in for an account whose tokens could not be stored, and the
//! verification page is checked against the provider's hosts before the code is shown anywhere.
//!
//! **One sign-in per account.** The process that polls holds the account's `login` lock (an
//! OS file lock, released however the process ends). The code, the device code and — at the end
//! — the outcome are kept in the vault's `pending` slot (encrypted like the tokens). A second
//! `login` that finds the lock held *joins*: it shows the same code and waits for the outcome.
//! One that finds the lock free but an unexpired pending code *resumes* polling it (the previous
//! poller died, or `--no-wait` handed over to its background process).

use crate::account::{self, Record, now_unix, rfc3339};
use crate::config::Account;
use crate::context::Context;
use crate::failure::{self, Failure};
use serde::{Deserialize, Serialize};
use sidekey_flow::provider::check_verification_uri;
use sidekey_flow::{
    DeviceAuthorization, DeviceFlow, PollEvent, Provider, Secret, SystemClock, TokenResponse,
};
use sidekey_notify::{Channels, Event, User};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub const PENDING: &str = "pending";
const LOGIN_LOCK: &str = "login";

/// A sign-in in progress (or just finished), kept encrypted in the vault.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Pending {
    pub started_at: i64,
    pub device_code: Secret,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub expires_at: i64,
    pub interval: u64,
    pub scopes: Vec<String>,
    pub device_endpoint: String,
    pub token_endpoint: String,
    pub revocation_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    /// Set by `--no-wait` just before its background process takes over the polling: for a
    /// few seconds a free `login` lock still means "pending", not "interrupted".
    #[serde(default)]
    pub handover_at: Option<i64>,
    pub outcome: Option<Outcome>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Outcome {
    pub at: i64,
    pub exit_code: u8,
    pub reason: String,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Start (or join) and wait until done.
    Wait,
    /// Start, hand the polling to a background process, return.
    NoWait,
    /// Only wait for a sign-in that is already pending.
    JoinOnly,
    /// The background process started by `--no-wait`.
    Background,
}

/// Where login events go: JSON lines or sentences on stdout, plus the notification channels.
pub struct Reporter {
    pub json: bool,
    pub quiet: bool,
    pub account: String,
    pub provider: &'static str,
    pub channels: Channels,
}

impl Reporter {
    fn print_json(&self, e: &Event) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", serde_json::to_string(e).unwrap_or_default());
        let _ = out.flush();
    }

    pub fn code_event(&self, p: &Pending) -> Event {
        Event::Code {
            account: self.account.clone(),
            provider: self.provider.into(),
            scopes: p.scopes.clone(),
            user_code: p.user_code.clone(),
            verification_uri: p.verification_uri.clone(),
            verification_uri_complete: p.verification_uri_complete.clone(),
            expires_at: rfc3339(p.expires_at),
            interval: p.interval,
        }
    }

    /// Show the code here (stdout, and a QR code in a terminal).
    pub fn show_code(&self, p: &Pending) {
        self.show_code_event(&self.code_event(p));
    }

    /// Show a code event (also used by client mode, where the event comes from the daemon).
    pub fn show_code_event(&self, e: &Event) {
        if self.quiet {
            return;
        }
        if self.json {
            self.print_json(e);
            return;
        }
        let Event::Code {
            user_code,
            verification_uri,
            verification_uri_complete,
            expires_at,
            ..
        } = e
        else {
            return;
        };
        let tty = std::io::stdout().is_terminal();
        let color = tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let mins = expires_at
            .parse::<jiff::Timestamp>()
            .map(|t| (t.as_second() - now_unix()).max(0) / 60)
            .unwrap_or(0);
        let link = verification_uri_complete
            .as_deref()
            .unwrap_or(verification_uri);
        if tty && let Ok(qr) = sidekey_notify::qr::terminal(link) {
            println!("{qr}");
        }
        let code = if color {
            format!("\x1b[1;7m {user_code} \x1b[0m")
        } else {
            user_code.clone()
        };
        println!(
            "To sign in to '{}' ({}), open {verification_uri}\nand enter the code: {code}\nThe code expires at {expires_at} (in {mins} min).",
            self.account, self.provider,
        );
        if let Some(c) = verification_uri_complete {
            println!("Or open this link, which carries the code: {c}");
        }
        let _ = std::io::stdout().flush();
    }

    /// Print the final event of a sign-in that ran elsewhere (daemon, client mode).
    pub fn show_final_event(&self, e: &Event) {
        if self.quiet {
            return;
        }
        if self.json {
            self.print_json(e);
            return;
        }
        clear_countdown();
        if let Event::SignedIn { user, .. } = e {
            let who = match (&user.name, &user.email) {
                (Some(n), Some(m)) => format!("{n} <{m}>"),
                (Some(n), None) => n.clone(),
                (None, Some(m)) => m.clone(),
                (None, None) => "unknown user".into(),
            };
            println!("Signed in to '{}' as {who}.", self.account);
        }
    }

    /// Send an event through every configured channel; a channel failure is a warning only.
    async fn notify(&self, e: &Event) {
        if self.channels.is_empty() {
            return;
        }
        for d in self.channels.send(e).await {
            if let Err(err) = d.result {
                eprintln!(
                    "sidekey: warning: could not notify via {}: {err}",
                    d.channel
                );
            }
        }
    }

    fn progress(&self, ev: &PollEvent) {
        if self.json || self.quiet {
            return;
        }
        if let PollEvent::Fault { what, retry_in } = ev {
            clear_countdown();
            eprintln!(
                "sidekey: provider hiccup ({what}); retrying in {}s",
                retry_in.as_secs()
            );
        }
    }

    pub fn signed_in_event(&self, rec: &Record) -> Event {
        Event::SignedIn {
            account: self.account.clone(),
            provider: self.provider.into(),
            user: User {
                name: rec.user.name.clone(),
                email: rec.user.email.clone(),
            },
            scopes: rec.scopes.clone(),
            expires_at: rec.expires_at.map(rfc3339),
        }
    }

    pub fn failed_event(&self, reason: &str, message: &str) -> Event {
        Event::Failed {
            account: self.account.clone(),
            provider: self.provider.into(),
            reason: reason.into(),
            message: message.into(),
        }
    }

    fn show_signed_in(&self, rec: &Record) {
        if self.quiet {
            return;
        }
        if self.json {
            self.print_json(&self.signed_in_event(rec));
        } else {
            clear_countdown();
            println!("Signed in to '{}' as {}.", self.account, rec.display_user());
        }
    }

    pub fn show_failed(&self, reason: &str, message: &str) {
        if self.json && !self.quiet {
            self.print_json(&self.failed_event(reason, message));
        } else {
            clear_countdown();
        }
    }
}

fn clear_countdown() {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[K");
    }
}

/// A countdown on stderr while waiting, in a terminal only.
fn countdown(expires_at: i64, quiet: bool) -> Option<tokio::task::JoinHandle<()>> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    Some(tokio::spawn(async move {
        loop {
            let left = (expires_at - now_unix()).max(0);
            eprint!(
                "\r\x1b[Kwaiting for sign-in… {}:{:02} left ",
                left / 60,
                left % 60
            );
            let _ = std::io::stderr().flush();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }))
}

pub fn channels(ctx: &Context, http: &sidekey_flow::Http) -> Channels {
    let n = &ctx.config.notify;
    Channels::new(
        http.client().clone(),
        n.telegram.as_ref().map(|t| sidekey_notify::TelegramConfig {
            bot_token: t.bot_token.expose().to_string(),
            chat_id: t.chat_id.clone(),
            api_base: t.api_base.clone(),
        }),
        n.webhook.as_ref().map(|w| sidekey_notify::WebhookConfig {
            url: w.url.clone(),
            bearer: w.bearer.as_ref().map(|b| b.expose().to_string()),
        }),
        n.ntfy.as_ref().map(|x| sidekey_notify::NtfyConfig {
            server: x.server.clone(),
            topic: x.topic.clone(),
            token: x.token.as_ref().map(|t| t.expose().to_string()),
        }),
    )
}

/// The account as a sign-in should request it: the configured scopes, or `requested` ones
/// (expanded like the config's), within the policy's ceiling.
pub fn with_scopes(account: &Account, requested: Option<&[String]>) -> Result<Account, Failure> {
    let mut a = account.clone();
    if let Some(req) = requested.filter(|r| !r.is_empty()) {
        let mut scopes: Vec<String> = req
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if scopes.is_empty() {
            return Err(Failure::usage("--scope was given but names no scope"));
        }
        scopes = account
            .kind
            .dialect()
            .normalize_scopes(scopes)
            .map_err(Failure::usage)?;
        a.scopes = scopes;
    }
    account
        .policy
        .check_scopes(&account.name, &account.scopes, &a.scopes)?;
    Ok(a)
}

pub fn login(
    ctx: &Context,
    name: &str,
    json: bool,
    mode: Mode,
    scopes: &[String],
) -> Result<(), Failure> {
    let account = &with_scopes(ctx.config.account(name)?, Some(scopes))?;
    let http = account::http(ctx)?;
    let reporter = Reporter {
        json,
        quiet: mode == Mode::Background,
        account: name.to_string(),
        provider: account.kind.name(),
        channels: channels(ctx, &http),
    };
    let rt = account::runtime()?;
    let result = rt.block_on(run(ctx, account, &http, &reporter, mode, |_, _| {}));
    if let Err(f) = &result {
        reporter.show_failed(f.reason, &f.message);
    }
    result.map(|_| ())
}

/// Everything `login` does. `on_code` sees the code once it is shown (the demo approves with it).
pub async fn run(
    ctx: &Context,
    account: &Account,
    http: &sidekey_flow::Http,
    reporter: &Reporter,
    mode: Mode,
    on_code: impl FnOnce(&str, &str),
) -> Result<Option<Record>, Failure> {
    // Fail on a wrong or missing key now, not after the person has signed in.
    let vault = ctx.vault()?;
    let name = account.name.as_str();
    let lock = if mode == Mode::Background {
        // The parent hands over: wait for it to let go (briefly).
        let mut got = None;
        for _ in 0..100 {
            if let Some(l) = vault.try_lock_named(name, LOGIN_LOCK)? {
                got = Some(l);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        match got {
            Some(l) => l,
            None => return Ok(None), // somebody else is polling it: nothing to do
        }
    } else {
        match vault.try_lock_named(name, LOGIN_LOCK)? {
            Some(l) => l,
            None => return join(&vault, account, reporter, mode).await,
        }
    };

    let existing: Option<Pending> = vault.load_slot(name, PENDING)?;
    // A fresh `login` resumes only a code for the same scopes; the background poller and
    // `--wait` resume whatever is pending (its scopes were checked when it started).
    let any_scopes = matches!(mode, Mode::JoinOnly | Mode::Background);
    let resumable = existing.filter(|p| {
        p.outcome.is_none()
            && p.expires_at > now_unix() + 1
            && (any_scopes || p.scopes == account.scopes)
    });
    let (pending, fresh) = match resumable {
        Some(p) => (p, false),
        None if matches!(mode, Mode::JoinOnly | Mode::Background) => {
            return Err(Failure::new(
                failure::NOT_SIGNED_IN,
                "no_pending",
                format!(
                    "no sign-in is pending for '{name}': start one with `sidekey login {name}`"
                ),
            ));
        }
        None => (start(&vault, account, http).await?, true),
    };
    let provider = provider_for(account, &pending)?;
    reporter.show_code(&pending);
    if fresh {
        reporter.notify(&reporter.code_event(&pending)).await;
    }
    on_code(&pending.verification_uri, &pending.user_code);

    if mode == Mode::NoWait {
        let mut p = pending.clone();
        p.handover_at = Some(now_unix());
        vault.lock(name)?.store_slot(PENDING, &p)?;
        spawn_background(name)?;
        drop(lock); // the background process takes it over
        if !reporter.json {
            println!(
                "Waiting in the background; `sidekey status {name}` shows progress, `sidekey login {name} --wait` waits for it."
            );
        }
        return Ok(None);
    }

    let ticker = countdown(pending.expires_at, reporter.quiet || reporter.json);
    let result = poll(http, &provider, &pending, reporter).await;
    if let Some(t) = ticker {
        t.abort();
    }
    let outcome = finish(&vault, account, &provider, http, pending, result).await;
    drop(lock);
    match outcome {
        Ok(rec) => {
            reporter.show_signed_in(&rec);
            reporter.notify(&reporter.signed_in_event(&rec)).await;
            Ok(Some(rec))
        }
        Err(f) => {
            reporter
                .notify(&reporter.failed_event(f.reason, &f.message))
                .await;
            Err(f)
        }
    }
}

/// Ask the provider for a code, check where it sends the person, and record it as pending.
async fn start(
    vault: &sidekey_vault::Vault,
    account: &Account,
    http: &sidekey_flow::Http,
) -> Result<Pending, Failure> {
    let provider = account.resolve(http).await?;
    let flow = DeviceFlow::new(http, &provider);
    let auth: DeviceAuthorization = flow.start(&SystemClock).await.map_err(Failure::from_flow)?;
    for uri in std::iter::once(&auth.verification_uri).chain(auth.verification_uri_complete.iter())
    {
        check_verification_uri(
            account.kind,
            &provider.endpoints,
            &account.verification_hosts,
            uri,
        )
        .map_err(|m| Failure::new(failure::POLICY, "untrusted_verification_uri", m))?;
    }
    let now = now_unix();
    let pending = Pending {
        started_at: now,
        device_code: auth.device_code.clone(),
        user_code: auth.user_code.clone(),
        verification_uri: auth.verification_uri.clone(),
        verification_uri_complete: auth.verification_uri_complete.clone(),
        expires_at: now + auth.expires_in as i64,
        interval: auth.interval,
        scopes: provider.scopes.clone(),
        device_endpoint: provider.endpoints.device_authorization.to_string(),
        token_endpoint: provider.endpoints.token.to_string(),
        revocation_endpoint: provider
            .endpoints
            .revocation
            .as_ref()
            .map(|u| u.to_string()),
        userinfo_endpoint: provider.endpoints.userinfo.as_ref().map(|u| u.to_string()),
        handover_at: None,
        outcome: None,
    };
    vault.lock(&account.name)?.store_slot(PENDING, &pending)?;
    Ok(pending)
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

async fn poll(
    http: &sidekey_flow::Http,
    provider: &Provider,
    p: &Pending,
    reporter: &Reporter,
) -> Result<TokenResponse, Failure> {
    let auth = DeviceAuthorization {
        device_code: p.device_code.clone(),
        user_code: p.user_code.clone(),
        verification_uri: p.verification_uri.clone(),
        verification_uri_complete: p.verification_uri_complete.clone(),
        message: None,
        expires_in: (p.expires_at - now_unix()).max(0) as u64,
        interval: p.interval,
    };
    DeviceFlow::new(http, provider)
        .poll_until(
            &auth,
            Instant::now(),
            &StoppableClock,
            |ev| reporter.progress(ev),
            &stop_requested,
        )
        .await
        .map_err(Failure::from_flow)
}

static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Ask every sign-in polling in this process to stop at its next wait (daemon shutdown). The
/// pending codes stay in the vault and are resumed after the restart.
pub fn request_stop() {
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
}

fn stop_requested() -> bool {
    STOP.load(std::sync::atomic::Ordering::SeqCst)
}

/// The system clock, whose waits end early once a stop was requested.
struct StoppableClock;

impl sidekey_flow::Clock for StoppableClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    async fn sleep(&self, d: Duration) {
        let end = Instant::now() + d;
        while !stop_requested() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            tokio::time::sleep(left.min(Duration::from_millis(200))).await;
        }
    }
}

/// Store the tokens (or the failure) and close the pending sign-in. The tokens are durable
/// before anyone is told the sign-in succeeded.
async fn finish(
    vault: &sidekey_vault::Vault,
    account: &Account,
    provider: &Provider,
    http: &sidekey_flow::Http,
    mut pending: Pending,
    result: Result<TokenResponse, Failure>,
) -> Result<Record, Failure> {
    let outcome = match result {
        Ok(tokens) => {
            let user = DeviceFlow::new(http, provider)
                .user_info(&tokens)
                .await
                .unwrap_or_default();
            let rec = Record::from_tokens(account, provider, tokens, user);
            let lock = vault.lock(&account.name)?;
            lock.store(&rec)?;
            pending.outcome = Some(Outcome {
                at: now_unix(),
                exit_code: 0,
                reason: "signed_in".into(),
                message: format!("Signed in as {}", rec.display_user()),
            });
            lock.store_slot(PENDING, &pending)?;
            return Ok(rec);
        }
        Err(f) if f.reason == "interrupted" => return Err(f), // stays resumable
        Err(f) => f,
    };
    pending.outcome = Some(Outcome {
        at: now_unix(),
        exit_code: outcome.code,
        reason: outcome.reason.into(),
        message: outcome.message.clone(),
    });
    if let Ok(lock) = vault.lock(&account.name) {
        let _ = lock.store_slot(PENDING, &pending);
    }
    Err(outcome)
}

/// Another process is running this account's sign-in: show its code, wait for its outcome.
async fn join(
    vault: &sidekey_vault::Vault,
    account: &Account,
    reporter: &Reporter,
    mode: Mode,
) -> Result<Option<Record>, Failure> {
    let name = account.name.as_str();
    let Some(pending) = vault.load_slot::<Pending>(name, PENDING)? else {
        return Err(Failure::new(
            failure::PROVIDER,
            "busy",
            format!("another sign-in for '{name}' is starting; try again in a moment"),
        ));
    };
    if !reporter.json {
        println!("A sign-in for '{name}' is already in progress; joining it.");
    }
    reporter.show_code(&pending);
    if mode == Mode::NoWait {
        return Ok(None);
    }
    let ticker = countdown(pending.expires_at, reporter.quiet || reporter.json);
    let started = pending.started_at;
    let result = loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now: Option<Pending> = vault.load_slot(name, PENDING)?;
        let handover = match now {
            Some(p) if p.started_at == started => {
                if let Some(o) = p.outcome {
                    break Ok(o);
                }
                p.handover_at.is_some_and(|h| now_unix() - h <= 10)
            }
            _ => break Err(Failure::internal("the pending sign-in was replaced")),
        };
        // The poller is gone without an outcome (killed, machine restarted).
        if !handover && let Some(l) = vault.try_lock_named(name, LOGIN_LOCK)? {
            drop(l);
            break Err(Failure::new(
                failure::PROVIDER,
                "interrupted",
                format!(
                    "the sign-in for '{name}' stopped before it finished; run `sidekey login {name}` to resume it"
                ),
            ));
        }
    };
    if let Some(t) = ticker {
        t.abort();
    }
    let o = result?;
    if o.exit_code == 0 {
        let rec: Record = vault
            .load(name)?
            .ok_or_else(|| Failure::not_signed_in(name))?;
        reporter.show_signed_in(&rec);
        Ok(Some(rec))
    } else {
        let reason = failure_reason(&o.reason);
        Err(Failure::new(o.exit_code, reason, o.message))
    }
}

/// Map a stored reason back to the static set used by `Failure`.
pub fn failure_reason(r: &str) -> &'static str {
    const KNOWN: [&str; 21] = [
        "policy",
        "unauthorized",
        "signed_out",
        "reauth_required",
        "no_pending",
        "busy",
        "signed_in",
        "declined",
        "expired",
        "bad_code",
        "device_flow_disabled",
        "invalid_client",
        "invalid_scope",
        "provider_error",
        "network",
        "config",
        "usage",
        "vault",
        "internal",
        "untrusted_verification_uri",
        "interrupted",
    ];
    KNOWN
        .into_iter()
        .find(|k| *k == r)
        .unwrap_or("provider_error")
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

/// What `status` shows for a pending sign-in: `Some((state, note))`.
pub fn pending_state(
    vault: &sidekey_vault::Vault,
    name: &str,
) -> Result<Option<(&'static str, i64, String)>, Failure> {
    let Some(p) = vault.load_slot::<Pending>(name, PENDING)? else {
        return Ok(None);
    };
    if let Some(o) = &p.outcome {
        if o.exit_code == 0 {
            return Ok(None);
        }
        return Ok(Some((
            "failed",
            p.expires_at,
            format!("last sign-in at {}: {}", rfc3339(o.at), o.message),
        )));
    }
    let now = now_unix();
    let alive = vault.try_lock_named(name, LOGIN_LOCK)?.is_none()
        || p.handover_at.is_some_and(|h| now - h <= 10);
    Ok(Some(if alive {
        (
            "pending",
            p.expires_at,
            format!(
                "waiting for the code {} until {}",
                p.user_code,
                rfc3339(p.expires_at)
            ),
        )
    } else if p.expires_at > now {
        (
            "interrupted",
            p.expires_at,
            format!(
                "the sign-in stopped (its process ended, e.g. a restart); `sidekey login {name}` resumes the code {} until {}",
                p.user_code,
                rfc3339(p.expires_at)
            ),
        )
    } else {
        (
            "interrupted",
            p.expires_at,
            format!(
                "a sign-in was interrupted (e.g. by a restart) and its code expired at {}",
                rfc3339(p.expires_at)
            ),
        )
    }))
}
