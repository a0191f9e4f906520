//! Linux TAP: the same services, serving the Linux kernel's own sockets over Ethernet.
//!
//! ```text
//!   Python / nc / std::net ──▶ kernel TCP/IP ──▶ tap0 (192.168.69.100) ═══ fd ═══▶ TapDevice
//!                                                                                  │
//!                         FaultInjector (optional) ◀── PcapWriter (optional) ◀─────┘
//!                                  │
//!                                Stack (192.168.69.1) ──▶ the library's services
//! ```
//!
//! Only host glue lives here; nothing about echo, framing, backlog or UDP is written again:
//!
//! | item | one job |
//! |---|---|
//! | [`TapDevice`] (`device.rs`) | a TAP file descriptor as a smoltcp device that never panics on I/O errors; the kernel's offloads |
//! | `batch.rs` | the way out: consecutive TCP segments glued into one for the kernel (GSO) |
//! | `checksum.rs` | who computes and who checks checksums: TCP's left to the kernel, segments it has not vouched for checked here |
//! | [`TapMonitor`] (`monitor.rs`) | its counters, and why it stopped, shared with the loop |
//! | `refusals.rs` | counts (and logs, rate-limited) the connections refused, from the frames sent |
//! | [`TapError`] (`error.rs`) | what went wrong, with the commands that fix it (missing interface, permission, busy) |
//! | [`PcapFile`] | the crate's capture file ([`crate::pcap`]), here with wall-clock time stamps ([`PcapFile::live`]) |
//! | [`HostLoop`] | the [event-loop contract](crate::event_loop) on the host: poll, work, poll again while busy, else `phy::wait` on the fd |
//! | [`TapServer`] | the lesson's services (TCP 8000, framed 9000, UDP 8848, UDP 8888, chat 8080) assembled over a TAP device |
//!
//! The addresses of the lesson (192.168.69.1 for smolsock, 192.168.69.100 for the kernel) belong
//! inside a network namespace made for them (`scripts/tap-netns.sh`), never in the root namespace.
//!
//! Available with the `tap` feature, on Linux.

mod batch;
mod checksum;
mod device;
mod error;
mod host;
mod monitor;
mod refusals;
mod server;

/// The crate's one capture file, re-exported for the TAP server's users.
pub use crate::pcap::PcapFile;
pub use device::TapDevice;
pub use error::TapError;
pub use host::{HostLoop, Stopped};
pub use monitor::{TapMonitor, TapStats};
#[cfg(feature = "ipv6")]
pub use server::DEFAULT_IPV6;
pub use server::{
    ChatOperator, ServerConfig, ServerReport, TapServer, ACK_DELAY_DEFAULT, MAX_FRAME, MAX_POOL,
    TCP_BUFFERS,
};
