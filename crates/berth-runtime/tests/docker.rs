//! The Docker runtime keeps the runtime contract against the real engine, plus what only it
//! does: limits, mounts and OOM kills through the engine, and the test images themselves.
//!
//! The tests that need an engine run with the `docker-tests` feature, which `scripts/test.sh`
//! turns on; without it they are reported as ignored, never as passed. With it, an engine
//! that does not answer fails them.

mod common;

use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use berth_runtime::conformance::{self, Capabilities, Fixture};
use berth_runtime::docker::DockerRuntime;
use berth_runtime::{
    ContainerSpec, ContainerState, ContainerStatus, Mount, MountSource, Network, PortMapping,
    Runtime, RuntimeConfig, RuntimeError, Ulimit,
};

const SCOPE_LABEL: &str = "berth.test-run";

/// One test's scope: a unique label value on everything the test creates, and a guard that
/// removes everything carrying it (containers, networks) and the test's volumes when the
/// test ends, also on failure. It uses the docker CLI so it works from `Drop`.
struct Scope {
    id: String,
}

impl Scope {
    fn new(test: &str) -> Scope {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Scope {
            id: format!("{test}-{:x}{:x}", std::process::id(), nanos % (1 << 40)),
        }
    }

    fn config(&self) -> RuntimeConfig {
        RuntimeConfig::scoped(SCOPE_LABEL, &self.id)
    }
}

fn docker_cli(args: &[&str]) -> String {
    Command::new("docker")
        .args(args)
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default()
}

impl Drop for Scope {
    fn drop(&mut self) {
        let label = format!("label={SCOPE_LABEL}={}", self.id);
        let remove = |list: &[&str], remove: &[&str]| {
            let ids = docker_cli(list);
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                docker_cli(&[remove, &ids].concat());
            }
        };
        remove(&["ps", "-aq", "--filter", &label], &["rm", "-f", "-v"]);
        remove(
            &["network", "ls", "-q", "--filter", &label],
            &["network", "rm"],
        );
        let volumes = format!("name={}", self.id);
        remove(
            &["volume", "ls", "-q", "--filter", &volumes],
            &["volume", "rm", "-f"],
        );
    }
}

/// The engine, with the test images built.
async fn docker(scope: &Scope) -> DockerRuntime {
    let runtime = DockerRuntime::connect(scope.config())
        .await
        .unwrap_or_else(|error| panic!("these tests need a Docker engine: {error}"));
    static IMAGES: OnceLock<()> = OnceLock::new();
    IMAGES.get_or_init(|| {
        common::test_images(&[]);
    });
    runtime
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs a Docker engine: run with --features berth-runtime/docker-tests (scripts/test.sh does)"
)]
async fn docker_runtime_conforms() {
    let scope = Scope::new("conformance");
    let first = docker(&scope).await;
    let client = first.client().clone();
    let caps = Capabilities {
        executes: true,
        pulls_images: true,
        dynamic_host_ports: true,
        awsvpc: true,
    };
    let fixture = Fixture {
        testapp_image: "berth-testapp:v1".into(),
        testapp: "/berth-testapp".into(),
        shell_image: "berth-busybox:latest".into(),
        missing_image: "berth-test/never-pushed:nope".into(),
        missing_executable: "/nonexistent/berth-missing".into(),
    };
    let report = conformance::run_all(
        || DockerRuntime::with_client(client.clone(), scope.config()),
        caps,
        fixture,
    )
    .await;
    println!("{report:#?}");
    assert!(report.skipped.is_empty(), "{report:?}");
}

async fn wait_exit(runtime: &DockerRuntime, id: &str) -> ContainerStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = runtime.inspect(id).await.expect("inspect");
        if matches!(status.state, ContainerState::Exited { .. }) {
            return status;
        }
        assert!(Instant::now() < deadline, "{id} never exited: {status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn testapp(scope: &Scope, task: &str, image: &str) -> ContainerSpec {
    ContainerSpec::new(format!("{}-{task}", scope.id), "app", image)
}

