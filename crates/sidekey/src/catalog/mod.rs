//! The operation catalog: everything the agent may ask a service to do, one enum variant per
//! operation with its typed arguments, and nothing that runs them.
//!
//! An [`Operation`] is built from CLI arguments (`sidekey ms calendar --when tomorrow`) or from
//! the daemon's `POST /v1/op` body, and [`Operation::validate`] refuses bad arguments (exit 2)
//! before any token is fetched. Each variant knows its [`OpInfo`]: the name used by the audit log
//! and the policy (`ms.calendar`), whether it reads or writes ([`Access`]), and the one-line
//! summary and usage the generated skills show. The daemon route, the policy check, the audit
//! entry and the skills all come from here. This module sits below everything that runs an
//! operation: it imports only [`crate::error`] and the leaf crates (running is `crate::ops`),
//! and the AWS id validators from `crate::policy` until they move out of it.
//! Adding an operation is one variant in its service file here, its run arm in
//! `crate::ops::<service>`, its CLI arguments and its test.
//!
//! ## What an operation enum needs to be an MCP tool (`sidekey mcp`)
//! The MCP server ([`crate::mcp`]) makes one tool per entry of [`Operation::all`], and derives
//! each tool's input schema from the enum itself, so nothing is written per tool. A new service's
//! enum (`GoogleOp`, `AwsOp`, …) needs:
//! * `#[derive(schemars::JsonSchema)]` next to `Serialize, Deserialize`, with `#[serde(tag =
//!   "op")]` and each variant `#[serde(rename = "<policy name>")]` (the wire form already
//!   required); every type its fields use derives `JsonSchema` too;
//! * a `///` line on each field (the schema's `description`, which the model reads) and
//!   `#[serde(default…)]` on every field that has a sensible default (it becomes optional);
//! * its variant in [`Operation`], its iterator chained in both [`Operation::catalog`] and
//!   [`Operation::all`] (a test checks the two agree and that every operation has a schema), and
//!   its enum tried in [`Operation::mismatch`] (for a precise "bad arguments" message).
//!
//! The tool is named after the operation with `_` for `.` (`ms.files.search` → `ms_files_search`,
//! since several clients accept only `[A-Za-z0-9_-]` in tool names); writes appear only for
//! accounts whose policy allows them.

pub mod aws;
pub mod google;
pub mod microsoft;
pub mod youtube;

use crate::error::Failure;
use serde::{Deserialize, Serialize};
use sidekey_flow::ProviderKind;

/// Whether an operation changes anything (the policy allows reads by default, writes only when
/// listed in `[accounts.NAME.policy] allow`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Read,
    Write,
    /// Hands out a credential (AWS role keys): governed by its own policy rule, refused through
    /// the daemon by default.
    Export,
}

/// What the rest of sidekey knows about an operation without running it.
#[derive(Debug, PartialEq, Eq)]
pub struct OpInfo {
    /// The audit and policy name, also the wire tag: `ms.files.search`.
    pub name: &'static str,
    pub access: Access,
    /// One line for people and skills.
    pub summary: &'static str,
    /// The command line, for skills and help.
    pub usage: &'static str,
}

/// What the person reads before approving an operation (`[accounts.NAME.policy] ask`): the
/// action in their words and its key arguments, as plain text (the channel escapes it and
/// removes control characters; `crate::approvals` renders it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description {
    /// What will happen, as a short phrase: "Send a mail", "Create a calendar event".
    pub action: String,
    /// The key arguments, in order: `("To", "bob@example.com")`, `("Subject", "…")`,
    /// `("Body", first lines)`. A value may hold several lines (a body's first lines).
    pub details: Vec<(&'static str, String)>,
}

impl Description {
    /// An action with no details yet.
    pub fn new(action: impl Into<String>) -> Description {
        Description {
            action: action.into(),
            details: vec![],
        }
    }

    /// Add one detail.
    pub fn with(mut self, label: &'static str, value: impl Into<String>) -> Description {
        self.details.push((label, value.into()));
        self
    }
}

