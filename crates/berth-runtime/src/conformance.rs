//! The contract every [`Runtime`] keeps, as one suite run against each implementation.
//!
//! The checks run `berth-testapp` (and a shell, for `CMD-SHELL` and argument checks) and
//! observe them only through the trait. What a runtime cannot do is declared in
//! [`Capabilities`]; a check it cannot run is reported as skipped with the reason, and where
//! the runtime must refuse (dynamic ports or awsvpc on the process runtime) the check asserts
//! that it refuses with [`RuntimeError::Unsupported`]. Tests assert the exact set of skipped
//! checks, so nothing is skipped silently.
//!
//! Checks run concurrently in one scope; each only looks at the containers it started.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use futures_util::StreamExt;

use crate::{
    ContainerSpec, ContainerState, ContainerStatus, Health, HealthCheck, HealthCommand, Network,
    OutputLine, OutputStream, PortMapping, Protocol, RegistryCredentials, Runtime, RuntimeError,
    SensitiveEnvironment,
};

/// How long any one condition may take to come true.
const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// What the runtime under test can do.
#[derive(Clone, Copy, Debug)]
pub struct Capabilities {
    /// Runs real processes: HTTP answers, shell scripts run, the environment reaches them.
    pub executes: bool,
    /// Has images, so `ensure_image` of an unknown reference fails with `CannotPull`.
    pub pulls_images: bool,
    /// Bridge mode with a dynamic host port.
    pub dynamic_host_ports: bool,
    /// awsvpc mode: a network of Berth's own, one address per task.
    pub awsvpc: bool,
}

/// How to reach the test programs under this runtime.
#[derive(Clone, Debug)]
pub struct Fixture {
    /// An image holding berth-testapp (ignored by runtimes without images).
    pub testapp_image: String,
    /// The berth-testapp executable as the container sees it.
    pub testapp: String,
    /// An image with `/bin/sh` and the usual utilities (busybox).
    pub shell_image: String,
    /// An image reference that cannot be pulled.
    pub missing_image: String,
    /// An absolute path where no executable exists.
    pub missing_executable: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Skipped(String),
}

#[derive(Debug, Default)]
pub struct Report {
    pub passed: Vec<&'static str>,
    pub skipped: Vec<(&'static str, String)>,
}

impl Report {
    pub fn skipped_names(&self) -> Vec<&'static str> {
        self.skipped.iter().map(|(name, _)| *name).collect()
    }
}

struct Harness<R> {
    runtime: R,
    /// A second instance with the same configuration: the agent after a restart.
    restarted: R,
    caps: Capabilities,
    fixture: Fixture,
    /// Makes task ids (and the awsvpc network name) unique to this run.
    run: String,
}

/// Runs every check against runtimes made by `make` (called twice: the second instance plays
/// the restarted agent). Panics naming every failed check; otherwise reports what passed and
/// what was skipped. Whatever the checks leave behind is removed before returning.
pub async fn run_all<R: Runtime>(
    make: impl Fn() -> R,
    caps: Capabilities,
    fixture: Fixture,
) -> Report {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let harness = Arc::new(Harness {
        runtime: make(),
        restarted: make(),
        caps,
        fixture,
        run: format!("c{:x}{:x}", std::process::id(), nanos % (1 << 40)),
    });

    let mut checks = Vec::new();
    macro_rules! spawn_checks {
        ($($check:ident),* $(,)?) => {
            $(checks.push((stringify!($check), tokio::spawn($check(Arc::clone(&harness)))));)*
        };
    }
    spawn_checks!(
        lifecycle,
        exit_codes,
        environment_and_command,
        static_port,
        dynamic_port,
        awsvpc,
        stop_timeout,
        health_exec,
        health_shell,
        health_without_cmd,
        adopt_after_restart,
        list_follows_changes,
        missing_executable,
        missing_image,
        usage,
        output_in_order_and_resumable,
        output_followed_while_running,
    );

    let mut report = Report::default();
    let mut failed = Vec::new();
    for (name, task) in checks {
        match task.await {
            Ok(Outcome::Passed) => report.passed.push(name),
            Ok(Outcome::Skipped(reason)) => report.skipped.push((name, reason)),
            Err(error) => {
                let message = match error.try_into_panic() {
                    Ok(panic) => panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "non-text panic".to_string()),
                    Err(error) => error.to_string(),
                };
                failed.push(format!("{name}: {message}"));
            }
        }
    }

    // Failed checks leave containers behind; remove everything in the scope.
    if let Ok(leftovers) = harness.runtime.list().await {
        for status in leftovers {
            let _ = harness.runtime.remove(&status.id).await;
        }
    }
    assert!(
        failed.is_empty(),
        "{} runtime failed conformance checks:\n{}",
        harness.runtime.name(),
        failed.join("\n")
    );
    report
}

