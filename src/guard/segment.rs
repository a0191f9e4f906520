//! A first look at a received frame: just enough of its headers for the guard to decide.
//!
//! Parsing a received frame goes through `smoltcp::wire`, the same code smoltcp itself uses, so
//! the guard never reads a header smoltcp would read differently (the frames we send, which
//! smoltcp built, are read at fixed offsets: see [`parse_sent`]). Checksums are left to smoltcp: a corrupt
//! segment the guard acts on can at worst recycle a half-open slot of a peer that never answered
//! ARP, or turn a corrupt RST into a probe smoltcp answers with a challenge ACK, both harmless.
//!
//! ## The fast path
//!
//! Nearly every frame of a transfer is a TCP segment with neither SYN nor RST, which the guard
//! passes untouched. The guard first asks [`plain_tcp`], which reads just three bytes where a TCP packet keeps them (the IP
//! version, the protocol, the TCP flags, with the header length to find them) and says
//! so when the flags hold neither SYN nor RST; [`parse`] would call such a frame
//! [`Parsed::Other`] too: whenever the full parse finds a SYN or RST (`Parsed::Tcp`), it read those
//! flags from that same byte; a packet malformed, cut short or fragmented it calls `Other` anyway.
//! Everything else (UDP, ARP, neighbour discovery, SYNs, RSTs, IPv6 with a hop-by-hop header)
//! takes the full parse.

use smoltcp::phy::Medium;
use smoltcp::wire::{
    ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, IpAddress, IpEndpoint,
    IpProtocol, Ipv4Address, Ipv4Packet, TcpPacket, TcpSeqNumber, UdpPacket,
};
#[cfg(feature = "ipv6")]
use smoltcp::wire::{Ipv6Address, Ipv6Packet};

/// What a frame is, as far as the guard cares.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Parsed {
    /// An ARP packet, with the Ethernet destination it was sent to.
    Arp {
        /// The Ethernet destination of the frame.
        eth_dst: EthernetAddress,
        /// The ARP packet.
        arp: ArpRepr,
    },
    /// An IPv6 neighbour solicitation or advertisement smoltcp would read (the analogue of
    /// ARP, for the neighbour mirror).
    #[cfg(feature = "ipv6")]
    Ndisc(Ndisc),
    /// An unfragmented TCP segment (IPv4 or IPv6).
    Tcp(Segment),
    /// A UDP datagram (IPv4: the first fragment, or unfragmented; IPv6), by destination port.
    Udp {
        /// Its destination port.
        dst_port: u16,
    },
    /// A packet smoltcp reads no further than its IP header and answers with an ICMP error,
    /// and nothing else: IPv4 with a protocol smoltcp does not handle (a "protocol
    /// unreachable"), IPv6 with a next header it does not read, an extension header other than
    /// one hop-by-hop header or an unknown protocol (a parameter problem).
    Unread,
    /// Anything else: smoltcp's business.
    Other,
}

/// An IPv6 neighbour discovery message, the fields smoltcp's neighbour cache reads.
#[cfg(feature = "ipv6")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ndisc {
    /// The Ethernet destination of the frame.
    pub eth_dst: EthernetAddress,
    /// The IPv6 source (the neighbour smoltcp learns).
    pub src: Ipv6Address,
    /// The IPv6 destination.
    pub dst: Ipv6Address,
    /// The target address of the solicitation or advertisement.
    pub target: Ipv6Address,
    /// The link-layer address option, if present and an Ethernet address.
    pub lladdr: Option<EthernetAddress>,
    /// An advertisement (else a solicitation).
    pub advert: bool,
    /// The advertisement's override flag.
    pub override_flag: bool,
}

/// The fields of a TCP segment the guard reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segment {
    /// The sender.
    pub src: IpEndpoint,
    /// The receiver (us).
    pub dst: IpEndpoint,
    /// Sequence number.
    pub seq: TcpSeqNumber,
    /// Acknowledgement number, if the ACK flag is set.
    pub ack: Option<TcpSeqNumber>,
    /// SYN flag.
    pub syn: bool,
    /// RST flag.
    pub rst: bool,
    /// Where the TCP header starts in the frame.
    pub tcp_start: usize,
    /// Where the TCP segment ends in the frame (the IP header's length field).
    pub tcp_end: usize,
}

