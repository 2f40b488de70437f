//! The person's phone, for `sidekey demo`: the chat with the bot as a web page, drawn from what
//! [`crate::telegram::FakeTelegram`] accepted (`GET /phone` on the fake).
//!
//! Each accepted `sendMessage` becomes a chat bubble and each `sendPhoto` a bubble with its image
//! and caption, in `message_id` order. A message shows its latest text (`editMessageText`, marked
//! "edited" as Telegram's apps do) and, under it, the buttons of its inline keyboard: each a
//! plain form `POST` to `/phone/press` (no script), pressed as the person of the private chat. The texts are the ones sidekey's relay sent — produced by
//! the very function that builds the real Telegram message — so the page shows what a phone
//! would. They are rendered safely: with `parse_mode=HTML` the text is read with the fake's own
//! (strict) Telegram HTML parser, every character is escaped again, and only the formatting
//! tags Telegram supports come back out, as fixed HTML tags without their attributes (a link
//! keeps an `http(s)` `href`, escaped; any other link is shown as text). Without a parse mode
//! the text is escaped as a whole. The page has no script; it reloads itself every 2 seconds so
//! new messages show up. Telegram's rules as rendered here: docs/demo.md, "The phone page".

use crate::telegram::{EditedMessage, Piece, SentMessage, SentPhoto, buttons, walk};
use base64::Engine;

/// HTML-escapes one character into `out` (text and double-quoted attribute values alike).
fn push_escaped(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        c => out.push(c),
    }
}

fn escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    out
}

/// A message's text as safe web HTML, formatted as Telegram would show it.
///
/// `parse_mode` `HTML` (any case): the supported tags become `b`, `i`, `u`, `s`, `code`, `pre`,
/// `blockquote`, a spoiler `span`, or an `a` with an `http(s)` link; everything else is text.
/// Addresses in the text become links, as in Telegram's apps. Text Telegram would refuse (it
/// never reaches the page: the fake refuses it too) is shown escaped as a whole, and so is text
/// in other parse modes.
pub fn render(text: &str, parse_mode: Option<&str>) -> String {
    let html = parse_mode.is_some_and(|m| m.trim().eq_ignore_ascii_case("html"));
    if !html {
        return linked(text);
    }
    let mut out = String::with_capacity(text.len() + 64);
    // The web tag each open Telegram tag became, to close it with the same.
    let mut open: Vec<&'static str> = Vec::new();
    // Visible text since the last tag, linked when it is not inside a link already.
    let mut run = String::new();
    let walked = walk(text, |p| {
        let tag = match p {
            Piece::Char(c) => return run.push(c),
            Piece::Tag(t) => t,
        };
        // Telegram links addresses in plain text, not in a link, code or a code block.
        if open.iter().any(|w| matches!(*w, "a" | "code" | "pre")) {
            out.push_str(&escaped(&run));
        } else {
            out.push_str(&linked(&run));
        }
        run.clear();
        if tag.closing {
            if let Some(web) = open.pop() {
                out.push_str("</");
                out.push_str(web);
                out.push('>');
            }
            return;
        }
        let web = match tag.name.as_str() {
            "b" | "strong" => "b",
            "i" | "em" => "i",
            "u" | "ins" => "u",
            "s" | "strike" | "del" => "s",
            "code" => "code",
            "pre" => "pre",
            "blockquote" => "blockquote",
            "a" => match tag.attr("href").map(str::trim) {
                Some(h) if is_web_link(h) => {
                    out.push_str(&link_open(h));
                    open.push("a");
                    return;
                }
                // A `tg://` link or worse: its text only.
                _ => "span",
            },
            "tg-spoiler" | "span" => {
                out.push_str("<span class=\"spoiler\">");
                open.push("span");
                return;
            }
            _ => "span",
        };
        out.push('<');
        out.push_str(web);
        out.push('>');
        open.push(web);
    });
    match walked {
        Ok(()) => {
            out.push_str(&linked(&run));
            out
        }
        Err(_) => linked(text),
    }
}

fn is_web_link(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("http://")
}

fn link_open(href: &str) -> String {
    format!("<a rel=\"noopener noreferrer\" href=\"{}\">", escaped(href))
}

