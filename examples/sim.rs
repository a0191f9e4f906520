//! The network simulator from the command line: the lesson's servers on host 0, clients on
//! every other host, all on one simulated Ethernet segment with the faults you ask for.
//!
//! ```text
//! cargo run --release --example sim -- --hosts 8 --loss 10 --seed 7 --seconds 60
//! cargo run --release --example sim -- --loss 5 --dup 5 --reorder 5 --corrupt 1 --pcap /tmp/sim
//! ```
//!
//! Host 0 serves the upper-case echo (TCP 8000), the framed echo (TCP 9000) and the UDP echo
//! (UDP 8848). Every other host runs, over and over for the whole run: an echo client (a few KiB,
//! every byte checked), a framed client (20 frames, every frame checked) and a UDP client (one
//! numbered datagram every 100 ms). At the end: each link's counters, each host's sockets, and
//! what every client achieved. With `--pcap DIR`, `DIR/port<N>.pcap` holds what host N's cable
//! carried, for Wireshark. The same seed gives the same run (compare the trace digest).
//!
//! Rates are percentages, as in `tap serve --drop-rate`: `--loss 10` loses one frame in ten.

use std::path::PathBuf;
use std::time::Instant as WallClock;

use clap::{value_parser, Arg, Command};
use smolsock::service::Verdict;
use smolsock::service::{
    ports, EchoClient, FramedEcho, FramedEchoClient, Service, UdpEcho, UpperEcho,
};
use smolsock::sim::{
    ip, Cable, FaultModel, Host, HostTable, Network, Outcome, PcapFiles, Prng, Rate, Retry,
};
use smolsock::smoltcp::iface::{SocketHandle, SocketStorage};
use smolsock::smoltcp::time::{Duration, Instant};
use smolsock::smoltcp::wire::IpEndpoint;
use smolsock::storage::{TcpStorage, UdpLaneStorage, UdpStorage};
use smolsock::tcp::{ConnectError, EphemeralPorts, PoolConfig};
use smolsock::udp::UdpClient;
use smolsock::Stack;

/// Most client hosts.
const MAX_CLIENTS: usize = 63;
/// Most sockets in each of the server's TCP pools (sized at compile time). A pool gets two
/// sockets per client: a connection that has just closed may linger a little in LAST-ACK.
const POOL_MAX: usize = 64;
/// Bytes each way of every TCP socket.
const BUF: usize = 8192;
/// Largest framed-echo payload.
const FRAME_MAX: usize = 1024;

type SimCable = Cable<1514, 64, 256>;
type SimHost<'a, 'w> = Host<'a, 'w, 1514, 64>;

/// The command line.
#[derive(Debug)]
struct Args {
    hosts: usize,
    loss: Rate,
    dup: Rate,
    reorder: Rate,
    corrupt: Rate,
    delay_ms: u64,
    jitter_ms: u64,
    bandwidth: Option<u64>,
    seed: u64,
    seconds: u64,
    pcap: Option<PathBuf>,
}

