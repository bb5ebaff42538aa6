//! Secrets whose current value changed, as a note the controller acts on: ECS containers read
//! a secret once, at start, so tasks that started before a change keep the older value until
//! they are replaced. Writes that move a secret's `AWSCURRENT` or a parameter's latest version
//! leave a note here; the controller tells each service that uses it (and rolls those tagged
//! [`REDEPLOY_TAG`]) and removes the note. Kept in the store, so a restart between the write
//! and the controller's turn loses nothing.

use crate::call::{Call, Fault};
use berth_model::sources::{self, Source};
use berth_secrets::stages::CURRENT;
use berth_store::Collection;
use serde::{Deserialize, Serialize};

/// A service tagged with this, `true`, rolls onto a secret's new value by itself.
pub const REDEPLOY_TAG: &str = "berth:redeploy-on-secret-change";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Changed {
    Secret { name: String, arn: String },
    Parameter { name: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretChange {
    pub changed: Changed,
    /// When the new value became current: tasks started before it hold an older one.
    pub at: f64,
}

impl Changed {
    fn key(&self) -> String {
        match self {
            Changed::Secret { name, .. } => format!("secret:{name}"),
            Changed::Parameter { name } => format!("parameter:{name}"),
        }
    }

    /// How a user recognises it in an event.
    pub fn describe(&self) -> String {
        match self {
            Changed::Secret { name, .. } => format!("secret {name}"),
            Changed::Parameter { name } => format!("parameter {name}"),
        }
    }

    /// Whether a container reading `value_from` reads this one's current value (one pinned
    /// to a version, a label or a stage other than `AWSCURRENT` does not change with it).
    pub fn is_read_by(&self, value_from: &str) -> bool {
        match (self, sources::parse(value_from)) {
            (Changed::Secret { name, arn }, Ok(Source::SecretsManager(reference))) => {
                let current = reference.version_id.is_none()
                    && reference
                        .version_stage
                        .as_deref()
                        .is_none_or(|s| s == CURRENT);
                let partial = arn.rsplit_once('-').map(|(partial, _)| partial);
                current
                    && (reference.secret_id == *arn
                        || Some(reference.secret_id.as_str()) == partial
                        || reference.secret_id == *name)
            }
            (Changed::Parameter { name }, Ok(Source::Ssm(reference))) => {
                reference.selector.is_none() && reference.name == *name
            }
            _ => false,
        }
    }
}

/// Leaves a note that `changed` has a new current value as of now.
pub fn record(call: &Call<'_>, changed: Changed) -> Result<(), Fault> {
    let key = changed.key();
    let change = SecretChange {
        changed,
        at: call.now(),
    };
    call.put(Collection::SecretChanges, &key, "", &change)
}

/// The notes waiting for the controller, with their keys.
pub fn pending(call: &Call<'_>) -> Result<Vec<(String, SecretChange)>, Fault> {
    Ok(call
        .list::<SecretChange>(Collection::SecretChanges, None)?
        .into_iter()
        .map(|change| (change.changed.key(), change))
        .collect())
}

/// Removes a note once acted on, unless a newer change replaced it meanwhile.
pub fn done(call: &Call<'_>, key: &str, change: &SecretChange) -> Result<(), Fault> {
    call.remove_if(Collection::SecretChanges, key, |stored: &SecretChange| {
        stored == change
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:000000000000:secret:app/db-AbCdEf";

    #[test]
    fn a_change_concerns_whoever_reads_the_current_value() {
        let secret = Changed::Secret {
            name: "app/db".into(),
            arn: ARN.into(),
        };
        let partial = "arn:aws:secretsmanager:us-east-1:000000000000:secret:app/db";
        for reads in [
            ARN.to_string(),
            partial.to_string(),
            format!("{ARN}:password::"),
            format!("{ARN}:password:AWSCURRENT:"),
        ] {
            assert!(secret.is_read_by(&reads), "{reads}");
        }
        for pinned in [
            format!("{ARN}:password:AWSPREVIOUS:"),
            format!("{ARN}::::"),
            format!("{ARN}:::0123456789abcdef0123456789abcdef"),
            "arn:aws:secretsmanager:us-east-1:000000000000:secret:app/other-AbCdEf".to_string(),
            "/app/db".to_string(),
        ] {
            assert!(!secret.is_read_by(&pinned), "{pinned}");
        }
        let parameter = Changed::Parameter {
            name: "/app/key".into(),
        };
        assert!(parameter.is_read_by("/app/key"));
        assert!(parameter.is_read_by("arn:aws:ssm:us-east-1:000000000000:parameter/app/key"));
        assert!(!parameter.is_read_by("/app/key:3"));
        assert!(!parameter.is_read_by("/app/key2"));
    }
}
