//! Running the YouTube operations ([`YouTubeOp`], defined in `crate::catalog::youtube`): the
//! ledger's verdict (`ledger`), the scope check, the calls through the one service-call loop
//! (one refresh on a rejected token) and the charge. The HTTP calls and the text shown for
//! YouTube's answers are `sidekey_services::youtube`.

use crate::catalog::youtube::*;
pub use ledger::{Ledger, QuotaView, SEARCHES_PER_DAY, UNITS_PER_DAY, project_of, quota_day};

mod ledger;

use super::call::{ServiceError, Writes, attempt, not_granted_advice, within_ceiling};
use crate::account::Record;
use crate::catalog::Access;
use crate::context::Context;
use crate::error::{Exit, Failure, Reason};
use ledger::{quota_line, until};
use serde::Serialize;
use serde_json::{Value, json};
use sidekey_flow::Secret;
use sidekey_services::youtube::{self, Bucket, YOUTUBE_BASE, render};
use sidekey_services::{YouTube, YouTubeError};

/// Run `op` for account `name`: the ledger's verdict, the scope check, the calls (one refresh on
/// a rejected token), the charge.
pub async fn run(ctx: &Context, name: &str, op: &YouTubeOp) -> Result<(Value, String), Failure> {
    let account = ctx.config.account(name)?;
    let project = project_of(&account.client_id);
    let ledger = Ledger::at(&ctx.home);
    let now = jiff::Timestamp::now();
    let q = ledger.view(&project, now)?;
    let Some(bucket) = op.bucket() else {
        let text = quota_line(&q, now);
        return Ok((json!({"quota": q}), text));
    };
    if q.exhausted.contains(&bucket) {
        return Err(exhausted_failure(
            &q,
            bucket,
            now,
            " (Google answered quotaExceeded earlier today; sidekey does not ask again before the reset)",
        ));
    }
    let options = scope_options(op);
    let check = |rec: &Record| {
        if !has_any(&rec.scopes, options) {
            // Asked for at sign-in and not granted (a partial grant), or never asked for.
            let asked = has_any(&rec.requested_scopes, options);
            return Err(Failure::new(
                Exit::NotSignedIn,
                Reason::MissingScope,
                format!(
                    "'{name}' was not granted {}, which `google youtube {}` needs: {}",
                    if op.info().access == Access::Write {
                        SCOPE_YOUTUBE
                    } else {
                        "https://www.googleapis.com/auth/youtube (or youtube.readonly)"
                    },
                    op.command(),
                    not_granted_advice(
                        name,
                        asked,
                        if op.info().access == Access::Write {
                            "\"youtube\""
                        } else {
                            "\"youtube or youtube.readonly\""
                        }
                    ),
                ),
            ));
        }
        // The ceiling holds for what was granted, as for the Microsoft operations.
        if !has_any(&within_ceiling(account, &rec.scopes), options) {
            return Err(Failure::policy(format!(
                "policy: `google youtube {}` needs a YouTube scope that '{name}' was granted beyond its ceiling ({}); add it to [accounts.{name}.policy] allowed_scopes if that is intended",
                op.command(),
                account.policy.ceiling(&account.scopes).join(" ")
            )));
        }
        Ok(())
    };
    let base = account.youtube_api_base.as_deref().unwrap_or(YOUTUBE_BASE);
    let yt = YouTube::new(ctx.http()?.client().clone(), base);
    let yt = &yt;
    // A change made (a playlist created, a video added or removed) is never made again by the
    // retry after a 401: removing a video's entries is several requests.
    let writes = Writes::default();
    let wrote = &writes;
    let called = attempt(ctx, name, check, wrote, |t: Secret| async move {
        call(yt, t.expose(), op, wrote).await
    })
    .await?;
    // Failed requests spend quota too, a refused refreshed token's included.
    let (units, searches) = yt.spent();
    let exhausted = match &called.result {
        Err(YouTubeError::QuotaExceeded { bucket, .. }) => Some(*bucket),
        _ => None,
    };
    let q = ledger.charge(&project, now, units, searches, exhausted)?;
    if let Err(YouTubeError::QuotaExceeded { bucket, message }) = &called.result {
        let heard = if message.is_empty() {
            String::new()
        } else {
            format!(" (Google: {message})")
        };
        return Err(called
            .sent
            .scrub_failure(exhausted_failure(&q, *bucket, now, &heard)));
    }
    let (mut value, text) = called.finish(name, op)?;
    if let Value::Object(m) = &mut value {
        m.insert(
            "quota".into(),
            serde_json::to_value(&q).unwrap_or(Value::Null),
        );
    }
    let text = format!("{}\n{}", text.trim_end(), quota_line(&q, now));
    Ok((value, text))
}

