//! Proves the fault path: executes a permanently undefined instruction, which escalates to
//! HardFault (Cortex-M) or an illegal-instruction exception (RISC-V); the handler must report
//! where and exit QEMU with status 1.
#![no_std]
#![no_main]

#[cfg_attr(all(target_arch = "arm", not(microbit)), path = "../board/mps2.rs")]
#[cfg_attr(all(target_arch = "arm", microbit), path = "../board/microbit.rs")]
#[cfg_attr(target_arch = "riscv32", path = "../board/virt.rs")]
mod board;

/// The LAN9118's frame buffers (mps2 boards): full-size Ethernet frames.
#[cfg(all(target_arch = "arm", not(microbit)))] // the mps2 boards (the others' NICs have buffers of their own)
const NIC_BUF: usize = smolsock::device::lan9118::BUF_LEN;

#[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
#[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
fn main() -> ! {
    board::init();
    board::print("about to fault\n");
    board::fault()
}
