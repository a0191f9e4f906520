//! Hostile peers on a LAN, without root: a server `Stack` and a legitimate client `Stack` on
//! the two ends of an in-memory Ethernet `Wire` (with ARP), and an attacker who writes raw
//! frames into the wire beside the client. Every test checks that the legitimate client is
//! served, every byte checked, and asserts the recovery times in virtual time.
//!
//! | attack | what answers it |
//! |---|---|
//! | spoofed UDP sources that never answer ARP | `udp::ResolveLane` (smoltcp #594 workaround) |
//! | SYN flood from unresolvable sources | the guard's SYN admission (`guard/admission.rs`) |
//! | idle holders / never-reading peers | `PoolConfig::{evict_idle_after, idle_timeout, send_timeout}` |
//! | blind RSTs across the window | the guard's RFC 5961 check (`guard/blind_rst.rs`) |
//! | a RST during a handshake | the pool keeps exactly `backlog` listeners |
//!
//! With the `ipv6` feature both stacks also have an IPv6 address (fd00:69::1 and ::100) and
//! the spoofed UDP, SYN flood, blind RST, ping and ICMP error tests run again over IPv6
//! (`Family::V6`): neighbour discovery instead of ARP, the same defences, the same figures.

use smolsock::clock::{Clock, VirtualClock};
use smolsock::device::{Pending, Wire, WireEnd};
use smolsock::event_loop::Work;
use smolsock::service::Verdict;
use smolsock::service::{ports, EchoClient, Service, UdpEcho, UpperEcho};
use smolsock::smoltcp::iface::SocketStorage;
use smolsock::smoltcp::phy::{Device, TxToken};
use smolsock::smoltcp::time::{Duration, Instant};
use smolsock::smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, Icmpv4Packet, Icmpv4Repr,
    IpAddress, IpCidr, IpEndpoint, IpProtocol, IpRepr, Ipv4Address, Ipv4Packet, TcpControl,
    TcpPacket, TcpRepr, TcpSeqNumber, UdpPacket, UdpRepr,
};
#[cfg(feature = "ipv6")]
use smolsock::smoltcp::wire::{Ipv6Address, Ipv6Cidr, Ipv6Packet};
use smolsock::storage::{TcpStorage, UdpLaneStorage, UdpStorage};
use smolsock::tcp::{ClientState, EphemeralPorts, PoolConfig, TcpClient};
use smolsock::udp::UdpClient;
use smolsock::{Stack, StackConfig};

const SERVER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const CLIENT_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
const ATTACKER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0x66]);
const SERVER_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 1);
const CLIENT_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 100);
/// The same hosts' IPv6 addresses (feature `ipv6`), beside their link-local ones.
#[cfg(feature = "ipv6")]
const SERVER_IP6: Ipv6Address = Ipv6Address::new(0xfd00, 0x69, 0, 0, 0, 0, 0, 1);
#[cfg(feature = "ipv6")]
const CLIENT_IP6: Ipv6Address = Ipv6Address::new(0xfd00, 0x69, 0, 0, 0, 0, 0, 0x100);

/// Which IP version an attack and the legitimate client use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    #[cfg(feature = "ipv6")]
    V6,
}

impl Family {
    fn server(self) -> IpAddress {
        match self {
            Family::V4 => IpAddress::Ipv4(SERVER_IP),
            #[cfg(feature = "ipv6")]
            Family::V6 => IpAddress::Ipv6(SERVER_IP6),
        }
    }

    fn client(self) -> IpAddress {
        match self {
            Family::V4 => IpAddress::Ipv4(CLIENT_IP),
            #[cfg(feature = "ipv6")]
            Family::V6 => IpAddress::Ipv6(CLIENT_IP6),
        }
    }

    /// An address in the server's subnet that nobody holds (nobody answers ARP or neighbour
    /// solicitations for it).
    fn nobody(self, i: u32) -> IpAddress {
        match self {
            Family::V4 => IpAddress::Ipv4(nobody(i)),
            #[cfg(feature = "ipv6")]
            Family::V6 => IpAddress::Ipv6(Ipv6Address::new(
                0xfd00,
                0x69,
                0,
                0,
                0,
                0,
                0xbad,
                (i % 60_000) as u16,
            )),
        }
    }
}

type W = Wire<1514, 256>;

fn leak<T>(value: T) -> &'static mut T {
    Box::leak(Box::new(value))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn sockets(n: usize) -> &'static mut [SocketStorage<'static>] {
    Box::leak(
        (0..n)
            .map(|_| SocketStorage::EMPTY)
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    )
}

/// The server, the legitimate client, and the wire between them (the attacker writes into the
/// client's end).
struct Lan {
    clock: VirtualClock,
    server: Stack<'static>,
    client: Stack<'static>,
    a: WireEnd<'static, 1514, 256>,
    b: WireEnd<'static, 1514, 256>,
    /// The acknowledgement number of the last TCP segment the server sent (what an on-path
    /// observer would see; used to aim the one RST that should work).
    last_ack_from_server: Option<TcpSeqNumber>,
    /// Every ICMP message the server sent: (type, code, the message's bytes).
    icmp_from_server: Vec<(u8, u8, Vec<u8>)>,
    /// TCP segments the server sent with no payload, no SYN, FIN or RST (pure ACKs, challenge
    /// ACKs among them).
    pure_acks_from_server: usize,
}

