//! Turning latencies into throughput and percentiles, and printing them.

use serde_json::{json, Value};
use std::fmt::Write as _;
use std::time::Duration;

/// The result for one action.
#[derive(Debug, PartialEq)]
pub struct Measurement {
    pub action: &'static str,
    /// 200 answers in the window.
    pub requests: usize,
    /// 200 answers per second: errors don't count as throughput.
    pub requests_per_sec: f64,
    /// Latency percentiles of the 200 answers; None when there were none.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub errors: u64,
    /// What went wrong first, to say why when `errors` isn't 0.
    pub first_error: Option<String>,
    /// Connections opened during the window because the server closed one;
    /// 0 for a server that keeps connections alive.
    pub reconnects: u64,
}

impl Measurement {
    pub fn new(
        action: &'static str,
        window: Duration,
        mut latencies_us: Vec<u32>,
        errors: u64,
        first_error: Option<String>,
        reconnects: u64,
    ) -> Self {
        latencies_us.sort_unstable();
        Self {
            action,
            requests: latencies_us.len(),
            requests_per_sec: latencies_us.len() as f64 / window.as_secs_f64(),
            p50_ms: percentile_ms(&latencies_us, 50),
            p99_ms: percentile_ms(&latencies_us, 99),
            errors,
            first_error,
            reconnects,
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "action": self.action,
            "requests": self.requests,
            "requests_per_sec": round(self.requests_per_sec, 1),
            "p50_ms": self.p50_ms.map(|ms| round(ms, 3)),
            "p99_ms": self.p99_ms.map(|ms| round(ms, 3)),
            "errors": self.errors,
            "first_error": self.first_error,
            "reconnects": self.reconnects,
        })
    }
}

/// Nearest-rank percentile of sorted microsecond latencies, in milliseconds.
fn percentile_ms(sorted_us: &[u32], percent: usize) -> Option<f64> {
    if sorted_us.is_empty() {
        return None;
    }
    let rank = (sorted_us.len() * percent).div_ceil(100).max(1);
    Some(f64::from(sorted_us[rank - 1]) / 1000.0)
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// The human-readable table.
pub fn table(measurements: &[Measurement]) -> String {
    let ms = |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.3}"));
    let mut out = format!(
        "{:<24} {:>12} {:>9} {:>9} {:>8} {:>10}\n",
        "action", "requests/s", "p50 ms", "p99 ms", "errors", "reconnects"
    );
    for m in measurements {
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "{:<24} {:>12.1} {:>9} {:>9} {:>8} {:>10}",
            m.action,
            m.requests_per_sec,
            ms(m.p50_ms),
            ms(m.p99_ms),
            m.errors,
            m.reconnects
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let latencies: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile_ms(&latencies, 50), Some(50.0));
        assert_eq!(percentile_ms(&latencies, 99), Some(99.0));
        assert_eq!(percentile_ms(&[1500], 99), Some(1.5));
        assert_eq!(percentile_ms(&[], 50), None);
    }

    #[test]
    fn throughput_counts_only_successes_over_the_window() {
        let m = Measurement::new(
            "ListTasks",
            Duration::from_secs(2),
            vec![300, 100, 200],
            4,
            Some("HTTP 400".into()),
            0,
        );
        assert_eq!(m.requests, 3);
        assert_eq!(m.requests_per_sec, 1.5);
        assert_eq!(m.p50_ms, Some(0.2));
        assert_eq!(m.p99_ms, Some(0.3));
        assert_eq!(m.errors, 4);
    }

    #[test]
    fn the_table_shows_dashes_when_nothing_succeeded() {
        let m = Measurement::new(
            "DescribeServices",
            Duration::from_secs(1),
            vec![],
            7,
            None,
            9,
        );
        let table = table(&[m]);
        let row = table.lines().nth(1).unwrap();
        assert_eq!(
            row.split_whitespace().collect::<Vec<_>>(),
            ["DescribeServices", "0.0", "-", "-", "7", "9"]
        );
    }
}
