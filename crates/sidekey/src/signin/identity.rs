//! Who an account is: the provider's stable subject of the user who first signed in (OIDC
//! `sub`, Microsoft's object id, GitHub's numeric user id), remembered in the vault slot
//! [`SLOT`] beside the tokens. `logout` forgets the tokens, never this: a later sign-in that
//! comes back as someone else — or as nobody sidekey can tell — is refused and the stored
//! tokens stay as they are (nobody sidekey can tell is its own outcome, `identity_unknown`). Only the person at the machine replaces it
//! (`sidekey login NAME --replace-identity`; docs/identity.md, "The rule").
//!
//! Records from before sidekey read subjects have none. For them the first sign-in is held to
//! whom the old record's access token belongs, as the provider's userinfo says (asked by
//! `Job::finish`, and then remembered as if it had been all along); when the provider no
//! longer answers for it (expired, revoked), to what the old record can still say — the subject
//! in its ID token, else its email — and, if that agrees (or says nothing), the new subject is
//! recorded.

use crate::account::{Record, now_unix};
use serde::{Deserialize, Serialize};
use sidekey_flow::UserInfo;

/// The vault slot (`NAME.identity`) holding [`Remembered`].
pub const SLOT: &str = "identity";

/// The identity an account is held to.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Remembered {
    /// The provider it was read from (`microsoft`, `github`…): a subject means nothing at
    /// another provider, so an account whose provider was changed in the config starts afresh.
    pub provider: String,
    pub subject: String,
    /// Unix seconds.
    pub since: i64,
}

/// What a finished sign-in does about the identity.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// The same user (or nothing to hold it to and nothing new to remember).
    Keep,
    /// Remember this (first sign-in, or a replacement).
    Remember(Remembered),
    /// Someone else: refuse, saying who signed in as far as the provider said.
    Refuse(String),
    /// Nobody sidekey can tell (the provider's userinfo failed, no ID token) while an identity
    /// is remembered: refuse, keeping the remembered one — "could not tell", not "someone else".
    Unknown,
}

/// Decide for a sign-in at `provider` that came back as `new`. `remembered` is the slot (if it
/// applies to this provider), `current` the stored record (for accounts signed in before
/// subjects were kept), `replace` the person's `--replace-identity`.
pub fn decide(
    provider: &str,
    remembered: Option<&Remembered>,
    current: Option<&Record>,
    new: &UserInfo,
    replace: bool,
) -> Decision {
    let remember = |subject: &String| {
        Decision::Remember(Remembered {
            provider: provider.to_string(),
            subject: subject.clone(),
            since: now_unix(),
        })
    };
    if replace {
        return match &new.subject {
            Some(s) if remembered.is_some_and(|r| &r.subject == s) => Decision::Keep,
            Some(s) => remember(s),
            None if remembered.is_some() => Decision::Unknown,
            None => Decision::Keep,
        };
    }
    let held = remembered
        .filter(|r| r.provider == provider)
        .map(|r| r.subject.clone())
        .or_else(|| current.and_then(legacy_subject));
    match (held, &new.subject) {
        (Some(old), Some(s)) if &old == s => Decision::Keep,
        (Some(_), Some(_)) => Decision::Refuse(who(new)),
        (Some(_), None) => Decision::Unknown,
        // An old record without a subject: its email, when both name one, must agree.
        (None, _)
            if current.is_some_and(|c| {
                matches!((&c.user.email, &new.email), (Some(a), Some(b)) if !a.eq_ignore_ascii_case(b))
            }) =>
        {
            Decision::Refuse(who(new))
        }
        (_, Some(s)) => remember(s),
        (_, None) => Decision::Keep,
    }
}

/// The subject an old record can still name: its own, else its ID token's (read the way the
/// dialect reads it: Microsoft's `oid`).
fn legacy_subject(rec: &Record) -> Option<String> {
    if let Some(s) = &rec.user.subject {
        return Some(s.clone());
    }
    let claims = sidekey_flow::client::id_token_claims(rec.id_token.as_ref()?.expose())?;
    sidekey_flow::dialect::named(&rec.provider)?
        .user_from_id_token(&claims)?
        .subject
}

/// Who signed in, for the refusal's message (never the subject alone: people know names).
fn who(u: &UserInfo) -> String {
    match (&u.name, &u.email) {
        (Some(n), Some(e)) => format!("{n} <{e}>"),
        (Some(n), None) => n.clone(),
        (None, Some(e)) => e.clone(),
        (None, None) => match &u.subject {
            Some(_) => "an account the provider does not name".into(),
            None => "an account the provider did not identify".into(),
        },
    }
}

