//! Where a secret comes from: the grammar of a container's `secrets[].valueFrom` (and of
//! `logConfiguration.secretOptions` and `repositoryCredentials.credentialsParameter`), read
//! as ECS's agent reads it, and the name rules of the two stores it can point into, Secrets
//! Manager and SSM Parameter Store. Registration validates with these, and the server
//! resolves with the same [`Source`] when a task starts.

use crate::resources::ContainerDefinition;

/// What ECS's stopped reason starts with when a task's secrets cannot be had.
pub const FAILURE_PREFIX: &str =
    "ResourceInitializationError: unable to pull secrets or registry auth";

/// Whether a container names anything the server must resolve before it starts: `secrets`,
/// log `secretOptions` or registry credentials.
pub fn names_secrets(container: &ContainerDefinition) -> bool {
    container.secrets.as_ref().is_some_and(|s| !s.is_empty())
        || container
            .log_configuration
            .as_ref()
            .and_then(|l| l.secret_options.as_ref())
            .is_some_and(|s| !s.is_empty())
        || credentials_parameter(container).is_some()
}

/// `repositoryCredentials.credentialsParameter`: the secret that holds a private registry's
/// user name and password.
pub fn credentials_parameter(container: &ContainerDefinition) -> Option<&str> {
    container
        .repository_credentials
        .as_ref()?
        .get("credentialsParameter")?
        .as_str()
}

/// A parsed `valueFrom`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    SecretsManager(SecretRef),
    Ssm(ParameterRef),
}

/// A Secrets Manager secret, optionally narrowed: the ARN's resource is `secret:<id>` or
/// exactly `secret:<id>:<json-key>:<version-stage>:<version-id>`, empty parts unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// The secret's ARN (full or partial) without the narrowing parts.
    pub secret_id: String,
    pub json_key: Option<String>,
    pub version_stage: Option<String>,
    pub version_id: Option<String>,
}

/// An SSM parameter by name, with an optional `:<version>` or `:<label>` selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterRef {
    /// The parameter's name (an ARN's `parameter/a/b` names `/a/b`).
    pub name: String,
    pub selector: Option<Selector>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Version(u64),
    Label(String),
}

/// Reads a `valueFrom`: an ARN of Secrets Manager or SSM, or else an SSM parameter name.
pub fn parse(value: &str) -> Result<Source, String> {
    if value.is_empty() {
        return Err("required".to_string());
    }
    let length = value.chars().count();
    if length > 2048 {
        return Err(format!("must be at most 2048 characters, got {length}"));
    }
    let Some(arn) = value.strip_prefix("arn:") else {
        return parameter_ref(value).map(Source::Ssm);
    };
    let mut parts = arn.splitn(5, ':');
    let (Some(partition), Some(service), Some(region), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(format!("malformed ARN {value:?}"));
    };
    let well_formed = partition.starts_with("aws")
        && !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit());
    if !well_formed {
        return Err(format!(
            "malformed ARN {value:?}: expected arn:aws:<service>:<region>:<12-digit account>:<resource>"
        ));
    }
    match service {
        "ssm" => match resource.strip_prefix("parameter/") {
            Some(rest) if !rest.is_empty() => {
                let name = if rest.contains('/') {
                    format!("/{rest}")
                } else {
                    rest.to_string()
                };
                parameter_ref(&name).map(Source::Ssm)
            }
            _ => Err(format!(
                "an SSM ARN must end in parameter/<name>, got {value:?}"
            )),
        },
        "secretsmanager" => {
            let Some(rest) = resource.strip_prefix("secret:") else {
                return Err(format!(
                    "a Secrets Manager ARN must end in secret:<name>, got {value:?}"
                ));
            };
            let fields: Vec<&str> = rest.split(':').collect();
            let name = fields[0];
            if secret_name(name).is_err() {
                return Err(format!(
                    "the Secrets Manager ARN names no valid secret: {value:?}"
                ));
            }
            let unset = |s: &str| (!s.is_empty()).then(|| s.to_string());
            match fields[..] {
                [_] => Ok(Source::SecretsManager(SecretRef {
                    secret_id: value.to_string(),
                    json_key: None,
                    version_stage: None,
                    version_id: None,
                })),
                [_, key, stage, id] => Ok(Source::SecretsManager(SecretRef {
                    secret_id: format!("arn:{partition}:{service}:{region}:{account}:secret:{name}"),
                    json_key: unset(key),
                    version_stage: unset(stage),
                    version_id: unset(id),
                })),
                _ => Err(format!(
                    "after the secret name expected nothing or :<json-key>:<version-stage>:<version-id> (each may be empty), got {} fields in {value:?}",
                    fields.len() - 1
                )),
            }
        }
        other => Err(format!(
            "must name a Secrets Manager secret or an SSM parameter, got an ARN of service {other:?}"
        )),
    }
}

