//! The Google Drive and Docs operations (`google.*`: inbox, approved documents, drafting,
//! memory, the Picker): their typed arguments, what each is ([`OpInfo`]), the argument checks
//! that run before any token is fetched, and what the audit keeps. Running them is
//! `crate::ops::google`.

use super::{Access, OpInfo};
use crate::error::Failure;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sidekey_flow::ProviderKind;
use sidekey_services::google_drive;

pub const PROVIDER: ProviderKind = ProviderKind::Google;
/// Memory values: small files.
pub const MEMORY_CAP: usize = 256 * 1024;

/// How to revise a document.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Edit {
    /// Replace every occurrence (case-sensitive).
    ReplaceAll {
        /// The text to find.
        find: String,
        /// What replaces it.
        replace: String,
    },
    /// Add paragraphs at the end.
    Append {
        /// The text to add.
        text: String,
    },
    /// Replace the whole body.
    ReplaceBody {
        /// The new body.
        text: String,
    },
}

impl Default for Edit {
    fn default() -> Edit {
        Edit::Append {
            text: String::new(),
        }
    }
}

/// How many bytes `b64` decodes to (padding and whitespace not counted), without decoding it.
fn decoded_len(b64: &str) -> u64 {
    let n = b64
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
        .count() as u64;
    n * 3 / 4
}

/// The Google operations. The tag is the audit and policy name.
#[derive(
    Serialize, Deserialize, Debug, Clone, PartialEq, strum::EnumIter, schemars::JsonSchema,
)]
#[serde(tag = "op")]
pub enum GoogleOp {
    #[serde(rename = "google.inbox.list")]
    InboxList,
    #[serde(rename = "google.inbox.read")]
    InboxRead {
        /// Drive file ids, as `google.inbox.list` or `google.docs.search` return them (read
        /// several at once).
        ids: Vec<String>,
    },
    #[serde(rename = "google.inbox.add")]
    InboxAdd {
        /// The file's name in Drive.
        name: String,
        /// Its MIME type, e.g. text/plain or application/pdf.
        mime_type: String,
        /// The file's bytes, base64 (at most 5 MB once decoded).
        content_base64: String,
    },
    #[serde(rename = "google.docs.search")]
    DocsSearch {
        /// Text to find in the names of the granted documents.
        query: String,
        /// Search their text as well as their names.
        #[serde(default)]
        content: bool,
    },
    #[serde(rename = "google.docs.read")]
    DocsRead {
        /// A Drive file id.
        id: String,
    },
    #[serde(rename = "google.docs.create")]
    DocsCreate {
        /// The new document's title.
        title: String,
        /// Its content, in Markdown.
        markdown: String,
    },
    #[serde(rename = "google.docs.revise")]
    DocsRevise {
        /// The Google Doc's file id.
        id: String,
        /// The change: replace_all, append or replace_body.
        edit: Edit,
    },
    #[serde(rename = "google.memory.list")]
    MemoryList,
    #[serde(rename = "google.memory.get")]
    MemoryGet {
        /// The memory key.
        key: String,
    },
    #[serde(rename = "google.memory.set")]
    MemorySet {
        /// The memory key.
        key: String,
        /// The value to keep (at most 256 KB).
        value: String,
    },
    #[serde(rename = "google.memory.delete")]
    MemoryDelete {
        /// The memory key.
        key: String,
    },
    #[serde(rename = "google.pick")]
    Pick {
        /// The address the person's browser ended on after picking (finishes a pick).
        #[serde(default)]
        paste_url: Option<String>,
        /// How long to wait for the redirect on 127.0.0.1 (0: return the link at once).
        #[serde(default)]
        wait_secs: u64,
    },
}

impl GoogleOp {
    /// What the person reads before approving it (times in `zone`): see
    /// [`super::Description`]. Reads are never asked about; they say only what they are.
    pub fn describe(&self, _zone: &jiff::tz::TimeZone) -> super::Description {
        use super::{Description, first_lines, human_size};
        match self {
            GoogleOp::InboxAdd {
                name,
                mime_type,
                content_base64,
            } => Description::new("Upload a file to the agent's Drive inbox")
                .with("File", name.as_str())
                .with("Type", mime_type.as_str())
                .with("Size", human_size(decoded_len(content_base64))),
            GoogleOp::DocsCreate { title, markdown } => {
                Description::new("Create a Google Doc in the inbox folder")
                    .with("Title", title.as_str())
                    .with("Text", first_lines(markdown, 3, 300))
            }
            GoogleOp::DocsRevise { id, edit } => {
                let d = Description::new("Revise a Google Doc").with("Document", id.as_str());
                match edit {
                    Edit::ReplaceAll { find, replace } => d
                        .with("Replace every", first_lines(find, 2, 150))
                        .with("With", first_lines(replace, 2, 150)),
                    Edit::Append { text } => d.with("Append", first_lines(text, 3, 300)),
                    Edit::ReplaceBody { text } => {
                        d.with("Replace the whole text with", first_lines(text, 3, 300))
                    }
                }
            }
            GoogleOp::MemorySet { key, value } => Description::new("Store a memory value")
                .with("Key", key.as_str())
                .with("Value", first_lines(value, 3, 300)),
            GoogleOp::MemoryDelete { key } => {
                Description::new("Forget a memory value").with("Key", key.as_str())
            }
            _ => Description::new(self.info().summary),
        }
    }

