//! DHCP on the simulator: smolsock's [`DhcpClient`] against the simulator's [`DhcpServer`].
//!
//! Every scenario has the server on host 0 (its static address 10.0.0.1/16, serving a pool
//! from 10.0.100.1), the DHCP clients on hosts 1..=k (no address until a lease, each running
//! the upper-case echo on 8000), and a peer with a static address on the last host that reaches
//! the clients' echoes on their leased addresses.
//!
//! ## How long a lease may take: [`LEASE_BOUND`]
//!
//! smoltcp 0.14's client (`RetryConfig::default()`) sends a DISCOVER every 10 s until an OFFER
//! comes; then a REQUEST at +0, +5, +10, +20 and +30 s (the wait doubles every two tries), and
//! at +50 s without an ACK it starts over with a DISCOVER. Every exchange is one broadcast each
//! way (no ARP), over the client's link and then the server's. Under the hostile fault model a
//! frame arrives intact with probability 0.9 × 0.99 (loss, then corruption, which a checksum
//! catches), so an exchange succeeds with q = 0.891² ≈ 0.79 (duplicates only help; ignored).
//! Following that schedule, the chance of no lease by 120 s is about 3 × 10⁻⁸ per client (by
//! 60 s it would be 10⁻⁴, by 90 s 2 × 10⁻⁶; with 10 % loss alone, q = 0.81, 1 × 10⁻⁸): over
//! 200 seeds and four clients, a miss is a bug, not bad luck. Measured (2026-12-01,
//! `SIM_SEEDS=20000 cargo test --test sim dhcp::lease_under_all_faults -- --nocapture`): over
//! 20 000 seeds a lease took 3.8 s on average and 70.0 s at most.
//!
//! ## Renewals and loss
//!
//! A renewal is one REQUEST at T1 (half the lease) and, if unanswered, smoltcp waits at least
//! 60 s (`min_renew_timeout`) or until T2 (7/8) to rebind. A 20 s lease therefore gets two
//! tries per period, and a lossy link ends it now and then (both tries lost: 4 % of periods at
//! q = 0.79). That is the client's schedule, not a server bug: the renewal scenarios run on
//! links that duplicate, reorder and delay but do not lose, and the loss of a lease has its own
//! scenario ([`server_gone_longer_than_the_lease_then_back`]).

use smolsock::dhcp::{DhcpClient, DhcpStats};
use smolsock::sim::dhcp_server::{DhcpServer, DhcpServerConfig};
use smolsock::sim::{mac, Observer};
use smolsock::smoltcp::wire::{
    DhcpMessageType, DhcpPacket, DhcpRepr, EthernetAddress, IpAddress, Ipv4Address,
    DHCP_SERVER_PORT,
};
use smolsock::udp::UdpClient;
use smolsock::StackConfig;

use super::*;

/// The first address of the server's pool.
const POOL_START: Ipv4Address = Ipv4Address::new(10, 0, 100, 1);

/// Virtual time within which a client gets a lease, derived in the module docs.
const LEASE_BOUND: Duration = Duration::from_secs(120);

/// Socket buffers of the echoes, and the most any echo test sends: the whole payload fits in
/// the server's buffers, so its window never closes. (With 4 KiB buffers and 32 KiB, about one
/// run in 10⁴ met a smoltcp zero-window stall that is no concern of DHCP: the sender's
/// one-byte probe below the receiver's window drew challenge ACKs until the user timeout.)
const BUF: usize = 16 * 1024;

fn socket_arrays<'a>(n: usize) -> Vec<[SocketStorage<'a>; 16]> {
    (0..n).map(|_| [SocketStorage::EMPTY; 16]).collect()
}

/// Host 0 with its static address, hosts 1..=`clients` without one, the rest static.
fn dhcp_hosts<'a, 'w, O: Observer>(
    net: &Network<'w, MTU, NIC, 64, O>,
    socks: &'a mut [[SocketStorage<'a>; 16]],
    clients: usize,
) -> Vec<SimHost<'a, 'w>> {
    socks
        .iter_mut()
        .enumerate()
        .map(|(i, s)| {
            let config = if (1..=clients).contains(&i) {
                let seed = net.host_config(i).random_seed;
                StackConfig::unaddressed(mac(i)).with_seed(seed)
            } else {
                net.host_config(i)
            };
            net.host_with(i, config, s).unwrap()
        })
        .collect()
}

/// The server of `n` addresses, leases of `lease`.
fn server_config(lease: Duration) -> DhcpServerConfig {
    DhcpServerConfig::new(POOL_START, 16).with_lease(lease)
}

fn in_pool(address: Ipv4Address, n: u32) -> bool {
    (POOL_START.to_bits()..POOL_START.to_bits() + n).contains(&address.to_bits())
}

/// A lossless but untidy network: 1 ms delay, 2 ms jitter, 5 % duplication, 5 % reordering.
fn untidy() -> FaultModel {
    FaultModel::perfect()
        .with_delay(millis(1), millis(2))
        .with_duplicate(Rate::percent(5))
        .with_reorder(Rate::percent(5), millis(5))
}

