//! What the agent may do, and what the person at the terminal may: the ceiling is enforced
//! here, not only at the provider. [`Policy::permit`] is the one decision, for a caller's kind
//! ([`Who`]); only the guard (`crate::backend::guard`) asks it, once per call.
//!
//! Per account (`[accounts.NAME.policy]`):
//! * `allowed_scopes` — the scopes a sign-in may ever request (default: the account's configured
//!   `scopes`). A `login` asking for more is refused.
//! * `allow` — operations that write or destroy, which are refused unless listed. Read-only
//!   operations are allowed by default.
//! * `ask` — writes the agent may make once the person approves that exact action on their
//!   phone or at the terminal ([`Grant::Ask`], `crate::approvals`). An operation is in `allow`,
//!   in `ask`, or in neither (refused); the person's own command at the terminal needs no
//!   approval (they are the one who would give it).
//! * `allow_token_export` — whether raw access tokens may leave the daemon (`token`, `exec` in
//!   client mode). Default false: the agent gets operations, not tokens.
//! * `show_code_to_agent` — whether a sign-in the agent starts (daemon API, MCP) shows the agent
//!   the code and link even when the person has a channel. Default false: with a channel the
//!   code goes to the person and the agent is told only that it was sent.
//!
//! Per named agent of the daemon (`[agents.NAME]`, [`Agent`]): the accounts it may use and its
//! own `allow`, `ask`, `allow_token_export` and `aws_roles`, which only narrow each account's
//! policy ([`Policy::permit_as`]: the stricter wins).
//!
//! A refusal is exit code 6 / HTTP 403 with a message naming the rule, and an audit entry.

use crate::catalog::{Access, Operation};
use crate::error::Failure;

/// The calls on an account itself (the service operations come from [`Operation::catalog`]).
const ACCOUNT_CALLS: &[(&str, Access)] = &[
    ("status", Access::Read),
    ("login", Access::Read),
    ("logout", Access::Write),
    ("token", Access::Export),
];

/// Whether the daemon knows `op`, and what kind of call it is.
pub fn kind_of(op: &str) -> Option<Access> {
    if let Some((_, k)) = ACCOUNT_CALLS.iter().find(|(n, _)| *n == op) {
        return Some(*k);
    }
    Operation::named(op).map(|info| info.access)
}

fn is_account_call(op: &str) -> bool {
    ACCOUNT_CALLS.iter().any(|(n, _)| *n == op)
}

/// Every call name the policy knows, for error messages.
pub fn known() -> Vec<&'static str> {
    ACCOUNT_CALLS
        .iter()
        .map(|(n, _)| *n)
        .chain(Operation::catalog().map(|i| i.name))
        .collect()
}

/// Who makes a call, as far as the policy cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// The person at the terminal of the machine that holds the vault: their own tokens and
    /// role keys are theirs to see, and signing out is theirs to do. A change at a service
    /// still needs `allow`, whoever asks (the policy is the person's list of what may change).
    Person,
    /// The agent: the daemon's API, or an MCP client. Reads only, unless the policy says more.
    Agent,
}

/// What the policy says to a call it does not refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// Run it.
    Allowed,
    /// Run it once the person has approved this exact action (`ask`).
    Ask,
}

#[derive(Clone, Debug, Default)]
pub struct Policy {
    pub allow_token_export: bool,
    pub allowed_scopes: Option<Vec<String>>,
    pub allow: Vec<String>,
    /// Writes the agent may make after the person's approval of the exact action.
    pub ask: Vec<String>,
    /// AWS: the `ACCOUNT_ID/ROLE_NAME` pairs whose role credentials may leave the daemon
    /// (`aws.credentials`). Empty by default: none.
    pub aws_roles: Vec<String>,
    /// Hand a sign-in's code and link to the agent even when the person has a channel (for
    /// setups where the agent is the channel). Default false.
    pub show_code_to_agent: bool,
}

impl Policy {
    /// Whether `who`, having started or asked about a sign-in, is shown its code and link when
    /// the person has a channel to receive them (without one, whoever asked must pass them on).
    /// The person at the terminal always is; the agent only when the policy says so.
    pub fn shows_code(&self, who: Who) -> bool {
        who == Who::Person || self.show_code_to_agent
    }

