//! A polled [`phy::Device`](smoltcp::phy::Device) for the SMSC LAN9118 Ethernet controller.
//!
//! The LAN9118 (and its software-compatible LAN9220) is the Ethernet controller of Arm's MPS2
//! boards; QEMU emulates it on `mps2-an385` (Cortex-M3) and `mps2-an386` (Cortex-M4F) at
//! [`MPS2_BASE`] (`0x4020_0000`). The chip hides its MAC behind FIFOs:
//!
//! ```text
//!  offset  register            use here
//!  0x00    RX data FIFO        received frame, 32-bit little-endian words, FCS included
//!  0x20    TX data FIFO        TX command A, TX command B, then the frame's words
//!  0x40    RX status FIFO      one word per frame: bits 29:16 length incl. FCS, bit 15 error
//!  0x48    TX status FIFO      one word per sent frame: bits 31:16 tag, bit 15 error
//!  0x64    BYTE_TEST           always reads 0x8765_4321 (endianness and bus check)
//!  0x70    TX_CFG              TX_ON (bit 1), TXSAO (bit 2)
//!  0x74    HW_CFG              SRST (bit 0): soft reset, self-clearing
//!  0x7C    RX_FIFO_INF         bits 23:16 RX status FIFO entries used
//!  0x80    TX_FIFO_INF         bits 23:16 TX status entries used, bits 15:0 TX data bytes free
//!  0x84    PMT_CTRL            READY (bit 0) after reset
//!  0xA4    MAC_CSR_CMD         indirect access to the MAC's own registers: busy (31), read (30)
//!  0xA8    MAC_CSR_DATA        (MAC_CR = 1, ADDRH = 2, ADDRL = 3, MII_ACC = 6, MII_DATA = 7)
//! ```
//!
//! The driver is *polled*: interrupts stay disabled and [`Device::receive`] simply asks the
//! RX status FIFO whether a frame is waiting. Everything it trusts comes from the wire only after
//! a bounds check: a frame with the error bit, a runt, or one longer than the advertised MTU is
//! read out of the data FIFO word by word (never more than the status word's 14-bit length
//! allows) and counted in [`Counters::rx_dropped`]; nothing here panics on what arrives.
//!
//! All register access goes through the [`Bus`] trait: [`Mmio`] is the real, volatile one (the
//! only `unsafe` code here; its base address is a const parameter, [`Mps2`] for the MPS2 boards);
//! tests substitute a model of the chip.
//!
//! Buffers are fixed: one receive and one transmit frame of `BUF` bytes inside the driver, so a
//! `static` driver costs no heap and no stack. `BUF` defaults to [`BUF_LEN`] (1520: full-size
//! Ethernet frames); a smaller one is a smaller MTU, for a RAM budget (the firmware's budget
//! build: 596, frames up to 592 bytes, an IP MTU of 578). smoltcp learns the MTU from
//! [`Device::capabilities`] and advertises a TCP MSS that fits it; longer frames that arrive
//! anyway are dropped and counted.

use core::cell::Cell;
use core::marker::PhantomData;
use core::ptr;

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use smoltcp::wire::EthernetAddress;

use super::Pending;

/// MMIO base address of the LAN9118 on QEMU's `mps2-an385`/`mps2-an386` boards.
pub const MPS2_BASE: usize = 0x4020_0000;

/// Largest frame the driver sends or accepts, without FCS: 1500-byte IP MTU + 14-byte header.
pub const MAX_FRAME: usize = 1514;

/// Size of each of the driver's two frame buffers: [`MAX_FRAME`] + 4-byte FCS, rounded up to a
/// whole number of 32-bit FIFO words (the chip's unit), so a maximal frame is read out whole.
pub const BUF_LEN: usize = (MAX_FRAME + FCS_LEN).div_ceil(4) * 4;

/// Length of the frame check sequence the chip appends to every received frame.
const FCS_LEN: usize = 4;

/// Smallest frame worth handing to the stack: an Ethernet header.
const MIN_FRAME: usize = 14;

/// How many times to poll a self-clearing bit before giving up.
const SPIN_LIMIT: u32 = 100_000;

/// At most this many bad frames are skipped in one [`Device::receive`] call, so a flood of
/// garbage cannot keep the caller inside the driver.
const MAX_SKIP_PER_POLL: u32 = 8;

/// Register offsets from the base address (system CSRs and FIFO ports).
mod reg {
    pub const RX_DATA_FIFO: usize = 0x00;
    pub const TX_DATA_FIFO: usize = 0x20;
    pub const RX_STATUS_FIFO: usize = 0x40;
    pub const TX_STATUS_FIFO: usize = 0x48;
    pub const INT_EN: usize = 0x5C;
    pub const BYTE_TEST: usize = 0x64;
    pub const RX_CFG: usize = 0x6C;
    pub const TX_CFG: usize = 0x70;
    pub const HW_CFG: usize = 0x74;
    pub const RX_FIFO_INF: usize = 0x7C;
    pub const TX_FIFO_INF: usize = 0x80;
    pub const PMT_CTRL: usize = 0x84;
    pub const MAC_CSR_CMD: usize = 0xA4;
    pub const MAC_CSR_DATA: usize = 0xA8;
}

