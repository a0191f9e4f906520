//! The lesson's servers on a TAP interface: the library's services, assembled, nothing more.

use std::boxed::Box;
use std::fmt;
use std::path::PathBuf;
use std::string::{String, ToString};
use std::sync::atomic::AtomicBool;
use std::time::SystemTime;
use std::vec::Vec;

use smoltcp::iface::SocketStorage;
use smoltcp::phy::{Device, FaultInjector, PcapMode, PcapWriter};
use smoltcp::time::Duration;
use smoltcp::wire::{EthernetAddress, IpCidr, IpEndpoint, Ipv4Address, Ipv4Cidr};

use super::{HostLoop, PcapFile, Stopped, TapDevice, TapError, TapStats};
use crate::clock::StdClock;
use crate::event_loop::Work;
use crate::guard::GuardStats;
use crate::service::{
    ports, ChatServer, FramedEchoStats, LessonServers, Service, UdpEchoStats, UdpSinkStats,
};
use crate::storage::{TcpStorage, UdpLaneStorage, UdpStorage};
use crate::tcp::{PoolConfig, PoolStats};
use crate::{Stack, StackConfig};

/// Most sockets in each TCP echo pool (upper-case and framed).
pub const MAX_POOL: usize = 16;

/// Largest frame payload the framed echo accepts; a header announcing more resets that
/// connection.
pub const MAX_FRAME: usize = 4096;

/// The buffer sizes an echo socket (upper-case or framed) can have, bytes each way
/// ([`ServerConfig::tcp_buffer`]). The receive buffer is the largest window smoltcp offers;
/// over 65 535 bytes smoltcp scales the window (RFC 7323), so a fast peer keeps more in flight.
pub const TCP_BUFFERS: [usize; 3] = [65536, 262144, 1048576];
/// Chat connections carry short lines.
type ChatStorage = TcpStorage<4096, 4096>;
/// Sockets of the chat pool (one listens at a time, as in the lesson).
const CHAT_POOL: usize = 4;
/// Largest UDP payload on a 1500-byte MTU.
const UDP_MAX: usize = 1472;
type UdpBuffers = UdpStorage<64, 65536>;
/// Replies to one peer whose ARP is pending at a time ([`crate::udp::ResolveLane`]).
type UdpLane = UdpLaneStorage<8, { 8 * UDP_MAX }>;
/// smoltcp reads every frame the kernel has queued before the services run, so a burst of
/// datagrams must fit in the socket's buffer or the rest is dropped (UDP promises no more).
/// The sink, which only receives, takes bursts of up to 256 datagrams.
type SinkBuffers = UdpStorage<256, 262144>;

/// smolsock's default static IPv6 address on the TAP interface, fd00:69::1 (a unique local
/// address, the IPv6 counterpart of 192.168.69.1; the kernel side is fd00:69::100).
#[cfg(feature = "ipv6")]
pub const DEFAULT_IPV6: smoltcp::wire::Ipv6Address =
    smoltcp::wire::Ipv6Address::new(0xfd00, 0x69, 0, 0, 0, 0, 0, 1);

/// Who types the chat server's replies: `(client, line, reply buffer) -> reply length`.
pub type ChatOperator = Box<dyn FnMut(IpEndpoint, &[u8], &mut [u8]) -> usize + Send>;

