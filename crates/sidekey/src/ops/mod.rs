//! Running operations: each service's run arm, on an account already chosen and checked, with
//! the one service-call loop ([`call`]) they share. What an operation is (its arguments, checks
//! and audit form) is the catalog (`crate::catalog`); this module runs it.

pub mod aws;
pub mod call;
pub mod contact_folders;
pub mod google;
pub mod microsoft;
pub mod youtube;

use crate::catalog::{Operation, parse_timezone};

use crate::context::Context;
use crate::error::Failure;
use sidekey_flow::ProviderKind;

impl Operation {
    /// Run on `account`, already validated, chosen and checked by the guard
    /// ([`crate::backend::guard`]): `(JSON result, text for a person)`.
    pub async fn run(
        &self,
        ctx: &Context,
        account: &str,
        who: crate::policy::Who,
    ) -> Result<(serde_json::Value, String), Failure> {
        match self {
            Operation::Microsoft(op) => microsoft::run(ctx, account, op).await,
            Operation::Google(op) => google::run(ctx, account, op, who).await,
            Operation::YouTube(op) => youtube::run(ctx, account, op).await,
            Operation::Aws(op) => aws::run(ctx, account, op).await,
        }
    }
}

/// The account an operation acts on: the named one (which must be of the operation's provider),
/// else the only account of that provider.
pub fn pick_account(
    ctx: &Context,
    name: Option<&str>,
    provider: ProviderKind,
) -> Result<String, Failure> {
    let display = provider.dialect().display_name();
    if let Some(n) = name {
        let a = ctx.config.account(n)?;
        if a.kind != provider {
            return Err(Failure::usage(format!(
                "'{n}' is a {} account, not a {display} one",
                a.kind.name()
            )));
        }
        return Ok(n.to_string());
    }
    let of_provider: Vec<&String> = ctx
        .config
        .accounts
        .iter()
        .filter(|(_, a)| a.kind == provider)
        .map(|(n, _)| n)
        .collect();
    match of_provider.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Failure::config(format!(
            "no {display} account is configured (provider = \"{}\")",
            provider.name()
        ))),
        many => Err(Failure::usage(format!(
            "several {display} accounts ({}): pick one with --account",
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The time zone for times shown to the person: `explicit`, else the config's, else the machine's.
pub fn timezone(ctx: &Context, explicit: Option<&str>) -> Result<jiff::tz::TimeZone, Failure> {
    match explicit.or(ctx.config.timezone.as_deref()) {
        Some(name) => parse_timezone(name),
        None => Ok(jiff::tz::TimeZone::system()),
    }
}

/// What an approval message adds to an operation's own description
/// ([`crate::catalog::Operation::describe`]) from the service: a Google Doc's title for a
/// revision (the agent names only its id). Best effort, within 5 seconds; nothing on failure.
pub async fn approval_details(
    ctx: &Context,
    account: &str,
    op: &crate::catalog::Operation,
) -> Vec<(&'static str, String)> {
    use crate::catalog::google::GoogleOp;
    let Operation::Google(GoogleOp::DocsRevise { id, .. }) = op else {
        return vec![];
    };
    let lookup = google::file_name(ctx, account, id);
    match tokio::time::timeout(std::time::Duration::from_secs(5), lookup).await {
        Ok(Some(title)) => vec![("Title", title)],
        _ => vec![("Title", "(not known: check the document id)".to_string())],
    }
}
