//! The event loop on a Linux host: the [contract](crate::event_loop) with a real clock and a
//! real file descriptor to sleep on.

use std::cell::RefCell;
use std::io;
use std::os::unix::io::{AsRawFd, RawFd};
use std::rc::Rc;
use std::string::ToString;
use std::sync::atomic::{AtomicBool, Ordering};

use smoltcp::phy::{self, Device, DeviceCapabilities};
use smoltcp::time::{Duration, Instant};

use super::batch::TxBatch;
use super::{TapDevice, TapError, TapMonitor};
use crate::clock::{Clock, StdClock};
use crate::device::Pending;
use crate::event_loop::{round, Next, Work};
use crate::Stack;

/// Why [`HostLoop::run`] returned without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The application said [`Work::Done`].
    Done,
    /// The stop flag was raised (Ctrl-C, a test tearing down).
    Requested,
}

/// Drives a stack on a TAP device with the host's clock.
///
/// Each round is [`event_loop::round`](crate::event_loop::round): `poll`, the application's
/// work, then [`next_step`](crate::event_loop::next_step): poll again at once if
/// anything moved, otherwise sleep in `phy::wait` on the TAP descriptor until a frame arrives or
/// the next socket timer is due. An idle server makes no system calls but that one `select`
/// (its CPU use is near zero); a busy one never sleeps while data waits in a socket.
///
/// Made from a [`TapDevice`] with offloads, the loop turns on the device's transmit batching:
/// consecutive TCP segments of one connection leave as one GSO segment, and the loop sends what
/// waits in the batch before every sleep and when it returns (see `batch.rs`).
#[derive(Debug)]
pub struct HostLoop<'s> {
    fd: RawFd,
    name: std::string::String,
    monitor: TapMonitor,
    clock: StdClock,
    stop: Option<&'s AtomicBool>,
    max_wait: Option<Duration>,
    /// The device's way out: batched TCP segments are sent before every sleep.
    tx: Rc<RefCell<TxBatch>>,
}

impl<'s> HostLoop<'s> {
    /// A loop sleeping on `tap`'s descriptor, with a clock starting now.
    ///
    /// Call this before moving `tap` into wrappers (`PcapWriter`, `FaultInjector`): the loop
    /// keeps the descriptor and a [`TapMonitor`], not the device.
    pub fn new(tap: &TapDevice) -> Self {
        HostLoop {
            fd: tap.as_raw_fd(),
            name: tap.name().to_string(),
            monitor: tap.monitor(),
            clock: StdClock::new(),
            stop: None,
            max_wait: None,
            tx: tap.batch(),
        }
    }

    /// Use `clock` (e.g. one whose zero a capture file was told about) instead of a fresh one.
    pub fn with_clock(mut self, clock: StdClock) -> Self {
        self.clock = clock;
        self
    }

    /// Return [`Stopped::Requested`] once `stop` is set. The flag is checked every round; a
    /// signal handler that sets it also interrupts the wait. Other threads setting it are seen
    /// within `max_wait` (see [`HostLoop::max_wait`]).
    pub fn stop_on(mut self, stop: &'s AtomicBool) -> Self {
        self.stop = Some(stop);
        self
    }

    /// Never sleep longer than `max` in one wait (so that a stop flag set by another thread is
    /// noticed). `None`: sleep as long as no frame and no timer needs the stack.
    pub fn max_wait(mut self, max: Option<Duration>) -> Self {
        self.max_wait = max;
        self
    }

    /// The loop's clock: zero when the loop was made.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The TAP device's counters.
    pub fn monitor(&self) -> &TapMonitor {
        &self.monitor
    }

    /// Run until `work` says [`Work::Done`] or the stop flag is set.
    ///
    /// `device` is the TAP device this loop was made from, possibly wrapped. `work` runs the
    /// application once per round (services, clients) and says whether it did anything.
    pub fn run<D: Device + ?Sized>(
        &mut self,
        stack: &mut Stack<'_>,
        device: &mut D,
        mut work: impl FnMut(&mut Stack<'_>, Instant) -> Work,
    ) -> Result<Stopped, TapError> {
        let result = self.rounds(stack, device, &mut work);
        self.tx.borrow_mut().flush();
        result
    }

    fn rounds<D: Device + ?Sized>(
        &mut self,
        stack: &mut Stack<'_>,
        device: &mut D,
        work: &mut impl FnMut(&mut Stack<'_>, Instant) -> Work,
    ) -> Result<Stopped, TapError> {
        let mut device = KernelQueued(device);
        loop {
            if self.stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                return Ok(Stopped::Requested);
            }
            let now = self.clock.now();
            let next = round(stack, &mut device, now, &mut |stack| work(stack, now));
            if let Some(kind) = self.monitor.failure() {
                return Err(TapError::Failed {
                    name: self.name.clone(),
                    kind,
                });
            }
            match next {
                None => return Ok(Stopped::Done),
                Some(Next::PollNow) => {}
                Some(Next::Wait(delay)) => {
                    let delay = match (delay, self.max_wait) {
                        (Some(d), Some(max)) => Some(d.min(max)),
                        (d, max) => d.or(max),
                    };
                    // Nothing may wait in a batch while we sleep.
                    self.tx.borrow_mut().flush();
                    self.wait(delay)?;
                }
            }
        }
    }

    fn wait(&self, delay: Option<Duration>) -> Result<(), TapError> {
        match phy::wait(self.fd, delay) {
            Ok(()) => Ok(()),
            // A signal (Ctrl-C): the next round checks the stop flag.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(source) => Err(TapError::Io {
                what: "select on the TAP descriptor",
                source,
            }),
        }
    }
}

/// A device whose received frames wait in the kernel, behind the descriptor `phy::wait`
/// watches, never in the device itself: [`Pending`] is always `false`.
struct KernelQueued<'d, D: ?Sized>(&'d mut D);

impl<D: Device + ?Sized> Device for KernelQueued<'_, D> {
    type RxToken<'a>
        = D::RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = D::TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        self.0.receive(now)
    }

    fn transmit(&mut self, now: Instant) -> Option<Self::TxToken<'_>> {
        self.0.transmit(now)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.0.capabilities()
    }
}

impl<D: ?Sized> Pending for KernelQueued<'_, D> {
    fn pending(&self) -> bool {
        false
    }
}
