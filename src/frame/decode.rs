//! The streaming decoder: bytes in arbitrary pieces go in, whole frames come out.

use core::marker::PhantomData;

use super::error::FrameError;
use super::header::{LengthHeader, U32Be};

/// What a frame handler answers when the decoder offers it a frame.
///
/// This is how backpressure reaches the decoder. A handler that cannot take a frame right now
/// (typically: the reply does not fit the socket's transmit ring) answers [`Later`]; the decoder
/// stops, keeps the frame, and offers the *same* frame again on the next call. Nothing is lost
/// and nothing is read past it.
///
/// [`Later`]: Accept::Later
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Accept {
    /// The handler has taken the frame; go on with the next one.
    Taken,
    /// The handler cannot take this frame now. Stop, keep it, and offer it again next time.
    Later,
}

/// How much a draining call got done; see [`FrameDecoder::feed`] and
/// [`FrameDecoder::recv_from`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Frames the handler [took](Accept::Taken).
    pub frames: usize,
    /// Input bytes consumed (from the slice, or dequeued from the socket).
    pub bytes: usize,
    /// The handler answered [`Accept::Later`]: the drain stopped early and a frame is waiting.
    pub deferred: bool,
}

impl Progress {
    /// Whether anything happened: a frame was taken or a byte was consumed.
    ///
    /// An event loop uses this to decide whether another round is worth it.
    pub fn made_progress(&self) -> bool {
        self.frames > 0 || self.bytes > 0
    }

    pub(super) fn add(&mut self, other: Progress) {
        self.frames = self.frames.saturating_add(other.frames);
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.deferred |= other.deferred;
    }
}

/// The result of one [`FrameDecoder::decode`] step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Bytes of the input this step used up. Feed the rest (`&input[consumed..]`) next.
    pub consumed: usize,
    /// The frame this step completed, if any.
    pub frame: Option<&'a [u8]>,
}

/// Where the frame is that [`FrameDecoder::advance`] just completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// No complete frame yet; the whole input was used up.
    Nothing,
    /// The payload lies whole in the input, at `start..start + len`. It is *not* counted in the
    /// consumed bytes: the caller adds `len` once the frame has been taken.
    InInput { start: usize, len: usize },
    /// The payload lies whole in the decoder's buffer, at `..len`.
    Buffered { len: usize },
}

/// Where the decoder is in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the length header; `have` of its bytes are in `header`.
    Header { have: usize },
    /// Header read; `have` of the `len` payload bytes are in `buf`. When `have == len` the
    /// frame is complete: either being offered, or waiting because the handler said `Later`.
    Payload { len: usize, have: usize },
    /// A bad header was read. Every call returns this error until [`FrameDecoder::reset`].
    Failed(FrameError),
}

/// A streaming decoder for length-prefixed frames, with room for payloads of up to `MAX` bytes.
///
/// Feed it the byte stream in whatever pieces it arrives: a header split anywhere, a payload
/// split anywhere, many frames in one piece, zero-length frames. It hands out whole frames as
/// `&[u8]`.
///
/// # Zero-copy where possible
///
/// A frame whose payload lies whole in the piece being fed is handed out as a slice *of that
/// piece*, without copying (the common case on a LAN: many small frames per segment). Only a
/// payload that straddles two pieces is copied, once, into the decoder's own buffer. That buffer
/// is a plain `[u8; MAX]` inside the decoder: no allocator, and it never grows. A header that
/// announces more than `MAX` bytes is refused with [`FrameError::FrameTooLarge`] before a byte of
/// its payload is stored.
///
/// # After an error
///
/// The decoder is *poisoned*: every later call returns the same [`FrameError`] and consumes
/// nothing, until [`reset`](Self::reset). See [`FrameError`] for why.
///
/// # Type parameters
///
/// - `MAX`: the largest payload accepted, and the size of the internal buffer.
/// - `H`: the [`LengthHeader`] format; [`U32Be`] (4-byte big-endian) unless stated otherwise.
///
/// # Examples
///
/// ```
/// use smolsock::frame::{encode_into, FrameDecoder};
///
/// // Two frames, "hi" and "", arriving in two awkward pieces.
/// let mut wire = [0u8; 10];
/// let n = encode_into(b"hi", &mut wire).unwrap();
/// encode_into(b"", &mut wire[n..]).unwrap();
/// let (first, second) = wire.split_at(3); // the first header is cut after 3 bytes
///
/// let mut decoder: FrameDecoder<64> = FrameDecoder::new();
/// let mut frames = 0;
/// for piece in [first, second] {
///     let mut rest = piece;
///     while !rest.is_empty() {
///         let step = decoder.decode(rest).unwrap();
///         if let Some(frame) = step.frame {
///             assert_eq!(frame, if frames == 0 { &b"hi"[..] } else { &b""[..] });
///             frames += 1;
///         }
///         rest = &rest[step.consumed..];
///     }
/// }
/// assert_eq!(frames, 2);
/// ```
pub struct FrameDecoder<const MAX: usize, H: LengthHeader = U32Be> {
    state: State,
    header: [u8; 4],
    buf: [u8; MAX],
    _header: PhantomData<H>,
}

