//! What running tasks use, as their agents last reported it (`POST /agent/v1/usage`), kept in
//! memory only — it is not state, and a restarted server has it again within one sampling
//! interval — and what services use of what they reserve, as ECS computes `CPUUtilization`
//! and `MemoryUtilization`:
//!
//! ```text
//! utilization = 100 × Σ used by the service's tasks / Σ reserved by those tasks
//! ```
//!
//! where a task reserves its task-level `cpu` and `memory`, or else what its containers
//! reserve (as recorded on the task when it was created). A task using more than it reserved
//! pushes the figure above 100. A service whose reporting tasks reserve no CPU has no CPU
//! utilization, as nothing can be a percentage of zero.
//!
//! Readers: [`Usage::service_utilization`] for one service (what `control::ecs_metrics` puts
//! into CloudWatch), [`Usage::services`] for every service (`/metrics`), and
//! [`Usage::drain`], the services that reported since it was last asked, for the one consumer
//! that keeps series. Every figure
//! counts only samples younger than [`FRESH_FOR_SECONDS`], so a task that stopped (or whose
//! agent went quiet) stops counting; its entry goes at the next report after that.

use crate::ecs::names;
use berth_model::agent::{TaskUsage, UsageReport, MAX_TASKS_PER_USAGE_REPORT};
use berth_model::resources::Task;
use berth_model::ApiError;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

/// How long a task's latest sample counts: a few sampling intervals at the default 5 s.
pub const FRESH_FOR_SECONDS: f64 = 30.0;

/// A service, by cluster name and service name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    pub cluster: String,
    pub service: String,
}

/// What a task reserves: CPU units and MiB.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Reserved {
    pub cpu_units: f64,
    pub memory_mib: f64,
}

/// One task's sample with what the task reserves.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskSample {
    pub usage: TaskUsage,
    pub reserved: Reserved,
}

/// A service's use of what its tasks reserve, in percent, from the tasks that reported.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Utilization {
    /// `None` when the reporting tasks reserve no CPU or none has a CPU rate yet.
    pub cpu_percent: Option<f64>,
    /// `None` when the reporting tasks reserve no memory.
    pub memory_percent: Option<f64>,
    pub cpu_units_used: f64,
    pub memory_mib_used: f64,
    /// How many tasks' samples went into it.
    pub tasks: usize,
}

/// ECS's service utilization over the samples of one service's tasks.
pub fn utilization<'a>(samples: impl IntoIterator<Item = &'a TaskSample>) -> Utilization {
    let mut sums = Utilization::default();
    let (mut cpu_reserved, mut memory_reserved) = (0.0, 0.0);
    let mut any_cpu_rate = false;
    for sample in samples {
        sums.tasks += 1;
        memory_reserved += sample.reserved.memory_mib;
        sums.memory_mib_used += sample.usage.memory_mib;
        // A task's first sample has no rate yet: it counts for neither side of the CPU sum.
        if let Some(units) = sample.usage.cpu_units {
            any_cpu_rate = true;
            cpu_reserved += sample.reserved.cpu_units;
            sums.cpu_units_used += units;
        }
    }
    let percent = |used: f64, reserved: f64| (reserved > 0.0).then(|| 100.0 * used / reserved);
    sums.cpu_percent = any_cpu_rate
        .then(|| percent(sums.cpu_units_used, cpu_reserved))
        .flatten();
    sums.memory_percent = percent(sums.memory_mib_used, memory_reserved);
    sums
}

/// What a stored task reserves, as recorded when it was created.
pub fn reserved(task: &Task) -> Reserved {
    let read = |v: &Option<String>| v.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    Reserved {
        cpu_units: read(&task.cpu),
        memory_mib: read(&task.memory),
    }
}

