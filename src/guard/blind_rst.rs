//! Blind resets (RFC 5961 §3.2): only a RST at exactly the expected sequence number resets.
//!
//! smoltcp accepts any RST whose sequence number falls inside the receive window, so an attacker
//! who knows a connection's ports needs only `2^32 / window` guesses (65,538 spoofed RSTs killed
//! a live connection in 2 s). RFC 5961 narrows it to one value: a RST resets the connection
//! only if its sequence number is exactly `RCV.NXT`; any other RST in the window gets a
//! challenge ACK, which a peer that really reset answers with a RST carrying the exact number.
//!
//! smoltcp does not expose `RCV.NXT`, so the guard takes the acknowledgement number of the last
//! segment we sent on the connection ([`AckTracker`](super::acks::AckTracker)); a peer that has
//! received our latest segment resets with exactly that number. When it differs (we received
//! data and have not acknowledged it yet), the RST is not trusted: the guard rewrites it into
//! an ACK that acknowledges more than we ever sent, which smoltcp answers with a challenge ACK
//! (at most one per second per socket, smoltcp's own limit) carrying the current `RCV.NXT`; the
//! real peer's next RST then matches. Out-of-window RSTs are smoltcp's to drop, as before.

use smoltcp::iface::SocketSet;
use smoltcp::socket::{tcp, Socket};
use smoltcp::wire::TcpSeqNumber;

use super::acks::AckTracker;
use super::late_syn::owns;
use super::segment::Segment;

/// What to do with a RST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RstVerdict {
    /// Not for a synchronized connection, or exactly at the expected number: smoltcp decides.
    Pass,
    /// Not at the expected number: turn it into a probe acknowledging this number, so smoltcp
    /// sends a challenge ACK.
    Challenge(TcpSeqNumber),
    /// Not at the expected number and nothing known to build a probe from: drop it.
    Drop,
}

/// Judge the RST `segment`.
pub(crate) fn judge(segment: &Segment, sockets: &SocketSet<'_>, acks: &AckTracker) -> RstVerdict {
    let synchronized = sockets.iter().any(|(_, socket)| match socket {
        Socket::Tcp(socket) => {
            matches!(
                socket.state(),
                tcp::State::Established
                    | tcp::State::FinWait1
                    | tcp::State::FinWait2
                    | tcp::State::CloseWait
                    | tcp::State::Closing
                    | tcp::State::LastAck
            ) && owns(socket, segment)
        }
        #[allow(unreachable_patterns)]
        _ => false,
    });
    if !synchronized {
        return RstVerdict::Pass;
    }
    match acks.get(segment.dst.port, segment.src) {
        Some(last) if last.ack == segment.seq => RstVerdict::Pass,
        // An acknowledgement number this far beyond what we sent is "unacceptable" to smoltcp
        // (it compares sequence numbers modulo 2^32 within half the space).
        Some(last) => RstVerdict::Challenge(last.seq_end + (1 << 30)),
        None => RstVerdict::Drop,
    }
}
