//! IPv6 beside IPv4 (feature `ipv6`), without root: the services on the in-memory loopback and
//! between two stacks on an Ethernet wire (neighbour discovery instead of ARP, link-local
//! addresses from the MAC, SLAAC from a router advertisement), every byte checked, in virtual
//! time. The kernel peers over IPv6 are in `tests/tap.rs`, the hostile peers in
//! `tests/hostile.rs` and `tests/regressions.rs`.
#![cfg(feature = "ipv6")]

use smolsock::clock::{Clock, Duration, VirtualClock};
use smolsock::device::{Loopback, Wire, WireEnd};
use smolsock::event_loop::{next_step, run_until, run_virtual, WhenIdle, Work};
use smolsock::service::{ports, EchoClient, Service, UdpEcho, UpperEcho, Verdict};
use smolsock::smoltcp::iface::SocketStorage;
use smolsock::smoltcp::phy::{Device, TxToken};
use smolsock::smoltcp::time::Instant;
use smolsock::smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, HardwareAddress, Icmpv6Packet,
    Icmpv6Repr, IpAddress, IpCidr, IpEndpoint, IpProtocol, Ipv6Address, Ipv6Cidr, Ipv6Packet,
    Ipv6Repr, NdiscPrefixInfoFlags, NdiscPrefixInformation, NdiscRepr, NdiscRouterFlags,
    RawHardwareAddress, IPV6_LINK_LOCAL_ALL_NODES,
};
use smolsock::storage::{TcpStorage, UdpLaneStorage, UdpStorage};
use smolsock::tcp::{EphemeralPorts, PoolConfig};
use smolsock::udp::UdpClient;
use smolsock::{Stack, StackConfig};

fn leak<T>(value: T) -> &'static mut T {
    Box::leak(Box::new(value))
}

fn sockets(n: usize) -> &'static mut [SocketStorage<'static>] {
    (0..n)
        .map(|_| SocketStorage::EMPTY)
        .collect::<Vec<_>>()
        .leak()
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0; len];
    smolsock::sim::Prng::new(seed).fill(&mut bytes);
    bytes
}

fn echo_server(stack: &mut Stack<'static>, n: usize) -> UpperEcho<4> {
    let storage: Vec<&'static mut TcpStorage<4096, 4096>> =
        (0..n).map(|_| leak(TcpStorage::new())).collect();
    UpperEcho::<4>::new(stack, storage, PoolConfig::new(ports::TCP_ECHO, n)).unwrap()
}

fn udp_echo(stack: &mut Stack<'static>) -> UdpEcho<1472> {
    UdpEcho::<1472>::new(
        stack,
        leak(UdpStorage::<16, 16384>::new()),
        leak(UdpLaneStorage::<4, 8192>::new()),
        ports::UDP_ECHO,
    )
    .unwrap()
}

const V4: IpAddress = IpAddress::v4(127, 0, 0, 1);
const V6: Ipv6Address = Ipv6Address::LOCALHOST;

