//! Rules as the store keeps them (with their targets and tags), their keys and ARNs, and
//! when a rule's schedule fires next.

use super::error::Error;
use super::requests::{RuleState, Target, DEFAULT_BUS};
use crate::call::Call;
use berth_scaling::schedule::{self, Schedule, Timing};
use berth_store::Collection;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredRule {
    pub name: String,
    pub arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_expression: Option<String>,
    /// Kept and answered back; Berth has no events to match it against, so it never fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_pattern: Option<String>,
    pub state: RuleState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    pub created_by: String,
    /// When the schedule was last set: a rate counts its periods from here.
    pub schedule_since: f64,
    #[serde(default)]
    pub targets: Vec<Target>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// When the schedule fires next; none while the rule is disabled or has no schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_firing: Option<f64>,
}

/// A rule's key: its event bus and name.
pub fn rule_key(name: &str) -> String {
    format!("{DEFAULT_BUS}|{name}")
}

impl StoredRule {
    pub fn key(&self) -> String {
        rule_key(&self.name)
    }

    /// When the rule fires first strictly after `after`: never while it is disabled or has
    /// no schedule. Schedules are read in UTC.
    pub fn next_firing_after(&self, after: f64) -> Option<f64> {
        if !self.state.enabled() {
            return None;
        }
        let parsed = Schedule::parse_rule(self.schedule_expression.as_deref()?).ok()?;
        let utc = schedule::zone(None).ok()?;
        schedule::next_after(
            &Timing {
                schedule: &parsed,
                zone: &utc,
                start: None,
                end: None,
                created: self.schedule_since,
            },
            after,
        )
    }

    /// The rule as DescribeRule and ListRules answer it.
    pub fn shown(&self, with_created_by: bool) -> Value {
        let mut answer = json!({
            "Name": self.name,
            "Arn": self.arn,
            "State": self.state,
            "EventBusName": DEFAULT_BUS,
        });
        for (member, value) in [
            ("ScheduleExpression", &self.schedule_expression),
            ("EventPattern", &self.event_pattern),
            ("Description", &self.description),
            ("RoleArn", &self.role_arn),
        ] {
            if let Some(value) = value {
                answer[member] = json!(value);
            }
        }
        if with_created_by {
            answer["CreatedBy"] = json!(self.created_by);
        }
        answer
    }
}

/// The rule a request names, or AWS's ResourceNotFoundException.
pub fn existing(call: &Call<'_>, name: &str) -> Result<StoredRule, Error> {
    call.get::<StoredRule>(Collection::EventRules, &rule_key(name))?
        .ok_or_else(|| Error::no_rule(name))
}

/// Changes the rule `name` as stored when the change is made, so that the controller's
/// firing, which moves the rule's next firing meanwhile, is not undone.
pub fn change<R>(
    call: &Call<'_>,
    name: &str,
    change: impl FnMut(&mut StoredRule) -> Result<R, Error>,
) -> Result<R, Error> {
    call.modify(Collection::EventRules, &rule_key(name), change)?
        .ok_or_else(|| Error::no_rule(name))
}

/// The name of the rule an ARN of this account and region names.
pub fn name_in_arn<'a>(call: &Call<'_>, arn: &'a str) -> Result<&'a str, Error> {
    let arns = call.arns();
    let prefix = format!("arn:aws:events:{}:{}:rule/", arns.region, arns.account);
    arn.strip_prefix(&prefix)
        .filter(|name| !name.is_empty() && !name.contains('/'))
        .ok_or_else(|| {
            Error::not_found(format!(
                "Resource {arn} does not exist: Berth tags rules of the default event bus, {prefix}<name>"
            ))
        })
}
