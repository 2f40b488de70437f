//! `sidekey google youtube …`: the clap shape of the YouTube operations, turned into
//! [`YouTubeOp`](crate::catalog::youtube::YouTubeOp) values before anything else happens.

use crate::catalog::Operation;
use crate::catalog::youtube::{Privacy, RemoveTarget, SearchKind, YouTubeOp};
use crate::error::Failure;
use clap::Subcommand;

#[derive(Subcommand)]
#[command(defer = true)]
pub enum YoutubeCmd {
    /// The playlists of your channel
    Playlists {
        #[arg(long, default_value_t = 50)]
        max: usize,
    },
    /// Create a playlist, list its videos, add or remove a video
    Playlist {
        #[command(subcommand)]
        cmd: PlaylistCmd,
    },
    /// Search YouTube (one of the project's 100 searches a day)
    Search {
        /// What to search for
        #[arg(allow_hyphen_values = true)]
        query: String,
        #[arg(long, default_value_t = 10)]
        max: usize,
        #[arg(long = "type", value_enum, default_value = "video")]
        kind: SearchKind,
    },
    /// The quota sidekey counted today for this account's Cloud project, and when it resets
    Quota,
}

#[derive(Subcommand)]
#[command(defer = true)]
pub enum PlaylistCmd {
    /// Create a playlist (private unless --privacy says otherwise)
    Create {
        /// Title, up to 150 characters
        #[arg(allow_hyphen_values = true)]
        title: String,
        #[arg(long, allow_hyphen_values = true)]
        description: Option<String>,
        #[arg(long, value_enum, default_value = "private")]
        privacy: Privacy,
    },
    /// The videos in a playlist (by id, link or exact title), with their item ids
    Items {
        /// Playlist id (PL…), link with list=…, or exact title
        #[arg(allow_hyphen_values = true)]
        playlist: String,
        #[arg(long, default_value_t = 50)]
        max: usize,
    },
    /// Add a video (an id or any YouTube link) to a playlist (id, link or exact title)
    Add {
        /// Playlist id (PL…), link with list=…, or exact title
        #[arg(allow_hyphen_values = true)]
        playlist: String,
        /// Video id (11 characters) or YouTube link (watch?v=, youtu.be/, shorts/, live/)
        #[arg(allow_hyphen_values = true)]
        video: String,
    },
    /// Remove a video from a playlist (every entry of it), or one entry with --item ID
    Remove {
        /// Playlist id (PL…), link with list=…, or exact title
        #[arg(allow_hyphen_values = true, required_unless_present = "item")]
        playlist: Option<String>,
        /// Video id or YouTube link: every entry of it is removed
        #[arg(allow_hyphen_values = true, requires = "playlist")]
        video: Option<String>,
        /// A playlist item id (from `playlist items`) instead of PLAYLIST VIDEO
        #[arg(long, conflicts_with_all = ["playlist", "video"], allow_hyphen_values = true)]
        item: Option<String>,
    },
}

impl YoutubeCmd {
    pub fn operation(self) -> Result<Operation, Failure> {
        let op = match self {
            YoutubeCmd::Playlists { max } => YouTubeOp::Playlists { max },
            YoutubeCmd::Search { query, max, kind } => YouTubeOp::Search { query, max, kind },
            YoutubeCmd::Quota => YouTubeOp::Quota,
            YoutubeCmd::Playlist { cmd } => match cmd {
                PlaylistCmd::Create {
                    title,
                    description,
                    privacy,
                } => YouTubeOp::PlaylistCreate {
                    title,
                    description,
                    privacy,
                },
                PlaylistCmd::Items { playlist, max } => YouTubeOp::PlaylistItems { playlist, max },
                PlaylistCmd::Add { playlist, video } => YouTubeOp::PlaylistAdd { playlist, video },
                PlaylistCmd::Remove {
                    playlist,
                    video,
                    item,
                } => YouTubeOp::PlaylistRemove {
                    target: match (item, playlist, video) {
                        (Some(id), None, None) => RemoveTarget::Item { id },
                        (None, Some(playlist), Some(video)) => {
                            RemoveTarget::Video { playlist, video }
                        }
                        _ => {
                            return Err(Failure::usage(
                                "give PLAYLIST VIDEO, or --item ITEM_ID (from `sidekey google youtube playlist items`)",
                            ));
                        }
                    },
                },
            },
        };
        Ok(Operation::YouTube(op))
    }
}
