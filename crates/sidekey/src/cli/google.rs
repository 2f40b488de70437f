//! `sidekey google …`: Google's operations, one subcommand per service.

use super::youtube;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum GoogleCmd {
    /// YouTube playlists and search (scope `youtube`; writes need the account's policy)
    Youtube {
        #[command(subcommand)]
        cmd: youtube::YoutubeCmd,
    },
}

impl GoogleCmd {
    pub fn operation(self) -> Result<crate::ops::Operation, crate::error::Failure> {
        match self {
            GoogleCmd::Youtube { cmd } => cmd.operation(),
        }
    }
}
