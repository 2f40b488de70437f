//! Running the Microsoft operations ([`MsOp`], defined in `crate::catalog::microsoft`): the
//! Graph calls and their rendering live in `sidekey-services`; this module checks the granted
//! scopes (a missing one is named before calling Graph, with the `sidekey login` that adds it)
//! and hands each operation's call to the one service-call loop (`super::call`), which
//! refreshes once on a 401 and scrubs the tokens.
//!
//! A write is prepared completely before any token is fetched (its times placed in the zone,
//! its file decoded, an event's `transactionId` drawn once): the 401 retry sends the same
//! request again, and an event sent twice is still one event. A write whose answer was lost
//! is never sent again by sidekey (docs/graph.md, "Writes"): it fails with
//! `written_unconfirmed`, saying where to look.

use crate::catalog::microsoft::*;

use super::call::{ServiceError, add_scope_advice, with_token, within_ceiling};
use super::contact_folders;
use super::timezone;
use crate::account::Record;
use crate::context::Context;
use crate::error::{Exit, Failure, Reason};
use serde::Serialize;
use serde_json::{Value, json};
use sidekey_flow::Secret;
use sidekey_services::microsoft::write::{EventDraft, MailDraft, PageDraft};
use sidekey_services::{BirthdayFilter, Graph, GraphError, Window, render};

/// A write, ready to send.
enum Prepared {
    Event {
        draft: EventDraft,
        transaction_id: String,
    },
    Mail(MailDraft),
    Upload {
        path: String,
        content: Vec<u8>,
        conflict: Conflict,
    },
    Page(PageDraft),
}

/// The request a write sends, built and checked before any token is fetched (exit 2 on bad
/// arguments, in the zone the event is read in); `None` for a read.
fn prepare(op: &MsOp, tz: &jiff::tz::TimeZone) -> Result<Option<Prepared>, Failure> {
    Ok(Some(match op {
        MsOp::CalendarCreate {
            subject,
            start,
            end,
            duration_minutes,
            location,
            attendees,
            body,
            ..
        } => {
            let (s, e) = writes::event_times(start, end.as_deref(), *duration_minutes, tz)?;
            Prepared::Event {
                draft: writes::event_draft(subject, s, e, location, attendees, body)?,
                transaction_id: transaction_id()?,
            }
        }
        MsOp::MailSend {
            to,
            cc,
            subject,
            body,
        } => Prepared::Mail(writes::mail_draft(to, cc, subject, body)?),
        MsOp::FilesUpload {
            path,
            content_base64,
            conflict,
        } => Prepared::Upload {
            path: path.clone(),
            content: writes::upload_bytes(content_base64)?,
            conflict: *conflict,
        },
        MsOp::OnenoteCreate {
            section,
            title,
            text,
        } => Prepared::Page(writes::page_draft(section, title, text)?),
        _ => return Ok(None),
    }))
}