/// The first `lines` lines of `text`, at most `chars` characters, with `…` when cut: what an
/// approval message shows of a body.
pub fn first_lines(text: &str, lines: usize, chars: usize) -> String {
    let kept: Vec<&str> = text.lines().take(lines).collect();
    let mut out: String = kept.join("\n").chars().take(chars).collect();
    if out.chars().count() < text.trim_end().chars().count() {
        out.push('…');
    }
    out
}

/// A byte count as people read it: `812 bytes`, `3.4 KB`, `1.2 MB`.
pub fn human_size(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} bytes"),
        1_000..1_000_000 => format!("{:.1} KB", bytes as f64 / 1_000.0),
        _ => format!("{:.1} MB", bytes as f64 / 1_000_000.0),
    }
}

/// One service operation with its arguments. On the wire: `{"op": "ms.calendar", …arguments}`.
///
/// Written as its service enum writes it. Read tag first ([`Operation::read_named`]): the `op`
/// names the one service enum that reads the arguments, so no other enum is tried and nothing
/// is buffered for a second attempt (an untagged read would copy every value of the input once
/// per try, each small JSON value becoming a large node).
#[derive(Serialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Operation {
    Microsoft(microsoft::MsOp),
    Google(google::GoogleOp),
    YouTube(youtube::YouTubeOp),
    Aws(aws::AwsOp),
}