/// One loopback stack at 127.0.0.1 and ::1: TCP echo over both at once, UDP echo over IPv6,
/// every byte checked.
#[test]
fn loopback_serves_tcp_over_both_families_at_once_and_udp_over_ipv6() {
    let _ = env_logger::builder().is_test(true).try_init();
    let clock = VirtualClock::default();
    let mut dev = Loopback::<1500, 64>::new();
    let config = StackConfig::ip(IpCidr::new(V4, 8)).with_ipv6(Ipv6Cidr::new(V6, 128));
    let mut stack = Stack::new(config, &mut dev, sockets(12), clock.now());
    let mut echo = echo_server(&mut stack, 3);
    let mut udp = udp_echo(&mut stack);
    let mut ports_alloc = EphemeralPorts::new(6);
    let payload4 = random_bytes(100_000, 4);
    let payload6 = random_bytes(100_000, 6);
    let h4 = stack
        .add_tcp(leak(TcpStorage::<4096, 4096>::new()))
        .unwrap();
    let h6 = stack
        .add_tcp(leak(TcpStorage::<4096, 4096>::new()))
        .unwrap();
    let mut c4 = EchoClient::connect(
        &mut stack,
        h4,
        IpEndpoint::new(V4, ports::TCP_ECHO),
        &mut ports_alloc,
        &payload4,
    )
    .unwrap();
    let mut c6 = EchoClient::connect(
        &mut stack,
        h6,
        IpEndpoint::new(IpAddress::Ipv6(V6), ports::TCP_ECHO),
        &mut ports_alloc,
        &payload6,
    )
    .unwrap();
    let hu = stack.add_udp(leak(UdpStorage::<8, 8192>::new())).unwrap();
    let mut cu = UdpClient::bind_ephemeral(&mut stack, hu, &mut ports_alloc).unwrap();
    let udp_to = IpEndpoint::new(IpAddress::Ipv6(V6), ports::UDP_ECHO);
    let datagrams: Vec<Vec<u8>> = (0..5)
        .map(|i| random_bytes(1 + i * 300, i as u64))
        .collect();
    for d in &datagrams {
        cu.send_to(&mut stack, d, udp_to).unwrap();
    }
    let mut replies = Vec::new();
    run_until(&mut stack, &mut dev, &clock, Duration::from_secs(10), |s| {
        let mut p = echo.poll(s) | udp.poll(s) | c4.poll(s) | c6.poll(s);
        let mut buf = [0u8; 1500];
        while let Ok(Some((n, from))) = cu.recv_from(s, &mut buf) {
            assert_eq!(from, udp_to);
            replies.push(buf[..n].to_vec());
            p = true;
        }
        let done = c4.outcome().is_some() && c6.outcome().is_some() && replies.len() == 5;
        Work::done_if(done, p)
    })
    .unwrap();
    // EchoClient compares every byte of the reply with the upper-cased payload.
    assert_eq!(c4.outcome(), Some(Ok(Verdict::Verified)));
    assert_eq!(c6.outcome(), Some(Ok(Verdict::Verified)));
    let expected: Vec<Vec<u8>> = datagrams.iter().map(|d| d.to_ascii_uppercase()).collect();
    assert_eq!(replies, expected);
}

const SERVER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const CLIENT_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
const SERVER_IP6: Ipv6Address = Ipv6Address::new(0xfd00, 0x69, 0, 0, 0, 0, 0, 1);
const CLIENT_IP6: Ipv6Address = Ipv6Address::new(0xfd00, 0x69, 0, 0, 0, 0, 0, 2);

type W = Wire<1514, 64>;

/// A server and a client stack on an Ethernet wire, both dual-stack.
struct Pair {
    clock: VirtualClock,
    server: Stack<'static>,
    client: Stack<'static>,
    a: WireEnd<'static, 1514, 64>,
    b: WireEnd<'static, 1514, 64>,
}

impl Pair {
    fn new(server: StackConfig, client: StackConfig) -> Pair {
        let _ = env_logger::builder().is_test(true).try_init();
        let clock = VirtualClock::default();
        let wire: &'static W = leak(W::new());
        let (mut a, mut b) = wire.ends();
        let server = Stack::new(server, &mut a, sockets(8), clock.now());
        let client = Stack::new(client, &mut b, sockets(8), clock.now());
        Pair {
            clock,
            server,
            client,
            a,
            b,
        }
    }

    fn lan() -> Pair {
        let v4 = |last| IpCidr::new(IpAddress::v4(192, 168, 69, last), 24);
        Pair::new(
            StackConfig::ethernet(SERVER_MAC, v4(1))
                .with_ipv6(Ipv6Cidr::new(SERVER_IP6, 64))
                .with_seed(1),
            StackConfig::ethernet(CLIENT_MAC, v4(100))
                .with_ipv6(Ipv6Cidr::new(CLIENT_IP6, 64))
                .with_seed(2),
        )
    }

    /// Run both stacks and `work` until it returns `None` or 30 s of virtual time pass.
    fn run(
        &mut self,
        mut work: impl FnMut(&mut Stack<'static>, &mut Stack<'static>) -> Option<bool>,
    ) {
        let deadline = self.clock.now() + Duration::from_secs(30);
        let (server, client, a, b) = (&mut self.server, &mut self.client, &mut self.a, &mut self.b);
        run_virtual(&self.clock, deadline, WhenIdle::Stall, |now| {
            let mut p = server.poll(now, a) | client.poll(now, b);
            p |= work(server, client)?;
            let next = next_step(server, a, now, p);
            Some(next.sooner(next_step(client, b, now, p)))
        })
        .unwrap();
    }
}

