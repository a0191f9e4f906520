//! The TCP client of the lesson (program 2): connect, send, receive the upper-cased reply, close.

use heapless::Vec;
use smoltcp::iface::SocketHandle;
use smoltcp::wire::IpEndpoint;

use super::{ClientError, Mismatch, Service, Verdict};
use crate::tcp::{ClientState, ConnectError, EphemeralPorts, TcpClient};
use crate::Stack;

/// How many reply bytes are kept for display.
const SHOWN: usize = 64;

/// Sends `payload` to an upper-case echo server and checks every byte of the reply against
/// `payload` upper-cased, as it streams in (nothing is buffered beyond one read). Closes once
/// the whole reply arrived, then reports the outcome: a [`Verdict`] on the reply, or the
/// [`ClientError`] that kept it from finishing.
///
/// ## Keep the echo's buffers from filling: [`EchoClient::with_window`]
///
/// An echo is a loop: the server can only read what it can write back. A client that sends
/// faster than it reads fills the server's send buffer, then its receive buffer, and the server
/// advertises a zero window. On a lossy link smoltcp 0.14 can then livelock: its fast
/// retransmit sends a full segment even past the peer's window, which moves the sender's
/// `SND.NXT` beyond the receiver's window; the receiver, its window at zero, drops every later
/// segment of the sender *without reading its ACK* (RFC 9293 asks to process valid ACKs even
/// then), so its send buffer never empties and its window never reopens. Only the sender's
/// retransmission timer (backed off to up to 60 s) breaks the loop, once per timeout. The
/// network simulator (`tests/sim.rs`) found this. A client that keeps at most the server's
/// send-buffer size in flight never lets the server's receive window close, and never meets it.
///
/// By default the window is this client's own receive buffer, which is right when both ends use
/// the same buffer sizes (as every program in this crate does); call `with_window` otherwise.
#[derive(Debug)]
pub struct EchoClient<'d> {
    client: TcpClient,
    payload: &'d [u8],
    window: usize,
    sent: usize,
    received: usize,
    closing: bool,
    shown: Vec<u8, SHOWN>,
    outcome: Option<Result<Verdict, ClientError>>,
}

impl<'d> EchoClient<'d> {
    /// Connect the TCP socket behind `handle` to `server` and start sending `payload`.
    pub fn connect(
        stack: &mut Stack<'_>,
        handle: SocketHandle,
        server: IpEndpoint,
        ports: &mut EphemeralPorts,
        payload: &'d [u8],
    ) -> Result<Self, ConnectError> {
        let mut client = TcpClient::new(handle);
        client.connect(stack, server, ports)?;
        let window = client.socket(stack).recv_capacity().max(1);
        Ok(EchoClient {
            client,
            payload,
            window,
            sent: 0,
            received: 0,
            closing: false,
            shown: Vec::new(),
            outcome: None,
        })
    }

    /// Keep at most `bytes` sent but not yet echoed back (at least 1): an application-level
    /// window. Size it to the server's send buffer (see the type's docs).
    pub fn with_window(mut self, bytes: usize) -> Self {
        self.window = bytes.max(1);
        self
    }

    /// `None` while running; then `Ok(Verdict::Verified)` if the whole reply was correct and
    /// the connection closed cleanly, `Ok(Verdict::Mismatch(..))` at the first wrong byte, or
    /// the error that ended the run.
    pub fn outcome(&self) -> Option<Result<Verdict, ClientError>> {
        self.outcome
    }

    /// Bytes of the reply checked so far.
    pub fn received(&self) -> usize {
        self.received
    }

    /// The first bytes of the reply, for display.
    pub fn reply_prefix(&self) -> &[u8] {
        &self.shown
    }

    /// The socket used (reusable for another connection once this one is over).
    pub fn handle(&self) -> SocketHandle {
        self.client.handle()
    }

    /// The local port used.
    pub fn local_port(&self) -> u16 {
        self.client.local_port()
    }

    /// Abort the connection (RST), as a client that vanishes mid-stream.
    pub fn abort(&mut self, stack: &mut Stack<'_>) {
        self.client.abort(stack);
        self.outcome = Some(Err(ClientError::Reset));
    }

    fn finish(&mut self, outcome: Result<Verdict, ClientError>) -> bool {
        self.outcome = Some(outcome);
        true
    }

    fn check(&mut self, reply: &[u8]) -> Result<(), Mismatch> {
        let start = self.received;
        for (i, &b) in reply.iter().enumerate() {
            let expected = self.payload.get(start + i).map(u8::to_ascii_uppercase);
            if expected != Some(b) {
                return Err(Mismatch::Byte {
                    offset: (start + i) as u64,
                });
            }
        }
        let room = SHOWN - self.shown.len();
        self.shown
            .extend_from_slice(&reply[..reply.len().min(room)])
            .ok();
        self.received += reply.len();
        Ok(())
    }
}

impl Service for EchoClient<'_> {
    fn poll(&mut self, stack: &mut Stack<'_>) -> bool {
        if self.outcome.is_some() {
            return false;
        }
        match self.client.state(stack) {
            ClientState::Idle | ClientState::Connecting => return false,
            ClientState::Refused => return self.finish(Err(ClientError::Refused)),
            ClientState::Reset => return self.finish(Err(ClientError::Reset)),
            ClientState::Closed => {
                let complete = self.received == self.payload.len();
                return self.finish(if complete {
                    Ok(Verdict::Verified)
                } else {
                    Err(ClientError::Reset)
                });
            }
            ClientState::Connected => {}
        }
        let mut progress = false;
        let limit = self
            .received
            .saturating_add(self.window)
            .min(self.payload.len());
        if self.sent < limit {
            if let Ok(n) = self.client.send(stack, &self.payload[self.sent..limit]) {
                self.sent += n;
                progress |= n > 0;
            }
        }
        let mut buf = [0u8; 1024];
        loop {
            let n = match self.client.recv(stack, &mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                // The server closed its side; `state` reports how on the next poll.
                Err(_) => break,
            };
            progress = true;
            if let Err(mismatch) = self.check(&buf[..n]) {
                self.client.abort(stack);
                return self.finish(Ok(Verdict::Mismatch(mismatch)));
            }
        }
        if self.received == self.payload.len() && !self.closing {
            self.client.close(stack);
            self.closing = true;
            progress = true;
        }
        progress
    }
}
