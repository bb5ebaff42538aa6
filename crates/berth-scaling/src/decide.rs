//! A scalable target's policies combined into one capacity.
//!
//! Scale-out: the largest capacity any policy asks for. Scale-in: only when no policy asks to
//! scale out and every target tracking policy that may scale in asks to, and then to the
//! largest capacity asked (the smallest step in). The answer never leaves `[min, max]`, and a
//! capacity found outside the range (a person set `desiredCount` by hand, or the range
//! moved) is brought back into it even when no policy asks for anything.

use crate::Vote;
use serde::{Deserialize, Serialize};

/// A scalable target's range, `min <= max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    pub min: i64,
    pub max: i64,
}

impl Range {
    pub fn new(min: i64, max: i64) -> Result<Self, String> {
        if min < 0 {
            return Err(format!("MinCapacity must be at least 0, got {min}"));
        }
        if min > max {
            return Err(format!(
                "Minimum capacity cannot be greater than maximum capacity: MinCapacity {min} is above MaxCapacity {max}"
            ));
        }
        Ok(Self { min, max })
    }

    pub fn clamp(&self, capacity: i64) -> i64 {
        capacity.clamp(self.min, self.max)
    }
}

/// What is suspended on a scalable target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Suspended {
    pub dynamic_in: bool,
    pub dynamic_out: bool,
    pub scheduled: bool,
}

/// One policy's vote, with what the combination needs to know of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ballot<'p> {
    pub policy: &'p str,
    /// A target tracking policy that may scale in: scale-in waits for all of these.
    pub tracks_for_scale_in: bool,
    pub vote: Vote,
}

