//! Throughput over a Linux TAP device: smolsock against raw smoltcp and the kernel, in the same
//! run.
//!
//! ```text
//! sudo cargo bench -p smolsock-benches --bench tap
//! ```
//!
//! Three rows, each against its baseline measured in the same run (interleaved, best of 5
//! rounds):
//!
//! | row | smolsock side | baseline |
//! |---|---|---|
//! | kernel → stack | a TCP sink on `Stack` + `HostLoop` + `TapDevice` (the TAP server's path); the kernel writes | raw smoltcp: one `Interface`, one socket, the `poll`/`phy::wait` loop of smoltcp's `examples/benchmark` |
//! | stack → kernel | a TCP source on the same path; the kernel reads | the same raw loop |
//! | echo | the TAP server's upper-case echo (`TapServer`, port 8000); the kernel sends and reads at once | the kernel's own upper-case echo over a veth pair |
//!
//! The raw baseline runs twice: on smoltcp's own `TunTapInterface` (what smoltcp's benchmark
//! uses; the ratio is against this one) and on smolsock's `TapDevice` (same device as
//! smolsock: the difference is then the stack and the loop alone; that device has its checksum
//! offload, but batches nothing without a `HostLoop`). The raw sockets have 64 KiB buffers each
//! way (smoltcp then scales the window by 2, as for any buffer over 65 535 bytes), and so has
//! the first smolsock row: like against like. smolsock then runs without the device's offloads
//! (`TapDevice::open_plain`, 64 KiB), with the TAP server's defaults (256 KiB buffers, ACK delay
//! 10 ms), with 1 MiB buffers (`tap serve --tcp-buffer 1048576`), and with 1 MiB and no ACK
//! delay (`--ack-delay 0`); the echo with 64 KiB, the defaults, 1 MiB, and 1 MiB without ACK
//! delay. `TAP_BENCH_ONLY=echo` runs the echo rows alone (to profile them).
//!
//! **Every byte is checked, on the fly, in every run.** The one-way stream is a fixed
//! pseudo-random block of 65 521 bytes (a prime, so no buffer or segment boundary lines up with
//! it) repeated: byte `k` is `block[k % 65521]`. The sender copies from the block, the receiver
//! compares what it gets with it (one `memcmp` per piece; the same work for smolsock and the raw
//! baseline). The echo client compares the reply with the upper-cased payload as it arrives.
//!
//! Each row prints MB/s (payload bytes one way, 10^6 bytes per second) and the CPU time per MB
//! of payload: of the stack's own thread (smolsock or raw smoltcp, system calls into the TAP
//! device included) and of the whole process (both ends: the kernel's TCP for the client is
//! counted in the client's thread; softirq work done elsewhere is not).
//!
//! All transfers run inside network namespaces made for the run (named after the PID, deleted
//! afterwards): `tap0` with the kernel at 192.168.69.100 and smolsock at 192.168.69.1, a fresh
//! namespace per transfer; the veth pair between two namespaces (192.168.70.1 and .2).
//!
//! Without `--bench` (as under `cargo test --benches`) each row becomes a test that moves
//! 4 MiB once, every byte checked, no figures; without root those tests are reported ignored
//! with the reason (failed under `SMOLSOCK_REQUIRE_ALL=1`). `cargo bench` without root says why
//! and exits with an error.

#[path = "../tests/harness/mod.rs"]
mod harness;
#[path = "../tests/netns/mod.rs"]
mod netns;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::io::AsRawFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use netns::{Netns, SMOLSOCK_IP, TAP};
use smolsock::event_loop::Work;
use smolsock::smoltcp::iface::{Config, Interface, SocketSet, SocketStorage};
use smolsock::smoltcp::phy::{self, Device, Medium, TunTapInterface};
use smolsock::smoltcp::socket::tcp;
use smolsock::smoltcp::time::{Duration as SmolDuration, Instant as SmolInstant};
use smolsock::smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, Ipv4Address};
use smolsock::storage::TcpStorage;
use smolsock::tap::{HostLoop, ServerConfig, TapDevice, TapServer, TCP_BUFFERS};
use smolsock::{Stack, StackConfig};

