//! Schedules, as Application Auto Scaling's scheduled actions and EventBridge's scheduled
//! rules write them (one grammar; rules take no `at(…)` and run in UTC, [`Schedule::parse_rule`]):
//!
//! - `at(yyyy-mm-ddThh:mm:ss)`: once, at that wall-clock time in the action's time zone;
//! - `rate(n unit)`: every `n` minutes, hours or days (`minute` when `n` is 1), from the
//!   action's StartTime, or one period after it was put;
//! - `cron(minutes hours day-of-month month day-of-week year)`: AWS's six fields, with `*`,
//!   `,`, `-`, `/`, `?` (one of the two day fields must be `?`), `L` (the month's last day, or
//!   in day-of-week Saturday and `nL` the month's last such weekday), `W` (`nW`, the weekday
//!   nearest day `n`; `LW`, the last weekday) and `#` (`n#k`, the k-th such weekday), weekdays
//!   `1`–`7` or `SUN`–`SAT`, months `1`–`12` or `JAN`–`DEC`, years 1970–2199.
//!
//! Wall-clock times are read in an IANA time zone (UTC when none is named); a time that a
//! daylight-saving change skips runs as late as the change pushes it, and one it repeats runs
//! once, at its first occurrence. [`next_after`] is when a schedule fires next, within the
//! action's StartTime and EndTime.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The years cron expressions may name.
const YEARS: (u32, u32) = (1970, 2199);

#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    At(DateTime),
    Rate { seconds: i64 },
    Cron(Cron),
}

/// A time zone by IANA name (such as `Europe/Paris`), UTC when none is named.
pub fn zone(name: Option<&str>) -> Result<TimeZone, String> {
    match name {
        None => Ok(TimeZone::UTC),
        Some(name) => TimeZone::get(name).map_err(|_| {
            format!("Timezone {name:?} is not an IANA time zone name (such as Europe/Paris or America/New_York)")
        }),
    }
}

impl Schedule {
    pub fn parse(expression: &str) -> Result<Self, String> {
        let invalid = || {
            format!("Schedule {expression:?} is not at(yyyy-mm-ddThh:mm:ss), rate(value unit) or cron(minutes hours day-of-month month day-of-week year)")
        };
        let (kind, rest) = expression.split_once('(').ok_or_else(invalid)?;
        let inner = rest.strip_suffix(')').ok_or_else(invalid)?.trim();
        match kind.trim() {
            "at" => inner
                .parse::<DateTime>()
                .ok()
                .filter(|_| inner.len() == 19)
                .map(Schedule::At)
                .ok_or_else(|| {
                    format!("at({inner}) is not a date and time of the form yyyy-mm-ddThh:mm:ss")
                }),
            "rate" => parse_rate(inner),
            "cron" => Cron::parse(inner).map(Schedule::Cron),
            _ => Err(invalid()),
        }
    }

    /// A scheduled rule's expression, as EventBridge reads it: `rate(…)` or `cron(…)`, read in
    /// UTC; rules have no one-time `at(…)`.
    pub fn parse_rule(expression: &str) -> Result<Self, String> {
        match Self::parse(expression)? {
            Schedule::At(_) => Err(format!(
                "{expression} is a one-time schedule; a rule's is rate(value unit) or cron(minutes hours day-of-month month day-of-week year)"
            )),
            schedule => Ok(schedule),
        }
    }
}

fn parse_rate(inner: &str) -> Result<Schedule, String> {
    let wrong = || {
        format!("rate({inner}) is not rate(value unit): a positive whole value and minute(s), hour(s) or day(s)")
    };
    let (value, unit) = inner.split_once(' ').ok_or_else(wrong)?;
    let value: i64 = value.parse().ok().filter(|v| *v > 0).ok_or_else(wrong)?;
    let (singular, seconds) = match unit.trim() {
        "minute" => (true, 60),
        "minutes" => (false, 60),
        "hour" => (true, 3600),
        "hours" => (false, 3600),
        "day" => (true, 86_400),
        "days" => (false, 86_400),
        _ => return Err(wrong()),
    };
    if singular != (value == 1) {
        return Err(format!(
            "rate({inner}): the unit is singular for a value of 1 and plural otherwise"
        ));
    }
    let seconds = value.checked_mul(seconds).ok_or_else(wrong)?;
    Ok(Schedule::Rate { seconds })
}

