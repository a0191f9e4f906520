//! The socket API: [embedded-nal] 0.9's traits on the stack (feature `nal`).
//!
//! The BSD calls of the lesson — `socket`, `bind`, `listen`, `accept`, `recv`, `send`,
//! `close`, `recvfrom`/`sendto` — are what the embedded-Rust ecosystem spells
//! [`TcpClientStack`](embedded_nal::TcpClientStack), [`TcpFullStack`](embedded_nal::TcpFullStack),
//! [`UdpClientStack`](embedded_nal::UdpClientStack) and [`UdpFullStack`](embedded_nal::UdpFullStack).
//! [`NalStack`] implements all four over a [`Stack`], its device and its clock, so a program
//! written against the traits (the lesson's, in [`crate::lesson`], or a client library) runs on
//! smolsock as it runs on the host's kernel through `std-embedded-nal`.
//!
//! ```text
//!   program ──embedded-nal──▶ NalStack ──▶ tcp::ListenerPool (listen/accept: the backlog)
//!                               │      ──▶ tcp::TcpClient + EphemeralPorts (connect)
//!                               │      ──▶ udp::recv_datagram (boundaries, no truncation)
//!                               └─ poll(now, device): ingress guard, then smoltcp
//! ```
//!
//! | file | one job |
//! |---|---|
//! | `mod.rs` | the adapter: stack, device, clock, socket tables, memory |
//! | `tcp.rs` | `TcpClientStack` and `TcpFullStack` |
//! | `udp.rs` | `UdpClientStack` and `UdpFullStack` |
//! | `error.rs` | [`NalError`] and its embedded-nal error kind |
//! | `shared.rs` | [`Shared`]: one `NalStack` for several threads (feature `std`) |
//!
//! ## Non-blocking, and who polls
//!
//! Every call is non-blocking (`nb`), like smoltcp. A call tries its operation first; when it
//! would block it polls the stack (`stack.poll(clock.now(), device)`, then the listener pools)
//! and tries once more before returning [`nb::Error::WouldBlock`](embedded_nal::nb::Error). So
//! a program that loops on `WouldBlock` (`nb::block!`) drives the stack itself, and a call that
//! can proceed costs no poll at all. `close` and UDP sends poll at once so the FIN or the
//! datagram leaves without waiting for the next call. A program with other work polls through
//! [`NalStack::poll`] (never `Stack::poll` directly: the pools must see every poll).
//!
//! ## Memory: fixed, from the caller
//!
//! Nothing is allocated. The caller hands over arrays of [`TcpStorage`] and [`UdpStorage`];
//! sockets are carved from them when needed: one TCP buffer per client connection (reused once
//! its connection is closed or in TIME-WAIT), up to `P` per listening port (a listener pool),
//! one UDP buffer per bound UDP socket (reused after `close`). Socket tokens index a table of
//! `N` entries per protocol.
//!
//! ## listen and accept: the backlog
//!
//! The trait's `listen` has no backlog. Set it before `listen` with [`NalStack::set_backlog`]
//! (default `P - 1`), or give a whole [`PoolConfig`] with [`NalStack::set_pool_config`].
//! `listen` builds a [`ListenerPool`] of `min(P, backlog + 1)`
//! sockets: one for the connection being served and `backlog` waiting, as the lesson's
//! `listen(5)` describes; a newcomer beyond that gets RST ("connection refused") where a kernel
//! would queue it or drop its SYN. `accept` hands out the pool's connections one at a time, in
//! the order their handshakes completed. The pool's defences against hostile peers (handshake,
//! idle and stalled-send timeouts, eviction for a newcomer) and the stack's ingress guard apply
//! unchanged underneath: an accepted connection the pool ends reads as [`NalError::Closed`].
//! Closing a listening socket stops its pool, which also closes (FIN) the connections it
//! accepted; listening again on the same port reuses the pool at once (no TIME-WAIT, no
//! "address in use").
//!
//! ## connect
//!
//! `connect` takes a local port from [`EphemeralPorts`] (never one in use or in TIME-WAIT),
//! starts the handshake and returns `WouldBlock` until it completes; a refused or timed-out
//! handshake is [`NalError::Refused`].
//!
//! ## UDP
//!
//! One datagram per `send`/`send_to`, one per `receive`; a datagram larger than the buffer
//! given to `receive` is dropped and reported ([`NalError::DatagramTooLarge`]), never truncated
//! silently. A UDP socket that was `connect`ed hears only its peer, as with BSD sockets.
//!
//! [embedded-nal]: https://docs.rs/embedded-nal/0.9

mod error;
#[cfg(feature = "std")]
mod shared;
mod tcp;
mod udp;

pub use error::NalError;
#[cfg(feature = "std")]
pub use shared::Shared;
pub use tcp::TcpSocket;
pub use udp::UdpSocket;

use heapless::{Deque, Vec};
use smoltcp::iface::SocketHandle;
use smoltcp::phy::Device;
use smoltcp::wire::IpEndpoint;

