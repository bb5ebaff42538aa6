//! The `awslogs` log driver as ECS's agent and Docker read a container's `logConfiguration`:
//! which log group and stream its output goes to, whether the group may be created, and how
//! lines join into multi-line events. The server reads the group before a task starts (to
//! create it, or to fail the task naming it); the agent reads the rest when it captures.

use crate::agent::ContainerSecrets;
use crate::resources::ContainerDefinition;
use std::collections::BTreeMap;

pub const DRIVER: &str = "awslogs";

/// What ECS's stopped reason starts with when a log driver's options cannot be used.
pub const FAILURE_PREFIX: &str = "ResourceInitializationError: failed to validate logger args";

/// Where one container's output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub group: String,
    /// `awslogs-stream-prefix`, when set; the stream is then
    /// `<prefix>/<container-name>/<task-id>`, else the container's runtime id, as on ECS.
    pub stream_prefix: Option<String>,
    /// `awslogs-create-group: "true"`.
    pub create_group: bool,
    pub joining: Joining,
    /// `mode: blocking`, the default: the container's writes wait rather than output be
    /// dropped, where its runtime can hold a writer back. `non-blocking` never waits.
    pub blocking: bool,
}

/// How lines become events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Joining {
    /// Every line is an event.
    Lines,
    /// A line matching this regular expression starts an event; the lines after it that do
    /// not match belong to it (`awslogs-multiline-pattern`, or `awslogs-datetime-format`
    /// translated as Docker translates it, anchored at the line's start).
    StartsWith(String),
}

impl Destination {
    /// The stream for the container named `container` of task `task_id`, which its runtime
    /// calls `runtime_id`.
    pub fn stream(&self, container: &str, task_id: &str, runtime_id: &str) -> String {
        match &self.stream_prefix {
            Some(prefix) => format!("{prefix}/{container}/{task_id}"),
            None => runtime_id.to_string(),
        }
    }
}

/// The container's destination, with its resolved secrets' `secretOptions` (see
/// [`destination`]).
pub fn destination_with_secrets(
    container: &ContainerDefinition,
    secrets: Option<&ContainerSecrets>,
) -> Result<Option<Destination>, String> {
    let secret_options: BTreeMap<String, String> = secrets
        .map(|found| {
            let options = found.log_options.iter();
            options
                .map(|(key, value)| (key.clone(), value.expose().to_string()))
                .collect()
        })
        .unwrap_or_default();
    destination(container, &secret_options)
}

/// The container's destination: `None` when it does not log with `awslogs`, an error in
/// ECS's words when its options cannot be used. `secret_options` are the resolved
/// `secretOptions`, which may hold any option.
pub fn destination(
    container: &ContainerDefinition,
    secret_options: &BTreeMap<String, String>,
) -> Result<Option<Destination>, String> {
    let Some(config) = container
        .log_configuration
        .as_ref()
        .filter(|c| c.log_driver == DRIVER)
    else {
        return Ok(None);
    };
    let option = |name: &str| -> Option<String> {
        secret_options.get(name).cloned().or_else(|| {
            config
                .options
                .as_ref()?
                .get(name)?
                .as_str()
                .map(str::to_string)
        })
    };
    let failed = |what: String| Err(format!("{FAILURE_PREFIX}: {what}"));
    let Some(group) = option("awslogs-group").filter(|g| !g.is_empty()) else {
        return failed("awslogs-group is required".to_string());
    };
    let create_group = match option("awslogs-create-group").as_deref() {
        None => false,
        Some(value) => match parse_bool(value) {
            Some(create) => create,
            None => {
                return failed(format!(
                    "awslogs-create-group must be true or false, not {value:?}"
                ))
            }
        },
    };
    let blocking = match option("mode").as_deref() {
        None | Some("blocking") => true,
        Some("non-blocking") => false,
        Some(mode) => {
            return failed(format!(
                "mode must be blocking or non-blocking, not {mode:?}"
            ))
        }
    };
    let joining = match (
        option("awslogs-datetime-format"),
        option("awslogs-multiline-pattern"),
    ) {
        (Some(_), Some(_)) => {
            return failed(
                "you cannot configure log opt 'awslogs-datetime-format' and \
                 'awslogs-multiline-pattern' at the same time"
                    .to_string(),
            )
        }
        (Some(format), None) => Joining::StartsWith(format!("^{}", strftime_to_regex(&format))),
        (None, Some(pattern)) => Joining::StartsWith(pattern),
        (None, None) => Joining::Lines,
    };
    Ok(Some(Destination {
        group,
        stream_prefix: option("awslogs-stream-prefix").filter(|p| !p.is_empty()),
        create_group,
        joining,
        blocking,
    }))
}

