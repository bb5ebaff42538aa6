//! Metric alarms: PutMetricAlarm, DescribeAlarms, DeleteAlarms, SetAlarmState,
//! DescribeAlarmHistory, EnableAlarmActions and DisableAlarmActions, read through the same
//! decoding path as the metrics API; what the store keeps of an alarm; and [`transition`],
//! a state change with its history and actions, shared by SetAlarmState and the
//! controller's evaluation (`control::alarms`).
//!
//! An alarm's actions that name an Application Auto Scaling policy run that policy
//! (`autoscaling::scaling::evaluate`) with the alarm's breach, on every evaluation while the
//! alarm is in the state they are for, as AWS re-invokes a scaling policy; the policy's
//! cooldown holds. Other actions (notifications) are recorded as not delivered.

use super::error::Error;
use super::protocol::Protocol;
use super::requests::{
    self, check_length, dimensions, lenient, metric_name, namespace, unit, value, Checked,
    RawDimension,
};
use crate::autoscaling::requests::DESIRED_COUNT;
use crate::autoscaling::scaling::{self, Reading};
use crate::autoscaling::stored::{member_key, target_key, StoredPolicy};
use crate::call::{Call, Fault};
use berth_aws::paging::time_key;
use berth_metrics::alarm::{AlarmState, Comparison, Rule, TreatMissing};
use berth_metrics::Statistic;
use berth_scaling::target::Evaluation;
use berth_store::Collection;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::cmp::Reverse;

#[cfg(test)]
mod tests;

/// Seconds after a period ends before it is evaluated, for datapoints reported late.
pub const EVALUATION_DELAY: f64 = 2.0;
/// History items kept per alarm, newest first.
pub const KEPT_HISTORY: usize = 100;
const MAX_ACTIONS: usize = 5;
const MAX_NAMES: usize = 100;

impl From<Fault> for Error {
    fn from(fault: Fault) -> Self {
        tracing::error!(error = %fault, "store failure");
        Error::new("InternalServiceError", fault.to_string())
    }
}

/// An alarm as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredAlarm {
    pub name: String,
    pub arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub actions_enabled: bool,
    pub ok_actions: Vec<String>,
    pub alarm_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    pub namespace: String,
    pub metric_name: String,
    pub dimensions: Vec<(String, String)>,
    /// `Statistic` or `ExtendedStatistic`, as given.
    pub statistic: String,
    pub extended: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    pub period: i64,
    pub evaluation_periods: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datapoints_to_alarm: Option<usize>,
    pub threshold: f64,
    pub comparison: Comparison,
    pub treat_missing: TreatMissing,
    pub state: AlarmState,
    pub state_reason: String,
    pub state_updated: f64,
    pub state_transitioned: f64,
    pub configuration_updated: f64,
    /// When the controller evaluates it next.
    pub next_evaluation: f64,
}

impl StoredAlarm {
    pub fn rule(&self) -> Rule {
        Rule {
            threshold: self.threshold,
            comparison: self.comparison,
            evaluation_periods: self.evaluation_periods,
            datapoints_to_alarm: self.datapoints_to_alarm.unwrap_or(self.evaluation_periods),
            treat_missing: self.treat_missing,
        }
    }

    pub fn statistic(&self) -> Option<Statistic> {
        Statistic::parse(&self.statistic)
    }

    fn actions(&self, state: AlarmState) -> &[String] {
        match state {
            AlarmState::Ok => &self.ok_actions,
            AlarmState::Alarm => &self.alarm_actions,
            AlarmState::InsufficientData => &self.insufficient_data_actions,
        }
    }

    fn all_actions(&self) -> impl Iterator<Item = &String> {
        self.ok_actions
            .iter()
            .chain(&self.alarm_actions)
            .chain(&self.insufficient_data_actions)
    }

    /// The end of the first period after `now` plus the delay: when it is evaluated next.
    pub fn next_after(&self, now: f64) -> f64 {
        let period = self.period as f64;
        ((now - EVALUATION_DELAY) / period).floor() * period + period + EVALUATION_DELAY
    }

