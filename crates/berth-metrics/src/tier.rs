//! The resolutions a store keeps, and for how long, as CloudWatch keeps them: points of 1 s
//! for 3 hours, of 1 minute for 15 days, of 5 minutes for 63 days and of 1 hour for 455 days.
//! Every datapoint is added to each tier as it is put, so no roll-up job ever reads old data
//! back; retention drops each tier's expired rows on its own, oldest first.
//!
//! A query reads one tier: the coarsest whose points fit its periods and that still holds its
//! start, so an hour of 1-minute periods reads 60 rows per series, not 3,600.

use crate::aggregate::align;
use crate::Seconds;

const HOUR: Seconds = 3600;
const DAY: Seconds = 24 * HOUR;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    Second,
    Minute,
    FiveMinutes,
    Hour,
}

impl Tier {
    /// Finest first.
    pub const ALL: [Tier; 4] = [Tier::Second, Tier::Minute, Tier::FiveMinutes, Tier::Hour];

    /// The seconds one point covers.
    pub fn seconds(self) -> Seconds {
        match self {
            Tier::Second => 1,
            Tier::Minute => 60,
            Tier::FiveMinutes => 300,
            Tier::Hour => HOUR,
        }
    }

    /// How long its points are kept.
    pub fn retention(self) -> Seconds {
        match self {
            Tier::Second => 3 * HOUR,
            Tier::Minute => 15 * DAY,
            Tier::FiveMinutes => 63 * DAY,
            Tier::Hour => 455 * DAY,
        }
    }

    /// Its number in a store.
    pub fn code(self) -> u8 {
        match self {
            Tier::Second => 0,
            Tier::Minute => 1,
            Tier::FiveMinutes => 2,
            Tier::Hour => 3,
        }
    }

    pub fn from_code(code: u8) -> Option<Tier> {
        Tier::ALL.get(usize::from(code)).copied()
    }

    /// The start of the point a datapoint at `time`, stored at `resolution` seconds (1 or
    /// 60), falls in.
    pub fn bucket(self, time: Seconds, resolution: Seconds) -> Seconds {
        align(time, self.seconds().max(resolution))
    }

    /// The oldest point start it keeps at `now`.
    pub fn oldest_kept(self, now: Seconds) -> Seconds {
        now - self.retention()
    }
}

/// Where a query's periods begin and which tier answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The query's start rounded down as CloudWatch rounds it: to the second for periods
    /// under a minute, else to the minute within 15 days, to 5 minutes within 63, and to the
    /// hour beyond.
    pub origin: Seconds,
    pub tier: Tier,
}

/// How a query of `period` seconds from `start` is answered at `now`; `None` when no tier
/// still holds points fine enough (CloudWatch then answers no datapoints).
pub fn plan(period: Seconds, start: Seconds, now: Seconds) -> Option<Plan> {
    let age = now - start;
    let rounding = if period < 60 {
        1
    } else if age <= Tier::Minute.retention() {
        60
    } else if age <= Tier::FiveMinutes.retention() {
        300
    } else {
        HOUR
    };
    let origin = align(start, rounding);
    Tier::ALL
        .iter()
        .rev()
        .copied()
        .find(|tier| {
            period % tier.seconds() == 0
                && origin % tier.seconds() == 0
                && origin >= tier.oldest_kept(now)
        })
        .map(|tier| Plan { origin, tier })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Seconds = 1_700_000_000 - 1_700_000_000 % 3600;

    #[test]
    fn queries_read_the_coarsest_tier_that_fits() {
        let cases = [
            (
                "1 s periods of the last hour",
                1,
                NOW - HOUR,
                Some(Tier::Second),
            ),
            ("10 s periods", 10, NOW - HOUR, Some(Tier::Second)),
            (
                "minutes of the last hour",
                60,
                NOW - HOUR,
                Some(Tier::Minute),
            ),
            (
                "5 minutes from a whole hour",
                300,
                NOW - HOUR,
                Some(Tier::FiveMinutes),
            ),
            (
                "hours from a whole hour",
                3600,
                NOW - 2 * HOUR,
                Some(Tier::Hour),
            ),
            (
                "hours from a minute past",
                3600,
                NOW - 2 * HOUR + 60,
                Some(Tier::Minute),
            ),
            ("10 s periods 4 hours back: gone", 10, NOW - 4 * HOUR, None),
            (
                "minutes 10 days back",
                60,
                NOW - 10 * DAY,
                Some(Tier::Minute),
            ),
            ("minutes 20 days back: gone", 60, NOW - 20 * DAY, None),
            (
                "5 minutes 20 days back",
                300,
                NOW - 20 * DAY,
                Some(Tier::FiveMinutes),
            ),
            (
                "hours 100 days back",
                3600,
                NOW - 100 * DAY,
                Some(Tier::Hour),
            ),
            (
                "days 100 days back",
                86_400,
                NOW - 100 * DAY,
                Some(Tier::Hour),
            ),
            ("past every retention", 3600, NOW - 500 * DAY, None),
        ];
        for (name, period, start, tier) in cases {
            assert_eq!(plan(period, start, NOW).map(|p| p.tier), tier, "{name}");
        }
    }

    #[test]
    fn starts_round_down_as_cloudwatch_rounds_them() {
        let odd = NOW - HOUR + 754; // 12 min 34 s past the hour
        assert_eq!(plan(1, odd, NOW).unwrap().origin, odd);
        assert_eq!(plan(60, odd, NOW).unwrap().origin, NOW - HOUR + 720);
        let old = NOW - 20 * DAY + 754;
        assert_eq!(plan(300, old, NOW).unwrap().origin, NOW - 20 * DAY + 600);
    }

    #[test]
    fn buckets_follow_the_storage_resolution() {
        assert_eq!(Tier::Second.bucket(125, 1), 125);
        assert_eq!(Tier::Second.bucket(125, 60), 120);
        assert_eq!(Tier::Minute.bucket(125, 1), 120);
        assert_eq!(Tier::Hour.bucket(3725, 1), 3600);
        for tier in Tier::ALL {
            assert_eq!(Tier::from_code(tier.code()), Some(tier));
        }
    }
}
