//! Finding one account's tables in the config text without parsing the rest, so a command about
//! one account (`sidekey token NAME`) parses and validates that account only, however many the
//! file holds.
//!
//! A TOML document is a root part and then tables, each opening with a `[header]` line (TOML
//! 1.0, "Table"). A header is a `[` at the start of a line that is not inside a value — a
//! multi-line string or array can hold a line starting with `[` — so values are skipped with
//! their strings (basic, literal, multi-line), brackets and comments. Every table whose header
//! is `[accounts.NAME…]` belongs to NAME. Anything this does not follow for certain — an
//! `[accounts]` table or root `accounts.…` keys (dotted keys), an array of tables under
//! `accounts`, an escape in a header's quoted key, an unclosed value — makes it answer `None`,
//! and the caller parses the whole file as always.

/// `text` with the tables of every account but `keep` blanked out (their line breaks kept, so
/// errors in what is left name the file's own lines), and the names of all accounts in the
/// order they first appear. `None` when the text is not plainly made of such tables.
pub(super) fn only_account(text: &str, keep: &str) -> Option<(String, Vec<String>)> {
    let b = text.as_bytes();
    // (where a table's header line starts, the account it belongs to, if any)
    let mut tables: Vec<(usize, Option<String>)> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut i = 0;
    while i < b.len() {
        let line_start = i;
        while i < b.len() && matches!(b[i], b' ' | b'\t') {
            i += 1;
        }
        match b.get(i) {
            None => break,
            Some(b'\n' | b'\r') => i += 1,
            Some(b'#') => i = line_end(b, i),
            Some(b'[') => {
                let array = b.get(i + 1) == Some(&b'[');
                let (path, after) = header(b, i + if array { 2 } else { 1 }, array)?;
                let account = match path.first().map(String::as_str) {
                    Some("accounts") if array || path.len() < 2 => return None,
                    Some("accounts") => Some(path[1].clone()),
                    _ => None,
                };
                if let Some(n) = &account
                    && seen.insert(n.clone())
                {
                    names.push(n.clone());
                }
                tables.push((line_start, account));
                i = after;
            }
            Some(_) => {
                // A key/value line: at the root, `accounts.…` would add to the accounts.
                if tables.is_empty() && key(b, i)?.0 == "accounts" {
                    return None;
                }
                i = value_end(b, i)?;
            }
        }
    }
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..tables.first().map_or(text.len(), |t| t.0)]);
    for (n, (start, account)) in tables.iter().enumerate() {
        let end = tables.get(n + 1).map_or(text.len(), |t| t.0);
        let part = &text[*start..end];
        match account {
            Some(a) if a != keep => out.extend(part.bytes().filter(|&c| c == b'\n').map(|_| '\n')),
            _ => out.push_str(part),
        }
    }
    Some((out, names))
}

/// Where the line holding `i` ends (at its `\n`, or the end).
fn line_end(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |p| i + p)
}

/// A header's dotted key from `i` (just inside its `[` or `[[`), and where its line ends: only
/// whitespace and a comment may follow the closing bracket(s).
fn header(b: &[u8], mut i: usize, array: bool) -> Option<(Vec<String>, usize)> {
    let mut path = Vec::new();
    loop {
        let (k, next) = key(b, i)?;
        path.push(k);
        i = skip_blank(b, next);
        match b.get(i) {
            Some(b'.') => i += 1,
            Some(b']') => {
                i += 1;
                if array {
                    (b.get(i) == Some(&b']')).then_some(())?;
                    i += 1;
                }
                break;
            }
            _ => return None,
        }
    }
    i = skip_blank(b, i);
    match b.get(i) {
        None | Some(b'\n' | b'\r' | b'#') => Some((path, line_end(b, i))),
        _ => None,
    }
}

