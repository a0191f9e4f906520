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
    /// An unfragmented IPv4 TCP segment.
    Tcp(Segment),
    /// An IPv4 UDP datagram (the first fragment, or unfragmented), by destination port.
    Udp {
        /// Its destination port.
        dst_port: u16,
    },
    /// Anything else: smoltcp's business.
    Other,
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
    /// Where the IP header starts in the frame.
    pub ip_offset: usize,
}

/// Parse `frame` as received on a `medium` device.
pub(crate) fn parse(medium: Medium, frame: &[u8]) -> Parsed {
    parse_inner(medium, frame).unwrap_or(Parsed::Other)
}

fn parse_inner(medium: Medium, frame: &[u8]) -> Option<Parsed> {
    let ip_offset = match medium {
        Medium::Ethernet => {
            let eth = EthernetFrame::new_checked(frame).ok()?;
            match eth.ethertype() {
                EthernetProtocol::Ipv4 => EthernetFrame::<&[u8]>::header_len(),
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
        if body.len() < 8 {
            return None;
        }
        return Some(Parsed::Udp {
            dst_port: UdpPacket::new_unchecked(body).dst_port(),
        });
    }
    if ip.next_header() != IpProtocol::Tcp || ip.more_frags() || body.len() < 20 {
        return None;
    }
    let quick = TcpPacket::new_unchecked(body);
    let (syn, rst) = (quick.syn(), quick.rst());
    if !(syn || rst) {
        // The bulk of the traffic: nothing for the guard to decide.
        return None;
    }
    let (src, dst) = (
        IpAddress::Ipv4(ip.src_addr()),
        IpAddress::Ipv4(ip.dst_addr()),
    );
    let tcp = TcpPacket::new_checked(body).ok()?;
    Some(Parsed::Tcp(Segment {
        src: IpEndpoint::new(src, tcp.src_port()),
        dst: IpEndpoint::new(dst, tcp.dst_port()),
        seq: tcp.seq_number(),
        ack: tcp.ack().then(|| tcp.ack_number()),
        syn,
        rst,
        ip_offset,
    }))
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
    let ip_offset = match medium {
        Medium::Ethernet => {
            let eth = EthernetFrame::new_checked(frame).ok()?;
            if eth.ethertype() != EthernetProtocol::Ipv4 {
                return None;
            }
            EthernetFrame::<&[u8]>::header_len()
        }
        #[allow(unreachable_patterns)]
        _ => 0,
    };
    let (ip, body) = ipv4_body(frame.get(ip_offset..)?)?;
    if ip.next_header() != IpProtocol::Tcp
        || ip.more_frags()
        || ip.frag_offset() != 0
        || body.len() < 20
    {
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
        remote: IpEndpoint::new(IpAddress::Ipv4(ip.dst_addr()), tcp.dst_port()),
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
    let ip_bytes = copy.get_mut(segment.ip_offset..)?;
    let header_len = usize::from(Ipv4Packet::new_checked(&*ip_bytes).ok()?.header_len());
    let total_len = usize::from(Ipv4Packet::new_checked(&*ip_bytes).ok()?.total_len());
    let tcp_bytes = ip_bytes.get_mut(header_len..total_len)?;
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
