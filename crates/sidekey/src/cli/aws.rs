//! `sidekey aws …`: the clap shape of the AWS IAM Identity Center operations, turned into
//! [`AwsOp`](crate::catalog::aws::AwsOp) values before anything else happens.

use crate::catalog::Operation;
use crate::catalog::aws::AwsOp;
use clap::Subcommand;

#[derive(Subcommand)]
#[command(defer = true)]
pub enum AwsCmd {
    /// The AWS accounts this Identity Center user may use
    Accounts,
    /// The roles this user may assume in one AWS account
    Roles {
        /// The 12-digit AWS account id (from `sidekey aws accounts`)
        account_id: String,
    },
    /// A role's short-lived keys as credential_process JSON (for `credential_process = …` in
    /// ~/.aws/config); errors go to stderr with a non-zero exit
    Credentials {
        /// The 12-digit AWS account id
        #[arg(long)]
        account_id: String,
        /// The role (permission set) name
        #[arg(long)]
        role_name: String,
    },
}

impl AwsCmd {
    pub fn operation(self) -> Operation {
        Operation::Aws(match self {
            AwsCmd::Accounts => AwsOp::Accounts,
            AwsCmd::Roles { account_id } => AwsOp::Roles { account_id },
            AwsCmd::Credentials {
                account_id,
                role_name,
            } => AwsOp::Credentials {
                account_id,
                role_name,
            },
        })
    }

    /// `credential_process` reads exactly one JSON document from stdout.
    pub fn always_json(&self) -> bool {
        matches!(self, AwsCmd::Credentials { .. })
    }
}