    /// The one decision, made by the guard ([`crate::backend::guard`]) and nowhere else: may
    /// `who` make the call `op` on `account`? `credential` names what an export hands out when
    /// it is narrower than the account's token (an AWS `ACCOUNT_ID/ROLE_NAME` pair).
    pub fn permit(
        &self,
        who: Who,
        account: &str,
        op: &str,
        credential: Option<&str>,
    ) -> Result<Grant, Failure> {
        let Some(access) = kind_of(op) else {
            return Err(Failure::policy(format!("policy: unknown operation '{op}'")));
        };
        let listed = |list: &[String]| list.iter().any(|a| a == op);
        match (access, who) {
            (Access::Read, _) => Ok(Grant::Allowed),
            (Access::Export, Who::Person) => Ok(Grant::Allowed),
            (Access::Write, Who::Person) if is_account_call(op) => Ok(Grant::Allowed),
            (Access::Write, _) if listed(&self.allow) => Ok(Grant::Allowed),
            // The person's own command is their approval.
            (Access::Write, Who::Person) if listed(&self.ask) => Ok(Grant::Allowed),
            (Access::Write, Who::Agent) if listed(&self.ask) => Ok(Grant::Ask),
            (Access::Write, _) => Err(Failure::policy(format!(
                "policy: '{op}' changes the account and is in neither [accounts.{account}.policy] allow nor ask"
            ))),
            (Access::Export, Who::Agent) => match credential {
                Some(pair) if self.aws_roles.iter().any(|r| r == pair) => Ok(Grant::Allowed),
                Some(pair) => Err(Failure::policy(format!(
                    "policy: role credentials for {pair} do not leave the sidekey daemon: add \"{pair}\" to [accounts.{account}.policy] aws_roles"
                ))),
                None if !is_account_call(op) => Err(Failure::policy(format!(
                    "policy: AWS role credentials of '{account}' do not leave the sidekey daemon unless the account/role pair is in [accounts.{account}.policy] aws_roles"
                ))),
                None if self.allow_token_export => Ok(Grant::Allowed),
                None => Err(Failure::policy(format!(
                    "policy: raw tokens of '{account}' do not leave the sidekey daemon ([accounts.{account}.policy] allow_token_export = false)"
                ))),
            },
        }
    }

    /// [`Policy::permit`] for a service operation with its arguments.
    pub fn permit_operation(
        &self,
        who: Who,
        account: &str,
        op: &Operation,
    ) -> Result<Grant, Failure> {
        self.permit(who, account, op.info().name, op.credential().as_deref())
    }

    /// [`Policy::permit`] for a call of `agent`, a named agent of the daemon's (`None`: the
    /// person, an MCP client on this machine, or the daemon's unnamed key, whose rights are the
    /// account's policy alone). The stricter of the two wins: an account the agent may not use
    /// is refused first; a write must be in both policies' `allow` or `ask`, and `ask` in either
    /// makes it ask; a token or role keys leave only when both let them.
    pub fn permit_as(
        &self,
        who: Who,
        agent: Option<&Agent>,
        account: &str,
        op: &str,
        credential: Option<&str>,
    ) -> Result<Grant, Failure> {
        if let Some(a) = agent {
            a.may_use(account)?;
        }
        let grant = self.permit(who, account, op, credential)?;
        match agent {
            None => Ok(grant),
            Some(a) => a.narrow(grant, op, credential),
        }
    }
}

impl Policy {
    /// A sign-in may request at most the ceiling (the policy's, else the configured scopes).
    pub fn check_scopes(
        &self,
        account: &str,
        configured: &[String],
        requested: &[String],
    ) -> Result<(), Failure> {
        let ceiling = self.allowed_scopes.as_deref().unwrap_or(configured);
        let over: Vec<&str> = requested
            .iter()
            .filter(|s| !ceiling.contains(s))
            .map(String::as_str)
            .collect();
        if over.is_empty() {
            return Ok(());
        }
        Err(Failure::policy(format!(
            "policy: '{account}' may not request {} (allowed: {}; set [accounts.{account}.policy] allowed_scopes)",
            over.join(", "),
            ceiling.join(" ")
        )))
    }
}

