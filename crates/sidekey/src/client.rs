//! Client mode: the same `sidekey` binary on the agent's side, talking to the daemon.
//!
//! When `SIDEKEY_URL` is set (`unix:///run/sidekey/sidekey.sock` or `http://sidekey:8787`) with
//! `SIDEKEY_API_KEY_FILE`, `status`, `login`, `logout`, `token` and `exec` run through the daemon.
//! This side has no vault, no vault key and no refresh token; raw access tokens reach it only
//! when the account's policy allows token export (else exit 6).

use crate::failure::{self, Failure};
use crate::login::{Mode, Reporter};
use serde_json::{Value, json};
use sidekey_flow::Secret;
use sidekey_notify::Event;
use std::ffi::OsString;
use std::io::Write;
use std::time::Duration;

pub struct Client {
    http: reqwest::Client,
    base: String,
    shown: String,
    key: Secret,
}

impl Client {
    /// `None` when `SIDEKEY_URL` is not set (local mode).
    pub fn from_env() -> Result<Option<Client>, Failure> {
        let Some(url) = std::env::var("SIDEKEY_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
        else {
            return Ok(None);
        };
        let key_file = std::env::var_os("SIDEKEY_API_KEY_FILE")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Failure::config("SIDEKEY_URL is set but SIDEKEY_API_KEY_FILE is not"))?;
        let key = crate::daemon::read_api_key(std::path::Path::new(&key_file))?;
        Client::new(url.trim(), key).map(Some)
    }

    pub fn new(url: &str, key: Secret) -> Result<Client, Failure> {
        let opts = sidekey_flow::HttpOptions {
            timeout: Duration::from_secs(120),
            ..Default::default()
        };
        let mut builder =
            sidekey_flow::client::client_builder(&opts).map_err(Failure::from_flow)?;
        let base = if let Some(path) = url.strip_prefix("unix://") {
            builder = builder.unix_socket(std::path::PathBuf::from(path));
            "http://sidekey".to_string()
        } else if url.starts_with("http://") || url.starts_with("https://") {
            url.trim_end_matches('/').to_string()
        } else {
            return Err(Failure::config(format!(
                "SIDEKEY_URL '{url}' must be unix:///path/to.sock or http(s)://host:port"
            )));
        };
        let http = builder
            .build()
            .map_err(|e| Failure::internal(format!("HTTP client setup failed: {e}")))?;
        Ok(Client {
            http,
            base,
            shown: url.to_string(),
            key,
        })
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "POST" => self.http.post(&url),
            _ => self.http.get(&url),
        };
        req = req.bearer_auth(self.key.expose());
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| {
            Failure::new(
                failure::PROVIDER,
                "network",
                format!(
                    "cannot reach the sidekey daemon at {}: {}",
                    self.shown,
                    sidekey_flow::client::describe_reqwest(e)
                ),
            )
        })?;
        let status = resp.status();
        let v: Value = resp.json().await.map_err(|_| {
            Failure::new(
                failure::PROVIDER,
                "network",
                format!(
                    "the sidekey daemon at {} sent an unreadable answer (HTTP {status})",
                    self.shown
                ),
            )
        })?;
        if let Some(e) = v.get("error") {
            let code = e["exit_code"].as_u64().unwrap_or(1) as u8;
            let reason = crate::login::failure_reason(e["reason"].as_str().unwrap_or(""));
            let msg = e["message"]
                .as_str()
                .unwrap_or("the daemon refused the request");
            return Err(Failure::new(code, reason, msg));
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(Failure::new(
                failure::POLICY,
                "unauthorized",
                "the daemon refused the API key",
            ));
        }
        Ok(v)
    }
}

fn block<T>(f: impl std::future::Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
    crate::account::runtime()?.block_on(f)
}

pub fn status(c: &Client, only: Option<&str>, json: bool) -> Result<(), Failure> {
    let path = match only {
        Some(n) => format!("/v1/status?account={n}"),
        None => "/v1/status".into(),
    };
    let v = block(c.call("GET", &path, None))?;
    crate::commands::print_status(&v, json, "the daemon's config");
    Ok(())
}

