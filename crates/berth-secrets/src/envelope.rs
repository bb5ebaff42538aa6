//! Envelope encryption: a fresh 256-bit data key and nonce per value, AES-256-GCM (ring) for
//! both the value and the data key. Re-keying the master key re-seals data keys only.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

pub const KEY_LEN: usize = 32;

/// A value as the store keeps it: its ciphertext under a data key, and that data key sealed
/// under the master key named by `key_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sealed {
    /// Which master key sealed `wrapped_key` ([`Vault::key_id`]).
    pub key_id: String,
    #[serde(with = "base64_bytes")]
    pub wrapped_key: Vec<u8>,
    #[serde(with = "base64_bytes")]
    pub key_nonce: Vec<u8>,
    #[serde(with = "base64_bytes")]
    pub nonce: Vec<u8>,
    #[serde(with = "base64_bytes")]
    pub ciphertext: Vec<u8>,
}

/// Why a sealed value did not open. Deliberately vague about which part failed: the answer
/// is the same to anyone who tampered with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("sealed under master key {sealed_with}, but this server holds master key {held}")]
    OtherKey { sealed_with: String, held: String },
    #[error("the sealed value does not open: it was altered, or moved from where it was sealed")]
    Corrupt,
}

/// The master key and the operations under it. `Debug` shows only the key's id.
pub struct Vault {
    master: LessSafeKey,
    key_id: String,
    random: SystemRandom,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// What a vault seals to prove, later, that a key is the one the store was sealed under.
const CHECK_TEXT: &[u8] = b"berth master key check";
const CHECK_AAD: &[u8] = b"berth:vault-check";

impl Vault {
    pub fn new(master: &[u8; KEY_LEN]) -> Self {
        Self {
            master: aead_key(master),
            key_id: key_id(master),
            random: SystemRandom::new(),
        }
    }

    /// A vault under a fresh random key, for tests and for stores that hold no secret.
    pub fn ephemeral() -> Self {
        Self::new(&random_key())
    }

    /// A short public name for the master key (the first bytes of a hash of it), so that
    /// errors can say which key sealed what without revealing anything of it.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Seals `plaintext` for the place named by `aad` (a secret's ARN and version, say):
    /// [`Vault::open`] with any other `aad` fails.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Sealed {
        let data_key = random_key();
        let nonce = self.nonce();
        let ciphertext = seal_with(&aead_key(&data_key), &nonce, aad, plaintext);
        let key_nonce = self.nonce();
        let wrapped_key = seal_with(&self.master, &key_nonce, aad, &data_key);
        Sealed {
            key_id: self.key_id.clone(),
            wrapped_key,
            key_nonce: key_nonce.to_vec(),
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, OpenError> {
        let data_key = self.unwrap_key(sealed, aad)?;
        open_with(&aead_key(&data_key), &sealed.nonce, aad, &sealed.ciphertext)
    }

    /// `sealed`'s data key re-sealed under `to`'s master key; the value's own ciphertext is
    /// unchanged.
    pub fn rewrap(&self, sealed: &Sealed, aad: &[u8], to: &Vault) -> Result<Sealed, OpenError> {
        let data_key = self.unwrap_key(sealed, aad)?;
        let key_nonce = to.nonce();
        Ok(Sealed {
            key_id: to.key_id.clone(),
            wrapped_key: seal_with(&to.master, &key_nonce, aad, &data_key),
            key_nonce: key_nonce.to_vec(),
            nonce: sealed.nonce.clone(),
            ciphertext: sealed.ciphertext.clone(),
        })
    }

    /// A sealed value that [`Vault::verify`] opens only under this same master key.
    pub fn check(&self) -> Sealed {
        self.seal(CHECK_TEXT, CHECK_AAD)
    }

    /// Whether this vault's master key is the one that made `check`.
    pub fn verify(&self, check: &Sealed) -> Result<(), OpenError> {
        match self.open(check, CHECK_AAD)?.as_slice() {
            CHECK_TEXT => Ok(()),
            _ => Err(OpenError::Corrupt),
        }
    }

    fn unwrap_key(&self, sealed: &Sealed, aad: &[u8]) -> Result<[u8; KEY_LEN], OpenError> {
        if sealed.key_id != self.key_id {
            return Err(OpenError::OtherKey {
                sealed_with: sealed.key_id.clone(),
                held: self.key_id.clone(),
            });
        }
        let bytes = open_with(&self.master, &sealed.key_nonce, aad, &sealed.wrapped_key)?;
        bytes.try_into().map_err(|_| OpenError::Corrupt)
    }

    fn nonce(&self) -> [u8; NONCE_LEN] {
        let mut nonce = [0; NONCE_LEN];
        fill(&self.random, &mut nonce);
        nonce
    }
}

/// A new random 256-bit key from the operating system.
pub fn random_key() -> [u8; KEY_LEN] {
    let mut key = [0; KEY_LEN];
    fill(&SystemRandom::new(), &mut key);
    key
}

fn fill(random: &SystemRandom, bytes: &mut [u8]) {
    // The system's generator fails only if the operating system cannot give randomness at
    // all; sealing with anything less would be worse than stopping.
    random
        .fill(bytes)
        .expect("the operating system's random number generator failed");
}

fn key_id(master: &[u8; KEY_LEN]) -> String {
    let digest = Sha256::new()
        .chain_update(b"berth master key id\0")
        .chain_update(master)
        .finalize();
    hex::encode(&digest[..8])
}

fn aead_key(key: &[u8; KEY_LEN]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("a 256-bit key fits AES-256"))
}

fn seal_with(key: &LessSafeKey, nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut buffer = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(*nonce),
        Aad::from(aad),
        &mut buffer,
    )
    .expect("AES-GCM seals any input shorter than 64 GiB");
    buffer
}

