//! What `berth logs NAME` names, and in which order to look for it: an ARN says itself; a
//! task id (32 hex digits) is looked up as a task, then as a service; any other name as a
//! service, and, when it could be the start of a task id (as `berth logs` prints them), as
//! the one task whose id starts with it.

use berth_model::arn::{self, ResourceRef};

/// The cluster ECS uses when a request names none.
const DEFAULT_CLUSTER: &str = "default";

/// One way to find what NAME names, in its cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Task(String),
    Service(String),
    /// The one task, running or recently stopped, whose id starts with this.
    TaskIdPrefix(String),
}

/// Where to look, and what for, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookups {
    pub cluster: String,
    pub tries: Vec<Lookup>,
}

/// The lookups for `name`, given `--cluster` (a name or ARN) when there was one.
pub fn lookups(name: &str, cluster: Option<&str>) -> Result<Lookups, String> {
    let flag = match cluster {
        Some(given) => Some(
            arn::cluster_name(Some(given))
                .ok_or_else(|| format!("--cluster {given:?} is not a cluster name or ARN"))?,
        ),
        None => None,
    };
    let in_cluster = |named: Option<String>| -> Result<String, String> {
        match (named, &flag) {
            (Some(named), Some(flag)) if &named != flag => Err(format!(
                "{name} is in cluster {named}, not in --cluster {flag}: leave --cluster out"
            )),
            (Some(named), _) => Ok(named),
            (None, Some(flag)) => Ok(flag.clone()),
            (None, None) => Ok(DEFAULT_CLUSTER.to_owned()),
        }
    };
    if name.starts_with("arn:") {
        let what = match arn::parse(name) {
            Some(ResourceRef::Task { cluster, id }) => (cluster, Lookup::Task(id)),
            Some(ResourceRef::Service { cluster, name }) => (cluster, Lookup::Service(name)),
            Some(other) => {
                return Err(format!(
                    "{name} is the ARN of a {}: give a service or a task",
                    kind(&other)
                ))
            }
            None => {
                return Err(format!(
                    "{name} is not an ECS ARN: give a service or a task"
                ))
            }
        };
        return Ok(Lookups {
            cluster: in_cluster(what.0)?,
            tries: vec![what.1],
        });
    }
    if name.is_empty() || name.contains('/') {
        return Err(format!("{name:?} is not a service name, task id or ARN"));
    }
    let hex = name.bytes().all(|b| b.is_ascii_hexdigit());
    let tries = if hex && name.len() == TASK_ID_LEN {
        vec![
            Lookup::Task(name.to_owned()),
            Lookup::Service(name.to_owned()),
        ]
    } else if hex && name.len() < TASK_ID_LEN {
        vec![
            Lookup::Service(name.to_owned()),
            Lookup::TaskIdPrefix(name.to_ascii_lowercase()),
        ]
    } else {
        vec![Lookup::Service(name.to_owned())]
    };
    Ok(Lookups {
        cluster: in_cluster(None)?,
        tries,
    })
}

/// How many hex digits an ECS task id has.
const TASK_ID_LEN: usize = 32;

fn kind(resource: &ResourceRef) -> &'static str {
    match resource {
        ResourceRef::Cluster { .. } => "cluster",
        ResourceRef::TaskDefinition { .. } => "task definition",
        ResourceRef::Service { .. } => "service",
        ResourceRef::Task { .. } => "task",
        ResourceRef::ContainerInstance { .. } => "container instance",
    }
}

/// What to say when no lookup found anything.
pub fn not_found(name: &str, lookups: &Lookups) -> String {
    let cluster = &lookups.cluster;
    let looked: Vec<String> = lookups
        .tries
        .iter()
        .map(|lookup| match lookup {
            Lookup::Task(id) => format!("no task {id}"),
            Lookup::Service(service) => format!("no service {service}"),
            Lookup::TaskIdPrefix(prefix) => format!("no task whose id starts with {prefix}"),
        })
        .collect();
    format!(
        "{name}: {} in cluster {cluster} (`aws ecs list-services --cluster {cluster}` and \
         `aws ecs list-tasks --cluster {cluster}` list them; stopped tasks are kept an hour)",
        looked.join(", and ")
    )
}