    fn json(&self, protocol: Protocol) -> Value {
        let mut alarm = json!({
            "AlarmName": self.name,
            "AlarmArn": self.arn,
            "AlarmConfigurationUpdatedTimestamp": protocol.time(self.configuration_updated as i64),
            "ActionsEnabled": self.actions_enabled,
            "OKActions": self.ok_actions,
            "AlarmActions": self.alarm_actions,
            "InsufficientDataActions": self.insufficient_data_actions,
            "StateValue": self.state.name(),
            "StateReason": self.state_reason,
            "StateUpdatedTimestamp": protocol.time(self.state_updated as i64),
            "StateTransitionedTimestamp": protocol.time(self.state_transitioned as i64),
            "MetricName": self.metric_name,
            "Namespace": self.namespace,
            "Dimensions": self.dimensions.iter().map(|(n, v)| json!({"Name": n, "Value": v})).collect::<Vec<_>>(),
            "Period": self.period,
            "EvaluationPeriods": self.evaluation_periods,
            "Threshold": self.threshold,
            "ComparisonOperator": self.comparison.name(),
            "TreatMissingData": self.treat_missing.name(),
        });
        let statistic = if self.extended {
            "ExtendedStatistic"
        } else {
            "Statistic"
        };
        alarm[statistic] = json!(self.statistic);
        if let Some(description) = &self.description {
            alarm["AlarmDescription"] = json!(description);
        }
        if let Some(unit) = &self.unit {
            alarm["Unit"] = json!(unit);
        }
        if let Some(m) = self.datapoints_to_alarm {
            alarm["DatapointsToAlarm"] = json!(m);
        }
        alarm
    }
}

/// The scope an alarm due at `at` is kept under: its 10-second bucket, zero-padded so
/// scopes sort.
pub fn due_scope(at: f64) -> String {
    format!("{:012}", (at / 10.0).floor() as i64)
}

/// One history item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryItem {
    pub id: String,
    pub alarm_name: String,
    pub time: f64,
    pub kind: HistoryKind,
    pub summary: String,
    pub data: Value,
}

impl HistoryItem {
    /// Its key: its alarm's name, then its time in milliseconds, so that an alarm's items
    /// list oldest first.
    fn key(&self) -> String {
        format!(
            "{}|{:015}|{}",
            self.alarm_name,
            (self.time * 1000.0) as i64,
            self.id
        )
    }
}