/// Parse `frame` as received on a `medium` device.
pub(crate) fn parse(medium: Medium, frame: &[u8]) -> Parsed {
    parse_inner(medium, frame).unwrap_or(Parsed::Other)
}

/// The fast path (see the module docs): a TCP segment with neither SYN nor RST, read from three
/// bytes. `false` means "not sure": the full parse decides.
#[inline]
pub(crate) fn plain_tcp(medium: Medium, frame: &[u8]) -> bool {
    const TCP: u8 = 6; // the IP protocol number (IPv4) or next header (IPv6)
    const SYN_OR_RST: u8 = 0x02 | 0x04; // in the TCP header's 14th byte
    let ip = match medium {
        // Ethernet types IPv4 and IPv6.
        Medium::Ethernet => match frame.get(12..14) {
            Some([0x08, 0x00] | [0x86, 0xdd]) => EthernetFrame::<&[u8]>::header_len(),
            _ => return false,
        },
        #[allow(unreachable_patterns)] // only Ethernet without the `medium-ip` feature
        _ => 0,
    };
    let Some(&first) = frame.get(ip) else {
        return false;
    };
    let tcp = match first >> 4 {
        4 if frame.get(ip + 9) == Some(&TCP) => ip + usize::from(first & 0x0f) * 4,
        6 if frame.get(ip + 6) == Some(&TCP) => ip + 40, // the fixed IPv6 header
        _ => return false,
    };
    frame
        .get(tcp + 13)
        .is_some_and(|flags| flags & SYN_OR_RST == 0)
}

fn parse_inner(medium: Medium, frame: &[u8]) -> Option<Parsed> {
    let ip_offset = match medium {
        Medium::Ethernet => {
            let eth = EthernetFrame::new_checked(frame).ok()?;
            match eth.ethertype() {
                EthernetProtocol::Ipv4 => EthernetFrame::<&[u8]>::header_len(),
                #[cfg(feature = "ipv6")]
                EthernetProtocol::Ipv6 => {
                    let offset = EthernetFrame::<&[u8]>::header_len();
                    return ipv6::parse(frame, offset, Some(eth.dst_addr()));
                }
                EthernetProtocol::Arp => {
                    let packet = ArpPacket::new_checked(eth.payload()).ok()?;
                    let arp = ArpRepr::parse(&packet).ok()?;
                    return Some(Parsed::Arp {
                        eth_dst: eth.dst_addr(),
                        arp,
                    });
                }
                _ => return None,
            }
        }
        // An IP-only medium: smoltcp reads the version field.
        #[cfg(feature = "ipv6")]
        #[allow(unreachable_patterns)] // only Ethernet without the `medium-ip` feature
        _ if frame.first()? >> 4 == 6 => return ipv6::parse(frame, 0, None),
        #[allow(unreachable_patterns)] // only Ethernet without the `medium-ip` feature
        _ => 0,
    };
    // Every frame passes here: read the few fields needed through `smoltcp::wire`'s accessors
    // on bounds already checked, and build a `Segment` only for SYN and RST.
    let (ip, body) = ipv4_body(frame.get(ip_offset..)?)?;
    if ip.frag_offset() != 0 {
        return None;
    }
    if ip.next_header() == IpProtocol::Udp {
        return udp(body);
    }
    if ip.more_frags() {
        return None;
    }
    match ip.next_header() {
        IpProtocol::Tcp => {}
        // Read by smoltcp (IGMP with its `multicast` feature; without it, a rare error).
        IpProtocol::Icmp | IpProtocol::Igmp => return None,
        _ => return Some(Parsed::Unread),
    }
    tcp(body, ip_offset + usize::from(ip.header_len()), || {
        (
            IpAddress::Ipv4(ip.src_addr()),
            IpAddress::Ipv4(ip.dst_addr()),
        )
    })
}

