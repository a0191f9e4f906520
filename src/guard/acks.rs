//! What we last told each peer: the acknowledgement number of the last segment sent per
//! connection, read from the frames on their way out.
//!
//! A peer that resets a connection for real puts into its RST exactly the acknowledgement
//! number we last sent it (RFC 9293 §3.10.7.1: a RST answering a segment takes its sequence
//! number from that segment's ACK field), or, when it aborts on its own, its next sequence
//! number, which is our `RCV.NXT`. smoltcp does not expose `RCV.NXT`, but every segment it sends
//! carries it, so the guard keeps the last one per connection. A blind attacker has to guess it
//! out of 2^32 values; RFC 5961 §3.2 asks for exactly this match. The tracker also keeps where
//! our sequence space ends, to build a probe that makes smoltcp send a challenge ACK.
//!
//! Capacity is fixed ([`CAPACITY`]); when it is full the entry touched longest ago makes room.
//! A connection without an entry is never exposed: its RSTs are challenged instead of trusted.
//!
//! Every segment we send passes here, so the common case is kept short: consecutive segments
//! mostly belong to the same connection (a burst of data, the ACKs of a transfer), so the
//! tracker remembers where the last one's entry sits and checks it before searching the table.

use heapless::Vec;
use smoltcp::time::Instant;
use smoltcp::wire::{IpEndpoint, TcpSeqNumber};

use super::segment::Sent;

/// Connections tracked at once: 64 on a host (`std`), 8 on a microcontroller (about 40 bytes
/// each).
#[cfg(feature = "std")]
pub const CAPACITY: usize = 64;
/// Connections tracked at once: 64 on a host (`std`), 8 on a microcontroller (about 40 bytes
/// each).
#[cfg(not(feature = "std"))]
pub const CAPACITY: usize = 8;

/// What we last sent on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LastSent {
    /// The acknowledgement number of the last segment with ACK: our `RCV.NXT` then.
    pub ack: TcpSeqNumber,
    /// The sequence number just after the last segment: at most our `SND.NXT`.
    pub seq_end: TcpSeqNumber,
    /// The receive window the last segment advertised, in bytes (its window field shifted by
    /// `shift`), as smoltcp reckons it (see `shrunk_window.rs`).
    #[cfg(feature = "std")]
    pub window: u32,
    /// Our window scale on this connection, from the SYN we sent; the largest (14) when that
    /// SYN was not seen, so that `window` is never less than smoltcp's own figure.
    #[cfg(feature = "std")]
    pub shift: u8,
    touched: Instant,
}

/// The largest window scale (RFC 7323 §2.3).
#[cfg(feature = "std")]
pub(crate) const MAX_SHIFT: u8 = 14;

#[cfg(feature = "std")]
impl LastSent {
    /// The window is scaled (so smoltcp rounds it, and may shrink it) and small enough that a
    /// peer's `SND.NXT` may lie past its right edge after smoltcp shrank it (less than `2^14`,
    /// the most rounding can take off). Unscaled windows are exact and never shrink: with
    /// buffers up to 64 KiB the check costs nothing.
    pub(crate) fn tight(&self) -> bool {
        self.shift > 0 && self.window < 1 << MAX_SHIFT
    }
}

/// A connection: our port and the peer.
type Key = (u16, IpEndpoint);

/// The last acknowledgement number sent per connection (local port, remote endpoint).
#[derive(Debug, Default)]
pub(crate) struct AckTracker {
    entries: Vec<(Key, LastSent), CAPACITY>,
    /// Where the entry of the last segment noted was (a hint: checked before use).
    recent: usize,
    /// How many entries have a tight window ([`LastSent::tight`]): while none has, the ingress
    /// path skips the shrunk-window check with one comparison.
    #[cfg(feature = "std")]
    tight_windows: usize,
}