/// The key of the note that `alarm` names the policy `action` in its actions.
fn action_key(action: &str, alarm: &str) -> String {
    format!("{action}|{alarm}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HistoryKind {
    ConfigurationUpdate,
    StateUpdate,
    Action,
}

impl HistoryKind {
    fn name(self) -> &'static str {
        match self {
            HistoryKind::ConfigurationUpdate => "ConfigurationUpdate",
            HistoryKind::StateUpdate => "StateUpdate",
            HistoryKind::Action => "Action",
        }
    }

    fn parse(name: &str) -> Option<HistoryKind> {
        [
            HistoryKind::ConfigurationUpdate,
            HistoryKind::StateUpdate,
            HistoryKind::Action,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// An entry of the index of alarms by the scaling policy they name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmAction {
    pub alarm_name: String,
    pub alarm_arn: String,
}

/// The alarms whose actions name the scaling policy `policy_arn`, as
/// DescribeScalingPolicies lists them.
pub fn naming_policy(call: &Call<'_>, policy_arn: &str) -> Result<Vec<AlarmAction>, Fault> {
    call.list(Collection::AlarmActions, Some(policy_arn))
}

fn record(
    call: &Call<'_>,
    name: &str,
    kind: HistoryKind,
    summary: String,
    data: Value,
) -> Result<(), Fault> {
    let item = HistoryItem {
        id: call.ids().uuid(),
        alarm_name: name.to_string(),
        time: call.now(),
        kind,
        summary,
        data,
    };
    call.insert(Collection::AlarmHistory, &item.key(), name, &item)?;
    let kept: Vec<HistoryItem> = call.list(Collection::AlarmHistory, Some(name))?;
    for old in kept.iter().take(kept.len().saturating_sub(KEPT_HISTORY)) {
        call.remove(Collection::AlarmHistory, &old.key())?;
    }
    Ok(())
}

/// Writes `alarm` under the scope of its next evaluation, moving it when that changed.
pub fn save(call: &Call<'_>, alarm: &StoredAlarm, previous_due: Option<f64>) -> Result<(), Fault> {
    let scope = due_scope(alarm.next_evaluation);
    // Moved to its new bucket in one commit, so that no reader finds the alarm missing.
    call.batch(|| {
        if previous_due.is_some_and(|due| due_scope(due) != scope) {
            call.remove(Collection::Alarms, &alarm.name)?;
        }
        call.put(Collection::Alarms, &alarm.name, &scope, alarm)
    })?
}

/// The scaling policy a policy ARN names:
/// `arn:aws:autoscaling:<region>:<account>:scalingPolicy:<id>:resource/<namespace>/<resource>:policyName/<name>`.
fn policy_by_arn(call: &Call<'_>, arn: &str) -> Result<Option<StoredPolicy>, Fault> {
    let Some((_, rest)) = arn.split_once(":resource/") else {
        return Ok(None);
    };
    let Some((resource, name)) = rest.split_once(":policyName/") else {
        return Ok(None);
    };
    let Some((namespace, resource_id)) = resource.split_once('/') else {
        return Ok(None);
    };
    let key = member_key(&target_key(namespace, resource_id, DESIRED_COUNT), name);
    Ok(call
        .get::<StoredPolicy>(Collection::ScalingPolicies, &key)?
        .filter(|p| p.arn == arn))
}

fn is_policy_arn(arn: &str) -> bool {
    arn.starts_with("arn:aws:autoscaling:") && arn.contains(":scalingPolicy:")
}

/// Moves `alarm` to `state` for `reason` when that is a change (a StateUpdate in its
/// history), then runs the actions for the state it is in: scaling policies on every call
/// while actions are enabled, anything else only on a change. `breach` is how far the
/// latest datapoint is past the threshold. Returns whether the state changed.
pub fn transition(
    call: &Call<'_>,
    alarm: &mut StoredAlarm,
    state: AlarmState,
    reason: String,
    breach: Option<f64>,
) -> Result<bool, Error> {
    let now = call.now();
    let changed = alarm.state != state;
    alarm.state_updated = now;
    if changed {
        let old = alarm.state;
        record(
            call,
            &alarm.name,
            HistoryKind::StateUpdate,
            format!("Alarm updated from {old} to {state}"),
            json!({
                "version": "1.0",
                "oldState": {"stateValue": old.name(), "stateReason": alarm.state_reason},
                "newState": {"stateValue": state.name(), "stateReason": reason},
            }),
        )?;
        alarm.state = state;
        alarm.state_transitioned = now;
        alarm.state_reason = reason;
    }
    if !alarm.actions_enabled {
        return Ok(changed);
    }
    for action in alarm.actions(state).to_vec() {
        if is_policy_arn(&action) {
            let Some(policy) = policy_by_arn(call, &action)? else {
                if changed {
                    record(
                        call,
                        &alarm.name,
                        HistoryKind::Action,
                        format!("Failed to execute action {action}"),
                        json!({"actionState": "Failed", "notificationResource": action, "error": "No scaling policy has this ARN: it was deleted, or the ARN is mistyped"}),
                    )?;
                }
                continue;
            };
            let Some(breach) = breach else { continue };
            let name = alarm.name.clone();
            let moved = scaling::evaluate(call, &policy.target_key, &Evaluation::BERTH, &|p| {
                if p.arn == action {
                    Reading::Alarm {
                        alarm: name.clone(),
                        breach,
                    }
                } else {
                    Reading::Nothing
                }
            })
            .map_err(|e| {
                Error::new(
                    "InternalServiceError",
                    format!("running {action}: {}", e.message()),
                )
            })?;
            if changed || moved {
                record(
                    call,
                    &alarm.name,
                    HistoryKind::Action,
                    format!("Successfully executed action {action}"),
                    json!({"actionState": "Succeeded", "notificationResource": action}),
                )?;
            }
        } else if changed {
            record(
                call,
                &alarm.name,
                HistoryKind::Action,
                format!("Failed to execute action {action}"),
                json!({"actionState": "Failed", "notificationResource": action,
                       "error": "Berth runs Application Auto Scaling policies from alarms; it does not deliver notifications"}),
            )?;
        }
    }
    Ok(changed)
}

// PutMetricAlarm

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawPutAlarm {
    alarm_name: Option<String>,
    alarm_description: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    actions_enabled: Option<bool>,
    #[serde(default, rename = "OKActions", deserialize_with = "lenient::list")]
    ok_actions: Vec<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    alarm_actions: Vec<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    insufficient_data_actions: Vec<String>,
    metric_name: Option<String>,
    namespace: Option<String>,
    statistic: Option<String>,
    extended_statistic: Option<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    dimensions: Vec<RawDimension>,
    #[serde(default, deserialize_with = "lenient::i64")]
    period: Option<i64>,
    unit: Option<String>,
    #[serde(default, deserialize_with = "lenient::i64")]
    evaluation_periods: Option<i64>,
    #[serde(default, deserialize_with = "lenient::i64")]
    datapoints_to_alarm: Option<i64>,
    #[serde(default, deserialize_with = "lenient::f64")]
    threshold: Option<f64>,
    comparison_operator: Option<String>,
    treat_missing_data: Option<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    metrics: Vec<Value>,
    threshold_metric_id: Option<String>,
}

pub struct PutMetricAlarm {
    pub alarm: StoredAlarm,
}

fn actions(list: Vec<String>, at: &str) -> Result<Vec<String>, Error> {
    if list.len() > MAX_ACTIONS {
        return Err(Error::too_many(at, MAX_ACTIONS));
    }
    for action in &list {
        if !action.starts_with("arn:") || action.split(':').count() < 6 {
            return Err(Error::invalid_value(
                at,
                action,
                "Actions must be ARNs, such as a scaling policy's PolicyARN.",
            ));
        }
    }
    Ok(list)
}

impl Checked for PutMetricAlarm {
    type Raw = RawPutAlarm;

    fn check(raw: RawPutAlarm, _: Protocol) -> Result<Self, Error> {
        let name = raw.alarm_name.ok_or_else(|| Error::missing("AlarmName"))?;
        check_length("AlarmName", &name, 255)?;
        if !raw.metrics.is_empty() || raw.threshold_metric_id.is_some() {
            return Err(Error::invalid(
                "Berth's alarms watch one metric: give MetricName, Namespace, Statistic (or ExtendedStatistic), Dimensions and Period instead of Metrics (metric math and anomaly detection are not supported).",
            ));
        }
        let comparison_name = raw
            .comparison_operator
            .ok_or_else(|| Error::missing("ComparisonOperator"))?;
        let comparison = Comparison::parse(&comparison_name).ok_or_else(|| {
            let why = if Comparison::BANDS.contains(&comparison_name.as_str()) {
                "Berth's alarms compare with a Threshold; anomaly detection bands are not supported. Use GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold or LessThanOrEqualToThreshold."
            } else {
                "It must be GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold or LessThanOrEqualToThreshold."
            };
            Error::invalid_value("ComparisonOperator", &comparison_name, why)
        })?;
        let threshold = value(
            raw.threshold.ok_or_else(|| Error::missing("Threshold"))?,
            "Threshold",
        )?;
        let evaluation_periods = raw
            .evaluation_periods
            .ok_or_else(|| Error::missing("EvaluationPeriods"))?;
        if evaluation_periods < 1 {
            return Err(Error::invalid_value(
                "EvaluationPeriods",
                evaluation_periods,
                "It must be at least 1.",
            ));
        }
        if let Some(m) = raw.datapoints_to_alarm {
            if m < 1 || m > evaluation_periods {
                return Err(Error::invalid_value(
                    "DatapointsToAlarm",
                    m,
                    "It must be from 1 to EvaluationPeriods.",
                ));
            }
        }
        let period = raw.period.ok_or_else(|| Error::missing("Period"))?;
        if !(period == 10 || period == 30 || (period >= 60 && period % 60 == 0)) {
            return Err(Error::invalid_value(
                "Period",
                period,
                "An alarm's period must be 10, 30 or a multiple of 60 seconds.",
            ));
        }
        if period * evaluation_periods > 7 * 86400 {
            return Err(Error::invalid("The evaluation window (Period × EvaluationPeriods) must not be longer than 7 days."));
        }
        let (statistic, extended) = match (raw.statistic, raw.extended_statistic) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(Error::combination(
                    "Exactly one of Statistic and ExtendedStatistic must be specified.",
                ))
            }
            (Some(s), None) => {
                if Statistic::simple(&s).is_none() {
                    return Err(Error::invalid_value(
                        "Statistic",
                        &s,
                        "It must be SampleCount, Average, Sum, Minimum or Maximum.",
                    ));
                }
                (s, false)
            }
            (None, Some(s)) => {
                if Statistic::percentile(&s).is_none() {
                    return Err(Error::invalid_value(
                        "ExtendedStatistic",
                        &s,
                        "It must be a percentile such as p99 or p99.9.",
                    ));
                }
                (s, true)
            }
        };
        let treat_missing = match raw.treat_missing_data {
            None => TreatMissing::Missing,
            Some(t) => TreatMissing::parse(&t).ok_or_else(|| {
                Error::invalid_value(
                    "TreatMissingData",
                    &t,
                    "It must be missing, notBreaching, breaching or ignore.",
                )
            })?,
        };
        let unit = unit(raw.unit, "Unit")?;
        Ok(PutMetricAlarm {
            alarm: StoredAlarm {
                name,
                arn: String::new(),
                description: raw.alarm_description,
                actions_enabled: raw.actions_enabled.unwrap_or(true),
                ok_actions: actions(raw.ok_actions, "OKActions")?,
                alarm_actions: actions(raw.alarm_actions, "AlarmActions")?,
                insufficient_data_actions: actions(
                    raw.insufficient_data_actions,
                    "InsufficientDataActions",
                )?,
                namespace: namespace(raw.namespace)?,
                metric_name: metric_name(raw.metric_name, "MetricName")?,
                dimensions: dimensions(raw.dimensions, "Dimensions")?,
                statistic,
                extended,
                unit: unit.map(|u| u.name().to_string()),
                period,
                evaluation_periods: evaluation_periods as usize,
                datapoints_to_alarm: raw.datapoints_to_alarm.map(|m| m as usize),
                threshold,
                comparison,
                treat_missing,
                state: AlarmState::InsufficientData,
                state_reason: "Unchecked: Initial alarm creation".into(),
                state_updated: 0.0,
                state_transitioned: 0.0,
                configuration_updated: 0.0,
                next_evaluation: 0.0,
            },
        })
    }
}

