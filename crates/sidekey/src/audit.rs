//! The audit log: `$SIDEKEY_HOME/audit.log`, append-only JSON lines, one per operation — who
//! asked, which account, what, the decision, the outcome and how long it took. Never a secret:
//! entries are built from names, reasons and counts, never from tokens or request bodies.

use crate::account::{now_unix, rfc3339};
use crate::error::Failure;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Entry {
    pub time: String,
    pub caller: String,
    pub account: Option<String>,
    pub operation: String,
    /// A summary of the arguments (names and flags, never values that could be secret).
    pub args: serde_json::Value,
    /// `allow` or `deny`.
    pub decision: String,
    /// `ok` or the failure reason.
    pub outcome: String,
    pub duration_ms: u64,
}

pub fn path(home: &Path) -> PathBuf {
    home.join("audit.log")
}

/// Record one operation. Failing to write the log is reported on stderr but does not fail the
/// operation (a full disk must not lock the person out of their own tokens).
#[allow(clippy::too_many_arguments)]
pub fn record(
    home: &Path,
    caller: &str,
    account: Option<&str>,
    operation: &str,
    args: serde_json::Value,
    started: Instant,
    result: &Result<(), Failure>,
) {
    let (decision, outcome) = match result {
        Ok(()) => ("allow", "ok".to_string()),
        Err(f) if f.exit == crate::error::Exit::Policy || f.reason.is_refusal() => {
            ("deny", f.reason.to_string())
        }
        Err(f) => ("allow", f.reason.to_string()),
    };
    let entry = Entry {
        time: rfc3339(now_unix()),
        caller: caller.to_string(),
        account: account.map(str::to_owned),
        operation: operation.to_string(),
        args,
        decision: decision.into(),
        outcome,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    if let Err(e) = append(home, &entry) {
        eprintln!("sidekey: warning: could not write the audit log: {e}");
    }
}

fn append(home: &Path, entry: &Entry) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path(home))?;
    // One write per entry: O_APPEND keeps concurrent writers' lines whole.
    f.write_all(&line)
}

/// The caller of a local command.
pub fn local_caller() -> String {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata("/proc/self") {
        Ok(m) => format!("cli uid={}", m.uid()),
        Err(_) => "cli".into(),
    }
}

/// `sidekey audit [--since DURATION] [--json]`.
pub fn show(home: &Path, since: Option<&str>, json: bool) -> Result<(), Failure> {
    let cutoff = match since {
        None => None,
        Some(s) => {
            let secs = crate::config::parse_duration(&toml::Value::String(s.to_string()))
                .ok_or_else(|| {
                    Failure::usage(format!(
                        "--since '{s}': use a duration like 30m, 24h or 3600"
                    ))
                })?;
            Some(now_unix() - secs.as_secs() as i64)
        }
    };
    let text = match std::fs::read_to_string(path(home)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Failure::internal(format!("cannot read the audit log: {e}"))),
    };
    let mut out = std::io::stdout().lock();
    for line in text.lines() {
        let Ok(e) = serde_json::from_str::<Entry>(line) else {
            continue; // a torn last line after a crash is skipped, not fatal
        };
        if let Some(c) = cutoff {
            let t = e
                .time
                .parse::<jiff::Timestamp>()
                .map(|t| t.as_second())
                .unwrap_or(0);
            if t < c {
                continue;
            }
        }
        let r = if json {
            writeln!(out, "{line}")
        } else {
            writeln!(
                out,
                "{}  {:<22} {:<12} {:<8} {:<5} {:<14} {}ms",
                e.time,
                e.caller,
                e.account.as_deref().unwrap_or("-"),
                e.operation,
                e.decision,
                e.outcome,
                e.duration_ms
            )
        };
        if r.is_err() {
            break; // stdout closed (e.g. piped into head)
        }
    }
    Ok(())
}