#[cfg(feature = "std")]
/// `frame` as a pure acknowledgement (ACK set; no SYN, RST nor FIN; no payload), the only
/// segments `shrunk_window.rs` rewrites. Read only while some connection advertises a zero
/// window, so not on the hot path.
pub(crate) fn parse_pure_ack(medium: Medium, frame: &[u8]) -> Option<Segment> {
    #[allow(clippy::infallible_destructuring_match)] // one variant without `ipv6`
    let ip_offset = match ip_at(medium, frame)? {
        IpAt::V4(offset) => offset,
        #[cfg(feature = "ipv6")]
        IpAt::V6(offset) => return pure_ack_v6(frame, offset),
    };
    let (ip, body) = ipv4_body(frame.get(ip_offset..)?)?;
    if ip.next_header() != IpProtocol::Tcp || ip.more_frags() || ip.frag_offset() != 0 {
        return None;
    }
    let start = ip_offset + usize::from(ip.header_len());
    pure_ack(body, start, ip.src_addr().into(), ip.dst_addr().into())
}

#[cfg(all(feature = "std", feature = "ipv6"))]
fn pure_ack_v6(frame: &[u8], offset: usize) -> Option<Segment> {
    let packet = ipv6::body(frame, offset)?;
    if packet.protocol != IpProtocol::Tcp {
        return None;
    }
    let (src, dst) = (packet.ip.src_addr().into(), packet.ip.dst_addr().into());
    pure_ack(packet.body, offset + packet.start, src, dst)
}

#[cfg(feature = "std")]
fn pure_ack(body: &[u8], start: usize, src: IpAddress, dst: IpAddress) -> Option<Segment> {
    let tcp = TcpPacket::new_checked(body).ok()?;
    if !tcp.ack() || tcp.syn() || tcp.rst() || tcp.fin() || !tcp.payload().is_empty() {
        return None;
    }
    Some(Segment {
        src: IpEndpoint::new(src, tcp.src_port()),
        dst: IpEndpoint::new(dst, tcp.dst_port()),
        seq: tcp.seq_number(),
        ack: Some(tcp.ack_number()),
        syn: false,
        rst: false,
        tcp_start: start,
        tcp_end: start + body.len(),
    })
}

/// A UDP datagram's destination port.
fn udp(body: &[u8]) -> Option<Parsed> {
    if body.len() < 8 {
        return None;
    }
    Some(Parsed::Udp {
        dst_port: UdpPacket::new_unchecked(body).dst_port(),
    })
}

/// A TCP segment starting at `start` in the frame (`body`: the segment), if it is a SYN or a
/// RST; `addrs` gives its source and destination (read only then).
fn tcp(
    body: &[u8],
    start: usize,
    addrs: impl FnOnce() -> (IpAddress, IpAddress),
) -> Option<Parsed> {
    if body.len() < 20 {
        return None;
    }
    let quick = TcpPacket::new_unchecked(body);
    let (syn, rst) = (quick.syn(), quick.rst());
    if !(syn || rst) {
        // The bulk of the traffic: nothing for the guard to decide.
        return None;
    }
    let (src, dst) = addrs();
    let tcp = TcpPacket::new_checked(body).ok()?;
    Some(Parsed::Tcp(Segment {
        src: IpEndpoint::new(src, tcp.src_port()),
        dst: IpEndpoint::new(dst, tcp.dst_port()),
        seq: tcp.seq_number(),
        ack: tcp.ack().then(|| tcp.ack_number()),
        syn,
        rst,
        tcp_start: start,
        tcp_end: start + body.len(),
    }))
}

/// Where the IP packet in a frame starts, by version.
enum IpAt {
    /// An IPv4 packet at this offset.
    V4(usize),
    /// An IPv6 packet at this offset.
    #[cfg(feature = "ipv6")]
    V6(usize),
}

