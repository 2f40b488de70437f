//! The `sidekey-google` skill: Drive inbox, Docs, private memory, the Picker and YouTube
//! playlists (`sidekey google …`), each paragraph only where an account's scopes allow it.

use super::text::{account_lines, fit, frontmatter, join_and, not_found};
use super::{Account, Skill};
use std::fmt::Write as _;

pub(super) fn google_skill(accounts: &[&Account]) -> Skill {
    let has = |s: &str| {
        accounts.iter().any(|a| {
            a.scopes
                .iter()
                .any(|x| a.kind.dialect().short_scope(x) == s)
        })
    };
    let drive_file = has("drive.file");
    let appdata = has("drive.appdata");
    let youtube = has("youtube") || has("youtube.readonly");
    let mut what: Vec<&str> = Vec::new();
    if drive_file {
        what.push("Drive inbox, approved documents, drafts and memory");
    } else if appdata {
        what.push("the agent's memory in Drive");
    }
    if youtube {
        what.push("YouTube playlists");
    }
    let description = if what.is_empty() {
        "Google account name and email via sidekey-managed sign-in (no Gmail, Calendar or Drive with this sign-in).".to_string()
    } else {
        fit(&[
            format!(
                "Google {} via sidekey google (no Gmail, Calendar or full Drive).",
                join_and(&what)
            ),
            format!("Google {} via sidekey google.", join_and(&what)),
        ])
    };
    let mut out = frontmatter("sidekey-google", &description, "🔎", &["sidekey"]);
    out.push_str(
        "\
# Google with sidekey

Use for the person's Google account through their sidekey sign-in.

",
    );
    account_lines(&mut out, accounts);
    let pick = if accounts.len() > 1 {
        format!(" --account {}", accounts[0].name)
    } else {
        String::new()
    };
    // The typed operations, from the catalog: no token leaves sidekey, and policy, audit and the
    // YouTube quota ledger apply to every call.
    let list = |prefix: &str, skip: &str| -> String {
        crate::catalog::Operation::catalog()
            .filter(|i| i.name.starts_with(prefix) && !i.name.starts_with(skip))
            .map(|i| {
                let write = if i.access == crate::catalog::Access::Write {
                    " (a change: only if the person's policy allows it; say what you will do first)"
                } else {
                    ""
                };
                let usage = i.usage.split("  |  ").next().unwrap_or(i.usage);
                format!("- `{usage}{pick}`: {}{write}.\n", i.summary)
            })
            .collect()
    };
    if drive_file {
        let ops = list("google.", "google.youtube.");
        let _ = write!(
            out,
            "\
## Drive inbox, documents and memory

Commands (add `--json` for a JSON document):

{ops}
What you can see: only files sidekey created (the inbox folder \"OpenClaw Inbox\", uploads, drafts)
and files the person granted in Google's Picker. **Files the person drops into the inbox folder in the
Drive website or app are not visible to you** (Google's `drive.file` rule). When a file is missing, say
so and offer two ways: upload it with `sidekey google inbox add FILE`, or run `sidekey google pick` and
ask the person to open the link and pick it. A 404 `notFound` means the same thing.

"
        );
    } else if appdata {
        let ops = list("google.memory.", "-");
        let _ = write!(
            out,
            "\
## The agent's memory (the app's hidden Drive folder)

Commands (add `--json` for a JSON document):

{ops}
"
        );
    }
    if youtube {
        let ops = list("google.youtube.", "-");
        let _ = write!(
            out,
            "\
## YouTube playlists

Playlists by id, link or exact title; videos by id or any YouTube link. Commands:

{ops}
`quotaExceeded` (exit 5) means the project's daily YouTube quota is spent: wait for the reset time the
message names. An account without a YouTube channel is told how to create one: pass that on.

"
        );
    }
    out.push_str(
        "\
Google's device sign-in grants only the name and email (`openid`, `email`, `profile`), files this app
created or was given (`drive.file`) and YouTube (`youtube`, `youtube.readonly`). The hidden memory
folder (`drive.appdata`) needs the link sign-in (`flow = \"code\"`). Gmail, Calendar, Contacts and the
rest of Drive are not possible this way: say so; don't try, and don't use raw API calls instead.

If a command fails:
- exit 3 — not signed in, or a scope is missing (the message names it and how to sign in): start the
  sign-in with the sidekey-auth skill and tell the person.
- exit 5 — Google refused or was unreachable (the message says why): pass the reason on.
- exit 6 — the person's sidekey policy does not allow it: tell them, don't work around it.
",
    );
    not_found(&mut out);
    Skill {
        name: "sidekey-google".into(),
        content: out,
    }
}
