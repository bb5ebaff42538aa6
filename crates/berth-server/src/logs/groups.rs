//! Log groups and streams: create, describe, delete, retention and tags. Each is a call on
//! the log store; nothing here touches the state store.

use super::error::Error;
use super::millis;
use super::requests::{self as r, OrderBy};
use crate::call::Call;
use berth_logs::store::{GroupInfo, StreamCursor, StreamInfo, StreamOrder};
use serde_json::{json, Value};

fn group_arn(call: &Call<'_>, name: &str) -> String {
    let arns = call.arns();
    format!(
        "arn:aws:logs:{}:{}:log-group:{name}",
        arns.region, arns.account
    )
}

fn render_group(call: &Call<'_>, group: &GroupInfo) -> Value {
    let arn = group_arn(call, &group.name);
    let mut rendered = json!({
        "logGroupName": group.name,
        "creationTime": group.created,
        "metricFilterCount": 0,
        "arn": format!("{arn}:*"),
        "logGroupArn": arn,
        "storedBytes": group.stored_bytes,
        "logGroupClass": "STANDARD",
    });
    if let Some(days) = group.retention_days {
        rendered["retentionInDays"] = json!(days);
    }
    rendered
}

fn render_stream(call: &Call<'_>, group: &str, stream: &StreamInfo) -> Value {
    let mut rendered = json!({
        "logStreamName": stream.name,
        "creationTime": stream.created,
        "arn": format!("{}:log-stream:{}", group_arn(call, group), stream.name),
        "storedBytes": 0,
    });
    for (member, value) in [
        ("firstEventTimestamp", stream.first_event),
        ("lastEventTimestamp", stream.last_event),
        ("lastIngestionTime", stream.last_ingestion),
    ] {
        if let Some(value) = value {
            rendered[member] = json!(value);
        }
    }
    rendered
}

pub fn create_group(call: &Call<'_>, request: &r::CreateLogGroup) -> Result<Value, Error> {
    let logs = call.logs();
    logs.create_group(&request.log_group_name, millis(call.now()))?;
    if !request.tags.is_empty() {
        logs.tag_group(&request.log_group_name, &request.tags, &[])?;
    }
    Ok(json!({}))
}

pub fn delete_group(call: &Call<'_>, request: &r::GroupName) -> Result<Value, Error> {
    call.logs().delete_group(&request.log_group_name)?;
    Ok(json!({}))
}

/// Groups are listed by name; the token is the last name of the page before.
pub fn describe_groups(call: &Call<'_>, request: &r::DescribeLogGroups) -> Result<Value, Error> {
    let limit = request.limit.map_or(50, |l| l as usize);
    let logs = call.logs();
    let mut after = match &request.next_token {
        Some(token) => Some(super::decode_token(token)?),
        None => None,
    };
    let prefix = request.log_group_name_prefix.as_deref().unwrap_or("");
    let pattern = request
        .log_group_name_pattern
        .as_deref()
        .map(str::to_ascii_lowercase);
    let wanted = |group: &GroupInfo| {
        let by_pattern = pattern
            .as_deref()
            .is_none_or(|p| group.name.to_ascii_lowercase().contains(p));
        let by_identifier = request.log_group_identifiers.is_empty()
            || request
                .log_group_identifiers
                .iter()
                .any(|id| r::group_of_identifier(id) == group.name);
        by_pattern && by_identifier
    };
    let mut found = Vec::new();
    // A pattern or identifiers skip groups: read on until the page is full or none are left.
    loop {
        let batch = logs.groups(prefix, after.as_deref(), limit + 1)?;
        let exhausted = batch.len() <= limit;
        after = batch.last().map(|g| g.name.clone());
        found.extend(batch.into_iter().filter(|g| wanted(g)));
        if found.len() > limit || exhausted {
            break;
        }
    }
    let more = found.len() > limit;
    found.truncate(limit);
    let mut answer = json!({
        "logGroups": found.iter().map(|g| render_group(call, g)).collect::<Vec<_>>(),
    });
    if more {
        if let Some(last) = found.last() {
            answer["nextToken"] = json!(super::encode_token(&last.name));
        }
    }
    Ok(answer)
}

