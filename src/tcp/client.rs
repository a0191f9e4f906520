//! A TCP client: connect, send, receive, close.
//!
//! A thin state machine over one smoltcp socket that adds what BSD's blocking calls tell you
//! for free: whether `connect` was refused, whether the peer reset the connection, and which
//! local port to use ([`EphemeralPorts`]).
//!
//! ```text
//!   Idle ──connect()──▶ Connecting ──SYN-ACK──▶ Connected ──close()/FIN──▶ Closed
//!                           │                       │
//!                           └── RST ──▶ Refused     └── RST/timeout ──▶ Reset
//! ```

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::Duration;
use smoltcp::wire::IpEndpoint;

use super::{ConnectError, EphemeralPorts};
use crate::Stack;

/// Keep-alive interval a [`TcpClient`] sets on its socket unless one is set already.
pub const CLIENT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Where a [`TcpClient`]'s connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// Not connected yet (or reused after a close).
    Idle,
    /// SYN sent, waiting for the server.
    Connecting,
    /// The connection is open (possibly half-closed by one side).
    Connected,
    /// The connection finished with FIN both ways (the socket may sit in TIME-WAIT).
    Closed,
    /// The server answered the SYN with RST, or the handshake timed out.
    Refused,
    /// The connection was reset or timed out after it was established.
    Reset,
}

/// One TCP client connection on a socket of the stack.
#[derive(Debug)]
pub struct TcpClient {
    handle: SocketHandle,
    state: ClientState,
    local_port: u16,
    peer_finished: bool,
}

impl TcpClient {
    /// A client using the TCP socket behind `handle` (see [`Stack::add_tcp`]).
    pub fn new(handle: SocketHandle) -> Self {
        TcpClient {
            handle,
            state: ClientState::Idle,
            local_port: 0,
            peer_finished: false,
        }
    }

    /// The socket used.
    pub fn handle(&self) -> SocketHandle {
        self.handle
    }

    /// The local port of the current or last connection (0 before the first).
    pub fn local_port(&self) -> u16 {
        self.local_port
    }

    /// Start connecting to `remote` from a fresh ephemeral port.
    ///
    /// The socket must not be open; a finished connection (even in TIME-WAIT) may be reused,
    /// since the new connection gets another local port.
    pub fn connect(
        &mut self,
        stack: &mut Stack<'_>,
        remote: IpEndpoint,
        ports: &mut EphemeralPorts,
    ) -> Result<u16, ConnectError> {
        // Reusing a socket that sits in TIME-WAIT ends that wait (smoltcp resets it in
        // `connect`). The old port is then free in the set, but the allocator's cursor walks the
        // whole range before it comes back to it, so the old 4-tuple is not reused early.
        let port = ports.allocate(stack.sockets())?;
        stack.connect(self.handle, (remote.addr, remote.port), port)?;
        // A lost FIN must be retransmitted. smoltcp 0.14 stops the retransmission timer when
        // three duplicate ACKs trigger a fast retransmit while only our FIN is unacknowledged
        // (there is no data to resend), and then never resends the FIN: the connection sits in
        // FIN-WAIT-1 for ever. A keep-alive probe carries a byte, which restarts the timer, and
        // its timeout rewinds and resends the FIN. (Found by the network simulator.)
        let socket = stack.tcp(self.handle);
        if socket.keep_alive().is_none() {
            socket.set_keep_alive(Some(CLIENT_KEEP_ALIVE));
        }
        self.state = ClientState::Connecting;
        self.local_port = port;
        self.peer_finished = false;
        Ok(port)
    }

    /// Follow the socket and report where the connection is.
    pub fn state(&mut self, stack: &mut Stack<'_>) -> ClientState {
        let socket = stack.tcp(self.handle);
        let now = socket.state();
        if matches!(
            now,
            State::CloseWait | State::LastAck | State::Closing | State::TimeWait
        ) {
            self.peer_finished = true;
        }
        self.state = match (self.state, now) {
            (ClientState::Connecting, State::SynSent | State::SynReceived) => {
                ClientState::Connecting
            }
            (ClientState::Connecting, State::Closed) => ClientState::Refused,
            (ClientState::Connecting | ClientState::Connected, State::TimeWait) => {
                ClientState::Closed
            }
            (ClientState::Connected, State::Closed) => {
                if self.peer_finished {
                    ClientState::Closed
                } else {
                    ClientState::Reset
                }
            }
            (ClientState::Connecting, _) => ClientState::Connected,
            (other, _) => other,
        };
        self.state
    }

    /// Queue as much of `data` as fits in the send buffer; returns how much was queued.
    pub fn send(&mut self, stack: &mut Stack<'_>, data: &[u8]) -> Result<usize, tcp::SendError> {
        stack.tcp(self.handle).send_slice(data)
    }

    /// Take received bytes into `buf`; returns how many (0: none yet).
    /// After the peer closed and everything was read, returns `Err(RecvError::Finished)`.
    pub fn recv(&mut self, stack: &mut Stack<'_>, buf: &mut [u8]) -> Result<usize, tcp::RecvError> {
        stack.tcp(self.handle).recv_slice(buf)
    }

    /// Whether everything sent has been acknowledged by the peer.
    pub fn all_acked(&self, stack: &mut Stack<'_>) -> bool {
        stack.tcp(self.handle).send_queue() == 0
    }

    /// The socket itself, for anything not wrapped here.
    pub fn socket<'s, 'a>(&self, stack: &'s mut Stack<'a>) -> &'s mut tcp::Socket<'a> {
        stack.tcp(self.handle)
    }

    /// Close gracefully: FIN after everything queued has been sent.
    pub fn close(&mut self, stack: &mut Stack<'_>) {
        stack.tcp(self.handle).close();
    }

    /// Abort: send RST and forget the connection (the "client vanishes" case).
    pub fn abort(&mut self, stack: &mut Stack<'_>) {
        stack.tcp(self.handle).abort();
        if self.state == ClientState::Connected || self.state == ClientState::Connecting {
            self.state = ClientState::Reset;
        }
    }
}
