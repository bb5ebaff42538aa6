//! `berth-fleet`: a fleet simulator. One process stands in for many machines: it runs the real
//! agent loop (`berth_agent::node::run`) once per simulated node, each over its own fake
//! runtime, all against one `berth server`. It then creates services until the cluster holds
//! `--tasks` tasks and reports, as a table or JSON:
//!
//! - placements per second end to end: from the first CreateService until the server counts
//!   every task RUNNING (each agent reported it);
//! - the ECS API's latency while the tasks come up and once they all run: DescribeServices of
//!   one service and ListTasks of 100, on a connection of their own;
//! - the controller's round time (from the server's `/metrics`).
//!
//! `bench/fleet.sh` starts the server and runs this at two sizes.

#![forbid(unsafe_code)]

use anyhow::{bail, Context, Result};
use berth_agent::node::{self, Config};
use berth_client::aws::{Connection, Credentials, Server, ECS};
use berth_client::endpoint::Endpoint;
use berth_model::agent::RegisterRequest;
use berth_runtime::fake::FakeRuntime;
use berth_runtime::RuntimeConfig;
use clap::Parser;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "berth-fleet",
    about = "Simulate many agents against one berth server"
)]
enum Command {
    /// Run the simulated agents against a server and measure it.
    Run(Cli),
    /// Measure the pure placement function alone: decisions per second.
    Placement {
        #[arg(long, default_value_t = 1000)]
        nodes: usize,
        #[arg(long, default_value_t = 100_000)]
        decisions: usize,
    },
}

#[derive(clap::Args)]
struct Cli {
    /// The server, e.g. http://127.0.0.1:4566.
    #[arg(long)]
    endpoint: String,
    #[arg(long)]
    access_key: String,
    #[arg(long)]
    secret: String,
    /// A join token (`berth tokens create`).
    #[arg(long)]
    token: String,
    /// Simulated machines.
    #[arg(long, default_value_t = 100)]
    nodes: usize,
    /// Tasks in all, spread over `--services` services.
    #[arg(long, default_value_t = 10_000)]
    tasks: usize,
    #[arg(long, default_value_t = 100)]
    services: usize,
    /// Each node's memory in MiB (tasks reserve 8 MiB each).
    #[arg(long, default_value_t = 1 << 20)]
    node_memory: i64,
    /// How long to wait for every task to run.
    #[arg(long, default_value_t = 600)]
    timeout_seconds: u64,
    /// Print JSON instead of a table row.
    #[arg(long)]
    json: bool,
}

/// How many connections create the services.
const CREATE_LANES: usize = 8;

/// Latencies of one action, in milliseconds.
#[derive(Default)]
struct Latencies(Vec<f64>);

impl Latencies {
    fn percentile(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }
}

/// DescribeServices and ListTasks latencies, while tasks come up and once they all run.
#[derive(Default)]
struct Probe {
    describe: [Latencies; 2],
    list: [Latencies; 2],
}

/// Calls DescribeServices and ListTasks one after the other until `stop`, recording each
/// latency under the phase `steady` says.
async fn probe(
    server: Arc<Server>,
    results: Arc<Mutex<Probe>>,
    steady: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let mut connection = Connection::open(&server).await?;
    while !stop.load(Ordering::Relaxed) {
        let phase = usize::from(steady.load(Ordering::Relaxed));
        let began = Instant::now();
        connection
            .call(
                ECS,
                "DescribeServices",
                &json!({"services": ["fleet-0000"]}),
            )
            .await?;
        let described = began.elapsed().as_secs_f64() * 1000.0;
        let began = Instant::now();
        connection
            .call(
                ECS,
                "ListTasks",
                &json!({"serviceName": "fleet-0000", "maxResults": 100}),
            )
            .await?;
        let listed = began.elapsed().as_secs_f64() * 1000.0;
        {
            let mut kept = results.lock().unwrap_or_else(|p| p.into_inner());
            kept.describe[phase].0.push(described);
            kept.list[phase].0.push(listed);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Every page of a List action's ARNs.
async fn list_all(connection: &mut Connection, action: &str, key: &str) -> Result<Vec<String>> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"maxResults": 100});
        if let Some(token) = &token {
            body["nextToken"] = json!(token);
        }
        let page = connection.call(ECS, action, &body).await?;
        all.extend(
            page[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string)),
        );
        match page["nextToken"].as_str() {
            Some(next) => token = Some(next.to_string()),
            None => return Ok(all),
        }
    }
}

/// The services' RUNNING tasks in all, as the server counts them.
async fn running(connection: &mut Connection, names: &[String]) -> Result<i64> {
    let mut total = 0;
    for batch in names.chunks(10) {
        let described = connection
            .call(ECS, "DescribeServices", &json!({"services": batch}))
            .await?;
        total += described["services"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| s["runningCount"].as_i64().unwrap_or(0))
            .sum::<i64>();
    }
    Ok(total)
}

