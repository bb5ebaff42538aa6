//! A task's secrets, resolved on the server when it is about to start and sent only to the
//! agent that runs it: `secrets[]`, `logConfiguration.secretOptions` and
//! `repositoryCredentials.credentialsParameter`, read from Secrets Manager and Parameter Store
//! as ECS's agent reads them (see `berth_model::sources`).
//!
//! Nothing is dropped in silence: a secret that cannot be resolved fails the whole task
//! before any container starts, with ECS's `ResourceInitializationError: unable to pull
//! secrets or registry auth: …` followed by every problem found, each naming the container,
//! the variable and the secret or parameter, and what exactly is missing (a JSON key's name
//! and the keys there are, never a value).

use crate::call::{Call, Fault};
use crate::secretsmanager::{secrets, stored as secret_store, stored::Kind};
use crate::ssm::{parameters, stored as parameter_store};
use berth_model::agent::{ContainerSecrets, RegistryAuth, Resolution, SecretValue};
use berth_model::resources::{ContainerDefinition, Secret};
use berth_model::sources::{self, SecretRef, Source};
use berth_secrets::render;
use std::collections::BTreeMap;

/// The task's secrets, or `None` when it names none. A store fault is the server's, not
/// the task's: it fails the poll, which the agent repeats.
pub fn resolve(
    call: &Call<'_>,
    containers: &[ContainerDefinition],
) -> Result<Option<Resolution>, Fault> {
    if !containers.iter().any(sources::names_secrets) {
        return Ok(None);
    }
    let mut problems = Vec::new();
    let mut resolved = BTreeMap::new();
    for container in containers {
        let container_name = container.name.as_deref().unwrap_or_default();
        let mut found = ContainerSecrets::default();
        let read = |list: Option<&Vec<Secret>>,
                    into: &mut BTreeMap<String, SecretValue>,
                    problems: &mut Vec<String>|
         -> Result<(), Fault> {
            for secret in list.into_iter().flatten() {
                match value_of(call, &secret.value_from)? {
                    Ok(value) => {
                        into.insert(secret.name.clone(), SecretValue::new(value));
                    }
                    Err(problem) => problems.push(format!(
                        "{problem} (container {container_name}, {})",
                        secret.name
                    )),
                }
            }
            Ok(())
        };
        read(
            container.secrets.as_ref(),
            &mut found.environment,
            &mut problems,
        )?;
        read(
            container
                .log_configuration
                .as_ref()
                .and_then(|l| l.secret_options.as_ref()),
            &mut found.log_options,
            &mut problems,
        )?;
        if let Some(parameter) = sources::credentials_parameter(container) {
            match registry_auth(call, parameter)? {
                Ok(auth) => found.registry_auth = Some(auth),
                Err(problem) => problems.push(format!(
                    "{problem} (container {container_name}, repositoryCredentials)"
                )),
            }
        }
        if found != ContainerSecrets::default() {
            resolved.insert(container_name.to_string(), found);
        }
    }
    Ok(Some(if problems.is_empty() {
        Resolution::Resolved {
            containers: resolved,
        }
    } else {
        Resolution::Failed {
            reason: format!("{}: {}", sources::FAILURE_PREFIX, problems.join("; ")),
        }
    }))
}

/// One `valueFrom`'s value, or what is wrong with it in words a user can act on.
fn value_of(call: &Call<'_>, value_from: &str) -> Result<Result<String, String>, Fault> {
    match sources::parse(value_from) {
        Ok(Source::SecretsManager(reference)) => secret_value(call, &reference),
        Ok(Source::Ssm(_)) => parameter_value(call, value_from),
        Err(problem) => Ok(Err(format!("invalid valueFrom {value_from:?}: {problem}"))),
    }
}