/// A parameter name with an optional `:<version>` or `:<label>` selector, as GetParameter
/// and GetParameters take it.
pub fn parameter_ref(value: &str) -> Result<ParameterRef, String> {
    let (name, selector) = match value.split_once(':') {
        None => (value, None),
        Some((name, "")) => return Err(format!("empty version or label after {name:?}")),
        Some((name, selector)) => (
            name,
            Some(match selector.parse::<u64>() {
                Ok(version) => Selector::Version(version),
                Err(_) => Selector::Label(selector.to_string()),
            }),
        ),
    };
    parameter_name(name)?;
    Ok(ParameterRef {
        name: name.to_string(),
        selector,
    })
}

/// SSM Parameter Store's name rules.
pub fn parameter_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("parameter name must not be empty".to_string());
    }
    let length = name.chars().count();
    if length > 1011 {
        return Err(format!(
            "parameter name must be at most 1011 characters, got {length}"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-/".contains(*c)))
    {
        return Err(format!(
            "an SSM parameter name may contain only letters, numbers, periods, hyphens, underscores and forward slashes, got {bad:?} in {name:?}"
        ));
    }
    if name.contains('/') {
        if !name.starts_with('/') {
            return Err(format!(
                "a hierarchical SSM parameter name must look like /path/name: it must start with /, got {name:?}"
            ));
        }
        if name.ends_with('/') || name.contains("//") {
            return Err(format!(
                "a hierarchical SSM parameter name must look like /path/name: no level may be empty, got {name:?}"
            ));
        }
        let levels = name.matches('/').count();
        if levels > 15 {
            return Err(format!(
                "parameter name {name:?} has {levels} levels; a hierarchy may have at most 15"
            ));
        }
    }
    let first = name.trim_start_matches('/').to_ascii_lowercase();
    if first.starts_with("aws") || first.starts_with("ssm") {
        return Err(format!(
            "parameter name {name:?} can't be prefixed with \"aws\" or \"ssm\" (case-insensitive)"
        ));
    }
    Ok(())
}

/// Secrets Manager's name rules: 1 to 512 of letters, digits and `/_+=.@-`.
pub fn secret_name(name: &str) -> Result<(), String> {
    let length = name.chars().count();
    if !(1..=512).contains(&length) {
        return Err(format!(
            "a secret name must be 1 to 512 characters, got {length}"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/_+=.@-".contains(*c)))
    {
        return Err(format!(
            "a secret name may contain only letters, numbers and the symbols /_+=.@-, got {bad:?} in {name:?}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str =
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/dev/DATABASE-AbCdEf";

    fn secret(value: &str) -> SecretRef {
        match parse(value) {
            Ok(Source::SecretsManager(secret)) => secret,
            other => panic!("{value}: {other:?}"),
        }
    }

    fn parameter(value: &str) -> ParameterRef {
        match parse(value) {
            Ok(Source::Ssm(parameter)) => parameter,
            other => panic!("{value}: {other:?}"),
        }
    }

    #[test]
    fn a_whole_secret_is_asked_for_by_its_arn() {
        assert_eq!(
            secret(ARN),
            SecretRef {
                secret_id: ARN.into(),
                json_key: None,
                version_stage: None,
                version_id: None
            }
        );
    }

    #[test]
    fn a_json_key_narrows_with_empty_parts_unset() {
        let narrowed = secret(&format!("{ARN}:DATABASE_PASSWORD::"));
        assert_eq!(narrowed.secret_id, ARN);
        assert_eq!(narrowed.json_key.as_deref(), Some("DATABASE_PASSWORD"));
        assert_eq!(narrowed.version_stage, None);
        assert_eq!(narrowed.version_id, None);
        let staged = secret(&format!("{ARN}::AWSPREVIOUS:"));
        assert_eq!(staged.json_key, None);
        assert_eq!(staged.version_stage.as_deref(), Some("AWSPREVIOUS"));
        let pinned = secret(&format!("{ARN}:k::0123456789abcdef0123456789abcdef"));
        assert_eq!(
            pinned.version_id.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
    }

    #[test]
    fn any_other_number_of_parts_is_refused() {
        for tail in [":k", ":k:", ":k:AWSCURRENT:id:extra"] {
            let error = parse(&format!("{ARN}{tail}")).unwrap_err();
            assert!(error.contains("after the secret name"), "{tail}: {error}");
        }
    }

    #[test]
    fn ssm_names_and_arns_name_the_same_parameter() {
        assert_eq!(parameter("/app/db").name, "/app/db");
        assert_eq!(
            parameter("arn:aws:ssm:us-east-1:123456789012:parameter/app/db").name,
            "/app/db"
        );
        assert_eq!(
            parameter("arn:aws:ssm:us-east-1:123456789012:parameter/db").name,
            "db"
        );
        assert_eq!(parameter("/app/db:3").selector, Some(Selector::Version(3)));
        assert_eq!(
            parameter("db:live").selector,
            Some(Selector::Label("live".into()))
        );
    }

    #[test]
    fn malformed_sources_say_what_is_wrong() {
        for (value, says) in [
            ("", "required"),
            ("arn:aws:s3:::bucket/key", "malformed ARN"),
            (
                "arn:aws:sqs:us-east-1:123456789012:queue",
                "service \"sqs\"",
            ),
            (
                "arn:aws:ssm:us-east-1:123456789012:document/x",
                "parameter/<name>",
            ),
            (
                "arn:aws:secretsmanager:us-east-1:123456789012:db",
                "secret:<name>",
            ),
            (
                "arn:aws:secretsmanager:us-east-1:1234:secret:db",
                "12-digit",
            ),
            ("app/db", "must start with /"),
            ("db:", "empty version"),
        ] {
            let error = parse(value).unwrap_err();
            assert!(error.contains(says), "{value:?}: {error}");
        }
    }

    #[test]
    fn ssm_name_rules() {
        for good in ["db", "/a/b", "/a.b-c_d/e", "a.b"] {
            assert_eq!(parameter_name(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("a/b", "must start with /"),
            ("/a/", "no level may be empty"),
            ("/a//b", "no level may be empty"),
            ("/a b", "got ' '"),
            ("aws-thing", "can't be prefixed"),
            ("/SSM/x", "can't be prefixed"),
            (&"/a".repeat(16), "at most 15"),
            (&"a".repeat(1012), "at most 1011"),
        ] {
            let error = parameter_name(bad).unwrap_err();
            assert!(error.contains(says), "{bad:?}: {error}");
        }
    }

    #[test]
    fn secret_name_rules() {
        assert_eq!(secret_name("app/dev/DATABASE"), Ok(()));
        assert_eq!(secret_name("a+b=c.d@e-f_g"), Ok(()));
        assert!(secret_name("").is_err());
        assert!(secret_name("a b").is_err());
        assert!(secret_name(&"a".repeat(513)).is_err());
    }
}
