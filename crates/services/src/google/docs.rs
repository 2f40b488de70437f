//! Google Docs API v1 under `drive.file`: read a document's body and revise it with
//! `documents.batchUpdate` (docs/google-drive.md, "Docs API").
//!
//! What it gets right:
//! * indexes are UTF-16 code units ([`utf16_len`]); the body starts at index 1 (a section
//!   break holds 0–1) and its final newline cannot be deleted, so "replace the body" deletes
//!   `[1, end-1)` and inserts at 1;
//! * a batch is all-or-nothing: one bad request fails it and nothing is applied;
//! * `replaceAllText` replies `occurrencesChanged`, omitted when zero (proto3): read as 0;
//! * every write is pinned to the revision it was computed from
//!   (`writeControl.requiredRevisionId`, docs/google-drive.md, "Writes and the person's edits"):
//!   an edit the person made in between is never overwritten, and the refusal is told by the
//!   document's revision, not by Google's wording;
//! * every revision is read back by the caller to verify it.

use crate::google::drive::check_id;
use crate::google::{GoogleError, GoogleHttp};
use serde_json::{Value, json};

/// The Docs client. `root` is `https://docs.googleapis.com` (or a fake's base).
#[derive(Clone)]
pub struct Docs {
    http: GoogleHttp,
    root: String,
}

/// What sidekey reads of a document: its title, plain body text and body end index.
#[derive(Debug, Clone, PartialEq)]
pub struct DocText {
    pub id: String,
    pub title: String,
    pub text: String,
    /// The body's last `endIndex` (an empty doc: 2).
    pub end_index: u64,
    pub revision_id: Option<String>,
}

/// One revision of a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Revision {
    /// Replace every occurrence of `find` (case-sensitive) with `replace`.
    ReplaceAll { find: String, replace: String },
    /// Add `text` at the end of the body (as new paragraphs).
    Append { text: String },
    /// Replace the whole body with `text`.
    ReplaceBody { text: String },
}

impl Docs {
    pub fn new(http: GoogleHttp, root: &str) -> Docs {
        Docs {
            http,
            root: root.trim_end_matches('/').to_string(),
        }
    }

    /// `documents.get` (first tab, suggestions hidden), as text.
    pub async fn get(&self, token: &str, id: &str) -> Result<DocText, GoogleError> {
        check_id(id)?;
        let url = format!("{}/v1/documents/{id}", self.root);
        let v = self
            .http
            .json(token, || {
                self.http
                    .client
                    .get(&url)
                    .query(&[("suggestionsViewMode", "PREVIEW_WITHOUT_SUGGESTIONS")])
            })
            .await?;
        Ok(DocText {
            id: v["documentId"].as_str().unwrap_or(id).to_string(),
            title: v["title"].as_str().unwrap_or_default().to_string(),
            text: body_text(&v["body"]),
            end_index: end_index(&v["body"]),
            revision_id: v["revisionId"].as_str().map(str::to_string),
        })
    }

    /// `documents.batchUpdate` of the revision `read` (the `revisionId` of the read the
    /// requests were computed from), and what its replies say. Docs applies nothing unless
    /// `read` is still the latest revision; it documents only that such a refusal is a 400, so
    /// after any 400 the revision is read again: a different one is [`GoogleError::Changed`],
    /// else Google's error stands.
    pub async fn batch_update(
        &self,
        token: &str,
        id: &str,
        requests: &[Value],
        read: &str,
    ) -> Result<Updated, GoogleError> {
        check_id(id)?;
        let url = format!("{}/v1/documents/{id}:batchUpdate", self.root);
        let body = json!({"requests": requests, "writeControl": {"requiredRevisionId": read}});
        match self
            .http
            .json(token, || self.http.client.post(&url).json(&body))
            .await
        {
            Ok(reply) => Ok(Updated::from_reply(&reply)),
            Err(refused @ GoogleError::Api { status: 400, .. }) => {
                match self.get(token, id).await {
                    Ok(now) if now.revision_id.as_deref().is_some_and(|r| r != read) => {
                        Err(GoogleError::Changed { id: id.to_string() })
                    }
                    _ => Err(refused),
                }
            }
            Err(e) => Err(e),
        }
    }
}

