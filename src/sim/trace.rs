//! The packet trace: every frame's fate, folded into one digest, and offered to an observer.
//!
//! "Same seed, same run" is a claim worth checking, not assuming. The network folds every event
//! (a frame sent, delivered, or dropped, with its port, its instant and all its bytes) into an
//! FNV-1a digest ([`Trace::digest`]). Two runs with equal digests put the same bytes on the same
//! links at the same virtual microseconds; a single differing bit or microsecond changes it.
//!
//! An [`Observer`] sees the same events as they happen: [`super::pcap`] writes them to pcap
//! files for Wireshark, a test can count them, `()` ignores them.

use smoltcp::time::Instant;

use crate::digest::Fnv1a;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Trace {
    digest: Fnv1a,
    events: u64,
}

impl Trace {
    /// An empty trace.
    pub const fn new() -> Self {
        Trace {
            digest: Fnv1a::new(),
            events: 0,
        }
    }

    /// Fold one event into the digest.
    pub fn record(&mut self, port: usize, at: Instant, event: FrameEvent, frame: &[u8]) {
        let (kind, detail) = match event {
            FrameEvent::Sent => (0u8, 0u32),
            FrameEvent::Delivered { from } => (1, from as u32),
            FrameEvent::Dropped(reason) => (2, u32::from(reason.code())),
        };
        self.digest.update(&[kind]);
        self.digest.update(&detail.to_le_bytes());
        self.digest.update(&(port as u32).to_le_bytes());
        self.digest.update(&at.total_micros().to_le_bytes());
        self.digest.update(&(frame.len() as u32).to_le_bytes());
        self.digest.update(frame);
        self.events += 1;
    }

    /// The digest of every event so far: equal digests, identical runs.
    pub fn digest(&self) -> u64 {
        self.digest.value()
    }

    /// How many events were recorded.
    pub fn events(&self) -> u64 {
        self.events
    }
}
