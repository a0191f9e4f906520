//! TCP bulk throughput on the in-memory loopback: smolsock's services vs raw smoltcp.
//!
//! ```text
//! cargo bench -p smolsock-benches --bench tcp_loopback
//! ```
//!
//! Both sides move the same bytes through the same `Loopback` device (MTU 1500) with the same
//! socket buffer sizes and the same client: the client streams a payload to an upper-case echo
//! server on port 8000 and reads the reply back. The only difference is the server:
//!
//! - **raw**: one smoltcp socket and a hand-written echo loop (`recv_slice` 1 KiB, upper-case,
//!   `send_slice`), the least a smoltcp program can do;
//! - **smolsock**: `Stack` + `UpperEcho` (listener pool with backlog, connection tracking,
//!   byte counters) + the `event_loop` contract;
//! - **traits**: the same echo written against the embedded-nal traits (`accept`, `receive`
//!   1 KiB, upper-case, `send`) on `smolsock::nal::NalStack`, over the same pool; its ratio is
//!   traits / smolsock (`UpperEcho`) in the same run. Twice: with the calls leaving polling
//!   to the loop (`set_poll_on_block(false)`, as an event-loop program would: the row the
//!   5 % budget applies to), and with each call that would block polling the stack itself
//!   (the default, which blocking-style programs need).
//!
//! Each run streams 64 MiB (4 KiB socket buffers) or 128 MiB (64 KiB buffers) each way.
//! Throughput counts payload bytes echoed (each byte crosses the loopback twice). The figure is
//! the best of several interleaved runs; the ratio is smolsock / raw in the same run.
//!
//! The echoed bytes are checked, every one of them, outside the timed part: before the timed
//! runs, one run of each variant moves the same amount with the client comparing each byte it
//! reads with what the echo must return (the client sends byte `k` of the stream as
//! `b'a' + k % 26`, so the reply's byte `k` must be `b'A' + k % 26`). The timed runs use the same
//! code with that comparison switched off; they only count. Without `--bench` (`cargo test
//! --benches`) the binary only does the checked run of each variant, on 1 MiB.

use std::time::Instant as WallInstant;

use embedded_nal::{nb, TcpClientStack, TcpFullStack};
use smolsock::clock::{Clock, VirtualClock};
use smolsock::device::Loopback;
use smolsock::event_loop::{next_step, Next};
use smolsock::nal::NalStack;
use smolsock::service::{ports, Service, UpperEcho};
use smolsock::smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smolsock::smoltcp::socket::tcp;
use smolsock::smoltcp::time::Duration;
use smolsock::smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use smolsock::storage::{TcpStorage, UdpStorage};
use smolsock::tcp::PoolConfig;
use smolsock::{Stack, StackConfig};

const LOCALHOST: IpAddress = IpAddress::v4(127, 0, 0, 1);
const CLIENT_PORT: u16 = 50000;
type Dev = Loopback<1500, 128>;

/// Whether a run checks every echoed byte (untimed) or only counts them (timed).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Check,
    Time,
}

/// The client both variants share: stream `total` bytes, read the reply, count it, and in
/// [`Mode::Check`] compare every byte of it with the upper-cased stream.
struct Client {
    handle: SocketHandle,
    total: usize,
    sent: usize,
    received: usize,
    /// The alphabet, repeated: byte `k` of the stream is `chunk[k % 26]`.
    chunk: Vec<u8>,
    mode: Mode,
}

/// Largest slice the client hands to `send_slice` at once.
const SEND_CHUNK: usize = 65536;

impl Client {
    fn new(handle: SocketHandle, total: usize, mode: Mode) -> Self {
        let chunk: Vec<u8> = (0..SEND_CHUNK as u32 + 26)
            .map(|i| b'a' + (i % 26) as u8)
            .collect();
        Client {
            handle,
            total,
            sent: 0,
            received: 0,
            chunk,
            mode,
        }
    }

