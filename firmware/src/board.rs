//! Board glue shared by the firmware binaries (each includes this file as `mod board`):
//! the SysTick millisecond clock, the event loop on that clock, output and exit through
//! semihosting, the `log` backend, and the fault and panic handlers. Nothing here knows about
//! echo, backlogs or UDP: those are the library's services, the same as on the host.
//!
//! Output avoids `core::fmt` unless logging is compiled in, so a `log-off` build measures the
//! footprint of the network code, not of the formatter.
// Each binary uses a different part of this file.
#![allow(dead_code)]

use core::cell::{Cell, RefCell};

use cortex_m::interrupt::{self, Mutex};
use cortex_m::peripheral::{syst::SystClkSource, SYST};
use cortex_m_rt::{exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hio};
use smolsock::device::Pending;
use smolsock::event_loop::{round, Next, Work};
use smolsock::smoltcp::phy::Device;
use smolsock::smoltcp::time::Instant;
use smolsock::Stack;

/// Core clock of the MPS2 FPGA images (and of QEMU's model of them).
pub const SYSCLK_HZ: u32 = 25_000_000;

/// Milliseconds since [`init`]. A `u64` behind a critical section: Cortex-M0/M3 have no 64-bit
/// atomics, and a `u32` would wrap after 49 days.
static MILLIS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

/// The semihosting console, opened once.
static HOST: Mutex<RefCell<Option<hio::HostStream>>> = Mutex::new(RefCell::new(None));

/// Start the 1 ms SysTick clock and (unless `log-off`) install the semihosting logger.
pub fn init(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(SYSCLK_HZ / 1000 - 1);
    syst.clear_current();
    syst.enable_counter();
    syst.enable_interrupt();
    #[cfg(not(feature = "log-off"))]
    logger::install();
}

/// Milliseconds since [`init`].
pub fn millis() -> u64 {
    interrupt::free(|cs| MILLIS.borrow(cs).get())
}

/// Time since [`init`], as smoltcp wants it.
pub fn now() -> Instant {
    Instant::from_millis(millis() as i64)
}

/// Busy-wait (sleeping between ticks) for `ms` milliseconds.
///
/// Counts [`millis`], not `Instant`s: `Instant::total_millis` divides 64-bit microseconds by
/// 1000, which would link the signed 64-bit division routine for this alone.
pub fn delay_ms(ms: u64) {
    let end = millis() + ms;
    while millis() < end {
        cortex_m::asm::wfi();
    }
}

/// A seed for smoltcp (TCP initial sequence numbers): the SysTick phase mixed with the clock.
pub fn seed() -> u64 {
    let phase = u64::from(SYST::get_current());
    millis()
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(phase)
        ^ 0x736d_6f6c_736f_636b
}

/// The library's event-loop contract on the SysTick clock: poll the stack, let `work` run the
/// services, poll again at once while anything progressed or frames wait in the device, else
/// sleep until the next tick (`wfi`; the NIC is polled, so at most 1 ms passes).
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
            cortex_m::asm::wfi();
        }
    }
}

#[exception]
fn SysTick() {
    interrupt::free(|cs| {
        let ms = MILLIS.borrow(cs);
        ms.set(ms.get().wrapping_add(1));
    });
}

/// Write raw bytes to the host's stdout.
pub fn write(bytes: &[u8]) {
    interrupt::free(|cs| {
        let mut host = HOST.borrow(cs).borrow_mut();
        if host.is_none() {
            *host = hio::hstdout().ok();
        }
        if let Some(out) = host.as_mut() {
            // Nowhere to report a failed write to the console.
            let _ = out.write_all(bytes);
        }
    });
}

/// Write a string to the host's stdout.
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

/// Leave QEMU with status 0 (`success`) or 1.
pub fn exit(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Only reached without a debugger/semihosting host: park the core.
    loop {
        cortex_m::asm::wfi();
    }
}

extern "C" {
    /// cortex-m-rt's name for the handler defined below with `#[exception]`.
    fn DefaultHandler();
}

/// The external interrupt vectors: the AN385/AN386 images have 32, and the firmware enables
/// none of them (the NIC is polled). Without this, cortex-m-rt would reserve 240 (960 bytes).
#[link_section = ".vector_table.interrupts"]
#[no_mangle]
#[used]
static __INTERRUPTS: [unsafe extern "C" fn(); 32] = [DefaultHandler; 32];

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    print("HardFault: pc=");
    print_hex(frame.pc());
    print(" lr=");
    print_hex(frame.lr());
    print(" xpsr=");
    print_hex(frame.xpsr());
    print("\n");
    exit(false)
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    print("unexpected exception/IRQ ");
    print_u32(irqn as u16 as u32);
    print("\n");
    exit(false)
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
    //! `log` over semihosting: `[LEVEL ms] message` lines on the host's stdout.
    use core::fmt::{self, Write as _};

    /// `core::fmt::Write` onto the semihosting console.
    pub struct Console;

    impl fmt::Write for Console {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            super::print(s);
            Ok(())
        }
    }

    struct Logger;

    impl log::Log for Logger {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }

        fn log(&self, record: &log::Record) {
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

    pub fn install() {
        // `set_logger` fails only if a logger is already set: then that one stays.
        let _ = log::set_logger(&LOGGER);
        log::set_max_level(log::LevelFilter::Info);
    }
}
