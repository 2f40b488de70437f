//! The guard: the one function every call passes through, from the CLI (the person at this
//! terminal), the daemon's API and the MCP server alike.
//!
//! [`operate`] takes a [`Call`] and a [`Caller`] and, in this order and once each:
//! 1. **validates** it (bad arguments are exit 2 before anything else happens, and before any
//!    token is fetched);
//! 2. **resolves the account** (the one named, else the only account of the operation's
//!    provider);
//! 3. **checks the policy** ([`crate::policy::Policy::permit`]): the person at the terminal is a caller kind
//!    ([`Who::Person`]), not a skipped check;
//! 4. **runs** it on [`Local`], this process's vault;
//! 5. **writes one audit entry**, allowed or refused, named as the policy names the call.
//!
//! Nothing else in sidekey calls the policy's decision. What no call ever reached (a bad API
//! key, a body too large to read) is audited by the daemon's layer; a refusal made on the
//! agent's side of the socket (an MCP tool argument refused in client mode) is reported to the
//! daemon as [`Call::Refused`] and audited here like any other.
//!
//! 3b. **asks the person** when the policy says `ask` ([`crate::approvals::ask::obtain`]): the
//!    call waits a bounded time for their approval of this exact action, and runs only with
//!    one it spends; otherwise it answers pending (exit 7, with the approval's id), denied (8)
//!    or expired (9), and nothing ran. The run's entry names the approval it spent.

use super::Local;
use crate::api::{
    LoginProgress, LoginRequest, LoginStarted, LogoutReply, OpGrant, OpReply, OpRequest, OpsReply,
    StatusReply, TokenPurpose, TokenReply,
};
use crate::approvals;
use crate::audit;
use crate::config::Account;
use crate::error::Failure;
use crate::ops;
use crate::policy::{Agent, Grant, Who};
use crate::signin::{self, Mode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

/// Who is calling, for the policy and the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// The person at this terminal: `sidekey …` on the machine that holds the vault.
    Person,
    /// An MCP client of `sidekey mcp` running on the machine that holds the vault: the agent.
    Mcp,
    /// A request on the daemon's API: the agent. `via` names the listener (`api:unix`,
    /// `api:tcp`); `agent` names the agent whose key it carried (`[agents.NAME]`), or `None`
    /// for the daemon's unnamed key (`[server] api_key_file`), whose rights are the accounts'
    /// policies alone.
    Api {
        via: &'static str,
        agent: Option<String>,
    },
}

impl Caller {
    /// The unnamed caller of the daemon's listener `via` (the `[server] api_key_file` key).
    pub fn api(via: &'static str) -> Caller {
        Caller::Api { via, agent: None }
    }

    pub fn who(&self) -> Who {
        match self {
            Caller::Person => Who::Person,
            Caller::Mcp | Caller::Api { .. } => Who::Agent,
        }
    }

    /// The audit log's name for the caller (`cli uid=1000`, `mcp uid=1000`, `api:unix`,
    /// `agent openclaw via api:unix`).
    pub fn audit_name(&self) -> String {
        match self {
            Caller::Person => audit::local_caller(),
            Caller::Mcp => audit::local_caller().replacen("cli", "mcp", 1),
            Caller::Api { via, agent: None } => (*via).to_string(),
            Caller::Api {
                via,
                agent: Some(name),
            } => format!("agent {name} via {via}"),
        }
    }

    /// The named agent's rights, from the config the daemon authenticated it with (`None` for
    /// every other caller). A name the config does not hold is refused, never read as unnamed.
    fn rights<'a>(&self, local: &'a Local) -> Result<Option<&'a Agent>, Failure> {
        match self {
            Caller::Api {
                agent: Some(name), ..
            } => {
                local.ctx.config.agents.get(name).map(Some).ok_or_else(|| {
                    Failure::policy(format!("policy: no agent '{name}' in the config"))
                })
            }
            _ => Ok(None),
        }
    }
}

