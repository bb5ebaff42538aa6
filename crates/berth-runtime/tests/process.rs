//! The process runtime keeps the runtime contract with real host processes, plus what only it
//! does: ulimits and users through the kernel, the output shim, process groups.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_runtime::conformance::{self, Capabilities, Fixture};
use berth_runtime::process::ProcessRuntime;
use berth_runtime::{
    ContainerSpec, ContainerState, ContainerStatus, Mount, MountSource, Network, OutputLine,
    OutputStream, Runtime, RuntimeConfig, RuntimeError, Ulimit,
};
use futures_util::StreamExt;

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

/// Fields drop in order: the sweep must find the state directory still there.
struct Setup {
    _sweep: Sweep,
    state: tempfile::TempDir,
}

fn setup() -> Setup {
    let state = tempfile::tempdir().expect("a state directory");
    let sweep = Sweep {
        state_dir: state.path().to_path_buf(),
    };
    Setup {
        _sweep: sweep,
        state,
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

/// Everything `output` yields until it ends.
async fn read_to_end(runtime: &ProcessRuntime, id: &str, after: Option<u64>) -> Vec<OutputLine> {
    let mut lines = Vec::new();
    let mut output = runtime.output(id, after);
    let reading = async {
        while let Some(line) = output.next().await {
            lines.push(line.unwrap_or_else(|e| panic!("output of {id}: {e}")));
        }
    };
    tokio::time::timeout(Duration::from_secs(60), reading)
        .await
        .unwrap_or_else(|_| panic!("the output of {id} did not end"));
    lines
}

/// The output shim's pid and start time, from the container's record.
fn shim_of(state_dir: &Path, id: &str) -> (i32, u64) {
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state_dir.join(id).join("record.json")).unwrap())
            .expect("a JSON record");
    let shim = &record["output_shim"];
    (
        shim["pid"].as_i64().expect("a shim pid") as i32,
        shim["start_ticks"].as_u64().expect("the shim's start time"),
    )
}

/// Waits until the container's output shim has exited.
async fn wait_shim_gone(state_dir: &Path, id: &str) {
    let (pid, start_ticks) = shim_of(state_dir, id);
    assert_ne!(start_ticks, 0, "the shim's start time is known");
    wait_gone(pid, "the output shim of an exited container").await;
}