pub fn put(call: &Call<'_>, request: &PutMetricAlarm) -> Result<Value, Error> {
    let now = call.now();
    let existing: Option<StoredAlarm> = call.get(Collection::Alarms, &request.alarm.name)?;
    let mut alarm = request.alarm.clone();
    let arns = call.arns();
    alarm.arn = format!(
        "arn:aws:cloudwatch:{}:{}:alarm:{}",
        arns.region, arns.account, alarm.name
    );
    alarm.configuration_updated = now;
    alarm.next_evaluation = alarm.next_after(now);
    // An update keeps the state; the next evaluation moves it under the new rule.
    match &existing {
        Some(old) => {
            alarm.state = old.state;
            alarm.state_reason = old.state_reason.clone();
            alarm.state_updated = old.state_updated;
            alarm.state_transitioned = old.state_transitioned;
            for action in old.all_actions().filter(|a| is_policy_arn(a)) {
                call.remove(Collection::AlarmActions, &action_key(action, &alarm.name))?;
            }
        }
        None => {
            alarm.state_updated = now;
            alarm.state_transitioned = now;
        }
    }
    for action in alarm.all_actions().filter(|a| is_policy_arn(a)) {
        call.put(
            Collection::AlarmActions,
            &action_key(action, &alarm.name),
            action,
            &AlarmAction {
                alarm_name: alarm.name.clone(),
                alarm_arn: alarm.arn.clone(),
            },
        )?;
    }
    save(call, &alarm, existing.as_ref().map(|a| a.next_evaluation))?;
    let verb = if existing.is_some() {
        "updated"
    } else {
        "created"
    };
    record(
        call,
        &alarm.name,
        HistoryKind::ConfigurationUpdate,
        format!("Alarm \"{}\" {verb}", alarm.name),
        json!({"version": "1.0", "type": if existing.is_some() { "Update" } else { "Create" }, "updatedAlarm": alarm.json(Protocol::Json)}),
    )?;
    Ok(json!({}))
}

