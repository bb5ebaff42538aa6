//! `berth server`: opens the data directory, makes sure an admin key exists, and serves the
//! front, the controller and the balancer until stopped.

use crate::call::Context;
use crate::control::{self, balancer::Balancer};
use crate::ecs::{agents, clusters};
use crate::elbv2::{self, certificates};
use crate::front::{self, Front};
use crate::keys;
use crate::local::LocalClient;
use berth_logs::store::SegmentedLogStore;
use berth_metrics::store::SqliteMetricStore;
use berth_model::Arns;
use berth_secrets::{key_file, Sealed, Vault};
use berth_store::{Collection, SqliteStore, Store};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;

/// The account id in every ARN Berth issues.
pub const ACCOUNT_ID: &str = "000000000000";
/// The profile name in the credentials file Berth writes.
pub const PROFILE: &str = "berth";

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub region: String,
    /// The address load balancer listeners bind on.
    pub lb_bind: std::net::IpAddr,
    /// The master key that seals secret values; `DATA_DIR/master.key` when not given.
    pub master_key_file: Option<PathBuf>,
    /// Serve HTTPS with this certificate and key instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// How many bytes of log messages `DATA_DIR/logs` keeps at most; the oldest go first.
    pub logs_max_bytes: u64,
}

/// The log store's size cap when none is given: 10 GiB.
pub const DEFAULT_LOGS_MAX_BYTES: u64 = 10 << 30;

/// How often retention and the size cap are enforced.
const RETENTION_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The PEM files of the API endpoint's certificate (chain) and its private key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
}

impl TlsFiles {
    /// The acceptor these files make, or what is wrong with them, naming the file.
    fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, ServerError> {
        let read = |path: &PathBuf| {
            std::fs::read_to_string(path).map_err(|e| ServerError::Tls {
                files: self.clone(),
                message: format!("cannot read {}: {e}", path.display()),
            })
        };
        let (certificate, private_key) = (read(&self.certificate)?, read(&self.private_key)?);
        let config =
            berth_lb::tls::http1_server_config(&certificate, &private_key).map_err(|e| {
                ServerError::Tls {
                    files: self.clone(),
                    message: e.to_string(),
                }
            })?;
        Ok(tokio_rustls::TlsAcceptor::from(config))
    }
}

impl Config {
    pub fn master_key_path(&self) -> PathBuf {
        master_key_path(&self.data_dir, self.master_key_file.as_deref())
    }
}

/// Where the master key lives: the file given, or `master.key` in the data directory.
pub fn master_key_path(data_dir: &Path, given: Option<&Path>) -> PathBuf {
    given.map_or_else(|| data_dir.join("master.key"), Path::to_path_buf)
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source} (is another server using that port? pick another with --listen)")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS certificate {} with key {}: {message}", .files.certificate.display(), .files.private_key.display())]
    Tls { files: TlsFiles, message: String },
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
    #[error(transparent)]
    Logs(#[from] berth_logs::store::LogError),
    #[error(transparent)]
    Metrics(#[from] berth_metrics::MetricError),
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    #[error(transparent)]
    Api(#[from] berth_model::ApiError),
    #[error("certificate: {}", .0.message)]
    Certificate(elbv2::Error),
    #[error(transparent)]
    MasterKey(#[from] berth_secrets::key_file::KeyFileError),
    #[error("the store's record of its master key does not decode: {0}")]
    VaultCheck(serde_json::Error),
    #[error("a Berth server is running on {path}: stop it first")]
    Busy { path: PathBuf },
    #[error(
        "a stored value does not open under the current master key, so nothing was re-keyed: {0}"
    )]
    Rekey(berth_secrets::OpenError),
    #[error(transparent)]
    Fault(#[from] crate::call::Fault),
}

fn data_dir_error(path: &Path) -> impl FnOnce(std::io::Error) -> ServerError + '_ {
    move |source| ServerError::DataDir {
        path: path.to_path_buf(),
        source,
    }
}

/// Opens the store in `data_dir`, creating the directory and database private to the user:
/// they hold the access key secrets.
pub fn open_store(data_dir: &Path) -> Result<Arc<dyn Store>, ServerError> {
    std::fs::create_dir_all(data_dir).map_err(data_dir_error(data_dir))?;
    std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
        .map_err(data_dir_error(data_dir))?;
    let db = data_dir.join("berth.db");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&db)
        .map_err(data_dir_error(&db))?;
    Ok(Arc::new(SqliteStore::open(&db)?))
}

