//! smolsock on a Linux TAP interface: the lesson's servers and clients, talking to the Linux
//! kernel's own sockets (Python's `socket`, `nc`, `socat`, ...).
//!
//! ```text
//! sudo scripts/tap-netns.sh up smolsock                      # namespace + tap0, kernel 192.168.69.100/24
//! sudo ip netns exec smolsock target/release/examples/tap serve [--pcap run.pcap] [--chat]
//! sudo ip netns exec smolsock python3 -c 'import socket; s=socket.create_connection(("192.168.69.1",8000)); s.sendall(b"hello world"); print(s.recv(1024))'
//! sudo ip netns exec smolsock target/release/examples/tap client tcp 192.168.69.100:8000 "hello world"
//! sudo ip netns exec smolsock target/release/examples/tap client framed 192.168.69.100:9000 one two
//! sudo ip netns exec smolsock target/release/examples/tap chat 192.168.69.100:8080
//! ```
//!
//! `serve` runs exactly the library's services (`smolsock::tap::TapServer`); the clients use
//! the library's `EchoClient`, `UdpClient`, `ChatClient` and frame codec on a smolsock stack of
//! their own (a client and `serve` cannot share one TAP interface).
//! Set `RUST_LOG=debug` to see every datagram, `trace` for smoltcp's own log.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration as StdDuration;

use clap::{value_parser, Arg, ArgAction, ArgMatches};
use smolsock::clock::seed_from_time;
use smolsock::event_loop::Work;
use smolsock::frame::{send_frame, Accept, FrameDecoder};
use smolsock::service::{
    ChatClient, ClientError, EchoClient, Mismatch, Service, SubmitError, Submitted, Verdict, BYE,
    EMPTY_REFUSED, PROMPT,
};
use smolsock::smoltcp::iface::SocketStorage;
use smolsock::smoltcp::time::{Duration, Instant};
#[cfg(feature = "ipv6")]
use smolsock::smoltcp::wire::Ipv6Cidr;
use smolsock::smoltcp::wire::{EthernetAddress, IpCidr, IpEndpoint, Ipv4Address, Ipv4Cidr};
use smolsock::storage::{TcpStorage, UdpStorage};
use smolsock::tap::{
    ChatOperator, HostLoop, ServerConfig, TapDevice, TapError, TapServer, MAX_FRAME, MAX_POOL,
};
use smolsock::tcp::{ClientState, EphemeralPorts, TcpClient};
use smolsock::udp::{DatagramTooLarge, UdpClient};
use smolsock::{Error, Stack, StackConfig};

/// What to do: the subcommand and its arguments.
#[derive(Debug)]
enum Command {
    /// `serve`.
    Serve(ServeArgs),
    /// `client tcp|framed|udp`.
    Client { kind: ClientKind },
    /// `chat`.
    Chat { target: IpEndpoint, net: NetArgs },
}

/// `client tcp|framed|udp`.
#[derive(Debug)]
enum ClientKind {
    Tcp {
        target: IpEndpoint,
        message: String,
        net: NetArgs,
        timeout: u64,
    },
    Framed {
        target: IpEndpoint,
        messages: Vec<String>,
        net: NetArgs,
        timeout: u64,
    },
    Udp {
        target: IpEndpoint,
        message: String,
        net: NetArgs,
        timeout: u64,
    },
}

/// smolsock's side of the TAP interface.
#[derive(Debug, Clone)]
struct NetArgs {
    iface: String,
    ip: Ipv4Cidr,
    mac: EthernetAddress,
    gateway: Option<Ipv4Address>,
    /// The static IPv6 address (`None`: link-local only).
    #[cfg(feature = "ipv6")]
    ip6: Option<Ipv6Cidr>,
    /// SLAAC on.
    #[cfg(feature = "ipv6")]
    slaac: bool,
}

/// `serve`'s options.
#[derive(Debug)]
struct ServeArgs {
    net: NetArgs,
    backlog: usize,
    pool: u16,
    pcap: Option<PathBuf>,
    chat: bool,
    drop_rate: u8,
    corrupt_rate: u8,
    seed: Option<u64>,
    /// `Some(max lease in seconds, 0 = the server's)`: take the address from DHCP.
    dhcp: Option<u64>,
    /// Bytes of buffer each way per echo socket.
    tcp_buffer: usize,
    /// Milliseconds smoltcp may delay an ACK (0: none).
    ack_delay: u64,
}

