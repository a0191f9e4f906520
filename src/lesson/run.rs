//! Run a lesson program and its client on the kernel or on smolsock, and keep the transcripts
//! (host only, feature `kernel`).
//!
//! The server runs in one thread, its client in another, each the blocking program of the
//! lesson; the client starts once the server printed its first line (it is listening or
//! bound).
//!
//! | run | server | client |
//! |---|---|---|
//! | [`run`](fn@run)`(p, On::Kernel)` | kernel, `std-embedded-nal`, 127.0.0.1, a free port | the same |
//! | [`run`](fn@run)`(p, On::Smolsock)` | one [`NalStack`] on the in-memory loopback, the lesson's port | the same stack, through [`Shared`] |
//! | `run_tap` (feature `tap`, Linux) | smolsock over a TAP device, 192.168.69.1 | the kernel, through the device's kernel side |
//! | `run_tap_clients` (the same) | the kernel, 192.168.69.100 on the device | smolsock over the TAP device |
//! | [`client_on_kernel`] | elsewhere (the firmware's `net-lesson`, behind QEMU) | the kernel |

use core::fmt::{self, Debug, Write as _};
use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::string::String;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::vec::Vec;

use embedded_nal::{TcpClientStack, UdpClientStack, UdpFullStack};
use smoltcp::iface::SocketStorage;
use smoltcp::wire::IpCidr;

use super::*;
use crate::clock::{Clock, StdClock};
use crate::device::Loopback;
use crate::nal::{NalStack, Shared};
use crate::storage::{TcpStorage, UdpStorage};
use crate::{Stack, StackConfig};

/// Which stack runs the programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// The host's kernel through `std-embedded-nal`, on 127.0.0.1.
    Kernel,
    /// smolsock on the in-memory loopback.
    Smolsock,
}

pub use super::{Program, BACKLOG};

/// What the server and the client printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    /// The server's lines.
    pub server: String,
    /// The client's (or clients') lines.
    pub client: String,
}

impl fmt::Display for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.server, self.client)
    }
}

impl Transcript {
    /// The same with every address (`127.0.0.1:40123`, `[::ffff:127.0.0.1]:8000`) written
    /// `<addr>`: what may differ between two stacks that behave the same.
    pub fn normalized(&self) -> Transcript {
        Transcript {
            server: normalize(&self.server),
            client: normalize(&self.client),
        }
    }
}

/// `text` with every word that is a socket address replaced by `<addr>`.
pub fn normalize(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let words: Vec<&str> = line
            .split(' ')
            .map(|w| {
                if w.parse::<SocketAddr>().is_ok() {
                    "<addr>"
                } else {
                    w
                }
            })
            .collect();
        out.push_str(&words.join(" "));
        out.push('\n');
    }
    out
}

/// How many of program 6's `clients` the server can expect to connect on `on`: all of them
/// on the kernel (it queues or retries past the backlog), the backlog plus the one being
/// served on smolsock (it refuses the rest).
pub fn backlog_served(on: On, clients: usize) -> usize {
    match on {
        On::Kernel => clients,
        On::Smolsock => smolsock_serves(clients),
    }
}

/// Run `program` and its client on `on`.
pub fn run(program: Program, on: On) -> Transcript {
    match on {
        On::Kernel => {
            let port = free_port();
            let server = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
            let client = move |out: &mut String, _: &Ends| {
                visit(program, &mut std_embedded_nal::Stack, server, out)
            };
            let served = |clients| clients;
            let net = std_embedded_nal::Stack;
            pair(net, program, server, served, |_| {}, |_| {}, client)
        }
        On::Smolsock => run_smolsock(program),
    }
}

fn run_smolsock(program: Program) -> Transcript {
    let clock = StdClock::new();
    let mut device = Loopback::<1500, 64>::new();
    let mut slots = [SocketStorage::EMPTY; 24];
    let localhost = IpCidr::new(Ipv4Addr::LOCALHOST.into(), 8);
    let mut stack = Stack::new(
        StackConfig::ip(localhost),
        &mut device,
        &mut slots,
        clock.now(),
    );
    let mut tcp: Vec<TcpStorage<4096, 4096>> = (0..16).map(|_| TcpStorage::new()).collect();
    let mut udp: Vec<UdpStorage<8, 4096>> = (0..4).map(|_| UdpStorage::new()).collect();
    let seed = crate::clock::seed_from_time();
    let net = NalStack::<POOL, 12, _, _, _, _, _, _>::new(
        &mut stack,
        &mut device,
        clock,
        &mut tcp,
        &mut udp,
        seed,
    );
    let net = Mutex::new(net);
    let server = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, program.port()));
    // The client's calls poll the same stack, but its last `send` and its `close` only queue
    // data and a FIN: programs 10 and 11's `time.sleep` polls until the FIN has arrived, as
    // over TAP, so everything sent before it is in the server's socket (without it, the sticky
    // server once read "hello", then "stickyworld").
    let shared = Shared(&net);
    let client = move |out: &mut String, _: &Ends| visit(program, &mut { shared }, server, out);
    pair(
        shared,
        program,
        server,
        smolsock_serves,
        |net| until_client_closed(&mut *net.lock()),
        |_| {},
        client,
    )
}

