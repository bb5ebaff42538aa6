//! Runs a container's `entryPoint + command` as a process group on the host, for machines
//! without Docker. What a container spec means here:
//!
//! - **Image**: there is none; `image` is ignored and `ensure_image` accepts any reference.
//! - **Network**: the host's. Host mode is native; a bridge spec is accepted when every port
//!   mapping names a host port equal to its container port (it then means the same thing).
//!   Dynamic host ports, awsvpc and `none` are [`RuntimeError::Unsupported`].
//! - **Mounts**: none, so a mount is `Unsupported` unless it maps a host path onto itself.
//! - **Environment**: exactly the spec's, plus Docker's default `PATH` when it has none.
//!   Working directory: the spec's, else `/`. User: `uid[:gid]` or names from `/etc/passwd`
//!   and `/etc/group` (switching needs root). Ulimits: `setrlimit` in the child.
//! - **Limits**: memory limit (`memory.max`), reservation (`memory.low`) and cpu shares
//!   (`cpu.weight`) through cgroup v2 under `/sys/fs/cgroup/berth`, when that is a unified
//!   hierarchy this process may write. Otherwise — cgroup v1 or hybrid hosts (like the CI
//!   machines), or no root — limits are *not enforced*: the runtime logs why once and runs the
//!   process anyway. OOM kills are only detected with cgroup v2.
//! - **Usage**: from the container's cgroup when it has one, else from `/proc`: the CPU
//!   time and resident memory of every process in its process group (shared pages count once
//!   per process). One pass over `/proc` answers every container asked about within
//!   [`SCAN_REUSE`], so sampling many containers costs one pass, not one each.
//! - **Output**: stdout and stderr are pipes to an output shim, a process of its own that
//!   outlives the agent: it timestamps what the container writes and appends it to
//!   `<state dir>/<id>/output.<n>`, keeping the newest within the output budget
//!   ([`OUTPUT_KEPT_BYTES`] unless [`ProcessRuntime::with_output_budget`] says otherwise).
//!   `output()` reads those files as lines; the `output` module says how.
//! - **Stop**: SIGTERM to the process group, SIGKILL after the timeout. When the group leader
//!   exits, the rest of its group is killed, as a container's processes die with its PID 1.
//! - **Health checks**: run by the runtime itself (`CMD` executed directly, `CMD-SHELL` with
//!   `/bin/sh -c`) in the container's environment, on ECS's schedule. Any other command runs
//!   nothing, as with Docker, and the container's health stays UNKNOWN.
//! - **Adoption**: `<state dir>/<id>/record.json` holds the pid, its start time from `/proc`,
//!   the labels, port bindings and health check. A new `ProcessRuntime` over the same
//!   directory (say, after an agent restart) lists, health-checks and stops those processes.
//!   A pid is only trusted while its start time matches, so a reused pid is never signalled.
//!   Exit codes are known for children of the current process; a process that ended while it
//!   was no child of ours is reported exited with code -1 and an error saying so.
//!
//! Linux only: it reads `/proc`.

mod cgroup;
mod health;
mod output;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use self::cgroup::Cgroups;
use self::health::{ExecContext, Liveness};
use crate::usage::{self, ProcessGroups};
use crate::{
    ContainerSpec, ContainerState, ContainerStatus, Health, HealthCheck, MountSource, Network,
    NetworkBinding, OutputLines, RegistryCredentials, Runtime, RuntimeConfig, RuntimeError, Usage,
    OUTPUT_KEPT_BYTES,
};

/// Docker's default `PATH`, so commands resolve the same way under both runtimes.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const CGROUP_ROOT: &str = "/sys/fs/cgroup/berth";
/// How long a SIGKILLed process group may take to disappear before stop reports a failure.
const KILL_GRACE: Duration = Duration::from_secs(10);
/// How long one pass over `/proc` answers `usage` for every container: long enough for an
/// agent's round of samples to share it, and well below the shortest sampling interval (1 s),
/// so that no round reads the round before's figures (a rate of 0, then twice the truth).
const SCAN_REUSE: Duration = Duration::from_millis(200);
/// How often an adopted process (no child of ours, so no exit notification) is looked at.
const POLL_EVERY: Duration = Duration::from_millis(20);

pub struct ProcessRuntime {
    config: RuntimeConfig,
    state_dir: PathBuf,
    cgroups: Option<Cgroups>,
    output_budget: u64,
    tracked: Mutex<HashMap<String, Tracked>>,
    /// The last pass over `/proc`, and when it was made.
    scanned: Mutex<Option<(Instant, Arc<ProcessGroups>)>>,
}

