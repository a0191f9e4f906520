//! Network devices: where frames enter and leave the stack.
//!
//! A smoltcp [`Device`](smoltcp::phy::Device) hands the interface receive and transmit tokens.
//! Everything above this layer (stack, sockets, services) is the same wherever smolsock runs;
//! only the device (and the clock, see [`crate::clock`]) changes:
//!
//! - [`Loopback`]: one interface talking to itself, in fixed memory (smoltcp's own
//!   `phy::Loopback` needs `alloc`). The demo and most tests run on it.
//! - [`Wire`]: two linked ends, so two interfaces with their own addresses can talk; the
//!   simulator extends it with faults.
//! - `lan9118` (feature `lan9118`): the SMSC LAN9118 Ethernet controller of QEMU's MPS2
//!   boards, used by `firmware/`.
//! - Linux TAP: `tap::TapDevice` (feature `tap`, Linux), rather than smoltcp's
//!   `TunTapInterface`, which panics on I/O errors (a TAP interface that is down refuses
//!   writes).
//!
//! All in-memory devices share one [`FrameQueue`] and its tokens, so a frame is stored the
//! same way in each of them, with the same drop counters.

#[cfg(feature = "lan9118")]
pub mod lan9118;
mod loopback;
pub(crate) mod one_frame;
mod queue;
mod wire;

pub use loopback::Loopback;
pub use queue::{Frame, FrameQueue, QueueStats, RxFrame, TxFrame};
pub use wire::{Wire, WireEnd};

/// A device that can tell whether frames are waiting inside it.
///
/// smoltcp's `poll_delay` knows only socket timers. An in-memory device may still hold frames the
/// interface has not read yet; a loop driving a virtual clock must poll again instead of jumping
/// ahead while this is true. Devices backed by real hardware or the OS can return `false` and
/// rely on their own wait primitive (`phy::wait` on a TAP fd, an interrupt).
pub trait Pending {
    /// `true` while at least one received frame waits to be read by the interface.
    fn pending(&self) -> bool;
}
