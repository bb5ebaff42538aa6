//! The balancer: makes Berth's load balancer data plane (`berth_lb`) match the stored ELBv2
//! configuration. It runs beside the server; on start, after every store change and every
//! few seconds it reads listeners, rules and target groups and, level-triggered, binds and
//! serves each listener's port, rebuilds its routes from the rules, keeps one
//! `berth_lb::group::TargetGroup` (with its health checker) per stored target group, and
//! hands each group its [`desired_targets`], which the group registers and drains to match.
//!
//! What to do is decided by pure functions ([`desired_targets`], [`settings`], [`routes`]);
//! [`Balancer::apply`] does it. CreateListener binds its port through
//! [`Balancer::reserve`] before the listener is stored, so a port in use fails the call and
//! the socket queues connections from the moment the call returns.

use super::elb_metrics::GroupTraffic;
use super::targets::{self, ServiceTarget};
use crate::call::{Call, Context};
use crate::data_plane::DataPlane;
use crate::ecs::events;
use crate::elbv2::resources::{
    forwarding, Listener, LoadBalancer, Rule, StoredCertificate, TargetGroup,
};
use crate::prometheus::LoadBalancerCounts;
use berth_lb::counts::{Snapshot, CLASSES, RESPONSE_TIME_BOUNDS};
use berth_lb::group::{Algorithm, Settings, TargetGroup as LiveGroup};
use berth_lb::health::{HealthCheck, Matcher, State};
use berth_lb::proxy::{IdleTimeout, Routes, Workers, DEFAULT_IDLE_TIMEOUT};
use berth_lb::rules::{Condition, Rule as LiveRule};
use berth_lb::DataPlaneError;
use berth_model::resources::Cluster;
use berth_model::status::ClusterStatus;
use berth_model::ApiError;
use berth_store::Collection;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// How long a port bound by CreateListener waits to be claimed by its stored listener. A
/// reservation outlives its request only when the request's commit failed; the grace keeps
/// a sync that reads the store before that commit from closing a port about to be used.
const RESERVATION_GRACE: Duration = Duration::from_secs(30);
/// How long the proxy waits for a target's response headers (ALB's default idle timeout).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the balancer syncs without a change, to retry ports that could not be bound.
const RESYNC: Duration = Duration::from_secs(2);

/// The stored configuration the balancer follows.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub listeners: Vec<Listener>,
    pub rules: Vec<Rule>,
    pub target_groups: Vec<TargetGroup>,
    /// The targets ECS services' tasks are, in every active cluster.
    pub service_targets: Vec<ServiceTarget>,
    /// Imported certificates by ARN, for HTTPS listeners.
    pub certificates: HashMap<String, StoredCertificate>,
    /// Each load balancer's `idle_timeout.timeout_seconds`, by ARN, for its listeners.
    pub idle_timeouts: HashMap<String, Duration>,
}

impl Config {
    pub fn read(call: &Call<'_>) -> Result<Self, ApiError> {
        let mut service_targets = Vec::new();
        for cluster in call.list::<Cluster>(Collection::Clusters, None)? {
            if cluster.status == ClusterStatus::Active {
                service_targets.extend(targets::service_targets(call, &cluster.cluster_name)?);
            }
        }
        Ok(Self {
            listeners: call.list(Collection::Listeners, None)?,
            rules: call.list(Collection::Rules, None)?,
            target_groups: call.list(Collection::TargetGroups, None)?,
            service_targets,
            certificates: call
                .list::<StoredCertificate>(Collection::Certificates, None)?
                .into_iter()
                .map(|c| (c.certificate_arn.clone(), c))
                .collect(),
            idle_timeouts: call
                .list::<LoadBalancer>(Collection::LoadBalancers, None)?
                .into_iter()
                .map(|lb| (lb.load_balancer_arn.clone(), lb.idle_timeout()))
                .collect(),
        })
    }
}

