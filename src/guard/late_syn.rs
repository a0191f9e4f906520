//! Keeping a late SYN away from the listeners.
//!
//! smoltcp hands each TCP segment to the **first socket, in slot order, that accepts it**, and
//! a socket in LISTEN accepts any SYN for its port. A real stack prefers the socket that owns
//! the segment's four-tuple; smoltcp does not, and with a [`ListenerPool`](crate::tcp::ListenerPool)
//! that matters. Say slot 2 holds a connection from `10.0.0.5:56533` and slot 0 has just been
//! put back in LISTEN. Now a copy of that client's SYN arrives (the network duplicated it, or
//! the client retransmitted it because our SYN-ACK was lost). Slot 0 comes first, so it takes
//! the SYN as a *new* connection and answers with a SYN-ACK of its own. From then on every
//! segment of the client reaches slot 0 first; its ACK does not match slot 0's sequence
//! numbers, so slot 0 answers with a RST, and the RST's sequence number (taken from the client's
//! ACK) is exactly what the client expects: the client's connection is reset. The network
//! simulator's churn test found this within 31 connections on a lossy network.
//!
//! The guard drops a SYN without ACK whose four-tuple belongs to a connection that sits
//! *behind* a socket listening on the same port (the only case smoltcp gets wrong); the
//! connection's own socket retransmits its SYN-ACK on its timer, so the handshake still
//! completes.

use smoltcp::iface::SocketSet;
use smoltcp::socket::{tcp, Socket};

use super::segment::Segment;

/// Whether the SYN `segment` belongs to a connection whose socket comes after a socket
/// listening on the same port, so that smoltcp would hand it to the listener.
pub(crate) fn is_late_syn(segment: &Segment, sockets: &SocketSet<'_>) -> bool {
    let port = segment.dst.port;
    let mut listener_before = false;
    for (_, socket) in sockets.iter() {
        let Socket::Tcp(socket) = socket else {
            continue;
        };
        match socket.state() {
            tcp::State::Listen => listener_before |= socket.listen_endpoint().port == port,
            // Nothing to protect; a SYN for a TIME-WAIT tuple may start a new connection.
            tcp::State::Closed | tcp::State::TimeWait => {}
            _ => {
                if owns(socket, segment) {
                    return listener_before;
                }
            }
        }
    }
    false
}

/// Whether `socket`'s connection is the one `segment` belongs to.
pub(crate) fn owns(socket: &tcp::Socket<'_>, segment: &Segment) -> bool {
    socket
        .local_endpoint()
        .is_some_and(|l| l.port == segment.dst.port)
        && socket.remote_endpoint() == Some(segment.src)
}
