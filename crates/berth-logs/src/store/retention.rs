//! Which segments retention and the size cap drop: arithmetic over what a store holds, apart
//! from its files, so that every store (the fake included) drops the same events.
//!
//! A store keeps each group's events in segments by time: one per window of
//! [`SEGMENT_WINDOW`] of event timestamps. Retention drops a segment once its whole window
//! lies before its group's cutoff (`now` less the retention); then, while what is left holds
//! more than the size cap, the oldest segments go, whatever their group.

use super::{Millis, DAY};

/// The span of event timestamps one segment holds: a UTC day. Retention is counted in days
/// (CloudWatch Logs' shortest is one), so a day keeps an event at most one day past its
/// group's retention; the size cap drops at most one day of one group at a time; and a group
/// that logs a line now and then costs one small file a day, not one an hour (an empty
/// segment is 32 KiB of tables and indexes).
pub const SEGMENT_WINDOW: Millis = DAY;

/// The start of the window holding `timestamp`.
pub fn window_of(timestamp: Millis) -> Millis {
    timestamp.div_euclid(SEGMENT_WINDOW) * SEGMENT_WINDOW
}

/// One segment as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held<'a> {
    pub group: &'a str,
    /// The start of its window ([`window_of`]).
    pub window: Millis,
    /// The bytes of messages it holds.
    pub bytes: u64,
    pub retention_days: Option<u32>,
}

/// Whether every event `held` may hold is older than its group's retention allows.
fn expired(held: &Held<'_>, now: Millis) -> bool {
    held.retention_days.is_some_and(|days| {
        let cutoff = now.saturating_sub(Millis::from(days).saturating_mul(DAY));
        held.window.saturating_add(SEGMENT_WINDOW) <= cutoff
    })
}

/// The segments to drop, as ascending indices into `held`: those past their group's
/// retention, then, while the others hold more than `max_bytes`, the oldest of them (by
/// window, then group name).
pub fn segments_to_drop(held: &[Held<'_>], now: Millis, max_bytes: u64) -> Vec<usize> {
    let (mut gone, mut left): (Vec<usize>, Vec<usize>) =
        (0..held.len()).partition(|&i| expired(&held[i], now));
    let mut kept: u64 = left.iter().map(|&i| held[i].bytes).sum();
    left.sort_by_key(|&i| (held[i].window, held[i].group));
    for i in left {
        if kept <= max_bytes {
            break;
        }
        kept -= held[i].bytes;
        gone.push(i);
    }
    gone.sort_unstable();
    gone
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Midnight UTC of 2023-11-14, and a time later that day.
    const DAY0: Millis = 19_675 * DAY;
    const NOW: Millis = DAY0 + 13 * 3600 * 1000;

    fn held(group: &str, day: i64, bytes: u64, retention_days: Option<u32>) -> Held<'_> {
        Held {
            group,
            window: DAY0 + day * DAY,
            bytes,
            retention_days,
        }
    }

    #[test]
    fn windows_start_at_utc_midnight() {
        for (timestamp, window) in [
            (DAY0, DAY0),
            (DAY0 + DAY - 1, DAY0),
            (DAY0 + DAY, DAY0 + DAY),
            (0, 0),
            (-1, -DAY),
            (-DAY, -DAY),
        ] {
            assert_eq!(window_of(timestamp), window, "{timestamp}");
        }
    }

    /// What is held, when, under which cap, and which of it goes.
    type Case<'a> = (&'a str, Vec<Held<'a>>, Millis, u64, Vec<usize>);

    #[test]
    fn which_segments_go() {
        let cases: &[Case<'_>] = &[
            ("nothing held", vec![], NOW, 0, vec![]),
            (
                "no retention, under the cap",
                vec![held("a", -400, 10, None), held("a", 0, 10, None)],
                NOW,
                20,
                vec![],
            ),
            (
                // Retention of 1 day at 13:00 puts the cutoff at 13:00 yesterday: the day
                // before yesterday lies wholly before it, yesterday only partly.
                "a window wholly past the cutoff goes, one partly past stays",
                vec![
                    held("a", -2, 5, Some(1)),
                    held("a", -1, 5, Some(1)),
                    held("a", 0, 5, Some(1)),
                ],
                NOW,
                u64::MAX,
                vec![0],
            ),
            (
                "a window ending exactly at the cutoff goes",
                vec![held("a", -2, 5, Some(1)), held("a", -1, 5, Some(1))],
                DAY0 + DAY,
                u64::MAX,
                vec![0, 1],
            ),
            (
                "each group by its own retention",
                vec![
                    held("short", -3, 5, Some(1)),
                    held("long", -3, 5, Some(30)),
                    held("forever", -3, 5, None),
                ],
                NOW,
                u64::MAX,
                vec![0],
            ),
            (
                "over the cap the oldest go first, whatever their group",
                vec![
                    held("b", 0, 10, None),
                    held("a", -1, 10, None),
                    held("b", -2, 10, None),
                    held("a", 0, 10, None),
                ],
                NOW,
                20,
                vec![1, 2],
            ),
            (
                "on the same day, by group name",
                vec![held("b", 0, 10, None), held("a", 0, 10, None)],
                NOW,
                15,
                vec![1],
            ),
            (
                "expired segments count nothing against the cap",
                vec![
                    held("a", -5, 100, Some(1)),
                    held("a", 0, 10, Some(1)),
                    held("b", -5, 10, None),
                ],
                NOW,
                20,
                vec![0],
            ),
            (
                "the cap may leave nothing",
                vec![held("a", -1, 1, None), held("a", 0, 1, None)],
                NOW,
                0,
                vec![0, 1],
            ),
            (
                "a segment bigger than the cap goes alone when it is the oldest",
                vec![held("a", -1, 50, None), held("a", 0, 5, None)],
                NOW,
                10,
                vec![0],
            ),
            (
                "the longest retention does not overflow",
                vec![held("a", -1, 5, Some(u32::MAX))],
                Millis::MIN + 1,
                u64::MAX,
                vec![],
            ),
        ];
        for (name, segments, now, max_bytes, wanted) in cases {
            assert_eq!(
                &segments_to_drop(segments, *now, *max_bytes),
                wanted,
                "{name}"
            );
        }
    }
}
