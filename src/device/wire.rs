//! A wire: two linked device ends, so two interfaces with their own addresses can talk.
//!
//! ```text
//!   stack A ── WireEnd(A) ──▶ queue a→b ──▶ WireEnd(B) ── stack B
//!          ◀──────────────── queue b→a ◀──────────────
//! ```
//!
//! The wire owns both queues; each end borrows it, so both ends (and both stacks) live in the
//! same scope without any allocation. Frames are Ethernet frames, so ARP runs as on a real link.

use core::cell::RefCell;

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use super::queue::{FrameQueue, QueueStats, RxFrame, TxFrame};
use super::Pending;

/// Which end of a [`Wire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
}

/// Two frame queues, one per direction.
#[derive(Debug, Default)]
pub struct Wire<const MTU: usize = 1514, const N: usize = 16> {
    a_to_b: RefCell<FrameQueue<MTU, N>>,
    b_to_a: RefCell<FrameQueue<MTU, N>>,
}

impl<const MTU: usize, const N: usize> Wire<MTU, N> {
    /// A wire with both directions empty.
    pub const fn new() -> Self {
        Wire {
            a_to_b: RefCell::new(FrameQueue::new()),
            b_to_a: RefCell::new(FrameQueue::new()),
        }
    }

    /// Both ends of the wire.
    pub fn ends(&self) -> (WireEnd<'_, MTU, N>, WireEnd<'_, MTU, N>) {
        (
            WireEnd {
                wire: self,
                side: Side::A,
            },
            WireEnd {
                wire: self,
                side: Side::B,
            },
        )
    }

    /// Counters of the direction A → B.
    pub fn stats_a_to_b(&self) -> QueueStats {
        self.a_to_b.borrow().stats()
    }

    /// Counters of the direction B → A.
    pub fn stats_b_to_a(&self) -> QueueStats {
        self.b_to_a.borrow().stats()
    }

    /// `true` while a frame travels in either direction.
    pub fn in_flight(&self) -> bool {
        !self.a_to_b.borrow().is_empty() || !self.b_to_a.borrow().is_empty()
    }
}

/// One end of a [`Wire`]: an Ethernet device.
#[derive(Debug, Clone, Copy)]
pub struct WireEnd<'w, const MTU: usize, const N: usize> {
    wire: &'w Wire<MTU, N>,
    side: Side,
}

impl<'w, const MTU: usize, const N: usize> WireEnd<'w, MTU, N> {
    fn inbound(&self) -> &'w RefCell<FrameQueue<MTU, N>> {
        match self.side {
            Side::A => &self.wire.b_to_a,
            Side::B => &self.wire.a_to_b,
        }
    }

    fn outbound(&self) -> &'w RefCell<FrameQueue<MTU, N>> {
        match self.side {
            Side::A => &self.wire.a_to_b,
            Side::B => &self.wire.b_to_a,
        }
    }
}

impl<const MTU: usize, const N: usize> Pending for WireEnd<'_, MTU, N> {
    fn pending(&self) -> bool {
        !self.inbound().borrow().is_empty()
    }
}

impl<'w, const MTU: usize, const N: usize> phy::Device for WireEnd<'w, MTU, N> {
    type RxToken<'a>
        = RxFrame<MTU>
    where
        Self: 'a;
    type TxToken<'a>
        = TxFrame<'w, MTU, N>
    where
        Self: 'a;

    fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let frame = self.inbound().try_borrow_mut().ok()?.pop()?;
        Some((RxFrame(frame), TxFrame::new(self.outbound())))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        Some(TxFrame::new(self.outbound()))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU;
        caps
    }
}
