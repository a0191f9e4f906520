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
//! [`ListenerPool::maintain`] keeps exactly `backlog` sockets in LISTEN as long as idle ones remain:
//! while a client is being served, a fresh socket already waits for the next. When all `N`
//! sockets are busy no socket listens, and smoltcp answers new SYNs with RST: the client sees
//! "connection refused", exactly like a full backlog on a BSD stack that refuses. The pool logs
//! the moment it runs out and the moment it recovers. A socket whose connection ended (closed,
//! reset, timed out, or sitting in TIME-WAIT) is re-listened immediately: see the
//! [module docs](super) on TIME-WAIT.
//!
//! The pool's defences against hostile peers: see the [module docs](super), "Hostile peers".

use heapless::Vec;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::IpEndpoint;

use super::PoolError;
use crate::limited;
use crate::log_limit::LogLimit;
use crate::storage::TcpStorage;
use crate::Stack;

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
    /// Give up a handshake (SYN received, final ACK missing) after this long: a spoofed SYN
    /// holds its slot no longer. `None` waits for `timeout`.
    pub handshake_timeout: Option<Duration>,
    /// Reset a connection that sent nothing for this long while nothing was left to send or
    /// to read (slowloris). `None` keeps idle connections forever.
    pub idle_timeout: Option<Duration>,
    /// Reset a connection whose peer acknowledged none of our queued data for this long (a
    /// peer that never reads keeps its window shut; smoltcp's `timeout` does not fire while
    /// the peer answers window probes). `None` waits forever.
    pub send_timeout: Option<Duration>,
    /// When a newcomer's SYN finds every socket busy, reset the longest-idle connection if it
    /// has been idle this long, so the newcomer gets in (its SYN is held back, not refused,
    /// and the client's retransmission finds a socket listening). `None`: a full pool refuses
    /// newcomers (RST) until a connection ends.
    pub evict_idle_after: Option<Duration>,
}

/// How long after a held-back SYN the pool still evicts for it (the client retransmits its SYN
/// after about 1 s, then 3 s).
const NEWCOMER_PATIENCE: Duration = Duration::from_secs(3);

/// The default [`PoolConfig::timeout`]: 120 s, twice smoltcp's largest retransmission timeout
/// (RFC 1122 asks for at least 100 s before giving up on an established connection).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

impl PoolConfig {
    /// Listen on `port` with `backlog` sockets, [`DEFAULT_TIMEOUT`], keep-alive every 10 s, and
    /// the hostile-peer defaults of the [`tcp`](crate::tcp#hostile-peers) docs: handshakes 10 s, idle and stalled
    /// connections 300 s, a newcomer to a full pool evicts a connection idle for 10 s.
    ///
    /// The idle and stalled limits sit well above the worst stall a live connection showed in
    /// the simulator under every fault at once (over 120 s without progress: smoltcp's
    /// retransmission timer backs off to 60 s); eviction on demand is what lets a newcomer in
    /// quickly.
    pub const fn new(port: u16, backlog: usize) -> Self {
        PoolConfig {
            port,
            backlog,
            timeout: Some(DEFAULT_TIMEOUT),
            keep_alive: Some(Duration::from_secs(10)),
            handshake_timeout: Some(Duration::from_secs(10)),
            idle_timeout: Some(Duration::from_secs(300)),
            send_timeout: Some(Duration::from_secs(300)),
            evict_idle_after: Some(Duration::from_secs(10)),
        }
    }

    /// For people at keyboards (the chat): the same, but a connection may stay idle for 30
    /// minutes and is never evicted for a newcomer, since a person takes their time to type.
    pub const fn interactive(port: u16, backlog: usize) -> Self {
        let mut config = Self::new(port, backlog);
        config.idle_timeout = Some(Duration::from_secs(30 * 60));
        config.evict_idle_after = None;
        config
    }

