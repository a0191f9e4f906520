//! A fixed-capacity queue of fixed-size frames, and the smoltcp tokens that read and write it.
//!
//! `FrameQueue<MTU, N>` holds at most `N` frames of at most `MTU` bytes each, in a
//! `heapless::Deque`: `N * MTU` bytes, decided at compile time. Size `N` to the RAM you have;
//! a Cortex-M0 with 16 KiB cannot hold a 12 KiB queue on its stack.
//!
//! When the queue is full a transmitted frame is dropped and counted, exactly as a real NIC drops
//! frames when its ring is full; TCP retransmits, UDP loses the datagram.

use core::cell::RefCell;

use heapless::{Deque, Vec};
use smoltcp::phy;

/// One frame, at most `MTU` bytes.
pub type Frame<const MTU: usize> = Vec<u8, MTU>;

/// Counters of a [`FrameQueue`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    /// Frames accepted into the queue.
    pub enqueued: u64,
    /// Frames taken out of the queue.
    pub dequeued: u64,
    /// Frames dropped because the queue was full.
    pub dropped_full: u64,
}

/// A bounded FIFO of frames.
#[derive(Debug)]
pub struct FrameQueue<const MTU: usize, const N: usize> {
    frames: Deque<Frame<MTU>, N>,
    stats: QueueStats,
}

impl<const MTU: usize, const N: usize> Default for FrameQueue<MTU, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const MTU: usize, const N: usize> FrameQueue<MTU, N> {
    /// An empty queue.
    pub const fn new() -> Self {
        FrameQueue {
            frames: Deque::new(),
            stats: QueueStats {
                enqueued: 0,
                dequeued: 0,
                dropped_full: 0,
            },
        }
    }

    /// Append a frame; when the queue is full the frame is dropped, counted, and returned.
    pub fn push(&mut self, frame: Frame<MTU>) -> Result<(), Frame<MTU>> {
        match self.frames.push_back(frame) {
            Ok(()) => {
                self.stats.enqueued += 1;
                Ok(())
            }
            Err(frame) => {
                self.stats.dropped_full += 1;
                Err(frame)
            }
        }
    }

    /// Take the oldest frame.
    pub fn pop(&mut self) -> Option<Frame<MTU>> {
        let frame = self.frames.pop_front()?;
        self.stats.dequeued += 1;
        Some(frame)
    }

    /// Number of frames waiting.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// `true` when no frame waits.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// `true` when another frame would be dropped.
    pub fn is_full(&self) -> bool {
        self.frames.is_full()
    }

    /// The counters so far.
    pub fn stats(&self) -> QueueStats {
        self.stats
    }
}

/// A received frame handed to smoltcp. It owns its bytes, so the queue is free again at once.
#[derive(Debug)]
pub struct RxFrame<const MTU: usize>(pub Frame<MTU>);

impl<const MTU: usize> phy::RxToken for RxFrame<MTU> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(&self.0)
    }
}

/// A transmit slot: the frame smoltcp writes is pushed onto `queue`.
#[derive(Debug)]
pub struct TxFrame<'q, const MTU: usize, const N: usize> {
    queue: &'q RefCell<FrameQueue<MTU, N>>,
}

impl<'q, const MTU: usize, const N: usize> TxFrame<'q, MTU, N> {
    /// A transmit slot writing into `queue`.
    pub fn new(queue: &'q RefCell<FrameQueue<MTU, N>>) -> Self {
        TxFrame { queue }
    }
}

impl<const MTU: usize, const N: usize> phy::TxToken for TxFrame<'_, MTU, N> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut frame = Frame::<MTU>::new();
        // smoltcp never asks for more than the device's `max_transmission_unit` (it checks the
        // IP length against the MTU before dispatching), and every device here reports `MTU`.
        frame.resize_default(len.min(MTU)).ok();
        let result = f(&mut frame);
        // A full queue drops the frame (counted inside `push`), like a NIC with a full ring.
        // `try_borrow_mut` cannot fail: tokens are consumed one at a time by the interface.
        if let Ok(mut queue) = self.queue.try_borrow_mut() {
            if queue.push(frame).is_err() {
                log::trace!("device queue full: frame of {len} bytes dropped");
            }
        }
        result
    }
}
