//! The audit log: `$SIDEKEY_HOME/audit.log`, append-only JSON lines, one per operation — who
//! asked, which account, what, the decision, the outcome and how long it took. Never a secret:
//! entries are built from names, reasons and counts, never from tokens or request bodies.
//!
//! Nothing a caller sends can grow it without bound or forge it: what an entry records is
//! capped ([`MAX_NAME`], [`MAX_ARGS`]), refusals before the API key are written one by one only
//! up to a small burst per caller and minute and counted after that ([`Refusals`]), every entry
//! is one JSON line, and the text view escapes every field it shows ([`escape`]).

use crate::error::Failure;
use crate::time::{now_unix, rfc3339};
use serde::{Deserialize, Serialize};
use sidekey_vault::Vault;
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The most characters an account or operation name keeps in an entry (account names are at
/// most 64 characters; anything longer is a caller's invention).
pub const MAX_NAME: usize = 64;
/// The most bytes an entry's argument summary keeps; a longer one is replaced by its size.
pub const MAX_ARGS: usize = 1024;
/// Refusals before the API key written one by one per caller and [`REFUSAL_WINDOW`].
pub const REFUSAL_BURST: u32 = 10;
pub const REFUSAL_WINDOW: Duration = Duration::from_secs(60);

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Entry {
    pub time: String,
    pub caller: String,
    pub account: Option<String>,
    pub operation: String,
    /// A summary of the arguments (names and flags, never values that could be secret).
    pub args: serde_json::Value,
    /// `allow` (it ran and succeeded), `deny` (refused before it ran: by the policy, the API
    /// key, or as invalid — an unknown account, bad arguments) or `fail` (it passed every check,
    /// ran, and failed: not signed in, the provider, the network). A refusal or a failure is
    /// never `allow`; the outcome says why.
    pub decision: String,
    /// `ok` or the failure reason.
    pub outcome: String,
    pub duration_ms: u64,
    /// A summary in words, on aggregate entries ("N refused requests from api:tcp in the last
    /// minute").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The process that wrote it (`HOST:PID`), on entries of the shared audit table of a vault
    /// in PostgreSQL ([`to_database`]): which daemon of the fleet, or which machine's command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon: Option<String>,
}

pub fn path(home: &Path) -> PathBuf {
    home.join("audit.log")
}

/// How far a call got before its outcome: the audit entry's decision follows from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reached {
    /// Stopped by a check before it ran (its arguments, its account, the policy, the API key).
    Checks,
    /// Past every check: it ran.
    Run,
}

/// The decision an entry records: `allow` only for a call that ran and succeeded; `ask` for a
/// call that waits for the person's approval (`crate::approvals`); a refusal
/// (the policy, an API key, someone else's identity) or anything stopped before it ran is
/// `deny`; a call that ran and failed is `fail`.
pub fn decision(reached: Reached, result: &Result<(), Failure>) -> &'static str {
    match (reached, result) {
        (_, Ok(())) => "allow",
        // Waiting for the person: neither refused nor run.
        (_, Err(f)) if f.reason == crate::error::Reason::ApprovalPending => "ask",
        (_, Err(f)) if f.exit == crate::error::Exit::Policy || f.reason.is_refusal() => "deny",
        (Reached::Checks, Err(_)) => "deny",
        (Reached::Run, Err(_)) => "fail",
    }
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
    reached: Reached,
    result: &Result<(), Failure>,
) {
    let decision = decision(reached, result);
    let outcome = match result {
        Ok(()) => "ok".to_string(),
        Err(f) => f.reason.to_string(),
    };
    let entry = Entry {
        time: rfc3339(now_unix()),
        caller: cap(caller, MAX_NAME),
        account: account.map(|a| cap(a, MAX_NAME)),
        operation: cap(operation, MAX_NAME),
        args: cap_args(args),
        decision: decision.into(),
        outcome,
        duration_ms: started.elapsed().as_millis() as u64,
        daemon: None,
        note: None,
    };
    write(home, &entry);
}