/// Scopes every sign-in may carry whatever the ceiling says: OpenID Connect's own (and Google's
/// long names for two of them). They name who signed in, not what the token may do.
const IDENTITY_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "offline_access",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
];

/// Microsoft Graph's resource prefixes (global and national clouds): `Mail.Send` and
/// `https://graph.microsoft.com/Mail.Send` are the same scope.
const GRAPH_PREFIXES: &[&str] = &[
    "https://graph.microsoft.com/",
    "https://graph.microsoft.us/",
    "https://dod-graph.microsoft.us/",
    "https://microsoftgraph.chinacloudapi.cn/",
    "https://graph.microsoft.de/",
];

/// A scope as providers compare it: case-insensitive, without a Graph resource prefix.
pub(crate) fn scope_key(s: &str) -> String {
    let l = s.trim().to_ascii_lowercase();
    GRAPH_PREFIXES
        .iter()
        .find_map(|p| l.strip_prefix(p))
        .map(str::to_string)
        .unwrap_or(l)
}

impl Policy {
    /// The scopes the account may ever hold: the policy's `allowed_scopes`, else the configured.
    pub fn ceiling<'a>(&'a self, configured: &'a [String]) -> &'a [String] {
        self.allowed_scopes.as_deref().unwrap_or(configured)
    }

    /// `scope` as the ceiling writes it (`Mail.Send` for `mail.send` or
    /// `https://graph.microsoft.com/Mail.Send`), or `None` when the ceiling does not hold it: a
    /// `login --scope` must name it in the ceiling's own spelling ([`Policy::check_scopes`]
    /// compares the strings).
    pub fn in_ceiling(&self, configured: &[String], scope: &str) -> Option<String> {
        let key = scope_key(scope);
        self.ceiling(configured)
            .iter()
            .find(|c| scope_key(c) == key)
            .cloned()
    }

    /// The *granted* scopes beyond the ceiling (Entra returns every scope the app was ever
    /// consented to, not only those asked for). Identity scopes never count; a `.default` in
    /// the ceiling means "whatever was consented", so nothing is beyond it.
    pub fn granted_over_ceiling(&self, configured: &[String], granted: &[String]) -> Vec<String> {
        let ceiling: Vec<String> = self
            .ceiling(configured)
            .iter()
            .map(|s| scope_key(s))
            .collect();
        if ceiling
            .iter()
            .any(|s| s == ".default" || s.ends_with("/.default"))
        {
            return vec![];
        }
        granted
            .iter()
            .filter(|g| {
                let k = scope_key(g);
                !k.is_empty() && !IDENTITY_SCOPES.contains(&k.as_str()) && !ceiling.contains(&k)
            })
            .cloned()
            .collect()
    }

    /// What to tell the person when the grant exceeds the ceiling, else `None`.
    pub fn granted_warning(
        &self,
        account: &str,
        configured: &[String],
        granted: &[String],
    ) -> Option<String> {
        let over = self.granted_over_ceiling(configured, granted);
        if over.is_empty() {
            return None;
        }
        Some(format!(
            "the provider granted '{account}' more than its ceiling allows: {} (allowed: {}). Raw tokens of '{account}' are refused and so are operations needing those scopes. The app was consented to them earlier: revoke that consent at the provider and sign in again, or, if intended, add them to [accounts.{account}.policy] allowed_scopes",
            over.join(", "),
            self.ceiling(configured).join(" ")
        ))
    }

    /// Refuse (exit 6) handing out a token whose grant exceeds the ceiling.
    pub fn check_granted(
        &self,
        account: &str,
        configured: &[String],
        granted: &[String],
    ) -> Result<(), Failure> {
        match self.granted_warning(account, configured, granted) {
            None => Ok(()),
            Some(w) => Err(Failure::policy(format!("policy: {w}"))),
        }
    }
}

