//! Who signed in: the one value both the flow client (which asks the provider) and the dialects
//! (which read the provider's claims) speak of, kept apart so neither imports the other for it.

/// Who signed in, for display and audit. Never used for authorization decisions.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserInfo {
    pub name: Option<String>,
    pub email: Option<String>,
}
