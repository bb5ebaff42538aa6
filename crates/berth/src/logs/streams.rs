//! Which log streams hold a set of tasks' output: each container whose definition logs with
//! `awslogs` writes to `<prefix>/<container>/<task-id>` in its group (its runtime id without a
//! prefix), as [`berth_model::awslogs`] names it for the agent; a container that does not
//! has its output on its machine only, read through its agent ([`super::kept`]) once it has
//! started. Streams are searched a group at a time, at most [`NAMES_PER_SEARCH`] at once, as
//! FilterLogEvents allows.

use super::kept::Kept;
use berth_model::arn::resource_id;
use berth_model::awslogs;
use berth_model::resources::{Task, TaskDefinition};
use berth_model::status::TaskStatus;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// FilterLogEvents takes at most this many `logStreamNames`.
pub const NAMES_PER_SEARCH: usize = 100;

/// How long a stopped task's streams are still followed: its last lines reach the server
/// after it stops (the agent ships within a second or two; a container is removed only once
/// its output is shipped).
pub const DRAIN_SECONDS: f64 = 10.0;

/// One container's stream.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stream {
    pub group: String,
    pub name: String,
    pub task_id: String,
    pub container: String,
}

/// The streams of some tasks, the containers whose output only their machine keeps, and
/// what to tell about containers whose output cannot be read.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Streams {
    pub streams: BTreeSet<Stream>,
    pub kept: BTreeSet<Kept>,
    pub notes: Vec<String>,
}

/// The streams of `tasks`, whose definitions are in `definitions` by ARN; only the container
/// named `container` when one is given.
pub fn of_tasks<'t>(
    tasks: impl IntoIterator<Item = &'t Task>,
    definitions: &HashMap<String, TaskDefinition>,
    container: Option<&str>,
) -> Streams {
    let mut found = Streams::default();
    for task in tasks {
        let Some(definition) = definitions.get(&task.task_definition_arn) else {
            continue;
        };
        let task_id = resource_id(&task.task_arn);
        for defined in &definition.container_definitions {
            let Some(name) = defined.name.as_deref() else {
                continue;
            };
            if container.is_some_and(|wanted| wanted != name) {
                continue;
            }
            let runtime_id = task
                .containers
                .iter()
                .find(|c| c.name == name)
                .and_then(|c| c.runtime_id.as_deref());
            // Secret options are not resolved here: a group that only they name shows as
            // the error below, which says so.
            match awslogs::destination(defined, &BTreeMap::new()) {
                Ok(Some(destination)) => {
                    // Without a prefix the stream is named after the container's runtime id,
                    // which it has only once created.
                    if destination.stream_prefix.is_none() && runtime_id.is_none() {
                        continue;
                    }
                    found.streams.insert(Stream {
                        name: destination.stream(name, task_id, runtime_id.unwrap_or_default()),
                        group: destination.group,
                        task_id: task_id.to_owned(),
                        container: name.to_owned(),
                    });
                }
                // Nothing to read before the container is created.
                Ok(None) if runtime_id.is_none() => {}
                Ok(None) => {
                    found.kept.insert(Kept {
                        task_id: task_id.to_owned(),
                        container: name.to_owned(),
                    });
                }
                Err(reason) => found.notes.push(format!(
                    "container {name} of task {task_id}: its logConfiguration names no log \
                     stream berth logs can read: {reason}"
                )),
            }
        }
    }
    found
}

/// Whether the container named `container` is in any of `definitions`; if not, what to say,
/// with the names there are.
pub fn check_container<'d>(
    container: &str,
    definitions: impl IntoIterator<Item = &'d TaskDefinition>,
) -> Result<(), String> {
    let names: BTreeSet<&str> = definitions
        .into_iter()
        .flat_map(|d| &d.container_definitions)
        .filter_map(|c| c.name.as_deref())
        .collect();
    if names.contains(container) || names.is_empty() {
        return Ok(());
    }
    Err(format!(
        "no container {container} in these tasks' definitions; they have: {}",
        names.into_iter().collect::<Vec<_>>().join(", ")
    ))
}

/// One FilterLogEvents search: a group and at most [`NAMES_PER_SEARCH`] of its streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    pub group: String,
    pub names: Vec<String>,
}

