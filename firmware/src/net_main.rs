// The network firmware's body, `include!`d by `bin/net.rs` (the budget build; its sizes in
// `budget_sizes.rs`, shared with `net-dhcp` and `net-ipv6`) and
// `bin/net-large.rs` (the TAP server's limits) after each has set the sizes: ECHO_SOCKETS,
// FRAMED_SOCKETS, TCP_BUF, FRAME_MAX, UDP_MAX, UDP_DGRAMS, UDP_BYTES, SINK_DGRAMS, SINK_BYTES,
// LANE_DGRAMS, NIC_BUF (the LAN9118's frame buffers), and DHCP (take the address from a DHCP
// server).
//
// With the `ipv6` feature (`bin/net-ipv6.rs`) the interface also has IPv6: the link-local
// address from the MAC and fec0::15/64 (QEMU's user network is fec0::/64, its host side
// fec0::2), and every service answers on both families at once; the ready line names them all.
//
// The library's services on the board's NIC, reachable from the host through QEMU's user
// networking (see `qemu-run.sh`). Serves forever at 10.0.2.15/24, gateway 10.0.2.2 (fixed, or
// leased by QEMU's DHCP server). Prints a line starting `smolsock-net ready ADDRESS` once it
// serves; clients connect after that line (QEMU accepts host connections before the firmware
// listens). The only differences from the host programs: the device and the clock.

use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;

use smolsock::event_loop::Work;
use smolsock::service::{LessonServers, Service, SetupError};
use smolsock::smoltcp::iface::SocketStorage;
use smolsock::smoltcp::wire::{IpCidr, Ipv4Address};
use smolsock::storage::{TcpStorage, UdpLaneStorage, UdpStorage};
use smolsock::tcp::PoolConfig;
use smolsock::{Stack, StackConfig};

const IP: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
const GATEWAY: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
/// The static IPv6 address, in QEMU's user network's prefix (feature `ipv6`).
#[cfg(feature = "ipv6")]
const IP6: smolsock::smoltcp::wire::Ipv6Cidr = smolsock::smoltcp::wire::Ipv6Cidr::new(
    smolsock::smoltcp::wire::Ipv6Address::new(0xfec0, 0, 0, 0, 0, 0, 0, 0x15),
    64,
);

/// Every socket the firmware holds.
/// (the UDP echo has a second, send-only socket: its resolve lane for peers whose ARP is pending)
/// (and one for the DHCP client, when there is one)
const SOCKETS: usize = ECHO_SOCKETS + FRAMED_SOCKETS + 3 + DHCP as usize;

type Tcp = TcpStorage<TCP_BUF, TCP_BUF>;
type Udp = UdpStorage<UDP_DGRAMS, UDP_BYTES>;
type Sink = UdpStorage<SINK_DGRAMS, SINK_BYTES>;
type UdpLane = UdpLaneStorage<LANE_DGRAMS, { LANE_DGRAMS * UDP_MAX }>;

/// The lesson's servers, assembled exactly as the TAP server assembles them.
type Services = LessonServers<ECHO_SOCKETS, FRAMED_SOCKETS, FRAME_MAX, UDP_MAX>;

