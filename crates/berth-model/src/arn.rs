//! Long-format ECS ARNs and the identifiers clients may use in their place.

/// Builds and reads ARNs for one installation (one region and account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arns {
    pub region: String,
    pub account: String,
}

impl Arns {
    pub fn new(region: impl Into<String>, account: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            account: account.into(),
        }
    }

    fn prefix(&self) -> String {
        format!("arn:aws:ecs:{}:{}:", self.region, self.account)
    }

    pub fn cluster(&self, name: &str) -> String {
        format!("{}cluster/{name}", self.prefix())
    }

    pub fn task_definition(&self, family: &str, revision: i64) -> String {
        format!("{}task-definition/{family}:{revision}", self.prefix())
    }

    pub fn service(&self, cluster: &str, name: &str) -> String {
        format!("{}service/{cluster}/{name}", self.prefix())
    }

    pub fn task(&self, cluster: &str, id: &str) -> String {
        format!("{}task/{cluster}/{id}", self.prefix())
    }

    pub fn container_instance(&self, cluster: &str, id: &str) -> String {
        format!("{}container-instance/{cluster}/{id}", self.prefix())
    }

    pub fn container(&self, cluster: &str, task_id: &str, container_id: &str) -> String {
        format!(
            "{}container/{cluster}/{task_id}/{container_id}",
            self.prefix()
        )
    }
}

/// What an ECS ARN names, as far as the API needs to tell them apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceRef {
    Cluster {
        name: String,
    },
    TaskDefinition {
        family: String,
        revision: i64,
    },
    Service {
        cluster: Option<String>,
        name: String,
    },
    Task {
        cluster: Option<String>,
        id: String,
    },
    ContainerInstance {
        cluster: Option<String>,
        id: String,
    },
}

/// Parses an ECS ARN. Short-format service and task ARNs (without the cluster) are accepted
/// because older ECS accounts still hand them out.
pub fn parse(arn: &str) -> Option<ResourceRef> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some("ecs"), Some(_region), Some(_account), Some(rest)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let (kind, path) = rest.split_once('/')?;
    let segments: Vec<&str> = path.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return None;
    }
    match (kind, segments.as_slice()) {
        ("cluster", [name]) => Some(ResourceRef::Cluster {
            name: name.to_string(),
        }),
        ("task-definition", [family_revision]) => {
            let (family, revision) = family_revision.rsplit_once(':')?;
            Some(ResourceRef::TaskDefinition {
                family: family.to_string(),
                revision: revision.parse().ok().filter(|r| *r > 0)?,
            })
        }
        ("service", [name]) => Some(ResourceRef::Service {
            cluster: None,
            name: name.to_string(),
        }),
        ("service", [cluster, name]) => Some(ResourceRef::Service {
            cluster: Some(cluster.to_string()),
            name: name.to_string(),
        }),
        ("task", [id]) => Some(ResourceRef::Task {
            cluster: None,
            id: id.to_string(),
        }),
        ("task", [cluster, id]) => Some(ResourceRef::Task {
            cluster: Some(cluster.to_string()),
            id: id.to_string(),
        }),
        ("container-instance", [id]) => Some(ResourceRef::ContainerInstance {
            cluster: None,
            id: id.to_string(),
        }),
        ("container-instance", [cluster, id]) => Some(ResourceRef::ContainerInstance {
            cluster: Some(cluster.to_string()),
            id: id.to_string(),
        }),
        _ => None,
    }
}

/// The id at the end of an ARN's resource path (`…:task/prod/ID` → `ID`, and so for
/// container instances and containers); a bare id is its own.
pub fn resource_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The cluster name a `cluster` request member names: a name, an ARN, or (omitted) `default`.
pub fn cluster_name(member: Option<&str>) -> Option<String> {
    match member {
        None | Some("") => Some("default".to_string()),
        Some(value) if value.starts_with("arn:") => match parse(value)? {
            ResourceRef::Cluster { name } => Some(name),
            _ => None,
        },
        Some(name) => Some(name.to_string()),
    }
}

/// A task definition reference as RunTask, CreateService and Describe accept it:
/// `family`, `family:revision` or an ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDefinitionRef {
    pub family: String,
    /// `None` means the latest ACTIVE revision.
    pub revision: Option<i64>,
}

