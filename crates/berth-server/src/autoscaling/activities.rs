//! DescribeScalingActivities: a target's activities (or every target's), newest first.

use super::error::Error;
use super::requests as r;
use super::stored::{of_targets, StoredActivity};
use crate::call::Call;
use crate::json_api::page;
use berth_aws::paging::time_key;
use berth_store::Collection;
use serde_json::{json, Value};
use std::cmp::Reverse;

fn activity_json(activity: &StoredActivity) -> Value {
    json!({
        "ActivityId": activity.activity_id,
        "ServiceNamespace": activity.service_namespace,
        "ResourceId": activity.resource_id,
        "ScalableDimension": activity.scalable_dimension,
        "Description": activity.description,
        "Cause": activity.cause,
        "StartTime": activity.start_time,
        "EndTime": activity.end_time,
        "StatusCode": activity.status_code,
        "StatusMessage": activity.status_message,
    })
}

pub fn describe(call: &Call<'_>, request: &r::DescribeScalingActivities) -> Result<Value, Error> {
    let mut activities: Vec<StoredActivity> = of_targets(
        call,
        Collection::ScalingActivities,
        &request.service_namespace,
        request.resource_id.as_deref(),
        request.scalable_dimension.as_deref(),
    )?;
    activities.retain(|a| {
        a.service_namespace == request.service_namespace
            && request
                .scalable_dimension
                .as_ref()
                .is_none_or(|d| *d == a.scalable_dimension)
    });
    // Newest first.
    let (page, next) = page(
        activities,
        request.next_token.as_deref(),
        request.max_results,
        50,
        |a| Reverse((time_key(a.start_time), a.activity_id.clone())),
    )?;
    let page: Vec<Value> = page.iter().map(activity_json).collect();
    let mut answer = json!({"ScalingActivities": page});
    if let Some(token) = next {
        answer["NextToken"] = json!(token);
    }
    Ok(answer)
}
