//! The UDP upper-case echo (lesson programs 7 and 8): each datagram goes back to its sender.

use smoltcp::iface::SocketHandle;
use smoltcp::socket::udp;

use super::{upper_case, Service};
use crate::storage::UdpStorage;
use crate::{Error, Stack};

/// Counters of a [`UdpEcho`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UdpEchoStats {
    /// Datagrams answered.
    pub datagrams: u64,
    /// Payload bytes answered.
    pub bytes: u64,
    /// Datagrams dropped because they were larger than `MAX`.
    pub too_large: u64,
    /// Replies that could not be sent (unaddressable sender).
    pub unanswerable: u64,
}

/// Answers each datagram (up to `MAX` bytes) to its sender with its payload upper-cased.
///
/// No connection, no per-client state: many clients are served one datagram at a time, each
/// reply addressed to the datagram's own source. When the send buffer is full the datagram stays
/// queued and is answered on a later poll; it is not dropped.
#[derive(Debug)]
pub struct UdpEcho<const MAX: usize = 1472> {
    handle: SocketHandle,
    stats: UdpEchoStats,
}

impl<const MAX: usize> UdpEcho<MAX> {
    /// Bind a UDP socket on `port` using `storage`.
    pub fn new<'a, const DGRAMS: usize, const BYTES: usize>(
        stack: &mut Stack<'a>,
        storage: &'a mut UdpStorage<DGRAMS, BYTES>,
        port: u16,
    ) -> Result<Self, Error> {
        Ok(UdpEcho {
            handle: stack.bind_udp(storage, port)?,
            stats: UdpEchoStats::default(),
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> UdpEchoStats {
        self.stats
    }
}

impl<const MAX: usize> Service for UdpEcho<MAX> {
    fn poll(&mut self, stack: &mut Stack<'_>) -> bool {
        let socket = stack.udp(self.handle);
        let mut progress = false;
        let mut buf = [0u8; MAX];
        // Peek, answer, and only then dequeue: a datagram whose reply does not fit in the send
        // buffer yet stays queued for the next poll instead of being lost.
        while let Ok((data, meta)) = socket.peek() {
            let (len, sender) = (data.len(), meta.endpoint);
            let Some(reply) = buf.get_mut(..len) else {
                socket.recv().ok();
                progress = true;
                self.stats.too_large += 1;
                log::warn!("udp echo: {}", Error::DatagramTooLarge { len, max: MAX });
                continue;
            };
            reply.copy_from_slice(data);
            upper_case(reply);
            match socket.send_slice(reply, sender) {
                Ok(()) => {
                    self.stats.datagrams += 1;
                    self.stats.bytes += len as u64;
                    log::debug!("udp echo: {len} bytes to {sender}");
                }
                Err(udp::SendError::BufferFull) => break,
                Err(e) => {
                    self.stats.unanswerable += 1;
                    log::warn!("udp echo: cannot answer {sender}: {e}");
                }
            }
            socket.recv().ok();
            progress = true;
        }
        progress
    }
}
