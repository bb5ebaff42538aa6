//! An in-memory runtime for agent and reconciler tests: deterministic, instant, and steerable.
//!
//! A fake container behaves the way `berth-testapp` would with the same environment, so specs
//! written for real runtimes mean the same thing here:
//! - `EXIT_CODE=N` (with `EXIT_AFTER_SECS=S`, default 0) exits with N once the fake clock has
//!   advanced S seconds past the start; `CRASH_AFTER_SECS=S` exits with 1 the same way.
//! - A container with a health check is HEALTHY at once, or UNHEALTHY with `FAIL_HEALTH=1`;
//!   one whose command Docker would not run ([`HealthCommand::NoCheck`]) stays UNKNOWN.
//! - `BURN_CPU=1` uses one core for as long as it runs (on the fake clock); every running
//!   container uses [`FAKE_MEMORY_BYTES`] of memory unless
//!   [`set_memory`](FakeRuntime::set_memory) says otherwise.
//! - `stop` exits with 0, or with 137 after the timeout (on the fake clock) when
//!   `IGNORE_SIGTERM=1`.
//!
//! Time only moves through [`FakeRuntime::advance`]. Test controls change the rest:
//! [`exit`](FakeRuntime::exit), [`oom_kill`](FakeRuntime::oom_kill),
//! [`set_health`](FakeRuntime::set_health), [`fail_pull`](FakeRuntime::fail_pull),
//! [`missing_executable`](FakeRuntime::missing_executable), and a container writes what
//! [`write_output`](FakeRuntime::write_output) gives it.
//!
//! Clones share one simulated engine, the way agents restarted on a machine share its Docker
//! daemon: a clone made after containers started adopts them through `list()`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::StreamExt;

use crate::{
    ContainerSpec, ContainerState, ContainerStatus, Health, HealthCommand, Network, NetworkBinding,
    OutputLine, OutputLines, OutputStream, RegistryCredentials, Runtime, RuntimeConfig,
    RuntimeError, Usage,
};

/// The memory a running fake container uses unless a test sets another amount.
pub const FAKE_MEMORY_BYTES: u64 = 4 << 20;

#[derive(Clone)]
pub struct FakeRuntime {
    config: RuntimeConfig,
    engine: Arc<Mutex<Engine>>,
}

struct Engine {
    now: f64,
    next_id: u64,
    next_host_port: u16,
    next_ip: u32,
    containers: BTreeMap<String, FakeContainer>,
    failing_pulls: BTreeMap<String, String>,
    /// Images whose registry wants these credentials.
    private_images: BTreeMap<String, RegistryCredentials>,
    missing_executables: BTreeSet<String>,
}

struct FakeContainer {
    labels: BTreeMap<String, String>,
    status: ContainerStatus,
    /// When (fake clock) and with which code the container exits by itself.
    scheduled_exit: Option<(f64, i64)>,
    ignores_sigterm: bool,
    /// What the container's process was given, for tests to look at.
    environment: Vec<(String, String)>,
    /// What it wrote, positioned by count from 1.
    output: Vec<OutputLine>,
    started_at: f64,
    burns_cpu: bool,
    memory_bytes: u64,
    /// The latest position `output_shipped` was told of.
    shipped: Option<u64>,
}

impl FakeRuntime {
    /// An empty engine whose clock starts at 2023-11-14T22:13:20Z (1 700 000 000 s).
    pub fn new(config: RuntimeConfig) -> FakeRuntime {
        FakeRuntime {
            config,
            engine: Arc::new(Mutex::new(Engine {
                now: 1_700_000_000.0,
                next_id: 1,
                next_host_port: 49153,
                next_ip: u32::from(Ipv4Addr::new(10, 88, 0, 2)),
                containers: BTreeMap::new(),
                failing_pulls: BTreeMap::new(),
                private_images: BTreeMap::new(),
                missing_executables: BTreeSet::new(),
            })),
        }
    }

    /// Another handle on this engine with its own configuration: a second agent sharing the
    /// machine's Docker daemon.
    pub fn sharing_engine(&self, config: RuntimeConfig) -> FakeRuntime {
        FakeRuntime {
            config,
            engine: Arc::clone(&self.engine),
        }
    }