/// Waits until `pid` is gone: no child of ours, so it vanishes from /proc or stays a zombie
/// of the reaper it was handed to (state Z).
async fn wait_gone(pid: i32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rfind(')')
            .and_then(|close| stat[close + 1..].split_whitespace().next());
        if matches!(state, None | Some("Z")) {
            return;
        }
        assert!(Instant::now() < deadline, "{what} ({pid}) is still running");
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
async fn output_comes_through_the_shim() {
    let setup = setup();
    let runtime = runtime(setup.state.path());
    let spec = shell("logs", "echo to-stdout; echo to-stderr >&2");
    let id = runtime.start(&spec).await.expect("start").id;
    wait_exit(&runtime, &id).await;
    let lines = read_to_end(&runtime, &id, None).await;
    let mut seen: Vec<(OutputStream, &str)> =
        lines.iter().map(|l| (l.stream, l.text.as_str())).collect();
    seen.sort_by_key(|(stream, _)| *stream == OutputStream::Stderr);
    assert_eq!(
        seen,
        [
            (OutputStream::Stdout, "to-stdout"),
            (OutputStream::Stderr, "to-stderr")
        ]
    );
    let dir = setup.state.path().join(&id);
    assert!(dir.join("output.0").is_file());
    assert!(!dir.join("stdout.log").exists() && !dir.join("stderr.log").exists());
    wait_shim_gone(setup.state.path(), &id).await;
}

/// The shim is no child or session member of the agent and keeps none of its descriptors:
/// only its file, the two pipes and the container's directory.
#[tokio::test]
async fn the_shim_keeps_nothing_of_the_agent() {
    let setup = setup();
    let runtime = runtime(setup.state.path());
    let id = runtime
        .start(&shell("detached", "sleep 600"))
        .await
        .expect("start")
        .id;
    let (pid, _) = shim_of(setup.state.path(), &id);
    // The shim closes what it inherited first thing, which may still be under way.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut descriptors: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("the shim runs")
            .map(|entry| {
                entry
                    .expect("a descriptor")
                    .file_name()
                    .into_string()
                    .unwrap()
            })
            .collect();
        descriptors.sort();
        if descriptors == ["0", "1", "2", "3"] {
            break;
        }
        assert!(Instant::now() < deadline, "the shim keeps {descriptors:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dir = setup.state.path().join(&id);
    let target = |fd: u32| std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
    assert_eq!(target(0), dir.join("output.0"));
    assert_eq!(target(3), dir);
    for pipe in [1, 2] {
        assert!(target(pipe).to_string_lossy().starts_with("pipe:"));
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    let (parent, session, tty): (i32, i32, i32) = (
        fields[1].parse().unwrap(),
        fields[3].parse().unwrap(),
        fields[4].parse().unwrap(),
    );
    assert_ne!(
        parent,
        std::process::id() as i32,
        "the shim is handed to init"
    );
    // SAFETY: getsid only reads the process's session id.
    assert_ne!(session, unsafe { libc::getsid(0) });
    assert_eq!(tty, 0, "the shim has no controlling terminal");
    runtime.remove(&id).await.expect("remove");
    wait_gone(pid, "the shim of a removed container").await;
}

/// A process that escaped the container's group still holds its output, which stays open
/// until it is gone; one left in the group dies with the leader and holds nothing.
#[tokio::test]
async fn output_stays_open_while_an_escaped_process_holds_it() {
    let setup = setup();
    let runtime = runtime(setup.state.path());
    let escaped = setup.state.path().join("escaped");
    // The leader waits until the escapee has left its group, or the group's end takes it too.
    let script = format!(
        "echo first; sleep 600 & setsid sh -c 'touch {escaped}; sleep 1; echo late' & \
         while [ ! -e {escaped} ]; do sleep 0.01; done; exit 0",
        escaped = escaped.display()
    );
    let id = runtime
        .start(&shell("escaped", &script))
        .await
        .expect("start")
        .id;
    wait_exit(&runtime, &id).await;
    let exited = Instant::now();
    let lines = read_to_end(&runtime, &id, None).await;
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["first", "late"]);
    assert!(
        exited.elapsed() >= Duration::from_millis(500),
        "the output ended before the escaped process wrote"
    );
    wait_shim_gone(setup.state.path(), &id).await;
}

/// Only a quarter of the budget per file and four files: what is kept stays within it, a
/// follower that keeps up sees every line, and a later read starts at the oldest line kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_rotates_within_its_budget() {
    const BUDGET: u64 = 1 << 20;
    const BURSTS: u64 = 40;
    const PER_BURST: u64 = 10_000;
    let setup = setup();
    let runtime = runtime(setup.state.path()).with_output_budget(BUDGET);
    // 14 bytes a line, 5.6 MB in all, in bursts a follower can keep up with.
    let script = format!(
        "i=0; while [ $i -lt {BURSTS} ]; do seq -f 'line %08.0f' $((i*{PER_BURST}+1)) $((i*{PER_BURST}+{PER_BURST})); i=$((i+1)); sleep 0.05; done"
    );
    let id = runtime
        .start(&shell("rotation", &script))
        .await
        .expect("start")
        .id;
    let followed = read_to_end(&runtime, &id, None).await;
    let wanted = |number: u64| format!("line {number:08}");
    assert_eq!(followed.len() as u64, BURSTS * PER_BURST);
    for (number, line) in (1..).zip(&followed) {
        assert_eq!(line.text, wanted(number));
    }
    assert!(followed.windows(2).all(|w| w[0].position < w[1].position));

    let dir = setup.state.path().join(&id);
    let files: Vec<u64> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("output."))
        .map(|entry| entry.metadata().unwrap().len())
        .collect();
    assert!(files.len() <= 4, "{files:?}");
    assert!(files.iter().sum::<u64>() <= BUDGET, "{files:?}");

    let kept = read_to_end(&runtime, &id, None).await;
    let (first, rest) = kept.split_first().expect("something is kept");
    assert!(
        rest.len() as u64 * 14 >= BUDGET / 2,
        "only {} lines kept",
        rest.len()
    );
    let first_number = BURSTS * PER_BURST - rest.len() as u64;
    // The oldest record kept may begin in the middle of a line.
    assert!(wanted(first_number).ends_with(&first.text), "{first:?}");
    assert_eq!(first.position, followed[first_number as usize - 1].position);
    assert_eq!(rest, &followed[first_number as usize..]);
    let middle = &rest[rest.len() / 2];
    let resumed = read_to_end(&runtime, &id, Some(middle.position)).await;
    assert_eq!(resumed, rest[rest.len() / 2 + 1..]);
    wait_shim_gone(setup.state.path(), &id).await;
}

/// With output back-pressure, a container writing more than the budget while nothing is
/// shipped waits instead of losing its oldest lines; as positions are shipped it writes on,
/// and every line arrives, in order, with nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_output_waits_for_shipping_and_loses_nothing() {
    const BUDGET: u64 = 1 << 20;
    const LINES: u64 = 300_000;
    let setup = setup();
    let runtime = runtime(setup.state.path()).with_output_budget(BUDGET);
    // 14 bytes a line: 4.2 MB, four times the budget, written as fast as it goes.
    let spec = ContainerSpec {
        output_backpressure: true,
        ..shell("held", &format!("seq -f 'line %08.0f' 1 {LINES}"))
    };
    let id = runtime.start(&spec).await.expect("start").id;

    // Nothing shipped: the writer stalls with the budget full and the first line still kept.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let status = runtime.inspect(&id).await.expect("inspect");
    assert!(
        matches!(status.state, ContainerState::Running { .. }),
        "the writer waits for shipping: {status:?}"
    );
    let dir = setup.state.path().join(&id);
    let kept: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("output."))
        .map(|entry| entry.metadata().unwrap().len())
        .sum();
    assert!(kept <= BUDGET, "{kept} bytes kept");
    let mut output = runtime.output(&id, None);
    let first = output.next().await.expect("a line").expect("readable");
    assert_eq!(first.text, "line 00000001", "nothing was dropped");

    // Shipping as it reads, the way the agent acknowledges: every line, in order.
    let lines = common::read_shipping(&runtime, &id, first, output, Duration::from_secs(60)).await;
    assert_eq!(lines.len() as u64, LINES);
    for (number, line) in (1..).zip(&lines) {
        assert_eq!(line.text, format!("line {number:08}"));
    }
    wait_exit(&runtime, &id).await;
    runtime.remove(&id).await.expect("remove");
}