/// When and where a schedule runs.
#[derive(Debug, Clone)]
pub struct Timing<'s> {
    pub schedule: &'s Schedule,
    pub zone: &'s TimeZone,
    pub start: Option<f64>,
    pub end: Option<f64>,
    /// When the action was put: a rate without a StartTime counts from here.
    pub created: f64,
}

fn instant(local: DateTime, zone: &TimeZone) -> Option<f64> {
    Some(local.to_zoned(zone.clone()).ok()?.timestamp().as_second() as f64)
}

/// When the schedule fires first strictly after `after` (seconds since the epoch), if ever.
/// Firings missed before `after` are skipped, so a controller that was down runs an overdue
/// action once and then goes on from the present.
pub fn next_after(timing: &Timing<'_>, after: f64) -> Option<f64> {
    // StartTime is inclusive: fire at it, not only after.
    let after = match timing.start {
        Some(start) if start > after => start - 1e-3,
        _ => after,
    };
    let next = match timing.schedule {
        Schedule::At(local) => instant(*local, timing.zone).filter(|&at| at > after),
        Schedule::Rate { seconds } => {
            let period = *seconds as f64;
            let anchor = timing.start.unwrap_or(timing.created + period);
            if after < anchor {
                Some(anchor)
            } else {
                let periods = ((after - anchor) / period).floor() + 1.0;
                Some(anchor + periods * period)
            }
        }
        Schedule::Cron(cron) => cron.next_after(timing.zone, after),
    }?;
    match timing.end {
        Some(end) if next > end => None,
        _ => Some(next),
    }
}

/// A set of allowed values of one field.
#[derive(Debug, Clone, PartialEq)]
struct Field {
    low: u32,
    allowed: Vec<bool>,
}

impl Field {
    fn contains(&self, value: u32) -> bool {
        value
            .checked_sub(self.low)
            .and_then(|i| self.allowed.get(i as usize))
            .copied()
            .unwrap_or(false)
    }

    fn values(&self) -> impl Iterator<Item = u32> + '_ {
        self.allowed
            .iter()
            .enumerate()
            .filter(|(_, on)| **on)
            .map(|(i, _)| self.low + i as u32)
    }

    fn parse(text: &str, name: &str, low: u32, high: u32, names: &[&str]) -> Result<Self, String> {
        let wrong = |what: &str| format!("cron {name} field {text:?}: {what}");
        let value = |s: &str| -> Result<u32, String> {
            let number = s.parse::<u32>().ok().or_else(|| {
                names
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(s))
                    .map(|i| low + i as u32)
            });
            number
                .filter(|v| (low..=high).contains(v))
                .ok_or_else(|| wrong(&format!("{s:?} is not a value from {low} to {high}")))
        };
        let mut allowed = vec![false; (high - low + 1) as usize];
        for part in text.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((range, step)) => {
                    let step: u32 = step
                        .parse()
                        .ok()
                        .filter(|s| *s > 0)
                        .ok_or_else(|| wrong(&format!("{step:?} is not a positive step")))?;
                    (range, Some(step))
                }
                None => (part, None),
            };
            let (from, to) = match range {
                "*" => (low, high),
                _ => match range.split_once('-') {
                    Some((a, b)) => (value(a)?, value(b)?),
                    None if step.is_some() => (value(range)?, high),
                    None => {
                        let v = value(range)?;
                        (v, v)
                    }
                },
            };
            if from > to {
                return Err(wrong(&format!("the range {range} runs backwards")));
            }
            let mut v = from;
            while v <= to {
                allowed[(v - low) as usize] = true;
                v += step.unwrap_or(1);
            }
        }
        Ok(Self { low, allowed })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Days {
    /// Day-of-month is `?`: the day-of-week field decides.
    OfWeek(Weekdays),
    OfMonth(MonthDays),
}

