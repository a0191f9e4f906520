//! An ephemeral local port allocator for clients.
//!
//! `connect` in smoltcp needs an explicit local port. Common home-grown allocators get one of
//! these wrong: they start at the same port after every reboot (predictable, RFC 6056), they
//! hand out a port a listening socket uses, or they reuse a port whose last connection is still
//! in TIME-WAIT. This one walks the IANA dynamic range (49152–65535) from a seeded start, and
//! checks every candidate against the socket set: a port is free only when no TCP socket is
//! listening on it or holds it (in any state but CLOSED, TIME-WAIT included) and no UDP socket
//! is bound to it.

use smoltcp::iface::SocketSet;
use smoltcp::socket::{tcp, udp, Socket};

use super::PortsExhausted;

/// First port of the IANA dynamic range.
pub const DYNAMIC_FIRST: u16 = 49152;
/// Last port of the IANA dynamic range.
pub const DYNAMIC_LAST: u16 = 65535;

/// Hands out free local ports from a range.
#[derive(Debug, Clone)]
pub struct EphemeralPorts {
    first: u16,
    last: u16,
    next: u16,
}

impl EphemeralPorts {
    /// Ports from the dynamic range, starting at a point derived from `seed` (give each boot its
    /// own seed so port numbers are not predictable).
    pub fn new(seed: u64) -> Self {
        Self::with_range(DYNAMIC_FIRST, DYNAMIC_LAST, seed)
    }

    /// Ports from `first..=last` (`first` must be non-zero; the range is swapped if reversed).
    pub fn with_range(first: u16, last: u16, seed: u64) -> Self {
        let (first, last) = if first <= last {
            (first.max(1), last)
        } else {
            (last.max(1), first)
        };
        let span = u64::from(last - first) + 1;
        let next = first + (seed % span) as u16;
        EphemeralPorts { first, last, next }
    }

    /// A port that no socket in `sockets` holds, or [`PortsExhausted`].
    pub fn allocate(&mut self, sockets: &SocketSet<'_>) -> Result<u16, PortsExhausted> {
        let span = u32::from(self.last - self.first) + 1;
        for _ in 0..span {
            let candidate = self.next;
            self.next = if self.next == self.last {
                self.first
            } else {
                self.next + 1
            };
            if !in_use(sockets, candidate) {
                return Ok(candidate);
            }
        }
        Err(PortsExhausted)
    }
}

/// Whether any socket holds `port` locally.
pub fn in_use(sockets: &SocketSet<'_>, port: u16) -> bool {
    sockets.iter().any(|(_, socket)| match socket {
        Socket::Tcp(s) => tcp_holds(s, port),
        Socket::Udp(s) => udp_holds(s, port),
        #[allow(unreachable_patterns)]
        _ => false,
    })
}

fn tcp_holds(socket: &tcp::Socket<'_>, port: u16) -> bool {
    match socket.state() {
        tcp::State::Closed => false,
        tcp::State::Listen => socket.listen_endpoint().port == port,
        // TIME-WAIT included: the old 4-tuple may still have segments in flight.
        _ => socket.local_endpoint().is_some_and(|e| e.port == port),
    }
}

fn udp_holds(socket: &udp::Socket<'_>, port: u16) -> bool {
    socket.is_open() && socket.endpoint().port == port
}
