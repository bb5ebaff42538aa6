//! Which API a request is for, and how it speaks: the front's routing over the table of the
//! APIs Berth answers. Each API declares a [`ServiceSpec`]; nothing else here knows one.
//!
//! A request with `X-Amz-Target` speaks JSON and names its API by the target's prefix. A
//! form body speaks the query protocol and names its API by `Version` (and, failing that, by
//! the service its signature is for). A request to `/service/<Service>/operation/<Action>`
//! speaks `smithy-rpc-v2-cbor`, for an API that declares it. A request for an API Berth does not answer gets
//! `UnknownOperationException` naming that API, in whichever protocol it spoke.

use crate::json::{self, JsonVersion};
use crate::sigv4::{self, AuthError};
use crate::{query, AwsError};

/// How one AWS API is reached on Berth's endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceSpec {
    /// How messages name the API: `ECS`, `ELBv2`.
    pub name: &'static str,
    /// The service in SigV4 credential scopes: `ecs`, `elasticloadbalancing`.
    pub signing_name: &'static str,
    /// The `X-Amz-Target` prefix (without the dot) when it answers the JSON protocols.
    pub json_target_prefix: Option<&'static str>,
    /// Its version and XML namespace when it answers the query protocol.
    pub query: Option<QueryApi>,
    /// Whether its JSON answers carry each error's query-protocol code and fault side in an
    /// `x-amzn-query-error: Code;Sender` header (the model's `awsQueryCompatible`): an API
    /// that moved from the query protocol to JSON keeps its old error codes that way.
    pub query_compatible: bool,
    /// Whether it answers `smithy-rpc-v2-cbor` at `/service/<json_target_prefix>/operation/<Action>`.
    pub rpc_v2_cbor: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryApi {
    /// The `Version` member every request carries, e.g. `2015-12-01`.
    pub version: &'static str,
    /// The namespace of its XML answers.
    pub namespace: &'static str,
}

/// How a request spoke, and so how its answer and errors are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Json(JsonVersion),
    /// `smithy-rpc-v2-cbor`: CBOR bodies both ways, errors shaped as JSON's.
    Cbor,
    /// The namespace of the API it reached, if it reached one.
    Query {
        namespace: Option<&'static str>,
    },
}

impl Wire {
    /// The `Content-Type` of every answer on this wire.
    pub fn content_type(self) -> &'static str {
        match self {
            Wire::Json(version) => version.content_type(),
            Wire::Cbor => "application/cbor",
            Wire::Query { .. } => "text/xml",
        }
    }

    /// A signature check that failed, as this protocol's services answer it.
    pub fn auth_error(self, error: &AuthError) -> AwsError {
        let message = error.to_string();
        match self {
            Wire::Json(_) | Wire::Cbor => {
                let code = error.aws_type();
                let status = if code == "MissingAuthenticationTokenException" {
                    403
                } else {
                    400
                };
                AwsError::with_status(code, message, status)
            }
            Wire::Query { .. } => {
                let (code, status) = match error {
                    AuthError::MissingAuthenticationToken => ("MissingAuthenticationToken", 403),
                    AuthError::IncompleteSignature(_) => ("IncompleteSignature", 400),
                    AuthError::UnrecognizedClient => ("InvalidClientTokenId", 403),
                    _ => ("SignatureDoesNotMatch", 403),
                };
                AwsError::with_status(code, message, status)
            }
        }
    }

    /// A body that cannot be read as this protocol's input.
    pub fn malformed(self, message: impl Into<String>) -> AwsError {
        match self {
            Wire::Json(_) | Wire::Cbor => AwsError::new("SerializationException", message),
            Wire::Query { .. } => AwsError::new("ValidationError", message),
        }
    }

    /// An action the API does not have.
    pub fn unknown_action(self, message: impl Into<String>) -> AwsError {
        match self {
            Wire::Json(_) | Wire::Cbor => AwsError::new("UnknownOperationException", message),
            Wire::Query { .. } => AwsError::new("InvalidAction", message),
        }
    }
}

/// What the front needs of a request's head to route it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Head<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub content_type: Option<&'a str>,
    pub target: Option<&'a str>,
    pub authorization: Option<&'a str>,
}

/// Where a request goes: the index of its API in the table, and how it speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub service: usize,
    pub wire: Wire,
    /// The action named by `X-Amz-Target`; a query request names it in its body.
    pub action: Option<String>,
}

/// A request refused before any API saw it, with the wire to answer on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub wire: Wire,
    pub error: AwsError,
}

