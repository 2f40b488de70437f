//! The command line: the clap definitions ([`Cli`]) and [`run`], which dispatches each command
//! once, over the [`Backend`] chosen once. What a command prints is in [`output`]; the sign-in
//! command, the one with a conversation, is in [`login`].
//!
//! To add a command: a variant here, its arm in [`run`], the backend method it needs (written
//! in `backend/local.rs` and reached through a [`crate::backend::Call`] of the guard, proxied
//! in `backend/remote.rs`, served in `daemon/routes.rs`), and its output.

mod agents;
mod approvals;
mod aws;
mod config_file;
#[cfg(feature = "demo")]
mod demo;
mod git;
mod google;
pub(crate) mod login;
mod ms;
pub mod output;
mod secret_provider;
mod telegram;
mod vault;
mod youtube;

use crate::api::OpRequest;
use crate::backend::Backend;
use crate::error::{Exit, Failure};
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "sidekey",
    version,
    about = "Auth sidecar: device-flow sign-in, an encrypted token vault, fresh tokens on demand",
    after_help = "Exit codes: 0 ok, 1 internal error, 2 usage or config error, 3 not signed in / re-authentication needed, 4 sign-in declined or code expired, 5 provider or network failure (but written_unconfirmed: the change was made or may have been, do not run it again, check it; document_changed: read the document again), 6 refused by policy, 7 waiting for the person's approval (run again with --approval ID), 8 the person denied it, 9 the approval expired. The reasons per code: README, \"Exit codes\"."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// `defer`, here and on every nested command enum: a command's arguments and its own commands are
