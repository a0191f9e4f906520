// Cortex-M glue shared by the MPS2 boards and the micro:bit, `include!`d by mps2.rs and
// microbit.rs: output and exit through semihosting, the vector table's interrupt entries, and
// the fault handlers. The clock is the board file's.

use core::cell::RefCell;

use cortex_m_rt::{exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hio};
use critical_section::Mutex;

include!("common.rs");
include!("small_libc.rs");

/// The semihosting console, opened once.
static HOST: Mutex<RefCell<Option<hio::HostStream>>> = Mutex::new(RefCell::new(None));

/// Write raw bytes to the host's stdout (semihosting).
pub fn write(bytes: &[u8]) {
    critical_section::with(|cs| {
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

/// Leave QEMU with status 0 (`success`) or 1 (semihosting `SYS_EXIT`).
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

/// The external interrupt vectors: the AN385/AN386 images and the nRF51 have 32, and the
/// firmware enables none of them (the NICs are polled). Without this, cortex-m-rt would reserve
/// 240 (960 bytes).
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

/// Run the program that raises a HardFault (the `fault` binary): an undefined instruction.
pub fn fault() -> ! {
    cortex_m::asm::udf()
}
