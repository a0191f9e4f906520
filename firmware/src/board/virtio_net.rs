//! virtio-net over virtio-mmio as a smoltcp [`Device`], on the `virtio-drivers` crate's
//! allocation-free `VirtIONetRaw`.
//!
//! Memory is static: the virtqueues come from a page-aligned arena handed out once (never
//! freed), the receive and transmit buffers are arrays that never move while the device owns
//! them. Received frames are copied out of the posted buffer (which goes straight back to the
//! device) into one frame buffer the stack reads; a length the device reports past the buffer,
//! or longer than an Ethernet frame, is dropped and counted, never trusted.

use core::cell::Cell;
use core::ptr::{self, NonNull};

use critical_section::Mutex;
use smolsock::device::Pending;
use smolsock::smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smolsock::smoltcp::time::Instant;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};
use virtio_drivers::{BufferDirection, Hal, PhysAddr, PAGE_SIZE};

/// The virt machine's virtio-mmio slots: 8 of them, 0x1000 bytes apart.
const MMIO_BASE: usize = 0x1000_1000;
const MMIO_STRIDE: usize = 0x1000;
const MMIO_SLOTS: usize = 8;

/// Descriptors per virtqueue (receive and transmit each).
const QUEUE: usize = 16;
/// Receive buffers posted to the device at once.
const RX_BUFS: usize = 8;
/// Transmissions in flight at once.
const TX_BUFS: usize = 4;
/// Largest Ethernet frame handed to or taken from the stack (1500-byte MTU + header).
pub const MAX_FRAME: usize = 1514;
/// A buffer: the virtio-net header (at most 12 bytes) and a frame, as the crate's minimum
/// (1526) asks.
const BUF: usize = 1526;

/// Pages of DMA memory for the two virtqueues (legacy layout: two pages per queue).
const DMA_PAGES: usize = 8;

#[repr(C, align(4096))]
struct Arena([u8; DMA_PAGES * PAGE_SIZE]);

/// The DMA arena and how many of its pages are handed out.
static mut ARENA: Arena = Arena([0; DMA_PAGES * PAGE_SIZE]);
static ARENA_USED: Mutex<Cell<usize>> = Mutex::new(Cell::new(0));

/// Identity-mapped DMA for `virtio-drivers`: physical address = pointer, memory from [`ARENA`].
pub struct Dma;

// SAFETY: `dma_alloc` hands out disjoint, page-aligned, zeroed (static `.bss`, never reused)
// ranges of ARENA; the machine has no MMU or IOMMU in machine mode, so addresses are physical.
unsafe impl Hal for Dma {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let start = critical_section::with(|cs| {
            let used = ARENA_USED.borrow(cs);
            let start = used.get();
            used.set(start + pages);
            start
        });
        if start + pages > DMA_PAGES {
            // Only the queue set-up allocates, a fixed amount: running out is a build error in
            // this file's constants, found by the first boot.
            panic!("virtio DMA arena exhausted");
        }
        // SAFETY: in bounds (checked above); the range is handed out once.
        let p = unsafe { (ptr::addr_of_mut!(ARENA) as *mut u8).add(start * PAGE_SIZE) };
        // `p` points into a static: never null.
        let p = NonNull::new(p).unwrap_or(NonNull::dangling());
        (p.as_ptr() as usize as PhysAddr, p)
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, _vaddr: NonNull<u8>, _pages: usize) -> i32 {
        // The queues live as long as the firmware.
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        NonNull::new(paddr as usize as *mut u8).unwrap_or(NonNull::dangling())
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.as_ptr() as *mut u8 as usize as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}

/// Frames in and out, and what was dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames handed to the stack.
    pub rx_frames: u32,
    /// Frames the device delivered that were dropped (bad length or a driver error).
    pub rx_dropped: u32,
    /// Frames handed to the device.
    pub tx_frames: u32,
}

/// Receive buffers, transmit buffers and the frame the stack reads. They must not move while
/// the device owns them: statics, referenced from [`VirtioNet`].
static mut RX: [[u8; BUF]; RX_BUFS] = [[0; BUF]; RX_BUFS];
static mut TX: [[u8; BUF]; TX_BUFS] = [[0; BUF]; TX_BUFS];
static mut FRAME: [u8; MAX_FRAME] = [0; MAX_FRAME];

/// The driver and the transmit side: what a [`TxToken`] borrows.
struct Tx {
    raw: VirtIONetRaw<Dma, MmioTransport<'static>, QUEUE>,
    bufs: &'static mut [[u8; BUF]; TX_BUFS],
    /// The token and length of each transmit buffer the device still owns.
    token: [Option<(u16, usize)>; TX_BUFS],
    frames: u32,
}

/// virtio-net as a polled smoltcp device.
pub struct VirtioNet {
    tx: Tx,
    rx: &'static mut [[u8; BUF]; RX_BUFS],
    /// The device's token for each posted receive buffer.
    rx_token: [Option<u16>; RX_BUFS],
    /// The frame the stack reads, copied out of a receive buffer, and its length if one waits.
    frame: &'static mut [u8; MAX_FRAME],
    frame_len: Option<usize>,
    rx_frames: u32,
    rx_dropped: u32,
}

static mut NET: Option<VirtioNet> = None;
static TAKEN: Mutex<Cell<bool>> = Mutex::new(Cell::new(false));