#[derive(Debug, Clone, PartialEq)]
enum MonthDays {
    Set(Field),
    Last,
    LastWeekday,
    NearestWeekday(u32),
}

#[derive(Debug, Clone, PartialEq)]
enum Weekdays {
    /// Sunday is 1.
    Set(Field),
    /// `nL`: the month's last weekday `n`.
    Last(u32),
    /// `n#k`: the month's `k`-th weekday `n`.
    Nth(u32, u32),
}

const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// A parsed `cron(…)` expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Cron {
    minutes: Field,
    hours: Field,
    days: Days,
    months: Field,
    years: Field,
}

fn weekday_number(text: &str) -> Result<u32, String> {
    Field::parse(text, "day-of-week", 1, 7, &WEEKDAYS)?
        .values()
        .next()
        .filter(|_| !text.contains([',', '-', '/', '*']))
        .ok_or_else(|| format!("cron day-of-week {text:?} is not one weekday"))
}

impl Cron {
    fn parse(inner: &str) -> Result<Self, String> {
        let fields: Vec<&str> = inner.split_whitespace().collect();
        let [minutes, hours, month_day, month, week_day, year] = fields[..] else {
            return Err(format!(
                "cron({inner}) must have six fields: minutes hours day-of-month month day-of-week year"
            ));
        };
        if (month_day == "?") == (week_day == "?") {
            return Err(format!(
                "cron({inner}): one of day-of-month and day-of-week must be ?, and only one"
            ));
        }
        let days = if month_day == "?" {
            Days::OfWeek(Self::weekdays(week_day)?)
        } else {
            Days::OfMonth(Self::month_days(month_day)?)
        };
        Ok(Self {
            minutes: Field::parse(minutes, "minutes", 0, 59, &[])?,
            hours: Field::parse(hours, "hours", 0, 23, &[])?,
            days,
            months: Field::parse(month, "month", 1, 12, &MONTHS)?,
            years: Field::parse(year, "year", YEARS.0, YEARS.1, &[])?,
        })
    }

    fn month_days(text: &str) -> Result<MonthDays, String> {
        Ok(match text {
            "L" => MonthDays::Last,
            "LW" => MonthDays::LastWeekday,
            _ => match text.strip_suffix('W') {
                Some(day) => MonthDays::NearestWeekday(
                    day.parse()
                        .ok()
                        .filter(|d| (1..=31).contains(d))
                        .ok_or_else(|| {
                            format!("cron day-of-month {text:?}: nW needs a day from 1 to 31")
                        })?,
                ),
                None => MonthDays::Set(Field::parse(text, "day-of-month", 1, 31, &[])?),
            },
        })
    }

    fn weekdays(text: &str) -> Result<Weekdays, String> {
        if text == "L" {
            return Ok(Weekdays::Set(Field::parse("7", "day-of-week", 1, 7, &[])?));
        }
        if let Some(day) = text.strip_suffix('L') {
            return Ok(Weekdays::Last(weekday_number(day)?));
        }
        if let Some((day, nth)) = text.split_once('#') {
            let nth = nth
                .parse()
                .ok()
                .filter(|n| (1..=5).contains(n))
                .ok_or_else(|| format!("cron day-of-week {text:?}: n#k needs k from 1 to 5"))?;
            return Ok(Weekdays::Nth(weekday_number(day)?, nth));
        }
        Ok(Weekdays::Set(Field::parse(
            text,
            "day-of-week",
            1,
            7,
            &WEEKDAYS,
        )?))
    }

