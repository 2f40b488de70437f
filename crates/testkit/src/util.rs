//! Small helpers: randomness, encodings, clock formatting and HTML escaping.
//!
//! Everything here is deliberately dependency-free (beyond `getrandom` and `base64`) so the
//! testkit stays cheap to build.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub(crate) const BASE62: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub(crate) const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
pub(crate) const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// RFC 8628 §6.1's suggested "base-20" alphabet (no vowels, no look-alikes), as used by
/// node-oidc-provider and Auth0's default user-code settings.
pub(crate) const BASE20: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
pub(crate) const HEX: &[u8] = b"0123456789abcdef";

/// Fills `buf` with OS randomness. If the OS source fails (it should not), falls back to
/// std's randomly-keyed SipHash mixed with a counter and the clock, so the fake server never
/// panics — these values only need to be unpredictable enough for tests, not for security.
pub(crate) fn fill_random(buf: &mut [u8]) {
    if getrandom::fill(buf).is_ok() {
        return;
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = RandomState::new();
    for chunk in buf.chunks_mut(8) {
        let mut h = seed.build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        let v = h.finish().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

/// A uniformly distributed random string over `charset` (rejection sampling, no modulo bias).
pub(crate) fn random_string(charset: &[u8], len: usize) -> String {
    debug_assert!(!charset.is_empty() && charset.len() <= 256);
    let limit = 256 - (256 % charset.len());
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        fill_random(&mut buf);
        for &b in &buf {
            if (b as usize) < limit {
                out.push(charset[b as usize % charset.len()] as char);
                if out.len() == len {
                    break;
                }
            }
        }
    }
    out
}

/// `n` random bytes, base64url without padding.
pub(crate) fn random_b64url(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    fill_random(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// A random version-4 UUID string (Microsoft trace/correlation ids, Okta device codes).
pub(crate) fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    fill_random(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `(year, month, day, hour, minute, second)` in UTC for a Unix timestamp
/// (Howard Hinnant's `civil_from_days`).
fn utc_parts(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

/// Microsoft's `timestamp` member format: `2024-05-01 12:34:56Z`.
pub(crate) fn ms_timestamp(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = utc_parts(secs);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}Z")
}

/// Escapes text for HTML element content and double-quoted attribute values.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// User codes are compared case-insensitively, ignoring `-` and whitespace (RFC 8628 §6.1).
pub(crate) fn normalize_user_code(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(ms_timestamp(0), "1970-01-01 00:00:00Z");
        assert_eq!(ms_timestamp(951_782_400), "2000-02-29 00:00:00Z");
        assert_eq!(ms_timestamp(1_700_000_000), "2023-11-14 22:13:20Z");
    }

    #[test]
    fn random_strings_use_charset() {
        let s = random_string(BASE20, 500);
        assert_eq!(s.len(), 500);
        assert!(s.bytes().all(|b| BASE20.contains(&b)));
        assert_ne!(random_string(BASE62, 32), random_string(BASE62, 32));
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }

    #[test]
    fn escaping_and_codes() {
        assert_eq!(
            html_escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(normalize_user_code(" wdjb-mjht "), "WDJBMJHT");
    }
}