/// Check `lease` against what the server hands out, and that the stack took it.
fn check_lease<const N: usize>(
    client: &DhcpClient,
    host: &SimHost<'_, '_>,
    server: &DhcpServer<N>,
) -> Result<Ipv4Address, String> {
    let lease = client.lease().ok_or("no lease")?;
    let address = lease.address.address();
    if !in_pool(address, N as u32) || lease.address.prefix_len() != 16 {
        return Err(format!("leased {} outside the pool", lease.address));
    }
    if lease.gateway != Some(ip(0)) || lease.dns.as_slice() != [ip(0)] {
        return Err(format!("router or DNS wrong: {lease:?}"));
    }
    if host.stack.ipv4_cidr() != Some(lease.address) {
        return Err(format!(
            "stack has {:?}, lease {}",
            host.stack.ipv4_cidr(),
            lease.address
        ));
    }
    if server.address_of(mac(host.index())) != Some(address) {
        return Err(format!(
            "server binds {:?} to host {}, client has {address}",
            server.address_of(mac(host.index())),
            host.index()
        ));
    }
    Ok(address)
}

/// An echo client on `host` to `address`'s upper-case echo: every byte checked.
fn echo_to<'d>(
    host: &mut SimHost<'_, '_>,
    handle: SocketHandle,
    address: Ipv4Address,
    data: &'d [u8],
    seed: u64,
) -> Result<EchoClient<'d>, String> {
    let to = IpEndpoint::new(address.into(), ports::TCP_ECHO);
    Ok(EchoClient::connect(
        &mut host.stack,
        handle,
        to,
        &mut EphemeralPorts::new(seed),
        data,
    )
    .map_err(|e| e.to_string())?
    .with_window(BUF))
}

// ---------------------------------------------------------------------------------------------
// A lease under faults, then traffic on it.

/// One client gets a lease within [`LEASE_BOUND`] over links with `faults`; then the peer sends
/// 16 KiB through the client's echo on the leased address. The report's time is the lease's.
fn lease_then_echo(test: &str, seed: u64, faults: &FaultModel) -> Result<Report, String> {
    let cables = cables(3);
    let mut net: Net = Network::new(&cables, seed);
    net.set_all_faults(faults);
    let mut net = net.with_observer(maybe_pcap(test, seed, 3));
    let mut socks = socket_arrays(3);
    let mut hosts = dhcp_hosts(&net, &mut socks, 1);
    let mut udp = UdpStorage::<4, 4096>::new();
    let config = server_config(secs(600));
    let mut server =
        DhcpServer::<8>::new(&mut hosts[0].stack, &mut udp, config).map_err(|e| e.to_string())?;
    let mut client = DhcpClient::new(&mut hosts[1].stack).map_err(|e| e.to_string())?;
    let mut pool = tcp_pool::<BUF, BUF>(2);
    let mut echo = UpperEcho::<2>::new(
        &mut hosts[1].stack,
        pool.iter_mut(),
        PoolConfig::new(ports::TCP_ECHO, 2).without_defences(),
    )
    .map_err(|e| e.to_string())?;
    let leased_at = net.run(&mut hosts, LEASE_BOUND, |hosts| {
        let progress = server.poll(&mut hosts[0].stack)
            | client.poll(&mut hosts[1].stack)
            | echo.poll(&mut hosts[1].stack);
        Work::done_if(client.lease().is_some(), progress)
    });
    let leased_at = leased_at.map_err(|e| {
        format!(
            "no lease within {LEASE_BOUND}: {e}; server {:?}\n{}",
            server.stats(),
            net.link_table()
        )
    })?;
    let address = check_lease(&client, &hosts[1], &server)?;

    let data = payload(BUF, seed);
    let mut buffers = TcpStorage::<BUF, BUF>::new();
    let handle = hosts[2].stack.add_tcp(&mut buffers).unwrap();
    let mut peer = echo_to(&mut hosts[2], handle, address, &data, seed)?;
    let run = net.run(&mut hosts, BULK_BOUND, |hosts| {
        let progress = server.poll(&mut hosts[0].stack)
            | client.poll(&mut hosts[1].stack)
            | echo.poll(&mut hosts[1].stack)
            | peer.poll(&mut hosts[2].stack);
        Work::done_if(peer.outcome().is_some(), progress)
    });
    if let Some(files) = net.observer().take() {
        files.finish().map_err(|e| e.to_string())?;
    }
    run.map_err(|e| format!("echo on {address}: {e}; {} bytes back", peer.received()))?;
    peer.outcome()
        .map_or(Err("no outcome".to_string()), verified)
        .map_err(|e| format!("echo on {address}: {e}\n{}", net.link_table()))?;
    if client.stats()
        != (DhcpStats {
            configured: 1,
            lost: 0,
        })
    {
        return Err(format!("lease changed: {:?}", client.stats()));
    }
    Ok(Report::of(&net, leased_at))
}

#[test]
fn lease_under_10pct_loss_then_echo_on_it() {
    init_log();
    let test = "dhcp::lease_under_10pct_loss_then_echo_on_it";
    let wall = WallClock::now();
    let faults = FaultModel::perfect().with_loss(Rate::percent(10));
    let reports = for_each_seed(test, SEEDS, |seed| lease_then_echo(test, seed, &faults));
    summarise(
        "dhcp lease at 10% loss (time = lease)",
        &reports,
        wall.elapsed(),
    );
}