/// Every call sidekey answers.
#[derive(Debug)]
pub enum Call {
    /// Every account, or one.
    Status { account: Option<String> },
    /// Start, join or resume a sign-in. `replace_identity` is the person's `login
    /// --replace-identity` (refused to anyone else; no field of the API sets it).
    Login {
        req: LoginRequest,
        mode: Mode,
        replace_identity: bool,
    },
    /// Hand a pasted redirect URL to a waiting code-flow sign-in.
    Redirect { account: String, url: String },
    /// Where a sign-in stands, waiting up to `wait` for it to move.
    Progress { account: String, wait: Duration },
    /// A fresh access token, for `purpose` (or `sidekey token` itself).
    Token {
        account: String,
        purpose: Option<TokenPurpose>,
    },
    /// Revoke and forget the tokens.
    Logout { account: String },
    /// A service operation.
    Op(OpRequest),
    /// Every operation with the accounts whose policy allows it to the agent.
    Ops,
    /// A refusal made before the call could be sent (an MCP tool's arguments refused on the
    /// agent's side): audited, never run. `op` is the caller's word, bounded by the audit log.
    Refused {
        op: String,
        account: Option<String>,
        failure: Failure,
    },
}

/// What a call answers, one variant per [`Call`].
#[derive(Debug)]
pub enum Done {
    Status(StatusReply),
    Started(LoginStarted),
    Progress(LoginProgress),
    Token(TokenReply),
    Logout(LogoutReply),
    Op(OpReply),
    Ops(OpsReply),
}

impl Call {
    /// The name the policy and the audit log use.
    fn name(&self) -> &str {
        match self {
            Call::Status { .. } | Call::Progress { .. } => "status",
            Call::Login { .. } | Call::Redirect { .. } => "login",
            Call::Token { .. } => "token",
            Call::Logout { .. } => "logout",
            Call::Op(r) => r.op.info().name,
            Call::Ops => "ops",
            Call::Refused { op, .. } => op,
        }
    }

    /// What the audit log keeps of the arguments: which were given, never a secret or a
    /// personal value (no pasted URL: it carries an authorization code).
    fn audit_args(&self) -> Value {
        match self {
            Call::Login {
                req,
                mode,
                replace_identity,
            } => {
                let mut args = json!({
                    "scopes": req.scopes.clone().unwrap_or_default(),
                    "mode": mode_name(*mode),
                });
                if *replace_identity {
                    args["replace_identity"] = json!(true);
                }
                args
            }
            Call::Redirect { .. } => json!({"mode": "PasteUrl"}),
            Call::Progress { wait, .. } => json!({"wait": wait.as_secs()}),
            Call::Token {
                purpose: Some(p), ..
            } => p.audit_args(),
            Call::Op(r) => r.op.audit_args(),
            Call::Status { .. }
            | Call::Token { .. }
            | Call::Logout { .. }
            | Call::Ops
            | Call::Refused { .. } => json!({}),
        }
    }

    /// What the audit log keeps before the arguments are checked against the account: a
    /// purpose's kind but not its value (a git host is written down once it is one of the
    /// account's); nothing of a call refused as malformed.
    fn unchecked_args(&self, valid: bool) -> Value {
        match self {
            Call::Token {
                purpose: Some(p), ..
            } => json!({"via": p.audit_args()["via"]}),
            _ if valid => self.audit_args(),
            _ => json!({}),
        }
    }

    /// The account the caller named, if any (before it is resolved).
    fn named(&self) -> Option<&str> {
        match self {
            Call::Status { account } => account.as_deref(),
            Call::Login { req, .. } => Some(&req.account),
            Call::Redirect { account, .. }
            | Call::Progress { account, .. }
            | Call::Token { account, .. }
            | Call::Logout { account } => Some(account),
            Call::Op(r) => r.account.as_deref(),
            Call::Refused { account, .. } => account.as_deref(),
            Call::Ops => None,
        }
    }
}

/// The sign-in mode as the audit log has always named it.
pub fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Fresh => "Wait",
        Mode::Handover => "NoWait",
        Mode::Resume => "JoinOnly",
        Mode::Background => "Background",
    }
}