fn is_form(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| {
            media
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The wire a request is answered on before its API is known: the query protocol's for a
/// form without `X-Amz-Target`, the JSON protocol of its content type (1.1 if none) for
/// anything else.
pub fn wire_of(head: &Head<'_>) -> Wire {
    if cbor_path(head.path).is_some() {
        Wire::Cbor
    } else if speaks_query(head) {
        Wire::Query { namespace: None }
    } else {
        Wire::Json(
            head.content_type
                .and_then(JsonVersion::from_content_type)
                .unwrap_or(JsonVersion::V1_1),
        )
    }
}

fn speaks_query(head: &Head<'_>) -> bool {
    head.target.is_none() && is_form(head.content_type)
}

/// `/service/<Service>/operation/<Action>` → (`Service`, `Action`).
fn cbor_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/service/")?;
    let (service, action) = rest.split_once("/operation/")?;
    (!service.contains('/') && !action.contains('/')).then_some((service, action))
}

/// Picks the API a request is for. `body` is read only for a form's `Version`.
pub fn route(services: &[ServiceSpec], head: &Head<'_>, body: &[u8]) -> Result<Route, Refusal> {
    if let Some((service, action)) = cbor_path(head.path) {
        route_cbor(services, head, service, action)
    } else if speaks_query(head) {
        route_query(services, head, body)
    } else {
        route_json(services, head)
    }
}

fn route_json(services: &[ServiceSpec], head: &Head<'_>) -> Result<Route, Refusal> {
    let content_type = head.content_type.unwrap_or("");
    let version = JsonVersion::from_content_type(content_type);
    let wire = wire_of(head);
    let refuse = |error| Err(Refusal { wire, error });
    if head.method != "POST" || head.path != "/" {
        return refuse(AwsError::new(
            "UnknownOperationException",
            format!(
                "{} {} is not an AWS call; Berth's APIs are POST / with an X-Amz-Target header (JSON) or a form body (query)",
                head.method, head.path
            ),
        ));
    }
    if version.is_none() {
        return refuse(wire.malformed(format!(
            "content type {content_type:?} is not supported; send application/x-amz-json-1.1 or application/x-amz-json-1.0"
        )));
    }
    let Some(target) = head.target else {
        return refuse(AwsError::new(
            "UnknownOperationException",
            "missing X-Amz-Target header",
        ));
    };
    let found = json::split_target(target).and_then(|(prefix, action)| {
        let index = services
            .iter()
            .position(|s| s.json_target_prefix == Some(prefix))?;
        Some((index, action))
    });
    match found {
        Some((service, action)) => Ok(Route {
            service,
            wire,
            action: Some(action.to_string()),
        }),
        None => refuse(unknown_service(
            services,
            &format!("X-Amz-Target {target:?}"),
            head.authorization,
        )),
    }
}

fn route_cbor(
    services: &[ServiceSpec],
    head: &Head<'_>,
    service: &str,
    action: &str,
) -> Result<Route, Refusal> {
    let refuse = |error| {
        Err(Refusal {
            wire: Wire::Cbor,
            error,
        })
    };
    if head.method != "POST" {
        return refuse(Wire::Cbor.unknown_action(format!(
            "{} {} is not an AWS call; rpc-v2-cbor calls are POST",
            head.method, head.path
        )));
    }
    let found = services
        .iter()
        .position(|s| s.rpc_v2_cbor && s.json_target_prefix == Some(service));
    match found {
        Some(index) => Ok(Route {
            service: index,
            wire: Wire::Cbor,
            action: Some(action.to_string()),
        }),
        None => refuse(unknown_service(
            services,
            &format!("rpc-v2-cbor service {service:?}"),
            head.authorization,
        )),
    }
}

fn route_query(services: &[ServiceSpec], head: &Head<'_>, body: &[u8]) -> Result<Route, Refusal> {
    let version = query::version_of(body);
    let signed_for = head.authorization.and_then(sigv4::signed_service);
    let by_version = version.as_deref().and_then(|version| {
        services
            .iter()
            .position(|s| s.query.is_some_and(|q| q.version == version))
    });
    let by_signature = || {
        signed_for.and_then(|name| {
            services
                .iter()
                .position(|s| s.query.is_some() && s.signing_name == name)
        })
    };
    let Some(service) = by_version.or_else(by_signature) else {
        let wire = Wire::Query { namespace: None };
        let error = match (head.authorization, &version) {
            // Nothing names an API and nothing proves who asks: the signature is what is
            // missing first.
            (None, None) => wire.auth_error(&AuthError::MissingAuthenticationToken),
            (_, Some(version)) => unknown_service(
                services,
                &format!("query API version {version:?}"),
                head.authorization,
            ),
            (Some(_), None) => unknown_service(services, "query request", head.authorization),
        };
        return Err(Refusal { wire, error });
    };
    let wire = Wire::Query {
        namespace: services[service].query.map(|q| q.namespace),
    };
    if head.method != "POST" || head.path != "/" {
        return Err(Refusal {
            wire,
            error: wire.unknown_action(format!(
                "{} {} is not a {} call; {} calls are POST / with a form body",
                head.method, head.path, services[service].name, services[service].name
            )),
        });
    }
    Ok(Route {
        service,
        wire,
        action: None,
    })
}

/// `UnknownOperationException` naming what the request asked for and what Berth answers.
fn unknown_service(services: &[ServiceSpec], asked: &str, authorization: Option<&str>) -> AwsError {
    let signed = authorization
        .and_then(sigv4::signed_service)
        .map(|name| format!(", signed for {name}"))
        .unwrap_or_default();
    AwsError::new(
        "UnknownOperationException",
        format!(
            "Berth does not answer the API this request is for ({asked}{signed}); it answers {}",
            answered(services)
        ),
    )
}

/// Every API in the table and how to reach it, for error messages.
pub fn answered(services: &[ServiceSpec]) -> String {
    services
        .iter()
        .map(|s| {
            let mut ways = Vec::new();
            if let Some(prefix) = s.json_target_prefix {
                ways.push(format!("X-Amz-Target {prefix}.<Action>"));
            }
            if let Some(q) = s.query {
                ways.push(format!("Version={}", q.version));
            }
            format!(
                "{} (signed for {}; {})",
                s.name,
                s.signing_name,
                ways.join(" or ")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
