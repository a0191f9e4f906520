//! The lesson's programs, written once over the embedded-nal traits, on the stack you choose.
//!
//! ```text
//! cargo run --example lesson -- --stack smolsock            # every program, on the loopback
//! cargo run --example lesson -- --stack kernel --program 6 --clients 5
//! ```
//!
//! Each program runs as the lesson has it: the server in one thread, its client in another,
//! both blocking programs. `kernel` is the host's TCP/IP through `std-embedded-nal` on
//! 127.0.0.1; `smolsock` is this crate on its in-memory loopback. The transcript shows what
//! each side did; `tests/lesson.rs` checks that both stacks print the same.

use clap::{Parser, ValueEnum};
use smolsock::lesson::run::{run, On, Program};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum StackArg {
    /// The host's kernel (std-embedded-nal, 127.0.0.1).
    Kernel,
    /// smolsock on the in-memory loopback.
    Smolsock,
}

/// Run the lesson's socket programs on the kernel or on smolsock and print the transcript.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Which stack runs the programs.
    #[arg(long, value_enum, default_value = "smolsock")]
    stack: StackArg,
    /// The lesson program (1/2 TCP, 3/4 chat, 6 backlog, 7/8 UDP, 9 receive-only, 10 sticky
    /// packets, 11 length prefix); all of them if not given.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=11))]
    program: Option<u8>,
    /// Program 6: how many clients try to connect (the server listens with backlog 3).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=8))]
    clients: u8,
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
    let args = Args::parse();
    let on = match args.stack {
        StackArg::Kernel => On::Kernel,
        StackArg::Smolsock => On::Smolsock,
    };
    let clients = usize::from(args.clients);
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
        println!("== program {} on {:?}", p.numbers(), on);
        print!("{}", run(p, on));
    }
}
