//! `sidekey google …`: the clap shape of the Google operations, turned into
//! [`GoogleOp`](crate::catalog::google::GoogleOp) values (files and stdin are read here, so the
//! operation carries the content and works the same through the daemon).

use super::youtube;
use crate::catalog::Operation;
use crate::catalog::google::{Edit, GoogleOp};
use crate::error::Failure;
use base64::Engine;
use clap::Subcommand;
use std::io::Read;
use std::path::Path;

#[derive(Subcommand)]
#[command(defer = true)]
pub enum GoogleCmd {
    /// YouTube playlists and search (scope `youtube`; writes need the account's policy)
    Youtube {
        #[command(subcommand)]
        cmd: youtube::YoutubeCmd,
    },
    /// The agent's Drive inbox folder (only files added through sidekey or the Picker are visible)
    Inbox {
        #[command(subcommand)]
        cmd: InboxCmd,
    },
    /// Documents the person approved (picked) or sidekey created: search, read, create, revise
    Docs {
        #[command(subcommand)]
        cmd: DocsCmd,
    },
    /// The agent's private memory (Drive appDataFolder, or a visible folder)
    Memory {
        #[command(subcommand)]
        cmd: MemoryCmd,
    },
    /// Send the person Google's file Picker link to grant existing files to the agent
    Pick {
        /// Finish with the address the browser ended on (the 127.0.0.1 page that did not load)
        #[arg(long, value_name = "URL")]
        paste_url: Option<String>,
        /// Return the link at once; finish later with --paste-url
        #[arg(long, conflicts_with = "paste_url")]
        no_wait: bool,
        /// How long to wait for the redirect on 127.0.0.1
        #[arg(long, default_value_t = 600)]
        wait_secs: u64,
    },
}

#[derive(Subcommand)]
#[command(defer = true)]
pub enum InboxCmd {
    /// Files in the inbox that sidekey can see
    List,
    /// Read files by id (several are read concurrently)
    Read {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Upload a file (≤ 5 MB) into the inbox
    Add {
        file: String,
        /// Its name in Drive (default: the file's name)
        #[arg(long)]
        name: Option<String>,
        /// Its MIME type (default: from the extension)
        #[arg(long)]
        mime_type: Option<String>,
    },
}

#[derive(Subcommand)]
#[command(defer = true)]
pub enum DocsCmd {
    /// Search by name (or name and text with --content)
    Search {
        #[arg(allow_hyphen_values = true)]
        query: String,
        #[arg(long)]
        content: bool,
    },
    /// Read one document by id
    Read {
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
    /// Create a Google Doc from Markdown
    Create {
        #[arg(long)]
        title: String,
        /// A Markdown file, or - for stdin
        #[arg(long, value_name = "FILE|-")]
        from: String,
    },
    /// Revise a Google Doc (read back to verify)
    Revise {
        #[arg(allow_hyphen_values = true)]
        id: String,
        /// Replace every occurrence of this text (with --with)
        #[arg(long, requires = "with", conflicts_with_all = ["append", "replace_body_from"], allow_hyphen_values = true)]
        replace: Option<String>,
        #[arg(long, requires = "replace", allow_hyphen_values = true)]
        with: Option<String>,
        /// Append these paragraphs at the end
        #[arg(long, conflicts_with = "replace_body_from", allow_hyphen_values = true)]
        append: Option<String>,
        /// Replace the whole body with this file's text (- for stdin)
        #[arg(long, value_name = "FILE|-")]
        replace_body_from: Option<String>,
    },
}

#[derive(Subcommand)]
#[command(defer = true)]
pub enum MemoryCmd {
    /// The keys
    List,
    /// One value
    Get { key: String },
    /// Store a value (`-` or no VALUE: read stdin)
    Set {
        key: String,
        #[arg(allow_hyphen_values = true)]
        value: Option<String>,
    },
    /// Forget a key
    Delete { key: String },
}

pub(super) fn read_input(src: &str, cap: usize) -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::new();
    let r = if src == "-" {
        std::io::stdin().take(cap as u64 + 1).read_to_end(&mut buf)
    } else {
        std::fs::File::open(src).and_then(|f| f.take(cap as u64 + 1).read_to_end(&mut buf))
    };
    r.map_err(|e| Failure::usage(format!("cannot read {src}: {e}")))?;
    if buf.len() > cap {
        return Err(Failure::usage(format!("{src} is over {cap} bytes")));
    }
    Ok(buf)
}

pub(super) fn text_input(src: &str, cap: usize) -> Result<String, Failure> {
    String::from_utf8(read_input(src, cap)?)
        .map_err(|_| Failure::usage(format!("{src} is not UTF-8 text")))
}

/// A MIME type from the file name's extension.
pub fn mime_for(name: &str) -> &'static str {
    let ext = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" => "text/plain",
        "md" | "markdown" => "text/markdown",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _ => "application/octet-stream",
    }
}

