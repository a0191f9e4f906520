//! Network namespaces for the TAP tests and the benchmark.
//!
//! Every namespace is made here, named after this process and a counter, and deleted when its
//! guard drops (also when a test panics). Traffic never leaves the namespaces made here: the
//! kernel side of each TAP interface (192.168.69.100, fd00:69::100) and smolsock (192.168.69.1,
//! fd00:69::1) exist only inside one.
#![allow(dead_code)]

use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::thread;

/// smolsock's address on every TAP interface made here.
pub const SMOLSOCK_IP: &str = "192.168.69.1";
/// The kernel side's address.
pub const KERNEL_IP: &str = "192.168.69.100";
/// smolsock's IPv6 address (the TAP server's default static address).
pub const SMOLSOCK_IP6: &str = "fd00:69::1";
/// The kernel side's IPv6 address.
pub const KERNEL_IP6: &str = "fd00:69::100";
/// The TAP interface's name inside each namespace (namespaces keep names apart).
pub const TAP: &str = "tap0";

/// Why namespaces cannot be used here, if they cannot (not root, no `ip`, no `/dev/net/tun`,
/// a container that forbids `ip netns add`).
pub fn unavailable() -> Option<&'static str> {
    static REASON: OnceLock<Option<String>> = OnceLock::new();
    REASON
        .get_or_init(|| {
            // SAFETY: geteuid has no preconditions.
            if unsafe { libc::geteuid() } != 0 {
                return Some(
                    "not root: creating network namespaces and TAP devices needs root".into(),
                );
            }
            if !Path::new("/dev/net/tun").exists() {
                return Some("/dev/net/tun does not exist".into());
            }
            if Command::new("ip").arg("-V").output().is_err() {
                return Some("the `ip` command (iproute2) is not installed".into());
            }
            match Netns::new("probe") {
                Ok(ns) => match ns.add_tap() {
                    Ok(()) => None,
                    Err(e) => Some(format!("cannot create a TAP device in a namespace: {e}")),
                },
                Err(e) => Some(format!("cannot create a network namespace: {e}")),
            }
        })
        .as_deref()
}

