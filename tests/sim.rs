//! The reliability suite: the lesson's services on a simulated network that misbehaves.
//!
//! Every scenario runs in virtual time on [`smolsock::sim`]. The randomised ones run once per
//! seed (200 by default; `SIM_SEEDS=N` for more); a failure names its seed and the command that
//! replays it alone (`SIM_SEED=S cargo test --test sim NAME -- --exact`), and `SIM_PCAP=DIR`
//! writes captures of the replayed run for Wireshark.
//!
//! | test | what it proves |
//! |---|---|
//! | `tcp_bulk_256k_under_all_faults` | 256 KiB through the echo, every byte checked, 10% loss + 5% dup + 5% reorder + 1% corruption + jitter, within 900 s |
//! | `framed_echo_500_frames_under_all_faults` | 500 frames of 0..=1024 bytes through the framed echo, every frame checked, same faults and bound |
//! | `udp_under_all_faults` | no corrupted or invented datagram reaches an application; counts |
//! | `ping_under_all_faults` / `ping_on_a_perfect_link_answers_every_request` | `ping` and `ping -6` from a simulated host (feature `icmp`): every reply answers a request sent, byte for byte; duplicates counted apart; at least one reply per family and seed; all of them on a perfect link |
//! | `connection_churn_10000_cycles` | 10,000 sequential connect/echo/close cycles, then the whole pool is reusable |
//! | `connection_churn_under_all_faults` | the same under the hostile network |
//! | `overload_refuses_extras_then_serves_latecomers` | the backlog story on a network |
//! | `outage_of_10s_mid_transfer_resumes` / `outage_longer_than_timeout_fails_clearly` | link down, then up |
//! | `same_seed_same_trace_other_seed_other_trace` | determinism |
//! | `size_limit_*`, `bandwidth_*`, `corruption_*`, `pcap_*` | single faults and the captures |
//! | `dhcp::*` (`tests/sim/dhcp.rs`, feature `dhcp`) | leases from `sim::dhcp_server` at 10% loss and under all faults within a derived bound, then echo on them; renewals, and a rebind after a lost renewal; the server gone and back; distinct addresses; an exhausted pool; junk on port 67 |

use std::time::Instant as WallClock;

use smolsock::digest::Fnv1a;
use smolsock::event_loop::Work;
use smolsock::service::{
    ports, EchoClient, FramedEcho, FramedEchoClient, Service, UdpEcho, UdpEchoStats, UdpSink,
    UdpSinkStats, UpperEcho,
};
use smolsock::service::{ClientError, Verdict};
use smolsock::sim::seeds::{for_each_seed, pcap_dir};
use smolsock::sim::{ip, Cable, FaultModel, Host, Network, Outage, PcapFiles, Prng, Rate, Retry};
use smolsock::smoltcp::iface::{SocketHandle, SocketStorage};
use smolsock::smoltcp::socket::tcp::State;
use smolsock::smoltcp::time::{Duration, Instant};
use smolsock::smoltcp::wire::IpEndpoint;
use smolsock::storage::{TcpStorage, UdpLaneStorage, UdpStorage};
use smolsock::tcp::{EphemeralPorts, PoolConfig};
use smolsock::udp::UdpClient;

#[cfg(feature = "dhcp")]
#[path = "sim/dhcp.rs"]
mod dhcp;

/// Seeds per randomised scenario in CI (`SIM_SEEDS` overrides).
const SEEDS: u64 = 200;

/// Virtual time within which a hostile-network bulk transfer must complete: the run's budget,
/// so a transfer still going at the bound fails the run (`Network::run` returns `TimedOut`).
const BULK_BOUND: Duration = Duration::from_secs(900);

const MTU: usize = 1514;
const NIC: usize = 32;
type Net<'w> = Network<'w, MTU, NIC, 64>;
type SimHost<'a, 'w> = Host<'a, 'w, MTU, NIC>;

fn init_log() {
    let _ = env_logger::builder().is_test(true).try_init();
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0; len];
    Prng::new(seed).fill(&mut bytes);
    bytes
}

fn cables(n: usize) -> Vec<Cable> {
    (0..n).map(|_| Cable::new()).collect()
}

fn sockets(n: usize) -> Vec<[SocketStorage<'static>; 16]> {
    (0..n).map(|_| [SocketStorage::EMPTY; 16]).collect()
}

fn tcp_pool<const RX: usize, const TX: usize>(n: usize) -> Vec<TcpStorage<RX, TX>> {
    (0..n).map(|_| TcpStorage::new()).collect()
}

fn echo_endpoint() -> IpEndpoint {
    IpEndpoint::new(ip(0).into(), ports::TCP_ECHO)
}

/// Write captures of a replayed run when `SIM_PCAP` is set.
fn maybe_pcap(test: &str, seed: u64, ports: usize) -> Option<PcapFiles> {
    let dir = pcap_dir(test, seed)?;
    match PcapFiles::create(&dir, ports) {
        Ok(files) => {
            eprintln!("{test}: seed {seed}: capturing to {}", dir.display());
            Some(files)
        }
        Err(e) => {
            eprintln!("{test}: cannot capture to {}: {e}", dir.display());
            None
        }
    }
}

/// What one run of a scenario measured.
#[derive(Debug, Clone, Copy)]
struct Report {
    /// Virtual time at the end.
    at: Instant,
    /// Frames sent on all links.
    frames: u64,
    /// Frames dropped on all links.
    dropped: u64,
    /// Trace digest.
    digest: u64,
}

impl Report {
    fn of<O: smolsock::sim::Observer>(net: &Network<'_, MTU, NIC, 64, O>, at: Instant) -> Self {
        let totals = net.totals();
        Report {
            at,
            frames: totals.sent,
            dropped: totals.dropped(),
            digest: net.trace().digest(),
        }
    }
}

fn summarise(name: &str, reports: &[(u64, Report)], wall: std::time::Duration) -> Instant {
    let n = reports.len().max(1) as i64;
    let max_at = reports
        .iter()
        .map(|(_, r)| r.at)
        .max()
        .unwrap_or(Instant::ZERO);
    let mean_ms = reports
        .iter()
        .map(|(_, r)| r.at.total_millis())
        .sum::<i64>()
        / n;
    let frames: u64 = reports.iter().map(|(_, r)| r.frames).sum();
    let dropped: u64 = reports.iter().map(|(_, r)| r.dropped).sum();
    eprintln!(
        "{name}: {} seeds in {wall:.2?} wall; virtual time mean {mean_ms} ms, max {max_at}; \
         {frames} frames, {dropped} dropped",
        reports.len(),
    );
    max_at
}

// ---------------------------------------------------------------------------------------------
// TCP: one client, the upper-case echo on the other host.

/// How [`echo_transfer`] runs.
struct Transfer {
    bytes: usize,
    faults: FaultModel,
    /// Extra faults on the client's cable only (outages).
    client_cable: Option<FaultModel>,
    /// The client socket's own timeout.
    client_timeout: Option<Duration>,
    /// The server pool's timeout.
    server_timeout: Option<Duration>,
    budget: Duration,
}

impl Transfer {
    /// Under every fault at once. Neither side gives up: at 10% loss in each direction
    /// smoltcp's retransmission timeout often backs off to its 60 s cap (it only comes down
    /// again after a clean round-trip sample), and a user timeout of a couple of minutes then
    /// aborts a connection after two or three unlucky retransmissions of one segment.
    fn hostile(bytes: usize) -> Self {
        Transfer {
            bytes,
            faults: FaultModel::hostile(),
            client_cable: None,
            client_timeout: None,
            server_timeout: None,
            budget: BULK_BOUND,
        }
    }
}

