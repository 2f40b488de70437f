//! `sidekey ms …`: the clap shape of the Microsoft operations, turned into
//! [`MsOp`](crate::catalog::microsoft::MsOp) values before anything else happens.

use crate::catalog::Operation;
use crate::catalog::microsoft::{Birthdays, MsOp, Span, When};
use crate::error::Failure;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum MsCmd {
    /// Who is signed in
    Me,
    /// OneDrive files
    Files {
        #[command(subcommand)]
        cmd: FilesCmd,
    },
    /// Events in a time window, in your time zone
    Calendar {
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
    /// Next appointments, recent files, important unread mail, upcoming birthdays (one request)
    Dashboard {
        #[arg(long)]
        tz: Option<String>,
    },
}

#[derive(Subcommand)]
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
}

#[derive(Subcommand)]
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
}

#[derive(Subcommand)]
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
            MsCmd::Calendar { when, from, to, tz } => MsOp::Calendar {
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
