//! A TAP file descriptor as a smoltcp device.
//!
//! smoltcp's own `TunTapInterface` creates the interface when it is missing (so a typo makes a
//! fresh, unconfigured `tap1` appear), allocates a `Vec` per frame, and panics on any I/O error
//! other than `WouldBlock`; writing to a TAP interface that is down fails with `EIO`, so
//! `ip link set tap0 down` would crash the server. [`TapDevice`] attaches only to an interface
//! that exists, reuses two buffers, counts errors instead of panicking, and says how to fix the
//! usual set-up mistakes ([`TapError`]).

use std::cell::Cell;
use std::ffi::CString;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::{AsRawFd, RawFd};
use std::rc::Rc;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Address, Ipv4Packet, TcpPacket,
};

use crate::device::Pending;

/// Counters of a [`TapDevice`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TapStats {
    /// Frames read from the kernel.
    pub rx_frames: u64,
    /// Bytes read from the kernel.
    pub rx_bytes: u64,
    /// Frames handed to the kernel.
    pub tx_frames: u64,
    /// Bytes handed to the kernel.
    pub tx_bytes: u64,
    /// Frames the kernel did not take (interface down, queue full); TCP retransmits them.
    pub tx_errors: u64,
    /// Connection attempts answered with RST (nobody listening on the port, or the pool is
    /// exhausted).
    pub refused: u64,
}

/// A shared view of a [`TapDevice`]'s counters and health, still readable once the device is
/// wrapped in a `PcapWriter` or `FaultInjector`.
#[derive(Debug, Clone, Default)]
pub struct TapMonitor {
    stats: Rc<Cell<TapStats>>,
    failure: Rc<Cell<Option<io::ErrorKind>>>,
    /// Refusals are logged through this (a SYN flood must not fill the log).
    refusal_log: Rc<Cell<crate::log_limit::LogLimit>>,
}

impl TapMonitor {
    /// The counters so far.
    pub fn stats(&self) -> TapStats {
        self.stats.get()
    }

    /// Why the device stopped working (the interface vanished, ...), if it did.
    pub fn failure(&self) -> Option<io::ErrorKind> {
        self.failure.get()
    }

    fn update(&self, f: impl FnOnce(&mut TapStats)) {
        let mut stats = self.stats.get();
        f(&mut stats);
        self.stats.set(stats);
    }
}

