//! Rate-limiting ICMP errors (RFC 1812 §4.3.2.8, RFC 4443 §2.4(f)).
//!
//! smoltcp answers every UDP datagram to a port nobody listens on with an ICMP "port
//! unreachable", without a limit: 10,000 datagrams draw 10,000 errors, so a smolsock device can
//! be used to reflect a flood. Linux allows a burst, then about one error a millisecond
//! (`icmp_ratelimit`, `icmp_msgs_per_sec`); a microcontroller can afford less. The guard lets
//! [`IcmpErrors::BURST`] such datagrams reach smoltcp per second and drops the rest before
//! smoltcp sees them, so no error is built; nothing else changes (the datagram had no reader).
//! The same budget holds the other errors smoltcp sends for a packet it reads no further: an
//! IPv4 protocol it does not handle ("protocol unreachable") and an IPv6 header it does not read
//! (a parameter problem).

use smoltcp::iface::SocketSet;
use smoltcp::socket::Socket;
use smoltcp::time::{Duration, Instant};

/// Whether no UDP socket is bound to `port`, so that smoltcp would answer a datagram to it with
/// an ICMP error.
pub(crate) fn is_closed(port: u16, sockets: &SocketSet<'_>) -> bool {
    !sockets.iter().any(|(_, socket)| match socket {
        Socket::Udp(udp) => udp.is_open() && udp.endpoint().port == port,
        // smoltcp hands DHCP replies to its DHCP client before any UDP socket.
        #[cfg(feature = "dhcp")]
        Socket::Dhcpv4(_) => port == 68,
        #[allow(unreachable_patterns)]
        _ => false,
    })
}

/// A budget of ICMP errors per second.
#[derive(Debug)]
pub(crate) struct IcmpErrors {
    window_start: Instant,
    used: u32,
}

impl Default for IcmpErrors {
    fn default() -> Self {
        IcmpErrors {
            window_start: Instant::ZERO,
            used: 0,
        }
    }
}

impl IcmpErrors {
    /// ICMP errors allowed per second.
    pub(crate) const BURST: u32 = 10;

    /// Whether one more error may be sent at `now`.
    pub(crate) fn allow(&mut self, now: Instant) -> bool {
        if now >= self.window_start + Duration::from_secs(1) || now < self.window_start {
            self.window_start = now;
            self.used = 0;
        }
        if self.used < Self::BURST {
            self.used += 1;
            true
        } else {
            false
        }
    }
}