/// Indices of the MAC's own registers, reached through `MAC_CSR_CMD`/`MAC_CSR_DATA`.
mod mac {
    pub const CR: u32 = 1;
    pub const ADDRH: u32 = 2;
    pub const ADDRL: u32 = 3;
    pub const MII_ACC: u32 = 6;
    pub const MII_DATA: u32 = 7;
}

/// Bits of the registers above.
mod bit {
    /// `BYTE_TEST` always reads this.
    pub const BYTE_TEST_VALUE: u32 = 0x8765_4321;
    /// `HW_CFG`: soft reset, clears itself when done.
    pub const HW_CFG_SRST: u32 = 1 << 0;
    /// `PMT_CTRL`: device ready after reset.
    pub const PMT_READY: u32 = 1 << 0;
    /// `TX_CFG`: transmitter on.
    pub const TX_ON: u32 = 1 << 1;
    /// `TX_CFG`: keep transmitting when the TX status FIFO is full (statuses are then lost).
    pub const TXSAO: u32 = 1 << 2;
    /// `MAC_CSR_CMD`: command in progress; write 1 to start.
    pub const CSR_BUSY: u32 = 1 << 31;
    /// `MAC_CSR_CMD`: 1 = read, 0 = write.
    pub const CSR_READ: u32 = 1 << 30;
    /// `MAC_CR`: receiver enable.
    pub const MAC_RXEN: u32 = 1 << 2;
    /// `MAC_CR`: transmitter enable.
    pub const MAC_TXEN: u32 = 1 << 3;
    /// `MAC_CR`: full duplex.
    pub const MAC_FDPX: u32 = 1 << 20;
    /// `MAC_CR`: pass all multicast frames (the MAC's filter otherwise takes only multicast
    /// groups set in its hash table, which this driver leaves empty).
    pub const MAC_MCPAS: u32 = 1 << 19;
    /// `MII_ACC`: PHY access busy.
    pub const MII_BUSY: u32 = 1 << 0;
    /// `MII_ACC`: 1 = write to the PHY.
    pub const MII_WRITE: u32 = 1 << 1;
    /// Address of the chip's internal PHY.
    pub const PHY_ADDR: u32 = 1;
    /// PHY basic control: auto-negotiation enable | restart auto-negotiation.
    pub const PHY_BCR_ANEG: u32 = (1 << 12) | (1 << 9);
    /// PHY basic control: loopback (transmitted frames come back to the receiver).
    pub const PHY_BCR_LOOPBACK: u32 = 1 << 14;
    /// PHY basic status: link up.
    pub const PHY_BSR_LINK: u32 = 1 << 2;
    /// RX status: error summary (CRC error, runt, too long, late collision).
    pub const RX_STS_ES: u32 = 1 << 15;
    /// RX status: the frame failed the address filter (only seen in receive-all mode).
    pub const RX_STS_FILTER_FAIL: u32 = 1 << 30;
    /// TX status: error summary.
    pub const TX_STS_ES: u32 = 1 << 15;
    /// TX command A: first segment of a frame.
    pub const TX_CMD_A_FIRST: u32 = 1 << 13;
    /// TX command A: last segment of a frame.
    pub const TX_CMD_A_LAST: u32 = 1 << 12;
}

/// Word-wide access to the controller's 256-byte register block.
///
/// Like memory-mapped registers themselves, access goes through a shared reference (reads of the
/// FIFO ports have side effects: they pop). `offset` is always one of the driver's register
/// constants: 4-byte aligned and below `0x100`.
pub trait Bus {
    /// Read the 32-bit register at `offset`.
    fn read(&self, offset: usize) -> u32;
    /// Write `value` to the 32-bit register at `offset`.
    fn write(&self, offset: usize, value: u32);
}

/// The real bus: volatile 32-bit loads and stores to the register block at `BASE`.
///
/// The address is a type parameter, so the driver has no non-zero field: a `static` driver,
/// buffers included, lands in `.bss` (zeroed at boot) instead of `.data` (copied from flash).
///
/// `Send` but not `Sync`: one context at a time drives the chip.
#[derive(Debug)]
pub struct Mmio<const BASE: usize> {
    _not_sync: PhantomData<Cell<()>>,
}

/// The LAN9118 of QEMU's (and Arm's) MPS2 boards.
pub type Mps2 = Mmio<MPS2_BASE>;

impl<const BASE: usize> Mmio<BASE> {
    /// The bus on the register block at `BASE`.
    ///
    /// # Safety
    /// `BASE` must be the 4-byte-aligned address of a LAN9118 register block (256 bytes of
    /// MMIO), and nothing else may access that block while the returned value (or a driver
    /// owning it) is in use.
    pub const unsafe fn new() -> Self {
        Self {
            _not_sync: PhantomData,
        }
    }
}

