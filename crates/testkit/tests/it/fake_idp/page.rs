//! The browser verification page.

use sidekey_testkit::Dialect;

use super::{ALL, poll, s, start, start_device};
use crate::http::{get, post_form_h};

fn submit(url: &str, code: &str, action: &str) -> crate::http::Resp {
    post_form_h(url, &[("user_code", code), ("action", action)], &[])
}

#[test]
fn page_approve_path_every_dialect() {
    for d in ALL {
        let idp = start(d);
        let url = idp.verification_uri();
        let (dc, uc) = start_device(&idp);
        let r = get(&format!("{url}?user_code={uc}"), &[]);
        assert_eq!(r.status, 200, "{d:?}");
        assert!(r.content_type().starts_with("text/html"));
        let html = r.text();
        assert!(
            html.contains(&format!("value=\"{uc}\"")),
            "{d:?}: prefilled"
        );
        assert!(html.contains("name=\"action\" value=\"approve\""));
        assert!(html.contains("name=\"action\" value=\"deny\""));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "self-contained"
        );
        // Codes are matched case-insensitively, ignoring dashes and spaces.
        let typed = format!(" {} ", uc.replace('-', "").to_lowercase());
        let r = submit(&url, &typed, "approve");
        assert_eq!(r.status, 200, "{d:?}");
        assert!(r.text().contains("data-state=\"approved\""), "{d:?}");
        assert!(
            s(&poll(&idp, &dc).json(), "access_token").len() >= 32,
            "{d:?}"
        );
    }
}

#[test]
fn page_deny_and_not_found() {
    let idp = start(Dialect::Microsoft);
    let url = format!("{}/device", idp.base_url());
    let (dc, uc) = start_device(&idp);
    let r = submit(&url, &uc, "deny");
    assert!(r.text().contains("data-state=\"denied\""));
    assert_eq!(poll(&idp, &dc).json()["error"], "authorization_declined");
    // Already denied → cannot approve any more.
    let r = submit(&url, &uc, "approve");
    assert!(r.text().contains("data-state=\"not-found\""));
    let r = submit(&url, "ZZZZ-ZZZZ", "approve");
    assert!(r.text().contains("data-state=\"not-found\""));
    // Expired.
    let (_, uc2) = start_device(&idp);
    idp.expire(&uc2);
    assert!(
        submit(&url, &uc2, "approve")
            .text()
            .contains("data-state=\"not-found\"")
    );
    // Garbage submissions.
    let r = post_form_h(&url, &[("user_code", &uc2)], &[]);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("data-state=\"invalid\""));
}

#[test]
fn page_escapes_everything() {
    let idp = start(Dialect::Okta);
    let url = idp.verification_uri();
    let evil = "<script>alert(1)</script>\"'&";
    let q = crate::http::encode(&[("user_code", evil)]);
    let html = get(&format!("{url}?{q}"), &[]).text();
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"));
    let html = submit(&url, evil, "approve").text();
    assert!(!html.contains("<script>"));
    assert!(html.contains("data-state=\"not-found\""));
}