/// Run `ip` with `args`; an error carries its stderr.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A network namespace made by this process; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Make a namespace named `smolsock-PID-TAG-N`, with its loopback up.
    pub fn new(tag: &str) -> Result<Netns, String> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("smolsock-{}-{tag}-{n}", std::process::id());
        ip(&["netns", "add", &name])?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Take charge of a namespace made elsewhere (by `scripts/tap-netns.sh`): it is deleted
    /// on drop like the others.
    pub fn adopt(name: String) -> Netns {
        Netns { name }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Run `ip -n NAME args`.
    pub fn ip(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Run a command inside the namespace (`ip netns exec NAME program args`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Make the TAP device `tap0`, give the kernel side 192.168.69.100/24 and fd00:69::100/64
    /// (`nodad`: usable at once, no duplicate address detection) and bring it up. The kernel
    /// sends no router solicitations on it, so captures show little beyond the tests' traffic.
    pub fn add_tap(&self) -> Result<(), String> {
        self.ip(&["tuntap", "add", "dev", TAP, "mode", "tap"])?;
        let _ = self
            .command("sysctl")
            .args([
                "-qw",
                &format!("net.ipv6.conf.{TAP}.router_solicitations=0"),
            ])
            .stderr(Stdio::null())
            .status();
        self.ip(&["addr", "add", &format!("{KERNEL_IP}/24"), "dev", TAP])?;
        self.ip(&[
            "addr",
            "add",
            &format!("{KERNEL_IP6}/64"),
            "dev",
            TAP,
            "nodad",
        ])?;
        self.ip(&["link", "set", TAP, "up"])
    }

    /// Wait (up to 3 s) until the kernel has carrier on `tap0`, i.e. a program has attached to
    /// it and the kernel's link watcher has switched the queue on. Frames sent before that are
    /// dropped, and a first SYN lost costs a one-second retransmission.
    pub fn wait_for_carrier(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while std::time::Instant::now() < deadline {
            let out = Command::new("ip")
                .args(["-n", &self.name, "-o", "link", "show", TAP])
                .output();
            if let Ok(out) = out {
                let line = String::from_utf8_lossy(&out.stdout);
                if !line.contains("NO-CARRIER") && line.contains("state UP") {
                    return;
                }
            }
            thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Move the calling thread into the namespace (sockets it opens then live there).
    pub fn enter(&self) -> io::Result<()> {
        let file = File::open(format!("/run/netns/{}", self.name))?;
        // SAFETY: setns on a namespace file descriptor; affects only this thread's network
        // namespace.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Spawn a thread that runs `f` inside the namespace.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> thread::JoinHandle<T> {
        let path = format!("/run/netns/{}", self.name);
        thread::spawn(move || {
            let file = File::open(&path).expect("open the namespace");
            // SAFETY: as in `enter`.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", io::Error::last_os_error());
            f()
        })
    }

    /// Run `f` in the namespace on a thread of its own and wait for it; a panic there is a
    /// panic here.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        match self.spawn(f).join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// Send one ICMP echo request to `to` through the kernel's ping socket (`SOCK_DGRAM` +
/// `IPPROTO_ICMP`, as `ping` does; `IPPROTO_ICMPV6` for an IPv6 address, as `ping -6` does) and
/// return the reply's payload, if one came within a second. Call it on a thread inside the
/// namespace, where ping sockets are allowed (`ping_group_range`; see `tests/tap.rs`).
pub fn kernel_ping(to: std::net::IpAddr, seq: u16, payload: &[u8]) -> Option<Vec<u8>> {
    // Echo request and reply types: ICMP 8 and 0, ICMPv6 128 and 129.
    let (domain, protocol, request_type, reply_type) = match to {
        std::net::IpAddr::V4(_) => (libc::AF_INET, libc::IPPROTO_ICMP, 8u8, 0u8),
        std::net::IpAddr::V6(_) => (libc::AF_INET6, libc::IPPROTO_ICMPV6, 128, 129),
    };
    // SAFETY: plain socket calls on a descriptor this function owns and closes; every buffer
    // handed to the kernel is valid for the length given.
    unsafe {
        let fd = libc::socket(domain, libc::SOCK_DGRAM, protocol);
        assert!(fd >= 0, "ping socket: {}", std::io::Error::last_os_error());
        let timeout = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
        // Echo request: code 0, checksum and identifier filled in by the kernel.
        let mut request = vec![request_type, 0, 0, 0, 0, 0];
        request.extend_from_slice(&seq.to_be_bytes());
        request.extend_from_slice(payload);
        let sent = match to {
            std::net::IpAddr::V4(v4) => {
                let mut addr: libc::sockaddr_in = std::mem::zeroed();
                addr.sin_family = libc::AF_INET as libc::sa_family_t;
                addr.sin_addr.s_addr = u32::from_ne_bytes(v4.octets());
                libc::sendto(
                    fd,
                    request.as_ptr().cast(),
                    request.len(),
                    0,
                    (&addr as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
            std::net::IpAddr::V6(v6) => {
                let mut addr: libc::sockaddr_in6 = std::mem::zeroed();
                addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                addr.sin6_addr.s6_addr = v6.octets();
                libc::sendto(
                    fd,
                    request.as_ptr().cast(),
                    request.len(),
                    0,
                    (&addr as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        };
        assert_eq!(
            sent,
            request.len() as isize,
            "{}",
            std::io::Error::last_os_error()
        );
        let mut reply = [0u8; 1500];
        let n = libc::recv(fd, reply.as_mut_ptr().cast(), reply.len(), 0);
        libc::close(fd);
        // An echo reply for our sequence number.
        (n >= 8 && reply[0] == reply_type && reply[6..8] == seq.to_be_bytes())
            .then(|| reply[8..n as usize].to_vec())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace removes the TAP device and the veth ends in it.
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("cleanup: {e}");
        }
    }
}
