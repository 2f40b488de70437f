//! Text for error messages, logs and whatever is shown to a person: one line, bounded; or
//! several lines with nothing in them a terminal or a chat app would act on.

/// What a scrubbed secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// `text` with every occurrence of each of `secrets` replaced by [`REDACTED`]: as sent, and
/// form- or percent-encoded with upper- or lower-case hex (how a provider or proxy that echoes
/// the request would show it; RFC 3986 §2.1 allows either case). Secrets shorter than 6
/// characters are not looked for (they would match ordinary words).
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 6) {
        let upper = [percent_encode(s, true), percent_encode(s, false)];
        let lower = upper.clone().map(|e| lower_hex(&e));
        for form in std::iter::once(s.to_string()).chain(upper).chain(lower) {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), REDACTED);
            }
        }
    }
    out
}

/// A percent-encoded string with its `%XX` escapes in lower case (the rest as it is).
fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut escape = 0;
    for c in encoded.chars() {
        if c == '%' {
            escape = 2;
            out.push(c);
        } else if escape > 0 {
            escape -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
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

/// Characters that change how text *looks* without being seen: bidi embeddings, overrides and
/// isolates (U+202A–U+202E, U+2066–U+2069, and the marks U+200E, U+200F, U+061C: a file name
/// `invoice\u{202e}fdp.exe` shows as `invoiceexe.pdf`), zero-width spaces and joiners that hide
/// text (U+200B, U+2060–U+2064, U+FEFF, U+180E), the soft hyphen and the Unicode tag characters
/// (U+E0000–U+E007F, invisible "ASCII" some models read). ZWJ and ZWNJ (U+200D, U+200C) stay:
/// emoji sequences and several scripts need them and they hide nothing.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{00AD}' | '\u{180E}'
        | '\u{200B}' | '\u{200E}' | '\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{FEFF}'
        | '\u{E0000}'..='\u{E007F}')
}

/// A character [`printable`] removes wherever it stands: a control character (C0, DEL, C1), an
/// [`invisible`] one, or a line or paragraph separator (U+2028, U+2029). For output that keeps
/// the data (JSON), where such a character is written as an escape instead.
pub fn hidden(c: char) -> bool {
    c.is_control() || invisible(c) || c == '\u{2028}' || c == '\u{2029}'
}

/// `s` without terminal escape sequences (CSI `ESC [ … final`, OSC/DCS/APC/PM/SOS strings up to
/// BEL or ST, and two-character escapes; their 8-bit C1 forms too), without other control
/// characters and without [`invisible`] characters. `\n` and `\t` are kept when `lines`;
/// otherwise every whitespace control (and U+2028/U+2029) becomes a space.
fn strip(s: &str, lines: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        // The kind of sequence an ESC (or its C1 form) starts.
        let seq = match c {
            '\u{1b}' => match it.peek() {
                Some('[') => {
                    it.next();
                    Some('[')
                }
                Some(']' | 'P' | 'X' | '^' | '_') => {
                    it.next();
                    Some(']')
                }
                _ => Some('e'),
            },
            '\u{9b}' => Some('['),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => Some(']'),
            _ => None,
        };
        match seq {
            // CSI: parameter and intermediate bytes, then one final byte (0x40–0x7E).
            Some('[') => {
                while let Some(&n) = it.peek() {
                    if ('\u{20}'..='\u{3f}').contains(&n) {
                        it.next();
                    } else {
                        if ('\u{40}'..='\u{7e}').contains(&n) {
                            it.next();
                        }
                        break;
                    }
                }
            }
            // A string (OSC 8 hyperlinks, window titles, …): up to BEL, ST (ESC \ or U+009C);
            // a newline ends it too, so an unterminated one cannot swallow what follows.
            Some(']') => {
                while let Some(n) = it.next() {
                    match n {
                        '\u{7}' | '\u{9c}' => break,
                        '\u{1b}' => {
                            if it.peek() == Some(&'\\') {
                                it.next();
                            }
                            break;
                        }
                        '\n' => {
                            out.push(if lines { '\n' } else { ' ' });
                            break;
                        }
                        _ => {}
                    }
                }
            }
            // ESC, intermediates (0x20–0x2F), one final byte (0x30–0x7E): `ESC c`, `ESC ( B`.
            Some(_) => {
                while let Some(&n) = it.peek() {
                    if ('\u{20}'..='\u{2f}').contains(&n) {
                        it.next();
                    } else {
                        if ('\u{30}'..='\u{7e}').contains(&n) {
                            it.next();
                        }
                        break;
                    }
                }
            }
            None if lines && (c == '\n' || c == '\t') => out.push(c),
            None if c == '\u{2028}' || c == '\u{2029}' => out.push(if lines { '\n' } else { ' ' }),
            None if c.is_control() => {
                if !lines && c.is_whitespace() {
                    out.push(' ');
                }
            }
            None if invisible(c) => {}
            None => out.push(c),
        }
    }
    out
}

