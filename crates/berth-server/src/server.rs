//! `berth server`: opens the data directory, makes sure an admin key exists, and serves.

use crate::api::Api;
use crate::http::{self, now_seconds, Shared};
use crate::keys;
use berth_model::Arns;
use berth_store::{SqliteStore, Store};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
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
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    #[error(transparent)]
    Api(#[from] berth_model::ApiError),
    #[error("certificate: {}", .0.message)]
    Certificate(crate::elbv2::Error),
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

/// Creates an agent join token in the store under `data_dir`.
pub fn create_join_token(data_dir: &Path, description: &str) -> Result<String, ServerError> {
    let store = open_store(data_dir)?;
    let api = Api::new(store, Arns::new("", ACCOUNT_ID));
    Ok(api.as_system(now_seconds(), |call| {
        crate::api::agents::create_join_token(call, description)
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
    let store = open_store(data_dir)?;
    let api = Api::new(store, Arns::new(region, ACCOUNT_ID));
    api.as_system(now_seconds(), |call| {
        crate::elbv2::certificates::import(call, certificate, private_key, chain)
    })
    .map_err(ServerError::Certificate)
}

/// The imported certificates' ARNs and import times, oldest first.
pub fn list_certificates(data_dir: &Path) -> Result<Vec<(String, f64)>, ServerError> {
    let store = open_store(data_dir)?;
    let api = Api::new(store, Arns::new("", ACCOUNT_ID));
    let certificates = api
        .as_system(now_seconds(), crate::elbv2::certificates::list)
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
        let key = keys::create(store, "admin (created on first start)", now_seconds())?;
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
    listener: TcpListener,
    shared: Arc<Shared>,
    pub endpoint: String,
    pub credentials: PathBuf,
}

impl Server {
    pub async fn bind(config: &Config) -> Result<Self, ServerError> {
        let store = open_store(&config.data_dir)?;
        let balancer = Arc::new(crate::balancer::Balancer::new(config.lb_bind));
        let api = Api::new(Arc::clone(&store), Arns::new(&config.region, ACCOUNT_ID))
            .with_targets(Arc::clone(&balancer) as Arc<dyn crate::api::targets::TargetStates>);
        api.ensure_default_cluster(now_seconds())?;
        let credentials = ensure_admin_key(store.as_ref(), &config.data_dir)?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Listen {
                    addr: config.listen,
                    source,
                })?;
        let local = listener
            .local_addr()
            .map_err(|source| ServerError::Listen {
                addr: config.listen,
                source,
            })?;
        Ok(Self {
            listener,
            shared: Arc::new(Shared {
                api,
                store,
                changes: tokio::sync::watch::channel(0).0,
                balancer,
            }),
            endpoint: format!("http://{local}"),
            credentials,
        })
    }

    /// An in-process client of this server's API, usable after `run` took the server.
    pub fn local_client(&self) -> LocalClient {
        LocalClient(Arc::clone(&self.shared))
    }

    /// A join token for an agent started alongside this server.
    pub fn join_token(&self, description: &str) -> Result<String, berth_model::ApiError> {
        self.shared.api.as_system(now_seconds(), |call| {
            crate::api::agents::create_join_token(call, description)
        })
    }

    /// Serves until the future is dropped.
    pub async fn run(self) {
        let controller = tokio::spawn(controller_loop(Arc::clone(&self.shared)));
        let balancer = tokio::spawn(crate::balancer::run(Arc::clone(&self.shared)));
        http::serve(self.listener, self.shared).await;
        controller.abort();
        balancer.abort();
    }
}

/// Calls the API in-process as the server itself, as `berth up` does to deploy an example;
/// writes wake the controller like any API write.
#[derive(Clone)]
pub struct LocalClient(Arc<Shared>);

impl LocalClient {
    pub fn call(
        &self,
        action: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, berth_model::ApiError> {
        let caller = crate::api::Caller {
            access_key_id: "berth-up".into(),
        };
        let answer = self
            .0
            .api
            .handle(action, body.to_string().as_bytes(), &caller, now_seconds());
        if answer.is_ok() {
            self.0.changed();
        }
        answer
    }

    /// Calls an ELBv2 action in-process, with its members as the query protocol names them
    /// (`DefaultActions.member.1.Type`, …); the answer is the JSON the XML is written from.
    pub fn elbv2(
        &self,
        action: &str,
        members: &[(&str, &str)],
    ) -> Result<serde_json::Value, crate::elbv2::Error> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", action);
        form.append_pair("Version", "2015-12-01");
        for (name, value) in members {
            form.append_pair(name, value);
        }
        let request = crate::elbv2::query::parse(form.finish().as_bytes())?;
        let caller = crate::api::Caller {
            access_key_id: "berth-up".into(),
        };
        let answer = crate::elbv2::handle(
            &self.0.api,
            &self.0.balancer,
            &request,
            &caller,
            now_seconds(),
        );
        if answer.is_ok() {
            self.0.changed();
        }
        answer
    }
}

/// The controller: after every change (and at least once a second, since time alone moves
/// health and back-off) it runs a reconcile round and finishes draining services.
/// Level-triggered, so a missed round is made up by the next.
async fn controller_loop(shared: Arc<Shared>) {
    let mut changes = shared.changes.subscribe();
    let settings = berth_reconcile::Settings::default();
    loop {
        let round_shared = Arc::clone(&shared);
        let settings = settings.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let now = now_seconds();
            let changed = round_shared.api.as_system(now, |call| {
                crate::api::controller::run_round(call, &settings, rand::random())
            })?;
            let drained = round_shared.api.finish_draining_services(now)?;
            Ok::<bool, berth_model::ApiError>(changed || drained > 0)
        })
        .await;
        match outcome {
            Ok(Ok(true)) => shared.changed(),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "controller round failed"),
            Err(e) => tracing::error!(error = %e, "controller round panicked"),
        }
        // Coalesce bursts of changes: at most five rounds a second.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), changes.changed()).await;
    }
}
