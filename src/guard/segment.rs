//! A first look at a received frame: just enough of its headers for the guard to decide.
//!
//! Parsing goes through `smoltcp::wire`, the same code smoltcp itself uses, so the guard never
//! reads a header smoltcp would read differently. Checksums are left to smoltcp: a corrupt
//! segment the guard acts on can at worst recycle a half-open slot of a peer that never answered
//! ARP, or turn a corrupt RST into a probe smoltcp answers with a challenge ACK, both harmless.

use smoltcp::phy::Medium;
use smoltcp::wire::{
    ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, IpAddress, IpEndpoint,
    IpProtocol, Ipv4Packet, TcpPacket, TcpSeqNumber, UdpPacket,
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

/// The IP layer of a frame: addresses, protocol, and where its payload lies in the frame.
struct IpView<'a> {
    src: IpAddress,
    dst: IpAddress,
    protocol: IpProtocol,
    /// IPv4: a fragment other than the first (no transport header in it).
    later_fragment: bool,
    /// IPv4: more fragments follow.
    more_frags: bool,
    /// IPv6 hop limit (255 for neighbour discovery), IPv4 TTL.
    #[cfg_attr(not(feature = "ipv6"), allow(dead_code))]
    hop_limit: u8,
    /// The transport header and payload.
    body: &'a [u8],
    /// Where `body` starts in the frame.
    body_offset: usize,
}

/// The link layer: where the IP packet starts, the IP version the Ethernet type announced
/// (`None`: an IP-only medium, where smoltcp reads the version field) and the Ethernet
/// destination; or an ARP packet.
enum Link {
    Ip(usize, Option<u8>, Option<EthernetAddress>),
    Arp(EthernetAddress, ArpRepr),
}

fn link(medium: Medium, frame: &[u8]) -> Option<Link> {
    match medium {
        Medium::Ethernet => {
            let eth = EthernetFrame::new_checked(frame).ok()?;
            match eth.ethertype() {
                EthernetProtocol::Ipv4 => Some(Link::Ip(
                    EthernetFrame::<&[u8]>::header_len(),
                    Some(4),
                    Some(eth.dst_addr()),
                )),
                #[cfg(feature = "ipv6")]
                EthernetProtocol::Ipv6 => Some(Link::Ip(
                    EthernetFrame::<&[u8]>::header_len(),
                    Some(6),
                    Some(eth.dst_addr()),
                )),
                EthernetProtocol::Arp => {
                    let packet = ArpPacket::new_checked(eth.payload()).ok()?;
                    let arp = ArpRepr::parse(&packet).ok()?;
                    Some(Link::Arp(eth.dst_addr(), arp))
                }
                _ => None,
            }
        }
        #[allow(unreachable_patterns)] // only Ethernet without the `medium-ip` feature
        _ => Some(Link::Ip(0, None, None)),
    }
}

/// Parse `frame` as received on a `medium` device.
pub(crate) fn parse(medium: Medium, frame: &[u8]) -> Parsed {
    parse_inner(medium, frame).unwrap_or(Parsed::Other)
}

fn parse_inner(medium: Medium, frame: &[u8]) -> Option<Parsed> {
    let (ip_offset, version, _eth_dst) = match link(medium, frame)? {
        Link::Arp(eth_dst, arp) => return Some(Parsed::Arp { eth_dst, arp }),
        Link::Ip(offset, version, eth_dst) => (offset, version, eth_dst),
    };
    // Every frame passes here: read the few fields needed through `smoltcp::wire`'s accessors
    // on bounds already checked, and build a `Segment` only for SYN and RST.
    let ip = ip_view(frame, ip_offset, version)?;
    if ip.later_fragment {
        return None;
    }
    let body = ip.body;
    if ip.protocol == IpProtocol::Udp {
        if body.len() < 8 {
            return None;
        }
        return Some(Parsed::Udp {
            dst_port: UdpPacket::new_unchecked(body).dst_port(),
        });
    }
    #[cfg(feature = "ipv6")]
    if ip.protocol == IpProtocol::Icmpv6 {
        // Neighbour discovery means something to smoltcp on Ethernet only.
        return ndisc(&ip, _eth_dst?).map(Parsed::Ndisc);
    }
    if ip.protocol != IpProtocol::Tcp || ip.more_frags || body.len() < 20 {
        return None;
    }
    let quick = TcpPacket::new_unchecked(body);
    let (syn, rst) = (quick.syn(), quick.rst());
    if !(syn || rst) {
        // The bulk of the traffic: nothing for the guard to decide.
        return None;
    }
    let tcp = TcpPacket::new_checked(body).ok()?;
    Some(Parsed::Tcp(Segment {
        src: IpEndpoint::new(ip.src, tcp.src_port()),
        dst: IpEndpoint::new(ip.dst, tcp.dst_port()),
        seq: tcp.seq_number(),
        ack: tcp.ack().then(|| tcp.ack_number()),
        syn,
        rst,
        tcp_start: ip.body_offset,
        tcp_end: ip.body_offset + body.len(),
    }))
}

