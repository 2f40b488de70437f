//! `sidekey doctor`: everything that commonly goes wrong, checked and explained in one go.
//! Exit 0 when nothing failed (warnings allowed), 2 for config/key problems, 5 when an endpoint
//! cannot be reached.

use crate::config::Config;
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

/// `sidekey doctor`. It creates nothing: no home, no key file, no vault (what a first sign-in
/// would create is said, not done). A config whose `[notify.*]` does not load is reported with
/// the rest rather than stopping the checks.
pub async fn run() -> Result<(), Failure> {
    let mut r = Report { worst: None };
    let path = crate::context::default_config_path()?;
    let config = match Config::load_lenient(&path) {
        Ok(c) => c,
        Err(e) => {
            r.fail(e.exit, format!("config: {}", e.message));
            Config {
                exists: true,
                ..Config::parse(&path, "")?
            }
        }
    };
    let ctx = Context::new(crate::context::default_home()?, config);
    let cfg = &ctx.config;
    if !cfg.exists {
        r.fail(
            Exit::Usage,
            crate::context::missing_config(&cfg.path).message,
        );
    } else if r.worst.is_none() {
        r.ok(format!(
            "config {} parses; {} account(s): {}",
            cfg.path.display(),
            cfg.accounts.len(),
            cfg.accounts.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some(problem) = &cfg.notify_problem {
        r.fail(Exit::Usage, problem);
    }
    for (name, acct) in &cfg.accounts {
        if is_placeholder(&acct.client_id) {
            r.fail(
                Exit::Usage,
                format!(
                    "account '{name}': client_id \"{}\" is the example's placeholder: put in your own app's client id ({})",
                    acct.client_id,
                    where_the_client_id_is(acct.kind.name())
                ),
            );
        }
    }

    // Key placement, without creating one.
    match ctx.existing_key() {
        Ok(None) => r.warn(format!(
            "vault key: none yet; the first `sidekey login` generates {} next to the data in {}, where anyone who copies that folder can read the tokens. Better keep it elsewhere: SIDEKEY_VAULT_KEY_FILE or [vault] key_file (a Docker secret)",
            ctx.home.join("vault.key").display(),
            ctx.home.display()
        )),
        Ok(Some((_, source))) => match &source {
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
    let loose = loose_permissions(&ctx);
    if loose.is_empty() {
        r.ok("the vault key, audit log, API key file and SIDEKEY_HOME are private to their owner");
    }
    for w in loose {
        r.warn(w);
    }
    match ctx.existing_vault() {
        Ok(None) => r.ok(format!(
            "no vault yet: the first sign-in creates {}",
            ctx.vault_dir().display()
        )),
        Ok(Some(v)) => {
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
        // A placeholder client id is already a failure; its endpoints say nothing more.
        if is_placeholder(&acct.client_id) {
            continue;
        }
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
    if !clock_checked && !cfg.accounts.is_empty() {
        r.warn("clock: no provider answered with a Date header to compare against");
    }
    telegram(&ctx, &mut r).await;
    approvals(&ctx, &mut r);
    match r.worst {
        None => Ok(()),
        Some(exit) => Err(Failure::new(
            exit,
            Reason::Doctor,
            "some checks failed (see above)",
        )),
    }
}

/// The example config's client ids and chat id (deploy/config.example.toml): all zeros, or
/// a word that says "put yours here".
fn is_placeholder(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    v.contains("0000000000")
        || [
            "your",
            "placeholder",
            "changeme",
            "change-me",
            "example",
            "xxxx",
        ]
        .iter()
        .any(|w| v.contains(w))
        || matches!(v.as_str(), "" | "0" | "123456789" | "1234567890")
}

fn where_the_client_id_is(provider: &str) -> &'static str {
    match provider {
        "microsoft" => "Azure portal → App registrations → your app → Application (client) ID",
        "github" => "GitHub → Settings → Developer settings → OAuth Apps → your app → Client ID",
        "google" => "Google Cloud console → APIs & Services → Credentials → your OAuth client",
        _ => "the app you registered with the provider",
    }
}

/// `[notify.telegram]`: the chat id is not the example's, the bot token is a bot's (`getMe`),
/// and the bot knows the chat (`getChat`: the person sent it /start). Nothing is sent.
async fn telegram(ctx: &Context, r: &mut Report) {
    let Some(t) = &ctx.config.notify.telegram else {
        return;
    };
    if is_placeholder(&t.chat_id) {
        r.fail(
            Exit::Usage,
            format!(
                "telegram: chat_id {} is the example's placeholder: run `sidekey telegram setup` to record your chat",
                t.chat_id
            ),
        );
        return;
    }
    let http = match ctx.http() {
        Ok(h) => h,
        Err(e) => return r.fail(e.exit, format!("telegram: {}", e.message)),
    };
    let cfg = sidekey_notify::TelegramConfig {
        bot_token: t.bot_token.expose().to_string(),
        chat_id: t.chat_id.clone(),
        api_base: t.api_base.clone(),
    };
    let bot = sidekey_notify::bot::Bot::new(http.client(), &cfg);
    let username = match bot.get_me().await {
        Ok(me) => {
            let u = me.username.unwrap_or_default();
            r.ok(format!("telegram: the bot token is @{u}'s"));
            u
        }
        Err(e) => {
            let f = crate::error::telegram_failure(e, None);
            return r.fail(f.exit, format!("telegram: {}", f.message));
        }
    };
    match bot.get_chat(&t.chat_id).await {
        Ok(chat) => r.ok(format!(
            "telegram: @{username} reaches chat {} ({}); `sidekey notify test` sends a test message",
            t.chat_id,
            chat.describe()
        )),
        Err(e) => {
            let f = crate::error::telegram_failure(e, Some(&username));
            r.fail(f.exit, format!("telegram: {}", f.message));
        }
    }
}

/// Who can answer the writes under `ask`: without a Telegram channel only the terminal, and in a
/// group chat nobody until `[approvals] telegram_approvers` names them.
fn approvals(ctx: &Context, r: &mut Report) {
    let asking: Vec<&str> = ctx
        .config
        .accounts
        .values()
        .filter(|a| !a.policy.ask.is_empty())
        .map(|a| a.name.as_str())
        .collect();
    if asking.is_empty() {
        return;
    }
    let which = asking.join(", ");
    match &ctx.config.notify.telegram {
        None => r.warn(format!(
            "approvals: {which} ask for your approval, and no Telegram channel is set: approve at the terminal (`sidekey approvals`), or run `sidekey telegram setup`"
        )),
        Some(t) => {
            let approvers = ctx.config.approvals.approvers(Some(&t.chat_id));
            if approvers.is_empty() {
                r.fail(
                    Exit::Usage,
                    format!(
                        "approvals: chat {} is a group and [approvals] telegram_approvers is empty: nobody's press would count; list your Telegram user id there",
                        t.chat_id
                    ),
                );
            } else {
                r.ok(format!(
                    "approvals: {which} ask on Telegram; presses count from user id(s) {}",
                    approvers
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
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
