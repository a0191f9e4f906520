//! The packet trace: every frame's fate, folded into one digest, and offered to an observer.
//!
//! "Same seed, same run" is a claim worth checking, not assuming. The network folds every event
//! (a frame sent, delivered, or dropped, with its port, its instant and all its bytes) into a
//! 64-bit digest ([`Trace::digest`]). Two runs with equal digests put the same bytes on the same
//! links at the same virtual microseconds; a single differing bit or microsecond changes it.
//!
//! The digest is [`Fnv1a`] taken eight bytes at a time ([`Fnv1a::update_word`]: every frame
//! passes through it twice, so byte-at-a-time FNV would be the simulator's largest cost),
//! finished with SplitMix64's mixer ([`mix64`]). It is for telling runs apart,
//! not against an adversary.
//!
//! An [`Observer`] sees the same events as they happen: [`super::pcap`] writes them to pcap
//! files for Wireshark, a test can count them, `()` ignores them.

use smoltcp::time::Instant;

use crate::digest::{mix64, Fnv1a};

/// Why a frame did not reach a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Random loss ([`FaultModel::loss`](super::FaultModel::loss)).
    Lost,
    /// The sender's or the receiver's cable was down.
    LinkDown,
    /// Larger than the link's [`max_frame`](super::FaultModel::max_frame).
    Oversize,
    /// A bit flipped where no checksum covers it: the Ethernet FCS drops it.
    BadFcs,
    /// The link's in-flight queue (its buffer) was full.
    QueueFull,
    /// The receiving host's NIC queue was full.
    NicFull,
    /// Not even an Ethernet header.
    Runt,
}

impl DropReason {
    fn code(self) -> u8 {
        match self {
            DropReason::Lost => 0,
            DropReason::LinkDown => 1,
            DropReason::Oversize => 2,
            DropReason::BadFcs => 3,
            DropReason::QueueFull => 4,
            DropReason::NicFull => 5,
            DropReason::Runt => 6,
        }
    }
}

impl core::fmt::Display for DropReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            DropReason::Lost => "lost",
            DropReason::LinkDown => "link down",
            DropReason::Oversize => "oversize",
            DropReason::BadFcs => "bad FCS",
            DropReason::QueueFull => "link queue full",
            DropReason::NicFull => "NIC queue full",
            DropReason::Runt => "runt",
        })
    }
}

/// Something that happened to a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameEvent {
    /// The host on `port` transmitted the frame (as it left the host, before any fault).
    Sent,
    /// The frame was handed to the host on `port` (as it arrived, after the faults), having been
    /// sent on port `from`.
    Delivered {
        /// The sender's port.
        from: usize,
    },
    /// The frame sent on `port` was dropped.
    Dropped(DropReason),
}

/// Sees every frame event of a [`Network`](super::Network) as it happens.
pub trait Observer {
    /// `frame` (its bytes as sent or as delivered) had `event` on `port` at `at`.
    fn frame(&mut self, port: usize, at: Instant, event: FrameEvent, frame: &[u8]);
}

/// The observer that ignores everything.
impl Observer for () {
    fn frame(&mut self, _: usize, _: Instant, _: FrameEvent, _: &[u8]) {}
}

/// An optional observer (e.g. captures only when asked for).
impl<O: Observer> Observer for Option<O> {
    fn frame(&mut self, port: usize, at: Instant, event: FrameEvent, frame: &[u8]) {
        if let Some(observer) = self {
            observer.frame(port, at, event, frame)
        }
    }
}

impl<O: Observer + ?Sized> Observer for &mut O {
    fn frame(&mut self, port: usize, at: Instant, event: FrameEvent, frame: &[u8]) {
        (**self).frame(port, at, event, frame)
    }
}

/// The running digest of a network's frame events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trace {
    state: Fnv1a,
    events: u64,
}

impl Default for Trace {
    fn default() -> Self {
        Self::new()
    }
}

impl Trace {
    /// An empty trace.
    pub const fn new() -> Self {
        Trace {
            state: Fnv1a::new(),
            events: 0,
        }
    }

    fn word(&mut self, word: u64) {
        self.state.update_word(word);
    }

    fn bytes(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.word(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        self.word(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
    }

    /// Fold one event into the digest.
    pub fn record(&mut self, port: usize, at: Instant, event: FrameEvent, frame: &[u8]) {
        let (kind, detail) = match event {
            FrameEvent::Sent => (0u8, 0u32),
            FrameEvent::Delivered { from } => (1, from as u32),
            FrameEvent::Dropped(reason) => (2, u32::from(reason.code())),
        };
        self.word(u64::from(kind) << 56 | u64::from(detail) << 24 | port as u64 & 0xff_ffff);
        self.word(at.total_micros() as u64);
        self.word(frame.len() as u64);
        self.bytes(frame);
        self.events += 1;
    }

    /// The digest of every event so far: equal digests, identical runs.
    pub fn digest(&self) -> u64 {
        mix64(self.state.value() ^ self.events)
    }

    /// How many events were recorded.
    pub fn events(&self) -> u64 {
        self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_difference_changes_the_digest() {
        let frame = [7u8; 61];
        let digest = |port, at, event, frame: &[u8]| {
            let mut t = Trace::new();
            t.record(port, Instant::from_micros(at), event, frame);
            t.digest()
        };
        let base = digest(1, 10, FrameEvent::Sent, &frame);
        assert_eq!(base, digest(1, 10, FrameEvent::Sent, &frame));
        assert_ne!(base, digest(2, 10, FrameEvent::Sent, &frame));
        assert_ne!(base, digest(1, 11, FrameEvent::Sent, &frame));
        assert_ne!(
            base,
            digest(1, 10, FrameEvent::Delivered { from: 0 }, &frame)
        );
        assert_ne!(base, digest(1, 10, FrameEvent::Sent, &frame[..60]));
        let mut flipped = frame;
        flipped[60] ^= 1;
        assert_ne!(base, digest(1, 10, FrameEvent::Sent, &flipped));
        let mut zero_tail = [7u8; 64];
        zero_tail[61..].fill(0);
        assert_ne!(base, digest(1, 10, FrameEvent::Sent, &zero_tail));
    }
}
