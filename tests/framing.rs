//! Framing: the codec against real smoltcp TCP sockets, and property tests.
//!
//! The codec-level socket tests run a client and a server socket on one bare smoltcp interface
//! over the library's loopback device, one millisecond per poll. The end-to-end tests run the
//! framed echo service on a [`Stack`] in virtual time. Everything is deterministic.

use std::collections::VecDeque;

use proptest::prelude::*;
use smolsock::clock::{Clock, VirtualClock};
use smolsock::device::Loopback;
use smolsock::event_loop::{run_until, Work};
use smolsock::frame::{
    encode_into, send_frame, send_frame_fill, send_frame_with, Accept, FrameDecoder, FrameError,
    SendFrameError, HEADER_LEN,
};
use smolsock::service::{ports, FramedEcho, Service};
use smolsock::smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smolsock::smoltcp::socket::tcp;
use smolsock::smoltcp::time::{Duration, Instant};
use smolsock::smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint};
use smolsock::storage::TcpStorage;
use smolsock::tcp::{ClientState, EphemeralPorts, PoolConfig, TcpClient};
use smolsock::{Stack, StackConfig};

// ---------------------------------------------------------------------------------------------
// A bare smoltcp interface on the library's loopback, for the codec-level tests.

type Dev = Loopback<1500, 64>;

fn buffer(len: usize) -> tcp::SocketBuffer<'static> {
    tcp::SocketBuffer::new(&mut vec![0u8; len].leak()[..])
}

const SERVER_PORT: u16 = 9000;
const CLIENT_PORT: u16 = 49152;

/// One interface, a server socket and a client socket connected to it.
struct Net {
    device: Dev,
    iface: Interface,
    sockets: SocketSet<'static>,
    now: Instant,
    server: SocketHandle,
    client: SocketHandle,
}

impl Net {
    /// Connect a client to a server whose rings have the given sizes.
    fn connected(server_rx: usize, server_tx: usize, client_rx: usize, client_tx: usize) -> Net {
        let mut device = Dev::new();
        let now = Instant::ZERO;
        let mut iface = Interface::new(Config::new(HardwareAddress::Ip), &mut device, now);
        iface.update_ip_addrs(|addrs| {
            addrs
                .push(IpCidr::new(IpAddress::v4(127, 0, 0, 1), 8))
                .unwrap();
        });
        let storage: &'static mut [SocketStorage<'static>] =
            Vec::leak((0..2).map(|_| SocketStorage::EMPTY).collect());
        let mut sockets = SocketSet::new(storage);
        let mut server = tcp::Socket::new(buffer(server_rx), buffer(server_tx));
        server.listen(SERVER_PORT).unwrap();
        let mut client = tcp::Socket::new(buffer(client_rx), buffer(client_tx));
        client
            .connect(
                iface.context(),
                (IpAddress::v4(127, 0, 0, 1), SERVER_PORT),
                CLIENT_PORT,
            )
            .unwrap();
        for s in [&mut server, &mut client] {
            s.set_ack_delay(None);
        }
        let server = sockets.add(server);
        let client = sockets.add(client);
        let mut net = Net {
            device,
            iface,
            sockets,
            now,
            server,
            client,
        };
        for _ in 0..10 {
            net.poll();
        }
        assert_eq!(net.server().state(), tcp::State::Established);
        assert_eq!(net.client().state(), tcp::State::Established);
        net
    }

    fn poll(&mut self) {
        self.now += Duration::from_millis(1);
        self.iface
            .poll(self.now, &mut self.device, &mut self.sockets);
    }

    fn server(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(self.server)
    }

    fn client(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(self.client)
    }
}

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The payload of frame `i`: `len` bytes that depend on `i`, so misordering shows.
fn payload(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| b'a' + ((i * 7 + j) % 26) as u8).collect()
}

/// Whether `socket`'s readable bytes currently wrap around the end of its ring.
fn rx_wraps(socket: &mut tcp::Socket) -> bool {
    let contiguous = socket.peek(usize::MAX).map(|s| s.len()).unwrap_or(0);
    contiguous < socket.recv_queue()
}

