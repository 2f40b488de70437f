//! The text a person reads for YouTube answers: playlists, playlist entries, search results.

use super::{Listing, Playlist, PlaylistItem, SearchHit};

/// The channel's playlists, one a line: title, privacy, count, id.
pub fn playlists(l: &Listing<Playlist>) -> String {
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

/// A playlist's entries, one a line, with their item ids.
pub fn items(l: &Listing<PlaylistItem>) -> String {
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

/// Search results, one a line: kind, title, channel, link.
pub fn search(hits: &[SearchHit]) -> String {
    let mut text = String::new();
    for h in hits {
        text.push_str(&format!(
            "{:<8} {}{}  {}\n",
            h.kind,
            h.title,
            h.channel_title
                .as_deref()
                .map(|c| format!(" — {c}"))
                .unwrap_or_default(),
            h.url
        ));
    }
    if hits.is_empty() {
        text.push_str("Nothing found.\n");
    }
    text
}