/// The IP packet at `offset` in `frame`, IPv4 or (feature `ipv6`) IPv6, read as smoltcp reads
/// it: for IPv6, the fixed header and at most one hop-by-hop options header before the
/// transport header (smoltcp 0.14 answers any other extension header with a parameter
/// problem and reads nothing behind it).
fn ip_view(frame: &[u8], offset: usize, expected: Option<u8>) -> Option<IpView<'_>> {
    let bytes = frame.get(offset..)?;
    let version = bytes.first()? >> 4;
    if expected.is_some_and(|v| v != version) {
        // smoltcp reads an Ethernet frame by its type and rejects the mismatch.
        return None;
    }
    match version {
        4 => {
            let (ip, body, header_len) = ipv4_body(bytes)?;
            Some(IpView {
                src: IpAddress::Ipv4(ip.src_addr()),
                dst: IpAddress::Ipv4(ip.dst_addr()),
                protocol: ip.next_header(),
                later_fragment: ip.frag_offset() != 0,
                more_frags: ip.more_frags(),
                hop_limit: ip.hop_limit(),
                body,
                body_offset: offset + header_len,
            })
        }
        #[cfg(feature = "ipv6")]
        6 => {
            let ip = Ipv6Packet::new_checked(bytes).ok()?;
            let header_len = smoltcp::wire::IPV6_HEADER_LEN;
            let end = header_len + usize::from(ip.payload_len());
            let mut protocol = ip.next_header();
            let mut start = header_len;
            if protocol == IpProtocol::HopByHop {
                let ext = bytes.get(start..end)?;
                let len = (usize::from(*ext.get(1)?) + 1) * 8;
                protocol = IpProtocol::from(*ext.first()?);
                start += len;
            }
            Some(IpView {
                src: IpAddress::Ipv6(ip.src_addr()),
                dst: IpAddress::Ipv6(ip.dst_addr()),
                protocol,
                later_fragment: false,
                more_frags: false,
                hop_limit: ip.hop_limit(),
                body: bytes.get(start..end)?,
                body_offset: offset + start,
            })
        }
        _ => None,
    }
}

/// A neighbour solicitation or advertisement with a valid checksum, as smoltcp would accept it
/// (hop limit 255).
#[cfg(feature = "ipv6")]
fn ndisc(ip: &IpView<'_>, eth_dst: EthernetAddress) -> Option<Ndisc> {
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{HardwareAddress, Icmpv6Packet, Icmpv6Repr, NdiscNeighborFlags, NdiscRepr};
    let (IpAddress::Ipv6(src), IpAddress::Ipv6(dst)) = (ip.src, ip.dst) else {
        return None;
    };
    // Only types 135 and 136 are worth a checksum.
    if ip.hop_limit != 255 || !matches!(ip.body.first(), Some(135 | 136)) {
        return None;
    }
    let packet = Icmpv6Packet::new_checked(ip.body).ok()?;
    let caps = ChecksumCapabilities::default();
    let repr = Icmpv6Repr::parse(&src, &dst, &packet, &caps).ok()?;
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

/// An IPv4 header (version 4, sane lengths), the payload its total length covers and the
/// header's length; the header's fixed fields and the payload are in bounds.
fn ipv4_body(bytes: &[u8]) -> Option<(Ipv4Packet<&[u8]>, &[u8], usize)> {
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
    Some((ip, body, header_len))
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
}

/// Parse a frame we are about to send (built by smoltcp: well-formed).
pub(crate) fn parse_sent(medium: Medium, frame: &[u8]) -> Option<Sent> {
    let Link::Ip(ip_offset, version, _) = link(medium, frame)? else {
        return None;
    };
    let ip = ip_view(frame, ip_offset, version)?;
    let body = ip.body;
    if ip.protocol != IpProtocol::Tcp || ip.more_frags || ip.later_fragment || body.len() < 20 {
        return None;
    }
    let tcp = TcpPacket::new_unchecked(body);
    let header_len = usize::from(tcp.header_len());
    if header_len < 20 || header_len > body.len() {
        return None;
    }
    let control = usize::from(tcp.syn()) + usize::from(tcp.fin());
    let payload_len = body.len() - header_len;
    Some(Sent {
        local_port: tcp.src_port(),
        remote: IpEndpoint::new(ip.dst, tcp.dst_port()),
        seq_end: tcp.seq_number() + (payload_len + control),
        ack: tcp.ack().then(|| tcp.ack_number()),
        rst: tcp.rst(),
    })
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
    let copy = out.get_mut(..frame.len())?;
    copy.copy_from_slice(frame);
    let tcp_bytes = copy.get_mut(segment.tcp_start..segment.tcp_end)?;
    let mut tcp = TcpPacket::new_checked(tcp_bytes).ok()?;
    tcp.set_rst(false);
    tcp.set_syn(false);
    tcp.set_fin(false);
    tcp.set_psh(false);
    tcp.set_ack(true);
    tcp.set_ack_number(ack);
    tcp.fill_checksum(&segment.src.addr, &segment.dst.addr);
    Some(frame.len())
}