/// Parse the command line, or exit with help or an error. (clap's builder, not its derive
/// macros: the first build of the examples then compiles no `syn`.)
fn parse_command_line() -> Command {
    let target = |example: &str| {
        Arg::new("target")
            .required(true)
            .value_name("IP:PORT")
            .value_parser(parse_target)
            .help(format!(
                "The server, e.g. {example} (IPv6: [fd00:69::100]:PORT, quoted in a shell)"
            ))
    };
    let timeout = |default: &'static str| {
        Arg::new("timeout")
            .long("timeout")
            .value_name("SECONDS")
            .default_value(default)
            .value_parser(value_parser!(u64))
            .help("Give up after this many seconds")
    };
    let message = || Arg::new("message").required(true).help("What to send");
    let serve = with_net_args(
        clap::Command::new("serve")
            .about(
                "Serve TCP upper-case echo :8000, framed echo :9000, UDP upper-case echo :8848, \
                 UDP sink :8888 (and the chat :8080 with --chat) until Ctrl-C",
            )
            .arg(
                Arg::new("backlog")
                    .long("backlog")
                    .value_name("N")
                    .default_value("4")
                    .value_parser(value_parser!(usize))
                    .help(
                        "Sockets of each TCP pool waiting in LISTEN at once (the lesson's \
                         `listen(N)`); 0 is taken as 1 and more than --pool as --pool, with a note",
                    ),
            )
            .arg(
                Arg::new("pool")
                    .long("pool")
                    .value_name("N")
                    .default_value("8")
                    .value_parser(value_parser!(u16).range(1..=MAX_POOL as i64))
                    .help(
                        "Sockets in each TCP echo pool (8000, 9000): connections served at \
                         once; more are refused (RST)",
                    ),
            )
            .arg(
                Arg::new("tcp_buffer")
                    .long("tcp-buffer")
                    .value_name("BYTES")
                    .default_value("262144")
                    .value_parser(["65536", "262144", "1048576"])
                    .help(
                        "Buffer of each echo socket, each way; over 65536 the window scales \
                         (memory: 4 × --pool × BYTES)",
                    ),
            )
            .arg(
                Arg::new("ack_delay")
                    .long("ack-delay")
                    .value_name("MS")
                    .default_value("10")
                    .value_parser(value_parser!(u64).range(0..=1000))
                    .help("How long smoltcp may delay an ACK (0: none; smoltcp's default 10)"),
            )
            .arg(
                Arg::new("pcap")
                    .long("pcap")
                    .value_name("FILE")
                    .value_parser(value_parser!(PathBuf))
                    .help(
                        "Write every frame in and out to this libpcap file (read it with \
                         `tshark -r FILE -d udp.port==8848,data`)",
                    ),
            )
            .arg(
                Arg::new("dhcp")
                    .long("dhcp")
                    .action(ArgAction::SetTrue)
                    .help(
                        "Take the address, gateway and DNS servers from a DHCP server instead of \
                         --ip and --gateway; renew, and keep serving when the lease changes",
                    ),
            )
            .arg(
                Arg::new("dhcp_max_lease")
                    .long("dhcp-max-lease")
                    .value_name("SECONDS")
                    .value_parser(value_parser!(u64).range(4..))
                    .requires("dhcp")
                    .help("Accept leases of at most this long (renewed at half of it)"),
            )
            .arg(
                Arg::new("chat")
                    .long("chat")
                    .action(ArgAction::SetTrue)
                    .help("Also serve the chat on :8080; you type the replies"),
            )
            .arg(
                Arg::new("drop_rate")
                    .long("drop-rate")
                    .value_name("PCT")
                    .default_value("0")
                    .value_parser(value_parser!(u8).range(0..=100))
                    .help("Drop this percentage of frames, each way (smoltcp's FaultInjector)"),
            )
            .arg(
                Arg::new("corrupt_rate")
                    .long("corrupt-rate")
                    .value_name("PCT")
                    .default_value("0")
                    .value_parser(value_parser!(u8).range(0..=100))
                    .help("Flip one bit in this percentage of frames, each way"),
            )
            .arg(
                Arg::new("seed")
                    .long("seed")
                    .value_name("N")
                    .value_parser(value_parser!(u64))
                    .help("Seed for sequence numbers and faults (default: from the clock)"),
            ),
    );
    let client = clap::Command::new("client")
        .about("One request from a smolsock client to any host, then exit")
        .subcommand_required(true)
        .subcommand(with_net_args(
            clap::Command::new("tcp")
                .about(
                    "Send MESSAGE to an upper-case echo server and print the reply (every byte \
                     is checked)",
                )
                .arg(target("192.168.69.100:8000"))
                .arg(message())
                .arg(timeout("10")),
        ))
        .subcommand(with_net_args(
            clap::Command::new("framed")
                .about(
                    "Send each MESSAGE as one frame (4-byte big-endian length, then the bytes) \
                     and print each frame that comes back",
                )
                .arg(target("192.168.69.1:9000 or 192.168.69.100:9000"))
                .arg(
                    Arg::new("messages")
                        .value_name("MESSAGE")
                        .required(true)
                        .num_args(1..)
                        .help("The messages, one frame each"),
                )
                .arg(timeout("10")),
        ))
        .subcommand(with_net_args(
            clap::Command::new("udp")
                .about("Send MESSAGE as one datagram and print the reply datagram")
                .arg(target("192.168.69.100:8848"))
                .arg(message())
                .arg(timeout("5")),
        ));
    let chat = with_net_args(
        clap::Command::new("chat")
            .about(
                "Interactive chat with a line server (the lesson's program 4): an empty line is \
                 refused, `yes` or the end of input quits",
            )
            .arg(target("192.168.69.100:8080")),
    );
    let m = clap::Command::new("tap")
        .version(env!("CARGO_PKG_VERSION"))
        .about(
            "smolsock on a Linux TAP interface: the lesson's servers (serve) and clients (client, \
             chat), talking to the kernel's own sockets",
        )
        .subcommand_required(true)
        .subcommands([serve, client, chat])
        .get_matches();

    let target = |m: &ArgMatches| *m.get_one::<IpEndpoint>("target").expect("required");
    let timeout = |m: &ArgMatches| *m.get_one::<u64>("timeout").expect("has a default");
    let message = |m: &ArgMatches| m.get_one::<String>("message").expect("required").clone();
    match m.subcommand() {
        Some(("serve", m)) => Command::Serve(ServeArgs {
            net: net_args(m),
            backlog: *m.get_one("backlog").expect("has a default"),
            pool: *m.get_one("pool").expect("has a default"),
            pcap: m.get_one::<PathBuf>("pcap").cloned(),
            chat: m.get_flag("chat"),
            drop_rate: *m.get_one("drop_rate").expect("has a default"),
            corrupt_rate: *m.get_one("corrupt_rate").expect("has a default"),
            seed: m.get_one::<u64>("seed").copied(),
            dhcp: m
                .get_flag("dhcp")
                .then(|| m.get_one::<u64>("dhcp_max_lease").copied().unwrap_or(0)),
            tcp_buffer: m
                .get_one::<String>("tcp_buffer")
                .and_then(|b| b.parse().ok())
                .expect("one of the listed sizes"),
            ack_delay: *m.get_one("ack_delay").expect("has a default"),
        }),
        Some(("client", m)) => Command::Client {
            kind: match m.subcommand() {
                Some(("tcp", m)) => ClientKind::Tcp {
                    target: target(m),
                    message: message(m),
                    net: net_args(m),
                    timeout: timeout(m),
                },
                Some(("framed", m)) => ClientKind::Framed {
                    target: target(m),
                    messages: m
                        .get_many::<String>("messages")
                        .expect("required")
                        .cloned()
                        .collect(),
                    net: net_args(m),
                    timeout: timeout(m),
                },
                Some(("udp", m)) => ClientKind::Udp {
                    target: target(m),
                    message: message(m),
                    net: net_args(m),
                    timeout: timeout(m),
                },
                _ => unreachable!("clap requires a client kind"),
            },
        },
        Some(("chat", m)) => Command::Chat {
            target: target(m),
            net: net_args(m),
        },
        _ => unreachable!("clap requires a subcommand"),
    }
}

