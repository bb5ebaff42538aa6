//! Access keys: the identities that sign API requests.
//!
//! A key's secret must be stored retrievably, because SigV4 verification recomputes the
//! signature with it. The database file is created mode 0600 for that reason.

use berth_store::{Collection, Store, StoreError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub created_at: f64,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no access key {0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored access key does not decode: {0}")]
    Corrupt(#[from] serde_json::Error),
}

const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_string(alphabet: &[u8], len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    (0..len)
        .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
        .collect()
}

/// Creates a key shaped like AWS's (`BKIA` + 16 characters, 40-character secret).
pub fn create(store: &dyn Store, description: &str, now: f64) -> Result<AccessKey, KeyError> {
    let key = AccessKey {
        access_key_id: format!("BKIA{}", random_string(ID_ALPHABET, 16)),
        secret_access_key: random_string(SECRET_ALPHABET, 40),
        created_at: now,
        description: description.to_string(),
    };
    store.insert(
        Collection::AccessKeys,
        &key.access_key_id,
        "",
        &serde_json::to_string(&key)?,
    )?;
    Ok(key)
}

pub fn list(store: &dyn Store) -> Result<Vec<AccessKey>, KeyError> {
    store
        .list(Collection::AccessKeys, None)?
        .into_iter()
        .map(|r| Ok(serde_json::from_str(&r.doc)?))
        .collect()
}

/// The key `access_key_id`, as stored now. Every signed request looks its key up here, so
/// this must be cheap and current: the SQLite store answers repeated reads from memory, and a
/// key created or revoked by another process (`berth keys create`, `berth keys revoke` while
/// the server runs) is seen by every lookup that starts at least 1 ms after that change was
/// committed ([`berth_store::FRESH_FOR`]).
pub fn find(store: &dyn Store, access_key_id: &str) -> Result<Option<AccessKey>, KeyError> {
    store
        .get(Collection::AccessKeys, access_key_id)?
        .map(|r| Ok(serde_json::from_str(&r.doc)?))
        .transpose()
}

pub fn revoke(store: &dyn Store, access_key_id: &str) -> Result<(), KeyError> {
    let record = store
        .get(Collection::AccessKeys, access_key_id)?
        .ok_or_else(|| KeyError::NotFound(access_key_id.to_string()))?;
    store.delete(Collection::AccessKeys, access_key_id, record.version)?;
    Ok(())
}

/// The AWS shared-credentials file text for one key under `profile`.
pub fn credentials_file(profile: &str, key: &AccessKey) -> String {
    format!(
        "[{profile}]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        key.access_key_id, key.secret_access_key
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_store::MemoryStore;

    #[test]
    fn create_list_find_revoke() {
        let store = MemoryStore::new();
        let key = create(&store, "admin", 1.0).unwrap();
        assert!(key.access_key_id.starts_with("BKIA") && key.access_key_id.len() == 20);
        assert_eq!(key.secret_access_key.len(), 40);
        assert_eq!(list(&store).unwrap(), vec![key.clone()]);
        assert_eq!(find(&store, &key.access_key_id).unwrap(), Some(key.clone()));
        revoke(&store, &key.access_key_id).unwrap();
        assert_eq!(find(&store, &key.access_key_id).unwrap(), None);
        assert!(matches!(
            revoke(&store, &key.access_key_id),
            Err(KeyError::NotFound(_))
        ));
    }

    #[test]
    fn keys_are_unique() {
        let store = MemoryStore::new();
        let a = create(&store, "", 1.0).unwrap();
        let b = create(&store, "", 1.0).unwrap();
        assert_ne!(a.access_key_id, b.access_key_id);
        assert_ne!(a.secret_access_key, b.secret_access_key);
    }

    #[test]
    fn writes_the_shared_credentials_format() {
        let key = AccessKey {
            access_key_id: "BKIAEXAMPLE".into(),
            secret_access_key: "s3cr3t".into(),
            created_at: 0.0,
            description: String::new(),
        };
        assert_eq!(
            credentials_file("berth", &key),
            "[berth]\naws_access_key_id = BKIAEXAMPLE\naws_secret_access_key = s3cr3t\n"
        );
    }
}
