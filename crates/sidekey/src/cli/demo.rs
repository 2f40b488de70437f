//! `sidekey demo [--auto-approve]`: the whole story offline, with nothing configured.
//!
//! It starts the test kit's OIDC authorization server on 127.0.0.1 (a real HTTP server with a
//! verification page), points a throw-away config and vault at it, and runs the very same
//! `login`, `status` and `token` code as the real commands. `--auto-approve` does the browser's
//! part (a form POST to the verification page), so it also runs unattended in CI.

use super::{login, output};
use crate::api::LoginRequest;
use crate::backend::{Backend, Local};
use crate::config::Config;
use crate::context::Context;
use crate::error::Failure;
use crate::signin::{Mode, Stop};
use sidekey_notify::Event;
use sidekey_testkit::{Dialect, FakeGoogle, FakeIdp, FakeUser, GoogleOptions, Options};
use std::path::PathBuf;
use std::time::Duration;

pub async fn run(auto_approve: bool) -> Result<(), Failure> {
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
    let home = std::env::temp_dir().join(format!("sidekey-demo-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(home.clone());
    sidekey_vault::create_private_dir(&home)?;
    let config_path = home.join("config.toml");
    let config_text = format!(
        "# written by `sidekey demo`\n[accounts.demo]\nprovider = \"oidc\"\nissuer = \"{}\"\nclient_id = \"test-client\"\nscopes = [\"openid\", \"profile\", \"email\", \"offline_access\"]\n",
        idp.issuer()
    ) + &format!(
        "\n[accounts.google]\nprovider = \"google\"\nclient_id = \"test-client\"\nclient_secret = \"test-secret\"\ndevice_authorization_endpoint = \"{}\"\ntoken_endpoint = \"{}\"\nscopes = [\"openid\", \"email\", \"drive.file\"]\n[accounts.google.drive]\napi_root = \"{g}\"\ndocs_root = \"{g}\"\n[accounts.google.policy]\nallow = [\"google.inbox.add\"]\n",
        gidp.device_authorization_endpoint(),
        gidp.token_endpoint(),
        g = google.base_url()
    );
    std::fs::write(&config_path, &config_text)
        .map_err(|e| Failure::internal(format!("cannot write the demo config: {e}")))?;
    let mut config = Config::parse(&config_path, &config_text)?;
    config.key_file = None;
    let backend = Backend::Local(
        Local::new(Context::new(home.clone(), config), Stop::never()),
        crate::backend::Caller::Person,
    );

    println!(
        "sidekey demo: a local authorization server is running at {}",
        idp.base_url()
    );
    println!("Throw-away config and vault: {}\n", home.display());
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
                "(Open the link below in a browser on this machine, type the code and press Approve.)"
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
    println!("\nDemo finished. Next: configure a real provider (README, \"Using it for real\").");
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
        let req = OpRequest {
            account: Some("google".into()),
            op: Operation::Google(op),
        };
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