impl<const BASE: usize> Bus for Mmio<BASE> {
    #[inline]
    fn read(&self, offset: usize) -> u32 {
        debug_assert!(offset < 0x100 && offset.is_multiple_of(4));
        // SAFETY: `Mmio::new`'s contract makes `BASE..BASE + 0x100` an exclusively owned,
        // aligned LAN9118 register block, and `offset` is an aligned register offset inside it.
        unsafe { ptr::read_volatile((BASE + offset) as *const u32) }
    }

    #[inline]
    fn write(&self, offset: usize, value: u32) {
        debug_assert!(offset < 0x100 && offset.is_multiple_of(4));
        // SAFETY: as in `read`: an aligned register inside the exclusively owned block.
        unsafe { ptr::write_volatile((BASE + offset) as *mut u32, value) }
    }
}

/// Why bringing the controller up failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// `BYTE_TEST` did not read `0x8765_4321`: no chip there, or a byte-order problem.
    /// Carries the value read.
    ByteTest(u32),
    /// A self-clearing bit (soft reset, device ready, MAC CSR or MII busy) did not settle.
    Timeout,
}

/// Frame counters, all wrapping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames handed to the stack.
    pub rx_frames: u32,
    /// Received frames thrown away: error status, runt, or longer than the MTU
    /// ([`Lan9118::MAX_FRAME_LEN`]).
    pub rx_dropped: u32,
    /// Frames written to the TX FIFO.
    pub tx_frames: u32,
    /// Frames not sent: too long, or no FIFO space in time.
    pub tx_dropped: u32,
    /// Frames the chip reported as failed in the TX status FIFO.
    pub tx_errors: u32,
}

/// The register side of the driver, borrowed separately from the frame buffers.
#[derive(Debug)]
struct Hw<B> {
    bus: B,
    counters: Counters,
    tag: u16,
}

/// A LAN9118 as a smoltcp Ethernet device, with frame buffers of `BUF` bytes each (a multiple
/// of 4, at least 64: a minimum Ethernet frame with its FCS; the default [`BUF_LEN`] holds full-size Ethernet frames).
///
/// Build it with `Lan9118::<Mps2>::new()` (no hardware access, usable in a `static` initializer), then
/// call [`Lan9118::init`] once before handing it to a smoltcp `Interface`.
#[derive(Debug)]
pub struct Lan9118<B: Bus = Mps2, const BUF: usize = BUF_LEN> {
    hw: Hw<B>,
    rx_buf: [u8; BUF],
    tx_buf: [u8; BUF],
}

impl<const BASE: usize, const BUF: usize> Lan9118<Mmio<BASE>, BUF> {
    /// A driver for the controller at `BASE` (e.g. `Lan9118::<Mps2>::new()`). Touches no
    /// register.
    ///
    /// # Safety
    /// Same contract as [`Mmio::new`]: `BASE` is an exclusively owned LAN9118 register block.
    pub const unsafe fn new() -> Self {
        // SAFETY: forwarded to our caller by this function's own contract.
        Self::with_bus(unsafe { Mmio::new() })
    }
}

impl<B: Bus, const BUF: usize> Lan9118<B, BUF> {
    /// Largest frame sent or accepted, without FCS: what fits in `BUF` with the FCS the chip
    /// appends, and never more than Ethernet's [`MAX_FRAME`]. The MTU given to smoltcp.
    pub const MAX_FRAME_LEN: usize = {
        // Whole FIFO words, room for a header and FCS: checked when the driver is built.
        assert!(BUF.is_multiple_of(4) && BUF >= 64);
        if BUF - FCS_LEN < MAX_FRAME {
            BUF - FCS_LEN
        } else {
            MAX_FRAME
        }
    };

    /// A driver over any [`Bus`] (tests use a model of the chip). Touches no register.
    pub const fn with_bus(bus: B) -> Self {
        // Evaluates (and so checks) `BUF` for every size a program builds.
        let _ = Self::MAX_FRAME_LEN;
        Self {
            hw: Hw {
                bus,
                counters: Counters {
                    rx_frames: 0,
                    rx_dropped: 0,
                    tx_frames: 0,
                    tx_dropped: 0,
                    tx_errors: 0,
                },
                tag: 0,
            },
            rx_buf: [0; BUF],
            tx_buf: [0; BUF],
        }
    }

