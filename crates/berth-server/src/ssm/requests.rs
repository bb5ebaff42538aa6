//! Each action's input, with what Parameter Store checks of it before looking at any
//! parameter (limits from botocore's `ssm` model).

use super::error::{Error, Ssm};
use crate::json_api::Request;
use berth_model::agent::SecretValue;
use berth_model::sources;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum ParameterType {
    String,
    StringList,
    SecureString,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StringFilter {
    pub key: String,
    pub option: Option<String>,
    #[serde(default)]
    pub values: Vec<String>,
}

fn check_name(name: &str) -> Result<(), Error> {
    sources::parameter_name(name).map_err(Error::validation)
}

/// A name as the getters take it: a name or an ARN, with an optional selector.
fn check_reference(reference: &str) -> Result<(), Error> {
    if reference.starts_with("arn:") {
        return match sources::parse(reference) {
            Ok(sources::Source::Ssm(_)) => Ok(()),
            Ok(_) => Err(Error::validation(format!(
                "{reference:?} is not an SSM parameter ARN"
            ))),
            Err(e) => Err(Error::validation(e)),
        };
    }
    sources::parameter_ref(reference)
        .map(drop)
        .map_err(Error::validation)
}

fn check_max(max: Option<i64>, low: i64, high: i64) -> Result<(), Error> {
    match max {
        Some(n) if !(low..=high).contains(&n) => Err(Error::validation(format!(
            "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value between {low} and {high}"
        ))),
        _ => Ok(()),
    }
}

fn check_filters(filters: &[StringFilter]) -> Result<(), Error> {
    for filter in filters {
        let known = matches!(
            filter.key.as_str(),
            "Name" | "Type" | "Path" | "KeyId" | "Tier" | "DataType"
        ) || filter.key.starts_with("tag:");
        if !known {
            return Err(Error::new(
                "InvalidFilterKey",
                format!("Berth filters parameters by Name, Type, Path, KeyId, Tier, DataType or tag:<key>, not {:?}", filter.key),
            ));
        }
        if let Some(option) = &filter.option {
            if !matches!(
                option.as_str(),
                "Equals" | "BeginsWith" | "Recursive" | "OneLevel"
            ) {
                return Err(Error::new(
                    "InvalidFilterOption",
                    format!(
                        "filter option {option:?} is not Equals, BeginsWith, Recursive or OneLevel"
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutParameter {
    pub name: String,
    pub description: Option<String>,
    pub value: SecretValue,
    #[serde(rename = "Type")]
    pub kind: Option<ParameterType>,
    pub key_id: Option<String>,
    #[serde(default)]
    pub overwrite: bool,
    pub allowed_pattern: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    pub tier: Option<String>,
    pub policies: Option<String>,
    pub data_type: Option<String>,
}

impl Request<Ssm> for PutParameter {
    fn check(&self) -> Result<(), Error> {
        if self.name.starts_with("arn:") {
            return Err(Error::validation(
                "PutParameter takes a parameter's name, not its ARN",
            ));
        }
        check_name(&self.name)?;
        let length = self.value.expose().chars().count();
        if length == 0 {
            return Err(Error::validation("Value must not be empty"));
        }
        let limit = if self.tier.as_deref() == Some("Advanced") {
            8192
        } else {
            4096
        };
        if length > limit {
            return Err(Error::validation(format!(
                "a {} parameter's value must be at most {limit} characters, got {length}",
                self.tier.as_deref().unwrap_or("Standard")
            )));
        }
        if self
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 1024)
        {
            return Err(Error::validation(
                "Description must be at most 1024 characters",
            ));
        }
        if self.overwrite && !self.tags.is_empty() {
            return Err(Error::validation(
                "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.",
            ));
        }
        if let Some(tier) = &self.tier {
            if !matches!(
                tier.as_str(),
                "Standard" | "Advanced" | "Intelligent-Tiering"
            ) {
                return Err(Error::validation(format!(
                    "Tier must be Standard, Advanced or Intelligent-Tiering, got {tier:?}"
                )));
            }
        }
        if let Some(data_type) = &self.data_type {
            if data_type != "text" {
                return Err(Error::validation(format!(
                    "Berth keeps parameters of DataType text only, not {data_type:?}"
                )));
            }
        }
        if self.policies.is_some() {
            return Err(Error::new(
                "InvalidPolicyTypeException",
                "Berth does not apply parameter policies (expiration and notification need Advanced tier services)",
            ));
        }
        if let Some(pattern) = &self.allowed_pattern {
            regex::Regex::new(pattern).map_err(|e| {
                Error::new(
                    "InvalidAllowedPatternException",
                    format!("AllowedPattern is not a regular expression: {e}"),
                )
            })?;
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParameter {
    pub name: String,
    #[serde(default)]
    pub with_decryption: bool,
}

impl Request<Ssm> for GetParameter {
    fn check(&self) -> Result<(), Error> {
        check_reference(&self.name)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParameters {
    pub names: Vec<String>,
    #[serde(default)]
    pub with_decryption: bool,
}

impl Request<Ssm> for GetParameters {
    fn check(&self) -> Result<(), Error> {
        if self.names.is_empty() || self.names.len() > 10 {
            return Err(Error::validation(format!(
                "Names must hold 1 to 10 names, got {}",
                self.names.len()
            )));
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParametersByPath {
    pub path: String,
    #[serde(default)]
    pub recursive: bool,
    #[serde(default)]
    pub parameter_filters: Vec<StringFilter>,
    #[serde(default)]
    pub with_decryption: bool,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

impl Request<Ssm> for GetParametersByPath {
    fn check(&self) -> Result<(), Error> {
        if self.path != "/" {
            if !self.path.starts_with('/') {
                return Err(Error::validation(format!(
                    "The parameter path {:?} must be a fully qualified path: it must start with /",
                    self.path
                )));
            }
            check_name(self.path.trim_end_matches('/'))?;
        }
        check_filters(&self.parameter_filters)?;
        check_max(self.max_results, 1, 10)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteParameter {
    pub name: String,
}

impl Request<Ssm> for DeleteParameter {
    fn check(&self) -> Result<(), Error> {
        check_reference(&self.name)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteParameters {
    pub names: Vec<String>,
}

impl Request<Ssm> for DeleteParameters {
    fn check(&self) -> Result<(), Error> {
        if self.names.is_empty() || self.names.len() > 10 {
            return Err(Error::validation(format!(
                "Names must hold 1 to 10 names, got {}",
                self.names.len()
            )));
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeParameters {
    pub filters: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    pub parameter_filters: Vec<StringFilter>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
    #[serde(default)]
    pub shared: bool,
}

impl Request<Ssm> for DescribeParameters {
    fn check(&self) -> Result<(), Error> {
        if self.filters.as_ref().is_some_and(|f| !f.is_empty()) {
            return Err(Error::validation(
                "Berth takes ParameterFilters, not the older Filters",
            ));
        }
        check_filters(&self.parameter_filters)?;
        check_max(self.max_results, 1, 50)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParameterHistory {
    pub name: String,
    #[serde(default)]
    pub with_decryption: bool,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

impl Request<Ssm> for GetParameterHistory {
    fn check(&self) -> Result<(), Error> {
        check_reference(&self.name)?;
        check_max(self.max_results, 1, 50)
    }
}
