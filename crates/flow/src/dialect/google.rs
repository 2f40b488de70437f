//! Google (oauth2.googleapis.com), docs/providers.md, "Google".
//!
//! Quirks: only the "TVs and Limited Input devices" client type works, and its secret is required
//! on polls but not sent to the device endpoint; the device flow accepts a short list of scopes
//! ([`ALLOWED_SCOPES`]), anything else fails with `invalid_scope`, so sidekey refuses it before
//! any request and expands short names (`drive.file`) to Google's scope URLs.

use super::{Dialect, DialectSettings, SecretUse, ServiceKey, SettingError, fixed};
use crate::provider::{Endpoints, ProviderKind};

pub struct Google;

/// What Google's short scope names stand for.
pub const SCOPE_PREFIX: &str = "https://www.googleapis.com/auth/";

/// The live device endpoint's allow-list. It refuses `drive.appdata` with `invalid_scope` although
/// Google's list of device-flow scopes names it (docs/providers.md, "Google scopes"): the hidden
/// app folder needs the code flow (`flow = "code"`).
pub const ALLOWED_SCOPES: [&str; 6] = [
    "openid",
    "email",
    "profile",
    "https://www.googleapis.com/auth/drive.file",
    "https://www.googleapis.com/auth/youtube",
    "https://www.googleapis.com/auth/youtube.readonly",
];

/// Expand a short name (`drive.file`) to Google's full scope URL. The long forms Google grants
/// and reports for `email` and `profile` (`…/auth/userinfo.email`, `userinfo.profile`) are
/// aliases and come back as the short names its device-flow allow-list names
/// (docs/providers.md, "Google scopes").
pub fn expand(scope: &str) -> String {
    match scope.strip_prefix(SCOPE_PREFIX).unwrap_or(scope) {
        "userinfo.email" => return "email".to_string(),
        "userinfo.profile" => return "profile".to_string(),
        _ => {}
    }
    match scope {
        "openid" | "email" | "profile" => scope.to_string(),
        s if s.starts_with("https://") => s.to_string(),
        s => format!("{SCOPE_PREFIX}{s}"),
    }
}

