//! The `sidekey-microsoft` skill: the read-only Microsoft Graph operations (`sidekey ms …`)
//! for the Microsoft accounts.

use super::text::{account_lines, frontmatter, not_found};
use super::{Account, Skill};
use std::fmt::Write as _;

pub(super) fn microsoft_skill(accounts: &[&Account]) -> Skill {
    let name = &accounts[0].name;
    let description = "Outlook calendar, unread mail, contacts' birthdays and OneDrive files from Microsoft 365, read-only, via sidekey ms.";
    let mut out = frontmatter("sidekey-microsoft", description, "📧", &["sidekey"]);
    out.push_str(
        "\
# Microsoft 365 with sidekey

Use when the person asks about their Outlook calendar or mail, their contacts' birthdays, their
OneDrive files, or wants a morning overview. Everything here is read-only.

",
    );
    account_lines(&mut out, accounts);
    let pick = if accounts.len() > 1 {
        format!(" --account {name}")
    } else {
        String::new()
    };
    use strum::IntoEnumIterator;
    let ops: String = crate::catalog::microsoft::MsOp::iter()
        .map(|op| {
            let i = op.info();
            format!("- `{}{pick}`: {}.\n", i.usage, i.summary)
        })
        .collect();
    let _ = write!(
        out,
        "\
Commands (add `--json` for a JSON document; text is ready to quote to the person):

{ops}
Times are in the person's time zone; message bodies are never read. Pass the person's words as
one quoted argument: sidekey escapes them for Microsoft Graph.

If a command fails:
- exit 3 — not signed in, or a scope is missing (the message names it): start the sign-in with the
  sidekey-auth skill and tell the person.
- exit 5 — Microsoft was unreachable or busy: try once more later.
- exit 6 — the person's sidekey policy does not allow it: tell them, don't work around it.

Never ask for the Microsoft password, and don't use raw Graph calls or other Outlook skills instead.
"
    );
    not_found(&mut out);
    Skill {
        name: "sidekey-microsoft".into(),
        content: out,
    }
}
