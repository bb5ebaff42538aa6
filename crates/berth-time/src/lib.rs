//! Time as Berth passes it around: seconds since the Unix epoch as an `f64` (what ECS puts on
//! the wire), and the proleptic Gregorian calendar arithmetic that AWS's and Docker's
//! timestamps need. One place for both, so that no crate keeps a clock or a calendar of its
//! own. Only [`now`] reads a clock; everything else is a pure function.

#![forbid(unsafe_code)]

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time in seconds since the Unix epoch (0 if the clock is set before it).
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Days since 1970-01-01 of a date (`month` in 1..=12). Counting years from March puts the
/// leap day last, so each year's day offset is a closed formula and 400-year eras repeat
/// exactly.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719_468 days separate 0000-03-01, where eras start, from 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: `(year, month, day)`.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A time as ISO 8601 in UTC with milliseconds (`2026-12-03T08:00:00.250Z`), as the query
/// protocol writes timestamps. Times before the epoch are written as the epoch.
pub fn iso8601(seconds: f64) -> String {
    let millis = (seconds.max(0.0) * 1000.0) as i64;
    let (days, rest) = (millis.div_euclid(86_400_000), millis.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

/// Reads an RFC 3339 timestamp (`2024-05-01T10:00:00.5Z`, `…+02:00`), as Docker writes them,
/// into seconds since the epoch.
pub fn parse_rfc3339(timestamp: &str) -> Option<f64> {
    let (seconds, fraction) = rfc3339_parts(timestamp)?;
    let fraction: f64 = if fraction.is_empty() {
        0.0
    } else {
        format!("0.{fraction}").parse().ok()?
    };
    Some(seconds as f64 + fraction)
}

/// Reads an RFC 3339 timestamp into nanoseconds since the epoch, exactly: Docker stamps each
/// line of a container's output to the nanosecond, more than an `f64` of seconds holds.
pub fn parse_rfc3339_nanos(timestamp: &str) -> Option<i64> {
    let (seconds, fraction) = rfc3339_parts(timestamp)?;
    if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: i64 = format!("{fraction:0<9}").parse().ok()?;
    seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Whole seconds since the epoch and the digits of the fraction after them.
fn rfc3339_parts(timestamp: &str) -> Option<(i64, &str)> {
    let (date, rest) = timestamp.split_once('T')?;
    let mut date = date.splitn(3, '-');
    let year: i64 = date.next()?.parse().ok()?;
    let month: i64 = date.next()?.parse().ok()?;
    let day: i64 = date.next()?.parse().ok()?;
    let (time, offset) = match rest.strip_suffix('Z') {
        Some(time) => (time, 0),
        None => {
            let sign_at = rest.rfind(['+', '-'])?;
            let (time, zone) = rest.split_at(sign_at);
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let (hours, minutes) = zone[1..].split_once(':')?;
            let hours: i64 = hours.parse().ok()?;
            let minutes: i64 = minutes.parse().ok()?;
            (time, sign * (hours * 3600 + minutes * 60))
        }
    };
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut clock = clock.splitn(3, ':');
    let hour: i64 = clock.next()?.parse().ok()?;
    let minute: i64 = clock.next()?.parse().ok()?;
    let second: i64 = clock.next()?.parse().ok()?;
    let seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some((seconds, fraction))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn iso8601_is_utc_with_milliseconds() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400.5), "2000-02-29T00:00:00.500Z");
        assert_eq!(iso8601(1_795_315_543.25), "2026-11-22T02:45:43.250Z");
        assert_eq!(iso8601(-5.0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn rfc3339_nanoseconds_are_exact() {
        assert_eq!(
            parse_rfc3339_nanos("2026-12-04T05:12:34.123456789Z"),
            Some(1_796_361_154_123_456_789)
        );
        assert_eq!(
            parse_rfc3339_nanos("2026-12-04T05:12:34.5Z"),
            Some(1_796_361_154_500_000_000)
        );
        assert_eq!(
            parse_rfc3339_nanos("2026-12-04T07:12:34+02:00"),
            Some(1_796_361_154_000_000_000)
        );
        assert_eq!(parse_rfc3339_nanos("2026-12-04T05:12:34.1234567891Z"), None);
        assert_eq!(parse_rfc3339_nanos("2026-12-04T05:12:34.12a4Z"), None);
        assert_eq!(parse_rfc3339_nanos("yesterday"), None);
    }

    #[test]
    fn rfc3339_timestamps() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(
            parse_rfc3339("2000-03-01T00:00:00Z"),
            Some(11_017.0 * 86_400.0)
        );
        assert_eq!(
            parse_rfc3339("2024-05-01T10:00:00.5Z"),
            Some(1_714_557_600.5)
        );
        assert_eq!(
            parse_rfc3339("2024-05-01T12:00:00+02:00"),
            Some(1_714_557_600.0)
        );
        assert_eq!(parse_rfc3339("garbage"), None);
    }

    #[test]
    fn now_is_after_this_code_was_written() {
        assert!(now() > 1_795_000_000.0);
    }

    proptest! {
        #[test]
        fn days_and_dates_round_trip(days in -1_000_000i64..1_000_000) {
            let (year, month, day) = civil_from_days(days);
            prop_assert!((1..=12).contains(&month) && (1..=31).contains(&day));
            prop_assert_eq!(days_from_civil(year, month, day), days);
        }
    }
}
