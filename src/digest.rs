//! The crate's hashes: small, dependency-free, not cryptographic.
//!
//! - [`Fnv1a`] (64 bit): any lost, changed, duplicated or reordered byte in a stream changes
//!   it. Tests and the UDP sink use it to compare what was sent with what arrived without
//!   keeping the bytes; the simulator's [trace](crate::sim::Trace) folds whole 64-bit words
//!   into it ([`Fnv1a::update_word`]).
//! - [`mix64`]: SplitMix64's finaliser, which spreads every input bit over the whole output:
//!   the simulator's [`Prng`](crate::sim::Prng) and the trace's final digest.

/// A running FNV-1a 64-bit hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self::new()
    }
}

impl Fnv1a {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    /// The hash of nothing.
    pub const fn new() -> Self {
        Fnv1a(Self::OFFSET)
    }

    /// Feed more bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(Self::PRIME);
        }
    }

    /// Fold one whole 64-bit word in with a single multiply-xor step: eight times faster than
    /// [`update`](Self::update) on its bytes, and a different hash (use one or the other).
    pub fn update_word(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(Self::PRIME);
    }

    /// The hash so far.
    pub fn value(&self) -> u64 {
        self.0
    }

    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> u64 {
        let mut h = Self::new();
        h.update(bytes);
        h.value()
    }
}

/// SplitMix64's output function (Steele, Lea, Flood 2014): a bijection on `u64` whose every
/// output bit depends on every input bit. A good finaliser for a weak hash, and the core of
/// [`Prng`](crate::sim::Prng).
pub const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
