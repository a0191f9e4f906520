//! A link: the frames one host has sent, in flight, each with its delivery time.
//!
//! ```text
//!  host ──frame──▶ judge (fault model, PRNG) ──▶ in-flight queue, ordered by delivery time ──▶ switch
//!                    │ lost / oversize / down         (fixed capacity F: the link's buffer)
//!                    └──────────▶ counted, traced, gone
//! ```
//!
//! The in-flight queue is a `heapless::BinaryHeap` of at most `F` frames of at most `MTU` bytes,
//! keyed by `(delivery time, sequence number)`: the network asks for [`Link::next_delivery`] to
//! know how far the virtual clock may jump, and takes due frames in delivery order. A frame that
//! arrives after one that was sent later is *reordered*; this is detected at delivery (by
//! sequence number), so it counts reordering from jitter as well as from deliberate hold-backs.

use core::cmp::Ordering;

use heapless::binary_heap::{BinaryHeap, Min};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetFrame, EthernetProtocol, Ipv4Packet, IPV4_HEADER_LEN};

use super::fault::FaultModel;
use super::prng::Prng;
use super::trace::DropReason;
use crate::device::Frame;

/// Where the switch will deliver a frame (decided when it is sent, from its clean header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// The port that holds the destination MAC address.
    Port(usize),
    /// Every port but the sender's (broadcast, multicast, or an address not learnt yet).
    Flood,
}

/// Counters of one link (one host's cable).
///
/// `sent`/`delivered` count frames the host put on the link and copies the link handed to other
/// hosts (duplicates and floods make `delivered` larger); `received` counts frames handed *to*
/// this cable's host by any link.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LinkCounters {
    /// Frames the host transmitted.
    pub sent: u64,
    /// Bytes the host transmitted.
    pub sent_bytes: u64,
    /// Frame copies delivered to other hosts.
    pub delivered: u64,
    /// Bytes delivered to other hosts.
    pub delivered_bytes: u64,
    /// Frames delivered to this cable's host.
    pub received: u64,
    /// Bytes delivered to this cable's host.
    pub received_bytes: u64,
    /// Frames lost at random.
    pub lost: u64,
    /// Frames dropped because a cable was down.
    pub link_down: u64,
    /// Frames dropped for exceeding the link's size limit.
    pub oversize: u64,
    /// Frames dropped after a bit flip outside any checksum (the Ethernet FCS catches those).
    pub bad_fcs: u64,
    /// Frames dropped because the in-flight queue was full.
    pub queue_full: u64,
    /// Frames dropped because the receiving NIC's queue was full.
    pub nic_full: u64,
    /// Frames too short to carry an Ethernet header.
    pub runt: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Frames with a bit flipped.
    pub corrupted: u64,
    /// Frames delivered after a frame sent later.
    pub reordered: u64,
}

impl LinkCounters {
    /// Frames dropped, for any reason.
    pub fn dropped(&self) -> u64 {
        self.lost
            + self.link_down
            + self.oversize
            + self.bad_fcs
            + self.queue_full
            + self.nic_full
            + self.runt
    }

    /// Count one drop.
    pub fn count_drop(&mut self, reason: DropReason) {
        let counter = match reason {
            DropReason::Lost => &mut self.lost,
            DropReason::LinkDown => &mut self.link_down,
            DropReason::Oversize => &mut self.oversize,
            DropReason::BadFcs => &mut self.bad_fcs,
            DropReason::QueueFull => &mut self.queue_full,
            DropReason::NicFull => &mut self.nic_full,
            DropReason::Runt => &mut self.runt,
        };
        *counter += 1;
    }

    /// Add `other` to these counters (for totals).
    pub fn add(&mut self, other: &LinkCounters) {
        self.sent += other.sent;
        self.sent_bytes += other.sent_bytes;
        self.delivered += other.delivered;
        self.delivered_bytes += other.delivered_bytes;
        self.received += other.received;
        self.received_bytes += other.received_bytes;
        self.lost += other.lost;
        self.link_down += other.link_down;
        self.oversize += other.oversize;
        self.bad_fcs += other.bad_fcs;
        self.queue_full += other.queue_full;
        self.nic_full += other.nic_full;
        self.runt += other.runt;
        self.duplicated += other.duplicated;
        self.corrupted += other.corrupted;
        self.reordered += other.reordered;
    }
}

