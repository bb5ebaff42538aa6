//! The Secrets Manager handlers: synchronous functions of a [`Call`] and a checked request.
//! A value is sealed for its secret's ARN and version before it reaches the store, and
//! opened only to answer GetSecretValue, BatchGetSecretValue and the server's own resolution
//! of task secrets ([`value`]).

use super::error::Error;
use super::requests::{self as r, Filter, NewValue};
use super::stored::{self, aad, find, key_of, Kind, SealedValue, StoredSecret, StoredTag};
use crate::call::Call;
use crate::json_api::page;
use crate::secret_changes::{self, Changed};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use berth_aws::paging::time_key;
use berth_secrets::password::{self, PasswordRules};
use berth_secrets::stages::{Version, CURRENT};
use berth_store::Collection;
use serde_json::{json, Map, Value};
use std::cmp::Reverse;

/// Secrets Manager's own words, which tools match on.
pub const NOT_FOUND: &str = "Secrets Manager can't find the specified secret.";
pub const MARKED_FOR_DELETION: &str =
    "You can't perform this operation on the secret because it was marked for deletion.";

const DAY: f64 = 86_400.0;

fn not_found() -> Error {
    Error::not_found(NOT_FOUND)
}

/// The secret a request names, refused if it is missing or scheduled for deletion.
fn live(call: &Call<'_>, secret_id: &str) -> Result<StoredSecret, Error> {
    let secret = find(call, secret_id)?.ok_or_else(not_found)?;
    if secret.scheduled_for_deletion() {
        return Err(Error::invalid_request(MARKED_FOR_DELETION));
    }
    Ok(secret)
}

/// Changes the secret `secret_id` names with `change`, retried on concurrent writes.
fn modify<R>(
    call: &Call<'_>,
    secret_id: &str,
    mut change: impl FnMut(&mut StoredSecret) -> Result<R, Error>,
) -> Result<R, Error> {
    let key = key_of(call, secret_id)?.ok_or_else(not_found)?;
    let now = call.now();
    call.modify(Collection::Secrets, &key, |secret: &mut StoredSecret| {
        if secret.expired(now) {
            return Err(not_found());
        }
        change(secret)
    })?
    .ok_or_else(not_found)
}

fn seal(call: &Call<'_>, arn: &str, version_id: &str, value: &NewValue) -> SealedValue {
    let (kind, bytes) = match (&value.secret_string, &value.secret_binary) {
        (Some(text), _) => (Kind::String, text.expose().as_bytes().to_vec()),
        // Checked to be base64 before the handler ran.
        (None, Some(binary)) => (
            Kind::Binary,
            STANDARD.decode(binary.expose()).unwrap_or_default(),
        ),
        (None, None) => (Kind::String, Vec::new()),
    };
    SealedValue {
        kind,
        sealed: call.vault().seal(&bytes, &aad(arn, version_id)),
    }
}

/// A version's value, opened. The one way out of the vault for Secrets Manager's values.
pub fn value(
    call: &Call<'_>,
    secret: &StoredSecret,
    version: &Version<SealedValue>,
) -> Result<(Kind, Vec<u8>), Error> {
    call.vault()
        .open(&version.value.sealed, &aad(&secret.arn, &version.id))
        .map(|bytes| (version.value.kind, bytes))
        .map_err(|e| {
            tracing::error!(secret = %secret.arn, version = %version.id, error = %e, "a sealed value does not open");
            Error::new(
                "DecryptionFailure",
                format!("Secrets Manager can't decrypt the protected secret text: {e}"),
            )
        })
}

fn same_value(
    call: &Call<'_>,
    secret: &StoredSecret,
    version: &Version<SealedValue>,
    new: &NewValue,
) -> Result<bool, Error> {
    let (kind, bytes) = value(call, secret, version)?;
    Ok(match (kind, &new.secret_string, &new.secret_binary) {
        (Kind::String, Some(text), None) => bytes == text.expose().as_bytes(),
        (Kind::Binary, None, Some(binary)) => STANDARD.decode(binary.expose()).ok() == Some(bytes),
        _ => false,
    })
}

