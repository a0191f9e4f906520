//! The ingress guard: every received frame is looked at before smoltcp sees it.
//!
//! smoltcp is a careful stack, but a few of its choices let one hostile peer on the LAN take a
//! server off the air (see `docs/upstream/` for the reports). [`Stack::poll`](crate::Stack::poll)
//! therefore takes each frame from the device itself, shows it to the guard, and hands smoltcp
//! what the guard lets through; on the way out it shows every frame to the guard too. The
//! guard's jobs, one file each:
//!
//! | file | what it stops |
//! |---|---|
//! | `late_syn.rs` | a late or duplicated SYN landing on an earlier listener and resetting a live connection |
//! | `icmp_errors.rs` | a flood of datagrams to closed ports (or of an unhandled protocol) drawing one ICMP error each |
//! | `admission.rs` | a SYN flood refusing every legitimate client: the oldest half-open connection gives way |
//! | `blind_rst.rs` | a blind in-window RST resetting a connection (RFC 5961 §3.2) |
//! | `shrunk_window.rs` | a peer's window update ignored by smoltcp after it shrank its window by rounding (a stalled connection) |
//! | `acks.rs` | (what `blind_rst.rs` and `shrunk_window.rs` need: the last acknowledgement number sent per connection) |
//! | `neighbors.rs` | (a mirror of smoltcp's neighbour cache, from ARP and IPv6 neighbour discovery, so UDP replies never queue behind an unreachable neighbour) |
//! | `segment.rs` | parsing with `smoltcp::wire`, and the one rewrite (a RST into a probe) |
//! | `egress.rs` | the device wrapper that reads outgoing frames |
//!
//! Everything else goes to smoltcp unchanged. Cost: a glance at the headers of every frame in
//! and out (three bytes for a received TCP segment without SYN or RST, see `segment.rs`; the
//! ports and numbers of every sent one, about 150 instructions, 2.5 % of a bulk TCP transfer
//! over the loopback with 4 KiB buffers: see the README's performance section), and a pass over
//! the socket set per SYN and per RST.
//!
//! ## IPv6
//!
//! With the `ipv6` feature the guard reads IPv6 as smoltcp 0.14 does (the fixed header and at
//! most one hop-by-hop options header before TCP, UDP or ICMPv6; smoltcp reads nothing behind
//! any other extension header), so every defence above applies to IPv6 peers too: late SYNs,
//! SYN admission (a peer counts as resolved once smoltcp has its link-layer address from
//! neighbour discovery, mirrored in `neighbors.rs` as ARP is), the RFC 5961 RST check, the
//! egress sniffer (the acknowledgement numbers of IPv6 connections), and the ICMP error budget
//! (UDP to closed ports over IPv6, which smoltcp answers with ICMPv6 port unreachables, shares
//! it, and so does a packet whose next header smoltcp does not read, an extension header other
//! than hop-by-hop or an unknown protocol, which it answers with an ICMPv6 parameter problem).
//! IPv4's "protocol unreachable" (a protocol other than ICMP, IGMP, TCP and UDP) shares the
//! budget too. Not covered: smoltcp's parameter problem for an unknown hop-by-hop option is not
//! rate-limited.

mod acks;
mod admission;
mod blind_rst;
pub(crate) mod egress;
mod icmp_errors;
mod late_syn;
mod neighbors;
mod segment;
// Only with `std`: it matters with window scaling (buffers above 64 KiB), which the firmware's
// buffers never reach, and it would cost the firmware about 0.7 KiB of flash.
#[cfg(feature = "std")]
mod shrunk_window;

pub use acks::CAPACITY as TRACKED_CONNECTIONS;

use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::phy::Medium;
use smoltcp::socket::{tcp, Socket};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpAddress, IpEndpoint};

use crate::limited;
use crate::log_limit::LogLimit;
use acks::AckTracker;
use blind_rst::RstVerdict;
use neighbors::NeighborMirror;
use segment::{Parsed, Segment};

/// The largest RST frame the guard rewrites into a challenge probe (a RST carries no data; a
/// larger one is dropped instead).
const PROBE_MAX: usize = 160;

/// What the guard did, counted since the stack started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GuardStats {
    /// Late or duplicated SYNs kept from a listener (see `late_syn.rs`).
    pub late_syns: u64,
    /// Half-open connections with unresolved peers reset to admit a new SYN (a SYN flood).
    pub half_open_recycled: u64,
    /// SYNs held back (not refused) because a slot was about to free: handshakes with real
    /// peers under way, or the pool evicting an idle connection for the newcomer.
    pub syns_held: u64,
    /// RSTs not at the expected sequence number, answered with a challenge ACK instead.
    pub rsts_challenged: u64,
    /// RSTs not at the expected sequence number, dropped (nothing known to challenge with).
    pub rsts_dropped: u64,
    /// Packets dropped without the ICMP error smoltcp would answer them with (a datagram to a
    /// closed port, a protocol smoltcp does not handle, an IPv6 header it does not read),
    /// because such errors were over their rate (`icmp_errors.rs`).
    pub icmp_errors_suppressed: u64,
    /// Pure ACKs past the right edge of a window smoltcp shrank by rounding, handed to smoltcp
    /// at our `RCV.NXT` so it reads their acknowledgement and window update (`shrunk_window.rs`; with `std` only, else
    /// always 0).
    pub acks_realigned: u64,
}

