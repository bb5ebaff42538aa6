//! The process runtime keeps the runtime contract with real host processes, plus what only it
//! does: ulimits and users through the kernel, output files, process groups.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_runtime::conformance::{self, Capabilities, Fixture};
use berth_runtime::process::ProcessRuntime;
use berth_runtime::{
    ContainerSpec, ContainerState, ContainerStatus, Mount, MountSource, Network, Runtime,
    RuntimeConfig, RuntimeError, Ulimit,
};

/// Kills whatever a test leaves running, also when it fails: on a fresh runtime in its own
/// thread, since the test's runtime may be gone or panicking.
struct Sweep {
    state_dir: PathBuf,
}

impl Drop for Sweep {
    fn drop(&mut self) {
        let state_dir = self.state_dir.clone();
        let swept = std::thread::spawn(move || {
            let tokio = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for cleanup");
            tokio.block_on(async {
                let runtime = ProcessRuntime::new(RuntimeConfig::default(), &state_dir)
                    .expect("open the state directory");
                for status in runtime.list().await.unwrap_or_default() {
                    let _ = runtime.remove(&status.id).await;
                }
            });
        });
        let _ = swept.join();
    }
}

struct Setup {
    state: tempfile::TempDir,
    _sweep: Sweep,
}

fn setup() -> Setup {
    let state = tempfile::tempdir().expect("a state directory");
    let sweep = Sweep {
        state_dir: state.path().to_path_buf(),
    };
    Setup {
        state,
        _sweep: sweep,
    }
}

