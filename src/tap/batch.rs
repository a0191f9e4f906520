//! The way out to the kernel: one `write` per frame, or with the offloads on, consecutive TCP
//! segments of one connection glued into one (generic segmentation offload, GSO).
//!
//! smoltcp sends a bulk transfer as segments of at most the peer's MSS (1460 bytes on a
//! 1500-byte MTU), and every `write` to the TAP descriptor runs the kernel's whole receive path
//! for one frame. With `IFF_VNET_HDR` (see [`TapDevice`](super::TapDevice)) a frame may instead
//! be one TCP segment of up to 64 KiB with `gso_type = TCPV4` and `gso_size = MSS` in its
//! `virtio_net_hdr`: the kernel takes it in once, as it takes a segment its own GRO merged.
//!
//! ```text
//!   smoltcp: [eth ip tcp seq=s   1460 B][eth ip tcp seq=s+1460 1460 B][... 900 B, PSH]
//!   kernel:  [vnet gso 1460][eth ip(len) tcp seq=s (pseudo-header checksum)][1460][1460]...[900]
//! ```
//!
//! A segment joins the batch only if it continues it exactly: same Ethernet, IPv4 and TCP
//! header but the sequence number (which must be the next one), the ACK number, window and
//! options unchanged, no SYN, FIN, RST or URG, and a payload no larger than the first one's
//! (a shorter one ends the batch). Anything else first sends the batch as it is, so frames
//! leave in the order smoltcp made them. A batch of one segment goes out as smoltcp made it,
//! behind a header that only says where its checksum is (`checksum.rs`: TCP checksums are left
//! to the kernel), or an empty one. smoltcp writes each frame straight into the batch's buffer, and a batch
//! leaves with one `writev` (the first frame's headers, then each segment's payload where it
//! lies): batching copies nothing.
//!
//! A batch waits for the next segment, so someone must send it before the program sleeps:
//! [`HostLoop`](super::HostLoop) does ([`TxBatch::flush`] before every wait). Batching is on
//! only once a `HostLoop` has been made from the device; a device driven by another loop sends
//! every frame at once.

use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::string::String;
use std::vec::Vec;

use super::checksum::{self, fold, sum, VNET_HDR};
use super::refusals::note_refusal;
use super::TapMonitor;

/// `virtio_net_hdr.gso_type` of a TCP/IPv4 segment to be cut at `gso_size`.
const VNET_GSO_TCPV4: u8 = 1;

const ETH: usize = 14;
const IP: usize = ETH;
/// The TCP header of an IPv4 packet without options.
const TCP: usize = ETH + 20;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
/// Largest IPv4 packet.
const MAX_IP_LEN: usize = 65535;
/// Most segments in one batch (the kernel's limit for a GSO packet is higher).
const MAX_SEGS: usize = 44;

/// The frames on their way to the kernel, and the batch being built (shared between the device
/// and the loop that flushes it).
#[derive(Debug)]
pub(super) struct TxBatch {
    file: File,
    name: String,
    monitor: TapMonitor,
    failing: bool,
    /// Frames travel behind a `virtio_net_hdr`.
    vnet: bool,
    /// Glue segments (a `HostLoop` flushes before it sleeps).
    pub(super) batching: bool,
    /// Leave TCP checksums to the kernel (`checksum.rs`): smoltcp computes none.
    pub(super) tcp_offload: bool,
    /// The header (when `vnet`), then the frame or the batch waiting to be sent, each frame
    /// whole as smoltcp wrote it (smoltcp writes straight in here: no copy).
    out: Vec<u8>,
    /// Where the payload of each segment after the first lies in `out` (sent with `writev`).
    pieces: Vec<(usize, usize)>,
    /// The batch, if `out` holds one that may grow.
    open: Option<Open>,
}