fn version_entry(
    call: &Call<'_>,
    secret: &StoredSecret,
    version: &Version<SealedValue>,
) -> Result<Value, Error> {
    let (kind, bytes) = value(call, secret, version)?;
    let mut answer = json!({
        "ARN": secret.arn,
        "Name": secret.name,
        "VersionId": version.id,
        "VersionStages": version.stages,
        "CreatedDate": version.created,
    });
    answer[match kind {
        Kind::String => "SecretString",
        Kind::Binary => "SecretBinary",
    }] = match kind {
        Kind::String => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
        Kind::Binary => Value::String(STANDARD.encode(&bytes)),
    };
    Ok(answer)
}

/// The version a GetSecretValue asks for: by id, by label, or `AWSCURRENT`.
pub fn pick<'s>(
    secret: &'s StoredSecret,
    version_id: Option<&str>,
    version_stage: Option<&str>,
) -> Result<&'s Version<SealedValue>, Error> {
    let found = match (version_id, version_stage) {
        (Some(id), stage) => secret
            .versions
            .by_id(id)
            .filter(|v| stage.is_none_or(|stage| v.stages.contains(stage))),
        (None, stage) => secret.versions.by_stage(stage.unwrap_or(CURRENT)),
    };
    found.ok_or_else(|| {
        let what = match (version_id, version_stage) {
            (Some(id), Some(stage)) => format!("VersionId: {id} and staging label: {stage}"),
            (Some(id), None) => format!("VersionId: {id}"),
            (None, stage) => format!("staging label: {}", stage.unwrap_or(CURRENT)),
        };
        Error::not_found(format!(
            "Secrets Manager can't find the specified secret value for {what}"
        ))
    })
}

pub fn create(call: &Call<'_>, request: &r::CreateSecret) -> Result<Value, Error> {
    if let Some(existing) = call.get::<StoredSecret>(Collection::Secrets, &request.name)? {
        if existing.expired(call.now()) {
            call.remove(Collection::Secrets, &request.name)?;
            stored::cancel_purge(call, &request.name)?;
        } else if existing.scheduled_for_deletion() {
            return Err(Error::invalid_request(format!(
                "You can't create this secret because a secret with this name ({}) is already scheduled for deletion.",
                request.name
            )));
        } else {
            return Err(Error::exists(format!(
                "The operation failed because the secret {} already exists.",
                request.name
            )));
        }
    }
    let arns = call.arns();
    let arn = format!(
        "arn:aws:secretsmanager:{}:{}:secret:{}-{}",
        arns.region,
        arns.account,
        request.name,
        call.ids().alphanumeric(6)
    );
    let now = call.now();
    let mut versions = berth_secrets::stages::Versions::default();
    let version_id = request
        .client_request_token
        .clone()
        .unwrap_or_else(|| call.ids().uuid());
    if request.value.is_given() {
        let sealed = seal(call, &arn, &version_id, &request.value);
        versions
            .add(version_id.clone(), now, sealed, None)
            .map_err(|e| Error::invalid_parameter(e.to_string()))?;
    }
    let secret = StoredSecret {
        arn: arn.clone(),
        name: request.name.clone(),
        description: request.description.clone(),
        kms_key_id: request.kms_key_id.clone(),
        tags: request
            .tags
            .iter()
            .map(|t| StoredTag {
                key: t.key.clone(),
                value: t.value.clone(),
            })
            .collect(),
        created: now,
        last_changed: now,
        deleted: None,
        deletion_date: None,
        versions,
    };
    if !call.insert_new(Collection::Secrets, &request.name, "", &secret)? {
        return Err(Error::exists(format!(
            "The operation failed because the secret {} already exists.",
            request.name
        )));
    }
    let mut answer = json!({"ARN": arn, "Name": request.name});
    if request.value.is_given() {
        answer["VersionId"] = json!(version_id);
    }
    Ok(answer)
}

