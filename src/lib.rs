//! # smolsock
//!
//! The classic BSD-socket lesson — TCP server and client, backlog, port reuse, UDP echo, and
//! message boundaries — done on [smoltcp], `#![no_std]`, with every byte of memory fixed at
//! compile time or handed in by the caller. No allocator anywhere in the library.
//!
//! ## The map
//!
//! ```text
//!  device ─────▶ stack ─────────▶ sockets ──────────────▶ services
//!  device::      Stack            tcp::ListenerPool       service::UpperEcho   TCP 8000
//!   Loopback      (Interface +     (backlog, timeouts,    service::FramedEcho  TCP 9000
//!   Wire          SocketSet over    eviction)             service::ChatServer  TCP 8080
//!   (TAP, LAN9118  caller storage) tcp::TcpClient         service::UdpEcho     UDP 8848
//!    elsewhere)   guard: every    tcp::EphemeralPorts     service::UdpSink     UDP 8888
//!                 frame seen      udp::UdpClient                │
//!                 first           udp::ResolveLane          frame: 4-byte length frames
//!        ▲                 ▲
//!      clock            event_loop: poll, run services,
//!                       poll again while busy, then wait
//! ```
//!
//! | module | one job |
//! |---|---|
//! | [`device`] | where frames come from: allocation-free loopback and wire |
//! | `dhcp` | a DHCPv4 client that configures the stack (feature `dhcp`) |
//! | [`clock`] | where `now` comes from: host clock, tick counter, virtual clock |
//! | [`stack`] | a smoltcp interface and socket set over caller storage; answers `ping` and `ping -6`, sends them with an ICMP socket (feature `icmp`) |
//! | [`guard`] | the ingress guard: every frame seen before smoltcp (late SYN, SYN flood, blind RST, ARP and neighbour-discovery mirror), IPv4 and IPv6 |
//! | [`log_limit`] | rate-limited logging, so a flood cannot fill the log |
//! | [`storage`] | socket buffers sized by const generics |
//! | [`event_loop`] | when to poll and how long to sleep |
//! | [`tcp`] | listener pool (backlog), client, ephemeral ports, TIME-WAIT |
//! | [`frame`] | message boundaries on TCP: 4-byte big-endian length frames, heapless decoder |
//! | [`udp`] | datagrams with boundaries and no silent truncation |
//! | [`service`] | the lesson's servers as small state machines |
//! | `lesson` | the lesson's programs, written once over the socket API (feature `nal`) |
//! | `nal` | the socket API: embedded-nal's traits over the stack (feature `nal`) |
//! | [`sim`] | a deterministic multi-host network with faults, in virtual time |
//! | [`digest`] | FNV-1a, to check every byte end to end |
//! | `pcap` | capture files for Wireshark, for the TAP server and the simulator (feature `std`) |
//! | [`error`] | how errors work: one small type per operation, beside it (e.g. [`tcp::ConnectError`], [`udp::OpenError`]); the checking clients' [`service::Verdict`] apart from errors; [`Error`], an umbrella for programs that `?` several |
//! | `tap` | Linux TAP device, host event loop, pcap file, the services assembled (feature `tap`) |
//!
//! The loopback demo, the Linux TAP server, the simulator and the firmware all run these same
//! services; they differ only in the [`smoltcp::phy::Device`] and the clock.
//!
//! ## Features
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `std` | yes | host conveniences: [`clock::StdClock`], the simulator's pcap files and seed helpers |
//! | `smoltcp-log` | yes | smoltcp's own trace logging through `log` |
//! | `tap` | yes | `tap`: Linux TAP device, host loop, pcap capture, the TAP server (Linux) |
//! | `medium-ip` | yes | IP-only interfaces: bare IP packets on the loopback, [`StackConfig::ip`] without a MAC (without it both use Ethernet framing, and smoltcp leaves out its IP-medium code) |
//! | `nal` | yes | `nal`: the embedded-nal 0.9 socket traits on the stack; `lesson`: the lesson's programs over them |
//! | `sim` | yes | [`sim`]: the network simulator (without it only `sim::Prng` and `sim::Rate`) |
//! | `dhcp` | yes | `dhcp`: a DHCPv4 client that configures the stack (smoltcp's `proto-dhcpv4`, `socket-dhcpv4`) |
//! | `ipv6` | yes | IPv6 beside IPv4 (smoltcp's `proto-ipv6`): a link-local address from the MAC, [`StackConfig::with_ipv6`]; every service on both |
//! | `slaac` | yes | IPv6 addresses from router advertisements, [`StackConfig::with_slaac`] (smoltcp's `proto-ipv6-slaac`) |
//! | `icmp` | yes | ICMP sockets, a ping client: `Stack::add_icmp` over `storage::IcmpStorage` (smoltcp's `socket-icmp`); answering pings needs no feature |
//! | `lan9118` | no | `device::lan9118`: polled driver for the LAN9118 NIC of QEMU's MPS2 boards |
//!
//! Build the core for a microcontroller with `--no-default-features`.
//!
//! [smoltcp]: https://docs.rs/smoltcp
#![no_std]
#![warn(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

pub mod clock;
pub mod device;
#[cfg(feature = "dhcp")]
pub mod dhcp;
pub mod digest;
pub mod error;
pub mod event_loop;
pub mod frame;
pub mod guard;
#[cfg(feature = "nal")]
pub mod lesson;
pub mod log_limit;
#[cfg(feature = "nal")]
pub mod nal;
#[cfg(feature = "std")]
pub mod pcap;
pub mod service;
pub mod sim;
pub mod stack;
pub mod storage;
#[cfg(all(feature = "tap", target_os = "linux"))]
pub mod tap;
pub mod tcp;
pub mod udp;

pub use error::Error;
pub use stack::{Stack, StackConfig};

/// smoltcp, re-exported so programs use the same version as the library.
pub use smoltcp;
