//! How time enters the stack.
//!
//! smoltcp never reads a clock: every call takes the current [`Instant`] from the caller. This is
//! what lets one set of services run everywhere; only the source of `now` differs:
//!
//! | where | clock | how it waits |
//! |---|---|---|
//! | host (TAP, std) | [`StdClock`]: `std::time::Instant` since start | `phy::wait` on the TAP fd |
//! | microcontroller | a tick counter (e.g. SysTick ms), any `Fn() -> Instant` | `wfi` or busy loop |
//! | loopback, simulator, tests | [`VirtualClock`]: moves only when told | jumps to the next timer |
//!
//! A virtual clock makes runs deterministic and fast: a 10-second TIME-WAIT passes in
//! microseconds of wall time. It must only jump when nothing else can happen: no progress in the
//! last round *and* no frame queued in an in-memory device (see [`crate::event_loop`]), or
//! smoltcp would see time pass with packets still in flight and retransmit needlessly.

use core::cell::Cell;

pub use smoltcp::time::{Duration, Instant};

/// A source of the current time for the stack.
pub trait Clock {
    /// The current time.
    fn now(&self) -> Instant;
}

/// Any `Fn() -> Instant` is a clock: handy for a microcontroller tick counter.
impl<F: Fn() -> Instant> Clock for F {
    fn now(&self) -> Instant {
        self()
    }
}

/// A clock that moves only when told to: for the loopback, the simulator and tests.
#[derive(Debug)]
pub struct VirtualClock {
    now: Cell<Instant>,
}

impl VirtualClock {
    /// A virtual clock starting at `start`.
    pub const fn new(start: Instant) -> Self {
        VirtualClock {
            now: Cell::new(start),
        }
    }

    /// Move the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.now.set(self.now.get() + by);
    }

    /// Move the clock to `to`, if that is later than now (time never runs backwards).
    pub fn advance_to(&self, to: Instant) {
        if to > self.now.get() {
            self.now.set(to);
        }
    }
}

impl Default for VirtualClock {
    /// A virtual clock starting at zero.
    fn default() -> Self {
        Self::new(Instant::ZERO)
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Instant {
        self.now.get()
    }
}

/// The host's monotonic clock, counted from when this value was created.
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy)]
pub struct StdClock {
    start: std::time::Instant,
}

#[cfg(feature = "std")]
impl StdClock {
    /// A clock reading zero now.
    pub fn new() -> Self {
        StdClock {
            start: std::time::Instant::now(),
        }
    }
}

#[cfg(feature = "std")]
impl Default for StdClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "std")]
impl Clock for StdClock {
    fn now(&self) -> Instant {
        let elapsed = self.start.elapsed();
        Instant::from_micros(elapsed.as_micros() as i64)
    }
}

/// A seed that differs from run to run (wall-clock nanoseconds and the process id), for
/// whatever must not be predictable between runs: TCP initial sequence numbers
/// ([`StackConfig::with_seed`](crate::StackConfig::with_seed)), the first ephemeral port,
/// fault injection. Never 0. Tests and the simulator use fixed seeds instead.
#[cfg(feature = "std")]
pub fn seed_from_time() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    (nanos ^ (u64::from(std::process::id()) << 32)).max(1)
}
