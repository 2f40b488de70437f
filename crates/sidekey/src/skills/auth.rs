//! The `sidekey-auth` skill, written whenever there is an account: signing in without
//! blocking (`login --no-wait --json`), `status`, the exit codes and the configured accounts.

use super::text::{fit, frontmatter, join_and, not_found, scope_list, service};
use super::{Account, Skill};
use sidekey_flow::provider::ProviderKind;
use std::fmt::Write as _;

pub(super) fn auth(accounts: &[&Account]) -> Skill {
    let mut kinds: Vec<ProviderKind> = Vec::new();
    for k in ProviderKind::ALL {
        if accounts.iter().any(|a| a.kind == k) {
            kinds.push(k);
        }
    }
    let services: Vec<&str> = kinds.iter().map(|k| service(*k)).collect();
    let services = join_and(&services);
    let description = fit(&[
        format!(
            "Sign in or check sign-in to {services} with sidekey device code (/sidekey_auth, log in, authenticate, connect my account)."
        ),
        format!("Sign in or check sign-in to {services} with sidekey (/sidekey_auth, log in, connect my account)."),
        "Sign in or check sign-in to the person's cloud accounts with sidekey (/sidekey_auth, log in, connect my account).".into(),
    ]);
    let mut out = frontmatter("sidekey-auth", &description, "🔑", &["sidekey"]);
    out.push_str(
        "\
# Sign in with sidekey

Use when the person sends `/sidekey_auth` (OpenClaw's command for this skill; `/skill sidekey-auth`
also works), says \"sign in\", \"log in\", \"authenticate\" or \"connect my account\" for one of the
accounts below, or when a `sidekey` command exits with code 3. (OpenClaw's own `/login` connects a
model provider, not these accounts.)

sidekey signs in with the provider's device code: the person opens the provider's own page and signs
in there with their own password and MFA. Never ask for a password, an MFA code or a token.

## Accounts

| account | provider | scopes |
| --- | --- | --- |
",
    );
    for a in accounts {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            a.name,
            a.kind.name(),
            scope_list(a)
        );
    }
    out.push_str(
        "
NAME below is one of these; if several could be meant, ask which.

## Sign in

1. `sidekey status NAME --json` prints `{\"accounts\":[{\"name\":\"NAME\",\"state\":\"…\",\"user\":…}]}`.
   If `state` is `signed_in`, say who is signed in (`user`) and stop, unless the person wants to sign
   in again.
2. `sidekey login NAME --no-wait --json` returns within about a second and prints one line:
   `{\"event\":\"code\",\"user_code\":\"…\",\"verification_uri\":\"…\",\"expires_at\":\"…\",…}`.
   sidekey has already sent the link and the code straight to the person on Telegram: tell them to
   open it there and sign in. Relay `user_code` and `verification_uri` yourself only if they ask or
   got nothing. If it prints `{\"event\":\"code_sent\",\"sent_to\":[…]}` instead, the code went
   only to the person's channel: tell them to look there (you are not given it).
3. To follow up, `sidekey status NAME --json`: `state` is `pending` until the person is done
   (`expires_at` is when the code expires), then `signed_in`. `signed_out` or `reauth_required`
   means it did not happen: offer to start again (step 2).
   To wait for the outcome instead, run `sidekey login NAME --wait --json` with exec
   `background: true` (you are woken when it exits). Its last line is
   `{\"event\":\"signed_in\",\"user\":{…},…}` or `{\"event\":\"failed\",\"reason\":\"…\",\"message\":\"…\"}`.

`sidekey login NAME` without `--no-wait`, and `sidekey login NAME --wait`, block until the person has
signed in, which takes minutes: never run them in the foreground. Running `login` again while a
sign-in is pending joins it (same code; nothing new is sent).

## Exit codes

| code | meaning | what to do |
| --- | --- | --- |
| 0 | ok | |
| 1 | internal error | tell the person the `sidekey:` line from stderr |
| 2 | config or usage error | tell the person the `sidekey:` line; don't retry |
| 3 | not signed in, or re-authentication needed | start a sign-in (step 2) |
| 4 | sign-in declined, or the code expired | ask whether to try again |
| 5 | provider or network failure | try again later — but not when the `sidekey:` line says the change was made or may have been (`written_unconfirmed`): check it instead; nor when the document changed (`document_changed`): read it again first |
| 6 | refused by policy | tell the person what was refused; don't work around it |

Sign out (`sidekey logout NAME`) only when the person asks for it.
",
    );
    not_found(&mut out);
    Skill {
        name: "sidekey-auth".into(),
        content: out,
    }
}