/// Validate, resolve, check, run and audit `call` for `caller`: see the module's header.
pub async fn operate(local: &Local, caller: &Caller, mut call: Call) -> Result<Done, Failure> {
    let started = Instant::now();
    let mut account = call.named().map(str::to_owned);
    // What was refused as malformed is recorded without its arguments (a purpose's host, say).
    let mut args = json!({});
    // Whether it got past every check (the entry's `deny` or `fail` when it did not succeed).
    let mut reached = audit::Reached::Checks;
    let result = async {
        let valid = validate(caller, &mut call);
        args = call.unchecked_args(valid.is_ok());
        valid?;
        let resolved = resolve(local, &call)?;
        account = resolved.map(|a| a.name.clone());
        if let Some(a) = resolved {
            if let Err(f) = serves(&call, a) {
                args = refused_args(&call);
                return Err(f);
            }
            args = call.audit_args();
            let agent = caller.rights(local)?;
            let (op, credential) = match &call {
                Call::Op(r) => (r.op.info().name, r.op.credential()),
                other => (other.name(), None),
            };
            let grant =
                a.policy
                    .permit_as(caller.who(), agent, &a.name, op, credential.as_deref())?;
            // Step 3b: what the policy leaves to the person runs only with their approval of
            // this exact action, spent by this run.
            if let (Grant::Ask, Call::Op(r)) = (grant, &call) {
                let asked = approvals::ask::Asked {
                    approval: r.approval.as_deref(),
                    wait: r.wait.map(Duration::from_secs),
                };
                // Boxed: the approval step's future (filing, the message to Telegram, a
                // document's title looked up) is large, and every call, most of them allowed
                // outright, would carry and move it inline (docs/benchmarks.md, "An allowed
                // write: what approvals cost a call that is not asked about").
                let ticket = Box::pin(approvals::ask::obtain(
                    &local.ctx,
                    &caller.audit_name(),
                    a,
                    &r.op,
                    asked,
                ))
                .await?;
                args["approval"] = json!({
                    "id": ticket.id,
                    "hash": ticket.hash,
                    "by": approvals::message::clean(&ticket.decision.by, false),
                });
            }
        }
        reached = audit::Reached::Run;
        // Behind a pointer with dynamic dispatch: one copy of every operation's state machine,
        // however many places await the guard (each would otherwise inline its own).
        let running: std::pin::Pin<Box<dyn Future<Output = Result<Done, Failure>> + Send + '_>> =
            Box::pin(run(local, caller, &call, resolved));
        running.await
    }
    .await;
    if local.ctx.home.exists() {
        let outcome = result.as_ref().map(|_| ()).map_err(Clone::clone);
        audit::record(
            &local.ctx.home,
            &caller.audit_name(),
            account.as_deref(),
            call.name(),
            args,
            started,
            reached,
            &outcome,
        );
    }
    result
}

/// Step 1: everything that can be refused without the vault or the network.
fn validate(caller: &Caller, call: &mut Call) -> Result<(), Failure> {
    match call {
        Call::Op(r) => {
            // Through the daemon the Picker's 127.0.0.1 redirect would land in the daemon's
            // container, where no browser is: it hands out the link, finished with --paste-url.
            if matches!(caller, Caller::Api { .. }) {
                r.op.without_waiting();
            }
            if let Some(id) = &r.approval {
                approvals::check_id(id)?;
            }
            if r.wait.is_some_and(|w| w > approvals::MAX_WAIT.as_secs()) {
                return Err(Failure::usage(format!(
                    "`wait` is at most {} seconds",
                    approvals::MAX_WAIT.as_secs()
                )));
            }
            r.op.validate()
        }
        Call::Token {
            purpose: Some(p), ..
        } => p.validate(),
        Call::Refused { failure, .. } => Err(failure.clone()),
        // Who the account is is the person's to change, at the machine.
        Call::Login {
            replace_identity: true,
            ..
        } if *caller != Caller::Person => Err(Failure::policy(
            "policy: replacing an account's identity is the person's act at the machine (`sidekey login NAME --replace-identity`), never the agent's",
        )),
        _ => Ok(()),
    }
}

/// Step 2, once the account is known: what the caller says the call is for is something the
/// account does (a git host among its `git_hosts`), before the audit log writes it down as
/// such. A client of the daemon could otherwise have a token recorded as sent to any host.
fn serves(call: &Call, account: &Account) -> Result<(), Failure> {
    match call {
        Call::Token {
            purpose: Some(TokenPurpose::GitCredential { host }),
            ..
        } if !account
            .git_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host)) =>
        {
            Err(Failure::policy(format!(
                "policy: account '{}' does not serve the git host '{host}' (its git_hosts: {})",
                account.name,
                if account.git_hosts.is_empty() {
                    "none".to_string()
                } else {
                    account.git_hosts.join(", ")
                }
            )))
        }
        _ => Ok(()),
    }
}

/// The audit arguments of a call [`serves`] refused: the refused value under its own name, so
/// no entry reads as if a token went there (it passed `validate`: a host or host:port, at most
/// 259 characters of letters, digits, `.`, `-` and `:`).
fn refused_args(call: &Call) -> Value {
    match call {
        Call::Token {
            purpose: Some(TokenPurpose::GitCredential { host }),
            ..
        } => json!({"via": "git_credential", "refused_host": host}),
        other => other.unchecked_args(false),
    }
}

