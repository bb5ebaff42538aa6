//! `berth agent` and the agent half of `berth up`: machine facts, runtime choice, and the
//! instance id that makes a restarted agent the same container instance.

use anyhow::{Context, Result};
use berth_agent::node::{self, Config};
use berth_client::endpoint::Endpoint;
use berth_model::agent::RegisterRequest;
use berth_runtime::docker::DockerRuntime;
use berth_runtime::process::ProcessRuntime;
use berth_runtime::RuntimeConfig;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs, UdpSocket};
use std::path::Path;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeChoice {
    /// Docker if an engine answers, else the process runtime.
    Auto,
    Docker,
    Process,
}

/// CPU units (1024 per core) and MiB of memory of this machine.
pub fn machine_resources() -> (i64, i64) {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as i64;
    let memory_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<i64>().ok())
        })
        .unwrap_or(1024 * 1024);
    (cores * 1024, memory_kib / 1024)
}

/// The stable id of this machine's container instance, kept in the state directory.
pub fn instance_id(state_dir: &Path) -> Result<String> {
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("creating {}", state_dir.display()))?;
    let path = state_dir.join("instance-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        if !id.trim().is_empty() {
            return Ok(id.trim().to_string());
        }
    }
    let id: String = (0..32)
        .map(|_| char::from_digit(rand::random::<u32>() % 16, 16).unwrap_or('0'))
        .collect();
    std::fs::write(&path, &id).with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

pub struct Agent {
    pub server: String,
    /// The CA an `https://` server's certificate must chain to.
    pub ca_file: Option<std::path::PathBuf>,
    pub token: String,
    pub cluster: String,
    pub attributes: BTreeMap<String, String>,
    pub state_dir: std::path::PathBuf,
    pub runtime: RuntimeChoice,
    /// Labels every container of this agent carries besides its instance id; the agent
    /// manages only containers carrying both.
    pub scope: BTreeMap<String, String>,
    /// Where the load balancer reaches this machine's tasks; by default the address this
    /// machine uses to reach the server.
    pub advertise_address: Option<IpAddr>,
    /// How often the running containers' usage is sampled.
    pub sample_every: std::time::Duration,
    /// Where to answer `GET /metrics`, if anywhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// How much of each host process's output the process runtime keeps.
    pub process_output_bytes: u64,
    /// CPU units and MiB of memory offered to tasks, where not all of the machine's.
    pub offer: Offer,
}

/// What of the machine an agent offers to tasks; what is not given is the machine's whole.
#[derive(Debug, Clone, Copy, Default)]
pub struct Offer {
    pub cpu: Option<i64>,
    pub memory: Option<i64>,
}

/// The local address of the route to `server` (a URL): the address the server's side sees
/// this machine at, and so the one its load balancer can reach this machine's tasks at.
fn route_address(server: &str) -> Option<IpAddr> {
    let authority = server.split("://").nth(1)?.split('/').next()?;
    let target = authority.to_socket_addrs().ok()?.next()?;
    let unspecified: IpAddr = if target.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    // Connecting a UDP socket sends nothing; it only picks the route.
    let socket = UdpSocket::bind((unspecified, 0)).ok()?;
    socket.connect(target).ok()?;
    Some(socket.local_addr().ok()?.ip())
}

/// Picks the runtime and runs the agent until `stop` completes (see [`node::run`] for how it
/// stops), or fails when the server refuses its join token. Prints which runtime.
pub async fn run(agent: Agent, stop: impl Future<Output = ()>) -> Result<()> {
    let (machine_cpu, machine_memory) = machine_resources();
    let cpu = agent.offer.cpu.unwrap_or(machine_cpu);
    let memory = agent.offer.memory.unwrap_or(machine_memory);
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string();
    let address = agent
        .advertise_address
        .or_else(|| route_address(&agent.server))
        .map(|ip| ip.to_string());
    let ca = agent
        .ca_file
        .as_ref()
        .map(|path| {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
        })
        .transpose()?;
    let endpoint = Endpoint::new(&agent.server, ca.as_deref(), "--ca-file")?;
    let instance_id = instance_id(&agent.state_dir)?;
    let registration = |runtime: &str| RegisterRequest {
        cluster: agent.cluster.clone(),
        instance_id: instance_id.clone(),
        hostname: hostname.clone(),
        cpu,
        memory,
        attributes: agent.attributes.clone(),
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        runtime: runtime.to_string(),
        address: address.clone(),
    };
    let config = |runtime: &str| Config {
        server: endpoint.clone(),
        token: agent.token.clone(),
        registration: registration(runtime),
        poll_wait_seconds: 2,
        sample_every: agent.sample_every,
        metrics_listen: agent.metrics_listen,
    };
    // Another agent on the same engine (a `berth up` beside a `berth agent`, say) must
    // neither see nor touch these containers, whatever labels each was given.
    let runtime_config = RuntimeConfig::for_instance(&instance_id, agent.scope.clone());
    let docker = match agent.runtime {
        RuntimeChoice::Process => None,
        RuntimeChoice::Auto => DockerRuntime::connect(runtime_config.clone()).await.ok(),
        RuntimeChoice::Docker => Some(
            DockerRuntime::connect(runtime_config.clone())
                .await
                .context("no Docker engine answered; start one or run with --runtime process")?,
        ),
    };
    let ended = match docker {
        Some(docker) => {
            eprintln!(
                "berth agent: running containers with Docker ({cpu} CPU units, {memory} MiB)"
            );
            node::run(Arc::new(docker), config("docker"), stop).await
        }
        None => {
            let why = if agent.runtime == RuntimeChoice::Process {
                "as asked"
            } else {
                "no Docker engine answered"
            };
            eprintln!("berth agent: running tasks as host processes, {why} ({cpu} CPU units, {memory} MiB)");
            let runtime = ProcessRuntime::new(runtime_config, agent.state_dir.join("processes"))?
                .with_output_budget(agent.process_output_bytes);
            node::run(Arc::new(runtime), config("process"), stop).await
        }
    };
    Ok(ended?)
}
