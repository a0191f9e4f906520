//! The UDP upper-case echo (lesson programs 7 and 8): each datagram goes back to its sender.

use smoltcp::iface::SocketHandle;

use super::{upper_case, Service};
use crate::storage::UdpStorage;
use crate::udp::recv_datagram;
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
        let handle = stack.add_udp(storage)?;
        stack.udp(handle).bind(port)?;
        Ok(UdpEcho {
            handle,
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
        while let Ok((data, _)) = socket.peek() {
            let len = data.len();
            // Answer only when the reply fits: otherwise leave the datagram queued.
            if len <= MAX && !fits(socket, len) {
                break;
            }
            match recv_datagram(socket, &mut buf) {
                Ok(None) => break,
                Ok(Some((n, meta))) => {
                    progress = true;
                    let reply = &mut buf[..n];
                    upper_case(reply);
                    match socket.send_slice(reply, meta.endpoint) {
                        Ok(()) => {
                            self.stats.datagrams += 1;
                            self.stats.bytes += n as u64;
                            log::debug!("udp echo: {n} bytes to {}", meta.endpoint);
                        }
                        Err(e) => {
                            self.stats.unanswerable += 1;
                            log::warn!("udp echo: cannot answer {}: {e}", meta.endpoint);
                        }
                    }
                }
                Err(e) => {
                    progress = true;
                    self.stats.too_large += 1;
                    log::warn!("udp echo: {e}");
                }
            }
        }
        progress
    }
}

/// Whether a `len`-byte datagram can be queued for sending now.
fn fits(socket: &smoltcp::socket::udp::Socket<'_>, len: usize) -> bool {
    socket.can_send() && socket.payload_send_capacity() - socket.send_queue() >= len
}
