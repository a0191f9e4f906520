//! Self-test mode: the library's services and clients run inside the MCU over the library's
//! allocation-free loopback (the same code the host tests run): the upper-case echo, the framed
//! echo (sticky packets, a frame in pieces, an oversize header), UDP echo and sink. Plus checks
//! of the board itself (its clock, its NIC: the LAN9118 in PHY loopback, virtio-net answering
//! ARP). Prints one line per check and a summary, then exits QEMU with status 0 when every
//! check passed, 1 otherwise (so `cargo run` fails with it).
//!
//! On the micro:bit (Cortex-M0, 16 KiB of RAM, `cfg(microbit)`) the same checks run with
//! smaller buffers and payloads, and one UDP client.
#![no_std]
#![no_main]

#[cfg_attr(all(target_arch = "arm", not(microbit)), path = "../board/mps2.rs")]
#[cfg_attr(all(target_arch = "arm", microbit), path = "../board/microbit.rs")]
#[cfg_attr(target_arch = "riscv32", path = "../board/virt.rs")]
mod board;

use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;

use smolsock::digest::Fnv1a;
use smolsock::event_loop::Work;
use smolsock::frame::{encode_into, Accept, FrameDecoder};
use smolsock::service::Verdict;
use smolsock::service::{ports, EchoClient, FramedEcho, Service, UdpEcho, UdpSink, UpperEcho};
use smolsock::smoltcp::iface::SocketStorage;
use smolsock::smoltcp::time::Duration;
use smolsock::smoltcp::wire::{IpAddress, IpCidr, IpEndpoint};
use smolsock::storage::UdpLaneStorage;
use smolsock::tcp::{ClientState, EphemeralPorts, PoolConfig, TcpClient};
use smolsock::udp::UdpClient;
use smolsock::{Stack, StackConfig};

const LOCALHOST: IpAddress = IpAddress::v4(127, 0, 0, 1);

/// The LAN9118's frame buffers (mps2 boards): full-size Ethernet frames.
#[cfg(all(target_arch = "arm", not(microbit)))] // the mps2 boards (the others' NICs have buffers of their own)
const NIC_BUF: usize = smolsock::device::lan9118::BUF_LEN;

/// Echo server sockets (the pool), framed echo sockets, and client sockets.
const SERVERS: usize = 2;
const FRAMED: usize = 2;
const CLIENTS: usize = 2;
const SOCKETS: usize = SERVERS + FRAMED + CLIENTS + 3 + UDP_CLIENTS;

#[cfg(not(microbit))]
mod size {
    /// UDP clients of the echo.
    pub const UDP_CLIENTS: usize = 3;
    /// Bytes the first of the two concurrent TCP clients pushes through the echo (the second
    /// pushes half).
    pub const BULK: usize = 16 * 1024;
    /// Largest datagram, and frame of the framed echo.
    pub const UDP_MAX: usize = 1024;
    pub const FRAME_MAX: usize = 1024;
    pub type Dev = smolsock::device::Loopback<1500, 8>;
    pub type Tcp = smolsock::storage::TcpStorage<2048, 2048>;
    pub type Udp = smolsock::storage::UdpStorage<4, 1024>;
}

/// The micro:bit's 16 KiB hold everything with small buffers (the call stack takes the rest).
#[cfg(microbit)]
mod size {
    pub const UDP_CLIENTS: usize = 1;
    pub const BULK: usize = 512;
    pub const UDP_MAX: usize = 192;
    pub const FRAME_MAX: usize = 64;
    pub type Dev = smolsock::device::Loopback<256, 4>;
    pub type Tcp = smolsock::storage::TcpStorage<128, 128>;
    pub type Udp = smolsock::storage::UdpStorage<2, 192>;
}

use size::{Dev, Tcp, Udp, BULK, FRAME_MAX, UDP_CLIENTS, UDP_MAX};

/// Pass/fail bookkeeping for the summary.
struct Report {
    passed: u32,
    failed: u32,
}

impl Report {
    fn check(&mut self, name: &str, ok: bool) {
        board::print(if ok { "  ok    " } else { "  FAIL  " });
        board::print(name);
        board::print("\n");
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
    }
}

