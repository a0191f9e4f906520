//! Fixed memory for sockets, sized at compile time.
//!
//! smoltcp sockets borrow their buffers; they never allocate. These types bundle the buffers of
//! one socket so a program can declare them once, as a `static` on a microcontroller or a local
//! on the host, and hand `&mut` references to the [`Stack`](crate::Stack):
//!
//! ```
//! use smolsock::storage::TcpStorage;
//! // Four TCP sockets with 2 KiB in each direction: 16 KiB, known at compile time.
//! let mut pool = [const { TcpStorage::<2048, 2048>::new() }; 4];
//! # let _ = &mut pool;
//! ```

use smoltcp::socket::udp;

/// Receive and transmit buffers of one TCP socket.
#[derive(Debug)]
pub struct TcpStorage<const RX: usize, const TX: usize> {
    pub(crate) rx: [u8; RX],
    pub(crate) tx: [u8; TX],
}

impl<const RX: usize, const TX: usize> TcpStorage<RX, TX> {
    /// Zeroed buffers.
    pub const fn new() -> Self {
        TcpStorage {
            rx: [0; RX],
            tx: [0; TX],
        }
    }
}

impl<const RX: usize, const TX: usize> Default for TcpStorage<RX, TX> {
    fn default() -> Self {
        Self::new()
    }
}

/// Buffers of one UDP socket: up to `DGRAMS` queued datagrams and `BYTES` payload bytes in each
/// direction.
#[derive(Debug)]
pub struct UdpStorage<const DGRAMS: usize, const BYTES: usize> {
    pub(crate) rx_meta: [udp::PacketMetadata; DGRAMS],
    pub(crate) rx: [u8; BYTES],
    pub(crate) tx_meta: [udp::PacketMetadata; DGRAMS],
    pub(crate) tx: [u8; BYTES],
}

impl<const DGRAMS: usize, const BYTES: usize> UdpStorage<DGRAMS, BYTES> {
    /// Empty buffers.
    pub const fn new() -> Self {
        UdpStorage {
            rx_meta: [udp::PacketMetadata::EMPTY; DGRAMS],
            rx: [0; BYTES],
            tx_meta: [udp::PacketMetadata::EMPTY; DGRAMS],
            tx: [0; BYTES],
        }
    }
}

impl<const DGRAMS: usize, const BYTES: usize> Default for UdpStorage<DGRAMS, BYTES> {
    fn default() -> Self {
        Self::new()
    }
}

/// Transmit buffers of a send-only UDP socket (a [`ResolveLane`](crate::udp::ResolveLane)): up
/// to `DGRAMS` queued datagrams and `BYTES` payload bytes; it receives nothing.
#[derive(Debug)]
pub struct UdpLaneStorage<const DGRAMS: usize, const BYTES: usize> {
    pub(crate) rx_meta: [udp::PacketMetadata; 0],
    pub(crate) rx: [u8; 0],
    pub(crate) tx_meta: [udp::PacketMetadata; DGRAMS],
    pub(crate) tx: [u8; BYTES],
}

impl<const DGRAMS: usize, const BYTES: usize> UdpLaneStorage<DGRAMS, BYTES> {
    /// Empty buffers.
    pub const fn new() -> Self {
        UdpLaneStorage {
            rx_meta: [],
            rx: [],
            tx_meta: [udp::PacketMetadata::EMPTY; DGRAMS],
            tx: [0; BYTES],
        }
    }
}

impl<const DGRAMS: usize, const BYTES: usize> Default for UdpLaneStorage<DGRAMS, BYTES> {
    fn default() -> Self {
        Self::new()
    }
}

/// Buffers of one ICMP socket (feature `icmp`, [`Stack::add_icmp`](crate::Stack::add_icmp)):
/// up to `PACKETS` queued ICMP messages and `BYTES` bytes of them in each direction.
#[cfg(feature = "icmp")]
#[derive(Debug)]
pub struct IcmpStorage<const PACKETS: usize, const BYTES: usize> {
    pub(crate) rx_meta: [smoltcp::socket::icmp::PacketMetadata; PACKETS],
    pub(crate) rx: [u8; BYTES],
    pub(crate) tx_meta: [smoltcp::socket::icmp::PacketMetadata; PACKETS],
    pub(crate) tx: [u8; BYTES],
}

#[cfg(feature = "icmp")]
impl<const PACKETS: usize, const BYTES: usize> IcmpStorage<PACKETS, BYTES> {
    /// Empty buffers.
    pub const fn new() -> Self {
        use smoltcp::socket::icmp::PacketMetadata;
        IcmpStorage {
            rx_meta: [PacketMetadata::EMPTY; PACKETS],
            rx: [0; BYTES],
            tx_meta: [PacketMetadata::EMPTY; PACKETS],
            tx: [0; BYTES],
        }
    }
}

#[cfg(feature = "icmp")]
impl<const PACKETS: usize, const BYTES: usize> Default for IcmpStorage<PACKETS, BYTES> {
    fn default() -> Self {
        Self::new()
    }
}
