//! A pool of listening sockets: BSD's `listen(backlog)` on smoltcp.
//!
//! The pool owns `N` TCP sockets for one port. Each slot moves through an explicit life cycle:
//!
//! ```text
//!          listen()           SYN            ACK (handshake done)    close or FIN+drain
//!   Idle ───────────▶ Listening ─────▶ HalfOpen ─────────────▶ Connected ─────────▶ Closed|Reset ─┐
//!    ▲                    ▲   RST during    │                                                    │
//!    │                    └─── handshake ───┘                                                    │
//!    └─────────────────────────────── back to the pool at once ──────────────────────────────────┘
//! ```
//!
//! [`ListenerPool::maintain`] keeps `backlog` sockets in LISTEN as long as idle ones remain:
//! while a client is being served, a fresh socket already waits for the next. When all `N`
//! sockets are busy no socket listens, and smoltcp answers new SYNs with RST: the client sees
//! "connection refused", exactly like a full backlog on a BSD stack that refuses. The pool logs
//! the moment it runs out and the moment it recovers. A socket whose connection ended (closed,
//! reset, timed out, or sitting in TIME-WAIT) is re-listened immediately: see the
//! [module docs](super) on TIME-WAIT.

use heapless::Vec;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::Duration;
use smoltcp::wire::IpEndpoint;

use crate::storage::TcpStorage;
use crate::{Error, Stack};

/// Stands for the peer of a socket that has none (never seen in practice: an active socket
/// always knows its peer).
pub const UNKNOWN_PEER: IpEndpoint = IpEndpoint {
    addr: smoltcp::wire::IpAddress::Ipv4(smoltcp::wire::Ipv4Address::UNSPECIFIED),
    port: 0,
};

/// How a [`ListenerPool`] listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// The local port.
    pub port: u16,
    /// How many sockets wait in LISTEN at once (at most the pool size).
    pub backlog: usize,
    /// Abort a connection whose peer does not acknowledge for this long (a client that
    /// vanished). `None` waits forever.
    ///
    /// Keep it well above smoltcp's largest retransmission timeout (60 s): on a lossy link the
    /// timeout backs off 1, 2, 4, ... 60 s, and a shorter user timeout aborts a live connection
    /// before it even retransmits again ([`DEFAULT_TIMEOUT`] leaves room for two).
    pub timeout: Option<Duration>,
    /// Send keep-alive probes on idle connections at this interval, so a peer that vanished
    /// while idle is noticed (by `timeout`). `None` disables them.
    pub keep_alive: Option<Duration>,
}

/// The default [`PoolConfig::timeout`]: 120 s, twice smoltcp's largest retransmission timeout
/// (RFC 1122 asks for at least 100 s before giving up on an established connection).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

impl PoolConfig {
    /// Listen on `port` with `backlog` sockets, [`DEFAULT_TIMEOUT`], keep-alive every 10 s.
    pub const fn new(port: u16, backlog: usize) -> Self {
        PoolConfig {
            port,
            backlog,
            timeout: Some(DEFAULT_TIMEOUT),
            keep_alive: Some(Duration::from_secs(10)),
        }
    }
}

/// A connection being served by one slot of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// The client's address and port.
    pub remote: IpEndpoint,
    /// Bytes received from the client so far (maintained by the service).
    pub rx_bytes: u64,
    /// Bytes sent to the client so far (maintained by the service).
    pub tx_bytes: u64,
    /// We asked the socket to close (FIN queued after pending data).
    pub closing: bool,
    /// The client sent FIN: no more data will come.
    pub peer_finished: bool,
}

impl Connection {
    /// The peer sent FIN and everything it sent has been read, and we have not closed yet:
    /// time to close our side.
    pub fn peer_done(&self, socket: &tcp::Socket<'_>) -> bool {
        socket.state() == State::CloseWait && socket.recv_queue() == 0 && !self.closing
    }

    /// Close our side gracefully: FIN after everything queued.
    pub fn close(&mut self, socket: &mut tcp::Socket<'_>) {
        self.closing = true;
        socket.close();
    }

    /// Reset the connection (RST): for a peer that broke the protocol.
    pub fn abort(&mut self, socket: &mut tcp::Socket<'_>) {
        self.closing = true;
        socket.abort();
    }
}

/// Something that happened to a slot during [`ListenerPool::maintain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotEvent {
    /// A client connected.
    Accepted {
        /// Position of the slot in the pool (`0..size()`), to reset per-connection state kept
        /// beside the pool.
        slot: usize,
        /// The socket now serving it.
        handle: SocketHandle,
        /// The client.
        remote: IpEndpoint,
    },
    /// A connection ended with FIN both ways.
    Closed(Connection),
    /// A connection ended by RST or timeout.
    Reset(Connection),
    /// Every socket is busy: new connections are refused until one ends.
    Exhausted,
    /// A socket listens again after the pool was exhausted.
    Recovered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Closed, or in TIME-WAIT: free to listen.
    Idle,
    /// In LISTEN, waiting for a SYN.
    Listening,
    /// SYN received, handshake not finished (the "half-open" connection of the lesson).
    HalfOpen,
    /// Handshake done: served by the service, like a socket returned by `accept`.
    Connected(Connection),
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    handle: SocketHandle,
    phase: Phase,
}