// Every piece of memory is a static, so `.bss` shows the whole RAM budget. Values whose empty
// state is not all-zero bytes are `MaybeUninit` and written at boot: as initialised statics they
// would be copied from flash (`.data`), costing flash as well.
static mut SOCKET_SLOTS: MaybeUninit<[SocketStorage<'static>; SOCKETS]> = MaybeUninit::uninit();
static mut TCP: [Tcp; ECHO_SOCKETS + FRAMED_SOCKETS] =
    [const { Tcp::new() }; ECHO_SOCKETS + FRAMED_SOCKETS];
static mut UDP: MaybeUninit<(Udp, Sink)> = MaybeUninit::uninit();
static mut UDP_LANE: MaybeUninit<UdpLane> = MaybeUninit::uninit();
static mut STACK: MaybeUninit<Stack<'static>> = MaybeUninit::uninit();
static mut SERVICES: MaybeUninit<Services> = MaybeUninit::uninit();

#[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
#[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
fn main() -> ! {
    board::init();
    let Some((nic, mac)) = board::network() else {
        board::print("NIC init failed\n");
        board::exit(false)
    };
    // SAFETY: `main` runs once and nothing else (no interrupt handler) touches these statics,
    // so these are the only references to them.
    let (slots, tcp, udp, lane, stack, services) = unsafe {
        (
            &mut *addr_of_mut!(SOCKET_SLOTS),
            &mut *addr_of_mut!(TCP),
            &mut *addr_of_mut!(UDP),
            &mut *addr_of_mut!(UDP_LANE),
            &mut *addr_of_mut!(STACK),
            &mut *addr_of_mut!(SERVICES),
        )
    };

    let config = if DHCP {
        StackConfig::unaddressed(mac)
    } else {
        StackConfig::ethernet(mac, IpCidr::new(IP.into(), 24)).with_gateway(GATEWAY)
    }
    .with_seed(board::seed());
    #[cfg(feature = "ipv6")]
    let config = config.with_ipv6(IP6);
    let slots = slots.write([SocketStorage::EMPTY; SOCKETS]);
    let stack = stack.write(Stack::new(config, nic, slots, board::now()));
    #[cfg(feature = "dhcp")]
    let mut dhcp = match DHCP.then(|| smolsock::dhcp::DhcpClient::new(stack)) {
        Some(Ok(client)) => Some(client),
        Some(Err(_)) => {
            board::print("DHCP client setup failed\n");
            board::exit(false)
        }
        None => None,
    };
    let (udp, sink) = udp.write((Udp::new(), Sink::new()));
    let lane = lane.write(UdpLane::new());
    let Ok(started) = start(stack, tcp, udp, sink, lane) else {
        board::print("service setup failed\n");
        board::exit(false)
    };
    let services = services.write(started);

    let mut ready = false;
    if !DHCP {
        print_ready(stack, IP);
        ready = true;
    }
    log::info!(
        "NIC up; udp/8848 echo: datagrams up to {} bytes, {} queued",
        UDP_MAX,
        UDP_DGRAMS
    );
    #[cfg(not(feature = "log-off"))]
    let mut sink_reported = 0;
    board::serve(stack, nic, |stack| {
        #[allow(unused_mut)]
        let mut progress = false;
        #[cfg(feature = "dhcp")]
        if let Some(dhcp) = dhcp.as_mut() {
            progress |= dhcp.poll(stack);
        }
        // With DHCP, the services serve from the first lease on: say so then.
        if let (false, Some(cidr)) = (ready, stack.ipv4_cidr()) {
            print_ready(stack, cidr.address());
            ready = true;
        }
        progress |= services.poll(stack);
        let work = Work::from(progress);
        // What the sink holds, each time it changes: `tests/qemu.rs` compares it with what it
        // sent. (Not in the `log-off` build, whose footprint the README reports.)
        #[cfg(not(feature = "log-off"))]
        {
            let got = services.sink.stats();
            if got.datagrams != sink_reported {
                sink_reported = got.datagrams;
                log::info!(
                    "udp sink: {} datagrams, {} bytes, digest {:016x}",
                    got.datagrams,
                    got.bytes,
                    got.digest
                );
            }
        }
        work
    })
}

/// The line tests wait for: the addresses served (the IPv4 one, then with the `ipv6` feature
/// each IPv6 one after a comma), and the limits they read.
fn print_ready(#[allow(unused_variables)] stack: &Stack<'_>, address: Ipv4Address) {
    board::print("smolsock-net ready ");
    for (i, octet) in address.octets().iter().enumerate() {
        if i > 0 {
            board::print(".");
        }
        board::print_u32(u32::from(*octet));
    }
    #[cfg(feature = "ipv6")]
    for cidr in stack.ipv6_cidrs() {
        board::print(", ");
        print_ipv6(cidr.address());
    }
    board::print(": tcp/8000 upper-case echo (pool ");
    board::print_u32(ECHO_SOCKETS as u32);
    board::print("), tcp/9000 framed echo (pool ");
    board::print_u32(FRAMED_SOCKETS as u32);
    board::print(", max ");
    board::print_u32(FRAME_MAX as u32);
    board::print("), udp/8848 echo, udp/8888 sink\n");
}

/// Open every service's sockets on `stack`.
fn start(
    stack: &mut Stack<'static>,
    tcp: &'static mut [Tcp; ECHO_SOCKETS + FRAMED_SOCKETS],
    udp_echo_buf: &'static mut Udp,
    sink_buf: &'static mut Sink,
    lane: &'static mut UdpLane,
) -> Result<Services, SetupError> {
    let (echo_tcp, framed_tcp) = tcp.split_at_mut(ECHO_SOCKETS);
    // All sockets listen: the backlog is the pool.
    Services::new(
        stack,
        (echo_tcp.iter_mut(), framed_tcp.iter_mut()),
        (udp_echo_buf, lane),
        sink_buf,
        PoolConfig::new(0, ECHO_SOCKETS.max(FRAMED_SOCKETS)),
    )
}

/// Write `address` as RFC 5952 text (lower-case hex groups, the longest run of two or more zero
/// groups as `::`), without `core::fmt` (which the `log-off` build leaves out).
#[cfg(feature = "ipv6")]
fn print_ipv6(address: smolsock::smoltcp::wire::Ipv6Address) {
    let groups = address.segments();
    // The longest run of zero groups (the first of equal ones), if two or more long.
    let (mut best, mut best_len, mut run, mut run_len) = (0, 0, 0, 0);
    for (i, g) in groups.iter().enumerate() {
        if *g == 0 {
            if run_len == 0 {
                run = i;
            }
            run_len += 1;
            if run_len > best_len {
                (best, best_len) = (run, run_len);
            }
        } else {
            run_len = 0;
        }
    }
    let mut i = 0;
    while i < groups.len() {
        if best_len >= 2 && i == best {
            board::print("::");
            i += best_len;
            continue;
        }
        if i > 0 && !(best_len >= 2 && i == best + best_len) {
            board::print(":");
        }
        let g = groups[i];
        let mut hex = [0u8; 4];
        let mut n = 0;
        for shift in [12, 8, 4, 0] {
            let nibble = (g >> shift) & 0xF;
            if n > 0 || nibble != 0 || shift == 0 {
                hex[n] = b"0123456789abcdef"[usize::from(nibble)];
                n += 1;
            }
        }
        board::print(core::str::from_utf8(&hex[..n]).unwrap_or("?"));
        i += 1;
    }
}
