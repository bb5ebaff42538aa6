//! Each action's input, with what CloudWatch Logs checks of it before looking at any group
//! (lengths, patterns and ranges from botocore's `logs` model, messages in its words).

use super::error::{Error, Logs};
use crate::json_api::Request;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The retention periods CloudWatch Logs accepts, in days.
pub const RETENTION_DAYS: [i32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// PutLogEvents' limits: events per call, bytes per call (each event counts 26 bytes more
/// than its message) and the span of a call's timestamps.
pub const MAX_EVENTS: usize = 10_000;
pub const MAX_BATCH_BYTES: usize = 1_048_576;
pub const EVENT_OVERHEAD_BYTES: usize = 26;
pub const MAX_SPAN_MILLIS: i64 = 24 * 3600 * 1000;

fn constraint(member: &str, value: &str, rule: &str) -> Error {
    Error::invalid(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {rule}"
    ))
}

pub fn check_group_name(member: &str, name: &str) -> Result<(), Error> {
    let length = name.chars().count();
    if !(1..=512).contains(&length) {
        return Err(constraint(
            member,
            name,
            "Member must have length between 1 and 512",
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#');
    if !name.chars().all(allowed) {
        return Err(constraint(
            member,
            name,
            "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
        ));
    }
    Ok(())
}

pub fn check_stream_name(member: &str, name: &str) -> Result<(), Error> {
    let length = name.chars().count();
    if !(1..=512).contains(&length) {
        return Err(constraint(
            member,
            name,
            "Member must have length between 1 and 512",
        ));
    }
    if name.contains([':', '*']) {
        return Err(constraint(
            member,
            name,
            "Member must satisfy regular expression pattern: [^:*]*",
        ));
    }
    Ok(())
}

fn check_limit(limit: Option<i64>, high: i64) -> Result<(), Error> {
    match limit {
        Some(limit) if !(1..=high).contains(&limit) => Err(constraint(
            "limit",
            &limit.to_string(),
            &format!("Member must have value between 1 and {high}"),
        )),
        _ => Ok(()),
    }
}

fn check_time(member: &str, time: Option<i64>) -> Result<(), Error> {
    match time {
        Some(time) if time < 0 => Err(constraint(
            member,
            &time.to_string(),
            "Member must have value greater than or equal to 0",
        )),
        _ => Ok(()),
    }
}

fn check_tags(tags: &BTreeMap<String, String>) -> Result<(), Error> {
    let pairs = tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    match crate::json_api::tag_problem("log group", pairs) {
        Some(problem) if tags.len() > 50 => Err(Error::new("TooManyTagsException", problem)),
        Some(problem) => Err(Error::invalid(problem)),
        None => Ok(()),
    }
}

/// A log group named by `logGroupName` or by `logGroupIdentifier` (its name or ARN,
/// `arn:aws:logs:<region>:<account>:log-group:<name>`, with or without a trailing `:*`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRef {
    pub log_group_name: Option<String>,
    pub log_group_identifier: Option<String>,
}

impl GroupRef {
    /// The group's name, once checked that exactly one way of naming it was used.
    pub fn name(&self) -> Result<&str, Error> {
        match (&self.log_group_name, &self.log_group_identifier) {
            (Some(name), None) => Ok(name),
            (None, Some(identifier)) => Ok(group_of_identifier(identifier)),
            (Some(_), Some(_)) => Err(Error::invalid(
                "LogGroupName and LogGroupIdentifier are mutually exclusive parameters.",
            )),
            (None, None) => Err(Error::invalid(
                "Either LogGroupName or LogGroupIdentifier must be specified.",
            )),
        }
    }

    fn check(&self) -> Result<(), Error> {
        let name = self.name()?;
        let member = if self.log_group_name.is_some() {
            "logGroupName"
        } else {
            "logGroupIdentifier"
        };
        check_group_name(member, name)
    }
}

/// The group name a `logGroupIdentifier` names: an ARN's resource after `log-group:`, or the
/// identifier itself.
pub fn group_of_identifier(identifier: &str) -> &str {
    match identifier
        .strip_prefix("arn:")
        .and_then(|rest| rest.split_once(":log-group:"))
    {
        Some((_, name)) => name.strip_suffix(":*").unwrap_or(name),
        None => identifier,
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateLogGroup {
    pub log_group_name: String,
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub log_group_class: Option<String>,
    pub deletion_protection_enabled: Option<bool>,
}

impl Request<Logs> for CreateLogGroup {
    fn check(&self) -> Result<(), Error> {
        check_group_name("logGroupName", &self.log_group_name)?;
        check_tags(&self.tags)?;
        if self.kms_key_id.is_some() {
            return Err(Error::invalid(
                "Berth does not encrypt log groups with KMS keys: leave kmsKeyId out (logs \
                 stay on the server's own disk)",
            ));
        }
        if let Some(class) = &self.log_group_class {
            if class != "STANDARD" {
                return Err(Error::invalid(format!(
                    "Berth keeps every log group in the STANDARD class, not {class}"
                )));
            }
        }
        if self.deletion_protection_enabled == Some(true) {
            return Err(Error::invalid(
                "Berth does not protect log groups from deletion: leave \
                 deletionProtectionEnabled out",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupName {
    pub log_group_name: String,
}

impl Request<Logs> for GroupName {
    fn check(&self) -> Result<(), Error> {
        check_group_name("logGroupName", &self.log_group_name)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeLogGroups {
    pub log_group_name_prefix: Option<String>,
    pub log_group_name_pattern: Option<String>,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
    #[serde(default)]
    pub log_group_identifiers: Vec<String>,
}

impl Request<Logs> for DescribeLogGroups {
    fn check(&self) -> Result<(), Error> {
        check_limit(self.limit, 50)?;
        let given = [
            self.log_group_name_prefix.is_some(),
            self.log_group_name_pattern.is_some(),
            !self.log_group_identifiers.is_empty(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(Error::invalid(
                "LogGroupNamePrefix, LogGroupNamePattern and LogGroupIdentifiers are mutually \
                 exclusive parameters.",
            ));
        }
        if let Some(prefix) = &self.log_group_name_prefix {
            check_group_name("logGroupNamePrefix", prefix)?;
        }
        if let Some(pattern) = self.log_group_name_pattern.as_deref() {
            if !pattern.is_empty() {
                check_group_name("logGroupNamePattern", pattern)?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamName {
    pub log_group_name: String,
    pub log_stream_name: String,
}

impl Request<Logs> for StreamName {
    fn check(&self) -> Result<(), Error> {
        check_group_name("logGroupName", &self.log_group_name)?;
        check_stream_name("logStreamName", &self.log_stream_name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum OrderBy {
    LogStreamName,
    LastEventTime,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeLogStreams {
    #[serde(flatten)]
    pub group: GroupRef,
    pub log_stream_name_prefix: Option<String>,
    pub order_by: Option<OrderBy>,
    #[serde(default)]
    pub descending: bool,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
}

impl Request<Logs> for DescribeLogStreams {
    fn check(&self) -> Result<(), Error> {
        self.group.check()?;
        check_limit(self.limit, 50)?;
        if let Some(prefix) = &self.log_stream_name_prefix {
            check_stream_name("logStreamNamePrefix", prefix)?;
            if self.order_by == Some(OrderBy::LastEventTime) {
                return Err(Error::invalid(
                    "Cannot order by LastEventTime with a logStreamNamePrefix.",
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InputLogEvent {
    pub timestamp: i64,
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutLogEvents {
    pub log_group_name: String,
    pub log_stream_name: String,
    pub log_events: Vec<InputLogEvent>,
}

impl Request<Logs> for PutLogEvents {
    fn check(&self) -> Result<(), Error> {
        check_group_name("logGroupName", &self.log_group_name)?;
        check_stream_name("logStreamName", &self.log_stream_name)?;
        let count = self.log_events.len();
        if !(1..=MAX_EVENTS).contains(&count) {
            return Err(constraint(
                "logEvents",
                &format!("{count} events"),
                "Member must have length between 1 and 10000",
            ));
        }
        let bytes: usize = self
            .log_events
            .iter()
            .map(|e| e.message.len() + EVENT_OVERHEAD_BYTES)
            .sum();
        if bytes > MAX_BATCH_BYTES {
            return Err(Error::invalid(format!(
                "Upload too large: {bytes} bytes exceeds limit of {MAX_BATCH_BYTES}"
            )));
        }
        if let Some(index) = self.log_events.iter().position(|e| e.message.is_empty()) {
            return Err(constraint(
                &format!("logEvents.{}.member.message", index + 1),
                "",
                "Member must have length greater than or equal to 1",
            ));
        }
        if self
            .log_events
            .windows(2)
            .any(|pair| pair[1].timestamp < pair[0].timestamp)
        {
            return Err(Error::invalid(
                "Log events in a single PutLogEvents request must be in chronological order.",
            ));
        }
        let first = self.log_events[0].timestamp;
        let last = self.log_events[count - 1].timestamp;
        if last - first > MAX_SPAN_MILLIS {
            return Err(Error::invalid(
                "The batch of log events in a single PutLogEvents request cannot span more \
                 than 24 hours.",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetLogEvents {
    #[serde(flatten)]
    pub group: GroupRef,
    pub log_stream_name: String,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
    #[serde(default)]
    pub start_from_head: bool,
}

impl Request<Logs> for GetLogEvents {
    fn check(&self) -> Result<(), Error> {
        self.group.check()?;
        check_stream_name("logStreamName", &self.log_stream_name)?;
        check_limit(self.limit, 10_000)?;
        check_time("startTime", self.start_time)?;
        check_time("endTime", self.end_time)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterLogEvents {
    #[serde(flatten)]
    pub group: GroupRef,
    #[serde(default)]
    pub log_stream_names: Vec<String>,
    pub log_stream_name_prefix: Option<String>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    #[serde(default)]
    pub filter_pattern: String,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
}

impl Request<Logs> for FilterLogEvents {
    fn check(&self) -> Result<(), Error> {
        self.group.check()?;
        check_limit(self.limit, 10_000)?;
        check_time("startTime", self.start_time)?;
        check_time("endTime", self.end_time)?;
        if !self.log_stream_names.is_empty() && self.log_stream_name_prefix.is_some() {
            return Err(Error::invalid(
                "You cannot specify both LogStreamNames and LogStreamNamePrefix.",
            ));
        }
        if self.log_stream_names.len() > 100 {
            return Err(constraint(
                "logStreamNames",
                &format!("{} names", self.log_stream_names.len()),
                "Member must have length between 1 and 100",
            ));
        }
        for name in &self.log_stream_names {
            check_stream_name("logStreamNames", name)?;
        }
        if let Some(prefix) = &self.log_stream_name_prefix {
            check_stream_name("logStreamNamePrefix", prefix)?;
        }
        if self.filter_pattern.chars().count() > 1024 {
            return Err(constraint(
                "filterPattern",
                &self.filter_pattern,
                "Member must have length less than or equal to 1024",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartLiveTail {
    pub log_group_identifiers: Vec<String>,
    pub log_stream_names: Option<Vec<String>>,
    pub log_stream_name_prefixes: Option<Vec<String>>,
    #[serde(default)]
    pub log_event_filter_pattern: String,
}

impl Request<Logs> for StartLiveTail {
    fn check(&self) -> Result<(), Error> {
        let groups = self.log_group_identifiers.len();
        if !(1..=10).contains(&groups) {
            return Err(constraint(
                "logGroupIdentifiers",
                &format!("{groups} log groups"),
                "Member must have length between 1 and 10",
            ));
        }
        for identifier in &self.log_group_identifiers {
            if identifier.ends_with('*') {
                return Err(Error::invalid(format!(
                    "log group identifier {identifier} must not end with *"
                )));
            }
            check_group_name("logGroupIdentifiers", group_of_identifier(identifier))?;
        }
        if self.log_stream_names.is_some() && self.log_stream_name_prefixes.is_some() {
            return Err(Error::invalid(
                "You can't specify both logStreamNames and logStreamNamePrefixes.",
            ));
        }
        for (member, list) in [
            ("logStreamNames", &self.log_stream_names),
            ("logStreamNamePrefixes", &self.log_stream_name_prefixes),
        ] {
            let Some(list) = list else { continue };
            if groups != 1 {
                return Err(Error::invalid(format!(
                    "{member} can be given only with a single log group"
                )));
            }
            if !(1..=100).contains(&list.len()) {
                return Err(constraint(
                    member,
                    &format!("{} names", list.len()),
                    "Member must have length between 1 and 100",
                ));
            }
            for name in list {
                check_stream_name(member, name)?;
            }
        }
        if self.log_event_filter_pattern.chars().count() > 1024 {
            return Err(constraint(
                "logEventFilterPattern",
                &self.log_event_filter_pattern,
                "Member must have length less than or equal to 1024",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutRetentionPolicy {
    pub log_group_name: String,
    pub retention_in_days: i32,
}

impl Request<Logs> for PutRetentionPolicy {
    fn check(&self) -> Result<(), Error> {
        check_group_name("logGroupName", &self.log_group_name)?;
        if !RETENTION_DAYS.contains(&self.retention_in_days) {
            return Err(constraint(
                "retentionInDays",
                &self.retention_in_days.to_string(),
                "Member must satisfy enum value set: [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, \
                 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]",
            ));
        }
        Ok(())
    }
}

/// A log group named by its ARN, as the tagging actions name it.
fn check_arn(arn: &str) -> Result<(), Error> {
    if !arn.starts_with("arn:") || !arn.contains(":log-group:") {
        return Err(Error::invalid(format!(
            "{arn} is not a log group's ARN (arn:aws:logs:<region>:<account>:log-group:<name>)"
        )));
    }
    check_group_name("resourceArn", group_of_identifier(arn))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagResource {
    pub resource_arn: String,
    pub tags: BTreeMap<String, String>,
}

impl Request<Logs> for TagResource {
    fn check(&self) -> Result<(), Error> {
        check_arn(&self.resource_arn)?;
        check_tags(&self.tags)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UntagResource {
    pub resource_arn: String,
    pub tag_keys: Vec<String>,
}

impl Request<Logs> for UntagResource {
    fn check(&self) -> Result<(), Error> {
        check_arn(&self.resource_arn)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTagsForResource {
    pub resource_arn: String,
}

impl Request<Logs> for ListTagsForResource {
    fn check(&self) -> Result<(), Error> {
        check_arn(&self.resource_arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn checked<T: Request<Logs>>(body: serde_json::Value) -> Result<T, String> {
        let request: T = serde_json::from_value(body).map_err(|e| e.to_string())?;
        request.check().map_err(|e| e.message().to_string())?;
        Ok(request)
    }

    #[test]
    fn names_follow_the_models_patterns() {
        for good in ["/ecs/portal", "app.web-1_#2", "a"] {
            assert!(check_group_name("logGroupName", good).is_ok(), "{good}");
        }
        let long = "a".repeat(513);
        for bad in ["", "has space", "ünicode", "a:b", long.as_str()] {
            assert!(check_group_name("logGroupName", bad).is_err(), "{bad:?}");
        }
        assert!(check_stream_name("logStreamName", "ecs/web/abc 1").is_ok());
        for bad in ["", "a:b", "a*"] {
            let error = check_stream_name("logStreamName", bad).unwrap_err();
            assert!(error.message().contains("'logStreamName'"), "{error:?}");
        }
    }

    #[test]
    fn a_group_is_named_one_way_by_name_or_arn() {
        let by_arn: GetLogEvents = checked(json!({
            "logGroupIdentifier": "arn:aws:logs:us-east-1:000000000000:log-group:/ecs/web:*",
            "logStreamName": "s"
        }))
        .unwrap();
        assert_eq!(by_arn.group.name().unwrap(), "/ecs/web");
        let by_name: GetLogEvents =
            checked(json!({"logGroupIdentifier": "/ecs/web", "logStreamName": "s"})).unwrap();
        assert_eq!(by_name.group.name().unwrap(), "/ecs/web");
        let both = checked::<GetLogEvents>(
            json!({"logGroupName": "a", "logGroupIdentifier": "a", "logStreamName": "s"}),
        );
        assert!(both.unwrap_err().contains("mutually exclusive"));
        let neither = checked::<GetLogEvents>(json!({"logStreamName": "s"}));
        assert!(neither.unwrap_err().contains("must be specified"));
    }

    #[test]
    fn a_batch_of_events_is_bounded_and_in_order() {
        let event =
            |timestamp: i64, message: &str| json!({"timestamp": timestamp, "message": message});
        let put = |events: Vec<serde_json::Value>| {
            checked::<PutLogEvents>(
                json!({"logGroupName": "g", "logStreamName": "s", "logEvents": events}),
            )
        };
        assert!(put(vec![event(1, "a"), event(1, "b"), event(2, "c")]).is_ok());
        assert!(put(vec![]).unwrap_err().contains("between 1 and 10000"));
        assert!(put(vec![event(2, "a"), event(1, "b")])
            .unwrap_err()
            .contains("chronological order"));
        assert!(put(vec![event(0, "a"), event(MAX_SPAN_MILLIS + 1, "b")])
            .unwrap_err()
            .contains("24 hours"));
        assert!(put(vec![event(1, "")])
            .unwrap_err()
            .contains("logEvents.1.member.message"));
        let big = "x".repeat(MAX_BATCH_BYTES / 2);
        assert!(put(vec![event(1, &big), event(2, &big)])
            .unwrap_err()
            .starts_with("Upload too large"));
    }

    #[test]
    fn retention_takes_the_periods_cloudwatch_offers() {
        let put = |days: i32| {
            checked::<PutRetentionPolicy>(json!({"logGroupName": "g", "retentionInDays": days}))
        };
        for days in RETENTION_DAYS {
            assert!(put(days).is_ok(), "{days}");
        }
        for days in [0, 2, 4, 10, 3650, -1] {
            assert!(put(days).unwrap_err().contains("enum value set"), "{days}");
        }
    }

    #[test]
    fn what_berth_does_not_do_is_refused_with_a_reason() {
        let create = |extra: serde_json::Value| {
            let mut body = json!({"logGroupName": "g"});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            checked::<CreateLogGroup>(body)
        };
        assert!(create(json!({})).is_ok());
        assert!(create(json!({"kmsKeyId": "k"}))
            .unwrap_err()
            .contains("KMS"));
        assert!(create(json!({"logGroupClass": "INFREQUENT_ACCESS"}))
            .unwrap_err()
            .contains("STANDARD"));
        assert!(create(json!({"tags": {"aws:x": "1"}}))
            .unwrap_err()
            .contains("reserved"));
    }

    #[test]
    fn exclusive_members_are_refused_together() {
        let filter = checked::<FilterLogEvents>(json!({
            "logGroupName": "g", "logStreamNames": ["a"], "logStreamNamePrefix": "a"
        }));
        assert!(filter.unwrap_err().contains("both"));
        let streams = checked::<DescribeLogStreams>(json!({
            "logGroupName": "g", "logStreamNamePrefix": "a", "orderBy": "LastEventTime"
        }));
        assert!(streams.unwrap_err().contains("LastEventTime"));
        let groups = checked::<DescribeLogGroups>(
            json!({"logGroupNamePrefix": "a", "logGroupNamePattern": "b"}),
        );
        assert!(groups.unwrap_err().contains("mutually exclusive"));
        assert!(checked::<DescribeLogGroups>(json!({"limit": 51})).is_err());
    }
}
