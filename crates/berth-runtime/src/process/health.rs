//! Health checks the process runtime runs itself, with Docker's (and so ECS's) semantics:
//! the first probe one interval after the start, then one interval after each probe; a pass
//! makes the container HEALTHY at once (also during the start period); a failure counts only
//! after the start period, and `retries` consecutive counted failures make it UNHEALTHY.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::watch;

use super::{proc_alive, Exit};
use crate::{Health, HealthCheck, HealthCommand};

/// The decision part of a health check, without processes or clocks.
pub(crate) struct HealthTracker {
    retries: u32,
    failures: u32,
    health: Health,
}

impl HealthTracker {
    pub fn new(retries: u32) -> HealthTracker {
        HealthTracker {
            retries: retries.max(1),
            failures: 0,
            health: Health::Unknown,
        }
    }

    pub fn observe(&mut self, passed: bool, in_start_period: bool) -> Health {
        if passed {
            self.failures = 0;
            self.health = Health::Healthy;
        } else if !in_start_period {
            self.failures += 1;
            if self.failures >= self.retries {
                self.health = Health::Unhealthy;
            }
        }
        self.health
    }
}

/// What a probe runs with: the container's own environment, directory and user, as Docker
/// runs a health check inside the container.
#[derive(Clone)]
pub(crate) struct ExecContext {
    pub environment: Vec<(String, String)>,
    pub working_directory: String,
    pub user: Option<(u32, u32)>,
}

/// How the monitor learns that the container has gone, which ends it.
pub(crate) enum Liveness {
    /// A child of this process: its waiter reports the exit.
    Child(watch::Receiver<Option<Exit>>),
    /// An adopted process, identified by pid and start time.
    Adopted { pid: i32, start_ticks: u64 },
}

impl Liveness {
    fn alive(&self) -> bool {
        match self {
            Liveness::Child(exit) => exit.borrow().is_none(),
            Liveness::Adopted { pid, start_ticks } => proc_alive(*pid, *start_ticks),
        }
    }
}

pub(crate) async fn monitor(
    check: HealthCheck,
    context: ExecContext,
    started_at: f64,
    liveness: Liveness,
    health: watch::Sender<Health>,
) {
    let Some(argv) = argv(&check.command) else {
        // Docker runs no check for such a command, so neither does this runtime: the
        // container's health stays UNKNOWN.
        tracing::warn!(
            command = ?check.command,
            "the health check command starts with neither CMD nor CMD-SHELL, so no check runs"
        );
        return;
    };
    let mut tracker = HealthTracker::new(check.retries);
    loop {
        tokio::time::sleep(check.interval).await;
        if !liveness.alive() {
            return;
        }
        let passed = probe(&argv, &context, check.timeout).await;
        let in_start_period = berth_time::now() - started_at < check.start_period.as_secs_f64();
        health.send_replace(tracker.observe(passed, in_start_period));
    }
}

/// What a check runs, or `None` when Docker would run nothing for it.
fn argv(command: &HealthCommand) -> Option<Vec<String>> {
    match command {
        HealthCommand::Exec(argv) => Some(argv.clone()),
        HealthCommand::Shell(script) => Some(vec!["/bin/sh".into(), "-c".into(), script.clone()]),
        HealthCommand::NoCheck(_) => None,
    }
}

async fn probe(argv: &[String], context: &ExecContext, timeout: Duration) -> bool {
    let Some((program, args)) = argv.split_first() else {
        return false;
    };
    let mut process = Command::new(program);
    process
        .args(args)
        .env_clear()
        .envs(context.environment.iter().map(|(k, v)| (k, v)))
        .current_dir(&context.working_directory)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // A probe that outlives its timeout is killed, as Docker does.
        .kill_on_drop(true);
    if let Some((uid, gid)) = context.user {
        process.uid(uid).gid(gid);
    }
    let Ok(mut child) = process.spawn() else {
        return false;
    };
    matches!(
        tokio::time::timeout(timeout, child.wait()).await,
        Ok(Ok(status)) if status.success()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_only_after_the_start_period() {
        let mut tracker = HealthTracker::new(2);
        assert_eq!(tracker.observe(false, true), Health::Unknown);
        assert_eq!(tracker.observe(false, true), Health::Unknown);
        assert_eq!(tracker.observe(false, false), Health::Unknown);
        assert_eq!(tracker.observe(false, false), Health::Unhealthy);
    }

    #[test]
    fn a_pass_counts_at_once_even_in_the_start_period() {
        let mut tracker = HealthTracker::new(3);
        assert_eq!(tracker.observe(true, true), Health::Healthy);
    }

    #[test]
    fn healthy_survives_fewer_than_retries_failures_and_recovers() {
        let mut tracker = HealthTracker::new(3);
        tracker.observe(true, false);
        assert_eq!(tracker.observe(false, false), Health::Healthy);
        assert_eq!(tracker.observe(false, false), Health::Healthy);
        assert_eq!(tracker.observe(true, false), Health::Healthy);
        assert_eq!(tracker.observe(false, false), Health::Healthy);
        assert_eq!(tracker.observe(false, false), Health::Healthy);
        assert_eq!(tracker.observe(false, false), Health::Unhealthy);
        assert_eq!(tracker.observe(true, false), Health::Healthy);
    }

    #[test]
    fn zero_retries_behaves_as_one() {
        let mut tracker = HealthTracker::new(0);
        assert_eq!(tracker.observe(false, false), Health::Unhealthy);
    }

    #[tokio::test]
    async fn probes_run_with_the_container_environment_and_time_out() {
        let context = ExecContext {
            environment: vec![("MARKER".into(), "yes".into())],
            working_directory: "/".into(),
            user: None,
        };
        let shell = |script: &str| argv(&HealthCommand::Shell(script.into())).unwrap();
        let second = Duration::from_secs(1);
        assert!(probe(&shell("[ \"$MARKER\" = yes ]"), &context, second).await);
        assert!(!probe(&shell("exit 1"), &context, second).await);
        assert!(!probe(&shell("sleep 5"), &context, Duration::from_millis(50)).await);
        assert!(!probe(&["/nonexistent/berth-probe".into()], &context, second).await);
        assert!(!probe(&[], &context, second).await);
        let no_check = HealthCommand::NoCheck(vec!["true".into()]);
        assert_eq!(argv(&no_check), None);
    }
}