    /// Check the chip, soft-reset it, program `mac`, and turn on the receiver and transmitter.
    ///
    /// The MAC then accepts frames to `mac` and broadcasts (no promiscuous mode). Interrupts stay
    /// off: the driver is polled.
    pub fn init(&mut self, mac: EthernetAddress) -> Result<(), Error> {
        let hw = &mut self.hw;
        let test = hw.bus.read(reg::BYTE_TEST);
        if test != bit::BYTE_TEST_VALUE {
            return Err(Error::ByteTest(test));
        }
        hw.bus.write(reg::HW_CFG, bit::HW_CFG_SRST);
        hw.wait(reg::HW_CFG, bit::HW_CFG_SRST, 0)?;
        hw.wait(reg::PMT_CTRL, bit::PMT_READY, bit::PMT_READY)?;
        hw.bus.write(reg::INT_EN, 0);

        let m = mac.0;
        hw.mac_write(mac::ADDRL, u32::from_le_bytes([m[0], m[1], m[2], m[3]]))?;
        hw.mac_write(mac::ADDRH, u32::from_le_bytes([m[4], m[5], 0, 0]))?;
        hw.phy_write(0, bit::PHY_BCR_ANEG)?;

        // RX: no data offset, 4-byte end alignment; TX: on, never stall on a full status FIFO.
        hw.bus.write(reg::RX_CFG, 0);
        hw.bus.write(reg::TX_CFG, bit::TX_ON | bit::TXSAO);
        // With IPv6, neighbour discovery reaches us at our solicited-node multicast groups
        // (ff02::1:ffXX:XXXX) and router advertisements at all-nodes (ff02::1): take every
        // multicast frame and let smoltcp drop the groups it has not joined. IPv4-only needs none
        // (ARP is broadcast).
        let multicast = if cfg!(feature = "ipv6") {
            bit::MAC_MCPAS
        } else {
            0
        };
        hw.mac_write(
            mac::CR,
            bit::MAC_RXEN | bit::MAC_TXEN | bit::MAC_FDPX | multicast,
        )?;
        Ok(())
    }

    /// The station address the MAC currently filters on (after reset: the one from EEPROM).
    pub fn mac_address(&mut self) -> Result<EthernetAddress, Error> {
        let lo = self.hw.mac_read(mac::ADDRL)?.to_le_bytes();
        let hi = self.hw.mac_read(mac::ADDRH)?.to_le_bytes();
        Ok(EthernetAddress([lo[0], lo[1], lo[2], lo[3], hi[0], hi[1]]))
    }

    /// Whether the internal PHY reports link up.
    pub fn link_up(&mut self) -> Result<bool, Error> {
        Ok(self.hw.phy_read(1)? & bit::PHY_BSR_LINK != 0)
    }

    /// Loop transmitted frames straight back into the receiver inside the PHY (a self-test of
    /// the whole FIFO path without a network); `false` returns to normal operation and restarts
    /// auto-negotiation.
    pub fn set_phy_loopback(&mut self, on: bool) -> Result<(), Error> {
        let bcr = if on {
            bit::PHY_BCR_LOOPBACK
        } else {
            bit::PHY_BCR_ANEG
        };
        self.hw.phy_write(0, bcr)
    }

    /// Frame counters since construction.
    pub fn counters(&self) -> Counters {
        self.hw.counters
    }

    /// Pop RX statuses until a good frame is in `rx_buf`; its length without FCS.
    fn next_frame(&mut self) -> Option<usize> {
        let hw = &mut self.hw;
        for _ in 0..=MAX_SKIP_PER_POLL {
            if (hw.bus.read(reg::RX_FIFO_INF) >> 16) & 0xFF == 0 {
                return None;
            }
            let status = hw.bus.read(reg::RX_STATUS_FIFO);
            // 14-bit length, FCS included; the data FIFO holds it rounded up to whole words.
            let wire_len = ((status >> 16) & 0x3FFF) as usize;
            let words = wire_len.div_ceil(4);
            let bad = status & (bit::RX_STS_ES | bit::RX_STS_FILTER_FAIL) != 0
                || wire_len < MIN_FRAME + FCS_LEN
                || wire_len - FCS_LEN > Self::MAX_FRAME_LEN;
            if bad {
                // Read the frame out: at most 4096 words, and never into a buffer.
                for _ in 0..words {
                    hw.bus.read(reg::RX_DATA_FIFO);
                }
                hw.counters.rx_dropped = hw.counters.rx_dropped.wrapping_add(1);
                continue;
            }
            // `words * 4 <= BUF`: `wire_len <= MAX_FRAME_LEN + FCS_LEN <= BUF` was checked just
            // above, and `BUF` is a whole number of words.
            for chunk in self.rx_buf.chunks_exact_mut(4).take(words) {
                chunk.copy_from_slice(&hw.bus.read(reg::RX_DATA_FIFO).to_le_bytes());
            }
            hw.counters.rx_frames = hw.counters.rx_frames.wrapping_add(1);
            return Some(wire_len - FCS_LEN);
        }
        None
    }
}

impl<B: Bus> Hw<B> {
    /// Poll `offset` until `reg & mask == want`, at most [`SPIN_LIMIT`] times.
    fn wait(&mut self, offset: usize, mask: u32, want: u32) -> Result<(), Error> {
        for _ in 0..SPIN_LIMIT {
            if self.bus.read(offset) & mask == want {
                return Ok(());
            }
        }
        Err(Error::Timeout)
    }

