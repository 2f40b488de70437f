//! The config file: one TOML document naming the accounts and how to reach each provider.
//!
//! Mistakes are reported as `PATH line N: what is wrong` (exit 2): an unknown key, an unknown
//! provider, a missing `client_id`, a key that belongs to another provider, a scope Google refuses.
//! Parsing checks everything that can be checked without the network, so `sidekey login` fails
//! before the person is sent a code they cannot use.

mod account;
mod agents;
mod approvals;
mod input;
mod notify;
mod policy;
mod sections;
mod server;
mod services;
mod validate;

pub use account::{Account, Overrides, SignInFlow};
pub use agents::{MAX_AGENT_NAME, check_agent_name, hex, key_hash};
pub use approvals::Approvals;
pub use notify::{Notify, Ntfy, Telegram, Webhook};
pub use server::Server;
pub use services::DriveSettings;
pub use validate::valid_git_host;

use crate::error::Failure;
use notify::RawNotify;
use serde::Deserialize;
use server::RawServer;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;
use validate::RawAccount;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    refresh_margin: Option<Spanned<toml::Value>>,
    http_timeout: Option<Spanned<toml::Value>>,
    timezone: Option<Spanned<String>>,
    #[serde(default)]
    vault: RawVault,
    #[serde(default)]
    notify: RawNotify,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    approvals: approvals::RawApprovals,
    #[serde(default)]
    accounts: BTreeMap<String, Spanned<RawAccount>>,
    #[serde(default)]
    agents: BTreeMap<String, Spanned<agents::RawAgent>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawVault {
    key_file: Option<String>,
    store: Option<Spanned<String>>,
}

