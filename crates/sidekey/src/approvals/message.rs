//! What the person reads before approving: the operation in their words
//! ([`crate::catalog::Description`]), the account and who is signed in to it, which agent
//! asked, and when the request expires in their time zone — as plain text for the terminal and
//! as Telegram HTML for their phone.
//!
//! Every value the agent supplied is cleaned ([`clean`]: control and bidirectional-override
//! characters removed, bounded) and escaped, and sits after a label sidekey wrote, inside a
//! quote block when it spans lines: nothing the agent sends can read as sidekey's own words.

use crate::catalog::Description;
use sidekey_notify::html::escape;

/// The most characters one value keeps (a body's first lines are cut before this).
const MAX_VALUE: usize = 400;

/// Everything a message says.
pub struct Shown<'a> {
    pub description: &'a Description,
    /// The operation's policy name (`ms.mail.send`).
    pub op: &'a str,
    pub account: &'a str,
    /// Who is signed in to the account, when known.
    pub user: Option<&'a str>,
    /// The caller that asked, as the audit log names it.
    pub agent: &'a str,
    pub id: &'a str,
    /// Unix seconds.
    pub expires: i64,
    pub zone: &'a jiff::tz::TimeZone,
}

/// `s` as the person may read it: every line printable ([`sidekey_net::one_line`], the one
/// sanitiser every crate shares: escape sequences, control, bidirectional-override and invisible
/// characters removed), at most 5 lines when `lines` allows several (else one), at most
/// [`MAX_VALUE`] characters in all.
pub fn clean(s: &str, lines: bool) -> String {
    if !lines {
        return sidekey_net::one_line(s, MAX_VALUE);
    }
    let kept: Vec<String> = s
        .lines()
        .map(|l| sidekey_net::one_line(l, MAX_VALUE))
        .filter(|l| !l.is_empty())
        .take(5)
        .collect();
    let joined = kept.join("\n");
    if joined.chars().count() > MAX_VALUE {
        let mut cut: String = joined.chars().take(MAX_VALUE - 1).collect();
        cut.push('…');
        return cut;
    }
    joined
}

/// The expiry as the person reads it: `14:05 (Europe/Berlin)`.
fn expiry(s: &Shown) -> String {
    let zone_name = s.zone.iana_name().unwrap_or("local time");
    jiff::Timestamp::from_second(s.expires)
        .map(|t| {
            let z = t.to_zoned_datetime(s.zone.clone());
            format!("{} ({zone_name})", z.strftime("%H:%M"))
        })
        .unwrap_or_else(|_| crate::time::rfc3339(s.expires))
}

fn account_line(s: &Shown) -> String {
    match s.user {
        Some(u) => format!(
            "{} (signed in as {})",
            clean(s.account, false),
            clean(u, false)
        ),
        None => clean(s.account, false),
    }
}

/// The message as plain text (`sidekey approvals`).
pub fn plain(s: &Shown) -> String {
    let mut out = format!(
        "Approve? {}\nAccount: {}\n",
        clean(&s.description.action, false),
        account_line(s)
    );
    for (label, value) in &s.description.details {
        let v = clean(value, true);
        if v.contains('\n') {
            out.push_str(&format!("{label}:\n"));
            for line in v.lines() {
                out.push_str(&format!("  | {line}\n"));
            }
        } else {
            out.push_str(&format!("{label}: {v}\n"));
        }
    }
    out.push_str(&format!(
        "Asked by: {}\nExpires: {}\nOperation: {} · approval {}",
        asked_by(s.agent),
        expiry(s),
        s.op,
        s.id
    ));
    out
}

/// Who asked, as the audit log names them: a named agent as `agent openclaw via api:unix`, the
/// unnamed one as `api:unix (the agent)`.
fn asked_by(agent: &str) -> String {
    let a = clean(agent, false);
    if a.starts_with("agent ") {
        a
    } else {
        format!("{a} (the agent)")
    }
}