impl Lan {
    fn new(server_sockets: usize) -> Lan {
        let _ = env_logger::builder().is_test(true).try_init();
        let clock = VirtualClock::default();
        let wire: &'static W = leak(W::new());
        let (mut a, mut b) = wire.ends();
        let server_config =
            StackConfig::ethernet(SERVER_MAC, IpCidr::new(IpAddress::Ipv4(SERVER_IP), 24))
                .with_seed(1);
        let client_config =
            StackConfig::ethernet(CLIENT_MAC, IpCidr::new(IpAddress::Ipv4(CLIENT_IP), 24))
                .with_seed(2);
        #[cfg(feature = "ipv6")]
        let (server_config, client_config) = (
            server_config.with_ipv6(Ipv6Cidr::new(SERVER_IP6, 64)),
            client_config.with_ipv6(Ipv6Cidr::new(CLIENT_IP6, 64)),
        );
        let server = Stack::new(server_config, &mut a, sockets(server_sockets), clock.now());
        let client = Stack::new(client_config, &mut b, sockets(16), clock.now());
        Lan {
            clock,
            server,
            client,
            a,
            b,
            last_ack_from_server: None,
            icmp_from_server: Vec::new(),
            pure_acks_from_server: 0,
        }
    }

    fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Write a raw frame into the wire towards the server.
    fn inject(&mut self, frame: &[u8]) {
        let now = self.clock.now();
        let token = self.b.transmit(now).expect("wire has room");
        token.consume(frame.len(), |buf| buf.copy_from_slice(frame));
    }

    /// Inject 1,000 copies of `frame` within about half a second (bursts of 100, 50 ms apart),
    /// then let 100 ms pass for the answers: an error-drawing flood, far past any ICMP budget.
    fn flood_of_1000(&mut self, frame: &[u8]) {
        for i in 0..1000 {
            self.inject(frame);
            if i % 100 == 99 {
                self.run_for(Duration::from_millis(50), Duration::from_millis(10), |_| {
                    false
                });
            }
        }
        self.run_for(
            Duration::from_millis(100),
            Duration::from_millis(10),
            |_| false,
        );
    }

    /// [`Lan::flood_of_1000`] of `frame`, then the ICMP errors of type `kind` (and `code`, if
    /// given) the server sent during it, and how many the guard suppressed.
    fn errors_drawn_by_1000(&mut self, frame: &[u8], kind: u8, code: Option<u8>) -> (usize, u64) {
        self.icmp_from_server.clear();
        self.flood_of_1000(frame);
        let sent = self
            .icmp_from_server
            .iter()
            .filter(|(k, c, _)| *k == kind && code.is_none_or(|code| *c == code))
            .count();
        (sent, self.server.guard_stats().icmp_errors_suppressed)
    }

    /// One round: both stacks, then `work`; then, if nothing moved, let virtual time pass up to
    /// the next timer (at most `max_step`, so that scheduled attacks happen on time).
    fn round(&mut self, max_step: Duration, work: &mut dyn FnMut(&mut Lan) -> Work) -> bool {
        let now = self.clock.now();
        let mut spy = Spy {
            inner: &mut self.a,
            last_ack: &mut self.last_ack_from_server,
            icmp: &mut self.icmp_from_server,
            pure_acks: &mut self.pure_acks_from_server,
        };
        let mut progress = self.server.poll(now, &mut spy);
        progress |= self.client.poll(now, &mut self.b);
        let work = work(self);
        if work == Work::Done {
            return true;
        }
        progress |= work == Work::Busy;
        if !progress && !self.a.pending() && !self.b.pending() {
            let next = [self.server.poll_at(now), self.client.poll_at(now)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(now + max_step);
            let next = next.min(now + max_step).max(now + Duration::from_millis(1));
            self.clock.advance_to(next);
        }
        false
    }

    /// Run rounds until `work` says [`Work::Done`]; returns the virtual time taken, or an error
    /// once `budget` passed.
    fn run_until(
        &mut self,
        budget: Duration,
        max_step: Duration,
        mut work: impl FnMut(&mut Lan) -> Work,
    ) -> Result<Duration, String> {
        let start = self.now();
        loop {
            if self.round(max_step, &mut work) {
                return Ok(self.now() - start);
            }
            if self.now() > start + budget {
                return Err(format!("not done within {budget}"));
            }
        }
    }

    /// Run rounds for `span` of virtual time.
    fn run_for(
        &mut self,
        span: Duration,
        max_step: Duration,
        mut work: impl FnMut(&mut Lan) -> bool,
    ) {
        let end = self.now() + span;
        while self.now() < end {
            self.round(max_step, &mut |l| Work::from(work(l)));
        }
    }
}

/// The server's end of the wire, noting the acknowledgement number of every TCP segment the
/// server sends (what an attacker on the path would see; the blind attacker does not).
struct Spy<'d> {
    inner: &'d mut WireEnd<'static, 1514, 256>,
    last_ack: &'d mut Option<TcpSeqNumber>,
    icmp: &'d mut Vec<(u8, u8, Vec<u8>)>,
    pure_acks: &'d mut usize,
}

struct SpyTx<'t, T> {
    inner: T,
    last_ack: &'t mut Option<TcpSeqNumber>,
    icmp: &'t mut Vec<(u8, u8, Vec<u8>)>,
    pure_acks: &'t mut usize,
}

/// The IP payload of an Ethernet frame and its protocol (IPv4 or IPv6, no extension headers).
fn ip_payload(frame: &[u8]) -> Option<(IpProtocol, &[u8])> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    match eth.ethertype() {
        EthernetProtocol::Ipv4 => {
            let ip = Ipv4Packet::new_checked(&frame[14..]).ok()?;
            Some((ip.next_header(), ip.payload()))
        }
        #[cfg(feature = "ipv6")]
        EthernetProtocol::Ipv6 => {
            let ip = Ipv6Packet::new_checked(&frame[14..]).ok()?;
            Some((ip.next_header(), ip.payload()))
        }
        _ => None,
    }
}

