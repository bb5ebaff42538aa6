//! Metric alarms evaluated when due: each alarm is kept under the 10-second bucket of its
//! next evaluation, so a round reads the buckets since the last round (and the one before,
//! for writes that committed late) rather than every alarm; only a loop's first round reads
//! them all. An alarm is evaluated a couple of seconds after each of its periods ends
//! (every 10 s for a high-resolution alarm), on its N most recent complete periods read
//! from the metric store outside any store call; the state it reaches, its history and its
//! actions are `cloudwatch::alarms::transition`'s.

use crate::call::{Call, Context};
use crate::cloudwatch::alarms::{self, due_scope, StoredAlarm};
use berth_metrics::aggregate::align;
use berth_metrics::alarm::{AlarmState, Outcome};
use berth_metrics::store::{self, MetricStore, SeriesKey, StatisticsQuery};
use berth_metrics::{MetricError, Seconds, Unit};
use berth_store::Collection;
use std::sync::Arc;

/// The N most recent complete periods of `alarm`'s metric at `now`, oldest first, `None`
/// for a period without data.
pub fn datapoints(
    metrics: &dyn MetricStore,
    alarm: &StoredAlarm,
    now: Seconds,
) -> Result<Vec<Option<f64>>, MetricError> {
    let period = alarm.period;
    let end = align(now - alarms::EVALUATION_DELAY as Seconds, period);
    let start = end - period * alarm.evaluation_periods as Seconds;
    let series = SeriesKey::new(
        alarm.namespace.clone(),
        alarm.metric_name.clone(),
        alarm.dimensions.iter().cloned(),
    );
    let merged = store::statistics_by_start(
        metrics,
        &StatisticsQuery {
            series: &series,
            start,
            end,
            period,
            unit: alarm.unit.as_deref().and_then(Unit::parse),
        },
        now,
    )?;
    let statistic = alarm.statistic();
    Ok((0..alarm.evaluation_periods as Seconds)
        .map(|i| start + i * period)
        .map(|at| {
            merged
                .get(&at)
                .and_then(|a| statistic.and_then(|s| a.statistic(s)))
        })
        .collect())
}

/// CloudWatch's words for why an evaluation reached its state.
pub fn reason(alarm: &StoredAlarm, outcome: &Outcome) -> String {
    let rule = alarm.rule();
    let n = rule.evaluation_periods;
    match outcome.state {
        AlarmState::Alarm => format!(
            "Threshold Crossed: {} out of the last {n} datapoints were {} the threshold ({}) (minimum {} datapoints for OK -> ALARM transition).",
            outcome.breaching,
            alarm.comparison.words(),
            alarm.threshold,
            rule.datapoints_to_alarm,
        ),
        AlarmState::Ok => format!(
            "Threshold Crossed: {} out of the last {n} datapoints were not {} the threshold ({}) (minimum 1 datapoint for ALARM -> OK transition).",
            outcome.present - outcome.breaching,
            alarm.comparison.words(),
            alarm.threshold,
        ),
        AlarmState::InsufficientData => format!(
            "Insufficient Data: {n} datapoints were unknown."
        ),
    }
}

/// Evaluates `alarm` on `points` read for it, unless it changed since it was read.
fn apply(
    call: &Call<'_>,
    read: &StoredAlarm,
    points: &[Option<f64>],
) -> Result<bool, crate::cloudwatch::Error> {
    let Some(mut alarm) = call.get::<StoredAlarm>(Collection::Alarms, &read.name)? else {
        return Ok(false);
    };
    if alarm.configuration_updated != read.configuration_updated
        || alarm.next_evaluation != read.next_evaluation
    {
        return Ok(false);
    }
    let rule = alarm.rule();
    let outcome = rule.evaluate(points, alarm.state);
    let reason = reason(&alarm, &outcome);
    let breach = outcome.latest.map(|v| rule.breach(v));
    let changed = alarms::transition(call, &mut alarm, outcome.state, reason, breach)?;
    let due = alarm.next_evaluation;
    alarm.next_evaluation = alarm.next_after(call.now());
    alarms::save(call, &alarm, Some(due))?;
    Ok(changed)
}

/// Where a loop's sweep of the index stands.
#[derive(Debug, Default)]
pub struct Sweep {
    swept: Option<i64>,
}

impl Sweep {
    /// Evaluates every alarm due at `now`; returns how many changed state.
    pub fn step(&mut self, cx: &Context, now: f64) -> usize {
        let bucket = (now / 10.0).floor() as i64;
        let due = cx.as_system(
            now,
            |call| -> Result<Vec<StoredAlarm>, crate::call::Fault> {
                match self.swept {
                    None => call.list(Collection::Alarms, None),
                    Some(swept) => {
                        let mut found = Vec::new();
                        for b in (swept - 1)..=bucket {
                            found.extend(call.list::<StoredAlarm>(
                                Collection::Alarms,
                                Some(&due_scope(b as f64 * 10.0)),
                            )?);
                        }
                        Ok(found)
                    }
                }
            },
        );
        let due = match due {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "listing due alarms failed");
                return 0;
            }
        };
        self.swept = Some(bucket);
        let mut changed = 0;
        for alarm in due.iter().filter(|a| a.next_evaluation <= now) {
            let points = match datapoints(cx.metrics().as_ref(), alarm, now as Seconds) {
                Ok(points) => points,
                Err(e) => {
                    tracing::warn!(error = %e, alarm = %alarm.name, "reading an alarm's metric failed");
                    continue;
                }
            };
            match cx.as_system(now, |call| apply(call, alarm, &points)) {
                Ok(true) => changed += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = ?e.code(), alarm = %alarm.name, "evaluating an alarm failed")
                }
            }
        }
        changed
    }
}

/// Evaluates alarms as they fall due, looking once a second.
pub async fn run(cx: Arc<Context>) {
    let mut sweep = Sweep::default();
    loop {
        let round_cx = Arc::clone(&cx);
        let round = tokio::task::spawn_blocking(move || {
            sweep.step(&round_cx, berth_time::now());
            sweep
        });
        // A round that panicked leaves a fresh sweep, which lists every alarm once.
        sweep = round.await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "alarm round panicked");
            Sweep::default()
        });
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
