//! What the running tasks use, sampled every few seconds and sent to the server
//! (`POST /agent/v1/usage`) in reports of at most [`MAX_TASKS_PER_USAGE_REPORT`] tasks.
//!
//! Each container's [`Usage`] is read through the runtime; CPU becomes ECS's units (1,024 a
//! core) as the rate between a container's last two readings (or, on the first reading of a
//! container started moments ago, since its start), memory becomes MiB, and a
//! task's containers are added up. The arithmetic ([`cpu_units`], [`by_task`]) is pure. A
//! report that fails is not sent again: the next sample supersedes it. The latest readings
//! stay here for the agent's `/metrics` ([`crate::metrics`]).

use berth_client::endpoint::Endpoint;
use berth_model::agent::{
    DesiredTask, TaskUsage, UsageReport, UsageResponse, MAX_TASKS_PER_USAGE_REPORT,
};
use berth_model::resources::Timestamp;
use berth_runtime::{Runtime, Usage};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::identity::{Identity, Registered};
use crate::{Observed, State};

/// How often the agent samples unless told otherwise.
pub const DEFAULT_SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// How long before each multiple of the sampling interval (in wall-clock time) a sample is
/// taken at the latest: the server puts what the agents reported half a second after each of
/// its 5-second periods, so a sample taken before a period ends is in that period's datapoint.
const SAMPLE_LEAD: Duration = Duration::from_millis(750);

/// CPU units in one core, as ECS counts them.
pub const UNITS_PER_CORE: f64 = 1024.0;

/// One running container the sampler reads.
#[derive(Clone, Debug, PartialEq)]
pub struct Sampled {
    pub task_arn: String,
    pub task_id: String,
    pub family: String,
    pub container_name: String,
    pub runtime_id: String,
    pub started_at: Timestamp,
}

/// A container's latest reading, as the agent's `/metrics` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    pub container: Sampled,
    pub usage: Usage,
    /// CPU units over the last interval (on the first reading, since the container started, if
    /// that was recent); `None` otherwise.
    pub cpu_units: Option<f64>,
}

/// CPU units used on average between two readings of one container, taken `elapsed` apart.
/// `None` when no time passed or the counter went back (the container was replaced).
pub fn cpu_units(before: Duration, now: Duration, elapsed: Duration) -> Option<f64> {
    if elapsed.is_zero() || now < before {
        return None;
    }
    Some((now - before).as_secs_f64() / elapsed.as_secs_f64() * UNITS_PER_CORE)
}

/// The CPU units of a container's first reading, taken `since_start` seconds after it
/// started: its average since then, so that a task burning from its start is seen one sample
/// earlier. `None` for a container that started more than two samples ago (the agent was
/// restarted: its lifetime's average says little about now), or less than a fifth of a sample
/// ago (its start-up alone would make the figure).
pub fn first_cpu_units(cpu_time: Duration, since_start: f64, every: Duration) -> Option<f64> {
    let every = every.as_secs_f64();
    if !(since_start >= every / 5.0 && since_start <= 2.0 * every) {
        return None;
    }
    cpu_units(
        Duration::ZERO,
        cpu_time,
        Duration::from_secs_f64(since_start),
    )
}

/// Where in each interval a machine samples, in `[0, 1)`: a fixed share of the interval's
/// spread, from its instance ARN. A thousand machines sampling at the same instant would all
/// report to the server in the same few milliseconds; spread over the interval, they report
/// a few at a time.
pub fn phase_of(instance_arn: &str) -> f64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    instance_arn.hash(&mut hasher);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// How long from `now` (seconds since the epoch) until the next sample is due: before the next
/// multiple of `every` by [`SAMPLE_LEAD`] (half of `every`, when that is shorter) and `phase`
/// of what is left of the interval once a lead is kept at its start too, so that every
/// sample lands between two of the server's puts and is at most one interval old at the next.
pub fn until_next_sample(now: f64, every: Duration, phase: f64) -> Duration {
    let every = every.as_secs_f64();
    if every <= 0.0 {
        return Duration::ZERO;
    }
    let lead = SAMPLE_LEAD.as_secs_f64().min(every / 2.0);
    let spread = (every - 2.0 * lead) * phase.clamp(0.0, 1.0);
    let shifted = now + lead + spread;
    let next = (shifted / every).floor() * every + every;
    Duration::from_secs_f64((next - shifted).clamp(0.0, every))
}

