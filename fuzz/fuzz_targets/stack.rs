//! The whole stack under arbitrary traffic: frames decoded from the input (spoofed SYNs and
//! floods, segments that follow the server's own sequence numbers, RSTs and SYNs across the
//! window, UDP from unresolvable senders, ARP, raw bytes) and jumps of virtual time, fed into a
//! `Stack` running UpperEcho 8000, FramedEcho 9000, UdpEcho 8848 and UdpSink 8888, while one
//! legitimate client (its own stack, on the same link) echoes a payload through port 8000.
//!
//! Checked on every input:
//! - no panic anywhere, and no livelock: each step runs a bounded number of rounds, and the
//!   final drain must finish within a bounded number of rounds and of virtual time;
//! - every frame the server sends parses strictly (Ethernet, ARP or IPv4 with valid checksums,
//!   TCP/UDP with valid checksums) and comes from the server's own MAC and IP;
//! - the pools' counters stay consistent (accepted >= closed + reset, idle/stalled/evicted
//!   within reset, slots in LISTEN <= backlog, phases <= pool size), and the UDP services never
//!   count more datagrams (answered, dropped, pending) than they received;
//! - the legitimate client's echo, which the attacker never touches (no frame uses its address),
//!   comes back complete with every byte checked (`EchoClient`).
//!
//! The client's connection is established before the attack starts; virtual time jumps at most
//! 4 s at once and each jump is followed by a round, so it is never idle long enough for a
//! timeout to be fair game.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smolsock::device::{Wire, WireEnd};
use smolsock::service::{
    poll_all, ports, EchoClient, FramedEcho, Service, UdpEcho, UdpSink, UpperEcho,
};
use smolsock::smoltcp::iface::{SocketHandle, SocketStorage};
use smolsock::smoltcp::phy::{Device, TxToken};
use smolsock::smoltcp::socket::tcp::State;
use smolsock::smoltcp::time::{Duration, Instant};
use smolsock::smoltcp::wire::{EthernetAddress, IpCidr, IpEndpoint, Ipv4Address, Ipv4Cidr};
use smolsock::storage::{TcpStorage, UdpLaneStorage, UdpStorage};
use smolsock::service::Verdict;
use smolsock::tcp::{EphemeralPorts, PoolConfig};
use smolsock::{Stack, StackConfig};

#[path = "../../tests/frames/mod.rs"]
mod frames;
use frames::{flag, Hosts, Parsed, Segment};

const MTU: usize = 1514;
/// Frames a direction of a link holds; more are dropped (as a NIC's full ring does).
const RING: usize = 64;
type Link = Wire<MTU, RING>;
type End<'w> = WireEnd<'w, MTU, RING>;

const SERVER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
const SERVER_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 1);
const CLIENT_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x64]);
const CLIENT_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 100);
const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);

const POOL: usize = 4;
const BACKLOG: usize = 2;
const FRAME_MAX: usize = 512;
type Buffers = TcpStorage<2048, 2048>;
type Datagrams = UdpStorage<8, 4096>;
type Lane = UdpLaneStorage<4, 6000>;

/// Operations decoded from one input, at most.
const MAX_OPS: usize = 300;
/// Rounds of the final drain, at most: more is a livelock.
const DRAIN_ROUNDS: u32 = 200_000;
/// Rounds in a row at one instant during the drain, at most: more is a livelock.
const SPIN_ROUNDS: u32 = 5_000;

/// The input, read a little at a time; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}

/// A connection (or handshake) of an attacker, learnt from what the server sent it.
#[derive(Debug, Clone, Copy)]
struct Session {
    ip: Ipv4Address,
    port: u16,
    server_port: u16,
    /// The next sequence number the server expects from the attacker.
    ours: u32,
    /// The next sequence number the server will send.
    theirs: u32,
}

/// An attacker's host: any address of the subnet but the client's (the network address, the
/// broadcast address and the server's own included), or one outside it.
fn attacker(b: u8) -> (EthernetAddress, Ipv4Address) {
    let host = if b == 100 { 101 } else { b };
    let ip = if b & 0x80 != 0 && b.is_multiple_of(7) {
        Ipv4Address::new(10, 0, 0, host)
    } else {
        Ipv4Address::new(192, 168, 69, host)
    };
    (EthernetAddress([0x02, 0xaa, 0, 0, 0, host]), ip)
}