/// An entry for something that happened to an account without a caller asking (the daemon
/// keeping refreshed tokens it could not store, and storing them later): `outcome` is `ok` or a
/// reason word, `note` says what in words (never a secret). Its decision follows the outcome as
/// [`decision`]'s does: `allow` only for `ok`, else `fail` (tokens the vault refused are a
/// failure, never written as `allow`).
pub fn event(home: &Path, account: &str, operation: &str, outcome: &str, note: String) {
    let entry = Entry {
        time: rfc3339(now_unix()),
        caller: "daemon".into(),
        account: Some(cap(account, MAX_NAME)),
        operation: cap(operation, MAX_NAME),
        args: serde_json::json!({}),
        decision: if outcome == "ok" { "allow" } else { "fail" }.into(),
        outcome: outcome.into(),
        duration_ms: 0,
        daemon: None,
        note: Some(cap(&note, 600)),
    };
    write(home, &entry);
}

/// An entry in an approval's life (`crate::approvals`): requested (decision `ask`), approved
/// (`allow`), denied, expired, a press refused (`deny`). `caller` is who acted (the agent that
/// asked, the approver that pressed); `args` hold the approval's id and hash, never its text.
pub fn approval(
    home: &Path,
    caller: &str,
    account: &str,
    operation: &str,
    args: serde_json::Value,
    decision: &str,
    outcome: &str,
) {
    let entry = Entry {
        time: rfc3339(now_unix()),
        caller: cap(caller, MAX_NAME),
        account: Some(cap(account, MAX_NAME)),
        operation: cap(operation, MAX_NAME),
        args: cap_args(args),
        decision: decision.into(),
        outcome: outcome.into(),
        duration_ms: 0,
        daemon: None,
        note: None,
    };
    write(home, &entry);
}

fn write(home: &Path, entry: &Entry) {
    if let Some(db) = DATABASE.get() {
        let mut shared = entry.clone();
        shared.daemon = Some(db.daemon.clone());
        let json = serde_json::to_string(&shared).unwrap_or_default();
        match db.vault.audit_append(&db.daemon, &json) {
            Ok(()) => return,
            // Nothing is lost: the entry goes to this machine's file instead, and says so.
            Err(e) => eprintln!(
                "sidekey: warning: could not write the audit entry to the database ({e}); kept in {}",
                path(home).display()
            ),
        }
    }
    if let Err(e) = append(home, entry) {
        eprintln!("sidekey: warning: could not write the audit log: {e}");
    }
}

/// The shared audit table this process writes to, once its vault is in PostgreSQL.
struct Database {
    vault: Vault,
    /// `HOST:PID`: which daemon (or command) of the fleet wrote an entry.
    daemon: String,
}

static DATABASE: OnceLock<Database> = OnceLock::new();

/// From now on, this process's entries go to `vault`'s shared audit table when the vault is in
/// PostgreSQL (every daemon of a fleet, and every command run against the same database, writes
/// to one table; `sidekey audit` reads it). A file vault changes nothing: the log stays in
/// `$SIDEKEY_HOME/audit.log`. Called when the process opens its vault.
pub fn to_database(vault: &Vault) {
    if vault.is_database() {
        let _ = DATABASE.set(Database {
            vault: vault.clone(),
            daemon: process_name(),
        });
    }
}

/// `HOST:PID` of this process (the host name the kernel has, as a container's is).
fn process_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    let host = if host.is_empty() { "unknown" } else { host };
    format!("{}:{}", cap(host, MAX_NAME), std::process::id())
}

/// At most `max` characters of `s`, marked when cut.
pub fn cap(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…(+{} bytes)", &s[..i], s.len() - i),
    }
}

