//! Writes over HTTP, many at once: the server answers them in batches that share one commit,
//! and every answer must still be what the request alone would have got.

use berth_aws::sigv4;
use berth_server::server::{Config, Server};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

struct Client {
    host: String,
    key: String,
    secret: String,
}

impl Client {
    async fn connect(&self) -> SendRequest<Full<Bytes>> {
        let stream = tokio::net::TcpStream::connect(&self.host).await.unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        sender
    }

    async fn call(
        &self,
        sender: &mut SendRequest<Full<Bytes>>,
        action: &str,
        body: &Value,
    ) -> (StatusCode, Value) {
        let body = Bytes::from(body.to_string());
        let headers = vec![
            ("host".to_string(), self.host.clone()),
            (
                "content-type".to_string(),
                "application/x-amz-json-1.1".to_string(),
            ),
            (
                "x-amz-target".to_string(),
                format!("AmazonEC2ContainerServiceV20141113.{action}"),
            ),
        ];
        let now = berth_time::now();
        let parts = sigv4::RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: &body,
        };
        let added = sigv4::sign(
            &parts,
            &self.key,
            &self.secret,
            "us-east-1",
            "ecs",
            &sigv4::format_amz_date(now as i64),
        );
        let mut request = Request::builder().method("POST").uri("/");
        for (name, value) in headers.iter().chain(&added) {
            request = request.header(name.as_str(), value.as_str());
        }
        sender.ready().await.unwrap();
        let response = sender
            .send_request(request.body(Full::new(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let answer = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&answer).unwrap())
    }
}

async fn start(dir: &std::path::Path) -> Arc<Client> {
    let server = Server::bind(&Config {
        data_dir: dir.to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        region: "us-east-1".to_string(),
        lb_bind: std::net::Ipv4Addr::LOCALHOST.into(),
        master_key_file: None,
        tls: None,
        logs_max_bytes: berth_server::server::DEFAULT_LOGS_MAX_BYTES,
    })
    .await
    .unwrap();
    let credentials = std::fs::read_to_string(&server.credentials).unwrap();
    let value = |name: &str| {
        credentials
            .lines()
            .find_map(|line| line.strip_prefix(name)?.trim().strip_prefix('='))
            .unwrap()
            .trim()
            .to_string()
    };
    let client = Client {
        host: server.endpoint.trim_start_matches("http://").to_string(),
        key: value("aws_access_key_id"),
        secret: value("aws_secret_access_key"),
    };
    tokio::spawn(server.run());
    Arc::new(client)
}

fn definition(family: &str) -> Value {
    json!({"family": family, "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 32}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_each_get_their_own_answer() {
    let dir = tempfile::tempdir().unwrap();
    let client = start(dir.path()).await;
    const CONNECTIONS: usize = 24;
    const ROUNDS: usize = 6;
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|n| {
            let client = Arc::clone(&client);
            tokio::spawn(async move {
                let mut sender = client.connect().await;
                let mut revisions = Vec::new();
                for round in 0..ROUNDS {
                    let (status, answer) = client
                        .call(&mut sender, "RegisterTaskDefinition", &definition("busy"))
                        .await;
                    assert_eq!(status, StatusCode::OK, "{answer}");
                    revisions.push(answer["taskDefinition"]["revision"].as_i64().unwrap());
                    // A refused write in the same batches changes nothing and is refused
                    // alone.
                    let (status, answer) = client
                        .call(
                            &mut sender,
                            "RegisterTaskDefinition",
                            &json!({"family": "busy", "containerDefinitions": []}),
                        )
                        .await;
                    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
                    // What a write answered is what the next read (on any connection) sees.
                    let name = format!("c{n}-{round}");
                    let (status, _) = client
                        .call(&mut sender, "CreateCluster", &json!({"clusterName": name}))
                        .await;
                    assert_eq!(status, StatusCode::OK);
                    let mut other = client.connect().await;
                    let (status, answer) = client
                        .call(&mut other, "DescribeClusters", &json!({"clusters": [name]}))
                        .await;
                    assert_eq!(status, StatusCode::OK);
                    assert_eq!(answer["clusters"][0]["status"], "ACTIVE", "{answer}");
                }
                revisions
            })
        })
        .collect();
    let mut revisions = BTreeSet::new();
    for task in tasks {
        for revision in task.await.unwrap() {
            assert!(
                revisions.insert(revision),
                "revision {revision} handed out twice"
            );
        }
    }
    let expected: BTreeSet<i64> = (1..=(CONNECTIONS * ROUNDS) as i64).collect();
    assert_eq!(revisions, expected);

    let mut sender = client.connect().await;
    let (_, listed) = client
        .call(
            &mut sender,
            "ListTaskDefinitions",
            &json!({"familyPrefix": "busy", "maxResults": 100, "sort": "DESC"}),
        )
        .await;
    assert_eq!(
        listed["taskDefinitionArns"][0],
        format!(
            "arn:aws:ecs:us-east-1:000000000000:task-definition/busy:{}",
            CONNECTIONS * ROUNDS
        )
    );
}
