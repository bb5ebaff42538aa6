//! `berth up`: server and agent in one process, and optionally an example deployed as a
//! service, with progress until it is stable.

use crate::node::{self, RuntimeChoice};
use anyhow::{bail, Context, Result};
use berth_server::local::LocalClient;
use berth_server::server::{self, Config, Server};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

pub struct Up {
    pub config: Config,
    pub runtime: RuntimeChoice,
    /// The service's count when given; otherwise [`DEFAULT_COUNT`] for a new service, and
    /// what an existing one has.
    pub count: Option<i64>,
    pub example: Option<PathBuf>,
    /// The port of the load balancer listener the example is reached through.
    pub lb_port: u16,
    /// Labels every container carries (as `berth agent --label`).
    pub labels: std::collections::BTreeMap<String, String>,
}

/// The tasks a service `berth up` creates runs unless `--count` says otherwise.
pub const DEFAULT_COUNT: i64 = 2;

/// How long `berth up` waits for the example to become stable before it says why not.
const STABLE_WITHIN: Duration = Duration::from_secs(300);

pub fn run(up: Up) -> Result<()> {
    let example = up
        .example
        .as_ref()
        .map(|path| -> Result<Value> {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let value: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            if value.get("family").and_then(Value::as_str).is_none() {
                bail!(
                    "{} is not a task definition: it has no \"family\"",
                    path.display()
                );
            }
            Ok(value)
        })
        .transpose()?;
    crate::async_runtime()?.block_on(async move {
        let server = Server::bind(&up.config).await?;
        println!(
            "{}",
            server::export_line(&server.credentials, &server.endpoint, &up.config.region)
        );
        println!("berth server listening on {}", server.endpoint);
        let token = server.join_token("berth up")?;
        let client = server.local_client();
        let agent = node::Agent {
            server: server.endpoint.clone(),
            // The agent beside the server trusts the server's own certificate.
            ca_file: up.config.tls.as_ref().map(|tls| tls.certificate.clone()),
            token,
            cluster: "default".into(),
            attributes: Default::default(),
            state_dir: up.config.data_dir.join("agent"),
            runtime: up.runtime,
            scope: up.labels.clone(),
            advertise_address: None,
            sample_every: berth_agent::usage::DEFAULT_SAMPLE_EVERY,
            metrics_listen: None,
            process_output_bytes: berth_runtime::OUTPUT_KEPT_BYTES,
            offer: node::Offer::default(),
        };
        let (count, lb_port) = (up.count, up.lb_port);
        let work = |stop| async move {
            let deploy = async {
                let deployed = match &example {
                    Some(example) => Some(deploy(&client, example, count, lb_port).await?),
                    None => None,
                };
                println!("berth is up; stop it with Ctrl-C");
                match deployed {
                    Some((name, shown)) => keep_showing(&client, &name, shown).await,
                    None => std::future::pending::<Result<()>>().await,
                }
            };
            tokio::select! {
                () = server.run() => Ok(()),
                result = node::run(agent, stop) => result,
                result = deploy => result,
            }
        };
        crate::until_signalled(
            work,
            "berth up stopping once the containers it is starting have started (again to stop at once)",
        )
        .await
    })
}

