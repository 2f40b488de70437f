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
