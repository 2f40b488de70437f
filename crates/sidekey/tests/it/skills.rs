//! `sidekey skills write DIR`: the OpenClaw skills generated from the config.
//!
//! * The examples in `deploy/skills/` are exactly what `deploy/skills.config.toml` generates.
//! * Every `SKILL.md` has the frontmatter OpenClaw expects.
//! * Skills follow the configured accounts, and hand-written files are never overwritten.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_sidekey");
const REGENERATE: &str =
    "SIDEKEY_CONFIG=deploy/skills.config.toml cargo run -p sidekey -- skills write deploy/skills";

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// Runs `sidekey skills write OUT` with `config` in a throw-away home.
fn skills_write(config: &Path, out: &Path) -> Output {
    let home = tempfile::tempdir().unwrap();
    Command::new(BIN)
        .args(["skills", "write"])
        .arg(out)
        // Nothing of the developer's environment (a `SIDEKEY_URL` would make this client mode).
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SIDEKEY_HOME", home.path().join("home"))
        .env("SIDEKEY_CONFIG", config)
        .env("HOME", home.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "sidekey skills write failed ({:?}): {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Folder name → SKILL.md bytes, for every folder of `dir`.
fn skills_in(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            let name = e.file_name().to_string_lossy().into_owned();
            let text = std::fs::read(e.path().join("SKILL.md"))
                .unwrap_or_else(|err| panic!("{name}/SKILL.md: {err}"));
            out.insert(name, text);
        }
    }
    out
}

/// The `---` block at the top of a SKILL.md as `key: value` pairs (single-line values only,
/// which is all sidekey writes).
fn frontmatter(name: &str, text: &str) -> BTreeMap<String, String> {
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("---"),
        "{name}: SKILL.md must start with ---"
    );
    let mut out = BTreeMap::new();
    for line in lines {
        if line == "---" {
            return out;
        }
        let (k, v) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("{name}: not `key: value`: {line}"));
        assert!(
            !k.starts_with(' '),
            "{name}: only single-line values expected: {line}"
        );
        let v = v.trim();
        assert!(!v.is_empty(), "{name}: empty or multi-line value: {line}");
        assert!(
            out.insert(k.to_string(), v.to_string()).is_none(),
            "{name}: duplicate key {k}"
        );
    }
    panic!("{name}: frontmatter is not closed with ---");
}

fn valid_name(s: &str) -> bool {
    // ^[a-z0-9]+(-[a-z0-9]+)*$
    !s.is_empty()
        && s.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

#[test]
fn deploy_examples_match_the_generator() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("skills");
    ok(&skills_write(&deploy().join("skills.config.toml"), &out));
    let generated = skills_in(&out);
    let committed = skills_in(&deploy().join("skills"));
    assert!(!generated.is_empty());
    for (name, text) in &generated {
        assert!(
            committed.get(name) == Some(text),
            "deploy/skills/{name}/SKILL.md differs from what the generator writes: run `{REGENERATE}`"
        );
    }
    for name in committed.keys() {
        assert!(
            generated.contains_key(name),
            "deploy/skills/{name} is not generated from deploy/skills.config.toml any more: delete it, then run `{REGENERATE}`"
        );
    }
    let names: Vec<&str> = generated.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "sidekey-auth",
            "sidekey-github",
            "sidekey-google",
            "sidekey-microsoft"
        ]
    );
}

#[test]
fn frontmatter_is_what_openclaw_expects() {
    for (folder, bytes) in skills_in(&deploy().join("skills")) {
        let text = String::from_utf8(bytes).unwrap();
        let fm = frontmatter(&folder, &text);
        let name = &fm["name"];
        assert_eq!(name, &folder, "name must equal the folder");
        assert!(
            valid_name(name),
            "{name}: lowercase letters, digits, hyphens"
        );
        let d = &fm["description"];
        assert!(
            d.chars().count() < 160,
            "{name}: description has {} chars",
            d.chars().count()
        );
        assert!(!d.contains(": ") && !d.contains(" #"), "{name}: {d}");
        let meta: serde_json::Value = serde_json::from_str(&fm["metadata"])
            .unwrap_or_else(|e| panic!("{name}: metadata is not one-line JSON: {e}"));
        let bins = meta["openclaw"]["requires"]["bins"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no metadata.openclaw.requires.bins"));
        assert!(bins.iter().any(|b| b == "sidekey"), "{name}: {bins:?}");
        assert!(
            text.contains("<!-- generated by sidekey skills write"),
            "{name}"
        );
        assert!(!text.contains("dummy-not-a-real-secret"), "{name}");
        assert!(!text.contains("docker exec"), "{name}");
    }
}

#[test]
fn only_configured_providers_get_skills() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config.toml");
    std::fs::write(
        &config,
        "[accounts.work]\nprovider = \"microsoft\"\nclient_id = \"00000000-0000-0000-0000-000000000000\"\n",
    )
    .unwrap();
    let out = tmp.path().join("skills");
    ok(&skills_write(&config, &out));
    let names: Vec<String> = skills_in(&out).into_keys().collect();
    assert_eq!(names, ["sidekey-auth", "sidekey-microsoft"]);
    let auth = std::fs::read_to_string(out.join("sidekey-auth/SKILL.md")).unwrap();
    assert!(auth.contains("`work` | microsoft"), "{auth}");
    assert!(
        !auth.contains("GitHub") && !auth.contains("Google"),
        "{auth}"
    );
}

#[test]
fn hand_written_skill_is_not_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("skills");
    let config = deploy().join("skills.config.toml");
    ok(&skills_write(&config, &out));
    ok(&skills_write(&config, &out)); // its own files: overwritten
    let mine = out.join("sidekey-github/SKILL.md");
    let text = "---\nname: sidekey-github\ndescription: my own\n---\nhand-written\n";
    std::fs::write(&mine, text).unwrap();
    std::fs::remove_dir_all(out.join("sidekey-auth")).unwrap();
    let run = skills_write(&config, &out);
    assert_eq!(
        run.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("sidekey-github"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), text);
    assert!(
        !out.join("sidekey-auth").exists(),
        "nothing is written when one target is refused"
    );
}
