//! The terminal as a channel: the events a person at the keyboard sees, as sentences (with a QR
//! code when stdout is a terminal) or as one JSON line per event (`sidekey login --json`).
//!
//! It writes to the writer it is given, so it is tested like the other channels, and it needs no
//! network: [`Terminal::show`] is synchronous.

use crate::{Event, qr};
use std::io::Write;

/// How to show events in a terminal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Terminal {
    /// One JSON line per event instead of sentences.
    pub json: bool,
    /// Highlight the code (ANSI); off for `NO_COLOR` and when not a terminal.
    pub color: bool,
    /// Draw the link as a QR code (only useful on a real terminal).
    pub qr: bool,
}

impl Terminal {
    /// Write `event` for a person (or as JSON). `now` is unix seconds, for "in N min".
    pub fn show(&self, event: &Event, now: i64, out: &mut dyn Write) -> std::io::Result<()> {
        if self.json {
            let line = serde_json::to_string(event).map_err(std::io::Error::other)?;
            writeln!(out, "{line}")?;
            return out.flush();
        }
        match event {
            Event::Code {
                account,
                provider,
                user_code,
                verification_uri,
                verification_uri_complete,
                expires_at,
                ..
            } => {
                let mins = expires_at
                    .parse::<jiff::Timestamp>()
                    .map(|t| (t.as_second() - now).max(0) / 60)
                    .unwrap_or(0);
                let link = verification_uri_complete
                    .as_deref()
                    .unwrap_or(verification_uri);
                if self.qr
                    && let Ok(q) = qr::terminal(link)
                {
                    writeln!(out, "{q}")?;
                }
                let code = if self.color {
                    format!("\x1b[1;7m {user_code} \x1b[0m")
                } else {
                    user_code.clone()
                };
                if user_code.is_empty() {
                    // An authorization-code sign-in (`flow = "code"`): a link, no code.
                    writeln!(
                        out,
                        "To sign in to '{account}' ({provider}), open {verification_uri}\nand approve. If the last page (127.0.0.1) does not load, copy its address and run:\n  sidekey login {account} --paste-url 'ADDRESS'\nThe link works until {expires_at} (in {mins} min)."
                    )?;
                    return out.flush();
                }
                writeln!(
                    out,
                    "To sign in to '{account}' ({provider}), open {verification_uri}\nand enter the code: {code}\nThe code expires at {expires_at} (in {mins} min)."
                )?;
                if let Some(c) = verification_uri_complete {
                    writeln!(out, "Or open this link, which carries the code: {c}")?;
                }
            }
            Event::SignedIn {
                account,
                user,
                warning,
                ..
            } => {
                let who = match (&user.name, &user.email) {
                    (Some(n), Some(m)) => format!("{n} <{m}>"),
                    (Some(n), None) => n.clone(),
                    (None, Some(m)) => m.clone(),
                    (None, None) => "unknown user".into(),
                };
                writeln!(out, "Signed in to '{account}' as {who}.")?;
                if let Some(w) = warning {
                    writeln!(out, "Warning: {}", crate::text::one_line(w, 1000))?;
                }
            }
            // The failure itself is the command's error line on stderr.
            Event::Failed { .. } => {}
        }
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::User;

    fn code() -> Event {
        Event::Code {
            account: "work".into(),
            provider: "microsoft".into(),
            scopes: vec![],
            user_code: "ABCD-EFGH".into(),
            verification_uri: "https://microsoft.com/devicelogin".into(),
            verification_uri_complete: None,
            expires_at: "2026-01-01T00:15:00Z".into(),
            interval: 5,
        }
    }

    fn shown(t: Terminal, e: &Event) -> String {
        let mut out = Vec::new();
        let now = "2026-01-01T00:00:00Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second();
        t.show(e, now, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn sentences_for_people() {
        let s = shown(Terminal::default(), &code());
        assert!(s.contains("enter the code: ABCD-EFGH\n"), "{s}");
        assert!(s.contains("(in 15 min)"), "{s}");
        assert!(!s.contains('\x1b'), "{s}");
        let s = shown(
            Terminal {
                color: true,
                ..Terminal::default()
            },
            &code(),
        );
        assert!(s.contains("\x1b[1;7m ABCD-EFGH \x1b[0m"), "{s}");
        let done = Event::SignedIn {
            account: "work".into(),
            provider: "microsoft".into(),
            user: User {
                name: Some("Ada".into()),
                email: None,
            },
            scopes: vec![],
            expires_at: None,
            warning: None,
        };
        assert_eq!(
            shown(Terminal::default(), &done),
            "Signed in to 'work' as Ada.\n"
        );
    }

    #[test]
    fn json_lines_for_programs() {
        let s = shown(
            Terminal {
                json: true,
                ..Terminal::default()
            },
            &code(),
        );
        assert_eq!(s.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["event"], "code");
        assert_eq!(v["user_code"], "ABCD-EFGH");
    }
}