#[test]
fn lease_under_all_faults_then_echo_on_it() {
    init_log();
    let test = "dhcp::lease_under_all_faults_then_echo_on_it";
    let wall = WallClock::now();
    let faults = FaultModel::hostile();
    let reports = for_each_seed(test, SEEDS, |seed| lease_then_echo(test, seed, &faults));
    summarise(
        "dhcp lease under all faults (time = lease)",
        &reports,
        wall.elapsed(),
    );
}

// ---------------------------------------------------------------------------------------------
// Renewals, and a connection that lives through them.

/// A TCP connection that sends [`Pinger::SIZE`] bytes every second to an upper-case echo and
/// checks every byte that comes back: one long-lived connection, mostly idle.
struct Pinger {
    handle: SocketHandle,
    data: Vec<u8>,
    sent: usize,
    checked: usize,
    next_at: Instant,
    broken: Option<String>,
}

impl Pinger {
    const SIZE: usize = 64;

    fn connect(
        host: &mut SimHost<'_, '_>,
        handle: SocketHandle,
        to: Ipv4Address,
        pings: usize,
        seed: u64,
    ) -> Result<Self, String> {
        host.stack
            .connect(handle, (to.into(), ports::TCP_ECHO), 40_000)
            .map_err(|e| e.to_string())?;
        Ok(Pinger {
            handle,
            data: payload(pings * Self::SIZE, seed),
            sent: 0,
            checked: 0,
            next_at: host.now(),
            broken: None,
        })
    }

    fn finished(&self) -> bool {
        self.checked == self.data.len() || self.broken.is_some()
    }

    fn poll(&mut self, host: &mut SimHost<'_, '_>) -> bool {
        if self.finished() {
            return false;
        }
        let now = host.now();
        let socket = host.stack.tcp(self.handle);
        if !socket.is_active() {
            self.broken = Some(format!(
                "connection ended ({}) after {} of {} bytes",
                socket.state(),
                self.checked,
                self.data.len()
            ));
            return true;
        }
        let mut progress = false;
        if socket.may_send() && self.sent < self.data.len() && now >= self.next_at {
            let end = (self.sent / Self::SIZE + 1) * Self::SIZE;
            let n = socket.send_slice(&self.data[self.sent..end]).unwrap_or(0);
            self.sent += n;
            progress |= n > 0;
            if self.sent == end {
                self.next_at = now + secs(1);
            }
        }
        let mut buf = [0u8; 256];
        while let Ok(n @ 1..) = socket.recv_slice(&mut buf) {
            let mut want = self.data[self.checked..self.checked + n].to_vec();
            smolsock::service::upper_case(&mut want);
            if buf[..n] != want[..] {
                self.broken = Some(format!("reply differs near byte {}", self.checked));
            }
            self.checked += n;
            progress = true;
        }
        if self.sent < self.data.len() && self.next_at > now {
            host.wake_at(self.next_at);
        }
        progress
    }
}

/// Leases of 20 s renewed for 100 s (five periods): the address never changes, the stack is
/// never left without it, and a connection to the client's echo lives through every renewal.
/// With `server_outage`, the server's cable is down then (see the rebind test).
fn renewals(test: &str, seed: u64, server_outage: Option<Outage>) -> Result<Report, String> {
    const LEASE: u64 = 20;
    const PINGS: usize = 5 * LEASE as usize;
    let cables = cables(3);
    let mut net: Net = Network::new(&cables, seed);
    net.set_all_faults(&untidy());
    if let Some(outage) = server_outage {
        net.set_faults(0, untidy().with_outage(outage));
    }
    let mut net = net.with_observer(maybe_pcap(test, seed, 3));
    let mut socks = socket_arrays(3);
    let mut hosts = dhcp_hosts(&net, &mut socks, 1);
    let mut udp = UdpStorage::<4, 4096>::new();
    let mut server =
        DhcpServer::<4>::new(&mut hosts[0].stack, &mut udp, server_config(secs(LEASE)))
            .map_err(|e| e.to_string())?;
    let mut client = DhcpClient::new(&mut hosts[1].stack).map_err(|e| e.to_string())?;
    let mut pool = tcp_pool::<BUF, BUF>(2);
    let mut echo = UpperEcho::<2>::new(
        &mut hosts[1].stack,
        pool.iter_mut(),
        PoolConfig::new(ports::TCP_ECHO, 2).without_defences(),
    )
    .map_err(|e| e.to_string())?;
    net.run(&mut hosts, LEASE_BOUND, |hosts| {
        let progress = server.poll(&mut hosts[0].stack)
            | client.poll(&mut hosts[1].stack)
            | echo.poll(&mut hosts[1].stack);
        Work::done_if(client.lease().is_some(), progress)
    })
    .map_err(|e| format!("no lease: {e}"))?;
    let address = check_lease(&client, &hosts[1], &server)?;
    let acks_before = server.stats().acks;

    let mut buffers = TcpStorage::<BUF, BUF>::new();
    let handle = hosts[2].stack.add_tcp(&mut buffers).unwrap();
    let mut pinger = Pinger::connect(&mut hosts[2], handle, address, PINGS, seed)?;
    let mut changed = None;
    let run = net.run(&mut hosts, secs(PINGS as u64 + 60), |hosts| {
        let progress = server.poll(&mut hosts[0].stack)
            | client.poll(&mut hosts[1].stack)
            | echo.poll(&mut hosts[1].stack)
            | pinger.poll(&mut hosts[2]);
        if hosts[1].stack.ipv4_cidr().map(|c| c.address()) != Some(address) && changed.is_none() {
            changed = Some((hosts[1].now(), hosts[1].stack.ipv4_cidr()));
        }
        Work::done_if(pinger.finished(), progress)
    });
    if let Some(files) = net.observer().take() {
        files.finish().map_err(|e| e.to_string())?;
    }
    let at = run.map_err(|e| format!("pings: {e}; {} bytes checked", pinger.checked))?;
    if let Some(broken) = pinger.broken {
        return Err(format!("the connection did not survive: {broken}"));
    }
    if let Some((when, now)) = changed {
        return Err(format!("the address {address} became {now:?} at {when}"));
    }
    if server_outage.is_some() && net.totals().link_down == 0 {
        return Err("the server's outage met no frame: no renewal was lost".into());
    }
    let renewals = server.stats().acks - acks_before;
    // One renewal every LEASE / 2 for the PINGS seconds the connection lived (one fewer when
    // a renewal had to wait for T2).
    let expected = PINGS as u64 / (LEASE / 2) - 1 - u64::from(server_outage.is_some());
    if renewals < expected {
        return Err(format!("only {renewals} renewals by {at}"));
    }
    if client.stats()
        != (DhcpStats {
            configured: 1,
            lost: 0,
        })
    {
        return Err(format!("lease changed: {:?}", client.stats()));
    }
    check_lease(&client, &hosts[1], &server)?;
    Ok(Report::of(&net, at))
}

