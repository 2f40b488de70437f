//! The second sign-in method: authorization code + PKCE (RFC 7636, S256) with a loopback redirect
//! (RFC 8252 §7.3, `http://127.0.0.1:PORT/…`).
//!
//! Pure functions, tested like [`crate::response`]: make a verifier and a `state`, build the
//! authorization URL, read the redirect (from the loopback listener or pasted back from a
//! browser on another device), and the one I/O call, the code exchange at the token endpoint.
//!
//! The verifier and the state are secrets: they stay in the caller's vault (the encrypted pending
//! slot) and only the S256 challenge leaves. A redirect is accepted only with the exact `state`
//! (compared in constant time); its code is single-use at the provider, so it is sent once.

use crate::client::DeviceFlow;
use crate::error::FlowError;
use crate::http::host_of;
use crate::provider::Provider;
use crate::response::{self, TokenReply, TokenResponse};
use crate::secret::Secret;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use url::Url;

/// The secrets of one authorization request and where its redirect goes. Kept by the caller
/// until the redirect arrives (never shown, never sent except the verifier at the exchange).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CodeRequest {
    pub verifier: Secret,
    pub state: Secret,
    pub redirect_uri: String,
}

impl CodeRequest {
    /// Fresh random verifier (32 bytes → 43 characters, RFC 7636 §4.1) and state (16 bytes).
    pub fn new(redirect_uri: &str) -> Result<CodeRequest, FlowError> {
        let mut v = [0u8; 32];
        let mut s = [0u8; 16];
        let rng = ring::rand::SystemRandom::new();
        ring::rand::SecureRandom::fill(&rng, &mut v)
            .and_then(|_| ring::rand::SecureRandom::fill(&rng, &mut s))
            .map_err(|_| FlowError::Config("the system random generator failed".into()))?;
        Ok(CodeRequest {
            verifier: Secret::new(URL_SAFE_NO_PAD.encode(v)),
            state: Secret::new(URL_SAFE_NO_PAD.encode(s)),
            redirect_uri: redirect_uri.to_string(),
        })
    }

    pub fn challenge(&self) -> String {
        challenge(self.verifier.expose())
    }
}

/// RFC 7636 §4.2, S256: `BASE64URL(SHA256(ASCII(code_verifier)))`.
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// The loopback redirect URI for a port (RFC 8252 §7.3: the IP literal, not `localhost`).
pub fn loopback_redirect_uri(port: u16) -> String {
    format!("http://127.0.0.1:{port}/callback")
}

/// The URL the person opens: `response_type=code`, the client, the redirect, the scopes, the
/// state and the S256 challenge, plus the provider's extra parameters (Google's
/// `access_type=offline&prompt=consent` for a refresh token).
pub fn authorization_url(endpoint: &Url, provider: &Provider, req: &CodeRequest) -> Url {
    let mut url = endpoint.clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &provider.client_id)
            .append_pair("redirect_uri", &req.redirect_uri);
        let scope = provider.scope_string();
        if !scope.is_empty() {
            q.append_pair("scope", &scope);
        }
        q.append_pair("state", req.state.expose())
            .append_pair("code_challenge", &req.challenge())
            .append_pair("code_challenge_method", "S256");
        for (k, v) in provider.kind.dialect().authorization_params() {
            q.append_pair(k, v);
        }
        // Auth0's audience and the like go on the authorization request too.
        for (k, v) in &provider.device_params {
            q.append_pair(k, v);
        }
    }
    url
}

/// Why a redirect URL is not a usable answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedirectError {
    /// Not a URL at all (or empty).
    NotAUrl,
    /// The `state` is missing or is not this sign-in's: another sign-in's redirect, or forged.
    StateMismatch,
    /// The person (or the provider) refused: `error=access_denied` and the like.
    Refused {
        code: String,
        description: Option<String>,
    },
    /// The state matched but there is no `code`.
    MissingCode,
}

impl std::fmt::Display for RedirectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedirectError::NotAUrl => write!(
                f,
                "that is not a URL; paste the whole address from the browser's address bar (http://127.0.0.1:…/callback?code=…&state=…)"
            ),
            RedirectError::StateMismatch => write!(
                f,
                "the URL's state does not match this sign-in (an older or another sign-in's link, or a forged one); refused"
            ),
            RedirectError::Refused { code, description } => match description {
                Some(d) => write!(f, "the provider answered {code}: {d}"),
                None => write!(f, "the provider answered {code}"),
            },
            RedirectError::MissingCode => write!(
                f,
                "the URL has no code; paste the address the browser ended on after approving"
            ),
        }
    }
}