impl Operation {
    pub fn info(&self) -> &'static OpInfo {
        match self {
            Operation::Microsoft(op) => op.info(),
            Operation::Google(op) => op.info(),
            Operation::YouTube(op) => op.info(),
            Operation::Aws(op) => op.info(),
        }
    }

    /// The provider whose accounts serve this operation.
    pub fn provider(&self) -> ProviderKind {
        match self {
            Operation::Microsoft(_) => microsoft::PROVIDER,
            Operation::Google(_) => google::PROVIDER,
            Operation::YouTube(_) => youtube::PROVIDER,
            Operation::Aws(_) => aws::PROVIDER,
        }
    }

    /// Every operation sidekey knows, for the policy, the skills and the docs.
    pub fn catalog() -> impl Iterator<Item = &'static OpInfo> {
        use strum::IntoEnumIterator;
        microsoft::MsOp::iter()
            .map(|op| op.info())
            .chain(google::GoogleOp::iter().map(|op| op.info()))
            .chain(youtube::YouTubeOp::iter().map(|op| op.info()))
            .chain(aws::AwsOp::iter().map(|op| op.info()))
    }

    /// Every operation as a value (placeholder arguments): what [`Operation::catalog`] lists,
    /// with the provider each belongs to (the MCP tool list needs both).
    pub fn all() -> impl Iterator<Item = Operation> {
        use strum::IntoEnumIterator;
        microsoft::MsOp::iter()
            .map(Operation::Microsoft)
            .chain(google::GoogleOp::iter().map(Operation::Google))
            .chain(youtube::YouTubeOp::iter().map(Operation::YouTube))
            .chain(aws::AwsOp::iter().map(Operation::Aws))
    }

    /// Read the arguments of the operation named `name` from `d` (a JSON object whose `op` is
    /// `name`) with the one service enum that owns it; `Ok(None)` if no operation has that name.
    /// Other keys of the object (the request's `account`) are ignored as serde ignores any
    /// unknown field.
    pub fn read_named<'de, D: serde::Deserializer<'de>>(
        name: &str,
        d: D,
    ) -> Result<Option<Operation>, D::Error> {
        let Some(owner) = Operation::all().find(|o| o.info().name == name) else {
            return Ok(None);
        };
        Ok(Some(match owner {
            Operation::Microsoft(_) => Operation::Microsoft(microsoft::MsOp::deserialize(d)?),
            Operation::Google(_) => Operation::Google(google::GoogleOp::deserialize(d)?),
            Operation::YouTube(_) => Operation::YouTube(youtube::YouTubeOp::deserialize(d)?),
            Operation::Aws(_) => Operation::Aws(aws::AwsOp::deserialize(d)?),
        }))
    }

    /// The operation in `text`, a JSON object whose `op` is `name` (already read from it, e.g.
    /// by [`crate::api::OpRequest::from_json`]): an unknown name or bad arguments are a usage
    /// failure that says which.
    pub fn from_json(name: &str, text: &[u8]) -> Result<Operation, Failure> {
        let mut de = serde_json::Deserializer::from_slice(text);
        match Operation::read_named(name, &mut de).and_then(|op| de.end().map(|()| op)) {
            Ok(Some(op)) => Ok(op),
            Ok(None) => Err(unknown_operation(name)),
            Err(e) => Err(Failure::usage(format!("{name}: bad arguments: {e}"))),
        }
    }

    /// Why `value` is not an operation, in serde's words (the untagged [`Operation`] only says
    /// "did not match any variant"): the first service enum whose message is not about the tag.
    pub fn mismatch(value: &serde_json::Value) -> Option<String> {
        let tries = [
            serde_json::from_value::<microsoft::MsOp>(value.clone()).err(),
            serde_json::from_value::<google::GoogleOp>(value.clone()).err(),
            serde_json::from_value::<youtube::YouTubeOp>(value.clone()).err(),
            serde_json::from_value::<aws::AwsOp>(value.clone()).err(),
        ];
        tries
            .into_iter()
            .flatten()
            .map(|e| e.to_string())
            .find(|e| !e.contains("unknown variant"))
    }

    /// The operation named `name` (`ms.me`), if there is one.
    pub fn named(name: &str) -> Option<&'static OpInfo> {
        Operation::catalog().find(|i| i.name == name)
    }

    /// What an export hands out when it is narrower than the account's token, named as the
    /// policy lists it (AWS role keys: `ACCOUNT_ID/ROLE_NAME`); `None` for everything else.
    pub fn credential(&self) -> Option<String> {
        match self {
            Operation::Aws(op) => op.role_pair(),
            _ => None,
        }
    }

    /// Never wait for a browser on this machine (the Picker's loopback redirect): through the
    /// daemon no browser is there, so the link is handed out and finished with `--paste-url`.
    pub fn without_waiting(&mut self) {
        if let Operation::Google(google::GoogleOp::Pick { wait_secs, .. }) = self {
            *wait_secs = 0;
        }
    }

    /// Check the arguments without the network: exit 2 on anything the service would refuse.
    pub fn validate(&self) -> Result<(), Failure> {
        match self {
            Operation::Microsoft(op) => op.validate(),
            Operation::Google(op) => op.validate(),
            Operation::YouTube(op) => op.validate(),
            Operation::Aws(op) => op.validate(),
        }
    }

    /// What the person reads before approving it, times in `zone` (their time zone).
    pub fn describe(&self, zone: &jiff::tz::TimeZone) -> Description {
        match self {
            Operation::Microsoft(op) => op.describe(zone),
            Operation::Google(op) => op.describe(zone),
            Operation::YouTube(op) => op.describe(zone),
            Operation::Aws(op) => op.describe(zone),
        }
    }

    /// What the audit log keeps of the arguments: which were given, never their values (a
    /// search text or a sender can be personal).
    pub fn audit_args(&self) -> serde_json::Value {
        match self {
            Operation::Microsoft(op) => op.audit_args(),
            Operation::Google(op) => op.audit_args(),
            Operation::YouTube(op) => op.audit_args(),
            Operation::Aws(op) => op.audit_args(),
        }
    }
}

