//! The `sidekey-aws` skill: the access portal's accounts and roles and the role credentials
//! (`sidekey aws …`, `credential_process`) for the AWS IAM Identity Center accounts.

use super::text::{account_lines, frontmatter};
use super::{Account, Skill};
use std::fmt::Write as _;

pub(super) fn aws_skill(accounts: &[&Account]) -> Skill {
    let name = &accounts[0].name;
    let description = "AWS accounts and roles from IAM Identity Center, and short-lived role keys for the AWS CLI and SDKs through credential_process, via sidekey aws.";
    let mut out = frontmatter("sidekey-aws", description, "☁️", &["sidekey"]);
    out.push_str(
        "\
# AWS with sidekey

Use when the person asks which AWS accounts or roles they have, or when an AWS CLI or SDK call
needs credentials. sidekey holds the IAM Identity Center session; you get accounts, roles and
short-lived keys of the roles the person allowed, never the session itself.

",
    );
    account_lines(&mut out, accounts);
    let pick = if accounts.len() > 1 {
        format!(" --account {name}")
    } else {
        String::new()
    };
    use strum::IntoEnumIterator;
    // Not the exports: `aws credentials` prints keys, which belong in an SDK's credential_process,
    // never in the conversation.
    let ops: String = crate::catalog::aws::AwsOp::iter()
        .map(|op| op.info())
        .filter(|i| i.access != crate::catalog::Access::Export)
        .map(|i| format!("- `{}{pick}`: {}.\n", i.usage, i.summary))
        .collect();
    let _ = write!(
        out,
        "\
Commands (add `--json` for a JSON document):

{ops}
For the AWS CLI or an SDK, use a profile in `~/.aws/config` rather than copying keys:

```ini
[profile NAME]
credential_process = sidekey aws credentials --account-id 123456789012 --role-name ReadOnly{pick}
```

then `aws --profile NAME …`. Don't run `sidekey aws credentials` yourself: it prints the keys.
Never print, store or pass on keys.

If a command fails:
- exit 3 — not signed in: start the sign-in with the sidekey-auth skill and tell the person.
- exit 5 — AWS was unreachable or busy: try once more later.
- exit 6 — the person's sidekey policy (aws_roles) does not hand out that role, or AWS has no such
  assignment: tell them, don't work around it.
"
    );
    Skill {
        name: "sidekey-aws".into(),
        content: out,
    }
}
