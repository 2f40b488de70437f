//! `sidekey login NAME [--json] [--no-wait | --wait]`: start (or join, or resume) a sign-in
//! through the backend, show its events through the terminal channel, wait for the outcome.

use crate::account::now_unix;
use crate::api::{LoginProgress, LoginRequest};
use crate::backend::Backend;
use crate::env;
use crate::error::{Exit, Failure, Reason};
use crate::signin::Mode;
use sidekey_notify::{Channels, Event, Terminal};
use std::io::{IsTerminal, Write};
use std::time::Duration;

pub fn mode(no_wait: bool, wait: bool, background: bool) -> Mode {
    if background {
        Mode::Background
    } else if no_wait {
        Mode::Handover
    } else if wait {
        Mode::Resume
    } else {
        Mode::Fresh
    }
}

/// Where the events of this command go: the terminal (or nowhere, for the background poller).
struct Screen {
    channels: Option<Channels>,
    json: bool,
    failed_shown: std::cell::Cell<bool>,
}

impl Screen {
    async fn show(&self, e: &Event) {
        self.failed_shown
            .set(self.failed_shown.get() || matches!(e, Event::Failed { .. }));
        if let Some(c) = &self.channels {
            clear_countdown();
            c.send(e).await;
        }
    }

    fn say(&self, text: &str) {
        if self.channels.is_some() && !self.json {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    }
}

/// What `login` was asked to do besides the account.
pub struct How<'a> {
    pub mode: Mode,
    pub scopes: &'a [String],
    pub paste_url: Option<&'a str>,
    pub replace_identity: bool,
}

pub async fn run(backend: &Backend, name: &str, json: bool, how: How<'_>) -> Result<(), Failure> {
    let mode = how.mode;
    let tty = std::io::stdout().is_terminal();
    let screen = Screen {
        channels: (mode != Mode::Background).then(|| {
            Channels::terminal(Terminal {
                json,
                color: tty && !env::is_set(env::NO_COLOR),
                qr: tty,
            })
        }),
        json,
        failed_shown: std::cell::Cell::new(false),
    };
    if let Some(l) = backend.local() {
        l.signins
            .set_progress_notes(!json && mode != Mode::Background);
    }
    let talked = conversation(backend, name, &how, &screen).await;
    // This process's part of the sign-in (notifications, the handover) ends before it exits; a
    // failure there is the command's failure.
    let result = match (talked, backend.settle(name).await) {
        (Ok(()), settled) => settled,
        (Err(f), Err(late)) if f.reason == Reason::Interrupted => Err(late),
        (Err(f), _) => Err(f),
    };
    if let Err(f) = &result
        && json
        && !screen.failed_shown.get()
    {
        let provider = backend
            .local()
            .and_then(|l| l.ctx.config.accounts.get(name))
            .map(|a| a.kind.name().to_string())
            .unwrap_or_default();
        screen
            .show(&Event::Failed {
                account: name.to_string(),
                provider,
                reason: f.reason.as_str().into(),
                message: f.message.clone(),
            })
            .await;
    }
    result
}

/// `sidekey login` without a name: which accounts there are to sign in to (exit 2).
pub(crate) async fn which_account(backend: &Backend) -> Failure {
    let names: Vec<String> = match backend.local() {
        Some(l) => l.ctx.config.accounts.keys().cloned().collect(),
        None => match backend.status(None).await {
            Ok(s) => s.accounts.into_iter().map(|a| a.name).collect(),
            Err(f) => return f,
        },
    };
    if names.is_empty() {
        let config = match backend.local() {
            Some(l) => l.ctx.config.path.display().to_string(),
            None => "the daemon's config".into(),
        };
        return Failure::usage(format!(
            "which account? {config} defines none yet: add one ([accounts.NAME] with provider and client_id; every key is in docs/config.md), then `sidekey login NAME`"
        ));
    }
    Failure::usage(format!(
        "which account? `sidekey login NAME`, NAME one of: {}",
        names.join(", ")
    ))
}

/// `login --json` when the command failed before any sign-in could start (the config file
/// does not load): the same `failed` event as every other failure, besides the stderr line.
pub(crate) async fn failed_before_start(name: &str, f: &Failure) {
    let channels = Channels::terminal(Terminal {
        json: true,
        color: false,
        qr: false,
    });
    channels
        .send(&Event::Failed {
            account: name.to_string(),
            provider: String::new(),
            reason: f.reason.as_str().into(),
            message: f.message.clone(),
        })
        .await;
}

