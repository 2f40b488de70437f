//! The person's phone: approval requests go to `[notify.telegram]`'s bot as a message with
//! Approve / Deny buttons, and presses come back by `getUpdates` long polling on that bot.
//! (Filled in with the Telegram transport; until then requests are decided at the terminal.)

use super::{Request, Store};
use crate::context::Context;
use crate::error::Failure;

/// Send `req` to the person's Telegram chat with its buttons: the request as rewritten with
/// where it went, `None` without a Telegram channel.
pub async fn post(
    _ctx: &Context,
    _store: &Store,
    _req: &Request,
) -> Result<Option<Request>, Failure> {
    Ok(None)
}

/// Make sure presses are received while requests are open.
pub fn poll_while_open(_ctx: &Context) {}

/// Close the requests that expired undecided: audited once, their messages edited.
pub async fn settle_expired(ctx: &Context, store: &Store) {
    for req in store.unclosed_expired(crate::time::now_unix()) {
        if store.close(&req).unwrap_or(false) {
            super::ask::event(ctx, &req, "expired", None);
        }
    }
}

/// Edit the request's message to show the outcome and drop its buttons.
pub async fn show_outcome(_ctx: &Context, _req: &Request, _outcome: &str) {}
