//! PutRule, DescribeRule, ListRules, EnableRule, DisableRule, DeleteRule, the rules' tags,
//! and [`fire`], which runs a due rule's targets. An enabled rule with a schedule keeps its
//! next firing in the index every schedule shares (`crate::schedules`).

use super::error::Error;
use super::requests::{self as r, RuleState, DEFAULT_BUS};
use super::run;
use super::stored::{change, existing, name_in_arn, rule_key, StoredRule};
use crate::call::Call;
use crate::ecs::tasks;
use crate::json_api::page;
use crate::schedules::{self, Firing, Owner};
use berth_logs::store::{LogError, NewEvent};
use berth_store::Collection;
use serde_json::{json, Value};

/// The log group each firing's outcome is written to, one stream per rule.
pub const FIRINGS_LOG_GROUP: &str = "/berth/events/rules";

/// Writes `rule` with its next firing from `now` on, moving its entry in the index.
fn save(call: &Call<'_>, mut rule: StoredRule, previous: Option<f64>) -> Result<(), Error> {
    rule.next_firing = rule.next_firing_after(call.now());
    call.put(Collection::EventRules, &rule.key(), DEFAULT_BUS, &rule)?;
    schedules::index(call, Owner::Rule, &rule.key(), previous, rule.next_firing)?;
    Ok(())
}

pub fn put(call: &Call<'_>, request: &r::PutRule) -> Result<Value, Error> {
    let key = rule_key(&request.name);
    let schedule = request
        .schedule_expression
        .clone()
        .filter(|s| !s.is_empty());
    let existing = call.get::<StoredRule>(Collection::EventRules, &key)?;
    let previous = existing.as_ref().and_then(|rule| rule.next_firing);
    let arns = call.arns();
    // A rule put again is replaced by what the request says, but keeps its targets and
    // tags (tags given then are ignored, as AWS ignores them).
    let (targets, tags, schedule_since) = match existing {
        Some(rule) => {
            let since = if rule.schedule_expression == schedule {
                rule.schedule_since
            } else {
                call.now()
            };
            (rule.targets, rule.tags, since)
        }
        None => (
            Vec::new(),
            request
                .tags
                .iter()
                .flatten()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect(),
            call.now(),
        ),
    };
    let rule = StoredRule {
        name: request.name.clone(),
        arn: format!(
            "arn:aws:events:{}:{}:rule/{}",
            arns.region, arns.account, request.name
        ),
        schedule_expression: schedule,
        event_pattern: request.event_pattern.clone().filter(|p| !p.is_empty()),
        state: request.state.unwrap_or(RuleState::Enabled),
        description: request.description.clone(),
        role_arn: request.role_arn.clone(),
        created_by: arns.account.clone(),
        schedule_since,
        targets,
        tags,
        next_firing: None,
    };
    let arn = rule.arn.clone();
    save(call, rule, previous)?;
    Ok(json!({"RuleArn": arn}))
}

pub fn describe(call: &Call<'_>, request: &r::RuleName) -> Result<Value, Error> {
    Ok(existing(call, &request.name)?.shown(true))
}

pub fn list(call: &Call<'_>, request: &r::ListRules) -> Result<Value, Error> {
    let rules: Vec<StoredRule> = call
        .list::<StoredRule>(Collection::EventRules, Some(DEFAULT_BUS))?
        .into_iter()
        .filter(|rule| {
            request
                .name_prefix
                .as_deref()
                .is_none_or(|prefix| rule.name.starts_with(prefix))
        })
        .collect();
    let (page, next) = page(
        rules,
        request.next_token.as_deref(),
        request.limit,
        100,
        |rule| rule.name.clone(),
    )?;
    let page: Vec<Value> = page.into_iter().map(|rule| rule.shown(false)).collect();
    let mut answer = json!({"Rules": page});
    if let Some(token) = next {
        answer["NextToken"] = json!(token);
    }
    Ok(answer)
}

fn set_state(call: &Call<'_>, name: &str, state: RuleState) -> Result<Value, Error> {
    let mut rule = existing(call, name)?;
    if rule.state.enabled() == state.enabled() {
        return Ok(json!({}));
    }
    let previous = rule.next_firing;
    rule.state = state;
    save(call, rule, previous)?;
    Ok(json!({}))
}

pub fn enable(call: &Call<'_>, request: &r::RuleName) -> Result<Value, Error> {
    set_state(call, &request.name, RuleState::Enabled)
}

pub fn disable(call: &Call<'_>, request: &r::RuleName) -> Result<Value, Error> {
    set_state(call, &request.name, RuleState::Disabled)
}

/// Deletes a rule without targets; deleting one that does not exist succeeds, as on AWS.
pub fn delete(call: &Call<'_>, request: &r::DeleteRule) -> Result<Value, Error> {
    let key = rule_key(&request.name);
    let Some(rule) = call.get::<StoredRule>(Collection::EventRules, &key)? else {
        return Ok(json!({}));
    };
    if !rule.targets.is_empty() {
        return Err(Error::validation(
            "Rule can't be deleted since it has targets. Remove them first with RemoveTargets.",
        ));
    }
    call.remove(Collection::EventRules, &key)?;
    schedules::unindex(call, Owner::Rule, &key)?;
    Ok(json!({}))
}