/// The addresses each target group should send traffic to, by target group ARN: the targets
/// registered through RegisterTargets (by IPv4 address, on their port or the group's) and the
/// tasks of the ECS services that name the group in their `loadBalancers`.
pub fn desired_targets(config: &Config) -> HashMap<String, Vec<SocketAddr>> {
    let mut desired: HashMap<String, Vec<SocketAddr>> = config
        .target_groups
        .iter()
        .map(|tg| {
            let addrs = tg
                .targets
                .iter()
                .filter_map(|t| {
                    let ip: Ipv4Addr = t.id.parse().ok()?;
                    Some(SocketAddr::new(IpAddr::V4(ip), tg.target_port(t)))
                })
                .collect();
            (tg.target_group_arn.clone(), addrs)
        })
        .collect();
    for target in &config.service_targets {
        if let Some(addrs) = desired.get_mut(&target.target_group_arn) {
            addrs.push(target.addr);
        }
    }
    desired
}

/// Targets newly registered for ECS services, counted by (cluster, service, target group),
/// for the services' "registered N targets" events.
pub type Registered = BTreeMap<(String, String, String), usize>;

/// A stored target group's health check, algorithm and deregistration delay, as the data
/// plane takes them.
pub fn settings(tg: &TargetGroup) -> Settings {
    let defaults = Settings::default();
    let attribute = |key: &str| tg.attributes.get(key).map(String::as_str);
    Settings {
        health_check: HealthCheck {
            path: tg.health_check_path.clone(),
            port: tg.health_check_port.parse().ok(),
            interval: Duration::from_secs(tg.health_check_interval_seconds.into()),
            timeout: Duration::from_secs(tg.health_check_timeout_seconds.into()),
            healthy_threshold: tg.healthy_threshold_count,
            unhealthy_threshold: tg.unhealthy_threshold_count,
            // Checked when stored; a record that fails anyway keeps ALB's default.
            matcher: Matcher::parse(&tg.matcher.http_code).unwrap_or(defaults.health_check.matcher),
        },
        algorithm: match attribute("load_balancing.algorithm.type") {
            Some("least_outstanding_requests") => Algorithm::LeastOutstandingRequests,
            _ => Algorithm::RoundRobin,
        },
        deregistration_delay: attribute("deregistration_delay.timeout_seconds")
            .and_then(|s| s.parse().ok())
            .map_or(defaults.deregistration_delay, Duration::from_secs),
    }
}

/// A listener's routing from its rules: the prioritised rules and the default rule's target
/// group, each named by target group ARN.
pub fn routes(rules: &[&Rule]) -> (Vec<LiveRule<String>>, Option<String>) {
    let mut live = Vec::new();
    let mut default = None;
    for rule in rules {
        let Some(action) = rule.actions.first() else {
            continue;
        };
        let target = action.target_group_arn.clone();
        match rule.priority {
            None => default = Some(target),
            Some(priority) => live.push(LiveRule {
                priority,
                conditions: rule
                    .conditions
                    .iter()
                    .map(|c| match c.field.as_str() {
                        "host-header" => Condition::HostHeader(c.values.clone()),
                        _ => Condition::PathPattern(c.values.clone()),
                    })
                    .collect(),
                forward_to: target,
            }),
        }
    }
    live.sort_by_key(|r| r.priority);
    (live, default)
}

/// A task that stops when its owner lets go of it.
struct Owned(tokio::task::JoinHandle<()>);

