//! Each action's input, with what Secrets Manager checks of it before looking at any secret
//! (lengths and ranges from botocore's `secretsmanager` model).

use super::error::{Error, SecretsManager};
use crate::json_api::Request;
use berth_model::agent::SecretValue;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    pub key: String,
    #[serde(default)]
    pub values: Vec<String>,
}

/// A new value: a string, or bytes (base64 on the wire), never both.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NewValue {
    pub secret_string: Option<SecretValue>,
    pub secret_binary: Option<SecretValue>,
}

impl NewValue {
    fn check(&self) -> Result<(), Error> {
        if self.secret_string.is_some() && self.secret_binary.is_some() {
            return Err(Error::invalid_parameter(
                "You can't specify both a binary secret value and a string secret value in the same secret.",
            ));
        }
        for (member, value) in [
            ("SecretString", &self.secret_string),
            ("SecretBinary", &self.secret_binary),
        ] {
            if let Some(value) = value {
                let length = value.expose().len();
                if length == 0 || length > 65536 {
                    return Err(Error::invalid_parameter(format!(
                        "{member} must be 1 to 65536 bytes, got {length}"
                    )));
                }
            }
        }
        if let Some(binary) = &self.secret_binary {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(binary.expose())
                .map_err(|_| Error::invalid_parameter("SecretBinary must be base64"))?;
        }
        Ok(())
    }

    pub fn is_given(&self) -> bool {
        self.secret_string.is_some() || self.secret_binary.is_some()
    }
}

fn check_token(token: &Option<String>) -> Result<(), Error> {
    match token {
        Some(token) if !(32..=64).contains(&token.chars().count()) => {
            Err(Error::invalid_parameter(format!(
                "ClientRequestToken must be 32 to 64 characters, got {}",
                token.chars().count()
            )))
        }
        _ => Ok(()),
    }
}

fn check_secret_id(id: &str) -> Result<(), Error> {
    if id.is_empty() || id.chars().count() > 2048 {
        return Err(Error::invalid_parameter(
            "SecretId must be 1 to 2048 characters",
        ));
    }
    Ok(())
}

fn check_description(description: &Option<String>) -> Result<(), Error> {
    match description {
        Some(d) if d.chars().count() > 2048 => Err(Error::invalid_parameter(
            "Description must be at most 2048 characters",
        )),
        _ => Ok(()),
    }
}

fn check_tags(tags: &[Tag]) -> Result<(), Error> {
    let pairs = tags.iter().map(|t| (t.key.as_str(), t.value.as_str()));
    match crate::json_api::tag_problem("secret", pairs) {
        Some(problem) => Err(Error::invalid_parameter(problem)),
        None => Ok(()),
    }
}

fn check_filters(filters: &[Filter]) -> Result<(), Error> {
    const KEYS: [&str; 7] = [
        "description",
        "name",
        "tag-key",
        "tag-value",
        "primary-region",
        "owning-service",
        "all",
    ];
    if filters.len() > 10 {
        return Err(Error::invalid_parameter("at most 10 filters"));
    }
    for filter in filters {
        if !KEYS.contains(&filter.key.as_str()) {
            return Err(Error::invalid_parameter(format!(
                "filter key {:?} is not one of {}",
                filter.key,
                KEYS.join(", ")
            )));
        }
        if filter.values.is_empty() || filter.values.len() > 10 {
            return Err(Error::invalid_parameter(format!(
                "filter {:?} needs 1 to 10 values",
                filter.key
            )));
        }
    }
    Ok(())
}

