//! PutTargets, ListTargetsByRule and RemoveTargets. A target is kept as given; one whose
//! RunTask ECS would refuse (its Input no overrides, a count above ten, an unknown launch
//! type) is refused when it is put rather than at every firing.

use super::error::Error;
use super::requests::{self as r, MAX_TARGETS};
use super::run;
use super::stored::{change, existing};
use crate::call::Call;
use crate::json_api::page;
use serde_json::{json, Value};

pub fn put(call: &Call<'_>, request: &r::PutTargets) -> Result<Value, Error> {
    change(call, &request.rule, |rule| {
        for given in &request.targets {
            let target = &given.target;
            run::run_task(&rule.name, target).map_err(|why| {
                Error::validation(format!(
                    "Parameter EcsParameters of target {} is not valid. Reason: {why}",
                    target.id
                ))
            })?;
            match rule.targets.iter_mut().find(|t| t.id == target.id) {
                Some(stored) => *stored = target.clone(),
                None => rule.targets.push(target.clone()),
            }
        }
        if rule.targets.len() > MAX_TARGETS {
            return Err(Error::limit(format!(
                "The requested resource exceeds the maximum number allowed: rule {} may have at most {MAX_TARGETS} targets; remove one with RemoveTargets first",
                rule.name
            )));
        }
        Ok(())
    })?;
    Ok(json!({"FailedEntryCount": 0, "FailedEntries": []}))
}

pub fn list(call: &Call<'_>, request: &r::ListTargetsByRule) -> Result<Value, Error> {
    let rule = existing(call, &request.rule)?;
    let (page, next) = page(
        rule.targets,
        request.next_token.as_deref(),
        request.limit,
        100,
        |target| target.id.clone(),
    )?;
    let mut answer = json!({"Targets": page});
    if let Some(token) = next {
        answer["NextToken"] = json!(token);
    }
    Ok(answer)
}

/// Removes the targets named; an id the rule does not have is already gone.
pub fn remove(call: &Call<'_>, request: &r::RemoveTargets) -> Result<Value, Error> {
    change(call, &request.rule, |rule| {
        rule.targets.retain(|t| !request.ids.contains(&t.id));
        Ok(())
    })?;
    Ok(json!({"FailedEntryCount": 0, "FailedEntries": []}))
}
