//! The Parameter Store handlers: synchronous functions of a [`Call`] and a checked request.

use super::error::Error;
use super::requests::{self as r, ParameterType, StringFilter};
use super::stored::{
    aad, arn, find, reference, scope_of, StoredParameter, StoredVersion, MAX_VERSIONS,
};
use crate::call::Call;
use crate::json_api::page;
use crate::secret_changes::{self, Changed};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use berth_model::sources::Selector;
use berth_store::Collection;
use serde_json::{json, Value};

fn type_name(kind: ParameterType) -> &'static str {
    match kind {
        ParameterType::String => "String",
        ParameterType::StringList => "StringList",
        ParameterType::SecureString => "SecureString",
    }
}

/// A version's value, opened: the one way out of the vault for parameters.
pub fn value(call: &Call<'_>, name: &str, version: &StoredVersion) -> Result<String, Error> {
    let bytes = call
        .vault()
        .open(&version.sealed, &aad(name, version.version))
        .map_err(|e| {
            tracing::error!(parameter = %name, version = version.version, error = %e, "a sealed value does not open");
            Error::new("InvalidKeyId", format!("the value of {name} does not decrypt: {e}"))
        })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// What the value member says: the value, or for a SecureString read without decryption,
/// its ciphertext.
fn shown_value(
    call: &Call<'_>,
    parameter: &StoredParameter,
    version: &StoredVersion,
    with_decryption: bool,
) -> Result<String, Error> {
    if version.kind == ParameterType::SecureString && !with_decryption {
        return Ok(STANDARD.encode(&version.sealed.ciphertext));
    }
    value(call, &parameter.name, version)
}

fn parameter_json(
    call: &Call<'_>,
    asked_as: &str,
    parameter: &StoredParameter,
    version: &StoredVersion,
    selector: Option<&Selector>,
    with_decryption: bool,
) -> Result<Value, Error> {
    let mut answer = json!({
        "Name": asked_as,
        "Type": type_name(version.kind),
        "Value": shown_value(call, parameter, version, with_decryption)?,
        "Version": version.version,
        "LastModifiedDate": version.last_modified,
        "ARN": parameter.arn,
        "DataType": "text",
    });
    match selector {
        Some(Selector::Version(n)) => answer["Selector"] = json!(format!(":{n}")),
        Some(Selector::Label(label)) => answer["Selector"] = json!(format!(":{label}")),
        None => {}
    }
    Ok(answer)
}

pub fn put(call: &Call<'_>, request: &r::PutParameter) -> Result<Value, Error> {
    if let Some(pattern) = &request.allowed_pattern {
        let matches = regex::Regex::new(pattern)
            .map(|re| re.is_match(request.value.expose()))
            .unwrap_or(false);
        if !matches {
            return Err(Error::new(
                "ParameterPatternMismatchException",
                format!("Parameter value, cannot be validated against allowedPattern: {pattern}"),
            ));
        }
    }
    let now = call.now();
    let user = format!(
        "arn:aws:iam::{}:user/{}",
        call.arns().account,
        call.caller().access_key_id
    );
    let make_version = |number: u64, kind: ParameterType, labels: Vec<String>| StoredVersion {
        version: number,
        kind,
        sealed: call.vault().seal(
            request.value.expose().as_bytes(),
            &aad(&request.name, number),
        ),
        last_modified: now,
        last_modified_user: user.clone(),
        description: request.description.clone(),
        allowed_pattern: request.allowed_pattern.clone(),
        tier: request.tier.clone().unwrap_or_else(|| "Standard".into()),
        labels,
    };
    let tier = request.tier.clone().unwrap_or_else(|| "Standard".into());
    if find(call, &request.name)?.is_some() {
        if !request.overwrite {
            return Err(Error::new(
                "ParameterAlreadyExists",
                "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
            ));
        }
        let version = call
            .modify(
                Collection::Parameters,
                &request.name,
                |stored: &mut StoredParameter| {
                    let latest = stored.latest();
                    let kind = request.kind.unwrap_or(latest.kind);
                    let number = latest.version + 1;
                    stored.versions.push(make_version(number, kind, Vec::new()));
                    if stored.versions.len() > MAX_VERSIONS {
                        stored.versions.remove(0);
                    }
                    if let Some(key) = &request.key_id {
                        stored.key_id = Some(key.clone());
                    }
                    Ok::<_, Error>(number)
                },
            )?
            .ok_or_else(|| Error::not_found(&request.name))?;
        secret_changes::record(
            call,
            Changed::Parameter {
                name: request.name.clone(),
            },
        )?;
        return Ok(json!({"Version": version, "Tier": tier}));
    }
    let Some(kind) = request.kind else {
        return Err(Error::validation(
            "A parameter type is required when you create a parameter.",
        ));
    };
    let arns = call.arns();
    let parameter = StoredParameter {
        name: request.name.clone(),
        arn: arn(&arns.region, &arns.account, &request.name),
        key_id: match kind {
            ParameterType::SecureString => Some(
                request
                    .key_id
                    .clone()
                    .unwrap_or_else(|| "alias/aws/ssm".into()),
            ),
            _ => None,
        },
        tags: request
            .tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect(),
        versions: vec![make_version(1, kind, Vec::new())],
    };
    if !call.insert_new(
        Collection::Parameters,
        &request.name,
        scope_of(&request.name),
        &parameter,
    )? {
        return Err(Error::new(
            "ParameterAlreadyExists",
            "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
        ));
    }
    Ok(json!({"Version": 1, "Tier": tier}))
}

/// One parameter as a getter names it, or why not.
fn lookup(call: &Call<'_>, asked: &str, with_decryption: bool) -> Result<Value, Error> {
    let reference = reference(asked)?;
    let parameter = find(call, &reference.name)?.ok_or_else(|| Error::not_found(asked))?;
    let version = parameter
        .version(reference.selector.as_ref())
        .ok_or_else(|| {
            Error::new(
                "ParameterVersionNotFound",
                format!(
                    "Systems Manager could not find version {asked} of {}.",
                    reference.name
                ),
            )
        })?;
    let asked_as = asked
        .split_once(':')
        .filter(|_| !asked.starts_with("arn:"))
        .map_or_else(|| strip_arn_selector(asked), |(name, _)| name);
    parameter_json(
        call,
        asked_as,
        &parameter,
        version,
        reference.selector.as_ref(),
        with_decryption,
    )
}

/// An ARN without a trailing `:version` or `:label` (an ARN has five colons of its own).
fn strip_arn_selector(asked: &str) -> &str {
    match asked.match_indices(':').nth(5) {
        Some((at, _)) => &asked[..at],
        None => asked,
    }
}

pub fn get(call: &Call<'_>, request: &r::GetParameter) -> Result<Value, Error> {
    Ok(json!({"Parameter": lookup(call, &request.name, request.with_decryption)?}))
}

pub fn get_many(call: &Call<'_>, request: &r::GetParameters) -> Result<Value, Error> {
    let mut parameters = Vec::new();
    let mut invalid = Vec::new();
    for name in &request.names {
        match lookup(call, name, request.with_decryption) {
            Ok(parameter) => parameters.push(parameter),
            Err(error)
                if error.code() == "InternalServerError" || error.code() == "InvalidKeyId" =>
            {
                return Err(error)
            }
            Err(_) => invalid.push(name.clone()),
        }
    }
    Ok(json!({"Parameters": parameters, "InvalidParameters": invalid}))
}

fn matches_filters(parameter: &StoredParameter, filters: &[StringFilter]) -> bool {
    let latest = parameter.latest();
    filters.iter().all(|filter| {
        let option = filter.option.as_deref().unwrap_or("Equals");
        let field: Vec<&str> = match filter.key.as_str() {
            "Name" => vec![parameter.name.as_str()],
            "Type" => vec![type_name(latest.kind)],
            "KeyId" => parameter.key_id.as_deref().into_iter().collect(),
            "Tier" => vec![latest.tier.as_str()],
            "DataType" => vec!["text"],
            "Path" => {
                return filter
                    .values
                    .iter()
                    .any(|path| under(&parameter.name, path, option == "Recursive"))
            }
            key => {
                let tag = key.strip_prefix("tag:").unwrap_or(key);
                parameter
                    .tags
                    .iter()
                    .filter(|(k, _)| k == tag)
                    .map(|(_, v)| v.as_str())
                    .collect()
            }
        };
        filter.values.is_empty() && !field.is_empty()
            || filter.values.iter().any(|value| {
                field.iter().any(|f| match option {
                    "BeginsWith" => f.starts_with(value.as_str()),
                    _ => f == value,
                })
            })
    })
}

/// Whether `name` lies under `path`: directly, or at any depth when `recursive`.
fn under(name: &str, path: &str, recursive: bool) -> bool {
    let path = path.trim_end_matches('/');
    let Some(rest) = name.strip_prefix(path).and_then(|r| r.strip_prefix('/')) else {
        return false;
    };
    !rest.is_empty() && (recursive || !rest.contains('/'))
}

/// The parameters a path can hold, from its own subtree's scope only.
fn in_subtree(call: &Call<'_>, path: &str) -> Result<Vec<StoredParameter>, Error> {
    let scope = (path != "/").then(|| scope_of(path.trim_end_matches('/')));
    Ok(call.list(Collection::Parameters, scope)?)
}

pub fn by_path(call: &Call<'_>, request: &r::GetParametersByPath) -> Result<Value, Error> {
    let matching: Vec<StoredParameter> = in_subtree(call, &request.path)?
        .into_iter()
        .filter(|p| {
            if request.path == "/" {
                request.recursive || !p.name.trim_start_matches('/').contains('/')
            } else {
                under(&p.name, &request.path, request.recursive)
            }
        })
        .filter(|p| matches_filters(p, &request.parameter_filters))
        .collect();
    let (page, next) = page(
        matching,
        request.next_token.as_deref(),
        request.max_results,
        10,
        |p| p.name.clone(),
    )?;
    let parameters = page
        .iter()
        .map(|p| parameter_json(call, &p.name, p, p.latest(), None, request.with_decryption))
        .collect::<Result<Vec<_>, _>>()?;
    let mut answer = json!({"Parameters": parameters});
    if let Some(token) = next {
        answer["NextToken"] = json!(token);
    }
    Ok(answer)
}

pub fn delete(call: &Call<'_>, request: &r::DeleteParameter) -> Result<Value, Error> {
    let name = reference(&request.name)?.name;
    if !call.remove(Collection::Parameters, &name)? {
        return Err(Error::not_found(&request.name));
    }
    Ok(json!({}))
}

pub fn delete_many(call: &Call<'_>, request: &r::DeleteParameters) -> Result<Value, Error> {
    let mut deleted = Vec::new();
    let mut invalid = Vec::new();
    for asked in &request.names {
        let removed = match reference(asked) {
            Ok(reference) => call.remove(Collection::Parameters, &reference.name)?,
            Err(_) => false,
        };
        if removed {
            deleted.push(asked.clone());
        } else {
            invalid.push(asked.clone());
        }
    }
    Ok(json!({"DeletedParameters": deleted, "InvalidParameters": invalid}))
}

fn metadata(parameter: &StoredParameter) -> Value {
    let latest = parameter.latest();
    let mut answer = json!({
        "Name": parameter.name,
        "ARN": parameter.arn,
        "Type": type_name(latest.kind),
        "LastModifiedDate": latest.last_modified,
        "LastModifiedUser": latest.last_modified_user,
        "Version": latest.version,
        "Tier": latest.tier,
        "Policies": [],
        "DataType": "text",
    });
    if let Some(key) = &parameter.key_id {
        answer["KeyId"] = json!(key);
    }
    if let Some(d) = &latest.description {
        answer["Description"] = json!(d);
    }
    if let Some(p) = &latest.allowed_pattern {
        answer["AllowedPattern"] = json!(p);
    }
    answer
}

pub fn describe(call: &Call<'_>, request: &r::DescribeParameters) -> Result<Value, Error> {
    // A Path filter reads one subtree; anything else reads every parameter.
    let path = request
        .parameter_filters
        .iter()
        .find(|f| f.key == "Path")
        .and_then(|f| (f.values.len() == 1).then(|| f.values[0].clone()));
    let candidates = match &path {
        Some(path) => in_subtree(call, path)?,
        None => call.list(Collection::Parameters, None)?,
    };
    let matching: Vec<&StoredParameter> = candidates
        .iter()
        .filter(|p| matches_filters(p, &request.parameter_filters))
        .collect();
    let (page, next) = page(
        matching,
        request.next_token.as_deref(),
        request.max_results,
        10,
        |p| p.name.clone(),
    )?;
    let page: Vec<Value> = page.into_iter().map(metadata).collect();
    let mut answer = json!({"Parameters": page});
    if let Some(token) = next {
        answer["NextToken"] = json!(token);
    }
    Ok(answer)
}

pub fn history(call: &Call<'_>, request: &r::GetParameterHistory) -> Result<Value, Error> {
    let name = reference(&request.name)?.name;
    let parameter = find(call, &name)?.ok_or_else(|| Error::not_found(&request.name))?;
    let (page, next) = page(
        parameter.versions.iter().collect(),
        request.next_token.as_deref(),
        request.max_results,
        50,
        |v| v.version,
    )?;
    let entries = page
        .into_iter()
        .map(|version| {
            let mut entry = json!({
                "Name": parameter.name,
                "Type": type_name(version.kind),
                "Value": shown_value(call, &parameter, version, request.with_decryption)?,
                "Version": version.version,
                "LastModifiedDate": version.last_modified,
                "LastModifiedUser": version.last_modified_user,
                "Labels": version.labels,
                "Tier": version.tier,
                "Policies": [],
                "DataType": "text",
            });
            if let Some(d) = &version.description {
                entry["Description"] = json!(d);
            }
            if let Some(p) = &version.allowed_pattern {
                entry["AllowedPattern"] = json!(p);
            }
            if version.kind == ParameterType::SecureString {
                entry["KeyId"] = json!(parameter.key_id);
            }
            Ok(entry)
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let mut answer = json!({"Parameters": entries});
    if let Some(token) = next {
        answer["NextToken"] = json!(token);
    }
    Ok(answer)
}