pub fn get_value(call: &Call<'_>, request: &r::GetSecretValue) -> Result<Value, Error> {
    let secret = live(call, &request.secret_id)?;
    let version = pick(
        &secret,
        request.version_id.as_deref(),
        request.version_stage.as_deref(),
    )?;
    version_entry(call, &secret, version)
}

pub fn batch_get_value(call: &Call<'_>, request: &r::BatchGetSecretValue) -> Result<Value, Error> {
    let mut values = Vec::new();
    let mut errors = Vec::new();
    let mut next_token = None;
    if let Some(ids) = &request.secret_id_list {
        for id in ids {
            let answer = live(call, id).and_then(|secret| {
                let version = pick(&secret, None, None)?;
                version_entry(call, &secret, version)
            });
            match answer {
                Ok(value) => values.push(value),
                Err(error) => errors.push(json!({
                    "SecretId": id,
                    "ErrorCode": error.code(),
                    "Message": error.message(),
                })),
            }
        }
    } else {
        let filters = request.filters.as_deref().unwrap_or_default();
        let matching: Vec<StoredSecret> = listed(call, false)?
            .into_iter()
            .filter(|s| matches_all(s, filters))
            .collect();
        let (page, next) = page(
            matching,
            request.next_token.as_deref(),
            request.max_results,
            20,
            listed_order,
        )?;
        next_token = next;
        for secret in page {
            match pick(&secret, None, None).and_then(|v| version_entry(call, &secret, v)) {
                Ok(value) => values.push(value),
                Err(error) => errors.push(json!({
                    "SecretId": secret.arn,
                    "ErrorCode": error.code(),
                    "Message": error.message(),
                })),
            }
        }
    }
    let mut answer = json!({"SecretValues": values, "Errors": errors});
    if let Some(token) = next_token {
        answer["NextToken"] = json!(token);
    }
    Ok(answer)
}

pub fn put_value(call: &Call<'_>, request: &r::PutSecretValue) -> Result<Value, Error> {
    let now = call.now();
    let version_id = request
        .client_request_token
        .clone()
        .unwrap_or_else(|| call.ids().uuid());
    let mut became_current = None;
    let answer = modify(call, &request.secret_id, |secret| {
        became_current = None;
        if secret.scheduled_for_deletion() {
            return Err(Error::invalid_request(MARKED_FOR_DELETION));
        }
        if let Some(existing) = secret.versions.by_id(&version_id) {
            return if same_value(call, secret, existing, &request.value)? {
                Ok(json!({
                    "ARN": secret.arn,
                    "Name": secret.name,
                    "VersionId": existing.id,
                    "VersionStages": existing.stages,
                }))
            } else {
                Err(Error::exists(
                    "You can't modify an existing version, you can only create a new version.",
                ))
            };
        }
        let sealed = seal(call, &secret.arn, &version_id, &request.value);
        secret
            .versions
            .add(
                version_id.clone(),
                now,
                sealed,
                request.version_stages.as_deref(),
            )
            .map_err(|e| Error::invalid_parameter(e.to_string()))?;
        secret.last_changed = now;
        let stages = secret.versions.by_id(&version_id).map(|v| v.stages.clone());
        if stages.as_ref().is_some_and(|s| s.contains(CURRENT)) {
            became_current = Some(changed(secret));
        }
        Ok(json!({
            "ARN": secret.arn,
            "Name": secret.name,
            "VersionId": version_id,
            "VersionStages": stages,
        }))
    })?;
    if let Some(change) = became_current {
        secret_changes::record(call, change)?;
    }
    Ok(answer)
}

fn changed(secret: &StoredSecret) -> Changed {
    Changed::Secret {
        name: secret.name.clone(),
        arn: secret.arn.clone(),
    }
}