/// What a `documents.batchUpdate` reply says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Updated {
    /// How many occurrences the first request replaced, when it was a `replaceAllText`.
    pub occurrences_changed: Option<u64>,
    /// The document's revision after the write (`writeControl.requiredRevisionId`).
    pub revision_id: Option<String>,
}

impl Updated {
    /// `{"replies":[{"replaceAllText":{"occurrencesChanged":N}}, …]}`; Google leaves the count
    /// out when it is zero.
    pub fn from_reply(reply: &Value) -> Updated {
        Updated {
            occurrences_changed: reply["replies"][0]["replaceAllText"].as_object().map(|o| {
                o.get("occurrencesChanged")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            }),
            revision_id: reply["writeControl"]["requiredRevisionId"]
                .as_str()
                .map(str::to_string),
        }
    }
}

/// The batchUpdate requests for a revision of a document whose body ends at `end_index`
/// and holds `current` text.
pub fn requests_for(rev: &Revision, end_index: u64, current: &str) -> Vec<Value> {
    match rev {
        Revision::ReplaceAll { find, replace } => vec![json!({"replaceAllText": {
            "containsText": {"text": find, "matchCase": true},
            "replaceText": replace,
        }})],
        Revision::Append { text } => {
            // Inserted before the body's final newline: start a new paragraph unless the
            // body is empty.
            let body_empty = current.trim_end_matches('\n').is_empty();
            let t = if body_empty {
                text.trim_end_matches('\n').to_string()
            } else {
                format!("\n{}", text.trim_end_matches('\n'))
            };
            vec![json!({"insertText": {"endOfSegmentLocation": {}, "text": t}})]
        }
        Revision::ReplaceBody { text } => {
            let mut r = Vec::new();
            // [1, end-1): everything but the final newline, which cannot be deleted.
            if end_index > 2 {
                r.push(json!({"deleteContentRange": {"range": {"startIndex": 1, "endIndex": end_index - 1}}}));
            }
            let t = text.trim_end_matches('\n');
            if !t.is_empty() {
                r.push(json!({"insertText": {"location": {"index": 1}, "text": t}}));
            }
            r
        }
    }
}

/// Length in UTF-16 code units, the unit of Docs indexes.
pub fn utf16_len(s: &str) -> u64 {
    s.encode_utf16().count() as u64
}

/// The body's text: every text run, tables recursed.
pub fn body_text(body: &Value) -> String {
    let mut out = String::new();
    collect(&body["content"], &mut out);
    out
}

fn collect(content: &Value, out: &mut String) {
    for el in content.as_array().into_iter().flatten() {
        for pe in el["paragraph"]["elements"].as_array().into_iter().flatten() {
            if let Some(t) = pe["textRun"]["content"].as_str() {
                out.push_str(t);
            }
        }
        for row in el["table"]["tableRows"].as_array().into_iter().flatten() {
            for cell in row["tableCells"].as_array().into_iter().flatten() {
                collect(&cell["content"], out);
            }
        }
    }
}

/// The last structural element's `endIndex` (proto3 omits zeros: absent is 0).
pub fn end_index(body: &Value) -> u64 {
    body["content"]
        .as_array()
        .and_then(|a| a.last())
        .and_then(|e| e["endIndex"].as_u64())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_body_keeps_the_final_newline() {
        let r = requests_for(
            &Revision::ReplaceBody {
                text: "new\n".into(),
            },
            10,
            "old text\n",
        );
        assert_eq!(r[0]["deleteContentRange"]["range"]["endIndex"], 9);
        assert_eq!(r[1]["insertText"]["text"], "new");
        // An empty document (end 2) has nothing to delete.
        let r = requests_for(&Revision::ReplaceBody { text: "x".into() }, 2, "\n");
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn text_and_indexes_follow_the_documented_example() {
        let body = json!({"content": [
            {"endIndex": 1, "sectionBreak": {}},
            {"startIndex": 1, "endIndex": 15, "paragraph": {"elements": [{"textRun": {"content": "Shopping list\n"}}]}},
            {"startIndex": 15, "endIndex": 23, "paragraph": {"elements": [{"textRun": {"content": "Milk 🥛\n"}}]}}
        ]});
        assert_eq!(body_text(&body), "Shopping list\nMilk 🥛\n");
        assert_eq!(end_index(&body), 23);
        assert_eq!(1 + utf16_len(&body_text(&body)), 23);
    }
}