/// A client sends `bytes` random bytes to the upper-case echo on the other host and checks
/// every byte of the reply. Returns the report and the client's outcome.
fn echo_transfer(
    test: &str,
    seed: u64,
    t: &Transfer,
) -> Result<(Report, Result<Verdict, ClientError>), String> {
    echo_transfer_to(test, seed, t, echo_endpoint())
}

/// [`echo_transfer`] to the echo at `to` (one of host 0's addresses).
fn echo_transfer_to(
    test: &str,
    seed: u64,
    t: &Transfer,
    to: IpEndpoint,
) -> Result<(Report, Result<Verdict, ClientError>), String> {
    const BUF: usize = 16384;
    let cables = cables(2);
    let mut net: Net = Network::new(&cables, seed);
    net.set_all_faults(&t.faults);
    if let Some(faults) = &t.client_cable {
        net.set_faults(1, faults.clone());
    }
    let mut net = net.with_observer(maybe_pcap(test, seed, 2));
    let mut socks = sockets(2);
    let mut hosts: Vec<SimHost> = socks
        .iter_mut()
        .enumerate()
        .map(|(i, s)| net.host(i, s).unwrap())
        .collect();
    let mut pool = tcp_pool::<BUF, BUF>(2);
    let mut server = UpperEcho::<2>::new(
        &mut hosts[0].stack,
        pool.iter_mut(),
        PoolConfig {
            timeout: t.server_timeout,
            ..PoolConfig::new(ports::TCP_ECHO, 2)
        },
    )
    .map_err(|e| e.to_string())?;
    let data = payload(t.bytes, seed);
    let mut buffers = TcpStorage::<BUF, BUF>::new();
    let handle = hosts[1].stack.add_tcp(&mut buffers).unwrap();
    hosts[1].stack.tcp(handle).set_timeout(t.client_timeout);
    let mut client = EchoClient::connect(
        &mut hosts[1].stack,
        handle,
        to,
        &mut EphemeralPorts::new(seed),
        &data,
    )
    .map_err(|e| e.to_string())?
    .with_window(BUF);
    let run = net.run(&mut hosts, t.budget, |hosts| {
        let progress = server.poll(&mut hosts[0].stack) | client.poll(&mut hosts[1].stack);
        Work::done_if(client.outcome().is_some(), progress)
    });
    if let Some(files) = net.observer().take() {
        files.finish().map_err(|e| e.to_string())?;
    }
    let at = run.map_err(|e| {
        format!(
            "{e}; client received {} of {} bytes\n{}",
            client.received(),
            t.bytes,
            net.link_table()
        )
    })?;
    let outcome = client.outcome().unwrap_or(Err(ClientError::Reset));
    Ok((Report::of(&net, at), outcome))
}