// built only when it is the one being run (clap's `Command::defer`); names and one-line
// descriptions stay eager, so `--help`, suggestions and errors read the same. Building the whole
// tree and dropping it again was half of a cached `sidekey token`'s instructions
// (docs/benchmarks.md, "`sidekey token` against a process spawn: the command line on demand, an
// arena, signals").
#[derive(Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Sign in to an account with the device flow and wait until it is done
    Login {
        /// The account (without it, the configured accounts are listed)
        name: Option<String>,
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
        /// flow = "code": finish the waiting sign-in with the address the browser ended on
        /// (the 127.0.0.1 page that did not load), pasted back
        #[arg(long, value_name = "URL", conflicts_with_all = ["wait", "no_wait", "background", "scopes"])]
        paste_url: Option<String>,
        /// Let this sign-in replace the account's remembered identity (someone else than who
        /// signed in before): the person's act, on the machine that holds the vault only
        #[arg(long, conflicts_with_all = ["wait", "background", "paste_url"])]
        replace_identity: bool,
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
    /// Check config, vault key placement, permissions, clock, endpoints and Telegram
    Doctor,
    /// Telegram: give sidekey a bot of its own and record your chat (`sidekey telegram setup`)
    Telegram {
        #[command(subcommand)]
        action: TelegramAction,
    },
    /// The notification channels ([notify.*]): `sidekey notify test` sends a test message
    Notify {
        #[command(subcommand)]
        action: NotifyAction,
    },
    /// Run the daemon: owns the vault, serves the API on a unix socket (and TCP with --listen)
    Serve {
        /// Unix socket path (default $SIDEKEY_HOME/sidekey.sock or [server] socket)
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Also listen on TCP, e.g. 0.0.0.0:8787 (use on a private network only)
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<String>,
    },
    /// Exit 0 when the daemon answers its health check (for container healthchecks)
    Health {
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// Microsoft 365, read-only: profile, OneDrive, calendar, unread mail, birthdays, dashboard
    Ms {
        /// The Microsoft account (default: the only one configured)
        #[arg(long, global = true)]
        account: Option<String>,
        /// A JSON document instead of text
        #[arg(long, global = true)]
        json: bool,
        #[command(flatten)]
        ask: AskArgs,
        #[command(subcommand)]
        cmd: ms::MsCmd,
    },
    /// Google for the agent: Drive inbox, approved documents, drafting, memory, the Picker, YouTube
    Google {
        /// The Google account (default: the only one configured)
        #[arg(long, global = true)]
        account: Option<String>,
        /// A JSON document instead of text
        #[arg(long, global = true)]
        json: bool,
        #[command(flatten)]
        ask: AskArgs,
        #[command(subcommand)]
        cmd: google::GoogleCmd,
    },
    /// AWS IAM Identity Center: accounts, roles, and role credentials for credential_process
    Aws {
        /// The sidekey account with provider = "aws" (default: the only one configured)
        #[arg(long, global = true)]
        account: Option<String>,
        /// A JSON document instead of text
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        cmd: aws::AwsCmd,
    },
    /// git's credential helper: a fresh token for the hosts in the accounts' git_hosts
    /// (git config credential.https://github.com.helper '!sidekey git-credential')
    GitCredential {
        /// Answer only with this account (when several serve the same host)
        #[arg(long)]
        account: Option<String>,
        /// get, store or erase (store and erase are accepted and ignored)
        action: String,
    },
    /// OpenClaw exec secret provider: JSON request on stdin, account tokens on stdout
    SecretProvider,
    /// Serve the operations as Model Context Protocol tools on stdin/stdout (for MCP clients
    /// such as OpenClaw: `openclaw mcp add sidekey --command sidekey --arg mcp`)
    Mcp,
    /// OpenClaw skills for the configured accounts
    Skills {
        #[command(subcommand)]
        action: SkillsAction,
    },
    /// The daemon's named agents, each with a key of its own and its own rights ([agents.NAME])
    Agents {
        #[command(subcommand)]
        action: AgentsAction,
    },
    /// The agent's requests waiting for your approval (policy `ask`); --all adds the last day's
    Approvals {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Approve one request of the agent's (it runs once); on the machine that holds the vault
    Approve { id: String },
    /// Deny one request of the agent's (nothing runs); on the machine that holds the vault
    Deny { id: String },
    /// The vault itself: rotating its key
    Vault {
        #[command(subcommand)]
        action: VaultAction,
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
    #[cfg(feature = "demo")]
    Demo {
        /// Press "Approve" on the verification page automatically
        #[arg(long)]
        auto_approve: bool,
    },
}

// For a write the person approves first (`ask` in the account's policy), through the daemon.
// A plain comment: a doc comment here would become the `about` of every command that flattens
// these arguments, since a deferred command applies its arguments' metadata last.
#[derive(clap::Args, Default, Clone)]
pub struct AskArgs {
    /// Wait again on this approval (the id a pending answer, exit 7, named)
    #[arg(long, global = true, value_name = "ID")]
    approval: Option<String>,
    /// How long to wait for the person's decision, in seconds (at most [approvals] wait)
    #[arg(long, global = true, value_name = "SECONDS")]
    approval_wait: Option<u64>,
}

#[derive(Subcommand)]
#[command(defer = true)]
pub enum TelegramAction {
    /// Take a bot token (sidekey's own bot from @BotFather, never the one OpenClaw polls), wait
    /// for you to send /start to it, record the chat in the config, send a test message
    Setup {
        /// Read the bot token from this file (else TELEGRAM_BOT_TOKEN, else it is asked for
        /// without echo, or read from standard input when that is not a terminal)
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// How long to wait for your /start, e.g. 5m
        #[arg(long, value_name = "DURATION", default_value = "5m")]
        wait: String,
        /// Take only this chat's /start (your user id); /start from any other chat is ignored.
        /// Needed when more than one chat sent /start
        #[arg(long, value_name = "ID", allow_negative_numbers = true)]
        chat_id: Option<i64>,
    },
}

#[derive(Subcommand)]
#[command(defer = true)]
pub enum AgentsAction {
    /// Make a key for a new agent, print it once and record its SHA-256 and rights in the config
    Add {
        /// The agent's name, as the audit log and approval messages show it
        name: String,
        /// An account it may use (repeatable; "*" for every account; default: none)
        #[arg(long = "account", value_name = "ACCOUNT")]
        accounts: Vec<String>,
        /// A write it may make, within each account's policy (repeatable)
        #[arg(long, value_name = "OPERATION")]
        allow: Vec<String>,
        /// A write it may make once you approve it (repeatable)
        #[arg(long, value_name = "OPERATION")]
        ask: Vec<String>,
        /// Give an existing agent a new key (its rights kept; the old key stops working when
        /// the daemon restarts)
        #[arg(long)]
        replace_key: bool,
    },
    /// The named agents and their rights (never their keys)
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
#[command(defer = true)]
pub enum VaultAction {
    /// A new vault key: written first into the key file (the old key kept after it, so
    /// every record still opens), then every record is sealed again with it while daemons
    /// keep serving
    RotateKey {
        /// Take the new key from this file (32 bytes, base64 or hex) instead of generating one
        #[arg(long, value_name = "FILE", conflicts_with = "finish")]
        new_key: Option<PathBuf>,
        /// No new key: re-seal what is not yet sealed with the key file's first key (a
        /// rotation that was interrupted, or a key file written by hand)
        #[arg(long)]
        finish: bool,
    },
}

#[derive(Subcommand)]
#[command(defer = true)]
pub enum NotifyAction {
    /// Send a test message through every configured channel (Telegram, webhook, ntfy)
    Test,
}

#[derive(Subcommand)]
#[command(defer = true)]
pub enum SkillsAction {
    /// Write one skill folder per capability into DIR (OpenClaw's workspace `skills/`)
    Write { dir: PathBuf },
}

impl Command {
    /// The daemon serves many requests at once; every other command is one short sequence.
    pub fn wants_threads(&self) -> bool {
        matches!(self, Command::Serve { .. })
    }

    /// The one account a command is about when nothing else of the config matters to it
    /// (`token`): only that account is then read from the config.
    fn only_account(&self) -> Option<&str> {
        match self {
            Command::Token { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// Run one command to its end.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        #[cfg(feature = "demo")]
        Command::Demo { auto_approve } => demo::run(auto_approve).await,
        Command::Serve { socket, listen } => {
            crate::daemon::serve(crate::context::Context::from_env()?, socket, listen).await
        }
        Command::Doctor => crate::doctor::run().await,
        Command::Telegram {
            action:
                TelegramAction::Setup {
                    token_file,
                    wait,
                    chat_id,
                },
        } => telegram::setup(token_file.as_deref(), &wait, chat_id).await,
        Command::Notify {
            action: NotifyAction::Test,
        } => telegram::notify_test().await,
        Command::Mcp => {
            crate::mcp::hint_on_a_terminal();
            let backend = Backend::from_env()?.called_by(crate::backend::Caller::Mcp);
            crate::mcp::serve(backend).await
        }
        // The person's decisions, made here, never through the daemon's API.
        Command::Agents {
            action:
                AgentsAction::Add {
                    name,
                    accounts,
                    allow,
                    ask,
                    replace_key,
                },
        } => agents::add(agents::NewAgent {
            name: &name,
            accounts: &accounts,
            allow: &allow,
            ask: &ask,
            replace_key,
        }),
        Command::Agents {
            action: AgentsAction::List { json },
        } => agents::list(json),
        Command::Approvals { all, json } => approvals::list(all, json).await,
        Command::Vault {
            action: VaultAction::RotateKey { new_key, finish },
        } => vault::rotate_key(new_key.as_deref(), finish),
        Command::Approve { id } => approvals::decide(&id, true).await,
        Command::Deny { id } => approvals::decide(&id, false).await,
        // The log lives in the home and needs no config; with a vault in PostgreSQL it is the
        // fleet's shared audit table.
        Command::Audit { since, json } => {
            let home = crate::context::default_home()?;
            let database = audit_database()?;
            crate::audit::show(&home, database.as_ref(), since.as_deref(), json)
        }
        Command::Skills {
            action: SkillsAction::Write { dir },
        } => {
            // In client mode the daemon has the config: its `status` lists the accounts.
            let written = match Backend::from_env()? {
                Backend::Local(l, _) => crate::skills::write(&l.ctx.config, &dir)?,
                remote => {
                    let status = remote.status(None).await?;
                    let accounts: Vec<crate::skills::Account> = status
                        .accounts
                        .iter()
                        .filter_map(crate::skills::Account::from_status)
                        .collect();
                    if accounts.is_empty() && status.accounts.iter().any(|a| a.setup.is_none()) {
                        return Err(Failure::config(
                            "the daemon does not describe its accounts (it is older than this client, or they are gone from its config): run `sidekey skills write` in the daemon's container, or upgrade it",
                        ));
                    }
                    crate::skills::write_accounts(&accounts, "the daemon's config", &dir)?
                }
            };
            for name in written {
                output::line(&dir.join(&name).join("SKILL.md").display().to_string())?;
            }
            Ok(())
        }
        Command::GitCredential { account, action } => git::run(&action, account.as_deref()).await,
        Command::SecretProvider => secret_provider::run().await,
        Command::Health { socket: Some(path) } => {
            crate::backend::Remote::for_socket(&path)?.health().await?;
            output::line("ok")
        }
        Command::Health { socket: None } => {
            let backend = match crate::env::text(crate::env::SIDEKEY_URL) {
                Some(_) => Backend::from_env()?,
                None => Backend::Remote(crate::backend::Remote::for_socket(
                    &crate::daemon::default_socket(
                        &crate::context::Context::from_env_allow_missing()?,
                    ),
                )?),
            };
            backend.health().await?;
            output::line("ok")
        }
        command => {
            let backend = match Backend::from_env_for(command.only_account()) {
                Ok(b) => b,
                Err(f) => {
                    if let Command::Login {
                        name: Some(name),
                        json: true,
                        background: false,
                        ..
                    } = &command
                    {
                        login::failed_before_start(name, &f).await;
                    }
                    return Err(f);
                }
            };
            run_on(&backend, command).await
        }
    }
}

/// The commands that work the same locally and through the daemon.
async fn run_on(backend: &Backend, command: Command) -> Result<(), Failure> {
    match command {
        Command::Login {
            name,
            json,
            no_wait,
            wait,
            background,
            scopes,
            paste_url,
            replace_identity,
        } => {
            let Some(name) = name else {
                return Err(login::which_account(backend).await);
            };
            let mode = login::mode(no_wait, wait, background);
            let how = login::How {
                mode,
                scopes: &scopes,
                paste_url: paste_url.as_deref(),
                replace_identity,
            };
            login::run(backend, &name, json, how).await
        }
        Command::Status { name, json } => {
            let reply = backend.status(name.as_deref()).await?;
            let config = match backend.local() {
                Some(l) => l.ctx.config.path.display().to_string(),
                None => "the daemon's config".to_string(),
            };
            output::status(&reply, json, &config)
        }
        Command::Token { name, json } => output::token(&backend.token(&name).await?, json),
        Command::Exec { name, command } => {
            let Some((program, args)) = command.split_first() else {
                return Err(Failure::usage(
                    "missing command: sidekey exec NAME -- COMMAND [ARGS...]",
                ));
            };
            let purpose = crate::api::TokenPurpose::Exec {
                program: sidekey_flow::response::one_line(&program.to_string_lossy(), 100),
            };
            let token = backend.token_for(&name, Some(&purpose)).await?;
            let hidden = backend
                .local()
                .map(|l| variables_holding_config_secrets(&l.ctx.config))
                .unwrap_or_default();
            exec(&token, program, args, &hidden)
        }
        Command::Logout { name } => output::line(&backend.logout(&name).await?.message),
        Command::Ms {
            account,
            json,
            ask,
            cmd,
        } => run_op(backend, account, json, ask, cmd.operation()?).await,
        Command::Google {
            account,
            json,
            ask,
            cmd,
        } => run_op(backend, account, json, ask, cmd.operation()?).await,
        Command::Aws { account, json, cmd } => {
            let json = json || cmd.always_json();
            run_op(backend, account, json, AskArgs::default(), cmd.operation()).await
        }
        _ => Err(Failure::internal("command dispatched twice")),
    }
}

/// A service operation: checked, run and audited by the guard (here or in the daemon), printed.
async fn run_op(
    backend: &Backend,
    account: Option<String>,
    json: bool,
    ask: AskArgs,
    op: crate::catalog::Operation,
) -> Result<(), Failure> {
    let mut req = OpRequest::new(account, op);
    req.approval = ask.approval;
    req.wait = ask.approval_wait;
    output::op(&backend.operate(&req).await?, json)
}

/// Run `program` with the token in its environment. On Unix it replaces sidekey (`exec`), so
/// signals and the exit status are the program's own. sidekey's own secrets are not passed on.
fn exec(
    t: &crate::api::TokenReply,
    program: &OsString,
    args: &[OsString],
    hidden: &[OsString],
) -> Result<(), Failure> {
    use std::os::unix::process::CommandExt;
    let token = t.access_token.expose();
    let mut cmd = std::process::Command::new(program);
    for var in crate::env::SECRETS {
        cmd.env_remove(var);
    }
    for var in hidden {
        cmd.env_remove(var);
    }
    cmd.args(args)
        .env("SIDEKEY_ACCESS_TOKEN", token)
        .env("SIDEKEY_ACCOUNT", &t.account);
    for var in &t.token_env {
        cmd.env(var, token);
    }
    let err = cmd.exec();
    Err(Failure::new(
        Exit::Usage,
        crate::error::Reason::Usage,
        format!("cannot run '{}': {err}", program.to_string_lossy()),
    ))
}

/// The variables that hold a secret the config read from the environment (the webhook's
/// `bearer_token_env`, a Telegram or ntfy token): found by value, so whatever the variable is
/// called, a child of `exec` never sees it.
fn variables_holding_config_secrets(config: &crate::config::Config) -> Vec<OsString> {
    let n = &config.notify;
    let secrets: Vec<&str> = [
        n.webhook.as_ref().and_then(|w| w.bearer.as_ref()),
        n.telegram.as_ref().map(|t| &t.bot_token),
        n.ntfy.as_ref().and_then(|x| x.token.as_ref()),
    ]
    .into_iter()
    .flatten()
    .map(|s| s.expose())
    .filter(|s| !s.is_empty())
    .collect();
    std::env::vars_os()
        .filter(|(_, v)| {
            v.to_str()
                .is_some_and(|v| secrets.contains(&v) || secrets.contains(&v.trim()))
        })
        .map(|(k, _)| k)
        .collect()
}

/// The vault whose shared audit table `sidekey audit` reads: the configured PostgreSQL vault,
/// else `None` (this machine's files). A config that cannot be read leaves the files, and says
/// so.
fn audit_database() -> Result<Option<sidekey_vault::Vault>, Failure> {
    let ctx = match crate::context::Context::from_env_allow_missing() {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!(
                "sidekey: note: the config could not be read ({}); showing this machine's audit log",
                e.message
            );
            return Ok(None);
        }
    };
    match ctx.store_url()? {
        Some(_) => ctx.vault().map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// clap's own consistency checks over the whole tree, deferred commands built.
    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every command is deferred (`#[command(defer = true)]`): its parent's help lists it with
    /// the description on its variant, its own help shows what it has once built. They must be
    /// the same: a doc comment on flattened arguments would silently replace the latter (as it
    /// once would have for `ms` and `google`, through `AskArgs`). Read from the help texts
    /// themselves, each rendered as `sidekey PATH -h` would render it.
    #[test]
    fn a_command_reads_the_same_in_its_parents_help_and_its_own() {
        fn help(path: &[String]) -> String {
            let args = std::iter::once("sidekey")
                .chain(path.iter().map(String::as_str))
                .chain(["-h"]);
            match Cli::command().try_get_matches_from(args) {
                Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => e.to_string(),
                _ => panic!("`sidekey {} -h` printed no help", path.join(" ")),
            }
        }
        fn walk(path: &mut Vec<String>, seen: &mut usize) {
            let text = help(path);
            let listed: Vec<(String, String)> = text
                .lines()
                .skip_while(|l| *l != "Commands:")
                .skip(1)
                .take_while(|l| !l.is_empty())
                .filter_map(|l| {
                    let (name, about) = l.trim_start().split_once(' ')?;
                    Some((name.to_string(), about.trim().to_string()))
                })
                .filter(|(name, _)| name != "help")
                .collect();
            for (name, about) in listed {
                path.push(name);
                let own = help(path);
                let first = own.lines().next().unwrap_or_default();
                assert_eq!(
                    first,
                    about,
                    "`sidekey {}`: its parent lists another description",
                    path.join(" ")
                );
                *seen += 1;
                walk(path, seen);
                path.pop();
            }
        }
        let mut seen = 0;
        walk(&mut Vec::new(), &mut seen);
        assert!(seen > 60, "only {seen} commands walked");
    }
}
