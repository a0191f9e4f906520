//! The framed counterpart of [`EchoClient`](super::EchoClient): sends messages as length-prefixed
//! frames to the framed echo (TCP 9000) and checks that each comes back as one frame, upper-cased,
//! in order. Used by the demo's tests, the simulator, the TAP tests and the firmware checks.

use smoltcp::iface::SocketHandle;
use smoltcp::wire::IpEndpoint;

use super::{ClientError, Mismatch, Service, Verdict};
use crate::frame::{send_frame, Accept, FrameDecoder, SendFrameError, HEADER_LEN};
use crate::tcp::{ClientState, ConnectError, EphemeralPorts, TcpClient};
use crate::Stack;

/// Sends `frames` and checks every reply frame against its frame upper-cased, streaming.
///
/// `MAX` is the largest reply payload the client's decoder takes. As with
/// [`EchoClient::with_window`](super::EchoClient::with_window), [`with_window`](Self::with_window)
/// bounds the bytes sent but not yet echoed; on a lossy link keep it within the server's send
/// buffer. By default it is this client's own receive buffer, right when both ends use the same
/// buffer sizes.
#[derive(Debug)]
pub struct FramedEchoClient<'d, F: AsRef<[u8]>, const MAX: usize> {
    client: TcpClient,
    frames: &'d [F],
    window: usize,
    sent: usize,
    checked: usize,
    outstanding: usize,
    decoder: FrameDecoder<MAX>,
    closing: bool,
    outcome: Option<Result<Verdict, ClientError>>,
}

impl<'d, F: AsRef<[u8]>, const MAX: usize> FramedEchoClient<'d, F, MAX> {
    /// Connect the TCP socket behind `handle` to `server` and start sending `frames`.
    pub fn connect(
        stack: &mut Stack<'_>,
        handle: SocketHandle,
        server: IpEndpoint,
        ports: &mut EphemeralPorts,
        frames: &'d [F],
    ) -> Result<Self, ConnectError> {
        let mut client = TcpClient::new(handle);
        client.connect(stack, server, ports)?;
        let window = client.socket(stack).recv_capacity().max(1);
        Ok(FramedEchoClient {
            client,
            frames,
            window,
            sent: 0,
            checked: 0,
            outstanding: 0,
            decoder: FrameDecoder::new(),
            closing: false,
            outcome: None,
        })
    }

    /// Keep at most `bytes` (headers included) sent but not yet echoed.
    pub fn with_window(mut self, bytes: usize) -> Self {
        self.window = bytes.max(1);
        self
    }

    /// `None` while running; then `Ok(Verdict::Verified)` if every reply was right and the
    /// connection closed cleanly, `Ok(Verdict::Mismatch(..))` at the first wrong frame, or the
    /// error that ended the run.
    pub fn outcome(&self) -> Option<Result<Verdict, ClientError>> {
        self.outcome
    }

    /// Reply frames checked so far.
    pub fn checked(&self) -> usize {
        self.checked
    }

    /// The socket used.
    pub fn handle(&self) -> SocketHandle {
        self.client.handle()
    }

    fn finish(&mut self, outcome: Result<Verdict, ClientError>) -> bool {
        self.outcome = Some(outcome);
        true
    }
}

impl<F: AsRef<[u8]>, const MAX: usize> Service for FramedEchoClient<'_, F, MAX> {
    fn poll(&mut self, stack: &mut Stack<'_>) -> bool {
        if self.outcome.is_some() {
            return false;
        }
        let complete = self.checked == self.frames.len();
        match self.client.state(stack) {
            ClientState::Idle | ClientState::Connecting => return false,
            ClientState::Connected => {}
            ClientState::Closed if complete => return self.finish(Ok(Verdict::Verified)),
            ClientState::Refused => return self.finish(Err(ClientError::Refused)),
            ClientState::Closed | ClientState::Reset => {
                return self.finish(Err(ClientError::Reset))
            }
        }
        let socket = self.client.socket(stack);
        let mut progress = false;
        while let Some(frame) = self.frames.get(self.sent) {
            let size = HEADER_LEN + frame.as_ref().len();
            if self.outstanding.saturating_add(size) > self.window && self.outstanding > 0 {
                break;
            }
            match send_frame(socket, frame.as_ref()) {
                Ok(_) => {
                    self.sent += 1;
                    self.outstanding += size;
                    progress = true;
                }
                Err(SendFrameError::WouldBlock { .. }) => break,
                Err(e) => {
                    socket.abort();
                    return self.finish(Err(e.into()));
                }
            }
        }
        let (frames, checked, outstanding) =
            (self.frames, &mut self.checked, &mut self.outstanding);
        let mut wrong = None;
        let result = self.decoder.recv_from(socket, |reply| {
            let expected = frames.get(*checked).map(AsRef::as_ref);
            let matches = expected.is_some_and(|e| {
                e.len() == reply.len()
                    && e.iter()
                        .zip(reply)
                        .all(|(a, b)| a.to_ascii_uppercase() == *b)
            });
            if !matches {
                wrong.get_or_insert(*checked);
            }
            *checked += 1;
            *outstanding = outstanding.saturating_sub(HEADER_LEN + reply.len());
            Accept::Taken
        });
        match (result, wrong) {
            (Ok(p), None) => progress |= p.made_progress(),
            (Err(e), _) => {
                socket.abort();
                return self.finish(Err(e.into()));
            }
            (Ok(_), Some(index)) => {
                socket.abort();
                return self.finish(Ok(Verdict::Mismatch(Mismatch::Frame { index })));
            }
        }
        if self.checked == self.frames.len() && !self.closing {
            self.client.close(stack);
            self.closing = true;
            progress = true;
        }
        progress
    }
}
