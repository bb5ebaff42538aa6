//! The master key's file: 32 random bytes, hex, mode 0600, outside the database (by default
//! beside it), so that a copy of the database alone reveals no secret.
//!
//! The store keeps a check sealed under the key ([`Vault::check`]). Once it holds one, a
//! missing or different key file is refused rather than replaced: a new key would leave every
//! secret sealed before it unreadable.

use crate::envelope::{random_key, Sealed, Vault, KEY_LEN};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error(
        "the store holds secrets sealed under master key {key_id}, but the master key file {path} \
         does not exist: restore that file from your backup (or pass --master-key-file with \
         its path); Berth will not make a new key, since it could not open what is sealed"
    )]
    Missing { path: PathBuf, key_id: String },
    #[error(
        "the master key file {path} holds key {held}, but the store's secrets are sealed under \
         key {sealed_with}: restore the file that holds key {sealed_with} (if a re-key was \
         interrupted, it may be {path}.new)"
    )]
    Wrong {
        path: PathBuf,
        held: String,
        sealed_with: String,
    },
    #[error("the master key file {path} is not 64 hexadecimal digits: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("cannot read the master key file {path}: {source}")]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("cannot create the master key file {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
}

/// The master key a store's secrets are sealed under.
#[derive(Debug)]
pub struct Opened {
    pub vault: Vault,
    /// The file did not exist and was made now: the store should keep `vault.check()`.
    pub created: bool,
    /// The file can be read by other users than its owner.
    pub readable_by_others: bool,
}

/// Opens the key at `path` for a store whose check is `check` (none before anything was
/// sealed), making a new key only when the store has none.
pub fn open(path: &Path, check: Option<&Sealed>) -> Result<Opened, KeyFileError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            if let Some(check) = check {
                return Err(KeyFileError::Missing {
                    path: path.to_path_buf(),
                    key_id: check.key_id.clone(),
                });
            }
            let vault = create(path)?;
            return Ok(Opened {
                vault,
                created: true,
                readable_by_others: false,
            });
        }
        Err(source) => {
            return Err(KeyFileError::Unreadable {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let vault = Vault::new(&parse(path, &text)?);
    if let Some(check) = check {
        vault.verify(check).map_err(|_| KeyFileError::Wrong {
            path: path.to_path_buf(),
            held: vault.key_id().to_string(),
            sealed_with: check.key_id.clone(),
        })?;
    }
    let readable_by_others = fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o077 != 0)
        .unwrap_or(false);
    Ok(Opened {
        vault,
        created: false,
        readable_by_others,
    })
}

/// Writes a new random key to `path`, which must not exist, readable by its owner only.
pub fn create(path: &Path) -> Result<Vault, KeyFileError> {
    let key = random_key();
    let failed = |source| KeyFileError::Create {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(failed)?;
    file.write_all(format!("{}\n", hex::encode(key)).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(failed)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(failed)?;
    }
    Ok(Vault::new(&key))
}

fn parse(path: &Path, text: &str) -> Result<[u8; KEY_LEN], KeyFileError> {
    let malformed = |reason: String| KeyFileError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let digits = text.trim();
    let bytes = hex::decode(digits).map_err(|e| malformed(e.to_string()))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| malformed(format!("{} digits", b.len() * 2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_store_gets_a_new_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let opened = open(&path, None).unwrap();
        assert!(opened.created);
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = open(&path, Some(&opened.vault.check())).unwrap();
        assert!(!again.created);
        assert!(!again.readable_by_others);
        assert_eq!(again.vault.key_id(), opened.vault.key_id());
    }

    #[test]
    fn a_store_with_secrets_refuses_a_missing_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let check = Vault::ephemeral().check();
        let error = open(&path, Some(&check)).unwrap_err();
        assert!(matches!(error, KeyFileError::Missing { .. }));
        assert!(error.to_string().contains("restore"), "{error}");
        assert!(!path.exists(), "no new key may be made");
    }

    #[test]
    fn a_store_with_secrets_refuses_another_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        create(&path).unwrap();
        let check = Vault::ephemeral().check();
        let error = open(&path, Some(&check)).unwrap_err();
        assert!(matches!(error, KeyFileError::Wrong { .. }), "{error}");
    }

    #[test]
    fn a_garbled_key_file_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        fs::write(&path, "not hex\n").unwrap();
        assert!(matches!(
            open(&path, None),
            Err(KeyFileError::Malformed { .. })
        ));
        fs::write(&path, "abcd\n").unwrap();
        let error = open(&path, None).unwrap_err();
        assert!(error.to_string().contains("4 digits"), "{error}");
    }

    #[test]
    fn a_key_readable_by_others_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        create(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(open(&path, None).unwrap().readable_by_others);
    }

    #[test]
    fn create_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        create(&path).unwrap();
        assert!(matches!(create(&path), Err(KeyFileError::Create { .. })));
    }
}