    fn mac_write(&mut self, index: u32, value: u32) -> Result<(), Error> {
        self.wait(reg::MAC_CSR_CMD, bit::CSR_BUSY, 0)?;
        self.bus.write(reg::MAC_CSR_DATA, value);
        self.bus.write(reg::MAC_CSR_CMD, bit::CSR_BUSY | index);
        self.wait(reg::MAC_CSR_CMD, bit::CSR_BUSY, 0)
    }

    fn mac_read(&mut self, index: u32) -> Result<u32, Error> {
        self.wait(reg::MAC_CSR_CMD, bit::CSR_BUSY, 0)?;
        self.bus
            .write(reg::MAC_CSR_CMD, bit::CSR_BUSY | bit::CSR_READ | index);
        self.wait(reg::MAC_CSR_CMD, bit::CSR_BUSY, 0)?;
        Ok(self.bus.read(reg::MAC_CSR_DATA))
    }

    fn mii_wait(&mut self) -> Result<(), Error> {
        for _ in 0..SPIN_LIMIT {
            if self.mac_read(mac::MII_ACC)? & bit::MII_BUSY == 0 {
                return Ok(());
            }
        }
        Err(Error::Timeout)
    }

    fn phy_read(&mut self, index: u32) -> Result<u32, Error> {
        self.mii_wait()?;
        self.mac_write(
            mac::MII_ACC,
            (bit::PHY_ADDR << 11) | (index << 6) | bit::MII_BUSY,
        )?;
        self.mii_wait()?;
        Ok(self.mac_read(mac::MII_DATA)? & 0xFFFF)
    }

    fn phy_write(&mut self, index: u32, value: u32) -> Result<(), Error> {
        self.mii_wait()?;
        self.mac_write(mac::MII_DATA, value & 0xFFFF)?;
        self.mac_write(
            mac::MII_ACC,
            (bit::PHY_ADDR << 11) | (index << 6) | bit::MII_WRITE | bit::MII_BUSY,
        )?;
        self.mii_wait()
    }

    /// Drain the TX status FIFO (counting errors); whether a full frame (a buffer of `buf_len`
    /// bytes) fits in the data FIFO.
    fn tx_ready(&mut self, buf_len: usize) -> bool {
        let mut info = self.bus.read(reg::TX_FIFO_INF);
        // Bounded: the status FIFO holds at most 255 entries by its field width.
        for _ in 0..255 {
            if (info >> 16) & 0xFF == 0 {
                break;
            }
            if self.bus.read(reg::TX_STATUS_FIFO) & bit::TX_STS_ES != 0 {
                self.counters.tx_errors = self.counters.tx_errors.wrapping_add(1);
            }
            info = self.bus.read(reg::TX_FIFO_INF);
        }
        // Two command words plus the frame rounded up to words.
        (info & 0xFFFF) as usize >= buf_len + 8
    }

    /// Write one frame (at most the MTU) to the TX data FIFO.
    fn send(&mut self, frame: &[u8]) {
        let len = frame.len() as u32;
        self.tag = self.tag.wrapping_add(1);
        self.bus.write(
            reg::TX_DATA_FIFO,
            bit::TX_CMD_A_FIRST | bit::TX_CMD_A_LAST | len,
        );
        self.bus
            .write(reg::TX_DATA_FIFO, (u32::from(self.tag) << 16) | len);
        let mut words = frame.chunks_exact(4);
        for w in &mut words {
            self.bus.write(
                reg::TX_DATA_FIFO,
                u32::from_le_bytes([w[0], w[1], w[2], w[3]]),
            );
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 4];
            last[..rest.len()].copy_from_slice(rest);
            self.bus.write(reg::TX_DATA_FIFO, u32::from_le_bytes(last));
        }
        self.counters.tx_frames = self.counters.tx_frames.wrapping_add(1);
    }
}

/// A received frame, already copied out of the chip.
#[derive(Debug)]
pub struct RxToken<'a> {
    frame: &'a [u8],
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.frame)
    }
}

/// Permission to send one frame.
#[derive(Debug)]
pub struct TxToken<'a, B: Bus, const BUF: usize = BUF_LEN> {
    hw: &'a mut Hw<B>,
    buf: &'a mut [u8; BUF],
}

impl<B: Bus, const BUF: usize> phy::TxToken for TxToken<'_, B, BUF> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        // smoltcp never asks for more than the advertised MTU (`MAX_FRAME_LEN` < `BUF`); a
        // longer request still gets a bounded buffer and the frame is dropped, not sent.
        let n = len.min(BUF);
        let result = f(&mut self.buf[..n]);
        // A token that came with a received frame was handed out without a space check; the
        // chip drains its TX FIFO at line rate, so wait (bounded) rather than drop.
        let ready = (0..SPIN_LIMIT).any(|_| self.hw.tx_ready(BUF));
        if len <= Lan9118::<B, BUF>::MAX_FRAME_LEN && ready {
            self.hw.send(&self.buf[..n]);
        } else {
            self.hw.counters.tx_dropped = self.hw.counters.tx_dropped.wrapping_add(1);
        }
        result
    }
}