impl<T: TxToken> TxToken for SpyTx<'_, T> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let (last_ack, icmp, pure_acks) = (self.last_ack, self.icmp, self.pure_acks);
        self.inner.consume(len, |buf| {
            let r = f(buf);
            match ip_payload(buf) {
                Some((IpProtocol::Tcp, payload)) => {
                    if let Ok(tcp) = TcpPacket::new_checked(payload) {
                        if tcp.ack() && !tcp.rst() {
                            *last_ack = Some(tcp.ack_number());
                        }
                        if tcp.ack()
                            && !(tcp.syn() || tcp.fin() || tcp.rst())
                            && tcp.payload().is_empty()
                        {
                            *pure_acks += 1;
                        }
                    }
                }
                Some((IpProtocol::Icmp, msg)) if msg.len() >= 2 => {
                    icmp.push((msg[0], msg[1], msg.to_vec()));
                }
                #[cfg(feature = "ipv6")]
                Some((IpProtocol::Icmpv6, msg)) if msg.len() >= 2 => {
                    icmp.push((msg[0], msg[1], msg.to_vec()));
                }
                _ => {}
            }
            r
        })
    }
}

impl Device for Spy<'_> {
    type RxToken<'a>
        = <WireEnd<'static, 1514, 256> as Device>::RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = SpyTx<'a, <WireEnd<'static, 1514, 256> as Device>::TxToken<'a>>
    where
        Self: 'a;

    fn receive(&mut self, now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (rx, tx) = self.inner.receive(now)?;
        Some((
            rx,
            SpyTx {
                inner: tx,
                last_ack: &mut *self.last_ack,
                icmp: &mut *self.icmp,
                pure_acks: &mut *self.pure_acks,
            },
        ))
    }

    fn transmit(&mut self, now: Instant) -> Option<Self::TxToken<'_>> {
        let tx = self.inner.transmit(now)?;
        Some(SpyTx {
            inner: tx,
            last_ack: &mut *self.last_ack,
            icmp: &mut *self.icmp,
            pure_acks: &mut *self.pure_acks,
        })
    }

    fn capabilities(&self) -> smolsock::smoltcp::phy::DeviceCapabilities {
        self.inner.capabilities()
    }
}

/// A frame from the attacker's MAC to the server: Ethernet, an IP header from `src` to the
/// server's address of the same family, and a `payload_len`-byte payload `fill` writes.
fn attacker_frame(
    src: IpAddress,
    proto: IpProtocol,
    payload_len: usize,
    fill: impl FnOnce(&mut [u8], &IpAddress, &IpAddress),
) -> Vec<u8> {
    let dst = server_addr_like(src);
    let ip = IpRepr::new(src, dst, proto, payload_len, 64);
    let eth = EthernetRepr {
        src_addr: ATTACKER_MAC,
        dst_addr: SERVER_MAC,
        ethertype: match src {
            IpAddress::Ipv4(_) => EthernetProtocol::Ipv4,
            #[cfg(feature = "ipv6")]
            IpAddress::Ipv6(_) => EthernetProtocol::Ipv6,
        },
    };
    let mut frame = vec![0u8; eth.buffer_len() + ip.buffer_len()];
    let mut e = EthernetFrame::new_unchecked(&mut frame[..]);
    eth.emit(&mut e);
    let caps = Default::default();
    ip.emit(e.payload_mut(), &caps);
    let header_len = ip.header_len();
    fill(&mut e.payload_mut()[header_len..], &src, &dst);
    frame
}

/// The server's address in `addr`'s family.
fn server_addr_like(addr: IpAddress) -> IpAddress {
    match addr {
        IpAddress::Ipv4(_) => IpAddress::Ipv4(SERVER_IP),
        #[cfg(feature = "ipv6")]
        IpAddress::Ipv6(_) => IpAddress::Ipv6(SERVER_IP6),
    }
}

/// A spoofed UDP datagram to the server.
fn udp_frame(src: IpEndpoint, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let udp = UdpRepr {
        src_port: src.port,
        dst_port,
    };
    let len = udp.header_len() + payload.len();
    attacker_frame(src.addr, IpProtocol::Udp, len, |buf, from, to| {
        let mut u = UdpPacket::new_unchecked(buf);
        udp.emit(
            &mut u,
            from,
            to,
            payload.len(),
            |b| b.copy_from_slice(payload),
            &Default::default(),
        );
    })
}

/// A spoofed TCP segment (no payload) to the server.
fn tcp_frame(
    src: IpEndpoint,
    dst_port: u16,
    control: TcpControl,
    seq: TcpSeqNumber,
    ack: Option<TcpSeqNumber>,
) -> Vec<u8> {
    let tcp = TcpRepr {
        src_port: src.port,
        dst_port,
        control,
        seq_number: seq,
        ack_number: ack,
        window_len: 1024,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None, None, None],
        timestamp: None,
        payload: &[],
    };
    attacker_frame(
        src.addr,
        IpProtocol::Tcp,
        tcp.buffer_len(),
        |buf, from, to| {
            let mut t = TcpPacket::new_unchecked(buf);
            tcp.emit(&mut t, from, to, &Default::default());
        },
    )
}

/// An ICMP echo request to the server.
fn ping_frame(src: Ipv4Address, ident: u16, seq_no: u16, data: &[u8]) -> Vec<u8> {
    let icmp = Icmpv4Repr::EchoRequest {
        ident,
        seq_no,
        data,
    };
    attacker_frame(
        src.into(),
        IpProtocol::Icmp,
        icmp.buffer_len(),
        |buf, _, _| {
            let mut m = Icmpv4Packet::new_unchecked(buf);
            icmp.emit(&mut m, &Default::default());
        },
    )
}

/// Let the server learn the client's hardware address (the client ARPs for the server).
fn introduce_client(lan: &mut Lan) {
    introduce_client_over(lan, Family::V4);
}