impl Args {
    /// Parse the command line, or exit with help or an error (clap's builder: no derive
    /// macros, so the first build compiles no `syn`).
    fn parse() -> Args {
        let percent = |name: &'static str, default: &'static str, help: &'static str| {
            Arg::new(name)
                .long(name)
                .value_name("PCT")
                .default_value(default)
                .value_parser(parse_percent)
                .help(help)
        };
        let number = |name: &'static str, long: &'static str, default: &'static str| {
            Arg::new(name)
                .long(long)
                .value_name("N")
                .default_value(default)
                .value_parser(value_parser!(u64))
        };
        let m = Command::new("sim")
            .version(env!("CARGO_PKG_VERSION"))
            .about("A deterministic multi-host network with faults, in virtual time.")
            .arg(
                Arg::new("hosts")
                    .long("hosts")
                    .value_name("N")
                    .default_value("4")
                    .value_parser(parse_hosts)
                    .help("Hosts on the segment: host 0 serves, the others are clients (2 to 64)"),
            )
            .arg(percent(
                "loss",
                "1",
                "Percentage of frames lost, 0 to 100 (10 means one frame in ten; 0.5 is allowed)",
            ))
            .arg(percent("dup", "0", "Percentage of frames delivered twice"))
            .arg(percent(
                "reorder",
                "0",
                "Percentage of frames held back 5 ms, so that later ones overtake them",
            ))
            .arg(percent(
                "corrupt",
                "0",
                "Percentage of frames with one bit of the IP packet flipped (checksums must catch \
                 it)",
            ))
            .arg(
                number("delay_ms", "delay-ms", "1")
                    .help("One-way delay of every link, in milliseconds"),
            )
            .arg(
                number("jitter_ms", "jitter-ms", "1")
                    .help("Extra random delay, up to this many milliseconds per frame"),
            )
            .arg(
                Arg::new("bandwidth")
                    .long("bandwidth")
                    .value_name("BITS_PER_S")
                    .value_parser(parse_bandwidth)
                    .help("Link rate in bits per second, at least 1 (default: unlimited)"),
            )
            .arg(
                number("seed", "seed", "1")
                    .help("Seed of every random decision: the same seed gives the same run"),
            )
            .arg(number("seconds", "seconds", "60").help("Virtual seconds to simulate"))
            .arg(
                Arg::new("pcap")
                    .long("pcap")
                    .value_name("DIR")
                    .value_parser(value_parser!(PathBuf))
                    .help("Write one pcap file per host's cable into this directory"),
            )
            .get_matches();
        let rate = |name| *m.get_one::<Rate>(name).expect("has a default");
        let number = |name| *m.get_one::<u64>(name).expect("has a default");
        Args {
            hosts: *m.get_one::<usize>("hosts").expect("has a default"),
            loss: rate("loss"),
            dup: rate("dup"),
            reorder: rate("reorder"),
            corrupt: rate("corrupt"),
            delay_ms: number("delay_ms"),
            jitter_ms: number("jitter_ms"),
            bandwidth: m.get_one::<u64>("bandwidth").copied(),
            seed: number("seed"),
            seconds: number("seconds"),
            pcap: m.get_one::<PathBuf>("pcap").cloned(),
        }
    }
}

/// A host count the simulator has room for.
fn parse_hosts(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (2..=MAX_CLIENTS + 1).contains(&n) => Ok(n),
        _ => Err(format!(
            "{s} is not a number of hosts from 2 to {}",
            MAX_CLIENTS + 1
        )),
    }
}

/// A link rate: 0 would carry nothing, so it is refused rather than read as "unlimited".
fn parse_bandwidth(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err(
            "0 bit/s would carry nothing: give at least 1, or leave --bandwidth out \
                      for an unlimited link"
                .into(),
        ),
        Ok(bps) => Ok(bps),
        Err(_) => Err(format!("{s:?} is not a whole number of bits per second")),
    }
}

/// A percentage from 0 to 100 (a trailing `%` is allowed), as a [`Rate`].
fn parse_percent(s: &str) -> Result<Rate, String> {
    let pct: f64 = s
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{s:?} is not a percentage, like 10 or 0.5"))?;
    if !(0.0..=100.0).contains(&pct) {
        return Err(format!(
            "{s} is not a percentage from 0 to 100 (10 means one frame in ten)"
        ));
    }
    Ok(Rate::from_f64(pct / 100.0))
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    let mut faults = FaultModel::perfect()
        .with_loss(args.loss)
        .with_duplicate(args.dup)
        .with_reorder(args.reorder, Duration::from_millis(5))
        .with_corrupt(args.corrupt)
        .with_delay(
            Duration::from_millis(args.delay_ms),
            Duration::from_millis(args.jitter_ms),
        );
    if let Some(bps) = args.bandwidth {
        faults = faults.with_bandwidth(bps);
    }
    println!(
        "smolsock simulator: {} hosts, seed {}, {} s; per link: loss {}, dup {}, reorder {}, \
         corrupt {}, delay {} ms + up to {} ms{}",
        args.hosts,
        args.seed,
        args.seconds,
        faults.loss,
        faults.duplicate,
        faults.reorder,
        faults.corrupt,
        args.delay_ms,
        args.jitter_ms,
        args.bandwidth
            .map(|b| format!(", {b} bit/s"))
            .unwrap_or_default()
    );
    let pcap = args.pcap.as_ref().map(|dir| {
        PcapFiles::create(dir, args.hosts).unwrap_or_else(|e| {
            eprintln!("cannot write captures to {}: {e}", dir.display());
            std::process::exit(1);
        })
    });
    run(&args, &faults, pcap);
}