// ---------------------------------------------------------------------------------------------
// The wrap-around of the receive ring (smoltcp issue #797).

/// Send `count` frames of `len` payload bytes from the client, as fast as the window allows,
/// and drain the server with `on_round`. Returns whether the server's ring was seen wrapped.
fn pump(net: &mut Net, count: usize, len: usize, mut on_round: impl FnMut(&mut Net)) -> bool {
    let mut sent = 0;
    let mut saw_wrap = false;
    for _ in 0..200_000 {
        while sent < count {
            match send_frame(net.client(), &payload(sent, len)) {
                Ok(_) => sent += 1,
                Err(SendFrameError::WouldBlock { .. }) => break,
                Err(e) => panic!("send: {e}"),
            }
        }
        net.poll();
        saw_wrap |= rx_wraps(net.server());
        on_round(net);
        if sent == count && net.client().send_queue() == 0 && net.server().recv_queue() == 0 {
            break;
        }
    }
    saw_wrap
}

#[test]
fn recv_from_survives_the_ring_wrap() {
    // 100-byte receive ring, 37-byte frames: frames straddle the wrap point again and again.
    let mut net = Net::connected(100, 256, 256, 256);
    let mut decoder: FrameDecoder<64> = FrameDecoder::new();
    let mut got: Vec<Vec<u8>> = Vec::new();
    let saw_wrap = pump(&mut net, 300, 33, |net| {
        decoder
            .recv_from(net.server(), |frame| {
                got.push(frame.to_vec());
                Accept::Taken
            })
            .unwrap();
    });
    assert!(saw_wrap, "the test must actually make the ring wrap");
    assert_eq!(got.len(), 300);
    for (i, frame) in got.iter().enumerate() {
        assert_eq!(frame, &payload(i, 33), "frame {i}");
    }
    assert!(decoder.is_idle());
}

/// The bug this decoder avoids: wait for a whole frame in `recv`'s contiguous slice.
fn naive_recv(socket: &mut tcp::Socket, got: &mut Vec<Vec<u8>>) {
    while socket.can_recv() {
        let frame = socket.recv(|ring| {
            let Some(header) = ring.get(..HEADER_LEN) else {
                return (0, None);
            };
            let len = u32::from_be_bytes(header.try_into().unwrap()) as usize;
            match ring.get(HEADER_LEN..HEADER_LEN + len) {
                Some(p) => (HEADER_LEN + len, Some(p.to_vec())),
                None => (0, None), // "wait for the rest": it is behind the wrap, so it never comes
            }
        });
        match frame {
            Ok(Some(f)) => got.push(f),
            _ => break,
        }
    }
}

#[test]
fn a_naive_decoder_stalls_at_the_wrap() {
    let mut net = Net::connected(100, 256, 256, 256);
    let mut got = Vec::new();
    pump(&mut net, 300, 33, |net| naive_recv(net.server(), &mut got));
    assert!(
        got.len() < 300,
        "the naive decoder should stall (got all {} frames)",
        got.len()
    );
    assert!(
        rx_wraps(net.server()),
        "it stalls on a frame cut by the wrap"
    );
}

#[test]
fn recv_from_with_backpressure_loses_nothing() {
    let mut net = Net::connected(100, 256, 256, 256);
    let mut decoder: FrameDecoder<64> = FrameDecoder::new();
    let mut rng = Rng(0x1234_5678);
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut offers = 0;
    let sizes: Vec<usize> = (0..500).map(|i| (i * 13) % 61).collect();
    let mut sent = 0;
    for _ in 0..200_000 {
        while sent < sizes.len() {
            match send_frame(net.client(), &payload(sent, sizes[sent])) {
                Ok(_) => sent += 1,
                Err(SendFrameError::WouldBlock { .. }) => break,
                Err(e) => panic!("send: {e}"),
            }
        }
        net.poll();
        let progress = decoder
            .recv_from(net.server(), |frame| {
                offers += 1;
                // Refuse a third of the offers: the frame must come back, not get lost.
                if rng.below(3) == 0 {
                    Accept::Later
                } else {
                    got.push(frame.to_vec());
                    Accept::Taken
                }
            })
            .unwrap();
        assert!(progress.frames <= sizes.len());
        if got.len() == sizes.len() {
            break;
        }
    }
    assert!(offers > got.len(), "some offers were refused");
    assert_eq!(got.len(), sizes.len());
    for (i, frame) in got.iter().enumerate() {
        assert_eq!(frame, &payload(i, sizes[i]), "frame {i}");
    }
}