/// Step 2: the account the call acts on, looked up once (`None`: it acts on none, or on all for
/// `status`).
fn resolve<'a>(local: &'a Local, call: &Call) -> Result<Option<&'a Account>, Failure> {
    let name = match call {
        Call::Op(r) => ops::pick_account(&local.ctx, r.account.as_deref(), r.op.provider())?,
        Call::Ops | Call::Refused { .. } | Call::Status { account: None } => return Ok(None),
        named => named.named().unwrap_or_default().to_string(),
    };
    local.ctx.config.account(&name).map(Some)
}

/// Step 4, with what the policy can only check once the call has run (a token's grant).
async fn run(
    local: &Local,
    caller: &Caller,
    call: &Call,
    account: Option<&Account>,
) -> Result<Done, Failure> {
    let name = account.map(|a| a.name.as_str()).unwrap_or_default();
    let configured = || account.ok_or_else(|| Failure::internal("a call without its account"));
    Ok(match call {
        Call::Status { account } => {
            let withheld = withheld_accounts(local, caller, account.as_deref())?;
            let mut reply = local
                .status(account.as_deref(), &withheld, caller.who())
                .await?;
            // A named agent sees the accounts it may use, and no other.
            if let Some(agent) = caller.rights(local)? {
                reply.accounts.retain(|a| agent.uses(&a.name));
            }
            Done::Status(reply)
        }
        Call::Login {
            req,
            mode,
            replace_identity,
        } => {
            let configured = configured()?;
            let wanted = signin::with_scopes(configured, req.scopes.as_deref())?;
            configured
                .policy
                .check_scopes(name, &configured.scopes, &wanted.scopes)?;
            let begin = signin::Begin {
                replace_identity: *replace_identity,
                caller: caller.audit_name(),
                pasted: false,
                by: caller.who().into(),
            };
            let started = local.signins.start_as(wanted, *mode, begin).await?;
            Done::Started(withhold_started(local, caller, configured, started).await?)
        }
        Call::Redirect { url, .. } => {
            let started = local
                .login_redirect(name, url, &caller.audit_name(), caller.who())
                .await?;
            Done::Started(withhold_started(local, caller, configured()?, started).await?)
        }
        Call::Progress { wait, .. } => {
            let progress = local.login_progress(name, *wait).await?;
            Done::Progress(withhold_progress(local, caller, configured()?, progress)?)
        }
        Call::Token { .. } => {
            let reply = local.token(name).await?;
            // The ceiling holds for what was granted, whoever asks (the daemon, `exec`, or the
            // person at this terminal): widening it is a change to the config.
            let a = configured()?;
            a.policy.check_granted(name, &a.scopes, &reply.scopes)?;
            Done::Token(reply)
        }
        Call::Logout { .. } => Done::Logout(local.logout(name).await?),
        Call::Op(r) => {
            let (result, text) = r.op.run(&local.ctx, name, caller.who()).await?;
            Done::Op(OpReply {
                account: name.to_string(),
                result,
                text,
            })
        }
        Call::Ops => Done::Ops(allowed_ops(local, caller.who(), caller.rights(local)?)),
        Call::Refused { failure, .. } => return Err(failure.clone()),
    })
}

/// The channels a sign-in's code goes to instead of `caller`, when it is withheld from them:
/// `None` when the caller sees it (the person; the agent when the person has no channel, or
/// when the policy's `show_code_to_agent` says so).
fn withheld_for(
    local: &Local,
    caller: &Caller,
    account: &Account,
) -> Result<Option<Vec<String>>, Failure> {
    if account.policy.shows_code(caller.who()) {
        return Ok(None);
    }
    let names: Vec<String> = local
        .ctx
        .channels()?
        .names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    Ok((!names.is_empty()).then_some(names))
}

/// The channels a pending sign-in's code went to instead of `caller` (as [`withheld_for`]);
/// and the code of the person's `--replace-identity` sign-in is never the agent's (`Some` with
/// no channel). `pending`: whether the account may have a sign-in's slot (`false` when the
/// vault's listing says it has none: nothing is read).
fn withheld_code(
    local: &Local,
    caller: &Caller,
    account: &Account,
    pending: bool,
) -> Result<Option<Vec<String>>, Failure> {
    Ok(match withheld_for(local, caller, account)? {
        Some(names) => Some(names),
        None if caller.who() == Who::Agent
            && pending
            && local.signins.replacing(&account.name)? =>
        {
            Some(vec![])
        }
        None => None,
    })
}

