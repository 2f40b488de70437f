//! `sidekey git-credential ACTION`: git's credential-helper protocol (`docs/openclaw.md`, "git
//! credential helpers"), so `git clone/fetch/push` over HTTPS get a fresh
//! token of the account that serves the host, and nobody stores a token in git's config.
//!
//! * git writes `key=value` lines and ends with a blank line (or EOF); the helper answers the
//!   same way. Unknown keys are ignored, as git asks of helpers.
//! * `get`: for `protocol=https` (or `http` to a loopback host, for tests and local mirrors)
//!   and a `host` listed in exactly one account's `git_hosts` (GitHub: `github.com`), prints
//!   `username=` (GitHub: `x-access-token`), `password=TOKEN` and, when known,
//!   `password_expiry_utc=` (so a storage helper after this one does not keep it longer). For
//!   any other host it prints nothing and exits 0, so git asks its next helper.
//! * `store` and `erase`: read and ignored, exit 0. sidekey owns the token: git must not make
//!   it keep a password it did not issue, and "forgetting" a rejected token is `sidekey logout`'s
//!   job, not git's (git sends `erase` after every 401, which may be a missing repo permission).
//! * Any other action: ignored (git's rule for helpers, so newer gits keep working).
//!
//! It is a token export: through the daemon the account's policy must allow it
//! (`allow_token_export`, as for `sidekey token`), and the audit log records
//! `token` with `{"via": "git_credential", "host": …}`. The daemon's guard checks the host
//! against the account's `git_hosts` first (a client of the daemon is not necessarily this
//! helper): a host the account does not serve is refused (exit 6) and recorded as
//! `{"via": "git_credential", "refused_host": …}`, never as a host a token went to.

use crate::api::{AccountSetup, TokenPurpose};
use crate::backend::Backend;
use crate::error::{Exit, Failure, Reason};
use std::io::{Read, Write};

/// git sends a handful of short lines; anything bigger is not git.
const MAX_INPUT: u64 = 64 * 1024;

/// The request git sent: the keys sidekey looks at.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub protocol: Option<String>,
    pub host: Option<String>,
}

