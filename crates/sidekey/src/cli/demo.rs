//! `sidekey demo [--auto-approve]`: the whole story offline, with nothing configured.
//!
//! It starts the test kit's OIDC authorization server on 127.0.0.1 (a real HTTP server with a
//! verification page), points a throw-away config and vault at it, and runs the very same
//! `login`, `status` and `token` code as the real commands. `--auto-approve` does the browser's
//! part (a form POST to the verification page), so it also runs unattended in CI.
//!
//! The relay is part of the story: the throw-away config has a `[notify.telegram]` of its own,
//! pointed at the test kit's fake Telegram, so the real notify code sends the code message and
//! its QR code (`sendMessage`, `sendPhoto`) there, and the fake shows the chat as a phone would
//! at `/phone`. The demo reads none of the person's settings: not `TELEGRAM_*` (its config names
//! its own bot), not `SIDEKEY_VAULT_KEY*` (its config names its own key file), no proxy (its
//! HTTP client talks to its own loopback servers only). Ctrl-C or SIGTERM removes its folder,
//! vault key included, and exits 130 or 143 (128 + the signal's number, as shells do).

use super::{login, output};
use crate::api::LoginRequest;
use crate::backend::{Backend, Local};
use crate::config::Config;
use crate::context::Context;
use crate::error::Failure;
use crate::signin::{Mode, Stop};
use sidekey_flow::{Http, HttpOptions};
use sidekey_notify::Event;
use sidekey_testkit::{
    Dialect, FakeGoogle, FakeIdp, FakeTelegram, FakeUser, GoogleOptions, Options,
};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The demo bot's token and the person's chat id: made up, known only to the demo's own fake
/// Telegram (a token has the Bot API's `123456:ABC…` shape).
const BOT_TOKEN: &str = "100200300:sidekey-demo-bot";
const CHAT_ID: &str = "424242";

pub async fn run(auto_approve: bool) -> Result<(), Failure> {
    use crate::signals::{SIGINT, SIGTERM, Signal};
    let watch = |signal| {
        Signal::catch(signal)
            .map_err(|e| Failure::internal(format!("cannot watch for Ctrl-C: {e}")))
    };
    // Watched before the folder exists, so no signal can find it without its clean-up.
    let mut interrupt = watch(SIGINT)?;
    let mut terminate = watch(SIGTERM)?;
    let home = std::env::temp_dir().join(format!("sidekey-demo-{}", std::process::id()));
    let cleanup = RemoveOnDrop(home.clone());
    let code = tokio::select! {
        r = demo(auto_approve, &home) => return r,
        _ = interrupt.recv() => 130,
        _ = terminate.recv() => 143,
    };
    // The demo's servers and sign-ins are gone with its future; now its folder goes.
    drop(cleanup);
    eprintln!(
        "\nsidekey demo: stopped; removed {} (its vault and key)",
        home.display()
    );
    std::process::exit(code);
}