/// The latest usage of every reporting task, by service.
#[derive(Default)]
pub struct Usage {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// By task ARN: whose service it is (`None` for a task of no service) and its sample.
    tasks: HashMap<String, Entry>,
    /// Each service's tasks that reported.
    services: HashMap<ServiceKey, HashSet<String>>,
    /// Task ARNs in the order their samples came, to find the stale ones without a scan.
    arrivals: VecDeque<(f64, String)>,
    /// The services whose tasks reported since the last [`Usage::drain`]: as many as there
    /// are services, however long nothing drains.
    reported: HashSet<ServiceKey>,
}

struct Entry {
    service: Option<ServiceKey>,
    instance_arn: String,
    received_at: f64,
    sample: TaskSample,
}

impl Usage {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        // Each update leaves the maps consistent before it can panic.
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Keeps what one agent reported at `now`; tasks not placed on its instance are left
    /// out. A task seen for the first time costs one `read` of its stored record (for its
    /// service and reservation); later samples cost none. Returns how many tasks were kept.
    pub fn record<E>(
        &self,
        now: f64,
        instance_arn: &str,
        report: &UsageReport,
        mut read: impl FnMut(&str) -> Result<Option<Task>, E>,
    ) -> Result<usize, E>
    where
        E: From<ApiError>,
    {
        if report.tasks.len() > MAX_TASKS_PER_USAGE_REPORT {
            return Err(E::from(ApiError::invalid(format!(
                "tasks: a usage report carries at most {MAX_TASKS_PER_USAGE_REPORT} tasks, this one {}; send several",
                report.tasks.len()
            ))));
        }
        let unknown: Vec<&TaskUsage> = {
            let inner = self.inner();
            report
                .tasks
                .iter()
                .filter(|t| !inner.tasks.contains_key(&t.task_arn))
                .collect()
        };
        let mut looked_up = HashMap::new();
        for usage in unknown {
            let Some(task) = read(&usage.task_arn)? else {
                continue;
            };
            let on_instance = task.container_instance_arn.as_deref() == Some(instance_arn);
            if task.task_arn != usage.task_arn || !on_instance {
                continue;
            }
            let service = names::service_of(&task.group).map(|name| ServiceKey {
                cluster: names::cluster_of_arn(&task.cluster_arn).to_string(),
                service: name.to_string(),
            });
            looked_up.insert(usage.task_arn.clone(), (service, reserved(&task)));
        }
        let mut inner = self.inner();
        let mut kept = 0;
        for usage in &report.tasks {
            let known = match inner.tasks.get(&usage.task_arn) {
                Some(entry) if entry.instance_arn == instance_arn => {
                    Some((entry.service.clone(), entry.sample.reserved))
                }
                Some(_) => None,
                None => looked_up.remove(&usage.task_arn),
            };
            let Some((service, reserved)) = known else {
                continue;
            };
            let sample = TaskSample {
                usage: usage.clone(),
                reserved,
            };
            if let Some(service) = &service {
                inner
                    .services
                    .entry(service.clone())
                    .or_default()
                    .insert(usage.task_arn.clone());
                inner.reported.insert(service.clone());
            }
            inner.arrivals.push_back((now, usage.task_arn.clone()));
            inner.tasks.insert(
                usage.task_arn.clone(),
                Entry {
                    service,
                    instance_arn: instance_arn.to_string(),
                    received_at: now,
                    sample,
                },
            );
            kept += 1;
        }
        inner.forget_stale(now);
        Ok(kept)
    }

    /// The service's utilization from its tasks' fresh samples; `None` when none reported.
    pub fn service_utilization(
        &self,
        cluster: &str,
        service: &str,
        now: f64,
    ) -> Option<Utilization> {
        let key = ServiceKey {
            cluster: cluster.to_string(),
            service: service.to_string(),
        };
        let inner = self.inner();
        let samples = inner.fresh_samples(&key, now);
        (!samples.is_empty()).then(|| utilization(samples))
    }

    /// Every service with fresh samples, with its utilization.
    pub fn services(&self, now: f64) -> BTreeMap<ServiceKey, Utilization> {
        let inner = self.inner();
        inner
            .services
            .keys()
            .filter_map(|key| {
                let samples = inner.fresh_samples(key, now);
                (!samples.is_empty()).then(|| (key.clone(), utilization(samples)))
            })
            .collect()
    }