/// The options of smolsock's side of the TAP interface, for every subcommand.
fn with_net_args(command: clap::Command) -> clap::Command {
    let command = command
        .arg(
            Arg::new("iface")
                .long("iface")
                .value_name("NAME")
                .default_value("tap0")
                .help("The TAP interface (it must exist: see scripts/tap-netns.sh)"),
        )
        .arg(
            Arg::new("ip")
                .long("ip")
                .value_name("IPV4/PREFIX")
                .default_value("192.168.69.1/24")
                .value_parser(parse_cidr)
                .help("smolsock's address and prefix"),
        )
        .arg(
            Arg::new("mac")
                .long("mac")
                .value_name("MAC")
                .default_value("02:00:00:00:00:01")
                .value_parser(parse_mac)
                .help("smolsock's MAC address (not the kernel side's)"),
        )
        .arg(
            Arg::new("gateway")
                .long("gateway")
                .value_name("IPV4")
                .value_parser(value_parser!(Ipv4Address))
                .help("Default gateway, for peers outside the subnet"),
        );
    #[cfg(feature = "ipv6")]
    let command = command
        .arg(
            Arg::new("ip6")
                .long("ip6")
                .value_name("IPV6/PREFIX|none")
                .default_value("fd00:69::1/64")
                .value_parser(parse_cidr6)
                .help(
                    "smolsock's static IPv6 address, beside IPv4 and the link-local address \
                     it forms from its MAC (`none`: link-local only)",
                ),
        )
        .arg(
            Arg::new("slaac")
                .long("slaac")
                .action(ArgAction::SetTrue)
                .help("Take IPv6 addresses from router advertisements (SLAAC)"),
        );
    command
}

