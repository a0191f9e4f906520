//! Conformance: each lesson program, written once over the embedded-nal traits, runs on the
//! kernel (std-embedded-nal, 127.0.0.1 only) and on smolsock (the in-memory loopback) with
//! the same inputs; the transcripts must be identical but for addresses and ports. Where the
//! stacks differ by design (the backlog), the difference itself is checked, as the README's
//! table states it.

use std::sync::Once;

use smolsock::lesson::run::{run, On, Program, BACKLOG};

mod lesson_checks;

/// A program that hangs must fail the run, not stall it.
fn watchdog() {
    static START: Once = Once::new();
    START.call_once(|| {
        std::thread::spawn(|| {
            std::thread::sleep(std::time::Duration::from_secs(120));
            eprintln!("tests/lesson.rs: a program hung for 120 s");
            std::process::exit(1);
        });
    });
}

/// Both stacks, with the same inputs: the same transcripts, and the program's own checks.
fn conform(program: Program) {
    watchdog();
    let kernel = run(program, On::Kernel);
    let smolsock = run(program, On::Smolsock);
    lesson_checks::conform(program, &kernel, &smolsock);
}

#[test]
fn programs_1_and_2_tcp_server_and_client() {
    conform(Program::Tcp);
}

#[test]
fn programs_3_and_4_chat() {
    conform(Program::Chat);
}

#[test]
fn program_6_backlog_within_room() {
    conform(Program::Backlog {
        clients: BACKLOG + 1,
    });
}

/// The documented difference: one client more than `listen(3)` has room for.
#[test]
fn program_6_backlog_overflow_kernel_queues_smolsock_refuses() {
    watchdog();
    let program = Program::Backlog {
        clients: BACKLOG + 2,
    };
    let kernel = run(program, On::Kernel);
    let smolsock = run(program, On::Smolsock);
    lesson_checks::backlog_overflow(&kernel, &smolsock);
}

#[test]
fn programs_7_and_8_udp_server_and_client() {
    conform(Program::Udp);
}

#[test]
fn program_9_receive_only() {
    conform(Program::ReceiveOnly);
}

#[test]
fn program_10_sticky_packets() {
    conform(Program::Sticky);
}

#[test]
fn program_11_length_prefix() {
    conform(Program::Framed);
}
