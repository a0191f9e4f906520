//! Who computes and who checks checksums on the TAP device.
//!
//! smoltcp computes the checksum of every segment it sends and checks the checksum of every
//! segment it receives: one pass over every payload byte each way, on top of the copies. Between
//! smolsock and the kernel of the same machine neither pass guards anything (no wire can flip a
//! bit), and the kernel's checksum offload (`TUN_F_CSUM`, the way virtio-net guests talk to
//! their host) lets both go, as the kernel does for its own traffic:
//!
//! | TCP segment | who computes or checks its checksum |
//! |---|---|
//! | sent by smolsock | nobody here: it leaves with `NEEDS_CSUM` and the pseudo-header's sum in the checksum field ([`offload_tcp`]); the kernel completes it if the segment ever leaves the machine, and trusts it when it is delivered locally, as it trusts its own |
//! | received with `NEEDS_CSUM` | made by this machine's kernel (its bytes never crossed a wire): trusted, left partial |
//! | received with `DATA_VALID` | the kernel already checked it (or a NIC did): trusted |
//! | received without either (injected through a packet socket, forwarded from a NIC that checks nothing, …) | checked here, in one pass ([`receive`]); a wrong one is dropped and counted (`TapStats::rx_dropped`) |
//! | an IP fragment of one, without either flag | dropped: a fragment cannot be checked alone (smoltcp, built without reassembly as smolsock builds it, drops fragments anyway) |
//!
//! smoltcp is told through its [`ChecksumCapabilities`](smoltcp::phy::ChecksumCapabilities)
//! (`tcp: Checksum::None`), and then writes a zero checksum. Everything else (the IPv4
//! header, UDP, ICMP) smoltcp computes and checks as always; a partial UDP checksum from the
//! kernel is completed here first ([`complete`]), so smoltcp can check it.
//!
//! The checks happen at the device, so anything between it and smoltcp that changes frames
//! (smoltcp's `FaultInjector` corrupting bits) would go unnoticed: such a wrapper needs the
//! offload off (the TAP server opens the device without offloads when it injects faults).
//!
//! A capture shows frames as smoltcp hands them over and receives them, so a device that feeds a
//! `PcapWriter` turns the TCP offload off
//! ([`TapDevice::set_tcp_checksum_offload`](super::TapDevice::set_tcp_checksum_offload)):
//! the capture then shows complete, checked checksums, as `tcpdump` on a link would.

use core::ops::Range;

/// Size of `struct virtio_net_hdr`.
pub(super) const VNET_HDR: usize = 10;
/// `virtio_net_hdr.flags`: the checksum at `csum_start + csum_offset` is partial.
pub(super) const VNET_NEEDS_CSUM: u8 = 1;
/// `virtio_net_hdr.flags`: the kernel has checked the checksums.
pub(super) const VNET_DATA_VALID: u8 = 2;

const ETH: usize = 14;
const TCP_PROTOCOL: u8 = 6;
/// Where a TCP header keeps its checksum.
const TCP_CHECKSUM_AT: usize = 16;

/// Why [`receive`] dropped a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dropped {
    /// The `virtio_net_hdr` does not fit the frame (not what the kernel writes).
    BadHeader,
    /// A TCP segment whose checksum does not match.
    BadChecksum,
    /// An IP fragment of a TCP segment, which cannot be checked alone.
    Fragment,
}

impl core::fmt::Display for Dropped {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Dropped::BadHeader => "a virtio_net_hdr that does not fit the frame",
            Dropped::BadChecksum => "a TCP segment with a wrong checksum",
            Dropped::Fragment => "an IP fragment of a TCP segment (it cannot be checked alone)",
        })
    }
}

/// Take a frame the kernel wrote behind a `virtio_net_hdr` (`buf`); where the Ethernet frame
/// lies in `buf`, ready for smoltcp, or why it is dropped.
///
/// A partial checksum is completed, unless it is a TCP segment's and `tcp_offload` is on
/// (smoltcp then checks no TCP checksum: see the module documentation). With `tcp_offload` on,
/// a TCP segment the kernel has not vouched for is checked here.
pub(super) fn receive(buf: &mut [u8], tcp_offload: bool) -> Result<Range<usize>, Dropped> {
    let (hdr, frame) = buf
        .split_at_mut_checked(VNET_HDR)
        .ok_or(Dropped::BadHeader)?;
    let flags = hdr[0];
    let whole = VNET_HDR..VNET_HDR + frame.len();
    if flags & VNET_NEEDS_CSUM != 0 {
        let start = usize::from(u16::from_ne_bytes([hdr[6], hdr[7]]));
        let offset = usize::from(u16::from_ne_bytes([hdr[8], hdr[9]]));
        if tcp_offload && offset == TCP_CHECKSUM_AT {
            if let Located::Tcp(tcp) = locate_tcp(frame) {
                if tcp.start == start {
                    return Ok(whole);
                }
            }
        }
        complete(frame, start, offset).ok_or(Dropped::BadHeader)?;
        return Ok(whole);
    }
    if tcp_offload && flags & VNET_DATA_VALID == 0 {
        match locate_tcp(frame) {
            Located::Tcp(tcp) if !tcp.verify(frame) => return Err(Dropped::BadChecksum),
            Located::Fragment => return Err(Dropped::Fragment),
            _ => {}
        }
    }
    Ok(whole)
}