/// What this instance knows beyond the record on disk.
#[derive(Default)]
struct Tracked {
    /// Set for children of this instance; their waiter publishes the exit here.
    exit: Option<watch::Receiver<Option<Exit>>>,
    /// The latest result of this instance's health monitor, and the monitor itself.
    health: Option<(watch::Receiver<Health>, AbortHandle)>,
}

/// Everything a later instance needs to adopt a container. Secrets stay out: the environment
/// is not recorded (an adopting instance reads it from `/proc/<pid>/environ`).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Record {
    task_id: String,
    container_name: String,
    labels: BTreeMap<String, String>,
    pid: i32,
    /// Field 22 of `/proc/<pid>/stat`: with the pid it names one process since boot.
    start_ticks: u64,
    started_at: f64,
    user: Option<(u32, u32)>,
    network_bindings: Vec<NetworkBinding>,
    health_check: Option<HealthCheck>,
    exit: Option<Exit>,
    /// Absent from records written before output had a shim.
    #[serde(default)]
    output_shim: Option<output::Shim>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Exit {
    exit_code: i64,
    oom_killed: bool,
    finished_at: f64,
    error: Option<String>,
}

impl ProcessRuntime {
    /// A runtime keeping its records under `state_dir` (created, mode 0700, since logs may
    /// hold secrets). Instances over the same directory see the same containers.
    pub fn new(
        config: RuntimeConfig,
        state_dir: impl Into<PathBuf>,
    ) -> Result<ProcessRuntime, RuntimeError> {
        let state_dir = state_dir.into();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&state_dir)
            .map_err(|e| backend(&state_dir, e))?;
        let cgroups = Cgroups::open(Path::new(CGROUP_ROOT))
            .inspect_err(|reason| {
                tracing::warn!(%reason, "process runtime: memory and cpu limits are not enforced");
            })
            .ok();
        Ok(ProcessRuntime {
            config,
            state_dir,
            cgroups,
            output_budget: OUTPUT_KEPT_BYTES,
            tracked: Mutex::new(HashMap::new()),
            scanned: Mutex::new(None),
        })
    }

    /// Keeps at most `bytes` of each container this instance starts from now on (default
    /// [`OUTPUT_KEPT_BYTES`]), but no less than 4 × (64 KiB + 29 bytes), what rotation needs.
    pub fn with_output_budget(mut self, bytes: u64) -> ProcessRuntime {
        self.output_budget = bytes.max(output::MIN_OUTPUT_BUDGET);
        self
    }

    fn tracked(&self) -> MutexGuard<'_, HashMap<String, Tracked>> {
        // The map stays consistent across a panic (each update is one insert or remove).
        self.tracked
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.state_dir.join(id)
    }

    /// Every process group's usage, from a pass over `/proc` no older than [`SCAN_REUSE`].
    fn process_groups(&self) -> Arc<ProcessGroups> {
        let mut scanned = self
            .scanned
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        match &*scanned {
            Some((at, groups)) if at.elapsed() < SCAN_REUSE => Arc::clone(groups),
            _ => {
                let groups = Arc::new(ProcessGroups::scan());
                *scanned = Some((Instant::now(), Arc::clone(&groups)));
                groups
            }
        }
    }

    /// The record of a container in this runtime's scope.
    fn load(&self, id: &str) -> Result<Record, RuntimeError> {
        // Ids are directory names: anything that could climb out of the state directory is
        // simply not one of ours.
        if id.is_empty() || id.contains('/') || id.starts_with('.') {
            return Err(RuntimeError::NotFound(id.to_string()));
        }
        let record =
            read_record(&self.dir(id)).ok_or_else(|| RuntimeError::NotFound(id.to_string()))?;
        if !self
            .config
            .owns(|key| record.labels.get(key).map(String::as_str))
        {
            return Err(RuntimeError::NotFound(id.to_string()));
        }
        Ok(record)
    }

    /// The container's state now, recording an exit nobody reported so it stays stable.
    fn observe(&self, id: &str, record: &mut Record) -> ContainerState {
        let from_waiter = self
            .tracked()
            .get(id)
            .and_then(|t| t.exit.as_ref().map(|exit| exit.borrow().clone()));
        let exit = match (record.exit.clone(), from_waiter) {
            // Our own waiter saw the exit first-hand. The record may hold another instance's
            // guess instead, written over the real exit when both raced to record it.
            (_, Some(Some(exit))) => Some(exit),
            // Our child, still running (or exiting right now: its waiter will tell). An exit
            // in the record before our waiter's is another instance's guess: another
            // instance cannot reap our child, and it may take it for gone while it exits.
            (_, Some(None)) => None,
            (Some(exit), None) => Some(exit),
            (None, None) if proc_alive(record.pid, record.start_ticks) => None,
            (None, None) => {
                let exit = Exit {
                    exit_code: -1,
                    oom_killed: false,
                    finished_at: berth_time::now(),
                    error: Some(
                        "the process ended while it was no child of this agent, so its exit code is unknown"
                            .to_string(),
                    ),
                };
                // Unless its parent recorded the real exit meanwhile (one recorded later
                // replaces this guess), or the container is being removed.
                let dir = self.dir(id);
                match read_record(&dir).map(|fresh| fresh.exit) {
                    Some(Some(recorded)) => Some(recorded),
                    Some(None) => {
                        record.exit = Some(exit.clone());
                        if let Err(e) = write_record(&dir, record) {
                            tracing::warn!(id, error = %e, "cannot record an exit");
                        }
                        Some(exit)
                    }
                    None => Some(exit),
                }
            }
        };
        match exit {
            Some(exit) => ContainerState::Exited {
                exit_code: exit.exit_code,
                oom_killed: exit.oom_killed,
                finished_at: exit.finished_at,
                error: exit.error,
            },
            None => ContainerState::Running {
                started_at: record.started_at,
            },
        }
    }

    fn status(&self, id: &str, mut record: Record) -> ContainerStatus {
        let state = self.observe(id, &mut record);
        if matches!(state, ContainerState::Running { .. }) {
            self.adopt_health_check(id, &record);
        }
        let health = self
            .tracked()
            .get(id)
            .and_then(|t| t.health.as_ref().map(|(health, _)| *health.borrow()))
            .unwrap_or(Health::Unknown);
        ContainerStatus {
            id: id.to_string(),
            task_id: record.task_id,
            container_name: record.container_name,
            state,
            health,
            network_bindings: record.network_bindings,
            ip_address: None,
        }
    }

    /// Starts checking the health of a running container this instance did not start.
    fn adopt_health_check(&self, id: &str, record: &Record) {
        let Some(check) = record.health_check.clone() else {
            return;
        };
        let mut tracked = self.tracked();
        let entry = tracked.entry(id.to_string()).or_default();
        if entry.health.is_some() {
            return;
        }
        let Some(context) = adopted_context(record.pid, record.user) else {
            return;
        };
        let liveness = Liveness::Adopted {
            pid: record.pid,
            start_ticks: record.start_ticks,
        };
        entry.health = Some(spawn_monitor(check, context, record.started_at, liveness));
    }

    /// Waits up to `within` for the container to exit.
    async fn wait_exit(&self, id: &str, record: &Record, within: Duration) -> bool {
        let exit = self.tracked().get(id).and_then(|t| t.exit.clone());
        match exit {
            Some(mut exit) => tokio::time::timeout(within, exit.wait_for(Option::is_some))
                .await
                .is_ok(),
            None => {
                let deadline = Instant::now() + within;
                loop {
                    if !proc_alive(record.pid, record.start_ticks) {
                        return true;
                    }
                    if Instant::now() >= deadline {
                        return false;
                    }
                    tokio::time::sleep(POLL_EVERY).await;
                }
            }
        }
    }

    /// Signals the container's process group, if its leader is still the process we started.
    fn signal(&self, id: &str, record: &Record, signal: libc::c_int) {
        let ours_unreaped = self
            .tracked()
            .get(id)
            .and_then(|t| t.exit.as_ref().map(|exit| exit.borrow().is_none()))
            .unwrap_or(false);
        if ours_unreaped || proc_alive(record.pid, record.start_ticks) {
            // SAFETY: kill has no memory effects; a negative pid addresses the process group
            // the leader created with setpgid(0, 0) at spawn.
            unsafe {
                libc::kill(-record.pid, signal);
            }
        }
    }

    /// SIGKILL, then wait until the container is gone.
    async fn kill(&self, id: &str, record: &Record) -> Result<(), RuntimeError> {
        self.signal(id, record, libc::SIGKILL);
        if self.wait_exit(id, record, KILL_GRACE).await {
            Ok(())
        } else {
            Err(RuntimeError::Unkillable {
                pid: record.pid,
                waited: KILL_GRACE,
            })
        }
    }
}

