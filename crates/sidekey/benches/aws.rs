//! `cargo bench -p sidekey --bench aws`: the whole `sidekey aws credentials` process with cached
//! role credentials — spawn, config parse, key load, vault open and decrypt of the
//! `aws-credentials` slot, print the credential_process JSON, exit — over many runs (no
//! network: the bench checks that the fake portal saw no further GetRoleCredentials).
//!
//! Next to it, with the pinned boto3 in tests/aws/.venv (skipped when it is missing):
//! * botocore resolving credentials through `credential_process = sidekey aws credentials …`
//!   (`boto3.Session(profile_name=…).get_credentials().get_frozen_credentials()`), whole Python
//!   process and in one process;
//! * botocore's own SSO provider (legacy `sso_start_url` profile, the token from
//!   `~/.aws/sso/cache/<sha1(start_url)>.json`, GetRoleCredentials at the fake portal via
//!   `AWS_ENDPOINT_URL_SSO`): what the same profile costs without sidekey. botocore keeps no
//!   role credentials between processes, so every process asks the portal.
//!
//! Every GetRoleCredentials count printed is counted at the fake portal over the runs it names.
//! `AWS_BENCH_RUNS` (default 300), `AWS_BENCH_PY_RUNS` (default 15) and `AWS_BENCH_SESSIONS`
//! (default 40) change the number of runs.

use sidekey_testkit::aws::{AwsOptions, FakeAws};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Untimed runs before the timed ones (they warm the page cache, and they call the portal too).
const WARMUP: usize = 3;

fn time_runs(runs: usize, mut make: impl FnMut() -> Command) -> Vec<Duration> {
    for _ in 0..WARMUP {
        let out = make().output().unwrap(); // warm the page cache
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut v: Vec<Duration> = (0..runs)
        .map(|_| {
            let mut c = make();
            let t = Instant::now();
            let out = c.stdout(Stdio::piped()).output().unwrap();
            let d = t.elapsed();
            assert!(out.status.success());
            d
        })
        .collect();
    v.sort();
    v
}

fn report(name: &str, v: &[Duration]) {
    println!(
        "{name:<58} median {:>8.2} ms   p90 {:>8.2} ms   min {:>7.2} ms   ({} runs)",
        percentile(v, 0.5).as_secs_f64() * 1e3,
        percentile(v, 0.9).as_secs_f64() * 1e3,
        v[0].as_secs_f64() * 1e3,
        v.len()
    );
}

fn python() -> Option<PathBuf> {
    let py = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/aws/.venv/bin/python"
    ));
    py.exists().then_some(py)
}

fn sha1_hex(s: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, s.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn write_aws_config(dir: &Path, fake: &FakeAws, bin: &str) {
    let aws = dir.join("aws");
    std::fs::create_dir_all(aws.join("sso/cache")).unwrap();
    // credential_process inherits botocore's environment (SIDEKEY_HOME, SIDEKEY_CONFIG).
    std::fs::write(
        aws.join("config"),
        format!(
            "[profile sk]\ncredential_process = {bin} aws credentials --account-id 123456789012 --role-name ReadOnly\nregion = us-east-1\n\n\
             [profile sso]\nsso_start_url = {}\nsso_region = eu-west-1\nsso_account_id = 123456789012\nsso_role_name = ReadOnly\nregion = us-east-1\n",
            fake.start_url()
        ),
    )
    .unwrap();
    let token = fake.valid_access_token().expect("a signed-in access token");
    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3000);
    std::fs::write(
        aws.join(format!("sso/cache/{}.json", sha1_hex(&fake.start_url()))),
        serde_json::json!({
            "startUrl": fake.start_url(),
            "region": "eu-west-1",
            "accessToken": token,
            "expiresAt": expires.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        })
        .to_string(),
    )
    .unwrap();
}