#[tokio::test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs a Docker engine: run with --features berth-runtime/docker-tests (scripts/test.sh does)"
)]
async fn oom_kill_is_reported() {
    let scope = Scope::new("oom");
    let docker = docker(&scope).await;
    let spec = ContainerSpec {
        memory_limit_mib: Some(16),
        environment: vec![("ALLOCATE_MB_PER_SEC".into(), "200".into())],
        ..testapp(&scope, "oom", "berth-testapp:v1")
    };
    let id = docker.start(&spec).await.expect("start").id;
    match wait_exit(&docker, &id).await.state {
        ContainerState::Exited {
            exit_code,
            oom_killed,
            ..
        } => {
            assert!(oom_killed, "the OOM kill is reported");
            assert_eq!(exit_code, 137);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs a Docker engine: run with --features berth-runtime/docker-tests (scripts/test.sh does)"
)]
async fn settings_reach_the_engine_and_the_process() {
    let scope = Scope::new("settings");
    let docker = docker(&scope).await;
    let host_dir = tempfile::tempdir().expect("a host directory");
    std::fs::write(host_dir.path().join("greeting"), "hello").unwrap();
    let volume = format!("{}-volume", scope.id);
    // Exit 0 only if every setting arrived: the read-only bind, the writable volume, the
    // user, the ulimit and the working directory. Mount modes are read from /proc/mounts
    // because uid 1000 could not write to either mount anyway.
    let script = r#"[ "$(cat /host/greeting)" = hello ] || exit 10
grep -q " /host [^ ]* ro," /proc/mounts || exit 11
grep -q " /volume [^ ]* rw," /proc/mounts || exit 12
[ "$(id -u):$(id -g)" = 1000:1000 ] || exit 13
[ "$(ulimit -n)" = 1024 ] || exit 14
[ "$(pwd)" = /volume ] || exit 15
exit 0"#;
    let spec = ContainerSpec {
        entry_point: Some(vec!["/bin/sh".into(), "-c".into()]),
        command: Some(vec![script.into()]),
        user: Some("1000:1000".into()),
        working_directory: Some("/volume".into()),
        ulimits: vec![Ulimit {
            name: "nofile".into(),
            soft: 1024,
            hard: 2048,
        }],
        mounts: vec![
            Mount {
                source: MountSource::Host(host_dir.path().display().to_string()),
                target: "/host".into(),
                read_only: true,
            },
            Mount {
                source: MountSource::Volume(volume),
                target: "/volume".into(),
                read_only: false,
            },
        ],
        cpu_shares: Some(256),
        memory_limit_mib: Some(64),
        memory_reservation_mib: Some(32),
        labels: [("team".to_string(), "search".to_string())].into(),
        ..ContainerSpec::new(
            format!("{}-settings", scope.id),
            "shell",
            "berth-busybox:latest",
        )
    };
    let id = docker.start(&spec).await.expect("start").id;
    let status = wait_exit(&docker, &id).await;
    assert!(
        matches!(status.state, ContainerState::Exited { exit_code: 0, .. }),
        "{status:?}"
    );

    let inspected: serde_json::Value =
        serde_json::from_str(&docker_cli(&["inspect", &id])).expect("docker inspect");
    let container = &inspected[0];
    let host = &container["HostConfig"];
    assert_eq!(host["CpuShares"], 256);
    assert_eq!(host["Memory"], 64 << 20);
    assert_eq!(host["MemoryReservation"], 32 << 20);
    let labels = &container["Config"]["Labels"];
    assert_eq!(labels["team"], "search");
    assert_eq!(labels["berth.task-id"], spec.task_id.as_str());
    assert_eq!(labels["berth.container-name"], "shell");
    assert_eq!(labels["berth.managed"], "1");
}

#[tokio::test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs a Docker engine: run with --features berth-runtime/docker-tests (scripts/test.sh does)"
)]
async fn images_answer_their_versions() {
    let scope = Scope::new("versions");
    let docker = docker(&scope).await;
    for version in ["v1", "v2"] {
        let spec = ContainerSpec {
            port_mappings: vec![PortMapping::tcp(8080, None)],
            ..testapp(&scope, version, &format!("berth-testapp:{version}"))
        };
        let started = docker.start(&spec).await.expect("start");
        let port = started.network_bindings[0].host_port;
        let deadline = Instant::now() + Duration::from_secs(30);
        let body = loop {
            let answer = Command::new("docker")
                .args(["run", "--rm", "--network", "host", "berth-busybox:latest"])
                .args([
                    "wget",
                    "-q",
                    "-O",
                    "-",
                    &format!("http://127.0.0.1:{port}/"),
                ])
                .output()
                .expect("run wget");
            if answer.status.success() {
                break String::from_utf8_lossy(&answer.stdout).into_owned();
            }
            assert!(Instant::now() < deadline, "{version} never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(body, version);
    }
}

#[tokio::test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs a Docker engine: run with --features berth-runtime/docker-tests (scripts/test.sh does)"
)]
async fn other_scopes_are_invisible_and_untouchable() {
    let mine = Scope::new("mine");
    let theirs = Scope::new("theirs");
    let docker = docker(&mine).await;
    let spec = ContainerSpec {
        network: Network::None,
        ..testapp(&mine, "scoped", "berth-testapp:v1")
    };
    let id = docker.start(&spec).await.expect("start").id;
    let other = DockerRuntime::with_client(docker.client().clone(), theirs.config());
    assert!(other.list().await.unwrap().iter().all(|s| s.id != id));
    assert!(matches!(
        other.inspect(&id).await,
        Err(RuntimeError::NotFound(_))
    ));
    assert!(matches!(
        other.stop(&id, Duration::from_secs(1)).await,
        Err(RuntimeError::NotFound(_))
    ));
    assert!(matches!(
        other.remove(&id).await,
        Err(RuntimeError::NotFound(_))
    ));
    assert!(matches!(
        docker.inspect(&id).await.unwrap().state,
        ContainerState::Running { .. }
    ));
}