/// The readings added up by task, in the order tasks first appear: CPU from the containers
/// that have a rate (`None` if none has), memory in MiB from all.
pub fn by_task(readings: &[Reading], sampled_at: f64) -> Vec<TaskUsage> {
    let mut tasks: Vec<TaskUsage> = Vec::new();
    let mut position: HashMap<&str, usize> = HashMap::with_capacity(readings.len());
    for reading in readings {
        let memory_mib = reading.usage.memory_bytes as f64 / f64::from(1u32 << 20);
        match position
            .get(reading.container.task_arn.as_str())
            .map(|&i| &mut tasks[i])
        {
            Some(task) => {
                task.memory_mib += memory_mib;
                task.cpu_units = match (task.cpu_units, reading.cpu_units) {
                    (Some(a), Some(b)) => Some(a + b),
                    (a, b) => a.or(b),
                };
            }
            None => {
                position.insert(&reading.container.task_arn, tasks.len());
                tasks.push(TaskUsage {
                    task_arn: reading.container.task_arn.clone(),
                    cpu_units: reading.cpu_units,
                    memory_mib,
                    sampled_at,
                });
            }
        }
    }
    tasks
}

/// The running containers of wanted tasks, which the sampler reads.
pub fn running(desired: &[DesiredTask], seen: &[Observed]) -> Vec<Sampled> {
    let tasks: HashMap<&str, &DesiredTask> =
        desired.iter().map(|t| (t.task_id.as_str(), t)).collect();
    seen.iter()
        .filter_map(|o| {
            let State::Running { started_at } = o.state else {
                return None;
            };
            let task = tasks.get(o.task_id.as_str())?;
            Some(Sampled {
                task_arn: task.task_arn.clone(),
                task_id: task.task_id.clone(),
                family: task.family.clone(),
                container_name: o.container_name.clone(),
                runtime_id: o.runtime_id.clone(),
                started_at,
            })
        })
        .collect()
}

/// Counts of what the sampler did, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counts {
    pub samples: AtomicU64,
    pub reports_sent: AtomicU64,
    pub reports_failed: AtomicU64,
    pub readings_failed: AtomicU64,
}

/// The sampler's handle: tell it what runs ([`Sampler::follow`]) and read what it saw.
pub struct Sampler {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    server: Endpoint,
    identity: Identity,
    containers: Mutex<Vec<Sampled>>,
    latest: Mutex<Vec<Reading>>,
    counts: Counts,
}

impl Sampler {
    /// Starts sampling every `every`; it stops when the handle is dropped.
    pub fn start<R: Runtime>(
        runtime: Arc<R>,
        server: Endpoint,
        identity: Identity,
        every: Duration,
    ) -> Sampler {
        let shared = Arc::new(Shared {
            server,
            identity,
            containers: Mutex::default(),
            latest: Mutex::default(),
            counts: Counts::default(),
        });
        let task = tokio::spawn(sample_loop(runtime, Arc::clone(&shared), every));
        Sampler { shared, task }
    }

    /// What runs now: the next sample reads these containers.
    pub fn follow(&self, desired: &[DesiredTask], seen: &[Observed]) {
        *lock(&self.shared.containers) = running(desired, seen);
    }