/// Complete the partial checksum at `start + offset` of `frame`: the field holds the
/// pseudo-header's sum, so summing from `start` over it completes the checksum.
pub(super) fn complete(frame: &mut [u8], start: usize, offset: usize) -> Option<()> {
    let at = start.checked_add(offset)?;
    if at.checked_add(2)? > frame.len() {
        return None;
    }
    let sum = !fold(sum(frame.get(start..)?));
    frame[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    Some(())
}

/// If `frame` carries a TCP segment, leave its checksum to the kernel: the pseudo-header's sum
/// goes into the checksum field and `hdr` (an all-zero `virtio_net_hdr`) says where it is.
/// Anything else (and a TCP segment in an IP fragment, which smoltcp never sends) is left as
/// it is.
pub(super) fn offload_tcp(hdr: &mut [u8], frame: &mut [u8]) {
    if let Located::Tcp(tcp) = locate_tcp(frame) {
        leave_partial(hdr, frame, tcp.start, tcp.pseudo);
    }
}

/// Leave the checksum of the TCP header at `tcp_start` of `frame` to the kernel: its field holds
/// `pseudo` (the pseudo-header's sum) folded, and `hdr` says where the field is.
pub(super) fn leave_partial(hdr: &mut [u8], frame: &mut [u8], tcp_start: usize, pseudo: u64) {
    let at = tcp_start + TCP_CHECKSUM_AT;
    frame[at..at + 2].copy_from_slice(&fold(pseudo).to_be_bytes());
    hdr[0] = VNET_NEEDS_CSUM;
    hdr[6..8].copy_from_slice(&(tcp_start as u16).to_ne_bytes());
    hdr[8..10].copy_from_slice(&(TCP_CHECKSUM_AT as u16).to_ne_bytes());
}

/// The sum of the pseudo-header of a TCP segment of `tcp_len` bytes behind the IPv4 header `ip`.
pub(super) fn ipv4_pseudo(ip: &[u8], tcp_len: usize) -> u64 {
    sum(&ip[12..20]) + u64::from(TCP_PROTOCOL) + tcp_len as u64
}

/// What an Ethernet frame carries, as far as TCP checksums go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Located {
    /// A whole TCP segment.
    Tcp(TcpAt),
    /// An IPv4 or IPv6 fragment of a TCP segment.
    Fragment,
    /// Anything else (not IP, not TCP, malformed: smoltcp decides).
    Other,
}

/// Where a TCP segment lies in a frame, and the sum of its pseudo-header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TcpAt {
    start: usize,
    end: usize,
    pseudo: u64,
}

impl TcpAt {
    fn verify(&self, frame: &[u8]) -> bool {
        fold(self.pseudo + sum(&frame[self.start..self.end])) == 0xffff
    }
}

/// Find the TCP segment in an Ethernet frame: IPv4 (options allowed) or IPv6 (behind any
/// hop-by-hop, routing and destination options headers).
fn locate_tcp(frame: &[u8]) -> Located {
    let Some(ethertype) = frame.get(12..ETH) else {
        return Located::Other;
    };
    match ethertype {
        [0x08, 0x00] => locate_in_ipv4(frame),
        [0x86, 0xdd] => locate_in_ipv6(frame),
        _ => Located::Other,
    }
}

fn locate_in_ipv4(frame: &[u8]) -> Located {
    let Some(ip) = frame.get(ETH..ETH + 20) else {
        return Located::Other;
    };
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if ip[0] >> 4 != 4 || ip[9] != TCP_PROTOCOL || header_len < 20 || total_len < header_len {
        return Located::Other;
    }
    let more_fragments = ip[6] & 0x20 != 0;
    let offset = u16::from_be_bytes([ip[6] & 0x1f, ip[7]]);
    if more_fragments || offset != 0 {
        return Located::Fragment;
    }
    let tcp_len = total_len - header_len;
    let (start, end) = (ETH + header_len, ETH + total_len);
    if tcp_len < 20 || end > frame.len() {
        return Located::Other;
    }
    let pseudo = ipv4_pseudo(ip, tcp_len);
    Located::Tcp(TcpAt { start, end, pseudo })
}

