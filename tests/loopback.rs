//! The services on the in-memory loopback: every byte checked, in virtual time.

use smolsock::clock::{Clock, Duration, VirtualClock};
use smolsock::device::{Loopback, Pending, Wire};
use smolsock::event_loop::{next_step, run_until, run_virtual, WhenIdle, Work};
use smolsock::service::{
    ports, ChatClient, ChatServer, EchoClient, Service, Submitted, UdpEcho, UdpSink, UpperEcho,
};
use smolsock::service::{pump, ClientError, Mismatch, Verdict};
use smolsock::smoltcp::iface::SocketStorage;
use smolsock::smoltcp::socket::tcp::State;
use smolsock::smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, IpEndpoint};
use smolsock::stack::SocketStorageFull;
use smolsock::storage::{TcpStorage, UdpLaneStorage, UdpStorage};
use smolsock::tcp::{
    ClientState, ConnectError, EphemeralPorts, ListenerPool, PoolConfig, TcpClient,
};
use smolsock::udp::{DatagramTooLarge, UdpClient};
use smolsock::{Stack, StackConfig};

type Dev = Loopback<1500, 64>;

fn leak<T>(value: T) -> &'static mut T {
    Box::leak(Box::new(value))
}

fn sockets(n: usize) -> &'static mut [SocketStorage<'static>] {
    (0..n)
        .map(|_| SocketStorage::EMPTY)
        .collect::<Vec<_>>()
        .leak()
}

fn tcp_pool<const RX: usize, const TX: usize>(n: usize) -> &'static mut [TcpStorage<RX, TX>] {
    (0..n).map(|_| TcpStorage::new()).collect::<Vec<_>>().leak()
}

const LOCALHOST: IpAddress = IpAddress::v4(127, 0, 0, 1);

fn loopback(n_sockets: usize) -> (Stack<'static>, Dev, VirtualClock) {
    let _ = env_logger::builder().is_test(true).try_init();
    let clock = VirtualClock::default();
    let mut dev = Dev::new();
    let stack = Stack::new(
        StackConfig::ip(IpCidr::new(LOCALHOST, 8)),
        &mut dev,
        sockets(n_sockets),
        clock.now(),
    );
    (stack, dev, clock)
}

fn ep(port: u16) -> IpEndpoint {
    IpEndpoint::new(LOCALHOST, port)
}

/// The upper-case echo on port 8000: `N` sockets of `BUF` bytes each way, `backlog` listening.
fn echo_server<const N: usize, const BUF: usize>(
    stack: &mut Stack<'static>,
    backlog: usize,
) -> UpperEcho<N> {
    UpperEcho::new(
        stack,
        tcp_pool::<BUF, BUF>(N),
        PoolConfig::new(ports::TCP_ECHO, backlog),
    )
    .unwrap()
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0; len];
    smolsock::sim::Prng::new(seed).fill(&mut bytes);
    bytes
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A client that sends everything, collects every reply byte, then closes.
struct Collect {
    client: TcpClient,
    payload: Vec<u8>,
    sent: usize,
    reply: Vec<u8>,
    closed: bool,
}

impl Collect {
    fn connect(
        stack: &mut Stack<'static>,
        ports: &mut EphemeralPorts,
        port: u16,
        payload: Vec<u8>,
    ) -> Self {
        let handle = stack
            .add_tcp(leak(TcpStorage::<4096, 4096>::new()))
            .unwrap();
        let mut client = TcpClient::new(handle);
        client.connect(stack, ep(port), ports).unwrap();
        Collect {
            client,
            payload,
            sent: 0,
            reply: Vec::new(),
            closed: false,
        }
    }
    fn done(&mut self, stack: &mut Stack<'_>) -> bool {
        matches!(
            self.client.state(stack),
            ClientState::Closed | ClientState::Refused | ClientState::Reset
        )
    }
}

impl Service for Collect {
    fn poll(&mut self, stack: &mut Stack<'_>) -> bool {
        if self.client.state(stack) != ClientState::Connected {
            return false;
        }
        let mut progress = false;
        if let Ok(n) = self.client.send(stack, &self.payload[self.sent..]) {
            self.sent += n;
            progress |= n > 0;
        }
        let mut buf = [0u8; 2000];
        while let Ok(n @ 1..) = self.client.recv(stack, &mut buf) {
            self.reply.extend_from_slice(&buf[..n]);
            progress = true;
        }
        if self.reply.len() >= self.payload.len() && !self.closed {
            self.client.close(stack);
            self.closed = true;
            progress = true;
        }
        progress
    }
}

