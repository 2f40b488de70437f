//! `sidekey`: sign in with the OAuth device flow, keep the tokens encrypted, hand out fresh
//! access tokens. See README.md for the command contract and exit codes.

mod account;
mod audit;
mod client;
mod commands;
mod config;
mod context;
mod daemon;
mod demo;
mod doctor;
mod failure;
mod login;
mod ms;
mod policy;
mod skills;

use clap::{Parser, Subcommand};
use context::Context;
use failure::Failure;
use serde_json::Value;
use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

/// What the audit log keeps of an `ms` request: which arguments were given, not their values
/// (a search query or a sender can be personal).
fn ms_args(r: &ms::MsRequest) -> Value {
    serde_json::json!({
        "query": r.query.is_some(), "sender": r.sender.is_some(), "when": r.when,
        "from_to": r.from.is_some(), "top": r.top, "month": r.month, "next_days": r.next_days,
    })
}

#[derive(Parser)]
#[command(
    name = "sidekey",
    version,
    about = "Auth sidecar: device-flow sign-in, an encrypted token vault, fresh tokens on demand",
    after_help = "Exit codes: 0 ok, 1 internal error, 2 usage or config error, 3 not signed in / re-authentication needed, 4 sign-in declined or code expired, 5 provider or network failure, 6 refused by policy."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sign in to an account with the device flow and wait until it is done
    Login {
        name: String,
        /// One JSON event per line on stdout
        #[arg(long)]
        json: bool,
        /// Send the code, keep polling in a background process, return at once
        #[arg(long, conflicts_with = "wait")]
        no_wait: bool,
        /// Wait for the sign-in that is already pending for this account
        #[arg(long)]
        wait: bool,
        /// (internal) the background poller started by --no-wait
        #[arg(long, hide = true, conflicts_with_all = ["wait", "no_wait"])]
        background: bool,
        /// Request these scopes instead of the configured ones (repeatable; within the policy)
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
    },
    /// Show every account (or one): provider, state, user, scopes, expiry
    Status {
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print a fresh access token (refreshing it if needed)
    Token {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Run a command with a fresh token in SIDEKEY_ACCESS_TOKEN (and GH_TOKEN etc.)
    Exec {
        name: String,
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<OsString>,
    },
    /// Revoke the account's tokens at the provider where possible, then forget them
    Logout { name: String },
    /// Check config, vault key placement, permissions, clock and endpoints
    Doctor,
    /// Run the daemon: owns the vault, serves the API on a unix socket (and TCP with --listen)
    Serve {
        /// Unix socket path (default $SIDEKEY_HOME/sidekey.sock or [server] socket)
        #[arg(long)]
        socket: Option<std::path::PathBuf>,
        /// Also listen on TCP, e.g. 0.0.0.0:8787 (use on a private network only)
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<String>,
    },
    /// Exit 0 when the daemon answers its health check (for container healthchecks)
    Health {
        #[arg(long)]
        socket: Option<std::path::PathBuf>,
    },
    /// Microsoft 365, read-only: profile, OneDrive, calendar, unread mail, birthdays, dashboard
    Ms {
        /// The Microsoft account (default: the only one configured)
        #[arg(long, global = true)]
        account: Option<String>,
        /// A JSON document instead of text
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        cmd: MsCmd,
    },
    /// OpenClaw skills for the configured accounts
    Skills {
        #[command(subcommand)]
        action: SkillsAction,
    },
    /// Show the audit log
    Audit {
        /// Only entries newer than this, e.g. 30m, 24h
        #[arg(long, value_name = "DURATION")]
        since: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Offline demo: a built-in local authorization server, a sign-in, status and a token
    Demo {
        /// Press "Approve" on the verification page automatically
        #[arg(long)]
        auto_approve: bool,
    },
}

#[derive(Subcommand)]
enum MsCmd {
    /// Who is signed in
    Me,
    /// OneDrive files
    Files {
        #[command(subcommand)]
        cmd: FilesCmd,
    },
    /// Events in a time window, in your time zone
    Calendar {
        /// today, tomorrow, tomorrow-afternoon, this-week or next-7-days
        #[arg(long, default_value = "today", conflicts_with_all = ["from", "to"])]
        when: String,
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
enum FilesCmd {
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
}

#[derive(Subcommand)]
enum MailCmd {
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
enum ContactsCmd {
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
    fn request(&self, account: Option<String>) -> ms::MsRequest {
        let mut r = ms::MsRequest {
            account,
            ..Default::default()
        };
        match self {
            MsCmd::Me => r.op = "me".into(),
            MsCmd::Files {
                cmd: FilesCmd::Search { query, top },
            } => {
                r.op = "files.search".into();
                r.query = Some(query.clone());
                r.top = Some(*top);
            }
            MsCmd::Files {
                cmd: FilesCmd::Recent { top },
            } => {
                r.op = "files.recent".into();
                r.top = Some(*top);
            }
            MsCmd::Calendar { when, from, to, tz } => {
                r.op = "calendar".into();
                r.when = Some(when.clone());
                r.from = from.clone();
                r.to = to.clone();
                r.tz = tz.clone();
            }
            MsCmd::Mail {
                cmd: MailCmd::Unread { from, top, tz },
            } => {
                r.op = "mail.unread".into();
                r.sender = from.clone();
                r.top = Some(*top);
                r.tz = tz.clone();
            }
            MsCmd::Contacts {
                cmd: ContactsCmd::Birthdays { month, next_days },
            } => {
                r.op = "contacts.birthdays".into();
                r.month = *month;
                r.next_days = *next_days;
            }
            MsCmd::Dashboard { tz } => {
                r.op = "dashboard".into();
                r.tz = tz.clone();
            }
        }
        r
    }
}

fn print_ms(result: Value, text: &str, json: bool) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    let r = if json {
        writeln!(out, "{result}")
    } else {
        write!(
            out,
            "{}{}",
            text,
            if text.ends_with('\n') { "" } else { "\n" }
        )
    };
    r.map_err(|e| Failure::internal(format!("cannot write to stdout: {e}")))
}

#[derive(Subcommand)]
enum SkillsAction {
    /// Write one skill folder per capability into DIR (OpenClaw's workspace `skills/`)
    Write { dir: std::path::PathBuf },
}

fn main() -> ExitCode {
    // A panic is a bug: one line, no payload (it could hold data), exit 1.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("sidekey: internal error{at} (this is a bug; please report it)");
        std::process::exit(1);
    }));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("sidekey: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    if let Command::Demo { auto_approve } = cli.command {
        return demo::run(auto_approve);
    }
    if let Some(c) = client::Client::from_env()? {
        match &cli.command {
            Command::Login {
                name, json, scopes, ..
            } => return client::login(&c, name, *json, login_mode(&cli.command), scopes),
            Command::Status { name, json } => return client::status(&c, name.as_deref(), *json),
            Command::Token { name, json } => return client::token(&c, name, *json),
            Command::Exec { name, command } => return client::exec(&c, name, command),
            Command::Logout { name } => return client::logout(&c, name),
            Command::Health { .. } => return client::health(&c),
            Command::Ms { account, json, cmd } => {
                let req = cmd.request(account.clone());
                let (v, text) = client::ms(&c, &req)?;
                return print_ms(v, &text, *json);
            }
            _ => {}
        }
    }
    let ctx = Context::from_env()?;
    let started = std::time::Instant::now();
    let audited =
        |op: &str, account: Option<&str>, args: serde_json::Value, r: Result<(), Failure>| {
            if ctx.home.exists() {
                audit::record(
                    &ctx.home,
                    &audit::local_caller(),
                    account,
                    op,
                    args,
                    started,
                    &r,
                );
            }
            r
        };
    let mode = login_mode(&cli.command);
    match cli.command {
        Command::Login {
            name, json, scopes, ..
        } => {
            let r = login::login(&ctx, &name, json, mode, &scopes);
            audited(
                "login",
                Some(&name),
                serde_json::json!({"scopes": scopes, "mode": format!("{mode:?}")}),
                r,
            )
        }
        Command::Status { name, json } => commands::status(&ctx, name.as_deref(), json),
        Command::Token { name, json } => {
            let r = commands::token(&ctx, &name, json);
            audited("token", Some(&name), serde_json::json!({"json": json}), r)
        }
        Command::Exec { name, command } => {
            let program = command.first().map(|p| p.to_string_lossy().into_owned());
            commands::exec(&ctx, &name, &command, &|res| {
                audit::record(
                    &ctx.home,
                    &audit::local_caller(),
                    Some(&name),
                    "exec",
                    serde_json::json!({"program": program}),
                    started,
                    res,
                );
            })
        }
        Command::Logout { name } => {
            let r = commands::logout(&ctx, &name);
            audited("logout", Some(&name), serde_json::json!({}), r)
        }
        Command::Doctor => doctor::run(&ctx),
        Command::Serve { socket, listen } => daemon::serve(ctx, socket, listen),
        Command::Health { socket } => {
            let path = socket.unwrap_or_else(|| daemon::default_socket(&ctx));
            let c = client::Client::new(
                &format!("unix://{}", path.display()),
                sidekey_flow::Secret::new("health-check-needs-no-key"),
            )?;
            client::health(&c)
        }
        Command::Audit { since, json } => audit::show(&ctx.home, since.as_deref(), json),
        Command::Ms { account, json, cmd } => {
            let req = cmd.request(account);
            let r = ms::run(&ctx, &req);
            let op = format!("ms.{}", req.op);
            let acct = req
                .account
                .clone()
                .or_else(|| ms::pick_account(&ctx, None).ok());
            let summary = r.as_ref().map(|_| ()).map_err(Clone::clone);
            audited(&op, acct.as_deref(), ms_args(&req), summary)?;
            let (v, text) = r?;
            print_ms(v, &text, json)
        }
        Command::Skills {
            action: SkillsAction::Write { dir },
        } => {
            for name in skills::write(&ctx.config, &dir)? {
                println!("wrote {}", dir.join(&name).join("SKILL.md").display());
            }
            Ok(())
        }
        Command::Demo { .. } => Ok(()),
    }
}

fn login_mode(c: &Command) -> login::Mode {
    match c {
        Command::Login {
            background: true, ..
        } => login::Mode::Background,
        Command::Login { no_wait: true, .. } => login::Mode::NoWait,
        Command::Login { wait: true, .. } => login::Mode::JoinOnly,
        _ => login::Mode::Wait,
    }
}