pub fn login(
    c: &Client,
    name: &str,
    json: bool,
    mode: Mode,
    scopes: &[String],
) -> Result<(), Failure> {
    sidekey_vault::check_name(name).map_err(|e| Failure::usage(e.to_string()))?;
    block(async {
        let first = if mode == Mode::JoinOnly {
            let mut v = c.call("GET", &format!("/v1/login/{name}"), None).await?;
            match v["event"].as_str() {
                Some("pending") => {
                    v["event"] = json!("code");
                    v
                }
                Some("none") => {
                    return Err(Failure::new(
                        failure::NOT_SIGNED_IN,
                        "no_pending",
                        format!(
                            "no sign-in is pending for '{name}': start one with `sidekey login {name}`"
                        ),
                    ));
                }
                _ => v,
            }
        } else {
            let body = json!({"account": name, "scopes": (!scopes.is_empty()).then_some(scopes)});
            c.call("POST", "/v1/login", Some(body)).await?
        };
        let provider = first["provider"]
            .as_str()
            .and_then(sidekey_flow::ProviderKind::parse)
            .map(|k| k.name())
            .unwrap_or("provider");
        let reporter = Reporter {
            json,
            quiet: false,
            account: name.to_string(),
            provider,
            channels: sidekey_notify::Channels::new(c.http.clone(), None, None, None),
        };
        let ev: Event = serde_json::from_value(first.clone())
            .map_err(|_| Failure::internal("the daemon sent an unexpected login event"))?;
        match &ev {
            Event::Code { .. } => reporter.show_code_event(&ev),
            _ => return finish(&reporter, &first, ev),
        }
        if mode == Mode::NoWait {
            return Ok(());
        }
        loop {
            let v = c
                .call("GET", &format!("/v1/login/{name}?wait=25"), None)
                .await?;
            match v["event"].as_str() {
                Some("pending") => continue,
                Some("none") => {
                    return Err(Failure::internal("the daemon lost track of the sign-in"));
                }
                _ => {
                    let ev: Event = serde_json::from_value(v.clone()).map_err(|_| {
                        Failure::internal("the daemon sent an unexpected login event")
                    })?;
                    return finish(&reporter, &v, ev);
                }
            }
        }
    })
}

fn finish(reporter: &Reporter, raw: &Value, ev: Event) -> Result<(), Failure> {
    match &ev {
        Event::SignedIn { .. } => {
            reporter.show_final_event(&ev);
            Ok(())
        }
        Event::Failed {
            reason, message, ..
        } => {
            reporter.show_final_event(&ev);
            let code = raw["exit_code"]
                .as_u64()
                .unwrap_or(failure::PROVIDER as u64) as u8;
            Err(Failure::new(
                code,
                crate::login::failure_reason(reason),
                message.clone(),
            ))
        }
        Event::Code { .. } => Ok(()),
    }
}

fn fetch_token(c: &Client, name: &str) -> Result<Value, Failure> {
    sidekey_vault::check_name(name).map_err(|e| Failure::usage(e.to_string()))?;
    block(c.call("POST", "/v1/token", Some(json!({"account": name}))))
}

pub fn token(c: &Client, name: &str, json: bool) -> Result<(), Failure> {
    let v = fetch_token(c, name)?;
    let at = v["access_token"].as_str().unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let r = if json {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("token_env");
        }
        writeln!(out, "{v}")
    } else {
        writeln!(out, "{at}")
    };
    r.map_err(|e| Failure::internal(format!("cannot write to stdout: {e}")))
}

pub fn exec(c: &Client, name: &str, command: &[OsString]) -> Result<(), Failure> {
    let Some((program, args)) = command.split_first() else {
        return Err(Failure::usage(
            "missing command: sidekey exec NAME -- COMMAND [ARGS...]",
        ));
    };
    let v = fetch_token(c, name)?;
    let at = v["access_token"].as_str().unwrap_or_default();
    let mut cmd = std::process::Command::new(program);
    cmd.args(args)
        .env("SIDEKEY_ACCESS_TOKEN", at)
        .env("SIDEKEY_ACCOUNT", name);
    for var in v["token_env"].as_array().into_iter().flatten() {
        if let Some(var) = var.as_str() {
            cmd.env(var, at);
        }
    }
    use std::os::unix::process::CommandExt;
    let err = cmd.exec();
    Err(Failure::usage(format!(
        "cannot run '{}': {err}",
        program.to_string_lossy()
    )))
}

pub fn logout(c: &Client, name: &str) -> Result<(), Failure> {
    sidekey_vault::check_name(name).map_err(|e| Failure::usage(e.to_string()))?;
    let v = block(c.call("POST", "/v1/logout", Some(json!({"account": name}))))?;
    println!("{}", v["message"].as_str().unwrap_or("done"));
    Ok(())
}

/// `sidekey health`: exit 0 when the daemon answers `/healthz` (the image's HEALTHCHECK).
pub fn health(c: &Client) -> Result<(), Failure> {
    let v = block(async {
        let url = format!("{}/healthz", c.base);
        let r = c
            .http
            .get(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| {
                Failure::new(
                    failure::PROVIDER,
                    "network",
                    format!(
                        "daemon not answering at {}: {}",
                        c.shown,
                        sidekey_flow::client::describe_reqwest(e)
                    ),
                )
            })?;
        r.json::<Value>()
            .await
            .map_err(|_| Failure::new(failure::PROVIDER, "network", "unreadable /healthz answer"))
    })?;
    if v["ok"] == json!(true) {
        println!("ok");
        Ok(())
    } else {
        Err(Failure::new(
            failure::PROVIDER,
            "network",
            "the daemon is not healthy",
        ))
    }
}

/// `sidekey ms …` through the daemon: `(JSON result, text)`.
pub fn ms(c: &Client, req: &crate::ms::MsRequest) -> Result<(Value, String), Failure> {
    let body = serde_json::to_value(req).map_err(|e| Failure::internal(e.to_string()))?;
    let v = block(c.call("POST", "/v1/ms", Some(body)))?;
    Ok((
        v["result"].clone(),
        v["text"].as_str().unwrap_or_default().to_string(),
    ))
}