fn port(b: u8, other: u16) -> u16 {
    match b % 8 {
        0..=2 => ports::TCP_ECHO,
        3 | 4 => ports::FRAMED_ECHO,
        5 => ports::UDP_ECHO,
        6 => ports::UDP_SINK,
        _ => other,
    }
}

fn send(end: &mut End<'_>, now: Instant, frame: &[u8]) {
    if let Some(tx) = end.transmit(now) {
        tx.consume(frame.len().min(MTU), |buf| {
            buf.copy_from_slice(&frame[..buf.len()])
        });
    }
}

/// Everything of one run.
struct World<'a, 'd> {
    now: Instant,
    server: Stack<'a>,
    server_dev: End<'a>,
    /// The harness's end of the server's link (frames to and from the server).
    server_port: End<'a>,
    client: Stack<'a>,
    client_dev: End<'a>,
    client_port: End<'a>,
    echo: UpperEcho<POOL>,
    framed: FramedEcho<POOL, FRAME_MAX>,
    udp_echo: UdpEcho<1472>,
    sink: UdpSink,
    legit: EchoClient<'d>,
    legit_handle: SocketHandle,
    sessions: Vec<Session>,
    /// Attacker addresses the server asked for with ARP.
    asked: Vec<Ipv4Address>,
    /// Well-formed datagrams injected to 8848 and 8888; replies seen from 8848.
    udp_to_echo: u64,
    udp_to_sink: u64,
    udp_sink_bytes: u64,
    udp_replies: u64,
}

impl World<'_, '_> {
    /// One round of everything: the server's poll and services, its frames to the client (each
    /// checked), the client's poll and echo, its frames to the server. `true` if anything moved.
    fn round(&mut self) -> bool {
        let now = self.now;
        let mut progress = self.server.poll(now, &mut self.server_dev);
        progress |= poll_all(
            &mut self.server,
            &mut [
                &mut self.echo,
                &mut self.framed,
                &mut self.udp_echo,
                &mut self.sink,
            ],
        );
        self.check_counters();
        while let Some((rx, _)) = self.server_port.receive(now) {
            progress = true;
            let frame = rx.0;
            let to_client = self.observe(&frame);
            if to_client {
                send(&mut self.client_port, now, &frame);
            }
        }
        progress |= self.client.poll(now, &mut self.client_dev);
        progress |= self.legit.poll(&mut self.client);
        while let Some((rx, _)) = self.client_port.receive(now) {
            progress = true;
            send(&mut self.server_port, now, &rx.0);
        }
        progress
    }

    /// Check a frame the server sent; learn attacker sessions and ARP questions from it.
    /// Returns whether the client should get it.
    fn observe(&mut self, frame: &[u8]) -> bool {
        let parsed = match frames::parse(frame) {
            Ok(p) => p,
            Err(e) => panic!("the server sent a malformed frame ({e}): {frame:02x?}"),
        };
        let dst_mac = EthernetAddress::from_bytes(&frame[0..6]);
        let src_mac = EthernetAddress::from_bytes(&frame[6..12]);
        assert_eq!(src_mac, SERVER_MAC, "a frame from another MAC: {parsed:?}");
        match parsed {
            Parsed::Arp {
                reply,
                sender,
                target_ip,
                ..
            } => {
                assert_eq!(sender, (SERVER_MAC, SERVER_IP), "ARP for someone else");
                if !reply && target_ip != CLIENT_IP && !self.asked.contains(&target_ip) {
                    if self.asked.len() >= 32 {
                        self.asked.remove(0);
                    }
                    self.asked.push(target_ip);
                }
            }
            Parsed::Tcp {
                hosts,
                src_port,
                dst_port,
                seq,
                ack,
                flags,
                len,
                ..
            } => {
                assert_eq!(hosts.src_ip, SERVER_IP, "TCP from another address");
                if hosts.dst_ip != CLIENT_IP {
                    self.learn(hosts.dst_ip, dst_port, src_port, seq, ack, flags, len);
                }
            }
            Parsed::Udp {
                hosts, src_port, ..
            } => {
                assert_eq!(hosts.src_ip, SERVER_IP, "UDP from another address");
                assert_eq!(src_port, ports::UDP_ECHO, "UDP from a port but the echo's");
                self.udp_replies += 1;
            }
            Parsed::OtherIpv4(hosts, _) => {
                assert_eq!(hosts.src_ip, SERVER_IP, "IPv4 from another address");
            }
        }
        dst_mac == CLIENT_MAC || dst_mac == BROADCAST
    }

