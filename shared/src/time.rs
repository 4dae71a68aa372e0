use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_secs() -> u64 {
    now_millis() / 1000
}

pub fn now_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// TAPD's time format (`Y-m-d H:i:s`, Asia/Shanghai, which has no daylight saving) of a
/// Unix time in milliseconds.
pub fn tapd_time(ms: u64) -> String {
    let secs = ms / 1000 + 8 * 3600;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// TAPD's list filter for "at or after `ms`": `>` the second before. TAPD documents `<`,
/// `>` and `A~B` for time fields, not `>=`; its times have whole seconds, so "after the
/// second before" is "at or after".
pub fn tapd_at_or_after(ms: u64) -> String {
    format!(">{}", tapd_time((ms / 1000).saturating_sub(1) * 1000))
}

/// Unix milliseconds of a date (`YYYY-MM-DD`, midnight in Asia/Shanghai).
pub fn parse_tapd_date(s: &str) -> Option<u64> {
    let mut parts = s.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    let secs = days * 86_400 - 8 * 3600;
    u64::try_from(secs).ok().map(|s| s * 1000)
}

/// Unix milliseconds of a TAPD time (`Y-m-d H:i:s`, Asia/Shanghai); `None` if it is not one.
pub fn parse_tapd_time(s: &str) -> Option<u64> {
    let s = s.trim();
    let (date, time) = s.split_once(' ')?;
    let day_ms = parse_tapd_date(date)?;
    let mut hms = time.splitn(3, ':').map(|p| p.parse::<u64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    Some(day_ms + (h * 3600 + m * 60 + sec) * 1000)
}

// Howard Hinnant's date algorithms (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let (m, d) = (i64::from(m), i64::from(d));
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The day (`yyyy-mm-dd`, Asia/Shanghai) of `ms`: the day people in TAPD count in.
pub fn shanghai_day(ms: u64) -> String {
    tapd_time(ms)[..10].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tapd_times_are_shanghai_wall_clock() {
        // 2026-11-28 11:08:06 UTC is 19:08:06 in Shanghai.
        assert_eq!(tapd_time(1_795_864_086_000), "2026-11-28 19:08:06");
        assert_eq!(tapd_time(0), "1970-01-01 08:00:00");
        assert_eq!(parse_tapd_date("2026-11-28"), Some(1_795_795_200_000));
        assert_eq!(tapd_time(parse_tapd_date("2024-02-29").unwrap()), "2024-02-29 00:00:00");
        assert_eq!(parse_tapd_date("2026-13-01"), None);
        assert_eq!(parse_tapd_date("yesterday"), None);
        // At or after 19:08:06.5 is after 19:08:05: the item made at 19:08:06 is in.
        assert_eq!(tapd_at_or_after(1_795_864_086_500), ">2026-11-28 19:08:05");
        assert_eq!(tapd_at_or_after(1_795_864_086_000), ">2026-11-28 19:08:05");
        assert_eq!(parse_tapd_time("2026-11-28 19:08:06"), Some(1_795_864_086_000));
        assert_eq!(tapd_time(parse_tapd_time("2024-02-29 23:59:59").unwrap()), "2024-02-29 23:59:59");
        assert_eq!(parse_tapd_time("2026-11-28 24:00:00"), None);
        assert_eq!(parse_tapd_time("2026-11-28"), None);
    }
}