/// A fresh `transactionId` for one event: 128 random bits, hex. Drawn once per run, so every
/// send of this run's event carries the same one.
fn transaction_id() -> Result<String, Failure> {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map_err(|_| Failure::internal("the system random generator failed"))?;
    Ok(format!(
        "sidekey-{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ))
}

/// Run `op` for account `name`: check the granted scopes, call Graph, refresh once on a 401.
pub async fn run(ctx: &Context, name: &str, op: &MsOp) -> Result<(Value, String), Failure> {
    let account = ctx.config.account(name)?;
    let tz = timezone(ctx, op.tz())?;
    let prepared = prepare(op, &tz)?;
    // Configured, or derived from the authority's cloud by the config (never guessed here).
    let base = account
        .api_base
        .as_deref()
        .ok_or_else(|| Failure::internal("no Microsoft Graph address"))?;
    // The config's `http_timeout` is each request's (a write's lost answer is told after it).
    let graph =
        Graph::new(ctx.http()?.client().clone(), base).with_timeout(ctx.config.http_timeout);
    let check = |rec: &Record| {
        let covers = |granted: &[String]| op.graph_op().missing(granted).is_none();
        // The ceiling holds for what was granted: an operation that needs a scope the provider
        // granted beyond it (consented earlier, returned again by Entra) is refused.
        if covers(&rec.scopes)
            && let Some(needed) = op.graph_op().missing(&within_ceiling(account, &rec.scopes))
        {
            return Err(Failure::policy(format!(
                "policy: `ms {}` needs {needed}, which '{name}' was granted beyond its ceiling ({}); add it to [accounts.{name}.policy] allowed_scopes if that is intended",
                op.graph_name().replace('.', " "),
                account.policy.ceiling(&account.scopes).join(" ")
            )));
        }
        if let Some(missing) = op.graph_op().missing(&rec.scopes) {
            if matches!(op, MsOp::Dashboard { .. }) {
                // Each dashboard section fails on its own: show what can be shown.
                eprintln!(
                    "sidekey: warning: '{name}' was not granted {missing}; those dashboard sections stay empty"
                );
            } else {
                // Asked for at sign-in and not granted (a partial grant), or never asked for.
                let asked = !rec.requested_scopes.is_empty()
                    && op.graph_op().missing(&rec.requested_scopes).is_none();
                return Err(Failure::new(
                    Exit::NotSignedIn,
                    Reason::MissingScope,
                    format!(
                        "'{name}' was not granted {missing}, which `ms {}` needs: {}",
                        op.graph_name().replace('.', " "),
                        add_scope_advice(name, account, rec, &missing, asked)
                    ),
                ));
            }
        }
        Ok(())
    };
    // The dashboard's contact folders known from its last run (they join its one `$batch`).
    let now = crate::account::now_unix();
    let folders = Folders {
        known: matches!(op, MsOp::Dashboard { .. })
            .then(|| contact_folders::known(ctx, name, now))
            .flatten(),
        listed: std::sync::Mutex::new(None),
    };
    // Dashboard sections carry their own error texts: the loop scrubs the whole reply.
    let (graph, tz, prepared, f) = (&graph, &tz, &prepared, &folders);
    let reply = with_token(ctx, name, op, check, |t: Secret| async move {
        match prepared {
            Some(w) => write(graph, t.expose(), w, tz).await,
            None => call(graph, t.expose(), op, tz, f).await,
        }
    })
    .await?;
    let listed = folders
        .listed
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some(listed) = listed {
        contact_folders::remember(ctx, name, folders.known.as_deref(), listed, now).await;
    }
    Ok(reply)
}

/// The dashboard's contact folders: those known before the call, those Graph listed in it.
struct Folders {
    known: Option<Vec<String>>,
    listed: std::sync::Mutex<Option<Vec<String>>>,
}

impl ServiceError for GraphError {
    type Op = MsOp;

    fn is_unauthorized(&self) -> bool {
        GraphError::is_unauthorized(self)
    }

    fn refused_again(account: &str) -> Failure {
        Failure::reauth(account, "Microsoft Graph refused the refreshed token")
    }

    fn into_failure(self, name: &str, op: &MsOp) -> Failure {
        let msg = self.to_string();
        match self {
            GraphError::Unconfirmed(what) => unconfirmed(op, &what),
            GraphError::Request {
                status: 409, code, ..
            } if code.eq_ignore_ascii_case("nameAlreadyExists") => name_taken(op, &msg),
            GraphError::Invalid(m) => Failure::usage(m),
            GraphError::Unauthorized => Failure::reauth(name, &msg),
            GraphError::Forbidden { .. } => Failure::new(
                Exit::NotSignedIn,
                Reason::MissingScope,
                format!("{msg} (then run `sidekey login {name}`)"),
            ),
            GraphError::Throttled { .. } | GraphError::Network(_) => Failure::network(msg),
            _ => Failure::new(Exit::Provider, Reason::ProviderError, msg),
        }
    }
}

/// A write whose answer was lost (`what`): it may have been made, and was not made again.
fn unconfirmed(op: &MsOp, what: &str) -> Failure {
    let (thing, check) = match op {
        MsOp::MailSend { subject, .. } => (
            format!(
                "the mail \"{}\" may have been sent",
                sidekey_flow::response::one_line(subject, 80)
            ),
            "it was not sent again: check Sent Items before sending it again".to_string(),
        ),
        MsOp::CalendarCreate { .. } => (
            "the event may have been created".to_string(),
            "sidekey sent it again with the same transactionId as far as its retry limits allow, without an answer: check the calendar before creating it again".to_string(),
        ),
        MsOp::FilesUpload { path, .. } => (
            format!(
                "the file may have been uploaded to {}",
                sidekey_flow::response::one_line(path.trim_start_matches('/'), 120)
            ),
            "it was not sent again: check OneDrive before uploading it again".to_string(),
        ),
        MsOp::OnenoteCreate { section, .. } => (
            format!(
                "the page may have been created in the section \"{}\"",
                sidekey_flow::response::one_line(section, 60)
            ),
            "it was not sent again: check OneNote before creating it again".to_string(),
        ),
        _ => (
            "the change may have been made".to_string(),
            "it was not made again".to_string(),
        ),
    };
    Failure::new(
        Exit::Provider,
        Reason::WrittenUnconfirmed,
        format!(
            "{thing}: Microsoft Graph received the request, but its answer was lost ({what}); {check}"
        ),
    )
}

/// An upload onto a name that is taken, with `conflict` fail (Graph's 409 `nameAlreadyExists`).
fn name_taken(op: &MsOp, msg: &str) -> Failure {
    let what = match op {
        MsOp::FilesUpload { path, .. } => format!(
            "a file named {} already exists in OneDrive, so nothing was uploaded and it is unchanged",
            sidekey_flow::response::one_line(path.trim_start_matches('/'), 120)
        ),
        _ => msg.to_string(),
    };
    Failure::new(
        Exit::Provider,
        Reason::ProviderError,
        format!(
            "{what}: to keep both, upload again with --conflict rename; to overwrite it, with --conflict replace"
        ),
    )
}

/// Send a prepared write.
async fn write(
    g: &Graph,
    token: &str,
    w: &Prepared,
    tz: &jiff::tz::TimeZone,
) -> Result<(Value, String), GraphError> {
    match w {
        Prepared::Event {
            draft,
            transaction_id,
        } => {
            let c = g.create_event(token, draft, transaction_id, tz).await?;
            Ok((
                json!({"event": to_json(&c)?, "time_zone": tz.iana_name()}),
                render::created_event(&c, tz),
            ))
        }
        Prepared::Mail(m) => {
            g.send_mail(token, m).await?;
            Ok((
                json!({"sent": true, "to": m.to, "cc": m.cc, "subject": m.subject, "saved_to_sent_items": true}),
                render::mail_sent(m),
            ))
        }
        Prepared::Upload {
            path,
            content,
            conflict,
        } => {
            let u = g
                .upload_small(token, path, content, conflict.graph())
                .await?;
            Ok((to_json(&u)?, render::uploaded(&u, tz)))
        }
        Prepared::Page(p) => {
            let page = g.create_page(token, p).await?;
            Ok((to_json(&page)?, render::page_created(&page)))
        }
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<Value, GraphError> {
    serde_json::to_value(v).map_err(|e| GraphError::Malformed(e.to_string()))
}

async fn call(
    g: &Graph,
    token: &str,
    op: &MsOp,
    tz: &jiff::tz::TimeZone,
    folders: &Folders,
) -> Result<(Value, String), GraphError> {
    let now = jiff::Timestamp::now();
    match op {
        MsOp::Me => {
            let me = g.me(token).await?;
            Ok((to_json(&me)?, render::me(&me)))
        }
        MsOp::FilesSearch { query, top } => {
            let items = g.files_search(token, query, *top).await?;
            Ok((
                json!({"query": query, "items": to_json(&items)?}),
                render::files(&items, tz),
            ))
        }
        MsOp::FilesRecent { top } => {
            let recent = g.files_recent_detailed(token, *top).await?;
            Ok((to_json(&recent)?, render::recent_files(&recent, tz)))
        }
        MsOp::FilesGet { id } => {
            let item = g.file(token, id).await?;
            Ok((
                to_json(&item)?,
                render::files(std::slice::from_ref(&item), tz),
            ))
        }
        MsOp::Calendar { span, .. } => {
            let window = match span {
                Span::Between { from, to } => Window::between(from, to, tz),
                Span::Named(w) => Window::of(w.window(), now, tz),
            }
            .map_err(GraphError::Invalid)?;
            let events = g.calendar(token, &window, tz).await?;
            Ok((
                json!({"start": window.start.to_string(), "end": window.end.to_string(), "time_zone": tz.iana_name(), "events": to_json(&events)?}),
                render::calendar(&events, &window, tz),
            ))
        }
        MsOp::MailUnread { from, top, .. } => {
            let msgs = g.unread_mail(token, from.as_deref(), *top).await?;
            Ok((
                json!({"from": from, "messages": to_json(&msgs)?}),
                render::mail(&msgs, tz),
            ))
        }
        MsOp::Birthdays { which } => {
            let today = now.to_zoned_datetime(tz.clone()).date();
            let filter = match which {
                Birthdays::Month(m) => BirthdayFilter::Month(*m),
                Birthdays::NextDays(n) => BirthdayFilter::NextDays(*n),
                Birthdays::ThisMonth => BirthdayFilter::Month(today.month()),
            };
            let items = g.birthdays(token, filter, today).await?;
            Ok((
                json!({"birthdays": to_json(&items)?}),
                render::birthdays(&items),
            ))
        }
        MsOp::Dashboard { .. } => {
            let (d, listed) = g
                .dashboard_with(token, now, tz, folders.known.as_deref())
                .await?;
            *folders.listed.lock().unwrap_or_else(|p| p.into_inner()) = listed;
            Ok((to_json(&d)?, render::dashboard(&d, tz)))
        }
        // Writes are sent by `write`, prepared.
        MsOp::CalendarCreate { .. }
        | MsOp::MailSend { .. }
        | MsOp::FilesUpload { .. }
        | MsOp::OnenoteCreate { .. } => Err(GraphError::Invalid(
            "a write without its prepared request".into(),
        )),
    }
}