fn runtime(state_dir: &Path) -> ProcessRuntime {
    ProcessRuntime::new(
        RuntimeConfig::scoped("berth.test-run", "process"),
        state_dir,
    )
    .expect("a process runtime")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_runtime_conforms() {
    let testapp = common::test_images(&["--binary"]);
    let setup = setup();
    let caps = Capabilities {
        executes: true,
        pulls_images: false,
        dynamic_host_ports: false,
        awsvpc: false,
    };
    let fixture = Fixture {
        testapp_image: "unused: the process runtime has no images".into(),
        testapp,
        shell_image: "unused: the process runtime has no images".into(),
        missing_image: "unused".into(),
        missing_executable: "/nonexistent/berth-missing".into(),
    };
    let state_dir = setup.state.path();
    let report = conformance::run_all(|| runtime(state_dir), caps, fixture).await;
    println!("{report:#?}");
    assert_eq!(
        report.skipped_names(),
        ["dynamic_port", "awsvpc", "missing_image"]
    );
}

fn shell(task: &str, script: &str) -> ContainerSpec {
    ContainerSpec {
        entry_point: Some(vec!["/bin/sh".into(), "-c".into(), script.into()]),
        network: Network::Host,
        ..ContainerSpec::new(task, "shell", "none")
    }
}

async fn wait_exit(runtime: &ProcessRuntime, id: &str) -> ContainerStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = runtime.inspect(id).await.expect("inspect");
        if matches!(status.state, ContainerState::Exited { .. }) {
            return status;
        }
        assert!(Instant::now() < deadline, "{id} never exited: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn exit_code(status: &ContainerStatus) -> i64 {
    match status.state {
        ContainerState::Exited { exit_code, .. } => exit_code,
        _ => panic!("not exited: {status:?}"),
    }
}

#[tokio::test]
async fn ulimits_and_user_reach_the_process() {
    let setup = setup();
    let runtime = runtime(setup.state.path());
    // SAFETY: geteuid only reads the process's credentials.
    let root = unsafe { libc::geteuid() } == 0;
    let spec = ContainerSpec {
        ulimits: vec![Ulimit {
            name: "nofile".into(),
            soft: 256,
            hard: 512,
        }],
        // Switching users needs root; elsewhere only the ulimit is checked.
        user: root.then(|| "65534:65534".to_string()),
        environment: vec![("EXPECT_UID".into(), if root { "65534" } else { "" }.into())],
        ..shell(
            "limits",
            r#"[ "$(ulimit -n)" = 256 ] || exit 10
[ -z "$EXPECT_UID" ] || [ "$(id -u):$(id -g)" = "$EXPECT_UID:$EXPECT_UID" ] || exit 11
exit 0"#,
        )
    };
    let id = runtime.start(&spec).await.expect("start").id;
    assert_eq!(exit_code(&wait_exit(&runtime, &id).await), 0);
}

#[tokio::test]
async fn output_goes_to_log_files() {
    let setup = setup();
    let runtime = runtime(setup.state.path());
    let spec = shell("logs", "echo to-stdout; echo to-stderr >&2");
    let id = runtime.start(&spec).await.expect("start").id;
    wait_exit(&runtime, &id).await;
    let read = |name: &str| std::fs::read_to_string(setup.state.path().join(&id).join(name));
    assert_eq!(read("stdout.log").unwrap(), "to-stdout\n");
    assert_eq!(read("stderr.log").unwrap(), "to-stderr\n");
}

#[tokio::test]
async fn the_process_group_dies_with_its_leader() {
    let setup = setup();
    let runtime = runtime(setup.state.path());
    let pid_file = setup.state.path().join("background.pid");
    let script = format!("sleep 600 & echo $! > {}; exit 5", pid_file.display());
    let id = runtime
        .start(&shell("group", &script))
        .await
        .expect("start")
        .id;
    assert_eq!(exit_code(&wait_exit(&runtime, &id).await), 5);
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("the script wrote its child's pid")
        .trim()
        .parse()
        .expect("a pid");
    // The sleep is not our child, so once killed it vanishes from /proc (or stays a zombie of
    // the reaper it was handed to, state Z).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rfind(')')
            .and_then(|close| stat[close + 1..].split_whitespace().next());
        if matches!(state, None | Some("Z")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "background process {pid} survived its leader"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn what_a_host_process_cannot_have_is_refused() {
    let setup = setup();
    let runtime = runtime(setup.state.path());
    let with_volume = ContainerSpec {
        mounts: vec![Mount {
            source: MountSource::Volume("data".into()),
            target: "/data".into(),
            read_only: false,
        }],
        ..shell("volume", "true")
    };
    let refused = runtime.start(&with_volume).await;
    assert!(
        matches!(refused, Err(RuntimeError::Unsupported(_))),
        "{refused:?}"
    );
    let nowhere = ContainerSpec {
        working_directory: Some("/nonexistent/berth-dir".into()),
        ..shell("nowhere", "true")
    };
    let refused = runtime.start(&nowhere).await;
    assert!(
        matches!(refused, Err(RuntimeError::CannotStart(_))),
        "{refused:?}"
    );
    let empty = ContainerSpec::new("empty", "c", "none");
    let refused = runtime.start(&empty).await;
    assert!(
        matches!(refused, Err(RuntimeError::InvalidSpec(_))),
        "{refused:?}"
    );
    // Refusals leave nothing behind.
    assert!(runtime.list().await.unwrap().is_empty());
    let leftovers = std::fs::read_dir(setup.state.path()).unwrap().count();
    assert_eq!(leftovers, 0);
}

/// A second instance on the same state directory (a restarted agent, while the old one still
/// runs) guesses -1 for an exit it did not see, and its write can land over the real exit the
/// child's own waiter recorded. The instance that reaped the child still reports what it saw.
#[tokio::test]
async fn the_reaping_instance_keeps_the_exit_it_saw_over_another_ones_guess() {
    let setup = setup();
    let runtime = runtime(setup.state.path());
    let started = runtime
        .start(&shell("guess", "exit 3"))
        .await
        .expect("start");
    assert_eq!(exit_code(&wait_exit(&runtime, &started.id).await), 3);

    let record_path = setup.state.path().join(&started.id).join("record.json");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record_path).expect("read the record"))
            .expect("a JSON record");
    record["exit"]["exit_code"] = (-1).into();
    std::fs::write(&record_path, serde_json::to_vec(&record).unwrap()).expect("write the guess");

    let status = runtime.inspect(&started.id).await.expect("inspect");
    assert_eq!(exit_code(&status), 3, "{status:?}");
}

#[test]
fn an_unusable_state_directory_keeps_the_file_systems_error() {
    let setup = setup();
    let file = setup.state.path().join("not-a-directory");
    std::fs::write(&file, "").unwrap();
    let Err(error) = ProcessRuntime::new(RuntimeConfig::default(), file.join("state")) else {
        panic!("a state directory under a plain file");
    };
    assert!(
        matches!(&error, RuntimeError::StateDir { path, .. } if path == &file.join("state")),
        "{error}"
    );
    let source = std::error::Error::source(&error).expect("the error keeps its source");
    assert!(source.is::<std::io::Error>(), "{source:?}");
}

/// The records of another instance's agent are not this agent's, even in one state directory
/// and with the same labels.
#[tokio::test]
async fn agents_keep_to_their_own_instance_records() {
    let setup = setup();
    let agent = |instance: &str| {
        let labels = RuntimeConfig::scoped("berth.test-run", "process").scope;
        ProcessRuntime::new(
            RuntimeConfig::for_instance(instance, labels),
            setup.state.path(),
        )
        .expect("a process runtime")
    };
    let (first, second) = (agent("i-first"), agent("i-second"));
    let mine = first
        .start(&shell("first", "sleep 600"))
        .await
        .expect("start")
        .id;
    let theirs = second
        .start(&shell("second", "sleep 600"))
        .await
        .expect("start")
        .id;
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