/// Where the IP packet of `frame` (from a `medium` device) starts; `None` for anything else
/// (ARP, other ethertypes). Shared by the readers of TCP segments; `parse` has its own
/// dispatch because it also reads ARP and neighbour discovery.
#[inline(always)] // on the egress hot path, into `parse_sent`
fn ip_at(medium: Medium, frame: &[u8]) -> Option<IpAt> {
    match medium {
        Medium::Ethernet => {
            let eth = EthernetFrame::new_checked(frame).ok()?;
            match eth.ethertype() {
                EthernetProtocol::Ipv4 => Some(IpAt::V4(EthernetFrame::<&[u8]>::header_len())),
                #[cfg(feature = "ipv6")]
                EthernetProtocol::Ipv6 => Some(IpAt::V6(EthernetFrame::<&[u8]>::header_len())),
                _ => None,
            }
        }
        #[cfg(feature = "ipv6")]
        #[allow(unreachable_patterns)]
        _ if frame.first()? >> 4 == 6 => Some(IpAt::V6(0)),
        #[allow(unreachable_patterns)]
        _ => Some(IpAt::V4(0)),
    }
}

/// An IPv4 header (version 4, sane lengths) and the payload its total length covers; the
/// header's fixed fields and the payload are in bounds.
fn ipv4_body(bytes: &[u8]) -> Option<(Ipv4Packet<&[u8]>, &[u8])> {
    if bytes.len() < 20 {
        return None;
    }
    let ip = Ipv4Packet::new_unchecked(bytes);
    let header_len = usize::from(ip.header_len());
    let total_len = usize::from(ip.total_len());
    if ip.version() != 4 || header_len < 20 || total_len < header_len {
        return None;
    }
    let body = bytes.get(header_len..total_len)?;
    Some((ip, body))
}

/// IPv6, read as smoltcp 0.14 reads it: the fixed header and at most one hop-by-hop options
/// header before the transport header (smoltcp answers any other extension header with a
/// parameter problem and reads nothing behind it).
#[cfg(feature = "ipv6")]
mod ipv6 {
    use super::*;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{HardwareAddress, Icmpv6Packet, Icmpv6Repr, NdiscNeighborFlags, NdiscRepr};

    /// The IPv6 packet at `offset` in `frame`; `eth_dst`: the Ethernet destination (`None`:
    /// an IP-only medium, where neighbour discovery means nothing to smoltcp).
    pub(super) fn parse(
        frame: &[u8],
        offset: usize,
        eth_dst: Option<EthernetAddress>,
    ) -> Option<Parsed> {
        let Body {
            ip,
            protocol,
            body,
            start,
        } = body(frame, offset)?;
        match protocol {
            IpProtocol::Udp => udp(body),
            IpProtocol::Tcp => tcp(body, offset + start, || {
                (ip.src_addr().into(), ip.dst_addr().into())
            }),
            IpProtocol::Icmpv6 => ndisc(&ip, body, eth_dst?).map(Parsed::Ndisc),
            _ => Some(Parsed::Unread),
        }
    }

