//! Shared helpers for the notify integration tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use sidekey_notify::{Event, RetryPolicy, User};

/// What the CLI builds: rustls with the ring provider (no roots needed for 127.0.0.1).
pub fn client() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Real bounds, short backoff: keeps retry tests fast.
pub fn fast() -> RetryPolicy {
    RetryPolicy {
        request_timeout: Duration::from_secs(5),
        attempts: 4,
        backoff: Duration::from_millis(20),
        max_wait: Duration::from_secs(5),
        total: Duration::from_secs(10),
    }
}

pub const TOKEN: &str = "123456789:AAHsecretBotTokenValue_xyz-0123456789";
pub const CHAT: &str = "424242";

pub fn in_minutes(m: i64) -> String {
    let ts = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(m * 60 + 30);
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn code_event(complete: Option<&str>) -> Event {
    Event::Code {
        account: "work".to_string(),
        provider: "microsoft".to_string(),
        scopes: vec!["User.Read".to_string(), "Files.Read".to_string()],
        user_code: "ABCD-EFGH".to_string(),
        verification_uri: "https://microsoft.com/devicelogin".to_string(),
        verification_uri_complete: complete.map(str::to_string),
        expires_at: in_minutes(15),
        interval: 5,
    }
}

pub fn signed_in_event() -> Event {
    Event::SignedIn {
        account: "work".to_string(),
        provider: "microsoft".to_string(),
        user: User {
            name: Some("Ada Lovelace".to_string()),
            email: Some("ada@example.test".to_string()),
        },
        scopes: vec!["User.Read".to_string()],
        expires_at: Some("2026-01-01T13:00:00Z".to_string()),
        warning: None,
    }
}

pub fn failed_event() -> Event {
    Event::Failed {
        account: "work".to_string(),
        provider: "microsoft".to_string(),
        reason: "access_denied".to_string(),
        message: "The user declined the sign-in.".to_string(),
    }
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}
