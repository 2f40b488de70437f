//! Who signed in: the one value both the flow client (which asks the provider) and the dialects
//! (which read the provider's claims) speak of, kept apart so neither imports the other for it.

use serde_json::Value;

/// Who signed in. `name` and `email` are for display only (they change and can be reused);
/// `subject` is the provider's stable id of the user (OIDC `sub`, Microsoft's object id, GitHub's
/// numeric user id), which sidekey remembers per account to refuse a sign-in by someone else.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserInfo {
    pub name: Option<String>,
    pub email: Option<String>,
    /// `None` in records written before sidekey read it, and where the provider names nobody
    /// (AWS IAM Identity Center).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// The longest subject taken (OIDC Core 1.0 §2: `sub` "MUST NOT exceed 255 ASCII characters").
pub const MAX_SUBJECT: usize = 255;

impl UserInfo {
    /// Whether the provider said anything at all.
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.email.is_none() && self.subject.is_none()
    }
}

/// A stable id as a provider sends it: a non-empty string of at most [`MAX_SUBJECT`]
/// characters without control characters, or an integer (GitHub's user id). Anything else is
/// no subject at all — never a cut or cleaned one, which could make two users the same.
pub fn subject_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s)
            if !s.is_empty()
                && s.chars().count() <= MAX_SUBJECT
                && !s.chars().any(char::is_control) =>
        {
            Some(s.clone())
        }
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subjects_are_taken_whole_or_not_at_all() {
        assert_eq!(subject_of(Some(&json!("abc"))).as_deref(), Some("abc"));
        assert_eq!(subject_of(Some(&json!(1815))).as_deref(), Some("1815"));
        assert_eq!(subject_of(Some(&json!(""))), None);
        assert_eq!(subject_of(Some(&json!("a\nb"))), None);
        assert_eq!(subject_of(Some(&json!("x".repeat(256)))), None);
        assert_eq!(subject_of(Some(&json!(1.5))), None);
        assert_eq!(subject_of(Some(&json!(null))), None);
        assert_eq!(subject_of(None), None);
    }

    /// Records from before the subject load, and write no `subject` when there is none.
    #[test]
    fn old_records_load() {
        let u: UserInfo = serde_json::from_str(r#"{"name":"Ada","email":null}"#).unwrap();
        assert_eq!(u.subject, None);
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            r#"{"name":"Ada","email":null}"#
        );
    }
}
