//! Calling the APIs in-process, without HTTP or SigV4: how `berth up` deploys its example, and
//! how tests drive the handlers exactly as the front does (typed decoding, validation,
//! handler, published writes), at a time and as a caller they choose.

use crate::call::{Caller, Context};
use crate::registry::{Input, Registry};
use crate::{ecs, elbv2};
use berth_aws::AwsError;
use serde_json::Value;
use std::sync::Arc;

#[derive(Clone)]
pub struct LocalClient {
    cx: Arc<Context>,
    registry: Arc<Registry>,
    caller: Caller,
}

impl LocalClient {
    /// A client of every API over `cx`, calling as the server itself.
    pub fn new(cx: Arc<Context>) -> Self {
        Self {
            cx,
            registry: Arc::new(crate::apis::all()),
            caller: Caller::system(),
        }
    }

    /// This client, calling as the access key `access_key_id`.
    pub fn as_caller(mut self, access_key_id: &str) -> Self {
        self.caller = Caller {
            access_key_id: access_key_id.to_string(),
        };
        self
    }

    pub fn context(&self) -> &Arc<Context> {
        &self.cx
    }

    /// A client of a new server kept in memory, with its `default` cluster made at `now`:
    /// where handler tests start.
    #[cfg(test)]
    pub fn in_memory(now: f64) -> Self {
        let cx = Context::new(
            Arc::new(berth_store::MemoryStore::new()),
            berth_model::Arns::new("us-east-1", "000000000000"),
        );
        let client = Self::new(Arc::new(cx));
        client
            .cx
            .as_system(now, ecs::clusters::ensure_default)
            .expect("the default cluster is made");
        client
    }

    /// Calls an ECS action with its JSON body at `now`, which must succeed.
    #[cfg(test)]
    pub fn ecs_ok(&self, action: &str, body: &Value, now: f64) -> Value {
        self.ecs_at(action, body.to_string().as_bytes(), now)
            .unwrap_or_else(|e| panic!("{action}: {e}"))
    }

    /// Calls an action of a JSON API (named by its signing name) with its body at `now`.
    pub fn json_at(
        &self,
        signing_name: &str,
        action: &str,
        body: &[u8],
        now: f64,
    ) -> Result<Value, AwsError> {
        self.registry
            .call(
                &self.cx,
                signing_name,
                action,
                Input::Json(body),
                &self.caller,
                now,
            )?
            .into_value()
    }

    /// Calls an ECS action with its JSON body at `now`.
    pub fn ecs_at(&self, action: &str, body: &[u8], now: f64) -> Result<Value, AwsError> {
        self.json_at(ecs::SPEC.signing_name, action, body, now)
    }

    /// Calls an ECS action with its JSON input, now.
    pub fn call(&self, action: &str, body: &Value) -> Result<Value, AwsError> {
        self.ecs_at(action, body.to_string().as_bytes(), berth_time::now())
    }

    /// Calls an ELBv2 action at `now` with its members as the query protocol names them
    /// (`DefaultActions.member.1.Type`, …); the answer is the JSON the XML is written from.
    pub fn elbv2_at(
        &self,
        action: &str,
        members: &[(&str, &str)],
        now: f64,
    ) -> Result<Value, AwsError> {
        self.query_at(elbv2::SPEC.signing_name, action, members, now)
    }

    /// Calls an action of a query-protocol API (named by its signing name) at `now` with its
    /// members as the query protocol names them.
    pub fn query_at(
        &self,
        signing_name: &str,
        action: &str,
        members: &[(&str, &str)],
        now: f64,
    ) -> Result<Value, AwsError> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (name, value) in members {
            form.append_pair(name, value);
        }
        let request = berth_aws::query::parse(form.finish().as_bytes())
            .map_err(|e| AwsError::new("ValidationError", e.to_string()))?;
        self.registry
            .call(
                &self.cx,
                signing_name,
                action,
                Input::Query(&request.params),
                &self.caller,
                now,
            )?
            .into_value()
    }

    /// Calls an ELBv2 action now (see [`LocalClient::elbv2_at`]).
    pub fn elbv2(&self, action: &str, members: &[(&str, &str)]) -> Result<Value, AwsError> {
        self.elbv2_at(action, members, berth_time::now())
    }
}
