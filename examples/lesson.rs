//! The lesson's programs, written once over the embedded-nal traits, on the stack you choose.
//!
//! ```text
//! cargo run --example lesson -- --stack smolsock            # every program, on the loopback
//! cargo run --example lesson -- --stack kernel --program 6 --clients 5
//! sudo scripts/tap-netns.sh up smolsock                    # a namespace with tap0
//! sudo ip netns exec smolsock target/debug/examples/lesson --stack tap
//! sudo ip netns exec smolsock target/debug/examples/lesson --stack tap-clients
//! ```
//!
//! Each program runs as the lesson has it: the server in one thread, its client in another,
//! both blocking programs. `kernel` is the host's TCP/IP through `std-embedded-nal` on
//! 127.0.0.1; `smolsock` is this crate on its in-memory loopback; `tap` puts the servers on
//! smolsock over a Linux TAP device (192.168.69.1) and the clients on the kernel, which reaches
//! them through the kernel side of the device (run it inside the namespace that holds it);
//! `tap-clients` the reverse, the clients on smolsock over the device and the servers on the
//! kernel (192.168.69.100). The transcript shows what each side did; `tests/lesson.rs` checks that the kernel and smolsock
//! print the same, `tests/tap_lesson.rs` the same over TAP.

use clap::{value_parser, Arg, Command};
use smolsock::lesson::run::{run, On, Program};

/// Where the programs run.
#[derive(Clone, Copy, Debug)]
enum Where {
    /// Servers and clients on one stack.
    On(On),
    /// Servers on smolsock over a TAP device, clients on the kernel.
    Tap,
    /// Clients on smolsock over a TAP device, servers on the kernel.
    TapClients,
}

/// The command line: which stack, which program, how many clients for program 6 (clap's
/// builder, not its derive macros, like the other examples).
struct Args {
    on: Where,
    iface: String,
    program: Option<u8>,
    clients: usize,
}

/// Parse the command line, or exit with help or an error.
fn args() -> Args {
    let matches = Command::new("lesson")
        .about("Run the lesson's socket programs on the kernel or on smolsock and print the transcript")
        .arg(
            Arg::new("stack")
                .long("stack")
                .value_parser(["kernel", "smolsock", "tap", "tap-clients"])
                .default_value("smolsock")
                .help("kernel: the host's TCP/IP through std-embedded-nal on 127.0.0.1; smolsock: the in-memory loopback; tap: servers on smolsock over --iface, clients on the kernel; tap-clients: the reverse"),
        )
        .arg(
            Arg::new("iface")
                .long("iface")
                .default_value("tap0")
                .help("--stack tap: the TAP device (kernel side 192.168.69.100/24, smolsock 192.168.69.1)"),
        )
        .arg(
            Arg::new("program")
                .long("program")
                .value_parser(value_parser!(u8).range(1..=11))
                .help("the lesson program (1/2 TCP, 3/4 chat, 6 backlog, 7/8 UDP, 9 receive-only, 10 sticky packets, 11 length prefix); all if not given"),
        )
        .arg(
            Arg::new("clients")
                .long("clients")
                .value_parser(value_parser!(u8).range(1..=8))
                .default_value("4")
                .help("program 6: how many clients try to connect (the server listens with backlog 3)"),
        )
        .get_matches();
    Args {
        on: match matches.get_one::<String>("stack").map(String::as_str) {
            Some("kernel") => Where::On(On::Kernel),
            Some("tap") => Where::Tap,
            Some("tap-clients") => Where::TapClients,
            _ => Where::On(On::Smolsock),
        },
        iface: matches
            .get_one::<String>("iface")
            .cloned()
            .unwrap_or_else(|| "tap0".into()),
        program: matches.get_one::<u8>("program").copied(),
        clients: usize::from(matches.get_one::<u8>("clients").copied().unwrap_or(4)),
    }
}

fn program(number: u8, clients: usize) -> Option<Program> {
    Some(match number {
        1 | 2 => Program::Tcp,
        3 | 4 => Program::Chat,
        6 => Program::Backlog { clients },
        7 | 8 => Program::Udp,
        9 => Program::ReceiveOnly,
        10 => Program::Sticky,
        11 => Program::Framed,
        _ => return None,
    })
}

fn main() {
    let args = args();
    let (on, clients) = (args.on, args.clients);
    let programs: Vec<Program> = match args.program {
        Some(n) => match program(n, clients) {
            Some(p) => vec![p],
            None => {
                eprintln!("program {n}: port reuse is not a program of its own (see the README)");
                std::process::exit(2);
            }
        },
        None => Program::ALL
            .iter()
            .map(|p| match p {
                Program::Backlog { .. } => Program::Backlog { clients },
                other => *other,
            })
            .collect(),
    };
    // A program that hangs (a lost datagram, a peer that never answers) must not hang the
    // terminal: give up after a minute.
    std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_secs(60));
        eprintln!("lesson: timed out after 60 s");
        std::process::exit(1);
    });
    for p in programs {
        match on {
            Where::On(on) => {
                println!("== program {} on {on:?}", p.numbers());
                print!("{}", run(p, on));
            }
            Where::Tap => {
                println!(
                    "== program {}: servers on smolsock over {}, clients on the kernel",
                    p.numbers(),
                    args.iface
                );
                run_on_tap(p, &args.iface, false);
            }
            Where::TapClients => {
                println!(
                    "== program {}: clients on smolsock over {}, servers on the kernel",
                    p.numbers(),
                    args.iface
                );
                run_on_tap(p, &args.iface, true);
            }
        }
    }
}

/// One program over the TAP device `iface`: the servers on smolsock, or (`clients`) the
/// clients.
#[cfg(all(feature = "tap", target_os = "linux"))]
fn run_on_tap(program: Program, iface: &str, clients: bool) {
    use smolsock::lesson::run::{run_tap, run_tap_clients};
    let run = if clients { run_tap_clients } else { run_tap };
    match run(program, iface) {
        Ok(transcript) => print!("{transcript}"),
        Err(e) => {
            eprintln!("lesson: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(not(all(feature = "tap", target_os = "linux")))]
fn run_on_tap(_: Program, _: &str, _: bool) {
    eprintln!("lesson: --stack tap and tap-clients need Linux and the feature `tap`");
    std::process::exit(2);
}
