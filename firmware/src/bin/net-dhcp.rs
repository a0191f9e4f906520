//! Network mode as `net` (the budget build's sizes), but the address comes from DHCP: QEMU's
//! user network leases 10.0.2.15 from 10.0.2.2. The ready line names the leased address. Build
//! with `--features dhcp`; `tests/qemu.rs` boots it, and the README reports what DHCP costs.
#![no_std]
#![no_main]

#[cfg_attr(target_arch = "arm", path = "../board/mps2.rs")]
#[cfg_attr(target_arch = "riscv32", path = "../board/virt.rs")]
mod board;

// The sizes: the budget build's (`src/budget_sizes.rs`).
include!("../budget_sizes.rs");

/// The LAN9118's frame buffers: as `net`'s (592-byte frames; QEMU's DHCP replies are
/// 576-byte IP datagrams, which fit).
#[cfg(target_arch = "arm")] // the mps2 boards (the others' NICs have buffers of their own)
const NIC_BUF: usize = 596;

/// The address, gateway and DNS servers from QEMU's DHCP server (feature `dhcp`).
const DHCP: bool = true;

include!("../net_main.rs");
