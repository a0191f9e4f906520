//! TCP on smoltcp: a listening pool (the backlog), clients, and ephemeral ports.
//!
//! smoltcp's TCP socket is one connection: a socket in LISTEN takes exactly one client and
//! then *is* that connection. There is no `accept` queue. To accept several clients on one port,
//! several sockets must listen on it; a SYN that finds none gets a RST ("connection refused").
//! [`ListenerPool`] turns a fixed set of sockets into the BSD `listen(backlog)` people know.
//!
//! smoltcp has no ephemeral-port allocator either; [`EphemeralPorts`] picks local ports for
//! clients from the dynamic range and never hands out one a socket still holds.
//!
//! ## TIME-WAIT and `SO_REUSEADDR`
//!
//! After a TCP endpoint closes first it waits in TIME-WAIT (2 × MSL; smoltcp uses 10 s) so that a
//! late segment of the old connection is not taken for part of a new one. A BSD kernel keeps the
//! port reserved meanwhile: restarting a server fails with `EADDRINUSE` unless the server set
//! `SO_REUSEADDR` before `bind`. smoltcp has no port table: a socket in TIME-WAIT is "not open",
//! and `listen` on it (or on any other socket) succeeds at once. So [`ListenerPool`] re-listens on
//! the same port immediately after a close or a restart; the only socket that keeps TIME-WAIT's
//! guarantee is the one that still holds the old connection, and re-listening resets it. Client
//! ports are the other side of the story: [`EphemeralPorts`] skips ports held in TIME-WAIT, so a
//! new connection never reuses a 4-tuple that may still have segments in flight.
//!
//! ## A late SYN and the pool
//!
//! smoltcp gives a segment to the first socket that accepts it, and a listener accepts any SYN:
//! a duplicated or retransmitted SYN of a connection that is already being served can land on
//! a listener that comes earlier in the socket set, which then resets the real connection.
//! [`Stack::poll`](crate::Stack::poll) guards against it (see [`crate::guard`]).
//!
//! ## Hostile peers
//!
//! A slot is a scarce thing, and a peer that holds one without using it denies it to everybody
//! else. The pool frees slots on its own, each rule a field of [`PoolConfig`]:
//!
//! | holder | rule | default |
//! |---|---|---|
//! | a handshake that never completes (a spoofed SYN) | `handshake_timeout` | 10 s |
//! | a connection that sends nothing and has nothing to receive (slowloris) | `idle_timeout` | 300 s |
//! | a peer that never reads, so its window stays shut | `send_timeout` | 300 s |
//! | a peer that stops acknowledging (vanished) | `timeout` | 120 s |
//! | any connection idle past a grace period, when a newcomer finds every slot busy | `evict_idle_after` | 10 s |
//!
//! The last rule is lwIP's `tcp_alloc` answer to "out of connections": when a SYN finds every
//! socket busy and one connection has been idle for the grace period, the
//! [ingress guard](crate::guard) holds the SYN back (no RST) and the pool resets that
//! connection; the client's retransmitted SYN, a second later, finds a socket listening. With
//! nobody idle that long, the newcomer is refused (RST) as before. SYN floods are answered one layer down, the moment a SYN arrives (the
//! [ingress guard](crate::guard) gives the oldest half-open slot to the newcomer). Timers are
//! measured against [`Stack::now`](crate::Stack::now), and the pool registers its next deadline
//! with [`Stack::wake_at`](crate::Stack::wake_at), so every event loop wakes up for it. A human
//! chat wants longer idle limits: see [`PoolConfig::interactive`].

mod client;
mod error;
mod listener;
mod ports;

pub use client::{ClientState, TcpClient, CLIENT_KEEP_ALIVE};
pub use error::{ConnectError, PoolError, PortsExhausted};
pub use listener::{
    Connection, ListenerPool, PoolConfig, PoolStats, SlotEvent, DEFAULT_TIMEOUT, UNKNOWN_PEER,
};
pub use ports::EphemeralPorts;
