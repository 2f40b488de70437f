//! The AWS IAM Identity Center operations (`aws.*`): their typed arguments, what each is
//! ([`OpInfo`]; `aws.credentials` is an export), the argument checks, and what the audit keeps
//! (the account id and role name, never a key). Running them is `crate::ops::aws`.

use super::{Access, OpInfo};
use crate::error::Failure;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sidekey_flow::ProviderKind;

pub const PROVIDER: ProviderKind = ProviderKind::Aws;

/// The AWS operations. The tag is the audit and policy name.
#[derive(
    Serialize, Deserialize, Debug, Clone, PartialEq, strum::EnumIter, schemars::JsonSchema,
)]
#[serde(tag = "op")]
pub enum AwsOp {
    #[serde(rename = "aws.accounts")]
    Accounts,
    #[serde(rename = "aws.roles")]
    Roles {
        /// The 12-digit AWS account id, as `aws.accounts` returns it.
        account_id: String,
    },
    #[serde(rename = "aws.credentials")]
    Credentials {
        /// The 12-digit AWS account id.
        account_id: String,
        /// The role (permission set) name, as `aws.roles` returns it.
        role_name: String,
    },
}

impl AwsOp {
    /// What the person reads before approving it (times in `zone`): see
    /// [`super::Description`]. Reads are never asked about; they say only what they are.
    pub fn describe(&self, _zone: &jiff::tz::TimeZone) -> super::Description {
        super::Description::new(self.info().summary)
    }

    pub fn info(&self) -> &'static OpInfo {
        match self {
            AwsOp::Accounts => &OpInfo {
                name: "aws.accounts",
                access: Access::Read,
                summary: "the AWS accounts this Identity Center user may use (id, name, email)",
                usage: "sidekey aws accounts",
            },
            AwsOp::Roles { .. } => &OpInfo {
                name: "aws.roles",
                access: Access::Read,
                summary: "the roles this user may assume in one AWS account",
                usage: "sidekey aws roles 123456789012",
            },
            AwsOp::Credentials { .. } => &OpInfo {
                name: "aws.credentials",
                access: Access::Export,
                summary: "short-lived keys of one role as credential_process JSON (only pairs in the account's policy aws_roles through the daemon)",
                usage: "sidekey aws credentials --account-id 123456789012 --role-name ReadOnly",
            },
        }
    }

    pub fn validate(&self) -> Result<(), Failure> {
        let (id, role) = match self {
            AwsOp::Accounts => return Ok(()),
            AwsOp::Roles { account_id } => (account_id, None),
            AwsOp::Credentials {
                account_id,
                role_name,
            } => (account_id, Some(role_name)),
        };
        if !sidekey_services::aws::valid_account_id(id) {
            return Err(Failure::usage(format!(
                "'{}' is not an AWS account id (12 digits)",
                sidekey_flow::response::one_line(id, 40)
            )));
        }
        if let Some(r) = role
            && !sidekey_services::aws::valid_role_name(r)
        {
            return Err(Failure::usage(format!(
                "'{}' is not an IAM role name (1-64 of letters, digits and +=,.@_-)",
                sidekey_flow::response::one_line(r, 80)
            )));
        }
        Ok(())
    }

    /// The audit keeps which account and role were asked for (never a key): they are what an
    /// export is reviewed by.
    pub fn audit_args(&self) -> Value {
        match self {
            AwsOp::Accounts => json!({}),
            AwsOp::Roles { account_id } => json!({ "account_id": account_id }),
            AwsOp::Credentials {
                account_id,
                role_name,
            } => json!({ "account_id": account_id, "role_name": role_name }),
        }
    }

    /// `ACCOUNT_ID/ROLE_NAME` of a credentials request.
    pub fn role_pair(&self) -> Option<String> {
        match self {
            AwsOp::Credentials {
                account_id,
                role_name,
            } => Some(format!("{account_id}/{role_name}")),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Exit;

    #[test]
    fn arguments_are_checked() {
        let ok = AwsOp::Credentials {
            account_id: "123456789012".into(),
            role_name: "ReadOnly".into(),
        };
        assert!(ok.validate().is_ok());
        assert_eq!(ok.role_pair().unwrap(), "123456789012/ReadOnly");
        for (id, role) in [
            ("12345", "R"),
            ("123456789012", "a/b"),
            ("123456789012", ""),
        ] {
            let bad = AwsOp::Credentials {
                account_id: id.into(),
                role_name: role.into(),
            };
            assert_eq!(bad.validate().unwrap_err().exit, Exit::Usage);
        }
    }
}