/// Read a redirect URL (pasted or received on the loopback listener): whitespace anywhere is
/// dropped (chat apps wrap and pad long URLs), the state must equal `expected_state`, then an
/// `error` is a refusal and a `code` is the answer. The code is percent-decoded (Google's codes
/// contain `/`, sent as `%2F`).
pub fn parse_redirect(input: &str, expected_state: &str) -> Result<Secret, RedirectError> {
    let compact: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err(RedirectError::NotAUrl);
    }
    let url = Url::parse(&compact)
        .or_else(|_| Url::parse(&format!("http://{compact}")))
        .map_err(|_| RedirectError::NotAUrl)?;
    if url.query().is_none() && url.fragment().is_none() {
        return Err(RedirectError::NotAUrl);
    }
    let (mut state, mut code, mut error, mut description) = (None, None, None, None);
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "state" => state = Some(v.into_owned()),
            "code" => code = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            "error_description" => description = Some(v.into_owned()),
            _ => {}
        }
    }
    let same = state
        .as_deref()
        .is_some_and(|s| constant_time_eq(s.as_bytes(), expected_state.as_bytes()));
    if !same {
        return Err(RedirectError::StateMismatch);
    }
    if let Some(code) = error {
        return Err(RedirectError::Refused {
            code: response::one_line(&code, 60),
            description: description.map(|d| response::one_line(&d, 200)),
        });
    }
    match code.filter(|c| !c.is_empty()) {
        Some(c) => Ok(Secret::new(c)),
        None => Err(RedirectError::MissingCode),
    }
}

/// Equal bytes, in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= (a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0)) as usize;
    }
    diff == 0
}

/// The form of the code exchange (RFC 6749 §4.1.3 + RFC 7636 §4.5): the code, the same
/// redirect URI, the verifier, the client (and its secret when configured: Google's Desktop
/// clients need it).
pub fn exchange_form<'a>(
    provider: &'a Provider,
    code: &'a Secret,
    req: &'a CodeRequest,
) -> Vec<(&'a str, &'a str)> {
    let mut p = vec![
        ("grant_type", "authorization_code"),
        ("code", code.expose()),
        ("redirect_uri", req.redirect_uri.as_str()),
        ("code_verifier", req.verifier.expose()),
        ("client_id", provider.client_id.as_str()),
    ];
    if let Some(s) = &provider.client_secret {
        p.push(("client_secret", s.expose()));
    }
    p
}