/// How many tasks one service is scaled out by once the cluster is settled.
const SCALE_OUT: usize = 10;

/// The controller's work so far, from the server's `/metrics`.
#[derive(Debug, Clone, Copy)]
struct ControllerWork {
    rounds: f64,
    seconds: f64,
    tasks_read: f64,
}

impl ControllerWork {
    fn since(self, before: ControllerWork) -> ControllerWork {
        ControllerWork {
            rounds: self.rounds - before.rounds,
            seconds: self.seconds - before.seconds,
            tasks_read: self.tasks_read - before.tasks_read,
        }
    }

    /// Per round, or NaN without rounds.
    fn per_round(self, total: f64) -> f64 {
        if self.rounds > 0.0 {
            total / self.rounds
        } else {
            f64::NAN
        }
    }
}

async fn controller_work(server: &Server) -> Result<ControllerWork> {
    let stream = server.endpoint.connect().await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = hyper::Request::get("/metrics")
        .header("host", server.endpoint.authority())
        .body(http_body_util::Full::new(bytes::Bytes::new()))?;
    let response = sender.send_request(request).await?;
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await?
        .to_bytes();
    let text = String::from_utf8_lossy(&body);
    let value = |name: &str| {
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    Ok(ControllerWork {
        rounds: value("berth_controller_round_duration_seconds_count"),
        seconds: value("berth_controller_round_duration_seconds_sum"),
        tasks_read: value("berth_controller_tasks_read_total"),
    })
}

/// Places `decisions` tasks of 100-task services, spread by instance, on `nodes` machines in
/// three zones, as a round of the controller would, and prints decisions per second.
fn placement(nodes: usize, decisions: usize) {
    use berth_reconcile::placement::{Instance, Request, Resources, Strategy};
    let instances: Vec<Instance> = (0..nodes)
        .map(|i| Instance {
            id: format!("fleet-{i:04}"),
            registered: Resources {
                cpu: 1 << 20,
                memory: 1 << 20,
            },
            attributes: [("zone".to_string(), format!("z{}", i % 3))].into(),
            accepts_tasks: true,
            lost: false,
        })
        .collect();
    let mut placer = berth_reconcile::placement::Placer::new(&instances, &[]);
    let strategies = [Strategy::Spread("instanceId".into())];
    let groups: Vec<String> = (0..decisions.div_ceil(100))
        .map(|i| format!("service:fleet-{i:04}"))
        .collect();
    let mut rng = berth_reconcile::Rng::new(1);
    let began = Instant::now();
    for decision in 0..decisions {
        let request = Request {
            group: &groups[decision / 100],
            resources: Resources { cpu: 1, memory: 8 },
            strategies: &strategies,
            constraints: &[],
        };
        placer
            .place(&request, &mut rng)
            .expect("the simulated machines have room");
    }
    let elapsed = began.elapsed().as_secs_f64();
    println!(
        "{:.0} placement decisions per second ({decisions} on {nodes} machines in {elapsed:.2} s)",
        decisions as f64 / elapsed
    );
}

/// How many nice steps the simulated machines run below the server and the prober once every
/// task runs.
const FLEET_NICE_STEPS: i32 = 10;

/// The threads that run the simulated machines, and whether they run lowered.
struct FleetThreads {
    running: Vec<rustix::process::Pid>,
    lowered: bool,
}

static FLEET_THREADS: Mutex<FleetThreads> = Mutex::new(FleetThreads {
    running: Vec::new(),
    lowered: false,
});

fn fleet_threads() -> std::sync::MutexGuard<'static, FleetThreads> {
    FLEET_THREADS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Lowers the priority of the thread `tid` (on Linux a nice value is each thread's own).
fn lower_priority(tid: rustix::process::Pid) {
    let lowered = rustix::process::getpriority_process(Some(tid))
        .map(|nice| (nice + FLEET_NICE_STEPS).min(19))
        .and_then(|nice| rustix::process::setpriority_process(Some(tid), nice));
    if let Err(error) = lowered {
        eprintln!("fleet: could not lower a simulated machine thread's priority: {error}");
    }
}

/// Notes a thread of the runtime that runs the simulated machines (lowered at once if they
/// already are).
fn fleet_thread_started() {
    let tid = rustix::thread::gettid();
    let mut threads = fleet_threads();
    if threads.lowered {
        lower_priority(tid);
    }
    threads.running.push(tid);
}

/// Forgets a thread that ends, so that its id, once reused, is not lowered.
fn fleet_thread_stopped() {
    let tid = rustix::thread::gettid();
    fleet_threads().running.retain(|running| *running != tid);
}

/// From now on the simulated machines run below the server: at rest the API is timed as if
/// they were the thousand other machines they stand for, whose polls and reports reach the
/// server but whose own work would not take its cores. (While tasks come up they run at the
/// same priority, so that neither side is slowed by the simulation more than the other.)
fn lower_fleet_priority() {
    let mut threads = fleet_threads();
    threads.lowered = true;
    for tid in &threads.running {
        lower_priority(*tid);
    }
}

fn main() -> Result<()> {
    let cli = match Command::parse() {
        Command::Run(cli) => cli,
        Command::Placement { nodes, decisions } => {
            placement(nodes, decisions);
            return Ok(());
        }
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(fleet_thread_started)
        .on_thread_stop(fleet_thread_stopped)
        .build()?
        .block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    if cli.services == 0 || !cli.tasks.is_multiple_of(cli.services) {
        bail!("--tasks must be a multiple of --services");
    }
    let server = Arc::new(Server {
        endpoint: Endpoint::new(&cli.endpoint, None, "--ca-file")?,
        credentials: Credentials {
            access_key_id: cli.access_key.clone(),
            secret_access_key: cli.secret.clone(),
            region: "us-east-1".into(),
        },
    });
    let mut connection = Connection::open(&server).await?;

    eprintln!("fleet: starting {} simulated agents", cli.nodes);
    let mut agents = tokio::task::JoinSet::new();
    for node in 0..cli.nodes {
        let runtime = Arc::new(FakeRuntime::new(RuntimeConfig::scoped(
            "berth.fleet",
            format!("node-{node:04}"),
        )));
        let config = Config {
            server: server.endpoint.clone(),
            token: cli.token.clone(),
            registration: RegisterRequest {
                cluster: "default".into(),
                instance_id: format!("fleet-{node:04}"),
                hostname: format!("fleet-{node:04}"),
                cpu: 1 << 20,
                memory: cli.node_memory,
                attributes: [("zone".to_string(), format!("z{}", node % 3))].into(),
                agent_version: "fleet".into(),
                runtime: "fake".into(),
                address: Some("127.0.0.1".into()),
            },
            poll_wait_seconds: 2,
            sample_every: berth_agent::usage::DEFAULT_SAMPLE_EVERY,
            metrics_listen: None,
        };
        agents.spawn(async move {
            if let Err(e) = node::run(runtime, config, std::future::pending()).await {
                eprintln!("fleet: an agent ended: {e}");
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(cli.timeout_seconds);
    loop {
        let joined = list_all(
            &mut connection,
            "ListContainerInstances",
            "containerInstanceArns",
        )
        .await?
        .len();
        if joined >= cli.nodes {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {joined} of {} agents joined", cli.nodes);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    connection
        .call(
            ECS,
            "RegisterTaskDefinition",
            &json!({"family": "fleet", "containerDefinitions": [
                {"name": "app", "image": "fleet", "essential": true, "memory": 8, "cpu": 1}]}),
        )
        .await
        .context("registering the task definition")?;
    let names: Vec<String> = (0..cli.services).map(|i| format!("fleet-{i:04}")).collect();
    let per_service = cli.tasks / cli.services;
    let results = Arc::new(Mutex::new(Probe::default()));
    let steady = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let work_before = controller_work(&server).await?;
    let began = Instant::now();
    // Eight at a time, as a deploy tool creating many services would: what is measured is
    // the scheduler, not one client's round trips.
    let mut creating = tokio::task::JoinSet::new();
    for lane in names.chunks(names.len().div_ceil(CREATE_LANES)) {
        let lane = lane.to_vec();
        let server = Arc::clone(&server);
        creating.spawn(async move {
            let mut connection = Connection::open(&server).await?;
            for name in lane {
                connection
                    .call(
                        ECS,
                        "CreateService",
                        &json!({"serviceName": name, "taskDefinition": "fleet",
                                "desiredCount": per_service,
                                "placementStrategy": [{"type": "spread", "field": "instanceId"}]}),
                    )
                    .await
                    .with_context(|| format!("creating {name}"))?;
            }
            Ok::<(), anyhow::Error>(())
        });
    }
    while let Some(created) = creating.join_next().await {
        created??;
    }
    let created = began.elapsed();
    // On a thread and runtime of its own, as a separate client would be: on the fleet's
    // runtime its calls would also wait behind a thousand agents' tasks, which is the
    // simulator's queue, not the server's latency.
    let prober = {
        let (server, results) = (Arc::clone(&server), Arc::clone(&results));
        let (steady, stop) = (Arc::clone(&steady), Arc::clone(&stop));
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(probe(server, results, steady, stop))
        })
    };
    let total = cli.tasks as i64;
    let mut last_print = Instant::now();
    let all_running = loop {
        let now_running = running(&mut connection, &names).await?;
        if now_running >= total {
            break began.elapsed();
        }
        if last_print.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "fleet: {now_running} of {total} RUNNING after {:.1} s",
                began.elapsed().as_secs_f64()
            );
            last_print = Instant::now();
        }
        if Instant::now() > deadline {
            bail!("only {now_running} of {total} tasks RUNNING in time");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let ramp = controller_work(&server).await?.since(work_before);
    lower_fleet_priority();
    steady.store(true, Ordering::Relaxed);
    eprintln!("fleet: every task RUNNING; measuring the API at rest for 20 s");
    // The first seconds still see deployments complete (tasks without health checks count
    // as healthy 5 s after they started); the controller's work at rest is the last ten.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let rest_before = controller_work(&server).await?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let rest = controller_work(&server).await?.since(rest_before);
    stop.store(true, Ordering::Relaxed);
    prober
        .join()
        .map_err(|_| anyhow::anyhow!("the prober panicked"))??;

    // One service scaled out by ten in the settled cluster: a round's work should be that
    // service's, not the cluster's.
    let scaled = std::slice::from_ref(&names[0]);
    let wanted = per_service + SCALE_OUT;
    let scaling_before = controller_work(&server).await?;
    let scaling_began = Instant::now();
    connection
        .call(
            ECS,
            "UpdateService",
            &json!({"service": scaled[0], "desiredCount": wanted}),
        )
        .await
        .context("scaling one service out")?;
    while running(&mut connection, scaled).await? < wanted as i64 {
        if Instant::now() > deadline {
            bail!("{} never reached {wanted} tasks", scaled[0]);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let scaled_in = scaling_began.elapsed();
    let scaling = controller_work(&server).await?.since(scaling_before);
    agents.abort_all();

    let placements = total as f64 / all_running.as_secs_f64();
    let results = results.lock().unwrap_or_else(|p| p.into_inner());
    let report = json!({
        "nodes": cli.nodes,
        "tasks": cli.tasks,
        "services": cli.services,
        "create_services_s": created.as_secs_f64(),
        "all_running_s": all_running.as_secs_f64(),
        "placements_per_s": placements,
        "controller_rounds": ramp.rounds,
        "controller_round_mean_ms": ramp.per_round(ramp.seconds) * 1000.0,
        "controller_tasks_read_per_round": ramp.per_round(ramp.tasks_read),
        "controller_tasks_read_at_rest": rest.tasks_read,
        "scale_one_service": {
            "running_s": scaled_in.as_secs_f64(),
            "tasks_read": scaling.tasks_read,
            "round_mean_ms": scaling.per_round(scaling.seconds) * 1000.0,
        },
        "describe_services_ms": {
            "ramp": [results.describe[0].percentile(50.0), results.describe[0].percentile(99.0)],
            "steady": [results.describe[1].percentile(50.0), results.describe[1].percentile(99.0)],
        },
        "list_tasks_ms": {
            "ramp": [results.list[0].percentile(50.0), results.list[0].percentile(99.0)],
            "steady": [results.list[1].percentile(50.0), results.list[1].percentile(99.0)],
        },
    });
    if cli.json {
        println!("{report}");
    } else {
        print_row(&report);
    }
    Ok(())
}

fn print_row(report: &Value) {
    let pair = |v: &Value| {
        format!(
            "{:.1} / {:.1}",
            v[0].as_f64().unwrap_or(f64::NAN),
            v[1].as_f64().unwrap_or(f64::NAN)
        )
    };
    println!(
        "| {} | {} | {:.1} | {:.1} | {:.0} | {:.0} | {:.0} · {:.0} | {:.2} s · {:.0} · {:.1} ms | {} | {} | {} | {} |",
        report["nodes"],
        report["tasks"],
        report["create_services_s"].as_f64().unwrap_or(f64::NAN),
        report["all_running_s"].as_f64().unwrap_or(f64::NAN),
        report["placements_per_s"].as_f64().unwrap_or(f64::NAN),
        report["controller_round_mean_ms"]
            .as_f64()
            .unwrap_or(f64::NAN),
        report["controller_tasks_read_per_round"]
            .as_f64()
            .unwrap_or(f64::NAN),
        report["controller_tasks_read_at_rest"]
            .as_f64()
            .unwrap_or(f64::NAN),
        report["scale_one_service"]["running_s"]
            .as_f64()
            .unwrap_or(f64::NAN),
        report["scale_one_service"]["tasks_read"]
            .as_f64()
            .unwrap_or(f64::NAN),
        report["scale_one_service"]["round_mean_ms"]
            .as_f64()
            .unwrap_or(f64::NAN),
        pair(&report["describe_services_ms"]["ramp"]),
        pair(&report["describe_services_ms"]["steady"]),
        pair(&report["list_tasks_ms"]["ramp"]),
        pair(&report["list_tasks_ms"]["steady"]),
    );
}