async fn demo(auto_approve: bool, home: &Path) -> Result<(), Failure> {
    let mut opts = Options::new(Dialect::Oidc);
    opts.interval = Some(1);
    opts.expires_in = 600;
    opts.user = FakeUser {
        name: "Ada Lovelace".into(),
        email: Some("ada@example.test".into()),
        login: "ada".into(),
        subject: None,
    };
    let idp = FakeIdp::start(opts);
    // Google's part: its device-flow dialect (approving by itself) and a fake Drive.
    let mut gopts = Options::new(Dialect::Google);
    gopts.auto_approve_after_polls = Some(1);
    let gidp = FakeIdp::start(gopts);
    let google = FakeGoogle::start(GoogleOptions::default());
    google.trust(&gidp, "tv");
    // The person's phone: the bot's messages land in this fake Telegram.
    let telegram = FakeTelegram::start(BOT_TOKEN);
    sidekey_vault::create_private_dir(home)?;
    // A key of the demo's own: named in its config, so no vault key setting is consulted.
    let key_file = home.join("vault.key");
    sidekey_vault::load_or_create_key_file(&key_file)?;
    let config_path = home.join("config.toml");
    let config_text = format!(
        "# written by `sidekey demo`\n[accounts.demo]\nprovider = \"oidc\"\nissuer = \"{}\"\nclient_id = \"test-client\"\nscopes = [\"openid\", \"profile\", \"email\", \"offline_access\"]\n",
        idp.issuer()
    ) + &format!(
        "\n[accounts.google]\nprovider = \"google\"\nclient_id = \"test-client\"\nclient_secret = \"test-secret\"\ndevice_authorization_endpoint = \"{}\"\ntoken_endpoint = \"{}\"\napi_base = \"{}\"\nscopes = [\"openid\", \"email\", \"drive.file\"]\n[accounts.google.drive]\napi_root = \"{g}\"\ndocs_root = \"{g}\"\n[accounts.google.policy]\nallow = [\"google.inbox.add\"]\n",
        gidp.device_authorization_endpoint(),
        gidp.token_endpoint(),
        gidp.api_base(),
        g = google.base_url()
    ) + &format!(
        "\n# The demo's own bot and chat, on its fake Telegram (TELEGRAM_* are not read: both are set here).\n[notify.telegram]\nbot_token = \"{BOT_TOKEN}\"\nchat_id = \"{CHAT_ID}\"\napi_base = \"{}\"\n",
        telegram.api_base()
    );
    std::fs::write(&config_path, &config_text)
        .map_err(|e| Failure::internal(format!("cannot write the demo config: {e}")))?;
    let mut config = Config::parse(&config_path, &config_text)?;
    config.key_file = Some(key_file);
    // Every server is the demo's own on 127.0.0.1: no proxy may route a call elsewhere, and no
    // name is looked up, so a call to any other host fails instead of leaving the machine.
    let client = sidekey_net::client_builder(config.http_timeout)
        .no_proxy()
        .dns_resolver(NoLookups)
        .build()
        .map_err(|e| Failure::internal(format!("HTTP client setup failed: {e}")))?;
    let http = Http::with_client(client, HttpOptions::default().max_body);
    let backend = Backend::Local(
        std::sync::Arc::new(Local::new(
            Context::new(home.to_path_buf(), config).with_http(http),
            Stop::never(),
        )),
        crate::backend::Caller::Person,
    );

    println!("sidekey demo: everything below runs on this machine; nothing is sent anywhere.");
    println!(
        "Your phone: open {} in a browser to see what sidekey's Telegram bot sends you.",
        telegram.phone_url()
    );
    println!(
        "A local authorization server is running at {}",
        idp.base_url()
    );
    println!(
        "Throw-away config and vault: {}\n(removed when the demo ends, Ctrl-C too)\n",
        home.display()
    );
    println!("$ sidekey login demo");
    // Start the sign-in to learn its code, then run the real `login` conversation, which finds
    // the same sign-in running in this process and shows it.
    let req = LoginRequest {
        account: "demo".into(),
        ..LoginRequest::default()
    };
    let started = backend.login(&req, Mode::Fresh, false).await?;
    if let Event::Code {
        verification_uri,
        user_code,
        ..
    } = started.event
    {
        println!(
            "(The same code went to Telegram, with a QR code of the link: see {})",
            telegram.phone_url()
        );
        if auto_approve {
            let client = match &backend {
                Backend::Local(l, _) => l.ctx.http()?.client().clone(),
                Backend::Remote(_) => unreachable!("the demo runs locally"),
            };
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(1200)).await;
                println!(
                    "(--auto-approve: entering {user_code} on {verification_uri} and pressing Approve)"
                );
                let _ = client
                    .post(&verification_uri)
                    .form(&[("user_code", user_code.as_str()), ("action", "approve")])
                    .send()
                    .await;
            });
        } else {
            println!(
                "(Open the link below in a browser on this machine, or tap it on the phone page, type the code and press Approve.)"
            );
        }
    }
    login::run(&backend, "demo", false, fresh()).await?;

    println!("\n$ sidekey status");
    output::status(
        &backend.status(None).await?,
        false,
        &config_path.display().to_string(),
    )?;
    println!("\n$ sidekey token demo");
    let token = backend.token("demo").await?;
    let t = token.access_token.expose();
    let shown: String = t.chars().take(6).collect();
    println!(
        "{shown}… ({} characters; the real command prints the whole token, the demo does not)",
        t.chars().count()
    );
    google_part(&backend, &google).await?;
    println!(
        "\nTelegram: the bot sent {} messages and {} QR codes to the phone ({}).",
        telegram.messages().len(),
        telegram.photos().len(),
        telegram.phone_url()
    );
    println!("Demo finished. Next: configure a real provider (README, \"Using it for real\").");
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        // The phone page lives as long as the demo: let the person look before it goes.
        println!("Press Enter to end the demo (and its phone page).");
        let _ = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)
        })
        .await;
    }
    Ok(())
}

/// The agent's Google inbox, offline: sign in (the fake approves by itself), upload a note,
/// see that a file dropped in through the Drive website stays invisible, read the note.
async fn google_part(backend: &Backend, google: &FakeGoogle) -> Result<(), Failure> {
    use crate::api::OpRequest;
    use crate::catalog::Operation;
    use crate::catalog::google::GoogleOp;
    use base64::Engine;
    let run = |op: GoogleOp| {
        let req = OpRequest::new(Some("google".into()), Operation::Google(op));
        async move { backend.operate(&req).await }
    };
    println!(
        "\n--- Google: the agent's Drive inbox (a fake Google on {}) ---",
        google.base_url()
    );
    println!("$ sidekey login google   (this fake Google approves by itself)");
    login::run(backend, "google", false, fresh()).await?;
    println!("\n$ sidekey google inbox add welcome.md");
    let note = "# Welcome\nThe agent reads this through sidekey, never with a token of its own.\n";
    let added = run(GoogleOp::InboxAdd {
        name: "welcome.md".into(),
        mime_type: "text/markdown".into(),
        content_base64: base64::engine::general_purpose::STANDARD.encode(note),
    })
    .await?;
    output::op(&added, false)?;
    let id = added.result["id"].as_str().unwrap_or_default().to_string();
    if let Some(inbox) = added.result["parents"][0].as_str() {
        // The person drags a file into the same folder in the Drive website.
        google.person_adds_file(
            Some(inbox),
            "dropped-in-the-browser.pdf",
            "application/pdf",
            b"%PDF",
        );
        println!(
            "(meanwhile the person drops dropped-in-the-browser.pdf into the folder in the Drive website)"
        );
    }
    println!("\n$ sidekey google inbox list");
    output::op(&run(GoogleOp::InboxList).await?, false)?;
    println!("\n$ sidekey google inbox read {id}");
    output::op(&run(GoogleOp::InboxRead { ids: vec![id] }).await?, false)?;
    Ok(())
}

/// The demo's resolver: it resolves nothing. Its servers are all `127.0.0.1:PORT` (no lookup),
/// so only a call meant for somewhere else — a real provider's host — ends here, as an error.
struct NoLookups;

impl reqwest::dns::Resolve for NoLookups {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let message = format!(
            "the demo stays on this machine: it does not look up {}",
            name.as_str()
        );
        Box::pin(async move { Err(message.into()) })
    }
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A plain `login NAME`.
fn fresh() -> login::How<'static> {
    login::How {
        mode: Mode::Fresh,
        scopes: &[],
        paste_url: None,
        replace_identity: false,
    }
}
