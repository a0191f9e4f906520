//! Hand-made Ethernet frames for the attack tests and the whole-stack fuzz target: an attacker's
//! ARP, IPv4, TCP and UDP, with correct checksums (built with `smoltcp::wire`), and a parser
//! for what the stack sends back.
//!
//! Shared by `tests/tap_hostile.rs` and `fuzz/fuzz_targets/stack.rs` (`#[path]`), so it uses
//! only `std` and smoltcp.
#![allow(dead_code)]

use smolsock::smoltcp::phy::ChecksumCapabilities;
use smolsock::smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, IpAddress, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, TcpPacket, UdpPacket,
    UdpRepr,
};

/// TCP flag bits, as in the header's 13th byte.
pub mod flag {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
}

/// Ethernet header of a frame (addresses) and IPv4 addresses of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hosts {
    /// Sender's MAC.
    pub src_mac: EthernetAddress,
    /// Receiver's MAC.
    pub dst_mac: EthernetAddress,
    /// Sender's IPv4 address.
    pub src_ip: Ipv4Address,
    /// Receiver's IPv4 address.
    pub dst_ip: Ipv4Address,
}

/// A TCP segment, every field chosen by the caller.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (sent whatever the ACK flag says).
    pub ack: u32,
    /// Flag bits ([`flag`]).
    pub flags: u8,
    /// Window.
    pub window: u16,
    /// Raw option bytes (padded with zeros to a multiple of 4, at most 40).
    pub options: &'a [u8],
    /// Payload.
    pub payload: &'a [u8],
}

impl<'a> Segment<'a> {
    /// A segment without options or payload.
    pub fn new(src_port: u16, dst_port: u16, seq: u32, ack: u32, flags: u8) -> Self {
        Segment {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window: 64240,
            options: &[],
            payload: &[],
        }
    }

    /// A SYN with an MSS option, as a kernel would send it.
    pub fn syn(src_port: u16, dst_port: u16, seq: u32) -> Self {
        const MSS_1460: [u8; 4] = [2, 4, 0x05, 0xb4];
        Segment {
            options: &MSS_1460,
            ..Segment::new(src_port, dst_port, seq, 0, flag::SYN)
        }
    }
}

fn ethernet(hosts: &Hosts, ethertype: EthernetProtocol, payload_len: usize) -> Vec<u8> {
    let repr = EthernetRepr {
        src_addr: hosts.src_mac,
        dst_addr: hosts.dst_mac,
        ethertype,
    };
    let mut frame = vec![0u8; repr.buffer_len() + payload_len];
    repr.emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
    frame
}

/// An Ethernet frame carrying an IPv4 packet with `payload_len` bytes of `protocol`, its
/// payload left for the caller (at offset 34).
fn ipv4(hosts: &Hosts, protocol: IpProtocol, payload_len: usize, ttl: u8) -> Vec<u8> {
    let repr = Ipv4Repr {
        src_addr: hosts.src_ip,
        dst_addr: hosts.dst_ip,
        next_header: protocol,
        payload_len,
        hop_limit: ttl,
    };
    let mut frame = ethernet(
        hosts,
        EthernetProtocol::Ipv4,
        repr.buffer_len() + payload_len,
    );
    let mut packet = Ipv4Packet::new_unchecked(&mut frame[14..]);
    repr.emit(&mut packet, &ChecksumCapabilities::default());
    frame
}

/// Offset of the IPv4 payload in frames made here (no IP options).
pub const L4: usize = 14 + 20;

