//! The stack: one smoltcp [`Interface`] and its [`SocketSet`], over memory the caller owns.
//!
//! ```text
//!   device ──▶ Interface ──▶ SocketSet (caller's SocketStorage slots)
//!                                 ├── TCP socket (caller's TcpStorage buffers)
//!                                 ├── UDP socket (caller's UdpStorage buffers)
//!                                 └── ICMP socket (caller's IcmpStorage; feature `icmp`)
//! ```
//!
//! The stack does not own the device: the same `Stack` works over a loopback, a TAP device, a
//! simulated link or the LAN9118 on a Cortex-M board, and a loop can drive several stacks over
//! the two ends of one wire. It does not read a clock either: `poll(now, device)` moves the
//! interface to `now`, and [`Stack::poll_delay`] tells the caller how long it may sleep if
//! nothing else is pending (see [`crate::event_loop`] for the full contract).
//!
//! Adding a socket to a full `SocketSet` panics inside smoltcp; [`Stack::add_tcp`],
//! [`Stack::add_udp`] and the others check first and return [`SocketStorageFull`] instead.
//!
//! ## Ping
//!
//! The stack answers echo requests (`ping`, `ping -6`) without any socket: smoltcp's
//! `auto-icmp-echo-reply`. To send them, feature `icmp` adds an ICMP socket
//! (`Stack::add_icmp`, smoltcp's `socket-icmp`): bind it to an identifier
//! (`icmp::Endpoint::Ident`), send whole ICMP messages built with `Icmpv4Repr` /
//! `Icmpv6Repr` to an address, and receive the echo replies carrying that identifier. smoltcp
//! checks each reply's checksum before the socket sees it, so a corrupted reply never reaches
//! the application; duplicates and reordering are the caller's to notice (the simulator's
//! `ping_under_all_faults` test shows how).
//!
//! Every frame received passes the ingress guard ([`crate::guard`]) before smoltcp sees it, and
//! every frame sent is shown to it: the stack's defence against hostile peers lives there, so
//! the loopback, the TAP server, the simulator and the firmware all have it.
//!
//! ## Application timers
//!
//! smoltcp's `poll_delay` knows only socket timers. Services with deadlines of their own (a
//! listener pool's idle timeout, a UDP reply waiting for ARP) read [`Stack::now`], the instant of
//! the last poll, and register their next deadline with [`Stack::wake_at`] during their `poll`;
//! [`Stack::poll_delay`] and [`Stack::poll_at`] then include it, so every event loop wakes up in
//! time without knowing about the services.

use managed::ManagedSlice;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::Device;
use smoltcp::socket::{tcp, udp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv4Address};
#[cfg(feature = "ipv6")]
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

use crate::device::one_frame::OneFrame;
use crate::guard::egress::{SniffTx, Sniffing};
use crate::guard::{Guard, GuardStats, Verdict};
#[cfg(feature = "icmp")]
use crate::storage::IcmpStorage;
use crate::storage::{TcpStorage, UdpLaneStorage, UdpStorage};
use crate::udp::OpenError;

/// How an interface is addressed.
#[derive(Debug, Clone, Copy)]
pub struct StackConfig {
    /// MAC address, for Ethernet devices; `None` for IP-only devices (loopback, TUN), which
    /// without the `medium-ip` feature get [`StackConfig::LOOPBACK_MAC`] and Ethernet framing.
    pub mac: Option<EthernetAddress>,
    /// The interface's address and prefix (IPv4, or IPv6 with the `ipv6` feature).
    pub address: IpCidr,
    /// A further, static IPv6 address (feature `ipv6`), e.g. `fd00:69::1/64`. An Ethernet
    /// interface also gets a link-local address from its MAC (EUI-64) in any case.
    #[cfg(feature = "ipv6")]
    pub ipv6: Option<Ipv6Cidr>,
    /// Take IPv6 addresses from router advertisements (SLAAC, smoltcp's `proto-ipv6-slaac`):
    /// the interface solicits a router and forms an address from each advertised prefix and
    /// its MAC (feature `slaac`; Ethernet only; without the feature a warning, and no SLAAC).
    #[cfg(feature = "ipv6")]
    pub slaac: bool,
    /// Default gateway, if any.
    pub gateway: Option<Ipv4Address>,
    /// Seed for smoltcp's initial sequence numbers and similar; give each run its own on a real
    /// network (a hardware RNG, the boot time), any value in a deterministic simulation.
    pub random_seed: u64,
}

