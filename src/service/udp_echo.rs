//! The UDP upper-case echo (lesson programs 7 and 8): each datagram goes back to its sender.
//!
//! Replies never queue behind a peer that cannot be reached: replies to peers whose hardware
//! address smoltcp does not know yet go through a [`ResolveLane`] (see [`crate::udp`]), so one
//! spoofed datagram costs only its own reply. Datagrams from addresses that cannot be a peer
//! (broadcast, our own address on a wire, a subnet's network address) are not answered.

use smoltcp::iface::SocketHandle;
use smoltcp::socket::udp;

use super::{upper_case, Service};
use crate::limited;
use crate::log_limit::LogLimit;
use crate::storage::{UdpLaneStorage, UdpStorage};
use crate::udp::{DatagramTooLarge, OpenError, ResolveLane};
use crate::Stack;

/// Counters of a [`UdpEcho`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UdpEchoStats {
    /// Datagrams answered (handed to the link).
    pub datagrams: u64,
    /// Payload bytes answered.
    pub bytes: u64,
    /// Datagrams dropped because they were larger than `MAX`.
    pub too_large: u64,
    /// Datagrams not answered because their source cannot be a peer (broadcast, our own
    /// address, unaddressable).
    pub unanswerable: u64,
    /// Replies dropped unsent: their peer never answered ARP within
    /// [`ResolveLane::TIMEOUT`], or the lane was busy with another unresolved peer.
    pub dropped_unsent: u64,
    /// Replies waiting in the resolve lane right now (neither answered nor dropped yet).
    pub pending: u64,
}

/// Answers each datagram (up to `MAX` bytes) to its sender with its payload upper-cased.
///
/// No connection, no per-client state: many clients are served one datagram at a time, each
/// reply addressed to the datagram's own source. When the send buffer is full the datagram stays
/// queued and is answered on a later poll; it is not dropped.
#[derive(Debug)]
pub struct UdpEcho<const MAX: usize = 1472> {
    handle: SocketHandle,
    lane: ResolveLane,
    stats: UdpEchoStats,
    log: LogLimit,
}

impl<const MAX: usize> UdpEcho<MAX> {
    /// Bind a UDP socket on `port` using `storage`, and a [`ResolveLane`] on the same port
    /// using `lane` (a few datagrams of up to `MAX` bytes is plenty).
    pub fn new<'a, const DGRAMS: usize, const BYTES: usize, const LD: usize, const LB: usize>(
        stack: &mut Stack<'a>,
        storage: &'a mut UdpStorage<DGRAMS, BYTES>,
        lane: &'a mut UdpLaneStorage<LD, LB>,
        port: u16,
    ) -> Result<Self, OpenError> {
        let handle = stack.bind_udp(storage, port)?;
        let lane = match ResolveLane::new(stack, lane, port) {
            Ok(lane) => lane,
            Err(e) => {
                stack.remove(handle);
                return Err(e);
            }
        };
        Ok(UdpEcho {
            handle,
            lane,
            stats: UdpEchoStats::default(),
            log: LogLimit::new(),
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> UdpEchoStats {
        self.stats
    }
}

impl<const MAX: usize> Service for UdpEcho<MAX> {
    fn poll(&mut self, stack: &mut Stack<'_>) -> bool {
        let now = stack.now();
        let mut progress = false;
        let mut buf = [0u8; MAX];
        // Peek, answer, and only then dequeue: a datagram whose reply does not fit in the send
        // buffer yet stays queued for the next poll instead of being lost.
        loop {
            let socket = stack.udp(self.handle);
            let Ok((data, meta)) = socket.peek() else {
                break;
            };
            let (len, sender) = (data.len(), meta.endpoint);
            let Some(reply) = buf.get_mut(..len) else {
                socket.recv().ok();
                progress = true;
                self.stats.too_large += 1;
                limited!(
                    self.log,
                    now,
                    warn,
                    "udp echo: {} from {sender}",
                    DatagramTooLarge { len, max: MAX }
                );
                continue;
            };
            reply.copy_from_slice(data);
            upper_case(reply);
            if !stack.is_plausible_peer(sender.addr) {
                self.stats.unanswerable += 1;
                limited!(
                    self.log,
                    now,
                    warn,
                    "udp echo: not answering {sender}: not a peer address"
                );
            } else if stack.neighbor_ready(sender.addr) {
                match stack.udp(self.handle).send_slice(reply, sender) {
                    Ok(()) => {
                        self.stats.datagrams += 1;
                        self.stats.bytes += len as u64;
                        log::debug!("udp echo: {len} bytes to {sender}");
                    }
                    Err(udp::SendError::BufferFull) => break,
                    Err(e) => {
                        self.stats.unanswerable += 1;
                        limited!(self.log, now, warn, "udp echo: cannot answer {sender}: {e}");
                    }
                }
            } else {
                match self.lane.send(stack, reply, sender) {
                    Ok(()) => self.stats.pending += 1,
                    Err(busy) => {
                        self.stats.dropped_unsent += 1;
                        limited!(
                            self.log,
                            now,
                            warn,
                            "udp echo: reply to {sender} dropped: {busy}"
                        );
                    }
                }
            }
            stack.udp(self.handle).recv().ok();
            progress = true;
        }
        let outcome = self.lane.poll(stack);
        if outcome.sent + outcome.dropped > 0 {
            self.stats.pending -= outcome.sent + outcome.dropped;
            self.stats.datagrams += outcome.sent;
            self.stats.bytes += outcome.sent_bytes;
            self.stats.dropped_unsent += outcome.dropped;
            if outcome.dropped > 0 {
                limited!(
                    self.log,
                    now,
                    warn,
                    "udp echo: {} replies dropped unsent: their peer never answered ARP",
                    outcome.dropped
                );
            }
            progress = true;
        }
        progress
    }
}
