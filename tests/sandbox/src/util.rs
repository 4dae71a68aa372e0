//! Small helpers: randomness, clocks, request parameter parsing, HTML escaping.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, header};
use base64::Engine;

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("sandbox: OS randomness unavailable");
    buf
}

/// 32 random bytes (256 bits) as lowercase hex: tokens and codes.
pub(crate) fn random_token() -> String {
    hex(&random_bytes::<32>())
}

/// 16 random bytes (128 bits) as lowercase hex: open ids.
pub(crate) fn random_hex16() -> String {
    hex(&random_bytes::<16>())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// A 19-digit decimal id, as TAPD uses for items and comments.
pub(crate) fn random_id19() -> String {
    let n = u64::from_le_bytes(random_bytes::<8>());
    // 10^18 ..= 10^19 - 1: always exactly 19 digits.
    let id = 1_000_000_000_000_000_000u64 + n % 9_000_000_000_000_000_000u64;
    id.to_string()
}

/// `n` random characters from [A-Za-z0-9], like Tencent Docs file ids.
pub(crate) fn random_alnum(n: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in random_bytes::<32>() {
            // 248 = 4 * 62: reject to keep the distribution uniform.
            if b < 248 && out.len() < n {
                out.push(CHARS[(b % 62) as usize] as char);
            }
        }
    }
    out
}

pub(crate) fn epoch_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Current time as `Y-m-d H:i:s` in Asia/Shanghai (UTC+8, no DST), as TAPD writes it.
pub(crate) fn now_shanghai() -> String {
    format_ymd_hms(epoch_secs() + 8 * 3600)
}

/// Today plus `days`, `Y-m-d` in Asia/Shanghai (iteration dates).
pub(crate) fn date_shanghai_plus(days: i64) -> String {
    let secs = (epoch_secs() + 8 * 3600) as i64 + days * 86_400;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

fn format_ymd_hms(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// `Y-m-d H:i:s` one second later (`None` if `t` is not that format).
pub(crate) fn plus_one_second(t: &str) -> Option<String> {
    let n = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    if t.len() != 19 {
        return None;
    }
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hh, mm, ss) = (n(11..13)?, n(14..16)?, n(17..19)?);
    let days = days_from_civil(y, m, d);
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss + 1;
    u64::try_from(secs).ok().map(format_ymd_hms)
}

/// Howard Hinnant's civil-to-days algorithm.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"))
        .unwrap_or(false)
}

pub(crate) fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"))
        .unwrap_or(false)
}

/// Parameters from a body that is a JSON object (when the Content-Type says so)
/// or form-encoded (otherwise). JSON scalars become strings, so ids sent as
/// integers and as strings look the same.
pub(crate) fn parse_params(headers: &HeaderMap, body: &[u8]) -> Result<BTreeMap<String, String>, String> {
    if is_json(headers) {
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))?;
        let serde_json::Value::Object(map) = value else {
            return Err("JSON body must be an object".into());
        };
        Ok(map
            .into_iter()
            .map(|(k, v)| {
                let s = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                };
                (k, s)
            })
            .collect())
    } else {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .map(|pairs| pairs.into_iter().collect())
            .map_err(|e| format!("invalid form body: {e}"))
    }
}

/// `Authorization: Basic base64(id:secret)`.
pub(crate) fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// `Authorization: Bearer <token>`.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") || rest.trim().is_empty() {
        return None;
    }
    Some(rest.trim().to_string())
}

pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

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

/// Now, in Unix milliseconds.
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// `%XX` sequences decoded (a path segment such as `300000000%24abc`); invalid ones kept as they are.
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn seconds_roll_over() {
        assert_eq!(super::plus_one_second("2026-12-31 23:59:59").as_deref(), Some("2027-01-01 00:00:00"));
        assert_eq!(super::plus_one_second("2024-02-28 23:59:59").as_deref(), Some("2024-02-29 00:00:00"));
        assert_eq!(super::plus_one_second("nope"), None);
    }

    use super::*;

    #[test]
    fn formats_dates() {
        assert_eq!(format_ymd_hms(0), "1970-01-01 00:00:00");
        // 2019-06-04 16:07:51 UTC+8 == 1559635671 UTC
        assert_eq!(format_ymd_hms(1_559_635_671 + 8 * 3600), "2019-06-04 16:07:51");
        assert_eq!(format_ymd_hms(951_782_400), "2000-02-29 00:00:00");
    }

    #[test]
    fn ids_have_19_digits() {
        for _ in 0..100 {
            let id = random_id19();
            assert_eq!(id.len(), 19);
            assert!(id.bytes().all(|b| b.is_ascii_digit()));
        }
        assert_eq!(random_alnum(12).len(), 12);
        assert_eq!(random_token().len(), 64);
    }
}
