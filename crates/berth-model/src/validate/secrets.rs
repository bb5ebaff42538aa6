//! Secrets a container reads into its environment, and a log driver's secretOptions: unique
//! names, and sources that are SSM parameters (by name or ARN) or Secrets Manager secrets
//! (by ARN, optionally narrowed to a JSON key and version). Separate because both lists
//! follow the same rules, and a source has a grammar of its own.

use super::check::{ensure, error, Check, CLIENT};
use crate::resources::Secret;
use std::collections::HashMap;

pub(super) fn secrets(at: &str, list: &[Secret]) -> Check {
    let mut seen = HashMap::new();
    for (k, secret) in list.iter().enumerate() {
        let name_path = format!("{at}[{k}].name");
        ensure(
            !secret.name.is_empty(),
            CLIENT,
            &name_path,
            "must not be empty",
        )?;
        if let Some(first) = seen.insert(secret.name.as_str(), k) {
            return Err(error(
                CLIENT,
                &name_path,
                format_args!(
                    "duplicate secret name {:?}, also used by {at}[{first}]",
                    secret.name
                ),
            ));
        }
        secret_source(&secret.value_from)
            .map_err(|reason| error(CLIENT, format_args!("{at}[{k}].valueFrom"), reason))?;
    }
    Ok(())
}

/// Where a container may read a secret from: an SSM parameter, by name or ARN, or a Secrets
/// Manager secret by ARN, optionally narrowed to `:<json-key>:<version-stage>:<version-id>`.
fn secret_source(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("required".to_string());
    }
    let length = value.chars().count();
    if length > 2048 {
        return Err(format!("must be at most 2048 characters, got {length}"));
    }
    let Some(arn) = value.strip_prefix("arn:") else {
        return ssm_parameter_name(value);
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
        // `parameter/a/b` names the parameter `/a/b`, and `parameter/a` names `a`.
        "ssm" => match resource.strip_prefix("parameter") {
            Some(name) if name.len() > 1 && name.starts_with('/') => ssm_parameter_name(name),
            _ => Err(format!("an SSM ARN must end in parameter/<name>, got {value:?}")),
        },
        "secretsmanager" => {
            let Some(rest) = resource.strip_prefix("secret:") else {
                return Err(format!("a Secrets Manager ARN must end in secret:<name>, got {value:?}"));
            };
            let fields: Vec<&str> = rest.split(':').collect();
            let name = fields[0];
            if name.is_empty()
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
            {
                return Err(format!("the Secrets Manager ARN names no valid secret: {value:?}"));
            }
            match fields.len() {
                1 | 4 => Ok(()),
                n => Err(format!(
                    "after the secret name expected nothing or :<json-key>:<version-stage>:<version-id> (each may be empty), got {} fields in {value:?}",
                    n - 1
                )),
            }
        }
        other => Err(format!(
            "must name a Secrets Manager secret or an SSM parameter, got an ARN of service {other:?}"
        )),
    }
}

fn ssm_parameter_name(name: &str) -> Result<(), String> {
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
    {
        return Err(format!(
            "an SSM parameter name may contain only letters, numbers, periods, hyphens, underscores and forward slashes, got {name:?}"
        ));
    }
    if name.contains('/') && (!name.starts_with('/') || name.ends_with('/') || name.contains("//"))
    {
        return Err(format!(
            "a hierarchical SSM parameter name must look like /path/name, got {name:?}"
        ));
    }
    Ok(())
}
