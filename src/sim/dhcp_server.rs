//! A small DHCPv4 server, so simulated hosts can get their address the way a device on a real
//! LAN does ([`DhcpClient`](crate::dhcp::DhcpClient)).
//!
//! smoltcp has a DHCP client but no server, and a test of the client needs one that is as
//! deterministic as the rest of the simulator. [`DhcpServer`] is a [`Service`] over one UDP
//! socket bound to port 67 of an ordinary simulated host (one with a static address): it parses
//! and emits with [`smoltcp::wire::DhcpRepr`], keeps its leases in a fixed table of `N`
//! addresses, and allocates nothing.
//!
//! ## The exchange (RFC 2131), as this server plays it
//!
//! ```text
//!  client (no address)                                server (port 67, pool of N addresses)
//!     │ DISCOVER   0.0.0.0:68 → 255.255.255.255:67  ──▶  pick the client's old address, else a
//!     │                                                   free one; hold it for OFFER_HOLD
//!     │ ◀──  OFFER  yiaddr, lease, mask, router, DNS (broadcast: the client has no address yet)
//!     │ REQUEST  requested-ip + server-id (broadcast) ──▶ ours and still held for this MAC?
//!     │ ◀──  ACK (bound for `lease`)   or   NAK (wrong address: start again)
//!     ·   ... T1 = lease/2 ...
//!     │ REQUEST  ciaddr, unicast to the server (renew) ──▶ this MAC's address? ACK, else NAK
//!     ·   ... T2 = 7/8 lease, server silent ...
//!     │ REQUEST  ciaddr, broadcast (rebind)           ──▶ same
//!     ·   ... lease ends: the client drops the address and DISCOVERs again
//! ```
//!
//! Replies go to the client's `ciaddr` when it has one and the server already knows its MAC
//! (it does after a renewal's ARP); otherwise they are broadcast, so no reply ever waits behind
//! ARP (see [`crate::udp`]). A binding remembers the client's MAC after its lease ends, until
//! another client needs the address: a client that comes back (after the server was away, say)
//! gets the address it had.
//!
//! ## What it does not do
//!
//! No relay agents (`giaddr`), no `INFORM`, `DECLINE` only counted, no static reservations, no
//! persistence, and no defence against a host that DISCOVERs with made-up MACs until the pool is
//! empty (DHCP has none either). Input is never trusted: a datagram that is not a well-formed `BOOTREQUEST`
//! from an Ethernet client is counted in [`DhcpServerStats::malformed`] and dropped with a
//! rate-limited log line; nothing a client sends can make the server panic.
//!
//! ## Use
//!
//! ```
//! use smolsock::dhcp::DhcpClient;
//! use smolsock::event_loop::Work;
//! use smolsock::service::Service;
//! use smolsock::sim::dhcp_server::{DhcpServer, DhcpServerConfig};
//! use smolsock::sim::{mac, Cable, Network};
//! use smolsock::smoltcp::iface::SocketStorage;
//! use smolsock::smoltcp::time::Duration;
//! use smolsock::smoltcp::wire::Ipv4Address;
//! use smolsock::storage::UdpStorage;
//! use smolsock::StackConfig;
//!
//! let cables: [Cable; 2] = Default::default();
//! let mut net = Network::new(&cables, 7);
//! let (mut s0, mut s1) = ([SocketStorage::EMPTY; 2], [SocketStorage::EMPTY; 2]);
//! // Host 0 has its static address (10.0.0.1/16) and serves 10.0.100.1 ..= 10.0.100.4.
//! let server_host = net.host(0, &mut s0).unwrap();
//! // Host 1 starts without an address.
//! let seed = net.host_config(1).random_seed;
//! let client_host = net.host_with(1, StackConfig::unaddressed(mac(1)).with_seed(seed), &mut s1);
//! let mut hosts = [server_host, client_host.unwrap()];
//!
//! let mut storage = UdpStorage::<4, 2048>::new();
//! let config = DhcpServerConfig::new(Ipv4Address::new(10, 0, 100, 1), 16)
//!     .with_lease(Duration::from_secs(600));
//! let mut server = DhcpServer::<4>::new(&mut hosts[0].stack, &mut storage, config).unwrap();
//! let mut client = DhcpClient::new(&mut hosts[1].stack).unwrap();
//!
//! net.run(&mut hosts, Duration::from_secs(60), |hosts| {
//!     let progress = server.poll(&mut hosts[0].stack) | client.poll(&mut hosts[1].stack);
//!     Work::done_if(client.lease().is_some(), progress)
//! })
//! .unwrap();
//! let lease = client.lease().unwrap();
//! assert_eq!(lease.address.address(), Ipv4Address::new(10, 0, 100, 1));
//! assert_eq!(lease.gateway, Some(Ipv4Address::new(10, 0, 0, 1)));
//! assert_eq!(server.address_of(mac(1)), Some(Ipv4Address::new(10, 0, 100, 1)));
//! ```

