//! Calls to the AWS APIs on the JSON 1.1 protocol (ECS, CloudWatch Logs, Secrets Manager), as
//! an SDK makes them: a POST to `/` with `X-Amz-Target`, SigV4-signed afresh for every send,
//! over a keep-alive HTTP/1.1 connection that is opened again when the server closes it.

use crate::endpoint::{ConnectError, Endpoint};
use berth_aws::sigv4::{self, RequestParts};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::CONNECTION;
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::sync::Arc;

const JSON_1_1: &str = "application/x-amz-json-1.1";

/// An API on the JSON 1.1 protocol: the service name it is signed for and the prefix of
/// its `X-Amz-Target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Api {
    pub signing_name: &'static str,
    pub target_prefix: &'static str,
}

pub const ECS: Api = Api {
    signing_name: "ecs",
    target_prefix: "AmazonEC2ContainerServiceV20141113",
};

pub const LOGS: Api = Api {
    signing_name: "logs",
    target_prefix: "Logs_20140328",
};

/// Berth's own API, for what no AWS API covers (reading output that only a machine keeps).
pub const BERTH: Api = Api {
    signing_name: "berth",
    target_prefix: "Berth_20250101",
};

pub const SECRETS_MANAGER: Api = Api {
    signing_name: "secretsmanager",
    target_prefix: "secretsmanager",
};

/// The key that signs requests, and the region of the signature's scope.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// Where requests go and whose key signs them.
#[derive(Debug)]
pub struct Server {
    pub endpoint: Endpoint,
    pub credentials: Credentials,
}

/// Why a call did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The HTTP exchange broke off, or never began.
    #[error("server {server}: {source}")]
    Http {
        server: String,
        source: hyper::Error,
    },
    /// The access key or region cannot be sent in an HTTP header.
    #[error("the access key or region cannot be sent in an HTTP header: {0}")]
    Request(hyper::http::Error),
    /// The API answered an error: its code (`ResourceNotFoundException`) and message.
    #[error("{code}: {message}")]
    Api {
        status: StatusCode,
        code: String,
        message: String,
    },
    /// A 200 whose body is not JSON.
    #[error("server {server}: the answer is not JSON: {source}")]
    BadAnswer {
        server: String,
        source: serde_json::Error,
    },
}

/// One action with its body, and the headers that stay the same from send to send.
pub struct Call {
    signing_name: &'static str,
    body: Bytes,
    /// `host`, `content-type` and `x-amz-target`: what the signature covers
    /// besides the date it adds.
    headers: Vec<(String, String)>,
}

impl Call {
    pub fn new(server: &Server, api: Api, action: &str, body: &Value) -> Self {
        Self {
            signing_name: api.signing_name,
            body: Bytes::from(body.to_string()),
            headers: vec![
                ("host".to_owned(), server.endpoint.authority().to_owned()),
                ("content-type".to_owned(), JSON_1_1.to_owned()),
                (
                    "x-amz-target".to_owned(),
                    format!("{}.{action}", api.target_prefix),
                ),
            ],
        }
    }

    /// The request to send now: signed with the current time, so that a long run never
    /// trips the server's five-minute clock-skew check.
    pub fn signed_request(&self, server: &Server) -> Result<Request<Full<Bytes>>, CallError> {
        let amz_date = sigv4::format_amz_date(berth_time::now() as i64);
        let parts = RequestParts {
            method: Method::POST.as_str(),
            path: "/",
            query: "",
            headers: &self.headers,
            body: &self.body,
        };
        let credentials = &server.credentials;
        let added = sigv4::sign(
            &parts,
            &credentials.access_key_id,
            &credentials.secret_access_key,
            &credentials.region,
            self.signing_name,
            &amz_date,
        );
        let mut request = Request::builder().method(Method::POST).uri("/");
        for (name, value) in self.headers.iter().chain(&added) {
            request = request.header(name.as_str(), value.as_str());
        }
        // hyper adds `content-length` from the body's exact size.
        request
            .body(Full::new(self.body.clone()))
            .map_err(CallError::Request)
    }
}

