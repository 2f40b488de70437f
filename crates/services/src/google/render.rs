//! The text a person reads for Google Drive and Docs answers: a file's line, and what a read
//! returned.

use super::GoogleError;
use super::drive::DriveFile;
use super::read::ReadFile;
use serde_json::{Value, json};

/// A name, id or type as one printable line: Drive keeps what the file's owner typed, escape
/// sequences and newlines included ([`sidekey_net::one_line`]).
fn shown(s: &str) -> String {
    sidekey_net::one_line(s, 500)
}

/// One file as a line: `- NAME [ID] (KIND), modified TIME`.
pub fn file_line(f: &DriveFile) -> String {
    let kind = if f.is_google_doc() {
        "Google Doc".to_string()
    } else {
        match f.size {
            Some(n) => format!("{}, {n} bytes", shown(&f.mime_type)),
            None => shown(&f.mime_type),
        }
    };
    format!(
        "- {} [{}] ({kind}){}\n",
        shown(&f.name),
        shown(&f.id),
        f.modified
            .as_deref()
            .map(|m| format!(", modified {}", shown(m)))
            .unwrap_or_default()
    )
}

/// What reads returned, for a person (`=== NAME [ID] (FORMAT)` and the text) and as JSON; an
/// error when every read failed.
pub fn reads(
    items: Vec<(String, Result<ReadFile, GoogleError>)>,
) -> Result<(Value, String), GoogleError> {
    let mut text = String::new();
    let mut out = Vec::new();
    let mut errors = 0;
    let total = items.len();
    let mut first_err = None;
    for (id, r) in items {
        match r {
            Ok(f) => {
                text.push_str(&format!(
                    "=== {} [{}] ({})\n",
                    shown(&f.file.name),
                    shown(&id),
                    f.format
                ));
                if let (Some(c), "markdown" | "text") = (&f.content, f.format) {
                    text.push_str(c);
                    if !c.ends_with('\n') {
                        text.push('\n');
                    }
                }
                if let Some(n) = &f.note {
                    text.push_str(&format!("({n})\n"));
                }
                out.push(serde_json::to_value(&f).unwrap_or(Value::Null));
            }
            Err(e) => {
                errors += 1;
                text.push_str(&format!("=== [{}]: {e}\n", shown(&id)));
                out.push(json!({"id": id, "error": e.to_string(), "reason": e.reason()}));
                first_err.get_or_insert(e);
            }
        }
    }
    if errors == total
        && let Some(e) = first_err
    {
        return Err(e);
    }
    Ok((json!({"files": out}), text))
}
