//! An allocation-free loopback device: every frame sent is received by the same interface.

use core::cell::RefCell;

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use super::queue::{FrameQueue, RxFrame, TxFrame};
use super::Pending;

/// A loopback device over a fixed queue of `N` frames of up to `MTU` bytes.
///
/// With `Medium::Ip` (the default with the `medium-ip` feature) frames are bare IP packets, like
/// `lo` on Linux; with [`Medium::Ethernet`] (the default without it) they carry an Ethernet
/// header addressed to the interface itself.
#[derive(Debug)]
pub struct Loopback<const MTU: usize = 1500, const N: usize = 16> {
    queue: RefCell<FrameQueue<MTU, N>>,
    medium: Medium,
}

impl<const MTU: usize, const N: usize> Loopback<MTU, N> {
    /// A loopback device carrying bare IP packets; Ethernet frames without the `medium-ip`
    /// feature (pair it with [`StackConfig::ip`](crate::StackConfig::ip), which follows suit).
    pub const fn new() -> Self {
        #[cfg(feature = "medium-ip")]
        let medium = Medium::Ip;
        #[cfg(not(feature = "medium-ip"))]
        let medium = Medium::Ethernet;
        Self::with_medium(medium)
    }

    /// A loopback device for the given medium.
    pub const fn with_medium(medium: Medium) -> Self {
        Loopback {
            queue: RefCell::new(FrameQueue::new()),
            medium,
        }
    }

    /// The queue's counters (frames through, frames dropped because it was full).
    pub fn stats(&self) -> super::QueueStats {
        self.queue.borrow().stats()
    }
}

impl<const MTU: usize, const N: usize> Default for Loopback<MTU, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const MTU: usize, const N: usize> Pending for Loopback<MTU, N> {
    fn pending(&self) -> bool {
        !self.queue.borrow().is_empty()
    }
}

impl<const MTU: usize, const N: usize> phy::Device for Loopback<MTU, N> {
    type RxToken<'a> = RxFrame<MTU>;
    type TxToken<'a> = TxFrame<'a, MTU, N>;

    fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let frame = self.queue.get_mut().pop()?;
        Some((RxFrame(frame), TxFrame::new(&self.queue)))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        Some(TxFrame::new(&self.queue))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = self.medium;
        caps.max_transmission_unit = MTU;
        caps
    }
}
