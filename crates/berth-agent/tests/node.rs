//! The agent loop against a stand-in server and the fake runtime: what it starts, what it
//! reports, and how often it lists the runtime to get there.

use berth_agent::node::{self, Config};
use berth_client::endpoint::Endpoint;
use berth_model::agent::{
    ContainerSecrets, DesiredTask, OutputAnswer, OutputRequest, OutputResult, PollRequest,
    PollResponse, RegisterRequest, RegistryAuth, Resolution, SecretValue, ShipLogsRequest,
    ShipLogsResponse, StreamPosition, TaskReport, UsageReport, MAX_TASKS_PER_PAGE,
};
use berth_model::resources::LogConfiguration;
use berth_model::resources::{
    ContainerDefinition, ContainerDependency, HealthCheck, KeyValuePair, Secret,
};
use berth_model::status::{ContainerStatus as Status, StopCode, TaskStatus};
use berth_runtime::fake::FakeRuntime;
use berth_runtime::{
    ContainerSpec, ContainerStatus, Health, OutputLines, OutputStream, RegistryCredentials,
    Runtime, RuntimeConfig, RuntimeError, Usage,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const INSTANCE_ARN: &str = "arn:aws:ecs:us-east-1:000000000000:container-instance/default/node-1";

/// The fake runtime, counting calls to `list`.
struct Counting {
    inner: FakeRuntime,
    lists: Arc<AtomicUsize>,
}

impl Runtime for Counting {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn ensure_image(
        &self,
        image: &str,
        credentials: Option<&RegistryCredentials>,
    ) -> Result<(), RuntimeError> {
        self.inner.ensure_image(image, credentials).await
    }

    async fn start(&self, spec: &ContainerSpec) -> Result<ContainerStatus, RuntimeError> {
        self.inner.start(spec).await
    }

    async fn stop(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError> {
        self.inner.stop(id, timeout).await
    }

    async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        self.inner.remove(id).await
    }

    async fn list(&self) -> Result<Vec<ContainerStatus>, RuntimeError> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list().await
    }

    async fn inspect(&self, id: &str) -> Result<ContainerStatus, RuntimeError> {
        self.inner.inspect(id).await
    }

    async fn usage(&self, id: &str) -> Result<Usage, RuntimeError> {
        self.inner.usage(id).await
    }

    fn output(&self, id: &str, after: Option<u64>) -> OutputLines {
        self.inner.output(id, after)
    }

    async fn output_shipped(&self, id: &str, position: u64) -> Result<(), RuntimeError> {
        self.inner.output_shipped(id, position).await
    }

    fn holds_output(&self) -> bool {
        self.inner.holds_output()
    }
}

fn container(name: &str, depends_on: Option<&str>) -> ContainerDefinition {
    ContainerDefinition {
        name: Some(name.into()),
        image: Some("berth-testapp:v1".into()),
        essential: Some(true),
        memory: Some(32),
        depends_on: depends_on.map(|dependency| {
            vec![ContainerDependency {
                container_name: dependency.into(),
                condition: "START".into(),
            }]
        }),
        ..ContainerDefinition::default()
    }
}

/// One task whose `web` container starts once `db` has started.
fn wanted() -> PollResponse {
    PollResponse {
        version: "v1".into(),
        unchanged: false,
        tasks: vec![DesiredTask {
            task_arn: "arn:aws:ecs:us-east-1:000000000000:task/default/t1".into(),
            task_id: "t1".into(),
            desired_status: TaskStatus::Running,
            family: "web".into(),
            revision: 1,
            network_mode: "bridge".into(),
            containers: vec![container("db", None), container("web", Some("db"))],
            volumes: vec![],
            overrides: Default::default(),
            stop_timeout_seconds: 30,
            secrets: None,
            started: vec![],
        }],
        next_page: None,
        resync: false,
        output_requests: vec![],
    }
}

/// Every usage report the stand-in servers received (tests tell theirs apart by port).
static USAGE_REPORTS: Mutex<Vec<UsageReport>> = Mutex::new(Vec::new());

/// Every poll the stand-in server received, with how many lists the agent had made by then.
type Polls = Arc<Mutex<Vec<(usize, PollRequest)>>>;

/// What the stand-in server wants, given the poll it answers.
type Answer = Arc<dyn Fn(&PollRequest) -> PollResponse + Send + Sync>;

/// A server speaking the agent protocol: it wants [`wanted`], and holds a poll that already
/// knows it for a moment, as a long poll would.
async fn serve(listener: tokio::net::TcpListener, polls: Polls, lists: Arc<AtomicUsize>) {
    serve_answering(listener, polls, lists, Arc::new(|_| wanted())).await
}

