//! Reading frames straight out of a smoltcp TCP socket.
//!
//! # The wrap-around trap (smoltcp issue #797)
//!
//! A smoltcp socket keeps received bytes in a ring buffer, and
//! [`tcp::Socket::recv`] hands its closure only the *contiguous* part of them: the bytes up to
//! the end of the ring. The rest, wrapped around to the start, comes with the next call. A
//! decoder that looks at that slice, finds half a frame, and consumes nothing in the hope that
//! the rest will "arrive" waits forever: the rest is already there, behind the wrap point, and
//! will never show up in the same slice. Worse, the ring fills, the receive window closes, and
//! the peer stops sending.
//!
//! The decoder here never waits in place. Whatever part of a frame the slice holds is consumed:
//! header bytes into its 4-byte accumulator, payload bytes into its buffer. The next `recv` then
//! starts at the wrap point and completes the frame. Frames that lie whole in the slice are
//! handed out in place (zero-copy); only the one that straddles the wrap is copied.

use smoltcp::socket::tcp;

use super::decode::{Accept, FrameDecoder, Progress};
use super::error::FrameError;
use super::header::LengthHeader;

impl<const MAX: usize, H: LengthHeader> FrameDecoder<MAX, H> {
    /// Drain `socket`: offer every complete frame in its receive buffer to `on_frame`.
    ///
    /// Loops over [`tcp::Socket::recv`] until the receive buffer is empty or `on_frame` answers
    /// [`Accept::Later`]. A frame lying whole in the ring is offered as a slice *of the ring*
    /// (zero-copy); a frame straddling the wrap point is copied into the decoder once.
    ///
    /// Backpressure: when `on_frame` answers `Later`, the refused frame is kept, either still
    /// in the socket (bytes are only dequeued once their frame is taken, so the TCP receive
    /// window closes and the peer slows down) or in the decoder, and is offered again on the
    /// next call. Nothing is lost, and nothing after it is read.
    ///
    /// Returns what was done, so an event loop can tell whether the round made progress.
    /// Reads nothing (and returns `Ok`) when the socket has no data; whether the peer has closed
    /// is the socket's business ([`tcp::Socket::may_recv`]), and [`is_idle`](Self::is_idle)
    /// tells whether it closed on a frame boundary.
    ///
    /// The handler cannot use the socket (it is borrowed by this call, and the frame may live in
    /// its ring). To reply on the same socket, use [`recv_reply`](Self::recv_reply).
    ///
    /// # Errors
    ///
    /// [`FrameError::FrameTooLarge`] for a header above `MAX`; the decoder is poisoned and the
    /// connection should be closed. Frames before the bad header have been delivered.
    ///
    /// # Examples
    ///
    /// ```
    /// use smoltcp::socket::tcp;
    /// use smolsock::frame::{Accept, FrameDecoder};
    ///
    /// /// Count the frames that arrived; say whether anything happened.
    /// fn on_readable(decoder: &mut FrameDecoder<1024>, socket: &mut tcp::Socket, count: &mut usize) -> bool {
    ///     match decoder.recv_from(socket, |frame| {
    ///         log::info!("frame of {} bytes", frame.len());
    ///         *count += 1;
    ///         Accept::Taken
    ///     }) {
    ///         Ok(progress) => progress.made_progress(),
    ///         Err(e) => {
    ///             log::warn!("{e}; closing");
    ///             socket.abort();
    ///             true
    ///         }
    ///     }
    /// }
    /// ```
    pub fn recv_from<F>(
        &mut self,
        socket: &mut tcp::Socket<'_>,
        mut on_frame: F,
    ) -> Result<Progress, FrameError>
    where
        F: FnMut(&[u8]) -> Accept,
    {
        // A frame refused last time may be waiting in the buffer: offer it first.
        let (mut total, result) = self.feed_inner(&[], &mut on_frame);
        result?;
        while !total.deferred && socket.can_recv() {
            let step = socket.recv(|ring| {
                let (progress, result) = self.feed_inner(ring, &mut on_frame);
                (progress.bytes, (progress, result))
            });
            // `can_recv` implies `may_recv`, so `recv` does not fail here; stop if it does.
            let Ok((progress, result)) = step else { break };
            total.add(progress);
            result?;
            if progress.bytes == 0 {
                break;
            }
        }
        Ok(total)
    }