#[test]
fn hello_world_comes_back_upper_cased() {
    let (mut stack, mut dev, clock) = loopback(8);
    let mut echo = echo_server::<3, 1024>(&mut stack, 3);
    let mut ports_alloc = EphemeralPorts::new(7);
    let mut client = Collect::connect(
        &mut stack,
        &mut ports_alloc,
        ports::TCP_ECHO,
        b"hello world".to_vec(),
    );
    run_until(&mut stack, &mut dev, &clock, secs(5), |s| {
        let p = echo.poll(s) | client.poll(s);
        Work::done_if(client.done(s) && echo.pool().stats().closed == 1, p)
    })
    .unwrap();
    assert_eq!(client.reply, b"HELLO WORLD");
    assert_eq!(client.client.state(&mut stack), ClientState::Closed);
    assert_eq!(echo.pool().stats().accepted, 1);
    assert_eq!(echo.pool().stats().closed, 1);
}

/// Without the `medium-ip` feature (the firmware's build) the loopback and `StackConfig::ip`
/// use Ethernet framing: the interface ARPs for its own address and answers itself.
#[test]
fn the_loopback_also_works_with_ethernet_framing() {
    let _ = env_logger::builder().is_test(true).try_init();
    let clock = VirtualClock::default();
    let mut dev = Dev::with_medium(smolsock::smoltcp::phy::Medium::Ethernet);
    let mut stack = Stack::new(
        StackConfig::ethernet(StackConfig::LOOPBACK_MAC, IpCidr::new(LOCALHOST, 8)),
        &mut dev,
        sockets(4),
        clock.now(),
    );
    let mut echo = echo_server::<1, 1024>(&mut stack, 1);
    let mut ports_alloc = EphemeralPorts::new(3);
    let mut client = Collect::connect(
        &mut stack,
        &mut ports_alloc,
        ports::TCP_ECHO,
        b"framed in ethernet".to_vec(),
    );
    run_until(&mut stack, &mut dev, &clock, secs(5), |s| {
        let p = echo.poll(s) | client.poll(s);
        Work::done_if(client.done(s) && echo.pool().stats().closed == 1, p)
    })
    .unwrap();
    assert_eq!(client.reply, b"FRAMED IN ETHERNET");
}

#[test]
fn every_byte_value_only_ascii_letters_change() {
    let (mut stack, mut dev, clock) = loopback(8);
    let mut echo = echo_server::<2, 1024>(&mut stack, 2);
    let payload: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let mut ports_alloc = EphemeralPorts::new(1);
    let mut client = Collect::connect(
        &mut stack,
        &mut ports_alloc,
        ports::TCP_ECHO,
        payload.clone(),
    );
    run_until(&mut stack, &mut dev, &clock, secs(5), |s| {
        let p = echo.poll(s) | client.poll(s);
        Work::done_if(client.done(s) && echo.pool().stats().closed == 1, p)
    })
    .unwrap();
    let expected: Vec<u8> = payload
        .iter()
        .map(|&b| if b.is_ascii_lowercase() { b - 32 } else { b })
        .collect();
    assert_eq!(client.reply, expected);
}

#[test]
fn one_mebibyte_through_the_echo_byte_for_byte() {
    let (mut stack, mut dev, clock) = loopback(8);
    let mut echo = echo_server::<1, 8192>(&mut stack, 1);
    let payload = random_bytes(1 << 20, 42);
    let mut ports_alloc = EphemeralPorts::new(2);
    let mut client = Collect::connect(
        &mut stack,
        &mut ports_alloc,
        ports::TCP_ECHO,
        payload.clone(),
    );
    run_until(&mut stack, &mut dev, &clock, secs(60), |s| {
        let p = echo.poll(s) | client.poll(s);
        Work::done_if(client.done(s) && echo.pool().stats().closed == 1, p)
    })
    .unwrap();
    assert_eq!(client.reply.len(), payload.len());
    assert!(
        client.reply == payload.to_ascii_uppercase(),
        "reply differs"
    );
    let conn_stats = echo.pool().stats();
    assert_eq!(
        (conn_stats.accepted, conn_stats.closed, conn_stats.reset),
        (1, 1, 0)
    );
}

#[test]
fn three_clients_at_once_each_get_their_own_bytes() {
    let (mut stack, mut dev, clock) = loopback(10);
    let mut echo = echo_server::<3, 2048>(&mut stack, 3);
    let mut ports_alloc = EphemeralPorts::new(3);
    let mut clients: Vec<Collect> = (0..3)
        .map(|i| {
            Collect::connect(
                &mut stack,
                &mut ports_alloc,
                ports::TCP_ECHO,
                random_bytes(50_000 + i * 777, i as u64 + 10),
            )
        })
        .collect();
    run_until(&mut stack, &mut dev, &clock, secs(30), |s| {
        let mut p = echo.poll(s);
        for c in clients.iter_mut() {
            p |= c.poll(s);
        }
        Work::done_if(clients.iter_mut().all(|c| c.done(s)), p)
    })
    .unwrap();
    for c in &clients {
        assert_eq!(c.reply, c.payload.to_ascii_uppercase());
    }
    assert_eq!(echo.pool().stats().accepted, 3);
}

