//! The framed echo server (lesson program 11, the fix for sticky packets): TCP port 9000.
//!
//! Every message is a frame (a 4-byte big-endian length, then the payload; see
//! [`crate::frame`]) and every frame comes back as a frame with its payload upper-cased. However
//! TCP cuts or glues the bytes, one frame in is one frame out.
//!
//! Per connection the server keeps a [`FrameDecoder`] (its `MAX`-byte buffer is the only state)
//! and runs [`FrameDecoder::recv_reply`]: read a frame, queue the reply with
//! [`send_frame_with`], whole or not at all. When the reply does not fit the transmit ring the
//! frame is kept and reading stops; the rest waits in the receive ring, the TCP window closes,
//! and the client is slowed down. Nothing is dropped.
//!
//! A peer that announces a frame larger than `MAX` has broken the protocol: the server logs it
//! and resets that connection (RST; a stream whose framing is lost cannot be resynchronised).
//! The other connections are not affected, and the slot goes back to the pool at once.

use smoltcp::socket::tcp;

use super::{upper_case, Service};
use crate::frame::{send_frame_with, Accept, FrameDecoder, SendFrameError, HEADER_LEN};
use crate::storage::TcpStorage;
use crate::tcp::{Connection, ListenerPool, PoolConfig, PoolError, SlotEvent};
use crate::Stack;

/// Counters of a [`FramedEcho`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FramedEchoStats {
    /// Frames echoed.
    pub frames: u64,
    /// Connections reset because the peer broke the framing (a length above `MAX`).
    pub bad_frames: u64,
    /// Connections whose peer closed in the middle of a frame.
    pub truncated: u64,
}

/// Framed echo server: each frame comes back with its payload upper-cased, over a pool of `N`
/// sockets, accepting payloads of up to `MAX` bytes.
#[derive(Debug)]
pub struct FramedEcho<const N: usize, const MAX: usize = 1024> {
    pool: ListenerPool<N>,
    /// One decoder per pool slot, at the slot's index.
    decoders: [FrameDecoder<MAX>; N],
    stats: FramedEchoStats,
}

impl<const N: usize, const MAX: usize> FramedEcho<N, MAX> {
    /// Serve `config.port` with one socket per storage entry (at most `N`).
    ///
    /// The transmit buffer must hold the largest reply, `4 + MAX` bytes; a smaller one is a
    /// compile-time error.
    pub fn new<'a, const RX: usize, const TX: usize>(
        stack: &mut Stack<'a>,
        storage: impl IntoIterator<Item = &'a mut TcpStorage<RX, TX>>,
        config: PoolConfig,
    ) -> Result<Self, PoolError> {
        const {
            assert!(
                TX >= HEADER_LEN + MAX,
                "the transmit buffer must hold a whole reply frame (4 + MAX bytes)"
            )
        };
        Ok(FramedEcho {
            pool: ListenerPool::new(stack, storage, config)?,
            decoders: [const { FrameDecoder::new() }; N],
            stats: FramedEchoStats::default(),
        })
    }

    /// The listener pool (counters, stop/start for a restart).
    pub fn pool(&mut self) -> &mut ListenerPool<N> {
        &mut self.pool
    }

    /// Frames echoed and connections dropped.
    pub fn stats(&self) -> FramedEchoStats {
        self.stats
    }
}

impl<const N: usize, const MAX: usize> Service for FramedEcho<N, MAX> {
    fn poll(&mut self, stack: &mut Stack<'_>) -> bool {
        // A new connection starts a new stream: its slot's decoder starts afresh.
        let decoders = &mut self.decoders;
        let mut progress = match self.pool.maintain(stack, |event| {
            if let SlotEvent::Accepted { slot, .. } = event {
                if let Some(decoder) = decoders.get_mut(slot) {
                    decoder.reset();
                }
            }
        }) {
            Ok(changed) => changed,
            Err(e) => {
                log::error!("port {}: {e}", self.pool.port());
                false
            }
        };
        for (slot, handle, conn) in self.pool.connections() {
            let Some(decoder) = self.decoders.get_mut(slot) else {
                continue;
            };
            progress |= echo_frames(stack.tcp(handle), conn, decoder, &mut self.stats);
        }
        progress
    }
}

/// One round of the framed echo on one connection: echo every frame the transmit ring has room
/// for; reset the connection on a framing error; close our side once the peer has finished
/// and everything was answered. Returns whether anything happened.
pub fn echo_frames<const MAX: usize>(
    socket: &mut tcp::Socket<'_>,
    conn: &mut Connection,
    decoder: &mut FrameDecoder<MAX>,
    stats: &mut FramedEchoStats,
) -> bool {
    if conn.closing {
        return false;
    }
    let mut cannot_reply = None;
    let mut sent = 0u64;
    let result = decoder.recv_reply(socket, |frame, socket| {
        match send_frame_with(socket, frame, upper_case) {
            Ok(n) => {
                sent += n as u64;
                Accept::Taken
            }
            // No room for the reply yet: keep the frame, stop reading (backpressure).
            Err(SendFrameError::WouldBlock { .. }) => Accept::Later,
            Err(e) => {
                cannot_reply = Some(e);
                Accept::Later
            }
        }
    });
    conn.tx_bytes += sent;
    let mut progress = sent > 0;
    match result {
        Ok(done) => {
            conn.rx_bytes += done.bytes as u64;
            stats.frames += done.frames as u64;
            progress |= done.made_progress();
        }
        Err(e) => {
            log::warn!("{}: {e}; resetting the connection", conn.remote);
            stats.bad_frames += 1;
            conn.abort(socket);
            return true;
        }
    }
    if let Some(e) = cannot_reply {
        // The socket left ESTABLISHED/CLOSE-WAIT under us: nothing more to say to this peer.
        log::info!("{}: cannot reply ({e}); closing", conn.remote);
        conn.abort(socket);
        return true;
    }
    if conn.peer_done(socket) && decoder.pending().is_none() {
        // The client sent FIN and every whole frame was answered: FIN back after the replies.
        if !decoder.is_idle() {
            log::info!(
                "{}: closed in the middle of a frame ({} bytes of it received)",
                conn.remote,
                decoder.buffered()
            );
            stats.truncated += 1;
        }
        conn.close(socket);
        progress = true;
    }
    progress
}
