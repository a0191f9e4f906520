//! UDP endpoints: datagrams with their boundaries, and no silent truncation.
//!
//! UDP keeps message boundaries: one `send_to` is one datagram is one `recv_from`. The classic
//! trap is a receive buffer smaller than the datagram: BSD's `recvfrom` silently truncates
//! (unless you ask for `MSG_TRUNC`). Here [`recv_datagram`] refuses: a datagram bigger than the
//! caller's buffer is dropped and reported as [`DatagramTooLarge`] with its real size.
//!
//! smoltcp itself drops a datagram bigger than the socket's whole payload buffer before any
//! application sees it; size [`UdpStorage`](crate::storage::UdpStorage) to the largest datagram
//! the link carries (MTU − 28 bytes for IPv4) so that every datagram reaches the application.
//!
//! ## Head-of-line blocking
//!
//! A smoltcp UDP socket only ever tries the head of its send queue: a datagram to a neighbour
//! that never answers ARP (a spoofed source) blocks everything behind it. A server that answers
//! many peers sends replies to unresolved peers through a [`ResolveLane`] instead (see
//! `lane.rs`); [`UdpEcho`](crate::service::UdpEcho) does.

mod error;
mod lane;

pub use error::{BindError, DatagramTooLarge, OpenError};
pub use lane::{LaneBusy, LaneOutcome, ResolveLane};

use smoltcp::iface::SocketHandle;
use smoltcp::socket::udp::{self, UdpMetadata};
use smoltcp::wire::IpEndpoint;

use crate::tcp::EphemeralPorts;
use crate::Stack;

/// Take the next datagram from `socket` into `buf`.
///
/// `Ok(None)`: nothing waiting. `Err(DatagramTooLarge)`: the next datagram did not fit in `buf`;
/// it has been dropped (so the next call sees the following one).
pub fn recv_datagram(
    socket: &mut udp::Socket<'_>,
    buf: &mut [u8],
) -> Result<Option<(usize, UdpMetadata)>, DatagramTooLarge> {
    let len = match socket.peek() {
        Ok((data, _)) => data.len(),
        Err(_) => return Ok(None),
    };
    if len > buf.len() {
        // Dequeue and drop: the datagram cannot be delivered whole.
        socket.recv().ok();
        return Err(DatagramTooLarge {
            len,
            max: buf.len(),
        });
    }
    match socket.recv_slice(buf) {
        Ok((n, meta)) => Ok(Some((n, meta))),
        Err(_) => Ok(None),
    }
}

/// A UDP socket bound to a local port, sending to and receiving from anyone.
#[derive(Debug, Clone, Copy)]
pub struct UdpClient {
    handle: SocketHandle,
    local_port: u16,
}

impl UdpClient {
    /// Bind the UDP socket behind `handle` to a free ephemeral port.
    pub fn bind_ephemeral(
        stack: &mut Stack<'_>,
        handle: SocketHandle,
        ports: &mut EphemeralPorts,
    ) -> Result<Self, BindError> {
        let port = ports.allocate(stack.sockets())?;
        Ok(Self::bind(stack, handle, port)?)
    }

    /// Bind the UDP socket behind `handle` to `port`.
    pub fn bind(
        stack: &mut Stack<'_>,
        handle: SocketHandle,
        port: u16,
    ) -> Result<Self, udp::BindError> {
        stack.udp(handle).bind(port)?;
        Ok(UdpClient {
            handle,
            local_port: port,
        })
    }

    /// The socket used.
    pub fn handle(&self) -> SocketHandle {
        self.handle
    }

    /// The bound local port.
    pub fn local_port(&self) -> u16 {
        self.local_port
    }

    /// Queue one datagram to `remote` (`Err(SendError::BufferFull)` when the send buffer is full:
    /// poll the stack and try again).
    pub fn send_to(
        &mut self,
        stack: &mut Stack<'_>,
        data: &[u8],
        remote: IpEndpoint,
    ) -> Result<(), udp::SendError> {
        stack.udp(self.handle).send_slice(data, remote)
    }

    /// Take the next datagram, with its sender (see [`recv_datagram`]).
    pub fn recv_from(
        &mut self,
        stack: &mut Stack<'_>,
        buf: &mut [u8],
    ) -> Result<Option<(usize, IpEndpoint)>, DatagramTooLarge> {
        Ok(recv_datagram(stack.udp(self.handle), buf)?.map(|(n, meta)| (n, meta.endpoint)))
    }

    /// Unbind the socket (it can be bound again).
    pub fn close(self, stack: &mut Stack<'_>) {
        stack.udp(self.handle).close();
    }
}
