//! `sidekey google pick`: Google's Picker for installed apps (docs/google-drive.md, "The code
//! flow and the Picker client"): an ordinary authorization-code + PKCE URL of the *Desktop* client
//! with `trigger_onepick=true`, scope exactly `drive.file`. The person picks files; Google
//! redirects to the loopback address with `code`, `scope`, `state` and `picked_file_ids`. The
//! redirect arrives on sidekey's loopback listener, or is pasted back
//! (`sidekey google pick --paste-url URL`) when the browser is on another device.
//!
//! After the exchange each picked file is probed with the account's own token. Whether a pick
//! made through the Desktop client is visible to the TV client's token is an open question
//! (docs/google-drive.md, "Whose grant is it"): where it is not, the file is marked `via = "picker"` and the
//! Desktop client's `drive.file` tokens are kept for the calls on it.

use super::state::{DriveState, PendingPick, Picked, PickerTokens, load_state, update_state};
use crate::account::fresh_token;
use crate::context::Context;
use crate::error::{Exit, Failure, Reason};
use crate::signin::pending::Starter;
use crate::time::{now_unix, rfc3339};
use serde_json::{Value, json};
use sidekey_flow::pkce::{self, CodeRequest};
use sidekey_flow::{DeviceFlow, Provider, Secret};
use sidekey_services::google::GoogleHttp;
use sidekey_services::google_drive::{Drive, check_id};
use std::time::Duration;

const DRIVE_FILE: &str = "https://www.googleapis.com/auth/drive.file";
/// A Picker link is good for this long.
const PICK_TTL: i64 = 1800;
/// A pending link with less than this left is not handed out again (see [`reusable`]).
const REUSE_MARGIN: i64 = 300;

/// The Desktop client that opens the Picker: `[accounts.NAME.drive] picker_client_id`, else
/// the account's own client when it signs in with `flow = "code"`.
pub fn picker_provider(ctx: &Context, name: &str) -> Result<Provider, Failure> {
    let account = ctx.config.account(name)?;
    let d = &account.drive;
    let (client_id, client_secret) = match (&d.picker_client_id, account.flow) {
        (Some(id), _) => (
            id.clone(),
            d.picker_client_secret
                .clone()
                .or_else(|| account.client_secret.clone()),
        ),
        (None, crate::config::SignInFlow::Code) => {
            (account.client_id.clone(), account.client_secret.clone())
        }
        (None, crate::config::SignInFlow::Device) => {
            return Err(Failure::config(format!(
                "Google's Picker needs a Desktop client: create one (\"Desktop app\") in the same Cloud project and set [accounts.{name}.drive] picker_client_id and picker_client_secret_file"
            )));
        }
    };
    let base = account.provider_with("https://oauth2.googleapis.com/token", None)?;
    let mut endpoints = base.endpoints.clone();
    if let Some(t) = &d.picker_token_endpoint {
        endpoints.token = t.clone();
    }
    if let Some(a) = &d.picker_authorization_endpoint {
        endpoints.authorization = Some(a.clone());
    }
    Ok(Provider {
        kind: account.kind,
        endpoints,
        client_id,
        client_secret,
        scopes: vec![DRIVE_FILE.to_string()],
        device_params: Vec::new(),
        api_base: None,
    })
}

/// The Picker link for a request: the code-flow URL plus the Picker's parameters.
pub fn picker_url(provider: &Provider, req: &CodeRequest) -> Result<url::Url, Failure> {
    let Some(endpoint) = provider.endpoints.authorization.clone() else {
        return Err(Failure::config("no Google authorization endpoint is known"));
    };
    let mut url = pkce::authorization_url(&endpoint, provider, req);
    url.query_pairs_mut()
        .append_pair("trigger_onepick", "true")
        .append_pair("include_granted_scopes", "false")
        .append_pair("allow_multiple", "true");
    Ok(url)
}