/// A client's connection to the server: kept alive from request to request while the
/// server allows it, and opened again when the server closes it.
pub struct Connection {
    server: Arc<Server>,
    /// None once the server has said it closes the connection, or after a failure.
    sender: Option<SendRequest<Full<Bytes>>>,
    /// How many times a connection was opened, the first one included.
    opened: u64,
}

impl Connection {
    /// Connects now, so that the first request doesn't pay for it.
    pub async fn open(server: &Arc<Server>) -> Result<Self, CallError> {
        let sender = connect(server).await?;
        Ok(Self {
            server: Arc::clone(server),
            sender: Some(sender),
            opened: 1,
        })
    }

    /// How many connections this has opened so far.
    pub fn opened(&self) -> u64 {
        self.opened
    }

    /// Sends `request` and reads the whole answer, first connecting again if the server
    /// closed the previous connection, as an SDK would.
    pub async fn send(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), CallError> {
        let mut sender = match self.sender.take() {
            Some(sender) if !sender.is_closed() => sender,
            _ => {
                self.opened += 1;
                connect(&self.server).await?
            }
        };
        let http = |source| CallError::Http {
            server: self.server.endpoint.url().to_owned(),
            source,
        };
        sender.ready().await.map_err(http)?;
        let response = sender.send_request(request).await.map_err(http)?;
        let status = response.status();
        let keep_alive = keeps_alive(&response);
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(http)?
            .to_bytes();
        // After an error the connection is dropped too: its state is unknown.
        if keep_alive {
            self.sender = Some(sender);
        }
        Ok((status, body))
    }

    /// Runs one action and returns its JSON answer; any status but 200 is an
    /// [`CallError::Api`] with the code and message the server gave.
    pub async fn call(&mut self, api: Api, action: &str, body: &Value) -> Result<Value, CallError> {
        let request = Call::new(&self.server, api, action, body).signed_request(&self.server)?;
        let (status, answer) = self.send(request).await?;
        if status != StatusCode::OK {
            return Err(api_error(status, &answer));
        }
        serde_json::from_slice(&answer).map_err(|source| CallError::BadAnswer {
            server: self.server.endpoint.url().to_owned(),
            source,
        })
    }
}

async fn connect(server: &Server) -> Result<SendRequest<Full<Bytes>>, CallError> {
    let stream = server.endpoint.connect().await?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|source| CallError::Http {
            server: server.endpoint.url().to_owned(),
            source,
        })?;
    // The connection task moves the bytes; it ends when the sender is dropped or the peer
    // closes, and the sender reports any failure on the next send.
    tokio::spawn(connection);
    Ok(sender)
}

/// The error a JSON protocol answers: `{"__type": "[namespace#]Code", "message": …}`
/// (`Message` from some services); a body without one is shown as it came.
fn api_error(status: StatusCode, body: &[u8]) -> CallError {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let member = |name: &str| {
        parsed
            .as_ref()
            .and_then(|body| body.get(name)?.as_str())
            .map(str::to_owned)
    };
    let code = member("__type")
        .map(|kind| kind.rsplit('#').next().unwrap_or_default().to_owned())
        .unwrap_or_else(|| format!("HTTP {status}"));
    let message = member("message")
        .or_else(|| member("Message"))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    CallError::Api {
        status,
        code,
        message,
    }
}

