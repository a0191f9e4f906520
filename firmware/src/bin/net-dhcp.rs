//! Network mode as `net` (the budget build's sizes), but the address comes from DHCP: QEMU's
//! user network leases 10.0.2.15 from 10.0.2.2. The ready line names the leased address. Build
//! with `--features dhcp`; `tests/qemu.rs` boots it, and the README reports what DHCP costs.
#![no_std]
#![no_main]

#[cfg_attr(target_arch = "arm", path = "../board/mps2.rs")]
#[cfg_attr(target_arch = "riscv32", path = "../board/virt.rs")]
mod board;

// The RAM budget (24 KiB of static RAM) is spent here. Four TCP sockets with 2 KiB each way
// (16 KiB), the NIC's two frame buffers (3 KiB) and six socket slots (2 KiB) are fixed; what
// is left decides the largest frame (a decoder buffer per framed socket) and datagram.

/// TCP sockets of the upper-case echo: all listen, so this is also its backlog.
const ECHO_SOCKETS: usize = 2;
/// TCP sockets of the framed echo (its backlog).
const FRAMED_SOCKETS: usize = 2;
/// Receive and transmit buffer of each TCP socket.
const TCP_BUF: usize = 2048;
/// Largest frame payload of the framed echo; a header announcing more resets that connection.
/// Each framed socket keeps a decoder buffer of this size.
const FRAME_MAX: usize = 512;
/// Largest UDP datagram served (payload bytes); smoltcp drops larger ones.
const UDP_MAX: usize = 192;
/// Datagrams queued per UDP socket and direction.
const UDP_DGRAMS: usize = 4;
/// Payload bytes queued per UDP socket and direction.
const UDP_BYTES: usize = UDP_MAX;
/// The sink's queue: the same as the echo's.
const SINK_DGRAMS: usize = UDP_DGRAMS;
const SINK_BYTES: usize = UDP_BYTES;
/// Replies waiting for ARP at once (the UDP echo's resolve lane).
const LANE_DGRAMS: usize = 1;

/// The LAN9118's frame buffers: as `net`'s (592-byte frames; QEMU's DHCP replies are
/// 576-byte IP datagrams, which fit).
#[cfg(target_arch = "arm")] // the mps2 boards (the others' NICs have buffers of their own)
const NIC_BUF: usize = 596;

/// The address, gateway and DNS servers from QEMU's DHCP server (feature `dhcp`).
const DHCP: bool = true;

include!("../net_main.rs");