/// For `status`: the configured accounts (all, or `only`) whose sign-in code and link `caller`
/// must not read in a status note, as [`withheld_code`].
fn withheld_accounts(
    local: &Local,
    caller: &Caller,
    only: Option<&str>,
) -> Result<BTreeMap<String, Vec<String>>, Failure> {
    let mut withheld = BTreeMap::new();
    // Which accounts have a sign-in's slot, from the read `status` keeps while the vault is
    // unchanged: a `--replace-identity` sign-in is looked for in those only, not probed for in
    // every account's file on every call.
    let pending = local.pending_slots()?;
    for (name, account) in &local.ctx.config.accounts {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        if let Some(names) = withheld_code(local, caller, account, pending.contains(name))? {
            withheld.insert(name.clone(), names);
        }
    }
    Ok(withheld)
}

/// A started (joined, resumed) sign-in's answer, with the code withheld from a caller who must
/// not see it — and then sent to the person's channels if it has not been yet.
async fn withhold_started(
    local: &Local,
    caller: &Caller,
    account: &Account,
    mut started: LoginStarted,
) -> Result<LoginStarted, Failure> {
    if let Some(names) = withheld_code(local, caller, account, true)? {
        local.signins.tell_person(&account.name).await?;
        crate::api::withhold_code(&mut started.event);
        started.sent_to = names;
    }
    Ok(started)
}

/// Where a sign-in stands, with the code withheld as in [`withhold_started`]. The code of the
/// person's `--replace-identity` sign-in is never the agent's.
fn withhold_progress(
    local: &Local,
    caller: &Caller,
    account: &Account,
    mut progress: LoginProgress,
) -> Result<LoginProgress, Failure> {
    if let LoginProgress::Pending { event, sent_to } | LoginProgress::Interrupted { event, sent_to } =
        &mut progress
        && let Some(names) = withheld_code(local, caller, account, true)?
    {
        crate::api::withhold_code(event);
        *sent_to = names;
    }
    Ok(progress)
}

/// Every operation with the accounts whose policy allows it to `who` (the MCP tool list, the
/// daemon's `GET /v1/ops`), as narrowed by a named `agent`'s rights (its accounts only).
fn allowed_ops(local: &Local, who: Who, agent: Option<&Agent>) -> OpsReply {
    let config = &local.ctx.config;
    let ops = crate::catalog::Operation::all()
        .map(|op| {
            let info = op.info();
            let mut accounts = vec![];
            let mut ask = vec![];
            for (name, a) in &config.accounts {
                if a.kind != op.provider() {
                    continue;
                }
                match a.policy.permit_as(who, agent, name, info.name, None) {
                    Ok(Grant::Allowed) => accounts.push(name.clone()),
                    Ok(Grant::Ask) => {
                        accounts.push(name.clone());
                        ask.push(name.clone());
                    }
                    Err(_) => {}
                }
            }
            OpGrant {
                op: info.name.to_string(),
                access: info.access,
                accounts,
                ask,
            }
        })
        .collect();
    OpsReply { ops }
}