pub async fn run(
    ctx: &Context,
    name: &str,
    paste_url: Option<&str>,
    wait_secs: u64,
    by: Starter,
) -> Result<(Value, String), Failure> {
    let provider = picker_provider(ctx, name)?;
    if let Some(pasted) = paste_url {
        let state = load_state(ctx, name)?;
        let Some(pending) = state.pick.filter(|p| now_unix() - p.started_at < PICK_TTL) else {
            return Err(Failure::new(
                Exit::Usage,
                Reason::NoPending,
                format!("no Picker link is waiting for '{name}': run `sidekey google pick` first"),
            ));
        };
        // The agent's side neither finishes nor cancels the person's pick: whatever it pastes
        // (an error, a code it made up or saw) is refused before it is read.
        if by == Starter::Agent && pending.started_by == Starter::Person {
            return Err(Failure::policy(format!(
                "policy: the Picker link of '{name}' was started at the terminal by the person; a redirect from the agent's side does not finish or cancel it (it keeps waiting for the person)"
            )));
        }
        return finish(ctx, name, &provider, &pending.request, pasted).await;
    }

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| Failure::internal(format!("cannot listen on 127.0.0.1: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| Failure::internal(format!("cannot listen on 127.0.0.1: {e}")))?
        .port();
    let request =
        CodeRequest::new(&pkce::loopback_redirect_uri(port)).map_err(Failure::from_flow)?;
    let url = picker_url(&provider, &request)?.to_string();
    let now = now_unix();
    let pending = PendingPick {
        request: request.clone(),
        url: url.clone(),
        started_at: now,
        pasted: None,
        started_by: by,
    };
    // Without waiting (the agent through the daemon, `--no-wait`), a live link is handed out
    // again: a new one would replace its state and verifier, and the link the person already
    // has would fail. Decided under the account lock, so two requests at once agree. A live
    // link the person started is theirs: the agent neither gets it nor replaces it.
    let reuse = wait_secs == 0;
    let st = update_state(ctx, name, move |s| {
        if by == Starter::Agent && s.pick.as_ref().is_some_and(|p| persons_live(p, now)) {
            return;
        }
        if !(reuse && reusable(s.pick.as_ref(), now).is_some()) {
            s.pick = Some(pending);
        }
    })
    .await?;
    let live = st
        .pick
        .ok_or_else(|| Failure::internal("the Picker request was not kept"))?;
    let reused = live.url != url;
    if reused && by == Starter::Agent && live.started_by == Starter::Person {
        return Err(Failure::policy(format!(
            "policy: the person has a Picker link for '{name}' waiting (started at the terminal, good until {}); it is theirs to finish and is not handed to the agent: ask them to finish it, or ask again once it has expired",
            rfc3339(live.started_at + PICK_TTL)
        )));
    }
    if !reused {
        notify(ctx, name, &url).await;
    }
    let how = format!(
        "{}Open this link, sign in and pick the files the agent may use:\n{}\nIf the browser then shows a page that does not load (127.0.0.1), copy its address and run: sidekey google pick --account {name} --paste-url 'ADDRESS'",
        if reused {
            "The Picker link sent earlier is still valid (not sent again). "
        } else {
            ""
        },
        live.url
    );
    if wait_secs == 0 {
        return Ok((
            json!({
                "url": live.url,
                "waiting": false,
                "reused": reused,
                "expires_at": rfc3339(live.started_at + PICK_TTL),
            }),
            how,
        ));
    }
    eprintln!("{how}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait_secs);
    let (found, mut redirects) = tokio::sync::mpsc::channel(4);
    let state = request.state.expose().to_string();
    let _listening = crate::loopback::serve(
        listener,
        request.redirect_uri.clone(),
        move |full| {
            let ours = !matches!(
                pkce::parse_redirect(full, &state),
                Err(pkce::RedirectError::StateMismatch) | Err(pkce::RedirectError::NotAUrl)
            );
            ours.then(|| {
                (
                    full.to_string(),
                    "sidekey received your choice. You can close this tab.",
                )
            })
        },
        found,
    );
    loop {
        if tokio::time::Instant::now() >= deadline {
            return Err(Failure::from_flow(sidekey_flow::FlowError::Expired));
        }
        // Finished by a `--paste-url` in another process?
        let st: DriveState = load_state(ctx, name)?;
        if st.pick.as_ref().is_none_or(|p| {
            !pkce::constant_time_eq(
                p.request.state.expose().as_bytes(),
                request.state.expose().as_bytes(),
            )
        }) {
            return Ok((
                json!({"picked": st.picked, "finished_elsewhere": true}),
                "The pick was finished with --paste-url.".to_string(),
            ));
        }
        if let Ok(Some(target)) =
            tokio::time::timeout(Duration::from_millis(250), redirects.recv()).await
        {
            return finish(ctx, name, &provider, &request, &target).await;
        }
    }
}

/// The pending Picker link worth handing out again at `now`: one that has more than
/// [`REUSE_MARGIN`] left (one about to expire is replaced: the person could not finish it).
/// A spent link (finished or declined) is no longer pending.
pub fn reusable(pending: Option<&PendingPick>, now: i64) -> Option<&PendingPick> {
    pending.filter(|p| now < p.started_at + PICK_TTL - REUSE_MARGIN && now >= p.started_at)
}

/// A pending link the person started that may still be finished at `now` (to its last second:
/// the person may be picking).
fn persons_live(p: &PendingPick, now: i64) -> bool {
    p.started_by == Starter::Person && now >= p.started_at && now < p.started_at + PICK_TTL
}

async fn notify(ctx: &Context, name: &str, url: &str) {
    let Ok(channels) = ctx.channels() else { return };
    if channels.is_empty() {
        return;
    }
    let ev = sidekey_notify::Event::Code {
        account: name.to_string(),
        provider: "google".into(),
        scopes: vec![DRIVE_FILE.into()],
        user_code: String::new(),
        verification_uri: url.to_string(),
        verification_uri_complete: None,
        expires_at: rfc3339(now_unix() + PICK_TTL),
        interval: 1,
    };
    for d in channels.send(&ev).await {
        if let Err(e) = d.result {
            eprintln!(
                "sidekey: warning: could not send the Picker link via {}: {e}",
                d.channel
            );
        }
    }
}

/// What the redirect says besides the code: the granted scope and the picked ids.
pub fn picked_ids(redirect: &str) -> Result<Vec<String>, String> {
    let compact: String = redirect.chars().filter(|c| !c.is_whitespace()).collect();
    let url = url::Url::parse(&compact).map_err(|_| "not a URL".to_string())?;
    let get = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    let scope = get("scope").unwrap_or_default();
    if scope.split(' ').any(|s| s != DRIVE_FILE) || scope.is_empty() {
        return Err(format!(
            "the redirect grants '{}', not exactly drive.file; refused",
            sidekey_flow::response::one_line(&scope, 80)
        ));
    }
    let ids: Vec<String> = get("picked_file_ids")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if ids.is_empty() {
        return Err("the redirect names no picked files (picked_file_ids is empty)".into());
    }
    if ids.len() > 100 || ids.iter().any(|i| check_id(i).is_err()) {
        return Err("picked_file_ids holds something that is not a Drive file id".into());
    }
    Ok(ids)
}

async fn finish(
    ctx: &Context,
    name: &str,
    provider: &Provider,
    request: &CodeRequest,
    redirect: &str,
) -> Result<(Value, String), Failure> {
    let code = match pkce::parse_redirect(redirect, request.state.expose()) {
        Ok(c) => c,
        // The description is whoever sent the redirect's own words (docs/security.md,
        // "Redirects and who may cancel"): not repeated, the code only.
        Err(pkce::RedirectError::Refused { code, .. }) => {
            update_state(ctx, name, |s| s.pick = None).await?;
            return Err(Failure::new(
                Exit::Declined,
                Reason::Declined,
                format!("the Picker was not approved: {code}"),
            ));
        }
        Err(e) => return Err(Failure::new(Exit::Policy, Reason::Policy, e.to_string())),
    };
    let ids = picked_ids(redirect).map_err(|m| Failure::new(Exit::Policy, Reason::Policy, m))?;
    // The code is single-use: the pending pick is spent whatever the exchange says.
    update_state(ctx, name, |s| s.pick = None).await?;
    let tokens = DeviceFlow::new(ctx.http()?, provider)
        .exchange_code(&code, request)
        .await
        .map_err(Failure::from_flow)?;
    let picker_access = tokens.access_token.expose().to_string();
    let account = ctx.config.account(name)?;
    let drive = Drive::new(
        GoogleHttp::new(ctx.http()?.client().clone()),
        &account.drive.api_root,
    );
    let own = fresh_token(ctx, name).await.ok();
    let mut picked = Vec::new();
    let mut problems = Vec::new();
    for id in &ids {
        let mine = match &own {
            Some(rec) => drive.get(rec.access_token.expose(), id).await.ok(),
            None => None,
        };
        let (file, via) = match mine {
            Some(f) => (Some(f), "account"),
            None => (drive.get(&picker_access, id).await.ok(), "picker"),
        };
        match file {
            Some(f) => picked.push(Picked {
                id: f.id,
                name: f.name,
                mime_type: f.mime_type,
                via: via.to_string(),
            }),
            None => problems.push(id.clone()),
        }
    }
    let keep_picker = picked.iter().any(|p| p.via == "picker");
    let kept = PickerTokens {
        access_token: tokens.access_token,
        expires_at: tokens.expires_in.map(|e| now_unix() + e as i64),
        refresh_token: tokens.refresh_token.map(|r| Secret::new(r.expose())),
    };
    let add = picked.clone();
    update_state(ctx, name, move |s| {
        for p in add {
            s.picked.retain(|x| x.id != p.id);
            s.picked.push(p);
        }
        if keep_picker {
            s.picker = Some(kept);
        }
    })
    .await?;
    let mut text = format!("{} file(s) granted to the agent:\n", picked.len());
    for p in &picked {
        text.push_str(&format!("- {} [{}]\n", p.name, p.id));
    }
    if keep_picker {
        text.push_str("The account's own sign-in cannot see these picks (Google keeps drive.file grants per client here); sidekey keeps the Picker client's drive.file token for them.\n");
    }
    if !problems.is_empty() {
        text.push_str(&format!(
            "{} picked id(s) could not be read by either client: {}\n",
            problems.len(),
            problems.join(", ")
        ));
    }
    Ok((
        json!({"picked": picked, "picker_token_kept": keep_picker, "unreadable": problems}),
        text,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link is handed out again while it has more than five minutes left; an expired one,
    /// one about to expire and one from a clock that went back are replaced.
    #[test]
    fn a_live_link_is_reused_until_close_to_expiry() {
        let pending = PendingPick {
            request: CodeRequest::new("http://127.0.0.1:1/callback").unwrap(),
            url: "https://accounts.google.com/o/oauth2/v2/auth?x".into(),
            started_at: 1_000_000,
            pasted: None,
            started_by: Starter::Agent,
        };
        let at = |now: i64| reusable(Some(&pending), now).is_some();
        assert!(at(1_000_000));
        assert!(at(1_000_000 + PICK_TTL - REUSE_MARGIN - 1));
        assert!(!at(1_000_000 + PICK_TTL - REUSE_MARGIN));
        assert!(!at(1_000_000 + PICK_TTL));
        assert!(!at(1_000_000 + 10 * PICK_TTL));
        assert!(!at(1_000_000 - 60));
        assert!(reusable(None, 1_000_000).is_none());
    }

    #[test]
    fn the_redirect_must_grant_exactly_drive_file_and_name_ids() {
        let ok = "http://127.0.0.1:5/callback?code=4%2Fx&scope=https://www.googleapis.com/auth/drive.file&state=s&picked_file_ids=1Ab,2Cd";
        assert_eq!(picked_ids(ok).unwrap(), ["1Ab", "2Cd"]);
        let wide = ok.replace(
            "drive.file",
            "drive.file%20https://www.googleapis.com/auth/drive",
        );
        assert!(picked_ids(&wide).is_err());
        assert!(picked_ids(&ok.replace("1Ab,2Cd", "")).is_err());
        assert!(picked_ids(&ok.replace("1Ab", "..%2Fx")).is_err());
    }
}