impl<B: Bus, const BUF: usize> Device for Lan9118<B, BUF> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a, B, BUF>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let len = self.next_frame()?;
        let rx = RxToken {
            frame: &self.rx_buf[..len],
        };
        let tx = TxToken {
            hw: &mut self.hw,
            buf: &mut self.tx_buf,
        };
        Some((rx, tx))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        if !self.hw.tx_ready(BUF) {
            return None;
        }
        Some(TxToken {
            hw: &mut self.hw,
            buf: &mut self.tx_buf,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = Self::MAX_FRAME_LEN;
        // No burst limit: the chip's RX data FIFO holds several full frames.
        caps
    }
}

/// Frames wait in the chip's RX FIFO: the event loop polls again instead of sleeping.
impl<B: Bus, const BUF: usize> Pending for Lan9118<B, BUF> {
    fn pending(&self) -> bool {
        (self.hw.bus.read(reg::RX_FIFO_INF) >> 16) & 0xFF != 0
    }
}

#[cfg(test)]
mod tests {
    //! The driver against a small model of the chip's FIFOs and MAC CSRs (after QEMU's
    //! `hw/net/lan9118.c`): frames in the RX data FIFO as little-endian words followed by the FCS,
    //! RX status length including the FCS, TX frames parsed from command A/B and data words.
    extern crate std;

    use std::cell::{RefCell, RefMut};
    use std::collections::VecDeque;
    use std::vec::Vec;

    use super::*;
    use crate::device::Pending;
    use smoltcp::phy::{RxToken as _, TxToken as _};

    /// The chip behind a `RefCell`: the bus is shared, as MMIO is.
    struct Chip(RefCell<ChipState>);

    #[derive(Default)]
    struct ChipState {
        rx_status: VecDeque<u32>,
        rx_data: VecDeque<u32>,
        /// Words written to the TX data FIFO.
        tx_words: Vec<u32>,
        tx_status: VecDeque<u32>,
        tx_free: u32,
        mac_regs: [u32; 16],
        mac_cmd: u32,
        mac_data: u32,
        tx_cfg: u32,
        byte_test: u32,
        rx_data_reads: usize,
    }

    impl Chip {
        fn new() -> Self {
            Chip::with(|_| {})
        }

        fn with(f: impl FnOnce(&mut ChipState)) -> Self {
            let mut state = ChipState {
                tx_free: 4608,
                byte_test: bit::BYTE_TEST_VALUE,
                ..ChipState::default()
            };
            f(&mut state);
            Chip(RefCell::new(state))
        }
    }

    impl ChipState {
        /// Queue `frame` as QEMU does: bytes, then the 4-byte FCS, packed into words.
        fn push_frame(&mut self, frame: &[u8], status_bits: u32) {
            let mut bytes = frame.to_vec();
            bytes.extend_from_slice(&[0xDE, 0xAD, 0xBE, 0xEF]);
            self.push_raw(&bytes, status_bits);
        }

        fn push_raw(&mut self, bytes_with_fcs: &[u8], status_bits: u32) {
            self.rx_status
                .push_back(((bytes_with_fcs.len() as u32) << 16) | status_bits);
            for c in bytes_with_fcs.chunks(4) {
                let mut w = [0u8; 4];
                w[..c.len()].copy_from_slice(c);
                self.rx_data.push_back(u32::from_le_bytes(w));
            }
        }

        /// Frames sent so far, decoded from the TX words.
        fn sent(&self) -> Vec<Vec<u8>> {
            let mut out = Vec::new();
            let mut i = 0;
            while i + 1 < self.tx_words.len() {
                let a = self.tx_words[i];
                let b = self.tx_words[i + 1];
                let len = (a & 0x7FF) as usize;
                assert_eq!(a & 0x3000, 0x3000, "first and last segment");
                assert_eq!((b & 0x7FF) as usize, len, "cmd B length");
                let words = len.div_ceil(4);
                let mut f = Vec::new();
                for w in &self.tx_words[i + 2..i + 2 + words] {
                    f.extend_from_slice(&w.to_le_bytes());
                }
                f.truncate(len);
                out.push(f);
                i += 2 + words;
            }
            out
        }
    }

    impl Bus for Chip {
        fn read(&self, offset: usize) -> u32 {
            self.0.borrow_mut().read(offset)
        }

        fn write(&self, offset: usize, value: u32) {
            self.0.borrow_mut().write(offset, value)
        }
    }

