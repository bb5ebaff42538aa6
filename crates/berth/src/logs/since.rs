//! `--since`: a time ago (`30s`, `10m`, `2h`, `1d`, or several, `1h30m`) or a moment (RFC 3339,
//! `2024-05-01T10:00:00Z`), as `docker logs --since` takes them.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    Ago(Duration),
    /// Milliseconds since the epoch, as CloudWatch Logs counts.
    At(i64),
}

impl Since {
    pub fn parse(text: &str) -> Result<Since, String> {
        let text = text.trim();
        if text.contains('T') {
            return berth_time::parse_rfc3339(text)
                .map(|seconds| Since::At((seconds * 1000.0) as i64))
                .ok_or_else(|| {
                    format!("{text:?} is not an RFC 3339 time like 2024-05-01T10:00:00Z")
                });
        }
        ago(text).map(Since::Ago).ok_or_else(|| {
            format!(
                "{text:?} is not a time ago like 30s, 10m, 2h, 1d or 1h30m, nor an RFC 3339 time"
            )
        })
    }

    /// The first millisecond to show, when it is `now_millis`.
    pub fn start(self, now_millis: i64) -> i64 {
        match self {
            Since::Ago(ago) => {
                now_millis.saturating_sub(i64::try_from(ago.as_millis()).unwrap_or(i64::MAX))
            }
            Since::At(millis) => millis,
        }
    }
}

/// A sum of whole numbers with a unit each: `s`, `m`, `h`, `d`.
fn ago(text: &str) -> Option<Duration> {
    let mut total: u64 = 0;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        let unit = rest[digits..].chars().next()?;
        let seconds = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        total = total.checked_add(number.checked_mul(seconds)?)?;
        rest = &rest[digits + unit.len_utf8()..];
    }
    Some(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_ago_in_seconds_minutes_hours_and_days() {
        for (text, seconds) in [
            ("30s", 30),
            ("10m", 600),
            ("2h", 7200),
            ("1d", 86_400),
            ("1h30m", 5400),
            ("0s", 0),
            (" 5m ", 300),
        ] {
            assert_eq!(
                Since::parse(text),
                Ok(Since::Ago(Duration::from_secs(seconds))),
                "{text}"
            );
        }
        for bad in [
            "",
            "10",
            "m",
            "10x",
            "-5m",
            "1.5h",
            "5m3",
            "99999999999999999999d",
        ] {
            let error = Since::parse(bad).unwrap_err();
            assert!(error.contains("30s, 10m"), "{bad}: {error}");
        }
    }

    #[test]
    fn moments_in_rfc_3339() {
        assert_eq!(
            Since::parse("2024-05-01T10:00:00Z"),
            Ok(Since::At(1_714_557_600_000))
        );
        assert_eq!(
            Since::parse("2024-05-01T12:00:00.5+02:00"),
            Ok(Since::At(1_714_557_600_500))
        );
        assert!(Since::parse("2024-05-01T")
            .unwrap_err()
            .contains("RFC 3339"));
    }

    #[test]
    fn the_start_is_counted_back_from_now() {
        let now = 1_714_557_600_000;
        assert_eq!(
            Since::Ago(Duration::from_secs(600)).start(now),
            now - 600_000
        );
        assert_eq!(Since::At(5).start(now), 5);
        assert_eq!(Since::Ago(Duration::MAX).start(now), now - i64::MAX);
    }
}