/// An Ethernet + IPv4 + TCP frame with correct checksums.
pub fn tcp(hosts: &Hosts, segment: &Segment<'_>) -> Vec<u8> {
    let options = &segment.options[..segment.options.len().min(40)];
    let header_len = 20 + options.len().div_ceil(4) * 4;
    let mut frame = ipv4(
        hosts,
        IpProtocol::Tcp,
        header_len + segment.payload.len(),
        64,
    );
    let tcp = &mut frame[L4..];
    tcp[0..2].copy_from_slice(&segment.src_port.to_be_bytes());
    tcp[2..4].copy_from_slice(&segment.dst_port.to_be_bytes());
    tcp[4..8].copy_from_slice(&segment.seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&segment.ack.to_be_bytes());
    tcp[12] = ((header_len / 4) as u8) << 4;
    tcp[13] = segment.flags;
    tcp[14..16].copy_from_slice(&segment.window.to_be_bytes());
    tcp[20..20 + options.len()].copy_from_slice(options);
    tcp[header_len..].copy_from_slice(segment.payload);
    let mut packet = TcpPacket::new_unchecked(tcp);
    packet.fill_checksum(&hosts.src_ip.into(), &hosts.dst_ip.into());
    frame
}

/// An Ethernet + IPv4 + UDP frame with correct checksums.
pub fn udp(hosts: &Hosts, src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let repr = UdpRepr { src_port, dst_port };
    let mut frame = ipv4(
        hosts,
        IpProtocol::Udp,
        repr.header_len() + payload.len(),
        64,
    );
    let mut packet = UdpPacket::new_unchecked(&mut frame[L4..]);
    repr.emit(
        &mut packet,
        &hosts.src_ip.into(),
        &hosts.dst_ip.into(),
        payload.len(),
        |buf| buf.copy_from_slice(payload),
        &ChecksumCapabilities::default(),
    );
    frame
}

/// An ARP request (`reply == false`: who has `target_ip`?) or reply, from `mac`/`ip`.
pub fn arp(
    mac: EthernetAddress,
    ip: Ipv4Address,
    dst_mac: EthernetAddress,
    target_ip: Ipv4Address,
    reply: bool,
) -> Vec<u8> {
    let repr = ArpRepr::EthernetIpv4 {
        operation: if reply {
            ArpOperation::Reply
        } else {
            ArpOperation::Request
        },
        source_hardware_addr: mac,
        source_protocol_addr: ip,
        target_hardware_addr: if reply {
            dst_mac
        } else {
            EthernetAddress([0; 6])
        },
        target_protocol_addr: target_ip,
    };
    let hosts = Hosts {
        src_mac: mac,
        dst_mac,
        src_ip: ip,
        dst_ip: target_ip,
    };
    let mut frame = ethernet(&hosts, EthernetProtocol::Arp, repr.buffer_len());
    repr.emit(&mut ArpPacket::new_unchecked(&mut frame[14..]));
    frame
}

/// What a frame is, after checking every header and checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A well-formed ARP packet.
    Arp {
        /// Ethernet source.
        src_mac: EthernetAddress,
        /// Request (`false`) or reply.
        reply: bool,
        /// Sender's addresses.
        sender: (EthernetAddress, Ipv4Address),
        /// Target's protocol address.
        target_ip: Ipv4Address,
    },
    /// A well-formed TCP segment.
    Tcp {
        /// Ethernet and IP addresses.
        hosts: Hosts,
        /// Ports, sequence numbers, flags, window (the segment's payload is not kept).
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Sequence number.
        seq: u32,
        /// Acknowledgment number.
        ack: u32,
        /// Flag bits.
        flags: u8,
        /// Window (unscaled).
        window: u16,
        /// Payload length.
        len: usize,
    },
    /// A well-formed UDP datagram.
    Udp {
        /// Ethernet and IP addresses.
        hosts: Hosts,
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Payload.
        payload: Vec<u8>,
    },
    /// A well-formed IPv4 packet of another protocol (ICMP...).
    OtherIpv4(Hosts, IpProtocol),
}

/// Parse `frame` strictly: Ethernet, then ARP or IPv4 with a valid header checksum, then TCP or
/// UDP with a valid checksum. `Err` says what is wrong.
pub fn parse(frame: &[u8]) -> Result<Parsed, String> {
    parse_checked(frame, false)
}

