//! The upper-case echo server (lesson programs 1 and 6): TCP port 8000 with a backlog.

use smoltcp::socket::tcp;

use super::{upper_case, Service};
use crate::storage::TcpStorage;
use crate::tcp::{Connection, ListenerPool, PoolConfig, PoolError};
use crate::Stack;

/// Bytes moved per copy step (the lesson's `recv(1024)`).
const CHUNK: usize = 1024;

/// Echo server replying with the bytes upper-cased, over a pool of `N` sockets.
#[derive(Debug)]
pub struct UpperEcho<const N: usize> {
    pool: ListenerPool<N>,
}

impl<const N: usize> UpperEcho<N> {
    /// Serve `config.port` with one socket per storage entry (at most `N`).
    pub fn new<'a, const RX: usize, const TX: usize>(
        stack: &mut Stack<'a>,
        storage: impl IntoIterator<Item = &'a mut TcpStorage<RX, TX>>,
        config: PoolConfig,
    ) -> Result<Self, PoolError> {
        Ok(UpperEcho {
            pool: ListenerPool::new(stack, storage, config)?,
        })
    }

    /// The listener pool (counters, stop/start for a restart).
    pub fn pool(&mut self) -> &mut ListenerPool<N> {
        &mut self.pool
    }
}

impl<const N: usize> Service for UpperEcho<N> {
    fn poll(&mut self, stack: &mut Stack<'_>) -> bool {
        let mut progress = match self.pool.maintain(stack, |_| {}) {
            Ok(changed) => changed,
            Err(e) => {
                log::error!("port {}: {e}", self.pool.port());
                false
            }
        };
        // One scratch buffer for every connection of this round.
        let mut chunk = [0u8; CHUNK];
        for (_, handle, conn) in self.pool.connections() {
            progress |= pump(stack.tcp(handle), conn, &mut chunk, upper_case);
        }
        progress
    }
}

/// Move everything readable from `socket` back into it through `transform`, `chunk` bytes at a
/// time, as far as the send buffer allows; close our side once the peer has finished and
/// everything was echoed.
///
/// Returns `true` if any byte moved or the socket was closed. When the send buffer is full the
/// rest stays in the receive buffer: the receive window shrinks and TCP slows the client down;
/// nothing is dropped.
pub fn pump(
    socket: &mut tcp::Socket<'_>,
    conn: &mut Connection,
    chunk: &mut [u8],
    mut transform: impl FnMut(&mut [u8]),
) -> bool {
    let mut progress = false;
    while socket.can_recv() {
        let room = socket.send_capacity() - socket.send_queue();
        let want = room.min(chunk.len());
        if want == 0 {
            break;
        }
        let Ok(n) = socket.recv_slice(&mut chunk[..want]) else {
            break;
        };
        if n == 0 {
            break;
        }
        let data = &mut chunk[..n];
        transform(data);
        // `want` bytes of room were free, so all `n <= want` bytes fit.
        let sent = socket.send_slice(data).unwrap_or(0);
        conn.rx_bytes += n as u64;
        conn.tx_bytes += sent as u64;
        progress = true;
    }
    if conn.peer_done(socket) {
        // The client sent FIN and we echoed everything: FIN back (after the queued data).
        conn.close(socket);
        progress = true;
    }
    progress
}