/// How a [`TapServer`] is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The TAP interface (it must exist in the current network namespace).
    pub iface: String,
    /// smolsock's address on it.
    pub address: Ipv4Cidr,
    /// smolsock's MAC address (must differ from the kernel side's).
    pub mac: EthernetAddress,
    /// Default gateway, to answer clients outside the subnet.
    pub gateway: Option<Ipv4Address>,
    /// smolsock's static IPv6 address, beside IPv4 and the link-local address it forms from
    /// `mac` (feature `ipv6`). `None`: link-local only (and SLAAC, if on).
    #[cfg(feature = "ipv6")]
    pub ipv6: Option<smoltcp::wire::Ipv6Cidr>,
    /// Take IPv6 addresses from router advertisements (SLAAC; feature `ipv6`).
    #[cfg(feature = "ipv6")]
    pub slaac: bool,
    /// Sockets in each TCP echo pool (1..=[`MAX_POOL`]): connections served at once per port.
    pub pool: usize,
    /// Sockets of the pool waiting in LISTEN at once (1..=`pool`).
    pub backlog: usize,
    /// Write every frame in and out to this libpcap file.
    pub pcap: Option<PathBuf>,
    /// Percentage of frames dropped, each way (smoltcp's `FaultInjector`). With faults the
    /// TAP device runs without offloads ([`TapDevice::open_plain`]).
    pub drop_pct: u8,
    /// Percentage of frames with one bit flipped, each way.
    pub corrupt_pct: u8,
    /// Seed for TCP sequence numbers and the fault injector.
    pub seed: u64,
    /// Longest single sleep; bounds how long a stop flag set by another thread goes unseen.
    /// `None`: sleep until a frame or a timer (Ctrl-C still interrupts the sleep).
    pub max_wait: Option<Duration>,
    /// Hostile-peer limits of the two echo pools: `handshake_timeout`, `idle_timeout`,
    /// `send_timeout`, `evict_idle_after` of [`PoolConfig`] (port and backlog are set per
    /// pool). Defaults: [`PoolConfig::new`]'s (10 s, 300 s, 300 s, 10 s). The chat uses
    /// [`PoolConfig::interactive`].
    pub limits: PoolConfig,
    /// Receive and send buffer of each echo socket, bytes each way: one of [`TCP_BUFFERS`]
    /// (another value is taken as the next larger one, or the largest). Default 262 144: with
    /// 65 536 the upper-case echo is bound by its window (each direction waits for the other's
    /// ACKs) and moves about 0.7× what the kernel's own echo does (`benches/tap.rs`); from 256
    /// KiB it keeps up. Memory: `2 × pool × 2 × tcp_buffer` bytes (8 MiB with the default pool). (An unoptimised build builds each socket's
    /// buffers on the stack before moving them to the heap: give the thread that runs the server
    /// a stack of a few times `2 × tcp_buffer`; the main thread's 8 MiB is enough.)
    pub tcp_buffer: usize,
    /// How long smoltcp may hold back the ACK of received data, on every TCP socket of the
    /// server (`None`: ACK in the next poll). Default: smoltcp's, 10 ms. smoltcp ACKs at once
    /// anyway when more than one segment is unacknowledged.
    pub ack_delay: Option<Duration>,
    /// `Some(max)`: take the address, gateway and DNS servers from a DHCP server instead of
    /// `address` and `gateway`, accepting leases of at most `max` (`None`: as long as the
    /// server offers). `None`: the static `address` (feature `dhcp`).
    #[cfg(feature = "dhcp")]
    pub dhcp: Option<Option<Duration>>,
}

impl ServerConfig {
    /// The lesson's defaults on `iface`: 192.168.69.1/24 (and fd00:69::1/64 with the `ipv6`
    /// feature), MAC 02:00:00:00:00:01, pool 8, backlog 4, no capture, no faults.
    pub fn new(iface: &str) -> Self {
        ServerConfig {
            iface: iface.to_string(),
            address: Ipv4Cidr::new(Ipv4Address::new(192, 168, 69, 1), 24),
            mac: EthernetAddress([0x02, 0, 0, 0, 0, 0x01]),
            gateway: None,
            #[cfg(feature = "ipv6")]
            ipv6: Some(smoltcp::wire::Ipv6Cidr::new(DEFAULT_IPV6, 64)),
            #[cfg(feature = "ipv6")]
            slaac: false,
            pool: 8,
            backlog: 4,
            pcap: None,
            drop_pct: 0,
            corrupt_pct: 0,
            seed: crate::clock::seed_from_time(),
            max_wait: None,
            limits: PoolConfig::new(0, 0),
            tcp_buffer: TCP_BUFFERS[1],
            ack_delay: Some(ACK_DELAY_DEFAULT),
            #[cfg(feature = "dhcp")]
            dhcp: None,
        }
    }
}

/// smoltcp's default ACK delay ([`ServerConfig::ack_delay`]).
pub const ACK_DELAY_DEFAULT: Duration = Duration::from_millis(10);