    /// An IPv6 packet as far as the guard reads it.
    pub(super) struct Body<'a> {
        /// The fixed header.
        pub ip: Ipv6Packet<&'a [u8]>,
        /// The transport protocol.
        pub protocol: IpProtocol,
        /// The transport header and payload.
        pub body: &'a [u8],
        /// Where `body` starts, from the IPv6 header's first byte.
        pub start: usize,
    }

    /// The IPv6 packet at `offset` in `frame`.
    pub(super) fn body(frame: &[u8], offset: usize) -> Option<Body<'_>> {
        let bytes = frame.get(offset..)?;
        let ip = Ipv6Packet::new_checked(bytes).ok()?;
        if ip.version() != 6 {
            // smoltcp reads an Ethernet frame by its type and rejects the mismatch.
            return None;
        }
        let end = smoltcp::wire::IPV6_HEADER_LEN + usize::from(ip.payload_len());
        let mut protocol = ip.next_header();
        let mut start = smoltcp::wire::IPV6_HEADER_LEN;
        if protocol == IpProtocol::HopByHop {
            let ext = bytes.get(start..end)?;
            protocol = IpProtocol::from(*ext.first()?);
            start += (usize::from(*ext.get(1)?) + 1) * 8;
        }
        let body = bytes.get(start..end)?;
        Some(Body {
            ip,
            protocol,
            body,
            start,
        })
    }

    /// A neighbour solicitation or advertisement with a valid checksum and hop limit 255, as
    /// smoltcp would accept it.
    fn ndisc(ip: &Ipv6Packet<&[u8]>, body: &[u8], eth_dst: EthernetAddress) -> Option<Ndisc> {
        // Only types 135 and 136 are worth a checksum.
        if ip.hop_limit() != 255 || !matches!(body.first(), Some(135 | 136)) {
            return None;
        }
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let packet = Icmpv6Packet::new_checked(body).ok()?;
        let repr = Icmpv6Repr::parse(&src, &dst, &packet, &ChecksumCapabilities::default()).ok()?;
        let ethernet = |lladdr: Option<smoltcp::wire::RawHardwareAddress>| match lladdr?
            .parse(Medium::Ethernet)
            .ok()?
        {
            HardwareAddress::Ethernet(mac) => Some(mac),
            #[allow(unreachable_patterns)]
            _ => None,
        };
        let (target, lladdr, advert, override_flag) = match repr {
            Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
                target_addr,
                lladdr,
            }) => (target_addr, ethernet(lladdr), false, false),
            Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
                flags,
                target_addr,
                lladdr,
            }) => (
                target_addr,
                ethernet(lladdr),
                true,
                flags.contains(NdiscNeighborFlags::OVERRIDE),
            ),
            _ => return None,
        };
        Some(Ndisc {
            eth_dst,
            src,
            dst,
            target,
            lladdr,
            advert,
            override_flag,
        })
    }
}

/// The fields of a TCP segment we sent, for the [`AckTracker`](super::acks::AckTracker).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent {
    /// Our port.
    pub local_port: u16,
    /// The peer.
    pub remote: IpEndpoint,
    /// Sequence number just after this segment (SYN and FIN count one).
    pub seq_end: TcpSeqNumber,
    /// The acknowledgement number it carried, if any.
    pub ack: Option<TcpSeqNumber>,
    /// It was a RST.
    pub rst: bool,
    /// Its window field (not shifted).
    #[cfg(feature = "std")]
    pub window: u16,
    /// For a SYN: the window scale it announced (0 without the option); `None` otherwise.
    #[cfg(feature = "std")]
    pub window_shift: Option<u8>,
}

/// Parse a frame we are about to send (built by smoltcp: well-formed).
///
/// Every frame we send passes here, so the headers are read at their fixed offsets in one
/// bounds check each rather than field by field through `smoltcp::wire` (whose accessors check
/// bounds at every read): smoltcp built these frames, so there is no other reading of them to
/// agree with. The checks that remain only keep a frame that is not a TCP segment out.
#[inline] // into its one caller, `egress::note`
pub(crate) fn parse_sent(medium: Medium, frame: &[u8]) -> Option<Sent> {
    #[allow(clippy::infallible_destructuring_match)] // one variant without `ipv6`
    let ip_offset = match ip_at(medium, frame)? {
        IpAt::V4(offset) => offset,
        #[cfg(feature = "ipv6")]
        IpAt::V6(offset) => return sent_v6(frame, offset),
    };
    let bytes = frame.get(ip_offset..)?;
    let ip: &[u8; 20] = bytes.get(..20)?.try_into().ok()?;
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    // Version 4, TCP, and not a fragment: neither "more fragments" (0x2000) nor an offset.
    let fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0;
    if ip[0] >> 4 != 4 || ip[9] != u8::from(IpProtocol::Tcp) || fragment || header_len < 20 {
        return None;
    }
    let body = bytes.get(header_len..total_len)?;
    let dst = Ipv4Address::new(ip[16], ip[17], ip[18], ip[19]);
    sent(body, IpAddress::Ipv4(dst))
}

#[cfg(feature = "ipv6")]
fn sent_v6(frame: &[u8], offset: usize) -> Option<Sent> {
    let packet = ipv6::body(frame, offset)?;
    if packet.protocol != IpProtocol::Tcp {
        return None;
    }
    sent(packet.body, IpAddress::Ipv6(packet.ip.dst_addr()))
}