impl<R: Runtime> Harness<R> {
    fn task_id(&self, name: &str) -> String {
        format!("{}-{name}", self.run)
    }

    /// berth-testapp on the host network with the given switches.
    fn testapp(&self, task: &str, environment: &[(&str, String)]) -> ContainerSpec {
        ContainerSpec {
            entry_point: Some(vec![self.fixture.testapp.clone()]),
            environment: environment
                .iter()
                .map(|(key, value)| (key.to_string(), value.clone()))
                .collect(),
            network: Network::Host,
            stop_timeout: Duration::from_secs(5),
            ..ContainerSpec::new(self.task_id(task), "app", &self.fixture.testapp_image)
        }
    }

    fn shell(&self, task: &str, script: &str) -> ContainerSpec {
        ContainerSpec {
            entry_point: Some(vec!["/bin/sh".to_string(), "-c".to_string()]),
            command: Some(vec![script.to_string()]),
            network: Network::Host,
            stop_timeout: Duration::from_secs(1),
            ..ContainerSpec::new(self.task_id(task), "shell", &self.fixture.shell_image)
        }
    }

    /// `berth-testapp check` against the app's own port: it passes once the app answers.
    fn check_words(&self, port: u16) -> Vec<String> {
        vec![
            self.fixture.testapp.clone(),
            "check".to_string(),
            format!("http://127.0.0.1:{port}/health"),
        ]
    }

    /// A `berth-testapp check` health check against the app's own port.
    fn check_port(&self, port: u16) -> HealthCheck {
        quick_check(HealthCommand::Exec(self.check_words(port)))
    }
}

fn quick_check(command: HealthCommand) -> HealthCheck {
    HealthCheck {
        interval: Duration::from_millis(250),
        timeout: Duration::from_secs(2),
        retries: 2,
        ..HealthCheck::new(command)
    }
}

async fn start<R: Runtime>(runtime: &R, spec: &ContainerSpec) -> ContainerStatus {
    runtime
        .start(spec)
        .await
        .unwrap_or_else(|e| panic!("start {}: {e}", spec.task_id))
}