/// Go's `strconv.ParseBool`, which Docker reads its boolean options with.
fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// `awslogs-datetime-format` as the regular expression Docker's awslogs driver matches it
/// with: each `strftime` directive becomes what it can print, the rest is literal.
pub fn strftime_to_regex(format: &str) -> String {
    let mut regex = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            regex.push_str(&escape(c));
            continue;
        }
        let Some(directive) = chars.next() else {
            regex.push_str(&escape('%'));
            break;
        };
        let translated = match directive {
            'a' => "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)",
            'A' => "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)",
            'b' => "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)",
            'B' => "(?:January|February|March|April|May|June|July|August|September|October|November|December)",
            'd' => "(?:0[1-9]|[1,2][0-9]|3[0,1])",
            'H' => "(?:[0,1][0-9]|2[0-3])",
            'I' => "(?:0[0-9]|1[0-2])",
            'j' => "(?:0[0-9][1-9]|[1,2][0-9][0-9]|3[0-5][0-9]|36[0-6])",
            'L' => r"\.\d{3}",
            'm' => "(?:0[1-9]|1[0-2])",
            'M' => "[0-5][0-9]",
            'p' => "[A,P]M",
            'S' => "[0-5][0-9]",
            'U' => "(?:[0-4][0-9]|5[0-3])",
            'w' => "[0-6]",
            'W' => "(?:[0-4][0-9]|5[0-3])",
            'y' => r"\d{2}",
            'Y' => r"\d{4}",
            'z' => r"[+-]\d{4}",
            'Z' => "[A-Z]{1,4}T",
            'f' => r"\d{1,9}",
            '%' => "%",
            other => {
                regex.push_str(&escape('%'));
                regex.push_str(&escape(other));
                continue;
            }
        };
        regex.push_str(translated);
    }
    regex
}

fn escape(c: char) -> String {
    if r"\.+*?()|[]{}^$".contains(c) {
        format!("\\{c}")
    } else {
        c.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::LogConfiguration;
    use serde_json::json;

    fn with_options(options: serde_json::Value) -> ContainerDefinition {
        ContainerDefinition {
            name: Some("web".into()),
            log_configuration: Some(LogConfiguration {
                log_driver: DRIVER.into(),
                options: options.as_object().cloned(),
                secret_options: None,
            }),
            ..Default::default()
        }
    }

    fn of(options: serde_json::Value) -> Result<Option<Destination>, String> {
        destination(&with_options(options), &BTreeMap::new())
    }

    #[test]
    fn streams_are_named_as_ecs_names_them() {
        let found = of(
            json!({"awslogs-group": "/ecs/app", "awslogs-region": "eu-west-1",
                              "awslogs-stream-prefix": "ecs"}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(found.group, "/ecs/app");
        assert!(!found.create_group);
        assert_eq!(found.stream("web", "abc123", "d0ck3r"), "ecs/web/abc123");
        let bare = of(json!({"awslogs-group": "/ecs/app"})).unwrap().unwrap();
        assert_eq!(bare.stream("web", "abc123", "d0ck3r"), "d0ck3r");
    }

    #[test]
    fn blocking_is_the_default_mode() {
        for (options, blocking) in [
            (json!({"awslogs-group": "g"}), true),
            (json!({"awslogs-group": "g", "mode": "blocking"}), true),
            (
                json!({"awslogs-group": "g", "mode": "non-blocking", "max-buffer-size": "25m"}),
                false,
            ),
        ] {
            let found = of(options.clone()).unwrap().unwrap();
            assert_eq!(found.blocking, blocking, "{options}");
        }
    }

    #[test]
    fn other_drivers_and_none_are_not_shipped() {
        let mut container = with_options(json!({"max-size": "10m"}));
        container.log_configuration.as_mut().unwrap().log_driver = "json-file".into();
        assert_eq!(destination(&container, &BTreeMap::new()), Ok(None));
        assert_eq!(
            destination(&ContainerDefinition::default(), &BTreeMap::new()),
            Ok(None)
        );
    }

    #[test]
    fn options_are_checked_in_ecs_words() {
        let problem = of(json!({"awslogs-region": "x"})).unwrap_err();
        assert_eq!(
            problem,
            format!("{FAILURE_PREFIX}: awslogs-group is required")
        );
        let problem = of(json!({"awslogs-group": "g", "awslogs-create-group": "yes"})).unwrap_err();
        assert!(problem.contains("awslogs-create-group"), "{problem}");
        let problem = of(json!({"awslogs-group": "g", "mode": "fast"})).unwrap_err();
        assert!(problem.contains("mode"), "{problem}");
        let both = of(
            json!({"awslogs-group": "g", "awslogs-datetime-format": "%Y",
                             "awslogs-multiline-pattern": "^x"}),
        )
        .unwrap_err();
        assert!(both.contains("at the same time"), "{both}");
        for yes in ["true", "1", "True"] {
            let created = of(json!({"awslogs-group": "g", "awslogs-create-group": yes}));
            assert!(created.unwrap().unwrap().create_group, "{yes}");
        }
    }

    #[test]
    fn secret_options_count_as_options() {
        let container = with_options(json!({"awslogs-stream-prefix": "p"}));
        let secret = BTreeMap::from([("awslogs-group".to_string(), "/from/secret".to_string())]);
        let found = destination(&container, &secret).unwrap().unwrap();
        assert_eq!(found.group, "/from/secret");
    }

    #[test]
    fn multi_line_starts() {
        let pattern = of(json!({"awslogs-group": "g", "awslogs-multiline-pattern": "^INFO"}));
        assert_eq!(
            pattern.unwrap().unwrap().joining,
            Joining::StartsWith("^INFO".into())
        );
        let datetime = of(json!({"awslogs-group": "g",
                                 "awslogs-datetime-format": "[%Y-%m-%d %H:%M:%S]"}));
        assert_eq!(
            datetime.unwrap().unwrap().joining,
            Joining::StartsWith(
                r"^\[\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[1,2][0-9]|3[0,1]) (?:[0,1][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\]"
                    .into()
            )
        );
        assert_eq!(strftime_to_regex("%b %d, 100%%"), "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (?:0[1-9]|[1,2][0-9]|3[0,1]), 100%");
        assert_eq!(strftime_to_regex("%Q%"), r"%Q%");
    }
}