#[test]
fn oversize_header_from_the_socket_is_an_error() {
    let mut net = Net::connected(100, 256, 256, 256);
    send_frame(net.client(), b"fine").unwrap();
    net.client().send_slice(&[0, 0, 0, 65]).unwrap(); // 65 > MAX
    net.client().send_slice(&[0; 70]).unwrap();
    net.poll();
    net.poll();
    let mut decoder: FrameDecoder<64> = FrameDecoder::new();
    let mut got = Vec::new();
    let err = decoder
        .recv_from(net.server(), |f| {
            got.push(f.to_vec());
            Accept::Taken
        })
        .unwrap_err();
    assert_eq!(err, FrameError::FrameTooLarge { len: 65, max: 64 });
    assert_eq!(
        got,
        [b"fine".to_vec()],
        "the frame before the bad one arrived"
    );
    assert_eq!(decoder.error(), Some(err));
}

// ---------------------------------------------------------------------------------------------
// Encoding into a socket.

#[test]
fn send_frame_is_all_or_nothing() {
    let mut net = Net::connected(256, 256, 256, 40);
    let client = net.client();
    assert_eq!(send_frame(client, &[1; 30]), Ok(34));
    // 6 bytes free: a 10-byte frame must not be half-queued.
    assert_eq!(
        send_frame(client, &[2; 6]),
        Err(SendFrameError::WouldBlock {
            needed: 10,
            free: 6
        })
    );
    assert_eq!(client.send_queue(), 34);
    assert_eq!(send_frame(client, &[3; 2]), Ok(6));
    // Larger than the whole ring: can never be sent.
    assert_eq!(
        send_frame(client, &[4; 37]),
        Err(SendFrameError::ExceedsSendCapacity {
            needed: 41,
            capacity: 40
        })
    );
    // After the peer took it all, the ring has room again.
    for _ in 0..5 {
        net.poll();
    }
    assert_eq!(net.client().send_queue(), 0);
    let mut decoder: FrameDecoder<64> = FrameDecoder::new();
    let mut got = Vec::new();
    decoder
        .recv_from(net.server(), |f| {
            got.push(f.to_vec());
            Accept::Taken
        })
        .unwrap();
    assert_eq!(got, [vec![1; 30], vec![3; 2]]);
}

#[test]
fn send_frame_fill_writes_pieces_in_order_across_the_wrap() {
    // A small server ring read only every third round keeps the client's ring partly
    // unacknowledged, so new frames go in behind old ones and wrap around its end.
    let mut net = Net::connected(40, 256, 256, 50);
    let mut decoder: FrameDecoder<64> = FrameDecoder::new();
    let mut got = Vec::new();
    let mut split_payloads = 0;
    let mut sent = 0usize;
    for round in 0..10_000 {
        // Queue frames while the ring still holds unacknowledged ones, so it wraps.
        while sent < 200 {
            let len = 10 + sent % 17;
            let mut pieces = 0;
            let r = send_frame_fill(net.client(), len, |offset, piece| {
                pieces += 1;
                for (k, b) in piece.iter_mut().enumerate() {
                    *b = ((sent + offset + k) % 251) as u8;
                }
            });
            match r {
                Ok(n) => assert_eq!(n, len + 4),
                Err(SendFrameError::WouldBlock { .. }) => break,
                Err(e) => panic!("send: {e}"),
            }
            if pieces > 1 {
                split_payloads += 1;
            }
            sent += 1;
        }
        net.poll();
        if round % 3 == 0 {
            decoder
                .recv_from(net.server(), |f| {
                    got.push(f.to_vec());
                    Accept::Taken
                })
                .unwrap();
        }
        if got.len() == 200 {
            break;
        }
    }
    assert_eq!(got.len(), 200);
    for (i, frame) in got.iter().enumerate() {
        let want: Vec<u8> = (0..10 + i % 17).map(|k| ((i + k) % 251) as u8).collect();
        assert_eq!(frame, &want, "frame {i}");
    }
    assert!(
        split_payloads > 0,
        "some payloads were written in two pieces (the ring wrapped)"
    );
}

