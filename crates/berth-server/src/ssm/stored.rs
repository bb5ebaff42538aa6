//! A parameter as the store keeps it: every version, each value sealed for its name and
//! version. Keyed by name and scoped by the first level of its hierarchy (`/app` for
//! `/app/dev/db`, the empty scope for names without one), so that a path query reads only its
//! own subtree.

use super::error::Error;
use super::requests::ParameterType;
use crate::call::{Call, Fault};
use berth_model::sources::{self, ParameterRef, Selector, Source};
use berth_secrets::{OpenError, Sealed, Vault};
use berth_store::Collection;
use serde::{Deserialize, Serialize};

/// How many versions a parameter keeps.
pub const MAX_VERSIONS: usize = 100;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredVersion {
    pub version: u64,
    #[serde(rename = "type")]
    pub kind: ParameterType,
    pub sealed: Sealed,
    pub last_modified: f64,
    pub last_modified_user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_pattern: Option<String>,
    pub tier: String,
    #[serde(default)]
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredParameter {
    pub name: String,
    pub arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// Oldest first; the last is the parameter's value.
    pub versions: Vec<StoredVersion>,
}

impl StoredParameter {
    pub fn latest(&self) -> &StoredVersion {
        self.versions
            .last()
            .expect("a stored parameter has at least one version")
    }

    pub fn version(&self, selector: Option<&Selector>) -> Option<&StoredVersion> {
        match selector {
            None => Some(self.latest()),
            Some(Selector::Version(n)) => self.versions.iter().find(|v| v.version == *n),
            Some(Selector::Label(label)) => self.versions.iter().find(|v| v.labels.contains(label)),
        }
    }
}

/// The scope a parameter is stored under: the first level of its hierarchy.
pub fn scope_of(name: &str) -> &str {
    match name.strip_prefix('/') {
        Some(rest) => &name[..rest.find('/').map_or(name.len(), |i| i + 1)],
        None => "",
    }
}

/// A parameter's ARN: `…:parameter/app/db` for `/app/db`, `…:parameter/db` for `db`.
pub fn arn(region: &str, account: &str, name: &str) -> String {
    format!(
        "arn:aws:ssm:{region}:{account}:parameter/{}",
        name.strip_prefix('/').unwrap_or(name)
    )
}

/// What a sealed value is bound to: its parameter and version.
pub fn aad(name: &str, version: u64) -> Vec<u8> {
    format!("ssm\0{name}\0{version}").into_bytes()
}

/// A name or ARN as the getters take it, with its selector.
pub fn reference(value: &str) -> Result<ParameterRef, Error> {
    if value.starts_with("arn:") {
        match sources::parse(value) {
            Ok(Source::Ssm(reference)) => Ok(reference),
            Ok(_) => Err(Error::validation(format!(
                "{value:?} is not an SSM parameter ARN"
            ))),
            Err(e) => Err(Error::validation(e)),
        }
    } else {
        sources::parameter_ref(value).map_err(Error::validation)
    }
}

pub fn find(call: &Call<'_>, name: &str) -> Result<Option<StoredParameter>, Fault> {
    call.get(Collection::Parameters, name)
}

/// Re-seals every version's data key from `from`'s master key to `to`'s and writes the
/// parameters back, or writes nothing if any value does not open. Returns how many values
/// were re-sealed.
pub fn rewrap_all(
    call: &Call<'_>,
    from: &Vault,
    to: &Vault,
) -> Result<Result<usize, OpenError>, Fault> {
    let mut rewrapped = Vec::new();
    let mut count = 0;
    for mut parameter in call.list::<StoredParameter>(Collection::Parameters, None)? {
        for version in &mut parameter.versions {
            match from.rewrap(&version.sealed, &aad(&parameter.name, version.version), to) {
                Ok(sealed) => version.sealed = sealed,
                Err(error) => return Ok(Err(error)),
            }
            count += 1;
        }
        rewrapped.push(parameter);
    }
    for parameter in &rewrapped {
        call.put(
            Collection::Parameters,
            &parameter.name,
            scope_of(&parameter.name),
            parameter,
        )?;
    }
    Ok(Ok(count))
}
