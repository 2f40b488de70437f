//! `sidekey login NAME [--json] [--no-wait | --wait]`: start (or join) a sign-in through the
//! backend, show its code through the terminal channel, wait for the outcome.

use crate::account::now_unix;
use crate::api::{LoginProgress, LoginRequest};
use crate::backend::Backend;
use crate::env;
use crate::error::{Exit, Failure, Reason};
use crate::signin::Mode;
use sidekey_notify::{Event, Terminal};
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

pub async fn run(
    backend: &Backend,
    name: &str,
    json: bool,
    mode: Mode,
    scopes: &[String],
) -> Result<(), Failure> {
    let quiet = mode == Mode::Background;
    let tty = std::io::stdout().is_terminal();
    let terminal = Terminal {
        json,
        color: tty && !env::is_set(env::NO_COLOR),
        qr: tty,
    };
    let failed_shown = std::cell::Cell::new(false);
    let show = |e: &Event| {
        failed_shown.set(failed_shown.get() || matches!(e, Event::Failed { .. }));
        if !quiet {
            clear_countdown();
            let _ = terminal.show(e, now_unix(), &mut std::io::stdout().lock());
        }
    };
    let result = conversation(backend, name, json, mode, scopes, &show).await;
    backend.settle(name).await;
    if let Err(f) = &result
        && json
        && !failed_shown.get()
    {
        show(&Event::Failed {
            account: name.to_string(),
            provider: String::new(),
            reason: f.reason.as_str().into(),
            message: f.message.clone(),
        });
    }
    result
}

async fn conversation(
    backend: &Backend,
    name: &str,
    json: bool,
    mode: Mode,
    scopes: &[String],
    show: &dyn Fn(&Event),
) -> Result<(), Failure> {
    let req = LoginRequest {
        account: name.to_string(),
        scopes: (!scopes.is_empty()).then(|| scopes.to_vec()),
        resume_only: mode == Mode::Resume,
    };
    let started = backend.login(&req, mode).await?;
    if started.joined && !json && mode != Mode::Background {
        say(&format!(
            "A sign-in for '{name}' is already in progress; joining it."
        ));
    }
    show(&started.event);
    if mode == Mode::Handover {
        if !json {
            say(&format!(
                "Waiting in the background; `sidekey status {name}` shows progress, `sidekey login {name} --wait` waits for it."
            ));
        }
        return Ok(());
    }
    let ticker = match &started.event {
        Event::Code { expires_at, .. } if !json && mode != Mode::Background => {
            countdown(expires_at.parse::<jiff::Timestamp>().ok())
        }
        _ => None,
    };
    let outcome = loop {
        match backend.login_progress(name, Duration::from_secs(25)).await {
            Ok(LoginProgress::Pending { .. }) => continue,
            Ok(LoginProgress::None) => break Err(Failure::internal("the sign-in was lost")),
            Ok(LoginProgress::Done { event, exit_code }) => break Ok((event, exit_code)),
            Err(f) => break Err(f),
        }
    };
    if let Some(t) = ticker {
        t.abort();
    }
    let (event, exit) = outcome?;
    match &event {
        Event::Failed {
            reason, message, ..
        } => {
            show(&event);
            let reason = serde_json::from_value(serde_json::Value::String(reason.clone()))
                .unwrap_or(Reason::ProviderError);
            Err(Failure::new(exit, reason, message.clone()))
        }
        _ if exit != Exit::Ok => Err(Failure::internal("a failed sign-in reported success")),
        _ => {
            show(&event);
            Ok(())
        }
    }
}

fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
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
