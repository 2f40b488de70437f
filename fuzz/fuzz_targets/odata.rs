//! OData literals and URL pieces (`sidekey_services::odata`): any user text.
//!
//! Checks: `string_literal` is `'…'` with every inner quote doubled, so it never closes
//! early, and reading it back as OData gives the input; `search_segment` decodes back to
//! `search(q=<literal>)` and leaves nothing raw that could end the path segment or start a
//! query; `encode_query_value` and `path_segment` decode back to the input and leave no raw
//! character that would split a query or a path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;
use sidekey_services::odata::{
    encode_query_value, path_segment, rel, search_segment, string_literal,
};

/// Reads one OData string literal at the start of `s`: `Some((value, rest))`.
fn read_literal(s: &str) -> Option<(String, &str)> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '\'' {
        return None;
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            // A doubled quote is a quote; a single one ends the literal.
            if s[i + 1..].starts_with('\'') {
                chars.next();
                out.push('\'');
            } else {
                return Some((out, &s[i + 1..]));
            }
        } else {
            out.push(c);
        }
    }
    None
}

fn decode(s: &str) -> String {
    percent_decode_str(s)
        .decode_utf8()
        .expect("encoded UTF-8 decodes")
        .into_owned()
}

fn unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };

    let lit = string_literal(s);
    let (value, rest) = read_literal(&lit).expect("a complete literal");
    assert_eq!(value, s, "the literal reads back as the input");
    assert!(
        rest.is_empty(),
        "the literal closed early: {lit:?} leaves {rest:?}"
    );

    let seg = search_segment(s);
    let inner = seg
        .strip_prefix("search(q=")
        .and_then(|x| x.strip_suffix(')'))
        .expect("search(q=…) shape");
    for c in inner.chars() {
        assert!(
            unreserved(c) || c == '%' || c == '\'',
            "raw {c:?} in the search segment {seg:?}"
        );
    }
    let decoded = decode(inner);
    assert_eq!(decoded, lit, "the segment decodes to the literal");
    // On the raw segment too: the quotes are literal there, so the literal must be whole.
    let (v, rest) = read_literal(inner).expect("a complete literal in the segment");
    assert!(
        rest.is_empty(),
        "the segment's literal closed early: {seg:?}"
    );
    assert_eq!(decode(&v), s);

    let q = encode_query_value(s);
    for c in q.chars() {
        assert!(
            unreserved(c) || matches!(c, '%' | '/' | ':' | ',' | '(' | ')' | '$'),
            "raw {c:?} in the query value {q:?}"
        );
    }
    assert_eq!(decode(&q), s);

    let p = path_segment(s);
    for c in p.chars() {
        assert!(
            unreserved(c) || matches!(c, '%' | '\''),
            "raw {c:?} in the path segment {p:?}"
        );
    }
    assert_eq!(decode(&p), s);

    // A filter built the crate's way has exactly the parameters it was given.
    let url = rel(
        "/me/messages",
        &[("$filter", format!("from eq {lit}")), ("$top", "5".into())],
    );
    let query = url.split_once('?').expect("a query").1;
    let params: Vec<&str> = query.split('&').collect();
    assert_eq!(params.len(), 2, "{url:?}");
    assert_eq!(
        decode(params[0].strip_prefix("$filter=").unwrap()),
        format!("from eq {lit}")
    );
});