    impl ChipState {
        fn read(&mut self, offset: usize) -> u32 {
            match offset {
                reg::RX_DATA_FIFO => {
                    self.rx_data_reads += 1;
                    self.rx_data.pop_front().unwrap_or(0)
                }
                reg::RX_STATUS_FIFO => self.rx_status.pop_front().unwrap_or(0),
                reg::TX_STATUS_FIFO => self.tx_status.pop_front().unwrap_or(0),
                reg::BYTE_TEST => self.byte_test,
                reg::HW_CFG => 0x0005_0004,
                reg::PMT_CTRL => 1,
                reg::RX_FIFO_INF => {
                    ((self.rx_status.len() as u32) << 16) | ((self.rx_data.len() as u32) * 4)
                }
                reg::TX_FIFO_INF => ((self.tx_status.len() as u32) << 16) | self.tx_free,
                reg::MAC_CSR_CMD => self.mac_cmd,
                reg::MAC_CSR_DATA => self.mac_data,
                reg::TX_CFG => self.tx_cfg,
                _ => 0,
            }
        }

        fn write(&mut self, offset: usize, value: u32) {
            match offset {
                reg::TX_DATA_FIFO => self.tx_words.push(value),
                reg::TX_CFG => self.tx_cfg = value,
                reg::MAC_CSR_DATA => self.mac_data = value,
                reg::MAC_CSR_CMD => {
                    let index = (value & 0xF) as usize;
                    if value & bit::CSR_BUSY != 0 {
                        if value & bit::CSR_READ != 0 {
                            self.mac_data = self.mac_regs[index];
                        } else {
                            // MII accesses complete at once: the busy bit reads back clear.
                            let v = if index == mac::MII_ACC as usize {
                                self.mac_data & !bit::MII_BUSY
                            } else {
                                self.mac_data
                            };
                            self.mac_regs[index] = v;
                        }
                    }
                    self.mac_cmd = value & !bit::CSR_BUSY;
                }
                _ => {}
            }
        }
    }

