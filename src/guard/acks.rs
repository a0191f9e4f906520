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
    touched: Instant,
}

/// A connection: our port and the peer.
type Key = (u16, IpEndpoint);

/// The last acknowledgement number sent per connection (local port, remote endpoint).
#[derive(Debug, Default)]
pub(crate) struct AckTracker {
    entries: Vec<(Key, LastSent), CAPACITY>,
    /// Where the entry of the last segment noted was (a hint: checked before use).
    recent: usize,
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
                    self.entries.swap_remove(index);
                }
            }
            return; // else a bare SYN: nothing acknowledged yet
        };
        let entry = LastSent {
            ack,
            seq_end: segment.seq_end,
            touched: now,
        };
        // The common case first: the same connection as the last segment.
        let found = match self.entries.get(self.recent) {
            Some((k, _)) if *k == key => Some(self.recent),
            _ => self.find(&key),
        };
        if let Some(index) = found {
            if let Some((_, last)) = self.entries.get_mut(index) {
                *last = entry;
            }
            self.recent = index;
            return;
        }
        if self.entries.is_full() {
            let stale = self.entries.iter().enumerate();
            if let Some((stale, _)) = stale.min_by_key(|(_, (_, e))| e.touched) {
                self.entries.swap_remove(stale);
            }
        }
        // There is room now.
        self.entries.push((key, entry)).ok();
        self.recent = self.entries.len() - 1;
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