fn locate_in_ipv6(frame: &[u8]) -> Located {
    const HOP_BY_HOP: u8 = 0;
    const ROUTING: u8 = 43;
    const FRAGMENT: u8 = 44;
    const DESTINATION: u8 = 60;
    let Some(ip) = frame.get(ETH..ETH + 40) else {
        return Located::Other;
    };
    if ip[0] >> 4 != 6 {
        return Located::Other;
    }
    let end = ETH + 40 + usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    if end > frame.len() {
        return Located::Other;
    }
    let (mut next, mut start) = (ip[6], ETH + 40);
    loop {
        match next {
            TCP_PROTOCOL => break,
            HOP_BY_HOP | ROUTING | DESTINATION => {
                let Some(ext) = frame.get(start..start + 2).filter(|_| start + 2 <= end) else {
                    return Located::Other;
                };
                next = ext[0];
                start += (usize::from(ext[1]) + 1) * 8;
            }
            FRAGMENT => {
                return match frame.get(start) {
                    Some(&TCP_PROTOCOL) => Located::Fragment,
                    _ => Located::Other,
                }
            }
            _ => return Located::Other,
        }
    }
    if start + 20 > end {
        return Located::Other;
    }
    let tcp_len = end - start;
    let pseudo = sum(&ip[8..40]) + u64::from(TCP_PROTOCOL) + tcp_len as u64;
    Located::Tcp(TcpAt { start, end, pseudo })
}

/// Sum of `data` as big-endian 16-bit words (RFC 1071), folded to 16 bits or not.
///
/// The ones' complement sum does not depend on byte order (RFC 1071, 2.B): the words are added
/// in the machine's order, 8 bytes at a time, and the folded result swapped at the end.
pub(super) fn sum(data: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let w = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        // Two 32-bit halves: a 64-bit sum of them cannot overflow below 2^32 words.
        acc += (w & 0xffff_ffff) + (w >> 32);
    }
    let rest = words.remainder();
    let mut tail = [0u8; 8];
    tail[..rest.len()].copy_from_slice(rest);
    let w = u64::from_ne_bytes(tail);
    acc += (w & 0xffff_ffff) + (w >> 32);
    // Folded in the machine's order, the sum's two bytes lie in memory as the big-endian sum's.
    u64::from(u16::from_be_bytes(fold(acc).to_ne_bytes()))
}

/// `acc` folded to 16 bits (ones' complement).
pub(super) fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

