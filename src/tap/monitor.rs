//! What a TAP device saw: counters, and why it stopped, shared with the loop that drives it.

use std::cell::Cell;
use std::io;
use std::rc::Rc;

/// Counters of a [`TapDevice`](super::TapDevice).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TapStats {
    /// Frames read from the kernel.
    pub rx_frames: u64,
    /// Bytes read from the kernel.
    pub rx_bytes: u64,
    /// Frames handed to the kernel.
    pub tx_frames: u64,
    /// Bytes handed to the kernel.
    pub tx_bytes: u64,
    /// Frames the kernel did not take (interface down, queue full); TCP retransmits them.
    pub tx_errors: u64,
    /// Frames from the kernel dropped before smoltcp saw them: a TCP segment with a wrong
    /// checksum or an IP fragment of one (checked by the device when TCP checksums are left to
    /// the kernel), or a `virtio_net_hdr` that does not fit its frame.
    pub rx_dropped: u64,
    /// Connection attempts answered with RST (nobody listening on the port, or the pool is
    /// exhausted).
    pub refused: u64,
}

/// A shared view of a [`TapDevice`](super::TapDevice)'s counters and health, still readable once the device is
/// wrapped in a `PcapWriter` or `FaultInjector`.
#[derive(Debug, Clone, Default)]
pub struct TapMonitor {
    pub(super) stats: Rc<Cell<TapStats>>,
    pub(super) failure: Rc<Cell<Option<io::ErrorKind>>>,
    /// Refusals are logged through this (a SYN flood must not fill the log).
    pub(super) refusal_log: Rc<Cell<crate::log_limit::LogLimit>>,
    /// Frames dropped by the device are logged through this.
    pub(super) drop_log: Rc<Cell<crate::log_limit::LogLimit>>,
}

impl TapMonitor {
    /// The counters so far.
    pub fn stats(&self) -> TapStats {
        self.stats.get()
    }

    /// Why the device stopped working (the interface vanished, ...), if it did.
    pub fn failure(&self) -> Option<io::ErrorKind> {
        self.failure.get()
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut TapStats)) {
        let mut stats = self.stats.get();
        f(&mut stats);
        self.stats.set(stats);
    }
}