    /// No timers of the pool's own (smoltcp's `timeout` and keep-alive stay): what the pool
    /// did before it defended itself; for benchmarks and tests that want the raw behaviour.
    pub const fn without_defences(mut self) -> Self {
        self.handshake_timeout = None;
        self.idle_timeout = None;
        self.send_timeout = None;
        self.evict_idle_after = None;
        self
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
    /// A connection was reset by one of the pool's own rules (idle, stalled send, or evicted
    /// for a newcomer); a [`SlotEvent::Reset`] for it follows.
    Expired {
        /// The connection.
        remote: IpEndpoint,
        /// Which rule.
        why: Expiry,
    },
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

/// Why the pool reset a connection on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Nothing received and nothing to send for `idle_timeout`.
    Idle,
    /// Queued data unacknowledged for `send_timeout`.
    SendStalled,
    /// Idle past `evict_idle_after` when a newcomer found every socket busy.
    Evicted,
}

impl core::fmt::Display for Expiry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Expiry::Idle => "idle too long",
            Expiry::SendStalled => "peer stopped reading",
            Expiry::Evicted => "evicted (idle, pool full)",
        })
    }
}

/// When a connection last did something, for the pool's timers.
#[derive(Debug, Clone, Copy)]
struct Activity {
    /// Last time bytes arrived (or the connection was accepted).
    received_at: Instant,
    /// `rx_bytes` as of `received_at`.
    rx_bytes: u64,
    /// Last time the send queue shrank (the peer acknowledged something) or started to fill.
    sent_at: Instant,
    /// The send queue as of the last look.
    send_queue: usize,
}

impl Activity {
    fn new(now: Instant) -> Self {
        Activity {
            received_at: now,
            rx_bytes: 0,
            sent_at: now,
            send_queue: 0,
        }
    }