/// Text from someone else (a provider, the agent, a file) as it may be shown to a person in a
/// terminal or a channel, several lines allowed: `\n` and `\t` stay; escape sequences, other
/// control characters (`\r` included: it rewrites the line), bidi overrides and zero-width
/// characters go. Nothing is cut.
pub fn printable(s: &str) -> String {
    strip(s, true)
}

/// `s` as one printable line of at most `max` characters: escape sequences, control and
/// invisible characters are removed as [`printable`] does, runs of whitespace become one space,
/// and a longer result is cut to `max - 1` characters plus `…` (so the `…` counts toward `max`).
pub fn one_line(s: &str, max: usize) -> String {
    let clean = strip(s, false);
    let mut out = String::new();
    for (i, word) in clean.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
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
        assert_eq!(one_line("a\u{7}b\u{1b}[31mc", 20), "abc");
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
mod printable_tests {
    use super::{one_line, printable};

    /// What a hostile title, file name or event subject carries: an OSC 8 hyperlink, a screen
    /// clear, a right-to-left override, zero-width spaces, a carriage return that rewrites the
    /// line, 8-bit C1 escapes.
    #[test]
    fn escapes_bidi_and_zero_width_tricks_are_removed() {
        let evil = "\u{1b}]8;;http://evil\u{7}Click\u{1b}]8;;\u{7} me\u{1b}[2J \u{202e}fdp.exe\u{200b}\u{feff} \u{9b}31mred\r fake";
        let shown = one_line(evil, 200);
        assert_eq!(shown, "Click me fdp.exe red fake");
        for c in shown.chars() {
            assert!(
                !c.is_control() && !('\u{2000}'..='\u{206f}').contains(&c) || c == ' ',
                "{c:?}"
            );
        }
        assert!(!shown.contains("evil"), "an OSC 8 target survived: {shown}");
        // Several lines: newlines and tabs stay, the rest goes.
        assert_eq!(
            printable("line 1\tx\u{1b}[31m\r\nline\u{2066} 2\u{1b}c\n"),
            "line 1\tx\nline 2\n"
        );
        // An unterminated OSC ends at the line's end: what follows is still shown.
        assert_eq!(printable("a\u{1b}]0;title\nb"), "a\nb");
        // ESC ST form, and a lone ESC at the end.
        assert_eq!(printable("x\u{1b}]2;t\u{1b}\\y\u{1b}"), "xy");
        // Ordinary text, emoji with ZWJ, scripts, are untouched.
        let fine = "Grüße — 日本語 👩\u{200d}💻 שלום";
        assert_eq!(printable(fine), fine);
        assert_eq!(one_line(fine, 100), fine);
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

    /// RFC 3986 §2.1 lets either case stand for a percent-encoded octet, and encoders differ
    /// (Python's `quote` writes `%2F`, others `%2f`): both are caught, with or without `+`.
    #[test]
    fn lower_case_percent_encoding_is_scrubbed_too() {
        let code = "4/0AeaYSHB x+y";
        let t = "code=4%2f0AeaYSHB+x%2by&c2=4%2f0AeaYSHB%20x%2by";
        let s = scrub(t, &[code]);
        assert!(!s.contains("0AeaYSHB"), "{s}");
        assert_eq!(s.matches(REDACTED).count(), 2, "{s}");
    }
}