/// What became of a frame offered to [`Link::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// On its way: `copies` (1, or 2 when duplicated) entries wait in flight.
    Queued {
        /// How many copies were queued.
        copies: u8,
    },
    /// Dropped at once.
    Dropped(DropReason),
}

/// A frame leaving the link.
#[derive(Debug)]
pub struct Arrival<const MTU: usize> {
    /// Where it goes.
    pub to: Dest,
    /// When it was due.
    pub at: Instant,
    /// Its bytes, as the faults left them.
    pub frame: Frame<MTU>,
}

#[derive(Debug)]
struct InFlight<const MTU: usize> {
    at: Instant,
    seq: u64,
    copy: u8,
    to: Dest,
    frame: Frame<MTU>,
}

impl<const MTU: usize> InFlight<MTU> {
    fn key(&self) -> (Instant, u64, u8) {
        (self.at, self.seq, self.copy)
    }
}

impl<const MTU: usize> PartialEq for InFlight<MTU> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl<const MTU: usize> Eq for InFlight<MTU> {}

impl<const MTU: usize> PartialOrd for InFlight<MTU> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<const MTU: usize> Ord for InFlight<MTU> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// One host's cable: a fault model, its PRNG, and up to `F` frames of up to `MTU` bytes in flight.
#[derive(Debug)]
pub struct Link<const MTU: usize, const F: usize> {
    faults: FaultModel,
    rng: Prng,
    in_flight: BinaryHeap<InFlight<MTU>, Min, F>,
    next_seq: u64,
    newest_delivered: Option<u64>,
    busy_until: Instant,
    counters: LinkCounters,
}

impl<const MTU: usize, const F: usize> Default for Link<MTU, F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const MTU: usize, const F: usize> Link<MTU, F> {
    /// A perfect, empty link (seed 0 until the network reseeds it).
    pub const fn new() -> Self {
        Link {
            faults: FaultModel::perfect(),
            rng: Prng::new(0),
            in_flight: BinaryHeap::new(),
            next_seq: 0,
            newest_delivered: None,
            busy_until: Instant::ZERO,
            counters: LinkCounters {
                sent: 0,
                sent_bytes: 0,
                delivered: 0,
                delivered_bytes: 0,
                received: 0,
                received_bytes: 0,
                lost: 0,
                link_down: 0,
                oversize: 0,
                bad_fcs: 0,
                queue_full: 0,
                nic_full: 0,
                runt: 0,
                duplicated: 0,
                corrupted: 0,
                reordered: 0,
            },
        }
    }

    /// The fault model.
    pub fn faults(&self) -> &FaultModel {
        &self.faults
    }

    /// Replace the fault model (frames already in flight keep their fate).
    pub fn set_faults(&mut self, faults: FaultModel) {
        self.faults = faults;
    }

    /// Restart the link's random decisions from `rng`.
    pub fn reseed(&mut self, rng: Prng) {
        self.rng = rng;
    }

    /// The counters so far.
    pub fn counters(&self) -> &LinkCounters {
        &self.counters
    }

    /// The counters, for the network to update (`received`, `nic_full`, ...).
    pub fn counters_mut(&mut self) -> &mut LinkCounters {
        &mut self.counters
    }

    /// Frames in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether the cable is down at `at`.
    pub fn is_down(&self, at: Instant) -> bool {
        self.faults.is_down(at)
    }