/// Find the virtio-net device, set it up and post the receive buffers; once.
pub fn take() -> Option<&'static mut VirtioNet> {
    if critical_section::with(|cs| TAKEN.borrow(cs).replace(true)) {
        return None;
    }
    // SAFETY: only the first call gets here (TAKEN), so these are the only references to NET,
    // RX, TX and FRAME.
    let (net, rx, tx, frame) = unsafe {
        (
            &mut *ptr::addr_of_mut!(NET),
            &mut *ptr::addr_of_mut!(RX),
            &mut *ptr::addr_of_mut!(TX),
            &mut *ptr::addr_of_mut!(FRAME),
        )
    };
    let transport = (0..MMIO_SLOTS).find_map(|slot| {
        let header = NonNull::new((MMIO_BASE + slot * MMIO_STRIDE) as *mut VirtIOHeader)?;
        // SAFETY: each slot is a 0x1000-byte virtio-mmio register window of the virt machine,
        // valid forever; the driver is its only user (TAKEN). An empty slot reports device ID
        // 0, which `new` rejects.
        let t = unsafe { MmioTransport::new(header, MMIO_STRIDE) }.ok()?;
        (t.device_type() == DeviceType::Network).then_some(t)
    })?;
    let raw = VirtIONetRaw::new(transport).ok()?;
    let dev = net.insert(VirtioNet {
        tx: Tx {
            raw,
            bufs: tx,
            token: [None; TX_BUFS],
            frames: 0,
        },
        rx,
        rx_token: [None; RX_BUFS],
        frame,
        frame_len: None,
        rx_frames: 0,
        rx_dropped: 0,
    });
    for i in 0..RX_BUFS {
        dev.post(i);
    }
    Some(dev)
}

impl VirtioNet {
    /// The device's MAC address (from its configuration space).
    pub fn mac_address(&self) -> [u8; 6] {
        self.tx.raw.mac_address()
    }

    /// Frames in, out and dropped so far.
    pub fn counters(&self) -> Counters {
        Counters {
            rx_frames: self.rx_frames,
            rx_dropped: self.rx_dropped,
            tx_frames: self.tx.frames,
        }
    }

    /// Give receive buffer `i` to the device.
    fn post(&mut self, i: usize) {
        // SAFETY: buffer `i` is in a static that never moves, and is not touched again until
        // the device hands it back through `poll_receive` (see `fetch`).
        self.rx_token[i] = unsafe { self.tx.raw.receive_begin(&mut self.rx[i]) }.ok();
    }

    /// Move the next received frame, if any, into `frame`.
    fn fetch(&mut self) {
        while self.frame_len.is_none() {
            let Some(token) = self.tx.raw.poll_receive() else {
                return;
            };
            let Some(i) = self.rx_token.iter().position(|t| *t == Some(token)) else {
                // A token never posted: nothing to take back.
                self.rx_dropped += 1;
                return;
            };
            self.rx_token[i] = None;
            // SAFETY: the same buffer `post` handed to the device with this token.
            let done = unsafe { self.tx.raw.receive_complete(token, &mut self.rx[i]) };
            match done {
                Ok((hdr, len)) if (14..=MAX_FRAME).contains(&len) && hdr + len <= BUF => {
                    self.frame[..len].copy_from_slice(&self.rx[i][hdr..hdr + len]);
                    self.frame_len = Some(len);
                    self.rx_frames += 1;
                }
                _ => self.rx_dropped += 1,
            }
            self.post(i);
        }
    }
}

impl Tx {
    /// Take back every transmit buffer the device is done with.
    fn reclaim(&mut self) {
        while let Some(token) = self.raw.poll_transmit() {
            let Some(i) = self
                .token
                .iter()
                .position(|t| t.is_some_and(|(tok, _)| tok == token))
            else {
                return;
            };
            let len = self.token[i].map_or(0, |(_, len)| len);
            // SAFETY: the same buffer and length `transmit_begin` was given with this token.
            let _ = unsafe { self.raw.transmit_complete(token, &self.bufs[i][..len]) };
            self.token[i] = None;
        }
    }

    /// A free transmit buffer's index.
    fn free(&mut self) -> Option<usize> {
        self.reclaim();
        if !self.raw.can_send() {
            return None;
        }
        self.token.iter().position(Option::is_none)
    }
}

impl Pending for VirtioNet {
    fn pending(&self) -> bool {
        self.frame_len.is_some() || self.tx.raw.poll_receive().is_some()
    }
}

/// A received frame.
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

/// Room for one frame in a transmit buffer.
pub struct TxToken<'a> {
    tx: &'a mut Tx,
    buf: usize,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let tx = self.tx;
        let i = self.buf;
        let hdr = tx.raw.fill_buffer_header(&mut tx.bufs[i]).unwrap_or(0);
        // smoltcp never asks for more than the MTU; clamp anyway, so a slice cannot overrun.
        let len = len.min(BUF - hdr);
        let result = f(&mut tx.bufs[i][hdr..hdr + len]);
        // SAFETY: buffer `i` is in a static that never moves and is free (`Tx::free`); it is not
        // touched again until `reclaim` takes it back with this token.
        match unsafe { tx.raw.transmit_begin(&tx.bufs[i][..hdr + len]) } {
            Ok(token) => {
                tx.token[i] = Some((token, hdr + len));
                tx.frames += 1;
            }
            Err(_) => log::warn!("virtio-net: transmit failed"),
        }
        result
    }
}

impl Device for VirtioNet {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        self.fetch();
        let len = self.frame_len?;
        let buf = self.tx.free()?;
        self.frame_len = None;
        let rx = RxToken {
            frame: &self.frame[..len],
        };
        Some((
            rx,
            TxToken {
                tx: &mut self.tx,
                buf,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<TxToken<'_>> {
        let buf = self.tx.free()?;
        Some(TxToken {
            tx: &mut self.tx,
            buf,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        caps.max_burst_size = Some(1);
        caps
    }
}