/// What [`with_net_args`] parsed.
fn net_args(m: &ArgMatches) -> NetArgs {
    NetArgs {
        iface: m.get_one::<String>("iface").expect("has a default").clone(),
        ip: *m.get_one("ip").expect("has a default"),
        mac: *m.get_one("mac").expect("has a default"),
        gateway: m.get_one::<Ipv4Address>("gateway").copied(),
        #[cfg(feature = "ipv6")]
        ip6: m
            .get_one::<Option<Ipv6Cidr>>("ip6")
            .copied()
            .expect("has a default"),
        #[cfg(feature = "ipv6")]
        slaac: m.get_flag("slaac"),
    }
}

#[cfg(feature = "ipv6")]
fn parse_cidr6(s: &str) -> Result<Option<Ipv6Cidr>, String> {
    if s == "none" {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|()| {
        format!("{s:?} is not an IPv6 address with a prefix, like fd00:69::1/64, nor `none`")
    })
}

fn parse_cidr(s: &str) -> Result<Ipv4Cidr, String> {
    s.parse()
        .map_err(|()| format!("{s:?} is not an IPv4 address with a prefix, like 192.168.69.1/24"))
}

fn parse_mac(s: &str) -> Result<EthernetAddress, String> {
    s.parse()
        .map_err(|()| format!("{s:?} is not a MAC address, like 02:00:00:00:00:01"))
}

fn parse_target(s: &str) -> Result<IpEndpoint, String> {
    let addr: SocketAddr = s.parse().map_err(|_| {
        format!(
            "{s:?} is not IPV4:PORT or [IPV6]:PORT, like 192.168.69.100:8000 or \
             [fd00:69::100]:8000 (no DNS here)"
        )
    })?;
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) => v4.into(),
        #[cfg(feature = "ipv6")]
        std::net::IpAddr::V6(v6) => v6.into(),
        #[cfg(not(feature = "ipv6"))]
        std::net::IpAddr::V6(_) => return Err("built without the `ipv6` feature".into()),
    };
    Ok(IpEndpoint::new(ip, addr.port()))
}

/// Set by SIGINT/SIGTERM; the wait in the event loop is interrupted and the loop stops.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn install_signal_handlers() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe. No
        // SA_RESTART: `select` returns EINTR so the loop sees the flag at once.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// What went wrong, for the exit message.
#[derive(Debug)]
enum Failure {
    Tap(TapError),
    Stack(Error),
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Tap(e) => write!(f, "{e}"),
            Failure::Stack(e) => write!(f, "{e}"),
            Failure::Other(e) => f.write_str(e),
        }
    }
}

impl From<TapError> for Failure {
    fn from(e: TapError) -> Self {
        Failure::Tap(e)
    }
}

/// Each operation's error, carried through smolsock's umbrella [`Error`].
macro_rules! stack_failure {
    ($($src:ty),* $(,)?) => {
        $(impl From<$src> for Failure {
            fn from(e: $src) -> Self {
                Failure::Stack(e.into())
            }
        })*
    };
}

stack_failure! {
    Error,
    smolsock::stack::SocketStorageFull,
    smolsock::tcp::ConnectError,
    smolsock::udp::BindError,
    smolsock::udp::DatagramTooLarge,
    smolsock::smoltcp::socket::udp::SendError,
}

fn main() -> ExitCode {
    let command = parse_command_line();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    install_signal_handlers();
    let result = check_address(command.net()).and_then(|()| run(command));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

impl Command {
    /// smolsock's side of the interface, whatever the subcommand.
    fn net(&self) -> &NetArgs {
        match self {
            Command::Serve(ServeArgs { net, .. })
            | Command::Chat { net, .. }
            | Command::Client {
                kind:
                    ClientKind::Tcp { net, .. }
                    | ClientKind::Framed { net, .. }
                    | ClientKind::Udp { net, .. },
            } => net,
        }
    }
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Serve(args) => serve(args),
        Command::Client {
            kind:
                ClientKind::Tcp {
                    target,
                    message,
                    net,
                    timeout,
                },
        } => client_tcp(&net, target, &message, timeout),
        Command::Client {
            kind:
                ClientKind::Udp {
                    target,
                    message,
                    net,
                    timeout,
                },
        } => client_udp(&net, target, &message, timeout),
        Command::Client {
            kind:
                ClientKind::Framed {
                    target,
                    messages,
                    net,
                    timeout,
                },
        } => client_framed(&net, target, &messages, timeout),
        Command::Chat { target, net } => chat(&net, target),
    }
}

// ---- serve ----