#[test]
fn exhausted_pool_refuses_then_recovers() {
    let (mut stack, mut dev, clock) = loopback(10);
    // Two sockets, backlog two: the third simultaneous client is refused.
    let mut echo = echo_server::<2, 1024>(&mut stack, 2);
    let mut ports_alloc = EphemeralPorts::new(4);
    let mut holders: Vec<TcpClient> = (0..2)
        .map(|_| {
            let h = stack
                .add_tcp(leak(TcpStorage::<1024, 1024>::new()))
                .unwrap();
            let mut c = TcpClient::new(h);
            c.connect(&mut stack, ep(ports::TCP_ECHO), &mut ports_alloc)
                .unwrap();
            c
        })
        .collect();
    run_until(&mut stack, &mut dev, &clock, secs(5), |s| {
        let p = echo.poll(s);
        if holders
            .iter_mut()
            .all(|c| c.state(s) == ClientState::Connected)
        {
            Work::Done
        } else {
            p.into()
        }
    })
    .unwrap();
    assert_eq!(echo.pool().listening(), 0);

    let mut late = Collect::connect(
        &mut stack,
        &mut ports_alloc,
        ports::TCP_ECHO,
        b"late".to_vec(),
    );
    run_until(&mut stack, &mut dev, &clock, secs(5), |s| {
        let p = echo.poll(s) | late.poll(s);
        Work::done_if(late.done(s), p)
    })
    .unwrap();
    assert_eq!(late.client.state(&mut stack), ClientState::Refused);
    assert_eq!(echo.pool().stats().exhausted, 1);

    // One holder leaves; the next client gets in and is served.
    holders[0].close(&mut stack);
    run_until(&mut stack, &mut dev, &clock, secs(5), |s| {
        let p = echo.poll(s);
        Work::done_if(echo.pool().listening() == 1, p)
    })
    .unwrap();
    let mut next = Collect::connect(
        &mut stack,
        &mut ports_alloc,
        ports::TCP_ECHO,
        b"next in line".to_vec(),
    );
    run_until(&mut stack, &mut dev, &clock, secs(10), |s| {
        let p = echo.poll(s) | next.poll(s);
        Work::done_if(next.done(s), p)
    })
    .unwrap();
    assert_eq!(next.reply, b"NEXT IN LINE");
    assert_eq!(holders[1].state(&mut stack), ClientState::Connected);
}

#[test]
fn restart_listens_again_on_the_same_port_at_once() {
    let (mut stack, mut dev, clock) = loopback(8);
    let mut echo = echo_server::<1, 1024>(&mut stack, 1);
    let mut ports_alloc = EphemeralPorts::new(5);
    let h = stack
        .add_tcp(leak(TcpStorage::<1024, 1024>::new()))
        .unwrap();
    let mut client = TcpClient::new(h);
    client
        .connect(&mut stack, ep(ports::TCP_ECHO), &mut ports_alloc)
        .unwrap();
    run_until(&mut stack, &mut dev, &clock, secs(5), |s| {
        let p = echo.poll(s);
        Work::done_if(
            client.state(s) == ClientState::Connected && echo.pool().stats().accepted == 1,
            p,
        )
    })
    .unwrap();
    // The server stops first (active close), so its socket ends in TIME-WAIT.
    echo.pool().stop(&mut stack);
    let mut client_closed = false;
    run_until(&mut stack, &mut dev, &clock, secs(5), |s| {
        let mut p = echo.poll(s);
        if !client_closed && client.state(s) == ClientState::Connected && !client.socket(s).may_recv() {
            client.close(s);
            client_closed = true;
            p = true;
        }
        let server_in_time_wait = s.sockets().iter().any(|(_, sock)| matches!(sock, smolsock::smoltcp::socket::Socket::Tcp(t) if t.state() == State::TimeWait && t.local_endpoint().map(|e| e.port) == Some(ports::TCP_ECHO)));
        if server_in_time_wait && echo.pool().stats().closed == 1 { Work::Done } else { p.into() }
    })
    .unwrap();
    let restarted_at = clock.now();
    echo.pool().start(&mut stack).unwrap();
    assert_eq!(
        echo.pool().listening(),
        1,
        "re-listen must not wait for TIME-WAIT"
    );
    let mut again = Collect::connect(
        &mut stack,
        &mut ports_alloc,
        ports::TCP_ECHO,
        b"again".to_vec(),
    );
    run_until(&mut stack, &mut dev, &clock, secs(5), |s| {
        let p = echo.poll(s) | again.poll(s);
        Work::done_if(again.done(s), p)
    })
    .unwrap();
    assert_eq!(again.reply, b"AGAIN");
    // Served well before the 10 s TIME-WAIT would have ended.
    assert!(clock.now() - restarted_at < secs(2));
}