/// Let the server learn the client's hardware address over `family` (ARP, or the client's
/// neighbour solicitation for the server).
fn introduce_client_over(lan: &mut Lan, family: Family) {
    let h = lan
        .client
        .add_udp(leak(UdpStorage::<2, 256>::new()))
        .unwrap();
    let mut c = UdpClient::bind(&mut lan.client, h, 39999).unwrap();
    c.send_to(&mut lan.client, b"hi", IpEndpoint::new(family.server(), 9))
        .unwrap();
    lan.run_for(secs(1), Duration::from_millis(10), |_| false);
}

/// An address in the server's subnet that nobody holds.
fn nobody(i: u32) -> Ipv4Address {
    Ipv4Address::new(192, 168, 69, 150 + (i % 100) as u8)
}

fn server_at(port: u16) -> IpEndpoint {
    IpEndpoint::new(IpAddress::Ipv4(SERVER_IP), port)
}

#[test]
fn spoofed_udp_sources_do_not_silence_the_echo() {
    spoofed_udp(Family::V4);
}

/// The same over IPv6: sources that never answer neighbour solicitations, our own address and
/// a multicast address as sources; the legitimate IPv6 client is answered at once.
#[cfg(feature = "ipv6")]
#[test]
fn spoofed_ipv6_udp_sources_do_not_silence_the_echo() {
    spoofed_udp(Family::V6);
}

fn spoofed_udp(family: Family) {
    let server_at = |port| IpEndpoint::new(family.server(), port);
    // Sources nobody may answer, and how many of them the echo itself refuses (smoltcp drops
    // a datagram from a broadcast or multicast source before the echo sees it).
    let (bogus, refused_by_echo): (Vec<IpAddress>, u64) = match family {
        Family::V4 => (
            vec![
                Ipv4Address::new(192, 168, 69, 0).into(),
                SERVER_IP.into(),
                Ipv4Address::new(192, 168, 69, 255).into(),
            ],
            2,
        ),
        #[cfg(feature = "ipv6")]
        Family::V6 => (
            vec![
                SERVER_IP6.into(),
                smolsock::smoltcp::wire::IPV6_LINK_LOCAL_ALL_NODES.into(),
            ],
            1,
        ),
    };
    let mut lan = Lan::new(8);
    let mut echo = UdpEcho::<1472>::new(
        &mut lan.server,
        leak(UdpStorage::<64, 65536>::new()),
        leak(UdpLaneStorage::<4, 8192>::new()),
        ports::UDP_ECHO,
    )
    .unwrap();
    let h = lan
        .client
        .add_udp(leak(UdpStorage::<32, 32768>::new()))
        .unwrap();
    let mut client = UdpClient::bind(&mut lan.client, h, 40000).unwrap();
    // Warm up ARP both ways with one legitimate exchange.
    client
        .send_to(&mut lan.client, b"hello", server_at(ports::UDP_ECHO))
        .unwrap();
    let mut got: Vec<Vec<u8>> = Vec::new();
    fn recv(
        lan: &mut Lan,
        echo: &mut UdpEcho<1472>,
        client: &mut UdpClient,
        got: &mut Vec<Vec<u8>>,
    ) -> bool {
        let mut buf = [0u8; 1500];
        let mut p = echo.poll(&mut lan.server);
        while let Ok(Some((n, _))) = client.recv_from(&mut lan.client, &mut buf) {
            got.push(buf[..n].to_vec());
            p = true;
        }
        p
    }
    lan.run_for(secs(2), Duration::from_millis(1), |l| {
        recv(l, &mut echo, &mut client, &mut got)
    });
    assert_eq!(got, vec![b"HELLO".to_vec()]);
    // The attack: datagrams from 60 addresses that never answer ARP, plus the network
    // address, the server's own address and the broadcast address as sources.
    for i in 0..60 {
        let frame = udp_frame(
            IpEndpoint::new(family.nobody(i), 5000),
            ports::UDP_ECHO,
            b"spoof",
        );
        lan.inject(&frame);
    }
    for src in bogus {
        lan.inject(&udp_frame(
            IpEndpoint::new(src, 5000),
            ports::UDP_ECHO,
            b"spoof",
        ));
    }
    // Then the legitimate client: every datagram must be answered within one second.
    let started = lan.now();
    let mut sent = Vec::new();
    for i in 0..20 {
        let msg = format!("legit datagram {i}").into_bytes();
        client
            .send_to(&mut lan.client, &msg, server_at(ports::UDP_ECHO))
            .unwrap();
        sent.push(msg.to_ascii_uppercase());
    }
    got.clear();
    let took = lan
        .run_until(secs(1), Duration::from_millis(1), |l| {
            let p = recv(l, &mut echo, &mut client, &mut got);
            Work::done_if(got.len() >= 20, p)
        })
        .expect("legitimate datagrams answered within 1 s");
    eprintln!("{family:?}: 20 legit datagrams answered {took} after the spoofed ones");
    assert_eq!(got, sent);
    // Let the lane give up on the spoofed peers, then count.
    lan.run_for(secs(5), Duration::from_millis(100), |l| {
        recv(l, &mut echo, &mut client, &mut got)
    });
    let stats = echo.stats();
    assert_eq!(
        stats.datagrams, 21,
        "answered: the 21 legitimate datagrams only"
    );
    // The network and own-address sources are refused by the echo; smoltcp itself drops a
    // datagram whose source is the broadcast address.
    assert_eq!(
        stats.unanswerable, refused_by_echo,
        "network and own address as source"
    );
    assert_eq!(
        stats.dropped_unsent, 60,
        "every spoofed reply dropped unsent, counted"
    );
    assert_eq!(stats.pending, 0);
    assert!(
        lan.now() - started >= secs(2),
        "the lane waited for ARP before dropping"
    );
}