// DescribeAlarms

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawDescribe {
    #[serde(default, deserialize_with = "lenient::list")]
    alarm_names: Vec<String>,
    alarm_name_prefix: Option<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    alarm_types: Vec<String>,
    state_value: Option<String>,
    action_prefix: Option<String>,
    #[serde(default, deserialize_with = "lenient::i64")]
    max_records: Option<i64>,
    next_token: Option<String>,
}

pub struct DescribeAlarms {
    protocol: Protocol,
    names: Vec<String>,
    prefix: Option<String>,
    metric_alarms: bool,
    state: Option<AlarmState>,
    action_prefix: Option<String>,
    max_records: usize,
    next_token: Option<String>,
}

fn max_records(value: Option<i64>) -> Result<usize, Error> {
    match value {
        None => Ok(50),
        Some(n) if (1..=100).contains(&n) => Ok(n as usize),
        Some(n) => Err(Error::invalid_value(
            "MaxRecords",
            n,
            "It must be from 1 to 100.",
        )),
    }
}

impl Checked for DescribeAlarms {
    type Raw = RawDescribe;

    fn check(raw: RawDescribe, protocol: Protocol) -> Result<Self, Error> {
        if !raw.alarm_names.is_empty() && raw.alarm_name_prefix.is_some() {
            return Err(Error::combination(
                "AlarmNames and AlarmNamePrefix cannot be given together.",
            ));
        }
        if raw.alarm_names.len() > MAX_NAMES {
            return Err(Error::too_many("AlarmNames", MAX_NAMES));
        }
        let state = raw
            .state_value
            .map(|s| {
                AlarmState::parse(&s).ok_or_else(|| {
                    Error::invalid_value(
                        "StateValue",
                        &s,
                        "It must be OK, ALARM or INSUFFICIENT_DATA.",
                    )
                })
            })
            .transpose()?;
        Ok(DescribeAlarms {
            protocol,
            names: raw.alarm_names,
            prefix: raw.alarm_name_prefix,
            metric_alarms: raw.alarm_types.is_empty()
                || raw.alarm_types.iter().any(|t| t == "MetricAlarm"),
            state,
            action_prefix: raw.action_prefix,
            max_records: max_records(raw.max_records)?,
            next_token: raw.next_token,
        })
    }
}

