//! Counting and logging refused connections, read from the frames the stack sends.

use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, IpAddress, IpProtocol, Ipv4Packet, TcpPacket,
};

use super::TapMonitor;

/// Log and count an outgoing RST|ACK with sequence number 0: smoltcp's answer to a SYN that
/// found no listening socket ("connection refused").
pub(super) fn note_refusal(frame: &[u8], monitor: &TapMonitor) {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return;
    };
    let (dst, protocol, payload): (IpAddress, _, _) = match eth.ethertype() {
        EthernetProtocol::Ipv4 => {
            let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
                return;
            };
            (ip.dst_addr().into(), ip.next_header(), ip.payload())
        }
        #[cfg(feature = "ipv6")]
        EthernetProtocol::Ipv6 => {
            let Ok(ip) = smoltcp::wire::Ipv6Packet::new_checked(eth.payload()) else {
                return;
            };
            (ip.dst_addr().into(), ip.next_header(), ip.payload())
        }
        _ => return,
    };
    if protocol != IpProtocol::Tcp {
        return;
    }
    let Ok(tcp) = TcpPacket::new_checked(payload) else {
        return;
    };
    if tcp.rst() && tcp.ack() && tcp.seq_number().0 == 0 {
        monitor.update(|s| s.refused += 1);
        let mut limit = monitor.refusal_log.get();
        let now = smoltcp::time::Instant::now();
        crate::limited!(
            limit,
            now,
            info,
            "refused {}:{} -> port {} (RST: nothing listening, or every socket busy)",
            dst,
            tcp.dst_port(),
            tcp.src_port()
        );
        monitor.refusal_log.set(limit);
    }
}