/// Why a TAP interface could not be used, with the commands that fix it.
#[derive(Debug)]
pub enum TapError {
    /// The interface name is empty, longer than 15 bytes, or contains a NUL byte.
    InvalidName {
        /// The name given.
        name: String,
    },
    /// No interface of that name exists in this network namespace.
    NotFound {
        /// The interface name.
        name: String,
    },
    /// `/dev/net/tun` is missing (no `tun` kernel module, or a container without the device).
    NoTunDevice(io::Error),
    /// Not allowed to open `/dev/net/tun` or to attach to the interface.
    Permission {
        /// The interface name.
        name: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// Another program is attached to the interface already.
    Busy {
        /// The interface name.
        name: String,
    },
    /// The interface exists but is not a TAP device (a TUN device, a physical NIC, `lo`, ...).
    NotTap {
        /// The interface name.
        name: String,
    },
    /// The device failed while running (the interface was deleted, ...).
    Failed {
        /// The interface name.
        name: String,
        /// What the kernel said.
        kind: io::ErrorKind,
    },
    /// The capture file could not be created.
    Pcap {
        /// The file.
        path: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// The services could not be set up on the stack.
    Setup(crate::Error),
    /// Another system call failed.
    Io {
        /// What was being done.
        what: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
}

/// The commands that create `name` inside its own namespace, shown with every set-up error.
fn create_help(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    writeln!(f)?;
    writeln!(
        f,
        "Create it inside a network namespace of its own (192.168.69.x then exists only there):"
    )?;
    writeln!(
        f,
        "    sudo scripts/tap-netns.sh up smolsock {name}     # kernel side 192.168.69.100/24"
    )?;
    writeln!(
        f,
        "    sudo ip netns exec smolsock target/release/examples/tap serve --iface {name}"
    )?;
    writeln!(f, "or by hand:")?;
    writeln!(f, "    sudo ip netns add smolsock")?;
    writeln!(
        f,
        "    sudo ip netns exec smolsock ip tuntap add dev {name} mode tap"
    )?;
    writeln!(
        f,
        "    sudo ip -n smolsock addr add 192.168.69.100/24 dev {name}"
    )?;
    writeln!(f, "    sudo ip -n smolsock link set {name} up")?;
    write!(
        f,
        "and remove it with `sudo scripts/tap-netns.sh down smolsock {name}` (or `sudo ip netns \
         del smolsock`)."
    )
}

impl fmt::Display for TapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TapError::InvalidName { name } => write!(
                f,
                "{name:?} is not a valid interface name (1 to 15 bytes, no NUL)"
            ),
            TapError::NotFound { name } => {
                write!(
                    f,
                    "there is no interface {name:?} in this network namespace."
                )?;
                create_help(f, name)
            }
            TapError::NoTunDevice(e) => write!(
                f,
                "cannot open /dev/net/tun ({e}): load the driver with `sudo modprobe tun`, or give \
                 the container the device (docker: --device /dev/net/tun --cap-add NET_ADMIN)"
            ),
            TapError::Permission { name, source } => write!(
                f,
                "not allowed to attach to {name:?} ({source}). Run as root (sudo), give the \
                 program CAP_NET_ADMIN (sudo setcap cap_net_admin+ep PROGRAM), or create the \
                 interface for your user in its namespace: sudo ip netns exec smolsock ip tuntap \
                 add dev {name} mode tap user $USER"
            ),
            TapError::Busy { name } => write!(
                f,
                "{name:?} is in use by another program (a TAP interface takes one reader): stop \
                 the other server, or create a second interface."
            ),
            TapError::NotTap { name } => {
                write!(
                    f,
                    "{name:?} exists but is not a TAP interface (TUN, a NIC or a bridge?)."
                )?;
                create_help(f, name)
            }
            TapError::Failed { name, kind } => write!(
                f,
                "the TAP interface {name:?} stopped working ({kind}); was it deleted?"
            ),
            TapError::Pcap { path, source } => {
                write!(f, "cannot create the capture file {path:?}: {source}")
            }
            TapError::Setup(e) => write!(f, "cannot set up the services: {e}"),
            TapError::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for TapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TapError::NoTunDevice(e)
            | TapError::Permission { source: e, .. }
            | TapError::Pcap { source: e, .. }
            | TapError::Io { source: e, .. } => Some(e),
            TapError::Setup(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::Error> for TapError {
    fn from(e: crate::Error) -> Self {
        TapError::Setup(e)
    }
}

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
    tx_buf: Vec<u8>,
    monitor: TapMonitor,
    tx_failing: bool,
}

/// Largest frame read from the kernel (it never sends more than the interface MTU plus the
/// Ethernet and VLAN headers; a larger buffer costs nothing).
const RX_BUF: usize = 65536;

impl TapDevice {
    /// Attach to the existing TAP interface `name` in the current network namespace.
    ///
    /// Unlike `ip tuntap` and smoltcp's `TunTapInterface`, this never creates the interface:
    /// a missing one is [`TapError::NotFound`], whose message shows how to create it.
    pub fn open(name: &str) -> Result<Self, TapError> {
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
        ifr.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
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

        let (ip_mtu, up) = interface_info(name)?;
        if !up {
            log::warn!(
                "{name} is down: nothing will flow until `ip link set {name} up` \
                 (in the interface's namespace)"
            );
        }
        let mtu = ip_mtu + EthernetFrame::<&[u8]>::header_len();
        Ok(TapDevice {
            file,
            name: name.to_string(),
            mtu,
            rx_buf: vec![0; RX_BUF.max(mtu)],
            tx_buf: Vec::with_capacity(mtu),
            monitor: TapMonitor::default(),
            tx_failing: false,
        })
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
}

impl AsRawFd for TapDevice {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
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
    file: &'a File,
    buf: &'a mut Vec<u8>,
    name: &'a str,
    monitor: &'a TapMonitor,
    failing: &'a mut bool,
}

impl phy::TxToken for TapTxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        self.buf.clear();
        self.buf.resize(len, 0);
        let result = f(self.buf);
        note_refusal(self.buf, self.monitor);
        let mut file = self.file;
        match file.write(self.buf) {
            Ok(_) => {
                self.monitor.update(|s| {
                    s.tx_frames += 1;
                    s.tx_bytes += len as u64;
                });
                if *self.failing {
                    *self.failing = false;
                    log::info!("{}: the kernel takes frames again", self.name);
                }
            }
            Err(e) => {
                self.monitor.update(|s| s.tx_errors += 1);
                if !*self.failing {
                    *self.failing = true;
                    log::warn!(
                        "{}: the kernel refuses frames ({e}); is the interface down? \
                         TCP will retransmit",
                        self.name
                    );
                }
            }
        }
        result
    }
}

/// Log and count an outgoing RST|ACK with sequence number 0: smoltcp's answer to a SYN that
/// found no listening socket ("connection refused").
fn note_refusal(frame: &[u8], monitor: &TapMonitor) {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return;
    };
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return;
    }
    let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
        return;
    };
    if ip.next_header() != IpProtocol::Tcp {
        return;
    }
    let Ok(tcp) = TcpPacket::new_checked(ip.payload()) else {
        return;
    };
    if tcp.rst() && tcp.ack() && tcp.seq_number().0 == 0 {
        monitor.update(|s| s.refused += 1);
        let dst: Ipv4Address = ip.dst_addr();
        let mut limit = monitor.refusal_log.get();
        let now = smoltcp::time::Instant::now();
        crate::limited!(
            limit,
            now,
            info,
            "refused {dst}:{} -> port {} (RST: nothing listening, or every socket busy)",
            tcp.dst_port(),
            tcp.src_port()
        );
        monitor.refusal_log.set(limit);
    }
}