fn serve(args: ServeArgs) -> Result<(), Failure> {
    let pool = usize::from(args.pool);
    if args.backlog == 0 {
        eprintln!("note: --backlog 0 is taken as 1: one socket listens at a time");
    } else if args.backlog > pool {
        eprintln!(
            "note: --backlog {} is more than --pool {pool}: all {pool} sockets listen",
            args.backlog
        );
    }
    let mut config = ServerConfig::new(&args.net.iface);
    config.address = args.net.ip;
    config.mac = args.net.mac;
    config.gateway = args.net.gateway;
    #[cfg(feature = "ipv6")]
    {
        config.ipv6 = args.net.ip6;
        config.slaac = args.net.slaac;
    }
    config.pool = usize::from(args.pool);
    config.backlog = args.backlog;
    config.pcap = args.pcap;
    config.drop_pct = args.drop_rate;
    config.corrupt_pct = args.corrupt_rate;
    config.tcp_buffer = args.tcp_buffer;
    config.ack_delay = (args.ack_delay > 0).then(|| Duration::from_millis(args.ack_delay));
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    #[cfg(feature = "dhcp")]
    {
        config.dhcp = args
            .dhcp
            .map(|max| (max > 0).then(|| Duration::from_secs(max)));
    }
    #[cfg(not(feature = "dhcp"))]
    if args.dhcp.is_some() {
        return Err(Failure::Other(
            "--dhcp needs the `dhcp` feature (on by default)".into(),
        ));
    }
    let server = TapServer::open(config)?;
    let operator = args.chat.then(|| {
        println!("chat on :8080: type a reply to each line a client sends");
        stdin_operator(stdin_lines())
    });
    let report = server.run(&STOP, operator)?;
    eprintln!("{report}");
    Ok(())
}

/// Check smolsock's address before anything opens the interface (for every subcommand).
fn check_address(net: &NetArgs) -> Result<(), Failure> {
    check_own_address(net)?;
    check_against_kernel(net)
}

/// Refuse an address no host may have: its subnet's network or broadcast address.
fn check_own_address(net: &NetArgs) -> Result<(), Failure> {
    let (ip, subnet) = (net.ip.address(), net.ip.network());
    if net.ip.prefix_len() < 31 {
        let what = if ip == subnet.address() {
            Some("network")
        } else if Some(ip) == net.ip.broadcast() {
            Some("broadcast")
        } else {
            None
        };
        if let Some(what) = what {
            return Err(Failure::Other(format!(
                "--ip {}: {ip} is the {what} address of {subnet}, which no host may have; pick \
                 another, like 192.168.69.1/24",
                net.ip
            )));
        }
    }
    Ok(())
}

/// Compare smolsock's address with the kernel's own on the interface: the same address is
/// refused (two hosts answering ARP for one address), another subnet gets a warning (the
/// kernel would have no route to smolsock). A missing interface has no addresses: opening it
/// then says what to do.
fn check_against_kernel(net: &NetArgs) -> Result<(), Failure> {
    let kernel = kernel_addresses(&net.iface);
    let ip = net.ip.address();
    if let Some(k) = kernel.iter().find(|k| k.address() == ip) {
        return Err(Failure::Other(format!(
            "--ip {}: {ip} is the kernel's own address on {} ({k}); smolsock needs an address \
             of its own in that subnet, like {}",
            net.ip,
            net.iface,
            example_neighbour(k)
        )));
    }
    if !kernel.is_empty() && !kernel.iter().any(|k| k.contains_addr(&ip)) {
        let list: Vec<String> = kernel.iter().map(|k| k.to_string()).collect();
        eprintln!(
            "warning: --ip {}: the kernel's side of {} is {} and {ip} is outside it, so the \
             kernel has no route to smolsock; pick an address inside, like {}",
            net.ip,
            net.iface,
            list.join(", "),
            example_neighbour(&kernel[0])
        );
    }
    Ok(())
}

/// An address in `kernel`'s subnet that is neither the kernel's nor special.
fn example_neighbour(kernel: &Ipv4Cidr) -> Ipv4Cidr {
    let base = u32::from(kernel.network().address());
    let pick = if u32::from(kernel.address()) == base + 1 {
        base + 2
    } else {
        base + 1
    };
    Ipv4Cidr::new(Ipv4Address::from(pick), kernel.prefix_len())
}

/// The kernel's IPv4 addresses (with their prefixes) on interface `name`, in this namespace.
fn kernel_addresses(name: &str) -> Vec<Ipv4Cidr> {
    let mut found = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs hands out a linked list that is only read here, then freed once.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return found;
        }
        let mut cur = list;
        while let Some(ifa) = cur.as_ref() {
            cur = ifa.ifa_next;
            if ifa.ifa_addr.is_null()
                || ifa.ifa_netmask.is_null()
                || i32::from((*ifa.ifa_addr).sa_family) != libc::AF_INET
                || std::ffi::CStr::from_ptr(ifa.ifa_name).to_bytes() != name.as_bytes()
            {
                continue;
            }
            let addr = &*(ifa.ifa_addr as *const libc::sockaddr_in);
            let mask = &*(ifa.ifa_netmask as *const libc::sockaddr_in);
            let ip = Ipv4Address::from(u32::from_be(addr.sin_addr.s_addr));
            let prefix = u32::from_be(mask.sin_addr.s_addr).count_ones() as u8;
            found.push(Ipv4Cidr::new(ip, prefix));
        }
        libc::freeifaddrs(list);
    }
    found
}

