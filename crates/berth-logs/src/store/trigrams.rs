//! Trigram filters: a Bloom filter of the 3-byte windows of a block's messages, so that a
//! search can tell, without reading a block's events, that none of them contains a term (every
//! 3-byte window of a term occurs in every message containing it). A filter may say yes
//! wrongly (a false positive costs a scan of the block) but never no wrongly.
//!
//! Each trigram sets [`HASHES`] bits, derived from one mix of its three bytes, at positions in
//! a space of [`FULL_BITS`]. A filter smaller than that (a power of two of bits) keeps bit
//! `p mod bits` for position `p`, so halving one ORs its two halves together ("folding"):
//! a block's filter is built at full size and folded when the block is sealed, as far as it
//! stays sparse enough to be useful.

/// Bits of a filter still being added to: 8 KiB.
pub(crate) const FULL_BITS: usize = 1 << 16;
/// Bits each trigram sets.
const HASHES: usize = 3;
/// The share of set bits a filter may reach: with 3 bits per trigram, a trigram a block does
/// not have looks present at most 0.3³ ≈ 2.7% of the time, and a term of several trigrams
/// much less often. A block is sealed when its filter gets this full, and folded at sealing
/// only as far as it stays below it.
pub(crate) const FILL_PER_MILLE: usize = 300;
/// The smallest a filter is folded to.
const MIN_BITS: usize = 512;

/// Where trigram `t` (its bytes, little-endian) sets its bits, in the full space.
#[inline]
fn positions(t: u32) -> [usize; HASHES] {
    // One multiply by 2^64 / φ, its high half folded onto its low one so that every bit
    // depends on all 24 of the trigram's; each position takes 16 bits of that, and a folded
    // filter their low bits.
    let mut h = u64::from(t).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^= h >> 32;
    [
        (h & 0xFFFF) as usize,
        ((h >> 16) & 0xFFFF) as usize,
        ((h >> 32) & 0xFFFF) as usize,
    ]
}

/// The trigrams of `text`, each as its three bytes little-endian.
#[inline]
fn trigrams(text: &[u8]) -> impl Iterator<Item = u32> + '_ {
    text.windows(3)
        .map(|w| u32::from(w[0]) | u32::from(w[1]) << 8 | u32::from(w[2]) << 16)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Filter {
    words: Vec<u64>,
    /// How many bits are set.
    set: usize,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            words: vec![0; FULL_BITS / 64],
            set: 0,
        }
    }
}

impl Filter {
    pub(crate) fn bits(&self) -> usize {
        self.words.len() * 64
    }

    /// Adds every trigram of `text`. Only a filter at full size takes trigrams (a block's
    /// filter is folded once the block is sealed), so positions need no folding and index
    /// no word out of range.
    pub(crate) fn add(&mut self, text: &[u8]) {
        let words = <&mut [u64; FULL_BITS / 64]>::try_from(self.words.as_mut_slice())
            .expect("only a filter at full size takes trigrams");
        let mut added = 0;
        for t in trigrams(text) {
            for p in positions(t) {
                let word = &mut words[p >> 6];
                let bit = 1u64 << (p & 63);
                added += usize::from(*word & bit == 0);
                *word |= bit;
            }
        }
        self.set += added;
    }

    /// Whether the filter is as full as [`FILL_PER_MILLE`] allows.
    pub(crate) fn is_full(&self) -> bool {
        self.set * 1000 >= self.bits() * FILL_PER_MILLE
    }

    /// Halves the filter as often as it stays under [`FILL_PER_MILLE`] full.
    pub(crate) fn fold(&mut self) {
        while self.bits() > MIN_BITS {
            let half = self.words.len() / 2;
            let folded: Vec<u64> = (0..half)
                .map(|i| self.words[i] | self.words[i + half])
                .collect();
            let set = folded
                .iter()
                .map(|w| w.count_ones() as usize)
                .sum::<usize>();
            if set * 1000 > half * 64 * FILL_PER_MILLE {
                break;
            }
            self.words = folded;
            self.set = set;
        }
    }

    /// The filter as stored: its words, little-endian.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        self.words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// A stored filter; `None` unless its length is a power of two of whole words no larger
    /// than the full size.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Filter> {
        let fits = bytes.len() >= 8 && bytes.len() <= FULL_BITS / 8;
        if !fits || !bytes.len().is_power_of_two() {
            return None;
        }
        let words: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let set = words.iter().map(|w| w.count_ones() as usize).sum();
        Some(Filter { words, set })
    }
}