async fn serve_answering(
    listener: tokio::net::TcpListener,
    polls: Polls,
    lists: Arc<AtomicUsize>,
    answer: Answer,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (polls, lists, answer) = (Arc::clone(&polls), Arc::clone(&lists), Arc::clone(&answer));
        tokio::spawn(async move {
            let service = hyper::service::service_fn(
                move |request: Request<hyper::body::Incoming>| {
                    let (polls, lists, answer) =
                        (Arc::clone(&polls), Arc::clone(&lists), Arc::clone(&answer));
                    async move {
                        let path = request.uri().path().to_string();
                        let body = request.into_body().collect().await?.to_bytes();
                        let answer = if path == "/agent/v1/register" {
                            serde_json::json!({"containerInstanceArn": INSTANCE_ARN, "agentKey": "key"})
                        } else if path == "/agent/v1/output" {
                            let answered: OutputAnswer = serde_json::from_slice(&body).unwrap();
                            OUTPUT.lock().unwrap().push(answered);
                            serde_json::json!({"handed": true})
                        } else if path == "/agent/v1/usage" {
                            let report: UsageReport = serde_json::from_slice(&body).unwrap();
                            let kept = report.tasks.len();
                            USAGE_REPORTS.lock().unwrap().push(report);
                            serde_json::json!({ "kept": kept })
                        } else if path == "/agent/v1/logs" {
                            let shipped: ShipLogsRequest = serde_json::from_slice(&body).unwrap();
                            match keep_logs(&shipped) {
                                Some(kept) => serde_json::to_value(kept).unwrap(),
                                None => {
                                    let mut refused = Response::new(Full::new(Bytes::from("{}")));
                                    *refused.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
                                    return Ok(refused);
                                }
                            }
                        } else {
                            let poll: PollRequest = serde_json::from_slice(&body).unwrap();
                            let known = poll.known_version.is_some();
                            let wanted = answer(&poll);
                            polls
                                .lock()
                                .unwrap()
                                .push((lists.load(Ordering::SeqCst), poll));
                            if known {
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                            serde_json::to_value(wanted).unwrap()
                        };
                        Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from(
                            answer.to_string(),
                        ))))
                    }
                },
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// What the stand-in server keeps of shipped logs, by stream: every event it was sent, and
/// those it kept (past the stream's last position), as the real server keeps them.
#[derive(Default)]
struct Kept {
    received: Vec<(String, String)>,
    kept: std::collections::BTreeMap<String, Vec<(u64, String)>>,
}

static KEPT: Mutex<Option<Kept>> = Mutex::new(None);

/// Every page of output the agents posted to the stand-in server.
static OUTPUT: Mutex<Vec<OutputAnswer>> = Mutex::new(Vec::new());

/// The log group the stand-in server says does not exist.
const GONE_GROUP: &str = "/ecs/gone";

/// While set, the stand-in server answers shipped logs with an error, as one that is down.
static REFUSE_LOGS: AtomicBool = AtomicBool::new(false);

fn keep_logs(shipped: &ShipLogsRequest) -> Option<ShipLogsResponse> {
    if REFUSE_LOGS.load(Ordering::SeqCst) {
        return None;
    }
    let mut guard = KEPT.lock().unwrap();
    let kept = guard.get_or_insert_with(Kept::default);
    let streams = shipped
        .streams
        .iter()
        .map(|stream| {
            if stream.group == GONE_GROUP {
                return StreamPosition {
                    captured_through: None,
                    error: Some("The specified log group does not exist.".into()),
                };
            }
            let key = format!("{}:{}", stream.group, stream.stream);
            let events = kept.kept.entry(key.clone()).or_default();
            for event in &stream.events {
                kept.received.push((key.clone(), event.message.clone()));
                if events.last().is_none_or(|(last, _)| event.position > *last) {
                    events.push((event.position, event.message.clone()));
                }
            }
            StreamPosition {
                captured_through: events.last().map(|(position, _)| *position),
                error: None,
            }
        })
        .collect();
    Some(ShipLogsResponse { streams })
}

fn config(server: std::net::SocketAddr) -> Config {
    Config {
        server: Endpoint::new(&format!("http://{server}"), None, "--ca-file").unwrap(),
        token: "token".into(),
        registration: RegisterRequest {
            cluster: "default".into(),
            instance_id: "node-1".into(),
            hostname: "node-1".into(),
            cpu: 1024,
            memory: 1024,
            attributes: Default::default(),
            agent_version: "test".into(),
            runtime: "fake".into(),
            address: None,
        },
        poll_wait_seconds: 1,
        sample_every: berth_agent::usage::DEFAULT_SAMPLE_EVERY,
        metrics_listen: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_containers_are_reported_without_listing_everything_again() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let polls: Polls = Arc::default();
    let lists = Arc::new(AtomicUsize::new(0));
    let server = tokio::spawn(serve(listener, Arc::clone(&polls), Arc::clone(&lists)));
    let fake = FakeRuntime::new(RuntimeConfig::scoped("berth.test-run", "node-loop"));
    let runtime = Arc::new(Counting {
        inner: fake.clone(),
        lists: Arc::clone(&lists),
    });
    let agent = tokio::spawn(node::run(runtime, config(address), std::future::pending()));

    let deadline = Instant::now() + Duration::from_secs(10);
    let (lists_then, report) = loop {
        let reported = polls
            .lock()
            .unwrap()
            .iter()
            .find(|(_, poll)| !poll.reports.is_empty())
            .map(|(lists, poll)| (*lists, poll.reports[0].clone()));
        if let Some(reported) = reported {
            break reported;
        }
        assert!(
            Instant::now() < deadline,
            "no poll carried a report within 10 s: {:?}",
            polls.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    agent.abort();
    server.abort();

    // The first report already has both containers running: the agent stepped again after
    // starting `db` and started `web` without waiting for a poll.
    assert_eq!(report.last_status, TaskStatus::Running, "{report:?}");
    let statuses: Vec<(&str, Status)> = report
        .containers
        .iter()
        .map(|c| (c.name.as_str(), c.last_status))
        .collect();
    assert_eq!(
        statuses,
        [("db", Status::Running), ("web", Status::Running)]
    );
    // One list before the first poll and one after its answer; what the starts changed came
    // from the starts themselves.
    assert_eq!(lists_then, 2);
    let started = fake.list().await.unwrap();
    assert_eq!(started.len(), 2, "each container started once: {started:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_tasks_usage_is_reported_and_served_as_metrics() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(serve(listener, Polls::default(), Arc::default()));
    let metrics_address = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    let fake = FakeRuntime::new(RuntimeConfig::scoped("berth.test-run", "node-usage"));
    let agent_config = node::Config {
        sample_every: Duration::from_millis(50),
        metrics_listen: Some(metrics_address),
        registration: RegisterRequest {
            instance_id: format!("usage-{}", address.port()),
            ..config(address).registration
        },
        ..config(address)
    };
    let agent = tokio::spawn(node::run(
        Arc::new(fake.clone()),
        agent_config,
        std::future::pending(),
    ));

    let deadline = Instant::now() + Duration::from_secs(10);
    let reported = loop {
        // A report from this test's agent with a rate, so from its second sample on.
        let found = USAGE_REPORTS
            .lock()
            .unwrap()
            .iter()
            .flat_map(|r| &r.tasks)
            .find(|t| t.task_arn.ends_with("/t1") && t.cpu_units.is_some())
            .cloned();
        if let Some(found) = found {
            break found;
        }
        assert!(Instant::now() < deadline, "no usage report within 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // Both containers of the task, 4 MiB each in the fake; the fake clock stood still.
    assert_eq!(reported.memory_mib, 8.0, "{reported:?}");
    assert_eq!(reported.cpu_units, Some(0.0), "{reported:?}");

    let mut stream = tokio::net::TcpStream::connect(metrics_address)
        .await
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: agent\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut scraped = String::new();
    stream.read_to_string(&mut scraped).await.unwrap();
    agent.abort();
    server.abort();
    assert!(scraped.starts_with("HTTP/1.1 200"), "{scraped}");
    let memory = format!(
        "berth_container_memory_bytes{{cluster=\"default\",family=\"web\",task_id=\"t1\",container=\"db\"}} {}",
        berth_runtime::fake::FAKE_MEMORY_BYTES
    );
    assert!(scraped.contains(&memory), "{scraped}");
    assert!(
        scraped.contains("berth_agent_usage_reports_total{outcome=\"sent\"}"),
        "{scraped}"
    );
}

/// The fake runtime, holding each start until the test lets it through: the moment an engine
/// has created a container the agent has not yet started.
struct Held {
    inner: FakeRuntime,
    entered: tokio::sync::mpsc::UnboundedSender<String>,
    release: Arc<tokio::sync::Semaphore>,
}

impl Runtime for Held {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn ensure_image(
        &self,
        image: &str,
        credentials: Option<&RegistryCredentials>,
    ) -> Result<(), RuntimeError> {
        self.inner.ensure_image(image, credentials).await
    }

    async fn start(&self, spec: &ContainerSpec) -> Result<ContainerStatus, RuntimeError> {
        let _ = self.entered.send(spec.container_name.clone());
        // One permit lets one start through.
        self.release
            .acquire()
            .await
            .expect("the semaphore stays open")
            .forget();
        self.inner.start(spec).await
    }

    async fn stop(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError> {
        self.inner.stop(id, timeout).await
    }

    async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        self.inner.remove(id).await
    }

    async fn list(&self) -> Result<Vec<ContainerStatus>, RuntimeError> {
        self.inner.list().await
    }

    async fn inspect(&self, id: &str) -> Result<ContainerStatus, RuntimeError> {
        self.inner.inspect(id).await
    }

    async fn usage(&self, id: &str) -> Result<Usage, RuntimeError> {
        self.inner.usage(id).await
    }

    fn output(&self, id: &str, after: Option<u64>) -> OutputLines {
        self.inner.output(id, after)
    }

    async fn output_shipped(&self, id: &str, position: u64) -> Result<(), RuntimeError> {
        self.inner.output_shipped(id, position).await
    }

    fn holds_output(&self) -> bool {
        self.inner.holds_output()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_lets_the_start_under_way_finish_and_starts_nothing_more() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(serve(listener, Polls::default(), Arc::default()));
    let fake = FakeRuntime::new(RuntimeConfig::scoped("berth.test-run", "node-stop"));
    let (entered, mut starting) = tokio::sync::mpsc::unbounded_channel();
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let runtime = Arc::new(Held {
        inner: fake.clone(),
        entered,
        release: Arc::clone(&release),
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(node::run(runtime, config(address), async {
        let _ = stopped.await;
    }));

    let first = tokio::time::timeout(Duration::from_secs(10), starting.recv())
        .await
        .expect("the agent starts a container within 10 s");
    assert_eq!(first.as_deref(), Some("db"));
    stop.send(()).unwrap();
    release.add_permits(1);
    let ended = tokio::time::timeout(Duration::from_secs(10), agent)
        .await
        .expect("the agent ends within 10 s of its start finishing")
        .unwrap();
    server.abort();
    assert!(ended.is_ok(), "{ended:?}");
    let running: Vec<String> = fake
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.container_name)
        .collect();
    // `web`, which waits for `db`, would have started next.
    assert_eq!(
        running,
        ["db"],
        "the start under way finished, nothing after it began"
    );
}

/// A task whose `web` container names a secret, pulls a private image and reads an
/// environment file, once `db` is healthy.
fn with_secrets(env_file: &std::path::Path) -> DesiredTask {
    let mut task = wanted().tasks.remove(0);
    task.containers[0].health_check = Some(HealthCheck {
        command: vec!["CMD".into(), "true".into()],
        interval: None,
        timeout: None,
        retries: None,
        start_period: None,
    });
    // Unhealthy until the test says otherwise.
    task.containers[0].environment = Some(vec![KeyValuePair {
        name: Some("FAIL_HEALTH".into()),
        value: Some("1".into()),
    }]);
    let web = &mut task.containers[1];
    if let Some(dependency) = web.depends_on.iter_mut().flatten().next() {
        dependency.condition = "HEALTHY".into();
    }
    web.image = Some("registry.example:5000/team/web:1".into());
    web.secrets = Some(vec![Secret {
        name: "API_KEY".into(),
        value_from: "/web/api-key".into(),
    }]);
    web.repository_credentials = Some(
        serde_json::from_value(serde_json::json!({"credentialsParameter": "/web/registry"}))
            .unwrap(),
    );
    web.environment_files = Some(vec![serde_json::from_value(
        serde_json::json!({"value": format!("file://{}", env_file.display()), "type": "s3"}),
    )
    .unwrap()]);
    task
}

fn resolved() -> Resolution {
    let secrets = ContainerSecrets {
        environment: [("API_KEY".to_string(), SecretValue::new("key-Hq27-unique"))].into(),
        registry_auth: Some(RegistryAuth {
            username: "deploy".into(),
            password: SecretValue::new("pull-Wc55-unique"),
        }),
        ..ContainerSecrets::default()
    };
    Resolution::Resolved {
        containers: [("web".to_string(), secrets)].into(),
    }
}

/// Waits for a poll whose report of the task satisfies `done`.
async fn report_where(polls: &Polls, done: impl Fn(&TaskReport) -> bool) -> TaskReport {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = polls
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(_, poll)| poll.reports.iter())
            .find(|report| done(report))
            .cloned();
        if let Some(report) = found {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "no such report within 10 s: {:?}",
            polls.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_sent_once_reach_a_container_that_starts_later() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("web.env");
    std::fs::write(
        &env_file,
        "# web\nFROM_FILE=file-value\nAPI_KEY=overridden\n",
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let polls: Polls = Arc::default();
    // As the server does: secrets only while nothing of the task has been reported started.
    let task = with_secrets(&env_file);
    let answer: Answer = Arc::new(move |poll: &PollRequest| {
        let mut task = task.clone();
        if poll
            .reports
            .iter()
            .all(|r| r.last_status == TaskStatus::Pending)
        {
            task.secrets = Some(resolved());
        }
        PollResponse {
            version: "v1".into(),
            unchanged: false,
            tasks: vec![task],
            next_page: None,
            resync: false,
            output_requests: vec![],
        }
    });
    let server = tokio::spawn(serve_answering(
        listener,
        Arc::clone(&polls),
        Arc::default(),
        answer,
    ));
    let fake = FakeRuntime::new(RuntimeConfig::scoped("berth.test-run", "node-secrets"));
    fake.private_image(
        "registry.example:5000/team/web:1",
        RegistryCredentials {
            username: "deploy".into(),
            password: "pull-Wc55-unique".into(),
        },
    );
    let agent = tokio::spawn(node::run(
        Arc::new(fake.clone()),
        config(address),
        std::future::pending(),
    ));
    // Until `db` is healthy the task is ACTIVATING, and polls bring no secrets any more.
    report_where(&polls, |r| r.last_status == TaskStatus::Activating).await;
    let db = fake.list().await.unwrap().remove(0);
    fake.set_health(&db.id, Health::Healthy).unwrap();
    let report = report_where(&polls, |r| r.last_status == TaskStatus::Running).await;
    agent.abort();
    server.abort();

    assert_eq!(report.stop_code, None, "{report:?}");
    let web = fake
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.container_name == "web")
        .expect("web started");
    let environment = fake.environment(&web.id).unwrap();
    let get = |name: &str| {
        environment
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("API_KEY"), Some("key-Hq27-unique"), "the secret wins");
    assert_eq!(get("FROM_FILE"), Some("file-value"));
    let sent = serde_json::to_string(
        &*polls
            .lock()
            .unwrap()
            .iter()
            .map(|(_, p)| p)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(
        !sent.contains("unique"),
        "no value goes back to the server: {sent}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_environment_file_that_cannot_be_had_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.env");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let polls: Polls = Arc::default();
    let mut task = with_secrets(&missing);
    task.secrets = Some(resolved());
    let answer: Answer = Arc::new(move |_: &PollRequest| PollResponse {
        version: "v1".into(),
        unchanged: false,
        tasks: vec![task.clone()],
        next_page: None,
        resync: false,
        output_requests: vec![],
    });
    let server = tokio::spawn(serve_answering(
        listener,
        Arc::clone(&polls),
        Arc::default(),
        answer,
    ));
    let fake = FakeRuntime::new(RuntimeConfig::scoped("berth.test-run", "node-env-file"));
    let agent = tokio::spawn(node::run(
        Arc::new(fake.clone()),
        config(address),
        std::future::pending(),
    ));
    let report = report_where(&polls, |r| r.last_status == TaskStatus::Stopped).await;
    agent.abort();
    server.abort();

    assert_eq!(report.stop_code, Some(StopCode::TaskFailedToStart));
    let reason = report.stopped_reason.unwrap();
    assert!(
        reason.starts_with(&format!(
            "ResourceInitializationError: failed to download env files: file://{}: ",
            missing.display()
        )),
        "{reason}"
    );
    assert!(fake.list().await.unwrap().is_empty(), "not even db started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_answered_unchanged_keeps_running() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let polls: Polls = Arc::default();
    // As the server answers: the tasks only to an agent that does not hold this version.
    let answer: Answer = Arc::new(|poll: &PollRequest| {
        let mut wanted = wanted();
        if poll.known_version.as_deref() == Some(wanted.version.as_str()) {
            wanted.tasks.clear();
            wanted.unchanged = true;
        }
        wanted
    });
    let server = tokio::spawn(serve_answering(
        listener,
        Arc::clone(&polls),
        Arc::default(),
        answer,
    ));
    let fake = FakeRuntime::new(RuntimeConfig::scoped("berth.test-run", "node-unchanged"));
    let (stop, agent) = start_agent(&fake, address);
    report_where(&polls, |r| r.last_status == TaskStatus::Running).await;
    let running = fake.list().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while polls
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, p)| p.known_version.is_some())
        .count()
        < 5
    {
        assert!(Instant::now() < deadline, "the agent stopped polling");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        fake.list().await.unwrap(),
        running,
        "nothing stopped or started by answers that carry no tasks"
    );
    assert!(polls.lock().unwrap().iter().all(|(_, p)| p
        .reports
        .iter()
        .all(|r| r.last_status != TaskStatus::Stopped)));
    stop.send(()).unwrap();
    agent.await.unwrap().unwrap();
    server.abort();
}

/// An agent on `fake` polling the stand-in server at `address`, until told to stop.
fn start_agent(
    fake: &FakeRuntime,
    address: std::net::SocketAddr,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), berth_agent::AgentError>>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(node::run(
        Arc::new(fake.clone()),
        config(address),
        async move {
            let _ = stopped.await;
        },
    ));
    (stop, agent)
}

/// The id of the first container the agent starts.
async fn first_container(fake: &FakeRuntime) -> String {
    loop {
        if let Some(status) = fake.list().await.unwrap().first() {
            return status.id.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn logging_task() -> PollResponse {
    logging_task_to("/ecs/web")
}

fn logging_task_to(group: &str) -> PollResponse {
    let mut web = container("web", None);
    web.log_configuration = Some(LogConfiguration {
        log_driver: "awslogs".into(),
        options: serde_json::json!({"awslogs-group": group, "awslogs-stream-prefix": "ecs",
                                    "awslogs-create-group": "true", "awslogs-region": "us-east-1"})
        .as_object()
        .cloned(),
        secret_options: None,
    });
    let mut wanted = wanted();
    wanted.tasks[0].containers = vec![web];
    wanted
}

async fn kept_messages(key: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let kept: Vec<String> = KEPT
            .lock()
            .unwrap()
            .as_ref()
            .and_then(|k| k.kept.get(key))
            .map(|events| events.iter().map(|(_, m)| m.clone()).collect())
            .unwrap_or_default();
        if kept.len() >= count || Instant::now() > deadline {
            return kept;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The position the runtime was last told the container's output is shipped through, once
/// it reaches `position` (or after 10 s).
async fn shipped_through(fake: &FakeRuntime, id: &str, position: u64) -> Option<u64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let shipped = fake.shipped(id).unwrap();
        if shipped >= Some(position) || Instant::now() > deadline {
            return shipped;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_shipped_in_order_and_a_restarted_agent_reads_on_where_the_server_is() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let polls: Polls = Arc::default();
    tokio::spawn(serve_answering(
        listener,
        Arc::clone(&polls),
        Arc::default(),
        Arc::new(|_| logging_task()),
    ));
    let fake = FakeRuntime::new(RuntimeConfig::default());
    let (stop, agent) = start_agent(&fake, address);
    let id = first_container(&fake).await;
    for i in 0..50 {
        let stream = if i % 5 == 0 {
            OutputStream::Stderr
        } else {
            OutputStream::Stdout
        };
        fake.write_output(&id, stream, &format!("line {i}"))
            .unwrap();
    }
    fake.write_output(&id, OutputStream::Stdout, "").unwrap();
    let key = "/ecs/web:ecs/web/t1";
    let first: Vec<String> = (0..50).map(|i| format!("line {i}")).collect();
    assert_eq!(
        kept_messages(key, 50).await,
        first,
        "in order, empty lines left out"
    );
    assert_eq!(
        shipped_through(&fake, &id, 50).await,
        Some(50),
        "in blocking mode the runtime is told what the server keeps"
    );
    stop.send(()).unwrap();
    agent.await.unwrap().unwrap();

    for i in 50..80 {
        fake.write_output(&id, OutputStream::Stdout, &format!("line {i}"))
            .unwrap();
    }
    let (stop, agent) = start_agent(&fake, address);
    let all: Vec<String> = (0..80).map(|i| format!("line {i}")).collect();
    assert_eq!(kept_messages(key, 80).await, all);
    assert_eq!(shipped_through(&fake, &id, 81).await, Some(81));
    let received = KEPT
        .lock()
        .unwrap()
        .as_ref()
        .unwrap()
        .received
        .iter()
        .filter(|(k, _)| k == key)
        .count();
    assert_eq!(
        received, 80,
        "the restarted agent sent nothing the server had"
    );
    stop.send(()).unwrap();
    agent.await.unwrap().unwrap();
}

/// A container held for shipping whose output the server refuses (its group is gone) is
/// released, rather than left to wait for good once what is kept fills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_container_whose_output_is_refused_is_released() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve_answering(
        listener,
        Arc::default(),
        Arc::default(),
        Arc::new(|_| logging_task_to(GONE_GROUP)),
    ));
    let fake = FakeRuntime::new(RuntimeConfig::default());
    let (stop, agent) = start_agent(&fake, address);
    let id = first_container(&fake).await;
    assert_eq!(shipped_through(&fake, &id, u64::MAX).await, Some(u64::MAX));
    stop.send(()).unwrap();
    agent.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_container_stays_until_its_output_is_shipped() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let wanted = Arc::new(AtomicBool::new(true));
    let answer_wanted = Arc::clone(&wanted);
    let answer: Answer = Arc::new(move |_| {
        let mut task = logging_task();
        task.tasks[0].task_id = "t2".into();
        task.tasks[0].task_arn = "arn:aws:ecs:us-east-1:000000000000:task/default/t2".into();
        if !answer_wanted.load(Ordering::SeqCst) {
            task.tasks.clear();
            task.version = "v2".into();
        }
        task
    });
    let polls: Polls = Arc::default();
    tokio::spawn(serve_answering(
        listener,
        Arc::clone(&polls),
        Arc::default(),
        answer,
    ));
    let fake = FakeRuntime::new(RuntimeConfig::scoped("berth.test-run", "drain"));
    let (stop, agent) = start_agent(&fake, address);
    let id = first_container(&fake).await;
    let key = "/ecs/web:ecs/web/t2";
    fake.write_output(&id, OutputStream::Stdout, "before")
        .unwrap();
    assert_eq!(kept_messages(key, 1).await, ["before"]);
    REFUSE_LOGS.store(true, Ordering::SeqCst);
    fake.write_output(&id, OutputStream::Stdout, "last words")
        .unwrap();
    wanted.store(false, Ordering::SeqCst);
    // Stopped as no longer wanted; then three more polls, each after a round that would
    // have removed it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while matches!(
        fake.inspect(&id).await.unwrap().state,
        berth_runtime::ContainerState::Running { .. }
    ) {
        assert!(Instant::now() < deadline, "stopped once no longer wanted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let polled = polls.lock().unwrap().len();
    while polls.lock().unwrap().len() < polled + 3 {
        assert!(Instant::now() < deadline, "the agent keeps polling");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let listed = fake.list().await.unwrap();
    assert_eq!(listed.len(), 1, "kept while its output waits: {listed:?}");
    assert!(!matches!(
        listed[0].state,
        berth_runtime::ContainerState::Running { .. }
    ));
    REFUSE_LOGS.store(false, Ordering::SeqCst);
    assert_eq!(kept_messages(key, 2).await, ["before", "last words"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !fake.list().await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "removed once shipped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(()).unwrap();
    agent.await.unwrap().unwrap();
}

/// The answer to output request `id`, once an agent has posted it.
async fn output_answer(id: u64) -> OutputResult {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = OUTPUT
            .lock()
            .unwrap()
            .iter()
            .find(|a| a.request_id == id)
            .cloned();
        if let Some(answer) = found {
            assert_eq!(answer.container_instance_arn, INSTANCE_ARN);
            return answer.result;
        }
        assert!(
            Instant::now() < deadline,
            "no answer to output request {id}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_output_are_read_for_the_server_from_where_it_asks() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let asks: Arc<Mutex<Vec<OutputRequest>>> = Arc::default();
    let pending = Arc::clone(&asks);
    // Each request goes out once, in the next poll's answer, as the server sends them.
    let answer: Answer = Arc::new(move |_| {
        let mut wanted = wanted();
        wanted.output_requests = std::mem::take(&mut *pending.lock().unwrap());
        wanted
    });
    tokio::spawn(serve_answering(
        listener,
        Arc::default(),
        Arc::default(),
        answer,
    ));
    let fake = FakeRuntime::new(RuntimeConfig::scoped("berth.test-run", "node-output"));
    let (stop, agent) = start_agent(&fake, address);
    let id = first_container(&fake).await;
    for text in ["one", "two", "three"] {
        fake.write_output(&id, OutputStream::Stdout, text).unwrap();
    }
    let ask = |request_id, runtime_id: &str, after| OutputRequest {
        request_id,
        task_id: "t1".into(),
        container_name: "db".into(),
        runtime_id: runtime_id.into(),
        after,
        start_time: None,
    };
    let texts = |result: &OutputResult| -> Vec<String> {
        match result {
            OutputResult::Page(page) => page.lines.iter().map(|l| l.text.clone()).collect(),
            other => panic!("not a page: {other:?}"),
        }
    };
    asks.lock().unwrap().push(ask(1001, &id, None));
    let first = output_answer(1001).await;
    assert_eq!(texts(&first), ["one", "two", "three"]);
    let OutputResult::Page(page) = first else {
        unreachable!()
    };
    assert!(!page.more);

    fake.write_output(&id, OutputStream::Stderr, "four")
        .unwrap();
    asks.lock().unwrap().push(ask(1002, &id, page.after));
    let next = output_answer(1002).await;
    assert_eq!(
        texts(&next),
        ["four"],
        "read on exactly from the page's position"
    );

    asks.lock()
        .unwrap()
        .push(ask(1003, "no-such-container", None));
    assert_eq!(output_answer(1003).await, OutputResult::Gone);
    stop.send(()).unwrap();
    agent.await.unwrap().unwrap();
}

/// A desired set of `count` one-container tasks, answered in pages of `MAX_TASKS_PER_PAGE`.
fn paged(count: usize, poll: &PollRequest, resync: bool) -> PollResponse {
    let all: Vec<DesiredTask> = (0..count)
        .map(|i| DesiredTask {
            task_arn: format!("arn:aws:ecs:us-east-1:000000000000:task/default/t{i:05}"),
            task_id: format!("t{i:05}"),
            containers: vec![container("app", None)],
            ..wanted().tasks[0].clone()
        })
        .collect();
    let after: Vec<DesiredTask> = all
        .into_iter()
        .filter(|t| poll.page_after.as_ref().is_none_or(|a| &t.task_arn > a))
        .collect();
    let more = after.len() > MAX_TASKS_PER_PAGE;
    let tasks: Vec<DesiredTask> = after.into_iter().take(MAX_TASKS_PER_PAGE).collect();
    PollResponse {
        version: "v1".into(),
        unchanged: false,
        next_page: more.then(|| tasks.last().unwrap().task_arn.clone()),
        tasks,
        resync,
        output_requests: vec![],
    }
}

/// 1,200 tasks on one machine: the desired set comes in pages, each poll carries at most
/// 500 reports, a task is reported again only when it changed or the server asks for
/// everything (a resync, which the poll carrying its last report completes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_travel_in_bounded_pages_and_reports_and_resync_on_request() {
    const TASKS: usize = 1200;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let polls: Polls = Arc::default();
    let synced = Arc::new(AtomicUsize::new(0));
    let answer: Answer = {
        let synced = Arc::clone(&synced);
        Arc::new(move |poll: &PollRequest| {
            if poll.synced {
                synced.fetch_add(1, Ordering::SeqCst);
            }
            // Asks for everything until it has heard it twice.
            paged(TASKS, poll, synced.load(Ordering::SeqCst) < 2)
        })
    };
    let server = tokio::spawn(serve_answering(
        listener,
        Arc::clone(&polls),
        Arc::default(),
        answer,
    ));
    let fake = FakeRuntime::new(RuntimeConfig::scoped("berth.test-run", "node-many"));
    let agent = tokio::spawn(node::run(
        Arc::new(fake.clone()),
        config(address),
        std::future::pending(),
    ));
    // Until three polls have come after the one that completed the second resync.
    let settled = || {
        let seen = polls.lock().unwrap();
        let completed = seen.iter().filter(|(_, p)| p.synced).count();
        let after_last = seen
            .iter()
            .rposition(|(_, p)| p.synced)
            .map_or(0, |i| seen.len() - i - 1);
        completed >= 2 && after_last >= 3
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !settled() {
        assert!(
            Instant::now() < deadline,
            "no second resync and three polls after it within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    agent.abort();
    server.abort();

    let containers = fake.list().await.unwrap();
    assert_eq!(containers.len(), TASKS, "every page's tasks started, once");
    let polls = polls.lock().unwrap();
    assert!(polls.iter().all(|(_, p)| p.reports.len() <= 500));
    let completions: Vec<usize> = polls
        .iter()
        .enumerate()
        .filter(|(_, (_, p))| p.synced)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(completions.len(), 2, "two resyncs, each completed once");
    let running_reports = |range: &[(usize, PollRequest)]| -> usize {
        range
            .iter()
            .flat_map(|(_, p)| &p.reports)
            .filter(|r| r.last_status == TaskStatus::Running)
            .count()
    };
    // Each resync carries every task once; nothing after it repeats a report.
    assert_eq!(
        running_reports(&polls[completions[0] + 1..=completions[1]]),
        TASKS
    );
    let after: Vec<usize> = polls[completions[1] + 1..]
        .iter()
        .map(|(_, p)| p.reports.len())
        .collect();
    assert!(
        !after.is_empty() && after.iter().all(|n| *n == 0),
        "{after:?}"
    );
}
