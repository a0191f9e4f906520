//! How the simulator's cost grows with the work it simulates.
//!
//! ```text
//! cargo bench -p smolsock-benches --bench sim
//! ```
//!
//! Prints one table: for 2, 8 and 32 hosts (every host but the server runs an echo client in a
//! loop), for 1, 16 and 64 concurrent connections on one server, and for single transfers, the
//! virtual time simulated, the wall time it took, simulated seconds per wall second, frames per
//! wall second, the megabytes echoed and checked, and the echo connections that failed (reset
//! or timed out; a failed connection's bytes are not counted as checked). Links: 1 ms delay,
//! 100 Mbit/s, and the loss given in the row.

use std::time::Instant as WallClock;

use smolsock::event_loop::Work;
use smolsock::service::{ports, EchoClient, Service, UpperEcho, Verdict};
use smolsock::sim::{ip, Cable, FaultModel, Host, Network, Prng, Rate};
use smolsock::smoltcp::iface::{SocketHandle, SocketStorage};
use smolsock::smoltcp::time::{Duration, Instant};
use smolsock::smoltcp::wire::IpEndpoint;
use smolsock::storage::TcpStorage;
use smolsock::tcp::{EphemeralPorts, PoolConfig};

const BUF: usize = 8192;
/// Socket buffers of the single-transfer rows. Larger windows fare worse under heavy loss:
/// smoltcp reassembles around at most 4 holes and fast-retransmits one segment at a time, so a
/// 64 KiB window at 10% loss mostly waits for backed-off retransmission timeouts.
const XFER_BUF: usize = 16384;
const POOL: usize = 128;
type BenchCable = Cable<1514, 64, 256>;
type BenchHost<'a, 'w> = Host<'a, 'w, 1514, 64>;

struct Row {
    name: String,
    virtual_secs: f64,
    wall_secs: f64,
    frames: u64,
    bytes_checked: u64,
    /// Echo connections that ended in an error.
    failed: u64,
}

impl Row {
    fn print(&self) {
        println!(
            "{:<48} {:>9.1} {:>9.3} {:>11.0} {:>10} {:>12.0} {:>11.1} {:>7}",
            self.name,
            self.virtual_secs,
            self.wall_secs,
            self.virtual_secs / self.wall_secs,
            self.frames,
            self.frames as f64 / self.wall_secs,
            self.bytes_checked as f64 / 1e6,
            self.failed,
        );
    }
}

fn links(loss: f64) -> FaultModel {
    FaultModel::perfect()
        .with_delay(Duration::from_millis(1), Duration::ZERO)
        .with_bandwidth(100_000_000)
        .with_loss(Rate::from_f64(loss))
}

/// One echo client connecting, echoing `payload` and closing, over and over.
struct Looper<'d> {
    host: usize,
    handle: SocketHandle,
    ports: EphemeralPorts,
    payload: &'d [u8],
    client: Option<EchoClient<'d>>,
    bytes: u64,
    failed: u64,
}

impl Looper<'_> {
    fn poll(&mut self, host: &mut BenchHost<'_, '_>) -> bool {
        if self.client.is_none() {
            let server = IpEndpoint::new(ip(0).into(), ports::TCP_ECHO);
            let client = EchoClient::connect(
                &mut host.stack,
                self.handle,
                server,
                &mut self.ports,
                self.payload,
            )
            .expect("connect");
            self.client = Some(client.with_window(BUF));
        }
        let Some(client) = &mut self.client else {
            return false;
        };
        let progress = client.poll(&mut host.stack);
        match client.outcome() {
            None => {}
            Some(Ok(Verdict::Verified)) => {
                self.bytes += self.payload.len() as u64;
                self.client = None;
            }
            Some(_) => {
                self.failed += 1;
                self.client = None;
            }
        }
        progress
    }
}

/// `hosts` hosts, the server on host 0, `conns` looping echo clients on each other host, for
/// `seconds` of virtual time.
fn steady(name: &str, hosts: usize, conns: usize, seconds: u64, loss: f64) -> Row {
    let clients = hosts - 1;
    let cables: Vec<BenchCable> = (0..hosts).map(|_| Cable::new()).collect();
    let mut net = Network::new(&cables, 1);
    net.set_all_faults(&links(loss));
    let pool_size = (2 * clients * conns).min(POOL);
    let mut server_slots: Vec<SocketStorage<'_>> =
        (0..pool_size).map(|_| SocketStorage::EMPTY).collect();
    let mut client_slots: Vec<Vec<SocketStorage<'_>>> = (0..clients)
        .map(|_| (0..conns).map(|_| SocketStorage::EMPTY).collect())
        .collect();
    let mut pool: Vec<TcpStorage<BUF, BUF>> = (0..pool_size).map(|_| TcpStorage::new()).collect();
    let mut client_bufs: Vec<TcpStorage<BUF, BUF>> =
        (0..clients * conns).map(|_| TcpStorage::new()).collect();
    let mut net_hosts: Vec<BenchHost<'_, '_>> = Vec::new();
    net_hosts.push(net.host(0, &mut server_slots).unwrap());
    for (i, slots) in client_slots.iter_mut().enumerate() {
        net_hosts.push(net.host(i + 1, slots).unwrap());
    }
    let mut server = UpperEcho::<POOL>::new(
        &mut net_hosts[0].stack,
        pool.iter_mut(),
        PoolConfig::new(ports::TCP_ECHO, pool_size),
    )
    .unwrap();
    let mut payload = vec![0u8; 16 * 1024];
    Prng::new(7).fill(&mut payload);
    let mut bufs = client_bufs.iter_mut();
    let mut loopers: Vec<Looper<'_>> = Vec::new();
    for c in 0..clients {
        for k in 0..conns {
            let handle = net_hosts[c + 1]
                .stack
                .add_tcp(bufs.next().unwrap())
                .unwrap();
            loopers.push(Looper {
                host: c + 1,
                handle,
                ports: EphemeralPorts::new((c * 1000 + k) as u64),
                payload: &payload,
                client: None,
                bytes: 0,
                failed: 0,
            });
        }
    }
    let wall = WallClock::now();
    let end = net.run_for(&mut net_hosts, Duration::from_secs(seconds), |hosts| {
        let mut progress = server.poll(&mut hosts[0].stack);
        for l in loopers.iter_mut() {
            progress |= l.poll(&mut hosts[l.host]);
        }
        progress.into()
    });
    let wall = wall.elapsed().as_secs_f64();
    Row {
        name: name.to_string(),
        virtual_secs: end.total_micros() as f64 / 1e6,
        wall_secs: wall,
        frames: net.totals().sent,
        bytes_checked: loopers.iter().map(|l| l.bytes).sum(),
        failed: loopers.iter().map(|l| l.failed).sum(),
    }
}