#[test]
fn renews_short_leases_keeps_the_address_and_its_connections() {
    init_log();
    let test = "dhcp::renews_short_leases_keeps_the_address_and_its_connections";
    let wall = WallClock::now();
    let reports = for_each_seed(test, SEEDS, |seed| renewals(test, seed, None));
    summarise("dhcp renewals, 5 lease periods", &reports, wall.elapsed());
}

/// The server is away at the second T1 (its cable down from 19 s to 24 s, around the renewal
/// at about 20 s; the first renewal, at 10 s, put the server in the client's ARP cache, so
/// this REQUEST leaves at once and is lost rather than waiting for ARP): smoltcp waits until
/// T2 (27.5 s) and rebinds by broadcast, the server ACKs, and the lease, the address and the
/// connection go on as if nothing happened (without the rebind the lease would end at 30 s).
#[test]
fn rebinds_when_the_renewal_goes_unanswered() {
    init_log();
    let test = "dhcp::rebinds_when_the_renewal_goes_unanswered";
    let wall = WallClock::now();
    let outage = Outage::new(Instant::from_secs(19), secs(5));
    let reports = for_each_seed(test, SEEDS, |seed| renewals(test, seed, Some(outage)));
    summarise("dhcp rebind after a lost renewal", &reports, wall.elapsed());
}

// ---------------------------------------------------------------------------------------------
// The server goes away for longer than the lease, and comes back.