/// What a segment must match to join the batch.
#[derive(Debug, Clone, Copy)]
struct Open {
    /// Ethernet + IPv4 + TCP header length.
    hdr_len: usize,
    /// Length of the first frame.
    first_len: usize,
    /// Payload of the first segment: every segment but the last has this much.
    mss: usize,
    /// Sequence number the next segment must have.
    next_seq: u32,
    /// IPv4 length of the batch as one packet.
    ip_len: usize,
    segs: usize,
}

impl TxBatch {
    pub(super) fn new(file: File, name: String, monitor: TapMonitor, vnet: bool) -> TxBatch {
        TxBatch {
            file,
            name,
            monitor,
            failing: false,
            vnet,
            batching: false,
            tcp_offload: false,
            out: Vec::new(),
            pieces: Vec::with_capacity(MAX_SEGS),
            open: None,
        }
    }

    /// Bytes of `virtio_net_hdr` in front of the first frame.
    fn base(&self) -> usize {
        if self.vnet {
            VNET_HDR
        } else {
            0
        }
    }

    /// Let smoltcp write a frame of `len` bytes with `f`, then send it or add it to the batch.
    pub(super) fn send<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let base = self.base();
        if self.out.len() < base {
            self.out.resize(base, 0);
        }
        let start = self.out.len();
        self.out.resize(start + len, 0);
        let result = f(&mut self.out[start..]);
        note_refusal(&self.out[start..], &self.monitor);
        self.monitor.update(|s| {
            s.tx_frames += 1;
            s.tx_bytes += len as u64;
        });
        self.place(start);
        result
    }

    /// The frame at `out[start..]` joins the batch, or the batch leaves and the frame starts
    /// the next one (or leaves at once).
    fn place(&mut self, start: usize) {
        let base = self.base();
        if start > base {
            if self.join(start) {
                return;
            }
            self.write(start);
            let len = self.out.len() - start;
            self.out.copy_within(start.., base);
            self.out.truncate(base + len);
        }
        self.out[..base].fill(0);
        if self.vnet && self.tcp_offload {
            let (hdr, frame) = self.out.split_at_mut(base);
            checksum::offload_tcp(hdr, frame);
        }
        self.open = if self.batching && self.vnet {
            batchable(&self.out[base..])
        } else {
            None
        };
        if self.open.is_none() {
            self.flush();
        }
    }

    /// Add the frame at `out[start..]` to the open batch if it continues it; `false` if not.
    fn join(&mut self, start: usize) -> bool {
        let Some(open) = self.open.as_mut() else {
            return false;
        };
        let (before, frame) = self.out.split_at_mut(start);
        let first = &mut before[VNET_HDR..];
        let payload = frame.len().saturating_sub(open.hdr_len);
        let same_headers = frame.len() > open.hdr_len
            && frame[..IP + 2] == first[..IP + 2] // Ethernet, IP version, header length, TOS
            && frame[IP + 6..IP + 10] == first[IP + 6..IP + 10] // fragment field, TTL, protocol
            && frame[IP + 12..TCP + 4] == first[IP + 12..TCP + 4] // addresses, ports
            && frame[TCP + 8..TCP + 13] == first[TCP + 8..TCP + 13] // ACK number, data offset
            && frame[TCP + 14..TCP + 16] == first[TCP + 14..TCP + 16] // window
            && frame[TCP + 18..open.hdr_len] == first[TCP + 18..open.hdr_len]; // urgent, options
        let flags = frame[TCP + 13];
        let fits = same_headers
            && (flags & !PSH) == ACK
            && seq(frame) == open.next_seq
            && payload <= open.mss
            && open.segs < MAX_SEGS
            && open.ip_len + payload <= MAX_IP_LEN;
        if !fits {
            return false;
        }
        first[TCP + 13] |= flags & PSH;
        self.pieces
            .push((start + open.hdr_len, start + frame.len()));
        open.next_seq = open.next_seq.wrapping_add(payload as u32);
        open.ip_len += payload;
        open.segs += 1;
        if payload < open.mss {
            // A short segment ends the stream of full ones: send now.
            self.flush();
        }
        true
    }

    /// Send what waits: the batch (as one GSO segment if it holds several) or a single frame.
    pub(super) fn flush(&mut self) {
        let end = self.out.len();
        if end > self.base() {
            self.write(end);
        }
        self.out.clear();
    }

    /// Send the frame or batch in `out[..end]` and close the batch.
    fn write(&mut self, end: usize) {
        let result = match self.open.take() {
            Some(open) if open.segs > 1 => {
                let first_end = VNET_HDR + open.first_len;
                gso(&mut self.out[..first_end], open);
                let mut iov = [IoSlice::new(&[]); MAX_SEGS];
                iov[0] = IoSlice::new(&self.out[..first_end]);
                for (slot, &(from, to)) in iov[1..].iter_mut().zip(&self.pieces) {
                    *slot = IoSlice::new(&self.out[from..to]);
                }
                // One packet per call: the TAP device never takes part of one.
                (&self.file).write_vectored(&iov[..open.segs])
            }
            _ => (&self.file).write(&self.out[..end]),
        };
        self.pieces.clear();
        match result {
            Ok(_) => {
                if self.failing {
                    self.failing = false;
                    log::info!("{}: the kernel takes frames again", self.name);
                }
            }
            Err(e) => self.failed(e),
        }
    }

    fn failed(&mut self, e: io::Error) {
        self.monitor.update(|s| s.tx_errors += 1);
        if !self.failing {
            self.failing = true;
            log::warn!(
                "{}: the kernel refuses frames ({e}); is the interface down? TCP will retransmit",
                self.name
            );
        }
    }
}

