//! `sidekey ms …`: read-only Microsoft 365 operations for the agent (the Graph calls live in
//! `sidekey-services`). The same [`MsRequest`] runs locally or through the daemon's
//! `POST /v1/ms`, so the CLI, the API and the policy share one list of operations.
//!
//! Before calling Graph the account's granted scopes are checked and a missing one is named; a
//! 401 triggers one refresh (single-flight, like `token`) and one retry, then "sign in again".

use crate::account::{self, fresh_token, replace_rejected_token};
use crate::context::Context;
use crate::failure::{self, Failure};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sidekey_flow::ProviderKind;
use sidekey_services::{BirthdayFilter, Graph, GraphError, Window, render};

pub const DEFAULT_GRAPH: &str = "https://graph.microsoft.com/v1.0";

/// One operation and its arguments, as the CLI parses them and the daemon receives them.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct MsRequest {
    /// me | files.search | files.recent | calendar | mail.unread | contacts.birthdays | dashboard
    pub op: String,
    pub account: Option<String>,
    pub query: Option<String>,
    pub top: Option<usize>,
    pub when: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub tz: Option<String>,
    pub sender: Option<String>,
    pub month: Option<i8>,
    pub next_days: Option<u16>,
}

pub const OPS: [&str; 7] = [
    "me",
    "files.search",
    "files.recent",
    "calendar",
    "mail.unread",
    "contacts.birthdays",
    "dashboard",
];

