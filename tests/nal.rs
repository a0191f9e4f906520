//! The embedded-nal traits on smolsock, one behaviour per test, on the loopback in virtual
//! time: the socket calls of the lesson, the backlog, the pool's defences underneath, and
//! UDP's boundaries.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use embedded_nal::{
    nb, TcpClientStack, TcpError, TcpErrorKind, TcpFullStack, UdpClientStack, UdpFullStack,
};
use smolsock::clock::{Clock, Duration, Instant, VirtualClock};
use smolsock::device::Loopback;
use smolsock::nal::{NalError, NalStack};
use smolsock::smoltcp::iface::SocketStorage;
use smolsock::smoltcp::wire::IpCidr;
use smolsock::storage::{TcpStorage, UdpStorage};
use smolsock::tcp::PoolConfig;
use smolsock::{Stack, StackConfig};

type Dev = Loopback<1500, 64>;
type Net = NalStack<'static, 'static, 4, 8, Dev, Box<dyn Fn() -> Instant>, 2048, 2048, 4, 2048>;

fn leak<T>(value: T) -> &'static mut T {
    Box::leak(Box::new(value))
}

/// A socket API on a fresh loopback stack with `tcp` TCP buffers, and its clock.
fn net(tcp: usize) -> (Net, &'static VirtualClock) {
    let clock: &'static VirtualClock = leak(VirtualClock::default());
    let dev = leak(Dev::new());
    let slots = (0..16)
        .map(|_| SocketStorage::EMPTY)
        .collect::<Vec<_>>()
        .leak();
    let config = StackConfig::ip(IpCidr::new(Ipv4Addr::LOCALHOST.into(), 8));
    let stack = leak(Stack::new(config, dev, slots, clock.now()));
    let tcp_memory = (0..tcp)
        .map(|_| TcpStorage::new())
        .collect::<Vec<_>>()
        .leak();
    let udp_memory = (0..2).map(|_| UdpStorage::new()).collect::<Vec<_>>().leak();
    let now: Box<dyn Fn() -> Instant> = Box::new(move || clock.now());
    (
        NalStack::new(stack, dev, now, tcp_memory, udp_memory, 7),
        clock,
    )
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

/// Call `f` until it stops blocking, letting 10 ms of virtual time pass after each try.
fn wait<T>(
    clock: &VirtualClock,
    mut f: impl FnMut() -> nb::Result<T, NalError>,
) -> Result<T, NalError> {
    for _ in 0..10_000 {
        match f() {
            Ok(v) => return Ok(v),
            Err(nb::Error::Other(e)) => return Err(e),
            Err(nb::Error::WouldBlock) => clock.advance(Duration::from_millis(10)),
        }
    }
    panic!("still blocked after 100 virtual seconds")
}

fn listener(net: &mut Net, port: u16, backlog: usize) -> <Net as TcpClientStack>::TcpSocket {
    let mut s = TcpClientStack::socket(net).unwrap();
    TcpFullStack::bind(net, &mut s, port).unwrap();
    net.set_backlog(&mut s, backlog).unwrap();
    net.listen(&mut s).unwrap();
    s
}

fn client(
    net: &mut Net,
    clock: &VirtualClock,
    port: u16,
) -> Result<<Net as TcpClientStack>::TcpSocket, NalError> {
    let mut s = TcpClientStack::socket(net).unwrap();
    wait(clock, || TcpClientStack::connect(net, &mut s, local(port)))?;
    Ok(s)
}

fn recv_text(
    net: &mut Net,
    clock: &VirtualClock,
    s: &mut <Net as TcpClientStack>::TcpSocket,
) -> Result<String, NalError> {
    let mut buf = [0u8; 1024];
    let n = wait(clock, || TcpClientStack::receive(net, s, &mut buf))?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn tcp_connect_accept_send_receive_and_end_of_stream() {
    let (mut net, clock) = net(8);
    let mut server = listener(&mut net, 8000, 3);
    let mut c = client(&mut net, clock, 8000).unwrap();
    let (mut conn, peer) = wait(clock, || net.accept(&mut server)).unwrap();
    assert_eq!(peer.ip(), std::net::IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert!(peer.port() >= 49152, "ephemeral port {peer}");
    assert_eq!(
        wait(clock, || TcpClientStack::send(
            &mut net,
            &mut c,
            b"hello world"
        )),
        Ok(11)
    );
    assert_eq!(
        recv_text(&mut net, clock, &mut conn).unwrap(),
        "hello world"
    );
    wait(clock, || {
        TcpClientStack::send(&mut net, &mut conn, b"HELLO WORLD")
    })
    .unwrap();
    assert_eq!(recv_text(&mut net, clock, &mut c).unwrap(), "HELLO WORLD");
    TcpClientStack::close(&mut net, c).unwrap();
    // The client's FIN: end of stream, as `recv` returning b"" on BSD.
    assert_eq!(recv_text(&mut net, clock, &mut conn).unwrap(), "");
    TcpClientStack::close(&mut net, conn).unwrap();
    TcpClientStack::close(&mut net, server).unwrap();
}

#[test]
fn connect_to_a_port_nobody_listens_on_is_refused() {
    let (mut net, clock) = net(2);
    let err = client(&mut net, clock, 9).unwrap_err();
    assert_eq!(err, NalError::Refused);
    assert_eq!(err.kind(), TcpErrorKind::Other);
}

#[test]
fn backlog_holds_waiting_clients_refuses_the_next_and_accept_keeps_their_order() {
    let (mut net, clock) = net(8);
    // backlog 1: one connection served, one waiting.
    let mut server = listener(&mut net, 8000, 1);
    let mut first = client(&mut net, clock, 8000).unwrap();
    let mut second = client(&mut net, clock, 8000).unwrap();
    assert_eq!(
        client(&mut net, clock, 8000).unwrap_err(),
        NalError::Refused
    );
    assert_eq!(net.pool(&server).unwrap().size(), 2);
    wait(clock, || TcpClientStack::send(&mut net, &mut second, b"2")).unwrap();
    wait(clock, || TcpClientStack::send(&mut net, &mut first, b"1")).unwrap();
    let (mut a, _) = wait(clock, || net.accept(&mut server)).unwrap();
    let (mut b, _) = wait(clock, || net.accept(&mut server)).unwrap();
    assert_eq!(recv_text(&mut net, clock, &mut a).unwrap(), "1");
    assert_eq!(recv_text(&mut net, clock, &mut b).unwrap(), "2");
    // One finishes: the next client gets in.
    TcpClientStack::close(&mut net, first).unwrap();
    assert_eq!(recv_text(&mut net, clock, &mut a).unwrap(), "");
    TcpClientStack::close(&mut net, a).unwrap();
    // The slot frees once the client acknowledges our FIN, and listens at the next poll: a SYN
    // in the same batch as that ACK would still find every socket busy.
    net.poll();
    net.poll();
    assert_eq!(net.pool(&server).unwrap().listening(), 1);
    let third = client(&mut net, clock, 8000).unwrap();
    let (c, _) = wait(clock, || net.accept(&mut server)).unwrap();
    for s in [second, third, b, c, server] {
        TcpClientStack::close(&mut net, s).unwrap();
    }
}

#[test]
fn the_pools_idle_timeout_still_applies_and_reads_as_pipe_closed() {
    let (mut net, clock) = net(8);
    let mut server = TcpClientStack::socket(&mut net).unwrap();
    TcpFullStack::bind(&mut net, &mut server, 8000).unwrap();
    let mut config = PoolConfig::new(0, 1);
    config.idle_timeout = Some(Duration::from_secs(5));
    net.set_pool_config(&mut server, config).unwrap();
    net.listen(&mut server).unwrap();
    let mut c = client(&mut net, clock, 8000).unwrap();
    let (mut conn, _) = wait(clock, || net.accept(&mut server)).unwrap();
    // Nobody says anything for 5 s: the pool resets the connection (slowloris defence).
    let err = recv_text(&mut net, clock, &mut conn).unwrap_err();
    assert_eq!(err, NalError::Closed);
    assert_eq!(err.kind(), TcpErrorKind::PipeClosed);
    assert!(clock.now() >= Instant::from_secs(5));
    assert_eq!(
        recv_text(&mut net, clock, &mut c).unwrap_err().kind(),
        TcpErrorKind::PipeClosed
    );
    assert_eq!(net.pool(&server).unwrap().stats().idle_timeouts, 1);
}

#[test]
fn a_port_listens_again_at_once_after_close_but_not_twice_at_a_time() {
    let (mut net, clock) = net(8);
    let server = listener(&mut net, 8000, 1);
    let mut twice = TcpClientStack::socket(&mut net).unwrap();
    assert_eq!(
        TcpFullStack::bind(&mut net, &mut twice, 8000),
        Err(NalError::AddrInUse)
    );
    TcpClientStack::close(&mut net, twice).unwrap();
    TcpClientStack::close(&mut net, server).unwrap();
    assert_eq!(
        client(&mut net, clock, 8000).unwrap_err(),
        NalError::Refused
    );
    // No TIME-WAIT, no "address in use": the same pool listens again.
    let mut again = listener(&mut net, 8000, 1);
    let c = client(&mut net, clock, 8000).unwrap();
    let (conn, _) = wait(clock, || net.accept(&mut again)).unwrap();
    for s in [c, conn, again] {
        TcpClientStack::close(&mut net, s).unwrap();
    }
}

#[test]
fn out_of_order_calls_and_ipv6_are_errors_not_panics() {
    let (mut net, clock) = net(2);
    let mut s = TcpClientStack::socket(&mut net).unwrap();
    assert_eq!(net.listen(&mut s), Err(NalError::InvalidState));
    assert_eq!(
        net.accept(&mut s).unwrap_err(),
        nb::Error::Other(NalError::InvalidState)
    );
    // Without the `ipv6` feature an IPv6 address is unsupported; with it, this interface has
    // no IPv6 address to connect from: an error either way.
    let v6: SocketAddr = "[::1]:8000".parse().unwrap();
    let result = wait(clock, || TcpClientStack::connect(&mut net, &mut s, v6));
    #[cfg(not(feature = "ipv6"))]
    assert_eq!(result, Err(NalError::Unsupported));
    #[cfg(feature = "ipv6")]
    assert!(result.is_err(), "{result:?}");
    let mut u = UdpClientStack::socket(&mut net).unwrap();
    assert_eq!(
        UdpClientStack::send(&mut net, &mut u, b"x").unwrap_err(),
        nb::Error::Other(NalError::InvalidState)
    );
}

#[test]
fn udp_keeps_datagram_boundaries_and_never_truncates_silently() {
    let (mut net, clock) = net(0);
    let mut server = UdpClientStack::socket(&mut net).unwrap();
    UdpFullStack::bind(&mut net, &mut server, 8848).unwrap();
    let mut c = UdpClientStack::socket(&mut net).unwrap();
    UdpClientStack::connect(&mut net, &mut c, local(8848)).unwrap();
    let big = [b'x'; 100];
    for d in [&b"short"[..], &big[..], &b"after"[..]] {
        wait(clock, || UdpClientStack::send(&mut net, &mut c, d)).unwrap();
    }
    let mut buf = [0u8; 16];
    let (n, from) = wait(clock, || {
        UdpClientStack::receive(&mut net, &mut server, &mut buf)
    })
    .unwrap();
    assert_eq!(&buf[..n], b"short");
    assert_eq!(
        wait(clock, || UdpClientStack::receive(
            &mut net,
            &mut server,
            &mut buf
        )),
        Err(NalError::DatagramTooLarge { len: 100, max: 16 })
    );
    let (n, _) = wait(clock, || {
        UdpClientStack::receive(&mut net, &mut server, &mut buf)
    })
    .unwrap();
    assert_eq!(&buf[..n], b"after");
    // A reply with send_to reaches the connected client, from the server's address.
    wait(clock, || net.send_to(&mut server, from, b"AFTER")).unwrap();
    let (n, reply_from) = wait(clock, || {
        UdpClientStack::receive(&mut net, &mut c, &mut buf)
    })
    .unwrap();
    assert_eq!((&buf[..n], reply_from), (&b"AFTER"[..], local(8848)));
    // A datagram bigger than the socket's whole send buffer is refused, not queued forever.
    let huge = [0u8; 4096];
    assert_eq!(
        wait(clock, || UdpClientStack::send(&mut net, &mut c, &huge)),
        Err(NalError::DatagramTooLarge {
            len: 4096,
            max: 2048
        })
    );
    UdpClientStack::close(&mut net, c).unwrap();
    UdpClientStack::close(&mut net, server).unwrap();
}