impl<const MAX: usize, H: LengthHeader> FrameDecoder<MAX, H> {
    /// A decoder waiting for the first header.
    pub const fn new() -> Self {
        FrameDecoder {
            state: State::Header { have: 0 },
            header: [0; 4],
            buf: [0; MAX],
            _header: PhantomData,
        }
    }

    /// The largest payload this decoder accepts (`MAX`).
    pub const fn capacity(&self) -> usize {
        MAX
    }

    /// Forget any partial frame and any error, and wait for a header again.
    ///
    /// Only useful when the stream starts over (a new connection reusing the decoder).
    pub fn reset(&mut self) {
        self.state = State::Header { have: 0 };
    }

    /// The error that poisoned the decoder, if any.
    pub fn error(&self) -> Option<FrameError> {
        match self.state {
            State::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the decoder sits on a frame boundary: no partial header or payload, and no
    /// complete frame waiting to be taken.
    ///
    /// When the peer closes the connection, a decoder that is not idle means the stream ended
    /// in the middle of a frame.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Header { have: 0 })
    }

    /// The complete frame waiting in the decoder's buffer, if a handler refused it with
    /// [`Accept::Later`]. It is offered again by the next call.
    ///
    /// A server uses this to tell "the peer closed, and we still owe it a reply" from "the peer
    /// closed in the middle of a frame" (not [`is_idle`](Self::is_idle), and nothing pending).
    pub fn pending(&self) -> Option<&[u8]> {
        self.pending_len().map(|len| self.buffered_payload(len))
    }

    /// Bytes of the current frame held by the decoder: header bytes while reading a header,
    /// payload bytes while reading a payload. Never more than `MAX`.
    pub fn buffered(&self) -> usize {
        match self.state {
            State::Header { have } => have,
            State::Payload { have, .. } => have,
            State::Failed(_) => 0,
        }
    }

    /// Decode at most one frame from the front of `input`.
    ///
    /// Returns how many bytes were used up and, if `input` completed a frame, that frame: a
    /// slice of `input` when the payload was whole in it, otherwise a slice of the decoder's
    /// buffer. The frame counts as taken. Call again with `&input[consumed..]` until the input is
    /// used up; a step that returns no frame has used up all of `input`.
    ///
    /// A frame left waiting by a [`feed`](Self::feed) handler that answered
    /// [`Accept::Later`] is returned first.
    ///
    /// # Errors
    ///
    /// [`FrameError::FrameTooLarge`] for a header above `MAX`; the decoder is then poisoned.
    pub fn decode<'a>(&'a mut self, input: &'a [u8]) -> Result<Decoded<'a>, FrameError> {
        let (consumed, found) = self.advance(input, true);
        match found? {
            Found::Nothing => Ok(Decoded {
                consumed,
                frame: None,
            }),
            Found::InInput { start, len } => {
                self.commit();
                Ok(Decoded {
                    consumed: consumed.saturating_add(len),
                    frame: Some(input.get(start..start.saturating_add(len)).unwrap_or(&[])),
                })
            }
            Found::Buffered { len } => {
                self.commit();
                Ok(Decoded {
                    consumed,
                    frame: Some(self.buf.get(..len).unwrap_or(&[])),
                })
            }
        }
    }

    /// Offer every frame completed by `input` to `on_frame`, in order.
    ///
    /// Stops when `input` is used up, or early when `on_frame` answers [`Accept::Later`]. In the
    /// latter case [`Progress::deferred`] is set and `bytes` counts only what comes *before*
    /// the refused frame's payload: if that payload lies whole in `input`, it is left there (feed
    /// `&input[bytes..]` again later); if it was buffered, the decoder keeps it and offers it
    /// again on the next call, whatever that call's input.
    ///
    /// # Errors
    ///
    /// [`FrameError::FrameTooLarge`] for a header above `MAX`; the decoder is then poisoned.
    /// Frames before the bad header have been offered already.
    pub fn feed<F>(&mut self, input: &[u8], mut on_frame: F) -> Result<Progress, FrameError>
    where
        F: FnMut(&[u8]) -> Accept,
    {
        let (progress, result) = self.feed_inner(input, &mut on_frame);
        result.map(|()| progress)
    }

    /// [`feed`](Self::feed) that reports the bytes consumed even when it fails, so a caller
    /// draining a socket can dequeue exactly what was used.
    pub(super) fn feed_inner<F>(
        &mut self,
        input: &[u8],
        on_frame: &mut F,
    ) -> (Progress, Result<(), FrameError>)
    where
        F: FnMut(&[u8]) -> Accept,
    {
        let mut progress = Progress::default();
        loop {
            let rest = input.get(progress.bytes..).unwrap_or(&[]);
            let (used, found) = self.advance(rest, true);
            let found = match found {
                Ok(found) => found,
                Err(e) => {
                    progress.bytes = progress.bytes.saturating_add(used);
                    return (progress, Err(e));
                }
            };
            let (frame, frame_len) = match found {
                Found::Nothing => {
                    progress.bytes = progress.bytes.saturating_add(used);
                    return (progress, Ok(()));
                }
                Found::InInput { start, len } => (
                    rest.get(start..start.saturating_add(len)).unwrap_or(&[]),
                    len,
                ),
                Found::Buffered { len } => (self.buf.get(..len).unwrap_or(&[]), 0),
            };
            match on_frame(frame) {
                Accept::Taken => {
                    self.commit();
                    progress.frames = progress.frames.saturating_add(1);
                    progress.bytes = progress
                        .bytes
                        .saturating_add(used)
                        .saturating_add(frame_len);
                }
                Accept::Later => {
                    progress.bytes = progress.bytes.saturating_add(used);
                    progress.deferred = true;
                    return (progress, Ok(()));
                }
            }
        }
    }

    /// The length of a complete frame waiting in the buffer, if there is one.
    pub(super) fn pending_len(&self) -> Option<usize> {
        match self.state {
            State::Payload { len, have } if have == len => Some(len),
            _ => None,
        }
    }

    /// The buffered payload bytes (a complete frame when [`pending_len`](Self::pending_len)
    /// is `Some`).
    pub(super) fn buffered_payload(&self, len: usize) -> &[u8] {
        self.buf.get(..len).unwrap_or(&[])
    }

    /// Mark the frame just found as taken: the next byte is a header.
    #[inline]
    pub(super) fn commit(&mut self) {
        self.state = State::Header { have: 0 };
    }

    /// The state machine: consume `input` up to the end of the next complete frame.
    ///
    /// Returns the bytes consumed and where the completed frame lies, without marking it taken;
    /// [`commit`](Self::commit) does that. Called again without a commit, it finds the same
    /// frame again. With `zero_copy` false every payload is copied into the buffer, so the frame
    /// outlives `input`.
    ///
    /// Never consumes past the end of the first complete frame, and consumes everything when no
    /// frame completes.
    pub(super) fn advance(
        &mut self,
        input: &[u8],
        zero_copy: bool,
    ) -> (usize, Result<Found, FrameError>) {
        let mut pos = 0;
        loop {
            let rest = input.get(pos..).unwrap_or(&[]);
            match self.state {
                State::Failed(e) => return (pos, Err(e)),
                State::Header { have } => {
                    if have == 0 && rest.len() >= H::WIDTH {
                        // Fast path: the whole header is here; read it in place.
                        copy_prefix(&mut self.header, rest);
                        pos += H::WIDTH;
                    } else {
                        let missing = self.header.get_mut(have..H::WIDTH).unwrap_or(&mut []);
                        let n = copy_prefix(missing, rest);
                        pos += n;
                        if have + n < H::WIDTH {
                            self.state = State::Header { have: have + n };
                            return (pos, Ok(Found::Nothing));
                        }
                    }
                    let announced = H::read(self.header);
                    let len = usize::try_from(announced).unwrap_or(usize::MAX);
                    if len > MAX {
                        let e = FrameError::FrameTooLarge { len, max: MAX };
                        self.state = State::Failed(e);
                        return (pos, Err(e));
                    }
                    self.state = State::Payload { len, have: 0 };
                }
                State::Payload { len, have } => {
                    if zero_copy && have == 0 && rest.len() >= len {
                        return (pos, Ok(Found::InInput { start: pos, len }));
                    }
                    let missing = self.buf.get_mut(have..len).unwrap_or(&mut []);
                    let n = copy_prefix(missing, rest);
                    pos += n;
                    let have = have + n;
                    self.state = State::Payload { len, have };
                    if have == len {
                        return (pos, Ok(Found::Buffered { len }));
                    }
                    return (pos, Ok(Found::Nothing));
                }
            }
        }
    }
}

impl<const MAX: usize, H: LengthHeader> Default for FrameDecoder<MAX, H> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const MAX: usize, H: LengthHeader> core::fmt::Debug for FrameDecoder<MAX, H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FrameDecoder")
            .field("max", &MAX)
            .field("state", &self.state)
            .finish()
    }
}