/// What a [`TapServer`] did, when it stops.
#[derive(Debug, Clone, Copy)]
pub struct ServerReport {
    /// Why it stopped.
    pub stopped: Stopped,
    /// TCP upper-case echo (port 8000).
    pub echo: PoolStats,
    /// Framed upper-case echo (port 9000): its connections.
    pub framed: PoolStats,
    /// Framed upper-case echo: frames echoed, connections reset for a bad frame.
    pub frames: FramedEchoStats,
    /// Chat (port 8080), when it ran.
    pub chat: Option<PoolStats>,
    /// UDP echo (port 8848).
    pub udp_echo: UdpEchoStats,
    /// UDP sink (port 8888).
    pub sink: UdpSinkStats,
    /// What the ingress guard stopped (late SYNs, SYN flood, blind RSTs).
    pub guard: GuardStats,
    /// The IPv4 address in force when the report was made (`None`: none yet, waiting for a
    /// DHCP lease).
    pub address: Option<Ipv4Cidr>,
    /// The DHCP client's counters, when it runs.
    #[cfg(feature = "dhcp")]
    pub dhcp: Option<crate::dhcp::DhcpStats>,
    /// The TAP device.
    pub tap: TapStats,
}

impl fmt::Display for ServerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pool = |f: &mut fmt::Formatter<'_>, name: &str, s: &PoolStats| {
            writeln!(
                f,
                "  {name}: {} accepted, {} closed, {} reset ({} idle, {} not reading, {} \
                 evicted), pool exhausted {} times",
                s.accepted,
                s.closed,
                s.reset,
                s.idle_timeouts,
                s.send_timeouts,
                s.evicted,
                s.exhausted
            )
        };
        writeln!(f, "smolsock served:")?;
        pool(f, "TCP echo :8000", &self.echo)?;
        pool(f, "framed   :9000", &self.framed)?;
        writeln!(
            f,
            "           frames: {} echoed, {} connections reset for a bad frame, {} closed \
             mid-frame",
            self.frames.frames, self.frames.bad_frames, self.frames.truncated
        )?;
        if let Some(chat) = &self.chat {
            pool(f, "chat     :8080", chat)?;
        }
        writeln!(
            f,
            "  UDP echo :8848: {} datagrams answered, {} bytes ({} too large, {} dropped \
             unsent: ARP never answered, {} not from a peer address)",
            self.udp_echo.datagrams,
            self.udp_echo.bytes,
            self.udp_echo.too_large,
            self.udp_echo.dropped_unsent,
            self.udp_echo.unanswerable
        )?;
        writeln!(
            f,
            "  UDP sink :8888: {} datagrams, {} bytes",
            self.sink.datagrams, self.sink.bytes
        )?;
        writeln!(
            f,
            "  guard: {} half-open connections given to newer SYNs, {} late SYNs dropped, {} \
             RSTs challenged, {} dropped",
            self.guard.half_open_recycled,
            self.guard.late_syns,
            self.guard.rsts_challenged,
            self.guard.rsts_dropped
        )?;
        match self.address {
            Some(address) => writeln!(f, "  address: {address}")?,
            None => writeln!(f, "  address: none (no DHCP lease)")?,
        }
        #[cfg(feature = "dhcp")]
        if let Some(dhcp) = self.dhcp {
            writeln!(
                f,
                "  dhcp: {} leases taken or changed, {} lost",
                dhcp.configured, dhcp.lost
            )?;
        }
        write!(
            f,
            "  tap: {} frames in ({} bytes), {} out ({} bytes), {} not taken by the kernel, \
             {} connections refused",
            self.tap.rx_frames,
            self.tap.rx_bytes,
            self.tap.tx_frames,
            self.tap.tx_bytes,
            self.tap.tx_errors,
            self.tap.refused
        )
    }
}

