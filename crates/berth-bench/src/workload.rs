//! What the benchmark asks: the measured actions with their request bodies,
//! and the unmeasured setup that gives them something to answer about.
//!
//! Every body is plain ECS or Secrets Manager that Berth and moto both accept,
//! so that both servers answer the same requests.

use anyhow::{Context, Result};
use berth_client::aws::{Api, Connection, Server, ECS, SECRETS_MANAGER};
use clap::ValueEnum;
use serde_json::{json, Value};
use std::sync::Arc;

/// The task definition family the benchmark registers.
const FAMILY: &str = "berth-bench";
/// The service DescribeServices asks about.
const SERVICE: &str = "bench";
/// How many tasks the setup starts, so that ListTasks has a page to return.
const TASKS: u32 = 5;
/// The secret GetSecretValue reads: a database's settings as JSON, the common shape.
const SECRET: &str = "berth-bench/db";

/// A measured action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Action {
    #[value(name = "DescribeServices")]
    DescribeServices,
    #[value(name = "ListTasks")]
    ListTasks,
    #[value(name = "RegisterTaskDefinition")]
    RegisterTaskDefinition,
    #[value(name = "GetSecretValue")]
    GetSecretValue,
}

impl Action {
    /// The name in `X-Amz-Target`.
    pub fn name(self) -> &'static str {
        match self {
            Self::DescribeServices => "DescribeServices",
            Self::ListTasks => "ListTasks",
            Self::RegisterTaskDefinition => "RegisterTaskDefinition",
            Self::GetSecretValue => "GetSecretValue",
        }
    }

    /// The API the action belongs to.
    pub fn api(self) -> Api {
        match self {
            Self::GetSecretValue => SECRETS_MANAGER,
            _ => ECS,
        }
    }

    /// The body sent every time; the cluster is left out, as most callers
    /// leave it out, so both servers use `default`.
    pub fn body(self) -> Value {
        match self {
            Self::DescribeServices => json!({"services": [SERVICE]}),
            Self::ListTasks => json!({}),
            // Each call adds a revision: a write on every request.
            Self::RegisterTaskDefinition => task_definition(),
            Self::GetSecretValue => json!({"SecretId": SECRET}),
        }
    }
}

/// A small Fargate web task definition, shaped like the ones people register.
fn task_definition() -> Value {
    json!({
        "family": FAMILY,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": "web",
            "image": "public.ecr.aws/nginx/nginx:1.27",
            // Optional on Fargate, but moto adds up container memory to
            // place tasks and fails without it.
            "cpu": 256,
            "memory": 512,
            "essential": true,
            "portMappings": [{"containerPort": 80, "protocol": "tcp"}],
            "environment": [
                {"name": "APP_ENV", "value": "bench"},
                {"name": "LOG_LEVEL", "value": "info"}
            ],
            "healthCheck": {
                "command": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
                "interval": 30,
                "timeout": 5,
                "retries": 3
            }
        }]
    })
}

/// Where the service's and the tasks' awsvpc network interfaces go. Berth
/// takes any ids; moto looks them up in its EC2 mock, so against moto they
/// must be ones it has (its default VPC's subnet and security group).
pub struct Network {
    pub subnet: String,
    pub security_group: String,
}

impl Network {
    fn configuration(&self) -> Value {
        json!({"awsvpcConfiguration": {
            "subnets": [self.subnet],
            "securityGroups": [self.security_group],
            "assignPublicIp": "DISABLED",
        }})
    }
}

/// Whether a Describe answer's `list` holds an ACTIVE resource.
fn any_active(list: &Value) -> bool {
    list.as_array()
        .is_some_and(|items| items.iter().any(|item| item["status"] == "ACTIVE"))
}

/// Registers the task definition, creates the service and runs tasks, reusing
/// what an earlier run against the same server left behind.
pub async fn prepare(server: &Arc<Server>, network: &Network) -> Result<()> {
    let mut connection = Connection::open(server).await?;
    // Berth has a `default` cluster from the start; moto has none until asked.
    let clusters = call(
        &mut connection,
        ECS,
        "DescribeClusters",
        &json!({"clusters": ["default"]}),
    )
    .await?;
    if !any_active(&clusters["clusters"]) {
        call(
            &mut connection,
            ECS,
            "CreateCluster",
            &json!({"clusterName": "default"}),
        )
        .await?;
    }
    call(
        &mut connection,
        ECS,
        "RegisterTaskDefinition",
        &task_definition(),
    )
    .await?;
    let services = call(
        &mut connection,
        ECS,
        "DescribeServices",
        &json!({"services": [SERVICE]}),
    )
    .await?;
    if !any_active(&services["services"]) {
        call(
            &mut connection,
            ECS,
            "CreateService",
            &json!({
                "serviceName": SERVICE,
                "taskDefinition": FAMILY,
                "desiredCount": 2,
                "launchType": "FARGATE",
                "networkConfiguration": network.configuration(),
            }),
        )
        .await?;
    }
    // FARGATE because moto places EC2 tasks only on container instances,
    // which need instances from its EC2 mock; Fargate tasks need none.
    call(
        &mut connection,
        ECS,
        "RunTask",
        &json!({
            "taskDefinition": FAMILY,
            "count": TASKS,
            "launchType": "FARGATE",
            "networkConfiguration": network.configuration(),
        }),
    )
    .await?;
    // The secret GetSecretValue reads, unless an earlier run made it.
    let described = call(
        &mut connection,
        SECRETS_MANAGER,
        "DescribeSecret",
        &json!({"SecretId": SECRET}),
    )
    .await;
    if described.is_err() {
        let value = json!({"host": "db.internal", "port": 5432, "username": "portal",
                           "password": "bench-password"});
        call(
            &mut connection,
            SECRETS_MANAGER,
            "CreateSecret",
            &json!({"Name": SECRET, "SecretString": value.to_string()}),
        )
        .await?;
    }
    Ok(())
}

/// One setup action, whose failure names it.
async fn call(connection: &mut Connection, api: Api, action: &str, body: &Value) -> Result<Value> {
    connection
        .call(api, action, body)
        .await
        .with_context(|| format!("{action} failed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_are_the_operation_names() {
        for action in Action::value_variants() {
            let value = action.to_possible_value().unwrap();
            assert_eq!(value.get_name(), action.name());
        }
    }

    #[test]
    fn only_active_resources_count() {
        assert!(any_active(
            &json!([{"status": "INACTIVE"}, {"status": "ACTIVE"}])
        ));
        assert!(!any_active(&json!([{"status": "DRAINING"}])));
        assert!(!any_active(&json!([])));
        assert!(!any_active(&Value::Null));
    }
}
