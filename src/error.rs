//! Errors: one small type per operation, as in smoltcp, and an umbrella for programs.
//!
//! Every fallible operation returns an error with exactly the causes that operation can have,
//! next to it in its module (smoltcp 0.14 does the same: `tcp::ListenError`, `ConnectError`,
//! `SendError`, `RecvError`). No strings, no allocation, `Copy`, a `Display` that reads well in
//! a log line, and `#[non_exhaustive]` on the enums so a cause can be added later. Where an
//! operation builds on another, its error has a `From` for the other's, so `?` composes them;
//! where smolsock adds nothing to smoltcp's own error, the operation returns smoltcp's.
//!
//! | operation | error | where |
//! |---|---|---|
//! | [`Stack::add_tcp`](crate::Stack::add_tcp), `add_udp`, `add_udp_lane`, `add_dhcp`; `DhcpClient::new` | [`SocketStorageFull`] | [`stack`](crate::stack) |
//! | [`Stack::connect`](crate::Stack::connect) | smoltcp's `tcp::ConnectError` | |
//! | [`EphemeralPorts::allocate`](crate::tcp::EphemeralPorts::allocate) | [`PortsExhausted`] | [`tcp`](crate::tcp) |
//! | [`TcpClient::connect`](crate::tcp::TcpClient::connect), the clients' `connect` | [`ConnectError`] | [`tcp`](crate::tcp) |
//! | [`ListenerPool::new`](crate::tcp::ListenerPool::new), the TCP servers' `new` | [`PoolError`] | [`tcp`](crate::tcp) |
//! | [`Stack::bind_udp`](crate::Stack::bind_udp), [`ResolveLane::new`](crate::udp::ResolveLane::new), the UDP servers' `new` | [`OpenError`] | [`udp`](crate::udp) |
//! | [`UdpClient::bind_ephemeral`](crate::udp::UdpClient::bind_ephemeral) | [`udp::BindError`](crate::udp::BindError) | [`udp`](crate::udp) |
//! | [`recv_datagram`](crate::udp::recv_datagram), [`UdpClient::recv_from`](crate::udp::UdpClient::recv_from) | [`DatagramTooLarge`] | [`udp`](crate::udp) |
//! | [`LessonServers::new`](crate::service::LessonServers::new) | [`SetupError`] | [`service`](crate::service) |
//! | a checking client's run | [`ClientError`] (or a [`Verdict`](crate::service::Verdict)) | [`service`](crate::service) |
//! | [`ChatClient::submit`](crate::service::ChatClient::submit) | [`SubmitError`] | [`service`](crate::service) |
//! | [`LineBuffer::read_line`](crate::service::LineBuffer::read_line), `ChatClient::reply` | [`LineTooLong`] | [`service`](crate::service) |
//! | framing | [`FrameError`], [`EncodeError`], [`SendFrameError`] | [`frame`](crate::frame) |
//!
//! ## Verdicts are not errors
//!
//! The checking clients ([`EchoClient`](crate::service::EchoClient),
//! [`FramedEchoClient`](crate::service::FramedEchoClient)) judge a server's reply. A wrong
//! reply is what they are there to find, so it is a [`Verdict`](crate::service::Verdict)
//! (`Mismatch`), never an error; [`ClientError`] is only for a run
//! that could not finish (refused, reset).
//!
//! ## The umbrella: [`Error`]
//!
//! smoltcp has no crate-wide error. smolsock keeps one, [`Error`], as a convenience in the
//! manner of `std::io::Error`: a program that sets up several things in a row (a stack, its
//! servers, a DHCP client) can write `?` after each and return one type. It has a `From` for
//! every per-operation error and displays the one it holds. The library's own operations never
//! return it, and it holds no verdicts. A few wrappers that collect several operations'
//! failures carry one (`nal::NalError::Stack`, `tap::TapError::Setup`).

use core::fmt;

use smoltcp::socket::{tcp as smol_tcp, udp as smol_udp};

