//! SSM Parameter Store (JSON 1.1, `AmazonSSM.<Action>`): named, versioned parameters, every
//! value sealed by the [`Vault`](berth_secrets::Vault) before it reaches the store (AWS
//! encrypts only `SecureString`; Berth seals them all, so nothing a task reads is plaintext on
//! disk). `SecureString` values are answered in the clear only `WithDecryption`.
//!
//! `requests` reads and checks each action's input; `stored` is a parameter as the store
//! keeps it and how a name (or ARN, with a `:version` or `:label` selector) finds it;
//! `parameters` holds the handlers.

mod error;
pub mod parameters;
mod requests;
pub mod stored;

#[cfg(test)]
mod tests;

use crate::json_api::action;
use crate::registry::{Access, Service};
use berth_aws::ServiceSpec;
pub use error::{Error, Ssm};

pub const SPEC: ServiceSpec = ServiceSpec {
    name: "SSM",
    signing_name: "ssm",
    json_target_prefix: Some("AmazonSSM"),
    query: None,
    query_compatible: false,
    rpc_v2_cbor: false,
};

pub fn service() -> Service {
    use requests as r;
    use Access::{Read, Write};
    Service {
        spec: SPEC,
        actions: vec![
            action::<Ssm, r::PutParameter>("PutParameter", Write, parameters::put),
            action::<Ssm, r::GetParameter>("GetParameter", Read, parameters::get),
            action::<Ssm, r::GetParameters>("GetParameters", Read, parameters::get_many),
            action::<Ssm, r::GetParametersByPath>("GetParametersByPath", Read, parameters::by_path),
            action::<Ssm, r::DeleteParameter>("DeleteParameter", Write, parameters::delete),
            action::<Ssm, r::DeleteParameters>("DeleteParameters", Write, parameters::delete_many),
            action::<Ssm, r::DescribeParameters>("DescribeParameters", Read, parameters::describe),
            action::<Ssm, r::GetParameterHistory>("GetParameterHistory", Read, parameters::history),
        ],
    }
}