    /// Drain `socket` like [`recv_from`](Self::recv_from), but hand the handler the socket too,
    /// so it can reply on it: the shape of an echo or request/response server.
    ///
    /// Since the handler borrows the socket, a frame cannot be a slice of the socket's receive
    /// ring; each frame is copied once into the decoder's buffer (up to `MAX` bytes). Bytes
    /// are dequeued only up to the end of the frame being offered, so when the handler answers
    /// [`Accept::Later`] (typically because its reply hit
    /// [`SendFrameError::WouldBlock`](super::SendFrameError::WouldBlock)) the following frames
    /// stay in the socket and the receive window closes: the peer is slowed down, not dropped.
    /// The refused frame is offered again on the next call.
    ///
    /// # Errors
    ///
    /// [`FrameError::FrameTooLarge`] for a header above `MAX`; the decoder is poisoned and the
    /// connection should be closed.
    ///
    /// # Examples
    ///
    /// The framed echo: every frame goes back upper-cased.
    ///
    /// ```
    /// use smoltcp::socket::tcp;
    /// use smolsock::frame::{send_frame_with, Accept, FrameDecoder, SendFrameError};
    ///
    /// /// One round of the echo on one connection; says whether anything happened.
    /// fn echo(decoder: &mut FrameDecoder<512>, socket: &mut tcp::Socket) -> bool {
    ///     let mut failed = None;
    ///     let result = decoder.recv_reply(socket, |frame, socket| {
    ///         match send_frame_with(socket, frame, <[u8]>::make_ascii_uppercase) {
    ///             Ok(_) => Accept::Taken,
    ///             // No room for the reply yet: keep the frame, stop reading.
    ///             Err(SendFrameError::WouldBlock { .. }) => Accept::Later,
    ///             // Peer gone, or a reply that can never fit: give up on the connection.
    ///             Err(e) => {
    ///                 failed = Some(e);
    ///                 Accept::Later
    ///             }
    ///         }
    ///     });
    ///     match (result, failed) {
    ///         (Ok(progress), None) => progress.made_progress(),
    ///         (Err(e), _) => {
    ///             log::warn!("bad frame: {e}; closing");
    ///             socket.abort();
    ///             true
    ///         }
    ///         (_, Some(e)) => {
    ///             log::warn!("cannot reply: {e}; closing");
    ///             socket.abort();
    ///             true
    ///         }
    ///     }
    /// }
    /// ```
    pub fn recv_reply<'s, F>(
        &mut self,
        socket: &mut tcp::Socket<'s>,
        mut on_frame: F,
    ) -> Result<Progress, FrameError>
    where
        F: FnMut(&[u8], &mut tcp::Socket<'s>) -> Accept,
    {
        if let Some(e) = self.error() {
            return Err(e);
        }
        let mut total = Progress::default();
        loop {
            if let Some(len) = self.pending_len() {
                match on_frame(self.buffered_payload(len), socket) {
                    Accept::Taken => {
                        self.commit();
                        total.frames = total.frames.saturating_add(1);
                        continue;
                    }
                    Accept::Later => {
                        total.deferred = true;
                        break;
                    }
                }
            }
            if !socket.can_recv() {
                break;
            }
            // Copy up to the end of the next frame, no further.
            let step = socket.recv(|ring| {
                let (used, found) = self.advance(ring, false);
                (used, (used, found))
            });
            let Ok((used, found)) = step else { break };
            total.bytes = total.bytes.saturating_add(used);
            found?;
            if used == 0 && self.pending_len().is_none() {
                break;
            }
        }
        Ok(total)
    }
}
