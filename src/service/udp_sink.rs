//! The UDP receive-only sink (lesson program 9): counts what arrives, answers nothing.

use smoltcp::iface::SocketHandle;
use smoltcp::wire::IpEndpoint;

use super::Service;
use crate::digest::Fnv1a;
use crate::storage::UdpStorage;
use crate::udp::OpenError;
use crate::Stack;

/// What a [`UdpSink`] has received.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UdpSinkStats {
    /// Datagrams received.
    pub datagrams: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Sum (wrapping) of the FNV-1a hash of each datagram: independent of arrival order, so a
    /// sender can compare it with the same sum over what it sent.
    pub digest: u64,
    /// Sender of the last datagram.
    pub last_sender: Option<IpEndpoint>,
}

/// A UDP port that only receives.
#[derive(Debug)]
pub struct UdpSink {
    handle: SocketHandle,
    stats: UdpSinkStats,
}

impl UdpSink {
    /// Bind a UDP socket on `port` using `storage`.
    pub fn new<'a, const DGRAMS: usize, const BYTES: usize>(
        stack: &mut Stack<'a>,
        storage: &'a mut UdpStorage<DGRAMS, BYTES>,
        port: u16,
    ) -> Result<Self, OpenError> {
        Ok(UdpSink {
            handle: stack.bind_udp(storage, port)?,
            stats: UdpSinkStats::default(),
        })
    }

    /// What arrived so far.
    pub fn stats(&self) -> UdpSinkStats {
        self.stats
    }
}

impl Service for UdpSink {
    fn poll(&mut self, stack: &mut Stack<'_>) -> bool {
        let socket = stack.udp(self.handle);
        let mut progress = false;
        // Zero-copy: the datagram is read in place in the socket's buffer.
        while let Ok((data, meta)) = socket.recv() {
            self.stats.datagrams += 1;
            self.stats.bytes += data.len() as u64;
            self.stats.digest = self.stats.digest.wrapping_add(Fnv1a::of(data));
            self.stats.last_sender = Some(meta.endpoint);
            log::debug!("udp sink: {} bytes from {}", data.len(), meta.endpoint);
            progress = true;
        }
        progress
    }
}