/// What to say when a task id prefix fits several tasks.
pub fn ambiguous(prefix: &str, ids: &[String]) -> String {
    format!(
        "{prefix} starts the ids of {} tasks ({}): give more of the id",
        ids.len(),
        ids.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TASK_ID: &str = "0123456789abcdef0123456789abcdef";

    fn tries(name: &str) -> Vec<Lookup> {
        lookups(name, None).unwrap().tries
    }

    #[test]
    fn names_are_services_and_task_ids_tasks_first() {
        assert_eq!(tries("web"), vec![Lookup::Service("web".into())]);
        assert_eq!(
            tries(TASK_ID),
            vec![
                Lookup::Task(TASK_ID.into()),
                Lookup::Service(TASK_ID.into())
            ]
        );
        assert_eq!(
            tries("0123ABCD"),
            vec![
                Lookup::Service("0123ABCD".into()),
                Lookup::TaskIdPrefix("0123abcd".into())
            ]
        );
        let long_hex = format!("{TASK_ID}0");
        assert_eq!(tries(&long_hex), vec![Lookup::Service(long_hex.clone())]);
        assert!(lookups("", None).is_err());
        assert!(lookups("web/1", None).is_err());
    }

    #[test]
    fn arns_say_what_they_are_and_where() {
        let task = lookups(
            &format!("arn:aws:ecs:us-east-1:000000000000:task/prod/{TASK_ID}"),
            None,
        )
        .unwrap();
        assert_eq!(
            task,
            Lookups {
                cluster: "prod".into(),
                tries: vec![Lookup::Task(TASK_ID.into())]
            }
        );
        let service = lookups(
            "arn:aws:ecs:us-east-1:000000000000:service/prod/web",
            Some("arn:aws:ecs:us-east-1:000000000000:cluster/prod"),
        )
        .unwrap();
        assert_eq!(service.cluster, "prod");
        assert_eq!(service.tries, vec![Lookup::Service("web".into())]);
        let short = lookups(
            "arn:aws:ecs:us-east-1:000000000000:service/web",
            Some("prod"),
        );
        assert_eq!(short.unwrap().cluster, "prod");
        let elsewhere = lookups(
            "arn:aws:ecs:us-east-1:000000000000:service/prod/web",
            Some("staging"),
        );
        assert!(elsewhere
            .unwrap_err()
            .contains("in cluster prod, not in --cluster staging"));
        let definition = lookups(
            "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3",
            None,
        );
        assert!(definition
            .unwrap_err()
            .contains("a task definition: give a service or a task"));
        assert!(lookups("arn:aws:logs:us-east-1:0:log-group:x", None).is_err());
    }

    #[test]
    fn the_cluster_is_the_flag_or_default() {
        assert_eq!(lookups("web", None).unwrap().cluster, "default");
        assert_eq!(lookups("web", Some("prod")).unwrap().cluster, "prod");
        assert_eq!(
            lookups(
                "web",
                Some("arn:aws:ecs:us-east-1:000000000000:cluster/prod")
            )
            .unwrap()
            .cluster,
            "prod"
        );
    }

    #[test]
    fn not_found_says_everything_that_was_tried() {
        let message = not_found("0123abcd", &lookups("0123abcd", None).unwrap());
        assert!(
            message.starts_with(
                "0123abcd: no service 0123abcd, and no task whose id starts with 0123abcd in cluster default"
            ),
            "{message}"
        );
        assert!(message.contains("aws ecs list-tasks --cluster default"));
        let several = ambiguous("01", &["0123".into(), "01ff".into()]);
        assert_eq!(
            several,
            "01 starts the ids of 2 tasks (0123, 01ff): give more of the id"
        );
    }
}