const MIB: usize = 1 << 20;
/// smolsock's MAC on the TAP device, in every variant (the kernel's ARP cache stays right).
const MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
/// Socket buffers of the one-way rows, raw and smolsock alike (as the TAP server's echo).
const BUF: usize = 65536;
/// The sink's port (kernel → stack) and the source's (stack → kernel).
const SINK_PORT: u16 = 5001;
const SOURCE_PORT: u16 = 5002;
/// A transfer that takes longer than this has failed.
const DEADLINE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// The stream: a prime-length pseudo-random block, repeated.

/// Length of the repeated block.
const PERIOD: usize = 65521;
/// Longest piece [`Pattern::at`] hands out.
const PIECE: usize = MIB;

/// Byte `k` of every one-way stream is `block[k % PERIOD]`.
struct Pattern {
    /// The block, then its first `PIECE` bytes again, so any piece of up to `PIECE` bytes is one
    /// slice.
    bytes: Vec<u8>,
}

impl Pattern {
    fn new() -> Pattern {
        let mut block = vec![0u8; PERIOD];
        smolsock::sim::Prng::new(0x9e37_79b9_7f4a_7c15).fill(&mut block);
        let bytes = block.iter().cycle().take(PERIOD + PIECE).copied().collect();
        Pattern { bytes }
    }

    /// Stream bytes `at..at + len` (`len` up to [`PIECE`]).
    fn at(&self, at: usize, len: usize) -> &[u8] {
        let start = at % PERIOD;
        &self.bytes[start..start + len]
    }

    /// Copy stream bytes `at..` into `out`.
    fn fill(&self, at: usize, out: &mut [u8]) {
        for (i, piece) in out.chunks_mut(PIECE).enumerate() {
            piece.copy_from_slice(self.at(at + i * PIECE, piece.len()));
        }
    }