/// The bit positions a search asks stored filters about: those of every trigram of its
/// terms of 3 bytes or more. `None` when no term has 3 bytes, so no filter can rule a block
/// out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Probe(Vec<usize>);

impl Probe {
    pub(crate) fn of<S: AsRef<str>>(terms: &[S]) -> Option<Probe> {
        let mut wanted: Vec<usize> = terms
            .iter()
            .flat_map(|term| trigrams(term.as_ref().as_bytes()))
            .flat_map(positions)
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        (!wanted.is_empty()).then_some(Probe(wanted))
    }

    /// Whether a block whose stored filter is `stored` may hold an event with every term:
    /// `true` for a filter that cannot be read, so that nothing is ever missed.
    pub(crate) fn may_match(&self, stored: &[u8]) -> bool {
        let bits = stored.len() * 8;
        if !stored.len().is_power_of_two() || bits > FULL_BITS || stored.len() < 8 {
            return true;
        }
        self.0.iter().all(|p| {
            let p = p & (bits - 1);
            stored[p >> 3] & (1 << (p & 7)) != 0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn filter_of(messages: &[&str]) -> Filter {
        let mut filter = Filter::default();
        for m in messages {
            filter.add(m.as_bytes());
        }
        filter
    }

    #[test]
    fn a_filter_knows_its_trigrams_and_is_mostly_right_about_others() {
        let lines: Vec<String> = (0..4096)
            .map(|n| {
                format!(
                    "10.0.{}.{} GET /api/v1/items 200 {} req-{n:08}",
                    n % 256,
                    n % 7,
                    n * 13
                )
            })
            .collect();
        let mut filter = Filter::default();
        for line in &lines {
            filter.add(line.as_bytes());
        }
        assert!(!filter.is_full());
        filter.fold();
        assert!(filter.bits() < FULL_BITS, "a sparse filter folds");
        let stored = filter.to_bytes();
        assert_eq!(Filter::from_bytes(&stored), Some(filter.clone()));
        for line in &lines {
            assert!(Probe::of(&[line]).unwrap().may_match(&stored));
        }
        assert!(Probe::of(&["req-0000"]).unwrap().may_match(&stored));
        assert!(!Probe::of(&["rare-Qz81-term"]).unwrap().may_match(&stored));
        assert!(
            !Probe::of(&["POST"]).unwrap().may_match(&stored),
            "{}",
            filter.set
        );
        // Case matters, as it does to terms.
        assert!(!Probe::of(&["get /API"]).unwrap().may_match(&stored));
    }

    #[test]
    fn short_terms_cannot_probe() {
        assert_eq!(Probe::of(&["ab", ""]), None);
        assert_eq!(Probe::of::<&str>(&[]), None);
        assert!(Probe::of(&["ab", "abc"]).is_some());
    }

    #[test]
    fn an_unreadable_filter_rules_nothing_out() {
        let probe = Probe::of(&["anything"]).unwrap();
        for stored in [&[][..], &[0u8; 3], &[0u8; 24], &vec![0u8; FULL_BITS / 4]] {
            assert!(probe.may_match(stored));
            assert_eq!(Filter::from_bytes(stored), None);
        }
    }

    #[test]
    fn a_dense_filter_fills_up_and_does_not_fold() {
        let mut filter = Filter::default();
        // Hexadecimal has only 4,096 trigrams: bytes of every value are needed to fill it.
        let mut x = 1u64;
        while !filter.is_full() {
            let bytes: Vec<u8> = (0..32)
                .map(|_| {
                    x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(7);
                    (x >> 56) as u8
                })
                .collect();
            filter.add(&bytes);
        }
        let bits = filter.bits();
        filter.fold();
        assert_eq!(filter.bits(), bits);
    }

    proptest! {
        #[test]
        fn no_false_negatives(
            messages in proptest::collection::vec("\\PC{0,40}", 1..30),
            pick in 0usize..30, from in 0usize..40, len in 0usize..40, fold in any::<bool>(),
        ) {
            let refs: Vec<&str> = messages.iter().map(String::as_str).collect();
            let mut filter = filter_of(&refs);
            if fold {
                filter.fold();
            }
            let message = &messages[pick % messages.len()];
            let bytes = message.as_bytes();
            let from = from.min(bytes.len());
            let to = (from + len).min(bytes.len());
            if let Ok(term) = std::str::from_utf8(&bytes[from..to]) {
                if let Some(probe) = Probe::of(&[term]) {
                    prop_assert!(probe.may_match(&filter.to_bytes()));
                }
            }
        }
    }
}
