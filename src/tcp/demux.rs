//! Keeping a late SYN away from the listeners: the demultiplexing guard of [`Stack::poll`].
//!
//! smoltcp hands each TCP segment to the **first socket, in slot order, that accepts it**, and
//! a socket in LISTEN accepts any SYN for its port. A real stack prefers the socket that owns
//! the segment's four-tuple; smoltcp does not, and with a [`ListenerPool`](super::ListenerPool)
//! that matters. Say slot 2 holds a connection from `10.0.0.5:56533` and slot 0 has just been
//! put back in LISTEN. Now a copy of that client's SYN arrives (the network duplicated it, or
//! the client retransmitted it because our SYN-ACK was lost). Slot 0 comes first, so it takes
//! the SYN as a *new* connection and answers with a SYN-ACK of its own. From then on every
//! segment of the client reaches slot 0 first; its ACK does not match slot 0's sequence
//! numbers, so slot 0 answers with a RST, and the RST's sequence number (taken from the client's
//! ACK) is exactly what the client expects: the client's connection is reset. The network
//! simulator's churn test found this within 31 connections on a lossy network.
//!
//! The guard: [`Stack::poll`] takes each received frame from the device itself and looks at it
//! before smoltcp does. A SYN without ACK whose four-tuple belongs to a connection that sits
//! *behind* a socket listening on the same port (the only case smoltcp gets wrong) is dropped;
//! the connection's own socket retransmits its SYN-ACK on its timer, so the handshake still
//! completes. Every other frame goes to smoltcp unchanged ([`OneFrame`]). Cost: a glance at the
//! headers of each frame, and one pass over the socket set per SYN.
//!
//! [`Stack::poll`]: crate::Stack::poll

use smoltcp::iface::SocketSet;
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium, PacketMeta};
use smoltcp::socket::{tcp, Socket};
use smoltcp::time::Instant;
use smoltcp::wire::IpAddress;

/// Whether `frame` is a SYN (without ACK) for a connection whose socket comes after a socket
/// listening on the same port, so that smoltcp would hand it to the listener.
pub(crate) fn is_late_syn(medium: Medium, frame: &[u8], sockets: &SocketSet<'_>) -> bool {
    let Some((local_port, remote_addr, remote_port)) = syn_tuple(medium, frame) else {
        return false;
    };
    let mut listener_before = false;
    for (_, socket) in sockets.iter() {
        let Socket::Tcp(socket) = socket else {
            continue;
        };
        match socket.state() {
            tcp::State::Listen => {
                listener_before |= socket.listen_endpoint().port == local_port;
            }
            // Nothing to protect; a SYN for a TIME-WAIT tuple may start a new connection.
            tcp::State::Closed | tcp::State::TimeWait => {}
            _ => {
                let owns = socket
                    .local_endpoint()
                    .is_some_and(|l| l.port == local_port)
                    && socket.remote_endpoint().is_some_and(|r| {
                        r.port == remote_port && r.addr == IpAddress::Ipv4(remote_addr.into())
                    });
                if owns {
                    return listener_before;
                }
            }
        }
    }
    false
}

/// The (local port, remote address, remote port) of a TCP SYN without ACK in `frame`.
fn syn_tuple(medium: Medium, frame: &[u8]) -> Option<(u16, [u8; 4], u16)> {
    let ip = match medium {
        Medium::Ethernet => match frame.get(12..14)? {
            [0x08, 0x00] => frame.get(14..)?,
            _ => return None,
        },
        #[allow(unreachable_patterns)] // only Ethernet without the `medium-ip` feature
        _ => frame,
    };
    // IPv4 carrying TCP, with a sane header length.
    let version_ihl = *ip.first()?;
    let header = usize::from(version_ihl & 0x0f) * 4;
    if version_ihl >> 4 != 4 || *ip.get(9)? != 6 || header < 20 {
        return None;
    }
    let tcp = ip.get(header..)?;
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    if tcp.get(13)? & (SYN | ACK) != SYN {
        return None;
    }
    let src = ip.get(12..16)?;
    let ports = tcp.get(0..4)?;
    Some((
        u16::from_be_bytes([ports[2], ports[3]]),
        [src[0], src[1], src[2], src[3]],
        u16::from_be_bytes([ports[0], ports[1]]),
    ))
}

/// A device that offers smoltcp exactly one frame, already received, with its transmit token
/// for the reply: how [`Stack::poll`](crate::Stack::poll) hands over a frame it has looked at.
pub(crate) struct OneFrame<'f, T> {
    frame: Option<(&'f [u8], PacketMeta)>,
    tx: Option<T>,
    caps: DeviceCapabilities,
}

impl<'f, T> OneFrame<'f, T> {
    pub(crate) fn new(frame: &'f [u8], meta: PacketMeta, tx: T, caps: DeviceCapabilities) -> Self {
        OneFrame {
            frame: Some((frame, meta)),
            tx: Some(tx),
            caps,
        }
    }
}

/// The frame of a [`OneFrame`].
pub(crate) struct FrameRx<'f> {
    frame: &'f [u8],
    meta: PacketMeta,
}

impl phy::RxToken for FrameRx<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.frame)
    }

    fn meta(&self) -> PacketMeta {
        self.meta
    }
}

impl<'f, T: phy::TxToken> Device for OneFrame<'f, T> {
    type RxToken<'a>
        = FrameRx<'f>
    where
        Self: 'a;
    type TxToken<'a>
        = T
    where
        Self: 'a;

    fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (frame, meta) = self.frame.take()?;
        let tx = self.tx.take()?;
        Some((FrameRx { frame, meta }, tx))
    }

    // Ingress only ever replies through the token paired with the frame.
    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        None
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.caps.clone()
    }
}