const MAX: usize = 5 * 1024 * 1024;

impl GoogleCmd {
    pub fn operation(self) -> Result<Operation, Failure> {
        let op = match self {
            GoogleCmd::Youtube { cmd } => return cmd.operation(),
            GoogleCmd::Inbox { cmd } => match cmd {
                InboxCmd::List => GoogleOp::InboxList,
                InboxCmd::Read { ids } => GoogleOp::InboxRead { ids },
                InboxCmd::Add {
                    file,
                    name,
                    mime_type,
                } => {
                    let bytes = read_input(&file, MAX)?;
                    let name = name.unwrap_or_else(|| {
                        Path::new(&file)
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_else(|| "upload".into())
                    });
                    GoogleOp::InboxAdd {
                        mime_type: mime_type.unwrap_or_else(|| mime_for(&name).to_string()),
                        name,
                        content_base64: base64::engine::general_purpose::STANDARD.encode(bytes),
                    }
                }
            },
            GoogleCmd::Docs { cmd } => match cmd {
                DocsCmd::Search { query, content } => GoogleOp::DocsSearch { query, content },
                DocsCmd::Read { id } => GoogleOp::DocsRead { id },
                DocsCmd::Create { title, from } => GoogleOp::DocsCreate {
                    title,
                    markdown: text_input(&from, MAX)?,
                },
                DocsCmd::Revise {
                    id,
                    replace,
                    with,
                    append,
                    replace_body_from,
                } => {
                    let edit = match (replace, with, append, replace_body_from) {
                        (Some(find), Some(replace), None, None) => {
                            Edit::ReplaceAll { find, replace }
                        }
                        (None, None, Some(text), None) => Edit::Append { text },
                        (None, None, None, Some(src)) => Edit::ReplaceBody {
                            text: text_input(&src, MAX)?,
                        },
                        _ => {
                            return Err(Failure::usage(
                                "give one of --replace OLD --with NEW, --append TEXT, --replace-body-from FILE",
                            ));
                        }
                    };
                    GoogleOp::DocsRevise { id, edit }
                }
            },
            GoogleCmd::Memory { cmd } => match cmd {
                MemoryCmd::List => GoogleOp::MemoryList,
                MemoryCmd::Get { key } => GoogleOp::MemoryGet { key },
                MemoryCmd::Set { key, value } => GoogleOp::MemorySet {
                    key,
                    value: match value.as_deref() {
                        None | Some("-") => text_input("-", 256 * 1024)?,
                        Some(v) => v.to_string(),
                    },
                },
                MemoryCmd::Delete { key } => GoogleOp::MemoryDelete { key },
            },
            GoogleCmd::Pick {
                paste_url,
                no_wait,
                wait_secs,
            } => GoogleOp::Pick {
                paste_url,
                wait_secs: if no_wait { 0 } else { wait_secs },
            },
        };
        Ok(Operation::Google(op))
    }
}
