//! Tags on any resource, and where a service's or RunTask's tasks take theirs from
//! (propagateTags). Separate because every resource that carries tags (clusters, task
//! definitions, services, tasks, container instances) checks them the same way.

use super::check::{ensure, error, required, INVALID};
use crate::error::ApiError;
use crate::resources::Tag;
use std::collections::HashMap;

pub(super) const PROPAGATE_TAGS: &[&str] = &["TASK_DEFINITION", "SERVICE", "NONE"];
const MAX_TAGS: usize = 50;

/// Tags: at most 50 per resource, keys 1..=128, values 0..=256 chars, key must be present and
/// unique; keys with the `aws:` prefix are reserved.
pub fn tags(tags: &[Tag]) -> Result<(), ApiError> {
    ensure(
        tags.len() <= MAX_TAGS,
        INVALID,
        "tags",
        format_args!("at most {MAX_TAGS} tags per resource, got {}", tags.len()),
    )?;
    let mut seen = HashMap::new();
    for (i, tag) in tags.iter().enumerate() {
        let key_path = format!("tags[{i}].key");
        let key = required(INVALID, &key_path, tag.key.as_deref())?;
        let length = key.chars().count();
        ensure(
            length <= 128,
            INVALID,
            &key_path,
            format_args!("must be at most 128 characters, got {length}"),
        )?;
        // ECS reserves the prefix in any letter case.
        ensure(
            !key.get(..4)
                .is_some_and(|prefix| prefix.eq_ignore_ascii_case("aws:")),
            INVALID,
            &key_path,
            format_args!("the aws: prefix is reserved for AWS use, got {key:?}"),
        )?;
        if let Some(first) = seen.insert(key, i) {
            return Err(error(
                INVALID,
                &key_path,
                format_args!("duplicate tag key {key:?}, also used by tags[{first}]"),
            ));
        }
        if key == crate::agent::LOST_AFTER_TAG {
            crate::agent::parse_lost_after(tag.value.as_deref().unwrap_or(""))
                .map_err(|why| error(INVALID, format!("tags[{i}].value"), why))?;
        }
        if let Some(value) = &tag.value {
            let length = value.chars().count();
            ensure(
                length <= 256,
                INVALID,
                format!("tags[{i}].value"),
                format_args!("must be at most 256 characters, got {length}"),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
