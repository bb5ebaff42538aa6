//! The `berth` command: the control plane and the commands that manage it.

#![forbid(unsafe_code)]

mod aws_config;
mod logs;
mod node;
mod up;

use anyhow::{Context, Result};
use berth_server::keys;
use berth_server::server::{self, Config, Server};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// The server answers each request with many small allocations from many threads at once;
/// glibc's allocator spends much of that time contending for its arena locks, mimalloc's
/// thread-local heaps do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "Run services the way Amazon ECS does, on machines you own"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Output {
    Table,
    Json,
}

/// What `berth server` and `berth up` both take: where the control plane keeps its data and
/// where it answers.
#[derive(Args)]
struct ServerArgs {
    /// Where the database and the credentials file live.
    #[arg(long, env = "BERTH_DATA_DIR", default_value = ".berth")]
    data_dir: PathBuf,
    /// Address to answer the API on.
    #[arg(long, default_value = "127.0.0.1:4566")]
    listen: SocketAddr,
    /// The region in the ARNs Berth issues.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Address load balancer listeners bind on (each on its listener's port).
    #[arg(long, default_value = "0.0.0.0")]
    lb_bind: IpAddr,
    /// The master key that seals secret values at rest (made, mode 0600, on the first start).
    /// Keep a copy apart from the database: without it no secret can be read. Default:
    /// DATA_DIR/master.key.
    #[arg(long, env = "BERTH_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// Serve HTTPS with this certificate (PEM, the server's first, then intermediates).
    /// Use it whenever agents or clients reach the server across a network: secrets travel
    /// to agents on this connection.
    #[arg(long, env = "BERTH_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "BERTH_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The most log messages DATA_DIR/logs keeps, in MiB; past it the oldest events go,
    /// whatever their groups' retention.
    #[arg(long, env = "BERTH_LOGS_MAX_MIB", default_value_t = server::DEFAULT_LOGS_MAX_BYTES >> 20)]
    logs_max_mib: u64,
}

