//! `sidekey secret-provider`: an OpenClaw exec secret provider (SecretRef `source: "exec"`), so
//! OpenClaw config fields that take a SecretRef (a model provider's `apiKey`, `headers`,
//! `request.auth.token`, a skill's `apiKey`, ...) get a fresh OAuth access token from sidekey.
//!
//! The protocol is OpenClaw's "protocolVersion 1" (`docs/openclaw.md`, "Exec secret providers"):
//! * stdin: `{"protocolVersion":1,"provider":"sidekey","ids":["gh","work#authorization"]}`
//! * stdout: `{"protocolVersion":1,"values":{"gh":"…"},"errors":{"x":{"code":"NOT_FOUND"}}}`,
//!   exit 0. OpenClaw shows the codes `NOT_FOUND` and `AMBIGUOUS_DUPLICATE_KEY` and treats any
//!   other code as a provider error for that id (it never shows `message`).
//! * A request that is not protocol v1 JSON: one line on stderr and exit 2 (OpenClaw reports
//!   "exited with code 2"). A sidekey that cannot reach its vault or daemon at all also fails
//!   the whole request: one line on stderr, its usual exit code.
//!
//! Ids: `NAME` (the account's access token), `NAME#access_token` (the same), or
//! `NAME#authorization` (`Bearer TOKEN`, for a header value). OpenClaw's id grammar
//! (`^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,255}$`) admits account names of letters, digits and `-`
//! that start with a letter or digit; a name with `_` cannot be named by a ref.
//!
//! A token export like `sidekey token`: through the daemon the account's policy must allow it
//! (`allow_token_export`), and the audit log records `token` with
//! `{"via": "secret_provider"}`. OpenClaw resolves refs at start and on reload only
//! (`docs/openclaw.md`, "SecretRef resolution and refresh"). It starts the command with an empty
//! environment except its `passEnv`/`env` entries, so client mode needs
//! `passEnv: ["SIDEKEY_URL", "SIDEKEY_API_KEY_FILE"]`.

use crate::api::TokenPurpose;
use crate::backend::Backend;
use crate::error::{Exit, Failure, Reason};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::io::{Read, Write};

/// OpenClaw's default `maxBatchBytes` is far smaller; 1 MiB is its `maxOutputBytes` default.
const MAX_INPUT: u64 = 1024 * 1024;

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub protocol_version: Value,
    /// (`provider`, the alias in OpenClaw's config, is not needed: ids name accounts.)
    pub ids: Vec<String>,
}

/// What an id asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Selector {
    AccessToken,
    Authorization,
}

/// `NAME[#access_token|#authorization]`; `None` for an unknown selector.
pub fn split_id(id: &str) -> Option<(&str, Selector)> {
    match id.split_once('#') {
        None => Some((id, Selector::AccessToken)),
        Some((name, "access_token")) => Some((name, Selector::AccessToken)),
        Some((name, "authorization")) => Some((name, Selector::Authorization)),
        Some(_) => None,
    }
}

pub fn parse(input: &[u8]) -> Result<Request, Failure> {
    let req: Request = serde_json::from_slice(input).map_err(|_| {
        Failure::usage(
            "secret-provider: expected OpenClaw's exec request {\"protocolVersion\":1,\"provider\":…,\"ids\":[…]} on stdin",
        )
    })?;
    if req.protocol_version != json!(1) {
        return Err(Failure::usage(format!(
            "secret-provider: protocolVersion {} is not supported (only 1)",
            req.protocol_version
        )));
    }
    Ok(req)
}

/// The per-id error OpenClaw reads: `NOT_FOUND` for names sidekey does not know (OpenClaw
/// shows it), otherwise sidekey's reason in capitals (OpenClaw reports a provider error).
fn error_entry(f: &Failure) -> Value {
    let code = serde_json::to_value(f.reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_ascii_uppercase))
        .unwrap_or_else(|| "ERROR".into());
    json!({"code": code, "message": f.message})
}

pub async fn run() -> Result<(), Failure> {
    let mut buf = Vec::new();
    std::io::stdin()
        .take(MAX_INPUT + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Failure::new(Exit::Usage, Reason::Io, format!("cannot read stdin: {e}")))?;
    if buf.len() as u64 > MAX_INPUT {
        return Err(Failure::usage("secret-provider: request too large"));
    }
    let req = parse(&buf)?;
    let backend = Backend::from_env()?;
    let known: Vec<String> = super::git::accounts(&backend)
        .await?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let mut values = Map::new();
    let mut errors = Map::new();
    // One token per account, however many ids name it.
    let mut tokens: Vec<(String, Result<crate::api::TokenReply, Failure>)> = Vec::new();
    for id in &req.ids {
        let Some((name, selector)) = split_id(id).filter(|(n, _)| known.iter().any(|k| k == n))
        else {
            eprintln!(
                "sidekey: secret-provider: '{}' names no configured account (ids are NAME, NAME#access_token or NAME#authorization)",
                id.chars()
                    .filter(|c| !c.is_control())
                    .take(256)
                    .collect::<String>()
            );
            errors.insert(id.clone(), json!({"code": "NOT_FOUND"}));
            continue;
        };
        if !tokens.iter().any(|(n, _)| n == name) {
            let purpose = TokenPurpose::SecretProvider;
            let r = backend.token_for(name, Some(&purpose)).await;
            tokens.push((name.to_string(), r));
        }
        let Some((_, r)) = tokens.iter().find(|(n, _)| n == name) else {
            continue;
        };
        match r {
            Ok(t) => {
                let token = t.access_token.expose();
                let v = match selector {
                    Selector::AccessToken => token.to_string(),
                    Selector::Authorization => format!("Bearer {token}"),
                };
                values.insert(id.clone(), Value::String(v));
            }
            Err(f) => {
                eprintln!("sidekey: secret-provider: {name}: {}", f.message);
                errors.insert(id.clone(), error_entry(f));
            }
        }
    }
    let mut reply = json!({"protocolVersion": 1, "values": values});
    if !errors.is_empty() {
        reply["errors"] = Value::Object(errors);
    }
    let text = serde_json::to_string(&reply).map_err(|e| Failure::internal(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.write_all(b"\n"))
        .and_then(|_| out.flush())
        .map_err(|e| Failure::internal(format!("cannot write to stdout: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_shape() {
        let r = parse(
            br#"{"protocolVersion":1,"provider":"sidekey","ids":["gh","work#authorization"]}"#,
        )
        .unwrap();
        assert_eq!(r.ids, ["gh", "work#authorization"]);
        for bad in [
            &br#"{"protocolVersion":2,"ids":[]}"#[..],
            br#"{"protocolVersion":"1","ids":[]}"#,
            br#"{"ids":["a"]}"#,
            b"gh",
        ] {
            assert_eq!(parse(bad).unwrap_err().exit, Exit::Usage);
        }
    }

    #[test]
    fn selectors() {
        assert_eq!(split_id("gh"), Some(("gh", Selector::AccessToken)));
        assert_eq!(
            split_id("gh#access_token"),
            Some(("gh", Selector::AccessToken))
        );
        assert_eq!(
            split_id("gh#authorization"),
            Some(("gh", Selector::Authorization))
        );
        assert_eq!(split_id("gh#refresh_token"), None);
    }

    #[test]
    fn errors_carry_a_code_openclaw_reads() {
        let f = Failure::policy("policy: raw tokens of 'gh' do not leave the sidekey daemon");
        let e = error_entry(&f);
        assert_eq!(e["code"], "POLICY");
        assert!(e["message"].as_str().unwrap().contains("policy"));
    }
}