/// The message as Telegram HTML.
pub fn html(s: &Shown) -> String {
    let mut out = format!(
        "<b>Approve?</b> {}\n<b>Account:</b> {}\n",
        escape(&clean(&s.description.action, false)),
        escape(&account_line(s))
    );
    for (label, value) in &s.description.details {
        let v = clean(value, true);
        if v.contains('\n') {
            out.push_str(&format!(
                "<b>{}:</b>\n<blockquote>{}</blockquote>\n",
                escape(label),
                escape(&v)
            ));
        } else {
            out.push_str(&format!("<b>{}:</b> {}\n", escape(label), escape(&v)));
        }
    }
    out.push_str(&format!(
        "<b>Asked by:</b> {}\n<b>Expires:</b> {}\n<i>{} · approval {}</i>",
        escape(&asked_by(s.agent)),
        escape(&expiry(s)),
        escape(s.op),
        escape(s.id)
    ));
    out
}

/// The message once decided: what was shown, then the outcome line (`✅ Approved by …`), and
/// no buttons.
pub fn outcome_html(shown: &str, outcome: &str) -> String {
    format!("{shown}\n\n<b>{}</b>", escape(&clean(outcome, false)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown<'a>(d: &'a Description, zone: &'a jiff::tz::TimeZone) -> Shown<'a> {
        Shown {
            description: d,
            op: "ms.mail.send",
            account: "work",
            user: Some("Alice <alice@contoso.com>"),
            agent: "api:unix",
            id: "abcdefghijkl",
            expires: 1_796_644_800, // 2026-12-07T12:00:00Z
            zone,
        }
    }

    #[test]
    fn the_message_says_what_who_and_until_when_in_the_persons_zone() {
        let zone = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        let d = Description::new("Send a mail")
            .with("To", "bob@example.com")
            .with("Subject", "Lunch <today> & more")
            .with("Body", "line one\nline two");
        let h = html(&shown(&d, &zone));
        assert!(h.starts_with("<b>Approve?</b> Send a mail\n"), "{h}");
        assert!(
            h.contains("work (signed in as Alice &lt;alice@contoso.com&gt;)"),
            "{h}"
        );
        assert!(
            h.contains("<b>Subject:</b> Lunch &lt;today&gt; &amp; more"),
            "{h}"
        );
        assert!(
            h.contains("<blockquote>line one\nline two</blockquote>"),
            "{h}"
        );
        assert!(h.contains("<b>Expires:</b> 13:00 (Europe/Berlin)"), "{h}");
        assert!(h.contains("api:unix (the agent)"), "{h}");
        let p = plain(&shown(&d, &zone));
        assert!(p.contains("Body:\n  | line one\n  | line two\n"), "{p}");
        assert!(p.contains("Subject: Lunch <today> & more"), "{p}");
        // A named agent is named, once.
        let named = Shown {
            agent: "agent openclaw via api:unix",
            ..shown(&d, &zone)
        };
        let p = plain(&named);
        assert!(p.contains("Asked by: agent openclaw via api:unix\n"), "{p}");
        assert!(
            html(&named).contains("<b>Asked by:</b> agent openclaw via api:unix\n"),
            "{}",
            html(&named)
        );
    }

    #[test]
    fn hostile_values_cannot_pose_as_sidekeys_words() {
        let zone = jiff::tz::TimeZone::UTC;
        let d = Description::new("Send a mail")
            .with(
                "Subject",
                "hi\r\n<b>Approved by sidekey</b>\u{202e}gnp.exe\u{7}",
            )
            .with("Body", "x".repeat(5000));
        let h = html(&shown(&d, &zone));
        assert!(!h.contains("<b>Approved"), "{h}");
        assert!(
            h.contains("&lt;b&gt;Approved by sidekey&lt;/b&gt;gnp.exe"),
            "{h}"
        );
        assert!(!h.contains('\u{202e}') && !h.contains('\u{7}') && !h.contains('\r'));
        assert!(
            h.chars().count() < 1000,
            "a value was not bounded: {}",
            h.len()
        );
    }
}
