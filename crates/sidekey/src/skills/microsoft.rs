//! The `sidekey-microsoft` skill: the Microsoft Graph operations (`sidekey ms …`) for the
//! Microsoft accounts: every read, and each write whose scope an account is configured with
//! (a write runs only if the person's policy lists it too).

use super::text::{account_lines, fit, frontmatter, join_and, not_found};
use super::{Account, Skill};
use crate::catalog::Access;
use crate::catalog::microsoft::MsOp;
use std::fmt::Write as _;

pub(super) fn microsoft_skill(accounts: &[&Account]) -> Skill {
    let name = &accounts[0].name;
    use strum::IntoEnumIterator;
    // A write is listed when some account's scopes cover it.
    let covered = |op: &MsOp| {
        accounts
            .iter()
            .any(|a| op.graph_op().missing(&a.scopes).is_none())
    };
    let writes: Vec<MsOp> = MsOp::iter()
        .filter(|op| op.info().access == Access::Write && covered(op))
        .collect();
    let what: Vec<&str> = writes
        .iter()
        .map(|op| match op {
            MsOp::CalendarCreate { .. } => "create events",
            MsOp::MailSend { .. } => "send mail",
            MsOp::FilesUpload { .. } => "upload files",
            _ => "write OneNote pages",
        })
        .collect();
    let description = if what.is_empty() {
        "Outlook calendar, unread mail, contacts' birthdays and OneDrive files from Microsoft 365, read-only, via sidekey ms.".to_string()
    } else {
        fit(&[
            format!(
                "Outlook calendar and mail, contacts' birthdays and OneDrive files from Microsoft 365 via sidekey ms; it can also {}.",
                join_and(&what)
            ),
            format!(
                "Microsoft 365 via sidekey ms: calendar, mail, files; it can also {}.",
                join_and(&what)
            ),
        ])
    };
    let mut out = frontmatter("sidekey-microsoft", &description, "📧", &["sidekey"]);
    out.push_str(
        "\
# Microsoft 365 with sidekey

Use when the person asks about their Outlook calendar or mail, their contacts' birthdays, their
OneDrive files, or wants a morning overview. ",
    );
    out.push_str(if writes.is_empty() {
        "Everything here is read-only.\n\n"
    } else {
        "The reads run freely; the changes (marked below) run only if the\nperson's sidekey policy allows each one.\n\n"
    });
    account_lines(&mut out, accounts);
    let pick = if accounts.len() > 1 {
        format!(" --account {name}")
    } else {
        String::new()
    };
    let line = |op: &MsOp| {
        let i = op.info();
        let change = if i.access == Access::Write {
            " (a change: say what you will do — to whom, when, where — before you do it)"
        } else {
            ""
        };
        format!("- `{}{pick}`: {}{change}.\n", i.usage, i.summary)
    };
    let ops: String = MsOp::iter()
        .filter(|op| op.info().access == Access::Read)
        .chain(writes.iter().cloned())
        .map(|op| line(&op))
        .collect();
    let lost = if writes.is_empty() {
        ""
    } else {
        "  — except `written_unconfirmed`: the change may have been made (a mail sent, an event created, a\n  file uploaded, a page created) and was not made again: don't run it again; check where the\n  message says (Sent Items, the calendar, OneDrive, OneNote) and tell the person.\n"
    };
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
{lost}- exit 6 — the person's sidekey policy does not allow it: tell them, don't work around it.

Never ask for the Microsoft password, and don't use raw Graph calls or other Outlook skills instead.
"
    );
    not_found(&mut out);
    Skill {
        name: "sidekey-microsoft".into(),
        content: out,
    }
}
