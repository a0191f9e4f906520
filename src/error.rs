//! Errors of the stack and the socket layer.
//!
//! Every failure a caller can act on is a variant here, in the style of smoltcp's own error
//! enums: no strings, no allocation, `Copy`, and a `Display` that reads well in a log line.
//! Errors caused by a *peer* (a reset, an oversize datagram, a line that never ends) are also
//! typed, so a service can log them and carry on serving everyone else.

use core::fmt;

use smoltcp::socket::{tcp, udp};

/// What went wrong in smolsock's socket layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The caller-provided `SocketStorage` has no free slot for another socket.
    SocketStorageFull {
        /// How many sockets the storage holds.
        capacity: usize,
    },
    /// Every port of the ephemeral range is held by a socket (open or in TIME-WAIT).
    PortsExhausted,
    /// smoltcp refused to put a TCP socket in LISTEN.
    Listen(tcp::ListenError),
    /// smoltcp refused to start a TCP connection.
    Connect(tcp::ConnectError),
    /// The TCP socket cannot send in its current state (not connected, or already closed).
    TcpSend(tcp::SendError),
    /// The TCP socket cannot receive in its current state.
    TcpRecv(tcp::RecvError),
    /// The peer refused the connection (RST in reply to our SYN: nobody listening, or the
    /// server's listener pool is exhausted).
    Refused,
    /// The connection was reset by the peer or timed out before it finished.
    Reset,
    /// The send buffer has no room for the whole message now; poll the stack and retry.
    WouldBlock,
    /// A reply did not match what was expected (first differing byte offset).
    Corrupted {
        /// Offset in the stream of the first wrong (or surplus) byte.
        offset: u64,
    },
    /// A reply frame did not match the frame sent (index of the first wrong one).
    FrameMismatch {
        /// Index, in sending order, of the frame whose reply differed.
        index: usize,
    },
    /// The peer's byte stream broke the framing (e.g. a length above the decoder's maximum).
    Frame(crate::frame::FrameError),
    /// A frame could not be queued for sending (other than "no room yet").
    FrameSend(crate::frame::SendFrameError),
    /// smoltcp refused to bind a UDP socket.
    UdpBind(udp::BindError),
    /// A UDP datagram could not be queued for sending.
    UdpSend(udp::SendError),
    /// A datagram is larger than the buffer meant to hold it; it was dropped, not truncated.
    DatagramTooLarge {
        /// Size of the datagram that arrived.
        len: usize,
        /// Largest datagram the buffer holds.
        max: usize,
    },
    /// A line is longer than the line buffer (the peer never sent a newline in time).
    LineTooLong {
        /// Capacity of the line buffer.
        max: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::SocketStorageFull { capacity } => {
                write!(f, "socket storage full ({capacity} sockets)")
            }
            Error::PortsExhausted => f.write_str("no free ephemeral port"),
            Error::Listen(e) => write!(f, "cannot listen: {e}"),
            Error::Connect(e) => write!(f, "cannot connect: {e}"),
            Error::TcpSend(e) => write!(f, "cannot send: {e}"),
            Error::TcpRecv(e) => write!(f, "cannot receive: {e}"),
            Error::Refused => f.write_str("connection refused"),
            Error::Reset => f.write_str("connection reset or timed out"),
            Error::WouldBlock => f.write_str("send buffer full, try again"),
            Error::Corrupted { offset } => write!(f, "reply differs at byte {offset}"),
            Error::FrameMismatch { index } => write!(f, "reply to frame {index} differs"),
            Error::Frame(e) => write!(f, "framing: {e}"),
            Error::FrameSend(e) => write!(f, "cannot send frame: {e}"),
            Error::UdpBind(e) => write!(f, "cannot bind: {e}"),
            Error::UdpSend(e) => write!(f, "cannot send datagram: {e}"),
            Error::DatagramTooLarge { len, max } => {
                write!(
                    f,
                    "datagram of {len} bytes exceeds the {max}-byte buffer; dropped"
                )
            }
            Error::LineTooLong { max } => write!(f, "line longer than {max} bytes"),
        }
    }
}

impl core::error::Error for Error {}

macro_rules! from_smoltcp {
    ($($src:ty => $variant:ident),* $(,)?) => {
        $(impl From<$src> for Error {
            fn from(e: $src) -> Self {
                Error::$variant(e)
            }
        })*
    };
}

from_smoltcp! {
    tcp::ListenError => Listen,
    tcp::ConnectError => Connect,
    tcp::SendError => TcpSend,
    tcp::RecvError => TcpRecv,
    udp::BindError => UdpBind,
    udp::SendError => UdpSend,
    crate::frame::FrameError => Frame,
    crate::frame::SendFrameError => FrameSend,
}
