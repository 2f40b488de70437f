//! What the checks of every section share: an error located in the file ([`Located`], turned
//! into `PATH line N: …` by [`super::Config::parse`]), and secrets given inline or in a file.

use sidekey_flow::Secret;
use std::path::Path;

/// An error and where in the file it is (`None`: the enclosing section).
pub(super) type Located = (Option<std::ops::Range<usize>>, String);

/// A secret given inline or (better) in a file named relative to the config; not both.
pub(super) fn inline_or_file(
    inline: &Option<String>,
    file: &Option<String>,
    base: &Path,
    inline_key: &str,
    file_key: &str,
) -> Result<Option<Secret>, Located> {
    match (inline, file) {
        (Some(_), Some(_)) => Err((None, format!("set {inline_key} or {file_key}, not both"))),
        (Some(s), None) => Ok(Some(Secret::new(s.trim()))),
        (None, Some(f)) => read_secret(base, f, file_key).map(Some),
        (None, None) => Ok(None),
    }
}

/// What a missing secret file's error adds: what to do.
pub(super) const MISSING_FILE_HINT: &str = " (put the secret in that file, or fix the path)";

pub(super) fn read_secret(base: &Path, file: &str, what: &str) -> Result<Secret, Located> {
    let p = base.join(file);
    let text = std::fs::read_to_string(&p).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            MISSING_FILE_HINT
        } else {
            ""
        };
        (
            None,
            format!("cannot read {what} {}: {e}{hint}", p.display()),
        )
    })?;
    let t = text.trim();
    if t.is_empty() {
        return Err((None, format!("{what} {} is empty", p.display())));
    }
    Ok(Secret::new(t))
}