/// The reply of the kind `pick` expects (a mismatch is a bug, reported as one).
pub fn expect<T>(done: Done, pick: impl FnOnce(Done) -> Option<T>) -> Result<T, Failure> {
    pick(done).ok_or_else(|| Failure::internal("the guard answered with another kind of reply"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::context::Context;
    use crate::error::Exit;
    use crate::signin::Stop;

    fn local(policy: &str) -> (tempfile::TempDir, Local) {
        let dir = tempfile::tempdir().unwrap();
        let key = sidekey_vault::Key::generate().unwrap();
        std::fs::write(dir.path().join("vault.key"), key.to_base64()).unwrap();
        let text = format!(
            "[vault]\nkey_file = \"vault.key\"\n[accounts.gh]\nprovider = \"github\"\nclient_id = \"Iv1.x\"\n{policy}"
        );
        let path = dir.path().join("config.toml");
        std::fs::write(&path, &text).unwrap();
        let config = Config::parse(&path, &text).unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        (dir, Local::new(Context::new(home, config), Stop::never()))
    }

    fn audit(l: &Local) -> Vec<Value> {
        std::fs::read_to_string(l.ctx.home.join("audit.log"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    fn token(account: &str) -> Call {
        Call::Token {
            account: account.into(),
            purpose: None,
        }
    }

    /// The person at the terminal is a caller kind with its own rules, not a skipped check:
    /// the same call is refused to the agent and allowed (here: reaches the vault) for them.
    #[tokio::test]
    async fn one_call_one_decision_one_entry_whoever_asks() {
        let (_dir, l) = local("");
        let agent = operate(&l, &Caller::Mcp, token("gh")).await.unwrap_err();
        assert_eq!(agent.exit, Exit::Policy, "{}", agent.message);
        assert!(agent.message.contains("allow_token_export"));
        let api = operate(&l, &Caller::api("api:unix"), token("gh"))
            .await
            .unwrap_err();
        assert_eq!(api.exit, Exit::Policy);
        let person = operate(&l, &Caller::Person, token("gh")).await.unwrap_err();
        assert_eq!(person.exit, Exit::NotSignedIn, "{}", person.message);
        let log = audit(&l);
        assert_eq!(log.len(), 3, "{log:?}");
        let decisions: Vec<(&str, &str)> = log
            .iter()
            .map(|e| {
                (
                    e["operation"].as_str().unwrap(),
                    e["decision"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            decisions,
            [("token", "deny"), ("token", "deny"), ("token", "fail")],
            "the person's call passed the policy and failed (not signed in): never `allow`"
        );
        assert_eq!(log[2]["outcome"], "signed_out");
        assert!(log[0]["caller"].as_str().unwrap().starts_with("mcp"));
        assert_eq!(log[1]["caller"], "api:unix");
        assert!(log[2]["caller"].as_str().unwrap().starts_with("cli"));
        assert!(log.iter().all(|e| e["account"] == "gh"));
    }

    /// Bad arguments are refused before the account or the policy, and their values are not
    /// written down; an unknown account is refused before the policy; a reported refusal is
    /// audited and never run.
    #[tokio::test]
    async fn validation_comes_first_and_refusals_are_audited() {
        let (_dir, l) = local("[accounts.gh.policy]\nallow_token_export = true\n");
        let bad = Call::Token {
            account: "gh".into(),
            purpose: Some(TokenPurpose::GitCredential {
                host: "evil\nhost".into(),
            }),
        };
        let f = operate(&l, &Caller::api("api:unix"), bad)
            .await
            .unwrap_err();
        assert_eq!(f.exit, Exit::Usage);
        let f = operate(&l, &Caller::Mcp, token("nobody"))
            .await
            .unwrap_err();
        assert_eq!(f.exit, Exit::Usage, "{}", f.message);
        let reported = Call::Refused {
            op: "mcp.unknown".into(),
            account: None,
            failure: Failure::policy("policy: unknown tool 'x'"),
        };
        let f = operate(&l, &Caller::api("api:unix"), reported)
            .await
            .unwrap_err();
        assert_eq!(f.exit, Exit::Policy);
        let log = audit(&l);
        assert_eq!(log.len(), 3, "{log:?}");
        assert_eq!(
            log[0]["args"],
            json!({"via": "git_credential"}),
            "a refused value was written down"
        );
        assert!(!serde_json::to_string(&log).unwrap().contains("evil"));
        assert_eq!(log[1]["account"], "nobody");
        // Refused before they ran, neither as `allow` (issue 20, item 6): the bad argument and
        // the unknown account say so in their outcome.
        assert_eq!(
            (&log[0]["decision"], &log[0]["outcome"]),
            (&json!("deny"), &json!("usage"))
        );
        assert_eq!(
            (&log[1]["decision"], &log[1]["outcome"]),
            (&json!("deny"), &json!("config"))
        );
        assert_eq!(log[2]["operation"], "mcp.unknown");
        assert_eq!(log[2]["decision"], "deny");
    }

    /// A git host the account does not serve is refused before the policy and before any
    /// token, and the entry names it as refused; one it serves gets past this check.
    #[tokio::test]
    async fn a_git_host_is_checked_against_the_accounts_hosts() {
        let (_dir, l) = local(
            "git_hosts = [\"github.com\"]\n[accounts.gh.policy]\nallow_token_export = true\n",
        );
        let git = |host: &str| Call::Token {
            account: "gh".into(),
            purpose: Some(TokenPurpose::GitCredential { host: host.into() }),
        };
        let f = operate(&l, &Caller::api("api:unix"), git("attacker.example"))
            .await
            .unwrap_err();
        assert_eq!(f.exit, Exit::Policy, "{}", f.message);
        assert!(f.message.contains("github.com"), "{}", f.message);
        // Served (any case): past the check, stopped only by the empty vault.
        let f = operate(&l, &Caller::api("api:unix"), git("GitHub.com"))
            .await
            .unwrap_err();
        assert_eq!(f.exit, Exit::NotSignedIn, "{}", f.message);
        let log = audit(&l);
        assert_eq!(
            log[0]["args"],
            json!({"via": "git_credential", "refused_host": "attacker.example"})
        );
        assert_eq!(log[0]["decision"], "deny");
        assert_eq!(
            log[1]["args"],
            json!({"via": "git_credential", "host": "GitHub.com"})
        );
    }

    /// Replacing an account's identity is the person's act: the agent asking for it (MCP, the
    /// API) is refused before anything runs, and audited as refused.
    #[tokio::test]
    async fn only_the_person_may_replace_an_identity() {
        let (_dir, l) = local("");
        let login = || Call::Login {
            req: LoginRequest {
                account: "gh".into(),
                ..Default::default()
            },
            mode: Mode::Fresh,
            replace_identity: true,
        };
        for caller in [Caller::Mcp, Caller::api("api:unix")] {
            let f = operate(&l, &caller, login()).await.unwrap_err();
            assert_eq!(f.exit, Exit::Policy, "{}", f.message);
            assert!(f.message.contains("--replace-identity"), "{}", f.message);
        }
        let log = audit(&l);
        assert_eq!(log.len(), 2, "{log:?}");
        assert!(log.iter().all(|e| e["decision"] == "deny"));
    }

    fn memory_set(value: &str, approval: Option<&str>) -> Call {
        let mut r = OpRequest::new(
            Some("g".into()),
            crate::catalog::Operation::Google(crate::catalog::google::GoogleOp::MemorySet {
                key: "k".into(),
                value: value.into(),
            }),
        );
        r.approval = approval.map(str::to_owned);
        r.wait = Some(0);
        Call::Op(r)
    }

    fn google_local(policy: &str) -> (tempfile::TempDir, Local) {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[accounts.g]\nprovider = \"google\"\nclient_id = \"x\"\nclient_secret = \"s\"\nflow = \"code\"\nscopes = [\"drive.appdata\"]\n[accounts.g.policy]\n{policy}"
        );
        let path = dir.path().join("config.toml");
        std::fs::write(&path, &text).unwrap();
        let config = Config::parse(&path, &text).unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        (dir, Local::new(Context::new(home, config), Stop::never()))
    }

    /// The approval step is boxed: every call carries the guard's future, most of them allowed
    /// outright, and the step (filing, the message to Telegram, a document's title looked up)
    /// inline made that future larger than the step itself, moved on every call
    /// (docs/benchmarks.md, "An allowed write: what approvals cost a call that is not asked
    /// about").
    #[test]
    fn every_call_does_not_carry_the_approval_step() {
        let (_dir, l) = google_local("allow = [\"google.memory.set\"]\n");
        let account = l.ctx.config.account("g").unwrap().clone();
        let Call::Op(r) = memory_set("v", None) else {
            unreachable!()
        };
        let asked = approvals::ask::Asked::default();
        let step = std::mem::size_of_val(&approvals::ask::obtain(
            &l.ctx, "api:unix", &account, &r.op, asked,
        ));
        let caller = Caller::api("api:unix");
        let call = std::mem::size_of_val(&operate(&l, &caller, memory_set("v", None)));
        assert!(
            call < step,
            "the guard's future ({call} bytes) holds the approval step's ({step} bytes)"
        );
    }

    /// `ask`: the agent's write waits for the person (exit 7 with the approval's id, nothing
    /// run); once approved, the same call with that id runs once; changed arguments need a new
    /// approval; the person's own command needs none; a denial is exit 8.
    #[tokio::test]
    async fn an_ask_write_runs_once_per_approval_of_exactly_its_arguments() {
        let (_dir, l) = google_local("ask = [\"google.memory.set\"]\n");
        let agent = Caller::api("api:unix");
        let f = operate(&l, &agent, memory_set("v", None))
            .await
            .unwrap_err();
        assert_eq!(
            (f.exit, f.reason),
            (Exit::Pending, crate::error::Reason::ApprovalPending),
            "{}",
            f.message
        );
        let id = f.approval.clone().unwrap();
        // Asking again for the same action waits on the same request.
        let again = operate(&l, &agent, memory_set("v", None))
            .await
            .unwrap_err();
        assert_eq!(again.approval.as_deref(), Some(id.as_str()));
        let store = crate::approvals::Store::new(&l.ctx.home);
        let req = store.load(&id).unwrap().unwrap();
        crate::approvals::outcome::decide(&l.ctx, &req, true, "the terminal")
            .await
            .unwrap();
        // Another caller with the same arguments and the approved id: not theirs to spend.
        let other_agent = operate(&l, &Caller::Mcp, memory_set("v", Some(&id)))
            .await
            .unwrap_err();
        assert_eq!(other_agent.exit, Exit::Pending, "{}", other_agent.message);
        assert_ne!(other_agent.approval.as_deref(), Some(id.as_str()));
        // Changed arguments with the approved id: a new request, and the approval is unspent.
        let changed = operate(&l, &agent, memory_set("other", Some(&id)))
            .await
            .unwrap_err();
        assert_eq!(changed.exit, Exit::Pending, "{}", changed.message);
        assert_ne!(changed.approval.as_deref(), Some(id.as_str()));
        assert!(
            changed.message.contains("another action"),
            "{}",
            changed.message
        );
        // The approved action runs (here it reaches the empty vault: not signed in).
        let ran = operate(&l, &agent, memory_set("v", Some(&id)))
            .await
            .unwrap_err();
        assert_eq!(ran.exit, Exit::NotSignedIn, "{}", ran.message);
        // Spent: it does not run a second time.
        let twice = operate(&l, &agent, memory_set("v", Some(&id)))
            .await
            .unwrap_err();
        assert_eq!(twice.exit, Exit::Policy, "{}", twice.message);
        assert!(twice.message.contains("already used"), "{}", twice.message);
        // The person at the terminal: their command is their approval.
        let person = operate(&l, &Caller::Person, memory_set("p", None))
            .await
            .unwrap_err();
        assert_eq!(person.exit, Exit::NotSignedIn, "{}", person.message);
        // Denied.
        let other = store
            .load(changed.approval.as_deref().unwrap())
            .unwrap()
            .unwrap();
        crate::approvals::outcome::decide(&l.ctx, &other, false, "the terminal")
            .await
            .unwrap();
        let denied = operate(&l, &agent, memory_set("other", None)).await;
        // A denied request is not reused: asking again files a new one.
        assert_eq!(denied.unwrap_err().exit, Exit::Pending);
        let denied = operate(&l, &agent, memory_set("other", Some(&other.id)))
            .await
            .unwrap_err();
        assert_eq!(
            (denied.exit, denied.reason),
            (Exit::Denied, crate::error::Reason::ApprovalDenied)
        );
        let log = audit(&l);
        let events: Vec<String> = log
            .iter()
            .filter_map(|e| e["args"]["event"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(
            events,
            [
                "requested",
                "approved",
                "requested",
                "requested",
                "denied",
                "requested"
            ],
            "{log:?}"
        );
        let run = log
            .iter()
            .find(|e| {
                e["operation"] == "google.memory.set" && e["args"]["approval"]["id"] == json!(id)
            })
            .expect("the run names the approval it spent");
        assert_eq!(run["args"]["approval"]["hash"], json!(req.hash));
        assert!(
            !serde_json::to_string(&log).unwrap().contains("\"v\""),
            "a value reached the audit log"
        );
        assert!(log.iter().any(|e| e["decision"] == "ask"));
    }

    /// Only the guard asks the policy for a decision: a check written anywhere else would be a
    /// second guard, which approvals and per-agent rights would not reach.
    #[test]
    fn no_other_file_calls_the_policys_decision() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut offenders = Vec::new();
        let mut todo = vec![src.clone()];
        while let Some(dir) = todo.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    todo.push(path);
                    continue;
                }
                let rel = path
                    .strip_prefix(&src)
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                if rel == "policy.rs" || rel == "backend/guard.rs" {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for needle in [
                    ".permit(",
                    ".permit_as(",
                    ".permit_operation(",
                    ".check_scopes(",
                    ".check_granted(",
                ] {
                    if text.contains(needle) {
                        offenders.push(format!("{rel}: {needle}"));
                    }
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "policy decisions outside the guard: {offenders:?}"
        );
    }
}
