//! Board support for QEMU's `mps2-an385` (Cortex-M3; also runs the Cortex-M0 build) and
//! `mps2-an386` (Cortex-M4F): SysTick as the millisecond clock, semihosting for output and the
//! exit status, the LAN9118 Ethernet controller at `0x4020_0000` as the NIC.
//!
//! Each binary includes this file as `mod board` (by `#[path]`); what is Cortex-M but not
//! MPS2 is in `cortex_m.rs`, what every board shares in `common.rs`.
// Each binary uses a different part of this file.
#![allow(dead_code)]

use core::cell::Cell;

use cortex_m::peripheral::{syst::SystClkSource, SYST};
use smolsock::device::lan9118::{Lan9118, Mps2};
use smolsock::smoltcp::phy::{RxToken as _, TxToken as _};
use smolsock::smoltcp::wire::EthernetAddress;

include!("cortex_m.rs");

/// The board's name, as the self-test prints it.
pub const NAME: &str = "mps2 (Cortex-M, LAN9118)";

/// Core clock of the MPS2 FPGA images (and of QEMU's model of them).
pub const SYSCLK_HZ: u32 = 25_000_000;

/// The network device: the LAN9118 at `0x4020_0000`, with frame buffers of the program's
/// `NIC_BUF` bytes (full-size Ethernet frames, or a smaller MTU for a RAM budget).
pub type Nic = Lan9118<Mps2, { crate::NIC_BUF }>;

/// The firmware's MAC address: locally administered, unicast.
pub const MAC: EthernetAddress = EthernetAddress([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);

/// Milliseconds since [`init`]. A `u64` behind a critical section: Cortex-M0/M3 have no 64-bit
/// atomics, and a `u32` would wrap after 49 days.
static MILLIS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

/// Start the 1 ms SysTick clock and (unless `log-off`) install the semihosting logger.
pub fn init() {
    let Some(core) = cortex_m::Peripherals::take() else {
        exit(false)
    };
    let mut syst = core.SYST;
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(SYSCLK_HZ / 1000 - 1);
    syst.clear_current();
    syst.enable_counter();
    syst.enable_interrupt();
    #[cfg(not(feature = "log-off"))]
    logger::install();
}

/// The NIC, once: `None` on a second call.
pub fn nic() -> Option<&'static mut Nic> {
    // A constant initialiser, so the driver's buffers stay in `.bss` (no copy in flash).
    // SAFETY: 0x4020_0000 is the LAN9118's register block on mps2-an385/an386, and this driver
    // is its only user: `take_once` below hands it out once.
    static mut NIC: Nic = unsafe { Lan9118::new() };
    static TAKEN: Mutex<Cell<bool>> = Mutex::new(Cell::new(false));
    if critical_section::with(|cs| TAKEN.borrow(cs).replace(true)) {
        return None;
    }
    // SAFETY: only the first call gets here (TAKEN), so this is the only reference to NIC.
    Some(unsafe { &mut *core::ptr::addr_of_mut!(NIC) })
}

/// The NIC, reset and set up with [`MAC`], and that address; `None` if it fails.
pub fn network() -> Option<(&'static mut Nic, EthernetAddress)> {
    let nic = nic()?;
    nic.init(MAC).ok()?;
    Some((nic, MAC))
}

/// The self-test's checks of the LAN9118: reset and set-up, the station address, and frames of
/// every length class through PHY loopback.
pub fn check_hardware(check: &mut dyn FnMut(&str, bool)) {
    let Some(nic) = nic() else {
        check("LAN9118 available", false);
        return;
    };
    check("LAN9118 byte test, reset, MAC setup", nic.init(MAC).is_ok());
    check(
        "LAN9118 station address reads back",
        nic.mac_address() == Ok(MAC),
    );
    check("LAN9118 frames survive PHY loopback", phy_loopback(nic));
}

/// Milliseconds since [`init`].
pub fn millis() -> u64 {
    critical_section::with(|cs| MILLIS.borrow(cs).get())
}

/// Sleep until the next interrupt (at most the next SysTick, 1 ms).
pub fn idle() {
    cortex_m::asm::wfi();
}

/// Where SysTick is within the current millisecond (for [`seed`]).
fn phase() -> u32 {
    SYST::get_current()
}

#[cortex_m_rt::exception]
fn SysTick() {
    critical_section::with(|cs| {
        let ms = MILLIS.borrow(cs);
        ms.set(ms.get().wrapping_add(1));
    });
}

/// Send broadcast frames of every length class through the PHY in loopback and check each comes
/// back byte for byte (FIFO word packing, FCS stripping, status lengths).
fn phy_loopback(nic: &mut Nic) -> bool {
    if nic.set_phy_loopback(true).is_err() {
        return false;
    }
    let mut ok = true;
    for len in [60usize, 61, 62, 63, 300, 1514] {
        let fill = |buf: &mut [u8]| {
            buf[..6].copy_from_slice(&[0xFF; 6]);
            buf[6..12].copy_from_slice(&MAC.0);
            buf[12..14].copy_from_slice(&[0x88, 0xB5]); // local experimental EtherType
            for (i, b) in buf[14..].iter_mut().enumerate() {
                *b = (i as u8) ^ (len as u8);
            }
        };
        let Some(tx) = nic.transmit(now()) else {
            ok = false;
            break;
        };
        tx.consume(len, fill);
        let mut expected = [0u8; 1514];
        fill(&mut expected[..len]);
        let same = match nic.receive(now()) {
            Some((rx, _tx)) => rx.consume(|got| got == &expected[..len]),
            None => false,
        };
        ok &= same;
    }
    let counters = nic.counters();
    ok &= counters.rx_frames == 6 && counters.tx_frames == 6 && counters.rx_dropped == 0;
    ok & nic.set_phy_loopback(false).is_ok()
}
