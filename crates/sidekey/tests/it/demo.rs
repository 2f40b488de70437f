//! `sidekey demo` (issue 20, item 5): it stays offline whatever the person has configured, it
//! cleans up on Ctrl-C and SIGTERM, and it shows the Telegram relay — the bot's message and QR
//! code as a chat bubble on its phone page — checked in a real browser (headless Chromium).
//! The demo's other steps: `cli::demo_runs_offline`.

use crate::common::{Env, browser, stderr, stdout, wait_timeout};
use base64::Engine;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// A `sidekey demo` (without `--auto-approve`: it waits for the person) and its stdout lines.
struct DemoRun {
    child: Child,
    rx: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl DemoRun {
    fn start(env: &Env) -> DemoRun {
        let mut child = env
            .cmd(&["demo"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        DemoRun {
            child,
            rx,
            seen: Vec::new(),
        }
    }

    /// The rest of the first line (from now on) that contains `marker`, after it.
    fn after(&mut self, marker: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = self.rx.recv_timeout(left) else {
                let _ = self.child.kill();
                panic!(
                    "the demo printed no line with {marker:?}; it printed:\n{}",
                    self.seen.join("\n")
                );
            };
            self.seen.push(line.clone());
            if let Some((_, rest)) = line.split_once(marker) {
                return rest.trim().to_string();
            }
        }
    }

    /// Send `signal` (`INT`, `TERM`), wait for the exit: (exit code, stderr).
    fn stop(mut self, signal: &str) -> (i32, String) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal}");
        let code = wait_timeout(&mut self.child, Duration::from_secs(30));
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (code, err)
    }
}

/// What the demo printed first: its throw-away folder, its phone page (if it has one), the code.
struct Started {
    folder: PathBuf,
    phone: Option<String>,
    code: String,
    /// The link the QR code carries (the one with the code, when the provider gives one).
    qr_link: String,
}