/// Waits until the agent started alongside has joined, so the first placement finds it.
async fn agent_joined(client: &LocalClient) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let instances = client.call("ListContainerInstances", &json!({}))?;
        if instances["containerInstanceArns"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the agent did not join within 30 s; its log lines above say why");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first container port the task definition maps: what a load balancer forwards to.
fn web_port(definition: &Value) -> Option<(String, u64)> {
    definition["containerDefinitions"]
        .as_array()?
        .iter()
        .find_map(|container| {
            let port = container["portMappings"].get(0)?["containerPort"].as_u64()?;
            Some((container["name"].as_str()?.to_string(), port))
        })
}

/// Puts a load balancer listener on `lb_port` in front of a target group for the example,
/// reusing what an earlier `berth up` created. Returns the service's `loadBalancers` entry.
fn expose(
    client: &LocalClient,
    family: &str,
    container: &str,
    port: u64,
    lb_port: u16,
) -> Result<Value> {
    let elbv2 = |action: &str, members: &[(&str, &str)]| {
        client
            .elbv2(action, members)
            .map_err(|e| anyhow::anyhow!("{action}: {e}"))
    };
    let balancer = elbv2(
        "CreateLoadBalancer",
        &[("Name", "berth-up"), ("Subnets.member.1", "berth-local")],
    )?;
    let balancer_arn = balancer["LoadBalancers"][0]["LoadBalancerArn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let port = port.to_string();
    let group = elbv2(
        "CreateTargetGroup",
        &[
            ("Name", family),
            ("Protocol", "HTTP"),
            ("Port", &port),
            ("VpcId", "berth-local"),
            ("HealthCheckPath", "/"),
            ("HealthCheckIntervalSeconds", "5"),
            ("HealthCheckTimeoutSeconds", "2"),
            ("HealthyThresholdCount", "2"),
            ("Matcher.HttpCode", "200-399"),
        ],
    )?;
    let group_arn = group["TargetGroups"][0]["TargetGroupArn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // A demo need not wait out ALB's five-minute default; drains end early anyway.
    elbv2(
        "ModifyTargetGroupAttributes",
        &[
            ("TargetGroupArn", &group_arn),
            (
                "Attributes.member.1.Key",
                "deregistration_delay.timeout_seconds",
            ),
            ("Attributes.member.1.Value", "30"),
        ],
    )?;
    let listeners = elbv2("DescribeListeners", &[("LoadBalancerArn", &balancer_arn)])?;
    let listening = listeners["Listeners"]
        .as_array()
        .is_some_and(|l| l.iter().any(|l| l["Port"] == lb_port));
    if !listening {
        elbv2(
            "CreateListener",
            &[
                ("LoadBalancerArn", &balancer_arn),
                ("Protocol", "HTTP"),
                ("Port", &lb_port.to_string()),
                ("DefaultActions.member.1.Type", "forward"),
                ("DefaultActions.member.1.TargetGroupArn", &group_arn),
            ],
        )
        .context("pick another port with --lb-port")?;
    }
    Ok(
        json!({"targetGroupArn": group_arn, "containerName": container, "containerPort": port.parse::<u64>()?}),
    )
}

/// Deploys the example and waits until it is stable; returns its name and what was shown
/// of it.
async fn deploy(
    client: &LocalClient,
    definition: &Value,
    count: Option<i64>,
    lb_port: u16,
) -> Result<(String, Shown)> {
    agent_joined(client).await?;
    let family = definition["family"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let arn = match latest_identical(client, &family, definition) {
        Some(arn) => {
            println!("reusing {arn}: the example has not changed");
            arn
        }
        None => {
            let registered = client.call("RegisterTaskDefinition", definition)?;
            let arn = registered["taskDefinition"]["taskDefinitionArn"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            println!("registered {arn}");
            arn
        }
    };
    let existing = client.call("DescribeServices", &json!({"services": [family]}))?;
    let active = existing["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["status"] == "ACTIVE"))
        .cloned();
    // What was shown before this start is not shown again.
    let mut shown = Shown::default();
    match active {
        Some(service) => {
            shown.seen(&service);
            let mut update = json!({"service": family});
            if service["taskDefinition"] != arn.as_str() {
                update["taskDefinition"] = json!(arn);
            }
            if let Some(count) = count.filter(|c| service["desiredCount"] != *c) {
                update["desiredCount"] = json!(count);
            }
            if update.as_object().is_some_and(|u| u.len() > 1) {
                client.call("UpdateService", &update)?;
                println!("updated service {family}: {update}");
            } else {
                println!("service {family} already runs {arn}");
            }
        }
        None => {
            let count = count.unwrap_or(DEFAULT_COUNT);
            let mut service =
                json!({"serviceName": family, "taskDefinition": arn, "desiredCount": count});
            if let Some((container, port)) = web_port(definition) {
                service["loadBalancers"] =
                    json!([expose(client, &family, &container, port, lb_port)?]);
            }
            if definition["networkMode"] == "awsvpc" {
                service["networkConfiguration"] =
                    json!({"awsvpcConfiguration": {"subnets": ["berth-local"]}});
            }
            client.call("CreateService", &service)?;
            println!("created service {family} with {count} tasks");
        }
    }
    wait_until_stable(client, &family, &mut shown).await?;
    if web_port(definition).is_some() {
        println!("{family} answers at http://127.0.0.1:{lb_port}/ through Berth's load balancer");
    }
    Ok((family, shown))
}

/// The family's latest ACTIVE revision when it holds every member of `definition` as given
/// (what a client registers comes back unchanged): a restart with the same file registers
/// no copy and starts no deployment. A family not registered yet has none
/// (DescribeTaskDefinition refuses it).
fn latest_identical(client: &LocalClient, family: &str, definition: &Value) -> Option<String> {
    let latest = client
        .call("DescribeTaskDefinition", &json!({"taskDefinition": family}))
        .ok()?;
    let stored = &latest["taskDefinition"];
    if stored["status"] != "ACTIVE" || !holds(stored, definition) {
        return None;
    }
    stored["taskDefinitionArn"].as_str().map(str::to_string)
}

/// Whether `stored` holds every member `given` names, with the same value: objects may have
/// more members (defaults filled in), arrays hold the same elements in the same order.
fn holds(stored: &Value, given: &Value) -> bool {
    match (stored, given) {
        (Value::Object(stored), Value::Object(given)) => given
            .iter()
            .all(|(key, value)| stored.get(key).is_some_and(|s| holds(s, value))),
        (Value::Array(stored), Value::Array(given)) => {
            stored.len() == given.len() && stored.iter().zip(given).all(|(s, g)| holds(s, g))
        }
        _ => stored == given,
    }
}

/// What has been shown of a service: its events, and its counts as last printed.
#[derive(Default)]
struct Shown {
    events: std::collections::HashSet<String>,
    progress: String,
}

impl Shown {
    /// Counts the service's events so far as shown.
    fn seen(&mut self, service: &Value) {
        for event in service["events"].as_array().into_iter().flatten() {
            self.events
                .insert(event["id"].as_str().unwrap_or_default().to_string());
        }
    }

    /// Prints the service's new events and a progress line when its counts moved; returns
    /// the service as described.
    fn look(&mut self, client: &LocalClient, name: &str) -> Result<Value> {
        let mut answer = client.call("DescribeServices", &json!({"services": [name]}))?;
        let service = answer
            .get_mut("services")
            .and_then(|services| services.get_mut(0))
            .map(Value::take)
            .unwrap_or_default();
        let mut events: Vec<&Value> = service["events"]
            .as_array()
            .map(|e| e.iter().collect())
            .unwrap_or_default();
        events.reverse();
        for event in events {
            if self
                .events
                .insert(event["id"].as_str().unwrap_or_default().to_string())
            {
                println!("  {}", event["message"].as_str().unwrap_or_default());
            }
        }
        let primary = &service["deployments"][0];
        let progress = format!(
            "{name}: {}/{} running, {} pending; deployment {} {}",
            service["runningCount"],
            service["desiredCount"],
            service["pendingCount"],
            primary["id"].as_str().unwrap_or("-"),
            primary["rolloutState"].as_str().unwrap_or("-"),
        );
        if progress != self.progress {
            println!("{progress}");
            self.progress = progress;
        }
        Ok(service)
    }
}

/// Prints each new service event and a progress line whenever the counts move, until the
/// service is stable.
async fn wait_until_stable(client: &LocalClient, name: &str, shown: &mut Shown) -> Result<()> {
    let deadline = tokio::time::Instant::now() + STABLE_WITHIN;
    loop {
        let service = shown.look(client, name)?;
        let deployments = service["deployments"].as_array().map_or(0, Vec::len);
        if deployments == 1
            && service["runningCount"] == service["desiredCount"]
            && service["deployments"][0]["rolloutState"] == "COMPLETED"
        {
            println!("{name} is stable");
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "{name} did not become stable within {} s; `aws ecs describe-services --services {name}` and `aws ecs describe-tasks` show why (stoppedReason)",
                STABLE_WITHIN.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Goes on printing the service's new events and moving counts (a scale-out, a task
/// replaced), so that whoever watches `berth up` sees why the count moved.
async fn keep_showing(client: &LocalClient, name: &str, mut shown: Shown) -> Result<()> {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Err(e) = shown.look(client, name) {
            eprintln!("berth up: cannot describe {name}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::holds;
    use serde_json::json;

    #[test]
    fn a_stored_definition_holds_what_was_given_with_defaults_beside_it() {
        let given =
            json!({"family": "hello", "containerDefinitions": [{"name": "a", "memory": 64}]});
        let stored = json!({"family": "hello", "revision": 1,
            "containerDefinitions": [{"name": "a", "memory": 64, "mountPoints": []}]});
        assert!(holds(&stored, &given));
        let changed =
            json!({"family": "hello", "containerDefinitions": [{"name": "a", "memory": 128}]});
        assert!(!holds(&stored, &changed));
        let more =
            json!({"family": "hello", "containerDefinitions": [{"name": "a"}, {"name": "b"}]});
        assert!(!holds(&stored, &more));
    }
}