/// The lesson's chat operator: show the client's line, reply with the line typed at the
/// terminal (an empty line is refused: type something). Like the lesson's blocking `input()`, the stack waits while the operator types.
fn stdin_operator(lines: Receiver<String>) -> ChatOperator {
    Box::new(move |from, line, reply| {
        println!("{from} says: {}", String::from_utf8_lossy(line));
        print!("reply> ");
        std::io::stdout().flush().ok();
        let text = loop {
            match lines.recv_timeout(StdDuration::from_millis(100)) {
                // As the chat client refuses an empty line, so does the operator's side.
                Ok(text) if text.trim().is_empty() => {
                    print!("empty reply refused: type a reply (the client waits for one)\nreply> ");
                    std::io::stdout().flush().ok();
                }
                Ok(text) => break text,
                Err(RecvTimeoutError::Timeout) if !STOP.load(Ordering::Relaxed) => continue,
                Err(RecvTimeoutError::Timeout) => break "(the server is shutting down)".into(),
                Err(RecvTimeoutError::Disconnected) => break "(the operator has left)".into(),
            }
        };
        let n = text.len().min(reply.len());
        reply[..n].copy_from_slice(&text.as_bytes()[..n]);
        n
    })
}

/// Lines typed at the terminal, read by a thread so the event loop never blocks on them.
/// The channel closes at the end of input.
fn stdin_lines() -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

// ---- clients ----

/// A client's own smolsock stack on the TAP interface.
fn client_stack<'a>(
    net: &NetArgs,
    device: &mut TapDevice,
    sockets: &'a mut [SocketStorage<'a>],
    now: Instant,
) -> Stack<'a> {
    let mut config =
        StackConfig::ethernet(net.mac, IpCidr::Ipv4(net.ip)).with_seed(seed_from_time());
    if let Some(gateway) = net.gateway {
        config = config.with_gateway(gateway);
    }
    #[cfg(feature = "ipv6")]
    {
        config.ipv6 = net.ip6;
        config.slaac = net.slaac;
    }
    Stack::new(config, device, sockets, now)
}

fn deadline(host: &HostLoop<'_>, secs: u64) -> Instant {
    host.now() + Duration::from_secs(secs)
}

fn client_tcp(
    net: &NetArgs,
    target: IpEndpoint,
    message: &str,
    timeout: u64,
) -> Result<(), Failure> {
    let mut device = TapDevice::open(&net.iface)?;
    let mut host = HostLoop::new(&device).stop_on(&STOP);
    let mut sockets = [SocketStorage::EMPTY; 1];
    let mut storage = Box::new(TcpStorage::<16384, 16384>::new());
    let mut stack = client_stack(net, &mut device, &mut sockets, host.now());
    let handle = stack.add_tcp(&mut storage)?;
    let mut ports = EphemeralPorts::new(seed_from_time());
    let mut client =
        EchoClient::connect(&mut stack, handle, target, &mut ports, message.as_bytes())?;
    log::info!("connecting from port {} to {target}", client.local_port());
    let give_up = deadline(&host, timeout);
    host.run(&mut stack, &mut device, |stack, now| {
        if client.outcome().is_some() || now >= give_up {
            return Work::Done;
        }
        client.poll(stack).into()
    })?;
    let shown = String::from_utf8_lossy(client.reply_prefix()).into_owned();
    let more = if client.received() > client.reply_prefix().len() {
        "..."
    } else {
        ""
    };
    match client.outcome() {
        Some(Ok(Verdict::Verified)) => {
            println!("{shown}{more}");
            log::info!(
                "{} bytes from {target}, every one as expected",
                client.received()
            );
            Ok(())
        }
        Some(Ok(Verdict::Mismatch(Mismatch::Byte { offset }))) => Err(Failure::Other(format!(
            "the reply from {target} is not the message upper-cased (byte {offset} differs); \
             received: {shown}{more}"
        ))),
        Some(Err(ClientError::Refused)) => Err(Failure::Other(format!(
            "{target} refused the connection (nothing listening, or its backlog is full)"
        ))),
        Some(outcome) => Err(Failure::Other(format!(
            "{target}: {} after {} bytes of reply",
            match outcome {
                Ok(verdict) => verdict.to_string(),
                Err(e) => e.to_string(),
            },
            client.received()
        ))),
        None if STOP.load(Ordering::Relaxed) => Err(Failure::Other("interrupted".into())),
        None => Err(Failure::Other(format!(
            "no complete reply from {target} within {timeout} s ({} of {} bytes); is anything \
             there? (the kernel side is usually 192.168.69.100)",
            client.received(),
            message.len()
        ))),
    }
}

