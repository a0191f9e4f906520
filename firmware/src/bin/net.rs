//! Network mode, the budget build (≤ 32 KiB of flash and ≤ 24 KiB of static RAM, defences
//! included: `scripts/footprint.sh --check`; see the README's footprint section): the library's services on the board's NIC, reachable
//! from the host through QEMU's user networking (see `qemu-run.sh`). Serves forever at
//! 10.0.2.15/24, gateway 10.0.2.2:
//!
//! | port | service |
//! |---|---|
//! | TCP 8000 | upper-case echo, a pool of [`ECHO_SOCKETS`] (the backlog) |
//! | TCP 9000 | framed upper-case echo (4-byte big-endian length frames), [`FRAMED_SOCKETS`] |
//! | UDP 8848 | upper-case echo to each sender |
//! | UDP 8888 | sink: counts datagrams and bytes (logged, with their digest, as they change) |
//!
//! `net-large` is the same program with the TAP server's limits, for boards with more RAM.
#![no_std]
#![no_main]

#[cfg_attr(target_arch = "arm", path = "../board/mps2.rs")]
#[cfg_attr(target_arch = "riscv32", path = "../board/virt.rs")]
mod board;

// The RAM budget (24 KiB of static RAM) is spent here. Four TCP sockets with 2 KiB each way
// (16 KiB) and seven socket slots (2.3 KiB) are fixed; what is left decides the NIC's frame
// buffers (`NIC_BUF`), the largest frame (a decoder buffer per framed socket) and datagram.

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

/// The LAN9118's two frame buffers (mps2 boards), 596 bytes each instead of 1520: frames up to
/// 592 bytes, an IP MTU of 578 (576 is what every IPv4 host must accept; DHCP messages fit), so
/// smoltcp announces a TCP MSS of 538. Saves 1.8 KiB of RAM; larger frames are dropped.
#[cfg(target_arch = "arm")] // the mps2 boards (the others' NICs have buffers of their own)
const NIC_BUF: usize = 596;

/// A fixed address (10.0.2.15), no DHCP client.
const DHCP: bool = false;

include!("../net_main.rs");