fn skip_blank(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

/// One simple key from `i` (after blanks): bare, or quoted without escapes.
fn key(b: &[u8], i: usize) -> Option<(String, usize)> {
    let i = skip_blank(b, i);
    match b.get(i)? {
        q @ (b'"' | b'\'') => {
            let len = b[i + 1..].iter().position(|c| c == q || *c == b'\n')?;
            let k = &b[i + 1..i + 1 + len];
            (b[i + 1 + len] == *q && !k.contains(&b'\\')).then_some(())?;
            Some((String::from_utf8(k.to_vec()).ok()?, i + len + 2))
        }
        _ => {
            let len = b[i..]
                .iter()
                .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-'))
                .unwrap_or(b.len() - i);
            (len > 0).then_some(())?;
            Some((String::from_utf8(b[i..i + len].to_vec()).ok()?, i + len))
        }
    }
}

/// Where the key/value line starting at `i` ends: at the first line break outside its
/// strings, arrays and inline tables. `None` for a string or bracket left open.
fn value_end(b: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            b'\n' if depth == 0 => return Some(i),
            b'#' => i = line_end(b, i),
            b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                i += 1;
            }
            q @ (b'"' | b'\'') => i = string_end(b, i, q)?,
            _ => i += 1,
        }
    }
    (depth == 0).then_some(i)
}

/// Just past the string opening at `i` with quote `q`: basic (`"`, escapes), literal (`'`),
/// either multi-line when tripled (whose closing may carry up to two more quotes).
fn string_end(b: &[u8], i: usize, q: u8) -> Option<usize> {
    let triple = b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q);
    let mut j = if triple { i + 3 } else { i + 1 };
    while j < b.len() {
        let c = b[j];
        if c == b'\\' && q == b'"' {
            j += 2;
            continue;
        }
        if c == b'\n' && !triple {
            return None;
        }
        if c == q {
            if !triple {
                return Some(j + 1);
            }
            if b.get(j + 1) == Some(&q) && b.get(j + 2) == Some(&q) {
                let mut end = j + 3;
                // `""""` ends with a quote in the string (at most two).
                for _ in 0..2 {
                    if b.get(end) == Some(&q) {
                        end += 1;
                    }
                }
                return Some(end);
            }
        }
        j += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_one_account_and_every_line() {
        let text = "refresh_margin = 60 # [accounts.x]\n[notify.webhook]\nurl = \"https://h.example/[accounts.z]\"\n\n[accounts.a]\nprovider = \"github\"\nscopes = [\n  \"a\",\n[\"b\"],\n]\n[accounts.b]\nprovider = \"github\"\nx = '''\n[accounts.c]\n'''\n[ accounts . \"a\" . policy ]\nallow = []\n[accounts.b.drive] # hi\ninbox = \"\"\"\n[x]\"\"\"\"\n[agents.bot]\nkey = 1\n";
        let (out, names) = only_account(text, "a").unwrap();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(out.lines().count(), text.lines().count());
        assert!(out.contains("[accounts.a]\nprovider"));
        assert!(out.contains("[ accounts . \"a\" . policy ]\nallow = []\n"));
        assert!(!out.contains("accounts.b"), "{out}");
        assert!(!out.contains("[accounts.c]"), "{out}");
        assert!(out.contains("[agents.bot]\nkey = 1\n"));
        assert!(out.contains("[notify.webhook]\nurl"));
        // Line numbers are the file's: `[agents.bot]` is where it was.
        let line = |t: &str| t.lines().position(|l| l == "[agents.bot]");
        assert_eq!(line(&out), line(text));
        let (out, _) = only_account(text, "b").unwrap();
        assert!(out.contains("x = '''\n[accounts.c]\n'''\n"));
        assert!(!out.contains("[accounts.a]"));
    }

    #[test]
    fn what_it_cannot_follow_is_left_to_the_full_parse() {
        for text in [
            "accounts.a.provider = \"github\"\n",
            "\"accounts\" = { a = { provider = \"github\" } }\n",
            "[accounts]\na.provider = \"github\"\n",
            "[[accounts.a]]\nprovider = \"github\"\n",
            "[accounts.\"a\\u0062\"]\nprovider = \"github\"\n",
            "[accounts.a] x = 1\n",
            "[accounts.a]\nscopes = [\"a\"\n",
            "[accounts.a]\nx = \"unclosed\n[accounts.b]\n",
            "[accounts.a]\nx = ]\n",
        ] {
            assert!(only_account(text, "a").is_none(), "{text}");
        }
    }
}