// ---------------------------------------------------------------------------------------------
// The framed echo, at codec level: read a frame, write it back upper-cased, with backpressure.

/// One round of a framed upper-case echo on `socket`; counts the replies that had to wait.
fn echo_round(
    decoder: &mut FrameDecoder<64>,
    socket: &mut tcp::Socket<'static>,
    waits: &mut usize,
) {
    decoder
        .recv_reply(socket, |frame, socket| {
            match send_frame_with(socket, frame, <[u8]>::make_ascii_uppercase) {
                Ok(_) => Accept::Taken,
                Err(SendFrameError::WouldBlock { .. }) => {
                    *waits += 1;
                    Accept::Later
                }
                Err(e) => panic!("reply: {e}"),
            }
        })
        .unwrap();
}

#[test]
fn framed_echo_with_tiny_rings_checks_every_byte() {
    // Small rings on the server make both wraps and transmit backpressure frequent.
    let mut net = Net::connected(100, 70, 256, 256);
    let mut server_decoder: FrameDecoder<64> = FrameDecoder::new();
    let mut client_decoder: FrameDecoder<64> = FrameDecoder::new();
    let mut rng = Rng(42);
    let sizes: Vec<usize> = (0..2000).map(|_| rng.below(61)).collect();
    let mut sent = 0;
    let mut expect: Vec<Vec<u8>> = Vec::new();
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut waits = 0;
    for _ in 0..1_000_000 {
        while sent < sizes.len() {
            let p: Vec<u8> = (0..sizes[sent]).map(|_| b" aZz09{"[rng.below(7)]).collect();
            match send_frame(net.client(), &p) {
                Ok(_) => {
                    sent += 1;
                    expect.push(p.to_ascii_uppercase());
                }
                Err(SendFrameError::WouldBlock { .. }) => break,
                Err(e) => panic!("send: {e}"),
            }
        }
        net.poll();
        echo_round(&mut server_decoder, net.server(), &mut waits);
        client_decoder
            .recv_from(net.client(), |f| {
                got.push(f.to_vec());
                Accept::Taken
            })
            .unwrap();
        if got.len() == sizes.len() {
            break;
        }
    }
    assert_eq!(got.len(), 2000);
    for (i, (g, e)) in got.iter().zip(&expect).enumerate() {
        assert_eq!(g, e, "frame {i}");
    }
    assert!(waits > 0, "the echo met backpressure at least once");
}

// ---------------------------------------------------------------------------------------------
// Property tests: any payloads, cut anywhere, come back exactly.

fn encode_all(payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut wire = Vec::new();
    for p in payloads {
        let mut buf = vec![0; p.len() + HEADER_LEN];
        let n = encode_into(p, &mut buf).unwrap();
        wire.extend_from_slice(&buf[..n]);
    }
    wire
}

/// Cut `wire` at the given points (taken modulo its length, sorted).
fn cut<'a>(wire: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = points.iter().map(|p| p % (wire.len() + 1)).collect();
    points.sort_unstable();
    let mut pieces = Vec::new();
    let mut last = 0;
    for p in points {
        pieces.push(&wire[last..p]);
        last = p;
    }
    pieces.push(&wire[last..]);
    pieces
}

