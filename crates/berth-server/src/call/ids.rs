//! Where handlers get new ids: task and container ids, deployment and event ids, ARN
//! suffixes, join tokens and agent keys, placement seeds. A handler draws them from the
//! [`Ids`] its call gives it, never from a random source of its own, so a test that seeds
//! the source gets the same ids on every run.

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A source of ids. `StdRng` is a cryptographically secure generator, so the secrets drawn
/// from it (join tokens, agent keys) are as good as the operating system's entropy it was
/// seeded from.
pub struct Ids(Mutex<StdRng>);

impl Ids {
    pub fn from_entropy() -> Self {
        Self(Mutex::new(StdRng::from_entropy()))
    }

    /// A reproducible source, for tests.
    pub fn seeded(seed: u64) -> Self {
        Self(Mutex::new(StdRng::seed_from_u64(seed)))
    }

    fn rng(&self) -> MutexGuard<'_, StdRng> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `len` lowercase hex digits, as ECS task and container ids are.
    pub fn hex(&self, len: usize) -> String {
        let mut rng = self.rng();
        (0..len)
            .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
            .collect()
    }

    /// `len` decimal digits, as in ECS deployment ids (`ecs-svc/…`).
    pub fn digits(&self, len: usize) -> String {
        let mut rng = self.rng();
        (0..len)
            .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
            .collect()
    }

    /// `len` letters and digits, as the suffix Secrets Manager adds to a secret's ARN.
    pub fn alphanumeric(&self, len: usize) -> String {
        let mut rng = self.rng();
        (0..len)
            .map(|_| char::from(rng.sample(rand::distributions::Alphanumeric)))
            .collect()
    }

    /// A random (version 4) UUID, as ACM certificate ids are.
    pub fn uuid(&self) -> String {
        let mut bytes = [0_u8; 16];
        self.rng().fill_bytes(&mut bytes);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    /// A seed for the placement's own random choices.
    pub fn seed(&self) -> u64 {
        self.rng().next_u64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_shapes() {
        let ids = Ids::from_entropy();
        let hex = ids.hex(32);
        assert_eq!(hex.len(), 32);
        assert!(hex
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        let digits = ids.digits(19);
        assert!(digits.len() == 19 && digits.chars().all(|c| c.is_ascii_digit()));
        let uuid = ids.uuid();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4", "a version 4 UUID: {uuid}");
        assert_ne!(ids.hex(32), hex);
    }

    #[test]
    fn a_seeded_source_repeats_itself() {
        let (a, b) = (Ids::seeded(7), Ids::seeded(7));
        assert_eq!(
            (a.hex(8), a.digits(5), a.uuid(), a.seed()),
            (b.hex(8), b.digits(5), b.uuid(), b.seed())
        );
    }
}
