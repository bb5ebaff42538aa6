//! The API endpoint over TLS: an agent that trusts the server's CA joins and polls, and the
//! CLI's API client calls the AWS APIs; one that trusts another CA is refused in words that say
//! what to check; plain HTTP is told to use HTTPS; a server given an unusable key does not
//! start.

use berth_agent::node;
use berth_client::aws::{self, CallError, Connection, Credentials};
use berth_client::endpoint::{ConnectError, Endpoint};
use berth_model::agent::RegisterRequest;
use berth_runtime::fake::FakeRuntime;
use berth_runtime::RuntimeConfig;
use berth_server::server::{Config, Server, TlsFiles};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A CA's certificate (PEM), and a server certificate for 127.0.0.1 it signed, with its key,
/// written to `dir`.
fn certificates(dir: &Path) -> (String, TlsFiles) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let certificate = params.signed_by(&key, &ca, &ca_key).unwrap();
    let files = TlsFiles {
        certificate: dir.join("server.pem"),
        private_key: dir.join("server.key"),
    };
    std::fs::write(&files.certificate, certificate.pem()).unwrap();
    std::fs::write(&files.private_key, key.serialize_pem()).unwrap();
    (ca.pem(), files)
}

fn config(dir: &Path, tls: TlsFiles) -> Config {
    Config {
        data_dir: dir.join("data"),
        listen: "127.0.0.1:0".parse().unwrap(),
        region: "us-east-1".into(),
        lb_bind: std::net::Ipv4Addr::LOCALHOST.into(),
        master_key_file: None,
        tls: Some(tls),
        logs_max_bytes: berth_server::server::DEFAULT_LOGS_MAX_BYTES,
    }
}

fn registration() -> RegisterRequest {
    RegisterRequest {
        cluster: "default".into(),
        instance_id: "node-tls".into(),
        hostname: "node-tls".into(),
        cpu: 1024,
        memory: 1024,
        attributes: Default::default(),
        agent_version: "test".into(),
        runtime: "fake".into(),
        address: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_join_over_tls_and_only_with_the_right_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, files) = certificates(dir.path());
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let server = Server::bind(&config(dir.path(), files)).await.unwrap();
    let endpoint = server.endpoint.clone();
    assert!(endpoint.starts_with("https://127.0.0.1:"), "{endpoint}");
    let token = server.join_token("tls test").unwrap();
    let client = server.local_client();
    let credentials = std::fs::read_to_string(&server.credentials).unwrap();
    let serving = tokio::spawn(server.run());

    let agent = tokio::spawn(node::run(
        Arc::new(FakeRuntime::new(RuntimeConfig::scoped(
            "berth.test-run",
            "tls",
        ))),
        node::Config {
            server: Endpoint::new(&endpoint, Some(&ca), "--ca-file").unwrap(),
            token,
            registration: registration(),
            poll_wait_seconds: 1,
            sample_every: berth_agent::usage::DEFAULT_SAMPLE_EVERY,
            metrics_listen: None,
        },
        std::future::pending(),
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = client.call("ListContainerInstances", &json!({})).unwrap();
        if !listed["containerInstanceArns"]
            .as_array()
            .unwrap()
            .is_empty()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the agent did not join over TLS within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    agent.abort();

    // The CLI's client signs its calls and trusts the same CA.
    let key = |name: &str| {
        credentials
            .lines()
            .find_map(|line| line.strip_prefix(name)?.trim().strip_prefix('='))
            .unwrap()
            .trim()
            .to_owned()
    };
    let api = Arc::new(aws::Server {
        endpoint: Endpoint::new(&endpoint, Some(&ca), "AWS_CA_BUNDLE").unwrap(),
        credentials: Credentials {
            access_key_id: key("aws_access_key_id"),
            secret_access_key: key("aws_secret_access_key"),
            region: "us-east-1".into(),
        },
    });
    let mut connection = Connection::open(&api).await.unwrap();
    let clusters = connection
        .call(aws::ECS, "ListClusters", &json!({}))
        .await
        .unwrap();
    assert_eq!(clusters["clusterArns"].as_array().unwrap().len(), 1);
    let missing = connection
        .call(
            aws::LOGS,
            "FilterLogEvents",
            &json!({"logGroupName": "/ecs/none"}),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, CallError::Api { code, .. } if code == "ResourceNotFoundException"),
        "{missing:?}"
    );

    // An agent trusting another CA is refused, and told what to check.
    let (other_ca, _) = certificates(tempfile::tempdir().unwrap().path());
    let stranger = Endpoint::new(&endpoint, Some(&other_ca), "--ca-file").unwrap();
    let Err(refused) = stranger.connect().await else {
        panic!("a certificate from another CA was accepted");
    };
    assert!(matches!(refused, ConnectError::Tls { .. }), "{refused:?}");
    let message = refused.to_string();
    assert!(message.contains("--ca-file"), "{message}");

    // Plain HTTP gets an answer saying to use HTTPS, not a dropped connection.
    let authority = endpoint.trim_start_matches("https://");
    let mut plain = tokio::net::TcpStream::connect(authority).await.unwrap();
    plain
        .write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    plain.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains(&format!("use https://{authority}")),
        "{answer}"
    );
    serving.abort();
}

#[tokio::test]
async fn a_server_with_an_unusable_key_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let (_, files) = certificates(dir.path());
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let mismatched = TlsFiles {
        private_key: dir.path().join("server.pem"),
        ..files.clone()
    };
    let Err(error) = Server::bind(&config(dir.path(), mismatched)).await else {
        panic!("a certificate given as its own key was accepted");
    };
    let message = error.to_string();
    assert!(message.contains("server.pem"), "names the file: {message}");
    assert!(
        message.contains("private key"),
        "says what is wrong: {message}"
    );
    let missing = TlsFiles {
        certificate: dir.path().join("missing.pem"),
        ..files
    };
    let Err(error) = Server::bind(&config(dir.path(), missing)).await else {
        panic!("a missing certificate file was accepted");
    };
    assert!(error.to_string().contains("cannot read"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_the_handshake_is_let_go() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    let (_, files) = certificates(dir.path());
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let server = Server::bind(&config(dir.path(), files)).await.unwrap();
    let address = server
        .endpoint
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string();
    let serving = tokio::spawn(server.run());
    let mut silent = tokio::net::TcpStream::connect(&address).await.unwrap();
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(30), silent.read(&mut byte)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "the server closes a connection that sends nothing: {closed:?}"
    );
    serving.abort();
}