#[derive(Debug)]
pub struct Config {
    pub path: PathBuf,
    pub exists: bool,
    pub refresh_margin: Duration,
    pub http_timeout: Duration,
    /// IANA zone for times shown to the person (default: the machine's).
    pub timezone: Option<String>,
    pub key_file: Option<PathBuf>,
    /// `[vault] store`: the PostgreSQL URL of a vault shared by several daemons (docs/fleet.md);
    /// `None` is the file vault in `$SIDEKEY_HOME/vault`.
    pub store: Option<sidekey_flow::Secret>,
    pub notify: Notify,
    pub server: Server,
    pub approvals: Approvals,
    pub accounts: BTreeMap<String, Account>,
    /// The daemon's named agents (`[agents.NAME]`), each with its key's hash and its rights.
    pub agents: BTreeMap<String, crate::policy::Agent>,
    /// Only from [`Config::load_lenient`] (`doctor`): why `[notify.*]` did not load (it is then
    /// left empty), so the rest can still be checked.
    pub notify_problem: Option<String>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, Failure> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config {
                path: path.to_path_buf(),
                exists: false,
                ..Config::parse(path, "")?
            }),
            Err(e) => Err(Failure::config(format!(
                "cannot read config {}: {e}",
                path.display()
            ))),
        }
    }

    /// As [`Config::load`], except that a `[notify.*]` that does not load (a token file that
    /// is not there) leaves the channels empty and says why in `notify_problem`: `doctor`
    /// reports it among the rest instead of stopping at it.
    pub fn load_lenient(path: &Path) -> Result<Config, Failure> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse_with(path, &text, true, None),
            Err(_) => Config::load(path),
        }
    }

    /// As [`Config::load`] for a command about account `name` alone (`sidekey token`): only
    /// that account is parsed and validated, so its cost does not grow with the accounts in
    /// the file ([`sections`]); the others are only named (for `[agents.*]`), and a mistake
    /// in one of them is left to the commands that read them all (`status`, `doctor`,
    /// `serve`). The config's `accounts` then hold `name` alone. A file whose tables cannot be
    /// told apart without parsing, or without `name`, is loaded whole, as [`Config::load`].
    pub fn load_for(path: &Path, name: &str) -> Result<Config, Failure> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(_) => return Config::load(path),
        };
        match sections::only_account(&text, name) {
            Some(part) if part.names.contains(&name) => {
                Config::parse_with(path, &part.text, false, Some((&part, &text)))
            }
            _ => Config::parse(path, &text),
        }
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config, Failure> {
        Config::parse_with(path, text, false, None)
    }

    /// `part`: when `text` is only part of the file ([`Config::load_for`]), that part and the
    /// file's whole text: errors name the file's lines, and `[agents.*]` may name any account
    /// of the file.
    fn parse_with(
        path: &Path,
        text: &str,
        lenient: bool,
        part: Option<(&sections::Part, &str)>,
    ) -> Result<Config, Failure> {
        if part.is_none()
            && let Some(config) = Config::parse_batches(path, text, lenient, BATCH)
        {
            return Ok(config);
        }
        Config::parse_tree(path, text, lenient, part)
    }

    /// As [`Config::parse_with`], from the whole text's TOML tree: the parse whose mistakes
    /// are reported.
    fn parse_tree(
        path: &Path,
        text: &str,
        lenient: bool,
        part: Option<(&sections::Part, &str)>,
    ) -> Result<Config, Failure> {
        let at = |span: Option<std::ops::Range<usize>>, msg: &str| {
            let line = span
                .map(|s| match part {
                    Some((p, file)) => line_of(file, p.file_offset(s.start)),
                    None => line_of(text, s.start),
                })
                .map(|l| format!(" line {l}"))
                .unwrap_or_default();
            Failure::config(format!("{}{line}: {msg}", path.display()))
        };
        let mut raw: RawConfig = toml::from_str(text).map_err(|e| {
            let msg = redact_quoted(&e.message().trim().replace('\n', " "));
            at(e.span(), &did_you_mean(&msg))
        })?;
        let raw_accounts = std::mem::take(&mut raw.accounts);
        let accounts = |base: &Path| {
            let mut accounts = BTreeMap::new();
            let mut seen = validate::Seen::default();
            for (name, spanned) in raw_accounts {
                let span = spanned.span();
                if let Err(e) = sidekey_vault::check_name(&name) {
                    return Err(at(Some(span), &e.to_string()));
                }
                let account = validate::validate(&name, spanned.into_inner(), base, &mut seen)
                    .map_err(|(s, m)| {
                        at(s.or(Some(span.clone())), &format!("account '{name}': {m}"))
                    })?;
                accounts.insert(name, account);
            }
            Ok(accounts)
        };
        Config::from_raw(
            path,
            raw,
            lenient,
            &at,
            accounts,
            part.map(|(p, _)| &p.names[..]),
        )
    }

    /// The whole file without its tree: the accounts' tables ([`sections::split`]) are parsed
    /// and validated a batch of about `batch` bytes ([`BATCH`]) at a time, each batch's TOML tree and raw
    /// settings dropped before the next, and the rest of the file as one document. The same
    /// config as the whole parse; `None` (and the whole parse, whose errors are the ones
    /// reported) for anything else: a text the scan does not follow, any mistake anywhere, an
    /// account whose tables fall in two batches, `[notify.*]` that `doctor` reports.
    fn parse_batches(path: &Path, text: &str, lenient: bool, batch: usize) -> Option<Config> {
        let split = sections::split(text)?;
        if split.tables.is_empty() {
            return None;
        }
        let raw: RawConfig = toml::from_str(&split.rest.text).ok()?;
        if !raw.accounts.is_empty() {
            return None;
        }
        let fail = |_: Option<std::ops::Range<usize>>, _: &str| Failure::config(String::new());
        let accounts = |base: &Path| {
            batch_accounts(text, &split.tables, base, batch).ok_or_else(|| fail(None, ""))
        };
        let config = Config::from_raw(path, raw, lenient, &fail, accounts, None).ok()?;
        config.notify_problem.is_none().then_some(config)
    }

    /// The config from its raw root: `accounts` validates the accounts (given the config's
    /// folder), at their place among the checks; `names` are the accounts `[agents.*]` may
    /// name when not those.
    fn from_raw(
        path: &Path,
        raw: RawConfig,
        lenient: bool,
        at: &dyn Fn(Option<std::ops::Range<usize>>, &str) -> Failure,
        accounts: impl FnOnce(&Path) -> Result<BTreeMap<String, Account>, Failure>,
        names: Option<&[&str]>,
    ) -> Result<Config, Failure> {
        let duration = |v: &Option<Spanned<toml::Value>>, default: u64, what: &str| {
            let Some(v) = v else {
                return Ok(Duration::from_secs(default));
            };
            parse_duration(v.get_ref()).ok_or_else(|| {
                at(
                    Some(v.span()),
                    &format!("{what} must be seconds or a duration like \"5m\""),
                )
            })
        };
        let refresh_margin = duration(&raw.refresh_margin, 300, "refresh_margin")?;
        let http_timeout = duration(&raw.http_timeout, 30, "http_timeout")?;
        if http_timeout.is_zero() {
            return Err(at(
                raw.http_timeout.map(|s| s.span()),
                "http_timeout must be above 0",
            ));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let key_file = raw.vault.key_file.map(|k| base.join(k));
        let store = match raw.vault.store {
            Some(s) => Some(
                store_url(s.get_ref())
                    .map_err(|m| at(Some(s.span()), &format!("[vault] store: {m}")))?,
            ),
            None => None,
        };
        let timezone = match raw.timezone {
            Some(t) => {
                if jiff::tz::TimeZone::get(t.get_ref()).is_err() {
                    return Err(at(
                        Some(t.span()),
                        &format!(
                            "unknown time zone '{}' (use an IANA name like Europe/Berlin)",
                            t.get_ref()
                        ),
                    ));
                }
                Some(t.into_inner())
            }
            None => None,
        };
        let (notify, notify_problem) = match notify::notify(raw.notify, base) {
            Ok(n) => (n, None),
            Err((s, m)) if lenient => (Notify::default(), Some(at(s, &m).message)),
            Err((s, m)) => return Err(at(s, &m)),
        };
        let server = Server::from_raw(raw.server, base);
        let approvals = approvals::validate(raw.approvals).map_err(|(s, m)| at(s, &m))?;
        let accounts = accounts(base)?;
        let own: Vec<&str>;
        let names = match names {
            Some(names) => names,
            None => {
                own = accounts.keys().map(String::as_str).collect();
                &own
            }
        };
        let agents = agents::validate(raw.agents, names).map_err(|(s, m)| at(s, &m))?;
        Ok(Config {
            path: path.to_path_buf(),
            exists: true,
            refresh_margin,
            http_timeout,
            timezone,
            key_file,
            store,
            notify,
            server,
            approvals,
            accounts,
            agents,
            notify_problem,
        })
    }

    pub fn account(&self, name: &str) -> Result<&Account, Failure> {
        sidekey_vault::check_name(name).map_err(|e| Failure::usage(e.to_string()))?;
        self.accounts.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.accounts.keys().map(String::as_str).collect();
            Failure::config(if !self.exists {
                format!(
                    "no config file at {} (set SIDEKEY_CONFIG or create it; see README)",
                    self.path.display()
                )
            } else if known.is_empty() {
                format!("{} defines no accounts", self.path.display())
            } else {
                format!(
                    "no account '{name}' in {} (known: {})",
                    self.path.display(),
                    known.join(", ")
                )
            })
        })
    }
}

