//! The services of the lesson, each a small state machine over the sockets it owns.
//!
//! | service | port | behaviour |
//! |---|---|---|
//! | [`UpperEcho`] | TCP 8000 | replies with the bytes upper-cased (ASCII letters only) |
//! | [`FramedEcho`] | TCP 9000 | each length-prefixed frame comes back upper-cased ([`crate::frame`]) |
//! | [`ChatServer`] | TCP 8080 | receives lines, replies with a line from an operator |
//! | [`UdpEcho`] | UDP 8848 | answers each datagram to its sender, upper-cased |
//! | [`UdpSink`] | UDP 8888 | receives only; counts datagrams and bytes |
//!
//! A service implements [`Service`]: `poll` does *all* the work possible right now (drains every
//! readable socket as far as the peer's window and its own buffers allow) and says whether it
//! did anything. That return value is the other half of the event-loop contract
//! ([`crate::event_loop`]): smoltcp's `poll_delay` only knows socket timers, so a loop must poll
//! again at once when a service made progress, or data already queued would wait for the next
//! timer.
//!
//! Services never trust the peer: no `unwrap` on anything received, bounded buffers, and a bad
//! peer costs only its own connection.

mod chat;
mod echo;
mod echo_client;
mod error;
mod framed_client;
mod framed_echo;
mod lesson_servers;
mod udp_echo;
mod udp_sink;
mod verdict;

pub use chat::{
    ChatClient, ChatInput, ChatServer, LineBuffer, LineTooLong, Operator, SubmitError, Submitted,
    BYE, EMPTY_REFUSED, PROMPT,
};
pub use echo::{pump, UpperEcho};
pub use echo_client::EchoClient;
pub use error::{ClientError, SetupError};
pub use framed_client::FramedEchoClient;
pub use framed_echo::{echo_frames, FramedEcho, FramedEchoStats};
pub use lesson_servers::{LessonReport, LessonServers};
pub use udp_echo::{UdpEcho, UdpEchoStats};
pub use udp_sink::{UdpSink, UdpSinkStats};
pub use verdict::{Mismatch, Verdict};

use crate::Stack;

/// Well-known ports of the lesson.
pub mod ports {
    /// TCP upper-case echo.
    pub const TCP_ECHO: u16 = 8000;
    /// TCP chat.
    pub const CHAT: u16 = 8080;
    /// UDP upper-case echo.
    pub const UDP_ECHO: u16 = 8848;
    /// UDP receive-only sink.
    pub const UDP_SINK: u16 = 8888;
    /// TCP framed upper-case echo (4-byte length frames).
    pub const FRAMED_ECHO: u16 = 9000;
}

/// A network service driven by the event loop.
pub trait Service {
    /// Do all the work possible now; `true` if anything was read, written, opened or closed.
    fn poll(&mut self, stack: &mut Stack<'_>) -> bool;
}

impl<S: Service + ?Sized> Service for &mut S {
    fn poll(&mut self, stack: &mut Stack<'_>) -> bool {
        (**self).poll(stack)
    }
}

/// Poll every service once; `true` if any made progress (all are polled regardless).
pub fn poll_all(stack: &mut Stack<'_>, services: &mut [&mut dyn Service]) -> bool {
    services
        .iter_mut()
        .fold(false, |progress, service| service.poll(stack) | progress)
}

/// The lesson's transformation: ASCII letters upper-cased, every other byte unchanged.
pub fn upper_case(bytes: &mut [u8]) {
    bytes.make_ascii_uppercase();
}