/// Whether the server lets the connection carry another request. Werkzeug, which serves
/// moto, answers `Connection: close` every time.
fn keeps_alive<B>(response: &Response<B>) -> bool {
    let closes = response
        .headers()
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|option| option.trim().eq_ignore_ascii_case("close"));
    // HTTP/1.0 closes unless asked otherwise, and we never ask.
    !closes && response.version() == Version::HTTP_11
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(region: &str) -> Server {
        Server {
            endpoint: Endpoint::new("http://127.0.0.1:4566", None, "AWS_CA_BUNDLE").unwrap(),
            credentials: Credentials {
                access_key_id: "AKIDBENCH".into(),
                secret_access_key: "S".into(),
                region: region.into(),
            },
        }
    }

    fn header<'r>(request: &'r Request<Full<Bytes>>, name: &str) -> &'r str {
        request.headers()[name].to_str().unwrap()
    }

    #[test]
    fn connections_are_reused_unless_the_server_closes_them() {
        let answer = |version, connection: Option<&str>| {
            let mut response = Response::builder().version(version);
            if let Some(value) = connection {
                response = response.header(CONNECTION, value);
            }
            response.body(()).unwrap()
        };
        assert!(keeps_alive(&answer(Version::HTTP_11, None)));
        assert!(keeps_alive(&answer(Version::HTTP_11, Some("keep-alive"))));
        assert!(!keeps_alive(&answer(Version::HTTP_11, Some("close"))));
        assert!(!keeps_alive(&answer(
            Version::HTTP_11,
            Some("Upgrade, Close")
        )));
        assert!(!keeps_alive(&answer(Version::HTTP_10, None)));
    }

    #[test]
    fn requests_carry_the_protocol_headers_and_a_signature() {
        let server = server("eu-west-1");
        let call = Call::new(&server, ECS, "ListTasks", &serde_json::json!({}));
        let request = call.signed_request(&server).unwrap();
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri(), "/");
        assert_eq!(header(&request, "host"), "127.0.0.1:4566");
        assert_eq!(header(&request, "content-type"), JSON_1_1);
        assert_eq!(
            header(&request, "x-amz-target"),
            "AmazonEC2ContainerServiceV20141113.ListTasks"
        );
        let authorization = header(&request, "authorization");
        let date = &header(&request, "x-amz-date")[..8];
        assert!(
            authorization.starts_with(&format!(
                "AWS4-HMAC-SHA256 Credential=AKIDBENCH/{date}/eu-west-1/ecs/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="
            )),
            "{authorization}"
        );
    }

    #[test]
    fn signed_requests_verify_with_the_same_secret() {
        let server = server("us-east-1");
        let call = Call::new(
            &server,
            LOGS,
            "FilterLogEvents",
            &serde_json::json!({"logGroupName": "/ecs/web"}),
        );
        let request = call.signed_request(&server).unwrap();
        assert_eq!(
            header(&request, "x-amz-target"),
            "Logs_20140328.FilterLogEvents"
        );
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
            .collect();
        let parts = RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: &call.body,
        };
        let now = berth_time::now() as i64;
        let verified = sigv4::verify(&parts, "logs", now, |key| {
            (key == "AKIDBENCH").then(|| "S".to_owned())
        });
        assert!(verified.is_ok(), "{verified:?}");
    }

    #[test]
    fn secrets_manager_requests_are_signed_for_secrets_manager() {
        let server = server("us-east-1");
        let call = Call::new(
            &server,
            SECRETS_MANAGER,
            "GetSecretValue",
            &serde_json::json!({"SecretId": "db"}),
        );
        let request = call.signed_request(&server).unwrap();
        assert_eq!(
            header(&request, "x-amz-target"),
            "secretsmanager.GetSecretValue"
        );
        assert!(
            header(&request, "authorization").contains("/us-east-1/secretsmanager/aws4_request")
        );
    }

    #[test]
    fn api_errors_keep_the_code_and_message_the_server_gave() {
        let code_and_message =
            |body: &str| match api_error(StatusCode::BAD_REQUEST, body.as_bytes()) {
                CallError::Api { code, message, .. } => (code, message),
                other => panic!("{other:?}"),
            };
        assert_eq!(
            code_and_message(
                r#"{"__type": "ResourceNotFoundException", "message": "The specified log group does not exist."}"#
            ),
            (
                "ResourceNotFoundException".to_owned(),
                "The specified log group does not exist.".to_owned()
            )
        );
        assert_eq!(
            code_and_message(
                r#"{"__type": "com.amazon#ServiceNotFoundException", "Message": "m"}"#
            ),
            ("ServiceNotFoundException".to_owned(), "m".to_owned())
        );
        assert_eq!(
            code_and_message("Bad Gateway"),
            ("HTTP 400 Bad Request".to_owned(), "Bad Gateway".to_owned())
        );
    }
}