/// The window scale option among a SYN's `options` (0 without it).
#[cfg(feature = "std")]
#[cold]
fn window_scale(options: Option<&[u8]>) -> u8 {
    use smoltcp::wire::TcpOption;
    let mut rest = options.unwrap_or_default();
    while !rest.is_empty() {
        match TcpOption::parse(rest) {
            Ok((_, TcpOption::WindowScale(shift))) => return shift,
            Ok((_, TcpOption::EndOfList)) | Err(_) => break,
            Ok((next, _)) => rest = next,
        }
    }
    0
}

/// The TCP segment `body` we send to `remote`.
#[inline(always)]
fn sent(body: &[u8], remote: IpAddress) -> Option<Sent> {
    const FIN: u8 = 0x01;
    const SYN: u8 = 0x02;
    const RST: u8 = 0x04;
    const ACK: u8 = 0x10;
    let tcp: &[u8; 20] = body.get(..20)?.try_into().ok()?;
    let header_len = usize::from(tcp[12] >> 4) * 4;
    if header_len < 20 || header_len > body.len() {
        return None;
    }
    let flags = tcp[13];
    let control = usize::from(flags & SYN != 0) + usize::from(flags & FIN != 0);
    let payload_len = body.len() - header_len;
    let seq = i32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
    let ack = TcpSeqNumber(i32::from_be_bytes([tcp[8], tcp[9], tcp[10], tcp[11]]));
    // At most 64 KiB + 2: sequence arithmetic wraps, as `TcpSeqNumber + usize` does.
    let len = (payload_len + control) as i32;
    Some(Sent {
        local_port: u16::from_be_bytes([tcp[0], tcp[1]]),
        remote: IpEndpoint::new(remote, u16::from_be_bytes([tcp[2], tcp[3]])),
        seq_end: TcpSeqNumber(seq.wrapping_add(len)),
        ack: (flags & ACK != 0).then_some(ack),
        rst: flags & RST != 0,
        #[cfg(feature = "std")]
        window: u16::from_be_bytes([tcp[14], tcp[15]]),
        #[cfg(feature = "std")]
        window_shift: (flags & SYN != 0).then(|| window_scale(body.get(20..header_len))),
    })
}

#[cfg(feature = "std")]
/// A copy of `frame` (the pure acknowledgement `segment`) in `out` with sequence number `seq`,
/// checksum recomputed. Returns the length written, or `None` if the frame does not fit.
pub(crate) fn rewrite_seq(
    frame: &[u8],
    segment: &Segment,
    seq: TcpSeqNumber,
    out: &mut [u8],
) -> Option<usize> {
    rewrite(frame, segment, out, |tcp| tcp.set_seq_number(seq))
}

/// Turn the RST segment in `frame` into a pure ACK whose acknowledgement number is beyond
/// anything we sent (`ack`), written into `out`: smoltcp answers such a segment with a
/// challenge ACK (rate-limited by smoltcp, one per second per socket) and changes nothing else.
/// Returns the length written, or `None` if the frame does not fit in `out`.
pub(crate) fn rewrite_rst_as_probe(
    frame: &[u8],
    segment: &Segment,
    ack: TcpSeqNumber,
    out: &mut [u8],
) -> Option<usize> {
    rewrite(frame, segment, out, |tcp| {
        tcp.set_rst(false);
        tcp.set_syn(false);
        tcp.set_fin(false);
        tcp.set_psh(false);
        tcp.set_ack(true);
        tcp.set_ack_number(ack);
    })
}

/// A copy of `frame` (holding `segment`) in `out`, its TCP header changed by `edit` and its
/// checksum recomputed; the length written, or `None` if it does not fit.
#[inline(always)]
fn rewrite(
    frame: &[u8],
    segment: &Segment,
    out: &mut [u8],
    edit: impl FnOnce(&mut TcpPacket<&mut [u8]>),
) -> Option<usize> {
    let copy = out.get_mut(..frame.len())?;
    copy.copy_from_slice(frame);
    let tcp_bytes = copy.get_mut(segment.tcp_start..segment.tcp_end)?;
    let mut tcp = TcpPacket::new_checked(tcp_bytes).ok()?;
    edit(&mut tcp);
    tcp.fill_checksum(&segment.src.addr, &segment.dst.addr);
    Some(frame.len())
}

