//! Which program, with which inputs: the server half and the client half of each lesson
//! program, started the same way on every stack.
//!
//! A run puts [`serve`] on one stack and [`visit`] on another (or the same): the host's
//! runner (`run`, feature `kernel`) in two threads, the firmware's `lesson` program on the
//! board with its clients on the host. Both halves write their transcript lines to a
//! [`core::fmt::Write`]; an error of a program is written there too (`error: ...`), so the
//! transcripts of two stacks can be compared as they are.

use core::fmt::{Debug, Write};
use core::net::SocketAddr;

use embedded_nal::{TcpClientStack, UdpClientStack, UdpFullStack};

use super::*;
use crate::service::ports;

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

/// The backlog of program 6's `listen`.
pub const BACKLOG: usize = 3;

/// Sockets per listener pool on smolsock: the backlog plus the connection being served.
pub const POOL: usize = BACKLOG + 1;

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

    /// The lesson's port for this program (the services' ports: 8000, 8080, 8848, 8888, 9000).
    pub fn port(&self) -> u16 {
        match self {
            Program::Tcp | Program::Backlog { .. } => ports::TCP_ECHO,
            Program::Chat => ports::CHAT,
            Program::Udp => ports::UDP_ECHO,
            Program::ReceiveOnly => ports::UDP_SINK,
            Program::Sticky | Program::Framed => ports::FRAMED_ECHO,
        }
    }

    /// Whether the program's server is a UDP one (it says "bound", not "listening").
    pub fn is_udp(&self) -> bool {
        matches!(self, Program::Udp | Program::ReceiveOnly)
    }
}

/// How many of program 6's `clients` a server on smolsock serves: the backlog plus the one
/// being served; it refuses the rest. (A server on the kernel serves all of them: it queues
/// or retries past the backlog.)
pub fn smolsock_serves(clients: usize) -> usize {
    clients.min(POOL)
}

/// Run a program; write its error, if any, into its transcript.
macro_rules! report {
    ($out:expr, $program:expr) => {{
        let result = $program;
        report($out, result)
    }};
}

/// Write a program's error, if any, into its transcript.
fn report<E: Debug>(out: &mut impl Write, result: Result<(), E>) {
    if let Err(e) = result {
        say!(out, "error: {e:?}");
    }
}

/// The server half of `program` on `net`, on `port`. `served`: how many of program 6's
/// clients the server expects (every client on the kernel, [`smolsock_serves`] on smolsock).
/// `wait`: programs 10 and 11's `time.sleep`, until the client sent everything (see
/// [`until_client_closed`]). Its first line says it listens (or is bound).
pub fn serve<S>(
    program: Program,
    net: &mut S,
    port: u16,
    served: usize,
    wait: impl FnOnce(&mut S),
    out: &mut impl Write,
) where
    S: Backlog + UdpFullStack,
    <S as TcpClientStack>::Error: Debug,
    <S as UdpClientStack>::Error: Debug,
{
    match program {
        Program::Tcp => report!(out, upper_server(net, port, out)),
        Program::Chat => {
            let mut operator = ["hi, who is there?", "fine, thanks", "welcome"].into_iter();
            report!(out, chat_server(net, port, 2, &mut operator, out))
        }
        Program::Backlog { .. } => report!(out, backlog_server(net, port, BACKLOG, served, out)),
        Program::Udp => report!(out, udp_server(net, port, 2, out)),
        Program::ReceiveOnly => report!(out, udp_sink(net, port, 3, out)),
        Program::Sticky => report!(out, sticky_server(net, port, wait, out)),
        Program::Framed => report!(out, framed_server(net, port, 3, wait, out)),
    }
}

/// The client half of `program` on `net`, to the server at `server`, with the lesson's
/// inputs.
pub fn visit<K>(program: Program, net: &mut K, server: SocketAddr, out: &mut impl Write)
where
    K: TcpClientStack + UdpClientStack,
    <K as TcpClientStack>::Error: Debug,
    <K as UdpClientStack>::Error: Debug,
{
    match program {
        Program::Tcp => report!(out, upper_client(net, server, "hello world", out)),
        Program::Chat => {
            let first = ["hello", "", "how are you?", "yes"];
            report!(out, chat_client(net, server, first, out));
            let second = ["second client here", "yes"];
            report!(out, chat_client(net, server, second, out));
        }
        Program::Backlog { clients } => report!(out, backlog_clients(net, server, clients, out)),
        Program::Udp => {
            report!(out, udp_client(net, server, "hello udp", out));
            report!(out, udp_client(net, server, "another client", out));
        }
        Program::ReceiveOnly => {
            report!(out, udp_sender(net, server, ["one", "two", "three"], out));
        }
        Program::Sticky => {
            let messages = ["hello", "sticky", "world"];
            report!(out, sticky_client(net, server, messages, out));
        }
        Program::Framed => {
            let messages = ["hello", "framed", "world"];
            report!(out, framed_client(net, server, messages, out));
        }
    }
}
