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
//! `accounts`, an escape in a header's quoted key, an unclosed value, a line break that is a
//! lone `\r`, a byte-order mark — makes it answer `None`, and the caller parses the whole file
//! as always.
//!
//! The parser is handed only the root part, the tables of no account and the kept account's
//! tables, one after the other ([`Part::text`]); [`Part::file_offset`] turns a place in that
//! text back into the file's, so errors name the file's own lines. The scan jumps through
//! strings and comments with `memchr`; past the root part of a file without multi-line strings
//! (no `"""` or `'''` anywhere), it reads only the lines that hold a bracket, the others
//! holding neither a header nor a value that goes on to the next line.

use memchr::{memchr, memchr2, memchr3, memmem, memrchr};

/// The part of the config text that a command about one account parses.
pub(super) struct Part<'a> {
    /// The root part, every table of no account and the kept account's tables, in the file's
    /// order; the other accounts' tables are left out.
    pub text: String,
    /// Each run of [`Part::text`] copied from the file: where it starts in `text` and in the
    /// file, in order.
    runs: Vec<(usize, usize)>,
    /// The account each `[accounts.NAME…]` header names, in the file's order (a name repeats
    /// for each of its tables).
    pub names: Vec<&'a str>,
}

impl Part<'_> {
    /// Where the byte at `at` in [`Part::text`] is in the file's text.
    pub fn file_offset(&self, at: usize) -> usize {
        match self.runs.partition_point(|r| r.0 <= at).checked_sub(1) {
            Some(k) => self.runs[k].1 + (at - self.runs[k].0),
            None => at,
        }
    }

    /// Append the file's `text[start..end]` to the part.
    fn keep(&mut self, text: &str, start: usize, end: usize) {
        let joined = self
            .runs
            .last()
            .is_some_and(|&(t, f)| f + (self.text.len() - t) == start);
        if !joined {
            self.runs.push((self.text.len(), start));
        }
        self.text.push_str(&text[start..end]);
    }
}

/// The part of `text` that a command about account `keep` parses, and the names of all
/// accounts. `None` when the text is not plainly made of such tables.
pub(super) fn only_account<'a>(text: &'a str, keep: &str) -> Option<Part<'a>> {
    let b = text.as_bytes();
    let mut part = Part {
        text: String::new(),
        runs: Vec::new(),
        names: Vec::new(),
    };
    // The table being read (the root part first): where its first line starts, whether kept.
    let (mut start, mut kept, mut root) = (0, true, true);
    // Without a multi-line string in the file, a line can only be inside a value that a
    // bracket opened on a line before, and a header is a bracket: past the root part, the lines
    // before the next `[` or `{` are skipped unread (they hold no header, and end their values).
    let jump = memmem::find(b, b"\"\"\"").is_none()
        && (memchr(b'\'', b).is_none() || memmem::find(b, b"'''").is_none());
    let mut i = 0;
    while i < b.len() {
        if jump && !root {
            let Some(p) = memchr2(b'[', b'{', &b[i..]) else {
                break;
            };
            // The start of the bracket's line (`i` is at a line start or at a line's `\n`):
            // mostly the bracket's own place, after a line break and any blanks.
            let before = &b[i..i + p];
            i += match before.iter().rposition(|&c| !matches!(c, b' ' | b'\t')) {
                None => 0,
                Some(k) if before[k] == b'\n' => k + 1,
                Some(_) => memrchr(b'\n', before).map_or(0, |k| k + 1),
            };
        }
        let line_start = i;
        i = skip_blank(b, i);
        match b.get(i) {
            None => break,
            Some(b'\n') => i += 1,
            Some(b'\r') if b.get(i + 1) == Some(&b'\n') => i += 2,
            Some(b'#') => i = line_end(b, i),
            Some(b'[') => {
                // Every line here starts after a `\n` (a lone `\r` is read as a value).
                if line_start > 0 && b[line_start - 1] != b'\n' {
                    return None;
                }
                let array = b.get(i + 1) == Some(&b'[');
                let (first, second, after) = header(text, i + if array { 2 } else { 1 }, array)?;
                let account = match (first, second) {
                    ("accounts", _) if array => return None,
                    ("accounts", None) => return None,
                    ("accounts", Some(name)) => Some(name),
                    _ => None,
                };
                if kept {
                    part.keep(text, start, line_start);
                }
                if let Some(name) = account {
                    part.names.push(name);
                }
                (start, kept, root) = (line_start, account.is_none_or(|a| a == keep), false);
                i = after;
            }
            Some(_) => {
                // A key/value line: at the root, `accounts.…` would add to the accounts.
                if root && key(text, i)?.0 == "accounts" {
                    return None;
                }
                i = value_end(b, i)?;
            }
        }
    }
    if kept {
        part.keep(text, start, b.len());
    }
    Some(part)
}

