//! Network mode with the TAP server's limits, for boards with RAM to spare (the MPS2 boards and
//! the RISC-V virt machine have megabytes): the same program as `net`, so the checks
//! `tests/tap.rs` makes against the TAP server pass against the firmware too.
//!
//! | port | service |
//! |---|---|
//! | TCP 8000 | upper-case echo, a pool of [`ECHO_SOCKETS`] (the backlog) |
//! | TCP 9000 | framed upper-case echo, [`FRAMED_SOCKETS`], frames up to [`FRAME_MAX`] bytes |
//! | UDP 8848 | upper-case echo, datagrams up to [`UDP_MAX`] bytes, [`UDP_DGRAMS`] queued |
//! | UDP 8888 | sink |
#![no_std]
#![no_main]

#[cfg_attr(target_arch = "arm", path = "../board/mps2.rs")]
#[cfg_attr(target_arch = "riscv32", path = "../board/virt.rs")]
mod board;

/// TCP sockets of the upper-case echo (the TAP server's default pool).
const ECHO_SOCKETS: usize = 8;
/// TCP sockets of the framed echo.
const FRAMED_SOCKETS: usize = 8;
/// Receive and transmit buffer of each TCP socket.
const TCP_BUF: usize = 8192;
/// Largest frame payload of the framed echo: the TAP server's `MAX_FRAME`.
const FRAME_MAX: usize = 4096;
/// Largest UDP datagram: what fits one 1500-byte IP packet.
const UDP_MAX: usize = 1472;
/// Datagrams queued per UDP socket and direction: a burst of 32.
const UDP_DGRAMS: usize = 32;
/// Payload bytes queued per UDP socket and direction.
const UDP_BYTES: usize = 32 * 1024;
/// The sink's queue: a burst of 128 datagrams, 64 KiB (the TAP server's holds 256 KiB).
const SINK_DGRAMS: usize = 128;
const SINK_BYTES: usize = 64 * 1024;
/// Replies waiting for ARP at once (the UDP echo's resolve lane), as on the TAP server.
const LANE_DGRAMS: usize = 8;

/// The LAN9118's frame buffers (mps2 boards): full-size Ethernet frames.
#[cfg(target_arch = "arm")] // the mps2 boards (the others' NICs have buffers of their own)
const NIC_BUF: usize = smolsock::device::lan9118::BUF_LEN;

/// A fixed address (10.0.2.15), no DHCP client.
const DHCP: bool = false;

include!("../net_main.rs");
