//! Go-style durations (`90s`, `1m30s`, `1.5m`, `500ms`), as MetalLB's `hold-time` and `keepalive-time`
//! are written: a sequence of decimal numbers each with a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`),
//! or a bare `0`. Negative durations are rejected; the largest accepted is Go's (about 292 years).

use std::time::Duration;

const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Go's `time.Duration` limit.
const MAX_NANOS: u128 = i64::MAX as u128;

/// Parses a Go duration; the error says what is wrong.
pub(crate) fn parse(text: &str) -> Result<Duration, &'static str> {
    let mut s = text.trim();
    if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    } else if let Some(rest) = s.strip_prefix('-') {
        if rest == "0" {
            return Ok(Duration::ZERO);
        }
        return Err("must not be negative");
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty");
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, rest) = s.split_at(int_len);
        let (frac_part, rest) = match rest.strip_prefix('.') {
            Some(after) => {
                let n = after.bytes().take_while(u8::is_ascii_digit).count();
                after.split_at(n)
            }
            None => ("", rest),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err("expected a number");
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (unit, rest) = rest.split_at(unit_len);
        if unit.is_empty() {
            return Err("missing unit");
        }
        let scale = UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|&(_, n)| n)
            .ok_or("unknown unit")?;
        let mut value: u128 = 0;
        for b in int_part.bytes() {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u128::from(b - b'0')))
                .filter(|v| *v <= MAX_NANOS)
                .ok_or("too long")?;
        }
        let mut nanos = value.checked_mul(scale).ok_or("too long")?;
        // Fractional digits beyond nanosecond precision do not matter.
        let mut divisor: u128 = 1;
        let mut frac: u128 = 0;
        for b in frac_part.bytes().take(20) {
            frac = frac * 10 + u128::from(b - b'0');
            divisor *= 10;
        }
        nanos = nanos.checked_add(frac * scale / divisor).ok_or("too long")?;
        total = total
            .checked_add(nanos)
            .filter(|t| *t <= MAX_NANOS)
            .ok_or("too long")?;
        s = rest;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| "too long")?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// Formats whole seconds the way the config writes them (`90s`).
pub(crate) fn format_secs(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ok = |s: &str| parse(s).unwrap();
        assert_eq!(ok("90s"), Duration::from_secs(90));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("1.5m"), Duration::from_secs(90));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("-0"), Duration::ZERO);
        assert_eq!(ok("+3s"), Duration::from_secs(3));
        assert_eq!(ok("2h"), Duration::from_secs(7200));
        assert_eq!(ok("1\u{b5}s"), Duration::from_micros(1));
        assert_eq!(ok(".5s"), Duration::from_millis(500));
        assert_eq!(ok("3.s"), Duration::from_secs(3));
    }

    #[test]
    fn bad_durations() {
        for (s, why) in [
            ("90", "missing unit"),
            ("", "empty"),
            ("-3s", "must not be negative"),
            ("3d", "unknown unit"),
            ("s", "expected a number"),
            (".s", "expected a number"),
            ("9999999999999999999999h", "too long"),
            ("3000000h", "too long"),
            ("1s2", "missing unit"),
        ] {
            assert_eq!(parse(s), Err(why), "{s}");
        }
    }
}
