//! What the TCP operations can fail with, one type per operation.
//!
//! | operation | error |
//! |---|---|
//! | [`EphemeralPorts::allocate`](super::EphemeralPorts::allocate) | [`PortsExhausted`] |
//! | [`TcpClient::connect`](super::TcpClient::connect) (and every client built on it) | [`ConnectError`] |
//! | [`ListenerPool::new`](super::ListenerPool::new) (and every server built on it) | [`PoolError`] |
//! | [`ListenerPool::start`](super::ListenerPool::start), [`maintain`](super::ListenerPool::maintain) | smoltcp's [`ListenError`](tcp::ListenError) |
//! | [`TcpClient::send`](super::TcpClient::send) / [`recv`](super::TcpClient::recv) | smoltcp's [`SendError`](tcp::SendError) / [`RecvError`](tcp::RecvError) |
//!
//! Where smolsock adds nothing to smoltcp's own error, the operation returns smoltcp's.
//! What happens to a connection *after* `connect` (refused, reset) is not an error of any call:
//! [`TcpClient::state`](super::TcpClient::state) reports it.

use core::fmt;

use smoltcp::socket::tcp;

use crate::stack::SocketStorageFull;

/// Every port of the ephemeral range is held by a socket (open or in TIME-WAIT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortsExhausted;

impl fmt::Display for PortsExhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no free ephemeral port")
    }
}

impl core::error::Error for PortsExhausted {}

/// Why a TCP client could not start connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectError {
    /// No local port is free ([`PortsExhausted`]).
    PortsExhausted,
    /// smoltcp refused to start the connection (socket already open, or an unaddressable
    /// remote endpoint).
    Socket(tcp::ConnectError),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::PortsExhausted => PortsExhausted.fmt(f),
            ConnectError::Socket(e) => write!(f, "cannot connect: {e}"),
        }
    }
}

impl core::error::Error for ConnectError {}

impl From<PortsExhausted> for ConnectError {
    fn from(_: PortsExhausted) -> Self {
        ConnectError::PortsExhausted
    }
}

impl From<tcp::ConnectError> for ConnectError {
    fn from(e: tcp::ConnectError) -> Self {
        ConnectError::Socket(e)
    }
}

/// Why a listener pool (and so a TCP server) could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolError {
    /// The stack's socket storage has no slot for another of the pool's sockets.
    StorageFull(SocketStorageFull),
    /// smoltcp refused to put a socket in LISTEN (port 0, or a socket already open).
    Listen(tcp::ListenError),
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::StorageFull(e) => e.fmt(f),
            PoolError::Listen(e) => write!(f, "cannot listen: {e}"),
        }
    }
}

impl core::error::Error for PoolError {}

impl From<SocketStorageFull> for PoolError {
    fn from(e: SocketStorageFull) -> Self {
        PoolError::StorageFull(e)
    }
}

impl From<tcp::ListenError> for PoolError {
    fn from(e: tcp::ListenError) -> Self {
        PoolError::Listen(e)
    }
}