const PMAX: usize = 300;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_round_trips_any_cut(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..=PMAX), 0..40),
        points in prop::collection::vec(any::<usize>(), 0..30),
    ) {
        let wire = encode_all(&payloads);
        let mut decoder: FrameDecoder<PMAX> = FrameDecoder::new();
        let mut got = Vec::new();
        for piece in cut(&wire, &points) {
            let mut rest = piece;
            loop {
                let step = decoder.decode(rest).unwrap();
                prop_assert!(step.consumed <= rest.len());
                if let Some(f) = step.frame {
                    got.push(f.to_vec());
                }
                rest = &rest[step.consumed..];
                if step.frame.is_none() {
                    prop_assert!(rest.is_empty());
                    break;
                }
            }
            prop_assert!(decoder.buffered() <= PMAX);
        }
        prop_assert_eq!(got, payloads);
        prop_assert!(decoder.is_idle());
    }

    #[test]
    fn feed_with_refusals_round_trips_any_cut(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..=PMAX), 0..40),
        points in prop::collection::vec(any::<usize>(), 0..30),
        refusals in prop::collection::vec(any::<bool>(), 1..64),
    ) {
        let wire = encode_all(&payloads);
        let mut decoder: FrameDecoder<PMAX> = FrameDecoder::new();
        let mut got = Vec::new();
        let mut offer = 0usize;
        let mut refused_last = false;
        for piece in cut(&wire, &points) {
            let mut rest = piece;
            // Feed until the piece is used up; a refusal leaves the rest to feed again.
            loop {
                let progress = decoder.feed(rest, |f| {
                    offer += 1;
                    // Never refuse twice in a row, so every piece gets through.
                    if !refused_last && refusals[offer % refusals.len()] {
                        refused_last = true;
                        Accept::Later
                    } else {
                        refused_last = false;
                        got.push(f.to_vec());
                        Accept::Taken
                    }
                }).unwrap();
                rest = &rest[progress.bytes..];
                if !progress.deferred {
                    prop_assert!(rest.is_empty());
                    break;
                }
            }
        }
        prop_assert_eq!(got, payloads);
    }

    #[test]
    fn random_bytes_never_panic_or_overgrow(
        bytes in prop::collection::vec(any::<u8>(), 0..2000),
        points in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let mut decoder: FrameDecoder<64> = FrameDecoder::new();
        let mut failed = None;
        for piece in cut(&bytes, &points) {
            match decoder.feed(piece, |f| { assert!(f.len() <= 64); Accept::Taken }) {
                Ok(p) => {
                    prop_assert!(failed.is_none(), "no success after an error");
                    prop_assert_eq!(p.bytes, piece.len());
                }
                Err(e) => {
                    let FrameError::FrameTooLarge { len, max } = e else { unreachable!() };
                    prop_assert!(len > 64 && max == 64);
                    prop_assert!(failed.is_none() || failed == Some(e), "the error is sticky");
                    failed = Some(e);
                }
            }
            prop_assert!(decoder.buffered() <= 64);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// End to end: the framed echo service on the loopback stack.

const LOCALHOST: IpAddress = IpAddress::v4(127, 0, 0, 1);

fn leak<T>(value: T) -> &'static mut T {
    Box::leak(Box::new(value))
}

fn loopback(n_sockets: usize) -> (Stack<'static>, Dev, VirtualClock) {
    let _ = env_logger::builder().is_test(true).try_init();
    let clock = VirtualClock::default();
    let mut dev = Dev::new();
    let storage: &'static mut [SocketStorage<'static>] = (0..n_sockets)
        .map(|_| SocketStorage::EMPTY)
        .collect::<Vec<_>>()
        .leak();
    let stack = Stack::new(
        StackConfig::ip(IpCidr::new(LOCALHOST, 8)),
        &mut dev,
        storage,
        clock.now(),
    );
    (stack, dev, clock)
}

fn framed_echo(stack: &mut Stack<'static>, n: usize) -> FramedEcho<2, 1024> {
    let storage = (0..n)
        .map(|_| TcpStorage::<2048, 2048>::new())
        .collect::<Vec<_>>()
        .leak();
    FramedEcho::new(stack, storage, PoolConfig::new(ports::FRAMED_ECHO, n)).unwrap()
}

/// A client that sends frames and collects the framed replies, then closes.
struct FramedClient {
    client: TcpClient,
    decoder: FrameDecoder<1024>,
    to_send: VecDeque<Vec<u8>>,
    got: Vec<Vec<u8>>,
    close_after: usize,
    closed: bool,
}