/// The one-line failure for a sign-in sidekey could not tell apart (exit 5: trying again may
/// help; switching accounts is not what happened).
pub fn unknown(account: &str) -> String {
    format!(
        "sidekey could not tell who signed in to '{account}' (the provider's userinfo failed); the tokens were not stored; try `sidekey login {account}` again"
    )
}

/// The one-line refusal the person's channels and the caller get.
pub fn refusal(account: &str, who: &str) -> String {
    format!(
        "someone signed in to '{account}' as a different account ({who}); the tokens were not stored; if you meant to switch, run `sidekey login {account} --replace-identity` on the machine"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(subject: Option<&str>, email: Option<&str>) -> UserInfo {
        UserInfo {
            name: Some("X".into()),
            email: email.map(str::to_owned),
            subject: subject.map(str::to_owned),
        }
    }

    fn held(subject: &str) -> Remembered {
        Remembered {
            provider: "oidc".into(),
            subject: subject.into(),
            since: 1,
        }
    }

    fn old_record(user: UserInfo, id_token: Option<&str>) -> Record {
        let mut r: Record = serde_json::from_value(serde_json::json!({
            "provider": "microsoft", "client_id": "c", "state": "signed_in",
            "access_token": "at-0123456789", "token_type": "Bearer", "expires_at": null,
            "refresh_token": null, "refresh_token_expires_at": null, "id_token": null,
            "scopes": [], "user": {"name": "Ada", "email": null}, "token_endpoint": "https://x/t",
            "revocation_endpoint": null, "signed_in_at": 1, "refreshed_at": null, "reauth_reason": null
        }))
        .unwrap();
        r.user = user;
        r.id_token = id_token.map(sidekey_flow::Secret::new);
        r
    }

    #[test]
    fn the_first_sign_in_remembers_and_the_same_user_is_kept() {
        let d = decide("oidc", None, None, &user(Some("ada"), None), false);
        assert!(matches!(d, Decision::Remember(r) if r.subject == "ada" && r.provider == "oidc"));
        let ada = held("ada");
        assert_eq!(
            decide("oidc", Some(&ada), None, &user(Some("ada"), None), false),
            Decision::Keep
        );
    }

    #[test]
    fn someone_else_is_refused_unless_replacing_and_nobody_is_unknown() {
        let ada = held("ada");
        assert!(matches!(
            decide("oidc", Some(&ada), None, &user(Some("mallory"), Some("m@x")), false),
            Decision::Refuse(w) if w == "X <m@x>"
        ));
        assert_eq!(
            decide("oidc", Some(&ada), None, &UserInfo::default(), false),
            Decision::Unknown
        );
        assert!(matches!(
            decide("oidc", Some(&ada), None, &user(Some("mallory"), None), true),
            Decision::Remember(r) if r.subject == "mallory"
        ));
        assert_eq!(
            decide("oidc", Some(&ada), None, &UserInfo::default(), true),
            Decision::Unknown
        );
        // Remembered at another provider (the config changed): starts afresh.
        assert!(matches!(
            decide("github", Some(&ada), None, &user(Some("1815"), None), false),
            Decision::Remember(_)
        ));
    }

    /// A record from before subjects were kept: its ID token's subject (Microsoft: `oid`),
    /// else its email, is what the next sign-in must match; with neither, the next one is
    /// remembered.
    #[test]
    fn records_from_before_are_held_to_what_they_can_say() {
        let payload = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"sub":"pairwise","oid":"ada-oid","name":"Ada"}"#,
        );
        let jwt = format!("e30.{payload}.sig");
        let rec = old_record(user(None, None), Some(&jwt));
        assert_eq!(
            decide(
                "microsoft",
                None,
                Some(&rec),
                &user(Some("ada-oid"), None),
                false
            ),
            Decision::Keep
        );
        assert!(matches!(
            decide(
                "microsoft",
                None,
                Some(&rec),
                &user(Some("other"), None),
                false
            ),
            Decision::Refuse(_)
        ));
        let by_mail = old_record(user(None, Some("Ada@x.test")), None);
        assert!(matches!(
            decide(
                "microsoft",
                None,
                Some(&by_mail),
                &user(Some("s"), Some("ada@x.test")),
                false
            ),
            Decision::Remember(_)
        ));
        assert!(matches!(
            decide(
                "microsoft",
                None,
                Some(&by_mail),
                &user(Some("s"), Some("m@x.test")),
                false
            ),
            Decision::Refuse(_)
        ));
        let silent = old_record(UserInfo::default(), None);
        assert!(matches!(
            decide(
                "microsoft",
                None,
                Some(&silent),
                &user(Some("s"), None),
                false
            ),
            Decision::Remember(_)
        ));
    }
}