use crate::clock::Clock;
use crate::storage::{TcpStorage, UdpStorage};
use crate::tcp::{EphemeralPorts, ListenerPool, PoolConfig, SlotEvent};
use crate::Stack;

/// A listening port: its pool and the connections not yet handed out by `accept`.
struct Listener<const P: usize> {
    pool: ListenerPool<P>,
    /// Connections whose handshake completed, oldest first.
    queue: Deque<(SocketHandle, IpEndpoint), P>,
    /// A socket of the table listens through this pool.
    open: bool,
}

/// embedded-nal's TCP and UDP stacks over a smolsock [`Stack`], its device and its clock.
///
/// - `P`: sockets per listener pool (connections served and waiting per listening port);
/// - `N`: entries of the TCP socket table and of the UDP socket table, and listening ports;
/// - `D`, `C`: the device and the clock;
/// - `RX`, `TX`, `DG`, `BY`: the sizes of the caller's [`TcpStorage`] and [`UdpStorage`].
///
/// ```
/// use smolsock::device::Loopback;
/// use smolsock::nal::NalStack;
/// use smolsock::smoltcp::{iface::SocketStorage, time::Instant, wire::IpCidr};
/// use smolsock::storage::{TcpStorage, UdpStorage};
/// use smolsock::{Stack, StackConfig};
///
/// let mut device = Loopback::<1500, 32>::new();
/// let mut slots = [SocketStorage::EMPTY; 8];
/// let config = StackConfig::ip(IpCidr::new(core::net::Ipv4Addr::LOCALHOST.into(), 8));
/// let mut stack = Stack::new(config, &mut device, &mut slots, Instant::ZERO);
/// let mut tcp = [const { TcpStorage::<2048, 2048>::new() }; 6];
/// let mut udp = [const { UdpStorage::<4, 2048>::new() }; 2];
/// let clock = || Instant::ZERO;
/// let mut net = NalStack::<4, 8, _, _, _, _, _, _>::new(
///     &mut stack, &mut device, clock, &mut tcp, &mut udp, 1,
/// );
/// # let _ = &mut net;
/// ```
pub struct NalStack<
    's,
    'a,
    const P: usize,
    const N: usize,
    D: Device,
    C: Clock,
    const RX: usize,
    const TX: usize,
    const DG: usize,
    const BY: usize,
> {
    stack: &'s mut Stack<'a>,
    device: &'s mut D,
    clock: C,
    tcp_memory: &'a mut [TcpStorage<RX, TX>],
    udp_memory: &'a mut [UdpStorage<DG, BY>],
    tcp: [tcp::Entry; N],
    udp: [udp::Entry; N],
    listeners: Vec<Listener<P>, N>,
    /// Client TCP sockets no token uses (reused once closed or in TIME-WAIT).
    spare_tcp: Vec<SocketHandle, N>,
    /// UDP sockets no token uses.
    spare_udp: Vec<SocketHandle, N>,
    ports: EphemeralPorts,
    /// Calls that would block poll the stack first (see [`NalStack::set_poll_on_block`]).
    poll_on_block: bool,
}