/// The argument summary, or its size when it is longer than [`MAX_ARGS`].
fn cap_args(args: serde_json::Value) -> serde_json::Value {
    let len = serde_json::to_string(&args).map(|t| t.len()).unwrap_or(0);
    if len <= MAX_ARGS {
        args
    } else {
        serde_json::json!({ "omitted_bytes": len })
    }
}

/// Refusals before the API key, per caller: the first [`REFUSAL_BURST`] of each
/// [`REFUSAL_WINDOW`] are written as entries, the rest counted and written as one summary when
/// the window ends ([`Refusals::flush`]) — so a flood of keyless requests adds a few lines a
/// minute, not one per request.
#[derive(Default)]
pub struct Refusals {
    windows: Mutex<HashMap<String, Window>>,
}

struct Window {
    started: Instant,
    written: u32,
    counted: u64,
}

impl Refusals {
    /// Whether this refusal from `caller` gets its own entry; if not, it is counted. A window
    /// that has ended is summarised first.
    pub fn admit(&self, home: &Path, caller: &str) -> bool {
        let now = Instant::now();
        let (admit, summary) = {
            let mut ws = self.windows.lock().unwrap_or_else(|p| p.into_inner());
            let w = ws.entry(caller.to_string()).or_insert(Window {
                started: now,
                written: 0,
                counted: 0,
            });
            let mut summary = None;
            if now.duration_since(w.started) >= REFUSAL_WINDOW {
                summary = (w.counted > 0).then_some(w.counted);
                *w = Window {
                    started: now,
                    written: 0,
                    counted: 0,
                };
            }
            if w.written < REFUSAL_BURST {
                w.written += 1;
                (true, summary)
            } else {
                w.counted += 1;
                (false, summary)
            }
        };
        if let Some(n) = summary {
            write_summary(home, caller, n);
        }
        admit
    }

    /// Write the summary of every window that has ended (or of all of them, at shutdown).
    pub fn flush(&self, home: &Path, all: bool) {
        let now = Instant::now();
        let due: Vec<(String, u64)> = {
            let mut ws = self.windows.lock().unwrap_or_else(|p| p.into_inner());
            let mut due = vec![];
            ws.retain(|caller, w| {
                let ended = all || now.duration_since(w.started) >= REFUSAL_WINDOW;
                if ended && w.counted > 0 {
                    due.push((caller.clone(), w.counted));
                }
                !ended
            });
            due
        };
        for (caller, n) in due {
            write_summary(home, &caller, n);
        }
    }
}

fn write_summary(home: &Path, caller: &str, n: u64) {
    write(
        home,
        &Entry {
            time: rfc3339(now_unix()),
            caller: cap(caller, MAX_NAME),
            account: None,
            operation: "refused".into(),
            args: serde_json::json!({ "count": n }),
            decision: "deny".into(),
            outcome: crate::error::Reason::Unauthorized.to_string(),
            duration_ms: 0,
            daemon: None,
            note: Some(format!(
                "{n} more refused requests from {} in the last minute",
                cap(caller, MAX_NAME)
            )),
        },
    );
}

/// A field as the text view shows it: control characters (newlines, escape sequences), the
/// backslash itself, the characters that reorder text or hide it (bidi controls, zero-width
/// spaces) and the line and paragraph separators (U+2028, U+2029: a new line in many viewers)
/// are written as Rust-style escapes (`\n`, `\u{1b}`, `\u{2028}`) — every character
/// [`sidekey_net::hidden`] names — so no entry can fake another, hide part of itself or reach
/// the terminal as a command.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if sidekey_net::hidden(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The text view's first line: what each column of [`render`] is.
pub fn header() -> String {
    format!(
        "{:<20}  {:<22} {:<12} {:<16} {:<8} {:<14} {}",
        "TIME (UTC)", "CALLER", "ACCOUNT", "OPERATION", "DECISION", "OUTCOME", "TOOK"
    )
}

