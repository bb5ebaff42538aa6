//! TagResource, UntagResource, ListTagsForResource on clusters, task definitions, services
//! and tasks. Every resource keeps its tags in its own `tags` member.

use crate::call::{to_value, Call};
use berth_model::arn::{parse, ResourceRef};
use berth_model::requests::{ListTagsForResource, TagResource, UntagResource};
use berth_model::resources::Tag;
use berth_model::{validate, ApiError, ErrorKind};
use berth_store::{revision_key, Collection};
use serde_json::{json, Map, Value};

/// The record an ARN names.
fn locate(arn: &str) -> Result<(Collection, String), ApiError> {
    let reference = parse(arn)
        .ok_or_else(|| ApiError::invalid(format!("resourceArn: {arn:?} is not an ECS ARN")))?;
    Ok(match reference {
        ResourceRef::Cluster { name } => (Collection::Clusters, name),
        ResourceRef::TaskDefinition { family, revision } => {
            (Collection::TaskDefinitions, revision_key(&family, revision))
        }
        ResourceRef::Service {
            cluster: Some(cluster),
            name,
        } => (Collection::Services, format!("{cluster}/{name}")),
        ResourceRef::Task {
            cluster: Some(_),
            id,
        } => (Collection::Tasks, id),
        ResourceRef::ContainerInstance {
            cluster: Some(_),
            id,
        } => (Collection::ContainerInstances, id),
        ResourceRef::Service { cluster: None, .. }
        | ResourceRef::Task { cluster: None, .. }
        | ResourceRef::ContainerInstance { cluster: None, .. } => {
            return Err(ApiError::invalid(
                "resourceArn: use the long ARN format that includes the cluster name",
            ))
        }
    })
}

fn not_found(arn: &str) -> ApiError {
    ApiError::new(
        ErrorKind::ResourceNotFoundException,
        format!("The specified resource could not be found: {arn}"),
    )
}

fn tags_of(doc: &Map<String, Value>) -> Result<Vec<Tag>, ApiError> {
    match doc.get("tags") {
        None => Ok(Vec::new()),
        Some(tags) => serde_json::from_value(tags.clone())
            .map_err(|e| ApiError::server(format!("stored tags do not decode: {e}"))),
    }
}

/// Rewrites the tags of the resource `arn` names.
fn change_tags(
    call: &Call<'_>,
    arn: &str,
    change: impl Fn(&mut Vec<Tag>) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let (collection, key) = locate(arn)?;
    call.modify(collection, &key, |doc: &mut Map<String, Value>| {
        let mut tags = tags_of(doc)?;
        change(&mut tags)?;
        doc.insert("tags".to_string(), to_value(&tags));
        Ok::<_, ApiError>(())
    })?
    .ok_or_else(|| not_found(arn))
}

pub fn tag(call: &Call<'_>, request: &TagResource) -> Result<Value, ApiError> {
    change_tags(call, &request.resource_arn, |tags| {
        for new in &request.tags {
            match tags.iter_mut().find(|t| t.key == new.key) {
                Some(existing) => existing.value = new.value.clone(),
                None => tags.push(new.clone()),
            }
        }
        validate::tags(tags)
    })?;
    Ok(json!({}))
}

pub fn untag(call: &Call<'_>, request: &UntagResource) -> Result<Value, ApiError> {
    change_tags(call, &request.resource_arn, |tags| {
        tags.retain(|t| !t.key.as_ref().is_some_and(|k| request.tag_keys.contains(k)));
        Ok(())
    })?;
    Ok(json!({}))
}

pub fn list(call: &Call<'_>, request: &ListTagsForResource) -> Result<Value, ApiError> {
    let (collection, key) = locate(&request.resource_arn)?;
    let doc: Map<String, Value> = call
        .get(collection, &key)?
        .ok_or_else(|| not_found(&request.resource_arn))?;
    Ok(json!({"tags": tags_of(&doc)?}))
}