fn started(run: &mut DemoRun) -> Started {
    let folder = PathBuf::from(run.after("Throw-away config and vault: "));
    let verification_uri = run.after("To sign in to 'demo' (oidc), open ");
    let code = run.after("and enter the code: ");
    let complete = run.after("Or open this link, which carries the code: ");
    let phone = run.seen.iter().find_map(|l| {
        l.split_once("Your phone: open ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .map(str::to_string)
    });
    let qr_link = if complete.is_empty() {
        verification_uri
    } else {
        complete
    };
    Started {
        folder,
        phone,
        code,
        qr_link,
    }
}

/// The page at `url` once it holds `needle` (the relay runs in the background).
fn page_with(url: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = browser::get_text(url);
        if status == 200 && body.contains(needle) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{url} never showed {needle:?}: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A proxy that records the first line of every connection and drops it (so a request through
/// it fails at once instead of waiting for a timeout): (its URL, what reached it).
fn recording_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", proxy.local_addr().unwrap());
    let reached: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = reached.clone();
    std::thread::spawn(move || {
        for conn in proxy.incoming() {
            let Ok(mut conn) = conn else { continue };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
            let mut head = [0u8; 200];
            let n = conn.read(&mut head).unwrap_or(0);
            let first = String::from_utf8_lossy(&head[..n]);
            log.lock()
                .unwrap()
                .push(first.lines().next().unwrap_or("(nothing)").to_string());
        }
    });
    (url, reached)
}

/// The person has a real bot configured (`TELEGRAM_BOT_TOKEN`/`TELEGRAM_CHAT_ID`) and a proxy.
/// The demo uses neither: it finishes quickly, its own fake Telegram got the messages, and not
/// one connection reached the proxy — the only way off this machine for a client that honours
/// `HTTPS_PROXY` (a `CONNECT api.telegram.org:443` would land there). The old demo sent the
/// codes to the person's bot (17 s of warnings when Telegram could not be reached).
#[test]
fn demo_ignores_the_persons_telegram_and_proxy_and_reaches_only_its_own_fakes() {
    // With loopback exempt (the usual setup) only a call off the machine would reach the proxy;
    // without, the demo's own calls would too, unless it ignores the proxy.
    for no_proxy in ["127.0.0.1,localhost", ""] {
        let (proxy, reached) = recording_proxy();
        let env = Env::new("");
        let mut cmd = env.cmd(&["demo", "--auto-approve"]);
        cmd.env("TELEGRAM_BOT_TOKEN", "123456:the-persons-real-bot-token")
            .env("TELEGRAM_CHAT_ID", "987654321")
            .env("NO_PROXY", no_proxy)
            .env("no_proxy", no_proxy);
        for var in [
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            cmd.env(var, &proxy);
        }
        let begun = Instant::now();
        let out = cmd.output().unwrap();
        let took = begun.elapsed();
        let (text, err) = (stdout(&out), stderr(&out));
        assert_eq!(
            *reached.lock().unwrap(),
            Vec::<String>::new(),
            "NO_PROXY={no_proxy:?}: the demo reached beyond its own fakes\n{text}\n{err}"
        );
        assert_eq!(out.status.code(), Some(0), "{text}\n{err}");
        assert!(!err.contains("could not notify"), "{err}");
        assert!(!text.contains("the-persons-real-bot") && !err.contains("the-persons-real-bot"));
        // Two sign-ins (demo, google): a code and a signed-in message each, a QR code each.
        assert!(
            text.contains("Telegram: the bot sent 4 messages and 2 QR codes to the phone"),
            "{text}"
        );
        assert!(took < Duration::from_secs(20), "the demo took {took:?}");
    }
}

/// The person's vault key settings are not the demo's business: with `SIDEKEY_VAULT_KEY_FILE`
/// naming a file that is not there and `SIDEKEY_VAULT_KEY` not a key, the demo still runs on its
/// own key (the old demo read them, and stopped with exit 2).
#[test]
fn demo_uses_its_own_vault_key_whatever_the_person_set() {
    let env = Env::new("");
    let out = env
        .cmd(&["demo", "--auto-approve"])
        .env("SIDEKEY_VAULT_KEY_FILE", env.dir.path().join("no-such-key"))
        .env("SIDEKEY_VAULT_KEY", "not a key")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("Signed in to 'demo' as Ada Lovelace"),
        "{}",
        stdout(&out)
    );
}

/// Ctrl-C (SIGINT) and SIGTERM while the demo waits for the person: it exits 130 / 143 (128 +
/// the signal, as shells do) and its throw-away folder, vault key included, is gone. The old
/// demo died of the signal and left the folder behind.
#[test]
fn demo_ctrl_c_and_sigterm_remove_its_folder_and_vault_key() {
    let env = Env::new("");
    for (signal, exit) in [("INT", 130), ("TERM", 143)] {
        let mut run = DemoRun::start(&env);
        let s = started(&mut run);
        assert!(!s.code.is_empty());
        assert!(
            s.folder.join("vault.key").is_file(),
            "{}: the demo's own key file",
            s.folder.display()
        );
        let (code, err) = run.stop(signal);
        assert_eq!(code, exit, "SIG{signal}: {err}");
        assert!(
            !s.folder.exists(),
            "SIG{signal} left {} behind",
            s.folder.display()
        );
        assert!(err.contains("stopped; removed"), "{err}");
    }
}

/// What is in the image at `path`: (width, height, pixels in (r, g, b)).
fn pixels(path: &Path) -> (u32, u32, Vec<(u8, u8, u8)>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    let px = buf[..info.buffer_size()]
        .chunks(step)
        .map(|p| (p[0], p[1], p[2]))
        .collect();
    (info.width, info.height, px)
}

/// The headline, seen in a real browser: the demo's phone page shows the bot's code message as a
/// chat bubble (the code in it) and the QR photo (the very PNG the relay draws of the sign-in
/// link), and Chromium's screenshot of it is a page with content — the chat's header, the QR
/// code's dark modules — not a blank or error page.
#[test]
fn demo_phone_page_shows_the_bots_message_and_qr_code_in_chromium() {
    let Some(chromium) = browser::chromium() else {
        return;
    };
    let env = Env::new("");
    let mut run = DemoRun::start(&env);
    let s = started(&mut run);
    let phone = s
        .phone
        .clone()
        .unwrap_or_else(|| panic!("no phone page:\n{}", run.seen.join("\n")));
    assert!(
        phone.starts_with("http://127.0.0.1:") && phone.ends_with("/phone"),
        "{phone}"
    );
    // The phone page comes before anything else the demo says.
    assert!(
        run.seen.iter().position(|l| l.contains(&phone)) < Some(3),
        "{}",
        run.seen.join("\n")
    );
    // The relay is in the background: wait for the photo (it follows the message).
    page_with(&phone, "class=\"qr\"");

    let shots = tempfile::tempdir().unwrap();
    let browse = |args: &[String]| {
        let mut c = Command::new(&chromium);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!(
            "--user-data-dir={}",
            shots.path().join("profile").display()
        ))
        .args(args)
        .arg(&phone)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        let mut child = c.spawn().unwrap();
        let mut out = String::new();
        let mut pipe = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let _ = pipe.read_to_string(&mut out);
            out
        });
        assert_eq!(wait_timeout(&mut child, Duration::from_secs(90)), 0);
        reader.join().unwrap()
    };

    let dom = browse(&["--dump-dom".to_string()]);
    let bubble = dom
        .split("class=\"bubble message\"")
        .nth(1)
        .and_then(|b| b.split("</div>").next())
        .unwrap_or_else(|| panic!("no message bubble in the DOM:\n{dom}"));
    assert!(bubble.contains("Sign-in request for"), "{bubble}");
    assert!(
        bubble.contains(&format!("<code>{}</code>", s.code)),
        "the code, as Telegram shows it: {bubble}"
    );
    let photo = dom
        .split("class=\"bubble photo\"")
        .nth(1)
        .and_then(|b| b.split("</div></div>").next())
        .unwrap_or_else(|| panic!("no photo bubble in the DOM:\n{dom}"));
    let src = photo
        .split("src=\"data:image/png;base64,")
        .nth(1)
        .and_then(|p| p.split('"').next())
        .unwrap_or_else(|| panic!("no QR image in the photo bubble: {photo}"));
    let png_bytes = base64::engine::general_purpose::STANDARD
        .decode(src)
        .unwrap();
    assert_eq!(
        png_bytes,
        sidekey_notify::qr::png(&s.qr_link).unwrap(),
        "the image is the relay's QR code of {}",
        s.qr_link
    );
    assert!(
        photo.contains(&format!("<code>{}</code>", s.code)),
        "{photo}"
    );

    let shot = shots.path().join("phone.png");
    browse(&[
        format!("--screenshot={}", shot.display()),
        "--window-size=500,1100".to_string(),
    ]);
    assert!(shot.is_file(), "no screenshot");
    let (w, h, px) = pixels(&shot);
    assert_eq!((w, h), (500, 1100));
    let near = |p: &(u8, u8, u8), c: (u8, u8, u8)| {
        p.0.abs_diff(c.0) <= 8 && p.1.abs_diff(c.1) <= 8 && p.2.abs_diff(c.2) <= 8
    };
    // The chat's header bar (#517da2) and the QR code's black modules (8 px each, dozens).
    let header = px.iter().filter(|p| near(p, (0x51, 0x7d, 0xa2))).count();
    let black = px.iter().filter(|p| near(p, (0, 0, 0))).count();
    let white = px.iter().filter(|p| near(p, (255, 255, 255))).count();
    assert!(
        header > 10_000,
        "no chat header in the screenshot ({header} px)"
    );
    assert!(
        black > 5_000,
        "no QR code in the screenshot ({black} px black)"
    );
    assert!(
        white > 20_000,
        "no white bubbles in the screenshot ({white} px)"
    );

    let (code, err) = run.stop("INT");
    assert_eq!(code, 130, "{err}");
}
