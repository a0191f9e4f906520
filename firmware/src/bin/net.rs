//! Network mode: smolsock on the MPS2 board's LAN9118, reachable from the host through QEMU's
//! user networking (see `qemu-run.sh`). Serves forever at 10.0.2.15/24, gateway 10.0.2.2.
//!
//! Prints `smolsock-net ready` once the interface is up; clients connect after that line.
#![no_std]
#![no_main]

#[path = "../board.rs"]
mod board;

use core::mem::MaybeUninit;

use cortex_m_rt::entry;
use smolsock::device::lan9118::{Lan9118, Mps2};
use smoltcp::iface::{Config, Interface, SocketSet, SocketStorage};
use smoltcp::socket::tcp;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Address};

/// A locally administered unicast address.
const MAC: EthernetAddress = EthernetAddress([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
const IP: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
const GATEWAY: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
const ECHO_PORT: u16 = 8000;

#[entry]
fn main() -> ! {
    // SAFETY: 0x4020_0000 is the LAN9118's register block on mps2-an385/an386, and this driver
    // is its only user.
    static mut NIC: Lan9118<Mps2> = unsafe { Lan9118::new() };
    // Uninitialised, hence in .bss: an empty `SocketStorage` is not all-zero bytes, and as an
    // initialised static the whole array would be copied from flash (.data).
    static mut SOCKETS: MaybeUninit<[SocketStorage<'static>; 1]> = MaybeUninit::uninit();
    static mut RX: [u8; 2048] = [0; 2048];
    static mut TX: [u8; 2048] = [0; 2048];

    let Some(core) = cortex_m::Peripherals::take() else {
        board::exit(false)
    };
    board::init(core.SYST);

    let nic: &'static mut Lan9118<Mps2> = NIC;
    if nic.init(MAC).is_err() {
        board::print("LAN9118 init failed\n");
        board::exit(false);
    }

    let mut config = Config::new(HardwareAddress::Ethernet(MAC));
    config.random_seed = board::seed();
    let mut iface = Interface::new(config, nic, board::now());
    iface.update_ip_addrs(|addrs| {
        let _ = addrs.push(IpCidr::new(IP.into(), 24));
    });
    let _ = iface.routes_mut().add_default_ipv4_route(GATEWAY);

    let storage = SOCKETS.write([SocketStorage::EMPTY; 1]);
    let mut sockets = SocketSet::new(&mut storage[..]);
    let echo = sockets.add(tcp::Socket::new(
        tcp::SocketBuffer::new(&mut RX[..]),
        tcp::SocketBuffer::new(&mut TX[..]),
    ));

    board::print("smolsock-net ready 10.0.2.15 tcp/8000\n");
    loop {
        let now = board::now();
        iface.poll(now, nic, &mut sockets);

        let sock = sockets.get_mut::<tcp::Socket>(echo);
        if !sock.is_open() {
            let _ = sock.listen(ECHO_PORT);
        }
        if sock.can_recv() && sock.can_send() {
            let mut buf = [0u8; 512];
            let room = sock.send_capacity() - sock.send_queue();
            let n = sock.recv_slice(&mut buf[..room.min(512)]).unwrap_or(0);
            buf[..n].make_ascii_uppercase();
            let _ = sock.send_slice(&buf[..n]);
        } else if !sock.may_recv() && sock.may_send() && sock.send_queue() == 0 {
            // The peer has closed its side and everything is echoed: close ours.
            log::info!("echo: peer closed");
            sock.close();
        }

        if iface
            .poll_delay(board::now(), &sockets)
            .is_none_or(|d| d.total_millis() > 0)
        {
            // Sleep until the next SysTick (1 ms); the NIC is polled, not interrupt-driven.
            cortex_m::asm::wfi();
        }
    }
}
