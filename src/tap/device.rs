//! A TAP file descriptor as a smoltcp device.
//!
//! smoltcp's own `TunTapInterface` creates the interface when it is missing (so a typo makes a
//! fresh, unconfigured `tap1` appear), allocates a `Vec` per frame, and panics on any I/O error
//! other than `WouldBlock`; writing to a TAP interface that is down fails with `EIO`, so
//! `ip link set tap0 down` would crash the server. [`TapDevice`] attaches only to an interface
//! that exists, reuses two buffers, counts errors instead of panicking, and says how to fix the
//! usual set-up mistakes ([`TapError`]).
//!
//! ## Offloads
//!
//! By default ([`TapDevice::open`]) the device asks the kernel for `IFF_VNET_HDR`: every frame
//! then travels behind a 10-byte `virtio_net_hdr`. That lets smolsock hand the kernel one TCP
//! segment of up to 64 KiB instead of up to 44 frames of 1500 bytes (`batch.rs`: once a
//! [`HostLoop`](super::HostLoop) drives the device, consecutive segments smoltcp sends are glued
//! into one GSO segment, which the kernel takes in once). The device also turns on the
//! interface's checksum offload (`TUNSETOFFLOAD`: `TUN_F_CSUM`): TCP checksums are then left
//! to the kernel both ways (smoltcp neither computes nor checks them; segments the kernel has not
//! vouched for are checked by the device, see `checksum.rs`), and a partial UDP checksum from
//! the kernel is completed before smoltcp checks it.
//!
//! The device also takes the kernel's segmentation offload towards us (`TUN_F_TSO4`): the
//! kernel hands over TCP segments of up to 64 KiB, one `read` each, which smoltcp takes in whole
//! (it trims a segment to its window, whatever its size). It once made a 64 MiB echo stall for
//! good now and then: the kernel fills smoltcp's window to the byte, smoltcp's scaled window
//! then shrinks by rounding and smoltcp ignored the kernel's window updates; the ingress guard
//! now corrects that (`guard/shrunk_window.rs`). The MTU smoltcp sees does not change: the
//! segments smoltcp makes carry at most the MSS (`batch.rs` glues them together). The offloads are switched off again when the device is
//! dropped, so a program without `IFF_VNET_HDR` attaching later gets plain frames.
//! [`TapDevice::open_plain`] asks for neither (one `write` per frame, as smoltcp's own
//! `TunTapInterface`). smoltcp's `FaultInjector` drops frames over 1536 bytes, so the TAP server
//! opens the device plain when it injects faults.

use std::cell::RefCell;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::{AsRawFd, RawFd};
use std::rc::Rc;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

