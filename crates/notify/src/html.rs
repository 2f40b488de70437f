//! Escaping for Telegram's HTML parse mode.
//!
//! Telegram requires every `<`, `>` and `&` that is not part of a tag or entity to be written
//! as `&lt;`, `&gt;`, `&amp;`; `"` is escaped too so the same function is safe inside a
//! double-quoted attribute. Nothing else needs escaping (unlike MarkdownV2, where `_`, `*`,
//! `.`, `-`, … all do), which is why the messages use HTML.

/// Escapes `&`, `<`, `>` and `"`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_the_four() {
        assert_eq!(
            super::escape(r#"<script>&_*"'"#),
            "&lt;script&gt;&amp;_*&quot;'"
        );
        assert_eq!(super::escape("plain äöü"), "plain äöü");
    }
}
