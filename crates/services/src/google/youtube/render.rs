//! The text a person reads for YouTube answers: playlists, playlist entries, search results.

use super::{Listing, Playlist, PlaylistItem, SearchHit};

/// A title, channel name or id as one printable line: YouTube stores what their owners typed,
/// escape sequences and newlines included ([`sidekey_net::one_line`]).
fn shown(s: &str) -> String {
    sidekey_net::one_line(s, 300)
}

/// The channel's playlists, one a line: title, privacy, count, id.
pub fn playlists(l: &Listing<Playlist>) -> String {
    if l.items.is_empty() {
        return "No playlists on this channel.".into();
    }
    let mut out = String::new();
    for p in &l.items {
        out.push_str(&format!(
            "{}  ({}{})  {}\n",
            shown(&p.title),
            shown(p.privacy.as_deref().unwrap_or("?")),
            p.item_count
                .map(|n| format!(", {n} video{}", if n == 1 { "" } else { "s" }))
                .unwrap_or_default(),
            shown(&p.id)
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
            it.position
                .map(|p| p.saturating_add(1))
                .unwrap_or(i as u64 + 1),
            shown(&it.title),
            it.channel_title
                .as_deref()
                .map(|c| format!(" — {}", shown(c)))
                .unwrap_or_default(),
            shown(&it.url),
            shown(&it.id)
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
            shown(&h.title),
            h.channel_title
                .as_deref()
                .map(|c| format!(" — {}", shown(c)))
                .unwrap_or_default(),
            shown(&h.url)
        ));
    }
    if hits.is_empty() {
        text.push_str("Nothing found.\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `snippet.position` is whatever the answer says: the last possible one is shown, not an
    /// overflow (a panic in debug builds, position 0 in release).
    #[test]
    fn any_position_is_shown() {
        let item = PlaylistItem {
            id: "i".into(),
            playlist_id: "p".into(),
            video_id: "v".into(),
            title: "t".into(),
            position: Some(u64::MAX),
            channel_title: None,
            url: "u".into(),
        };
        let l = Listing {
            items: vec![item],
            more: false,
            total_results: None,
        };
        assert!(items(&l).starts_with(&format!("{}. t", u64::MAX)));
    }
}