fn client_framed(
    net: &NetArgs,
    target: IpEndpoint,
    messages: &[String],
    timeout: u64,
) -> Result<(), Failure> {
    if let Some(long) = messages.iter().find(|m| m.len() > MAX_FRAME) {
        return Err(Failure::Other(format!(
            "a message of {} bytes is longer than a frame may be here ({MAX_FRAME})",
            long.len()
        )));
    }
    let mut device = TapDevice::open(&net.iface)?;
    let mut host = HostLoop::new(&device).stop_on(&STOP);
    let mut sockets = [SocketStorage::EMPTY; 1];
    let mut storage = Box::new(TcpStorage::<65536, 65536>::new());
    let mut stack = client_stack(net, &mut device, &mut sockets, host.now());
    let handle = stack.add_tcp(&mut storage)?;
    let mut ports = EphemeralPorts::new(seed_from_time());
    let mut client = TcpClient::new(handle);
    client.connect(&mut stack, target, &mut ports)?;
    let mut decoder = Box::new(FrameDecoder::<MAX_FRAME>::new());
    let mut sent = 0;
    let mut replies: Vec<String> = Vec::new();
    let mut failure: Option<String> = None;
    let mut closing = false;
    let give_up = deadline(&host, timeout);
    host.run(&mut stack, &mut device, |stack, now| {
        if now >= give_up {
            return Work::Done;
        }
        match client.state(stack) {
            ClientState::Idle | ClientState::Connecting => return Work::Idle,
            ClientState::Refused => {
                failure = Some(format!("{target} refused the connection"));
                return Work::Done;
            }
            ClientState::Reset => {
                failure = Some(format!("{target} reset the connection"));
                return Work::Done;
            }
            ClientState::Closed if replies.len() < messages.len() => {
                failure = Some(format!("{target} closed after {} frames", replies.len()));
                return Work::Done;
            }
            ClientState::Closed => return Work::Done,
            ClientState::Connected => {}
        }
        let mut progress = false;
        // Each frame goes whole or waits for room (`WouldBlock`).
        while let Some(message) = messages.get(sent) {
            match send_frame(client.socket(stack), message.as_bytes()) {
                Ok(_) => {
                    sent += 1;
                    progress = true;
                }
                Err(_) => break,
            }
        }
        let got = decoder.recv_from(client.socket(stack), |frame| {
            replies.push(String::from_utf8_lossy(frame).into_owned());
            Accept::Taken
        });
        match got {
            Ok(p) => progress |= p.made_progress(),
            Err(e) => {
                failure = Some(format!("bad frame from {target}: {e}"));
                client.abort(stack);
                return Work::Done;
            }
        }
        if replies.len() == messages.len() && sent == messages.len() {
            if closing {
                // Wait for the server's FIN (the state check above ends the loop).
                return Work::Idle;
            }
            client.close(stack);
            closing = true;
            return Work::Busy;
        }
        progress.into()
    })?;
    for reply in &replies {
        println!("{reply}");
    }
    match failure {
        Some(e) => Err(Failure::Other(e)),
        None if replies.len() < messages.len() => Err(Failure::Other(format!(
            "{} of {} frames came back from {target} within {timeout} s",
            replies.len(),
            messages.len()
        ))),
        None => Ok(()),
    }
}

fn client_udp(
    net: &NetArgs,
    target: IpEndpoint,
    message: &str,
    timeout: u64,
) -> Result<(), Failure> {
    let mut device = TapDevice::open(&net.iface)?;
    let mut host = HostLoop::new(&device).stop_on(&STOP);
    let mut sockets = [SocketStorage::EMPTY; 1];
    let mut storage = Box::new(UdpStorage::<8, 8192>::new());
    let mut stack = client_stack(net, &mut device, &mut sockets, host.now());
    let handle = stack.add_udp(&mut storage)?;
    let mut ports = EphemeralPorts::new(seed_from_time());
    let mut client = UdpClient::bind_ephemeral(&mut stack, handle, &mut ports)?;
    client.send_to(&mut stack, message.as_bytes(), target)?;
    log::info!(
        "sent {} bytes from port {} to {target}",
        message.len(),
        client.local_port()
    );
    let give_up = deadline(&host, timeout);
    let mut buf = [0u8; 2048];
    let mut reply: Option<Result<(usize, IpEndpoint), DatagramTooLarge>> = None;
    host.run(&mut stack, &mut device, |stack, now| {
        match client.recv_from(stack, &mut buf) {
            Ok(Some(got)) => {
                reply = Some(Ok(got));
                Work::Done
            }
            Ok(None) if now >= give_up => Work::Done,
            Ok(None) => Work::Idle,
            Err(e) => {
                reply = Some(Err(e));
                Work::Done
            }
        }
    })?;
    match reply {
        Some(Ok((n, from))) => {
            println!("{}", String::from_utf8_lossy(&buf[..n]));
            log::info!("{n} bytes from {from}");
            Ok(())
        }
        Some(Err(e)) => Err(e.into()),
        None => Err(Failure::Other(format!(
            "no datagram came back from {target} within {timeout} s (UDP does not retry)"
        ))),
    }
}

