//! The lesson's server programs on the board, through the socket API: the same functions
//! (`smolsock::lesson`) that run on the host's kernel and on smolsock over the loopback and
//! TAP, here over `nal::NalStack` on the board's NIC, at 10.0.2.15/24 behind QEMU's user
//! networking. Their clients are the lesson's client programs on the host's kernel, through the
//! forwarded ports (`tests/qemu.rs`, or by hand: see the README). Build with
//! `--features lesson` (`cargo fw net-lesson --features lesson`); not budgeted.
//!
//! Runs each program of `lesson::Program::ALL` once, in order: a line `lesson: program N on
//! tcp/PORT` (or `udp/PORT`), then the server's transcript, each line prefixed `lesson| `,
//! then `lesson: program N done`. Chat (program 3) listens on 8000 rather than the lesson's
//! 8080, which `qemu-run.sh` does not forward. After the last one it keeps polling the stack,
//! so the last connections close cleanly.
//!
//! A call that would block polls the stack and returns `WouldBlock`, and the programs loop on
//! it (`nb::block!`), as the lesson's blocking programs wait: the CPU spins while a program
//! waits for its client (no `wfi`), which the event loop of `net` avoids.
#![no_std]
#![no_main]

#[cfg_attr(target_arch = "arm", path = "../board/mps2.rs")]
#[cfg_attr(target_arch = "riscv32", path = "../board/virt.rs")]
mod board;

use core::fmt;
use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;

use smolsock::lesson::{serve, smolsock_serves, until_client_closed, Program, POOL};
use smolsock::nal::NalStack;
use smolsock::service::ports;
use smolsock::smoltcp::iface::SocketStorage;
use smolsock::smoltcp::wire::{IpCidr, Ipv4Address};
use smolsock::storage::{TcpStorage, UdpStorage};
use smolsock::{Stack, StackConfig};

const IP: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
const GATEWAY: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);

/// Listening ports (8000 and 9000), each with a pool of [`POOL`] sockets.
const TCP_SOCKETS: usize = 2 * POOL;
/// Receive and transmit buffer of each TCP socket (the lesson receives 1024 bytes at a time).
const TCP_BUF: usize = 2048;
/// UDP sockets (8848 and 8888; a closed one is reused).
const UDP_SOCKETS: usize = 2;
/// Entries of the socket tables (a listening socket and the connection it accepted).
const TOKENS: usize = 4;
/// The LAN9118's frame buffers (mps2 boards): full-size Ethernet frames.
#[cfg(target_arch = "arm")] // the mps2 boards (the others' NICs have buffers of their own)
const NIC_BUF: usize = smolsock::device::lan9118::BUF_LEN;

type Tcp = TcpStorage<TCP_BUF, TCP_BUF>;
type Udp = UdpStorage<8, 2048>;

static mut SOCKET_SLOTS: MaybeUninit<[SocketStorage<'static>; TCP_SOCKETS + UDP_SOCKETS]> =
    MaybeUninit::uninit();
static mut TCP: [Tcp; TCP_SOCKETS] = [const { Tcp::new() }; TCP_SOCKETS];
static mut UDP: MaybeUninit<[Udp; UDP_SOCKETS]> = MaybeUninit::uninit();
static mut STACK: MaybeUninit<Stack<'static>> = MaybeUninit::uninit();

/// The server's transcript on the console, each line prefixed `lesson| `.
struct Transcript {
    at_line_start: bool,
}

impl fmt::Write for Transcript {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for piece in s.split_inclusive('\n') {
            if self.at_line_start {
                board::print("lesson| ");
            }
            board::print(piece);
            self.at_line_start = piece.ends_with('\n');
        }
        Ok(())
    }
}

/// The port `program` listens on here: the lesson's, but chat on 8000 (forwarded; 8080 is not).
fn port(program: Program) -> u16 {
    match program {
        Program::Chat => ports::TCP_ECHO,
        other => other.port(),
    }
}

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
    let (slots, tcp, udp, stack) = unsafe {
        (
            &mut *addr_of_mut!(SOCKET_SLOTS),
            &mut *addr_of_mut!(TCP),
            &mut *addr_of_mut!(UDP),
            &mut *addr_of_mut!(STACK),
        )
    };
    let config = StackConfig::ethernet(mac, IpCidr::new(IP.into(), 24))
        .with_gateway(GATEWAY)
        .with_seed(board::seed());
    let slots = slots.write([SocketStorage::EMPTY; TCP_SOCKETS + UDP_SOCKETS]);
    let stack = stack.write(Stack::new(config, nic, slots, board::now()));
    let udp = udp.write([const { Udp::new() }; UDP_SOCKETS]);
    let mut net = NalStack::<POOL, TOKENS, _, _, _, _, _, _>::new(
        stack,
        nic,
        board::now,
        tcp,
        udp,
        board::seed(),
    );

    board::print("smolsock-net ready 10.0.2.15: the lesson's server programs\n");
    let mut out = Transcript {
        at_line_start: true,
    };
    for program in Program::ALL {
        let port = port(program);
        board::print("lesson: program ");
        board::print(program.numbers());
        board::print(if program.is_udp() {
            " on udp/"
        } else {
            " on tcp/"
        });
        board::print_u32(u32::from(port));
        board::print("\n");
        let served = match program {
            Program::Backlog { clients } => smolsock_serves(clients),
            _ => 0,
        };
        // Programs 10 and 11's `time.sleep`: poll until the client sent everything and closed.
        serve(
            program,
            &mut net,
            port,
            served,
            until_client_closed,
            &mut out,
        );
        board::print("lesson: program ");
        board::print(program.numbers());
        board::print(" done\n");
    }
    board::print("lesson: all done\n");
    loop {
        if !net.poll() {
            board::idle();
        }
    }
}
