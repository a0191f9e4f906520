//! Self-test mode: checks run inside the MCU, a summary is printed, and QEMU exits with status 0
//! when every check passed, 1 otherwise (so `cargo run` fails when the firmware does).
#![no_std]
#![no_main]

#[path = "../board.rs"]
mod board;

use cortex_m_rt::entry;
use smolsock::device::lan9118::{Lan9118, Mps2};
use smoltcp::phy::{Device, RxToken, TxToken};
use smoltcp::wire::EthernetAddress;

const MAC: EthernetAddress = EthernetAddress([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);

/// Pass/fail bookkeeping for the summary.
struct Report {
    passed: u32,
    failed: u32,
}

impl Report {
    fn check(&mut self, name: &str, ok: bool) {
        board::print(if ok { "  ok    " } else { "  FAIL  " });
        board::print(name);
        board::print("\n");
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
    }
}

#[entry]
fn main() -> ! {
    // SAFETY: 0x4020_0000 is the LAN9118's register block on mps2-an385/an386, and this driver
    // is its only user.
    static mut NIC: Lan9118<Mps2> = unsafe { Lan9118::new() };

    let Some(core) = cortex_m::Peripherals::take() else {
        board::exit(false)
    };
    board::init(core.SYST);
    board::print("smolsock self-test\n");
    let mut report = Report {
        passed: 0,
        failed: 0,
    };

    report.check("SysTick clock advances", clock_advances());
    let nic: &'static mut Lan9118<Mps2> = NIC;
    report.check("LAN9118 byte test, reset, MAC setup", nic.init(MAC).is_ok());
    report.check(
        "LAN9118 station address reads back",
        nic.mac_address() == Ok(MAC),
    );
    report.check("LAN9118 frames survive PHY loopback", phy_loopback(nic));

    board::print("summary: ");
    board::print_u32(report.passed);
    board::print(" passed, ");
    board::print_u32(report.failed);
    board::print(" failed\n");
    board::exit(report.failed == 0)
}

/// The SysTick clock ticks: 20 ms pass within a bounded number of sleeps.
fn clock_advances() -> bool {
    let start = board::now();
    for _ in 0..1000 {
        if (board::now() - start).total_millis() >= 20 {
            return true;
        }
        cortex_m::asm::wfi();
    }
    false
}

/// Send broadcast frames of every length class through the PHY in loopback and check each comes
/// back byte for byte (FIFO word packing, FCS stripping, status lengths).
fn phy_loopback(nic: &mut Lan9118<Mps2>) -> bool {
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
        let Some(tx) = nic.transmit(board::now()) else {
            ok = false;
            break;
        };
        tx.consume(len, fill);
        let mut expected = [0u8; 1514];
        fill(&mut expected[..len]);
        let same = match nic.receive(board::now()) {
            Some((rx, _tx)) => rx.consume(|got| got == &expected[..len]),
            None => false,
        };
        ok &= same;
    }
    let counters = nic.counters();
    ok &= counters.rx_frames == 6 && counters.tx_frames == 6 && counters.rx_dropped == 0;
    ok & nic.set_phy_loopback(false).is_ok()
}
