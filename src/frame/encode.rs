//! The encoder: a length header, then the payload, into a buffer or a socket's transmit ring.
//!
//! Writing into a smoltcp socket is *all or nothing*: the free space of the transmit ring is
//! checked against the whole frame first, so a frame is never half-queued (half a frame in the
//! stream would desynchronise the peer's decoder for good). The payload is copied once, straight
//! into the ring; an optional transform (the framed echo upper-cases) runs on the bytes in
//! the ring, so there is no staging copy.

use core::marker::PhantomData;

use smoltcp::socket::tcp;

use super::decode::copy_prefix;
use super::error::{EncodeError, SendFrameError};
use super::header::{LengthHeader, U32Be};

/// Frame encoding for a chosen [`LengthHeader`] format.
///
/// The free functions of this module ([`encode_into`], [`send_frame`], ...) are this type's
/// functions for the default format [`U32Be`]; name the type only for another format:
///
/// ```
/// use smolsock::frame::{FrameEncoder, U16Le};
///
/// let mut buf = [0u8; 8];
/// let n = FrameEncoder::<U16Le>::encode_into(b"abc", &mut buf).unwrap();
/// assert_eq!(&buf[..n], &[3, 0, b'a', b'b', b'c']);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameEncoder<H: LengthHeader = U32Be> {
    _header: PhantomData<H>,
}

impl<H: LengthHeader> FrameEncoder<H> {
    /// Bytes a frame with a payload of `payload_len` bytes takes on the wire, or `None` if the
    /// header cannot express that length.
    pub const fn frame_len(payload_len: usize) -> Option<usize> {
        if payload_len > H::MAX_LEN {
            return None;
        }
        payload_len.checked_add(H::WIDTH)
    }

    /// The header bytes for `payload_len` and the whole frame's length, or `None` if the header
    /// cannot express that length.
    fn header(payload_len: usize) -> Option<([u8; 4], usize)> {
        let total = Self::frame_len(payload_len)?;
        let len = u32::try_from(payload_len).ok()?;
        Some((H::write(len), total))
    }

    /// Write a frame carrying `payload` to the front of `out`; return the frame's length.
    ///
    /// # Errors
    ///
    /// [`EncodeError::BufferTooSmall`] when `out` is shorter than the frame,
    /// [`EncodeError::PayloadTooLarge`] when the header cannot express the payload's length.
    pub fn encode_into(payload: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
        let (header, total) = Self::header(payload.len()).ok_or(EncodeError::PayloadTooLarge {
            len: payload.len(),
            max: H::MAX_LEN,
        })?;
        let available = out.len();
        let Some((head, body)) = out
            .get_mut(..total)
            .map(|frame| frame.split_at_mut(H::WIDTH.min(frame.len())))
        else {
            return Err(EncodeError::BufferTooSmall {
                needed: total,
                available,
            });
        };
        copy_prefix(head, &header);
        copy_prefix(body, payload);
        Ok(total)
    }

    /// Queue a frame carrying `payload` into `socket`'s transmit ring, whole or not at all.
    ///
    /// Returns the frame's length on the wire. The payload is copied once, into the ring.
    ///
    /// # Errors
    ///
    /// Nothing is queued on any error; see [`SendFrameError`]. [`SendFrameError::WouldBlock`]
    /// is backpressure: try again after the interface has been polled.
    pub fn send(socket: &mut tcp::Socket<'_>, payload: &[u8]) -> Result<usize, SendFrameError> {
        Self::send_with(socket, payload, |_| {})
    }

    /// Like [`send`](Self::send), and run `transform` over the payload bytes once they are in
    /// the ring.
    ///
    /// The ring may wrap, so `transform` may be called on the payload in two consecutive pieces
    /// (and not at all for an empty payload). It suits byte-wise transforms such as
    /// `<[u8]>::make_ascii_uppercase`; for anything that depends on the position in the payload,
    /// use [`send_fill`](Self::send_fill).
    pub fn send_with<T>(
        socket: &mut tcp::Socket<'_>,
        payload: &[u8],
        mut transform: T,
    ) -> Result<usize, SendFrameError>
    where
        T: FnMut(&mut [u8]),
    {
        Self::send_fill(socket, payload.len(), |offset, piece| {
            let src = payload.get(offset..).unwrap_or(&[]);
            copy_prefix(piece, src);
            transform(piece);
        })
    }