/// Needs no engine: the socket is a plain file, so every request fails to connect.
#[tokio::test]
async fn a_failed_request_keeps_the_engine_clients_error() {
    let dir = tempfile::tempdir().expect("a directory");
    let socket = dir.path().join("docker.sock");
    std::fs::write(&socket, "").unwrap();
    let client = bollard::Docker::connect_with_unix(
        socket.to_str().unwrap(),
        5,
        bollard::API_DEFAULT_VERSION,
    )
    .expect("a client");
    let runtime = DockerRuntime::with_client(client, RuntimeConfig::scoped(SCOPE_LABEL, "none"));
    let error = runtime
        .list()
        .await
        .expect_err("nothing answers on a plain file");
    assert!(matches!(error, RuntimeError::Docker(_)), "{error}");
    let source = std::error::Error::source(&error).expect("the error keeps its source");
    assert!(source.is::<bollard::errors::Error>(), "{source:?}");
}

/// Two agents on one engine given the same labels (as two agents given none are), each with
/// its own instance: neither sees nor touches the other's containers, and an agent restarted
/// as the same instance adopts its own.
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs a Docker engine: run with --features berth-runtime/docker-tests (scripts/test.sh does)"
)]
#[tokio::test]
async fn agents_sharing_an_engine_keep_to_their_own_instance() {
    let scope = Scope::new("instances");
    let docker = docker(&scope).await;
    let agent = |instance: &str| {
        DockerRuntime::with_client(
            docker.client().clone(),
            RuntimeConfig::for_instance(instance, scope.config().scope),
        )
    };
    let (first, second) = (agent("i-first"), agent("i-second"));
    let spec = |task: &str| ContainerSpec {
        network: Network::None,
        ..testapp(&scope, task, "berth-testapp:v1")
    };
    let mine = first.start(&spec("first")).await.expect("start").id;
    let theirs = second.start(&spec("second")).await.expect("start").id;
    for (runtime, own, other) in [(&first, &mine, &theirs), (&second, &theirs, &mine)] {
        let listed: Vec<String> = runtime
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(listed, [own.as_str()]);
        assert!(matches!(
            runtime.inspect(other).await,
            Err(RuntimeError::NotFound(_))
        ));
        assert!(matches!(
            runtime.stop(other, Duration::from_secs(1)).await,
            Err(RuntimeError::NotFound(_))
        ));
        assert!(matches!(
            runtime.remove(other).await,
            Err(RuntimeError::NotFound(_))
        ));
    }
    let restarted = agent("i-first");
    let adopted: Vec<String> = restarted
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(adopted, [mine.as_str()]);
    restarted.remove(&mine).await.expect("remove its own");
    assert!(matches!(
        second.inspect(&theirs).await.unwrap().state,
        ContainerState::Running { .. }
    ));
}

/// With output back-pressure, a container writing more than its json-file keeps while
/// nothing is shipped is paused before a rotation could delete a line not yet shipped; as
/// positions are shipped it goes on, and every line arrives, in order, with nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs a Docker engine: run with --features berth-runtime/docker-tests (scripts/test.sh does)"
)]
async fn held_output_pauses_the_writer_and_loses_nothing() {
    use futures_util::StreamExt;
    const LINES: u64 = 800_000;
    let scope = Scope::new("held");
    // What the engine keeps by default, 32 MiB in two files. A shell loop writes about 5 MB of
    // entries a second (a busy application's pace), about 60 bytes each: 48 MB in all.
    let runtime = docker(&scope).await;
    let spec = ContainerSpec {
        output_backpressure: true,
        command: Some(vec![
            "/bin/sh".into(),
            "-c".into(),
            format!("i=0; while [ $i -lt {LINES} ]; do i=$((i+1)); echo $i; done"),
        ]),
        ..testapp(&scope, "held", "berth-busybox:latest")
    };
    let id = runtime.start(&spec).await.expect("start").id;

    // Nothing shipped: the writer is paused with its first line still kept.
    let deadline = Instant::now() + Duration::from_secs(60);
    while docker_cli(&["inspect", "-f", "{{.State.Paused}}", &id]).trim() != "true" {
        assert!(Instant::now() < deadline, "the writer was never held");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = runtime.inspect(&id).await.expect("inspect");
    assert!(
        matches!(status.state, ContainerState::Running { .. }),
        "a held container still runs: {status:?}"
    );
    let mut output = runtime.output(&id, None);
    let first = output.next().await.expect("a line").expect("readable");
    assert_eq!(first.text, "1", "nothing was dropped");
    assert_eq!(
        docker_cli(&["inspect", "-f", "{{.State.Paused}}", &id]).trim(),
        "true",
        "held until something is shipped"
    );

    // Shipping as it reads, the way the agent acknowledges: every line, in order.
    let lines = common::read_shipping(&runtime, &id, first, output, Duration::from_secs(120)).await;
    assert_eq!(lines.len() as u64, LINES);
    for (number, line) in (1..).zip(&lines) {
        assert_eq!(line.text, number.to_string());
    }
    wait_exit(&runtime, &id).await;
    runtime.remove(&id).await.expect("remove");
}