/// [`parse`] for a frame smolsock sent, as a packet socket on the TAP interface sees it: with
/// the TAP device's TCP checksum offload the TCP checksum field holds the pseudo-header's sum
/// (the kernel completes it only if the segment leaves the machine; `tcpdump` shows the
/// kernel's own offloaded segments so too). That, or a complete checksum; anything else is an
/// error.
pub fn parse_sent(frame: &[u8]) -> Result<Parsed, String> {
    parse_checked(frame, true)
}

/// The TCP checksum field of a segment whose checksum is left to the kernel: the folded sum of
/// the IPv4 pseudo-header (not complemented).
fn partial_tcp_checksum(src: Ipv4Address, dst: Ipv4Address, tcp_len: usize) -> u16 {
    let mut acc: u32 = 6 + tcp_len as u32;
    for pair in src.octets().chunks(2).chain(dst.octets().chunks(2)) {
        acc += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

fn parse_checked(frame: &[u8], partial_tcp: bool) -> Result<Parsed, String> {
    let eth = EthernetFrame::new_checked(frame).map_err(|e| format!("ethernet: {e}"))?;
    match eth.ethertype() {
        EthernetProtocol::Arp => {
            let packet = ArpPacket::new_checked(eth.payload()).map_err(|e| format!("arp: {e}"))?;
            match ArpRepr::parse(&packet).map_err(|e| format!("arp: {e}"))? {
                ArpRepr::EthernetIpv4 {
                    operation,
                    source_hardware_addr,
                    source_protocol_addr,
                    target_protocol_addr,
                    ..
                } => Ok(Parsed::Arp {
                    src_mac: eth.src_addr(),
                    reply: operation == ArpOperation::Reply,
                    sender: (source_hardware_addr, source_protocol_addr),
                    target_ip: target_protocol_addr,
                }),
                other => Err(format!("arp: unexpected {other:?}")),
            }
        }
        EthernetProtocol::Ipv4 => {
            let ip = Ipv4Packet::new_checked(eth.payload()).map_err(|e| format!("ipv4: {e}"))?;
            if !ip.verify_checksum() {
                return Err("ipv4: bad header checksum".into());
            }
            if usize::from(ip.total_len()) != eth.payload().len() {
                return Err(format!(
                    "ipv4: total length {} in a {}-byte payload",
                    ip.total_len(),
                    eth.payload().len()
                ));
            }
            let hosts = Hosts {
                src_mac: eth.src_addr(),
                dst_mac: eth.dst_addr(),
                src_ip: ip.src_addr(),
                dst_ip: ip.dst_addr(),
            };
            let (src, dst): (IpAddress, IpAddress) = (hosts.src_ip.into(), hosts.dst_ip.into());
            match ip.next_header() {
                IpProtocol::Tcp => {
                    let tcp =
                        TcpPacket::new_checked(ip.payload()).map_err(|e| format!("tcp: {e}"))?;
                    let partial = partial_tcp
                        && tcp.checksum()
                            == partial_tcp_checksum(hosts.src_ip, hosts.dst_ip, ip.payload().len());
                    if !partial && !tcp.verify_checksum(&src, &dst) {
                        return Err("tcp: bad checksum".into());
                    }
                    let raw = ip.payload();
                    Ok(Parsed::Tcp {
                        hosts,
                        src_port: tcp.src_port(),
                        dst_port: tcp.dst_port(),
                        seq: u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]),
                        ack: u32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]]),
                        flags: raw[13] & 0x3f,
                        window: tcp.window_len(),
                        len: tcp.payload().len(),
                    })
                }
                IpProtocol::Udp => {
                    let udp =
                        UdpPacket::new_checked(ip.payload()).map_err(|e| format!("udp: {e}"))?;
                    if !udp.verify_checksum(&src, &dst) {
                        return Err("udp: bad checksum".into());
                    }
                    Ok(Parsed::Udp {
                        hosts,
                        src_port: udp.src_port(),
                        dst_port: udp.dst_port(),
                        payload: udp.payload().to_vec(),
                    })
                }
                other => Ok(Parsed::OtherIpv4(hosts, other)),
            }
        }
        other => Err(format!("ethertype {other}")),
    }
}
