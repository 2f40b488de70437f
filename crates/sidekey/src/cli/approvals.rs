//! `sidekey approvals`, `sidekey approve ID`, `sidekey deny ID`: the person decides at the
//! terminal of the machine that holds the vault. These read and write the approvals folder of
//! this home directly, never through the daemon's API (whose caller is the agent).

use crate::approvals::{State, Store, ask, outcome};
use crate::cli::output;
use crate::context::Context;
use crate::error::Failure;
use crate::time::now_unix;

/// The terminal's name in an approval's record and the audit log.
fn terminal() -> String {
    format!("the terminal ({})", crate::audit::local_caller())
}

fn store(ctx: &Context) -> Result<Store, Failure> {
    if !ctx.home.exists() {
        return Err(Failure::config(format!(
            "no sidekey home at {}: approvals are decided where the vault is (in its container: docker exec -it sidekey sidekey approvals)",
            ctx.home.display()
        )));
    }
    Ok(Store::new(&ctx.home))
}

/// List the open requests (with `all`, the ones decided or expired in the last day too).
pub async fn list(all: bool, json: bool) -> Result<(), Failure> {
    let ctx = Context::from_env_allow_missing()?;
    let store = store(&ctx)?;
    crate::approvals::outcome::settle_expired(&ctx, &store).await;
    let now = now_unix();
    let shown: Vec<_> = store
        .all()
        .into_iter()
        .map(|r| {
            let state = store.state(&r, now);
            (r, state)
        })
        .filter(|(_, s)| all || *s == State::Pending)
        .collect();
    if json {
        let items: Vec<serde_json::Value> = shown
            .iter()
            .map(|(r, s)| {
                serde_json::json!({
                    "id": r.id,
                    "account": r.account,
                    "op": r.op,
                    "agent": r.agent,
                    "state": s.word(),
                    "expires": crate::time::rfc3339(r.expires),
                    "hash": r.hash,
                })
            })
            .collect();
        return output::line(&output::json_text(&items)?);
    }
    if shown.is_empty() {
        return output::line(if all {
            "no approval requests in the last day"
        } else {
            "no approval requests are waiting (--all shows the decided ones)"
        });
    }
    for (r, s) in &shown {
        let when = match s {
            State::Pending => format!("expires in {}", ask::remaining(r, now)),
            State::Approved(d) | State::Denied(d) | State::Used(d) => format!("by {}", d.by),
            State::Expired => "nobody decided".into(),
        };
        output::line(&format!(
            "── approval {} · {} · {when}\n{}\n",
            r.id,
            s.word(),
            r.text
        ))?;
    }
    if shown.iter().any(|(_, s)| *s == State::Pending) {
        output::line("sidekey approve ID runs it once; sidekey deny ID refuses it")?;
    }
    Ok(())
}

/// Approve or deny request `id`.
pub async fn decide(id: &str, approved: bool) -> Result<(), Failure> {
    let ctx = Context::from_env_allow_missing()?;
    let store = store(&ctx)?;
    let Some(req) = store.load(id)? else {
        return Err(Failure::usage(format!(
            "no approval request {id} here (`sidekey approvals` lists the open ones)"
        )));
    };
    let by = terminal();
    match outcome::decide(&ctx, &req, approved, &by).await? {
        None => output::line(&format!(
            "{} {}: '{}' on '{}'{}",
            if approved { "approved" } else { "denied" },
            req.id,
            req.op,
            req.account,
            if approved {
                " runs once, when the agent's call picks it up"
            } else {
                ""
            }
        )),
        Some(State::Expired) => Err(Failure::new(
            crate::error::Exit::ApprovalExpired,
            crate::error::Reason::ApprovalExpired,
            format!(
                "approval {id} expired before it was decided: nothing runs; the agent must ask again"
            ),
        )),
        Some(other) => Err(Failure::usage(format!(
            "approval {id} was already decided ({}): nothing changed",
            match &other {
                State::Approved(d) | State::Used(d) => format!("approved by {}", d.by),
                State::Denied(d) => format!("denied by {}", d.by),
                _ => other.word().to_string(),
            }
        ))),
    }
}