/// Where the chat client is.
enum ChatPhase {
    Connecting,
    /// Waiting for the user's next line.
    Typing,
    /// A line was sent; waiting for the reply.
    Waiting,
    /// The user quit; waiting (until then) for the connection to close.
    Leaving(Instant),
}

fn chat(net: &NetArgs, target: IpEndpoint) -> Result<(), Failure> {
    let mut device = TapDevice::open(&net.iface)?;
    // Check for typed lines every 50 ms while idle.
    let mut host = HostLoop::new(&device)
        .stop_on(&STOP)
        .max_wait(Some(Duration::from_millis(50)));
    let mut sockets = [SocketStorage::EMPTY; 1];
    let mut storage = Box::new(TcpStorage::<4096, 4096>::new());
    let mut stack = client_stack(net, &mut device, &mut sockets, host.now());
    let handle = stack.add_tcp(&mut storage)?;
    let mut ports = EphemeralPorts::new(seed_from_time());
    let mut client = ChatClient::<256>::connect(&mut stack, handle, target, &mut ports)?;
    let lines = stdin_lines();
    let mut phase = ChatPhase::Connecting;
    let mut pending: Option<String> = None;
    let mut outcome: Result<(), Failure> = Ok(());
    let prompt = || {
        print!("{PROMPT}");
        std::io::stdout().flush().ok();
    };
    let give_up = deadline(&host, 10);
    host.run(&mut stack, &mut device, |stack, now| {
        let state = client.state(stack);
        match state {
            ClientState::Refused => {
                outcome = Err(Failure::Other(format!("{target} refused the connection")));
                return Work::Done;
            }
            ClientState::Reset => {
                outcome = Err(Failure::Other(format!("{target} reset the connection")));
                return Work::Done;
            }
            ClientState::Closed => {
                if !matches!(phase, ChatPhase::Leaving(_)) {
                    println!("the server closed the chat");
                }
                return Work::Done;
            }
            _ => {}
        }
        match phase {
            ChatPhase::Connecting => {
                if state == ClientState::Connected {
                    println!("connected to {target}");
                    prompt();
                    phase = ChatPhase::Typing;
                    return Work::Busy;
                }
                if now >= give_up {
                    outcome = Err(Failure::Other(format!("no answer from {target}")));
                    return Work::Done;
                }
                Work::Idle
            }
            ChatPhase::Typing => {
                if pending.is_none() {
                    pending = match lines.try_recv() {
                        Ok(line) => Some(line),
                        Err(mpsc::TryRecvError::Empty) => return Work::Idle,
                        // End of input: like `yes`.
                        Err(mpsc::TryRecvError::Disconnected) => Some("yes".into()),
                    };
                }
                match client.submit(stack, pending.as_deref()) {
                    Ok(Submitted::Refused) => {
                        println!("\n{EMPTY_REFUSED}");
                        prompt();
                        pending = None;
                    }
                    Ok(Submitted::Quit) => {
                        println!("\n{BYE}");
                        phase = ChatPhase::Leaving(now + Duration::from_secs(5));
                        pending = None;
                    }
                    Ok(Submitted::Sent) => {
                        println!();
                        phase = ChatPhase::Waiting;
                        pending = None;
                    }
                    Err(SubmitError::WouldBlock) => return Work::Idle,
                    Err(e) => {
                        println!("\nnot sent: {e}");
                        prompt();
                        pending = None;
                    }
                }
                Work::Busy
            }
            ChatPhase::Waiting => match client.reply(stack) {
                Ok(Some(reply)) => {
                    println!("server: {}", String::from_utf8_lossy(reply));
                    prompt();
                    phase = ChatPhase::Typing;
                    Work::Busy
                }
                Ok(None) => Work::Idle,
                Err(e) => {
                    outcome = Err(Failure::Other(format!("bad reply: {e}")));
                    Work::Done
                }
            },
            // A server that never closes its side is left behind after 5 s.
            ChatPhase::Leaving(give_up) if now >= give_up => Work::Done,
            ChatPhase::Leaving(_) => Work::Idle,
        }
    })?;
    outcome
}