impl Drop for Owned {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct LiveListener {
    port: u16,
    routes: Arc<RwLock<Routes>>,
    idle_timeout: IdleTimeout,
    /// The accept loop; dropping it closes the port.
    _serving: Owned,
}

struct Group {
    group: Arc<LiveGroup>,
    /// The load balancers whose listeners forward to it, for its CloudWatch dimensions.
    load_balancers: Vec<String>,
    _checker: Owned,
}

#[derive(Default)]
struct Live {
    reserved: HashMap<u16, (std::net::TcpListener, Instant)>,
    listeners: HashMap<String, LiveListener>,
    groups: HashMap<String, Group>,
    /// The proxy threads every listener serves on, started with the first listener.
    workers: Option<Workers>,
    /// Whether the groups were synced since the server started: the targets of the first
    /// sync are those the balancer served before its restart.
    synced: bool,
}

/// The running data plane, owned by the server.
pub struct Balancer {
    bind: IpAddr,
    dns_name: String,
    live: Mutex<Live>,
    /// Woken when a target's health changes or its drain ends, so that the controller moves
    /// the deployment or the task it concerns on at once rather than at its next round.
    moved: Arc<tokio::sync::Notify>,
}

impl Balancer {
    /// A balancer whose listeners bind on `bind`.
    pub fn new(bind: IpAddr) -> Self {
        // The name clients reach the listeners by: the bind address, or this machine's name
        // when listening on every address.
        let dns_name = if bind.is_unspecified() {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|name| name.trim().to_string())
                .ok()
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| "localhost".to_string())
        } else {
            bind.to_string()
        };
        Self {
            bind,
            dns_name,
            live: Mutex::default(),
            moved: Arc::default(),
        }
    }

    /// Each live target group's counts and its targets', by the group's name.
    fn counts(&self) -> Vec<GroupCounts> {
        let groups: Vec<(String, Arc<LiveGroup>)> = self
            .live()
            .groups
            .iter()
            .map(|(arn, g)| (group_name(arn).to_string(), Arc::clone(&g.group)))
            .collect();
        groups
            .into_iter()
            .map(|(name, group)| (name, group.counts(), group.target_counts()))
            .collect()
    }

    /// What each live target group counted and how its targets are, for CloudWatch. Takes
    /// the groups' response time extremes: for the one publisher only.
    pub fn traffic(&self) -> Vec<GroupTraffic> {
        let groups: Vec<(String, Vec<String>, Arc<LiveGroup>)> = self
            .live()
            .groups
            .iter()
            .map(|(arn, g)| (arn.clone(), g.load_balancers.clone(), Arc::clone(&g.group)))
            .collect();
        groups
            .into_iter()
            .map(|(target_group_arn, load_balancer_arns, group)| {
                let health = group.health();
                let count = |wanted: State| health.iter().filter(|(_, s, _)| *s == wanted).count();
                GroupTraffic {
                    target_group_arn,
                    load_balancer_arns,
                    counts: group.counts(),
                    response_extremes: group.take_response_extremes(),
                    healthy: count(State::Healthy),
                    unhealthy: count(State::Unhealthy),
                    registered: health
                        .iter()
                        .filter(|(_, s, _)| *s != State::Draining)
                        .count(),
                }
            })
            .collect()
    }

    fn live(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `addr` has no drain in progress in the group: true once a deregistered target's
    /// last request ended or its deregistration delay passed (and for unknown targets).
    pub fn is_drained(&self, target_group_arn: &str, addr: SocketAddr) -> bool {
        !self
            .target_health(target_group_arn)
            .iter()
            .any(|(a, state, _)| *a == addr && *state == State::Draining)
    }

    /// Makes the data plane match `config`. Runs on the async runtime: it spawns listeners,
    /// health checkers and drains.
    /// Returns the service targets it registered.
    pub fn apply(&self, config: &Config) -> Registered {
        let mut live = self.live();
        let live = &mut *live;
        let registered = sync_groups(live, config, &self.moved);
        self.sync_listeners(live, config);
        live.reserved
            .retain(|_, (_, at)| at.elapsed() < RESERVATION_GRACE);
        registered
    }

    fn sync_listeners(&self, live: &mut Live, config: &Config) {
        let stored: HashMap<&str, &Listener> = config
            .listeners
            .iter()
            .map(|l| (l.listener_arn.as_str(), l))
            .collect();
        live.listeners
            .retain(|arn, l| stored.get(arn.as_str()).is_some_and(|s| s.port == l.port));
        for listener in &config.listeners {
            let rules: Vec<&Rule> = config
                .rules
                .iter()
                .filter(|r| r.listener_arn == listener.listener_arn)
                .collect();
            let (rules, default) = routes(&rules);
            let group = |arn: &String| live.groups.get(arn).map(|g| Arc::clone(&g.group));
            let wanted = Routes {
                rules: rules
                    .into_iter()
                    .filter_map(|r| {
                        Some(LiveRule {
                            priority: r.priority,
                            conditions: r.conditions,
                            forward_to: group(&r.forward_to)?,
                        })
                    })
                    .collect(),
                default: default.as_ref().and_then(group),
            };
            let idle_timeout = config
                .idle_timeouts
                .get(&listener.load_balancer_arn)
                .copied()
                .unwrap_or(DEFAULT_IDLE_TIMEOUT);
            if let Some(running) = live.listeners.get(&listener.listener_arn) {
                *running
                    .routes
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = wanted;
                running.idle_timeout.set(idle_timeout);
                continue;
            }
            let workers = match &live.workers {
                Some(workers) => workers.clone(),
                None => match Workers::one_per_core() {
                    Ok(workers) => live.workers.insert(workers).clone(),
                    Err(e) => {
                        // Retried on the next sync, like a port that cannot be bound.
                        tracing::warn!(error = %e, "cannot start the load balancer's threads");
                        continue;
                    }
                },
            };
            let socket = match live.reserved.remove(&listener.port) {
                Some((socket, _)) => socket,
                None => {
                    match berth_lb::proxy::bind(SocketAddr::new(self.bind, listener.port)) {
                        Ok(socket) => socket,
                        Err(e) => {
                            // Retried on the next sync, which comes within a few seconds.
                            tracing::warn!(listener = %listener.listener_arn, port = listener.port, error = %e, "cannot bind listener port");
                            continue;
                        }
                    }
                }
            };
            let routes = Arc::new(RwLock::new(wanted));
            match serve(
                listener,
                socket,
                Arc::clone(&routes),
                idle_timeout,
                &config.certificates,
                workers,
            ) {
                Ok(serving) => {
                    live.listeners
                        .insert(listener.listener_arn.clone(), serving);
                }
                Err(e) => {
                    tracing::warn!(listener = %listener.listener_arn, error = %e, "cannot serve listener");
                }
            }
        }
    }
}

