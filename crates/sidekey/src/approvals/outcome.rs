//! An approval's end: the person's decision recorded once ([`decide`]), every step of its life
//! audited ([`event`]), and its Telegram message edited to show the outcome without its buttons
//! ([`show_outcome`], [`settle_expired`] for those that expired undecided). Below both the
//! guard's step (`ask`) and the poller (`telegram`), which end requests through it.

use super::message;
use super::{Decision, Request, State, Store};
use crate::audit;
use crate::context::Context;
use crate::error::Failure;
use crate::time::now_unix;
use sidekey_notify::TelegramConfig;
use sidekey_notify::bot::Bot;

/// The person's Telegram chat and sidekey's bot, when `[notify.telegram]` is set.
pub(super) fn config(ctx: &Context) -> Option<TelegramConfig> {
    ctx.config.notify.telegram.as_ref().map(|t| TelegramConfig {
        bot_token: t.bot_token.expose().to_string(),
        chat_id: t.chat_id.clone(),
        api_base: t.api_base.clone(),
    })
}

/// One audit entry for an approval's life: `requested`, `approved`, `denied`, `expired`,
/// `refused_press` (a press by someone who is not an approver). The hash, never the text.
pub fn event(ctx: &Context, req: &Request, what: &str, by: Option<&str>) {
    if !ctx.home.exists() {
        return;
    }
    let mut args = serde_json::json!({
        "approval": req.id,
        "event": what,
        "hash": req.hash,
        "agent": req.agent,
    });
    if let Some(by) = by {
        args["by"] = serde_json::json!(message::clean(by, false));
    }
    let decision = match what {
        "approved" => "allow",
        "requested" => "ask",
        _ => "deny",
    };
    audit::approval(
        &ctx.home,
        by.unwrap_or(&req.agent),
        &req.account,
        &req.op,
        args,
        decision,
        what,
    );
}

/// The person's decision on `id`, made at the terminal or by a button: recorded once, audited,
/// and the Telegram message edited to show it. `Ok(None)` when taken; otherwise the state that
/// stands.
pub async fn decide(
    ctx: &Context,
    req: &Request,
    approved: bool,
    by: &str,
) -> Result<Option<State>, Failure> {
    let store = Store::new(&ctx.home);
    let decision = Decision {
        approved,
        by: by.to_string(),
        at: now_unix(),
    };
    let taken = store.decide(req, decision)?;
    match &taken {
        None => {
            event(
                ctx,
                req,
                if approved { "approved" } else { "denied" },
                Some(by),
            );
            let outcome = if approved {
                format!("✅ Approved by {by}")
            } else {
                format!("❌ Denied by {by}")
            };
            show_outcome(ctx, req, &outcome).await;
        }
        Some(State::Expired) => {
            settle_expired(ctx, &store).await;
        }
        Some(_) => {}
    }
    Ok(taken)
}

/// Close the requests that expired undecided: audited once, their messages edited. Returns
/// how many this call closed.
pub async fn settle_expired(ctx: &Context, store: &Store) -> usize {
    let mut closed = 0;
    for req in store.unclosed_expired(now_unix()) {
        if store.close(&req).unwrap_or(false) {
            closed += 1;
            event(ctx, &req, "expired", None);
            let outcome = match store.decision(&req) {
                Some(d) if d.approved && d.at <= req.expires => format!(
                    "⌛ Expired: approved by {}, but not used before it expired; nothing ran",
                    d.by
                ),
                _ => "⌛ Expired: nobody decided, nothing ran".to_string(),
            };
            show_outcome(ctx, &req, &outcome).await;
        }
    }
    closed
}

/// Edit the request's message to show the outcome and drop its buttons (best effort: the
/// decision stands whatever Telegram says).
pub async fn show_outcome(ctx: &Context, req: &Request, outcome: &str) {
    let (Some(cfg), Some(posted)) = (config(ctx), &req.posted) else {
        return;
    };
    let Ok(http) = ctx.http() else { return };
    let bot = Bot::new(http.client(), &cfg);
    let html = message::outcome_html(&req.html, outcome);
    if let Err(e) = bot
        .edit_text(posted.chat_id, posted.message_id, &html)
        .await
    {
        eprintln!(
            "sidekey: approvals: could not edit the message of approval {} ({})",
            req.id,
            crate::error::telegram_failure(e, None).message
        );
    }
}