/// One entry as a line of the text view, every field escaped.
pub fn render(e: &Entry) -> String {
    let mut line = format!(
        "{:<20}  {:<22} {:<12} {:<16} {:<8} {:<14} {}ms",
        escape(&e.time),
        escape(&e.caller),
        escape(e.account.as_deref().unwrap_or("-")),
        escape(&e.operation),
        escape(&e.decision),
        escape(&e.outcome),
        e.duration_ms
    );
    if let Some(n) = &e.note {
        line.push_str("  ");
        line.push_str(&escape(n));
    }
    if let Some(d) = &e.daemon {
        line.push_str("  on ");
        line.push_str(&escape(d));
    }
    line
}

/// When the log is rotated and how many rotated files are kept.
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    /// `audit.log` is rotated when an entry would take it past this size.
    pub max_bytes: u64,
    /// Rotated files kept: `audit.log.1` (newest) … `audit.log.{keep}` (oldest); an older one
    /// is deleted.
    pub keep: usize,
}

/// The rotation every writer uses: 10 MiB per file, five rotated files kept, so the log takes
/// at most about 60 MiB (documented in docs/security.md, "The audit log").
pub const ROTATION: Rotation = Rotation {
    max_bytes: 10 * 1024 * 1024,
    keep: 5,
};

/// The `n`th rotated file, `audit.log.n`.
pub fn rotated(home: &Path, n: usize) -> PathBuf {
    home.join(format!("audit.log.{n}"))
}

/// The lock writers take to rotate (never to append), so two writers never both rotate.
fn lock_path(home: &Path) -> PathBuf {
    home.join("audit.log.lock")
}

/// Open for appending, created 0600 as every file under the home is.
fn open_private(p: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(p)
}

fn append(home: &Path, entry: &Entry) -> std::io::Result<()> {
    append_with(home, entry, &ROTATION)
}

/// Append one entry as one line. Writers in several processes (the daemon, CLI commands, MCP
/// servers) append at once: each line goes out in one `write(2)` on an `O_APPEND` descriptor, so
/// lines never interleave. An entry that would take the file past `max_bytes` first rotates it,
/// under an exclusive lock on `audit.log.lock`, after checking (under the lock) that no other
/// writer rotated it meanwhile. A writer that opened the old file before the rename still
/// appends whole lines; they land in `audit.log.1`.
fn append_with(home: &Path, entry: &Entry, rotation: &Rotation) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let extra = line.len() as u64;
    let log = path(home);
    let mut f = open_private(&log)?;
    let full = |len: u64| len > 0 && len + extra > rotation.max_bytes;
    if !full(f.metadata()?.len()) {
        // One write per entry: O_APPEND keeps concurrent writers' lines whole.
        return f.write_all(&line);
    }
    let lock = open_private(&lock_path(home))?;
    lock.lock()?;
    // The file the name points at now: another writer may have rotated since `f` was opened.
    let now = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    if full(now) {
        rotate(home, rotation)?;
    }
    f = open_private(&log)?;
    f.write_all(&line)
    // The lock is released when `lock` is dropped.
}

/// `audit.log.{keep}` is deleted, `.{n}` becomes `.{n+1}`, `audit.log` becomes `audit.log.1`.
/// The caller holds the rotation lock. Renames keep each file's mode (0600).
fn rotate(home: &Path, rotation: &Rotation) -> std::io::Result<()> {
    let gone = |r: std::io::Result<()>| match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r,
    };
    if rotation.keep == 0 {
        return gone(std::fs::remove_file(path(home)));
    }
    gone(std::fs::remove_file(rotated(home, rotation.keep)))?;
    for n in (1..rotation.keep).rev() {
        gone(std::fs::rename(rotated(home, n), rotated(home, n + 1)))?;
    }
    std::fs::rename(path(home), rotated(home, 1))
}