/// The key of the master key's check in [`Collection::Vault`].
const VAULT_CHECK: &str = "master";

/// Opens the master key at `path` for `store`: made (and its check kept) on a store's first
/// start, refused if it is missing or another key once the store has a check.
pub fn open_vault(store: &dyn Store, path: &Path) -> Result<Vault, ServerError> {
    let check: Option<Sealed> = store
        .get(Collection::Vault, VAULT_CHECK)?
        .map(|record| serde_json::from_str(&record.doc))
        .transpose()
        .map_err(ServerError::VaultCheck)?;
    let opened = key_file::open(path, check.as_ref())?;
    if opened.readable_by_others {
        tracing::warn!(path = %path.display(), "the master key file can be read by other users; chmod 600 it");
    }
    if check.is_none() {
        store.insert(
            Collection::Vault,
            VAULT_CHECK,
            "",
            &serde_json::to_string(&opened.vault.check()).expect("a sealed value serializes"),
        )?;
    }
    Ok(opened.vault)
}

/// Holds `DATA_DIR/server.lock` for as long as it lives: one server per data directory, and
/// no re-key under a running server.
#[derive(Debug)]
pub struct DataDirLock {
    _held: std::fs::File,
}

/// Takes the data directory's lock, or says who holds it.
pub fn lock_data_dir(data_dir: &Path) -> Result<DataDirLock, ServerError> {
    let path = data_dir.join("server.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(data_dir_error(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock { _held: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServerError::Busy {
            path: data_dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(ServerError::DataDir { path, source }),
    }
}

/// What a re-key did.
#[derive(Debug)]
pub struct Rekeyed {
    pub old_key_id: String,
    pub new_key_id: String,
    pub values: usize,
    /// Where the old key was moved.
    pub old_key_file: PathBuf,
}

/// Re-seals every secret's and parameter's data key under a new master key, made at
/// `key_path`; the old key moves to `KEY.old`. Run with the server stopped: it takes the
/// data directory's lock. Every value is re-sealed in one transaction, so a crash leaves
/// either the old key or the new one in force, and the file `KEY.new` says which.
pub fn rotate_master_key(data_dir: &Path, key_path: &Path) -> Result<Rekeyed, ServerError> {
    let _lock = lock_data_dir(data_dir)?;
    let store = open_store(data_dir)?;
    let old = open_vault(store.as_ref(), key_path)?;
    let beside = |suffix: &str| {
        let mut path = key_path.as_os_str().to_owned();
        path.push(suffix);
        PathBuf::from(path)
    };
    let new_path = beside(".new");
    // A re-key that stopped before its commit leaves a key nothing is sealed under.
    match std::fs::remove_file(&new_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(ServerError::DataDir {
                path: new_path,
                source,
            })
        }
    }
    let new = key_file::create(&new_path)?;
    let cx = Context::new(Arc::clone(&store), Arns::new("", ACCOUNT_ID));
    let values = cx.as_system(berth_time::now(), |call| {
        call.batch(
            || -> Result<Result<usize, berth_secrets::OpenError>, crate::call::Fault> {
                let secrets = match crate::secretsmanager::stored::rewrap_all(call, &old, &new)? {
                    Ok(n) => n,
                    Err(e) => return Ok(Err(e)),
                };
                let parameters = match crate::ssm::stored::rewrap_all(call, &old, &new)? {
                    Ok(n) => n,
                    Err(e) => return Ok(Err(e)),
                };
                call.put(Collection::Vault, VAULT_CHECK, "", &new.check())?;
                Ok(Ok(secrets + parameters))
            },
        )
    });
    let values = match values {
        Ok(Ok(Ok(values))) => values,
        Ok(Ok(Err(open))) => return Err(ServerError::Rekey(open)),
        Ok(Err(fault)) | Err(fault) => return Err(ServerError::Fault(fault)),
    };
    let old_key_file = beside(".old");
    let moved = |source| ServerError::DataDir {
        path: key_path.to_path_buf(),
        source,
    };
    std::fs::rename(key_path, &old_key_file).map_err(moved)?;
    std::fs::rename(&new_path, key_path).map_err(moved)?;
    if let Some(dir) = key_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(moved)?;
    }
    Ok(Rekeyed {
        old_key_id: old.key_id().to_string(),
        new_key_id: new.key_id().to_string(),
        values,
        old_key_file,
    })
}

