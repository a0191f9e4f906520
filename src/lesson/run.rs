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
use std::sync::{mpsc, Mutex};
use std::vec::Vec;

use embedded_nal::{TcpClientStack, UdpClientStack, UdpFullStack};
use smoltcp::iface::SocketStorage;
use smoltcp::wire::IpCidr;

use super::*;
use crate::clock::{Clock, StdClock};
use crate::device::Loopback;
use crate::nal::{NalStack, Shared};
use crate::service::ports;
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

/// A lesson program with its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// 1 and 2: upper-case echo server and its client ("hello world").
    Tcp,
    /// 3 and 4: the chat server and two chat clients one after another.
    Chat,
    /// 6: `listen(3)`, `clients` clients connect before the server serves any.
    Backlog {
        /// Clients that try to connect.
        clients: usize,
    },
    /// 7 and 8: UDP server and two UDP clients.
    Udp,
    /// 9: the receive-only pair.
    ReceiveOnly,
    /// 10: sticky packets.
    Sticky,
    /// 11: the fix, length-prefixed messages.
    Framed,
}

impl Program {
    /// Every program, in the lesson's order (the backlog with 4 clients: `listen(3)` has
    /// room for all on both stacks).
    pub const ALL: [Program; 7] = [
        Program::Tcp,
        Program::Chat,
        Program::Backlog { clients: 4 },
        Program::Udp,
        Program::ReceiveOnly,
        Program::Sticky,
        Program::Framed,
    ];

    /// The lesson's numbers for this program.
    pub fn numbers(&self) -> &'static str {
        match self {
            Program::Tcp => "1+2",
            Program::Chat => "3+4",
            Program::Backlog { .. } => "6",
            Program::Udp => "7+8",
            Program::ReceiveOnly => "9",
            Program::Sticky => "10",
            Program::Framed => "11",
        }
    }
}

/// The backlog of program 6's `listen`.
pub const BACKLOG: usize = 3;

/// Sockets per listener pool on smolsock: the backlog plus the connection being served.
const POOL: usize = BACKLOG + 1;

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
        On::Smolsock => clients.min(POOL),
    }
}

/// Run `program` and its client on `on`.
pub fn run(program: Program, on: On) -> Transcript {
    match on {
        On::Kernel => {
            let port = free_port();
            pair(std_embedded_nal::Stack, program, on, port)
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
    let port = match program {
        Program::Tcp | Program::Backlog { .. } => ports::TCP_ECHO,
        Program::Chat => ports::CHAT,
        Program::Udp => ports::UDP_ECHO,
        Program::ReceiveOnly => ports::UDP_SINK,
        Program::Sticky | Program::Framed => ports::FRAMED_ECHO,
    };
    pair(Shared(&net), program, On::Smolsock, port)
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

/// Writes each finished line to a channel, so the runner sees the server's first line at once.
struct Lines {
    tx: mpsc::Sender<String>,
    partial: String,
}

impl fmt::Write for Lines {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.partial.push_str(s);
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            self.tx.send(line).map_err(|_| fmt::Error)?;
        }
        Ok(())
    }
}

/// Run a program; print its error, if any, into its transcript.
macro_rules! report {
    ($out:expr, $program:expr) => {{
        let result = $program;
        report($out, result)
    }};
}

/// Print a program's error into its transcript.
fn report<E: Debug>(out: &mut impl fmt::Write, result: Result<(), E>) {
    if let Err(e) = result {
        let _ = writeln!(out, "error: {e:?}");
    }
}

fn pair<S>(net: S, program: Program, on: On, port: u16) -> Transcript
where
    S: Backlog + UdpFullStack + Clone + Send,
    <S as TcpClientStack>::Error: Debug,
    <S as UdpClientStack>::Error: Debug,
{
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    let (line_tx, line_rx) = mpsc::channel();
    // The client tells the server it is done (programs 10 and 11 wait for it).
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let wait = move || {
        let _ = done_rx.recv();
    };
    std::thread::scope(|scope| {
        let mut server_net = net.clone();
        let server = scope.spawn(move || {
            let out = &mut Lines {
                tx: line_tx,
                partial: String::new(),
            };
            let net = &mut server_net;
            match program {
                Program::Tcp => report!(out, upper_server(net, port, out)),
                Program::Chat => {
                    let mut operator = ["hi, who is there?", "fine, thanks", "welcome"].into_iter();
                    report!(out, chat_server(net, port, 2, &mut operator, out))
                }
                Program::Backlog { clients } => {
                    let served = backlog_served(on, clients);
                    report!(out, backlog_server(net, port, BACKLOG, served, out))
                }
                Program::Udp => report!(out, udp_server(net, port, 2, out)),
                Program::ReceiveOnly => report!(out, udp_sink(net, port, 3, out)),
                Program::Sticky => report!(out, sticky_server(net, port, wait, out)),
                Program::Framed => report!(out, framed_server(net, port, 3, wait, out)),
            }
        });
        let mut lines = String::new();
        // The server's first line: it listens (or is bound, or failed).
        if let Ok(first) = line_rx.recv() {
            lines.push_str(&first);
        }
        let mut client_net = net;
        let client = scope.spawn(move || {
            let mut out = String::new();
            let net = &mut client_net;
            match program {
                Program::Tcp => report!(&mut out, upper_client(net, addr, "hello world", &mut out)),
                Program::Chat => {
                    let first = ["hello", "", "how are you?", "yes"];
                    report!(&mut out, chat_client(net, addr, first, &mut out));
                    report!(
                        &mut out,
                        chat_client(net, addr, ["second client here", "yes"], &mut out)
                    );
                }
                Program::Backlog { clients } => {
                    report!(&mut out, backlog_clients(net, addr, clients, &mut out))
                }
                Program::Udp => {
                    report!(&mut out, udp_client(net, addr, "hello udp", &mut out));
                    report!(&mut out, udp_client(net, addr, "another client", &mut out));
                }
                Program::ReceiveOnly => {
                    report!(
                        &mut out,
                        udp_sender(net, addr, ["one", "two", "three"], &mut out)
                    )
                }
                Program::Sticky => {
                    report!(
                        &mut out,
                        sticky_client(net, addr, ["hello", "sticky", "world"], &mut out)
                    )
                }
                Program::Framed => {
                    report!(
                        &mut out,
                        framed_client(net, addr, ["hello", "framed", "world"], &mut out)
                    )
                }
            }
            let _ = done_tx.send(());
            out
        });
        let client = client
            .join()
            .unwrap_or_else(|_| String::from("client panicked\n"));
        if server.join().is_err() {
            lines.push_str("server panicked\n");
        }
        lines.extend(line_rx.try_iter());
        Transcript {
            server: lines,
            client,
        }
    })
}
