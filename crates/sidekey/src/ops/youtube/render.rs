//! The text a person reads for YouTube answers: playlists, playlist entries, and the quota line.

use super::ledger::QuotaView;
use sidekey_services::youtube::{self, Bucket, Listing};

pub(super) fn until(resets_at: &str, now: jiff::Timestamp) -> String {
    let Ok(t) = resets_at.parse::<jiff::Timestamp>() else {
        return String::new();
    };
    let mins = (t.as_second() - now.as_second()).max(0) / 60;
    format!(" (in {} h {} min)", mins / 60, mins % 60)
}

pub(super) fn quota_line(q: &QuotaView, now: jiff::Timestamp) -> String {
    let used_up = match q.exhausted.as_slice() {
        [] => String::new(),
        [Bucket::Search] => " (searches used up: Google answered quotaExceeded)".into(),
        [Bucket::Units] => " (units used up: Google answered quotaExceeded)".into(),
        _ => " (units and searches used up: Google answered quotaExceeded)".into(),
    };
    format!(
        "YouTube quota today (project {}, counted by sidekey): {} of {} units, {} of {} searches{used_up}; resets at midnight Pacific time, {}{}",
        q.project,
        q.units_used,
        q.units_limit,
        q.searches_used,
        q.searches_limit,
        q.resets_at,
        until(&q.resets_at, now)
    )
}

pub(super) fn render_playlists(l: &Listing<youtube::Playlist>) -> String {
    if l.items.is_empty() {
        return "No playlists on this channel.".into();
    }
    let mut out = String::new();
    for p in &l.items {
        out.push_str(&format!(
            "{}  ({}{})  {}\n",
            p.title,
            p.privacy.as_deref().unwrap_or("?"),
            p.item_count
                .map(|n| format!(", {n} video{}", if n == 1 { "" } else { "s" }))
                .unwrap_or_default(),
            p.id
        ));
    }
    if l.more {
        out.push_str("… more (raise --max)\n");
    }
    out
}

pub(super) fn render_items(l: &Listing<youtube::PlaylistItem>) -> String {
    if l.items.is_empty() {
        return "The playlist is empty.".into();
    }
    let mut out = String::new();
    for (i, it) in l.items.iter().enumerate() {
        out.push_str(&format!(
            "{:>3}. {}{}  {}  (item {})\n",
            it.position.map(|p| p + 1).unwrap_or(i as u64 + 1),
            it.title,
            it.channel_title
                .as_deref()
                .map(|c| format!(" — {c}"))
                .unwrap_or_default(),
            it.url,
            it.id
        ));
    }
    if l.more {
        out.push_str("… more (raise --max)\n");
    }
    out
}