pub fn task_definition_ref(value: &str) -> Option<TaskDefinitionRef> {
    if value.starts_with("arn:") {
        return match parse(value)? {
            ResourceRef::TaskDefinition { family, revision } => Some(TaskDefinitionRef {
                family,
                revision: Some(revision),
            }),
            _ => None,
        };
    }
    match value.rsplit_once(':') {
        Some((family, revision)) => Some(TaskDefinitionRef {
            family: family.to_string(),
            revision: Some(revision.parse().ok().filter(|r| *r > 0)?),
        }),
        None if !value.is_empty() => Some(TaskDefinitionRef {
            family: value.to_string(),
            revision: None,
        }),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids_end_the_arn() {
        assert_eq!(
            resource_id("arn:aws:ecs:us-east-1:000000000000:task/prod/0123abcd"),
            "0123abcd"
        );
        assert_eq!(resource_id("0123abcd"), "0123abcd");
        assert_eq!(resource_id("arn:aws:ecs:r:a:container-instance/prod/"), "");
    }

    #[test]
    fn builds_long_format_arns() {
        let arns = Arns::new("eu-west-1", "000000000000");
        assert_eq!(
            arns.cluster("prod"),
            "arn:aws:ecs:eu-west-1:000000000000:cluster/prod"
        );
        assert_eq!(
            arns.service("prod", "web"),
            "arn:aws:ecs:eu-west-1:000000000000:service/prod/web"
        );
        assert_eq!(
            arns.task_definition("web", 3),
            "arn:aws:ecs:eu-west-1:000000000000:task-definition/web:3"
        );
    }

    #[test]
    fn parses_what_it_builds() {
        let arns = Arns::new("us-east-1", "000000000000");
        assert_eq!(
            parse(&arns.cluster("c")),
            Some(ResourceRef::Cluster { name: "c".into() })
        );
        assert_eq!(
            parse(&arns.task_definition("a-b", 12)),
            Some(ResourceRef::TaskDefinition {
                family: "a-b".into(),
                revision: 12
            })
        );
        assert_eq!(
            parse(&arns.service("c", "s")),
            Some(ResourceRef::Service {
                cluster: Some("c".into()),
                name: "s".into()
            })
        );
        assert_eq!(
            parse(&arns.task("c", "abc")),
            Some(ResourceRef::Task {
                cluster: Some("c".into()),
                id: "abc".into()
            })
        );
    }

    #[test]
    fn rejects_malformed_arns() {
        for bad in [
            "",
            "arn:aws:ecs",
            "arn:aws:s3:::bucket",
            "arn:aws:ecs:r:a:cluster/",
            "arn:aws:ecs:r:a:task-definition/web",
            "arn:aws:ecs:r:a:task-definition/web:0",
            "arn:aws:ecs:r:a:task-definition/web:x",
            "arn:aws:ecs:r:a:service/a/b/c",
            "arn:aws:ecs:r:a:widget/a",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn reads_task_definition_references() {
        assert_eq!(
            task_definition_ref("web"),
            Some(TaskDefinitionRef {
                family: "web".into(),
                revision: None
            })
        );
        assert_eq!(
            task_definition_ref("web:4"),
            Some(TaskDefinitionRef {
                family: "web".into(),
                revision: Some(4)
            })
        );
        assert_eq!(
            task_definition_ref("arn:aws:ecs:r:a:task-definition/web:2"),
            Some(TaskDefinitionRef {
                family: "web".into(),
                revision: Some(2)
            })
        );
        assert_eq!(task_definition_ref("web:"), None);
        assert_eq!(task_definition_ref(""), None);
        assert_eq!(task_definition_ref("arn:aws:ecs:r:a:cluster/x"), None);
    }

    #[test]
    fn cluster_defaults_to_default() {
        assert_eq!(cluster_name(None).as_deref(), Some("default"));
        assert_eq!(cluster_name(Some("x")).as_deref(), Some("x"));
        assert_eq!(
            cluster_name(Some("arn:aws:ecs:r:a:cluster/x")).as_deref(),
            Some("x")
        );
        assert_eq!(cluster_name(Some("arn:aws:ecs:r:a:service/x/y")), None);
    }
}