/// TCP echo of 200 KB and UDP echo between two stacks over IPv6 on Ethernet: neighbour
/// discovery resolves each side, the UDP replies leave at once (the guard's mirror learnt the
/// client from its solicitation), every byte checked.
fn echo_between(mut pair: Pair, server: IpAddress) {
    let mut echo = echo_server(&mut pair.server, 1);
    let mut udp = udp_echo(&mut pair.server);
    let payload = random_bytes(200_000, 14);
    let h = pair
        .client
        .add_tcp(leak(TcpStorage::<4096, 4096>::new()))
        .unwrap();
    let mut ports_alloc = EphemeralPorts::new(14);
    let mut client = EchoClient::connect(
        &mut pair.client,
        h,
        IpEndpoint::new(server, ports::TCP_ECHO),
        &mut ports_alloc,
        &payload,
    )
    .unwrap();
    let hu = pair
        .client
        .add_udp(leak(UdpStorage::<8, 8192>::new()))
        .unwrap();
    let mut cu = UdpClient::bind_ephemeral(&mut pair.client, hu, &mut ports_alloc).unwrap();
    let udp_to = IpEndpoint::new(server, ports::UDP_ECHO);
    cu.send_to(&mut pair.client, b"over ipv6", udp_to).unwrap();
    let mut replies = Vec::new();
    let mut local = None;
    pair.run(|s, c| {
        let mut p = echo.poll(s) | udp.poll(s) | client.poll(c);
        local = local.or(c.tcp(h).local_endpoint().map(|e| e.addr));
        let mut buf = [0u8; 64];
        while let Ok(Some((n, from))) = cu.recv_from(c, &mut buf) {
            assert_eq!(from, udp_to);
            replies.push(buf[..n].to_vec());
            p = true;
        }
        if client.outcome().is_some() && !replies.is_empty() {
            return None;
        }
        Some(p)
    });
    assert_eq!(client.outcome(), Some(Ok(Verdict::Verified)));
    assert_eq!(replies, [b"OVER IPV6".to_vec()]);
    assert_eq!(udp.stats().dropped_unsent, 0);
    let local = local.expect("the client connected");
    assert!(matches!(local, IpAddress::Ipv6(_)));
    assert!(
        pair.server.neighbor_ready(local),
        "the guard's mirror knows {local} from neighbour discovery"
    );
}

#[test]
fn two_stacks_talk_over_ipv6_with_neighbour_discovery() {
    echo_between(Pair::lan(), IpAddress::Ipv6(SERVER_IP6));
}

/// Link-local addresses come from the MAC (modified EUI-64: fe80::ff:fe00:1 for 02:00:00:00:00:01)
/// and carry the services without any configured IPv6 address.
#[test]
fn link_local_addresses_from_the_mac_carry_the_services() {
    let link_local = StackConfig::link_local(SERVER_MAC).unwrap();
    assert_eq!(
        link_local,
        Ipv6Cidr::new(Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0xff, 0xfe00, 1), 64)
    );
    let v4 = |last| IpCidr::new(IpAddress::v4(192, 168, 69, last), 24);
    let pair = Pair::new(
        StackConfig::ethernet(SERVER_MAC, v4(1)).with_seed(3),
        StackConfig::ethernet(CLIENT_MAC, v4(100)).with_seed(4),
    );
    assert!(pair.server.ipv6_cidrs().eq([link_local]));
    echo_between(pair, IpAddress::Ipv6(link_local.address()));
}

