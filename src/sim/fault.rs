//! What a link does to the frames it carries: the fault model.
//!
//! Every frame a host sends is judged once, by the link of the cable it leaves on, in this order
//! (each step draws from the link's [`Prng`](super::Prng), always the same number of draws):
//!
//! | step | fault | what happens | who must cope |
//! |---|---|---|---|
//! | 1 | [`outages`](FaultModel::outages) | the cable is unplugged: frames sent, in flight or arriving are lost | TCP retransmits (or times out) |
//! | 2 | [`max_frame`](FaultModel::max_frame) | a frame larger than the path allows is dropped (no ICMP "too big") | the sender's MTU must fit |
//! | 3 | [`loss`](FaultModel::loss) | the frame vanishes | TCP retransmits; UDP loses it |
//! | 4 | [`corrupt`](FaultModel::corrupt) | one bit of the IP packet flips | the IPv4/TCP/UDP checksums drop it |
//! | 5 | [`reorder`](FaultModel::reorder) | the frame is held back by [`reorder_delay`](FaultModel::reorder_delay), so later ones overtake it | TCP's reassembly |
//! | 6 | [`duplicate`](FaultModel::duplicate) | a second copy is delivered, with its own jitter | TCP sequence numbers; UDP apps see it twice |
//! | 7 | [`bandwidth`](FaultModel::bandwidth), [`delay`](FaultModel::delay), [`jitter`](FaultModel::jitter) | the frame is serialised at the link's rate, then travels `delay + uniform(0..=jitter)` | congestion control, RTT estimation |
//!
//! ## Why corruption flips exactly one bit, and only inside the IP packet
//!
//! A real Ethernet NIC checks the frame's CRC-32 (FCS) and drops damaged frames before any
//! software sees them; smoltcp never sees an FCS. Above Ethernet, IPv4 protects its header and
//! TCP/UDP their segment with the 16-bit ones'-complement Internet checksum, which smoltcp
//! verifies by default ([`ChecksumCapabilities`](smoltcp::phy::ChecksumCapabilities)). That sum
//! catches **every single-bit error**, but not every double one: flipping the same bit position
//! 0→1 in one 16-bit word and 1→0 in another leaves the sum unchanged. So the model flips one bit
//! of the IPv4 packet (header or payload), where the checksums must catch it; a frame that is
//! not IPv4 (ARP has no checksum of its own) is dropped instead, as the FCS would have done.

use heapless::Vec;
use smoltcp::time::{Duration, Instant};

use super::prng::Rate;

/// How many outages one link can schedule.
pub const MAX_OUTAGES: usize = 4;

/// A time window during which a link is down (cable unplugged): `[from, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// First instant of the outage.
    pub from: Instant,
    /// First instant the link is up again.
    pub until: Instant,
}

impl Outage {
    /// Down from `from` for `length`.
    pub fn new(from: Instant, length: Duration) -> Self {
        Outage {
            from,
            until: from + length,
        }
    }

    /// Whether the link is down at `at`.
    pub fn covers(&self, at: Instant) -> bool {
        self.from <= at && at < self.until
    }
}

/// The faults one link applies to the frames it carries (see the [module docs](self)).
///
/// Build one with [`FaultModel::perfect`] or [`FaultModel::hostile`] and adjust it:
///
/// ```
/// use smolsock::sim::{FaultModel, Rate};
/// use smolsock::smoltcp::time::Duration;
/// let wan = FaultModel::perfect()
///     .with_loss(Rate::percent(2))
///     .with_delay(Duration::from_millis(20), Duration::from_millis(5))
///     .with_bandwidth(10_000_000);
/// assert_eq!(wan.loss, Rate::percent(2));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultModel {
    /// Probability that a frame is lost.
    pub loss: Rate,
    /// Probability that a frame is delivered twice.
    pub duplicate: Rate,
    /// Probability that a frame is held back so that later frames overtake it.
    pub reorder: Rate,
    /// How long a reordered frame is held back (on top of its normal delay).
    pub reorder_delay: Duration,
    /// Probability that one bit of the frame's IP packet is flipped.
    pub corrupt: Rate,
    /// Fixed propagation delay.
    pub delay: Duration,
    /// Extra delay, uniform in `0..=jitter`, drawn per frame (it also reorders frames).
    pub jitter: Duration,
    /// Link rate in bits per second (`None`: infinitely fast). Frames are serialised one after
    /// another; the in-flight queue is the link's buffer, and a full one drops (tail drop).
    pub bandwidth: Option<u64>,
    /// Largest frame (Ethernet header included) the link carries; larger ones are dropped.
    pub max_frame: Option<usize>,
    /// When the link is down.
    pub outages: Vec<Outage, MAX_OUTAGES>,
}

