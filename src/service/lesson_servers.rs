//! The lesson's servers assembled once: what the TAP server and the firmware both serve.
//!
//! [`LessonServers`] puts the upper-case echo (TCP 8000), the framed echo (TCP 9000), the UDP
//! echo (8848, with its resolve lane) and the UDP sink (8888) on one stack, from storage the
//! caller sizes (statics on a microcontroller, boxes on a host), and reports on all of them at
//! once. A new service joins here, and every place that serves the lesson gets it. (The chat
//! needs a person at a keyboard, so the places that offer it add it beside this set.)
//!
//! ```
//! use smolsock::device::Loopback;
//! use smolsock::service::{LessonServers, Service};
//! use smolsock::smoltcp::iface::SocketStorage;
//! use smolsock::smoltcp::time::Instant;
//! use smolsock::smoltcp::wire::{IpAddress, IpCidr};
//! use smolsock::storage::{TcpStorage, UdpLaneStorage, UdpStorage};
//! use smolsock::tcp::PoolConfig;
//! use smolsock::{Stack, StackConfig};
//!
//! let mut device = Loopback::<1500, 8>::new();
//! let mut slots = [const { SocketStorage::EMPTY }; 8];
//! let mut stack = Stack::new(
//!     StackConfig::ip(IpCidr::new(IpAddress::v4(127, 0, 0, 1), 8)),
//!     &mut device,
//!     &mut slots,
//!     Instant::ZERO,
//! );
//! // Two sockets per TCP service, 2 KiB each way; UDP datagrams up to 512 bytes.
//! let mut echo = [const { TcpStorage::<2048, 2048>::new() }; 2];
//! let mut framed = [const { TcpStorage::<2048, 2048>::new() }; 2];
//! let mut udp_echo = UdpStorage::<4, 2048>::new();
//! let mut lane = UdpLaneStorage::<1, 512>::new();
//! let mut sink = UdpStorage::<4, 2048>::new();
//! let mut servers = LessonServers::<2, 2, 512, 512>::new(
//!     &mut stack,
//!     (&mut echo, &mut framed),
//!     (&mut udp_echo, &mut lane),
//!     &mut sink,
//!     PoolConfig::new(0, 2),
//! )?;
//! servers.poll(&mut stack);
//! assert_eq!(servers.report().echo.accepted, 0);
//! # Ok::<(), smolsock::service::SetupError>(())
//! ```

use super::SetupError;
use super::{
    ports, FramedEcho, FramedEchoStats, Service, UdpEcho, UdpEchoStats, UdpSink, UdpSinkStats,
    UpperEcho,
};
use crate::storage::{TcpStorage, UdpLaneStorage, UdpStorage};
use crate::tcp::{PoolConfig, PoolStats};
use crate::Stack;

/// What the servers did so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LessonReport {
    /// TCP upper-case echo (8000).
    pub echo: PoolStats,
    /// Framed echo (9000): its connections.
    pub framed: PoolStats,
    /// Framed echo: frames.
    pub frames: FramedEchoStats,
    /// UDP echo (8848).
    pub udp_echo: UdpEchoStats,
    /// UDP sink (8888).
    pub sink: UdpSinkStats,
}

/// The lesson's servers on their well-known ports ([`ports`]): up to `N` sockets for the
/// upper-case echo and `M` for the framed echo, frames of up to `FRAME` bytes, datagrams of up to
/// `UDP` bytes.
#[derive(Debug)]
pub struct LessonServers<const N: usize, const M: usize, const FRAME: usize, const UDP: usize> {
    /// TCP upper-case echo (8000).
    pub echo: UpperEcho<N>,
    /// TCP framed echo (9000).
    pub framed: FramedEcho<M, FRAME>,
    /// UDP echo (8848).
    pub udp_echo: UdpEcho<UDP>,
    /// UDP sink (8888).
    pub sink: UdpSink,
}

impl<const N: usize, const M: usize, const FRAME: usize, const UDP: usize>
    LessonServers<N, M, FRAME, UDP>
{
    /// Socket slots the servers take in the stack for `n` sockets per TCP service: `2 × n` TCP
    /// and three UDP (the echo, its resolve lane, the sink).
    pub const fn sockets(n: usize) -> usize {
        2 * n + 3
    }

    /// Serve on `stack`. `tcp`: the storage of the upper-case echo's and the framed echo's
    /// sockets (one socket per entry, at most `N` and `M`); `udp_echo`: the UDP echo's socket and
    /// its resolve lane; `sink`: the sink's socket. `limits` gives the pools' backlog and
    /// hostile-peer settings (its port is ignored: each service has its own).
    pub fn new<
        'a,
        const RX: usize,
        const TX: usize,
        const D: usize,
        const B: usize,
        const LD: usize,
        const LB: usize,
        const SD: usize,
        const SB: usize,
    >(
        stack: &mut Stack<'a>,
        tcp: (
            impl IntoIterator<Item = &'a mut TcpStorage<RX, TX>>,
            impl IntoIterator<Item = &'a mut TcpStorage<RX, TX>>,
        ),
        udp_echo: (&'a mut UdpStorage<D, B>, &'a mut UdpLaneStorage<LD, LB>),
        sink: &'a mut UdpStorage<SD, SB>,
        limits: PoolConfig,
    ) -> Result<Self, SetupError> {
        let pool = |port| PoolConfig { port, ..limits };
        Ok(LessonServers {
            echo: UpperEcho::new(stack, tcp.0, pool(ports::TCP_ECHO))?,
            framed: FramedEcho::new(stack, tcp.1, pool(ports::FRAMED_ECHO))?,
            udp_echo: UdpEcho::new(stack, udp_echo.0, udp_echo.1, ports::UDP_ECHO)?,
            sink: UdpSink::new(stack, sink, ports::UDP_SINK)?,
        })
    }

    /// Counters of every server.
    pub fn report(&mut self) -> LessonReport {
        LessonReport {
            echo: self.echo.pool().stats(),
            framed: self.framed.pool().stats(),
            frames: self.framed.stats(),
            udp_echo: self.udp_echo.stats(),
            sink: self.sink.stats(),
        }
    }
}

impl<const N: usize, const M: usize, const FRAME: usize, const UDP: usize> Service
    for LessonServers<N, M, FRAME, UDP>
{
    fn poll(&mut self, stack: &mut Stack<'_>) -> bool {
        // Every server runs every round, whatever the others did.
        let mut progress = self.echo.poll(stack);
        progress |= self.framed.poll(stack);
        progress |= self.udp_echo.poll(stack);
        progress |= self.sink.poll(stack);
        progress
    }
}