/// SLAAC (feature `slaac`): a router advertisement for fd00:aa::/64 gives the server fd00:aa::ff:fe00:1 (its
/// MAC's interface identifier), and the services answer there.
#[cfg(feature = "slaac")]
#[test]
fn slaac_takes_an_address_from_a_router_advertisement() {
    let v4 = |last| IpCidr::new(IpAddress::v4(192, 168, 69, last), 24);
    let mut pair = Pair::new(
        StackConfig::ethernet(SERVER_MAC, v4(1))
            .with_slaac()
            .with_seed(5),
        StackConfig::ethernet(CLIENT_MAC, v4(100))
            .with_ipv6(Ipv6Cidr::new(
                Ipv6Address::new(0xfd00, 0xaa, 0, 0, 0, 0, 0, 2),
                64,
            ))
            .with_seed(6),
    );
    let prefix = Ipv6Address::new(0xfd00, 0xaa, 0, 0, 0, 0, 0, 0);
    let expected = Ipv6Cidr::from_link_prefix(
        &Ipv6Cidr::new(prefix, 64),
        HardwareAddress::Ethernet(SERVER_MAC),
    )
    .unwrap();
    assert!(!pair.server.ipv6_cidrs().any(|c| c == expected));
    // The router (the client's MAC, a link-local source) advertises the prefix to all nodes.
    let router = StackConfig::link_local(CLIENT_MAC).unwrap().address();
    let now = pair.clock.now();
    inject(&mut pair.b, now, &router_advert(router, prefix));
    let mut polls = 0;
    pair.run(|s, _| {
        polls += 1;
        if s.ipv6_cidrs().any(|c| c == expected) || polls > 100 {
            return None;
        }
        Some(false)
    });
    assert!(
        pair.server.ipv6_cidrs().any(|c| c == expected),
        "{:?}",
        pair.server.ipv6_cidrs().collect::<Vec<_>>()
    );
    echo_between(pair, IpAddress::Ipv6(expected.address()));
}

fn inject(end: &mut WireEnd<'static, 1514, 64>, now: Instant, frame: &[u8]) {
    let token = end.transmit(now).expect("room on the wire");
    token.consume(frame.len(), |buf| buf.copy_from_slice(frame));
}

/// A router advertisement from `router` (link-local) for `prefix`/64, on-link and for
/// address configuration, to all nodes.
fn router_advert(router: Ipv6Address, prefix: Ipv6Address) -> Vec<u8> {
    let lladdr = RawHardwareAddress::from(CLIENT_MAC);
    let icmp = Icmpv6Repr::Ndisc(NdiscRepr::RouterAdvert {
        hop_limit: 64,
        flags: NdiscRouterFlags::empty(),
        router_lifetime: smolsock::smoltcp::time::Duration::from_secs(1800),
        reachable_time: smolsock::smoltcp::time::Duration::ZERO,
        retrans_time: smolsock::smoltcp::time::Duration::ZERO,
        lladdr: Some(lladdr),
        mtu: None,
        prefix_info: Some(NdiscPrefixInformation {
            prefix_len: 64,
            flags: NdiscPrefixInfoFlags::ON_LINK | NdiscPrefixInfoFlags::ADDRCONF,
            valid_lifetime: smolsock::smoltcp::time::Duration::from_secs(86400),
            preferred_lifetime: smolsock::smoltcp::time::Duration::from_secs(14400),
            prefix,
        }),
    });
    let ip = Ipv6Repr {
        src_addr: router,
        dst_addr: IPV6_LINK_LOCAL_ALL_NODES,
        next_header: IpProtocol::Icmpv6,
        payload_len: icmp.buffer_len(),
        hop_limit: 255,
    };
    let eth = EthernetRepr {
        src_addr: CLIENT_MAC,
        dst_addr: EthernetAddress([0x33, 0x33, 0, 0, 0, 1]),
        ethertype: EthernetProtocol::Ipv6,
    };
    let mut frame = vec![0u8; eth.buffer_len() + ip.buffer_len() + ip.payload_len];
    let mut e = EthernetFrame::new_unchecked(&mut frame[..]);
    eth.emit(&mut e);
    let mut p = Ipv6Packet::new_unchecked(e.payload_mut());
    ip.emit(&mut p);
    let mut m = Icmpv6Packet::new_unchecked(p.payload_mut());
    icmp.emit(
        &router,
        &IPV6_LINK_LOCAL_ALL_NODES,
        &mut m,
        &Default::default(),
    );
    frame
}