/// About how many bytes of account tables [`Config::parse_batches`] hands the TOML parser at
/// once: a few hundred accounts, whose trees are small beside the file's.
const BATCH: usize = 64 * 1024;

/// The accounts of `tables` (the file's `[accounts.NAME…]` tables, [`sections::Split`]),
/// parsed a batch at a time: a run of adjacent tables of at least `batch` bytes, never cut
/// between two tables of one account. From [`THREAD_BATCHES`] batches on, the second half of
/// them (by bytes) is parsed and validated on a second thread. `None` for any mistake, and for
/// an account whose tables are not all in one batch (the whole parse then merges them, or
/// reports them).
fn batch_accounts(
    text: &str,
    tables: &[(&str, std::ops::Range<usize>)],
    base: &Path,
    batch: usize,
) -> Option<BTreeMap<String, Account>> {
    let mut batches = Vec::new();
    let mut i = 0;
    while i < tables.len() {
        let (start, mut end) = (tables[i].1.start, tables[i].1.end);
        let mut j = i + 1;
        while j < tables.len()
            && tables[j].1.start == end
            && (end - start < batch || tables[j].0 == tables[j - 1].0)
        {
            end = tables[j].1.end;
            j += 1;
        }
        batches.push(start..end);
        i = j;
    }
    let mut accounts = if batches.len() >= THREAD_BATCHES {
        // The first batch from the middle of the bytes on goes to the second thread.
        let middle = (batches[0].start + batches[batches.len() - 1].end) / 2;
        let cut = batches.partition_point(|b| b.start < middle).max(1);
        let (first, second) = batches.split_at(cut);
        std::thread::scope(|scope| {
            let other = std::thread::Builder::new()
                .name("config".into())
                .spawn_scoped(scope, || parse_accounts(text, second, base));
            let mut accounts = parse_accounts(text, first, base)?;
            let rest = match other {
                Ok(thread) => thread.join().ok()??,
                Err(_) => parse_accounts(text, second, base)?,
            };
            accounts.extend(rest);
            Some(accounts)
        })?
    } else {
        parse_accounts(text, &batches, base)?
    };
    // Built at once from the sorted accounts (full nodes, each account moved once), as long
    // as no account came from two batches.
    accounts.sort_by(|a, b| a.0.cmp(&b.0));
    if accounts.windows(2).any(|w| w[0].0 == w[1].0) {
        return None;
    }
    Some(accounts.into_iter().collect())
}

/// From how many batches [`batch_accounts`] uses a second thread: a file of about 256 KB of
/// accounts (2,000 of them), whose parse is long beside starting a thread.
const THREAD_BATCHES: usize = 4;

/// The accounts of `batches` (ranges of the file's text), each batch's tree and raw settings
/// dropped before the next; `None` for any mistake.
fn parse_accounts(
    text: &str,
    batches: &[std::ops::Range<usize>],
    base: &Path,
) -> Option<Vec<(String, Account)>> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Batch {
        accounts: InOrder,
    }
    let mut accounts = Vec::new();
    let mut seen = validate::Seen::default();
    for range in batches {
        let parsed: Batch = toml::from_str(&text[range.clone()]).ok()?;
        for (name, raw) in parsed.accounts.0 {
            sidekey_vault::check_name(&name).ok()?;
            let account = validate::validate(&name, raw, base, &mut seen).ok()?;
            accounts.push((name, account));
        }
    }
    Some(accounts)
}

/// A batch's `[accounts.*]` as the parser hands them (each name once: the parser refuses a
/// table defined twice), without building a map of them.
struct InOrder(Vec<(String, RawAccount)>);

impl<'de> Deserialize<'de> for InOrder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<InOrder, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = InOrder;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a table of accounts")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<InOrder, A::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(0));
                while let Some(entry) = m.next_entry()? {
                    out.push(entry);
                }
                Ok(InOrder(out))
            }
        }
        d.deserialize_map(Visitor)
    }
}

/// The line of `text` (from 1) that holds the byte at `at` (or its end).
fn line_of(text: &str, at: usize) -> usize {
    memchr::memchr_iter(b'\n', &text.as_bytes()[..at.min(text.len())]).count() + 1
}

