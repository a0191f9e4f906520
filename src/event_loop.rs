//! The event loop contract: when to poll, when to sleep, and for how long.
//!
//! One round is always the same, wherever the stack runs:
//!
//! 1. `stack.poll(now, device)`: frames in, frames out, socket timers.
//! 2. every service's `poll`: drain every readable socket, queue replies.
//! 3. decide what next ([`next_step`]):
//!    - a service made progress → **poll again at once**: what it queued is sent by the next
//!      `poll`, and `recv` hands out one contiguous piece of a ring buffer at a time, so there
//!      may be more. smoltcp's `poll_delay` cannot know this: it only sees socket timers.
//!    - an in-memory device still holds frames ([`Pending`]) → poll again at once; a virtual
//!      clock must not jump while frames are in flight or smoltcp would see time pass with
//!      packets undelivered and retransmit for nothing.
//!    - otherwise → wait up to `poll_delay` (a TAP fd with `phy::wait`, `wfi` on a
//!      microcontroller), or in virtual time jump straight to the next timer ([`run_until`]).
//!
//! A loop that slept after a single read stalled a 64 MiB transfer every time: data sat in the
//! receive buffer, nothing was due, and the loop slept until a retransmission timer woke it.

use smoltcp::phy::Device;
use smoltcp::time::{Duration, Instant};

use crate::clock::{Clock, VirtualClock};
use crate::device::Pending;
use crate::Stack;

/// What a round of the application's work amounted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Something was read, written, opened or closed: poll again at once.
    Busy,
    /// Nothing to do until the network or a timer says otherwise.
    Idle,
    /// The application is finished: stop the loop.
    Done,
}

impl Work {
    /// [`Work::Done`] when `done`, else busy or idle after `progress`: the usual last line of
    /// a `run_until` closure.
    pub fn done_if(done: bool, progress: bool) -> Work {
        if done {
            Work::Done
        } else {
            progress.into()
        }
    }
}

impl From<bool> for Work {
    /// `true` (progress) is [`Work::Busy`], `false` is [`Work::Idle`].
    fn from(progress: bool) -> Self {
        if progress {
            Work::Busy
        } else {
            Work::Idle
        }
    }
}

/// What the loop should do after a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Poll again now.
    PollNow,
    /// Nothing pending: sleep until a frame arrives or this much time passed
    /// (`None`: no timer runs, sleep until a frame arrives).
    Wait(Option<Duration>),
}

impl Next {
    /// The sooner of two plans: for several stacks run together, each with its own
    /// [`next_step`] (polling now beats any wait; a wait with a timer beats one without).
    pub fn sooner(self, other: Next) -> Next {
        match (self, other) {
            (Next::PollNow, _) | (_, Next::PollNow) => Next::PollNow,
            (Next::Wait(Some(a)), Next::Wait(Some(b))) => Next::Wait(Some(a.min(b))),
            (Next::Wait(a), Next::Wait(b)) => Next::Wait(a.or(b)),
        }
    }
}

/// Decide what follows a round in which the stack and the application did `progress`.
pub fn next_step<D: Pending + ?Sized>(
    stack: &mut Stack<'_>,
    device: &D,
    now: Instant,
    progress: bool,
) -> Next {
    if progress || device.pending() {
        return Next::PollNow;
    }
    match stack.poll_delay(now) {
        Some(delay) if delay == Duration::ZERO => Next::PollNow,
        delay => Next::Wait(delay),
    }
}

/// One round: poll the interface at `now`, run the application once, decide what next.
///
/// Returns `None` when `work` says it is done. Every loop in smolsock (virtual time in
/// [`run_until`], a TAP device on the host, `wfi` on a microcontroller) is this round plus its
/// own way of waiting for [`Next::Wait`].
pub fn round<D: Device + Pending + ?Sized>(
    stack: &mut Stack<'_>,
    device: &mut D,
    now: Instant,
    work: &mut impl FnMut(&mut Stack<'_>) -> Work,
) -> Option<Next> {
    let mut progress = stack.poll(now, device);
    match work(stack) {
        Work::Done => return None,
        Work::Busy => progress = true,
        Work::Idle => {}
    }
    Some(next_step(stack, device, now, progress))
}

/// One round for a loop that sleeps one clock tick at a time (a microcontroller's `wfi` until
/// the next 1 ms SysTick): [`round`] without the length of the wait, which such a loop never
/// uses. `Some(true)`: poll again at once (progress, or frames waiting in the device);
/// `Some(false)`: sleep a tick; `None`: `work` is done.
///
/// A timer that is due fires on the next tick's poll, at most one tick late, as with a
/// [`Next::Wait`] of any length. Not asking smoltcp when its next timer runs (its `poll_at`
/// walks every socket) leaves that code out: about 1 KiB of flash on a Cortex-M3.
pub fn round_per_tick<D: Device + Pending + ?Sized>(
    stack: &mut Stack<'_>,
    device: &mut D,
    now: Instant,
    work: &mut impl FnMut(&mut Stack<'_>) -> Work,
) -> Option<bool> {
    let progress = stack.poll(now, device);
    match work(stack) {
        Work::Done => None,
        Work::Busy => Some(true),
        Work::Idle => Some(progress || device.pending()),
    }
}

/// Why [`run_until`] stopped without the application being done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunError {
    /// Nothing was pending and no timer ran: nothing could ever happen again.
    Stalled {
        /// Virtual time when it stalled.
        at: Instant,
    },
    /// The virtual-time budget ran out.
    TimedOut {
        /// Virtual time when it gave up.
        at: Instant,
    },
}

impl core::fmt::Display for RunError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RunError::Stalled { at } => write!(f, "stalled at {at}: nothing pending, no timer"),
            RunError::TimedOut { at } => write!(f, "not done by {at}"),
        }
    }
}

