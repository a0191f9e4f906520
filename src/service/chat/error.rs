//! What the chat's operations can fail with.
//!
//! | operation | error |
//! |---|---|
//! | [`LineBuffer::read_line`](super::LineBuffer::read_line), [`ChatClient::reply`](super::ChatClient::reply) | [`LineTooLong`] |
//! | [`ChatClient::submit`](super::ChatClient::submit) | [`SubmitError`] |
//! | [`ChatClient::connect`](super::ChatClient::connect) | [`ConnectError`](crate::tcp::ConnectError) |

use core::fmt;

use smoltcp::socket::tcp;

/// A line is longer than the line buffer (the peer never sent a newline in time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong {
    /// Capacity of the line buffer.
    pub max: usize,
}

impl fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line longer than {} bytes", self.max)
    }
}

impl core::error::Error for LineTooLong {}

/// Why a line the user typed was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubmitError {
    /// The line is longer than the client's line buffer.
    LineTooLong {
        /// Capacity of the line buffer.
        max: usize,
    },
    /// Not connected yet, or the send buffer has no room for the whole line now; poll the
    /// stack and retry.
    WouldBlock,
    /// The socket cannot send in its current state (the connection is closed).
    Send(tcp::SendError),
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::LineTooLong { max } => LineTooLong { max: *max }.fmt(f),
            SubmitError::WouldBlock => f.write_str("send buffer full, try again"),
            SubmitError::Send(e) => write!(f, "cannot send: {e}"),
        }
    }
}

impl core::error::Error for SubmitError {}

impl From<tcp::SendError> for SubmitError {
    fn from(e: tcp::SendError) -> Self {
        SubmitError::Send(e)
    }
}
