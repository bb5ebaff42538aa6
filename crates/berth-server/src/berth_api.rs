//! Berth's own API, for what no AWS API covers (JSON 1.1, `X-Amz-Target:
//! Berth_20250101.<Action>`, signed with SigV4 for the service `berth`, on the same endpoint
//! and keys). Its one action, GetContainerOutput, reads the output of containers that log
//! without `awslogs`: only their machine keeps it, so each container's page is asked of the
//! agent that runs it through [`crate::output_requests`], and the answer comes once every
//! agent asked has answered, or has had [`ANSWER_WAIT`] to.
//!
//! ```json
//! {"cluster": "default", "startTime": 1700000000000, "filterPattern": "ERROR",
//!  "containers": [{"task": "<id or ARN>", "containerName": "web", "after": "<position>"}]}
//! ```
//!
//! answers, per container in the same order, the lines after `after` that match (`position`s
//! as decimal strings, since a Docker position does not fit a double) and where to read on:
//! `{"task", "containerName", "lines": [{"timestamp", "position", "stream", "message"}],
//! "after", "more"}`, or `{"task", "containerName", "error": {"code", "message"}}` when that
//! container's output cannot be had now. Nothing of it touches the store but to find the tasks.

use crate::call::Call;
use crate::ecs::clusters;
use crate::ecs::container_instances::InstanceRecord;
use crate::output_requests::{Busy, Waiting};
use crate::registry::{Access, Action, Input, Later, Output, Service};
use berth_aws::{AwsError, ServiceSpec};
use berth_logs::filter::Pattern;
use berth_model::agent::{OutputPage, OutputRequest, OutputResult};
use berth_model::arn::resource_id;
use berth_model::resources::Task;
use berth_model::ApiError;
use berth_store::Collection;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

pub const SPEC: ServiceSpec = ServiceSpec {
    name: "Berth",
    signing_name: "berth",
    json_target_prefix: Some("Berth_20250101"),
    query: None,
    query_compatible: false,
    rpc_v2_cbor: false,
};

/// How many containers one GetContainerOutput reads: with a page each, the answer stays
/// within a few MiB.
pub const MAX_CONTAINERS: usize = 10;

/// How long an agent has to answer: a poll under way (its agent busy starting containers)
/// returns within a few seconds, and then the request goes out with the next one.
pub const ANSWER_WAIT: Duration = Duration::from_secs(10);