impl FramedClient {
    fn connect(
        stack: &mut Stack<'static>,
        ports: &mut EphemeralPorts,
        frames: Vec<Vec<u8>>,
    ) -> Self {
        let handle = stack
            .add_tcp(leak(TcpStorage::<4096, 4096>::new()))
            .unwrap();
        let mut client = TcpClient::new(handle);
        client
            .connect(stack, IpEndpoint::new(LOCALHOST, ports::FRAMED_ECHO), ports)
            .unwrap();
        FramedClient {
            client,
            decoder: FrameDecoder::new(),
            close_after: frames.len(),
            to_send: frames.into(),
            got: Vec::new(),
            closed: false,
        }
    }

    fn state(&mut self, stack: &mut Stack<'_>) -> ClientState {
        self.client.state(stack)
    }
}

impl Service for FramedClient {
    fn poll(&mut self, stack: &mut Stack<'_>) -> bool {
        if self.client.state(stack) != ClientState::Connected {
            return false;
        }
        let socket = self.client.socket(stack);
        let mut progress = false;
        while let Some(frame) = self.to_send.front() {
            match send_frame(socket, frame) {
                Ok(_) => {
                    self.to_send.pop_front();
                    progress = true;
                }
                Err(SendFrameError::WouldBlock { .. }) => break,
                Err(e) => panic!("client send: {e}"),
            }
        }
        let got = &mut self.got;
        let done = self
            .decoder
            .recv_from(socket, |frame| {
                got.push(frame.to_vec());
                Accept::Taken
            })
            .expect("the server's frames are well-formed");
        progress |= done.made_progress();
        if self.got.len() >= self.close_after && !self.closed {
            socket.close();
            self.closed = true;
            progress = true;
        }
        progress
    }
}

fn random_frames(count: usize, max: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|_| {
            let len = rng.below(max + 1);
            (0..len).map(|_| rng.next() as u8).collect()
        })
        .collect()
}

#[test]
fn framed_echo_2000_random_frames_every_byte_checked() {
    let (mut stack, mut dev, clock) = loopback(8);
    let mut echo = framed_echo(&mut stack, 2);
    let frames = random_frames(2000, 1024, 7);
    let mut ports_alloc = EphemeralPorts::new(3);
    let mut client = FramedClient::connect(&mut stack, &mut ports_alloc, frames.clone());
    run_until(&mut stack, &mut dev, &clock, Duration::from_secs(60), |s| {
        let p = echo.poll(s) | client.poll(s);
        Work::done_if(
            client.state(s) == ClientState::Closed && echo.pool().stats().closed == 1,
            p,
        )
    })
    .unwrap();
    assert_eq!(client.got.len(), 2000);
    for (i, (got, sent)) in client.got.iter().zip(&frames).enumerate() {
        assert_eq!(got, &sent.to_ascii_uppercase(), "frame {i}");
    }
    assert_eq!(echo.stats().frames, 2000);
    assert_eq!(echo.stats().bad_frames, 0);
    assert!(client.decoder.is_idle());
}

#[test]
fn oversize_header_resets_only_that_connection() {
    let (mut stack, mut dev, clock) = loopback(8);
    let mut echo = framed_echo(&mut stack, 2);
    let mut ports_alloc = EphemeralPorts::new(11);
    let good = random_frames(50, 300, 1);
    let mut a = FramedClient::connect(&mut stack, &mut ports_alloc, good.clone());
    a.close_after = usize::MAX; // stay connected while the bad client misbehaves
                                // The bad client: a well-formed frame, then a header announcing 4097 bytes (> 1024).
    let mut b = FramedClient::connect(&mut stack, &mut ports_alloc, vec![b"ok".to_vec()]);
    b.close_after = usize::MAX;
    let mut bad_sent = false;
    run_until(&mut stack, &mut dev, &clock, Duration::from_secs(10), |s| {
        let mut p = echo.poll(s) | a.poll(s) | b.poll(s);
        if !bad_sent && b.got.len() == 1 {
            b.client.send(s, &[0, 0, 0x10, 0x01, 1, 2, 3]).unwrap();
            bad_sent = true;
            p = true;
        }
        Work::done_if(
            b.state(s) == ClientState::Reset && a.got.len() == good.len(),
            p,
        )
    })
    .unwrap();
    assert_eq!(
        b.got,
        [b"OK".to_vec()],
        "the frame before the bad header was answered"
    );
    assert_eq!(echo.stats().bad_frames, 1);
    assert_eq!(
        a.state(&mut stack),
        ClientState::Connected,
        "the good client is untouched"
    );

    // The good client goes on, and a new client takes the freed slot and is served.
    let more = random_frames(20, 300, 2);
    a.to_send.extend(more.iter().cloned());
    a.close_after = good.len() + more.len();
    let third = random_frames(30, 1024, 3);
    let mut c = FramedClient::connect(&mut stack, &mut ports_alloc, third.clone());
    run_until(&mut stack, &mut dev, &clock, Duration::from_secs(10), |s| {
        let p = echo.poll(s) | a.poll(s) | c.poll(s);
        Work::done_if(
            a.state(s) == ClientState::Closed && c.state(s) == ClientState::Closed,
            p,
        )
    })
    .unwrap();
    let want_a: Vec<Vec<u8>> = good
        .iter()
        .chain(&more)
        .map(|f| f.to_ascii_uppercase())
        .collect();
    assert_eq!(a.got, want_a);
    let want_c: Vec<Vec<u8>> = third.iter().map(|f| f.to_ascii_uppercase()).collect();
    assert_eq!(c.got, want_c);
    assert_eq!(echo.stats().bad_frames, 1);
    assert_eq!(echo.pool().stats().accepted, 3);
}

