//! What a checking client found: the verdict on the server's reply, apart from errors.
//!
//! [`EchoClient`](super::EchoClient) and [`FramedEchoClient`](super::FramedEchoClient) end with
//! `Result<Verdict, ClientError>`: `Ok` when the run finished and the reply could be judged
//! (every byte right: [`Verdict::Verified`]; or where it went wrong: [`Verdict::Mismatch`]),
//! `Err` when it could not (refused, reset: [`ClientError`](super::ClientError)). A wrong reply
//! is a finding about the server, not a failure of the client, so it is not an error.

use core::fmt;

/// The verdict on a server's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The whole reply was right, and the connection closed cleanly.
    Verified,
    /// The reply differed from what was expected.
    Mismatch(Mismatch),
}

impl Verdict {
    /// Whether the reply was right.
    pub fn is_verified(&self) -> bool {
        *self == Verdict::Verified
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Verified => f.write_str("reply verified"),
            Verdict::Mismatch(m) => m.fmt(f),
        }
    }
}

impl From<Mismatch> for Verdict {
    fn from(m: Mismatch) -> Self {
        Verdict::Mismatch(m)
    }
}

/// Where a reply first differed from what was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// A byte stream's reply (from [`EchoClient`](super::EchoClient)).
    Byte {
        /// Offset in the stream of the first wrong (or surplus) byte.
        offset: u64,
    },
    /// A framed reply (from [`FramedEchoClient`](super::FramedEchoClient)).
    Frame {
        /// Index, in sending order, of the frame whose reply differed.
        index: usize,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Byte { offset } => write!(f, "reply differs at byte {offset}"),
            Mismatch::Frame { index } => write!(f, "reply to frame {index} differs"),
        }
    }
}