fn run(args: &Args, faults: &FaultModel, pcap: Option<PcapFiles>) {
    let clients = args.hosts - 1;
    let cables: Vec<SimCable> = (0..args.hosts).map(|_| Cable::new()).collect();
    let mut net = Network::new(&cables, args.seed).with_observer(pcap);
    net.set_all_faults(faults);

    // Memory: socket slots and buffers for every host, owned here.
    let pool_size = (2 * clients).min(POOL_MAX);
    let mut server_slots: Vec<SocketStorage<'_>> = (0..2 * pool_size + 2)
        .map(|_| SocketStorage::EMPTY)
        .collect();
    let mut client_slots: Vec<[SocketStorage<'_>; 3]> =
        (0..clients).map(|_| [SocketStorage::EMPTY; 3]).collect();
    let mut echo_pool: Vec<TcpStorage<BUF, BUF>> =
        (0..pool_size).map(|_| TcpStorage::new()).collect();
    let mut framed_pool: Vec<TcpStorage<BUF, BUF>> =
        (0..pool_size).map(|_| TcpStorage::new()).collect();
    let mut udp_server = UdpStorage::<64, 65536>::new();
    let mut udp_server_lane = UdpLaneStorage::<8, { 8 * 1472 }>::new();
    let mut client_tcp: Vec<[TcpStorage<BUF, BUF>; 2]> = (0..clients)
        .map(|_| [TcpStorage::new(), TcpStorage::new()])
        .collect();
    let mut client_udp: Vec<UdpStorage<8, 4096>> =
        (0..clients).map(|_| UdpStorage::new()).collect();

    let mut hosts: Vec<SimHost<'_, '_>> = Vec::with_capacity(args.hosts);
    hosts.push(net.host(0, &mut server_slots).expect("host 0"));
    for (i, slots) in client_slots.iter_mut().enumerate() {
        hosts.push(net.host(i + 1, slots).expect("client host"));
    }

    // Host 0: the servers.
    let pool = |port| PoolConfig::new(port, pool_size);
    let mut echo = UpperEcho::<POOL_MAX>::new(
        &mut hosts[0].stack,
        echo_pool.iter_mut(),
        pool(ports::TCP_ECHO),
    )
    .expect("echo server");
    let mut framed = FramedEcho::<POOL_MAX, FRAME_MAX>::new(
        &mut hosts[0].stack,
        framed_pool.iter_mut(),
        pool(ports::FRAMED_ECHO),
    )
    .expect("framed echo server");
    let mut udp_echo = UdpEcho::<1472>::new(
        &mut hosts[0].stack,
        &mut udp_server,
        &mut udp_server_lane,
        ports::UDP_ECHO,
    )
    .expect("udp echo");

    // Every other host: one client of each kind, with its data.
    let mut rng = Prng::new(args.seed ^ 0xe8a4);
    let payloads: Vec<Vec<u8>> = (0..clients)
        .map(|_| {
            let mut p = vec![0; 1024 + rng.below(7 * 1024) as usize];
            rng.fill(&mut p);
            p
        })
        .collect();
    let frame_sets: Vec<Vec<Vec<u8>>> = (0..clients)
        .map(|_| {
            (0..20)
                .map(|_| {
                    let mut f = vec![0; rng.below(FRAME_MAX as u64 + 1) as usize];
                    rng.fill(&mut f);
                    f
                })
                .collect()
        })
        .collect();
    let mut loops: Vec<ClientLoops<'_>> = Vec::with_capacity(clients);
    for (i, ((tcp, udp), (payload, frames))) in client_tcp
        .iter_mut()
        .zip(client_udp.iter_mut())
        .zip(payloads.iter().zip(frame_sets.iter()))
        .enumerate()
    {
        let [echo_buf, framed_buf] = tcp;
        let stack = &mut hosts[i + 1].stack;
        let echo_handle = stack.add_tcp(echo_buf).expect("socket");
        let framed_handle = stack.add_tcp(framed_buf).expect("socket");
        let udp_handle = stack.add_udp(udp).expect("socket");
        let mut ports = EphemeralPorts::new(args.seed.wrapping_add(i as u64 * 7919));
        let udp = UdpClient::bind_ephemeral(stack, udp_handle, &mut ports).expect("udp bind");
        loops.push(ClientLoops {
            echo: Repeat::new(echo_handle, &payload[..]),
            framed: Repeat::new(framed_handle, &frames[..]),
            udp: UdpLoop {
                udp,
                next_at: Instant::ZERO,
                seq: 0,
                sent: 0,
                replies: 0,
            },
            ports,
        });
    }

    let wall = WallClock::now();
    let end = net.run_for(
        &mut hosts,
        Duration::from_secs(args.seconds),
        |hosts: &mut [SimHost<'_, '_>]| {
            let (server, clients) = hosts.split_at_mut(1);
            let stack = &mut server[0].stack;
            let mut progress = echo.poll(stack) | framed.poll(stack) | udp_echo.poll(stack);
            for (host, l) in clients.iter_mut().zip(loops.iter_mut()) {
                progress |= l.poll(host);
            }
            progress.into()
        },
    );
    let wall = wall.elapsed();

    if let Some(files) = net.observer().take() {
        let paths: Vec<String> = files
            .paths()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        match files.finish() {
            Ok(()) => println!("captures: {}", paths.join(", ")),
            Err(e) => eprintln!("captures: {e}"),
        }
    }

    let totals = net.totals();
    let secs = end.total_micros() as f64 / 1e6;
    println!(
        "simulated {secs:.3} s in {:.3} s of wall time ({:.0}x), {} frames ({:.0} frames per wall \
         second), {} rounds; trace digest {:#018x}\n",
        wall.as_secs_f64(),
        secs / wall.as_secs_f64().max(1e-9),
        totals.sent,
        totals.sent as f64 / wall.as_secs_f64().max(1e-9),
        net.rounds(),
        net.trace().digest()
    );
    println!("links (one per host's cable; sent = frames the host transmitted):");
    println!("{}", net.link_table());
    println!("sockets:");
    println!("{}", HostTable::new(&hosts));
    let es = echo.pool().stats();
    let fs = framed.pool().stats();
    println!(
        "server: echo :8000 accepted {} closed {} reset {} exhausted {}; framed :9000 accepted \
         {} closed {} reset {}, {} frames; udp :8848 {} datagrams answered\n",
        es.accepted,
        es.closed,
        es.reset,
        es.exhausted,
        fs.accepted,
        fs.closed,
        fs.reset,
        framed.stats().frames,
        udp_echo.stats().datagrams
    );
    println!(
        "{:>4}  {:>7} {:>7} {:>6} {:>10}  {:>9} {:>7} {:>6} {:>7}  {:>8} {:>8}",
        "host",
        "echo ok",
        "refused",
        "failed",
        "bytes",
        "framed ok",
        "refused",
        "failed",
        "frames",
        "udp sent",
        "echoed"
    );
    let (mut refused, mut failed) = (0, 0);
    for (i, l) in loops.iter().enumerate() {
        refused += l.echo.refused() + l.framed.refused();
        failed += l.echo.failed + l.framed.failed;
        println!(
            "{:>4}  {:>7} {:>7} {:>6} {:>10}  {:>9} {:>7} {:>6} {:>7}  {:>8} {:>8}",
            i + 1,
            l.echo.ok,
            l.echo.refused(),
            l.echo.failed,
            l.echo.checked,
            l.framed.ok,
            l.framed.refused(),
            l.framed.failed,
            l.framed.checked,
            l.udp.sent,
            l.udp.replies
        );
    }
    println!(
        "\n{refused} connections refused (pool full: retried a second later), {failed} failed \
         (reset, or given up); every byte that came back was checked"
    );
}

/// The three clients of one host.
struct ClientLoops<'d> {
    echo: Repeat<'d, EchoClient<'d>>,
    framed: Repeat<'d, FramedEchoClient<'d, Vec<u8>, FRAME_MAX>>,
    udp: UdpLoop,
    ports: EphemeralPorts,
}