pub fn service() -> Service {
    Service {
        spec: SPEC,
        // A read of a few task records; the wait for the agents is awaited by the front.
        actions: vec![Action::new(
            "GetContainerOutput",
            Access::Read,
            decode,
            get_container_output,
        )],
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Body {
    cluster: Option<String>,
    containers: Vec<ContainerBody>,
    start_time: Option<i64>,
    #[serde(default)]
    filter_pattern: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ContainerBody {
    task: String,
    container_name: String,
    after: Option<String>,
}

/// A GetContainerOutput, checked.
pub struct GetContainerOutput {
    cluster: Option<String>,
    containers: Vec<Wanted>,
    start_time: Option<i64>,
    pattern: Option<Arc<Pattern>>,
}

struct Wanted {
    task: String,
    container_name: String,
    after: Option<u64>,
}

fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidParameterException", message)
}

fn decode(input: Input<'_>) -> Result<GetContainerOutput, AwsError> {
    let Input::Json(body) = input else {
        return Err(AwsError::new(
            "SerializationException",
            "Berth's API takes JSON bodies (application/x-amz-json-1.1)",
        ));
    };
    let body: Body = berth_aws::json::decode_input(body, &[])?;
    if body.containers.is_empty() || body.containers.len() > MAX_CONTAINERS {
        return Err(invalid(format!(
            "containers: give 1 to {MAX_CONTAINERS} containers, got {}",
            body.containers.len()
        )));
    }
    let pattern = match body.filter_pattern.trim() {
        "" => None,
        text => Some(Arc::new(
            Pattern::parse(text).map_err(|e| invalid(format!("filterPattern: {e}")))?,
        )),
    };
    let containers = body
        .containers
        .into_iter()
        .map(|c| {
            let after = c
                .after
                .map(|after| {
                    after.parse::<u64>().map_err(|_| {
                        invalid(format!(
                            "after: {after:?} is not a position an earlier answer gave"
                        ))
                    })
                })
                .transpose()?;
            Ok(Wanted {
                task: c.task,
                container_name: c.container_name,
                after,
            })
        })
        .collect::<Result<_, AwsError>>()?;
    Ok(GetContainerOutput {
        cluster: body.cluster,
        containers,
        start_time: body.start_time,
        pattern,
    })
}

/// Where one container's answer stands once asked.
enum Asked {
    Answered(Value),
    Waiting {
        waiting: Waiting,
        task: String,
        container_name: String,
        place: Place,
    },
}

/// The machine a container runs on, for what to tell when its agent does not answer.
struct Place {
    hostname: String,
    runtime: String,
    runtime_id: String,
}

impl Place {
    /// Where on its machine the container's output is, for someone logged in there.
    fn kept(&self) -> String {
        match self.runtime.as_str() {
            "process" => format!(
                "{} keeps it in the agent's state directory, processes/{}/output.*",
                self.hostname, self.runtime_id
            ),
            _ => format!(
                "{} keeps it: `docker logs {}` there",
                self.hostname, self.runtime_id
            ),
        }
    }
}

fn failed(task: &str, container_name: &str, code: &str, message: String) -> Value {
    json!({
        "task": task,
        "containerName": container_name,
        "error": {"code": code, "message": message},
    })
}

fn get_container_output(call: &Call<'_>, request: &GetContainerOutput) -> Result<Output, ApiError> {
    let cluster = clusters::require_active(call, request.cluster.as_deref())?;
    let mut asked = Vec::with_capacity(request.containers.len());
    for wanted in &request.containers {
        asked.push(ask(call, &cluster.cluster_arn, wanted, request.start_time)?);
    }
    let pattern = request.pattern.clone();
    Ok(Output::Later(Later::new(async move {
        let answers = futures_util::future::join_all(asked.into_iter().map(|asked| async {
            match asked {
                Asked::Answered(value) => value,
                Asked::Waiting {
                    waiting,
                    task,
                    container_name,
                    place,
                } => match tokio::time::timeout(ANSWER_WAIT, waiting.answer()).await {
                    Ok(result) => {
                        answered(&task, &container_name, &place, result, pattern.as_deref())
                    }
                    Err(_) => failed(
                        &task,
                        &container_name,
                        "AgentDidNotAnswer",
                        format!(
                            "the agent on {} has not answered within {} s; {}",
                            place.hostname,
                            ANSWER_WAIT.as_secs(),
                            place.kept()
                        ),
                    ),
                },
            }
        }))
        .await;
        Ok(json!({ "containers": answers }))
    })))
}

/// Asks the agent that runs `wanted` for its page, or answers at once when there is no one
/// to ask.
fn ask(
    call: &Call<'_>,
    cluster_arn: &str,
    wanted: &Wanted,
    start_time: Option<i64>,
) -> Result<Asked, ApiError> {
    let id = resource_id(&wanted.task).to_string();
    let name = wanted.container_name.as_str();
    let found = call
        .get::<Task>(Collection::Tasks, &id)?
        .filter(|task| task.cluster_arn == cluster_arn);
    let Some(task) = found else {
        return Ok(Asked::Answered(failed(
            &id,
            name,
            "TaskNotFound",
            format!("task {id} is not in cluster {cluster_arn}"),
        )));
    };
    let Some(container) = task.containers.iter().find(|c| c.name == name) else {
        let names: Vec<&str> = task.containers.iter().map(|c| c.name.as_str()).collect();
        return Ok(Asked::Answered(failed(
            &id,
            name,
            "ContainerNotFound",
            format!(
                "task {id} has no container {name}; it has: {}",
                names.join(", ")
            ),
        )));
    };
    // Not on a machine yet, or not started there: it has written nothing.
    let (Some(instance_arn), Some(runtime_id)) = (
        task.container_instance_arn.as_deref(),
        container.runtime_id.as_deref(),
    ) else {
        return Ok(Asked::Answered(page_value(
            &id,
            name,
            &OutputPage {
                after: wanted.after,
                ..OutputPage::default()
            },
        )));
    };
    let record =
        call.get::<InstanceRecord>(Collection::ContainerInstances, resource_id(instance_arn))?;
    let place = Place {
        hostname: record.as_ref().map_or_else(
            || resource_id(instance_arn).to_string(),
            |r| r.hostname.clone(),
        ),
        runtime: record
            .as_ref()
            .map_or_else(String::new, |r| r.runtime.clone()),
        runtime_id: runtime_id.to_string(),
    };
    let connected = match &record {
        Some(record) => crate::ecs::container_instances::agent_connected(call, record)?,
        None => false,
    };
    if !connected {
        return Ok(Asked::Answered(failed(
            &id,
            name,
            "AgentNotConnected",
            format!(
                "the agent on {} is not connected, and only its machine keeps this \
                 container's output; {}",
                place.hostname,
                place.kept()
            ),
        )));
    }
    let request = |request_id| OutputRequest {
        request_id,
        task_id: id.clone(),
        container_name: name.to_string(),
        runtime_id: runtime_id.to_string(),
        after: wanted.after,
        start_time,
    };
    match call.output_requests().ask(instance_arn, request) {
        Ok(waiting) => Ok(Asked::Waiting {
            waiting,
            task: id,
            container_name: name.to_string(),
            place,
        }),
        Err(Busy) => Ok(Asked::Answered(failed(
            &id,
            name,
            "Busy",
            format!(
                "too many readers wait on the agent on {} at once; try again",
                place.hostname
            ),
        ))),
    }
}

/// One container's answer from what its agent said.
fn answered(
    task: &str,
    container_name: &str,
    place: &Place,
    result: OutputResult,
    pattern: Option<&Pattern>,
) -> Value {
    match result {
        // Lines written before the start time the agent has passed over already.
        OutputResult::Page(mut page) => {
            if let Some(pattern) = pattern {
                page.lines.retain(|line| pattern.matches(&line.text));
            }
            page_value(task, container_name, &page)
        }
        OutputResult::Gone => failed(
            task,
            container_name,
            "ContainerGone",
            format!(
                "container {container_name} of task {task} is no longer on {}: its output \
                 went with it",
                place.hostname
            ),
        ),
        OutputResult::Failed(why) => failed(
            task,
            container_name,
            "ReadFailed",
            format!(
                "the agent on {} could not read the output of container {container_name} of \
                 task {task}: {why}",
                place.hostname
            ),
        ),
    }
}

fn page_value(task: &str, container_name: &str, page: &OutputPage) -> Value {
    let lines: Vec<Value> = page
        .lines
        .iter()
        .map(|line| {
            json!({
                "timestamp": line.timestamp,
                "position": line.position.to_string(),
                "stream": if line.stderr { "stderr" } else { "stdout" },
                "message": line.text,
            })
        })
        .collect();
    json!({
        "task": task,
        "containerName": container_name,
        "lines": lines,
        "after": page.after.map(|after| after.to_string()),
        "more": page.more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::agent::KeptLine;

    fn line(position: u64, timestamp: i64, text: &str) -> KeptLine {
        KeptLine {
            position,
            timestamp,
            stderr: position.is_multiple_of(2),
            text: text.into(),
        }
    }

    fn place(runtime: &str) -> Place {
        Place {
            hostname: "node-1".into(),
            runtime: runtime.into(),
            runtime_id: "c1".into(),
        }
    }

    #[test]
    fn a_page_is_filtered_but_keeps_the_agents_position() {
        let page = OutputPage {
            lines: vec![
                line(2, 5_000, "INFO fine"),
                line(3, 6_000, "ERROR disk full"),
            ],
            after: Some(3),
            more: true,
        };
        let pattern = Pattern::parse("ERROR").unwrap();
        let value = answered(
            "t1",
            "web",
            &place("docker"),
            OutputResult::Page(page),
            Some(&pattern),
        );
        assert_eq!(
            value,
            json!({
                "task": "t1",
                "containerName": "web",
                "lines": [{"timestamp": 6000, "position": "3", "stream": "stdout", "message": "ERROR disk full"}],
                "after": "3",
                "more": true,
            })
        );
    }

    #[test]
    fn what_cannot_be_read_says_where_the_output_is() {
        let gone = answered("t1", "web", &place("docker"), OutputResult::Gone, None);
        assert_eq!(gone["error"]["code"], "ContainerGone");
        assert!(gone["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no longer on node-1"));
        assert_eq!(
            place("docker").kept(),
            "node-1 keeps it: `docker logs c1` there"
        );
        assert_eq!(
            place("process").kept(),
            "node-1 keeps it in the agent's state directory, processes/c1/output.*"
        );
    }

    #[test]
    fn requests_are_checked_before_anyone_is_asked() {
        let decode = |body: Value| decode(Input::Json(body.to_string().as_bytes())).err();
        let one = json!({"task": "t", "containerName": "web"});
        assert!(decode(json!({"containers": [one]})).is_none());
        let too_many: Vec<Value> = (0..=MAX_CONTAINERS).map(|_| one.clone()).collect();
        let error = decode(json!({ "containers": too_many })).unwrap();
        assert_eq!(error.code, "InvalidParameterException");
        let error = decode(json!({"containers": [one], "filterPattern": "{ $.x = "})).unwrap();
        assert!(
            error.message.starts_with("filterPattern: "),
            "{}",
            error.message
        );
        let error =
            decode(json!({"containers": [{"task": "t", "containerName": "web", "after": "x"}]}))
                .unwrap();
        assert!(error.message.contains("\"x\""), "{}", error.message);
        assert!(decode(json!({"containers": [one], "bogus": 1})).is_some());
    }
}
