//! A DHCPv4 client: the address, gateway and DNS servers a device on a real LAN is given.
//!
//! [`DhcpClient`] is a [`Service`] over smoltcp's DHCPv4 socket. Start
//! the stack without an address ([`StackConfig::unaddressed`](crate::StackConfig::unaddressed)),
//! poll the client with the other services, and it configures the stack whenever a lease
//! starts, changes or ends ([`Stack::set_ipv4`](crate::Stack::set_ipv4)):
//!
//! - **a lease starts:** the interface gets the address and the default route; every listening
//!   socket and UDP service (bound to ports, not addresses) serves it at once;
//! - **a renewal keeps the address:** nothing changes, connections go on;
//! - **the address changes, or the lease ends** (the server went away and the lease ran out):
//!   connections on the old address are reset at once (no segment of theirs could ever be
//!   accepted again), listeners stay; on a lost lease the interface has no IPv4 address until
//!   the client finds a server again, which it keeps trying on its own.
//!
//! Leases are renewed at half their time (smoltcp). [`DhcpClient::with_max_lease`] caps what
//! the client accepts, which makes renewals (and tests) quicker.

use heapless::Vec;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::dhcpv4::Event;
use smoltcp::time::Duration;
use smoltcp::wire::{Ipv4Address, Ipv4Cidr};

use crate::service::Service;
use crate::stack::SocketStorageFull;
use crate::Stack;

/// DNS servers kept from a lease.
pub const MAX_DNS_SERVERS: usize = 3;

/// What the DHCP server gave us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Our address and subnet.
    pub address: Ipv4Cidr,
    /// The default gateway, if the server named one.
    pub gateway: Option<Ipv4Address>,
    /// DNS servers, in the server's order.
    pub dns: Vec<Ipv4Address, MAX_DNS_SERVERS>,
}

/// Counters of a [`DhcpClient`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DhcpStats {
    /// Leases acquired or changed (a renewal with the same terms is not counted).
    pub configured: u64,
    /// Leases lost (expired without renewal).
    pub lost: u64,
}

/// The DHCPv4 client of one stack.
#[derive(Debug)]
pub struct DhcpClient {
    handle: SocketHandle,
    lease: Option<Lease>,
    stats: DhcpStats,
}

impl DhcpClient {
    /// Add the DHCP socket to `stack`; it starts asking for a lease on the next poll.
    pub fn new(stack: &mut Stack<'_>) -> Result<Self, SocketStorageFull> {
        Ok(DhcpClient {
            handle: stack.add_dhcp()?,
            lease: None,
            stats: DhcpStats::default(),
        })
    }

    /// Accept leases of at most `max` (renewed at half of it).
    pub fn with_max_lease(self, stack: &mut Stack<'_>, max: Duration) -> Self {
        stack.dhcp(self.handle).set_max_lease_duration(Some(max));
        self
    }

    /// The lease in force, if any.
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// Counters so far.
    pub fn stats(&self) -> DhcpStats {
        self.stats
    }
}

impl Service for DhcpClient {
    fn poll(&mut self, stack: &mut Stack<'_>) -> bool {
        let lease = match stack.dhcp(self.handle).poll() {
            None => return false,
            Some(Event::Configured(config)) => Some(Lease {
                address: config.address,
                gateway: config.router,
                dns: config
                    .dns_servers
                    .iter()
                    .take(MAX_DNS_SERVERS)
                    .copied()
                    .collect(),
            }),
            Some(Event::Deconfigured) => None,
        };
        match &lease {
            Some(new) => {
                if self.lease.as_ref() != Some(new) {
                    self.stats.configured += 1;
                    log::info!(
                        "dhcp: leased {} (gateway {:?}, DNS {:?})",
                        new.address,
                        new.gateway,
                        new.dns
                    );
                }
                stack.set_ipv4(Some(new.address), new.gateway);
            }
            None => {
                if self.lease.is_some() {
                    self.stats.lost += 1;
                    log::warn!("dhcp: lease lost; asking again");
                }
                stack.set_ipv4(None, None);
            }
        }
        self.lease = lease;
        true
    }
}