use smoltcp::iface::SocketHandle;
use smoltcp::socket::udp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    DhcpMessageType, DhcpOpCode, DhcpPacket, DhcpRepr, EthernetAddress, IpAddress, IpEndpoint,
    Ipv4Address, Ipv4Cidr, DHCP_CLIENT_PORT, DHCP_SERVER_PORT,
};

use crate::limited;
use crate::log_limit::LogLimit;
use crate::service::Service;
use crate::storage::UdpStorage;
use crate::udp::OpenError;
use crate::Stack;

/// How long an offered address stays reserved for the client it was offered to. smoltcp's
/// client REQUESTs for at most 50 s after an OFFER before it DISCOVERs again.
pub const OFFER_HOLD: Duration = Duration::from_secs(60);

/// The largest reply this server emits (no options beyond the fixed few): 240 bytes of header
/// and magic cookie, and the options.
const REPLY_MAX: usize = 300;

/// What a [`DhcpServer`] hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DhcpServerConfig {
    /// The first address of the pool; the pool is `N` consecutive addresses from here.
    pub pool_start: Ipv4Address,
    /// The prefix length of the subnet, sent as the subnet mask.
    pub prefix_len: u8,
    /// The router option; `None`: the server's own address.
    pub router: Option<Ipv4Address>,
    /// The DNS server option; `None`: the server's own address.
    pub dns: Option<Ipv4Address>,
    /// How long a lease lasts (the client renews at half of it).
    pub lease: Duration,
}

impl DhcpServerConfig {
    /// A pool starting at `pool_start` in a subnet of `prefix_len` bits; leases of 10 minutes,
    /// the server itself as router and DNS server.
    pub const fn new(pool_start: Ipv4Address, prefix_len: u8) -> Self {
        DhcpServerConfig {
            pool_start,
            prefix_len,
            router: None,
            dns: None,
            lease: Duration::from_secs(600),
        }
    }

    /// The same, with leases of `lease` (whole seconds are sent; at least one).
    pub const fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The same, naming `router` as the default gateway.
    pub const fn with_router(mut self, router: Ipv4Address) -> Self {
        self.router = Some(router);
        self
    }

    /// The same, naming `dns` as the DNS server.
    pub const fn with_dns(mut self, dns: Ipv4Address) -> Self {
        self.dns = Some(dns);
        self
    }
}

/// Counters of a [`DhcpServer`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DhcpServerStats {
    /// OFFERs sent.
    pub offers: u64,
    /// ACKs sent (first leases and renewals).
    pub acks: u64,
    /// NAKs sent.
    pub naks: u64,
    /// DISCOVERs left unanswered because every address was taken.
    pub exhausted: u64,
    /// Datagrams on port 67 that were not a well-formed DHCP request (dropped).
    pub malformed: u64,
    /// Well-formed messages this server does not act on (REQUESTs for another server, INFORM,
    /// DECLINE, replies sent to port 67, ...).
    pub ignored: u64,
    /// Replies that could not be queued (send buffer full); the client retries.
    pub unsent: u64,
}