pub fn update(call: &Call<'_>, request: &r::UpdateSecret) -> Result<Value, Error> {
    let now = call.now();
    let version_id = request
        .client_request_token
        .clone()
        .unwrap_or_else(|| call.ids().uuid());
    let mut became_current = None;
    let answer = modify(call, &request.secret_id, |secret| {
        became_current = None;
        if secret.scheduled_for_deletion() {
            return Err(Error::invalid_request(MARKED_FOR_DELETION));
        }
        if let Some(description) = &request.description {
            secret.description = Some(description.clone());
        }
        if let Some(key) = &request.kms_key_id {
            secret.kms_key_id = Some(key.clone());
        }
        secret.last_changed = now;
        let mut answer = json!({"ARN": secret.arn, "Name": secret.name});
        if request.value.is_given() {
            if let Some(existing) = secret.versions.by_id(&version_id) {
                if !same_value(call, secret, existing, &request.value)? {
                    return Err(Error::exists(
                        "You can't modify an existing version, you can only create a new version.",
                    ));
                }
            } else {
                let sealed = seal(call, &secret.arn, &version_id, &request.value);
                secret
                    .versions
                    .add(version_id.clone(), now, sealed, None)
                    .map_err(|e| Error::invalid_parameter(e.to_string()))?;
                became_current = Some(changed(secret));
            }
            answer["VersionId"] = json!(version_id);
        }
        Ok(answer)
    })?;
    if let Some(change) = became_current {
        secret_changes::record(call, change)?;
    }
    Ok(answer)
}

fn tags_json(secret: &StoredSecret) -> Value {
    Value::Array(
        secret
            .tags
            .iter()
            .map(|t| json!({"Key": t.key, "Value": t.value}))
            .collect(),
    )
}

fn version_stages(secret: &StoredSecret) -> Value {
    Value::Object(
        secret
            .versions
            .labelled()
            .map(|v| (v.id.clone(), json!(v.stages)))
            .collect::<Map<_, _>>(),
    )
}

/// What DescribeSecret and ListSecrets say of a secret: everything but its value.
fn description(secret: &StoredSecret, versions_member: &str) -> Value {
    let mut answer = json!({
        "ARN": secret.arn,
        "Name": secret.name,
        "RotationEnabled": false,
        "LastChangedDate": secret.last_changed,
        "CreatedDate": secret.created,
        "Tags": tags_json(secret),
    });
    answer[versions_member] = version_stages(secret);
    if let Some(d) = &secret.description {
        answer["Description"] = json!(d);
    }
    if let Some(k) = &secret.kms_key_id {
        answer["KmsKeyId"] = json!(k);
    }
    if let Some(deleted) = secret.deleted {
        answer["DeletedDate"] = json!(deleted);
    }
    answer
}

pub fn describe(call: &Call<'_>, request: &r::DescribeSecret) -> Result<Value, Error> {
    let secret = find(call, &request.secret_id)?.ok_or_else(not_found)?;
    Ok(description(&secret, "VersionIdsToStages"))
}

/// Every secret that still exists, oldest first; with those scheduled for deletion if asked.
fn listed(call: &Call<'_>, include_planned_deletion: bool) -> Result<Vec<StoredSecret>, Error> {
    let now = call.now();
    let mut secrets: Vec<StoredSecret> = call
        .list::<StoredSecret>(Collection::Secrets, None)?
        .into_iter()
        .filter(|s| !s.expired(now))
        .filter(|s| include_planned_deletion || !s.scheduled_for_deletion())
        .collect();
    secrets.sort_by_key(listed_order);
    Ok(secrets)
}

/// Secrets are listed oldest first, by name where created together.
fn listed_order(secret: &StoredSecret) -> (i64, String) {
    (time_key(secret.created), secret.name.clone())
}