fn echo_pool(lan: &mut Lan, size: usize, config: PoolConfig) -> UpperEcho<8> {
    let storage: Vec<&'static mut TcpStorage<4096, 4096>> =
        (0..size).map(|_| leak(TcpStorage::new())).collect();
    UpperEcho::<8>::new(&mut lan.server, storage, config).unwrap()
}

#[test]
fn syn_flood_from_unresolvable_sources_still_serves_legitimate_clients() {
    syn_flood(Family::V4);
}

/// The same over IPv6: the spoofed sources never answer neighbour solicitations, the
/// legitimate client does (the guard's mirror learns it from its solicitation).
#[cfg(feature = "ipv6")]
#[test]
fn syn_flood_from_spoofed_ipv6_sources_still_serves_legitimate_ipv6_clients() {
    syn_flood(Family::V6);
}

fn syn_flood(family: Family) {
    let server_at = |port| IpEndpoint::new(family.server(), port);
    // The TAP server's shape: a pool of 8, backlog 4.
    let mut lan = Lan::new(12);
    let mut echo = echo_pool(&mut lan, 8, PoolConfig::new(ports::TCP_ECHO, 4));
    let mut ports_alloc = EphemeralPorts::new(7);
    let handles: Vec<_> = (0..11)
        .map(|_| {
            lan.client
                .add_tcp(leak(TcpStorage::<4096, 4096>::new()))
                .unwrap()
        })
        .collect();
    let payloads: Vec<Vec<u8>> = (0..11)
        .map(|i| format!("client {i} says hi").into_bytes())
        .collect();
    // 10,000 spoofed SYNs a second for 2 s (10 every ms), 10 legitimate clients spread over
    // the flood, one more right after it.
    let flood_start = lan.now();
    let flood_end = flood_start + secs(2);
    let mut clients: Vec<Option<EchoClient<'_>>> = (0..11).map(|_| None).collect();
    let mut syns = 0u32;
    let mut after_flood_connected_in = None;
    lan.run_until(secs(30), Duration::from_millis(1), |l| {
        let now = l.now();
        let mut progress = echo.poll(&mut l.server);
        if now < flood_end {
            while syns < ((now - flood_start).total_millis() as u32 + 1) * 10 {
                let src = IpEndpoint::new(family.nobody(syns), 1024 + (syns % 60000) as u16);
                let frame = tcp_frame(
                    src,
                    ports::TCP_ECHO,
                    TcpControl::Syn,
                    TcpSeqNumber(syns as i32),
                    None,
                );
                l.inject(&frame);
                syns += 1;
            }
        }
        for (i, slot) in clients.iter_mut().enumerate() {
            let start_at = if i < 10 {
                flood_start + Duration::from_millis(100 + 180 * i as u64)
            } else {
                flood_end
            };
            if slot.is_none() && now >= start_at {
                *slot = Some(
                    EchoClient::connect(
                        &mut l.client,
                        handles[i],
                        server_at(ports::TCP_ECHO),
                        &mut ports_alloc,
                        &payloads[i],
                    )
                    .unwrap(),
                );
                progress = true;
            }
            if let Some(c) = slot {
                progress |= c.poll(&mut l.client);
                if i == 10
                    && after_flood_connected_in.is_none()
                    && c.outcome() == Some(Ok(Verdict::Verified))
                {
                    after_flood_connected_in = Some(now - flood_end);
                }
            }
        }
        let done = clients
            .iter()
            .all(|c| c.as_ref().is_some_and(|c| c.outcome().is_some()));
        Work::done_if(done, progress)
    })
    .expect("every client finished");
    let served = clients[..10]
        .iter()
        .filter(|c| c.as_ref().unwrap().outcome() == Some(Ok(Verdict::Verified)))
        .count();
    let guard = lan.server.guard_stats();
    eprintln!(
        "SYN flood ({family:?}): {syns} spoofed SYNs in 2 s; {served}/10 legitimate clients served during it; \
         after it served in {:?}; guard {guard:?}",
        after_flood_connected_in
    );
    assert!(served >= 9, "only {served} of 10 served during the flood");
    // Right after the flood a new client is served at once.
    let h = lan
        .client
        .add_tcp(leak(TcpStorage::<4096, 4096>::new()))
        .unwrap();
    let mut late = EchoClient::connect(
        &mut lan.client,
        h,
        server_at(ports::TCP_ECHO),
        &mut ports_alloc,
        b"after",
    )
    .unwrap();
    let took = lan
        .run_until(secs(5), Duration::from_millis(1), |l| {
            let p = echo.poll(&mut l.server) | late.poll(&mut l.client);
            Work::done_if(late.outcome().is_some(), p)
        })
        .unwrap();
    eprintln!("after the flood: served in {took}");
    assert_eq!(late.outcome(), Some(Ok(Verdict::Verified)));
    assert!(took < secs(1));
    assert!(guard.half_open_recycled > 1000);
}

/// A connection that connects and then neither sends nor closes.
fn holder(lan: &mut Lan, ports_alloc: &mut EphemeralPorts) -> TcpClient {
    let h = lan
        .client
        .add_tcp(leak(TcpStorage::<4096, 4096>::new()))
        .unwrap();
    let mut c = TcpClient::new(h);
    c.connect(&mut lan.client, server_at(ports::TCP_ECHO), ports_alloc)
        .unwrap();
    c
}