impl ClientLoops<'_> {
    fn poll(&mut self, host: &mut SimHost<'_, '_>) -> bool {
        let now = host.now();
        let mut progress = self.echo.poll(host, &mut self.ports);
        progress |= self.framed.poll(host, &mut self.ports);
        progress |= self.udp.poll(&mut host.stack, now);
        if self.udp.next_at > now {
            host.wake_at(self.udp.next_at);
        }
        progress
    }
}

/// A checking client that a [`Repeat`] runs again and again.
trait Job<'d>: Outcome + Sized {
    /// What the client sends.
    type Data: ?Sized;
    /// For the log.
    const NAME: &'static str;
    /// Connect and start.
    fn start(
        stack: &mut Stack<'_>,
        handle: SocketHandle,
        ports: &mut EphemeralPorts,
        data: &'d Self::Data,
    ) -> Result<Self, ConnectError>;
    /// What was checked so far (bytes or frames).
    fn checked(&self) -> u64;
}

impl<'d> Job<'d> for EchoClient<'d> {
    type Data = [u8];
    const NAME: &'static str = "echo";
    fn start(
        stack: &mut Stack<'_>,
        handle: SocketHandle,
        ports: &mut EphemeralPorts,
        data: &'d [u8],
    ) -> Result<Self, ConnectError> {
        let server = IpEndpoint::new(ip(0).into(), ports::TCP_ECHO);
        Ok(EchoClient::connect(stack, handle, server, ports, data)?.with_window(BUF))
    }
    fn checked(&self) -> u64 {
        self.received() as u64
    }
}

