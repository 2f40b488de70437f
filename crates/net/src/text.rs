//! Text for error messages and logs: one line, bounded.

/// `s` as one printable line of at most `max` characters: runs of whitespace become one space,
/// other control characters are removed, and a longer result is cut to `max - 1` characters
/// plus `…` (so the `…` counts toward `max`).
/// What a scrubbed secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// `text` with every occurrence of each of `secrets` replaced by [`REDACTED`]: as sent, and
/// form- or percent-encoded (how a provider or proxy that echoes the request would show it).
/// Secrets shorter than 6 characters are not looked for (they would match ordinary words).
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 6) {
        for form in [
            s.to_string(),
            percent_encode(s, true),
            percent_encode(s, false),
        ] {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), REDACTED);
            }
        }
    }
    out
}

/// RFC 3986 unreserved characters stay; everything else is `%XX` (`plus_for_space`: a form's
/// `+` for a space).
fn percent_encode(s: &str, plus_for_space: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' if plus_for_space => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn one_line(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, word) in s.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.retain(|c| !c.is_control());
    if out.chars().count() > max {
        let mut cut: String = out.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        return cut;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn newlines_and_whitespace_collapse() {
        assert_eq!(one_line("  a\n\tb\r\n c  ", 10), "a b c");
        assert_eq!(one_line("a\n\r\tb   c", 50), "a b c");
        assert_eq!(one_line("", 4), "");
    }

    #[test]
    fn control_characters_are_removed() {
        assert_eq!(one_line("a\u{7}b\u{1b}[31mc", 20), "ab[31mc");
        assert_eq!(one_line("x\u{0}\u{7f}y", 20), "xy");
        // NEL is whitespace: a separator, like a newline.
        assert_eq!(one_line("x\u{85}y", 20), "x y");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis_counted_in_max() {
        assert_eq!(one_line("abcdef", 4), "abc…");
        assert_eq!(one_line("abcd", 4), "abcd");
        assert_eq!(one_line("äöüßé", 3), "äö…");
        assert_eq!(one_line("abc", 0), "…");
    }
}

#[cfg(test)]
mod scrub_tests {
    use super::*;

    #[test]
    fn secrets_are_scrubbed_as_sent_and_encoded() {
        let t = "refresh_token=rt/a+b=c&x=rt%2Fa%2Bb%3Dc y=rt/a+b=c";
        let s = scrub(t, &["rt/a+b=c", "short"]);
        assert!(!s.contains("rt/a") && !s.contains("rt%2F"), "{s}");
        assert_eq!(s.matches(REDACTED).count(), 3, "{s}");
        assert_eq!(scrub("a short word", &["short"]), "a short word");
    }
}