    fn day_matches(&self, date: Date) -> bool {
        let day = date.day() as u32;
        let last = date.days_in_month() as u32;
        let weekday = date.weekday().to_sunday_one_offset() as u32;
        let is_weekday = |d: Date| (2..=6).contains(&d.weekday().to_sunday_one_offset());
        match &self.days {
            Days::OfMonth(MonthDays::Set(days)) => days.contains(day),
            Days::OfMonth(MonthDays::Last) => day == last,
            Days::OfMonth(MonthDays::LastWeekday) => {
                is_weekday(date)
                    && (day + 1..=last)
                        .all(|d| !is_weekday(date.with().day(d as i8).build().unwrap_or(date)))
            }
            Days::OfMonth(MonthDays::NearestWeekday(wanted)) => {
                if *wanted > last {
                    return false;
                }
                let Ok(target) = date.with().day(*wanted as i8).build() else {
                    return false;
                };
                let nearest = match target.weekday().to_sunday_one_offset() {
                    7 if *wanted == 1 => *wanted + 2,
                    7 => *wanted - 1,
                    1 if *wanted == last => *wanted - 2,
                    1 => *wanted + 1,
                    _ => *wanted,
                };
                day == nearest
            }
            Days::OfWeek(Weekdays::Set(days)) => days.contains(weekday),
            Days::OfWeek(Weekdays::Last(n)) => weekday == *n && day + 7 > last,
            Days::OfWeek(Weekdays::Nth(n, k)) => weekday == *n && (day - 1) / 7 + 1 == *k,
        }
    }