/// The lesson's services on a TAP interface: TCP upper-case echo on 8000 (with a backlog),
/// framed upper-case echo on 9000 (4-byte big-endian length frames), UDP upper-case echo on
/// 8848, UDP sink on 8888, and the chat on 8080 when an operator is given.
///
/// ```no_run
/// # use std::sync::atomic::AtomicBool;
/// use smolsock::tap::{ServerConfig, TapServer};
/// let stop = AtomicBool::new(false);
/// let server = TapServer::open(ServerConfig::new("tap0"))?; // errors explain the fix
/// let report = server.run(&stop, None)?;
/// println!("{report}");
/// # Ok::<(), smolsock::tap::TapError>(())
/// ```
#[derive(Debug)]
pub struct TapServer {
    config: ServerConfig,
    device: TapDevice,
    pcap: Option<PcapFile>,
    clock: StdClock,
}

impl TapServer {
    /// Attach to the interface and create the capture file; serving starts with
    /// [`run`](Self::run). Once this returns, frames sent to the interface are queued for us.
    pub fn open(mut config: ServerConfig) -> Result<Self, TapError> {
        config.pool = config.pool.clamp(1, MAX_POOL);
        config.backlog = config.backlog.clamp(1, config.pool);
        config.drop_pct = config.drop_pct.min(100);
        config.corrupt_pct = config.corrupt_pct.min(100);
        config.tcp_buffer = TCP_BUFFERS
            .into_iter()
            .find(|&size| size >= config.tcp_buffer)
            .unwrap_or(TCP_BUFFERS[TCP_BUFFERS.len() - 1]);
        // With faults, the plain device: one frame per read and write, each one the injector
        // saw (it drops frames over 1536 bytes, so a device taking larger ones stays out).
        let mut device = if config.drop_pct > 0 || config.corrupt_pct > 0 {
            TapDevice::open_plain(&config.iface)?
        } else {
            TapDevice::open(&config.iface)?
        };
        // A capture shows complete checksums, as on a wire (`checksum.rs`).
        if config.pcap.is_some() {
            device.set_tcp_checksum_offload(false);
        }
        let clock = StdClock::new();
        let pcap = match &config.pcap {
            Some(path) => Some(
                PcapFile::create(path)
                    .map_err(|source| TapError::Pcap {
                        path: path.display().to_string(),
                        source,
                    })?
                    .live(SystemTime::now()),
            ),
            None => None,
        };
        Ok(TapServer {
            config,
            device,
            pcap,
            clock,
        })
    }

    /// The configuration in force (pool and backlog clamped to what is possible).
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Serve until `stop` is set (or the device fails). `chat`: serve port 8080 with this
    /// operator typing the replies.
    pub fn run(
        self,
        stop: &AtomicBool,
        chat: Option<ChatOperator>,
    ) -> Result<ServerReport, TapError> {
        self.run_observed(stop, chat, |_| {})
    }

    /// [`run`](Self::run), showing `observe` the counters after every round in which anything
    /// happened (for a status display, or a test waiting for a connection to finish closing).
    pub fn run_observed(
        self,
        stop: &AtomicBool,
        chat: Option<ChatOperator>,
        observe: impl FnMut(&ServerReport),
    ) -> Result<ServerReport, TapError> {
        let TapServer {
            config,
            device,
            pcap,
            clock,
        } = self;
        let mut host = HostLoop::new(&device)
            .with_clock(clock)
            .stop_on(stop)
            .max_wait(config.max_wait);
        let faulty = config.drop_pct > 0 || config.corrupt_pct > 0;
        // The capture sits next to the TAP descriptor: it shows the wire as the kernel sees it,
        // including frames the fault injector then drops.
        match (pcap, faulty) {
            (None, false) => serve(&config, &mut host, device, chat, observe),
            (None, true) => serve(&config, &mut host, faults(device, &config), chat, observe),
            (Some(pcap), false) => {
                let device = PcapWriter::new(device, pcap, PcapMode::Both);
                serve(&config, &mut host, device, chat, observe)
            }
            (Some(pcap), true) => {
                let device = PcapWriter::new(device, pcap, PcapMode::Both);
                serve(&config, &mut host, faults(device, &config), chat, observe)
            }
        }
    }
}

fn faults<D: Device>(device: D, config: &ServerConfig) -> FaultInjector<D> {
    // xorshift must not start at zero.
    let seed = (config.seed as u32) | 1;
    let mut device = FaultInjector::new(device, seed);
    device.set_drop_chance(config.drop_pct);
    device.set_corrupt_chance(config.corrupt_pct);
    device
}