#[cfg(all(test, feature = "ipv6"))]
mod tests {
    use super::*;
    use smoltcp::wire::{TcpControl, TcpRepr};

    const SRC: Ipv6Address = Ipv6Address::new(0xfd00, 0x69, 0, 0, 0, 0, 0, 0x100);
    const DST: Ipv6Address = Ipv6Address::new(0xfd00, 0x69, 0, 0, 0, 0, 0, 1);

    /// An Ethernet frame of type `ethertype` carrying an IPv6 TCP SYN, behind a hop-by-hop
    /// options header (8 bytes of padding) when `hop_by_hop`.
    fn syn_frame(ethertype: u16, hop_by_hop: bool) -> ([u8; 200], usize) {
        let tcp = TcpRepr {
            src_port: 40000,
            dst_port: 8000,
            control: TcpControl::Syn,
            seq_number: TcpSeqNumber(7),
            ack_number: None,
            window_len: 1024,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None, None, None],
            timestamp: None,
            payload: &[],
        };
        let ext = if hop_by_hop { 8 } else { 0 };
        let mut frame = [0u8; 200];
        frame[12..14].copy_from_slice(&ethertype.to_be_bytes());
        let ip = &mut frame[14..];
        ip[0] = 0x60;
        ip[4..6].copy_from_slice(&((ext + tcp.buffer_len()) as u16).to_be_bytes());
        ip[6] = if hop_by_hop { 0 } else { 6 };
        ip[7] = 64;
        ip[8..24].copy_from_slice(&SRC.octets());
        ip[24..40].copy_from_slice(&DST.octets());
        if hop_by_hop {
            // Next header TCP, length 0 (8 bytes), a PadN option of 4 bytes.
            ip[40..48].copy_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
        }
        let mut segment = TcpPacket::new_unchecked(&mut ip[40 + ext..]);
        tcp.emit(
            &mut segment,
            &IpAddress::Ipv6(SRC),
            &IpAddress::Ipv6(DST),
            &Default::default(),
        );
        (frame, 14 + 40 + ext + tcp.buffer_len())
    }

    #[test]
    fn an_ipv6_syn_is_read_with_or_without_a_hop_by_hop_header() {
        for hop_by_hop in [false, true] {
            let (frame, len) = syn_frame(0x86dd, hop_by_hop);
            let Parsed::Tcp(segment) = parse(Medium::Ethernet, &frame[..len]) else {
                panic!("not read as TCP (hop-by-hop: {hop_by_hop})");
            };
            assert!(segment.syn && !segment.rst && segment.ack.is_none());
            assert_eq!(segment.src, IpEndpoint::new(IpAddress::Ipv6(SRC), 40000));
            assert_eq!(segment.dst, IpEndpoint::new(IpAddress::Ipv6(DST), 8000));
            assert_eq!(segment.seq, TcpSeqNumber(7));
            assert_eq!(segment.tcp_end, len);
            let sent = parse_sent(Medium::Ethernet, &frame[..len]).expect("read as sent");
            assert_eq!(sent.remote, IpEndpoint::new(IpAddress::Ipv6(DST), 8000));
        }
    }

    #[test]
    fn an_ipv6_packet_in_an_ipv4_frame_is_left_to_smoltcp() {
        // smoltcp reads the frame by its Ethernet type and rejects the mismatch; the guard
        // must not act on it either.
        let (frame, len) = syn_frame(0x0800, false);
        assert!(matches!(
            parse(Medium::Ethernet, &frame[..len]),
            Parsed::Other
        ));
        // And cut short: nothing read past the end.
        let (frame, len) = syn_frame(0x86dd, true);
        for cut in 0..len {
            assert!(matches!(
                parse(Medium::Ethernet, &frame[..cut]),
                Parsed::Other
            ));
        }
    }
}