/// Ports with a full listener pool that would make room for a newcomer (see
/// [`PoolConfig::evict_idle_after`](crate::tcp::PoolConfig::evict_idle_after)).
const PRESSURE_PORTS: usize = 8;

/// A SYN that found no listener, per port, and whether the port's pool can make room.
#[derive(Debug, Clone, Copy)]
struct Pressure {
    port: u16,
    /// The pool has a connection it would evict for a newcomer.
    evictable: bool,
    /// The last SYN that found no listener.
    refused_at: Option<Instant>,
}

/// What [`Guard::inspect`] decided for one frame.
pub(crate) enum Verdict {
    /// Hand the frame to smoltcp.
    Pass,
    /// Drop it.
    Drop,
    /// Hand smoltcp this frame instead (the first `len` bytes).
    Replace([u8; PROBE_MAX], usize),
}

/// The guard's state: the mirror, the tracker, and counters.
#[derive(Debug, Default)]
pub(crate) struct Guard {
    pub(crate) acks: AckTracker,
    neighbors: NeighborMirror,
    cursor: Option<SocketHandle>,
    pressure: heapless::Vec<Pressure, PRESSURE_PORTS>,
    stats: GuardStats,
    log_admission: LogLimit,
    log_rst: LogLimit,
    icmp_errors: icmp_errors::IcmpErrors,
}

impl Guard {
    /// Counters so far.
    pub(crate) fn stats(&self) -> GuardStats {
        self.stats
    }

    /// Note whether the pool on `port` would make room for a newcomer right now.
    pub(crate) fn set_evictable(&mut self, port: u16, evictable: bool) {
        match self.pressure.iter_mut().find(|p| p.port == port) {
            Some(entry) => entry.evictable = evictable,
            None if evictable => {
                let entry = Pressure {
                    port,
                    evictable,
                    refused_at: None,
                };
                if self.pressure.push(entry).is_err() {
                    log::warn!("port {port}: more than {PRESSURE_PORTS} pools; no eviction here");
                }
            }
            None => {}
        }
    }

    /// Forget the held-back SYN on `port`: the pool made room for it.
    pub(crate) fn clear_syn_waiting(&mut self, port: u16) {
        if let Some(entry) = self.pressure.iter_mut().find(|p| p.port == port) {
            entry.refused_at = None;
        }
    }

    /// When a SYN last found no listener on `port` (while its pool could make room).
    pub(crate) fn syn_waiting(&self, port: u16) -> Option<Instant> {
        self.pressure
            .iter()
            .find(|p| p.port == port)
            .and_then(|p| p.refused_at)
    }

    /// Whether smoltcp knows the hardware address of `addr` (see `neighbors.rs`).
    pub(crate) fn knows_neighbor(&self, addr: IpAddress, now: Instant) -> bool {
        self.neighbors.knows(addr, now)
    }

    /// Look at one received frame. The common case, a TCP segment with neither SYN nor RST,
    /// is decided here from three bytes (see `segment.rs`, "The fast path"), inlined into the
    /// one caller; the rest goes to [`Guard::look`].
    #[inline]
    pub(crate) fn inspect(
        &mut self,
        now: Instant,
        medium: Medium,
        frame: &[u8],
        our_mac: Option<EthernetAddress>,
        iface: &Interface,
        sockets: &mut SocketSet<'_>,
    ) -> Verdict {
        #[cfg(feature = "std")]
        if self.acks.any_tight_window() {
            if let Some(verdict) = shrunk_window::realign(medium, frame, &self.acks) {
                self.stats.acks_realigned += 1;
                return verdict;
            }
        }
        if segment::plain_tcp(medium, frame) {
            return Verdict::Pass;
        }
        self.look(now, medium, frame, our_mac, iface, sockets)
    }