fn serve<D: Device>(
    config: &ServerConfig,
    host: &mut HostLoop<'_>,
    mut device: D,
    chat: Option<ChatOperator>,
    mut observe: impl FnMut(&ServerReport),
) -> Result<ServerReport, TapError> {
    let chat_pool = if chat.is_some() { CHAT_POOL } else { 0 };
    // The lesson's servers, the chat, and one for the DHCP client.
    let mut sockets: Vec<SocketStorage<'_>> = (0..2 * config.pool + chat_pool + 4)
        .map(|_| SocketStorage::EMPTY)
        .collect();
    // Only the size asked for gets sockets; the other two stay empty.
    let mut small = EchoBuffers::<{ TCP_BUFFERS[0] }>::new(config);
    let mut medium = EchoBuffers::<{ TCP_BUFFERS[1] }>::new(config);
    let mut large = EchoBuffers::<{ TCP_BUFFERS[2] }>::new(config);
    let mut chat_storage: Vec<ChatStorage> = (0..chat_pool).map(|_| ChatStorage::new()).collect();
    let mut udp_echo_storage = Box::new(UdpBuffers::new());
    let mut udp_lane_storage = Box::new(UdpLane::new());
    let mut sink_storage = Box::new(SinkBuffers::new());

    let mut stack_config =
        StackConfig::ethernet(config.mac, IpCidr::Ipv4(config.address)).with_seed(config.seed);
    if let Some(gateway) = config.gateway {
        stack_config = stack_config.with_gateway(gateway);
    }
    #[cfg(feature = "dhcp")]
    if config.dhcp.is_some() {
        stack_config = StackConfig::unaddressed(config.mac).with_seed(config.seed);
    }
    #[cfg(feature = "ipv6")]
    {
        stack_config.ipv6 = config.ipv6;
        stack_config.slaac = config.slaac;
    }
    let mut stack = Stack::new(stack_config, &mut device, &mut sockets[..], host.now());
    #[cfg(feature = "dhcp")]
    let dhcp = match config.dhcp {
        Some(max) => {
            let client = crate::dhcp::DhcpClient::new(&mut stack)?;
            log::info!("dhcp: asking for an address");
            Some(match max {
                Some(max) => client.with_max_lease(&mut stack, max),
                None => client,
            })
        }
        None => None,
    };

    let udp = (&mut *udp_echo_storage, &mut *udp_lane_storage);
    let limits = PoolConfig {
        backlog: config.backlog,
        ..config.limits
    };
    let lesson = Box::new(match config.tcp_buffer {
        size if size == TCP_BUFFERS[1] => medium.lesson(&mut stack, udp, &mut sink_storage, limits),
        size if size == TCP_BUFFERS[2] => large.lesson(&mut stack, udp, &mut sink_storage, limits),
        _ => small.lesson(&mut stack, udp, &mut sink_storage, limits),
    }?);
    let chat = match chat {
        Some(operator) => Some(Chat::new(
            &mut stack,
            chat_storage.iter_mut(),
            PoolConfig::interactive(ports::CHAT, 1),
            operator,
        )?),
        None => None,
    };

    let tcp: Vec<_> = stack
        .sockets()
        .iter()
        .filter(|(_, socket)| matches!(socket, smoltcp::socket::Socket::Tcp(_)))
        .map(|(handle, _)| handle)
        .collect();
    for handle in tcp {
        stack.tcp(handle).set_ack_delay(config.ack_delay);
    }

    log::info!(
        "smolsock on {} at {} ({}): TCP upper-case echo :{} and framed echo :{} (pool {}, \
         backlog {}, frames up to {} bytes), UDP echo :{}, UDP sink :{}{}",
        config.iface,
        stack
            .ipv4_cidr()
            .map_or_else(|| "an address from DHCP".into(), |a| a.to_string()),
        config.mac,
        ports::TCP_ECHO,
        ports::FRAMED_ECHO,
        config.pool,
        config.backlog,
        MAX_FRAME,
        ports::UDP_ECHO,
        ports::UDP_SINK,
        if chat.is_some() { ", chat :8080" } else { "" },
    );
    #[cfg(feature = "ipv6")]
    for cidr in stack.ipv6_cidrs() {
        log::info!("  and at {cidr} (IPv6), every service on both");
    }
    #[cfg(feature = "ipv6")]
    if config.slaac {
        log::info!("  SLAAC: an address from each prefix a router advertises");
    }
    if let Some(path) = &config.pcap {
        log::info!("capturing every frame to {}", path.display());
    }
    if config.drop_pct > 0 || config.corrupt_pct > 0 {
        log::info!(
            "fault injection: {}% of frames dropped, {}% corrupted, each way",
            config.drop_pct,
            config.corrupt_pct
        );
    }

    let mut services = Services {
        lesson,
        chat,
        #[cfg(feature = "dhcp")]
        dhcp,
    };
    let monitor = host.monitor().clone();
    let mut guard = GuardStats::default();
    let mut address = None;
    let stopped = host.run(&mut stack, &mut device, |stack, _now| {
        let progress = services.poll(stack);
        guard = stack.guard_stats();
        address = stack.ipv4_cidr();
        if progress {
            observe(&services.report(Stopped::Requested, monitor.stats(), guard, address));
        }
        Work::from(progress)
    })?;
    Ok(services.report(stopped, monitor.stats(), guard, address))
}