fn check_max_results(max: Option<i64>, limit: i64) -> Result<(), Error> {
    match max {
        Some(n) if !(1..=limit).contains(&n) => Err(Error::invalid_parameter(format!(
            "MaxResults must be 1 to {limit}, got {n}"
        ))),
        _ => Ok(()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSecret {
    pub name: String,
    pub client_request_token: Option<String>,
    pub description: Option<String>,
    pub kms_key_id: Option<String>,
    #[serde(flatten)]
    pub value: NewValue,
    #[serde(default)]
    pub tags: Vec<Tag>,
    pub add_replica_regions: Option<Vec<serde_json::Value>>,
}

impl Request<SecretsManager> for CreateSecret {
    fn check(&self) -> Result<(), Error> {
        berth_model::sources::secret_name(&self.name).map_err(Error::invalid_parameter)?;
        if self
            .add_replica_regions
            .as_ref()
            .is_some_and(|r| !r.is_empty())
        {
            return Err(Error::invalid_request(
                "Berth keeps secrets in one region and does not replicate them",
            ));
        }
        check_token(&self.client_request_token)?;
        check_description(&self.description)?;
        check_tags(&self.tags)?;
        self.value.check()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetSecretValue {
    pub secret_id: String,
    pub version_id: Option<String>,
    pub version_stage: Option<String>,
}

impl Request<SecretsManager> for GetSecretValue {
    fn check(&self) -> Result<(), Error> {
        check_secret_id(&self.secret_id)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetSecretValue {
    pub secret_id_list: Option<Vec<String>>,
    pub filters: Option<Vec<Filter>>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

impl Request<SecretsManager> for BatchGetSecretValue {
    fn check(&self) -> Result<(), Error> {
        match (&self.secret_id_list, &self.filters) {
            (Some(_), Some(_)) => Err(Error::invalid_parameter(
                "Either provide SecretIdList or Filters, not both.",
            )),
            (None, None) => Err(Error::invalid_parameter(
                "Either SecretIdList or Filters must be provided.",
            )),
            (Some(ids), None) => {
                if ids.is_empty() || ids.len() > 20 {
                    return Err(Error::invalid_parameter(format!(
                        "SecretIdList must name 1 to 20 secrets, got {}",
                        ids.len()
                    )));
                }
                if self.max_results.is_some() {
                    return Err(Error::invalid_parameter(
                        "MaxResults goes with Filters, not with SecretIdList",
                    ));
                }
                ids.iter().try_for_each(|id| check_secret_id(id))
            }
            (None, Some(filters)) => {
                check_filters(filters)?;
                check_max_results(self.max_results, 20)
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutSecretValue {
    pub secret_id: String,
    pub client_request_token: Option<String>,
    #[serde(flatten)]
    pub value: NewValue,
    pub version_stages: Option<Vec<String>>,
    pub rotation_token: Option<String>,
}

impl Request<SecretsManager> for PutSecretValue {
    fn check(&self) -> Result<(), Error> {
        check_secret_id(&self.secret_id)?;
        check_token(&self.client_request_token)?;
        self.value.check()?;
        if !self.value.is_given() {
            return Err(Error::invalid_parameter(
                "You must provide either SecretString or SecretBinary.",
            ));
        }
        match &self.version_stages {
            Some(stages) if stages.is_empty() || stages.len() > 20 => Err(
                Error::invalid_parameter("VersionStages must hold 1 to 20 labels"),
            ),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateSecret {
    pub secret_id: String,
    pub client_request_token: Option<String>,
    pub description: Option<String>,
    pub kms_key_id: Option<String>,
    #[serde(flatten)]
    pub value: NewValue,
}

impl Request<SecretsManager> for UpdateSecret {
    fn check(&self) -> Result<(), Error> {
        check_secret_id(&self.secret_id)?;
        check_token(&self.client_request_token)?;
        check_description(&self.description)?;
        self.value.check()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeSecret {
    pub secret_id: String,
}

impl Request<SecretsManager> for DescribeSecret {
    fn check(&self) -> Result<(), Error> {
        check_secret_id(&self.secret_id)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSecrets {
    #[serde(default)]
    pub include_planned_deletion: bool,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
    #[serde(default)]
    pub filters: Vec<Filter>,
    pub sort_order: Option<String>,
    pub sort_by: Option<String>,
}

impl Request<SecretsManager> for ListSecrets {
    fn check(&self) -> Result<(), Error> {
        check_filters(&self.filters)?;
        check_max_results(self.max_results, 100)?;
        if let Some(order) = &self.sort_order {
            if order != "asc" && order != "desc" {
                return Err(Error::invalid_parameter(format!(
                    "SortOrder must be asc or desc, got {order:?}"
                )));
            }
        }
        if let Some(by) = &self.sort_by {
            const BY: [&str; 4] = [
                "created-date",
                "last-accessed-date",
                "last-changed-date",
                "name",
            ];
            if !BY.contains(&by.as_str()) {
                return Err(Error::invalid_parameter(format!(
                    "SortBy must be one of {}, got {by:?}",
                    BY.join(", ")
                )));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSecretVersionIds {
    pub secret_id: String,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
    #[serde(default)]
    pub include_deprecated: bool,
}

impl Request<SecretsManager> for ListSecretVersionIds {
    fn check(&self) -> Result<(), Error> {
        check_secret_id(&self.secret_id)?;
        check_max_results(self.max_results, 100)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateSecretVersionStage {
    pub secret_id: String,
    pub version_stage: String,
    pub remove_from_version_id: Option<String>,
    pub move_to_version_id: Option<String>,
}

impl Request<SecretsManager> for UpdateSecretVersionStage {
    fn check(&self) -> Result<(), Error> {
        check_secret_id(&self.secret_id)?;
        if self.remove_from_version_id.is_none() && self.move_to_version_id.is_none() {
            return Err(Error::invalid_parameter(
                "give RemoveFromVersionId, MoveToVersionId or both",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteSecret {
    pub secret_id: String,
    pub recovery_window_in_days: Option<i64>,
    pub force_delete_without_recovery: Option<bool>,
}

impl Request<SecretsManager> for DeleteSecret {
    fn check(&self) -> Result<(), Error> {
        check_secret_id(&self.secret_id)?;
        if self.recovery_window_in_days.is_some()
            && self.force_delete_without_recovery == Some(true)
        {
            return Err(Error::invalid_parameter(
                "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
            ));
        }
        match self.recovery_window_in_days {
            Some(days) if !(7..=30).contains(&days) => Err(Error::invalid_parameter(format!(
                "RecoveryWindowInDays must be between 7 and 30 days, got {days}"
            ))),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestoreSecret {
    pub secret_id: String,
}

impl Request<SecretsManager> for RestoreSecret {
    fn check(&self) -> Result<(), Error> {
        check_secret_id(&self.secret_id)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResource {
    pub secret_id: String,
    pub tags: Vec<Tag>,
}

impl Request<SecretsManager> for TagResource {
    fn check(&self) -> Result<(), Error> {
        check_secret_id(&self.secret_id)?;
        check_tags(&self.tags)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResource {
    pub secret_id: String,
    pub tag_keys: Vec<String>,
}

impl Request<SecretsManager> for UntagResource {
    fn check(&self) -> Result<(), Error> {
        check_secret_id(&self.secret_id)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRandomPassword {
    pub password_length: Option<i64>,
    pub exclude_characters: Option<String>,
    pub exclude_numbers: Option<bool>,
    pub exclude_punctuation: Option<bool>,
    pub exclude_uppercase: Option<bool>,
    pub exclude_lowercase: Option<bool>,
    pub include_space: Option<bool>,
    pub require_each_included_type: Option<bool>,
}

impl Request<SecretsManager> for GetRandomPassword {}