    /// Moves the fake clock forward; containers scheduled to exit by then have exited.
    pub fn advance(&self, by: Duration) {
        let mut engine = self.engine();
        engine.now += by.as_secs_f64();
        let now = engine.now;
        for container in engine.containers.values_mut() {
            if let Some((at, code)) = container.scheduled_exit {
                if at <= now {
                    container.exit(code, false, at);
                }
            }
        }
    }

    /// The fake clock, in epoch seconds.
    pub fn now(&self) -> f64 {
        self.engine().now
    }

    /// Makes a running container exit with `code`, as if its process ended.
    pub fn exit(&self, id: &str, code: i64) -> Result<(), RuntimeError> {
        self.with_running(id, |container, now| container.exit(code, false, now))
    }

    /// Makes a running container exit the way the kernel's OOM killer ends it.
    pub fn oom_kill(&self, id: &str) -> Result<(), RuntimeError> {
        self.with_running(id, |container, now| container.exit(137, true, now))
    }

    /// The memory the container uses from now on, while it runs.
    pub fn set_memory(&self, id: &str, bytes: u64) -> Result<(), RuntimeError> {
        let mut engine = self.engine();
        self.owned(&mut engine, id)?.memory_bytes = bytes;
        Ok(())
    }

    pub fn set_health(&self, id: &str, health: Health) -> Result<(), RuntimeError> {
        let mut engine = self.engine();
        let container = self.owned(&mut engine, id)?;
        container.status.health = health;
        Ok(())
    }

    /// Makes every later `ensure_image(image)` fail with `reason`.
    pub fn fail_pull(&self, image: &str, reason: &str) {
        self.engine()
            .failing_pulls
            .insert(image.to_string(), reason.to_string());
    }

    /// Makes later pulls of `image` fail unless given exactly `credentials`, as a private
    /// registry refuses them.
    pub fn private_image(&self, image: &str, credentials: RegistryCredentials) {
        self.engine()
            .private_images
            .insert(image.to_string(), credentials);
    }

    /// The environment a container's process was started with.
    pub fn environment(&self, id: &str) -> Result<Vec<(String, String)>, RuntimeError> {
        let mut engine = self.engine();
        Ok(self.owned(&mut engine, id)?.environment.clone())
    }

    /// Makes `start` refuse specs whose program (first word of entry point + command) is `path`.
    pub fn missing_executable(&self, path: &str) {
        self.engine().missing_executables.insert(path.to_string());
    }

    /// The latest position the container's output was said to be shipped through.
    pub fn shipped(&self, id: &str) -> Result<Option<u64>, RuntimeError> {
        let mut engine = self.engine();
        Ok(self.owned(&mut engine, id)?.shipped)
    }

    /// The container writes `text` as one line, stamped with the fake clock.
    pub fn write_output(
        &self,
        id: &str,
        stream: OutputStream,
        text: &str,
    ) -> Result<(), RuntimeError> {
        let mut engine = self.engine();
        let written_at_nanos = (engine.now * 1e9) as i64;
        let container = self.owned(&mut engine, id)?;
        let position = container.output.len() as u64 + 1;
        container.output.push(OutputLine {
            position,
            written_at_nanos,
            stream,
            text: text.to_string(),
        });
        Ok(())
    }

    /// A container of this handle's scope; others are invisible, as on the real runtimes.
    fn owned<'e>(
        &self,
        engine: &'e mut Engine,
        id: &str,
    ) -> Result<&'e mut FakeContainer, RuntimeError> {
        engine
            .containers
            .get_mut(id)
            .filter(|c| {
                self.config
                    .owns(|key| c.labels.get(key).map(String::as_str))
            })
            .ok_or_else(|| RuntimeError::NotFound(id.to_string()))
    }

    fn engine(&self) -> MutexGuard<'_, Engine> {
        // A panic elsewhere while holding the lock leaves plain data behind; keep using it.
        self.engine
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn with_running(
        &self,
        id: &str,
        change: impl FnOnce(&mut FakeContainer, f64),
    ) -> Result<(), RuntimeError> {
        let mut engine = self.engine();
        let now = engine.now;
        let container = self.owned(&mut engine, id)?;
        if matches!(container.status.state, ContainerState::Running { .. }) {
            change(container, now);
        }
        Ok(())
    }
}