/// Plain text, escaped, with its `http(s)://` addresses made links as Telegram's apps do (up to
/// white space; a final `.`, `,`, `;`, `:`, `!`, `?` or `)` stays text).
fn linked(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = ["https://", "http://"]
        .iter()
        .filter_map(|p| rest.find(p))
        .min()
    {
        out.push_str(&escaped(&rest[..at]));
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\''))
            .unwrap_or(tail.len());
        let url = tail[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
        out.push_str(&link_open(url));
        out.push_str(&escaped(url));
        out.push_str("</a>");
        rest = &tail[url.len()..];
    }
    out.push_str(&escaped(rest));
    out
}

/// The image type of an uploaded photo, by its first bytes (the fake accepts PNG and JPEG).
fn image_type(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else {
        "image/jpeg"
    }
}

const STYLE: &str = "\
body{margin:0;background:#e7ebf0;font:15px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#000}\
.phone{max-width:420px;margin:16px auto;border-radius:28px;overflow:hidden;background:#b8d1a7;border:10px solid #222;box-shadow:0 4px 24px rgba(0,0,0,.25)}\
header{background:#517da2;color:#fff;padding:12px 16px}\
header b{display:block;font-size:17px}header small{opacity:.85}\
main{padding:12px 10px 18px;min-height:420px}\
.bubble{background:#fff;border-radius:14px 14px 14px 4px;padding:8px 11px;margin:0 40px 10px 0;white-space:pre-wrap;overflow-wrap:anywhere;box-shadow:0 1px 1px rgba(0,0,0,.15)}\
.bubble code{font-family:ui-monospace,Menlo,Consolas,monospace;background:#eef3f8;color:#0b5394;padding:0 3px;border-radius:3px;font-weight:600}\
.bubble a{color:#2a6fb0}.spoiler{background:#ccc;color:#ccc}\
.bubble blockquote{margin:4px 0;padding-left:8px;border-left:3px solid #517da2}\
.photo{padding:4px}.photo img{display:block;width:100%;max-width:300px;height:auto;border-radius:10px;image-rendering:pixelated}\
.caption{padding:6px 7px 2px}\
.keyboard{margin:-6px 40px 10px 0}.keyboard form{margin:0}.row{display:flex;gap:4px;margin-top:4px}\
.row button{flex:1;border:0;border-radius:8px;padding:7px 6px;background:rgba(0,0,0,.22);color:#fff;font:inherit;font-weight:600;cursor:pointer}\
.edited{display:block;text-align:right;font-size:11px;color:#8a9;white-space:normal}\
.empty{color:#234;background:rgba(255,255,255,.6);border-radius:10px;padding:10px;text-align:center}\
.note{max-width:420px;margin:0 auto 20px;color:#445;font-size:13px;padding:0 10px}";

/// The buttons of a message's inline keyboard: one form, a submit button per button.
fn keyboard(message_id: i64, rows: &[Vec<(String, String)>]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "<div class=\"keyboard\"><form method=\"post\" action=\"/phone/press\">\
<input type=\"hidden\" name=\"message_id\" value=\"{message_id}\">"
    );
    for row in rows {
        out.push_str("<div class=\"row\">");
        for (label, data) in row {
            out.push_str(&format!(
                "<button type=\"submit\" name=\"data\" value=\"{}\">{}</button>",
                escaped(data),
                escaped(label)
            ));
        }
        out.push_str("</div>");
    }
    out.push_str("</form></div>\n");
    out
}