use smoltcp::phy::{self, Checksum, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use smoltcp::wire::EthernetFrame;

use super::batch::TxBatch;
use super::checksum;
use super::{TapError, TapMonitor};
use crate::device::Pending;

/// An existing Linux TAP interface, attached through `/dev/net/tun`.
///
/// Frames are whole Ethernet frames (no packet-information header). Reads are non-blocking;
/// wait for the descriptor with [`smoltcp::phy::wait`] (see [`HostLoop`](super::HostLoop)).
#[derive(Debug)]
pub struct TapDevice {
    file: File,
    name: String,
    mtu: usize,
    rx_buf: Vec<u8>,
    /// The way out, shared with the [`HostLoop`](super::HostLoop) that flushes it.
    tx: Rc<RefCell<TxBatch>>,
    monitor: TapMonitor,
    /// Frames travel behind a `virtio_net_hdr` (`IFF_VNET_HDR`).
    vnet: bool,
    /// The kernel took the offloads (`TUNSETOFFLOAD`).
    offloads: bool,
}

/// Largest frame read from the kernel: the interface MTU plus the Ethernet and VLAN headers and
/// the `virtio_net_hdr` (a larger buffer costs nothing, and holds a 64 KiB segment should the
/// kernel send one).
const RX_BUF: usize = 65536 + 256;

/// Most frames one `receive` drops (bad checksum, bad header) before it returns.
const DROPS_PER_RECEIVE: usize = 64;

impl TapDevice {
    /// Attach to the existing TAP interface `name` in the current network namespace.
    ///
    /// Unlike `ip tuntap` and smoltcp's `TunTapInterface`, this never creates the interface:
    /// a missing one is [`TapError::NotFound`], whose message shows how to create it.
    pub fn open(name: &str) -> Result<Self, TapError> {
        Self::attach(name, true)
    }

    /// [`TapDevice::open`] without the offloads: no `virtio_net_hdr`, one `write` per frame, as
    /// smoltcp's own `TunTapInterface` does (for comparisons, or a kernel that refuses them).
    pub fn open_plain(name: &str) -> Result<Self, TapError> {
        Self::attach(name, false)
    }

    fn attach(name: &str, offload: bool) -> Result<Self, TapError> {
        let invalid = || TapError::InvalidName {
            name: name.to_string(),
        };
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            return Err(invalid());
        }
        let c_name = CString::new(name).map_err(|_| invalid())?;
        // SAFETY: `c_name` is a valid NUL-terminated string.
        if unsafe { libc::if_nametoindex(c_name.as_ptr()) } == 0 {
            return Err(TapError::NotFound {
                name: name.to_string(),
            });
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|e| match e.kind() {
                io::ErrorKind::PermissionDenied => TapError::Permission {
                    name: name.to_string(),
                    source: e,
                },
                _ => TapError::NoTunDevice(e),
            })?;

        let mut ifr = ifreq(name);
        let vnet = if offload { libc::IFF_VNET_HDR } else { 0 };
        ifr.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI | vnet) as libc::c_short;
        // SAFETY: TUNSETIFF reads and writes one `ifreq`, which lives for the call.
        if unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF as _, &mut ifr) } < 0 {
            let e = io::Error::last_os_error();
            let name = name.to_string();
            return Err(match e.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EACCES) => TapError::Permission { name, source: e },
                Some(libc::EBUSY) => TapError::Busy { name },
                Some(libc::EINVAL) => TapError::NotTap { name },
                _ => TapError::Io {
                    what: "TUNSETIFF",
                    source: e,
                },
            });
        }

        // The header is there from TUNSETIFF on, whether or not the offloads are taken.
        let vnet = offload;
        // Checksum offload, and TSO: the kernel may hand over segments of up to 64 KiB.
        let offloads = vnet && set_offload(&file, libc::TUN_F_CSUM | libc::TUN_F_TSO4).is_ok();
        if vnet && !offloads {
            log::warn!("{name}: the kernel refused the TAP offloads; one frame per read");
        }
        let (ip_mtu, up) = interface_info(name)?;
        if !up {
            log::warn!(
                "{name} is down: nothing will flow until `ip link set {name} up` \
                 (in the interface's namespace)"
            );
        }
        let mtu = ip_mtu + EthernetFrame::<&[u8]>::header_len();
        let monitor = TapMonitor::default();
        let out = file.try_clone().map_err(|source| TapError::Io {
            what: "dup of the TAP descriptor",
            source,
        })?;
        let mut tx = TxBatch::new(out, name.to_string(), monitor.clone(), vnet);
        tx.tcp_offload = offloads;
        Ok(TapDevice {
            file,
            name: name.to_string(),
            mtu,
            rx_buf: vec![0; RX_BUF.max(mtu)],
            tx: Rc::new(RefCell::new(tx)),
            monitor,
            vnet,
            offloads,
        })
    }

    /// Whether the offloads are on (see the module documentation).
    pub fn offloads(&self) -> bool {
        self.offloads
    }

    /// Leave TCP checksums to the kernel (`true`, the default when the offloads are on) or have
    /// smoltcp compute and check every one (`false`). Turn it off before wrapping the device in
    /// a `PcapWriter` (a capture then shows complete checksums, as on a wire), and before
    /// wrapping it in anything that corrupts frames, like smoltcp's `FaultInjector`: with the
    /// offload on, nothing would check the checksums of what it corrupted (or use
    /// [`TapDevice::open_plain`], as the TAP server does with faults). Without the offloads it
    /// stays off.
    pub fn set_tcp_checksum_offload(&mut self, on: bool) {
        self.tx.borrow_mut().tcp_offload = on && self.offloads;
    }

    /// Whether TCP checksums are left to the kernel ([`set_tcp_checksum_offload`](Self::set_tcp_checksum_offload)).
    pub fn tcp_checksum_offload(&self) -> bool {
        self.tx.borrow().tcp_offload
    }

    /// The way out, for a loop that flushes it before sleeping: with the offloads on, TCP
    /// segments are batched from now on (see `batch.rs`).
    pub(super) fn batch(&self) -> Rc<RefCell<TxBatch>> {
        self.tx.borrow_mut().batching = self.offloads;
        self.tx.clone()
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Largest Ethernet frame (IP MTU + 14 bytes of header).
    pub fn mtu(&self) -> usize {
        self.mtu
    }

    /// A view of the counters that stays valid after the device is moved into a wrapper.
    pub fn monitor(&self) -> TapMonitor {
        self.monitor.clone()
    }

    /// Count and log (rate-limited) a frame dropped before smoltcp saw it.
    fn dropped(&self, why: checksum::Dropped, now: Instant) {
        self.monitor.update(|s| s.rx_dropped += 1);
        let mut limit = self.monitor.drop_log.get();
        crate::limited!(
            limit,
            now,
            warn,
            "{}: dropped {why} from the kernel",
            self.name
        );
        self.monitor.drop_log.set(limit);
    }
}

