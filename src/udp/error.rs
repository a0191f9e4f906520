//! What the UDP operations can fail with, one type per operation.
//!
//! | operation | error |
//! |---|---|
//! | [`recv_datagram`](super::recv_datagram), [`UdpClient::recv_from`](super::UdpClient::recv_from) | [`DatagramTooLarge`] |
//! | [`Stack::bind_udp`](crate::Stack::bind_udp), [`ResolveLane::new`](super::ResolveLane::new) (and the UDP services) | [`OpenError`] |
//! | [`UdpClient::bind_ephemeral`](super::UdpClient::bind_ephemeral) | [`BindError`] |
//! | [`UdpClient::bind`](super::UdpClient::bind) / [`send_to`](super::UdpClient::send_to) | smoltcp's [`BindError`](udp::BindError) / [`SendError`](udp::SendError) |
//! | [`ResolveLane::send`](super::ResolveLane::send) | [`LaneBusy`](super::LaneBusy) |

use core::fmt;

use smoltcp::socket::udp;

use crate::stack::SocketStorageFull;
use crate::tcp::PortsExhausted;

/// A datagram is larger than the buffer meant to hold it; it was dropped, not truncated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatagramTooLarge {
    /// Size of the datagram that arrived.
    pub len: usize,
    /// Largest datagram the buffer holds.
    pub max: usize,
}

impl fmt::Display for DatagramTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let DatagramTooLarge { len, max } = self;
        write!(
            f,
            "datagram of {len} bytes exceeds the {max}-byte buffer; dropped"
        )
    }
}

impl core::error::Error for DatagramTooLarge {}

/// Why a UDP port could not be opened (a socket added to the stack and bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenError {
    /// The stack's socket storage has no slot for the socket.
    StorageFull(SocketStorageFull),
    /// smoltcp refused to bind the socket (port 0, or already bound).
    Bind(udp::BindError),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::StorageFull(e) => e.fmt(f),
            OpenError::Bind(e) => write!(f, "cannot bind: {e}"),
        }
    }
}

impl core::error::Error for OpenError {}

impl From<SocketStorageFull> for OpenError {
    fn from(e: SocketStorageFull) -> Self {
        OpenError::StorageFull(e)
    }
}

impl From<udp::BindError> for OpenError {
    fn from(e: udp::BindError) -> Self {
        OpenError::Bind(e)
    }
}

/// Why a UDP socket could not be bound to an ephemeral port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BindError {
    /// No local port is free ([`PortsExhausted`]).
    PortsExhausted,
    /// smoltcp refused to bind the socket (already bound).
    Socket(udp::BindError),
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::PortsExhausted => PortsExhausted.fmt(f),
            BindError::Socket(e) => write!(f, "cannot bind: {e}"),
        }
    }
}

impl core::error::Error for BindError {}

impl From<PortsExhausted> for BindError {
    fn from(_: PortsExhausted) -> Self {
        BindError::PortsExhausted
    }
}

impl From<udp::BindError> for BindError {
    fn from(e: udp::BindError) -> Self {
        BindError::Socket(e)
    }
}
