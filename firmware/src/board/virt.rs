//! Board support for QEMU's RISC-V `virt` machine (`qemu-system-riscv32 -M virt -bios none`,
//! RAM at `0x8000_0000`), machine mode, one hart:
//!
//! | what | where | use here |
//! |---|---|---|
//! | NS16550A UART | `0x1000_0000` | console (QEMU: stdio with `-nographic`) |
//! | SiFive test device | `0x0010_0000` | exit status back to the host |
//! | CLINT `mtime` / `mtimecmp` | `0x0200_BFF8` / `0x0200_4000` | 10 MHz clock; wake-ups from `wfi` |
//! | virtio-mmio slots | `0x1000_1000` + n × `0x1000`, n < 8 | virtio-net (`virtio_net.rs`) |
//!
//! Each binary includes this file as `mod board` (by `#[path]`); what every board shares is in
//! `common.rs`.
// Each binary uses a different part of this file.
#![allow(dead_code)]

use core::ptr;

use smolsock::smoltcp::wire::EthernetAddress;

#[path = "virtio_net.rs"]
mod virtio_net;

pub use virtio_net::VirtioNet as Nic;

include!("common.rs");

/// The board's name, as the self-test prints it.
pub const NAME: &str = "virt (RISC-V rv32imac, virtio-net)";

/// The UART's transmit holding register (offset 0) and line status register (offset 5).
const UART_THR: usize = 0x1000_0000;
const UART_LSR: usize = 0x1000_0005;
/// LSR bit 5: the transmit holding register is empty.
const LSR_THRE: u8 = 1 << 5;

/// The SiFive test device: writing `0x5555` ends QEMU with status 0; `(code << 16) | 0x3333`
/// with status `code`.
const TEST_DEVICE: usize = 0x0010_0000;

/// CLINT: the 64-bit machine timer and hart 0's compare register; `mtime` runs at 10 MHz.
const MTIME: usize = 0x0200_BFF8;
const MTIMECMP: usize = 0x0200_4000;
const TICKS_PER_MS: u64 = 10_000;

/// Install the console logger (unless `log-off`). The clock (`mtime`) runs from reset.
pub fn init() {
    #[cfg(not(feature = "log-off"))]
    logger::install();
}

/// Write raw bytes to the UART.
pub fn write(bytes: &[u8]) {
    for &b in bytes {
        // SAFETY: UART_LSR and UART_THR are the byte registers of the virt machine's NS16550A;
        // only this function touches the UART. Volatile, as MMIO must be.
        unsafe {
            while ptr::read_volatile(UART_LSR as *const u8) & LSR_THRE == 0 {}
            ptr::write_volatile(UART_THR as *mut u8, b);
        }
    }
}

/// End QEMU with status 0 (`success`) or 1, through the SiFive test device.
pub fn exit(success: bool) -> ! {
    let value = if success { 0x5555 } else { (1 << 16) | 0x3333 };
    // SAFETY: TEST_DEVICE is the virt machine's 32-bit test/finisher register; writing it ends
    // the emulation.
    unsafe { ptr::write_volatile(TEST_DEVICE as *mut u32, value) };
    // Only reached outside QEMU: park the hart.
    loop {
        riscv::asm::wfi();
    }
}

/// `mtime`, read as two 32-bit halves (RV32) without tearing.
fn mtime() -> u64 {
    loop {
        // SAFETY: MTIME is the CLINT's 64-bit machine timer, read-only here; volatile MMIO
        // reads of its two aligned 32-bit halves.
        let (hi, lo, hi2) = unsafe {
            (
                ptr::read_volatile((MTIME + 4) as *const u32),
                ptr::read_volatile(MTIME as *const u32),
                ptr::read_volatile((MTIME + 4) as *const u32),
            )
        };
        if hi == hi2 {
            return (u64::from(hi) << 32) | u64::from(lo);
        }
    }
}

/// Milliseconds since reset.
pub fn millis() -> u64 {
    mtime() / TICKS_PER_MS
}

