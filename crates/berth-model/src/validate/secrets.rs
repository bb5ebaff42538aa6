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

/// Where a container may read a secret from (see [`crate::sources`]).
fn secret_source(value: &str) -> Result<(), String> {
    crate::sources::parse(value).map(drop)
}