pub fn describe(call: &Call<'_>, request: &DescribeAlarms) -> Result<Value, Error> {
    let alarms: Vec<StoredAlarm> = if !request.metric_alarms {
        Vec::new()
    } else if request.names.is_empty() {
        let mut all: Vec<StoredAlarm> = call.list(Collection::Alarms, None)?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    } else {
        let mut named = Vec::new();
        for name in &request.names {
            named.extend(call.get::<StoredAlarm>(Collection::Alarms, name)?);
        }
        named.sort_by(|a, b| a.name.cmp(&b.name));
        named.dedup_by(|a, b| a.name == b.name);
        named
    };
    let matching: Vec<&StoredAlarm> = alarms
        .iter()
        .filter(|a| {
            request
                .prefix
                .as_ref()
                .is_none_or(|p| a.name.starts_with(p.as_str()))
        })
        .filter(|a| request.state.is_none_or(|s| a.state == s))
        .filter(|a| {
            request
                .action_prefix
                .as_ref()
                .is_none_or(|p| a.all_actions().any(|action| action.starts_with(p.as_str())))
        })
        .collect();
    let (page, next) = requests::page(
        matching,
        request.next_token.as_deref(),
        request.max_records,
        |a| a.name.clone(),
    )?;
    let page: Vec<Value> = page.iter().map(|a| a.json(request.protocol)).collect();
    let mut answer = json!({"MetricAlarms": page, "CompositeAlarms": []});
    if let Some(token) = next {
        answer["NextToken"] = json!(token);
    }
    Ok(answer)
}