/// The TCP sequence number of an IPv4 frame without IP options.
fn seq(frame: &[u8]) -> u32 {
    u32::from_be_bytes([
        frame[TCP + 4],
        frame[TCP + 5],
        frame[TCP + 6],
        frame[TCP + 7],
    ])
}

/// A batch that may start with `frame`: an Ethernet/IPv4 frame without IP options, not a
/// fragment, carrying a TCP segment with payload and only ACK (and PSH) set.
fn batchable(frame: &[u8]) -> Option<Open> {
    if frame.len() < TCP + 20
        || frame[12..14] != [0x08, 0x00]
        || frame[IP] != 0x45
        || frame[IP + 9] != 6
        || frame[IP + 6] & 0x3f != 0
        || frame[IP + 7] != 0
        || frame[TCP + 13] & !PSH != ACK
    {
        return None;
    }
    let ip_len = usize::from(u16::from_be_bytes([frame[IP + 2], frame[IP + 3]]));
    let tcp_hdr = usize::from(frame[TCP + 12] >> 4) * 4;
    let hdr_len = TCP + tcp_hdr;
    if ip_len + ETH != frame.len() || tcp_hdr < 20 || frame.len() <= hdr_len {
        return None;
    }
    let mss = frame.len() - hdr_len;
    Some(Open {
        hdr_len,
        first_len: frame.len(),
        mss,
        next_seq: seq(frame).wrapping_add(mss as u32),
        ip_len,
        segs: 1,
    })
}

