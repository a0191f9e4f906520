//! What the services' operations can fail with.
//!
//! | operation | error |
//! |---|---|
//! | [`UpperEcho::new`](super::UpperEcho::new), [`FramedEcho::new`](super::FramedEcho::new), [`ChatServer::new`](super::ChatServer::new) | [`PoolError`] |
//! | [`UdpEcho::new`](super::UdpEcho::new), [`UdpSink::new`](super::UdpSink::new) | [`OpenError`] |
//! | [`LessonServers::new`](super::LessonServers::new) | [`SetupError`] |
//! | the clients' `connect` | [`ConnectError`](crate::tcp::ConnectError) |
//! | a checking client's run ([`EchoClient`](super::EchoClient), [`FramedEchoClient`](super::FramedEchoClient)) | [`ClientError`], or a [`Verdict`](super::Verdict) |
//!
//! A checking client that ran to the end has a *verdict* (the reply was right, or where it
//! went wrong), not an error: [`ClientError`] is only for a run that could not finish.

use core::fmt;

use crate::frame::{FrameError, SendFrameError};
use crate::tcp::PoolError;
use crate::udp::OpenError;

/// Why a checking client's run ended before the server's reply could be judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// The server refused the connection (RST in reply to our SYN: nobody listening, or the
    /// server's listener pool is exhausted), or the handshake timed out.
    Refused,
    /// The connection was reset by the peer, timed out, or was closed before the whole reply
    /// arrived.
    Reset,
    /// The server's byte stream broke the framing (e.g. a length above the decoder's maximum).
    /// Only from [`FramedEchoClient`](super::FramedEchoClient).
    Frame(FrameError),
    /// A frame could not be queued for sending (other than "no room yet").
    /// Only from [`FramedEchoClient`](super::FramedEchoClient).
    FrameSend(SendFrameError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Refused => f.write_str("connection refused"),
            ClientError::Reset => f.write_str("connection reset or timed out"),
            ClientError::Frame(e) => write!(f, "framing: {e}"),
            ClientError::FrameSend(e) => write!(f, "cannot send frame: {e}"),
        }
    }
}

impl core::error::Error for ClientError {}

impl From<FrameError> for ClientError {
    fn from(e: FrameError) -> Self {
        ClientError::Frame(e)
    }
}

impl From<SendFrameError> for ClientError {
    fn from(e: SendFrameError) -> Self {
        ClientError::FrameSend(e)
    }
}

/// Why a set of services ([`LessonServers`](super::LessonServers)) could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetupError {
    /// A TCP server's listener pool.
    Tcp(PoolError),
    /// A UDP server's port.
    Udp(OpenError),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Tcp(e) => e.fmt(f),
            SetupError::Udp(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for SetupError {}

impl From<PoolError> for SetupError {
    fn from(e: PoolError) -> Self {
        SetupError::Tcp(e)
    }
}

impl From<OpenError> for SetupError {
    fn from(e: OpenError) -> Self {
        SetupError::Udp(e)
    }
}