impl From<ServerArgs> for Config {
    fn from(args: ServerArgs) -> Self {
        Config {
            data_dir: args.data_dir,
            listen: args.listen,
            region: args.region,
            lb_bind: args.lb_bind,
            master_key_file: args.master_key_file,
            tls: args
                .tls_cert
                .zip(args.tls_key)
                .map(|(certificate, private_key)| server::TlsFiles {
                    certificate,
                    private_key,
                }),
            logs_max_bytes: args.logs_max_mib.saturating_mul(1 << 20),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane: the ECS API over an embedded SQLite store.
    Server {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Run server and agent in one process and, given an example, deploy it and wait.
    Up {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value = "auto")]
        runtime: node::RuntimeChoice,
        /// Tasks the example's service runs: 2 when it creates the service; an existing
        /// service keeps its count unless this is given.
        #[arg(long)]
        count: Option<i64>,
        /// The load balancer port an example with a port mapping is reached at.
        #[arg(long, default_value_t = 8080)]
        lb_port: u16,
        /// A label every container carries, e.g. --label site=lab (as for `berth agent`).
        #[arg(long = "label", value_parser = parse_attribute)]
        labels: Vec<(String, String)>,
        /// A task definition (as for `aws ecs register-task-definition --cli-input-json`)
        /// to deploy as a service named after its family.
        example: Option<PathBuf>,
    },
    /// Run the node agent: join a cluster and run the tasks placed on this machine.
    Agent {
        /// The server's URL, e.g. https://10.0.0.5:4566 (or http:// on one machine).
        #[arg(long)]
        server: String,
        /// The CA certificate (PEM) that signed an https:// server's certificate.
        #[arg(long, env = "BERTH_CA_FILE")]
        ca_file: Option<PathBuf>,
        /// A join token from `berth tokens create`.
        #[arg(long, env = "BERTH_JOIN_TOKEN")]
        token: String,
        #[arg(long, default_value = "default")]
        cluster: String,
        /// Attributes for placement constraints, e.g. --attribute zone=a.
        #[arg(long = "attribute", value_parser = parse_attribute)]
        attributes: Vec<(String, String)>,
        /// Where the agent keeps its instance id and process-runtime records.
        #[arg(long, default_value = ".berth-agent")]
        state_dir: PathBuf,
        #[arg(long, value_enum, default_value = "auto")]
        runtime: node::RuntimeChoice,
        /// A label every container of this agent carries, e.g. --label site=lab. Whatever the
        /// labels, the agent manages only containers labelled with its own instance id.
        #[arg(long = "label", value_parser = parse_attribute)]
        labels: Vec<(String, String)>,
        /// The address the load balancer reaches this machine's tasks at (their host ports);
        /// by default the address this machine uses to reach the server.
        #[arg(long)]
        advertise_address: Option<std::net::IpAddr>,
        /// How often, in seconds, the running containers' CPU and memory are sampled and
        /// reported to the server.
        #[arg(long, default_value_t = 5.0, value_parser = parse_sample_seconds)]
        sample_seconds: f64,
        /// Answer GET /metrics (Prometheus' text format) on this address, e.g. 0.0.0.0:9101.
        #[arg(long)]
        metrics_listen: Option<std::net::SocketAddr>,
        /// How much of each host process's output is kept on this machine, in MiB (Docker
        /// containers keep 32 MiB in their json-file log).
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
        process_output_mib: u64,
        /// CPU units (1,024 a core) offered to tasks; by default all of the machine's.
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
        cpu: Option<i64>,
        /// MiB of memory offered to tasks; by default all of the machine's. Keep some back
        /// for the system and the engine, as ECS_RESERVED_MEMORY does.
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
        memory: Option<i64>,
    },
    /// Print a service's or a task's container output (awslogs), following it with -f.
    Logs(logs::Args),
    /// Manage the access keys that sign API requests.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Manage the join tokens agents present when they register.
    Tokens {
        #[command(subcommand)]
        action: TokensAction,
    },
    /// Manage the master key that seals secrets at rest.
    MasterKey {
        #[command(subcommand)]
        action: MasterKeyAction,
    },
    /// Manage the certificates HTTPS listeners serve.
    Certs {
        #[command(subcommand)]
        action: CertsAction,
    },
}

#[derive(Subcommand)]
enum MasterKeyAction {
    /// Make a new master key and re-seal every secret's data key under it, in one
    /// transaction; the old key is kept beside it as KEY.old. Stop the server first.
    Rotate {
        #[arg(long, env = "BERTH_DATA_DIR", default_value = ".berth")]
        data_dir: PathBuf,
        /// The master key in use (default: DATA_DIR/master.key); the new one takes its place.
        #[arg(long, env = "BERTH_MASTER_KEY_FILE")]
        master_key_file: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
}

#[derive(Subcommand)]
enum CertsAction {
    /// Import a PEM certificate and its private key; prints the ARN listeners name it by.
    Import {
        #[arg(long, env = "BERTH_DATA_DIR", default_value = ".berth")]
        data_dir: PathBuf,
        /// The region in the certificate's ARN (the server's --region).
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// PEM file with the certificate.
        #[arg(long)]
        certificate: PathBuf,
        /// PEM file with the certificate's private key.
        #[arg(long)]
        private_key: PathBuf,
        /// PEM file with the intermediate certificates.
        #[arg(long)]
        certificate_chain: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// List imported certificates.
    List {
        #[arg(long, env = "BERTH_DATA_DIR", default_value = ".berth")]
        data_dir: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
}

#[derive(Subcommand)]
enum TokensAction {
    /// Create a join token and print it (shown only now; the server keeps only its hash).
    Create {
        #[arg(long, env = "BERTH_DATA_DIR", default_value = ".berth")]
        data_dir: PathBuf,
        #[arg(long, default_value = "")]
        description: String,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Create a key and print its id and secret (the secret is shown only now).
    Create {
        #[arg(long, env = "BERTH_DATA_DIR", default_value = ".berth")]
        data_dir: PathBuf,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// List keys (without secrets).
    List {
        #[arg(long, env = "BERTH_DATA_DIR", default_value = ".berth")]
        data_dir: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Revoke a key: requests it signs are refused from now on.
    Revoke {
        #[arg(long, env = "BERTH_DATA_DIR", default_value = ".berth")]
        data_dir: PathBuf,
        access_key_id: String,
    },
}

fn main() -> Result<()> {
    // The Docker client logs every request and answer below info, and a container's create
    // request and inspect answer carry its secrets: it stays at info whatever RUST_LOG says.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info".into())
        .add_directive("bollard=info".parse().expect("a valid directive"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Server { server } => run_server(server.into()),
        Command::Keys { action } => run_keys(action),
        Command::Logs(args) => logs::run(args),
        Command::Certs { action } => run_certs(action),
        Command::MasterKey {
            action:
                MasterKeyAction::Rotate {
                    data_dir,
                    master_key_file,
                    output,
                },
        } => {
            let key = server::master_key_path(&data_dir, master_key_file.as_deref());
            let done = server::rotate_master_key(&data_dir, &key)?;
            match output {
                Output::Json => println!(
                    "{}",
                    serde_json::json!({
                        "oldKeyId": done.old_key_id,
                        "newKeyId": done.new_key_id,
                        "values": done.values,
                        "oldKeyFile": done.old_key_file,
                    })
                ),
                Output::Table => {
                    println!(
                        "re-sealed {} values: master key {} replaces {}",
                        done.values, done.new_key_id, done.old_key_id
                    );
                    eprintln!(
                        "the old key is now {}: delete it once the new key {} is backed up",
                        done.old_key_file.display(),
                        key.display()
                    );
                }
            }
            Ok(())
        }
        Command::Up {
            server,
            runtime,
            count,
            lb_port,
            labels,
            example,
        } => up::run(up::Up {
            config: server.into(),
            runtime,
            count,
            example,
            lb_port,
            labels: labels.into_iter().collect(),
        }),
        Command::Agent {
            server,
            ca_file,
            token,
            cluster,
            attributes,
            state_dir,
            runtime,
            labels,
            advertise_address,
            sample_seconds,
            metrics_listen,
            process_output_mib,
            cpu,
            memory,
        } => {
            let agent = node::Agent {
                offer: node::Offer { cpu, memory },
                sample_every: std::time::Duration::from_secs_f64(sample_seconds),
                metrics_listen,
                process_output_bytes: process_output_mib << 20,
                server,
                ca_file,
                token,
                cluster,
                attributes: attributes.into_iter().collect(),
                state_dir,
                runtime,
                scope: labels.into_iter().collect(),
                advertise_address,
            };
            async_runtime()?.block_on(until_signalled(
                |stop| node::run(agent, stop),
                "berth agent stopping once the containers it is starting have started (again to stop at once); its tasks keep running and are adopted on restart",
            ))
        }
        Command::Tokens {
            action:
                TokensAction::Create {
                    data_dir,
                    description,
                },
        } => {
            let token = server::create_join_token(&data_dir, &description)?;
            println!("{token}");
            eprintln!("start agents with: berth agent --server URL --token {token}");
            Ok(())
        }
    }
}

/// The runtime every long-running command runs on: a worker per core, and at most
/// [`BLOCKING_THREADS`] threads for store calls and other blocking work. Without that bound,
/// a thousand agents polling at once made tokio start hundreds of threads, each with a heap
/// of its own (7 GiB resident at 516 threads), only to have them queue for the store.
pub(crate) fn async_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
        .context("starting the async runtime")
}

/// Enough for the store's readers and writer and the runtimes' blocking calls to overlap.
const BLOCKING_THREADS: usize = 32;

fn run_server(config: Config) -> Result<()> {
    let runtime = async_runtime()?;
    runtime.block_on(async {
        let server = Server::bind(&config).await?;
        println!(
            "{}",
            server::export_line(&server.credentials, &server.endpoint, &config.region)
        );
        println!("berth server listening on {}", server.endpoint);
        tokio::select! {
            () = server.run() => {}
            _ = shutdown_signal() => eprintln!("berth server stopping"),
        }
        Ok(())
    })
}

fn parse_sample_seconds(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(seconds) if (0.5..=300.0).contains(&seconds) => Ok(seconds),
        _ => Err(format!(
            "{value:?}: give a number of seconds from 0.5 to 300"
        )),
    }
}

fn parse_attribute(value: &str) -> Result<(String, String), String> {
    value
        .split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{value:?} is not name=value"))
}

/// Runs `work` until it ends. The first Ctrl-C or SIGTERM says `stopping` and completes the
/// stop future `work` was given, so it can finish what it began (an agent, the containers it
/// is starting); a second one ends it at once.
pub(crate) async fn until_signalled<W: Future<Output = Result<()>>>(
    work: impl FnOnce(std::pin::Pin<Box<dyn Future<Output = ()>>>) -> W,
    stopping: &str,
) -> Result<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let work = work(Box::pin(async {
        // The sender is dropped only once `work` is no longer polled.
        let _ = stopped.await;
    }));
    tokio::pin!(work);
    tokio::select! {
        result = &mut work => return result,
        () = shutdown_signal() => {}
    }
    eprintln!("{stopping}");
    let _ = stop.send(());
    tokio::select! {
        result = work => result,
        () = shutdown_signal() => Ok(()),
    }
}

pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn run_keys(action: KeysAction) -> Result<()> {
    match action {
        KeysAction::Create {
            data_dir,
            description,
            output,
        } => {
            let store = server::open_store(&data_dir)?;
            let key = keys::create(store.as_ref(), &description, berth_time::now())?;
            match output {
                Output::Json => println!(
                    "{}",
                    serde_json::json!({"accessKeyId": key.access_key_id, "secretAccessKey": key.secret_access_key})
                ),
                Output::Table => {
                    println!("aws_access_key_id = {}", key.access_key_id);
                    println!("aws_secret_access_key = {}", key.secret_access_key);
                    eprintln!("the secret is shown only now: store it, e.g. in ~/.aws/credentials");
                }
            }
        }
        KeysAction::List { data_dir, output } => {
            let store = server::open_store(&data_dir)?;
            let keys = keys::list(store.as_ref())?;
            match output {
                Output::Json => {
                    let rows: Vec<_> = keys
                        .iter()
                        .map(|k| serde_json::json!({"accessKeyId": k.access_key_id, "createdAt": k.created_at, "description": k.description}))
                        .collect();
                    println!("{}", serde_json::json!({"accessKeys": rows}));
                }
                Output::Table => {
                    println!("{:<22} {:<12} DESCRIPTION", "ACCESS KEY ID", "CREATED");
                    for k in keys {
                        println!(
                            "{:<22} {:<12} {}",
                            k.access_key_id, k.created_at as i64, k.description
                        );
                    }
                }
            }
        }
        KeysAction::Revoke {
            data_dir,
            access_key_id,
        } => {
            let store = server::open_store(&data_dir)?;
            keys::revoke(store.as_ref(), &access_key_id).with_context(|| {
                format!(
                    "revoking {access_key_id}; `berth keys list --data-dir {}` shows the keys",
                    data_dir.display()
                )
            })?;
            println!("revoked {access_key_id}");
        }
    }
    Ok(())
}

fn run_certs(action: CertsAction) -> Result<()> {
    match action {
        CertsAction::Import {
            data_dir,
            region,
            certificate,
            private_key,
            certificate_chain,
            output,
        } => {
            let read = |path: &PathBuf| {
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
            };
            let certificate = read(&certificate)?;
            let private_key = read(&private_key)?;
            let chain = certificate_chain.as_ref().map(read).transpose()?;
            let arn = server::import_certificate(
                &data_dir,
                &region,
                &certificate,
                &private_key,
                chain.as_deref(),
            )?;
            match output {
                Output::Json => println!("{}", serde_json::json!({"CertificateArn": arn})),
                Output::Table => println!("{arn}"),
            }
        }
        CertsAction::List { data_dir, output } => {
            let certificates = server::list_certificates(&data_dir)?;
            match output {
                Output::Json => {
                    let rows: Vec<_> = certificates
                        .iter()
                        .map(|(arn, imported_at)| serde_json::json!({"CertificateArn": arn, "ImportedAt": imported_at}))
                        .collect();
                    println!("{}", serde_json::json!({"Certificates": rows}));
                }
                Output::Table => {
                    println!("{:<12} CERTIFICATE ARN", "IMPORTED");
                    for (arn, imported_at) in certificates {
                        println!("{:<12} {arn}", imported_at as i64);
                    }
                }
            }
        }
    }
    Ok(())
}