impl<'d> Job<'d> for FramedEchoClient<'d, Vec<u8>, FRAME_MAX> {
    type Data = [Vec<u8>];
    const NAME: &'static str = "framed";
    fn start(
        stack: &mut Stack<'_>,
        handle: SocketHandle,
        ports: &mut EphemeralPorts,
        data: &'d [Vec<u8>],
    ) -> Result<Self, ConnectError> {
        let server = IpEndpoint::new(ip(0).into(), ports::FRAMED_ECHO);
        Ok(FramedEchoClient::connect(stack, handle, server, ports, data)?.with_window(BUF))
    }
    fn checked(&self) -> u64 {
        FramedEchoClient::checked(self) as u64
    }
}

/// Connect, run the job to its outcome, close; again and again (a second after a refusal or a
/// failure).
struct Repeat<'d, J: Job<'d>> {
    handle: SocketHandle,
    data: &'d J::Data,
    attempt: Retry<J>,
    ok: u64,
    failed: u64,
    /// Bytes (echo) or frames (framed) checked, over all runs.
    checked: u64,
}

impl<'d, J: Job<'d>> Repeat<'d, J> {
    fn new(handle: SocketHandle, data: &'d J::Data) -> Self {
        Repeat {
            handle,
            data,
            attempt: Retry::new(Duration::from_secs(1)),
            ok: 0,
            failed: 0,
            checked: 0,
        }
    }

    /// Connections refused (the server's pool was full), each retried a second later.
    fn refused(&self) -> u64 {
        u64::from(self.attempt.refusals())
    }

    fn poll(&mut self, host: &mut SimHost<'_, '_>, ports: &mut EphemeralPorts) -> bool {
        let (handle, data) = (self.handle, self.data);
        let retry_at = host.now() + Duration::from_secs(1);
        let progress = match self
            .attempt
            .poll(host, |stack| J::start(stack, handle, ports, data))
        {
            Ok(progress) => progress,
            Err(e) => {
                log::warn!("{} connect: {e}", J::NAME);
                self.attempt.pause_until(host, retry_at);
                return false;
            }
        };
        let Some(outcome) = self.attempt.outcome() else {
            return progress;
        };
        if let Some(client) = self.attempt.take() {
            self.checked += client.checked();
        }
        let failure = match outcome {
            Ok(Verdict::Verified) => None,
            Ok(verdict) => Some(verdict.to_string()),
            Err(e) => Some(e.to_string()),
        };
        match failure {
            None => self.ok += 1,
            Some(why) => {
                log::info!("{} client: {why}", J::NAME);
                self.failed += 1;
                self.attempt.pause_until(host, retry_at);
            }
        }
        progress
    }
}

/// One numbered datagram to the UDP echo every 100 ms; counts the replies.
struct UdpLoop {
    udp: UdpClient,
    next_at: Instant,
    seq: u32,
    sent: u64,
    replies: u64,
}

impl UdpLoop {
    fn poll(&mut self, stack: &mut Stack<'_>, now: Instant) -> bool {
        let mut progress = false;
        if now >= self.next_at {
            let msg = format!("datagram {:010}", self.seq);
            let to = IpEndpoint::new(ip(0).into(), ports::UDP_ECHO);
            if self.udp.send_to(stack, msg.as_bytes(), to).is_ok() {
                self.seq += 1;
                self.sent += 1;
                progress = true;
            }
            self.next_at = now + Duration::from_millis(100);
        }
        let mut buf = [0u8; 64];
        while let Ok(Some((n, _))) = self.udp.recv_from(stack, &mut buf) {
            if buf[..n].starts_with(b"DATAGRAM ") {
                self.replies += 1;
            }
            progress = true;
        }
        progress
    }
}
