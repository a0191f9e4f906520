//! Why a TAP interface could not be used, with the commands that fix it.

use std::fmt;
use std::io;
use std::string::String;

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

/// Every error of setting up the services is a [`TapError::Setup`].
macro_rules! setup {
    ($($src:ty),* $(,)?) => {
        $(impl From<$src> for TapError {
            fn from(e: $src) -> Self {
                TapError::Setup(e.into())
            }
        })*
    };
}

setup! {
    crate::Error,
    crate::stack::SocketStorageFull,
    crate::tcp::PoolError,
    crate::service::SetupError,
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