    /// A reader of the latest readings and the counts, for `/metrics`.
    pub fn view(&self) -> UsageView {
        UsageView {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What `/metrics` reads of the sampler.
#[derive(Clone)]
pub struct UsageView {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for UsageView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageView").finish_non_exhaustive()
    }
}

impl UsageView {
    pub fn latest(&self) -> Vec<Reading> {
        lock(&self.shared.latest).clone()
    }

    pub fn counts(&self) -> &Counts {
        &self.shared.counts
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

async fn sample_loop<R: Runtime>(runtime: Arc<R>, shared: Arc<Shared>, every: Duration) {
    // Each container's last reading and when it was taken.
    let mut before: HashMap<String, (Instant, Duration)> = HashMap::new();
    let phase = phase_of(&shared.identity.get().instance_arn);
    loop {
        // From the wall clock each time, so that the samples stay on its grid after a slow
        // sample, a clock step or a paused machine.
        tokio::time::sleep(until_next_sample(berth_time::now(), every, phase)).await;
        let containers = lock(&shared.containers).clone();
        let mut readings = Vec::with_capacity(containers.len());
        let mut read_now = HashMap::with_capacity(containers.len());
        for container in containers {
            let usage = match runtime.usage(&container.runtime_id).await {
                Ok(usage) => usage,
                Err(e) => {
                    shared
                        .counts
                        .readings_failed
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(container = %container.runtime_id, error = %e, "usage reading failed");
                    continue;
                }
            };
            let at = Instant::now();
            let rate = match before.get(&container.runtime_id) {
                Some((then, cpu)) => cpu_units(*cpu, usage.cpu_time, at - *then),
                None => first_cpu_units(
                    usage.cpu_time,
                    berth_time::now() - container.started_at,
                    every,
                ),
            };
            read_now.insert(container.runtime_id.clone(), (at, usage.cpu_time));
            readings.push(Reading {
                container,
                usage,
                cpu_units: rate,
            });
        }
        // Containers no longer running are forgotten.
        before = read_now;
        shared.counts.samples.fetch_add(1, Ordering::Relaxed);
        let tasks = by_task(&readings, berth_time::now());
        *lock(&shared.latest) = readings;
        send(&shared, tasks).await;
    }
}

/// Sends the tasks' usage in reports of at most [`MAX_TASKS_PER_USAGE_REPORT`].
async fn send(shared: &Shared, tasks: Vec<TaskUsage>) {
    let Registered {
        instance_arn,
        agent_key,
    } = shared.identity.get();
    for chunk in tasks.chunks(MAX_TASKS_PER_USAGE_REPORT) {
        let report = UsageReport {
            container_instance_arn: instance_arn.clone(),
            tasks: chunk.to_vec(),
        };
        let sent = crate::node::call::<_, UsageResponse>(
            &shared.server,
            "/agent/v1/usage",
            &agent_key,
            &report,
            Duration::from_secs(10),
        )
        .await;
        match sent {
            Ok(_) => shared.counts.reports_sent.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                tracing::debug!(error = %e, "usage report failed; the next sample supersedes it");
                shared.counts.reports_failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_units_are_a_rate_per_core() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        for (before, now, elapsed, expected) in [
            // One core busy for the whole interval.
            (s(10), s(15), s(5), Some(1024.0)),
            // Two cores.
            (s(0), s(10), s(5), Some(2048.0)),
            // A quarter of a core.
            (s(1), ms(2250), s(5), Some(256.0)),
            (s(3), s(3), s(5), Some(0.0)),
            // The counter went back: a new container under the same id.
            (s(9), s(1), s(5), None),
            (s(1), s(2), Duration::ZERO, None),
        ] {
            assert_eq!(
                cpu_units(before, now, elapsed),
                expected,
                "{before:?} → {now:?} in {elapsed:?}"
            );
        }
    }

    #[test]
    fn samples_fall_before_each_multiple_of_the_interval_by_the_machines_phase() {
        let five = Duration::from_secs(5);
        for (now, every, phase, expected) in [
            (1000.0, five, 0.0, 4.25),
            (1004.0, five, 0.0, 0.25),
            (1004.25, five, 0.0, 5.0),
            (1004.5, five, 0.0, 4.75),
            (1002.0, Duration::from_secs(1), 0.0, 0.5),
            // The latest lead is 0.75 s, the earliest 4.25 s: half-way is 2.5 s before.
            (1000.0, five, 0.5, 2.5),
            (1000.0, five, 1.0, 0.75),
            (1001.0, five, 1.0, 4.75),
            // No room to spread in a one-second interval.
            (1002.0, Duration::from_secs(1), 0.7, 0.5),
        ] {
            let got = until_next_sample(now, every, phase).as_secs_f64();
            assert!(
                (got - expected).abs() < 1e-9,
                "{now} every {every:?} phase {phase}: {got}"
            );
        }
    }

    #[test]
    fn machines_sample_at_phases_spread_over_the_interval() {
        let phases: Vec<f64> = (0..1000)
            .map(|i| {
                phase_of(&format!(
                    "arn:aws:ecs:us-east-1:1:container-instance/c/{i:032x}"
                ))
            })
            .collect();
        assert!(phases.iter().all(|p| (0.0..1.0).contains(p)));
        let mut tenths = [0usize; 10];
        for phase in &phases {
            tenths[(phase * 10.0) as usize] += 1;
        }
        assert!(
            tenths.iter().all(|&n| (50..=150).contains(&n)),
            "phases by tenth of the interval: {tenths:?}"
        );
        assert_eq!(phase_of("a"), phase_of("a"));
    }

    #[test]
    fn a_first_reading_of_a_fresh_container_averages_since_its_start() {
        let every = Duration::from_secs(5);
        let s = Duration::from_secs;
        for (cpu_time, since_start, expected) in [
            (s(2), 2.0, Some(1024.0)),
            (s(1), 4.0, Some(256.0)),
            // Up to two samples after the start.
            (s(10), 10.0, Some(1024.0)),
            (s(11), 11.0, None),
            // Too soon after the start to say anything but how it started.
            (Duration::from_millis(30), 0.05, None),
            (s(1), 1.0, Some(1024.0)),
            // Clocks that disagree: the start seems to lie ahead.
            (s(1), 0.0, None),
            (s(1), -3.0, None),
        ] {
            assert_eq!(
                first_cpu_units(cpu_time, since_start, every),
                expected,
                "{cpu_time:?} in {since_start} s"
            );
        }
    }

    fn reading(task: &str, container: &str, cpu: Option<f64>, memory_mib: u64) -> Reading {
        Reading {
            container: Sampled {
                task_arn: format!("arn:task/{task}"),
                task_id: task.to_string(),
                family: "web".to_string(),
                container_name: container.to_string(),
                runtime_id: format!("{task}-{container}"),
                started_at: 1_700_000_000.0,
            },
            usage: Usage {
                cpu_time: Duration::ZERO,
                memory_bytes: memory_mib << 20,
            },
            cpu_units: cpu,
        }
    }

    #[test]
    fn tasks_add_up_their_containers() {
        let readings = [
            reading("t1", "app", Some(512.0), 100),
            reading("t2", "app", None, 10),
            reading("t1", "sidecar", Some(12.0), 28),
            reading("t3", "app", None, 1),
            reading("t3", "sidecar", Some(5.0), 1),
        ];
        let tasks = by_task(&readings, 1000.0);
        let summary: Vec<(&str, Option<f64>, f64)> = tasks
            .iter()
            .map(|t| (t.task_arn.as_str(), t.cpu_units, t.memory_mib))
            .collect();
        assert_eq!(
            summary,
            [
                ("arn:task/t1", Some(524.0), 128.0),
                ("arn:task/t2", None, 10.0),
                ("arn:task/t3", Some(5.0), 2.0),
            ]
        );
        assert!(tasks.iter().all(|t| t.sampled_at == 1000.0));
    }
}