fn main() {
    let runs = env_num("AWS_BENCH_RUNS", 300);
    let py_runs = env_num("AWS_BENCH_PY_RUNS", 15);
    let sessions = env_num("AWS_BENCH_SESSIONS", 40);
    let bin = env!("CARGO_BIN_EXE_sidekey");
    let fake = FakeAws::start(AwsOptions::default());
    let dir = std::env::temp_dir().join(format!("sidekey-bench-aws-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.toml");
    let home = dir.join("home");
    std::fs::write(
        &cfg,
        format!(
            "[accounts.aws]\nprovider = \"aws\"\nstart_url = \"{}\"\nregion = \"eu-west-1\"\noidc_endpoint = \"{}\"\napi_base = \"{}\"\n",
            fake.start_url(),
            fake.oidc_url(),
            fake.portal_url()
        ),
    )
    .unwrap();
    let cmd = |args: &[&str]| {
        let mut c = Command::new(bin);
        c.args(args)
            .env("SIDEKEY_HOME", &home)
            .env("SIDEKEY_CONFIG", &cfg)
            .env_remove("SIDEKEY_VAULT_KEY_FILE")
            .env_remove("SIDEKEY_VAULT_KEY")
            .stderr(Stdio::null());
        c
    };
    let login = cmd(&["login", "aws"]).output().unwrap();
    assert!(login.status.success(), "login failed");
    let creds_args = [
        "aws",
        "credentials",
        "--account-id",
        "123456789012",
        "--role-name",
        "ReadOnly",
    ];
    assert!(cmd(&creds_args).output().unwrap().status.success());
    let calls = fake.role_credential_calls();

    let sidekey = time_runs(runs, || cmd(&creds_args));
    let floor = time_runs(runs, || Command::new("true"));
    assert_eq!(
        fake.role_credential_calls(),
        calls,
        "no network on the cached path"
    );
    println!(
        "sidekey aws credentials, cached role credentials, whole process (GetRoleCredentials during the {} runs: {}):",
        runs + WARMUP,
        fake.role_credential_calls() - calls
    );
    report("sidekey aws credentials (cached)", &sidekey);
    report("true (process spawn floor)", &floor);

    let Some(py) = python() else {
        println!(
            "botocore comparison skipped: no tests/aws/.venv (python3 -m venv tests/aws/.venv && tests/aws/.venv/bin/pip install -r tests/aws/requirements.txt)"
        );
        return;
    };
    write_aws_config(&dir, &fake, bin);
    let aws_dir = dir.join("aws");
    let py_cmd = |code: &str, endpoint: bool| {
        let mut c = Command::new(&py);
        c.args(["-c", code])
            .env("AWS_CONFIG_FILE", aws_dir.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", aws_dir.join("none"))
            // botocore's SSO token cache lives under ~/.aws/sso/cache.
            .env("HOME", &dir)
            .env("SIDEKEY_HOME", &home)
            .env("SIDEKEY_CONFIG", &cfg)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .stderr(Stdio::inherit());
        if endpoint {
            c.env("AWS_ENDPOINT_URL_SSO", fake.portal_url());
        }
        c
    };
    // botocore reads ~/.aws/sso/cache from HOME: link it there.
    let _ = std::fs::create_dir_all(dir.join(".aws"));
    let _ = std::os::unix::fs::symlink(aws_dir.join("sso"), dir.join(".aws/sso"));

    let resolve = |profile: &str| {
        format!(
            "import boto3; c = boto3.Session(profile_name='{profile}').get_credentials().get_frozen_credentials(); assert c.access_key.startswith('ASIA')"
        )
    };
    let before = fake.role_credential_calls();
    let via_sidekey = time_runs(py_runs, || py_cmd(&resolve("sk"), false));
    let after_sidekey = fake.role_credential_calls();
    let via_sso = time_runs(py_runs, || py_cmd(&resolve("sso"), true));
    let after_sso = fake.role_credential_calls();
    let import_only = time_runs(py_runs, || py_cmd("import boto3", false));
    let version = py_cmd("import botocore; print(botocore.__version__)", false)
        .output()
        .unwrap();
    println!(
        "\nbotocore {}, whole `python -c` process (import boto3 + resolve credentials):",
        String::from_utf8_lossy(&version.stdout).trim()
    );
    report(
        "botocore credential_process = sidekey (cached)",
        &via_sidekey,
    );
    report(
        "botocore own SSO provider (token cache + GetRoleCredentials)",
        &via_sso,
    );
    report("python -c 'import boto3' (floor)", &import_only);
    // Both counted at the fake portal, each over its own runs.
    println!(
        "GetRoleCredentials calls: {} by the {} SSO-provider processes, {} by the {} sidekey processes ({py_runs} timed and {WARMUP} warm-up runs each)",
        after_sso - after_sidekey,
        py_runs + WARMUP,
        after_sidekey - before,
        py_runs + WARMUP
    );

    // In one Python process: only the credential resolution, N times, new Session each time.
    // The portal's count over each case says whether botocore asked AWS per Session.
    let in_process = |profile: &str, endpoint: bool| -> (f64, usize) {
        let code = format!(
            "import boto3, time\nts=[]\nfor _ in range({sessions}):\n    t=time.perf_counter(); boto3.Session(profile_name='{profile}').get_credentials().get_frozen_credentials(); ts.append(time.perf_counter()-t)\nts.sort(); print(ts[len(ts)//2]*1000)"
        );
        let before = fake.role_credential_calls();
        let out = py_cmd(&code, endpoint).output().unwrap();
        assert!(out.status.success());
        let ms = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        (ms, fake.role_credential_calls() - before)
    };
    println!(
        "\nbotocore, in one process, median of {sessions} new Sessions resolving credentials:"
    );
    for (label, profile, endpoint) in [
        ("credential_process = sidekey (cached)", "sk", false),
        ("own SSO provider", "sso", true),
    ] {
        let (ms, calls) = in_process(profile, endpoint);
        println!(
            "{label:<58} median {ms:>8.2} ms   GetRoleCredentials {calls} in {sessions} Sessions"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