/// Why the capacity moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause<'p> {
    /// The named policy's vote won.
    Policy(&'p str),
    /// The capacity was below the range's minimum.
    BelowMin(i64),
    /// The capacity was above the range's maximum.
    AboveMax(i64),
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'p> {
    Keep,
    Set { capacity: i64, cause: Cause<'p> },
}

/// The capacity a target with `range` and `suspended` should have, at `current`, given its
/// policies' `ballots`.
pub fn decide<'p>(
    range: Range,
    suspended: Suspended,
    current: i64,
    ballots: &[Ballot<'p>],
) -> Decision<'p> {
    let winner = if suspended.dynamic_out {
        None
    } else {
        ballots
            .iter()
            .filter_map(|b| match b.vote {
                Vote::Out(n) => Some((n, b.policy)),
                _ => None,
            })
            .max_by_key(|(n, _)| *n)
    };
    let wants_out = ballots.iter().any(|b| matches!(b.vote, Vote::Out(_)));
    let winner = winner.or_else(|| {
        let agreed = !wants_out
            && !suspended.dynamic_in
            && ballots
                .iter()
                .filter(|b| b.tracks_for_scale_in)
                .all(|b| matches!(b.vote, Vote::In(_)));
        agreed
            .then(|| {
                ballots
                    .iter()
                    .filter_map(|b| match b.vote {
                        Vote::In(n) => Some((n, b.policy)),
                        _ => None,
                    })
                    .max_by_key(|(n, _)| *n)
            })
            .flatten()
    });
    let in_range = range.clamp(current);
    match winner {
        Some((wanted, policy)) if range.clamp(wanted) != current => Decision::Set {
            capacity: range.clamp(wanted),
            cause: Cause::Policy(policy),
        },
        _ if in_range > current => Decision::Set {
            capacity: in_range,
            cause: Cause::BelowMin(range.min),
        },
        _ if in_range < current => Decision::Set {
            capacity: in_range,
            cause: Cause::AboveMax(range.max),
        },
        _ => Decision::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{self, Evaluation, TargetTracking};
    use crate::History;
    use proptest::prelude::*;

    fn ballot(policy: &str, tracks: bool, vote: Vote) -> Ballot<'_> {
        Ballot {
            policy,
            tracks_for_scale_in: tracks,
            vote,
        }
    }

    #[test]
    fn table() {
        let range = Range::new(1, 10).unwrap();
        let none = Suspended::default();
        let cases: Vec<(&str, Suspended, i64, Vec<Ballot<'_>>, Decision<'_>)> = vec![
            (
                "largest scale-out wins",
                none,
                3,
                vec![
                    ballot("cpu", true, Vote::Out(5)),
                    ballot("mem", true, Vote::Out(7)),
                ],
                Decision::Set {
                    capacity: 7,
                    cause: Cause::Policy("mem"),
                },
            ),
            (
                "out beats in",
                none,
                3,
                vec![
                    ballot("cpu", true, Vote::In(2)),
                    ballot("q", false, Vote::Out(4)),
                ],
                Decision::Set {
                    capacity: 4,
                    cause: Cause::Policy("q"),
                },
            ),
            (
                "in only when every tracker agrees",
                none,
                5,
                vec![
                    ballot("cpu", true, Vote::In(2)),
                    ballot("mem", true, Vote::Hold),
                ],
                Decision::Keep,
            ),
            (
                "agreeing trackers: the largest capacity",
                none,
                5,
                vec![
                    ballot("cpu", true, Vote::In(2)),
                    ballot("mem", true, Vote::In(4)),
                ],
                Decision::Set {
                    capacity: 4,
                    cause: Cause::Policy("mem"),
                },
            ),
            (
                "a tracker that may not scale in has no say",
                none,
                5,
                vec![
                    ballot("cpu", true, Vote::In(3)),
                    ballot("mem", false, Vote::Hold),
                ],
                Decision::Set {
                    capacity: 3,
                    cause: Cause::Policy("cpu"),
                },
            ),
            (
                "never above max",
                none,
                8,
                vec![ballot("cpu", true, Vote::Out(40))],
                Decision::Set {
                    capacity: 10,
                    cause: Cause::Policy("cpu"),
                },
            ),
            (
                "never below min",
                none,
                3,
                vec![ballot("cpu", true, Vote::In(0))],
                Decision::Set {
                    capacity: 1,
                    cause: Cause::Policy("cpu"),
                },
            ),
            (
                "at max already",
                none,
                10,
                vec![ballot("cpu", true, Vote::Out(40))],
                Decision::Keep,
            ),
            (
                "set by hand above max: back into range",
                none,
                14,
                vec![],
                Decision::Set {
                    capacity: 10,
                    cause: Cause::AboveMax(10),
                },
            ),
            (
                "set by hand below min: back into range",
                none,
                0,
                vec![ballot("cpu", true, Vote::Hold)],
                Decision::Set {
                    capacity: 1,
                    cause: Cause::BelowMin(1),
                },
            ),
            (
                "out suspended",
                Suspended {
                    dynamic_out: true,
                    ..none
                },
                3,
                vec![ballot("cpu", true, Vote::Out(5))],
                Decision::Keep,
            ),
            (
                "in suspended",
                Suspended {
                    dynamic_in: true,
                    ..none
                },
                5,
                vec![ballot("cpu", true, Vote::In(2))],
                Decision::Keep,
            ),
            (
                "suspension keeps the range",
                Suspended {
                    dynamic_in: true,
                    dynamic_out: true,
                    scheduled: true,
                },
                12,
                vec![],
                Decision::Set {
                    capacity: 10,
                    cause: Cause::AboveMax(10),
                },
            ),
        ];
        for (name, suspended, current, ballots, expected) in cases {
            assert_eq!(
                decide(range, suspended, current, &ballots),
                expected,
                "{name}"
            );
        }
    }

    fn vote_strategy() -> impl Strategy<Value = Vote> {
        prop_oneof![
            Just(Vote::Hold),
            (0i64..100).prop_map(Vote::Out),
            (0i64..100).prop_map(Vote::In)
        ]
    }

    proptest! {
        #[test]
        fn never_outside_the_range(
            min in 0i64..20, span in 0i64..20, current in 0i64..60,
            votes in proptest::collection::vec((vote_strategy(), any::<bool>()), 0..5),
            dynamic_in: bool, dynamic_out: bool,
        ) {
            let range = Range::new(min, min + span).unwrap();
            let names: Vec<String> = (0..votes.len()).map(|i| format!("p{i}")).collect();
            let ballots: Vec<Ballot<'_>> = votes.iter().zip(&names)
                .map(|((vote, tracks), name)| ballot(name, *tracks, *vote)).collect();
            let suspended = Suspended { dynamic_in, dynamic_out, scheduled: false };
            let capacity = match decide(range, suspended, current, &ballots) {
                Decision::Keep => current,
                Decision::Set { capacity, .. } => { prop_assert_ne!(capacity, current); capacity }
            };
            prop_assert!(capacity >= range.min && capacity <= range.max);
        }

        /// A metric held at the target (or anywhere in the band just below it) never moves a
        /// service, whatever its capacity.
        #[test]
        fn no_flapping_on_a_steady_metric_at_the_target(
            target in 1.0f64..1000.0, share in 0.9f64..=1.0, current in 1i64..50, rounds in 1usize..40,
        ) {
            let policy = TargetTracking { target_value: target, scale_out_cooldown: 0.0, scale_in_cooldown: 0.0, disable_scale_in: false };
            let metric = target * share;
            let range = Range::new(0, 100).unwrap();
            let mut history = History::default();
            let mut capacity = current;
            for round in 0..rounds {
                let points = vec![metric; 15];
                let vote = target::vote(&policy, &Evaluation::BERTH, &points, capacity, &history, round as f64 * 5.0);
                let decision = decide(range, Suspended::default(), capacity, &[ballot("cpu", true, vote)]);
                if let Decision::Set { capacity: next, .. } = decision {
                    history = history.after(capacity, next, round as f64 * 5.0, 0.0);
                    capacity = next;
                }
            }
            prop_assert_eq!(capacity, current);
        }

        /// Once load settles, a service scaled for it settles too: after a change, the metric
        /// the load gives over the new capacity moves it no more.
        #[test]
        fn one_move_then_steady(
            target in 10.0f64..100.0, load in 0.0f64..5000.0, current in 1i64..50,
        ) {
            let policy = TargetTracking { target_value: target, scale_out_cooldown: 0.0, scale_in_cooldown: 0.0, disable_scale_in: false };
            let range = Range::new(1, 1000).unwrap();
            let mut capacity = current;
            let mut moves = 0;
            for round in 0..10 {
                let metric = load / capacity as f64;
                let vote = target::vote(&policy, &Evaluation::BERTH, &[metric; 15], capacity, &History::default(), round as f64);
                if let Decision::Set { capacity: next, .. } = decide(range, Suspended::default(), capacity, &[ballot("cpu", true, vote)]) {
                    capacity = next;
                    moves += 1;
                }
            }
            prop_assert!(moves <= 1, "{} moves", moves);
        }

        /// Within the scale-out cooldown, a steady metric adds no second round of tasks.
        #[test]
        fn cooldown_holds(
            target in 10.0f64..100.0, metric in 0.0f64..1000.0, current in 1i64..20, cooldown in 1.0f64..600.0, elapsed in 0.0f64..1.0,
        ) {
            let policy = TargetTracking { target_value: target, scale_out_cooldown: cooldown, scale_in_cooldown: cooldown, disable_scale_in: false };
            let range = Range::new(0, 10_000).unwrap();
            let points = [metric; 15];
            let first = target::vote(&policy, &Evaluation::BERTH, &points, current, &History::default(), 0.0);
            if let Decision::Set { capacity, .. } = decide(range, Suspended::default(), current, &[ballot("cpu", true, first)]) {
                let history = History::default().after(current, capacity, 0.0, cooldown);
                let later = elapsed * cooldown;
                let again = target::vote(&policy, &Evaluation::BERTH, &points, capacity, &history, later);
                prop_assert_eq!(again, Vote::Hold, "moved again at {} within {}", later, cooldown);
            }
        }
    }
}