    impl<const BUF: usize> Lan9118<Chip, BUF> {
        fn chip(&self) -> RefMut<'_, ChipState> {
            self.hw.bus.0.borrow_mut()
        }
    }

    fn driver() -> Lan9118<Chip> {
        let mut d = Lan9118::<Chip>::with_bus(Chip::new());
        d.init(EthernetAddress([0x02, 0, 0, 0, 0, 0x01])).unwrap();
        d
    }

    fn frame(len: usize) -> Vec<u8> {
        (0..len).map(|i| i as u8).collect()
    }

    fn recv<const BUF: usize>(d: &mut Lan9118<Chip, BUF>) -> Option<Vec<u8>> {
        let (rx, _tx) = d.receive(Instant::ZERO)?;
        Some(rx.consume(|b| b.to_vec()))
    }

    #[test]
    fn init_programs_mac_and_enables_rx_tx() {
        let mut d = driver();
        assert_eq!(
            d.mac_address().unwrap(),
            EthernetAddress([0x02, 0, 0, 0, 0, 0x01])
        );
        let cr = d.chip().mac_regs[mac::CR as usize];
        assert_eq!(
            cr & (bit::MAC_RXEN | bit::MAC_TXEN),
            bit::MAC_RXEN | bit::MAC_TXEN
        );
        assert_eq!(cr & (1 << 18), 0, "not promiscuous");
        assert_eq!(
            cr & bit::MAC_MCPAS != 0,
            cfg!(feature = "ipv6"),
            "every multicast frame with IPv6 (neighbour discovery), none without"
        );
        assert_ne!(d.chip().tx_cfg & bit::TX_ON, 0);
    }

    #[test]
    fn init_rejects_a_wrong_byte_test() {
        let mut d = Lan9118::<Chip>::with_bus(Chip::with(|c| c.byte_test = 0x4321_8765));
        assert_eq!(
            d.init(EthernetAddress([2, 0, 0, 0, 0, 1])),
            Err(Error::ByteTest(0x4321_8765))
        );
    }

    #[test]
    fn receive_strips_the_fcs_for_every_length_mod_4() {
        let mut d = driver();
        for len in [60, 61, 62, 63, 64, 1514] {
            d.chip().push_frame(&frame(len), 0);
            assert_eq!(recv(&mut d), Some(frame(len)), "len {len}");
            assert!(d.chip().rx_data.is_empty(), "whole frame read out");
        }
        assert_eq!(recv(&mut d), None);
        assert_eq!(d.counters().rx_frames, 6);
        assert_eq!(d.counters().rx_dropped, 0);
    }

    #[test]
    fn bad_frames_are_read_out_and_dropped() {
        let mut d = driver();
        d.chip().push_frame(&frame(100), bit::RX_STS_ES); // CRC error etc.
        d.chip().push_frame(&frame(1515), 0); // longer than the MTU
        d.chip().push_frame(&frame(5), 0); // runt
        d.chip().push_raw(&[0xAA; 3], 0); // shorter than the FCS
        d.chip().push_frame(&frame(60), 0);
        assert_eq!(recv(&mut d), Some(frame(60)));
        assert!(d.chip().rx_data.is_empty());
        assert_eq!(d.counters().rx_dropped, 4);
        assert_eq!(d.counters().rx_frames, 1);
    }

    #[test]
    fn a_lying_length_reads_at_most_4096_words() {
        let mut d = driver();
        d.chip().rx_status.push_back(0x3FFF_0000 | 0xC000_0000);
        assert_eq!(recv(&mut d), None);
        assert_eq!(d.chip().rx_data_reads, 4096);
        assert_eq!(d.counters().rx_dropped, 1);
    }

    #[test]
    fn a_flood_of_bad_frames_yields_control() {
        let mut d = driver();
        for _ in 0..20 {
            d.chip().push_frame(&frame(64), bit::RX_STS_ES);
        }
        d.chip().push_frame(&frame(64), 0);
        assert_eq!(recv(&mut d), None, "gives up after a few bad frames");
        let mut got = None;
        for _ in 0..5 {
            got = got.or_else(|| recv(&mut d));
        }
        assert_eq!(got, Some(frame(64)));
        assert_eq!(d.counters().rx_dropped, 20);
    }

    #[test]
    fn transmit_writes_command_words_and_data() {
        let mut d = driver();
        for len in [42, 60, 61, 63, 1514] {
            let tx = d.transmit(Instant::ZERO).unwrap();
            tx.consume(len, |b| b.copy_from_slice(&frame(len)));
        }
        let sent = d.chip().sent();
        let lens: Vec<usize> = sent.iter().map(Vec::len).collect();
        assert_eq!(lens, [42, 60, 61, 63, 1514]);
        for f in &sent {
            assert_eq!(f, &frame(f.len()));
        }
        assert_eq!(d.counters().tx_frames, 5);
    }

    #[test]
    fn transmit_waits_for_fifo_space_and_counts_tx_errors() {
        let mut d = driver();
        d.chip().tx_free = 100;
        assert!(d.transmit(Instant::ZERO).is_none());
        d.chip().tx_free = 4608;
        d.chip().tx_status.extend([0x0001_0000, 0x0002_8000]);
        assert!(d.transmit(Instant::ZERO).is_some());
        assert!(d.chip().tx_status.is_empty());
        assert_eq!(d.counters().tx_errors, 1);
    }

    #[test]
    fn an_oversize_transmit_request_is_dropped() {
        let mut d = driver();
        let tx = d.transmit(Instant::ZERO).unwrap();
        let n = tx.consume(4000, |b| b.len());
        assert_eq!(n, BUF_LEN);
        assert!(d.chip().tx_words.is_empty());
        assert_eq!(d.counters().tx_dropped, 1);
    }

    #[test]
    fn pending_while_the_rx_status_fifo_holds_a_frame() {
        let mut d = driver();
        assert!(!d.pending());
        d.chip().push_frame(&frame(60), 0);
        assert!(d.pending());
        assert_eq!(recv(&mut d), Some(frame(60)));
        assert!(!d.pending());
    }

    #[test]
    fn a_smaller_buffer_is_a_smaller_mtu_both_ways() {
        let mut d = Lan9118::<Chip, 596>::with_bus(Chip::new());
        d.init(EthernetAddress([0x02, 0, 0, 0, 0, 0x01])).unwrap();
        assert_eq!(Lan9118::<Chip, 596>::MAX_FRAME_LEN, 592);
        assert_eq!(d.capabilities().max_transmission_unit, 592);
        // In: a frame over the MTU is read out of the FIFO and dropped; one at the MTU arrives.
        d.chip().push_frame(&frame(593), 0);
        d.chip().push_frame(&frame(592), 0);
        assert_eq!(recv(&mut d), Some(frame(592)));
        assert!(d.chip().rx_data.is_empty(), "both frames read out");
        assert_eq!(d.counters().rx_dropped, 1);
        // Out: a frame at the MTU leaves whole; a longer request is dropped.
        let tx = d.transmit(Instant::ZERO).unwrap();
        tx.consume(592, |b| b.copy_from_slice(&frame(592)));
        let tx = d.transmit(Instant::ZERO).unwrap();
        tx.consume(593, |b| b.fill(0));
        assert_eq!(d.chip().sent(), [frame(592)]);
        assert_eq!(d.counters().tx_dropped, 1);
        // The defaults are unchanged: full-size Ethernet.
        assert_eq!(Lan9118::<Chip>::MAX_FRAME_LEN, MAX_FRAME);
    }

    #[test]
    fn capabilities_are_ethernet_with_a_1514_byte_mtu() {
        let d = driver();
        let caps = d.capabilities();
        assert_eq!(caps.medium, Medium::Ethernet);
        assert_eq!(caps.max_transmission_unit, MAX_FRAME);
    }
}