/// One client echoes `bytes` through the server on the other host, faults as given.
fn transfer(name: &str, bytes: usize, faults: &FaultModel, seed: u64) -> Row {
    let cables: Vec<BenchCable> = (0..2).map(|_| Cable::new()).collect();
    let mut net = Network::new(&cables, seed);
    net.set_all_faults(faults);
    let (mut s0, mut s1) = ([SocketStorage::EMPTY; 4], [SocketStorage::EMPTY; 4]);
    let mut hosts = [net.host(0, &mut s0).unwrap(), net.host(1, &mut s1).unwrap()];
    let mut pool = [TcpStorage::<XFER_BUF, XFER_BUF>::new(), TcpStorage::new()];
    let mut server = UpperEcho::<2>::new(
        &mut hosts[0].stack,
        pool.iter_mut(),
        PoolConfig {
            timeout: None,
            ..PoolConfig::new(ports::TCP_ECHO, 2)
        },
    )
    .unwrap();
    let mut payload = vec![0u8; bytes];
    Prng::new(seed).fill(&mut payload);
    let mut buf = TcpStorage::<XFER_BUF, XFER_BUF>::new();
    let handle = hosts[1].stack.add_tcp(&mut buf).unwrap();
    let mut client = EchoClient::connect(
        &mut hosts[1].stack,
        handle,
        IpEndpoint::new(ip(0).into(), ports::TCP_ECHO),
        &mut EphemeralPorts::new(seed),
        &payload,
    )
    .unwrap()
    .with_window(XFER_BUF);
    let wall = WallClock::now();
    let end = net
        .run(&mut hosts, Duration::from_secs(3600), |hosts| {
            let p = server.poll(&mut hosts[0].stack) | client.poll(&mut hosts[1].stack);
            Work::done_if(client.outcome().is_some(), p)
        })
        .unwrap_or(Instant::ZERO);
    let wall = wall.elapsed().as_secs_f64();
    assert_eq!(
        client.outcome(),
        Some(Ok(Verdict::Verified)),
        "{name}: {} bytes back by {end}\n{}",
        client.received(),
        net.link_table()
    );
    Row {
        name: name.to_string(),
        virtual_secs: end.total_micros() as f64 / 1e6,
        wall_secs: wall,
        frames: net.totals().sent,
        bytes_checked: bytes as u64,
        // The assertion above: this transfer succeeded.
        failed: 0,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    println!(
        "{:<48} {:>9} {:>9} {:>11} {:>10} {:>12} {:>11} {:>7}",
        "scenario (links: 1 ms, 100 Mbit/s)",
        "virtual s",
        "wall s",
        "virt/wall",
        "frames",
        "frames/wall s",
        "MB checked",
        "failed"
    );
    for hosts in [2, 8, 32] {
        steady(
            &format!("{hosts} hosts, 1 echo client each, 1% loss"),
            hosts,
            1,
            60,
            0.01,
        )
        .print();
    }
    for conns in [1, 16, 64] {
        steady(
            &format!("1 server, {conns} concurrent connections, 1% loss"),
            2,
            conns,
            60,
            0.01,
        )
        .print();
    }
    let lossy = links(0.10);
    let mut walls = Vec::new();
    for seed in 1..=5 {
        let row = transfer(
            &format!("2 hosts, 1 MiB echo, 10% loss, seed {seed}"),
            1 << 20,
            &lossy,
            seed,
        );
        walls.push(row.wall_secs);
        row.print();
    }
    transfer(
        "2 hosts, 1 MiB echo, all faults (hostile), seed 1",
        1 << 20,
        &FaultModel::hostile(),
        1,
    )
    .print();
    let max = walls.iter().cloned().fold(0.0, f64::max);
    println!("\n1 MiB echo under 10% loss: at most {max:.3} s of wall time over 5 seeds");
}
