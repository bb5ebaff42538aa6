//! What the proxy counts on its hot path, per target group and per target, as ALB's
//! CloudWatch metrics do: requests a target was chosen for (`RequestCount`), answers by class
//! from targets (`HTTPCode_Target_2XX_Count` …) and from the load balancer itself
//! (`HTTPCode_ELB_5XX_Count`: no healthy target, target failed, timed out), and the time from
//! sending a request to the target's answer head (`TargetResponseTime`) in a histogram.
//!
//! Every count is a relaxed atomic add on counters that only grow; a reader takes a
//! [`Snapshot`] whenever it likes, and nothing on the request path waits for it. The fastest
//! and slowest answer are kept apart, since the last time one reader (the CloudWatch
//! publisher) took them with [`Counts::take_extremes`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds, in seconds, of the response time histogram's buckets (the last is +Inf).
pub const RESPONSE_TIME_BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Answer classes: 2XX, 3XX, 4XX, 5XX (1XX and anything odd count as none).
pub const CLASSES: [&str; 4] = ["2XX", "3XX", "4XX", "5XX"];

#[derive(Debug, Default)]
pub struct Counts {
    requests: AtomicU64,
    target_codes: [AtomicU64; 4],
    elb_codes: [AtomicU64; 4],
    /// Not cumulative: each answer adds to the one bucket it falls in.
    response_buckets: [AtomicU64; RESPONSE_TIME_BOUNDS.len() + 1],
    response_micros: AtomicU64,
    /// `u64::MAX` minus the fastest answer's microseconds, so that the larger is faster and
    /// 0 (the default) means none; taken and reset by [`Counts::take_extremes`].
    fastest_inverted: AtomicU64,
    slowest_micros: AtomicU64,
}

/// Counts read at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub requests: u64,
    /// By [`CLASSES`].
    pub target_codes: [u64; 4],
    pub elb_codes: [u64; 4],
    /// Cumulative, as Prometheus wants them: answers within each of
    /// [`RESPONSE_TIME_BOUNDS`], then all of them.
    pub response_cumulative: Vec<u64>,
    pub response_seconds_sum: f64,
}

impl Snapshot {
    pub fn responses(&self) -> u64 {
        self.response_cumulative.last().copied().unwrap_or(0)
    }
}

/// Raises `counter` to `value`, touching it for writing only when that changes it, so the
/// common answer costs a load.
fn raise(counter: &AtomicU64, value: u64) {
    if value > counter.load(Ordering::Relaxed) {
        counter.fetch_max(value, Ordering::Relaxed);
    }
}

fn class(status: u16) -> Option<usize> {
    match status {
        200..=299 => Some(0),
        300..=399 => Some(1),
        400..=499 => Some(2),
        500..=599 => Some(3),
        _ => None,
    }
}

/// The bucket an answer taking `seconds` falls in.
fn bucket(seconds: f64) -> usize {
    RESPONSE_TIME_BOUNDS
        .iter()
        .position(|bound| seconds <= *bound)
        .unwrap_or(RESPONSE_TIME_BOUNDS.len())
}

impl Counts {
    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// A target answered `status`, its head arriving `took` after the request was sent.
    pub(crate) fn answered(&self, status: u16, took: Duration) {
        if let Some(class) = class(status) {
            self.target_codes[class].fetch_add(1, Ordering::Relaxed);
        }
        self.response_buckets[bucket(took.as_secs_f64())].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX - 1);
        self.response_micros.fetch_add(micros, Ordering::Relaxed);
        raise(&self.fastest_inverted, u64::MAX - micros);
        raise(&self.slowest_micros, micros);
    }

    /// The fastest and slowest answer since the last call, if any came. An answer counted
    /// between the two swaps may have raised only one of them; the other then takes its value
    /// rather than be lost or reported as zero.
    pub fn take_extremes(&self) -> Option<(Duration, Duration)> {
        let fastest_inverted = self.fastest_inverted.swap(0, Ordering::Relaxed);
        let slowest = self.slowest_micros.swap(0, Ordering::Relaxed);
        let fastest = (fastest_inverted != 0).then(|| u64::MAX - fastest_inverted);
        let slowest = (slowest != 0 || fastest == Some(0)).then_some(slowest);
        let (fastest, slowest) = match (fastest, slowest) {
            (None, None) => return None,
            (Some(fastest), None) => (fastest, fastest),
            (None, Some(slowest)) => (slowest, slowest),
            (Some(fastest), Some(slowest)) => (fastest.min(slowest), slowest.max(fastest)),
        };
        Some((
            Duration::from_micros(fastest),
            Duration::from_micros(slowest),
        ))
    }

    /// The load balancer answered `status` itself.
    pub(crate) fn elb(&self, status: u16) {
        if let Some(class) = class(status) {
            self.elb_codes[class].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let mut running = 0;
        let response_cumulative = self
            .response_buckets
            .iter()
            .map(|bucket| {
                running += load(bucket);
                running
            })
            .collect();
        Snapshot {
            requests: load(&self.requests),
            target_codes: self.target_codes.each_ref().map(load),
            elb_codes: self.elb_codes.each_ref().map(load),
            response_cumulative,
            response_seconds_sum: load(&self.response_micros) as f64 / 1e6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_count_by_class_and_time() {
        let counts = Counts::default();
        counts.request();
        counts.request();
        counts.answered(200, Duration::from_micros(300));
        counts.answered(503, Duration::from_millis(30));
        counts.answered(101, Duration::from_secs(60));
        counts.elb(502);
        let seen = counts.snapshot();
        assert_eq!(seen.requests, 2);
        assert_eq!(seen.target_codes, [1, 0, 0, 1]);
        assert_eq!(seen.elb_codes, [0, 0, 0, 1]);
        assert_eq!(seen.responses(), 3);
        // 0.3 ms in the first bucket; 30 ms in the 50 ms one; 60 s only in +Inf.
        assert_eq!(seen.response_cumulative[0], 1);
        assert_eq!(seen.response_cumulative[5], 1);
        assert_eq!(seen.response_cumulative[6], 2);
        assert_eq!(seen.response_cumulative[RESPONSE_TIME_BOUNDS.len() - 1], 2);
        assert!((seen.response_seconds_sum - 60.0303).abs() < 1e-9);
    }

    #[test]
    fn extremes_are_taken_once() {
        let counts = Counts::default();
        assert_eq!(counts.take_extremes(), None);
        counts.answered(200, Duration::from_millis(7));
        counts.answered(200, Duration::from_micros(250));
        counts.answered(500, Duration::from_secs(2));
        assert_eq!(
            counts.take_extremes(),
            Some((Duration::from_micros(250), Duration::from_secs(2)))
        );
        assert_eq!(counts.take_extremes(), None);
        counts.answered(200, Duration::ZERO);
        assert_eq!(
            counts.take_extremes(),
            Some((Duration::ZERO, Duration::ZERO))
        );
        // An answer that raised only the slowest, or only the fastest, before the swaps.
        raise(&counts.slowest_micros, 900);
        assert_eq!(
            counts.take_extremes(),
            Some((Duration::from_micros(900), Duration::from_micros(900)))
        );
        raise(&counts.fastest_inverted, u64::MAX - 40);
        assert_eq!(
            counts.take_extremes(),
            Some((Duration::from_micros(40), Duration::from_micros(40)))
        );
    }

    #[test]
    fn buckets_include_their_bound() {
        for (seconds, expected) in [(0.0, 0), (0.0005, 0), (0.0006, 1), (10.0, 13), (10.1, 14)] {
            assert_eq!(bucket(seconds), expected, "{seconds}");
        }
    }
}