/// Counters of a [`ListenerPool`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections that ended with FIN both ways.
    pub closed: u64,
    /// Connections that ended by reset or timeout.
    pub reset: u64,
    /// Times the pool ran out of listening sockets.
    pub exhausted: u64,
}

/// `N` TCP sockets serving one port with a backlog.
///
/// Only this thin shell depends on `N`: the work is done by non-generic code over a slice of
/// slots, so programs with pools of several sizes carry one copy of it.
#[derive(Debug)]
pub struct ListenerPool<const N: usize> {
    core: PoolCore,
    slots: Vec<Slot, N>,
}

/// Everything of a pool but its slots, and the pool's logic over a slice of them.
#[derive(Debug)]
struct PoolCore {
    config: PoolConfig,
    running: bool,
    exhausted: bool,
    stats: PoolStats,
}

impl<const N: usize> ListenerPool<N> {
    /// Add one socket per storage entry (at most `N`) to `stack` and start listening.
    pub fn new<'a, const RX: usize, const TX: usize>(
        stack: &mut Stack<'a>,
        storage: impl IntoIterator<Item = &'a mut TcpStorage<RX, TX>>,
        config: PoolConfig,
    ) -> Result<Self, Error> {
        let mut slots = Vec::new();
        for buffers in storage.into_iter().take(N) {
            let handle = stack.add_tcp(buffers)?;
            // `take(N)` keeps this within capacity.
            slots
                .push(Slot {
                    handle,
                    phase: Phase::Idle,
                })
                .ok();
        }
        let mut pool = ListenerPool {
            core: PoolCore {
                config,
                running: true,
                exhausted: false,
                stats: PoolStats::default(),
            },
            slots,
        };
        pool.start(stack)?;
        Ok(pool)
    }

    /// The port served.
    pub fn port(&self) -> u16 {
        self.core.config.port
    }

    /// Number of sockets in the pool.
    pub fn size(&self) -> usize {
        self.slots.len()
    }

    /// Counters so far.
    pub fn stats(&self) -> PoolStats {
        self.core.stats
    }

    /// Sockets in the middle of a handshake (as of the last `maintain`).
    pub fn half_open(&self) -> usize {
        count(&self.slots, Phase::HalfOpen)
    }

    /// Sockets currently in LISTEN (as of the last `maintain`).
    pub fn listening(&self) -> usize {
        count(&self.slots, Phase::Listening)
    }

    /// Connections being served: slot position (`0..size()`, stable for the pool's life, for
    /// per-connection state kept beside the pool), socket, and connection.
    pub fn connections(&mut self) -> impl Iterator<Item = (usize, SocketHandle, &mut Connection)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(index, slot)| match &mut slot.phase {
                Phase::Connected(conn) => Some((index, slot.handle, conn)),
                _ => None,
            })
    }

    /// Close the connection on `handle` gracefully: FIN after any data still queued.
    pub fn close(&mut self, stack: &mut Stack<'_>, handle: SocketHandle) {
        close(&mut self.slots, stack, handle);
    }

    /// Stop the service: stop listening and close every connection gracefully.
    /// Connections then finish their close; [`start`](Self::start) listens again at once.
    pub fn stop(&mut self, stack: &mut Stack<'_>) {
        self.core.running = false;
        stop(&mut self.slots, stack);
    }

    /// Start (again) listening on the same port: no TIME-WAIT delay, no "address in use".
    pub fn start(&mut self, stack: &mut Stack<'_>) -> Result<(), Error> {
        self.core.running = true;
        self.core.maintain(&mut self.slots, stack, &mut |_| {})?;
        Ok(())
    }

    /// Follow every socket's state: report accepted and finished connections to `on_event`,
    /// and put idle sockets back in LISTEN up to the backlog. Returns whether anything changed.
    pub fn maintain(
        &mut self,
        stack: &mut Stack<'_>,
        mut on_event: impl FnMut(SlotEvent),
    ) -> Result<bool, Error> {
        self.core.maintain(&mut self.slots, stack, &mut on_event)
    }
}

/// Slots in `phase`.
fn count(slots: &[Slot], phase: Phase) -> usize {
    slots.iter().filter(|s| s.phase == phase).count()
}

/// [`ListenerPool::close`].
fn close(slots: &mut [Slot], stack: &mut Stack<'_>, handle: SocketHandle) {
    for slot in slots.iter_mut().filter(|s| s.handle == handle) {
        if let Phase::Connected(conn) = &mut slot.phase {
            conn.close(stack.tcp(handle));
        }
    }
}