#[test]
fn client_reset_mid_stream_costs_only_that_connection() {
    let (mut stack, mut dev, clock) = loopback(8);
    let mut echo = echo_server::<2, 1024>(&mut stack, 1);
    let mut ports_alloc = EphemeralPorts::new(6);
    let payload = random_bytes(100_000, 6);
    let h = stack
        .add_tcp(leak(TcpStorage::<4096, 4096>::new()))
        .unwrap();
    let mut rude = EchoClient::connect(
        &mut stack,
        h,
        ep(ports::TCP_ECHO),
        &mut ports_alloc,
        &payload,
    )
    .unwrap();
    run_until(&mut stack, &mut dev, &clock, secs(10), |s| {
        let p = echo.poll(s) | rude.poll(s);
        Work::done_if(rude.received() > 10_000, p)
    })
    .unwrap();
    rude.abort(&mut stack);
    let mut polite = Collect::connect(
        &mut stack,
        &mut ports_alloc,
        ports::TCP_ECHO,
        b"still there?".to_vec(),
    );
    run_until(&mut stack, &mut dev, &clock, secs(10), |s| {
        let p = echo.poll(s) | polite.poll(s);
        Work::done_if(polite.done(s) && echo.pool().stats().closed == 1, p)
    })
    .unwrap();
    assert_eq!(polite.reply, b"STILL THERE?");
    let st = echo.pool().stats();
    assert_eq!((st.accepted, st.reset, st.closed), (2, 1, 1));
}

#[test]
fn echo_client_checks_the_reply_and_reports_refusal() {
    let (mut stack, mut dev, clock) = loopback(8);
    let mut echo = echo_server::<1, 2048>(&mut stack, 1);
    let mut ports_alloc = EphemeralPorts::new(8);
    let payload = random_bytes(20_000, 8);
    let h = stack
        .add_tcp(leak(TcpStorage::<2048, 2048>::new()))
        .unwrap();
    let mut client = EchoClient::connect(
        &mut stack,
        h,
        ep(ports::TCP_ECHO),
        &mut ports_alloc,
        &payload,
    )
    .unwrap();
    run_until(&mut stack, &mut dev, &clock, secs(10), |s| {
        let p = echo.poll(s) | client.poll(s);
        Work::done_if(client.outcome().is_some(), p)
    })
    .unwrap();
    assert_eq!(client.outcome(), Some(Ok(Verdict::Verified)));
    assert_eq!(client.received(), payload.len());

    // Nobody listens on 8001: refused.
    let h = stack
        .add_tcp(leak(TcpStorage::<2048, 2048>::new()))
        .unwrap();
    let mut nobody = EchoClient::connect(&mut stack, h, ep(8001), &mut ports_alloc, b"x").unwrap();
    run_until(&mut stack, &mut dev, &clock, secs(10), |s| {
        let p = echo.poll(s) | nobody.poll(s);
        Work::done_if(nobody.outcome().is_some(), p)
    })
    .unwrap();
    assert_eq!(nobody.outcome(), Some(Err(ClientError::Refused)));
}

/// A wrong reply is the client's verdict on the server, not an error of the client: an echo
/// that does not upper-case fails the check at the first byte it left alone.
#[test]
fn echo_client_reports_a_wrong_reply_as_a_mismatch_verdict() {
    let (mut stack, mut dev, clock) = loopback(4);
    // A plain echo: bytes back as they came.
    let mut plain = ListenerPool::<1>::new(
        &mut stack,
        tcp_pool::<1024, 1024>(1),
        PoolConfig::new(7001, 1),
    )
    .unwrap();
    let h = stack
        .add_tcp(leak(TcpStorage::<1024, 1024>::new()))
        .unwrap();
    let mut ports_alloc = EphemeralPorts::new(3);
    let mut client =
        EchoClient::connect(&mut stack, h, ep(7001), &mut ports_alloc, b"OK then").unwrap();
    let mut chunk = [0u8; 256];
    run_until(&mut stack, &mut dev, &clock, secs(10), |s| {
        let mut p = plain.maintain(s, |_| {}).unwrap();
        for (_, handle, conn) in plain.connections() {
            p |= pump(s.tcp(handle), conn, &mut chunk, |_| {});
        }
        p |= client.poll(s);
        Work::done_if(client.outcome().is_some(), p)
    })
    .unwrap();
    // "OK then" comes back where "OK THEN" was expected: byte 3 is the first that differs.
    assert_eq!(
        client.outcome(),
        Some(Ok(Verdict::Mismatch(Mismatch::Byte { offset: 3 })))
    );
    assert_eq!(
        client.outcome().unwrap().unwrap().to_string(),
        "reply differs at byte 3"
    );
}