impl Drop for ProcessRuntime {
    fn drop(&mut self) {
        // Health monitors belong to this instance; waiters do not, so children are still
        // reaped and their exits recorded for the next instance.
        for tracked in self.tracked().values() {
            if let Some((_, monitor)) = &tracked.health {
                monitor.abort();
            }
        }
    }
}

impl Runtime for ProcessRuntime {
    fn name(&self) -> &'static str {
        "process"
    }

    /// The shim stops reading a held container's pipes rather than delete output not yet
    /// shipped, so its writes wait once the pipes are full.
    fn holds_output(&self) -> bool {
        true
    }

    async fn output_shipped(&self, id: &str, position: u64) -> Result<(), RuntimeError> {
        match self.load(id) {
            Ok(_) => {}
            Err(RuntimeError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        }
        let dir = self.dir(id);
        if !output::holds(&dir) {
            return Ok(());
        }
        match output::record_shipped(&dir, position) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(backend(&dir, e)),
            _ => Ok(()),
        }
    }

    async fn ensure_image(
        &self,
        _image: &str,
        _credentials: Option<&RegistryCredentials>,
    ) -> Result<(), RuntimeError> {
        Ok(())
    }

    async fn start(&self, spec: &ContainerSpec) -> Result<ContainerStatus, RuntimeError> {
        let launch = Launch::prepare(spec)?;
        let id = new_id();
        let dir = self.dir(&id);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| backend(&dir, e))?;
        let result = self.spawn(&id, spec, launch);
        if result.is_err() {
            // Nothing half-made stays behind.
            let _ = fs::remove_dir_all(&dir);
            if let Some(cgroups) = &self.cgroups {
                let _ = fs::remove_dir(cgroups.path(&id));
            }
        }
        result
    }

    async fn stop(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError> {
        let mut record = self.load(id)?;
        if matches!(self.observe(id, &mut record), ContainerState::Exited { .. }) {
            return Ok(());
        }
        self.signal(id, &record, libc::SIGTERM);
        if self.wait_exit(id, &record, timeout).await {
            return Ok(());
        }
        self.kill(id, &record).await
    }

    async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        let mut record = self.load(id)?;
        if matches!(
            self.observe(id, &mut record),
            ContainerState::Running { .. }
        ) {
            self.kill(id, &record).await?;
        }
        if let Some(tracked) = self.tracked().remove(id) {
            if let Some((_, monitor)) = tracked.health {
                monitor.abort();
            }
        }
        if let Some(cgroups) = &self.cgroups {
            // Fails while the kernel is still tearing the group down; it is empty and tiny.
            let _ = fs::remove_dir(cgroups.path(id));
        }
        // Nobody reads the output of a removed container: its shim, which may still be
        // draining the pipes or waiting for its output to be shipped, goes first.
        if let Some(shim) = record.output_shim {
            if proc_alive(shim.pid, shim.start_ticks) {
                // SAFETY: kill has no memory effects; the start time just checked makes the
                // pid the shim's, not a reused one.
                unsafe {
                    libc::kill(shim.pid, libc::SIGKILL);
                }
            }
        }
        remove_state_dir(&self.dir(id)).await
    }

    async fn list(&self) -> Result<Vec<ContainerStatus>, RuntimeError> {
        let entries = fs::read_dir(&self.state_dir).map_err(|e| backend(&self.state_dir, e))?;
        let mut statuses = Vec::new();
        for entry in entries.flatten() {
            let Some(id) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            // Directories without a record yet are starts in progress or foreign files.
            if let Ok(record) = self.load(&id) {
                statuses.push(self.status(&id, record));
            }
        }
        statuses.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(statuses)
    }

    async fn inspect(&self, id: &str) -> Result<ContainerStatus, RuntimeError> {
        let record = self.load(id)?;
        Ok(self.status(id, record))
    }

    async fn usage(&self, id: &str) -> Result<Usage, RuntimeError> {
        let mut record = self.load(id)?;
        if !matches!(
            self.observe(id, &mut record),
            ContainerState::Running { .. }
        ) {
            return Ok(Usage::default());
        }
        let cgroup = self.cgroups.as_ref().map(|cgroups| cgroups.path(id));
        if let Some(usage) = cgroup.as_deref().and_then(usage::cgroup_v2) {
            return Ok(usage);
        }
        // The leader made the group with setpgid(0, 0): the group's id is its pid.
        Ok(self.process_groups().usage(record.pid))
    }

    fn output(&self, id: &str, after: Option<u64>) -> OutputLines {
        if let Err(error) = self.load(id) {
            return Box::pin(futures_util::stream::once(async { Err(error) }));
        }
        output::follow(id.to_string(), self.dir(id), after)
    }
}