    fn poll(&mut self, socket: &mut tcp::Socket<'_>) -> bool {
        let mut progress = false;
        while self.sent < self.total && socket.can_send() {
            let want = (self.total - self.sent).min(SEND_CHUNK);
            // Start where the stream is, so byte k of the stream is always b'a' + k % 26.
            let start = self.sent % 26;
            match socket.send_slice(&self.chunk[start..start + want]) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    self.sent += n;
                    progress = true;
                }
            }
        }
        while socket.can_recv() {
            let (mode, at) = (self.mode, self.received);
            let got = socket
                .recv(|buf| {
                    if mode == Mode::Check {
                        check_echo(buf, at);
                    }
                    (buf.len(), buf.len())
                })
                .unwrap_or(0);
            if got == 0 {
                break;
            }
            self.received += got;
            progress = true;
        }
        progress
    }

    fn done(&self) -> bool {
        self.received >= self.total
    }
}

/// Panic unless `reply`, found at offset `at` of the echoed stream, is the upper-cased stream.
fn check_echo(reply: &[u8], at: usize) {
    for (i, &byte) in reply.iter().enumerate() {
        let k = at + i;
        let expected = b'A' + (k % 26) as u8;
        assert_eq!(byte, expected, "echoed byte {k} differs");
    }
}

fn raw_echo(socket: &mut tcp::Socket<'_>) -> bool {
    let mut progress = false;
    let mut chunk = [0u8; 1024];
    while socket.can_recv() {
        let room = (socket.send_capacity() - socket.send_queue()).min(chunk.len());
        if room == 0 {
            break;
        }
        let n = socket.recv_slice(&mut chunk[..room]).unwrap_or(0);
        if n == 0 {
            break;
        }
        chunk[..n].make_ascii_uppercase();
        let _ = socket.send_slice(&chunk[..n]);
        progress = true;
    }
    progress
}

/// The upper-case echo as a program written against the embedded-nal traits would write it,
/// non-blocking: accept once, then receive up to 1 KiB, upper-case, send, until it would block.
struct NalEcho<T> {
    listener: T,
    conn: Option<T>,
    chunk: [u8; 1024],
    /// Received bytes not sent yet: `chunk[start..end]`.
    start: usize,
    end: usize,
}

impl<T> NalEcho<T> {
    fn poll<S: TcpFullStack<TcpSocket = T>>(&mut self, net: &mut S) -> bool {
        let mut progress = false;
        if self.conn.is_none() {
            if let Ok((conn, _)) = net.accept(&mut self.listener) {
                self.conn = Some(conn);
                progress = true;
            }
        }
        let Some(conn) = self.conn.as_mut() else {
            return progress;
        };
        loop {
            if self.start < self.end {
                match net.send(conn, &self.chunk[self.start..self.end]) {
                    Ok(n) => self.start += n,
                    Err(nb::Error::WouldBlock) => break,
                    Err(nb::Error::Other(e)) => panic!("traits: send: {e:?}"),
                }
            } else {
                match net.receive(conn, &mut self.chunk) {
                    Ok(0) => break,
                    Ok(n) => {
                        self.chunk[..n].make_ascii_uppercase();
                        (self.start, self.end) = (0, n);
                    }
                    Err(nb::Error::WouldBlock) => break,
                    Err(nb::Error::Other(e)) => panic!("traits: receive: {e:?}"),
                }
            }
            progress = true;
        }
        progress
    }
}

