//! The `sidekey-token` skill: a bearer token for an API through `sidekey exec`, for the Okta,
//! Auth0, OIDC and generic accounts.

use super::text::{cell, exec_rules, fit, frontmatter, join_and, scope_list, service};
use super::{Account, Skill};
use sidekey_flow::provider::ProviderKind;
use std::fmt::Write as _;

pub(super) fn token_skill(accounts: &[&Account]) -> Skill {
    let name = &accounts[0].name;
    let mut kinds: Vec<&str> = Vec::new();
    for k in ProviderKind::ALL {
        if accounts.iter().any(|a| a.kind == k) {
            kinds.push(service(k));
        }
    }
    let kinds = join_and(&kinds);
    let names = accounts
        .iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let description = fit(&[
        format!(
            "Call APIs behind the person's {kinds} sign-ins ({names}) with a fresh bearer token via sidekey exec."
        ),
        format!("Call APIs behind the person's {kinds} sign-ins with a fresh bearer token via sidekey exec."),
        "Call APIs behind the person's single sign-on accounts with a fresh bearer token via sidekey exec.".into(),
    ]);
    let mut out = frontmatter("sidekey-token", &description, "🎫", &["sidekey", "curl"]);
    out.push_str(
        "\
# APIs with a sidekey token

Use when the person wants something from an API that one of these sign-ins protects:

| account | provider | audience | scopes | also sets |
| --- | --- | --- | --- | --- |
",
    );
    for a in accounts {
        let audience = a
            .audience
            .as_ref()
            .map(|v| format!("`{}`", cell(v)))
            .unwrap_or_else(|| "-".into());
        let env = if a.token_env.is_empty() {
            "-".to_string()
        } else {
            a.token_env
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            a.name,
            a.kind.name(),
            audience,
            scope_list(a),
            env
        );
    }
    let _ = write!(
        out,
        "
Run each call through sidekey, which puts a fresh token in `SIDEKEY_ACCESS_TOKEN` (and the variables
under \"also sets\") for that one command. Keep the single quotes: the variable must be expanded by
the `sh` that sidekey starts, not by your shell.

```sh
sidekey exec {name} -- sh -c 'curl -sS -H \"Authorization: Bearer $SIDEKEY_ACCESS_TOKEN\" \"https://API_HOST/PATH\"'
```

A tool that reads one of the \"also sets\" variables runs directly: `sidekey exec NAME -- TOOL ARGS`.

- Send the token only to the API the account is for, never to another host.
- Before anything that changes data, say what you will do and wait for a yes.
"
    );
    exec_rules(&mut out, name, "the command");
    Skill {
        name: "sidekey-token".into(),
        content: out,
    }
}
