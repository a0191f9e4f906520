//! Run a lesson program and its client on the kernel or on smolsock, and keep the transcripts
//! (host only, feature `kernel`).
//!
//! The server runs in one thread, its client in another, each the blocking program of the
//! lesson. On the kernel both use `std-embedded-nal` over 127.0.0.1 (on ports the kernel
//! picks free); on smolsock both share one [`NalStack`] on the in-memory loopback through
//! [`Shared`], on the lesson's ports. The client starts once the server printed its first
//! line (it is listening or bound).

use core::fmt::{self, Debug};
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
            let net = std_embedded_nal::Stack;
            pair(
                net.clone(),
                net,
                program,
                server,
                |clients| clients,
                |_| {},
                |_| {},
            )
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
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
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
    // The client's calls poll the same stack: once it is done, everything has arrived.
    pair(
        Shared(&net),
        Shared(&net),
        program,
        server,
        smolsock_serves,
        |_| {},
        |_| {},
    )
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
    use crate::tap::{ServerConfig, TapDevice};
    // The TAP server's address, MAC and seed.
    let config = ServerConfig::new(iface);
    let mut device = TapDevice::open(iface)?;
    let clock = StdClock::new();
    let mut slots = [SocketStorage::EMPTY; 24];
    let stack_config =
        StackConfig::ethernet(config.mac, IpCidr::Ipv4(config.address)).with_seed(config.seed);
    let mut stack = Stack::new(stack_config, &mut device, &mut slots, clock.now());
    let mut tcp: Vec<TcpStorage<4096, 4096>> = (0..16).map(|_| TcpStorage::new()).collect();
    let mut udp: Vec<UdpStorage<8, 4096>> = (0..4).map(|_| UdpStorage::new()).collect();
    let net = NalStack::<POOL, 12, _, _, _, _, _, _>::new(
        &mut stack,
        &mut device,
        clock,
        &mut tcp,
        &mut udp,
        config.seed,
    );
    let server = SocketAddr::V4(SocketAddrV4::new(config.address.address(), program.port()));
    let linger = |net: &mut NalStack<'_, '_, POOL, 12, _, _, 4096, 4096, 8, 4096>| {
        net.poll();
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    Ok(pair(
        net,
        std_embedded_nal::Stack,
        program,
        server,
        smolsock_serves,
        until_client_closed,
        linger,
    ))
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

/// Run `program`: its server on `server_net` at `server` (its port) on this thread, and, once
/// the server printed its first line (it listens, is bound, or failed), its client on
/// `client_net` in a thread of its own. `served`: how many of program 6's clients the server
/// can expect ([`backlog_served`]). Programs 10 and 11: the server's `time.sleep` lasts until
/// the client is done, then `settle`; once the server program ended, `linger` runs again and
/// again until the client is done. Both are for a server stack that moves only when polled
/// and that the client does not poll (smolsock on TAP): `settle` is [`until_client_closed`],
/// `linger` polls, so the last segments and their retransmissions still go out.
#[allow(clippy::too_many_arguments)]
fn pair<S, K>(
    mut server_net: S,
    client_net: K,
    program: Program,
    server: SocketAddr,
    served: fn(usize) -> usize,
    settle: impl FnOnce(&mut S),
    mut linger: impl FnMut(&mut S),
) -> Transcript
where
    S: Backlog + UdpFullStack,
    <S as TcpClientStack>::Error: Debug,
    <S as UdpClientStack>::Error: Debug,
    K: TcpClientStack + UdpClientStack + Send,
    <K as TcpClientStack>::Error: Debug,
    <K as UdpClientStack>::Error: Debug,
{
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    // The client tells the server it is done (programs 10 and 11 wait for it).
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let wait = move |net: &mut S| {
        let _ = done_rx.recv();
        settle(net);
    };
    let served = match program {
        Program::Backlog { clients } => served(clients),
        _ => 0,
    };
    let client_done = AtomicBool::new(false);
    let client_done = &client_done;
    std::thread::scope(|scope| {
        let mut client_net = client_net;
        let client = scope.spawn(move || {
            // Started by the server's first line (or by the server giving up without one).
            let _ = ready_rx.recv();
            let mut out = String::new();
            visit(program, &mut client_net, server, &mut out);
            let _ = done_tx.send(());
            client_done.store(true, Ordering::Release);
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
        while !client_done.load(Ordering::Acquire) && !client.is_finished() {
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