fn secret_value(call: &Call<'_>, reference: &SecretRef) -> Result<Result<String, String>, Fault> {
    let failed = |what: String| {
        Ok(Err(format!(
            "unable to retrieve secret from asm: secret {}: {what}",
            reference.secret_id
        )))
    };
    let Some(secret) = secret_store::find(call, &reference.secret_id)? else {
        return failed(secrets::NOT_FOUND.to_string());
    };
    if secret.scheduled_for_deletion() {
        return failed(secrets::MARKED_FOR_DELETION.to_string());
    }
    let version = match secrets::pick(
        &secret,
        reference.version_id.as_deref(),
        reference.version_stage.as_deref(),
    ) {
        Ok(version) => version,
        Err(error) => return failed(error.message().to_string()),
    };
    let (kind, bytes) = match secrets::value(call, &secret, version) {
        Ok(opened) => opened,
        Err(error) => return failed(error.message().to_string()),
    };
    if kind == Kind::Binary {
        return failed(
            "the secret holds a binary value (SecretBinary); containers receive string secrets only"
                .to_string(),
        );
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    match &reference.json_key {
        None => Ok(Ok(text)),
        Some(key) => match render::json_key(&text, key) {
            Ok(value) => Ok(Ok(value)),
            Err(error) => failed(error.to_string()),
        },
    }
}

fn parameter_value(call: &Call<'_>, value_from: &str) -> Result<Result<String, String>, Fault> {
    let invalid = |why: &str| {
        Ok(Err(format!(
            "unable to retrieve secrets from ssm: invalid parameters: {value_from} ({why})"
        )))
    };
    let reference = match parameter_store::reference(value_from) {
        Ok(reference) => reference,
        Err(error) => return invalid(error.message()),
    };
    let Some(parameter) = parameter_store::find(call, &reference.name)? else {
        return invalid("no such parameter");
    };
    let Some(version) = parameter.version(reference.selector.as_ref()) else {
        return invalid("no such version or label");
    };
    Ok(
        parameters::value(call, &parameter.name, version).map_err(|e| {
            format!(
                "unable to retrieve secrets from ssm: {value_from}: {}",
                e.message()
            )
        }),
    )
}

/// A registry's credentials: a Secrets Manager secret holding `username` and `password`.
fn registry_auth(call: &Call<'_>, parameter: &str) -> Result<Result<RegistryAuth, String>, Fault> {
    let reference = match sources::parse(parameter) {
        Ok(Source::SecretsManager(reference)) => reference,
        Ok(Source::Ssm(_)) | Err(_) => {
            return Ok(Err(format!(
                "unable to retrieve registry auth: credentialsParameter {parameter:?} must be a Secrets Manager secret's ARN"
            )))
        }
    };
    let text = match secret_value(call, &reference)? {
        Ok(text) => text,
        Err(problem) => return Ok(Err(problem)),
    };
    let field = |key: &str| render::json_key(&text, key);
    Ok(match (field("username"), field("password")) {
        (Ok(username), Ok(password)) => Ok(RegistryAuth {
            username,
            password: SecretValue::new(password),
        }),
        (Err(error), _) | (_, Err(error)) => Err(format!(
            "unable to retrieve registry auth from asm: secret {parameter}: {error}"
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::Context;
    use crate::local::LocalClient;
    use berth_model::Arns;
    use berth_store::MemoryStore;
    use serde_json::{json, Value};
    use std::sync::Arc;

    const NOW: f64 = 1_700_000_000.0;

    struct World {
        client: LocalClient,
        db_arn: String,
    }

    impl World {
        fn new() -> Self {
            let cx = Context::new(
                Arc::new(MemoryStore::new()),
                Arns::new("us-east-1", "000000000000"),
            );
            let client = LocalClient::new(Arc::new(cx));
            let call = |api: &str, action: &str, body: Value| {
                client
                    .json_at(api, action, body.to_string().as_bytes(), NOW)
                    .unwrap_or_else(|e| panic!("{action}: {e}"))
            };
            let created = call(
                "secretsmanager",
                "CreateSecret",
                json!({"Name": "app/dev/DATABASE",
                       "SecretString": r#"{"DATABASE_PASSWORD":"hunter2","port":5432,"username":"app"}"#}),
            );
            call(
                "secretsmanager",
                "PutSecretValue",
                json!({"SecretId": "app/dev/DATABASE",
                       "SecretString": r#"{"DATABASE_PASSWORD":"rotated","port":5432,"username":"app"}"#}),
            );
            call(
                "secretsmanager",
                "CreateSecret",
                json!({"Name": "plain", "SecretString": "just-text"}),
            );
            call(
                "secretsmanager",
                "CreateSecret",
                json!({"Name": "bytes", "SecretBinary": "AAEC"}),
            );
            call(
                "secretsmanager",
                "CreateSecret",
                json!({"Name": "registry", "SecretString": r#"{"username":"deploy","password":"pw"}"#}),
            );
            call(
                "ssm",
                "PutParameter",
                json!({"Name": "/app/api-key", "Value": "k-123", "Type": "SecureString"}),
            );
            call(
                "ssm",
                "PutParameter",
                json!({"Name": "flat", "Value": "f", "Type": "String"}),
            );
            Self {
                client,
                db_arn: created["ARN"].as_str().unwrap().to_string(),
            }
        }

        fn resolve(&self, containers: Value) -> Option<Resolution> {
            let containers: Vec<ContainerDefinition> = serde_json::from_value(containers).unwrap();
            self.client
                .context()
                .as_system(NOW, |call| resolve(call, &containers))
                .unwrap()
        }
    }

    fn environment(resolution: Option<Resolution>, container: &str) -> BTreeMap<String, String> {
        match resolution {
            Some(Resolution::Resolved { containers }) => containers[container]
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), v.expose().to_string()))
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    fn reason(resolution: Option<Resolution>) -> String {
        match resolution {
            Some(Resolution::Failed { reason }) => reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_task_without_secrets_needs_nothing() {
        let world = World::new();
        assert_eq!(world.resolve(json!([{"name": "web", "image": "x"}])), None);
    }

    #[test]
    fn every_kind_of_source_resolves() {
        let world = World::new();
        let db = &world.db_arn;
        let partial = "arn:aws:secretsmanager:us-east-1:000000000000:secret:plain";
        let env = environment(
            world.resolve(json!([{"name": "web", "image": "x", "secrets": [
                {"name": "WHOLE", "valueFrom": db},
                {"name": "PASSWORD", "valueFrom": format!("{db}:DATABASE_PASSWORD::")},
                {"name": "PORT", "valueFrom": format!("{db}:port::")},
                {"name": "OLD_PASSWORD", "valueFrom": format!("{db}:DATABASE_PASSWORD:AWSPREVIOUS:")},
                {"name": "PLAIN", "valueFrom": partial},
                {"name": "API_KEY", "valueFrom": "/app/api-key"},
                {"name": "API_KEY_BY_ARN", "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/app/api-key"},
                {"name": "FLAT", "valueFrom": "flat"},
            ]}])),
            "web",
        );
        assert_eq!(
            env["WHOLE"],
            r#"{"DATABASE_PASSWORD":"rotated","port":5432,"username":"app"}"#
        );
        assert_eq!(env["PASSWORD"], "rotated");
        assert_eq!(env["PORT"], "5432");
        assert_eq!(env["OLD_PASSWORD"], "hunter2");
        assert_eq!(env["PLAIN"], "just-text");
        assert_eq!(env["API_KEY"], "k-123");
        assert_eq!(env["API_KEY_BY_ARN"], "k-123");
        assert_eq!(env["FLAT"], "f");
    }

    #[test]
    fn log_options_and_registry_auth_resolve_too() {
        let world = World::new();
        let resolution = world.resolve(json!([{
            "name": "web", "image": "x",
            "logConfiguration": {"logDriver": "splunk", "secretOptions": [{"name": "splunk-token", "valueFrom": "/app/api-key"}]},
            "repositoryCredentials": {"credentialsParameter": "arn:aws:secretsmanager:us-east-1:000000000000:secret:registry"},
        }]));
        let Some(Resolution::Resolved { containers }) = resolution else {
            panic!("{resolution:?}")
        };
        let web = &containers["web"];
        assert_eq!(web.log_options["splunk-token"].expose(), "k-123");
        let auth = web.registry_auth.as_ref().unwrap();
        assert_eq!(auth.username, "deploy");
        assert_eq!(auth.password.expose(), "pw");
        assert!(format!("{auth:?}").contains("redacted"));
    }

    #[test]
    fn each_problem_is_named_without_a_value() {
        let world = World::new();
        let db = &world.db_arn;
        let reason = reason(world.resolve(json!([{"name": "web", "image": "x", "secrets": [
            {"name": "MISSING_KEY", "valueFrom": format!("{db}:DATABASE_PASS::")},
            {"name": "NO_SECRET", "valueFrom": "arn:aws:secretsmanager:us-east-1:000000000000:secret:nope"},
            {"name": "NO_STAGE", "valueFrom": format!("{db}::AWSPENDING:")},
            {"name": "NO_PARAMETER", "valueFrom": "/app/missing"},
            {"name": "BINARY", "valueFrom": "arn:aws:secretsmanager:us-east-1:000000000000:secret:bytes"},
            {"name": "FINE", "valueFrom": "flat"},
        ]}])));
        assert!(reason.starts_with(sources::FAILURE_PREFIX), "{reason}");
        for says in [
            "did not contain json key DATABASE_PASS (it has: DATABASE_PASSWORD, port, username) (container web, MISSING_KEY)",
            "secret:nope: Secrets Manager can't find the specified secret. (container web, NO_SECRET)",
            "staging label: AWSPENDING",
            "invalid parameters: /app/missing (no such parameter) (container web, NO_PARAMETER)",
            "binary value",
        ] {
            assert!(reason.contains(says), "{says:?} not in {reason}");
        }
        for value in ["rotated", "hunter2", "5432", "just-text"] {
            assert!(!reason.contains(value), "{value} leaked: {reason}");
        }
        assert!(!reason.contains("FINE"));
    }

    #[test]
    fn a_secret_scheduled_for_deletion_fails_the_task() {
        let world = World::new();
        world
            .client
            .json_at(
                "secretsmanager",
                "DeleteSecret",
                br#"{"SecretId": "plain"}"#,
                NOW,
            )
            .unwrap();
        let reason = reason(world.resolve(json!([{"name": "web", "image": "x", "secrets": [
            {"name": "PLAIN", "valueFrom": "arn:aws:secretsmanager:us-east-1:000000000000:secret:plain"},
        ]}])));
        assert!(reason.contains("marked for deletion"), "{reason}");
    }
}
