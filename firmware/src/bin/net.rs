//! Network mode: the library's services on the MPS2 board's LAN9118, reachable from the host
//! through QEMU's user networking (see `qemu-run.sh`). Serves forever at 10.0.2.15/24,
//! gateway 10.0.2.2:
//!
//! | port | service |
//! |---|---|
//! | TCP 8000 | upper-case echo, a pool of [`ECHO_SOCKETS`] (the backlog) |
//! | UDP 8848 | upper-case echo to each sender |
//! | UDP 8888 | sink: counts datagrams and bytes |
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
use smolsock::service::{poll_all, ports, UdpEcho, UdpSink, UpperEcho};
use smolsock::smoltcp::iface::SocketStorage;
use smolsock::smoltcp::wire::{EthernetAddress, IpCidr, Ipv4Address};
use smolsock::storage::{TcpStorage, UdpStorage};
use smolsock::tcp::PoolConfig;
use smolsock::{Stack, StackConfig};

/// A locally administered unicast address.
const MAC: EthernetAddress = EthernetAddress([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
const IP: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
const GATEWAY: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);

/// TCP sockets of the upper-case echo: all listen, so this is also the backlog.
const ECHO_SOCKETS: usize = 4;
/// Receive and transmit buffer of each TCP socket.
const TCP_BUF: usize = 2048;
/// Largest UDP datagram served (payload bytes). Larger ones are dropped by smoltcp: 1472 (a
/// full Ethernet frame) would cost 4 KiB more RAM than the 24 KiB budget leaves.
const UDP_MAX: usize = 512;
/// Datagrams queued per UDP socket and direction.
const UDP_DGRAMS: usize = 8;
/// Every socket the firmware holds.
const SOCKETS: usize = ECHO_SOCKETS + 2;

type Tcp = TcpStorage<TCP_BUF, TCP_BUF>;
type Udp = UdpStorage<UDP_DGRAMS, UDP_MAX>;

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
    static mut ECHO: [Tcp; ECHO_SOCKETS] = [const { Tcp::new() }; ECHO_SOCKETS];
    static mut UDP_ECHO: MaybeUninit<Udp> = MaybeUninit::uninit();
    static mut UDP_SINK: MaybeUninit<Udp> = MaybeUninit::uninit();
    static mut STACK: MaybeUninit<Stack<'static>> = MaybeUninit::uninit();

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

    let echo = UpperEcho::<ECHO_SOCKETS>::new(
        stack,
        ECHO.iter_mut(),
        PoolConfig::new(ports::TCP_ECHO, ECHO_SOCKETS),
    );
    let udp_echo = UdpEcho::<UDP_MAX>::new(stack, UDP_ECHO.write(Udp::new()), ports::UDP_ECHO);
    let sink = UdpSink::new(stack, UDP_SINK.write(Udp::new()), ports::UDP_SINK);
    let (Ok(mut echo), Ok(mut udp_echo), Ok(mut sink)) = (echo, udp_echo, sink) else {
        board::print("service setup failed\n");
        board::exit(false)
    };

    // Tests read the pool size from this line.
    board::print("smolsock-net ready 10.0.2.15: tcp/8000 upper-case echo (pool ");
    board::print_u32(ECHO_SOCKETS as u32);
    board::print("), udp/8848 echo, udp/8888 sink\n");
    log::info!("LAN9118 up, {} TCP echo sockets", ECHO_SOCKETS);
    board::run(stack, nic, None, |stack| {
        Work::from(poll_all(stack, &mut [&mut echo, &mut udp_echo, &mut sink]))
    });
    // `run` without a deadline returns only if the services say they are done; they never do.
    board::exit(false)
}
