//! A keep-alive HTTP/1.1 connection that speaks the AWS JSON 1.1 protocol (of
//! ECS and Secrets Manager) and SigV4-signs every request afresh, as an SDK does.

use anyhow::{bail, Context, Result};
use berth_aws::sigv4::{self, RequestParts};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::CONNECTION;
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::sync::Arc;
use tokio::net::TcpStream;

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

pub const SECRETS_MANAGER: Api = Api {
    signing_name: "secretsmanager",
    target_prefix: "secretsmanager",
};

/// Where requests go and whose key signs them.
pub struct Target {
    /// `host:port` to open TCP connections to.
    connect_to: String,
    /// The `Host` header, spelled as the endpoint spells it (what SDKs sign).
    host: String,
    access_key_id: String,
    secret: String,
    region: String,
}

impl Target {
    /// `endpoint` is `http://host[:port][/]`; ECS's JSON protocol always posts to `/`.
    pub fn new(endpoint: &str, access_key_id: &str, secret: &str, region: &str) -> Result<Self> {
        let uri: Uri = endpoint
            .parse()
            .with_context(|| format!("--endpoint {endpoint:?} is not a URL"))?;
        if uri.scheme_str() != Some("http") {
            bail!("--endpoint must be an http:// URL (the benchmark speaks plain HTTP/1.1), got {endpoint:?}");
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            bail!("--endpoint must not have a path or query, got {endpoint:?}");
        }
        let authority = uri
            .authority()
            .with_context(|| format!("--endpoint {endpoint:?} has no host"))?;
        Ok(Self {
            connect_to: format!(
                "{}:{}",
                authority.host(),
                authority.port_u16().unwrap_or(80)
            ),
            host: authority.as_str().to_owned(),
            access_key_id: access_key_id.to_owned(),
            secret: secret.to_owned(),
            region: region.to_owned(),
        })
    }
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
    pub fn new(target: &Target, api: Api, action: &str, body: &Value) -> Self {
        Self {
            signing_name: api.signing_name,
            body: Bytes::from(body.to_string()),
            headers: vec![
                ("host".to_owned(), target.host.clone()),
                ("content-type".to_owned(), JSON_1_1.to_owned()),
                (
                    "x-amz-target".to_owned(),
                    format!("{}.{action}", api.target_prefix),
                ),
            ],
        }
    }

    /// The request to send now: signed with the current time, so that a long
    /// run never trips the server's five-minute clock-skew check.
    pub fn signed_request(&self, target: &Target) -> Result<Request<Full<Bytes>>> {
        let amz_date = sigv4::format_amz_date(berth_time::now() as i64);
        let parts = RequestParts {
            method: Method::POST.as_str(),
            path: "/",
            query: "",
            headers: &self.headers,
            body: &self.body,
        };
        let added = sigv4::sign(
            &parts,
            &target.access_key_id,
            &target.secret,
            &target.region,
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
            .context("the access key or region cannot be sent in an HTTP header")
    }
}

/// A client's connection to the server: kept alive from request to request
/// while the server allows it, and opened again when the server closes it.
pub struct Connection {
    target: Arc<Target>,
    /// None once the server has said it closes the connection.
    sender: Option<SendRequest<Full<Bytes>>>,
    /// How many times a TCP connection was opened, the first one included.
    opened: u64,
}

impl Connection {
    /// Connects now, so that the first request doesn't pay for it.
    pub async fn open(target: &Arc<Target>) -> Result<Self> {
        let sender = connect(target).await?;
        Ok(Self {
            target: Arc::clone(target),
            sender: Some(sender),
            opened: 1,
        })
    }

    /// How many TCP connections this has opened so far.
    pub fn opened(&self) -> u64 {
        self.opened
    }