    #[allow(clippy::too_many_arguments)]
    fn learn(
        &mut self,
        ip: Ipv4Address,
        port: u16,
        server_port: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        len: usize,
    ) {
        let at = self
            .sessions
            .iter()
            .position(|s| s.ip == ip && s.port == port && s.server_port == server_port);
        if flags & flag::RST != 0 {
            if let Some(i) = at {
                self.sessions.remove(i);
            }
            return;
        }
        let theirs = seq
            .wrapping_add(len as u32)
            .wrapping_add(u32::from(flags & flag::SYN != 0))
            .wrapping_add(u32::from(flags & flag::FIN != 0));
        let session = Session {
            ip,
            port,
            server_port,
            ours: ack,
            theirs,
        };
        match at {
            Some(i) => {
                let s = &mut self.sessions[i];
                s.theirs = theirs;
                if flags & flag::ACK != 0 {
                    s.ours = ack;
                }
            }
            None if flags & flag::ACK != 0 => {
                if self.sessions.len() >= 32 {
                    self.sessions.remove(0);
                }
                self.sessions.push(session);
            }
            None => {}
        }
    }

    fn check_counters(&mut self) {
        let echo = self.echo.pool();
        check_pool(
            "8000",
            echo.stats(),
            echo.listening(),
            echo.half_open(),
            echo.connections().count(),
            echo.size(),
        );
        let framed = self.framed.pool();
        check_pool(
            "9000",
            framed.stats(),
            framed.listening(),
            framed.half_open(),
            framed.connections().count(),
            framed.size(),
        );
        let udp = self.udp_echo.stats();
        let handled =
            udp.datagrams + udp.too_large + udp.unanswerable + udp.dropped_unsent + udp.pending;
        assert!(
            handled <= self.udp_to_echo,
            "the UDP echo handled more datagrams than it received: {udp:?}, {} sent to it",
            self.udp_to_echo
        );
        assert!(
            self.udp_replies <= udp.datagrams,
            "{} replies seen, {udp:?}",
            self.udp_replies
        );
        let sink = self.sink.stats();
        assert!(
            sink.datagrams <= self.udp_to_sink && sink.bytes <= self.udp_sink_bytes,
            "{sink:?}"
        );
    }

    /// Inject an attacker's frame; count the well-formed datagrams for the UDP services.
    fn inject(&mut self, frame: &[u8]) {
        if let Ok(Parsed::Udp {
            hosts,
            dst_port,
            payload,
            ..
        }) = frames::parse(frame)
        {
            if hosts.dst_ip == SERVER_IP
                || hosts.dst_ip.is_broadcast()
                || hosts.dst_ip == Ipv4Address::new(192, 168, 69, 255)
            {
                match dst_port {
                    ports::UDP_ECHO => self.udp_to_echo += 1,
                    ports::UDP_SINK => {
                        self.udp_to_sink += 1;
                        self.udp_sink_bytes += payload.len() as u64;
                    }
                    _ => {}
                }
            }
        }
        let now = self.now;
        send(&mut self.server_port, now, frame);
    }

    fn legit_state(&mut self) -> State {
        self.client.tcp(self.legit_handle).state()
    }