impl AsRawFd for TapDevice {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl Drop for TapDevice {
    fn drop(&mut self) {
        self.tx.borrow_mut().flush();
        if self.offloads {
            // Best effort: a later reader without IFF_VNET_HDR must get plain frames.
            let _ = set_offload(&self.file, 0);
        }
    }
}

/// `TUNSETOFFLOAD`: the offloads the kernel may use on frames to this descriptor.
fn set_offload(file: &File, flags: libc::c_uint) -> io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes its argument by value; no memory is passed.
    if unsafe {
        libc::ioctl(
            file.as_raw_fd(),
            libc::TUNSETOFFLOAD as _,
            flags as libc::c_ulong,
        )
    } < 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The kernel holds received frames, not the device: `phy::wait` on the descriptor sees them.
impl Pending for TapDevice {
    fn pending(&self) -> bool {
        false
    }
}

fn ifreq(name: &str) -> libc::ifreq {
    // SAFETY: `ifreq` is plain old data; all zeroes is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in ifr.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = src as libc::c_char;
    }
    ifr
}

/// The interface's IP MTU and whether it is up.
fn interface_info(name: &str) -> Result<(usize, bool), TapError> {
    let io_err = |what| move |source| TapError::Io { what, source };
    // SAFETY: plain socket(2) call; the descriptor is owned by `sock` right after.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io_err("socket")(io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let mut ifr = ifreq(name);
    // SAFETY: SIOCGIFMTU fills the `ifreq` it is given.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFMTU as _, &mut ifr) } < 0 {
        return Err(io_err("SIOCGIFMTU")(io::Error::last_os_error()));
    }
    // SAFETY: SIOCGIFMTU wrote the `ifru_mtu` member.
    let mtu = unsafe { ifr.ifr_ifru.ifru_mtu }.max(576) as usize;
    let mut ifr = ifreq(name);
    // SAFETY: SIOCGIFFLAGS fills the `ifreq` it is given.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut ifr) } < 0 {
        return Err(io_err("SIOCGIFFLAGS")(io::Error::last_os_error()));
    }
    // SAFETY: SIOCGIFFLAGS wrote the `ifru_flags` member.
    let flags = unsafe { ifr.ifr_ifru.ifru_flags };
    Ok((mtu, flags & libc::IFF_UP as libc::c_short != 0))
}

/// A frame read from the TAP interface.
#[doc(hidden)]
pub struct TapRxToken<'a> {
    frame: &'a [u8],
}

impl phy::RxToken for TapRxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

/// Room for one frame to the TAP interface.
#[doc(hidden)]
pub struct TapTxToken<'a> {
    tx: &'a RefCell<TxBatch>,
}

impl phy::TxToken for TapTxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        self.tx.borrow_mut().send(len, f)
    }
}

impl Device for TapDevice {
    type RxToken<'a> = TapRxToken<'a>;
    type TxToken<'a> = TapTxToken<'a>;

    fn receive(&mut self, now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let tcp_offload = self.tcp_checksum_offload();
        let mut dropped = 0;
        let frame = loop {
            match (&self.file).read(&mut self.rx_buf) {
                Ok(n) if !self.vnet => break 0..n,
                Ok(n) => match checksum::receive(&mut self.rx_buf[..n], tcp_offload) {
                    Ok(frame) => break frame,
                    Err(why) => {
                        self.dropped(why, now);
                        dropped += 1;
                        // A flood of bad frames must not keep the stack in here: after a few,
                        // say "nothing now" so the stack sends and runs its timers; the rest wait
                        // in the kernel's queue for the next poll.
                        if dropped == DROPS_PER_RECEIVE {
                            return None;
                        }
                        continue;
                    }
                },
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) => {
                    if self.monitor.failure.get().is_none() {
                        log::error!("{}: cannot read: {e}", self.name);
                        self.monitor.failure.set(Some(e.kind()));
                    }
                    return None;
                }
            }
        };
        let frame = self.rx_buf.get(frame)?;
        self.monitor.update(|s| {
            s.rx_frames += 1;
            s.rx_bytes += frame.len() as u64;
        });
        Some((TapRxToken { frame }, TapTxToken { tx: &self.tx }))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        Some(TapTxToken { tx: &self.tx })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.mtu;
        if self.tcp_checksum_offload() {
            caps.checksum.tcp = Checksum::None;
        }
        caps
    }
}