impl core::error::Error for RunError {}

/// Rounds in a row at one instant before the virtual clock is nudged by 1 ms; guards against a
/// timer smoltcp reports as due but that cannot fire yet.
const SPIN_LIMIT: u32 = 10_000;

/// What [`run_virtual`] does when a round says nothing is pending and no timer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenIdle {
    /// Stop with [`RunError::Stalled`]: nothing could ever happen again, the application
    /// waits for something that will not come.
    Stall,
    /// Let the clock run to the deadline and stop there with [`RunError::TimedOut`]: a
    /// scenario of fixed length that may have nothing left to do before its end.
    RunToDeadline,
}

/// The virtual-time driver: run `round` until it returns `None` (done), jumping the clock
/// between rounds as each round's [`Next`] says.
///
/// This is the one loop behind every simulation in smolsock: [`run_until`] (one stack),
/// [`sim::Network`](crate::sim::Network) (many stacks, links in flight), and tests that run two
/// stacks over a [`Wire`](crate::device::Wire). `round(now)` polls whatever it drives at `now`
/// and says what next:
///
/// - [`Next::PollNow`]: something moved or is due; go round again at the same instant (after
///   10 000 rounds in a row at one instant the clock is nudged by 1 ms, against a timer that
///   reports itself due but cannot fire);
/// - [`Next::Wait`]`(Some(d))`: nothing to do for `d`; the clock jumps `d` at once (idle
///   virtual time costs nothing: a 10 s TIME-WAIT is one step);
/// - [`Next::Wait`]`(None)`: nothing pending and no timer: see [`WhenIdle`].
///
/// The clock never passes `deadline`: a jump beyond it stops the run with
/// [`RunError::TimedOut`]. Returns the virtual time when `round` was done.
pub fn run_virtual(
    clock: &VirtualClock,
    deadline: Instant,
    when_idle: WhenIdle,
    mut round: impl FnMut(Instant) -> Option<Next>,
) -> Result<Instant, RunError> {
    let mut spins = 0u32;
    loop {
        let now = clock.now();
        let Some(next) = round(now) else {
            return Ok(now);
        };
        match next {
            Next::PollNow => {
                spins += 1;
                if spins >= SPIN_LIMIT {
                    spins = 0;
                    clock.advance(Duration::from_millis(1));
                }
            }
            Next::Wait(None) => {
                return match when_idle {
                    WhenIdle::Stall => Err(RunError::Stalled { at: now }),
                    WhenIdle::RunToDeadline => {
                        clock.advance_to(deadline);
                        Err(RunError::TimedOut { at: deadline })
                    }
                };
            }
            Next::Wait(Some(delay)) => {
                spins = 0;
                if now + delay > deadline {
                    clock.advance_to(deadline);
                    return Err(RunError::TimedOut { at: deadline });
                }
                clock.advance(delay);
            }
        }
        if clock.now() > deadline {
            return Err(RunError::TimedOut { at: clock.now() });
        }
    }
}

/// Drive `stack` on `device` in virtual time until `work` returns [`Work::Done`].
///
/// `work` runs the application (services, clients) once per round. Time stands still while
/// anything makes progress or frames are queued, then jumps to the next socket timer. At most
/// `budget` of virtual time may pass. Returns the virtual time when `work` was done. (This is
/// [`round`] in [`run_virtual`].)
pub fn run_until<D: Device + Pending + ?Sized>(
    stack: &mut Stack<'_>,
    device: &mut D,
    clock: &VirtualClock,
    budget: Duration,
    mut work: impl FnMut(&mut Stack<'_>) -> Work,
) -> Result<Instant, RunError> {
    let deadline = clock.now() + budget;
    run_virtual(clock, deadline, WhenIdle::Stall, |now| {
        round(stack, device, now, &mut work)
    })
}
