//! A simulated host: a smolsock [`Stack`] plugged into the network by its port.
//!
//! A host is nothing special: the same `Stack` a board or the TAP program runs, over a
//! [`WireEnd`]: the near end of the host's cable (a [`Wire`](crate::device::Wire)), whose far
//! end the [`Network`](super::Network) holds. Services and clients run on `host.stack` exactly
//! as they do anywhere else; the host only adds an index and a summary of its sockets.

use core::fmt;

use smoltcp::socket::{tcp, Socket};
use smoltcp::time::Instant;

use crate::device::{Pending, WireEnd};
use crate::Stack;

/// One host of a simulated network.
///
/// Besides its stack, a host has a clock reading ([`Host::now`], the instant of the current
/// round) and an application timer ([`Host::wake_at`]): an application that wants to act at a
/// given time (send the next datagram in 10 ms, retry a refused connection in 1 s) asks to be
/// woken then, and the run loop will not jump past it, exactly as it does not jump past a
/// socket timer.
pub struct Host<'a, 'w, const MTU: usize, const Q: usize> {
    /// Its stack: add services and clients here.
    pub stack: Stack<'a>,
    /// Its network port (the near end of its cable).
    pub port: WireEnd<'w, MTU, Q>,
    index: usize,
    now: Instant,
    timer: Option<Instant>,
}

impl<'a, 'w, const MTU: usize, const Q: usize> Host<'a, 'w, MTU, Q> {
    /// A host made of `stack` on `port`, known as number `index`.
    pub fn new(stack: Stack<'a>, port: WireEnd<'w, MTU, Q>, index: usize) -> Self {
        Host {
            stack,
            port,
            index,
            now: Instant::ZERO,
            timer: None,
        }
    }

    /// The virtual time of the current round (when the stack was last polled).
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Ask the run loop to poll again no later than `at` (the earliest request wins; it is
    /// forgotten once that time has come).
    pub fn wake_at(&mut self, at: Instant) {
        self.timer = Some(self.timer.map_or(at, |t| t.min(at)));
    }

    /// The pending application timer; one that is due at `now` is consumed and reported as due.
    pub(crate) fn take_timer(&mut self, now: Instant) -> Option<Instant> {
        let at = self.timer?;
        if at <= now {
            self.timer = None;
        }
        Some(at)
    }

    /// The host's number (its port on the network).
    pub fn index(&self) -> usize {
        self.index
    }

    /// Poll the stack on its port at `now` (see [`Stack::poll`]).
    pub fn poll(&mut self, now: Instant) -> bool {
        self.now = now;
        self.stack.poll(now, &mut self.port)
    }

    /// Whether frames wait in the host's NIC.
    pub fn pending(&self) -> bool {
        self.port.pending()
    }

    /// How many sockets are in each state now.
    pub fn summary(&self) -> SocketSummary {
        SocketSummary::of(&self.stack)
    }
}

impl<const MTU: usize, const Q: usize> fmt::Debug for Host<'_, '_, MTU, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("index", &self.index)
            .field("address", &self.stack.address())
            .field("sockets", &self.summary())
            .finish()
    }
}

/// The TCP states, in the order [`SocketSummary::tcp`] counts them.
pub const TCP_STATES: [tcp::State; 11] = [
    tcp::State::Closed,
    tcp::State::Listen,
    tcp::State::SynSent,
    tcp::State::SynReceived,
    tcp::State::Established,
    tcp::State::FinWait1,
    tcp::State::FinWait2,
    tcp::State::CloseWait,
    tcp::State::Closing,
    tcp::State::LastAck,
    tcp::State::TimeWait,
];

/// How many sockets of a stack are in each state: what `netstat` would show.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SocketSummary {
    /// TCP sockets per state, indexed like [`TCP_STATES`].
    pub tcp: [u32; 11],
    /// UDP sockets bound to a port.
    pub udp_bound: u32,
    /// UDP sockets not bound.
    pub udp_unbound: u32,
}

impl SocketSummary {
    /// Count the sockets of `stack`.
    pub fn of(stack: &Stack<'_>) -> Self {
        let mut summary = SocketSummary::default();
        for (_, socket) in stack.sockets().iter() {
            match socket {
                Socket::Tcp(s) => summary.tcp[state_index(s.state())] += 1,
                Socket::Udp(s) if s.is_open() => summary.udp_bound += 1,
                Socket::Udp(_) => summary.udp_unbound += 1,
                #[allow(unreachable_patterns)]
                _ => {}
            }
        }
        summary
    }

    /// TCP sockets in `state`.
    pub fn tcp_in(&self, state: tcp::State) -> u32 {
        self.tcp[state_index(state)]
    }

    /// TCP sockets that are neither CLOSED, LISTEN nor TIME-WAIT: connections under way.
    pub fn tcp_busy(&self) -> u32 {
        TCP_STATES
            .iter()
            .zip(self.tcp)
            .filter(|(s, _)| {
                !matches!(
                    s,
                    tcp::State::Closed | tcp::State::Listen | tcp::State::TimeWait
                )
            })
            .map(|(_, n)| n)
            .sum()
    }
}

fn state_index(state: tcp::State) -> usize {
    TCP_STATES.iter().position(|s| *s == state).unwrap_or(0)
}

impl fmt::Display for SocketSummary {
    /// Only the non-zero counts: `LISTEN 3, ESTABLISHED 1, udp 1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            let s = if first { "" } else { ", " };
            first = false;
            f.write_str(s)
        };
        for (state, n) in TCP_STATES.iter().zip(self.tcp) {
            if n > 0 {
                sep(f)?;
                write!(f, "{state} {n}")?;
            }
        }
        if self.udp_bound > 0 {
            sep(f)?;
            write!(f, "udp {}", self.udp_bound)?;
        }
        if first {
            f.write_str("no sockets")?;
        }
        Ok(())
    }
}
