//! Counting and logging refused connections, read from the frames the stack sends.

use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Address, Ipv4Packet, TcpPacket,
};

use super::TapMonitor;

/// Log and count an outgoing RST|ACK with sequence number 0: smoltcp's answer to a SYN that
/// found no listening socket ("connection refused").
pub(super) fn note_refusal(frame: &[u8], monitor: &TapMonitor) {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return;
    };
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return;
    }
    let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
        return;
    };
    if ip.next_header() != IpProtocol::Tcp {
        return;
    }
    let Ok(tcp) = TcpPacket::new_checked(ip.payload()) else {
        return;
    };
    if tcp.rst() && tcp.ack() && tcp.seq_number().0 == 0 {
        monitor.update(|s| s.refused += 1);
        let dst: Ipv4Address = ip.dst_addr();
        let mut limit = monitor.refusal_log.get();
        let now = smoltcp::time::Instant::now();
        crate::limited!(
            limit,
            now,
            info,
            "refused {dst}:{} -> port {} (RST: nothing listening, or every socket busy)",
            tcp.dst_port(),
            tcp.src_port()
        );
        monitor.refusal_log.set(limit);
    }
}
