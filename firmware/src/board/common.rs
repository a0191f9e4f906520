// Board-independent glue, `include!`d by every board file (mps2.rs, microbit.rs, virt.rs), which
// provide `write`, `exit`, `millis`, `idle` and `phase`. Nothing here knows about echo, backlogs
// or UDP: those are the library's services, the same as on the host.
//
// Output avoids `core::fmt` unless logging is compiled in, so a `log-off` build measures the
// footprint of the network code, not of the formatter.

use smolsock::device::Pending;
use smolsock::event_loop::{round, round_per_tick, Next, Work};
use smolsock::smoltcp::phy::Device;
use smolsock::smoltcp::time::Instant;
use smolsock::Stack;

/// Time since [`init`], as smoltcp wants it.
pub fn now() -> Instant {
    Instant::from_millis(millis() as i64)
}

/// Wait for `ms` milliseconds (sleeping between ticks where the board can).
///
/// Counts [`millis`], not `Instant`s: `Instant::total_millis` divides 64-bit microseconds by
/// 1000, which would link the signed 64-bit division routine for this alone.
pub fn delay_ms(ms: u64) {
    let end = millis() + ms;
    while millis() < end {
        idle();
    }
}

/// A seed for smoltcp (TCP initial sequence numbers): the board's timer phase mixed with the
/// clock.
pub fn seed() -> u64 {
    millis()
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(u64::from(phase()))
        ^ 0x736d_6f6c_736f_636b
}

/// The library's event-loop contract on the board's clock: poll the stack, let `work` run the
/// services, poll again at once while anything progressed or frames wait in the device, else
/// sleep until the next tick ([`idle`]; the NIC is polled, so at most 1 ms passes).
///
/// Returns `true` when `work` reports [`Work::Done`], `false` once `deadline` has passed.
pub fn run<D: Device + Pending + ?Sized>(
    stack: &mut Stack<'_>,
    device: &mut D,
    deadline: Option<Instant>,
    mut work: impl FnMut(&mut Stack<'_>) -> Work,
) -> bool {
    loop {
        let now = now();
        let Some(next) = round(stack, device, now, &mut work) else {
            return true;
        };
        if deadline.is_some_and(|d| now >= d) {
            return false;
        }
        if let Next::Wait(_) = next {
            idle();
        }
    }
}

/// The event loop for good (network mode): [`run`] without a deadline, for services that are
/// never done. Inlined into its one caller: about 0.4 KiB less flash than a call to [`run`]
/// (measured on the budget build). It sleeps a tick at a time whatever the next timer, so it
/// uses [`round_per_tick`], which does not work out when that timer is (1 KiB less again).
#[inline(always)]
pub fn serve<D: Device + Pending + ?Sized>(
    stack: &mut Stack<'_>,
    device: &mut D,
    mut work: impl FnMut(&mut Stack<'_>) -> Work,
) -> ! {
    loop {
        if round_per_tick(stack, device, now(), &mut work) == Some(false) {
            idle();
        }
    }
}

/// Write a string to the host's console.
pub fn print(s: &str) {
    write(s.as_bytes());
}

/// Write `v` in decimal, without `core::fmt`.
pub fn print_u32(mut v: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    write(&digits[i..]);
}

/// Write `v` as `0x` and eight hex digits, without `core::fmt`.
pub fn print_hex(v: u32) {
    let mut out = *b"0x00000000";
    for (i, d) in out[2..].iter_mut().enumerate() {
        let nibble = (v >> (28 - 4 * i)) & 0xF;
        *d = b"0123456789abcdef"[nibble as usize];
    }
    write(&out);
}

/// With logging off, a panic reports a fixed line and exits. It reads nothing from `PanicInfo`:
/// then LTO drops the panic messages, their `Location`s and every `core::fmt` routine that only
/// panics (smoltcp's "IP address {} is not unicast", bounds checks, `unwrap`s) referenced,
/// about 7.6 KiB of flash. Build with logging on for the file, line and message.
#[cfg(feature = "log-off")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    print("panic\n");
    exit(false)
}

/// With logging on: the location and the formatted message.
#[cfg(not(feature = "log-off"))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    print("panic");
    if let Some(loc) = info.location() {
        print(" at ");
        print(loc.file());
        print(":");
        print_u32(loc.line());
    }
    {
        use core::fmt::Write as _;
        let _ = write!(logger::Console, ": {}", info.message());
    }
    print("\n");
    exit(false)
}

#[cfg(not(feature = "log-off"))]
mod logger {
    //! `log` on the board's console: `[LEVEL ms] message` lines on the host's stdout.
    use core::fmt::{self, Write as _};

    /// `core::fmt::Write` onto the console.
    pub struct Console;

    impl fmt::Write for Console {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            super::print(s);
            Ok(())
        }
    }

    struct Logger;

    impl log::Log for Logger {
        fn enabled(&self, meta: &log::Metadata) -> bool {
            // Drivers from crates.io (virtio-drivers) log their set-up at info: keep the
            // console to the firmware's own lines and everyone's warnings.
            meta.level() <= log::Level::Warn || !meta.target().starts_with("virtio_drivers")
        }

        fn log(&self, record: &log::Record) {
            if !self.enabled(record.metadata()) {
                return;
            }
            let _ = writeln!(
                Console,
                "[{:<5} {:>6}] {}",
                record.level(),
                super::millis(),
                record.args()
            );
        }

        fn flush(&self) {}
    }

    static LOGGER: Logger = Logger;

    /// Make this the `log` backend (at info level).
    pub fn install() {
        // The racy setters: Cortex-M0 has no compare-and-swap for the safe ones.
        // SAFETY: called once, from `init` at the start of `main`, before anything logs; one
        // core, and no interrupt handler logs.
        unsafe {
            // Fails only if a logger is already set: then that one stays.
            let _ = log::set_logger_racy(&LOGGER);
            log::set_max_level_racy(log::LevelFilter::Info);
        }
    }
}