// Values whose empty state is not all-zero bytes are `MaybeUninit` and written at boot (as
// initialised statics they would be copied from flash, `.data`)... except on the micro:bit,
// where a value built by `write` is built on the call stack first, and its 16 KiB have no room
// for a 3 KiB temporary: there they are initialised statics.
#[cfg(microbit)]
static mut DEV: Dev = Dev::new();
#[cfg(microbit)]
static mut SOCKET_SLOTS: [SocketStorage<'static>; SOCKETS] = [SocketStorage::EMPTY; SOCKETS];
#[cfg(microbit)]
static mut UDP: [Udp; 2 + UDP_CLIENTS] = [const { Udp::new() }; 2 + UDP_CLIENTS];
#[cfg(not(microbit))]
static mut DEV: MaybeUninit<Dev> = MaybeUninit::uninit();
#[cfg(not(microbit))]
static mut SOCKET_SLOTS: MaybeUninit<[SocketStorage<'static>; SOCKETS]> = MaybeUninit::uninit();
#[cfg(not(microbit))]
static mut UDP: MaybeUninit<[Udp; 2 + UDP_CLIENTS]> = MaybeUninit::uninit();
static mut TCP: [Tcp; SERVERS + FRAMED + CLIENTS] =
    [const { Tcp::new() }; SERVERS + FRAMED + CLIENTS];
static mut UDP_LANE: UdpLaneStorage<1, UDP_MAX> = UdpLaneStorage::new();
static mut STACK: MaybeUninit<Stack<'static>> = MaybeUninit::uninit();
static mut PAYLOAD: [u8; BULK] = [0; BULK];

#[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
#[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
fn main() -> ! {
    board::init();
    board::print("smolsock self-test on ");
    board::print(board::NAME);
    board::print("\n");
    let mut report = Report {
        passed: 0,
        failed: 0,
    };
    // SAFETY: `main` runs once and nothing else (no interrupt handler) touches these statics,
    // so these are the only references to them.
    let (dev, slots, tcp, udp, lane, stack, payload) = unsafe {
        (
            &mut *addr_of_mut!(DEV),
            &mut *addr_of_mut!(SOCKET_SLOTS),
            &mut *addr_of_mut!(TCP),
            &mut *addr_of_mut!(UDP),
            &mut *addr_of_mut!(UDP_LANE),
            &mut *addr_of_mut!(STACK),
            &mut *addr_of_mut!(PAYLOAD),
        )
    };

    #[cfg(not(microbit))]
    let (dev, slots, udp) = (
        dev.write(Dev::new()),
        slots.write([SocketStorage::EMPTY; SOCKETS]),
        udp.write([const { Udp::new() }; 2 + UDP_CLIENTS]),
    );

    report.check("clock advances", clock_advances());
    report.check(
        "runtime routines: overlapping moves, fills, 64-bit division",
        runtime_routines(),
    );
    board::check_hardware(&mut |name, ok| report.check(name, ok));

    // The services on the library's loopback, exactly as on the host.
    let stack = stack.write(Stack::new(
        StackConfig::ip(IpCidr::new(LOCALHOST, 8)).with_seed(board::seed()),
        dev,
        slots,
        board::now(),
    ));
    let [udp_echo_buf, sink_buf, udp_client_bufs @ ..] = udp;
    let (server_tcp, rest) = tcp.split_at_mut(SERVERS);
    let (framed_tcp, client_tcp) = rest.split_at_mut(FRAMED);
    let [client_a, client_b] = client_tcp else {
        finish(&report)
    };
    let echo = UpperEcho::<SERVERS>::new(
        stack,
        server_tcp.iter_mut(),
        PoolConfig::new(ports::TCP_ECHO, SERVERS),
    );
    let framed = FramedEcho::<FRAMED, FRAME_MAX>::new(
        stack,
        framed_tcp.iter_mut(),
        PoolConfig::new(ports::FRAMED_ECHO, FRAMED),
    );
    let udp_echo = UdpEcho::<UDP_MAX>::new(stack, udp_echo_buf, lane, ports::UDP_ECHO);
    let sink = UdpSink::new(stack, sink_buf, ports::UDP_SINK);
    let a = stack.add_tcp(client_a);
    let b = stack.add_tcp(client_b);
    let (Ok(mut echo), Ok(mut framed), Ok(mut udp_echo), Ok(mut sink), Ok(a), Ok(b)) =
        (echo, framed, udp_echo, sink, a, b)
    else {
        report.check("services start on the loopback", false);
        finish(&report)
    };
    let mut ports_alloc = EphemeralPorts::new(board::seed());
    let server = IpEndpoint::new(LOCALHOST, ports::TCP_ECHO);

    // 1. The lesson's first exchange.
    let hello = EchoClient::connect(stack, a, server, &mut ports_alloc, b"hello world");
    let ok = hello.is_ok_and(|mut client| {
        let done = board::run(stack, dev, deadline(5), |s| {
            let p = echo.poll(s) | client.poll(s);
            if client.outcome().is_some() {
                Work::Done
            } else {
                p.into()
            }
        });
        done && client.outcome() == Some(Ok(Verdict::Verified))
            && client.reply_prefix() == b"HELLO WORLD"
    });
    report.check("TCP 8000: \"hello world\" comes back \"HELLO WORLD\"", ok);

    // 2. Two clients at once, every byte value, each reply checked byte for byte.
    let payload: &'static [u8] = {
        for (i, b) in payload.iter_mut().enumerate() {
            *b = (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3];
        }
        &*payload
    };
    let one = EchoClient::connect(stack, a, server, &mut ports_alloc, payload);
    let two = EchoClient::connect(stack, b, server, &mut ports_alloc, &payload[..BULK / 2]);
    let ok = match (one, two) {
        (Ok(mut one), Ok(mut two)) => {
            let done = board::run(stack, dev, deadline(20), |s| {
                let p = echo.poll(s) | one.poll(s) | two.poll(s);
                if one.outcome().is_some() && two.outcome().is_some() {
                    Work::Done
                } else {
                    p.into()
                }
            });
            done && one.outcome() == Some(Ok(Verdict::Verified))
                && two.outcome() == Some(Ok(Verdict::Verified))
        }
        _ => false,
    };
    report.check("TCP 8000: two clients at once, every byte checked", ok);
    report.check(
        "TCP 8000: pool accepted 3, all closed cleanly",
        settle(stack, dev, &mut echo) && {
            let st = echo.pool().stats();
            st.accepted == 3 && st.closed == 3 && st.reset == 0
        },
    );

    // 3. Framed echo: message boundaries survive whatever TCP does to the bytes.
    let framed_server = IpEndpoint::new(LOCALHOST, ports::FRAMED_ECHO);
    let mut wire = [0u8; 64];
    let mut len = 0;
    for msg in [&b"one"[..], b"two", b"three"] {
        len += encode_into(msg, &mut wire[len..]).unwrap_or(0);
    }
    let three: &[&[u8]] = &[b"one", b"two", b"three"];
    let mut ca = TcpClient::new(a);
    let mut cb = TcpClient::new(b);
    let ok = ca.connect(stack, framed_server, &mut ports_alloc).is_ok()
        && framed_exchange(stack, dev, &mut framed, &mut ca, &wire[..len], len, three);
    report.check(
        "TCP 9000: three frames in one send come back as three frames",
        ok,
    );
    let one = encode_into(b"piece by piece", &mut wire).unwrap_or(0);
    let ok = framed_exchange(
        stack,
        dev,
        &mut framed,
        &mut ca,
        &wire[..one],
        1,
        &[b"piece by piece"],
    );
    report.check(
        "TCP 9000: a frame sent one byte at a time comes back whole",
        ok,
    );
    // B breaks the framing (a 4 GiB header) while A is connected: only B is reset.
    let ok = cb.connect(stack, framed_server, &mut ports_alloc).is_ok()
        && framed_reset(stack, dev, &mut framed, &mut cb)
        && framed_exchange(
            stack,
            dev,
            &mut framed,
            &mut ca,
            &wire[..one],
            one,
            &[b"piece by piece"],
        )
        && framed.stats().bad_frames == 1;
    report.check(
        "TCP 9000: an oversize header resets only that connection",
        ok,
    );
    ca.close(stack);

    // 4. UDP echo: several clients, each answered at its own address.
    let mut clients: [Option<UdpClient>; UDP_CLIENTS] = [None; UDP_CLIENTS];
    for (slot, buf) in clients.iter_mut().zip(udp_client_bufs.iter_mut()) {
        *slot = stack
            .add_udp(buf)
            .ok()
            .and_then(|h| UdpClient::bind_ephemeral(stack, h, &mut ports_alloc).ok());
    }
    report.check("UDP 8848: each client gets its own reply", {
        udp_echo_round(stack, dev, &mut udp_echo, &mut clients)
    });

    // 5. UDP sink: counts every datagram and byte; the digest matches what was sent.
    report.check(
        "UDP 8888: sink counts 20 datagrams, bytes and digest",
        udp_sink_round(stack, dev, &mut sink, &mut clients),
    );

    finish(&report)
}

fn finish(report: &Report) -> ! {
    board::print("summary: ");
    board::print_u32(report.passed);
    board::print(" passed, ");
    board::print_u32(report.failed);
    board::print(" failed\n");
    board::exit(report.failed == 0)
}

fn deadline(secs: u64) -> Option<smolsock::smoltcp::time::Instant> {
    Some(board::now() + Duration::from_secs(secs))
}

/// Let the echo pool see every connection end.
fn settle(stack: &mut Stack<'_>, dev: &mut Dev, echo: &mut UpperEcho<SERVERS>) -> bool {
    board::run(stack, dev, deadline(5), |s| {
        let p = echo.poll(s);
        let st = echo.pool().stats();
        if st.closed + st.reset >= st.accepted {
            Work::Done
        } else {
            p.into()
        }
    })
}

/// Send `wire` on `client`, `chunk` bytes per loop round, and check the framed echo answers
/// with exactly `expected`, upper-cased, one frame each.
fn framed_exchange(
    stack: &mut Stack<'_>,
    dev: &mut Dev,
    framed: &mut FramedEcho<FRAMED, FRAME_MAX>,
    client: &mut TcpClient,
    wire: &[u8],
    chunk: usize,
    expected: &[&[u8]],
) -> bool {
    let mut decoder: FrameDecoder<64> = FrameDecoder::new();
    let (mut sent, mut got, mut wrong) = (0, 0, false);
    let done = board::run(stack, dev, deadline(5), |s| {
        let mut p = framed.poll(s);
        if client.state(s) == ClientState::Connected {
            if sent < wire.len() {
                let end = (sent + chunk).min(wire.len());
                if let Ok(n) = client.send(s, &wire[sent..end]) {
                    sent += n;
                    p |= n > 0;
                }
            }
            let read = decoder.recv_from(client.socket(s), |frame| {
                let want = expected.get(got).copied().unwrap_or_default();
                wrong |= frame.len() != want.len()
                    || frame
                        .iter()
                        .zip(want)
                        .any(|(f, w)| *f != w.to_ascii_uppercase());
                got += 1;
                Accept::Taken
            });
            match read {
                Ok(progress) => p |= progress.made_progress(),
                Err(_) => wrong = true,
            }
        }
        if wrong || got >= expected.len() {
            Work::Done
        } else {
            p.into()
        }
    });
    done && !wrong && got == expected.len()
}

/// Send a header announcing 4 GiB on `client`; the framed echo must reset the connection.
fn framed_reset(
    stack: &mut Stack<'_>,
    dev: &mut Dev,
    framed: &mut FramedEcho<FRAMED, FRAME_MAX>,
    client: &mut TcpClient,
) -> bool {
    let mut sent = false;
    board::run(stack, dev, deadline(5), |s| {
        let p = framed.poll(s);
        match client.state(s) {
            ClientState::Reset => return Work::Done,
            ClientState::Connected if !sent => sent = client.send(s, &[0xFF; 4]) == Ok(4),
            _ => {}
        }
        p.into()
    })
}

fn udp_echo_round(
    stack: &mut Stack<'_>,
    dev: &mut Dev,
    echo: &mut UdpEcho<UDP_MAX>,
    clients: &mut [Option<UdpClient>; UDP_CLIENTS],
) -> bool {
    let server = IpEndpoint::new(LOCALHOST, ports::UDP_ECHO);
    let all: [&[u8]; 3] = [b"client zero", b"client one", b"client two"];
    let messages = &all[..UDP_CLIENTS];
    for (client, &msg) in clients.iter_mut().zip(messages) {
        let Some(client) = client else { return false };
        if client.send_to(stack, msg, server).is_err() {
            return false;
        }
    }
    let mut answered = [false; UDP_CLIENTS];
    let mut wrong = false;
    let done = board::run(stack, dev, deadline(5), |s| {
        let mut p = echo.poll(s);
        for ((client, &msg), seen) in clients.iter_mut().zip(messages).zip(answered.iter_mut()) {
            let Some(client) = client else { continue };
            let mut buf = [0u8; 64];
            if let Ok(Some((n, from))) = client.recv_from(s, &mut buf) {
                let mut expected = [0u8; 64];
                expected[..msg.len()].copy_from_slice(msg);
                expected.make_ascii_uppercase();
                wrong |= from != server || buf[..n] != expected[..msg.len()] || *seen;
                *seen = true;
                p = true;
            }
        }
        if answered.iter().all(|&a| a) {
            Work::Done
        } else {
            p.into()
        }
    });
    done && !wrong && echo.stats().datagrams == UDP_CLIENTS as u64
}

fn udp_sink_round(
    stack: &mut Stack<'_>,
    dev: &mut Dev,
    sink: &mut UdpSink,
    clients: &mut [Option<UdpClient>; UDP_CLIENTS],
) -> bool {
    let Some(client) = &mut clients[0] else {
        return false;
    };
    let server = IpEndpoint::new(LOCALHOST, ports::UDP_SINK);
    // The sink's queue may hold fewer than 20 datagrams: send the next only once the last
    // has been counted.
    let mut buf = [0u8; 200];
    let (mut next, mut bytes, mut digest) = (0u32, 0u64, 0u64);
    let done = board::run(stack, dev, deadline(5), |s| {
        let mut p = sink.poll(s);
        while next < 20 && u64::from(next) == sink.stats().datagrams {
            let len = 10 + next as usize * 9;
            for (i, b) in buf[..len].iter_mut().enumerate() {
                *b = (i as u8).wrapping_mul(next as u8 | 1);
            }
            if client.send_to(s, &buf[..len], server).is_err() {
                break;
            }
            next += 1;
            bytes += len as u64;
            digest = digest.wrapping_add(Fnv1a::of(&buf[..len]));
            p = true;
        }
        if sink.stats().datagrams == 20 {
            Work::Done
        } else {
            p.into()
        }
    });
    let st = sink.stats();
    done && st.bytes == bytes
        && st.digest == digest
        && st.last_sender == Some(IpEndpoint::new(LOCALHOST, client.local_port()))
}

/// The board's clock ticks: 20 ms pass within a bounded number of waits.
fn clock_advances() -> bool {
    let start = board::millis();
    for _ in 0..10_000_000 {
        if board::millis() >= start + 20 {
            return true;
        }
        board::idle();
    }
    false
}

/// The routines the compiler calls behind the code's back (`memmove`, `memset`, 64-bit division;
/// the Cortex-M boards replace them with small ones, `board/small_libc.rs`): moves that overlap either way, word-aligned and
/// not, fills with zero and with a value, and 64-bit division and remainder against values the
/// compiler worked out at build time. `black_box` keeps the compiler from doing the work itself.
fn runtime_routines() -> bool {
    use core::hint::black_box;

    #[repr(align(4))]
    struct Aligned([u8; 64]);
    let mut ok = true;
    // (from, to, length): overlapping backwards and forwards, odd and word-sized.
    for (src, dst, len) in [(0, 3, 40), (5, 1, 40), (0, 4, 32), (4, 0, 32), (8, 8, 16)] {
        let mut buf = Aligned([0; 64]);
        for (i, b) in buf.0.iter_mut().enumerate() {
            *b = i as u8;
        }
        let (src, dst, len) = black_box((src, dst, len));
        buf.0.copy_within(src..src + len, dst);
        ok &= buf.0.iter().enumerate().all(|(i, &b)| {
            let want = if (dst..dst + len).contains(&i) {
                i - dst + src
            } else {
                i
            };
            b == want as u8
        });
    }
    for (from, to, value) in [(0, 64, 0u8), (1, 50, 0xA5), (4, 36, 0x5A), (3, 3, 1)] {
        let mut buf = Aligned([0xFF; 64]);
        let (from, to, value) = black_box((from, to, value));
        buf.0[from..to].fill(value);
        ok &= buf
            .0
            .iter()
            .enumerate()
            .all(|(i, &b)| b == if (from..to).contains(&i) { value } else { 0xFF });
    }
    const fn case(n: u64, d: u64) -> (u64, u64, u64, u64) {
        (n, d, n / d, n % d)
    }
    const DIVISIONS: [(u64, u64, u64, u64); 6] = [
        case(u64::MAX, 1000),
        case(1_234_567_890_123, 1000),
        case(u64::MAX, 0x8000_0000_0000_0001),
        case(7, 9),
        case(0xDEAD_BEEF_CAFE_F00D, 0x1_0000_0001),
        case(0x0123_4567_89AB_CDEF, 1),
    ];
    for (n, d, q, r) in DIVISIONS {
        let (n, d) = black_box((n, d));
        ok &= n / d == q && n % d == r;
    }
    ok
}