/// ListSecrets' filters: each value a prefix (`!` negates), any value of a filter, every
/// filter.
fn matches_all(secret: &StoredSecret, filters: &[Filter]) -> bool {
    filters.iter().all(|filter| {
        filter.values.iter().any(|value| {
            let (negated, prefix) = match value.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, value.as_str()),
            };
            let fields: Vec<&str> = match filter.key.as_str() {
                "name" => vec![&secret.name],
                "description" => secret.description.as_deref().into_iter().collect(),
                "tag-key" => secret.tags.iter().map(|t| t.key.as_str()).collect(),
                "tag-value" => secret.tags.iter().map(|t| t.value.as_str()).collect(),
                "all" => std::iter::once(secret.name.as_str())
                    .chain(secret.description.as_deref())
                    .chain(
                        secret
                            .tags
                            .iter()
                            .flat_map(|t| [t.key.as_str(), t.value.as_str()]),
                    )
                    .collect(),
                // One region, and no secret is managed by another service.
                _ => vec![],
            };
            fields.iter().any(|f| f.starts_with(prefix)) != negated
        })
    })
}

pub fn list(call: &Call<'_>, request: &r::ListSecrets) -> Result<Value, Error> {
    let secrets: Vec<StoredSecret> = listed(call, request.include_planned_deletion)?
        .into_iter()
        .filter(|s| matches_all(s, &request.filters))
        .collect();
    // The order asked for, by name where it ties.
    let by = request.sort_by.clone();
    let order = move |secret: &StoredSecret| match by.as_deref() {
        Some("name") => (0, secret.name.clone()),
        Some("last-changed-date") => (time_key(secret.last_changed), secret.name.clone()),
        _ => listed_order(secret),
    };
    let (token, max) = (request.next_token.as_deref(), request.max_results);
    let (page, next) = if request.sort_order.as_deref() == Some("desc") {
        page(secrets, token, max, 100, |s| Reverse(order(s)))?
    } else {
        page(secrets, token, max, 100, order)?
    };
    let mut answer = json!({
        "SecretList": page.iter().map(|s| description(s, "SecretVersionsToStages")).collect::<Vec<_>>(),
    });
    if let Some(token) = next {
        answer["NextToken"] = json!(token);
    }
    Ok(answer)
}

pub fn list_versions(call: &Call<'_>, request: &r::ListSecretVersionIds) -> Result<Value, Error> {
    let secret = find(call, &request.secret_id)?.ok_or_else(not_found)?;
    let versions: Vec<_> = secret
        .versions
        .iter()
        .filter(|v| request.include_deprecated || !v.stages.is_empty())
        .collect();
    // Newest first.
    let (page, next) = page(
        versions,
        request.next_token.as_deref(),
        request.max_results,
        100,
        |v| Reverse((time_key(v.created), v.id.clone())),
    )?;
    let page: Vec<Value> = page
        .into_iter()
        .map(|v| {
            json!({
                "VersionId": v.id,
                "VersionStages": v.stages,
                "CreatedDate": v.created,
                "KmsKeyIds": ["DefaultEncryptionKey"],
            })
        })
        .collect();
    let mut answer = json!({"ARN": secret.arn, "Name": secret.name, "Versions": page});
    if let Some(token) = next {
        answer["NextToken"] = json!(token);
    }
    Ok(answer)
}

pub fn update_version_stage(
    call: &Call<'_>,
    request: &r::UpdateSecretVersionStage,
) -> Result<Value, Error> {
    let now = call.now();
    let mut became_current = None;
    let answer = modify(call, &request.secret_id, |secret| {
        if secret.scheduled_for_deletion() {
            return Err(Error::invalid_request(MARKED_FOR_DELETION));
        }
        let before = secret.versions.current().map(|v| v.id.clone());
        secret
            .versions
            .move_stage(
                &request.version_stage,
                request.remove_from_version_id.as_deref(),
                request.move_to_version_id.as_deref(),
            )
            .map_err(|e| Error::invalid_parameter(e.to_string()))?;
        secret.last_changed = now;
        became_current =
            (secret.versions.current().map(|v| v.id.clone()) != before).then(|| changed(secret));
        Ok(json!({"ARN": secret.arn, "Name": secret.name}))
    })?;
    if let Some(change) = became_current {
        secret_changes::record(call, change)?;
    }
    Ok(answer)
}

