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

use crate::call::Call;
use crate::registry::{Access, Action, Input, Service, WireError};
use berth_aws::{AwsError, ServiceSpec};
pub use error::{Error, Request};
use serde_json::Value;

pub const SPEC: ServiceSpec = ServiceSpec {
    name: "SSM",
    signing_name: "ssm",
    json_target_prefix: Some("AmazonSSM"),
    query: None,
};

fn decode<T: Request>(input: Input<'_>) -> Result<T, AwsError> {
    let Input::Json(body) = input else {
        return Err(AwsError::new(
            "SerializationException",
            "SSM takes JSON bodies (application/x-amz-json-1.1)",
        ));
    };
    let request: T = berth_aws::json::decode_input(body, &["Value"])?;
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

pub fn service() -> Service {
    use requests as r;
    use Access::{Read, Write};
    Service {
        spec: SPEC,
        actions: vec![
            action::<r::PutParameter>("PutParameter", Write, parameters::put),
            action::<r::GetParameter>("GetParameter", Read, parameters::get),
            action::<r::GetParameters>("GetParameters", Read, parameters::get_many),
            action::<r::GetParametersByPath>("GetParametersByPath", Read, parameters::by_path),
            action::<r::DeleteParameter>("DeleteParameter", Write, parameters::delete),
            action::<r::DeleteParameters>("DeleteParameters", Write, parameters::delete_many),
            action::<r::DescribeParameters>("DescribeParameters", Read, parameters::describe),
            action::<r::GetParameterHistory>("GetParameterHistory", Read, parameters::history),
        ],
    }
}
