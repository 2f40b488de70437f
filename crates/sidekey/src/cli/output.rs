//! Everything the CLI prints on stdout for a reply, in one place: text for a person, or the
//! reply itself as one JSON line with `--json`. A closed stdout (`| head`) is not an error worth
//! more than exit 1 with one line.

use crate::account::{now_unix, rfc3339};
use crate::api::{AccountState, OpReply, StatusReply, TokenReply};
use crate::error::Failure;
use serde::Serialize;
use std::io::Write;

fn write_raw(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| Failure::internal(format!("cannot write to stdout: {e}")))
}

/// Text for a person: much of it was chosen by someone else (a playlist's title, a file's name
/// and contents, an event's subject, a name the provider gave), so nothing in it reaches the
/// terminal that the terminal would act on or that hides or reorders text
/// ([`sidekey_net::printable`]: escape sequences, control characters but `\n` and `\t`, bidi
/// overrides, zero-width characters).
fn write(text: &str) -> Result<(), Failure> {
    write_raw(&sidekey_net::printable(text))
}

/// One line of text.
pub fn line(text: &str) -> Result<(), Failure> {
    write(&format!("{text}\n"))
}

/// JSON for programs keeps the data whole; the characters a terminal would act on or that hide
/// text are written as JSON escapes (`\u202e`), which mean the same to a JSON reader (serde
/// already escapes C0 controls; C1 controls, bidi overrides and zero-width characters it
/// writes raw).
pub fn json_text<T: Serialize>(v: &T) -> Result<String, Failure> {
    let text = serde_json::to_string(v).map_err(|e| Failure::internal(e.to_string()))?;
    // Printable ASCII (nearly every reply, `status` of 10,000 accounts among them: 2 MB) holds
    // none of them; told byte by byte without a branch, before the character by character look.
    let printable_ascii = text
        .bytes()
        .fold(true, |all, b| all & (b' '..=b'~').contains(&b));
    if printable_ascii || !text.chars().any(sidekey_net::hidden) {
        return Ok(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if sidekey_net::hidden(c) {
            // Only inside strings: JSON's own syntax is ASCII. Beyond the BMP: a surrogate pair.
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn json_line<T: Serialize>(v: &T) -> Result<(), Failure> {
    // The line break added in place: `status` of 10,000 accounts is megabytes, not copied.
    let mut text = json_text(v)?;
    text.push('\n');
    write_raw(&text)
}

/// `status`: a table for people, or `{"accounts": […]}`.
pub fn status(reply: &StatusReply, json: bool, config_path: &str) -> Result<(), Failure> {
    if json {
        return json_line(reply);
    }
    if reply.accounts.is_empty() {
        return line(&format!(
            "No accounts. Add one to {config_path} (see README), then run `sidekey login NAME`."
        ));
    }
    let mut text = String::new();
    for r in &reply.accounts {
        // The provider named them: one line each (a newline would forge a row).
        let who = match r.user.as_ref().map(|u| (&u.name, &u.email)) {
            Some((Some(n), Some(e))) => format!("{n} <{e}>"),
            Some((Some(n), None)) => n.clone(),
            Some((None, Some(e))) => e.clone(),
            _ => "-".into(),
        };
        let who = sidekey_net::one_line(&who, 200);
        let expiry = match (r.expires_at, r.state) {
            (Some(e), AccountState::Pending) => format!("code expires {}", rfc3339(e)),
            (Some(e), AccountState::SignedIn) => {
                let left = e - now_unix();
                if left > 0 {
                    format!("expires {} (in {} min)", rfc3339(e), left / 60)
                } else {
                    format!(
                        "access token expired {} (refreshed on next use)",
                        rfc3339(e)
                    )
                }
            }
            (None, AccountState::SignedIn) => "no expiry".into(),
            _ => String::new(),
        };
        text.push_str(&format!(
            "{:<16} {:<10} {:<16} {}{}{}\n",
            r.name,
            r.provider,
            r.state.as_str(),
            who,
            if expiry.is_empty() {
                String::new()
            } else {
                format!("  {expiry}")
            },
            r.note
                .as_deref()
                .map(|n| format!("  ({n})"))
                .unwrap_or_default()
        ));
        if !r.scopes.is_empty() {
            text.push_str(&format!("{:<16} scopes: {}\n", "", r.scopes.join(" ")));
        }
    }
    write(&text)
}

/// `token`: the one output that is a secret, because it was asked for.
pub fn token(t: &TokenReply, json: bool) -> Result<(), Failure> {
    if json {
        #[derive(Serialize)]
        struct Shown<'a> {
            account: &'a str,
            access_token: &'a str,
            token_type: &'a str,
            expires_at: Option<String>,
            scopes: &'a [String],
        }
        return json_line(&Shown {
            account: &t.account,
            access_token: t.access_token.expose(),
            token_type: &t.token_type,
            expires_at: t.expires_at.map(rfc3339),
            scopes: &t.scopes,
        });
    }
    write_raw(&format!("{}\n", t.access_token.expose()))
}

/// A service operation: its text, or its JSON document.
pub fn op(reply: &OpReply, json: bool) -> Result<(), Failure> {
    if json {
        return json_line(&reply.result);
    }
    if reply.text.ends_with('\n') {
        write(&reply.text)
    } else {
        line(&reply.text)
    }
}

#[cfg(test)]
mod tests {
    use super::json_text;

    /// Plain ASCII is left as serde wrote it; DEL, C1 controls, bidi overrides and zero-width
    /// characters become JSON escapes; other non-ASCII text stays as it is.
    #[test]
    fn json_escapes_what_hides_text_and_nothing_else() {
        assert_eq!(json_text(&"plain [text] ~").unwrap(), r#""plain [text] ~""#);
        assert_eq!(json_text(&"tab\tend").unwrap(), r#""tab\tend""#);
        assert_eq!(
            json_text(&"a\u{7f}b\u{202e}c\u{85}d\u{200b}é").unwrap(),
            r#""a\u007fb\u202ec\u0085d\u200bé""#
        );
    }
}
