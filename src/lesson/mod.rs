//! The lesson's programs, written once over the embedded-nal traits (feature `nal`).
//!
//! Each function is one program of the lesson (numbers 1–4 and 6–11), line by line as the
//! lesson writes it — `socket`, `bind`, `listen(3)`, `accept`, `recv(1024)`, `send`, `close` —
//! in blocking style (`nb::block!`), generic over the stack. The same functions run on
//! smolsock through [`NalStack`](crate::nal::NalStack) (the loopback, TAP, a microcontroller)
//! and on the host's kernel through `std-embedded-nal`. Each writes a transcript of what it
//! did to a [`core::fmt::Write`], so runs on two stacks can be compared line by line (see
//! `run`, feature `kernel`; `tests/lesson.rs`, `tests/tap_lesson.rs` and the firmware's
//! `net-lesson` in `tests/qemu.rs` compare them with the kernel's).
//!
//! | # | program | functions |
//! |---|---|---|
//! | 1, 2 | TCP server (upper-case echo) and client | [`upper_server`], [`upper_client`] |
//! | 3, 4 | chat server and client | [`chat_server`], [`chat_client`] |
//! | 6 | the backlog: `listen(3)`, several clients at once | [`backlog_server`], [`backlog_clients`] |
//! | 7, 8 | UDP server and client | [`udp_server`], [`udp_client`] |
//! | 9 | UDP receive-only pair | [`udp_sink`], [`udp_sender`] |
//! | 10 | sticky packets | [`sticky_server`], [`sticky_client`] |
//! | 11 | the fix: 4-byte length prefix | [`framed_server`], [`framed_client`] |
//!
//! [`Program`] names them with their inputs; [`serve`] and [`visit`] start the server half
//! and the client half of one, on whichever stacks a run puts them (both on the host, or the
//! server on a board and the clients on the host).
//!
//! Program 5 (port reuse) is not a program of its own here: every server closes its listening
//! socket at the end, and the next run listens on the same port at once (see [`crate::tcp`]).
//!
//! The traits' `listen` has no backlog; [`Backlog::listen_backlog`] is the lesson's
//! `listen(n)`: smolsock sets the listener pool's backlog; the kernel through
//! `std-embedded-nal` cannot pass one (Rust's `TcpListener` listens with 128).

mod chat;
mod program;
#[cfg(feature = "kernel")]
pub mod run;
mod sticky;
mod tcp;
mod udp;

pub use chat::{chat_client, chat_server};
pub use program::{serve, smolsock_serves, visit, Program, BACKLOG, POOL};
pub use sticky::{framed_client, framed_server, sticky_client, sticky_server, until_client_closed};
pub use tcp::{backlog_clients, backlog_server, upper_client, upper_server};
pub use udp::{udp_client, udp_sender, udp_server, udp_sink};

use embedded_nal::{nb, TcpClientStack, TcpFullStack};

/// The lesson's receive size: `recv(1024)`.
pub const RECV_SIZE: usize = 1024;

/// BSD's `listen(backlog)`, which embedded-nal's `listen` lacks.
pub trait Backlog: TcpFullStack {
    /// Listen on the bound `socket` with room for `backlog` connections waiting for `accept`.
    fn listen_backlog(
        &mut self,
        socket: &mut Self::TcpSocket,
        backlog: usize,
    ) -> Result<(), Self::Error>;
}

impl<
        const P: usize,
        const N: usize,
        D: smoltcp::phy::Device,
        C: crate::clock::Clock,
        const RX: usize,
        const TX: usize,
        const DG: usize,
        const BY: usize,
    > Backlog for crate::nal::NalStack<'_, '_, P, N, D, C, RX, TX, DG, BY>
{
    fn listen_backlog(
        &mut self,
        socket: &mut Self::TcpSocket,
        backlog: usize,
    ) -> Result<(), Self::Error> {
        self.set_backlog(socket, backlog)?;
        self.listen(socket)
    }
}

#[cfg(feature = "std")]
impl<T: Backlog> Backlog for crate::nal::Shared<'_, T> {
    fn listen_backlog(
        &mut self,
        socket: &mut Self::TcpSocket,
        backlog: usize,
    ) -> Result<(), Self::Error> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .listen_backlog(socket, backlog)
    }
}

/// The kernel through `std-embedded-nal`: its `bind` already listens, with Rust's backlog of
/// 128, and there is no way to pass another one through it.
#[cfg(feature = "kernel")]
impl Backlog for std_embedded_nal::Stack {
    fn listen_backlog(
        &mut self,
        socket: &mut Self::TcpSocket,
        _backlog: usize,
    ) -> Result<(), Self::Error> {
        self.listen(socket)
    }
}

/// One line of transcript (a transcript that cannot be written to is not the program's
/// failure, so its error is ignored).
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}
pub(crate) use say;

/// Bytes as text for the transcript.
pub(crate) fn text(bytes: &[u8]) -> &str {
    core::str::from_utf8(bytes).unwrap_or("<not UTF-8>")
}

/// `sendall`: send every byte of `data`.
pub fn send_all<S: TcpClientStack + ?Sized>(
    net: &mut S,
    socket: &mut S::TcpSocket,
    mut data: &[u8],
) -> Result<(), S::Error> {
    while !data.is_empty() {
        let n = nb::block!(net.send(socket, data))?;
        data = data.get(n..).unwrap_or_default();
    }
    Ok(())
}

/// Receive exactly `buf.len()` bytes; `Ok(false)` if the stream ended first.
pub fn recv_exact<S: TcpClientStack + ?Sized>(
    net: &mut S,
    socket: &mut S::TcpSocket,
    buf: &mut [u8],
) -> Result<bool, S::Error> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = nb::block!(net.receive(socket, &mut buf[filled..]))?;
        if n == 0 {
            return Ok(false);
        }
        filled += n;
    }
    Ok(true)
}
