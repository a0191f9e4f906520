//! What a socket call can fail with, and how it maps onto embedded-nal's error kinds.

use core::fmt;

use embedded_nal::{TcpError, TcpErrorKind};

/// Why a call of the [`NalStack`](super::NalStack) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NalError {
    /// The connection is over: the peer reset it, it timed out, or the listener pool ended it
    /// (idle, stalled, evicted). embedded-nal's [`TcpErrorKind::PipeClosed`].
    Closed,
    /// The server answered the SYN with RST (nobody listening, or its backlog is full), or the
    /// handshake timed out.
    Refused,
    /// The socket table (`N` entries) has no free entry.
    NoSocket,
    /// The caller's socket memory is used up (more listeners or clients than it holds).
    NoMemory,
    /// The call does not fit the socket's state (e.g. `accept` on a socket that does not
    /// listen, `listen` before `bind`).
    InvalidState,
    /// Another listening socket already holds this port.
    AddrInUse,
    /// An IPv6 address, and the library was built without the `ipv6` feature.
    Unsupported,
    /// A datagram bigger than the caller's buffer arrived; it was dropped, not truncated.
    DatagramTooLarge {
        /// Size of the datagram.
        len: usize,
        /// Size of the buffer.
        max: usize,
    },
    /// smolsock's socket layer refused (see [`crate::Error`]).
    Stack(crate::Error),
}

impl fmt::Display for NalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NalError::Closed => f.write_str("connection closed"),
            NalError::Refused => f.write_str("connection refused"),
            NalError::NoSocket => f.write_str("socket table full"),
            NalError::NoMemory => f.write_str("socket memory used up"),
            NalError::InvalidState => f.write_str("call out of order for this socket"),
            NalError::AddrInUse => f.write_str("address in use"),
            NalError::Unsupported => f.write_str("IPv6 is not supported (feature `ipv6`)"),
            NalError::DatagramTooLarge { len, max } => {
                write!(
                    f,
                    "datagram of {len} bytes exceeds the {max}-byte buffer; dropped"
                )
            }
            NalError::Stack(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for NalError {}

impl From<crate::Error> for NalError {
    fn from(e: crate::Error) -> Self {
        match e {
            crate::Error::DatagramTooLarge(e) => e.into(),
            other => NalError::Stack(other),
        }
    }
}

impl From<crate::udp::DatagramTooLarge> for NalError {
    fn from(e: crate::udp::DatagramTooLarge) -> Self {
        let crate::udp::DatagramTooLarge { len, max } = e;
        NalError::DatagramTooLarge { len, max }
    }
}

/// The stack's own errors, carried as [`NalError::Stack`].
macro_rules! via_stack {
    ($($src:ty),* $(,)?) => {
        $(impl From<$src> for NalError {
            fn from(e: $src) -> Self {
                NalError::Stack(e.into())
            }
        })*
    };
}

via_stack! {
    crate::stack::SocketStorageFull,
    crate::tcp::ConnectError,
    crate::tcp::PoolError,
    smoltcp::socket::tcp::ListenError,
    crate::udp::BindError,
}

impl TcpError for NalError {
    fn kind(&self) -> TcpErrorKind {
        match self {
            NalError::Closed => TcpErrorKind::PipeClosed,
            _ => TcpErrorKind::Other,
        }
    }
}

/// `core::net` address to smoltcp endpoint (IPv6 with the `ipv6` feature, else IPv4 only).
pub(crate) fn endpoint(addr: core::net::SocketAddr) -> Result<smoltcp::wire::IpEndpoint, NalError> {
    match addr {
        core::net::SocketAddr::V4(v4) => Ok(smoltcp::wire::IpEndpoint::new(
            smoltcp::wire::IpAddress::Ipv4(*v4.ip()),
            v4.port(),
        )),
        #[cfg(feature = "ipv6")]
        core::net::SocketAddr::V6(v6) => Ok(smoltcp::wire::IpEndpoint::new(
            smoltcp::wire::IpAddress::Ipv6(*v6.ip()),
            v6.port(),
        )),
        #[cfg(not(feature = "ipv6"))]
        core::net::SocketAddr::V6(_) => Err(NalError::Unsupported),
    }
}

/// smoltcp endpoint to `core::net` address.
pub(crate) fn socket_addr(ep: smoltcp::wire::IpEndpoint) -> core::net::SocketAddr {
    match ep.addr {
        smoltcp::wire::IpAddress::Ipv4(v4) => {
            core::net::SocketAddr::V4(core::net::SocketAddrV4::new(v4, ep.port))
        }
        #[cfg(feature = "ipv6")]
        smoltcp::wire::IpAddress::Ipv6(v6) => {
            core::net::SocketAddr::V6(core::net::SocketAddrV6::new(v6, ep.port, 0, 0))
        }
    }
}
