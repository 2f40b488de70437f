//! Running the Microsoft operations ([`MsOp`], defined in `crate::catalog::microsoft`): the
//! Graph calls and their rendering live in `sidekey-services`; this module checks the granted
//! scopes (a missing one is named before calling Graph) and hands each operation's call to the
//! one service-call loop (`super::call`), which refreshes once on a 401 and scrubs the tokens.

use crate::catalog::microsoft::*;

use super::call::{ServiceError, not_granted_advice, with_token, within_ceiling};
use super::timezone;
use crate::account::Record;
use crate::context::Context;
use crate::error::{Exit, Failure, Reason};
use serde::Serialize;
use serde_json::{Value, json};
use sidekey_flow::Secret;
use sidekey_services::{BirthdayFilter, Graph, GraphError, Window, render};

/// Run `op` for account `name`: check the granted scopes, call Graph, refresh once on a 401.
pub async fn run(ctx: &Context, name: &str, op: &MsOp) -> Result<(Value, String), Failure> {
    let account = ctx.config.account(name)?;
    let tz = timezone(ctx, op.tz())?;
    // Configured, or derived from the authority's cloud by the config (never guessed here).
    let base = account
        .api_base
        .as_deref()
        .ok_or_else(|| Failure::internal("no Microsoft Graph address"))?;
    let graph = Graph::new(ctx.http()?.client().clone(), base);
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
                        not_granted_advice(name, asked, "it")
                    ),
                ));
            }
        }
        Ok(())
    };
    // Dashboard sections carry their own error texts: the loop scrubs the whole reply.
    let (graph, tz) = (&graph, &tz);
    with_token(ctx, name, &(), check, |t: Secret| async move {
        call(graph, t.expose(), op, tz).await
    })
    .await
}

impl ServiceError for GraphError {
    type Op = ();

    fn is_unauthorized(&self) -> bool {
        GraphError::is_unauthorized(self)
    }

    fn refused_again(account: &str) -> Failure {
        Failure::reauth(account, "Microsoft Graph refused the refreshed token")
    }

    fn into_failure(self, name: &str, _: &()) -> Failure {
        let msg = self.to_string();
        match self {
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

fn to_json<T: Serialize>(v: &T) -> Result<Value, GraphError> {
    serde_json::to_value(v).map_err(|e| GraphError::Malformed(e.to_string()))
}

async fn call(
    g: &Graph,
    token: &str,
    op: &MsOp,
    tz: &jiff::tz::TimeZone,
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
            let d = g.dashboard(token, now, tz).await?;
            Ok((to_json(&d)?, render::dashboard(&d, tz)))
        }
    }
}
