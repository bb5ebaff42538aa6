//! Secrets as Berth keeps them and hands them out, with no I/O but the master key file.
//!
//! - [`envelope`]: every value is sealed with AES-256-GCM under a data key of its own, and the
//!   data key is sealed under the master key ([`Vault`]); the store only ever sees
//!   [`Sealed`] bytes. The associated data binds a sealed value to where it is stored, so a
//!   ciphertext copied onto another secret or version does not open.
//! - [`key_file`]: where the master key lives (outside the database), and the refusal to
//!   start with a missing or wrong key once anything is sealed.
//! - [`stages`]: Secrets Manager's versions and their staging labels (`AWSCURRENT`,
//!   `AWSPREVIOUS`).
//! - [`render`]: one key of a JSON secret, printed as ECS's agent prints it (the grammar of
//!   `valueFrom` itself is `berth_model::sources`).
//! - [`password`] answers GetRandomPassword.

#![forbid(unsafe_code)]

pub mod envelope;
pub mod key_file;
pub mod password;
pub mod render;
pub mod stages;

pub use envelope::{OpenError, Sealed, Vault};
