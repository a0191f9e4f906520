//! The stack: one smoltcp [`Interface`] and its [`SocketSet`], over memory the caller owns.
//!
//! ```text
//!   device ──▶ Interface ──▶ SocketSet (caller's SocketStorage slots)
//!                                 ├── TCP socket (caller's TcpStorage buffers)
//!                                 └── UDP socket (caller's UdpStorage buffers)
//! ```
//!
//! The stack does not own the device: the same `Stack` works over a loopback, a TAP device, a
//! simulated link or the LAN9118 on a Cortex-M board, and a loop can drive several stacks over
//! the two ends of one wire. It does not read a clock either: `poll(now, device)` moves the
//! interface to `now`, and [`Stack::poll_delay`] tells the caller how long it may sleep if
//! nothing else is pending (see [`crate::event_loop`] for the full contract).
//!
//! Adding a socket to a full `SocketSet` panics inside smoltcp; [`Stack::add_tcp`] and
//! [`Stack::add_udp`] check first and return [`Error::SocketStorageFull`] instead.

use managed::ManagedSlice;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::Device;
use smoltcp::socket::{tcp, udp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv4Address};

use crate::storage::{TcpStorage, UdpStorage};
use crate::tcp::demux::{is_late_syn, OneFrame};
use crate::Error;

/// How an interface is addressed.
#[derive(Debug, Clone, Copy)]
pub struct StackConfig {
    /// MAC address, for Ethernet devices; `None` for IP-only devices (loopback, TUN), which
    /// without the `medium-ip` feature get [`StackConfig::LOOPBACK_MAC`] and Ethernet framing.
    pub mac: Option<EthernetAddress>,
    /// The interface's IPv4 address and prefix.
    pub address: IpCidr,
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
        }
    }

    /// An Ethernet interface with `mac` at `address`.
    pub fn ethernet(mac: EthernetAddress, address: IpCidr) -> Self {
        StackConfig {
            mac: Some(mac),
            address,
            gateway: None,
            random_seed: 0,
        }
    }

    /// The same, with a default gateway.
    pub fn with_gateway(mut self, gateway: Ipv4Address) -> Self {
        self.gateway = Some(gateway);
        self
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
        let mut iface = Interface::new(iface_config, device, now);
        iface.update_ip_addrs(|addrs| {
            // A fresh interface has no address, so there is room for one.
            addrs.push(config.address).ok();
        });
        if let Some(gateway) = config.gateway {
            // The routing table is empty, so there is room for the default route.
            iface.routes_mut().add_default_ipv4_route(gateway).ok();
        }
        let capacity = storage.len();
        Stack {
            iface,
            sockets: SocketSet::new(storage),
            capacity,
        }
    }

    /// The interface's first IP address.
    pub fn address(&self) -> Option<IpAddress> {
        self.iface.ip_addrs().first().map(|cidr| cidr.address())
    }

    /// Add a TCP socket using `storage` for its buffers.
    pub fn add_tcp<const RX: usize, const TX: usize>(
        &mut self,
        storage: &'a mut TcpStorage<RX, TX>,
    ) -> Result<SocketHandle, Error> {
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
    ) -> Result<SocketHandle, Error> {
        self.check_room()?;
        let socket = udp::Socket::new(
            udp::PacketBuffer::new(&mut storage.rx_meta[..], &mut storage.rx[..]),
            udp::PacketBuffer::new(&mut storage.tx_meta[..], &mut storage.tx[..]),
        );
        Ok(self.sockets.add(socket))
    }

    /// Add a UDP socket using `storage` and bind it to `port` (a UDP server's first step).
    pub fn bind_udp<const DGRAMS: usize, const BYTES: usize>(
        &mut self,
        storage: &'a mut UdpStorage<DGRAMS, BYTES>,
        port: u16,
    ) -> Result<SocketHandle, Error> {
        let handle = self.add_udp(storage)?;
        if let Err(e) = self.udp(handle).bind(port) {
            self.remove(handle);
            return Err(e.into());
        }
        Ok(handle)
    }

    fn check_room(&self) -> Result<(), Error> {
        if self.sockets.iter().count() >= self.capacity {
            Err(Error::SocketStorageFull {
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
    ) -> Result<(), Error> {
        let socket = self.sockets.get_mut::<tcp::Socket<'a>>(handle);
        socket.connect(self.iface.context(), remote, local_port)?;
        Ok(())
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
    /// Like smoltcp's `Interface::poll`, except that each received frame is looked at first, so
    /// that a late SYN of an existing connection never reaches a listener (see [`crate::tcp`],
    /// "A late SYN and the pool").
    pub fn poll<D: Device + ?Sized>(&mut self, now: Instant, device: &mut D) -> bool {
        use smoltcp::iface::{PollIngressSingleResult, PollResult};
        use smoltcp::phy::RxToken;
        let mut changed = false;
        self.iface.poll_maintenance(now);
        let caps = device.capabilities();
        while let Some((rx, tx)) = device.receive(now) {
            let (iface, sockets) = (&mut self.iface, &mut self.sockets);
            let meta = rx.meta();
            let result = rx.consume(|frame| {
                if is_late_syn(caps.medium, frame, sockets) {
                    log::debug!("late SYN for a connection behind a listener: dropped");
                    return PollIngressSingleResult::PacketProcessed;
                }
                let mut one = OneFrame::new(frame, meta, tx, caps.clone());
                iface.poll_ingress_single(now, &mut one, sockets)
            });
            changed |= result == PollIngressSingleResult::SocketStateChanged;
        }
        while self.iface.poll_egress(now, device, &mut self.sockets)
            == PollResult::SocketStateChanged
        {
            changed = true;
        }
        changed
    }

    /// How long until a socket timer fires (retransmission, delayed ACK, TIME-WAIT, ...);
    /// `None` if no timer runs. This knows nothing of frames waiting in the device nor of data
    /// the application has not drained: see [`crate::event_loop`].
    pub fn poll_delay(&mut self, now: Instant) -> Option<Duration> {
        self.iface.poll_delay(now, &self.sockets)
    }

    /// When the next socket timer fires (`None`: no timer).
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        self.iface.poll_at(now, &self.sockets)
    }
}