impl<
        's,
        'a,
        const P: usize,
        const N: usize,
        D: Device,
        C: Clock,
        const RX: usize,
        const TX: usize,
        const DG: usize,
        const BY: usize,
    > NalStack<'s, 'a, P, N, D, C, RX, TX, DG, BY>
{
    /// The socket API over `stack` on `device`, reading time from `clock`, with socket memory
    /// from `tcp_memory` and `udp_memory`; `seed` starts the ephemeral ports (give each boot
    /// its own).
    pub fn new(
        stack: &'s mut Stack<'a>,
        device: &'s mut D,
        clock: C,
        tcp_memory: &'a mut [TcpStorage<RX, TX>],
        udp_memory: &'a mut [UdpStorage<DG, BY>],
        seed: u64,
    ) -> Self {
        NalStack {
            stack,
            device,
            clock,
            tcp_memory,
            udp_memory,
            tcp: [const { tcp::Entry::Free }; N],
            udp: [const { udp::Entry::Free }; N],
            listeners: Vec::new(),
            spare_tcp: Vec::new(),
            spare_udp: Vec::new(),
            ports: EphemeralPorts::new(seed),
            poll_on_block: true,
        }
    }

    /// Poll the stack at the clock's time, then let every listener pool follow its sockets.
    /// Returns whether anything changed. The calls of the traits do this themselves when they
    /// would block; call it when the program has other work between calls.
    pub fn poll(&mut self) -> bool {
        let now = self.clock.now();
        let mut changed = self.stack.poll(now, self.device);
        for listener in self.listeners.iter_mut() {
            let queue = &mut listener.queue;
            match listener.pool.maintain(self.stack, |event| {
                if let SlotEvent::Accepted { handle, remote, .. } = event {
                    // The queue holds as many as the pool has sockets.
                    queue.push_back((handle, remote)).ok();
                }
            }) {
                Ok(c) => changed |= c,
                Err(e) => log::warn!("port {}: {e}", listener.pool.port()),
            }
        }
        if changed {
            self.follow_accepted();
        }
        changed
    }

    /// Whether a call that would block polls the stack and tries again before it returns
    /// `WouldBlock` (the default: blocking-style programs then drive the stack by looping).
    /// A program with an event loop of its own, which calls [`NalStack::poll`] itself, turns
    /// it off and saves a poll per call that would block; `close` and UDP sends still poll.
    pub fn set_poll_on_block(&mut self, on: bool) {
        self.poll_on_block = on;
    }

    /// The stack, for what the traits do not cover (its counters, `poll_delay`, ...).
    pub fn stack(&mut self) -> &mut Stack<'a> {
        self.stack
    }

    /// The stack and the device, for an event loop's `next_step`.
    pub fn parts(&mut self) -> (&mut Stack<'a>, &mut D) {
        (self.stack, self.device)
    }

    /// The listener pool behind a listening socket (its counters, its connections), `None` if
    /// `socket` does not listen.
    pub fn pool(&mut self, socket: &TcpSocket) -> Option<&mut ListenerPool<P>> {
        match self.tcp.get(socket.index)? {
            tcp::Entry::Listening { listener } => {
                Some(&mut self.listeners.get_mut(*listener)?.pool)
            }
            _ => None,
        }
    }

    /// Set how many connections may wait for `accept` on `socket` (bound, not yet listening):
    /// the `backlog` of BSD's `listen(backlog)`, which the trait's `listen` lacks.
    pub fn set_backlog(&mut self, socket: &mut TcpSocket, backlog: usize) -> Result<(), NalError> {
        match self.tcp.get_mut(socket.index) {
            Some(tcp::Entry::Bound { config, .. }) => {
                config.backlog = backlog.max(1);
                Ok(())
            }
            _ => Err(NalError::InvalidState),
        }
    }

    /// Give `socket` (bound, not yet listening) a whole pool configuration: timeouts, eviction,
    /// keep-alive and backlog (its port is the bound port).
    pub fn set_pool_config(
        &mut self,
        socket: &mut TcpSocket,
        pool: PoolConfig,
    ) -> Result<(), NalError> {
        match self.tcp.get_mut(socket.index) {
            Some(tcp::Entry::Bound { port, config }) => {
                *config = PoolConfig {
                    port: *port,
                    ..pool
                };
                Ok(())
            }
            _ => Err(NalError::InvalidState),
        }
    }

    /// Poll, unless `ready` holds already; then `ready` again (the "try, poll, retry" of every
    /// non-blocking call).
    fn poll_if(&mut self, ready: impl Fn(&mut Self) -> bool) -> bool {
        if ready(self) || !self.poll_on_block {
            return ready(self);
        }
        self.poll();
        ready(self)
    }

    /// Mark accepted connections whose pool slot ended (or moved on to another client).
    fn follow_accepted(&mut self) {
        for entry in self.tcp.iter_mut() {
            if let tcp::Entry::Accepted {
                listener,
                handle,
                remote,
                alive: alive @ true,
            } = entry
            {
                *alive = self
                    .listeners
                    .get_mut(*listener)
                    .is_some_and(|l| live(&mut l.pool, *handle, *remote));
            }
        }
    }

    /// A fresh TCP socket for a client: a spare one that is closed or in TIME-WAIT, or a new
    /// one from the caller's memory.
    fn client_socket(&mut self) -> Result<SocketHandle, NalError> {
        use smoltcp::socket::tcp::State;
        let stack = &mut *self.stack;
        if let Some(i) = self
            .spare_tcp
            .iter()
            .position(|&h| matches!(stack.tcp(h).state(), State::Closed | State::TimeWait))
        {
            return Ok(self.spare_tcp.swap_remove(i));
        }
        let memory = core::mem::take(&mut self.tcp_memory);
        let Some((first, rest)) = memory.split_first_mut() else {
            return Err(NalError::NoMemory);
        };
        self.tcp_memory = rest;
        Ok(self.stack.add_tcp(first)?)
    }

    /// A UDP socket: a spare one, or a new one from the caller's memory.
    fn udp_socket(&mut self) -> Result<SocketHandle, NalError> {
        if let Some(h) = self.spare_udp.pop() {
            return Ok(h);
        }
        let memory = core::mem::take(&mut self.udp_memory);
        let Some((first, rest)) = memory.split_first_mut() else {
            return Err(NalError::NoMemory);
        };
        self.udp_memory = rest;
        Ok(self.stack.add_udp(first)?)
    }
}

/// Whether the pool still serves the connection from `remote` on `handle`.
fn live<const P: usize>(
    pool: &mut ListenerPool<P>,
    handle: SocketHandle,
    remote: IpEndpoint,
) -> bool {
    pool.connections()
        .any(|(_, h, conn)| h == handle && conn.remote == remote)
}

/// A free entry of a socket table.
fn free_entry<E>(table: &mut [E], is_free: impl Fn(&E) -> bool) -> Result<usize, NalError> {
    table.iter().position(is_free).ok_or(NalError::NoSocket)
}