/// A named agent (`[agents.NAME]`): its key's hash and its own rights, which only ever narrow
/// the policy of each account it uses ([`Policy::permit_as`]).
#[derive(Clone, Debug, Default)]
pub struct Agent {
    /// The name the audit log and the approval messages use (`agent NAME via api:unix`).
    pub name: String,
    /// SHA-256 of the agent's API key; the key itself is never stored.
    pub key_sha256: [u8; 32],
    /// The accounts it may use (`None`: every account, written `["*"]`). Default: none.
    pub accounts: Option<Vec<String>>,
    /// Its writes allowed outright (when the account's policy allows or asks them too).
    pub allow: Vec<String>,
    /// Its writes that need the person's approval (also when the account's policy allows them).
    pub ask: Vec<String>,
    /// Whether raw tokens may leave for it (when the account's policy lets them). Default false.
    pub allow_token_export: bool,
    /// The AWS `ACCOUNT_ID/ROLE_NAME` pairs whose role keys may leave for it (when the
    /// account's policy lists them too). Default: none.
    pub aws_roles: Vec<String>,
}

impl Agent {
    /// Whether the agent may use `account` at all.
    pub fn uses(&self, account: &str) -> bool {
        self.accounts
            .as_ref()
            .is_none_or(|list| list.iter().any(|a| a == account))
    }

    /// [`Agent::uses`], refused with the rule's name.
    fn may_use(&self, account: &str) -> Result<(), Failure> {
        if self.uses(account) {
            return Ok(());
        }
        let listed = match self.accounts.as_deref() {
            Some([]) | None => "none".to_string(),
            Some(list) => list.join(", "),
        };
        Err(Failure::policy(format!(
            "policy: agent '{}' may not use the account '{account}' ([agents.{}] accounts: {listed})",
            self.name, self.name
        )))
    }