/// smolsock over a Linux TAP device, as the runs over TAP use it.
#[cfg(all(feature = "tap", target_os = "linux"))]
type TapNal<'s, 'a> =
    NalStack<'s, 'a, POOL, 12, crate::tap::TapDevice, StdClock, 4096, 4096, 8, 4096>;

/// Open the TAP device `iface`, put smolsock on it (192.168.69.1/24 and the MAC of the TAP
/// server, `tap::ServerConfig::new`) and hand its socket API to `f`.
#[cfg(all(feature = "tap", target_os = "linux"))]
fn on_tap<R>(iface: &str, f: impl FnOnce(TapNal<'_, '_>) -> R) -> Result<R, crate::tap::TapError> {
    let config = crate::tap::ServerConfig::new(iface);
    let mut device = open_tap(iface)?;
    let clock = StdClock::new();
    let mut slots = [SocketStorage::EMPTY; 24];
    let stack_config =
        StackConfig::ethernet(config.mac, IpCidr::Ipv4(config.address)).with_seed(config.seed);
    let mut stack = Stack::new(stack_config, &mut device, &mut slots, clock.now());
    let mut tcp: Vec<TcpStorage<4096, 4096>> = (0..16).map(|_| TcpStorage::new()).collect();
    let mut udp: Vec<UdpStorage<8, 4096>> = (0..4).map(|_| UdpStorage::new()).collect();
    let net = NalStack::new(
        &mut stack,
        &mut device,
        clock,
        &mut tcp,
        &mut udp,
        config.seed,
    );
    Ok(f(net))
}

