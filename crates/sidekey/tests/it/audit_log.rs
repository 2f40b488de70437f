//! The audit log on disk: `sidekey audit` reads the rotated files with the current one, oldest
//! first, and a rotated file it cannot read is skipped with a note, never a panic.

use crate::common::*;

fn line(time: &str, caller: &str) -> String {
    serde_json::json!({
        "time": time,
        "caller": caller,
        "account": "work",
        "operation": "token",
        "args": {},
        "decision": "allow",
        "outcome": "ok",
        "duration_ms": 1,
    })
    .to_string()
        + "\n"
}

fn now_minus(secs: i64) -> String {
    jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_secs(secs))
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[test]
fn sidekey_audit_reads_rotated_files_oldest_first() {
    let env = Env::new("");
    std::fs::create_dir_all(&env.home).unwrap();
    let write = |name: &str, text: String| std::fs::write(env.home.join(name), text).unwrap();
    write("audit.log.3", line(&now_minus(4 * 3600), "oldest"));
    write(
        "audit.log.2",
        line(&now_minus(3 * 3600), "older") + &line(&now_minus(1800), "recent-2"),
    );
    write("audit.log.1", line(&now_minus(1200), "recent-1"));
    write("audit.log", line(&now_minus(60), "current"));

    let out = env.run(&["audit", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let callers: Vec<String> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["caller"].to_string())
        .collect();
    assert_eq!(
        callers,
        [
            "\"oldest\"",
            "\"older\"",
            "\"recent-2\"",
            "\"recent-1\"",
            "\"current\""
        ]
    );

    // --since filters across every file.
    let out = env.run(&["audit", "--since", "1h"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    // The text view starts with a header naming the columns (issue 20, item 6).
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header.starts_with("TIME") && header.contains("DECISION"),
        "{text}"
    );
    let shown: Vec<&str> = lines
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(shown, ["recent-2", "recent-1", "current"], "{text}");
}

#[test]
fn an_unreadable_rotated_file_is_skipped_with_a_note() {
    let env = Env::new("");
    std::fs::create_dir_all(&env.home).unwrap();
    std::fs::write(env.home.join("audit.log.3"), line(&now_minus(300), "third")).unwrap();
    // audit.log.2 is missing; audit.log.1 cannot be read (a directory, so even root cannot).
    std::fs::create_dir(env.home.join("audit.log.1")).unwrap();
    std::fs::write(env.home.join("audit.log"), line(&now_minus(60), "current")).unwrap();

    let out = env.run(&["audit"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("third") && text.contains("current"), "{text}");
    let err = stderr(&out);
    assert!(
        err.contains("audit.log.2") && err.contains("missing"),
        "{err}"
    );
    assert!(
        err.contains("audit.log.1") && err.contains("skipped"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 2, "one note per file: {err}");
}

/// Real processes at once, across a rotation: the log is filled to just under its 10 MiB limit,
/// then 32 `sidekey status` run together, each writing one entry. The log rotates once while
/// they write; every line of both files is a whole entry, none is lost, and `sidekey audit`
/// shows them all.
#[test]
fn concurrent_processes_write_whole_lines_across_a_rotation() {
    const LIMIT: usize = 10 * 1024 * 1024;
    const PROCS: usize = 32;
    let env = Env::new("");
    std::fs::create_dir_all(&env.home).unwrap();
    let one = line(&now_minus(60), "prefill");
    let prefill = (LIMIT - 2000) / one.len();
    std::fs::write(env.home.join("audit.log"), one.repeat(prefill)).unwrap();

    let children: Vec<_> = (0..PROCS)
        .map(|_| {
            env.cmd(&["status"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        c.wait().unwrap();
    }

    assert!(env.home.join("audit.log.1").exists(), "no rotation");
    assert!(!env.home.join("audit.log.2").exists(), "rotated twice");
    let (mut total, mut status) = (0, 0);
    for f in ["audit.log.1", "audit.log"] {
        let text = std::fs::read_to_string(env.home.join(f)).unwrap();
        assert!(text.ends_with('\n'), "{f} ends in a partial line");
        for l in text.lines() {
            let e: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|err| panic!("{f}: torn line: {err}"));
            total += 1;
            status += usize::from(e["operation"] == "status");
        }
    }
    assert_eq!(status, PROCS, "entries lost");
    assert_eq!(total, prefill + PROCS);
    let shown = env.run(&["audit", "--json"]);
    assert_eq!(shown.status.code(), Some(0), "{}", stderr(&shown));
    assert_eq!(stdout(&shown).lines().count(), total);
}
