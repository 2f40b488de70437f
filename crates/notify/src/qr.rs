//! QR codes of the verification URL: a PNG for Telegram's `sendPhoto`, Unicode half blocks
//! for a terminal.
//!
//! The QR matrix comes from `qrcode` (without its `image` feature, which would pull in the
//! whole `image` crate); the PNG is drawn by hand from the module matrix and encoded with
//! `png`. Each module is 8×8 pixels, which is exactly one byte of a 1-bit grayscale row, so
//! the rows are trivial to build and the file stays small (a few KB).

use qrcode::render::unicode::Dense1x2;
use qrcode::{Color, QrCode};

/// Pixels per module edge: large enough for a phone camera to read from a chat bubble.
const SCALE: usize = 8;
/// Quiet zone in modules, as the QR specification requires.
const QUIET: usize = 4;
/// Longer input would only produce a code too dense to scan from a screen.
const MAX_TEXT: usize = 2048;

fn encode(text: &str) -> Result<QrCode, String> {
    if text.is_empty() {
        return Err("nothing to encode in a QR code".to_string());
    }
    if text.len() > MAX_TEXT {
        return Err(format!(
            "text of {} bytes is too long for a QR code (limit {MAX_TEXT})",
            text.len()
        ));
    }
    QrCode::new(text.as_bytes()).map_err(|e| format!("cannot make a QR code: {e}"))
}

/// PNG bytes of a QR code for `text`: black on white, 4-module quiet zone, 8 px per module.
pub fn png(text: &str) -> Result<Vec<u8>, String> {
    let code = encode(text)?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = modules + 2 * QUIET;
    // One byte per module: 8 pixels of 1-bit gray (0 = black, 1 = white).
    let mut row = vec![0xFFu8; side];
    let mut data = Vec::with_capacity(side * side * SCALE);
    for y in 0..side {
        row.fill(0xFF);
        if (QUIET..QUIET + modules).contains(&y) {
            let my = y - QUIET;
            for mx in 0..modules {
                if colors[my * modules + mx] == Color::Dark {
                    row[QUIET + mx] = 0x00;
                }
            }
        }
        for _ in 0..SCALE {
            data.extend_from_slice(&row);
        }
    }
    let px = u32::try_from(side * SCALE).map_err(|_| "QR code too large".to_string())?;
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, px, px);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::One);
        let mut w = enc
            .write_header()
            .map_err(|e| format!("PNG encoding failed: {e}"))?;
        w.write_image_data(&data)
            .map_err(|e| format!("PNG encoding failed: {e}"))?;
        w.finish()
            .map_err(|e| format!("PNG encoding failed: {e}"))?;
    }
    Ok(out)
}

/// The QR code drawn with Unicode half blocks (two modules per character cell), quiet zone
/// included, lines separated by `\n`.
///
/// Colours are inverted the way `qrcode`'s own example does for terminals: light modules are
/// drawn as blocks in the foreground colour and dark modules left as background, which reads
/// correctly on the common light-on-dark terminal (phone scanners also accept the inverse).
pub fn terminal(text: &str) -> Result<String, String> {
    let code = encode(text)?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

/// The module matrix (`true` = dark), row by row, without quiet zone. For tests and callers
/// that draw the code themselves.
pub fn modules(text: &str) -> Result<Vec<Vec<bool>>, String> {
    let code = encode(text)?;
    let w = code.width();
    Ok(code
        .to_colors()
        .chunks(w)
        .map(|r| r.iter().map(|c| *c == Color::Dark).collect())
        .collect())
}