pub fn tag(call: &Call<'_>, request: &r::TagResource) -> Result<Value, Error> {
    let name = name_in_arn(call, &request.resource_arn)?;
    change(call, name, |rule| {
        for tag in &request.tags {
            rule.tags.insert(tag.key.clone(), tag.value.clone());
        }
        match crate::json_api::tag_problem(
            "rule",
            rule.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ) {
            Some(problem) => Err(Error::validation(problem)),
            None => Ok(()),
        }
    })?;
    Ok(json!({}))
}

pub fn untag(call: &Call<'_>, request: &r::UntagResource) -> Result<Value, Error> {
    let name = name_in_arn(call, &request.resource_arn)?;
    change(call, name, |rule| {
        for key in &request.tag_keys {
            rule.tags.remove(key);
        }
        Ok(())
    })?;
    Ok(json!({}))
}

pub fn list_tags(call: &Call<'_>, request: &r::ListTagsForResource) -> Result<Value, Error> {
    let name = name_in_arn(call, &request.resource_arn)?;
    let rule = existing(call, name)?;
    let tags: Vec<Value> = rule
        .tags
        .iter()
        .map(|(key, value)| json!({"Key": key, "Value": value}))
        .collect();
    Ok(json!({"Tags": tags}))
}

/// What one target's RunTask did at a firing.
enum Outcome {
    Started(Vec<String>),
    /// Some or all of its tasks could not be placed (RunTask's `failures`).
    Unplaced {
        started: Vec<String>,
        reasons: Vec<String>,
    },
    /// RunTask refused it.
    Refused(String),
}

impl Outcome {
    fn failed(&self) -> bool {
        !matches!(self, Outcome::Started(_))
    }

    fn line(&self, target: &str) -> String {
        match self {
            Outcome::Started(tasks) => {
                format!("target {target}: started {}", tasks.join(", "))
            }
            Outcome::Unplaced { started, reasons } => format!(
                "FAILED target {target}: {} task(s) could not be placed ({}); started: {}",
                reasons.len(),
                reasons.join(", "),
                if started.is_empty() {
                    "none".to_string()
                } else {
                    started.join(", ")
                }
            ),
            Outcome::Refused(why) => format!("FAILED target {target}: RunTask refused: {why}"),
        }
    }
}

fn run_target(call: &Call<'_>, rule: &str, target: &r::Target) -> Outcome {
    let request = match run::run_task(rule, target) {
        Ok(request) => request,
        Err(why) => return Outcome::Refused(why),
    };
    match tasks::run(call, &request) {
        Err(e) => Outcome::Refused(format!("{}: {}", e.kind.name(), e.message)),
        Ok(answer) => {
            let listed = |member: &str, field: &str| -> Vec<String> {
                answer[member]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|entry| entry[field].as_str().map(str::to_string))
                    .collect()
            };
            let started = listed("tasks", "taskArn");
            let reasons = listed("failures", "reason");
            if reasons.is_empty() {
                Outcome::Started(started)
            } else {
                Outcome::Unplaced { started, reasons }
            }
        }
    }
}

/// Writes what a firing did to the rule's stream of [`FIRINGS_LOG_GROUP`]. The log store is
/// apart from the state store, so a firing whose state write then failed may show there and
/// run again.
fn record(call: &Call<'_>, rule: &str, lines: Vec<String>) {
    let logs = call.logs();
    let now = crate::logs::millis(call.now());
    let written = (|| {
        match logs.create_group(FIRINGS_LOG_GROUP, now) {
            Ok(()) | Err(LogError::GroupExists(_)) => {}
            Err(e) => return Err(e),
        }
        match logs.create_stream(FIRINGS_LOG_GROUP, rule, now) {
            Ok(()) | Err(LogError::StreamExists { .. }) => {}
            Err(e) => return Err(e),
        }
        let events: Vec<NewEvent> = lines
            .into_iter()
            .map(|message| NewEvent {
                timestamp: now,
                message,
            })
            .collect();
        logs.append(FIRINGS_LOG_GROUP, rule, &events, now)
    })();
    if let Err(error) = written {
        tracing::warn!(rule, %error, "could not write a rule's firing to its log stream");
    }
}

/// Runs a due rule: each target's RunTask, with `startedBy` naming the rule; then the rule is
/// scheduled again from now, so firings missed while the controller was down run once. What
/// each target did goes to the rule's log stream, and a failure to the server's log too. A
/// firing whose rule is gone, disabled or rescheduled is dropped. Returns whether it ran.
pub fn fire(call: &Call<'_>, firing: &Firing) -> Result<bool, Error> {
    let rule = call.get::<StoredRule>(Collection::EventRules, &firing.key)?;
    let Some(rule) = rule.filter(|rule| rule.next_firing == Some(firing.at)) else {
        schedules::drop_stale(call, firing)?;
        return Ok(false);
    };
    let mut lines = Vec::new();
    for target in &rule.targets {
        let outcome = run_target(call, &rule.name, target);
        let line = outcome.line(&target.id);
        if outcome.failed() {
            tracing::warn!(rule = %rule.name, outcome = %line, "a scheduled rule's target failed");
        }
        lines.push(line);
    }
    if lines.is_empty() {
        lines.push("no targets: nothing ran".to_string());
    }
    let next = rule.next_firing_after(call.now().max(firing.at));
    schedules::move_on(
        call,
        Collection::EventRules,
        firing,
        next,
        |r: &mut StoredRule| &mut r.next_firing,
    )?;
    record(call, &rule.name, lines);
    Ok(true)
}
