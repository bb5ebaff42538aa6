//! A secret as the store keeps it, and how a `SecretId` finds one: by name, by full ARN
//! (name and the six characters Berth added), or by partial ARN (name alone).
//!
//! A secret scheduled for deletion stays until its window ends; from then on it is as gone
//! as if it were purged, and the controller's next round purges it with its sealed values
//! (see [`purge_expired`]).

use crate::call::{Call, Fault};
use berth_secrets::stages::Versions;
use berth_secrets::{OpenError, Sealed, Vault};
use berth_store::Collection;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    String,
    Binary,
}

/// One version's value, sealed for its secret's ARN and its version id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedValue {
    pub kind: Kind,
    pub sealed: Sealed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredTag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredSecret {
    pub arn: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<StoredTag>,
    pub created: f64,
    pub last_changed: f64,
    /// When DeleteSecret scheduled it, and when it goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<f64>,
    pub versions: Versions<SealedValue>,
}

impl StoredSecret {
    /// Past its recovery window: gone, whatever the store still holds.
    pub fn expired(&self, now: f64) -> bool {
        self.deletion_date.is_some_and(|at| at <= now)
    }

    pub fn scheduled_for_deletion(&self) -> bool {
        self.deleted.is_some()
    }
}

/// A secret scheduled for deletion, and when its recovery window ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Purge {
    pub name: String,
    pub at: f64,
}

pub fn schedule_purge(call: &Call<'_>, name: &str, at: f64) -> Result<(), Fault> {
    let purge = Purge {
        name: name.to_string(),
        at,
    };
    call.put(Collection::SecretDeletions, name, "", &purge)
}

pub fn cancel_purge(call: &Call<'_>, name: &str) -> Result<(), Fault> {
    call.remove(Collection::SecretDeletions, name).map(drop)
}

/// Removes every secret whose recovery window has ended, sealed values and all. Reads the
/// secrets scheduled for deletion only; returns how many were purged.
pub fn purge_expired(call: &Call<'_>) -> Result<usize, Fault> {
    let now = call.now();
    let mut purged = 0;
    for purge in call.list::<Purge>(Collection::SecretDeletions, None)? {
        if purge.at > now {
            continue;
        }
        // The name may hold a new secret by now, which stays.
        if call.remove_if(Collection::Secrets, &purge.name, |s: &StoredSecret| {
            s.expired(now)
        })? {
            purged += 1;
        }
        cancel_purge(call, &purge.name)?;
    }
    Ok(purged)
}

/// What a sealed value is bound to: its secret and its version, so that a value copied onto
/// another secret or version does not open.
pub fn aad(arn: &str, version_id: &str) -> Vec<u8> {
    format!("secretsmanager\0{arn}\0{version_id}").into_bytes()
}

/// The name a `SecretId` asks for, and the ARN it must have when it is a full ARN.
pub fn key_of(call: &Call<'_>, secret_id: &str) -> Result<Option<String>, Fault> {
    let Some(name) = arn_name(secret_id) else {
        return Ok(Some(secret_id.to_string()));
    };
    // A full ARN ends in the six characters Berth added to the name; a partial one does not.
    if let Some(base) = name.get(..name.len().saturating_sub(7)) {
        if name.len() > 7 && name.as_bytes()[name.len() - 7] == b'-' {
            if let Some(secret) = call.get::<StoredSecret>(Collection::Secrets, base)? {
                if secret.arn == secret_id {
                    return Ok(Some(base.to_string()));
                }
            }
        }
    }
    match call.get::<StoredSecret>(Collection::Secrets, name)? {
        Some(secret) if secret.arn.starts_with(&format!("{secret_id}-")) => {
            Ok(Some(name.to_string()))
        }
        _ => Ok(None),
    }
}

/// The secret a `SecretId` names, unless there is none or its window has passed.
pub fn find(call: &Call<'_>, secret_id: &str) -> Result<Option<StoredSecret>, Fault> {
    let Some(key) = key_of(call, secret_id)? else {
        return Ok(None);
    };
    Ok(call
        .get::<StoredSecret>(Collection::Secrets, &key)?
        .filter(|secret| !secret.expired(call.now())))
}

/// The name part of a Secrets Manager ARN (`…:secret:<name>`), `None` for anything else.
fn arn_name(secret_id: &str) -> Option<&str> {
    let rest = secret_id.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let (_, service, _, _, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (service == "secretsmanager")
        .then(|| resource.strip_prefix("secret:"))
        .flatten()
}

/// Re-seals every version's data key from `from`'s master key to `to`'s (the values'
/// ciphertexts stay as they are) and writes the secrets back, or writes nothing if any value
/// does not open. Returns how many values were re-sealed.
pub fn rewrap_all(
    call: &Call<'_>,
    from: &Vault,
    to: &Vault,
) -> Result<Result<usize, OpenError>, Fault> {
    let mut rewrapped = Vec::new();
    let mut count = 0;
    for mut secret in call.list::<StoredSecret>(Collection::Secrets, None)? {
        let arn = secret.arn.clone();
        let outcome = secret.versions.try_for_each_mut(|version| {
            version.value.sealed =
                from.rewrap(&version.value.sealed, &aad(&arn, &version.id), to)?;
            count += 1;
            Ok(())
        });
        if let Err(error) = outcome {
            return Ok(Err(error));
        }
        rewrapped.push(secret);
    }
    for secret in &rewrapped {
        call.put(Collection::Secrets, &secret.name, "", secret)?;
    }
    Ok(Ok(count))
}