/// [`ListenerPool::stop`], but for the `running` flag.
fn stop(slots: &mut [Slot], stack: &mut Stack<'_>) {
    for slot in slots.iter_mut() {
        let socket = stack.tcp(slot.handle);
        match &mut slot.phase {
            Phase::Connected(conn) => conn.close(socket),
            // Half-open: RST. (Closing in SYN-RECEIVED would make smoltcp take the
            // handshake's ACK for the ACK of a FIN it never sent.)
            Phase::HalfOpen | Phase::Listening | Phase::Idle => {
                socket.abort();
                slot.phase = Phase::Idle;
            }
        }
    }
}

impl PoolCore {
    /// [`ListenerPool::maintain`]. The handler is a trait object so that every service, with
    /// its own closure, shares this one copy.
    fn maintain(
        &mut self,
        slots: &mut [Slot],
        stack: &mut Stack<'_>,
        on_event: &mut dyn FnMut(SlotEvent),
    ) -> Result<bool, Error> {
        let mut changed = false;
        for (index, slot) in slots.iter_mut().enumerate() {
            let socket = stack.tcp(slot.handle);
            changed |= follow(index, slot, socket, &mut self.stats, on_event);
        }
        if self.running {
            let mut listening = count(slots, Phase::Listening);
            for slot in slots.iter_mut() {
                if listening >= self.config.backlog {
                    break;
                }
                if slot.phase == Phase::Idle {
                    let socket = stack.tcp(slot.handle);
                    socket.listen(self.config.port)?;
                    socket.set_timeout(self.config.timeout);
                    socket.set_keep_alive(self.config.keep_alive);
                    slot.phase = Phase::Listening;
                    listening += 1;
                    changed = true;
                }
            }
            let exhausted = listening == 0 && !slots.is_empty();
            if exhausted != self.exhausted {
                self.exhausted = exhausted;
                if exhausted {
                    self.stats.exhausted += 1;
                    log::info!(
                        "port {}: all {} sockets busy, new connections are refused (RST)",
                        self.config.port,
                        slots.len()
                    );
                    on_event(SlotEvent::Exhausted);
                } else {
                    log::info!("port {}: a socket listens again", self.config.port);
                    on_event(SlotEvent::Recovered);
                }
            }
        }
        Ok(changed)
    }
}

/// Move one slot along its life cycle after the socket's current state.
fn follow(
    index: usize,
    slot: &mut Slot,
    socket: &mut tcp::Socket<'_>,
    stats: &mut PoolStats,
    on_event: &mut dyn FnMut(SlotEvent),
) -> bool {
    let state = socket.state();
    match &mut slot.phase {
        Phase::Idle => false,
        Phase::Listening if state == State::Listen => false,
        Phase::HalfOpen if state == State::SynReceived => false,
        // A SYN arrived: the socket is taken (it no longer listens), the handshake goes on.
        Phase::Listening if state == State::SynReceived => {
            slot.phase = Phase::HalfOpen;
            true
        }
        // A RST during the handshake sends smoltcp's socket back to LISTEN.
        Phase::HalfOpen if state == State::Listen => {
            slot.phase = Phase::Listening;
            true
        }
        // The handshake is done: a connection to serve, as `accept` would return it.
        Phase::Listening | Phase::HalfOpen if socket.is_active() => {
            let remote = socket.remote_endpoint().unwrap_or(UNKNOWN_PEER);
            slot.phase = Phase::Connected(Connection {
                remote,
                rx_bytes: 0,
                tx_bytes: 0,
                closing: false,
                peer_finished: false,
            });
            stats.accepted += 1;
            log::info!("port {}: accepted {remote}", socket.listen_endpoint().port);
            on_event(SlotEvent::Accepted {
                slot: index,
                handle: slot.handle,
                remote,
            });
            true
        }
        Phase::Listening | Phase::HalfOpen => {
            slot.phase = Phase::Idle;
            true
        }
        Phase::Connected(conn) => match state {
            State::Closed | State::TimeWait => {
                let mut conn = *conn;
                let graceful = conn.peer_finished || state == State::TimeWait;
                conn.peer_finished |= state == State::TimeWait;
                slot.phase = Phase::Idle;
                if graceful {
                    stats.closed += 1;
                    log::info!(
                        "closed {} (received {} bytes, sent {})",
                        conn.remote,
                        conn.rx_bytes,
                        conn.tx_bytes
                    );
                    on_event(SlotEvent::Closed(conn));
                } else {
                    stats.reset += 1;
                    log::warn!(
                        "connection from {} reset or timed out (received {} bytes, sent {})",
                        conn.remote,
                        conn.rx_bytes,
                        conn.tx_bytes
                    );
                    on_event(SlotEvent::Reset(conn));
                }
                true
            }
            State::CloseWait | State::LastAck | State::Closing if !conn.peer_finished => {
                conn.peer_finished = true;
                true
            }
            _ => false,
        },
    }
}
