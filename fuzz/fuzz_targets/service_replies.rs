//! The service reply models (`sidekey_services`): one item of a Microsoft Graph, Google Drive,
//! Google Docs or YouTube answer, any shape, turned into its result type and the text a person
//! reads for it; and the error answers of Graph, Google and YouTube.
//!
//! Checks: never panics; the text of N items is exactly the lines the renderer means to write
//! (one per item; two for a Graph file with a link; a header or a "more" line), so no value
//! can start a line of its own; nothing a provider sent reaches the text with a control,
//! bidi, zero-width or line-separator character (`sidekey_net::hidden`); the text is bounded
//! by what was sent (per item: its input plus a fixed allowance; Google and YouTube cut each
//! field); an error's `Display` is one clean line of at most 400 characters.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sidekey_fuzz::{Json, assert_printable};
use sidekey_services::fuzzing as f;
use sidekey_services::google::drive::DriveFile;
use sidekey_services::google::{docs, parse_error, render as grender};
use sidekey_services::youtube::{self, Listing, Method};
use sidekey_services::{GraphError, render};
use std::time::Duration;

#[derive(Arbitrary, Debug)]
enum Model {
    GraphMe,
    GraphFiles,
    GraphEvents,
    GraphMail,
    GraphBirthdays,
    GraphError(u16),
    DriveFiles,
    DocsBody,
    GoogleError(u16),
    YouTubePlaylists(bool),
    YouTubeItems(bool),
    YouTubeSearch,
    YouTubeError(u16),
}

#[derive(Arbitrary, Debug)]
struct Input {
    model: Model,
    items: Vec<Json>,
    /// The body of an error answer as bytes, when set (else the first item as JSON).
    raw: Option<Vec<u8>>,
    /// The person's zone: a fixed offset in seconds (jiff's range is ±25:59:59).
    offset: i32,
    /// Today, as days since 1970.
    today: u16,
}

/// The most characters the renderers add around one item's values.
const ALLOWANCE: usize = 400;

fn lines(text: &str) -> usize {
    text.trim_end_matches('\n').split('\n').count()
}

fn input_chars(v: &Value) -> usize {
    v.to_string().chars().count()
}

fn error_line(what: &str, e: &dyn std::fmt::Display) {
    let text = e.to_string();
    assert_printable(what, &text);
    assert!(!text.contains('\n'), "{what}: {text:?}");
    let n = text.chars().count();
    assert!(n <= 400, "{what}: {n} characters: {text:?}");
}

fuzz_target!(|input: Input| {
    let values: Vec<Value> = input.items.iter().map(Json::value).collect();
    let sent: usize = values.iter().map(input_chars).sum();
    let bound = sent + ALLOWANCE * (values.len() + 1);
    let tz = jiff::tz::Offset::from_seconds(input.offset % 93_600)
        .map(jiff::tz::TimeZone::fixed)
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let today = jiff::civil::date(1970, 1, 1)
        .checked_add(jiff::Span::new().days(i64::from(input.today)))
        .unwrap();
    let first = values.first().cloned().unwrap_or(Value::Null);
    let body = input
        .raw
        .clone()
        .unwrap_or_else(|| serde_json::to_vec(&first).unwrap());

    let (text, want_lines) = match input.model {
        Model::GraphMe => match f::graph_me(&first) {
            Some(me) => (render::me(&me), 1),
            None => return,
        },
        Model::GraphFiles => {
            let items: Vec<_> = values.iter().filter_map(f::graph_drive_item).collect();
            if items.is_empty() {
                return;
            }
            let want = items
                .iter()
                .map(|i| 1 + usize::from(i.web_url.is_some()))
                .sum();
            (render::files(&items, &tz), want)
        }
        Model::GraphEvents => {
            let items: Vec<_> = values
                .iter()
                .filter_map(|v| f::graph_event(v, &tz))
                .collect();
            for e in &items {
                assert!(e.end >= e.start, "an event ends before it starts: {e:?}");
                assert!(e.last_date >= e.start_date, "{e:?}");
            }
            if items.is_empty() {
                return;
            }
            let text: Vec<String> = items.iter().map(|e| e.human(&tz)).collect();
            (text.join("\n"), items.len())
        }
        Model::GraphMail => {
            let items: Vec<_> = values.iter().filter_map(f::graph_mail).collect();
            if items.is_empty() {
                return;
            }
            (render::mail(&items, &tz), items.len())
        }
        Model::GraphBirthdays => {
            let items: Vec<_> = values
                .iter()
                .filter_map(|v| f::graph_birthday(v, today))
                .collect();
            for b in &items {
                assert!(
                    b.next >= today && b.days_until >= 0 && b.days_until <= 366,
                    "{b:?}"
                );
            }
            if items.is_empty() {
                return;
            }
            (render::birthdays(&items), items.len())
        }
        Model::GraphError(status) => {
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let e = f::graph_error(status, &body, Some(Duration::from_secs(3)));
            error_line("Graph error", &e);
            if let GraphError::Request { code, message, .. } = &e {
                assert_printable("Graph error code", code);
                assert_printable("Graph error message", message);
            }
            return;
        }
        Model::DriveFiles => {
            let mut text = String::new();
            let mut n = 0;
            for v in &values {
                match DriveFile::from_json(v) {
                    Ok(file) => {
                        let line = grender::file_line(&file);
                        assert!(line.ends_with('\n'));
                        text.push_str(&line);
                        n += 1;
                    }
                    Err(e) => error_line("Drive file error", &e),
                }
            }
            if n == 0 {
                return;
            }
            (text, n)
        }
        Model::DocsBody => {
            // The body's text is the document itself (shown as it is, several lines); its end
            // index and a batchUpdate reply's count are numbers.
            let _ = docs::body_text(&first);
            let _ = docs::end_index(&first);
            let _ = docs::Updated::from_reply(&first);
            return;
        }
        Model::GoogleError(status) => {
            let e = parse_error(status, &body);
            error_line("Google error", &e);
            return;
        }
        Model::YouTubePlaylists(more) => {
            let items: Vec<_> = values
                .iter()
                .filter_map(|v| f::youtube_playlist(v).ok())
                .collect();
            if items.is_empty() {
                return;
            }
            let n = items.len() + usize::from(more);
            let l = Listing {
                items,
                more,
                total_results: None,
            };
            (youtube::render::playlists(&l), n)
        }
        Model::YouTubeItems(more) => {
            let mut items = Vec::new();
            for v in &values {
                match f::youtube_item(v) {
                    Ok(i) => items.push(i),
                    Err(e) => error_line("YouTube item error", &e),
                }
            }
            if items.is_empty() {
                return;
            }
            let n = items.len() + usize::from(more);
            let l = Listing {
                items,
                more,
                total_results: None,
            };
            (youtube::render::items(&l), n)
        }
        Model::YouTubeSearch => {
            let hits: Vec<_> = values.iter().filter_map(f::youtube_hit).collect();
            if hits.is_empty() {
                return;
            }
            (youtube::render::search(&hits), hits.len())
        }
        Model::YouTubeError(status) => {
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let e = youtube::classify(Method::SearchList, status, &body, None);
            error_line("YouTube error", &e);
            return;
        }
    };
    assert_printable("rendered reply", &text);
    assert_eq!(
        lines(&text),
        want_lines,
        "a value started a line of its own: {text:?}"
    );
    let n = text.chars().count();
    assert!(n <= bound, "{n} characters shown for {sent} sent: {text:?}");
});