    /// Panic unless `got` is the stream from byte `at` on.
    fn check(&self, at: usize, got: &[u8]) {
        for (i, piece) in got.chunks(PIECE).enumerate() {
            let from = at + i * PIECE;
            if piece != self.at(from, piece.len()) {
                let bad = piece
                    .iter()
                    .zip(self.at(from, piece.len()))
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                panic!("stream byte {} differs", from + bad);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CPU time.

/// User + system CPU time of this thread (`RUSAGE_THREAD`) or the whole process.
fn cpu(who: libc::c_int) -> Duration {
    // SAFETY: getrusage fills the struct it is given; all zeroes is a valid `rusage`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; `usage` lives for the call.
    unsafe { libc::getrusage(who, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn thread_cpu() -> Duration {
    cpu(libc::RUSAGE_THREAD)
}

fn process_cpu() -> Duration {
    cpu(libc::RUSAGE_SELF)
}

// ---------------------------------------------------------------------------------------------
// The stack side of the one-way rows: the same application for smolsock and raw smoltcp.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Direction {
    /// The kernel writes, the stack's sink reads and checks.
    KernelToStack,
    /// The stack's source writes, the kernel reads and checks.
    StackToKernel,
}

impl Direction {
    fn port(self) -> u16 {
        match self {
            Direction::KernelToStack => SINK_PORT,
            Direction::StackToKernel => SOURCE_PORT,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Direction::KernelToStack => "kernel -> stack (sink)",
            Direction::StackToKernel => "stack -> kernel (source)",
        }
    }
}

/// One connection's worth of sink or source on one socket.
struct OneWay {
    direction: Direction,
    total: usize,
    moved: usize,
    pattern: Arc<Pattern>,
    /// The connection has been seen (the socket left LISTEN).
    seen: bool,
    closing: bool,
}

impl OneWay {
    fn new(direction: Direction, total: usize, pattern: Arc<Pattern>) -> OneWay {
        OneWay {
            direction,
            total,
            moved: 0,
            pattern,
            seen: false,
            closing: false,
        }
    }

    /// Move what the socket allows; `Work::Done` once the connection is closed both ways.
    fn poll(&mut self, socket: &mut tcp::Socket<'_>) -> Work {
        let mut progress = false;
        if socket.state() != tcp::State::Listen {
            self.seen = true;
        }
        match self.direction {
            Direction::KernelToStack => {
                while socket.can_recv() {
                    let (pattern, at) = (&self.pattern, self.moved);
                    let n = socket
                        .recv(|buf| {
                            pattern.check(at, buf);
                            (buf.len(), buf.len())
                        })
                        .unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    self.moved += n;
                    progress = true;
                }
                // The kernel closed its side: everything has arrived.
                if self.seen && !self.closing && socket.state() == tcp::State::CloseWait {
                    assert_eq!(self.moved, self.total, "the sink got the whole stream");
                    socket.close();
                    self.closing = true;
                    progress = true;
                }
            }
            Direction::StackToKernel => {
                while self.moved < self.total && socket.can_send() {
                    let (pattern, at, left) = (&self.pattern, self.moved, self.total - self.moved);
                    let n = socket
                        .send(|buf| {
                            let n = buf.len().min(left);
                            pattern.fill(at, &mut buf[..n]);
                            (n, n)
                        })
                        .unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    self.moved += n;
                    progress = true;
                }
                if self.moved == self.total && !self.closing && socket.may_send() {
                    socket.close();
                    self.closing = true;
                    progress = true;
                }
            }
        }
        let done = self.seen && matches!(socket.state(), tcp::State::Closed | tcp::State::TimeWait);
        Work::done_if(done, progress)
    }
}

/// Run `f` on a thread with room for 1 MiB socket buffers built on the stack (as an unoptimised
/// build does before moving them to the heap), in the calling thread's network namespace.
fn big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let thread = thread::Builder::new()
        .stack_size(64 * MIB)
        .spawn(f)
        .expect("spawn");
    match thread.join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// What the stack's thread reports after one transfer.
struct StackSide {
    cpu: Duration,
}

fn stack_address() -> IpCidr {
    let ip: Ipv4Address = SMOLSOCK_IP.parse().unwrap();
    IpCidr::new(IpAddress::Ipv4(ip), 24)
}

/// How smolsock's side of a transfer is set up.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Tuning {
    /// `TapDevice::open` (offloads) or `TapDevice::open_plain`.
    offload: bool,
    /// Socket buffers each way: one of `TCP_BUFFERS` (as `tap serve --tcp-buffer`).
    buffer: usize,
    /// As `tap serve --ack-delay`.
    ack_delay: Option<SmolDuration>,
}

impl Tuning {
    /// The TAP server's defaults.
    fn server_default() -> Tuning {
        let config = ServerConfig::new(TAP);
        Tuning {
            offload: true,
            buffer: config.tcp_buffer,
            ack_delay: config.ack_delay,
        }
    }

    fn label(self) -> String {
        format!(
            "smolsock{}, {} KiB, ACK delay {}{}",
            if self.offload { "" } else { " no offload" },
            self.buffer >> 10,
            self.ack_delay
                .map_or("none".to_string(), |d| format!("{} ms", d.total_millis())),
            if self == Tuning::server_default() {
                " (defaults)"
            } else {
                ""
            }
        )
    }
}

/// smolsock: `Stack` (ingress guard included) driven by `HostLoop` on a `TapDevice`, as the
/// TAP server is.
fn smolsock_one_way(tuning: Tuning, app: &mut OneWay, ready: mpsc::Sender<()>) -> StackSide {
    match tuning.buffer {
        b if b == TCP_BUFFERS[1] => smolsock_sized::<{ TCP_BUFFERS[1] }>(tuning, app, ready),
        b if b == TCP_BUFFERS[2] => smolsock_sized::<{ TCP_BUFFERS[2] }>(tuning, app, ready),
        _ => smolsock_sized::<{ TCP_BUFFERS[0] }>(tuning, app, ready),
    }
}

fn smolsock_sized<const B: usize>(
    tuning: Tuning,
    app: &mut OneWay,
    ready: mpsc::Sender<()>,
) -> StackSide {
    let tap = if tuning.offload {
        TapDevice::open(TAP)
    } else {
        TapDevice::open_plain(TAP)
    };
    let mut tap = tap.expect("open the TAP device");
    let mut host = HostLoop::new(&tap).max_wait(Some(SmolDuration::from_millis(50)));
    let mut slots = [SocketStorage::EMPTY];
    let mut buffers: Box<TcpStorage<B, B>> = Box::default();
    let config = StackConfig::ethernet(MAC, stack_address()).with_seed(0x5eed);
    let mut stack = Stack::new(config, &mut tap, &mut slots[..], host.now());
    let handle = stack.add_tcp(&mut buffers).expect("a socket");
    let socket = stack.tcp(handle);
    socket.set_ack_delay(tuning.ack_delay);
    socket.listen(app.direction.port()).expect("listen");
    ready.send(()).ok();
    let started = Instant::now();
    let cpu = thread_cpu();
    host.run(&mut stack, &mut tap, |stack, _now| {
        assert!(started.elapsed() < DEADLINE, "smolsock: transfer stuck");
        app.poll(stack.tcp(handle))
    })
    .expect("run");
    StackSide {
        cpu: thread_cpu() - cpu,
    }
}

/// Raw smoltcp as its `examples/benchmark` is written: one `Interface`, one socket, `poll`, the
/// application, then `phy::wait` until `poll_at`.
fn raw_one_way<D: Device + AsRawFd>(
    mut device: D,
    app: &mut OneWay,
    ready: mpsc::Sender<()>,
) -> StackSide {
    let fd = device.as_raw_fd();
    let mut config = Config::new(MAC.into());
    config.random_seed = 0x5eed;
    let mut iface = Interface::new(config, &mut device, SmolInstant::now());
    iface.update_ip_addrs(|a| a.push(stack_address()).unwrap());
    let mut sockets = SocketSet::new(vec![]);
    let buffer = || tcp::SocketBuffer::new(vec![0u8; BUF]);
    let handle = sockets.add(tcp::Socket::new(buffer(), buffer()));
    sockets
        .get_mut::<tcp::Socket>(handle)
        .listen(app.direction.port())
        .expect("listen");
    ready.send(()).ok();
    let started = Instant::now();
    let cpu = thread_cpu();
    loop {
        assert!(started.elapsed() < DEADLINE, "raw: transfer stuck");
        let now = SmolInstant::now();
        iface.poll(now, &mut device, &mut sockets);
        if app.poll(sockets.get_mut::<tcp::Socket>(handle)) == Work::Done {
            break;
        }
        match iface.poll_at(now, &sockets) {
            Some(at) if now < at => phy::wait(fd, Some(at - now)).expect("wait"),
            Some(_) => {}
            None => phy::wait(fd, Some(SmolDuration::from_millis(50))).expect("wait"),
        }
    }
    StackSide {
        cpu: thread_cpu() - cpu,
    }
}

/// Which stack serves a one-way transfer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stacked {
    Smolsock(Tuning),
    /// Raw smoltcp on smoltcp's `TunTapInterface` (as smoltcp's benchmark).
    RawTunTap,
    /// Raw smoltcp on smolsock's `TapDevice`.
    RawTapDevice,
}

impl Stacked {
    /// Every variant of a one-way row, the baseline second.
    fn all() -> Vec<Stacked> {
        let default = Tuning::server_default();
        // The raw baseline's buffers: the first row compares like with like.
        let same = Tuning {
            buffer: BUF,
            ..default
        };
        let large = Tuning {
            buffer: TCP_BUFFERS[2],
            ..default
        };
        vec![
            Stacked::Smolsock(same),
            Stacked::RawTunTap,
            Stacked::RawTapDevice,
            Stacked::Smolsock(Tuning {
                offload: false,
                ..same
            }),
            Stacked::Smolsock(default),
            Stacked::Smolsock(large),
            Stacked::Smolsock(Tuning {
                ack_delay: None,
                ..large
            }),
        ]
    }

    fn label(self) -> String {
        match self {
            Stacked::Smolsock(tuning) => tuning.label(),
            Stacked::RawTunTap => "raw smoltcp on TunTapInterface (baseline)".into(),
            Stacked::RawTapDevice => "raw smoltcp on smolsock's TapDevice".into(),
        }
    }
}

/// The kernel's end of a one-way transfer, from connect to the stack's close.
fn kernel_end(direction: Direction, total: usize, pattern: &Pattern) {
    let to: SocketAddr = format!("{SMOLSOCK_IP}:{}", direction.port())
        .parse()
        .unwrap();
    let mut stream = TcpStream::connect_timeout(&to, Duration::from_secs(10)).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.set_write_timeout(Some(DEADLINE)).unwrap();
    match direction {
        Direction::KernelToStack => {
            let mut sent = 0;
            while sent < total {
                let n = (total - sent).min(PIECE);
                let n = stream.write(pattern.at(sent, n)).expect("send");
                sent += n;
            }
            stream.shutdown(Shutdown::Write).expect("half-close");
            // The sink closes once it has every byte.
            let mut rest = [0u8; 16];
            assert_eq!(stream.read(&mut rest).expect("wait for close"), 0);
        }
        Direction::StackToKernel => {
            let mut buf = vec![0u8; PIECE];
            let mut received = 0;
            loop {
                let n = stream.read(&mut buf).expect("receive");
                if n == 0 {
                    break;
                }
                assert!(received + n <= total, "more than was sent");
                pattern.check(received, &buf[..n]);
                received += n;
            }
            assert_eq!(received, total, "the whole stream");
        }
    }
}

/// One measured transfer.
#[derive(Clone, Copy)]
struct Sample {
    time: Duration,
    /// CPU of the stack's thread.
    stack_cpu: Duration,
    /// CPU of the whole process.
    process_cpu: Duration,
}

/// One transfer of `total` bytes in `direction` with `stack` serving, in a namespace of its own.
fn one_way(stack: Stacked, direction: Direction, total: usize, pattern: &Arc<Pattern>) -> Sample {
    let ns = Netns::new("bench-tap").expect("namespace");
    ns.add_tap().expect("TAP device");
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut app = OneWay::new(direction, total, pattern.clone());
    let server = ns.spawn(move || {
        big_stack(move || match stack {
            Stacked::Smolsock(tuning) => smolsock_one_way(tuning, &mut app, ready_tx),
            Stacked::RawTunTap => {
                let device =
                    TunTapInterface::new(TAP, Medium::Ethernet).expect("open the TAP device");
                raw_one_way(device, &mut app, ready_tx)
            }
            Stacked::RawTapDevice => {
                let device = TapDevice::open(TAP).expect("open the TAP device");
                raw_one_way(device, &mut app, ready_tx)
            }
        })
    });
    ready_rx.recv().expect("server ready");
    ns.wait_for_carrier();
    let pattern = pattern.clone();
    let process = process_cpu();
    let started = Instant::now();
    ns.run(move || kernel_end(direction, total, &pattern));
    let time = started.elapsed();
    let side = match server.join() {
        Ok(side) => side,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    Sample {
        time,
        stack_cpu: side.cpu,
        process_cpu: process_cpu() - process,
    }
}

// ---------------------------------------------------------------------------------------------
// The echo row.

/// What the echo client sends, and what it must get back (upper-cased once, before the clock
/// starts: the client then compares each piece with one `memcmp`, as the one-way rows do).
struct EchoPayload {
    sent: Vec<u8>,
    expected: Vec<u8>,
}

fn echo_payload(len: usize) -> Arc<EchoPayload> {
    let mut sent = vec![0; len];
    smolsock::sim::Prng::new(0x9e37_79b9_7f4a_7c15).fill(&mut sent);
    let expected = sent.to_ascii_uppercase();
    Arc::new(EchoPayload { sent, expected })
}

/// Send the payload to an upper-case echo at `to`, receive and check the whole reply as it
/// arrives; the time from connect to the last byte back.
fn timed_echo(to: SocketAddr, data: Arc<EchoPayload>) -> Duration {
    let started = Instant::now();
    let stream = TcpStream::connect_timeout(&to, Duration::from_secs(10)).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let payload = data.clone();
    let sender = thread::spawn(move || {
        writer.write_all(&payload.sent).expect("send");
        writer.shutdown(Shutdown::Write).expect("half-close");
    });
    let expected = &data.expected;
    let mut buf = vec![0u8; 256 << 10];
    let mut received = 0;
    loop {
        let n = (&stream).read(&mut buf).expect("receive");
        if n == 0 {
            break;
        }
        assert!(received + n <= expected.len(), "more than was sent");
        assert!(
            buf[..n] == expected[received..received + n],
            "reply differs near byte {received}"
        );
        received += n;
    }
    let elapsed = started.elapsed();
    sender.join().expect("sender");
    assert_eq!(received, expected.len(), "whole reply");
    elapsed
}

/// One echo through the TAP server's upper-case echo (port 8000).
fn smolsock_echo(tuning: Tuning, data: &Arc<EchoPayload>) -> Sample {
    let ns = Netns::new("bench-tap").expect("namespace");
    ns.add_tap().expect("TAP device");
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel();
    let flag = stop.clone();
    let server = ns.spawn(move || {
        big_stack(move || {
            let mut config = ServerConfig::new(TAP);
            config.max_wait = Some(SmolDuration::from_millis(50));
            config.tcp_buffer = tuning.buffer;
            config.ack_delay = tuning.ack_delay;
            let server = TapServer::open(config).expect("open the TAP device");
            ready_tx.send(()).ok();
            let cpu = thread_cpu();
            server.run(&flag, None).expect("serve");
            thread_cpu() - cpu
        })
    });
    ready_rx.recv().expect("server ready");
    ns.wait_for_carrier();
    let to: SocketAddr = format!("{SMOLSOCK_IP}:8000").parse().unwrap();
    let data = data.clone();
    let process = process_cpu();
    let time = ns.run(move || timed_echo(to, data));
    let process_cpu = process_cpu() - process;
    stop.store(true, Ordering::Relaxed);
    let stack_cpu = server.join().expect("server thread");
    Sample {
        time,
        stack_cpu,
        process_cpu,
    }
}

/// One echo between two kernel stacks over a veth pair; the echo's thread is the "stack".
fn kernel_echo(data: &Arc<EchoPayload>) -> Sample {
    let client_ns = Netns::new("bench-veth-a").expect("namespace");
    let server_ns = Netns::new("bench-veth-b").expect("namespace");
    client_ns
        .ip(&[
            "link",
            "add",
            "veth-a",
            "type",
            "veth",
            "peer",
            "name",
            "veth-b",
            "netns",
            server_ns.name(),
        ])
        .expect("veth pair");
    client_ns
        .ip(&["addr", "add", "192.168.70.1/24", "dev", "veth-a"])
        .unwrap();
    server_ns
        .ip(&["addr", "add", "192.168.70.2/24", "dev", "veth-b"])
        .unwrap();
    client_ns.ip(&["link", "set", "veth-a", "up"]).unwrap();
    server_ns.ip(&["link", "set", "veth-b", "up"]).unwrap();
    let listener = server_ns.run(|| TcpListener::bind("192.168.70.2:8000").expect("bind"));
    // The kernel's own upper-case echo, as in the lesson: read, upper-case, send back.
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let cpu = thread_cpu();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = (&stream).read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            buf[..n].make_ascii_uppercase();
            (&stream).write_all(&buf[..n]).expect("write");
        }
        thread_cpu() - cpu
    });
    let to: SocketAddr = "192.168.70.2:8000".parse().unwrap();
    let data = data.clone();
    let process = process_cpu();
    let time = client_ns.run(move || timed_echo(to, data));
    let process_cpu = process_cpu() - process;
    let stack_cpu = server.join().expect("kernel echo");
    Sample {
        time,
        stack_cpu,
        process_cpu,
    }
}

// ---------------------------------------------------------------------------------------------
// Figures.

fn best(samples: &[Sample]) -> Sample {
    *samples.iter().min_by_key(|s| s.time).unwrap()
}

fn mb_per_s(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / 1e6 / time.as_secs_f64()
}

/// CPU milliseconds per MB of payload.
fn ms_per_mb(cpu: Duration, bytes: usize) -> f64 {
    cpu.as_secs_f64() * 1e3 / (bytes as f64 / 1e6)
}

fn print_row(label: &str, bytes: usize, s: Sample, baseline: Option<Sample>) {
    let ratio = baseline.map_or(String::new(), |b| {
        format!("  ratio {:.2}", b.time.as_secs_f64() / s.time.as_secs_f64())
    });
    println!(
        "  {label:<62} {:>7.1} MB/s  CPU {:>5.2} ms/MB stack, {:>5.2} ms/MB process{ratio}",
        mb_per_s(bytes, s.time),
        ms_per_mb(s.stack_cpu, bytes),
        ms_per_mb(s.process_cpu, bytes),
    );
}

fn bench() -> ExitCode {
    if let Some(reason) = netns::unavailable() {
        println!("the TAP benchmark cannot run here: {reason}");
        return ExitCode::FAILURE;
    }
    let rounds = 5;
    let one_way_size = 128 * MIB;
    let echo_size = 256 * MIB;
    let pattern = Arc::new(Pattern::new());
    let data = echo_payload(echo_size);
    println!(
        "TAP throughput, MTU 1500, every byte checked, best of {rounds} interleaved rounds; \
         ratio = this row / the baseline row, same run"
    );
    let variants = Stacked::all();
    // `TAP_BENCH_ONLY=echo`: the echo rows alone (to profile them, e.g. under `perf record`).
    let one_way_rows = std::env::var("TAP_BENCH_ONLY").map_or(true, |only| only != "echo");
    for direction in [Direction::KernelToStack, Direction::StackToKernel] {
        if !one_way_rows {
            break;
        }
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); variants.len()];
        for _ in 0..rounds {
            for (i, &stack) in variants.iter().enumerate() {
                samples[i].push(one_way(stack, direction, one_way_size, &pattern));
            }
        }
        println!("{} MiB {}:", one_way_size / MIB, direction.label());
        let baseline = best(&samples[1]);
        for (i, stack) in variants.iter().enumerate() {
            let ratio = (i != 1).then_some(baseline);
            print_row(&stack.label(), one_way_size, best(&samples[i]), ratio);
        }
    }
    let default = Tuning::server_default();
    let large = Tuning {
        buffer: TCP_BUFFERS[2],
        ..default
    };
    let echo_tunings = [
        Tuning {
            buffer: TCP_BUFFERS[0],
            ..default
        },
        default,
        large,
        Tuning {
            ack_delay: None,
            ..large
        },
    ];
    let mut veth = Vec::new();
    let mut tap: Vec<Vec<Sample>> = vec![Vec::new(); echo_tunings.len()];
    for _ in 0..rounds {
        veth.push(kernel_echo(&data));
        for (samples, &tuning) in tap.iter_mut().zip(&echo_tunings) {
            samples.push(smolsock_echo(tuning, &data));
        }
    }
    println!(
        "{} MiB kernel -> upper-case echo -> kernel (MB/s one way, as much again flows back):",
        echo_size / MIB
    );
    let veth = best(&veth);
    print_row("kernel echo over veth (baseline)", echo_size, veth, None);
    for (samples, tuning) in tap.iter().zip(echo_tunings) {
        let label = format!("TapServer :8000, {}", tuning.label());
        print_row(&label, echo_size, best(samples), Some(veth));
    }
    ExitCode::SUCCESS
}

