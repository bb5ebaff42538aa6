//! Clusters and the machines registered in them: a cluster's name, and the attributes a
//! container instance registers with. Separate because only the cluster and container
//! instance actions check them, never a task or service action.

use super::check::{ensure, error, identifier, required, Check, INVALID};
use crate::error::ApiError;
use crate::resources::Attribute;
use std::collections::HashMap;

/// Cluster name: up to 255 letters, numbers, hyphens, underscores.
pub fn cluster_name(name: &str) -> Result<(), ApiError> {
    identifier(INVALID, "clusterName", name)
}

/// Container instance attributes, by ECS's rules: names 1..=128 letters, digits, `-`, `_`,
/// `/`, `\` or `.`; values (optional) 1..=128 of those plus `@`, `:` and inner spaces; at
/// most one value per name, since placement constraints read an attribute by its name.
pub fn attributes(attributes: &[Attribute]) -> Check {
    let mut seen = HashMap::new();
    for (i, attribute) in attributes.iter().enumerate() {
        let name_path = format!("attributes[{i}].name");
        let name = required(INVALID, &name_path, Some(attribute.name.as_str()))?;
        ensure(
            name.chars().count() <= 128
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_/\\.".contains(c)),
            INVALID,
            &name_path,
            format_args!(
                "1 to 128 letters, digits, hyphens, underscores, slashes or periods, got {name:?}"
            ),
        )?;
        if let Some(first) = seen.insert(name, i) {
            return Err(error(
                INVALID,
                &name_path,
                format_args!("duplicate attribute {name:?}, also given as attributes[{first}]"),
            ));
        }
        if let Some(value) = &attribute.value {
            ensure(
                (1..=128).contains(&value.chars().count())
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_./\\@: ".contains(c))
                    && !value.starts_with(' ')
                    && !value.ends_with(' '),
                INVALID,
                format!("attributes[{i}].value"),
                format_args!(
                    "1 to 128 letters, digits, spaces or -_./\\@: characters, not starting or \
                     ending with a space, got {value:?}"
                ),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
