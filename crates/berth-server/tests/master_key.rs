//! The master key at rest: made on a store's first start, refused when missing or wrong once
//! anything is sealed, and replaced by `rotate_master_key` without losing a value.

use berth_model::Arns;
use berth_server::call::Context;
use berth_server::local::LocalClient;
use berth_server::server::{self, ServerError};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

fn client(data_dir: &Path, key: &Path) -> Result<LocalClient, ServerError> {
    let store = server::open_store(data_dir)?;
    let vault = server::open_vault(store.as_ref(), key)?;
    let cx =
        Context::new(store, Arns::new("us-east-1", "000000000000")).with_vault(Arc::new(vault));
    Ok(LocalClient::new(Arc::new(cx)))
}

fn call(client: &LocalClient, api: &str, action: &str, body: Value) -> Value {
    client
        .json_at(api, action, body.to_string().as_bytes(), berth_time::now())
        .unwrap_or_else(|e| panic!("{action}: {e}"))
}

fn seed(client: &LocalClient) {
    call(
        client,
        "secretsmanager",
        "CreateSecret",
        json!({"Name": "db", "SecretString": "s3cr3t-one"}),
    );
    call(
        client,
        "secretsmanager",
        "PutSecretValue",
        json!({"SecretId": "db", "SecretString": "s3cr3t-two"}),
    );
    call(
        client,
        "ssm",
        "PutParameter",
        json!({"Name": "/app/key", "Value": "s3cr3t-param", "Type": "SecureString"}),
    );
}

fn read_back(client: &LocalClient) {
    let current = call(
        client,
        "secretsmanager",
        "GetSecretValue",
        json!({"SecretId": "db"}),
    );
    assert_eq!(current["SecretString"], "s3cr3t-two");
    let previous = call(
        client,
        "secretsmanager",
        "GetSecretValue",
        json!({"SecretId": "db", "VersionStage": "AWSPREVIOUS"}),
    );
    assert_eq!(previous["SecretString"], "s3cr3t-one");
    let parameter = call(
        client,
        "ssm",
        "GetParameter",
        json!({"Name": "/app/key", "WithDecryption": true}),
    );
    assert_eq!(parameter["Parameter"]["Value"], "s3cr3t-param");
}

#[test]
fn a_missing_or_other_key_is_refused_and_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("master.key");
    seed(&client(dir.path(), &key).unwrap());
    let kept = std::fs::read(&key).unwrap();

    std::fs::rename(&key, dir.path().join("elsewhere")).unwrap();
    let missing = client(dir.path(), &key)
        .err()
        .expect("a missing key is refused");
    assert!(missing.to_string().contains("restore"), "{missing}");
    assert!(!key.exists(), "no new key was made");

    berth_secrets::key_file::create(&key).unwrap();
    let wrong = client(dir.path(), &key)
        .err()
        .expect("another key is refused");
    assert!(
        wrong
            .to_string()
            .contains("restore the file that holds key"),
        "{wrong}"
    );

    std::fs::write(&key, kept).unwrap();
    read_back(&client(dir.path(), &key).unwrap());
}

#[test]
fn rotation_reseals_every_value_under_a_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("master.key");
    seed(&client(dir.path(), &key).unwrap());
    let before = std::fs::read(&key).unwrap();

    let done = server::rotate_master_key(dir.path(), &key).unwrap();
    assert_eq!(done.values, 3);
    assert_ne!(done.old_key_id, done.new_key_id);
    assert_eq!(std::fs::read(&done.old_key_file).unwrap(), before);
    assert_ne!(std::fs::read(&key).unwrap(), before);
    read_back(&client(dir.path(), &key).unwrap());

    // The old key no longer opens the store.
    let error = client(dir.path(), &done.old_key_file)
        .err()
        .expect("the old key is refused");
    assert!(matches!(error, ServerError::MasterKey(_)), "{error}");
}

#[test]
fn rotation_waits_for_the_server_to_stop() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("master.key");
    seed(&client(dir.path(), &key).unwrap());
    let lock = server::lock_data_dir(dir.path()).unwrap();
    let busy = server::rotate_master_key(dir.path(), &key).unwrap_err();
    assert!(busy.to_string().contains("stop it first"), "{busy}");
    drop(lock);
    server::rotate_master_key(dir.path(), &key).unwrap();
}
