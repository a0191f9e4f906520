//! `TcpClientStack` and `TcpFullStack`: connect, send, receive, close; bind, listen, accept.

use core::net::SocketAddr;

use embedded_nal::{nb, TcpClientStack, TcpFullStack};
use smoltcp::iface::SocketHandle;
use smoltcp::phy::Device;
use smoltcp::socket::tcp::{RecvError, State};
use smoltcp::wire::IpEndpoint;

use super::error::{endpoint, socket_addr};
use super::{free_entry, live, Listener, NalError, NalStack};
use crate::clock::Clock;
use crate::tcp::{ClientState, ListenerPool, PoolConfig, TcpClient};
use crate::Stack;

/// A TCP socket of a [`NalStack`]: a token for an entry of its table (not `Clone`: `close`
/// takes it, so a closed socket cannot be used again).
#[derive(Debug)]
pub struct TcpSocket {
    pub(super) index: usize,
}

/// What a TCP token stands for.
#[derive(Debug)]
pub(super) enum Entry {
    /// Not in use.
    Free,
    /// `socket()` was called; nothing else yet.
    Fresh,
    /// `bind` was called: the port and the pool configuration `listen` will use.
    Bound { port: u16, config: PoolConfig },
    /// Listening through `listeners[listener]`.
    Listening { listener: usize },
    /// A client connection (connecting or connected).
    Client { client: TcpClient },
    /// A connection handed out by `accept`; `alive` until its pool slot ends it.
    Accepted {
        listener: usize,
        handle: SocketHandle,
        remote: IpEndpoint,
        alive: bool,
    },
}

/// Try to receive: `Ok(None)` would block, `Ok(Some(0))` is the end of the stream.
fn try_receive(
    stack: &mut Stack<'_>,
    handle: SocketHandle,
    buf: &mut [u8],
) -> Result<Option<usize>, NalError> {
    let socket = stack.tcp(handle);
    if matches!(socket.state(), State::SynSent | State::SynReceived) {
        return Ok(None);
    }
    match socket.recv_slice(buf) {
        Ok(0) if !buf.is_empty() => Ok(None),
        Ok(n) => Ok(Some(n)),
        Err(RecvError::Finished) => Ok(Some(0)),
        Err(_) => Err(NalError::Closed),
    }
}

/// Try to queue `buf`: `Ok(None)` would block (send buffer full, or still connecting).
fn try_send(
    stack: &mut Stack<'_>,
    handle: SocketHandle,
    buf: &[u8],
) -> Result<Option<usize>, NalError> {
    let socket = stack.tcp(handle);
    if matches!(socket.state(), State::SynSent | State::SynReceived) {
        return Ok(None);
    }
    if !socket.may_send() {
        return Err(NalError::Closed);
    }
    match socket.send_slice(buf) {
        Ok(0) if !buf.is_empty() => Ok(None),
        Ok(n) => Ok(Some(n)),
        Err(_) => Err(NalError::Closed),
    }
}