impl AckTracker {
    /// Note a segment on its way out. (Inlined into its one caller, `egress::note`.)
    #[inline]
    pub(crate) fn sent(&mut self, now: Instant, segment: &Sent) {
        let key = (segment.local_port, segment.remote);
        let Some(ack) = segment.ack.filter(|_| !segment.rst) else {
            if segment.rst {
                // The connection is over (or never was): nothing to protect.
                if let Some(index) = self.find(&key) {
                    self.remove(index);
                }
            }
            return; // else a bare SYN: nothing acknowledged yet
        };
        // The common case first: the same connection as the last segment.
        let found = match self.entries.get(self.recent) {
            Some((k, _)) if *k == key => Some(self.recent),
            _ => self.find(&key),
        };
        #[cfg(feature = "std")]
        let shift = segment
            .window_shift
            .or_else(|| Some(self.entries.get(found?)?.1.shift))
            .unwrap_or(MAX_SHIFT);
        let entry = LastSent {
            ack,
            seq_end: segment.seq_end,
            #[cfg(feature = "std")]
            window: u32::from(segment.window) << shift.min(MAX_SHIFT),
            #[cfg(feature = "std")]
            shift,
            touched: now,
        };
        if let Some(index) = found {
            if let Some((_, last)) = self.entries.get_mut(index) {
                #[cfg(feature = "std")]
                {
                    self.tight_windows -= usize::from(last.tight());
                    self.tight_windows += usize::from(entry.tight());
                }
                *last = entry;
            }
            self.recent = index;
            return;
        }
        if self.entries.is_full() {
            let stale = self.entries.iter().enumerate();
            if let Some((stale, _)) = stale.min_by_key(|(_, (_, e))| e.touched) {
                self.remove(stale);
            }
        }
        // There is room now.
        #[cfg(feature = "std")]
        if self.entries.push((key, entry)).is_ok() {
            self.tight_windows += usize::from(entry.tight());
        }
        #[cfg(not(feature = "std"))]
        self.entries.push((key, entry)).ok();
        self.recent = self.entries.len() - 1;
    }

    /// Forget the entry at `index`.
    fn remove(&mut self, index: usize) {
        #[cfg_attr(not(feature = "std"), allow(unused_variables))]
        let (_, old) = self.entries.swap_remove(index);
        #[cfg(feature = "std")]
        {
            self.tight_windows -= usize::from(old.tight());
        }
    }

    /// Whether the last segment of some connection advertised a tight window.
    #[cfg(feature = "std")]
    #[inline]
    pub(crate) fn any_tight_window(&self) -> bool {
        self.tight_windows != 0
    }

    fn find(&self, key: &Key) -> Option<usize> {
        self.entries.iter().position(|(k, _)| k == key)
    }

    /// What we last sent from `local_port` to `remote`.
    pub(crate) fn get(&self, local_port: u16, remote: IpEndpoint) -> Option<LastSent> {
        let index = self.find(&(local_port, remote))?;
        self.entries.get(index).map(|(_, last)| *last)
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use smoltcp::wire::IpAddress;

    fn sent(port: u16, ack: i32, zero_window: bool, rst: bool) -> Sent {
        let window = if zero_window { 0 } else { 1000 };
        Sent {
            local_port: port,
            remote: IpEndpoint::new(IpAddress::v4(10, 0, 0, 2), 40000),
            seq_end: TcpSeqNumber(1),
            ack: Some(TcpSeqNumber(ack)),
            rst,
            window,
            window_shift: Some(5),
        }
    }

    /// The count of tight-window entries follows replacements, RSTs and evictions exactly: the
    /// ingress path trusts it to skip the shrunk-window check.
    #[test]
    fn tight_windows_are_counted_through_replacement_rst_and_eviction() {
        let now = Instant::ZERO;
        let mut tracker = AckTracker::default();
        tracker.sent(now, &sent(1, 10, true, false));
        tracker.sent(now, &sent(1, 11, true, false));
        assert_eq!(tracker.tight_windows, 1);
        tracker.sent(now, &sent(1, 12, false, false));
        assert!(!tracker.any_tight_window());
        tracker.sent(now, &sent(1, 13, true, false));
        tracker.sent(now, &sent(1, 13, false, true));
        assert!(!tracker.any_tight_window());
        // Fill the table with zero windows, the oldest first, then evict it with a non-zero one.
        for port in 0..CAPACITY as u16 {
            tracker.sent(
                Instant::from_millis(i64::from(port)),
                &sent(100 + port, 1, true, false),
            );
        }
        assert_eq!(tracker.tight_windows, CAPACITY);
        tracker.sent(Instant::from_secs(10), &sent(999, 1, false, false));
        assert_eq!(tracker.tight_windows, CAPACITY - 1);
        assert!(tracker.get(100, sent(0, 0, false, false).remote).is_none());
    }
}
