//! `sidekey doctor`: everything that commonly goes wrong, checked and explained in one go.
//! Exit 0 when nothing failed (warnings allowed), 2 for config/key problems, 5 when an endpoint
//! cannot be reached.

use crate::context::{Context, KeySource};
use crate::error::{Exit, Failure, Reason};
use std::path::Path;
use std::time::{Duration, SystemTime};

struct Report {
    /// The most serious failure so far (the lowest non-zero exit code).
    worst: Option<Exit>,
}

impl Report {
    fn ok(&self, m: impl AsRef<str>) {
        println!("ok    {}", m.as_ref());
    }
    fn warn(&self, m: impl AsRef<str>) {
        println!("warn  {}", m.as_ref());
    }
    fn fail(&mut self, exit: Exit, m: impl AsRef<str>) {
        println!("FAIL  {}", m.as_ref());
        if self.worst.is_none_or(|w| exit.code() < w.code()) {
            self.worst = Some(exit);
        }
    }
}

pub async fn run(ctx: &Context) -> Result<(), Failure> {
    let mut r = Report { worst: None };
    let cfg = &ctx.config;
    if cfg.exists {
        r.ok(format!(
            "config {} parses; {} account(s): {}",
            cfg.path.display(),
            cfg.accounts.len(),
            cfg.accounts.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    } else {
        r.warn(format!(
            "no config file at {} (SIDEKEY_CONFIG)",
            cfg.path.display()
        ));
    }

    // Key placement.
    match ctx.key() {
        Ok((_, source)) => match &source {
            KeySource::Generated(p) => r.warn(format!(
                "vault key: {} sits next to the data in {}: anyone who copies that folder can read the tokens. Keep the key elsewhere (a Docker secret via SIDEKEY_VAULT_KEY_FILE or [vault] key_file)",
                p.display(),
                ctx.home.display()
            )),
            KeySource::ConfigFile(p) | KeySource::EnvFile(p) => {
                if p.starts_with(&ctx.home) {
                    r.warn(format!("vault key {} is inside SIDEKEY_HOME {}; keep it elsewhere", p.display(), ctx.home.display()));
                } else {
                    r.ok(format!("vault key from {}", source.describe()));
                }
            }
            KeySource::Env => r.ok("vault key from SIDEKEY_VAULT_KEY"),
        },
        Err(e) => r.fail(Exit::Usage, format!("vault key: {}", e.message)),
    }
    let loose = loose_permissions(ctx);
    if loose.is_empty() {
        r.ok("the vault key, audit log, API key file and SIDEKEY_HOME are private to their owner");
    }
    for w in loose {
        r.warn(w);
    }
    match ctx.vault() {
        Ok(v) => {
            r.ok(format!("vault {} opens with this key", v.dir().display()));
            let problems = sidekey_vault::permission_problems(&ctx.vault_dir());
            if problems.is_empty() {
                r.ok("vault folders are 0700 and files 0600");
            }
            for p in problems {
                r.warn(p);
            }
        }
        Err(e) => r.fail(e.exit, format!("vault: {}", e.message)),
    }

    // Endpoints and clock.
    let http = ctx.http()?;
    let mut clock_checked = false;
    for (name, acct) in &cfg.accounts {
        let res = async {
            let provider = acct.resolve(http).await?;
            let url = provider.endpoints.token.clone();
            let req = http.client().get(url.clone());
            let raw = http.send(req).await.map_err(Failure::network)?;
            Ok::<_, Failure>((url, raw))
        }
        .await;
        match res {
            Ok((url, raw)) => {
                r.ok(format!(
                    "{name} ({}): token endpoint {} answers (HTTP {})",
                    acct.kind.name(),
                    url,
                    raw.status
                ));
                if !clock_checked && let Some(skew) = raw.date.as_deref().and_then(clock_skew) {
                    clock_checked = true;
                    if skew > Duration::from_secs(60) {
                        r.warn(format!(
                            "clock differs from {} by {}s; token expiry checks will be off",
                            url.host_str().unwrap_or("?"),
                            skew.as_secs()
                        ));
                    } else {
                        r.ok(format!(
                            "clock agrees with {} within {}s",
                            url.host_str().unwrap_or("?"),
                            skew.as_secs().max(1)
                        ));
                    }
                }
            }
            Err(e) => r.fail(
                e.exit,
                format!("{name} ({}): {}", acct.kind.name(), e.message),
            ),
        }
    }
    if !clock_checked {
        r.warn("clock: no provider answered with a Date header to compare against");
    }
    match r.worst {
        None => Ok(()),
        Some(exit) => Err(Failure::new(
            exit,
            Reason::Doctor,
            "some checks failed (see above)",
        )),
    }
}

/// sidekey's secrets and records that group or others can read, and a SIDEKEY_HOME they can
/// read or enter — each as one sentence with the command that fixes it. `doctor` lists them and
/// `serve` prints them as warnings when it starts.
pub fn loose_permissions(ctx: &Context) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| m.permissions().mode() & 0o777)
    };
    let mut out = vec![];
    let mut file = |what: &str, p: &Path| {
        if let Some(m) = mode(p)
            && m & 0o077 != 0
        {
            out.push(format!(
                "{what} {} has mode {m:o}: group or others can read it; make it private: chmod 600 {}",
                p.display(),
                p.display()
            ));
        }
    };
    match ctx.key_source() {
        KeySource::ConfigFile(p) | KeySource::EnvFile(p) | KeySource::Generated(p) => {
            file("vault key", &p)
        }
        KeySource::Env => {}
    }
    file("audit log", &crate::audit::path(&ctx.home));
    if let Some(p) = crate::context::api_key_path(ctx) {
        file("API key file", &p);
    }
    if let Some(m) = mode(&ctx.home)
        && m & 0o077 != 0
    {
        out.push(format!(
            "SIDEKEY_HOME {} has mode {m:o}: group or others can list or enter it; make it private: chmod 700 {}",
            ctx.home.display(),
            ctx.home.display()
        ));
    }
    out
}

fn clock_skew(date: &str) -> Option<Duration> {
    let t = jiff::fmt::rfc2822::parse(date).ok()?.timestamp();
    let server = SystemTime::UNIX_EPOCH + Duration::from_secs(t.as_second().max(0) as u64);
    let now = SystemTime::now();
    Some(match now.duration_since(server) {
        Ok(d) => d,
        Err(e) => e.duration(),
    })
}
