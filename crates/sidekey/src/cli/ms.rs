//! `sidekey ms …`: the clap shape of the Microsoft operations, turned into
//! [`MsOp`](crate::catalog::microsoft::MsOp) values before anything else happens (files and
//! stdin are read here, so the operation carries the content and works the same through the
//! daemon).

use super::google::{read_input, text_input};
use crate::catalog::Operation;
use crate::catalog::microsoft::{Birthdays, Conflict, MsOp, Span, When};
use crate::error::Failure;
use base64::Engine;
use clap::{Args, Subcommand};
use sidekey_services::microsoft::write::{MAX_SIMPLE_UPLOAD, MAX_TEXT};

#[derive(Subcommand)]
#[command(defer = true)]
pub enum MsCmd {
    /// Who is signed in
    Me,
    /// OneDrive files
    Files {
        #[command(subcommand)]
        cmd: FilesCmd,
    },
    /// Events in a time window, in your time zone (or `calendar create`: a new event)
    #[command(args_conflicts_with_subcommands = true)]
    Calendar {
        #[command(subcommand)]
        cmd: Option<CalendarCmd>,
        /// A named window
        #[arg(long, value_enum, default_value = "today", conflicts_with_all = ["from", "to"])]
        when: When,
        /// Window start (RFC 3339, or a date/time in --tz), with --to
        #[arg(long, requires = "to")]
        from: Option<String>,
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// IANA time zone (default: config `timezone`, else the machine's)
        #[arg(long)]
        tz: Option<String>,
    },
    /// Mail
    Mail {
        #[command(subcommand)]
        cmd: MailCmd,
    },
    /// Contacts
    Contacts {
        #[command(subcommand)]
        cmd: ContactsCmd,
    },
    /// OneNote pages
    Onenote {
        #[command(subcommand)]
        cmd: OnenoteCmd,
    },
    /// Next appointments, recent files, important unread mail, upcoming birthdays (one request)
    Dashboard {
        #[arg(long)]
        tz: Option<String>,
    },
}

#[derive(Subcommand)]
#[command(defer = true)]
pub enum FilesCmd {
    /// Search by name and content
    Search {
        #[arg(allow_hyphen_values = true)]
        query: String,
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// Recently used files
    Recent {
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// One item's details by its id (as shown by search and recent)
    Get {
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
    /// Upload a file of at most 4 MB (a write: the account's policy must allow ms.files.upload)
    Upload {
        /// Where in OneDrive, from the drive's root: folder/name.ext
        path: String,
        /// The local file, or - for stdin
        #[arg(long, value_name = "FILE|-")]
        from: String,
        /// If a file of that name exists: fail (nothing is overwritten), rename (keep both) or
        /// replace
        #[arg(long, value_enum, default_value = "fail")]
        conflict: Conflict,
    },
}

#[derive(Subcommand)]
#[command(defer = true)]
pub enum CalendarCmd {
    /// Create an event (a write: the account's policy must allow ms.calendar.create)
    Create(EventArgs),
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("length").required(true).args(["end", "duration"])))]
pub struct EventArgs {
    /// The event's title (at most 255 characters)
    #[arg(long, allow_hyphen_values = true)]
    subject: String,
    /// When it starts: 2026-12-08T10:00 in --tz, or RFC 3339 with an offset
    #[arg(long)]
    start: String,
    /// When it ends (the same forms)
    #[arg(long)]
    end: Option<String>,
    /// How long it lasts, in minutes (1 to 1440)
    #[arg(long, value_name = "MINUTES")]
    duration: Option<u32>,
    /// IANA time zone of --start and --end (default: config `timezone`, else the machine's)
    #[arg(long)]
    tz: Option<String>,
    /// Where it takes place
    #[arg(long, allow_hyphen_values = true)]
    location: Option<String>,
    /// A mail address to invite (repeatable, or comma-separated; at most 100): each gets an
    /// invitation
    #[arg(long = "attendee", value_name = "ADDRESS", value_delimiter = ',')]
    attendees: Vec<String>,
    /// The event's text (at most 1 MB)
    #[arg(long, conflicts_with = "body_from", allow_hyphen_values = true)]
    body: Option<String>,
    /// The event's text from a file, or - for stdin
    #[arg(long, value_name = "FILE|-")]
    body_from: Option<String>,
}

#[derive(Subcommand)]
#[command(defer = true)]
pub enum OnenoteCmd {
    /// Create a page in a section of the default notebook (a write: the account's policy must
    /// allow ms.onenote.create)
    Create {
        /// The section, by name (created when there is none; at most 50 characters, none of
        /// ? * \ / : < > | & # " % ~)
        #[arg(long, allow_hyphen_values = true)]
        section: String,
        /// The page's title (at most 255 characters)
        #[arg(long, allow_hyphen_values = true)]
        title: String,
        /// The page's plain text (at most 1 MB; blank lines separate paragraphs)
        #[arg(
            long,
            conflicts_with = "from",
            required_unless_present = "from",
            allow_hyphen_values = true
        )]
        text: Option<String>,
        /// The page's text from a file, or - for stdin
        #[arg(long, value_name = "FILE|-")]
        from: Option<String>,
    },
}