async fn conversation(
    backend: &Backend,
    name: &str,
    how: &How<'_>,
    screen: &Screen,
) -> Result<(), Failure> {
    let (mode, scopes, paste_url) = (how.mode, how.scopes, how.paste_url);
    let mut req = LoginRequest {
        account: name.to_string(),
        scopes: (!scopes.is_empty()).then(|| scopes.to_vec()),
        resume_only: false,
    };
    // `--wait`: the sign-in already pending — or already finished, or to be resumed.
    let code = if mode == Mode::Resume {
        match backend.login_progress(name, Duration::ZERO).await? {
            LoginProgress::None => return Err(Failure::no_pending(name)),
            LoginProgress::Done { event, exit_code } => {
                return finish(event, exit_code, screen).await;
            }
            LoginProgress::Pending { event, sent_to } => {
                screen.say(&format!(
                    "A sign-in for '{name}' is already in progress; joining it."
                ));
                if !sent_to.is_empty() {
                    return code_sent(backend, name, &sent_to, mode, screen).await;
                }
                event
            }
            LoginProgress::Interrupted { .. } => {
                req.resume_only = true;
                let started = backend.login(&req, mode, how.replace_identity).await?;
                if !started.sent_to.is_empty() {
                    return code_sent(backend, name, &started.sent_to, mode, screen).await;
                }
                started.event
            }
        }
    } else if let Some(url) = paste_url {
        // The link was shown when the sign-in started; now only its outcome matters.
        backend.login_redirect(name, url).await?;
        screen.say(&format!(
            "Redirect received for '{name}'; finishing the sign-in."
        ));
        return wait_for_outcome(backend, name, None, screen).await;
    } else {
        let started = backend.login(&req, mode, how.replace_identity).await?;
        if started.joined {
            screen.say(&format!(
                "A sign-in for '{name}' is already in progress; joining it."
            ));
        }
        if !started.sent_to.is_empty() {
            return code_sent(backend, name, &started.sent_to, mode, screen).await;
        }
        started.event
    };
    screen.show(&code).await;
    if mode == Mode::Handover {
        screen.say(&format!(
            "Waiting in the background; `sidekey status {name}` shows progress, `sidekey login {name} --wait` waits for it."
        ));
        return Ok(());
    }
    wait_for_outcome(backend, name, Some(&code), screen).await
}

/// The daemon withheld the code (it went to the person's channels): say so, and wait for the
/// outcome like any sign-in.
async fn code_sent(
    backend: &Backend,
    name: &str,
    sent_to: &[String],
    mode: Mode,
    screen: &Screen,
) -> Result<(), Failure> {
    if screen.json {
        let line = serde_json::json!({"event": "code_sent", "account": name, "sent_to": sent_to});
        println!("{line}");
    } else {
        screen.say(&crate::api::code_sent_note(name, sent_to));
    }
    if mode == Mode::Handover {
        return Ok(()); // `--no-wait`: the daemon polls on
    }
    wait_for_outcome(backend, name, None, screen).await
}

/// Wait for the sign-in's outcome (with a countdown under a shown code) and show it.
async fn wait_for_outcome(
    backend: &Backend,
    name: &str,
    code: Option<&Event>,
    screen: &Screen,
) -> Result<(), Failure> {
    let ticker = match (code, &screen.channels) {
        (Some(Event::Code { expires_at, .. }), Some(_)) if !screen.json => {
            countdown(expires_at.parse::<jiff::Timestamp>().ok())
        }
        _ => None,
    };
    let outcome = loop {
        match backend.login_progress(name, Duration::from_secs(25)).await {
            Ok(LoginProgress::Pending { .. }) => continue,
            Ok(LoginProgress::None) => break Err(Failure::internal("the sign-in was lost")),
            Ok(LoginProgress::Interrupted { .. }) => {
                break Err(Failure::new(
                    Exit::Provider,
                    Reason::Interrupted,
                    format!(
                        "the sign-in for '{name}' stopped before it finished; run `sidekey login {name}` to resume it"
                    ),
                ));
            }
            Ok(LoginProgress::Done { event, exit_code }) => break Ok((event, exit_code)),
            Err(f) => break Err(f),
        }
    };
    if let Some(t) = ticker {
        t.abort();
    }
    let (event, exit) = outcome?;
    finish(event, exit, screen).await
}

/// Show the final event; a failed one is the command's failure, with its exit code and reason.
async fn finish(event: Event, exit: Exit, screen: &Screen) -> Result<(), Failure> {
    screen.show(&event).await;
    match &event {
        Event::Failed {
            reason, message, ..
        } => {
            let reason = serde_json::from_value(serde_json::Value::String(reason.clone()))
                .unwrap_or(Reason::ProviderError);
            Err(Failure::new(exit, reason, message.clone()))
        }
        _ if exit != Exit::Ok => Err(Failure::internal("a failed sign-in reported success")),
        _ => Ok(()),
    }
}

fn clear_countdown() {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[K");
    }
}

/// A countdown on stderr while waiting, in a terminal only.
fn countdown(expires_at: Option<jiff::Timestamp>) -> Option<tokio::task::JoinHandle<()>> {
    let expires_at = expires_at?.as_second();
    if !std::io::stderr().is_terminal() {
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