fn open_with(
    key: &LessSafeKey,
    nonce: &[u8],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, OpenError> {
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::Corrupt)?;
    let mut buffer = sealed.to_vec();
    let plaintext = key
        .open_in_place(nonce, Aad::from(aad), &mut buffer)
        .map_err(|_| OpenError::Corrupt)?;
    Ok(plaintext.to_vec())
}

mod base64_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_where_it_was_sealed() {
        let vault = Vault::ephemeral();
        let sealed = vault.seal(b"hunter2", b"secret:db:v1");
        assert_eq!(vault.open(&sealed, b"secret:db:v1").unwrap(), b"hunter2");
        assert!(!String::from_utf8_lossy(&sealed.ciphertext).contains("hunter2"));
    }

    #[test]
    fn the_same_value_seals_differently_every_time() {
        let vault = Vault::ephemeral();
        let a = vault.seal(b"hunter2", b"x");
        let b = vault.seal(b"hunter2", b"x");
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_ne!(a.wrapped_key, b.wrapped_key);
        assert_ne!(a.nonce, b.nonce);
    }

    fn flip(bytes: &mut [u8], at: usize) {
        bytes[at % bytes.len()] ^= 0x01;
    }

    #[test]
    fn any_altered_part_is_refused() {
        let vault = Vault::ephemeral();
        let sealed = vault.seal(b"hunter2", b"here");
        let parts: [fn(&mut Sealed) -> &mut Vec<u8>; 4] = [
            |s| &mut s.ciphertext,
            |s| &mut s.wrapped_key,
            |s| &mut s.nonce,
            |s| &mut s.key_nonce,
        ];
        for (n, part) in parts.iter().enumerate() {
            for at in 0..40 {
                let mut altered = sealed.clone();
                flip(part(&mut altered), at);
                assert_eq!(
                    vault.open(&altered, b"here"),
                    Err(OpenError::Corrupt),
                    "part {n}, byte {at}"
                );
            }
        }
        let mut truncated = sealed.clone();
        truncated.ciphertext.pop();
        assert_eq!(vault.open(&truncated, b"here"), Err(OpenError::Corrupt));
        let mut short_nonce = sealed;
        short_nonce.nonce.pop();
        assert_eq!(vault.open(&short_nonce, b"here"), Err(OpenError::Corrupt));
    }

    #[test]
    fn a_value_moved_elsewhere_does_not_open() {
        let vault = Vault::ephemeral();
        let sealed = vault.seal(b"hunter2", b"secret:db:v1");
        assert_eq!(
            vault.open(&sealed, b"secret:db:v2"),
            Err(OpenError::Corrupt)
        );
    }

    #[test]
    fn another_master_key_is_named_not_tried() {
        let sealed = Vault::ephemeral().seal(b"hunter2", b"x");
        let other = Vault::ephemeral();
        assert!(matches!(
            other.open(&sealed, b"x"),
            Err(OpenError::OtherKey { .. })
        ));
        // Even with the id forged, the other key does not open it.
        let forged = Sealed {
            key_id: other.key_id().to_string(),
            ..sealed
        };
        assert_eq!(other.open(&forged, b"x"), Err(OpenError::Corrupt));
    }

    #[test]
    fn rewrapping_moves_a_value_to_a_new_key() {
        let old = Vault::ephemeral();
        let new = Vault::ephemeral();
        let sealed = old.seal(b"hunter2", b"x");
        let moved = old.rewrap(&sealed, b"x", &new).unwrap();
        assert_eq!(moved.ciphertext, sealed.ciphertext);
        assert_eq!(new.open(&moved, b"x").unwrap(), b"hunter2");
        assert!(old.open(&moved, b"x").is_err());
    }

    #[test]
    fn the_check_tells_keys_apart() {
        let vault = Vault::new(&[7; KEY_LEN]);
        let check = vault.check();
        assert_eq!(Vault::new(&[7; KEY_LEN]).verify(&check), Ok(()));
        assert!(Vault::new(&[8; KEY_LEN]).verify(&check).is_err());
    }

    #[test]
    fn sealed_values_survive_their_json_form() {
        let vault = Vault::ephemeral();
        let sealed = vault.seal(b"hunter2", b"x");
        let text = serde_json::to_string(&sealed).unwrap();
        assert!(!text.contains("hunter2"));
        let back: Sealed = serde_json::from_str(&text).unwrap();
        assert_eq!(vault.open(&back, b"x").unwrap(), b"hunter2");
    }

    #[test]
    fn debug_shows_no_key() {
        let vault = Vault::new(&[0xab; KEY_LEN]);
        let shown = format!("{vault:?}");
        assert!(shown.contains(vault.key_id()));
        assert!(!shown.contains("abab"), "{shown}");
    }
}