pub fn delete(call: &Call<'_>, request: &r::DeleteSecret) -> Result<Value, Error> {
    let now = call.now();
    if request.force_delete_without_recovery == Some(true) {
        // Deleting what is already gone succeeds, as Secrets Manager's does.
        let Some(key) = key_of(call, &request.secret_id)? else {
            return Ok(json!({"Name": request.secret_id, "DeletionDate": now}));
        };
        let secret = call.get::<StoredSecret>(Collection::Secrets, &key)?;
        call.remove(Collection::Secrets, &key)?;
        stored::cancel_purge(call, &key)?;
        return Ok(match secret {
            Some(s) => json!({"ARN": s.arn, "Name": s.name, "DeletionDate": now}),
            None => json!({"Name": request.secret_id, "DeletionDate": now}),
        });
    }
    let days = request.recovery_window_in_days.unwrap_or(30) as f64;
    let at = now + days * DAY;
    let (answer, name) = modify(call, &request.secret_id, |secret| {
        if secret.scheduled_for_deletion() {
            return Err(Error::invalid_request(MARKED_FOR_DELETION));
        }
        secret.deleted = Some(now);
        secret.deletion_date = Some(at);
        let answer = json!({"ARN": secret.arn, "Name": secret.name, "DeletionDate": at});
        Ok((answer, secret.name.clone()))
    })?;
    stored::schedule_purge(call, &name, at)?;
    Ok(answer)
}

pub fn restore(call: &Call<'_>, request: &r::RestoreSecret) -> Result<Value, Error> {
    let (answer, name) = modify(call, &request.secret_id, |secret| {
        secret.deleted = None;
        secret.deletion_date = None;
        Ok((
            json!({"ARN": secret.arn, "Name": secret.name}),
            secret.name.clone(),
        ))
    })?;
    stored::cancel_purge(call, &name)?;
    Ok(answer)
}

pub fn tag(call: &Call<'_>, request: &r::TagResource) -> Result<Value, Error> {
    modify(call, &request.secret_id, |secret| {
        for tag in &request.tags {
            match secret.tags.iter_mut().find(|t| t.key == tag.key) {
                Some(existing) => existing.value = tag.value.clone(),
                None => secret.tags.push(StoredTag {
                    key: tag.key.clone(),
                    value: tag.value.clone(),
                }),
            }
        }
        if secret.tags.len() > 50 {
            return Err(Error::invalid_parameter(format!(
                "a secret can have at most 50 tags; this would give it {}",
                secret.tags.len()
            )));
        }
        Ok(json!({}))
    })
}

pub fn untag(call: &Call<'_>, request: &r::UntagResource) -> Result<Value, Error> {
    modify(call, &request.secret_id, |secret| {
        secret.tags.retain(|t| !request.tag_keys.contains(&t.key));
        Ok(json!({}))
    })
}

pub fn random_password(_call: &Call<'_>, request: &r::GetRandomPassword) -> Result<Value, Error> {
    let defaults = PasswordRules::default();
    let rules = PasswordRules {
        length: match request.password_length {
            Some(n) => usize::try_from(n).unwrap_or(0),
            None => defaults.length,
        },
        exclude_characters: request.exclude_characters.clone().unwrap_or_default(),
        exclude_numbers: request.exclude_numbers.unwrap_or(false),
        exclude_punctuation: request.exclude_punctuation.unwrap_or(false),
        exclude_uppercase: request.exclude_uppercase.unwrap_or(false),
        exclude_lowercase: request.exclude_lowercase.unwrap_or(false),
        include_space: request.include_space.unwrap_or(false),
        require_each_included_type: request.require_each_included_type.unwrap_or(true),
    };
    let password =
        password::generate(&rules).map_err(|e| Error::invalid_parameter(e.to_string()))?;
    Ok(json!({"RandomPassword": password}))
}