#[derive(Subcommand)]
#[command(defer = true)]
pub enum MailCmd {
    /// Unread messages: sender, subject, received time
    Unread {
        /// Only from this address or domain
        #[arg(long, allow_hyphen_values = true)]
        from: Option<String>,
        #[arg(long, default_value_t = 10)]
        top: usize,
        #[arg(long)]
        tz: Option<String>,
    },
    /// Send a text mail (a write: the account's policy must allow ms.mail.send); kept in Sent
    /// Items, never sent twice
    Send {
        /// A recipient's address (repeatable, or comma-separated)
        #[arg(long, required = true, value_name = "ADDRESS", value_delimiter = ',')]
        to: Vec<String>,
        /// A copy recipient's address (repeatable, or comma-separated; to and cc: at most 100)
        #[arg(long, value_name = "ADDRESS", value_delimiter = ',')]
        cc: Vec<String>,
        /// The subject (at most 255 characters)
        #[arg(long, allow_hyphen_values = true)]
        subject: String,
        /// The text (at most 1 MB)
        #[arg(
            long,
            conflicts_with = "body_from",
            required_unless_present = "body_from",
            allow_hyphen_values = true
        )]
        body: Option<String>,
        /// The text from a file, or - for stdin
        #[arg(long, value_name = "FILE|-")]
        body_from: Option<String>,
    },
}

#[derive(Subcommand)]
#[command(defer = true)]
pub enum ContactsCmd {
    /// Birthdays, sorted by upcoming date
    Birthdays {
        /// Month 1-12 (default: this month)
        #[arg(long, conflicts_with = "next_days", value_parser = clap::value_parser!(i8).range(1..=12))]
        month: Option<i8>,
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=366))]
        next_days: Option<u16>,
    },
}

impl MsCmd {
    pub fn operation(self) -> Result<Operation, Failure> {
        let op = match self {
            MsCmd::Me => MsOp::Me,
            MsCmd::Files {
                cmd: FilesCmd::Search { query, top },
            } => MsOp::FilesSearch { query, top },
            MsCmd::Files {
                cmd: FilesCmd::Recent { top },
            } => MsOp::FilesRecent { top },
            MsCmd::Files {
                cmd: FilesCmd::Get { id },
            } => MsOp::FilesGet { id },
            MsCmd::Files {
                cmd:
                    FilesCmd::Upload {
                        path,
                        from,
                        conflict,
                    },
            } => {
                let bytes = read_input(&from, MAX_SIMPLE_UPLOAD).map_err(|f| {
                    Failure::usage(format!(
                        "{} (a OneDrive simple upload takes at most 4 MB)",
                        f.message
                    ))
                })?;
                MsOp::FilesUpload {
                    path,
                    content_base64: base64::engine::general_purpose::STANDARD.encode(bytes),
                    conflict,
                }
            }
            MsCmd::Calendar {
                cmd: Some(CalendarCmd::Create(e)),
                ..
            } => MsOp::CalendarCreate {
                subject: e.subject,
                start: e.start,
                end: e.end,
                duration_minutes: e.duration,
                tz: e.tz,
                location: e.location,
                attendees: e.attendees,
                body: match (e.body, e.body_from) {
                    (Some(b), _) => Some(b),
                    (None, Some(src)) => Some(text_input(&src, MAX_TEXT)?),
                    (None, None) => None,
                },
            },
            MsCmd::Calendar {
                cmd: None,
                when,
                from,
                to,
                tz,
            } => MsOp::Calendar {
                span: match (from, to) {
                    (Some(from), Some(to)) => Span::Between { from, to },
                    (None, None) => Span::Named(when),
                    _ => return Err(Failure::usage("give both --from and --to")),
                },
                tz,
            },
            MsCmd::Mail {
                cmd: MailCmd::Unread { from, top, tz },
            } => MsOp::MailUnread { from, top, tz },
            MsCmd::Mail {
                cmd:
                    MailCmd::Send {
                        to,
                        cc,
                        subject,
                        body,
                        body_from,
                    },
            } => MsOp::MailSend {
                to,
                cc,
                subject,
                body: text_or_file(body, body_from.as_deref())?,
            },
            MsCmd::Onenote {
                cmd:
                    OnenoteCmd::Create {
                        section,
                        title,
                        text,
                        from,
                    },
            } => MsOp::OnenoteCreate {
                section,
                title,
                text: text_or_file(text, from.as_deref())?,
            },
            MsCmd::Contacts {
                cmd: ContactsCmd::Birthdays { month, next_days },
            } => MsOp::Birthdays {
                which: match (month, next_days) {
                    (Some(m), _) => Birthdays::Month(m),
                    (None, Some(n)) => Birthdays::NextDays(n),
                    (None, None) => Birthdays::ThisMonth,
                },
            },
            MsCmd::Dashboard { tz } => MsOp::Dashboard { tz },
        };
        Ok(Operation::Microsoft(op))
    }
}

/// A text given on the command line, else read from `src` (a file, or `-` for stdin).
fn text_or_file(text: Option<String>, src: Option<&str>) -> Result<String, Failure> {
    match (text, src) {
        (Some(t), _) => Ok(t),
        (None, Some(src)) => text_input(src, MAX_TEXT),
        (None, None) => Err(Failure::usage("give the text, or a file to read it from")),
    }
}