/// Sleep until the next millisecond: `mtimecmp` one tick ahead, the timer interrupt enabled in
/// `mie` but not globally (`mstatus.MIE` stays 0), so `wfi` wakes without taking a trap.
pub fn idle() {
    let next = (mtime() / TICKS_PER_MS + 1) * TICKS_PER_MS;
    // SAFETY: MTIMECMP is hart 0's compare register; writing the high half first as all-ones
    // keeps it from matching early while the low half changes (the RISC-V privileged spec's
    // sequence for RV32).
    unsafe {
        ptr::write_volatile((MTIMECMP + 4) as *mut u32, u32::MAX);
        ptr::write_volatile(MTIMECMP as *mut u32, next as u32);
        ptr::write_volatile((MTIMECMP + 4) as *mut u32, (next >> 32) as u32);
        // With mstatus.MIE clear no trap is taken: a pending, locally enabled interrupt only
        // ends `wfi`.
        riscv::register::mie::set_mtimer();
    }
    riscv::asm::wfi();
}

/// The timer's position within the current millisecond (for [`seed`]).
fn phase() -> u32 {
    (mtime() % TICKS_PER_MS) as u32
}

/// The NIC, once: `None` when there is no virtio-net device or on a second call.
pub fn nic() -> Option<&'static mut Nic> {
    virtio_net::take()
}

/// The NIC and its MAC address (QEMU's, from the device's configuration space).
pub fn network() -> Option<(&'static mut Nic, EthernetAddress)> {
    let nic = nic()?;
    let mac = EthernetAddress(nic.mac_address());
    Some((nic, mac))
}

/// The self-test's checks of virtio-net: the device is found and set up, and an ARP request
/// for QEMU's gateway (10.0.2.2, user networking) gets its reply: the transmit and receive
/// queues both work.
pub fn check_hardware(check: &mut dyn FnMut(&str, bool)) {
    let Some((nic, mac)) = network() else {
        check("virtio-net found on virtio-mmio and set up", false);
        return;
    };
    check("virtio-net found on virtio-mmio and set up", true);
    check("virtio-net gateway answers ARP", arp_round_trip(nic, mac));
}

/// Send an ARP request for 10.0.2.2 from 10.0.2.15; wait up to 2 s for the reply.
fn arp_round_trip(nic: &mut Nic, mac: EthernetAddress) -> bool {
    use smolsock::smoltcp::phy::{Device, RxToken as _, TxToken as _};
    const GATEWAY: [u8; 4] = [10, 0, 2, 2];
    let Some(tx) = nic.transmit(now()) else {
        return false;
    };
    tx.consume(42, |f| {
        f[..6].copy_from_slice(&[0xFF; 6]);
        f[6..12].copy_from_slice(&mac.0);
        f[12..14].copy_from_slice(&[0x08, 0x06]); // ARP
        f[14..22].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]); // Ethernet/IPv4, request
        f[22..28].copy_from_slice(&mac.0);
        f[28..32].copy_from_slice(&[10, 0, 2, 15]);
        f[32..38].copy_from_slice(&[0; 6]);
        f[38..42].copy_from_slice(&GATEWAY);
    });
    let end = millis() + 2000;
    while millis() < end {
        if let Some((rx, _)) = nic.receive(now()) {
            let reply = rx.consume(|f| {
                f.len() >= 42
                    && f[..6] == mac.0
                    && f[12..14] == [0x08, 0x06]
                    && f[20..22] == [0, 2]
                    && f[28..32] == GATEWAY
            });
            if reply {
                return true;
            }
        }
        idle();
    }
    false
}

/// The `fault` program: an illegal instruction, which riscv-rt's default exception handler
/// reports through [`ExceptionHandler`].
pub fn fault() -> ! {
    // SAFETY: `unimp` is the canonical illegal instruction; it traps, and the trap handler
    // below exits.
    unsafe { core::arch::asm!("unimp") };
    exit(false)
}

/// Every exception ends here (riscv-rt's hook): report `mcause` and `mepc`, exit with status 1.
#[export_name = "ExceptionHandler"]
fn exception_handler(_frame: &riscv_rt::TrapFrame) -> ! {
    print("exception: mcause=");
    print_hex(riscv::register::mcause::read().bits() as u32);
    print(" mepc=");
    print_hex(riscv::register::mepc::read() as u32);
    print("\n");
    exit(false)
}
