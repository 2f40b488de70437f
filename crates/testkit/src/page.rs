//! The verification page a human uses in `sidekey demo` (and tests drive over HTTP).
//!
//! `GET` shows a form with a `user_code` field (prefilled from `?user_code=`) and two submit
//! buttons, `action=approve` / `action=deny`, posting back to the same path. `POST` answers a
//! result page whose `<main>` carries `data-state="approved" | "denied" | "not-found"` (or
//! `"invalid"` for a malformed submission) so tests can assert on it without scraping prose.
//! The page is self-contained (inline CSS, no scripts, no external resources) and every
//! dynamic string is HTML-escaped: user codes come straight from the query string.

use std::time::Instant;

use axum::http::Method;
use axum::response::Response;

use crate::server::{Req, parse_form};
use crate::state::{DevStatus, Shared};
use crate::util::html_escape;
use crate::{Dialect, wire};

fn provider_name(d: Dialect) -> &'static str {
    match d {
        Dialect::Microsoft => "Microsoft",
        Dialect::Google => "Google",
        Dialect::GitHub => "GitHub",
        Dialect::GitHubApp => "GitHub App",
        Dialect::Okta => "Okta",
        Dialect::Auth0 => "Auth0",
        Dialect::Oidc => "OpenID Provider",
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;padding:2rem}\
main{max-width:28rem;margin:3rem auto;background:#fff;border-radius:8px;padding:2rem;\
box-shadow:0 1px 4px rgba(0,0,0,.15)}h1{font-size:1.3rem;margin-top:0}\
input{font:1.4rem monospace;letter-spacing:.15em;width:100%;box-sizing:border-box;padding:.5rem;\
text-transform:uppercase}button{font-size:1rem;padding:.5rem 1.2rem;margin:1rem .5rem 0 0;\
cursor:pointer}.muted{color:#666;font-size:.9rem}.approved{color:#0a7a2f}.denied{color:#b3261e}";

fn shell(sh: &Shared, state: &str, inner: &str) -> String {
    let provider = html_escape(provider_name(sh.dialect()));
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{provider} device sign-in (sidekey fake)</title><style>{STYLE}</style></head>\
         <body><main data-state=\"{state}\"><h1>{provider} — device sign-in</h1>{inner}\
         <p class=\"muted\">This is a local fake authorization server for testing. \
         No real account is involved.</p></main></body></html>"
    )
}

fn html(status: u16, body: String) -> Response {
    wire::respond(status, "text/html; charset=utf-8", body)
}

fn form(sh: &Shared, path: &str, prefill: &str) -> Response {
    let user = &sh.opts.user;
    let inner = format!(
        "<p>Enter the code shown on your device to sign in as <strong>{name}</strong> \
         (<span>{login}</span>) to the application <code>{client}</code>.</p>\
         <form method=\"post\" action=\"{action}\">\
         <label for=\"user_code\">Code</label>\
         <input id=\"user_code\" name=\"user_code\" value=\"{prefill}\" autocomplete=\"off\" \
         autocapitalize=\"characters\" spellcheck=\"false\" autofocus required>\
         <button type=\"submit\" name=\"action\" value=\"approve\">Approve</button>\
         <button type=\"submit\" name=\"action\" value=\"deny\">Deny</button></form>",
        name = html_escape(&user.name),
        login = html_escape(&user.login),
        client = html_escape(&sh.opts.client_id),
        action = html_escape(path),
        prefill = html_escape(prefill),
    );
    html(200, shell(sh, "form", &inner))
}

pub(crate) fn handle(sh: &Shared, req: &Req) -> Response {
    if req.method == Method::GET {
        let q = parse_form(req.query.as_bytes()).unwrap_or_default();
        let prefill = q.get("user_code").map(String::as_str).unwrap_or("");
        return form(sh, &req.path, prefill);
    }
    let Ok(p) = parse_form(&req.body) else {
        return invalid(sh, "The form submission could not be read.");
    };
    let code = p.get("user_code").map(|s| s.trim()).unwrap_or("");
    let to = match p.get("action").map(String::as_str) {
        Some("approve") => DevStatus::Approved,
        Some("deny") => DevStatus::Denied,
        _ => return invalid(sh, "Choose Approve or Deny."),
    };
    let (ok, scopes) = {
        let mut st = sh.lock();
        let ok = st.set_status(code, to, Instant::now());
        let scopes = st
            .device_by_user_code(code)
            .map(|d| d.scopes.join(" "))
            .unwrap_or_default();
        (ok, scopes)
    };
    let code_html = html_escape(code);
    if !ok {
        let inner = format!(
            "<p>The code <code>{code_html}</code> was not found or has expired.</p>\
             <p><a href=\"{path}\">Try again</a></p>",
            path = html_escape(&req.path)
        );
        return html(404, shell(sh, "not-found", &inner));
    }
    let inner = match to {
        DevStatus::Approved => format!(
            "<p class=\"approved\">Approved. <code>{client}</code> is now signed in as \
             <strong>{name}</strong> (scopes: <code>{scopes}</code>). \
             You can return to your device.</p>",
            client = html_escape(&sh.opts.client_id),
            name = html_escape(&sh.opts.user.name),
            scopes = html_escape(&scopes),
        ),
        _ => "<p class=\"denied\">Denied. The device will not be signed in.</p>".to_string(),
    };
    let state = if to == DevStatus::Approved {
        "approved"
    } else {
        "denied"
    };
    html(200, shell(sh, state, &inner))
}

fn invalid(sh: &Shared, msg: &str) -> Response {
    html(
        400,
        shell(sh, "invalid", &format!("<p>{}</p>", html_escape(msg))),
    )
}
