//! Target health as an Application Load Balancer tracks it: thresholds of consecutive
//! results, states and reason codes, and the matcher for healthy response codes.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub path: String,
    /// `None` checks the traffic port.
    pub port: Option<u16>,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub matcher: Matcher,
}

impl Default for HealthCheck {
    /// ALB's defaults for an HTTP target group.
    fn default() -> Self {
        Self {
            path: "/".into(),
            port: None,
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            matcher: Matcher::parse("200").expect("literal matcher"),
        }
    }
}

/// Healthy HTTP codes: `"200"`, `"200,202"`, `"200-299"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher(Vec<(u16, u16)>);

impl Matcher {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for part in spec.split(',').map(str::trim) {
            let (low, high) = part.split_once('-').unwrap_or((part, part));
            let low: u16 = low
                .trim()
                .parse()
                .map_err(|_| format!("{part:?} is not an HTTP code or range"))?;
            let high: u16 = high
                .trim()
                .parse()
                .map_err(|_| format!("{part:?} is not an HTTP code or range"))?;
            if !(200..=499).contains(&low) || !(200..=499).contains(&high) || low > high {
                return Err(format!("{part:?}: codes must be between 200 and 499"));
            }
            ranges.push((low, high));
        }
        Ok(Self(ranges))
    }

    pub fn accepts(&self, code: u16) -> bool {
        self.0
            .iter()
            .any(|(low, high)| (*low..=*high).contains(&code))
    }
}

/// ALB's target states (`TargetHealth.State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Initial,
    Healthy,
    Unhealthy,
    Draining,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Initial => "initial",
            State::Healthy => "healthy",
            State::Unhealthy => "unhealthy",
            State::Draining => "draining",
        }
    }
}

/// What one health check saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    WrongCode(u16),
    Timeout,
    Failed,
}

/// One target's health, moved by check outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    pub state: State,
    passes: u32,
    failures: u32,
    /// ALB's reason code for a state other than healthy.
    pub reason: Option<&'static str>,
    /// Registered again after the balancer restarted, having served before: one pass makes
    /// it healthy (see [`Tracker::recovered`]).
    recovered: bool,
}

impl Default for Tracker {
    fn default() -> Self {
        Self {
            state: State::Initial,
            passes: 0,
            failures: 0,
            reason: Some("Elb.InitialHealthChecking"),
            recovered: false,
        }
    }
}

impl Tracker {
    /// A target the balancer held before it restarted (its task still runs): `initial`
    /// like any other, but healthy again at its first passing check instead of after the
    /// healthy threshold's, so that a restart of the server costs its services one check,
    /// not threshold × interval of refused requests. A failure makes it an ordinary target.
    pub fn recovered() -> Self {
        Self {
            recovered: true,
            ..Self::default()
        }
    }

    /// Moves the state by one probe's outcome; true when the state changed.
    pub fn observe(&mut self, outcome: Outcome, check: &HealthCheck) -> bool {
        let before = self.state;
        self.judge(outcome, check);
        self.state != before
    }

    fn judge(&mut self, outcome: Outcome, check: &HealthCheck) {
        if self.state == State::Draining {
            return;
        }
        if outcome == Outcome::Passed {
            self.passes += 1;
            self.failures = 0;
            if self.passes >= check.healthy_threshold || self.recovered {
                self.recovered = false;
                self.state = State::Healthy;
                self.reason = None;
            }
            return;
        }
        self.failures += 1;
        self.passes = 0;
        self.recovered = false;
        // A target that never passed leaves `initial` as soon as it fails enough; a healthy
        // one needs the unhealthy threshold too.
        if self.failures >= check.unhealthy_threshold {
            self.state = State::Unhealthy;
            self.reason = Some(match outcome {
                Outcome::WrongCode(_) => "Target.ResponseCodeMismatch",
                Outcome::Timeout => "Target.Timeout",
                _ => "Target.FailedHealthChecks",
            });
        }
    }

    pub fn drain(&mut self) {
        self.state = State::Draining;
        self.reason = Some("Target.DeregistrationInProgress");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(healthy: u32, unhealthy: u32) -> HealthCheck {
        HealthCheck {
            healthy_threshold: healthy,
            unhealthy_threshold: unhealthy,
            ..HealthCheck::default()
        }
    }

    #[test]
    fn a_recovered_target_is_healthy_at_its_first_pass_unless_it_failed_first() {
        let c = check(5, 2);
        let mut t = Tracker::recovered();
        assert_eq!(
            (t.state, t.reason),
            (State::Initial, Some("Elb.InitialHealthChecking"))
        );
        assert!(t.observe(Outcome::Passed, &c));
        assert_eq!(t.state, State::Healthy);

        let mut t = Tracker::recovered();
        t.observe(Outcome::Timeout, &c);
        for _ in 0..4 {
            t.observe(Outcome::Passed, &c);
        }
        assert_eq!(
            t.state,
            State::Initial,
            "an ordinary target after a failure"
        );
        t.observe(Outcome::Passed, &c);
        assert_eq!(t.state, State::Healthy);
    }

    #[test]
    fn thresholds_move_the_state() {
        let c = check(2, 3);
        let mut t = Tracker::default();
        assert_eq!(t.state, State::Initial);
        assert!(
            !t.observe(Outcome::Passed, &c),
            "one pass changes nothing yet"
        );
        assert_eq!(t.state, State::Initial);
        assert!(
            t.observe(Outcome::Passed, &c),
            "the second turns it healthy"
        );
        assert_eq!(t.state, State::Healthy);
        assert!(!t.observe(Outcome::Passed, &c), "healthy stays healthy");
        t.observe(Outcome::Timeout, &c);
        t.observe(Outcome::Timeout, &c);
        assert_eq!(t.state, State::Healthy, "below the unhealthy threshold");
        t.observe(Outcome::Passed, &c);
        t.observe(Outcome::WrongCode(500), &c);
        t.observe(Outcome::WrongCode(500), &c);
        assert!(
            t.observe(Outcome::WrongCode(500), &c),
            "the third failure turns it"
        );
        assert_eq!(
            (t.state, t.reason),
            (State::Unhealthy, Some("Target.ResponseCodeMismatch"))
        );
    }

    #[test]
    fn draining_is_final() {
        let c = check(1, 1);
        let mut t = Tracker::default();
        t.observe(Outcome::Passed, &c);
        t.drain();
        t.observe(Outcome::Passed, &c);
        assert_eq!(
            (t.state, t.reason),
            (State::Draining, Some("Target.DeregistrationInProgress"))
        );
    }

    #[test]
    fn matchers_read_codes_lists_and_ranges() {
        let m = Matcher::parse("200-299, 302").unwrap();
        assert!(m.accepts(204) && m.accepts(302) && !m.accepts(301) && !m.accepts(500));
        for bad in ["", "abc", "100", "600", "300-200", "200-"] {
            assert!(Matcher::parse(bad).is_err(), "{bad}");
        }
    }
}