impl StackConfig {
    /// The MAC address of an interface made with [`StackConfig::ip`] when the `medium-ip`
    /// feature is off (a locally administered unicast address): the interface then uses
    /// Ethernet framing, as does [`Loopback::new`](crate::device::Loopback::new).
    pub const LOOPBACK_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x7f]);

    /// An IP-only interface at `address` (for the loopback). Without the `medium-ip` feature,
    /// an Ethernet interface with [`StackConfig::LOOPBACK_MAC`] instead.
    pub fn ip(address: IpCidr) -> Self {
        StackConfig {
            mac: None,
            address,
            gateway: None,
            random_seed: 0,
            #[cfg(feature = "ipv6")]
            ipv6: None,
            #[cfg(feature = "ipv6")]
            slaac: false,
        }
    }

    /// An Ethernet interface with `mac` at `address`.
    pub fn ethernet(mac: EthernetAddress, address: IpCidr) -> Self {
        StackConfig {
            mac: Some(mac),
            address,
            gateway: None,
            random_seed: 0,
            #[cfg(feature = "ipv6")]
            ipv6: None,
            #[cfg(feature = "ipv6")]
            slaac: false,
        }
    }

    /// An Ethernet interface with `mac` and no address yet: for a DHCP client
    /// ([`crate::dhcp::DhcpClient`]) to configure.
    pub fn unaddressed(mac: EthernetAddress) -> Self {
        StackConfig {
            mac: Some(mac),
            address: IpCidr::new(IpAddress::Ipv4(Ipv4Address::UNSPECIFIED), 0),
            gateway: None,
            random_seed: 0,
            #[cfg(feature = "ipv6")]
            ipv6: None,
            #[cfg(feature = "ipv6")]
            slaac: false,
        }
    }

    /// The same, with a default gateway.
    pub fn with_gateway(mut self, gateway: Ipv4Address) -> Self {
        self.gateway = Some(gateway);
        self
    }

    /// The same, with a static IPv6 address besides (feature `ipv6`).
    #[cfg(feature = "ipv6")]
    pub fn with_ipv6(mut self, address: Ipv6Cidr) -> Self {
        self.ipv6 = Some(address);
        self
    }

    /// The same, taking IPv6 addresses from router advertisements (SLAAC; feature `slaac`).
    #[cfg(feature = "ipv6")]
    pub fn with_slaac(mut self) -> Self {
        self.slaac = true;
        self
    }

    /// The IPv6 link-local address of an Ethernet interface with `mac`: `fe80::/64` and the
    /// modified EUI-64 interface identifier (RFC 4291 appendix A), as smoltcp forms SLAAC
    /// addresses.
    #[cfg(feature = "ipv6")]
    pub fn link_local(mac: EthernetAddress) -> Option<Ipv6Cidr> {
        let prefix = Ipv6Cidr::new(Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 64);
        Ipv6Cidr::from_link_prefix(&prefix, HardwareAddress::Ethernet(mac))
    }

    /// The same, with a random seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.random_seed = seed;
        self
    }
}

/// A smoltcp interface and its sockets, over caller-provided storage.
pub struct Stack<'a> {
    iface: Interface,
    sockets: SocketSet<'a>,
    capacity: usize,
    guard: Guard,
    /// The interface's MAC (`None`: IP-only medium).
    mac: Option<EthernetAddress>,
    gateway: Option<Ipv4Address>,
    now: Instant,
    wake: Option<Instant>,
}

