//! Admitting a SYN when every socket of its port is taken by a half-open connection.
//!
//! A SYN flood from spoofed addresses fills a listener pool with half-open connections
//! (SYN-RECEIVED) whose final ACK never comes. Each frees itself after the pool's handshake
//! timeout, but at 10,000 SYNs a second that is far too slow: every new SYN, the legitimate
//! ones included, would find no listener and be refused. lwIP's answer (`tcp_alloc`) is to
//! take the oldest connection in SYN-RECEIVED for the newcomer; the guard does the same, at the
//! moment the SYN arrives, before smoltcp sees it:
//!
//! - a socket listens on the port → nothing to do;
//! - otherwise, among the port's sockets in SYN-RECEIVED whose peer's hardware address smoltcp
//!   does not know (a spoofed source never answers ARP, so its SYN-ACK never even left), it
//!   takes one in round-robin order after the last one taken, which, since each recycled
//!   socket takes the newest SYN, is oldest first. It is reset and put back in LISTEN on the
//!   same port, and smoltcp hands it the SYN.
//!
//! A half-open connection whose peer answered ARP is never taken: it is most likely a real
//! client one round trip away from being served, and taking it would trade one legitimate
//! client for another (the simulator's overload test caught exactly that). While such
//! handshakes hold every slot, the guard holds a new SYN back instead of letting smoltcp refuse
//! it: the client retransmits its SYN a second later, when those handshakes are done. (Under a
//! flood they take up to a second: a recycled socket inherits smoltcp's one-second "neighbour
//! missing" silence from the spoofed peer it served before, which delays its SYN-ACK.) Stuck
//! ones free their slot after
//! [`PoolConfig::handshake_timeout`](crate::tcp::PoolConfig::handshake_timeout).
//! On an IP-only interface (no ARP) nothing is recycled here for the same reason. Established
//! connections are never touched (idle ones are the pool's business:
//! [`PoolConfig::evict_idle_after`](crate::tcp::PoolConfig::evict_idle_after)).

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::{tcp, Socket};
use smoltcp::wire::IpEndpoint;

/// What [`admit`] found or did.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Admission {
    /// A socket listens on the port: nothing to do.
    Listening,
    /// A half-open connection was reset to make room for the SYN.
    Recycled {
        /// The socket, now listening again.
        handle: SocketHandle,
        /// The peer of the half-open connection it dropped.
        dropped_peer: IpEndpoint,
    },
    /// Every socket of the port is taken; `handshaking` says whether some of them are
    /// half-open with peers that answered ARP (so a slot is likely to free soon).
    Busy {
        /// Half-open connections with resolved peers on the port.
        handshaking: bool,
    },
}

/// Make sure a socket listens on `port`; recycle a half-open one if none does. `resolved`
/// says whether a peer's hardware address is known; `cursor` is the last socket recycled.
pub(crate) fn admit(
    sockets: &mut SocketSet<'_>,
    port: u16,
    resolved: impl Fn(IpEndpoint) -> bool,
    cursor: &mut Option<SocketHandle>,
) -> Admission {
    let mut victim: Option<(u8, SocketHandle, IpEndpoint)> = None;
    let mut handshaking = false;
    for (handle, socket) in sockets.iter() {
        let Socket::Tcp(socket) = socket else {
            continue;
        };
        match socket.state() {
            tcp::State::Listen if socket.listen_endpoint().port == port => {
                return Admission::Listening
            }
            tcp::State::SynReceived if socket.listen_endpoint().port == port => {
                let Some(peer) = socket.remote_endpoint() else {
                    continue;
                };
                if resolved(peer) {
                    handshaking = true;
                    continue;
                }
                // Lower rank wins: sockets after the cursor first.
                let after_cursor = cursor.is_none_or(|c| handle > c);
                let rank = u8::from(!after_cursor);
                if victim.is_none_or(|(best, _, _)| rank < best) {
                    victim = Some((rank, handle, peer));
                }
            }
            _ => {}
        }
    }
    let Some((_, handle, dropped_peer)) = victim else {
        return Admission::Busy { handshaking };
    };
    let socket = sockets.get_mut::<tcp::Socket<'_>>(handle);
    let endpoint = socket.listen_endpoint();
    socket.abort();
    // The socket is closed now, so `listen` cannot fail on its state; the endpoint is the one
    // it listened on before.
    if socket.listen(endpoint).is_err() {
        return Admission::Busy { handshaking };
    }
    *cursor = Some(handle);
    Admission::Recycled {
        handle,
        dropped_peer,
    }
}
