//! QR rendering: the PNG decodes to exactly qrcode's module matrix (8 px per module, 4-module
//! quiet zone); the terminal form is half blocks of the same matrix.

use sidekey_notify::qr;

const URL: &str = "https://microsoft.com/devicelogin?otc=ABCD-EFGH";

#[test]
fn png_pixels_match_the_module_matrix() {
    let bytes = qr::png(URL).expect("png");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    let modules = qr::modules(URL).expect("modules");
    let n = modules.len();
    assert!(n >= 21 && modules.iter().all(|r| r.len() == n));

    let mut decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("PNG data");
    let side = (n + 8) * 8;
    assert_eq!((info.width as usize, info.height as usize), (side, side));
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let px = |x: usize, y: usize| buf[y * info.line_size + x * info.line_size / side];
    for y in 0..side {
        for x in 0..side {
            let (mx, my) = (x / 8, y / 8);
            let dark =
                (4..n + 4).contains(&mx) && (4..n + 4).contains(&my) && modules[my - 4][mx - 4];
            let want = if dark { 0 } else { 255 };
            assert_eq!(px(x, y), want, "pixel {x},{y}");
        }
    }
}

#[test]
fn different_text_different_code() {
    assert_ne!(
        qr::png(URL).unwrap(),
        qr::png("https://microsoft.com/devicelogin").unwrap()
    );
    assert_eq!(qr::png(URL).unwrap(), qr::png(URL).unwrap());
}

#[test]
fn terminal_rendering() {
    let t = qr::terminal(URL).expect("terminal");
    let n = qr::modules(URL).unwrap().len();
    let lines: Vec<&str> = t.lines().collect();
    // Two module rows per line, quiet zone of 4 on each side.
    assert_eq!(lines.len(), (n + 8).div_ceil(2));
    assert!(lines.iter().all(|l| l.chars().count() == n + 8));
    assert!(t.contains('█') || t.contains('▀') || t.contains('▄'));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    assert!(qr::png("").is_err());
    assert!(qr::terminal("").is_err());
    assert!(qr::png(&"x".repeat(5000)).is_err());
    assert!(qr::terminal(&"é".repeat(3000)).is_err());
}
