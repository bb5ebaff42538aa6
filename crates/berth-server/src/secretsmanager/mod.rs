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

use crate::json_api;
use crate::registry::{Access, Action, Service};
use berth_aws::ServiceSpec;
pub use error::{Error, SecretsManager};

pub const SPEC: ServiceSpec = ServiceSpec {
    name: "Secrets Manager",
    signing_name: "secretsmanager",
    json_target_prefix: Some("secretsmanager"),
    query: None,
    query_compatible: false,
    rpc_v2_cbor: false,
};

use json_api::action;

/// An action Berth declines, with why and what to do instead.
fn declined(name: &'static str, why: &'static str) -> Action {
    json_api::declined(name, Error::invalid_request(why))
}

pub fn service() -> Service {
    use requests as r;
    use Access::{Read, Write};
    Service {
        spec: SPEC,
        actions: vec![
            action::<SecretsManager, r::CreateSecret>("CreateSecret", Write, secrets::create),
            action::<SecretsManager, r::GetSecretValue>("GetSecretValue", Read, secrets::get_value),
            action::<SecretsManager, r::BatchGetSecretValue>(
                "BatchGetSecretValue",
                Read,
                secrets::batch_get_value,
            ),
            action::<SecretsManager, r::PutSecretValue>(
                "PutSecretValue",
                Write,
                secrets::put_value,
            ),
            action::<SecretsManager, r::UpdateSecret>("UpdateSecret", Write, secrets::update),
            action::<SecretsManager, r::DescribeSecret>("DescribeSecret", Read, secrets::describe),
            action::<SecretsManager, r::ListSecrets>("ListSecrets", Read, secrets::list),
            action::<SecretsManager, r::ListSecretVersionIds>(
                "ListSecretVersionIds",
                Read,
                secrets::list_versions,
            ),
            action::<SecretsManager, r::UpdateSecretVersionStage>(
                "UpdateSecretVersionStage",
                Write,
                secrets::update_version_stage,
            ),
            action::<SecretsManager, r::DeleteSecret>("DeleteSecret", Write, secrets::delete),
            action::<SecretsManager, r::RestoreSecret>("RestoreSecret", Write, secrets::restore),
            action::<SecretsManager, r::TagResource>("TagResource", Write, secrets::tag),
            action::<SecretsManager, r::UntagResource>("UntagResource", Write, secrets::untag),
            action::<SecretsManager, r::GetRandomPassword>(
                "GetRandomPassword",
                Read,
                secrets::random_password,
            ),
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