/// Serde's "unknown field `tennant`, expected one of `provider`, `client_id`, … (27 of them)"
/// becomes "unknown field `tennant` (did you mean `tenant`?)": the closest known key when one is
/// close, else the keys themselves when they are few, else where they are all listed.
fn did_you_mean(msg: &str) -> String {
    let Some(start) = msg.find("unknown field `") else {
        return msg.to_string();
    };
    let rest = &msg[start + "unknown field `".len()..];
    let Some(end) = rest.find('`') else {
        return msg.to_string();
    };
    let unknown = &rest[..end];
    let after = &rest[end + 1..];
    // The expected keys: every `quoted` word after the unknown one.
    let known: Vec<&str> = after.split('`').skip(1).step_by(2).collect();
    let head = &msg[..start + "unknown field `".len() + end + 1];
    let lower = unknown.to_ascii_lowercase();
    // A few edits away, or the key cut short (`chat` for `chat_id`).
    let best = known
        .iter()
        .map(|k| {
            let d = strsim::levenshtein(&lower, k);
            let cut_short = lower.len() >= 3 && (k.starts_with(&lower) || lower.starts_with(*k));
            (if cut_short { d.min(1) } else { d }, *k)
        })
        .min();
    match best {
        Some((d, k)) if d <= (unknown.chars().count() / 3).max(2) => {
            format!("{head} (did you mean `{k}`?)")
        }
        _ if known.is_empty() => format!("{head}: this section takes no such key"),
        _ if known.len() <= 8 => format!(
            "{head}: the keys here are {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => format!("{head}: it is no key of this section (every key is in docs/config.md)"),
    }
}

/// Serde's type errors quote the offending value (`invalid type: string "..."`); that value could
/// be a secret typed into the wrong key, so quoted text is dropped from parse errors.
fn redact_quoted(msg: &str) -> String {
    // `invalid type: integer `123`, expected a string`: keep only what was expected.
    if let Some(at) = msg
        .find("invalid type")
        .or_else(|| msg.find("invalid value"))
    {
        let expected = msg[at..]
            .find(", expected ")
            .map(|e| msg[at + e + 2..].to_string())
            .unwrap_or_else(|| "a different kind of value".into());
        return format!("{}this value has the wrong type ({expected})", &msg[..at]);
    }
    let mut out = String::new();
    let mut inside = false;
    for c in msg.chars() {
        if c == '"' {
            if !inside {
                out.push_str("\"…\"");
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

pub fn parse_duration(v: &toml::Value) -> Option<Duration> {
    match v {
        toml::Value::Integer(i) if *i >= 0 => Some(Duration::from_secs(*i as u64)),
        toml::Value::String(s) => {
            let s = s.trim();
            if let Ok(n) = s.parse::<u64>() {
                return Some(Duration::from_secs(n));
            }
            let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
            let n: u64 = num.parse().ok()?;
            let mult = match unit.trim() {
                "s" | "sec" | "secs" | "seconds" => 1,
                "m" | "min" | "mins" | "minutes" => 60,
                "h" | "hour" | "hours" => 3600,
                _ => return None,
            };
            Some(Duration::from_secs(n.checked_mul(mult)?))
        }
        _ => None,
    }
}

/// A vault store URL as written in `[vault] store` or the file `SIDEKEY_VAULT_STORE_FILE` names:
/// `postgres://` or `postgresql://`, surrounding whitespace ignored. The error never repeats
/// the value (it may carry a password).
pub fn store_url(text: &str) -> Result<sidekey_flow::Secret, String> {
    let t = text.trim();
    if t.starts_with("postgres://") || t.starts_with("postgresql://") {
        Ok(sidekey_flow::Secret::new(t))
    } else {
        Err("expected a PostgreSQL URL, postgres://USER@HOST:PORT/DATABASE (add ?sslmode=require for a database beyond this machine)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("c.toml"), text).map_err(|f| f.message)
    }

    #[test]
    fn minimal_accounts() {
        let c = parse(
            r#"
refresh_margin = "10m"
[accounts.work]
provider = "microsoft"
client_id = "abc"
tenant = "organizations"

[accounts.gh]
provider = "github"
client_id = "Iv1.x"

[accounts.g]
provider = "google"
client_id = "x.apps.googleusercontent.com"
client_secret = "s"
scopes = ["openid", "drive.file"]
"#,
        )
        .unwrap();
        assert_eq!(c.refresh_margin, Duration::from_secs(600));
        let w = &c.accounts["work"];
        assert_eq!(
            w.endpoints.as_ref().unwrap().device_authorization.as_str(),
            "https://login.microsoftonline.com/organizations/oauth2/v2.0/devicecode"
        );
        assert!(w.scopes.contains(&"offline_access".to_string()));
        assert_eq!(
            c.accounts["g"].scopes[1],
            "https://www.googleapis.com/auth/drive.file"
        );
        assert_eq!(c.accounts["gh"].token_env, vec!["GH_TOKEN", "GITHUB_TOKEN"]);
    }

    #[test]
    fn git_hosts_default_per_provider_and_are_checked() {
        let c = parse(
            r#"
[accounts.gh]
provider = "github"
client_id = "Iv1.x"
[accounts.ghe]
provider = "github"
client_id = "Iv1.y"
git_hosts = ["Git.Corp.Example:8443"]
git_username = "bot"
[accounts.o]
provider = "oidc"
client_id = "i"
issuer = "https://idp.example.com"
"#,
        )
        .unwrap();
        assert_eq!(c.accounts["gh"].git_hosts, ["github.com"]);
        assert_eq!(c.accounts["gh"].git_username, "x-access-token");
        assert_eq!(c.accounts["ghe"].git_hosts, ["git.corp.example:8443"]);
        assert_eq!(c.accounts["ghe"].git_username, "bot");
        assert!(c.accounts["o"].git_hosts.is_empty());
        assert_eq!(c.accounts["o"].git_username, "oauth2");
        for bad in [
            "https://github.com",
            "user@github.com",
            "github.com/org",
            "github.com:99999",
            "",
        ] {
            let e = parse(&format!(
                "[accounts.g]\nprovider = \"github\"\nclient_id = \"x\"\ngit_hosts = [\"{bad}\"]\n"
            ))
            .unwrap_err();
            assert!(
                e.contains("git_hosts") && e.contains("line 4"),
                "{bad}: {e}"
            );
        }
        let e = parse(
            "[accounts.g]\nprovider = \"github\"\nclient_id = \"x\"\ngit_username = \"a=b\"\n",
        )
        .unwrap_err();
        assert!(e.contains("git_username"), "{e}");
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (
                "[accounts.a]\nprovider = \"myspace\"\nclient_id = \"x\"\n",
                "line 2",
                "unknown provider 'myspace'",
            ),
            (
                "[accounts.a]\nprovider = \"github\"\n",
                "line 1",
                "missing `client_id`",
            ),
            (
                "[accounts.a]\nprovider = \"github\"\nclient_id = \"x\"\nclinet_secret = \"y\"\n",
                "line 4",
                "unknown field `clinet_secret`",
            ),
            (
                "[accounts.a]\nprovider = \"google\"\nclient_id = \"x\"\nclient_secret = \"s\"\nscopes = [\"drive\"]\n",
                "line 5",
                "does not allow the scope drive",
            ),
            (
                "[accounts.a]\nprovider = \"google\"\nclient_id = \"x\"\n",
                "line 1",
                "client secret",
            ),
            (
                "[accounts.a]\nprovider = \"github\"\nclient_id = \"x\"\ntenant = \"common\"\n",
                "line 4",
                "`tenant` does not apply",
            ),
            (
                "[accounts.a]\nprovider = \"okta\"\nclient_id = \"x\"\n",
                "line 1",
                "needs `issuer`",
            ),
            (
                "[accounts.a]\nprovider = \"oidc\"\nclient_id = \"x\"\nissuer = \"http://idp.example.com\"\n",
                "line 4",
                "plain http",
            ),
            (
                "[accounts.A]\nprovider = \"github\"\nclient_id = \"x\"\n",
                "line 1",
                "invalid account name",
            ),
            ("refresh_margin = \"soon\"\n", "line 1", "refresh_margin"),
            ("[accounts.a\n", "line 1", ""),
        ];
        for (text, line, msg) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.starts_with(&format!("c.toml {line}:")), "{err}");
            assert!(err.contains(msg), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    /// Issue 10 item 11: a URL that is refused is shown without its credentials (userinfo, a
    /// token in the path or query): its origin at most.
    #[test]
    fn config_errors_never_print_credentials_in_urls() {
        let cases = [
            "[notify.webhook]\nurl = \"http://hooks.example/services/T000/B000/XXXXsecretXXXX\"\n",
            "[notify.webhook]\nurl = \"ftp://hooks.example/services/T000/B000/XXXXsecretXXXX\"\n",
            "[notify.webhook]\nurl = \"http://hooks.example/hook?token=XXXXsecretXXXX\"\n",
            "[notify.ntfy]\nserver = \"http://bob:XXXXsecretXXXX@ntfy.example\"\ntopic = \"t\"\n",
            "[accounts.a]\nprovider = \"oidc\"\nclient_id = \"x\"\nissuer = \"http://bob:XXXXsecretXXXX@idp.example.com\"\n",
            "[accounts.a]\nprovider = \"generic\"\nclient_id = \"x\"\ndevice_authorization_endpoint = \"https://bob:XXXXsecretXXXX@[idp/d\"\ntoken_endpoint = \"https://idp.example.com/t\"\n",
            "[accounts.a]\nprovider = \"generic\"\nclient_id = \"x\"\ndevice_authorization_endpoint = \"https://idp.example.com/d\"\ntoken_endpoint = \"gopher://bob:XXXXsecretXXXX@idp.example.com/t\"\n",
        ];
        for text in cases {
            let err = parse(text).unwrap_err();
            assert!(!err.contains("XXXXsecretXXXX"), "{err}");
            assert!(!err.contains("bob"), "{err}");
            assert!(err.contains("c.toml line"), "{err}");
        }
        // The host is still named, so the person can find the line.
        let err = parse(cases[0]).unwrap_err();
        assert!(err.contains("http://hooks.example"), "{err}");
        assert!(err.contains("plain http"), "{err}");
    }

    #[test]
    fn dialect_settings_errors_point_at_their_key() {
        let cases = [
            (
                "[accounts.a]\nprovider = \"microsoft\"\nclient_id = \"x\"\ntenant = \"a/b\"\n",
                "line 4",
                "invalid tenant 'a/b'",
            ),
            (
                "[accounts.a]\nprovider = \"okta\"\nclient_id = \"x\"\ndomain = \"d.example\"\n",
                "line 4",
                "`domain` does not apply to provider okta",
            ),
            (
                "[accounts.a]\nprovider = \"google\"\nclient_id = \"x\"\nclient_secret = \"s\"\naudience = \"api\"\n",
                "line 5",
                "`audience` does not apply to provider google",
            ),
            (
                "[accounts.a]\nprovider = \"auth0\"\nclient_id = \"x\"\ndomain = \"http://evil.example\"\n",
                "line 4",
                "plain http",
            ),
            (
                "[accounts.a]\nprovider = \"generic\"\nclient_id = \"x\"\ntoken_endpoint = \"https://idp.example.com/t\"\n",
                "line 1",
                "provider generic needs `device_authorization_endpoint` and `token_endpoint`",
            ),
        ];
        for (text, line, msg) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.starts_with(&format!("c.toml {line}:")), "{err}");
            assert!(err.contains(msg), "{err}");
        }
    }

    #[test]
    fn oidc_discovers_and_api_base_reaches_the_provider() {
        let c = parse(
            "[accounts.o]\nprovider = \"oidc\"\nclient_id = \"x\"\nissuer = \" https://idp.example.com \"\naudience = \"api\"\n\n[accounts.gh]\nprovider = \"github\"\nclient_id = \"x\"\napi_base = \"https://ghe.example.com/api/v3\"\n",
        )
        .unwrap();
        let o = &c.accounts["o"];
        assert!(o.endpoints.is_none());
        assert_eq!(o.issuer.as_deref(), Some("https://idp.example.com"));
        assert_eq!(o.device_params, [("audience".into(), "api".into())]);
        assert_eq!(o.scopes, ["openid", "profile", "email", "offline_access"]);
        let gh = &c.accounts["gh"];
        let p = gh
            .provider_with("https://github.com/login/oauth/access_token", None)
            .unwrap();
        assert_eq!(
            p.api_base.as_deref(),
            Some("https://ghe.example.com/api/v3")
        );
        assert_eq!(
            p.endpoints.userinfo.unwrap().as_str(),
            "https://ghe.example.com/api/v3/user"
        );
        assert_eq!(gh.scopes, ["read:user"]);
    }

    /// The Microsoft Graph root follows the authority's cloud (learn.microsoft.com/graph/deployments;
    /// docs/graph.md, "National clouds"): a token from a national cloud is only good for
    /// that cloud's Graph, both for `ms` calls and for "who signed in" at sign-in.
    #[test]
    fn microsoft_graph_base_follows_the_cloud() {
        let cases = [
            (
                "tenant = \"organizations\"",
                "https://graph.microsoft.com/v1.0",
            ),
            ("", "https://graph.microsoft.com/v1.0"),
            (
                "authority = \"https://login.microsoftonline.com/contoso.onmicrosoft.com\"",
                "https://graph.microsoft.com/v1.0",
            ),
            (
                "authority = \"https://login.microsoftonline.us/contoso.onmicrosoft.us\"",
                "https://graph.microsoft.us/v1.0",
            ),
            (
                "authority = \"https://login.chinacloudapi.cn/contoso.partner.onmschina.cn/\"",
                "https://microsoftgraph.chinacloudapi.cn/v1.0",
            ),
            (
                "authority = \"https://login.partner.microsoftonline.cn/common\"",
                "https://microsoftgraph.chinacloudapi.cn/v1.0",
            ),
            // DoD shares the US Gov login host: its Graph must be named explicitly.
            (
                "authority = \"https://login.microsoftonline.us/dod-tenant\"\napi_base = \"https://dod-graph.microsoft.us/v1.0\"",
                "https://dod-graph.microsoft.us/v1.0",
            ),
        ];
        for (extra, graph) in cases {
            let c = parse(&format!(
                "[accounts.w]\nprovider = \"microsoft\"\nclient_id = \"x\"\n{extra}\n"
            ))
            .unwrap_or_else(|e| panic!("{extra}: {e}"));
            let w = &c.accounts["w"];
            assert_eq!(w.api_base.as_deref(), Some(graph), "{extra}");
            assert_eq!(
                w.endpoints
                    .as_ref()
                    .unwrap()
                    .userinfo
                    .as_ref()
                    .unwrap()
                    .as_str(),
                format!("{graph}/me"),
                "{extra}"
            );
            let p = w
                .provider_with("https://login.example.invalid/token", None)
                .unwrap();
            assert_eq!(p.api_base.as_deref(), Some(graph), "{extra}");
        }
    }

    #[test]
    fn an_unknown_microsoft_cloud_needs_api_base() {
        let err = parse(
            "[accounts.w]\nprovider = \"microsoft\"\nclient_id = \"x\"\nauthority = \"https://login.example.com/t\"\n",
        )
        .unwrap_err();
        assert!(err.starts_with("c.toml line 4:"), "{err}");
        assert!(err.contains("`api_base`"), "{err}");
        assert!(err.contains("login.example.com"), "{err}");
        let c = parse(
            "[accounts.w]\nprovider = \"microsoft\"\nclient_id = \"x\"\nauthority = \"https://login.example.com/t\"\napi_base = \"https://graph.example.com/v1.0/\"\n",
        )
        .unwrap();
        assert_eq!(
            c.accounts["w"]
                .endpoints
                .as_ref()
                .unwrap()
                .userinfo
                .as_ref()
                .unwrap()
                .as_str(),
            "https://graph.example.com/v1.0/me"
        );
    }

    #[test]
    fn values_of_the_wrong_type_are_not_quoted() {
        for text in [
            "[accounts.a]\nprovider = \"github\"\nclient_id = \"x\"\nclient_secret = 987654321\n",
            "[accounts.a]\nprovider = \"github\"\nclient_id = \"x\"\nscopes = \"s3cr\\\"et-value\"\n",
        ] {
            let err = parse(text).unwrap_err();
            assert!(
                !err.contains("987654321") && !err.contains("et-value"),
                "{err}"
            );
            assert!(err.contains("line 4"), "{err}");
        }
    }

    /// Issue 20, item 4: a mistyped key gets the closest known one, not the list of them all.
    #[test]
    fn a_mistyped_key_gets_a_did_you_mean() {
        let err = parse(
            "[accounts.a]\nprovider = \"microsoft\"\nclient_id = \"x\"\ntennant = \"common\"\n",
        )
        .unwrap_err();
        assert!(err.starts_with("c.toml line 4:"), "{err}");
        assert!(
            err.contains("unknown field `tennant` (did you mean `tenant`?)"),
            "{err}"
        );
        assert!(
            !err.contains("client_secret"),
            "the whole list again: {err}"
        );
        let err = parse("refresh_margn = 5\n").unwrap_err();
        assert!(err.contains("did you mean `refresh_margin`?"), "{err}");
        let err = parse("[notify.telegram]\nchat = 5\n").unwrap_err();
        assert!(err.contains("did you mean `chat_id`?"), "{err}");
        // Nothing close: no guess, and where the keys are.
        let err = parse("[accounts.a]\nprovider = \"github\"\nclient_id = \"x\"\nzzzzzzzz = 1\n")
            .unwrap_err();
        assert!(!err.contains("did you mean"), "{err}");
        assert!(err.contains("docs/config.md"), "{err}");
    }

    /// `[agents.NAME]`: a hash (never a key), existing accounts, known writes, one key each.
    #[test]
    fn agents_are_checked_against_the_config() {
        let acc = "[accounts.gh]\nprovider = \"github\"\nclient_id = \"x\"\n";
        let h1 = "a".repeat(64);
        let h2 = "B".repeat(64);
        let c = parse(&format!(
            "{acc}[agents.one]\nkey_sha256 = \"{h1}\"\naccounts = [\"gh\"]\nallow = [\"logout\"]\n[agents.all]\nkey_sha256 = \"{h2}\"\naccounts = [\"*\"]\n[agents.none]\nkey_sha256 = \"{}\"\n",
            "c".repeat(64)
        ))
        .unwrap();
        assert_eq!(c.agents["one"].accounts, Some(vec!["gh".to_string()]));
        assert_eq!(c.agents["one"].key_sha256, [0xaa; 32]);
        assert_eq!(c.agents["all"].accounts, None);
        assert_eq!(c.agents["none"].accounts, Some(vec![]));
        let cases = [
            (
                "key_sha256 = \"my-secret-api-key-0123\"\n",
                "line 5",
                "SHA-256",
            ),
            (
                &format!("key_sha256 = \"{h1}\"\naccounts = [\"nope\"]\n"),
                "line 6",
                "no account 'nope'",
            ),
            (
                &format!("key_sha256 = \"{h1}\"\naccounts = [\"*\", \"gh\"]\n"),
                "line 4",
                "stands alone",
            ),
            (
                &format!("key_sha256 = \"{h1}\"\nallow = [\"ms.me\"]\n"),
                "line 6",
                "needs no allowing",
            ),
            (
                &format!("key_sha256 = \"{h1}\"\nallow = [\"logout\"]\nask = [\"logout\"]\n"),
                "line 4",
                "both allow and ask",
            ),
            (&format!("key = \"{h1}\"\n"), "line 5", "unknown field"),
        ];
        for (body, line, msg) in cases {
            let err = parse(&format!("{acc}[agents.bot]\n{body}")).unwrap_err();
            assert!(err.starts_with(&format!("c.toml {line}:")), "{err}");
            assert!(err.contains(msg), "{err}");
            assert!(!err.contains("my-secret-api-key"), "{err}");
        }
        let err = parse(&format!(
            "{acc}[agents.one]\nkey_sha256 = \"{h1}\"\n[agents.two]\nkey_sha256 = \"{}\"\n",
            h1.to_uppercase()
        ))
        .unwrap_err();
        assert!(err.contains("also agent 'one''s"), "{err}");
        let err = parse(&format!(
            "[agents.{}]\nkey_sha256 = \"{h1}\"\n",
            "a".repeat(41)
        ))
        .unwrap_err();
        assert!(err.contains("invalid agent name"), "{err}");
    }

    /// Issue 23, item 4: `load_for` validates the account asked for alone, and its mistakes
    /// name the file's own lines though the other accounts are not handed to the parser; the
    /// whole-file load still reports a mistake anywhere.
    #[test]
    fn load_for_reads_one_account_and_names_the_file_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let mut text = String::from("refresh_margin = 60\n\n");
        for i in 0..50 {
            text += &format!(
                "[accounts.a{i}]\nprovider = \"github\"\nclient_id = \"x\"\nscopes = [\"repo\"]\n\n"
            );
        }
        text += "[accounts.bad]\nprovider = \"myspace\"\n\n[accounts.k]\nprovider = \"github\"\nclient_id = \"x\"\nclinet = 1\n[agents.bot]\nkey_sha256 = \"";
        text += &"a".repeat(64);
        text += "\"\naccounts = [\"a3\"]\n";
        std::fs::write(&path, &text).unwrap();
        let line = |l: &str| text.lines().position(|t| t == l).unwrap() + 1;

        let c = Config::load_for(&path, "a7").unwrap();
        assert_eq!(c.accounts.keys().collect::<Vec<_>>(), ["a7"]);
        assert_eq!(c.agents["bot"].accounts, Some(vec!["a3".to_string()]));
        let clinet = line("clinet = 1");
        let e = Config::load_for(&path, "k").unwrap_err().message;
        assert!(e.contains(&format!(" line {clinet}: ")), "{e}");
        let e = Config::load_for(&path, "bad").unwrap_err().message;
        let myspace = line("provider = \"myspace\"");
        assert!(e.contains(&format!(" line {myspace}: ")), "{e}");
        assert!(e.contains("unknown provider 'myspace'"), "{e}");
        // The whole file (and an account it does not have, which reads the whole file): the
        // first mistake the parser meets.
        for e in [Config::load(&path), Config::load_for(&path, "zz")] {
            let e = e.unwrap_err().message;
            assert!(e.contains(&format!(" line {clinet}: ")), "{e}");
        }
    }

    /// The whole config, each account's secret shown (`Debug` redacts them).
    fn shown(c: &Config) -> String {
        let secrets: Vec<_> = c
            .accounts
            .values()
            .map(|a| a.client_secret.as_ref().map(|s| s.expose().to_string()))
            .collect();
        format!("{c:?} {secrets:?}")
    }

    /// Issue 23, item 4: random files of accounts, their subtables and other tables (a fixed
    /// seed). Whenever the batched parse answers, the whole parse gives the same config; when
    /// it does not, the commands get the whole parse's config or mistake. Batches of every size.
    #[test]
    fn batched_parse_is_the_whole_parse() {
        const GOOD: &[&str] = &[
            "[accounts.a]\nprovider = \"github\"\nclient_id = \"x\"\n",
            "[accounts.b]\nprovider = \"microsoft\"\nclient_id = \"m\"\ntenant = \"organizations\"\nscopes = [\"User.Read\"]\n",
            "[ accounts . 'c' ]\nprovider = \"google\"\nclient_id = \"g\"\nclient_secret = \"s3\"\nscopes = [\"openid\", \"drive.file\"]\n",
            "[accounts.\"d\"]\nprovider = \"oidc\"\nissuer = \"https://idp.example.com\"\nclient_id = \"o\"\n",
            "[accounts.e]\nprovider = \"github\"\nclient_id = \"y\"\ngit_hosts = [\n  \"GitHub.com\",\n]\n",
            "[accounts.a.policy]\nallow_token_export = false\n",
            "[accounts.c.drive]\ninbox_folder = \"In\"\n",
            "[accounts.b.policy]\nallowed_scopes = [\"User.Read\"]\n",
            "[server]\nsocket = '''\n[accounts.a]\n'''\n",
            "[agents.bot]\nkey_sha256 = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\naccounts = [\"*\"]\n",
            "[vault]\nstore = \"postgres://u@h/db\"\n",
            "# [accounts.z]\n",
            "\n",
        ];
        const BAD: &[&str] = &[
            "[accounts.f]\nprovider = \"microsoft\"\nclient_id = \"m\"\ntenant = \"a/b\"\n",
            "[accounts.g]\nprovider = \"myspace\"\n",
            "[accounts.h]\nprovider = \"github\"\nclient_id = \"x\"\nclinet = 1\n",
            "[accounts.Bad]\nprovider = \"github\"\nclient_id = \"x\"\n",
            "[agents.one]\nkey_sha256 = \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"\naccounts = [\"a\"]\n",
            "x = 1\n",
            "note = \"\"\"\nq\"\"\"\n",
            "[accounts.i]\nprovider = \"github\"\nclient_id = \"x\"\nscopes = [\"a\"\n",
        ];
        let mut seed: u64 = 4;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        let path = Path::new("c.toml");
        let (mut same, mut refused) = (0, 0);
        for round in 0..6000 {
            let roots = ["", "refresh_margin = 60\n", "timezone = \"UTC\"\n"];
            let mut text = String::from(roots[next(roots.len())]);
            for _ in 0..next(8) + 1 {
                text.push_str(match next(10) {
                    0 => BAD[next(BAD.len())],
                    _ => GOOD[next(GOOD.len())],
                });
            }
            if round % 4 == 0 {
                text = text.replace('\n', "\r\n");
            }
            let whole = Config::parse_tree(path, &text, false, None);
            for batch in [1, 60, 200, BATCH] {
                match Config::parse_batches(path, &text, false, batch) {
                    Some(c) => {
                        let whole = whole.as_ref().unwrap_or_else(|e| panic!("{text}\n{e:?}"));
                        assert_eq!(shown(&c), shown(whole), "{text}");
                        same += 1;
                    }
                    None => refused += whole.is_err() as usize,
                }
            }
            // What the commands get is the whole parse's, mistakes and all.
            let got = Config::parse(path, &text).map(|c| shown(&c));
            let want = whole.map(|c| shown(&c));
            assert_eq!(
                got.map_err(|e| e.message),
                want.map_err(|e| e.message),
                "{text}"
            );
        }
        assert!(
            same > 3000 && refused > 3000,
            "{same} the same, {refused} refused"
        );
    }

    /// The batched parse reads a file like the growth bench's, in batches of every size, and
    /// a mistake in its last account is the whole parse's, with its line.
    #[test]
    fn batched_parse_of_many_accounts() {
        let mut text = String::from("refresh_margin = \"5m\"\n\n");
        for i in 0..400 {
            text += &format!("[accounts.acct-{i:05}]\n");
            text += match i % 4 {
                0 => {
                    "provider = \"oidc\"\nissuer = \"https://idp.example.com\"\nclient_id = \"test-client\"\n"
                }
                1 => {
                    "provider = \"microsoft\"\nclient_id = \"00000000-0000-0000-0000-000000000001\"\ntenant = \"organizations\"\nscopes = [\"User.Read\", \"Calendars.ReadBasic\"]\n"
                }
                2 => "provider = \"github\"\nclient_id = \"Iv1.0123456789abcdef\"\n",
                _ => {
                    "provider = \"google\"\nclient_id = \"x.apps.googleusercontent.com\"\nclient_secret = \"not-a-secret\"\nscopes = [\"openid\", \"drive.file\"]\n"
                }
            };
            text += "\n";
        }
        text += "[agents.bot]\nkey_sha256 = \"";
        text += &"b".repeat(64);
        text += "\"\naccounts = [\"acct-00007\"]\n";
        let path = Path::new("c.toml");
        let whole = shown(&Config::parse_tree(path, &text, false, None).unwrap());
        for batch in [1, 1000, 10_000, BATCH] {
            let c = Config::parse_batches(path, &text, false, batch).unwrap();
            assert_eq!(c.accounts.len(), 400);
            assert_eq!(shown(&c), whole);
        }
        let bad =
            format!("{text}[accounts.zz]\nprovider = \"github\"\nclient_id = \"x\"\nclinet = 1\n");
        assert!(Config::parse_batches(path, &bad, false, 1000).is_none());
        let e = Config::parse(path, &bad).unwrap_err().message;
        let line = bad.lines().position(|l| l == "clinet = 1").unwrap() + 1;
        assert!(e.starts_with(&format!("c.toml line {line}: ")), "{e}");
    }

    #[test]
    fn secret_not_in_errors() {
        let err = parse("[accounts.a]\nprovider = \"github\"\nclient_id = \"x\"\nclient_secret = \"hunter2-secret\"\nnope = 1\n").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
