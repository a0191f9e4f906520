//! Tables for people: link counters and socket states, printable anywhere (`core::fmt` only).
//!
//! ```text
//! port  address      sent  received     bytes  lost  down  dup  corrupt  reorder  dropped
//!    0  10.0.0.1      812       790   1042311    79     0   41        8       37       79
//! ```

use core::fmt;

use super::host::Host;
use super::link::LinkCounters;
use super::network::{ip, Cable};

/// The counters of every link, one row per port, and a total row.
#[derive(Debug, Clone, Copy)]
pub struct LinkTable<'n, const MTU: usize, const Q: usize, const F: usize> {
    cables: &'n [Cable<MTU, Q, F>],
}

impl<'n, const MTU: usize, const Q: usize, const F: usize> LinkTable<'n, MTU, Q, F> {
    /// A table of `cables`.
    pub fn new(cables: &'n [Cable<MTU, Q, F>]) -> Self {
        LinkTable { cables }
    }
}

fn row(f: &mut fmt::Formatter<'_>, label: &dyn fmt::Display, c: &LinkCounters) -> fmt::Result {
    writeln!(
        f,
        "{label:>15} {:>8} {:>8} {:>11} {:>6} {:>5} {:>5} {:>7} {:>7} {:>7} {:>7}",
        c.sent,
        c.received,
        c.sent_bytes,
        c.lost,
        c.link_down,
        c.duplicated,
        c.corrupted,
        c.reordered,
        c.dropped(),
        c.oversize + c.queue_full + c.nic_full,
    )
}

impl<const MTU: usize, const Q: usize, const F: usize> fmt::Display for LinkTable<'_, MTU, Q, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:>15} {:>8} {:>8} {:>11} {:>6} {:>5} {:>5} {:>7} {:>7} {:>7} {:>7}",
            "port (host)",
            "sent",
            "recv",
            "sent bytes",
            "lost",
            "down",
            "dup",
            "corrupt",
            "reorder",
            "dropped",
            "full/big"
        )?;
        let mut total = LinkCounters::default();
        for (i, cable) in self.cables.iter().enumerate() {
            let c = cable.counters();
            total.add(&c);
            row(f, &Padded(PortLabel(i)), &c)?;
        }
        row(f, &"total", &total)
    }
}

/// Formats `T` into a small buffer first, so width and alignment apply to the whole text
/// (`Display` impls that write in pieces ignore them).
struct Padded<T>(T);

impl<T: fmt::Display> fmt::Display for Padded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 32];
        let mut w = Cursor {
            buf: &mut buf,
            len: 0,
        };
        let _ = fmt::write(&mut w, format_args!("{}", self.0));
        let len = w.len;
        f.pad(core::str::from_utf8(&buf[..len]).unwrap_or("?"))
    }
}

struct PortLabel(usize);

impl fmt::Display for PortLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, ip(self.0))
    }
}

struct Cursor<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Every host's address and socket states.
pub struct HostTable<'h, 'a, 'w, const MTU: usize, const Q: usize> {
    hosts: &'h [Host<'a, 'w, MTU, Q>],
}

impl<'h, 'a, 'w, const MTU: usize, const Q: usize> HostTable<'h, 'a, 'w, MTU, Q> {
    /// A table of `hosts`.
    pub fn new(hosts: &'h [Host<'a, 'w, MTU, Q>]) -> Self {
        HostTable { hosts }
    }
}

impl<const MTU: usize, const Q: usize> fmt::Display for HostTable<'_, '_, '_, MTU, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:>4}  {:<12} sockets", "host", "address")?;
        for host in self.hosts {
            writeln!(
                f,
                "{:>4}  {:<12} {}",
                host.index(),
                Padded(Address(host.stack.address())),
                host.summary()
            )?;
        }
        Ok(())
    }
}

struct Address(Option<smoltcp::wire::IpAddress>);

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => write!(f, "{addr}"),
            None => f.write_str("-"),
        }
    }
}
