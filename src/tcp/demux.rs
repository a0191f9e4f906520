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
//! The guard: [`Stack::poll`] feeds received frames to smoltcp one at a time, and before each it
//! notes the four-tuples of the connections that sit *behind* a listening socket in slot order
//! (the only ones at risk). A SYN without ACK for one of those tuples is dropped before smoltcp
//! sees it; the connection's own socket retransmits its SYN-ACK on its timer, so the handshake
//! still completes. Cost: one pass over the socket set per received frame, and nothing at all
//! while no connection sits behind a listener.
//!
//! [`Stack::poll`]: crate::Stack::poll

use heapless::Vec;
use smoltcp::iface::SocketSet;
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::{tcp, Socket};
use smoltcp::time::Instant;
use smoltcp::wire::IpAddress;

/// How many at-risk connections the guard tracks per frame; beyond that the rest go unguarded
/// (and a warning is logged).
pub const MAX_GUARDED: usize = 32;

/// A connection's four-tuple, as seen from here (IPv4 only, like the crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tuple {
    local_port: u16,
    remote_addr: [u8; 4],
    remote_port: u16,
}

/// The connections whose socket comes after a listening socket in slot order.
#[derive(Debug, Default)]
pub(crate) struct AtRisk {
    tuples: Vec<Tuple, MAX_GUARDED>,
}

impl AtRisk {
    /// Collect them from `sockets`.
    pub(crate) fn of(sockets: &SocketSet<'_>) -> Self {
        let mut at_risk = AtRisk::default();
        let mut listener_seen = false;
        for (_, socket) in sockets.iter() {
            let Socket::Tcp(socket) = socket else {
                continue;
            };
            match socket.state() {
                tcp::State::Listen => listener_seen = true,
                // Nothing to protect; a SYN for a TIME-WAIT tuple may start a new connection.
                tcp::State::Closed | tcp::State::TimeWait => {}
                _ if listener_seen => {
                    let (Some(local), Some(remote)) =
                        (socket.local_endpoint(), socket.remote_endpoint())
                    else {
                        continue;
                    };
                    let remote_addr = match remote.addr {
                        IpAddress::Ipv4(addr) => addr.octets(),
                        #[allow(unreachable_patterns)]
                        _ => continue,
                    };
                    let tuple = Tuple {
                        local_port: local.port,
                        remote_addr,
                        remote_port: remote.port,
                    };
                    if at_risk.tuples.push(tuple).is_err() {
                        log::warn!("more than {MAX_GUARDED} connections behind a listener");
                        break;
                    }
                }
                _ => {}
            }
        }
        at_risk
    }

    /// Whether nothing needs guarding.
    pub(crate) fn is_empty(&self) -> bool {
        self.tuples.is_empty()
    }

    /// Whether `frame` is a SYN (without ACK) for one of the tuples.
    fn is_late_syn(&self, medium: Medium, frame: &[u8]) -> bool {
        let ip = match medium {
            Medium::Ethernet => match frame.get(12..14) {
                Some([0x08, 0x00]) => &frame[14..],
                _ => return false,
            },
            _ => frame,
        };
        // IPv4, TCP, not a fragment, header length within the packet.
        let (Some(&version_ihl), Some(&protocol)) = (ip.first(), ip.get(9)) else {
            return false;
        };
        let header = usize::from(version_ihl & 0x0f) * 4;
        if version_ihl >> 4 != 4 || protocol != 6 || header < 20 {
            return false;
        }
        let Some(tcp) = ip.get(header..) else {
            return false;
        };
        let (Some(src), Some(ports), Some(&flags)) = (ip.get(12..16), tcp.get(0..4), tcp.get(13))
        else {
            return false;
        };
        const SYN: u8 = 0x02;
        const ACK: u8 = 0x10;
        if flags & (SYN | ACK) != SYN {
            return false;
        }
        let tuple = Tuple {
            local_port: u16::from_be_bytes([ports[2], ports[3]]),
            remote_addr: [src[0], src[1], src[2], src[3]],
            remote_port: u16::from_be_bytes([ports[0], ports[1]]),
        };
        self.tuples.contains(&tuple)
    }
}

/// A device that hides late SYNs from smoltcp (see the [module docs](self)).
pub(crate) struct Guarded<'d, D: ?Sized> {
    inner: &'d mut D,
    at_risk: &'d AtRisk,
    medium: Medium,
}

impl<'d, D: Device + ?Sized> Guarded<'d, D> {
    pub(crate) fn new(inner: &'d mut D, at_risk: &'d AtRisk) -> Self {
        let medium = inner.capabilities().medium;
        Guarded {
            inner,
            at_risk,
            medium,
        }
    }
}

/// A received frame that may turn out to be a late SYN.
pub(crate) struct GuardedRx<'d, R> {
    inner: R,
    at_risk: &'d AtRisk,
    medium: Medium,
}

impl<R: phy::RxToken> phy::RxToken for GuardedRx<'_, R> {
    fn consume<T, F>(self, f: F) -> T
    where
        F: FnOnce(&[u8]) -> T,
    {
        let (at_risk, medium) = (self.at_risk, self.medium);
        self.inner.consume(|frame| {
            if at_risk.is_late_syn(medium, frame) {
                log::debug!("late SYN for a connection behind a listener: dropped");
                // An empty frame is malformed: smoltcp drops it without a reply.
                f(&[])
            } else {
                f(frame)
            }
        })
    }

    fn meta(&self) -> phy::PacketMeta {
        self.inner.meta()
    }
}

impl<D: Device + ?Sized> Device for Guarded<'_, D> {
    type RxToken<'a>
        = GuardedRx<'a, D::RxToken<'a>>
    where
        Self: 'a;
    type TxToken<'a>
        = D::TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (rx, tx) = self.inner.receive(now)?;
        Some((
            GuardedRx {
                inner: rx,
                at_risk: self.at_risk,
                medium: self.medium,
            },
            tx,
        ))
    }

    fn transmit(&mut self, now: Instant) -> Option<Self::TxToken<'_>> {
        self.inner.transmit(now)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}