/// Starts serving one listener on its bound socket: HTTPS listeners with the certificate
/// their first `Certificates` entry names (its chain after it), offering HTTP/2 by ALPN.
fn serve(
    listener: &Listener,
    socket: std::net::TcpListener,
    routes: Arc<RwLock<Routes>>,
    idle_timeout: Duration,
    certificates: &HashMap<String, StoredCertificate>,
    workers: Workers,
) -> std::io::Result<LiveListener> {
    let tls = if listener.protocol == "HTTPS" {
        let arn = listener
            .certificates
            .iter()
            .flatten()
            .next()
            .map(|c| c.certificate_arn.as_str())
            .unwrap_or_default();
        let certificate = certificates
            .get(arn)
            .ok_or_else(|| std::io::Error::other(format!("certificate {arn} is not imported")))?;
        let mut chain = certificate.certificate.clone();
        if let Some(rest) = &certificate.certificate_chain {
            chain.push('\n');
            chain.push_str(rest);
        }
        Some(
            berth_lb::tls::server_config(&chain, &certificate.private_key)
                .map_err(std::io::Error::other)?,
        )
    } else {
        None
    };
    socket.set_nonblocking(true)?;
    let socket = tokio::net::TcpListener::from_std(socket)?;
    let proxy = berth_lb::proxy::Listener::new(Arc::clone(&routes), REQUEST_TIMEOUT);
    proxy.idle_timeout.set(idle_timeout);
    let shared_idle_timeout = proxy.idle_timeout.clone();
    let serving = match tls {
        Some(tls) => tokio::spawn(proxy.serve_tls(socket, tls, workers)),
        None => tokio::spawn(proxy.serve(socket, workers)),
    };
    Ok(LiveListener {
        port: listener.port,
        routes,
        idle_timeout: shared_idle_timeout,
        _serving: Owned(serving),
    })
}