/// `poll_on_block`: whether the trait calls poll the stack when they would block (as a
/// blocking-style program needs), or leave polling to this loop (as an event loop would).
fn run_nal<const BUF: usize>(total: usize, mode: Mode, poll_on_block: bool) -> f64 {
    let clock = VirtualClock::default();
    let mut dev = Dev::new();
    let mut storage = [SocketStorage::EMPTY, SocketStorage::EMPTY];
    let mut stack = Stack::new(
        StackConfig::ip(IpCidr::new(LOCALHOST, 8)),
        &mut dev,
        &mut storage,
        clock.now(),
    );
    let mut client_buf = Box::new(TcpStorage::<BUF, BUF>::new());
    let client = stack.add_tcp(&mut client_buf).unwrap();
    let mut server_buf = vec![TcpStorage::<BUF, BUF>::new()];
    let mut no_udp: [UdpStorage<1, 16>; 0] = [];
    let now = || clock.now();
    let mut net = NalStack::<1, 2, _, _, _, _, _, _>::new(
        &mut stack,
        &mut dev,
        now,
        &mut server_buf,
        &mut no_udp,
        1,
    );
    net.set_poll_on_block(poll_on_block);
    let mut listener = net.socket().unwrap();
    net.bind(&mut listener, ports::TCP_ECHO).unwrap();
    net.set_backlog(&mut listener, 1).unwrap();
    net.listen(&mut listener).unwrap();
    let mut echo = NalEcho {
        listener,
        conn: None,
        chunk: [0; 1024],
        start: 0,
        end: 0,
    };
    net.stack()
        .connect(client, (LOCALHOST, ports::TCP_ECHO), CLIENT_PORT)
        .unwrap();
    let mut c = Client::new(client, total, mode);
    let start = WallInstant::now();
    while !c.done() {
        let now = clock.now();
        let mut progress = net.poll();
        progress |= echo.poll(&mut net);
        progress |= c.poll(net.stack().tcp(c.handle));
        let (stack, dev) = net.parts();
        match next_step(stack, dev, now, progress) {
            Next::PollNow => {}
            Next::Wait(Some(d)) => clock.advance(d.max(Duration::from_millis(1))),
            Next::Wait(None) => panic!("traits: stalled"),
        }
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn run_raw<const BUF: usize>(total: usize, mode: Mode) -> f64 {
    let clock = VirtualClock::default();
    let mut dev = Dev::new();
    let mut iface = Interface::new(Config::new(HardwareAddress::Ip), &mut dev, clock.now());
    iface.update_ip_addrs(|a| a.push(IpCidr::new(LOCALHOST, 8)).unwrap());
    let mut storage = [SocketStorage::EMPTY, SocketStorage::EMPTY];
    let mut sockets = SocketSet::new(&mut storage[..]);
    let buffer = || tcp::SocketBuffer::new(vec![0u8; BUF]);
    let mut server = tcp::Socket::new(buffer(), buffer());
    server.listen(ports::TCP_ECHO).unwrap();
    let server = sockets.add(server);
    let client = tcp::Socket::new(buffer(), buffer());
    let client = sockets.add(client);
    sockets
        .get_mut::<tcp::Socket>(client)
        .connect(iface.context(), (LOCALHOST, ports::TCP_ECHO), CLIENT_PORT)
        .unwrap();
    let mut c = Client::new(client, total, mode);
    let start = WallInstant::now();
    while !c.done() {
        let now = clock.now();
        let mut progress = iface.poll(now, &mut dev, &mut sockets)
            == smolsock::smoltcp::iface::PollResult::SocketStateChanged;
        progress |= raw_echo(sockets.get_mut::<tcp::Socket>(server));
        progress |= c.poll(sockets.get_mut::<tcp::Socket>(c.handle));
        if !progress && !smolsock::device::Pending::pending(&dev) {
            match iface.poll_delay(now, &sockets) {
                Some(d) => clock.advance(d.max(Duration::from_millis(1))),
                None => panic!("raw: stalled"),
            }
        }
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn run_smolsock<const BUF: usize>(total: usize, mode: Mode) -> f64 {
    let clock = VirtualClock::default();
    let mut dev = Dev::new();
    let mut storage = [SocketStorage::EMPTY, SocketStorage::EMPTY];
    let mut stack = Stack::new(
        StackConfig::ip(IpCidr::new(LOCALHOST, 8)),
        &mut dev,
        &mut storage,
        clock.now(),
    );
    let mut server_buf = [Box::new(TcpStorage::<BUF, BUF>::new())];
    let mut echo = UpperEcho::<1>::new(
        &mut stack,
        server_buf.iter_mut().map(|b| &mut **b),
        PoolConfig::new(ports::TCP_ECHO, 1),
    )
    .unwrap();
    let mut client_buf = Box::new(TcpStorage::<BUF, BUF>::new());
    let client = stack.add_tcp(&mut client_buf).unwrap();
    stack
        .connect(client, (LOCALHOST, ports::TCP_ECHO), CLIENT_PORT)
        .unwrap();
    let mut c = Client::new(client, total, mode);
    let start = WallInstant::now();
    while !c.done() {
        let now = clock.now();
        let mut progress = stack.poll(now, &mut dev);
        progress |= echo.poll(&mut stack);
        progress |= c.poll(stack.tcp(c.handle));
        match next_step(&mut stack, &dev, now, progress) {
            Next::PollNow => {}
            Next::Wait(Some(d)) => clock.advance(d.max(Duration::from_millis(1))),
            Next::Wait(None) => panic!("smolsock: stalled"),
        }
    }
    total as f64 / start.elapsed().as_secs_f64()
}

/// The best run: interference from other work on the machine only ever slows a run down.
fn best(v: Vec<f64>) -> f64 {
    v.into_iter().fold(0.0, f64::max)
}

/// One untimed run of each variant with every echoed byte checked.
fn check<const BUF: usize>(total: usize) {
    run_raw::<BUF>(total, Mode::Check);
    run_smolsock::<BUF>(total, Mode::Check);
    run_nal::<BUF>(total, Mode::Check, true);
    run_nal::<BUF>(total, Mode::Check, false);
}

fn compare<const BUF: usize>(total: usize, runs: usize) {
    check::<BUF>(total);
    let mut raw = Vec::new();
    let mut ours = Vec::new();
    let mut traits = Vec::new();
    let mut polling = Vec::new();
    for _ in 0..runs {
        raw.push(run_raw::<BUF>(total, Mode::Time));
        ours.push(run_smolsock::<BUF>(total, Mode::Time));
        traits.push(run_nal::<BUF>(total, Mode::Time, false));
        polling.push(run_nal::<BUF>(total, Mode::Time, true));
    }
    let (raw, ours, traits, polling) = (best(raw), best(ours), best(traits), best(polling));
    println!(
        "{:>7} KiB buffers | raw smoltcp {:>8.0} MB/s | smolsock {:>8.0} MB/s | ratio {:.3} ({:+.1}%)",
        BUF / 1024,
        raw / 1e6,
        ours / 1e6,
        ours / raw,
        (ours / raw - 1.0) * 100.0
    );
    println!(
        "{:>7} KiB buffers | embedded-nal traits {:>8.0} MB/s | traits / UpperEcho {:.3} ({:+.1}%)",
        BUF / 1024,
        traits / 1e6,
        traits / ours,
        (traits / ours - 1.0) * 100.0
    );
    println!(
        "{:>7} KiB buffers | traits, calls poll when blocked {:>8.0} MB/s | / UpperEcho {:.3} ({:+.1}%)",
        BUF / 1024,
        polling / 1e6,
        polling / ours,
        (polling / ours - 1.0) * 100.0
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // One variant, once, for an instruction count that does not depend on the machine's load:
    //   TCP_BENCH_ONLY=raw-4k valgrind --tool=callgrind target/release/deps/tcp_loopback-*
    if let Ok(only) = std::env::var("TCP_BENCH_ONLY") {
        let total = 16 << 20;
        let rate = match only.as_str() {
            "raw-4k" => run_raw::<4096>(total, Mode::Time),
            "smolsock-4k" => run_smolsock::<4096>(total, Mode::Time),
            "raw-64k" => run_raw::<65536>(total, Mode::Time),
            "smolsock-64k" => run_smolsock::<65536>(total, Mode::Time),
            "traits-4k" => run_nal::<4096>(total, Mode::Time, false),
            "traits-64k" => run_nal::<65536>(total, Mode::Time, false),
            "traits-polling-4k" => run_nal::<4096>(total, Mode::Time, true),
            "traits-polling-64k" => run_nal::<65536>(total, Mode::Time, true),
            other => panic!("TCP_BENCH_ONLY: unknown variant {other}"),
        };
        println!("{only}: {} MiB at {:.0} MB/s", total >> 20, rate / 1e6);
        return;
    }
    if !std::env::args().any(|a| a == "--bench") {
        // Not `cargo bench` (`cargo test --benches`, or run by hand): a smoke run, every variant
        // once on 1 MiB, every echoed byte checked.
        check::<4096>(1 << 20);
        check::<65536>(1 << 20);
        println!("tcp_loopback: 8 variants, 1 MiB each way, every echoed byte checked");
        return;
    }
    let (small, large) = (64 << 20, 128 << 20);
    println!(
        "TCP upper-case echo over the loopback, MTU 1500, best of 9 (runs interleaved); \
         {} MiB each way with 4 KiB buffers, {} MiB with 64 KiB; every echoed byte checked in \
         an untimed run of each variant first",
        small >> 20,
        large >> 20
    );
    compare::<4096>(small, 9);
    compare::<65536>(large, 9);
}