/// Leases of 20 s; the server's cable is down from 30 s to 90 s. The client renews up to the
/// outage, loses its address when the lease ends (its connections reset, its listener kept,
/// as `src/dhcp.rs` documents), finds the server again after it is back, and gets the same
/// address (the server remembers its MAC): the echo answers there again.
fn server_gone_and_back(test: &str, seed: u64) -> Result<Report, String> {
    const LEASE: Duration = Duration::from_secs(20);
    let down = Outage::new(Instant::from_secs(30), secs(60));
    let up_at = Instant::from_secs(90);
    let cables = cables(3);
    let mut net: Net = Network::new(&cables, seed);
    net.set_all_faults(&untidy());
    net.set_faults(0, untidy().with_outage(down));
    let mut net = net.with_observer(maybe_pcap(test, seed, 3));
    let mut socks = socket_arrays(3);
    let mut hosts = dhcp_hosts(&net, &mut socks, 1);
    let mut udp = UdpStorage::<4, 4096>::new();
    let mut server = DhcpServer::<4>::new(&mut hosts[0].stack, &mut udp, server_config(LEASE))
        .map_err(|e| e.to_string())?;
    let mut client = DhcpClient::new(&mut hosts[1].stack).map_err(|e| e.to_string())?;
    let mut pool = tcp_pool::<BUF, BUF>(2);
    let mut echo = UpperEcho::<2>::new(
        &mut hosts[1].stack,
        pool.iter_mut(),
        PoolConfig::new(ports::TCP_ECHO, 2).without_defences(),
    )
    .map_err(|e| e.to_string())?;
    let mut services = |hosts: &mut [SimHost<'_, '_>]| {
        server.poll(&mut hosts[0].stack)
            | client.poll(&mut hosts[1].stack)
            | echo.poll(&mut hosts[1].stack)
    };

    // A lease, and a connection on it that is busy when the lease ends.
    net.run(&mut hosts, LEASE_BOUND, |hosts| {
        let progress = services(hosts);
        Work::done_if(client_leased(hosts), progress)
    })
    .map_err(|e| format!("no first lease: {e}"))?;
    let first = hosts[1].stack.ipv4_cidr().ok_or("no address")?.address();
    let mut buffers = TcpStorage::<BUF, BUF>::new();
    let handle = hosts[2].stack.add_tcp(&mut buffers).unwrap();
    let mut pinger = Pinger::connect(&mut hosts[2], handle, first, 1000, seed)?;

    // The server goes away: the lease runs out at most LEASE after the last renewal before
    // the outage.
    let lost_at = net
        .run(&mut hosts, secs(60), |hosts| {
            let progress = services(hosts) | pinger.poll(&mut hosts[2]);
            Work::done_if(hosts[1].stack.ipv4_cidr().is_none(), progress)
        })
        .map_err(|e| format!("the lease did not end: {e}"))?;
    if lost_at < down.from || lost_at > down.from + LEASE {
        return Err(format!(
            "lease ended at {lost_at}, outage from {}",
            down.from
        ));
    }
    let summary = hosts[1].summary();
    if summary.tcp_busy() != 0 || summary.tcp_in(State::Listen) == 0 {
        return Err(format!("after the loss the client's sockets are {summary}"));
    }

    // It comes back: a lease again within the bound of its return, on the same address.
    let budget = (up_at - lost_at) + LEASE_BOUND;
    let again_at = net
        .run(&mut hosts, budget, |hosts| {
            let progress = services(hosts);
            Work::done_if(client_leased(hosts), progress)
        })
        .map_err(|e| format!("no lease after the server came back: {e}"))?;
    if again_at < up_at {
        return Err(format!("a lease at {again_at}, while the server was away"));
    }
    let second = hosts[1].stack.ipv4_cidr().ok_or("no address")?.address();
    if second != first {
        return Err(format!("{first} first, {second} after the outage"));
    }

    // The echo answers on it again (a new connection; the old one was reset).
    let data = payload(8 * 1024, seed);
    let mut buffers = TcpStorage::<BUF, BUF>::new();
    let handle = hosts[2].stack.add_tcp(&mut buffers).unwrap();
    let mut peer = echo_to(&mut hosts[2], handle, second, &data, seed + 1)?;
    let run = net.run(&mut hosts, secs(120), |hosts| {
        let progress = services(hosts) | peer.poll(&mut hosts[2].stack);
        Work::done_if(peer.outcome().is_some(), progress)
    });
    if let Some(files) = net.observer().take() {
        files.finish().map_err(|e| e.to_string())?;
    }
    run.map_err(|e| format!("echo after the outage: {e}"))?;
    peer.outcome()
        .map_or(Err("no outcome".to_string()), verified)
        .map_err(|e| format!("echo after the outage: {e}"))?;
    let stats = client.stats();
    if stats
        != (DhcpStats {
            configured: 2,
            lost: 1,
        })
    {
        return Err(format!("client {stats:?}"));
    }
    Ok(Report::of(&net, again_at))
}

/// Whether host 1 has an address (its DHCP client configured it).
fn client_leased(hosts: &[SimHost<'_, '_>]) -> bool {
    hosts[1].stack.ipv4_cidr().is_some()
}

#[test]
fn server_gone_longer_than_the_lease_then_back() {
    init_log();
    let test = "dhcp::server_gone_longer_than_the_lease_then_back";
    let wall = WallClock::now();
    let reports = for_each_seed(test, SEEDS, |seed| server_gone_and_back(test, seed));
    summarise(
        "dhcp server gone 60 s (time = lease again)",
        &reports,
        wall.elapsed(),
    );
}

// ---------------------------------------------------------------------------------------------
// Several clients; more clients than addresses.

#[test]
fn four_clients_get_four_distinct_addresses_under_all_faults() {
    init_log();
    const CLIENTS: usize = 4;
    let test = "dhcp::four_clients_get_four_distinct_addresses_under_all_faults";
    let wall = WallClock::now();
    let reports = for_each_seed(test, SEEDS, |seed| {
        let cables = cables(1 + CLIENTS);
        let mut net: Net = Network::new(&cables, seed);
        net.set_all_faults(&FaultModel::hostile());
        let mut socks = socket_arrays(1 + CLIENTS);
        let mut hosts = dhcp_hosts(&net, &mut socks, CLIENTS);
        let mut udp = UdpStorage::<8, 8192>::new();
        let mut server =
            DhcpServer::<8>::new(&mut hosts[0].stack, &mut udp, server_config(secs(600)))
                .map_err(|e| e.to_string())?;
        let mut clients: Vec<DhcpClient> = hosts[1..]
            .iter_mut()
            .map(|h| DhcpClient::new(&mut h.stack).unwrap())
            .collect();
        // Each client within the bound; they start together.
        let at = net
            .run(&mut hosts, LEASE_BOUND, |hosts| {
                let mut progress = server.poll(&mut hosts[0].stack);
                for (client, host) in clients.iter_mut().zip(&mut hosts[1..]) {
                    progress |= client.poll(&mut host.stack);
                }
                Work::done_if(clients.iter().all(|c| c.lease().is_some()), progress)
            })
            .map_err(|e| format!("not every client leased: {e}; {:?}", server.stats()))?;
        let mut addresses = Vec::new();
        for (client, host) in clients.iter().zip(&hosts[1..]) {
            addresses.push(check_lease(client, host, &server)?);
        }
        addresses.sort();
        addresses.dedup();
        if addresses.len() != CLIENTS {
            return Err(format!("addresses not distinct: {addresses:?}"));
        }
        if server.leases_at(at) != CLIENTS {
            return Err(format!("server counts {} leases", server.leases_at(at)));
        }
        Ok(Report::of(&net, at))
    });
    summarise(
        "dhcp 4 clients under all faults (time = all leased)",
        &reports,
        wall.elapsed(),
    );
}

