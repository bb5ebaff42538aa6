//! The table of AWS APIs Berth answers. Each API is one module that declares a [`Service`]:
//! how it is reached ([`ServiceSpec`]: signing name, `X-Amz-Target` prefix or query
//! version) and its actions, each marked as a read (answered on the worker that read the
//! request, or off it when it may read without bound) or a write (queued for the batched
//! writer). The front routes on this table alone; adding an API is a module with a
//! `service()` and one line in [`crate::apis::all`].
//!
//! An action turns a request's input into a typed, validated request first ([`Prepared`]),
//! and only then is handled: a malformed request is refused before it reaches the writer,
//! and a handler is a plain function of a [`Call`] and its request.

use crate::call::{Call, Caller, Context};
use berth_aws::query::Params;
use berth_aws::{AwsError, ServiceSpec};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

/// Where an action runs (see the module's docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A read of a bounded amount: tens of microseconds, answered on the runtime worker
    /// that read the request, since a hop to another thread would cost more than the read.
    Read,
    /// A read whose cost grows without bound (every revision of a task definition family):
    /// answered on the blocking pool, so that a long history cannot hold up the workers.
    LongRead,
    /// A write: queued for the writer, which commits every write waiting with one fsync.
    Write,
    /// A call on a store of the API's own (the log store), which does its own I/O and
    /// fsyncs: answered on the blocking pool, never queued behind the state store's writer.
    OwnStore,
}

/// A request's input as its protocol carried it.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    Json(&'a [u8]),
    Query(&'a Params),
    /// A `smithy-rpc-v2-cbor` body, already read from CBOR into JSON's values.
    Cbor(&'a Value),
}

/// What a handler answers: a JSON-shaped value (written as JSON or as the query protocol's
/// XML), JSON text it wrote itself from cached renderings, an event stream: messages in
/// `application/vnd.amazon.eventstream` framing, sent as they come until the sender is
/// dropped (and the sender stops when the client goes away), or an answer that comes later
/// (from an agent), which the front awaits and drops if the client goes away.
#[derive(Debug)]
pub enum Output {
    Value(Value),
    Json(String),
    Events(tokio::sync::mpsc::Receiver<bytes::Bytes>),
    Later(Later),
}

/// An answer still to come; the handler bounds how long it may take.
pub struct Later(pub Pin<Box<dyn Future<Output = Result<Value, AwsError>> + Send>>);

impl Later {
    pub fn new(answer: impl Future<Output = Result<Value, AwsError>> + Send + 'static) -> Self {
        Self(Box::pin(answer))
    }
}

impl std::fmt::Debug for Later {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Later")
    }
}

impl From<Value> for Output {
    fn from(value: Value) -> Self {
        Output::Value(value)
    }
}

/// JSON text a handler wrote itself.
pub struct JsonText(pub String);

impl From<JsonText> for Output {
    fn from(text: JsonText) -> Self {
        Output::Json(text.0)
    }
}

impl Output {
    /// The answer as a JSON value, however it was made.
    pub fn into_value(self) -> Result<Value, AwsError> {
        match self {
            Output::Value(value) => Ok(value),
            Output::Json(text) => serde_json::from_str(&text).map_err(|e| {
                AwsError::with_status(
                    "InternalFailure",
                    format!("an answer is not JSON: {e}"),
                    500,
                )
            }),
            Output::Events(_) => Err(AwsError::new(
                "InvalidOperationException",
                "this action answers with an event stream, which only the JSON protocol carries",
            )),
            Output::Later(_) => Err(AwsError::new(
                "InvalidOperationException",
                "this action answers once an agent has, which only the HTTP front waits for",
            )),
        }
    }
}

/// An error of one API, turned into its wire shape once, at the edge.
pub trait WireError {
    fn into_wire(self) -> AwsError;
}

impl WireError for AwsError {
    fn into_wire(self) -> AwsError {
        self
    }
}

/// A decoded, validated request, ready to be handled.
pub type Prepared = Box<dyn FnOnce(&Call<'_>) -> Result<Output, AwsError> + Send>;

type Prepare = Box<dyn Fn(Input<'_>) -> Result<Prepared, AwsError> + Send + Sync>;

pub struct Action {
    pub name: &'static str,
    pub access: Access,
    prepare: Prepare,
}

impl Action {
    /// An action whose input `decode` reads into a `T` and `handle` answers.
    pub fn new<T, R, E>(
        name: &'static str,
        access: Access,
        decode: fn(Input<'_>) -> Result<T, AwsError>,
        handle: fn(&Call<'_>, &T) -> Result<R, E>,
    ) -> Self
    where
        T: Send + 'static,
        R: Into<Output> + 'static,
        E: WireError + 'static,
    {
        Self {
            name,
            access,
            prepare: Box::new(move |input| {
                let request = decode(input)?;
                Ok(Box::new(move |call: &Call<'_>| {
                    handle(call, &request)
                        .map(Into::into)
                        .map_err(WireError::into_wire)
                }))
            }),
        }
    }

    /// An action of the API that Berth declines, answered with `error` (which says why and
    /// what to do instead) rather than as an unknown operation.
    pub fn declined(name: &'static str, error: AwsError) -> Self {
        Self {
            name,
            access: Access::Read,
            prepare: Box::new(move |_| Err(error.clone())),
        }
    }

    /// Decodes and validates `input` into a request this action can handle.
    pub fn prepare(&self, input: Input<'_>) -> Result<Prepared, AwsError> {
        (self.prepare)(input)
    }
}

pub struct Service {
    pub spec: ServiceSpec,
    pub actions: Vec<Action>,
}

impl Service {
    pub fn action(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|action| action.name == name)
    }

    /// Every action's name, for the error that answers an unknown one.
    pub fn action_names(&self) -> String {
        self.actions
            .iter()
            .map(|action| action.name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub struct Registry {
    services: Vec<Service>,
    specs: Vec<ServiceSpec>,
}

impl Registry {
    pub fn of(services: Vec<Service>) -> Self {
        let specs = services.iter().map(|s| s.spec).collect();
        Self { services, specs }
    }

    pub fn specs(&self) -> &[ServiceSpec] {
        &self.specs
    }

    pub fn service(&self, index: usize) -> &Service {
        &self.services[index]
    }

    /// The API that signs with `signing_name`.
    pub fn by_signing_name(&self, signing_name: &str) -> Option<&Service> {
        self.services
            .iter()
            .find(|s| s.spec.signing_name == signing_name)
    }

    /// Answers one action in-process, as `caller` at `now`, and publishes its writes: what
    /// `berth up` and tests do without HTTP. Writes commit one by one, as outside a batch.
    pub fn call(
        &self,
        cx: &Context,
        signing_name: &str,
        action: &str,
        input: Input<'_>,
        caller: &Caller,
        now: f64,
    ) -> Result<Output, AwsError> {
        let service = self.by_signing_name(signing_name).ok_or_else(|| {
            AwsError::new(
                "UnknownOperationException",
                format!("Berth answers no API signed for {signing_name}"),
            )
        })?;
        let action = service.action(action).ok_or_else(|| {
            AwsError::new(
                "UnknownOperationException",
                format!(
                    "{} has no operation {action}; Berth answers {}",
                    service.spec.name,
                    service.action_names()
                ),
            )
        })?;
        let prepared = action.prepare(input)?;
        let changes = cx.publishing();
        cx.call(caller, now, &changes, |call| prepared(call))
    }
}