/// Creates, updates and removes live groups, and hands each the targets it should have.
/// Returns the service targets it registered; `moved` is woken whenever a target's health
/// changes or a drain ends.
fn sync_groups(live: &mut Live, config: &Config, moved: &Arc<tokio::sync::Notify>) -> Registered {
    let mut registered = Registered::new();
    let stored: HashSet<&str> = config
        .target_groups
        .iter()
        .map(|tg| tg.target_group_arn.as_str())
        .collect();
    live.groups.retain(|arn, _| stored.contains(arn.as_str()));
    let mut desired = desired_targets(config);
    let mut forwarding = forwarding(&config.listeners, &config.rules);
    for tg in &config.target_groups {
        let wanted = settings(tg);
        let group = live
            .groups
            .entry(tg.target_group_arn.clone())
            .or_insert_with(|| {
                let group = Arc::new(LiveGroup::new(wanted.clone(), Arc::clone(moved)));
                Group {
                    _checker: Owned(tokio::spawn(berth_lb::checker::run(Arc::clone(&group)))),
                    load_balancers: Vec::new(),
                    group,
                }
            });
        group.load_balancers = forwarding
            .remove(&tg.target_group_arn)
            .unwrap_or_default()
            .into_iter()
            .collect();
        if group.group.settings() != wanted {
            group.group.set_settings(wanted);
        }
        let targets = desired.remove(&tg.target_group_arn).unwrap_or_default();
        let changes = if live.synced {
            group.group.reset_targets(targets)
        } else {
            group.group.reset_recovered_targets(targets)
        };
        for addr in &changes.added {
            if let Some(owner) = config
                .service_targets
                .iter()
                .find(|t| t.target_group_arn == tg.target_group_arn && t.addr == *addr)
            {
                *registered
                    .entry((
                        owner.cluster.clone(),
                        owner.service.clone(),
                        tg.target_group_arn.clone(),
                    ))
                    .or_default() += 1;
            }
        }
    }
    live.synced = true;
    registered
}

impl DataPlane for Balancer {
    fn target_health(
        &self,
        target_group_arn: &str,
    ) -> Vec<(SocketAddr, State, Option<&'static str>)> {
        self.live()
            .groups
            .get(target_group_arn)
            .map(|g| g.group.health())
            .unwrap_or_default()
    }

    /// The socket accepts connections at once (the kernel queues them) and is served from
    /// the next sync.
    fn reserve_port(&self, port: u16) -> Result<(), DataPlaneError> {
        let mut live = self.live();
        if live.reserved.contains_key(&port) {
            return Ok(());
        }
        let socket = berth_lb::proxy::bind(SocketAddr::new(self.bind, port))?;
        live.reserved.insert(port, (socket, Instant::now()));
        Ok(())
    }

    fn dns_name(&self) -> String {
        self.dns_name.clone()
    }
}

/// Keeps the balancer in step with the store until the future is dropped: after every
/// change to its configuration or its targets, and every [`RESYNC`] to retry ports that
/// could not be bound.
pub async fn run(cx: Arc<Context>, balancer: Arc<Balancer>) {
    loop {
        let reading = Arc::clone(&cx);
        let config =
            tokio::task::spawn_blocking(move || reading.as_system(berth_time::now(), Config::read))
                .await;
        match config {
            Ok(Ok(config)) => {
                let registered = balancer.apply(&config);
                if !registered.is_empty() {
                    announce(&cx, registered).await;
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot read the load balancer configuration"),
            Err(e) => {
                tracing::error!(error = %e, "reading the load balancer configuration panicked")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(RESYNC) => {}
            () = cx.wakes().balancer() => {}
            // The controller moves a deployment on when a target turns healthy or unhealthy,
            // and a drained task on to its stop.
            _ = balancer.moved.notified() => cx.wakes().wake_controller(),
        }
    }
}

/// Writes each service's "registered N targets in (target-group …)" event.
async fn announce(cx: &Arc<Context>, registered: Registered) {
    let writing = Arc::clone(cx);
    let written = tokio::task::spawn_blocking(move || {
        writing.as_system(berth_time::now(), |call| {
            for ((cluster, service, group), count) in &registered {
                let message = format!("registered {count} targets in (target-group {group})");
                events::record(call, cluster, service, &[message])?;
            }
            Ok::<(), ApiError>(())
        })
    })
    .await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot record target registrations"),
        Err(e) => tracing::error!(error = %e, "recording target registrations panicked"),
    }
}

/// A target group's name, its counts, and each of its targets' counts.
type GroupCounts = (String, Snapshot, Vec<(SocketAddr, Snapshot)>);

/// `arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>` → `<name>`.
fn group_name(arn: &str) -> &str {
    arn.split('/').nth(1).unwrap_or(arn)
}

impl std::fmt::Debug for Balancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balancer")
            .field("bind", &self.bind)
            .finish_non_exhaustive()
    }
}

