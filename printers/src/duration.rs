//! Kubernetes' time formatting: `duration.HumanDuration`, `translateTimestampSince` and the
//! RFC 3339 parsing `metav1.Time` uses.
//!
//! Ages are computed exactly as kube-apiserver computes them: the elapsed time is a Go
//! `time.Duration` (nanoseconds in an `i64`, saturating), then abbreviated by
//! [`human_duration`]. Timestamps that are missing, `null`, malformed or equal to Go's zero time
//! (`0001-01-01T00:00:00Z`) print as `<unknown>`.
//!
//! ```
//! use clusternet_printers::duration::{human_duration_secs, translate_timestamp_since};
//! use jiff::Timestamp;
//!
//! assert_eq!(human_duration_secs(90), "90s");
//! assert_eq!(human_duration_secs(3 * 86_400 + 5 * 3_600), "3d5h");
//! let now: Timestamp = "2024-01-02T00:00:00Z".parse().unwrap();
//! assert_eq!(translate_timestamp_since(Some("2024-01-01T22:30:00Z"), now), "90m");
//! assert_eq!(translate_timestamp_since(None, now), "<unknown>");
//! ```

use jiff::Timestamp;

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const NANOS_PER_MINUTE: i64 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: i64 = 60 * NANOS_PER_MINUTE;

/// Seconds between the Unix epoch and Go's zero `time.Time` (0001-01-01T00:00:00Z).
const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

/// A point in time as nanoseconds since the Unix epoch (wide enough for every RFC 3339 year).
pub(crate) type Nanos = i128;

/// Converts a [`Timestamp`] to nanoseconds since the Unix epoch.
pub(crate) fn nanos_of(ts: Timestamp) -> Nanos {
    ts.as_nanosecond()
}

/// `duration.HumanDuration` for a duration given in nanoseconds (Go's `time.Duration`).
pub fn human_duration(d: i64) -> String {
    // int(d.Seconds()) truncates towards zero.
    let seconds = d / NANOS_PER_SECOND;
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d / NANOS_PER_MINUTE;
    if minutes < 10 {
        let s = (d / NANOS_PER_SECOND) % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d / NANOS_PER_HOUR;
    if hours < 8 {
        let m = (d / NANOS_PER_MINUTE) % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{}h", hours / 24, h);
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{}d", hours / 24 / 365, dy);
    }
    format!("{}y", hours / 24 / 365)
}

/// [`human_duration`] of a whole number of seconds.
pub fn human_duration_secs(seconds: i64) -> String {
    human_duration(seconds.saturating_mul(NANOS_PER_SECOND))
}

/// Go's `t.Sub(u)`: the difference in nanoseconds, saturated to the `time.Duration` range.
pub(crate) fn go_sub(t: Nanos, u: Nanos) -> i64 {
    let d = t - u;
    if d > i64::MAX as i128 {
        i64::MAX
    } else if d < i64::MIN as i128 {
        i64::MIN
    } else {
        d as i64
    }
}

/// `translateTimestampSince`: the age of an RFC 3339 timestamp at `now`, or `<unknown>` when
/// the timestamp is absent, unparsable or Go's zero time.
pub fn translate_timestamp_since(timestamp: Option<&str>, now: Timestamp) -> String {
    match timestamp.and_then(parse_time) {
        Some(t) if !is_zero(t) => human_duration(go_sub(nanos_of(now), t)),
        _ => "<unknown>".to_string(),
    }
}

/// `translateTimestampSince` of an already parsed timestamp (`None` = Go's zero time).
pub(crate) fn since_nanos(t: Option<Nanos>, now: Nanos) -> String {
    match t {
        Some(t) if !is_zero(t) => human_duration(go_sub(now, t)),
        _ => "<unknown>".to_string(),
    }
}

/// Whether `t` is Go's zero `time.Time`.
pub(crate) fn is_zero(t: Nanos) -> bool {
    t == ZERO_TIME
}

/// Parses a timestamp the way `metav1.Time` / `metav1.MicroTime` decode JSON
/// (`time.Parse(time.RFC3339, s)`): `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
/// Returns nanoseconds since the Unix epoch, or `None` when the text is not RFC 3339.
pub(crate) fn parse_time(s: &str) -> Option<Nanos> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        let mut v = 0i64;
        for &c in part {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let year = num(0, 4)?;
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    let hour = num(11, 2)?;
    let minute = num(14, 2)?;
    let second = num(17, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut i = 19;
    let mut nanos: i64 = 0;
    if i < b.len() && (b[i] == b'.' || b[i] == b',') {
        i += 1;
        let start = i;
        let mut scale = NANOS_PER_SECOND;
        while i < b.len() && b[i].is_ascii_digit() {
            scale /= 10;
            nanos += i64::from(b[i] - b'0') * scale;
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset_seconds = match b.get(i) {
        Some(b'Z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = num(i + 1, 2)?;
            let om = num(i + 4, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(secs as i128 * NANOS_PER_SECOND as i128 + nanos as i128)
}

/// `t.UTC().Format(time.RFC3339)` (whole seconds).
pub(crate) fn format_rfc3339(t: Nanos) -> String {
    let secs = t.div_euclid(NANOS_PER_SECOND as i128) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The zero `metav1.Time`, as the default convertor prints a missing creation timestamp.
pub(crate) const ZERO_TIME: Nanos = GO_ZERO_TIME_UNIX as i128 * NANOS_PER_SECOND as i128;

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_match_go() {
        let cases = [
            (-3, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (121, "2m1s"),
            (599, "9m59s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60, "3h1m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (49 * 3600, "2d1h"),
            (8 * 86400, "8d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            (731 * 86400, "2y1d"),
            (8 * 365 * 86400, "8y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration_secs(secs), want, "{secs}s");
        }
        // -1.5s truncates to -1 → "0s", as int(d.Seconds()) does.
        assert_eq!(human_duration(-1_500_000_000), "0s");
        assert_eq!(human_duration(-2_000_000_000), "<invalid>");
    }

    #[test]
    fn parses_rfc3339_like_go() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_time("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
        assert_eq!(
            parse_time("2024-02-29T12:00:00Z"),
            Some(1_709_208_000 * 1_000_000_000)
        );
        for bad in [
            "",
            "2024-02-30T00:00:00Z",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.Z",
            "null",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        assert!(is_zero(parse_time("0001-01-01T00:00:00Z").unwrap_or(0)));
        assert_eq!(format_rfc3339(ZERO_TIME), "0001-01-01T00:00:00Z");
        for t in [
            "2024-02-29T12:34:56Z",
            "1969-12-31T23:59:59Z",
            "2026-11-22T22:04:34Z",
        ] {
            assert_eq!(parse_time(t).map(format_rfc3339).as_deref(), Some(t));
        }
    }
}