impl<'a> Stack<'a> {
    /// Bring up an interface on `device` with `config`, with room for `storage.len()` sockets
    /// (an array of `SocketStorage::EMPTY`, static or on the stack).
    pub fn new<D: Device + ?Sized>(
        config: StackConfig,
        device: &mut D,
        storage: &'a mut [SocketStorage<'a>],
        now: Instant,
    ) -> Self {
        Self::with_storage(config, device, ManagedSlice::Borrowed(storage), now)
    }

    /// Like [`Stack::new`], over any `managed::ManagedSlice` of socket slots (e.g. an owned
    /// `Vec` where `alloc` is available).
    pub fn with_storage<D: Device + ?Sized>(
        config: StackConfig,
        device: &mut D,
        storage: ManagedSlice<'a, SocketStorage<'a>>,
        now: Instant,
    ) -> Self {
        let hardware_addr = match config.mac {
            Some(mac) => HardwareAddress::Ethernet(mac),
            #[cfg(feature = "medium-ip")]
            None => HardwareAddress::Ip,
            #[cfg(not(feature = "medium-ip"))]
            None => HardwareAddress::Ethernet(StackConfig::LOOPBACK_MAC),
        };
        let mut iface_config = Config::new(hardware_addr);
        iface_config.random_seed = config.random_seed;
        #[cfg(feature = "slaac")]
        {
            iface_config.slaac =
                config.slaac && matches!(hardware_addr, HardwareAddress::Ethernet(_));
        }
        #[cfg(all(feature = "ipv6", not(feature = "slaac")))]
        if config.slaac {
            log::warn!("SLAAC asked for, but built without the `slaac` feature: off");
        }
        let mut iface = Interface::new(iface_config, device, now);
        if !config.address.address().is_unspecified() {
            iface.update_ip_addrs(|addrs| {
                // A fresh interface has no address, so there is room for one.
                addrs.push(config.address).ok();
            });
        }
        #[cfg(feature = "ipv6")]
        {
            let link_local = match hardware_addr {
                HardwareAddress::Ethernet(mac) => StackConfig::link_local(mac),
                #[allow(unreachable_patterns)]
                _ => None,
            };
            iface.update_ip_addrs(|addrs| {
                for cidr in link_local.into_iter().chain(config.ipv6) {
                    if addrs.push(IpCidr::Ipv6(cidr)).is_err() {
                        log::warn!(
                            "no room for {cidr}: smoltcp keeps {} addresses per interface \
                             (feature iface-max-addr-count-N)",
                            addrs.capacity()
                        );
                    }
                }
            });
        }
        if let Some(gateway) = config.gateway {
            // The routing table is empty, so there is room for the default route.
            iface.routes_mut().add_default_ipv4_route(gateway).ok();
        }
        let capacity = storage.len();
        Stack {
            iface,
            sockets: SocketSet::new(storage),
            capacity,
            guard: Guard::default(),
            mac: match hardware_addr {
                HardwareAddress::Ethernet(mac) => Some(mac),
                #[allow(unreachable_patterns)]
                _ => None,
            },
            gateway: config.gateway,
            now,
            wake: None,
        }
    }

    /// The instant of the last [`poll`](Self::poll) (or of `new`): "now" for the services.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Ask to be polled again no later than `at` (an application timer; see the module docs).
    /// Registrations last until the next [`poll`](Self::poll); services renew theirs on each
    /// of their own polls.
    pub fn wake_at(&mut self, at: Instant) {
        self.wake = Some(self.wake.map_or(at, |w| w.min(at)));
    }

    /// A pool on `port` says whether it would evict an idle connection for a newcomer; while
    /// it would, a SYN finding no listener there is held back instead of refused.
    pub(crate) fn set_evictable(&mut self, port: u16, evictable: bool) {
        self.guard.set_evictable(port, evictable);
    }

    /// When a SYN for `port` last found no listener while its pool said it could make room.
    pub(crate) fn syn_waiting(&self, port: u16) -> Option<Instant> {
        self.guard.syn_waiting(port)
    }

    /// The pool on `port` made room for the held-back SYN.
    pub(crate) fn clear_syn_waiting(&mut self, port: u16) {
        self.guard.clear_syn_waiting(port);
    }

    /// What the ingress guard did so far.
    pub fn guard_stats(&self) -> GuardStats {
        self.guard.stats()
    }

    /// Whether a datagram to `addr` can leave at once: no link-layer address to resolve (an
    /// IP-only interface, broadcast, multicast) or smoltcp already knows the hardware address of
    /// the next hop (`addr` itself on our subnet, else the gateway).
    ///
    /// A smoltcp UDP socket tries only the head of its send queue; a head whose neighbour never
    /// answers ARP blocks the queue (see [`crate::udp`]). Senders that serve many peers check
    /// this first and send to unresolved peers through a [`ResolveLane`](crate::udp::ResolveLane).
    pub fn neighbor_ready(&self, addr: IpAddress) -> bool {
        if self.mac.is_none() {
            return true;
        }
        #[cfg(feature = "ipv6")]
        if let IpAddress::Ipv6(v6) = addr {
            return self.neighbor_ready_v6(v6);
        }
        #[allow(irrefutable_let_patterns)]
        let IpAddress::Ipv4(v4) = addr
        else {
            return false;
        };
        if v4.is_broadcast() || v4.is_multicast() {
            return true;
        }
        let on_link = self.iface.ip_addrs().iter().any(|cidr| match cidr {
            IpCidr::Ipv4(net) => net.contains_addr(&v4) && Some(v4) != net.broadcast(),
            #[allow(unreachable_patterns)]
            _ => false,
        });
        let subnet_broadcast = self.iface.ip_addrs().iter().any(|cidr| match cidr {
            IpCidr::Ipv4(net) => Some(v4) == net.broadcast(),
            #[allow(unreachable_patterns)]
            _ => false,
        });
        if subnet_broadcast {
            return true;
        }
        let hop = if on_link {
            v4
        } else {
            match self.gateway {
                Some(gateway) => gateway,
                None => return false,
            }
        };
        self.guard.knows_neighbor(IpAddress::Ipv4(hop), self.now)
    }

    /// [`Stack::neighbor_ready`] for IPv6: multicast leaves at once; a link-local peer or one in
    /// one of our prefixes once neighbour discovery resolved it; anything else (behind a
    /// router) is not known to be ready, and goes through the resolve lane.
    #[cfg(feature = "ipv6")]
    fn neighbor_ready_v6(&self, v6: Ipv6Address) -> bool {
        if v6.is_multicast() {
            return true;
        }
        let on_link = v6.is_unicast_link_local()
            || self.iface.ip_addrs().iter().any(|cidr| match cidr {
                IpCidr::Ipv6(net) => net.contains_addr(&v6),
                #[allow(unreachable_patterns)]
                _ => false,
            });
        on_link && self.guard.knows_neighbor(IpAddress::Ipv6(v6), self.now)
    }

    /// The interface's IPv6 addresses (link-local, static, from SLAAC; feature `ipv6`).
    #[cfg(feature = "ipv6")]
    pub fn ipv6_cidrs(&self) -> impl Iterator<Item = Ipv6Cidr> + '_ {
        self.iface.ip_addrs().iter().filter_map(|cidr| match cidr {
            IpCidr::Ipv6(v6) => Some(*v6),
            #[allow(unreachable_patterns)]
            _ => None,
        })
    }

    /// The interface's IPv4 address and subnet, if it has one.
    pub fn ipv4_cidr(&self) -> Option<smoltcp::wire::Ipv4Cidr> {
        self.iface.ip_addrs().iter().find_map(|cidr| match cidr {
            IpCidr::Ipv4(v4) => Some(*v4),
            #[allow(unreachable_patterns)]
            _ => None,
        })
    }

    /// The interface's first IP address.
    pub fn address(&self) -> Option<IpAddress> {
        self.iface.ip_addrs().first().map(|cidr| cidr.address())
    }

    /// Add a TCP socket using `storage` for its buffers.
    pub fn add_tcp<const RX: usize, const TX: usize>(
        &mut self,
        storage: &'a mut TcpStorage<RX, TX>,
    ) -> Result<SocketHandle, SocketStorageFull> {
        self.check_room()?;
        let socket = tcp::Socket::new(
            tcp::SocketBuffer::new(&mut storage.rx[..]),
            tcp::SocketBuffer::new(&mut storage.tx[..]),
        );
        Ok(self.sockets.add(socket))
    }

    /// Add a UDP socket using `storage` for its buffers.
    pub fn add_udp<const DGRAMS: usize, const BYTES: usize>(
        &mut self,
        storage: &'a mut UdpStorage<DGRAMS, BYTES>,
    ) -> Result<SocketHandle, SocketStorageFull> {
        self.add_udp_socket(
            udp::PacketBuffer::new(&mut storage.rx_meta[..], &mut storage.rx[..]),
            udp::PacketBuffer::new(&mut storage.tx_meta[..], &mut storage.tx[..]),
        )
    }

    /// Add a send-only UDP socket using `storage` (for a [`ResolveLane`](crate::udp::ResolveLane)).
    pub fn add_udp_lane<const DGRAMS: usize, const BYTES: usize>(
        &mut self,
        storage: &'a mut UdpLaneStorage<DGRAMS, BYTES>,
    ) -> Result<SocketHandle, SocketStorageFull> {
        self.add_udp_socket(
            udp::PacketBuffer::new(&mut storage.rx_meta[..], &mut storage.rx[..]),
            udp::PacketBuffer::new(&mut storage.tx_meta[..], &mut storage.tx[..]),
        )
    }

    fn add_udp_socket(
        &mut self,
        rx: udp::PacketBuffer<'a>,
        tx: udp::PacketBuffer<'a>,
    ) -> Result<SocketHandle, SocketStorageFull> {
        self.check_room()?;
        Ok(self.sockets.add(udp::Socket::new(rx, tx)))
    }

    /// Whether a datagram claiming to come from `addr` deserves an answer: a unicast address
    /// that is not ours, nor the network or broadcast address of one of our subnets. A reply to
    /// anything else would go to a broadcast (amplification), to ourselves, or nowhere.
    pub fn is_plausible_peer(&self, addr: IpAddress) -> bool {
        #[cfg(feature = "ipv6")]
        if let IpAddress::Ipv6(v6) = addr {
            // IPv6 has no broadcast; a multicast or unspecified source, or our own address
            // heard from a wire, deserves no answer.
            let wire = self.mac.is_some_and(|mac| mac != StackConfig::LOOPBACK_MAC);
            let ours = self
                .iface
                .ip_addrs()
                .iter()
                .any(|cidr| cidr.address() == addr);
            return !(v6.is_multicast() || v6.is_unspecified() || (wire && ours));
        }
        #[allow(irrefutable_let_patterns)]
        let IpAddress::Ipv4(v4) = addr
        else {
            return false;
        };
        if v4.is_broadcast() || v4.is_multicast() || v4.is_unspecified() {
            return false;
        }
        // An interface that talks to itself (the loopback) legitimately hears its own address;
        // from an Ethernet wire, our own address is spoofed.
        let wire = self.mac.is_some_and(|mac| mac != StackConfig::LOOPBACK_MAC);
        !self.iface.ip_addrs().iter().any(|cidr| match cidr {
            IpCidr::Ipv4(net) => {
                (wire && net.address() == v4)
                    || (net.prefix_len() < 31
                        && (Some(v4) == net.broadcast() || v4 == net.network().address()))
            }
            #[allow(unreachable_patterns)]
            _ => false,
        })
    }

    /// Add an ICMP socket using `storage` (feature `icmp`): a ping client, see the module docs.
    #[cfg(feature = "icmp")]
    pub fn add_icmp<const PACKETS: usize, const BYTES: usize>(
        &mut self,
        storage: &'a mut IcmpStorage<PACKETS, BYTES>,
    ) -> Result<SocketHandle, SocketStorageFull> {
        use smoltcp::socket::icmp;
        self.check_room()?;
        let socket = icmp::Socket::new(
            icmp::PacketBuffer::new(&mut storage.rx_meta[..], &mut storage.rx[..]),
            icmp::PacketBuffer::new(&mut storage.tx_meta[..], &mut storage.tx[..]),
        );
        Ok(self.sockets.add(socket))
    }

    /// The ICMP socket behind `handle` (feature `icmp`; same contract as [`Stack::tcp`]).
    #[cfg(feature = "icmp")]
    pub fn icmp(&mut self, handle: SocketHandle) -> &mut smoltcp::socket::icmp::Socket<'a> {
        self.sockets
            .get_mut::<smoltcp::socket::icmp::Socket<'a>>(handle)
    }

    /// Add a DHCPv4 client socket (it needs no buffers).
    #[cfg(feature = "dhcp")]
    pub fn add_dhcp(&mut self) -> Result<SocketHandle, SocketStorageFull> {
        self.check_room()?;
        Ok(self.sockets.add(smoltcp::socket::dhcpv4::Socket::new()))
    }

    /// The DHCPv4 socket behind `handle` (same contract as [`Stack::tcp`]).
    #[cfg(feature = "dhcp")]
    pub fn dhcp(&mut self, handle: SocketHandle) -> &mut smoltcp::socket::dhcpv4::Socket<'a> {
        self.sockets
            .get_mut::<smoltcp::socket::dhcpv4::Socket<'a>>(handle)
    }

    /// Add a UDP socket using `storage` and bind it to `port` (a UDP server's first step).
    pub fn bind_udp<const DGRAMS: usize, const BYTES: usize>(
        &mut self,
        storage: &'a mut UdpStorage<DGRAMS, BYTES>,
        port: u16,
    ) -> Result<SocketHandle, OpenError> {
        let handle = self.add_udp(storage)?;
        if let Err(e) = self.udp(handle).bind(port) {
            self.remove(handle);
            return Err(e.into());
        }
        Ok(handle)
    }

    fn check_room(&self) -> Result<(), SocketStorageFull> {
        if self.sockets.iter().count() >= self.capacity {
            Err(SocketStorageFull {
                capacity: self.capacity,
            })
        } else {
            Ok(())
        }
    }

    /// Remove a socket, freeing its slot (its buffers stay borrowed for `'a`).
    pub fn remove(&mut self, handle: SocketHandle) {
        self.sockets.remove(handle);
    }

    /// Replace the interface's IPv4 address and default gateway (`None`: none), as a DHCP
    /// client does when a lease starts, changes or ends. TCP connections on an address the
    /// interface no longer has are reset at once: no segment of theirs would ever be accepted
    /// again, and their peers learn it now instead of at their timeout. Listening sockets and
    /// UDP services are bound to ports, not addresses, and serve the new address at once.
    pub fn set_ipv4(
        &mut self,
        address: Option<smoltcp::wire::Ipv4Cidr>,
        gateway: Option<Ipv4Address>,
    ) {
        let old = self.iface.ipv4_addr();
        self.iface.update_ip_addrs(|addrs| {
            addrs.retain(|cidr| !matches!(cidr, IpCidr::Ipv4(_)));
            if let Some(address) = address {
                // Only IPv4 addresses were removed, so there is room for this one.
                addrs.push(IpCidr::Ipv4(address)).ok();
            }
        });
        self.iface.routes_mut().remove_default_ipv4_route();
        if let Some(gateway) = gateway {
            // The default route was just removed, so there is room for it.
            self.iface.routes_mut().add_default_ipv4_route(gateway).ok();
        }
        self.gateway = gateway;
        if let Some(old) = old.filter(|old| Some(*old) != address.map(|a| a.address())) {
            for (_, socket) in self.sockets.iter_mut() {
                if let smoltcp::socket::Socket::Tcp(tcp) = socket {
                    let on_old = tcp
                        .local_endpoint()
                        .is_some_and(|local| local.addr == IpAddress::Ipv4(old));
                    if on_old {
                        tcp.abort();
                    }
                }
            }
        }
    }

    /// The TCP socket behind `handle`.
    ///
    /// Handles are minted by this stack for the caller, never derived from network input; a
    /// handle of the wrong kind is a programming error and panics, as in smoltcp.
    pub fn tcp(&mut self, handle: SocketHandle) -> &mut tcp::Socket<'a> {
        self.sockets.get_mut::<tcp::Socket<'a>>(handle)
    }

    /// The UDP socket behind `handle` (same contract as [`Stack::tcp`]).
    pub fn udp(&mut self, handle: SocketHandle) -> &mut udp::Socket<'a> {
        self.sockets.get_mut::<udp::Socket<'a>>(handle)
    }

    /// Start a TCP connection from `local_port` to `remote` on the socket behind `handle`.
    pub fn connect(
        &mut self,
        handle: SocketHandle,
        remote: (IpAddress, u16),
        local_port: u16,
    ) -> Result<(), tcp::ConnectError> {
        let socket = self.sockets.get_mut::<tcp::Socket<'a>>(handle);
        socket.connect(self.iface.context(), remote, local_port)
    }

    /// The sockets, for iteration (e.g. the ephemeral port allocator).
    pub fn sockets(&self) -> &SocketSet<'a> {
        &self.sockets
    }

    /// The smoltcp interface, for anything this type does not wrap.
    pub fn iface_mut(&mut self) -> &mut Interface {
        &mut self.iface
    }

    /// Process frames from `device` and send what the sockets queued, at time `now`.
    ///
    /// Returns `true` when a socket's state may have changed (new data, a connection opened or
    /// closed), i.e. when the services have work.
    ///
    /// Like smoltcp's `Interface::poll`, except that each received frame passes the ingress
    /// guard first and each frame sent is shown to it ([`crate::guard`]: late SYNs, SYN floods,
    /// blind RSTs, the neighbour mirror). Clears the application timers ([`Stack::wake_at`]).
    pub fn poll<D: Device + ?Sized>(&mut self, now: Instant, device: &mut D) -> bool {
        use smoltcp::iface::{PollIngressSingleResult, PollResult};
        use smoltcp::phy::RxToken;
        let mut changed = false;
        self.now = now;
        self.wake = None;
        self.iface.poll_maintenance(now);
        let caps = device.capabilities();
        while let Some((rx, tx)) = device.receive(now) {
            let (iface, sockets, guard) = (&mut self.iface, &mut self.sockets, &mut self.guard);
            let mac = self.mac;
            let meta = rx.meta();
            let result = rx.consume(|frame| {
                let verdict = guard.inspect(now, caps.medium, frame, mac, iface, sockets);
                // One call site: `poll_ingress_single` is smoltcp's largest function, and each
                // call site of a generic may get its own inlined copy (4 KiB on a Cortex-M).
                let bytes: &[u8] = match &verdict {
                    Verdict::Pass => frame,
                    Verdict::Drop => return PollIngressSingleResult::PacketProcessed,
                    Verdict::Replace(probe, len) => probe.get(..*len).unwrap_or_default(),
                };
                let tx = SniffTx::new(tx, &mut guard.acks, caps.medium, now);
                let mut one = OneFrame::new(bytes, meta, tx, caps.clone());
                iface.poll_ingress_single(now, &mut one, sockets)
            });
            changed |= result == PollIngressSingleResult::SocketStateChanged;
        }
        let mut sniffing = Sniffing::new(device, &mut self.guard.acks);
        while self
            .iface
            .poll_egress(now, &mut sniffing, &mut self.sockets)
            == PollResult::SocketStateChanged
        {
            changed = true;
        }
        changed
    }

    /// How long until a socket timer fires (retransmission, delayed ACK, TIME-WAIT, ...);
    /// `None` if no timer runs. This knows nothing of frames waiting in the device nor of data
    /// the application has not drained: see [`crate::event_loop`].
    ///
    /// Application timers registered with [`Stack::wake_at`] since the last poll count too.
    pub fn poll_delay(&mut self, now: Instant) -> Option<Duration> {
        self.poll_at(now)
            .map(|at| if at > now { at - now } else { Duration::ZERO })
    }

    /// When the next socket or application timer fires (`None`: no timer).
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let socket = self.iface.poll_at(now, &self.sockets);
        match (socket, self.wake) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The caller's socket storage has no free slot for another socket (the error of
/// [`Stack::add_tcp`], [`Stack::add_udp`] and the other ways of adding a socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketStorageFull {
    /// How many sockets the storage holds.
    pub capacity: usize,
}

impl core::fmt::Display for SocketStorageFull {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "socket storage full ({} sockets)", self.capacity)
    }
}

impl core::error::Error for SocketStorageFull {}