impl DeviceFlow<'_> {
    /// Exchange an authorization code for tokens, once: a code is single-use, so a failed
    /// exchange is never retried with it.
    pub async fn exchange_code(
        &self,
        code: &Secret,
        req: &CodeRequest,
    ) -> Result<TokenResponse, FlowError> {
        let url = &self.provider.endpoints.token;
        let form = exchange_form(self.provider, code, req);
        let raw = self
            .http
            .send(self.http.form(url, &form))
            .await
            .map_err(|e| {
                FlowError::Unreachable(format!("code exchange at {} failed: {e}", host_of(url)))
            })?;
        // A provider or proxy that echoes the request must not hand on the code, the verifier
        // or the client secret (as refresh and the device flow scrub theirs).
        let secrets: Vec<&str> = form
            .iter()
            .filter(|(k, _)| matches!(*k, "code" | "code_verifier" | "client_secret"))
            .map(|(_, v)| *v)
            .collect();
        match response::classify_token_reply(
            raw.status,
            raw.content_type.as_deref(),
            raw.retry_after,
            &raw.body,
        )
        .scrubbed(&secrets)
        {
            TokenReply::Tokens(t) => Ok(t),
            TokenReply::Error(e) => Err(FlowError::from_oauth(&e, false)),
            TokenReply::Transient { what, .. } => Err(FlowError::Unreachable(format!(
                "code exchange at {}: {what}",
                host_of(url)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Endpoints, ProviderKind};

    fn provider(kind: ProviderKind) -> Provider {
        Provider {
            kind,
            endpoints: Endpoints {
                device_authorization: Url::parse("https://idp.example/device").unwrap(),
                token: Url::parse("https://idp.example/token").unwrap(),
                revocation: None,
                userinfo: None,
                authorization: None,
            },
            client_id: "cid".into(),
            client_secret: Some(Secret::new("csecret")),
            scopes: vec!["openid".into(), "email".into()],
            device_params: vec![],
            api_base: None,
        }
    }

    fn request() -> CodeRequest {
        CodeRequest {
            verifier: Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            state: Secret::new("st4te"),
            redirect_uri: loopback_redirect_uri(8123),
        }
    }

    /// RFC 7636 Appendix B: the 32 octets, their base64url verifier, its S256 challenge.
    #[test]
    fn s256_known_answer() {
        let octets = [
            116u8, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212,
            37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        assert_eq!(
            URL_SAFE_NO_PAD.encode(octets),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn fresh_requests_are_random_and_well_formed() {
        let a = CodeRequest::new("http://127.0.0.1:1/callback").unwrap();
        let b = CodeRequest::new("http://127.0.0.1:1/callback").unwrap();
        assert_eq!(a.verifier.expose().len(), 43);
        assert!(
            a.verifier
                .expose()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a.verifier.expose(), b.verifier.expose());
        assert_ne!(a.state.expose(), b.state.expose());
        assert!(!format!("{a:?}").contains(a.verifier.expose()));
    }

    #[test]
    fn authorization_url_carries_the_challenge_not_the_verifier() {
        let url = authorization_url(
            &Url::parse("https://accounts.google.com/o/oauth2/v2/auth").unwrap(),
            &provider(ProviderKind::Google),
            &request(),
        );
        let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "cid");
        assert_eq!(q["redirect_uri"], "http://127.0.0.1:8123/callback");
        assert_eq!(q["scope"], "openid email");
        assert_eq!(q["state"], "st4te");
        assert_eq!(
            q["code_challenge"],
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["access_type"], "offline");
        assert_eq!(q["prompt"], "consent");
        assert!(!url.as_str().contains("dBjftJeZ4CVP"));
        assert!(!url.as_str().contains("uhbUJU1p1r"));
        assert!(!url.as_str().contains("csecret"));
        let ms = authorization_url(
            &Url::parse("https://login.microsoftonline.com/common/oauth2/v2.0/authorize").unwrap(),
            &provider(ProviderKind::Microsoft),
            &request(),
        );
        assert!(!ms.as_str().contains("access_type"), "{ms}");
    }

    #[test]
    fn redirect_with_code_and_state() {
        let code = parse_redirect(
            "http://127.0.0.1:8123/callback?state=st4te&code=4%2F0Ab-xyz&scope=email",
            "st4te",
        )
        .unwrap();
        assert_eq!(code.expose(), "4/0Ab-xyz", "percent-decoded");
    }

    #[test]
    fn pasted_url_with_extra_whitespace() {
        let pasted = "  http://127.0.0.1:8123/callback?state=st4te\n   &code=abc \t\r\n";
        assert_eq!(parse_redirect(pasted, "st4te").unwrap().expose(), "abc");
        // Without the scheme (some phones hide it in the address bar).
        let bare = "127.0.0.1:8123/callback?state=st4te&code=abc";
        assert_eq!(parse_redirect(bare, "st4te").unwrap().expose(), "abc");
    }

    #[test]
    fn state_mismatch_is_refused_before_anything_else() {
        for url in [
            "http://127.0.0.1:1/callback?state=other&code=abc",
            "http://127.0.0.1:1/callback?code=abc",
            "http://127.0.0.1:1/callback?state=st4t&code=abc",
            "http://127.0.0.1:1/callback?state=st4te0&code=abc",
            "http://127.0.0.1:1/callback?state=evil&error=access_denied",
        ] {
            assert_eq!(
                parse_redirect(url, "st4te").unwrap_err(),
                RedirectError::StateMismatch,
                "{url}"
            );
        }
    }

    #[test]
    fn access_denied_and_missing_code() {
        let e = parse_redirect(
            "http://127.0.0.1:1/callback?error=access_denied&error_description=The+user+said+no&state=st4te",
            "st4te",
        )
        .unwrap_err();
        assert_eq!(
            e,
            RedirectError::Refused {
                code: "access_denied".into(),
                description: Some("The user said no".into())
            }
        );
        assert!(e.to_string().contains("access_denied"));
        assert_eq!(
            parse_redirect("http://127.0.0.1:1/callback?state=st4te", "st4te").unwrap_err(),
            RedirectError::MissingCode
        );
        assert_eq!(
            parse_redirect("http://127.0.0.1:1/callback?state=st4te&code=", "st4te").unwrap_err(),
            RedirectError::MissingCode
        );
        for junk in ["", "   ", "hello", "http://127.0.0.1:1/callback"] {
            assert_eq!(
                parse_redirect(junk, "st4te").unwrap_err(),
                RedirectError::NotAUrl,
                "{junk:?}"
            );
        }
    }

    #[test]
    fn exchange_form_has_verifier_and_redirect() {
        let p = provider(ProviderKind::Google);
        let req = request();
        let code = Secret::new("the-code");
        let form: std::collections::HashMap<&str, &str> =
            exchange_form(&p, &code, &req).into_iter().collect();
        assert_eq!(form["grant_type"], "authorization_code");
        assert_eq!(form["code"], "the-code");
        assert_eq!(form["redirect_uri"], "http://127.0.0.1:8123/callback");
        assert_eq!(form["code_verifier"], req.verifier.expose());
        assert_eq!(form["client_id"], "cid");
        assert_eq!(form["client_secret"], "csecret");
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