/// Expand every scope and refuse any that Google does not allow for this flow.
pub fn check_scopes(scopes: &[String]) -> Result<Vec<String>, String> {
    let expanded: Vec<String> = scopes.iter().map(|s| expand(s)).collect();
    let refused: Vec<&str> = scopes
        .iter()
        .zip(&expanded)
        .filter(|(_, full)| !ALLOWED_SCOPES.contains(&full.as_str()))
        .map(|(short, _)| short.as_str())
        .collect();
    if refused.is_empty() {
        // An alias and its short name are one scope.
        let mut out: Vec<String> = Vec::with_capacity(expanded.len());
        for s in expanded {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        return Ok(out);
    }
    let allowed: Vec<&str> = ALLOWED_SCOPES
        .iter()
        .map(|s| s.strip_prefix(SCOPE_PREFIX).unwrap_or(s))
        .collect();
    Err(format!(
        "Google's device flow does not allow the scope{} {}; allowed: {}{}",
        if refused.len() > 1 { "s" } else { "" },
        refused.join(", "),
        allowed.join(", "),
        if refused
            .iter()
            .any(|s| expand(s) == format!("{SCOPE_PREFIX}drive.appdata"))
        {
            " (drive.appdata needs the link sign-in: set flow = \"code\" with a Desktop app client)"
        } else {
            ""
        }
    ))
}

pub fn endpoints() -> Endpoints {
    Endpoints {
        device_authorization: fixed("https://oauth2.googleapis.com/device/code"),
        token: fixed("https://oauth2.googleapis.com/token"),
        revocation: Some(fixed("https://oauth2.googleapis.com/revoke")),
        userinfo: Some(fixed("https://openidconnect.googleapis.com/v1/userinfo")),
        authorization: Some(fixed("https://accounts.google.com/o/oauth2/v2/auth")),
    }
}

impl Dialect for Google {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Google
    }

    fn name(&self) -> &'static str {
        "google"
    }

    fn display_name(&self) -> &'static str {
        "Google"
    }

    /// Refresh tokens that die after 7 days: the Cloud project's publishing status is
    /// "Testing", and Google says so with `refresh_token_expires_in` (about 604799). The
    /// note says when, and how to publish the project.
    fn short_refresh_note(&self, lifetime: i64, until: &str) -> Option<String> {
        if lifetime > 8 * 86_400 {
            return None;
        }
        Some(format!(
            "Google will end this sign-in on {until} (the Cloud project is in \"Testing\", where refresh tokens last 7 days): publish it in Google Cloud console > Google Auth Platform > Audience > \"Publish app\" (In production), then sign in again"
        ))
    }

    fn service_keys(&self) -> &'static [ServiceKey] {
        &[ServiceKey::Drive, ServiceKey::YouTube]
    }

    fn short_scope<'a>(&self, scope: &'a str) -> &'a str {
        scope.strip_prefix(SCOPE_PREFIX).unwrap_or(scope)
    }

    fn default_scopes(&self) -> &'static [&'static str] {
        &["openid", "email", "profile"]
    }

    fn normalize_scopes(&self, scopes: Vec<String>) -> Result<Vec<String>, String> {
        check_scopes(&super::trim_scopes(scopes))
    }

    /// The code flow takes any Google scope (short names expanded, aliases merged).
    fn normalize_code_scopes(&self, scopes: Vec<String>) -> Result<Vec<String>, String> {
        let mut out: Vec<String> = Vec::new();
        for s in super::trim_scopes(scopes).iter().map(|s| expand(s)) {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// A refresh token needs `access_type=offline`; `prompt=consent` makes Google issue one
    /// again on a second sign-in (docs/google-drive.md, "The code flow and the Picker client").
    fn authorization_params(&self) -> &'static [(&'static str, &'static str)] {
        &[("access_type", "offline"), ("prompt", "consent")]
    }

    fn default_token_env(&self) -> &'static [&'static str] {
        &["GOOGLE_OAUTH_ACCESS_TOKEN"]
    }

    /// Google wants only `client_id` and `scope` at its device endpoint; the secret goes on polls.
    fn sends_secret(&self, request: SecretUse) -> bool {
        request != SecretUse::Device
    }

    fn verification_domains(&self) -> &'static [&'static str] {
        &["google.com"]
    }

    fn requires_client_secret(&self) -> Option<&'static str> {
        Some(
            "Google's device flow needs the client secret of the \"TVs and Limited Input devices\" client: set `client_secret` or `client_secret_file`",
        )
    }

    fn endpoints(&self, _: &DialectSettings) -> Result<Option<Endpoints>, SettingError> {
        Ok(Some(endpoints()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::check_verification_uri;

    /// Google's userinfo (`openidconnect.googleapis.com/v1/userinfo`) and ID token name the
    /// user by `sub`, a numeric string that never changes; the email can.
    #[test]
    fn subject_is_sub() {
        let m: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
            r#"{"sub":"110248495921238986420","name":"Ada","email":"ada@gmail.com","email_verified":true}"#,
        )
        .unwrap();
        let u = Google.user_from_claims(&m).unwrap();
        assert_eq!(u.subject.as_deref(), Some("110248495921238986420"));
        assert_eq!(u.email.as_deref(), Some("ada@gmail.com"));
        let id = Google.user_from_id_token(&m).unwrap();
        assert_eq!(id.subject.as_deref(), Some("110248495921238986420"));
    }

    #[test]
    fn a_seven_day_refresh_token_means_testing_mode() {
        let note = Google
            .short_refresh_note(604_799, "2026-12-14T10:00:00Z")
            .unwrap();
        assert!(note.contains("2026-12-14T10:00:00Z"), "{note}");
        assert!(note.contains("\"Testing\""), "{note}");
        assert!(note.contains("Publish app"), "{note}");
        assert!(Google.short_refresh_note(9 * 86_400, "x").is_none());
        // Only Google says so.
        let gh = crate::ProviderKind::GitHub.dialect();
        assert!(gh.short_refresh_note(604_799, "x").is_none());
    }

    #[test]
    fn google_scopes() {
        let ok = check_scopes(&["openid".into(), "drive.file".into()]).unwrap();
        assert_eq!(ok[1], "https://www.googleapis.com/auth/drive.file");
        let err =
            check_scopes(&["email".into(), "drive".into(), "gmail.readonly".into()]).unwrap_err();
        assert!(err.contains("drive, gmail.readonly"), "{err}");
        assert!(
            err.contains(
                "; allowed: openid, email, profile, drive.file, youtube, youtube.readonly"
            ),
            "{err}"
        );
        // drive.appdata is refused, with the way to get it.
        let err = check_scopes(&["drive.appdata".into()]).unwrap_err();
        assert!(
            err.contains("scope drive.appdata;") && err.contains("flow = \"code\""),
            "{err}"
        );
    }

    #[test]
    fn normalize_trims_expands_and_refuses() {
        let ok = Google
            .normalize_scopes(vec![" openid".into(), "".into(), "youtube ".into()])
            .unwrap();
        assert_eq!(ok, ["openid", "https://www.googleapis.com/auth/youtube"]);
        let err = Google.normalize_scopes(vec!["drive".into()]).unwrap_err();
        assert!(err.contains("does not allow the scope drive;"), "{err}");
    }

    /// Google grants and reports `…/auth/userinfo.email` and `…/userinfo.profile` for `email`
    /// and `profile` (docs/providers.md, "Google scopes"): accepted as aliases, requested as the short names.
    #[test]
    fn long_forms_of_email_and_profile_are_aliases() {
        let ok = Google
            .normalize_scopes(vec![
                "openid".into(),
                "https://www.googleapis.com/auth/userinfo.email".into(),
                "userinfo.profile".into(),
                "https://www.googleapis.com/auth/userinfo.profile".into(),
            ])
            .unwrap();
        assert_eq!(ok, ["openid", "email", "profile"]);
        assert!(
            Google
                .normalize_scopes(vec!["userinfo.phone".into()])
                .is_err()
        );
    }

    #[test]
    fn verification_hosts() {
        let g = endpoints();
        assert!(
            check_verification_uri(
                ProviderKind::Google,
                &g,
                &[],
                "https://www.google.com/device"
            )
            .is_ok()
        );
        assert!(
            check_verification_uri(
                ProviderKind::Google,
                &g,
                &[],
                "https://www.g00gle.com/device"
            )
            .is_err()
        );
    }

    #[test]
    fn secret_goes_on_polls_only() {
        assert!(!Google.sends_secret(SecretUse::Device));
        assert!(Google.sends_secret(SecretUse::Poll));
        assert!(
            Google
                .requires_client_secret()
                .unwrap()
                .contains("client secret")
        );
        assert_eq!(Google.default_token_env(), ["GOOGLE_OAUTH_ACCESS_TOKEN"]);
    }
}