#[cfg(test)]
mod tests {
    use std::vec;
    use std::vec::Vec;

    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        EthernetFrame, IpAddress, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, Ipv6Address,
        Ipv6Packet, Ipv6Repr, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber,
    };

    use super::*;

    const V4_SRC: Ipv4Address = Ipv4Address::new(192, 168, 69, 100);
    const V4_DST: Ipv4Address = Ipv4Address::new(192, 168, 69, 1);
    const V6_SRC: Ipv6Address = Ipv6Address::new(0xfd00, 0x69, 0, 0, 0, 0, 0, 0x100);
    const V6_DST: Ipv6Address = Ipv6Address::new(0xfd00, 0x69, 0, 0, 0, 0, 0, 1);

    fn tcp_repr(payload: &[u8]) -> TcpRepr<'_> {
        TcpRepr {
            src_port: 40000,
            dst_port: 8000,
            control: TcpControl::Psh,
            seq_number: TcpSeqNumber(1000),
            ack_number: Some(TcpSeqNumber(77)),
            window_len: 1024,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None, None, None],
            timestamp: None,
            payload,
        }
    }

    /// A `virtio_net_hdr` (all zero) and an Ethernet/IPv4/TCP frame, checksums complete.
    fn ipv4_frame(payload: &[u8]) -> Vec<u8> {
        let tcp = tcp_repr(payload);
        let ip = Ipv4Repr {
            src_addr: V4_SRC,
            dst_addr: V4_DST,
            next_header: IpProtocol::Tcp,
            payload_len: tcp.buffer_len(),
            hop_limit: 64,
        };
        let mut buf = vec![0u8; VNET_HDR + ETH + ip.buffer_len() + tcp.buffer_len()];
        let frame = &mut buf[VNET_HDR..];
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        let caps = ChecksumCapabilities::default();
        let mut packet = Ipv4Packet::new_unchecked(&mut frame[ETH..]);
        ip.emit(&mut packet, &caps);
        tcp.emit(
            &mut TcpPacket::new_unchecked(packet.payload_mut()),
            &V4_SRC.into(),
            &V4_DST.into(),
            &caps,
        );
        buf
    }

    /// The same over IPv6, behind a hop-by-hop header of 8 bytes (PadN only) when `hop_by_hop`.
    fn ipv6_frame(payload: &[u8], hop_by_hop: bool) -> Vec<u8> {
        let tcp = tcp_repr(payload);
        let ext = if hop_by_hop { 8 } else { 0 };
        let ip = Ipv6Repr {
            src_addr: V6_SRC,
            dst_addr: V6_DST,
            next_header: if hop_by_hop {
                IpProtocol::HopByHop
            } else {
                IpProtocol::Tcp
            },
            payload_len: ext + tcp.buffer_len(),
            hop_limit: 64,
        };
        let mut buf = vec![0u8; VNET_HDR + ETH + ip.buffer_len() + ext + tcp.buffer_len()];
        let frame = &mut buf[VNET_HDR..];
        frame[12..14].copy_from_slice(&[0x86, 0xdd]);
        let mut packet = Ipv6Packet::new_unchecked(&mut frame[ETH..]);
        ip.emit(&mut packet);
        let body = packet.payload_mut();
        if hop_by_hop {
            // Next header TCP, length 0 (8 bytes), a PadN option of 4 bytes.
            body[..8].copy_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
        }
        tcp.emit(
            &mut TcpPacket::new_unchecked(&mut body[ext..]),
            &V6_SRC.into(),
            &V6_DST.into(),
            &ChecksumCapabilities::default(),
        );
        buf
    }

    /// Whether the TCP checksum of the frame in `buf[range]` is right, as smoltcp checks it.
    fn smoltcp_accepts(buf: &[u8], range: Range<usize>) -> bool {
        let eth = EthernetFrame::new_checked(&buf[range]).unwrap();
        match eth.ethertype() {
            smoltcp::wire::EthernetProtocol::Ipv4 => {
                let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
                TcpPacket::new_checked(ip.payload())
                    .unwrap()
                    .verify_checksum(&ip.src_addr().into(), &ip.dst_addr().into())
            }
            _ => {
                let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
                let ext = if ip.next_header() == IpProtocol::HopByHop {
                    8
                } else {
                    0
                };
                TcpPacket::new_checked(&ip.payload()[ext..])
                    .unwrap()
                    .verify_checksum(&IpAddress::Ipv6(V6_SRC), &IpAddress::Ipv6(V6_DST))
            }
        }
    }

    /// Turn a complete frame into one the kernel would hand over with a partial checksum.
    fn make_partial(buf: &mut [u8]) {
        let (hdr, frame) = buf.split_at_mut(VNET_HDR);
        offload_tcp(hdr, frame);
    }

    fn flip_payload_bit(buf: &mut [u8]) {
        let last = buf.len() - 1;
        buf[last] ^= 0x10;
    }

    #[test]
    fn sum_is_rfc_1071s_for_every_length() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 131 + 7) as u8).collect();
        for len in 0..data.len() {
            let bytes = &data[..len];
            // One big-endian 16-bit word at a time, the last byte padded with zero.
            let reference: u64 = bytes
                .chunks(2)
                .map(|w| u64::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
                .sum();
            assert_eq!(fold(sum(bytes)), fold(reference), "length {len}");
        }
    }

    #[test]
    fn an_offloaded_checksum_completed_as_the_kernel_does_is_the_right_one() {
        for (name, mut buf) in [
            ("ipv4", ipv4_frame(b"odd length payload")),
            ("ipv6", ipv6_frame(b"even length payload!", false)),
            ("ipv6 hop-by-hop", ipv6_frame(b"x", true)),
        ] {
            let original = buf.clone();
            make_partial(&mut buf);
            assert_eq!(buf[0], VNET_NEEDS_CSUM, "{name}");
            assert_ne!(
                buf, original,
                "{name}: the field holds the pseudo-header's sum"
            );
            // The kernel's completion is `complete`'s: sum from csum_start over the field.
            let range = receive(&mut buf, false).expect("consistent header");
            assert_eq!(
                buf[VNET_HDR..],
                original[VNET_HDR..],
                "{name}: completed, the frame is smoltcp's again"
            );
            assert!(smoltcp_accepts(&buf, range), "{name}");
        }
    }

    #[test]
    fn a_partial_tcp_checksum_from_the_kernel_is_trusted_with_the_offload_and_completed_without() {
        let mut buf = ipv4_frame(&[0x42; 1000]);
        make_partial(&mut buf);
        let partial = buf.clone();
        let range = receive(&mut buf, true).expect("trusted");
        assert_eq!(buf, partial, "left partial: no pass over the payload");
        assert!(!smoltcp_accepts(&buf, range), "smoltcp must not check it");
        let range = receive(&mut buf, false).expect("completed");
        assert!(smoltcp_accepts(&buf, range));
    }

    #[test]
    fn with_the_offload_a_segment_nobody_vouched_for_is_checked_here() {
        for (name, buf) in [
            ("ipv4", ipv4_frame(&[7; 333])),
            ("ipv6", ipv6_frame(&[7; 333], false)),
            ("ipv6 hop-by-hop", ipv6_frame(&[7; 333], true)),
        ] {
            let mut good = buf.clone();
            assert!(
                receive(&mut good, true).is_ok(),
                "{name}: a right checksum passes"
            );
            let mut bad = buf.clone();
            flip_payload_bit(&mut bad);
            assert_eq!(
                receive(&mut bad, true),
                Err(Dropped::BadChecksum),
                "{name}: a flipped bit is caught"
            );
            // Without the offload smoltcp checks it (and drops it) itself.
            assert!(receive(&mut bad.clone(), false).is_ok(), "{name}");
            // The kernel's word that it checked the segment is taken.
            bad[0] = VNET_DATA_VALID;
            assert!(receive(&mut bad, true).is_ok(), "{name}: DATA_VALID");
        }
    }

    #[test]
    fn tcp_fragments_nobody_vouched_for_are_dropped_with_the_offload() {
        let mut v4 = ipv4_frame(&[1; 100]);
        // More fragments follow.
        v4[VNET_HDR + ETH + 6] |= 0x20;
        assert_eq!(receive(&mut v4.clone(), true), Err(Dropped::Fragment));
        assert!(
            receive(&mut v4, false).is_ok(),
            "smoltcp decides without the offload"
        );
        // An IPv6 fragment header (44) whose next header is TCP.
        let mut v6 = ipv6_frame(&[1; 100], true);
        v6[VNET_HDR + ETH + 6] = 44;
        assert_eq!(receive(&mut v6, true), Err(Dropped::Fragment));
    }

    #[test]
    fn udp_and_other_frames_are_left_to_smoltcp() {
        let mut frame = ipv4_frame(&[9; 64]);
        // Make it UDP: the device must not judge it (smoltcp checks UDP itself).
        frame[VNET_HDR + ETH + 9] = 17;
        flip_payload_bit(&mut frame);
        assert!(receive(&mut frame, true).is_ok());
        // ARP: nothing to check.
        let mut arp = vec![0u8; VNET_HDR + ETH + 28];
        arp[VNET_HDR + 12..VNET_HDR + 14].copy_from_slice(&[0x08, 0x06]);
        assert!(receive(&mut arp, true).is_ok());
    }

    #[test]
    fn a_header_that_does_not_fit_its_frame_is_dropped() {
        let mut short = vec![0u8; VNET_HDR - 1];
        assert_eq!(receive(&mut short, true), Err(Dropped::BadHeader));
        let mut buf = ipv4_frame(&[3; 10]);
        buf[0] = VNET_NEEDS_CSUM;
        buf[6..8].copy_from_slice(&4000u16.to_ne_bytes());
        buf[8..10].copy_from_slice(&6u16.to_ne_bytes());
        assert_eq!(receive(&mut buf, true), Err(Dropped::BadHeader));
    }

    #[test]
    fn no_frame_however_cut_or_garbled_makes_it_panic() {
        let mut prng = crate::sim::Prng::new(14);
        for template in [ipv4_frame(&[5; 40]), ipv6_frame(&[5; 40], true)] {
            for len in 0..=template.len() {
                for flags in [0, VNET_NEEDS_CSUM, VNET_DATA_VALID] {
                    let mut buf = template[..len].to_vec();
                    if let Some(f) = buf.first_mut() {
                        *f = flags;
                    }
                    let _ = receive(&mut buf, true);
                    let _ = receive(&mut buf, false);
                    if buf.len() >= VNET_HDR {
                        let (hdr, frame) = buf.split_at_mut(VNET_HDR);
                        offload_tcp(hdr, frame);
                    }
                }
            }
            for _ in 0..2000 {
                let mut buf = template.clone();
                let at = prng.below(buf.len() as u64) as usize;
                buf[at] = prng.next_u32() as u8;
                let _ = receive(&mut buf, true);
                let (hdr, frame) = buf.split_at_mut(VNET_HDR);
                offload_tcp(hdr, frame);
            }
        }
    }
}