// ---------------------------------------------------------------------------------------------
// Smoke tests (`cargo test --benches`): every row once, 4 MiB, every byte checked.

const SMOKE: usize = 4 * MIB;

fn smoke_one_way(stack: Stacked, direction: Direction) {
    one_way(stack, direction, SMOKE, &Arc::new(Pattern::new()));
}

fn smolsock_sink() {
    smoke_one_way(
        Stacked::Smolsock(Tuning::server_default()),
        Direction::KernelToStack,
    );
}

fn smolsock_source() {
    smoke_one_way(
        Stacked::Smolsock(Tuning::server_default()),
        Direction::StackToKernel,
    );
}

/// No offloads, 1 MiB buffers, no ACK delay: the other paths of the device and the socket.
fn tuned() -> Tuning {
    Tuning {
        offload: false,
        buffer: TCP_BUFFERS[2],
        ack_delay: None,
    }
}

fn smolsock_plain_large_sink() {
    smoke_one_way(Stacked::Smolsock(tuned()), Direction::KernelToStack);
}

fn smolsock_plain_large_source() {
    smoke_one_way(Stacked::Smolsock(tuned()), Direction::StackToKernel);
}

fn raw_tuntap_sink() {
    smoke_one_way(Stacked::RawTunTap, Direction::KernelToStack);
}