/// The text cut into what no account holds and the accounts' tables (`sidekey status`, and
/// every command that reads the whole config, parses the accounts a batch at a time).
pub(super) struct Split<'a> {
    /// The root part and every table of no account, in the file's order; its `names` are every
    /// `[accounts.NAME…]` header's account, as [`only_account`]'s.
    pub rest: Part<'a>,
    /// Each `[accounts.NAME…]` table in the file's order: its account and where it is in the
    /// file (from its header's line to the next header's line, or the end).
    pub tables: Vec<(&'a str, std::ops::Range<usize>)>,
}

/// `text` cut as [`Split`] says. `None` when the text is not plainly made of such tables (as
/// [`only_account`]).
pub(super) fn split(text: &str) -> Option<Split<'_>> {
    let mut rest = Part {
        text: String::new(),
        runs: Vec::new(),
        names: Vec::new(),
    };
    let mut accounts = Vec::new();
    tables(text, |account, start, end| match account {
        Some(name) => {
            rest.names.push(name);
            accounts.push((name, start..end));
        }
        None => rest.keep(text, start, end),
    })?;
    Some(Split {
        rest,
        tables: accounts,
    })
}

/// Hands `table` each table of `text` in the file's order, the root part first: the account
/// its header names (`None` for the root part and the tables of no account) and where it is
/// (from its header's line to the next header's line). `None` when the text is not plainly
/// made of such tables; `table` may then have been handed some of them. The same scan as
/// [`only_account`]'s, line for line; that one is kept apart, without a callback, and the
/// helpers both call are inlined into each, because `sidekey token` runs it (with the helpers
/// shared it took 7% more instructions at 10,000 accounts). `split_follows_only_account`
/// checks the two agree.
fn tables<'a>(text: &'a str, mut table: impl FnMut(Option<&'a str>, usize, usize)) -> Option<()> {
    let b = text.as_bytes();
    // The table being read (the root part first): where its first line starts, its account.
    let (mut start, mut account, mut root): (usize, Option<&'a str>, bool) = (0, None, true);
    // Without a multi-line string in the file, a line can only be inside a value that a
    // bracket opened on a line before, and a header is a bracket: past the root part, the lines
    // before the next `[` or `{` are skipped unread (they hold no header, and end their values).
    let jump = memmem::find(b, b"\"\"\"").is_none()
        && (memchr(b'\'', b).is_none() || memmem::find(b, b"'''").is_none());
    let mut i = 0;
    while i < b.len() {
        if jump && !root {
            let Some(p) = memchr2(b'[', b'{', &b[i..]) else {
                break;
            };
            // The start of the bracket's line (`i` is at a line start or at a line's `\n`):
            // mostly the bracket's own place, after a line break and any blanks.
            let before = &b[i..i + p];
            i += match before.iter().rposition(|&c| !matches!(c, b' ' | b'\t')) {
                None => 0,
                Some(k) if before[k] == b'\n' => k + 1,
                Some(_) => memrchr(b'\n', before).map_or(0, |k| k + 1),
            };
        }
        let line_start = i;
        i = skip_blank(b, i);
        match b.get(i) {
            None => break,
            Some(b'\n') => i += 1,
            Some(b'\r') if b.get(i + 1) == Some(&b'\n') => i += 2,
            Some(b'#') => i = line_end(b, i),
            Some(b'[') => {
                // Every line here starts after a `\n` (a lone `\r` is read as a value).
                if line_start > 0 && b[line_start - 1] != b'\n' {
                    return None;
                }
                let array = b.get(i + 1) == Some(&b'[');
                let (first, second, after) = header(text, i + if array { 2 } else { 1 }, array)?;
                let next = match (first, second) {
                    ("accounts", _) if array => return None,
                    ("accounts", None) => return None,
                    ("accounts", Some(name)) => Some(name),
                    _ => None,
                };
                table(account, start, line_start);
                (start, account, root) = (line_start, next, false);
                i = after;
            }
            Some(_) => {
                // A key/value line: at the root, `accounts.…` would add to the accounts.
                if root && key(text, i)?.0 == "accounts" {
                    return None;
                }
                i = value_end(b, i)?;
            }
        }
    }
    table(account, start, b.len());
    Some(())
}

/// Where the line holding `i` ends (at its `\n`, or the end).
#[inline(always)]
fn line_end(b: &[u8], i: usize) -> usize {
    memchr(b'\n', &b[i..]).map_or(b.len(), |p| i + p)
}

/// A header's first two keys from `i` (just inside its `[` or `[[`), and where its line ends:
/// only whitespace and a comment may follow the closing bracket(s).
#[inline(always)]
fn header(text: &str, mut i: usize, array: bool) -> Option<(&str, Option<&str>, usize)> {
    let b = text.as_bytes();
    // The usual one, `[accounts.NAME]` and its line break, read at once.
    if let Some(rest) = b[i..].strip_prefix(b"accounts.").filter(|_| !array) {
        let len = rest.iter().position(|&c| !BARE[c as usize]);
        let end = i + "accounts.".len() + len.unwrap_or(0);
        let line_end = match (b.get(end), b.get(end + 1), b.get(end + 2)) {
            (Some(b']'), None, _) => Some(end + 1),
            (Some(b']'), Some(b'\n'), _) => Some(end + 1),
            (Some(b']'), Some(b'\r'), Some(b'\n')) => Some(end + 2),
            _ => None,
        };
        if let (Some(len @ 1..), Some(line_end)) = (len, line_end) {
            // SAFETY: `end - len..end` holds only bare-key bytes (ASCII) and follows the
            // ASCII `.`, so both ends are character boundaries of `text`. (`text.get`, called
            // here from two scans, is no longer inlined: 20 instructions a header for `token`.)
            let name = unsafe { text.get_unchecked(end - len..end) };
            return Some(("accounts", Some(name), line_end));
        }
    }
    let (mut first, mut second) = (None, None);
    loop {
        let (k, next) = key(text, i)?;
        match (first, second) {
            (None, _) => first = Some(k),
            (Some(_), None) => second = Some(k),
            _ => {}
        }
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
    match (b.get(i), b.get(i + 1)) {
        (None | Some(b'\n' | b'#'), _) | (Some(b'\r'), Some(b'\n')) => {
            Some((first?, second, line_end(b, i)))
        }
        _ => None,
    }
}

#[inline(always)]
fn skip_blank(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

/// One simple key from `i` (after blanks), and where it ends: bare, literal, or basic without
/// escapes.
#[inline(always)]
fn key(text: &str, i: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    let i = skip_blank(b, i);
    match *b.get(i)? {
        q @ (b'"' | b'\'') => {
            let len = memchr2(q, b'\n', &b[i + 1..])?;
            let k = text.get(i + 1..i + 1 + len)?;
            (b[i + 1 + len] == q && !(q == b'"' && k.contains('\\'))).then_some(())?;
            Some((k, i + len + 2))
        }
        _ => {
            let len = b[i..]
                .iter()
                .position(|&c| !BARE[c as usize])
                .unwrap_or(b.len() - i);
            (len > 0).then_some(())?;
            Some((text.get(i..i + len)?, i + len))
        }
    }
}

/// The bytes of a bare key: ASCII letters and digits, `_` and `-`.
const BARE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
        c += 1;
    }
    t
};

/// The bytes that end a run of plain value text: a line break, a comment, a string, a bracket.
const STOPS: [bool; 256] = {
    let mut t = [false; 256];
    let mut k = 0;
    let stops = b"\n#\"'[]{}";
    while k < stops.len() {
        t[stops[k] as usize] = true;
        k += 1;
    }
    t
};

/// Where the key/value line starting at `i` ends: at the first line break outside its
/// strings, arrays and inline tables. `None` for a string or bracket left open.
#[inline(always)]
fn value_end(b: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        while i < b.len() && !STOPS[b[i] as usize] {
            i += 1;
        }
        let Some(&c) = b.get(i) else {
            return (depth == 0).then_some(i);
        };
        match c {
            b'\n' if depth == 0 => return Some(i),
            b'\n' => i += 1,
            b'#' => i = line_end(b, i),
            b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                i += 1;
            }
            q => i = string_end(b, i, q)?,
        }
    }
}

