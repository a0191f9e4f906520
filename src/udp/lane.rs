//! A side lane for UDP replies whose neighbour is not resolved yet.
//!
//! smoltcp's UDP socket sends only the head of its queue, and a head whose next hop never
//! answers ARP stays there for good: every datagram behind it waits forever (smoltcp issue
//! #594, written up in `docs/upstream/`). One spoofed datagram to an echo service, from an
//! address nobody holds, was enough to silence it.
//!
//! The cure keeps the main socket's queue clean: a sender that serves many peers asks
//! [`Stack::neighbor_ready`](crate::Stack::neighbor_ready) first. Replies to peers whose
//! hardware address smoltcp knows go straight into the main socket; the others go through a
//! `ResolveLane`, a second socket bound to the same port that holds datagrams for **one**
//! peer at a time while smoltcp resolves it. If the peer answers ARP, the lane drains and takes
//! the next unresolved peer; if it does not within [`ResolveLane::TIMEOUT`], the lane drops what
//! it holds (counted, never silently) and is free again. Replies to a second unresolved peer
//! while the lane is busy are refused at once ([`LaneBusy`]), so the caller counts them as
//! dropped instead of queueing them behind a stranger.
//!
//! The lane socket never receives: it is added after the main socket, and smoltcp hands a
//! datagram to the first socket bound to its port.

use smoltcp::iface::SocketHandle;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::IpEndpoint;

use super::OpenError;
use crate::storage::UdpLaneStorage;
use crate::Stack;

/// The lane holds datagrams for another peer (or is full): the caller drops this datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneBusy;

impl core::fmt::Display for LaneBusy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the resolve lane is busy with another unresolved peer")
    }
}

impl core::error::Error for LaneBusy {}

/// What became of the datagrams a lane held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LaneOutcome {
    /// Datagrams that left (the peer answered ARP).
    pub sent: u64,
    /// Their payload bytes.
    pub sent_bytes: u64,
    /// Datagrams dropped because the peer never answered ARP.
    pub dropped: u64,
}

/// A one-peer-at-a-time UDP socket for replies whose neighbour is unresolved.
#[derive(Debug)]
pub struct ResolveLane {
    handle: SocketHandle,
    port: u16,
    peer: Option<IpEndpoint>,
    since: Instant,
    queued: u64,
    queued_bytes: u64,
}

impl ResolveLane {
    /// How long a peer may take to answer ARP before its datagrams are dropped: two of
    /// smoltcp's one-second ARP retry intervals.
    pub const TIMEOUT: Duration = Duration::from_secs(2);

    /// Add the lane socket to `stack`, bound to `port` (add the main socket first).
    pub fn new<'a, const DGRAMS: usize, const BYTES: usize>(
        stack: &mut Stack<'a>,
        storage: &'a mut UdpLaneStorage<DGRAMS, BYTES>,
        port: u16,
    ) -> Result<Self, OpenError> {
        let handle = stack.add_udp_lane(storage)?;
        if let Err(e) = stack.udp(handle).bind(port) {
            stack.remove(handle);
            return Err(e.into());
        }
        Ok(ResolveLane {
            handle,
            port,
            peer: None,
            since: Instant::ZERO,
            queued: 0,
            queued_bytes: 0,
        })
    }

    /// The peer the lane holds datagrams for, if any.
    pub fn peer(&self) -> Option<IpEndpoint> {
        self.peer
    }

    /// Queue `data` for `to`, if the lane is free or already holds datagrams for `to`.
    pub fn send(
        &mut self,
        stack: &mut Stack<'_>,
        data: &[u8],
        to: IpEndpoint,
    ) -> Result<(), LaneBusy> {
        if self.peer.is_some_and(|peer| peer != to) {
            return Err(LaneBusy);
        }
        let now = stack.now();
        stack
            .udp(self.handle)
            .send_slice(data, to)
            .map_err(|_| LaneBusy)?;
        if self.peer.is_none() {
            self.peer = Some(to);
            self.since = now;
        }
        self.queued += 1;
        self.queued_bytes += data.len() as u64;
        Ok(())
    }

    /// Follow the lane: report datagrams that left or were dropped, free the lane, and ask the
    /// stack to wake up at the deadline. Call once per service poll.
    pub fn poll(&mut self, stack: &mut Stack<'_>) -> LaneOutcome {
        if self.peer.is_none() {
            return LaneOutcome::default();
        }
        let now = stack.now();
        let socket = stack.udp(self.handle);
        if socket.send_queue() == 0 {
            let sent = core::mem::take(&mut self.queued);
            let sent_bytes = core::mem::take(&mut self.queued_bytes);
            self.peer = None;
            return LaneOutcome {
                sent,
                sent_bytes,
                dropped: 0,
            };
        }
        let deadline = self.since + Self::TIMEOUT;
        if now < deadline {
            stack.wake_at(deadline);
            return LaneOutcome::default();
        }
        // The peer never answered ARP: drop what the lane holds (closing empties both queues;
        // this socket never receives) and bind again.
        socket.close();
        if socket.bind(self.port).is_err() {
            log::error!("udp {}: cannot re-bind the resolve lane", self.port);
        }
        let dropped = core::mem::take(&mut self.queued);
        self.queued_bytes = 0;
        self.peer = None;
        LaneOutcome {
            sent: 0,
            sent_bytes: 0,
            dropped,
        }
    }
}