// DeleteAlarms, EnableAlarmActions, DisableAlarmActions

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawNames {
    #[serde(default, deserialize_with = "lenient::list")]
    alarm_names: Vec<String>,
}

pub struct AlarmNames(Vec<String>);

impl Checked for AlarmNames {
    type Raw = RawNames;

    fn check(raw: RawNames, _: Protocol) -> Result<Self, Error> {
        if raw.alarm_names.is_empty() {
            return Err(Error::missing("AlarmNames"));
        }
        if raw.alarm_names.len() > MAX_NAMES {
            return Err(Error::too_many("AlarmNames", MAX_NAMES));
        }
        Ok(AlarmNames(raw.alarm_names))
    }
}

fn not_found(names: &[&String]) -> Error {
    let names: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
    Error::new(
        "ResourceNotFound",
        format!("The following alarms do not exist: {}", names.join(", ")),
    )
}

pub fn delete(call: &Call<'_>, request: &AlarmNames) -> Result<Value, Error> {
    let mut missing = Vec::new();
    let mut found = Vec::new();
    for name in &request.0 {
        match call.get::<StoredAlarm>(Collection::Alarms, name)? {
            Some(alarm) => found.push(alarm),
            None => missing.push(name),
        }
    }
    if !missing.is_empty() {
        return Err(not_found(&missing));
    }
    for alarm in found {
        for action in alarm.all_actions().filter(|a| is_policy_arn(a)) {
            call.remove(Collection::AlarmActions, &action_key(action, &alarm.name))?;
        }
        let history: Vec<HistoryItem> = call.list(Collection::AlarmHistory, Some(&alarm.name))?;
        for item in history {
            call.remove(Collection::AlarmHistory, &item.key())?;
        }
        call.remove(Collection::Alarms, &alarm.name)?;
    }
    Ok(json!({}))
}

fn set_actions_enabled(
    call: &Call<'_>,
    request: &AlarmNames,
    enabled: bool,
) -> Result<Value, Error> {
    for name in &request.0 {
        call.modify(Collection::Alarms, name, |alarm: &mut StoredAlarm| {
            alarm.actions_enabled = enabled;
            Ok::<_, Error>(())
        })?;
    }
    Ok(json!({}))
}

pub fn enable_actions(call: &Call<'_>, request: &AlarmNames) -> Result<Value, Error> {
    set_actions_enabled(call, request, true)
}

pub fn disable_actions(call: &Call<'_>, request: &AlarmNames) -> Result<Value, Error> {
    set_actions_enabled(call, request, false)
}

// SetAlarmState

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawSetState {
    alarm_name: Option<String>,
    state_value: Option<String>,
    state_reason: Option<String>,
}

pub struct SetAlarmState {
    name: String,
    state: AlarmState,
    reason: String,
}

impl Checked for SetAlarmState {
    type Raw = RawSetState;

