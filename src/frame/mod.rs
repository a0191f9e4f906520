//! Message framing: giving a TCP byte stream its message boundaries back.
//!
//! # The "sticky packet" problem
//!
//! TCP carries a *stream of bytes*, not a sequence of messages. When a client calls `send`
//! three times in quick succession, the server may get all three messages in one `recv` (the
//! sender's stack coalesced them: Nagle's algorithm, or simply a full segment), or one message
//! cut in two (a segment boundary, a ring-buffer wrap). Nothing on the wire says where one
//! message ends and the next begins, so a receiver that assumes "one `recv` = one message" is
//! wrong as soon as the traffic is not strictly one question, one answer. The classic lesson
//! calls this *sticky packets* ("粘包").
//!
//! The cure is to make every message's length known to the receiver. This module does it the
//! usual way: a fixed-size header holding the payload's length, then the payload. The
//! receiver reads the header, then exactly that many bytes, and knows it has one whole message.
//!
//! # Wire format
//!
//! A frame is a 4-byte unsigned length `n`, big-endian (most significant byte first, "network
//! byte order"), followed by `n` bytes of payload. Frames follow each other with nothing in
//! between.
//!
//! ```text
//!  offset   0        1        2        3        4                      4+n
//!          +--------+--------+--------+--------+------------- ... -----+
//!          | n>>24  | n>>16  | n>>8   | n      |   payload: n bytes     |
//!          +--------+--------+--------+--------+------------- ... -----+
//!           \______ length n, u32 big-endian _/
//!
//!  "hello" -> 00 00 00 05 68 65 6c 6c 6f
//!  ""      -> 00 00 00 00                  (an empty message is a valid frame)
//! ```
//!
//! It is exactly what Python's `struct.pack("!I", len(payload)) + payload` writes (`!` is
//! network byte order, `I` an unsigned 32-bit integer), so a desktop peer written for the
//! original lesson talks to this code unchanged:
//!
//! ```python
//! sock.sendall(struct.pack("!I", len(msg)) + msg)
//! (n,) = struct.unpack("!I", recv_exactly(sock, 4))
//! msg = recv_exactly(sock, n)
//! ```
//!
//! A receiver on a small device cannot accept any length the header might claim (up to 4 GiB),
//! so the decoder has a fixed maximum, `MAX`, and refuses larger frames with
//! [`FrameError::FrameTooLarge`] instead of buffering them.
//!
//! Other header widths and byte orders ([`U16Be`], [`U16Le`], [`U32Le`]) can be chosen as a type
//! parameter; see [`LengthHeader`]. The default, [`U32Be`], is the format above.
//!
//! # Using it
//!
//! Encoding, into a buffer or a socket:
//!
//! - [`encode_into`] writes a frame into a caller's buffer.
//! - [`send_frame`] queues a frame into a smoltcp [`tcp::Socket`], whole or not at all
//!   ([`SendFrameError::WouldBlock`] when its transmit ring lacks room; then nothing was queued).
//!   [`send_frame_with`] also transforms the payload in the ring (the framed echo upper-cases),
//!   and [`send_frame_fill`] lets the caller write the payload there itself.
//!
//! Decoding, with a [`FrameDecoder<MAX>`](FrameDecoder):
//!
//! - [`FrameDecoder::decode`] takes bytes in any pieces and returns whole frames, one per step;
//! - [`FrameDecoder::feed`] offers every frame of a piece to a handler, which may answer
//!   [`Accept::Later`] to push back;
//! - [`FrameDecoder::recv_from`] drains a smoltcp socket, correctly across the wrap-around of its
//!   receive ring (the trap described [below](#the-wrap-around-trap)), handing out frames
//!   in place when they lie whole in the ring;
//! - [`FrameDecoder::recv_reply`] drains a socket and lets the handler reply on it.
//!
//! ```
//! use smolsock::frame::{encode_into, Accept, FrameDecoder};
//!
//! // Three quick sends...
//! let mut stream = [0u8; 64];
//! let mut len = 0;
//! for msg in [&b"one"[..], b"two", b"three"] {
//!     len += encode_into(msg, &mut stream[len..]).unwrap();
//! }
//! // ...arrive as one read. The decoder gets the three messages back.
//! let mut decoder: FrameDecoder<16> = FrameDecoder::new();
//! let expected = [&b"one"[..], b"two", b"three"];
//! let mut seen = 0;
//! decoder
//!     .feed(&stream[..len], |frame| {
//!         assert_eq!(frame, expected[seen]);
//!         seen += 1;
//!         Accept::Taken
//!     })
//!     .unwrap();
//! assert_eq!(seen, 3);
//! ```
//!
//! # The wrap-around trap
//!
//! A smoltcp socket's [`recv`](tcp::Socket::recv) shows only the contiguous part of its receive
//! ring. A decoder that waits, without consuming, for a whole frame to appear in that slice
//! stalls forever once a frame straddles the end of the ring (smoltcp issue #797). This decoder
//! consumes partial frames into its own buffer instead; see [`FrameDecoder::recv_from`].
//!
//! # Guarantees
//!
//! No allocator. No panic on any input: malformed lengths are errors, slices are taken with
//! checked access. A decoder never holds more than `MAX` payload bytes plus a 4-byte header.
//! Nothing is truncated silently: a frame is delivered whole or refused with an error.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

#[cfg(doc)]
use smoltcp::socket::tcp;

mod decode;
mod encode;
mod error;
mod header;
mod recv;

pub use decode::{Accept, Decoded, FrameDecoder, Progress};
pub use encode::{encode_into, send_frame, send_frame_fill, send_frame_with, FrameEncoder};
pub use error::{EncodeError, FrameError, SendFrameError};
pub use header::{LengthHeader, U16Be, U16Le, U32Be, U32Le};

/// Bytes in the default length header ([`U32Be`]).
pub const HEADER_LEN: usize = 4;