fn raw_tuntap_source() {
    smoke_one_way(Stacked::RawTunTap, Direction::StackToKernel);
}

fn raw_tapdevice_sink() {
    smoke_one_way(Stacked::RawTapDevice, Direction::KernelToStack);
}

fn raw_tapdevice_source() {
    smoke_one_way(Stacked::RawTapDevice, Direction::StackToKernel);
}

fn smolsock_echo_smoke() {
    smolsock_echo(Tuning::server_default(), &echo_payload(SMOKE));
}

fn smolsock_echo_large_smoke() {
    let large = Tuning {
        offload: true,
        ..tuned()
    };
    smolsock_echo(large, &echo_payload(SMOKE));
}

fn kernel_echo_smoke() {
    kernel_echo(&echo_payload(SMOKE));
}

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--bench") {
        return bench();
    }
    harness::run(
        harness::tests![
            smolsock_sink,
            smolsock_source,
            smolsock_plain_large_sink,
            smolsock_plain_large_source,
            raw_tuntap_sink,
            raw_tuntap_source,
            raw_tapdevice_sink,
            raw_tapdevice_source,
            smolsock_echo_smoke,
            smolsock_echo_large_smoke,
            kernel_echo_smoke,
        ],
        netns::unavailable().map(str::to_string),
    )
}
