//! A small seeded pseudo-random generator: every "random" fault comes from here.
//!
//! Determinism is the whole point of a simulator: a failing run must fail again, byte for byte,
//! when replayed with the same seed. So nothing in [`crate::sim`] reads a global random source;
//! each link owns a [`Prng`] derived from the network's seed and the link's index, and draws
//! from it in a fixed order for every frame.
//!
//! The generator is SplitMix64 (Steele, Lea, Flood 2014; the seeder of Java's `SplittableRandom`
//! and of xoshiro): one `u64` of state, a Weyl sequence scrambled by two multiply-xorshift
//! rounds. It passes BigCrush, needs no tables, and any seed (0 included) is fine. It is *not*
//! cryptographic; it only has to be fast, well spread and reproducible.

use crate::digest::mix64 as mix;

/// SplitMix64: a tiny, fast, reproducible pseudo-random generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prng {
    state: u64,
}

/// The golden-ratio increment of SplitMix64's Weyl sequence.
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

impl Prng {
    /// A generator whose whole future is decided by `seed`.
    pub const fn new(seed: u64) -> Self {
        Prng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix(self.state)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A number in `0..n` (0 when `n` is 0).
    ///
    /// Lemire's multiply-shift: the high half of a 64×64-bit product. No division, and the bias
    /// (at most `n / 2^64`) is far below anything a test could notice.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// `true` with probability `rate`. Always draws one number, whatever the rate, so that
    /// changing one fault's rate does not shift the random decisions of the others.
    pub fn chance(&mut self, rate: Rate) -> bool {
        self.below(u64::from(Rate::ONE_PPM)) < u64::from(rate.as_ppm())
    }

    /// An independent generator for sub-stream `stream` (e.g. a link index), derived from this
    /// one's seed without advancing it.
    pub fn fork(&self, stream: u64) -> Prng {
        Prng::new(mix(self.state ^ mix(stream.wrapping_add(GAMMA))))
    }

    /// Fill `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// A probability, in parts per million: exact, `Copy`, and free of floating point in the core.
///
/// ```
/// use smolsock::sim::Rate;
/// assert_eq!(Rate::percent(10), Rate::ppm(100_000));
/// assert_eq!(Rate::from_f64(0.05), Rate::percent(5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Rate(u32);

impl Rate {
    /// One million: the denominator.
    pub const ONE_PPM: u32 = 1_000_000;
    /// Never.
    pub const NEVER: Rate = Rate(0);
    /// Always.
    pub const ALWAYS: Rate = Rate(Self::ONE_PPM);

    /// `ppm` parts per million (clamped to one million).
    pub const fn ppm(ppm: u32) -> Self {
        Rate(if ppm > Self::ONE_PPM {
            Self::ONE_PPM
        } else {
            ppm
        })
    }

    /// `percent` per cent (clamped to 100).
    pub const fn percent(percent: u32) -> Self {
        Self::ppm(percent.saturating_mul(10_000))
    }

    /// A fraction in `0.0..=1.0` (clamped; NaN is never), rounded to the nearest ppm.
    pub fn from_f64(p: f64) -> Self {
        if p.is_nan() || p <= 0.0 {
            Rate::NEVER
        } else if p >= 1.0 {
            Rate::ALWAYS
        } else {
            Rate((p * f64::from(Self::ONE_PPM) + 0.5) as u32)
        }
    }

    /// Parts per million.
    pub const fn as_ppm(self) -> u32 {
        self.0
    }

    /// `true` for a rate of zero.
    pub const fn is_never(self) -> bool {
        self.0 == 0
    }
}

impl core::fmt::Display for Rate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{:02}%", self.0 / 10_000, (self.0 % 10_000) / 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_forks_differ() {
        let mut a = Prng::new(42);
        let mut b = Prng::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Prng::new(42).fork(0), Prng::new(42).fork(1));
        assert_eq!(Prng::new(42).fork(3), Prng::new(42).fork(3));
    }

    #[test]
    fn chance_is_close_to_its_rate() {
        let mut rng = Prng::new(7);
        let hits = (0..100_000)
            .filter(|_| rng.chance(Rate::percent(10)))
            .count();
        assert!((9_500..10_500).contains(&hits), "{hits}");
        assert!(!(0..1000).any(|_| rng.chance(Rate::NEVER)));
        assert!((0..1000).all(|_| rng.chance(Rate::ALWAYS)));
    }

    #[test]
    fn below_stays_below() {
        let mut rng = Prng::new(1);
        assert!((0..10_000).all(|_| rng.below(17) < 17));
        assert_eq!(rng.below(0), 0);
    }
}
