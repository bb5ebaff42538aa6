//! How ECS names what belongs to a service: the store key of a service, and the task
//! `group` ECS gives its tasks (`service:NAME`), written and read in this one place.

/// The key a service is stored under.
pub fn key(cluster: &str, name: &str) -> String {
    format!("{cluster}/{name}")
}

/// The group ECS gives a service's tasks.
/// The cluster name in a cluster ARN (`arn:aws:ecs:<region>:<account>:cluster/<name>`).
pub fn cluster_of_arn(cluster_arn: &str) -> &str {
    cluster_arn
        .rsplit_once('/')
        .map_or(cluster_arn, |(_, name)| name)
}

pub fn task_group(service_name: &str) -> String {
    format!("service:{service_name}")
}

/// The service a task's group names, if a service started it.
pub fn service_of(group: &str) -> Option<&str> {
    group.strip_prefix("service:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_group_names_its_service() {
        assert_eq!(service_of(&task_group("web")), Some("web"));
        assert_eq!(service_of("family:web"), None);
        assert_eq!(key("prod", "web"), "prod/web");
    }
}
