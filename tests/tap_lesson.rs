//! The lesson's programs over TAP: each server program runs on smolsock over a Linux TAP device
//! (`lesson::run::run_tap`) and its client on the kernel, which reaches smolsock through the
//! kernel side of the device; the same program also runs on the kernel alone (both halves on
//! `std-embedded-nal`, on the namespace's own 127.0.0.1). The transcripts must be identical but
//! for addresses and ports, as `tests/lesson.rs` requires of smolsock on the loopback (the
//! same checks, `tests/lesson_checks`), and program 6's one documented difference (smolsock
//! refuses past the backlog) must show.
//!
//! Each test makes its own namespace (`smolsock-PID-lesson-N`) with `tap0` in it, runs both
//! stacks inside it and deletes it. Without root, `ip` or `/dev/net/tun` every test is reported
//! ignored with the reason (failed under `SMOLSOCK_REQUIRE_ALL=1`, see `tests/harness`).

use std::sync::Once;

use smolsock::lesson::run::{run, run_tap, On, Program, Transcript, BACKLOG};

mod harness;
mod lesson_checks;
mod netns;

use netns::{Netns, TAP};

fn main() -> std::process::ExitCode {
    let unavailable = netns::unavailable().map(str::to_string);
    harness::run(
        harness::tests![
            programs_1_and_2_tcp_server_and_client_over_tap,
            programs_3_and_4_chat_over_tap,
            program_6_backlog_within_room_over_tap,
            program_6_backlog_overflow_kernel_queues_smolsock_refuses_over_tap,
            programs_7_and_8_udp_server_and_client_over_tap,
            program_9_receive_only_over_tap,
            program_10_sticky_packets_over_tap,
            program_11_length_prefix_over_tap,
        ],
        unavailable,
    )
}

/// A program that hangs must fail the run, not stall it.
fn watchdog() {
    static START: Once = Once::new();
    START.call_once(|| {
        std::thread::spawn(|| {
            std::thread::sleep(std::time::Duration::from_secs(180));
            eprintln!("tests/tap_lesson.rs: a program hung for 180 s");
            std::process::exit(1);
        });
    });
}

/// `program` on the kernel alone and with its server on smolsock over TAP, both inside a
/// namespace made for this run.
fn kernel_and_tap(program: Program) -> (Transcript, Transcript) {
    watchdog();
    let ns = Netns::new("lesson").expect("namespace");
    ns.add_tap().expect("TAP device");
    ns.run(move || {
        let kernel = run(program, On::Kernel);
        let tap = run_tap(program, TAP).unwrap_or_else(|e| panic!("open {TAP}: {e}"));
        (kernel, tap)
    })
}

fn conform(program: Program) {
    let (kernel, tap) = kernel_and_tap(program);
    lesson_checks::conform(program, &kernel, &tap);
    // Over TAP, smolsock's server saw the kernel's address on the device, not a loopback one.
    if !matches!(
        program,
        Program::Backlog { .. } | Program::Sticky | Program::Framed
    ) {
        assert!(tap.server.contains(netns::KERNEL_IP), "{tap}");
    }
}

fn programs_1_and_2_tcp_server_and_client_over_tap() {
    conform(Program::Tcp);
}

fn programs_3_and_4_chat_over_tap() {
    conform(Program::Chat);
}

fn program_6_backlog_within_room_over_tap() {
    conform(Program::Backlog {
        clients: BACKLOG + 1,
    });
}

fn program_6_backlog_overflow_kernel_queues_smolsock_refuses_over_tap() {
    let (kernel, tap) = kernel_and_tap(Program::Backlog {
        clients: BACKLOG + 2,
    });
    lesson_checks::backlog_overflow(&kernel, &tap);
}

fn programs_7_and_8_udp_server_and_client_over_tap() {
    conform(Program::Udp);
}

fn program_9_receive_only_over_tap() {
    conform(Program::ReceiveOnly);
}

fn program_10_sticky_packets_over_tap() {
    conform(Program::Sticky);
}

fn program_11_length_prefix_over_tap() {
    conform(Program::Framed);
}