use crate::frame::{EncodeError, FrameError, SendFrameError};
use crate::service::{ClientError, LineTooLong, SetupError, SubmitError};
use crate::stack::SocketStorageFull;
use crate::tcp::{ConnectError, PoolError, PortsExhausted};
use crate::udp::{BindError, DatagramTooLarge, OpenError};

/// Any of smolsock's per-operation errors, for programs that compose several with `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// See [`SocketStorageFull`].
    StorageFull(SocketStorageFull),
    /// See [`PortsExhausted`].
    PortsExhausted(PortsExhausted),
    /// See [`ConnectError`].
    Connect(ConnectError),
    /// See [`PoolError`].
    Pool(PoolError),
    /// smoltcp refused to put a TCP socket in LISTEN.
    Listen(smol_tcp::ListenError),
    /// The TCP socket cannot send in its current state.
    TcpSend(smol_tcp::SendError),
    /// The TCP socket cannot receive in its current state.
    TcpRecv(smol_tcp::RecvError),
    /// See [`OpenError`].
    UdpOpen(OpenError),
    /// See [`BindError`].
    UdpBind(BindError),
    /// A UDP datagram could not be queued for sending.
    UdpSend(smol_udp::SendError),
    /// See [`DatagramTooLarge`].
    DatagramTooLarge(DatagramTooLarge),
    /// See [`FrameError`].
    Frame(FrameError),
    /// See [`EncodeError`].
    Encode(EncodeError),
    /// See [`SendFrameError`].
    FrameSend(SendFrameError),
    /// See [`LineTooLong`].
    LineTooLong(LineTooLong),
    /// See [`SubmitError`].
    Submit(SubmitError),
    /// See [`ClientError`].
    Client(ClientError),
    /// See [`SetupError`].
    Setup(SetupError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::StorageFull(e) => e.fmt(f),
            Error::PortsExhausted(e) => e.fmt(f),
            Error::Connect(e) => e.fmt(f),
            Error::Pool(e) => e.fmt(f),
            Error::Listen(e) => write!(f, "cannot listen: {e}"),
            Error::TcpSend(e) => write!(f, "cannot send: {e}"),
            Error::TcpRecv(e) => write!(f, "cannot receive: {e}"),
            Error::UdpOpen(e) => e.fmt(f),
            Error::UdpBind(e) => e.fmt(f),
            Error::UdpSend(e) => write!(f, "cannot send datagram: {e}"),
            Error::DatagramTooLarge(e) => e.fmt(f),
            Error::Frame(e) => write!(f, "framing: {e}"),
            Error::Encode(e) => write!(f, "cannot encode frame: {e}"),
            Error::FrameSend(e) => write!(f, "cannot send frame: {e}"),
            Error::LineTooLong(e) => e.fmt(f),
            Error::Submit(e) => e.fmt(f),
            Error::Client(e) => e.fmt(f),
            Error::Setup(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for Error {}

macro_rules! umbrella {
    ($($src:ty => $variant:ident),* $(,)?) => {
        $(impl From<$src> for Error {
            fn from(e: $src) -> Self {
                Error::$variant(e)
            }
        })*
    };
}

umbrella! {
    SocketStorageFull => StorageFull,
    PortsExhausted => PortsExhausted,
    ConnectError => Connect,
    PoolError => Pool,
    smol_tcp::ListenError => Listen,
    smol_tcp::SendError => TcpSend,
    smol_tcp::RecvError => TcpRecv,
    OpenError => UdpOpen,
    BindError => UdpBind,
    smol_udp::SendError => UdpSend,
    DatagramTooLarge => DatagramTooLarge,
    FrameError => Frame,
    EncodeError => Encode,
    SendFrameError => FrameSend,
    LineTooLong => LineTooLong,
    SubmitError => Submit,
    ClientError => Client,
    SetupError => Setup,
}

impl From<smol_tcp::ConnectError> for Error {
    fn from(e: smol_tcp::ConnectError) -> Self {
        Error::Connect(e.into())
    }
}

impl From<smol_udp::BindError> for Error {
    fn from(e: smol_udp::BindError) -> Self {
        Error::UdpBind(e.into())
    }
}