    pub fn info(&self) -> &'static OpInfo {
        use Access::{Read, Write};
        match self {
            GoogleOp::InboxList => &OpInfo {
                name: "google.inbox.list",
                access: Read,
                summary: "files in the agent's Drive inbox folder that sidekey can see (added with `inbox add` or granted with `pick`)",
                usage: "sidekey google inbox list",
            },
            GoogleOp::InboxRead { .. } => &OpInfo {
                name: "google.inbox.read",
                access: Read,
                summary: "read inbox files by id (several at once): Google Docs as Markdown, text and PDF downloaded (2 MB cap), other types as metadata",
                usage: "sidekey google inbox read FILE_ID [FILE_ID…]",
            },
            GoogleOp::InboxAdd { .. } => &OpInfo {
                name: "google.inbox.add",
                access: Write,
                summary: "upload a file (≤ 5 MB) into the inbox folder",
                usage: "sidekey google inbox add ./notes.pdf",
            },
            GoogleOp::DocsSearch { .. } => &OpInfo {
                name: "google.docs.search",
                access: Read,
                summary: "search the documents the person approved (picked) or sidekey created, by name, or with --content by name and text",
                usage: "sidekey google docs search \"budget 2026\" [--content]",
            },
            GoogleOp::DocsRead { .. } => &OpInfo {
                name: "google.docs.read",
                access: Read,
                summary: "read one approved document by id (Google Docs as Markdown)",
                usage: "sidekey google docs read FILE_ID",
            },
            GoogleOp::DocsCreate { .. } => &OpInfo {
                name: "google.docs.create",
                access: Write,
                summary: "create a Google Doc from Markdown (in the inbox folder)",
                usage: "sidekey google docs create --title \"Weekly report\" --from report.md",
            },
            GoogleOp::DocsRevise { .. } => &OpInfo {
                name: "google.docs.revise",
                access: Write,
                summary: "revise a Google Doc: --replace OLD --with NEW, --append TEXT, or --replace-body-from FILE; refused, nothing written, if the document changed since it was read; read back to verify",
                usage: "sidekey google docs revise FILE_ID --append \"Next steps: …\"",
            },
            GoogleOp::MemoryList => &OpInfo {
                name: "google.memory.list",
                access: Read,
                summary: "the agent's private memory keys (Drive appDataFolder)",
                usage: "sidekey google memory list",
            },
            GoogleOp::MemoryGet { .. } => &OpInfo {
                name: "google.memory.get",
                access: Read,
                summary: "one memory value",
                usage: "sidekey google memory get KEY",
            },
            GoogleOp::MemorySet { .. } => &OpInfo {
                name: "google.memory.set",
                access: Write,
                summary: "store a memory value (≤ 256 KB; `-` reads it from stdin)",
                usage: "sidekey google memory set KEY VALUE",
            },
            GoogleOp::MemoryDelete { .. } => &OpInfo {
                name: "google.memory.delete",
                access: Write,
                summary: "forget a memory value",
                usage: "sidekey google memory delete KEY",
            },
            GoogleOp::Pick { .. } => &OpInfo {
                name: "google.pick",
                access: Read,
                summary: "send the person Google's file Picker link so they can grant existing files to the agent (then they open the link; finish with --paste-url ADDRESS if the last page did not load)",
                usage: "sidekey google pick --no-wait",
            },
        }
    }

    pub fn validate(&self) -> Result<(), Failure> {
        let id_ok = |id: &str| {
            google_drive::check_id(id).map_err(|e| {
                Failure::usage(format!(
                    "{e} (use an id from `google inbox list` or `google docs search`)"
                ))
            })
        };
        match self {
            GoogleOp::InboxRead { ids } => {
                if ids.is_empty() || ids.len() > 50 {
                    return Err(Failure::usage("give 1 to 50 file ids"));
                }
                for (i, id) in ids.iter().enumerate() {
                    id_ok(id)?;
                    if ids[..i].contains(id) {
                        return Err(Failure::usage(format!(
                            "file id {id} is given twice: give each id once"
                        )));
                    }
                }
            }
            GoogleOp::DocsRead { id } | GoogleOp::DocsRevise { id, .. } => id_ok(id)?,
            GoogleOp::InboxAdd {
                name,
                content_base64,
                mime_type,
            } => {
                check_name(name, "file name")?;
                if mime_type.is_empty() || mime_type.len() > 200 || mime_type.contains(['\r', '\n'])
                {
                    return Err(Failure::usage("a MIME type like text/plain"));
                }
                // base64 is 4/3 of the bytes.
                if content_base64.len() > google_drive::MAX_UPLOAD / 3 * 4 + 8 {
                    return Err(Failure::usage(
                        "the file is over the 5 MB limit of a Drive multipart upload",
                    ));
                }
            }
            GoogleOp::DocsSearch { query, .. } if query.trim().is_empty() || query.len() > 500 => {
                return Err(Failure::usage("give a search text of 1 to 500 characters"));
            }
            GoogleOp::DocsCreate { title, markdown } => {
                check_name(title, "title")?;
                if markdown.len() > google_drive::MAX_UPLOAD {
                    return Err(Failure::usage("the Markdown is over 5 MB"));
                }
            }
            GoogleOp::MemoryGet { key } | GoogleOp::MemoryDelete { key } => check_key(key)?,
            GoogleOp::MemorySet { key, value } => {
                check_key(key)?;
                if value.len() > MEMORY_CAP {
                    return Err(Failure::usage("a memory value holds at most 256 KB"));
                }
            }
            GoogleOp::Pick { wait_secs, .. } if *wait_secs > 1800 => {
                return Err(Failure::usage("--wait-secs: at most 1800"));
            }
            _ => {}
        }
        if let GoogleOp::DocsRevise { edit, .. } = self {
            match edit {
                Edit::ReplaceAll { find, .. } if find.is_empty() => {
                    return Err(Failure::usage("--replace needs a non-empty text"));
                }
                Edit::Append { text } if text.trim().is_empty() => {
                    return Err(Failure::usage("--append needs a non-empty text"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub fn audit_args(&self) -> Value {
        match self {
            GoogleOp::InboxRead { ids } => json!({"ids": ids.len()}),
            GoogleOp::InboxAdd { content_base64, .. } => {
                json!({"name": true, "bytes": content_base64.len() / 4 * 3})
            }
            GoogleOp::DocsSearch { content, .. } => json!({"query": true, "content": content}),
            GoogleOp::DocsRevise { edit, .. } => json!({"id": true, "edit": match edit {
                Edit::ReplaceAll { .. } => "replace_all",
                Edit::Append { .. } => "append",
                Edit::ReplaceBody { .. } => "replace_body",
            }}),
            GoogleOp::DocsRead { .. } => json!({"id": true}),
            GoogleOp::DocsCreate { .. } => json!({"title": true}),
            GoogleOp::MemoryGet { .. }
            | GoogleOp::MemorySet { .. }
            | GoogleOp::MemoryDelete { .. } => json!({"key": true}),
            GoogleOp::Pick { paste_url, .. } => json!({"paste_url": paste_url.is_some()}),
            GoogleOp::InboxList | GoogleOp::MemoryList => json!({}),
        }
    }
}

fn check_name(s: &str, what: &str) -> Result<(), Failure> {
    if s.trim().is_empty() || s.len() > 250 || s.chars().any(char::is_control) {
        return Err(Failure::usage(format!(
            "the {what} must be 1 to 250 printable characters"
        )));
    }
    Ok(())
}

fn check_key(key: &str) -> Result<(), Failure> {
    let ok = !key.is_empty()
        && key.len() <= 100
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !key.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Failure::usage(format!(
            "memory key '{}': use 1 to 100 letters, digits, '-', '_' or '.'",
            sidekey_flow::response::one_line(key, 40)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Exit;
    use strum::IntoEnumIterator;

    #[test]
    fn names_are_google_dot_and_writes_are_writes() {
        for op in GoogleOp::iter() {
            let i = op.info();
            assert!(i.name.starts_with("google."), "{}", i.name);
            let v = serde_json::to_value(&op).unwrap();
            assert_eq!(v["op"], i.name);
            let back: GoogleOp = serde_json::from_value(v).unwrap();
            assert_eq!(back, op);
        }
        for w in [
            "google.inbox.add",
            "google.docs.create",
            "google.docs.revise",
            "google.memory.set",
            "google.memory.delete",
        ] {
            assert_eq!(
                GoogleOp::iter()
                    .find(|o| o.info().name == w)
                    .unwrap()
                    .info()
                    .access,
                Access::Write
            );
        }
    }

    #[test]
    fn bad_arguments_fail_before_any_request() {
        let bad = [
            GoogleOp::InboxRead { ids: vec![] },
            GoogleOp::InboxRead {
                ids: vec!["../x".into()],
            },
            GoogleOp::DocsRead { id: "a?b".into() },
            GoogleOp::DocsSearch {
                query: " ".into(),
                content: false,
            },
            GoogleOp::MemoryGet { key: "../k".into() },
            GoogleOp::MemorySet {
                key: "k".into(),
                value: "x".repeat(MEMORY_CAP + 1),
            },
            GoogleOp::DocsRevise {
                id: "abc".into(),
                edit: Edit::ReplaceAll {
                    find: String::new(),
                    replace: "x".into(),
                },
            },
        ];
        for op in bad {
            assert_eq!(op.validate().unwrap_err().exit, Exit::Usage, "{op:?}");
        }
    }

    #[test]
    fn audit_args_hold_no_values() {
        let op = GoogleOp::DocsSearch {
            query: "divorce".into(),
            content: true,
        };
        assert!(!op.audit_args().to_string().contains("divorce"));
        let op = GoogleOp::MemorySet {
            key: "secret-plan".into(),
            value: "v".into(),
        };
        assert!(!op.audit_args().to_string().contains("secret"));
    }
}
