//! The pieces every generated skill is made of: the frontmatter OpenClaw reads, the account
//! lines, the description limit and the paragraphs that several skills share (exit codes,
//! secrets, client mode, what to do where there is no sidekey).

use super::{Account, MARKER};
use sidekey_flow::provider::ProviderKind;
use std::fmt::Write as _;

/// Descriptions must stay under this many characters (OpenClaw's limit is "under 160").
const DESCRIPTION_MAX: usize = 159;

/// How a provider is called in descriptions.
pub(super) fn service(kind: ProviderKind) -> &'static str {
    kind.dialect().display_name()
}

pub(super) fn scope_list(a: &Account) -> String {
    if a.scopes.is_empty() {
        return "(none)".into();
    }
    a.scopes
        .iter()
        .map(|s| cell(a.kind.dialect().short_scope(s)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Text safe inside a Markdown table cell.
pub(super) fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

pub(super) fn join_and(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The first candidate that fits the description limit (the last one must always fit).
pub(super) fn fit(candidates: &[String]) -> String {
    candidates
        .iter()
        .find(|c| c.chars().count() <= DESCRIPTION_MAX)
        .or(candidates.last())
        .cloned()
        .unwrap_or_default()
}

pub(super) fn frontmatter(name: &str, description: &str, emoji: &str, bins: &[&str]) -> String {
    let bins = bins
        .iter()
        .map(|b| format!("\"{b}\""))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        "---\nname: {name}\ndescription: {description}\nmetadata: {{\"openclaw\":{{\"emoji\":\"{emoji}\",\"requires\":{{\"bins\":[{bins}]}}}}}}\n---\n{MARKER}\n\n"
    )
}

/// "Account: `gh` (scopes: …)." or a list, plus what to do when several could apply.
pub(super) fn account_lines(out: &mut String, accounts: &[&Account]) {
    if let [a] = accounts {
        let _ = writeln!(out, "Account: `{}` (scopes: {}).", a.name, scope_list(a));
    } else {
        let _ = writeln!(out, "Accounts (ask which one if the person did not say):");
        let _ = writeln!(out);
        for a in accounts {
            let _ = writeln!(out, "- `{}` (scopes: {})", a.name, scope_list(a));
        }
    }
    let _ = writeln!(out);
}

/// What every `sidekey exec` skill says about exit codes, secrets and client mode.
pub(super) fn exec_rules(out: &mut String, name: &str, tool: &str) {
    let _ = write!(
        out,
        "\
- Never print or copy the token: no `sidekey token`, `env`, `printenv` or `echo` of the variable.
- The exit code is {tool}'s own, unless sidekey fails first: then stderr starts with `sidekey:` and the
  code is sidekey's. 3: not signed in or sign-in expired: use the sidekey-auth skill
  (`sidekey login {name} --no-wait --json`). 5: the provider is unreachable, try later. 6: refused by
  policy.
- In client mode (sidekey talking to a separate sidekey service), `exec` gets the token only if the
  person has allowed token export for `{name}`. Exit 6 means they have not: tell the person that this
  needs `allow_token_export = true` under `[accounts.{name}.policy]` in the sidekey service's config,
  and don't look for another way to get a token.
"
    );
    not_found(out);
}

/// What to do where there is no sidekey: OpenClaw's sandbox gets neither the binary nor the
/// socket (skills are gated on the *host's* PATH, so the skill is listed there all the same).
pub(super) fn not_found(out: &mut String) {
    out.push_str(
        "
If the shell cannot find `sidekey` (`sidekey: command not found` or `sidekey: not found`, exit 127),
this session runs where sidekey is not available: OpenClaw's sandbox has neither the `sidekey`
program nor its socket. Don't install it,
don't search for tokens or config files, and don't switch to another tool's sign-in. Tell the person
that sidekey works only outside the sandbox (their main session, or this agent with
`agents.defaults.sandbox.mode` off) and stop there.
",
    );
}