/// Creates an agent join token in the store under `data_dir`.
pub fn create_join_token(data_dir: &Path, description: &str) -> Result<String, ServerError> {
    let cx = Context::new(open_store(data_dir)?, Arns::new("", ACCOUNT_ID));
    Ok(cx.as_system(berth_time::now(), |call| {
        agents::create_join_token(call, description)
    })?)
}

/// Imports a PEM certificate (and chain) into the store under `data_dir` for HTTPS
/// listeners. Returns its ARN, in `region` like the server's other ARNs.
pub fn import_certificate(
    data_dir: &Path,
    region: &str,
    certificate: &str,
    private_key: &str,
    chain: Option<&str>,
) -> Result<String, ServerError> {
    let cx = Context::new(open_store(data_dir)?, Arns::new(region, ACCOUNT_ID));
    cx.as_system(berth_time::now(), |call| {
        certificates::import(call, certificate, private_key, chain)
    })
    .map_err(ServerError::Certificate)
}

/// The imported certificates' ARNs and import times, oldest first.
pub fn list_certificates(data_dir: &Path) -> Result<Vec<(String, f64)>, ServerError> {
    let cx = Context::new(open_store(data_dir)?, Arns::new("", ACCOUNT_ID));
    let certificates = cx
        .as_system(berth_time::now(), certificates::list)
        .map_err(ServerError::Certificate)?;
    Ok(certificates
        .into_iter()
        .map(|c| (c.certificate_arn, c.imported_at))
        .collect())
}