    /// Judge a frame the host sent at `now` (see [`super::fault`]) and queue what survives.
    pub fn send(&mut self, now: Instant, mut frame: Frame<MTU>, to: Dest) -> Admission {
        let len = frame.len();
        self.counters.sent += 1;
        self.counters.sent_bytes += len as u64;

        // Always the same draws, in the same order, whatever happens to the frame.
        let faults = &self.faults;
        let lose = self.rng.chance(faults.loss);
        let corrupt = self.rng.chance(faults.corrupt);
        let bit = self.rng.next_u64();
        let hold_back = self.rng.chance(faults.reorder);
        let duplicate = self.rng.chance(faults.duplicate);
        let jitter_span = faults.jitter.total_micros().saturating_add(1);
        let jitter = Duration::from_micros(self.rng.below(jitter_span));
        let copy_jitter = Duration::from_micros(self.rng.below(jitter_span));

        let verdict = if faults.is_down(now) {
            Some(DropReason::LinkDown)
        } else if faults.max_frame.is_some_and(|max| len > max) {
            Some(DropReason::Oversize)
        } else if self.in_flight.len() >= F {
            Some(DropReason::QueueFull)
        } else if lose {
            Some(DropReason::Lost)
        } else if corrupt && !flip_ip_bit(&mut frame, bit) {
            self.counters.corrupted += 1;
            Some(DropReason::BadFcs)
        } else {
            None
        };
        if let Some(reason) = verdict {
            self.counters.count_drop(reason);
            return Admission::Dropped(reason);
        }
        if corrupt {
            self.counters.corrupted += 1;
        }

        // Serialise after whatever is still being sent, then propagate.
        let start = self.busy_until.max(now);
        self.busy_until = start + self.faults.serialisation(len);
        let arrival = self.busy_until + self.faults.delay;
        let held = if hold_back {
            self.faults.reorder_delay
        } else {
            Duration::ZERO
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        let copy = if duplicate { Some(frame.clone()) } else { None };
        // Room was checked above.
        self.in_flight
            .push(InFlight {
                at: arrival + jitter + held,
                seq,
                copy: 0,
                to,
                frame,
            })
            .ok();
        let mut copies = 1;
        if let Some(frame) = copy {
            let second = InFlight {
                at: arrival + copy_jitter,
                seq,
                copy: 1,
                to,
                frame,
            };
            if self.in_flight.push(second).is_ok() {
                self.counters.duplicated += 1;
                copies = 2;
            } else {
                self.counters.queue_full += 1;
            }
        }
        Admission::Queued { copies }
    }

    /// When the next frame is due (`None`: nothing in flight).
    pub fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.peek().map(|f| f.at)
    }

    /// Where the next frame goes, if it is due at `now`.
    pub fn peek_due(&self, now: Instant) -> Option<Dest> {
        self.in_flight.peek().filter(|f| f.at <= now).map(|f| f.to)
    }

    /// Take the next frame if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Arrival<MTU>> {
        if self.in_flight.peek()?.at > now {
            return None;
        }
        let f = self.in_flight.pop()?;
        match self.newest_delivered {
            Some(newest) if f.seq < newest => self.counters.reordered += 1,
            _ => self.newest_delivered = Some(f.seq),
        }
        Some(Arrival {
            to: f.to,
            at: f.at,
            frame: f.frame,
        })
    }
}