#[test]
fn ephemeral_ports_skip_ports_in_use_and_in_time_wait() {
    let (mut stack, mut dev, clock) = loopback(8);
    let mut echo = echo_server::<1, 1024>(&mut stack, 1);
    // A range of two ports: the first connection's port stays held through TIME-WAIT.
    let mut ports_alloc = EphemeralPorts::with_range(50000, 50001, 0);
    let mut first = Collect::connect(
        &mut stack,
        &mut ports_alloc,
        ports::TCP_ECHO,
        b"one".to_vec(),
    );
    let first_port = first.client.local_port();
    run_until(&mut stack, &mut dev, &clock, secs(5), |s| {
        let p = echo.poll(s) | first.poll(s);
        Work::done_if(first.done(s), p)
    })
    .unwrap();
    assert_eq!(first.client.socket(&mut stack).state(), State::TimeWait);
    let mut second = Collect::connect(
        &mut stack,
        &mut ports_alloc,
        ports::TCP_ECHO,
        b"two".to_vec(),
    );
    assert_ne!(
        second.client.local_port(),
        first_port,
        "port reused during TIME-WAIT"
    );
    // Both ports held (one in TIME-WAIT, one connecting): the range is exhausted.
    let h = stack.add_tcp(leak(TcpStorage::<64, 64>::new())).unwrap();
    assert_eq!(
        TcpClient::new(h).connect(&mut stack, ep(ports::TCP_ECHO), &mut ports_alloc),
        Err(ConnectError::PortsExhausted)
    );
    run_until(&mut stack, &mut dev, &clock, secs(5), |s| {
        let p = echo.poll(s) | second.poll(s);
        Work::done_if(second.done(s), p)
    })
    .unwrap();
    assert_eq!(second.reply, b"TWO");
    // A listening port is never handed out.
    let mut listening_range = EphemeralPorts::with_range(ports::TCP_ECHO, ports::TCP_ECHO + 1, 0);
    assert_eq!(
        listening_range.allocate(stack.sockets()),
        Ok(ports::TCP_ECHO + 1)
    );
}

#[test]
fn full_socket_storage_is_an_error_not_a_panic() {
    let (mut stack, _dev, _clock) = loopback(1);
    stack.add_tcp(leak(TcpStorage::<64, 64>::new())).unwrap();
    assert_eq!(
        stack.add_tcp(leak(TcpStorage::<64, 64>::new())),
        Err(SocketStorageFull { capacity: 1 })
    );
}

#[test]
fn udp_echo_answers_25_clients_each_at_its_own_address() {
    let (mut stack, mut dev, clock) = loopback(40);
    let mut echo = UdpEcho::<1472>::new(
        &mut stack,
        leak(UdpStorage::<64, 65536>::new()),
        leak(UdpLaneStorage::<4, 8192>::new()),
        ports::UDP_ECHO,
    )
    .unwrap();
    let mut ports_alloc = EphemeralPorts::new(9);
    // Each client sends its next datagram once the previous reply came back: 25 in flight.
    type Datagrams = Vec<Vec<u8>>;
    let mut clients: Vec<(UdpClient, Datagrams, Datagrams)> = (0..25)
        .map(|i| {
            let h = stack.add_udp(leak(UdpStorage::<4, 4096>::new())).unwrap();
            let c = UdpClient::bind_ephemeral(&mut stack, h, &mut ports_alloc).unwrap();
            let msgs: Vec<Vec<u8>> = (0..4)
                .map(|j| random_bytes(1 + (i * 37 + j * 101) % 1400, (i * 4 + j) as u64))
                .collect();
            (c, msgs, Vec::new())
        })
        .collect();
    for (c, msgs, _) in clients.iter_mut() {
        c.send_to(&mut stack, &msgs[0], ep(ports::UDP_ECHO))
            .unwrap();
    }
    run_until(&mut stack, &mut dev, &clock, secs(5), |s| {
        let mut p = echo.poll(s);
        let mut buf = [0u8; 1500];
        for (c, msgs, got) in clients.iter_mut() {
            while let Ok(Some((n, from))) = c.recv_from(s, &mut buf) {
                assert_eq!(from, ep(ports::UDP_ECHO));
                got.push(buf[..n].to_vec());
                if let Some(next) = msgs.get(got.len()) {
                    c.send_to(s, next, ep(ports::UDP_ECHO)).unwrap();
                }
                p = true;
            }
        }
        Work::done_if(clients.iter().all(|(_, m, g)| g.len() == m.len()), p)
    })
    .unwrap();
    for (_, msgs, got) in &clients {
        let expected: Vec<Vec<u8>> = msgs.iter().map(|m| m.to_ascii_uppercase()).collect();
        assert_eq!(got, &expected, "boundaries and bytes preserved per client");
    }
    assert_eq!(echo.stats().datagrams, 100);
    assert_eq!(dev.stats().dropped_full, 0);
}