    /// The latest sign of life.
    fn last(&self) -> Instant {
        self.received_at.max(self.sent_at)
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    handle: SocketHandle,
    phase: Phase,
    activity: Activity,
    /// The pool reset this slot's connection for this reason; counted, reported and the slot
    /// freed when `follow` next sees the socket closed.
    expired: Option<Expiry>,
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
    /// Connections reset for sending nothing ([`PoolConfig::idle_timeout`]); counted in
    /// `reset` too.
    pub idle_timeouts: u64,
    /// Connections reset for not reading ([`PoolConfig::send_timeout`]); counted in `reset`
    /// too.
    pub send_timeouts: u64,
    /// Idle connections reset to make room ([`PoolConfig::evict_idle_after`]); counted in
    /// `reset` too.
    pub evicted: u64,
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
    log: LogLimit,
}

impl<const N: usize> ListenerPool<N> {
    /// Add one socket per storage entry (at most `N`) to `stack` and start listening.
    pub fn new<'a, const RX: usize, const TX: usize>(
        stack: &mut Stack<'a>,
        storage: impl IntoIterator<Item = &'a mut TcpStorage<RX, TX>>,
        config: PoolConfig,
    ) -> Result<Self, PoolError> {
        let mut slots = Vec::new();
        for buffers in storage.into_iter().take(N) {
            let handle = stack.add_tcp(buffers)?;
            // `take(N)` keeps this within capacity.
            slots
                .push(Slot {
                    handle,
                    phase: Phase::Idle,
                    activity: Activity::new(stack.now()),
                    expired: None,
                })
                .ok();
        }
        let mut pool = ListenerPool {
            core: PoolCore {
                config,
                running: true,
                exhausted: false,
                stats: PoolStats::default(),
                log: LogLimit::new(),
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
    pub fn start(&mut self, stack: &mut Stack<'_>) -> Result<(), tcp::ListenError> {
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
    ) -> Result<bool, tcp::ListenError> {
        self.core.maintain(&mut self.slots, stack, &mut on_event)
    }
}

/// Slots in `phase`.
/// (Compares discriminants only: `Phase`'s derived `==` would compare whole connections.)
fn count(slots: &[Slot], phase: Phase) -> usize {
    let phase = core::mem::discriminant(&phase);
    slots
        .iter()
        .filter(|s| core::mem::discriminant(&s.phase) == phase)
        .count()
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
    ) -> Result<bool, tcp::ListenError> {
        let now = stack.now();
        let mut changed = false;
        // One pass over the slots for what each needs on its own (it runs every round of the
        // event loop, so it counts the phases on the way instead of passing again).
        let mut next = None;
        let (mut listening, mut free) = (0, 0);
        for (index, slot) in slots.iter_mut().enumerate() {
            let socket = stack.tcp(slot.handle);
            changed |= follow(index, slot, socket, now, self, on_event);
            changed |= self.expire(slot, stack, now, &mut next);
            match slot.phase {
                Phase::Listening => (listening, free) = (listening + 1, free + 1),
                Phase::Idle => free += 1,
                Phase::HalfOpen | Phase::Connected(_) => {}
            }
        }
        changed |= self.evict(slots, stack, now, free == 0, next);
        if self.running {
            changed |= self.trim_listeners(slots, stack, &mut listening);
            for slot in slots.iter_mut() {
                if listening >= self.config.backlog {
                    break;
                }
                if slot.phase == Phase::Idle {
                    let socket = stack.tcp(slot.handle);
                    socket.listen(self.config.port)?;
                    socket.set_timeout(self.config.handshake_timeout.or(self.config.timeout));
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
                    limited!(
                        self.log,
                        now,
                        info,
                        "port {}: all {} sockets busy, new connections are refused (RST)",
                        self.config.port,
                        slots.len()
                    );
                    on_event(SlotEvent::Exhausted);
                } else {
                    limited!(
                        self.log,
                        now,
                        info,
                        "port {}: a socket listens again",
                        self.config.port
                    );
                    on_event(SlotEvent::Recovered);
                }
            }
        }
        Ok(changed)
    }

    /// Keep exactly `backlog` sockets in LISTEN: a RST during a handshake sends smoltcp's
    /// socket back to LISTEN on its own, which would leave one listener too many.
    /// `listening`: how many do now (updated).
    fn trim_listeners(
        &mut self,
        slots: &mut [Slot],
        stack: &mut Stack<'_>,
        listening: &mut usize,
    ) -> bool {
        let mut changed = false;
        for slot in slots.iter_mut().rev() {
            if *listening <= self.config.backlog {
                break;
            }
            if slot.phase == Phase::Listening {
                stack.tcp(slot.handle).abort();
                slot.phase = Phase::Idle;
                *listening -= 1;
                changed = true;
            }
        }
        changed
    }

    /// The pool's own timers on one slot: an idle or stalled connection. Notes the slot's next
    /// deadline in `next`.
    fn expire(
        &mut self,
        slot: &mut Slot,
        stack: &mut Stack<'_>,
        now: Instant,
        next: &mut Option<Instant>,
    ) -> bool {
        let Phase::Connected(conn) = &mut slot.phase else {
            return false;
        };
        let socket = stack.tcp(slot.handle);
        let activity = &mut slot.activity;
        if conn.rx_bytes != activity.rx_bytes {
            activity.rx_bytes = conn.rx_bytes;
            activity.received_at = now;
        }
        let queued = socket.send_queue();
        // Send progress: the peer acknowledged something, or data was queued on an empty
        // queue (the stall clock starts then).
        if queued < activity.send_queue || (activity.send_queue == 0 && queued > 0) {
            activity.sent_at = now;
        }
        activity.send_queue = queued;
        if conn.closing {
            return false; // already on its way out; smoltcp's timers finish it
        }
        let idle = queued == 0 && socket.recv_queue() == 0;
        let why = match (idle, self.config.idle_timeout, self.config.send_timeout) {
            (true, Some(limit), _) if now >= activity.received_at + limit => Some(Expiry::Idle),
            (true, Some(limit), _) => {
                sooner(next, activity.received_at + limit);
                None
            }
            (false, _, Some(limit)) if queued > 0 && now >= activity.sent_at + limit => {
                Some(Expiry::SendStalled)
            }
            (false, _, Some(limit)) if queued > 0 => {
                sooner(next, activity.sent_at + limit);
                None
            }
            _ => None,
        };
        match why {
            Some(why) => self.reset(slot, stack, now, why),
            None => false,
        }
    }

    /// A full pool (no slot `free`: idle or listening) makes room for a newcomer: the
    /// longest-idle connection past the grace period. The guard holds back a SYN that finds no
    /// listener while we say we would. Registers the pool's next deadline (`next`, or the end
    /// of the grace period) with the stack.
    fn evict(
        &mut self,
        slots: &mut [Slot],
        stack: &mut Stack<'_>,
        now: Instant,
        no_free_slot: bool,
        mut next: Option<Instant>,
    ) -> bool {
        let port = self.config.port;
        let mut changed = false;
        let mut evictable = false;
        if let (true, true, Some(grace)) =
            (self.running, no_free_slot, self.config.evict_idle_after)
        {
            let oldest = slots
                .iter()
                .enumerate()
                .filter(|(_, s)| matches!(s.phase, Phase::Connected(c) if !c.closing))
                .min_by_key(|(_, s)| s.activity.last())
                .map(|(index, s)| (index, s.activity.last()));
            match oldest {
                Some((index, last)) if now >= last + grace => {
                    let waiting = stack
                        .syn_waiting(port)
                        .is_some_and(|at| now < at + NEWCOMER_PATIENCE);
                    if waiting {
                        stack.clear_syn_waiting(port);
                        changed |= self.reset(&mut slots[index], stack, now, Expiry::Evicted);
                    } else {
                        evictable = true;
                    }
                }
                Some((_, last)) => sooner(&mut next, last + grace),
                None => {}
            }
        }
        stack.set_evictable(port, evictable);
        if let Some(at) = next {
            stack.wake_at(at);
        }
        changed
    }

    /// Reset the connection in `slot` for `why`. The slot goes back to Idle (and is counted and
    /// reported) at the next `maintain`, after a `poll` has sent the RST: listening on the
    /// socket at once would discard the RST smoltcp keeps for it (`listen` resets the socket),
    /// and a peer without keep-alive would never learn that its connection is gone.
    fn reset(&mut self, slot: &mut Slot, stack: &mut Stack<'_>, now: Instant, why: Expiry) -> bool {
        let Phase::Connected(conn) = &mut slot.phase else {
            return false;
        };
        let remote = conn.remote;
        conn.abort(stack.tcp(slot.handle));
        slot.expired = Some(why);
        limited!(
            self.log,
            now,
            info,
            "port {}: reset {remote}: {why}",
            self.config.port
        );
        true
    }
}

/// Make `next` the sooner of itself and `at`.
fn sooner(next: &mut Option<Instant>, at: Instant) {
    *next = Some(next.map_or(at, |n| n.min(at)));
}

/// Move one slot along its life cycle after the socket's current state.
fn follow(
    index: usize,
    slot: &mut Slot,
    socket: &mut tcp::Socket<'_>,
    now: Instant,
    core: &mut PoolCore,
    on_event: &mut dyn FnMut(SlotEvent),
) -> bool {
    let PoolCore {
        config, stats, log, ..
    } = core;
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
            slot.activity = Activity::new(now);
            // The handshake is over: from now on the connection's own timeout applies.
            socket.set_timeout(config.timeout);
            stats.accepted += 1;
            limited!(
                *log,
                now,
                info,
                "port {}: accepted {remote}",
                socket.listen_endpoint().port
            );
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
                let expired = slot.expired.take();
                if let Some(why) = expired {
                    match why {
                        Expiry::Idle => stats.idle_timeouts += 1,
                        Expiry::SendStalled => stats.send_timeouts += 1,
                        Expiry::Evicted => stats.evicted += 1,
                    }
                    on_event(SlotEvent::Expired {
                        remote: conn.remote,
                        why,
                    });
                }
                let graceful =
                    expired.is_none() && (conn.peer_finished || state == State::TimeWait);
                conn.peer_finished |= state == State::TimeWait;
                slot.phase = Phase::Idle;
                if graceful {
                    stats.closed += 1;
                    limited!(
                        *log,
                        now,
                        info,
                        "closed {} (received {} bytes, sent {})",
                        conn.remote,
                        conn.rx_bytes,
                        conn.tx_bytes
                    );
                    on_event(SlotEvent::Closed(conn));
                } else {
                    stats.reset += 1;
                    limited!(
                        *log,
                        now,
                        warn,
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