pub fn create_stream(call: &Call<'_>, request: &r::StreamName) -> Result<Value, Error> {
    call.logs().create_stream(
        &request.log_group_name,
        &request.log_stream_name,
        millis(call.now()),
    )?;
    Ok(json!({}))
}

pub fn delete_stream(call: &Call<'_>, request: &r::StreamName) -> Result<Value, Error> {
    call.logs()
        .delete_stream(&request.log_group_name, &request.log_stream_name)?;
    Ok(json!({}))
}

/// Streams in the order asked for; the token is where the last of the page before sorts
/// (its last event's time, in that order, and its name), so the next page starts after it
/// wherever the streams now are. A stream whose last event moves between two pages moves
/// in the order too, as on CloudWatch Logs.
pub fn describe_streams(call: &Call<'_>, request: &r::DescribeLogStreams) -> Result<Value, Error> {
    let group = request.group.name()?;
    let limit = request.limit.map_or(50, |l| l as usize);
    let after = match &request.next_token {
        Some(token) => Some(
            super::decode_token(token)?
                .split_once('|')
                .and_then(|(time, name)| {
                    Some(StreamCursor {
                        last_event: time.parse().ok()?,
                        name: name.to_string(),
                    })
                })
                .ok_or_else(Error::invalid_token)?,
        ),
        None => None,
    };
    let order = match request.order_by.unwrap_or(OrderBy::LogStreamName) {
        OrderBy::LogStreamName => StreamOrder::Name,
        OrderBy::LastEventTime => StreamOrder::LastEventTime,
    };
    let prefix = request.log_stream_name_prefix.as_deref().unwrap_or("");
    let mut streams = call.logs().streams(
        group,
        prefix,
        order,
        request.descending,
        after.as_ref(),
        limit + 1,
    )?;
    let more = streams.len() > limit;
    streams.truncate(limit);
    let mut answer = json!({
        "logStreams": streams.iter().map(|s| render_stream(call, group, s)).collect::<Vec<_>>(),
    });
    if let Some(last) = streams.last().filter(|_| more) {
        let key = order.key(last);
        answer["nextToken"] = json!(super::encode_token(&format!(
            "{}|{}",
            key.last_event, key.name
        )));
    }
    Ok(answer)
}

pub fn put_retention(call: &Call<'_>, request: &r::PutRetentionPolicy) -> Result<Value, Error> {
    // Checked to be one of the periods CloudWatch offers, all positive.
    let days = request.retention_in_days.unsigned_abs();
    call.logs()
        .set_retention(&request.log_group_name, Some(days))?;
    Ok(json!({}))
}

pub fn delete_retention(call: &Call<'_>, request: &r::GroupName) -> Result<Value, Error> {
    call.logs().set_retention(&request.log_group_name, None)?;
    Ok(json!({}))
}

pub fn tag(call: &Call<'_>, request: &r::TagResource) -> Result<Value, Error> {
    let group = r::group_of_identifier(&request.resource_arn);
    call.logs().tag_group(group, &request.tags, &[])?;
    Ok(json!({}))
}

pub fn untag(call: &Call<'_>, request: &r::UntagResource) -> Result<Value, Error> {
    let group = r::group_of_identifier(&request.resource_arn);
    call.logs()
        .tag_group(group, &Default::default(), &request.tag_keys)?;
    Ok(json!({}))
}

pub fn list_tags(call: &Call<'_>, request: &r::ListTagsForResource) -> Result<Value, Error> {
    let group = r::group_of_identifier(&request.resource_arn);
    let tags = call
        .logs()
        .group(group)?
        .ok_or_else(Error::group_not_found)?
        .tags;
    Ok(json!({ "tags": tags }))
}
