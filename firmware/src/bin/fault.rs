//! Proves the fault path: executes a permanently undefined instruction, which escalates to
//! HardFault; the handler must report the faulting address and exit QEMU with status 1.
#![no_std]
#![no_main]

#[path = "../board.rs"]
mod board;

use cortex_m_rt::entry;

#[entry]
fn main() -> ! {
    let Some(core) = cortex_m::Peripherals::take() else {
        board::exit(false)
    };
    board::init(core.SYST);
    board::print("about to fault\n");
    cortex_m::asm::udf()
}
