//! The Secrets Manager API (JSON 1.1, `secretsmanager.<Action>`): secrets with versions and
//! staging labels, their values sealed by the [`Vault`](berth_secrets::Vault) before they
//! reach the store.
//!
//! `requests` reads and checks each action's input before its handler runs; `stored` is a
//! secret as the store keeps it and how a `SecretId` (name, full or partial ARN) finds it;
//! `secrets` holds the handlers. What Berth does not do (rotation by Lambda, replication,
//! resource policies) is answered with an error that says so rather than left unknown.

mod error;
mod requests;
pub mod secrets;
pub mod stored;

#[cfg(test)]
mod tests;

use crate::call::Call;
use crate::registry::{Access, Action, Input, Service, WireError};
use berth_aws::{AwsError, ServiceSpec};
pub use error::{Error, Request};
use serde_json::Value;

pub const SPEC: ServiceSpec = ServiceSpec {
    name: "Secrets Manager",
    signing_name: "secretsmanager",
    json_target_prefix: Some("secretsmanager"),
    query: None,
};

/// Members whose values are secrets: never quoted in an error.
const SENSITIVE: &[&str] = &["SecretString", "SecretBinary"];

fn decode<T: Request>(input: Input<'_>) -> Result<T, AwsError> {
    let Input::Json(body) = input else {
        return Err(AwsError::new(
            "SerializationException",
            "Secrets Manager takes JSON bodies (application/x-amz-json-1.1)",
        ));
    };
    let request: T = berth_aws::json::decode_input(body, SENSITIVE)?;
    request.check().map_err(WireError::into_wire)?;
    Ok(request)
}

fn action<T: Request>(
    name: &'static str,
    access: Access,
    handle: fn(&Call<'_>, &T) -> Result<Value, Error>,
) -> Action {
    Action::new(name, access, decode::<T>, handle)
}

/// An action Berth declines, with why and what to do instead.
fn declined(name: &'static str, why: &'static str) -> Action {
    Action::declined(name, Error::invalid_request(why).0)
}

pub fn service() -> Service {
    use requests as r;
    use Access::{Read, Write};
    Service {
        spec: SPEC,
        actions: vec![
            action::<r::CreateSecret>("CreateSecret", Write, secrets::create),
            action::<r::GetSecretValue>("GetSecretValue", Read, secrets::get_value),
            action::<r::BatchGetSecretValue>("BatchGetSecretValue", Read, secrets::batch_get_value),
            action::<r::PutSecretValue>("PutSecretValue", Write, secrets::put_value),
            action::<r::UpdateSecret>("UpdateSecret", Write, secrets::update),
            action::<r::DescribeSecret>("DescribeSecret", Read, secrets::describe),
            action::<r::ListSecrets>("ListSecrets", Read, secrets::list),
            action::<r::ListSecretVersionIds>("ListSecretVersionIds", Read, secrets::list_versions),
            action::<r::UpdateSecretVersionStage>(
                "UpdateSecretVersionStage",
                Write,
                secrets::update_version_stage,
            ),
            action::<r::DeleteSecret>("DeleteSecret", Write, secrets::delete),
            action::<r::RestoreSecret>("RestoreSecret", Write, secrets::restore),
            action::<r::TagResource>("TagResource", Write, secrets::tag),
            action::<r::UntagResource>("UntagResource", Write, secrets::untag),
            action::<r::GetRandomPassword>("GetRandomPassword", Read, secrets::random_password),
            declined(
                "RotateSecret",
                "Berth does not run rotation functions (RotateSecret needs a Lambda): write the \
                 new value with PutSecretValue; services tagged \
                 berth:redeploy-on-secret-change=true roll onto it by themselves",
            ),
            declined(
                "CancelRotateSecret",
                "Berth does not run rotation functions, so no rotation is in progress",
            ),
            declined(
                "ReplicateSecretToRegions",
                "Berth keeps secrets in one region and does not replicate them",
            ),
            declined(
                "RemoveRegionsFromReplication",
                "Berth keeps secrets in one region and does not replicate them",
            ),
            declined(
                "StopReplicationToReplica",
                "Berth keeps secrets in one region and does not replicate them",
            ),
            declined(
                "PutResourcePolicy",
                "Berth does not keep resource policies: access is by Berth's access keys",
            ),
            declined(
                "GetResourcePolicy",
                "Berth does not keep resource policies: access is by Berth's access keys",
            ),
            declined(
                "DeleteResourcePolicy",
                "Berth does not keep resource policies: access is by Berth's access keys",
            ),
            declined(
                "ValidateResourcePolicy",
                "Berth does not keep resource policies: access is by Berth's access keys",
            ),
        ],
    }
}