/// Just past the string opening at `i` with quote `q`: basic (`"`, escapes), literal (`'`),
/// either multi-line when tripled (whose closing may carry up to two more quotes).
#[inline(always)]
fn string_end(b: &[u8], i: usize, q: u8) -> Option<usize> {
    let triple = b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q);
    let mut j = if triple { i + 3 } else { i + 1 };
    loop {
        let rest = b.get(j..)?;
        j += match (q == b'"', triple) {
            (true, false) => memchr3(q, b'\\', b'\n', rest),
            (true, true) => memchr2(q, b'\\', rest),
            (false, false) => memchr2(q, b'\n', rest),
            (false, true) => memchr(q, rest),
        }?;
        match b[j] {
            b'\\' => j += 2,
            b'\n' => return None,
            _ if !triple => return Some(j + 1),
            _ if b.get(j + 1) == Some(&q) && b.get(j + 2) == Some(&q) => {
                let mut end = j + 3;
                // `""""` ends with a quote in the string (at most two).
                for _ in 0..2 {
                    if b.get(end) == Some(&q) {
                        end += 1;
                    }
                }
                return Some(end);
            }
            _ => j += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Headers that are not headers (in comments, strings, multi-line strings and arrays),
    /// spaced and quoted headers, tables of no account between the accounts'.
    const TEXT: &str = "refresh_margin = 60 # [accounts.x]\n[notify.webhook]\nurl = \"https://h.example/[accounts.z]\"\n\n[accounts.a]\nprovider = \"github\"\nscopes = [\n  \"a\",\n[\"b\"],\n]\n[accounts.b]\nprovider = \"github\"\nx = '''\n[accounts.c]\n'''\ny = \"\\\"[accounts.c]\"\n[ accounts . \"a\" . policy ]\nallow = []\n  # [accounts.d]\n[accounts.b.drive] # hi\ninbox = \"\"\"\n[x]\\\"\"\"\"\"\n[accounts.'c']\nprovider = \"github\"\nz = { a = [1, {b = 2}] }\n[agents.bot]\nkey = 1\n";

    /// As [`TEXT`] without a multi-line string, so the scan jumps from bracket to bracket:
    /// header-like lines in a multi-line array, a string and a comment.
    const PLAIN: &str = r#"refresh_margin = 60 # [accounts.x]
[notify.webhook]
url = "https://h.example/[accounts.z]"

[accounts.a]
provider = "github"
scopes = [
  "a",
["b"],
["q"]
]
[accounts.b]
provider = "github"
y = "\"[accounts.c]"
  [accounts.b.inner]
w = [
["accounts"]
]
[ accounts . "a" . policy ]
allow = []
  # [accounts.d]
[accounts.b.drive] # hi
v = { a = [1, {b = 2}] }
[accounts.'c']
provider = "github"
[agents.bot]
key = 1
"#;

    /// What `keep`'s part parses to is what the whole file parses to, less the other accounts;
    /// every byte of the part is the file's byte at [`Part::file_offset`].
    fn same_as_whole<'a>(text: &'a str, keep: &str) -> Part<'a> {
        let part = only_account(text, keep).unwrap();
        let mut whole: toml::Table = toml::from_str(text).unwrap();
        if let Some(toml::Value::Table(accounts)) = whole.get_mut("accounts") {
            accounts.retain(|k, _| k == keep);
        }
        let got: toml::Table = toml::from_str(&part.text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, whole, "{}", part.text);
        maps_back(text, &part);
        part
    }

    fn maps_back(text: &str, part: &Part) {
        for (k, c) in part.text.bytes().enumerate() {
            assert_eq!(text.as_bytes()[part.file_offset(k)], c, "byte {k}");
        }
    }

    #[test]
    fn keeps_one_account_and_the_file_offsets() {
        let part = same_as_whole(TEXT, "a");
        assert_eq!(part.names, ["a", "b", "a", "b", "c"]);
        assert!(part.text.contains("[accounts.a]\nprovider"));
        assert!(!part.text.contains("accounts.b"), "{}", part.text);
        assert!(!part.text.contains("[accounts.c]"), "{}", part.text);
        // An error's place in the part is the same place in the file.
        for needle in ["[agents.bot]", "[ accounts . \"a\" . policy ]", "key = 1"] {
            let at = part.text.find(needle).unwrap();
            assert_eq!(part.file_offset(at), TEXT.find(needle).unwrap(), "{needle}");
        }
        let part = same_as_whole(TEXT, "b");
        assert!(part.text.contains("x = '''\n[accounts.c]\n'''\n"));
        assert!(!part.text.contains("[accounts.a]"));
        let part = same_as_whole(TEXT, "c");
        assert!(part.text.contains("z = { a = [1, {b = 2}] }\n[agents.bot]"));
        // No account of that name: nothing of any account is left.
        let part = only_account(TEXT, "nope").unwrap();
        assert!(!part.text.contains("provider"), "{}", part.text);
        maps_back(TEXT, &part);
    }

    #[test]
    fn crlf_line_breaks_are_followed() {
        let text = TEXT.replace('\n', "\r\n");
        for keep in ["a", "b", "c"] {
            let part = same_as_whole(&text, keep);
            assert_eq!(part.names, ["a", "b", "a", "b", "c"]);
        }
    }

    #[test]
    fn without_multi_line_strings_it_jumps_from_bracket_to_bracket() {
        for text in [PLAIN.to_string(), PLAIN.replace('\n', "\r\n")] {
            for keep in ["a", "b", "c"] {
                let part = same_as_whole(&text, keep);
                assert_eq!(part.names, ["a", "b", "b", "a", "b", "c"]);
            }
            let part = only_account(&text, "a").unwrap();
            assert!(!part.text.contains("[\"accounts\"]"), "{}", part.text);
            assert!(part.text.contains("[\"q\"]"), "{}", part.text);
        }
        // A line without a bracket is not read: a string left open in another account's
        // table is that account's mistake, for the commands that read it.
        let open = "[accounts.b]\nx = \"open\n[accounts.a]\nprovider = \"github\"\n";
        let part = only_account(open, "a").unwrap();
        assert_eq!(part.text, "[accounts.a]\nprovider = \"github\"\n");
        assert_eq!(part.file_offset(0), open.find("[accounts.a]").unwrap());
        // With a multi-line string anywhere, every line is read: the same is refused.
        assert!(only_account(&format!("{open}z = '''\n'''\n"), "a").is_none());
    }

    #[test]
    fn what_it_cannot_follow_is_left_to_the_full_parse() {
        for text in [
            "accounts.a.provider = \"github\"\n",
            "\"accounts\" = { a = { provider = \"github\" } }\n",
            "accounts = { a = { provider = \"github\" } }\n",
            "[accounts]\na.provider = \"github\"\n",
            "[[accounts.a]]\nprovider = \"github\"\n",
            "[[accounts]]\nprovider = \"github\"\n",
            "[accounts.\"a\\u0062\"]\nprovider = \"github\"\n",
            "[accounts.a] x = 1\n",
            "[accounts.a]\nscopes = [\"a\"\n",
            "[accounts.a]\nx = \"unclosed\n[accounts.b]\ny = '''\n'''\n",
            "[accounts.a]\nx = \"\"\"unclosed\n[accounts.b]\n",
            "[accounts.b]\nx = '''\n[accounts.a]\nprovider = \"github\"\n",
            "[accounts.a]\nx = ]\ny = '''\n'''\n",
            "[accounts.a\n",
            "[accounts.a]\r[accounts.b]\n",
            "[accounts.'a\n']\n",
            "\u{feff}[accounts.a]\nprovider = \"github\"\n",
            "\u{feff}refresh_margin = 60\n[accounts.a]\n",
        ] {
            assert!(only_account(text, "a").is_none(), "{text:?}");
        }
    }

    /// Files made of random tables and lines (a fixed seed): whenever the whole file parses
    /// and the scan answers, the part parses to the whole file less the other accounts.
    #[test]
    fn random_files_give_the_same_account_as_the_whole_parse() {
        const PIECES: &[&str] = &[
            "[accounts.a]\n",
            "[accounts.b]\n",
            "[ accounts . 'c' ]\n",
            "[accounts.a.x]\n",
            "[accounts.b.x]\n",
            "[server]\n",
            "[agents.z] # [accounts.a]\n",
            "k1 = \"v [accounts.b]\"\n",
            "k2 = [\n\"x\",\n[\"accounts\"],\n[1]\n]\n",
            "k3 = { a = [1, 2], b = \"]\" }\n",
            "k4 = '''\n[accounts.b]\n'''\n",
            "k5 = \"\"\"\n[accounts.a]\\\n  x\"\"\"\n",
            "# [accounts.c]\n",
            "  \n",
            "k6 = 1 # {[\n",
            "\"k7\" = \"\\\"[x]\"\n",
            "k8 = []\n",
        ];
        let mut seed: u64 = 23;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        // Files checked, and those of them without a multi-line string (the bracket jumps).
        let (mut checked, mut plain) = (0, 0);
        for round in 0..3000 {
            let mut text = String::new();
            for _ in 0..next(14) + 1 {
                text.push_str(PIECES[next(PIECES.len())]);
            }
            if round % 3 == 0 {
                text = text.replace('\n', "\r\n");
            }
            split_agrees(&text);
            if toml::from_str::<toml::Table>(&text).is_err() {
                continue;
            }
            for keep in ["a", "b", "c"] {
                if only_account(&text, keep).is_some_and(|p| p.names.contains(&keep)) {
                    same_as_whole(&text, keep);
                    checked += 1;
                    if !text.contains("'''") && !text.contains("\"\"\"") {
                        plain += 1;
                    }
                }
            }
        }
        assert!(
            checked > 300 && plain > 100,
            "only {checked} ({plain} plain) checked"
        );
    }

    /// What [`split`] cuts is what [`only_account`] keeps: the same texts refused, the same
    /// names, and for any account the root part and tables of no account with that account's
    /// tables, in the file's order, are its part's text.
    fn split_agrees(text: &str) {
        let split = split(text);
        for keep in ["a", "b", "c", "é"] {
            let part = only_account(text, keep);
            assert_eq!(split.is_some(), part.is_some(), "{text:?}");
            let (Some(split), Some(part)) = (&split, part) else {
                continue;
            };
            assert_eq!(split.rest.names, part.names, "{text:?}");
            let rest = &split.rest;
            let mut pieces: Vec<(usize, &str)> = (0..rest.runs.len())
                .map(|k| {
                    let end = rest.runs.get(k + 1).map_or(rest.text.len(), |r| r.0);
                    (rest.runs[k].1, &rest.text[rest.runs[k].0..end])
                })
                .collect();
            for (name, range) in &split.tables {
                if *name == keep {
                    pieces.push((range.start, &text[range.clone()]));
                }
            }
            pieces.sort();
            let joined: String = pieces.iter().map(|p| p.1).collect();
            assert_eq!(joined, part.text, "{text:?} {keep}");
        }
    }

    #[test]
    fn split_follows_only_account() {
        for text in [
            TEXT.to_string(),
            PLAIN.to_string(),
            TEXT.replace('\n', "\r\n"),
            PLAIN.replace('\n', "\r\n"),
        ] {
            for cut in (0..=text.len()).filter(|&c| text.is_char_boundary(c)) {
                split_agrees(&text[..cut]);
            }
        }
        for text in [
            "accounts.a.provider = \"github\"\n",
            "[accounts]\na.provider = \"github\"\n",
            "[[accounts.a]]\nprovider = \"github\"\n",
            "[accounts.a]\nx = \"\"\"unclosed\n[accounts.b]\n",
            "\u{feff}[accounts.a]\nprovider = \"github\"\n",
            "[accounts.é]\nprovider = 'ü'\n[accounts.\"ö\"]\n",
            "",
        ] {
            split_agrees(text);
        }
    }

    /// Every cut of hostile text answers (a part or `None`), never a panic, and a part is
    /// always made of the file's own bytes.
    #[test]
    fn no_text_makes_it_panic() {
        let hostile = [
            TEXT,
            PLAIN,
            "[accounts.a]\nx = \"\\",
            "[accounts.a]\nx = \"\"\"\\\"\"\"\n[accounts.b]\n",
            "[accounts.é]\nprovider = 'ü'\n[accounts.\"ö\"]\n",
            "[[agents.x]]\n[accounts.a]\ny = [[[[{{{\n",
            "\r\n\r[\r\n[accounts.a]]\n]]\n",
        ];
        for text in hostile {
            for cut in (0..=text.len()).filter(|&c| text.is_char_boundary(c)) {
                let text = &text[..cut];
                for keep in ["a", "b", "é"] {
                    if let Some(part) = only_account(text, keep) {
                        maps_back(text, &part);
                    }
                }
            }
        }
    }
}
