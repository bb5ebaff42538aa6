//! The output of containers that log without `awslogs`, which only their machine keeps:
//! read through the server from the agent that runs each one, with Berth's own
//! GetContainerOutput, [`PER_CALL`] containers a call. Each answer is a page of lines with the
//! runtime's positions and where to read on ([`Positions`]), so a follow asks each container
//! for what came after its last line, and nothing shows twice.

use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

/// GetContainerOutput takes at most this many containers.
pub use berth_server::berth_api::MAX_CONTAINERS as PER_CALL;

/// A container whose output its machine keeps.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Kept {
    pub task_id: String,
    pub container: String,
}

/// One container's answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    #[serde(default)]
    pub lines: Vec<Line>,
    pub after: Option<String>,
    #[serde(default)]
    pub more: bool,
    pub error: Option<Problem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub timestamp: i64,
    pub position: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Problem {
    pub code: String,
    pub message: String,
}

/// The body of one GetContainerOutput: `containers`, each read from its position.
pub fn request(
    cluster: &str,
    containers: &[(&Kept, Option<&str>)],
    start: Option<i64>,
    filter: Option<&str>,
) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .map(|(kept, after)| {
            let mut container = json!({"task": kept.task_id, "containerName": kept.container});
            if let Some(after) = after {
                container["after"] = json!(after);
            }
            container
        })
        .collect();
    let mut body = json!({"cluster": cluster, "containers": containers});
    if let Some(start) = start {
        body["startTime"] = json!(start);
    }
    if let Some(filter) = filter {
        body["filterPattern"] = json!(filter);
    }
    body
}

/// Where each container has been read to, and which are gone from their machine.
#[derive(Debug, Default)]
pub struct Positions {
    after: HashMap<Kept, String>,
    gone: HashSet<Kept>,
}

impl Positions {
    /// Where the next page of `kept` starts: after the last line read, or at the oldest line
    /// kept.
    pub fn after(&self, kept: &Kept) -> Option<&str> {
        self.after.get(kept).map(String::as_str)
    }

    /// Whether there may be more to read of `kept`: it is not known to be gone.
    pub fn readable(&self, kept: &Kept) -> bool {
        !self.gone.contains(kept)
    }

    /// Takes in `answer` for `kept`: its lines, and whether to ask at once again (`more`).
    /// A problem is returned to be told.
    pub fn take(&mut self, kept: &Kept, answer: Answer) -> (Vec<Line>, bool, Option<String>) {
        if let Some(problem) = answer.error {
            if problem.code == "ContainerGone" {
                self.gone.insert(kept.clone());
            }
            return (Vec::new(), false, Some(problem.message));
        }
        if let Some(after) = answer.after {
            self.after.insert(kept.clone(), after);
        }
        (answer.lines, answer.more, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(task: &str) -> Kept {
        Kept {
            task_id: task.into(),
            container: "web".into(),
        }
    }

    fn answer(value: Value) -> Answer {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn requests_name_each_container_and_where_to_read_on() {
        let (a, b) = (kept("t1"), kept("t2"));
        assert_eq!(
            request(
                "prod",
                &[(&a, None), (&b, Some("17"))],
                Some(5),
                Some("ERROR")
            ),
            json!({
                "cluster": "prod",
                "containers": [
                    {"task": "t1", "containerName": "web"},
                    {"task": "t2", "containerName": "web", "after": "17"},
                ],
                "startTime": 5,
                "filterPattern": "ERROR",
            })
        );
        assert_eq!(
            request("default", &[(&a, None)], None, None),
            json!({"cluster": "default", "containers": [{"task": "t1", "containerName": "web"}]})
        );
    }

    #[test]
    fn a_follow_reads_on_from_the_last_page_and_stops_at_a_gone_container() {
        let mut positions = Positions::default();
        let web = kept("t1");
        assert_eq!(positions.after(&web), None);
        let (lines, more, problem) = positions.take(
            &web,
            answer(json!({"lines": [{"timestamp": 1, "position": "9", "stream": "stdout", "message": "hi"}],
                          "after": "12", "more": true})),
        );
        assert_eq!((lines.len(), more, problem), (1, true, None));
        assert_eq!(
            positions.after(&web),
            Some("12"),
            "the page's position, past its filtered lines"
        );
        let (_, _, problem) = positions.take(
            &web,
            answer(json!({"error": {"code": "AgentDidNotAnswer", "message": "the agent on node-1 has not answered"}})),
        );
        assert_eq!(
            problem.as_deref(),
            Some("the agent on node-1 has not answered")
        );
        assert!(positions.readable(&web));
        assert_eq!(
            positions.after(&web),
            Some("12"),
            "kept across a failed read"
        );
        positions.take(
            &web,
            answer(json!({"error": {"code": "ContainerGone", "message": "gone"}})),
        );
        assert!(!positions.readable(&web));
    }
}