    /// Queue the header of a `len`-byte frame and let `fill` write the payload directly into
    /// the transmit ring: no staging buffer at all.
    ///
    /// `fill(offset, piece)` is called with consecutive pieces of the payload in order
    /// (`offset` is the position of `piece` in the payload): one piece, or two when the ring
    /// wraps, none when `len` is 0. It must write every byte of each piece; what it leaves is
    /// whatever the ring held before.
    ///
    /// # Errors
    ///
    /// Nothing is queued and `fill` is not called on any error; see [`SendFrameError`].
    pub fn send_fill<F>(
        socket: &mut tcp::Socket<'_>,
        len: usize,
        mut fill: F,
    ) -> Result<usize, SendFrameError>
    where
        F: FnMut(usize, &mut [u8]),
    {
        let (header, total) = Self::header(len).ok_or(SendFrameError::PayloadTooLarge {
            len,
            max: H::MAX_LEN,
        })?;
        if !socket.may_send() {
            return Err(SendFrameError::InvalidState);
        }
        let capacity = socket.send_capacity();
        if total > capacity {
            return Err(SendFrameError::ExceedsSendCapacity {
                needed: total,
                capacity,
            });
        }
        let free = capacity.saturating_sub(socket.send_queue());
        if total > free {
            return Err(SendFrameError::WouldBlock {
                needed: total,
                free,
            });
        }
        let header = header.get(..H::WIDTH).unwrap_or(&[]);
        let mut written = 0;
        // The free space is at most two contiguous windows (before and after the wrap), and it
        // holds the whole frame, so this loop runs once or twice.
        while written < total {
            let step = socket.send(|window| {
                let n = window.len().min(total - written);
                let mut piece = window.get_mut(..n).unwrap_or(&mut []);
                let mut at = written;
                if at < H::WIDTH {
                    let h = copy_prefix(piece, header.get(at..).unwrap_or(&[]));
                    piece = piece.get_mut(h..).unwrap_or(&mut []);
                    at += h;
                }
                if !piece.is_empty() {
                    fill(at - H::WIDTH, piece);
                }
                (n, n)
            });
            match step {
                Ok(0) | Err(_) => return Err(SendFrameError::InvalidState),
                Ok(n) => written += n,
            }
        }
        Ok(total)
    }
}

/// Write a frame (4-byte big-endian length, then `payload`) to the front of `out`; return its
/// length, `4 + payload.len()`.
///
/// ```
/// use smolsock::frame::encode_into;
///
/// let mut buf = [0u8; 16];
/// let n = encode_into(b"hello", &mut buf).unwrap();
/// // struct.pack("!I", 5) + b"hello"
/// assert_eq!(&buf[..n], b"\x00\x00\x00\x05hello");
/// ```
///
/// # Errors
///
/// See [`FrameEncoder::encode_into`].
pub fn encode_into(payload: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
    FrameEncoder::<U32Be>::encode_into(payload, out)
}

/// Queue a frame carrying `payload` into `socket`, whole or not at all; see
/// [`FrameEncoder::send`].
///
/// # Errors
///
/// Nothing is queued on any error; [`SendFrameError::WouldBlock`] is backpressure.
pub fn send_frame(socket: &mut tcp::Socket<'_>, payload: &[u8]) -> Result<usize, SendFrameError> {
    FrameEncoder::<U32Be>::send(socket, payload)
}

/// Queue a frame carrying `payload` into `socket` and transform the payload in the ring; see
/// [`FrameEncoder::send_with`]. The framed echo calls it with `<[u8]>::make_ascii_uppercase`.
///
/// # Errors
///
/// Nothing is queued on any error; [`SendFrameError::WouldBlock`] is backpressure.
pub fn send_frame_with<T>(
    socket: &mut tcp::Socket<'_>,
    payload: &[u8],
    transform: T,
) -> Result<usize, SendFrameError>
where
    T: FnMut(&mut [u8]),
{
    FrameEncoder::<U32Be>::send_with(socket, payload, transform)
}

/// Queue the header of a `len`-byte frame into `socket` and let `fill` write the payload in
/// the ring; see [`FrameEncoder::send_fill`].
///
/// # Errors
///
/// Nothing is queued on any error; [`SendFrameError::WouldBlock`] is backpressure.
pub fn send_frame_fill<F>(
    socket: &mut tcp::Socket<'_>,
    len: usize,
    fill: F,
) -> Result<usize, SendFrameError>
where
    F: FnMut(usize, &mut [u8]),
{
    FrameEncoder::<U32Be>::send_fill(socket, len, fill)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::frame::header::U16Be;

    #[test]
    fn encodes_header_then_payload() {
        let mut buf = [0xaa; 12];
        assert_eq!(encode_into(b"abc", &mut buf), Ok(7));
        assert_eq!(&buf[..7], b"\x00\x00\x00\x03abc");
        assert_eq!(buf[7], 0xaa, "nothing written past the frame");
        assert_eq!(encode_into(b"", &mut buf[..4]), Ok(4));
        assert_eq!(&buf[..4], [0; 4]);
    }

    #[test]
    fn buffer_too_small() {
        let mut buf = [0; 6];
        assert_eq!(
            encode_into(b"abc", &mut buf),
            Err(EncodeError::BufferTooSmall {
                needed: 7,
                available: 6
            })
        );
        assert_eq!(
            encode_into(b"", &mut buf[..3]),
            Err(EncodeError::BufferTooSmall {
                needed: 4,
                available: 3
            })
        );
    }

    #[test]
    fn payload_too_large_for_a_two_byte_header() {
        let big = [0u8; 65536];
        let mut out = [0u8; 65540];
        assert_eq!(
            FrameEncoder::<U16Be>::encode_into(&big, &mut out),
            Err(EncodeError::PayloadTooLarge {
                len: 65536,
                max: 65535
            })
        );
        assert_eq!(
            FrameEncoder::<U16Be>::encode_into(&big[1..], &mut out),
            Ok(65537)
        );
        assert_eq!(&out[..2], [0xff, 0xff]);
        assert_eq!(FrameEncoder::<U16Be>::frame_len(65536), None);
        assert_eq!(FrameEncoder::<U32Be>::frame_len(65536), Some(65540));
    }

    #[test]
    fn send_needs_an_open_socket() {
        let mut rx = [0u8; 64];
        let mut tx = [0u8; 64];
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(&mut rx[..]),
            tcp::SocketBuffer::new(&mut tx[..]),
        );
        assert_eq!(
            send_frame(&mut socket, b"x"),
            Err(SendFrameError::InvalidState)
        );
    }
}
