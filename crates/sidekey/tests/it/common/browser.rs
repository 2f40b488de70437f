//! The person's browser, as the code-flow tests play it: a plain HTTP/1.1 GET of a URL (the
//! fake's authorization endpoint, sidekey's loopback listener), and the redirect it follows.

use std::io::{Read, Write};

/// A browser's GET: (status, Location header). The status is 0 when nothing readable came back.
pub fn get(url: &str) -> (u16, Option<String>) {
    let u = url::Url::parse(url).unwrap();
    let mut s = std::net::TcpStream::connect((u.host_str().unwrap(), u.port().unwrap())).unwrap();
    let target = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    };
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        u.host_str().unwrap()
    )
    .unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let location = resp
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or(l.strip_prefix("Location: "))
        })
        .map(|l| l.trim().to_string());
    (status, location)
}

/// The person approves at the provider's authorization endpoint: the redirect the browser
/// would follow (to sidekey's loopback listener, or to be pasted back).
pub fn approve(auth_url: &str) -> String {
    let (status, location) = get(auth_url);
    assert_eq!(status, 302, "authorization endpoint");
    location.expect("a redirect")
}

/// A browser's GET of a page: (status, body). The status is 0 when nothing readable came back.
pub fn get_text(url: &str) -> (u16, String) {
    let u = url::Url::parse(url).unwrap();
    let Ok(mut s) = std::net::TcpStream::connect((u.host_str().unwrap(), u.port().unwrap())) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let target = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    };
    let _ = write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        u.host_str().unwrap()
    );
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A real browser: headless Chromium (Debian's `chromium`; `CHROMIUM` names another binary).
/// `None` — the test is skipped, and says so with the command that installs it — only outside
/// CI; under CI (`CI` set, where `.ci/run` installs it) a missing Chromium fails the test.
pub fn chromium() -> Option<std::path::PathBuf> {
    let bin = std::env::var_os("CHROMIUM")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/chromium".into());
    let ok = std::process::Command::new(&bin)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(bin);
    }
    let how = "apt-get install -y chromium";
    if std::env::var_os("CI").is_some() {
        panic!(
            "{} is not there; .ci/run should have run: {how}",
            bin.display()
        );
    }
    eprintln!(
        "SKIPPED: headless Chromium is not installed at {} (run: {how})",
        bin.display()
    );
    None
}