#[test]
fn oversize_datagram_is_reported_not_truncated() {
    let (mut stack, mut dev, clock) = loopback(8);
    let mut echo = UdpEcho::<64>::new(
        &mut stack,
        leak(UdpStorage::<8, 4096>::new()),
        leak(UdpLaneStorage::<4, 256>::new()),
        ports::UDP_ECHO,
    )
    .unwrap();
    let mut ports_alloc = EphemeralPorts::new(10);
    let h = stack.add_udp(leak(UdpStorage::<8, 4096>::new())).unwrap();
    let mut client = UdpClient::bind_ephemeral(&mut stack, h, &mut ports_alloc).unwrap();
    client
        .send_to(&mut stack, &[b'a'; 100], ep(ports::UDP_ECHO))
        .unwrap();
    client
        .send_to(&mut stack, b"small", ep(ports::UDP_ECHO))
        .unwrap();
    let mut got = Vec::new();
    run_until(&mut stack, &mut dev, &clock, secs(5), |s| {
        let p = echo.poll(s);
        let mut buf = [0u8; 3];
        // A 3-byte buffer is too small for the 5-byte reply: reported with its real size.
        match client.recv_from(s, &mut buf) {
            Ok(Some(_)) => panic!("a 5-byte datagram cannot fit in 3 bytes"),
            Ok(None) => {}
            Err(e) => got.push(e),
        }
        if got.is_empty() {
            p.into()
        } else {
            Work::Done
        }
    })
    .unwrap();
    assert_eq!(got, vec![DatagramTooLarge { len: 5, max: 3 }]);
    assert_eq!((echo.stats().too_large, echo.stats().datagrams), (1, 1));
}

#[test]
fn udp_sink_counts_every_datagram_and_byte() {
    let (mut stack, mut dev, clock) = loopback(8);
    let mut sink = UdpSink::new(
        &mut stack,
        leak(UdpStorage::<32, 16384>::new()),
        ports::UDP_SINK,
    )
    .unwrap();
    let mut ports_alloc = EphemeralPorts::new(11);
    let h = stack.add_udp(leak(UdpStorage::<32, 16384>::new())).unwrap();
    let mut client = UdpClient::bind_ephemeral(&mut stack, h, &mut ports_alloc).unwrap();
    let msgs: Vec<Vec<u8>> = (0..200)
        .map(|i| random_bytes(i * 7 % 1000, i as u64))
        .collect();
    let mut next = 0;
    run_until(&mut stack, &mut dev, &clock, secs(5), |s| {
        let mut p = sink.poll(s);
        while next < msgs.len() && client.send_to(s, &msgs[next], ep(ports::UDP_SINK)).is_ok() {
            next += 1;
            p = true;
        }
        Work::done_if(sink.stats().datagrams == msgs.len() as u64, p)
    })
    .unwrap();
    let st = sink.stats();
    assert_eq!(st.bytes, msgs.iter().map(|m| m.len() as u64).sum::<u64>());
    let digest = msgs
        .iter()
        .fold(0u64, |d, m| d.wrapping_add(smolsock::digest::Fnv1a::of(m)));
    assert_eq!(st.digest, digest);
    assert_eq!(
        st.last_sender,
        Some(IpEndpoint::new(LOCALHOST, client.local_port()))
    );
}

#[test]
fn chat_refuses_empty_lines_replies_and_quits_on_yes() {
    let (mut stack, mut dev, clock) = loopback(8);
    let mut chat = ChatServer::<_, 2, 64>::new(
        &mut stack,
        tcp_pool::<1024, 1024>(2),
        PoolConfig::new(ports::CHAT, 1),
        |_from, line: &[u8], reply: &mut [u8]| {
            let text = format!("you said {} bytes", line.len());
            reply[..text.len()].copy_from_slice(text.as_bytes());
            text.len()
        },
    )
    .unwrap();
    let mut ports_alloc = EphemeralPorts::new(12);
    let h = stack
        .add_tcp(leak(TcpStorage::<1024, 1024>::new()))
        .unwrap();
    let mut client =
        ChatClient::<64>::connect(&mut stack, h, ep(ports::CHAT), &mut ports_alloc).unwrap();
    run_until(&mut stack, &mut dev, &clock, secs(5), |s| {
        let p = chat.poll(s);
        Work::done_if(client.state(s) == ClientState::Connected, p)
    })
    .unwrap();
    assert_eq!(client.submit(&mut stack, Some("")), Ok(Submitted::Refused));
    assert_eq!(
        client.submit(&mut stack, Some("   \n")),
        Ok(Submitted::Refused)
    );
    assert_eq!(
        client.submit(&mut stack, Some("hello there\n")),
        Ok(Submitted::Sent)
    );
    let mut reply = None;
    run_until(&mut stack, &mut dev, &clock, secs(5), |s| {
        let p = chat.poll(s);
        if let Ok(Some(line)) = client.reply(s) {
            reply = Some(line.to_vec());
            return Work::Done;
        }
        p.into()
    })
    .unwrap();
    assert_eq!(reply.as_deref(), Some(&b"you said 11 bytes"[..]));
    assert_eq!(client.submit(&mut stack, Some("yes")), Ok(Submitted::Quit));
    run_until(&mut stack, &mut dev, &clock, secs(5), |s| {
        let p = chat.poll(s);
        Work::done_if(
            client.state(s) == ClientState::Closed && chat.pool().stats().closed == 1,
            p,
        )
    })
    .unwrap();
    assert_eq!(chat.pool().stats().closed, 1);
}