/// A checking client's outcome as a test result: verified, or why not.
fn verified(outcome: Result<Verdict, ClientError>) -> Result<(), String> {
    match outcome {
        Ok(Verdict::Verified) => Ok(()),
        Ok(verdict) => Err(verdict.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn tcp_bulk_256k_under_all_faults() {
    init_log();
    let test = "tcp_bulk_256k_under_all_faults";
    let wall = WallClock::now();
    // Within BULK_BOUND: the transfer's budget, enforced by the run itself.
    let reports = for_each_seed(test, SEEDS, |seed| {
        let (report, outcome) = echo_transfer(test, seed, &Transfer::hostile(256 * 1024))?;
        verified(outcome).map_err(|e| format!("client: {e} at {}", report.at))?;
        Ok(report)
    });
    summarise("tcp bulk 256 KiB echo", &reports, wall.elapsed());
}

/// The same over IPv6 (neighbour discovery instead of ARP; a corrupted bit lands where the
/// transport checksum covers it, IPv6 having no header checksum): every byte checked.
#[cfg(feature = "ipv6")]
#[test]
fn tcp_bulk_256k_over_ipv6_under_all_faults() {
    init_log();
    let test = "tcp_bulk_256k_over_ipv6_under_all_faults";
    let wall = WallClock::now();
    let to = IpEndpoint::new(smolsock::sim::ip6(0).into(), ports::TCP_ECHO);
    let reports = for_each_seed(test, SEEDS, |seed| {
        let (report, outcome) = echo_transfer_to(test, seed, &Transfer::hostile(256 * 1024), to)?;
        verified(outcome).map_err(|e| format!("client: {e} at {}", report.at))?;
        Ok(report)
    });
    summarise("tcp bulk 256 KiB echo over IPv6", &reports, wall.elapsed());
}

#[test]
fn same_seed_same_trace_other_seed_other_trace() {
    init_log();
    let run = |seed| {
        echo_transfer("determinism", seed, &Transfer::hostile(64 * 1024))
            .unwrap()
            .0
    };
    let (a, b, c) = (run(11), run(11), run(12));
    assert_eq!(a.digest, b.digest);
    assert_eq!((a.at, a.frames, a.dropped), (b.at, b.frames, b.dropped));
    assert_ne!(a.digest, c.digest);
}

#[test]
fn outage_of_10s_mid_transfer_resumes() {
    init_log();
    let down_at = Instant::from_millis(300);
    let t = Transfer {
        bytes: 1 << 20,
        faults: FaultModel::perfect()
            .with_delay(millis(1), Duration::ZERO)
            .with_bandwidth(10_000_000),
        client_cable: Some(
            FaultModel::perfect()
                .with_delay(millis(1), Duration::ZERO)
                .with_bandwidth(10_000_000)
                .with_outage(Outage::new(down_at, secs(10))),
        ),
        client_timeout: Some(secs(60)),
        server_timeout: Some(secs(60)),
        budget: secs(120),
    };
    let (report, outcome) = echo_transfer("outage_of_10s_mid_transfer_resumes", 1, &t).unwrap();
    assert_eq!(
        outcome,
        Ok(Verdict::Verified),
        "the transfer resumes after the outage"
    );
    assert!(
        report.at > down_at + secs(10),
        "finished at {}: before the link came back?",
        report.at
    );
    assert!(report.dropped > 0);
    eprintln!(
        "1 MiB echo with a 10 s outage at {down_at}: done at {}",
        report.at
    );
}

#[test]
fn a_client_that_vanishes_silently_times_out_and_frees_its_server_socket() {
    init_log();
    // The client's cable goes down for good mid-transfer (a pulled cable: no FIN, no RST). The
    // server still has replies to deliver; its 5 s timeout must give up on the client and put
    // the socket back in LISTEN for the next one.
    const BUF: usize = 4096;
    let cables = cables(2);
    let mut net: Net = Network::new(&cables, 1);
    let faults = FaultModel::perfect().with_delay(millis(1), Duration::ZERO);
    net.set_all_faults(&faults);
    let gone = Outage::new(Instant::from_millis(200), secs(3600));
    net.set_faults(1, faults.with_bandwidth(1_000_000).with_outage(gone));
    let mut socks = sockets(2);
    let mut hosts: Vec<SimHost> = socks
        .iter_mut()
        .enumerate()
        .map(|(i, s)| net.host(i, s).unwrap())
        .collect();
    let mut pool = tcp_pool::<BUF, BUF>(1);
    let config = PoolConfig {
        timeout: Some(secs(5)),
        ..PoolConfig::new(ports::TCP_ECHO, 1)
    };
    let mut server = UpperEcho::<1>::new(&mut hosts[0].stack, pool.iter_mut(), config).unwrap();
    let data = payload(1 << 20, 1);
    let mut buffers = TcpStorage::<BUF, BUF>::new();
    let handle = hosts[1].stack.add_tcp(&mut buffers).unwrap();
    let mut client = EchoClient::connect(
        &mut hosts[1].stack,
        handle,
        echo_endpoint(),
        &mut EphemeralPorts::new(1),
        &data,
    )
    .unwrap();
    let at = net
        .run(&mut hosts, secs(60), |hosts| {
            let progress = server.poll(&mut hosts[0].stack) | client.poll(&mut hosts[1].stack);
            Work::done_if(server.pool().stats().reset == 1, progress)
        })
        .unwrap();
    let stats = server.pool().stats();
    assert_eq!((stats.accepted, stats.reset, stats.closed), (1, 1, 0));
    assert!(
        client.received() < data.len(),
        "the client vanished mid-stream"
    );
    // 5 s after the last segment the server heard, just before the cable went.
    let timeout_at = gone.from + secs(5);
    assert!(
        at + millis(100) > timeout_at && at < timeout_at + secs(2),
        "reset by the 5 s timeout, not something else: {at}"
    );
    // The socket listens again at once.
    server.poll(&mut hosts[0].stack);
    assert_eq!(server.pool().listening(), 1);
}

#[test]
fn outage_longer_than_timeout_fails_clearly() {
    init_log();
    let down_at = Instant::from_millis(300);
    let timeout = secs(20);
    let faults = FaultModel::perfect()
        .with_delay(millis(1), Duration::ZERO)
        .with_bandwidth(10_000_000);
    let t = Transfer {
        bytes: 1 << 20,
        faults: faults.clone(),
        client_cable: Some(faults.with_outage(Outage::new(down_at, secs(60)))),
        client_timeout: Some(timeout),
        server_timeout: Some(secs(120)),
        budget: secs(120),
    };
    let (report, outcome) =
        echo_transfer("outage_longer_than_timeout_fails_clearly", 1, &t).unwrap();
    assert_eq!(outcome, Err(ClientError::Reset));
    // The client gave up `timeout` after the last segment it heard (just before the outage),
    // well before the link came back: it was the timeout, not a reset from the server.
    assert!(
        report.at + secs(1) > down_at + timeout && report.at < down_at + timeout + secs(2),
        "gave up at {}",
        report.at
    );
    eprintln!(
        "60 s outage at {down_at}, client timeout {timeout}: client gave up at {}: {}",
        report.at,
        ClientError::Reset
    );
}

#[test]
fn size_limit_drops_big_frames_and_tcp_cannot_get_through() {
    init_log();
    let t = Transfer {
        bytes: 10_000,
        faults: FaultModel::perfect().with_max_frame(600),
        client_cable: None,
        client_timeout: Some(secs(10)),
        server_timeout: Some(secs(10)),
        budget: secs(60),
    };
    let (report, outcome) = echo_transfer("size_limit", 1, &t).unwrap();
    // SYN, SYN-ACK and ACK are small; the first full segment is not, and TCP cannot shrink it
    // (no path-MTU discovery): the client times out. Frames are dropped, never truncated.
    assert_eq!(outcome, Err(ClientError::Reset));
    assert!(report.dropped > 0);
}

#[test]
fn bandwidth_limit_paces_the_transfer() {
    init_log();
    let bps = 8_000_000; // 1 byte per µs
    let t = Transfer {
        bytes: 256 * 1024,
        faults: FaultModel::perfect().with_bandwidth(bps),
        client_cable: None,
        client_timeout: None,
        server_timeout: None,
        budget: secs(60),
    };
    let (report, outcome) = echo_transfer("bandwidth", 1, &t).unwrap();
    assert_eq!(outcome, Ok(Verdict::Verified));
    // Each direction carries the 256 KiB plus headers at 1 byte/µs.
    let floor = Instant::from_micros(256 * 1024);
    assert!(report.at > floor, "{} is faster than the link", report.at);
    assert!(report.at < floor + secs(2), "{} is too slow", report.at);
}

// ---------------------------------------------------------------------------------------------
// The framed echo: frames of random length, one connection.

/// Largest frame payload the framed echo takes.
const FRAME_MAX: usize = 1024;

fn random_frames(count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Prng::new(seed ^ 0x00f4_a3e5);
    (0..count)
        .map(|_| {
            let mut frame = vec![0; rng.below(FRAME_MAX as u64 + 1) as usize];
            rng.fill(&mut frame);
            frame
        })
        .collect()
}

fn framed_transfer(
    test: &str,
    seed: u64,
    count: usize,
    faults: &FaultModel,
) -> Result<Report, String> {
    const BUF: usize = 4096;
    let cables = cables(2);
    let mut net: Net = Network::new(&cables, seed);
    net.set_all_faults(faults);
    let mut net = net.with_observer(maybe_pcap(test, seed, 2));
    let mut socks = sockets(2);
    let mut hosts: Vec<SimHost> = socks
        .iter_mut()
        .enumerate()
        .map(|(i, s)| net.host(i, s).unwrap())
        .collect();
    let mut pool = tcp_pool::<BUF, BUF>(2);
    let mut server = FramedEcho::<2, FRAME_MAX>::new(
        &mut hosts[0].stack,
        pool.iter_mut(),
        PoolConfig {
            timeout: None,
            ..PoolConfig::new(ports::FRAMED_ECHO, 2)
        },
    )
    .map_err(|e| e.to_string())?;
    let frames = random_frames(count, seed);
    let mut buffers = TcpStorage::<BUF, BUF>::new();
    let handle = hosts[1].stack.add_tcp(&mut buffers).unwrap();
    let server_at = IpEndpoint::new(ip(0).into(), ports::FRAMED_ECHO);
    let mut client = FramedEchoClient::<_, FRAME_MAX>::connect(
        &mut hosts[1].stack,
        handle,
        server_at,
        &mut EphemeralPorts::new(seed),
        &frames,
    )
    .map_err(|e| e.to_string())?
    .with_window(BUF);
    let run = net.run(&mut hosts, BULK_BOUND, |hosts| {
        let progress = server.poll(&mut hosts[0].stack) | client.poll(&mut hosts[1].stack);
        Work::done_if(client.outcome().is_some(), progress)
    });
    if let Some(files) = net.observer().take() {
        files.finish().map_err(|e| e.to_string())?;
    }
    let at = run.map_err(|e| {
        format!(
            "{e}; {} of {count} frames back\n{}",
            client.checked(),
            net.link_table()
        )
    })?;
    match client.outcome() {
        Some(outcome) => {
            verified(outcome).map_err(|e| format!("{e} at {at}\n{}", net.link_table()))?
        }
        None => return Err("no outcome".into()),
    }
    if server.stats().frames != count as u64 {
        return Err(format!("server echoed {} frames", server.stats().frames));
    }
    Ok(Report::of(&net, at))
}

#[test]
fn framed_echo_500_frames_under_all_faults() {
    init_log();
    let test = "framed_echo_500_frames_under_all_faults";
    let wall = WallClock::now();
    // Within BULK_BOUND: the transfer's budget, enforced by the run itself.
    let reports = for_each_seed(test, SEEDS, |seed| {
        framed_transfer(test, seed, 500, &FaultModel::hostile())
    });
    summarise("framed echo 500 frames", &reports, wall.elapsed());
}

// ---------------------------------------------------------------------------------------------
// UDP: numbered datagrams from several clients, to the echo and to the sink.

/// Datagrams each UDP client sends.
const DATAGRAMS: u32 = 200;

/// The datagram `seq` of `client`: a header of ASCII digits (upper-casing leaves them alone),
/// then bytes derived from `(seed, client, seq)`, 12..=1200 bytes in all.
fn datagram(seed: u64, client: usize, seq: u32) -> Vec<u8> {
    let mut rng = Prng::new(seed ^ ((client as u64) << 40) ^ u64::from(seq));
    let len = 12 + rng.below(1189) as usize;
    let mut bytes = format!("{client:02}{seq:010}").into_bytes();
    bytes.resize(len, 0);
    rng.fill(&mut bytes[12..]);
    bytes
}

/// A grace period after the last packet is sent, for stragglers (ARP, jitter, reordering,
/// duplicates): it starts the first time it is asked, and wakes the host when it will be over.
struct Grace {
    length: Duration,
    from: Option<Instant>,
}

impl Grace {
    fn new(length: Duration) -> Self {
        Grace { length, from: None }
    }

    /// Whether the grace period (started now if it has not yet) is over on `host`'s clock.
    fn over(&mut self, host: &mut SimHost<'_, '_>) -> bool {
        let now = host.now();
        let end = *self.from.get_or_insert(now) + self.length;
        if now >= end {
            return true;
        }
        host.wake_at(end);
        false
    }
}

/// A UDP client: sends one datagram every 5 ms, even ones to the echo and odd ones to the
/// sink, and checks every echo reply against what it sent.
struct Pinger {
    seed: u64,
    index: usize,
    udp: UdpClient,
    next_seq: u32,
    next_at: Instant,
    replies: Vec<u8>,
    duplicates: u32,
    failure: Option<String>,
}

impl Pinger {
    fn finished_sending(&self) -> bool {
        self.next_seq == DATAGRAMS
    }

    fn poll(&mut self, host: &mut SimHost<'_, '_>) -> bool {
        let now = host.now();
        let mut progress = false;
        if self.next_seq < DATAGRAMS && now >= self.next_at {
            let seq = self.next_seq;
            let port = if seq.is_multiple_of(2) {
                ports::UDP_ECHO
            } else {
                ports::UDP_SINK
            };
            let to = IpEndpoint::new(ip(0).into(), port);
            let data = datagram(self.seed, self.index, seq);
            // A full send buffer (the server's address not resolved yet): try again later.
            if self.udp.send_to(&mut host.stack, &data, to).is_ok() {
                self.next_seq += 1;
                progress = true;
            }
            self.next_at = now + millis(5);
        }
        if self.next_seq < DATAGRAMS {
            host.wake_at(self.next_at);
        }
        let mut buf = [0u8; 1500];
        loop {
            let (n, from) = match self.udp.recv_from(&mut host.stack, &mut buf) {
                Ok(Some(got)) => got,
                Ok(None) => break,
                Err(e) => {
                    self.failure.get_or_insert(format!("recv: {e}"));
                    break;
                }
            };
            progress = true;
            if let Err(e) = self.check(&buf[..n], from) {
                self.failure.get_or_insert(e);
            }
        }
        progress
    }

    fn check(&mut self, reply: &[u8], from: IpEndpoint) -> Result<(), String> {
        if from != IpEndpoint::new(ip(0).into(), ports::UDP_ECHO) {
            return Err(format!("reply from {from}"));
        }
        let header = reply
            .get(..12)
            .and_then(|h| std::str::from_utf8(h).ok())
            .ok_or("reply without a header")?;
        let client: usize = header[..2].parse().map_err(|_| "bad client")?;
        let seq: u32 = header[2..].parse().map_err(|_| "bad seq")?;
        if client != self.index || seq >= self.next_seq || !seq.is_multiple_of(2) {
            return Err(format!(
                "reply to datagram {client}/{seq}, which was never sent to the echo"
            ));
        }
        let mut expected = datagram(self.seed, client, seq);
        expected.make_ascii_uppercase();
        if reply != expected {
            return Err(format!("reply to {client}/{seq} corrupted"));
        }
        let count = &mut self.replies[seq as usize];
        if *count > 0 {
            self.duplicates += 1;
        }
        *count = count.saturating_add(1);
        Ok(())
    }
}

/// Counts of one UDP run.
#[derive(Debug, Default, Clone)]
struct UdpCounts {
    sent: u64,
    echoed_unique: u64,
    echo_duplicates: u64,
    sink_datagrams: u64,
    corrupted_frames: u64,
    report_at: i64,
    /// Per client (`replies[i]` is client `i + 1`), how many replies each datagram got.
    replies: Vec<Vec<u8>>,
    /// What the sink received.
    sink: UdpSinkStats,
    /// Frames the links dropped for their size.
    oversize_frames: u64,
    /// What the echo counted.
    echo: UdpEchoStats,
}

fn udp_run(test: &str, seed: u64, faults: &FaultModel) -> Result<UdpCounts, String> {
    udp_run_with(test, seed, faults, 3)
}

/// [`udp_run`] with `clients` client hosts (each its own neighbour of the server).
fn udp_run_with(
    test: &str,
    seed: u64,
    faults: &FaultModel,
    clients: usize,
) -> Result<UdpCounts, String> {
    #[allow(non_snake_case)]
    let CLIENTS = clients;
    let cables = cables(1 + CLIENTS);
    let mut net: Net = Network::new(&cables, seed);
    net.set_all_faults(faults);
    let mut net = net.with_observer(maybe_pcap(test, seed, 1 + CLIENTS));
    let mut socks = sockets(1 + CLIENTS);
    let mut hosts: Vec<SimHost> = socks
        .iter_mut()
        .enumerate()
        .map(|(i, s)| net.host(i, s).unwrap())
        .collect();
    let mut echo_buf = UdpStorage::<32, 32768>::new();
    let mut echo_lane = UdpLaneStorage::<4, 8192>::new();
    let mut sink_buf = UdpStorage::<32, 32768>::new();
    let mut echo = UdpEcho::<1472>::new(
        &mut hosts[0].stack,
        &mut echo_buf,
        &mut echo_lane,
        ports::UDP_ECHO,
    )
    .unwrap();
    let mut sink = UdpSink::new(&mut hosts[0].stack, &mut sink_buf, ports::UDP_SINK).unwrap();
    let mut client_bufs: Vec<UdpStorage<32, 32768>> =
        (0..CLIENTS).map(|_| UdpStorage::new()).collect();
    let mut pingers: Vec<Pinger> = client_bufs
        .iter_mut()
        .enumerate()
        .map(|(i, buf)| {
            let host = &mut hosts[i + 1];
            let handle = host.stack.add_udp(buf).unwrap();
            let udp =
                UdpClient::bind_ephemeral(&mut host.stack, handle, &mut EphemeralPorts::new(seed))
                    .unwrap();
            Pinger {
                seed,
                index: i + 1,
                udp,
                next_seq: 0,
                next_at: Instant::ZERO,
                replies: vec![0; DATAGRAMS as usize],
                duplicates: 0,
                failure: None,
            }
        })
        .collect();
    let mut grace = Grace::new(secs(2));
    let run = net.run(&mut hosts, secs(120), |hosts| {
        let (server, clients) = hosts.split_at_mut(1);
        let mut progress = echo.poll(&mut server[0].stack) | sink.poll(&mut server[0].stack);
        for (pinger, host) in pingers.iter_mut().zip(clients.iter_mut()) {
            progress |= pinger.poll(host);
        }
        if pingers.iter().any(|p| p.failure.is_some()) {
            return Work::Done;
        }
        // After the last datagram, give stragglers (ARP, jitter, reordering) 2 s.
        if pingers.iter().all(Pinger::finished_sending) && grace.over(&mut server[0]) {
            return Work::Done;
        }
        progress.into()
    });
    if let Some(files) = net.observer().take() {
        files.finish().map_err(|e| e.to_string())?;
    }
    let at = run.map_err(|e| format!("{e}\n{}", net.link_table()))?;
    if let Some(failure) = pingers.iter().find_map(|p| p.failure.clone()) {
        return Err(format!("{failure}\n{}", net.link_table()));
    }
    let sent = u64::from(DATAGRAMS) * CLIENTS as u64;
    let sink_datagrams = sink.stats().datagrams;
    // Every datagram the sink got was sent (at most twice: one duplicating link on the way).
    if sink_datagrams > 2 * sent / 2 {
        return Err(format!("sink got {sink_datagrams} of {} sent", sent / 2));
    }
    if echo.stats().too_large > 0 {
        return Err("the echo saw an oversize datagram".into());
    }
    Ok(UdpCounts {
        sent,
        echoed_unique: pingers
            .iter()
            .map(|p| p.replies.iter().filter(|&&n| n > 0).count() as u64)
            .sum(),
        echo_duplicates: pingers.iter().map(|p| u64::from(p.duplicates)).sum(),
        sink_datagrams,
        corrupted_frames: net.totals().corrupted,
        report_at: at.total_millis(),
        replies: pingers.iter().map(|p| p.replies.clone()).collect(),
        sink: sink.stats(),
        oversize_frames: net.totals().oversize,
        echo: echo.stats(),
    })
}

#[test]
fn udp_under_all_faults() {
    init_log();
    let test = "udp_under_all_faults";
    let wall = WallClock::now();
    let results = for_each_seed(test, SEEDS, |seed| {
        udp_run(test, seed, &FaultModel::hostile())
    });
    let mut total = UdpCounts::default();
    for (_, c) in &results {
        total.sent += c.sent;
        total.echoed_unique += c.echoed_unique;
        total.echo_duplicates += c.echo_duplicates;
        total.sink_datagrams += c.sink_datagrams;
        total.corrupted_frames += c.corrupted_frames;
        total.report_at = total.report_at.max(c.report_at);
    }
    eprintln!(
        "udp: {} seeds in {:.2?}: {} datagrams sent ({} to the echo), {} echoed back \
         (a round trip crosses two lossy links), {} duplicate replies seen, {} at the sink; \
         {} frames corrupted in flight, none delivered to an application",
        results.len(),
        wall.elapsed(),
        total.sent,
        total.sent / 2,
        total.echoed_unique,
        total.echo_duplicates,
        total.sink_datagrams,
        total.corrupted_frames,
    );
    assert!(
        total.corrupted_frames > 0,
        "the corruption fault never fired"
    );
    assert!(
        total.echo_duplicates > 0,
        "the duplication fault never fired"
    );
}

/// More neighbours than smoltcp's default neighbour cache holds (8): with the host build's 64
/// entries, every client keeps its entry and every datagram is answered; with 8, entries are
/// evicted while their hosts still talk, and replies wait for ARP again (issue 9, item 5).
#[test]
fn sixteen_neighbours_are_all_answered() {
    init_log();
    let counts = udp_run_with("sixteen_neighbours", 5, &FaultModel::perfect(), 16).unwrap();
    assert_eq!(counts.sent, 16 * u64::from(DATAGRAMS));
    assert_eq!(
        counts.echoed_unique,
        counts.sent / 2,
        "every datagram to the echo answered: {:?}",
        counts.echo
    );
    assert_eq!(counts.echo.dropped_unsent, 0);
    assert_eq!(counts.echo_duplicates, 0);
}

#[test]
fn corruption_never_reaches_an_application() {
    init_log();
    // A fifth of all frames has a bit flipped: the checksums must catch every one.
    let faults = FaultModel::perfect().with_corrupt(Rate::percent(20));
    let counts = udp_run("corruption", 3, &faults).unwrap();
    assert!(counts.corrupted_frames > 100);
    assert!(counts.echoed_unique > 0);
}

#[test]
fn size_limit_drops_big_datagrams_and_passes_small_ones() {
    init_log();
    const MAX_FRAME: usize = 600;
    /// Ethernet, IPv4 and UDP headers around a datagram's payload.
    const HEADERS: usize = 14 + 20 + 8;
    let seed = 4;
    let faults = FaultModel::perfect().with_max_frame(MAX_FRAME);
    let counts = udp_run("size_limit_udp", seed, &faults).unwrap();
    // Nothing else goes wrong on this network, so every datagram's fate is known: it arrives
    // exactly once if its frame fits, never if not.
    let fits = |d: &[u8]| d.len() + HEADERS <= MAX_FRAME;
    let mut expected_sink = UdpSinkStats::default();
    let mut too_big = 0;
    for (i, replies) in counts.replies.iter().enumerate() {
        let client = i + 1;
        for seq in 0..DATAGRAMS {
            let d = datagram(seed, client, seq);
            too_big += u64::from(!fits(&d));
            if seq.is_multiple_of(2) {
                assert_eq!(
                    replies[seq as usize],
                    u8::from(fits(&d)),
                    "replies to client {client}'s datagram {seq} ({} bytes)",
                    d.len()
                );
            } else if fits(&d) {
                expected_sink.datagrams += 1;
                expected_sink.bytes += d.len() as u64;
                expected_sink.digest = expected_sink.digest.wrapping_add(Fnv1a::of(&d));
            }
        }
    }
    assert!(too_big > 0 && too_big < counts.sent, "both kinds were sent");
    assert_eq!(counts.oversize_frames, too_big, "frames dropped for size");
    let sink = counts.sink;
    assert_eq!(
        (sink.datagrams, sink.bytes, sink.digest),
        (
            expected_sink.datagrams,
            expected_sink.bytes,
            expected_sink.digest
        ),
        "the sink got exactly the odd datagrams that fit"
    );
}

// ---------------------------------------------------------------------------------------------
// Connection churn and overload.

/// Connect/echo/close `cycles` times, one connection at a time, the client hosts taking turns;
/// then check that every socket is reusable by filling the whole pool at once.
fn churn(test: &str, seed: u64, faults: &FaultModel, cycles: u32) -> Result<Report, String> {
    const CLIENT_HOSTS: usize = 4;
    const POOL: usize = 4;
    let cables = cables(1 + CLIENT_HOSTS);
    let mut net: Net = Network::new(&cables, seed);
    net.set_all_faults(faults);
    let mut net = net.with_observer(maybe_pcap(test, seed, 1 + CLIENT_HOSTS));
    let mut socks = sockets(1 + CLIENT_HOSTS);
    let mut hosts: Vec<SimHost> = socks
        .iter_mut()
        .enumerate()
        .map(|(i, s)| net.host(i, s).unwrap())
        .collect();
    let mut pool = tcp_pool::<2048, 2048>(POOL);
    let mut server = UpperEcho::<POOL>::new(
        &mut hosts[0].stack,
        pool.iter_mut(),
        PoolConfig::new(ports::TCP_ECHO, POOL),
    )
    .unwrap();
    let mut client_bufs = tcp_pool::<2048, 2048>(CLIENT_HOSTS);
    let handles: Vec<SocketHandle> = client_bufs
        .iter_mut()
        .zip(hosts[1..].iter_mut())
        .map(|(buf, host)| host.stack.add_tcp(buf).unwrap())
        .collect();
    let mut port_alloc: Vec<EphemeralPorts> = (0..CLIENT_HOSTS)
        .map(|i| EphemeralPorts::new(seed.wrapping_add(i as u64 * 7919)))
        .collect();
    let payloads: Vec<Vec<u8>> = (0..16)
        .map(|i| payload(16 + i * 37, seed + i as u64))
        .collect();

    // Phase 1: sequential cycles. On a lossy network closed connections may linger in LAST-ACK
    // (the final ACK was lost) long enough to use up the pool: then the client is refused, as
    // by a full backlog, and tries again a second later.
    let mut done = 0u32;
    let mut refused = 0u32;
    let mut current: Option<(usize, Retry<EchoClient<'_>>)> = None;
    let mut failure: Option<String> = None;
    let run = net.run(&mut hosts, secs(100_000), |hosts| {
        let (server_host, clients) = hosts.split_at_mut(1);
        let mut progress = server.poll(&mut server_host[0].stack);
        if current.is_none() && done < cycles {
            current = Some((done as usize % CLIENT_HOSTS, Retry::new(secs(1))));
        }
        let mut served = false;
        if let Some((i, attempt)) = &mut current {
            let data = &payloads[done as usize % payloads.len()];
            let (handle, ports) = (handles[*i], &mut port_alloc[*i]);
            match attempt.poll(&mut clients[*i], |stack| {
                EchoClient::connect(stack, handle, echo_endpoint(), ports, data)
            }) {
                Ok(p) => progress |= p,
                Err(e) => failure = Some(format!("cycle {done}: connect: {e}")),
            }
            match attempt.outcome() {
                None => {}
                Some(outcome) => match verified(outcome) {
                    Ok(()) => {
                        refused += attempt.refusals();
                        served = true;
                    }
                    Err(e) => failure = Some(format!("cycle {done} on host {}: {e}", *i + 1)),
                },
            }
        }
        if served {
            done += 1;
            current = None;
        }
        Work::done_if(failure.is_some() || done == cycles, progress)
    });
    let churn_end = run.map_err(|e| format!("{e} after {done} cycles"))?;
    if let Some(f) = failure {
        return Err(format!("{f}\n{}", net.link_table()));
    }

    // Let the last closes finish: a lost final ACK leaves the server in LAST-ACK,
    // retransmitting its FIN with backed-off timeouts until the client answers (ACK, or RST
    // once its TIME-WAIT is over).
    net.run(&mut hosts, secs(600), |hosts| {
        let progress = server.poll(&mut hosts[0].stack);
        Work::done_if(hosts.iter().all(|h| h.summary().tcp_busy() == 0), progress)
    })
    .map_err(|e| format!("closing after churn: {e}"))?;
    let stats = server.pool().stats();
    let summary = hosts[0].summary();
    if stats.accepted != u64::from(cycles) || stats.closed != u64::from(cycles) {
        return Err(format!("pool after churn: {stats:?}"));
    }
    if summary.tcp_busy() != 0 || summary.tcp_in(State::Listen) as usize != POOL {
        return Err(format!("server sockets after churn: {summary}"));
    }
    for host in &hosts[1..] {
        let s = host.summary();
        if s.tcp_busy() != 0 {
            return Err(format!("client host {} after churn: {s}", host.index()));
        }
    }

    // Phase 2: every pool socket serves a client at once.
    let mut clients: Vec<(usize, EchoClient<'_>)> = (0..CLIENT_HOSTS)
        .map(|i| {
            let client = EchoClient::connect(
                &mut hosts[1 + i].stack,
                handles[i],
                echo_endpoint(),
                &mut port_alloc[i],
                &payloads[i],
            )
            .unwrap();
            (i, client)
        })
        .collect();
    let end = net
        .run(&mut hosts, secs(600), |hosts| {
            let mut progress = server.poll(&mut hosts[0].stack);
            for (i, c) in clients.iter_mut() {
                progress |= c.poll(&mut hosts[1 + *i].stack);
            }
            Work::done_if(clients.iter().all(|(_, c)| c.outcome().is_some()), progress)
        })
        .map_err(|e| format!("after churn: {e}"))?;
    for (i, c) in &clients {
        if c.outcome() != Some(Ok(Verdict::Verified)) {
            return Err(format!("after churn, client {i}: {:?}", c.outcome()));
        }
    }
    if let Some(files) = net.observer().take() {
        files.finish().map_err(|e| e.to_string())?;
    }
    eprintln!(
        "{test} seed {seed}: {cycles} cycles by {churn_end} ({refused} refused while the pool \
         was busy closing), pool {:?}, all {POOL} sockets served again by {end}",
        server.pool().stats()
    );
    Ok(Report::of(&net, end))
}

#[test]
fn connection_churn_10000_cycles() {
    init_log();
    let wall = WallClock::now();
    let faults = FaultModel::perfect().with_delay(Duration::from_micros(200), Duration::ZERO);
    churn("connection_churn_10000_cycles", 1, &faults, 10_000).unwrap();
    eprintln!("churn: 10000 cycles in {:.2?} wall", wall.elapsed());
}

#[test]
fn connection_churn_under_all_faults() {
    init_log();
    let test = "connection_churn_under_all_faults";
    let wall = WallClock::now();
    let reports = for_each_seed(test, SEEDS, |seed| {
        churn(test, seed, &FaultModel::hostile(), 100)
    });
    summarise(
        "churn under all faults, 100 cycles",
        &reports,
        wall.elapsed(),
    );
}

#[test]
fn overload_holds_or_refuses_extras_then_serves_everyone() {
    init_log();
    const POOL: usize = 4;
    const CLIENT_HOSTS: usize = 4;
    const PER_HOST: usize = 2;
    let cables = cables(1 + CLIENT_HOSTS);
    let mut net: Net = Network::new(&cables, 5);
    net.set_all_faults(
        &FaultModel::perfect()
            .with_delay(millis(1), Duration::ZERO)
            .with_bandwidth(10_000_000),
    );
    let mut socks = sockets(1 + CLIENT_HOSTS);
    let mut hosts: Vec<SimHost> = socks
        .iter_mut()
        .enumerate()
        .map(|(i, s)| net.host(i, s).unwrap())
        .collect();
    let mut pool = tcp_pool::<4096, 4096>(POOL);
    let mut server = UpperEcho::<POOL>::new(
        &mut hosts[0].stack,
        pool.iter_mut(),
        PoolConfig::new(ports::TCP_ECHO, POOL),
    )
    .unwrap();
    let data: Vec<Vec<u8>> = (0..CLIENT_HOSTS * PER_HOST)
        .map(|i| payload(48 * 1024, 100 + i as u64))
        .collect();
    let mut bufs = tcp_pool::<4096, 4096>(CLIENT_HOSTS * PER_HOST);
    let mut bufs_iter = bufs.iter_mut();
    struct Slot<'d> {
        host: usize,
        handle: SocketHandle,
        ports: EphemeralPorts,
        attempt: Retry<EchoClient<'d>>,
    }
    let mut slots: Vec<Slot> = (0..CLIENT_HOSTS * PER_HOST)
        .map(|i| {
            let host = 1 + i % CLIENT_HOSTS;
            let handle = hosts[host]
                .stack
                .add_tcp(bufs_iter.next().unwrap())
                .unwrap();
            Slot {
                host,
                handle,
                ports: EphemeralPorts::new(i as u64 * 1000),
                attempt: Retry::new(millis(250)),
            }
        })
        .collect();
    let end = net
        .run(&mut hosts, secs(300), |hosts| {
            let mut progress = server.poll(&mut hosts[0].stack);
            for (i, slot) in slots.iter_mut().enumerate() {
                let (handle, ports) = (slot.handle, &mut slot.ports);
                progress |= slot
                    .attempt
                    .poll(&mut hosts[slot.host], |stack| {
                        EchoClient::connect(stack, handle, echo_endpoint(), ports, &data[i])
                    })
                    .unwrap();
            }
            let finished = slots.iter().all(|s| s.attempt.outcome().is_some());
            Work::done_if(finished, progress)
        })
        .unwrap();
    let refused_at_first = slots.iter().filter(|s| s.attempt.refusals() > 0).count();
    let refusals: u32 = slots.iter().map(|s| s.attempt.refusals()).sum();
    for (i, slot) in slots.iter().enumerate() {
        assert_eq!(
            slot.attempt.outcome(),
            Some(Ok(Verdict::Verified)),
            "client {i} (refused {} times)",
            slot.attempt.refusals()
        );
    }
    let stats = server.pool().stats();
    eprintln!(
        "overload: {} clients on a pool of {POOL}: {refused_at_first} refused at first \
         ({refusals} refusals in all), all served intact by {end}; pool {stats:?}",
        slots.len()
    );
    // Extras that arrive while handshakes are under way are held back (no RST; their SYN is
    // retransmitted a second later), extras that find every socket serving are refused: either
    // way the pool ran out, and nobody was lost.
    let held = hosts[0].stack.guard_stats().syns_held;
    eprintln!("overload: {held} SYNs held back");
    assert!(refused_at_first > 0 || held > 0, "nobody had to wait");
    assert!(refused_at_first <= CLIENT_HOSTS * PER_HOST - POOL);
    assert_eq!(stats.accepted, (CLIENT_HOSTS * PER_HOST) as u64);
    assert!(stats.exhausted >= 1);
}

// ---------------------------------------------------------------------------------------------
// Captures.

#[test]
fn pcap_files_hold_every_frame_each_port_saw() {
    init_log();
    let dir = std::env::temp_dir().join(format!("smolsock-sim-pcap-{}", std::process::id()));
    let cables = cables(2);
    let files = PcapFiles::create(&dir, 2).unwrap();
    let paths = files.paths().to_vec();
    let mut net = Network::<MTU, NIC, 64>::new(&cables, 9).with_observer(files);
    net.set_all_faults(&FaultModel::hostile());
    let mut socks = sockets(2);
    let mut hosts: Vec<SimHost> = socks
        .iter_mut()
        .enumerate()
        .map(|(i, s)| net.host(i, s).unwrap())
        .collect();
    let mut pool = tcp_pool::<4096, 4096>(1);
    let mut server = UpperEcho::<1>::new(
        &mut hosts[0].stack,
        pool.iter_mut(),
        PoolConfig::new(ports::TCP_ECHO, 1),
    )
    .unwrap();
    let data = payload(20_000, 9);
    let mut buf = TcpStorage::<4096, 4096>::new();
    let h = hosts[1].stack.add_tcp(&mut buf).unwrap();
    let mut client = EchoClient::connect(
        &mut hosts[1].stack,
        h,
        echo_endpoint(),
        &mut EphemeralPorts::new(9),
        &data,
    )
    .unwrap()
    .with_window(4096);
    net.run(&mut hosts, secs(600), |hosts| {
        let p = server.poll(&mut hosts[0].stack) | client.poll(&mut hosts[1].stack);
        Work::done_if(client.outcome().is_some(), p)
    })
    .unwrap();
    assert_eq!(client.outcome(), Some(Ok(Verdict::Verified)));
    let expected: Vec<u64> = (0..2)
        .map(|i| {
            let c = net.counters(i);
            c.sent + c.received
        })
        .collect();
    net.into_observer().finish().unwrap();
    for (path, expected) in paths.iter().zip(expected) {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(bytes[..4], 0xa1b2c3d4u32.to_ne_bytes(), "pcap magic");
        let mut records = 0;
        let mut off = 24;
        while off + 16 <= bytes.len() {
            let len = u32::from_ne_bytes(bytes[off + 8..off + 12].try_into().unwrap()) as usize;
            off += 16 + len;
            records += 1;
        }
        assert_eq!(off, bytes.len());
        assert_eq!(records, expected, "{}", path.display());
    }
    std::fs::remove_dir_all(&dir).ok();
}

// ---------------------------------------------------------------------------------------------
// ICMP echo: host 1 pings host 0 over IPv4 and IPv6 (feature `icmp` for the pinger's socket;
// host 0 answers with smoltcp's `auto-icmp-echo-reply`, no socket).

/// Echo requests per family and run.
///
/// A reply arrives if the request crosses host 1's link and the reply host 0's link, each
/// neither lost (10%) nor corrupted (1%; the checksum then drops it); duplication and
/// reordering lose nothing. Links decide each frame independently, so one request is answered
/// with probability at least 0.89² ≈ 0.79, and none of `PINGS` is with probability at most
/// 0.21^32 ≈ 2·10⁻²²: over 200 seeds × 2 families, about 10⁻¹⁹. (Neighbour resolution only
/// delays the first request: ARP and neighbour solicitations repeat until answered, and each
/// request leaves once the previous one has.)
#[cfg(all(feature = "icmp", feature = "ipv6"))]
const PINGS: u16 = 32;

/// The payload of echo request `seq` of `family` (4 or 6): 0..=256 bytes from the seed.
#[cfg(all(feature = "icmp", feature = "ipv6"))]
fn ping_payload(seed: u64, family: u8, seq: u16) -> Vec<u8> {
    let mut rng = Prng::new(seed ^ (u64::from(family) << 40) ^ u64::from(seq));
    let mut bytes = vec![0; rng.below(257) as usize];
    rng.fill(&mut bytes);
    bytes
}

/// One family's ping client: an ICMP socket bound to its own identifier, a request every
/// 10 ms, and a count of replies per sequence number, each checked against what was sent.
#[cfg(all(feature = "icmp", feature = "ipv6"))]
struct Ping {
    seed: u64,
    /// 4 or 6.
    family: u8,
    ident: u16,
    /// Host 0's address in this family.
    to: smolsock::smoltcp::wire::IpAddress,
    handle: SocketHandle,
    next_seq: u16,
    next_at: Instant,
    /// Replies seen per sequence number.
    replies: Vec<u32>,
    failure: Option<String>,
}

#[cfg(all(feature = "icmp", feature = "ipv6"))]
impl Ping {
    fn new(
        host: &mut SimHost<'_, '_>,
        handle: SocketHandle,
        seed: u64,
        family: u8,
        to: smolsock::smoltcp::wire::IpAddress,
    ) -> Self {
        let ident = 0x5a00 | u16::from(family);
        host.stack
            .icmp(handle)
            .bind(smolsock::smoltcp::socket::icmp::Endpoint::Ident(ident))
            .unwrap();
        Ping {
            seed,
            family,
            ident,
            to,
            handle,
            next_seq: 0,
            next_at: Instant::ZERO,
            replies: vec![0; usize::from(PINGS)],
            failure: None,
        }
    }

    fn finished_sending(&self) -> bool {
        self.next_seq == PINGS
    }

    /// Distinct requests answered.
    fn answered(&self) -> u64 {
        self.replies.iter().filter(|&&n| n > 0).count() as u64
    }

    /// Replies beyond the first to one request.
    fn duplicates(&self) -> u64 {
        self.replies
            .iter()
            .map(|&n| u64::from(n.saturating_sub(1)))
            .sum()
    }

    fn poll(&mut self, host: &mut SimHost<'_, '_>) -> bool {
        use smolsock::smoltcp::phy::ChecksumCapabilities;
        use smolsock::smoltcp::wire::{Icmpv4Packet, Icmpv4Repr, Icmpv6Packet, Icmpv6Repr};
        let now = host.now();
        let mut progress = false;
        if self.next_seq < PINGS && now >= self.next_at {
            let seq = self.next_seq;
            let data = ping_payload(self.seed, self.family, seq);
            let (ident, to, family) = (self.ident, self.to, self.family);
            let socket = host.stack.icmp(self.handle);
            // The checksum is left to the stack (it computes it as the request leaves).
            let sent = if family == 4 {
                let repr = Icmpv4Repr::EchoRequest {
                    ident,
                    seq_no: seq,
                    data: &data,
                };
                socket.send(repr.buffer_len(), to).map(|buf| {
                    repr.emit(
                        &mut Icmpv4Packet::new_unchecked(buf),
                        &ChecksumCapabilities::ignored(),
                    )
                })
            } else {
                let repr = Icmpv6Repr::EchoRequest {
                    ident,
                    seq_no: seq,
                    data: &data,
                };
                socket.send(repr.buffer_len(), to).map(|buf| {
                    repr.emit(
                        &smolsock::sim::ip6(1),
                        &smolsock::sim::ip6(0),
                        &mut Icmpv6Packet::new_unchecked(buf),
                        &ChecksumCapabilities::ignored(),
                    )
                })
            };
            // A full send buffer (host 0 not resolved yet): try again later.
            if sent.is_ok() {
                self.next_seq += 1;
                progress = true;
            }
            self.next_at = now + millis(10);
        }
        if self.next_seq < PINGS {
            host.wake_at(self.next_at);
        }
        while let Ok((reply, from)) = host.stack.icmp(self.handle).recv() {
            let reply = reply.to_vec();
            progress = true;
            if let Err(e) = self.check(&reply, from) {
                self.failure.get_or_insert(e);
            }
        }
        progress
    }

    /// A reply counts only if it comes from host 0 in this family, is an echo reply carrying
    /// our identifier and the number of a request sent, and its payload is that request's,
    /// byte for byte.
    fn check(
        &mut self,
        reply: &[u8],
        from: smolsock::smoltcp::wire::IpAddress,
    ) -> Result<(), String> {
        use smolsock::smoltcp::phy::ChecksumCapabilities;
        use smolsock::smoltcp::wire::{Icmpv4Packet, Icmpv4Repr, Icmpv6Packet, Icmpv6Repr};
        let family = self.family;
        if from != self.to {
            return Err(format!("IPv{family} ping: reply from {from}"));
        }
        let caps = ChecksumCapabilities::default();
        let (ident, seq, data) = if family == 4 {
            let packet = Icmpv4Packet::new_checked(reply).map_err(|e| e.to_string())?;
            match Icmpv4Repr::parse(&packet, &caps).map_err(|e| e.to_string())? {
                Icmpv4Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                } => (ident, seq_no, data.to_vec()),
                other => return Err(format!("IPv4 ping: not an echo reply: {other:?}")),
            }
        } else {
            let packet = Icmpv6Packet::new_checked(reply).map_err(|e| e.to_string())?;
            let repr = Icmpv6Repr::parse(
                &smolsock::sim::ip6(0),
                &smolsock::sim::ip6(1),
                &packet,
                &caps,
            )
            .map_err(|e| e.to_string())?;
            match repr {
                Icmpv6Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                } => (ident, seq_no, data.to_vec()),
                other => return Err(format!("IPv6 ping: not an echo reply: {other:?}")),
            }
        };
        if ident != self.ident {
            return Err(format!(
                "IPv{family} ping: reply with identifier {ident:#x}"
            ));
        }
        if seq >= self.next_seq {
            return Err(format!(
                "IPv{family} ping: reply to request {seq}, which was never sent"
            ));
        }
        if data != ping_payload(self.seed, family, seq) {
            return Err(format!(
                "IPv{family} ping: reply to request {seq} corrupted"
            ));
        }
        self.replies[usize::from(seq)] += 1;
        Ok(())
    }
}

/// What one ping run counted, per family (`[IPv4, IPv6]`).
#[cfg(all(feature = "icmp", feature = "ipv6"))]
#[derive(Debug, Clone, Copy)]
struct PingCounts {
    report: Report,
    answered: [u64; 2],
    duplicates: [u64; 2],
    corrupted_frames: u64,
    duplicated_frames: u64,
}

/// Host 1 pings host 0 `PINGS` times over IPv4 and over IPv6 at once, one request per family
/// every 10 ms, then waits 2 s for stragglers; every reply is checked as it arrives.
#[cfg(all(feature = "icmp", feature = "ipv6"))]
fn ping_run(test: &str, seed: u64, faults: &FaultModel) -> Result<PingCounts, String> {
    use smolsock::storage::IcmpStorage;
    let cables = cables(2);
    let mut net: Net = Network::new(&cables, seed);
    net.set_all_faults(faults);
    let mut net = net.with_observer(maybe_pcap(test, seed, 2));
    let mut socks = sockets(2);
    let mut hosts: Vec<SimHost> = socks
        .iter_mut()
        .enumerate()
        .map(|(i, s)| net.host(i, s).unwrap())
        .collect();
    let mut buffers = [IcmpStorage::<8, 4096>::new(), IcmpStorage::new()];
    let [v4_buf, v6_buf] = &mut buffers;
    let v4 = hosts[1].stack.add_icmp(v4_buf).unwrap();
    let v6 = hosts[1].stack.add_icmp(v6_buf).unwrap();
    let mut pings = [
        Ping::new(&mut hosts[1], v4, seed, 4, ip(0).into()),
        Ping::new(&mut hosts[1], v6, seed, 6, smolsock::sim::ip6(0).into()),
    ];
    let mut grace = Grace::new(secs(2));
    let run = net.run(&mut hosts, secs(120), |hosts| {
        let mut progress = false;
        for ping in pings.iter_mut() {
            progress |= ping.poll(&mut hosts[1]);
        }
        if pings.iter().any(|p| p.failure.is_some()) {
            return Work::Done;
        }
        // After the last request, give stragglers (jitter, reordering, duplicates) 2 s.
        if pings.iter().all(Ping::finished_sending) && grace.over(&mut hosts[1]) {
            return Work::Done;
        }
        progress.into()
    });
    if let Some(files) = net.observer().take() {
        files.finish().map_err(|e| e.to_string())?;
    }
    let at = run.map_err(|e| format!("{e}\n{}", net.link_table()))?;
    if let Some(failure) = pings.iter().find_map(|p| p.failure.clone()) {
        return Err(format!("{failure}\n{}", net.link_table()));
    }
    if let Some(p) = pings.iter().find(|p| !p.finished_sending()) {
        return Err(format!(
            "IPv{} ping: only {} of {PINGS} requests sent",
            p.family, p.next_seq
        ));
    }
    let totals = net.totals();
    Ok(PingCounts {
        report: Report::of(&net, at),
        answered: [pings[0].answered(), pings[1].answered()],
        duplicates: [pings[0].duplicates(), pings[1].duplicates()],
        corrupted_frames: totals.corrupted,
        duplicated_frames: totals.duplicated,
    })
}

/// `ping` and `ping -6` between two simulated hosts under every fault: each reply that arrives
/// answers a request sent (identifier, sequence number, payload byte for byte), no corrupted
/// reply gets through, duplicates are counted apart, and each family gets at least one reply
/// per seed (see [`PINGS`]).
#[cfg(all(feature = "icmp", feature = "ipv6"))]
#[test]
fn ping_under_all_faults() {
    init_log();
    let test = "ping_under_all_faults";
    let wall = WallClock::now();
    let results = for_each_seed(test, SEEDS, |seed| {
        let counts = ping_run(test, seed, &FaultModel::hostile())?;
        for (family, answered) in [4, 6].iter().zip(counts.answered) {
            if answered == 0 {
                return Err(format!("IPv{family} ping: no request answered"));
            }
        }
        Ok(counts)
    });
    let reports: Vec<(u64, Report)> = results.iter().map(|(s, c)| (*s, c.report)).collect();
    summarise("ping", &reports, wall.elapsed());
    let sum = |f: fn(&PingCounts) -> u64| results.iter().map(|(_, c)| f(c)).sum::<u64>();
    let sent = results.len() as u64 * u64::from(PINGS);
    let (answered4, answered6) = (sum(|c| c.answered[0]), sum(|c| c.answered[1]));
    let duplicates = sum(|c| c.duplicates[0] + c.duplicates[1]);
    eprintln!(
        "ping: {sent} requests per family; answered {answered4} over IPv4, {answered6} over \
         IPv6 (a round trip crosses two lossy links); {duplicates} duplicate replies counted \
         apart; {} frames corrupted in flight, none accepted",
        sum(|c| c.corrupted_frames),
    );
    assert!(
        sum(|c| c.corrupted_frames) > 0,
        "the corruption fault never fired"
    );
    assert!(
        sum(|c| c.duplicated_frames) > 0 && duplicates > 0,
        "the duplication fault never fired on an echo"
    );
}

/// On a perfect link every request of both families is answered exactly once.
#[cfg(all(feature = "icmp", feature = "ipv6"))]
#[test]
fn ping_on_a_perfect_link_answers_every_request() {
    init_log();
    let counts = ping_run("ping_perfect", 5, &FaultModel::perfect()).unwrap();
    let all = u64::from(PINGS);
    assert_eq!(counts.answered, [all, all], "every request answered");
    assert_eq!(counts.duplicates, [0, 0]);
}
