//! A test whose real counterpart (a venv, the npm packages, Compose v2) is missing never passes
//! silently: outside CI it is skipped with a SKIPPED line the person sees (not the output libtest
//! keeps to itself for a passing test) and the binary ends by counting the skipped tests; under
//! CI (`scripts/test`, `.ci/run`) it fails. And the README's test command is `scripts/test`,
//! the command `.ci/run` runs. Each case runs this very test binary on one test that needs
//! Google's Python client, pointed at a Python that does not exist.

use std::path::PathBuf;
use std::process::{Command, Output};

const NEEDS_PYTHON: &str = "youtube::googles_python_client_agrees_with_the_fake";

fn run_one(ci: bool) -> Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([NEEDS_PYTHON, "--exact", "--test-threads", "2"])
        .env("YOUTUBE_CLIENT_PYTHON", "/nonexistent/sidekey-test/python")
        .env_remove("RUST_TEST_NOCAPTURE");
    if ci {
        cmd.env("CI", "1");
    } else {
        cmd.env_remove("CI");
    }
    cmd.output().unwrap()
}

#[test]
fn a_missing_counterpart_is_a_visible_counted_skip_outside_ci() {
    let out = run_one(false);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the one test ran (and libtest counts it as passed): {stdout}"
    );
    // The notice, on the terminal although the test passed (libtest captures `eprintln!`).
    assert!(
        stderr.contains(&format!(
            "SKIPPED {NEEDS_PYTHON}: google-api-python-client (at /nonexistent/sidekey-test/python) is not installed (run: python3 -m venv tests/google-client/.venv"
        )),
        "{stderr}"
    );
    // The count, after libtest's own summary.
    let count = stderr
        .find("1 test SKIPPED: counted as passed above")
        .unwrap_or_else(|| panic!("no count of skipped tests: {stderr}"));
    assert!(
        stderr[count..].contains(NEEDS_PYTHON) && stderr[count..].contains("./scripts/test"),
        "{stderr}"
    );
}

#[test]
fn a_missing_counterpart_fails_under_ci() {
    let out = run_one(true);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{all}");
    assert!(
        all.contains("google-api-python-client (at /nonexistent/sidekey-test/python) is not installed; scripts/test installs it"),
        "{all}"
    );
    assert!(!all.contains("SKIPPED"), "{all}");
}

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn the_readme_test_command_is_the_script_ci_runs() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    let script = std::fs::read_to_string(repo().join("scripts/test")).unwrap();
    let code_lines = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
            .filter(|l| !l.is_empty() && !l.starts_with("echo"))
            .collect()
    };
    assert!(
        readme
            .lines()
            .any(|l| l.trim_start().starts_with("./scripts/test")),
        "the README's test command is ./scripts/test"
    );
    let ci_lines = code_lines(&ci);
    assert!(
        ci_lines.iter().any(|l| l == "./scripts/test"),
        ".ci/run runs ./scripts/test"
    );
    assert!(
        !ci_lines.iter().any(|l| l.starts_with("cargo test")
            || l.starts_with("npm ci")
            || l.contains("pip install")),
        ".ci/run installs and tests only through scripts/test: {ci_lines:#?}"
    );
    // The script runs the tests with CI semantics, so its own run never skips.
    assert!(
        script.contains("CI=\"${CI:-1}\" exec cargo test"),
        "scripts/test runs cargo test with CI set"
    );
}
