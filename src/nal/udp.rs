//! `UdpClientStack` and `UdpFullStack`: one datagram per call, never truncated.

use core::net::SocketAddr;

use embedded_nal::{nb, UdpClientStack, UdpFullStack};
use smoltcp::iface::SocketHandle;
use smoltcp::phy::Device;
use smoltcp::socket::udp::SendError;
use smoltcp::wire::IpEndpoint;

use super::error::{endpoint, socket_addr};
use super::{free_entry, NalError, NalStack};
use crate::clock::Clock;
use crate::udp::recv_datagram;

/// A UDP socket of a [`NalStack`] (a token; `close` takes it).
#[derive(Debug)]
pub struct UdpSocket {
    index: usize,
}

/// What a UDP token stands for.
#[derive(Debug)]
pub(super) enum Entry {
    /// Not in use.
    Free,
    /// `socket()` was called.
    Fresh,
    /// Bound to a local port; `remote` after `connect`.
    Open {
        handle: SocketHandle,
        remote: Option<IpEndpoint>,
    },
}

/// How many polls `close` gives queued datagrams to leave (one suffices unless a neighbour's
/// address is still being resolved).
const FLUSH_POLLS: usize = 3;

impl<
        const P: usize,
        const N: usize,
        D: Device,
        C: Clock,
        const RX: usize,
        const TX: usize,
        const DG: usize,
        const BY: usize,
    > NalStack<'_, '_, P, N, D, C, RX, TX, DG, BY>
{
    fn udp_open(&self, socket: &UdpSocket) -> Result<(SocketHandle, Option<IpEndpoint>), NalError> {
        match self.udp.get(socket.index) {
            Some(Entry::Open { handle, remote }) => Ok((*handle, *remote)),
            _ => Err(NalError::InvalidState),
        }
    }

    /// Bind a fresh token to `port` (0: an ephemeral port).
    fn udp_bind(
        &mut self,
        socket: &UdpSocket,
        port: u16,
        remote: Option<IpEndpoint>,
    ) -> Result<(), NalError> {
        match self.udp.get_mut(socket.index) {
            Some(Entry::Fresh) => {}
            Some(Entry::Open { remote: r, .. }) if remote.is_some() => {
                // `connect` on a bound socket: only choose the peer.
                *r = remote;
                return Ok(());
            }
            _ => return Err(NalError::InvalidState),
        }
        let handle = self.udp_socket()?;
        let port = match port {
            0 => self
                .ports
                .allocate(self.stack.sockets())
                .map_err(crate::udp::BindError::from),
            p => Ok(p),
        };
        let bound = port.and_then(|p| Ok(self.stack.udp(handle).bind(p)?));
        if let Err(e) = bound {
            self.spare_udp.push(handle).ok();
            return Err(e.into());
        }
        self.udp[socket.index] = Entry::Open { handle, remote };
        Ok(())
    }

    fn udp_send(
        &mut self,
        handle: SocketHandle,
        remote: IpEndpoint,
        buffer: &[u8],
    ) -> nb::Result<(), NalError> {
        let max = self.stack.udp(handle).payload_send_capacity();
        if buffer.len() > max {
            return Err(NalError::DatagramTooLarge {
                len: buffer.len(),
                max,
            }
            .into());
        }
        for attempt in 0..2 {
            match self.stack.udp(handle).send_slice(buffer, remote) {
                Ok(()) => {
                    // Out now, as `sendto` would.
                    self.poll();
                    return Ok(());
                }
                Err(SendError::BufferFull) if attempt == 0 && self.poll_on_block => {
                    self.poll();
                }
                Err(SendError::BufferFull) => return Err(nb::Error::WouldBlock),
                Err(e) => return Err(NalError::Stack(e.into()).into()),
            }
        }
        Err(nb::Error::WouldBlock)
    }
}

impl<
        const P: usize,
        const N: usize,
        D: Device,
        C: Clock,
        const RX: usize,
        const TX: usize,
        const DG: usize,
        const BY: usize,
    > UdpClientStack for NalStack<'_, '_, P, N, D, C, RX, TX, DG, BY>
{
    type UdpSocket = UdpSocket;
    type Error = NalError;

    fn socket(&mut self) -> Result<UdpSocket, NalError> {
        let index = free_entry(&mut self.udp, |e| matches!(e, Entry::Free))?;
        self.udp[index] = Entry::Fresh;
        Ok(UdpSocket { index })
    }

    fn connect(&mut self, socket: &mut UdpSocket, remote: SocketAddr) -> Result<(), NalError> {
        let remote = endpoint(remote)?;
        self.udp_bind(socket, 0, Some(remote))
    }

    fn send(&mut self, socket: &mut UdpSocket, buffer: &[u8]) -> nb::Result<(), NalError> {
        let (handle, remote) = self.udp_open(socket)?;
        let remote = remote.ok_or(NalError::InvalidState)?;
        self.udp_send(handle, remote, buffer)
    }

    fn receive(
        &mut self,
        socket: &mut UdpSocket,
        buffer: &mut [u8],
    ) -> nb::Result<(usize, SocketAddr), NalError> {
        let (handle, remote) = self.udp_open(socket)?;
        for attempt in 0..2 {
            if attempt == 1 {
                if !self.poll_on_block {
                    break;
                }
                self.poll();
            }
            while let Some((n, meta)) =
                recv_datagram(self.stack.udp(handle), buffer).map_err(NalError::from)?
            {
                // A connected socket hears only its peer.
                if remote.is_none_or(|r| r == meta.endpoint) {
                    return Ok((n, socket_addr(meta.endpoint)));
                }
            }
        }
        Err(nb::Error::WouldBlock)
    }

    fn close(&mut self, socket: UdpSocket) -> Result<(), NalError> {
        let Some(entry) = self.udp.get_mut(socket.index) else {
            return Err(NalError::InvalidState);
        };
        match core::mem::replace(entry, Entry::Free) {
            Entry::Free => Err(NalError::InvalidState),
            Entry::Fresh => Ok(()),
            Entry::Open { handle, .. } => {
                for _ in 0..FLUSH_POLLS {
                    if self.stack.udp(handle).send_queue() == 0 {
                        break;
                    }
                    self.poll();
                }
                self.stack.udp(handle).close();
                self.spare_udp.push(handle).ok();
                Ok(())
            }
        }
    }
}

impl<
        const P: usize,
        const N: usize,
        D: Device,
        C: Clock,
        const RX: usize,
        const TX: usize,
        const DG: usize,
        const BY: usize,
    > UdpFullStack for NalStack<'_, '_, P, N, D, C, RX, TX, DG, BY>
{
    fn bind(&mut self, socket: &mut UdpSocket, local_port: u16) -> Result<(), NalError> {
        if local_port == 0 {
            return Err(NalError::InvalidState);
        }
        self.udp_bind(socket, local_port, None)
    }

    fn send_to(
        &mut self,
        socket: &mut UdpSocket,
        remote: SocketAddr,
        buffer: &[u8],
    ) -> nb::Result<(), NalError> {
        let (handle, _) = self.udp_open(socket)?;
        self.udp_send(handle, endpoint(remote)?, buffer)
    }
}
