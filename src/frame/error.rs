//! What can go wrong while framing, one error type per direction.
//!
//! The split is deliberate. A [`FrameError`] is the *peer's* fault: the byte stream broke the
//! protocol and the connection should be closed. An [`EncodeError`] or a [`SendFrameError`] is
//! *ours*: the payload is too big, the buffer too small, or the socket's transmit ring has no
//! room yet (backpressure, not a failure). Keeping them apart stops a `?` from turning a full
//! transmit ring into a dropped connection.

use core::fmt;

/// Error returned while decoding a stream of frames.
///
/// Once a decoder has returned this error it is *poisoned*: every later call returns the same
/// error without consuming any input, until [`FrameDecoder::reset`] is called. A length-prefixed
/// stream cannot be resynchronised after a bad header (the next "header" would be payload bytes),
/// so the only sensible thing to do with the connection is to close it.
///
/// [`FrameDecoder::reset`]: super::FrameDecoder::reset
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// A length header announced a payload of `len` bytes, more than the decoder's
    /// capacity `max`. Nothing of that frame is buffered.
    ///
    /// `len` is the header's value (saturated to `usize::MAX` on targets where it does not fit).
    FrameTooLarge {
        /// Payload length announced by the header.
        len: usize,
        /// Largest payload this decoder accepts (its `MAX`).
        max: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameError::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the maximum of {max}")
            }
        }
    }
}

impl core::error::Error for FrameError {}

/// Error returned when encoding a frame into a caller's buffer.
///
/// On error nothing useful has been written to the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The payload is longer than the length header can express
    /// (`u32::MAX` bytes for a 4-byte header, `u16::MAX` for a 2-byte one).
    PayloadTooLarge {
        /// Length of the payload.
        len: usize,
        /// Largest payload the header can express.
        max: usize,
    },
    /// The output buffer is smaller than the frame (header and payload).
    BufferTooSmall {
        /// Bytes the whole frame needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EncodeError::PayloadTooLarge { len, max } => {
                write!(
                    f,
                    "payload of {len} bytes exceeds the header's maximum of {max}"
                )
            }
            EncodeError::BufferTooSmall { needed, available } => {
                write!(f, "frame needs {needed} bytes, buffer has {available}")
            }
        }
    }
}

impl core::error::Error for EncodeError {}

/// Error returned when queueing a frame into a smoltcp TCP socket.
///
/// Every variant means *nothing* was queued: a frame is sent whole or not at all, so the byte
/// stream never holds half a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendFrameError {
    /// Not enough free space in the transmit ring right now. This is backpressure, not a
    /// failure: poll the interface (the peer's ACKs free space) and try again. A server that
    /// gets this should stop reading from the peer until the frame went out.
    WouldBlock {
        /// Bytes the whole frame needs.
        needed: usize,
        /// Bytes free in the transmit ring.
        free: usize,
    },
    /// The frame is larger than the socket's whole transmit buffer, so it can never be queued
    /// all at once. Use a bigger buffer or smaller frames.
    ExceedsSendCapacity {
        /// Bytes the whole frame needs.
        needed: usize,
        /// Size of the transmit buffer.
        capacity: usize,
    },
    /// The payload is longer than the length header can express.
    PayloadTooLarge {
        /// Length of the payload.
        len: usize,
        /// Largest payload the header can express.
        max: usize,
    },
    /// The socket cannot send: it is not in the `ESTABLISHED` or `CLOSE-WAIT` state
    /// (see [`tcp::Socket::may_send`](smoltcp::socket::tcp::Socket::may_send)).
    InvalidState,
}

impl fmt::Display for SendFrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SendFrameError::WouldBlock { needed, free } => {
                write!(
                    f,
                    "frame needs {needed} bytes, transmit buffer has {free} free"
                )
            }
            SendFrameError::ExceedsSendCapacity { needed, capacity } => write!(
                f,
                "frame of {needed} bytes can never fit a transmit buffer of {capacity}"
            ),
            SendFrameError::PayloadTooLarge { len, max } => {
                write!(
                    f,
                    "payload of {len} bytes exceeds the header's maximum of {max}"
                )
            }
            SendFrameError::InvalidState => write!(f, "socket cannot send in its state"),
        }
    }
}

impl core::error::Error for SendFrameError {}
