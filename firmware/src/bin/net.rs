//! Network mode, the budget build (≤ 32 KiB of flash and ≤ 24 KiB of static RAM, defences
//! included: `scripts/footprint.sh --check`; see the README's footprint section): the library's services on the board's NIC, reachable
//! from the host through QEMU's user networking (see `qemu-run.sh`). Serves forever at
//! 10.0.2.15/24, gateway 10.0.2.2:
//!
//! | port | service |
//! |---|---|
//! | TCP 8000 | upper-case echo, a pool of `ECHO_SOCKETS` (the backlog; `src/budget_sizes.rs`) |
//! | TCP 9000 | framed upper-case echo (4-byte big-endian length frames), `FRAMED_SOCKETS` |
//! | UDP 8848 | upper-case echo to each sender |
//! | UDP 8888 | sink: counts datagrams and bytes (logged, with their digest, as they change) |
//!
//! `net-large` is the same program with the TAP server's limits, for boards with more RAM.
#![no_std]
#![no_main]

#[cfg_attr(target_arch = "arm", path = "../board/mps2.rs")]
#[cfg_attr(target_arch = "riscv32", path = "../board/virt.rs")]
mod board;

// The sizes: the budget build's (`src/budget_sizes.rs`).
include!("../budget_sizes.rs");

/// The LAN9118's two frame buffers (mps2 boards), 596 bytes each instead of 1520: frames up to
/// 592 bytes, an IP MTU of 578 (576 is what every IPv4 host must accept; DHCP messages fit), so
/// smoltcp announces a TCP MSS of 538. Saves 1.8 KiB of RAM; larger frames are dropped.
#[cfg(target_arch = "arm")] // the mps2 boards (the others' NICs have buffers of their own)
const NIC_BUF: usize = 596;

/// A fixed address (10.0.2.15), no DHCP client.
const DHCP: bool = false;

include!("../net_main.rs");