    /// The next instant a timer of either stack is due (`None`: none runs).
    fn next_timer(&mut self) -> Option<Instant> {
        let now = self.now;
        match (self.server.poll_at(now), self.client.poll_at(now)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

fn check_pool(
    name: &str,
    stats: smolsock::tcp::PoolStats,
    listening: usize,
    half_open: usize,
    connected: usize,
    size: usize,
) {
    assert!(
        stats.accepted >= stats.closed + stats.reset,
        "port {name}: {stats:?}"
    );
    assert!(
        stats.idle_timeouts + stats.send_timeouts + stats.evicted <= stats.reset,
        "port {name}: {stats:?}"
    );
    assert!(
        listening <= BACKLOG,
        "port {name}: {listening} sockets listen, backlog {BACKLOG}"
    );
    assert!(listening + half_open + connected <= size, "port {name}: {listening} listening + {half_open} half-open + {connected} connected > {size}");
    assert!(
        stats.accepted - stats.closed - stats.reset >= connected as u64,
        "port {name}: {connected} connected, {stats:?}"
    );
}

fn run(data: &[u8]) {
    let mut input = Input(data);
    let seed = input.u32();
    let mut payload = vec![0u8; 1024 + usize::from(input.u16()) % 15_000];
    smolsock::sim::Prng::new(u64::from(seed)).fill(&mut payload);

    let server_link = Link::new();
    let client_link = Link::new();
    let (mut server_dev, server_port) = server_link.ends();
    let (client_port, mut client_dev) = client_link.ends();

    let mut server_sockets: Vec<SocketStorage<'_>> =
        (0..2 * POOL + 3).map(|_| SocketStorage::EMPTY).collect();
    let mut client_sockets: Vec<SocketStorage<'_>> = (0..1).map(|_| SocketStorage::EMPTY).collect();
    let mut echo_buffers: Vec<Buffers> = (0..POOL).map(|_| Buffers::new()).collect();
    let mut framed_buffers: Vec<Buffers> = (0..POOL).map(|_| Buffers::new()).collect();
    let mut udp_buffers = Box::new(Datagrams::new());
    let mut sink_buffers = Box::new(Datagrams::new());
    let mut lane_buffers = Box::new(Lane::new());
    let mut client_buffers = Box::new(Buffers::new());

    let now = Instant::from_millis(1_000);
    let config = StackConfig::ethernet(SERVER_MAC, IpCidr::Ipv4(Ipv4Cidr::new(SERVER_IP, 24)))
        .with_seed(u64::from(seed) ^ 0x5eed);
    let mut server = Stack::new(config, &mut server_dev, &mut server_sockets[..], now);
    let echo = UpperEcho::<POOL>::new(
        &mut server,
        echo_buffers.iter_mut(),
        PoolConfig::new(ports::TCP_ECHO, BACKLOG),
    )
    .unwrap();
    let framed = FramedEcho::<POOL, FRAME_MAX>::new(
        &mut server,
        framed_buffers.iter_mut(),
        PoolConfig::new(ports::FRAMED_ECHO, BACKLOG),
    )
    .unwrap();
    let udp_echo = UdpEcho::<1472>::new(
        &mut server,
        &mut udp_buffers,
        &mut lane_buffers,
        ports::UDP_ECHO,
    )
    .unwrap();
    let sink = UdpSink::new(&mut server, &mut sink_buffers, ports::UDP_SINK).unwrap();

    let config = StackConfig::ethernet(CLIENT_MAC, IpCidr::Ipv4(Ipv4Cidr::new(CLIENT_IP, 24)))
        .with_seed(u64::from(seed));
    let mut client = Stack::new(config, &mut client_dev, &mut client_sockets[..], now);
    let legit_handle = client.add_tcp(&mut client_buffers).unwrap();
    let to = IpEndpoint::new(SERVER_IP.into(), ports::TCP_ECHO);
    let legit = EchoClient::connect(
        &mut client,
        legit_handle,
        to,
        &mut EphemeralPorts::new(u64::from(seed)),
        &payload,
    )
    .unwrap()
    .with_window(2048);

    let mut world = World {
        now,
        server,
        server_dev,
        server_port,
        client,
        client_dev,
        client_port,
        echo,
        framed,
        udp_echo,
        sink,
        legit,
        legit_handle,
        sessions: Vec::new(),
        asked: Vec::new(),
        udp_to_echo: 0,
        udp_to_sink: 0,
        udp_sink_bytes: 0,
        udp_replies: 0,
    };

    // The client's connection is up before the attacker starts.
    let mut rounds = 0;
    while world.legit_state() != State::Established && world.legit.outcome().is_none() {
        if !world.round() {
            world.now += Duration::from_millis(10);
        }
        rounds += 1;
        assert!(
            rounds < 1_000,
            "the legitimate client did not connect on a quiet link"
        );
    }

    let mut ops = 0;
    while !input.is_empty() && ops < MAX_OPS {
        ops += 1;
        step(&mut world, &mut input);
        world.round();
    }

    // Drain: run until the client's echo is over, jumping to the next timer whenever nothing
    // moves, within bounded rounds and virtual time.
    let deadline = world.now + Duration::from_secs(600);
    let mut spins = 0;
    for _ in 0..DRAIN_ROUNDS {
        if world.legit.outcome().is_some() {
            break;
        }
        if world.round() {
            spins += 1;
            assert!(
                spins < SPIN_ROUNDS,
                "livelock: {SPIN_ROUNDS} busy rounds at {}",
                world.now
            );
            continue;
        }
        spins = 0;
        let next = world
            .next_timer()
            .unwrap_or(world.now + Duration::from_secs(1));
        world.now = next.max(world.now + Duration::from_millis(1));
        assert!(
            world.now < deadline,
            "the legitimate echo did not finish in 600 s of virtual time"
        );
    }
    assert_eq!(
        world.legit.outcome(),
        Some(Ok(Verdict::Verified)),
        "the legitimate client's echo ({} bytes, {} received)",
        payload.len(),
        world.legit.received()
    );
    world.check_counters();
}

/// Decode and perform one attacker's step.
fn step(world: &mut World<'_, '_>, input: &mut Input<'_>) {
    let op = input.u8();
    let (mac, ip) = attacker(input.u8());
    let dst_mac = if op & 0x80 != 0 {
        BROADCAST
    } else {
        SERVER_MAC
    };
    let hosts = Hosts {
        src_mac: mac,
        dst_mac,
        src_ip: ip,
        dst_ip: SERVER_IP,
    };
    match op % 10 {
        // A spoofed SYN.
        0 => {
            let src_port = input.u16();
            let dst = port(input.u8(), input.u16());
            let frame = frames::tcp(&hosts, &Segment::syn(src_port, dst, input.u32()));
            world.inject(&frame);
        }
        // Any TCP segment: flags, numbers, window, options and payload from the input.
        1 => {
            let src_port = input.u16();
            let dst_port = port(input.u8(), input.u16());
            let seq = input.u32();
            let ack = input.u32();
            let flags = input.u8();
            let window = input.u16();
            let options_len = usize::from(input.u8() % 41);
            let options = input.bytes(options_len);
            let len = usize::from(input.u8());
            let payload = input.bytes(len);
            let segment = Segment {
                src_port,
                dst_port,
                seq,
                ack,
                flags,
                window,
                options,
                payload,
            };
            world.inject(&frames::tcp(&hosts, &segment));
        }
        // Follow a session the server is having with an attacker.
        2 => {
            if world.sessions.is_empty() {
                return;
            }
            let i = usize::from(input.u8()) % world.sessions.len();
            let s = world.sessions[i];
            let (mac, _) = attacker(s.ip.octets()[3]);
            let hosts = Hosts {
                src_mac: mac,
                dst_mac: SERVER_MAC,
                src_ip: s.ip,
                dst_ip: SERVER_IP,
            };
            let kind = input.u8();
            let mut segment = Segment::new(s.port, s.server_port, s.ours, s.theirs, flag::ACK);
            let mut data = Vec::new();
            match kind % 9 {
                0 => segment.window = input.u16() & if kind & 0x80 != 0 { 0 } else { 0xffff },
                1 => {
                    // Data; to the framed echo, often a well-formed frame.
                    let len = usize::from(input.u8());
                    if s.server_port == ports::FRAMED_ECHO && kind & 0x10 != 0 {
                        data.extend_from_slice(&(len as u32).to_be_bytes());
                    }
                    data.extend_from_slice(input.bytes(len));
                    segment.flags |= flag::PSH;
                }
                2 => segment.flags |= flag::FIN,
                3 => segment.flags = flag::RST,
                4 => {
                    segment.flags = flag::RST | (kind & flag::ACK);
                    segment.seq = s.ours.wrapping_add(1 + u32::from(input.u16()));
                }
                5 => {
                    segment.flags = flag::SYN;
                    segment.seq = s.ours.wrapping_add(u32::from(input.u16()));
                }
                6 => {
                    for _ in 0..input.u8() % 16 {
                        world.inject(&frames::tcp(&hosts, &segment));
                    }
                }
                7 => {
                    // Out of order or overlapping data.
                    segment.seq = s
                        .ours
                        .wrapping_add(u32::from(input.u16()))
                        .wrapping_sub(512);
                    let len = usize::from(input.u8());
                    data.extend_from_slice(input.bytes(len));
                }
                _ => {
                    segment.ack = s
                        .theirs
                        .wrapping_add(u32::from(input.u16()))
                        .wrapping_sub(1024)
                }
            }
            segment.payload = &data;
            world.inject(&frames::tcp(&hosts, &segment));
            let advance = data.len() as u32 + u32::from(segment.flags & flag::FIN != 0);
            if segment.seq == s.ours && segment.flags & (flag::RST | flag::SYN) == 0 {
                world.sessions[i].ours = s.ours.wrapping_add(advance);
            }
        }
        // A datagram.
        3 => {
            let src_port = input.u16();
            let dst_port = port(5 + input.u8() % 3, input.u16());
            let len = usize::from(input.u16()) % 1500;
            let mut payload = input.bytes(len).to_vec();
            payload.resize(len, b'u');
            let payload = &payload[..len.min(MTU - frames::L4 - 8)];
            world.inject(&frames::udp(&hosts, src_port, dst_port, payload));
        }
        // ARP: a request for the server, or the answer to the server's question.
        4 => {
            let kind = input.u8();
            if kind & 1 == 0 || world.asked.is_empty() {
                world.inject(&frames::arp(mac, ip, dst_mac, SERVER_IP, kind & 0x40 != 0));
            } else {
                let asked = world.asked[usize::from(kind) % world.asked.len()];
                let (mac, _) = attacker(asked.octets()[3]);
                world.inject(&frames::arp(mac, asked, SERVER_MAC, SERVER_IP, true));
            }
        }
        // Raw bytes after an Ethernet header.
        5 => {
            let ethertype = match input.u8() % 3 {
                0 => [0x08, 0x00],
                1 => [0x08, 0x06],
                _ => input.u16().to_be_bytes(),
            };
            let len = usize::from(input.u8());
            let mut frame = Vec::with_capacity(14 + len);
            frame.extend_from_slice(dst_mac.as_bytes());
            frame.extend_from_slice(mac.as_bytes());
            frame.extend_from_slice(&ethertype);
            frame.extend_from_slice(input.bytes(len));
            sanitize(&mut frame);
            world.inject(&frame);
        }
        // A TCP/UDP frame with its IPv4 header mangled (options, fragments, TTL, lengths).
        6 => {
            let mut frame = frames::tcp(
                &hosts,
                &Segment::syn(input.u16(), ports::TCP_ECHO, input.u32()),
            );
            for _ in 0..input.u8() % 4 {
                let at = 14 + usize::from(input.u8()) % (frame.len() - 14);
                frame[at] = input.u8();
            }
            if input.u8() & 1 == 0 {
                // A correct IPv4 header checksum, so the mangling gets past it.
                let mut ip = smolsock::smoltcp::wire::Ipv4Packet::new_unchecked(&mut frame[14..]);
                if ip.check_len().is_ok() {
                    ip.fill_checksum();
                }
            }
            sanitize(&mut frame);
            world.inject(&frame);
        }
        // Time passes (at most 4 s at once: see the module docs).
        7 => world.now += Duration::from_millis(u64::from(input.u16()) % 4_001),
        // Rounds with no attack.
        8 => {
            for _ in 0..input.u8() % 8 {
                world.round();
            }
        }
        // A flood of spoofed SYNs from consecutive addresses.
        _ => {
            let n = 1 + input.u8() % 64;
            let first = input.u8();
            let dst = if input.u8() & 1 == 0 {
                ports::TCP_ECHO
            } else {
                ports::FRAMED_ECHO
            };
            for i in 0..n {
                let (mac, ip) = attacker(first.wrapping_add(i));
                let hosts = Hosts {
                    src_mac: mac,
                    dst_mac: SERVER_MAC,
                    src_ip: ip,
                    dst_ip: SERVER_IP,
                };
                world.inject(&frames::tcp(
                    &hosts,
                    &Segment::syn(40_000 + u16::from(i), dst, u32::from(i) << 20),
                ));
                if i % 16 == 15 {
                    world.round();
                }
            }
        }
    }
}

/// Keep raw frames away from the legitimate client's address (as an ARP sender or an IPv4
/// source), so that its connection stays undisturbed.
fn sanitize(frame: &mut [u8]) {
    let client = CLIENT_IP.octets();
    match frame.get(12..14) {
        Some([0x08, 0x06]) if frame.len() >= 32 && frame[28..32] == client => frame[31] ^= 1,
        Some([0x08, 0x00]) if frame.len() >= 30 && frame[26..30] == client => frame[29] ^= 1,
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| run(data));