/// How to run a spec on this host, worked out before anything is created.
struct Launch {
    program: String,
    args: Vec<String>,
    environment: Vec<(String, String)>,
    working_directory: String,
    user: Option<(u32, u32)>,
    rlimits: Vec<(Resource, libc::rlim_t, libc::rlim_t)>,
    network_bindings: Vec<NetworkBinding>,
}

impl Launch {
    fn prepare(spec: &ContainerSpec) -> Result<Launch, RuntimeError> {
        let network_bindings = host_bindings(spec)?;
        if let Some(mount) = spec.mounts.iter().find(|m| match &m.source {
            MountSource::Host(path) => *path != m.target,
            MountSource::Volume(_) => true,
        }) {
            return Err(RuntimeError::Unsupported(format!(
                "the process runtime cannot mount anything at {} (only a host path onto itself)",
                mount.target
            )));
        }
        let mut argv = spec.argv().into_iter();
        let program = argv.next().ok_or_else(|| {
            RuntimeError::InvalidSpec(
                "the process runtime needs an entry point or a command".to_string(),
            )
        })?;
        let working_directory = spec.working_directory.as_deref().unwrap_or("/").to_string();
        // Checked here because spawn reports a missing directory as a missing program.
        if !Path::new(&working_directory).is_dir() {
            return Err(RuntimeError::CannotStart(format!(
                "working directory {working_directory} does not exist"
            )));
        }
        let mut environment = spec.full_environment();
        if !environment.iter().any(|(key, _)| key == "PATH") {
            environment.insert(0, ("PATH".to_string(), DEFAULT_PATH.to_string()));
        }
        let rlimits = spec
            .ulimits
            .iter()
            .map(|limit| {
                let resource = rlimit_resource(&limit.name)?;
                Ok((resource, rlim(limit.soft), rlim(limit.hard)))
            })
            .collect::<Result<Vec<_>, RuntimeError>>()?;
        Ok(Launch {
            program,
            args: argv.collect(),
            environment,
            working_directory,
            user: spec.user.as_deref().map(resolve_user).transpose()?,
            rlimits,
            network_bindings,
        })
    }
}