#[test]
fn idle_holders_give_way_to_a_newcomer_and_time_out() {
    let mut lan = Lan::new(8);
    let config = PoolConfig {
        idle_timeout: Some(secs(60)),
        ..PoolConfig::new(ports::TCP_ECHO, 2)
    };
    let mut echo = echo_pool(&mut lan, 2, config);
    let mut ports_alloc = EphemeralPorts::new(9);
    let mut holders = [
        holder(&mut lan, &mut ports_alloc),
        holder(&mut lan, &mut ports_alloc),
    ];
    lan.run_until(secs(5), Duration::from_millis(10), |l| {
        let p = echo.poll(&mut l.server);
        let up = holders
            .iter_mut()
            .all(|h| h.state(&mut l.client) == ClientState::Connected);
        Work::done_if(up, p)
    })
    .unwrap();
    // The pool is full of idle holders. 12 s later a newcomer arrives: its SYN is held back,
    // the longest-idle holder is evicted, and the retransmitted SYN gets in.
    lan.run_for(secs(12), Duration::from_millis(100), |l| {
        echo.poll(&mut l.server)
    });
    let h = lan
        .client
        .add_tcp(leak(TcpStorage::<4096, 4096>::new()))
        .unwrap();
    let mut newcomer = EchoClient::connect(
        &mut lan.client,
        h,
        server_at(ports::TCP_ECHO),
        &mut ports_alloc,
        b"let me in",
    )
    .unwrap();
    let took = lan
        .run_until(secs(10), Duration::from_millis(10), |l| {
            let p = echo.poll(&mut l.server) | newcomer.poll(&mut l.client);
            Work::done_if(newcomer.outcome().is_some(), p)
        })
        .unwrap();
    eprintln!("newcomer served {took} after arriving at a pool full of idle holders");
    assert_eq!(newcomer.outcome(), Some(Ok(Verdict::Verified)));
    assert!(took < secs(4));
    assert_eq!(echo.pool().stats().evicted, 1);
    // The other holder stays idle and is reset by the idle timeout, 60 s after it connected.
    lan.run_for(secs(70), Duration::from_secs(1), |l| {
        echo.poll(&mut l.server)
    });
    let stats = echo.pool().stats();
    assert_eq!(stats.idle_timeouts, 1, "{stats:?}");
    assert!(holders
        .iter_mut()
        .all(|h| h.state(&mut lan.client) == ClientState::Reset));
}

/// A peer without keep-alive (Linux's default) learns that the pool reset its connection (idle
/// timeout or eviction) only from the RST: the pool must let it out before the socket listens
/// again. Found by `tests/tap_hostile.rs`, where kernel clients never learnt it.
#[test]
fn a_connection_the_pool_resets_gets_its_rst() {
    let mut lan = Lan::new(8);
    // The reset falls between two keep-alives (every 10 s), so no ACK of the client's crosses
    // it: the client can only learn of it from the RST.
    let config = PoolConfig {
        idle_timeout: Some(secs(25)),
        ..PoolConfig::new(ports::TCP_ECHO, 2)
    };
    let mut echo = echo_pool(&mut lan, 2, config);
    let mut ports_alloc = EphemeralPorts::new(11);
    let mut quiet = holder(&mut lan, &mut ports_alloc);
    lan.client.tcp(quiet.handle()).set_keep_alive(None);
    lan.run_until(secs(5), Duration::from_millis(10), |l| {
        let p = echo.poll(&mut l.server);
        Work::done_if(quiet.state(&mut l.client) == ClientState::Connected, p)
    })
    .unwrap();
    lan.run_for(secs(30), Duration::from_secs(1), |l| {
        let progress = echo.poll(&mut l.server);
        // The expiry counters never run ahead of `reset`, which counts them too.
        let s = echo.pool().stats();
        assert!(
            s.idle_timeouts + s.send_timeouts + s.evicted <= s.reset,
            "{s:?}"
        );
        progress
    });
    assert_eq!(echo.pool().stats().idle_timeouts, 1);
    assert_eq!(quiet.state(&mut lan.client), ClientState::Reset);
}

#[test]
fn a_peer_that_never_reads_is_reset_after_the_send_timeout() {
    let mut lan = Lan::new(8);
    let config = PoolConfig {
        send_timeout: Some(secs(20)),
        ..PoolConfig::new(ports::TCP_ECHO, 2)
    };
    let mut echo = echo_pool(&mut lan, 2, config);
    let mut ports_alloc = EphemeralPorts::new(10);
    let mut sender = holder(&mut lan, &mut ports_alloc);
    let data = vec![b'x'; 64 * 1024];
    let mut written = 0;
    // Send 64 KiB and never read: the echo fills the client's window and its own buffers.
    lan.run_until(secs(60), Duration::from_millis(100), |l| {
        let mut p = echo.poll(&mut l.server);
        if sender.state(&mut l.client) == ClientState::Connected && written < data.len() {
            let n = sender.send(&mut l.client, &data[written..]).unwrap_or(0);
            written += n;
            p |= n > 0;
        }
        Work::done_if(sender.state(&mut l.client) == ClientState::Reset, p)
    })
    .expect("the server resets the connection");
    let stats = echo.pool().stats();
    assert_eq!(stats.send_timeouts, 1, "{stats:?}");
    assert!(written > 8 * 1024);
}

#[test]
fn blind_rsts_across_the_window_do_not_reset_a_connection() {
    blind_rsts(Family::V4);
}

/// The same over IPv6: each blind RST gets a challenge ACK (rate-limited by smoltcp), none
/// resets; the exact one still does.
#[cfg(feature = "ipv6")]
#[test]
fn blind_ipv6_rsts_across_the_window_do_not_reset_a_connection() {
    blind_rsts(Family::V6);
}

