//! Timestamps in the two forms Kubernetes serialises: `Time` (RFC 3339, whole seconds, `Z`) and `MicroTime`
//! (RFC 3339 with six fractional digits), plus the parsing needed to print ages in tables.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `2026-11-25T15:42:53Z`: the form of `metadata.creationTimestamp` and other `Time` fields.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (date, hms) = split(d.as_secs());
    format!("{date}T{hms}Z")
}

/// `2026-11-25T15:42:53.123456Z`: the form of `MicroTime` fields (`eventTime`, Lease times).
pub fn rfc3339_micros(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (date, hms) = split(d.as_secs());
    format!("{date}T{hms}.{:06}Z", d.subsec_micros())
}

fn split(secs: u64) -> (String, String) {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60),
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
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
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses the RFC 3339 forms above (fraction and `Z` or numeric offset accepted); `None` when malformed.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b.get(4) != Some(&b'-') || b.get(10).is_none_or(|c| !matches!(c, b'T' | b't' | b' ')) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = s.get(19..)?;
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        let f = frac.get(..digits.min(9))?;
        nanos = f.parse::<u32>().ok()? * 10u32.pow(9 - f.len() as u32);
        rest = frac.get(digits..)?;
    }
    let offset: i64 = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let oh = i64::from(o.get(1..3)?.parse::<u32>().ok()?);
            let om = i64::from(o.get(4..6)?.parse::<u32>().ok()?);
            let v = oh * 3600 + om * 60;
            if o.starts_with('-') { -v } else { v }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(y), mo, d);
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(se) - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// kubectl's short age form (`HumanDuration`): `45s`, `5m10s`, `3h`, `2d4h`, `400d`.
pub fn human_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s}s"),
        120..600 => format!("{}m{}s", s / 60, s % 60).replace("m0s", "m"),
        600..10_800 => format!("{}m", s / 60),
        10_800..28_800 => format!("{}h{}m", s / 3600, s / 60 % 60).replace("h0m", "h"),
        28_800..172_800 => format!("{}h", s / 3600),
        172_800..691_200 => format!("{}d{}h", s / 86_400, s / 3600 % 24).replace("d0h", "d"),
        691_200..TWO_YEARS => format!("{}d", s / 86_400),
        _ => format!("{}y{}d", s / 31_536_000, s / 86_400 % 365).replace("y0d", "y"),
    }
}

const TWO_YEARS: u64 = 63_072_000;

/// The age of an object from its `creationTimestamp` string, `<unknown>` when absent or malformed.
pub fn age_of(created: Option<&str>, now: SystemTime) -> String {
    match created.and_then(parse_rfc3339) {
        Some(t) => human_age(now.duration_since(t).unwrap_or_default()),
        None => "<unknown>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_round_trip() {
        let t = UNIX_EPOCH + Duration::new(1_795_621_373, 123_456_789);
        assert_eq!(rfc3339(t), "2026-11-25T15:42:53Z");
        assert_eq!(rfc3339_micros(t), "2026-11-25T15:42:53.123456Z");
        assert_eq!(
            parse_rfc3339("2026-11-25T15:42:53Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_795_621_373))
        );
        assert_eq!(
            parse_rfc3339("2026-11-25T15:42:53.123456Z"),
            Some(UNIX_EPOCH + Duration::new(1_795_621_373, 123_456_000))
        );
        assert_eq!(
            parse_rfc3339("2026-11-25T16:42:53+01:00"),
            Some(UNIX_EPOCH + Duration::from_secs(1_795_621_373))
        );
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        for bad in [
            "",
            "2026-11-25",
            "2026-13-25T15:42:53Z",
            "2026-11-25T15:42:53",
            "2026-11-25T15:42:53.Zx",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn ages_like_kubectl() {
        let cases = [
            (5, "5s"),
            (119, "119s"),
            (125, "2m5s"),
            (180, "3m"),
            (900, "15m"),
            (11_000, "3h3m"),
            (36_000, "10h"),
            (200_000, "2d7h"),
            (864_000, "10d"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_age(Duration::from_secs(secs)), want, "{secs}");
        }
    }
}