impl FakeContainer {
    fn exit(&mut self, exit_code: i64, oom_killed: bool, finished_at: f64) {
        self.status.state = ContainerState::Exited {
            exit_code,
            oom_killed,
            finished_at,
            error: None,
        };
        self.scheduled_exit = None;
    }

    fn usage(&self, now: f64) -> Usage {
        let (ran, memory_bytes) = match self.status.state {
            ContainerState::Created => (0.0, 0),
            ContainerState::Running { .. } => (now - self.started_at, self.memory_bytes),
            ContainerState::Exited { finished_at, .. } => (finished_at - self.started_at, 0),
        };
        let cpu_seconds = if self.burns_cpu { ran.max(0.0) } else { 0.0 };
        Usage {
            cpu_time: Duration::from_secs_f64(cpu_seconds),
            memory_bytes,
        }
    }
}

fn env(spec: &ContainerSpec, name: &str) -> Option<String> {
    spec.full_environment()
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

fn seconds(spec: &ContainerSpec, name: &str) -> Result<Option<f64>, RuntimeError> {
    env(spec, name)
        .map(|value| {
            value
                .parse::<f64>()
                .map_err(|_| RuntimeError::InvalidSpec(format!("{name}={value:?} is not a number")))
        })
        .transpose()
}

impl Runtime for FakeRuntime {
    fn name(&self) -> &'static str {
        "fake"
    }

    async fn ensure_image(
        &self,
        image: &str,
        credentials: Option<&RegistryCredentials>,
    ) -> Result<(), RuntimeError> {
        let engine = self.engine();
        let cannot_pull = |reason: &str| RuntimeError::CannotPull {
            image: image.to_string(),
            reason: reason.to_string(),
        };
        if let Some(reason) = engine.failing_pulls.get(image) {
            return Err(cannot_pull(reason));
        }
        match (engine.private_images.get(image), credentials) {
            (Some(_), None) => Err(cannot_pull("no basic auth credentials")),
            (Some(wanted), Some(given)) if wanted != given => {
                Err(cannot_pull("unauthorized: incorrect username or password"))
            }
            _ => Ok(()),
        }
    }

    async fn start(&self, spec: &ContainerSpec) -> Result<ContainerStatus, RuntimeError> {
        let mut engine = self.engine();
        if let Some(program) = spec.argv().first() {
            if engine.missing_executables.contains(program) {
                return Err(RuntimeError::MissingExecutable(format!(
                    "exec: {program:?}: executable file not found"
                )));
            }
        }
        let now = engine.now;
        let scheduled_exit = match (env(spec, "EXIT_CODE"), seconds(spec, "CRASH_AFTER_SECS")?) {
            (Some(code), _) => {
                let code = code.parse::<i64>().map_err(|_| {
                    RuntimeError::InvalidSpec(format!("EXIT_CODE={code:?} is not a number"))
                })?;
                let after = seconds(spec, "EXIT_AFTER_SECS")?.unwrap_or(0.0);
                Some((now + after, code))
            }
            (None, Some(after)) => Some((now + after, 1)),
            (None, None) => None,
        };

        let mut network_bindings = Vec::new();
        let mut ip_address = None;
        match &spec.network {
            Network::Bridge | Network::Host => {
                for mapping in &spec.port_mappings {
                    let host_port = match (&spec.network, mapping.fixed_host_port()) {
                        (Network::Host, _) => mapping.container_port,
                        (_, Some(port)) => port,
                        (_, None) => {
                            engine.next_host_port += 1;
                            engine.next_host_port - 1
                        }
                    };
                    network_bindings.push(NetworkBinding {
                        bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                        container_port: mapping.container_port,
                        host_port,
                        protocol: mapping.protocol,
                    });
                }
            }
            Network::Awsvpc { .. } => {
                ip_address = Some(IpAddr::V4(Ipv4Addr::from(engine.next_ip)));
                engine.next_ip += 1;
            }
            Network::None => {}
        }

        let id = format!("fake-{:06}", engine.next_id);
        engine.next_id += 1;
        let health = match &spec.health_check {
            Some(check) if matches!(check.command, HealthCommand::NoCheck(_)) => Health::Unknown,
            Some(_) if env(spec, "FAIL_HEALTH").as_deref() == Some("1") => Health::Unhealthy,
            Some(_) => Health::Healthy,
            None => Health::Unknown,
        };
        let mut container = FakeContainer {
            labels: self.config.labels_for(spec),
            status: ContainerStatus {
                id: id.clone(),
                task_id: spec.task_id.clone(),
                container_name: spec.container_name.clone(),
                state: ContainerState::Running { started_at: now },
                health,
                network_bindings,
                ip_address,
            },
            scheduled_exit,
            ignores_sigterm: env(spec, "IGNORE_SIGTERM").as_deref() == Some("1"),
            environment: spec.full_environment(),
            output: Vec::new(),
            started_at: now,
            burns_cpu: env(spec, "BURN_CPU").as_deref() == Some("1"),
            memory_bytes: FAKE_MEMORY_BYTES,
            shipped: None,
        };
        if let Some((at, code)) = scheduled_exit.filter(|(at, _)| *at <= now) {
            container.exit(code, false, at);
        }
        let status = container.status.clone();
        engine.containers.insert(id, container);
        Ok(status)
    }

    async fn stop(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError> {
        let mut engine = self.engine();
        let now = engine.now;
        let container = self.owned(&mut engine, id)?;
        if !matches!(container.status.state, ContainerState::Running { .. }) {
            return Ok(());
        }
        if container.ignores_sigterm {
            // Killed once the timeout has passed; the fake clock moves with it.
            container.exit(137, false, now + timeout.as_secs_f64());
            engine.now += timeout.as_secs_f64();
        } else {
            container.exit(0, false, now);
        }
        Ok(())
    }

    async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        let mut engine = self.engine();
        self.owned(&mut engine, id)?;
        engine.containers.remove(id);
        Ok(())
    }

    async fn list(&self) -> Result<Vec<ContainerStatus>, RuntimeError> {
        Ok(self
            .engine()
            .containers
            .values()
            .filter(|c| {
                self.config
                    .owns(|key| c.labels.get(key).map(String::as_str))
            })
            .map(|c| c.status.clone())
            .collect())
    }

    async fn inspect(&self, id: &str) -> Result<ContainerStatus, RuntimeError> {
        let mut engine = self.engine();
        Ok(self.owned(&mut engine, id)?.status.clone())
    }

    async fn usage(&self, id: &str) -> Result<Usage, RuntimeError> {
        let mut engine = self.engine();
        let now = engine.now;
        Ok(self.owned(&mut engine, id)?.usage(now))
    }

    fn output(&self, id: &str, after: Option<u64>) -> OutputLines {
        /// How often a follower looks for new lines; the fake clock does not wake it.
        const FOLLOW_EVERY: Duration = Duration::from_millis(10);
        let (runtime, id) = (self.clone(), id.to_string());
        futures_util::stream::unfold(Some(after.unwrap_or(0)), move |read_through| {
            let (runtime, id) = (runtime.clone(), id.clone());
            async move {
                let read_through = read_through?;
                loop {
                    let next = {
                        let mut engine = runtime.engine();
                        match runtime.owned(&mut engine, &id) {
                            Err(e) => Some(Err(e)),
                            Ok(c) => match c.output.iter().find(|l| l.position > read_through) {
                                Some(line) => Some(Ok(line.clone())),
                                None if matches!(c.status.state, ContainerState::Exited { .. }) => {
                                    return None
                                }
                                None => None,
                            },
                        }
                    };
                    match next {
                        Some(Ok(line)) => return Some((Ok(line.clone()), Some(line.position))),
                        Some(Err(e)) => return Some((Err(e), None)),
                        None => tokio::time::sleep(FOLLOW_EVERY).await,
                    }
                }
            }
        })
        .boxed()
    }

    async fn output_shipped(&self, id: &str, position: u64) -> Result<(), RuntimeError> {
        let mut engine = self.engine();
        if let Ok(container) = self.owned(&mut engine, id) {
            container.shipped = Some(position);
        }
        Ok(())
    }

    /// The fake's writers never block; it records what it is told, for tests.
    fn holds_output(&self) -> bool {
        true
    }
}