/// A pool of two and three clients: two leases, distinct; the third client keeps asking and
/// gets nothing, which costs the others nothing: their echoes answer on their addresses.
fn pool_exhausted(seed: u64) -> Result<Report, String> {
    const CLIENTS: usize = 3;
    let cables = cables(CLIENTS + 2);
    let mut net: Net = Network::new(&cables, seed);
    net.set_all_faults(&untidy());
    let mut socks = socket_arrays(CLIENTS + 2);
    let mut hosts = dhcp_hosts(&net, &mut socks, CLIENTS);
    let mut udp = UdpStorage::<8, 8192>::new();
    let mut server = DhcpServer::<2>::new(&mut hosts[0].stack, &mut udp, server_config(secs(600)))
        .map_err(|e| e.to_string())?;
    let mut clients: Vec<DhcpClient> = hosts[1..=CLIENTS]
        .iter_mut()
        .map(|h| DhcpClient::new(&mut h.stack).unwrap())
        .collect();
    let mut pools: Vec<Vec<TcpStorage<BUF, BUF>>> = (0..CLIENTS).map(|_| tcp_pool(1)).collect();
    let mut echoes: Vec<UpperEcho<1>> = hosts[1..=CLIENTS]
        .iter_mut()
        .zip(&mut pools)
        .map(|(h, p)| {
            UpperEcho::new(
                &mut h.stack,
                p.iter_mut(),
                PoolConfig::new(ports::TCP_ECHO, 1).without_defences(),
            )
            .unwrap()
        })
        .collect();
    let mut services = |hosts: &mut [SimHost<'_, '_>]| {
        let mut progress = server.poll(&mut hosts[0].stack);
        for ((client, echo), host) in clients.iter_mut().zip(&mut echoes).zip(&mut hosts[1..]) {
            progress |= client.poll(&mut host.stack) | echo.poll(&mut host.stack);
        }
        progress
    };
    // Two minutes: time for every client to DISCOVER a dozen times.
    net.run_for(&mut hosts, secs(120), |hosts| services(hosts).into());
    let leased: Vec<Ipv4Address> = hosts[1..=CLIENTS]
        .iter()
        .filter_map(|h| h.stack.ipv4_cidr().map(|c| c.address()))
        .collect();
    if leased.len() != 2 || leased[0] == leased[1] || !leased.iter().all(|&a| in_pool(a, 2)) {
        return Err(format!("leases {leased:?} from a pool of 2"));
    }
    // Nothing broke: both leased echoes answer.
    let peer = CLIENTS + 1;
    let data = payload(4 * 1024, seed);
    let mut buffers = tcp_pool::<BUF, BUF>(2);
    let mut peers = Vec::new();
    for (i, (address, buffers)) in leased.iter().zip(&mut buffers).enumerate() {
        let handle = hosts[peer].stack.add_tcp(buffers).unwrap();
        peers.push(echo_to(
            &mut hosts[peer],
            handle,
            *address,
            &data,
            seed + i as u64,
        )?);
    }
    let at = net
        .run(&mut hosts, secs(120), |hosts| {
            let mut progress = services(hosts);
            for p in &mut peers {
                progress |= p.poll(&mut hosts[peer].stack);
            }
            Work::done_if(peers.iter().all(|p| p.outcome().is_some()), progress)
        })
        .map_err(|e| format!("echoes: {e}"))?;
    for (p, address) in peers.iter().zip(&leased) {
        p.outcome()
            .map_or(Err("no outcome".to_string()), verified)
            .map_err(|e| format!("echo on {address}: {e}"))?;
    }
    if server.stats().exhausted == 0 {
        return Err("the extra client was never refused".into());
    }
    Ok(Report::of(&net, at))
}

#[test]
fn pool_exhausted_the_extra_client_gets_none_and_nothing_breaks() {
    init_log();
    let test = "dhcp::pool_exhausted_the_extra_client_gets_none_and_nothing_breaks";
    let wall = WallClock::now();
    let reports = for_each_seed(test, SEEDS, pool_exhausted);
    summarise("dhcp pool of 2, 3 clients", &reports, wall.elapsed());
}

// ---------------------------------------------------------------------------------------------
// Hostile input.

/// A DHCP message from `chaddr` as a client would send it, asking for 10.0.200.7 from us.
fn request_bytes(kind: DhcpMessageType, chaddr: EthernetAddress, xid: u32) -> Vec<u8> {
    message(
        kind,
        chaddr,
        xid,
        Ipv4Address::UNSPECIFIED,
        Some(Ipv4Address::new(10, 0, 200, 7)),
        Some(ip(0)),
    )
}