#[test]
fn chat_server_takes_yes_as_goodbye_not_as_a_line_to_answer() {
    let (mut stack, mut dev, clock) = loopback(8);
    let asked = std::cell::Cell::new(0);
    let mut chat = ChatServer::<_, 1, 64>::new(
        &mut stack,
        tcp_pool::<1024, 1024>(1),
        PoolConfig::new(ports::CHAT, 1),
        |_f, _l: &[u8], r: &mut [u8]| {
            asked.set(asked.get() + 1);
            r[..2].copy_from_slice(b"ok");
            2
        },
    )
    .unwrap();
    let mut ports_alloc = EphemeralPorts::new(17);
    // The lesson's client sends its `yes` before leaving; the server must not answer it.
    let mut client = Collect::connect(
        &mut stack,
        &mut ports_alloc,
        ports::CHAT,
        b"hi\n yes \n".to_vec(),
    );
    run_until(&mut stack, &mut dev, &clock, secs(5), |s| {
        let p = chat.poll(s) | client.poll(s);
        Work::done_if(client.client.socket(s).state() == State::CloseWait, p)
    })
    .unwrap();
    assert_eq!(client.reply, b"ok\n");
    assert_eq!(asked.get(), 1, "the operator was asked about `yes`");
}

#[test]
fn chat_line_too_long_resets_only_that_client() {
    let (mut stack, mut dev, clock) = loopback(8);
    let mut chat = ChatServer::<_, 2, 16>::new(
        &mut stack,
        tcp_pool::<1024, 1024>(2),
        PoolConfig::new(ports::CHAT, 2),
        |_f, _l: &[u8], r: &mut [u8]| {
            r[..2].copy_from_slice(b"ok");
            2
        },
    )
    .unwrap();
    let mut ports_alloc = EphemeralPorts::new(13);
    let mut flood = Collect::connect(&mut stack, &mut ports_alloc, ports::CHAT, vec![b'x'; 100]);
    let mut good = Collect::connect(&mut stack, &mut ports_alloc, ports::CHAT, b"hi\n".to_vec());
    run_until(&mut stack, &mut dev, &clock, secs(5), |s| {
        let p = chat.poll(s) | flood.poll(s) | good.poll(s);
        Work::done_if(flood.done(s) && good.done(s), p)
    })
    .unwrap();
    assert_eq!(flood.client.state(&mut stack), ClientState::Reset);
    assert_eq!(good.reply, b"ok\n");
}

#[test]
fn two_stacks_talk_over_a_wire_with_arp() {
    let _ = env_logger::builder().is_test(true).try_init();
    let clock = VirtualClock::default();
    let wire = Wire::<1514, 32>::new();
    let (mut end_a, mut end_b) = wire.ends();
    let server_ip = IpAddress::v4(10, 42, 0, 1);
    let mut server = Stack::new(
        StackConfig::ethernet(
            EthernetAddress([2, 0, 0, 0, 0, 1]),
            IpCidr::new(server_ip, 24),
        ),
        &mut end_a,
        sockets(4),
        clock.now(),
    );
    let mut client_stack = Stack::new(
        StackConfig::ethernet(
            EthernetAddress([2, 0, 0, 0, 0, 2]),
            IpCidr::new(IpAddress::v4(10, 42, 0, 2), 24),
        ),
        &mut end_b,
        sockets(4),
        clock.now(),
    );
    let mut echo = echo_server::<1, 4096>(&mut server, 1);
    let payload = random_bytes(200_000, 14);
    let h = client_stack
        .add_tcp(leak(TcpStorage::<4096, 4096>::new()))
        .unwrap();
    let mut ports_alloc = EphemeralPorts::new(14);
    let mut client = EchoClient::connect(
        &mut client_stack,
        h,
        IpEndpoint::new(server_ip, ports::TCP_ECHO),
        &mut ports_alloc,
        &payload,
    )
    .unwrap();
    // Two stacks, two devices, one clock: each round polls both, and the sooner of their next
    // steps decides when the clock moves.
    let deadline = clock.now() + secs(30);
    run_virtual(&clock, deadline, WhenIdle::Stall, |now| {
        let mut p = server.poll(now, &mut end_a) | client_stack.poll(now, &mut end_b);
        p |= echo.poll(&mut server) | client.poll(&mut client_stack);
        if client.outcome().is_some() {
            return None;
        }
        let a = next_step(&mut server, &end_a, now, p);
        Some(a.sooner(next_step(&mut client_stack, &end_b, now, p)))
    })
    .unwrap();
    assert_eq!(client.outcome(), Some(Ok(Verdict::Verified)));
    assert!(wire.stats_a_to_b().enqueued > 100 && wire.stats_b_to_a().enqueued > 100);
}

