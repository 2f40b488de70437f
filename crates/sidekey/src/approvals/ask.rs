//! The guard's approval step ([`obtain`]): find or file the request for this exact action, tell
//! the person, wait a bounded time, and let the call run only with an approval it spends.

use super::message::{self, Shown};
use super::{Decision, Request, Store, binding};
use crate::account::Record;
use crate::catalog::Operation;
use crate::config::Account;
use crate::context::Context;
use crate::error::{Exit, Failure, Reason};
use crate::time::now_unix;
use std::sync::Arc;
use std::time::Duration;

/// What the agent sent along with an `ask` operation.
#[derive(Debug, Default, Clone)]
pub struct Asked<'a> {
    /// The approval it waits on again (from an earlier "pending" answer).
    pub approval: Option<&'a str>,
    /// How long it will wait this time (bounded by `[approvals] wait`).
    pub wait: Option<Duration>,
}

/// An approval spent on this run: the audit entry of the run names it.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub id: String,
    pub hash: String,
    pub decision: Decision,
}

/// The approval step: `Ok` only once the person approved this exact action (`op` on
/// `account`, as `agent`) and this call spent that approval. Otherwise exit 7 (pending, with the
/// id to wait on), 8 (denied) or 9 (expired); nothing ran.
pub async fn obtain(
    ctx: &Arc<Context>,
    agent: &str,
    account: &Account,
    op: &Operation,
    asked: Asked<'_>,
) -> Result<Ticket, Failure> {
    let store = Store::new(&ctx.home);
    let hash = binding(&account.name, op);
    let name = op.info().name;
    let now = now_unix();
    let mut note = String::new();
    let req = match asked.approval {
        Some(id) => {
            super::check_id(id)?;
            let Some(req) = store.load(id)? else {
                return Err(Failure::usage(format!(
                    "no approval {id} on this machine (it may have been pruned a day after it ended): call again without `approval` to ask the person"
                )));
            };
            if req.account == account.name
                && req.op == name
                && req.hash == hash
                && req.agent == agent
            {
                req
            } else {
                // Another action than the one shown: it needs its own approval.
                note = format!(
                    "approval {id} was for another action (the operation, account or arguments differ): a new request was sent; "
                );
                file(ctx, &store, agent, account, op, &hash, now).await?
            }
        }
        None => match store.reusable(&account.name, name, &hash, agent, now) {
            Some(req) => req,
            None => file(ctx, &store, agent, account, op, &hash, now).await?,
        },
    };
    let limit = asked
        .wait
        .unwrap_or(ctx.config.approvals.wait)
        .min(ctx.config.approvals.wait);
    super::telegram::poll_while_open(ctx);
    let waited = super::wait(&store, &req, limit).await;
    match &waited {
        Err(f) if f.reason == Reason::ApprovalExpired => {
            super::outcome::settle_expired(ctx, &store).await;
        }
        Err(f) if f.reason == Reason::ApprovalPending => {
            // The buttons cannot be heard while another program polls the bot: the agent
            // passes on why, and that the terminal still decides.
            if let Some(why) = store.conflict() {
                note.push_str(&format!("{}; ", why.trim()));
            }
            if !note.is_empty() {
                return Err(super::pending_failure(&req, &note));
            }
        }
        _ => {}
    }
    let decision = waited?;
    Ok(Ticket {
        id: req.id,
        hash: req.hash,
        decision,
    })
}

/// File a new request for the action, tell the person, and audit it as requested.
async fn file(
    ctx: &Arc<Context>,
    store: &Store,
    agent: &str,
    account: &Account,
    op: &Operation,
    hash: &str,
    now: i64,
) -> Result<Request, Failure> {
    let open = store
        .open(now)
        .into_iter()
        .filter(|r| r.account == account.name)
        .count();
    if open >= super::MAX_OPEN_PER_ACCOUNT {
        return Err(Failure::new(
            Exit::Policy,
            Reason::Policy,
            format!(
                "policy: '{}' already has {open} requests waiting for the person's approval; wait for them to be decided or to expire",
                account.name
            ),
        ));
    }
    store.prune(now);
    let zone = crate::ops::timezone(ctx, None)?;
    let user = ctx
        .existing_vault()
        .ok()
        .flatten()
        .and_then(|v| v.load::<Record>(&account.name).ok().flatten())
        .map(|r| r.display_user());
    let expires = now + ctx.config.approvals.expires.as_secs() as i64;
    let mut description = op.describe(&zone);
    description
        .details
        .extend(crate::ops::approval_details(ctx, &account.name, op).await);
    // The id is drawn when the request is filed; the message names it, so it is rendered
    // after, and the request rewritten with it.
    let mut req = store.file(Request {
        id: String::new(),
        nonce: String::new(),
        account: account.name.clone(),
        op: op.info().name.to_string(),
        hash: hash.to_string(),
        agent: agent.to_string(),
        created: now,
        expires,
        text: String::new(),
        html: String::new(),
        posted: None,
    })?;
    let shown = Shown {
        description: &description,
        op: &req.op,
        account: &req.account,
        user: user.as_deref(),
        agent,
        id: &req.id,
        expires,
        zone: &zone,
    };
    req.text = message::plain(&shown);
    req.html = message::html(&shown);
    req = store.rewrite(&req)?;
    super::outcome::event(ctx, &req, "requested", None);
    match super::telegram::post(ctx, store, &req).await {
        Ok(Some(posted)) => req = posted,
        Ok(None) => {}
        Err(f) => eprintln!(
            "sidekey: approval {} could not reach Telegram ({}); the person can approve it at the terminal: sidekey approve {}",
            req.id, f.message, req.id
        ),
    }
    Ok(req)
}

/// How long until `req` expires, in words (`4 min`).
pub fn remaining(req: &Request, now: i64) -> String {
    let secs = (req.expires - now).max(0);
    if secs >= 60 {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

/// At the daemon's start: the requests open before it are said by name (they stay open until
/// they expire, and their buttons work again), those that expired meanwhile are closed (audited,
/// their messages edited, a press made on them meanwhile answered). Nothing is dropped silently.
pub async fn resume(ctx: &Arc<Context>) {
    let store = Store::new(&ctx.home);
    let closed = super::outcome::settle_expired(ctx, &store).await;
    let now = now_unix();
    let open = store.open(now);
    if open.is_empty() {
        if closed > 0 {
            super::telegram::poll_once(ctx);
        }
        return;
    }
    let list: Vec<String> = open
        .iter()
        .map(|r| {
            format!(
                "{} ({} on {}, expires in {})",
                r.id,
                r.op,
                r.account,
                remaining(r, now)
            )
        })
        .collect();
    eprintln!(
        "sidekey: {} approval request(s) from before this start are still open until they expire: {}; the person's decision is taken from Telegram or `sidekey approve ID`",
        open.len(),
        list.join(", ")
    );
    super::telegram::poll_while_open(ctx);
}
