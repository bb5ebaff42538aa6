//! Attributes of load balancers and target groups: key-value pairs with ALB's defaults, read
//! from `Attributes.member.N.{Key,Value}` and each checked against what Berth does with it
//! while the request is read, so a Modify*Attributes handler only merges checked values.
//! A value for a feature Berth does not have is refused rather than stored, so a stored
//! attribute never promises behaviour that does not happen.

use super::common::Error;
use berth_aws::query::Params;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// `value` is a whole number in `range`.
pub fn number(key: &str, value: &str, range: RangeInclusive<i64>) -> Result<(), Error> {
    value
        .parse::<i64>()
        .ok()
        .filter(|n| range.contains(n))
        .map(drop)
        .ok_or_else(|| {
            Error::invalid_configuration(format!(
                "Attribute '{key}': '{value}' is not a number from {} to {}",
                range.start(),
                range.end()
            ))
        })
}

/// `value` is one of `allowed`.
pub fn choice(key: &str, value: &str, allowed: &[&str]) -> Result<(), Error> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(Error::invalid_configuration(format!(
            "Attribute '{key}': '{value}' is not supported; Berth accepts {}",
            allowed.join(", ")
        )))
    }
}

pub fn unknown(key: &str) -> Error {
    Error::invalid_configuration(format!("Attribute key '{key}' is not recognized"))
}

/// The `Attributes` of a Modify*Attributes request, each passed by `check`.
pub fn changes(
    p: &Params,
    check: fn(&str, &str) -> Result<(), Error>,
) -> Result<Vec<(String, String)>, Error> {
    let mut changes = Vec::new();
    for attribute in p
        .structures("Attributes")?
        .ok_or_else(|| Error::validation("Attributes: a required member is missing"))?
    {
        let key = attribute.required("Key")?;
        let value = attribute.string("Value")?.unwrap_or("");
        check(key, value)?;
        changes.push((key.to_string(), value.to_string()));
    }
    Ok(changes)
}

/// A Describe*Attributes or Modify*Attributes answer.
pub fn answer(attributes: &BTreeMap<String, String>) -> Value {
    let list: Vec<Value> = attributes
        .iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect();
    json!({ "Attributes": list })
}