#[test]
fn sticky_packets_three_sends_arrive_as_fewer_reads() {
    let (mut stack, mut dev, clock) = loopback(4);
    let server = stack
        .add_tcp(leak(TcpStorage::<1024, 1024>::new()))
        .unwrap();
    stack.tcp(server).listen(7000).unwrap();
    let handle = stack
        .add_tcp(leak(TcpStorage::<1024, 1024>::new()))
        .unwrap();
    let mut client = TcpClient::new(handle);
    let mut ports_alloc = EphemeralPorts::new(5);
    client
        .connect(
            &mut stack,
            IpEndpoint::new(LOCALHOST, 7000),
            &mut ports_alloc,
        )
        .unwrap();
    run_until(&mut stack, &mut dev, &clock, Duration::from_secs(5), |s| {
        if client.state(s) == ClientState::Connected && s.tcp(server).may_send() {
            Work::Done
        } else {
            Work::Idle
        }
    })
    .unwrap();

    // The problem: three quick sends, read the way the lesson's server reads (recv(1024)).
    let messages: [&[u8]; 3] = [b"one", b"two", b"three"];
    for m in messages {
        assert_eq!(client.send(&mut stack, m).unwrap(), m.len());
    }
    let mut reads: Vec<Vec<u8>> = Vec::new();
    run_until(&mut stack, &mut dev, &clock, Duration::from_secs(5), |s| {
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = s.tcp(server).recv_slice(&mut buf) {
            reads.push(buf[..n].to_vec());
        }
        if reads.concat().len() == 11 {
            Work::Done
        } else {
            Work::Idle
        }
    })
    .unwrap();
    println!("3 sends, {} read(s) on the server:", reads.len());
    for r in &reads {
        println!("  {:?}", String::from_utf8_lossy(r));
    }
    assert!(reads.len() < messages.len(), "the sends stuck together");
    assert_eq!(
        reads.concat(),
        b"onetwothree",
        "all bytes, but no boundaries"
    );

    // The fix: the same three messages as frames; the decoder gives the boundaries back.
    for m in messages {
        send_frame(client.socket(&mut stack), m).unwrap();
    }
    let mut decoder: FrameDecoder<64> = FrameDecoder::new();
    let mut frames: Vec<Vec<u8>> = Vec::new();
    run_until(&mut stack, &mut dev, &clock, Duration::from_secs(5), |s| {
        let p = decoder
            .recv_from(s.tcp(server), |f| {
                frames.push(f.to_vec());
                Accept::Taken
            })
            .unwrap();
        if frames.len() == 3 {
            Work::Done
        } else {
            p.made_progress().into()
        }
    })
    .unwrap();
    println!("3 framed sends, {} frames decoded:", frames.len());
    for f in &frames {
        println!("  {:?}", String::from_utf8_lossy(f));
    }
    assert_eq!(frames, messages.map(<[u8]>::to_vec));
}