/// The whole page: every accepted message (as its latest edit shows it, with its buttons) and
/// photo, in the order the chat shows them.
pub fn page(messages: &[SentMessage], edits: &[EditedMessage], photos: &[SentPhoto]) -> String {
    let mut bubbles: Vec<(i64, String)> = Vec::new();
    for m in messages {
        let edit = edits
            .iter()
            .rev()
            .find(|e| e.message_id == m.message_id && e.chat_id == m.chat_id);
        let (text, parse_mode, markup) = match edit {
            Some(e) => (&e.text, e.parse_mode.as_deref(), e.reply_markup.as_ref()),
            None => (&m.text, m.parse_mode.as_deref(), m.reply_markup.as_ref()),
        };
        let mark = if edit.is_some() {
            "<small class=\"edited\">edited</small>"
        } else {
            ""
        };
        bubbles.push((
            m.message_id,
            format!(
                "<div class=\"bubble message\" id=\"msg-{}\">{}{mark}</div>\n{}",
                m.message_id,
                render(text, parse_mode),
                keyboard(m.message_id, &buttons::rows(markup))
            ),
        ));
    }
    for p in photos {
        let image = if p.bytes.is_empty() {
            // Sent by URL or file id: nothing to show but the reference, as text.
            format!(
                "<div class=\"caption\">[photo {}]</div>",
                escaped(p.photo_ref.as_deref().unwrap_or(""))
            )
        } else {
            format!(
                "<img class=\"qr\" alt=\"QR code of the sign-in link\" src=\"data:{};base64,{}\">",
                image_type(&p.bytes),
                base64::engine::general_purpose::STANDARD.encode(&p.bytes)
            )
        };
        let caption = p
            .caption
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(|c| {
                format!(
                    "<div class=\"caption\">{}</div>",
                    render(c, p.parse_mode.as_deref())
                )
            })
            .unwrap_or_default();
        bubbles.push((
            p.message_id,
            format!(
                "<div class=\"bubble photo\" id=\"msg-{}\">{image}{caption}</div>\n",
                p.message_id
            ),
        ));
    }
    bubbles.sort_by_key(|(id, _)| *id);
    let chat: String = if bubbles.is_empty() {
        "<p class=\"empty\">No messages yet. When a sign-in starts, the bot sends its code here.</p>\n"
            .to_string()
    } else {
        bubbles.into_iter().map(|(_, b)| b).collect()
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta http-equiv=\"refresh\" content=\"2\">\
<title>sidekey demo: your phone</title><style>{STYLE}</style></head>\n<body>\
<div class=\"phone\"><header><b>sidekey bot</b><small>what your phone shows (Telegram)</small></header>\n\
<main id=\"chat\">\n{chat}</main></div>\n\
<p class=\"note\">This is the demo's own fake Telegram on this machine: nothing was sent anywhere. \
With a real bot (README, \"Getting the code to you\"), these same messages reach your phone.</p>\n\
</body></html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn telegram_tags_come_back_as_fixed_tags_and_the_rest_as_text() {
        assert_eq!(
            render(
                "1 &lt; 2 &amp; <b>bold</b> <code>AB&amp;CD</code> 'q' \"x\"",
                Some("HTML")
            ),
            "1 &lt; 2 &amp; <b>bold</b> <code>AB&amp;CD</code> &#39;q&#39; &quot;x&quot;"
        );
        assert_eq!(
            render("<strong>a</strong><em>b</em><del>c</del>", Some("html")),
            "<b>a</b><i>b</i><s>c</s>"
        );
        assert_eq!(
            render("<span class=\"tg-spoiler\">s</span>", Some("HTML")),
            "<span class=\"spoiler\">s</span>"
        );
    }

    #[test]
    fn links_keep_only_an_escaped_http_href() {
        assert_eq!(
            render(
                "<a href=\"https://x.test/?a=1&amp;b=&quot;2\">l</a>",
                Some("HTML")
            ),
            "<a rel=\"noopener noreferrer\" href=\"https://x.test/?a=1&amp;b=&quot;2\">l</a>"
        );
        assert_eq!(
            render("<a href=\"javascript:alert(1)\">l</a>", Some("HTML")),
            "<span>l</span>"
        );
        assert_eq!(
            render("<a href=\"tg://user?id=1\">l</a>", Some("HTML")),
            "<span>l</span>"
        );
    }

    #[test]
    fn addresses_in_the_text_become_links_as_in_telegram() {
        assert_eq!(
            render(
                "1. Open http://127.0.0.1:5/device?a=1&amp;b=2.\nx <code>https://no.test</code>",
                Some("HTML")
            ),
            "1. Open <a rel=\"noopener noreferrer\" href=\"http://127.0.0.1:5/device?a=1&amp;b=2\">http://127.0.0.1:5/device?a=1&amp;b=2</a>.\nx <code>https://no.test</code>"
        );
        assert_eq!(
            render(
                "<a href=\"https://a.test\">see https://b.test</a>",
                Some("HTML")
            ),
            "<a rel=\"noopener noreferrer\" href=\"https://a.test\">see https://b.test</a>"
        );
        assert_eq!(
            render("javascript:alert(1) http:", None),
            "javascript:alert(1) http:"
        );
    }

    #[test]
    fn markup_telegram_refuses_and_plain_text_are_escaped_whole() {
        assert_eq!(
            render("<script>alert(1)</script>", Some("HTML")),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(render("<b onclick=\"x\">a</b>", Some("HTML")), "<b>a</b>");
        assert_eq!(
            render("<b onclick=\"x\">a</b>", None),
            "&lt;b onclick=&quot;x&quot;&gt;a&lt;/b&gt;"
        );
    }
}
