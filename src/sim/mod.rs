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
//! | `dhcp_server` | (feature `dhcp`) a DHCPv4 server for simulated hosts, to test `dhcp::DhcpClient` against |
//! | `seeds` | (`std`) many seeds, and the replay command for the one that failed |
//!
//! Everything but `seeds` and the pcap *files* is `no_std` and allocation-free: cables, hosts
//! and socket storage are the caller's memory, sized by const generics.
//!
//! Feature `sim` (on by default) compiles the simulator; without it (the microcontroller
//! build, `--no-default-features`) only [`Prng`] and [`Rate`] remain. A firmware never links
//! the simulator either way (its flash and RAM are the same), but without it
//! `cargo build --release --lib --no-default-features --target thumbv7em-none-eabihf` builds the
//! library in 0.65 s instead of 0.85 s (`--features sim`) and its `.rlib` is 1.2 MB, not 1.8 MB.
//!
//! ## Your own service, on simulated hosts with faults, in your own test
//!
//! Anything that implements [`Service`](crate::service::Service) runs on a simulated host as it
//! runs on a TAP device or a microcontroller. Here a service of the user's own (an upper-case
//! echo on port 7000 built from the library's [`ListenerPool`](crate::tcp::ListenerPool) and
//! [`pump`](crate::service::pump), counting what it served) serves three client hosts over
//! links that lose, duplicate, reorder and corrupt frames; the library's
//! [`EchoClient`](crate::service::EchoClient)s check every byte, and [`Retry`] connects again
//! when the pool is full:
//!
//! ```
//! use smolsock::event_loop::Work;
//! use smolsock::service::{pump, upper_case, EchoClient, Service, Verdict};
//! use smolsock::sim::{ip, Cable, FaultModel, Network, Retry};
//! use smolsock::smoltcp::iface::SocketStorage;
//! use smolsock::smoltcp::time::Duration;
//! use smolsock::smoltcp::wire::IpEndpoint;
//! use smolsock::storage::TcpStorage;
//! use smolsock::tcp::{EphemeralPorts, ListenerPool, PoolConfig};
//! use smolsock::Stack;
//!
//! /// The service under test: yours.
//! struct Shout<const N: usize> {
//!     pool: ListenerPool<N>,
//!     bytes: u64,
//! }
//!
//! impl<const N: usize> Service for Shout<N> {
//!     fn poll(&mut self, stack: &mut Stack<'_>) -> bool {
//!         let mut progress = self.pool.maintain(stack, |_| {}).unwrap_or(false);
//!         let mut chunk = [0u8; 512];
//!         for (_, handle, conn) in self.pool.connections() {
//!             progress |= pump(stack.tcp(handle), conn, &mut chunk, upper_case);
//!             self.bytes = self.bytes.max(conn.rx_bytes);
//!         }
//!         progress
//!     }
//! }
//!
//! // Four hosts on one switch, every link hostile; the seed decides every fault.
//! let cables: [Cable; 4] = Default::default();
//! let mut net = Network::new(&cables, 42);
//! net.set_all_faults(&FaultModel::hostile());
//! let mut s = [const { [SocketStorage::EMPTY; 2] }; 4];
//! let [s0, s1, s2, s3] = &mut s;
//! let mut hosts = [net.host(0, s0), net.host(1, s1), net.host(2, s2), net.host(3, s3)]
//!     .map(Option::unwrap);
//!
//! // Host 0 serves, with two sockets: the third client may be refused, and retries.
//! let mut pool = [TcpStorage::<2048, 2048>::new(), TcpStorage::new()];
//! let mut shout = Shout::<2> {
//!     pool: ListenerPool::new(&mut hosts[0].stack, &mut pool, PoolConfig::new(7000, 2)).unwrap(),
//!     bytes: 0,
//! };
//!
//! // Hosts 1 to 3 each send 10 000 bytes and check the reply.
//! let payload = [b'a'; 10_000];
//! let mut buffers = [const { TcpStorage::<2048, 2048>::new() }; 3];
//! let mut handles = Vec::new();
//! for (host, buffers) in hosts[1..].iter_mut().zip(&mut buffers) {
//!     handles.push(host.stack.add_tcp(buffers).unwrap());
//! }
//! let mut clients = [(); 3].map(|_| Retry::new(Duration::from_secs(1)));
//! let (server, mut ports) = (IpEndpoint::new(ip(0).into(), 7000), EphemeralPorts::new(42));
//!
//! net.run(&mut hosts, Duration::from_secs(600), |hosts| {
//!     let (server_host, client_hosts) = hosts.split_at_mut(1);
//!     let mut progress = shout.poll(&mut server_host[0].stack);
//!     for ((host, client), &handle) in client_hosts.iter_mut().zip(&mut clients).zip(&handles) {
//!         progress |= client
//!             .poll(host, |stack| {
//!                 let c = EchoClient::connect(stack, handle, server, &mut ports, &payload)?;
//!                 Ok(c.with_window(2048)) // at most the server's send buffer in flight
//!             })
//!             .unwrap();
//!     }
//!     Work::done_if(clients.iter().all(|c| c.outcome().is_some()), progress)
//! })
//! .expect("done within 600 virtual seconds");
//!
//! assert!(clients.iter().all(|c| c.outcome() == Some(Ok(Verdict::Verified))));
//! assert_eq!(shout.bytes, 10_000);
//! assert!(net.totals().lost > 0, "the links did lose frames");
//! println!("{}", net.link_table());
//! ```
//!
//! With `std`, [`seeds::for_each_seed`] runs such a scenario for many seeds and, on a failure,
//! prints the seed and the command that replays it; [`PcapFiles`] captures every port for
//! Wireshark. `tests/sim.rs` holds many more scenarios to copy from.
// Feature `sim`: everything but the generator, which tests and benches use for their data.
#[cfg(all(feature = "sim", feature = "dhcp"))]
pub mod dhcp_server;
#[cfg(feature = "sim")]
pub mod fault;
#[cfg(feature = "sim")]
pub mod host;
#[cfg(feature = "sim")]
pub mod link;
#[cfg(feature = "sim")]
pub mod network;
#[cfg(feature = "sim")]
pub mod pcap;
pub mod prng;
#[cfg(feature = "sim")]
pub mod report;
#[cfg(feature = "sim")]
pub mod retry;
#[cfg(all(feature = "sim", feature = "std"))]
pub mod seeds;
#[cfg(feature = "sim")]
pub mod trace;

#[cfg(feature = "sim")]
pub use fault::{FaultModel, Outage};
#[cfg(feature = "sim")]
pub use host::{Host, SocketSummary};
#[cfg(feature = "sim")]
pub use link::{Link, LinkCounters};
#[cfg(all(feature = "sim", feature = "ipv6"))]
pub use network::ip6;
#[cfg(feature = "sim")]
pub use network::{ip, mac, Cable, Network};
#[cfg(feature = "sim")]
pub use pcap::Pcap;
#[cfg(all(feature = "sim", feature = "std"))]
pub use pcap::PcapFiles;
pub use prng::{Prng, Rate};
#[cfg(feature = "sim")]
pub use report::{HostTable, LinkTable};
#[cfg(feature = "sim")]
pub use retry::{Outcome, Retry};
#[cfg(feature = "sim")]
pub use trace::{DropReason, FrameEvent, Observer, Trace};
