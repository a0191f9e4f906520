//! Network mode on IPv4 and IPv6 at once: `net`'s services and sizes on a dual-stack interface.
//! Serves at 10.0.2.15/24 (gateway 10.0.2.2), at fe80::/64 from the MAC (link-local) and at
//! fec0::15/64, the prefix of QEMU's user network (whose host side is fec0::2); every service
//! answers on each address, and smoltcp answers `ping` and `ping -6`. The ready line names every
//! address. Build with `--no-default-features --features ipv6`
//! (`cargo fw net-ipv6 --no-default-features --features ipv6`); not budgeted: the README's
//! footprint section reports what IPv6 costs beside the IPv4-only `net`.
//!
//! QEMU 7.2's user networking forwards host ports to IPv4 guest addresses only, so the host
//! reaches the IPv6 side through a TAP device instead: `tests/qemu.rs` attaches the board to one
//! in a network namespace and pings and connects over both families.
#![no_std]
#![no_main]

#[cfg_attr(target_arch = "arm", path = "../board/mps2.rs")]
#[cfg_attr(target_arch = "riscv32", path = "../board/virt.rs")]
mod board;

// The sizes: the budget build's (`src/budget_sizes.rs`).
include!("../budget_sizes.rs");

/// The LAN9118's frame buffers: full-size Ethernet frames, not `net`'s 596 bytes. IPv6 needs
/// every link to carry 1280-byte packets (RFC 8200), so the budget build's 578-byte MTU would
/// not do; this costs 1.8 KiB of RAM over `net`.
#[cfg(target_arch = "arm")] // the mps2 boards (the others' NICs have buffers of their own)
const NIC_BUF: usize = smolsock::device::lan9118::BUF_LEN;

/// A fixed address (10.0.2.15), no DHCP client.
const DHCP: bool = false;

include!("../net_main.rs");
