//! The fake runtime keeps the runtime contract, and its test controls do what they say.

use std::time::Duration;

use berth_runtime::conformance::{self, Capabilities, Fixture};
use berth_runtime::fake::FakeRuntime;
use berth_runtime::{
    ContainerSpec, ContainerState, Health, OutputStream, RegistryCredentials, Runtime,
    RuntimeConfig, RuntimeError,
};
use futures_util::StreamExt;

fn fixture() -> Fixture {
    Fixture {
        testapp_image: "berth-testapp:v1".into(),
        testapp: "/berth-testapp".into(),
        shell_image: "berth-busybox:latest".into(),
        missing_image: "berth-test/never-pushed:nope".into(),
        missing_executable: "/nonexistent/berth-missing".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_conforms() {
    let fixture = fixture();
    let fake = FakeRuntime::new(RuntimeConfig::scoped("berth.test-run", "fake"));
    fake.fail_pull(&fixture.missing_image, "manifest unknown");
    fake.missing_executable(&fixture.missing_executable);
    let caps = Capabilities {
        executes: false,
        pulls_images: true,
        dynamic_host_ports: true,
        awsvpc: true,
    };
    let report = conformance::run_all(|| fake.clone(), caps, fixture).await;
    println!("{report:#?}");
    assert_eq!(
        report.skipped_names(),
        [
            "environment_and_command",
            "health_shell",
            "list_follows_changes",
            "output_in_order_and_resumable",
            "output_followed_while_running"
        ]
    );
}

fn app(task: &str, environment: &[(&str, &str)]) -> ContainerSpec {
    ContainerSpec {
        environment: environment
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..ContainerSpec::new(task, "app", "berth-testapp:v1")
    }
}

fn exit_of(state: &ContainerState) -> Option<(i64, bool, f64)> {
    match state {
        ContainerState::Exited {
            exit_code,
            oom_killed,
            finished_at,
            ..
        } => Some((*exit_code, *oom_killed, *finished_at)),
        _ => None,
    }
}

#[tokio::test]
async fn controls_steer_containers() {
    let fake = FakeRuntime::new(RuntimeConfig::default());
    let t0 = fake.now();

    let a = fake.start(&app("a", &[])).await.unwrap().id;
    fake.exit(&a, 2).unwrap();
    let state = fake.inspect(&a).await.unwrap().state;
    assert_eq!(exit_of(&state), Some((2, false, t0)));

    let b = fake.start(&app("b", &[])).await.unwrap().id;
    fake.oom_kill(&b).unwrap();
    let state = fake.inspect(&b).await.unwrap().state;
    assert_eq!(exit_of(&state), Some((137, true, t0)));

    let c = fake.start(&app("c", &[])).await.unwrap().id;
    fake.set_health(&c, Health::Unhealthy).unwrap();
    assert_eq!(fake.inspect(&c).await.unwrap().health, Health::Unhealthy);

    assert!(matches!(
        fake.exit("nope", 1),
        Err(RuntimeError::NotFound(_))
    ));
    fake.fail_pull("img:bad", "denied");
    let error = fake.ensure_image("img:bad", None).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "CannotPullContainerError: pulling img:bad: denied"
    );
    let credentials = RegistryCredentials {
        username: "deploy".into(),
        password: "hunter2".into(),
    };
    fake.private_image("team/app:1", credentials.clone());
    let anonymous = fake.ensure_image("team/app:1", None).await.unwrap_err();
    assert!(anonymous.to_string().ends_with("no basic auth credentials"));
    let wrong = RegistryCredentials {
        password: "nope".into(),
        ..credentials.clone()
    };
    let wrong = fake
        .ensure_image("team/app:1", Some(&wrong))
        .await
        .unwrap_err();
    assert!(wrong.to_string().contains("incorrect username or password"));
    fake.ensure_image("team/app:1", Some(&credentials))
        .await
        .unwrap();
}

#[tokio::test]
async fn time_moves_only_when_advanced() {
    let fake = FakeRuntime::new(RuntimeConfig::default());
    let t0 = fake.now();
    let crash = fake
        .start(&app("crash", &[("CRASH_AFTER_SECS", "5")]))
        .await
        .unwrap()
        .id;
    let exit = fake
        .start(&app(
            "exit",
            &[("EXIT_CODE", "4"), ("EXIT_AFTER_SECS", "10")],
        ))
        .await
        .unwrap()
        .id;
    fake.advance(Duration::from_secs(6));
    let running = |state: &ContainerState| matches!(state, ContainerState::Running { .. });
    assert_eq!(
        exit_of(&fake.inspect(&crash).await.unwrap().state),
        Some((1, false, t0 + 5.0))
    );
    assert!(running(&fake.inspect(&exit).await.unwrap().state));
    fake.advance(Duration::from_secs(4));
    assert_eq!(
        exit_of(&fake.inspect(&exit).await.unwrap().state),
        Some((4, false, t0 + 10.0))
    );

    // Ignoring SIGTERM costs the whole stop timeout, on the fake clock.
    let stubborn = fake
        .start(&app("stubborn", &[("IGNORE_SIGTERM", "1")]))
        .await
        .unwrap()
        .id;
    let before = fake.now();
    fake.stop(&stubborn, Duration::from_secs(30)).await.unwrap();
    assert_eq!(fake.now(), before + 30.0);
    assert_eq!(
        exit_of(&fake.inspect(&stubborn).await.unwrap().state),
        Some((137, false, before + 30.0))
    );
}

#[tokio::test]
async fn scopes_do_not_see_each_other() {
    let mine = FakeRuntime::new(RuntimeConfig::scoped("berth.agent", "a"));
    let id = mine.start(&app("t", &[])).await.unwrap().id;
    let theirs = mine.sharing_engine(RuntimeConfig::scoped("berth.agent", "b"));
    assert!(theirs.list().await.unwrap().is_empty());
    assert!(matches!(
        theirs.inspect(&id).await,
        Err(RuntimeError::NotFound(_))
    ));
    assert!(matches!(
        theirs.remove(&id).await,
        Err(RuntimeError::NotFound(_))
    ));
    assert_eq!(mine.list().await.unwrap().len(), 1);
    // An unscoped handle sees every Berth container on the engine.
    let everything = mine.sharing_engine(RuntimeConfig::default());
    assert_eq!(everything.list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn written_output_is_followed_resumed_and_ends_with_the_container() {
    let fake = FakeRuntime::new(RuntimeConfig::default());
    let id = fake.start(&app("writer", &[])).await.unwrap().id;
    fake.write_output(&id, OutputStream::Stdout, "one").unwrap();
    fake.write_output(&id, OutputStream::Stderr, "two").unwrap();
    let mut following = fake.output(&id, None);
    let first = following.next().await.unwrap().unwrap();
    assert_eq!(
        (first.text.as_str(), first.stream),
        ("one", OutputStream::Stdout)
    );
    let second = following.next().await.unwrap().unwrap();
    assert_eq!(second.text, "two");
    assert!(first.position < second.position);
    fake.write_output(&id, OutputStream::Stdout, "three")
        .unwrap();
    assert_eq!(following.next().await.unwrap().unwrap().text, "three");
    fake.exit(&id, 0).unwrap();
    assert!(
        following.next().await.is_none(),
        "ends once exited and read"
    );
    let resumed: Vec<String> = fake
        .output(&id, Some(first.position))
        .map(|line| line.unwrap().text)
        .collect()
        .await;
    assert_eq!(resumed, ["two", "three"]);
    fake.remove(&id).await.unwrap();
    let gone = fake.output(&id, None).next().await;
    assert!(
        matches!(gone, Some(Err(RuntimeError::NotFound(_)))),
        "{gone:?}"
    );
}

#[tokio::test]
async fn usage_follows_the_fake_clock_and_test_controls() {
    let fake = FakeRuntime::new(RuntimeConfig::default());
    let burning = fake.start(&app("t1", &[("BURN_CPU", "1")])).await.unwrap();
    let idle = fake.start(&app("t2", &[])).await.unwrap();
    fake.advance(Duration::from_secs(3));
    let usage = fake.usage(&burning.id).await.unwrap();
    assert_eq!(usage.cpu_time, Duration::from_secs(3));
    assert_eq!(usage.memory_bytes, berth_runtime::fake::FAKE_MEMORY_BYTES);
    assert_eq!(fake.usage(&idle.id).await.unwrap().cpu_time, Duration::ZERO);
    fake.set_memory(&idle.id, 64 << 20).unwrap();
    assert_eq!(fake.usage(&idle.id).await.unwrap().memory_bytes, 64 << 20);
    fake.exit(&burning.id, 0).unwrap();
    fake.advance(Duration::from_secs(5));
    let after = fake.usage(&burning.id).await.unwrap();
    assert_eq!(
        (after.cpu_time, after.memory_bytes),
        (Duration::from_secs(3), 0)
    );
    assert!(matches!(
        fake.usage("nope").await,
        Err(RuntimeError::NotFound(_))
    ));
}