    /// The account policy's `grant` for `op`, narrowed by this agent's own rights.
    fn narrow(&self, grant: Grant, op: &str, credential: Option<&str>) -> Result<Grant, Failure> {
        let name = &self.name;
        let listed = |list: &[String]| list.iter().any(|a| a == op);
        match kind_of(op) {
            Some(Access::Read) => Ok(grant),
            Some(Access::Write) if listed(&self.ask) => Ok(Grant::Ask),
            Some(Access::Write) if listed(&self.allow) => Ok(grant),
            Some(Access::Write) => Err(Failure::policy(format!(
                "policy: '{op}' changes the account and is in neither [agents.{name}] allow nor ask"
            ))),
            Some(Access::Export) => match credential {
                Some(pair) if self.aws_roles.iter().any(|r| r == pair) => Ok(grant),
                Some(pair) => Err(Failure::policy(format!(
                    "policy: role credentials for {pair} do not leave the sidekey daemon for agent '{name}': add \"{pair}\" to [agents.{name}] aws_roles"
                ))),
                None if !is_account_call(op) => Err(Failure::policy(format!(
                    "policy: AWS role credentials do not leave the sidekey daemon for agent '{name}' unless the account/role pair is in [agents.{name}] aws_roles"
                ))),
                None if self.allow_token_export => Ok(grant),
                None => Err(Failure::policy(format!(
                    "policy: raw tokens do not leave the sidekey daemon for agent '{name}' ([agents.{name}] allow_token_export = false)"
                ))),
            },
            None => Err(Failure::policy(format!("policy: unknown operation '{op}'"))),
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn aws_role_credentials_only_for_listed_pairs() {
        use crate::catalog::aws::AwsOp;
        let creds = |role: &str| {
            Operation::Aws(AwsOp::Credentials {
                account_id: "123456789012".into(),
                role_name: role.into(),
            })
        };
        let none = Policy::default();
        let f = none
            .permit_operation(Who::Agent, "a", &creds("ReadOnly"))
            .unwrap_err();
        assert!(f.message.contains("aws_roles"), "{}", f.message);
        // allow_token_export is about tokens, not role keys.
        let tokens = Policy {
            allow_token_export: true,
            ..Policy::default()
        };
        assert!(
            tokens
                .permit_operation(Who::Agent, "a", &creds("ReadOnly"))
                .is_err()
        );
        assert!(
            tokens
                .permit(Who::Agent, "a", "aws.credentials", None)
                .is_err()
        );
        let listed = Policy {
            aws_roles: vec!["123456789012/ReadOnly".into()],
            ..Policy::default()
        };
        assert!(
            listed
                .permit_operation(Who::Agent, "a", &creds("ReadOnly"))
                .is_ok()
        );
        assert!(
            listed
                .permit_operation(Who::Agent, "a", &creds("Admin"))
                .is_err()
        );
        assert!(
            none.permit_operation(Who::Agent, "a", &Operation::Aws(AwsOp::Accounts))
                .is_ok()
        );
    }

    use super::*;

    #[test]
    fn defaults_are_read_only_without_token_export() {
        let p = Policy::default();
        assert!(p.permit(Who::Agent, "a", "status", None).is_ok());
        assert!(p.permit(Who::Agent, "a", "login", None).is_ok());
        let e = p.permit(Who::Agent, "a", "logout", None).unwrap_err();
        assert_eq!(e.exit, crate::error::Exit::Policy);
        assert!(e.message.contains("allow"), "{}", e.message);
        assert!(
            p.permit(Who::Agent, "a", "token", None)
                .unwrap_err()
                .message
                .contains("allow_token_export")
        );
        let open = Policy {
            allow_token_export: true,
            allow: vec!["logout".into()],
            ..Policy::default()
        };
        assert!(
            open.permit(Who::Agent, "a", "logout", None).is_ok()
                && open.permit(Who::Agent, "a", "token", None).is_ok()
        );
    }

    #[test]
    fn the_person_may_export_and_sign_out_but_changes_need_allow() {
        use crate::catalog::aws::AwsOp;
        let p = Policy::default();
        for op in ["status", "login", "logout", "token", "aws.credentials"] {
            assert!(p.permit(Who::Person, "a", op, None).is_ok(), "{op}");
        }
        let creds = Operation::Aws(AwsOp::Credentials {
            account_id: "123456789012".into(),
            role_name: "Admin".into(),
        });
        assert!(p.permit_operation(Who::Person, "a", &creds).is_ok());
        assert!(p.permit_operation(Who::Agent, "a", &creds).is_err());
        // A change at a service is the policy's to allow, whoever asks.
        let e = p
            .permit(Who::Person, "a", "google.docs.create", None)
            .unwrap_err();
        assert_eq!(e.exit, crate::error::Exit::Policy);
        let allowed = Policy {
            allow: vec!["google.docs.create".into()],
            ..Policy::default()
        };
        assert!(
            allowed
                .permit(Who::Person, "a", "google.docs.create", None)
                .is_ok()
        );
        assert!(p.permit(Who::Person, "a", "ms.nope", None).is_err());
    }

    /// A named agent's rights only narrow the account's policy: the stricter wins.
    #[test]
    fn an_agents_rights_narrow_the_accounts_policy() {
        let set = "google.memory.set";
        let account = |allow: &[&str], ask: &[&str]| Policy {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            ask: ask.iter().map(|s| s.to_string()).collect(),
            allow_token_export: true,
            aws_roles: vec!["123456789012/ReadOnly".into()],
            ..Policy::default()
        };
        let agent = |allow: &[&str], ask: &[&str]| Agent {
            name: "bot".into(),
            accounts: Some(vec!["a".into()]),
            allow: allow.iter().map(|s| s.to_string()).collect(),
            ask: ask.iter().map(|s| s.to_string()).collect(),
            ..Agent::default()
        };
        let decide = |p: &Policy, a: &Agent, account: &str, op: &str, cred: Option<&str>| {
            p.permit_as(Who::Agent, Some(a), account, op, cred)
        };
        // (account allow, account ask, agent allow, agent ask) → decision.
        type Lists<'a> = (&'a [&'a str], &'a [&'a str], &'a [&'a str], &'a [&'a str]);
        let cases: [(Lists, Option<Grant>); 6] = [
            ((&[set], &[], &[set], &[]), Some(Grant::Allowed)),
            ((&[set], &[], &[], &[set]), Some(Grant::Ask)),
            ((&[], &[set], &[set], &[]), Some(Grant::Ask)),
            ((&[set], &[], &[], &[]), None),
            ((&[], &[], &[set], &[]), None),
            ((&[], &[], &[], &[set]), None),
        ];
        for ((acc_allow, acc_ask, ag_allow, ag_ask), want) in cases {
            let got = decide(
                &account(acc_allow, acc_ask),
                &agent(ag_allow, ag_ask),
                "a",
                set,
                None,
            );
            assert_eq!(got.as_ref().ok().copied(), want, "{got:?}");
        }
        let open = account(&[set], &[]);
        let writer = agent(&[set], &[]);
        // Another account: refused before anything else, naming the rule.
        let f = decide(&open, &writer, "b", "status", None).unwrap_err();
        assert_eq!(f.exit, crate::error::Exit::Policy);
        assert!(
            f.message.contains("[agents.bot] accounts: a"),
            "{}",
            f.message
        );
        assert!(decide(&open, &writer, "a", "status", None).is_ok());
        // Tokens and role keys: both must let them out.
        let f = decide(&open, &writer, "a", "token", None).unwrap_err();
        assert!(
            f.message.contains("[agents.bot] allow_token_export"),
            "{}",
            f.message
        );
        let exporter = Agent {
            allow_token_export: true,
            aws_roles: vec!["123456789012/ReadOnly".into()],
            ..writer.clone()
        };
        assert!(decide(&open, &exporter, "a", "token", None).is_ok());
        assert!(decide(&Policy::default(), &exporter, "a", "token", None).is_err());
        let pair = Some("123456789012/ReadOnly");
        assert!(decide(&open, &writer, "a", "aws.credentials", pair).is_err());
        assert!(decide(&open, &exporter, "a", "aws.credentials", pair).is_ok());
        let other = Some("123456789012/Admin");
        assert!(decide(&open, &exporter, "a", "aws.credentials", other).is_err());
        // Every account (`"*"`): still only within each account's policy.
        let everywhere = Agent {
            accounts: None,
            ..writer.clone()
        };
        assert!(decide(&open, &everywhere, "z", set, None).is_ok());
        assert!(decide(&Policy::default(), &everywhere, "z", set, None).is_err());
        // No agent: the account's policy alone, as before.
        assert_eq!(
            open.permit_as(Who::Agent, None, "a", set, None).unwrap(),
            Grant::Allowed
        );
    }

    #[test]
    fn scope_ceiling() {
        let p = Policy::default();
        let conf = vec!["User.Read".to_string(), "offline_access".to_string()];
        assert!(p.check_scopes("a", &conf, &conf).is_ok());
        let e = p
            .check_scopes("a", &conf, &["Mail.Send".to_string()])
            .unwrap_err();
        assert!(e.message.contains("Mail.Send"), "{}", e.message);
    }

    #[test]
    fn granted_scopes_are_compared_as_providers_write_them() {
        let p = Policy::default();
        let conf: Vec<String> = ["openid", "offline_access", "User.Read"]
            .map(String::from)
            .to_vec();
        let granted: Vec<String> = [
            "https://graph.microsoft.com/user.read",
            "profile",
            "email",
            "openid",
            "https://graph.microsoft.com/Mail.Send",
            "Directory.ReadWrite.All",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            p.granted_over_ceiling(&conf, &granted),
            vec![
                "https://graph.microsoft.com/Mail.Send".to_string(),
                "Directory.ReadWrite.All".to_string()
            ]
        );
        let e = p.check_granted("a", &conf, &granted).unwrap_err();
        assert_eq!(e.exit, crate::error::Exit::Policy);
        assert!(p.check_granted("a", &conf, &conf).is_ok());
        // allowed_scopes widens the ceiling; .default means "whatever was consented".
        let wide = Policy {
            allowed_scopes: Some(vec![
                "user.read".into(),
                "mail.send".into(),
                "Directory.ReadWrite.All".into(),
            ]),
            ..Policy::default()
        };
        assert!(wide.check_granted("a", &conf, &granted).is_ok());
        let dflt = vec!["https://graph.microsoft.com/.default".to_string()];
        assert!(p.check_granted("a", &dflt, &granted).is_ok());
    }
}