impl ServiceError for YouTubeError {
    type Op = YouTubeOp;

    fn is_unauthorized(&self) -> bool {
        matches!(self, YouTubeError::Unauthorized)
    }

    fn refused_again(account: &str) -> Failure {
        let e = YouTubeError::Request {
            status: 401,
            reason: "authError".into(),
            message: "YouTube refused the refreshed token".into(),
        };
        Failure::reauth(account, &e.to_string())
    }

    fn into_failure(self, name: &str, op: &YouTubeOp) -> Failure {
        failure(name, op, self)
    }

    fn refused_after_writing(account: &str, done: &[String]) -> Failure {
        super::call::refused_after_writing(
            account,
            "YouTube",
            done,
            "see the playlist (`sidekey google youtube playlist items`)",
        )
    }
}

fn failure(name: &str, op: &YouTubeOp, e: YouTubeError) -> Failure {
    let msg = e.to_string();
    match e {
        YouTubeError::Request { status: 401, .. } | YouTubeError::Unauthorized => {
            Failure::reauth(name, &msg)
        }
        YouTubeError::MissingScope => Failure::new(
            Exit::NotSignedIn,
            Reason::MissingScope,
            format!(
                "{msg}, which `google youtube {}` needs: add \"youtube\" to the account's scopes and run `sidekey login {name}`",
                op.command()
            ),
        ),
        YouTubeError::ApiDisabled { .. } => Failure::config(msg),
        YouTubeError::Invalid(_) => Failure::usage(msg),
        YouTubeError::Throttled { .. } | YouTubeError::Network(_) => Failure::network(msg),
        _ => Failure::new(Exit::Provider, Reason::ProviderError, msg),
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<Value, YouTubeError> {
    serde_json::to_value(v).map_err(|e| YouTubeError::Malformed(e.to_string()))
}

/// The playlist id for `input`: as given, or the one playlist of the channel with that exact
/// title (case-insensitive).
async fn resolve(
    yt: &YouTube,
    token: &str,
    input: &str,
) -> Result<(String, Option<String>), YouTubeError> {
    match parse_playlist(input).map_err(YouTubeError::Invalid)? {
        PlaylistRef::Id(id) => Ok((id, None)),
        PlaylistRef::Title(title) => {
            let all = yt.playlists(token, 500).await?;
            let hits: Vec<&youtube::Playlist> = all
                .items
                .iter()
                .filter(|p| p.title.trim().eq_ignore_ascii_case(title.trim()))
                .collect();
            match hits.as_slice() {
                [one] => Ok((one.id.clone(), Some(one.title.clone()))),
                [] => Err(YouTubeError::NotFound {
                    reason: "playlistNotFound".into(),
                    message: format!(
                        "this channel has no playlist titled '{}' (see `sidekey google youtube playlists`, or create it)",
                        sidekey_flow::response::one_line(&title, 80)
                    ),
                }),
                many => Err(YouTubeError::Invalid(format!(
                    "{} playlists are titled '{}': name one by id ({})",
                    many.len(),
                    sidekey_flow::response::one_line(&title, 80),
                    many.iter()
                        .map(|p| p.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            }
        }
    }
}

async fn call(
    yt: &YouTube,
    token: &str,
    op: &YouTubeOp,
    writes: &Writes,
) -> Result<(Value, String), YouTubeError> {
    match op {
        YouTubeOp::Playlists { max } => {
            let l = yt.playlists(token, *max).await?;
            Ok((
                json!({"playlists": to_json(&l.items)?, "more": l.more}),
                render::playlists(&l),
            ))
        }
        YouTubeOp::PlaylistCreate {
            title,
            description,
            privacy,
        } => {
            let p = yt
                .create_playlist(
                    token,
                    title.trim(),
                    description.as_deref().unwrap_or(""),
                    privacy.wire(),
                )
                .await?;
            writes.record(format!("created playlist {}", p.id));
            let text = format!(
                "Created the {} playlist '{}': {}  (id {})",
                p.privacy.as_deref().unwrap_or(privacy.name()),
                p.title,
                p.url,
                p.id
            );
            Ok((json!({"playlist": to_json(&p)?}), text))
        }
        YouTubeOp::PlaylistItems { playlist, max } => {
            let (id, _) = resolve(yt, token, playlist).await?;
            let l = yt.playlist_items(token, &id, None, *max).await?;
            Ok((
                json!({"playlist_id": id, "items": to_json(&l.items)?, "more": l.more}),
                render::items(&l),
            ))
        }
        YouTubeOp::PlaylistAdd { playlist, video } => {
            let video = parse_video(video).map_err(YouTubeError::Invalid)?;
            let (id, title) = resolve(yt, token, playlist).await?;
            let item = yt.add_to_playlist(token, &id, &video).await?;
            writes.record(format!("added video {video} to playlist {id}"));
            let text = format!(
                "Added '{}' to {} at position {} (item {}).",
                item.title,
                title
                    .map(|t| format!("'{t}'"))
                    .unwrap_or_else(|| format!("playlist {id}")),
                item.position.map(|p| p + 1).unwrap_or(0),
                item.id
            );
            Ok((json!({"item": to_json(&item)?}), text))
        }
        YouTubeOp::PlaylistRemove {
            target: RemoveTarget::Item { id },
        } => {
            yt.remove_item(token, id).await?;
            writes.record(format!("removed playlist item {id}"));
            Ok((
                json!({"removed": [id]}),
                format!("Removed playlist item {id}."),
            ))
        }
        YouTubeOp::PlaylistRemove {
            target: RemoveTarget::Video { playlist, video },
        } => {
            let video = parse_video(video).map_err(YouTubeError::Invalid)?;
            let (id, title) = resolve(yt, token, playlist).await?;
            let entries = yt.playlist_items(token, &id, Some(&video), 500).await?;
            let mut removed = vec![];
            for it in entries.items.iter().filter(|i| i.video_id == video) {
                yt.remove_item(token, &it.id).await?;
                writes.record(format!("removed playlist item {} (video {video})", it.id));
                removed.push(it.id.clone());
            }
            let name = title
                .map(|t| format!("'{t}'"))
                .unwrap_or_else(|| format!("playlist {id}"));
            let text = match removed.len() {
                0 => format!("Video {video} is not in {name}; nothing was removed."),
                1 => format!("Removed video {video} from {name}."),
                n => format!("Removed {n} entries of video {video} from {name}."),
            };
            Ok((
                json!({"playlist_id": id, "video_id": video, "removed": removed}),
                text,
            ))
        }
        YouTubeOp::Search { query, max, kind } => {
            let l = yt.search(token, query, kind.wire(), *max).await?;
            let text = render::search(&l.items);
            Ok((
                json!({"query": query, "results": to_json(&l.items)?, "more": l.more}),
                text,
            ))
        }
        YouTubeOp::Quota => Ok((json!({}), String::new())),
    }
}

fn exhausted_failure(q: &QuotaView, bucket: Bucket, now: jiff::Timestamp, heard: &str) -> Failure {
    let which = match bucket {
        Bucket::Units => "daily YouTube Data API quota (10,000 units by default)",
        Bucket::Search => "daily search allowance (100 search.list calls by default)",
    };
    Failure::new(
        Exit::Provider,
        Reason::QuotaExceeded,
        format!(
            "quotaExceeded: the {which} of Google Cloud project {} is used up{heard}; it resets at midnight Pacific time, {}{}. A higher quota can be requested in the Cloud console (IAM & Admin > Quotas)",
            q.project,
            q.resets_at,
            until(&q.resets_at, now)
        ),
    )
}