/// Whether a pool address is on offer or leased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Offered,
    Bound,
}

/// One address of the pool and who has (or last had) it.
#[derive(Debug, Clone, Copy)]
struct Binding {
    mac: EthernetAddress,
    state: State,
    /// When the offer or the lease ends; after that the address is free for another client,
    /// but still goes back to this one if nobody else took it.
    until: Instant,
}

/// The parts of a request that decide the reply (copied out, so the socket can be written).
#[derive(Debug, Clone, Copy)]
struct Request {
    kind: DhcpMessageType,
    xid: u32,
    mac: EthernetAddress,
    ciaddr: Ipv4Address,
    requested: Option<Ipv4Address>,
    server_id: Option<Ipv4Address>,
    broadcast: bool,
}

/// What to send back.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Offer(Ipv4Address),
    Ack(Ipv4Address),
    Nak,
}

/// A DHCPv4 server for `N` addresses on one stack (see the [module docs](self)).
#[derive(Debug)]
pub struct DhcpServer<const N: usize> {
    handle: SocketHandle,
    config: DhcpServerConfig,
    bindings: [Option<Binding>; N],
    stats: DhcpServerStats,
    log: LogLimit,
}

impl<const N: usize> DhcpServer<N> {
    /// Bind a UDP socket on port 67 of `stack` using `storage` and serve `config`'s pool.
    /// The stack must have a static IPv4 address (it is the server identifier).
    pub fn new<'a, const DGRAMS: usize, const BYTES: usize>(
        stack: &mut Stack<'a>,
        storage: &'a mut UdpStorage<DGRAMS, BYTES>,
        config: DhcpServerConfig,
    ) -> Result<Self, OpenError> {
        Ok(DhcpServer {
            handle: stack.bind_udp(storage, DHCP_SERVER_PORT)?,
            config,
            bindings: [None; N],
            stats: DhcpServerStats::default(),
            log: LogLimit::new(),
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> DhcpServerStats {
        self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &DhcpServerConfig {
        &self.config
    }

    /// The address bound (ACKed) to `mac`, if any, lease expired or not.
    pub fn address_of(&self, mac: EthernetAddress) -> Option<Ipv4Address> {
        self.bindings.iter().enumerate().find_map(|(i, b)| match b {
            Some(b) if b.mac == mac && b.state == State::Bound => Some(self.address(i)),
            _ => None,
        })
    }

    /// How many leases are in force at `now`.
    pub fn leases_at(&self, now: Instant) -> usize {
        self.bindings
            .iter()
            .flatten()
            .filter(|b| b.state == State::Bound && b.until > now)
            .count()
    }

    /// The `i`th address of the pool.
    fn address(&self, i: usize) -> Ipv4Address {
        Ipv4Address::from_bits(self.config.pool_start.to_bits().wrapping_add(i as u32))
    }

    /// The slot that `mac` has (or last had).
    fn slot_of(&self, mac: EthernetAddress) -> Option<usize> {
        self.bindings
            .iter()
            .position(|b| b.is_some_and(|b| b.mac == mac))
    }

    /// The slot to offer `mac`: its own, else one never used, else the one free the longest.
    fn pick(&self, mac: EthernetAddress, now: Instant) -> Option<usize> {
        if let Some(i) = self.slot_of(mac) {
            return Some(i);
        }
        if let Some(i) = self.bindings.iter().position(Option::is_none) {
            return Some(i);
        }
        self.bindings
            .iter()
            .enumerate()
            .filter_map(|(i, b)| b.filter(|b| b.until <= now).map(|b| (b.until, i)))
            .min()
            .map(|(_, i)| i)
    }

    /// Decide the reply to `req` at `now`, updating the bindings.
    fn decide(&mut self, req: &Request, us: Ipv4Address, now: Instant) -> Option<Reply> {
        match req.kind {
            DhcpMessageType::Discover => {
                let Some(i) = self.pick(req.mac, now) else {
                    self.stats.exhausted += 1;
                    limited!(
                        self.log,
                        now,
                        warn,
                        "dhcp server: pool full; {} gets no address",
                        req.mac
                    );
                    return None;
                };
                let slot = &mut self.bindings[i];
                // A client that still holds its lease keeps it as it is; anything else is held
                // for this client while it REQUESTs.
                let holds = slot
                    .is_some_and(|b| b.mac == req.mac && b.state == State::Bound && b.until > now);
                if !holds {
                    *slot = Some(Binding {
                        mac: req.mac,
                        state: State::Offered,
                        until: now + OFFER_HOLD,
                    });
                }
                Some(Reply::Offer(self.address(i)))
            }
            DhcpMessageType::Request => {
                if req.server_id.is_some_and(|id| id != us) {
                    // The client chose another server's offer: let ours go.
                    if let Some(i) = self.slot_of(req.mac) {
                        if self.bindings[i].is_some_and(|b| b.state == State::Offered) {
                            self.bindings[i] = None;
                        }
                    }
                    self.stats.ignored += 1;
                    return None;
                }
                // SELECTING and INIT-REBOOT name the address in an option; RENEWING and
                // REBINDING in `ciaddr`.
                let wanted = req.requested.unwrap_or(req.ciaddr);
                let mine = self.slot_of(req.mac).filter(|&i| self.address(i) == wanted);
                match mine {
                    Some(i) => {
                        self.bindings[i] = Some(Binding {
                            mac: req.mac,
                            state: State::Bound,
                            until: now + self.config.lease,
                        });
                        Some(Reply::Ack(wanted))
                    }
                    None => Some(Reply::Nak),
                }
            }
            DhcpMessageType::Release => {
                if let Some(i) = self
                    .slot_of(req.mac)
                    .filter(|&i| self.address(i) == req.ciaddr)
                {
                    if let Some(b) = &mut self.bindings[i] {
                        b.until = now;
                    }
                }
                None
            }
            _ => {
                self.stats.ignored += 1;
                None
            }
        }
    }

    /// Parse one datagram into a [`Request`]; `None` (counted, logged) if it is not one.
    fn parse(&mut self, data: &[u8], from: IpEndpoint, now: Instant) -> Option<Request> {
        let parsed = DhcpPacket::new_checked(data).ok().and_then(|packet| {
            if packet.opcode() != DhcpOpCode::Request {
                return None;
            }
            DhcpRepr::parse(&packet).ok().map(|repr| Request {
                kind: repr.message_type,
                xid: repr.transaction_id,
                mac: repr.client_hardware_address,
                ciaddr: repr.client_ip,
                requested: repr.requested_ip,
                server_id: repr.server_identifier,
                broadcast: repr.broadcast,
            })
        });
        match parsed {
            Some(req) if req.mac.is_unicast() => Some(req),
            _ => {
                self.stats.malformed += 1;
                limited!(
                    self.log,
                    now,
                    warn,
                    "dhcp server: {} bytes from {from}: not a DHCP request; dropped",
                    data.len()
                );
                None
            }
        }
    }

    /// Emit `reply` to `req` from `us` (`subnet` is ours too).
    fn send(
        &mut self,
        socket: &mut udp::Socket<'_>,
        req: &Request,
        reply: Reply,
        us: Ipv4Cidr,
        unicast_ok: bool,
    ) {
        let (kind, yiaddr) = match reply {
            Reply::Offer(a) => (DhcpMessageType::Offer, a),
            Reply::Ack(a) => (DhcpMessageType::Ack, a),
            Reply::Nak => (DhcpMessageType::Nak, Ipv4Address::UNSPECIFIED),
        };
        let nak = matches!(reply, Reply::Nak);
        let lease_secs = u32::try_from(self.config.lease.secs())
            .unwrap_or(u32::MAX)
            .max(1);
        let mut repr = DhcpRepr {
            message_type: kind,
            transaction_id: req.xid,
            secs: 0,
            client_hardware_address: req.mac,
            client_ip: if nak {
                Ipv4Address::UNSPECIFIED
            } else {
                req.ciaddr
            },
            your_ip: yiaddr,
            server_ip: Ipv4Address::UNSPECIFIED,
            router: None,
            subnet_mask: None,
            relay_agent_ip: Ipv4Address::UNSPECIFIED,
            broadcast: req.broadcast,
            requested_ip: None,
            client_identifier: None,
            server_identifier: Some(us.address()),
            parameter_request_list: None,
            dns_servers: None,
            max_size: None,
            lease_duration: None,
            renew_duration: None,
            rebind_duration: None,
            additional_options: &[],
        };
        if !nak {
            let mask =
                Ipv4Cidr::new(Ipv4Address::UNSPECIFIED, self.config.prefix_len.min(32)).netmask();
            repr.subnet_mask = Some(mask);
            repr.router = Some(self.config.router.unwrap_or(us.address()));
            repr.lease_duration = Some(lease_secs);
            let dns = self.config.dns.unwrap_or(us.address());
            repr.dns_servers = Some(Default::default());
            if let Some(list) = &mut repr.dns_servers {
                list.push(dns).ok();
            }
        }
        // RFC 2131 §4.1: to `ciaddr` if the client has one (and we can reach it without ARP),
        // else broadcast; a NAK is always broadcast.
        let to = if !nak && !req.ciaddr.is_unspecified() && unicast_ok {
            req.ciaddr
        } else {
            Ipv4Address::BROADCAST
        };
        let len = repr.buffer_len();
        let endpoint = IpEndpoint::new(IpAddress::Ipv4(to), DHCP_CLIENT_PORT);
        let sent = len <= REPLY_MAX
            && match socket.send(len, endpoint) {
                Ok(buf) => {
                    buf.fill(0);
                    repr.emit(&mut DhcpPacket::new_unchecked(buf)).is_ok()
                }
                Err(_) => false,
            };
        if sent {
            match reply {
                Reply::Offer(_) => self.stats.offers += 1,
                Reply::Ack(_) => self.stats.acks += 1,
                Reply::Nak => self.stats.naks += 1,
            }
            log::debug!("dhcp server: {kind:?} {yiaddr} to {} ({to})", req.mac);
        } else {
            self.stats.unsent += 1;
        }
    }
}

impl<const N: usize> Service for DhcpServer<N> {
    fn poll(&mut self, stack: &mut Stack<'_>) -> bool {
        let now = stack.now();
        let mut progress = false;
        loop {
            let socket = stack.udp(self.handle);
            if !socket.can_send() {
                break; // leave the rest queued until a reply fits
            }
            let (data, meta) = match socket.recv() {
                Ok(datagram) => datagram,
                Err(_) => break,
            };
            progress = true;
            let from = meta.endpoint;
            // Copy out what decides the reply, ending the borrow of the socket's buffer.
            let Some(req) = self.parse(data, from, now) else {
                continue;
            };
            let Some(us) = stack.ipv4_cidr() else {
                limited!(
                    self.log,
                    now,
                    warn,
                    "dhcp server: no address of our own; not answering"
                );
                continue;
            };
            let Some(reply) = self.decide(&req, us.address(), now) else {
                continue;
            };
            let unicast_ok = stack.neighbor_ready(IpAddress::Ipv4(req.ciaddr));
            self.send(stack.udp(self.handle), &req, reply, us, unicast_ok);
        }
        progress
    }
}