/// The files `sidekey audit` reads, oldest first: the rotated ones present (`audit.log.N` …
/// `audit.log.1`), then `audit.log`. A number missing below the highest one present is
/// reported as missing (`None`).
fn files(home: &Path) -> Vec<(String, Option<PathBuf>)> {
    let highest = std::fs::read_dir(home)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let n = name.to_str()?.strip_prefix("audit.log.")?;
            // Only plain numbers: `audit.log.lock` and the like are not rotated logs.
            (!n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit()))
                .then(|| n.parse::<usize>().ok())
                .flatten()
        })
        .max()
        .unwrap_or(0);
    let mut out = vec![];
    for n in (1..=highest).rev() {
        let p = rotated(home, n);
        let present = std::fs::symlink_metadata(&p).is_ok();
        out.push((format!("audit.log.{n}"), present.then_some(p)));
    }
    out.push(("audit.log".into(), Some(path(home))));
    out
}

/// The caller of a local command.
pub fn local_caller() -> String {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata("/proc/self") {
        Ok(m) => format!("cli uid={}", m.uid()),
        Err(_) => "cli".into(),
    }
}

/// How many entries of the shared audit table `sidekey audit` reads at a time.
const PAGE: i64 = 500;

/// `sidekey audit [--since DURATION] [--json]`: the shared audit table of `database` (a vault in
/// PostgreSQL), else this machine's log files, oldest first.
pub fn show(
    home: &Path,
    database: Option<&Vault>,
    since: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
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
    let mut out = std::io::stdout().lock();
    let mut shown = 0usize;
    if let Some(vault) = database {
        let mut after = 0;
        loop {
            let page = vault
                .audit_page(after, cutoff, PAGE)
                .map_err(|e| Failure::internal(format!("cannot read the audit table: {e}")))?;
            let Some(&(last, _)) = page.last() else { break };
            after = last;
            for (_, line) in &page {
                if !print_line(line.as_bytes(), cutoff, json, &mut out, &mut shown) {
                    return Ok(()); // stdout closed
                }
            }
        }
        if std::fs::metadata(path(home)).is_ok_and(|m| m.len() > 0) {
            eprintln!(
                "sidekey: note: {} holds entries this machine wrote while the database could not be reached; they are not shown here",
                path(home).display()
            );
        }
        if shown == 0 && !json {
            let _ = writeln!(
                out,
                "No audit entries {} (the shared audit table).",
                when(since)
            );
        }
        return Ok(());
    }
    for (name, file) in files(home) {
        let Some(p) = file else {
            eprintln!("sidekey: note: {name} is missing; skipped");
            continue;
        };
        let f = match std::fs::File::open(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && name == "audit.log" => continue,
            Err(e) if name == "audit.log" => {
                return Err(Failure::internal(format!("cannot read the audit log: {e}")));
            }
            Err(e) => {
                eprintln!("sidekey: note: cannot read {name}: {e}; skipped");
                continue;
            }
        };
        if !print(
            std::io::BufReader::new(f),
            &name,
            cutoff,
            json,
            &mut out,
            &mut shown,
        ) {
            return Ok(()); // stdout closed (e.g. piped into head)
        }
    }
    if shown == 0 && !json {
        let _ = writeln!(
            out,
            "No audit entries {} ({}).",
            when(since),
            path(home).display()
        );
    }
    Ok(())
}

fn when(since: Option<&str>) -> String {
    match since {
        Some(s) => format!("in the last {s}"),
        None => "yet".to_string(),
    }
}

/// Print one file's entries at or after `cutoff` (the text view's header before the first
/// entry shown, `shown` counting them); false when stdout is closed.
fn print(
    file: impl std::io::BufRead,
    name: &str,
    cutoff: Option<i64>,
    json: bool,
    out: &mut impl Write,
    shown: &mut usize,
) -> bool {
    for line in file.split(b'\n') {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("sidekey: note: cannot read the rest of {name}: {e}; skipped");
                return true;
            }
        };
        if !print_line(&line, cutoff, json, out, shown) {
            return false;
        }
    }
    true
}