    /// The services whose tasks reported since the last drain.
    pub fn drain(&self) -> HashSet<ServiceKey> {
        std::mem::take(&mut self.inner().reported)
    }
}

impl std::fmt::Debug for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Usage").finish_non_exhaustive()
    }
}

impl Inner {
    fn fresh_samples(&self, key: &ServiceKey, now: f64) -> Vec<&TaskSample> {
        self.services
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|arn| self.tasks.get(arn))
            .filter(|entry| now - entry.received_at <= FRESH_FOR_SECONDS)
            .map(|entry| &entry.sample)
            .collect()
    }

    /// Forgets tasks whose latest sample is no longer fresh: only arrivals that old are
    /// looked at, so this costs what came in, not what is kept.
    fn forget_stale(&mut self, now: f64) {
        while let Some((at, _)) = self.arrivals.front() {
            if now - at <= FRESH_FOR_SECONDS {
                break;
            }
            let Some((at, arn)) = self.arrivals.pop_front() else {
                break;
            };
            // A later sample of the same task keeps it.
            if self.tasks.get(&arn).is_some_and(|e| e.received_at == at) {
                if let Some(Entry {
                    service: Some(service),
                    ..
                }) = self.tasks.remove(&arn)
                {
                    if let Some(tasks) = self.services.get_mut(&service) {
                        tasks.remove(&arn);
                        if tasks.is_empty() {
                            self.services.remove(&service);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(cpu_units: Option<f64>, memory_mib: f64, reserved: (f64, f64)) -> TaskSample {
        TaskSample {
            usage: TaskUsage {
                task_arn: "arn".into(),
                cpu_units,
                memory_mib,
                sampled_at: 0.0,
            },
            reserved: Reserved {
                cpu_units: reserved.0,
                memory_mib: reserved.1,
            },
        }
    }

    #[test]
    fn utilization_is_used_over_reserved_as_ecs_computes_it() {
        type Case = (&'static str, Vec<TaskSample>, Option<f64>, Option<f64>);
        let cases: Vec<Case> = vec![
            (
                "one task at half its reservation",
                vec![sample(Some(128.0), 256.0, (256.0, 512.0))],
                Some(50.0),
                Some(50.0),
            ),
            (
                "a task burning a core with 256 units reserved goes above 100",
                vec![sample(Some(1024.0), 64.0, (256.0, 512.0))],
                Some(400.0),
                Some(12.5),
            ),
            (
                "sums over tasks, not an average of percentages",
                vec![
                    sample(Some(1024.0), 100.0, (1024.0, 100.0)),
                    sample(Some(0.0), 100.0, (256.0, 300.0)),
                ],
                Some(80.0),
                Some(50.0),
            ),
            (
                "a first sample has no CPU rate and counts for memory only",
                vec![
                    sample(Some(256.0), 50.0, (512.0, 100.0)),
                    sample(None, 50.0, (512.0, 100.0)),
                ],
                Some(50.0),
                Some(50.0),
            ),
            (
                "no rate at all yet",
                vec![sample(None, 50.0, (512.0, 100.0))],
                None,
                Some(50.0),
            ),
            (
                "nothing reserved: no percentage",
                vec![sample(Some(100.0), 50.0, (0.0, 0.0))],
                None,
                None,
            ),
        ];
        for (name, samples, cpu, memory) in cases {
            let found = utilization(&samples);
            assert_eq!(
                (found.cpu_percent, found.memory_percent),
                (cpu, memory),
                "{name}"
            );
            assert_eq!(found.tasks, samples.len(), "{name}");
        }
    }

    #[test]
    fn reservations_come_from_the_task() {
        let task = Task {
            cpu: Some("256".into()),
            memory: Some("512".into()),
            ..Task::default()
        };
        assert_eq!(
            reserved(&task),
            Reserved {
                cpu_units: 256.0,
                memory_mib: 512.0
            }
        );
        assert_eq!(reserved(&Task::default()), Reserved::default());
    }
}