    /// Sends `request` and reads the whole answer, first connecting again if
    /// the server closed the previous connection, as an SDK would.
    pub async fn send(&mut self, request: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes)> {
        let mut sender = match self.sender.take() {
            Some(sender) if !sender.is_closed() => sender,
            _ => {
                self.opened += 1;
                connect(&self.target).await?
            }
        };
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let keep_alive = keeps_alive(&response);
        let body = response.into_body().collect().await?.to_bytes();
        // After an error the connection is dropped too: its state is unknown.
        if keep_alive {
            self.sender = Some(sender);
        }
        Ok((status, body))
    }

    /// Runs one action and returns its JSON answer; any other status than 200 is an error.
    pub async fn call(&mut self, api: Api, action: &str, body: &Value) -> Result<Value> {
        let request = Call::new(&self.target, api, action, body).signed_request(&self.target)?;
        let (status, answer) = self
            .send(request)
            .await
            .with_context(|| format!("{action} failed"))?;
        if status != StatusCode::OK {
            bail!(
                "{action} answered {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        serde_json::from_slice(&answer)
            .with_context(|| format!("{action} answered something other than JSON"))
    }
}

async fn connect(target: &Target) -> Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(&target.connect_to)
        .await
        .with_context(|| format!("cannot connect to {}", target.connect_to))?;
    // Requests are small and sent whole; Nagle would only add delay.
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP/1.1 handshake failed")?;
    // The connection task moves the bytes; it ends when the sender is dropped
    // or the peer closes, and the sender reports any failure on the next send.
    tokio::spawn(connection);
    Ok(sender)
}

/// Whether the server lets the connection carry another request. Werkzeug,
/// which serves moto, answers `Connection: close` every time.
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

    fn header<'r>(request: &'r Request<Full<Bytes>>, name: &str) -> &'r str {
        request.headers()[name].to_str().unwrap()
    }

    #[test]
    fn endpoints_must_be_plain_http_roots() {
        let target = Target::new("http://127.0.0.1:4566/", "K", "S", "us-east-1").unwrap();
        assert_eq!(target.connect_to, "127.0.0.1:4566");
        assert_eq!(target.host, "127.0.0.1:4566");
        let target = Target::new("http://localhost", "K", "S", "us-east-1").unwrap();
        assert_eq!(target.connect_to, "localhost:80");
        assert_eq!(target.host, "localhost");
        for bad in [
            "https://127.0.0.1:1",
            "http://127.0.0.1:1/ecs",
            "127.0.0.1:1",
            "",
        ] {
            assert!(Target::new(bad, "K", "S", "us-east-1").is_err(), "{bad}");
        }
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
    fn requests_carry_the_ecs_protocol_headers_and_a_signature() {
        let target = Target::new("http://127.0.0.1:4566", "AKIDBENCH", "S", "eu-west-1").unwrap();
        let call = Call::new(&target, ECS, "ListTasks", &serde_json::json!({}));
        let request = call.signed_request(&target).unwrap();
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
        let target = Target::new("http://127.0.0.1:4566", "AKIDBENCH", "S", "us-east-1").unwrap();
        let call = Call::new(
            &target,
            ECS,
            "DescribeServices",
            &serde_json::json!({"services": ["bench"]}),
        );
        let request = call.signed_request(&target).unwrap();
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
        let verified = sigv4::verify(&parts, "ecs", now, |key| {
            (key == "AKIDBENCH").then(|| "S".to_owned())
        });
        assert!(verified.is_ok(), "{verified:?}");
    }

    #[test]
    fn secrets_manager_requests_are_signed_for_secrets_manager() {
        let target = Target::new("http://127.0.0.1:4566", "AKIDBENCH", "S", "us-east-1").unwrap();
        let call = Call::new(
            &target,
            SECRETS_MANAGER,
            "GetSecretValue",
            &serde_json::json!({"SecretId": "db"}),
        );
        let request = call.signed_request(&target).unwrap();
        assert_eq!(
            header(&request, "x-amz-target"),
            "secretsmanager.GetSecretValue"
        );
        assert!(
            header(&request, "authorization").contains("/us-east-1/secretsmanager/aws4_request")
        );
    }
}
