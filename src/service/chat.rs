//! The line chat of the lesson (programs 3 and 4), TCP port 8080.
//!
//! Lines travel as bytes ending in `\n` (a trailing `\r` is dropped). A line longer than the
//! line buffer is a hostile or broken peer: that connection is reset, the others go on.
//!
//! - [`ChatServer`]: receives a line, shows it, replies with a line from an [`Operator`] (a
//!   person at a terminal, or a script). A client's `yes` is its goodbye: no reply, the server
//!   closes that connection.
//! - [`ChatClient`]: sends the user's lines; an empty line is refused with a message and not
//!   sent; `yes` or the end of input closes the connection.
//!
//! Every chat client shows the user the same words: [`PROMPT`], [`EMPTY_REFUSED`], [`BYE`].

use heapless::Vec;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;
use smoltcp::wire::IpEndpoint;

use super::Service;
use crate::storage::TcpStorage;
use crate::tcp::{ClientState, EphemeralPorts, ListenerPool, PoolConfig, SlotEvent, TcpClient};
use crate::{Error, Stack};

/// What a chat client shows before each line the user types.
pub const PROMPT: &str = "message (yes to quit)> ";
/// What a chat client says when the user typed an empty line (nothing is sent).
pub const EMPTY_REFUSED: &str = "empty line refused: type a message, or yes to quit";
/// What a chat client says when the user leaves (`yes` or the end of input).
pub const BYE: &str = "bye";

/// Bytes of one line, without its `\n`, held until the line is complete.
#[derive(Debug, Default)]
pub struct LineBuffer<const MAX: usize> {
    buf: Vec<u8, MAX>,
    complete: bool,
}

enum Scan {
    Line,
    Partial(usize),
}

impl<const MAX: usize> LineBuffer<MAX> {
    /// An empty line buffer.
    pub const fn new() -> Self {
        LineBuffer {
            buf: Vec::new(),
            complete: false,
        }
    }

    /// Forget any partial line.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.complete = false;
    }

    /// Read from `socket` until a whole line is there; `Ok(None)` if it is not complete yet.
    /// The line stays valid until the next call.
    pub fn read_line(&mut self, socket: &mut tcp::Socket<'_>) -> Result<Option<&[u8]>, Error> {
        if self.complete {
            self.clear();
        }
        loop {
            let room = MAX - self.buf.len();
            let buf = &mut self.buf;
            let scan = socket.recv(|data| {
                // A newline right after `room` bytes still completes a line of exactly MAX.
                let window = &data[..data.len().min(room + 1)];
                match window.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        buf.extend_from_slice(&window[..i]).ok();
                        (i + 1, Scan::Line)
                    }
                    None => {
                        let take = data.len().min(room);
                        buf.extend_from_slice(&data[..take]).ok();
                        (take, Scan::Partial(take))
                    }
                }
            });
            match scan {
                Ok(Scan::Line) => {
                    if self.buf.last() == Some(&b'\r') {
                        self.buf.pop();
                    }
                    self.complete = true;
                    return Ok(Some(&self.buf));
                }
                Ok(Scan::Partial(_)) if self.buf.len() == MAX => {
                    return Err(Error::LineTooLong { max: MAX })
                }
                Ok(Scan::Partial(0)) | Err(_) => return Ok(None),
                Ok(Scan::Partial(_)) => {}
            }
        }
    }
}

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
    ) -> Result<Self, Error> {
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

/// Shows received bytes in a log line: UTF-8 as text, anything else escaped.
pub struct Printable<'b>(pub &'b [u8]);

impl core::fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// What the user typed, as the chat client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatInput<'l> {
    /// An empty (or blank) line: refused, nothing is sent.
    Empty,
    /// `yes`, or the end of input: leave the chat.
    Quit,
    /// A line to send.
    Message(&'l str),
}

impl<'l> ChatInput<'l> {
    /// Classify a line typed by the user (`None`: end of input).
    pub fn classify(line: Option<&'l str>) -> Self {
        match line.map(|l| l.trim_end_matches(['\r', '\n'])) {
            None => ChatInput::Quit,
            Some(l) if l.trim().is_empty() => ChatInput::Empty,
            Some(l) if l.trim() == "yes" => ChatInput::Quit,
            Some(l) => ChatInput::Message(l),
        }
    }
}

/// What [`ChatClient::submit`] did with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// The line was empty; nothing was sent. Show the user a message and ask again.
    Refused,
    /// The user quit; the connection is closing.
    Quit,
    /// The line was sent; a reply will follow.
    Sent,
}

/// The chat client: one connection, user lines out, reply lines in.
#[derive(Debug)]
pub struct ChatClient<const LINE: usize = 256> {
    client: TcpClient,
    reply: LineBuffer<LINE>,
}

impl<const LINE: usize> ChatClient<LINE> {
    /// Connect the TCP socket behind `handle` to `server`.
    pub fn connect(
        stack: &mut Stack<'_>,
        handle: SocketHandle,
        server: IpEndpoint,
        ports: &mut EphemeralPorts,
    ) -> Result<Self, Error> {
        let mut client = TcpClient::new(handle);
        client.connect(stack, server, ports)?;
        Ok(ChatClient {
            client,
            reply: LineBuffer::new(),
        })
    }

    /// Where the connection is.
    pub fn state(&mut self, stack: &mut Stack<'_>) -> ClientState {
        self.client.state(stack)
    }

    /// Handle one line of user input (`None`: end of input).
    /// `Err(WouldBlock)`: not connected yet or no room; poll and retry.
    pub fn submit(
        &mut self,
        stack: &mut Stack<'_>,
        line: Option<&str>,
    ) -> Result<Submitted, Error> {
        match ChatInput::classify(line) {
            ChatInput::Empty => Ok(Submitted::Refused),
            ChatInput::Quit => {
                self.client.close(stack);
                Ok(Submitted::Quit)
            }
            ChatInput::Message(text) => {
                if text.len() > LINE {
                    return Err(Error::LineTooLong { max: LINE });
                }
                let socket = self.client.socket(stack);
                if !socket.may_send()
                    || socket.send_capacity() - socket.send_queue() < text.len() + 1
                {
                    return Err(Error::WouldBlock);
                }
                socket.send_slice(text.as_bytes())?;
                socket.send_slice(b"\n")?;
                Ok(Submitted::Sent)
            }
        }
    }

    /// The server's next reply line, once complete.
    pub fn reply<'s>(&'s mut self, stack: &mut Stack<'_>) -> Result<Option<&'s [u8]>, Error> {
        self.reply.read_line(self.client.socket(stack))
    }
}