impl ProcessRuntime {
    fn spawn(
        &self,
        id: &str,
        spec: &ContainerSpec,
        launch: Launch,
    ) -> Result<ContainerStatus, RuntimeError> {
        let Launch {
            program,
            args,
            environment,
            working_directory,
            user,
            rlimits,
            network_bindings,
        } = launch;
        let dir = self.dir(id);
        let capture = output::capture(&dir, self.output_budget, spec.output_backpressure)
            .map_err(|e| backend(&dir, e))?;
        let cgroup = self.cgroups.as_ref().and_then(|cgroups| {
            let limits = cgroup::Limits {
                memory_max_bytes: spec.memory_limit_mib.map(|m| m << 20),
                memory_low_bytes: spec.memory_reservation_mib.map(|m| m << 20),
                cpu_weight: spec.cpu_shares.map(cgroup::cpu_weight),
            };
            let created = cgroups.create(id, &limits).and_then(|dir| {
                let procs = fs::OpenOptions::new()
                    .write(true)
                    .open(dir.join("cgroup.procs"))?;
                Ok((dir, procs))
            });
            created
                .inspect_err(|e| tracing::warn!(id, error = %e, "cannot create a cgroup; running without limits"))
                .ok()
        });

        let mut command = tokio::process::Command::new(&program);
        command
            .args(&args)
            .env_clear()
            .envs(environment.iter().map(|(k, v)| (k, v)))
            .current_dir(&working_directory)
            .stdin(Stdio::null())
            .stdout(Stdio::from(capture.stdout))
            .stderr(Stdio::from(capture.stderr))
            // Its own group, so stop signals reach everything it forks and a Ctrl-C meant for
            // the agent does not reach it.
            .process_group(0);
        if let Some((uid, gid)) = user {
            command.uid(uid).gid(gid);
        }
        let procs_fd = cgroup.as_ref().map(|(_, procs)| procs.as_raw_fd());
        // SAFETY: between fork and exec only async-signal-safe calls run: setrlimit and write
        // on a descriptor opened before the fork; nothing allocates.
        unsafe {
            command.pre_exec(move || {
                for (resource, soft, hard) in &rlimits {
                    let limit = libc::rlimit {
                        rlim_cur: *soft,
                        rlim_max: *hard,
                    };
                    if libc::setrlimit(*resource, &limit) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                // Joining the cgroup before exec means no process of the container ever runs
                // outside its limits.
                if let Some(fd) = procs_fd {
                    if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let spawned = command.spawn();
        // The command holds the parent's copies of the pipes' write ends: closing them leaves
        // the container's processes the only writers, so the shim sees end of file when they
        // are gone (or at once if nothing started).
        drop(command);
        let mut child = spawned.map_err(|e| spawn_error(&program, e))?;
        // The child has joined the cgroup; the parent's descriptor is done.
        let cgroup = cgroup.map(|(dir, _procs)| dir);
        let pid = child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .ok_or_else(|| RuntimeError::CannotStart("spawned child has no pid".to_string()))?;
        // The child is not reaped before its waiter runs, so /proc still shows it even if it
        // already exited.
        let start_ticks = proc_stat(pid).map(|(_, ticks)| ticks).unwrap_or(0);
        let record = Record {
            task_id: spec.task_id.clone(),
            container_name: spec.container_name.clone(),
            labels: self.config.labels_for(spec),
            pid,
            start_ticks,
            started_at: berth_time::now(),
            user,
            network_bindings,
            health_check: spec.health_check.clone(),
            exit: None,
            output_shim: Some(capture.shim),
        };
        if let Err(e) = write_record(&dir, &record) {
            let _ = child.start_kill();
            return Err(backend(&dir, e));
        }

        let (exit_sender, exit) = watch::channel(None);
        tokio::spawn(wait_for_exit(child, dir, pid, cgroup, exit_sender));
        let health = spec.health_check.clone().map(|check| {
            let context = ExecContext {
                environment,
                working_directory,
                user,
            };
            spawn_monitor(
                check,
                context,
                record.started_at,
                Liveness::Child(exit.clone()),
            )
        });
        self.tracked().insert(
            id.to_string(),
            Tracked {
                exit: Some(exit),
                health,
            },
        );
        Ok(self.status(id, record))
    }
}

/// Reaps the child, records how it ended, and takes the rest of its process group with it.
async fn wait_for_exit(
    mut child: tokio::process::Child,
    dir: PathBuf,
    pid: i32,
    cgroup: Option<PathBuf>,
    exit_sender: watch::Sender<Option<Exit>>,
) {
    let (exit_code, error) = match child.wait().await {
        Ok(status) => (
            status
                .code()
                .map(i64::from)
                // Shells and Docker report death by signal N as 128 + N.
                .or(status.signal().map(|signal| 128 + i64::from(signal)))
                .unwrap_or(-1),
            None,
        ),
        Err(e) => (-1, Some(format!("cannot wait for the process: {e}"))),
    };
    // SAFETY: kill has no memory effects. The group id is the leader's pid; the kernel keeps
    // it from being reused while any member lives, and pids are handed out cyclically, so a
    // leftover group is all this can reach.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
    let exit = Exit {
        exit_code,
        oom_killed: exit_code == 128 + i64::from(libc::SIGKILL)
            && cgroup.as_deref().is_some_and(cgroup::oom_killed),
        finished_at: berth_time::now(),
        error,
    };
    // The directory is gone when the container was removed meanwhile; nothing to record then.
    if let Some(mut record) = read_record(&dir) {
        record.exit = Some(exit.clone());
        if let Err(e) = write_record(&dir, &record) {
            tracing::warn!(pid, error = %e, "cannot record an exit");
        }
    }
    exit_sender.send_replace(Some(exit));
}

fn spawn_monitor(
    check: HealthCheck,
    context: ExecContext,
    started_at: f64,
    liveness: Liveness,
) -> (watch::Receiver<Health>, AbortHandle) {
    let (sender, health) = watch::channel(Health::Unknown);
    let task = tokio::spawn(health::monitor(
        check, context, started_at, liveness, sender,
    ));
    (health, task.abort_handle())
}

/// What an adopted process's health checks run with, read from the process itself.
fn adopted_context(pid: i32, user: Option<(u32, u32)>) -> Option<ExecContext> {
    let environ = fs::read(format!("/proc/{pid}/environ")).ok()?;
    let environment = environ
        .split(|byte| *byte == 0)
        .filter_map(|entry| {
            let entry = String::from_utf8_lossy(entry);
            let (key, value) = entry.split_once('=')?;
            Some((key.to_string(), value.to_string()))
        })
        .collect();
    let working_directory = fs::read_link(format!("/proc/{pid}/cwd"))
        .ok()?
        .to_string_lossy()
        .into_owned();
    Some(ExecContext {
        environment,
        working_directory,
        user,
    })
}

/// Host-network bindings for the spec, or why this runtime cannot give it its network.
fn host_bindings(spec: &ContainerSpec) -> Result<Vec<NetworkBinding>, RuntimeError> {
    match &spec.network {
        Network::Host | Network::Bridge => {}
        Network::Awsvpc { .. } => {
            return Err(RuntimeError::Unsupported(
                "awsvpc networking needs the docker runtime".to_string(),
            ))
        }
        Network::None => {
            return Err(RuntimeError::Unsupported(
                "the process runtime cannot take a process off the network".to_string(),
            ))
        }
    }
    spec.port_mappings
        .iter()
        .map(|mapping| {
            let host_port = match (&spec.network, mapping.fixed_host_port()) {
                (Network::Host, _) => mapping.container_port,
                (_, Some(port)) if port == mapping.container_port => port,
                (_, Some(port)) => {
                    return Err(RuntimeError::Unsupported(format!(
                        "the process runtime cannot map container port {} to host port {port}: processes use host ports directly",
                        mapping.container_port
                    )))
                }
                (_, None) => {
                    return Err(RuntimeError::Unsupported(format!(
                        "the process runtime cannot give container port {} a dynamic host port: set hostPort to the container port",
                        mapping.container_port
                    )))
                }
            };
            Ok(NetworkBinding {
                bind_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                container_port: mapping.container_port,
                host_port,
                protocol: mapping.protocol,
            })
        })
        .collect()
}

fn new_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    // Time and pid keep instances (and agent restarts) apart; the counter keeps one apart.
    format!(
        "{:x}-{:x}-{}",
        nanos,
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn read_record(dir: &Path) -> Option<Record> {
    let bytes = fs::read(dir.join("record.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Replaces the record atomically, so a reader never sees half of one.
fn write_record(dir: &Path, record: &Record) -> io::Result<()> {
    let temporary = dir.join(format!("record.json.{}", new_id()));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)?;
    file.write_all(&serde_json::to_vec(record).map_err(io::Error::other)?)?;
    file.sync_all()?;
    fs::rename(&temporary, dir.join("record.json"))
}

/// Removes a container's directory. A concurrent `list` or `inspect` may record a guessed
/// exit in it (a temporary file, then a rename), and a held output shim freed by its
/// `shipped` file going may start one more output file, while it is being emptied; each
/// such write ends within a moment, so emptying again a little later wins.
async fn remove_state_dir(dir: &Path) -> Result<(), RuntimeError> {
    let mut attempts = 0;
    loop {
        match fs::remove_dir_all(dir) {
            Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty && attempts < 10 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            result => return result.map_err(|e| backend(dir, e)),
        }
    }
}

fn backend(path: &Path, error: io::Error) -> RuntimeError {
    RuntimeError::StateDir {
        path: path.to_path_buf(),
        source: error,
    }
}

fn spawn_error(program: &str, error: io::Error) -> RuntimeError {
    match error.kind() {
        io::ErrorKind::NotFound => {
            RuntimeError::MissingExecutable(format!("exec: {program:?}: executable file not found"))
        }
        _ => RuntimeError::CannotStart(format!("exec: {program:?}: {error}")),
    }
}

/// State letter and start time (clock ticks since boot) of a process, from `/proc/<pid>/stat`.
fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start_ticks = fields.get(19)?.parse().ok()?;
    Some((state, start_ticks))
}

/// Whether `pid` is still the process that started at `start_ticks` and has not exited (a
/// zombie has exited; it only waits for its parent).
pub(crate) fn proc_alive(pid: i32, start_ticks: u64) -> bool {
    matches!(proc_stat(pid), Some((state, ticks)) if ticks == start_ticks && state != 'Z' && state != 'X')
}

#[cfg(target_env = "gnu")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type Resource = libc::c_int;

fn rlimit_resource(name: &str) -> Result<Resource, RuntimeError> {
    Ok(match name {
        "core" => libc::RLIMIT_CORE,
        "cpu" => libc::RLIMIT_CPU,
        "data" => libc::RLIMIT_DATA,
        "fsize" => libc::RLIMIT_FSIZE,
        "locks" => libc::RLIMIT_LOCKS,
        "memlock" => libc::RLIMIT_MEMLOCK,
        "msgqueue" => libc::RLIMIT_MSGQUEUE,
        "nice" => libc::RLIMIT_NICE,
        "nofile" => libc::RLIMIT_NOFILE,
        "nproc" => libc::RLIMIT_NPROC,
        "rss" => libc::RLIMIT_RSS,
        "rtprio" => libc::RLIMIT_RTPRIO,
        "rttime" => libc::RLIMIT_RTTIME,
        "sigpending" => libc::RLIMIT_SIGPENDING,
        "stack" => libc::RLIMIT_STACK,
        other => {
            return Err(RuntimeError::InvalidSpec(format!(
                "unknown ulimit {other:?}"
            )))
        }
    })
}

/// Negative limits mean unlimited, as in Docker's API.
fn rlim(value: i64) -> libc::rlim_t {
    libc::rlim_t::try_from(value).unwrap_or(libc::RLIM_INFINITY)
}

fn resolve_user(user: &str) -> Result<(u32, u32), RuntimeError> {
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = fs::read_to_string("/etc/group").unwrap_or_default();
    parse_user(user, &passwd, &group)
}

/// `user[:group]` with names looked up the way Docker does inside an image: in passwd and
/// group files. A uid without a passwd entry runs with gid 0, as under Docker.
fn parse_user(user: &str, passwd: &str, group: &str) -> Result<(u32, u32), RuntimeError> {
    // Entries as (name, id, primary gid) from `name:x:id:gid:…` lines.
    let entries = |file: &str| -> Vec<(String, u32, u32)> {
        file.lines()
            .filter_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?.to_string();
                let id = fields.nth(1)?.parse().ok()?;
                let gid = fields.next().and_then(|g| g.parse().ok()).unwrap_or(0);
                Some((name, id, gid))
            })
            .collect()
    };
    let users = entries(passwd);
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let (uid, primary_gid) = match user_part.parse::<u32>() {
        Ok(uid) => (
            uid,
            users
                .iter()
                .find(|(_, id, _)| *id == uid)
                .map_or(0, |(_, _, gid)| *gid),
        ),
        Err(_) => users
            .iter()
            .find(|(name, _, _)| name == user_part)
            .map(|(_, uid, gid)| (*uid, *gid))
            .ok_or_else(|| {
                RuntimeError::CannotStart(format!(
                    "unable to find user {user_part}: no matching entries in passwd file"
                ))
            })?,
    };
    let gid = match group_part {
        None => primary_gid,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => entries(group)
                .iter()
                .find(|(name, _, _)| name == g)
                .map(|(_, gid, _)| *gid)
                .ok_or_else(|| {
                    RuntimeError::CannotStart(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        },
    };
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PortMapping;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\napp:x:1000:100::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nusers:x:100:\nnogroup:x:65534:\n";

    #[test]
    fn users_resolve_like_docker() {
        assert_eq!(parse_user("app", PASSWD, GROUP).unwrap(), (1000, 100));
        assert_eq!(
            parse_user("app:nogroup", PASSWD, GROUP).unwrap(),
            (1000, 65534)
        );
        assert_eq!(parse_user("1000", PASSWD, GROUP).unwrap(), (1000, 100));
        assert_eq!(parse_user("4242", PASSWD, GROUP).unwrap(), (4242, 0));
        assert_eq!(parse_user("4242:7", PASSWD, GROUP).unwrap(), (4242, 7));
        assert!(parse_user("ghost", PASSWD, GROUP).is_err());
        assert!(parse_user("app:ghosts", PASSWD, GROUP).is_err());
    }

    #[test]
    fn only_host_ports_are_possible() {
        let spec = |network, mapping| ContainerSpec {
            network,
            port_mappings: vec![mapping],
            ..ContainerSpec::new("t", "c", "i")
        };
        let host = host_bindings(&spec(Network::Host, PortMapping::tcp(8080, None))).unwrap();
        assert_eq!((host[0].container_port, host[0].host_port), (8080, 8080));
        let fixed = host_bindings(&spec(Network::Bridge, PortMapping::tcp(8080, Some(8080))));
        assert_eq!(fixed.unwrap()[0].host_port, 8080);
        for refused in [
            spec(Network::Bridge, PortMapping::tcp(8080, None)),
            spec(Network::Bridge, PortMapping::tcp(8080, Some(0))),
            spec(Network::Bridge, PortMapping::tcp(8080, Some(9090))),
            spec(
                Network::Awsvpc {
                    network_name: "n".into(),
                },
                PortMapping::tcp(8080, None),
            ),
        ] {
            assert!(matches!(
                host_bindings(&refused),
                Err(RuntimeError::Unsupported(_))
            ));
        }
    }

    #[tokio::test]
    async fn another_instances_guess_does_not_end_a_child_before_its_waiter_does() {
        let state = tempfile::tempdir().unwrap();
        let runtime = ProcessRuntime::new(
            RuntimeConfig::scoped("berth.test-run", "process-unit"),
            state.path(),
        )
        .unwrap();
        let spec = ContainerSpec {
            entry_point: Some(vec!["/bin/sh".into(), "-c".into(), "sleep 600".into()]),
            network: Network::Host,
            ..ContainerSpec::new("guessed", "shell", "none")
        };
        let id = runtime.start(&spec).await.unwrap().id;
        // What another instance writes when it takes the process for gone.
        let dir = runtime.dir(&id);
        let mut record = read_record(&dir).unwrap();
        record.exit = Some(Exit {
            exit_code: -1,
            oom_killed: false,
            finished_at: berth_time::now(),
            error: Some("a guess".into()),
        });
        write_record(&dir, &record).unwrap();
        let running = runtime.inspect(&id).await.unwrap();
        // Killed whatever the inspection said, so that a failure leaves no process behind.
        runtime.signal(&id, &record, libc::SIGKILL);
        runtime.remove(&id).await.unwrap();
        assert!(
            matches!(running.state, ContainerState::Running { .. }),
            "{running:?}"
        );
    }

    #[test]
    fn a_pid_is_only_trusted_with_its_start_time() {
        let me = i32::try_from(std::process::id()).unwrap();
        let (state, ticks) = proc_stat(me).unwrap();
        assert_ne!(state, 'Z');
        assert!(proc_alive(me, ticks));
        assert!(!proc_alive(me, ticks + 1), "a reused pid must not count");
        assert!(!proc_alive(i32::MAX, ticks));
    }

    #[test]
    fn ulimit_names() {
        assert_eq!(rlimit_resource("nofile").unwrap(), libc::RLIMIT_NOFILE);
        assert!(rlimit_resource("files").is_err());
        assert_eq!(rlim(-1), libc::RLIM_INFINITY);
        assert_eq!(rlim(1024), 1024);
    }
}