/// The load balancer's counts in `/metrics`: per target group, and per target registered now
/// (a target's series go when it leaves, so they stay as many as the targets).
impl LoadBalancerCounts for Balancer {
    fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let groups = self.counts();
        let mut family = encoder.encode_descriptor(
            "berth_lb_requests",
            "Requests the load balancer chose a target for, by target group",
            None,
            MetricType::Counter,
        )?;
        for (name, counts, _) in &groups {
            ConstCounter::new(counts.requests)
                .encode(family.encode_family(&[("target_group", name.as_str())])?)?;
        }
        let mut family = encoder.encode_descriptor(
            "berth_lb_responses",
            "Answers by target group, class (2XX…5XX) and source (target, or elb when the load balancer answered itself)",
            None,
            MetricType::Counter,
        )?;
        for (name, counts, _) in &groups {
            for (source, codes) in [("target", &counts.target_codes), ("elb", &counts.elb_codes)] {
                for (class, count) in CLASSES.iter().zip(codes) {
                    let labels = [
                        ("target_group", name.as_str()),
                        ("code", class),
                        ("source", source),
                    ];
                    ConstCounter::new(*count).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        let mut family = encoder.encode_descriptor(
            "berth_lb_target_response_time",
            "Time from sending a request to a target to its answer's head, by target group",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (name, counts, _) in &groups {
            encode_histogram(&mut family, &[("target_group", name.as_str())], counts)?;
        }
        let mut family = encoder.encode_descriptor(
            "berth_lb_target_requests",
            "Requests sent to each target registered now, by target group and target address",
            None,
            MetricType::Counter,
        )?;
        for (name, _, targets) in &groups {
            for (addr, counts) in targets {
                let target = addr.to_string();
                let labels = [("target_group", name.as_str()), ("target", target.as_str())];
                ConstCounter::new(counts.requests).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "berth_lb_target_response_time_by_target",
            "Time from sending a request to each target registered now to its answer's head",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (name, _, targets) in &groups {
            for (addr, counts) in targets {
                let target = addr.to_string();
                let labels = [("target_group", name.as_str()), ("target", target.as_str())];
                encode_histogram(&mut family, &labels, counts)?;
            }
        }
        Ok(())
    }
}

fn encode_histogram(
    family: &mut MetricEncoder,
    labels: &[(&str, &str)],
    counts: &Snapshot,
) -> Result<(), std::fmt::Error> {
    let buckets: Vec<(f64, u64)> = RESPONSE_TIME_BOUNDS
        .iter()
        .copied()
        .chain([f64::INFINITY])
        .zip(&counts.response_cumulative)
        .scan(0, |previous, (bound, cumulative)| {
            // The encoder wants each bucket's own count and adds them up itself.
            let own = cumulative - *previous;
            *previous = *cumulative;
            Some((bound, own))
        })
        .collect();
    family
        .encode_family(&labels)?
        .encode_histogram::<NoLabelSet>(
            counts.response_seconds_sum,
            counts.responses(),
            &buckets,
            None,
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data_plane::DataPlane;
    use crate::elbv2::resources::{Action, Condition as StoredCondition, ForwardConfig};
    use crate::elbv2::resources::{
        Matcher as StoredMatcher, Stickiness, Target, WeightedTargetGroup,
    };

    fn forward(tg: &str) -> Vec<Action> {
        vec![Action {
            kind: "forward".into(),
            target_group_arn: tg.into(),
            order: None,
            forward_config: ForwardConfig {
                target_groups: vec![WeightedTargetGroup {
                    target_group_arn: tg.into(),
                    weight: 1,
                }],
                target_group_stickiness_config: Stickiness { enabled: false },
            },
        }]
    }

    fn rule(priority: Option<u32>, conditions: &[(&str, &str)], tg: &str) -> Rule {
        Rule {
            rule_arn: format!("rule-{priority:?}"),
            listener_arn: "l".into(),
            priority,
            conditions: conditions
                .iter()
                .map(|(field, value)| StoredCondition {
                    field: field.to_string(),
                    values: vec![value.to_string()],
                    host_header_config: None,
                    path_pattern_config: None,
                })
                .collect(),
            actions: forward(tg),
            tags: Vec::new(),
        }
    }

    fn target_group(port: u16, targets: &[(&str, Option<u16>)]) -> TargetGroup {
        let mut tg = TargetGroup {
            target_type: "ip".into(),
            health_check_interval_seconds: 10,
            health_check_timeout_seconds: 3,
            healthy_threshold_count: 2,
            unhealthy_threshold_count: 3,
            health_check_path: "/health".into(),
            matcher: StoredMatcher {
                http_code: "200-299".into(),
            },
            targets: targets
                .iter()
                .map(|(id, port)| Target {
                    id: id.to_string(),
                    port: *port,
                    availability_zone: None,
                })
                .collect(),
            ..TargetGroup::with_alb_defaults(format!("tg-{port}"), "web".into(), port)
        };
        tg.attributes.extend(
            [
                ("deregistration_delay.timeout_seconds", "7"),
                (
                    "load_balancing.algorithm.type",
                    "least_outstanding_requests",
                ),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        tg
    }

    #[tokio::test]
    async fn targets_held_before_a_restart_are_healthy_again_at_their_first_pass() {
        let balancer = Balancer::new(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let mut config = Config {
            listeners: Vec::new(),
            rules: Vec::new(),
            target_groups: vec![target_group(80, &[("127.0.0.1", Some(1))])],
            service_targets: Vec::new(),
            certificates: HashMap::new(),
            idle_timeouts: HashMap::new(),
        };
        // The first sync since the server started registers what it served before.
        balancer.apply(&config);
        config.target_groups[0].targets.push(Target {
            id: "127.0.0.1".into(),
            port: Some(2),
            availability_zone: None,
        });
        balancer.apply(&config);
        // Nothing awaited since: the group's checker has not run, the outcomes are these.
        let group = Arc::clone(&balancer.live().groups["tg-80"].group);
        for target in group.to_check() {
            group.record(&target, berth_lb::health::Outcome::Passed);
        }
        let mut health: Vec<(u16, State)> = group
            .health()
            .into_iter()
            .map(|(addr, state, _)| (addr.port(), state))
            .collect();
        health.sort_by_key(|(port, _)| *port);
        assert_eq!(
            health,
            [(1, State::Healthy), (2, State::Initial)],
            "a target registered since needs the healthy threshold's passes"
        );
    }

    #[test]
    fn rules_route_by_priority_with_the_default_last() {
        let stored = [
            rule(None, &[], "fallback"),
            rule(Some(20), &[("path-pattern", "/api/*")], "api"),
            rule(Some(10), &[("host-header", "admin.example.com")], "admin"),
        ];
        let (rules, default) = routes(&stored.iter().collect::<Vec<_>>());
        assert_eq!(default.as_deref(), Some("fallback"));
        assert_eq!(
            rules,
            vec![
                LiveRule {
                    priority: 10,
                    conditions: vec![Condition::HostHeader(vec!["admin.example.com".into()])],
                    forward_to: "admin".to_string(),
                },
                LiveRule {
                    priority: 20,
                    conditions: vec![Condition::PathPattern(vec!["/api/*".into()])],
                    forward_to: "api".to_string(),
                },
            ]
        );
        let route = |host: &str, path: &str| {
            berth_lb::rules::route(&rules, default.as_ref(), host, path).cloned()
        };
        assert_eq!(
            route("admin.example.com", "/api/x").as_deref(),
            Some("admin")
        );
        assert_eq!(route("www.example.com", "/api/x").as_deref(), Some("api"));
        assert_eq!(route("www.example.com", "/").as_deref(), Some("fallback"));
    }

    #[test]
    fn settings_follow_the_health_check_and_attributes() {
        let s = settings(&target_group(80, &[]));
        assert_eq!(s.health_check.path, "/health");
        assert_eq!(s.health_check.port, None);
        assert_eq!(s.health_check.interval, Duration::from_secs(10));
        assert_eq!(s.health_check.timeout, Duration::from_secs(3));
        assert_eq!(
            (
                s.health_check.healthy_threshold,
                s.health_check.unhealthy_threshold
            ),
            (2, 3)
        );
        assert!(s.health_check.matcher.accepts(204) && !s.health_check.matcher.accepts(302));
        assert_eq!(s.algorithm, Algorithm::LeastOutstandingRequests);
        assert_eq!(s.deregistration_delay, Duration::from_secs(7));
        let mut tg = target_group(80, &[]);
        tg.health_check_port = "9000".into();
        tg.attributes.clear();
        let s = settings(&tg);
        assert_eq!(s.health_check.port, Some(9000));
        assert_eq!(s.algorithm, Algorithm::RoundRobin);
        assert_eq!(s.deregistration_delay, Duration::from_secs(300));
    }

    #[test]
    fn desired_targets_use_the_target_port_or_the_groups() {
        let config = Config {
            target_groups: vec![target_group(
                80,
                &[("10.0.0.1", None), ("10.0.0.2", Some(8080))],
            )],
            ..Config::default()
        };
        let desired = desired_targets(&config);
        assert_eq!(
            desired["tg-80"],
            [
                "10.0.0.1:80".parse::<SocketAddr>().unwrap(),
                "10.0.0.2:8080".parse().unwrap()
            ]
        );
    }

    #[tokio::test]
    async fn apply_serves_listeners_and_registers_targets() {
        let balancer = Balancer::new(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        balancer.reserve_port(port).unwrap();
        assert!(
            balancer.reserve_port(port).is_ok(),
            "a reservation is reused"
        );
        let listener = Listener {
            listener_arn: "l".into(),
            load_balancer_arn: "lb".into(),
            port,
            protocol: "HTTP".into(),
            certificates: None,
            ssl_policy: None,
            default_actions: forward("tg-80"),
            tags: Vec::new(),
        };
        let mut config = Config {
            listeners: vec![listener],
            rules: vec![rule(None, &[], "tg-80")],
            target_groups: vec![target_group(80, &[("127.0.0.1", Some(1))])],
            service_targets: vec![ServiceTarget {
                target_group_arn: "tg-80".into(),
                addr: "127.0.0.1:2".parse().unwrap(),
                cluster: "default".into(),
                service: "web".into(),
            }],
            certificates: HashMap::new(),
            idle_timeouts: HashMap::new(),
        };
        let registered = balancer.apply(&config);
        assert_eq!(
            registered.into_iter().collect::<Vec<_>>(),
            [(("default".into(), "web".into(), "tg-80".into()), 1)],
            "the service's target is announced, the one registered through the API is not"
        );
        assert!(balancer.apply(&config).is_empty(), "only once");
        assert_eq!(balancer.target_health("tg-80").len(), 2);
        config.service_targets.clear();
        assert!(
            balancer.live().reserved.is_empty(),
            "the listener took its port"
        );
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_err());
        config.target_groups[0].targets.clear();
        balancer.apply(&config);
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        for _ in 0..200 {
            if balancer.is_drained("tg-80", addr) && balancer.target_health("tg-80").is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(balancer.target_health("tg-80").is_empty());
        config.listeners.clear();
        balancer.apply(&config);
        tokio::task::yield_now().await;
        assert!(balancer.live().listeners.is_empty());
    }
}