/// Every service of the server, polled together.
struct Services {
    lesson: Box<Lesson>,
    chat: Option<Chat>,
    #[cfg(feature = "dhcp")]
    dhcp: Option<crate::dhcp::DhcpClient>,
}

impl Services {
    fn poll(&mut self, stack: &mut Stack<'_>) -> bool {
        let mut progress = false;
        #[cfg(feature = "dhcp")]
        if let Some(dhcp) = self.dhcp.as_mut() {
            progress |= dhcp.poll(stack);
        }
        progress |= self.lesson.poll(stack);
        if let Some(chat) = self.chat.as_mut() {
            progress |= chat.poll(stack);
        }
        progress
    }

    fn report(
        &mut self,
        stopped: Stopped,
        tap: TapStats,
        guard: GuardStats,
        address: Option<Ipv4Cidr>,
    ) -> ServerReport {
        let lesson = self.lesson.report();
        ServerReport {
            stopped,
            echo: lesson.echo,
            framed: lesson.framed,
            frames: lesson.frames,
            chat: self.chat.as_mut().map(|c| c.pool().stats()),
            udp_echo: lesson.udp_echo,
            sink: lesson.sink,
            guard,
            address,
            #[cfg(feature = "dhcp")]
            dhcp: self.dhcp.as_ref().map(|d| d.stats()),
            tap,
        }
    }
}

/// The echo sockets' buffers for one of the [`TCP_BUFFERS`] sizes: `pool` of each when the
/// configuration asks for `B`, none otherwise.
struct EchoBuffers<const B: usize> {
    echo: Vec<TcpStorage<B, B>>,
    framed: Vec<TcpStorage<B, B>>,
}

impl<const B: usize> EchoBuffers<B> {
    fn new(config: &ServerConfig) -> Self {
        let n = if config.tcp_buffer == B {
            config.pool
        } else {
            0
        };
        EchoBuffers {
            echo: (0..n).map(|_| TcpStorage::new()).collect(),
            framed: (0..n).map(|_| TcpStorage::new()).collect(),
        }
    }

    fn lesson<'a>(
        &'a mut self,
        stack: &mut Stack<'a>,
        udp: (&'a mut UdpBuffers, &'a mut UdpLane),
        sink: &'a mut SinkBuffers,
        limits: PoolConfig,
    ) -> Result<Lesson, crate::service::SetupError> {
        Lesson::new(
            stack,
            (self.echo.iter_mut(), self.framed.iter_mut()),
            udp,
            sink,
            limits,
        )
    }
}

type Chat = ChatServer<ChatOperator, CHAT_POOL>;
/// The lesson's servers with the TAP server's limits.
type Lesson = LessonServers<MAX_POOL, MAX_POOL, MAX_FRAME, UDP_MAX>;