/// The account an `ms` command acts on: the named one, else the only Microsoft account.
pub fn pick_account(ctx: &Context, name: Option<&str>) -> Result<String, Failure> {
    if let Some(n) = name {
        let a = ctx.config.account(n)?;
        if a.kind != ProviderKind::Microsoft {
            return Err(Failure::usage(format!(
                "'{n}' is a {} account, not a Microsoft one",
                a.kind.name()
            )));
        }
        return Ok(n.to_string());
    }
    let ms: Vec<&String> = ctx
        .config
        .accounts
        .iter()
        .filter(|(_, a)| a.kind == ProviderKind::Microsoft)
        .map(|(n, _)| n)
        .collect();
    match ms.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Failure::config(
            "no Microsoft account is configured (provider = \"microsoft\")",
        )),
        many => Err(Failure::usage(format!(
            "several Microsoft accounts ({}): pick one with --account",
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

pub fn timezone(ctx: &Context, explicit: Option<&str>) -> Result<jiff::tz::TimeZone, Failure> {
    match explicit.or(ctx.config.timezone.as_deref()) {
        Some(name) => jiff::tz::TimeZone::get(name).map_err(|_| {
            Failure::usage(format!(
                "unknown time zone '{name}' (use an IANA name like Europe/Berlin)"
            ))
        }),
        None => Ok(jiff::tz::TimeZone::system()),
    }
}

/// Run one operation: `(JSON result, text for a person)`.
pub fn run(ctx: &Context, req: &MsRequest) -> Result<(Value, String), Failure> {
    if !OPS.contains(&req.op.as_str()) {
        return Err(Failure::usage(format!(
            "unknown Microsoft operation '{}'",
            req.op
        )));
    }
    let name = pick_account(ctx, req.account.as_deref())?;
    let account = ctx.config.account(&name)?;
    let tz = timezone(ctx, req.tz.as_deref())?;
    let rec = fresh_token(ctx, &name)?;
    if let Some(missing) = sidekey_services::missing_scope(&req.op, &rec.scopes) {
        if req.op == "dashboard" {
            // Each dashboard section fails on its own: show what can be shown.
            eprintln!(
                "sidekey: warning: '{name}' was not granted {missing}; those dashboard sections stay empty"
            );
        } else {
            return Err(Failure::new(
                failure::NOT_SIGNED_IN,
                "missing_scope",
                format!(
                    "'{name}' was not granted {missing}, which `ms {}` needs: add it to the account's scopes and run `sidekey login {name}`",
                    req.op.replace('.', " ")
                ),
            ));
        }
    }
    let http = account::http(ctx)?;
    let base = account.api_base.as_deref().unwrap_or(DEFAULT_GRAPH);
    let graph = Graph::new(http.client().clone(), base);
    let rt = account::runtime()?;
    let first = rt.block_on(call(&graph, rec.access_token.expose(), req, &tz));
    let result = match first {
        Err(GraphError::Unauthorized) => {
            let again = replace_rejected_token(ctx, &name, rec.access_token.expose())?;
            match rt.block_on(call(&graph, again.access_token.expose(), req, &tz)) {
                Err(GraphError::Unauthorized) => {
                    return Err(Failure::reauth(
                        &name,
                        "Microsoft Graph refused the refreshed token",
                    ));
                }
                other => other,
            }
        }
        other => other,
    };
    result.map_err(|e| graph_failure(&name, e))
}

fn graph_failure(name: &str, e: GraphError) -> Failure {
    let msg = e.to_string();
    match e {
        GraphError::Unauthorized => Failure::reauth(name, &msg),
        GraphError::Forbidden { .. } => Failure::new(
            failure::NOT_SIGNED_IN,
            "missing_scope",
            format!("{msg} (then run `sidekey login {name}`)"),
        ),
        GraphError::Throttled { .. } | GraphError::Network(_) => {
            Failure::new(failure::PROVIDER, "network", msg)
        }
        _ => Failure::new(failure::PROVIDER, "provider_error", msg),
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<Value, GraphError> {
    serde_json::to_value(v).map_err(|e| GraphError::Malformed(e.to_string()))
}

async fn call(
    g: &Graph,
    token: &str,
    r: &MsRequest,
    tz: &jiff::tz::TimeZone,
) -> Result<(Value, String), GraphError> {
    let now = jiff::Timestamp::now();
    match r.op.as_str() {
        "me" => {
            let me = g.me(token).await?;
            Ok((to_json(&me)?, render::me(&me)))
        }
        "files.search" => {
            let q = r.query.as_deref().unwrap_or_default();
            let items = g.files_search(token, q, r.top.unwrap_or(10)).await?;
            Ok((
                json!({"query": q, "items": to_json(&items)?}),
                render::files(&items, tz),
            ))
        }
        "files.recent" => {
            let recent = g.files_recent_detailed(token, r.top.unwrap_or(10)).await?;
            Ok((to_json(&recent)?, render::files(&recent.items, tz)))
        }
        "calendar" => {
            let window = match (&r.from, &r.to) {
                (Some(f), Some(t)) => Window::between(f, t, tz),
                (None, None) => Window::named(r.when.as_deref().unwrap_or("today"), now, tz),
                _ => Err("give both --from and --to".to_string()),
            }
            .map_err(GraphError::Malformed)?;
            let events = g.calendar(token, &window, tz).await?;
            Ok((
                json!({"start": window.start.to_string(), "end": window.end.to_string(), "time_zone": tz.iana_name(), "events": to_json(&events)?}),
                render::calendar(&events, &window, tz),
            ))
        }
        "mail.unread" => {
            let msgs = g
                .unread_mail(token, r.sender.as_deref(), r.top.unwrap_or(10))
                .await?;
            Ok((
                json!({"from": r.sender, "messages": to_json(&msgs)?}),
                render::mail(&msgs, tz),
            ))
        }
        "contacts.birthdays" => {
            let today = now.to_zoned_datetime(tz.clone()).date();
            let filter = match (r.month, r.next_days) {
                (Some(m), None) => BirthdayFilter::Month(m),
                (None, Some(n)) => BirthdayFilter::NextDays(n),
                (None, None) => BirthdayFilter::Month(today.month()),
                _ => {
                    return Err(GraphError::Malformed(
                        "give --month or --next-days, not both".into(),
                    ));
                }
            };
            let items = g.birthdays(token, filter, today).await?;
            Ok((
                json!({"birthdays": to_json(&items)?}),
                render::birthdays(&items),
            ))
        }
        "dashboard" => {
            let d = g.dashboard(token, now, tz).await?;
            Ok((to_json(&d)?, render::dashboard(&d, tz)))
        }
        _ => Err(GraphError::Malformed(format!("unknown operation {}", r.op))),
    }
}
