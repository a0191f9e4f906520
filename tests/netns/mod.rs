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

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace removes the TAP device and the veth ends in it.
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("cleanup: {e}");
        }
    }
}