    /// [`Guard::inspect`] for a frame the fast path left to the full parse.
    #[inline(never)]
    fn look(
        &mut self,
        now: Instant,
        medium: Medium,
        frame: &[u8],
        our_mac: Option<EthernetAddress>,
        iface: &Interface,
        sockets: &mut SocketSet<'_>,
    ) -> Verdict {
        match segment::parse(medium, frame) {
            Parsed::Arp { eth_dst, arp } => {
                self.neighbors
                    .observe(now, eth_dst, &arp, our_mac, iface.ip_addrs());
                Verdict::Pass
            }
            #[cfg(feature = "ipv6")]
            Parsed::Ndisc(nd) => {
                self.neighbors
                    .observe_ndisc(now, &nd, our_mac, iface.ip_addrs());
                Verdict::Pass
            }
            Parsed::Tcp(segment) if segment.syn && segment.ack.is_none() && !segment.rst => {
                self.syn(now, medium, &segment, sockets)
            }
            Parsed::Tcp(segment) if segment.rst => self.rst(now, frame, &segment, sockets),
            Parsed::Udp { dst_port } => {
                if icmp_errors::is_closed(dst_port, sockets) && !self.icmp_errors.allow(now) {
                    self.stats.icmp_errors_suppressed += 1;
                    Verdict::Drop
                } else {
                    Verdict::Pass
                }
            }
            // It reaches no socket; only smoltcp's error reply is at stake.
            Parsed::Unread => {
                if self.icmp_errors.allow(now) {
                    Verdict::Pass
                } else {
                    self.stats.icmp_errors_suppressed += 1;
                    Verdict::Drop
                }
            }
            Parsed::Tcp(_) | Parsed::Other => Verdict::Pass,
        }
    }

    fn syn(
        &mut self,
        now: Instant,
        medium: Medium,
        segment: &Segment,
        sockets: &mut SocketSet<'_>,
    ) -> Verdict {
        if late_syn::is_late_syn(segment, sockets) {
            self.stats.late_syns += 1;
            log::debug!(
                "late SYN from {} for a connection behind a listener: dropped",
                segment.src
            );
            return Verdict::Drop;
        }
        // A retransmitted SYN of a handshake in progress goes to its own socket.
        let ongoing = sockets.iter().any(|(_, socket)| match socket {
            Socket::Tcp(socket) => {
                socket.state() != tcp::State::Listen && late_syn::owns(socket, segment)
            }
            #[allow(unreachable_patterns)]
            _ => false,
        });
        if ongoing {
            return Verdict::Pass;
        }
        let neighbors = &self.neighbors;
        let resolved = |peer: IpEndpoint| match medium {
            Medium::Ethernet => neighbors.knows(peer.addr, now),
            // No ARP or neighbour discovery on this medium: every peer counts as resolved, so
            // none is recycled.
            #[allow(unreachable_patterns)]
            _ => true,
        };
        let port = segment.dst.port;
        match admission::admit(sockets, port, resolved, &mut self.cursor) {
            admission::Admission::Listening => Verdict::Pass,
            admission::Admission::Recycled {
                handle,
                dropped_peer,
            } => {
                self.stats.half_open_recycled += 1;
                limited!(
                    self.log_admission,
                    now,
                    info,
                    "port {port}: every socket half-open; dropped the handshake with {dropped_peer} \
                     to admit {} ({handle})",
                    segment.src
                );
                Verdict::Pass
            }
            admission::Admission::Busy { handshaking } => {
                // If a slot is likely to free soon (handshakes with real peers under way) or the
                // pool can evict an idle connection for this SYN, keep quiet (no RST): the client
                // retransmits its SYN in a second and finds a socket listening. Otherwise smoltcp
                // refuses it, as a full backlog does.
                let evictable = self
                    .pressure
                    .iter_mut()
                    .find(|p| p.port == port && p.evictable);
                if let Some(entry) = evictable {
                    entry.refused_at = Some(now);
                    self.stats.syns_held += 1;
                    Verdict::Drop
                } else if handshaking {
                    self.stats.syns_held += 1;
                    Verdict::Drop
                } else {
                    Verdict::Pass
                }
            }
        }
    }

    fn rst(
        &mut self,
        now: Instant,
        frame: &[u8],
        segment: &Segment,
        sockets: &mut SocketSet<'_>,
    ) -> Verdict {
        match blind_rst::judge(segment, sockets, &self.acks) {
            RstVerdict::Pass => Verdict::Pass,
            RstVerdict::Challenge(ack) => {
                self.stats.rsts_challenged += 1;
                limited!(
                    self.log_rst,
                    now,
                    warn,
                    "RST from {} to port {} not at the expected sequence number: challenge ACK instead (RFC 5961)",
                    segment.src,
                    segment.dst.port
                );
                let mut probe = [0u8; PROBE_MAX];
                match segment::rewrite_rst_as_probe(frame, segment, ack, &mut probe) {
                    Some(len) => Verdict::Replace(probe, len),
                    None => Verdict::Drop,
                }
            }
            RstVerdict::Drop => {
                self.stats.rsts_dropped += 1;
                limited!(
                    self.log_rst,
                    now,
                    warn,
                    "RST from {} to port {} not at the expected sequence number: dropped (RFC 5961)",
                    segment.src,
                    segment.dst.port
                );
                Verdict::Drop
            }
        }
    }
}