/// Any input serde reads (a `serde_json::Value`, an MCP tool's arguments): the `op` first,
/// then [`Operation::read_named`]. The daemon reads its bodies from bytes instead
/// ([`Operation::from_json`]), without building a `Value`.
impl<'de> Deserialize<'de> for Operation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Operation, D::Error> {
        use serde::de::Error;
        let v = serde_json::Value::deserialize(d)?;
        let Some(name) = v.get("op").and_then(serde_json::Value::as_str) else {
            return Err(D::Error::custom("expected an object with \"op\": NAME"));
        };
        let name = name.to_string();
        match Operation::read_named(&name, v) {
            Ok(Some(op)) => Ok(op),
            Ok(None) => Err(D::Error::custom(unknown_operation(&name).message)),
            Err(e) => Err(D::Error::custom(e)),
        }
    }
}

/// The usage failure for an operation name no service has.
pub fn unknown_operation(name: &str) -> Failure {
    Failure::usage(format!(
        "unknown operation '{}' (GET /v1/ops lists them, e.g. ms.me)",
        sidekey_flow::response::one_line(name, 60)
    ))
}

/// The IANA time zone `name`, or a usage failure naming it.
pub fn parse_timezone(name: &str) -> Result<jiff::tz::TimeZone, Failure> {
    jiff::tz::TimeZone::get(name).map_err(|_| {
        Failure::usage(format!(
            "unknown time zone '{name}' (use an IANA name like Europe/Berlin)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every write says more than its summary: the person approves what they can read.
    #[test]
    fn every_write_describes_its_arguments() {
        let zone = jiff::tz::TimeZone::UTC;
        for op in Operation::all().filter(|o| o.info().access == Access::Write) {
            let d = op.describe(&zone);
            assert_ne!(
                d.action,
                op.info().summary,
                "{} only repeats its summary",
                op.info().name
            );
            assert!(
                !d.details.is_empty(),
                "{} names no argument",
                op.info().name
            );
        }
        assert_eq!(first_lines("a\nb\nc\nd", 2, 100), "a\nb…");
        assert_eq!(first_lines("short", 3, 100), "short");
        assert_eq!(
            first_lines(&"x".repeat(50), 3, 10),
            format!("{}…", "x".repeat(10))
        );
        assert_eq!(human_size(812), "812 bytes");
        assert_eq!(human_size(3_400), "3.4 KB");
        assert_eq!(human_size(4_000_000), "4.0 MB");
    }

    #[test]
    fn names_are_unique_and_match_the_wire_tag() {
        let mut seen = std::collections::HashSet::new();
        use strum::IntoEnumIterator;
        let all = microsoft::MsOp::iter()
            .map(Operation::Microsoft)
            .chain(google::GoogleOp::iter().map(Operation::Google))
            .chain(youtube::YouTubeOp::iter().map(Operation::YouTube))
            .chain(aws::AwsOp::iter().map(Operation::Aws));
        for op in all {
            let info = op.info();
            assert!(seen.insert(info.name), "duplicate {}", info.name);
            let v = serde_json::to_value(&op).unwrap();
            assert_eq!(v["op"], info.name, "{v}");
            let back: Operation = serde_json::from_value(v).unwrap();
            assert_eq!(back, op);
            assert!(info.usage.starts_with("sidekey "), "{}", info.usage);
        }
        assert_eq!(Operation::named("ms.me").unwrap().access, Access::Read);
        let all: Vec<&str> = Operation::all().map(|o| o.info().name).collect();
        let catalog: Vec<&str> = Operation::catalog().map(|i| i.name).collect();
        assert_eq!(
            all, catalog,
            "Operation::all and Operation::catalog disagree"
        );
        assert!(Operation::named("ms.nope").is_none());
        let add = Operation::named("google.youtube.playlist.add").unwrap();
        assert_eq!(add.access, Access::Write);
        assert_eq!(
            Operation::named("google.youtube.search").unwrap().access,
            Access::Read
        );
        assert_eq!(
            Operation::YouTube(youtube::YouTubeOp::Quota).provider(),
            ProviderKind::Google
        );
        assert_eq!(Operation::named("aws.roles").unwrap().access, Access::Read);
        assert_eq!(
            Operation::named("aws.credentials").unwrap().access,
            Access::Export
        );
        assert!(Operation::catalog().any(|i| i.name == "aws.accounts"));
    }
}