impl Default for FaultModel {
    fn default() -> Self {
        Self::perfect()
    }
}

impl FaultModel {
    /// A perfect link: no loss, no delay, infinitely fast, always up.
    pub const fn perfect() -> Self {
        FaultModel {
            loss: Rate::NEVER,
            duplicate: Rate::NEVER,
            reorder: Rate::NEVER,
            reorder_delay: Duration::from_millis(5),
            corrupt: Rate::NEVER,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            bandwidth: None,
            max_frame: None,
            outages: Vec::new(),
        }
    }

    /// The reliability suite's bad network, all faults at once: 10% loss, 5% duplication,
    /// 5% reordering (held back 5 ms), 1% corruption, 1 ms delay with 2 ms jitter.
    pub const fn hostile() -> Self {
        FaultModel {
            loss: Rate::percent(10),
            duplicate: Rate::percent(5),
            reorder: Rate::percent(5),
            reorder_delay: Duration::from_millis(5),
            corrupt: Rate::percent(1),
            delay: Duration::from_millis(1),
            jitter: Duration::from_millis(2),
            bandwidth: None,
            max_frame: None,
            outages: Vec::new(),
        }
    }

    /// The same, losing frames with probability `loss`.
    pub fn with_loss(mut self, loss: Rate) -> Self {
        self.loss = loss;
        self
    }

    /// The same, duplicating frames with probability `duplicate`.
    pub fn with_duplicate(mut self, duplicate: Rate) -> Self {
        self.duplicate = duplicate;
        self
    }

    /// The same, holding back frames by `by` with probability `reorder`.
    pub fn with_reorder(mut self, reorder: Rate, by: Duration) -> Self {
        self.reorder = reorder;
        self.reorder_delay = by;
        self
    }

    /// The same, flipping a bit with probability `corrupt`.
    pub fn with_corrupt(mut self, corrupt: Rate) -> Self {
        self.corrupt = corrupt;
        self
    }

    /// The same, with propagation `delay` plus up to `jitter`.
    pub fn with_delay(mut self, delay: Duration, jitter: Duration) -> Self {
        self.delay = delay;
        self.jitter = jitter;
        self
    }

    /// The same, at `bits_per_second`.
    pub fn with_bandwidth(mut self, bits_per_second: u64) -> Self {
        self.bandwidth = Some(bits_per_second);
        self
    }

    /// The same, dropping frames longer than `bytes`.
    pub fn with_max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = Some(bytes);
        self
    }

    /// The same, with one more outage (ignored, with a warning, beyond [`MAX_OUTAGES`]).
    pub fn with_outage(mut self, outage: Outage) -> Self {
        if self.outages.push(outage).is_err() {
            log::warn!("fault model: more than {MAX_OUTAGES} outages, {outage:?} ignored");
        }
        self
    }

    /// Whether the link is down at `at`.
    pub fn is_down(&self, at: Instant) -> bool {
        self.outages.iter().any(|o| o.covers(at))
    }

    /// How long `bytes` take to serialise at the link's rate (zero without a limit).
    pub fn serialisation(&self, bytes: usize) -> Duration {
        match self.bandwidth {
            Some(bps) if bps > 0 => {
                let bits = (bytes as u64).saturating_mul(8);
                Duration::from_micros(bits.saturating_mul(1_000_000).div_ceil(bps))
            }
            _ => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_half_open_windows() {
        let f = FaultModel::perfect()
            .with_outage(Outage::new(Instant::from_secs(10), Duration::from_secs(5)));
        assert!(!f.is_down(Instant::from_millis(9_999)));
        assert!(f.is_down(Instant::from_secs(10)));
        assert!(f.is_down(Instant::from_millis(14_999)));
        assert!(!f.is_down(Instant::from_secs(15)));
    }

    #[test]
    fn serialisation_time_follows_the_rate() {
        let f = FaultModel::perfect().with_bandwidth(8_000_000);
        assert_eq!(f.serialisation(1000), Duration::from_micros(1000));
        assert_eq!(FaultModel::perfect().serialisation(1000), Duration::ZERO);
    }
}
