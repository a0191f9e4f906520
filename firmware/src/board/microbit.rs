//! Board support for QEMU's `microbit` (BBC micro:bit: Nordic nRF51822, Cortex-M0, 256 KiB of
//! flash at `0x0000_0000`, **16 KiB of RAM** at `0x2000_0000`): semihosting for output and the
//! exit status, TIMER0 as the clock. No NIC: this board runs the self-test only.
//!
//! The nRF51 has no SysTick (an option of the Cortex-M0 that Nordic left out), so the clock is
//! TIMER0 counting microseconds, read by a capture task; it is polled, not interrupt-driven, so
//! [`idle`] spins instead of sleeping.
// Each binary uses a different part of this file.
#![allow(dead_code)]

use core::cell::Cell;
use core::ptr;

include!("cortex_m.rs");

/// The board's name, as the self-test prints it.
pub const NAME: &str = "microbit (nRF51, Cortex-M0, 16 KiB RAM)";

/// TIMER0's register block (nRF51 Reference Manual, TIMER chapter). Offsets:
mod timer0 {
    pub const BASE: usize = 0x4000_8000;
    /// Write 1: start counting.
    pub const TASKS_START: usize = 0x000;
    /// Write 1: copy the counter into CC[0].
    pub const TASKS_CAPTURE0: usize = 0x040;
    /// 0 = timer mode (counts the prescaled 16 MHz clock).
    pub const MODE: usize = 0x504;
    /// 3 = 32-bit counter.
    pub const BITMODE: usize = 0x508;
    /// f = 16 MHz / 2^PRESCALER: 4 gives 1 MHz.
    pub const PRESCALER: usize = 0x510;
    /// Capture/compare register 0: the captured count.
    pub const CC0: usize = 0x540;
}

/// Write TIMER0's register at `offset`.
fn timer_write(offset: usize, value: u32) {
    // SAFETY: `offset` is one of the `timer0` constants: a 32-bit, word-aligned register of
    // TIMER0, a peripheral only this module touches. Volatile, as MMIO must be.
    unsafe { ptr::write_volatile((timer0::BASE + offset) as *mut u32, value) }
}

/// Read TIMER0's register at `offset`.
fn timer_read(offset: usize) -> u32 {
    // SAFETY: as in `timer_write`; reading CC0 has no side effect.
    unsafe { ptr::read_volatile((timer0::BASE + offset) as *const u32) }
}

/// The 32-bit microsecond counter extended to 64 bits: its last reading and the wraps seen.
/// (It wraps every 71 minutes; every [`millis`] call notices a wrap, and the event loop calls it
/// thousands of times a second.)
static CLOCK: Mutex<Cell<(u32, u32)>> = Mutex::new(Cell::new((0, 0)));

/// Start TIMER0 at 1 MHz, 32 bits. No logger: `core::fmt` would need more of the 16 KiB as call
/// stack than the self-test has to spare (its check lines do not format).
pub fn init() {
    timer_write(timer0::MODE, 0);
    timer_write(timer0::BITMODE, 3);
    timer_write(timer0::PRESCALER, 4);
    timer_write(timer0::TASKS_START, 1);
}

/// Microseconds since [`init`].
fn micros() -> u64 {
    critical_section::with(|cs| {
        timer_write(timer0::TASKS_CAPTURE0, 1);
        let count = timer_read(timer0::CC0);
        let clock = CLOCK.borrow(cs);
        let (last, mut wraps) = clock.get();
        if count < last {
            wraps = wraps.wrapping_add(1);
        }
        clock.set((count, wraps));
        (u64::from(wraps) << 32) | u64::from(count)
    })
}

/// The micro:bit has no NIC: the self-test's board checks are the clock's (done by the
/// self-test itself).
pub fn check_hardware(_check: &mut dyn FnMut(&str, bool)) {}

/// Milliseconds since [`init`].
pub fn millis() -> u64 {
    micros() / 1000
}

/// Nothing wakes the core (no interrupt is enabled): spin.
pub fn idle() {
    cortex_m::asm::nop();
}

/// The microsecond within the current millisecond (for [`seed`]).
fn phase() -> u32 {
    (micros() % 1000) as u32
}