/// A DHCP message from `chaddr`: `ciaddr`, the requested address and server identifier options.
fn message(
    kind: DhcpMessageType,
    chaddr: EthernetAddress,
    xid: u32,
    ciaddr: Ipv4Address,
    requested: Option<Ipv4Address>,
    server: Option<Ipv4Address>,
) -> Vec<u8> {
    let repr = DhcpRepr {
        message_type: kind,
        transaction_id: xid,
        secs: 0,
        client_hardware_address: chaddr,
        client_ip: ciaddr,
        your_ip: Ipv4Address::UNSPECIFIED,
        server_ip: Ipv4Address::UNSPECIFIED,
        router: None,
        subnet_mask: None,
        relay_agent_ip: Ipv4Address::UNSPECIFIED,
        broadcast: false,
        requested_ip: requested,
        client_identifier: Some(chaddr),
        server_identifier: server,
        parameter_request_list: Some(&[1, 3, 6]),
        dns_servers: None,
        max_size: Some(1400),
        lease_duration: None,
        renew_duration: None,
        rebind_duration: None,
        additional_options: &[],
    };
    let mut bytes = vec![0; repr.buffer_len()];
    repr.emit(&mut DhcpPacket::new_unchecked(&mut bytes[..]))
        .unwrap();
    bytes
}

/// Host 2 sends the server a datagram of junk every 10 ms for 10 s (random bytes, truncated
/// and bit-flipped DHCP messages, replies instead of requests) while host 1 asks for a lease:
/// the server drops the junk (counted), never panics, and still leases host 1 its address.
#[test]
fn junk_on_port_67_is_dropped_and_the_server_still_serves() {
    init_log();
    let test = "dhcp::junk_on_port_67_is_dropped_and_the_server_still_serves";
    let wall = WallClock::now();
    let reports = for_each_seed(test, SEEDS, |seed| {
        let cables = cables(3);
        let mut net: Net = Network::new(&cables, seed);
        net.set_all_faults(&untidy());
        let mut socks = socket_arrays(3);
        let mut hosts = dhcp_hosts(&net, &mut socks, 1);
        let mut udp = UdpStorage::<8, 8192>::new();
        let mut server =
            DhcpServer::<4>::new(&mut hosts[0].stack, &mut udp, server_config(secs(600)))
                .map_err(|e| e.to_string())?;
        let mut client = DhcpClient::new(&mut hosts[1].stack).unwrap();
        let mut junk_udp = UdpStorage::<4, 4096>::new();
        let handle = hosts[2].stack.add_udp(&mut junk_udp).unwrap();
        let mut sender = UdpClient::bind(&mut hosts[2].stack, handle, 68).unwrap();
        let to = IpEndpoint::new(IpAddress::Ipv4(ip(0)), DHCP_SERVER_PORT);
        let attacker = mac(2);
        let mut rng = Prng::new(seed ^ 0xd4c9);
        let (mut sent, mut next_at) = (0u32, Instant::ZERO);
        let at = net
            .run(&mut hosts, secs(30), |hosts| {
                let mut progress =
                    server.poll(&mut hosts[0].stack) | client.poll(&mut hosts[1].stack);
                let now = hosts[2].now();
                if sent < 1000 && now >= next_at {
                    let xid = rng.next_u32();
                    let kind =
                        [DhcpMessageType::Request, DhcpMessageType::Offer][sent as usize % 2];
                    let mut bytes = request_bytes(kind, attacker, xid);
                    match rng.below(3) {
                        0 => {
                            bytes.resize(rng.below(600) as usize, 0);
                            rng.fill(&mut bytes);
                        }
                        1 => bytes.truncate(rng.below(bytes.len() as u64) as usize),
                        _ => {
                            let bit = rng.below(bytes.len() as u64 * 8) as usize;
                            bytes[bit / 8] ^= 1 << (bit % 8);
                        }
                    }
                    if sender.send_to(&mut hosts[2].stack, &bytes, to).is_ok() {
                        sent += 1;
                        next_at = now + millis(10);
                        progress = true;
                    }
                }
                if sent < 1000 && next_at > now {
                    hosts[2].wake_at(next_at);
                }
                Work::done_if(sent == 1000 && client.lease().is_some(), progress)
            })
            .map_err(|e| format!("{e}; {sent} sent; server {:?}", server.stats()))?;
        check_lease(&client, &hosts[1], &server)?;
        let stats = server.stats();
        if stats.malformed == 0 || stats.malformed + stats.ignored + stats.naks < 100 {
            return Err(format!("the junk was not seen: {stats:?}"));
        }
        Ok(Report::of(&net, at))
    });
    summarise("dhcp server under junk", &reports, wall.elapsed());
}