/// The searches that cover `streams`, a group's streams in name order.
pub fn searches<'s>(streams: impl IntoIterator<Item = &'s Stream>) -> Vec<Search> {
    let mut by_group: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for stream in streams {
        by_group
            .entry(&stream.group)
            .or_default()
            .insert(&stream.name);
    }
    by_group
        .into_iter()
        .flat_map(|(group, names)| {
            let names: Vec<&str> = names.into_iter().collect();
            names
                .chunks(NAMES_PER_SEARCH)
                .map(|chunk| Search {
                    group: group.to_owned(),
                    names: chunk.iter().map(|n| n.to_string()).collect(),
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Whether a follow keeps reading `task`'s streams at `now` (seconds): until it has been
/// stopped for [`DRAIN_SECONDS`].
pub fn followed(task: &Task, now: f64) -> bool {
    if task.last_status != TaskStatus::Stopped {
        return true;
    }
    task.stopped_at
        .is_none_or(|stopped| now - stopped < DRAIN_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::resources::{Container, ContainerDefinition, LogConfiguration};
    use serde_json::json;

    const WEB_TASK: &str =
        "arn:aws:ecs:us-east-1:000000000000:task/default/0123456789abcdef0123456789abcdef";

    fn definition(arn: &str, containers: &[(&str, Option<serde_json::Value>)]) -> TaskDefinition {
        TaskDefinition {
            task_definition_arn: Some(arn.into()),
            container_definitions: containers
                .iter()
                .map(|(name, options)| ContainerDefinition {
                    name: Some(name.to_string()),
                    log_configuration: options.as_ref().map(|options| LogConfiguration {
                        log_driver: if options.is_null() {
                            "json-file"
                        } else {
                            "awslogs"
                        }
                        .into(),
                        options: options.as_object().cloned(),
                        secret_options: None,
                    }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn task(arn: &str, definition: &str, runtime_ids: &[(&str, &str)]) -> Task {
        Task {
            task_arn: arn.into(),
            task_definition_arn: definition.into(),
            last_status: TaskStatus::Running,
            containers: runtime_ids
                .iter()
                .map(|(name, id)| Container {
                    name: name.to_string(),
                    runtime_id: Some(id.to_string()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn definitions(list: Vec<TaskDefinition>) -> HashMap<String, TaskDefinition> {
        list.into_iter()
            .map(|d| (d.task_definition_arn.clone().unwrap(), d))
            .collect()
    }

    #[test]
    fn streams_are_named_as_the_agent_names_them() {
        let definitions = definitions(vec![definition(
            "td:1",
            &[
                (
                    "web",
                    Some(
                        json!({"awslogs-group": "/ecs/portal", "awslogs-stream-prefix": "portal"}),
                    ),
                ),
                ("worker", Some(json!({"awslogs-group": "/ecs/jobs"}))),
                ("sidecar", Some(serde_json::Value::Null)),
                ("quiet", None),
            ],
        )]);
        let running = task(
            WEB_TASK,
            "td:1",
            &[("web", "c1"), ("worker", "c2"), ("sidecar", "c3")],
        );
        let found = of_tasks([&running], &definitions, None);
        let id = "0123456789abcdef0123456789abcdef";
        let streams: Vec<(&str, &str, &str)> = found
            .streams
            .iter()
            .map(|s| (s.group.as_str(), s.name.as_str(), s.container.as_str()))
            .collect();
        assert_eq!(
            streams,
            vec![
                ("/ecs/jobs", "c2", "worker"),
                ("/ecs/portal", &format!("portal/web/{id}"), "web"),
            ]
        );
        assert!(found.streams.iter().all(|s| s.task_id == id));
        // `quiet` has not started: nothing of it to read yet.
        assert_eq!(
            found.kept.into_iter().collect::<Vec<_>>(),
            [Kept {
                task_id: id.into(),
                container: "sidecar".into()
            }]
        );
        assert!(found.notes.is_empty());
        let only_web = of_tasks([&running], &definitions, Some("web"));
        assert_eq!(only_web.streams.len(), 1);
        assert!(only_web.kept.is_empty() && only_web.notes.is_empty());
    }

    #[test]
    fn a_stream_named_by_runtime_id_waits_for_the_container_and_bad_options_are_told() {
        let definitions = definitions(vec![definition(
            "td:1",
            &[
                ("worker", Some(json!({"awslogs-group": "/ecs/jobs"}))),
                ("broken", Some(json!({"awslogs-stream-prefix": "x"}))),
            ],
        )]);
        let pending = task(WEB_TASK, "td:1", &[]);
        let found = of_tasks([&pending], &definitions, None);
        assert!(found.streams.is_empty());
        assert_eq!(found.notes.len(), 1);
        assert!(
            found.notes[0].contains("container broken of task 0123456789abcdef0123456789abcdef")
                && found.notes[0].contains("awslogs-group is required"),
            "{}",
            found.notes[0]
        );
        let unknown_definition = task(WEB_TASK, "td:2", &[]);
        assert_eq!(
            of_tasks([&unknown_definition], &definitions, None),
            Streams::default()
        );
    }

    #[test]
    fn a_missing_container_is_told_with_the_names_there_are() {
        let definitions = [definition("td:1", &[("web", None), ("worker", None)])];
        assert!(check_container("web", &definitions).is_ok());
        assert_eq!(
            check_container("wbe", &definitions),
            Err("no container wbe in these tasks' definitions; they have: web, worker".into())
        );
        assert!(
            check_container("web", &[]).is_ok(),
            "no tasks yet: nothing to check"
        );
    }

    #[test]
    fn searches_take_one_group_and_at_most_a_hundred_streams() {
        let streams: Vec<Stream> = (0..250)
            .map(|i| Stream {
                group: if i % 2 == 0 { "/a" } else { "/b" }.into(),
                name: format!("s/{i:03}"),
                task_id: format!("t{i}"),
                container: "c".into(),
            })
            .collect();
        let searches = searches(&streams);
        let shape: Vec<(&str, usize)> = searches
            .iter()
            .map(|s| (s.group.as_str(), s.names.len()))
            .collect();
        assert_eq!(
            shape,
            vec![("/a", 100), ("/a", 25), ("/b", 100), ("/b", 25)]
        );
        assert_eq!(searches[0].names[0], "s/000");
        assert_eq!(searches[2].names[0], "s/001");
        assert!(super::searches(&[]).is_empty());
    }

    #[test]
    fn stopped_tasks_are_followed_until_they_drained() {
        let mut stopped = task(WEB_TASK, "td:1", &[]);
        assert!(followed(&stopped, 1000.0));
        stopped.last_status = TaskStatus::Stopped;
        stopped.stopped_at = Some(1000.0);
        assert!(followed(&stopped, 1000.0 + DRAIN_SECONDS - 1.0));
        assert!(!followed(&stopped, 1000.0 + DRAIN_SECONDS));
    }
}