fn blind_rsts(family: Family) {
    let server_at = |port| IpEndpoint::new(family.server(), port);
    let mut lan = Lan::new(8);
    let mut echo = echo_pool(&mut lan, 2, PoolConfig::new(ports::TCP_ECHO, 2));
    let mut ports_alloc = EphemeralPorts::new(11);
    let h = lan
        .client
        .add_tcp(leak(TcpStorage::<4096, 4096>::new()))
        .unwrap();
    let mut c = TcpClient::new(h);
    let port = c
        .connect(
            &mut lan.client,
            server_at(ports::TCP_ECHO),
            &mut ports_alloc,
        )
        .unwrap();
    let mut reply = Vec::new();
    fn exchange(
        l: &mut Lan,
        echo: &mut UpperEcho<8>,
        c: &mut TcpClient,
        msg: &[u8],
        reply: &mut Vec<u8>,
    ) {
        let mut buf = [0u8; 512];
        c.send(&mut l.client, msg).unwrap();
        let want = reply.len() + msg.len();
        l.run_until(secs(5), Duration::from_millis(10), |l| {
            let mut p = echo.poll(&mut l.server);
            if let Ok(n) = c.recv(&mut l.client, &mut buf) {
                reply.extend_from_slice(&buf[..n]);
                p |= n > 0;
            }
            Work::done_if(reply.len() >= want, p)
        })
        .unwrap();
    }
    lan.run_until(secs(5), Duration::from_millis(10), |l| {
        let p = echo.poll(&mut l.server);
        Work::done_if(c.state(&mut l.client) == ClientState::Connected, p)
    })
    .unwrap();
    exchange(&mut lan, &mut echo, &mut c, b"before", &mut reply);
    // The server expects the client's next byte at the number it last acknowledged. The blind
    // attacker's best case: every RST smoltcp alone would accept, i.e. every sequence number
    // in the receive window (4 KiB) except the exact one.
    let rcv_nxt = lan
        .last_ack_from_server
        .expect("the server acknowledged the data");
    let client_ep = IpEndpoint::new(family.client(), port);
    let acks_before = lan.pure_acks_from_server;
    let mut injected = 0;
    for k in 1..4096usize {
        lan.inject(&tcp_frame(
            client_ep,
            ports::TCP_ECHO,
            TcpControl::Rst,
            rcv_nxt + k,
            None,
        ));
        injected += 1;
        if k % 64 == 0 {
            lan.round(Duration::from_millis(1), &mut |l| {
                Work::from(echo.poll(&mut l.server))
            });
        }
    }
    lan.run_for(secs(2), Duration::from_millis(10), |l| {
        echo.poll(&mut l.server)
    });
    assert_eq!(c.state(&mut lan.client), ClientState::Connected);
    let challenge_acks = lan.pure_acks_from_server - acks_before;
    assert!(challenge_acks >= 1, "no challenge ACK was sent");
    exchange(&mut lan, &mut echo, &mut c, b"after", &mut reply);
    assert_eq!(reply, b"BEFOREAFTER");
    let guard = lan.server.guard_stats();
    eprintln!(
        "{family:?}: {injected} blind RSTs: connection intact, {challenge_acks} challenge ACKs \
         sent; guard {guard:?}"
    );
    assert_eq!(echo.pool().stats().reset, 0);
    assert_eq!(guard.rsts_challenged, injected);
    // The one RST a real peer would send, at exactly the expected number, still resets.
    let rcv_nxt = lan.last_ack_from_server.unwrap();
    lan.inject(&tcp_frame(
        client_ep,
        ports::TCP_ECHO,
        TcpControl::Rst,
        rcv_nxt,
        None,
    ));
    lan.run_for(secs(2), Duration::from_millis(10), |l| {
        echo.poll(&mut l.server)
    });
    assert_eq!(echo.pool().stats().reset, 1);
}

#[test]
fn a_rst_during_the_handshake_keeps_exactly_backlog_listeners() {
    let mut lan = Lan::new(8);
    let mut echo = echo_pool(&mut lan, 4, PoolConfig::new(ports::TCP_ECHO, 2));
    lan.run_for(secs(1), Duration::from_millis(10), |l| {
        echo.poll(&mut l.server)
    });
    assert_eq!(echo.pool().listening(), 2);
    // A SYN takes a listener (the pool re-listens another), then a RST for that handshake
    // sends smoltcp's socket back to LISTEN on its own.
    let peer = IpEndpoint::new(IpAddress::Ipv4(nobody(1)), 4444);
    lan.inject(&tcp_frame(
        peer,
        ports::TCP_ECHO,
        TcpControl::Syn,
        TcpSeqNumber(1000),
        None,
    ));
    lan.run_for(secs(1), Duration::from_millis(10), |l| {
        echo.poll(&mut l.server)
    });
    assert_eq!((echo.pool().half_open(), echo.pool().listening()), (1, 2));
    lan.inject(&tcp_frame(
        peer,
        ports::TCP_ECHO,
        TcpControl::Rst,
        TcpSeqNumber(1001),
        None,
    ));
    lan.run_for(secs(1), Duration::from_millis(10), |l| {
        echo.poll(&mut l.server)
    });
    assert_eq!((echo.pool().half_open(), echo.pool().listening()), (0, 2));
}

#[test]
fn ping_is_answered() {
    let mut lan = Lan::new(4);
    introduce_client(&mut lan);
    lan.icmp_from_server.clear();
    for seq in 0..5u16 {
        lan.inject(&ping_frame(CLIENT_IP, 0x5a5a, seq, b"are you there?"));
    }
    lan.run_for(secs(1), Duration::from_millis(10), |_| false);
    let replies: Vec<_> = lan
        .icmp_from_server
        .iter()
        .filter(|(kind, code, _)| (*kind, *code) == (0, 0))
        .map(|(_, _, msg)| {
            let packet = Icmpv4Packet::new_checked(&msg[..]).unwrap();
            match Icmpv4Repr::parse(&packet, &Default::default()).unwrap() {
                Icmpv4Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                } => (ident, seq_no, data.to_vec()),
                other => panic!("not an echo reply: {other:?}"),
            }
        })
        .collect();
    let expected: Vec<_> = (0..5u16)
        .map(|s| (0x5a5a, s, b"are you there?".to_vec()))
        .collect();
    assert_eq!(replies, expected);
}

