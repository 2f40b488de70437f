//! The pasted redirect URL of a code+PKCE sign-in (`login --paste-url`,
//! `POST /v1/login/NAME/redirect`): `sidekey_flow::pkce::parse_redirect` and what the sign-in
//! makes of its answer (`sidekey::fuzzing::pasted_redirect`, the code the sign-in uses).
//!
//! Checks: never panics; a code comes only from a URL whose (last) `state` is exactly the
//! sign-in's, with no `error`, and it is exactly the (last, percent-decoded) `code` sent;
//! whitespace anywhere (chat apps wrap long URLs) changes nothing; a refusal names only an
//! error code OAuth defines; every failure is one clean line that never repeats the code or
//! the state.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sidekey_flow::pkce::parse_redirect;

const BASES: &[&str] = &[
    "http://127.0.0.1:8976/callback",
    "http://localhost/",
    "127.0.0.1:53682/",
    "https://sidekey.example/oauth/cb",
    "urn:ietf:wg:oauth:2.0:oob",
];

#[derive(Arbitrary, Debug)]
enum Key {
    State,
    Code,
    Error,
    ErrorDescription,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Val {
    /// The sign-in's own state.
    Expected,
    /// A code: `C0DE` and this (so the check can tell it apart from any fixed text).
    Code(String),
    /// An OAuth error code.
    Defined(u8),
    Text(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// The sign-in's state: `ST4TE` and this.
    state: String,
    base: u8,
    params: Vec<(Key, Val)>,
    fragment: Option<String>,
    /// Whitespace put in at these places (a character index and which space).
    spaces: Vec<(u16, u8)>,
    /// Anything at all pasted, instead of a built URL.
    raw: Option<String>,
    by_person: bool,
}

const OAUTH_ERRORS: &[&str] = &[
    "access_denied",
    "invalid_request",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "consent_required",
    "login_required",
];
const SPACES: &[char] = &[' ', '\n', '\r', '\t', '\u{a0}', '\u{2028}', '\u{3000}'];

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fuzz_target!(|input: Input| {
    let expected = format!("ST4TE{}", input.state);
    let by = if input.by_person { "person" } else { "agent" };

    if let Some(raw) = &input.raw {
        let got = sidekey::fuzzing::pasted_redirect(raw, &expected, input.by_person);
        match got {
            Ok(code) => {
                // Only with this sign-in's state: it must be in what was pasted, decoded.
                let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
                let url = url::Url::parse(&compact)
                    .or_else(|_| url::Url::parse(&format!("http://{compact}")))
                    .expect("a code from something that is not a URL");
                let state = url.query_pairs().filter(|(k, _)| k == "state").last();
                assert_eq!(state.map(|(_, v)| v.into_owned()), Some(expected.clone()));
                assert!(!code.expose().is_empty());
            }
            Err(f) => {
                sidekey_fuzz::assert_one_line("paste failure", &f.message, 300);
                assert!(!f.message.contains(&expected), "the state echoed: {f:?}");
            }
        }
        return;
    }

    // Build the URL, and what it must mean.
    let mut query = Vec::new();
    let (mut state, mut code, mut error) = (None, None, None);
    let mut carried = Vec::new();
    for (k, v) in &input.params {
        let v = match v {
            Val::Expected => expected.clone(),
            Val::Code(c) => format!("C0DE{c}"),
            Val::Defined(i) => OAUTH_ERRORS[*i as usize % OAUTH_ERRORS.len()].to_string(),
            Val::Text(t) => t.clone(),
        };
        let k = match k {
            Key::State => "state".to_string(),
            Key::Code => "code".to_string(),
            Key::Error => "error".to_string(),
            Key::ErrorDescription => "error_description".to_string(),
            Key::Other(o) => o.clone(),
        };
        match k.as_str() {
            "state" => state = Some(v.clone()),
            "code" => code = Some(v.clone()),
            "error" => error = Some(v.clone()),
            _ => {}
        }
        // The code and the state (marked, so no fixed wording can contain them by chance).
        if v.starts_with("C0DE") || v.starts_with("ST4TE") {
            carried.push(v.clone());
        }
        query.push(format!("{}={}", enc(&k), enc(&v)));
    }
    if query.is_empty() {
        return;
    }
    let base = BASES[input.base as usize % BASES.len()];
    let mut url = format!("{base}?{}", query.join("&"));
    if let Some(f) = &input.fragment {
        url.push('#');
        url.push_str(&enc(f));
    }
    // Whitespace anywhere is dropped before the URL is read.
    let mut spaced: Vec<char> = url.chars().collect();
    for (at, which) in &input.spaces {
        let at = *at as usize % (spaced.len() + 1);
        spaced.insert(at, SPACES[*which as usize % SPACES.len()]);
    }
    let spaced: String = spaced.into_iter().collect();

    let plain = parse_redirect(&url, &expected).map(|c| c.expose().to_string());
    let loose = parse_redirect(&spaced, &expected).map(|c| c.expose().to_string());
    assert_eq!(
        format!("{plain:?}"),
        format!("{loose:?}"),
        "whitespace changed the answer: {spaced:?}"
    );
    let got = sidekey::fuzzing::pasted_redirect(&spaced, &expected, input.by_person);

    let same_state = state.as_deref() == Some(expected.as_str());
    match (&got, same_state, &error, &code) {
        (Ok(c), true, None, Some(sent)) => assert_eq!(c.expose(), sent),
        (Ok(c), ..) => panic!("a code {:?} from {url:?}", c.expose()),
        (Err(_), true, None, Some(sent)) if !sent.is_empty() => {
            panic!("no code from {url:?}: {got:?}")
        }
        (Err(f), ..) => {
            sidekey_fuzz::assert_one_line("paste failure", &f.message, 300);
            for v in &carried {
                assert!(
                    !f.message.contains(v.as_str()),
                    "{v:?} from the URL in the failure (pasted by the {by}): {:?}",
                    f.message
                );
            }
            if same_state
                && let Some(e) = &error
                && input.by_person
                && OAUTH_ERRORS.contains(&e.as_str())
            {
                assert!(f.message.contains(e.as_str()), "{:?}", f.message);
            }
        }
    }
});
