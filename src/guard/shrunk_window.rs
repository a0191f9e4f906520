//! A window update smoltcp would drop: the peer's sequence number past a window it shrank.
//!
//! With window scaling, smoltcp advertises its free receive buffer shifted right by the scale
//! (`free >> shift`), rounding down. Each time data arrives the window's right edge
//! (`RCV.NXT + window << shift`) can therefore move left by up to `2^shift - 1` bytes: smoltcp
//! shrinks its window, which RFC 9293 §3.8.6.2.2 tells a receiver not to do. A peer that had
//! already sent up to the old edge (the kernel does, when its segmentation offload hands over
//! one large segment that fills the window exactly) then has `SND.NXT` a few bytes past our
//! `RCV.NXT` once the window closes, and every acknowledgement it sends carries that sequence
//! number. smoltcp finds such a segment unacceptable (a zero-length segment in a zero window is
//! acceptable only at `RCV.NXT`), answers with an ACK and ignores the rest, including the
//! acknowledgement number and the window update it carries, although RFC 9293 §3.10.7.4 says
//! "special allowance should be made to accept valid ACKs" in a zero window.
//!
//! In an echo that is a deadlock: our receive window stays closed because the echo cannot queue
//! its reply, the reply cannot leave because smoltcp never takes in the peer's window update
//! (its zero-window probes are answered, the answers ignored), and the peer's retransmissions
//! of the few bytes beyond the edge fall into the zero window too. With 1 MiB buffers (shift 5)
//! and the kernel's TSO towards us it stalled a 64 MiB echo in about one benchmark run in four.
//!
//! The same holds, for a while, with a window that is small but not zero: the peer's
//! acknowledgements carry a sequence number at or past the shrunk right edge and smoltcp drops
//! them ("segment not in receive window"), so our data waits for a retransmission timeout (a
//! pause of about a second in 2 and in 6 of two series of 40 64 MiB echoes with 1 MiB buffers;
//! none in 40 once this check covered it).
//!
//! The guard undoes it where smoltcp goes wrong, and nowhere else. The egress sniffer keeps, per
//! connection, the last acknowledgement number and window we sent (`acks.rs`; the window in
//! bytes, with the scale our SYN announced, or the largest scale if that SYN was not seen, so
//! it is never less than smoltcp's own figure). While some connection's window is under
//! `2^14` bytes (the most rounding can take off), a pure acknowledgement (no data, no SYN, RST
//! or FIN) from its peer whose sequence number lies at or past that right edge, and less than
//! `2^14` past the acknowledgement number, is handed to smoltcp with the sequence number set to
//! the acknowledgement number, our `RCV.NXT`, where smoltcp accepts it and reads its ACK and
//! window. Such a segment was unacceptable to smoltcp anyway, so nothing it would have read is
//! lost; the sequence number of a segment without data carries no data. Anything else passes
//! unchanged. Reported upstream: `docs/upstream/shrunk-window-ignores-acks.md`.

use smoltcp::phy::Medium;

use super::acks::AckTracker;
use super::segment;
use super::{Verdict, PROBE_MAX};

/// The largest distance past our acknowledgement number a window shrunk by rounding leaves
/// the peer's `SND.NXT` at (RFC 7323's largest shift is 14).
const SLACK: usize = 1 << 14;

/// The frame to hand smoltcp instead of `frame`, if it is a pure ACK past the right edge of a
/// small window we advertised; `None` to let `frame` pass as it is.
pub(super) fn realign(medium: Medium, frame: &[u8], acks: &AckTracker) -> Option<Verdict> {
    let segment = segment::parse_pure_ack(medium, frame)?;
    let last = acks.get(segment.dst.port, segment.src)?;
    if !last.tight() || segment.seq <= last.ack {
        return None;
    }
    // Past our right edge, as smoltcp reckons it (`window` is never less than its figure), and
    // by no more than rounding can explain.
    let beyond = segment.seq - last.ack;
    if beyond < last.window as usize || beyond >= SLACK {
        return None;
    }
    let mut out = [0; PROBE_MAX];
    let len = segment::rewrite_seq(frame, &segment, last.ack, &mut out)?;
    Some(Verdict::Replace(out, len))
}