/// Copy as much of `src` as fits into the front of `dst`; return how much that was.
#[inline]
pub(super) fn copy_prefix(dst: &mut [u8], src: &[u8]) -> usize {
    let n = dst.len().min(src.len());
    if let (Some(d), Some(s)) = (dst.get_mut(..n), src.get(..n)) {
        d.copy_from_slice(s);
    }
    n
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use crate::frame::encode_into;
    use crate::frame::header::U16Le;

    /// Encode `payloads` back to back.
    fn wire(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            let mut buf = std::vec![0u8; p.len() + 4];
            let n = encode_into(p, &mut buf).unwrap();
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    /// Decode `pieces` in order with `decode`, collecting frames.
    fn decode_pieces<const MAX: usize>(
        d: &mut FrameDecoder<MAX>,
        pieces: &[&[u8]],
    ) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut frames = Vec::new();
        for piece in pieces {
            let mut rest = *piece;
            loop {
                let step = d.decode(rest)?;
                if let Some(f) = step.frame {
                    frames.push(f.to_vec());
                }
                rest = &rest[step.consumed..];
                if step.frame.is_none() {
                    assert!(rest.is_empty(), "a step without a frame uses up the input");
                    break;
                }
            }
        }
        Ok(frames)
    }

    #[test]
    fn one_frame_in_one_piece_is_zero_copy() {
        let w = wire(&[b"hello"]);
        let mut d: FrameDecoder<16> = FrameDecoder::new();
        let step = d.decode(&w).unwrap();
        assert_eq!(step.consumed, 9);
        let f = step.frame.unwrap();
        assert_eq!(f, b"hello");
        // The frame is a slice of the input, not of the decoder.
        assert_eq!(f.as_ptr(), w[4..].as_ptr());
        assert!(d.is_idle());
    }

    #[test]
    fn header_split_at_each_position() {
        let w = wire(&[b"abcdef"]);
        for cut in 0..=4 {
            let mut d: FrameDecoder<16> = FrameDecoder::new();
            let frames = decode_pieces(&mut d, &[&w[..cut], &w[cut..]]).unwrap();
            assert_eq!(frames, [b"abcdef".to_vec()], "cut at {cut}");
            assert!(d.is_idle());
        }
        // And one byte at a time.
        let mut d: FrameDecoder<16> = FrameDecoder::new();
        let pieces: Vec<&[u8]> = w.chunks(1).collect();
        assert_eq!(
            decode_pieces(&mut d, &pieces).unwrap(),
            [b"abcdef".to_vec()]
        );
    }

    #[test]
    fn header_split_keeps_payload_zero_copy() {
        let w = wire(&[b"xyz"]);
        let mut d: FrameDecoder<16> = FrameDecoder::new();
        assert_eq!(d.decode(&w[..2]).unwrap().frame, None);
        let rest = &w[2..];
        let step = d.decode(rest).unwrap();
        assert_eq!(step.frame.unwrap().as_ptr(), rest[2..].as_ptr());
        assert_eq!(step.consumed, rest.len());
    }

    #[test]
    fn payload_split_at_every_byte() {
        let payload: Vec<u8> = (0..40u8).collect();
        let w = wire(&[&payload, b"tail"]);
        for cut in 0..=w.len() {
            let mut d: FrameDecoder<40> = FrameDecoder::new();
            let frames = decode_pieces(&mut d, &[&w[..cut], &w[cut..]]).unwrap();
            assert_eq!(frames, [payload.clone(), b"tail".to_vec()], "cut at {cut}");
            assert!(d.is_idle());
        }
    }

    #[test]
    fn every_three_way_split() {
        let w = wire(&[b"ab", b"", b"cde"]);
        for i in 0..=w.len() {
            for j in i..=w.len() {
                let mut d: FrameDecoder<8> = FrameDecoder::new();
                let frames = decode_pieces(&mut d, &[&w[..i], &w[i..j], &w[j..]]).unwrap();
                assert_eq!(frames, [b"ab".to_vec(), Vec::new(), b"cde".to_vec()]);
            }
        }
    }

    #[test]
    fn zero_length_frames() {
        let w = wire(&[b"", b"", b"x", b""]);
        let mut d: FrameDecoder<0> = FrameDecoder::new();
        // MAX = 0 only accepts empty frames.
        assert_eq!(
            decode_pieces(&mut d, &[&w]),
            Err(FrameError::FrameTooLarge { len: 1, max: 0 })
        );
        let mut d: FrameDecoder<1> = FrameDecoder::new();
        let frames = decode_pieces(&mut d, &[&w]).unwrap();
        assert_eq!(frames, [Vec::new(), Vec::new(), b"x".to_vec(), Vec::new()]);
        // A lone empty frame, header fed byte by byte.
        let w = wire(&[b""]);
        let mut d: FrameDecoder<0> = FrameDecoder::new();
        let pieces: Vec<&[u8]> = w.chunks(1).collect();
        assert_eq!(decode_pieces(&mut d, &pieces).unwrap(), [Vec::<u8>::new()]);
    }

    #[test]
    fn exactly_max_and_max_plus_one() {
        let max = [7u8; 32];
        let w = wire(&[&max]);
        let mut d: FrameDecoder<32> = FrameDecoder::new();
        // Whole, and split in the middle (so it must fill the buffer exactly).
        assert_eq!(decode_pieces(&mut d, &[&w]).unwrap(), [max.to_vec()]);
        assert_eq!(
            decode_pieces(&mut d, &[&w[..20], &w[20..]]).unwrap(),
            [max.to_vec()]
        );

        let over = [7u8; 33];
        let w = wire(&[&over]);
        let mut d: FrameDecoder<32> = FrameDecoder::new();
        let err = FrameError::FrameTooLarge { len: 33, max: 32 };
        assert_eq!(d.decode(&w).unwrap_err(), err);
        assert_eq!(d.buffered(), 0, "nothing of the oversize payload is stored");
    }

    #[test]
    fn error_poisons_until_reset() {
        let mut d: FrameDecoder<4> = FrameDecoder::new();
        let bad = [0xff, 0xff, 0xff, 0xff];
        let err = FrameError::FrameTooLarge {
            len: usize::try_from(u32::MAX).unwrap(),
            max: 4,
        };
        assert_eq!(d.decode(&bad).unwrap_err(), err);
        assert_eq!(d.error(), Some(err));
        // Even a valid frame is refused now.
        let good = wire(&[b"ok"]);
        assert_eq!(d.decode(&good).unwrap_err(), err);
        assert_eq!(d.feed(&good, |_| Accept::Taken).unwrap_err(), err);
        d.reset();
        assert_eq!(d.error(), None);
        assert_eq!(d.decode(&good).unwrap().frame, Some(&b"ok"[..]));
    }

    #[test]
    fn back_to_back_frames_in_one_chunk() {
        let payloads: [&[u8]; 5] = [b"one", b"two", b"", b"three", b"four"];
        let w = wire(&payloads);
        let mut d: FrameDecoder<8> = FrameDecoder::new();
        let mut got = Vec::new();
        let p = d
            .feed(&w, |f| {
                got.push(f.to_vec());
                Accept::Taken
            })
            .unwrap();
        assert_eq!(
            p,
            Progress {
                frames: 5,
                bytes: w.len(),
                deferred: false
            }
        );
        let want: Vec<Vec<u8>> = payloads.iter().map(|p| p.to_vec()).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn feed_later_keeps_an_in_input_frame_in_the_input() {
        let w = wire(&[b"aa", b"bb"]);
        let mut d: FrameDecoder<8> = FrameDecoder::new();
        let mut seen = Vec::new();
        let p = d
            .feed(&w, |f| {
                seen.push(f.to_vec());
                if f == b"bb" {
                    Accept::Later
                } else {
                    Accept::Taken
                }
            })
            .unwrap();
        // "aa" taken (6 bytes) and "bb"'s header read (4 bytes); its payload stays in the input.
        assert_eq!(
            p,
            Progress {
                frames: 1,
                bytes: 10,
                deferred: true
            }
        );
        let rest = &w[p.bytes..];
        assert_eq!(rest, b"bb");
        let p = d
            .feed(rest, |f| {
                seen.push(f.to_vec());
                Accept::Taken
            })
            .unwrap();
        assert_eq!(p.frames, 1);
        assert_eq!(p.bytes, 2);
        assert_eq!(seen, [b"aa".to_vec(), b"bb".to_vec(), b"bb".to_vec()]);
        assert!(d.is_idle());
    }

    #[test]
    fn feed_later_keeps_a_buffered_frame_in_the_decoder() {
        let w = wire(&[b"split", b"next"]);
        let mut d: FrameDecoder<8> = FrameDecoder::new();
        let p = d.feed(&w[..6], |_| Accept::Taken).unwrap();
        assert_eq!(p.frames, 0);
        // The rest completes "split" from the buffer; refuse it.
        let p = d.feed(&w[6..], |_| Accept::Later).unwrap();
        assert!(p.deferred);
        assert_eq!(p.bytes, 3, "only the rest of the payload was consumed");
        assert!(!d.is_idle());
        // Offered again even with no new input.
        let mut got = Vec::new();
        let p = d
            .feed(&[], |f| {
                got.push(f.to_vec());
                Accept::Taken
            })
            .unwrap();
        assert_eq!((p.frames, p.bytes), (1, 0));
        d.feed(&w[9..], |f| {
            got.push(f.to_vec());
            Accept::Taken
        })
        .unwrap();
        assert_eq!(got, [b"split".to_vec(), b"next".to_vec()]);
    }

    #[test]
    fn deferred_zero_length_frame_is_offered_again() {
        let w = wire(&[b""]);
        let mut d: FrameDecoder<8> = FrameDecoder::new();
        d.feed(&w[..2], |_| Accept::Taken).unwrap();
        let p = d.feed(&w[2..], |_| Accept::Later).unwrap();
        assert_eq!((p.frames, p.bytes, p.deferred), (0, 2, true));
        let p = d.feed(&[], |f| {
            assert!(f.is_empty());
            Accept::Taken
        });
        assert_eq!(p.unwrap().frames, 1);
        assert!(d.is_idle());
    }

    #[test]
    fn two_byte_little_endian_header() {
        let mut d: FrameDecoder<8, U16Le> = FrameDecoder::new();
        let w = [3, 0, b'a', b'b', b'c', 0, 0];
        let mut got = Vec::new();
        d.feed(&w, |f| {
            got.push(f.to_vec());
            Accept::Taken
        })
        .unwrap();
        assert_eq!(got, [b"abc".to_vec(), Vec::new()]);
        assert_eq!(
            d.decode(&[9, 0]).unwrap_err(),
            FrameError::FrameTooLarge { len: 9, max: 8 }
        );
    }
}