/// Print one entry (a JSON line) if it is at or after `cutoff`; false when stdout is closed.
fn print_line(
    line: &[u8],
    cutoff: Option<i64>,
    json: bool,
    out: &mut impl Write,
    shown: &mut usize,
) -> bool {
    let Ok(e) = serde_json::from_slice::<Entry>(line) else {
        return true; // a torn last line after a crash is skipped, not fatal
    };
    if let Some(c) = cutoff {
        let t = e
            .time
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_second())
            .unwrap_or(0);
        if t < c {
            return true;
        }
    }
    let r = if json {
        out.write_all(line).and_then(|()| out.write_all(b"\n"))
    } else if *shown == 0 {
        writeln!(out, "{}\n{}", header(), render(&e))
    } else {
        writeln!(out, "{}", render(&e))
    };
    *shown += 1;
    r.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> Entry {
        Entry {
            time: rfc3339(now_unix()),
            caller: format!("thread-{n}"),
            account: Some("work".into()),
            operation: "token".into(),
            args: serde_json::json!({ "n": n, "pad": "p".repeat(n % 200) }),
            decision: "allow".into(),
            outcome: "ok".into(),
            duration_ms: 1,
            daemon: None,
            note: None,
        }
    }

    /// Many writers at once, with a limit so small that the log rotates dozens of times while
    /// they write: every line in every file is a whole entry, none is lost, every file is 0600.
    #[test]
    fn concurrent_writers_keep_whole_lines_across_rotation() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        let rotation = Rotation {
            max_bytes: 4096,
            keep: 1000, // so retention deletes nothing and every entry can be counted
        };
        const THREADS: usize = 16;
        const EACH: usize = 60;
        std::thread::scope(|s| {
            for t in 0..THREADS {
                s.spawn(move || {
                    for i in 0..EACH {
                        append_with(home, &entry(t * EACH + i), &rotation).unwrap();
                    }
                });
            }
        });
        let mut seen = std::collections::BTreeSet::new();
        let mut files = 0;
        for f in std::fs::read_dir(home).unwrap() {
            let f = f.unwrap().path();
            let name = f.file_name().unwrap().to_str().unwrap().to_string();
            if !name.starts_with("audit.log") || name.ends_with(".lock") {
                continue;
            }
            files += 1;
            let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name} is {mode:o}");
            let text = std::fs::read_to_string(&f).unwrap();
            assert!(text.ends_with('\n'), "{name} ends in a partial line");
            for line in text.lines() {
                let e: Entry = serde_json::from_str(line)
                    .unwrap_or_else(|err| panic!("{name}: torn line {line:?}: {err}"));
                assert!(seen.insert(e.args["n"].as_u64().unwrap()), "{line} twice");
            }
        }
        assert_eq!(seen.len(), THREADS * EACH, "entries lost");
        assert!(files > 10, "the log rotated only into {files} files");
    }

    /// Retention: only `keep` rotated files stay, the oldest are deleted, and the newest
    /// entries are in `audit.log`, the ones before them in `audit.log.1`.
    /// An event the daemon records on its own (tokens the vault refused, stored later) is
    /// `allow` only when it went well: a refused store is a failure (issue 20, item 6).
    #[test]
    fn an_events_decision_follows_its_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        event(
            home,
            "o",
            "refresh.store",
            "vault",
            "the vault refused".into(),
        );
        event(home, "o", "refresh.store", "ok", "stored at last".into());
        let text = std::fs::read_to_string(path(home)).unwrap();
        let got: Vec<(String, String)> = text
            .lines()
            .map(|l| {
                let e: Entry = serde_json::from_str(l).unwrap();
                (e.outcome, e.decision)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("vault".to_string(), "fail".to_string()),
                ("ok".to_string(), "allow".to_string())
            ]
        );
    }

    #[test]
    fn rotation_keeps_only_the_newest_files() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        let rotation = Rotation {
            max_bytes: 1000,
            keep: 3,
        };
        for i in 0..200 {
            append_with(home, &entry(i), &rotation).unwrap();
        }
        assert!(home.join("audit.log.3").exists());
        assert!(
            !home.join("audit.log.4").exists(),
            "retention kept too many"
        );
        let first = |p: &Path| -> u64 {
            let t = std::fs::read_to_string(p).unwrap();
            let e: Entry = serde_json::from_str(t.lines().next().unwrap()).unwrap();
            e.args["n"].as_u64().unwrap()
        };
        let n: Vec<u64> = ["audit.log.3", "audit.log.2", "audit.log.1", "audit.log"]
            .iter()
            .map(|f| first(&home.join(f)))
            .collect();
        assert!(n.windows(2).all(|w| w[0] < w[1]), "out of order: {n:?}");
        let last = std::fs::read_to_string(path(home)).unwrap();
        assert!(last.lines().last().unwrap().contains(r#""n":199"#));
        for f in ["audit.log", "audit.log.1"] {
            assert!(std::fs::metadata(home.join(f)).unwrap().len() <= 1000);
        }
    }

    /// Found by fuzz/fuzz_targets/api_bodies.rs: an account name the agent sent
    /// (`POST /v1/token {"account": …}`) is written down as named, and the text view showed its
    /// zero-width space and line separator as they are — invisible in the terminal, and a line
    /// break in viewers that honour U+2028, where the rest reads as a second entry.
    #[test]
    fn invisible_characters_and_line_separators_are_escaped() {
        let e = Entry {
            time: "2026-01-01T00:00:00Z".into(),
            caller: "api:tcp".into(),
            account: Some(
                "-owa-f-\u{200b} be\u{2028}2026-01-01T00:00:00Z  cli uid=0\u{2029}\u{feff}\u{e0041}".into(),
            ),
            operation: "token\u{2066}".into(),
            args: serde_json::json!({}),
            decision: "allow".into(),
            outcome: "usage".into(),
            duration_ms: 0,
            daemon: None,
            note: None,
        };
        let line = render(&e);
        assert!(!line.chars().any(sidekey_net::hidden), "{line:?}");
        for shown in [
            r"\u{200b}",
            r"\u{2028}",
            r"\u{2029}",
            r"\u{feff}",
            r"\u{e0041}",
            r"\u{2066}",
        ] {
            assert!(line.contains(shown), "{shown} not in {line:?}");
        }
        assert!(
            line.starts_with("2026-01-01T00:00:00Z  api:tcp "),
            "{line:?}"
        );
    }

    #[test]
    fn fields_are_escaped_and_capped() {
        assert_eq!(
            escape("a\nb\u{1b}[2J\\\u{202e}"),
            r"a\nb\u{1b}[2J\\\u{202e}"
        );
        assert_eq!(escape("work-1 ünïcode"), "work-1 ünïcode");
        assert_eq!(cap("abc", 64), "abc");
        let long = "é".repeat(100);
        let c = cap(&long, 64);
        assert!(
            c.starts_with(&"é".repeat(64)) && c.ends_with("…(+72 bytes)"),
            "{c}"
        );
        let big = serde_json::json!({ "q": "x".repeat(5000) });
        assert_eq!(cap_args(big)["omitted_bytes"], 5008);
        // An entry with every kind of hostile text is still exactly one JSON line.
        let e = Entry {
            time: "t".into(),
            caller: "api:unix".into(),
            account: Some("a\nb\r\u{2028}\u{1b}".into()),
            operation: "op\n".into(),
            args: serde_json::json!({ "k": "\n" }),
            decision: "deny".into(),
            outcome: "usage".into(),
            duration_ms: 0,
            daemon: None,
            note: None,
        };
        let line = serde_json::to_string(&e).unwrap();
        assert!(!line.contains('\n') && !line.contains('\r') && !line.contains('\u{1b}'));
        assert_eq!(render(&e).lines().count(), 1);
    }
}