impl<
        const P: usize,
        const N: usize,
        D: Device,
        C: Clock,
        const RX: usize,
        const TX: usize,
        const DG: usize,
        const BY: usize,
    > NalStack<'_, '_, P, N, D, C, RX, TX, DG, BY>
{
    /// The socket behind a connected token (client or accepted).
    fn connection(&self, socket: &TcpSocket) -> Result<SocketHandle, NalError> {
        match self.tcp.get(socket.index) {
            Some(Entry::Client { client }) => Ok(client.handle()),
            Some(Entry::Accepted {
                handle,
                alive: true,
                ..
            }) => Ok(*handle),
            Some(Entry::Accepted { alive: false, .. }) => Err(NalError::Closed),
            _ => Err(NalError::InvalidState),
        }
    }

    /// Where the client connection of `index` is.
    fn client_state(&mut self, index: usize) -> Option<ClientState> {
        match self.tcp.get_mut(index) {
            Some(Entry::Client { client }) => Some(client.state(self.stack)),
            _ => None,
        }
    }

    /// Run `op` on the connection; when it would block, poll and run it once more.
    fn with_connection<T>(
        &mut self,
        socket: &TcpSocket,
        mut op: impl FnMut(&mut Stack<'_>, SocketHandle) -> Result<Option<T>, NalError>,
    ) -> nb::Result<T, NalError> {
        let handle = self.connection(socket)?;
        if let Some(done) = op(self.stack, handle)? {
            return Ok(done);
        }
        if !self.poll_on_block {
            return Err(nb::Error::WouldBlock);
        }
        self.poll();
        let handle = self.connection(socket)?;
        op(self.stack, handle)?.ok_or(nb::Error::WouldBlock)
    }

    fn start_listening(&mut self, index: usize) -> Result<(), NalError> {
        let Some(Entry::Bound { port, config }) = self.tcp.get(index) else {
            return Err(NalError::InvalidState);
        };
        let (port, config) = (*port, *config);
        if let Some(i) = self
            .listeners
            .iter()
            .position(|l| !l.open && l.pool.port() == port)
        {
            // The same port again: the stopped pool listens at once (no TIME-WAIT).
            self.listeners[i].pool.start(self.stack)?;
            self.listeners[i].open = true;
            self.tcp[index] = Entry::Listening { listener: i };
            return Ok(());
        }
        if self.listeners.is_full() {
            return Err(NalError::NoSocket);
        }
        // One socket for the connection being served, `backlog` for those waiting.
        let want = P.min(config.backlog.saturating_add(1));
        let memory = core::mem::take(&mut self.tcp_memory);
        let take = want.min(memory.len());
        if take == 0 {
            self.tcp_memory = memory;
            return Err(NalError::NoMemory);
        }
        let (mine, rest) = memory.split_at_mut(take);
        self.tcp_memory = rest;
        let config = PoolConfig {
            backlog: config.backlog.min(take),
            ..config
        };
        let pool = ListenerPool::new(self.stack, mine.iter_mut(), config)?;
        let listener = self.listeners.len();
        // Checked `is_full` above.
        self.listeners
            .push(Listener {
                pool,
                queue: heapless::Deque::new(),
                open: true,
            })
            .ok();
        self.tcp[index] = Entry::Listening { listener };
        Ok(())
    }
}

impl<
        const P: usize,
        const N: usize,
        D: Device,
        C: Clock,
        const RX: usize,
        const TX: usize,
        const DG: usize,
        const BY: usize,
    > TcpClientStack for NalStack<'_, '_, P, N, D, C, RX, TX, DG, BY>
{
    type TcpSocket = TcpSocket;
    type Error = NalError;

    fn socket(&mut self) -> Result<TcpSocket, NalError> {
        let index = free_entry(&mut self.tcp, |e| matches!(e, Entry::Free))?;
        self.tcp[index] = Entry::Fresh;
        Ok(TcpSocket { index })
    }

    fn connect(&mut self, socket: &mut TcpSocket, remote: SocketAddr) -> nb::Result<(), NalError> {
        let index = socket.index;
        if matches!(
            self.tcp.get(index),
            Some(Entry::Fresh | Entry::Bound { .. })
        ) {
            let remote = endpoint(remote)?;
            let handle = self.client_socket()?;
            let mut client = TcpClient::new(handle);
            if let Err(e) = client.connect(self.stack, remote, &mut self.ports) {
                self.spare_tcp.push(handle).ok();
                return Err(NalError::from(e).into());
            }
            self.tcp[index] = Entry::Client { client };
        }
        let ready = |s: &mut Self| s.client_state(index) != Some(ClientState::Connecting);
        if !self.poll_if(ready) {
            return Err(nb::Error::WouldBlock);
        }
        match self.client_state(index) {
            Some(ClientState::Connected | ClientState::Closed) => Ok(()),
            Some(ClientState::Refused) => Err(NalError::Refused.into()),
            Some(ClientState::Reset) => Err(NalError::Closed.into()),
            _ => Err(NalError::InvalidState.into()),
        }
    }

    fn send(&mut self, socket: &mut TcpSocket, buffer: &[u8]) -> nb::Result<usize, NalError> {
        self.with_connection(socket, |stack, handle| try_send(stack, handle, buffer))
    }

    fn receive(
        &mut self,
        socket: &mut TcpSocket,
        buffer: &mut [u8],
    ) -> nb::Result<usize, NalError> {
        self.with_connection(socket, |stack, handle| try_receive(stack, handle, buffer))
    }

    fn close(&mut self, socket: TcpSocket) -> Result<(), NalError> {
        let Some(entry) = self.tcp.get_mut(socket.index) else {
            return Err(NalError::InvalidState);
        };
        match core::mem::replace(entry, Entry::Free) {
            Entry::Free => return Err(NalError::InvalidState),
            Entry::Fresh | Entry::Bound { .. } => return Ok(()),
            Entry::Client { client } => {
                self.stack.tcp(client.handle()).close();
                // At most one spare per socket ever made; a full list only forgets the socket.
                self.spare_tcp.push(client.handle()).ok();
            }
            Entry::Accepted {
                listener,
                handle,
                alive,
                ..
            } => {
                if alive {
                    if let Some(l) = self.listeners.get_mut(listener) {
                        l.pool.close(self.stack, handle);
                    }
                }
            }
            Entry::Listening { listener } => {
                if let Some(l) = self.listeners.get_mut(listener) {
                    l.pool.stop(self.stack);
                    l.open = false;
                    l.queue.clear();
                }
            }
        }
        // Send the FIN now rather than at the next call.
        self.poll();
        Ok(())
    }
}

impl<
        const P: usize,
        const N: usize,
        D: Device,
        C: Clock,
        const RX: usize,
        const TX: usize,
        const DG: usize,
        const BY: usize,
    > TcpFullStack for NalStack<'_, '_, P, N, D, C, RX, TX, DG, BY>
{
    fn bind(&mut self, socket: &mut TcpSocket, local_port: u16) -> Result<(), NalError> {
        if !matches!(self.tcp.get(socket.index), Some(Entry::Fresh)) {
            return Err(NalError::InvalidState);
        }
        if local_port == 0
            || self
                .listeners
                .iter()
                .any(|l| l.open && l.pool.port() == local_port)
        {
            return Err(NalError::AddrInUse);
        }
        let backlog = P.saturating_sub(1).max(1);
        self.tcp[socket.index] = Entry::Bound {
            port: local_port,
            config: PoolConfig::new(local_port, backlog),
        };
        Ok(())
    }

    fn listen(&mut self, socket: &mut TcpSocket) -> Result<(), NalError> {
        self.start_listening(socket.index)
    }

    fn accept(&mut self, socket: &mut TcpSocket) -> nb::Result<(TcpSocket, SocketAddr), NalError> {
        let Some(Entry::Listening { listener }) = self.tcp.get(socket.index) else {
            return Err(NalError::InvalidState.into());
        };
        let listener = *listener;
        let waiting = |s: &mut Self| {
            s.listeners
                .get(listener)
                .is_some_and(|l| !l.queue.is_empty())
        };
        if !self.poll_if(waiting) {
            return Err(nb::Error::WouldBlock);
        }
        let index = free_entry(&mut self.tcp, |e| matches!(e, Entry::Free))?;
        let l = &mut self.listeners[listener];
        let Some((handle, remote)) = l.queue.pop_front() else {
            return Err(nb::Error::WouldBlock);
        };
        let alive = live(&mut l.pool, handle, remote);
        self.tcp[index] = Entry::Accepted {
            listener,
            handle,
            remote,
            alive,
        };
        Ok((TcpSocket { index }, socket_addr(remote)))
    }
}