/// Flip one bit (chosen by `draw`) of the IP packet inside an Ethernet frame. Returns `false`,
/// leaving the frame alone, when it carries no IP packet.
///
/// IPv4: any bit of the packet (its header checksum guards the header). IPv6 has no header
/// checksum and relies on the link's CRC, which this fault stands for having missed: the bit is
/// one of those the transport checksum covers (the addresses and the payload, as in TCP's,
/// UDP's and ICMPv6's pseudo-header), so a receiver can always tell. A flip in the version,
/// traffic class, flow label, length, next header or hop limit fields would model a different
/// fault (a damaged header a real IPv6 stack cannot detect), which this simulator leaves out.
fn flip_ip_bit(frame: &mut [u8], draw: u64) -> bool {
    let Ok(mut ethernet) = EthernetFrame::new_checked(frame) else {
        return false;
    };
    let (start, len) = match ethernet.ethertype() {
        EthernetProtocol::Ipv4 => {
            let packet = ethernet.payload_mut();
            if packet.len() < IPV4_HEADER_LEN {
                return false;
            }
            // The packet's own length: the padding of a short frame is not part of it.
            let len = usize::from(Ipv4Packet::new_unchecked(&*packet).total_len());
            (0, len.min(packet.len()))
        }
        #[cfg(feature = "ipv6")]
        EthernetProtocol::Ipv6 => {
            use smoltcp::wire::{Ipv6Packet, IPV6_HEADER_LEN};
            let packet = ethernet.payload_mut();
            if packet.len() < IPV6_HEADER_LEN {
                return false;
            }
            let len =
                IPV6_HEADER_LEN + usize::from(Ipv6Packet::new_unchecked(&*packet).payload_len());
            // From the source address on.
            (8, len.min(packet.len()).saturating_sub(8))
        }
        _ => return false,
    };
    if len == 0 {
        return false;
    }
    let packet = &mut ethernet.payload_mut()[start..];
    let bits = (len * 8) as u64;
    let bit = ((u128::from(draw) * u128::from(bits)) >> 64) as usize;
    packet[bit / 8] ^= 1 << (bit % 8);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Rate;

    fn frame(len: usize, fill: u8) -> Frame<1514> {
        let mut f = Frame::new();
        f.resize(len, fill).ok();
        f
    }

    #[test]
    fn frames_come_out_in_delivery_order_and_late_ones_count_as_reordered() {
        let mut link = Link::<1514, 8>::new();
        link.set_faults(FaultModel::perfect().with_delay(Duration::from_millis(1), Duration::ZERO));
        let t0 = Instant::ZERO;
        link.send(t0, frame(60, 1), Dest::Flood);
        link.set_faults(FaultModel::perfect());
        link.send(t0, frame(60, 2), Dest::Flood);
        assert_eq!(link.next_delivery(), Some(t0));
        assert_eq!(link.pop_due(t0).map(|a| a.frame[0]), Some(2));
        assert!(link.pop_due(t0).is_none());
        let t1 = t0 + Duration::from_millis(1);
        assert_eq!(link.pop_due(t1).map(|a| a.frame[0]), Some(1));
        assert_eq!(link.counters().reordered, 1);
    }

    #[test]
    fn a_full_link_drops_at_the_tail() {
        let mut link = Link::<1514, 2>::new();
        for _ in 0..3 {
            link.send(Instant::ZERO, frame(60, 0), Dest::Flood);
        }
        assert_eq!(link.counters().queue_full, 1);
        assert_eq!(link.in_flight(), 2);
    }

    #[test]
    fn corruption_flips_one_bit_of_the_ip_packet_only() {
        let mut ip = frame(100, 0);
        ip[12] = 0x08;
        ip[13] = 0x00;
        ip[17] = 86; // total length: the rest of the frame
        let clean = ip.clone();
        for draw in [0, u64::MAX / 3, u64::MAX] {
            let mut f = clean.clone();
            assert!(flip_ip_bit(&mut f, draw));
            let flipped: u32 = f
                .iter()
                .zip(&clean)
                .map(|(a, b)| (a ^ b).count_ones())
                .sum();
            assert_eq!(flipped, 1);
            assert_eq!(f[..14], clean[..14]);
        }
        #[cfg(feature = "ipv6")]
        for draw in [0, 1 << 20, u64::MAX / 3, u64::MAX] {
            // An IPv6 packet with 60 bytes of payload: the bit lands in the addresses or the
            // payload, never in the fields before the source address.
            let mut v6 = frame(14 + 40 + 60, 0);
            v6[12] = 0x86;
            v6[13] = 0xdd;
            v6[14] = 0x60;
            v6[14 + 5] = 60;
            let clean = v6.clone();
            assert!(flip_ip_bit(&mut v6, draw));
            let flipped: u32 = v6
                .iter()
                .zip(&clean)
                .map(|(a, b)| (a ^ b).count_ones())
                .sum();
            assert_eq!(flipped, 1);
            assert_eq!(v6[..14 + 8], clean[..14 + 8]);
        }
        let mut arp = frame(60, 0);
        arp[12] = 0x08;
        arp[13] = 0x06;
        assert!(!flip_ip_bit(&mut arp, 5));
        let mut link = Link::<1514, 4>::new();
        link.set_faults(FaultModel::perfect().with_corrupt(Rate::ALWAYS));
        assert_eq!(
            link.send(Instant::ZERO, arp, Dest::Flood),
            Admission::Dropped(DropReason::BadFcs)
        );
    }

    #[test]
    fn bandwidth_serialises_frames_back_to_back() {
        let mut link = Link::<1514, 4>::new();
        link.set_faults(FaultModel::perfect().with_bandwidth(8_000_000)); // 1 byte per µs
        link.send(Instant::ZERO, frame(1000, 0), Dest::Flood);
        link.send(Instant::ZERO, frame(1000, 0), Dest::Flood);
        assert_eq!(link.next_delivery(), Some(Instant::from_micros(1000)));
        link.pop_due(Instant::from_micros(1000));
        assert_eq!(link.next_delivery(), Some(Instant::from_micros(2000)));
    }
}
