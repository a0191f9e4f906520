//! A deterministic network simulator: many hosts, bad links, virtual time.
//!
//! Embedded network code is usually tested on the bench against one good Ethernet link, and
//! meets loss, duplication and reordering only in the field. This module puts the same stacks
//! and services on a simulated Ethernet segment whose links misbehave on purpose, in virtual
//! time, reproducibly:
//!
//! ```text
//!            seed ──▶ Prng per link ──▶ FaultModel: loss, duplication, reordering,
//!                                        corruption, delay + jitter, bandwidth, size, outages
//!  ┌────────┐ WireEnd ┌───────┐                                        ┌───────┐ WireEnd ┌────────┐
//!  │ Host 0 │═════════│ Link 0│══▶ in flight (deliver at t) ══▶ switch ══▶ NIC  │═════════│ Host 1 │
//!  │ Stack  │◀════════│  NIC  │◀══ switch ◀══ in flight ◀══════════════│ Link 1│◀════════│ Stack  │
//!  └────────┘         └───────┘                                        └───────┘         └────────┘
//!                 every frame sent/delivered/dropped ──▶ Trace digest, Observer (pcap)
//! ```
//!
//! | file | one concept |
//! |---|---|
//! | [`prng`] | the seeded generator every random decision comes from, and [`Rate`] |
//! | [`fault`] | what a link does to frames ([`FaultModel`], [`Outage`]) |
//! | [`link`] | frames in flight with their delivery times, and the counters |
//! | [`network`] | cables, the switch, the virtual clock, and the run loop |
//! | [`host`] | a stack on its port, and a `netstat`-like [`SocketSummary`] |
//! | [`trace`] | the digest that proves two runs identical, and [`Observer`] |
//! | [`report`] | printable tables of links and hosts |
//! | [`retry`] | a client connected again after a pause when the server refuses it ([`Retry`]) |
//! | [`pcap`] | captures per port for Wireshark ([`PcapFiles`] with `std`) |
//! | `seeds` | (`std`) many seeds, and the replay command for the one that failed |
//!
//! Everything but `seeds` and the pcap *files* is `no_std` and allocation-free: cables, hosts
//! and socket storage are the caller's memory, sized by const generics.
//!
//! ## A two-host run
//!
//! ```
//! use smolsock::event_loop::Work;
//! use smolsock::service::{ports, EchoClient, Service, UpperEcho};
//! use smolsock::sim::{ip, Cable, FaultModel, Network};
//! use smolsock::smoltcp::iface::SocketStorage;
//! use smolsock::smoltcp::time::Duration;
//! use smolsock::smoltcp::wire::IpEndpoint;
//! use smolsock::storage::TcpStorage;
//! use smolsock::tcp::{EphemeralPorts, PoolConfig};
//!
//! let cables: [Cable; 2] = [Cable::new(), Cable::new()];
//! let mut net = Network::new(&cables, 7);
//! net.set_all_faults(&FaultModel::hostile());
//! let (mut s0, mut s1) = ([SocketStorage::EMPTY; 4], [SocketStorage::EMPTY; 4]);
//! let mut hosts = [net.host(0, &mut s0).unwrap(), net.host(1, &mut s1).unwrap()];
//!
//! let mut pool = [TcpStorage::<4096, 4096>::new(), TcpStorage::new()];
//! let mut server =
//!     UpperEcho::<2>::new(&mut hosts[0].stack, &mut pool, PoolConfig::new(ports::TCP_ECHO, 2))
//!         .unwrap();
//! let mut buffers = TcpStorage::<4096, 4096>::new();
//! let handle = hosts[1].stack.add_tcp(&mut buffers).unwrap();
//! let payload = [b'x'; 20_000];
//! let to = IpEndpoint::new(ip(0).into(), ports::TCP_ECHO);
//! let mut client =
//!     EchoClient::connect(&mut hosts[1].stack, handle, to, &mut EphemeralPorts::new(7), &payload)
//!         .unwrap()
//!         .with_window(4096); // at most the server's send buffer in flight
//!
//! net.run(&mut hosts, Duration::from_secs(300), |hosts| {
//!     let progress = server.poll(&mut hosts[0].stack) | client.poll(&mut hosts[1].stack);
//!     if client.outcome().is_some() { Work::Done } else { progress.into() }
//! })
//! .unwrap();
//! assert_eq!(client.outcome(), Some(Ok(())));
//! assert!(net.totals().lost > 0);
//! ```

pub mod fault;
pub mod host;
pub mod link;
pub mod network;
pub mod pcap;
pub mod prng;
pub mod report;
pub mod retry;
#[cfg(feature = "std")]
pub mod seeds;
pub mod trace;

pub use fault::{FaultModel, Outage};
pub use host::{Host, SocketSummary};
pub use link::{Link, LinkCounters};
pub use network::{ip, mac, Cable, Network};
pub use pcap::Pcap;
#[cfg(feature = "std")]
pub use pcap::PcapFiles;
pub use prng::{Prng, Rate};
pub use report::{HostTable, LinkTable};
pub use retry::{Outcome, Retry};
pub use trace::{DropReason, FrameEvent, Observer, Trace};