impl Device for TapDevice {
    type RxToken<'a> = TapRxToken<'a>;
    type TxToken<'a> = TapTxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let n = loop {
            match (&self.file).read(&mut self.rx_buf) {
                Ok(n) => break n,
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
        self.monitor.update(|s| {
            s.rx_frames += 1;
            s.rx_bytes += n as u64;
        });
        let frame = self.rx_buf.get(..n)?;
        Some((
            TapRxToken { frame },
            TapTxToken {
                file: &self.file,
                buf: &mut self.tx_buf,
                name: &self.name,
                monitor: &self.monitor,
                failing: &mut self.tx_failing,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        Some(TapTxToken {
            file: &self.file,
            buf: &mut self.tx_buf,
            name: &self.name,
            monitor: &self.monitor,
            failing: &mut self.tx_failing,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.mtu;
        caps
    }
}

#[cfg(test)]
mod tests {
    use std::string::ToString;

    use super::*;

    /// The hints are commands to copy: they must name the interface and work as given.
    #[test]
    fn hints_name_the_interface_and_the_namespace() {
        let missing = TapError::NotFound {
            name: "tapx3".into(),
        }
        .to_string();
        // `down` without the TAP name refuses ("not made by this script") for any but tap0.
        assert!(
            missing.contains("sudo scripts/tap-netns.sh down smolsock tapx3`"),
            "{missing}"
        );
        assert!(
            missing.contains("sudo scripts/tap-netns.sh up smolsock tapx3"),
            "{missing}"
        );
        let denied = TapError::Permission {
            name: "tapx3".into(),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        }
        .to_string();
        assert!(
            denied.contains(
                "sudo ip netns exec smolsock ip tuntap add dev tapx3 mode tap user $USER"
            ),
            "{denied}"
        );
    }
}