/// Make `first` (an empty `virtio_net_hdr` and the batch's first frame) the head of one GSO
/// segment whose payload is the batch's: IP length and header checksum for the whole, the TCP
/// checksum field holding the pseudo-header's sum (the kernel completes it per segment), and
/// the header telling the kernel where to cut.
fn gso(first: &mut [u8], open: Open) {
    let (hdr, frame) = first.split_at_mut(VNET_HDR);
    frame[IP + 2..IP + 4].copy_from_slice(&(open.ip_len as u16).to_be_bytes());
    frame[IP + 10..IP + 12].copy_from_slice(&[0, 0]);
    let ip_sum = !fold(sum(&frame[IP..TCP]));
    frame[IP + 10..IP + 12].copy_from_slice(&ip_sum.to_be_bytes());
    let pseudo = checksum::ipv4_pseudo(&frame[IP..TCP], open.ip_len - 20);
    checksum::leave_partial(hdr, frame, TCP, pseudo);
    hdr[1] = VNET_GSO_TCPV4;
    hdr[2..4].copy_from_slice(&(open.hdr_len as u16).to_ne_bytes());
    hdr[4..6].copy_from_slice(&(open.mss as u16).to_ne_bytes());
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::io::Read;
    use std::vec;

    use smoltcp::wire::{IpAddress, Ipv4Address, Ipv4Packet, TcpPacket};

    use super::checksum::VNET_NEEDS_CSUM;
    use super::*;

    const SRC: [u8; 4] = [192, 168, 69, 1];
    const DST: [u8; 4] = [192, 168, 69, 100];

    /// An Ethernet/IPv4/TCP frame as smoltcp sends it, checksums complete.
    fn segment(seq: u32, payload: &[u8], flags: u8, ident: u16) -> Vec<u8> {
        let mut f = vec![0u8; TCP + 20];
        f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
        f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip_len = (20 + 20 + payload.len()) as u16;
        f[IP] = 0x45;
        f[IP + 2..IP + 4].copy_from_slice(&ip_len.to_be_bytes());
        f[IP + 4..IP + 6].copy_from_slice(&ident.to_be_bytes());
        f[IP + 6] = 0x40;
        f[IP + 8] = 64;
        f[IP + 9] = 6;
        f[IP + 12..IP + 16].copy_from_slice(&SRC);
        f[IP + 16..IP + 20].copy_from_slice(&DST);
        let ip_sum = !fold(sum(&f[IP..TCP]));
        f[IP + 10..IP + 12].copy_from_slice(&ip_sum.to_be_bytes());
        f[TCP..TCP + 2].copy_from_slice(&5002u16.to_be_bytes());
        f[TCP + 2..TCP + 4].copy_from_slice(&40000u16.to_be_bytes());
        f[TCP + 4..TCP + 8].copy_from_slice(&seq.to_be_bytes());
        f[TCP + 8..TCP + 12].copy_from_slice(&77u32.to_be_bytes());
        f[TCP + 12] = 5 << 4;
        f[TCP + 13] = flags;
        f[TCP + 14..TCP + 16].copy_from_slice(&1024u16.to_be_bytes());
        f.extend_from_slice(payload);
        let tcp_len = (f.len() - TCP) as u64;
        let pseudo = sum(&f[IP + 12..IP + 20]) + 6 + tcp_len;
        let tcp_sum = !fold(pseudo + sum(&f[TCP..]));
        f[TCP + 16..TCP + 18].copy_from_slice(&tcp_sum.to_be_bytes());
        f
    }

    /// A batch writing to a file of its own; `written` reads back what was written.
    struct Out {
        path: std::path::PathBuf,
        batch: TxBatch,
    }

    impl Out {
        fn new(tag: &str) -> Out {
            let path = std::env::temp_dir()
                .join(std::format!("smolsock-batch-{}-{tag}", std::process::id()));
            let file = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&path)
                .unwrap();
            let mut batch = TxBatch::new(file, "test".into(), TapMonitor::default(), true);
            batch.batching = true;
            Out { path, batch }
        }

        fn written(&self) -> Vec<u8> {
            let mut bytes = Vec::new();
            std::fs::File::open(&self.path)
                .unwrap()
                .read_to_end(&mut bytes)
                .unwrap();
            bytes
        }
    }

    impl Drop for Out {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    fn send(out: &mut Out, frame: &[u8]) {
        out.batch
            .send(frame.len(), |buf| buf.copy_from_slice(frame));
    }

    #[test]
    fn consecutive_segments_become_one_gso_segment_whose_checksums_complete() {
        let mut out = Out::new("gso");
        let payload: Vec<u8> = (0..1460 * 3 + 500).map(|i| (i * 7 % 251) as u8).collect();
        let mut seq = 1000u32;
        for (i, piece) in payload.chunks(1460).enumerate() {
            let flags = if piece.len() < 1460 { ACK | PSH } else { ACK };
            send(&mut out, &segment(seq, piece, flags, i as u16));
            seq += piece.len() as u32;
        }
        // The short last segment sent the batch: one write.
        let mut written = out.written();
        assert_eq!(written.len(), VNET_HDR + TCP + 20 + payload.len());
        let hdr = &written[..VNET_HDR];
        assert_eq!(hdr[0], VNET_NEEDS_CSUM);
        assert_eq!(hdr[1], VNET_GSO_TCPV4);
        let field = |i: usize| usize::from(u16::from_ne_bytes([hdr[i], hdr[i + 1]]));
        assert_eq!(
            (field(2), field(4), field(6), field(8)),
            (TCP + 20, 1460, TCP, 16)
        );
        // Completing the partial checksum as the receive path does gives a valid packet.
        let frame = checksum::receive(&mut written, false).expect("consistent header");
        let frame = &written[frame];
        let ip = Ipv4Packet::new_checked(&frame[ETH..]).expect("whole IPv4 packet");
        assert!(ip.verify_checksum());
        assert_eq!(usize::from(ip.total_len()), 40 + payload.len());
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        let (src, dst) = (
            IpAddress::Ipv4(Ipv4Address::from(SRC)),
            IpAddress::Ipv4(Ipv4Address::from(DST)),
        );
        assert!(tcp.verify_checksum(&src, &dst));
        assert_eq!(tcp.seq_number().0, 1000);
        assert!(tcp.psh() && tcp.ack() && !tcp.fin());
        assert_eq!(tcp.payload(), &payload[..]);
    }

    #[test]
    fn a_gap_a_fin_or_a_pure_ack_ends_the_batch() {
        let mut out = Out::new("gap");
        let piece = [0x55u8; 1460];
        send(&mut out, &segment(0, &piece, ACK, 0));
        // Not the next sequence number (a retransmission, a hole): the first goes alone.
        send(&mut out, &segment(5000, &piece, ACK, 1));
        // A FIN never joins: the second goes alone, then the FIN.
        send(&mut out, &segment(6460, &piece, ACK | 0x01, 2));
        // A pure ACK is sent at once.
        send(&mut out, &segment(7920, &[], ACK, 3));
        let written = out.written();
        let one = VNET_HDR + TCP + 20 + 1460;
        assert_eq!(written.len(), 3 * one + VNET_HDR + TCP + 20);
        for i in 0..3 {
            assert_eq!(&written[i * one..i * one + VNET_HDR], &[0; VNET_HDR]);
        }
    }

    #[test]
    fn with_the_tcp_offload_a_lone_segment_leaves_with_its_checksum_to_the_kernel() {
        let mut out = Out::new("offload");
        out.batch.tcp_offload = true;
        let frame = segment(7, b"a short one", ACK | PSH, 9);
        send(&mut out, &frame);
        out.batch.flush();
        let mut written = out.written();
        assert_eq!(written.len(), VNET_HDR + frame.len());
        assert_eq!(written[0], VNET_NEEDS_CSUM);
        assert_ne!(
            written[VNET_HDR..],
            frame[..],
            "the field holds the pseudo-header's sum"
        );
        // The kernel's completion (the receive path's) gives back what smoltcp would have sent.
        let range = checksum::receive(&mut written, false).expect("consistent header");
        assert_eq!(written[range], frame[..]);
    }

    #[test]
    fn a_full_segment_waits_for_the_next_until_flushed() {
        let mut out = Out::new("wait");
        send(&mut out, &segment(0, &[1; 1460], ACK, 0));
        assert!(out.written().is_empty());
        out.batch.flush();
        assert_eq!(out.written().len(), VNET_HDR + TCP + 20 + 1460);
    }
}