    fn check(raw: RawSetState, _: Protocol) -> Result<Self, Error> {
        let name = raw.alarm_name.ok_or_else(|| Error::missing("AlarmName"))?;
        let state = raw
            .state_value
            .ok_or_else(|| Error::missing("StateValue"))?;
        let state = AlarmState::parse(&state).ok_or_else(|| {
            Error::invalid_value(
                "StateValue",
                &state,
                "It must be OK, ALARM or INSUFFICIENT_DATA.",
            )
        })?;
        let reason = raw
            .state_reason
            .ok_or_else(|| Error::missing("StateReason"))?;
        check_length("StateReason", &reason, 1023)?;
        Ok(SetAlarmState {
            name,
            state,
            reason,
        })
    }
}

pub fn set_state(call: &Call<'_>, request: &SetAlarmState) -> Result<Value, Error> {
    let Some(mut alarm) = call.get::<StoredAlarm>(Collection::Alarms, &request.name)? else {
        return Err(not_found(&[&request.name]));
    };
    let due = alarm.next_evaluation;
    // A state set by hand has no datapoint behind it: a scaling policy it runs takes the
    // step that starts at the threshold.
    transition(
        call,
        &mut alarm,
        request.state,
        request.reason.clone(),
        Some(0.0),
    )?;
    save(call, &alarm, Some(due))?;
    Ok(json!({}))
}

// DescribeAlarmHistory

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawHistory {
    alarm_name: Option<String>,
    history_item_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::time")]
    start_date: Option<f64>,
    #[serde(default, deserialize_with = "lenient::time")]
    end_date: Option<f64>,
    #[serde(default, deserialize_with = "lenient::i64")]
    max_records: Option<i64>,
    next_token: Option<String>,
    scan_by: Option<String>,
}

pub struct DescribeAlarmHistory {
    protocol: Protocol,
    name: Option<String>,
    kind: Option<HistoryKind>,
    start: Option<f64>,
    end: Option<f64>,
    max_records: usize,
    next_token: Option<String>,
    ascending: bool,
}

impl Checked for DescribeAlarmHistory {
    type Raw = RawHistory;

    fn check(raw: RawHistory, protocol: Protocol) -> Result<Self, Error> {
        let kind = raw
            .history_item_type
            .map(|k| {
                HistoryKind::parse(&k).ok_or_else(|| {
                    Error::invalid_value(
                        "HistoryItemType",
                        &k,
                        "It must be ConfigurationUpdate, StateUpdate or Action.",
                    )
                })
            })
            .transpose()?;
        let ascending = requests::ascending(raw.scan_by.as_deref())?;
        Ok(DescribeAlarmHistory {
            protocol,
            name: raw.alarm_name,
            kind,
            start: raw.start_date,
            end: raw.end_date,
            max_records: max_records(raw.max_records)?,
            next_token: raw.next_token,
            ascending,
        })
    }
}

pub fn history(call: &Call<'_>, request: &DescribeAlarmHistory) -> Result<Value, Error> {
    let items: Vec<HistoryItem> = call.list(Collection::AlarmHistory, request.name.as_deref())?;
    let protocol = request.protocol;
    let matching: Vec<&HistoryItem> = items
        .iter()
        .filter(|i| request.kind.is_none_or(|k| i.kind == k))
        .filter(|i| request.start.is_none_or(|s| i.time >= s))
        .filter(|i| request.end.is_none_or(|e| i.time <= e))
        .collect();
    let (token, size) = (request.next_token.as_deref(), request.max_records);
    let order = |i: &&HistoryItem| (time_key(i.time), i.id.clone());
    let (page, next) = if request.ascending {
        requests::page(matching, token, size, order)?
    } else {
        requests::page(matching, token, size, |i| Reverse(order(i)))?
    };
    let page: Vec<Value> = page
        .into_iter()
        .map(|i| {
            json!({
                "AlarmName": i.alarm_name,
                "AlarmType": "MetricAlarm",
                "Timestamp": protocol.time(i.time as i64),
                "HistoryItemType": i.kind.name(),
                "HistorySummary": i.summary,
                "HistoryData": i.data.to_string(),
            })
        })
        .collect();
    let mut answer = json!({"AlarmHistoryItems": page});
    if let Some(token) = next {
        answer["NextToken"] = json!(token);
    }
    Ok(answer)
}