async fn wait_for<R: Runtime>(
    runtime: &R,
    id: &str,
    what: &str,
    done: impl Fn(&ContainerStatus) -> bool,
) -> ContainerStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        let status = runtime
            .inspect(id)
            .await
            .unwrap_or_else(|e| panic!("inspect {id} while waiting until {what}: {e}"));
        if done(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{id} was not {what} within {WAIT:?}; last seen {status:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Like [`wait_for`], but looking only through `list`.
async fn wait_listed<R: Runtime>(
    runtime: &R,
    id: &str,
    what: &str,
    done: impl Fn(&ContainerStatus) -> bool,
) -> ContainerStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        let listed = runtime
            .list()
            .await
            .unwrap_or_else(|e| panic!("list while waiting until {id} is {what}: {e}"));
        let status = listed
            .into_iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("{id} vanished from the list while waiting until {what}"));
        if done(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{id} was not listed as {what} within {WAIT:?}; last listed {status:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

fn exited(status: &ContainerStatus) -> bool {
    matches!(status.state, ContainerState::Exited { .. })
}

fn code(status: &ContainerStatus) -> Option<i64> {
    match status.state {
        ContainerState::Exited { exit_code, .. } => Some(exit_code),
        _ => None,
    }
}

/// A port nothing listens on, never handed out twice in this process (checks run at once).
fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0))
            .and_then(|listener| listener.local_addr())
            .expect("bind an ephemeral port")
            .port();
        if HANDED_OUT
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert(port)
        {
            return port;
        }
    }
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// One GET over a fresh connection: (status, body).
async fn http_get(address: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("connect {address}: {e}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("incomplete response {response:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("malformed status line in {head:?}"))?;
    Ok((status, body.to_string()))
}

/// Polls until the app answers at all (it is listening) and returns that answer.
async fn wait_http(address: SocketAddr, path: &str) -> (u16, String) {
    let deadline = Instant::now() + WAIT;
    loop {
        match http_get(address, path).await {
            Ok(answer) => return answer,
            Err(error) => assert!(
                Instant::now() < deadline,
                "nothing answered GET http://{address}{path} within {WAIT:?}: {error}"
            ),
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn lifecycle<R: Runtime>(h: Arc<Harness<R>>) -> Outcome {
    let rt = &h.runtime;
    let port = free_port();
    let spec = h.testapp("lifecycle", &[("PORT", port.to_string())]);
    let started = start(rt, &spec).await;
    assert_eq!(started.task_id, spec.task_id);
    assert_eq!(started.container_name, "app");
    assert!(
        matches!(started.state, ContainerState::Running { .. }),
        "a started container runs: {started:?}"
    );
    assert_eq!(
        started.health,
        Health::Unknown,
        "no health check, no health"
    );
    let id = started.id.clone();

    let inspected = rt.inspect(&id).await.expect("inspect a running container");
    let ContainerState::Running { started_at } = inspected.state else {
        panic!("inspect shows it running: {inspected:?}");
    };
    assert!(
        started_at > 1.0e9,
        "started_at is in epoch seconds: {started_at}"
    );
    let listed = rt.list().await.expect("list");
    let entry = listed.iter().find(|s| s.id == id).expect("list shows it");
    assert_eq!(
        (entry.task_id.as_str(), entry.container_name.as_str()),
        (spec.task_id.as_str(), "app")
    );
    if h.caps.executes {
        let (status, _) = wait_http(local(port), "/").await;
        assert_eq!(status, 200);
    }

    rt.stop(&id, Duration::from_secs(10)).await.expect("stop");
    let stopped = rt.inspect(&id).await.expect("inspect a stopped container");
    match stopped.state {
        ContainerState::Exited {
            exit_code,
            oom_killed,
            finished_at,
            ..
        } => {
            assert_eq!(exit_code, 0, "berth-testapp exits 0 on SIGTERM");
            assert!(!oom_killed);
            assert!(finished_at >= started_at, "{finished_at} < {started_at}");
        }
        other => panic!("stop leaves the container exited, not {other:?}"),
    }
    let listed = rt.list().await.expect("list");
    assert!(
        listed.iter().any(|s| s.id == id && exited(s)),
        "exited containers stay listed until removed"
    );
    rt.stop(&id, Duration::from_secs(1))
        .await
        .expect("stopping an exited container succeeds");

    rt.remove(&id).await.expect("remove");
    assert!(matches!(
        rt.inspect(&id).await,
        Err(RuntimeError::NotFound(_))
    ));
    assert!(!rt.list().await.expect("list").iter().any(|s| s.id == id));
    assert!(matches!(
        rt.remove(&id).await,
        Err(RuntimeError::NotFound(_))
    ));
    assert!(matches!(
        rt.stop(&id, Duration::from_secs(1)).await,
        Err(RuntimeError::NotFound(_))
    ));
    Outcome::Passed
}

async fn exit_codes<R: Runtime>(h: Arc<Harness<R>>) -> Outcome {
    let rt = &h.runtime;
    let spec = h.testapp("exit-code", &[("EXIT_CODE", "3".to_string())]);
    let id = start(rt, &spec).await.id;
    let status = wait_for(rt, &id, "exited", exited).await;
    assert_eq!(code(&status), Some(3), "{status:?}");
    assert!(matches!(
        status.state,
        ContainerState::Exited {
            oom_killed: false,
            ..
        }
    ));
    let listed = rt.list().await.expect("list");
    assert!(listed.iter().any(|s| s.id == id && code(s) == Some(3)));
    rt.remove(&id).await.expect("remove");
    Outcome::Passed
}

async fn environment_and_command<R: Runtime>(h: Arc<Harness<R>>) -> Outcome {
    if !h.caps.executes {
        return Outcome::Skipped("runs no processes".to_string());
    }
    let rt = &h.runtime;
    // Exit 42 only when the environment (a sensitive value over a plain one of the same
    // name), the arguments and the directory all arrived.
    let script = r#"[ "$GREETING" = "hello world" ] || exit 10
[ "$1" = "first arg" ] || exit 11
[ "$(pwd)" = /tmp ] || exit 12
[ "$TOKEN" = "from-a-secret" ] || exit 13
exit 42"#;
    let spec = ContainerSpec {
        command: Some(vec![script.into(), "sh".into(), "first arg".into()]),
        environment: vec![
            ("GREETING".into(), "hello world".into()),
            ("TOKEN".into(), "plain".into()),
        ],
        sensitive_environment: SensitiveEnvironment::new(vec![(
            "TOKEN".into(),
            "from-a-secret".into(),
        )]),
        working_directory: Some("/tmp".into()),
        ..h.shell("environment", script)
    };
    let id = start(rt, &spec).await.id;
    let status = wait_for(rt, &id, "exited", exited).await;
    assert_eq!(code(&status), Some(42), "{status:?}");
    rt.remove(&id).await.expect("remove");

    let port = free_port();
    let spec = h.testapp(
        "version",
        &[
            ("PORT", port.to_string()),
            ("VERSION", "from-the-environment".to_string()),
        ],
    );
    let id = start(rt, &spec).await.id;
    assert_eq!(
        wait_http(local(port), "/").await,
        (200, "from-the-environment".to_string())
    );
    rt.remove(&id).await.expect("remove");
    Outcome::Passed
}

async fn static_port<R: Runtime>(h: Arc<Harness<R>>) -> Outcome {
    let rt = &h.runtime;
    let port = free_port();
    let spec = ContainerSpec {
        network: Network::Bridge,
        port_mappings: vec![PortMapping::tcp(port, Some(port))],
        ..h.testapp("static-port", &[("PORT", port.to_string())])
    };
    let started = start(rt, &spec).await;
    let binding = started
        .network_bindings
        .iter()
        .find(|b| b.container_port == port)
        .unwrap_or_else(|| panic!("no binding for {port}: {started:?}"));
    assert_eq!((binding.host_port, binding.protocol), (port, Protocol::Tcp));
    if h.caps.executes {
        assert_eq!(wait_http(local(port), "/health").await.0, 200);
    }
    rt.remove(&started.id).await.expect("remove");
    Outcome::Passed
}

async fn dynamic_port<R: Runtime>(h: Arc<Harness<R>>) -> Outcome {
    let rt = &h.runtime;
    let spec = ContainerSpec {
        network: Network::Bridge,
        port_mappings: vec![PortMapping::tcp(8080, None)],
        ..h.testapp("dynamic-port", &[])
    };
    if !h.caps.dynamic_host_ports {
        let refused = rt.start(&spec).await;
        assert!(
            matches!(refused, Err(RuntimeError::Unsupported(_))),
            "without dynamic ports, start must refuse clearly: {refused:?}"
        );
        return Outcome::Skipped("no dynamic host ports; start refused them".to_string());
    }
    let started = start(rt, &spec).await;
    let binding = started
        .network_bindings
        .iter()
        .find(|b| b.container_port == 8080)
        .unwrap_or_else(|| panic!("no binding for 8080: {started:?}"));
    assert_ne!(binding.host_port, 0, "the chosen port is reported");
    let inspected = rt.inspect(&started.id).await.expect("inspect");
    assert_eq!(inspected.network_bindings, started.network_bindings);
    if h.caps.executes {
        assert_eq!(wait_http(local(binding.host_port), "/health").await.0, 200);
    }
    rt.remove(&started.id).await.expect("remove");
    Outcome::Passed
}

async fn awsvpc<R: Runtime>(h: Arc<Harness<R>>) -> Outcome {
    let rt = &h.runtime;
    let network = Network::Awsvpc {
        network_name: format!("berth-{}", h.run),
    };
    let spec = |task: &str| ContainerSpec {
        network: network.clone(),
        port_mappings: vec![PortMapping::tcp(8080, None)],
        ..h.testapp(task, &[])
    };
    if !h.caps.awsvpc {
        let refused = rt.start(&spec("awsvpc-a")).await;
        assert!(
            matches!(refused, Err(RuntimeError::Unsupported(_))),
            "without awsvpc, start must refuse clearly: {refused:?}"
        );
        return Outcome::Skipped("no awsvpc; start refused it".to_string());
    }
    let a = start(rt, &spec("awsvpc-a")).await;
    let b = start(rt, &spec("awsvpc-b")).await;
    let ip = |status: &ContainerStatus| -> IpAddr {
        status
            .ip_address
            .unwrap_or_else(|| panic!("an awsvpc task has its own address: {status:?}"))
    };
    assert_ne!(ip(&a), ip(&b), "each task has its own address");
    if h.caps.executes {
        for status in [&a, &b] {
            let address = SocketAddr::new(ip(status), 8080);
            assert_eq!(wait_http(address, "/health").await.0, 200);
        }
    }
    rt.remove(&a.id).await.expect("remove");
    rt.remove(&b.id).await.expect("remove");
    Outcome::Passed
}

async fn stop_timeout<R: Runtime>(h: Arc<Harness<R>>) -> Outcome {
    let rt = &h.runtime;
    let port = free_port();
    let spec = h.testapp(
        "stop-timeout",
        &[
            ("PORT", port.to_string()),
            ("IGNORE_SIGTERM", "1".to_string()),
        ],
    );
    let id = start(rt, &spec).await.id;
    if h.caps.executes {
        // Listening means the signal disposition is in place.
        wait_http(local(port), "/").await;
    }
    let timeout = Duration::from_secs(1);
    let began = Instant::now();
    rt.stop(&id, timeout).await.expect("stop");
    let took = began.elapsed();
    let status = rt.inspect(&id).await.expect("inspect");
    assert_eq!(
        code(&status),
        Some(137),
        "SIGTERM ignored, so SIGKILL: {status:?}"
    );
    if h.caps.executes {
        assert!(
            took >= timeout,
            "killed after {took:?}, before the {timeout:?} timeout"
        );
    }
    rt.remove(&id).await.expect("remove");
    Outcome::Passed
}

async fn health_exec<R: Runtime>(h: Arc<Harness<R>>) -> Outcome {
    let rt = &h.runtime;
    let (good_port, bad_port) = (free_port(), free_port());
    let good = ContainerSpec {
        health_check: Some(h.check_port(good_port)),
        ..h.testapp("health-good", &[("PORT", good_port.to_string())])
    };
    let bad = ContainerSpec {
        health_check: Some(h.check_port(bad_port)),
        ..h.testapp(
            "health-bad",
            &[
                ("PORT", bad_port.to_string()),
                ("FAIL_HEALTH", "1".to_string()),
            ],
        )
    };
    let good = start(rt, &good).await.id;
    let bad = start(rt, &bad).await.id;
    wait_for(rt, &good, "HEALTHY", |s| s.health == Health::Healthy).await;
    wait_for(rt, &bad, "UNHEALTHY", |s| s.health == Health::Unhealthy).await;
    rt.remove(&good).await.expect("remove");
    rt.remove(&bad).await.expect("remove");
    Outcome::Passed
}

async fn health_shell<R: Runtime>(h: Arc<Harness<R>>) -> Outcome {
    if !h.caps.executes {
        return Outcome::Skipped("runs no shell".to_string());
    }
    let rt = &h.runtime;
    let good = ContainerSpec {
        environment: vec![("MARKER".into(), "yes".into())],
        // The probe sees the container's environment.
        health_check: Some(quick_check(HealthCommand::Shell(
            r#"[ "$MARKER" = yes ]"#.into(),
        ))),
        ..h.shell("shell-health-good", "sleep 600")
    };
    let bad = ContainerSpec {
        health_check: Some(quick_check(HealthCommand::Shell("exit 1".into()))),
        ..h.shell("shell-health-bad", "sleep 600")
    };
    let good = start(rt, &good).await.id;
    let bad = start(rt, &bad).await.id;
    wait_for(rt, &good, "HEALTHY", |s| s.health == Health::Healthy).await;
    wait_for(rt, &bad, "UNHEALTHY", |s| s.health == Health::Unhealthy).await;
    rt.remove(&good).await.expect("remove");
    rt.remove(&bad).await.expect("remove");
    Outcome::Passed
}

/// A command that starts with neither CMD nor CMD-SHELL is not run, as Docker does with it:
/// the container keeps UNKNOWN health, here even though the command would pass if it ran.
async fn health_without_cmd<R: Runtime>(h: Arc<Harness<R>>) -> Outcome {
    let rt = &h.runtime;
    let (unchecked_port, witness_port) = (free_port(), free_port());
    let unchecked = ContainerSpec {
        health_check: Some(quick_check(HealthCommand::NoCheck(
            h.check_words(unchecked_port),
        ))),
        ..h.testapp("health-unchecked", &[("PORT", unchecked_port.to_string())])
    };
    let witness = ContainerSpec {
        health_check: Some(h.check_port(witness_port)),
        ..h.testapp("health-witness", &[("PORT", witness_port.to_string())])
    };
    let unchecked = start(rt, &unchecked).await.id;
    let witness = start(rt, &witness).await.id;
    // The witness, started later on the same schedule, passing its first check means the
    // unchecked container's first check would have run by now.
    wait_for(rt, &witness, "HEALTHY", |s| s.health == Health::Healthy).await;
    for runtime in [rt, &h.restarted] {
        let status = runtime.inspect(&unchecked).await.expect("inspect");
        assert!(
            matches!(status.state, ContainerState::Running { .. }),
            "{status:?}"
        );
        assert_eq!(status.health, Health::Unknown, "{status:?}");
    }
    rt.remove(&unchecked).await.expect("remove");
    rt.remove(&witness).await.expect("remove");
    Outcome::Passed
}

async fn adopt_after_restart<R: Runtime>(h: Arc<Harness<R>>) -> Outcome {
    let (a_port, b_port) = (free_port(), free_port());
    let a = h.testapp("adopt-a", &[("PORT", a_port.to_string())]);
    let b = ContainerSpec {
        health_check: Some(h.check_port(b_port)),
        ..h.testapp("adopt-b", &[("PORT", b_port.to_string())])
    };
    let a_id = start(&h.runtime, &a).await.id;
    let b_id = start(&h.runtime, &b).await.id;
    if h.caps.executes {
        wait_http(local(a_port), "/").await;
        wait_http(local(b_port), "/").await;
    }

    let later = &h.restarted;
    let listed = later.list().await.expect("list after restart");
    for (id, spec) in [(&a_id, &a), (&b_id, &b)] {
        let found = listed
            .iter()
            .find(|s| &s.id == id)
            .unwrap_or_else(|| panic!("the restarted runtime lists {id}"));
        assert_eq!(found.task_id, spec.task_id);
        assert_eq!(found.container_name, spec.container_name);
        assert!(
            matches!(found.state, ContainerState::Running { .. }),
            "still running: {found:?}"
        );
    }
    // Health checking carries on for adopted containers.
    wait_for(later, &b_id, "HEALTHY after adoption", |s| {
        s.health == Health::Healthy
    })
    .await;

    later
        .stop(&a_id, Duration::from_secs(10))
        .await
        .expect("stop an adopted container");
    wait_for(later, &a_id, "exited", exited).await;
    later.remove(&a_id).await.expect("remove");
    later.remove(&b_id).await.expect("remove");
    let listed = h.runtime.list().await.expect("list");
    assert!(
        !listed.iter().any(|s| s.id == a_id || s.id == b_id),
        "removed containers vanish for every instance"
    );
    assert!(matches!(
        h.runtime.inspect(&b_id).await,
        Err(RuntimeError::NotFound(_))
    ));
    Outcome::Passed
}

/// What containers do on their own (turn healthy, exit) shows in `list`, however often they
/// were listed before: a runtime that keeps what it saw must notice when it goes stale.
async fn list_follows_changes<R: Runtime>(h: Arc<Harness<R>>) -> Outcome {
    if !h.caps.executes {
        return Outcome::Skipped("containers change only when told".to_string());
    }
    let rt = &h.runtime;
    let port = free_port();
    let healthy = ContainerSpec {
        health_check: Some(h.check_port(port)),
        ..h.testapp("list-healthy", &[("PORT", port.to_string())])
    };
    // A port of its own: another check's app on the host network may hold the default.
    let exiting = h.testapp(
        "list-exiting",
        &[
            ("PORT", free_port().to_string()),
            ("EXIT_CODE", "7".to_string()),
            ("EXIT_AFTER_SECS", "3".to_string()),
        ],
    );
    let healthy = start(rt, &healthy).await.id;
    let exiting = start(rt, &exiting).await.id;
    let listed = rt.list().await.expect("list");
    for id in [&healthy, &exiting] {
        assert!(
            listed
                .iter()
                .any(|s| &s.id == id && matches!(s.state, ContainerState::Running { .. })),
            "{id} is listed running at first: {listed:?}"
        );
    }
    wait_listed(rt, &healthy, "HEALTHY", |s| s.health == Health::Healthy).await;
    let status = wait_listed(rt, &exiting, "exited", exited).await;
    assert_eq!(code(&status), Some(7), "{status:?}");
    rt.remove(&healthy).await.expect("remove");
    rt.remove(&exiting).await.expect("remove");
    Outcome::Passed
}

async fn missing_executable<R: Runtime>(h: Arc<Harness<R>>) -> Outcome {
    let rt = &h.runtime;
    let spec = ContainerSpec {
        entry_point: Some(vec![h.fixture.missing_executable.clone()]),
        ..h.testapp("missing-executable", &[])
    };
    match rt.start(&spec).await {
        Err(error @ RuntimeError::MissingExecutable(_)) => assert!(
            error.to_string().starts_with("CannotStartContainerError: "),
            "{error}"
        ),
        other => panic!("a missing executable is MissingExecutable, not {other:?}"),
    }
    let listed = rt.list().await.expect("list");
    assert!(
        !listed.iter().any(|s| s.task_id == spec.task_id),
        "a failed start leaves nothing behind: {listed:?}"
    );
    Outcome::Passed
}

/// A container burning a core shows CPU time that grows, and memory in use while it runs;
/// once stopped it uses no memory. (A runtime that executes nothing has no CPU to show.)
async fn usage<R: Runtime>(h: Arc<Harness<R>>) -> Outcome {
    let rt = &h.runtime;
    match rt.usage("berth-no-such-container").await {
        Err(RuntimeError::NotFound(_)) => {}
        other => panic!("usage of an unknown id is NotFound, not {other:?}"),
    }
    let port = free_port();
    let spec = h.testapp(
        "usage",
        &[("BURN_CPU", "1".to_string()), ("PORT", port.to_string())],
    );
    rt.ensure_image(&spec.image, None).await.expect("image");
    let started = start(rt, &spec).await;
    let first = rt.usage(&started.id).await.expect("usage");
    let deadline = Instant::now() + WAIT;
    let seen = loop {
        let now = rt.usage(&started.id).await.expect("usage");
        let burned = !h.caps.executes || now.cpu_time > first.cpu_time;
        if burned && now.memory_bytes > 0 {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "a container burning CPU showed no growing CPU time or no memory within {WAIT:?}: first {first:?}, last {now:?}"
        );
        tokio::time::sleep(POLL * 4).await;
    };
    assert!(
        seen.memory_bytes < 1 << 30,
        "a small test app uses less than 1 GiB: {seen:?}"
    );
    rt.stop(&started.id, Duration::from_secs(5))
        .await
        .expect("stop");
    let stopped = rt.usage(&started.id).await.expect("usage after stop");
    assert_eq!(stopped.memory_bytes, 0, "{stopped:?}");
    rt.remove(&started.id).await.expect("remove");
    Outcome::Passed
}

async fn missing_image<R: Runtime>(h: Arc<Harness<R>>) -> Outcome {
    if !h.caps.pulls_images {
        return Outcome::Skipped("has no images".to_string());
    }
    let rt = &h.runtime;
    rt.ensure_image(&h.fixture.testapp_image, None)
        .await
        .expect("an image that is present needs no pull");
    let credentials = RegistryCredentials {
        username: "deploy".into(),
        password: "pull-Zq81-unique".into(),
    };
    match rt
        .ensure_image(&h.fixture.missing_image, Some(&credentials))
        .await
    {
        Err(error @ RuntimeError::CannotPull { .. }) => {
            let RuntimeError::CannotPull { image, .. } = &error else {
                unreachable!()
            };
            assert_eq!(image, &h.fixture.missing_image);
            assert!(
                error.to_string().starts_with("CannotPullContainerError: "),
                "{error}"
            );
            assert!(
                !format!("{error} {error:?}").contains(&credentials.password),
                "a failed pull never shows the registry password: {error:?}"
            );
        }
        other => panic!("an image that cannot be pulled is CannotPull, not {other:?}"),
    }
    Outcome::Passed
}

/// Everything `output` yields, failing the check on an error or when it does not end.
async fn read_output<R: Runtime>(runtime: &R, id: &str, after: Option<u64>) -> Vec<OutputLine> {
    let mut lines = Vec::new();
    let mut output = runtime.output(id, after);
    let reading = async {
        while let Some(line) = output.next().await {
            lines.push(line.unwrap_or_else(|e| panic!("output of {id}: {e}")));
        }
    };
    tokio::time::timeout(WAIT, reading)
        .await
        .unwrap_or_else(|_| panic!("the output of exited {id} did not end within {WAIT:?}"));
    lines
}

/// Both streams, each in the order written, with the container's own timestamps and
/// positions that resume exactly after a line, also from a restarted agent's runtime.
async fn output_in_order_and_resumable<R: Runtime>(h: Arc<Harness<R>>) -> Outcome {
    if !h.caps.executes {
        return Outcome::Skipped("runs nothing, so nothing writes output".to_string());
    }
    let rt = &h.runtime;
    let before = berth_time::now();
    let script = "i=1; while [ $i -le 300 ]; do echo \"out $i\"; echo \"err $i\" >&2; \
                  i=$((i+1)); done; printf 'no newline at the end'";
    let id = start(rt, &h.shell("output", script)).await.id;
    wait_for(rt, &id, "exited", exited).await;
    let lines = read_output(rt, &id, None).await;
    let after = berth_time::now();
    let texts = |stream: OutputStream| -> Vec<&str> {
        lines
            .iter()
            .filter(|l| l.stream == stream)
            .map(|l| l.text.as_str())
            .collect()
    };
    let mut wanted_out: Vec<String> = (1..=300).map(|i| format!("out {i}")).collect();
    wanted_out.push("no newline at the end".to_string());
    let wanted_err: Vec<String> = (1..=300).map(|i| format!("err {i}")).collect();
    assert_eq!(texts(OutputStream::Stdout), wanted_out);
    assert_eq!(texts(OutputStream::Stderr), wanted_err);
    assert!(
        lines.windows(2).all(|w| w[0].position < w[1].position),
        "positions grow line by line"
    );
    for line in &lines {
        let written = line.written_at_nanos as f64 / 1e9;
        assert!(
            written >= before - 1.0 && written <= after + 1.0,
            "{line:?} was written between {before} and {after}"
        );
    }
    for stream in [OutputStream::Stdout, OutputStream::Stderr] {
        let times: Vec<i64> = lines
            .iter()
            .filter(|l| l.stream == stream)
            .map(|l| l.written_at_nanos)
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "{stream:?} timestamps never go back"
        );
    }
    let resumed = read_output(rt, &id, Some(lines[199].position)).await;
    assert_eq!(resumed, lines[200..], "reading on after the 200th line");
    let at_end = read_output(rt, &id, lines.last().map(|l| l.position)).await;
    assert!(at_end.is_empty(), "nothing after the last line: {at_end:?}");
    let adopted = read_output(&h.restarted, &id, Some(lines[9].position)).await;
    assert_eq!(
        adopted,
        lines[10..],
        "a restarted agent reads the same lines"
    );
    rt.remove(&id).await.expect("remove");
    let mut gone = rt.output(&id, None);
    match gone.next().await {
        Some(Err(RuntimeError::NotFound(_))) => {}
        other => panic!("the output of a removed container is NotFound, not {other:?}"),
    }
    Outcome::Passed
}

/// A running container's lines arrive while it runs, and the stream ends when it stops.
async fn output_followed_while_running<R: Runtime>(h: Arc<Harness<R>>) -> Outcome {
    if !h.caps.executes {
        return Outcome::Skipped("runs nothing, so nothing writes output".to_string());
    }
    let rt = &h.runtime;
    let spec = h.testapp(
        "output-follow",
        &[
            ("PORT", free_port().to_string()),
            ("LOG_EVERY_MS", "50".to_string()),
        ],
    );
    let id = start(rt, &spec).await.id;
    let mut output = rt.output(&id, None);
    let mut seen: Vec<String> = Vec::new();
    let wanted = ["stdout line 2", "stderr line 2"];
    while !wanted.iter().all(|w| seen.iter().any(|s| s == w)) {
        assert!(seen.len() < 20, "lines of both streams arrive: {seen:?}");
        let line = tokio::time::timeout(WAIT, output.next())
            .await
            .unwrap_or_else(|_| panic!("no line from running {id} within {WAIT:?}"))
            .unwrap_or_else(|| panic!("the output of running {id} ended"))
            .unwrap_or_else(|e| panic!("output of {id}: {e}"));
        seen.push(line.text);
    }
    rt.stop(&id, Duration::from_secs(5)).await.expect("stop");
    let rest = async {
        while let Some(line) = output.next().await {
            line.unwrap_or_else(|e| panic!("output of {id}: {e}"));
        }
    };
    tokio::time::timeout(WAIT, rest)
        .await
        .unwrap_or_else(|_| panic!("the output of stopped {id} did not end within {WAIT:?}"));
    rt.remove(&id).await.expect("remove");
    Outcome::Passed
}
