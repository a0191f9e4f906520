//! The lesson's programs over TAP, both ways: each server program on smolsock over a Linux TAP
//! device (`lesson::run::run_tap`) with its client on the kernel, which reaches smolsock
//! through the kernel side of the device; and each client program on smolsock over the device
//! (`run_tap_clients`) with its server on the kernel. The same program also runs on the kernel
//! alone (both halves on `std-embedded-nal`, on the namespace's own 127.0.0.1). The
//! transcripts must be identical but for addresses and ports, as `tests/lesson.rs` requires of
//! smolsock on the loopback (the same checks, `tests/lesson_checks`); program 6's one
//! documented difference (a server on smolsock refuses past the backlog) must show.
//!
//! Each test makes its own namespace (`smolsock-PID-lesson-N`) with `tap0` in it, runs both
//! stacks inside it and deletes it. Without root, `ip` or `/dev/net/tun` every test is reported
//! ignored with the reason (failed under `SMOLSOCK_REQUIRE_ALL=1`, see `tests/harness`).

use std::sync::Once;

use smolsock::lesson::run::{run, run_tap, run_tap_clients, On, Program, Transcript, BACKLOG};

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

/// `program` on the kernel alone, with its server on smolsock over TAP, and with its client
/// on smolsock over TAP, all inside one namespace made for this run.
fn over_tap(program: Program) -> [Transcript; 3] {
    watchdog();
    let ns = Netns::new("lesson").expect("namespace");
    ns.add_tap().expect("TAP device");
    // The kernel knows smolsock's MAC (the TAP server's, which `run_tap` uses) from the start.
    // Otherwise its first datagram waits for ARP, and Linux may send a later one directly
    // while it flushes the ones it queued: program 9's sink once logged "one", "three", "two",
    // where the kernel alone (loopback, no ARP) keeps the order the transcript compares.
    let mac = smolsock::tap::ServerConfig::new(TAP)
        .mac
        .to_string()
        .replace('-', ":");
    ns.ip(&[
        "neigh",
        "replace",
        netns::SMOLSOCK_IP,
        "lladdr",
        &mac,
        "dev",
        TAP,
        "nud",
        "permanent",
    ])
    .expect("static neighbour entry");
    ns.run(move || {
        let kernel = run(program, On::Kernel);
        let servers = run_tap(program, TAP).unwrap_or_else(|e| panic!("open {TAP}: {e}"));
        let clients = run_tap_clients(program, TAP).unwrap_or_else(|e| panic!("open {TAP}: {e}"));
        [kernel, servers, clients]
    })
}

/// Both ways over TAP, each the kernel's transcript.
fn conform(program: Program) {
    let [kernel, servers, clients] = over_tap(program);
    lesson_checks::conform(program, &kernel, &servers);
    lesson_checks::conform(program, &kernel, &clients);
    // The peers met on the TAP device, not on a loopback: each server saw the other side's
    // address there.
    if !matches!(
        program,
        Program::Backlog { .. } | Program::Sticky | Program::Framed
    ) {
        assert!(servers.server.contains(netns::KERNEL_IP), "{servers}");
        assert!(clients.server.contains(netns::SMOLSOCK_IP), "{clients}");
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

/// Past the backlog: smolsock's server refuses the fifth client; smolsock's clients against
/// the kernel's server all get in, as on the kernel alone.
fn program_6_backlog_overflow_kernel_queues_smolsock_refuses_over_tap() {
    let program = Program::Backlog {
        clients: BACKLOG + 2,
    };
    let [kernel, servers, clients] = over_tap(program);
    lesson_checks::backlog_overflow(&kernel, &servers);
    lesson_checks::conform(program, &kernel, &clients);
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