    /// The first matching minute strictly after `after`, read in `zone`.
    fn next_after(&self, zone: &TimeZone, after: f64) -> Option<f64> {
        let first_minute = ((after / 60.0).floor() as i64 + 1) * 60;
        let start = Timestamp::from_second(first_minute)
            .ok()?
            .to_zoned(zone.clone())
            .datetime();
        let mut date = start.date();
        let mut first_day = true;
        loop {
            let year = date.year() as u32;
            if year > YEARS.1 {
                return None;
            }
            if !self.years.contains(year) {
                date = Date::new(date.year() + 1, 1, 1).ok()?;
                first_day = false;
                continue;
            }
            if !self.months.contains(date.month() as u32) {
                date = date.last_of_month().tomorrow().ok()?;
                first_day = false;
                continue;
            }
            if self.day_matches(date) {
                for hour in self.hours.values() {
                    if first_day && hour < start.hour() as u32 {
                        continue;
                    }
                    for minute in self.minutes.values() {
                        if first_day
                            && hour == start.hour() as u32
                            && minute < start.minute() as u32
                        {
                            continue;
                        }
                        let local = date.at(hour as i8, minute as i8, 0, 0);
                        match instant(local, zone) {
                            Some(at) if at > after => return Some(at),
                            _ => {}
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
            first_day = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(iso: &str) -> f64 {
        iso.parse::<Timestamp>().unwrap().as_second() as f64
    }

    fn iso(seconds: f64) -> String {
        Timestamp::from_second(seconds as i64).unwrap().to_string()
    }

    fn next(expression: &str, tz: Option<&str>, after: &str) -> Option<String> {
        let schedule = Schedule::parse(expression).unwrap_or_else(|e| panic!("{expression}: {e}"));
        let zone = zone(tz).unwrap();
        let timing = Timing {
            schedule: &schedule,
            zone: &zone,
            start: None,
            end: None,
            created: seconds(after),
        };
        next_after(&timing, seconds(after)).map(iso)
    }

    #[test]
    fn cron_table() {
        let cases: &[(&str, Option<&str>, &str, Option<&str>)] = &[
            (
                "cron(0 12 * * ? *)",
                None,
                "2026-03-01T13:00:00Z",
                Some("2026-03-02T12:00:00Z"),
            ),
            (
                "cron(0 12 * * ? *)",
                None,
                "2026-03-01T11:59:59Z",
                Some("2026-03-01T12:00:00Z"),
            ),
            (
                "cron(0 12 * * ? *)",
                None,
                "2026-03-01T12:00:00Z",
                Some("2026-03-02T12:00:00Z"),
            ),
            (
                "cron(15 10 ? * 6L 2026)",
                None,
                "2026-03-01T00:00:00Z",
                Some("2026-03-27T10:15:00Z"),
            ),
            (
                "cron(0 8 ? * MON-FRI *)",
                None,
                "2026-03-07T09:00:00Z",
                Some("2026-03-09T08:00:00Z"),
            ),
            (
                "cron(0 9 ? * 2#1 *)",
                None,
                "2026-03-01T00:00:00Z",
                Some("2026-03-02T09:00:00Z"),
            ),
            (
                "cron(0 9 ? * MON#2 *)",
                None,
                "2026-03-01T00:00:00Z",
                Some("2026-03-09T09:00:00Z"),
            ),
            (
                "cron(0 0 L * ? *)",
                None,
                "2026-02-10T00:00:00Z",
                Some("2026-02-28T00:00:00Z"),
            ),
            (
                "cron(0 0 LW * ? *)",
                None,
                "2026-05-10T00:00:00Z",
                Some("2026-05-29T00:00:00Z"),
            ),
            (
                "cron(0 0 15W * ? *)",
                None,
                "2026-08-01T00:00:00Z",
                Some("2026-08-14T00:00:00Z"),
            ),
            (
                "cron(0 0 1W * ? *)",
                None,
                "2026-07-31T00:00:00Z",
                Some("2026-08-03T00:00:00Z"),
            ),
            (
                "cron(0 0 ? * L *)",
                None,
                "2026-03-01T00:00:00Z",
                Some("2026-03-07T00:00:00Z"),
            ),
            (
                "cron(0/15 * * * ? *)",
                None,
                "2026-03-01T10:07:00Z",
                Some("2026-03-01T10:15:00Z"),
            ),
            (
                "cron(5,35 */6 * * ? *)",
                None,
                "2026-03-01T06:40:00Z",
                Some("2026-03-01T12:05:00Z"),
            ),
            (
                "cron(0 0 29 FEB ? *)",
                None,
                "2026-03-01T00:00:00Z",
                Some("2028-02-29T00:00:00Z"),
            ),
            ("cron(0 0 1 JAN ? 2020)", None, "2026-03-01T00:00:00Z", None),
            ("cron(0 0 30 2 ? *)", None, "2026-03-01T00:00:00Z", None),
            (
                "cron(0 9 * * ? *)",
                Some("Europe/Paris"),
                "2026-01-10T00:00:00Z",
                Some("2026-01-10T08:00:00Z"),
            ),
            (
                "cron(0 9 * * ? *)",
                Some("Europe/Paris"),
                "2026-07-10T00:00:00Z",
                Some("2026-07-10T07:00:00Z"),
            ),
            // 02:30 does not happen in New York on 2026-03-08: the change pushes it to 03:30 EDT.
            (
                "cron(30 2 * * ? *)",
                Some("America/New_York"),
                "2026-03-08T05:00:00Z",
                Some("2026-03-08T07:30:00Z"),
            ),
            // 01:30 happens twice on 2026-11-01; it runs once, at the first.
            (
                "cron(30 1 * * ? *)",
                Some("America/New_York"),
                "2026-11-01T04:00:00Z",
                Some("2026-11-01T05:30:00Z"),
            ),
            (
                "cron(30 1 * * ? *)",
                Some("America/New_York"),
                "2026-11-01T05:30:00Z",
                Some("2026-11-02T06:30:00Z"),
            ),
            (
                "at(2026-06-01T12:00:00)",
                Some("America/New_York"),
                "2026-05-01T00:00:00Z",
                Some("2026-06-01T16:00:00Z"),
            ),
            (
                "at(2026-06-01T12:00:00)",
                None,
                "2026-06-01T12:00:00Z",
                None,
            ),
            (
                "rate(5 minutes)",
                None,
                "2026-03-01T00:00:00Z",
                Some("2026-03-01T00:05:00Z"),
            ),
            (
                "rate(1 day)",
                None,
                "2026-03-01T00:00:00Z",
                Some("2026-03-02T00:00:00Z"),
            ),
        ];
        for (expression, tz, after, expected) in cases {
            assert_eq!(
                next(expression, *tz, after).as_deref(),
                *expected,
                "{expression} in {tz:?} after {after}"
            );
        }
    }

    #[test]
    fn start_and_end_bound_the_firings() {
        let schedule = Schedule::parse("rate(10 minutes)").unwrap();
        let zone = zone(None).unwrap();
        let start = seconds("2026-03-01T12:00:00Z");
        let timing = Timing {
            schedule: &schedule,
            zone: &zone,
            start: Some(start),
            end: Some(seconds("2026-03-01T12:25:00Z")),
            created: 0.0,
        };
        let mut fired = Vec::new();
        let mut after = seconds("2026-03-01T00:00:00Z");
        while let Some(at) = next_after(&timing, after) {
            fired.push(iso(at));
            after = at;
        }
        assert_eq!(
            fired,
            [
                "2026-03-01T12:00:00Z",
                "2026-03-01T12:10:00Z",
                "2026-03-01T12:20:00Z"
            ]
        );
        let daily = Schedule::parse("cron(0 6 * * ? *)").unwrap();
        let timing = Timing {
            schedule: &daily,
            zone: &zone,
            start: Some(seconds("2026-03-05T00:00:00Z")),
            end: None,
            created: 0.0,
        };
        assert_eq!(
            next_after(&timing, seconds("2026-03-01T00:00:00Z"))
                .map(iso)
                .as_deref(),
            Some("2026-03-05T06:00:00Z")
        );
    }

    #[test]
    fn missed_firings_collapse_into_the_next_from_now() {
        // Down from before 06:00 on the 1st to noon on the 4th: three firings missed. The
        // overdue one runs once; the next counts from the present.
        let daily = Schedule::parse("cron(0 6 * * ? *)").unwrap();
        let zone = zone(None).unwrap();
        let timing = Timing {
            schedule: &daily,
            zone: &zone,
            start: None,
            end: None,
            created: 0.0,
        };
        let recovered = seconds("2026-03-04T12:00:00Z");
        assert_eq!(
            next_after(&timing, recovered).map(iso).as_deref(),
            Some("2026-03-05T06:00:00Z")
        );
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        let bad = [
            "cron(0 12 * * * *)",
            "cron(0 12 ? * ? *)",
            "cron(0 12 * *)",
            "cron(61 * * * ? *)",
            "cron(0 12 ? * 8 *)",
            "cron(0 12 ? * 2#6 *)",
            "cron(0 12 * * ? 2300)",
            "cron(5-1 * * * ? *)",
            "cron(0/0 * * * ? *)",
            "rate(1 minutes)",
            "rate(5 minute)",
            "rate(0 minutes)",
            "rate(5 weeks)",
            "rate(minutes)",
            "at(2026-13-01T00:00:00)",
            "at(2026-01-01)",
            "every day",
            "cron(0 12 * * ? *",
        ];
        for expression in bad {
            assert!(
                Schedule::parse(expression).is_err(),
                "{expression} was accepted"
            );
        }
        assert!(zone(Some("Mars/Olympus_Mons")).is_err());
        for (expression, accepted) in [
            ("rate(1 minute)", true),
            ("cron(* * * * ? *)", true),
            ("cron(0 12 ? * MON-FRI *)", true),
            ("at(2026-06-01T12:00:00)", false),
            ("rate(1 minutes)", false),
        ] {
            assert_eq!(
                Schedule::parse_rule(expression).is_ok(),
                accepted,
                "{expression}"
            );
        }
        assert!(zone(Some("Asia/Tokyo")).is_ok());
    }
}