/// `ping -6`: ICMPv6 echo requests from the client's address are answered with the same
/// identifier, sequence number and data.
#[cfg(feature = "ipv6")]
#[test]
fn ping6_is_answered() {
    use smolsock::smoltcp::wire::{Icmpv6Packet, Icmpv6Repr};
    let mut lan = Lan::new(4);
    introduce_client_over(&mut lan, Family::V6);
    lan.icmp_from_server.clear();
    for seq in 0..5u16 {
        let icmp = Icmpv6Repr::EchoRequest {
            ident: 0x6666,
            seq_no: seq,
            data: b"are you there?",
        };
        let frame = attacker_frame(
            Family::V6.client(),
            IpProtocol::Icmpv6,
            icmp.buffer_len(),
            |buf, from, to| {
                let (IpAddress::Ipv6(from), IpAddress::Ipv6(to)) = (from, to) else {
                    unreachable!("IPv6 addresses")
                };
                let mut m = Icmpv6Packet::new_unchecked(buf);
                icmp.emit(from, to, &mut m, &Default::default());
            },
        );
        lan.inject(&frame);
    }
    lan.run_for(secs(1), Duration::from_millis(10), |_| false);
    let (server, client) = (SERVER_IP6, CLIENT_IP6);
    let replies: Vec<_> = lan
        .icmp_from_server
        .iter()
        .filter(|(kind, code, _)| (*kind, *code) == (129, 0))
        .map(|(_, _, msg)| {
            let packet = Icmpv6Packet::new_checked(&msg[..]).unwrap();
            match Icmpv6Repr::parse(&server, &client, &packet, &Default::default()).unwrap() {
                Icmpv6Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                } => (ident, seq_no, data.to_vec()),
                other => panic!("not an echo reply: {other:?}"),
            }
        })
        .collect();
    let expected: Vec<_> = (0..5u16)
        .map(|s| (0x6666, s, b"are you there?".to_vec()))
        .collect();
    assert_eq!(replies, expected, "checksums verified, every byte compared");
}

/// IPv6 packets with a next header smoltcp does not read (here a routing header, 43) draw an
/// ICMPv6 parameter problem each from smoltcp alone; the guard holds them to the same budget.
#[cfg(feature = "ipv6")]
#[test]
fn ipv6_parameter_problems_are_rate_limited() {
    let mut lan = Lan::new(4);
    introduce_client_over(&mut lan, Family::V6);
    let frame = attacker_frame(
        Family::V6.client(),
        IpProtocol::Ipv6Route,
        16,
        |buf, _, _| buf.copy_from_slice(&[59, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    );
    // Type 4: parameter problem.
    let (problems, suppressed) = lan.errors_drawn_by_1000(&frame, 4, None);
    eprintln!("1000 IPv6 packets with a routing header: {problems} parameter problems, {suppressed} suppressed");
    assert_eq!(problems, 10, "one second's burst");
    assert_eq!(suppressed, 990);
}

/// IPv4 packets of a protocol smoltcp does not handle (here 253, for experiments) draw an ICMP
/// protocol unreachable each from smoltcp alone; the guard holds them to the same budget.
#[test]
fn protocol_unreachable_errors_are_rate_limited() {
    let mut lan = Lan::new(4);
    introduce_client_over(&mut lan, Family::V4);
    let frame = attacker_frame(
        Family::V4.client(),
        IpProtocol::Unknown(253),
        16,
        |buf, _, _| buf.fill(0x5a),
    );
    // Type 3, code 2: protocol unreachable.
    let (unreachable, suppressed) = lan.errors_drawn_by_1000(&frame, 3, Some(2));
    eprintln!(
        "1000 IPv4 packets of protocol 253: {unreachable} protocol unreachables, {suppressed} suppressed"
    );
    assert_eq!(unreachable, 10, "one second's burst");
    assert_eq!(suppressed, 990);
}

#[test]
fn port_unreachable_errors_are_rate_limited() {
    port_unreachables(Family::V4);
}

/// The same over IPv6 (ICMPv6 destination unreachable, code 4): the same budget.
#[cfg(feature = "ipv6")]
#[test]
fn ipv6_port_unreachable_errors_are_rate_limited() {
    port_unreachables(Family::V6);
}

fn port_unreachables(family: Family) {
    let unreachable_kind = match family {
        Family::V4 => (3, 3),
        #[cfg(feature = "ipv6")]
        Family::V6 => (1, 4),
    };
    let mut lan = Lan::new(4);
    introduce_client_over(&mut lan, family);
    // 1,000 datagrams to a closed port within half a second: smoltcp alone answers each.
    let client = IpEndpoint::new(family.client(), 40000);
    let (kind, code) = unreachable_kind;
    let (unreachable, suppressed) =
        lan.errors_drawn_by_1000(&udp_frame(client, 7777, b"anyone?"), kind, Some(code));
    eprintln!(
        "{family:?}: 1000 datagrams to a closed port: {unreachable} port unreachables, {suppressed} suppressed"
    );
    assert_eq!(unreachable, 10, "one second's burst");
    assert_eq!(suppressed, 990);
    // A second later the budget is back.
    lan.run_for(secs(1), Duration::from_millis(100), |_| false);
    lan.inject(&udp_frame(client, 7777, b"anyone?"));
    lan.run_for(Duration::from_millis(10), Duration::from_millis(1), |_| {
        false
    });
    let after = lan
        .icmp_from_server
        .iter()
        .filter(|(k, c, _)| (*k, *c) == unreachable_kind)
        .count();
    assert_eq!(after, 11);
}