#[test]
fn a_tiny_device_queue_drops_frames_and_tcp_still_delivers_everything() {
    let _ = env_logger::builder().is_test(true).try_init();
    let clock = VirtualClock::default();
    let mut dev = Loopback::<1500, 2>::new();
    let mut stack = Stack::new(
        StackConfig::ip(IpCidr::new(LOCALHOST, 8)),
        &mut dev,
        sockets(4),
        clock.now(),
    );
    let mut echo = echo_server::<1, 16384>(&mut stack, 1);
    let mut ports_alloc = EphemeralPorts::new(15);
    let mut client = Collect::connect(
        &mut stack,
        &mut ports_alloc,
        ports::TCP_ECHO,
        random_bytes(100_000, 15),
    );
    run_until(&mut stack, &mut dev, &clock, secs(600), |s| {
        let p = echo.poll(s) | client.poll(s);
        Work::done_if(client.done(s) && echo.pool().stats().closed == 1, p)
    })
    .unwrap();
    assert!(client.reply == client.payload.to_ascii_uppercase());
    assert!(
        dev.stats().dropped_full > 0,
        "the 2-frame queue should have overflowed"
    );
}

#[test]
fn a_frame_in_the_device_means_poll_again_not_sleep() {
    use smolsock::event_loop::Next;
    let (mut stack, mut dev, clock) = loopback(4);
    let mut ports_alloc = EphemeralPorts::new(16);
    let h = stack.add_udp(leak(UdpStorage::<4, 2048>::new())).unwrap();
    let mut client = UdpClient::bind_ephemeral(&mut stack, h, &mut ports_alloc).unwrap();
    client
        .send_to(&mut stack, b"in flight", ep(ports::UDP_SINK))
        .unwrap();
    // The first poll moves the datagram into the loopback queue; the interface reads it back
    // only on the next poll. No socket timer runs, so only the queue says "not idle".
    stack.poll(clock.now(), &mut dev);
    assert!(dev.pending());
    assert_eq!(
        next_step(&mut stack, &dev, clock.now(), false),
        Next::PollNow
    );
    stack.poll(clock.now(), &mut dev);
    assert!(!dev.pending());
    assert_eq!(
        next_step(&mut stack, &dev, clock.now(), false),
        Next::Wait(None)
    );
}

#[test]
fn round_per_tick_polls_again_while_frames_wait_or_work_is_busy_else_sleeps() {
    use smolsock::event_loop::round_per_tick;
    let (mut stack, mut dev, clock) = loopback(4);
    let mut ports_alloc = EphemeralPorts::new(16);
    let h = stack.add_udp(leak(UdpStorage::<4, 2048>::new())).unwrap();
    let mut client = UdpClient::bind_ephemeral(&mut stack, h, &mut ports_alloc).unwrap();
    let mut idle = |_: &mut Stack<'_>| Work::Idle;
    // Nothing in flight, nothing to do: sleep a tick.
    assert_eq!(
        round_per_tick(&mut stack, &mut dev, clock.now(), &mut idle),
        Some(false)
    );
    // The application says it is busy: poll again at once.
    assert_eq!(
        round_per_tick(&mut stack, &mut dev, clock.now(), &mut |_| Work::Busy),
        Some(true)
    );
    // A datagram in flight: the poll moves it into the loopback queue, where the interface
    // reads it only on the next poll, so the round says "again" until it is through.
    client
        .send_to(&mut stack, b"in flight", ep(ports::UDP_SINK))
        .unwrap();
    assert_eq!(
        round_per_tick(&mut stack, &mut dev, clock.now(), &mut idle),
        Some(true)
    );
    assert!(dev.pending());
    let mut rounds = 0;
    while round_per_tick(&mut stack, &mut dev, clock.now(), &mut idle) == Some(true) {
        rounds += 1;
        assert!(rounds < 10, "the loopback never drained");
    }
    assert!(!dev.pending());
    // The application is done: the loop ends.
    assert_eq!(
        round_per_tick(&mut stack, &mut dev, clock.now(), &mut |_| Work::Done),
        None
    );
}
