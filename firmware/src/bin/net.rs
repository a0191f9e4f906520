//! Network mode: the library's services on the MPS2 board's LAN9118, reachable from the host
//! through QEMU's user networking (see `qemu-run.sh`). Serves forever at 10.0.2.15/24,
//! gateway 10.0.2.2:
//!
//! | port | service |
//! |---|---|
//! | TCP 8000 | upper-case echo, a pool of [`ECHO_SOCKETS`] (the backlog) |
//! | TCP 9000 | framed upper-case echo (4-byte big-endian length frames), [`FRAMED_SOCKETS`] |
//! | UDP 8848 | upper-case echo to each sender |
//! | UDP 8888 | sink: counts datagrams and bytes (logged, with their digest, as they change) |
//!
//! Prints a line starting `smolsock-net ready` once it serves; clients connect after that line
//! (QEMU accepts host connections before the firmware listens).
//!
//! The only differences from the host programs: the device (`Lan9118`) and the clock (SysTick).
#![no_std]
#![no_main]

#[path = "../board.rs"]
mod board;

use core::mem::MaybeUninit;

use cortex_m_rt::entry;
use smolsock::device::lan9118::{Lan9118, Mps2};
use smolsock::event_loop::Work;
use smolsock::service::{LessonServers, Service};
use smolsock::smoltcp::iface::SocketStorage;
use smolsock::smoltcp::wire::{EthernetAddress, IpCidr, Ipv4Address};
use smolsock::storage::{TcpStorage, UdpLaneStorage, UdpStorage};
use smolsock::tcp::PoolConfig;
use smolsock::{Error, Stack, StackConfig};

/// A locally administered unicast address.
const MAC: EthernetAddress = EthernetAddress([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
const IP: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
const GATEWAY: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);

// The RAM budget (24 KiB of static RAM) is spent here. Four TCP sockets with 2 KiB each way
// (16 KiB), the LAN9118's two frame buffers (3 KiB) and six socket slots (2 KiB) are fixed; what
// is left decides the largest frame (a decoder buffer per framed socket) and datagram.

/// TCP sockets of the upper-case echo: all listen, so this is also its backlog.
const ECHO_SOCKETS: usize = 2;
/// TCP sockets of the framed echo (its backlog).
const FRAMED_SOCKETS: usize = 2;
/// Receive and transmit buffer of each TCP socket.
const TCP_BUF: usize = 2048;
/// Largest frame payload of the framed echo; a header announcing more resets that connection.
/// Each framed socket keeps a decoder buffer of this size.
const FRAME_MAX: usize = 512;
/// Largest UDP datagram served (payload bytes); smoltcp drops larger ones.
const UDP_MAX: usize = 192;
/// Datagrams queued per UDP socket and direction.
const UDP_DGRAMS: usize = 4;
/// Every socket the firmware holds.
/// (the UDP echo has a second, send-only socket: its resolve lane for peers whose ARP is pending)
const SOCKETS: usize = ECHO_SOCKETS + FRAMED_SOCKETS + 3;

type Tcp = TcpStorage<TCP_BUF, TCP_BUF>;
type Udp = UdpStorage<UDP_DGRAMS, UDP_MAX>;
/// One reply waiting for ARP at a time.
type UdpLane = UdpLaneStorage<1, UDP_MAX>;

/// The lesson's servers, assembled exactly as the TAP server assembles them.
type Services = LessonServers<ECHO_SOCKETS, FRAMED_SOCKETS, FRAME_MAX, UDP_MAX>;

#[entry]
fn main() -> ! {
    // Every piece of memory is a static, so `.bss` shows the whole RAM budget. Values whose
    // empty state is not all-zero bytes are `MaybeUninit` and written at boot: as initialised
    // statics they would be copied from flash (`.data`), costing flash as well.
    //
    // SAFETY: 0x4020_0000 is the LAN9118's register block on mps2-an385/an386, and this driver
    // is its only user.
    static mut NIC: Lan9118<Mps2> = unsafe { Lan9118::new() };
    static mut SOCKET_SLOTS: MaybeUninit<[SocketStorage<'static>; SOCKETS]> = MaybeUninit::uninit();
    static mut TCP: [Tcp; ECHO_SOCKETS + FRAMED_SOCKETS] =
        [const { Tcp::new() }; ECHO_SOCKETS + FRAMED_SOCKETS];
    static mut UDP: MaybeUninit<[Udp; 2]> = MaybeUninit::uninit();
    static mut UDP_LANE: UdpLane = UdpLane::new();
    static mut STACK: MaybeUninit<Stack<'static>> = MaybeUninit::uninit();
    static mut SERVICES: MaybeUninit<Services> = MaybeUninit::uninit();

    let Some(core) = cortex_m::Peripherals::take() else {
        board::exit(false)
    };
    board::init(core.SYST);

    let nic: &'static mut Lan9118<Mps2> = NIC;
    if nic.init(MAC).is_err() {
        board::print("LAN9118 init failed\n");
        board::exit(false);
    }

    let config = StackConfig::ethernet(MAC, IpCidr::new(IP.into(), 24))
        .with_gateway(GATEWAY)
        .with_seed(board::seed());
    let slots = SOCKET_SLOTS.write([SocketStorage::EMPTY; SOCKETS]);
    let stack = STACK.write(Stack::new(config, nic, slots, board::now()));
    let Ok(services) = start(stack, TCP, UDP.write([const { Udp::new() }; 2]), UDP_LANE) else {
        board::print("service setup failed\n");
        board::exit(false)
    };
    let services = SERVICES.write(services);

    // Tests read the pool sizes from this line.
    board::print("smolsock-net ready 10.0.2.15: tcp/8000 upper-case echo (pool ");
    board::print_u32(ECHO_SOCKETS as u32);
    board::print("), tcp/9000 framed echo (pool ");
    board::print_u32(FRAMED_SOCKETS as u32);
    board::print(", max ");
    board::print_u32(FRAME_MAX as u32);
    board::print("), udp/8848 echo, udp/8888 sink\n");
    log::info!("LAN9118 up");
    #[cfg(not(feature = "log-off"))]
    let mut sink_reported = 0;
    board::run(stack, nic, None, |stack| {
        let work = Work::from(services.poll(stack));
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
    });
    // `run` without a deadline returns only if the services say they are done; they never do.
    board::exit(false)
}

/// Open every service's sockets on `stack`.
fn start(
    stack: &mut Stack<'static>,
    tcp: &'static mut [Tcp; ECHO_SOCKETS + FRAMED_SOCKETS],
    udp: &'static mut [Udp; 2],
    lane: &'static mut UdpLane,
) -> Result<Services, Error> {
    let (echo_tcp, framed_tcp) = tcp.split_at_mut(ECHO_SOCKETS);
    let [udp_echo_buf, sink_buf] = udp;
    // All sockets listen: the backlog is the pool.
    Services::new(
        stack,
        (echo_tcp.iter_mut(), framed_tcp.iter_mut()),
        (udp_echo_buf, lane),
        sink_buf,
        PoolConfig::new(0, ECHO_SOCKETS.max(FRAMED_SOCKETS)),
    )
}