/// Parses git's `key=value` lines up to a blank line or EOF.
pub fn parse(input: &str) -> Result<Request, Failure> {
    let mut r = Request::default();
    for line in input.lines() {
        if line.is_empty() {
            break;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(Failure::usage(
                "git-credential: expected key=value lines from git",
            ));
        };
        match k {
            "protocol" => r.protocol = Some(v.to_ascii_lowercase()),
            "host" => r.host = Some(v.to_ascii_lowercase()),
            // `url=` appears when a person types input for `git credential fill`; git itself
            // splits it before calling helpers, but a helper may be called directly.
            "url" if r.host.is_none() => {
                if let Ok(u) = url::Url::parse(v) {
                    r.protocol = Some(u.scheme().to_string());
                    r.host = u.host_str().map(|h| match u.port() {
                        Some(p) => format!("{h}:{p}"),
                        None => h.to_string(),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(r)
}

/// Plain http only to this machine: anything else would send the token in cleartext.
fn protocol_ok(protocol: &str, host: &str) -> bool {
    match protocol {
        "https" => true,
        "http" => {
            let name = match host.rsplit_once(':') {
                Some((n, p)) if p.parse::<u16>().is_ok() => n,
                _ => host,
            };
            matches!(name, "127.0.0.1" | "localhost" | "[::1]")
        }
        _ => false,
    }
}

/// The account that serves `host`: `Ok(None)` when none does (not ours), an error when several
/// do and the helper was not told which (`--account`).
pub fn pick<'a>(
    accounts: &'a [(String, AccountSetup)],
    host: &str,
    only: Option<&str>,
) -> Result<Option<&'a (String, AccountSetup)>, Failure> {
    let serving: Vec<&(String, AccountSetup)> = accounts
        .iter()
        .filter(|(name, s)| only.is_none_or(|o| o == name) && s.git_hosts.iter().any(|h| h == host))
        .collect();
    match serving.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        several => Err(Failure::usage(format!(
            "git-credential: several accounts serve {host} ({}): configure the helper as '!sidekey git-credential --account NAME'",
            several
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The configured accounts with what the config says of them: locally from the config, in
/// client mode from the daemon's `status`.
pub async fn accounts(backend: &Backend) -> Result<Vec<(String, AccountSetup)>, Failure> {
    match backend.local() {
        Some(l) => Ok(l
            .ctx
            .config
            .accounts
            .values()
            .map(|a| (a.name.clone(), AccountSetup::of(a)))
            .collect()),
        None => Ok(backend
            .status(None)
            .await?
            .accounts
            .into_iter()
            .filter_map(|a| a.setup.map(|s| (a.name, s)))
            .collect()),
    }
}

fn read_stdin() -> Result<String, Failure> {
    let mut buf = Vec::new();
    std::io::stdin()
        .take(MAX_INPUT + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Failure::new(Exit::Usage, Reason::Io, format!("cannot read stdin: {e}")))?;
    if buf.len() as u64 > MAX_INPUT {
        return Err(Failure::usage("git-credential: input from git is too long"));
    }
    String::from_utf8(buf).map_err(|_| Failure::usage("git-credential: input is not UTF-8"))
}

pub async fn run(action: &str, only: Option<&str>) -> Result<(), Failure> {
    let input = read_stdin()?;
    if action != "get" {
        // store, erase, and actions of future gits: sidekey owns the token (see above).
        return Ok(());
    }
    let req = parse(&input)?;
    let (Some(protocol), Some(host)) = (req.protocol, req.host) else {
        return Ok(());
    };
    if !crate::config::valid_git_host(&host) || !protocol_ok(&protocol, &host) {
        return Ok(());
    }
    let backend = Backend::from_env()?;
    let accounts = accounts(&backend).await?;
    let Some((name, setup)) = pick(&accounts, &host, only)? else {
        return Ok(());
    };
    let purpose = TokenPurpose::GitCredential { host: host.clone() };
    let r = backend.token_for(name, Some(&purpose)).await;
    let t = r?;
    let token = t.access_token.expose();
    if token.contains(['\n', '\0']) {
        return Err(Failure::internal("the token cannot be passed to git"));
    }
    let mut out = format!("username={}\npassword={token}\n", setup.git_username);
    if let Some(exp) = t.expires_at {
        out.push_str(&format!("password_expiry_utc={exp}\n"));
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush())
        .map_err(|e| Failure::internal(format!("cannot write to git: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(hosts: &[&str]) -> AccountSetup {
        AccountSetup {
            git_hosts: hosts.iter().map(|h| h.to_string()).collect(),
            git_username: "x-access-token".into(),
            ..Default::default()
        }
    }

    #[test]
    fn parses_what_git_sends() {
        let r = parse("protocol=https\nhost=GitHub.com\npath=o/r.git\nwwwauth[]=Basic realm=\"GitHub\"\n\nprotocol=ignored\n").unwrap();
        assert_eq!(r.protocol.as_deref(), Some("https"));
        assert_eq!(r.host.as_deref(), Some("github.com"));
        let r = parse("url=http://127.0.0.1:8080/x.git\n").unwrap();
        assert_eq!(r.host.as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(r.protocol.as_deref(), Some("http"));
        assert_eq!(parse("").unwrap(), Request::default());
        assert_eq!(parse("garbage\n").unwrap_err().exit, Exit::Usage);
    }

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(protocol_ok("https", "github.com"));
        assert!(protocol_ok("http", "127.0.0.1:8080"));
        assert!(protocol_ok("http", "localhost"));
        assert!(!protocol_ok("http", "github.com"));
        assert!(!protocol_ok("http", "127.0.0.1.evil.com"));
        assert!(!protocol_ok("ssh", "github.com"));
    }

    #[test]
    fn picks_the_one_account_for_the_host() {
        let a = vec![
            ("gh".to_string(), setup(&["github.com"])),
            ("ms".to_string(), setup(&[])),
            ("ghe".to_string(), setup(&["git.corp.example:8443"])),
        ];
        assert_eq!(pick(&a, "github.com", None).unwrap().unwrap().0, "gh");
        assert!(pick(&a, "gitlab.com", None).unwrap().is_none());
        assert!(pick(&a, "github.com", Some("ghe")).unwrap().is_none());
        let two = vec![
            ("a".to_string(), setup(&["github.com"])),
            ("b".to_string(), setup(&["github.com"])),
        ];
        let e = pick(&two, "github.com", None).unwrap_err();
        assert!(e.message.contains("a, b") && e.message.contains("--account"));
        assert_eq!(pick(&two, "github.com", Some("b")).unwrap().unwrap().0, "b");
    }
}