/// The server's side of RFC 2131 message by message, from a hand-made client on host 1 (a
/// plain UDP socket on port 68; every reply is broadcast, since host 1 does not own the
/// addresses it asks about): OFFER, NAK for a wrong address, ACK with every option, an ACK for
/// a renewal, a NAK for a renewal of an address that is not the client's, and silence for a
/// REQUEST that chose another server (whose offer is then free for someone else).
#[test]
fn the_server_answers_each_message_as_rfc_2131_says() {
    init_log();
    let cables = cables(2);
    let mut net: Net = Network::new(&cables, 1);
    let mut socks = socket_arrays(2);
    let mut hosts = dhcp_hosts(&net, &mut socks, 0);
    let mut udp = UdpStorage::<4, 4096>::new();
    let mut server =
        DhcpServer::<2>::new(&mut hosts[0].stack, &mut udp, server_config(secs(600))).unwrap();
    let mut client_udp = UdpStorage::<4, 4096>::new();
    let handle = hosts[1].stack.add_udp(&mut client_udp).unwrap();
    let mut client = UdpClient::bind(&mut hosts[1].stack, handle, 68).unwrap();
    let to = IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::BROADCAST), DHCP_SERVER_PORT);
    let chaddr = EthernetAddress([0x02, 0x42, 0, 0, 0, 1]);
    let other = EthernetAddress([0x02, 0x42, 0, 0, 0, 2]);
    let a = POOL_START;
    let b = Ipv4Address::new(10, 0, 100, 2);
    // Send `bytes` and return the reply's (type, yiaddr, lease, mask, router, DNS), if any.
    type Reply = (
        DhcpMessageType,
        Ipv4Address,
        Option<u32>,
        Option<Ipv4Address>,
        Option<Ipv4Address>,
        Vec<Ipv4Address>,
    );
    // Send a message and return the reply's (type, yiaddr, lease, mask, router, DNS), if any.
    macro_rules! exchange {
        ($bytes:expr, $xid:expr) => {{
            let xid: u32 = $xid;
            client.send_to(&mut hosts[1].stack, &$bytes, to).unwrap();
            let mut reply: Option<Reply> = None;
            net.run_for(&mut hosts, secs(1), |hosts| {
                let progress = server.poll(&mut hosts[0].stack);
                let mut buf = [0u8; 1024];
                if let Ok(Some((n, from))) = client.recv_from(&mut hosts[1].stack, &mut buf) {
                    assert_eq!(from, IpEndpoint::new(ip(0).into(), DHCP_SERVER_PORT));
                    let packet = DhcpPacket::new_checked(&buf[..n]).unwrap();
                    let r = DhcpRepr::parse(&packet).unwrap();
                    assert_eq!(r.transaction_id, xid);
                    assert_eq!(r.server_identifier, Some(ip(0)));
                    let dns = r.dns_servers.iter().flatten().copied().collect();
                    reply = Some((
                        r.message_type,
                        r.your_ip,
                        r.lease_duration,
                        r.subnet_mask,
                        r.router,
                        dns,
                    ));
                }
                progress.into()
            });
            reply
        }};
    }
    use DhcpMessageType::{Ack, Discover, Nak, Offer, Request};
    let none = Ipv4Address::UNSPECIFIED;
    let mask = Some(Ipv4Address::new(255, 255, 0, 0));

    let offer = exchange!(message(Discover, chaddr, 1, none, None, None), 1);
    assert_eq!(
        offer,
        Some((Offer, a, Some(600), mask, Some(ip(0)), vec![ip(0)]))
    );
    let wrong = exchange!(message(Request, chaddr, 2, none, Some(b), Some(ip(0))), 2);
    assert_eq!(
        wrong.map(|r| r.0),
        Some(Nak),
        "a REQUEST for an address not offered"
    );
    let ack = exchange!(message(Request, chaddr, 3, none, Some(a), Some(ip(0))), 3);
    assert_eq!(
        ack,
        Some((Ack, a, Some(600), mask, Some(ip(0)), vec![ip(0)]))
    );
    assert_eq!(server.address_of(chaddr), Some(a));
    let renew = exchange!(message(Request, chaddr, 4, a, None, None), 4);
    assert_eq!(renew.map(|r| (r.0, r.1)), Some((Ack, a)), "a renewal");
    let stolen = exchange!(message(Request, other, 5, a, None, None), 5);
    assert_eq!(
        stolen.map(|r| r.0),
        Some(Nak),
        "a renewal of someone else's address"
    );
    // Another client is offered the other address, but takes another server's offer.
    let offer = exchange!(message(Discover, other, 6, none, None, None), 6);
    assert_eq!(offer.map(|r| (r.0, r.1)), Some((Offer, b)));
    let elsewhere = Ipv4Address::new(10, 0, 0, 99);
    let quiet = exchange!(
        message(Request, other, 7, none, Some(b), Some(elsewhere)),
        7
    );
    assert_eq!(quiet, None, "a REQUEST to another server is not answered");
    let third = EthernetAddress([0x02, 0x42, 0, 0, 0, 3]);
    let offer = exchange!(message(Discover, third, 8, none, None, None), 8);
    assert_eq!(
        offer.map(|r| (r.0, r.1)),
        Some((Offer, b)),
        "the declined offer is free again"
    );
    let full = exchange!(message(Discover, other, 9, none, None, None), 9);
    assert_eq!(full, None, "both addresses are taken");
    let stats = server.stats();
    assert_eq!(
        (stats.offers, stats.acks, stats.naks, stats.exhausted),
        (3, 2, 2, 1),
        "{stats:?}"
    );
}
