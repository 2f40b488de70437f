//! Text for error messages and logs: one line, bounded.

/// `s` as one printable line of at most `max` characters: runs of whitespace become one space,
/// other control characters are removed, and a longer result is cut to `max - 1` characters
/// plus `…` (so the `…` counts toward `max`).
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