/// On the first start, creates the admin key and writes it as `DIR/credentials` (0600).
/// Returns the credentials file's path.
fn ensure_admin_key(store: &dyn Store, data_dir: &Path) -> Result<PathBuf, ServerError> {
    let path = data_dir.join("credentials");
    if keys::list(store)?.is_empty() {
        let key = keys::create(store, "admin (created on first start)", berth_time::now())?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(data_dir_error(&path))?;
        file.write_all(keys::credentials_file(PROFILE, &key).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(data_dir_error(&path))?;
    }
    Ok(path)
}

/// The line a user pastes into a shell to point `aws` and boto3 at this server.
pub fn export_line(credentials: &Path, endpoint: &str, region: &str) -> String {
    format!(
        "export AWS_SHARED_CREDENTIALS_FILE={} AWS_PROFILE={PROFILE} AWS_ENDPOINT_URL={endpoint} AWS_DEFAULT_REGION={region}",
        credentials.display()
    )
}

/// A control plane that is bound and ready to serve.
pub struct Server {
    _lock: DataDirLock,
    logs_max_bytes: u64,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    cx: Arc<Context>,
    balancer: Arc<Balancer>,
    front: Arc<Front>,
    pub endpoint: String,
    pub credentials: PathBuf,
}

impl Server {
    pub async fn bind(config: &Config) -> Result<Self, ServerError> {
        let tls = config.tls.as_ref().map(TlsFiles::acceptor).transpose()?;
        let store = open_store(&config.data_dir)?;
        let lock = lock_data_dir(&config.data_dir)?;
        let vault = open_vault(store.as_ref(), &config.master_key_path())?;
        let logs = SegmentedLogStore::open(&config.data_dir.join("logs"))?;
        let metrics = SqliteMetricStore::open(&config.data_dir.join("metrics"))?;
        let balancer = Arc::new(Balancer::new(config.lb_bind));
        let cx = Arc::new(
            Context::new(Arc::clone(&store), Arns::new(&config.region, ACCOUNT_ID))
                .with_data_plane(Arc::clone(&balancer) as Arc<dyn crate::data_plane::DataPlane>)
                .with_vault(Arc::new(vault))
                .with_logs(Arc::new(logs))
                .with_metrics(Arc::new(metrics))
                .started_at(berth_time::now()),
        );
        cx.prometheus().set_load_balancer(
            Arc::clone(&balancer) as Arc<dyn crate::prometheus::LoadBalancerCounts>
        );
        cx.as_system(berth_time::now(), clusters::ensure_default)?;
        let credentials = ensure_admin_key(store.as_ref(), &config.data_dir)?;
        let listen_error = |source| ServerError::Listen {
            addr: config.listen,
            source,
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(listen_error)?;
        let local = listener.local_addr().map_err(listen_error)?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        Ok(Self {
            logs_max_bytes: config.logs_max_bytes,
            _lock: lock,
            listener,
            tls,
            front: Arc::new(Front::new(Arc::clone(&cx), crate::apis::all())),
            cx,
            balancer,
            endpoint: format!("{scheme}://{local}"),
            credentials,
        })
    }

    /// An in-process client of this server's APIs, usable after `run` took the server.
    pub fn local_client(&self) -> LocalClient {
        LocalClient::new(Arc::clone(&self.cx)).as_caller("berth-up")
    }

    /// A join token for an agent started alongside this server.
    pub fn join_token(&self, description: &str) -> Result<String, berth_model::ApiError> {
        self.cx.as_system(berth_time::now(), |call| {
            agents::create_join_token(call, description)
        })
    }

    /// Serves until the future is dropped.
    pub async fn run(self) {
        let controller = tokio::spawn(control::run_controller(Arc::clone(&self.cx)));
        let balancer = tokio::spawn(control::balancer::run(
            Arc::clone(&self.cx),
            Arc::clone(&self.balancer),
        ));
        let retention = tokio::spawn(keep_logs_within_bounds(
            Arc::clone(&self.cx),
            self.logs_max_bytes,
        ));
        let metric_retention = tokio::spawn(keep_metrics_within_retention(Arc::clone(&self.cx)));
        let ecs_metrics = tokio::spawn(control::ecs_metrics::run(Arc::clone(&self.cx)));
        let traffic_of = Arc::clone(&self.balancer);
        let elb_metrics =
            tokio::spawn(control::elb_metrics::run(Arc::clone(&self.cx), move || {
                traffic_of.traffic()
            }));
        let scaling = tokio::spawn(control::metric_scaling::run(Arc::clone(&self.cx)));
        let alarms = tokio::spawn(control::alarms::run(Arc::clone(&self.cx)));
        front::serve(self.listener, self.tls, self.front).await;
        controller.abort();
        balancer.abort();
        retention.abort();
        metric_retention.abort();
        ecs_metrics.abort();
        elb_metrics.abort();
        scaling.abort();
        alarms.abort();
    }
}

/// Drops logs past their groups' retention, then the oldest over the size cap, once a minute.
async fn keep_logs_within_bounds(cx: Arc<Context>, max_bytes: u64) {
    loop {
        let logs = Arc::clone(cx.logs());
        let now = crate::logs::millis(berth_time::now());
        match tokio::task::spawn_blocking(move || logs.enforce_retention(now, max_bytes)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(dropped)) => tracing::info!(bytes = dropped, "old log events dropped"),
            Ok(Err(e)) => tracing::warn!(error = %e, "log retention failed"),
            Err(e) => tracing::error!(error = %e, "log retention panicked"),
        }
        tokio::time::sleep(RETENTION_EVERY).await;
    }
}

/// Expired metric points deleted per round, so that one round never holds the metric
/// database for long; a round that uses it all comes back at once.
const METRIC_RETENTION_BUDGET: usize = 10_000;

/// Drops metric points past their tier's retention once a minute, in bounded rounds.
async fn keep_metrics_within_retention(cx: Arc<Context>) {
    loop {
        let metrics = Arc::clone(cx.metrics());
        let now = berth_time::now() as i64;
        let round = tokio::task::spawn_blocking(move || {
            metrics.enforce_retention(now, METRIC_RETENTION_BUDGET)
        });
        match round.await {
            Ok(Ok(removed)) if removed == METRIC_RETENTION_BUDGET => continue,
            Ok(Ok(0)) => {}
            Ok(Ok(removed)) => tracing::info!(rows = removed, "expired metric points dropped"),
            Ok(Err(e)) => tracing::warn!(error = %e, "metric retention failed"),
            Err(e) => tracing::error!(error = %e, "metric retention panicked"),
        }
        tokio::time::sleep(RETENTION_EVERY).await;
    }
}