/// Removing a held container frees its shim, shipped or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_held_container_frees_its_shim() {
    let setup = setup();
    let runtime = runtime(setup.state.path()).with_output_budget(1 << 20);
    let spec = ContainerSpec {
        output_backpressure: true,
        ..shell("held-removed", "seq -f 'line %08.0f' 1 300000")
    };
    let id = runtime.start(&spec).await.expect("start").id;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (shim, _) = shim_of(setup.state.path(), &id);
    runtime.remove(&id).await.expect("remove");
    wait_gone(shim, "the shim of a removed held container").await;
}

/// The agent whose death `output_survives_the_agent_being_killed` simulates: it starts a
/// container, says which, and waits to be SIGKILLed.
#[tokio::test]
#[ignore = "run by output_survives_the_agent_being_killed, as the agent it kills"]
async fn agent_to_kill() {
    let state_dir = std::env::var("BERTH_TEST_AGENT_STATE").expect("a state directory");
    let control = PathBuf::from(std::env::var("BERTH_TEST_AGENT_CONTROL").expect("a control dir"));
    let runtime = runtime(Path::new(&state_dir));
    let script = format!(
        "i=0; while [ ! -e {stop} ]; do echo \"out $i\"; echo \"err $i\" >&2; i=$((i+1)); sleep 0.01; done; printf last",
        stop = control.join("stop").display()
    );
    let id = runtime
        .start(&shell("survivor", &script))
        .await
        .expect("start")
        .id;
    std::fs::write(control.join("id.tmp"), &id).expect("write the id");
    std::fs::rename(control.join("id.tmp"), control.join("id")).expect("publish the id");
    std::future::pending::<()>().await;
}

/// The agent is SIGKILLed while its container writes on; a new agent reads on from the last
/// line the old one saw, and misses and repeats nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_survives_the_agent_being_killed() {
    let setup = setup();
    let control = tempfile::tempdir().expect("a control directory");
    let mut agent = std::process::Command::new(std::env::current_exe().expect("this test"))
        .args(["--exact", "agent_to_kill", "--ignored", "--nocapture"])
        .env("BERTH_TEST_AGENT_STATE", setup.state.path())
        .env("BERTH_TEST_AGENT_CONTROL", control.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start the agent");
    let deadline = Instant::now() + Duration::from_secs(30);
    let id = loop {
        if let Ok(id) = std::fs::read_to_string(control.path().join("id")) {
            break id;
        }
        assert!(
            Instant::now() < deadline,
            "the agent never started its container"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let before = runtime(setup.state.path());
    let mut output = before.output(&id, None);
    let mut shipped = Vec::new();
    while shipped.len() < 20 {
        let line = tokio::time::timeout(Duration::from_secs(30), output.next())
            .await
            .expect("a line within 30 s")
            .expect("the output goes on")
            .expect("a line");
        shipped.push(line);
    }
    drop(output);
    drop(before);
    agent.kill().expect("SIGKILL the agent");
    agent.wait().expect("reap the agent");
    // The container writes on while no agent runs.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let restarted = runtime(setup.state.path());
    assert!(matches!(
        restarted.inspect(&id).await.expect("inspect").state,
        ContainerState::Running { .. }
    ));
    std::fs::write(control.path().join("stop"), "").expect("stop the container");
    let last_shipped = shipped.last().map(|line| line.position);
    let rest = read_to_end(&restarted, &id, last_shipped).await;
    let everything = read_to_end(&restarted, &id, None).await;
    assert_eq!(everything[..shipped.len()], shipped);
    assert_eq!(everything[shipped.len()..], rest);

    let texts = |stream: OutputStream| -> Vec<String> {
        everything
            .iter()
            .filter(|line| line.stream == stream)
            .map(|line| line.text.clone())
            .collect()
    };
    let (out, err) = (texts(OutputStream::Stdout), texts(OutputStream::Stderr));
    assert!(
        err.len() > shipped.len(),
        "the container wrote on after the kill"
    );
    let numbered =
        |prefix: &str| -> Vec<String> { (0..err.len()).map(|i| format!("{prefix} {i}")).collect() };
    assert_eq!(err, numbered("err"));
    let mut wanted_out = numbered("out");
    wanted_out.push("last".to_string());
    assert_eq!(out, wanted_out);
    wait_exit(&restarted, &id).await;
    wait_shim_gone(setup.state.path(), &id).await;
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
    wait_gone(pid, "the background process of an exited leader").await;
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
