//! OData literals and the one place URLs are put together.
//!
//! # Why this module exists
//!
//! Every Graph query that carries user text (a search term, a sender) is an injection risk:
//! a quote in `o'brien@x.test` that is not doubled ends the literal early and turns the rest
//! into OData syntax (`' or 1 eq 1`). Graph then either answers 400 ("unterminated literal")
//! or, worse, runs a *wider* query than the person asked for. The rule (docs/graph.md, "OData
//! string literals") is:
//!
//! 1. write the value as an OData string literal: wrap in `'…'`, double every `'` inside;
//! 2. then percent-encode the whole value for where it goes (a query parameter, or a
//!    function-call path segment such as `search(q='…')`).
//!
//! Both steps live here, and the rest of the crate builds URLs only through [`url()`] /
//! [`rel`], never by `format!`-ing user text into a string. `+` in time-zone offsets is
//! encoded as `%2B` (a raw `+` means a space to Graph's query decoder).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// An OData string literal: `O'Brien` → `'O''Brien'` (delimiters included). The result still
/// has to be percent-encoded, which [`url()`] / [`rel`] / [`search_segment`] do.
pub fn string_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// Query values: everything but RFC 3986 unreserved characters and a few characters that are
/// plain text inside OData expressions (`/`, `:`, `,`, `(`, `)`, `$`) is percent-encoded,
/// including `'` (reqwest's URL parser would turn it into `%27` anyway), `+`, `&`, `#`, `%`,
/// `=`, space (`%20`, never `+`) and every non-ASCII byte.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/')
    .remove(b':')
    .remove(b',')
    .remove(b'(')
    .remove(b')')
    .remove(b'$');

/// A function-call path segment's argument (`search(q='…')`): the `'` delimiters and the
/// doubled quotes stay literal (that is how Graph's docs and examples write them; whether
/// `%27` works there is unconfirmed), everything else that is not unreserved is encoded,
/// `/`, `:`, `?`, `#`, `&`, `%` and `+` included.
const PATH_ARG: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'\'');

/// Percent-encodes one query value.
pub fn encode_query_value(v: &str) -> String {
    utf8_percent_encode(v, QUERY_VALUE).to_string()
}

/// One path segment from outside (an item id): every character that could end the segment or
/// start a query (`/`, `?`, `#`, `%`…) is percent-encoded, so an id cannot reach another resource.
pub fn path_segment(v: &str) -> String {
    utf8_percent_encode(v, PATH_ARG).to_string()
}

/// `search(q='…')` with the term written as a literal and encoded for a path segment.
pub fn search_segment(term: &str) -> String {
    format!(
        "search(q={})",
        utf8_percent_encode(&string_literal(term), PATH_ARG)
    )
}

/// A path plus query relative to the API version (what `$batch` wants): `path` must be a
/// fixed path written by this crate (user text only through [`search_segment`]); `query`
/// values are encoded here.
pub fn rel(path: &str, query: &[(&str, String)]) -> String {
    let mut out = String::from(path);
    for (i, (k, v)) in query.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        out.push('=');
        out.push_str(&encode_query_value(v));
    }
    out
}

/// The absolute URL for `base` (no trailing slash) + [`rel`].
pub fn url(base: &str, path: &str, query: &[(&str, String)]) -> String {
    format!("{base}{}", rel(path, query))
}

/// Percent-decodes (UTF-8, lossy) — for display of `parentReference.path`.
pub(crate) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_double_quotes() {
        assert_eq!(string_literal("o'brien"), "'o''brien'");
        assert_eq!(string_literal("''"), "''''''");
        assert_eq!(string_literal(""), "''");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            encode_query_value("a eq 'x&y#z%+é'"),
            "a%20eq%20%27x%26y%23z%25%2B%C3%A9%27"
        );
        assert_eq!(
            encode_query_value("2026-10-25T00:00:00+02:00"),
            "2026-10-25T00:00:00%2B02:00"
        );
    }

    #[test]
    fn search_segments_keep_quotes_and_encode_the_rest() {
        assert_eq!(
            search_segment("O'Brien budget/#1 & 50% é"),
            "search(q='O''Brien%20budget%2F%231%20%26%2050%25%20%C3%A9')"
        );
    }
}