/// Open the TAP device `iface`, which the previous run may have closed a moment ago: while
/// another thread of this process forks a child (a test making its namespace runs `ip`), the
/// child holds a copy of the closed descriptor until it execs, and the device stays attached
/// ("busy"). Tries again for up to 2 s.
#[cfg(all(feature = "tap", target_os = "linux"))]
fn open_tap(iface: &str) -> Result<crate::tap::TapDevice, crate::tap::TapError> {
    use crate::tap::{TapDevice, TapError};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match TapDevice::open(iface) {
            Err(TapError::Busy { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

/// Poll a stack nobody else polls, once, then rest a millisecond.
#[cfg(all(feature = "tap", target_os = "linux"))]
fn tend(net: &mut TapNal<'_, '_>) {
    net.poll();
    std::thread::sleep(std::time::Duration::from_millis(1));
}

/// Run `program` with its server on smolsock over the Linux TAP device `iface` (smolsock at
/// 192.168.69.1/24, as the TAP server) and its client on the kernel (`std-embedded-nal`),
/// which reaches smolsock through the kernel side of `iface`. Call it inside the network
/// namespace that holds `iface` (`scripts/tap-netns.sh`): the threads it starts inherit it.
///
/// Only the server polls the stack (the client is the kernel's), so programs 10 and 11's
/// `time.sleep` is [`until_client_closed`], and once the server program ended the stack is
/// polled until the client is done.
#[cfg(all(feature = "tap", target_os = "linux"))]
pub fn run_tap(program: Program, iface: &str) -> Result<Transcript, crate::tap::TapError> {
    let address = crate::tap::ServerConfig::new(iface).address.address();
    let server = SocketAddr::V4(SocketAddrV4::new(address, program.port()));
    let client =
        move |out: &mut String, _: &Ends| visit(program, &mut std_embedded_nal::Stack, server, out);
    on_tap(iface, |net| {
        let served = smolsock_serves;
        pair(
            net,
            program,
            server,
            served,
            until_client_closed,
            tend,
            client,
        )
    })
}

/// The kernel side's address on the TAP device (`scripts/tap-netns.sh`, `tests/netns`).
#[cfg(all(feature = "tap", target_os = "linux"))]
pub const TAP_KERNEL: Ipv4Addr = Ipv4Addr::new(192, 168, 69, 100);

/// The reverse of [`run_tap`]: `program`'s server on the kernel (`std-embedded-nal`,
/// listening on every address of the namespace) and its client on smolsock over the TAP device
/// `iface`, which reaches the kernel at its side of the device, [`TAP_KERNEL`]. Call it inside
/// the namespace that holds `iface`.
///
/// smolsock is opened in the client's thread (a TAP device stays on its thread), and after the
/// client program it is polled until the server is done, so its last segments still go out.
#[cfg(all(feature = "tap", target_os = "linux"))]
pub fn run_tap_clients(program: Program, iface: &str) -> Result<Transcript, crate::tap::TapError> {
    // Fail here, not in the client's thread, when the device cannot be opened.
    drop(open_tap(iface)?);
    let server = SocketAddr::V4(SocketAddrV4::new(TAP_KERNEL, program.port()));
    let iface = String::from(iface);
    let client = move |out: &mut String, ends: &Ends| {
        let opened = on_tap(&iface, |mut net| {
            visit(program, &mut net, server, out);
            ends.client.store(true, Ordering::Release);
            while !ends.server.load(Ordering::Acquire) {
                tend(&mut net);
            }
        });
        if let Err(e) = opened {
            let _ = writeln!(out, "error: {e}");
        }
    };
    let served = |clients| clients;
    let net = std_embedded_nal::Stack;
    Ok(pair(net, program, server, served, |_| {}, |_| {}, client))
}

/// Run `program`'s client on the kernel (`std-embedded-nal`) against its server at `server`,
/// running elsewhere (the firmware, behind QEMU's forwarded ports); the client's transcript.
pub fn client_on_kernel(program: Program, server: SocketAddr) -> String {
    let mut out = String::new();
    visit(program, &mut std_embedded_nal::Stack, server, &mut out);
    out
}

/// A port the kernel has free on 127.0.0.1 for TCP and UDP (as far as one can tell).
fn free_port() -> u16 {
    for _ in 0..16 {
        let Ok(tcp) = std::net::TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = tcp.local_addr() else {
            continue;
        };
        if std::net::UdpSocket::bind(addr).is_ok() {
            return addr.port();
        }
    }
    panic!("no free port on 127.0.0.1")
}

/// The server's transcript; the first complete line also starts the client (`ready`).
struct Lines {
    ready: Option<mpsc::Sender<()>>,
    text: String,
}

impl fmt::Write for Lines {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.text.push_str(s);
        if self.text.contains('\n') {
            if let Some(ready) = self.ready.take() {
                let _ = ready.send(());
            }
        }
        Ok(())
    }
}

/// How the two halves of a run tell each other they ended.
#[derive(Default)]
struct Ends {
    /// The server program returned.
    server: AtomicBool,
    /// The client program returned (programs 10 and 11's server sleeps until then).
    client: AtomicBool,
}

/// Run `program`: its server on `server_net` at `server` (its port) on this thread, and, once
/// the server printed its first line (it listens, is bound, or failed), `client` in a thread of
/// its own: the client program with its transcript (it may say it ended before it returns,
/// through [`Ends`]). `served`: how many of program 6's clients the server can expect
/// ([`backlog_served`]). Programs 10 and 11: the server's `time.sleep` lasts until the client
/// ended, then `settle`; once the server program ended, `linger` runs again and again until the
/// client ended. Both are for a server stack that moves only when polled and that the client
/// does not poll (smolsock on TAP): `settle` is [`until_client_closed`], `linger` polls, so
/// the last segments and their retransmissions still go out.
fn pair<S>(
    mut server_net: S,
    program: Program,
    server: SocketAddr,
    served: fn(usize) -> usize,
    settle: impl FnOnce(&mut S),
    mut linger: impl FnMut(&mut S),
    client: impl FnOnce(&mut String, &Ends) + Send,
) -> Transcript
where
    S: Backlog + UdpFullStack,
    <S as TcpClientStack>::Error: Debug,
    <S as UdpClientStack>::Error: Debug,
{
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let ends = Ends::default();
    let ends = &ends;
    let wait = move |net: &mut S| {
        while !ends.client.load(Ordering::Acquire) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        settle(net);
    };
    let served = match program {
        Program::Backlog { clients } => served(clients),
        _ => 0,
    };
    std::thread::scope(|scope| {
        let client = scope.spawn(move || {
            // Started by the server's first line (or by the server giving up without one).
            let _ = ready_rx.recv();
            let mut out = String::new();
            client(&mut out, ends);
            ends.client.store(true, Ordering::Release);
            out
        });
        let mut out = Lines {
            ready: Some(ready_tx),
            text: String::new(),
        };
        serve(
            program,
            &mut server_net,
            server.port(),
            served,
            wait,
            &mut out,
        );
        out.ready = None;
        ends.server.store(true, Ordering::Release);
        while !ends.client.load(Ordering::Acquire) && !client.is_finished() {
            linger(&mut server_net);
            std::thread::yield_now();
        }
        let client = client
            .join()
            .unwrap_or_else(|_| String::from("client panicked\n"));
        Transcript {
            server: out.text,
            client,
        }
    })
}
