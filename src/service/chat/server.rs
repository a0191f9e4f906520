//! The chat server (lesson program 3): a line in, a line from the operator back.

use smoltcp::wire::IpEndpoint;

use super::{LineBuffer, Printable};
use crate::service::Service;
use crate::storage::TcpStorage;
use crate::tcp::{ListenerPool, PoolConfig, PoolError, SlotEvent};
use crate::Stack;

/// Who answers the chat server's clients.
pub trait Operator {
    /// Write the reply to `line` from `from` into `reply`; return its length (without `\n`).
    fn reply(&mut self, from: IpEndpoint, line: &[u8], reply: &mut [u8]) -> usize;
}

impl<F: FnMut(IpEndpoint, &[u8], &mut [u8]) -> usize> Operator for F {
    fn reply(&mut self, from: IpEndpoint, line: &[u8], reply: &mut [u8]) -> usize {
        self(from, line, reply)
    }
}

/// The chat server: lines in, operator's lines out, one `LineBuffer<LINE>` per connection.
pub struct ChatServer<O: Operator, const N: usize, const LINE: usize = 256> {
    pool: ListenerPool<N>,
    lines: [LineBuffer<LINE>; N],
    operator: O,
}

impl<O: Operator, const N: usize, const LINE: usize> ChatServer<O, N, LINE> {
    /// Serve `config.port` with one socket per storage entry; `operator` writes the replies.
    pub fn new<'a, const RX: usize, const TX: usize>(
        stack: &mut Stack<'a>,
        storage: impl IntoIterator<Item = &'a mut TcpStorage<RX, TX>>,
        config: PoolConfig,
        operator: O,
    ) -> Result<Self, PoolError> {
        Ok(ChatServer {
            pool: ListenerPool::new(stack, storage, config)?,
            lines: [const { LineBuffer::new() }; N],
            operator,
        })
    }

    /// The listener pool.
    pub fn pool(&mut self) -> &mut ListenerPool<N> {
        &mut self.pool
    }
}

impl<O: Operator, const N: usize, const LINE: usize> Service for ChatServer<O, N, LINE> {
    fn poll(&mut self, stack: &mut Stack<'_>) -> bool {
        // A new connection starts with an empty line buffer, whatever the last one left.
        let lines = &mut self.lines;
        let mut progress = match self.pool.maintain(stack, |event| {
            if let SlotEvent::Accepted { slot, .. } = event {
                if let Some(line_buf) = lines.get_mut(slot) {
                    line_buf.clear();
                }
            }
        }) {
            Ok(changed) => changed,
            Err(e) => {
                log::error!("chat: {e}");
                false
            }
        };
        let mut reply = [0u8; LINE];
        for (slot, handle, conn) in self.pool.connections() {
            let Some(line_buf) = self.lines.get_mut(slot) else {
                continue;
            };
            let socket = stack.tcp(handle);
            let remote = socket.remote_endpoint().unwrap_or(crate::tcp::UNKNOWN_PEER);
            loop {
                // Only take a line when its reply surely fits: backpressure, nothing dropped.
                if socket.send_capacity() - socket.send_queue() < LINE + 1 {
                    break;
                }
                match line_buf.read_line(socket) {
                    Ok(Some(line)) if is_goodbye(line) => {
                        // The lesson's client says `yes` and leaves: nothing to reply to.
                        progress = true;
                        log::info!("chat: {remote} says yes: closing");
                        conn.rx_bytes += line.len() as u64 + 1;
                        line_buf.clear();
                        conn.close(socket);
                        break;
                    }
                    Ok(Some(line)) => {
                        progress = true;
                        log::info!("chat from {remote}: {}", Printable(line));
                        conn.rx_bytes += line.len() as u64 + 1;
                        let n = self.operator.reply(remote, line, &mut reply).min(LINE);
                        socket.send_slice(&reply[..n]).ok();
                        socket.send_slice(b"\n").ok();
                        conn.tx_bytes += n as u64 + 1;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        log::warn!("chat: {remote}: {e}; resetting that connection");
                        conn.abort(socket);
                        line_buf.clear();
                        progress = true;
                        break;
                    }
                }
            }
            if conn.peer_done(socket) {
                log::info!("chat: {remote} left");
                line_buf.clear();
                conn.close(socket);
                progress = true;
            }
        }
        progress
    }
}

/// `yes` (blanks around it allowed): the client's goodbye, as [`ChatInput::classify`] has it.
fn is_goodbye(line: &[u8]) -> bool {
    line.trim_ascii() == b"yes"
}
